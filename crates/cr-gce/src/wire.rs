//! Compute Engine v1 JSON shapes cr sends and reads (field names as in the discovery
//! document: `Reservation`, `Operation`, `Zone`, `Region`, the list envelopes).
//!
//! int64 fields travel as JSON strings; [`Int64`] also accepts numbers on input.

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer, Serialize};

use crate::error::OperationErrorItem;

/// An int64 that GCE encodes as a string; numbers are accepted too.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Int64(pub(crate) i64);

impl Serialize for Int64 {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0.to_string())
    }
}

impl<'de> Deserialize<'de> for Int64 {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            S(String),
            N(i64),
        }
        match Raw::deserialize(d)? {
            Raw::N(n) => Ok(Int64(n)),
            Raw::S(s) => s
                .trim()
                .parse()
                .map(Int64)
                .map_err(serde::de::Error::custom),
        }
    }
}

/// `Reservation`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ReservationResource {
    pub(crate) name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) description: Option<String>,
    /// Output only: the full zone URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) zone: Option<String>,
    /// Output only: the numeric id (uint64 as a string).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) self_link: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) status: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) specific_reservation: Option<SpecificReservation>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) specific_reservation_required: Option<bool>,
    /// RFC 3339 time at which GCE deletes the reservation on its own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) delete_at_time: Option<String>,
    /// Output only: RFC 3339 creation time.
    #[serde(default, skip_serializing)]
    pub(crate) creation_timestamp: Option<String>,
}

/// `AllocationSpecificSKUReservation`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct SpecificReservation {
    pub(crate) count: Int64,
    #[serde(default, skip_serializing)]
    pub(crate) in_use_count: Option<Int64>,
    pub(crate) instance_properties: InstanceProperties,
}

/// `AllocationSpecificSKUAllocationReservedInstanceProperties`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct InstanceProperties {
    pub(crate) machine_type: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) local_ssds: Vec<LocalSsd>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) min_cpu_platform: Option<String>,
}

/// One local SSD of a reserved instance.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct LocalSsd {
    pub(crate) disk_size_gb: Int64,
    pub(crate) interface: String,
}

/// `Operation`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Operation {
    pub(crate) name: String,
    #[serde(default)]
    pub(crate) status: String,
    #[serde(default)]
    pub(crate) error: Option<OperationError>,
    #[serde(default)]
    pub(crate) http_error_status_code: Option<u16>,
    #[serde(default)]
    pub(crate) http_error_message: Option<String>,
}

impl Operation {
    pub(crate) fn is_done(&self) -> bool {
        self.status == "DONE"
    }
}

/// `Operation.error`.
#[derive(Debug, Clone, Default, Deserialize)]
pub(crate) struct OperationError {
    #[serde(default)]
    pub(crate) errors: Vec<OperationErrorItem>,
}

/// `Zone` (the fields cr reads).
#[derive(Debug, Clone, Default, Deserialize)]
pub(crate) struct Zone {
    pub(crate) name: String,
    #[serde(default)]
    pub(crate) region: Option<String>,
    #[serde(default)]
    pub(crate) status: Option<String>,
}

/// `Region` (the fields cr reads).
#[derive(Debug, Clone, Default, Deserialize)]
pub(crate) struct Region {
    pub(crate) name: String,
}

/// `ZoneList`, `RegionList`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct List<T> {
    #[serde(default = "Vec::new")]
    pub(crate) items: Vec<T>,
    #[serde(default)]
    pub(crate) next_page_token: Option<String>,
}

/// `ReservationAggregatedList`: `items` keyed by scope (`zones/us-east1-b`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct AggregatedList {
    #[serde(default)]
    pub(crate) items: BTreeMap<String, ScopedReservations>,
    #[serde(default)]
    pub(crate) next_page_token: Option<String>,
    #[serde(default)]
    pub(crate) unreachables: Vec<String>,
}

/// One scope of an aggregated list: reservations, or a `NO_RESULTS_ON_PAGE` warning.
#[derive(Debug, Clone, Default, Deserialize)]
pub(crate) struct ScopedReservations {
    #[serde(default)]
    pub(crate) reservations: Vec<ReservationResource>,
}

/// The last path segment of a GCE URL (`.../zones/us-east1-b` → `us-east1-b`); GCE URLs
/// are opaque and their host has varied, so only the tail is trusted.
pub(crate) fn last_segment(url: &str) -> &str {
    url.trim_end_matches('/').rsplit('/').next().unwrap_or(url)
}

/// The region of a zone name (`us-east1-b` → `us-east1`).
pub(crate) fn region_of_zone(zone: &str) -> &str {
    zone.rsplit_once('-').map(|(r, _)| r).unwrap_or(zone)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn int64_reads_strings_and_numbers_and_writes_strings() {
        let a: Int64 = serde_json::from_str("\"12\"").unwrap();
        let b: Int64 = serde_json::from_str("12").unwrap();
        assert_eq!(a, Int64(12));
        assert_eq!(b, Int64(12));
        assert_eq!(serde_json::to_string(&Int64(3)).unwrap(), "\"3\"");
        assert!(serde_json::from_str::<Int64>("\"x\"").is_err());
    }

    #[test]
    fn insert_body_uses_wire_names() {
        let r = ReservationResource {
            name: "cr-a".into(),
            description: Some("{}".into()),
            specific_reservation: Some(SpecificReservation {
                count: Int64(2),
                in_use_count: Some(Int64(1)),
                instance_properties: InstanceProperties {
                    machine_type: "n2-standard-8".into(),
                    local_ssds: vec![LocalSsd {
                        disk_size_gb: Int64(375),
                        interface: "NVME".into(),
                    }],
                    min_cpu_platform: Some("Intel Ice Lake".into()),
                },
            }),
            specific_reservation_required: Some(true),
            delete_at_time: Some("2030-01-01T00:00:00Z".into()),
            ..Default::default()
        };
        let v = serde_json::to_value(&r).unwrap();
        assert_eq!(
            v,
            serde_json::json!({
                "name": "cr-a",
                "description": "{}",
                "specificReservation": {
                    "count": "2",
                    "instanceProperties": {
                        "machineType": "n2-standard-8",
                        "localSsds": [{"diskSizeGb": "375", "interface": "NVME"}],
                        "minCpuPlatform": "Intel Ice Lake"
                    }
                },
                "specificReservationRequired": true,
                "deleteAtTime": "2030-01-01T00:00:00Z"
            })
        );
    }

    #[test]
    fn aggregated_list_reads_reservations_and_warnings() {
        let body = serde_json::json!({
            "kind": "compute#reservationAggregatedList",
            "items": {
                "zones/us-east1-b": {"reservations": [{
                    "name": "cr-x", "zone": "https://www.googleapis.com/compute/v1/projects/p/zones/us-east1-b",
                    "status": "READY", "id": "123",
                    "specificReservation": {"count": "3", "inUseCount": "1",
                        "instanceProperties": {"machineType": "n2-standard-8"}}
                }]},
                "zones/us-east1-c": {"warning": {"code": "NO_RESULTS_ON_PAGE", "message": "none"}}
            },
            "nextPageToken": "p2"
        });
        let l: AggregatedList = serde_json::from_value(body).unwrap();
        assert_eq!(l.next_page_token.as_deref(), Some("p2"));
        let all: Vec<_> = l.items.values().flat_map(|s| &s.reservations).collect();
        assert_eq!(all.len(), 1);
        let sr = all[0].specific_reservation.as_ref().unwrap();
        assert_eq!(sr.count, Int64(3));
        assert_eq!(sr.in_use_count, Some(Int64(1)));
        assert_eq!(last_segment(all[0].zone.as_deref().unwrap()), "us-east1-b");
    }

    #[test]
    fn zone_and_region_names() {
        assert_eq!(region_of_zone("us-east1-b"), "us-east1");
        assert_eq!(
            region_of_zone("northamerica-northeast1-a"),
            "northamerica-northeast1"
        );
        assert_eq!(last_segment("projects/p/regions/us-east1/"), "us-east1");
    }
}
