//! The `CapacityReservation` interface every backend offers, and its one implementation over
//! the engine.

use std::fmt;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use jiff::Timestamp;
use tokio_util::sync::CancellationToken;

use crate::adapter::CloudAdapter;
use crate::cloud::Cloud;
use crate::config::Params;
use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::model::{CancelReport, CleanupPreview, Reservation, ReservationId, ReservationSet};
use crate::plan::CapacityPlan;
use crate::preflight::PreflightReport;
use crate::registry::BackendOptions;
use crate::retry::RetryPolicy;

/// Reserve capacity before a test cluster is provisioned, and release it afterwards.
#[async_trait]
pub trait CapacityReservation: Send + Sync + fmt::Debug {
    /// The cloud this backend reserves on.
    fn cloud(&self) -> Cloud;

    /// Whether reservations are enabled for `params` (flag on, `on_demand`, test id set,
    /// not reusing a cluster). A configuration that cannot be planned (a mistyped count, a
    /// region listed twice) is an error, never a silent "disabled": a caller doing
    /// `if backend.is_enabled(&params)? { backend.reserve(&params).await? }` must not run
    /// its test without the reservations it asked for.
    fn is_enabled(&self, params: &Params) -> Result<bool>;

    /// Reserves everything the configuration demands, all or nothing, and returns once every
    /// reservation is usable. A test that already holds a matching set gets it back
    /// (marked reused) instead of reserving twice.
    async fn reserve(&self, params: &Params) -> Result<ReservationSet> {
        self.reserve_until(params, CancellationToken::new()).await
    }

    /// As [`CapacityReservation::reserve`], until `cancel` is cancelled: then no new
    /// reservation is started, the ones in flight finish, everything is released, and the
    /// call fails with [`Error::Interrupted`] (or [`Error::RollbackFailed`] naming what is
    /// still held).
    async fn reserve_until(
        &self,
        params: &Params,
        cancel: CancellationToken,
    ) -> Result<ReservationSet>;

    /// The id of the reservation for `instance_type` in `zone` (the full zone name, or its
    /// letter as SCT writes it: `b`), from the last reserve or discover. `Ok(None)` when the
    /// set holds none; an error when a letter matches zones of several regions.
    fn get_id(&self, zone: &str, instance_type: &str) -> Result<Option<ReservationId>>;

    /// Cancels every reservation of the test in every region of the configuration.
    async fn cancel(&self, params: &Params) -> Result<CancelReport>;

    /// Cancels every reservation tagged with `test_id`, in every region of the account.
    async fn cancel_all_regions(&self, test_id: &str) -> Result<CancelReport>;

    /// What [`CapacityReservation::cancel_all_regions`] would cancel and finish, changing
    /// nothing (`cr cleanup --dry-run`).
    async fn preview_cancel_all_regions(&self, test_id: &str) -> Result<CleanupPreview>;

    /// Every live reservation cr created, whatever its test, in every region of the account
    /// (`cr orphans`; judged with [`crate::orphans`]). Reservations cr did not create are
    /// never listed.
    async fn find_created(&self) -> Result<Vec<Reservation>>;

    /// Cancels `chosen`, reservations of a [`CapacityReservation::find_created`] `listing`,
    /// and finishes the region resources of each test and region they empty. Individual
    /// failures are in [`CancelReport::failed`].
    async fn cancel_created(
        &self,
        listing: &[Reservation],
        chosen: &[Reservation],
    ) -> Result<CancelReport>;

    /// Rebuilds the test's reservation set from the cloud, by its test-id tag.
    async fn discover(&self, params: &Params) -> Result<ReservationSet>;

    /// Whether reserving `params`' plan can work: credentials, permissions, offerings and
    /// quota, checked without creating anything ([`crate::preflight`]). Works on a disabled
    /// plan too (it checks what would be reserved). A bad configuration is an error; what
    /// the cloud refuses is a failed finding.
    async fn preflight(&self, params: &Params) -> Result<PreflightReport>;

    /// The snippet a provisioner puts into its create-instance request to consume the
    /// reservation for `instance_type` in `zone` (full name or letter, as
    /// [`CapacityReservation::get_id`]).
    fn instance_target(&self, zone: &str, instance_type: &str)
    -> Result<Option<serde_json::Value>>;
}

/// The [`CapacityReservation`] of any cloud: its adapter driven by the shared engine.
pub struct EngineBackend {
    engine: Engine,
    current: Mutex<Option<ReservationSet>>,
}

impl fmt::Debug for EngineBackend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EngineBackend")
            .field("engine", &self.engine)
            .finish_non_exhaustive()
    }
}

impl EngineBackend {
    /// A backend over `adapter`.
    pub fn new(adapter: Arc<dyn CloudAdapter>, retry: RetryPolicy) -> Self {
        Self::over(Engine::new(adapter, retry))
    }

    /// A backend over `adapter` with the retry policy, reserve deadline and progress sink of
    /// `options`.
    pub fn from_options(adapter: Arc<dyn CloudAdapter>, options: &BackendOptions) -> Self {
        let mut engine =
            Engine::new(adapter, options.retry.clone()).with_progress(options.progress.clone());
        if let Some(deadline) = options.reserve_deadline {
            engine = engine.with_reserve_deadline(deadline);
        }
        Self::over(engine)
    }

    /// A backend over a configured engine.
    pub fn over(engine: Engine) -> Self {
        EngineBackend {
            engine,
            current: Mutex::new(None),
        }
    }

    /// The engine.
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    fn plan(&self, params: &Params) -> Result<CapacityPlan> {
        CapacityPlan::build(params, self.cloud(), Timestamp::now())
    }

    fn enabled_plan(&self, params: &Params) -> Result<CapacityPlan> {
        let plan = self.plan(params)?;
        if let Some(reason) = &plan.disabled_reason {
            return Err(Error::Disabled {
                backend: self.cloud(),
                reason: reason.clone(),
            });
        }
        Ok(plan)
    }

    fn remember(&self, set: &ReservationSet) {
        *self.current.lock().unwrap_or_else(|p| p.into_inner()) = Some(set.clone());
    }

    fn forget(&self) {
        *self.current.lock().unwrap_or_else(|p| p.into_inner()) = None;
    }

    fn find_current<T>(
        &self,
        zone: &str,
        instance_type: &str,
        f: impl FnOnce(&crate::model::Reservation) -> T,
    ) -> Result<Option<T>> {
        let guard = self.current.lock().unwrap_or_else(|p| p.into_inner());
        let Some(set) = guard.as_ref() else {
            return Ok(None);
        };
        Ok(set.find(zone, instance_type)?.map(f))
    }
}

#[async_trait]
impl CapacityReservation for EngineBackend {
    fn cloud(&self) -> Cloud {
        self.engine.adapter().cloud()
    }

    fn is_enabled(&self, params: &Params) -> Result<bool> {
        Ok(self.plan(params)?.enabled)
    }

    async fn reserve_until(
        &self,
        params: &Params,
        cancel: CancellationToken,
    ) -> Result<ReservationSet> {
        let plan = self.enabled_plan(params)?;
        let set = self.engine.reserve_until(&plan, &cancel).await?;
        self.remember(&set);
        Ok(set)
    }

    fn get_id(&self, zone: &str, instance_type: &str) -> Result<Option<ReservationId>> {
        self.find_current(zone, instance_type, |r| r.id.clone())
    }

    async fn cancel(&self, params: &Params) -> Result<CancelReport> {
        // Cancelling must work even when reservations were switched off after reserving:
        // only the test id and the regions are needed.
        let plan = self.plan(params)?;
        let report = self.engine.cancel(&plan).await?;
        // What could not be released is still held: get_id and instance_target keep
        // answering until a later cancel succeeds.
        if report.is_complete() {
            self.forget();
        }
        Ok(report)
    }

    async fn cancel_all_regions(&self, test_id: &str) -> Result<CancelReport> {
        let report = self.engine.cancel_all_regions(test_id).await?;
        if report.is_complete() {
            self.forget();
        }
        Ok(report)
    }

    async fn preview_cancel_all_regions(&self, test_id: &str) -> Result<CleanupPreview> {
        self.engine.preview_cancel_all_regions(test_id).await
    }

    async fn find_created(&self) -> Result<Vec<Reservation>> {
        self.engine.find_created().await
    }

    async fn cancel_created(
        &self,
        listing: &[Reservation],
        chosen: &[Reservation],
    ) -> Result<CancelReport> {
        Ok(self.engine.cancel_created(listing, chosen.to_vec()).await)
    }

    async fn preflight(&self, params: &Params) -> Result<PreflightReport> {
        let plan = self.plan(params)?;
        Ok(self.engine.preflight(&plan).await)
    }

    async fn discover(&self, params: &Params) -> Result<ReservationSet> {
        let plan = self.plan(params)?;
        let set = self.engine.discover(&plan).await?;
        self.remember(&set);
        Ok(set)
    }

    fn instance_target(
        &self,
        zone: &str,
        instance_type: &str,
    ) -> Result<Option<serde_json::Value>> {
        let adapter = self.engine.adapter().clone();
        self.find_current(zone, instance_type, |r| adapter.instance_target(r))
    }
}

/// `set` as JSON with each reservation's `instance_target` (what a provisioner puts into its
/// create-instance request, `null` when the backend has none), as the CLI's `--output json`
/// and the Python package hand it to programs.
pub fn set_with_instance_targets(
    set: &ReservationSet,
    backend: &dyn CapacityReservation,
) -> serde_json::Value {
    let mut v = serde_json::to_value(set).unwrap_or(serde_json::Value::Null);
    let regions = v
        .get_mut("regions")
        .and_then(serde_json::Value::as_array_mut);
    for r in regions
        .into_iter()
        .flatten()
        .filter_map(|region| region.get_mut("reservations"))
        .filter_map(serde_json::Value::as_array_mut)
        .flatten()
    {
        let zone = r["zone"].as_str().unwrap_or_default().to_string();
        let instance_type = r["instance_type"].as_str().unwrap_or_default().to_string();
        r["instance_target"] = backend
            .instance_target(&zone, &instance_type)
            .ok()
            .flatten()
            .unwrap_or(serde_json::Value::Null);
    }
    v
}

/// The placeholder of a backend whose cloud adapter is not written yet: every operation fails
/// with [`Error::NotImplemented`], so it can never be mistaken for success.
#[derive(Debug, Clone, Copy)]
pub struct NotImplementedBackend(pub Cloud);

impl NotImplementedBackend {
    fn fail<T>(&self, operation: &str) -> Result<T> {
        Err(Error::NotImplemented {
            backend: self.0,
            operation: operation.to_string(),
        })
    }
}

#[async_trait]
impl CapacityReservation for NotImplementedBackend {
    fn cloud(&self) -> Cloud {
        self.0
    }
    fn is_enabled(&self, _params: &Params) -> Result<bool> {
        self.fail("is_enabled")
    }
    async fn reserve_until(
        &self,
        _params: &Params,
        _cancel: CancellationToken,
    ) -> Result<ReservationSet> {
        self.fail("reserve")
    }
    fn get_id(&self, _zone: &str, _instance_type: &str) -> Result<Option<ReservationId>> {
        self.fail("get_id")
    }
    async fn cancel(&self, _params: &Params) -> Result<CancelReport> {
        self.fail("cancel")
    }
    async fn cancel_all_regions(&self, _test_id: &str) -> Result<CancelReport> {
        self.fail("cancel_all_regions")
    }
    async fn preview_cancel_all_regions(&self, _test_id: &str) -> Result<CleanupPreview> {
        self.fail("preview_cancel_all_regions")
    }
    async fn find_created(&self) -> Result<Vec<Reservation>> {
        self.fail("find_created")
    }
    async fn cancel_created(
        &self,
        _listing: &[Reservation],
        _chosen: &[Reservation],
    ) -> Result<CancelReport> {
        self.fail("cancel_created")
    }
    async fn discover(&self, _params: &Params) -> Result<ReservationSet> {
        self.fail("discover")
    }
    async fn preflight(&self, _params: &Params) -> Result<PreflightReport> {
        self.fail("preflight")
    }
    fn instance_target(
        &self,
        _zone: &str,
        _instance_type: &str,
    ) -> Result<Option<serde_json::Value>> {
        self.fail("instance_target")
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::adapter::{MockCloudAdapter, RegionHandle};
    use crate::error::{CloudError, ErrorKind};
    use crate::model::{CancelOutcome, Reservation, ReservationState};

    fn params() -> Params {
        let env: BTreeMap<String, String> = [
            ("SCT_CLUSTER_BACKEND", "aws"),
            ("SCT_TEST_ID", "t-1"),
            ("SCT_INSTANCE_PROVISION", "on_demand"),
            ("SCT_USE_CAPACITY_RESERVATION", "true"),
            ("SCT_REGION_NAME", "eu-west-1"),
            ("SCT_AVAILABILITY_ZONE", "a"),
            ("SCT_INSTANCE_TYPE_DB", "i4i.large"),
            ("SCT_N_DB_NODES", "3"),
            ("SCT_N_LOADERS", "0"),
            ("SCT_N_MONITOR_NODES", "0"),
            ("SCT_NEMESIS_ADD_NODE_CNT", "0"),
            ("SCT_TEST_DURATION", "60"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        Params::load(&[], &env).unwrap()
    }

    #[tokio::test]
    async fn a_failed_cancel_keeps_the_remembered_set() {
        let mut m = MockCloudAdapter::new();
        m.expect_cloud().return_const(Cloud::Aws);
        m.expect_resolve_zones().returning(|_, z| Ok(z.to_vec()));
        m.expect_zones()
            .returning(|_, _| Ok(vec!["eu-west-1a".into()]));
        m.expect_prepare_region()
            .returning(|_| Ok(RegionHandle::default()));
        let live: std::sync::Arc<std::sync::Mutex<Vec<Reservation>>> = Default::default();
        let (made, listed) = (live.clone(), live.clone());
        m.expect_create().returning(move |req| {
            let r = Reservation {
                id: ReservationId("cr-1".into()),
                cloud: Cloud::Aws,
                region: req.region.clone(),
                zone: Some(req.zone.clone()),
                instance_type: req.demand.instance_type.clone(),
                count: req.demand.count,
                used: None,
                end_time: Some(req.end_time),
                created: None,
                state: ReservationState::Active,
                tags: req.tags.0.clone(),
                extra: BTreeMap::new(),
            };
            made.lock().unwrap().push(r.clone());
            Ok(r)
        });
        m.expect_find()
            .returning(move |_, _| Ok(listed.lock().unwrap().clone()));
        let refusals = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
        let refuse = refusals.clone();
        m.expect_cancel().returning(move |_| {
            if refuse.load(std::sync::atomic::Ordering::SeqCst) {
                Err(CloudError::new(
                    ErrorKind::Unauthorized,
                    Cloud::Aws,
                    "CancelCapacityReservation",
                    "UnauthorizedOperation",
                    "no",
                )
                .into())
            } else {
                Ok(CancelOutcome::Cancelled)
            }
        });
        m.expect_finish_region().returning(|_, _| Ok(()));
        let backend = EngineBackend::new(Arc::new(m), RetryPolicy::none());
        let params = params();

        backend.reserve(&params).await.unwrap();
        // SCT asks by the zone's letter.
        assert_eq!(
            backend.get_id("a", "i4i.large").unwrap(),
            Some(ReservationId("cr-1".into()))
        );
        let report = backend.cancel(&params).await.unwrap();
        assert!(!report.is_complete());
        assert_eq!(
            backend.get_id("eu-west-1a", "i4i.large").unwrap(),
            Some(ReservationId("cr-1".into())),
            "still held, so still known"
        );
        refusals.store(false, std::sync::atomic::Ordering::SeqCst);
        assert!(backend.cancel(&params).await.unwrap().is_complete());
        assert_eq!(backend.get_id("eu-west-1a", "i4i.large").unwrap(), None);
    }

    #[test]
    fn is_enabled_reports_a_broken_configuration_instead_of_false() {
        let mut env = BTreeMap::new();
        env.insert("SCT_CLUSTER_BACKEND".to_string(), "aws".to_string());
        env.insert("SCT_TEST_ID".to_string(), "t-1".to_string());
        env.insert(
            "SCT_INSTANCE_PROVISION".to_string(),
            "on_demand".to_string(),
        );
        env.insert(
            "SCT_USE_CAPACITY_RESERVATION".to_string(),
            "true".to_string(),
        );
        env.insert(
            "SCT_REGION_NAME".to_string(),
            "us-east-1 us-east-1".to_string(),
        );
        env.insert("SCT_N_DB_NODES".to_string(), "1 1".to_string());
        env.insert("SCT_INSTANCE_TYPE_DB".to_string(), "i4i.large".to_string());
        let mut m = MockCloudAdapter::new();
        m.expect_cloud().return_const(Cloud::Aws);
        let backend = EngineBackend::new(Arc::new(m), RetryPolicy::none());
        let broken = Params::load(&[], &env).unwrap();
        let err = backend.is_enabled(&broken).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidConfig, "{err}");
        assert!(backend.is_enabled(&params()).unwrap());
    }
}
