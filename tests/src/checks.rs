//! The checks of the contract suite. Each starts its own emulator, so they run in parallel
//! and in any order; each panics with what went wrong.

use std::collections::BTreeSet;
use std::time::Duration;

use cr_core::adapter::{CreateRequest, RegionRequest};
use cr_core::error::ErrorKind;
use cr_core::model::{CancelOutcome, Reservation, ReservationState};
use cr_core::orphans::{self, OrphanRules};
use cr_core::preflight::{Area, Finding, PreflightReport, Status};
use cr_core::{CapacityReservation, Error, ReservationSet};
use cr_emulator::{AuditRecord, AuditState, Fault, FaultKind, Scenario};

use crate::{
    ContractTarget, Credentials, Fixture, Placement, TestConfig, base_scenario, cloud_kind,
    limit_to_db_nodes, retry_policy, set_capacity,
};

/// One minute: the tolerance of an end time (clouds may round it).
const END_TIME_TOLERANCE_SECS: i64 = 60;

fn sorted_demands(set: &ReservationSet, region: &str) -> Vec<(String, u32)> {
    let mut d: Vec<(String, u32)> = set
        .regions
        .iter()
        .filter(|r| r.region == region)
        .flat_map(|r| r.reservations.iter())
        .map(|r| (r.instance_type.clone(), r.count))
        .collect();
    d.sort();
    d
}

fn audit_demands(records: &[AuditRecord]) -> Vec<(String, u32)> {
    let mut d: Vec<(String, u32)> = records
        .iter()
        .map(|r| (r.instance_type.clone(), r.count))
        .collect();
    d.sort();
    d
}

/// Whether `record` is the reservation a backend calls `id` (clouds with names report the
/// name as the id; the audit keeps both).
fn is_record_of(record: &AuditRecord, id: &str) -> bool {
    record.id == id || record.name == id
}

fn ids(set: &ReservationSet) -> BTreeSet<String> {
    set.reservations().map(|r| r.id.0.clone()).collect()
}

/// The zone's letter as SCT writes it: `b` of `us-east1-b`, `a` of `eu-west-1a`.
fn zone_letter(zone: &str) -> &str {
    &zone[zone.len() - 1..]
}

fn expect_ok<T>(what: &str, result: cr_core::Result<T>) -> T {
    result.unwrap_or_else(|e| panic!("{what} failed: {e}"))
}

async fn reserve(backend: &dyn CapacityReservation, fx: &Fixture) -> ReservationSet {
    expect_ok("reserve", backend.reserve(&fx.params).await)
}

/// Cancels everything `backend` holds for the test and checks the audit shows nothing live.
async fn cancel_and_check(backend: &dyn CapacityReservation, fx: &Fixture) {
    let report = expect_ok("cancel", backend.cancel(&fx.params).await);
    assert!(report.is_complete(), "cancel left {:?}", report.failed);
    let live = fx.live(backend.cloud());
    assert!(live.is_empty(), "still live after cancel: {live:?}");
}

/// Reserves in the configured zone: one reservation per instance type with the plan's
/// counts; the audit holds exactly those; ids and instance targets are answered.
pub async fn happy_path(t: &dyn ContractTarget) {
    let fx = Fixture::start(
        t,
        base_scenario(),
        TestConfig::single("7c86f6de-happy-path"),
    )
    .await;
    let backend = expect_ok(
        "building the backend",
        fx.backend(t, Credentials::Valid).await,
    );
    assert!(expect_ok("is_enabled", backend.is_enabled(&fx.params)));
    let set = reserve(&backend, &fx).await;

    assert_eq!(set.test_id, fx.config.test_id);
    assert_eq!(set.regions.len(), 1, "{set:?}");
    let region = &set.regions[0];
    assert_eq!(region.region, fx.region(0));
    assert_eq!(
        region.zone.as_deref(),
        Some(fx.zone(0)),
        "the configured zone has capacity"
    );
    assert_eq!(sorted_demands(&set, fx.region(0)), fx.demands(fx.region(0)));
    for r in &region.reservations {
        assert_eq!(r.zone.as_deref(), Some(fx.zone(0)));
        assert_eq!(r.region, fx.region(0));
        assert_eq!(
            r.state,
            ReservationState::Active,
            "reserve returns usable reservations only: {r:?}"
        );
        assert_eq!(
            expect_ok(
                "get_id",
                backend.get_id(r.zone.as_deref().unwrap_or_default(), &r.instance_type)
            ),
            Some(r.id.clone())
        );
        let target = expect_ok(
            "instance_target",
            backend.instance_target(r.zone.as_deref().unwrap_or_default(), &r.instance_type),
        )
        .expect("an instance target for a held reservation");
        assert!(
            target.to_string().contains(&r.id.0),
            "the instance target {target} must name {}",
            r.id
        );
    }
    assert_eq!(
        expect_ok("get_id", backend.get_id(fx.zone(0), "no-such-type")),
        None
    );
    // SCT asks by the zone's letter.
    let letter = zone_letter(fx.zone(0));
    assert_eq!(
        expect_ok(
            "get_id by letter",
            backend.get_id(letter, &fx.layout.db_type)
        ),
        set.get_id(fx.zone(0), &fx.layout.db_type).unwrap().cloned(),
        "get_id({letter:?}) finds the reservation in {}",
        fx.zone(0)
    );

    let live = fx.live(t.cloud());
    assert_eq!(audit_demands(&live), fx.demands(fx.region(0)));
    for record in &live {
        assert_eq!(record.zone, fx.zone(0));
        assert!(
            region
                .reservations
                .iter()
                .any(|r| is_record_of(record, &r.id.0)),
            "the audit holds {record:?}, which reserve did not return"
        );
    }
    cancel_and_check(&backend, &fx).await;
}

/// The base scenario with `available` instances of `instance_type` in the first zone of the
/// first region (0: out of stock; negative: not offered there).
fn first_zone_with(t: &dyn ContractTarget, instance_type: &str, available: i64) -> Scenario {
    let layout = t.layout();
    let first = &layout.regions[0];
    let mut scenario = base_scenario();
    set_capacity(
        &mut scenario,
        t.cloud(),
        &first.region,
        &first.zones[0],
        instance_type,
        available,
    );
    scenario
}

/// The configured zone is out of one type: the zone's partial reservations are cancelled
/// (proven by the audit) and the whole set lands in another zone of the region.
pub async fn stockout_falls_back_to_the_next_zone(t: &dyn ContractTarget) {
    let layout = t.layout();
    let scenario = first_zone_with(t, &layout.loader_type, 0);
    let fx = Fixture::start(t, scenario, TestConfig::single("5c0ff1e0-stockout")).await;
    let backend = expect_ok(
        "building the backend",
        fx.backend(t, Credentials::Valid).await,
    );
    let set = reserve(&backend, &fx).await;

    let region = &set.regions[0];
    assert_ne!(
        region.zone.as_deref(),
        Some(fx.zone(0)),
        "the stocked-out zone cannot hold the set"
    );
    assert_eq!(sorted_demands(&set, fx.region(0)), fx.demands(fx.region(0)));

    let audit = fx.audit(t.cloud());
    let in_first: Vec<&AuditRecord> = audit.iter().filter(|r| r.zone == fx.zone(0)).collect();
    assert!(
        in_first
            .iter()
            .any(|r| r.instance_type == layout.db_type && r.state == AuditState::Cancelled),
        "the first zone's partial reservation ({}) must have been made and cancelled: {in_first:?}",
        layout.db_type
    );
    assert!(
        in_first.iter().all(|r| r.state.is_ended()),
        "nothing may stay held in the stocked-out zone: {in_first:?}"
    );
    let live = fx.live(t.cloud());
    assert_eq!(audit_demands(&live), fx.demands(fx.region(0)));
    assert!(
        live.iter()
            .all(|r| region.zone.as_deref() == Some(r.zone.as_str())),
        "{live:?}"
    );
    cancel_and_check(&backend, &fx).await;
}

/// A quota too small in every zone: reserve fails, every zone tried reports the quota code,
/// and nothing is held.
pub async fn quota_exceeded_fails_and_names_the_code(t: &dyn ContractTarget) {
    let layout = t.layout();
    let mut scenario = base_scenario();
    limit_to_db_nodes(t, &mut scenario, &layout.regions[0].region, 2);
    let fx = Fixture::start(t, scenario, TestConfig::single("9a07a000-quota")).await;
    let backend = expect_ok(
        "building the backend",
        fx.backend(t, Credentials::Valid).await,
    );
    let err = backend
        .reserve(&fx.params)
        .await
        .expect_err("the quota cannot hold 3 db nodes");
    let text = err.to_string();
    assert!(
        text.contains(t.quota_code()),
        "the error must name {}: {text}",
        t.quota_code()
    );
    if cr_emulator::quota::per_zone(cloud_kind(t.cloud())) {
        // A quota per availability domain (OCI's core limits): each zone is tried and
        // refuses with the quota error.
        let Error::NoZoneAvailable { attempts, .. } = &err else {
            panic!("expected NoZoneAvailable for a per-zone quota, got {err}");
        };
        assert_eq!(attempts.len(), layout.regions[0].zones.len(), "{err}");
        for a in attempts {
            assert_eq!(a.error.kind, ErrorKind::QuotaExceeded, "{a:?}");
        }
    } else {
        // A regional quota: trying the region's other zones is futile, and the message says
        // which quota to raise, for which scope.
        let Error::QuotaExhausted {
            error, attempts, ..
        } = &err
        else {
            panic!("expected QuotaExhausted, got {err}");
        };
        assert_eq!(error.kind, ErrorKind::QuotaExceeded, "{error:?}");
        assert!(attempts.is_empty(), "no other zone was tried: {attempts:?}");
        assert!(text.contains("raise that quota"), "{text}");
        assert!(text.contains("region"), "{text}");
        let zones_tried: BTreeSet<String> =
            fx.audit(t.cloud()).iter().map(|r| r.zone.clone()).collect();
        assert!(
            zones_tried.len() <= 1,
            "creates reached at most the first zone: {zones_tried:?}"
        );
    }
    let live = fx.live(t.cloud());
    assert!(
        live.is_empty(),
        "nothing may be held after a failed reserve: {live:?}"
    );
}

/// The create call is throttled twice, then succeeds: the backend retries and reserves.
pub async fn throttling_then_success(t: &dyn ContractTarget) {
    let mut scenario = base_scenario();
    scenario.faults.push(Fault {
        cloud: cloud_kind(t.cloud()),
        operation: t.create_operation().to_string(),
        kind: FaultKind::Throttle,
        rate: 1.0,
        limit: Some(2),
        garbage: None,
    });
    let fx = Fixture::start(t, scenario, TestConfig::single("7a2077e0-throttle")).await;
    let backend = expect_ok(
        "building the backend",
        fx.backend(t, Credentials::Valid).await,
    );
    let set = reserve(&backend, &fx).await;
    assert_eq!(set.regions[0].zone.as_deref(), Some(fx.zone(0)));
    assert_eq!(audit_demands(&fx.live(t.cloud())), fx.demands(fx.region(0)));
    let throttled = fx
        .emulator
        .requests()
        .into_iter()
        .filter(|r| {
            r.operation.eq_ignore_ascii_case(t.create_operation())
                && r.fault == Some(FaultKind::Throttle)
        })
        .count();
    assert_eq!(throttled, 2, "both throttles were answered and retried");
    cancel_and_check(&backend, &fx).await;
}

/// Rejected credentials stop everything at once: an unauthorized error (not a zone
/// fallback), and nothing held.
pub async fn unauthorized_stops_without_fallback(t: &dyn ContractTarget) {
    let fx = Fixture::start(
        t,
        base_scenario(),
        TestConfig::single("0bad0c0d-unauthorized"),
    )
    .await;
    let err = match fx.backend(t, Credentials::Invalid).await {
        Err(e) => e,
        Ok(backend) => {
            let err = backend
                .reserve(&fx.params)
                .await
                .expect_err("rejected credentials cannot reserve");
            let cancel = backend.cancel(&fx.params).await;
            assert!(
                cancel.is_err(),
                "a cancel with rejected credentials cannot claim success: {cancel:?}"
            );
            err
        }
    };
    assert_eq!(err.kind(), ErrorKind::Unauthorized, "{err}");
    assert!(
        !matches!(err, Error::NoZoneAvailable { .. }),
        "unauthorized must not fall back across zones: {err}"
    );
    let audit = fx.audit(t.cloud());
    assert!(audit.is_empty(), "nothing may be reserved: {audit:?}");
}

/// Cancel releases every reservation (the audit shows them cancelled); a second cancel and a
/// discover find nothing.
pub async fn cancel_leaves_nothing_active(t: &dyn ContractTarget) {
    let fx = Fixture::start(t, base_scenario(), TestConfig::single("ca9ce100-cancel")).await;
    let backend = expect_ok(
        "building the backend",
        fx.backend(t, Credentials::Valid).await,
    );
    let set = reserve(&backend, &fx).await;
    let report = expect_ok("cancel", backend.cancel(&fx.params).await);
    assert!(report.is_complete(), "{:?}", report.failed);
    let cancelled: BTreeSet<String> = report.cancelled.iter().map(|r| r.id.0.clone()).collect();
    assert_eq!(cancelled, ids(&set));
    for record in fx.audit(t.cloud()) {
        assert_eq!(record.state, AuditState::Cancelled, "{record:?}");
    }
    assert!(fx.live(t.cloud()).is_empty());
    assert_eq!(
        expect_ok("get_id", backend.get_id(fx.zone(0), &fx.layout.db_type)),
        None
    );

    let again = expect_ok("a second cancel", backend.cancel(&fx.params).await);
    assert!(again.cancelled.is_empty(), "{again:?}");
    assert!(again.is_complete());
    let found = expect_ok("discover", backend.discover(&fx.params).await);
    assert!(found.is_empty(), "{found:?}");
}

/// cancel_all_regions finds the test's reservations in three regions — two reserved by cr
/// in a two-data-centre test, one made outside cr — and leaves another test's alone.
pub async fn cancel_all_regions_finds_every_region(t: &dyn ContractTarget) {
    let config = TestConfig {
        placements: vec![
            Placement { region: 0, zone: 0 },
            Placement { region: 1, zone: 0 },
        ],
        db_nodes: 1,
        loaders: 1,
        ..TestConfig::single("a11a11a1-all-regions")
    };
    let fx = Fixture::start(t, base_scenario(), config).await;
    let backend = expect_ok(
        "building the backend",
        fx.backend(t, Credentials::Valid).await,
    );
    let set = reserve(&backend, &fx).await;
    assert_eq!(set.regions.len(), 2, "{set:?}");

    let third = &fx.layout.regions[2];
    let outside = t
        .create_outside(
            &fx.emulator,
            &fx.config.test_id,
            &third.region,
            &third.zones[0],
            &fx.layout.db_type,
        )
        .await;
    let foreign = t
        .create_outside(
            &fx.emulator,
            "f0e1f0e1-another-test",
            fx.region(0),
            fx.zone(0),
            &fx.layout.db_type,
        )
        .await;

    // A new process: only the test id is known.
    let fresh = expect_ok(
        "building the backend",
        fx.backend(t, Credentials::Valid).await,
    );
    let report = expect_ok(
        "cancel_all_regions",
        fresh.cancel_all_regions(&fx.config.test_id).await,
    );
    assert!(report.is_complete(), "{:?}", report.failed);
    let cancelled: BTreeSet<String> = report.cancelled.iter().map(|r| r.id.0.clone()).collect();
    let mut expected = ids(&set);
    assert_eq!(
        cancelled.len(),
        expected.len() + 1,
        "cr's reservations and the one made outside cr: {cancelled:?}"
    );
    expected.retain(|id| !cancelled.contains(id));
    assert!(expected.is_empty(), "not cancelled: {expected:?}");
    let regions: BTreeSet<&str> = report.cancelled.iter().map(|r| r.region.as_str()).collect();
    assert_eq!(regions.len(), 3, "{regions:?}");

    let audit = fx.audit(t.cloud());
    let outside_record = audit
        .iter()
        .find(|r| is_record_of(r, &outside))
        .expect("the outside reservation is in the audit");
    assert!(outside_record.state.is_ended(), "{outside_record:?}");
    let foreign_record = audit
        .iter()
        .find(|r| is_record_of(r, &foreign))
        .expect("the other test's reservation is in the audit");
    assert!(
        !foreign_record.state.is_ended(),
        "another test's reservation must survive: {foreign_record:?}"
    );
    let live = fx.live(t.cloud());
    assert_eq!(
        live.len(),
        1,
        "only the other test's reservation is left: {live:?}"
    );
}

/// A new backend instance (a restart) rebuilds the set from the cloud, answers ids and
/// instance targets from it, and a reserve reuses it instead of reserving twice.
pub async fn discover_after_restart(t: &dyn ContractTarget) {
    let fx = Fixture::start(t, base_scenario(), TestConfig::single("d15c0ae1-discover")).await;
    let first = expect_ok(
        "building the backend",
        fx.backend(t, Credentials::Valid).await,
    );
    let set = reserve(&first, &fx).await;
    drop(first);

    let second = expect_ok(
        "building the backend",
        fx.backend(t, Credentials::Valid).await,
    );
    let (zone, db_type) = (fx.zone(0).to_string(), fx.layout.db_type.clone());
    assert_eq!(
        expect_ok("get_id", second.get_id(&zone, &db_type)),
        None,
        "nothing known before discover"
    );
    let found = expect_ok("discover", second.discover(&fx.params).await);
    let key = |s: &ReservationSet| {
        let mut v: Vec<(String, String, String, u32)> = s
            .reservations()
            .map(|r| {
                (
                    r.zone.clone().unwrap_or_default(),
                    r.instance_type.clone(),
                    r.id.0.clone(),
                    r.count,
                )
            })
            .collect();
        v.sort();
        v
    };
    assert_eq!(key(&found), key(&set));
    assert_eq!(found.test_id, fx.config.test_id);
    assert_eq!(
        expect_ok("get_id", second.get_id(&zone, &db_type)),
        set.get_id(&zone, &db_type).unwrap().cloned()
    );
    assert!(expect_ok("instance_target", second.instance_target(&zone, &db_type)).is_some());

    let records_before = fx.audit(t.cloud()).len();
    let again = reserve(&second, &fx).await;
    assert_eq!(ids(&again), ids(&set), "a complete set is reused");
    assert_eq!(
        fx.audit(t.cloud()).len(),
        records_before,
        "nothing new reserved"
    );
    cancel_and_check(&second, &fx).await;
}

async fn retried_create_is_not_doubled(t: &dyn ContractTarget, fault: FaultKind, test_id: &str) {
    let scenario = with_create_fault(t, fault, Some(1));
    let fx = Fixture::start(t, scenario, TestConfig::single(test_id)).await;
    let backend = expect_ok(
        "building the backend",
        fx.backend(t, Credentials::Valid).await,
    );
    let set = reserve(&backend, &fx).await;
    assert_eq!(set.regions[0].zone.as_deref(), Some(fx.zone(0)));
    // A hung request is abandoned by the client before the emulator logs it; the others are
    // logged with their fault.
    if fault != FaultKind::Hang {
        assert!(
            fx.emulator
                .requests()
                .iter()
                .any(|r| r.fault == Some(fault) && r.operation == t.create_operation()),
            "the {fault:?} fault was injected into a create"
        );
    }
    let audit = fx.audit(t.cloud());
    assert_eq!(
        audit_demands(&audit),
        fx.demands(fx.region(0)),
        "exactly one reservation per type, none doubled or left behind: {audit:?}"
    );
    assert!(audit.iter().all(|r| !r.state.is_ended()), "{audit:?}");
    cancel_and_check(&backend, &fx).await;
}

/// The first create hangs until the client gives up; the retry reserves exactly once.
pub async fn create_retried_after_a_hang_is_not_doubled(t: &dyn ContractTarget) {
    retried_create_is_not_doubled(t, FaultKind::Hang, "0a1b2c3d-hang").await;
}

/// The first create's connection is reset; the retry reserves exactly once.
pub async fn create_retried_after_a_reset_is_not_doubled(t: &dyn ContractTarget) {
    retried_create_is_not_doubled(t, FaultKind::ConnectionReset, "4e5f6a7b-reset").await;
}

/// The first create is carried out but its reply is lost (the connection drops after the
/// cloud reserved): the retry, with the same idempotency token, gets the same reservation
/// back instead of reserving a second time.
pub async fn create_retried_after_a_lost_reply_is_not_doubled(t: &dyn ContractTarget) {
    retried_create_is_not_doubled(t, FaultKind::LostReply, "8c9d0e1f-lost").await;
}

/// The adapter's create is idempotent for the same request (same attempt), and cancelling
/// twice reports the second as already gone.
pub async fn adapter_create_is_idempotent(t: &dyn ContractTarget) {
    let fx = Fixture::start(
        t,
        base_scenario(),
        TestConfig::single("1de70000-idempotent"),
    )
    .await;
    let adapter = expect_ok(
        "building the adapter",
        t.adapter(&fx.emulator, &fx.params, Credentials::Valid)
            .await,
    );
    // As the engine does: the region is prepared first (Azure's group), its handle rides
    // along in the create.
    let region_handle = expect_ok(
        "prepare_region",
        adapter
            .prepare_region(&RegionRequest {
                test_id: fx.config.test_id.clone(),
                region: fx.region(0).to_string(),
                zones: vec![fx.zone(0).to_string()],
                demands: fx.plan.regions[0].demands.clone(),
                end_time: fx.plan.end_time,
                tags: fx.plan.tags.clone(),
            })
            .await,
    );
    let request = CreateRequest {
        test_id: fx.config.test_id.clone(),
        region: fx.region(0).to_string(),
        zone: fx.zone(0).to_string(),
        demand: fx.plan.regions[0].demands[0].clone(),
        end_time: fx.plan.end_time,
        tags: fx.plan.tags.clone(),
        attempt: 1,
        region_handle,
    };
    let a: Reservation = expect_ok("create", adapter.create(&request).await);
    let b: Reservation = expect_ok("the same create again", adapter.create(&request).await);
    assert_eq!(a.id, b.id);
    let audit = fx.audit(t.cloud());
    assert_eq!(audit.len(), 1, "one reservation for one request: {audit:?}");
    assert_eq!(
        expect_ok("cancel", adapter.cancel(&a).await),
        CancelOutcome::Cancelled
    );
    assert_eq!(
        expect_ok("a second cancel", adapter.cancel(&a).await),
        CancelOutcome::AlreadyGone
    );
    assert!(fx.live(t.cloud()).is_empty());
}

/// Every reservation carries the plan's end time (± a minute), and the cloud ends them on its
/// own when that time passes. A cloud without native expiry (Azure, OCI) claims no end time and
/// keeps the reservations until cancelled.
pub async fn expiry_is_set(t: &dyn ContractTarget) {
    let fx = Fixture::start(t, base_scenario(), TestConfig::single("e0e0e0e0-expiry")).await;
    let backend = expect_ok(
        "building the backend",
        fx.backend(t, Credentials::Valid).await,
    );
    let set = reserve(&backend, &fx).await;
    if !t.expires_natively() {
        // The cloud has no end time: cr must not claim one, and the cloud keeps holding the
        // reservations past the plan's end (only a cancel releases them).
        for r in set.reservations() {
            assert_eq!(
                r.end_time, None,
                "{} claims an end time the cloud has not",
                r.id
            );
        }
        let until_end = (fx.plan.end_time - jiff::Timestamp::now()).as_secs().max(0) as u64;
        fx.emulator.advance_clock(Duration::from_secs(
            until_end + 2 * END_TIME_TOLERANCE_SECS as u64,
        ));
        assert_eq!(audit_demands(&fx.live(t.cloud())), fx.demands(fx.region(0)));
        cancel_and_check(&backend, &fx).await;
        return;
    }
    for r in set.reservations() {
        let end = r
            .end_time
            .unwrap_or_else(|| panic!("{} has no end time", r.id));
        let off = (end - fx.plan.end_time).as_secs().abs();
        assert!(
            off <= END_TIME_TOLERANCE_SECS,
            "{} ends at {end}, the plan at {}",
            r.id,
            fx.plan.end_time
        );
    }
    let until_end = (fx.plan.end_time - jiff::Timestamp::now()).as_secs().max(0) as u64;
    fx.emulator.advance_clock(Duration::from_secs(
        until_end + 2 * END_TIME_TOLERANCE_SECS as u64,
    ));
    let audit = fx.audit(t.cloud());
    assert!(!audit.is_empty());
    for record in audit {
        assert_eq!(record.state, AuditState::Expired, "{record:?}");
    }
}

/// The backend the registry builds from the CLI's options (endpoint, CA bundle, credentials
/// from the environment overlay) reserves and cancels.
pub async fn registry_backend_reserves_and_cancels(t: &dyn ContractTarget) {
    let fx = Fixture::start(t, base_scenario(), TestConfig::single("4e915700-registry")).await;
    let registration = cr_core::registry::find(t.backend_name())
        .unwrap_or_else(|| panic!("backend {} is not registered", t.backend_name()));
    assert_eq!(registration.cloud, t.cloud());
    let mut options = t.registry_options(&fx.emulator, fx.dir.path());
    options.retry = retry_policy();
    let backend = expect_ok(
        "constructing the registered backend",
        (registration.construct)(fx.params.clone(), options).await,
    );
    let set = expect_ok("reserve", backend.reserve(&fx.params).await);
    assert_eq!(set.regions[0].zone.as_deref(), Some(fx.zone(0)));
    assert_eq!(audit_demands(&fx.live(t.cloud())), fx.demands(fx.region(0)));
    cancel_and_check(backend.as_ref(), &fx).await;
    let policy = expect_ok("permissions", (registration.permissions)());
    assert!(
        !policy.to_string().is_empty() && policy.is_object(),
        "the permission policy is a JSON document: {policy}"
    );
}

/// The scenario with `fault` on every create (`limit`: how many creates it hits).
fn with_create_fault(
    t: &dyn ContractTarget,
    fault: FaultKind,
    limit: Option<u64>,
) -> cr_emulator::Scenario {
    let mut scenario = base_scenario();
    scenario.faults.push(Fault {
        cloud: cloud_kind(t.cloud()),
        operation: t.create_operation().to_string(),
        kind: fault,
        rate: 1.0,
        limit,
        garbage: None,
    });
    scenario
}

/// Every create is carried out by the cloud but its reply is lost: cr never learns an id.
/// The reserve fails, and the reservations the cloud made anyway are found by the test's tag
/// and released — the audit shows nothing active.
pub async fn every_reply_lost_leaves_nothing(t: &dyn ContractTarget) {
    let scenario = with_create_fault(t, FaultKind::LostReply, None);
    let fx = Fixture::start(t, scenario, TestConfig::single("10570000-all-lost")).await;
    let backend = expect_ok(
        "building the backend",
        fx.backend(t, Credentials::Valid).await,
    );
    let err = backend
        .reserve(&fx.params)
        .await
        .expect_err("no create ever answers, so reserve cannot succeed");
    assert!(
        err.kind().is_retryable(),
        "the failure is the lost answers (timeout/transient), not something else: {err}"
    );
    assert!(
        !fx.audit(t.cloud()).is_empty(),
        "the cloud did carry the creates out"
    );
    let live = fx.live(t.cloud());
    assert!(
        live.is_empty(),
        "every reservation made behind the lost replies is released: {live:?}"
    );
}

/// With long-running creates, reserve returns only once every reservation is usable.
pub async fn reserve_returns_only_usable_reservations(t: &dyn ContractTarget) {
    let mut scenario = base_scenario();
    scenario.lro_ms = 400;
    let fx = Fixture::start(t, scenario, TestConfig::single("0a7e0000-usable")).await;
    let backend = expect_ok(
        "building the backend",
        fx.backend(t, Credentials::Valid).await,
    );
    let set = reserve(&backend, &fx).await;
    for r in set.reservations() {
        assert_eq!(r.state, ReservationState::Active, "{r:?}");
    }
    let audit = fx.audit(t.cloud());
    assert_eq!(audit_demands(&audit), fx.demands(fx.region(0)));
    assert!(
        audit.iter().all(|r| r.state == AuditState::Active),
        "the cloud holds every reservation as usable when reserve returns: {audit:?}"
    );
    cancel_and_check(&backend, &fx).await;
}

/// One create is accepted and fails later (a long-running operation ending in an error).
/// That is never a success: cr creates again (a transient failure, with a fresh idempotency
/// token) or falls back to the next zone (a capacity failure), releases what failed, and
/// returns a set that is entirely usable and entirely held.
pub async fn a_create_failing_late_is_not_a_success(t: &dyn ContractTarget) {
    let mut scenario = with_create_fault(t, FaultKind::FailedLro, Some(1));
    scenario.lro_ms = 500;
    let fx = Fixture::start(t, scenario, TestConfig::single("fa11ed00-late")).await;
    let backend = expect_ok(
        "building the backend",
        fx.backend(t, Credentials::Valid).await,
    );
    let set = reserve(&backend, &fx).await;
    for r in set.reservations() {
        assert_eq!(r.state, ReservationState::Active, "{r:?}");
    }
    let audit = fx.audit(t.cloud());
    let live = fx.live(t.cloud());
    if t.recreates_in_place() {
        let creates = fx
            .emulator
            .requests()
            .iter()
            .filter(|r| r.operation == t.create_operation() && r.status < 400)
            .count();
        assert!(
            creates > fx.plan.regions[0].demands.len(),
            "the create that failed late was made again ({creates} accepted creates): {audit:?}"
        );
    } else {
        assert!(
            audit.len() > live.len(),
            "the create that failed late is in the audit, ended: {audit:?}"
        );
    }
    assert_eq!(audit_demands(&live), fx.demands(fx.region(0)));
    for record in &live {
        assert!(
            set.reservations().any(|r| is_record_of(record, &r.id.0)),
            "every reservation the cloud holds was returned, none failed: {record:?} vs {set:?}"
        );
    }
    cancel_and_check(&backend, &fx).await;
}

/// The caller cancels while creates are in flight: the reserve stops, lets them finish,
/// releases everything, and says it was interrupted.
pub async fn a_cancelled_reserve_leaves_nothing(t: &dyn ContractTarget) {
    let mut scenario = base_scenario();
    scenario.lro_ms = 1_000;
    let fx = Fixture::start(t, scenario, TestConfig::single("c4nce100-signal")).await;
    let backend = expect_ok(
        "building the backend",
        fx.backend(t, Credentials::Valid).await,
    );
    let token = cr_core::CancellationToken::new();
    let create_operation = t.create_operation();
    // Cancel once the first create has reached the cloud.
    let watcher = async {
        for _ in 0..500 {
            if fx
                .emulator
                .requests()
                .iter()
                .any(|r| r.operation == create_operation)
            {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        token.cancel();
    };
    let (result, ()) = tokio::join!(backend.reserve_until(&fx.params, token.clone()), watcher);
    let err = result.expect_err("a cancelled reserve fails");
    assert_eq!(err.kind(), ErrorKind::Interrupted, "{err}");
    assert!(
        !fx.audit(t.cloud()).is_empty(),
        "creates had reached the cloud before the cancel"
    );
    let live = fx.live(t.cloud());
    assert!(live.is_empty(), "nothing is left: {live:?}");
}

/// Two processes reserve the same test at once (two backends, each with its own adapter, as
/// two `cr reserve` runs would have): they converge on one set. Exactly the plan's capacity
/// is held afterwards, and both are told the same reservation ids.
pub async fn two_concurrent_reserves_converge_on_one_set(t: &dyn ContractTarget) {
    let mut scenario = base_scenario();
    scenario.lro_ms = 300;
    let fx = Fixture::start(t, scenario, TestConfig::single("2c0c0000-concurrent")).await;
    let first = expect_ok(
        "building the backend",
        fx.backend(t, Credentials::Valid).await,
    );
    let second = expect_ok(
        "building the backend",
        fx.backend(t, Credentials::Valid).await,
    );
    let (a, b) = tokio::join!(first.reserve(&fx.params), second.reserve(&fx.params));
    let a = expect_ok("the first reserve", a);
    let b = expect_ok("the second reserve", b);
    assert_eq!(ids(&a), ids(&b), "both runs are told the same reservations");
    let live = fx.live(t.cloud());
    assert_eq!(
        audit_demands(&live),
        fx.demands(fx.region(0)),
        "exactly the plan's capacity is held, not two sets: {live:?}"
    );
    for r in a.reservations() {
        assert_eq!(r.state, ReservationState::Active, "{r:?}");
    }
    cancel_and_check(&first, &fx).await;
}

/// The configured zone does not offer a demanded type at all: cr does not fail there (the old
/// tool's behaviour was to filter zones by what they offer), it reserves in the next zone.
/// Clouds that list offerings per zone (EC2) skip it before creating and say so in the result.
pub async fn a_zone_not_offering_a_type_is_left_for_the_next(t: &dyn ContractTarget) {
    let layout = t.layout();
    let scenario = first_zone_with(t, &layout.db_type, -1);
    let fx = Fixture::start(t, scenario, TestConfig::single("0ff00000-not-offered")).await;
    let backend = expect_ok(
        "building the backend",
        fx.backend(t, Credentials::Valid).await,
    );
    let set = reserve(&backend, &fx).await;
    let region = &set.regions[0];
    assert_ne!(region.zone.as_deref(), Some(fx.zone(0)), "{set:?}");
    let live = fx.live(t.cloud());
    assert_eq!(audit_demands(&live), fx.demands(fx.region(0)));
    assert!(
        live.iter()
            .all(|r| region.zone.as_deref() == Some(r.zone.as_str())),
        "{live:?}"
    );
    if t.cloud() == cr_core::Cloud::Aws {
        assert_eq!(
            region
                .skipped_zones
                .iter()
                .map(|z| z.zone.as_str())
                .collect::<Vec<_>>(),
            [fx.zone(0)],
            "EC2 lists offerings: the zone is skipped before any create"
        );
        assert!(
            fx.audit(t.cloud()).iter().all(|r| r.zone != fx.zone(0)),
            "nothing was created in the skipped zone"
        );
    }
    cancel_and_check(&backend, &fx).await;
}

/// A test id holding the filter languages' metacharacters (EC2's `\` escape and `*` `?`
/// wildcards, quotes and parentheses of GCE's filter, RE2's `.+[]`) still finds its own
/// reservations: cancel releases exactly what reserve made.
pub async fn a_test_id_with_filter_metacharacters_is_found_again(t: &dyn ContractTarget) {
    let fx = Fixture::start(
        t,
        base_scenario(),
        TestConfig::single(r#"5e7a\x*y?(q) "r".+[s]"#),
    )
    .await;
    let backend = expect_ok(
        "building the backend",
        fx.backend(t, Credentials::Valid).await,
    );
    let set = reserve(&backend, &fx).await;
    let found = expect_ok("discover", backend.discover(&fx.params).await);
    assert_eq!(ids(&found), ids(&set), "discover finds them by the test id");
    cancel_and_check(&backend, &fx).await;
}

/// A rerun with a changed plan (one more database node) ends holding exactly the new plan's
/// set, nothing of the earlier one. Where the cloud can hold both (its adapter says so for
/// every zone of the region), the new set is created before the earlier one is released, so
/// a stockout never costs what was held.
pub async fn a_rerun_with_a_changed_plan_replaces_the_set(t: &dyn ContractTarget) {
    let fx = Fixture::start(
        t,
        base_scenario(),
        TestConfig::single("5d0c1e2a-changed-plan"),
    )
    .await;
    let backend = expect_ok(
        "building the backend",
        fx.backend(t, Credentials::Valid).await,
    );
    let first = reserve(&backend, &fx).await;
    let mut changed = fx.config.clone();
    changed.db_nodes += 1;
    let params = crate::load_params(t, fx.dir.path(), &changed);
    let plan = expect_ok(
        "the changed plan",
        cr_core::plan::CapacityPlan::build(&params, t.cloud(), jiff::Timestamp::now()),
    );

    let second = expect_ok("the rerun", backend.reserve(&params).await);

    let wanted: Vec<(String, u32)> = {
        let mut d: Vec<(String, u32)> = plan.regions[0]
            .demands
            .iter()
            .map(|d| (d.instance_type.clone(), d.count))
            .collect();
        d.sort();
        d
    };
    assert_eq!(sorted_demands(&second, fx.region(0)), wanted);
    assert!(!second.regions[0].reused, "a changed plan is not a reuse");
    let live = fx.live(t.cloud());
    assert_eq!(
        audit_demands(&live),
        wanted,
        "the cloud holds the new set and nothing of the earlier one: {live:?}"
    );
    for record in &live {
        assert!(
            second.reservations().any(|r| is_record_of(record, &r.id.0)),
            "the audit holds {record:?}, which the rerun did not return"
        );
    }

    let adapter = expect_ok(
        "the adapter",
        t.adapter(&fx.emulator, &params, Credentials::Valid).await,
    );
    // What serves the changed plan as it is (the types whose count did not change) is used
    // again, not replaced.
    let new_zone = second.regions[0].zone.clone();
    let mut unchanged = 0;
    for old in first.reservations() {
        let serves = plan.regions[0]
            .demands
            .iter()
            .any(|d| d.instance_type == old.instance_type && d.count == old.count);
        if serves && old.zone == new_zone {
            unchanged += 1;
            assert!(
                second.reservations().any(|r| r.id == old.id),
                "{} ({} x {}) serves the changed plan as it is, yet the rerun replaced it: \
                 {second:?}",
                old.id,
                old.count,
                old.instance_type
            );
        }
    }
    assert!(
        unchanged > 0 || first.regions[0].zone != new_zone,
        "the check needs a type whose count the change leaves alone: {first:?}"
    );
    let zones = &fx.layout.regions[fx.config.placements[0].region].zones;
    let audit = fx.audit(t.cloud());
    for old in first
        .reservations()
        .filter(|old| !second.reservations().any(|r| r.id == old.id))
    {
        let beside = zones.iter().map(String::as_str).chain([""]).all(|zone| {
            plan.regions[0]
                .demands
                .iter()
                .all(|d| adapter.can_hold_beside(old, zone, d))
        });
        if !beside {
            continue;
        }
        let ended = audit
            .iter()
            .find(|r| is_record_of(r, &old.id.0))
            .and_then(|r| r.ended_at)
            .unwrap_or_else(|| panic!("{} of the earlier run was not released", old.id));
        for new in second.reservations() {
            let record = audit
                .iter()
                .find(|r| is_record_of(r, &new.id.0))
                .expect("the audit holds the new reservation");
            assert!(
                record.created_at < ended,
                "{} was released ({ended}) before {} was created ({}): the cloud can hold \
                 both, so the new set comes first",
                old.id,
                new.id,
                record.created_at
            );
        }
    }
    expect_ok("cancel", backend.cancel(&params).await);
    let live = fx.live(t.cloud());
    assert!(live.is_empty(), "still live after cancel: {live:?}");
}

// ---- Orphans (`cr orphans`) and `cr cleanup --dry-run` ----

/// Two tests reserved by cr (test A in region 0, test B in region 1, both long enough not to
/// expire during the check), and reservations cr did not make: one carrying A's `TestId`
/// tag but `CreatedBy=hand` (on GCE with cr's name prefix), and one without any tag (on GCE
/// named like cr's), both in region 2.
struct OrphanWorld {
    fx: Fixture,
    backend: cr_core::EngineBackend,
    a: ReservationSet,
    b: ReservationSet,
    /// The ids (or names) of the reservations cr did not make.
    foreign: Vec<String>,
}

const ORPHAN_TEST_A: &str = "0a0a0a0a-orphans-test-a";
const ORPHAN_TEST_B: &str = "0b0b0b0b-orphans-test-b";

async fn orphan_world(t: &dyn ContractTarget) -> OrphanWorld {
    let config_a = TestConfig {
        db_nodes: 2,
        loaders: 1,
        duration_minutes: 120,
        ..TestConfig::single(ORPHAN_TEST_A)
    };
    let fx = Fixture::start(t, base_scenario(), config_a).await;
    let backend = expect_ok(
        "building the backend",
        fx.backend(t, Credentials::Valid).await,
    );
    let a = reserve(&backend, &fx).await;
    let config_b = TestConfig {
        placements: vec![Placement { region: 1, zone: 0 }],
        db_nodes: 1,
        loaders: 0,
        duration_minutes: 600,
        ..TestConfig::single(ORPHAN_TEST_B)
    };
    let params_b = crate::load_params(t, fx.dir.path(), &config_b);
    let b = expect_ok("reserve of test B", backend.reserve(&params_b).await);
    let third = fx.layout.regions[2].clone();
    let outside = t
        .create_outside(
            &fx.emulator,
            ORPHAN_TEST_A,
            &third.region,
            &third.zones[0],
            &fx.layout.db_type,
        )
        .await;
    let untagged = t
        .create_untagged(
            &fx.emulator,
            &third.region,
            &third.zones[1],
            &fx.layout.db_type,
        )
        .await;
    OrphanWorld {
        fx,
        backend,
        a,
        b,
        foreign: vec![outside, untagged],
    }
}

impl OrphanWorld {
    /// Every reservation cr created, listed by a fresh backend (a new process knowing
    /// nothing): exactly tests A's and B's, in their regions, with their test ids.
    async fn listing(&self, t: &dyn ContractTarget) -> Vec<Reservation> {
        let fresh = expect_ok(
            "building the backend",
            self.fx.backend(t, Credentials::Valid).await,
        );
        let listing = expect_ok("find_created", fresh.find_created().await);
        let listed: BTreeSet<String> = listing.iter().map(|r| r.id.0.clone()).collect();
        let mut expected = ids(&self.a);
        expected.extend(ids(&self.b));
        assert_eq!(
            listed, expected,
            "every reservation cr made, in every region, and nothing else"
        );
        let audit = self.fx.audit(t.cloud());
        for f in &self.foreign {
            let record = audit
                .iter()
                .find(|a| is_record_of(a, f))
                .unwrap_or_else(|| panic!("the foreign reservation {f} is in the audit"));
            assert!(
                !listing.iter().any(|r| is_record_of(record, &r.id.0)),
                "a reservation cr did not make is listed: {record:?}"
            );
        }
        for r in &listing {
            let set = if self.a.reservations().any(|x| x.id == r.id) {
                &self.a
            } else {
                &self.b
            };
            let made = set
                .reservations()
                .find(|x| x.id == r.id)
                .expect("listed above");
            assert_eq!(
                r.tags.get(cr_core::tags::TEST_ID),
                Some(&set.test_id),
                "{r:?}"
            );
            assert_eq!(
                (&r.region, &r.zone, &r.instance_type, r.count),
                (&made.region, &made.zone, &made.instance_type, made.count),
                "the listing's fields are the cloud's: {r:?}"
            );
            assert!(
                r.created.is_some(),
                "the cloud's creation time is read: {r:?}"
            );
            assert!(
                r.state.is_live(),
                "only live reservations are listed: {r:?}"
            );
        }
        listing
    }

    /// The ids `rules` call orphans at `now`.
    fn orphans(
        listing: &[Reservation],
        rules: &OrphanRules,
        now: jiff::Timestamp,
    ) -> BTreeSet<String> {
        orphans::assess(listing.to_vec(), rules, now)
            .into_iter()
            .filter(|a| a.is_orphan())
            .map(|a| a.reservation.id.0)
            .collect()
    }

    /// The latest creation time of the listing (the rules' clock is set from it).
    fn newest(listing: &[Reservation]) -> jiff::Timestamp {
        listing
            .iter()
            .filter_map(|r| r.created)
            .max()
            .expect("creation times")
    }

    /// Checks that no reservation cr did not make was ended.
    fn foreign_untouched(&self, t: &dyn ContractTarget) {
        let audit = self.fx.audit(t.cloud());
        for f in &self.foreign {
            let record = audit
                .iter()
                .find(|r| is_record_of(r, f))
                .unwrap_or_else(|| panic!("the foreign reservation {f} is in the audit"));
            assert!(
                !record.state.is_ended(),
                "a reservation cr did not make was touched: {record:?}"
            );
        }
    }
}

/// Past its end time (the cloud's, or on Azure and OCI the planned end cr records in a tag):
/// test A's reservations once A's end has passed, not B's (which ends later).
pub async fn orphans_past_their_end_time(t: &dyn ContractTarget) {
    let w = orphan_world(t).await;
    let listing = w.listing(t).await;
    let end_a = w.fx.plan.end_time;
    for r in &listing {
        let end = orphans::end_time(r).unwrap_or_else(|| panic!("an end time is known: {r:?}"));
        let planned = if w.a.reservations().any(|x| x.id == r.id) {
            end_a
        } else {
            end_a + jiff::SignedDuration::from_mins(480)
        };
        assert!(
            (end.as_second() - planned.as_second()).abs() <= END_TIME_TOLERANCE_SECS,
            "{r:?} ends at {end}, planned {planned}"
        );
    }
    let rules = OrphanRules::default();
    assert!(
        OrphanWorld::orphans(&listing, &rules, jiff::Timestamp::now()).is_empty(),
        "nothing has ended yet"
    );
    let after_a = end_a + jiff::SignedDuration::from_mins(2);
    assert_eq!(
        OrphanWorld::orphans(&listing, &rules, after_a),
        ids(&w.a),
        "test A's reservations, past A's end"
    );
    w.foreign_untouched(t);
}

/// Older than `--older-than`: counted from the creation time the cloud reports.
pub async fn orphans_older_than(t: &dyn ContractTarget) {
    let w = orphan_world(t).await;
    let listing = w.listing(t).await;
    let later = OrphanWorld::newest(&listing) + jiff::SignedDuration::from_mins(60);
    let older = |minutes: u64| OrphanRules {
        older_than: Some(Duration::from_secs(minutes * 60)),
        ..OrphanRules::default()
    };
    let mut all = ids(&w.a);
    all.extend(ids(&w.b));
    assert_eq!(OrphanWorld::orphans(&listing, &older(59), later), all);
    assert!(
        OrphanWorld::orphans(&listing, &older(120), later).is_empty(),
        "none is two hours old"
    );
    w.foreign_untouched(t);
}

/// Unused for `--unused-for`: the cloud reports 0 instances in it (none were launched) and
/// it was created that long ago.
pub async fn orphans_unused_for(t: &dyn ContractTarget) {
    let w = orphan_world(t).await;
    let listing = w.listing(t).await;
    for r in &listing {
        assert_eq!(r.used, Some(0), "the cloud reports its usage: {r:?}");
    }
    let rules = OrphanRules {
        unused_for: Some(Duration::from_secs(15 * 60)),
        ..OrphanRules::default()
    };
    let newest = OrphanWorld::newest(&listing);
    assert!(
        OrphanWorld::orphans(
            &listing,
            &rules,
            newest + jiff::SignedDuration::from_mins(14)
        )
        .len()
            < listing.len(),
        "the newest is not unused for 15 minutes yet"
    );
    let mut all = ids(&w.a);
    all.extend(ids(&w.b));
    assert_eq!(
        OrphanWorld::orphans(
            &listing,
            &rules,
            newest + jiff::SignedDuration::from_mins(16)
        ),
        all
    );
    w.foreign_untouched(t);
}

/// Its test finished (`--finished-test`): exactly that test's reservations, in every region.
pub async fn orphans_of_a_finished_test(t: &dyn ContractTarget) {
    let w = orphan_world(t).await;
    let listing = w.listing(t).await;
    let rules = OrphanRules {
        finished_tests: BTreeSet::from([ORPHAN_TEST_B.to_string()]),
        ..OrphanRules::default()
    };
    assert_eq!(
        OrphanWorld::orphans(&listing, &rules, jiff::Timestamp::now()),
        ids(&w.b)
    );
    w.foreign_untouched(t);
}

/// `--cancel`: the orphans (test A's) are cancelled through the engine, nothing else is —
/// not test B's, not the reservations cr did not make (one of them carries A's `TestId`) —
/// and a second look finds no orphan left.
pub async fn orphans_cancel_leaves_no_orphan_active(t: &dyn ContractTarget) {
    let w = orphan_world(t).await;
    let listing = w.listing(t).await;
    let rules = OrphanRules {
        finished_tests: BTreeSet::from([ORPHAN_TEST_A.to_string()]),
        ..OrphanRules::default()
    };
    let chosen: Vec<Reservation> = orphans::assess(listing.clone(), &rules, jiff::Timestamp::now())
        .into_iter()
        .filter(|a| a.is_orphan())
        .map(|a| a.reservation)
        .collect();
    let report = expect_ok(
        "cancel_created",
        w.backend.cancel_created(&listing, &chosen).await,
    );
    assert!(report.is_complete(), "{:?}", report.failed);
    let cancelled: BTreeSet<String> = report.cancelled.iter().map(|r| r.id.0.clone()).collect();
    assert_eq!(cancelled, ids(&w.a));

    let audit = w.fx.audit(t.cloud());
    for id in ids(&w.a) {
        let record = audit
            .iter()
            .find(|r| is_record_of(r, &id))
            .expect("in the audit");
        assert!(record.state.is_ended(), "{record:?}");
    }
    for id in ids(&w.b) {
        let record = audit
            .iter()
            .find(|r| is_record_of(r, &id))
            .expect("in the audit");
        assert!(
            !record.state.is_ended(),
            "not an orphan, not touched: {record:?}"
        );
    }
    w.foreign_untouched(t);

    let fresh = expect_ok(
        "building the backend",
        w.fx.backend(t, Credentials::Valid).await,
    );
    let again = expect_ok("find_created", fresh.find_created().await);
    assert!(
        OrphanWorld::orphans(&again, &rules, jiff::Timestamp::now()).is_empty(),
        "no orphan left: {again:?}"
    );
    assert_eq!(
        again
            .iter()
            .map(|r| r.id.0.clone())
            .collect::<BTreeSet<_>>(),
        ids(&w.b)
    );
}

/// Whether a request changed something (a create, cancel, delete or update), by its HTTP
/// method or, for POST-only APIs (EC2 Query), its operation name.
fn is_mutating(request: &cr_emulator::RequestRecord) -> bool {
    let op = request.operation.to_ascii_lowercase();
    matches!(request.method.as_str(), "PUT" | "PATCH" | "DELETE")
        || ["create", "cancel", "delete", "insert", "modify", "update"]
            .iter()
            .any(|verb| op.contains(verb))
}

/// `cr cleanup --dry-run`: what a cleanup of the test would cancel, in every region (the
/// one made outside cr with its `TestId` included, as cleanup would), and the emulator saw
/// no mutating call.
pub async fn cleanup_dry_run_changes_nothing(t: &dyn ContractTarget) {
    let w = orphan_world(t).await;
    let before = w.fx.emulator.requests().len();
    let live_before = w.fx.live(t.cloud()).len();
    let fresh = expect_ok(
        "building the backend",
        w.fx.backend(t, Credentials::Valid).await,
    );
    let preview = expect_ok(
        "preview_cancel_all_regions",
        fresh.preview_cancel_all_regions(ORPHAN_TEST_A).await,
    );
    let previewed: BTreeSet<String> = preview
        .reservations
        .iter()
        .map(|r| r.id.0.clone())
        .collect();
    let mut expected = ids(&w.a);
    // The reservation made outside cr carries A's TestId: cleanup releases it too.
    let outside = &w.foreign[0];
    let audit = w.fx.audit(t.cloud());
    let outside_id = previewed
        .iter()
        .find(|p| {
            audit
                .iter()
                .any(|r| is_record_of(r, outside) && is_record_of(r, p))
        })
        .cloned()
        .unwrap_or_else(|| panic!("the outside reservation {outside} is previewed: {previewed:?}"));
    expected.insert(outside_id);
    assert_eq!(previewed, expected);
    let third = &w.fx.layout.regions[2].region;
    assert!(
        preview
            .regions_to_finish
            .contains(&w.fx.region(0).to_string())
            && preview.regions_to_finish.contains(third),
        "{:?}",
        preview.regions_to_finish
    );
    let requests = w.fx.emulator.requests();
    let mutating: Vec<_> = requests[before..]
        .iter()
        .filter(|r| is_mutating(r))
        .collect();
    assert!(
        mutating.is_empty(),
        "a dry run made mutating calls: {mutating:?}"
    );
    assert!(requests.len() > before, "the dry run listed the cloud");
    assert_eq!(w.fx.live(t.cloud()).len(), live_before, "nothing ended");
}

/// What a launch that must not consume `reservation` came to, for the assertion message.
fn outcome(result: &Result<String, String>) -> String {
    match result {
        Ok(id) => format!("launched {id}, not into this reservation"),
        Err(e) => format!("refused: {e}"),
    }
}

/// Instances the audit says run in the reservation the backend calls `id`.
fn audit_used(fx: &Fixture, cloud: cr_core::Cloud, id: &str) -> u32 {
    fx.audit(cloud)
        .iter()
        .find(|r| is_record_of(r, id))
        .map(|r| r.used)
        .unwrap_or_else(|| panic!("the audit has no reservation {id}"))
}

/// The usage proof: reserve, then launch instances over the cloud's own wire protocol with
/// exactly what `instance_target` returns merged into a minimal create-instance request.
/// An instance with the wrong instance type or in the wrong zone does not consume the
/// reservation (refused, naming the rule broken, or run on other capacity); the demanded
/// number of matching launches fills every reservation (the audit's used count and, where
/// the adapter reads it, `Reservation::used` from the cloud's own fields); one more does not
/// go past the reserved count; terminating them frees it all again.
pub async fn launches_use_the_reservation_and_termination_frees_it(t: &dyn ContractTarget) {
    let fx = Fixture::start(
        t,
        base_scenario(),
        TestConfig::single("9a4e7b10-usage-proof"),
    )
    .await;
    let cloud = t.cloud();
    let backend = expect_ok(
        "building the backend",
        fx.backend(t, Credentials::Valid).await,
    );
    let set = reserve(&backend, &fx).await;
    let region = &set.regions[0];
    let zone = region.zone.clone().unwrap_or_default();
    let target_of = |r: &Reservation| {
        expect_ok(
            "instance_target",
            backend.instance_target(r.zone.as_deref().unwrap_or_default(), &r.instance_type),
        )
        .unwrap_or_else(|| panic!("no instance target for {}", r.id))
    };
    let db = region
        .reservations
        .iter()
        .find(|r| r.instance_type == fx.layout.db_type)
        .expect("a db reservation");
    let db_target = target_of(db);

    // The wrong instance type and the wrong zone do not consume it.
    let wrong_zone = fx.layout.regions[fx.config.placements[0].region]
        .zones
        .iter()
        .find(|z| **z != zone)
        .expect("a second zone in the region")
        .clone();
    let wrong = [
        (
            "the loader type",
            zone.clone(),
            fx.layout.loader_type.clone(),
        ),
        ("another zone", wrong_zone, fx.layout.db_type.clone()),
    ];
    for (what, z, ty) in wrong {
        let result = t
            .launch(
                &fx.emulator,
                fx.region(0),
                &z,
                &ty,
                &db_target,
                "cr-usage-wrong",
            )
            .await;
        assert_eq!(
            audit_used(&fx, cloud, &db.id.0),
            0,
            "a launch with {what} ({ty} in {z}) consumed {}: {}",
            db.id,
            outcome(&result)
        );
        eprintln!("a launch with {what} ({ty} in {z}): {}", outcome(&result));
        if let Err(e) = &result {
            assert!(
                e.contains(':') && e.len() > 12,
                "the refusal of a launch with {what} names the cloud's code and why: {e:?}"
            );
        }
        if let Ok(id) = result {
            t.terminate(&fx.emulator, fx.region(0), &id).await;
        }
    }

    // The demanded number of matching launches fills every reservation.
    let mut launched = Vec::new();
    for r in &region.reservations {
        let target = target_of(r);
        for i in 0..r.count {
            let name = format!(
                "cr-usage-{}-{i}",
                r.instance_type
                    .to_ascii_lowercase()
                    .replace(['.', '_'], "-")
            );
            let id = t
                .launch(
                    &fx.emulator,
                    fx.region(0),
                    &zone,
                    &r.instance_type,
                    &target,
                    &name,
                )
                .await
                .unwrap_or_else(|e| {
                    panic!(
                        "launch {i} into {} ({}) was refused: {e}",
                        r.id, r.instance_type
                    )
                });
            launched.push(id);
        }
        assert_eq!(
            audit_used(&fx, cloud, &r.id.0),
            r.count,
            "{} launches into {} ({})",
            r.count,
            r.id,
            r.instance_type
        );
    }
    let adapter = expect_ok(
        "building the adapter",
        t.adapter(&fx.emulator, &fx.params, Credentials::Valid)
            .await,
    );
    let found = expect_ok(
        "find",
        adapter
            .find(&fx.config.test_id, Some(fx.region(0).to_string()))
            .await,
    );
    for r in &region.reservations {
        let seen = found
            .iter()
            .find(|f| f.id == r.id)
            .unwrap_or_else(|| panic!("find does not return {}", r.id));
        assert_eq!(
            seen.used,
            Some(r.count),
            "the cloud's used count of {} as the adapter reads it",
            r.id
        );
    }

    // What `cr status` shows comes from the same place: the backend's discover.
    let status = expect_ok("discover", backend.discover(&fx.params).await);
    for r in status.reservations() {
        assert_eq!(
            r.used,
            Some(r.count),
            "the used count `cr status` shows for {}",
            r.id
        );
    }

    // One more matching launch does not go past the reserved count.
    let extra = t
        .launch(
            &fx.emulator,
            fx.region(0),
            &zone,
            &db.instance_type,
            &db_target,
            "cr-usage-extra",
        )
        .await;
    eprintln!("one launch more than reserved: {}", outcome(&extra));
    assert_eq!(
        audit_used(&fx, cloud, &db.id.0),
        db.count,
        "one launch more than {} reserved: {}",
        db.count,
        outcome(&extra)
    );
    if let Ok(id) = extra {
        t.terminate(&fx.emulator, fx.region(0), &id).await;
    }

    // Termination frees it.
    for id in &launched {
        t.terminate(&fx.emulator, fx.region(0), id).await;
    }
    for r in &region.reservations {
        assert_eq!(
            audit_used(&fx, cloud, &r.id.0),
            0,
            "{} after terminating its instances",
            r.id
        );
    }
    let found = expect_ok(
        "find",
        adapter
            .find(&fx.config.test_id, Some(fx.region(0).to_string()))
            .await,
    );
    for f in &found {
        assert_eq!(
            f.used,
            Some(0),
            "the cloud's used count of {} after termination, as the adapter reads it",
            f.id
        );
    }
    assert!(
        fx.emulator.state().instances.is_empty(),
        "instances left running: {:?}",
        fx.emulator.state().instances
    );
    cancel_and_check(&backend, &fx).await;
}

/// Least privilege, both ways: over a whole life cycle (reserve in two regions with a
/// stockout fallback and long-running operations, a second reserve reusing the set,
/// discover, cancel, cancel_all_regions from a fresh process), every permission the calls
/// needed is in `cr permissions` (as every fixture checks when it ends), and the manifest
/// grants nothing else but the target's justified
/// [`ContractTarget::permissions_off_the_suite_path`].
pub async fn the_permissions_are_exactly_what_is_called(t: &dyn ContractTarget) {
    let layout = t.layout();
    let mut scenario = first_zone_with(t, &layout.loader_type, 0);
    scenario.lro_ms = 200;
    let config = TestConfig {
        placements: vec![
            Placement { region: 0, zone: 0 },
            Placement { region: 1, zone: 0 },
        ],
        db_nodes: 1,
        loaders: 1,
        ..TestConfig::single("1ea57000-least-privilege")
    };
    let fx = Fixture::start(t, scenario, config).await;
    let backend = expect_ok(
        "building the backend",
        fx.backend(t, Credentials::Valid).await,
    );
    let set = reserve(&backend, &fx).await;
    let again = expect_ok(
        "building the backend",
        fx.backend(t, Credentials::Valid).await,
    );
    assert_eq!(ids(&reserve(&again, &fx).await), ids(&set), "reused");
    expect_ok("discover", again.discover(&fx.params).await);
    cancel_and_check(&backend, &fx).await;
    let fresh = expect_ok(
        "building the backend",
        fx.backend(t, Credentials::Valid).await,
    );
    expect_ok(
        "cancel_all_regions",
        fresh.cancel_all_regions(&fx.config.test_id).await,
    );

    let kind = cloud_kind(t.cloud());
    let mut called: BTreeSet<String> = BTreeSet::new();
    for r in fx
        .emulator
        .requests()
        .iter()
        .filter(|r| r.cloud == Some(kind))
    {
        let needed = cr_emulator::iam::required_permissions(kind, &r.operation)
            .unwrap_or_else(|| panic!("the emulator knows no permission for {}", r.operation));
        called.extend(needed.iter().map(|p| p.to_string()));
    }
    let manifest = crate::Manifest::of(t.cloud(), t.backend_name());
    let missing: Vec<&String> = called.difference(&manifest.granted).collect();
    assert!(missing.is_empty(), "called but not granted: {missing:?}");
    let off_path: BTreeSet<&str> = t
        .permissions_off_the_suite_path()
        .iter()
        .map(|(p, why)| {
            assert!(!why.trim().is_empty(), "{p} is listed without a reason");
            *p
        })
        .collect();
    for p in &off_path {
        assert!(
            manifest.granted.contains(*p) && !called.contains(*p),
            "{p} is listed as off the suite's path, but it is {}",
            if called.contains(*p) {
                "called"
            } else {
                "not granted"
            }
        );
    }
    let unused: Vec<&String> = manifest
        .granted
        .iter()
        .filter(|p| !called.contains(*p) && !off_path.contains(p.as_str()))
        .collect();
    assert!(
        unused.is_empty(),
        "granted but never called (remove them, or justify them in permissions_off_the_suite_path): {unused:?}; called: {called:?}"
    );
}

/// A backend over a fresh adapter that gives up quickly: two retries a few milliseconds
/// apart, five seconds to settle (the garbage check runs many short life cycles).
async fn quick_backend(t: &dyn ContractTarget, fx: &Fixture) -> cr_core::EngineBackend {
    let adapter = expect_ok(
        "building the adapter",
        t.adapter(&fx.emulator, &fx.params, Credentials::Valid)
            .await,
    );
    cr_core::EngineBackend::over(
        cr_core::engine::Engine::new(
            adapter,
            cr_core::retry::RetryPolicy {
                max_retries: 2,
                min_delay: Duration::from_millis(1),
                max_delay: Duration::from_millis(5),
                max_elapsed: Duration::from_secs(20),
                ..cr_core::retry::RetryPolicy::default()
            },
        )
        .with_wait(cr_core::engine::WaitPolicy {
            first_interval: Duration::from_millis(10),
            max_interval: Duration::from_millis(50),
            settle_timeout: Duration::from_secs(5),
        }),
    )
}

/// Every operation the backend calls, answered with every form of garbage (truncated,
/// wrong types, missing fields, a proxy's HTML 502, 200 with an error body) on its first
/// [`GARBAGE_HITS`] calls: nothing panics; a failure has a kind other than `Other`; a 502 is retried
/// (transient); a failed reserve holds nothing (or says what it holds); and once the cloud
/// answers properly again, cancel releases everything. Each (operation, form) has its own
/// emulator; eight run at a time.
pub async fn garbage_answers_are_classified_and_leave_nothing(t: &dyn ContractTarget) {
    use futures::StreamExt as _;
    let fx = Fixture::start(t, base_scenario(), TestConfig::single("9a2ba9e0-garbage")).await;
    let kind = cloud_kind(t.cloud());
    // The operations of a clean life cycle.
    let backend = quick_backend(t, &fx).await;
    reserve(&backend, &fx).await;
    cancel_and_check(&backend, &fx).await;
    let operations: BTreeSet<String> = fx
        .emulator
        .requests()
        .into_iter()
        .filter(|r| r.cloud == Some(kind) && !r.operation.eq_ignore_ascii_case("unknown"))
        .map(|r| r.operation)
        .collect();
    assert!(
        operations.iter().any(|o| o == t.create_operation()),
        "{operations:?}"
    );
    let cases: Vec<(String, cr_emulator::GarbageForm)> = operations
        .iter()
        .flat_map(|o| cr_emulator::GarbageForm::ALL.map(|f| (o.clone(), f)))
        .collect();
    let total = cases.len();
    let problems: Vec<String> = futures::stream::iter(cases)
        .map(|(operation, form)| garbage_case(t, operation, form))
        .buffer_unordered(8)
        .flat_map(futures::stream::iter)
        .collect()
        .await;
    assert!(
        problems.is_empty(),
        "{} problem(s) in {total} cases:\n{}",
        problems.len(),
        problems.join("\n")
    );
}

/// How many calls of the operation a garbage case answers with garbage: enough that every
/// retry of the suite's quick backend (two) and every step of a life cycle meets it, few
/// enough that a wait for a long-running operation (Azure, OCI: up to the adapter's operation
/// timeout while its polls are garbage) ends in a second or two.
const GARBAGE_HITS: u64 = 12;

/// One case of [`garbage_answers_are_classified_and_leave_nothing`]: its problems.
async fn garbage_case(
    t: &dyn ContractTarget,
    operation: String,
    form: cr_emulator::GarbageForm,
) -> Vec<String> {
    let kind = cloud_kind(t.cloud());
    let case = format!("{operation} answered {form:?}");
    let mut problems = Vec::new();
    let mut scenario = base_scenario();
    scenario.faults.push(Fault {
        cloud: kind,
        operation: operation.clone(),
        kind: FaultKind::Garbage,
        rate: 1.0,
        limit: Some(GARBAGE_HITS),
        garbage: Some(form),
    });
    let fx = Fixture::start(t, scenario, TestConfig::single("9a2ba9e0-garbage")).await;
    let backend = quick_backend(t, &fx).await;
    let result = backend.reserve(&fx.params).await;
    let live = fx.live(t.cloud());
    match &result {
        Ok(set) => {
            // Garbage the backend could do without: the set must be the real one.
            if audit_demands(&live) != fx.demands(fx.region(0))
                || !live
                    .iter()
                    .all(|r| set.reservations().any(|s| is_record_of(r, &s.id.0)))
            {
                problems.push(format!(
                    "{case}: reserve claimed {set:?}, the cloud holds {live:?}"
                ));
            }
        }
        Err(e) if e.kind() == ErrorKind::Other => {
            problems.push(format!("{case}: unclassified (kind Other): {e}"));
        }
        Err(e) if !live.is_empty() && e.kind() != ErrorKind::RollbackFailed => {
            problems.push(format!("{case}: reserve failed ({e}) but left {live:?}"));
        }
        Err(_) => {}
    }
    let cancelled = backend.cancel(&fx.params).await;
    if let Err(e) = &cancelled
        && e.kind() == ErrorKind::Other
    {
        problems.push(format!("{case}: cancel unclassified (kind Other): {e}"));
    }
    let answered = fx
        .emulator
        .requests()
        .iter()
        .filter(|r| r.fault == Some(FaultKind::Garbage))
        .count();
    let needs_no_permission =
        cr_emulator::iam::required_permissions(kind, &operation).is_some_and(|p| p.is_empty());
    if answered == 0 && !needs_no_permission {
        problems.push(format!("{case}: the garbage answer was never given"));
    }
    if form == cr_emulator::GarbageForm::HtmlBadGateway
        && (result.is_err() || cancelled.is_err())
        && answered < 2
    {
        problems.push(format!(
            "{case}: a proxy's 502 is transient and must be retried ({answered} call)"
        ));
    }
    // The cloud answers properly again: everything is released.
    fx.emulator.set_scenario(t.scenario(base_scenario()));
    let fresh = quick_backend(t, &fx).await;
    match fresh.cancel(&fx.params).await {
        Ok(report) if report.is_complete() => {}
        other => problems.push(format!("{case}: the clean cancel: {other:?}")),
    }
    let live = fx.live(t.cloud());
    if !live.is_empty() {
        problems.push(format!(
            "{case}: still held after the clean cancel: {live:?}"
        ));
    }
    problems
}

/// Ten minutes: the clock skew every cloud is tried with.
const TEN_MINUTES_S: i64 = 600;

/// The clouds' clock 10 minutes ahead of and behind the client's (and, where the cloud
/// tolerates 10 minutes, past its tolerance): a cloud that checks the time of cr's requests
/// refuses them, and the reserve fails at once with kind `ClockSkew`, naming the cloud and
/// its own code, saying to sync the clock, holding nothing; within the tolerance (EC2's 15
/// minutes) and on a cloud whose authentication carries no client time
/// ([`ContractTarget::clock_skew_refusal`] `None`: Azure) the reserve succeeds.
pub async fn clock_skew_is_reported(t: &dyn ContractTarget) {
    let fx = Fixture::start(
        t,
        base_scenario(),
        TestConfig::single("c10c5ce0-clock-skew"),
    )
    .await;
    for sign in [1, -1] {
        let ten = sign * TEN_MINUTES_S;
        match t.clock_skew_refusal() {
            None => clock_skew_accepted(t, &fx, ten).await,
            Some((tolerance, code)) => {
                let tolerance = i64::try_from(tolerance.as_secs()).unwrap_or(i64::MAX);
                if tolerance >= TEN_MINUTES_S {
                    clock_skew_accepted(t, &fx, ten).await;
                    clock_skew_refused(t, &fx, sign * (tolerance + 300), code).await;
                } else {
                    clock_skew_refused(t, &fx, ten, code).await;
                }
            }
        }
    }
    fx.emulator.set_clock_skew(0);
}

/// With the clouds' clock `skew_s` off, a fresh backend reserves and cancels as usual.
async fn clock_skew_accepted(t: &dyn ContractTarget, fx: &Fixture, skew_s: i64) {
    fx.emulator.set_clock_skew(skew_s);
    let backend = expect_ok(
        "building the backend",
        fx.backend(t, Credentials::Valid).await,
    );
    let set = backend
        .reserve(&fx.params)
        .await
        .unwrap_or_else(|e| panic!("a clock {skew_s} s off is within the cloud's tolerance: {e}"));
    assert_eq!(sorted_demands(&set, fx.region(0)), fx.demands(fx.region(0)));
    cancel_and_check(&backend, fx).await;
}

/// With the clouds' clock `skew_s` off, a fresh backend's reserve is refused for the clock:
/// kind `ClockSkew` with the cloud and its `code`, what to do, and nothing held.
async fn clock_skew_refused(t: &dyn ContractTarget, fx: &Fixture, skew_s: i64, code: &str) {
    fx.emulator.set_clock_skew(skew_s);
    let err = match fx.backend(t, Credentials::Valid).await {
        Err(e) => e,
        Ok(backend) => backend
            .reserve(&fx.params)
            .await
            .expect_err("a clock beyond the cloud's tolerance cannot reserve"),
    };
    eprintln!("clock {skew_s} s off: {err}");
    assert_eq!(
        err.kind(),
        ErrorKind::ClockSkew,
        "clock {skew_s} s off: {err}"
    );
    assert!(!err.is_retryable(), "{err}");
    let cloud_error = err
        .cloud_error()
        .unwrap_or_else(|| panic!("a clock skew is one call's refusal: {err}"));
    assert_eq!(cloud_error.location.cloud, Some(t.cloud()), "{err}");
    assert_eq!(cloud_error.code, code, "{err}");
    let text = err.to_string();
    assert!(
        text.contains(t.cloud().as_str()) && text.contains("clock") && text.contains("NTP"),
        "the error must name the cloud and say to sync the clock: {text}"
    );
    let live = fx.live(t.cloud());
    assert!(live.is_empty(), "a refused reserve holds nothing: {live:?}");
    let refused = fx
        .emulator
        .requests()
        .into_iter()
        .filter(|r| r.error_code.as_deref() == Some(code))
        .count();
    assert!(refused > 0, "the emulator refused no request with {code}");
}

/// What a preflight found, printed when an assertion fails.
fn findings_text(report: &PreflightReport) -> String {
    report
        .findings
        .iter()
        .map(|f| {
            format!(
                "{:?} {:?} {} {}: {}{}",
                f.status,
                f.area,
                f.region.as_deref().unwrap_or("-"),
                f.subject,
                f.detail,
                f.fix
                    .as_deref()
                    .map(|x| format!(" (fix: {x})"))
                    .unwrap_or_default()
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Runs the preflight of a fresh fixture on `scenario` with `credentials`, checks that it
/// created nothing, and returns the report.
async fn preflight_of(
    t: &dyn ContractTarget,
    scenario: Scenario,
    credentials: Credentials,
    test_id: &str,
) -> PreflightReport {
    let fx = Fixture::start(t, scenario, TestConfig::single(test_id)).await;
    let backend = expect_ok("building the backend", fx.backend(t, credentials).await);
    let report = expect_ok("the preflight", backend.preflight(&fx.params).await);
    let audit = fx.audit(t.cloud());
    assert!(
        audit.is_empty(),
        "a preflight creates nothing, but the emulator saw: {audit:?}\n{}",
        findings_text(&report)
    );
    report
}

/// The failed findings of `area`.
fn failed_in(report: &PreflightReport, area: Area) -> Vec<&Finding> {
    report.failures().filter(|f| f.area == area).collect()
}

/// The preflight (`cr doctor`, `reserve --preflight`): a healthy account passes every area
/// the backend checks (and says plainly which it cannot); then one failure at a time — a
/// missing permission, a type not offered in the zones, a quota too short, bad credentials —
/// makes `can_reserve()` false with the right finding, and nothing is ever created. Parts the
/// target declares not checkable ([`ContractTarget::preflight`]) are skipped loudly.
pub async fn preflight_says_whether_reserving_can_work(t: &dyn ContractTarget) {
    let support = t.preflight();
    let layout = t.layout();
    let cloud = t.cloud();
    let kind = cloud_kind(cloud);
    let region = layout.regions[0].region.clone();
    let skip = |what: &str| {
        eprintln!(
            "SKIPPED preflight check for {cloud}: {what} (the target declares it not checkable)"
        );
    };

    // Healthy: every checked area passes; the others are reported as not checkable.
    let report = preflight_of(t, base_scenario(), Credentials::Valid, "9a07a000-pf-ok").await;
    let text = findings_text(&report);
    assert!(
        report.can_reserve(),
        "a healthy account can reserve:\n{text}"
    );
    for (area, checked) in [
        (Area::Credentials, support.credentials),
        (Area::Permissions, support.permission.is_some()),
        (Area::Offerings, support.offerings),
        (Area::Quota, support.quota),
    ] {
        let of_area: Vec<&Finding> = report.findings.iter().filter(|f| f.area == area).collect();
        assert!(!of_area.is_empty(), "no {area:?} finding:\n{text}");
        if checked {
            // A cloud without a permission-test API (OCI) reports the actions only a call
            // with side effects would exercise as not checkable, one finding each.
            let passes = |f: &&Finding| {
                f.status == Status::Pass
                    || (area == Area::Permissions && f.status == Status::NotCheckable)
            };
            assert!(
                of_area.iter().all(passes) && of_area.iter().any(|f| f.status == Status::Pass),
                "every {area:?} finding passes on a healthy account:\n{text}"
            );
        } else {
            assert!(
                of_area.iter().all(|f| f.status != Status::Fail),
                "{area:?} is not checked, so it cannot fail:\n{text}"
            );
            skip(&format!("{area:?} on a healthy account"));
        }
    }
    let offered: Vec<&Finding> = report
        .findings
        .iter()
        .filter(|f| f.area == Area::Offerings)
        .collect();
    assert!(
        offered.iter().any(|f| f.subject == layout.db_type),
        "the db type has its offerings finding:\n{text}"
    );

    // A missing permission: named, with the line that grants it.
    match &support.permission {
        Some(p) => {
            let mut scenario = base_scenario();
            scenario
                .clouds
                .get_mut(kind)
                .denied_permissions
                .push(p.deny.to_string());
            let report = preflight_of(t, scenario, Credentials::Valid, "9a07a000-pf-perm").await;
            let text = findings_text(&report);
            assert!(!report.can_reserve(), "a denied {} fails:\n{text}", p.deny);
            let failed = failed_in(&report, Area::Permissions);
            let f = failed
                .iter()
                .find(|f| f.subject == p.action)
                .unwrap_or_else(|| panic!("a failed finding names {}:\n{text}", p.action));
            let grant = f.fix.as_deref().unwrap_or_default();
            assert!(
                !grant.trim().is_empty(),
                "the finding says how to grant it:\n{text}"
            );
            assert!(
                f.detail.contains(grant),
                "the detail carries the grant line:\n{text}"
            );
            assert!(
                report.failures().all(|f| f.area == Area::Permissions),
                "only permissions fail:\n{text}"
            );
        }
        None => skip("a missing permission"),
    }

    // A type not offered in any zone of the region: the zones are named.
    if support.offerings {
        let mut scenario = base_scenario();
        let def = cr_emulator::defaults::region(kind, &region)
            .unwrap_or_else(|| panic!("the emulator knows {region}"));
        let zones = cr_emulator::defaults::zones(kind, def);
        for z in &zones {
            set_capacity(&mut scenario, cloud, &region, z, &layout.db_type, -1);
        }
        let report = preflight_of(t, scenario, Credentials::Valid, "9a07a000-pf-offer").await;
        let text = findings_text(&report);
        assert!(!report.can_reserve(), "an unoffered type fails:\n{text}");
        let failed = failed_in(&report, Area::Offerings);
        let f = failed
            .iter()
            .find(|f| f.subject == layout.db_type)
            .unwrap_or_else(|| {
                panic!(
                    "a failed offerings finding names {}:\n{text}",
                    layout.db_type
                )
            });
        assert_eq!(f.region.as_deref(), Some(region.as_str()), "{text}");
        assert!(
            f.detail.contains(&region) || zones.iter().any(|z| f.detail.contains(z.as_str())),
            "the finding names the region or its zones:\n{text}"
        );
        assert!(
            f.fix.as_deref().is_some_and(|x| !x.trim().is_empty()),
            "{text}"
        );
        assert!(
            report.failures().all(|f| f.area == Area::Offerings),
            "only the offerings fail:\n{text}"
        );
    } else {
        skip("a type not offered");
    }

    // A quota too short for the plan: the metric, its limit, the use and the need.
    if support.quota {
        let mut scenario = base_scenario();
        limit_to_db_nodes(t, &mut scenario, &region, 2);
        let metric = cr_emulator::quota::quota_shape(kind, &layout.db_type).metrics[0].clone();
        let limit = 2 * u64::from(t.db_vcpus());
        let report = preflight_of(t, scenario, Credentials::Valid, "9a07a000-pf-quota").await;
        let text = findings_text(&report);
        assert!(!report.can_reserve(), "a short quota fails:\n{text}");
        let failed = failed_in(&report, Area::Quota);
        let f = failed
            .iter()
            .find(|f| f.subject == metric)
            .unwrap_or_else(|| panic!("a failed quota finding names {metric}:\n{text}"));
        assert_eq!(f.region.as_deref(), Some(region.as_str()), "{text}");
        assert!(
            f.detail
                .contains(&format!("limit {limit}, used 0, the plan needs ")),
            "the finding says limit, use and need:\n{text}"
        );
        assert!(
            report.failures().all(|f| f.area == Area::Quota),
            "only the quota fails:\n{text}"
        );
    } else {
        skip("a short quota");
    }

    // Bad credentials: unauthorized, and nothing else is checked.
    if support.credentials {
        let report = preflight_of(
            t,
            base_scenario(),
            Credentials::Invalid,
            "9a07a000-pf-creds",
        )
        .await;
        let text = findings_text(&report);
        assert!(!report.can_reserve(), "bad credentials fail:\n{text}");
        assert_eq!(report.findings.len(), 1, "nothing else is checked:\n{text}");
        let f = &report.findings[0];
        assert_eq!(
            (f.area, f.status),
            (Area::Credentials, Status::Fail),
            "{text}"
        );
        assert!(f.code.is_some(), "the cloud's code is kept:\n{text}");
    } else {
        skip("bad credentials");
    }
}

/// Ten engines of this process, six types each, start together against an emulator with
/// small API rate-limit buckets (a burst of 10 writes and 20 reads): the shared client-side
/// pacing ([`cr_core::pacing`]) gets every one of them through the throttles — all succeed,
/// none holds a reservation twice, and their cancels leave nothing.
pub async fn many_engines_share_the_rate_limit(t: &dyn ContractTarget) {
    let engines = 10;
    let out = crate::many::run(
        t,
        base_scenario(),
        crate::many::small_limits(),
        engines,
        crate::many::paced(retry_policy()),
        cr_core::engine::WaitPolicy {
            first_interval: Duration::from_millis(20),
            max_interval: Duration::from_millis(200),
            settle_timeout: Duration::from_secs(60),
        },
        "many-at-once",
    )
    .await;
    assert!(
        out.failed.is_empty(),
        "every engine succeeds: {:?}",
        out.failed
    );
    assert_eq!(
        out.reserved,
        engines * crate::many::TYPES,
        "each engine returns its {} types",
        crate::many::TYPES
    );
    assert_eq!(
        out.live_after_reserve, out.reserved,
        "the cloud holds exactly what the engines returned (no doubles, no strays)"
    );
    assert_eq!(out.live_after_cancel, 0, "the cancels leave nothing");
    assert!(
        out.throttled.0 + out.throttled.1 > 0,
        "the buckets were small enough to throttle: {out:?}"
    );
}
