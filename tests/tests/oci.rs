//! The contract suite for the OCI backend against the in-process emulator, with long-running
//! operations on (creates answer `CREATING` with a work request, as OCI does), plus OCI's own
//! checks: tenancy-specific availability-domain names, the Flex shape config on the wire,
//! lifecycle polling through the work request, a region not subscribed, a wrong key refused
//! by the emulator's signature verification, and the IAM policy against the request log.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use cr_contract_tests::{
    ContractTarget, Credentials, DeniedPermission, Fixture, Layout, PreflightSupport, RegionLayout,
    TestConfig, base_scenario,
};
use cr_core::adapter::{CloudAdapter, CreateRequest, Readiness};
use cr_core::error::ErrorKind;
use cr_core::model::ReservationState;
use cr_core::plan::{Demand, DemandDetails, Role};
use cr_core::registry::BackendOptions;
use cr_core::tags::Tags;
use cr_core::{CapacityReservation, Cloud, Params};
use cr_emulator::{CloudKind, CredentialFiles, EmulatorHandle, Scenario};
use cr_oci::OciBuilder;

/// A single API call gives up after this; the suite's hang lasts far longer.
const CALL_TIMEOUT: Duration = Duration::from_secs(3);
/// How long the emulator takes to settle a create or delete in this suite (real OCI answers
/// `CREATING` first).
const LRO_MS: u64 = 150;
const COMPARTMENT: &str = "ocid1.compartment.oc1..aaaaaaaacontractsuite";

fn write_credentials(emulator: &EmulatorHandle, dir: &Path) -> CredentialFiles {
    emulator
        .write_credentials(dir)
        .expect("the emulator writes its credentials")
}

/// A key the emulator never issued (cr-oci's test key), under the emulator's key id.
fn wrong_key_config(emulator: &EmulatorHandle, dir: &Path) -> PathBuf {
    let key = Path::new(env!("CARGO_MANIFEST_DIR")).join("../crates/cr-oci/testdata/key_pkcs8.pem");
    let oci = &emulator.credentials().oci;
    let path = dir.join("wrong-key-config");
    std::fs::write(
        &path,
        format!(
            "[DEFAULT]\nuser={}\nfingerprint={}\ntenancy={}\nregion={}\nkey_file={}\n",
            oci.user_ocid,
            oci.fingerprint,
            oci.tenancy_ocid,
            oci.default_region,
            key.display()
        ),
    )
    .expect("the config is written");
    path
}

struct OciTarget;

impl OciTarget {
    fn builder(emulator: &EmulatorHandle, files: &CredentialFiles) -> OciBuilder {
        OciBuilder::new()
            .with_endpoint(emulator.https_url())
            .with_ca_bundle(&files.ca_pem)
            .with_config_file(&files.oci_config)
            .with_request_timeout(CALL_TIMEOUT)
            .with_delete_timeout(Duration::from_secs(30))
    }
}

#[async_trait]
impl ContractTarget for OciTarget {
    fn cloud(&self) -> Cloud {
        Cloud::Oci
    }

    fn backend_name(&self) -> &'static str {
        "oci"
    }

    fn layout(&self) -> Layout {
        let region = |name: &str, key: &str| RegionLayout {
            region: name.to_string(),
            // The emulator's tenancy prefix: cr reads these names, never builds them.
            zones: (1..=3).map(|n| format!("Emul:{key}-AD-{n}")).collect(),
        };
        Layout {
            regions: vec![
                region("us-ashburn-1", "IAD"),
                region("us-phoenix-1", "PHX"),
                region("eu-frankfurt-1", "FRA"),
            ],
            db_type: "VM.DenseIO.E5.Flex".into(),
            loader_type: "VM.Standard.E5.Flex".into(),
        }
    }

    fn config_yaml(&self, config: &TestConfig) -> String {
        let layout = self.layout();
        let regions: Vec<&str> = config
            .placements
            .iter()
            .map(|p| layout.regions[p.region].region.as_str())
            .collect();
        let index = config.placements[0].zone;
        assert!(
            config.placements.iter().all(|p| p.zone == index),
            "one availability_zone letter for every region"
        );
        let letter = char::from(b'a' + u8::try_from(index).expect("a small index"));
        format!(
            "cluster_backend: oci\n\
             oci_use_capacity_reservation: true\n\
             oci_region_name: '{regions}'\n\
             availability_zone: '{letter}'\n\
             oci_compartment_id: {COMPARTMENT}\n\
             oci_instance_type_db: '{db}:8:64:1'\n\
             oci_instance_type_loader: '{loader}:2:16'\n",
            regions = regions.join(" "),
            db = layout.db_type,
            loader = layout.loader_type,
        )
    }

    fn create_operation(&self) -> &'static str {
        "CreateComputeCapacityReservation"
    }

    fn quota_code(&self) -> &'static str {
        "LimitExceeded"
    }

    /// OCI refuses a signed `date` more than 5 minutes from its clock with 401 `NotAuthenticated`.
    fn clock_skew_refusal(&self) -> Option<(Duration, &'static str)> {
        Some((Duration::from_secs(5 * 60), "NotAuthenticated"))
    }

    fn preflight(&self) -> PreflightSupport {
        PreflightSupport {
            credentials: true,
            offerings: true,
            // Checked by ListRegionSubscriptions, a read no other check needs.
            permission: Some(DeniedPermission {
                deny: "TENANCY_INSPECT",
                action: "TENANCY_INSPECT",
            }),
            quota: true,
        }
    }

    fn db_vcpus(&self) -> u32 {
        // The configuration's db shape config is `:8:64`.
        8
    }

    fn scenario(&self, mut scenario: Scenario) -> Scenario {
        if scenario.lro_ms == 0 {
            scenario.lro_ms = LRO_MS;
        }
        scenario
    }

    fn expires_natively(&self) -> bool {
        false
    }

    fn cleanup_needs_config(&self) -> bool {
        true
    }

    async fn adapter(
        &self,
        emulator: &EmulatorHandle,
        params: &Params,
        credentials: Credentials,
    ) -> cr_core::Result<Arc<dyn CloudAdapter>> {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let files = write_credentials(emulator, dir.path());
        let mut builder = OciTarget::builder(emulator, &files).with_params(params);
        if credentials == Credentials::Invalid {
            builder = builder.with_config_file(wrong_key_config(emulator, dir.path()));
        }
        Ok(Arc::new(builder.build().await?))
    }

    fn registry_options(&self, emulator: &EmulatorHandle, dir: &Path) -> BackendOptions {
        let files = write_credentials(emulator, dir);
        BackendOptions {
            endpoint: Some(emulator.https_url().to_string()),
            ca_bundle: Some(files.ca_pem.clone()),
            env: BTreeMap::from([(
                "OCI_CLI_CONFIG_FILE".to_string(),
                files.oci_config.display().to_string(),
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
        let mut tags = BTreeMap::new();
        tags.insert("TestId".to_string(), test_id.to_string());
        tags.insert("CreatedBy".to_string(), "hand".to_string());
        create_by_hand(
            emulator,
            &format!("{test_id}-by-hand"),
            tags,
            region,
            zone,
            instance_type,
        )
        .await
    }

    async fn create_untagged(
        &self,
        emulator: &EmulatorHandle,
        region: &str,
        zone: &str,
        instance_type: &str,
    ) -> String {
        create_by_hand(
            emulator,
            "untagged-by-hand",
            BTreeMap::new(),
            region,
            zone,
            instance_type,
        )
        .await
    }

    async fn launch(
        &self,
        emulator: &EmulatorHandle,
        region: &str,
        zone: &str,
        instance_type: &str,
        target: &serde_json::Value,
        name: &str,
    ) -> Result<String, String> {
        // The shape configurations this suite's configuration reserves (db `:8:64`, loader
        // `:2:16`): a Flex reservation takes only launches with the same OCPUs and memory.
        let (ocpus, memory) = if instance_type == self.layout().db_type {
            (8.0, 64.0)
        } else {
            (2.0, 16.0)
        };
        let mut body = serde_json::json!({
            "compartmentId": COMPARTMENT,
            "displayName": name,
            "shape": instance_type,
            "shapeConfig": {"ocpus": ocpus, "memoryInGBs": memory},
            "sourceDetails": {"sourceType": "image", "imageId": "ocid1.image.oc1..contractsuite"},
            "createVnicDetails": {"subnetId": "ocid1.subnet.oc1..contractsuite"},
        });
        cr_contract_tests::merge_json(&mut body, target);
        body["availabilityDomain"] = serde_json::json!(zone);
        let (status, v) = signed(
            emulator,
            "POST",
            &format!("/oci/{region}/20160918/instances"),
            Some(&body),
        )
        .await;
        if status != 200 {
            return Err(format!(
                "HTTP {status}, {}: {}",
                v["code"].as_str().unwrap_or("?"),
                v["message"].as_str().unwrap_or_default()
            ));
        }
        Ok(v["id"]
            .as_str()
            .expect("the instance has an id")
            .to_string())
    }

    async fn terminate(&self, emulator: &EmulatorHandle, region: &str, id: &str) {
        let (status, v) = signed(
            emulator,
            "DELETE",
            &format!("/oci/{region}/20160918/instances/{id}"),
            None,
        )
        .await;
        assert!(
            (200..300).contains(&status),
            "TerminateInstance {id}: {status} {v}"
        );
    }
}

/// Creates a reservation with `tags` through a bare adapter (not the engine) and waits
/// until it is ACTIVE; returns its OCID. The adapter adds only its planned-end tag.
async fn create_by_hand(
    emulator: &EmulatorHandle,
    name: &str,
    tags: BTreeMap<String, String>,
    region: &str,
    zone: &str,
    instance_type: &str,
) -> String {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let files = write_credentials(emulator, dir.path());
    let adapter = OciTarget::builder(emulator, &files)
        .with_compartment(COMPARTMENT)
        .build()
        .await
        .expect("the adapter builds");
    let request = CreateRequest {
        test_id: name.to_string(),
        region: region.to_string(),
        zone: zone.to_string(),
        demand: Demand {
            instance_type: instance_type.to_string(),
            count: 1,
            roles: vec![Role::Db],
            details: DemandDetails {
                ocpus: Some(2.0),
                memory_gb: Some(16.0),
                ..DemandDetails::default()
            },
        },
        end_time: jiff::Timestamp::now(),
        tags: Tags(tags),
        attempt: 0,
        region_handle: Default::default(),
    };
    let created = adapter
        .create(&request)
        .await
        .expect("the create is accepted");
    wait_active(&adapter, &created).await.0.id.0
}

/// Polls `created` until it is ACTIVE; also says how many looks found it pending.
async fn wait_active(
    adapter: &dyn CloudAdapter,
    created: &cr_core::Reservation,
) -> (cr_core::Reservation, usize) {
    let mut pending = 0;
    for _ in 0..200 {
        match adapter.poll(created).await.expect("the poll is answered") {
            Readiness::Ready(r) => return (r, pending),
            Readiness::Pending { .. } => {
                pending += 1;
                tokio::time::sleep(Duration::from_millis(25)).await;
            }
            Readiness::Failed(e) => panic!("the create failed: {e}"),
        }
    }
    panic!("{} never became ACTIVE", created.id);
}

cr_contract_tests::contract_suite!(OciTarget);
cr_contract_tests::fault_soak!(OciTarget);
cr_contract_tests::bench!(OciTarget);
cr_contract_tests::crash_recovery!(OciTarget);

fn single(test_id: &str) -> TestConfig {
    TestConfig::single(test_id)
}

/// The backend over a fresh adapter with the emulator's credentials.
async fn backend(fx: &Fixture) -> cr_core::EngineBackend {
    fx.backend(&OciTarget, Credentials::Valid)
        .await
        .expect("the backend builds")
}

/// A fresh adapter with the emulator's credentials.
async fn adapter(fx: &Fixture) -> Arc<dyn CloudAdapter> {
    OciTarget
        .adapter(&fx.emulator, &fx.params, Credentials::Valid)
        .await
        .expect("the adapter builds")
}

/// How many requests the emulator answered with `code`.
fn answered_with(fx: &Fixture, code: &str) -> usize {
    fx.emulator
        .requests()
        .iter()
        .filter(|r| r.error_code.as_deref() == Some(code))
        .count()
}

/// The creates on the wire: the tenancy-specific AD name read from ListAvailabilityDomains
/// (the configuration said `a`), the Flex shapes' `instanceShapeConfig`, the compartment,
/// freeform tags, display name and a retry token of at most 64 characters.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn creates_carry_the_resolved_ad_and_the_flex_shape_config() {
    let fx = Fixture::start(&OciTarget, base_scenario(), single("0c1f1e00-wire")).await;
    let backend = backend(&fx).await;
    let set = backend.reserve(&fx.params).await.expect("reserve");
    let ad = "Emul:IAD-AD-1";
    assert_eq!(set.regions[0].zone.as_deref(), Some(ad));
    let ops: Vec<String> = fx
        .emulator
        .requests()
        .into_iter()
        .map(|r| r.operation)
        .collect();
    let first_ads = ops.iter().position(|o| o == "ListAvailabilityDomains");
    let first_create = ops
        .iter()
        .position(|o| o == "CreateComputeCapacityReservation");
    assert!(
        first_ads.is_some() && first_ads < first_create,
        "the AD names are read before any create: {ops:?}"
    );
    // The emulator's own view of what was received.
    let adapter = adapter(&fx).await;
    for r in set.reservations() {
        assert_eq!(r.zone.as_deref(), Some(ad));
        assert_eq!(r.state, ReservationState::Active);
        assert_eq!(r.end_time, None, "OCI reservations have no end time");
        let target = adapter.instance_target(r);
        assert_eq!(target["capacityReservationId"], r.id.0.as_str());
        assert_eq!(target["availabilityDomain"], ad);
    }
    let body = raw_get(&fx, &set.reservations().next().unwrap().id.0).await;
    let config = &body["instanceReservationConfigs"][0];
    let shape = config["instanceShape"].as_str().unwrap();
    assert!(shape.ends_with(".Flex"), "{body}");
    let (ocpus, memory) = if shape == "VM.DenseIO.E5.Flex" {
        (8.0, 64.0)
    } else {
        (2.0, 16.0)
    };
    assert_eq!(config["instanceShapeConfig"]["ocpus"], ocpus, "{body}");
    assert_eq!(
        config["instanceShapeConfig"]["memoryInGBs"], memory,
        "{body}"
    );
    assert_eq!(body["compartmentId"], COMPARTMENT);
    assert_eq!(body["freeformTags"]["TestId"], "0c1f1e00-wire");
    assert_eq!(body["freeformTags"]["CreatedBy"], "cr");
    assert!(
        body["displayName"]
            .as_str()
            .unwrap()
            .starts_with("cr-0c1f1e00-wire-IAD-AD-1-"),
        "{body}"
    );
    backend.cancel(&fx.params).await.expect("cancel");
    assert!(fx.live(Cloud::Oci).is_empty());
}

/// GetComputeCapacityReservation over plain HTTP, signed here independently of cr-oci.
async fn raw_get(fx: &Fixture, id: &str) -> serde_json::Value {
    let (status, v) = signed(
        &fx.emulator,
        "GET",
        &format!("/oci/us-ashburn-1/20160918/computeCapacityReservations/{id}"),
        None,
    )
    .await;
    assert!((200..300).contains(&status), "{status}: {v}");
    v
}

/// One OCI call over plain HTTP, signed here independently of cr-oci: RSA PKCS#1 v1.5
/// SHA-256 with the emulator's key over `date (request-target) host`, plus
/// `content-length content-type x-content-sha256` for a body. Answers the status and the
/// JSON body (null when none).
async fn signed(
    emulator: &EmulatorHandle,
    method: &str,
    path: &str,
    body: Option<&serde_json::Value>,
) -> (u16, serde_json::Value) {
    use aws_lc_rs::signature::{RSA_PKCS1_SHA256, RsaKeyPair};
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD;
    let oci = &emulator.credentials().oci;
    let block = pem::parse(oci.private_key_pem.as_bytes()).expect("the emulator's key is PEM");
    let key = RsaKeyPair::from_pkcs8(block.contents()).expect("a PKCS#8 RSA key");
    let host = emulator.http_addr().to_string();
    let date = jiff::Timestamp::now()
        .strftime("%a, %d %b %Y %H:%M:%S GMT")
        .to_string();
    let payload = body.map(|b| b.to_string().into_bytes());
    let mut headers = vec![
        ("date", date),
        (
            "(request-target)",
            format!("{} {path}", method.to_ascii_lowercase()),
        ),
        ("host", host.clone()),
    ];
    if let Some(p) = &payload {
        let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, p);
        headers.push(("content-length", p.len().to_string()));
        headers.push(("content-type", "application/json".to_string()));
        headers.push(("x-content-sha256", b64.encode(digest.as_ref())));
    }
    let signing: Vec<String> = headers.iter().map(|(k, v)| format!("{k}: {v}")).collect();
    let mut signature = vec![0u8; key.public_modulus_len()];
    key.sign(
        &RSA_PKCS1_SHA256,
        &aws_lc_rs::rand::SystemRandom::new(),
        signing.join("\n").as_bytes(),
        &mut signature,
    )
    .expect("signing works");
    let names: Vec<&str> = headers.iter().map(|(k, _)| *k).collect();
    let authorization = format!(
        "Signature version=\"1\",headers=\"{}\",keyId=\"{}/{}/{}\",algorithm=\"rsa-sha256\",signature=\"{}\"",
        names.join(" "),
        oci.tenancy_ocid,
        oci.user_ocid,
        oci.fingerprint,
        b64.encode(&signature)
    );
    let method = reqwest::Method::from_bytes(method.as_bytes()).expect("an HTTP method");
    let mut request = reqwest::Client::new()
        .request(method, format!("http://{host}{path}"))
        .header("authorization", authorization);
    for (k, v) in &headers {
        if !k.starts_with('(') && *k != "host" && *k != "content-length" {
            request = request.header(*k, v);
        }
    }
    if let Some(p) = payload {
        request = request.body(p);
    }
    let response = request.send().await.expect("the call is answered");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or_default())
}

/// With long-running operations the create answers `CREATING` and a work request: the engine
/// polls (GetWorkRequest, then GetComputeCapacityReservation) until `ACTIVE`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_create_is_pending_until_its_work_request_succeeds() {
    let mut scenario = base_scenario();
    scenario.lro_ms = 600;
    let fx = Fixture::start(&OciTarget, scenario, single("11fec7c1-poll")).await;
    let adapter = adapter(&fx).await;
    let zones = adapter
        .resolve_zones("us-ashburn-1", &["AD-2".to_string()])
        .await
        .expect("AD-2 resolves");
    assert_eq!(zones, ["Emul:IAD-AD-2"]);
    let demand = fx.plan.regions[0].demands[0].clone();
    let request = CreateRequest {
        test_id: "11fec7c1-poll".into(),
        region: "us-ashburn-1".into(),
        zone: zones[0].clone(),
        demand,
        end_time: fx.plan.end_time,
        tags: fx.plan.tags.clone(),
        attempt: 0,
        region_handle: Default::default(),
    };
    let created = adapter
        .create(&request)
        .await
        .expect("the create is accepted");
    assert_eq!(created.state, ReservationState::Pending);
    assert!(
        created.extra.contains_key(cr_oci::EXTRA_WORK_REQUEST),
        "{created:?}"
    );
    let (ready, pending) = wait_active(adapter.as_ref(), &created).await;
    assert!(pending > 0, "the reservation was seen CREATING first");
    assert_eq!(ready.state, ReservationState::Active);
    let ops: BTreeSet<String> = fx
        .emulator
        .requests()
        .into_iter()
        .map(|r| r.operation)
        .collect();
    assert!(ops.contains("GetWorkRequest"), "{ops:?}");
    adapter.cancel(&ready).await.expect("cancel");
    assert!(fx.live(Cloud::Oci).is_empty());
}

/// A stockout found late (the work request fails with "Out of host capacity.") is a capacity
/// failure: the engine falls back to the next AD.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stockout_reported_by_the_work_request_falls_back() {
    let mut scenario = base_scenario();
    let oci = scenario.clouds.get_mut(CloudKind::Oci);
    oci.options.insert("stockout".into(), "lro".into());
    cr_contract_tests::set_capacity(
        &mut scenario,
        Cloud::Oci,
        "us-ashburn-1",
        "Emul:IAD-AD-1",
        "VM.DenseIO.E5.Flex",
        0,
    );
    let fx = Fixture::start(&OciTarget, scenario, single("57c0a700-late")).await;
    let backend = backend(&fx).await;
    let set = backend.reserve(&fx.params).await.expect("reserve");
    assert_eq!(set.regions[0].zone.as_deref(), Some("Emul:IAD-AD-2"));
    // The create in AD-1 was accepted (CREATING) and its work request failed later.
    let audit = fx.audit(Cloud::Oci);
    assert!(
        audit
            .iter()
            .any(|r| r.zone == "Emul:IAD-AD-1" && r.state.is_ended()),
        "{audit:?}"
    );
    let failed_work = fx
        .emulator
        .requests()
        .into_iter()
        .filter(|r| r.operation == "ListWorkRequestErrors")
        .count();
    assert!(
        failed_work >= 1,
        "the failure was read from the work request"
    );
    backend.cancel(&fx.params).await.expect("cancel");
    assert!(fx.live(Cloud::Oci).is_empty());
}

/// cancel_all_regions lists only the tenancy's READY subscriptions: a region it does not
/// subscribe to is never called.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_region_not_subscribed_is_not_listed() {
    let mut scenario = base_scenario();
    scenario.clouds.get_mut(CloudKind::Oci).options.insert(
        "subscribed_regions".into(),
        serde_json::json!(["us-ashburn-1"]),
    );
    let fx = Fixture::start(&OciTarget, scenario, single("5ub5c71b-regions")).await;
    let adapter = adapter(&fx).await;
    let mut regions = adapter.regions().await.expect("regions");
    regions.sort();
    // The home region (us-phoenix-1) is always subscribed.
    assert_eq!(regions, ["us-ashburn-1", "us-phoenix-1"]);
    let backend = backend(&fx).await;
    let report = backend
        .cancel_all_regions("5ub5c71b-regions")
        .await
        .expect("cancel_all_regions");
    assert!(report.is_complete());
    let listed_frankfurt = fx
        .emulator
        .requests()
        .iter()
        .any(|r| r.path.starts_with("/oci/eu-frankfurt-1/"));
    assert!(!listed_frankfurt, "an unsubscribed region is never called");
}

/// A key the emulator never issued is refused by its signature check: unauthorized, with
/// the cloud's code, and nothing created.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_key_is_refused_by_the_signature_check() {
    let fx = Fixture::start(&OciTarget, base_scenario(), single("bad0c1e0-key")).await;
    let adapter = OciTarget
        .adapter(&fx.emulator, &fx.params, Credentials::Invalid)
        .await
        .expect("the adapter builds (the key is only used when signing)");
    let err = adapter
        .resolve_zones("us-ashburn-1", &["AD-1".to_string()])
        .await
        .expect_err("the signature does not verify");
    assert_eq!(err.kind(), ErrorKind::Unauthorized, "{err}");
    let e = err.cloud_error().expect("a cloud error");
    assert_eq!(e.code, "NotAuthenticated");
    assert!(e.request_id.is_some(), "the opc-request-id is kept: {e:?}");
    assert!(e.message.contains("fingerprint"), "{}", e.message);
    assert!(fx.audit(Cloud::Oci).is_empty());
}

/// An AD the region does not have is refused naming it and the ADs there are.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_ad_names_the_ones_there_are() {
    let fx = Fixture::start(&OciTarget, base_scenario(), single("ad000000-unknown")).await;
    let adapter = adapter(&fx).await;
    let err = adapter
        .resolve_zones("ap-tokyo-1", &["AD-2".to_string()])
        .await
        .expect_err("Tokyo has one AD");
    assert_eq!(err.kind(), ErrorKind::InvalidConfig, "{err}");
    let text = err.to_string();
    assert!(
        text.contains("AD-2") && text.contains("Emul:NRT-AD-1"),
        "{text}"
    );
}

fn with_options(options: serde_json::Value) -> Scenario {
    let mut scenario = base_scenario();
    let oci = scenario.clouds.get_mut(CloudKind::Oci);
    for (k, v) in options.as_object().expect("an object") {
        oci.options.insert(k.clone(), v.clone());
    }
    scenario
}

/// List summaries with only the three required fields (no tags, no state): discover still
/// finds exactly the test's reservations (read in full), and cancel releases them; a delete
/// answered 204 instead of 202 is just as good.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn minimal_summaries_and_204_deletes_are_handled() {
    let scenario =
        with_options(serde_json::json!({"summary_fields": "minimal", "delete_status": 204}));
    let fx = Fixture::start(&OciTarget, scenario, single("3141a000-minimal")).await;
    let foreign = OciTarget
        .create_outside(
            &fx.emulator,
            "f0e1f0e1-another-test",
            "us-ashburn-1",
            "Emul:IAD-AD-1",
            "VM.Standard.E5.Flex",
        )
        .await;
    let fresh = backend(&fx).await;
    let backend = backend(&fx).await;
    let set = backend.reserve(&fx.params).await.expect("reserve");
    let found = fresh.discover(&fx.params).await.expect("discover");
    let ids = |s: &cr_core::ReservationSet| -> BTreeSet<String> {
        s.reservations().map(|r| r.id.0.clone()).collect()
    };
    assert_eq!(ids(&found), ids(&set));
    for r in found.reservations() {
        assert!(!r.instance_type.is_empty() && r.count > 0, "{r:?}");
    }
    let report = fresh.cancel(&fx.params).await.expect("cancel");
    assert!(report.is_complete());
    let live: Vec<String> = fx.live(Cloud::Oci).into_iter().map(|r| r.id).collect();
    assert_eq!(live, [foreign], "only the other test's reservation is left");
}

/// An AD whose Flex core limit (counted in OCPUs, per AD) cannot take the db nodes is left
/// for the next AD: LimitExceeded naming an availability domain is AD-scoped.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ad_core_limit_falls_back_to_the_next_ad() {
    // 3 db nodes × 8 OCPUs = 24 fit an empty AD exactly.
    let scenario = with_options(serde_json::json!({"limits": {"denseio-e5-core-count": 24}}));
    let fx = Fixture::start(&OciTarget, scenario, single("c07e0000-limits")).await;
    // Another test already holds 2 OCPUs of AD-1.
    OciTarget
        .create_outside(
            &fx.emulator,
            "f0e1f0e1-another-test",
            "us-ashburn-1",
            "Emul:IAD-AD-1",
            "VM.DenseIO.E5.Flex",
        )
        .await;
    let backend = backend(&fx).await;
    let set = backend.reserve(&fx.params).await.expect("reserve");
    assert_eq!(set.regions[0].zone.as_deref(), Some("Emul:IAD-AD-2"));
    let refused = answered_with(&fx, "LimitExceeded");
    assert!(refused >= 1, "AD-1 refused the db nodes by its core limit");
    backend.cancel(&fx.params).await.expect("cancel");
    assert_eq!(
        fx.live(Cloud::Oci).len(),
        1,
        "only the other test's reservation"
    );
}

/// A rerun after a cancel presents the same first retry token, which OCI answers with 409
/// InvalidatedRetryToken (its reservation is deleted): cr creates again with a fresh one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rerun_after_cancel_gets_a_fresh_retry_token() {
    let fx = Fixture::start(&OciTarget, base_scenario(), single("2e2a0000-rerun")).await;
    let backend = backend(&fx).await;
    let first = backend.reserve(&fx.params).await.expect("reserve");
    backend.cancel(&fx.params).await.expect("cancel");
    let second = backend.reserve(&fx.params).await.expect("reserve again");
    let invalidated = answered_with(&fx, "InvalidatedRetryToken");
    assert!(
        invalidated >= 1,
        "the spent token was presented and refused"
    );
    let a: BTreeSet<String> = first.reservations().map(|r| r.id.0.clone()).collect();
    let b: BTreeSet<String> = second.reservations().map(|r| r.id.0.clone()).collect();
    assert!(a.is_disjoint(&b), "new reservations: {a:?} {b:?}");
    assert_eq!(fx.live(Cloud::Oci).len(), b.len());
    backend.cancel(&fx.params).await.expect("cancel");
    assert!(fx.live(Cloud::Oci).is_empty());
}

/// The OCI preflight against the emulator, read-only: a signed `GetCompartment` proves the
/// API key (the identity is the key id's user OCID); the permissions a read can show are
/// checked (a denied one named with its statement) and each one only a create or delete
/// would exercise is its own not-checkable line; the Limits service gives each shape
/// family's core count per AD against OCPUs × count; nothing is created.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_preflight_checks_reads_says_what_it_cannot_and_reads_core_limits() {
    use cr_core::preflight::{Area, Status};
    let layout = OciTarget.layout();
    let region = layout.regions[0].region.clone();
    let mut scenario = base_scenario();
    scenario.clouds.oci.denied_permissions = vec!["TENANCY_INSPECT".to_string()];
    // 16 OCPUs of dense-IO E5 per AD: the plan's three 8-OCPU db nodes need 24.
    scenario
        .clouds
        .oci
        .regions
        .entry(region.clone())
        .or_default()
        .quotas
        .insert("dense-io-e5-core-count".into(), 16);
    let fx = Fixture::start(&OciTarget, scenario, TestConfig::single("9f1e0000-pfoci")).await;
    let backend = fx
        .backend(&OciTarget, Credentials::Valid)
        .await
        .expect("backend");
    let report = backend.preflight(&fx.params).await.expect("a report");
    assert!(!report.can_reserve(), "{report:#?}");
    let creds = &report.findings[0];
    assert_eq!(creds.status, Status::Pass, "{creds:?}");
    let user = &fx.emulator.credentials().oci.user_ocid;
    assert!(creds.detail.contains(user.as_str()), "{creds:?}");
    assert!(creds.subject.contains("API key of profile"), "{creds:?}");
    let permission = |name: &str| {
        report
            .findings
            .iter()
            .find(|f| f.area == Area::Permissions && f.subject == name)
            .unwrap_or_else(|| panic!("{name}: {report:#?}"))
    };
    assert_eq!(
        permission("COMPUTE_CAPACITY_RESERVATION_INSPECT").status,
        Status::Pass
    );
    assert_eq!(permission("COMPARTMENT_INSPECT").status, Status::Pass);
    let tenancy = permission("TENANCY_INSPECT");
    assert_eq!(tenancy.status, Status::Fail, "{tenancy:?}");
    assert!(
        tenancy
            .fix
            .as_deref()
            .is_some_and(|f| f.contains("inspect tenancies in tenancy")),
        "{tenancy:?}"
    );
    for unchecked in [
        "COMPUTE_CAPACITY_RESERVATION_READ",
        "COMPUTE_CAPACITY_RESERVATION_CREATE",
        "COMPUTE_CAPACITY_RESERVATION_DELETE",
    ] {
        let f = permission(unchecked);
        assert_eq!(f.status, Status::NotCheckable, "{f:?}");
        assert!(f.detail.contains("no permission-test API"), "{f:?}");
        assert!(
            f.fix
                .as_deref()
                .is_some_and(|x| x.contains("manage compute-capacity-reservations")),
            "{f:?}"
        );
    }
    let failed: Vec<_> = report.failures().collect();
    let quota = failed
        .iter()
        .find(|f| f.area == Area::Quota)
        .unwrap_or_else(|| panic!("the dense-IO cores are short: {failed:#?}"));
    assert_eq!(quota.subject, "dense-io-e5-core-count", "{quota:?}");
    assert!(
        quota
            .detail
            .contains("IAD-AD-1: limit 16, used 0, the plan needs 24 (8 short)"),
        "{quota:?}"
    );
    assert_eq!(
        failed.len(),
        2,
        "the tenancy statement and the cores: {failed:#?}"
    );
    assert!(fx.audit(Cloud::Oci).is_empty(), "nothing was reserved");
    let writes: Vec<String> = fx
        .emulator
        .requests()
        .iter()
        .filter(|r| r.method != "GET")
        .map(|r| r.operation.clone())
        .collect();
    assert!(writes.is_empty(), "read-only: {writes:?}");

    let bad = fx
        .backend(&OciTarget, Credentials::Invalid)
        .await
        .expect("backend");
    let report = bad.preflight(&fx.params).await.expect("a report");
    assert_eq!(
        report.findings.len(),
        1,
        "nothing else is checked: {report:#?}"
    );
    assert_eq!(report.findings[0].status, Status::Fail);
    assert_eq!(report.findings[0].code.as_deref(), Some("NotAuthenticated"));
}
