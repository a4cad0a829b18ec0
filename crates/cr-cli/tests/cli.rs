//! The `cr` binary end to end: plan offline, exit codes, and (against the embedded emulator)
//! reserve → status → cancel.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn cr(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_cr"))
        .args(args)
        // The tests must not depend on the developer's environment.
        .env_remove("CR_ENDPOINT")
        .env_remove("CR_CA_BUNDLE")
        .env_remove("GOOGLE_APPLICATION_CREDENTIALS")
        .env_remove("SCT_CLUSTER_BACKEND")
        .output()
        .expect("cr runs")
}

fn shared() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/sct-configs")
}

fn write(dir: &Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, text).expect("write config");
    path.display().to_string()
}

fn stdout_json(out: &Output) -> serde_json::Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not JSON ({e}): {}\nstderr: {}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

const REFERENCE_GCE: &str = "cluster_backend: gce
test_id: 1e7d5c8a-0000-4000-8000-000000000042
gce_use_capacity_reservation: true
instance_provision: on_demand
gce_datacenter: us-east1
availability_zone: b
n_db_nodes: 3
n_loaders: 1
nemesis_add_node_cnt: 0
gce_instance_type_db: n2-highmem-16
gce_instance_type_loader: n2-highcpu-8
";

#[test]
fn plan_json_of_the_reference_example_over_the_real_defaults() {
    let dir = tempfile::tempdir().unwrap();
    let overlay = write(dir.path(), "overlay.yaml", REFERENCE_GCE);
    let defaults = shared().join("defaults/test_default.yaml");
    let gce = shared().join("defaults/gce_config.yaml");
    let out = cr(&[
        "plan",
        "--output",
        "json",
        "--config",
        defaults.to_str().unwrap(),
        "--config",
        gce.to_str().unwrap(),
        "--config",
        &overlay,
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let plan = stdout_json(&out);
    assert_eq!(plan["backend"], "gce");
    assert_eq!(plan["enabled"], true);
    assert_eq!(plan["disabled_reason"], serde_json::Value::Null);
    assert_eq!(plan["test_id"], "1e7d5c8a-0000-4000-8000-000000000042");
    assert!(
        jiff::Timestamp::from_str_rfc3339(plan["end_time"].as_str().unwrap()),
        "end_time is RFC 3339"
    );
    let regions = plan["regions"].as_array().unwrap();
    assert_eq!(regions.len(), 1);
    assert_eq!(regions[0]["region"], "us-east1");
    assert_eq!(regions[0]["zones"][0], "us-east1-b");
    let demands: Vec<(String, u64)> = regions[0]["demands"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            (
                d["instance_type"].as_str().unwrap().to_string(),
                d["count"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        demands,
        vec![
            ("n2-highmem-16".to_string(), 3),
            ("n2-highcpu-8".to_string(), 1)
        ]
    );
    assert_eq!(regions[0]["demands"][0]["roles"], serde_json::json!(["db"]));
}

trait Rfc3339 {
    fn from_str_rfc3339(s: &str) -> bool;
}
impl Rfc3339 for jiff::Timestamp {
    fn from_str_rfc3339(s: &str) -> bool {
        s.parse::<jiff::Timestamp>().is_ok()
    }
}

#[test]
fn plan_says_why_it_is_disabled() {
    let dir = tempfile::tempdir().unwrap();
    let overlay = write(
        dir.path(),
        "overlay.yaml",
        "cluster_backend: aws\nregion_name: us-east-1\ninstance_type_db: i4i.large\nn_db_nodes: 3\n",
    );
    let out = cr(&["plan", "--output", "json", "--config", &overlay]);
    assert!(out.status.success());
    let plan = stdout_json(&out);
    assert_eq!(plan["enabled"], false);
    let reason = plan["disabled_reason"].as_str().unwrap();
    assert!(reason.contains("use_capacity_reservation"), "{reason}");
    assert!(reason.contains("instance_provision"), "{reason}");
    assert!(reason.contains("test_id"), "{reason}");
}

#[test]
fn bad_configuration_exits_2_naming_file_and_key() {
    let dir = tempfile::tempdir().unwrap();
    let overlay = write(
        dir.path(),
        "bad.yaml",
        "cluster_backend: gce\nn_db_nodes: three\n",
    );
    let out = cr(&["plan", "--config", &overlay]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("bad.yaml"), "{err}");
    assert!(err.contains("n_db_nodes"), "{err}");
    assert!(err.contains("three"), "{err}");
}

#[test]
fn missing_file_and_usage_errors_exit_2() {
    let out = cr(&["plan", "--config", "/nonexistent/cr-test.yaml"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent/cr-test.yaml"));
    let out = cr(&["no-such-subcommand"]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn unknown_backend_exits_2_and_lists_compiled_backends() {
    let out = cr(&["permissions", "--backend", "docker"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("unknown backend `docker`"), "{err}");
    assert!(err.contains("gce"), "{err}");
}
