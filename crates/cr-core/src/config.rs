//! SCT-style configuration: several YAML files merged in order, then `SCT_*` environment
//! overrides, then cr's documented defaults for keys nothing set.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Serialize;

use crate::error::Result;

/// An OCI shape as written in `oci_instance_type_*`: `<shape>:<ocpus>:<ram_gb>:<nvmes>`,
/// trailing parts optional.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OciShape {
    /// Shape name, e.g. `VM.DenseIO.E5.Flex`.
    pub shape: String,
    /// OCPUs.
    pub ocpus: Option<f64>,
    /// Memory, GB.
    pub memory_gb: Option<f64>,
    /// NVMe drives.
    pub nvmes: Option<u32>,
}

/// `gce_reservation_type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum GceReservationType {
    /// Only the configured zone.
    Zonal,
    /// Fall back across the region's zones.
    #[default]
    Regional,
}

/// One key's merged value, with where it came from.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SourcedValue {
    /// The value (YAML scalars, lists and maps as JSON values).
    pub value: serde_json::Value,
    /// A file path, `SCT_<KEY>` for an environment variable, or `defaults`.
    pub source: String,
}

/// Per-role instance types of one cloud.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct InstanceTypes {
    /// Database nodes.
    pub db: Option<String>,
    /// Loader nodes.
    pub loader: Option<String>,
    /// Monitor nodes.
    pub monitor: Option<String>,
}

/// The configuration cr reads. Unknown keys are kept in [`Params::raw`] but otherwise ignored.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Params {
    /// `cluster_backend`.
    pub cluster_backend: Option<String>,
    /// `test_id`.
    pub test_id: Option<String>,
    /// `user_prefix`.
    pub user_prefix: Option<String>,
    /// `reuse_cluster` (a cluster/test id, or false).
    pub reuse_cluster: Option<String>,
    /// `instance_provision` (`spot`, `on_demand`, `spot_fleet`, `spot_low_price`).
    pub instance_provision: String,
    /// `test_duration`, minutes.
    pub test_duration: u64,
    /// `n_db_nodes`, one entry per region.
    pub n_db_nodes: Vec<u32>,
    /// `n_loaders`, one entry per region.
    pub n_loaders: Vec<u32>,
    /// `n_monitor_nodes`, one entry per region.
    pub n_monitor_nodes: Vec<u32>,
    /// `nemesis_add_node_cnt`.
    pub nemesis_add_node_cnt: u32,
    /// `nemesis_grow_shrink_instance_type`.
    pub nemesis_grow_shrink_instance_type: Option<String>,
    /// `use_zero_nodes`.
    pub use_zero_nodes: bool,
    /// `n_db_zero_token_nodes`, one entry per region.
    pub n_db_zero_token_nodes: Vec<u32>,
    /// `zero_token_instance_type_db`.
    pub zero_token_instance_type_db: Option<String>,
    /// `instance_type_db_target`.
    pub instance_type_db_target: Option<String>,
    /// `db_type`.
    pub db_type: String,
    /// `n_test_oracle_db_nodes`.
    pub n_test_oracle_db_nodes: u32,
    /// `instance_type_db_oracle`.
    pub instance_type_db_oracle: Option<String>,
    /// AWS `instance_type_db/loader/monitor`.
    pub aws_instance_types: InstanceTypes,
    /// `gce_instance_type_db/loader/monitor`.
    pub gce_instance_types: InstanceTypes,
    /// `gce_n_local_ssd_disk_db/loader/monitor`.
    pub gce_local_ssds: [u32; 3],
    /// `azure_instance_type_db/loader/monitor`.
    pub azure_instance_types: InstanceTypes,
    /// `oci_instance_type_db/loader/monitor`, parsed.
    pub oci_instance_types: [Option<OciShape>; 3],
    /// `region_name` (AWS).
    pub region_name: Vec<String>,
    /// `gce_datacenter` (regions or zones).
    pub gce_datacenter: Vec<String>,
    /// `azure_region_name`.
    pub azure_region_name: Vec<String>,
    /// `oci_region_name`.
    pub oci_region_name: Vec<String>,
    /// `availability_zone`, split on commas (letters, or Azure zone numbers).
    pub availability_zone: Vec<String>,
    /// `use_placement_group`.
    pub use_placement_group: bool,
    /// `use_capacity_reservation` (AWS).
    pub use_capacity_reservation: bool,
    /// `gce_use_capacity_reservation`.
    pub gce_use_capacity_reservation: bool,
    /// `azure_use_capacity_reservation`.
    pub azure_use_capacity_reservation: bool,
    /// `oci_use_capacity_reservation`.
    pub oci_use_capacity_reservation: bool,
    /// `gce_reservation_type`.
    pub gce_reservation_type: GceReservationType,
    /// `gce_reservation_specific`.
    pub gce_reservation_specific: bool,
    /// `gce_project`.
    pub gce_project: Option<String>,
    /// `azure_capacity_reservation_group`.
    pub azure_capacity_reservation_group: Option<String>,
    /// `azure_reservation_zones`.
    pub azure_reservation_zones: Vec<String>,
    /// `oci_compartment_id`.
    pub oci_compartment_id: Option<String>,
    /// `oci_availability_domain`.
    pub oci_availability_domain: Option<String>,
    /// cr: `reservation_buffer_minutes`, added to `test_duration`.
    pub reservation_buffer_minutes: u64,
    /// cr: `max_reservation_hours`, hard cap on a reservation's length.
    pub max_reservation_hours: u64,
    /// cr: `reserve_monitor_nodes`.
    pub reserve_monitor_nodes: bool,
    /// cr: `cost_tags`, added to every reservation's tags.
    pub cost_tags: BTreeMap<String, String>,
    /// The files read, in order.
    pub files: Vec<PathBuf>,
    /// Every merged key, known or not, with its source.
    pub raw: BTreeMap<String, SourcedValue>,
}

impl Params {
    /// Reads `files` in order, then `SCT_*` variables from `env`, then cr's defaults.
    pub fn load(files: &[PathBuf], env: &BTreeMap<String, String>) -> Result<Params> {
        let _ = (files, env);
        todo!("config helper")
    }

    /// As [`Params::load`], with the process environment.
    pub fn load_with_process_env(files: &[PathBuf]) -> Result<Params> {
        let env: BTreeMap<String, String> = std::env::vars().collect();
        Params::load(files, &env)
    }

    /// A raw string value of any key (for backend-specific settings such as `gce_project`).
    pub fn raw_str(&self, key: &str) -> Option<String> {
        match &self.raw.get(key)?.value {
            serde_json::Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_string()),
            serde_json::Value::Number(n) => Some(n.to_string()),
            serde_json::Value::Bool(b) => Some(b.to_string()),
            _ => None,
        }
    }
}
