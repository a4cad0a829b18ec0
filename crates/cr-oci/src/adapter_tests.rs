//! Adapter tests against a scripted local OCI API (axum on 127.0.0.1:0): what goes on the
//! wire (signed headers, retry token, Flex shape config, defined tags, fault domain),
//! pagination, lenient summaries, work-request failures, the cancel state machine and error
//! classification — the cases the emulator does not produce on its own.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use cr_core::adapter::{CloudAdapter, CreateRequest, Readiness};
use cr_core::error::ErrorKind;
use cr_core::model::{CancelOutcome, Reservation, ReservationState};
use cr_core::plan::{Demand, DemandDetails, Role};
use cr_core::tags::Tags;
use cr_core::{Cloud, ReservationId};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::{EXTRA_WORK_REQUEST, OciAdapter, OciBuilder};

const KEY: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/testdata/key_pkcs1.pem");
const TENANCY: &str = "ocid1.tenancy.oc1..aaaaaaaafake";

#[derive(Debug, Clone)]
struct Recorded {
    method: Method,
    path: String,
    query: BTreeMap<String, String>,
    headers: HeaderMap,
    raw: Vec<u8>,
    body: Value,
}

/// An answer: status, extra headers, JSON body (`Value::Null`: none).
type Answer = (u16, Vec<(&'static str, String)>, Value);
type Responder = Arc<dyn Fn(&Recorded, usize) -> Answer + Send + Sync>;

#[derive(Clone)]
struct Fake {
    responder: Responder,
    log: Arc<Mutex<Vec<Recorded>>>,
}

async fn handle(
    State(fake): State<Fake>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let query: BTreeMap<String, String> = reqwest::Url::parse(&format!("http://fake{uri}"))
        .unwrap()
        .query_pairs()
        .into_owned()
        .collect();
    let recorded = Recorded {
        method,
        path: uri.path().to_string(),
        query,
        headers,
        raw: body.to_vec(),
        body: serde_json::from_slice(&body).unwrap_or(Value::Null),
    };
    let n = {
        let mut log = fake.log.lock().unwrap();
        log.push(recorded.clone());
        log.len()
    };
    let (status, extra, body) = (fake.responder)(&recorded, n);
    let mut response = if body.is_null() {
        StatusCode::from_u16(status).unwrap().into_response()
    } else {
        (StatusCode::from_u16(status).unwrap(), axum::Json(body)).into_response()
    };
    for (k, v) in extra {
        response.headers_mut().insert(
            HeaderName::from_static(k),
            HeaderValue::from_str(&v).unwrap(),
        );
    }
    response
}

struct Server {
    url: String,
    log: Arc<Mutex<Vec<Recorded>>>,
    _dir: tempfile::TempDir,
    config: std::path::PathBuf,
}

impl Server {
    async fn start(responder: impl Fn(&Recorded, usize) -> Answer + Send + Sync + 'static) -> Self {
        let log = Arc::new(Mutex::new(Vec::new()));
        let fake = Fake {
            responder: Arc::new(responder),
            log: log.clone(),
        };
        let app = axum::Router::new().fallback(handle).with_state(fake);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("config");
        std::fs::write(
            &config,
            format!(
                "[DEFAULT]\nuser=ocid1.user.oc1..u\nfingerprint=aa:bb\ntenancy={TENANCY}\nregion=us-phoenix-1\nkey_file={KEY}\n"
            ),
        )
        .unwrap();
        Server {
            url,
            log,
            _dir: dir,
            config,
        }
    }

    fn requests(&self) -> Vec<Recorded> {
        self.log.lock().unwrap().clone()
    }

    fn builder(&self) -> OciBuilder {
        OciBuilder::new()
            .with_endpoint(&self.url)
            .with_config_file(&self.config)
            .with_request_timeout(Duration::from_secs(5))
            .with_delete_timeout(Duration::from_secs(5))
    }

    async fn adapter(&self) -> OciAdapter {
        self.builder().build().await.unwrap()
    }
}

fn request(shape: &str, details: DemandDetails) -> CreateRequest {
    CreateRequest {
        test_id: "t-1".into(),
        region: "us-ashburn-1".into(),
        zone: "Uocm:IAD-AD-2".into(),
        demand: Demand {
            instance_type: shape.into(),
            count: 3,
            roles: vec![Role::Db],
            details,
        },
        end_time: jiff::Timestamp::now(),
        tags: Tags::for_test(Some("t-1"), Cloud::Oci),
        attempt: 0,
        region_handle: Default::default(),
    }
}

fn reservation_json(id: &str, state: &str, test_id: &str) -> Value {
    json!({
        "id": id, "availabilityDomain": "Uocm:IAD-AD-2", "timeCreated": "2030-01-01T00:00:00.000Z",
        "compartmentId": TENANCY, "lifecycleState": state,
        "freeformTags": {"TestId": test_id},
        "instanceReservationConfigs": [{"instanceShape": "VM.DenseIO.E5.Flex", "reservedCount": 3, "usedCount": 0}],
        "reservedInstanceCount": 3, "usedInstanceCount": 0
    })
}

fn pending(id: &str) -> Reservation {
    Reservation {
        id: ReservationId(id.into()),
        cloud: Cloud::Oci,
        region: "us-ashburn-1".into(),
        zone: Some("Uocm:IAD-AD-2".into()),
        instance_type: "VM.DenseIO.E5.Flex".into(),
        count: 3,
        used: None,
        end_time: None,
        created: None,
        state: ReservationState::Pending,
        tags: BTreeMap::new(),
        extra: BTreeMap::from([(EXTRA_WORK_REQUEST.to_string(), "wr-1".to_string())]),
    }
}

#[tokio::test]
async fn a_create_is_signed_and_carries_every_field() {
    let server = Server::start(|_, _| {
        (
            200,
            vec![("opc-work-request-id", "wr-1".into())],
            reservation_json("ocid1.cr.1", "CREATING", "t-1"),
        )
    })
    .await;
    let adapter = server
        .builder()
        .with_compartment("ocid1.compartment.oc1..c")
        .with_fault_domain("fault-domain-2")
        .with_defined_tag_namespace("SCT")
        .build()
        .await
        .unwrap();
    let details = DemandDetails {
        ocpus: Some(8.0),
        memory_gb: Some(96.0),
        ..DemandDetails::default()
    };
    let r = adapter
        .create(&request("VM.DenseIO.E5.Flex", details))
        .await
        .unwrap();
    assert_eq!(r.state, ReservationState::Pending);
    assert_eq!(
        r.extra.get(EXTRA_WORK_REQUEST).map(String::as_str),
        Some("wr-1")
    );
    let sent = &server.requests()[0];
    assert_eq!(sent.method, Method::POST);
    assert_eq!(
        sent.path,
        "/oci/us-ashburn-1/20160918/computeCapacityReservations"
    );
    let h = |name: &str| {
        sent.headers
            .get(name)
            .unwrap()
            .to_str()
            .unwrap()
            .to_string()
    };
    let auth = h("authorization");
    assert!(
        auth.contains(
            "headers=\"date (request-target) host content-length content-type x-content-sha256\""
        ),
        "{auth}"
    );
    assert!(auth.contains(&format!("keyId=\"{TENANCY}/ocid1.user.oc1..u/aa:bb\"")));
    assert_eq!(
        h("x-content-sha256"),
        base64::engine::general_purpose::STANDARD.encode(Sha256::digest(&sent.raw))
    );
    assert_eq!(h("content-length"), sent.raw.len().to_string());
    assert_eq!(h("content-type"), "application/json");
    let token = h("opc-retry-token");
    assert_eq!(token.len(), 64);
    assert_eq!(
        token,
        crate::retry_token(&request("VM.DenseIO.E5.Flex", DemandDetails::default()))
    );
    let b = &sent.body;
    assert_eq!(b["compartmentId"], "ocid1.compartment.oc1..c");
    assert_eq!(b["availabilityDomain"], "Uocm:IAD-AD-2");
    assert_eq!(b["displayName"], "cr-t-1-IAD-AD-2-VM.DenseIO.E5.Flex");
    assert_eq!(b["freeformTags"]["TestId"], "t-1");
    assert_eq!(b["definedTags"], json!({"SCT": {"TestId": "t-1"}}));
    let c = &b["instanceReservationConfigs"][0];
    assert_eq!(c["instanceShape"], "VM.DenseIO.E5.Flex");
    assert_eq!(c["reservedCount"], 3);
    assert_eq!(c["faultDomain"], "FAULT-DOMAIN-2");
    assert_eq!(
        c["instanceShapeConfig"],
        json!({"ocpus": 8.0, "memoryInGBs": 96.0})
    );
}

#[tokio::test]
async fn fixed_shapes_send_no_shape_config_and_no_defined_tags() {
    let server =
        Server::start(|_, _| (200, vec![], reservation_json("ocid1.cr.1", "ACTIVE", "t-1"))).await;
    let adapter = server.adapter().await;
    let r = adapter
        .create(&request("VM.Standard2.8", DemandDetails::default()))
        .await
        .unwrap();
    assert_eq!(r.state, ReservationState::Active);
    assert!(!r.extra.contains_key(EXTRA_WORK_REQUEST));
    let b = &server.requests()[0].body;
    assert!(
        b["instanceReservationConfigs"][0]
            .get("instanceShapeConfig")
            .is_none(),
        "{b}"
    );
    assert!(
        b["instanceReservationConfigs"][0]
            .get("faultDomain")
            .is_none(),
        "{b}"
    );
    assert!(b.get("definedTags").is_none(), "{b}");
}

/// The error of a create of `shape` the server refuses.
async fn create_error(server: &Server, shape: &str) -> cr_core::Error {
    server
        .adapter()
        .await
        .create(&request(shape, DemandDetails::default()))
        .await
        .unwrap_err()
}

#[tokio::test]
async fn a_synchronous_stockout_is_a_capacity_failure_with_the_request_id() {
    let server = Server::start(|_, _| {
        (
            500,
            vec![("opc-request-id", "RID-1/XYZ".into())],
            json!({"code": "InternalError", "message": "Out of host capacity."}),
        )
    })
    .await;
    let err = create_error(&server, "VM.DenseIO.E5.Flex").await;
    assert_eq!(err.kind(), ErrorKind::CapacityUnavailable);
    let e = err.cloud_error().unwrap();
    assert_eq!(e.code, "InternalError");
    assert_eq!(e.request_id.as_deref(), Some("RID-1/XYZ"));
    assert_eq!(e.location.zone.as_deref(), Some("Uocm:IAD-AD-2"));
    assert_eq!(
        e.location.instance_type.as_deref(),
        Some("VM.DenseIO.E5.Flex")
    );
    assert_eq!(e.location.region.as_deref(), Some("us-ashburn-1"));
}

#[tokio::test]
async fn throttling_without_retry_after_is_throttled_for_backoff() {
    let server = Server::start(|_, _| {
        (
            429,
            vec![],
            json!({"code": "TooManyRequests", "message": "Too many requests for the user"}),
        )
    })
    .await;
    let err = create_error(&server, "VM.Standard2.8").await;
    assert_eq!(err.kind(), ErrorKind::Throttled);
    assert_eq!(
        err.retry_after(),
        None,
        "OCI sends none: the engine backs off"
    );
}

#[tokio::test]
async fn a_failed_work_request_fails_the_poll_with_its_error() {
    let server = Server::start(|r, _| {
        if r.path.ends_with("/workRequests/wr-1") {
            (200, vec![], json!({"id": "wr-1", "status": "FAILED"}))
        } else if r.path.ends_with("/errors") {
            (
                200,
                vec![],
                json!([{"code": "InternalError", "message": "Out of host capacity."}]),
            )
        } else {
            (
                404,
                vec![],
                json!({"code": "NotAuthorizedOrNotFound", "message": "gone"}),
            )
        }
    })
    .await;
    let readiness = server
        .adapter()
        .await
        .poll(&pending("ocid1.cr.1"))
        .await
        .unwrap();
    let Readiness::Failed(e) = readiness else {
        panic!("{readiness:?}");
    };
    assert_eq!(e.kind(), ErrorKind::CapacityUnavailable, "{e}");
    assert!(
        e.is_settled(),
        "a failed work request made nothing: a fresh token is needed"
    );
}

#[tokio::test]
async fn a_work_request_in_progress_is_pending_and_a_succeeded_one_reads_the_state() {
    let server = Server::start(|r, n| {
        if r.path.ends_with("/workRequests/wr-1") {
            let status = if n == 1 { "IN_PROGRESS" } else { "SUCCEEDED" };
            (200, vec![], json!({"id": "wr-1", "status": status}))
        } else {
            (200, vec![], reservation_json("ocid1.cr.1", "ACTIVE", "t-1"))
        }
    })
    .await;
    let adapter = server.adapter().await;
    assert!(matches!(
        adapter.poll(&pending("ocid1.cr.1")).await.unwrap(),
        Readiness::Pending { .. }
    ));
    let Readiness::Ready(r) = adapter.poll(&pending("ocid1.cr.1")).await.unwrap() else {
        panic!("not ready");
    };
    assert_eq!(r.state, ReservationState::Active);
    assert_eq!(r.count, 3);
}

/// A work request OCI no longer keeps (404) leaves the reservation's own state to decide.
#[tokio::test]
async fn a_work_request_gone_falls_back_to_the_lifecycle_state() {
    let server = Server::start(|r, _| {
        if r.path.contains("/workRequests/") {
            (
                404,
                vec![],
                json!({"code": "NotAuthorizedOrNotFound", "message": "gone"}),
            )
        } else {
            (200, vec![], reservation_json("ocid1.cr.1", "ACTIVE", "t-1"))
        }
    })
    .await;
    let readiness = server
        .adapter()
        .await
        .poll(&pending("ocid1.cr.1"))
        .await
        .unwrap();
    assert!(matches!(readiness, Readiness::Ready(_)), "{readiness:?}");
}

#[tokio::test]
async fn find_pages_through_the_list_and_keeps_only_the_tests_reservations() {
    let server = Server::start(|r, _| {
        if r.path.ends_with("/computeCapacityReservations") {
            match r.query.get("page").map(String::as_str) {
                None => (
                    200,
                    vec![("opc-next-page", "p2".into())],
                    json!([
                        // Summaries may carry only the required fields.
                        {"id": "ocid1.cr.mine-bare", "availabilityDomain": "Uocm:IAD-AD-1", "timeCreated": "2030-01-01T00:00:00Z"},
                        {"id": "ocid1.cr.other", "availabilityDomain": "Uocm:IAD-AD-1", "timeCreated": "2030-01-01T00:00:00Z",
                         "freeformTags": {"TestId": "t-2"}},
                    ]),
                ),
                Some("p2") => (
                    200,
                    vec![],
                    json!([
                        {"id": "ocid1.cr.mine", "availabilityDomain": "Uocm:IAD-AD-2", "timeCreated": "2030-01-01T00:00:00Z",
                         "freeformTags": {"TestId": "t-1"}, "lifecycleState": "ACTIVE"},
                        {"id": "ocid1.cr.mine-deleted", "availabilityDomain": "Uocm:IAD-AD-2", "timeCreated": "2030-01-01T00:00:00Z",
                         "freeformTags": {"TestId": "t-1"}, "lifecycleState": "DELETED"},
                    ]),
                ),
                Some(other) => panic!("unexpected page {other}"),
            }
        } else {
            let id = r.path.rsplit('/').next().unwrap();
            (200, vec![], reservation_json(id, "ACTIVE", "t-1"))
        }
    })
    .await;
    let found = server
        .adapter()
        .await
        .find("t-1", Some("us-ashburn-1".into()))
        .await
        .unwrap();
    let mut ids: Vec<&str> = found.iter().map(|r| r.id.0.as_str()).collect();
    ids.sort_unstable();
    assert_eq!(ids, ["ocid1.cr.mine", "ocid1.cr.mine-bare"]);
    assert!(
        found
            .iter()
            .all(|r| r.instance_type == "VM.DenseIO.E5.Flex" && r.count == 3)
    );
    let gets: Vec<String> = server
        .requests()
        .into_iter()
        .filter(|r| !r.path.ends_with("/computeCapacityReservations"))
        .map(|r| r.path)
        .collect();
    assert_eq!(gets.len(), 2, "only candidates are read in full: {gets:?}");
    let list = &server.requests()[0];
    assert_eq!(
        list.query.get("compartmentId").map(String::as_str),
        Some(TENANCY)
    );
    assert_eq!(list.query.get("limit").map(String::as_str), Some("100"));
}

#[tokio::test]
async fn the_same_next_page_twice_is_an_error_not_a_loop() {
    let server =
        Server::start(|_, _| (200, vec![("opc-next-page", "same".into())], json!([]))).await;
    let err = server
        .adapter()
        .await
        .find("t-1", Some("us-ashburn-1".into()))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("opc-next-page"), "{err}");
}

/// Cancel waits out CREATING (OCI refuses to delete then: 409 IncorrectState), deletes once
/// (a 204 without a work request is fine), and waits for DELETED.
#[tokio::test]
async fn cancel_waits_for_creating_then_deletes_once_and_waits_for_deleted() {
    let deletes = Arc::new(Mutex::new(0));
    let d = deletes.clone();
    let server = Server::start(move |r, n| {
        if r.method == Method::DELETE {
            *d.lock().unwrap() += 1;
            return (204, vec![], Value::Null);
        }
        let state = match (*d.lock().unwrap(), n) {
            // The first two looks see CREATING, then ACTIVE until the delete.
            (0, 1 | 2) => "CREATING",
            (0, _) => "ACTIVE",
            _ => "DELETED",
        };
        (200, vec![], reservation_json("ocid1.cr.1", state, "t-1"))
    })
    .await;
    let adapter = server.adapter().await;
    assert_eq!(
        adapter.cancel(&pending("ocid1.cr.1")).await.unwrap(),
        CancelOutcome::Cancelled
    );
    assert_eq!(
        *deletes.lock().unwrap(),
        1,
        "one delete, after CREATING ended"
    );
    let methods: Vec<Method> = server.requests().into_iter().map(|r| r.method).collect();
    let first_delete = methods.iter().position(|m| *m == Method::DELETE).unwrap();
    assert_eq!(
        first_delete, 3,
        "two CREATING looks and one ACTIVE look first: {methods:?}"
    );
    assert_eq!(methods.last(), Some(&Method::GET), "it waited for DELETED");
}

/// A delete whose work request fails leaves the reservation ACTIVE: cancel deletes it again
/// at once instead of waiting for a DELETED that will never come.
#[tokio::test]
async fn a_delete_whose_work_request_failed_is_issued_again() {
    let deletes = Arc::new(Mutex::new(0));
    let d = deletes.clone();
    let server = Server::start(move |r, _| {
        let mut n = d.lock().unwrap();
        if r.method == Method::DELETE {
            *n += 1;
            let wr = format!("wr-d{n}");
            return (202, vec![("opc-work-request-id", wr)], Value::Null);
        }
        if r.path.ends_with("/workRequests/wr-d1") {
            return (200, vec![], json!({"id": "wr-d1", "status": "FAILED"}));
        }
        if r.path.contains("/workRequests/") {
            return (200, vec![], json!({"id": "wr-d2", "status": "SUCCEEDED"}));
        }
        let state = if *n < 2 { "ACTIVE" } else { "DELETED" };
        (200, vec![], reservation_json("ocid1.cr.1", state, "t-1"))
    })
    .await;
    let started = std::time::Instant::now();
    assert_eq!(
        server
            .adapter()
            .await
            .cancel(&pending("ocid1.cr.1"))
            .await
            .unwrap(),
        CancelOutcome::Cancelled
    );
    assert_eq!(
        *deletes.lock().unwrap(),
        2,
        "deleted again after the failure"
    );
    assert!(
        started.elapsed() < std::time::Duration::from_secs(4),
        "well within the delete timeout (5 s here): {:?}",
        started.elapsed()
    );
}

/// A delete refused with 409 IncorrectState (another operation under way) is tried again.
#[tokio::test]
async fn a_delete_refused_as_incorrect_state_is_retried() {
    let deletes = Arc::new(Mutex::new(0));
    let d = deletes.clone();
    let server = Server::start(move |r, _| {
        let mut n = d.lock().unwrap();
        if r.method == Method::DELETE {
            *n += 1;
            if *n == 1 {
                return (
                    409,
                    vec![],
                    json!({"code": "IncorrectState", "message": "busy"}),
                );
            }
            return (
                202,
                vec![("opc-work-request-id", "wr-d".into())],
                Value::Null,
            );
        }
        let state = if *n < 2 { "ACTIVE" } else { "DELETED" };
        (200, vec![], reservation_json("ocid1.cr.1", state, "t-1"))
    })
    .await;
    assert_eq!(
        server
            .adapter()
            .await
            .cancel(&pending("ocid1.cr.1"))
            .await
            .unwrap(),
        CancelOutcome::Cancelled
    );
    assert_eq!(*deletes.lock().unwrap(), 2);
}

#[tokio::test]
async fn cancel_deletes_an_active_reservation_and_reports_gone_ones() {
    let deletes = Arc::new(Mutex::new(0));
    let d = deletes.clone();
    let server = Server::start(move |r, _| {
        if r.method == Method::DELETE {
            *d.lock().unwrap() += 1;
            return (204, vec![], Value::Null);
        }
        if r.path.ends_with("/gone") {
            return (
                404,
                vec![],
                json!({"code": "NotAuthorizedOrNotFound", "message": "x"}),
            );
        }
        let state = if *d.lock().unwrap() == 0 {
            "ACTIVE"
        } else {
            "DELETED"
        };
        (200, vec![], reservation_json("ocid1.cr.1", state, "t-1"))
    })
    .await;
    let adapter = server.adapter().await;
    assert_eq!(
        adapter.cancel(&pending("ocid1.cr.1")).await.unwrap(),
        CancelOutcome::Cancelled
    );
    assert_eq!(*deletes.lock().unwrap(), 1);
    assert_eq!(
        adapter.cancel(&pending("ocid1.cr.1")).await.unwrap(),
        CancelOutcome::AlreadyGone,
        "already DELETED"
    );
    assert_eq!(
        adapter.cancel(&pending("gone")).await.unwrap(),
        CancelOutcome::AlreadyGone
    );
    assert_eq!(*deletes.lock().unwrap(), 1);
}

#[tokio::test]
async fn ad_letters_resolve_in_the_apis_order_and_zones_follow_the_reservable_shapes() {
    let server = Server::start(|r, _| {
        if r.path.ends_with("/availabilityDomains") {
            (200, vec![], json!([{"name": "Uocm:IAD-AD-1"}, {"name": "Uocm:IAD-AD-2"}, {"name": "Uocm:IAD-AD-3"}]))
        } else {
            (
                200,
                vec![],
                json!([
                    {"availabilityDomain": "Uocm:IAD-AD-1", "instanceShape": "A"},
                    {"availabilityDomain": "Uocm:IAD-AD-2", "instanceShape": "A"},
                    {"availabilityDomain": "Uocm:IAD-AD-2", "instanceShape": "B"},
                    {"availabilityDomain": "Uocm:IAD-AD-3", "instanceShape": "B"},
                ]),
            )
        }
    })
    .await;
    let adapter = server.adapter().await;
    assert_eq!(
        adapter
            .resolve_zones(
                "us-ashburn-1",
                &["AD-3".into(), "ad-1".into(), "Uocm:IAD-AD-2".into()]
            )
            .await
            .unwrap(),
        ["Uocm:IAD-AD-3", "Uocm:IAD-AD-1", "Uocm:IAD-AD-2"]
    );
    assert_eq!(
        adapter
            .zones("us-ashburn-1", &["A".into(), "B".into()])
            .await
            .unwrap(),
        ["Uocm:IAD-AD-2"]
    );
    let ads_call = &server.requests()[0];
    assert_eq!(
        ads_call.path,
        "/oci/us-ashburn-1/20160918/availabilityDomains"
    );
    assert_eq!(
        ads_call.query.get("compartmentId").map(String::as_str),
        Some(TENANCY)
    );
    let auth = ads_call
        .headers
        .get("authorization")
        .unwrap()
        .to_str()
        .unwrap();
    assert!(
        auth.contains("headers=\"date (request-target) host\""),
        "{auth}"
    );
}

#[tokio::test]
async fn regions_are_the_ready_subscriptions_asked_in_the_home_region() {
    let server = Server::start(|_, _| {
        (
            200,
            vec![],
            json!([
                {"regionName": "us-phoenix-1", "regionKey": "PHX", "status": "READY", "isHomeRegion": true},
                {"regionName": "eu-frankfurt-1", "regionKey": "FRA", "status": "IN_PROGRESS"},
                {"regionName": "us-ashburn-1", "regionKey": "IAD", "status": "READY"},
            ]),
        )
    })
    .await;
    let regions = server.adapter().await.regions().await.unwrap();
    assert_eq!(regions, ["us-phoenix-1", "us-ashburn-1"]);
    assert_eq!(
        server.requests()[0].path,
        format!("/oci/us-phoenix-1/20160918/tenancies/{TENANCY}/regionSubscriptions")
    );
}
