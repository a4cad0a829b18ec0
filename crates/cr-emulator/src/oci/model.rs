//! OCI compute capacity reservations and work requests as the emulator keeps them, and their
//! JSON (`ComputeCapacityReservation`, `ComputeCapacityReservationSummary`, `WorkRequest`)
//! with the field names of the Go SDK's `core` and `workrequests` packages.

use std::collections::BTreeMap;

use jiff::Timestamp;
use serde_json::{Map, Value, json};

/// RFC 3339 with milliseconds, as OCI writes timestamps (`2016-08-25T21:10:29.600Z`).
pub fn oci_time(t: Timestamp) -> String {
    t.strftime("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
}

/// `lifecycleState` (the SDK enum has no `FAILED`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lifecycle {
    /// Being created.
    Creating,
    /// Usable.
    Active,
    /// Being resized or relabelled.
    Updating,
    /// Moving compartments.
    Moving,
    /// Being deleted.
    Deleting,
    /// Gone (still listed for a while).
    Deleted,
}

impl Lifecycle {
    /// Wire spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Lifecycle::Creating => "CREATING",
            Lifecycle::Active => "ACTIVE",
            Lifecycle::Updating => "UPDATING",
            Lifecycle::Moving => "MOVING",
            Lifecycle::Deleting => "DELETING",
            Lifecycle::Deleted => "DELETED",
        }
    }

    /// Parses the enum without regard to case (as the SDKs do).
    pub fn parse(s: &str) -> Option<Lifecycle> {
        [
            Lifecycle::Creating,
            Lifecycle::Active,
            Lifecycle::Updating,
            Lifecycle::Moving,
            Lifecycle::Deleting,
            Lifecycle::Deleted,
        ]
        .into_iter()
        .find(|l| l.as_str().eq_ignore_ascii_case(s))
    }
}

/// One `InstanceReservationConfig`.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// Shape name.
    pub instance_shape: String,
    /// `instanceShapeConfig` as sent (`ocpus`, `memoryInGBs`, `resourceManagement`).
    pub instance_shape_config: Option<Value>,
    /// `FAULT-DOMAIN-N`, or `None` for any fault domain.
    pub fault_domain: Option<String>,
    /// `clusterConfig` as sent.
    pub cluster_config: Option<Value>,
    /// `clusterPlacementGroupId`, if sent.
    pub cluster_placement_group_id: Option<String>,
    /// Instances reserved.
    pub reserved_count: u32,
}

impl Config {
    /// JSON of the config in a reservation (`usedCount` 0; the instances module fills it in).
    pub fn to_json(&self) -> Value {
        let mut v = json!({
            "instanceShape": self.instance_shape,
            "reservedCount": self.reserved_count,
            "usedCount": 0,
        });
        if let Some(c) = &self.instance_shape_config {
            v["instanceShapeConfig"] = c.clone();
        }
        if let Some(f) = &self.fault_domain {
            v["faultDomain"] = json!(f);
        }
        if let Some(c) = &self.cluster_config {
            v["clusterConfig"] = c.clone();
        }
        if let Some(c) = &self.cluster_placement_group_id {
            v["clusterPlacementGroupId"] = json!(c);
        }
        v
    }
}

/// Instances per shape of a config list (what the world's pools are charged).
pub fn per_shape(configs: &[Config]) -> BTreeMap<String, u32> {
    let mut m = BTreeMap::new();
    for c in configs {
        *m.entry(c.instance_shape.clone()).or_insert(0u32) += c.reserved_count;
    }
    m
}

/// The kind of a work request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WorkKind {
    /// Create.
    Create,
    /// Update.
    Update,
    /// Delete.
    Delete,
}

/// What happens when a reservation's transition comes due.
#[derive(Debug, Clone)]
pub struct Pending {
    /// Due time.
    pub at: Timestamp,
    /// Which transition.
    pub kind: WorkKind,
    /// For an update: the configs that replace the current ones.
    pub new_configs: Option<Vec<Config>>,
    /// Why the transition fails, if it does: `(code, message)`.
    pub error: Option<(String, String)>,
}

/// A compute capacity reservation.
#[derive(Debug, Clone)]
pub struct Reservation {
    /// OCID.
    pub id: String,
    /// Region (wire name).
    pub region: String,
    /// Compartment OCID.
    pub compartment_id: String,
    /// Full availability-domain name.
    pub availability_domain: String,
    /// Display name.
    pub display_name: String,
    /// `freeformTags`.
    pub freeform_tags: Map<String, Value>,
    /// `definedTags`.
    pub defined_tags: Map<String, Value>,
    /// `isDefaultReservation`.
    pub is_default: bool,
    /// Capacity configurations.
    pub configs: Vec<Config>,
    /// Lifecycle state.
    pub lifecycle: Lifecycle,
    /// `timeCreated`.
    pub time_created: Timestamp,
    /// `timeUpdated`.
    pub time_updated: Timestamp,
    /// Current entity tag.
    pub etag: String,
    /// Instances per shape this reservation holds in the world's pools.
    pub held: BTreeMap<String, u32>,
    /// Transition under way.
    pub pending: Option<Pending>,
    /// Work request of the transition under way (or the last one).
    pub work_request_id: Option<String>,
}

impl Reservation {
    /// `reservedInstanceCount`.
    pub fn reserved(&self) -> u64 {
        self.configs
            .iter()
            .map(|c| u64::from(c.reserved_count))
            .sum()
    }

    /// The `ComputeCapacityReservation` body.
    pub fn to_json(&self) -> Value {
        json!({
            "id": self.id,
            "compartmentId": self.compartment_id,
            "availabilityDomain": self.availability_domain,
            "displayName": self.display_name,
            "freeformTags": self.freeform_tags,
            "definedTags": self.defined_tags,
            "isDefaultReservation": self.is_default,
            "instanceReservationConfigs": self.configs.iter().map(Config::to_json).collect::<Vec<_>>(),
            "lifecycleState": self.lifecycle.as_str(),
            "reservedInstanceCount": self.reserved(),
            "usedInstanceCount": 0,
            "timeCreated": oci_time(self.time_created),
            "timeUpdated": oci_time(self.time_updated),
        })
    }

    /// The `ComputeCapacityReservationSummary` with only the fields the API requires.
    pub fn minimal_summary_json(&self) -> Value {
        json!({
            "id": self.id,
            "availabilityDomain": self.availability_domain,
            "timeCreated": oci_time(self.time_created),
        })
    }

    /// The `ComputeCapacityReservationSummary` list item (no per-config detail).
    pub fn summary_json(&self) -> Value {
        json!({
            "id": self.id,
            "availabilityDomain": self.availability_domain,
            "timeCreated": oci_time(self.time_created),
            "compartmentId": self.compartment_id,
            "displayName": self.display_name,
            "definedTags": self.defined_tags,
            "freeformTags": self.freeform_tags,
            "lifecycleState": self.lifecycle.as_str(),
            "reservedInstanceCount": self.reserved(),
            "usedInstanceCount": 0,
            "isDefaultReservation": self.is_default,
        })
    }
}

/// A work request (`GET /20160918/workRequests/{id}`).
#[derive(Debug, Clone)]
pub struct WorkRequest {
    /// OCID.
    pub id: String,
    /// What it does.
    pub kind: WorkKind,
    /// Compartment of the resource.
    pub compartment_id: String,
    /// The reservation.
    pub resource_id: String,
    /// Accepted at.
    pub accepted: Timestamp,
    /// Finishes at.
    pub at: Timestamp,
    /// `(code, message)` if it fails.
    pub error: Option<(String, String)>,
}

impl WorkRequest {
    /// The `WorkRequest` body at `now`.
    pub fn to_json(&self, now: Timestamp, base: &str) -> Value {
        let done = now >= self.at;
        let status = match (done, &self.error) {
            (false, _) if now == self.accepted => "ACCEPTED",
            (false, _) => "IN_PROGRESS",
            (true, None) => "SUCCEEDED",
            (true, Some(_)) => "FAILED",
        };
        let (op, action) = match self.kind {
            WorkKind::Create => ("CreateComputeCapacityReservation", "CREATED"),
            WorkKind::Update => ("UpdateComputeCapacityReservation", "UPDATED"),
            WorkKind::Delete => ("DeleteComputeCapacityReservation", "DELETED"),
        };
        let mut v = json!({
            "id": self.id,
            "operationType": op,
            "status": status,
            "compartmentId": self.compartment_id,
            "resources": [{
                "entityType": "computeCapacityReservation",
                "actionType": if done { action } else { "IN_PROGRESS" },
                "identifier": self.resource_id,
                "entityUri": format!("{base}/20160918/computeCapacityReservations/{}", self.resource_id),
            }],
            "percentComplete": if done { 100.0 } else { 0.0 },
            "timeAccepted": oci_time(self.accepted),
            "timeStarted": oci_time(self.accepted),
        });
        if done {
            v["timeFinished"] = json!(oci_time(self.at));
        }
        v
    }
}

/// The OCPUs of one instance of a shape (a fixed shape's trailing number, `VM.Standard2.4` 4;
/// a Flex shape 1 unless the reservation's `instanceShapeConfig.ocpus` says more) and the
/// per-availability-domain core limit it draws on (`VM.Standard.E4.Flex` →
/// `standard-e4-core-count`).
pub(crate) fn quota_shape(shape: &str) -> crate::quota::QuotaShape {
    let lower = shape.to_ascii_lowercase();
    let body = lower
        .strip_prefix("vm.")
        .or_else(|| lower.strip_prefix("bm."))
        .unwrap_or(&lower);
    let (family, ocpus) = match body.strip_suffix(".flex") {
        Some(f) => (f.to_owned(), 1),
        None => match body.rsplit_once('.') {
            Some((f, n)) if n.parse::<u32>().is_ok() => (f.to_owned(), n.parse().unwrap_or(1)),
            _ => (body.to_owned(), 1),
        },
    };
    crate::quota::QuotaShape {
        vcpus: ocpus,
        metrics: vec![core_limit_name(&family.replace('.', "-"))],
    }
}

/// The service limit name of a family's cores as OCI spells it: dense-IO families are
/// `dense-io…` (`dense-io-e5-core-count`), and the E2 and E3 limits carry `-ad-`
/// (`standard-e3-core-ad-count`).
fn core_limit_name(family: &str) -> String {
    let family = match family.strip_prefix("denseio") {
        Some(rest) => format!("dense-io{rest}"),
        None => family.to_owned(),
    };
    match family.as_str() {
        "standard-e2" | "standard-e3" => format!("{family}-core-ad-count"),
        _ => format!("{family}-core-count"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn core_limits_are_named_as_oci_names_them() {
        let metric = |s: &str| quota_shape(s).metrics[0].clone();
        assert_eq!(metric("VM.Standard.E4.Flex"), "standard-e4-core-count");
        assert_eq!(metric("VM.DenseIO.E5.Flex"), "dense-io-e5-core-count");
        assert_eq!(metric("VM.Standard.E3.Flex"), "standard-e3-core-ad-count");
        assert_eq!(metric("VM.Standard2.4"), "standard2-core-count");
        assert_eq!(quota_shape("BM.Standard.E4.128").vcpus, 128);
    }

    #[test]
    fn lifecycle_parses_any_case() {
        assert_eq!(Lifecycle::parse("active"), Some(Lifecycle::Active));
        assert_eq!(Lifecycle::parse("FAILED"), None);
    }

    #[test]
    fn per_shape_sums_fault_domains() {
        let c = |shape: &str, fd: Option<&str>, n| Config {
            instance_shape: shape.into(),
            instance_shape_config: None,
            fault_domain: fd.map(str::to_owned),
            cluster_config: None,
            cluster_placement_group_id: None,
            reserved_count: n,
        };
        let m = per_shape(&[
            c("A", Some("FAULT-DOMAIN-1"), 2),
            c("A", Some("FAULT-DOMAIN-2"), 3),
            c("B", None, 1),
        ]);
        assert_eq!(m["A"], 5);
        assert_eq!(m["B"], 1);
    }

    #[test]
    fn times_have_milliseconds() {
        let t = Timestamp::from_second(1_472_159_429).unwrap();
        assert_eq!(oci_time(t), "2016-08-25T21:10:29.000Z");
    }
}
