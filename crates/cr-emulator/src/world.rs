//! The state every emulated cloud shares: the scenario, capacity accounting, the audit of
//! reservations, the request log, seeded fault injection and latency, and the world clock.
//!
//! Cloud modules keep their own resources (reservations, operations, idempotency tokens) and
//! report to the [`World`]: they call [`World::try_consume`] before a reservation takes
//! capacity and [`World::release`] when it gives it back, record every reservation with
//! [`World::upsert_reservation`] / [`World::set_state`], and ask [`World::admit`] (latency, then
//! a possible fault) at the start of each request.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::fmt;
use std::str::FromStr;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use jiff::Timestamp;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

use crate::defaults;
use crate::scenario::{FaultKind, GarbageForm, Scenario};

/// Upper bound of the request log; older entries are dropped first.
const REQUEST_LOG_CAP: usize = 100_000;

/// The four emulated clouds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CloudKind {
    /// AWS EC2.
    Aws,
    /// Google Compute Engine.
    Gce,
    /// Azure Resource Manager.
    Azure,
    /// Oracle Cloud Infrastructure.
    Oci,
}

impl CloudKind {
    /// All four, in a stable order.
    pub const ALL: [CloudKind; 4] = [
        CloudKind::Aws,
        CloudKind::Gce,
        CloudKind::Azure,
        CloudKind::Oci,
    ];

    /// The lowercase name used in scenarios and the audit.
    pub fn as_str(self) -> &'static str {
        match self {
            CloudKind::Aws => "aws",
            CloudKind::Gce => "gce",
            CloudKind::Azure => "azure",
            CloudKind::Oci => "oci",
        }
    }
}

impl fmt::Display for CloudKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for CloudKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        CloudKind::ALL
            .into_iter()
            .find(|c| c.as_str().eq_ignore_ascii_case(s))
            .ok_or_else(|| format!("unknown cloud {s:?}"))
    }
}

/// Why [`World::try_consume`] refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CapacityDenied {
    /// The zone has fewer instances of the type left than asked for.
    Stockout {
        /// Instances still free in the zone.
        available: u64,
    },
    /// A vCPU quota of the region (OCI: of the availability domain) would be exceeded.
    Quota {
        /// The cloud's name of the quota metric (`N2_CPUS`, `CPUS`, `standardDSv5Family`,
        /// `standard`, `standard-e4-core-count`).
        metric: String,
        /// Its limit in vCPUs (OCI: OCPUs).
        limit: u64,
        /// vCPUs already held against it.
        used: u64,
        /// vCPUs the refused request needed.
        needed: u64,
    },
    /// The scenario says the type does not exist in the zone (negative count).
    NotOffered,
}

/// Life-cycle state of a reservation in the audit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AuditState {
    /// Holding capacity.
    Active,
    /// Accepted, not yet usable (holds capacity).
    Pending,
    /// Released by the client (or the creation failed).
    Cancelled,
    /// Released because its end time passed.
    Expired,
}

impl AuditState {
    /// Whether the reservation has ended.
    pub fn is_ended(self) -> bool {
        matches!(self, AuditState::Cancelled | AuditState::Expired)
    }
}

/// One reservation as the audit reports it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditRecord {
    /// Which cloud.
    pub cloud: CloudKind,
    /// The cloud's id (EC2 `cr-…`, GCE numeric id, ARM resource id, OCI OCID).
    pub id: String,
    /// The name (GCE/Azure name, OCI display name; EC2: the id).
    pub name: String,
    /// Region.
    pub region: String,
    /// Zone / availability domain (empty for regional Azure reservations).
    pub zone: String,
    /// Instance type / machine type / VM size / shape.
    pub instance_type: String,
    /// Instances reserved.
    pub count: u32,
    /// Current state.
    pub state: AuditState,
    /// Tags (GCE: none).
    pub tags: BTreeMap<String, String>,
    /// When it was made (world clock).
    pub created_at: Timestamp,
    /// When it was cancelled or expired.
    pub ended_at: Option<Timestamp>,
    /// Instances running inside it now (launches through the emulated launch endpoints);
    /// filled in by [`World::state`].
    #[serde(default)]
    pub used: u32,
}

/// The audit as `GET /_emulator/state` returns it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct EmulatorState {
    /// Every reservation ever made, in creation order.
    pub reservations: Vec<AuditRecord>,
    /// Instances running now (launched through the emulated launch endpoints), oldest first.
    #[serde(default)]
    pub instances: Vec<crate::usage::Instance>,
    /// What each API rate-limit bucket let through and refused (empty without
    /// `rate_limit` in the scenario).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rate_limited: Vec<crate::ratelimit::RateLimitCount>,
}

impl EmulatorState {
    /// Reservations of one cloud that still hold capacity (active or pending).
    pub fn live(&self, cloud: CloudKind) -> impl Iterator<Item = &AuditRecord> {
        self.reservations
            .iter()
            .filter(move |r| r.cloud == cloud && !r.state.is_ended())
    }
}

/// One answered request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RequestRecord {
    /// When it arrived (world clock).
    pub at: Timestamp,
    /// Which cloud's API it hit (`null` when no cloud claimed it).
    pub cloud: Option<CloudKind>,
    /// Operation name (EC2 Action, GCE method, ...), or the path when unknown.
    pub operation: String,
    /// HTTP method.
    pub method: String,
    /// Request path.
    pub path: String,
    /// HTTP status sent (0 when the connection was dropped).
    pub status: u16,
    /// The cloud error code sent, if any.
    pub error_code: Option<String>,
    /// The fault injected, if any.
    pub fault: Option<FaultKind>,
    /// Time from arrival to answer, in milliseconds.
    pub latency_ms: f64,
}

/// A region as the world sees it: defaults merged with the scenario.
#[derive(Debug, Clone, PartialEq)]
pub struct RegionInfo {
    /// Wire name.
    pub name: String,
    /// Human-readable name.
    pub display_name: String,
    /// Full zone names.
    pub zones: Vec<String>,
    /// EC2: an opt-in region the scenario does not name (so not enabled).
    pub opt_in_disabled: bool,
    /// EC2: an opt-in region.
    pub opt_in: bool,
    /// OCI region key.
    pub key: String,
}

type PoolKey = (CloudKind, String, String, String);
type QuotaKey = (CloudKind, String, String, String);

/// Merged regions and the scenario they were computed from.
type CachedRegions = (Arc<Scenario>, Arc<Vec<RegionInfo>>);

#[derive(Default)]
struct Inner {
    used: HashMap<PoolKey, u64>,
    /// vCPUs held per pool (so that a release frees what the take charged).
    pool_vcpus: HashMap<PoolKey, u64>,
    /// vCPUs held per quota: (cloud, region, scope, metric); scope is the zone for a cloud
    /// whose quotas are per zone (OCI), empty otherwise.
    quota_used: HashMap<QuotaKey, u64>,
    audit: Vec<AuditRecord>,
    audit_index: HashMap<(CloudKind, String), usize>,
    fault_rngs: HashMap<(CloudKind, String), StdRng>,
    latency_rngs: HashMap<(CloudKind, String), StdRng>,
    fault_hits: HashMap<usize, u64>,
    garbage_rngs: HashMap<(CloudKind, String), StdRng>,
}

/// The shared world. Cheap to share behind an `Arc`; every method takes `&self`.
pub struct World {
    scenario: RwLock<Arc<Scenario>>,
    /// Merged regions per cloud, valid for the scenario they were computed from.
    region_cache: Mutex<HashMap<CloudKind, CachedRegions>>,
    inner: Mutex<Inner>,
    requests: Mutex<VecDeque<RequestRecord>>,
    clock_offset_ms: AtomicI64,
    usage: Mutex<crate::usage::Usage>,
    limiter: crate::ratelimit::Limiter,
}

impl fmt::Debug for World {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("World")
            .field(
                "clock_offset_ms",
                &self.clock_offset_ms.load(Ordering::Relaxed),
            )
            .finish_non_exhaustive()
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A panicking handler must not take the whole emulator down with a poisoned lock.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// FNV-1a: a stable hash so that seeds derived from names do not change between builds.
fn stable_hash(parts: &[&str]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for p in parts {
        for b in p.bytes().chain(std::iter::once(0xff)) {
            h ^= u64::from(b.to_ascii_lowercase());
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
    }
    h
}

impl World {
    /// A world running `scenario`.
    pub fn new(scenario: Scenario) -> World {
        World {
            scenario: RwLock::new(Arc::new(scenario)),
            region_cache: Mutex::new(HashMap::new()),
            inner: Mutex::new(Inner::default()),
            requests: Mutex::new(VecDeque::new()),
            clock_offset_ms: AtomicI64::new(0),
            usage: Mutex::new(crate::usage::Usage::default()),
            limiter: crate::ratelimit::Limiter::default(),
        }
    }

    // ----- scenario -----------------------------------------------------------------------

    /// A copy of the current scenario.
    pub fn scenario(&self) -> Scenario {
        (*self.scenario_arc()).clone()
    }

    /// The current scenario without copying it.
    pub fn scenario_arc(&self) -> Arc<Scenario> {
        self.scenario
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Replaces the scenario. Reservations already made keep their capacity; fault and
    /// latency random streams restart from the new seed.
    pub fn set_scenario(&self, scenario: Scenario) {
        *self.scenario.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(scenario);
        let mut inner = lock(&self.inner);
        inner.fault_rngs.clear();
        inner.latency_rngs.clear();
        inner.fault_hits.clear();
        inner.garbage_rngs.clear();
        self.limiter.reset();
    }

    /// Forgets every reservation, the request log, capacity use and the clock offset (the
    /// scenario stays). Cloud modules reset their own state through `AppState::reset`.
    pub fn reset(&self) {
        *lock(&self.inner) = Inner::default();
        *lock(&self.usage) = crate::usage::Usage::default();
        lock(&self.requests).clear();
        self.limiter.reset();
        self.clock_offset_ms.store(0, Ordering::SeqCst);
    }

    // ----- clock --------------------------------------------------------------------------

    /// The world clock: real time plus whatever [`World::advance`] added.
    pub fn now(&self) -> Timestamp {
        let offset = self.clock_offset_ms.load(Ordering::SeqCst);
        Timestamp::now()
            .checked_add(jiff::SignedDuration::from_millis(offset))
            .unwrap_or_else(|_| Timestamp::now())
    }

    /// The clouds' own clock, which authentication checks request times against: real time
    /// plus the scenario's `clock_skew_s` (not moved by [`World::advance`], which simulates
    /// time passing for client and cloud alike).
    pub fn auth_now(&self) -> Timestamp {
        Timestamp::now()
            .checked_add(jiff::SignedDuration::from_secs(self.clock_skew_s()))
            .unwrap_or_else(|_| Timestamp::now())
    }

    /// The scenario's `clock_skew_s`: how far the clouds' clock is ahead (+) of or behind (-)
    /// the client's.
    pub fn clock_skew_s(&self) -> i64 {
        self.scenario_arc().clock_skew_s
    }

    /// Sets the scenario's `clock_skew_s` (fault and latency streams carry on).
    pub fn set_clock_skew(&self, seconds: i64) {
        let mut guard = self.scenario.write().unwrap_or_else(|e| e.into_inner());
        let mut scenario = (**guard).clone();
        scenario.clock_skew_s = seconds;
        *guard = Arc::new(scenario);
    }

    /// Moves the world clock forward, so expiry and long-running operations can be tested
    /// without sleeping.
    pub fn advance(&self, by: Duration) {
        let ms = i64::try_from(by.as_millis()).unwrap_or(i64::MAX);
        self.clock_offset_ms.fetch_add(ms, Ordering::SeqCst);
    }

    // ----- regions and zones ---------------------------------------------------------------

    /// Every region of a cloud: the defaults plus any the scenario adds, with zones merged.
    pub fn regions(&self, cloud: CloudKind) -> Vec<RegionInfo> {
        (*self.regions_shared(cloud)).clone()
    }

    /// [`World::regions`] without copying (computed once per scenario).
    pub fn regions_shared(&self, cloud: CloudKind) -> Arc<Vec<RegionInfo>> {
        let scenario = self.scenario_arc();
        if let Some((seen, regions)) = lock(&self.region_cache).get(&cloud)
            && Arc::ptr_eq(seen, &scenario)
        {
            return regions.clone();
        }
        let regions = Arc::new(merge_regions(cloud, &scenario));
        lock(&self.region_cache).insert(cloud, (scenario, regions.clone()));
        regions
    }

    /// One region, if it exists.
    pub fn region(&self, cloud: CloudKind, name: &str) -> Option<RegionInfo> {
        self.regions_shared(cloud)
            .iter()
            .find(|r| r.name == name)
            .cloned()
    }

    /// The region a zone belongs to.
    pub fn region_of_zone(&self, cloud: CloudKind, zone: &str) -> Option<RegionInfo> {
        self.regions_shared(cloud)
            .iter()
            .find(|r| r.zones.iter().any(|z| z == zone))
            .cloned()
    }

    // ----- capacity ------------------------------------------------------------------------

    /// Instances of `instance_type` the scenario gives the zone in total (before use);
    /// negative when the type is not offered there.
    pub fn capacity_total(
        &self,
        cloud: CloudKind,
        region: &str,
        zone: &str,
        instance_type: &str,
    ) -> i64 {
        let scenario = self.scenario_arc();
        let default = i64::try_from(scenario.default_capacity).unwrap_or(i64::MAX);
        let Some(r) = scenario.clouds.get(cloud).regions.get(region) else {
            return default;
        };
        let zone_map = r.zones.get(zone).or_else(|| {
            if cloud == CloudKind::Oci {
                r.zones
                    .iter()
                    .find_map(|(k, v)| oci_zone_matches(zone, k).then_some(v))
            } else {
                None
            }
        });
        zone_map
            .and_then(|m| m.get(instance_type).copied())
            .unwrap_or(default)
    }

    /// Whether the type is offered in the zone (the scenario does not mark it negative).
    pub fn offered(&self, cloud: CloudKind, region: &str, zone: &str, instance_type: &str) -> bool {
        self.capacity_total(cloud, region, zone, instance_type) >= 0
    }

    /// Instances of the type still free in the zone.
    pub fn available(
        &self,
        cloud: CloudKind,
        region: &str,
        zone: &str,
        instance_type: &str,
    ) -> u64 {
        let total = self.capacity_total(cloud, region, zone, instance_type);
        let used = lock(&self.inner)
            .used
            .get(&pool_key(cloud, region, zone, instance_type))
            .copied()
            .unwrap_or(0);
        u64::try_from(total).unwrap_or(0).saturating_sub(used)
    }

    /// Zones of the region that could take `count` more instances of the type right now
    /// (for the "try these zones instead" hints real stockout messages carry).
    pub fn zones_with_capacity(
        &self,
        cloud: CloudKind,
        region: &str,
        instance_type: &str,
        count: u32,
    ) -> Vec<String> {
        let Some(info) = self.region(cloud, region) else {
            return Vec::new();
        };
        info.zones
            .into_iter()
            .filter(|z| self.available(cloud, region, z, instance_type) >= u64::from(count))
            .collect()
    }

    /// Takes `count` instances of the type from the zone, or says why not. The quotas are
    /// checked first, as the clouds do: every metric the type draws on
    /// ([`crate::quota::quota_shape`]) must hold `count` × its vCPUs more.
    pub fn try_consume(
        &self,
        cloud: CloudKind,
        region: &str,
        zone: &str,
        instance_type: &str,
        count: u32,
    ) -> Result<(), CapacityDenied> {
        let each = crate::quota::quota_shape(cloud, instance_type).vcpus;
        self.try_consume_vcpus(
            cloud,
            region,
            zone,
            instance_type,
            count,
            u64::from(each) * u64::from(count),
        )
    }

    /// [`World::try_consume`] for instances whose size the request sets (OCI Flex shapes:
    /// `vcpus` is the OCPUs of all `count` instances together).
    pub fn try_consume_vcpus(
        &self,
        cloud: CloudKind,
        region: &str,
        zone: &str,
        instance_type: &str,
        count: u32,
        vcpus: u64,
    ) -> Result<(), CapacityDenied> {
        let scenario = self.scenario_arc();
        let total = self.capacity_total(cloud, region, zone, instance_type);
        if total < 0 {
            return Err(CapacityDenied::NotOffered);
        }
        let metrics = crate::quota::quota_shape(cloud, instance_type).metrics;
        let limits = scenario
            .clouds
            .get(cloud)
            .regions
            .get(region)
            .map(|r| &r.quotas);
        let mut inner = lock(&self.inner);
        for metric in &metrics {
            let limit = limits
                .and_then(|q| q.get(metric))
                .copied()
                .unwrap_or(crate::quota::DEFAULT_VCPU_QUOTA);
            let used = inner
                .quota_used
                .get(&quota_key(cloud, region, zone, metric))
                .copied()
                .unwrap_or(0);
            if used + vcpus > limit {
                return Err(CapacityDenied::Quota {
                    metric: metric.clone(),
                    limit,
                    used,
                    needed: vcpus,
                });
            }
        }
        let key = pool_key(cloud, region, zone, instance_type);
        let used = inner.used.get(&key).copied().unwrap_or(0);
        let available = u64::try_from(total).unwrap_or(0).saturating_sub(used);
        if u64::from(count) > available {
            return Err(CapacityDenied::Stockout { available });
        }
        *inner.used.entry(key.clone()).or_default() += u64::from(count);
        *inner.pool_vcpus.entry(key).or_default() += vcpus;
        for metric in &metrics {
            *inner
                .quota_used
                .entry(quota_key(cloud, region, zone, metric))
                .or_default() += vcpus;
        }
        Ok(())
    }

    /// Gives back what [`World::try_consume`] took: `count` instances, and their share of the
    /// vCPUs the pool holds.
    pub fn release(
        &self,
        cloud: CloudKind,
        region: &str,
        zone: &str,
        instance_type: &str,
        count: u32,
    ) {
        let mut inner = lock(&self.inner);
        let key = pool_key(cloud, region, zone, instance_type);
        let held = inner.used.get(&key).copied().unwrap_or(0);
        let n = u64::from(count).min(held);
        if n == 0 {
            return;
        }
        let pool_vcpus = inner.pool_vcpus.get(&key).copied().unwrap_or(0);
        let freed = if n == held {
            pool_vcpus
        } else {
            pool_vcpus * n / held
        };
        inner.used.insert(key.clone(), held - n);
        inner.pool_vcpus.insert(key, pool_vcpus - freed);
        for metric in crate::quota::quota_shape(cloud, instance_type).metrics {
            if let Some(u) = inner
                .quota_used
                .get_mut(&quota_key(cloud, region, zone, &metric))
            {
                *u = u.saturating_sub(freed);
            }
        }
    }

    /// The permissions the scenario denies the caller on `cloud`, as written.
    pub fn denied_permissions(&self, cloud: CloudKind) -> Vec<String> {
        self.scenario_arc()
            .clouds
            .get(cloud)
            .denied_permissions
            .clone()
    }

    /// Whether the scenario grants `permission` on `cloud` (names compared without regard to
    /// case, as Azure's are; the others' are case-sensitive in practice but never differ).
    pub fn permission_granted(&self, cloud: CloudKind, permission: &str) -> bool {
        !self
            .scenario_arc()
            .clouds
            .get(cloud)
            .denied_permissions
            .iter()
            .any(|d| d.eq_ignore_ascii_case(permission))
    }

    /// The first permission `operation` needs ([`crate::iam::required_permissions`]) that
    /// the scenario denies, if any: the operation is to be refused with the cloud's
    /// authorization error naming it.
    pub fn denied_permission(&self, cloud: CloudKind, operation: &str) -> Option<&'static str> {
        crate::iam::required_permissions(cloud, operation)?
            .iter()
            .copied()
            .find(|p| !self.permission_granted(cloud, p))
    }

    /// The limit of a quota metric in a region (vCPUs; OCI OCPUs per availability domain):
    /// what the scenario sets, else [`crate::quota::DEFAULT_VCPU_QUOTA`].
    pub fn quota_limit(&self, cloud: CloudKind, region: &str, metric: &str) -> u64 {
        self.scenario_arc()
            .clouds
            .get(cloud)
            .regions
            .get(region)
            .and_then(|r| r.quotas.get(metric))
            .copied()
            .unwrap_or(crate::quota::DEFAULT_VCPU_QUOTA)
    }

    /// vCPUs held against a quota metric in a region; `zone` names the availability domain
    /// for a cloud whose quotas are per zone (OCI) and is ignored otherwise.
    pub fn quota_used(&self, cloud: CloudKind, region: &str, zone: &str, metric: &str) -> u64 {
        lock(&self.inner)
            .quota_used
            .get(&quota_key(cloud, region, zone, metric))
            .copied()
            .unwrap_or(0)
    }

    /// The metrics with a limit set by the scenario or vCPUs held in a region, sorted (for
    /// the clouds' quota listings).
    pub fn quota_metrics(&self, cloud: CloudKind, region: &str) -> Vec<String> {
        let mut out: std::collections::BTreeSet<String> = self
            .scenario_arc()
            .clouds
            .get(cloud)
            .regions
            .get(region)
            .map(|r| r.quotas.keys().cloned().collect())
            .unwrap_or_default();
        out.extend(
            lock(&self.inner)
                .quota_used
                .keys()
                .filter(|(c, r, _, _)| *c == cloud && r == region)
                .map(|(_, _, _, m)| m.clone()),
        );
        out.into_iter().collect()
    }

    // ----- audit ---------------------------------------------------------------------------

    /// Records a new reservation or replaces the record with the same cloud and id.
    pub fn upsert_reservation(&self, record: AuditRecord) {
        let mut inner = lock(&self.inner);
        let key = (record.cloud, record.id.clone());
        match inner.audit_index.get(&key) {
            Some(&i) => inner.audit[i] = record,
            None => {
                let i = inner.audit.len();
                inner.audit.push(record);
                inner.audit_index.insert(key, i);
            }
        }
    }

    /// Changes a reservation's state; entering cancelled or expired stamps `ended_at`.
    pub fn set_state(&self, cloud: CloudKind, id: &str, state: AuditState) {
        let now = self.now();
        self.update_reservation(cloud, id, |r| {
            if state.is_ended() && r.ended_at.is_none() {
                r.ended_at = Some(now);
            }
            r.state = state;
        });
    }

    /// Edits a recorded reservation in place (e.g. a new count after a resize).
    pub fn update_reservation(
        &self,
        cloud: CloudKind,
        id: &str,
        edit: impl FnOnce(&mut AuditRecord),
    ) {
        let mut inner = lock(&self.inner);
        if let Some(&i) = inner.audit_index.get(&(cloud, id.to_owned())) {
            edit(&mut inner.audit[i]);
        }
    }

    /// The audit.
    pub fn state(&self) -> EmulatorState {
        let mut reservations = lock(&self.inner).audit.clone();
        let usage = lock(&self.usage);
        for r in &mut reservations {
            r.used = usage.used(r.cloud, &r.id);
        }
        EmulatorState {
            reservations,
            instances: usage.instances(),
            rate_limited: self.limiter.counts(),
        }
    }

    pub(crate) fn usage(&self) -> std::sync::MutexGuard<'_, crate::usage::Usage> {
        lock(&self.usage)
    }

    // ----- request log ---------------------------------------------------------------------

    /// Appends to the request log.
    pub fn log_request(&self, record: RequestRecord) {
        let mut log = lock(&self.requests);
        if log.len() >= REQUEST_LOG_CAP {
            log.pop_front();
        }
        log.push_back(record);
    }

    /// The request log, oldest first.
    pub fn requests(&self) -> Vec<RequestRecord> {
        lock(&self.requests).iter().cloned().collect()
    }

    // ----- faults and latency --------------------------------------------------------------

    /// Decides whether this request of `operation` fails and how. Each `(cloud, operation)`
    /// has its own random stream seeded from the scenario's seed, so the n-th request of an
    /// operation gets the same answer in every run regardless of other traffic.
    pub fn fault(&self, cloud: CloudKind, operation: &str) -> Option<FaultKind> {
        let scenario = self.scenario_arc();
        if scenario.faults.is_empty() {
            return None;
        }
        let mut inner = lock(&self.inner);
        let inner = &mut *inner;
        let mut fired = None;
        for (i, f) in scenario.faults.iter().enumerate() {
            if f.cloud != cloud
                || !(f.operation == "*" || f.operation.eq_ignore_ascii_case(operation))
            {
                continue;
            }
            let rng = inner
                .fault_rngs
                .entry((cloud, operation.to_ascii_lowercase()))
                .or_insert_with(|| {
                    StdRng::seed_from_u64(
                        scenario.seed ^ stable_hash(&["fault", cloud.as_str(), operation]),
                    )
                });
            // Draw for every matching fault, fired or not, so one fault's limit does not
            // shift the stream the others see.
            let roll: f64 = rng.random();
            if fired.is_some() || roll >= f.rate {
                continue;
            }
            let hits = inner.fault_hits.entry(i).or_default();
            if f.limit.is_some_and(|l| *hits >= l) {
                continue;
            }
            *hits += 1;
            fired = Some(f.kind);
        }
        fired
    }

    /// The answer a [`FaultKind::Garbage`] hit of `operation` gives: the form of the first
    /// matching garbage fault that names one, else one drawn from the operation's own seeded
    /// stream (so the n-th garbage answer of an operation is the same in every run).
    pub fn garbage_form(&self, cloud: CloudKind, operation: &str) -> GarbageForm {
        let scenario = self.scenario_arc();
        let matching = scenario.faults.iter().filter(|f| {
            f.kind == FaultKind::Garbage
                && f.cloud == cloud
                && (f.operation == "*" || f.operation.eq_ignore_ascii_case(operation))
        });
        if let Some(form) = matching.filter_map(|f| f.garbage).next() {
            return form;
        }
        let mut inner = lock(&self.inner);
        let rng = inner
            .garbage_rngs
            .entry((cloud, operation.to_ascii_lowercase()))
            .or_insert_with(|| {
                StdRng::seed_from_u64(
                    scenario.seed ^ stable_hash(&["garbage", cloud.as_str(), operation]),
                )
            });
        GarbageForm::ALL[rng.random_range(0..GarbageForm::ALL.len())]
    }

    /// Latency to add to this request: fixed plus seeded jitter (per-operation settings win).
    pub fn latency(&self, cloud: CloudKind, operation: &str) -> Duration {
        let scenario = self.scenario_arc();
        let lat = &scenario.latency;
        let (fixed, jitter) = lat
            .operations
            .get(&format!("{cloud}:{operation}"))
            .or_else(|| lat.operations.get(operation))
            .map(|o| (o.fixed_ms, o.jitter_ms))
            .unwrap_or((lat.fixed_ms, lat.jitter_ms));
        let extra = if jitter == 0 {
            0
        } else {
            let mut inner = lock(&self.inner);
            let rng = inner
                .latency_rngs
                .entry((cloud, operation.to_ascii_lowercase()))
                .or_insert_with(|| {
                    StdRng::seed_from_u64(
                        scenario.seed ^ stable_hash(&["latency", cloud.as_str(), operation]),
                    )
                });
            rng.random_range(0..=jitter)
        };
        Duration::from_millis(fixed + extra)
    }

    /// How long a long-running operation of this cloud stays unfinished.
    pub fn lro_duration(&self, cloud: CloudKind) -> Duration {
        let scenario = self.scenario_arc();
        Duration::from_millis(scenario.clouds.get(cloud).lro_ms.unwrap_or(scenario.lro_ms))
    }

    /// How long a `hang` fault holds a request.
    pub fn hang_duration(&self) -> Duration {
        Duration::from_millis(self.scenario_arc().hang_ms)
    }

    /// Takes a token of the cloud's rate limit for one call of `class` in `scope` (the
    /// account/region, project, ... the real cloud counts in): `None` when the call may go
    /// on (or the scenario sets no limit), else how long until the bucket has a token again.
    /// The cloud's handler then answers with its throttle error ([`crate::ratelimit`]).
    pub fn rate_limit(
        &self,
        cloud: CloudKind,
        scope: &str,
        class: crate::ratelimit::CallClass,
    ) -> Option<Duration> {
        let scenario = self.scenario_arc();
        let limits = scenario
            .clouds
            .get(cloud)
            .rate_limit
            .as_ref()?
            .resolve(cloud);
        self.limiter.take(&limits, cloud, scope, class)
    }

    /// What every handler calls first: waits the scenario's latency, then decides on a fault.
    /// A [`FaultKind::Hang`] has already been waited out when this returns; the handler then
    /// drops the connection ([`crate::server::drop_connection`]). Throttle and server-error
    /// faults are answered by the handler in its cloud's error shape; `FailedLro` only
    /// matters to operations that start a long-running operation.
    pub async fn admit(&self, cloud: CloudKind, operation: &str) -> Option<FaultKind> {
        let delay = self.latency(cloud, operation);
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
        let fault = self.fault(cloud, operation);
        if fault == Some(FaultKind::Hang) {
            tokio::time::sleep(self.hang_duration()).await;
        }
        fault
    }
}

fn merge_regions(cloud: CloudKind, scenario: &Scenario) -> Vec<RegionInfo> {
    let named = &scenario.clouds.get(cloud).regions;
    let mut out: Vec<RegionInfo> = defaults::regions(cloud)
        .iter()
        .map(|d| RegionInfo {
            name: d.name.to_owned(),
            display_name: d.display_name.to_owned(),
            zones: defaults::zones(cloud, d),
            opt_in_disabled: d.opt_in && !named.contains_key(d.name),
            opt_in: d.opt_in,
            key: d.key.to_owned(),
        })
        .collect();
    for (name, region) in named {
        let idx = match out.iter().position(|r| &r.name == name) {
            Some(i) => i,
            None => {
                out.push(RegionInfo {
                    name: name.clone(),
                    display_name: name.clone(),
                    zones: Vec::new(),
                    opt_in_disabled: false,
                    opt_in: false,
                    key: oci_key_guess(name),
                });
                out.len() - 1
            }
        };
        let info = &mut out[idx];
        for zone_key in region.zones.keys() {
            let full = full_zone_name(cloud, info, zone_key);
            if !info.zones.contains(&full) {
                info.zones.push(full);
            }
        }
    }
    out
}

fn quota_key(cloud: CloudKind, region: &str, zone: &str, metric: &str) -> QuotaKey {
    let scope = if crate::quota::per_zone(cloud) {
        zone
    } else {
        ""
    };
    (
        cloud,
        region.to_owned(),
        scope.to_owned(),
        metric.to_owned(),
    )
}

fn pool_key(cloud: CloudKind, region: &str, zone: &str, instance_type: &str) -> PoolKey {
    (
        cloud,
        region.to_owned(),
        zone.to_owned(),
        instance_type.to_owned(),
    )
}

/// Whether a scenario zone key names the OCI availability domain `zone`: the full name, or
/// its `AD-N` suffix.
pub fn oci_zone_matches(zone: &str, key: &str) -> bool {
    zone == key
        || zone
            .strip_suffix(key)
            .is_some_and(|head| head.ends_with('-') || head.ends_with(':'))
}

fn full_zone_name(cloud: CloudKind, region: &RegionInfo, key: &str) -> String {
    if cloud != CloudKind::Oci {
        return key.to_owned();
    }
    if let Some(existing) = region.zones.iter().find(|z| oci_zone_matches(z, key)) {
        return existing.clone();
    }
    if key.contains(':') {
        key.to_owned()
    } else {
        defaults::oci_ad_name(&region.key, key)
    }
}

fn oci_key_guess(region: &str) -> String {
    region
        .split('-')
        .nth(1)
        .map(|p| p.chars().take(3).collect::<String>().to_ascii_uppercase())
        .unwrap_or_default()
}

#[cfg(test)]
#[path = "world_tests.rs"]
mod tests;
