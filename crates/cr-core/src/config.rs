//! SCT-style configuration: several YAML files merged in order, then `SCT_*` environment
//! overrides, then cr's documented defaults for keys nothing set.
//!
//! The layering reproduces how scylla-cluster-tests builds its configuration (see
//! `docs/configuration.md`): top-level keys of later files replace earlier ones, a string
//! value starting with `++` (or a list starting with `"++"`) appends to the earlier value,
//! and `SCT_<KEY_IN_UPPER_CASE>` variables win over every file. Keys cr does not know are
//! kept in [`Params::raw`] with their source and otherwise ignored.

pub(crate) mod value;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use serde::Serialize;
use serde_json::Value;

use crate::error::{Error, Result};
use value::{Reader, display_value};

/// The source name of a value cr filled in itself.
pub const DEFAULTS_SOURCE: &str = "defaults";
/// Default `instance_provision` (SCT's own default).
pub const DEFAULT_INSTANCE_PROVISION: &str = "spot";
/// Default `test_duration`, minutes.
pub const DEFAULT_TEST_DURATION_MINUTES: u64 = 60;
/// Default `db_type`.
pub const DEFAULT_DB_TYPE: &str = "scylla";
/// Default `reservation_buffer_minutes`: added to `test_duration` so setup and teardown fit.
pub const DEFAULT_RESERVATION_BUFFER_MINUTES: u64 = 60;
/// Default `max_reservation_hours`: a hard cap on how long a reservation may hold capacity.
pub const DEFAULT_MAX_RESERVATION_HOURS: u64 = 168;
/// The largest accepted `max_reservation_hours` (one year).
pub const MAX_RESERVATION_HOURS_LIMIT: u64 = 8760;
/// Default `reserve_monitor_nodes` (SCT does not reserve monitors either).
pub const DEFAULT_RESERVE_MONITOR_NODES: bool = false;
/// Default `gce_reservation_type`.
pub const DEFAULT_GCE_RESERVATION_TYPE: GceReservationType = GceReservationType::Regional;
/// Default `gce_reservation_specific`: only VMs naming the reservation may consume it.
pub const DEFAULT_GCE_RESERVATION_SPECIFIC: bool = true;
/// The accepted `instance_provision` values.
pub const INSTANCE_PROVISION_VALUES: [&str; 5] =
    ["spot", "on_demand", "spot_fleet", "spot_low_price", "auto"];
/// The longest accepted `test_id`: every cloud accepts tag values of this length, so the
/// `TestId` tag is never truncated.
pub const MAX_TEST_ID_CHARS: usize = 256;

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

/// What an OCI shape string must look like (used in error messages).
pub const OCI_SHAPE_EXPECTED: &str = "`<shape-name>[:<ocpus>[:<ram_gb>[:<nvmes>]]]` with a positive number of OCPUs, a positive amount of memory in GB and a whole number of NVMe drives";

impl FromStr for OciShape {
    /// What was expected instead ([`OCI_SHAPE_EXPECTED`]).
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let expected = || OCI_SHAPE_EXPECTED.to_string();
        let parts: Vec<&str> = s.trim().split(':').map(str::trim).collect();
        if parts.len() > 4 || parts[0].is_empty() || parts[0].contains(char::is_whitespace) {
            return Err(expected());
        }
        // An empty part (`VM.X::16`) leaves that size to the shape's default.
        let positive = |p: Option<&str>| -> Result<Option<f64>, String> {
            match p {
                None | Some("") => Ok(None),
                Some(p) => match p.parse::<f64>() {
                    Ok(v) if v.is_finite() && v > 0.0 => Ok(Some(v)),
                    _ => Err(expected()),
                },
            }
        };
        let ocpus = positive(parts.get(1).copied())?;
        let memory_gb = positive(parts.get(2).copied())?;
        let nvmes = match parts.get(3).copied() {
            None | Some("") => None,
            Some(p) => Some(p.parse::<u32>().map_err(|_| expected())?),
        };
        Ok(OciShape {
            shape: parts[0].to_string(),
            ocpus,
            memory_gb,
            nvmes,
        })
    }
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
    /// `cluster_target_size` (scale tests: the most db nodes the cluster grows to), one
    /// entry per region; replaces `n_db_nodes` as the db count when set, as in SCT.
    pub cluster_target_size: Vec<u32>,
    /// `simulated_regions`: when above 0, every data centre lives in the first real region.
    pub simulated_regions: u32,
    /// Who runs the test (`RunByUser` tag): key `run_by_user`, else the local part of
    /// `BUILD_USER_EMAIL`, else `USER`.
    pub run_by_user: Option<String>,
    /// The files read, in order.
    pub files: Vec<PathBuf>,
    /// Every merged key, known or not, with its source.
    pub raw: BTreeMap<String, SourcedValue>,
}

impl Params {
    /// Reads `files` in order, then `SCT_*` variables from `env`, then cr's defaults.
    pub fn load(files: &[PathBuf], env: &BTreeMap<String, String>) -> Result<Params> {
        Params::load_layers(&[], files, env)
    }

    /// As [`Params::load`], with `mapping` (already-parsed configuration, e.g. a test
    /// framework's own configuration object) as the first layer under the files; every value
    /// from it has the source `source` in messages.
    pub fn from_mapping(
        source: &str,
        mapping: serde_json::Map<String, Value>,
        files: &[PathBuf],
        env: &BTreeMap<String, String>,
    ) -> Result<Params> {
        Params::load_layers(&[(source, mapping)], files, env)
    }

    fn load_layers(
        mappings: &[(&str, serde_json::Map<String, Value>)],
        files: &[PathBuf],
        env: &BTreeMap<String, String>,
    ) -> Result<Params> {
        let mut raw: BTreeMap<String, SourcedValue> = BTreeMap::new();
        for (source, mapping) in mappings {
            for (key, value) in mapping.clone() {
                merge(&mut raw, key, value, source);
            }
        }
        for path in files {
            let source = path.display().to_string();
            for (key, value) in read_yaml_file(path)? {
                merge(&mut raw, key, value, &source);
            }
        }
        for (name, key, value) in env_overrides(env) {
            merge(&mut raw, key, value, &name);
        }
        let mut params = Params::from_raw(&raw, env)?;
        params.files = files.to_vec();
        for (key, value) in params.default_entries() {
            raw.entry(key.to_string()).or_insert(SourcedValue {
                value,
                source: DEFAULTS_SOURCE.to_string(),
            });
        }
        params.raw = raw;
        Ok(params)
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

    /// Where `key`'s value came from: a file path, `SCT_<KEY>`, or `defaults` when nothing
    /// set it.
    pub fn source_of(&self, key: &str) -> &str {
        self.raw
            .get(key)
            .map(|v| v.source.as_str())
            .unwrap_or(DEFAULTS_SOURCE)
    }

    /// `key`'s value as written (`""` when unset), for messages.
    pub fn display_raw(&self, key: &str) -> String {
        self.raw
            .get(key)
            .map(|v| display_value(&v.value))
            .unwrap_or_default()
    }

    fn from_raw(
        raw: &BTreeMap<String, SourcedValue>,
        env: &BTreeMap<String, String>,
    ) -> Result<Params> {
        Params::from_reader(&Reader::new(raw), env)
    }

    fn from_reader(r: &Reader<'_>, env: &BTreeMap<String, String>) -> Result<Params> {
        let test_id = r.string("test_id")?;
        if let Some(id) = &test_id
            && id.chars().count() > MAX_TEST_ID_CHARS
        {
            return Err(r.error(
                "test_id",
                &format!("at most {MAX_TEST_ID_CHARS} characters (it becomes the TestId tag)"),
            ));
        }
        let instance_provision = r
            .string("instance_provision")?
            .unwrap_or_else(|| DEFAULT_INSTANCE_PROVISION.to_string());
        if !INSTANCE_PROVISION_VALUES.contains(&instance_provision.as_str()) {
            return Err(r.error(
                "instance_provision",
                "one of spot, on_demand, spot_fleet, spot_low_price, auto",
            ));
        }
        let gce_reservation_type = match r.string("gce_reservation_type")? {
            None => DEFAULT_GCE_RESERVATION_TYPE,
            Some(s) if s.eq_ignore_ascii_case("zonal") => GceReservationType::Zonal,
            Some(s) if s.eq_ignore_ascii_case("regional") => GceReservationType::Regional,
            Some(_) => return Err(r.error("gce_reservation_type", "zonal or regional")),
        };
        let max_reservation_hours =
            r.u64("max_reservation_hours", DEFAULT_MAX_RESERVATION_HOURS)?;
        if !(1..=MAX_RESERVATION_HOURS_LIMIT).contains(&max_reservation_hours) {
            return Err(r.error(
                "max_reservation_hours",
                &format!("a whole number of hours from 1 to {MAX_RESERVATION_HOURS_LIMIT}"),
            ));
        }
        let cost_tags = r.string_map("cost_tags")?;
        for key in cost_tags.keys() {
            if key.trim().is_empty() {
                return Err(r.error("cost_tags", "a map of non-empty tag keys to string values"));
            }
            if crate::tags::is_core_key(key) {
                return Err(r.error(
                    "cost_tags",
                    &format!(
                        "tag keys other than cr's own tags ({}); `{key}` would override one of them",
                        crate::tags::CORE_TAG_KEYS.join(", ")
                    ),
                ));
            }
        }
        let instance_types = |prefix: &str| -> Result<InstanceTypes> {
            Ok(InstanceTypes {
                db: r.string(&format!("{prefix}instance_type_db"))?,
                loader: r.string(&format!("{prefix}instance_type_loader"))?,
                monitor: r.string(&format!("{prefix}instance_type_monitor"))?,
            })
        };
        let oci_shape = |role: &str| r.oci_shape(&format!("oci_instance_type_{role}"));

        Ok(Params {
            cluster_backend: r.string("cluster_backend")?,
            test_id,
            user_prefix: r.string("user_prefix")?,
            reuse_cluster: r.reuse_cluster("reuse_cluster")?,
            instance_provision,
            test_duration: r.u64("test_duration", DEFAULT_TEST_DURATION_MINUTES)?,
            n_db_nodes: r.counts("n_db_nodes")?,
            n_loaders: r.counts("n_loaders")?,
            n_monitor_nodes: r.counts("n_monitor_nodes")?,
            // A list here is per tenant (k8s multitenancy); the largest is what one
            // cluster may add.
            nemesis_add_node_cnt: r
                .counts("nemesis_add_node_cnt")?
                .into_iter()
                .max()
                .unwrap_or(0),
            nemesis_grow_shrink_instance_type: r.string("nemesis_grow_shrink_instance_type")?,
            use_zero_nodes: r.bool("use_zero_nodes", false)?,
            n_db_zero_token_nodes: r.counts("n_db_zero_token_nodes")?,
            zero_token_instance_type_db: r.string("zero_token_instance_type_db")?,
            instance_type_db_target: r.string("instance_type_db_target")?,
            db_type: r
                .string("db_type")?
                .unwrap_or_else(|| DEFAULT_DB_TYPE.to_string()),
            // SCT sums the list (`_to_int_sum`): the oracle cluster is one data centre.
            n_test_oracle_db_nodes: r.counts("n_test_oracle_db_nodes")?.into_iter().sum(),
            instance_type_db_oracle: r.string("instance_type_db_oracle")?,
            aws_instance_types: instance_types("")?,
            gce_instance_types: instance_types("gce_")?,
            gce_local_ssds: [
                r.u32("gce_n_local_ssd_disk_db", 0)?,
                r.u32("gce_n_local_ssd_disk_loader", 0)?,
                r.u32("gce_n_local_ssd_disk_monitor", 0)?,
            ],
            azure_instance_types: instance_types("azure_")?,
            oci_instance_types: [
                oci_shape("db")?,
                oci_shape("loader")?,
                oci_shape("monitor")?,
            ],
            region_name: r.regions("region_name")?,
            gce_datacenter: r.gce_datacenters("gce_datacenter")?,
            azure_region_name: r.regions("azure_region_name")?,
            oci_region_name: r.regions("oci_region_name")?,
            availability_zone: r.zones("availability_zone")?,
            use_placement_group: r.bool("use_placement_group", false)?,
            use_capacity_reservation: r.bool("use_capacity_reservation", false)?,
            gce_use_capacity_reservation: r.bool("gce_use_capacity_reservation", false)?,
            azure_use_capacity_reservation: r.bool("azure_use_capacity_reservation", false)?,
            oci_use_capacity_reservation: r.bool("oci_use_capacity_reservation", false)?,
            gce_reservation_type,
            gce_reservation_specific: r
                .bool("gce_reservation_specific", DEFAULT_GCE_RESERVATION_SPECIFIC)?,
            gce_project: r.string("gce_project")?,
            azure_capacity_reservation_group: r.string("azure_capacity_reservation_group")?,
            azure_reservation_zones: r.zones("azure_reservation_zones")?,
            oci_compartment_id: r.string("oci_compartment_id")?,
            oci_availability_domain: r.string("oci_availability_domain")?,
            reservation_buffer_minutes: r.u64(
                "reservation_buffer_minutes",
                DEFAULT_RESERVATION_BUFFER_MINUTES,
            )?,
            max_reservation_hours,
            reserve_monitor_nodes: r
                .bool("reserve_monitor_nodes", DEFAULT_RESERVE_MONITOR_NODES)?,
            cost_tags,
            cluster_target_size: r.counts("cluster_target_size")?,
            simulated_regions: r.u32("simulated_regions", 0)?,
            run_by_user: r
                .string("run_by_user")?
                .or_else(|| run_by_user_from_env(env)),
            files: Vec::new(),
            raw: BTreeMap::new(),
        })
    }

    /// The values cr filled in for keys nothing set, recorded in `raw` as `defaults`.
    fn default_entries(&self) -> Vec<(&'static str, Value)> {
        vec![
            (
                "instance_provision",
                Value::from(self.instance_provision.clone()),
            ),
            ("test_duration", Value::from(self.test_duration)),
            ("db_type", Value::from(self.db_type.clone())),
            (
                "nemesis_add_node_cnt",
                Value::from(self.nemesis_add_node_cnt),
            ),
            (
                "n_test_oracle_db_nodes",
                Value::from(self.n_test_oracle_db_nodes),
            ),
            ("use_zero_nodes", Value::from(self.use_zero_nodes)),
            ("use_placement_group", Value::from(self.use_placement_group)),
            (
                "use_capacity_reservation",
                Value::from(self.use_capacity_reservation),
            ),
            (
                "gce_use_capacity_reservation",
                Value::from(self.gce_use_capacity_reservation),
            ),
            (
                "azure_use_capacity_reservation",
                Value::from(self.azure_use_capacity_reservation),
            ),
            (
                "oci_use_capacity_reservation",
                Value::from(self.oci_use_capacity_reservation),
            ),
            (
                "gce_reservation_type",
                serde_json::to_value(self.gce_reservation_type).unwrap_or(Value::Null),
            ),
            (
                "gce_reservation_specific",
                Value::from(self.gce_reservation_specific),
            ),
            (
                "reservation_buffer_minutes",
                Value::from(self.reservation_buffer_minutes),
            ),
            (
                "max_reservation_hours",
                Value::from(self.max_reservation_hours),
            ),
            (
                "reserve_monitor_nodes",
                Value::from(self.reserve_monitor_nodes),
            ),
            ("simulated_regions", Value::from(self.simulated_regions)),
        ]
    }
}

/// SCT's `get_username`, simplified: a Jenkins user's e-mail local part, else the login.
fn run_by_user_from_env(env: &BTreeMap<String, String>) -> Option<String> {
    let email_user = env
        .get("BUILD_USER_EMAIL")
        .and_then(|e| e.trim().split('@').next())
        .map(str::trim)
        .filter(|u| !u.is_empty());
    email_user
        .or_else(|| env.get("USER").map(|u| u.trim()).filter(|u| !u.is_empty()))
        .map(str::to_string)
}

/// Keys whose values are never shown: `raw` ends up in `Debug` output and `cr plan`.
/// (`…_token` but not `n_db_zero_token_nodes`: only a name *ending* in token is a secret.)
fn is_secret_key(key: &str) -> bool {
    const MARKERS: [&str; 5] = ["password", "secret", "private_key", "access_key", "api_key"];
    let key = key.to_ascii_lowercase();
    key.ends_with("token") || MARKERS.iter().any(|m| key.contains(m))
}

/// The placeholder stored instead of a secret-looking value.
pub const REDACTED: &str = "<redacted>";

/// Every configuration key cr reads (besides the backend-specific ones the adapters take
/// through [`Params::raw_str`]), in the order the loader reads them: the keys a load of an
/// empty configuration asks its reader for, so the list cannot drift from the loader.
pub fn known_keys() -> Vec<String> {
    let raw = BTreeMap::new();
    let reader = Reader::new(&raw);
    // An empty configuration loads (defaults everywhere): every key is asked for once.
    let _ = Params::from_reader(&reader, &BTreeMap::new());
    reader.asked()
}

/// Merges one top-level key like SCT's `merge_dicts_append_strings`: later values win, and
/// `++`-prefixed strings or `["++", ...]` lists append to the earlier value.
fn merge(raw: &mut BTreeMap<String, SourcedValue>, key: String, value: Value, source: &str) {
    let unset = match &value {
        Value::Null => true,
        Value::String(s) => s.trim().is_empty(),
        _ => false,
    };
    let value = if is_secret_key(&key) && !unset {
        Value::String(REDACTED.to_string())
    } else {
        value
    };
    let value = match value {
        Value::String(s) if s.starts_with("++") => {
            let earlier = match raw.get(&key).map(|v| &v.value) {
                Some(Value::String(e)) => e.clone(),
                _ => String::new(),
            };
            Value::String(earlier + &s[2..])
        }
        Value::Array(items) if matches!(items.first(), Some(Value::String(s)) if s.starts_with("++")) =>
        {
            let mut earlier = match raw.get(&key).map(|v| &v.value) {
                Some(Value::Array(e)) => e.clone(),
                _ => Vec::new(),
            };
            earlier.extend(items.into_iter().skip(1));
            Value::Array(earlier)
        }
        other => other,
    };
    raw.insert(
        key,
        SourcedValue {
            value,
            source: source.to_string(),
        },
    );
}

/// Keys whose environment values are taken verbatim: YAML would turn an id such as `1e5`
/// into a number.
const VERBATIM_ENV_KEYS: [&str; 5] = [
    "test_id",
    "user_prefix",
    "test_name",
    "run_by_user",
    "oci_compartment_id",
];

/// `SCT_<KEY>` variables as `(variable, key, value)`, values parsed as YAML scalars.
fn env_overrides(env: &BTreeMap<String, String>) -> Vec<(String, String, Value)> {
    let mut out = Vec::new();
    for (name, raw_value) in env {
        let Some(rest) = name.strip_prefix("SCT_") else {
            continue;
        };
        if rest.is_empty() {
            continue;
        }
        let mut key = rest.to_ascii_lowercase();
        // SCT's historical spelling of the monitor count variable.
        if key == "n_monitors_nodes" {
            if env.contains_key("SCT_N_MONITOR_NODES") {
                continue;
            }
            key = "n_monitor_nodes".to_string();
        }
        let value = if raw_value.trim().is_empty() {
            Value::Null
        } else if VERBATIM_ENV_KEYS.contains(&key.as_str()) {
            Value::String(raw_value.trim().to_string())
        } else {
            parse_yaml::<Value>(raw_value).unwrap_or_else(|_| Value::String(raw_value.clone()))
        };
        out.push((name.clone(), key, value));
    }
    out
}

fn parse_yaml<T: serde::de::DeserializeOwned>(text: &str) -> std::result::Result<T, String> {
    let options = serde_saphyr::options! {
        // PyYAML, which SCT uses, keeps the last of repeated keys.
        duplicate_keys: serde_saphyr::DuplicateKeyPolicy::LastWins,
        // A snippet would quote file lines (possibly secrets) into the error.
        with_snippet: false,
    };
    serde_saphyr::from_str_with_options(text, options).map_err(|e| e.to_string())
}

/// Reads one YAML file's top-level mapping.
fn read_yaml_file(path: &Path) -> Result<serde_json::Map<String, Value>> {
    let file_error = |message: String| Error::ConfigFile {
        path: path.display().to_string(),
        message,
    };
    let text = std::fs::read_to_string(path).map_err(|e| file_error(e.to_string()))?;
    match parse_yaml::<Value>(&text).map_err(file_error)? {
        Value::Object(map) => Ok(map),
        Value::Null => Ok(serde_json::Map::new()),
        other => Err(file_error(format!(
            "the top level must be a mapping of configuration keys, found {}",
            value::kind(&other)
        ))),
    }
}
