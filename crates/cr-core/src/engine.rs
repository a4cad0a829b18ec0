//! The cloud-independent engine: zone fallback, rollback, retries, waiting and concurrency,
//! written once over [`CloudAdapter`].
//!
//! - **reserve** reserves every region of the plan at once (the first to fail stops the others
//!   and is the call's error; the result keeps the plan's order). In each it first, concurrently, resolves
//!   the configured zone names, lists the zones offering every demanded type, and looks for
//!   the test's live reservations (a rerun or a second process must not reserve twice): a
//!   complete set matching the plan (types, counts, sizing details, an end time no earlier
//!   than the plan's) in one acceptable zone is reused once usable, anything else found is
//!   cancelled. The candidate zones are the configured ones the cloud offers every type in
//!   (the others are reported as skipped), then — with zone fallback — the cloud's other
//!   zones offering every type. The region is prepared with that list, then zones are tried
//!   in order, creating all demands of a zone concurrently and waiting (one polling loop,
//!   here) until every reservation is usable. A zone that lacks capacity, does not offer a
//!   type, or hits a zone-scoped quota is rolled back and the next zone tried; a regional or
//!   account quota ends the region; any other failure stops at once. A region that no zone
//!   can serve fails the whole call: everything reserved so far, in every region, is
//!   released (all or nothing).
//! - **Unknown outcomes**: a create that timed out, lost its connection or kept failing
//!   transiently may have been carried out. After such a zone attempt, and in every abort,
//!   the engine lists the touched regions by the test-id tag and releases everything it is
//!   not returning to the caller.
//! - **Stopping**: a reserve has a deadline ([`Engine::with_reserve_deadline`]) and can be
//!   cancelled ([`Engine::reserve_until`]). Either way no new create starts, the creates in
//!   flight finish (an abandoned request could still be carried out), and everything is
//!   rolled back as in an abort.
//! - **discover** rebuilds the test's live reservations from the cloud.
//! - **cancel** / **cancel_all_regions** release everything the test holds, reporting what
//!   was released, what was already gone and what could not be released.
//!
//! Every adapter call goes through [`RetryPolicy::run`] (bounded per attempt and in total).
//! A rollback that fails is never swallowed: it becomes [`Error::RollbackFailed`] naming
//! every reservation still held.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use futures::future::join_all;
use futures::stream::{self, StreamExt};
use tokio_util::sync::CancellationToken;

use crate::adapter::{CloudAdapter, CreateRequest, Readiness, RegionHandle, RegionRequest};
use crate::error::{
    CloudError, Error, ErrorKind, Leftover, LeftoverKind, Result, SkippedZone, ZoneAttempt,
};
use crate::model::{
    CancelOutcome, CancelReport, CleanupPreview, RegionReservations, Reservation, ReservationSet,
    ReservationState, ZoneTried,
};
use crate::pacing::CallClass;
use crate::plan::{CapacityPlan, Demand, RegionPlan};
use crate::progress::{Event, Progress, ReleaseOutcome, Step};
use crate::retry::RetryPolicy;
use crate::tags::{Tags, details_tag};
pub use crate::wait::WaitPolicy;
use crate::wait::{Poll, Waited, poll_until};

/// The default overall deadline of one reserve.
pub const DEFAULT_RESERVE_DEADLINE: Duration = Duration::from_secs(30 * 60);

/// How many times one create is repeated with a fresh idempotency token after the cloud
/// settled the previous one as failed or spent.
const MAX_FRESH_TOKENS: u32 = 3;

/// Drives one cloud's adapter.
///
/// # Example
///
/// A toy adapter whose first zone is sold out; the engine falls back to the second.
///
/// ```
/// use std::sync::{Arc, Mutex};
///
/// use async_trait::async_trait;
/// use cr_core::adapter::{CloudAdapter, CreateRequest, Readiness};
/// use cr_core::engine::Engine;
/// use cr_core::error::{CloudError, ErrorKind, Result};
/// use cr_core::model::{CancelOutcome, Reservation, ReservationId, ReservationState};
/// use cr_core::plan::{CapacityPlan, Demand, DemandDetails, RegionPlan, Role};
/// use cr_core::retry::RetryPolicy;
/// use cr_core::tags::Tags;
/// use cr_core::Cloud;
///
/// #[derive(Default)]
/// struct Toy(Mutex<Vec<Reservation>>);
///
/// #[async_trait]
/// impl CloudAdapter for Toy {
///     fn cloud(&self) -> Cloud { Cloud::Aws }
///     async fn zones(&self, _: &str, _: &[String]) -> Result<Vec<String>> {
///         Ok(vec!["eu-west-1a".into(), "eu-west-1b".into()])
///     }
///     async fn regions(&self) -> Result<Vec<String>> { Ok(vec!["eu-west-1".into()]) }
///     async fn create(&self, req: &CreateRequest) -> Result<Reservation> {
///         if req.zone.ends_with('a') {
///             let e = CloudError::new(ErrorKind::CapacityUnavailable, Cloud::Aws,
///                 "CreateCapacityReservation", "InsufficientInstanceCapacity", "sold out");
///             return Err(e.into());
///         }
///         let r = Reservation {
///             id: ReservationId(format!("cr-{}", req.demand.instance_type)),
///             cloud: Cloud::Aws, region: req.region.clone(), zone: Some(req.zone.clone()),
///             instance_type: req.demand.instance_type.clone(), count: req.demand.count,
///             used: None, end_time: Some(req.end_time), created: None, state: ReservationState::Active,
///             tags: req.tags.0.clone(), extra: Default::default(),
///         };
///         self.0.lock().unwrap().push(r.clone());
///         Ok(r)
///     }
///     async fn poll(&self, r: &Reservation) -> Result<Readiness> {
///         Ok(Readiness::Ready(r.clone()))
///     }
///     async fn find(&self, _: &str, _: Option<String>) -> Result<Vec<Reservation>> {
///         Ok(self.0.lock().unwrap().clone())
///     }
///     async fn cancel(&self, r: &Reservation) -> Result<CancelOutcome> {
///         self.0.lock().unwrap().retain(|x| x.id != r.id);
///         Ok(CancelOutcome::Cancelled)
///     }
///     fn instance_target(&self, r: &Reservation) -> serde_json::Value {
///         serde_json::json!({ "CapacityReservationId": r.id.0 })
///     }
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> cr_core::Result<()> {
/// let plan = CapacityPlan {
///     backend: Cloud::Aws,
///     enabled: true,
///     disabled_reason: None,
///     test_id: Some("t-1".into()),
///     end_time: jiff::Timestamp::now() + jiff::SignedDuration::from_hours(2),
///     duration_minutes: 120,
///     reuse_slack_minutes: 60,
///     regions: vec![RegionPlan {
///         region: "eu-west-1".into(),
///         zones: vec!["eu-west-1a".into()],
///         zone_fallback: true,
///         demands: vec![Demand {
///             instance_type: "i4i.large".into(),
///             count: 3,
///             roles: vec![Role::Db],
///             details: DemandDetails::default(),
///         }],
///     }],
///     tags: Tags::default(),
/// };
/// let engine = Engine::new(Arc::new(Toy::default()), RetryPolicy::fast());
/// let set = engine.reserve(&plan).await?;
/// assert_eq!(set.regions[0].zone.as_deref(), Some("eu-west-1b"));
///
/// let report = engine.cancel(&plan).await?;
/// assert_eq!(report.cancelled.len(), 1);
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct Engine {
    adapter: Arc<dyn CloudAdapter>,
    retry: RetryPolicy,
    wait: WaitPolicy,
    reserve_deadline: Duration,
    /// Bound on concurrent region listings/cancels.
    concurrency: usize,
    progress: Progress,
}

impl fmt::Debug for Engine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Engine")
            .field("cloud", &self.adapter.cloud())
            .field("retry", &self.retry)
            .field("wait", &self.wait)
            .field("reserve_deadline", &self.reserve_deadline)
            .field("concurrency", &self.concurrency)
            .field("progress", &self.progress)
            .finish()
    }
}

impl Engine {
    /// An engine over `adapter` with `retry`.
    pub fn new(adapter: Arc<dyn CloudAdapter>, retry: RetryPolicy) -> Self {
        Engine {
            adapter,
            retry,
            wait: WaitPolicy::default(),
            reserve_deadline: DEFAULT_RESERVE_DEADLINE,
            concurrency: 8,
            progress: Progress::none(),
        }
    }

    /// One adapter call through the retry policy, paced by the process's shared controller
    /// for the adapter's rate-limit scope of `region` and the call's class
    /// ([`crate::pacing`]), unless the policy turns pacing off or the adapter names no scope.
    async fn call<T, F, Fut>(
        &self,
        operation: &str,
        region: Option<&str>,
        stop: Option<&CancellationToken>,
        call: F,
    ) -> Result<T>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<T>>,
    {
        let pacer = if self.retry.pacing.enabled {
            self.adapter
                .pacing_scope(region.unwrap_or_default())
                .map(|scope| {
                    crate::pacing::shared(&scope, CallClass::of(operation), &self.retry.pacing)
                })
        } else {
            None
        };
        self.retry
            .run_paced(operation, stop, pacer.as_deref(), call)
            .await
    }

    /// Reports progress events to `progress` ([`crate::progress`]).
    pub fn with_progress(mut self, progress: Progress) -> Self {
        self.progress = progress;
        self
    }

    /// Bounds how many region listings and cancels run at once (at least one).
    pub fn with_concurrency(mut self, concurrency: usize) -> Self {
        self.concurrency = concurrency.max(1);
        self
    }

    /// How pending reservations are polled.
    pub fn with_wait(mut self, wait: WaitPolicy) -> Self {
        self.wait = wait;
        self
    }

    /// The overall deadline of one reserve (default [`DEFAULT_RESERVE_DEADLINE`]).
    pub fn with_reserve_deadline(mut self, deadline: Duration) -> Self {
        self.reserve_deadline = deadline;
        self
    }

    /// The adapter.
    pub fn adapter(&self) -> &Arc<dyn CloudAdapter> {
        &self.adapter
    }

    /// The retry policy of every adapter call.
    pub fn retry_policy(&self) -> &RetryPolicy {
        &self.retry
    }

    /// The overall deadline of one reserve.
    pub fn reserve_deadline(&self) -> Duration {
        self.reserve_deadline
    }

    /// Reserves everything `plan` demands, all or nothing: [`Engine::reserve_until`] with a
    /// token nobody cancels.
    pub async fn reserve(&self, plan: &CapacityPlan) -> Result<ReservationSet> {
        self.reserve_until(plan, &CancellationToken::new()).await
    }

    /// Reserves everything `plan` demands, all or nothing, until `cancel` is cancelled or the
    /// reserve deadline passes.
    ///
    /// Returns one entry per region (regions without demands are skipped), in plan order,
    /// each with its reservations in demand order, every one usable. On failure, deadline or
    /// cancellation nothing stays reserved, or the error is [`Error::RollbackFailed`] naming
    /// what does.
    pub async fn reserve_until(
        &self,
        plan: &CapacityPlan,
        cancel: &CancellationToken,
    ) -> Result<ReservationSet> {
        if !plan.enabled {
            return Err(Error::Disabled {
                backend: plan.backend,
                reason: plan
                    .disabled_reason
                    .clone()
                    .unwrap_or_else(|| "the plan is not enabled".into()),
            });
        }
        let test_id = test_id(plan)?;
        let stop = cancel.child_token();
        let _deadline = DeadlineGuard::start(stop.clone(), self.reserve_deadline);
        let run = |stop| ReserveRun {
            engine: self,
            plan,
            test_id,
            cancel,
            stop,
            // The same base in every process: two runs of one test reserving at once present
            // the same idempotency tokens, so the cloud gives both the same reservations. A
            // token an earlier run spent (its reservation since cancelled, or settled as
            // failed) is answered with that ended reservation or that failure, and the engine
            // moves on to a fresh one (see `create_usable`).
            attempt_base: 0,
            zone_tries: 0,
            held: Vec::new(),
            superseded: Vec::new(),
            partial: Vec::new(),
            touched: Vec::new(),
        };
        // Every region at once, each with its own run (tokens name the region, so per-region
        // attempt counters never collide). The first region to fail stops the others (no new
        // create starts there; what is in flight finishes) and its error is the call's.
        let siblings = stop.child_token();
        let failures = std::sync::Mutex::new(Vec::new());
        let outcomes = join_all(plan.regions.iter().filter(|r| !r.demands.is_empty()).map(
            |region| {
                let (siblings, failures) = (&siblings, &failures);
                let mut sub = run(siblings);
                async move {
                    let entry = if siblings.is_cancelled() {
                        None
                    } else {
                        match sub.region(region).await {
                            Ok(entry) => Some(entry),
                            Err(failure) => {
                                lock(failures).push(failure);
                                siblings.cancel();
                                None
                            }
                        }
                    };
                    (sub.touched, entry)
                }
            },
        ))
        .await;
        let mut run = run(&stop);
        for (touched, entry) in outcomes {
            for region in touched {
                run.touch(&region);
            }
            run.held.extend(entry);
        }
        let mut failures = failures.into_inner().unwrap_or_else(|p| p.into_inner());
        if !failures.is_empty() {
            let mut first = failures.remove(0);
            for other in failures {
                first.leftovers.extend(other.leftovers);
            }
            return Err(run.abort(first).await);
        }
        // A stop that came while the last region finished still rolls everything back: the
        // caller asked for nothing to be left.
        if stop.is_cancelled() {
            let error = run.stop_error();
            return Err(run.abort(error.into()).await);
        }
        Ok(ReservationSet {
            backend: plan.backend,
            test_id: test_id.to_string(),
            regions: run.held,
        })
    }

    /// Rebuilds the test's reservation set of `plan`'s regions from the cloud.
    ///
    /// Each region gets one entry per zone holding live reservations of the test (normally
    /// one), configured zones first; reservations are in demand order, then any others.
    /// Regions holding nothing are left out.
    pub async fn discover(&self, plan: &CapacityPlan) -> Result<ReservationSet> {
        let test_id = test_id(plan)?;
        let mut set = ReservationSet::empty(plan.backend, test_id);
        for (region, listing) in self.list(test_id, &plan_regions(plan)).await {
            let live = listing?;
            if let Some(rp) = plan.regions.iter().find(|r| r.region == region) {
                set.regions.extend(by_zone(rp, live));
            }
        }
        Ok(set)
    }

    /// Cancels every reservation of the test in `plan`'s regions, then lets the adapter
    /// finish each region.
    ///
    /// Individual failures do not stop the others; they are in [`CancelReport::failed`].
    /// Errs only when listing a region failed (after cancelling what the other regions
    /// listed; [`Error::RollbackFailed`] if some of that failed too).
    pub async fn cancel(&self, plan: &CapacityPlan) -> Result<CancelReport> {
        let test_id = test_id(plan)?;
        let listings = self.list(test_id, &plan_regions(plan)).await;
        self.cancel_listed(test_id, listings, FinishRegions::All)
            .await
    }

    /// Cancels every reservation tagged with `test_id` in every region, then lets the
    /// adapter finish each region that held some or still holds region resources of the
    /// test ([`CloudAdapter::regions_with_resources`]). Errors as [`Engine::cancel`].
    pub async fn cancel_all_regions(&self, test_id: &str) -> Result<CancelReport> {
        if test_id.is_empty() {
            return Err(Error::config(
                "the command line",
                "test_id",
                "",
                "a test id: reservations are found by their TestId tag",
            ));
        }
        let (listings, with_resources) = self.list_every_region(test_id).await?;
        self.cancel_listed(
            test_id,
            listings,
            FinishRegions::WithReservationsOr(with_resources),
        )
        .await
    }

    /// What [`Engine::cancel_all_regions`] would cancel and finish, without cancelling or
    /// finishing anything (`cr cleanup --dry-run`): only listings are made. A region whose
    /// listing fails fails the call (a preview that left a region out would mislead).
    pub async fn preview_cancel_all_regions(&self, test_id: &str) -> Result<CleanupPreview> {
        if test_id.is_empty() {
            return Err(Error::config(
                "the command line",
                "test_id",
                "",
                "a test id: reservations are found by their TestId tag",
            ));
        }
        let (listings, with_resources) = self.list_every_region(test_id).await?;
        let mut preview = CleanupPreview {
            test_id: test_id.to_string(),
            ..CleanupPreview::default()
        };
        for (region, listing) in listings {
            let live = listing?;
            if !live.is_empty() && !preview.regions_to_finish.contains(&region) {
                preview.regions_to_finish.push(region);
            }
            preview.reservations.extend(live);
        }
        for region in with_resources {
            if !preview.regions_to_finish.contains(&region) {
                preview.regions_to_finish.push(region);
            }
        }
        Ok(preview)
    }

    /// The test's live reservations in every region (one call where the cloud lists every
    /// region at once), and the regions still holding region resources of the test.
    async fn list_every_region(
        &self,
        test_id: &str,
    ) -> Result<(Vec<(String, Result<Vec<Reservation>>)>, Vec<String>)> {
        let listings = if self.adapter.lists_all_regions() {
            let mut listings: Vec<(String, Result<Vec<Reservation>>)> = Vec::new();
            for r in self.find_live(test_id, None).await? {
                match listings.iter_mut().find(|(region, _)| *region == r.region) {
                    Some((_, Ok(found))) => found.push(r),
                    _ => listings.push((r.region.clone(), Ok(vec![r]))),
                }
            }
            listings
        } else {
            let regions = self
                .call("regions", None, None, || self.adapter.regions())
                .await?;
            self.list(test_id, &regions).await
        };
        // Region resources left without reservations (a crash between the last cancel and
        // the group's removal) are finished too.
        let with_resources = self
            .call("regions_with_resources", None, None, || {
                self.adapter.regions_with_resources(test_id)
            })
            .await?;
        Ok((listings, with_resources))
    }

    /// Every live reservation cr created, whatever its test, in every region of the
    /// account ([`CloudAdapter::find_created`]; one call where the cloud lists every region
    /// at once, else region by region, concurrently): what `cr orphans` judges with
    /// [`crate::orphans`]. A region whose listing fails fails the call, naming it.
    pub async fn find_created(&self) -> Result<Vec<Reservation>> {
        let live = |found: Vec<Reservation>| -> Vec<Reservation> {
            found.into_iter().filter(|r| r.state.is_live()).collect()
        };
        if self.adapter.lists_all_regions() {
            let found = self
                .call("find_created", None, None, || {
                    self.adapter.find_created(None)
                })
                .await?;
            return Ok(live(found));
        }
        let regions = self
            .call("regions", None, None, || self.adapter.regions())
            .await?;
        let listings: Vec<Result<Vec<Reservation>>> = stream::iter(regions)
            .map(|region| async move {
                self.call("find_created", Some(&region), None, || {
                    self.adapter.find_created(Some(region.clone()))
                })
                .await
            })
            .buffered(self.concurrency)
            .collect()
            .await;
        let mut out = Vec::new();
        for listing in listings {
            out.extend(live(listing?));
        }
        Ok(out)
    }

    /// Cancels `chosen`, reservations of a [`Engine::find_created`] `listing` (the orphans),
    /// through the same path as every cancel (retries, waiting for one still being
    /// created), then finishes the region resources of each test and region that `chosen`
    /// emptied ([`crate::orphans::regions_to_finish`]); a region where the test keeps a
    /// reservation is not finished. Individual failures are in [`CancelReport::failed`].
    pub async fn cancel_created(
        &self,
        listing: &[Reservation],
        chosen: Vec<Reservation>,
    ) -> CancelReport {
        let finish = crate::orphans::regions_to_finish(listing, &chosen);
        let mut report = self.release(chosen).await;
        for (test_id, region) in finish {
            // A region still holding a reservation cannot be finished; the next run does.
            if report.failed.iter().any(|l| l.region == region) {
                continue;
            }
            let unfinished = self.finish(&test_id, vec![region]).await;
            report.failed.extend(unfinished);
        }
        tracing::info!(
            cancelled = report.cancelled.len(),
            already_gone = report.already_gone.len(),
            failed = report.failed.len(),
            "orphans cancelled"
        );
        report
    }

    /// The test's live reservations in `region` (or everywhere).
    async fn find_live(&self, test_id: &str, region: Option<&str>) -> Result<Vec<Reservation>> {
        let found = self
            .call("find", region, None, || {
                self.adapter.find(test_id, region.map(str::to_owned))
            })
            .await?;
        Ok(found.into_iter().filter(|r| r.state.is_live()).collect())
    }

    /// Lists `regions` concurrently (bounded), keeping their order and each one's outcome.
    async fn list(
        &self,
        test_id: &str,
        regions: &[String],
    ) -> Vec<(String, Result<Vec<Reservation>>)> {
        // Owned names: a stream over borrowed ones trips the compiler's higher-ranked
        // lifetime check when the caller's future must be Send.
        stream::iter(regions.to_vec())
            .map(|region| async move {
                let listing = self.find_live(test_id, Some(region.as_str())).await;
                (region, listing)
            })
            .buffered(self.concurrency)
            .collect()
            .await
    }

    /// Cancels what `listings` found, finishes regions, and turns a failed listing into the
    /// error it must be.
    async fn cancel_listed(
        &self,
        test_id: &str,
        listings: Vec<(String, Result<Vec<Reservation>>)>,
        finish: FinishRegions,
    ) -> Result<CancelReport> {
        let mut listing_error = None;
        let mut found = Vec::new();
        let mut regions = Vec::new();
        for (region, listing) in listings {
            match listing {
                Ok(live) => {
                    if matches!(finish, FinishRegions::All) || !live.is_empty() {
                        regions.push(region);
                    }
                    found.extend(live);
                }
                Err(e) => {
                    tracing::error!(region, error = %e, "cannot list the test's reservations");
                    listing_error.get_or_insert(e);
                }
            }
        }
        if let FinishRegions::WithReservationsOr(more) = finish {
            for region in more {
                if !regions.contains(&region) {
                    regions.push(region);
                }
            }
        }
        let mut report = self.release(found).await;
        // A region still holding a reservation cannot be finished (Azure cannot delete a
        // reservation group that is not empty); the next cleanup finishes it.
        regions.retain(|r| !report.failed.iter().any(|l| l.region == *r));
        let unfinished = self.finish(test_id, regions).await;
        report.failed.extend(unfinished);
        tracing::info!(
            test_id,
            cancelled = report.cancelled.len(),
            already_gone = report.already_gone.len(),
            failed = report.failed.len(),
            "cancel finished"
        );
        match listing_error {
            None => Ok(report),
            Some(e) if report.failed.is_empty() => Err(e),
            Some(e) => Err(Error::RollbackFailed {
                cause: Box::new(e),
                leftovers: report.failed,
            }),
        }
    }

    /// How many releases run at once: a release is mostly waiting (GCE, Azure and OCI delete
    /// through a long-running operation), so four times the call concurrency — within the
    /// burst of the clouds' mutating-request buckets (EC2: 50).
    fn release_concurrency(&self) -> usize {
        self.concurrency.saturating_mul(4)
    }

    /// Cancels `reservations` concurrently (bounded): what was released, what was already
    /// gone, and what is still held. A reservation still being created is waited for first
    /// (clouds refuse to delete one mid-creation: GCE `resourceNotReady`); one whose creation
    /// fails holds nothing and counts as already gone.
    async fn release(&self, mut reservations: Vec<Reservation>) -> CancelReport {
        let mut seen = std::collections::HashSet::new();
        reservations.retain(|r| seen.insert(r.id.clone()));
        let outcomes: Vec<(Reservation, Result<CancelOutcome>)> = stream::iter(reservations)
            .map(|r| async move {
                self.progress.emit(Event::Releasing {
                    reservation: Step::of(&r),
                });
                if r.state == ReservationState::Pending && !self.settled(&r).await {
                    return (r, Ok(CancelOutcome::AlreadyGone));
                }
                let outcome = self
                    .call("cancel", Some(&r.region), None, || self.adapter.cancel(&r))
                    .await;
                (r, outcome)
            })
            .buffered(self.release_concurrency())
            .collect()
            .await;
        let mut report = CancelReport::default();
        for (r, outcome) in outcomes {
            let released = match &outcome {
                Ok(CancelOutcome::Cancelled) => ReleaseOutcome::Cancelled,
                Ok(CancelOutcome::AlreadyGone) => ReleaseOutcome::AlreadyGone,
                Err(e) if e.kind() == ErrorKind::NotFound => ReleaseOutcome::AlreadyGone,
                Err(_) => ReleaseOutcome::Failed,
            };
            self.progress.emit(Event::Released {
                reservation: Step::of(&r),
                outcome: released,
            });
            match outcome {
                Ok(CancelOutcome::Cancelled) => report.cancelled.push(r),
                Ok(CancelOutcome::AlreadyGone) => report.already_gone.push(r),
                Err(e) if e.kind() == ErrorKind::NotFound => report.already_gone.push(r),
                Err(e) => {
                    tracing::error!(
                        id = %r.id, region = r.region, zone = r.zone, error = %e,
                        "cannot cancel reservation"
                    );
                    report.failed.push(Leftover {
                        kind: LeftoverKind::Reservation,
                        id: r.id.0,
                        region: r.region,
                        zone: r.zone,
                        instance_type: r.instance_type,
                        error: e.to_string(),
                    });
                }
            }
        }
        report
    }

    /// Waits, up to [`WaitPolicy::settle_timeout`], until a pending reservation is no longer
    /// being created. `true`: it may hold capacity (usable, or still pending at the
    /// timeout, or unknown) and must be cancelled; `false`: its creation failed.
    async fn settled(&self, reservation: &Reservation) -> bool {
        let deadline = tokio::time::Instant::now() + self.wait.settle_timeout;
        let waited = poll_until(&self.wait, Some(deadline), None, || async {
            Ok(
                match self
                    .call("poll", Some(&reservation.region), None, || {
                        self.adapter.poll(reservation)
                    })
                    .await?
                {
                    Readiness::Ready(_) => Poll::Ready(true),
                    Readiness::Failed(e) => {
                        tracing::debug!(id = %reservation.id, error = %e, "creation failed; nothing to cancel");
                        Poll::Ready(false)
                    }
                    Readiness::Pending { retry_after } => Poll::Pending { retry_after },
                },
            )
        })
        .await;
        match waited {
            Ok(Waited::Ready(holds)) => holds,
            Ok(Waited::TimedOut | Waited::Stopped) => {
                tracing::warn!(id = %reservation.id, "still being created; cancelling anyway");
                true
            }
            Err(e) => {
                tracing::warn!(id = %reservation.id, error = %e, "cannot tell whether creation finished; cancelling");
                true
            }
        }
    }

    /// Lists `region` by the test-id tag and releases every live reservation not in `keep`:
    /// what creates with an unknown outcome may have left. A listing that fails is reported
    /// as an unverified leftover, since nobody can tell what the region still holds.
    async fn sweep(&self, test_id: &str, region: &str, keep: &[Reservation]) -> Vec<Leftover> {
        match self.find_live(test_id, Some(region)).await {
            Ok(live) => {
                let strays: Vec<Reservation> = live
                    .into_iter()
                    .filter(|r| !keep.iter().any(|k| k.id == r.id))
                    .collect();
                if !strays.is_empty() {
                    tracing::warn!(
                        test_id,
                        region,
                        count = strays.len(),
                        "releasing reservations found by tag that this call is not returning"
                    );
                }
                self.release(strays).await.failed
            }
            Err(e) => {
                tracing::error!(region, error = %e, "cannot list the region to release strays");
                vec![Leftover {
                    kind: LeftoverKind::Unverified,
                    id: format!("reservations tagged TestId={test_id}"),
                    region: region.to_string(),
                    zone: None,
                    instance_type: String::new(),
                    error: format!(
                        "a create's outcome was unknown and listing the region failed: {e}"
                    ),
                }]
            }
        }
    }

    /// Lets the adapter finish `regions`; what it could not finish is reported as a
    /// region-resources leftover.
    async fn finish(&self, test_id: &str, regions: Vec<String>) -> Vec<Leftover> {
        let outcomes: Vec<(String, Result<()>)> = stream::iter(regions)
            .map(|region| async move {
                let outcome = self
                    .call("finish_region", Some(&region), None, || {
                        self.adapter.finish_region(test_id, &region)
                    })
                    .await;
                (region, outcome)
            })
            .buffered(self.concurrency)
            .collect()
            .await;
        outcomes
            .into_iter()
            .filter_map(|(region, outcome)| match outcome {
                Ok(()) => None,
                Err(e) if e.kind() == ErrorKind::NotFound => None,
                Err(e) => {
                    tracing::error!(region, error = %e, "cannot finish region");
                    Some(Leftover {
                        kind: LeftoverKind::RegionResources,
                        id: region.clone(),
                        region,
                        zone: None,
                        instance_type: String::new(),
                        error: e.to_string(),
                    })
                }
            })
            .collect()
    }
}

/// Waits for a zone's rollback, if one is running: what it could not release.
async fn finish_rollback(rollback: Option<Rollback<'_>>) -> Vec<Leftover> {
    match rollback {
        Some(rollback) => rollback.await.failed,
        None => Vec::new(),
    }
}

/// The value behind `mutex`, also after a panic elsewhere poisoned it.
fn lock<T>(mutex: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}

/// Cancels the reserve's stop token when its deadline passes; stops the timer when dropped.
struct DeadlineGuard(tokio::task::JoinHandle<()>);

impl DeadlineGuard {
    fn start(stop: CancellationToken, after: Duration) -> Self {
        DeadlineGuard(tokio::spawn(async move {
            tokio::time::sleep(after).await;
            stop.cancel();
        }))
    }
}

impl Drop for DeadlineGuard {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Which regions a cancel finishes.
#[derive(Debug, Clone, PartialEq, Eq)]
enum FinishRegions {
    /// Every region listed (the plan's regions may hold region-level resources even when
    /// their reservations are gone).
    All,
    /// Regions where reservations were found (an account has many regions), and these
    /// regions the adapter says still hold region resources of the test.
    WithReservationsOr(Vec<String>),
}

/// Why a region of a reserve call failed: the error, and reservations a rollback inside the
/// region already failed to release.
struct Failure {
    error: Error,
    leftovers: Vec<Leftover>,
}

impl From<Error> for Failure {
    fn from(error: Error) -> Self {
        Failure {
            error,
            leftovers: Vec::new(),
        }
    }
}

/// What one zone try gave.
enum ZoneOutcome {
    /// Every demand is reserved and usable, in demand order.
    Reserved(Vec<Reservation>),
    /// The zone cannot hold every demand; what it created is still to be released (the
    /// caller releases it while the next zone is tried).
    Unavailable(Box<ZoneAttempt>, Vec<Reservation>),
}

/// The release of a failed zone's reservations, running while the next zone is tried.
type Rollback<'a> = std::pin::Pin<Box<dyn std::future::Future<Output = CancelReport> + Send + 'a>>;

/// What one create, waited on, gave.
enum CreateOutcome {
    /// Usable.
    Ready(Reservation),
    /// It failed. `reservation` is what the cloud made (to release); `unknown` says the
    /// cloud may hold one the engine has no id of.
    Failed {
        error: Error,
        reservation: Option<Reservation>,
        unknown: bool,
    },
}

/// The state of one reserve call.
struct ReserveRun<'a> {
    engine: &'a Engine,
    plan: &'a CapacityPlan,
    test_id: &'a str,
    /// The caller's token.
    cancel: &'a CancellationToken,
    /// Cancelled by the caller's token or by the deadline.
    stop: &'a CancellationToken,
    attempt_base: u32,
    zone_tries: u32,
    /// The regions reserved (or reused) so far.
    held: Vec<RegionReservations>,
    /// An earlier run's reservations in the current region that the plan no longer uses but
    /// that are kept while the new set is created beside them (released once it is reserved,
    /// or before the region is tried again if it cannot be had beside them).
    superseded: Vec<Reservation>,
    /// Reservations the test already holds in the current region that serve a demand of the
    /// plan as they are, in a candidate zone, without making a complete set (an earlier run
    /// that stopped half-way, or a concurrent run still creating its set): a try of their zone
    /// uses them instead of creating those demands; those no try used are released once the
    /// region is reserved.
    partial: Vec<Reservation>,
    /// Regions changed by this call (prepared, created in, or strays cancelled): swept and
    /// finished on rollback.
    touched: Vec<String>,
}

impl ReserveRun<'_> {
    /// The error a stopped reserve reports.
    fn stop_error(&self) -> Error {
        if self.cancel.is_cancelled() {
            Error::Interrupted {
                operation: "reserve".into(),
                reason: "cancelled".into(),
            }
        } else {
            Error::DeadlineExceeded {
                cloud: self.engine.adapter.cloud(),
                operation: "reserve".into(),
                after: self.engine.reserve_deadline,
            }
        }
    }

    async fn region(&mut self, rp: &RegionPlan) -> Result<RegionReservations, Failure> {
        let engine = self.engine;
        let stop = Some(self.stop);
        let types: Vec<String> = rp.demands.iter().map(|d| d.instance_type.clone()).collect();
        // Independent look-ups, all at once: the configured zones' cloud names, the zones
        // offering every type, and what the test already holds.
        let (configured, offered, existing) = tokio::join!(
            engine.call("resolve_zones", Some(&rp.region), stop, || {
                engine.adapter.resolve_zones(&rp.region, &rp.zones)
            }),
            engine.call("zones", Some(&rp.region), stop, || {
                engine.adapter.zones(&rp.region, &types)
            }),
            engine.find_live(self.test_id, Some(&rp.region)),
        );
        let (configured, offered, mut existing) = (configured?, offered?, existing?);
        if existing
            .iter()
            .any(|r| r.state == ReservationState::Pending)
        {
            // Another run of this test may be creating its set right now, one create of which
            // could still be on its way: let what is in flight settle, then look again, so a
            // set half-made by a concurrent run is seen whole instead of cancelled as strays.
            join_all(
                existing
                    .iter()
                    .filter(|r| r.state == ReservationState::Pending)
                    .map(|r| engine.settled(r)),
            )
            .await;
            existing = engine.find_live(self.test_id, Some(&rp.region)).await?;
        }

        let mut skipped = Vec::new();
        let mut candidates: Vec<String> = Vec::new();
        for zone in &configured {
            if candidates.contains(zone) {
                continue;
            }
            if offered.contains(zone) {
                candidates.push(zone.clone());
            } else {
                skipped.push(SkippedZone {
                    zone: zone.clone(),
                    reason: format!(
                        "the cloud does not list it among the zones offering {}",
                        types.join(", ")
                    ),
                });
            }
        }
        if rp.zone_fallback {
            for zone in &offered {
                if !candidates.contains(zone) && !configured.contains(zone) {
                    candidates.push(zone.clone());
                }
            }
        }
        for s in &skipped {
            tracing::warn!(
                region = rp.region,
                zone = s.zone,
                reason = s.reason,
                "skipping configured zone"
            );
            engine.progress.emit(Event::ZoneSkipped {
                region: rp.region.clone(),
                zone: s.zone.clone(),
                reason: s.reason.clone(),
            });
        }
        engine.progress.emit(Event::RegionStarted {
            region: rp.region.clone(),
            zones: candidates.clone(),
        });

        if !existing.is_empty() {
            let mut accepted = configured.clone();
            if rp.zone_fallback {
                accepted.extend(offered.iter().cloned());
            }
            if let Some(entry) = self.reuse(rp, existing, &accepted, &candidates).await? {
                engine.progress.emit(Event::Reused {
                    region: rp.region.clone(),
                    zone: entry.zone.clone(),
                    count: entry.reservations.len(),
                });
                engine.progress.emit(Event::RegionReserved {
                    region: rp.region.clone(),
                    zone: entry.zone.clone(),
                });
                return Ok(RegionReservations {
                    skipped_zones: skipped,
                    ..entry
                });
            }
        }
        if offered.is_empty() {
            // No zone offers every type: if one type is offered nowhere in the region, that
            // is a wrong name or region in the configuration, not a shortage to wait out.
            if let Some(error) = self.offered_nowhere(rp).await? {
                return Err(error.into());
            }
        }
        if candidates.is_empty() {
            return Err(Error::NoZoneAvailable {
                cloud: engine.adapter.cloud(),
                region: rp.region.clone(),
                attempts: Vec::new(),
                skipped,
            }
            .into());
        }

        // Touched before the call: a prepare that failed half-way is finished on rollback.
        self.touch(&rp.region);
        let request = RegionRequest {
            test_id: self.test_id.to_string(),
            region: rp.region.clone(),
            zones: candidates.clone(),
            demands: rp.demands.clone(),
            end_time: self.plan.end_time,
            tags: self.plan.tags.clone(),
        };
        let handle = engine
            .call("prepare_region", Some(&rp.region), stop, || {
                engine.adapter.prepare_region(&request)
            })
            .await?;

        let mut superseded = std::mem::take(&mut self.superseded);
        let entry = match self.try_zones(rp, &candidates, &skipped, &handle).await {
            // Not to be had beside what is held (capacity or quota): release that and try
            // again, as a rerun that releases first would have. The partial set stays: it
            // serves the plan, and a try of its zone uses it again.
            Err(Failure { error, leftovers })
                if !superseded.is_empty()
                    && leftovers.is_empty()
                    && matches!(
                        error,
                        Error::NoZoneAvailable { .. } | Error::QuotaExhausted { .. }
                    ) =>
            {
                tracing::warn!(
                    region = rp.region,
                    error = %error,
                    "the new set cannot be reserved beside the earlier run's reservations; \
                     releasing them and trying again"
                );
                self.release_unused(
                    rp,
                    std::mem::take(&mut superseded),
                    "the new set could not be reserved beside them",
                )
                .await?;
                if self.stop.is_cancelled() {
                    return Err(self.stop_error().into());
                }
                self.try_zones(rp, &candidates, &skipped, &handle).await?
            }
            outcome => outcome?,
        };
        self.release_unused(rp, superseded, "the new set is reserved beside them")
            .await?;
        self.release_unused_partial(rp, &entry).await?;
        Ok(entry)
    }

    /// Releases the reservations of the partial set that the reserved set does not use (they
    /// served the plan in a zone that could not hold the rest).
    async fn release_unused_partial(
        &mut self,
        rp: &RegionPlan,
        entry: &RegionReservations,
    ) -> Result<(), Failure> {
        let unused: Vec<Reservation> = std::mem::take(&mut self.partial)
            .into_iter()
            .filter(|r| !entry.reservations.iter().any(|e| e.id == r.id))
            .collect();
        let reason = format!(
            "the set is reserved in {}, and its zone could not hold the rest of the set",
            entry.zone.as_deref().unwrap_or("the region (any zone)")
        );
        for r in &unused {
            self.engine.progress.emit(Event::NotReused {
                reservation: Step::of(r),
                reason: reason.clone(),
                kept_until_replaced: true,
            });
        }
        self.release_unused(rp, unused, &reason).await
    }

    /// Tries the candidate zones of a prepared region in order (then the regional last
    /// resort, where the region allows it) until one holds every demand. A failed zone's
    /// reservations are released while the next zone is tried; every exit waits for that.
    async fn try_zones(
        &mut self,
        rp: &RegionPlan,
        candidates: &[String],
        skipped: &[SkippedZone],
        handle: &RegionHandle,
    ) -> Result<RegionReservations, Failure> {
        let engine = self.engine;
        let mut attempts: Vec<ZoneAttempt> = Vec::new();
        let mut rollback: Option<Rollback<'_>> = None;
        let last_resort = handle.regional_last_resort();
        let tries = candidates
            .iter()
            .map(|z| Some(z.as_str()))
            .chain(last_resort.then_some(None));
        for (i, zone) in tries.enumerate() {
            let regional = zone.is_none();
            if regional {
                // Every zone was out of capacity: an adapter whose region allows it (Azure
                // with `azure_regional_fallback`) gets one regional (zone-less) try.
                if attempts.is_empty() {
                    break;
                }
                tracing::warn!(
                    region = rp.region,
                    "no zone can hold every demand; trying a regional reservation"
                );
            }
            if self.stop.is_cancelled() {
                let leftovers = finish_rollback(rollback.take()).await;
                return Err(Failure {
                    error: self.stop_error(),
                    leftovers,
                });
            }
            let zone_name = zone.unwrap_or("");
            let previous = rollback.take();
            let (outcome, leftovers) =
                futures::join!(self.zone(rp, zone_name, handle), finish_rollback(previous));
            let outcome = match outcome {
                Err(mut failure) => {
                    failure.leftovers.extend(leftovers);
                    return Err(failure);
                }
                Ok(_) if !leftovers.is_empty() => {
                    // The previous zone's rollback failed: that is the reserve's failure.
                    let error = attempts
                        .last()
                        .map(|a| Error::from(a.error.clone()))
                        .unwrap_or_else(|| self.stop_error());
                    return Err(Failure { error, leftovers });
                }
                Ok(outcome) => outcome,
            };
            match outcome {
                ZoneOutcome::Reserved(reservations) => {
                    engine.progress.emit(Event::RegionReserved {
                        region: rp.region.clone(),
                        zone: zone.map(str::to_string),
                    });
                    return Ok(RegionReservations {
                        skipped_zones: skipped.to_vec(),
                        attempts: attempts.iter().map(ZoneTried::from).collect(),
                        ..entry(rp, zone.map(str::to_string), reservations)
                    });
                }
                ZoneOutcome::Unavailable(attempt, to_release) => {
                    if !to_release.is_empty() {
                        rollback = Some(Box::pin(engine.release(to_release)));
                    }
                    if !regional && !attempt.error.next_zone_may_help() {
                        // A regional or account quota: every other zone draws on it too.
                        let leftovers = finish_rollback(rollback.take()).await;
                        let error = Box::new(attempt.error.clone());
                        let error = Error::QuotaExhausted {
                            region: rp.region.clone(),
                            attempts,
                            error,
                        };
                        return Err(Failure { error, leftovers });
                    }
                    if let Some(next) = candidates.get(i + 1) {
                        tracing::warn!(
                            region = rp.region,
                            zone = zone_name,
                            code = attempt.error.code,
                            next,
                            "zone cannot hold every demand; trying the next zone"
                        );
                    }
                    attempts.push(*attempt);
                }
            }
        }
        let leftovers = finish_rollback(rollback.take()).await;
        let error = Error::NoZoneAvailable {
            cloud: engine.adapter.cloud(),
            region: rp.region.clone(),
            attempts,
            skipped: skipped.to_vec(),
        };
        Err(Failure { error, leftovers })
    }

    /// The error naming the demanded types no zone of the region offers (asked type by
    /// type), if there is one.
    async fn offered_nowhere(&self, rp: &RegionPlan) -> Result<Option<Error>, Failure> {
        let engine = self.engine;
        let mut missing = Vec::new();
        for demand in &rp.demands {
            let one = [demand.instance_type.clone()];
            let zones = engine
                .call("zones", Some(&rp.region), Some(self.stop), || {
                    engine.adapter.zones(&rp.region, &one)
                })
                .await?;
            if zones.is_empty() && !missing.contains(&demand.instance_type) {
                missing.push(demand.instance_type.clone());
            }
        }
        let Some(first) = missing.first() else {
            return Ok(None);
        };
        let cloud = engine.adapter.cloud();
        let roles: Vec<String> = rp
            .demands
            .iter()
            .filter(|d| missing.contains(&d.instance_type))
            .flat_map(|d| {
                d.roles.iter().filter_map(|r| {
                    serde_json::to_value(r)
                        .ok()
                        .and_then(|v| v.as_str().map(str::to_string))
                })
            })
            .collect();
        let mut error = CloudError::new(
            ErrorKind::InvalidConfig,
            cloud,
            "zones",
            "",
            format!(
                "{cloud} region {} offers instance type {} (for the {} nodes) in none of its zones: \
                 check the type's name in the configuration and that the region offers it \
                 (nothing was reserved)",
                rp.region,
                missing.join(", "),
                roles.join(", ")
            ),
        );
        error.location.region = Some(rp.region.clone());
        error.location.instance_type = Some(first.clone());
        Ok(Some(Error::from(error)))
    }

    /// Reuses a complete set the test already holds in the region (waiting for pending
    /// members to become usable), and cancels everything else found there — except, when no
    /// set is reused, what the cloud can hold beside the new set in any of `candidates`: that
    /// is kept in `superseded` and released once the new set is reserved.
    async fn reuse(
        &mut self,
        rp: &RegionPlan,
        existing: Vec<Reservation>,
        accepted_zones: &[String],
        candidates: &[String],
    ) -> Result<Option<RegionReservations>, Failure> {
        let engine = self.engine;
        let (complete, mut strays) = complete_set(rp, self.plan, existing, accepted_zones);
        let mut reused = None;
        if let Some(set) = complete {
            // A set still being created counts only once usable; one that fails is a stray.
            let waited = join_all(set.reservations.iter().map(|r| self.wait_usable(r))).await;
            let mut ready = Vec::new();
            let mut failed = None;
            for (r, outcome) in set.reservations.iter().zip(waited) {
                match outcome {
                    Ok(usable) => ready.push(usable),
                    Err(e) => {
                        tracing::warn!(id = %r.id, error = %e, "an existing reservation did not become usable");
                        failed.get_or_insert(e);
                    }
                }
            }
            match failed {
                None => {
                    reused = Some(RegionReservations {
                        reused: true,
                        ..entry(rp, set.zone.clone(), ready)
                    });
                }
                Some(e) if e.kind() == ErrorKind::Interrupted || self.stop.is_cancelled() => {
                    strays.extend(set.reservations);
                    self.touch(&rp.region);
                    let leftovers = engine.release(strays).await.failed;
                    return Err(Failure {
                        error: self.stop_error(),
                        leftovers,
                    });
                }
                Some(_) => strays.extend(set.reservations),
            }
        }
        // Without a complete set, what serves a demand as it is, in a zone the region will
        // try, is used there instead of a create: a half-made set is completed, not replaced,
        // and a concurrent run's set in the making is joined (its other creates present the
        // same tokens), never kept aside as superseded.
        let (partial, strays) = if reused.is_some() {
            (Vec::new(), strays)
        } else {
            partial_set(rp, self.plan, strays, candidates)
        };
        // Acquire before releasing where the cloud can hold both: what a create in any
        // candidate zone (or the regional last resort) could collide with is released first.
        let (kept, strays): (Vec<Reservation>, Vec<Reservation>) = if reused.is_some() {
            (Vec::new(), strays)
        } else {
            strays.into_iter().partition(|r| {
                candidates
                    .iter()
                    .map(String::as_str)
                    .chain([""])
                    .all(|zone| {
                        rp.demands
                            .iter()
                            .all(|d| engine.adapter.can_hold_beside(r, zone, d))
                    })
            })
        };
        // Say what changes, and why, before changing it.
        for (r, kept) in strays
            .iter()
            .map(|r| (r, false))
            .chain(kept.iter().map(|r| (r, true)))
        {
            let reason = why_not_reused(self.plan, rp, r, accepted_zones, reused.is_some());
            tracing::warn!(
                region = rp.region,
                id = %r.id,
                reason,
                kept_until_replaced = kept,
                "a reservation of an earlier run that this plan does not use will be cancelled"
            );
            engine.progress.emit(Event::NotReused {
                reservation: Step::of(r),
                reason,
                kept_until_replaced: kept,
            });
        }
        if !kept.is_empty() {
            // Fresh idempotency tokens for the new creates, the same in every process seeing
            // the same earlier set (the partial set is not part of the hash: a concurrent run
            // that saw it still in the making, or not at all, derives the same base): a token
            // of the earlier run would be answered with its reservation (or refused as
            // another request's).
            self.attempt_base = superseding_attempt_base(&kept);
            self.touch(&rp.region);
            self.superseded = kept;
        }
        if !partial.is_empty() {
            for r in &partial {
                tracing::info!(
                    region = rp.region,
                    id = %r.id,
                    zone = r.zone.as_deref().unwrap_or(""),
                    instance_type = r.instance_type,
                    "the test already holds a reservation that serves the plan; a try of its \
                     zone uses it instead of creating one"
                );
            }
            self.touch(&rp.region);
            self.partial = partial;
        }
        self.release_unused(rp, strays, "they do not make a usable set for the plan")
            .await?;
        if let Some(entry) = &reused {
            tracing::info!(
                region = rp.region,
                zone = entry.zone,
                "reusing the test's existing reservations"
            );
        }
        Ok(reused)
    }

    /// Releases reservations of an earlier run that the plan does not use (`why`: when, for
    /// the log); one that cannot be released fails the region, naming it.
    async fn release_unused(
        &mut self,
        rp: &RegionPlan,
        unused: Vec<Reservation>,
        why: &str,
    ) -> Result<(), Failure> {
        if unused.is_empty() {
            return Ok(());
        }
        let engine = self.engine;
        tracing::warn!(
            region = rp.region,
            count = unused.len(),
            "cancelling reservations of an earlier run that this plan does not use: {why}"
        );
        self.touch(&rp.region);
        let report = engine.release(unused).await;
        if report.failed.is_empty() {
            return Ok(());
        }
        Err(Failure {
            error: Error::Other(format!(
                "test {} already held reservations in {} region {} that this plan does not use \
                 ({why}), and cancelling them failed",
                self.test_id,
                engine.adapter.cloud(),
                rp.region
            )),
            leftovers: report.failed,
        })
    }

    /// Creates every demand of `rp` in `zone` at once and waits until all are usable; on any
    /// failure releases what was created there (and, after an unknown outcome, whatever the
    /// region holds by the test's tag).
    async fn zone(
        &mut self,
        rp: &RegionPlan,
        zone: &str,
        handle: &RegionHandle,
    ) -> Result<ZoneOutcome, Failure> {
        let engine = self.engine;
        let attempt = self
            .attempt_base
            .wrapping_add(self.zone_tries.wrapping_mul(16));
        self.zone_tries += 1;
        let requests: Vec<CreateRequest> = rp
            .demands
            .iter()
            .map(|demand| CreateRequest {
                test_id: self.test_id.to_string(),
                region: rp.region.clone(),
                zone: zone.to_string(),
                demand: demand.clone(),
                end_time: self.plan.end_time,
                tags: demand_tags(&self.plan.tags, demand),
                attempt,
                region_handle: handle.clone(),
            })
            .collect();
        // What the test already holds in this zone serving a demand is used as it is.
        let mut holding = Vec::with_capacity(requests.len());
        for demand in &rp.demands {
            let found = self
                .partial
                .iter()
                .position(|r| r.zone.as_deref() == Some(zone) && serves(self.plan, demand, r));
            holding.push(found.map(|i| self.partial.remove(i)));
        }
        tracing::info!(region = rp.region, zone, attempt, "reserving in zone");
        engine.progress.emit(Event::ZoneStarted {
            region: rp.region.clone(),
            zone: zone.to_string(),
        });
        for r in holding.iter().flatten() {
            engine.progress.emit(Event::Held {
                reservation: Step::of(r),
            });
        }
        let this = &*self;
        let outcomes = join_all(requests.iter().zip(&holding).map(|(req, held)| async move {
            match held {
                None => this.create_usable(req).await,
                Some(r) => match this.wait_usable(r).await {
                    Ok(usable) => CreateOutcome::Ready(usable),
                    Err(error) => CreateOutcome::Failed {
                        error,
                        reservation: Some(r.clone()),
                        unknown: false,
                    },
                },
            }
        }))
        .await;

        let mut created = Vec::new();
        // Held ones that are usable: kept for a later try (or released with the partial set)
        // if this zone fails, not rolled back with what it created.
        let mut usable_held = Vec::new();
        let mut to_release = Vec::new();
        let mut unknown = false;
        let mut fatal = None;
        let mut unavailable = None;
        for ((req, outcome), held) in requests.iter().zip(outcomes).zip(&holding) {
            match outcome {
                CreateOutcome::Ready(r) => {
                    if held.is_some() {
                        usable_held.push(r.clone());
                    }
                    created.push(r)
                }
                CreateOutcome::Failed {
                    error,
                    reservation,
                    unknown: u,
                } => {
                    to_release.extend(reservation);
                    unknown |= u;
                    if error.kind().is_zone_fallback() && error.cloud_error().is_some() {
                        if unavailable.is_none() {
                            engine.progress.emit(Event::zone_failed(
                                &rp.region,
                                zone,
                                &req.demand.instance_type,
                                &error,
                            ));
                            unavailable = Some(zone_attempt(engine, req, error));
                        }
                    } else {
                        fatal.get_or_insert(error);
                    }
                }
            }
        }
        let failure = match (fatal, unavailable) {
            (None, None) => return Ok(ZoneOutcome::Reserved(created)),
            (Some(e), _) => Err(e),
            (None, Some(attempt)) => Ok(attempt),
        };
        to_release.extend(
            created
                .into_iter()
                .filter(|r| !usable_held.iter().any(|h| h.id == r.id)),
        );
        self.partial.extend(usable_held);
        if !to_release.is_empty() {
            tracing::warn!(
                region = rp.region,
                zone,
                count = to_release.len(),
                "rolling back the zone's reservations"
            );
        }
        if let (Ok(attempt), false) = (&failure, unknown) {
            // Released while the next zone is tried: the cloud can hold both, as they are of
            // different zones.
            return Ok(ZoneOutcome::Unavailable(
                Box::new(attempt.clone()),
                to_release,
            ));
        }
        let mut leftovers = engine.release(to_release).await.failed;
        if unknown {
            // The region holds nothing this call returns yet: everything tagged is a stray.
            // Not beside another zone's creates: the sweep would take them too.
            leftovers.extend(engine.sweep(self.test_id, &rp.region, &[]).await);
        }
        match failure {
            Ok(attempt) if leftovers.is_empty() => {
                Ok(ZoneOutcome::Unavailable(Box::new(attempt), Vec::new()))
            }
            Ok(attempt) => Err(Failure {
                error: attempt.error.into(),
                leftovers,
            }),
            Err(error) => Err(Failure { error, leftovers }),
        }
    }

    /// One create, repeated with a fresh idempotency token when the cloud settled the last
    /// one as failed or spent, then waited on until usable.
    async fn create_usable(&self, request: &CreateRequest) -> CreateOutcome {
        let engine = self.engine;
        let attempt = AtomicU32::new(request.attempt);
        let mut fresh_tokens = 0;
        loop {
            if self.stop.is_cancelled() {
                return CreateOutcome::Failed {
                    error: self.stop_error(),
                    reservation: None,
                    unknown: false,
                };
            }
            let created = engine
                .call("create", Some(&request.region), Some(self.stop), || {
                    let req = CreateRequest {
                        attempt: attempt.load(Ordering::SeqCst),
                        ..request.clone()
                    };
                    let attempt = &attempt;
                    async move {
                        let result = engine.adapter.create(&req).await;
                        // The cloud would answer this token with the same failure again.
                        if result.as_ref().is_err_and(Error::is_settled) {
                            attempt.fetch_add(1, Ordering::SeqCst);
                        }
                        result
                    }
                })
                .await;
            let reservation = match created {
                Ok(r) => r,
                Err(e) => {
                    let unknown = e.outcome_unknown();
                    return CreateOutcome::Failed {
                        error: locate(engine, request, e),
                        reservation: None,
                        unknown,
                    };
                }
            };
            if matches!(
                reservation.state,
                ReservationState::Cancelled | ReservationState::Expired | ReservationState::Failed
            ) {
                // The token was spent by an earlier create whose reservation is gone.
                fresh_tokens += 1;
                if fresh_tokens > MAX_FRESH_TOKENS {
                    return CreateOutcome::Failed {
                        error: Error::Other(format!(
                            "{} kept answering create of {} in {} with ended reservations ({}, {:?})",
                            engine.adapter.cloud(),
                            request.demand.instance_type,
                            request.zone,
                            reservation.id,
                            reservation.state
                        )),
                        reservation: None,
                        unknown: false,
                    };
                }
                attempt.fetch_add(1, Ordering::SeqCst);
                continue;
            }
            engine.progress.emit(Event::Created {
                reservation: Step::of(&reservation),
                pending: reservation.state == ReservationState::Pending,
            });
            match self.wait_usable(&reservation).await {
                Ok(usable) => {
                    engine.progress.emit(Event::Ready {
                        reservation: Step::of(&usable),
                    });
                    return CreateOutcome::Ready(usable);
                }
                Err(e) if e.is_settled() && e.is_retryable() && fresh_tokens < MAX_FRESH_TOKENS => {
                    // A transient failure of the cloud's own operation: nothing is held, and
                    // a retry needs a fresh token.
                    tracing::warn!(id = %reservation.id, error = %e, "creation failed transiently; creating again");
                    engine.progress.emit(Event::create_failed(&reservation, &e));
                    fresh_tokens += 1;
                    attempt.fetch_add(1, Ordering::SeqCst);
                }
                Err(e) => {
                    engine.progress.emit(Event::create_failed(&reservation, &e));
                    return CreateOutcome::Failed {
                        error: locate(engine, request, e),
                        reservation: Some(reservation),
                        unknown: false,
                    };
                }
            }
        }
    }

    /// Polls `reservation` until it is usable, failed, or the call is stopped.
    async fn wait_usable(&self, reservation: &Reservation) -> Result<Reservation> {
        if reservation.state == ReservationState::Active {
            return Ok(reservation.clone());
        }
        let engine = self.engine;
        let waited = poll_until(&engine.wait, None, Some(self.stop), || async {
            let polled = engine
                .call("poll", Some(&reservation.region), Some(self.stop), || {
                    engine.adapter.poll(reservation)
                })
                .await?;
            Ok(match polled {
                Readiness::Ready(r) => Poll::Ready(Ok(r)),
                Readiness::Failed(e) => Poll::Ready(Err(settle(e))),
                Readiness::Pending { retry_after } => Poll::Pending { retry_after },
            })
        })
        .await?;
        match waited {
            Waited::Ready(outcome) => outcome,
            // The stop token carries the reserve's deadline too.
            Waited::Stopped | Waited::TimedOut => Err(self.stop_error()),
        }
    }

    fn touch(&mut self, region: &str) {
        if !self.touched.iter().any(|r| r == region) {
            self.touched.push(region.to_string());
        }
    }

    /// Releases everything this call holds, sweeps the regions it touched by the test's tag,
    /// finishes them, and returns the error to report.
    async fn abort(self, failure: Failure) -> Error {
        let Failure {
            error,
            mut leftovers,
        } = failure;
        let held: Vec<Reservation> = self
            .held
            .iter()
            .flat_map(|entry| entry.reservations.iter().cloned())
            .collect();
        // The error itself reaches the caller; the log only says what is being undone.
        if !held.is_empty() {
            tracing::warn!(
                test_id = self.test_id,
                count = held.len(),
                "reserve failed; rolling back the reservations made so far"
            );
        }
        leftovers.extend(self.engine.release(held).await.failed);
        let regions: Vec<String> = plan_regions(self.plan)
            .into_iter()
            .filter(|r| self.touched.contains(r) || self.held.iter().any(|e| e.region == *r))
            .collect();
        // Creates whose answer never came may have been carried out: nothing tagged with the
        // test in a region this call touched is returned to anyone now.
        let swept = join_all(
            regions
                .iter()
                .map(|region| self.engine.sweep(self.test_id, region, &[])),
        )
        .await;
        leftovers.extend(swept.into_iter().flatten());
        let finishable: Vec<String> = regions
            .into_iter()
            .filter(|r| !leftovers.iter().any(|l| l.region == *r))
            .collect();
        leftovers.extend(self.engine.finish(self.test_id, finishable).await);
        if leftovers.is_empty() {
            error
        } else {
            Error::RollbackFailed {
                cause: Box::new(error),
                leftovers,
            }
        }
    }
}

/// The error of a failed creation, marked settled: the cloud itself said it failed.
fn settle(error: Error) -> Error {
    match error.cloud_error() {
        Some(e) if !e.settled => Error::from(e.clone().settled()),
        _ => error,
    }
}

/// The tags of one create: the plan's, plus the demand's sizing details when it has any (so
/// a later run can tell whether an existing reservation matches its plan).
fn demand_tags(tags: &Tags, demand: &Demand) -> Tags {
    let mut tags = tags.clone();
    if let Some((key, value)) = details_tag(&demand.details) {
        tags.0.insert(key, value);
    }
    tags
}

/// The plan's test id; without one nothing can be found or released again.
fn test_id(plan: &CapacityPlan) -> Result<&str> {
    match plan.test_id.as_deref() {
        Some(id) if !id.is_empty() => Ok(id),
        _ => Err(Error::Disabled {
            backend: plan.backend,
            reason: "the plan has no test_id, and reservations are found and released by it".into(),
        }),
    }
}

/// The plan's regions, each once, in plan order.
fn plan_regions(plan: &CapacityPlan) -> Vec<String> {
    let mut regions: Vec<String> = Vec::new();
    for r in &plan.regions {
        if !regions.contains(&r.region) {
            regions.push(r.region.clone());
        }
    }
    regions
}

fn entry(
    rp: &RegionPlan,
    zone: Option<String>,
    reservations: Vec<Reservation>,
) -> RegionReservations {
    RegionReservations {
        region: rp.region.clone(),
        zone,
        reservations,
        reused: false,
        skipped_zones: Vec::new(),
        attempts: Vec::new(),
    }
}

/// `error` with the region, zone and instance type of `req` where the adapter left them out.
fn locate(engine: &Engine, req: &CreateRequest, error: Error) -> Error {
    match error.cloud_error() {
        Some(_) => {
            let attempt = zone_attempt(engine, req, error);
            Error::from(attempt.error)
        }
        None => error,
    }
}

/// The zone try's failure, located where the adapter left it vague.
fn zone_attempt(engine: &Engine, req: &CreateRequest, error: Error) -> ZoneAttempt {
    let mut cloud_error = error.cloud_error().cloned().unwrap_or_else(|| {
        CloudError::new(
            error.kind(),
            engine.adapter.cloud(),
            "create",
            "",
            error.to_string(),
        )
    });
    let location = &mut cloud_error.location;
    location.cloud.get_or_insert(engine.adapter.cloud());
    location.region.get_or_insert_with(|| req.region.clone());
    location.zone.get_or_insert_with(|| req.zone.clone());
    location
        .instance_type
        .get_or_insert_with(|| req.demand.instance_type.clone());
    ZoneAttempt {
        zone: req.zone.clone(),
        error: cloud_error,
    }
}

/// Groups a region's live reservations by zone: configured zones first, then the others in
/// the order found; within a zone, demand order, then any other types.
fn by_zone(rp: &RegionPlan, mut live: Vec<Reservation>) -> Vec<RegionReservations> {
    live.sort_by_key(|r| {
        rp.demands
            .iter()
            .position(|d| d.instance_type == r.instance_type)
            .unwrap_or(usize::MAX)
    });
    let mut zones: Vec<Option<String>> = Vec::new();
    for zone in rp
        .zones
        .iter()
        .filter(|z| live.iter().any(|r| r.zone.as_ref() == Some(*z)))
        .map(|z| Some(z.clone()))
        .chain(live.iter().map(|r| r.zone.clone()))
    {
        if !zones.contains(&zone) {
            zones.push(zone);
        }
    }
    zones
        .into_iter()
        .map(|zone| {
            let reservations = live.iter().filter(|r| r.zone == zone).cloned().collect();
            entry(rp, zone, reservations)
        })
        .collect()
}

/// Whether an existing reservation serves `demand` of `plan`: the type, the count, the
/// sizing details (recorded in its tags), and an end time no earlier than the plan's less its
/// reuse slack (the reservation buffer; at least a minute, for the cloud's rounding), so a
/// rerun minutes later reuses the set instead of releasing capacity it still needs.
fn serves(plan: &CapacityPlan, demand: &Demand, r: &Reservation) -> bool {
    let details = details_tag(&demand.details);
    let recorded = r
        .tags
        .iter()
        .find(|(k, _)| k.as_str() == crate::tags::CR_DETAILS)
        .map(|(k, v)| (k.clone(), v.clone()));
    let slack = jiff::SignedDuration::from_mins(
        i64::try_from(plan.reuse_slack_minutes)
            .unwrap_or(i64::MAX / 60)
            .max(1),
    );
    let long_enough = r.end_time.is_none_or(|end| end >= plan.end_time - slack);
    r.instance_type == demand.instance_type
        && r.count == demand.count
        && details == recorded
        && long_enough
}

/// Splits a region's live reservations into a complete set for `rp` (one reservation
/// serving each demand, all in one zone the plan accepts) and the strays to cancel. Without
/// a complete set, everything is a stray.
/// The attempt base of creates made while `kept` (an earlier run's reservations) is held:
/// derived from their ids, so every process seeing the same set presents the same tokens,
/// and never 0 (the base of a run holding nothing), with room for the zone tries below it.
fn superseding_attempt_base(kept: &[Reservation]) -> u32 {
    use sha2::{Digest, Sha256};
    let mut ids: Vec<&str> = kept.iter().map(|r| r.id.0.as_str()).collect();
    ids.sort_unstable();
    let mut hash = Sha256::new();
    for id in ids {
        hash.update((id.len() as u64).to_be_bytes());
        hash.update(id.as_bytes());
    }
    let digest = hash.finalize();
    let high = u32::from_be_bytes([digest[0], digest[1], digest[2], digest[3]]);
    (high | 0x8000_0000) & !0xFFFF
}

/// Why `r`, found in the region, is not part of the set this plan reuses.
fn why_not_reused(
    plan: &CapacityPlan,
    rp: &RegionPlan,
    r: &Reservation,
    accepted_zones: &[String],
    complete: bool,
) -> String {
    if let Some(zone) = r.zone.as_ref().filter(|z| !accepted_zones.contains(z)) {
        return format!("zone {zone} is not one this plan reserves in");
    }
    let Some(demand) = rp
        .demands
        .iter()
        .find(|d| d.instance_type == r.instance_type)
    else {
        return format!("the plan no longer demands {}", r.instance_type);
    };
    if r.count != demand.count {
        return format!(
            "it holds {} x {}, the plan now wants {}",
            r.count, r.instance_type, demand.count
        );
    }
    if !serves(plan, demand, r) {
        let recorded = r.tags.get(crate::tags::CR_DETAILS).cloned();
        let wanted = details_tag(&demand.details).map(|(_, v)| v);
        if recorded != wanted {
            return format!(
                "its sizing ({}) differs from the plan's ({})",
                recorded.as_deref().unwrap_or("none"),
                wanted.as_deref().unwrap_or("none")
            );
        }
        return format!(
            "it ends at {}, before the plan's end {} less its reuse slack of {} minutes",
            r.end_time.map(|t| t.to_string()).unwrap_or_default(),
            plan.end_time,
            plan.reuse_slack_minutes
        );
    }
    if complete {
        "a duplicate beside the set being reused".into()
    } else {
        "the other types of the plan are not held in its zone, so the set is incomplete".into()
    }
}

/// Of `strays` (no complete set among them), one per demand per candidate zone that serves the
/// demand as it is: the partial set a try of that zone completes. The rest stay strays.
fn partial_set(
    rp: &RegionPlan,
    plan: &CapacityPlan,
    strays: Vec<Reservation>,
    candidates: &[String],
) -> (Vec<Reservation>, Vec<Reservation>) {
    let mut pool = strays;
    let mut partial = Vec::new();
    for zone in candidates {
        for demand in &rp.demands {
            if let Some(i) = pool
                .iter()
                .position(|r| r.zone.as_ref() == Some(zone) && serves(plan, demand, r))
            {
                partial.push(pool.remove(i));
            }
        }
    }
    (partial, pool)
}

fn complete_set(
    rp: &RegionPlan,
    plan: &CapacityPlan,
    live: Vec<Reservation>,
    accepted_zones: &[String],
) -> (Option<RegionReservations>, Vec<Reservation>) {
    for group in by_zone(rp, live.clone()) {
        // A regional reservation (no zone) serves every zone of the region.
        if group
            .zone
            .as_ref()
            .is_some_and(|z| !accepted_zones.contains(z))
        {
            continue;
        }
        let mut pool = group.reservations;
        let mut matched = Vec::new();
        for demand in &rp.demands {
            let Some(i) = pool.iter().position(|r| serves(plan, demand, r)) else {
                break;
            };
            matched.push(pool.remove(i));
        }
        if matched.len() == rp.demands.len() {
            let strays = live
                .into_iter()
                .filter(|r| !matched.iter().any(|m| m.id == r.id))
                .collect();
            return (Some(entry(rp, group.zone.clone(), matched)), strays);
        }
    }
    (None, live)
}
