//! The small per-cloud adapter the engine drives. An adapter speaks one cloud's wire protocol
//! and classifies its errors; everything else (fallback, rollback, retries, waiting,
//! concurrency) lives once in [`crate::engine`].
//!
//! The life of one reserve, as the engine drives it, per region:
//!
//! 1. [`CloudAdapter::resolve_zones`] turns the configured zone names into the cloud's own
//!    (OCI availability domains are named per tenancy), [`CloudAdapter::zones`] lists the
//!    zones offering every demanded type, and [`CloudAdapter::find`] lists what the test
//!    already holds — concurrently.
//! 2. [`CloudAdapter::prepare_region`] gets a [`RegionRequest`] with the final candidate
//!    zones (Azure fixes a reservation group's zones at creation) and returns a
//!    [`RegionHandle`] that rides along in every [`CreateRequest`] of the region.
//! 3. [`CloudAdapter::create`] returns as soon as the cloud has an id for the reservation
//!    (state `Pending` or `Active`); the engine then polls [`CloudAdapter::poll`] in one
//!    loop in cr-core until it is usable, failed, or the deadline passes.
//! 4. [`CloudAdapter::cancel`] releases, [`CloudAdapter::finish_region`] removes region
//!    resources (Azure's group) after the region's reservations are gone.

use std::collections::BTreeMap;
use std::time::Duration;

use async_trait::async_trait;
use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::cloud::Cloud;
use crate::error::{Error, Result};
use crate::model::{CancelOutcome, Reservation};
use crate::plan::Demand;
use crate::preflight::{Checkable, CredentialReport, PermissionCheck, QuotaLine};
use crate::tags::Tags;

/// What a region needs before its first create: the final candidate zones, in the order the
/// engine will try them, and the demands.
#[derive(Debug, Clone, PartialEq)]
pub struct RegionRequest {
    /// The test id.
    pub test_id: String,
    /// Region.
    pub region: String,
    /// Every zone the engine may try, in order (the cloud's names, already resolved).
    pub zones: Vec<String>,
    /// What will be reserved in one of those zones.
    pub demands: Vec<Demand>,
    /// When the reservations end.
    pub end_time: Timestamp,
    /// The tags every reservation (and region resource) carries.
    pub tags: Tags,
}

/// What [`CloudAdapter::prepare_region`] made for a region (e.g. the Azure capacity
/// reservation group's id), carried into every create of the region so no adapter keeps
/// hidden per-region state. Empty for clouds that need nothing.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegionHandle {
    /// The region resource's id, when there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Anything else the cloud's creates need.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub extra: BTreeMap<String, String>,
}

/// What one [`CloudAdapter::poll`] of a pending reservation found.
#[derive(Debug)]
pub enum Readiness {
    /// Usable: instances can be launched into it (EC2 `active`, GCE operation `DONE`, Azure
    /// `Succeeded`, OCI `ACTIVE`).
    Ready(Reservation),
    /// Still being created; poll again after `retry_after` if the cloud said when.
    Pending {
        /// A server-supplied delay before the next poll.
        retry_after: Option<Duration>,
    },
    /// Creation failed (the reservation holds nothing): the error says why, classified like
    /// any other (a stockout found late is still [`crate::ErrorKind::CapacityUnavailable`]).
    Failed(Error),
}

/// One reservation to create.
#[derive(Debug, Clone, PartialEq)]
pub struct CreateRequest {
    /// The test id.
    pub test_id: String,
    /// Region.
    pub region: String,
    /// Zone; empty for the regional last resort (see [`REGIONAL_LAST_RESORT`]).
    pub zone: String,
    /// What to reserve.
    pub demand: Demand,
    /// When the cloud should release it on its own.
    pub end_time: Timestamp,
    /// The tags (cloud-independent form; render with [`Tags::render`]).
    pub tags: Tags,
    /// Which reserve attempt of this (region, zone, type) this is: a retry of the same call
    /// keeps the attempt, so an idempotency token derived from it never reserves twice; a
    /// retry after the cloud settled the first one as failed gets the next attempt (a fresh
    /// token), since the cloud answers a reused token with the same failure.
    pub attempt: u32,
    /// What [`CloudAdapter::prepare_region`] returned for the region.
    pub region_handle: RegionHandle,
}

/// The [`RegionHandle::extra`] key by which a region allows a regional (zone-less)
/// reservation as the last resort, tried with an empty [`CreateRequest::zone`] after every
/// zone failed for capacity (value `true`).
pub const REGIONAL_LAST_RESORT: &str = "regional_last_resort";

impl RegionHandle {
    /// Whether the region allows the regional last resort ([`REGIONAL_LAST_RESORT`]).
    pub fn regional_last_resort(&self) -> bool {
        self.extra
            .get(REGIONAL_LAST_RESORT)
            .is_some_and(|v| v == "true")
    }
}

impl CreateRequest {
    /// The idempotency digest of this create: see [`idempotency_digest`].
    pub fn idempotency_digest(&self) -> [u8; 32] {
        idempotency_digest(
            &self.test_id,
            &self.region,
            &self.zone,
            &self.demand.instance_type,
            self.attempt,
        )
    }
}

/// What identifies one create for the cloud's idempotency token (EC2 `ClientToken`, GCE
/// `requestId`, OCI `opc-retry-token`): SHA-256 over the length-prefixed test id, region,
/// zone and instance type, and the attempt. The same create retried after a throttle or a
/// lost reply gets the same digest, so the cloud returns the first result instead of
/// reserving twice; any other create gets another.
pub fn idempotency_digest(
    test_id: &str,
    region: &str,
    zone: &str,
    instance_type: &str,
    attempt: u32,
) -> [u8; 32] {
    use sha2::{Digest, Sha256};
    let mut hash = Sha256::new();
    // Length-prefixed fields: ("a", "bc") and ("ab", "c") must not collide.
    for part in [test_id, region, zone, instance_type] {
        hash.update((part.len() as u64).to_be_bytes());
        hash.update(part.as_bytes());
    }
    hash.update(attempt.to_be_bytes());
    hash.finalize().into()
}

/// What one cloud must provide to the engine.
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait]
pub trait CloudAdapter: Send + Sync + 'static {
    /// The cloud.
    fn cloud(&self) -> Cloud;

    /// The cloud's names of the configured zones of `region`, in the same order (OCI
    /// availability domains carry a tenancy prefix: `AD-1` → `Uocm:PHX-AD-1`). A name the
    /// cloud does not know is an error naming it. Identity by default.
    async fn resolve_zones(&self, _region: &str, configured: &[String]) -> Result<Vec<String>> {
        Ok(configured.to_vec())
    }

    /// The zones of `region` that offer every type in `instance_types`, in the cloud's order.
    async fn zones(&self, region: &str, instance_types: &[String]) -> Result<Vec<String>>;

    /// Every region the account can use (for `cancel_all_regions`).
    async fn regions(&self) -> Result<Vec<String>>;

    /// Whether [`CloudAdapter::find`] with no region lists every region in one call
    /// (GCE's aggregated list). If not, the engine lists region by region, concurrently.
    fn lists_all_regions(&self) -> bool {
        false
    }

    /// Runs before the first create in a region, with the final candidate zones (Azure
    /// creates its reservation group here). The handle goes into every create of the region.
    async fn prepare_region(&self, _request: &RegionRequest) -> Result<RegionHandle> {
        Ok(RegionHandle::default())
    }

    /// Whether the test can keep `held` (a reservation of an earlier run that the plan no
    /// longer uses as it is) while a new reservation of `demand` is created in `zone` (empty:
    /// the regional last resort) beside it. A rerun with a changed plan then acquires the new
    /// set before it releases the old, so a stockout never costs what was held. By default
    /// only when they differ in zone or type: clouds that name reservations by test, zone and
    /// type (GCE, Azure) cannot hold two of one name. EC2 and OCI identify reservations by ids
    /// of their own and answer `true`: the engine then gives the new creates fresh idempotency
    /// tokens, derived from the held set so every process seeing it presents the same ones.
    /// A reservation that serves the plan as it is (a half-made set, or one a concurrent run
    /// is still creating) is never asked about: it is used, not kept aside (docs/engine.md).
    fn can_hold_beside(&self, held: &Reservation, zone: &str, demand: &Demand) -> bool {
        held.zone.as_deref().unwrap_or("") != zone || held.instance_type != demand.instance_type
    }

    /// Starts creating one reservation and returns as soon as the cloud has an id for it:
    /// state `Pending` (the engine then polls [`CloudAdapter::poll`]) or `Active`. Must be
    /// idempotent for the same request (same attempt). A reservation that comes back
    /// already ended (`Cancelled`, `Expired`, `Failed`) means the token was spent by an
    /// earlier create: the engine retries with the next attempt.
    async fn create(&self, request: &CreateRequest) -> Result<Reservation>;

    /// Looks once at a reservation [`CloudAdapter::create`] returned as pending.
    async fn poll(&self, reservation: &Reservation) -> Result<Readiness>;

    /// The test's live (pending or active) reservations, found by its test-id tag, in one
    /// region or (when `region` is `None` and [`CloudAdapter::lists_all_regions`]) everywhere.
    async fn find(&self, test_id: &str, region: Option<String>) -> Result<Vec<Reservation>>;

    /// Every live (pending or active) reservation cr created, whatever its test
    /// ([`crate::tags::is_created_by_cr`]: `CreatedBy=cr` and a `TestId`), in one region or
    /// (when `region` is `None` and [`CloudAdapter::lists_all_regions`]) everywhere: what
    /// `cr orphans` judges. Found by cr's tags (or, on GCE, its name prefix and the tags in
    /// the description) and re-checked with [`crate::tags::retain_created_by_cr`], so a
    /// reservation cr did not make is never listed. The default is an error saying the
    /// cloud's adapter cannot list them.
    async fn find_created(&self, region: Option<String>) -> Result<Vec<Reservation>> {
        let _ = region;
        Err(Error::NotImplemented {
            backend: self.cloud(),
            operation: "listing every reservation cr created (find_created)".into(),
        })
    }

    /// Releases one reservation.
    async fn cancel(&self, reservation: &Reservation) -> Result<CancelOutcome>;

    /// Runs after a region's reservations were cancelled or rolled back (Azure removes its
    /// reservation group here). Finds the region's resources by the test id: a cleanup in
    /// another process has no handle.
    async fn finish_region(&self, _test_id: &str, _region: &str) -> Result<()> {
        Ok(())
    }

    /// The regions where the test still holds region resources (Azure capacity reservation
    /// groups tagged with its test id), found by the test id even when they hold no
    /// reservation any more, so `cancel_all_regions` finishes them too. None by default.
    async fn regions_with_resources(&self, _test_id: &str) -> Result<Vec<String>> {
        Ok(Vec::new())
    }

    /// The scope of the cloud's API rate limit that calls about `region` (empty: calls not
    /// about one region) draw on — cloud, endpoint, account (project, subscription, tenancy)
    /// and, where the cloud counts per region, the region — so every engine of the process
    /// talking to the same bucket paces through one shared controller ([`crate::pacing`]).
    /// `None` (the default): not paced.
    fn pacing_scope(&self, region: &str) -> Option<String> {
        let _ = region;
        None
    }

    /// What a provisioner puts into its create-instance request to consume `reservation`.
    fn instance_target(&self, reservation: &Reservation) -> serde_json::Value;

    // --- Preflight (crate::preflight): read-only, never creates anything. ---

    /// Which credential source was found, proved by one cheap authenticated read (EC2
    /// `DescribeRegions`/STS, a GCE project read, an ARM subscription read, an OCI compartment
    /// read). Bad credentials are an [`crate::ErrorKind::Unauthorized`] error naming the
    /// source. Not checkable by default.
    async fn check_credentials(&self) -> Result<Checkable<CredentialReport>> {
        Ok(Checkable::not_checkable(format!(
            "the {} adapter has no credential check",
            self.cloud()
        )))
    }

    /// Whether the caller may call each action cr calls in `region`, as far as the cloud
    /// allows without side effects (EC2 `DryRun=true`, GCE `testIamPermissions`, Azure
    /// `Microsoft.Authorization/permissions`, OCI a read of the compartment), each with the
    /// policy line that grants it. Not checkable by default.
    async fn check_permissions(&self, region: &str) -> Result<Checkable<Vec<PermissionCheck>>> {
        let _ = region;
        Ok(Checkable::not_checkable(format!(
            "the {} adapter has no permission check",
            self.cloud()
        )))
    }

    /// The zones of `region` (the cloud's names) that offer `instance_type`, in the cloud's
    /// order. By default [`CloudAdapter::zones`] for that one type.
    async fn zones_offering(&self, region: &str, instance_type: &str) -> Result<Vec<String>> {
        self.zones(region, &[instance_type.to_string()]).await
    }

    /// The quotas `demands` draw on in `region` with their limit, use and what the demands
    /// need (vCPUs per family where the cloud counts that way). Not checkable by default.
    async fn quota_headroom(
        &self,
        region: &str,
        demands: &[Demand],
    ) -> Result<Checkable<Vec<QuotaLine>>> {
        let _ = (region, demands);
        Ok(Checkable::not_checkable(format!(
            "the {} adapter has no quota check",
            self.cloud()
        )))
    }
}
