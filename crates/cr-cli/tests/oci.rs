//! `cr reserve` → `cr status` → `cr cancel` for OCI with SCT's real configuration files
//! (`../shared/sct-configs`: `defaults/test_default.yaml`, `defaults/oci_config.yaml`,
//! `configurations/oci/longevity-100gb-4h-cql-stress.yaml`, plus an overlay enabling
//! reservations), against an emulator started on its own with long-running operations on,
//! credentials handed over through its `env.sh` variables (`OCI_CLI_CONFIG_FILE`, ...). Then
//! `cr permissions --backend oci` must cover every operation the run called. Skipped, with one
//! line on stderr, when `../shared` is not beside the checkout.
#![cfg(feature = "oci")]

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write as _;
use std::path::{Path, PathBuf};

use cr_emulator::{CloudKind, Emulator, Scenario};

#[path = "support/schema.rs"]
mod schema;

/// SCT's configuration files, beside the checkout.
const SCT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/sct-configs");

fn sct(rel: &str) -> PathBuf {
    Path::new(SCT).join(rel)
}

struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

async fn cr(env: &BTreeMap<String, String>, args: &[&str]) -> Run {
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_cr"))
        .args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .envs(env)
        .output()
        .await
        .expect("cr runs");
    Run {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn json(run: &Run) -> serde_json::Value {
    serde_json::from_str(&run.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}\nstderr: {}", run.stdout, run.stderr))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oci_reserve_status_cancel_with_sct_configs() {
    if !Path::new(SCT).is_dir() {
        let _ = writeln!(
            std::io::stderr(),
            "oci e2e: skipped: ../shared/sct-configs is not beside the checkout"
        );
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let scenario = Scenario {
        lro_ms: 200,
        ..Scenario::default()
    };
    let emu = Emulator::start(scenario).await.expect("emulator starts");
    let files = emu
        .write_credentials(dir.path().join("creds"))
        .expect("credentials written");
    let env = files.env.clone();
    let overlay = dir.path().join("overlay.yaml");
    std::fs::write(
        &overlay,
        "cluster_backend: oci\n\
         test_id: 0c1e2e00-sct-longevity\n\
         use_capacity_reservation: true\n\
         oci_use_capacity_reservation: true\n\
         n_db_nodes: 3\n\
         n_loaders: 1\n\
         n_monitor_nodes: 0\n\
         nemesis_add_node_cnt: 0\n",
    )
    .unwrap();
    let configs = [
        sct("defaults/test_default.yaml"),
        sct("defaults/oci_config.yaml"),
        sct("configurations/oci/longevity-100gb-4h-cql-stress.yaml"),
        overlay,
    ];
    let endpoint = env["CR_ENDPOINT"].clone();
    let ca = env["CR_CA_BUNDLE"].clone();
    let mut base: Vec<String> = Vec::new();
    for c in &configs {
        base.push("--config".into());
        base.push(c.display().to_string());
    }
    base.extend(["--endpoint".into(), endpoint, "--ca-bundle".into(), ca]);
    let with = |head: &[&str]| -> Vec<String> {
        head.iter()
            .map(|s| s.to_string())
            .chain(base.iter().cloned())
            .collect()
    };
    let run_with = |args: Vec<String>| {
        let env = env.clone();
        async move {
            let refs: Vec<&str> = args.iter().map(String::as_str).collect();
            cr(&env, &refs).await
        }
    };

    let run = run_with(with(&["reserve", "--output", "json"])).await;
    assert_eq!(run.code, Some(0), "reserve failed: {}", run.stderr);
    let set = json(&run);
    schema::check("reservation_set", &set);
    let live: Vec<_> = emu.state().live(CloudKind::Oci).cloned().collect();
    assert!(!live.is_empty(), "{}", run.stdout);
    // oci_config.yaml: us-phoenix-1; the tenancy's AD names come from the emulator.
    assert!(
        live.iter()
            .all(|r| r.region == "us-phoenix-1" && r.zone.starts_with("Emul:PHX-AD-")),
        "{live:?}"
    );
    let shapes: BTreeSet<&str> = live.iter().map(|r| r.instance_type.as_str()).collect();
    assert_eq!(
        shapes,
        BTreeSet::from(["VM.DenseIO.E5.Flex", "VM.Standard3.Flex"]),
        "the longevity configuration's shapes"
    );
    let reserved: u64 = set["regions"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|r| r["reservations"].as_array().unwrap())
        .map(|r| r["count"].as_u64().unwrap())
        .sum();
    assert_eq!(reserved, 4, "3 db nodes and a loader: {}", run.stdout);

    let run = run_with(with(&["status", "--output", "json"])).await;
    assert_eq!(run.code, Some(0), "status failed: {}", run.stderr);
    schema::check("reservation_set", &json(&run));
    let run = run_with(with(&["status"])).await;
    assert_eq!(run.code, Some(0), "status failed: {}", run.stderr);
    for r in &live {
        assert!(
            run.stdout.contains(&r.instance_type),
            "status lists {}: {}",
            r.instance_type,
            run.stdout
        );
    }

    let run = run_with(with(&["cancel", "--output", "json"])).await;
    assert_eq!(run.code, Some(0), "cancel failed: {}", run.stderr);
    let report = json(&run);
    schema::check("cancel_report", &report);
    assert_eq!(
        report["cancelled"].as_array().unwrap().len(),
        live.len(),
        "{}",
        run.stdout
    );
    assert_eq!(
        emu.state().live(CloudKind::Oci).count(),
        0,
        "nothing left active"
    );

    // The policy `cr permissions` prints covers every operation the run called.
    let run = cr(
        &env,
        &["permissions", "--backend", "oci", "--output", "json"],
    )
    .await;
    assert_eq!(run.code, Some(0), "permissions failed: {}", run.stderr);
    let policy = json(&run);
    let statements: Vec<&str> = policy["statements"]
        .as_array()
        .expect("statements")
        .iter()
        .map(|s| s.as_str().unwrap())
        .collect();
    let called: BTreeSet<String> = emu
        .requests()
        .into_iter()
        .filter(|r| r.cloud == Some(CloudKind::Oci))
        .map(|r| r.operation)
        .collect();
    assert!(
        called.contains("CreateComputeCapacityReservation"),
        "{called:?}"
    );
    for op in &called {
        let statement = policy["operations"][op.as_str()]
            .as_str()
            .unwrap_or_else(|| panic!("{op} was called but has no statement: {policy}"));
        assert!(statements.contains(&statement), "{op}");
    }
    emu.shutdown().await;
}
