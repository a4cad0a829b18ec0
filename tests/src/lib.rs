//! The contract suite every cr backend must pass, written once and run per cloud against the
//! in-process emulator (`cr_emulator::Emulator`).
//!
//! A cloud plugs in by implementing [`ContractTarget`]: how to build its adapter against an
//! emulator, the cloud-specific configuration keys, its regions, zones and instance types, and
//! how to make a reservation outside cr. Each check ([`checks`]) is a plain `pub async fn`
//! taking the target; it starts its own emulator with its own scenario, writes a small YAML
//! configuration into a temporary directory and loads it with [`Params::load`] (so the real
//! configuration path is exercised), drives the backend through
//! [`CapacityReservation`](cr_core::CapacityReservation), and asserts on the backend's answers
//! *and* on the emulator's audit — what the cloud really holds. A failed check panics.
//!
//! `tests/tests/<cloud>.rs` runs every check as one `#[tokio::test]` each:
//!
//! ```ignore
//! #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
//! async fn happy_path() {
//!     cr_contract_tests::checks::happy_path(&GceTarget).await;
//! }
//! ```
#![deny(missing_docs)]

pub mod bench;
pub mod checks;
pub mod crash;
pub mod many;
pub mod soak;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use cr_core::adapter::CloudAdapter;
use cr_core::engine::{Engine, WaitPolicy};
use cr_core::plan::CapacityPlan;
use cr_core::registry::BackendOptions;
use cr_core::retry::RetryPolicy;
use cr_core::{Cloud, EngineBackend, Params};
use cr_emulator::{AuditRecord, CloudKind, Emulator, EmulatorHandle, EmulatorIdentity, Scenario};

/// How long the emulator holds a request with the `hang` fault. Targets must build adapters
/// whose single API call times out well below this (a few seconds), so a hung call fails as a
/// timeout and is retried.
pub const HANG_MS: u64 = 20_000;

/// Which credentials a target builds its adapter with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Credentials {
    /// Credentials the emulator accepts.
    Valid,
    /// Credentials the emulator rejects (a wrong key, secret or token).
    Invalid,
}

/// Which preflight areas a backend checks against the emulator
/// ([`checks::preflight_says_whether_reserving_can_work`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PreflightSupport {
    /// Credentials: bad ones are a failed finding and nothing else is checked.
    pub credentials: bool,
    /// Offerings: a type the emulator does not offer in any zone of the region is a failed
    /// finding (true by default: the default hook asks the adapter's zone listing, which
    /// filters by type on most clouds).
    pub offerings: bool,
    /// Permissions: the permission to deny in the scenario (the cloud's name, as
    /// `denied_permissions` takes it) and the action the finding names for it.
    pub permission: Option<DeniedPermission>,
    /// Quota: a short quota of the db type's family is a failed finding naming its metric.
    pub quota: bool,
}

impl Default for PreflightSupport {
    /// Only the offerings.
    fn default() -> Self {
        PreflightSupport {
            credentials: false,
            offerings: true,
            permission: None,
            quota: false,
        }
    }
}

/// A permission the preflight check denies, and how the report names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeniedPermission {
    /// The permission, as the emulator's `denied_permissions` takes it.
    pub deny: &'static str,
    /// The finding's subject for it (the action as the backend's manifest names it).
    pub action: &'static str,
}

/// One region of the cloud as the emulator knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegionLayout {
    /// Region name.
    pub region: String,
    /// At least two of its zones, in the cloud's order (full names).
    pub zones: Vec<String>,
}

/// The cloud's geography and machine sizes the suite uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    /// At least three regions.
    pub regions: Vec<RegionLayout>,
    /// The database and the loader instance type (two different types).
    pub db_type: String,
    /// The loader instance type.
    pub loader_type: String,
}

/// Where one data centre of a test goes: indexes into [`Layout::regions`] and its zones.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Placement {
    /// Index into [`Layout::regions`].
    pub region: usize,
    /// Index into that region's zones: the configured zone.
    pub zone: usize,
}

/// One test's configuration, cloud-independent; targets turn it into their keys.
#[derive(Debug, Clone, PartialEq)]
pub struct TestConfig {
    /// `test_id`.
    pub test_id: String,
    /// One entry per data centre (region), in order.
    pub placements: Vec<Placement>,
    /// Database nodes per data centre.
    pub db_nodes: u32,
    /// Loader nodes per data centre.
    pub loaders: u32,
    /// `test_duration`, minutes.
    pub duration_minutes: u64,
    /// Whether the backend may fall back to the region's other zones.
    pub zone_fallback: bool,
}

impl TestConfig {
    /// One data centre in the first zone of the first region: 3 db nodes, 1 loader.
    pub fn single(test_id: impl Into<String>) -> Self {
        TestConfig {
            test_id: test_id.into(),
            placements: vec![Placement { region: 0, zone: 0 }],
            db_nodes: 3,
            loaders: 1,
            duration_minutes: 90,
            zone_fallback: true,
        }
    }
}

/// What a cloud supplies to run the suite.
#[async_trait]
pub trait ContractTarget: Send + Sync {
    /// The cloud.
    fn cloud(&self) -> Cloud;

    /// The registry name of the backend (`gce`, `aws`, …).
    fn backend_name(&self) -> &'static str;

    /// Regions, zones and instance types to use.
    fn layout(&self) -> Layout;

    /// The cloud-specific YAML keys of `config` (backend, enable flag, regions/zones,
    /// instance types, zone-fallback switch). The suite adds `test_id`, `instance_provision`,
    /// node counts and `test_duration`.
    fn config_yaml(&self, config: &TestConfig) -> String;

    /// The emulator's operation name of a reservation create (for faults and the request
    /// log), e.g. `reservations.insert` or `CreateCapacityReservation`.
    fn create_operation(&self) -> &'static str;

    /// The cloud's own code for an exhausted quota, as the error must name it.
    fn quota_code(&self) -> &'static str;

    /// The vCPUs (OCI: OCPUs) one database node of this suite's configuration counts against
    /// its quota. By default the emulator catalogue's number for [`Layout::db_type`]; a
    /// target whose configuration sizes the instance (OCI Flex shapes) says its own.
    fn db_vcpus(&self) -> u32 {
        cr_emulator::quota::quota_shape(cloud_kind(self.cloud()), &self.layout().db_type).vcpus
    }

    /// What the backend's preflight checks (the others it must report as not checkable,
    /// and the preflight check skips them loudly). By default nothing but the offerings,
    /// which the default hook answers through the adapter's zone listing.
    fn preflight(&self) -> PreflightSupport {
        PreflightSupport::default()
    }

    /// This cloud's adjustment of every check's scenario (Azure and OCI turn long-running
    /// operations on, as the real clouds answer; Azure with a given polling-header variant).
    /// Unchanged by default.
    fn scenario(&self, scenario: Scenario) -> Scenario {
        scenario
    }

    /// Whether the cloud ends a reservation on its own at its end time. Azure's `Targeted`
    /// reservations and OCI capacity reservations have no end time: they hold until deleted.
    /// True by default.
    fn expires_natively(&self) -> bool {
        true
    }

    /// Whether a create retried after its first attempt failed late makes the reservation
    /// again under the same id (Azure: ARM PUT by name re-creates the failed resource), so
    /// the audit shows one record that ended and came back rather than two. False by default.
    fn recreates_in_place(&self) -> bool {
        false
    }

    /// Whether `cr cleanup --backend B --test-id T` must also be given the run's `--config`
    /// files to find everything: OCI lists reservations per compartment, and a crashed run's
    /// compartment (`oci_compartment_id`) is known only from its configuration (without it,
    /// cleanup lists the tenancy's root compartment). False by default: the test id alone
    /// finds everything.
    fn cleanup_needs_config(&self) -> bool {
        false
    }

    /// How far the cloud lets the time of cr's requests be from its own clock before it
    /// refuses them for the clock, and its own code for that refusal (EC2: 15 minutes,
    /// `RequestExpired`; OCI: 5 minutes, `NotAuthenticated`; GCE's token endpoint: 5
    /// minutes, `invalid_grant`), or `None` when nothing cr sends carries a client time the
    /// cloud checks (Azure: a client secret is exchanged for a token stamped on Entra's own
    /// clock, which ARM checks on the same clock).
    /// [`checks::clock_skew_is_reported`] checks it.
    fn clock_skew_refusal(&self) -> Option<(Duration, &'static str)>;

    /// Permissions of the backend's manifest (`cr permissions`) that no call of the contract
    /// suite's life cycle needs, each with why it is granted anyway (a path the suite cannot
    /// reach). [`checks::the_permissions_are_exactly_what_is_called`] accepts only these as
    /// unused. None by default.
    fn permissions_off_the_suite_path(&self) -> &'static [(&'static str, &'static str)] {
        &[]
    }

    /// Builds the cloud adapter against `emulator` for `params`, with `credentials`. A single
    /// API call must time out within a few seconds (see [`HANG_MS`]). Building may fail (e.g.
    /// a credentials file the client rejects up front), which counts as unauthorized.
    async fn adapter(
        &self,
        emulator: &EmulatorHandle,
        params: &Params,
        credentials: Credentials,
    ) -> cr_core::Result<Arc<dyn CloudAdapter>>;

    /// The registry options the CLI would pass to use `emulator` (credentials written into
    /// `dir`).
    fn registry_options(&self, emulator: &EmulatorHandle, dir: &Path) -> BackendOptions;

    /// Creates, without cr, a reservation carrying `test_id` as the cloud carries tags, and
    /// returns the id or name the emulator's audit shows for it.
    async fn create_outside(
        &self,
        emulator: &EmulatorHandle,
        test_id: &str,
        region: &str,
        zone: &str,
        instance_type: &str,
    ) -> String;

    /// Creates, without cr, a reservation with no tags at all (on GCE named with cr's `cr-`
    /// prefix, like cr's own), and returns the id or name the emulator's audit shows for it:
    /// a reservation `cr orphans` must never list or touch.
    async fn create_untagged(
        &self,
        emulator: &EmulatorHandle,
        region: &str,
        zone: &str,
        instance_type: &str,
    ) -> String;

    /// Launches one instance over the cloud's own wire protocol (authenticated as the
    /// emulator's credentials helpers show, not through cr): a minimal create-instance
    /// request of the cloud for `instance_type` named `name`, with `target` — what the
    /// backend's `instance_target` returns for a reservation — merged in, and then `zone`
    /// set as the instance's zone (so a wrong zone is really sent). Waits for the launch to
    /// be accepted (long-running operations polled to the end). `Ok(id)`: the id
    /// [`ContractTarget::terminate`] takes; `Err`: the cloud's refusal as "HTTP status,
    /// code: message".
    async fn launch(
        &self,
        emulator: &EmulatorHandle,
        region: &str,
        zone: &str,
        instance_type: &str,
        target: &serde_json::Value,
        name: &str,
    ) -> Result<String, String>;

    /// Terminates an instance [`ContractTarget::launch`] made, waiting until the cloud
    /// accepted it.
    async fn terminate(&self, emulator: &EmulatorHandle, region: &str, id: &str);
}

/// Merges `patch` into `base`: objects key by key (recursively), anything else replaced.
pub fn merge_json(base: &mut serde_json::Value, patch: &serde_json::Value) {
    match (base, patch) {
        (serde_json::Value::Object(b), serde_json::Value::Object(p)) => {
            for (k, v) in p {
                merge_json(b.entry(k.clone()).or_insert(serde_json::Value::Null), v);
            }
        }
        (b, p) => *b = p.clone(),
    }
}

/// The emulator's name for `cloud`.
pub fn cloud_kind(cloud: Cloud) -> CloudKind {
    match cloud {
        Cloud::Aws => CloudKind::Aws,
        Cloud::Gce => CloudKind::Gce,
        Cloud::Azure => CloudKind::Azure,
        Cloud::Oci => CloudKind::Oci,
    }
}

/// The retry policy of the suite's backends: quick, but patient enough for a loaded machine
/// and for one call that hangs until its timeout. Not paced: the suite's throttles are
/// injected at random, not a bucket to share, and pacing after them would only slow the
/// checks; [`checks::many_engines_share_the_rate_limit`] paces ([`many::paced`]).
pub fn retry_policy() -> RetryPolicy {
    RetryPolicy {
        max_retries: 6,
        min_delay: Duration::from_millis(5),
        max_delay: Duration::from_millis(200),
        max_elapsed: Duration::from_secs(120),
        pacing: cr_core::pacing::PacingPolicy::off(),
        ..RetryPolicy::default()
    }
}

/// A scenario with ample capacity, no latency, instant operations, and [`HANG_MS`].
pub fn base_scenario() -> Scenario {
    Scenario {
        seed: 7,
        hang_ms: HANG_MS,
        ..Scenario::default()
    }
}

/// One emulator identity (CA, certificate, credentials) for the whole test process: its RSA
/// keys are generated once instead of by every emulator the soak starts (each cycle's world,
/// audit and tokens stay its own).
pub fn shared_identity() -> EmulatorIdentity {
    static IDENTITY: std::sync::OnceLock<EmulatorIdentity> = std::sync::OnceLock::new();
    IDENTITY
        .get_or_init(|| EmulatorIdentity::generate().expect("the emulator's keys are generated"))
        .clone()
}

/// Sets the capacity of `instance_type` in one zone of `cloud`.
pub fn set_capacity(
    scenario: &mut Scenario,
    cloud: Cloud,
    region: &str,
    zone: &str,
    instance_type: &str,
    available: i64,
) {
    scenario
        .clouds
        .get_mut(cloud_kind(cloud))
        .regions
        .entry(region.to_string())
        .or_default()
        .zones
        .entry(zone.to_string())
        .or_default()
        .insert(instance_type.to_string(), available);
}

/// One running check: its emulator, configuration directory, configuration and plan.
#[derive(Debug)]
pub struct Fixture {
    /// The emulator.
    pub emulator: EmulatorHandle,
    /// Holds the YAML and credential files.
    pub dir: tempfile::TempDir,
    /// The test's configuration.
    pub config: TestConfig,
    /// The layout the configuration was written from.
    pub layout: Layout,
    /// Loaded from the YAML written for `config`.
    pub params: Params,
    /// The plan `params` gives (built when the fixture started).
    pub plan: CapacityPlan,
    /// What the backend's permission manifest grants; every request the emulator logged is
    /// checked against it when the fixture is dropped.
    manifest: Manifest,
    /// Operations a test called itself, around the backend, with why (not checked).
    outside_calls: std::sync::Mutex<BTreeSet<String>>,
}

/// The permissions one backend's manifest grants (what `cr permissions --backend B` prints).
#[derive(Debug, Clone)]
pub struct Manifest {
    /// The cloud.
    pub cloud: Cloud,
    /// Every permission (IAM action, RBAC action, OCI permission) the document grants.
    pub granted: BTreeSet<String>,
}

impl Manifest {
    /// The manifest of the registered backend `backend_name` of `cloud`.
    pub fn of(cloud: Cloud, backend_name: &str) -> Manifest {
        let registration = cr_core::registry::find(backend_name)
            .unwrap_or_else(|| panic!("backend {backend_name} is not registered"));
        let document = (registration.permissions)()
            .unwrap_or_else(|e| panic!("the permissions of {backend_name}: {e}"));
        Manifest {
            cloud,
            granted: granted_permissions(cloud, &document),
        }
    }

    /// The requests of the log whose operation needs a permission the manifest does not
    /// grant, as `operation needs permission` lines. Operations the emulator's permission
    /// table does not know (the suite's own instance launches) are left out.
    pub fn uncovered(&self, requests: &[cr_emulator::RequestRecord]) -> BTreeSet<String> {
        let kind = cloud_kind(self.cloud);
        let mut out = BTreeSet::new();
        for r in requests.iter().filter(|r| r.cloud == Some(kind)) {
            if r.operation.eq_ignore_ascii_case("unknown") {
                // A request the emulator could not parse into an operation.
                continue;
            }
            match cr_emulator::iam::required_permissions(kind, &r.operation) {
                // Not an API of cr's: the tests' own launch calls around the backend
                // (instances), which the emulator's permission table leaves out.
                None => {}
                Some(needed) => {
                    for p in needed.iter().filter(|p| !self.granted.contains(**p)) {
                        out.insert(format!("{} needs {p}", r.operation));
                    }
                }
            }
        }
        out
    }
}

/// Every permission a permissions document of `cloud` grants: the `Action`s of an AWS policy's
/// statements, a GCE custom role's `includedPermissions`, an Azure role's `Actions`, and the
/// permissions OCI's statements grant (`permissions`).
pub fn granted_permissions(cloud: Cloud, document: &serde_json::Value) -> BTreeSet<String> {
    let strings = |v: &serde_json::Value| -> Vec<String> {
        v.as_array()
            .into_iter()
            .flatten()
            .filter_map(|a| a.as_str().map(str::to_string))
            .collect()
    };
    match cloud {
        Cloud::Aws => document["Statement"]
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|s| strings(&s["Action"]))
            .collect(),
        Cloud::Gce => strings(&document["includedPermissions"])
            .into_iter()
            .collect(),
        Cloud::Azure => strings(&document["Actions"]).into_iter().collect(),
        Cloud::Oci => document["permissions"]
            .as_object()
            .into_iter()
            .flatten()
            .map(|(k, _)| k.clone())
            .collect(),
    }
}

impl Drop for Fixture {
    /// Every operation the emulator saw during the check needs only permissions the
    /// backend's manifest grants (not checked while the check is already failing).
    fn drop(&mut self) {
        if std::thread::panicking() {
            return;
        }
        let outside = self
            .outside_calls
            .lock()
            .map(|s| s.clone())
            .unwrap_or_default();
        let requests: Vec<cr_emulator::RequestRecord> = self
            .emulator
            .requests()
            .into_iter()
            .filter(|r| !outside.contains(&r.operation))
            .collect();
        let uncovered = self.manifest.uncovered(&requests);
        assert!(
            uncovered.is_empty(),
            "`cr permissions --backend` for {} does not grant what test {} called: {uncovered:?}",
            self.manifest.cloud.as_str(),
            self.config.test_id
        );
    }
}

impl Fixture {
    /// Starts an emulator with `scenario` and loads the configuration of `config`.
    pub async fn start(
        target: &dyn ContractTarget,
        scenario: Scenario,
        config: TestConfig,
    ) -> Self {
        Self::start_with(target, scenario, config, None).await
    }

    /// As [`Fixture::start`], with the process's one [`shared_identity`] instead of fresh
    /// keys: for the soak and the crash experiments, which start an emulator per cycle.
    pub async fn start_sharing_keys(
        target: &dyn ContractTarget,
        scenario: Scenario,
        config: TestConfig,
    ) -> Self {
        Self::start_with(target, scenario, config, Some(shared_identity())).await
    }

    async fn start_with(
        target: &dyn ContractTarget,
        scenario: Scenario,
        config: TestConfig,
        identity: Option<EmulatorIdentity>,
    ) -> Self {
        let scenario = target.scenario(scenario);
        let mut builder = Emulator::builder().scenario(scenario);
        if let Some(identity) = identity {
            builder = builder.identity(identity);
        }
        let emulator = builder.start().await.expect("the emulator starts");
        let dir = tempfile::tempdir().expect("a temporary directory");
        let layout = target.layout();
        let params = load_params(target, dir.path(), &config);
        let plan = CapacityPlan::build(&params, target.cloud(), jiff::Timestamp::now())
            .expect("the configuration gives a plan");
        assert!(
            plan.enabled,
            "the suite's configuration must enable reservations: {:?}",
            plan.disabled_reason
        );
        Fixture {
            emulator,
            dir,
            config,
            layout,
            params,
            plan,
            manifest: Manifest::of(target.cloud(), target.backend_name()),
            outside_calls: std::sync::Mutex::new(BTreeSet::new()),
        }
    }

    /// A backend over a fresh adapter with `credentials`, driven by the engine.
    pub async fn backend(
        &self,
        target: &dyn ContractTarget,
        credentials: Credentials,
    ) -> cr_core::Result<EngineBackend> {
        let adapter = target
            .adapter(&self.emulator, &self.params, credentials)
            .await?;
        Ok(EngineBackend::over(
            Engine::new(adapter, retry_policy()).with_wait(WaitPolicy {
                first_interval: Duration::from_millis(20),
                max_interval: Duration::from_millis(200),
                settle_timeout: Duration::from_secs(60),
            }),
        ))
    }

    /// Declares that the test itself calls `operation` (around the backend, e.g. an adapter
    /// method the engine never uses), so the permission check at the end leaves it out;
    /// `why` must say why the backend's manifest need not grant it.
    pub fn calls_outside_the_backend(&self, operation: &str, why: &str) {
        assert!(
            !why.trim().is_empty(),
            "say why {operation} is not the backend's"
        );
        if let Ok(mut s) = self.outside_calls.lock() {
            s.insert(operation.to_string());
        }
    }

    /// The region name of placement `i`.
    pub fn region(&self, i: usize) -> &str {
        &self.layout.regions[self.config.placements[i].region].region
    }

    /// The configured zone of placement `i`.
    pub fn zone(&self, i: usize) -> &str {
        let p = self.config.placements[i];
        &self.layout.regions[p.region].zones[p.zone]
    }

    /// Zone `z` of placement `i`'s region.
    pub fn other_zone(&self, i: usize, z: usize) -> &str {
        &self.layout.regions[self.config.placements[i].region].zones[z]
    }

    /// Every audit record of this cloud.
    pub fn audit(&self, cloud: Cloud) -> Vec<AuditRecord> {
        let kind = cloud_kind(cloud);
        self.emulator
            .state()
            .reservations
            .into_iter()
            .filter(|r| r.cloud == kind)
            .collect()
    }

    /// The audit records of this cloud that still hold capacity.
    pub fn live(&self, cloud: Cloud) -> Vec<AuditRecord> {
        self.audit(cloud)
            .into_iter()
            .filter(|r| !r.state.is_ended())
            .collect()
    }

    /// `(instance type, count)` of every demand of the plan in `region`, sorted.
    pub fn demands(&self, region: &str) -> Vec<(String, u32)> {
        let mut d: Vec<(String, u32)> = self
            .plan
            .regions
            .iter()
            .filter(|r| r.region == region)
            .flat_map(|r| r.demands.iter().map(|d| (d.instance_type.clone(), d.count)))
            .collect();
        d.sort();
        d
    }
}

/// Writes the YAML of `config` into `dir` and loads it (no `SCT_*` variables).
pub fn load_params(target: &dyn ContractTarget, dir: &Path, config: &TestConfig) -> Params {
    let per_dc = |n: u32| {
        let v: Vec<String> = config.placements.iter().map(|_| n.to_string()).collect();
        v.join(" ")
    };
    let yaml = format!(
        "test_id: '{test_id}'\n\
         instance_provision: on_demand\n\
         n_db_nodes: '{db}'\n\
         n_loaders: '{loaders}'\n\
         n_monitor_nodes: 0\n\
         nemesis_add_node_cnt: 0\n\
         test_duration: {duration}\n\
         {specific}",
        test_id = config.test_id,
        db = per_dc(config.db_nodes),
        loaders = per_dc(config.loaders),
        duration = config.duration_minutes,
        specific = target.config_yaml(config),
    );
    let path = dir.join(format!("{}.yaml", config.test_id));
    std::fs::write(&path, yaml).expect("the configuration file is written");
    Params::load(&[path], &BTreeMap::new()).expect("the suite's configuration loads")
}

/// The fault soak ([`soak::fault_soak`]) against `$target` as one `#[tokio::test]`:
/// `CR_SOAK_CYCLES` (default 100) seeded cycles from `CR_SOAK_SEED` (default 1); no leak,
/// false success, double or unclassified error. Each cloud's test file runs it once (not per
/// variant of its suite).
#[macro_export]
macro_rules! fault_soak {
    ($target:expr) => {
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn fault_soak() {
            let var = |k: &str, d: u64| {
                std::env::var(k)
                    .ok()
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(d)
            };
            let cycles = u32::try_from(var("CR_SOAK_CYCLES", 100)).unwrap_or(100);
            let started = std::time::Instant::now();
            let tally = $crate::soak::fault_soak(&$target, cycles, var("CR_SOAK_SEED", 1)).await;
            eprintln!(
                "fault soak ({:.1} s): {tally}",
                started.elapsed().as_secs_f64()
            );
            assert!(tally.clean(), "{tally}");
        }
    };
}

/// The crash-recovery experiments ([`crash::crash_recovery`]) against `$target`, one
/// `#[tokio::test]` each: `cr reserve` as a child process stopped at `CR_CRASH_SEEDS`
/// (default 30) seeded moments from `CR_CRASH_SEED` (default 1) by SIGKILL (then `cr cleanup`,
/// or `cr reserve` again), SIGTERM and SIGINT; nothing left active, nothing doubled.
#[macro_export]
macro_rules! crash_recovery {
    ($target:expr) => {
        mod crash_recovery {
            use super::*;
            use $crate::crash::{Experiment, Signal};

            async fn run(experiment: Experiment) {
                let var = |k: &str, d: u64| {
                    std::env::var(k)
                        .ok()
                        .and_then(|v| v.parse().ok())
                        .unwrap_or(d)
                };
                let seeds = u32::try_from(var("CR_CRASH_SEEDS", 30)).unwrap_or(30);
                let started = std::time::Instant::now();
                let tally = $crate::crash::crash_recovery(
                    &$target,
                    experiment,
                    seeds,
                    var("CR_CRASH_SEED", 1),
                )
                .await;
                eprintln!(
                    "crash recovery, {experiment} ({:.1} s): {tally}",
                    started.elapsed().as_secs_f64()
                );
                assert!(tally.problems.is_empty(), "{experiment}: {tally}");
                // Most stops must land while creates are in flight, or the experiment proves
                // little.
                assert!(
                    tally.mid_flight * 2 >= tally.seeds
                        && tally.stopped(experiment) * 2 >= tally.seeds,
                    "{experiment}: too few stops landed mid-flight and took effect: {tally}"
                );
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sigkill_then_cleanup_leaves_nothing() {
                run(Experiment::KillThenCleanup).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sigkill_then_rerun_holds_the_plan_once() {
                run(Experiment::KillThenRerun).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sigterm_rolls_back_by_itself() {
                run(Experiment::Signal(Signal::Term)).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sigint_rolls_back_by_itself() {
                run(Experiment::Signal(Signal::Int)).await;
            }
        }
    };
}

/// Runs every shared check against `$target` (an expression of a type implementing
/// [`ContractTarget`]), one `#[tokio::test]` per check. A new check added to
/// [`checks`] is added here once and runs for every backend.
#[macro_export]
macro_rules! contract_suite {
    ($target:expr) => {
        $crate::contract_suite!(@tests $target;
            happy_path,
            stockout_falls_back_to_the_next_zone,
            quota_exceeded_fails_and_names_the_code,
            throttling_then_success,
            unauthorized_stops_without_fallback,
            cancel_leaves_nothing_active,
            cancel_all_regions_finds_every_region,
            discover_after_restart,
            create_retried_after_a_hang_is_not_doubled,
            create_retried_after_a_reset_is_not_doubled,
            create_retried_after_a_lost_reply_is_not_doubled,
            adapter_create_is_idempotent,
            expiry_is_set,
            registry_backend_reserves_and_cancels,
            every_reply_lost_leaves_nothing,
            reserve_returns_only_usable_reservations,
            a_create_failing_late_is_not_a_success,
            a_cancelled_reserve_leaves_nothing,
            two_concurrent_reserves_converge_on_one_set,
            a_zone_not_offering_a_type_is_left_for_the_next,
            a_test_id_with_filter_metacharacters_is_found_again,
            a_rerun_with_a_changed_plan_replaces_the_set,
            orphans_past_their_end_time,
            orphans_older_than,
            orphans_unused_for,
            orphans_of_a_finished_test,
            orphans_cancel_leaves_no_orphan_active,
            cleanup_dry_run_changes_nothing,
            launches_use_the_reservation_and_termination_frees_it,
            the_permissions_are_exactly_what_is_called,
            garbage_answers_are_classified_and_leave_nothing,
            clock_skew_is_reported,
            preflight_says_whether_reserving_can_work,
            many_engines_share_the_rate_limit,
        );
    };
    (@tests $target:expr; $($check:ident),* $(,)?) => {
        $(
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $check() {
            $crate::checks::$check(&$target).await;
        }
    )*
    };
}

/// Limits the quota of the database type's family in `region` to what `nodes` database nodes
/// take, in the cloud's unit (vCPUs; OCI OCPUs per availability domain).
pub fn limit_to_db_nodes(
    t: &dyn ContractTarget,
    scenario: &mut Scenario,
    region: &str,
    nodes: u64,
) {
    let cloud = cloud_kind(t.cloud());
    let layout = t.layout();
    let metric = cr_emulator::quota::quota_shape(cloud, &layout.db_type).metrics[0].clone();
    scenario
        .clouds
        .get_mut(cloud)
        .regions
        .entry(region.to_string())
        .or_default()
        .quotas
        .insert(metric, nodes * u64::from(t.db_vcpus()));
}
