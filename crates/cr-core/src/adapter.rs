//! The small per-cloud adapter the engine drives. An adapter speaks one cloud's wire protocol
//! and classifies its errors; everything else (fallback, rollback, retries, concurrency) lives
//! once in [`crate::engine`].

use async_trait::async_trait;
use jiff::Timestamp;

use crate::cloud::Cloud;
use crate::error::Result;
use crate::model::{CancelOutcome, Reservation};
use crate::plan::{Demand, RegionPlan};
use crate::tags::Tags;

/// One reservation to create.
#[derive(Debug, Clone, PartialEq)]
pub struct CreateRequest {
    /// The test id.
    pub test_id: String,
    /// Region.
    pub region: String,
    /// Zone.
    pub zone: String,
    /// What to reserve.
    pub demand: Demand,
    /// When the cloud should release it on its own.
    pub end_time: Timestamp,
    /// The tags (cloud-independent form; render with [`Tags::render`]).
    pub tags: Tags,
    /// Which reserve attempt of this (region, zone, type) this is: a retry of the same call
    /// keeps the attempt, so an idempotency token derived from it never reserves twice.
    pub attempt: u32,
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

    /// The zones of `region` that offer every type in `instance_types`, in the cloud's order.
    async fn zones(&self, region: &str, instance_types: &[String]) -> Result<Vec<String>>;

    /// Every region the account can use (for `cancel_all_regions`).
    async fn regions(&self) -> Result<Vec<String>>;

    /// Whether [`CloudAdapter::find`] with no region lists every region in one call
    /// (GCE's aggregated list). If not, the engine lists region by region, concurrently.
    fn lists_all_regions(&self) -> bool {
        false
    }

    /// Creates one reservation. Must be idempotent for the same request (same attempt).
    async fn create(&self, request: &CreateRequest) -> Result<Reservation>;

    /// The test's live (pending or active) reservations, found by its test-id tag, in one
    /// region or (when `region` is `None` and [`CloudAdapter::lists_all_regions`]) everywhere.
    async fn find(&self, test_id: &str, region: Option<String>) -> Result<Vec<Reservation>>;

    /// Releases one reservation.
    async fn cancel(&self, reservation: &Reservation) -> Result<CancelOutcome>;

    /// Runs before the first create in a region (Azure creates its reservation group here).
    async fn prepare_region(&self, _test_id: &str, _region: &RegionPlan) -> Result<()> {
        Ok(())
    }

    /// Runs after a region's reservations were cancelled or rolled back (Azure removes its
    /// reservation group here).
    async fn finish_region(&self, _test_id: &str, _region: &str) -> Result<()> {
        Ok(())
    }

    /// What a provisioner puts into its create-instance request to consume `reservation`.
    fn instance_target(&self, reservation: &Reservation) -> serde_json::Value;
}
