//! The engine against a mocked cloud: zone fallback, rollback, fail-fast, retries, reuse,
//! discovery and cancel reports.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use cr_core::adapter::{CreateRequest, MockCloudAdapter, Readiness, RegionHandle};
use cr_core::engine::Engine;
use cr_core::error::{CloudError, Error, ErrorKind, Leftover, LeftoverKind, QuotaScope};
use cr_core::model::{CancelOutcome, Reservation, ReservationId, ReservationState};
use cr_core::plan::{CapacityPlan, Demand, DemandDetails, RegionPlan, Role};
use cr_core::retry::RetryPolicy;
use cr_core::tags::{TEST_ID, Tags};
use cr_core::{Cloud, Result};
use jiff::Timestamp;

const TEST: &str = "test-1";

fn demand(instance_type: &str, count: u32) -> Demand {
    Demand {
        instance_type: instance_type.into(),
        count,
        roles: vec![Role::Db],
        details: DemandDetails::default(),
    }
}

fn region(name: &str, zones: &[&str], zone_fallback: bool, demands: Vec<Demand>) -> RegionPlan {
    RegionPlan {
        region: name.into(),
        zones: zones.iter().map(|z| z.to_string()).collect(),
        zone_fallback,
        demands,
    }
}

fn end_time() -> Timestamp {
    Timestamp::from_second(1_900_000_000).unwrap()
}

fn tags() -> Tags {
    Tags(BTreeMap::from([
        (TEST_ID.to_string(), TEST.to_string()),
        ("RunByUser".to_string(), "qa".to_string()),
    ]))
}

fn plan(regions: Vec<RegionPlan>) -> CapacityPlan {
    CapacityPlan {
        backend: Cloud::Aws,
        enabled: true,
        disabled_reason: None,
        test_id: Some(TEST.into()),
        end_time: end_time(),
        duration_minutes: 120,
        reuse_slack_minutes: 60,
        regions,
        tags: tags(),
    }
}

/// Two types in one region of three zones.
fn two_types(zones: &[&str], zone_fallback: bool) -> CapacityPlan {
    plan(vec![region(
        "eu-west-1",
        zones,
        zone_fallback,
        vec![demand("i4i.large", 3), demand("c6i.xlarge", 2)],
    )])
}

fn reservation(region: &str, zone: &str, instance_type: &str, count: u32) -> Reservation {
    Reservation {
        id: ReservationId(id(zone, instance_type)),
        cloud: Cloud::Aws,
        region: region.into(),
        zone: Some(zone.into()),
        instance_type: instance_type.into(),
        count,
        used: None,
        end_time: Some(end_time()),
        created: None,
        state: ReservationState::Active,
        tags: tags().0,
        extra: BTreeMap::new(),
    }
}

/// Ids say where a reservation is, so assertions read well.
fn id(zone: &str, instance_type: &str) -> String {
    format!("cr-{zone}-{instance_type}")
}

fn created(req: &CreateRequest) -> Reservation {
    reservation(
        &req.region,
        &req.zone,
        &req.demand.instance_type,
        req.demand.count,
    )
}

fn cloud_error(kind: ErrorKind, code: &str) -> Error {
    CloudError::new(
        kind,
        Cloud::Aws,
        "CreateCapacityReservation",
        code,
        "refused",
    )
    .into()
}

/// A quota of one zone (as OCI's availability-domain limits are).
fn zone_quota(code: &str) -> Error {
    CloudError::new(
        ErrorKind::QuotaExceeded,
        Cloud::Aws,
        "CreateCapacityReservation",
        code,
        "refused",
    )
    .quota_scope(QuotaScope::Zone)
    .into()
}

fn no_capacity() -> Error {
    cloud_error(
        ErrorKind::CapacityUnavailable,
        "InsufficientInstanceCapacity",
    )
}

/// A mock that knows its cloud, finds nothing and prepares regions.
fn adapter() -> MockCloudAdapter {
    // What the trait's default says: only a reservation of another zone or type can be held
    // beside a new one (reservations named by test, zone and type).
    adapter_holding_beside(|held, zone, demand| {
        held.zone.as_deref().unwrap_or("") != zone || held.instance_type != demand.instance_type
    })
}

/// A mock like [`adapter`] whose cloud can hold an earlier run's reservation beside a new one
/// when `beside` says so.
fn adapter_holding_beside(beside: fn(&Reservation, &str, &Demand) -> bool) -> MockCloudAdapter {
    let mut m = MockCloudAdapter::new();
    m.expect_can_hold_beside().returning(beside);
    m.expect_cloud().return_const(Cloud::Aws);
    m.expect_lists_all_regions().return_const(false);
    m.expect_prepare_region()
        .returning(|_| Ok(RegionHandle::default()));
    m.expect_resolve_zones().returning(|_, z| Ok(z.to_vec()));
    m.expect_regions_with_resources()
        .returning(|_| Ok(Vec::new()));
    m
}

/// The cloud offers every type in zones a, b and c of every region.
fn offers_abc(m: &mut MockCloudAdapter) {
    m.expect_zones()
        .returning(|r, _| Ok(vec![format!("{r}a"), format!("{r}b"), format!("{r}c")]));
}

fn finds_nothing(m: &mut MockCloudAdapter) {
    m.expect_find()
        .withf(|t, r| t == TEST && r.is_some())
        .returning(|_, _| Ok(Vec::new()));
}

fn finds_in(m: &mut MockCloudAdapter, region: &'static str, found: Vec<Reservation>) {
    m.expect_find()
        .withf(move |t, r| t == TEST && r.as_deref() == Some(region))
        .times(1)
        .returning(move |_, _| Ok(found.clone()));
}

fn expect_cancel(m: &mut MockCloudAdapter, id: String, outcome: fn() -> Result<CancelOutcome>) {
    m.expect_cancel()
        .withf(move |r| r.id.0 == id)
        .times(1)
        .returning(move |_| outcome());
}

fn expect_finish(m: &mut MockCloudAdapter, region: &'static str, times: usize) {
    m.expect_finish_region()
        .withf(move |t, r| t == TEST && r == region)
        .times(times)
        .returning(|_, _| Ok(()));
}

fn engine(m: MockCloudAdapter) -> Engine {
    Engine::new(Arc::new(m), RetryPolicy::fast())
}

type Requests = Arc<Mutex<Vec<CreateRequest>>>;

/// Creates through `outcome`, recording every request.
fn creates(
    m: &mut MockCloudAdapter,
    outcome: impl Fn(&CreateRequest) -> Result<Reservation> + Send + 'static,
) -> Requests {
    let requests = Requests::default();
    let seen = requests.clone();
    m.expect_create().returning(move |req| {
        seen.lock().unwrap().push(req.clone());
        outcome(req)
    });
    requests
}

fn zones_of(requests: &Requests) -> Vec<String> {
    requests
        .lock()
        .unwrap()
        .iter()
        .map(|r| r.zone.clone())
        .collect()
}

fn ids(reservations: &[Reservation]) -> Vec<&str> {
    reservations.iter().map(|r| r.id.0.as_str()).collect()
}

#[tokio::test]
async fn reserves_in_the_first_zone() {
    let mut m = adapter();
    finds_nothing(&mut m);
    offers_abc(&mut m);
    m.expect_cancel().never();
    m.expect_finish_region().never();
    let requests = creates(&mut m, |req| Ok(created(req)));

    let set = engine(m)
        .reserve(&two_types(&["eu-west-1a", "eu-west-1b"], true))
        .await
        .unwrap();

    assert_eq!(set.backend, Cloud::Aws);
    assert_eq!(set.test_id, TEST);
    assert_eq!(set.regions.len(), 1);
    assert_eq!(set.regions[0].region, "eu-west-1");
    assert_eq!(set.regions[0].zone.as_deref(), Some("eu-west-1a"));
    assert_eq!(
        ids(&set.regions[0].reservations),
        ["cr-eu-west-1a-i4i.large", "cr-eu-west-1a-c6i.xlarge"]
    );
    let requests = requests.lock().unwrap();
    assert_eq!(requests.len(), 2);
    for req in requests.iter() {
        assert_eq!(req.test_id, TEST);
        assert_eq!(req.region, "eu-west-1");
        assert_eq!(req.end_time, end_time());
        assert_eq!(req.tags, tags());
        assert_eq!(req.attempt, requests[0].attempt);
    }
}

#[tokio::test]
async fn falls_back_to_the_next_zone_and_rolls_back_the_first() {
    let mut m = adapter();
    finds_nothing(&mut m);
    // The cloud's zone list repeats the configured zone; it is not tried twice.
    m.expect_zones()
        .withf(|r, types| r == "eu-west-1" && types == ["i4i.large", "c6i.xlarge"])
        .times(1)
        .returning(|_, _| {
            Ok(vec![
                "eu-west-1a".into(),
                "eu-west-1b".into(),
                "eu-west-1c".into(),
            ])
        });
    let requests = creates(&mut m, |req| {
        if req.zone == "eu-west-1a" && req.demand.instance_type == "c6i.xlarge" {
            Err(no_capacity())
        } else {
            Ok(created(req))
        }
    });
    expect_cancel(&mut m, id("eu-west-1a", "i4i.large"), || {
        Ok(CancelOutcome::Cancelled)
    });
    m.expect_finish_region().never();

    let set = engine(m)
        .reserve(&two_types(&["eu-west-1a"], true))
        .await
        .unwrap();

    assert_eq!(set.regions[0].zone.as_deref(), Some("eu-west-1b"));
    assert_eq!(
        ids(&set.regions[0].reservations),
        ["cr-eu-west-1b-i4i.large", "cr-eu-west-1b-c6i.xlarge"]
    );
    assert_eq!(
        zones_of(&requests),
        ["eu-west-1a", "eu-west-1a", "eu-west-1b", "eu-west-1b"]
    );
    let requests = requests.lock().unwrap();
    assert_ne!(
        requests[0].attempt, requests[2].attempt,
        "a new zone is a new attempt"
    );
}

#[tokio::test]
async fn partial_failure_is_rolled_back() {
    let mut m = adapter();
    finds_nothing(&mut m);
    offers_abc(&mut m);
    creates(&mut m, |req| {
        if req.demand.instance_type == "c6i.xlarge" {
            Err(no_capacity())
        } else {
            Ok(created(req))
        }
    });
    expect_cancel(&mut m, id("eu-west-1a", "i4i.large"), || {
        Ok(CancelOutcome::Cancelled)
    });
    expect_finish(&mut m, "eu-west-1", 1);

    let err = engine(m)
        .reserve(&two_types(&["eu-west-1a"], false))
        .await
        .unwrap_err();

    let Error::NoZoneAvailable {
        cloud,
        region,
        attempts,
        ..
    } = err
    else {
        panic!("expected NoZoneAvailable, got {err}");
    };
    assert_eq!(cloud, Cloud::Aws);
    assert_eq!(region, "eu-west-1");
    assert_eq!(attempts.len(), 1);
    assert_eq!(attempts[0].zone, "eu-west-1a");
    assert_eq!(attempts[0].error.code, "InsufficientInstanceCapacity");
    assert_eq!(
        attempts[0].error.location.instance_type.as_deref(),
        Some("c6i.xlarge")
    );
}

/// The i4i.large create of a two-type reserve fails with `kind`/`code`: the reserve fails
/// at once with it, after one try per demand in the first zone (no retry, no second zone),
/// having released the c6i.xlarge reservation already made.
async fn a_refused_create_stops_at_once(kind: ErrorKind, code: &'static str) -> cr_core::Error {
    let mut m = adapter();
    finds_nothing(&mut m);
    offers_abc(&mut m);
    let requests = creates(&mut m, move |req| {
        if req.demand.instance_type == "i4i.large" {
            Err(cloud_error(kind, code))
        } else {
            Ok(created(req))
        }
    });
    expect_cancel(&mut m, id("eu-west-1a", "c6i.xlarge"), || {
        Ok(CancelOutcome::Cancelled)
    });
    expect_finish(&mut m, "eu-west-1", 1);

    let err = engine(m)
        .reserve(&two_types(&["eu-west-1a", "eu-west-1b"], true))
        .await
        .unwrap_err();

    assert_eq!(err.kind(), kind, "{err}");
    assert_eq!(err.cloud_error().unwrap().code, code);
    assert_eq!(zones_of(&requests), ["eu-west-1a", "eu-west-1a"]);
    err
}

#[tokio::test]
async fn unauthorized_stops_at_once() {
    a_refused_create_stops_at_once(ErrorKind::Unauthorized, "UnauthorizedOperation").await;
}

#[tokio::test]
async fn clock_skew_stops_at_once_and_releases_what_was_made() {
    let err = a_refused_create_stops_at_once(ErrorKind::ClockSkew, "RequestExpired").await;
    // Not retried: the next attempt is signed with the same clock.
    assert!(!err.is_retryable());
    let text = err.to_string();
    assert!(text.contains("NTP"), "{text}");
}

#[tokio::test(start_paused = true)]
async fn throttled_create_is_retried_after_the_servers_delay() {
    let mut m = adapter();
    offers_abc(&mut m);
    finds_nothing(&mut m);
    let retry_after = Duration::from_millis(15);
    let calls = AtomicUsize::new(0);
    // The first call is throttled, its retry succeeds.
    let requests = creates(&mut m, move |req| {
        if calls.fetch_add(1, Ordering::SeqCst) == 0 {
            let throttled = CloudError::new(
                ErrorKind::Throttled,
                Cloud::Aws,
                "CreateCapacityReservation",
                "RequestLimitExceeded",
                "slow down",
            )
            .retry_after(Some(retry_after));
            return Err(throttled.into());
        }
        Ok(created(req))
    });
    m.expect_cancel().never();
    m.expect_finish_region().never();
    let plan = plan(vec![region(
        "eu-west-1",
        &["eu-west-1a"],
        false,
        vec![demand("i4i.large", 3)],
    )]);

    let start = tokio::time::Instant::now();
    let set = engine(m).reserve(&plan).await.unwrap();

    assert_eq!(set.regions[0].zone.as_deref(), Some("eu-west-1a"));
    let requests = requests.lock().unwrap();
    assert_eq!(requests.len(), 2);
    assert_eq!(
        requests[0], requests[1],
        "a retry repeats the request, attempt included"
    );
    // The clock is paused (virtual time): this checks the delay chosen, not the machine.
    assert!(start.elapsed() >= retry_after);
}

#[tokio::test]
async fn a_later_region_failing_rolls_back_the_earlier_ones() {
    let mut m = adapter();
    finds_nothing(&mut m);
    m.expect_zones()
        .withf(|r, _| r == "us-east-1")
        .times(1)
        .returning(|_, _| Ok(vec!["us-east-1a".into(), "us-east-1b".into()]));
    m.expect_zones()
        .withf(|r, _| r == "eu-west-1")
        .times(1)
        .returning(|_, _| Ok(vec!["eu-west-1a".into()]));
    creates(&mut m, |req| match req.zone.as_str() {
        "us-east-1a" => Err(no_capacity()),
        "us-east-1b" => Err(zone_quota("ReservationCapacityExceeded")),
        _ => Ok(created(req)),
    });
    expect_cancel(&mut m, id("eu-west-1a", "i4i.large"), || {
        Ok(CancelOutcome::Cancelled)
    });
    expect_finish(&mut m, "eu-west-1", 1);
    expect_finish(&mut m, "us-east-1", 1);
    let plan = plan(vec![
        region(
            "eu-west-1",
            &["eu-west-1a"],
            false,
            vec![demand("i4i.large", 3)],
        ),
        region("us-east-1", &[], true, vec![demand("i4i.large", 1)]),
    ]);

    let err = engine(m).reserve(&plan).await.unwrap_err();

    let Error::NoZoneAvailable {
        region, attempts, ..
    } = &err
    else {
        panic!("expected NoZoneAvailable, got {err}");
    };
    assert_eq!(region, "us-east-1");
    let tried: Vec<(&str, &str)> = attempts
        .iter()
        .map(|a| (a.zone.as_str(), a.error.code.as_str()))
        .collect();
    assert_eq!(
        tried,
        [
            ("us-east-1a", "InsufficientInstanceCapacity"),
            ("us-east-1b", "ReservationCapacityExceeded")
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn a_failed_rollback_names_what_is_still_held() {
    let mut m = adapter();
    offers_abc(&mut m);
    finds_nothing(&mut m);
    creates(&mut m, |req| {
        if req.region == "us-east-1" {
            Err(cloud_error(
                ErrorKind::InvalidRequest,
                "InvalidParameterValue",
            ))
        } else {
            Ok(created(req))
        }
    });
    // A transient failure that persists through every retry.
    m.expect_cancel()
        .withf(|r| r.id.0 == id("eu-west-1a", "i4i.large"))
        .times(1 + RetryPolicy::fast().max_retries)
        .returning(|_| {
            Err(CloudError::new(
                ErrorKind::Transient,
                Cloud::Aws,
                "CancelCapacityReservation",
                "InternalError",
                "try again",
            )
            .into())
        });
    // The region still holding a reservation is not finished; the other one is.
    expect_finish(&mut m, "eu-west-1", 0);
    expect_finish(&mut m, "us-east-1", 1);
    let plan = plan(vec![
        region(
            "eu-west-1",
            &["eu-west-1a"],
            false,
            vec![demand("i4i.large", 3)],
        ),
        region(
            "us-east-1",
            &["us-east-1a"],
            false,
            vec![demand("i4i.large", 1)],
        ),
    ]);

    let err = engine(m).reserve(&plan).await.unwrap_err();

    let Error::RollbackFailed { cause, leftovers } = &err else {
        panic!("expected RollbackFailed, got {err}");
    };
    assert_eq!(cause.kind(), ErrorKind::InvalidRequest);
    assert_eq!(leftovers.len(), 1);
    assert_eq!(leftovers[0].id, "cr-eu-west-1a-i4i.large");
    assert_eq!(leftovers[0].region, "eu-west-1");
    assert_eq!(leftovers[0].zone.as_deref(), Some("eu-west-1a"));
    assert_eq!(leftovers[0].instance_type, "i4i.large");
    assert!(leftovers[0].error.contains("InternalError"));
    assert!(err.to_string().contains("cr-eu-west-1a-i4i.large"));
}

#[tokio::test]
async fn no_zone_lists_every_zone_tried_with_its_code() {
    let mut m = adapter();
    finds_nothing(&mut m);
    m.expect_zones().times(1).returning(|_, _| {
        Ok(vec![
            "eu-west-1b".into(),
            "eu-west-1c".into(),
            "eu-west-1a".into(),
        ])
    });
    creates(&mut m, |req| match req.zone.as_str() {
        "eu-west-1a" => Err(no_capacity()),
        "eu-west-1b" => Err(zone_quota("VcpuLimitExceeded")),
        _ => Err(cloud_error(ErrorKind::NotOffered, "Unsupported")),
    });
    m.expect_cancel().never();
    expect_finish(&mut m, "eu-west-1", 1);
    let plan = plan(vec![region(
        "eu-west-1",
        &["eu-west-1a", "eu-west-1b"],
        true,
        vec![demand("i4i.large", 3)],
    )]);

    let err = engine(m).reserve(&plan).await.unwrap_err();

    let Error::NoZoneAvailable { attempts, .. } = &err else {
        panic!("expected NoZoneAvailable, got {err}");
    };
    let tried: Vec<(&str, &str)> = attempts
        .iter()
        .map(|a| (a.zone.as_str(), a.error.code.as_str()))
        .collect();
    assert_eq!(
        tried,
        [
            ("eu-west-1a", "InsufficientInstanceCapacity"),
            ("eu-west-1b", "VcpuLimitExceeded"),
            ("eu-west-1c", "Unsupported"),
        ]
    );
    let message = err.to_string();
    for code in [
        "InsufficientInstanceCapacity",
        "VcpuLimitExceeded",
        "Unsupported",
    ] {
        assert!(message.contains(code), "{message}");
    }
}

#[tokio::test]
async fn an_existing_complete_set_is_reused() {
    let mut m = adapter();
    let mut cancelled_earlier = reservation("eu-west-1", "eu-west-1a", "i4i.large", 3);
    cancelled_earlier.id = ReservationId("cr-old".into());
    cancelled_earlier.state = ReservationState::Cancelled;
    finds_in(
        &mut m,
        "eu-west-1",
        vec![
            reservation("eu-west-1", "eu-west-1b", "c6i.xlarge", 2),
            cancelled_earlier,
            reservation("eu-west-1", "eu-west-1b", "i4i.large", 3),
        ],
    );
    m.expect_create().never();
    m.expect_prepare_region().never();
    m.expect_cancel().never();
    offers_abc(&mut m);

    // Zone b was found through fallback by the first run; it is acceptable again.
    let set = engine(m)
        .reserve(&two_types(&["eu-west-1a"], true))
        .await
        .unwrap();

    assert_eq!(set.regions[0].zone.as_deref(), Some("eu-west-1b"));
    assert_eq!(
        ids(&set.regions[0].reservations),
        ["cr-eu-west-1b-i4i.large", "cr-eu-west-1b-c6i.xlarge"]
    );
}

#[tokio::test]
async fn a_duplicate_beside_a_complete_set_is_cancelled() {
    let mut m = adapter();
    offers_abc(&mut m);
    // A racing second process created one more i4i.large reservation.
    let mut duplicate = reservation("eu-west-1", "eu-west-1a", "i4i.large", 3);
    duplicate.id = ReservationId("cr-duplicate".into());
    finds_in(
        &mut m,
        "eu-west-1",
        vec![
            reservation("eu-west-1", "eu-west-1a", "i4i.large", 3),
            duplicate,
            reservation("eu-west-1", "eu-west-1a", "c6i.xlarge", 2),
        ],
    );
    expect_cancel(&mut m, "cr-duplicate".into(), || {
        Ok(CancelOutcome::Cancelled)
    });
    m.expect_create().never();
    m.expect_finish_region().never();

    let set = engine(m)
        .reserve(&two_types(&["eu-west-1a"], false))
        .await
        .unwrap();

    assert_eq!(
        ids(&set.regions[0].reservations),
        ["cr-eu-west-1a-i4i.large", "cr-eu-west-1a-c6i.xlarge"]
    );
}

#[tokio::test]
async fn an_incomplete_earlier_set_is_cancelled_and_reserved_afresh() {
    let mut m = adapter();
    offers_abc(&mut m);
    // The earlier run got one of two types, in a different count.
    finds_in(
        &mut m,
        "eu-west-1",
        vec![reservation("eu-west-1", "eu-west-1a", "i4i.large", 1)],
    );
    expect_cancel(&mut m, id("eu-west-1a", "i4i.large"), || {
        Ok(CancelOutcome::Cancelled)
    });
    let requests = creates(&mut m, |req| Ok(created(req)));
    m.expect_finish_region().never();

    let set = engine(m)
        .reserve(&two_types(&["eu-west-1a"], false))
        .await
        .unwrap();

    assert_eq!(set.regions[0].reservations.len(), 2);
    assert_eq!(set.regions[0].reservations[0].count, 3);
    assert_eq!(requests.lock().unwrap().len(), 2);
}

#[tokio::test]
async fn a_disabled_plan_reserves_nothing() {
    let mut m = adapter();
    m.expect_find().never();
    m.expect_create().never();
    let mut plan = two_types(&["eu-west-1a"], true);
    plan.enabled = false;
    plan.disabled_reason = Some("use_capacity_reservation is false".into());

    let err = engine(m).reserve(&plan).await.unwrap_err();

    assert!(matches!(err, Error::Disabled { .. }), "{err}");
    assert!(
        err.to_string()
            .contains("use_capacity_reservation is false")
    );
}

#[tokio::test]
async fn discover_groups_by_region_and_zone() {
    let mut m = adapter();
    finds_in(
        &mut m,
        "eu-west-1",
        vec![
            reservation("eu-west-1", "eu-west-1c", "i4i.large", 1),
            reservation("eu-west-1", "eu-west-1a", "c6i.xlarge", 2),
            reservation("eu-west-1", "eu-west-1a", "i4i.large", 3),
        ],
    );
    finds_in(&mut m, "us-east-1", Vec::new());
    let mut plan = two_types(&["eu-west-1a"], true);
    plan.regions
        .push(region("us-east-1", &[], true, vec![demand("i4i.large", 1)]));

    let set = engine(m).discover(&plan).await.unwrap();

    let entries: Vec<(&str, &str, Vec<&str>)> = set
        .regions
        .iter()
        .map(|e| {
            (
                e.region.as_str(),
                e.zone.as_deref().unwrap_or_default(),
                ids(&e.reservations),
            )
        })
        .collect();
    assert_eq!(
        entries,
        [
            (
                "eu-west-1",
                "eu-west-1a",
                vec!["cr-eu-west-1a-i4i.large", "cr-eu-west-1a-c6i.xlarge"]
            ),
            ("eu-west-1", "eu-west-1c", vec!["cr-eu-west-1c-i4i.large"]),
        ]
    );
    assert_eq!(
        set.get_id("eu-west-1c", "i4i.large").unwrap().unwrap().0,
        "cr-eu-west-1c-i4i.large"
    );
}

#[tokio::test]
async fn cancel_reports_cancelled_already_gone_and_failed() {
    let mut m = adapter();
    finds_in(
        &mut m,
        "eu-west-1",
        vec![
            reservation("eu-west-1", "eu-west-1a", "i4i.large", 3),
            reservation("eu-west-1", "eu-west-1a", "c6i.xlarge", 2),
            reservation("eu-west-1", "eu-west-1a", "m6i.large", 1),
        ],
    );
    finds_in(
        &mut m,
        "us-east-1",
        vec![reservation("us-east-1", "us-east-1a", "i4i.large", 1)],
    );
    expect_cancel(&mut m, id("eu-west-1a", "i4i.large"), || {
        Ok(CancelOutcome::Cancelled)
    });
    expect_cancel(&mut m, id("eu-west-1a", "c6i.xlarge"), || {
        Ok(CancelOutcome::AlreadyGone)
    });
    expect_cancel(&mut m, id("eu-west-1a", "m6i.large"), || {
        Err(CloudError::new(
            ErrorKind::NotFound,
            Cloud::Aws,
            "CancelCapacityReservation",
            "InvalidCapacityReservationId.NotFound",
            "gone",
        )
        .into())
    });
    expect_cancel(&mut m, id("us-east-1a", "i4i.large"), || {
        Err(CloudError::new(
            ErrorKind::Unauthorized,
            Cloud::Aws,
            "CancelCapacityReservation",
            "UnauthorizedOperation",
            "not allowed",
        )
        .into())
    });
    expect_finish(&mut m, "eu-west-1", 1);
    expect_finish(&mut m, "us-east-1", 0);
    let mut plan = two_types(&["eu-west-1a"], true);
    plan.regions
        .push(region("us-east-1", &[], true, vec![demand("i4i.large", 1)]));

    let report = engine(m).cancel(&plan).await.unwrap();

    assert_eq!(ids(&report.cancelled), ["cr-eu-west-1a-i4i.large"]);
    assert_eq!(
        ids(&report.already_gone),
        ["cr-eu-west-1a-c6i.xlarge", "cr-eu-west-1a-m6i.large"]
    );
    assert!(!report.is_complete());
    let [
        Leftover {
            kind: LeftoverKind::Reservation,
            id,
            region,
            zone,
            instance_type,
            error,
        },
    ] = report.failed.as_slice()
    else {
        panic!("expected one failure: {:?}", report.failed);
    };
    assert_eq!(id, "cr-us-east-1a-i4i.large");
    assert_eq!(
        (region.as_str(), zone.as_deref(), instance_type.as_str()),
        ("us-east-1", Some("us-east-1a"), "i4i.large")
    );
    assert!(error.contains("UnauthorizedOperation"), "{error}");
}

#[tokio::test]
async fn cancel_releases_the_listed_regions_when_one_listing_fails() {
    let mut m = adapter();
    finds_in(
        &mut m,
        "eu-west-1",
        vec![reservation("eu-west-1", "eu-west-1a", "i4i.large", 3)],
    );
    m.expect_find()
        .withf(|_, r| r.as_deref() == Some("us-east-1"))
        .times(1)
        .returning(|_, _| {
            Err(CloudError::new(
                ErrorKind::Unauthorized,
                Cloud::Aws,
                "DescribeCapacityReservations",
                "AuthFailure",
                "denied",
            )
            .into())
        });
    expect_cancel(&mut m, id("eu-west-1a", "i4i.large"), || {
        Ok(CancelOutcome::Cancelled)
    });
    expect_finish(&mut m, "eu-west-1", 1);
    expect_finish(&mut m, "us-east-1", 0);
    let mut plan = two_types(&["eu-west-1a"], true);
    plan.regions
        .push(region("us-east-1", &[], true, vec![demand("i4i.large", 1)]));

    let err = engine(m).cancel(&plan).await.unwrap_err();

    assert_eq!(err.kind(), ErrorKind::Unauthorized);
    assert_eq!(err.cloud_error().unwrap().code, "AuthFailure");
}

#[tokio::test]
async fn cancel_all_regions_lists_region_by_region() {
    let mut m = MockCloudAdapter::new();
    m.expect_cloud().return_const(Cloud::Aws);
    m.expect_lists_all_regions().return_const(false);
    m.expect_regions_with_resources()
        .returning(|_| Ok(Vec::new()));
    m.expect_regions().times(1).returning(|| {
        Ok(vec![
            "eu-west-1".into(),
            "us-east-1".into(),
            "ap-south-1".into(),
        ])
    });
    finds_in(
        &mut m,
        "eu-west-1",
        vec![reservation("eu-west-1", "eu-west-1a", "i4i.large", 3)],
    );
    finds_in(&mut m, "us-east-1", Vec::new());
    finds_in(
        &mut m,
        "ap-south-1",
        vec![reservation("ap-south-1", "ap-south-1b", "i4i.large", 1)],
    );
    expect_cancel(&mut m, id("eu-west-1a", "i4i.large"), || {
        Ok(CancelOutcome::Cancelled)
    });
    expect_cancel(&mut m, id("ap-south-1b", "i4i.large"), || {
        Ok(CancelOutcome::Cancelled)
    });
    expect_finish(&mut m, "eu-west-1", 1);
    expect_finish(&mut m, "ap-south-1", 1);
    expect_finish(&mut m, "us-east-1", 0);

    let report = engine(m).cancel_all_regions(TEST).await.unwrap();

    assert_eq!(
        ids(&report.cancelled),
        ["cr-eu-west-1a-i4i.large", "cr-ap-south-1b-i4i.large"]
    );
    assert!(report.already_gone.is_empty());
    assert!(report.is_complete());
}

#[tokio::test]
async fn cancel_all_regions_uses_one_global_listing_when_the_cloud_has_one() {
    let mut m = MockCloudAdapter::new();
    m.expect_cloud().return_const(Cloud::Gce);
    m.expect_lists_all_regions().return_const(true);
    m.expect_regions_with_resources()
        .returning(|_| Ok(Vec::new()));
    m.expect_regions().never();
    m.expect_find()
        .withf(|t, r| t == TEST && r.is_none())
        .times(1)
        .returning(|_, _| {
            Ok(vec![
                reservation("us-east1", "us-east1-b", "n2-highmem-8", 3),
                reservation("europe-west1", "europe-west1-c", "n2-highmem-8", 1),
                reservation("us-east1", "us-east1-b", "n2-standard-4", 2),
            ])
        });
    m.expect_cancel()
        .times(3)
        .returning(|_| Ok(CancelOutcome::Cancelled));
    expect_finish(&mut m, "us-east1", 1);
    expect_finish(&mut m, "europe-west1", 1);

    let report = engine(m).cancel_all_regions(TEST).await.unwrap();

    assert_eq!(report.cancelled.len(), 3);
    assert!(report.is_complete());
}

// ---- Engine v2: unknown outcomes, waiting, stopping, fresh tokens, quota scope, reuse ----

fn pending(req: &CreateRequest) -> Reservation {
    Reservation {
        state: ReservationState::Pending,
        ..created(req)
    }
}

fn timeout() -> Error {
    CloudError::new(
        ErrorKind::Timeout,
        Cloud::Aws,
        "CreateCapacityReservation",
        "timeout",
        "no answer",
    )
    .into()
}

fn one_type(zones: &[&str], zone_fallback: bool) -> CapacityPlan {
    plan(vec![region(
        "eu-west-1",
        zones,
        zone_fallback,
        vec![demand("i4i.large", 3)],
    )])
}

#[tokio::test(start_paused = true)]
async fn a_create_with_an_unknown_outcome_is_found_by_tag_and_released() {
    let mut m = adapter();
    offers_abc(&mut m);
    // The cloud carried out the create, but every answer was lost: the engine never saw
    // an id. Only the listing by tag finds it.
    let carried_out = reservation("eu-west-1", "eu-west-1a", "i4i.large", 3);
    let cloud: Arc<Mutex<Vec<Reservation>>> = Arc::default();
    let listings = Arc::new(AtomicUsize::new(0));
    let (seen, held) = (listings.clone(), cloud.clone());
    m.expect_find()
        .withf(|t, r| t == TEST && r.as_deref() == Some("eu-west-1"))
        .returning(move |_, _| {
            seen.fetch_add(1, Ordering::SeqCst);
            Ok(held.lock().unwrap().clone())
        });
    let made = cloud.clone();
    creates(&mut m, move |_| {
        // Retries carry the same token: the cloud keeps one reservation.
        let mut held = made.lock().unwrap();
        if held.is_empty() {
            held.push(carried_out.clone());
        }
        Err(timeout())
    });
    let released = cloud.clone();
    m.expect_cancel()
        .withf(|r| r.id.0 == id("eu-west-1a", "i4i.large"))
        .times(1)
        .returning(move |r| {
            released.lock().unwrap().retain(|x| x.id != r.id);
            Ok(CancelOutcome::Cancelled)
        });
    expect_finish(&mut m, "eu-west-1", 1);

    let err = engine(m)
        .reserve(&one_type(&["eu-west-1a"], false))
        .await
        .unwrap_err();

    assert_eq!(err.kind(), ErrorKind::Timeout, "{err}");
    assert!(
        listings.load(Ordering::SeqCst) >= 2,
        "the region was listed again"
    );
    assert!(cloud.lock().unwrap().is_empty(), "nothing is left");
}

#[tokio::test]
async fn a_pending_reservation_is_returned_only_once_usable() {
    let mut m = adapter();
    finds_nothing(&mut m);
    offers_abc(&mut m);
    creates(&mut m, |req| Ok(pending(req)));
    let polls = Arc::new(AtomicUsize::new(0));
    let counted = polls.clone();
    m.expect_poll().returning(move |r| {
        if counted.fetch_add(1, Ordering::SeqCst) < 2 {
            Ok(Readiness::Pending { retry_after: None })
        } else {
            Ok(Readiness::Ready(Reservation {
                state: ReservationState::Active,
                ..r.clone()
            }))
        }
    });
    m.expect_cancel().never();

    let set = engine(m)
        .reserve(&one_type(&["eu-west-1a"], false))
        .await
        .unwrap();

    assert_eq!(
        set.regions[0].reservations[0].state,
        ReservationState::Active
    );
    assert_eq!(polls.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn a_reservation_failing_while_pending_is_the_zone_failing() {
    let mut m = adapter();
    finds_nothing(&mut m);
    offers_abc(&mut m);
    creates(&mut m, |req| {
        if req.zone == "eu-west-1a" {
            Ok(pending(req))
        } else {
            Ok(created(req))
        }
    });
    m.expect_poll()
        .returning(|_| Ok(Readiness::Failed(no_capacity())));
    // The failed reservation holds nothing: the rollback polls it, finds it failed, and
    // has nothing to cancel.
    m.expect_cancel().never();

    let set = engine(m)
        .reserve(&one_type(&["eu-west-1a"], true))
        .await
        .unwrap();

    assert_eq!(set.regions[0].zone.as_deref(), Some("eu-west-1b"));
}

#[tokio::test]
async fn cancelling_stops_new_creates_and_rolls_back() {
    let mut m = adapter();
    finds_nothing(&mut m);
    offers_abc(&mut m);
    let token = tokio_util::sync::CancellationToken::new();
    let cancel_on_create = token.clone();
    creates(&mut m, move |req| {
        // The signal arrives while the first create is in flight.
        cancel_on_create.cancel();
        Ok(created(req))
    });
    expect_cancel(&mut m, id("eu-west-1a", "i4i.large"), || {
        Ok(CancelOutcome::Cancelled)
    });
    expect_finish(&mut m, "eu-west-1", 1);
    expect_finish(&mut m, "us-east-1", 0);
    let plan = plan(vec![
        region(
            "eu-west-1",
            &["eu-west-1a"],
            false,
            vec![demand("i4i.large", 3)],
        ),
        region(
            "us-east-1",
            &["us-east-1a"],
            false,
            vec![demand("i4i.large", 1)],
        ),
    ]);

    let err = engine(m).reserve_until(&plan, &token).await.unwrap_err();

    assert_eq!(err.kind(), ErrorKind::Interrupted, "{err}");
}

#[tokio::test(start_paused = true)]
async fn a_reserve_past_its_deadline_is_rolled_back() {
    let mut m = adapter();
    finds_nothing(&mut m);
    offers_abc(&mut m);
    creates(&mut m, |req| Ok(pending(req)));
    m.expect_poll()
        .returning(|_| Ok(Readiness::Pending { retry_after: None }));
    expect_cancel(&mut m, id("eu-west-1a", "i4i.large"), || {
        Ok(CancelOutcome::Cancelled)
    });
    expect_finish(&mut m, "eu-west-1", 1);

    let err = engine(m)
        .with_reserve_deadline(Duration::from_secs(60))
        .reserve(&one_type(&["eu-west-1a"], false))
        .await
        .unwrap_err();

    let Error::DeadlineExceeded { after, .. } = &err else {
        panic!("expected DeadlineExceeded, got {err}");
    };
    assert_eq!(*after, Duration::from_secs(60));
}

#[tokio::test]
async fn a_settled_failure_is_retried_with_a_fresh_token() {
    let mut m = adapter();
    finds_nothing(&mut m);
    offers_abc(&mut m);
    let calls = Arc::new(AtomicUsize::new(0));
    let counted = calls.clone();
    let requests = creates(&mut m, move |req| {
        if counted.fetch_add(1, Ordering::SeqCst) == 0 {
            // The cloud's operation finished with a transient error: a retry with the same
            // token would get this failure back.
            Err(CloudError::new(
                ErrorKind::Transient,
                Cloud::Gce,
                "reservations.insert",
                "INTERNAL_ERROR",
                "try again",
            )
            .settled()
            .into())
        } else {
            Ok(created(req))
        }
    });

    engine(m)
        .reserve(&one_type(&["eu-west-1a"], false))
        .await
        .unwrap();

    let requests = requests.lock().unwrap();
    assert_eq!(requests.len(), 2);
    assert_ne!(requests[0].attempt, requests[1].attempt);
}

#[tokio::test]
async fn an_ended_reservation_behind_a_token_gets_a_fresh_token() {
    let mut m = adapter();
    finds_nothing(&mut m);
    offers_abc(&mut m);
    let calls = Arc::new(AtomicUsize::new(0));
    let counted = calls.clone();
    let requests = creates(&mut m, move |req| {
        let mut r = created(req);
        if counted.fetch_add(1, Ordering::SeqCst) == 0 {
            // The token's earlier reservation was cancelled by a rollback.
            r.state = ReservationState::Cancelled;
            r.id = ReservationId("cr-old".into());
        }
        Ok(r)
    });
    m.expect_cancel().never();

    let set = engine(m)
        .reserve(&one_type(&["eu-west-1a"], false))
        .await
        .unwrap();

    assert_eq!(
        ids(&set.regions[0].reservations),
        ["cr-eu-west-1a-i4i.large"]
    );
    let requests = requests.lock().unwrap();
    assert_ne!(requests[0].attempt, requests[1].attempt);
}

#[tokio::test]
async fn a_regional_quota_ends_the_region_without_trying_other_zones() {
    let mut m = adapter();
    finds_nothing(&mut m);
    offers_abc(&mut m);
    let requests = creates(&mut m, |_| {
        Err(cloud_error(ErrorKind::QuotaExceeded, "VcpuLimitExceeded"))
    });
    expect_finish(&mut m, "eu-west-1", 1);

    let err = engine(m)
        .reserve(&one_type(&["eu-west-1a"], true))
        .await
        .unwrap_err();

    assert_eq!(zones_of(&requests), ["eu-west-1a"], "one zone tried");
    let Error::QuotaExhausted { error, .. } = &err else {
        panic!("expected QuotaExhausted, got {err}");
    };
    assert_eq!(error.code, "VcpuLimitExceeded");
    let message = err.to_string();
    assert!(
        message.contains("VcpuLimitExceeded")
            && message.contains("raise that quota (the cloud's message above names it)"),
        "{message}"
    );
    assert!(message.contains("region"), "{message}");
}

#[tokio::test]
async fn the_raise_quota_hint_appears_only_when_a_quota_was_hit() {
    let mut m = adapter();
    finds_nothing(&mut m);
    offers_abc(&mut m);
    creates(&mut m, |_| Err(no_capacity()));
    expect_finish(&mut m, "eu-west-1", 1);

    let err = engine(m)
        .reserve(&one_type(&["eu-west-1a"], false))
        .await
        .unwrap_err();

    assert!(!err.to_string().contains("quota"), "{err}");
}

#[tokio::test]
async fn a_configured_zone_not_offering_a_type_is_skipped_and_said() {
    let mut m = adapter();
    finds_nothing(&mut m);
    m.expect_zones()
        .returning(|_, _| Ok(vec!["eu-west-1b".into(), "eu-west-1c".into()]));
    let requests = creates(&mut m, |req| Ok(created(req)));

    let set = engine(m)
        .reserve(&one_type(&["eu-west-1a"], true))
        .await
        .unwrap();

    assert_eq!(
        zones_of(&requests),
        ["eu-west-1b"],
        "eu-west-1a is never tried"
    );
    assert_eq!(set.regions[0].zone.as_deref(), Some("eu-west-1b"));
    let skipped = &set.regions[0].skipped_zones;
    assert_eq!(skipped.len(), 1);
    assert_eq!(skipped[0].zone, "eu-west-1a");
    assert!(skipped[0].reason.contains("i4i.large"), "{skipped:?}");
}

#[tokio::test]
async fn a_pinned_zone_not_offering_a_type_fails_without_leaving_it() {
    let mut m = adapter();
    finds_nothing(&mut m);
    m.expect_zones()
        .returning(|_, _| Ok(vec!["eu-west-1b".into()]));
    m.expect_create().never();

    let err = engine(m)
        .reserve(&one_type(&["eu-west-1a"], false))
        .await
        .unwrap_err();

    let Error::NoZoneAvailable { skipped, .. } = &err else {
        panic!("expected NoZoneAvailable, got {err}");
    };
    assert_eq!(skipped[0].zone, "eu-west-1a");
    assert!(
        err.to_string().contains("configured zones skipped"),
        "{err}"
    );
}

#[tokio::test]
async fn an_existing_set_ending_too_early_is_not_reused() {
    let mut m = adapter();
    offers_abc(&mut m);
    let mut short = reservation("eu-west-1", "eu-west-1a", "i4i.large", 3);
    short.id = ReservationId("cr-short".into());
    // Past the plan's 60-minute reuse slack (its reservation buffer).
    short.end_time = Some(end_time() - jiff::SignedDuration::from_mins(61));
    finds_in(&mut m, "eu-west-1", vec![short]);
    expect_cancel(&mut m, "cr-short".into(), || Ok(CancelOutcome::Cancelled));
    let requests = creates(&mut m, |req| Ok(created(req)));

    let set = engine(m)
        .reserve(&one_type(&["eu-west-1a"], false))
        .await
        .unwrap();

    assert_eq!(requests.lock().unwrap().len(), 1);
    assert!(!set.regions[0].reused);
}

#[tokio::test]
async fn an_existing_set_without_the_demanded_local_ssds_is_not_reused() {
    let mut m = adapter();
    offers_abc(&mut m);
    // Made for a plan without local SSDs.
    let mut plain = reservation("eu-west-1", "eu-west-1a", "n2-highmem-16", 3);
    plain.id = ReservationId("cr-plain".into());
    finds_in(&mut m, "eu-west-1", vec![plain]);
    expect_cancel(&mut m, "cr-plain".into(), || Ok(CancelOutcome::Cancelled));
    let requests = creates(&mut m, |req| Ok(created(req)));
    let mut with_ssds = demand("n2-highmem-16", 3);
    with_ssds.details.local_ssds = 4;
    let plan = plan(vec![region(
        "eu-west-1",
        &["eu-west-1a"],
        false,
        vec![with_ssds],
    )]);

    let set = engine(m).reserve(&plan).await.unwrap();

    let requests = requests.lock().unwrap();
    assert_eq!(requests.len(), 1);
    assert_eq!(
        requests[0]
            .tags
            .0
            .get(cr_core::tags::CR_DETAILS)
            .map(String::as_str),
        Some("local_ssds=4"),
        "the details are recorded for the next run"
    );
    assert!(!set.regions[0].reused);
}

#[tokio::test]
async fn a_reused_set_is_marked_reused_and_pending_members_are_waited_for() {
    let mut m = adapter();
    offers_abc(&mut m);
    let mut in_flight = reservation("eu-west-1", "eu-west-1a", "i4i.large", 3);
    in_flight.state = ReservationState::Pending;
    let ready = reservation("eu-west-1", "eu-west-1a", "i4i.large", 3);
    // Listed while still being created, then (looked at again once settled) usable.
    let listings = Arc::new(AtomicUsize::new(0));
    m.expect_find().times(2).returning(move |_, _| {
        if listings.fetch_add(1, Ordering::SeqCst) == 0 {
            Ok(vec![in_flight.clone()])
        } else {
            Ok(vec![ready.clone()])
        }
    });
    m.expect_poll().times(1).returning(|r| {
        Ok(Readiness::Ready(Reservation {
            state: ReservationState::Active,
            ..r.clone()
        }))
    });
    m.expect_create().never();

    let set = engine(m)
        .reserve(&one_type(&["eu-west-1a"], false))
        .await
        .unwrap();

    assert!(set.regions[0].reused);
    assert_eq!(
        set.regions[0].reservations[0].state,
        ReservationState::Active
    );
}

#[tokio::test]
async fn an_in_flight_reservation_that_fails_is_not_reused() {
    let mut m = adapter();
    offers_abc(&mut m);
    let mut in_flight = reservation("eu-west-1", "eu-west-1a", "i4i.large", 3);
    in_flight.state = ReservationState::Pending;
    in_flight.id = ReservationId("cr-in-flight".into());
    // Listed while being created; once its creation failed, no longer live.
    let listings = Arc::new(AtomicUsize::new(0));
    m.expect_find().returning(move |_, _| {
        if listings.fetch_add(1, Ordering::SeqCst) == 0 {
            Ok(vec![in_flight.clone()])
        } else {
            Ok(Vec::new())
        }
    });
    m.expect_poll()
        .returning(|_| Ok(Readiness::Failed(no_capacity())));
    m.expect_cancel().never();
    let requests = creates(&mut m, |req| Ok(created(req)));

    let set = engine(m)
        .reserve(&one_type(&["eu-west-1a"], false))
        .await
        .unwrap();

    assert_eq!(requests.lock().unwrap().len(), 1);
    assert!(!set.regions[0].reused);
}

#[tokio::test(start_paused = true)]
async fn a_rollback_waits_for_a_reservation_still_being_created_before_cancelling() {
    let mut m = adapter();
    finds_nothing(&mut m);
    offers_abc(&mut m);
    creates(&mut m, |req| Ok(pending(req)));
    let token = tokio_util::sync::CancellationToken::new();
    let stop = token.clone();
    let polls = Arc::new(AtomicUsize::new(0));
    let counted = polls.clone();
    m.expect_poll().returning(move |r| {
        // The signal comes while the reservation is being created; it stays pending for a
        // while longer, then is usable: only then may it be cancelled.
        stop.cancel();
        if counted.fetch_add(1, Ordering::SeqCst) < 3 {
            Ok(Readiness::Pending { retry_after: None })
        } else {
            Ok(Readiness::Ready(r.clone()))
        }
    });
    let polled = polls.clone();
    m.expect_cancel()
        .withf(|r| r.id.0 == id("eu-west-1a", "i4i.large"))
        .times(1)
        .returning(move |_| {
            assert!(
                polled.load(Ordering::SeqCst) >= 4,
                "cancelled before it was ready"
            );
            Ok(CancelOutcome::Cancelled)
        });
    expect_finish(&mut m, "eu-west-1", 1);

    let err = engine(m)
        .reserve_until(&one_type(&["eu-west-1a"], false), &token)
        .await
        .unwrap_err();

    assert_eq!(err.kind(), ErrorKind::Interrupted, "{err}");
}

#[tokio::test]
async fn cancel_all_regions_finishes_regions_whose_resources_outlived_their_reservations() {
    let mut m = MockCloudAdapter::new();
    m.expect_cloud().return_const(Cloud::Aws);
    m.expect_lists_all_regions().return_const(true);
    m.expect_find().returning(|_, _| Ok(Vec::new()));
    // A crash after the last cancel left an empty reservation group in us-east-1.
    m.expect_regions_with_resources()
        .withf(|t| t == TEST)
        .returning(|_| Ok(vec!["us-east-1".into()]));
    expect_finish(&mut m, "us-east-1", 1);

    let report = engine(m).cancel_all_regions(TEST).await.unwrap();

    assert!(report.is_complete());
    assert!(report.cancelled.is_empty());
}

#[tokio::test]
async fn a_set_half_made_by_a_concurrent_run_is_waited_for_not_cancelled() {
    let mut m = adapter();
    offers_abc(&mut m);
    // The other run's first reservation is being created; its second create is on its way
    // and shows up by the time the first has settled.
    let mut first = reservation("eu-west-1", "eu-west-1a", "i4i.large", 3);
    first.state = ReservationState::Pending;
    let listings = Arc::new(AtomicUsize::new(0));
    m.expect_find().returning(move |_, _| {
        if listings.fetch_add(1, Ordering::SeqCst) == 0 {
            Ok(vec![first.clone()])
        } else {
            Ok(vec![
                reservation("eu-west-1", "eu-west-1a", "i4i.large", 3),
                reservation("eu-west-1", "eu-west-1a", "c6i.xlarge", 2),
            ])
        }
    });
    m.expect_poll()
        .returning(|r| Ok(Readiness::Ready(r.clone())));
    m.expect_cancel().never();
    m.expect_create().never();

    let set = engine(m)
        .reserve(&two_types(&["eu-west-1a"], false))
        .await
        .unwrap();

    assert!(set.regions[0].reused);
    assert_eq!(
        ids(&set.regions[0].reservations),
        ["cr-eu-west-1a-i4i.large", "cr-eu-west-1a-c6i.xlarge"]
    );
}

#[tokio::test]
async fn progress_events_follow_a_fallback_step_by_step() {
    use cr_core::progress::{Event, Progress, ReleaseOutcome};

    let mut m = adapter();
    finds_nothing(&mut m);
    offers_abc(&mut m);
    creates(&mut m, |req| {
        if req.zone == "eu-west-1a" && req.demand.instance_type == "c6i.xlarge" {
            Err(no_capacity())
        } else {
            Ok(created(req))
        }
    });
    expect_cancel(&mut m, id("eu-west-1a", "i4i.large"), || {
        Ok(CancelOutcome::Cancelled)
    });
    let events = Arc::new(Mutex::new(Vec::new()));
    let sink = events.clone();
    let engine = engine(m).with_progress(Progress::new(move |e: &Event| {
        sink.lock().unwrap().push(e.clone())
    }));

    engine
        .reserve(&two_types(&["eu-west-1a"], true))
        .await
        .unwrap();

    let events = events.lock().unwrap();
    let names: Vec<String> = events
        .iter()
        .map(|e| match e {
            Event::RegionStarted { zones, .. } => format!("region {}", zones.join(",")),
            Event::ZoneStarted { zone, .. } => format!("zone {zone}"),
            Event::Created { reservation, .. } => format!("created {}", reservation.id),
            Event::Ready { reservation } => format!("ready {}", reservation.id),
            Event::ZoneFailed {
                zone,
                instance_type,
                kind,
                code,
                ..
            } => format!("failed {zone} {instance_type} {kind:?} {code:?}"),
            Event::Releasing { reservation } => format!("releasing {}", reservation.id),
            Event::Released {
                reservation,
                outcome,
            } => {
                assert_eq!(*outcome, ReleaseOutcome::Cancelled);
                format!("released {}", reservation.id)
            }
            Event::RegionReserved { zone, .. } => format!("reserved {zone:?}"),
            other => format!("{other:?}"),
        })
        .collect();
    // The two creates of a zone run at once: compare each zone's events as a set. The failed
    // zone's rollback runs while the next zone is tried, and is done before the region is.
    let a_end = names.iter().position(|n| n == "zone eu-west-1b").unwrap();
    let mut first: Vec<&str> = names[..a_end]
        .iter()
        .map(String::as_str)
        .filter(|n| !n.starts_with("releas"))
        .collect();
    first.sort_unstable();
    let mut expected_first = vec![
        "region eu-west-1a,eu-west-1b,eu-west-1c",
        "zone eu-west-1a",
        "created cr-eu-west-1a-i4i.large",
        "ready cr-eu-west-1a-i4i.large",
        "failed eu-west-1a c6i.xlarge CapacityUnavailable Some(\"InsufficientInstanceCapacity\")",
    ];
    expected_first.sort_unstable();
    assert_eq!(first, expected_first, "events: {names:#?}");
    let reserved = names.len() - 1;
    assert_eq!(names[reserved], "reserved Some(\"eu-west-1b\")");
    let releasing = names
        .iter()
        .position(|n| n == "releasing cr-eu-west-1a-i4i.large")
        .unwrap_or_else(|| panic!("zone a is rolled back: {names:#?}"));
    let released = names
        .iter()
        .position(|n| n == "released cr-eu-west-1a-i4i.large")
        .unwrap_or_else(|| panic!("zone a is rolled back: {names:#?}"));
    assert!(releasing < released && released < reserved, "{names:#?}");
    assert_eq!(
        names
            .iter()
            .filter(|n| n.starts_with("ready cr-eu-west-1b"))
            .count(),
        2
    );
}

/// Reserves `two_types` over an earlier run's complete set that ends `minutes_early` before
/// this plan would; whether the set was reused.
async fn rerun_over_a_set_ending_early(minutes_early: i64) -> bool {
    let earlier = |t: &str, n| {
        let mut r = reservation("eu-west-1", "eu-west-1a", t, n);
        r.end_time = Some(end_time() - jiff::SignedDuration::from_mins(minutes_early));
        r
    };
    let mut m = adapter();
    finds_in(
        &mut m,
        "eu-west-1",
        vec![earlier("i4i.large", 3), earlier("c6i.xlarge", 2)],
    );
    // Released only when not reused; then reserved afresh.
    m.expect_cancel()
        .returning(|_| Ok(CancelOutcome::Cancelled));
    offers_abc(&mut m);
    let requests = creates(&mut m, |req| Ok(created(req)));
    let set = engine(m)
        .reserve(&two_types(&["eu-west-1a"], true))
        .await
        .unwrap();
    assert_eq!(requests.lock().unwrap().is_empty(), set.regions[0].reused);
    set.regions[0].reused
}

#[tokio::test]
async fn a_rerun_within_the_reservation_buffer_reuses_the_set() {
    // 40 minutes early is within the plan's 60-minute buffer: the set still covers the test,
    // and releasing it would give up capacity the test needs.
    assert!(rerun_over_a_set_ending_early(40).await);
    // 90 minutes early, past the buffer: it no longer covers the test.
    assert!(!rerun_over_a_set_ending_early(90).await);
}

#[tokio::test]
async fn a_type_no_zone_of_the_region_offers_is_a_configuration_error_naming_it() {
    let mut m = adapter();
    finds_nothing(&mut m);
    // The cloud offers c6i.xlarge everywhere and "i4i.huge" (a typo) nowhere.
    m.expect_zones().returning(|r, types| {
        Ok(if types.iter().any(|t| t == "i4i.huge") {
            Vec::new()
        } else {
            vec![format!("{r}a"), format!("{r}b")]
        })
    });
    m.expect_create().never();
    let plan = plan(vec![region(
        "eu-west-1",
        &["eu-west-1a"],
        true,
        vec![demand("i4i.huge", 3), demand("c6i.xlarge", 2)],
    )]);

    let err = engine(m).reserve(&plan).await.unwrap_err();

    assert_eq!(err.kind(), ErrorKind::InvalidConfig, "{err}");
    let message = err.to_string();
    assert!(
        message.contains("instance type i4i.huge (for the db nodes)"),
        "{message}"
    );
    assert!(
        !message.contains("c6i.xlarge"),
        "only the missing type is named: {message}"
    );
    assert!(message.contains("eu-west-1"), "{message}");
}

#[tokio::test]
async fn what_a_rerun_releases_is_said_with_why_before_it_is_released() {
    use cr_core::progress::{Event, Progress};

    let mut m = adapter();
    // The earlier run held 2 × i4i.large; this plan wants 3 (and 2 × c6i.xlarge).
    finds_in(
        &mut m,
        "eu-west-1",
        vec![
            reservation("eu-west-1", "eu-west-1a", "i4i.large", 2),
            reservation("eu-west-1", "eu-west-1a", "c6i.xlarge", 2),
        ],
    );
    let order = Arc::new(Mutex::new(Vec::new()));
    let seen = order.clone();
    m.expect_cancel().returning(move |r| {
        seen.lock().unwrap().push(format!("cancel {}", r.id));
        Ok(CancelOutcome::Cancelled)
    });
    offers_abc(&mut m);
    creates(&mut m, |req| Ok(created(req)));
    let events = order.clone();
    let engine = engine(m).with_progress(Progress::new(move |e: &Event| {
        if let Event::NotReused {
            reservation,
            reason,
            ..
        } = e
        {
            events
                .lock()
                .unwrap()
                .push(format!("not reused {}: {reason}", reservation.id));
        }
    }));

    engine
        .reserve(&two_types(&["eu-west-1a"], true))
        .await
        .unwrap();

    let order = order.lock().unwrap();
    let said = order
        .iter()
        .position(|l| {
            l == "not reused cr-eu-west-1a-i4i.large: it holds 2 x i4i.large, the plan now wants 3"
        })
        .unwrap_or_else(|| panic!("{order:#?}"));
    let cancelled = order
        .iter()
        .position(|l| l == "cancel cr-eu-west-1a-i4i.large")
        .unwrap();
    assert!(said < cancelled, "said before done: {order:#?}");
    assert!(
        !order.iter().any(|l| l.contains("cr-eu-west-1a-c6i.xlarge")),
        "the c6i.xlarge reservation serves the plan as it is: used, not released: {order:#?}"
    );
}

/// A mock like [`adapter`] whose regions allow the regional last resort (or not).
fn adapter_regional(allowed: bool) -> MockCloudAdapter {
    let mut m = MockCloudAdapter::new();
    m.expect_cloud().return_const(Cloud::Azure);
    m.expect_lists_all_regions().return_const(false);
    m.expect_prepare_region().returning(move |_| {
        let mut handle = RegionHandle::default();
        if allowed {
            handle.extra.insert(
                cr_core::adapter::REGIONAL_LAST_RESORT.to_string(),
                "true".to_string(),
            );
        }
        Ok(handle)
    });
    m.expect_resolve_zones().returning(|_, z| Ok(z.to_vec()));
    m.expect_regions_with_resources()
        .returning(|_| Ok(Vec::new()));
    finds_nothing(&mut m);
    m.expect_zones()
        .returning(|_, _| Ok(vec!["1".to_string(), "2".to_string()]));
    m
}

#[tokio::test]
async fn every_zone_out_of_capacity_falls_back_to_a_regional_reservation_when_allowed() {
    let mut m = adapter_regional(true);
    m.expect_cancel().never();
    let requests = creates(&mut m, |req| {
        if req.zone.is_empty() {
            let mut r = created(req);
            r.zone = None;
            Ok(r)
        } else {
            Err(no_capacity())
        }
    });
    let set = engine(m)
        .reserve(&two_types(&["1"], true))
        .await
        .expect("the regional last resort holds the set");
    assert_eq!(set.regions[0].zone, None);
    assert!(set.regions[0].reservations.iter().all(|r| r.zone.is_none()));
    let mut zones = zones_of(&requests);
    zones.sort();
    assert_eq!(zones, ["", "", "1", "1", "2", "2"]);
}

#[tokio::test]
async fn without_the_regional_last_resort_every_zone_out_of_capacity_fails() {
    let mut m = adapter_regional(false);
    m.expect_cancel().never();
    m.expect_finish_region().returning(|_, _| Ok(()));
    let requests = creates(&mut m, |_| Err(no_capacity()));
    let err = engine(m)
        .reserve(&two_types(&["1"], true))
        .await
        .expect_err("no zone has capacity");
    assert!(matches!(err, Error::NoZoneAvailable { .. }), "{err}");
    assert!(
        zones_of(&requests).iter().all(|z| !z.is_empty()),
        "no regional try without the region allowing it"
    );
}

/// What a changed-plan rerun did, in order: creates (`create <zone> <type> x<count>`) and
/// cancels (`cancel <id>`).
type Log = Arc<Mutex<Vec<String>>>;

/// A mock holding 2 × i4i.large and 2 × c6i.xlarge in eu-west-1a from an earlier run, whose
/// creates go through `outcome` (ids end in `-new`), logging creates and cancels in order.
fn rerun_of_a_changed_plan(
    m: MockCloudAdapter,
    outcome: impl Fn(&CreateRequest, &Log) -> Result<Reservation> + Send + Sync + 'static,
) -> (Engine, Log, Requests) {
    rerun_holding(
        m,
        vec![
            reservation("eu-west-1", "eu-west-1a", "i4i.large", 2),
            reservation("eu-west-1", "eu-west-1a", "c6i.xlarge", 2),
        ],
        outcome,
    )
}

/// Like [`rerun_of_a_changed_plan`], with the test holding `found` in eu-west-1.
fn rerun_holding(
    mut m: MockCloudAdapter,
    found: Vec<Reservation>,
    outcome: impl Fn(&CreateRequest, &Log) -> Result<Reservation> + Send + Sync + 'static,
) -> (Engine, Log, Requests) {
    finds_in(&mut m, "eu-west-1", found);
    offers_abc(&mut m);
    let log = Log::default();
    let cancels = log.clone();
    m.expect_cancel().returning(move |r| {
        cancels.lock().unwrap().push(format!("cancel {}", r.id));
        Ok(CancelOutcome::Cancelled)
    });
    let creates_log = log.clone();
    let requests = creates(&mut m, move |req| {
        creates_log.lock().unwrap().push(format!(
            "create {} {} x{}",
            req.zone, req.demand.instance_type, req.demand.count
        ));
        outcome(req, &creates_log).map(|mut r| {
            r.id = ReservationId(format!("{}-new", r.id));
            r
        })
    });
    (engine(m), log, requests)
}

/// What a reserve reported about reservations it found: `not_reused` (id, kept until
/// replaced) and `held` (id) events.
type Found = Arc<Mutex<(Vec<(String, bool)>, Vec<String>)>>;

fn reporting_found(engine: Engine) -> (Engine, Found) {
    use cr_core::progress::{Event, Progress};
    let found = Found::default();
    let seen = found.clone();
    let engine = engine.with_progress(Progress::new(move |e: &Event| match e {
        Event::NotReused {
            reservation,
            kept_until_replaced,
            ..
        } => seen
            .lock()
            .unwrap()
            .0
            .push((reservation.id.clone(), *kept_until_replaced)),
        Event::Held { reservation } => seen.lock().unwrap().1.push(reservation.id.clone()),
        _ => {}
    }));
    (engine, found)
}

#[tokio::test]
async fn a_changed_plan_is_acquired_before_the_earlier_set_is_released_where_the_cloud_can_hold_both()
 {
    let (engine, log, requests) =
        rerun_of_a_changed_plan(adapter_holding_beside(|_, _, _| true), |req, _| {
            Ok(created(req))
        });
    let (engine, found) = reporting_found(engine);

    // The plan now wants 3 × i4i.large (and, as before, 2 × c6i.xlarge) in zone a only.
    let set = engine
        .reserve(&two_types(&["eu-west-1a"], false))
        .await
        .unwrap();

    assert_eq!(
        ids(&set.regions[0].reservations),
        ["cr-eu-west-1a-i4i.large-new", "cr-eu-west-1a-c6i.xlarge"],
        "the c6i.xlarge reservation serves the plan as it is: it is used, not replaced"
    );
    let log = log.lock().unwrap();
    assert_eq!(
        log[..],
        [
            "create eu-west-1a i4i.large x3",
            "cancel cr-eu-west-1a-i4i.large"
        ],
        "the new i4i.large reservation comes before the earlier one is released"
    );
    let found = found.lock().unwrap().clone();
    assert_eq!(
        found.0,
        [("cr-eu-west-1a-i4i.large".to_string(), true)],
        "the events say the earlier i4i.large is kept until the new set is reserved"
    );
    assert_eq!(found.1, ["cr-eu-west-1a-c6i.xlarge"]);
    // Fresh tokens: a token of the earlier run (attempt base 0) would give its reservation.
    for req in requests.lock().unwrap().iter() {
        assert!(req.attempt >= 0x8000_0000, "attempt {}", req.attempt);
    }
}

#[tokio::test]
async fn a_set_half_made_by_another_run_is_completed_with_its_tokens_not_replaced() {
    // Another run of the test (stopped half-way, or still creating) holds the c6i.xlarge
    // reservation of the plan in zone a; its i4i.large create is not there yet.
    let (engine, log, requests) = rerun_holding(
        adapter_holding_beside(|_, _, _| true),
        vec![reservation("eu-west-1", "eu-west-1a", "c6i.xlarge", 2)],
        |req, _| Ok(created(req)),
    );
    let (engine, found) = reporting_found(engine);

    let set = engine
        .reserve(&two_types(&["eu-west-1a"], true))
        .await
        .unwrap();

    assert_eq!(
        ids(&set.regions[0].reservations),
        ["cr-eu-west-1a-i4i.large-new", "cr-eu-west-1a-c6i.xlarge"]
    );
    assert_eq!(
        log.lock().unwrap()[..],
        ["create eu-west-1a i4i.large x3"],
        "only the missing demand is created, and nothing is released"
    );
    let found = found.lock().unwrap().clone();
    assert!(
        found.0.is_empty(),
        "nothing is called not reused: {found:?}"
    );
    assert_eq!(found.1, ["cr-eu-west-1a-c6i.xlarge"]);
    // The other run's tokens (attempt base 0): its i4i.large create, if still on its way,
    // and this one are answered with one reservation.
    let requests = requests.lock().unwrap();
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0].attempt, 0);
}

#[tokio::test]
async fn a_held_reservation_in_a_zone_that_cannot_hold_the_rest_is_released_after_the_set_is_reserved_elsewhere()
 {
    // c6i.xlarge is held in zone a; zone a has no i4i.large, zone b has everything.
    let (engine, log, _) = rerun_holding(
        adapter(),
        vec![reservation("eu-west-1", "eu-west-1a", "c6i.xlarge", 2)],
        |req, _| {
            if req.zone == "eu-west-1a" {
                Err(no_capacity())
            } else {
                Ok(created(req))
            }
        },
    );
    let (engine, found) = reporting_found(engine);

    let set = engine
        .reserve(&two_types(&["eu-west-1a"], true))
        .await
        .unwrap();

    assert_eq!(set.regions[0].zone.as_deref(), Some("eu-west-1b"));
    assert_eq!(
        ids(&set.regions[0].reservations),
        [
            "cr-eu-west-1b-i4i.large-new",
            "cr-eu-west-1b-c6i.xlarge-new"
        ]
    );
    let log = log.lock().unwrap();
    let cancel = log
        .iter()
        .position(|l| l == "cancel cr-eu-west-1a-c6i.xlarge")
        .unwrap_or_else(|| panic!("the held reservation is released: {log:#?}"));
    assert_eq!(
        log.iter().filter(|l| l.starts_with("cancel")).count(),
        1,
        "{log:#?}"
    );
    assert!(
        log.iter()
            .filter(|l| l.starts_with("create eu-west-1b"))
            .count()
            == 2
            && log[..cancel]
                .iter()
                .filter(|l| l.starts_with("create eu-west-1b"))
                .count()
                == 2,
        "released only once zone b holds the set: {log:#?}"
    );
    let found = found.lock().unwrap().clone();
    assert_eq!(found.1, ["cr-eu-west-1a-c6i.xlarge"]);
    assert_eq!(
        found.0,
        [("cr-eu-west-1a-c6i.xlarge".to_string(), true)],
        "its release is announced, with why"
    );
}

#[tokio::test]
async fn where_the_cloud_cannot_hold_both_the_earlier_set_is_released_first() {
    let (engine, log, _) = rerun_of_a_changed_plan(adapter(), |req, _| Ok(created(req)));

    engine
        .reserve(&two_types(&["eu-west-1a"], false))
        .await
        .unwrap();

    let log = log.lock().unwrap();
    assert_eq!(
        log[..],
        [
            "cancel cr-eu-west-1a-i4i.large",
            "create eu-west-1a i4i.large x3"
        ],
        "same zone and type: released before created; the c6i.xlarge that serves the plan \
         is used as it is"
    );
}

#[tokio::test]
async fn a_new_set_that_cannot_be_had_beside_the_earlier_one_is_tried_again_after_releasing_it() {
    // Zone a has room for the new set only once the earlier one is gone.
    let (engine, log, _) =
        rerun_of_a_changed_plan(adapter_holding_beside(|_, _, _| true), |req, log| {
            if log.lock().unwrap().iter().any(|l| l.starts_with("cancel")) {
                Ok(created(req))
            } else {
                Err(no_capacity())
            }
        });

    let set = engine
        .reserve(&two_types(&["eu-west-1a"], false))
        .await
        .unwrap();

    assert_eq!(set.regions[0].zone.as_deref(), Some("eu-west-1a"));
    assert_eq!(
        ids(&set.regions[0].reservations),
        ["cr-eu-west-1a-i4i.large-new", "cr-eu-west-1a-c6i.xlarge"],
        "the c6i.xlarge reservation that serves the plan is kept through both tries"
    );
    let log = log.lock().unwrap();
    let cancels: Vec<&String> = log.iter().filter(|l| l.starts_with("cancel")).collect();
    assert_eq!(
        cancels,
        ["cancel cr-eu-west-1a-i4i.large"],
        "the superseded reservation is released once, and nothing the zone refused was held: \
         {log:#?}"
    );
    let first_cancel = log.iter().position(|l| l.starts_with("cancel")).unwrap();
    assert!(
        log[..first_cancel].iter().any(|l| l.starts_with("create")),
        "tried beside the earlier set first: {log:#?}"
    );
    assert!(
        log[first_cancel..]
            .iter()
            .filter(|l| l.starts_with("create"))
            .count()
            >= 1,
        "then again after releasing it: {log:#?}"
    );
}

#[tokio::test]
async fn regions_are_reserved_at_once() {
    let mut m = adapter();
    finds_nothing(&mut m);
    offers_abc(&mut m);
    let log = Log::default();
    let created_log = log.clone();
    creates(&mut m, move |req| {
        created_log
            .lock()
            .unwrap()
            .push(format!("create {}", req.region));
        Ok(pending(req))
    });
    let polled_log = log.clone();
    m.expect_poll().returning(move |r| {
        let mut log = polled_log.lock().unwrap();
        let line = format!("poll {}", r.region);
        let first = !log.contains(&line);
        log.push(line);
        // Pending at first: the engine waits before looking again.
        Ok(if first {
            Readiness::Pending { retry_after: None }
        } else {
            Readiness::Ready(Reservation {
                state: ReservationState::Active,
                ..r.clone()
            })
        })
    });
    let plan = plan(vec![
        region(
            "eu-west-1",
            &["eu-west-1a"],
            false,
            vec![demand("i4i.large", 3)],
        ),
        region(
            "us-east-1",
            &["us-east-1a"],
            false,
            vec![demand("i4i.large", 1)],
        ),
    ]);

    let set = engine(m).reserve(&plan).await.unwrap();

    let regions: Vec<&str> = set.regions.iter().map(|r| r.region.as_str()).collect();
    assert_eq!(regions, ["eu-west-1", "us-east-1"], "plan order");
    let log = log.lock().unwrap();
    let second_created = log.iter().position(|l| l == "create us-east-1").unwrap();
    let first_ready = log.iter().rposition(|l| l == "poll eu-west-1").unwrap();
    assert!(
        second_created < first_ready,
        "the second region is started while the first waits for its reservation: {log:#?}"
    );
}

#[tokio::test]
async fn a_failed_zone_is_rolled_back_while_the_next_zone_is_tried() {
    let mut m = adapter();
    finds_nothing(&mut m);
    offers_abc(&mut m);
    let log = Log::default();
    let created_log = log.clone();
    creates(&mut m, move |req| {
        created_log
            .lock()
            .unwrap()
            .push(format!("create {} {}", req.zone, req.demand.instance_type));
        if req.zone == "eu-west-1a" && req.demand.instance_type == "c6i.xlarge" {
            Err(no_capacity())
        } else {
            Ok(created(req))
        }
    });
    let cancel_log = log.clone();
    m.expect_cancel().returning(move |r| {
        cancel_log.lock().unwrap().push(format!("cancel {}", r.id));
        Ok(CancelOutcome::Cancelled)
    });

    let set = engine(m)
        .reserve(&two_types(&["eu-west-1a"], true))
        .await
        .unwrap();

    assert_eq!(set.regions[0].zone.as_deref(), Some("eu-west-1b"));
    let log = log.lock().unwrap();
    let next_zone = log
        .iter()
        .position(|l| l.starts_with("create eu-west-1b"))
        .unwrap();
    let rollback = log
        .iter()
        .position(|l| l == "cancel cr-eu-west-1a-i4i.large")
        .unwrap_or_else(|| panic!("zone a is rolled back: {log:#?}"));
    assert!(
        next_zone < rollback,
        "zone b is tried without waiting for zone a's rollback: {log:#?}"
    );
}

// ---- Orphans: every reservation cr created, cancelling chosen ones, cleanup previews ----

/// A reservation of test `test` in `region`.
fn of_test(test: &str, region: &str, zone: &str, instance_type: &str) -> Reservation {
    let mut r = reservation(region, zone, instance_type, 1);
    r.tags.insert(TEST_ID.into(), test.into());
    r
}

#[tokio::test]
async fn find_created_lists_region_by_region_and_keeps_live_ones() {
    let mut m = MockCloudAdapter::new();
    m.expect_cloud().return_const(Cloud::Aws);
    m.expect_lists_all_regions().return_const(false);
    m.expect_regions()
        .times(1)
        .returning(|| Ok(vec!["eu-west-1".into(), "us-east-1".into()]));
    m.expect_find().never();
    m.expect_cancel().never();
    m.expect_find_created()
        .withf(|r| r.as_deref() == Some("eu-west-1"))
        .times(1)
        .returning(|_| {
            let mut gone = of_test("t-2", "eu-west-1", "eu-west-1b", "i4i.large");
            gone.state = ReservationState::Cancelled;
            gone.id = ReservationId("cr-gone".into());
            Ok(vec![
                of_test("t-1", "eu-west-1", "eu-west-1a", "i4i.large"),
                gone,
            ])
        });
    m.expect_find_created()
        .withf(|r| r.as_deref() == Some("us-east-1"))
        .times(1)
        .returning(|_| Ok(vec![of_test("t-2", "us-east-1", "us-east-1a", "i4i.large")]));

    let found = engine(m).find_created().await.unwrap();

    assert_eq!(
        ids(&found),
        ["cr-eu-west-1a-i4i.large", "cr-us-east-1a-i4i.large"],
        "every region, live reservations only"
    );
}

#[tokio::test]
async fn find_created_fails_when_a_region_cannot_be_listed() {
    let mut m = MockCloudAdapter::new();
    m.expect_cloud().return_const(Cloud::Gce);
    m.expect_lists_all_regions().return_const(true);
    m.expect_find_created()
        .withf(|r| r.is_none())
        .returning(|_| {
            Err(CloudError::new(
                ErrorKind::Unauthorized,
                Cloud::Gce,
                "reservations.aggregatedList",
                "forbidden",
                "no list permission",
            )
            .into())
        });
    let e = engine(m).find_created().await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unauthorized, "{e}");
}

#[tokio::test]
async fn find_created_is_unsupported_by_default() {
    struct Bare;
    #[async_trait::async_trait]
    impl cr_core::adapter::CloudAdapter for Bare {
        fn cloud(&self) -> Cloud {
            Cloud::Oci
        }
        async fn zones(&self, _: &str, _: &[String]) -> Result<Vec<String>> {
            Ok(Vec::new())
        }
        async fn regions(&self) -> Result<Vec<String>> {
            Ok(vec!["r".into()])
        }
        async fn create(&self, _: &CreateRequest) -> Result<Reservation> {
            unreachable!("not called")
        }
        async fn poll(&self, _: &Reservation) -> Result<Readiness> {
            unreachable!("not called")
        }
        async fn find(&self, _: &str, _: Option<String>) -> Result<Vec<Reservation>> {
            Ok(Vec::new())
        }
        async fn cancel(&self, _: &Reservation) -> Result<CancelOutcome> {
            unreachable!("not called")
        }
        fn instance_target(&self, _: &Reservation) -> serde_json::Value {
            serde_json::Value::Null
        }
    }
    let e = Engine::new(Arc::new(Bare), RetryPolicy::fast())
        .find_created()
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unsupported);
    assert!(e.to_string().contains("find_created"), "{e}");
}

#[tokio::test]
async fn cancel_created_finishes_only_the_regions_it_empties() {
    let mut m = MockCloudAdapter::new();
    m.expect_cloud().return_const(Cloud::Azure);
    let a = of_test("t-1", "eastus", "1", "Standard_D2s_v5");
    let mut kept = of_test("t-1", "eastus", "1", "Standard_D4s_v5");
    kept.id = ReservationId("kept".into());
    let mut b = of_test("t-2", "westus", "1", "Standard_D2s_v5");
    b.id = ReservationId("westus-one".into());
    let listing = vec![a.clone(), kept, b.clone()];
    m.expect_cancel()
        .times(2)
        .returning(|_| Ok(CancelOutcome::Cancelled));
    // t-1 keeps a reservation in eastus: its group must stay.
    m.expect_finish_region()
        .withf(|t, r| t == "t-1" && r == "eastus")
        .never();
    m.expect_finish_region()
        .withf(|t, r| t == "t-2" && r == "westus")
        .times(1)
        .returning(|_, _| Ok(()));

    let report = engine(m).cancel_created(&listing, vec![a, b]).await;

    assert_eq!(report.cancelled.len(), 2);
    assert!(report.is_complete(), "{:?}", report.failed);
}

#[tokio::test]
async fn cancel_created_reports_a_failed_cancel_and_does_not_finish_its_region() {
    let mut m = MockCloudAdapter::new();
    m.expect_cloud().return_const(Cloud::Aws);
    let a = of_test("t-1", "eu-west-1", "eu-west-1a", "i4i.large");
    m.expect_cancel().returning(|_| {
        Err(CloudError::new(
            ErrorKind::InvalidRequest,
            Cloud::Aws,
            "CancelCapacityReservation",
            "IncorrectState",
            "in use",
        )
        .into())
    });
    m.expect_finish_region().never();

    let listing = vec![a.clone()];
    let report = engine(m).cancel_created(&listing, vec![a]).await;

    assert_eq!(report.failed.len(), 1);
    assert_eq!(report.failed[0].id, "cr-eu-west-1a-i4i.large");
    assert!(
        report.failed[0].error.contains("IncorrectState"),
        "{:?}",
        report.failed
    );
}

#[tokio::test]
async fn a_cleanup_preview_lists_and_changes_nothing() {
    let mut m = MockCloudAdapter::new();
    m.expect_cloud().return_const(Cloud::Azure);
    m.expect_lists_all_regions().return_const(true);
    m.expect_find()
        .withf(|t, r| t == TEST && r.is_none())
        .returning(|_, _| Ok(vec![reservation("eastus", "1", "Standard_D2s_v5", 2)]));
    m.expect_regions_with_resources()
        .returning(|_| Ok(vec!["westus".into(), "eastus".into()]));
    m.expect_cancel().never();
    m.expect_finish_region().never();

    let preview = engine(m).preview_cancel_all_regions(TEST).await.unwrap();

    assert_eq!(ids(&preview.reservations), ["cr-1-Standard_D2s_v5"]);
    assert_eq!(preview.regions_to_finish, ["eastus", "westus"]);
    assert_eq!(preview.test_id, TEST);
}
