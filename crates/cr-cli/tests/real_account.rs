//! The real-account suite: the life cycle a maintainer checks against a sandbox account of
//! each cloud before a release (docs/real-account.md). Opt-in: `CR_TEST_REAL=aws,gce,azure,oci`
//! selects the clouds; without it the real-account test says it skipped and calls nothing.
//! CI never sets it.
//!
//! The suite drives the `cr` binary as a user would, with the process's own environment (the
//! cloud's usual credential sources) and checks only what cr itself reports — plan, reserve,
//! status, a rerun that reuses, cancel, status again, orphans — because a real account has
//! no audit to look at. Whatever happens, it ends with `cr cleanup` of its test id, so a failed
//! run never leaves a paid reservation behind.
//!
//! The same harness runs in CI against the emulator (with the environment `cr emulator
//! --write-credentials` exports), so the suite itself is known to work before anyone spends
//! money on it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

#[path = "support/schema.rs"]
mod schema;

/// A backend's smallest sandbox configuration (one reservation of the cheapest type that
/// takes capacity reservations), to which `CR_TEST_REAL_CONFIG_<BACKEND>` may add a file of
/// the account's own keys (Azure's subscription and resource group, OCI's compartment, …).
fn sandbox_config(backend: &str, test_id: &str) -> String {
    let cloud = match backend {
        "aws" => {
            "cluster_backend: aws\nuse_capacity_reservation: true\nregion_name: us-east-1\n\
             availability_zone: a\ninstance_type_db: t3.micro\n"
        }
        "gce" => {
            "cluster_backend: gce\ngce_use_capacity_reservation: true\ngce_datacenter: us-east1\n\
             availability_zone: b\ngce_instance_type_db: e2-standard-2\n"
        }
        "azure" => {
            "cluster_backend: azure\nazure_use_capacity_reservation: true\n\
             azure_region_name: eastus\navailability_zone: '1'\n\
             azure_instance_type_db: Standard_D2s_v5\n"
        }
        "oci" => {
            "cluster_backend: oci\noci_use_capacity_reservation: true\n\
             oci_region_name: us-ashburn-1\navailability_zone: a\n\
             oci_instance_type_db: 'VM.Standard.E5.Flex:1:8'\n"
        }
        other => panic!("CR_TEST_REAL names an unknown backend {other:?} (aws, gce, azure, oci)"),
    };
    format!(
        "{cloud}test_id: {test_id}\ninstance_provision: on_demand\nn_db_nodes: 1\n\
         n_loaders: 0\nn_monitor_nodes: 0\nnemesis_add_node_cnt: 0\ntest_duration: 30\n\
         reservation_buffer_minutes: 30\n"
    )
}

struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

impl Run {
    fn json(&self, what: &str) -> serde_json::Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| {
            panic!(
                "{what}: not JSON ({e}): {}\nstderr: {}",
                self.stdout, self.stderr
            )
        })
    }

    fn ok(&self, what: &str) -> serde_json::Value {
        assert_eq!(
            self.code,
            Some(0),
            "{what} failed:\nstdout: {}\nstderr: {}",
            self.stdout,
            self.stderr
        );
        self.json(what)
    }
}

/// Where `cr` runs: the environment it gets (`None`: this process's own, for a real account).
struct Target {
    env: Option<BTreeMap<String, String>>,
}

impl Target {
    async fn cr(&self, args: &[&str]) -> Run {
        let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_cr"));
        command.args(args).env("NO_COLOR", "1");
        if let Some(env) = &self.env {
            command
                .env_clear()
                .env("PATH", std::env::var("PATH").unwrap_or_default())
                .envs(env);
        }
        let out = command.output().await.expect("cr runs");
        Run {
            code: out.status.code(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }
}

/// The configuration files of one run: the sandbox configuration, then the account's own.
fn configs(dir: &Path, backend: &str, test_id: &str) -> Vec<PathBuf> {
    let base = dir.join(format!("{backend}-sandbox.yaml"));
    std::fs::write(&base, sandbox_config(backend, test_id)).expect("the sandbox config");
    let mut files = vec![base];
    let key = format!("CR_TEST_REAL_CONFIG_{}", backend.to_uppercase());
    if let Ok(extra) = std::env::var(&key) {
        let extra = PathBuf::from(extra);
        assert!(
            extra.is_file(),
            "{key} names {extra:?}, which is not a file"
        );
        files.push(extra);
    }
    files
}

fn ids(doc: &serde_json::Value) -> Vec<String> {
    let mut ids: Vec<String> = doc["regions"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|r| r["reservations"].as_array().into_iter().flatten())
        .map(|r| r["id"].as_str().expect("a reservation id").to_string())
        .collect();
    ids.sort();
    ids
}

/// plan → reserve → status → rerun (reused) → cancel → status → orphans, for `backend`.
async fn life_cycle(target: &Target, backend: &str, configs: &[PathBuf], test_id: &str) {
    let mut base: Vec<&str> = Vec::new();
    for c in configs {
        base.extend(["--config", c.to_str().expect("a UTF-8 path")]);
    }
    let with = |command: &[&'static str]| {
        let mut args: Vec<&str> = command.to_vec();
        args.extend(["--output", "json"]);
        args.extend(base.iter().copied());
        args
    };

    let plan = target.cr(&with(&["plan"])).await.ok("cr plan");
    assert_eq!(plan["backend"], backend, "{plan}");

    let set = target.cr(&with(&["reserve"])).await.ok("cr reserve");
    schema::check("reservation_set", &set);
    let reserved = ids(&set);
    assert_eq!(reserved.len(), 1, "one reservation of the one type: {set}");
    for r in set["regions"][0]["reservations"].as_array().unwrap() {
        assert_eq!(r["state"], "active", "{r}");
        assert_eq!(r["count"], 1, "{r}");
        assert!(
            r["instance_target"].is_object(),
            "what a provisioner needs: {r}"
        );
    }

    let status = target.cr(&with(&["status"])).await.ok("cr status");
    schema::check("reservation_set", &status);
    assert_eq!(
        ids(&status),
        reserved,
        "status shows what was reserved: {status}"
    );

    let rerun = target.cr(&with(&["reserve"])).await.ok("the rerun");
    assert_eq!(
        ids(&rerun),
        reserved,
        "a rerun within the buffer reuses: {rerun}"
    );
    assert_eq!(rerun["regions"][0]["reused"], true, "{rerun}");

    let cancel = target.cr(&with(&["cancel"])).await.ok("cr cancel");
    schema::check("cancel_report", &cancel);
    let mut cancelled: Vec<String> = cancel["cancelled"]
        .as_array()
        .expect("cancelled")
        .iter()
        .map(|r| {
            r["id"]
                .as_str()
                .map(str::to_string)
                .unwrap_or_else(|| r.to_string())
        })
        .collect();
    cancelled.sort();
    assert_eq!(cancelled, reserved, "{cancel}");

    let after = target
        .cr(&with(&["status"]))
        .await
        .ok("cr status after cancel");
    assert!(ids(&after).is_empty(), "nothing held after cancel: {after}");

    let mut args = vec![
        "orphans",
        "--backend",
        backend,
        "--finished-test",
        test_id,
        "--output",
        "json",
    ];
    args.extend(base.iter().copied());
    let orphans = target.cr(&args).await.ok("cr orphans --finished-test");
    let of_the_test: Vec<&serde_json::Value> = orphans["orphans"]
        .as_array()
        .expect("orphans")
        .iter()
        .filter(|o| o["test_id"] == test_id)
        .collect();
    assert!(
        of_the_test.is_empty(),
        "the test left nothing: {of_the_test:?}"
    );
}

/// Runs the life cycle for `backend` and always ends with `cr cleanup` of the test id; a
/// cleanup that fails is reported even when the life cycle passed.
async fn checked(target: Target, backend: &'static str) {
    let dir = tempfile::tempdir().expect("a temporary directory");
    // A fresh id per run: a rerun of the suite never finds an earlier run's set.
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or_default();
    let test_id = format!(
        "c0ffee00-5eal-4000-8000-{:06x}{:06x}",
        std::process::id() & 0xff_ffff,
        nanos & 0xff_ffff
    );
    let files = configs(dir.path(), backend, &test_id);
    let target = std::sync::Arc::new(target);
    let outcome = {
        let (target, files, test_id) = (target.clone(), files.clone(), test_id.clone());
        tokio::spawn(async move { life_cycle(&target, backend, &files, &test_id).await }).await
    };
    let mut args = vec!["cleanup", "--backend", backend, "--test-id", &test_id];
    for c in &files {
        args.extend(["--config", c.to_str().unwrap()]);
    }
    let cleanup = target.cr(&args).await;
    if let Err(e) = outcome {
        eprintln!(
            "cleanup after the failed {backend} run: exit {:?}\n{}{}",
            cleanup.code, cleanup.stdout, cleanup.stderr
        );
        std::panic::resume_unwind(e.into_panic());
    }
    assert_eq!(
        cleanup.code,
        Some(0),
        "the final cleanup failed: {}{}",
        cleanup.stdout,
        cleanup.stderr
    );
}

/// The backends `CR_TEST_REAL` selects.
fn selected() -> Vec<&'static str> {
    let Ok(list) = std::env::var("CR_TEST_REAL") else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for name in list.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let known = ["aws", "gce", "azure", "oci"]
            .into_iter()
            .find(|b| *b == name)
            .unwrap_or_else(|| {
                panic!("CR_TEST_REAL names an unknown backend {name:?} (aws, gce, azure, oci)")
            });
        out.push(known);
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn against_a_real_account() {
    let backends = selected();
    if backends.is_empty() {
        eprintln!(
            "skipped: set CR_TEST_REAL=aws,gce,azure,oci (any of them) to run the real-account \
             suite; it reserves real capacity and costs money (docs/real-account.md)"
        );
        return;
    }
    for backend in backends {
        eprintln!("real account: {backend}");
        checked(Target { env: None }, backend).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_real_account_suite_passes_against_the_emulator() {
    if !selected().is_empty() {
        // A maintainer's run is about the real account; this is CI's check of the harness.
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let emulator = cr_emulator::Emulator::start(cr_emulator::Scenario::default())
        .await
        .expect("the emulator starts");
    let files = emulator
        .write_credentials(dir.path().join("creds"))
        .expect("credentials written");
    for backend in ["aws", "gce", "azure", "oci"] {
        checked(
            Target {
                env: Some(files.env.clone()),
            },
            backend,
        )
        .await;
    }
    let left: Vec<_> = emulator
        .state()
        .reservations
        .iter()
        .filter(|r| !r.state.is_ended())
        .cloned()
        .collect();
    assert!(left.is_empty(), "the suite left {left:?}");
    emulator.shutdown().await;
}
