//! The compute quota model shared by the four clouds: **vCPUs per family and region**, the
//! way the real clouds count (OCI: OCPUs per shape family and availability domain).
//!
//! Every instance type has a number of vCPUs and the quota metrics it draws on, named as the
//! cloud names them ([`quota_shape`]):
//!
//! | cloud | family metric | regional total |
//! |---|---|---|
//! | EC2 | the Service Quotas bucket: `standard` (A, C, D, H, I, M, R, T, Z), `F`, `G` (G and VT), `P`, `X`, `Inf`, `DL`, `Trn`, `HPC`, `HighMemory`, `Mac` | none |
//! | GCE | `N2_CPUS`, `C3_CPUS`, `A2_CPUS` … (N1, F1, G1 have none) | `CPUS` |
//! | Azure | `standardDSv5Family` … | `cores` |
//! | OCI | `standard-e4-core-count` … (per availability domain) | none |
//!
//! A scenario sets limits per region (`quotas: {N2_CPUS: 16, CPUS: 24}`); a metric it does not
//! set has [`DEFAULT_VCPU_QUOTA`]. [`crate::world::World::try_consume`] refuses when the used
//! plus the needed vCPUs exceed any metric the type draws on.

use crate::world::CloudKind;

/// The limit of a quota metric the scenario does not set (vCPUs; OCI OCPUs).
pub const DEFAULT_VCPU_QUOTA: u64 = 1_000_000;

/// What one instance of a type counts against its quotas.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuotaShape {
    /// vCPUs of one instance (OCI: OCPUs; a Flex shape's default of 1, the reservation's
    /// `instanceShapeConfig.ocpus` when it sets one).
    pub vcpus: u32,
    /// The metrics one instance draws on, family first, then the regional total if the cloud
    /// has one.
    pub metrics: Vec<String>,
}

/// Whether a cloud's quotas are scoped to an availability domain rather than the region.
pub fn per_zone(cloud: CloudKind) -> bool {
    cloud == CloudKind::Oci
}

/// The vCPUs and quota metrics of `instance_type` on `cloud`.
pub fn quota_shape(cloud: CloudKind, instance_type: &str) -> QuotaShape {
    match cloud {
        CloudKind::Aws => crate::aws::instance_types::quota_shape(instance_type),
        CloudKind::Gce => crate::gce::catalog::quota_shape(instance_type),
        CloudKind::Azure => crate::azure::skus::quota_shape(instance_type),
        CloudKind::Oci => crate::oci::model::quota_shape(instance_type),
    }
}

/// What the cloud calls one metric in its quota error and listings, in words.
pub fn describe(cloud: CloudKind, metric: &str) -> String {
    match (cloud, metric) {
        (CloudKind::Aws, "standard") => {
            "Running On-Demand Standard (A, C, D, H, I, M, R, T, Z) instances".to_owned()
        }
        (CloudKind::Aws, "G") => "Running On-Demand G and VT instances".to_owned(),
        (CloudKind::Aws, m) => format!("Running On-Demand {m} instances"),
        (CloudKind::Azure, "cores") => "Total Regional vCPUs".to_owned(),
        (CloudKind::Oci, m) => m.to_owned(),
        (_, m) => m.to_owned(),
    }
}

/// Whether `metric` is one of `cloud`'s quota metric names (so that a misspelt scenario key
/// fails loudly).
pub fn is_metric(cloud: CloudKind, metric: &str) -> bool {
    match cloud {
        CloudKind::Aws => AWS_BUCKETS.contains(&metric),
        CloudKind::Gce => {
            metric == "CPUS"
                || metric.strip_suffix("_CPUS").is_some_and(|s| {
                    !s.is_empty()
                        && s.chars()
                            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
                })
        }
        CloudKind::Azure => {
            metric == "cores" || (metric.starts_with("standard") && metric.ends_with("Family"))
        }
        CloudKind::Oci => metric.ends_with("-core-count"),
    }
}

/// The metric names a cloud accepts, for the scenario error.
pub fn metric_hint(cloud: CloudKind) -> &'static str {
    match cloud {
        CloudKind::Aws => "standard, F, G, P, X, Inf, DL, Trn, HPC, HighMemory or Mac",
        CloudKind::Gce => "CPUS or a series' <SERIES>_CPUS such as N2_CPUS",
        CloudKind::Azure => "cores or a family such as standardDSv5Family",
        CloudKind::Oci => "a shape family's core count such as standard-e4-core-count",
    }
}

/// EC2's On-Demand vCPU buckets.
pub const AWS_BUCKETS: [&str; 11] = [
    "standard",
    "F",
    "G",
    "P",
    "X",
    "Inf",
    "DL",
    "Trn",
    "HPC",
    "HighMemory",
    "Mac",
];
