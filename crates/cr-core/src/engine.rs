//! The cloud-independent engine: zone fallback, rollback, retries and concurrency, written
//! once over [`CloudAdapter`].
//!
//! - **reserve** walks the plan's regions in order. In each it first looks for the test's
//!   live reservations (a rerun or a second process must not reserve twice): a complete set
//!   in one acceptable zone is reused, anything else found is cancelled. Then it tries the
//!   candidate zones in order — the configured ones, then (with zone fallback) the cloud's
//!   other zones offering every demanded type — creating all demands of a zone concurrently.
//!   A zone that lacks capacity or quota is rolled back and the next zone tried; any other
//!   failure stops at once. A region that no zone can serve fails the whole call: everything
//!   reserved so far, in every region, is released (all or nothing).
//! - **discover** rebuilds the test's live reservations from the cloud.
//! - **cancel** / **cancel_all_regions** release everything the test holds, reporting what
//!   was released, what was already gone and what could not be released.
//!
//! Every adapter call goes through [`RetryPolicy::run`]. A rollback that fails is never
//! swallowed: it becomes [`Error::RollbackFailed`] naming every reservation still held.

use std::fmt;
use std::sync::Arc;

use futures::future::join_all;
use futures::stream::{self, StreamExt};

use crate::adapter::{CloudAdapter, CreateRequest};
use crate::error::{CloudError, Error, ErrorKind, Leftover, Result, ZoneAttempt};
use crate::model::{CancelOutcome, CancelReport, RegionReservations, Reservation, ReservationSet};
use crate::plan::{CapacityPlan, RegionPlan};
use crate::retry::RetryPolicy;

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
/// use cr_core::adapter::{CloudAdapter, CreateRequest};
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
///             cloud: Cloud::Aws, region: req.region.clone(), zone: req.zone.clone(),
///             instance_type: req.demand.instance_type.clone(), count: req.demand.count,
///             used: None, end_time: Some(req.end_time), state: ReservationState::Active,
///             tags: req.tags.0.clone(), extra: Default::default(),
///         };
///         self.0.lock().unwrap().push(r.clone());
///         Ok(r)
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
/// assert_eq!(set.regions[0].zone, "eu-west-1b");
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

    /// Bounds how many region listings and cancels run at once (at least one).
    pub fn with_concurrency(mut self, concurrency: usize) -> Self {
        self.concurrency = concurrency.max(1);
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

    /// Reserves everything `plan` demands, all or nothing.
    ///
    /// Returns one entry per region (regions without demands are skipped), in plan order,
    /// each with its reservations in demand order. On failure nothing stays reserved, or the
    /// error is [`Error::RollbackFailed`] naming what does.
    pub async fn reserve(&self, plan: &CapacityPlan) -> Result<ReservationSet> {
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
        let mut run = ReserveRun {
            engine: self,
            plan,
            test_id,
            // A fresh base per call: a rerun after a rollback must not present an earlier
            // call's idempotency token and get its (cancelled) reservation back.
            attempt_base: rand::random(),
            zone_tries: 0,
            held: Vec::new(),
            prepared: Vec::new(),
            touched: Vec::new(),
        };
        for region in plan.regions.iter().filter(|r| !r.demands.is_empty()) {
            match run.region(region).await {
                Ok(entry) => run.held.push(entry),
                Err(failure) => return Err(run.abort(failure).await),
            }
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
    /// adapter finish each region that held some. Errors as [`Engine::cancel`].
    pub async fn cancel_all_regions(&self, test_id: &str) -> Result<CancelReport> {
        if test_id.is_empty() {
            return Err(Error::Other(
                "cancel_all_regions needs a test id: reservations are found by it".into(),
            ));
        }
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
            let regions = self.retry.run("regions", || self.adapter.regions()).await?;
            self.list(test_id, &regions).await
        };
        self.cancel_listed(test_id, listings, FinishRegions::WithReservations)
            .await
    }

    /// The test's live reservations in `region` (or everywhere).
    async fn find_live(&self, test_id: &str, region: Option<&str>) -> Result<Vec<Reservation>> {
        let found = self
            .retry
            .run("find", || {
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
                    if finish == FinishRegions::All || !live.is_empty() {
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

    /// Cancels `reservations` concurrently (bounded): what was released, what was already
    /// gone, and what is still held.
    async fn release(&self, reservations: Vec<Reservation>) -> CancelReport {
        let outcomes: Vec<(Reservation, Result<CancelOutcome>)> = stream::iter(reservations)
            .map(|r| async move {
                let outcome = self.retry.run("cancel", || self.adapter.cancel(&r)).await;
                (r, outcome)
            })
            .buffered(self.concurrency)
            .collect()
            .await;
        let mut report = CancelReport::default();
        for (r, outcome) in outcomes {
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

    /// Lets the adapter finish `regions`; what it could not finish is reported as a
    /// leftover with id `region-resources:<region>` and no zone or type.
    async fn finish(&self, test_id: &str, regions: Vec<String>) -> Vec<Leftover> {
        let outcomes: Vec<(String, Result<()>)> = stream::iter(regions)
            .map(|region| async move {
                let outcome = self
                    .retry
                    .run("finish_region", || {
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
                        id: format!("region-resources:{region}"),
                        region,
                        zone: String::new(),
                        instance_type: String::new(),
                        error: e.to_string(),
                    })
                }
            })
            .collect()
    }
}

/// Which regions a cancel finishes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FinishRegions {
    /// Every region listed (the plan's regions may hold region-level resources even when
    /// their reservations are gone).
    All,
    /// Only regions where reservations were found (an account has many regions).
    WithReservations,
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
    /// Every demand is reserved, in demand order.
    Reserved(Vec<Reservation>),
    /// The zone lacks capacity or quota; what it created was released.
    Unavailable(ZoneAttempt),
}

/// The state of one reserve call.
struct ReserveRun<'a> {
    engine: &'a Engine,
    plan: &'a CapacityPlan,
    test_id: &'a str,
    attempt_base: u32,
    zone_tries: u32,
    /// The regions reserved (or reused) so far.
    held: Vec<RegionReservations>,
    /// Regions whose `prepare_region` ran.
    prepared: Vec<String>,
    /// Regions changed by this call (prepared, or strays cancelled): finished on rollback.
    touched: Vec<String>,
}

impl ReserveRun<'_> {
    async fn region(&mut self, rp: &RegionPlan) -> Result<RegionReservations, Failure> {
        let engine = self.engine;
        let existing = engine.find_live(self.test_id, Some(&rp.region)).await?;
        if !existing.is_empty() {
            let (complete, strays) = complete_set(rp, existing);
            if !strays.is_empty() {
                tracing::warn!(
                    region = rp.region,
                    count = strays.len(),
                    "cancelling reservations of an earlier run that are not a complete set"
                );
                self.touch(&rp.region);
                let report = engine.release(strays).await;
                if !report.failed.is_empty() {
                    return Err(Failure {
                        error: Error::Other(format!(
                            "test {} already held reservations in region {} that are not a \
                             complete set for the plan, and cancelling them failed",
                            self.test_id, rp.region
                        )),
                        leftovers: report.failed,
                    });
                }
            }
            if let Some(entry) = complete {
                tracing::info!(
                    region = rp.region,
                    zone = entry.zone,
                    "reusing the test's existing reservations"
                );
                return Ok(entry);
            }
        }

        let mut tried: Vec<String> = Vec::new();
        let mut attempts = Vec::new();
        for zone in &rp.zones {
            if tried.contains(zone) {
                continue;
            }
            tried.push(zone.clone());
            match self.zone(rp, zone).await? {
                ZoneOutcome::Reserved(reservations) => return Ok(entry(rp, zone, reservations)),
                ZoneOutcome::Unavailable(attempt) => attempts.push(attempt),
            }
        }
        if rp.zone_fallback {
            let types: Vec<String> = rp.demands.iter().map(|d| d.instance_type.clone()).collect();
            let offered = engine
                .retry
                .run("zones", || engine.adapter.zones(&rp.region, &types))
                .await?;
            for zone in offered {
                if tried.contains(&zone) {
                    continue;
                }
                tried.push(zone.clone());
                match self.zone(rp, &zone).await? {
                    ZoneOutcome::Reserved(reservations) => {
                        return Ok(entry(rp, &zone, reservations));
                    }
                    ZoneOutcome::Unavailable(attempt) => attempts.push(attempt),
                }
            }
        }
        Err(Error::NoZoneAvailable {
            cloud: engine.adapter.cloud(),
            region: rp.region.clone(),
            attempts,
        }
        .into())
    }

    /// Creates every demand of `rp` in `zone` at once; on any failure releases what was
    /// created there.
    async fn zone(&mut self, rp: &RegionPlan, zone: &str) -> Result<ZoneOutcome, Failure> {
        let engine = self.engine;
        if !self.prepared.contains(&rp.region) {
            self.prepared.push(rp.region.clone());
            // Touched before the call: a prepare that failed half-way is finished on rollback.
            self.touch(&rp.region);
            engine
                .retry
                .run("prepare_region", || {
                    engine.adapter.prepare_region(self.test_id, rp)
                })
                .await?;
        }
        let attempt = self.attempt_base.wrapping_add(self.zone_tries);
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
                tags: self.plan.tags.clone(),
                attempt,
            })
            .collect();
        tracing::info!(region = rp.region, zone, attempt, "reserving in zone");
        let results = join_all(
            requests
                .iter()
                .map(|req| engine.retry.run("create", || engine.adapter.create(req))),
        )
        .await;

        let mut created = Vec::new();
        let mut fatal = None;
        let mut unavailable = None;
        for (req, result) in requests.iter().zip(results) {
            match result {
                Ok(r) => created.push(r),
                Err(e) if e.kind().is_zone_fallback() => {
                    if unavailable.is_none() {
                        unavailable = Some(zone_attempt(engine, req, e));
                    }
                }
                Err(e) => {
                    fatal.get_or_insert(e);
                }
            }
        }
        let failure = match (fatal, unavailable) {
            (None, None) => return Ok(ZoneOutcome::Reserved(created)),
            (Some(e), _) => Err(e),
            (None, Some(attempt)) => Ok(attempt),
        };
        if !created.is_empty() {
            tracing::warn!(
                region = rp.region,
                zone,
                count = created.len(),
                "rolling back the zone's reservations"
            );
        }
        let leftovers = engine.release(created).await.failed;
        match failure {
            Ok(attempt) if leftovers.is_empty() => {
                tracing::warn!(
                    region = rp.region,
                    zone,
                    code = attempt.error.code,
                    "zone cannot hold every demand; trying the next zone"
                );
                Ok(ZoneOutcome::Unavailable(attempt))
            }
            Ok(attempt) => Err(Failure {
                error: attempt.error.into(),
                leftovers,
            }),
            Err(error) => Err(Failure { error, leftovers }),
        }
    }

    fn touch(&mut self, region: &str) {
        if !self.touched.iter().any(|r| r == region) {
            self.touched.push(region.to_string());
        }
    }

    /// Releases everything this call holds, finishes the regions it touched, and returns the
    /// error to report.
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
            .filter(|r| !leftovers.iter().any(|l| l.region == *r))
            .collect();
        leftovers.extend(self.engine.finish(self.test_id, regions).await);
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

fn entry(rp: &RegionPlan, zone: &str, reservations: Vec<Reservation>) -> RegionReservations {
    RegionReservations {
        region: rp.region.clone(),
        zone: zone.to_string(),
        reservations,
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
    let mut zones: Vec<&str> = Vec::new();
    for zone in rp
        .zones
        .iter()
        .filter(|z| live.iter().any(|r| r.zone == **z))
        .chain(live.iter().map(|r| &r.zone))
    {
        if !zones.contains(&zone.as_str()) {
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

/// Splits a region's live reservations into a complete set for `rp` (one reservation of the
/// demanded type and count per demand, all in one zone the plan accepts) and the strays to
/// cancel. Without a complete set, everything is a stray.
fn complete_set(
    rp: &RegionPlan,
    live: Vec<Reservation>,
) -> (Option<RegionReservations>, Vec<Reservation>) {
    for group in by_zone(rp, live.clone()) {
        if !rp.zone_fallback && !rp.zones.contains(&group.zone) {
            continue;
        }
        let mut pool = group.reservations;
        let mut matched = Vec::new();
        for demand in &rp.demands {
            let Some(i) = pool
                .iter()
                .position(|r| r.instance_type == demand.instance_type && r.count == demand.count)
            else {
                break;
            };
            matched.push(pool.remove(i));
        }
        if matched.len() == rp.demands.len() {
            let strays = live
                .into_iter()
                .filter(|r| !matched.iter().any(|m| m.id == r.id))
                .collect();
            return (Some(entry(rp, &group.zone, matched)), strays);
        }
    }
    (None, live)
}
