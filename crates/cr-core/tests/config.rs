//! `Params::load` over cr's own SCT-style fixtures (`tests/data/sct`, layered as SCT layers
//! them), environment overrides, cr's defaults, and one clear message per bad value. The same
//! kinds of checks over SCT's real files are in `tests/real_sct_configs.rs`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use cr_core::config::{GceReservationType, OciShape, Params, REDACTED};
use cr_core::{Error, ErrorKind};

/// The test data of this crate: `sct/` (valid SCT-style files) and `broken/` (files that do not
/// load). See `tests/data/README.md`.
const DATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data");

fn sct(rel: &str) -> PathBuf {
    Path::new(DATA).join("sct").join(rel)
}

fn broken(name: &str) -> PathBuf {
    Path::new(DATA).join("broken").join(name)
}

fn src(rel: &str) -> String {
    sct(rel).display().to_string()
}

fn env(vars: &[(&str, &str)]) -> BTreeMap<String, String> {
    vars.iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn load(files: &[&str], vars: &[(&str, &str)]) -> Params {
    let files: Vec<PathBuf> = files.iter().map(|f| sct(f)).collect();
    Params::load(&files, &env(vars)).unwrap_or_else(|e| panic!("load failed: {e}"))
}

fn load_err(files: &[PathBuf], vars: &[(&str, &str)]) -> Error {
    match Params::load(files, &env(vars)) {
        Ok(_) => panic!("expected an error for {files:?} {vars:?}"),
        Err(e) => e,
    }
}

/// Messages with the machine-specific part replaced, for snapshots.
fn stable(message: &str) -> String {
    message.replace(DATA, "<data>")
}

/// A scratch directory of this test process.
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("cr-core-config-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("create scratch dir");
    dir
}

fn all_yaml_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("read {}: {e}", dir.display()))
        .map(|e| e.expect("dir entry").path())
        .collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            all_yaml_files(&p, out);
        } else if p.extension().is_some_and(|e| e == "yaml" || e == "yml") {
            out.push(p);
        }
    }
}

#[test]
fn every_fixture_file_parses_on_its_own() {
    let mut files = Vec::new();
    all_yaml_files(&sct(""), &mut files);
    assert_eq!(
        files.len(),
        28,
        "the fixture set changed (update tests/data/README.md too): {files:?}"
    );
    for f in &files {
        let p = Params::load(std::slice::from_ref(f), &BTreeMap::new())
            .unwrap_or_else(|e| panic!("{}: {e}", f.display()));
        let from_file = p
            .raw
            .values()
            .filter(|v| v.source == f.display().to_string())
            .count();
        assert!(from_file > 0, "{}: no key read", f.display());
    }
}

#[test]
fn test_default_keeps_unknown_keys_with_their_source() {
    let p = load(&["defaults/test_default.yaml"], &[]);
    let src = src("defaults/test_default.yaml");
    // Unknown keys are kept: nested maps, lists, nulls and empty lists intact.
    let v = &p.raw["teardown_validators"];
    assert_eq!(v.source, src);
    assert_eq!(v.value["scrub"]["timeout"], 900);
    assert_eq!(v.value["scrub"]["keyspace"], "");
    assert_eq!(v.value["rackaware"]["enabled"], true);
    assert_eq!(p.raw["experimental_features"].value, serde_json::json!([]));
    assert_eq!(p.raw["stress_image"].value, serde_json::json!({}));
    assert_eq!(
        p.raw["backtrace_decoding_disable_regex"].value,
        serde_json::Value::Null
    );
    assert_eq!(
        p.raw["latency_limits"].value,
        serde_json::json!({"write": {"P99": 12, "P90": null}}),
        "`~` is null"
    );
    assert_eq!(
        p.raw["scylla_apt_keys"].value,
        serde_json::json!(["0123456789ABCDEF", "FEDCBA9876543210", "00FF00FF00FF00FF"]),
        "comments after list items are not part of them"
    );
    // Secret-looking keys are never stored; empty ones stay empty.
    assert_eq!(p.raw["authenticator_password"].value, "");
    assert_eq!(p.raw["alternator_secret_access_key"].value, REDACTED);
    assert_eq!(p.raw["alternator_secret_access_key"].source, src);
    assert_eq!(p.raw["cloud_prom_bearer_token"].value, REDACTED);
    let shown = format!("{p:?}");
    assert!(
        !shown.contains("fixture-value-not-a-real-secret") && !shown.contains("fixture-token"),
        "a secret reached Debug output"
    );
    // Known keys, from the file rather than cr's defaults.
    assert_eq!(p.test_duration, 75);
    assert_eq!(p.source_of("test_duration"), src);
    assert_eq!(p.db_type, "scylla");
    assert_eq!(p.nemesis_add_node_cnt, 2);
    assert_eq!(p.n_monitor_nodes, vec![1]);
    assert_eq!(p.n_test_oracle_db_nodes, 2);
    assert_eq!(p.n_db_zero_token_nodes, vec![0]);
    assert!(!p.use_zero_nodes);
    assert_eq!(p.zero_token_instance_type_db, None, "'' means not set");
    assert_eq!(p.instance_type_db_oracle, None);
    assert_eq!(p.instance_provision, "spot");
    assert!(!p.use_capacity_reservation);
    assert_eq!(p.source_of("use_capacity_reservation"), src);
}

#[test]
fn aws_layers_as_sct_does() {
    let p = load(
        &[
            "defaults/test_default.yaml",
            "defaults/aws_config.yaml",
            "configurations/capacity_reservation.yaml",
            "test-cases/performance/perf-latency-steps.yaml",
        ],
        &[],
    );
    assert_eq!(p.instance_provision, "on_demand");
    assert_eq!(
        p.source_of("instance_provision"),
        src("configurations/capacity_reservation.yaml"),
        "the overlay wins over aws_config.yaml's spot"
    );
    assert!(p.use_capacity_reservation);
    assert_eq!(
        p.source_of("use_capacity_reservation"),
        src("test-cases/performance/perf-latency-steps.yaml"),
        "the last file setting a key is its source"
    );
    assert_eq!(p.test_duration, 420);
    assert_eq!(p.n_db_nodes, vec![3]);
    assert_eq!(p.n_loaders, vec![2]);
    assert_eq!(
        p.nemesis_add_node_cnt, 0,
        "the test case overrides test_default's 2"
    );
    assert_eq!(p.region_name, vec!["us-east-1"]);
    assert_eq!(p.source_of("region_name"), src("defaults/aws_config.yaml"));
    assert_eq!(p.availability_zone, vec!["b"]);
    assert_eq!(p.aws_instance_types.db.as_deref(), Some("i4i.8xlarge"));
    assert_eq!(p.aws_instance_types.loader.as_deref(), Some("c6i.4xlarge"));
    assert_eq!(p.aws_instance_types.monitor.as_deref(), Some("t3.large"));
    assert_eq!(
        p.azure_instance_types.db.as_deref(),
        Some("Standard_L32s_v3")
    );
    assert!(p.use_placement_group);
    assert_eq!(p.user_prefix.as_deref(), Some("perf-latency-steps"));
    assert_eq!(p.files.len(), 4);
    // A nested value of an unknown key: the later map replaces the earlier one whole.
    let yaml = &p.raw["append_scylla_yaml"];
    assert_eq!(yaml.value["auto_snapshot"], false);
    assert_eq!(yaml.value["compaction_static_shares"], 100);
    assert_eq!(
        yaml.value.get("enable_tablets"),
        None,
        "nested maps are not merged"
    );
    // test_default's keys the later files do not set keep their source.
    assert_eq!(p.db_type, "scylla");
    assert_eq!(p.source_of("db_type"), src("defaults/test_default.yaml"));
    // cr's own keys fall back to its defaults.
    assert_eq!(p.reservation_buffer_minutes, 60);
    assert_eq!(p.max_reservation_hours, 168);
    assert!(!p.reserve_monitor_nodes);
    assert_eq!(p.source_of("max_reservation_hours"), "defaults");
}

#[test]
fn gce_layers() {
    let p = load(
        &[
            "defaults/test_default.yaml",
            "defaults/gce_config.yaml",
            "configurations/gce/n2d-highmem-32.yaml",
            "test-cases/features/gce-multi-dc-counts.yaml",
        ],
        &[],
    );
    assert_eq!(
        p.gce_datacenter,
        vec!["us-east1", "us-west1-a"],
        "a space-separated string of DCs"
    );
    assert_eq!(
        p.source_of("gce_datacenter"),
        src("test-cases/features/gce-multi-dc-counts.yaml")
    );
    assert_eq!(p.gce_instance_types.db.as_deref(), Some("n2d-highmem-32"));
    assert_eq!(p.gce_instance_types.loader, None, "'' means not set");
    assert_eq!(p.gce_local_ssds, [8, 0, 0], "the overlay wins over 2");
    assert_eq!(p.gce_project, None, "'' means the default project");
    assert_eq!(p.test_duration, 50);
    assert_eq!(p.n_db_nodes, vec![3, 2], "one count per DC");
    assert_eq!(p.n_loaders, vec![1, 1]);
    assert_eq!(p.nemesis_add_node_cnt, 1);
    assert_eq!(p.instance_provision, "spot");
    assert_eq!(p.gce_reservation_type, GceReservationType::Regional);
    assert!(p.gce_reservation_specific);
}

#[test]
fn aws_multi_region_counts() {
    let p = load(
        &[
            "defaults/test_default.yaml",
            "defaults/aws_config.yaml",
            "test-cases/features/aws-three-regions.yaml",
        ],
        &[],
    );
    assert_eq!(
        p.region_name,
        vec!["us-east-1", "eu-west-1", "ap-south-1"],
        "a space-separated string replaces aws_config.yaml's list"
    );
    assert_eq!(p.n_db_nodes, vec![3, 2], "a list of ints");
    assert_eq!(p.n_loaders, vec![1], "a single int");
    assert_eq!(p.availability_zone, vec!["a"]);
    assert_eq!(
        p.source_of("availability_zone"),
        src("test-cases/features/aws-three-regions.yaml")
    );
}

#[test]
fn oci_shapes_are_parsed() {
    let p = load(
        &[
            "defaults/test_default.yaml",
            "defaults/oci_config.yaml",
            "test-cases/longevity/longevity-200gb-4h.yaml",
            "configurations/oci/longevity-200gb-4h-oci.yaml",
        ],
        &[],
    );
    assert_eq!(
        p.oci_instance_types[0],
        Some(OciShape {
            shape: "VM.DenseIO.E5.Flex".into(),
            ocpus: Some(16.0),
            memory_gb: None,
            nvmes: None
        })
    );
    assert_eq!(
        p.oci_instance_types[1],
        Some(OciShape {
            shape: "VM.Standard.E5.Flex".into(),
            ocpus: Some(4.0),
            memory_gb: Some(32.0),
            nvmes: None
        })
    );
    assert_eq!(
        p.oci_instance_types[2],
        Some(OciShape {
            shape: "VM.Standard.E4.Flex".into(),
            ocpus: None,
            memory_gb: Some(16.0),
            nvmes: None
        }),
        "an empty part leaves that size unset"
    );
    assert_eq!(p.availability_zone, vec!["a", "b", "c"]);
    assert_eq!(p.oci_region_name, vec!["us-ashburn-1"]);
    assert_eq!(p.instance_provision, "on_demand");
    assert_eq!(p.user_prefix.as_deref(), Some("longevity-200gb-4h-oci"));
    assert_eq!(
        p.source_of("user_prefix"),
        src("configurations/oci/longevity-200gb-4h-oci.yaml"),
        "the overlay comes after the test case"
    );
    assert_eq!(p.n_db_nodes, vec![4]);
    // The test case's anchors and merge keys.
    assert_eq!(
        p.raw["stress_read_params"].value,
        serde_json::json!({"threads": 30, "consistency": "QUORUM", "operation": "read"})
    );
    assert_eq!(
        p.raw["stress_write_params"].value,
        serde_json::json!({"threads": 60, "consistency": "QUORUM", "operation": "write"})
    );
    assert_eq!(p.raw["pre_create_schema"].value, true, "YAML's `True`");
    assert_eq!(
        "VM.X:2:32:4".parse::<OciShape>(),
        Ok(OciShape {
            shape: "VM.X".into(),
            ocpus: Some(2.0),
            memory_gb: Some(32.0),
            nvmes: Some(4)
        })
    );
}

#[test]
fn azure_layers() {
    let p = load(
        &[
            "defaults/test_default.yaml",
            "defaults/azure_config.yaml",
            "test-cases/longevity/longevity-azure-3h.yaml",
        ],
        &[],
    );
    assert_eq!(
        p.azure_region_name,
        vec!["westeurope"],
        "a string replaces the defaults' list"
    );
    assert_eq!(
        p.azure_instance_types.db.as_deref(),
        Some("Standard_L16s_v3")
    );
    assert_eq!(p.azure_instance_types.loader, None);
    assert_eq!(
        p.availability_zone,
        Vec::<String>::new(),
        "'' means not set"
    );
    assert_eq!(p.n_db_nodes, vec![5]);
    assert_eq!(p.n_loaders, vec![2]);
    assert_eq!(p.test_duration, 200);
    assert_eq!(p.nemesis_add_node_cnt, 2, "test_default's");
}

#[test]
fn environment_wins_over_every_file() {
    let p = load(
        &[
            "defaults/test_default.yaml",
            "defaults/aws_config.yaml",
            "test-cases/performance/perf-latency-steps.yaml",
        ],
        &[
            ("SCT_N_DB_NODES", "3 3"),
            ("SCT_N_LOADERS", "[1, 2]"),
            ("SCT_REGION_NAME", "eu-west-1 us-east-1"),
            ("SCT_USE_CAPACITY_RESERVATION", "true"),
            ("SCT_INSTANCE_PROVISION", "on_demand"),
            ("SCT_TEST_ID", "1e5"),
            ("SCT_AVAILABILITY_ZONE", "a,b"),
            ("SCT_TEST_DURATION", "90"),
            ("SCT_COST_TAGS", "{team: qa, cost_center: 1234}"),
            ("SCT_N_MONITORS_NODES", "2"),
            ("SCT_REUSE_CLUSTER", "false"),
            ("SCT_GCE_RESERVATION_TYPE", "zonal"),
            ("NOT_SCT", "x"),
        ],
    );
    assert_eq!(p.n_db_nodes, vec![3, 3], "over the test case's 3");
    assert_eq!(p.source_of("n_db_nodes"), "SCT_N_DB_NODES");
    assert_eq!(p.n_loaders, vec![1, 2], "over the test case's 2");
    assert_eq!(p.region_name, vec!["eu-west-1", "us-east-1"]);
    assert!(p.use_capacity_reservation);
    assert_eq!(
        p.source_of("use_capacity_reservation"),
        "SCT_USE_CAPACITY_RESERVATION"
    );
    assert_eq!(p.instance_provision, "on_demand");
    assert_eq!(p.test_id.as_deref(), Some("1e5"), "ids are taken verbatim");
    assert_eq!(p.availability_zone, vec!["a", "b"]);
    assert_eq!(p.test_duration, 90, "over the test case's 420");
    assert_eq!(
        p.cost_tags,
        BTreeMap::from([
            ("cost_center".to_string(), "1234".to_string()),
            ("team".to_string(), "qa".to_string())
        ])
    );
    assert_eq!(
        p.n_monitor_nodes,
        vec![2],
        "SCT's legacy SCT_N_MONITORS_NODES"
    );
    assert_eq!(p.source_of("n_monitor_nodes"), "SCT_N_MONITORS_NODES");
    assert_eq!(p.reuse_cluster, None);
    assert_eq!(p.gce_reservation_type, GceReservationType::Zonal);
    assert!(!p.raw.contains_key("not_sct"));
    // Keys no variable names keep their file.
    assert_eq!(p.aws_instance_types.db.as_deref(), Some("i4i.8xlarge"));
    assert_eq!(
        p.source_of("instance_type_db"),
        src("test-cases/performance/perf-latency-steps.yaml")
    );
}

#[test]
fn empty_environment_value_unsets_a_key() {
    let p = load(&["defaults/aws_config.yaml"], &[("SCT_REGION_NAME", "")]);
    assert!(p.region_name.is_empty());
    assert_eq!(p.source_of("region_name"), "SCT_REGION_NAME");
    // Without the variable the file's value stands.
    let p = load(&["defaults/aws_config.yaml"], &[]);
    assert_eq!(p.region_name, vec!["us-east-1"]);
}

#[test]
fn defaults_when_nothing_is_set() {
    let p = Params::load(&[], &BTreeMap::new()).expect("empty configuration loads");
    assert_eq!(p.instance_provision, "spot");
    assert_eq!(p.test_duration, 60);
    assert_eq!(p.db_type, "scylla");
    assert_eq!(p.reservation_buffer_minutes, 60);
    assert_eq!(p.max_reservation_hours, 168);
    assert!(!p.reserve_monitor_nodes);
    assert!(p.cost_tags.is_empty());
    assert_eq!(p.gce_reservation_type, GceReservationType::Regional);
    assert!(p.gce_reservation_specific);
    assert!(p.n_db_nodes.is_empty() && p.n_loaders.is_empty());
    assert_eq!(p.nemesis_add_node_cnt, 0);
    assert_eq!(p.test_id, None);
    assert_eq!(p.run_by_user, None);
    for (key, value) in [
        ("instance_provision", serde_json::json!("spot")),
        ("test_duration", serde_json::json!(60)),
        ("gce_reservation_type", serde_json::json!("regional")),
        ("reservation_buffer_minutes", serde_json::json!(60)),
    ] {
        assert_eq!(p.raw[key].value, value, "{key}");
        assert_eq!(p.raw[key].source, "defaults", "{key}");
    }
}

#[test]
fn run_by_user_follows_sct() {
    let p = Params::load(
        &[],
        &env(&[
            ("BUILD_USER_EMAIL", "jane.doe@example.com"),
            ("USER", "jenkins"),
        ]),
    )
    .expect("loads");
    assert_eq!(p.run_by_user.as_deref(), Some("jane.doe"));
    let p = Params::load(&[], &env(&[("USER", "bob")])).expect("loads");
    assert_eq!(p.run_by_user.as_deref(), Some("bob"));
    let p =
        Params::load(&[], &env(&[("USER", "bob"), ("SCT_RUN_BY_USER", "carol")])).expect("loads");
    assert_eq!(p.run_by_user.as_deref(), Some("carol"));
}

#[test]
fn later_files_win_and_plus_plus_appends() {
    let dir = scratch("append");
    let first = dir.join("first.yaml");
    let second = dir.join("second.yaml");
    std::fs::write(
        &first,
        "user_prefix: 'perf'\nregion_name: [eu-west-1]\nn_db_nodes: 3\nextra_list: [a]\n",
    )
    .expect("write");
    std::fs::write(
        &second,
        "user_prefix: '++-nightly'\nn_db_nodes: 4\nextra_list: ['++', b]\nregion_name: null\n",
    )
    .expect("write");
    let p = Params::load(&[first, second.clone()], &BTreeMap::new()).expect("loads");
    assert_eq!(p.user_prefix.as_deref(), Some("perf-nightly"));
    assert_eq!(p.n_db_nodes, vec![4]);
    assert_eq!(p.raw["extra_list"].value, serde_json::json!(["a", "b"]));
    assert!(p.region_name.is_empty(), "a later null unsets the key");
    assert_eq!(p.source_of("region_name"), second.display().to_string());
}

#[test]
fn yaml_features_of_real_files() {
    let dir = scratch("features");
    let f = dir.join("features.yaml");
    std::fs::write(
        &f,
        "# comment\nbase: &db 'i4i.large'\ninstance_type_db: *db\nn_db_nodes: 3 # trailing comment\nn_db_nodes: 5\nempty: []\nnothing: null\nflags:\n  <<: {a: 1}\n  b: 2\nuse_zero_nodes: 'true'\nreuse_cluster: ''\n",
    )
    .expect("write");
    let p = Params::load(&[f], &BTreeMap::new()).expect("loads");
    assert_eq!(
        p.aws_instance_types.db.as_deref(),
        Some("i4i.large"),
        "anchor"
    );
    assert_eq!(
        p.n_db_nodes,
        vec![5],
        "duplicate keys: the last wins, as in PyYAML"
    );
    assert_eq!(
        p.raw["flags"].value,
        serde_json::json!({"a": 1, "b": 2}),
        "merge key"
    );
    assert!(p.use_zero_nodes, "\"true\" string");
    assert_eq!(p.reuse_cluster, None, "empty string");
}

#[test]
fn bad_values_each_get_a_clear_message() {
    let cases: &[(&str, &str)] = &[
        ("n_db_nodes", "3 x"),
        ("n_loaders", "[1, two]"),
        ("n_monitor_nodes", "-1"),
        ("test_duration", "an hour"),
        ("use_capacity_reservation", "maybe"),
        ("instance_provision", "reserved"),
        ("availability_zone", "a,bb"),
        ("region_name", "EU West"),
        ("gce_datacenter", "us_east1"),
        ("azure_region_name", "[eastus, 5]"),
        ("oci_instance_type_db", "VM.DenseIO.E5.Flex:eight"),
        ("oci_instance_type_loader", "VM.Standard3.Flex:8:16:2.5"),
        ("oci_instance_type_monitor", "VM.Standard3.Flex:1:2:3:4"),
        ("gce_reservation_type", "global"),
        ("gce_reservation_specific", "sometimes"),
        ("gce_n_local_ssd_disk_db", "four"),
        ("max_reservation_hours", "0"),
        ("reservation_buffer_minutes", "1.5"),
        ("cost_tags", "[team, qa]"),
        ("cost_tags", "{TestId: mine}"),
        ("reuse_cluster", "{id: 1}"),
        ("nemesis_add_node_cnt", "lots"),
    ];
    let mut report = String::new();
    for (key, value) in cases {
        let var = format!("SCT_{}", key.to_ascii_uppercase());
        let err = load_err(&[], &[(var.as_str(), value)]);
        assert_eq!(err.kind(), ErrorKind::InvalidConfig, "{key}");
        let Error::InvalidConfig(c) = &err else {
            panic!("{key}: not a value error: {err}");
        };
        assert_eq!(c.source, var);
        assert_eq!(c.key, *key);
        report.push_str(&format!("{key} = {value}\n  {err}\n"));
    }

    // From a file: the message names the file and the key.
    let f = broken("bad-node-count.yaml");
    let err = load_err(std::slice::from_ref(&f), &[]);
    let Error::InvalidConfig(c) = &err else {
        panic!("not a value error: {err}");
    };
    assert_eq!(c.source, f.display().to_string());
    assert_eq!(c.key, "n_db_nodes");
    report.push_str(&format!("file\n  {}\n", stable(&err.to_string())));
    let long_id = "x".repeat(257);
    let err = load_err(&[], &[("SCT_TEST_ID", long_id.as_str())]);
    report.push_str(&format!(
        "long test_id\n  {}\n",
        err.to_string().replace(&long_id, "x…x")
    ));
    insta::assert_snapshot!(report);
}

#[test]
fn unreadable_or_unparsable_files() {
    let mut report = String::new();
    for f in [
        broken("missing.yaml"),
        broken("unclosed-bracket.yaml"),
        broken("top-level-list.yaml"),
        broken("tab-indent.yaml"),
    ] {
        let err = load_err(std::slice::from_ref(&f), &[]);
        let Error::ConfigFile { path, .. } = &err else {
            panic!("{}: not a file error: {err}", f.display());
        };
        assert_eq!(path, &f.display().to_string());
        assert_eq!(err.kind(), ErrorKind::InvalidConfig);
        report.push_str(&stable(&err.to_string()));
        report.push('\n');
    }
    insta::assert_snapshot!(report);
}

#[test]
fn a_mapping_is_the_first_layer_named_by_its_source() {
    let mapping = serde_json::json!({
        "cluster_backend": "gce",
        "n_db_nodes": 3,
        "test_id": "t-1",
        "user_prefix": "from-mapping",
    });
    let serde_json::Value::Object(mapping) = mapping else {
        unreachable!()
    };
    let p = Params::from_mapping(
        "params (the mapping passed in)",
        mapping.clone(),
        &[sct("defaults/test_default.yaml")],
        &env(&[("SCT_N_DB_NODES", "5")]),
    )
    .unwrap();
    // Files layer over the mapping, SCT_* variables over both.
    assert_eq!(p.n_db_nodes, vec![5]);
    assert_eq!(p.cluster_backend.as_deref(), Some("gce"));
    assert_eq!(
        p.source_of("cluster_backend"),
        "params (the mapping passed in)"
    );
    assert_eq!(p.test_id.as_deref(), Some("t-1"));

    let mut bad = mapping;
    bad.insert("n_db_nodes".into(), serde_json::json!("three"));
    let e =
        Params::from_mapping("params (the mapping passed in)", bad, &[], &env(&[])).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidConfig);
    assert!(
        e.to_string().contains("params (the mapping passed in)"),
        "{e}"
    );
}
