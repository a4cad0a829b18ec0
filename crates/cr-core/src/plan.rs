//! The capacity plan: from [`Params`] to what must be reserved, where, and until when.

use jiff::Timestamp;
use serde::Serialize;

use crate::cloud::Cloud;
use crate::config::Params;
use crate::error::Result;
use crate::tags::Tags;

/// Why a node is counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// `n_db_nodes`.
    Db,
    /// `n_loaders`.
    Loader,
    /// `n_monitor_nodes` (only with `reserve_monitor_nodes`).
    Monitor,
    /// `nemesis_add_node_cnt`.
    NemesisAdd,
    /// `n_db_zero_token_nodes` with `use_zero_nodes`.
    ZeroToken,
    /// `instance_type_db_target`.
    DbTarget,
    /// `n_test_oracle_db_nodes` with a mixed `db_type`.
    Oracle,
}

/// Cloud-specific sizing details of a demand (left at their defaults where not relevant).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct DemandDetails {
    /// GCE: local NVMe SSDs of 375 GB per instance.
    #[serde(skip_serializing_if = "is_zero")]
    pub local_ssds: u32,
    /// OCI flexible shapes: OCPUs per instance.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ocpus: Option<f64>,
    /// OCI flexible shapes: memory per instance, GB.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub memory_gb: Option<f64>,
    /// OCI: NVMe drives per instance.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nvmes: Option<u32>,
}

fn is_zero(v: &u32) -> bool {
    *v == 0
}

/// `count` instances of one type, needed by `roles`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Demand {
    /// The cloud's instance type name (for OCI, the shape name).
    pub instance_type: String,
    /// How many.
    pub count: u32,
    /// The roles that need this type, in order.
    pub roles: Vec<Role>,
    /// Sizing details.
    #[serde(flatten)]
    pub details: DemandDetails,
}

/// What to reserve in one region.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RegionPlan {
    /// Region.
    pub region: String,
    /// Candidate zones known offline, configured ones first (full zone names).
    pub zones: Vec<String>,
    /// Whether the engine may fall back to the region's other zones (resolved through the
    /// backend at reserve time).
    pub zone_fallback: bool,
    /// The demands, in role order; the same type in two roles is summed.
    pub demands: Vec<Demand>,
}

/// The whole plan of one test on one backend.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CapacityPlan {
    /// The backend.
    pub backend: Cloud,
    /// Whether reservations are enabled.
    pub enabled: bool,
    /// Exactly why not, when disabled.
    pub disabled_reason: Option<String>,
    /// The test id.
    pub test_id: Option<String>,
    /// When the reservations end (RFC 3339).
    pub end_time: Timestamp,
    /// Minutes from now to `end_time`.
    pub duration_minutes: u64,
    /// How much earlier than `end_time` a reservation the test already holds may end and still
    /// be reused, in minutes: the reservation buffer (`reservation_buffer_minutes`). A rerun
    /// of the test within the buffer reuses its set instead of releasing and re-creating it.
    pub reuse_slack_minutes: u64,
    /// One entry per region, in configuration order.
    pub regions: Vec<RegionPlan>,
    /// The tags every reservation carries.
    #[serde(skip)]
    pub tags: Tags,
}

impl CapacityPlan {
    /// Builds the plan of `params` for `backend`, with `now` as the start time.
    pub fn build(params: &Params, backend: Cloud, now: Timestamp) -> Result<CapacityPlan> {
        crate::planner::build(params, backend, now)
    }

    /// Every instance type demanded in `region`.
    pub fn instance_types(&self, region: &str) -> Vec<String> {
        self.regions
            .iter()
            .filter(|r| r.region == region)
            .flat_map(|r| r.demands.iter().map(|d| d.instance_type.clone()))
            .collect()
    }
}
