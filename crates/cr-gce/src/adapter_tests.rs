//! Adapter tests against a scripted local Compute API (axum on 127.0.0.1:0): wire shapes,
//! idempotency, Operation waiting, error classification, pagination; and token failures with
//! a mocked `TokenProvider`.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::IntoResponse;
use cr_core::adapter::{CloudAdapter, CreateRequest, Readiness};
use cr_core::error::ErrorKind;
use cr_core::model::{CancelOutcome, ReservationState};
use cr_core::plan::{Demand, DemandDetails, Role};
use cr_core::tags::Tags;
use cr_core::{Cloud, Error};
use gcp_auth::{Token, TokenProvider};
use serde_json::{Value, json};

use crate::{COMPUTE_SCOPE, EXTRA_ID, EXTRA_OPERATION, GceAdapter, GceBuilder, naming};

/// One request the fake received.
#[derive(Debug, Clone)]
struct Recorded {
    method: Method,
    path: String,
    query: BTreeMap<String, String>,
    authorization: Option<String>,
    body: Value,
}

type Responder = Arc<dyn Fn(&Recorded) -> (u16, Value) + Send + Sync>;

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
) -> impl IntoResponse {
    let query: BTreeMap<String, String> = reqwest::Url::parse(&format!("http://fake{uri}"))
        .unwrap()
        .query_pairs()
        .into_owned()
        .collect();
    let recorded = Recorded {
        method,
        path: uri.path().to_string(),
        query,
        authorization: headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string),
        body: serde_json::from_slice(&body).unwrap_or(Value::Null),
    };
    fake.log.lock().unwrap().push(recorded.clone());
    let (status, body) = (fake.responder)(&recorded);
    (StatusCode::from_u16(status).unwrap(), axum::Json(body))
}

struct Server {
    url: String,
    log: Arc<Mutex<Vec<Recorded>>>,
}

impl Server {
    async fn start(responder: impl Fn(&Recorded) -> (u16, Value) + Send + Sync + 'static) -> Self {
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
        Server { url, log }
    }

    fn requests(&self) -> Vec<Recorded> {
        self.log.lock().unwrap().clone()
    }

    async fn adapter(&self, tokens: Arc<dyn TokenProvider>) -> GceAdapter {
        GceBuilder::new()
            .with_endpoint(&self.url)
            .with_token_provider(tokens)
            .with_project("proj")
            .with_min_cpu_platform("Intel Ice Lake")
            .with_operation_timeout(Duration::from_millis(800))
            .with_request_timeout(Duration::from_secs(5))
            .build()
            .await
            .unwrap()
    }
}

/// A provider handing out one fixed token.
struct FixedToken;

#[async_trait]
impl TokenProvider for FixedToken {
    async fn token(&self, scopes: &[&str]) -> Result<Arc<Token>, gcp_auth::Error> {
        assert_eq!(scopes, [COMPUTE_SCOPE]);
        let t: Token =
            serde_json::from_value(json!({"access_token": "test-token", "expires_in": 3600}))
                .unwrap();
        Ok(Arc::new(t))
    }
    async fn project_id(&self) -> Result<Arc<str>, gcp_auth::Error> {
        Ok(Arc::from("proj"))
    }
}

/// Token source with owned arguments: mockall cannot mock `&[&str]` directly.
#[mockall::automock]
trait TokenSource: Send + Sync {
    fn token(&self, scopes: Vec<String>) -> Result<Arc<Token>, gcp_auth::Error>;
    fn project_id(&self) -> Result<Arc<str>, gcp_auth::Error>;
}

/// A `TokenProvider` answering from a mocked [`TokenSource`].
struct Mocked(MockTokenSource);

#[async_trait]
impl TokenProvider for Mocked {
    async fn token(&self, scopes: &[&str]) -> Result<Arc<Token>, gcp_auth::Error> {
        self.0.token(scopes.iter().map(|s| s.to_string()).collect())
    }
    async fn project_id(&self) -> Result<Arc<str>, gcp_auth::Error> {
        self.0.project_id()
    }
}

fn request(test_id: &str, attempt: u32) -> CreateRequest {
    CreateRequest {
        test_id: test_id.into(),
        region: "us-east1".into(),
        zone: "us-east1-b".into(),
        demand: Demand {
            instance_type: "n2-highmem-16".into(),
            count: 3,
            roles: vec![Role::Db],
            details: DemandDetails {
                local_ssds: 2,
                ..DemandDetails::default()
            },
        },
        end_time: "2030-05-06T07:08:09Z".parse().unwrap(),
        tags: Tags(BTreeMap::from([
            ("TestId".to_string(), test_id.to_string()),
            ("RunByUser".to_string(), "ci".to_string()),
        ])),
        attempt,
        region_handle: Default::default(),
    }
}

/// The reservation the API would hold after `body` was inserted.
fn stored(body: &Value, status: &str) -> Value {
    let mut r = body.clone();
    r["status"] = status.into();
    r["id"] = "987654321".into();
    r["zone"] = "https://www.googleapis.com/compute/v1/projects/proj/zones/us-east1-b".into();
    r["specificReservation"]["inUseCount"] = "0".into();
    r
}

fn op(name: &str, status: &str) -> Value {
    json!({"kind": "compute#operation", "name": name, "status": status})
}

#[tokio::test]
async fn create_sends_the_documented_body_and_polls_until_done() {
    let inserted: Arc<Mutex<Option<Value>>> = Arc::default();
    let waits = Arc::new(Mutex::new(0));
    let (ins, w) = (inserted.clone(), waits.clone());
    let server = Server::start(move |r| {
        let p = r.path.as_str();
        match r.method {
            Method::POST if p.ends_with("/zones/us-east1-b/reservations") => {
                *ins.lock().unwrap() = Some(r.body.clone());
                (200, op("op-1", "RUNNING"))
            }
            Method::GET if p.ends_with("/zones/us-east1-b/operations/op-1") => {
                let mut n = w.lock().unwrap();
                *n += 1;
                (200, op("op-1", if *n < 2 { "RUNNING" } else { "DONE" }))
            }
            Method::GET if p.contains("/zones/us-east1-b/reservations/") => {
                (200, stored(ins.lock().unwrap().as_ref().unwrap(), "READY"))
            }
            _ => (404, json!({"error": {"code": 404, "message": "no route"}})),
        }
    })
    .await;
    let adapter = server.adapter(Arc::new(FixedToken)).await;
    let req = request("7c86f6de-f87d", 4);
    let pending = adapter.create(&req).await.unwrap();
    // Create returns as soon as the cloud has the name and an Operation.
    assert_eq!(pending.state, ReservationState::Pending);
    assert_eq!(
        pending.extra.get(EXTRA_OPERATION).map(String::as_str),
        Some("op-1")
    );
    assert!(matches!(
        adapter.poll(&pending).await.unwrap(),
        Readiness::Pending { .. }
    ));
    let Readiness::Ready(r) = adapter.poll(&pending).await.unwrap() else {
        panic!("the second poll sees the Operation DONE");
    };

    let name = naming::reservation_name("7c86f6de-f87d", "us-east1", "us-east1-b", "n2-highmem-16");
    assert_eq!(pending.id.0, name);
    assert_eq!(r.id.0, name);
    assert_eq!(r.count, 3);
    assert_eq!(r.used, Some(0));
    assert_eq!(r.state, ReservationState::Active);
    assert_eq!(r.zone.as_deref(), Some("us-east1-b"));
    assert_eq!(r.region, "us-east1");
    assert_eq!(r.end_time, Some(req.end_time));
    assert_eq!(r.tags, req.tags.0);
    assert_eq!(r.extra.get(EXTRA_ID).map(String::as_str), Some("987654321"));
    assert_eq!(*waits.lock().unwrap(), 2, "polled until DONE");

    let body = inserted.lock().unwrap().clone().unwrap();
    assert_eq!(
        body,
        json!({
            "name": name,
            "description": "{\"RunByUser\":\"ci\",\"TestId\":\"7c86f6de-f87d\"}",
            "specificReservation": {
                "count": "3",
                "instanceProperties": {
                    "machineType": "n2-highmem-16",
                    "localSsds": [
                        {"diskSizeGb": "375", "interface": "NVME"},
                        {"diskSizeGb": "375", "interface": "NVME"}
                    ],
                    "minCpuPlatform": "Intel Ice Lake"
                }
            },
            "specificReservationRequired": true,
            "deleteAtTime": "2030-05-06T07:08:09Z"
        })
    );
    let requests = server.requests();
    let insert = &requests[0];
    assert_eq!(
        insert.path,
        "/compute/v1/projects/proj/zones/us-east1-b/reservations"
    );
    // A valid UUID, the same for a retry of the same create (so GCE dedupes it), and never
    // the bare digest another process would use (GCE keeps a requestId's Operation forever).
    let request_id = insert.query.get("requestId").expect("a requestId").clone();
    uuid::Uuid::parse_str(&request_id).expect("requestId is a UUID");
    assert_ne!(
        request_id,
        naming::insert_request_id(
            "7c86f6de-f87d",
            "us-east1",
            "us-east1-b",
            "n2-highmem-16",
            4
        )
    );
    adapter.create(&req).await.unwrap();
    let again = server.requests();
    let retried = again
        .iter()
        .filter(|r| r.method == Method::POST && r.path.ends_with("/reservations"))
        .nth(1)
        .expect("a second insert");
    assert_eq!(retried.query.get("requestId"), Some(&request_id));
    assert!(
        requests
            .iter()
            .all(|r| r.authorization.as_deref() == Some("Bearer test-token"))
    );
}

fn already_exists_server(owner: &'static str) -> impl Fn(&Recorded) -> (u16, Value) {
    move |r: &Recorded| match r.method {
        Method::POST => (
            409,
            json!({"error": {"code": 409, "message": "The resource already exists",
                "errors": [{"reason": "alreadyExists", "domain": "global",
                            "message": "The resource already exists"}]}}),
        ),
        Method::GET => {
            let mut body = json!({
                "name": r.path.rsplit('/').next().unwrap(),
                "description": json!({"TestId": owner}).to_string(),
                "specificReservation": {"count": "3",
                    "instanceProperties": {"machineType": "n2-highmem-16"}},
            });
            body = stored(&body, "READY");
            (200, body)
        }
        _ => (500, json!({})),
    }
}

#[tokio::test]
async fn an_existing_reservation_of_the_same_test_is_adopted() {
    let server = Server::start(already_exists_server("t-1")).await;
    let adapter = server.adapter(Arc::new(FixedToken)).await;
    let r = adapter.create(&request("t-1", 0)).await.unwrap();
    assert_eq!(r.count, 3);
    assert_eq!(r.state, ReservationState::Active);
    assert_eq!(r.tags.get("TestId").map(String::as_str), Some("t-1"));
}

#[tokio::test]
async fn an_existing_reservation_of_another_test_is_refused() {
    let server = Server::start(already_exists_server("someone-else")).await;
    let adapter = server.adapter(Arc::new(FixedToken)).await;
    let err = adapter.create(&request("t-1", 0)).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidRequest, "{err}");
    assert!(err.to_string().contains("someone-else"), "{err}");
}

#[tokio::test]
async fn operation_errors_are_classified_with_their_location() {
    let cases = [
        (
            "ZONE_RESOURCE_POOL_EXHAUSTED",
            ErrorKind::CapacityUnavailable,
        ),
        (
            "ZONE_RESOURCE_POOL_EXHAUSTED_WITH_DETAILS",
            ErrorKind::CapacityUnavailable,
        ),
        ("QUOTA_EXCEEDED", ErrorKind::QuotaExceeded),
    ];
    for (code, kind) in cases {
        let server = Server::start(move |r| match r.method {
            Method::POST => (
                200,
                json!({"name": "op-9", "status": "DONE", "httpErrorStatusCode": 503,
                       "error": {"errors": [{"code": code, "message": "zone says no"}]}}),
            ),
            _ => (500, json!({})),
        })
        .await;
        let adapter = server.adapter(Arc::new(FixedToken)).await;
        let err = adapter.create(&request("t", 0)).await.unwrap_err();
        assert_eq!(err.kind(), kind, "{code}: {err}");
        let cloud_error = err.cloud_error().unwrap();
        assert_eq!(cloud_error.code, code);
        assert_eq!(cloud_error.message, "zone says no");
        assert_eq!(cloud_error.operation, "reservations.insert");
        assert_eq!(cloud_error.location.cloud, Some(Cloud::Gce));
        assert_eq!(cloud_error.location.region.as_deref(), Some("us-east1"));
        assert_eq!(cloud_error.location.zone.as_deref(), Some("us-east1-b"));
        assert_eq!(
            cloud_error.location.instance_type.as_deref(),
            Some("n2-highmem-16")
        );
    }
}

#[tokio::test]
async fn throttling_and_permission_answers_are_classified() {
    let server = Server::start(|r| match r.path.as_str() {
        p if p.ends_with("/regions") => (
            403,
            json!({"error": {"code": 403, "message": "Rate Limit Exceeded",
                "errors": [{"reason": "rateLimitExceeded", "message": "Rate Limit Exceeded"}]}}),
        ),
        _ => (
            403,
            json!({"error": {"code": 403, "message": "Required 'compute.zones.list' permission",
                "errors": [{"reason": "forbidden", "message": "Required permission"}]}}),
        ),
    })
    .await;
    let adapter = server.adapter(Arc::new(FixedToken)).await;
    let throttled = adapter.regions().await.unwrap_err();
    assert_eq!(throttled.kind(), ErrorKind::Throttled, "{throttled}");
    let forbidden = adapter.zones("us-east1", &[]).await.unwrap_err();
    assert_eq!(forbidden.kind(), ErrorKind::Unauthorized, "{forbidden}");
    assert!(forbidden.to_string().contains("compute.zones.list"));
}

#[tokio::test]
async fn an_operation_that_fails_is_a_settled_classified_failure() {
    let server = Server::start(|r| match (&r.method, r.path.as_str()) {
        (&Method::POST, _) => (200, op("op-late", "RUNNING")),
        (&Method::GET, p) if p.ends_with("/operations/op-late") => (
            200,
            json!({"kind": "compute#operation", "name": "op-late", "status": "DONE",
                   "error": {"errors": [{"code": "ZONE_RESOURCE_POOL_EXHAUSTED",
                                         "message": "The zone does not have enough resources"}]}}),
        ),
        _ => (500, json!({})),
    })
    .await;
    let adapter = server.adapter(Arc::new(FixedToken)).await;
    let pending = adapter.create(&request("t", 0)).await.unwrap();
    let Readiness::Failed(err) = adapter.poll(&pending).await.unwrap() else {
        panic!("a failed Operation is a failed reservation");
    };
    assert_eq!(err.kind(), ErrorKind::CapacityUnavailable, "{err}");
    assert!(err.is_settled(), "a retry needs a fresh requestId");
    assert!(
        err.to_string().contains("ZONE_RESOURCE_POOL_EXHAUSTED"),
        "{err}"
    );
}

#[tokio::test]
async fn cancel_deletes_waits_and_treats_missing_as_gone() {
    let server = Server::start(|r| match (&r.method, r.path.as_str()) {
        (&Method::GET, p) if p.ends_with("/reservations/cr-here") => (
            200,
            json!({"name": "cr-here", "id": "55", "status": "READY",
                   "specificReservation": {"count": "1",
                       "instanceProperties": {"machineType": "n2-standard-8"}}}),
        ),
        (&Method::DELETE, p) if p.ends_with("/reservations/cr-here") => {
            (200, op("op-del", "PENDING"))
        }
        (&Method::POST, p) if p.ends_with("/operations/op-del/wait") => (200, op("op-del", "DONE")),
        (_, p) if p.ends_with("/reservations/cr-gone") => (
            404,
            json!({"error": {"code": 404, "message": "not found",
                "errors": [{"reason": "notFound", "message": "not found"}]}}),
        ),
        _ => (500, json!({})),
    })
    .await;
    let adapter = server.adapter(Arc::new(FixedToken)).await;
    let mut here = cr_core::Reservation {
        id: cr_core::ReservationId("cr-here".into()),
        cloud: Cloud::Gce,
        region: "us-east1".into(),
        zone: Some("us-east1-c".into()),
        instance_type: "n2-standard-8".into(),
        count: 1,
        used: None,
        end_time: None,
        created: None,
        state: ReservationState::Active,
        tags: BTreeMap::new(),
        extra: BTreeMap::from([(EXTRA_ID.to_string(), "55".to_string())]),
    };
    assert_eq!(
        adapter.cancel(&here).await.unwrap(),
        CancelOutcome::Cancelled
    );
    let requests = server.requests();
    assert_eq!(requests[0].method, Method::GET);
    let delete = &requests[1];
    assert_eq!(delete.method, Method::DELETE);
    assert_eq!(
        delete.path,
        "/compute/v1/projects/proj/zones/us-east1-c/reservations/cr-here"
    );
    assert_eq!(
        delete.query.get("requestId"),
        Some(&naming::delete_request_id("cr-here", "55"))
    );
    here.id.0 = "cr-gone".into();
    assert_eq!(
        adapter.cancel(&here).await.unwrap(),
        CancelOutcome::AlreadyGone
    );
    assert_eq!(
        server.requests().len(),
        4,
        "get, delete, wait; then only the get that found nothing"
    );
}

fn listed(name: &str, zone: &str, test_id: &str, status: &str) -> Value {
    json!({
        "name": name,
        "zone": format!("https://www.googleapis.com/compute/v1/projects/proj/zones/{zone}"),
        "status": status,
        "id": "1",
        "description": json!({"TestId": test_id}).to_string(),
        "deleteAtTime": "2030-01-01T00:00:00Z",
        "specificReservation": {"count": "2", "inUseCount": "1",
            "instanceProperties": {"machineType": "n2-standard-8"}}
    })
}

#[tokio::test]
async fn find_reads_every_page_and_keeps_only_the_test() {
    let server = Server::start(|r| {
        assert!(r.path.ends_with("/projects/proj/aggregated/reservations"));
        match r.query.get("pageToken").map(String::as_str) {
            None => (
                200,
                json!({"items": {
                    "zones/us-east1-b": {"reservations": [
                        listed("cr-abcdef12-b-a", "us-east1-b", "abcdef12-x", "READY"),
                        listed("cr-abcdef12-b-b", "us-east1-b", "abcdef12-other", "READY"),
                    ]},
                    "zones/us-east1-c": {"warning": {"code": "NO_RESULTS_ON_PAGE"}}
                }, "nextPageToken": "p2"}),
            ),
            Some("p2") => (
                200,
                json!({"items": {"zones/europe-west1-b": {"reservations": [
                    listed("cr-abcdef12-b-c", "europe-west1-b", "abcdef12-x", "CREATING"),
                ]}}}),
            ),
            Some(other) => panic!("unexpected page {other}"),
        }
    })
    .await;
    let adapter = server.adapter(Arc::new(FixedToken)).await;
    assert!(adapter.lists_all_regions());
    let all = adapter.find("abcdef12-x", None).await.unwrap();
    let names: Vec<&str> = all.iter().map(|r| r.id.0.as_str()).collect();
    assert_eq!(names, ["cr-abcdef12-b-a", "cr-abcdef12-b-c"]);
    assert_eq!(all[1].state, ReservationState::Pending);
    assert_eq!(all[1].region, "europe-west1");
    assert_eq!(all[0].used, Some(1));
    let one = adapter
        .find("abcdef12-x", Some("europe-west1".into()))
        .await
        .unwrap();
    assert_eq!(one.len(), 1);
    let requests = server.requests();
    assert!(
        requests
            .iter()
            .all(|r| r.query.get("filter") == Some(&naming::name_filter("abcdef12-x")))
    );
    assert_eq!(requests.len(), 4, "two pages per find");
}

#[tokio::test]
async fn zones_are_the_regions_up_zones_in_api_order() {
    let server = Server::start(|r| {
        let zone = |name: &str, region: &str, status: &str| {
            json!({"name": name, "status": status,
                   "region": format!("https://www.googleapis.com/compute/v1/projects/proj/regions/{region}")})
        };
        match r.query.get("pageToken").map(String::as_str) {
            None => (
                200,
                json!({"items": [zone("us-east1-c", "us-east1", "UP"),
                                 zone("us-east4-a", "us-east4", "UP")],
                       "nextPageToken": "n"}),
            ),
            _ => (
                200,
                json!({"items": [zone("us-east1-b", "us-east1", "UP"),
                                 zone("us-east1-d", "us-east1", "DOWN")]}),
            ),
        }
    })
    .await;
    let adapter = server.adapter(Arc::new(FixedToken)).await;
    let zones = adapter.zones("us-east1", &[]).await.unwrap();
    assert_eq!(zones, ["us-east1-c", "us-east1-b"]);
}

#[tokio::test]
async fn a_refused_token_is_unauthorized_and_no_api_call_is_made() {
    let server = Server::start(|_| (200, json!({"items": []}))).await;
    let mut tokens = MockTokenSource::new();
    tokens
        .expect_token()
        .withf(|scopes: &Vec<String>| scopes == &[COMPUTE_SCOPE])
        .times(1)
        .returning(|_| Err(gcp_auth::Error::Str("token request failed")));
    let adapter = server.adapter(Arc::new(Mocked(tokens))).await;
    let err: Error = adapter.regions().await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unauthorized, "{err}");
    assert_eq!(err.cloud_error().unwrap().operation, "regions.list");
    assert!(server.requests().is_empty());
}

#[tokio::test]
async fn the_project_comes_from_the_credentials_when_not_configured() {
    let server = Server::start(|_| (200, json!({"items": [{"name": "us-east1"}]}))).await;
    let mut tokens = MockTokenSource::new();
    tokens
        .expect_project_id()
        .returning(|| Ok(Arc::from("from-credentials")));
    tokens.expect_token().returning(|_| {
        Ok(Arc::new(
            serde_json::from_value::<Token>(json!({"access_token": "t", "expires_in": 60}))
                .unwrap(),
        ))
    });
    let adapter = GceBuilder::new()
        .with_endpoint(&server.url)
        .with_token_provider(Arc::new(Mocked(tokens)))
        .build()
        .await
        .unwrap();
    assert_eq!(adapter.project(), "from-credentials");
    assert_eq!(adapter.regions().await.unwrap(), ["us-east1"]);
    assert_eq!(
        server.requests()[0].path,
        "/compute/v1/projects/from-credentials/regions"
    );
}
