//! `cr reserve` → `cr status` → `cr cancel` end to end, the way a user runs it: an emulator
//! started on its own, its credentials handed over through the environment variables its
//! `env.sh` exports, `--endpoint`/`--ca-bundle` pointing at its HTTPS listener, and the
//! emulator's audit checked afterwards.

use std::collections::BTreeMap;
use std::path::Path;

use cr_emulator::{CloudKind, Emulator, EmulatorHandle, Scenario};

#[path = "support/schema.rs"]
mod schema;

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

async fn emulator(scenario: Scenario, dir: &Path) -> (EmulatorHandle, BTreeMap<String, String>) {
    let handle = Emulator::start(scenario).await.expect("emulator starts");
    let files = handle.write_credentials(dir).expect("credentials written");
    (handle, files.env)
}

fn json(run: &Run) -> serde_json::Value {
    serde_json::from_str(&run.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}\nstderr: {}", run.stdout, run.stderr))
}

/// Runs reserve → status → cancel for `config` and checks the emulator's audit after each.
async fn reserve_status_cancel(cloud: CloudKind, config: &str, expect_zone: &str) {
    let dir = tempfile::tempdir().unwrap();
    // A vCPU quota of the db type's family worth 50 db nodes: the set (4) fits, the failing
    // reserve below does not.
    let mut scenario = cr_emulator::demo_scenario();
    let (region, db_type) = match cloud {
        CloudKind::Aws => ("us-east-1", "i4i.large"),
        _ => ("us-east1", "n2-highmem-16"),
    };
    scenario
        .clouds
        .get_mut(cloud)
        .regions
        .entry(region.to_string())
        .or_default()
        .limit_to_instances(cloud, db_type, 50);
    let (emu, env) = emulator(scenario, &dir.path().join("creds")).await;
    let cfg = dir.path().join("test.yaml");
    std::fs::write(&cfg, config).unwrap();
    let cfg = cfg.to_str().unwrap();
    let endpoint = env["CR_ENDPOINT"].clone();
    let ca = env["CR_CA_BUNDLE"].clone();
    let base = ["--config", cfg, "--endpoint", &endpoint, "--ca-bundle", &ca];

    let mut args = vec!["reserve", "--output", "json"];
    args.extend(base);
    let run = cr(&env, &args).await;
    assert_eq!(run.code, Some(0), "reserve failed: {}", run.stderr);
    let set = json(&run);
    schema::check("reservation_set", &set);
    assert_eq!(set["regions"][0]["zone"], expect_zone, "{}", run.stdout);
    // The zone given up first is in the result, with the cloud's code.
    let attempts = set["regions"][0]["attempts"].as_array().expect("attempts");
    assert!(
        !attempts[0]["code"].as_str().unwrap().is_empty(),
        "{}",
        run.stdout
    );
    let reserved: u64 = set["regions"][0]["reservations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["count"].as_u64().unwrap())
        .sum();
    assert_eq!(reserved, 4, "{}", run.stdout);
    let live: Vec<_> = emu.state().live(cloud).cloned().collect();
    assert_eq!(live.len(), 2, "{live:?}");
    assert!(
        live.iter().all(|r| r.zone.ends_with(expect_zone)),
        "{live:?}"
    );

    let mut args = vec!["status", "--output", "json"];
    args.extend(base);
    let run = cr(&env, &args).await;
    assert_eq!(run.code, Some(0), "status failed: {}", run.stderr);
    schema::check("reservation_set", &json(&run));
    let mut args = vec!["status"];
    args.extend(base);
    let run = cr(&env, &args).await;
    assert_eq!(run.code, Some(0), "status failed: {}", run.stderr);
    for r in &live {
        assert!(
            run.stdout.contains(&r.instance_type),
            "status lists {}: {}",
            r.instance_type,
            run.stdout
        );
    }

    let mut args = vec!["cancel", "--output", "json"];
    args.extend(base);
    let run = cr(&env, &args).await;
    assert_eq!(run.code, Some(0), "cancel failed: {}", run.stderr);
    let report = json(&run);
    schema::check("cancel_report", &report);
    assert_eq!(
        report["cancelled"].as_array().unwrap().len(),
        2,
        "{}",
        run.stdout
    );
    assert_eq!(emu.state().live(cloud).count(), 0, "nothing left active");

    // A reserve the region's quota cannot hold: the failure document, with the zone tried.
    let none = dir.path().join("none.yaml");
    let mut demanding = config.replace("n_db_nodes: 3", "n_db_nodes: 999");
    demanding.push_str("reservation_buffer_minutes: 1\n");
    std::fs::write(&none, demanding).unwrap();
    let none = none.to_str().unwrap();
    let run = cr(
        &env,
        &[
            "reserve",
            "--output",
            "json",
            "--config",
            none,
            "--endpoint",
            &endpoint,
            "--ca-bundle",
            &ca,
        ],
    )
    .await;
    assert_eq!(run.code, Some(3), "{}\n{}", run.stdout, run.stderr);
    let failure = json(&run);
    schema::check("error", &failure);
    assert_eq!(failure["error"]["kind"], "quota_exceeded", "{}", run.stdout);
    let tried = failure["error"]["attempts"].as_array().unwrap();
    assert_eq!(
        tried.len(),
        1,
        "the region's quota ends the search: {}",
        run.stdout
    );
    assert_eq!(
        tried[0]["error"]["kind"], "quota_exceeded",
        "{}",
        run.stdout
    );
    assert_eq!(emu.state().live(cloud).count(), 0, "nothing left active");
    // The stocked-out zone was tried first: the type it did have was reserved there
    // (both types are created at once) and rolled back.
    let elsewhere: Vec<_> = emu
        .state()
        .reservations
        .iter()
        .filter(|r| r.cloud == cloud && !r.zone.ends_with(expect_zone))
        .cloned()
        .collect();
    assert!(
        !elsewhere.is_empty(),
        "the audit shows the stocked-out zone was tried"
    );
    assert!(
        elsewhere.iter().all(|r| r.state.is_ended()),
        "{elsewhere:?}"
    );
    emu.shutdown().await;
}

#[cfg(feature = "gce")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gce_reserve_status_cancel_against_the_emulator() {
    // us-east1-b has no n2-highmem-16 in the demo scenario: cr falls back to the next zone.
    let config = "cluster_backend: gce
test_id: 0f8e5a2c-e2e0-4e2e-8e2e-00000000e2e1
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
    reserve_status_cancel(CloudKind::Gce, config, "us-east1-c").await;
}

#[cfg(feature = "aws")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aws_reserve_status_cancel_against_the_emulator() {
    // us-east-1a has no i4i.large in the demo scenario: cr falls back to the next zone.
    let config = "cluster_backend: aws
test_id: 0f8e5a2c-e2e0-4e2e-8e2e-00000000e2e2
use_capacity_reservation: true
instance_provision: on_demand
region_name: us-east-1
availability_zone: a
n_db_nodes: 3
n_loaders: 1
nemesis_add_node_cnt: 0
instance_type_db: i4i.large
instance_type_loader: c7i.2xlarge
";
    reserve_status_cancel(CloudKind::Aws, config, "us-east-1b").await;
}

#[cfg(all(feature = "gce", feature = "emulator"))]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embedded_emulator_runs_the_readme_demo() {
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples");
    let config = examples.join("gce-demo.yaml");
    let run = cr(
        &BTreeMap::new(),
        &[
            "--emulator",
            "--config",
            config.to_str().unwrap(),
            "reserve",
            "--output",
            "json",
        ],
    )
    .await;
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    let set = json(&run);
    assert_eq!(set["backend"], "gce");
    assert_eq!(set["schema"], 1);
    assert_eq!(set["regions"][0]["zone"], "us-east1-c", "{}", run.stdout);
    // Every reservation carries what a provisioner puts into its create-instance request.
    for r in set["regions"][0]["reservations"].as_array().unwrap() {
        assert_eq!(
            r["instance_target"]["reservationAffinity"]["values"][0], r["id"],
            "{}",
            run.stdout
        );
    }

    // Into a pipe, the table is plain ASCII, and the zone to launch in is said.
    let run = cr(
        &BTreeMap::new(),
        &[
            "--emulator",
            "--config",
            config.to_str().unwrap(),
            "reserve",
        ],
    )
    .await;
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    assert!(!run.stdout.contains('─'), "{}", run.stdout);
    assert!(run.stdout.contains("+-"), "{}", run.stdout);
    assert!(
        run.stdout
            .contains("launch the test's instances in zone us-east1-c"),
        "{}",
        run.stdout
    );
}

#[cfg(feature = "gce")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gce_cleanup_releases_a_crashed_runs_reservations_by_test_id() {
    let dir = tempfile::tempdir().unwrap();
    let (emu, env) = emulator(Scenario::default(), &dir.path().join("creds")).await;
    let test_id = "0f8e5a2c-e2e0-4e2e-8e2e-00000000e2e3";
    let config = format!(
        "cluster_backend: gce\ntest_id: {test_id}\ngce_use_capacity_reservation: true\n\
         instance_provision: on_demand\ngce_datacenter: europe-west1\navailability_zone: b\n\
         n_db_nodes: 2\nnemesis_add_node_cnt: 0\ngce_instance_type_db: n2-standard-8\n"
    );
    let cfg = dir.path().join("test.yaml");
    std::fs::write(&cfg, config).unwrap();
    let endpoint = env["CR_ENDPOINT"].clone();
    let ca = env["CR_CA_BUNDLE"].clone();
    let cfg = cfg.to_str().unwrap();
    let run = cr(
        &env,
        &[
            "reserve",
            "--config",
            cfg,
            "--endpoint",
            &endpoint,
            "--ca-bundle",
            &ca,
        ],
    )
    .await;
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    assert_eq!(emu.state().live(CloudKind::Gce).count(), 1);

    // The run "crashed": no configuration is left, only the test id.
    let run = cr(
        &env,
        &[
            "cleanup",
            "--backend",
            "gce",
            "--test-id",
            test_id,
            "--endpoint",
            &endpoint,
            "--ca-bundle",
            &ca,
        ],
    )
    .await;
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    assert!(run.stdout.contains("cancelled"), "{}", run.stdout);
    assert_eq!(emu.state().live(CloudKind::Gce).count(), 0);
    emu.shutdown().await;
}

/// `cr cleanup --dry-run` and `cr orphans` as a user runs them: two tests reserved by `cr`,
/// the dry run changes nothing (no mutating call reaches the cloud), `cr orphans` lists both
/// and calls the finished one an orphan, `--cancel` releases exactly that one. Every JSON
/// document is held to docs/json.schema.json.
#[cfg(feature = "gce")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gce_orphans_and_cleanup_dry_run() {
    let dir = tempfile::tempdir().unwrap();
    let (emu, env) = emulator(Scenario::default(), &dir.path().join("creds")).await;
    let endpoint = env["CR_ENDPOINT"].clone();
    let ca = env["CR_CA_BUNDLE"].clone();
    let finished = "0f8e5a2c-e2e0-4e2e-8e2e-0000000000f1";
    let running = "0f8e5a2c-e2e0-4e2e-8e2e-0000000000f2";
    for (test_id, region) in [(finished, "europe-west1"), (running, "us-east1")] {
        let config = format!(
            "cluster_backend: gce\ntest_id: {test_id}\ngce_use_capacity_reservation: true\n\
             instance_provision: on_demand\ngce_datacenter: {region}\navailability_zone: b\n\
             n_db_nodes: 2\nnemesis_add_node_cnt: 0\ngce_instance_type_db: n2-standard-8\n"
        );
        let cfg = dir.path().join(format!("{test_id}.yaml"));
        std::fs::write(&cfg, config).unwrap();
        let cfg = cfg.to_str().unwrap();
        let run = cr(
            &env,
            &[
                "reserve",
                "--config",
                cfg,
                "--endpoint",
                &endpoint,
                "--ca-bundle",
                &ca,
            ],
        )
        .await;
        assert_eq!(run.code, Some(0), "{}", run.stderr);
    }
    assert_eq!(emu.state().live(CloudKind::Gce).count(), 2);
    let cloud = ["--endpoint", endpoint.as_str(), "--ca-bundle", ca.as_str()];

    // The dry run: what would go, and nothing changed.
    let before = emu.requests().len();
    let mut args = vec![
        "cleanup",
        "--backend",
        "gce",
        "--test-id",
        finished,
        "--dry-run",
    ];
    args.extend(["--output", "json"]);
    args.extend(cloud);
    let run = cr(&env, &args).await;
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    let preview = json(&run);
    schema::check("cleanup_preview", &preview);
    assert_eq!(preview["reservations"].as_array().map(Vec::len), Some(1));
    assert_eq!(preview["reservations"][0]["region"], "europe-west1");
    let mutating: Vec<_> = emu.requests()[before..]
        .iter()
        .filter(|r| r.method != "GET" && !r.operation.contains("token"))
        .map(|r| format!("{} {}", r.method, r.operation))
        .collect();
    assert!(
        mutating.is_empty(),
        "the dry run changed something: {mutating:?}"
    );
    assert_eq!(emu.state().live(CloudKind::Gce).count(), 2);
    let mut args = vec![
        "cleanup",
        "--backend",
        "gce",
        "--test-id",
        finished,
        "--dry-run",
    ];
    args.extend(cloud);
    let run = cr(&env, &args).await;
    assert!(run.stdout.contains("would cancel"), "{}", run.stdout);
    assert!(
        run.stdout.contains("dry run: nothing was cancelled"),
        "{}",
        run.stdout
    );

    // Every reservation cr created, the finished test's an orphan.
    let mut args = vec!["orphans", "--backend", "gce", "--finished-test", finished];
    args.extend(["--unused-for", "1h", "--all", "--output", "json"]);
    args.extend(cloud);
    let run = cr(&env, &args).await;
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    let found = json(&run);
    schema::check("orphans", &found);
    assert_eq!(found["listed"], 2, "{found}");
    assert_eq!(found["orphans"][0]["test_id"], finished);
    assert_eq!(
        found["orphans"][0]["reasons"],
        serde_json::json!(["test_finished"])
    );
    assert_eq!(found["orphans"][0]["used"], 0);
    assert_eq!(found["not_orphans"][0]["test_id"], running);
    assert_eq!(found["rules"]["unused_for_seconds"], 3600);
    assert_eq!(emu.state().live(CloudKind::Gce).count(), 2, "listing only");

    // The table, in ASCII off a terminal.
    let mut args = vec!["orphans", "--backend", "gce", "--finished-test", finished];
    args.extend(cloud);
    let run = cr(&env, &args).await;
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    assert!(
        run.stdout
            .starts_with("1 orphaned of 2 reservation(s) cr created on gce"),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("| its test finished"), "{}", run.stdout);
    assert!(
        !run.stdout.contains(running),
        "only orphans without --all: {}",
        run.stdout
    );

    // --cancel that the cloud keeps refusing: exit 5, the orphan named, still held.
    let mut failing = Scenario::default();
    failing.faults.push(cr_emulator::Fault {
        cloud: CloudKind::Gce,
        operation: "reservations.delete".into(),
        kind: cr_emulator::FaultKind::ServerError,
        rate: 1.0,
        limit: None,
        garbage: None,
    });
    emu.set_scenario(failing);
    let mut args = vec!["orphans", "--backend", "gce", "--finished-test", finished];
    args.extend(["--cancel", "--output", "json"]);
    args.extend(cloud);
    let run = cr(&env, &args).await;
    assert_eq!(run.code, Some(5), "{}\n{}", run.stdout, run.stderr);
    let refused = json(&run);
    schema::check("orphans", &refused);
    assert_eq!(refused["ok"], false);
    let failed = refused["cancel"]["failed"].as_array().expect("failed");
    assert_eq!(failed.len(), 1, "{refused}");
    let orphan_id = refused["orphans"][0]["id"].as_str().expect("an id");
    assert_eq!(failed[0]["id"], orphan_id);
    assert!(
        run.stderr.contains(orphan_id)
            && run
                .stderr
                .contains("rerun `cr orphans --backend gce --cancel`"),
        "{}",
        run.stderr
    );
    assert_eq!(emu.state().live(CloudKind::Gce).count(), 2, "still held");
    emu.set_scenario(Scenario::default());

    // --cancel: exactly the orphan goes.
    let mut args = vec!["orphans", "--backend", "gce", "--finished-test", finished];
    args.extend(["--cancel", "--output", "json"]);
    args.extend(cloud);
    let run = cr(&env, &args).await;
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    let done = json(&run);
    schema::check("orphans", &done);
    assert_eq!(
        done["cancel"]["cancelled"].as_array().map(Vec::len),
        Some(1)
    );
    assert_eq!(done["ok"], true);
    let live: Vec<_> = emu.state().live(CloudKind::Gce).cloned().collect();
    assert_eq!(live.len(), 1, "{live:?}");
    assert_eq!(
        live[0].region, "us-east1",
        "the running test's reservation stays"
    );

    // A bad duration is a usage error naming the accepted form.
    let mut args = vec!["orphans", "--backend", "gce", "--older-than", "15"];
    args.extend(cloud);
    let run = cr(&env, &args).await;
    assert_eq!(run.code, Some(2), "{}", run.stderr);
    assert!(run.stderr.contains("90s, 15m, 6h"), "{}", run.stderr);
    emu.shutdown().await;
}

/// Starts `cr reserve --config cfg` against the emulator of `env` (its endpoint and CA),
/// with stdout and stderr captured.
#[cfg(all(feature = "gce", unix))]
fn spawn_reserve(env: &BTreeMap<String, String>, cfg: &str) -> tokio::process::Child {
    tokio::process::Command::new(env!("CARGO_BIN_EXE_cr"))
        .args([
            "reserve",
            "--config",
            cfg,
            "--endpoint",
            &env["CR_ENDPOINT"],
            "--ca-bundle",
            &env["CR_CA_BUNDLE"],
        ])
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .envs(env)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("cr starts")
}

/// Starts `cr reserve` against `emu` (every create a slow long-running operation), sends it
/// `signals` SIGTERMs once its first create reached the cloud, and returns how it exited.
#[cfg(all(feature = "gce", unix))]
async fn reserve_then_signal(
    emu: &EmulatorHandle,
    env: &BTreeMap<String, String>,
    cfg: &str,
    signals: usize,
) -> Run {
    let child = spawn_reserve(env, cfg);
    let pid = child.id().expect("a pid").to_string();
    for _ in 0..1_000 {
        if emu
            .requests()
            .iter()
            .any(|r| r.operation == "reservations.insert")
        {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    for _ in 0..signals {
        let killed = std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("kill runs");
        assert!(killed.success());
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let out = child.wait_with_output().await.expect("cr ends");
    Run {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

#[cfg(all(feature = "gce", unix))]
fn slow_gce(dir: &Path, test_id: &str) -> (Scenario, String) {
    let scenario = Scenario {
        lro_ms: 3_000,
        ..Scenario::default()
    };
    let config = format!(
        "cluster_backend: gce\ntest_id: {test_id}\ngce_use_capacity_reservation: true\n\
         instance_provision: on_demand\ngce_datacenter: us-east1\navailability_zone: b\n\
         n_db_nodes: 3\nn_loaders: 1\nnemesis_add_node_cnt: 0\n\
         gce_instance_type_db: n2-highmem-16\ngce_instance_type_loader: n2-highcpu-8\n"
    );
    let cfg = dir.join("test.yaml");
    std::fs::write(&cfg, config).unwrap();
    (scenario, cfg.to_str().unwrap().to_string())
}

#[cfg(all(feature = "gce", unix))]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_during_reserve_rolls_back_and_exits_130() {
    let dir = tempfile::tempdir().unwrap();
    let (scenario, cfg) = slow_gce(dir.path(), "0f8e5a2c-e2e0-4e2e-8e2e-00000000e2e4");
    let (emu, env) = emulator(scenario, &dir.path().join("creds")).await;

    let run = reserve_then_signal(&emu, &env, &cfg, 1).await;

    assert_eq!(run.code, Some(130), "stderr: {}", run.stderr);
    assert!(run.stderr.contains("SIGTERM received"), "{}", run.stderr);
    assert!(run.stderr.contains("interrupted"), "{}", run.stderr);
    let audit: Vec<_> = emu.state().reservations.clone();
    assert!(!audit.is_empty(), "creates had reached the cloud");
    assert_eq!(
        emu.state().live(CloudKind::Gce).count(),
        0,
        "nothing is left without any cleanup: {audit:?}"
    );
    emu.shutdown().await;
}

/// A SIGTERM that comes before the reserve could start (here: while `cr` reads its
/// configuration, from a FIFO the test holds open; backend construction is in the same
/// window) stops it cleanly: exit 130, the interruption said, nothing held, no cloud call
/// that reserves.
#[cfg(all(feature = "gce", unix))]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_before_the_reserve_starts_exits_130_holding_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (scenario, cfg) = slow_gce(dir.path(), "0f8e5a2c-e2e0-4e2e-8e2e-00000000e2e5");
    let (emu, env) = emulator(scenario, &dir.path().join("creds")).await;
    let fifo = dir.path().join("fifo.yaml");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .expect("mkfifo runs");
    assert!(made.success());
    let child = spawn_reserve(&env, fifo.to_str().unwrap());
    let pid = child.id().expect("a pid").to_string();
    // Opening the FIFO for writing returns once `cr` opened it to read its configuration.
    let config = std::fs::read_to_string(&cfg).unwrap();
    let writer = tokio::task::spawn_blocking(move || {
        let mut f = std::fs::OpenOptions::new().write(true).open(&fifo).unwrap();
        let killed = std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("kill runs");
        assert!(killed.success());
        // Give the signal time to land while the configuration is still being read.
        std::thread::sleep(std::time::Duration::from_millis(200));
        std::io::Write::write_all(&mut f, config.as_bytes()).unwrap();
    });
    tokio::time::timeout(std::time::Duration::from_secs(30), writer)
        .await
        .expect("cr opened its configuration")
        .unwrap();
    let out = tokio::time::timeout(std::time::Duration::from_secs(60), child.wait_with_output())
        .await
        .expect("cr ends")
        .expect("cr ran");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(130),
        "a SIGTERM before the reserve is a clean stop, not a kill: {:?} {stderr}",
        out.status
    );
    assert!(stderr.contains("SIGTERM received"), "{stderr}");
    assert!(stderr.contains("interrupted"), "{stderr}");
    let live = emu.state().live(CloudKind::Gce).count();
    assert_eq!(live, 0, "nothing is held: {:?}", emu.state().reservations);
    emu.shutdown().await;
}

#[cfg(all(feature = "gce", unix))]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_sigterm_exits_at_once_and_names_the_cleanup_command() {
    let dir = tempfile::tempdir().unwrap();
    let test_id = "0f8e5a2c-e2e0-4e2e-8e2e-00000000e2e5";
    let (scenario, cfg) = slow_gce(dir.path(), test_id);
    let (emu, env) = emulator(scenario, &dir.path().join("creds")).await;

    let run = reserve_then_signal(&emu, &env, &cfg, 2).await;

    assert_eq!(run.code, Some(130), "stderr: {}", run.stderr);
    let hint = format!("cr cleanup --backend gce --test-id {test_id}");
    assert!(run.stderr.contains(&hint), "{}", run.stderr);
    // What the hint says removes whatever the hurried exit left.
    let endpoint = env["CR_ENDPOINT"].clone();
    let ca = env["CR_CA_BUNDLE"].clone();
    // No pause: what is still being created is waited for by the cleanup itself (the cloud
    // refuses to delete a reservation mid-creation).
    let cleanup = cr(
        &env,
        &[
            "cleanup",
            "--backend",
            "gce",
            "--test-id",
            test_id,
            "--endpoint",
            &endpoint,
            "--ca-bundle",
            &ca,
        ],
    )
    .await;
    assert_eq!(cleanup.code, Some(0), "{}", cleanup.stderr);
    assert_eq!(emu.state().live(CloudKind::Gce).count(), 0);
    emu.shutdown().await;
}

/// A scenario whose creates take a while and whose first zone has no n2-highmem-16: every
/// kind of progress line appears.
#[cfg(all(feature = "gce", feature = "emulator"))]
fn slow_stockout_scenario(dir: &Path) -> String {
    let path = dir.join("slow.yaml");
    std::fs::write(
        &path,
        "lro_ms: 400\nclouds:\n  gce:\n    regions:\n      us-east1:\n        zones:\n          us-east1-b: {n2-highmem-16: 0}\n",
    )
    .unwrap();
    path.display().to_string()
}

#[cfg(all(feature = "gce", feature = "emulator"))]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn progress_is_drawn_on_a_terminal_and_absent_from_pipes() {
    let dir = tempfile::tempdir().unwrap();
    let scenario = slow_stockout_scenario(dir.path());
    let config = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/gce-demo.yaml");
    let config = config.to_str().unwrap();
    let args = [
        "reserve",
        "--emulator",
        "--emulator-scenario",
        &scenario,
        "--config",
        config,
    ];

    // Into a pipe: no progress and no note; the log's warnings say what happened.
    let piped = cr(&BTreeMap::new(), &args).await;
    assert_eq!(piped.code, Some(0), "{}", piped.stderr);
    assert!(!piped.stderr.contains("reserving in"), "{}", piped.stderr);
    assert!(
        !piped.stderr.contains("note: using an embedded emulator"),
        "{}",
        piped.stderr
    );
    assert!(
        piped.stderr.contains("ZONE_RESOURCE_POOL_EXHAUSTED"),
        "{}",
        piped.stderr
    );

    // -q: nothing on stderr at all; -v: the note, and log lines at info.
    let mut quiet = args.to_vec();
    quiet.insert(0, "-q");
    let quiet = cr(&BTreeMap::new(), &quiet).await;
    assert_eq!(quiet.code, Some(0), "{}", quiet.stderr);
    assert_eq!(quiet.stderr, "", "-q prints only errors");
    let mut verbose = args.to_vec();
    verbose.push("-v");
    let verbose = cr(&BTreeMap::new(), &verbose).await;
    assert!(
        verbose.stderr.contains("note: using an embedded emulator"),
        "{}",
        verbose.stderr
    );
    assert!(verbose.stderr.contains("INFO"), "{}", verbose.stderr);

    // Under a pseudo-terminal (util-linux `script`): the zones tried, each reservation's
    // spinner and outcome, the zone given up with the cloud's code; no log lines.
    if std::process::Command::new("script")
        .arg("--version")
        .output()
        .is_err()
    {
        eprintln!("skipped the pseudo-terminal half: `script` (util-linux) is not installed");
        return;
    }
    let line = std::iter::once(env!("CARGO_BIN_EXE_cr"))
        .chain(args)
        .map(|a| format!("'{a}'"))
        .collect::<Vec<_>>()
        .join(" ");
    let out = tokio::process::Command::new("script")
        .args(["-qec", &line, "/dev/null"])
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("TERM", "xterm")
        .output()
        .await
        .expect("script runs");
    let screen = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{screen}");
    for expected in [
        "us-east1: zones to try, in order: us-east1-b, us-east1-c, us-east1-d",
        "us-east1: reserving in us-east1-b",
        "being created",
        "cannot hold n2-highmem-16: ZONE_RESOURCE_POOL_EXHAUSTED",
        "us-east1: reserving in us-east1-c",
        "active (",
        "released",
        "us-east1: reserved in us-east1-c after",
        "note: using an embedded emulator",
    ] {
        assert!(
            screen.contains(expected),
            "the terminal lacks {expected:?}:\n{screen}"
        );
    }
    assert!(
        !screen.contains("WARN"),
        "log lines are off while progress is drawn:\n{screen}"
    );
}

// ---- OCI with SCT's real configuration files -------------------------------------------
//
// `cr reserve` → `cr status` → `cr cancel` for OCI with `../shared/sct-configs`
// (`defaults/test_default.yaml`, `defaults/oci_config.yaml`,
// `configurations/oci/longevity-100gb-4h-cql-stress.yaml`, plus an overlay enabling
// reservations), against an emulator with long-running operations on; then
// `cr permissions --backend oci` must cover every operation the run called. Skipped, with one
// line on stderr, when `../shared` is not beside the checkout.

/// SCT's configuration files, beside the checkout.
#[cfg(feature = "oci")]
const SCT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/sct-configs");

#[cfg(feature = "oci")]
fn sct(rel: &str) -> std::path::PathBuf {
    Path::new(SCT).join(rel)
}

#[cfg(feature = "oci")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oci_reserve_status_cancel_with_sct_configs() {
    use std::io::Write as _;
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
    let shapes: std::collections::BTreeSet<&str> =
        live.iter().map(|r| r.instance_type.as_str()).collect();
    assert_eq!(
        shapes,
        std::collections::BTreeSet::from(["VM.DenseIO.E5.Flex", "VM.Standard3.Flex"]),
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
    let called: std::collections::BTreeSet<String> = emu
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

/// `--output json` failures for the exit codes a pipeline tells apart: 4 (unauthorized), 5
/// (a cancel that left reservations held) and 130 (interrupted), each validated against the
/// published schema.
#[cfg(all(feature = "gce", feature = "aws", unix))]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_failure_documents_for_exit_codes_4_5_and_130() {
    let dir = tempfile::tempdir().unwrap();
    let (scenario, cfg) = slow_gce(dir.path(), "0f8e5a2c-e2e0-4e2e-8e2e-00000000e2e9");
    let (emu, env) = emulator(scenario, &dir.path().join("creds")).await;
    let endpoint = env["CR_ENDPOINT"].clone();
    let ca = env["CR_CA_BUNDLE"].clone();
    let cloud = ["--endpoint", endpoint.as_str(), "--ca-bundle", ca.as_str()];

    // 4: EC2 refuses a wrong secret.
    let aws_cfg = dir.path().join("aws.yaml");
    std::fs::write(
        &aws_cfg,
        "cluster_backend: aws\ntest_id: 0f8e5a2c-e2e0-4e2e-8e2e-0000000004e4\n\
         use_capacity_reservation: true\ninstance_provision: on_demand\n\
         region_name: us-east-1\navailability_zone: a\nn_db_nodes: 1\n\
         nemesis_add_node_cnt: 0\ninstance_type_db: i4i.large\n",
    )
    .unwrap();
    let mut wrong = env.clone();
    wrong.insert("AWS_SECRET_ACCESS_KEY".into(), "not-the-secret".into());
    let mut args = vec![
        "reserve",
        "--output",
        "json",
        "--config",
        aws_cfg.to_str().unwrap(),
    ];
    args.extend(cloud);
    let run = cr(&wrong, &args).await;
    assert_eq!(run.code, Some(4), "{}", run.stderr);
    let doc = json(&run);
    schema::check("error", &doc);
    assert_eq!(doc["exit_code"], 4);
    assert_eq!(doc["error"]["kind"], "unauthorized");
    assert!(!run.stdout.contains("not-the-secret") && !run.stderr.contains("not-the-secret"));

    // 130: SIGTERM during a reserve, with the document on stdout.
    let run = {
        let mut args = vec!["reserve", "--output", "json", "--config", cfg.as_str()];
        args.extend(cloud);
        let child = tokio::process::Command::new(env!("CARGO_BIN_EXE_cr"))
            .args(&args)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .envs(&env)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("cr starts");
        let pid = child.id().expect("a pid").to_string();
        while !emu
            .requests()
            .iter()
            .any(|r| r.operation == "reservations.insert")
        {
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap();
        let out = child.wait_with_output().await.expect("cr ends");
        Run {
            code: out.status.code(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    };
    assert_eq!(run.code, Some(130), "{}", run.stderr);
    let doc = json(&run);
    schema::check("error", &doc);
    assert_eq!(doc["error"]["kind"], "interrupted");

    // 5: a cancel the cloud keeps refusing leaves the set held, and says so.
    let fast = Scenario::default();
    emu.set_scenario(fast.clone());
    let mut args = vec!["reserve", "--output", "json", "--config", cfg.as_str()];
    args.extend(cloud);
    let run = cr(&env, &args).await;
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    let mut failing = fast;
    failing.faults.push(cr_emulator::Fault {
        cloud: CloudKind::Gce,
        operation: "reservations.delete".into(),
        kind: cr_emulator::FaultKind::ServerError,
        rate: 1.0,
        limit: None,
        garbage: None,
    });
    emu.set_scenario(failing);
    let mut args = vec!["cancel", "--output", "json", "--config", cfg.as_str()];
    args.extend(cloud);
    let run = cr(&env, &args).await;
    assert_eq!(run.code, Some(5), "{}\n{}", run.stdout, run.stderr);
    let doc = json(&run);
    schema::check("cancel_report", &doc);
    assert_eq!(doc["ok"], false);
    assert_eq!(doc["failed"].as_array().unwrap().len(), 2, "{}", run.stdout);
    emu.set_scenario(Scenario::default());
    let mut args = vec!["cancel", "--config", cfg.as_str()];
    args.extend(cloud);
    assert_eq!(cr(&env, &args).await.code, Some(0));
    assert_eq!(emu.state().live(CloudKind::Gce).count(), 0);
    emu.shutdown().await;
}

/// Every secret cr holds — the AWS secret key, the GCE service-account private key, the Azure
/// client secret, the OCI private key — never appears in what cr prints, at the most verbose
/// log level (`-vvv`: every crate at trace), on the success path and when the cloud refuses a
/// wrong secret (a sentinel); nor does any request signature or bearer token.
#[cfg(all(feature = "aws", feature = "gce", feature = "azure", feature = "oci"))]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_secret_appears_in_any_output_at_trace_level() {
    let dir = tempfile::tempdir().unwrap();
    let emu = Emulator::start(Scenario::default())
        .await
        .expect("emulator starts");
    let files = emu
        .write_credentials(dir.path().join("creds"))
        .expect("credentials");
    let env = files.env.clone();
    let endpoint = env["CR_ENDPOINT"].clone();
    let ca = env["CR_CA_BUNDLE"].clone();
    // What must never be printed: the secrets the emulator issued, and pieces of the keys.
    let pem_piece = |path: &std::path::Path| -> String {
        let text = std::fs::read_to_string(path).unwrap();
        let body: String = text.lines().filter(|l| !l.starts_with("-----")).collect();
        body.chars().skip(40).take(32).collect()
    };
    let gce_key: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&files.gce_key).unwrap()).unwrap();
    let gce_piece: String = gce_key["private_key"]
        .as_str()
        .unwrap()
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .collect::<String>()
        .chars()
        .skip(40)
        .take(32)
        .collect();
    let mut secrets = vec![
        env["AWS_SECRET_ACCESS_KEY"].clone(),
        env["AZURE_CLIENT_SECRET"].clone(),
        gce_piece,
        pem_piece(&files.oci_key),
    ];
    const SENTINEL: &str = "SENTINEL-7f3a9c-never-print-me";
    secrets.push(SENTINEL.to_string());
    let configs = [
        (
            "aws",
            "cluster_backend: aws\nuse_capacity_reservation: true\nregion_name: us-east-1\navailability_zone: a\ninstance_type_db: i4i.large\n",
        ),
        (
            "gce",
            "cluster_backend: gce\ngce_use_capacity_reservation: true\ngce_datacenter: us-east1\navailability_zone: b\ngce_instance_type_db: n2-highmem-16\n",
        ),
        (
            "azure",
            "cluster_backend: azure\nazure_use_capacity_reservation: true\nazure_region_name: eastus\navailability_zone: '1'\nazure_instance_type_db: Standard_L8s_v3\n",
        ),
        (
            "oci",
            "cluster_backend: oci\noci_use_capacity_reservation: true\noci_region_name: us-ashburn-1\navailability_zone: a\noci_instance_type_db: 'VM.DenseIO.E5.Flex:8:64:1'\n",
        ),
    ];
    let mut printed = 0usize;
    for (cloud, body) in configs {
        let cfg = dir.path().join(format!("{cloud}.yaml"));
        std::fs::write(
            &cfg,
            format!(
                "{body}test_id: 5ec12e75-{cloud}\ninstance_provision: on_demand\nn_db_nodes: 1\nnemesis_add_node_cnt: 0\n"
            ),
        )
        .unwrap();
        let cfg = cfg.to_str().unwrap();
        // A wrong secret for the clouds that take one from the environment.
        let mut wrong = env.clone();
        wrong.insert("AWS_SECRET_ACCESS_KEY".into(), SENTINEL.into());
        wrong.insert("AZURE_CLIENT_SECRET".into(), SENTINEL.into());
        for (label, vars, commands) in [
            ("valid", &env, vec!["reserve", "status", "cancel"]),
            ("wrong secret", &wrong, vec!["reserve"]),
        ] {
            for command in commands {
                let args = [
                    "-vvv",
                    command,
                    "--output",
                    "json",
                    "--config",
                    cfg,
                    "--endpoint",
                    &endpoint,
                    "--ca-bundle",
                    &ca,
                ];
                let run = cr(vars, &args).await;
                let all = format!("{}{}", run.stdout, run.stderr);
                printed += all.len();
                for secret in &secrets {
                    assert!(
                        !all.contains(secret.as_str()),
                        "{cloud} {command} ({label}) printed a secret ({} characters of it)",
                        secret.len()
                    );
                }
                for marker in [
                    "Bearer ey",
                    "Signature=",
                    "signature=\"",
                    "x-amz-security-token:",
                ] {
                    assert!(
                        !all.contains(marker),
                        "{cloud} {command} ({label}) printed a credential header ({marker})"
                    );
                }
            }
        }
    }
    assert!(printed > 10_000, "trace logging was on: {printed} bytes");
    emu.shutdown().await;
}

/// OCI lists reservations one compartment at a time: a cleanup given no `oci_compartment_id`
/// searches the root compartment only, and says so (with what to pass instead) rather than
/// letting an empty report pass for "nothing left". With the compartment configured it says
/// nothing.
#[cfg(feature = "oci")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oci_cleanup_without_a_compartment_says_what_it_searched() {
    let dir = tempfile::tempdir().unwrap();
    let (emu, env) = emulator(Scenario::default(), &dir.path().join("creds")).await;
    let endpoint = env["CR_ENDPOINT"].clone();
    let ca = env["CR_CA_BUNDLE"].clone();
    let args = [
        "cleanup",
        "--backend",
        "oci",
        "--test-id",
        "0c1e2e00-cleanup-scope",
        "--endpoint",
        &endpoint,
        "--ca-bundle",
        &ca,
    ];
    let run = cr(&env, &args).await;
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    assert!(
        run.stderr.contains("root compartment only")
            && run.stderr.contains("SCT_OCI_COMPARTMENT_ID"),
        "{}",
        run.stderr
    );

    let mut with_compartment = env.clone();
    with_compartment.insert(
        "SCT_OCI_COMPARTMENT_ID".into(),
        "ocid1.compartment.oc1..aaaaaaaacleanupscope".into(),
    );
    let run = cr(&with_compartment, &args).await;
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    assert!(!run.stderr.contains("root compartment"), "{}", run.stderr);
    emu.shutdown().await;
}

/// `cr doctor` and `cr reserve --preflight` as a user runs them against an emulator: a
/// healthy account passes (exit 0, the `preflight` document valid against the schema), a
/// type offered in no zone of the region fails the checklist (exit 6, the type named), and
/// `reserve --preflight` then stops before creating anything; on the healthy account it goes
/// on and reserves.
#[cfg(feature = "aws")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aws_doctor_and_reserve_preflight() {
    let config = "cluster_backend: aws
test_id: 0f8e5a2c-e2e0-4e2e-8e2e-00000000d0c7
use_capacity_reservation: true
instance_provision: on_demand
region_name: us-east-1
availability_zone: a
n_db_nodes: 3
n_loaders: 1
nemesis_add_node_cnt: 0
instance_type_db: i4i.large
instance_type_loader: c7i.2xlarge
";
    for healthy in [true, false] {
        let dir = tempfile::tempdir().unwrap();
        let mut scenario = Scenario::default();
        if !healthy {
            let region = scenario
                .clouds
                .get_mut(CloudKind::Aws)
                .regions
                .entry("us-east-1".into())
                .or_default();
            for z in ["a", "b", "c", "d", "e", "f"] {
                region
                    .zones
                    .entry(format!("us-east-1{z}"))
                    .or_default()
                    .insert("i4i.large".into(), -1);
            }
        }
        let (emu, env) = emulator(scenario, &dir.path().join("creds")).await;
        let cfg = dir.path().join("doctor.yaml");
        std::fs::write(&cfg, config).unwrap();
        let cfg = cfg.to_str().unwrap();
        let endpoint = env["CR_ENDPOINT"].clone();
        let ca = env["CR_CA_BUNDLE"].clone();
        let cloud = ["--config", cfg, "--endpoint", &endpoint, "--ca-bundle", &ca];

        let mut args = vec!["doctor", "--output", "json"];
        args.extend(cloud);
        let run = cr(&env, &args).await;
        let doc = json(&run);
        schema::check("preflight", &doc);
        assert_eq!(doc["can_reserve"], healthy, "{}", run.stdout);
        assert_eq!(doc["ok"], healthy, "{}", run.stdout);
        assert_eq!(
            run.code,
            Some(if healthy { 0 } else { 6 }),
            "{}\n{}",
            run.stdout,
            run.stderr
        );

        let mut args = vec!["doctor"];
        args.extend(cloud);
        let run = cr(&env, &args).await;
        if healthy {
            assert!(run.stdout.contains("reserving can work"), "{}", run.stdout);
            assert!(
                run.stdout.contains("ok   offerings us-east-1: i4i.large"),
                "{}",
                run.stdout
            );
        } else {
            // Off a terminal the marks are ASCII.
            assert!(
                run.stdout.contains(
                    "FAIL offerings us-east-1: i4i.large: not offered in any zone of us-east-1"
                ),
                "{}",
                run.stdout
            );
            assert!(
                run.stdout.contains("reserving cannot work: 1 check failed"),
                "{}",
                run.stdout
            );
        }
        assert!(
            emu.state().reservations.is_empty(),
            "cr doctor creates nothing"
        );

        let mut args = vec!["reserve", "--preflight", "--output", "json"];
        args.extend(cloud);
        let run = cr(&env, &args).await;
        if healthy {
            assert_eq!(run.code, Some(0), "{}", run.stderr);
            schema::check("reservation_set", &json(&run));
            assert_eq!(emu.state().live(CloudKind::Aws).count(), 2);
            let mut args = vec!["cancel"];
            args.extend(cloud);
            assert_eq!(cr(&env, &args).await.code, Some(0));
        } else {
            assert_eq!(run.code, Some(6), "{}\n{}", run.stdout, run.stderr);
            schema::check("preflight", &json(&run));
            assert!(run.stderr.contains("FAIL offerings"), "{}", run.stderr);
            assert!(
                emu.state().reservations.is_empty(),
                "reserve --preflight stopped before creating anything"
            );
        }
        assert_eq!(emu.state().live(CloudKind::Aws).count(), 0);
        emu.shutdown().await;
    }
}
