//! The `cr` binary end to end: plan offline, exit codes, and (against the embedded emulator)
//! reserve → status → cancel.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

#[path = "support/schema.rs"]
mod schema;

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

/// cr-core's SCT-style test fixtures (`crates/cr-core/tests/data/sct`, in the repository).
fn sct_fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../cr-core/tests/data/sct")
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
fn plan_json_of_the_reference_example_over_sct_style_defaults() {
    let dir = tempfile::tempdir().unwrap();
    let overlay = write(dir.path(), "overlay.yaml", REFERENCE_GCE);
    let defaults = sct_fixtures().join("defaults/test_default.yaml");
    let gce = sct_fixtures().join("defaults/gce_config.yaml");
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
    schema::check("plan", &plan);
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

#[test]
fn reserve_on_a_disabled_configuration_reserves_nothing_and_exits_0() {
    let dir = tempfile::tempdir().unwrap();
    let overlay = write(
        dir.path(),
        "overlay.yaml",
        "cluster_backend: aws\nregion_name: us-east-1\ninstance_type_db: i4i.large\nn_db_nodes: 3\n",
    );
    // No credentials anywhere: a disabled configuration never needs them.
    let out = cr(&["reserve", "--output", "json", "--config", &overlay]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let doc = stdout_json(&out);
    schema::check("reserve_disabled", &doc);
    assert_eq!(doc["schema"], 1);
    assert_eq!(doc["reserved"], false);
    assert!(
        doc["disabled_reason"]
            .as_str()
            .unwrap()
            .contains("use_capacity_reservation"),
        "{doc}"
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("nothing reserved"), "{err}");
}

#[test]
fn errors_are_json_documents_under_output_json() {
    let dir = tempfile::tempdir().unwrap();
    let bad = write(
        dir.path(),
        "bad.yaml",
        "cluster_backend: gce\nn_db_nodes: three\n",
    );
    let out = cr(&["plan", "--output", "json", "--config", &bad]);
    assert_eq!(out.status.code(), Some(2));
    let doc = stdout_json(&out);
    schema::check("error", &doc);
    assert_eq!(doc["schema"], 1);
    assert_eq!(doc["ok"], false);
    assert_eq!(doc["exit_code"], 2);
    assert_eq!(doc["error"]["kind"], "invalid_config");
    assert_eq!(doc["error"]["config"]["key"], "n_db_nodes");
    assert_eq!(doc["error"]["config"]["source"], bad.as_str());
    // Text output keeps stdout empty on failure.
    let out = cr(&["plan", "--config", &bad]);
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty());
}

#[test]
fn an_unknown_or_empty_cluster_backend_names_its_file_and_key() {
    let dir = tempfile::tempdir().unwrap();
    for (value, shown) in [("docker", "`docker`"), ("''", "``")] {
        let file = dir.path().join("backend.yaml");
        std::fs::write(&file, format!("cluster_backend: {value}\ntest_id: t-1\n")).unwrap();
        let out = cr(&["status", "--config", file.to_str().unwrap()]);
        assert_eq!(out.status.code(), Some(2), "{value}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(file.to_str().unwrap()), "{value}: {err}");
        assert!(err.contains("key `cluster_backend`"), "{value}: {err}");
        assert!(err.contains(shown), "{value}: {err}");
    }
}

#[test]
fn cleanup_with_an_empty_test_id_is_a_usage_error() {
    let out = cr(&["cleanup", "--backend", "gce", "--test-id", ""]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("must not be empty"), "{err}");
}

#[cfg(not(feature = "emulator"))]
#[test]
fn a_build_without_the_emulator_says_how_to_get_it() {
    let out = cr(&["emulator", "--port", "0"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("cargo feature `emulator`"), "{err}");
}

/// `cr emulator --output json`: one line of addresses once it serves, credentials on disk (not
/// on stdout), and a clean exit on SIGTERM, the way a test harness or service manager stops it.
#[cfg(all(unix, feature = "emulator"))]
#[test]
fn emulator_prints_its_addresses_as_json_and_stops_on_sigterm() {
    use std::io::{BufRead, BufReader, Read, Write};
    use std::process::Stdio;

    let dir = tempfile::tempdir().unwrap();
    let creds = dir.path().join("creds");
    let mut child = Command::new(env!("CARGO_BIN_EXE_cr"))
        .args([
            "emulator",
            "--port",
            "0",
            "--output",
            "json",
            "--write-credentials",
        ])
        .arg(&creds)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("cr emulator starts");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let started: serde_json::Value = serde_json::from_str(&line)
        .unwrap_or_else(|e| panic!("first line is not JSON ({e}): {line:?}"));
    schema::check("emulator", &started);
    let env_sh = started["env_sh"].as_str().expect("env_sh is a path");
    let script = std::fs::read_to_string(env_sh).unwrap();
    assert!(script.contains(&format!(
        "export CR_ENDPOINT='{}'",
        started["https"].as_str().unwrap()
    )));
    assert_eq!(
        started["ca_bundle"].as_str().map(PathBuf::from),
        Some(creds.join("ca.pem"))
    );
    let secret = script
        .lines()
        .find_map(|l| l.strip_prefix("export AWS_SECRET_ACCESS_KEY="))
        .unwrap()
        .trim_matches('\'');
    assert!(
        secret.len() >= 20 && !line.contains(secret),
        "a secret reached stdout"
    );

    // The audit URL it printed answers.
    let audit = started["audit"].as_str().unwrap();
    let rest = audit.strip_prefix("http://").unwrap();
    let (host, path) = rest.split_at(rest.find('/').unwrap());
    let mut conn = std::net::TcpStream::connect(host).unwrap();
    write!(
        conn,
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut reply = String::new();
    conn.read_to_string(&mut reply).unwrap();
    assert!(reply.starts_with("HTTP/1.1 200"), "{reply}");
    assert!(reply.contains("\"reservations\""), "{reply}");

    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "cr emulator still runs 20 s after SIGTERM"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    assert!(status.success(), "exit after SIGTERM: {status}");
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn each_subcommands_help_lists_only_the_options_it_uses_with_examples_and_exit_codes() {
    // (subcommand, options its help must offer, options it must not)
    let cases: &[(&str, &[&str], &[&str])] = &[
        (
            "plan",
            &["--config", "--output", "--backend"],
            &["--endpoint", "--emulator", "--reserve-timeout"],
        ),
        (
            "reserve",
            &[
                "--config",
                "--endpoint",
                "--ca-bundle",
                "--emulator",
                "--reserve-timeout",
            ],
            &["--test-id", "--port"],
        ),
        (
            "status",
            &["--config", "--endpoint", "--emulator"],
            &["--reserve-timeout"],
        ),
        (
            "cleanup",
            &["--backend", "--test-id", "--endpoint"],
            &["--reserve-timeout"],
        ),
        (
            "permissions",
            &["--backend", "--output"],
            &["--endpoint", "--ca-bundle", "--emulator", "--config"],
        ),
        (
            "emulator",
            &["--port", "--scenario", "--write-credentials"],
            &[
                "--emulator ",
                "--emulator-scenario",
                "--endpoint",
                "--config",
            ],
        ),
    ];
    for (command, offered, absent) in cases {
        let out = cr(&[command, "--help"]);
        assert!(out.status.success(), "{command}: {}", stderr(&out));
        let help = stdout(&out);
        for option in *offered {
            assert!(
                help.contains(option),
                "`cr {command} --help` lacks {option}:\n{help}"
            );
        }
        for option in *absent {
            assert!(
                !help.contains(option),
                "`cr {command} --help` offers {option}:\n{help}"
            );
        }
        assert!(help.contains("Examples:\n  cr "), "{command}: {help}");
        assert!(help.contains("Exit codes: 0 ok"), "{command}: {help}");
    }
}

#[test]
fn an_option_given_before_a_subcommand_that_does_not_use_it_is_a_usage_error() {
    let out = cr(&[
        "--endpoint",
        "https://127.0.0.1:1",
        "permissions",
        "--backend",
        "gce",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("`cr permissions` does not take --endpoint"),
        "{}",
        stderr(&out)
    );
    // Options before the subcommand still work where they apply (earlier scripts).
    let out = cr(&["--output", "json", "permissions", "--backend", "gce"]);
    assert!(out.status.success(), "{}", stderr(&out));
    stdout_json(&out);
}

#[test]
fn permissions_honours_the_output_format() {
    let text = cr(&["permissions", "--backend", "gce"]);
    assert!(text.status.success(), "{}", stderr(&text));
    let text = stdout(&text);
    assert!(text.starts_with("gce: cr needs these "), "{text}");
    assert!(text.contains("\n  compute.reservations.create\n"), "{text}");
    assert!(serde_json::from_str::<serde_json::Value>(&text).is_err());

    let json = cr(&["permissions", "--backend", "gce", "--output", "json"]);
    let role = stdout_json(&json);
    let listed = role["includedPermissions"].as_array().unwrap();
    // The text lists exactly what the document grants.
    assert_eq!(text.lines().count() - 1, listed.len(), "{text}");
}

#[test]
fn completions_generate_for_each_shell() {
    for (shell, marker) in [
        ("bash", "complete -F"),
        ("zsh", "#compdef cr"),
        ("fish", "complete -c cr"),
    ] {
        let out = cr(&["completions", shell]);
        assert!(out.status.success(), "{shell}: {}", stderr(&out));
        let script = stdout(&out);
        assert!(script.contains(marker), "{shell}: {script}");
        for command in ["reserve", "cleanup", "permissions"] {
            assert!(script.contains(command), "{shell} lacks {command}");
        }
    }
    let out = cr(&["completions", "tcsh"]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn the_man_page_is_generated_from_the_command_definitions() {
    let out = cr(&["man"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let page = stdout(&out);
    assert!(page.starts_with(".ie") || page.contains(".TH cr"), "{page}");
    for text in ["reserve", "cleanup", "\\-\\-quiet"] {
        assert!(page.contains(text), "the man page lacks {text}");
    }
}
