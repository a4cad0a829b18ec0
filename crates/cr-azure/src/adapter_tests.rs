//! The adapter against a mocked transport (azure_core's `HttpClient`, mocked with mockall):
//! each long-running-operation pattern, Retry-After, error codes in `details`, and polling
//! URLs that leave the ARM host.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use azure_core::credentials::{AccessToken, Secret, TokenCredential, TokenRequestOptions};
use azure_core::http::headers::{HeaderName, Headers};
use azure_core::http::{AsyncRawResponse, HttpClient, Request, StatusCode};
use cr_core::adapter::{CloudAdapter, CreateRequest, Readiness, RegionHandle};
use cr_core::error::ErrorKind;
use cr_core::model::{CancelOutcome, ReservationState};
use cr_core::plan::{Demand, DemandDetails, Role};
use cr_core::tags::Tags;
use cr_core::{Cloud, ReservationId};

use crate::AzureBuilder;
use crate::lro::{EXTRA_LRO_KIND, EXTRA_LRO_URL};

const BASE: &str = "https://arm.test";
const GROUP: &str =
    "/subscriptions/sub/resourceGroups/rg/providers/Microsoft.Compute/capacityReservationGroups/g";

mockall::mock! {
    pub Http {}
    impl std::fmt::Debug for Http {
        fn fmt<'a>(&self, f: &mut std::fmt::Formatter<'a>) -> std::fmt::Result;
    }
    #[async_trait]
    impl HttpClient for Http {
        async fn execute_request(&self, request: &Request) -> azure_core::Result<AsyncRawResponse>;
    }
}

#[derive(Debug)]
struct StaticToken;

#[async_trait]
impl TokenCredential for StaticToken {
    async fn get_token(
        &self,
        _scopes: &[&str],
        _options: Option<TokenRequestOptions<'_>>,
    ) -> azure_core::Result<AccessToken> {
        Ok(AccessToken::new(
            Secret::new("token"),
            azure_core::time::OffsetDateTime::now_utc() + Duration::from_secs(3600),
        ))
    }
}

/// One scripted answer: status, headers, JSON body.
type Answer = (u16, Vec<(&'static str, String)>, serde_json::Value);

/// A transport answering `script` in order, recording `METHOD url` of every request.
fn transport(script: Vec<Answer>) -> (MockHttp, Arc<Mutex<Vec<String>>>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    let script = Mutex::new(script.into_iter());
    let mut m = MockHttp::new();
    m.expect_fmt().returning(|f| f.write_str("MockHttp"));
    m.expect_execute_request().returning(move |req| {
        log.lock()
            .unwrap()
            .push(format!("{} {}", req.method(), req.url()));
        let (status, headers, body) = script.lock().unwrap().next().expect("a scripted answer");
        let mut h = Headers::new();
        for (k, v) in headers {
            h.insert(HeaderName::from_static(k), v);
        }
        let bytes = if body.is_null() {
            Vec::new()
        } else {
            body.to_string().into_bytes()
        };
        Ok(AsyncRawResponse::from_bytes(
            StatusCode::from(status),
            h,
            bytes,
        ))
    });
    (m, seen)
}

async fn adapter(script: Vec<Answer>) -> (crate::AzureAdapter, Arc<Mutex<Vec<String>>>) {
    let (mock, seen) = transport(script);
    let a = AzureBuilder::new()
        .with_probes(false)
        .with_endpoint(BASE)
        .with_subscription("sub")
        .with_token_credential(Arc::new(StaticToken))
        .with_http_client(Arc::new(mock))
        .with_max_poll_interval(Duration::from_millis(5))
        .build()
        .await
        .expect("the adapter builds");
    (a, seen)
}

fn request() -> CreateRequest {
    CreateRequest {
        test_id: "t".into(),
        region: "eastus".into(),
        zone: "1".into(),
        demand: Demand {
            instance_type: "Standard_L8s_v3".into(),
            count: 3,
            roles: vec![Role::Db],
            details: DemandDetails::default(),
        },
        end_time: jiff::Timestamp::from_second(1_900_000_000).unwrap(),
        tags: Tags::for_test(Some("t"), Cloud::Azure),
        attempt: 0,
        region_handle: RegionHandle {
            id: Some(GROUP.into()),
            extra: BTreeMap::from([("zones".to_string(), "1,2".to_string())]),
        },
    }
}

fn reservation_body(state: &str) -> serde_json::Value {
    serde_json::json!({
        "id": format!("{GROUP}/capacityReservations/cr-Standard_L8s_v3-z1"),
        "location": "eastus",
        "sku": {"name": "Standard_L8s_v3", "capacity": 3},
        "zones": ["1"],
        "tags": {"TestId": "t"},
        "properties": {"provisioningState": state},
    })
}

#[tokio::test]
async fn an_async_operation_is_polled_with_its_retry_after_and_its_nested_code_decides() {
    let op = format!(
        "{BASE}/subscriptions/sub/providers/Microsoft.Compute/locations/eastus/operations/1?api-version=x"
    );
    let (a, seen) = adapter(vec![
        (
            201,
            vec![("azure-asyncoperation", op.clone()), ("retry-after", "3".into())],
            reservation_body("Creating"),
        ),
        (
            200,
            vec![("retry-after-ms", "120".into())],
            serde_json::json!({"status": "InProgress"}),
        ),
        (
            200,
            vec![],
            serde_json::json!({"status": "Failed", "error": {"code": "Conflict", "message": "no",
                "details": [{"code": "ZonalAllocationFailed", "message": "no capacity in zone 1"}]}}),
        ),
    ])
    .await;
    let r = a.create(&request()).await.expect("accepted");
    assert_eq!(r.state, ReservationState::Pending);
    assert_eq!(r.extra[EXTRA_LRO_KIND], "azure-asyncoperation");
    assert_eq!(r.extra[EXTRA_LRO_URL], op);
    match a.poll(&r).await.expect("a look") {
        Readiness::Pending { retry_after } => {
            assert_eq!(retry_after, Some(Duration::from_millis(120)));
        }
        other => panic!("{other:?}"),
    }
    let Readiness::Failed(e) = a.poll(&r).await.expect("a look") else {
        panic!("the operation failed")
    };
    assert_eq!(e.kind(), ErrorKind::CapacityUnavailable, "{e}");
    assert!(e.is_settled(), "{e}");
    let text = e.to_string();
    for part in [
        "ZonalAllocationFailed",
        "eastus",
        "zone 1",
        "Standard_L8s_v3",
    ] {
        assert!(text.contains(part), "{text}");
    }
    let seen = seen.lock().unwrap();
    assert!(seen[0].starts_with("PUT https://arm.test/subscriptions/sub/resourceGroups/rg/"));
    assert!(seen[0].contains("/capacityReservations/cr-Standard_L8s_v3-z1?api-version="));
    assert_eq!(seen.len(), 3, "{seen:?}");
}

fn held() -> cr_core::model::Reservation {
    cr_core::model::Reservation {
        id: ReservationId(format!(
            "{GROUP}/capacityReservations/cr-Standard_L8s_v3-z1"
        )),
        cloud: Cloud::Azure,
        region: "eastus".into(),
        zone: Some("1".into()),
        instance_type: "Standard_L8s_v3".into(),
        count: 3,
        used: None,
        end_time: None,
        created: None,
        state: ReservationState::Active,
        tags: BTreeMap::new(),
        extra: BTreeMap::new(),
    }
}

#[tokio::test]
async fn a_location_only_delete_is_waited_for_until_204() {
    let loc = format!(
        "{BASE}/subscriptions/sub/providers/Microsoft.Compute/locations/eastus/operations/2?monitor=true"
    );
    let (a, seen) = adapter(vec![
        (
            202,
            vec![("location", loc.clone()), ("retry-after", "0".into())],
            serde_json::Value::Null,
        ),
        (
            202,
            vec![("location", loc.clone())],
            serde_json::Value::Null,
        ),
        (204, vec![], serde_json::Value::Null),
    ])
    .await;
    assert_eq!(
        a.cancel(&held()).await.expect("cancel"),
        CancelOutcome::Cancelled
    );
    let seen = seen.lock().unwrap();
    assert!(seen[0].starts_with("DELETE "), "{seen:?}");
    assert!(
        seen[1..].iter().all(|s| s == &format!("GET {loc}")),
        "{seen:?}"
    );
    assert_eq!(seen.len(), 3);
}

#[tokio::test]
async fn no_polling_header_means_the_provisioning_state_is_polled() {
    let (a, seen) = adapter(vec![
        (201, vec![], reservation_body("Creating")),
        (200, vec![], reservation_body("Creating")),
        (200, vec![], reservation_body("Succeeded")),
    ])
    .await;
    let r = a.create(&request()).await.expect("accepted");
    assert_eq!(r.extra[EXTRA_LRO_KIND], "provisioning-state");
    assert!(matches!(
        a.poll(&r).await.expect("a look"),
        Readiness::Pending { .. }
    ));
    let Readiness::Ready(ready) = a.poll(&r).await.expect("a look") else {
        panic!("Succeeded is usable")
    };
    assert_eq!(ready.state, ReservationState::Active);
    assert_eq!(ready.zone.as_deref(), Some("1"));
    assert_eq!(seen.lock().unwrap().len(), 3);
}

#[tokio::test]
async fn a_polling_url_on_another_host_is_never_followed() {
    let (a, seen) = adapter(vec![(
        201,
        vec![(
            "azure-asyncoperation",
            "https://elsewhere.example/op".into(),
        )],
        reservation_body("Creating"),
    )])
    .await;
    let r = a.create(&request()).await.expect("accepted");
    let err = a.poll(&r).await.expect_err("a foreign URL is refused");
    assert_eq!(err.kind(), ErrorKind::InvalidRequest, "{err}");
    assert!(err.to_string().contains("ForeignUrl"), "{err}");
    assert_eq!(
        seen.lock().unwrap().len(),
        1,
        "the token never left the ARM host"
    );
}

#[tokio::test]
async fn a_zone_outside_the_group_is_not_offered_and_nothing_is_sent() {
    let (a, seen) = adapter(vec![]).await;
    let mut req = request();
    req.zone = "3".into();
    let err = a
        .create(&req)
        .await
        .expect_err("the group spans zones 1 and 2");
    assert_eq!(err.kind(), ErrorKind::NotOffered, "{err}");
    assert!(err.to_string().contains("ZoneNotInGroup"), "{err}");
    assert!(seen.lock().unwrap().is_empty());
}
