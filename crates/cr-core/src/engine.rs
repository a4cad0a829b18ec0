//! The cloud-independent engine: zone fallback, rollback, retries and concurrency, written
//! once over [`CloudAdapter`].

use std::fmt;
use std::sync::Arc;

use crate::adapter::CloudAdapter;
use crate::error::Result;
use crate::model::{CancelReport, ReservationSet};
use crate::plan::CapacityPlan;
use crate::retry::RetryPolicy;

/// Drives one cloud's adapter.
#[derive(Clone)]
pub struct Engine {
    adapter: Arc<dyn CloudAdapter>,
    retry: RetryPolicy,
    /// Bound on concurrent region listings/cancels.
    concurrency: usize,
}

impl fmt::Debug for Engine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Engine")
            .field("cloud", &self.adapter.cloud())
            .field("retry", &self.retry)
            .field("concurrency", &self.concurrency)
            .finish()
    }
}

impl Engine {
    /// An engine over `adapter` with `retry`.
    pub fn new(adapter: Arc<dyn CloudAdapter>, retry: RetryPolicy) -> Self {
        Engine {
            adapter,
            retry,
            concurrency: 8,
        }
    }

    /// The adapter.
    pub fn adapter(&self) -> &Arc<dyn CloudAdapter> {
        &self.adapter
    }

    /// Reserves everything `plan` demands, all or nothing.
    pub async fn reserve(&self, plan: &CapacityPlan) -> Result<ReservationSet> {
        let _ = plan;
        todo!("engine helper")
    }

    /// Rebuilds the test's reservation set of `plan`'s regions from the cloud.
    pub async fn discover(&self, plan: &CapacityPlan) -> Result<ReservationSet> {
        let _ = plan;
        todo!("engine helper")
    }

    /// Cancels every reservation of the test in `plan`'s regions.
    pub async fn cancel(&self, plan: &CapacityPlan) -> Result<CancelReport> {
        let _ = plan;
        todo!("engine helper")
    }

    /// Cancels every reservation tagged with `test_id` in every region.
    pub async fn cancel_all_regions(&self, test_id: &str) -> Result<CancelReport> {
        let _ = test_id;
        todo!("engine helper")
    }
}
