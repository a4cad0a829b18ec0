//! The contract suite for the GCE backend against the in-process emulator, and the OAuth2
//! token flow end to end (service-account key written by the emulator, JWT exchanged at its
//! token endpoint, the API refusing calls without the token).

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use cr_contract_tests::{
    ContractTarget, Credentials, Fixture, Layout, PreflightSupport, RegionLayout, TestConfig,
    base_scenario,
};
use cr_core::adapter::CloudAdapter;
use cr_core::error::ErrorKind;
use cr_core::registry::BackendOptions;
use cr_core::{Cloud, Params};
use cr_emulator::{CredentialFiles, EmulatorHandle};
use cr_gce::GceBuilder;
use gcp_auth::{Token, TokenProvider};

/// A single API call gives up after this; the suite's hang lasts far longer.
const CALL_TIMEOUT: Duration = Duration::from_secs(3);

/// A token provider whose token the emulator never issued.
struct ForgedToken;

#[async_trait]
impl TokenProvider for ForgedToken {
    async fn token(&self, _scopes: &[&str]) -> Result<Arc<Token>, gcp_auth::Error> {
        let token: Token = serde_json::from_value(
            serde_json::json!({"access_token": "ya29.forged", "expires_in": 3600}),
        )
        .map_err(|e| gcp_auth::Error::Json("token", e))?;
        Ok(Arc::new(token))
    }

    async fn project_id(&self) -> Result<Arc<str>, gcp_auth::Error> {
        Err(gcp_auth::Error::Str("no project"))
    }
}

fn write_credentials(emulator: &EmulatorHandle, dir: &Path) -> CredentialFiles {
    emulator
        .write_credentials(dir)
        .expect("the emulator writes its credentials")
}

struct GceTarget;

#[async_trait]
impl ContractTarget for GceTarget {
    fn cloud(&self) -> Cloud {
        Cloud::Gce
    }

    fn backend_name(&self) -> &'static str {
        "gce"
    }

    fn layout(&self) -> Layout {
        let region = |name: &str, zones: &[&str]| RegionLayout {
            region: name.to_string(),
            zones: zones.iter().map(|z| format!("{name}-{z}")).collect(),
        };
        Layout {
            regions: vec![
                region("us-east1", &["b", "c", "d"]),
                // Zone b first, as in the other regions: with zone fallback the suite
                // configures regions plus one `availability_zone` letter for all of them.
                region("us-west1", &["b", "a", "c"]),
                region("europe-west1", &["b", "c", "d"]),
            ],
            db_type: "n2-highmem-16".into(),
            loader_type: "e2-standard-4".into(),
        }
    }

    fn config_yaml(&self, config: &TestConfig) -> String {
        let layout = self.layout();
        let zones: Vec<&str> = config
            .placements
            .iter()
            .map(|p| layout.regions[p.region].zones[p.zone].as_str())
            .collect();
        // A datacenter naming a zone pins the reservation to it; zone fallback needs the
        // region named, with the configured zone as SCT's `availability_zone` letter.
        let (datacenter, letter) = if config.zone_fallback {
            let regions: Vec<&str> = config
                .placements
                .iter()
                .map(|p| layout.regions[p.region].region.as_str())
                .collect();
            let letter = &zones[0][zones[0].len() - 1..];
            assert!(
                zones.iter().all(|z| z.ends_with(letter)),
                "one availability_zone letter for every region: {zones:?}"
            );
            (regions.join(" "), format!("availability_zone: {letter}\n"))
        } else {
            (zones.join(" "), String::new())
        };
        format!(
            "cluster_backend: gce\n\
             gce_use_capacity_reservation: true\n\
             gce_datacenter: '{datacenter}'\n\
             {letter}\
             gce_reservation_type: {kind}\n\
             gce_instance_type_db: {db}\n\
             gce_instance_type_loader: {loader}\n\
             gce_n_local_ssd_disk_db: 2\n\
             gce_n_local_ssd_disk_loader: 0\n\
             gce_min_cpu_platform: 'Intel Ice Lake'\n",
            kind = if config.zone_fallback {
                "regional"
            } else {
                "zonal"
            },
            db = layout.db_type,
            loader = layout.loader_type,
        )
    }

    fn create_operation(&self) -> &'static str {
        "reservations.insert"
    }

    fn quota_code(&self) -> &'static str {
        "QUOTA_EXCEEDED"
    }

    /// Google's token endpoint refuses a JWT assertion whose `iat`/`exp` are minutes off its clock with `invalid_grant` (the emulator: 5 minutes).
    fn clock_skew_refusal(&self) -> Option<(Duration, &'static str)> {
        Some((Duration::from_secs(5 * 60), "invalid_grant"))
    }

    fn preflight(&self) -> PreflightSupport {
        // zones.list does not filter by machine type.
        PreflightSupport {
            offerings: false,
            ..PreflightSupport::default()
        }
    }

    async fn adapter(
        &self,
        emulator: &EmulatorHandle,
        params: &Params,
        credentials: Credentials,
    ) -> cr_core::Result<Arc<dyn CloudAdapter>> {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let files = write_credentials(emulator, dir.path());
        let builder = GceBuilder::new()
            .with_endpoint(emulator.https_url())
            .with_ca_bundle(&files.ca_pem)
            .with_params(params)
            .with_request_timeout(CALL_TIMEOUT)
            .with_operation_timeout(Duration::from_secs(60));
        let builder = match credentials {
            // The key's token_uri is the emulator's HTTPS token endpoint.
            Credentials::Valid => builder.with_service_account_file(&files.gce_key),
            Credentials::Invalid => builder
                .with_token_provider(Arc::new(ForgedToken))
                .with_project(emulator.credentials().gce.project_id.clone()),
        };
        Ok(Arc::new(builder.build().await?))
    }

    fn registry_options(&self, emulator: &EmulatorHandle, dir: &Path) -> BackendOptions {
        let files = write_credentials(emulator, dir);
        BackendOptions {
            endpoint: Some(emulator.https_url().to_string()),
            ca_bundle: Some(files.ca_pem.clone()),
            env: BTreeMap::from([(
                "GOOGLE_APPLICATION_CREDENTIALS".to_string(),
                files.gce_key.display().to_string(),
            )]),
            ..BackendOptions::default()
        }
    }

    async fn create_outside(
        &self,
        emulator: &EmulatorHandle,
        test_id: &str,
        region: &str,
        zone: &str,
        instance_type: &str,
    ) -> String {
        let _ = region;
        let name = format!("{}manual-{zone}", cr_gce::test_prefix(test_id));
        let description = serde_json::json!({"TestId": test_id, "CreatedBy": "hand"}).to_string();
        insert_by_hand(emulator, &name, Some(&description), zone, instance_type).await
    }

    async fn create_untagged(
        &self,
        emulator: &EmulatorHandle,
        region: &str,
        zone: &str,
        instance_type: &str,
    ) -> String {
        let _ = region;
        // cr's name prefix, but no description: not cr's.
        let name = format!("cr-foreign-{zone}");
        insert_by_hand(emulator, &name, None, zone, instance_type).await
    }

    async fn launch(
        &self,
        emulator: &EmulatorHandle,
        _region: &str,
        zone: &str,
        instance_type: &str,
        target: &serde_json::Value,
        name: &str,
    ) -> Result<String, String> {
        let project = emulator.credentials().gce.project_id.clone();
        let token = http_token(emulator).await;
        let base = format!(
            "{}/compute/v1/projects/{project}/zones/{zone}",
            emulator.http_url()
        );
        // A minimal instances.insert body for this suite's configuration: the machine type,
        // the CPU platform and the local SSDs the configuration asks for (db 2, loader 0: a
        // reservation is consumed only by VMs whose properties match its
        // instanceProperties), one boot disk, the network.
        let local_ssds = if instance_type == self.layout().db_type {
            2
        } else {
            0
        };
        let mut disks = vec![serde_json::json!({"boot": true, "autoDelete": true,
            "initializeParams": {"sourceImage": "projects/debian-cloud/global/images/family/debian-12"}})];
        disks.extend((0..local_ssds).map(|_| {
            serde_json::json!({"type": "SCRATCH", "interface": "NVME", "autoDelete": true,
                "initializeParams": {"diskType": format!("zones/{zone}/diskTypes/local-ssd")}})
        }));
        let mut body = serde_json::json!({
            "name": name,
            "machineType": format!("zones/{zone}/machineTypes/{instance_type}"),
            "minCpuPlatform": "Intel Ice Lake",
            "disks": disks,
            "networkInterfaces": [{"network": "global/networks/default"}],
        });
        cr_contract_tests::merge_json(&mut body, target);
        let client = reqwest::Client::new();
        let response = client
            .post(format!("{base}/instances"))
            .bearer_auth(token.as_str())
            .json(&body)
            .send()
            .await
            .expect("the insert is answered");
        let status = response.status().as_u16();
        let v: serde_json::Value = response.json().await.unwrap_or_default();
        if status != 200 {
            return Err(gce_error(status, &v));
        }
        gce_wait_op(&client, token.as_str(), &base, v).await?;
        Ok(format!("{zone}/{name}"))
    }

    async fn terminate(&self, emulator: &EmulatorHandle, _region: &str, id: &str) {
        let (zone, name) = id.split_once('/').expect("zone/name");
        let project = emulator.credentials().gce.project_id.clone();
        let token = http_token(emulator).await;
        let base = format!(
            "{}/compute/v1/projects/{project}/zones/{zone}",
            emulator.http_url()
        );
        let client = reqwest::Client::new();
        let response = client
            .delete(format!("{base}/instances/{name}"))
            .bearer_auth(token.as_str())
            .send()
            .await
            .expect("the delete is answered");
        assert!(
            response.status().is_success(),
            "instances.delete {id}: {}",
            response.status()
        );
        let op = response.json().await.expect("an Operation");
        gce_wait_op(&client, token.as_str(), &base, op)
            .await
            .unwrap_or_else(|e| panic!("deleting {id}: {e}"));
    }
}

/// Inserts a reservation without cr and waits for its Operation; returns its name.
async fn insert_by_hand(
    emulator: &EmulatorHandle,
    name: &str,
    description: Option<&str>,
    zone: &str,
    instance_type: &str,
) -> String {
    let project = emulator.credentials().gce.project_id.clone();
    let token = http_token(emulator).await;
    let base = format!(
        "{}/compute/v1/projects/{project}/zones/{zone}",
        emulator.http_url()
    );
    let body = serde_json::json!({
        "name": name,
        "description": description,
        "specificReservationRequired": true,
        "specificReservation": {"count": "1", "instanceProperties": {"machineType": instance_type}},
    });
    let client = reqwest::Client::new();
    let response = client
        .post(format!("{base}/reservations"))
        .bearer_auth(token.as_str())
        .json(&body)
        .send()
        .await
        .expect("the insert is answered");
    assert!(
        response.status().is_success(),
        "insert: {}",
        response.status()
    );
    let op: serde_json::Value = response.json().await.expect("an Operation");
    let op_name = op["name"]
        .as_str()
        .expect("the Operation has a name")
        .to_string();
    let mut status = op["status"].as_str().unwrap_or_default().to_string();
    while status != "DONE" {
        let op: serde_json::Value = client
            .post(format!("{base}/operations/{op_name}/wait"))
            .bearer_auth(token.as_str())
            .send()
            .await
            .expect("the wait is answered")
            .json()
            .await
            .expect("an Operation");
        assert!(op.get("error").is_none(), "the insert failed: {op}");
        status = op["status"].as_str().unwrap_or_default().to_string();
    }
    name.to_string()
}

/// The GCE error of a failed call or operation as "HTTP status, reason: message".
fn gce_error(status: u16, v: &serde_json::Value) -> String {
    let e = &v["error"];
    if let Some(first) = e["errors"].as_array().and_then(|a| a.first()) {
        let code = first["reason"]
            .as_str()
            .or(first["code"].as_str())
            .unwrap_or_default();
        return format!(
            "HTTP {status}, {code}: {}",
            first["message"].as_str().unwrap_or_default()
        );
    }
    format!("HTTP {status}: {v}")
}

/// Waits for a zone Operation; `Err` with its error if it failed.
async fn gce_wait_op(
    client: &reqwest::Client,
    token: &str,
    base: &str,
    mut op: serde_json::Value,
) -> Result<(), String> {
    while op["status"] != "DONE" {
        let name = op["name"]
            .as_str()
            .expect("the Operation has a name")
            .to_string();
        op = client
            .post(format!("{base}/operations/{name}/wait"))
            .bearer_auth(token)
            .send()
            .await
            .expect("the wait is answered")
            .json()
            .await
            .expect("an Operation");
    }
    match op.get("error") {
        Some(e) => Err(gce_error(
            u16::try_from(op["httpErrorStatusCode"].as_u64().unwrap_or(0)).unwrap_or(0),
            &serde_json::json!({"error": e}),
        )),
        None => Ok(()),
    }
}

/// A token from the emulator's token endpoint over plain HTTP, with gcp_auth's own
/// service-account flow (the JWT is signed with the key the emulator wrote).
async fn http_token(emulator: &EmulatorHandle) -> Arc<Token> {
    let key = emulator
        .credentials()
        .gce_key_json(emulator.http_url())
        .to_string();
    let account = gcp_auth::CustomServiceAccount::from_json(&key).expect("the key is usable");
    account
        .token(&[cr_gce::COMPUTE_SCOPE])
        .await
        .expect("the token endpoint issues a token for a valid JWT")
}

cr_contract_tests::contract_suite!(GceTarget);
cr_contract_tests::fault_soak!(GceTarget);
cr_contract_tests::bench!(GceTarget);
cr_contract_tests::crash_recovery!(GceTarget);

/// The insert body on the wire: machine type, count as a string, local SSDs, CPU platform,
/// specific-reservation flag and native expiry, as the emulator received them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn insert_carries_every_field() {
    let fx = Fixture::start(
        &GceTarget,
        base_scenario(),
        TestConfig::single("b0d1e500-fields"),
    )
    .await;
    let adapter = GceTarget
        .adapter(&fx.emulator, &fx.params, Credentials::Valid)
        .await
        .expect("the adapter builds");
    let set = cr_core::EngineBackend::new(adapter, cr_contract_tests::retry_policy());
    let reserved = cr_core::CapacityReservation::reserve(&set, &fx.params)
        .await
        .expect("reserve");
    let db = reserved
        .reservations()
        .find(|r| r.instance_type == "n2-highmem-16")
        .expect("the db reservation")
        .clone();
    assert!(cr_gce::is_valid_name(&db.id.0), "{}", db.id);
    assert!(db.id.0.starts_with(&cr_gce::test_prefix("b0d1e500-fields")));

    let project = fx.emulator.credentials().gce.project_id.clone();
    let token = http_token(&fx.emulator).await;
    let url = format!(
        "{}/compute/v1/projects/{project}/zones/{}/reservations/{}",
        fx.emulator.http_url(),
        db.zone.as_deref().expect("a zonal reservation"),
        db.id
    );
    let got: serde_json::Value = reqwest::Client::new()
        .get(url)
        .bearer_auth(token.as_str())
        .send()
        .await
        .expect("get is answered")
        .json()
        .await
        .expect("a Reservation");
    let specific = &got["specificReservation"];
    assert_eq!(
        specific["count"],
        serde_json::json!(db.count.to_string()),
        "{got}"
    );
    let props = &specific["instanceProperties"];
    assert_eq!(props["machineType"], "n2-highmem-16", "{got}");
    assert_eq!(props["minCpuPlatform"], "Intel Ice Lake", "{got}");
    assert_eq!(
        props["localSsds"],
        serde_json::json!([
            {"diskSizeGb": "375", "interface": "NVME"},
            {"diskSizeGb": "375", "interface": "NVME"}
        ]),
        "{got}"
    );
    assert_eq!(got["specificReservationRequired"], true, "{got}");
    let delete_at: jiff::Timestamp = got["deleteAtTime"]
        .as_str()
        .expect("deleteAtTime is set")
        .parse()
        .expect("deleteAtTime is RFC 3339");
    assert!((delete_at - fx.plan.end_time).as_secs().abs() <= 60);
    let description: BTreeMap<String, String> =
        serde_json::from_str(got["description"].as_str().expect("a description"))
            .expect("the description holds the tags as JSON");
    assert_eq!(
        description.get("TestId").map(String::as_str),
        Some("b0d1e500-fields")
    );

    let target = cr_core::CapacityReservation::instance_target(
        &set,
        db.zone.as_deref().expect("a zone"),
        &db.instance_type,
    )
    .expect("instance_target")
    .expect("a target");
    assert_eq!(
        target,
        serde_json::json!({"reservationAffinity": {
            "consumeReservationType": "SPECIFIC_RESERVATION",
            "key": "compute.googleapis.com/reservation-name",
            "values": [db.id.0],
        }})
    );
    cr_core::CapacityReservation::cancel(&set, &fx.params)
        .await
        .expect("cancel");
}

/// The token flow end to end: the emulator's key file, a JWT exchanged at its token
/// endpoint, and the API refusing calls without that token.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_flow_end_to_end() {
    let fx = Fixture::start(
        &GceTarget,
        base_scenario(),
        TestConfig::single("70ce0000-token"),
    )
    .await;
    fx.calls_outside_the_backend(
        "regions.list",
        "the test calls the adapter's regions() itself; the engine never does (cancel_all_regions \
         is one aggregated list), so the role leaves compute.regions.list out",
    );
    let project = fx.emulator.credentials().gce.project_id.clone();
    let zones_url = format!(
        "{}/compute/v1/projects/{project}/zones",
        fx.emulator.http_url()
    );
    let client = reqwest::Client::new();

    let token = http_token(&fx.emulator).await;
    let ok = client
        .get(&zones_url)
        .bearer_auth(token.as_str())
        .send()
        .await
        .expect("answered");
    assert_eq!(ok.status(), 200, "the issued token is accepted");

    let none = client.get(&zones_url).send().await.expect("answered");
    assert_eq!(none.status(), 401, "no token, no API");
    let forged = client
        .get(&zones_url)
        .bearer_auth("ya29.forged")
        .send()
        .await
        .expect("answered");
    assert_eq!(
        forged.status(),
        401,
        "a token the emulator did not issue is refused"
    );

    // A key the emulator does not know: its JWT is refused at the token endpoint, and the
    // adapter reports that as unauthorized.
    let dir = tempfile::tempdir().expect("a temporary directory");
    let mut key = fx
        .emulator
        .credentials()
        .gce_key_json(fx.emulator.http_url());
    key["private_key"] = fx.emulator.credentials().oci.private_key_pem.clone().into();
    let wrong_key = dir.path().join("wrong-key.json");
    std::fs::write(&wrong_key, key.to_string()).expect("written");
    let adapter = GceBuilder::new()
        .with_endpoint(fx.emulator.http_url())
        .with_service_account_file(&wrong_key)
        .with_request_timeout(CALL_TIMEOUT)
        .build()
        .await
        .expect("a well-formed key file builds");
    let err = adapter
        .regions()
        .await
        .expect_err("a JWT signed with an unknown key is refused");
    assert_eq!(err.kind(), ErrorKind::Unauthorized, "{err}");

    // The key file the emulator wrote (token_uri on HTTPS, its CA trusted) works end to end.
    let files = write_credentials(&fx.emulator, dir.path());
    let adapter = GceBuilder::new()
        .with_endpoint(fx.emulator.https_url())
        .with_ca_bundle(&files.ca_pem)
        .with_service_account_file(&files.gce_key)
        .build()
        .await
        .expect("the emulator's key file builds");
    assert_eq!(adapter.project(), project);
    let regions = adapter
        .regions()
        .await
        .expect("regions over HTTPS with the token");
    assert!(regions.iter().any(|r| r == "us-east1"), "{regions:?}");
    let zones = adapter
        .zones("us-east1", &["n2-highmem-16".to_string()])
        .await
        .expect("zones");
    assert_eq!(zones, ["us-east1-b", "us-east1-c", "us-east1-d"]);
}

fn gce_options(scenario: &mut cr_emulator::Scenario, options: serde_json::Value) {
    let serde_json::Value::Object(map) = options else {
        unreachable!("options are a JSON object")
    };
    scenario.clouds.gce.options.extend(map);
}

/// The variants the wire reference leaves open: capacity refusals as an immediate HTTP error
/// (with the `_WITH_DETAILS` code), rate limits as 403, and Operations that stay RUNNING
/// across several short `wait` calls. Zone fallback, throttling and rollback still hold.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn synchronous_errors_403_throttles_and_slow_operations() {
    let layout = GceTarget.layout();
    let mut scenario = base_scenario();
    gce_options(
        &mut scenario,
        serde_json::json!({
            "stockout": "sync",
            "stockout_code": "ZONE_RESOURCE_POOL_EXHAUSTED_WITH_DETAILS",
            "throttle_status": 403,
            "wait_timeout_ms": 50,
        }),
    );
    scenario.clouds.gce.lro_ms = Some(300);
    scenario.faults.push(cr_emulator::Fault {
        cloud: cr_emulator::CloudKind::Gce,
        operation: "reservations.insert".into(),
        kind: cr_emulator::FaultKind::Throttle,
        rate: 1.0,
        limit: Some(1),
        garbage: None,
    });
    cr_contract_tests::set_capacity(
        &mut scenario,
        Cloud::Gce,
        "us-east1",
        "us-east1-b",
        &layout.loader_type,
        0,
    );
    let fx = Fixture::start(
        &GceTarget,
        scenario,
        TestConfig::single("5e7c0000-variants"),
    )
    .await;
    let backend = fx
        .backend(&GceTarget, Credentials::Valid)
        .await
        .expect("backend");
    let set = cr_core::CapacityReservation::reserve(&backend, &fx.params)
        .await
        .expect("reserve falls back past the synchronous stockout");
    assert_eq!(set.regions[0].zone.as_deref(), Some("us-east1-c"));
    let audit = fx.audit(Cloud::Gce);
    assert!(
        audit
            .iter()
            .filter(|r| r.zone == "us-east1-b")
            .all(|r| r.state.is_ended()),
        "{audit:?}"
    );
    assert_eq!(fx.live(Cloud::Gce).len(), 2);
    let waits = fx
        .emulator
        .requests()
        .iter()
        .filter(|r| r.operation.contains("wait"))
        .count();
    assert!(
        waits >= 2,
        "slow operations are waited for with repeated calls"
    );
    let report = cr_core::CapacityReservation::cancel(&backend, &fx.params)
        .await
        .expect("cancel");
    assert!(report.is_complete());
    assert!(fx.live(Cloud::Gce).is_empty());
}

/// `gce_reservation_type: zonal` keeps to the configured zone: a stockout there fails the
/// reserve (naming the zone and the cloud's code) instead of moving.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zonal_reservations_do_not_leave_the_configured_zone() {
    let layout = GceTarget.layout();
    let mut scenario = base_scenario();
    cr_contract_tests::set_capacity(
        &mut scenario,
        Cloud::Gce,
        "us-east1",
        "us-east1-b",
        &layout.db_type,
        1,
    );
    let config = TestConfig {
        zone_fallback: false,
        ..TestConfig::single("20a1a000-zonal")
    };
    let fx = Fixture::start(&GceTarget, scenario, config).await;
    let backend = fx
        .backend(&GceTarget, Credentials::Valid)
        .await
        .expect("backend");
    let err = cr_core::CapacityReservation::reserve(&backend, &fx.params)
        .await
        .expect_err("one db node of capacity cannot hold three");
    let text = err.to_string();
    assert!(text.contains("us-east1-b"), "{text}");
    assert!(text.contains("ZONE_RESOURCE_POOL_EXHAUSTED"), "{text}");
    assert!(
        !text.contains("us-east1-c"),
        "a zonal reservation never tries another zone: {text}"
    );
    assert!(fx.live(Cloud::Gce).is_empty());
}

/// Emulators started with one shared identity (as the soak and the crash experiments start
/// theirs) share the CA and credentials, and nothing else: a reservation made in one is not in
/// the other's audit, and each issues and accepts tokens of its own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn emulators_sharing_an_identity_share_keys_not_worlds() {
    let one = Fixture::start_sharing_keys(
        &GceTarget,
        base_scenario(),
        TestConfig::single("1d000000-one"),
    )
    .await;
    let two = Fixture::start_sharing_keys(
        &GceTarget,
        base_scenario(),
        TestConfig::single("1d000000-two"),
    )
    .await;
    assert_eq!(one.emulator.ca_pem(), two.emulator.ca_pem());
    assert_eq!(
        one.emulator.credentials().gce.project_id,
        two.emulator.credentials().gce.project_id
    );
    assert_ne!(one.emulator.https_url(), two.emulator.https_url());

    let backend = one
        .backend(&GceTarget, Credentials::Valid)
        .await
        .expect("the backend builds");
    cr_core::CapacityReservation::reserve(&backend, &one.params)
        .await
        .expect("reserve");
    assert_eq!(one.live(Cloud::Gce).len(), 2);
    assert!(
        two.audit(Cloud::Gce).is_empty(),
        "{:?}",
        two.audit(Cloud::Gce)
    );
    // A token the first emulator issued is not the second's.
    let token = http_token(&one.emulator).await;
    let project = two.emulator.credentials().gce.project_id.clone();
    let refused = reqwest::Client::new()
        .get(format!(
            "{}/compute/v1/projects/{project}/zones",
            two.emulator.http_url()
        ))
        .bearer_auth(token.as_str())
        .send()
        .await
        .expect("answered");
    assert_eq!(refused.status(), 401);
    cr_core::CapacityReservation::cancel(&backend, &one.params)
        .await
        .expect("cancel");
    assert!(one.live(Cloud::Gce).is_empty());
}
