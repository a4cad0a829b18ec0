//! Raw-HTTP protocol tests of the emulated Azure Resource Manager: token endpoint, bearer
//! checks, api-version validation, resource groups, capacity reservation groups and
//! reservations, long-running operations in every header variant, error shapes, pagination,
//! case-insensitive ids, audit and capacity accounting, and seeded fault injection.

mod azure_support;

use std::time::Duration;

use azure_support::*;
use cr_emulator::{AuditState, CloudKind};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

const LRO_60S: &str = "lro_ms: 60000\n";
/// The emulator's lenient mode: with `lro_ms: 0`, creates and deletes complete in their first
/// answer (real ARM always answers with an operation to poll, the default).
const IMMEDIATE: &str = "clouds: {azure: {options: {lro_always: false}}}";

#[tokio::test]
async fn token_endpoint_issues_bearer_tokens_and_rejects_bad_secrets() {
    let az = Az::start("").await;
    let t = fetch_token(&az.http, &az.base, &az.emu).await;
    assert_eq!(t.status, StatusCode::OK);
    assert_eq!(t.body["token_type"], "Bearer");
    assert_eq!(t.body["expires_in"], 3599);
    assert_eq!(t.body["ext_expires_in"], 3599);
    assert_eq!(
        t.body["access_token"].as_str().unwrap().split('.').count(),
        3
    );

    let a = &az.emu.credentials().azure;
    let post = |form: Vec<(&'static str, String)>, tenant: String| {
        let http = az.http.clone();
        let base = az.base.clone();
        async move {
            http.post(format!("{base}/{tenant}/oauth2/v2.0/token"))
                .form(&form)
                .send()
                .await
                .unwrap()
        }
    };
    let good = |secret: &str| {
        vec![
            ("grant_type", "client_credentials".to_owned()),
            ("client_id", a.client_id.clone()),
            ("client_secret", secret.to_owned()),
            ("scope", "https://management.azure.com/.default".to_owned()),
        ]
    };
    let r = post(good("wrong"), a.tenant_id.clone()).await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"], "invalid_client");
    assert_eq!(body["error_codes"][0], 7000215);
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .starts_with("AADSTS7000215")
    );

    let r = post(good(&a.client_secret), "another-tenant".into()).await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error_codes"][0], 90002);

    let mut no_scope = good(&a.client_secret);
    no_scope.pop();
    let r = post(no_scope, a.tenant_id.clone()).await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error_codes"][0], 90014);
}

#[tokio::test]
async fn token_endpoint_and_metadata_work_over_https_with_the_emulator_ca() {
    let az = Az::start("").await;
    let https = reqwest::Client::builder()
        .tls_certs_only([reqwest::Certificate::from_pem(az.emu.ca_pem().as_bytes()).unwrap()])
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap();
    let base = az.emu.https_url().to_owned();
    let t = fetch_token(&https, &base, &az.emu).await;
    assert_eq!(t.status, StatusCode::OK, "{:?}", t.body);
    let tenant = &az.emu.credentials().azure.tenant_id;
    let meta: Value = https
        .get(format!(
            "{base}/{tenant}/v2.0/.well-known/openid-configuration"
        ))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        meta["token_endpoint"],
        format!("{base}/{tenant}/oauth2/v2.0/token")
    );
    let disc: Value = https
        .get(format!(
            "{base}/common/discovery/instance?api-version=1.1&authorization_endpoint={base}/{tenant}/oauth2/v2.0/authorize"
        ))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        disc["tenant_discovery_endpoint"],
        format!("{base}/{tenant}/v2.0/.well-known/openid-configuration")
    );
    // The HTTPS token works against ARM on the HTTPS listener.
    let token = t.body["access_token"].as_str().unwrap();
    let r = https
        .get(format!(
            "{base}/subscriptions/{}/locations?api-version={SUBSCRIPTIONS_API}",
            az.sub
        ))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
}

#[tokio::test]
async fn arm_requires_a_valid_unexpired_bearer_token() {
    let az = Az::start("").await;
    let url = az.url("/locations", SUBSCRIPTIONS_API);
    let r = az.http.get(&url).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert!(r.headers().contains_key("www-authenticate"));
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"]["code"], "AuthenticationFailed");

    let r = az
        .http
        .get(&url)
        .bearer_auth("not-a-token")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"]["code"], "InvalidAuthenticationToken");

    assert_eq!(az.get_url(&url).await.status, StatusCode::OK);
    az.emu.advance_clock(Duration::from_secs(3600));
    let a = az.get_url(&url).await;
    assert_eq!(a.status, StatusCode::UNAUTHORIZED);
    assert_eq!(a.code(), "ExpiredAuthenticationToken");

    // Another subscription is not found.
    let other = format!(
        "{}/subscriptions/00000000-0000-0000-0000-000000000000/locations?api-version={SUBSCRIPTIONS_API}",
        az.base
    );
    let t = fetch_token(&az.http, &az.base, &az.emu).await;
    let r = az
        .http
        .get(other)
        .bearer_auth(t.body["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"]["code"], "SubscriptionNotFound");
}

#[tokio::test]
async fn api_version_is_required_and_checked_per_resource_type() {
    let az = Az::start("").await;
    let path = Az::group_path("rg", "g");
    let missing = format!("{}/subscriptions/{}{path}", az.base, az.sub);
    let a = az.get_url(&missing).await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST);
    assert_eq!(a.code(), "MissingApiVersionParameter");

    let a = az.get(&path, "2020-06-01").await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST);
    assert_eq!(a.code(), "InvalidApiVersionParameter");
    let msg = a.body["error"]["message"].as_str().unwrap();
    assert!(
        msg.starts_with("The api-version '2020-06-01' is invalid. The supported versions are '"),
        "{msg}"
    );
    assert!(
        msg.contains("2021-04-01") && msg.contains("2025-04-01") && msg.contains("2026-04-01"),
        "{msg}"
    );

    // A Compute version is not a Resources version.
    let a = az
        .put(
            &Az::rg_path("rg"),
            COMPUTE_API,
            json!({"location": "eastus"}),
        )
        .await;
    assert_eq!(a.code(), "InvalidApiVersionParameter");

    az.rg("rg").await;
    for v in ["2021-04-01", "2023-09-01", "2025-04-01", COMPUTE_API] {
        let a = az.get(&path, v).await;
        assert_eq!(a.status, StatusCode::NOT_FOUND, "{v}: {:?}", a.body);
        assert_eq!(a.code(), "ResourceNotFound", "{v}");
    }
}

#[tokio::test]
async fn locations_list_tens_of_regions_with_zone_mappings() {
    let az = Az::start("").await;
    let a = az.get("/locations", SUBSCRIPTIONS_API).await;
    assert_eq!(a.status, StatusCode::OK);
    let regions = a.body["value"].as_array().unwrap();
    assert!(regions.len() >= 30, "{} regions", regions.len());
    let eastus = regions.iter().find(|r| r["name"] == "eastus").unwrap();
    assert_eq!(eastus["displayName"], "East US");
    assert_eq!(eastus["type"], "Region");
    assert_eq!(
        eastus["id"],
        format!("/subscriptions/{}/locations/eastus", az.sub)
    );
    assert_eq!(
        eastus["availabilityZoneMappings"].as_array().unwrap().len(),
        3
    );
    let westus = regions.iter().find(|r| r["name"] == "westus").unwrap();
    assert!(westus.get("availabilityZoneMappings").is_none());
}

#[tokio::test]
async fn happy_path_reserves_lists_and_releases_capacity() {
    let az =
        Az::start("clouds: {azure: {options: {lro_always: false}, regions: {eastus: {zones: {\"1\": {Standard_D2s_v5: 10}}}}}}")
            .await;
    let rg = az
        .put(
            &Az::rg_path("rg1"),
            RESOURCES_API,
            json!({"location": "East US", "tags": {"a": "b"}}),
        )
        .await;
    assert_eq!(rg.status, StatusCode::CREATED);
    assert_eq!(rg.body["location"], "eastus");
    let again = az
        .put(
            &Az::rg_path("rg1"),
            RESOURCES_API,
            json!({"location": "eastus"}),
        )
        .await;
    assert_eq!(again.status, StatusCode::OK);

    let g = az.group("rg1", "crg", &["1", "2"]).await;
    assert_eq!(g.status, StatusCode::CREATED, "{:?}", g.body);
    assert_eq!(
        g.body["type"],
        "Microsoft.Compute/capacityReservationGroups"
    );
    assert_eq!(g.body["zones"], json!(["1", "2"]));
    assert_eq!(g.body["tags"]["owner"], "ci");

    let r = az
        .reserve("rg1", "crg", "r1", "Standard_D2s_v5", 4, Some("1"))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    assert_eq!(r.body["properties"]["provisioningState"], "Succeeded");
    assert_eq!(
        r.body["sku"],
        json!({"name": "Standard_D2s_v5", "capacity": 4})
    );
    assert_eq!(r.body["zones"], json!(["1"]));
    assert_eq!(r.body["tags"]["cluster"], "c1");
    assert!(
        r.header("azure-asyncoperation").is_none(),
        "lro_ms 0 completes at once"
    );
    let id = r.body["id"].as_str().unwrap().to_owned();
    assert_eq!(
        id,
        format!(
            "/subscriptions/{}/resourceGroups/rg1/providers/Microsoft.Compute/capacityReservationGroups/crg/capacityReservations/r1",
            az.sub
        )
    );

    let world = az.emu.world();
    assert_eq!(
        world.available(CloudKind::Azure, "eastus", "1", "Standard_D2s_v5"),
        6
    );
    let audit = az.emu.state();
    let rec = audit.reservations.iter().find(|r| r.id == id).unwrap();
    assert_eq!(rec.state, AuditState::Active);
    assert_eq!(
        (rec.region.as_str(), rec.zone.as_str(), rec.count),
        ("eastus", "1", 4)
    );
    assert_eq!(rec.instance_type, "Standard_D2s_v5");
    assert_eq!(rec.tags["cluster"], "c1");

    let got = az
        .get(
            &format!("{}?$expand=instanceView", Az::res_path("rg1", "crg", "r1")),
            COMPUTE_API,
        )
        .await;
    assert_eq!(got.status, StatusCode::OK);
    assert_eq!(
        got.body["properties"]["instanceView"]["utilizationInfo"]["currentCapacity"],
        4
    );
    let grp = az.get(&Az::group_path("rg1", "crg"), COMPUTE_API).await;
    assert_eq!(grp.body["properties"]["capacityReservations"][0]["id"], id);
    let list = az
        .get(
            &format!("{}/capacityReservations", Az::group_path("rg1", "crg")),
            COMPUTE_API,
        )
        .await;
    assert_eq!(list.body["value"].as_array().unwrap().len(), 1);

    // Resize up and down moves capacity with it.
    let up = az
        .reserve("rg1", "crg", "r1", "Standard_D2s_v5", 6, Some("1"))
        .await;
    assert_eq!(up.status, StatusCode::OK);
    assert_eq!(up.body["sku"]["capacity"], 6);
    assert_eq!(
        world.available(CloudKind::Azure, "eastus", "1", "Standard_D2s_v5"),
        4
    );
    let down = az
        .reserve("rg1", "crg", "r1", "Standard_D2s_v5", 1, Some("1"))
        .await;
    assert_eq!(down.body["sku"]["capacity"], 1);
    assert_eq!(
        world.available(CloudKind::Azure, "eastus", "1", "Standard_D2s_v5"),
        9
    );
    // PUT is idempotent: the same body again changes nothing.
    let same = az
        .reserve("rg1", "crg", "r1", "Standard_D2s_v5", 1, Some("1"))
        .await;
    assert_eq!(same.status, StatusCode::OK);
    assert_eq!(
        world.available(CloudKind::Azure, "eastus", "1", "Standard_D2s_v5"),
        9
    );

    let del = az
        .delete(&Az::res_path("rg1", "crg", "r1"), COMPUTE_API)
        .await;
    assert_eq!(del.status, StatusCode::OK);
    assert_eq!(
        world.available(CloudKind::Azure, "eastus", "1", "Standard_D2s_v5"),
        10
    );
    let gone = az.get(&Az::res_path("rg1", "crg", "r1"), COMPUTE_API).await;
    assert_eq!(gone.status, StatusCode::NOT_FOUND);
    assert_eq!(gone.code(), "ResourceNotFound");
    let again = az
        .delete(&Az::res_path("rg1", "crg", "r1"), COMPUTE_API)
        .await;
    assert_eq!(again.status, StatusCode::NO_CONTENT);
    let rec = az
        .emu
        .state()
        .reservations
        .into_iter()
        .find(|r| r.id == id)
        .unwrap();
    assert_eq!(rec.state, AuditState::Cancelled);
    assert!(rec.ended_at.is_some());
}

#[tokio::test]
async fn reservation_create_and_delete_run_as_long_running_operations() {
    let az = Az::start(LRO_60S).await;
    az.rg("rg").await;
    az.group("rg", "g", &["1", "2", "3"]).await;
    let r = az
        .reserve("rg", "g", "r", "Standard_L8s_v3", 2, Some("2"))
        .await;
    assert_eq!(r.status, StatusCode::CREATED);
    assert_eq!(r.body["properties"]["provisioningState"], "Creating");
    let status_url = r
        .header("azure-asyncoperation")
        .expect("Azure-AsyncOperation")
        .to_owned();
    assert!(status_url.starts_with(&format!(
        "{}/subscriptions/{}/providers/Microsoft.Compute/locations/eastus/operations/",
        az.base, az.sub
    )));
    assert!(status_url.contains("api-version=2026-04-01"));
    assert_eq!(r.header("retry-after"), Some("60"));
    assert!(
        r.header("location").is_none(),
        "PUT answers with Azure-AsyncOperation only by default"
    );

    let s = az.get_url(&status_url).await;
    assert_eq!(s.body["status"], "InProgress");
    let id = r.body["id"].as_str().unwrap();
    let rec = az
        .emu
        .state()
        .reservations
        .into_iter()
        .find(|x| x.id == id)
        .unwrap();
    assert_eq!(rec.state, AuditState::Pending);
    // Another delete while creating is refused.
    let d = az.delete(&Az::res_path("rg", "g", "r"), COMPUTE_API).await;
    assert_eq!(d.status, StatusCode::CONFLICT);
    assert_eq!(d.code(), "AnotherOperationInProgress");

    az.emu.advance_clock(Duration::from_secs(61));
    let s = az.get_url(&status_url).await;
    assert_eq!(s.body["status"], "Succeeded");
    assert!(s.body["endTime"].is_string());
    let got = az.get(&Az::res_path("rg", "g", "r"), COMPUTE_API).await;
    assert_eq!(got.body["properties"]["provisioningState"], "Succeeded");
    let rec = az
        .emu
        .state()
        .reservations
        .into_iter()
        .find(|x| x.id == id)
        .unwrap();
    assert_eq!(rec.state, AuditState::Active);

    let d = az.delete(&Az::res_path("rg", "g", "r"), COMPUTE_API).await;
    assert_eq!(d.status, StatusCode::ACCEPTED);
    let async_url = d.header("azure-asyncoperation").unwrap().to_owned();
    let location = d
        .header("location")
        .expect("DELETE answers with Location too")
        .to_owned();
    let poll = az.get_url(&location).await;
    assert_eq!(poll.status, StatusCode::ACCEPTED);
    let got = az.get(&Az::res_path("rg", "g", "r"), COMPUTE_API).await;
    assert_eq!(got.body["properties"]["provisioningState"], "Deleting");
    // A repeated delete joins the running operation.
    let again = az.delete(&Az::res_path("rg", "g", "r"), COMPUTE_API).await;
    assert_eq!(again.status, StatusCode::ACCEPTED);
    assert_eq!(
        again.header("azure-asyncoperation"),
        Some(async_url.as_str())
    );

    az.emu.advance_clock(Duration::from_secs(61));
    assert_eq!(az.get_url(&location).await.status, StatusCode::NO_CONTENT);
    assert_eq!(az.get_url(&async_url).await.body["status"], "Succeeded");
    assert_eq!(
        az.get(&Az::res_path("rg", "g", "r"), COMPUTE_API)
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    let rec = az
        .emu
        .state()
        .reservations
        .into_iter()
        .find(|x| x.id == id)
        .unwrap();
    assert_eq!(rec.state, AuditState::Cancelled);
}

#[tokio::test]
async fn location_only_and_no_header_variants() {
    let az = Az::start(&format!(
        "{LRO_60S}clouds: {{azure: {{options: {{lro_headers: location}}}}}}"
    ))
    .await;
    az.rg("rg").await;
    az.group("rg", "g", &[]).await;
    let r = az.reserve("rg", "g", "r", "Standard_D4s_v5", 3, None).await;
    assert_eq!(r.status, StatusCode::CREATED);
    assert!(r.header("azure-asyncoperation").is_none());
    let loc = r.header("location").expect("Location").to_owned();
    assert_eq!(az.get_url(&loc).await.status, StatusCode::ACCEPTED);
    az.emu.advance_clock(Duration::from_secs(61));
    let done = az.get_url(&loc).await;
    assert_eq!(done.status, StatusCode::OK);
    assert_eq!(done.body["properties"]["provisioningState"], "Succeeded");
    assert_eq!(done.body["sku"]["capacity"], 3);

    let mut s = az.emu.world().scenario();
    s.clouds
        .azure
        .options
        .insert("lro_headers".into(), json!("none"));
    az.emu.set_scenario(s);
    let r = az
        .reserve("rg", "g", "r2", "Standard_D8s_v5", 1, None)
        .await;
    assert_eq!(r.status, StatusCode::CREATED);
    assert!(r.header("azure-asyncoperation").is_none() && r.header("location").is_none());
    assert_eq!(r.body["properties"]["provisioningState"], "Creating");
    az.emu.advance_clock(Duration::from_secs(61));
    let got = az.get(&Az::res_path("rg", "g", "r2"), COMPUTE_API).await;
    assert_eq!(got.body["properties"]["provisioningState"], "Succeeded");
}

#[tokio::test]
async fn stockout_fails_the_operation_or_the_put() {
    let yaml = "clouds: {azure: {options: {lro_always: false}, regions: {eastus: {zones: {\"1\": {Standard_L8s_v3: 0}, \"\": {Standard_L8s_v3: 1}}}}}}";
    let az = Az::start(yaml).await;
    az.rg("rg").await;
    az.group("rg", "zonal", &["1"]).await;
    // lro_ms 0: still an operation to poll, already failed.
    let r = az
        .reserve("rg", "zonal", "r", "Standard_L8s_v3", 2, Some("1"))
        .await;
    assert_eq!(r.status, StatusCode::CREATED);
    let s = az.get_url(r.header("azure-asyncoperation").unwrap()).await;
    assert_eq!(s.body["status"], "Failed");
    assert_eq!(s.body["error"]["code"], "ZonalAllocationFailed");
    let got = az.get(&Az::res_path("rg", "zonal", "r"), COMPUTE_API).await;
    assert_eq!(got.body["properties"]["provisioningState"], "Failed");
    let id = got.body["id"].as_str().unwrap();
    let rec = az
        .emu
        .state()
        .reservations
        .into_iter()
        .find(|x| x.id == id)
        .unwrap();
    assert_eq!(rec.state, AuditState::Cancelled);
    // The failed reservation still blocks its group until deleted.
    let d = az.delete(&Az::group_path("rg", "zonal"), COMPUTE_API).await;
    assert_eq!(d.status, StatusCode::CONFLICT);
    assert_eq!(
        az.delete(&Az::res_path("rg", "zonal", "r"), COMPUTE_API)
            .await
            .status,
        StatusCode::OK
    );

    // Regional capacity is its own pool (zone "" in the scenario).
    az.group("rg", "regional", &[]).await;
    let ok = az
        .reserve("rg", "regional", "a", "Standard_L8s_v3", 1, None)
        .await;
    assert_eq!(ok.body["properties"]["provisioningState"], "Succeeded");

    let mut s = az.emu.world().scenario();
    s.clouds
        .azure
        .options
        .insert("stockout".into(), json!("sync"));
    az.emu.set_scenario(s);
    // Another group: one group holds one reservation per size.
    az.group("rg", "regional2", &[]).await;
    let r = az
        .reserve("rg", "regional2", "b", "Standard_L8s_v3", 1, None)
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    assert_eq!(r.code(), "AllocationFailed");
    assert_eq!(
        az.get(&Az::res_path("rg", "regional2", "b"), COMPUTE_API)
            .await
            .status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn quota_and_unoffered_sizes_are_refused_synchronously() {
    let yaml = "clouds: {azure: {regions: {eastus: {quotas: {standardDSv5Family: 8}, zones: {\"2\": {Standard_NV6: -1}}}}}}";
    let az = Az::start(yaml).await;
    az.rg("rg").await;
    az.group("rg", "g", &["1", "2"]).await;
    assert!(
        az.reserve("rg", "g", "a", "Standard_D2s_v5", 3, Some("1"))
            .await
            .status
            .is_success()
    );
    let q = az
        .reserve("rg", "g", "b", "Standard_D2s_v5", 2, Some("2"))
        .await;
    assert_eq!(q.status, StatusCode::CONFLICT);
    assert_eq!(q.code(), "OperationNotAllowed");
    assert_eq!(q.body["error"]["details"][0]["code"], "QuotaExceeded");
    assert!(
        q.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("Current Limit: 8")
    );
    assert!(
        q.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("standardDSv5Family Cores quota"),
        "the message names the VM family: {:?}",
        q.body
    );

    let n = az
        .reserve("rg", "g", "c", "Standard_NV6", 1, Some("2"))
        .await;
    assert_eq!(n.status, StatusCode::CONFLICT);
    assert_eq!(n.code(), "SkuNotAvailable");
}

#[tokio::test]
async fn validation_and_not_found_shapes() {
    let az = Az::start("").await;
    let a = az.group("nope", "g", &[]).await;
    assert_eq!(a.status, StatusCode::NOT_FOUND);
    assert_eq!(a.code(), "ResourceGroupNotFound");
    az.rg("rg").await;
    let a = az
        .reserve("rg", "missing", "r", "Standard_D2s_v5", 1, None)
        .await;
    assert_eq!(a.status, StatusCode::NOT_FOUND);
    assert_eq!(a.code(), "ParentResourceNotFound");
    let a = az
        .put(&Az::group_path("rg", "g"), COMPUTE_API, json!({"tags": {}}))
        .await;
    assert_eq!(a.code(), "LocationRequired");
    let a = az
        .put(
            &Az::group_path("rg", "g"),
            COMPUTE_API,
            json!({"location": "atlantis"}),
        )
        .await;
    assert_eq!(a.code(), "LocationNotAvailableForResourceType");
    let a = az
        .put(
            &Az::group_path("rg", "g"),
            COMPUTE_API,
            json!({"location": "westus", "zones": ["1"]}),
        )
        .await;
    assert_eq!(a.code(), "InvalidParameter");
    let a = az
        .put(
            &Az::group_path("rg", "g"),
            COMPUTE_API,
            json!({"location": "eastus", "tags": {"a<b": "x"}}),
        )
        .await;
    assert_eq!(a.code(), "InvalidTagNameCharacters");
    let raw = az
        .http
        .put(az.url(&Az::group_path("rg", "g"), COMPUTE_API))
        .bearer_auth(&az.token)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(raw.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        raw.json::<Value>().await.unwrap()["error"]["code"],
        "InvalidRequestContent"
    );

    az.group("rg", "g", &["1"]).await;
    let a = az.reserve("rg", "g", "r", "Standard_D2s_v5", 1, None).await;
    assert_eq!(a.code(), "InvalidParameter");
    assert_eq!(a.body["error"]["target"], "zones");
    let a = az
        .reserve("rg", "g", "r", "Standard_D2s_v5", 1, Some("3"))
        .await;
    assert_eq!(a.code(), "InvalidParameter");
    let a = az
        .put(
            &Az::res_path("rg", "g", "r"),
            COMPUTE_API,
            json!({"location": "eastus", "zones": ["1"], "sku": {"name": "Standard_D2s_v5"}}),
        )
        .await;
    assert_eq!(a.code(), "InvalidParameter");
    assert_eq!(a.body["error"]["target"], "sku.capacity");
    assert!(
        az.reserve("rg", "g", "r", "Standard_D2s_v5", 1, Some("1"))
            .await
            .status
            .is_success()
    );
    let a = az
        .reserve("rg", "g", "r", "Standard_D4s_v5", 1, Some("1"))
        .await;
    assert_eq!(a.status, StatusCode::CONFLICT);
    assert_eq!(a.code(), "PropertyChangeNotAllowed");
    let a = az.group("rg", "g", &["2"]).await;
    assert_eq!(a.code(), "PropertyChangeNotAllowed");
}

#[tokio::test]
async fn ids_are_case_insensitive_and_keep_their_first_spelling() {
    let az = Az::start("").await;
    az.rg("MyRG").await;
    assert_eq!(
        az.group("MyRG", "CrgOne", &[]).await.status,
        StatusCode::CREATED
    );
    assert!(
        az.reserve("myrg", "crgone", "ResA", "Standard_D2s_v5", 1, None)
            .await
            .status
            .is_success()
    );
    let lower = format!(
        "{}/subscriptions/{}/resourcegroups/myrg/providers/microsoft.compute/capacityreservationgroups/CRGONE/capacityreservations/resa?api-version={COMPUTE_API}",
        az.base,
        az.sub.to_uppercase()
    );
    let a = az.get_url(&lower).await;
    assert_eq!(a.status, StatusCode::OK, "{:?}", a.body);
    assert_eq!(
        a.body["id"],
        format!(
            "/subscriptions/{}/resourceGroups/MyRG/providers/Microsoft.Compute/capacityReservationGroups/CrgOne/capacityReservations/ResA",
            az.sub
        )
    );
    let head = az
        .send(
            Method::HEAD,
            &az.url("/resourcegroups/MYRG", RESOURCES_API),
            None,
        )
        .await;
    assert_eq!(head.status, StatusCode::NO_CONTENT);
}

#[tokio::test]
async fn group_with_reservations_cannot_be_deleted() {
    let az = Az::start(IMMEDIATE).await;
    az.rg("rg").await;
    az.group("rg", "g", &[]).await;
    assert!(
        az.reserve("rg", "g", "r", "Standard_D2s_v5", 2, None)
            .await
            .status
            .is_success()
    );
    let d = az.delete(&Az::group_path("rg", "g"), COMPUTE_API).await;
    assert_eq!(d.status, StatusCode::CONFLICT);
    assert_eq!(d.code(), "CannotDeleteResource");
    assert!(
        d.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("capacityReservations/r")
    );
    assert_eq!(
        az.delete(&Az::res_path("rg", "g", "r"), COMPUTE_API)
            .await
            .status,
        StatusCode::OK
    );
    assert_eq!(
        az.delete(&Az::group_path("rg", "g"), COMPUTE_API)
            .await
            .status,
        StatusCode::OK
    );
    assert_eq!(
        az.delete(&Az::group_path("rg", "g"), COMPUTE_API)
            .await
            .status,
        StatusCode::NO_CONTENT
    );
}

#[tokio::test]
async fn deleting_a_resource_group_releases_everything_in_it() {
    let az = Az::start(LRO_60S).await;
    az.rg("rg").await;
    az.group("rg", "g", &["1"]).await;
    let r = az
        .reserve("rg", "g", "r", "Standard_D2s_v5", 5, Some("1"))
        .await;
    assert_eq!(r.status, StatusCode::CREATED);
    let world = az.emu.world();
    assert_eq!(
        world.available(CloudKind::Azure, "eastus", "1", "Standard_D2s_v5"),
        995
    );
    let d = az.delete(&Az::rg_path("rg"), RESOURCES_API).await;
    assert_eq!(d.status, StatusCode::ACCEPTED);
    let loc = d.header("location").unwrap().to_owned();
    assert_eq!(az.get_url(&loc).await.status, StatusCode::ACCEPTED);
    assert_eq!(
        world.available(CloudKind::Azure, "eastus", "1", "Standard_D2s_v5"),
        1000
    );
    az.emu.advance_clock(Duration::from_secs(61));
    assert_eq!(az.get_url(&loc).await.status, StatusCode::OK);
    let a = az.get(&Az::rg_path("rg"), RESOURCES_API).await;
    assert_eq!(a.code(), "ResourceGroupNotFound");
}

#[tokio::test]
async fn lists_page_with_next_link() {
    let az = Az::start("clouds: {azure: {options: {page_size: 2}}}").await;
    az.rg("rg-a").await;
    az.rg("rg-b").await;
    for (rg, g) in [
        ("rg-a", "g1"),
        ("rg-a", "g2"),
        ("rg-a", "g3"),
        ("rg-b", "g4"),
        ("rg-b", "g5"),
    ] {
        assert_eq!(az.group(rg, g, &[]).await.status, StatusCode::CREATED);
    }
    let mut url = az.url(
        "/providers/Microsoft.Compute/capacityReservationGroups",
        COMPUTE_API,
    );
    let mut names = Vec::new();
    let mut pages = 0;
    loop {
        let a = az.get_url(&url).await;
        assert_eq!(a.status, StatusCode::OK, "{:?}", a.body);
        pages += 1;
        for v in a.body["value"].as_array().unwrap() {
            names.push(v["name"].as_str().unwrap().to_owned());
        }
        match a.body.get("nextLink").and_then(Value::as_str) {
            Some(next) => {
                assert!(
                    next.starts_with(&az.base) && next.contains("api-version="),
                    "{next}"
                );
                url = next.to_owned();
            }
            None => break,
        }
    }
    assert_eq!(pages, 3);
    assert_eq!(names, ["g1", "g2", "g3", "g4", "g5"]);
    let by_rg = az
        .get(
            "/resourceGroups/rg-b/providers/Microsoft.Compute/capacityReservationGroups",
            COMPUTE_API,
        )
        .await;
    assert_eq!(by_rg.body["value"].as_array().unwrap().len(), 2);
    assert!(by_rg.body.get("nextLink").is_none());
}

#[tokio::test]
async fn faults_answer_in_arm_shape_and_repeat_under_a_seed() {
    let yaml = r#"
seed: 7
faults:
  - {cloud: azure, operation: Subscriptions_ListLocations, kind: throttle, rate: 0.5}
  - {cloud: azure, operation: ResourceGroups_Get, kind: 5xx, rate: 1.0}
"#;
    let run = || async {
        let az = Az::start(yaml).await;
        let mut statuses = Vec::new();
        for _ in 0..16 {
            let a = az.get("/locations", SUBSCRIPTIONS_API).await;
            if a.status == StatusCode::TOO_MANY_REQUESTS {
                assert_eq!(a.code(), "TooManyRequests");
                assert_eq!(a.header("retry-after"), Some("1"));
            } else {
                assert_eq!(a.status, StatusCode::OK);
            }
            statuses.push(a.status.as_u16());
        }
        let e = az.get(&Az::rg_path("x"), RESOURCES_API).await;
        assert_eq!(e.status, StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(e.code(), "InternalServerError");
        let log = az.emu.requests();
        assert!(
            log.iter()
                .any(|r| r.operation == "Subscriptions_ListLocations"
                    && r.status == 429
                    && r.error_code.as_deref() == Some("TooManyRequests"))
        );
        statuses
    };
    let first = run().await;
    assert!(first.contains(&429) && first.contains(&200), "{first:?}");
    assert_eq!(first, run().await);
}

#[tokio::test]
async fn failed_lro_and_connection_reset_faults() {
    let yaml = r#"
clouds: {azure: {options: {lro_always: false}}}
faults:
  - {cloud: azure, operation: CapacityReservations_CreateOrUpdate, kind: failed_lro, rate: 1.0, limit: 1}
  - {cloud: azure, operation: CapacityReservationGroups_Get, kind: connection_reset, rate: 1.0}
"#;
    let az = Az::start(yaml).await;
    az.rg("rg").await;
    az.group("rg", "g", &[]).await;
    let r = az.reserve("rg", "g", "r", "Standard_D2s_v5", 2, None).await;
    assert_eq!(r.status, StatusCode::CREATED);
    let s = az.get_url(r.header("azure-asyncoperation").unwrap()).await;
    assert_eq!(s.body["status"], "Failed");
    assert_eq!(s.body["error"]["code"], "InternalExecutionError");
    assert_eq!(
        az.emu
            .world()
            .available(CloudKind::Azure, "eastus", "", "Standard_D2s_v5"),
        1000
    );
    // Re-creating a failed reservation works once the fault is spent.
    let again = az.reserve("rg", "g", "r", "Standard_D2s_v5", 2, None).await;
    assert_eq!(again.body["properties"]["provisioningState"], "Succeeded");

    let err = az
        .http
        .get(az.url(&Az::group_path("rg", "g"), COMPUTE_API))
        .bearer_auth(&az.token)
        .send()
        .await;
    assert!(err.is_err(), "connection should have been dropped");
}

#[tokio::test]
async fn resource_skus_list_sizes_zones_and_restrictions() {
    let az = Az::start("clouds: {azure: {regions: {eastus: {zones: {\"2\": {Standard_NV6: -1, Standard_L8s_v3: 0}}}}}}").await;
    let a = az
        .get(
            "/providers/Microsoft.Compute/skus?$filter=location eq 'eastus'",
            "2021-07-01",
        )
        .await;
    assert_eq!(a.status, StatusCode::OK, "{:?}", a.body);
    let mut skus: Vec<Value> = a.body["value"].as_array().unwrap().clone();
    let mut next = a
        .body
        .get("nextLink")
        .and_then(Value::as_str)
        .map(str::to_owned);
    while let Some(url) = next {
        let p = az.get_url(&url).await;
        skus.extend(p.body["value"].as_array().unwrap().iter().cloned());
        next = p
            .body
            .get("nextLink")
            .and_then(Value::as_str)
            .map(str::to_owned);
    }
    assert!(skus.iter().all(|s| s["locations"] == json!(["eastus"])));
    let l8 = skus
        .iter()
        .find(|s| s["name"] == "Standard_L8s_v3")
        .unwrap();
    assert_eq!(l8["family"], "standardLSv3Family");
    assert_eq!(l8["locationInfo"][0]["zones"], json!(["1", "2", "3"]));
    assert!(
        l8["restrictions"].as_array().unwrap().is_empty(),
        "out of stock is not a restriction"
    );
    assert!(
        l8["capabilities"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["name"] == "CapacityReservationSupported" && c["value"] == "True")
    );
    let nv6 = skus.iter().find(|s| s["name"] == "Standard_NV6").unwrap();
    assert_eq!(
        nv6["restrictions"][0]["restrictionInfo"]["zones"],
        json!(["2"])
    );
    assert_eq!(
        nv6["restrictions"][0]["reasonCode"],
        "NotAvailableForSubscription"
    );
    let wrong = az
        .get("/providers/Microsoft.Compute/skus", COMPUTE_API)
        .await;
    assert_eq!(wrong.code(), "InvalidApiVersionParameter");
}

#[tokio::test]
async fn a_group_holds_one_reservation_per_size_per_zone() {
    let az = Az::start("").await;
    az.rg("rg").await;
    az.group("rg", "g", &["1", "2"]).await;
    let first = az
        .reserve("rg", "g", "a", "Standard_D2s_v5", 1, Some("1"))
        .await;
    assert_eq!(first.status, StatusCode::CREATED);
    let twin = az
        .reserve("rg", "g", "b", "standard_d2s_v5", 1, Some("1"))
        .await;
    assert_eq!(twin.status, StatusCode::CONFLICT);
    assert_eq!(twin.code(), "CapacityReservationAlreadyExistsForSku");
    assert!(
        twin.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("'a'")
    );
    // The same size in the group's other zone, and the same name again, are fine.
    let other_zone = az
        .reserve("rg", "g", "c", "Standard_D2s_v5", 1, Some("2"))
        .await;
    assert_eq!(other_zone.status, StatusCode::CREATED);
    let again = az
        .reserve("rg", "g", "a", "Standard_D2s_v5", 1, Some("1"))
        .await;
    assert!(again.status.is_success(), "{:?}", again.body);
}

#[tokio::test]
async fn group_delete_races_its_last_reservation_and_may_be_asynchronous() {
    let az = Az::start(
        "lro_ms: 1000\nclouds: {azure: {options: {group_delete_race_ms: 5000, group_delete: async}}}",
    )
    .await;
    az.rg("rg").await;
    az.group("rg", "g", &[]).await;
    let r = az.reserve("rg", "g", "r", "Standard_D2s_v5", 1, None).await;
    assert_eq!(r.status, StatusCode::CREATED);
    az.emu.advance_clock(Duration::from_secs(2));
    let d = az.delete(&Az::res_path("rg", "g", "r"), COMPUTE_API).await;
    assert_eq!(d.status, StatusCode::ACCEPTED);
    az.emu.advance_clock(Duration::from_secs(2));
    // The reservation is gone, yet the group still counts it for a while.
    let gone = az.get(&Az::res_path("rg", "g", "r"), COMPUTE_API).await;
    assert_eq!(gone.status, StatusCode::NOT_FOUND);
    let refused = az.delete(&Az::group_path("rg", "g"), COMPUTE_API).await;
    assert_eq!(refused.status, StatusCode::CONFLICT);
    assert_eq!(refused.code(), "CannotDeleteResource");
    assert!(
        refused.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("capacityReservations/r")
    );
    az.emu.advance_clock(Duration::from_secs(6));
    let accepted = az.delete(&Az::group_path("rg", "g"), COMPUTE_API).await;
    assert_eq!(accepted.status, StatusCode::ACCEPTED);
    assert!(accepted.header("azure-asyncoperation").is_none());
    let loc = accepted.header("location").expect("Location").to_owned();
    assert_eq!(az.get_url(&loc).await.status, StatusCode::ACCEPTED);
    az.emu.advance_clock(Duration::from_secs(2));
    assert_eq!(az.get_url(&loc).await.status, StatusCode::NO_CONTENT);
    let after = az.get(&Az::group_path("rg", "g"), COMPUTE_API).await;
    assert_eq!(after.status, StatusCode::NOT_FOUND);

    let mut s = az.emu.world().scenario();
    s.clouds
        .azure
        .options
        .insert("group_delete".into(), json!("no-content"));
    az.emu.set_scenario(s);
    az.group("rg", "g2", &[]).await;
    let d = az.delete(&Az::group_path("rg", "g2"), COMPUTE_API).await;
    assert_eq!(d.status, StatusCode::NO_CONTENT);
}

#[tokio::test]
async fn a_reservation_patch_answers_202_with_only_location() {
    let az = Az::start(LRO_60S).await;
    az.rg("rg").await;
    az.group("rg", "g", &[]).await;
    az.reserve("rg", "g", "r", "Standard_D2s_v5", 1, None).await;
    az.emu.advance_clock(Duration::from_secs(61));
    let p = az
        .send(
            Method::PATCH,
            &az.url(&Az::res_path("rg", "g", "r"), COMPUTE_API),
            Some(&json!({"sku": {"capacity": 2}})),
        )
        .await;
    assert_eq!(p.status, StatusCode::ACCEPTED);
    assert!(p.header("azure-asyncoperation").is_none());
    assert!(p.header("retry-after").is_some());
    assert!(
        p.body.is_null() || p.body == json!({}) || p.body == json!(""),
        "{:?}",
        p.body
    );
    let loc = p.header("location").expect("Location").to_owned();
    assert_eq!(az.get_url(&loc).await.status, StatusCode::ACCEPTED);
    az.emu.advance_clock(Duration::from_secs(61));
    let done = az.get_url(&loc).await;
    assert_eq!(done.status, StatusCode::OK);
    assert_eq!(done.body["sku"]["capacity"], 2);
}

#[tokio::test]
async fn tags_are_held_to_arm_limits() {
    let az = Az::start("").await;
    az.rg("rg").await;
    let path = Az::group_path("rg", "g");
    let put = |tags: Value| {
        let body = json!({"location": "eastus", "tags": tags});
        let path = path.clone();
        let az = &az;
        async move { az.put(&path, COMPUTE_API, body).await }
    };
    let many: serde_json::Map<String, Value> =
        (0..51).map(|i| (format!("k{i}"), json!("v"))).collect();
    let r = put(Value::Object(many)).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(r.code(), "InvalidTagCount");
    let r = put(json!({"k".repeat(513): "v"})).await;
    assert_eq!(r.code(), "InvalidTagNameLength");
    let r = put(json!({"k": "v".repeat(257)})).await;
    assert_eq!(r.code(), "InvalidTagValueLength");
    let fifty: serde_json::Map<String, Value> = (0..50)
        .map(|i| (format!("k{i}"), json!("v".repeat(256))))
        .collect();
    let r = put(Value::Object(fifty)).await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
}

#[tokio::test]
async fn reservation_type_open_needs_api_version_2026_04_01() {
    let az = Az::start("").await;
    az.rg("rg").await;
    let body = json!({"location": "eastus", "properties": {"reservationType": "Open"}});
    let old = az
        .put(&Az::group_path("rg", "old"), "2025-04-01", body.clone())
        .await;
    assert_eq!(old.status, StatusCode::BAD_REQUEST);
    assert_eq!(old.code(), "InvalidParameter");
    let new = az
        .put(&Az::group_path("rg", "new"), "2026-04-01", body)
        .await;
    assert_eq!(new.status, StatusCode::CREATED, "{:?}", new.body);
    assert_eq!(new.body["properties"]["reservationType"], "Open");
    for t in ["Targeted", "Block"] {
        let r = az
            .put(
                &Az::group_path("rg", &format!("g-{t}")),
                "2025-04-01",
                json!({"location": "eastus", "properties": {"reservationType": t}}),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{t}");
    }
}

#[tokio::test]
async fn quota_counts_vcpus_per_vm_family_per_region() {
    let az =
        Az::start("clouds: {azure: {options: {lro_always: false}, regions: {eastus: {quotas: {standardDSv5Family: 10}}}}}")
            .await;
    az.rg("rg").await;
    az.group("rg", "g", &[]).await;
    // 4 vCPUs of D4s_v5 and 4 of D2s_v5 (2 × 2): 8 of the family's 10.
    let a = az.reserve("rg", "g", "a", "Standard_D4s_v5", 1, None).await;
    assert_eq!(a.status, StatusCode::CREATED, "{:?}", a.body);
    let b = az.reserve("rg", "g", "b", "Standard_D2s_v5", 2, None).await;
    assert_eq!(b.status, StatusCode::CREATED, "{:?}", b.body);
    // 8 more vCPUs would make 16.
    let c = az.reserve("rg", "g", "c", "Standard_D8s_v5", 1, None).await;
    assert_eq!(c.status, StatusCode::CONFLICT);
    assert_eq!(c.code(), "OperationNotAllowed");
    assert_eq!(c.body["error"]["details"][0]["code"], "QuotaExceeded");
    let message = c.body["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("standardDSv5Family Cores quota"),
        "{message}"
    );
    assert!(
        message.contains("Current Limit: 10, Current Usage: 8"),
        "{message}"
    );
    // Another family draws on its own quota.
    let e = az.reserve("rg", "g", "e", "Standard_E8s_v5", 1, None).await;
    assert_eq!(e.status, StatusCode::CREATED, "{:?}", e.body);
    // Released capacity is counted no more: without `a` (4) it is 4 + 8 = 12, still too
    // many; without `b` too, 8 fits.
    assert_eq!(
        az.delete(&Az::res_path("rg", "g", "a"), COMPUTE_API)
            .await
            .status,
        StatusCode::OK
    );
    let c = az.reserve("rg", "g", "c", "Standard_D8s_v5", 1, None).await;
    assert_eq!(c.status, StatusCode::CONFLICT, "{:?}", c.body);
    assert_eq!(
        az.delete(&Az::res_path("rg", "g", "b"), COMPUTE_API)
            .await
            .status,
        StatusCode::OK
    );
    let c = az.reserve("rg", "g", "c", "Standard_D8s_v5", 1, None).await;
    assert_eq!(c.status, StatusCode::CREATED, "{:?}", c.body);
}

#[tokio::test]
async fn by_default_reservation_puts_and_deletes_answer_with_an_operation_to_poll() {
    let az = Az::start("").await;
    az.rg("rg").await;
    az.group("rg", "g", &[]).await;
    let r = az.reserve("rg", "g", "r", "Standard_D2s_v5", 1, None).await;
    assert_eq!(r.status, StatusCode::CREATED);
    assert_eq!(r.body["properties"]["provisioningState"], "Creating");
    let op = r
        .header("azure-asyncoperation")
        .expect("Azure-AsyncOperation")
        .to_owned();
    assert!(r.header("retry-after").is_some());
    assert_eq!(az.get_url(&op).await.body["status"], "Succeeded");
    let d = az.delete(&Az::res_path("rg", "g", "r"), COMPUTE_API).await;
    assert_eq!(d.status, StatusCode::ACCEPTED);
    let loc = d.header("location").expect("Location").to_owned();
    assert_eq!(az.get_url(&loc).await.status, StatusCode::NO_CONTENT);
}

#[tokio::test]
async fn a_denied_permission_is_authorization_failed() {
    let az = Az::start(
        "clouds: {azure: {options: {lro_always: false}, denied_permissions: \
         [Microsoft.Compute/capacityReservationGroups/capacityReservations/write]}}",
    )
    .await;
    az.rg("rg").await;
    az.group("rg", "g", &[]).await;
    let r = az.reserve("rg", "g", "a", "Standard_D4s_v5", 1, None).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{:?}", r.body);
    assert_eq!(r.code(), "AuthorizationFailed");
    let message = r.body["error"]["message"].as_str().unwrap();
    assert!(
        message.contains(
            "does not have authorization to perform action \
             'Microsoft.Compute/capacityReservationGroups/capacityReservations/write' over scope '/subscriptions/"
        ),
        "{message}"
    );
    assert!(
        az.emu.state().reservations.is_empty(),
        "nothing was created"
    );
}
