//! The JSON of the OCI Core and Identity calls cr makes, with the Go SDK's field names.
//! Responses are read leniently: of a `ComputeCapacityReservationSummary` only `id`,
//! `availabilityDomain` and `timeCreated` are required, every other field is optional.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// `CreateComputeCapacityReservationDetails`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct CreateDetails {
    pub(crate) compartment_id: String,
    pub(crate) availability_domain: String,
    pub(crate) display_name: String,
    pub(crate) is_default_reservation: bool,
    pub(crate) freeform_tags: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub(crate) defined_tags: BTreeMap<String, BTreeMap<String, String>>,
    pub(crate) instance_reservation_configs: Vec<ConfigDetails>,
}

/// `InstanceReservationConfigDetails`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ConfigDetails {
    pub(crate) instance_shape: String,
    pub(crate) reserved_count: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) instance_shape_config: Option<ShapeConfig>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) fault_domain: Option<String>,
}

/// `InstanceReservationShapeConfigDetails` (Flex shapes).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ShapeConfig {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) ocpus: Option<f64>,
    #[serde(
        default,
        rename = "memoryInGBs",
        skip_serializing_if = "Option::is_none"
    )]
    pub(crate) memory_in_gbs: Option<f64>,
}

/// `ComputeCapacityReservation` (create and get answers) and
/// `ComputeCapacityReservationSummary` (list items): everything but the three required fields
/// of a summary is optional.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ReservationBody {
    pub(crate) id: String,
    pub(crate) availability_domain: String,
    pub(crate) time_created: String,
    #[serde(default)]
    pub(crate) compartment_id: Option<String>,
    #[serde(default)]
    pub(crate) display_name: Option<String>,
    #[serde(default)]
    pub(crate) freeform_tags: Option<BTreeMap<String, String>>,
    #[serde(default)]
    pub(crate) lifecycle_state: Option<String>,
    #[serde(default)]
    pub(crate) reserved_instance_count: Option<u64>,
    #[serde(default)]
    pub(crate) used_instance_count: Option<u64>,
    #[serde(default)]
    pub(crate) instance_reservation_configs: Option<Vec<ConfigBody>>,
}

/// `InstanceReservationConfig` of an answer.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ConfigBody {
    #[serde(default)]
    pub(crate) instance_shape: String,
    #[serde(default)]
    pub(crate) reserved_count: u64,
    #[serde(default)]
    pub(crate) used_count: Option<u64>,
}

/// `AvailabilityDomain`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub(crate) struct AvailabilityDomain {
    pub(crate) name: String,
}

/// `RegionSubscription`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct RegionSubscription {
    pub(crate) region_name: String,
    #[serde(default)]
    pub(crate) status: Option<String>,
}

/// `ComputeCapacityReservationInstanceShapeSummary`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ReservableShape {
    pub(crate) availability_domain: String,
    pub(crate) instance_shape: String,
}

/// `WorkRequest` (only what cr reads).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct WorkRequest {
    #[serde(default)]
    pub(crate) id: String,
    pub(crate) status: String,
}

impl WorkRequest {
    /// `SUCCEEDED`, `FAILED` or `CANCELED`.
    pub(crate) fn is_done(&self) -> bool {
        matches!(
            self.status.to_ascii_uppercase().as_str(),
            "SUCCEEDED" | "FAILED" | "CANCELED" | "CANCELLED"
        )
    }

    pub(crate) fn failed(&self) -> bool {
        matches!(
            self.status.to_ascii_uppercase().as_str(),
            "FAILED" | "CANCELED" | "CANCELLED"
        )
    }
}

/// `Compartment` (Identity), as far as the preflight reads it.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Compartment {
    #[serde(default)]
    pub(crate) name: Option<String>,
    #[serde(default)]
    pub(crate) lifecycle_state: Option<String>,
}

/// `LimitValueSummary` (Limits).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct LimitValue {
    #[serde(default)]
    pub(crate) name: String,
    #[serde(default)]
    pub(crate) availability_domain: Option<String>,
    #[serde(default)]
    pub(crate) value: Option<i64>,
}

/// `ResourceAvailability` (Limits): what a limit's holders use and what is left.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ResourceAvailability {
    #[serde(default)]
    pub(crate) used: Option<i64>,
    #[serde(default)]
    pub(crate) available: Option<i64>,
}

/// `WorkRequestError`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub(crate) struct WorkRequestError {
    #[serde(default)]
    pub(crate) code: String,
    #[serde(default)]
    pub(crate) message: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_summary_needs_only_three_fields() {
        let r: ReservationBody = serde_json::from_value(serde_json::json!({
            "id": "ocid1.capacityreservation.oc1.iad.x",
            "availabilityDomain": "Emul:IAD-AD-1",
            "timeCreated": "2030-01-01T00:00:00.000Z"
        }))
        .unwrap();
        assert_eq!(r.lifecycle_state, None);
        assert_eq!(r.freeform_tags, None);
    }

    #[test]
    fn flex_shape_config_is_written_as_the_sdk_names_it() {
        let c = ConfigDetails {
            instance_shape: "VM.DenseIO.E5.Flex".into(),
            reserved_count: 3,
            instance_shape_config: Some(ShapeConfig {
                ocpus: Some(8.0),
                memory_in_gbs: Some(96.0),
            }),
            fault_domain: None,
        };
        assert_eq!(
            serde_json::to_value(&c).unwrap(),
            serde_json::json!({"instanceShape": "VM.DenseIO.E5.Flex", "reservedCount": 3,
                "instanceShapeConfig": {"ocpus": 8.0, "memoryInGBs": 96.0}})
        );
    }
}
