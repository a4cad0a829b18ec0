//! `cr reserve` → `cr status` → `cr cancel` on Azure with SCT's own configuration files
//! (`../shared/sct-configs`: `defaults/test_default.yaml`, `defaults/azure_config.yaml`, the
//! longevity-azure-kms-10gb-3h test case) plus an overlay enabling reservations, against an
//! emulator on its own; afterwards the emulator holds no reservation, no reservation group and
//! no resource group of the test, and `cr permissions --backend azure` grants every action the
//! run used. Skipped, with one line on stderr, when `../shared` is not beside the checkout.
#![cfg(feature = "azure")]

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write as _;
use std::path::{Path, PathBuf};

use cr_emulator::{CloudKind, Emulator};

/// SCT's configuration files, beside the checkout.
const SCT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/sct-configs");

const TEST_ID: &str = "a2e0c0de-5c70-4e2e-9e2e-00000000a2e0";

async fn cr(env: &BTreeMap<String, String>, args: &[&str]) -> (Option<i32>, String, String) {
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_cr"))
        .args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .envs(env)
        .output()
        .await
        .expect("cr runs");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// An ARM GET over the emulator's plain-HTTP listener with a token from its authority.
async fn arm_get(emu: &cr_emulator::EmulatorHandle, path: &str, api: &str) -> serde_json::Value {
    let http = reqwest::Client::new();
    let az = &emu.credentials().azure;
    let token: serde_json::Value = http
        .post(format!(
            "{}/{}/oauth2/v2.0/token",
            emu.http_url(),
            az.tenant_id
        ))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", az.client_id.as_str()),
            ("client_secret", az.client_secret.as_str()),
            ("scope", "https://management.azure.com/.default"),
        ])
        .send()
        .await
        .expect("token")
        .json()
        .await
        .expect("token JSON");
    http.get(format!(
        "{}/subscriptions/{}{path}?api-version={api}",
        emu.http_url(),
        az.subscription_id
    ))
    .bearer_auth(token["access_token"].as_str().expect("access_token"))
    .send()
    .await
    .expect("answered")
    .json()
    .await
    .expect("JSON")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sct_azure_longevity_reserve_status_cancel_against_the_emulator() {
    if !Path::new(SCT).is_dir() {
        let _ = writeln!(
            std::io::stderr(),
            "cr-cli azure: skipped: ../shared/sct-configs is not beside the checkout"
        );
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let emu = Emulator::start(cr_emulator::demo_scenario())
        .await
        .expect("emulator starts");
    let env = emu
        .write_credentials(dir.path().join("creds"))
        .expect("credentials")
        .env;
    let overlay = dir.path().join("overlay.yaml");
    std::fs::write(
        &overlay,
        format!(
            "cluster_backend: azure\n\
             test_id: {TEST_ID}\n\
             azure_use_capacity_reservation: true\n\
             instance_provision: on_demand\n\
             azure_instance_type_loader: Standard_F4s_v2\n\
             availability_zone: '1'\n"
        ),
    )
    .unwrap();
    let files: Vec<PathBuf> = [
        "defaults/test_default.yaml",
        "defaults/azure_config.yaml",
        "test-cases/longevity/longevity-azure-kms-10gb-3h.yaml",
    ]
    .iter()
    .map(|f| Path::new(SCT).join(f))
    .chain([overlay])
    .collect();
    let mut base: Vec<String> = Vec::new();
    for f in &files {
        base.push("--config".into());
        base.push(f.display().to_string());
    }
    base.extend([
        "--endpoint".into(),
        env["CR_ENDPOINT"].clone(),
        "--ca-bundle".into(),
        env["CR_CA_BUNDLE"].clone(),
    ]);
    let with = |cmd: &[&str]| {
        let mut v: Vec<String> = cmd.iter().map(|s| s.to_string()).collect();
        v.extend(base.iter().cloned());
        v
    };

    let args = with(&["reserve", "--output", "json"]);
    let (code, out, err) = cr(&env, &args.iter().map(String::as_str).collect::<Vec<_>>()).await;
    assert_eq!(code, Some(0), "reserve failed: {err}");
    let set: serde_json::Value = serde_json::from_str(&out).expect("JSON");
    assert_eq!(set["backend"], "azure", "{out}");
    let region = &set["regions"][0];
    assert_eq!(region["region"], "eastus", "{out}");
    // The demo scenario has no Standard_L8s_v3 in eastus zone 1: the set moved to zone 2.
    assert_eq!(region["zone"], "2", "{out}");
    let mut reserved: Vec<(String, u64)> = region["reservations"]
        .as_array()
        .expect("reservations")
        .iter()
        .map(|r| {
            (
                r["instance_type"].as_str().unwrap().to_string(),
                r["count"].as_u64().unwrap(),
            )
        })
        .collect();
    reserved.sort();
    // n_db_nodes 6 of the test case plus the default's nemesis_add_node_cnt 3, 1 loader; the
    // monitor is not reserved by default.
    assert_eq!(
        reserved,
        [
            ("Standard_F4s_v2".to_string(), 1),
            ("Standard_L8s_v3".to_string(), 9)
        ],
        "{out}"
    );
    let live: Vec<_> = emu.state().live(CloudKind::Azure).cloned().collect();
    assert_eq!(live.len(), 2, "{live:?}");

    let args = with(&["status"]);
    let (code, out, err) = cr(&env, &args.iter().map(String::as_str).collect::<Vec<_>>()).await;
    assert_eq!(code, Some(0), "status failed: {err}");
    for t in ["Standard_L8s_v3", "Standard_F4s_v2"] {
        assert!(out.contains(t), "status lists {t}: {out}");
    }

    let args = with(&["cancel", "--output", "json"]);
    let (code, out, err) = cr(&env, &args.iter().map(String::as_str).collect::<Vec<_>>()).await;
    assert_eq!(code, Some(0), "cancel failed: {err}");
    let report: serde_json::Value = serde_json::from_str(&out).expect("JSON");
    assert_eq!(report["cancelled"].as_array().unwrap().len(), 2, "{out}");

    assert_eq!(
        emu.state().live(CloudKind::Azure).count(),
        0,
        "no reservation left"
    );
    let groups = arm_get(
        &emu,
        "/providers/Microsoft.Compute/capacityReservationGroups",
        "2024-11-01",
    )
    .await;
    assert_eq!(
        groups["value"],
        serde_json::json!([]),
        "no group left: {groups}"
    );
    let rgs = arm_get(&emu, "/resourcegroups", "2024-11-01").await;
    let names: Vec<&str> = rgs["value"]
        .as_array()
        .expect("resource groups")
        .iter()
        .filter_map(|g| g["name"].as_str())
        .collect();
    assert!(
        names.iter().all(|n| !n.contains(TEST_ID)),
        "the owned resource group is gone: {names:?}"
    );

    // The role cr prints grants every action the run used.
    let (code, out, err) = cr(
        &env,
        &["permissions", "--backend", "azure", "--output", "json"],
    )
    .await;
    assert_eq!(code, Some(0), "permissions failed: {err}");
    let role: serde_json::Value = serde_json::from_str(&out).expect("the role is JSON");
    let granted: BTreeSet<&str> = role["Actions"]
        .as_array()
        .expect("Actions")
        .iter()
        .filter_map(|a| a.as_str())
        .collect();
    let used: BTreeSet<String> = emu
        .requests()
        .iter()
        .filter(|r| r.cloud == Some(CloudKind::Azure) && r.operation != "oauth2.token")
        .map(|r| r.operation.clone())
        .collect();
    for op in &used {
        let action = cr_azure_action(op);
        assert!(
            granted.contains(action),
            "{op} needs {action}, which `cr permissions` does not grant: {out}"
        );
    }
    emu.shutdown().await;
}

/// The RBAC action of an ARM operation the emulator logs (the table of cr-azure's
/// `action_of_operation`, repeated here as the independent expectation).
fn cr_azure_action(operation: &str) -> &'static str {
    match operation {
        "Subscriptions_ListLocations" => "Microsoft.Resources/subscriptions/locations/read",
        "ResourceSkus_List" => "Microsoft.Compute/skus/read",
        "ResourceGroups_Get" | "ResourceGroups_List" => {
            "Microsoft.Resources/subscriptions/resourceGroups/read"
        }
        "ResourceGroups_CreateOrUpdate" => "Microsoft.Resources/subscriptions/resourceGroups/write",
        "ResourceGroups_Delete" => "Microsoft.Resources/subscriptions/resourceGroups/delete",
        "OperationResults_Get" => "Microsoft.Resources/subscriptions/operationresults/read",
        "CapacityReservationGroups_Get" | "CapacityReservationGroups_ListBySubscription" => {
            "Microsoft.Compute/capacityReservationGroups/read"
        }
        "CapacityReservationGroups_CreateOrUpdate" => {
            "Microsoft.Compute/capacityReservationGroups/write"
        }
        "CapacityReservationGroups_Delete" => "Microsoft.Compute/capacityReservationGroups/delete",
        "CapacityReservations_Get" | "CapacityReservations_ListByCapacityReservationGroup" => {
            "Microsoft.Compute/capacityReservationGroups/capacityReservations/read"
        }
        "CapacityReservations_CreateOrUpdate" => {
            "Microsoft.Compute/capacityReservationGroups/capacityReservations/write"
        }
        "CapacityReservations_Delete" => {
            "Microsoft.Compute/capacityReservationGroups/capacityReservations/delete"
        }
        "OperationStatus_Get" => "Microsoft.Compute/locations/operations/read",
        other => panic!("cr called {other}, which no role action covers"),
    }
}
