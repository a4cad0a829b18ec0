//! The checks against SCT's real configuration files, in `../shared/sct-configs` beside the
//! checkout (the reference user's files, unchanged; see its README.md): `Params::load` layering
//! them as SCT does, and the planner over them. They run when that folder exists and are
//! skipped, with one line on stderr, when it does not; `.ci/run` requires the folder, so CI
//! never skips them. The default tests (`config.rs`, `planner.rs`) check the same behaviours over
//! the repository's own fixtures in `tests/data`.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Once;

/// The SCT configuration files, beside the checkout (`<checkout>/../shared/sct-configs`).
const SCT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/sct-configs");

/// Whether the real files are there. When they are not, says so once per run, on stderr
/// directly (the test harness captures `eprintln!` of passing tests).
fn present() -> bool {
    static SAID: Once = Once::new();
    let here = Path::new(SCT).is_dir();
    if !here {
        SAID.call_once(|| {
            let checkout = Path::new(env!("CARGO_MANIFEST_DIR"))
                .ancestors()
                .nth(2)
                .unwrap_or(Path::new("."));
            let _ = writeln!(
                std::io::stderr(),
                "real_sct_configs: skipped: ../shared/sct-configs is not beside the checkout \
                 ({}); these checks of SCT's real files run when it is (CI requires it)",
                checkout.display()
            );
        });
    }
    here
}

fn sct(rel: &str) -> PathBuf {
    Path::new(SCT).join(rel)
}

/// Messages with the machine-specific part replaced, for snapshots.
fn stable(message: &str) -> String {
    message.replace(SCT, "<sct-configs>")
}

/// `Params::load` over the real files, layered as SCT layers them.
mod config {
    use super::*;

    use cr_core::config::{GceReservationType, OciShape, Params};

    fn env_map(vars: &[(&str, &str)]) -> BTreeMap<String, String> {
        vars.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn load(files: &[&str], vars: &[(&str, &str)]) -> Params {
        let files: Vec<PathBuf> = files.iter().map(|f| sct(f)).collect();
        Params::load(&files, &env_map(vars)).unwrap_or_else(|e| panic!("load failed: {e}"))
    }

    fn all_yaml_files(dir: &Path, out: &mut Vec<PathBuf>) {
        let mut entries: Vec<_> = std::fs::read_dir(dir)
            .expect("read sct-configs")
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
    fn every_real_file_parses_on_its_own() {
        if !present() {
            return;
        }
        let mut files = Vec::new();
        all_yaml_files(Path::new(SCT), &mut files);
        assert_eq!(files.len(), 12, "the set of real files changed: {files:?}");
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
        if !present() {
            return;
        }
        let p = load(&["defaults/test_default.yaml"], &[]);
        let src = sct("defaults/test_default.yaml").display().to_string();
        // Unknown keys are kept: nested maps, lists, nulls and empty lists intact.
        let v = &p.raw["teardown_validators"];
        assert_eq!(v.source, src);
        assert_eq!(v.value["scrub"]["timeout"], 1200);
        assert_eq!(p.raw["experimental_features"].value, serde_json::json!([]));
        assert_eq!(
            p.raw["backtrace_decoding_disable_regex"].value,
            serde_json::Value::Null
        );
        assert_eq!(
            p.raw["scylla_apt_keys"].value.as_array().map(Vec::len),
            Some(6)
        );
        // Secret-looking keys are never stored; empty ones stay empty.
        assert_eq!(p.raw["authenticator_password"].value, "");
        // Known keys from SCT's defaults.
        assert_eq!(p.test_duration, 60);
        assert_eq!(p.db_type, "scylla");
        assert_eq!(p.nemesis_add_node_cnt, 3);
        assert_eq!(p.n_monitor_nodes, vec![1]);
        assert_eq!(p.n_test_oracle_db_nodes, 1);
        assert_eq!(p.n_db_zero_token_nodes, vec![0]);
        assert_eq!(p.zero_token_instance_type_db, None, "'' means not set");
        assert_eq!(p.instance_type_db_oracle, None);
        assert!(!p.use_capacity_reservation);
        assert_eq!(p.source_of("use_capacity_reservation"), src);
    }

    #[test]
    fn aws_layers_as_sct_does() {
        if !present() {
            return;
        }
        let p = load(
            &[
                "defaults/test_default.yaml",
                "defaults/aws_config.yaml",
                "configurations/capacity_reservation.yaml",
                "test-cases/performance/perf-regression-predefined-throughput-steps.yaml",
            ],
            &[],
        );
        assert_eq!(p.instance_provision, "on_demand");
        assert_eq!(
            p.source_of("instance_provision"),
            sct("configurations/capacity_reservation.yaml")
                .display()
                .to_string()
        );
        assert!(p.use_capacity_reservation);
        assert_eq!(p.test_duration, 500);
        assert_eq!(p.n_db_nodes, vec![3]);
        assert_eq!(p.n_loaders, vec![4]);
        assert_eq!(
            p.nemesis_add_node_cnt, 0,
            "the test case overrides test_default's 3"
        );
        assert_eq!(p.region_name, vec!["eu-west-1"]);
        assert_eq!(p.availability_zone, vec!["a"]);
        assert_eq!(p.aws_instance_types.db.as_deref(), Some("i4i.4xlarge"));
        assert_eq!(p.aws_instance_types.loader.as_deref(), Some("c7i.8xlarge"));
        assert_eq!(p.aws_instance_types.monitor.as_deref(), Some("t3.small"));
        assert_eq!(
            p.azure_instance_types.db.as_deref(),
            Some("Standard_L16s_v4")
        );
        assert!(p.use_placement_group);
        assert_eq!(
            p.user_prefix.as_deref(),
            Some("perf-regression-predefined-steps")
        );
        assert_eq!(p.files.len(), 4);
        // A nested value of an unknown key.
        assert_eq!(p.raw["append_scylla_yaml"].value["auto_snapshot"], false);
        // cr's own keys fall back to its defaults.
        assert_eq!(p.reservation_buffer_minutes, 60);
        assert_eq!(p.max_reservation_hours, 168);
        assert!(!p.reserve_monitor_nodes);
        assert_eq!(p.source_of("max_reservation_hours"), "defaults");
    }

    #[test]
    fn gce_layers() {
        if !present() {
            return;
        }
        let p = load(
            &[
                "defaults/test_default.yaml",
                "defaults/gce_config.yaml",
                "configurations/gce/n2-highmem-16.yaml",
                "test-cases/features/gce-multiple-dc-shutdown-30mins.yaml",
            ],
            &[],
        );
        assert_eq!(p.gce_datacenter, vec!["us-east1"]);
        assert_eq!(p.gce_instance_types.db.as_deref(), Some("n2-highmem-16"));
        assert_eq!(p.gce_instance_types.loader, None);
        assert_eq!(p.gce_local_ssds, [4, 0, 0]);
        assert_eq!(p.gce_project, None, "'' means the default project");
        assert_eq!(p.test_duration, 45);
        assert_eq!(p.n_db_nodes, vec![2]);
        assert_eq!(p.instance_provision, "spot");
        assert_eq!(p.gce_reservation_type, GceReservationType::Regional);
        assert!(p.gce_reservation_specific);
    }

    #[test]
    fn oci_shapes_are_parsed() {
        if !present() {
            return;
        }
        let p = load(
            &[
                "defaults/test_default.yaml",
                "defaults/oci_config.yaml",
                "test-cases/longevity/longevity-100gb-4h.yaml",
                "configurations/oci/longevity-100gb-4h-cql-stress.yaml",
            ],
            &[],
        );
        assert_eq!(
            p.oci_instance_types[0],
            Some(OciShape {
                shape: "VM.DenseIO.E5.Flex".into(),
                ocpus: Some(8.0),
                memory_gb: None,
                nvmes: None
            })
        );
        assert_eq!(
            p.oci_instance_types[1],
            Some(OciShape {
                shape: "VM.Standard3.Flex".into(),
                ocpus: Some(8.0),
                memory_gb: Some(16.0),
                nvmes: None
            })
        );
        assert_eq!(p.oci_instance_types[2], None);
        assert_eq!(p.availability_zone, vec!["a", "b", "c"]);
        assert_eq!(p.oci_region_name, vec!["us-phoenix-1"]);
        assert_eq!(p.instance_provision, "on_demand");
        assert_eq!(p.user_prefix.as_deref(), Some("long-100gb-4h-oci"));
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
        if !present() {
            return;
        }
        let p = load(
            &[
                "defaults/test_default.yaml",
                "defaults/azure_config.yaml",
                "test-cases/longevity/longevity-azure-kms-10gb-3h.yaml",
            ],
            &[],
        );
        assert_eq!(p.azure_region_name, vec!["eastus"]);
        assert_eq!(
            p.azure_instance_types.db.as_deref(),
            Some("Standard_L8s_v3")
        );
        assert_eq!(
            p.availability_zone,
            Vec::<String>::new(),
            "'' means not set"
        );
        assert_eq!(p.n_db_nodes, vec![6]);
        assert_eq!(p.test_duration, 255);
    }

    #[test]
    fn environment_wins_over_every_file() {
        if !present() {
            return;
        }
        let p = load(
            &["defaults/test_default.yaml", "defaults/aws_config.yaml"],
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
        assert_eq!(p.n_db_nodes, vec![3, 3]);
        assert_eq!(p.source_of("n_db_nodes"), "SCT_N_DB_NODES");
        assert_eq!(p.n_loaders, vec![1, 2]);
        assert_eq!(p.region_name, vec!["eu-west-1", "us-east-1"]);
        assert!(p.use_capacity_reservation);
        assert_eq!(p.instance_provision, "on_demand");
        assert_eq!(p.test_id.as_deref(), Some("1e5"), "ids are taken verbatim");
        assert_eq!(p.availability_zone, vec!["a", "b"]);
        assert_eq!(p.test_duration, 90);
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
    }

    #[test]
    fn empty_environment_value_unsets_a_key() {
        if !present() {
            return;
        }
        let p = load(&["defaults/aws_config.yaml"], &[("SCT_REGION_NAME", "")]);
        assert!(p.region_name.is_empty());
        assert_eq!(p.source_of("region_name"), "SCT_REGION_NAME");
    }
}

/// The planner over the real files: enablement, regions, zones, demands, window and tags.
mod planner {
    use super::*;

    use cr_core::plan::{CapacityPlan, Demand, DemandDetails, Role};
    use cr_core::{Cloud, Error, ErrorKind, Params};
    use jiff::Timestamp;

    const TEST_ID: &str = "7dc6db84-eb01-4b61-a946-b5c72e0f6d71";

    const AWS_PERF: [&str; 4] = [
        "defaults/test_default.yaml",
        "defaults/aws_config.yaml",
        "configurations/capacity_reservation.yaml",
        "test-cases/performance/perf-regression-predefined-throughput-steps.yaml",
    ];
    const GCE: [&str; 3] = [
        "defaults/test_default.yaml",
        "defaults/gce_config.yaml",
        "configurations/gce/n2-highmem-16.yaml",
    ];
    const GCE_MULTI_DC: [&str; 4] = [
        "defaults/test_default.yaml",
        "defaults/gce_config.yaml",
        "configurations/gce/n2-highmem-16.yaml",
        "test-cases/features/gce-multiple-dc-shutdown-30mins.yaml",
    ];
    const OCI: [&str; 4] = [
        "defaults/test_default.yaml",
        "defaults/oci_config.yaml",
        "test-cases/longevity/longevity-100gb-4h.yaml",
        "configurations/oci/longevity-100gb-4h-cql-stress.yaml",
    ];
    const AZURE: [&str; 3] = [
        "defaults/test_default.yaml",
        "defaults/azure_config.yaml",
        "test-cases/longevity/longevity-azure-kms-10gb-3h.yaml",
    ];

    fn now() -> Timestamp {
        "2026-09-01T12:00:00Z".parse().expect("timestamp")
    }

    fn load(files: &[&str], vars: &[(&str, &str)]) -> Params {
        let files: Vec<PathBuf> = files.iter().map(|f| sct(f)).collect();
        let env: BTreeMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Params::load(&files, &env).unwrap_or_else(|e| panic!("load failed: {e}"))
    }

    fn plan(files: &[&str], vars: &[(&str, &str)], cloud: Cloud) -> CapacityPlan {
        CapacityPlan::build(&load(files, vars), cloud, now())
            .unwrap_or_else(|e| panic!("plan failed: {e}"))
    }

    fn plan_err(files: &[&str], vars: &[(&str, &str)], cloud: Cloud) -> Error {
        match CapacityPlan::build(&load(files, vars), cloud, now()) {
            Ok(p) => panic!("expected an error, got {p:#?}"),
            Err(e) => e,
        }
    }

    fn d(instance_type: &str, count: u32, roles: &[Role]) -> Demand {
        Demand {
            instance_type: instance_type.to_string(),
            count,
            roles: roles.to_vec(),
            details: DemandDetails::default(),
        }
    }

    fn ssd(mut demand: Demand, local_ssds: u32) -> Demand {
        demand.details.local_ssds = local_ssds;
        demand
    }

    fn minutes(plan: &CapacityPlan) -> i64 {
        (plan.end_time.as_second() - now().as_second()) / 60
    }

    /// The GCE reference case: 3 × n2-highmem-16 db nodes, 1 × n2-highcpu-8 loader, zone b.
    const GCE_REFERENCE: [(&str, &str); 8] = [
        ("SCT_TEST_ID", TEST_ID),
        ("SCT_GCE_USE_CAPACITY_RESERVATION", "true"),
        ("SCT_INSTANCE_PROVISION", "on_demand"),
        ("SCT_N_DB_NODES", "3"),
        ("SCT_N_LOADERS", "1"),
        ("SCT_GCE_INSTANCE_TYPE_LOADER", "n2-highcpu-8"),
        ("SCT_AVAILABILITY_ZONE", "b"),
        ("SCT_NEMESIS_ADD_NODE_CNT", "0"),
    ];

    #[test]
    fn gce_reference_case() {
        if !present() {
            return;
        }
        let p = plan(&GCE, &GCE_REFERENCE, Cloud::Gce);
        assert!(p.enabled, "{:?}", p.disabled_reason);
        assert_eq!(p.disabled_reason, None);
        assert_eq!(p.regions.len(), 1);
        let r = &p.regions[0];
        assert_eq!(r.region, "us-east1");
        assert_eq!(r.zones[0], "us-east1-b");
        assert_eq!(r.zones, vec!["us-east1-b"]);
        assert!(
            r.zone_fallback,
            "regional reservations fall back across zones"
        );
        assert_eq!(
            r.demands,
            vec![
                ssd(d("n2-highmem-16", 3, &[Role::Db]), 4),
                d("n2-highcpu-8", 1, &[Role::Loader]),
            ]
        );
        assert_eq!(p.duration_minutes, 120);
        assert_eq!(minutes(&p), 120);
        insta::assert_json_snapshot!(p);
    }

    #[test]
    fn gce_zonal_reservation_and_zone_in_datacenter() {
        if !present() {
            return;
        }
        let mut vars = GCE_REFERENCE.to_vec();
        vars.push(("SCT_GCE_RESERVATION_TYPE", "zonal"));
        vars.push(("SCT_GCE_DATACENTER", "us-west1-c"));
        let p = plan(&GCE, &vars, Cloud::Gce);
        let r = &p.regions[0];
        assert_eq!(r.region, "us-west1");
        assert_eq!(
            r.zones,
            vec!["us-west1-c"],
            "the datacenter's zone wins over letters"
        );
        assert!(!r.zone_fallback);
    }

    #[test]
    fn gce_nemesis_nodes_default_to_the_db_type() {
        if !present() {
            return;
        }
        // test_default's nemesis_add_node_cnt is 3: they are db nodes of the db type.
        let vars = &GCE_REFERENCE[..7];
        let p = plan(&GCE, vars, Cloud::Gce);
        assert_eq!(
            p.regions[0].demands,
            vec![
                ssd(d("n2-highmem-16", 6, &[Role::Db, Role::NemesisAdd]), 4),
                d("n2-highcpu-8", 1, &[Role::Loader]),
            ]
        );
    }

    #[test]
    fn gce_multi_dc_single_count_goes_to_the_first_region() {
        if !present() {
            return;
        }
        let mut vars = GCE_REFERENCE.to_vec();
        vars.retain(|(k, _)| *k != "SCT_N_DB_NODES" && *k != "SCT_N_LOADERS");
        vars.push(("SCT_GCE_DATACENTER", "us-east1 us-west1"));
        let p = plan(&GCE_MULTI_DC, &vars, Cloud::Gce);
        assert_eq!(p.duration_minutes, 45 + 60);
        let regions: Vec<&str> = p.regions.iter().map(|r| r.region.as_str()).collect();
        assert_eq!(regions, vec!["us-east1", "us-west1"]);
        // n_db_nodes: 2 and n_loaders: 1 are single values: SCT puts them in the first DC.
        assert_eq!(
            p.regions[0].demands,
            vec![
                ssd(d("n2-highmem-16", 2, &[Role::Db]), 4),
                d("n2-highcpu-8", 1, &[Role::Loader]),
            ]
        );
        assert_eq!(p.regions[0].zones, vec!["us-east1-b"]);
        assert_eq!(p.regions[1].demands, vec![]);
        assert_eq!(p.regions[1].zones, vec!["us-west1-b"]);
    }

    #[test]
    fn gce_multi_dc_lists_are_per_region() {
        if !present() {
            return;
        }
        let mut vars = GCE_REFERENCE.to_vec();
        vars.retain(|(k, _)| {
            ![
                "SCT_N_DB_NODES",
                "SCT_N_LOADERS",
                "SCT_NEMESIS_ADD_NODE_CNT",
            ]
            .contains(k)
        });
        vars.extend([
            ("SCT_GCE_DATACENTER", "us-east1 us-west1-a"),
            ("SCT_N_DB_NODES", "3 2"),
            ("SCT_N_LOADERS", "1 1"),
            ("SCT_NEMESIS_ADD_NODE_CNT", "1"),
        ]);
        let p = plan(&GCE_MULTI_DC, &vars, Cloud::Gce);
        assert_eq!(
            p.regions[0].demands,
            vec![
                ssd(d("n2-highmem-16", 4, &[Role::Db, Role::NemesisAdd]), 4),
                d("n2-highcpu-8", 1, &[Role::Loader]),
            ]
        );
        assert_eq!(p.regions[1].region, "us-west1");
        assert_eq!(p.regions[1].zones, vec!["us-west1-a"]);
        assert_eq!(
            p.regions[1].demands,
            vec![
                ssd(d("n2-highmem-16", 3, &[Role::Db, Role::NemesisAdd]), 4),
                d("n2-highcpu-8", 1, &[Role::Loader]),
            ]
        );
    }

    #[test]
    fn count_lists_longer_than_the_regions_are_an_error() {
        if !present() {
            return;
        }
        let mut vars = GCE_REFERENCE.to_vec();
        vars.retain(|(k, _)| *k != "SCT_N_DB_NODES");
        vars.push(("SCT_N_DB_NODES", "3 3"));
        let err = plan_err(&GCE, &vars, Cloud::Gce);
        assert_eq!(err.kind(), ErrorKind::InvalidConfig);
        insta::assert_snapshot!(stable(&err.to_string()), @"invalid configuration in SCT_N_DB_NODES: key `n_db_nodes` has value `3 3`, expected at most 1 entries, one per region of `gce_datacenter` (us-east1)");
    }

    #[test]
    fn simulated_regions_fold_every_dc_into_the_first_region() {
        if !present() {
            return;
        }
        let mut vars = GCE_REFERENCE.to_vec();
        vars.retain(|(k, _)| *k != "SCT_N_DB_NODES");
        vars.extend([("SCT_N_DB_NODES", "3 3"), ("SCT_SIMULATED_REGIONS", "2")]);
        let p = plan(&GCE, &vars, Cloud::Gce);
        assert_eq!(
            p.regions[0].demands[0],
            ssd(d("n2-highmem-16", 6, &[Role::Db]), 4)
        );
    }

    #[test]
    fn aws_perf_regression() {
        if !present() {
            return;
        }
        let p = plan(&AWS_PERF, &[("SCT_TEST_ID", TEST_ID)], Cloud::Aws);
        assert!(p.enabled, "{:?}", p.disabled_reason);
        assert_eq!(p.test_id.as_deref(), Some(TEST_ID));
        assert_eq!(p.regions.len(), 1);
        let r = &p.regions[0];
        assert_eq!(r.region, "eu-west-1");
        assert_eq!(r.zones, vec!["eu-west-1a"]);
        assert!(r.zone_fallback);
        // nemesis_add_node_cnt is 0 and monitors are not reserved.
        assert_eq!(
            r.demands,
            vec![
                d("i4i.4xlarge", 3, &[Role::Db]),
                d("c7i.8xlarge", 4, &[Role::Loader]),
            ]
        );
        assert_eq!(
            p.instance_types("eu-west-1"),
            vec!["i4i.4xlarge", "c7i.8xlarge"]
        );
        assert_eq!(p.duration_minutes, 500 + 60);
        assert_eq!(minutes(&p), 560);
        assert_eq!(p.end_time.to_string(), "2026-09-01T21:20:00Z");
    }

    #[test]
    fn aws_monitors_only_when_asked() {
        if !present() {
            return;
        }
        let p = plan(
            &AWS_PERF,
            &[
                ("SCT_TEST_ID", TEST_ID),
                ("SCT_RESERVE_MONITOR_NODES", "true"),
            ],
            Cloud::Aws,
        );
        assert_eq!(p.regions[0].demands[2], d("t3.small", 1, &[Role::Monitor]));
    }

    #[test]
    fn aws_longevity_needs_a_loader_type() {
        if !present() {
            return;
        }
        let files = [
            "defaults/test_default.yaml",
            "defaults/aws_config.yaml",
            "configurations/capacity_reservation.yaml",
            "test-cases/longevity/longevity-100gb-4h.yaml",
        ];
        // aws_config.yaml leaves instance_type_loader empty (SCT resolves it from sizing_loader).
        let err = plan_err(&files, &[("SCT_TEST_ID", TEST_ID)], Cloud::Aws);
        assert_eq!(err.kind(), ErrorKind::InvalidConfig);
        insta::assert_snapshot!(stable(&err.to_string()), @"invalid configuration in <sct-configs>/defaults/aws_config.yaml: key `instance_type_loader` has value ``, expected an instance type for aws: 2 loader node(s) (n_loaders) in region eu-west-1 need one");

        let p = plan(
            &files,
            &[
                ("SCT_TEST_ID", TEST_ID),
                ("SCT_INSTANCE_TYPE_LOADER", "c7i.2xlarge"),
                ("SCT_AVAILABILITY_ZONE", "b,c"),
            ],
            Cloud::Aws,
        );
        let r = &p.regions[0];
        assert_eq!(r.zones, vec!["eu-west-1b", "eu-west-1c"]);
        // 6 db nodes + test_default's nemesis_add_node_cnt 3, same type: summed.
        assert_eq!(
            r.demands,
            vec![
                d("i7i.2xlarge", 9, &[Role::Db, Role::NemesisAdd]),
                d("c7i.2xlarge", 2, &[Role::Loader]),
            ]
        );
        assert_eq!(p.duration_minutes, 330 + 60);
    }

    #[test]
    fn disabled_plans_say_exactly_why_and_keep_their_regions() {
        if !present() {
            return;
        }
        let files = [
            "defaults/test_default.yaml",
            "defaults/aws_config.yaml",
            "test-cases/longevity/longevity-100gb-4h.yaml",
        ];
        let p = plan(&files, &[("SCT_REUSE_CLUSTER", "0a1b2c")], Cloud::Aws);
        assert!(!p.enabled);
        insta::assert_snapshot!(stable(p.disabled_reason.as_deref().unwrap_or_default()), @"`use_capacity_reservation` is `false` (from <sct-configs>/defaults/test_default.yaml), must be true; `instance_provision` is `spot` (from <sct-configs>/defaults/aws_config.yaml), must be `on_demand`; `test_id` is not set by any file or SCT_TEST_ID, must be the test's id; `reuse_cluster` is `0a1b2c` (from SCT_REUSE_CLUSTER), must be unset or false: a reused cluster already has its instances");
        // The missing loader type does not matter while disabled; cancel still needs the region.
        assert_eq!(p.regions.len(), 1);
        assert_eq!(p.regions[0].region, "eu-west-1");
        assert!(p.regions[0].demands.is_empty());

        let p = plan(&AWS_PERF, &[("SCT_TEST_ID", "")], Cloud::Aws);
        assert_eq!(
            p.disabled_reason.as_deref(),
            Some("`test_id` is empty (from SCT_TEST_ID), must be the test's id")
        );

        // Each backend reads its own flag.
        let p = plan(&AWS_PERF, &[("SCT_TEST_ID", TEST_ID)], Cloud::Azure);
        insta::assert_snapshot!(stable(p.disabled_reason.as_deref().unwrap_or_default()), @"`azure_use_capacity_reservation` is `false` (from defaults), must be true");
    }

    #[test]
    fn end_time_is_capped() {
        if !present() {
            return;
        }
        let p = plan(
            &AWS_PERF,
            &[("SCT_TEST_ID", TEST_ID), ("SCT_TEST_DURATION", "20000")],
            Cloud::Aws,
        );
        assert_eq!(p.duration_minutes, 168 * 60);
        assert_eq!(minutes(&p), 168 * 60);
        let p = plan(
            &AWS_PERF,
            &[("SCT_TEST_ID", TEST_ID), ("SCT_MAX_RESERVATION_HOURS", "2")],
            Cloud::Aws,
        );
        assert_eq!(p.duration_minutes, 120);
        let p = plan(
            &AWS_PERF,
            &[
                ("SCT_TEST_ID", TEST_ID),
                ("SCT_RESERVATION_BUFFER_MINUTES", "0"),
            ],
            Cloud::Aws,
        );
        assert_eq!(p.duration_minutes, 500);
    }

    #[test]
    fn oci_longevity() {
        if !present() {
            return;
        }
        let p = plan(
            &OCI,
            &[
                ("SCT_TEST_ID", TEST_ID),
                ("SCT_OCI_USE_CAPACITY_RESERVATION", "true"),
            ],
            Cloud::Oci,
        );
        assert!(p.enabled, "{:?}", p.disabled_reason);
        let r = &p.regions[0];
        assert_eq!(r.region, "us-phoenix-1");
        assert_eq!(r.zones, vec!["AD-1", "AD-2", "AD-3"]);
        assert!(r.zone_fallback);
        let dense = DemandDetails {
            ocpus: Some(8.0),
            ..DemandDetails::default()
        };
        let standard = DemandDetails {
            ocpus: Some(8.0),
            memory_gb: Some(16.0),
            ..DemandDetails::default()
        };
        assert_eq!(
            r.demands,
            vec![
                Demand {
                    details: dense,
                    ..d("VM.DenseIO.E5.Flex", 9, &[Role::Db, Role::NemesisAdd])
                },
                Demand {
                    details: standard,
                    ..d("VM.Standard3.Flex", 2, &[Role::Loader])
                },
            ]
        );
        assert_eq!(
            p.tags.0.get("TestName").map(String::as_str),
            Some("long-100gb-4h-oci")
        );
        assert_eq!(p.tags.0.get("Backend").map(String::as_str), Some("oci"));
    }

    #[test]
    fn oci_zones() {
        if !present() {
            return;
        }
        let base = [
            ("SCT_TEST_ID", TEST_ID),
            ("SCT_OCI_USE_CAPACITY_RESERVATION", "true"),
        ];
        let mut vars = base.to_vec();
        vars.push(("SCT_OCI_AVAILABILITY_DOMAIN", "Uocm:PHX-AD-2"));
        assert_eq!(
            plan(&OCI, &vars, Cloud::Oci).regions[0].zones,
            vec!["Uocm:PHX-AD-2"]
        );
        let mut vars = base.to_vec();
        vars.push(("SCT_AVAILABILITY_ZONE", "d"));
        let err = plan_err(&OCI, &vars, Cloud::Oci);
        insta::assert_snapshot!(err.to_string(), @"invalid configuration in SCT_AVAILABILITY_ZONE: key `availability_zone` has value `d`, expected OCI availability domain letters `a`, `b` or `c` (AD-1 to AD-3)");
    }

    #[test]
    fn azure_longevity() {
        if !present() {
            return;
        }
        let vars = [
            ("SCT_TEST_ID", TEST_ID),
            ("SCT_AZURE_USE_CAPACITY_RESERVATION", "true"),
            ("SCT_INSTANCE_PROVISION", "on_demand"),
            ("SCT_AZURE_INSTANCE_TYPE_LOADER", "Standard_F8s_v2"),
            ("SCT_AVAILABILITY_ZONE", "1"),
        ];
        let p = plan(&AZURE, &vars, Cloud::Azure);
        assert!(p.enabled, "{:?}", p.disabled_reason);
        let r = &p.regions[0];
        assert_eq!(r.region, "eastus");
        assert_eq!(r.zones, vec!["1"]);
        assert!(r.zone_fallback);
        assert_eq!(
            r.demands,
            vec![
                d("Standard_L8s_v3", 9, &[Role::Db, Role::NemesisAdd]),
                d("Standard_F8s_v2", 1, &[Role::Loader]),
            ]
        );
        assert_eq!(p.duration_minutes, 255 + 60);

        let mut with_zones = vars.to_vec();
        with_zones.push(("SCT_AZURE_RESERVATION_ZONES", "2,3"));
        assert_eq!(
            plan(&AZURE, &with_zones, Cloud::Azure).regions[0].zones,
            vec!["2", "3"]
        );

        let mut letters = vars.to_vec();
        letters.retain(|(k, _)| *k != "SCT_AVAILABILITY_ZONE");
        letters.push(("SCT_AVAILABILITY_ZONE", "a"));
        let err = plan_err(&AZURE, &letters, Cloud::Azure);
        insta::assert_snapshot!(err.to_string(), @"invalid configuration in SCT_AVAILABILITY_ZONE: key `availability_zone` has value `a`, expected Azure zone numbers such as `1` or `1,2,3`");
    }

    #[test]
    fn azure_perf_regression_types() {
        if !present() {
            return;
        }
        let files = [
            "defaults/test_default.yaml",
            "defaults/azure_config.yaml",
            "test-cases/performance/perf-regression-predefined-throughput-steps.yaml",
        ];
        let p = plan(
            &files,
            &[
                ("SCT_TEST_ID", TEST_ID),
                ("SCT_AZURE_USE_CAPACITY_RESERVATION", "true"),
                ("SCT_INSTANCE_PROVISION", "on_demand"),
                ("SCT_RESERVE_MONITOR_NODES", "true"),
            ],
            Cloud::Azure,
        );
        assert_eq!(
            p.regions[0].zones,
            Vec::<String>::new(),
            "no zone configured: all from the cloud"
        );
        assert_eq!(
            p.regions[0].demands,
            vec![
                d("Standard_L16s_v4", 3, &[Role::Db]),
                d("Standard_F32as_v6", 4, &[Role::Loader]),
                d("Standard_D2_v4", 1, &[Role::Monitor]),
            ]
        );
    }

    #[test]
    fn counting_rules_for_extra_db_nodes() {
        if !present() {
            return;
        }
        let base = [("SCT_TEST_ID", TEST_ID)];
        let with = |extra: &[(&'static str, &'static str)]| {
            let mut vars = base.to_vec();
            vars.extend_from_slice(extra);
            plan(&AWS_PERF, &vars, Cloud::Aws).regions[0]
                .demands
                .clone()
        };
        // Grow-shrink nemesis nodes of their own type.
        assert_eq!(
            with(&[
                ("SCT_NEMESIS_ADD_NODE_CNT", "2"),
                ("SCT_NEMESIS_GROW_SHRINK_INSTANCE_TYPE", "i4i.8xlarge"),
            ]),
            vec![
                d("i4i.4xlarge", 3, &[Role::Db]),
                d("c7i.8xlarge", 4, &[Role::Loader]),
                d("i4i.8xlarge", 2, &[Role::NemesisAdd]),
            ]
        );
        // Zero-token nodes: the db type unless zero_token_instance_type_db is set.
        assert_eq!(
            with(&[
                ("SCT_USE_ZERO_NODES", "true"),
                ("SCT_N_DB_ZERO_TOKEN_NODES", "1")
            ]),
            vec![
                d("i4i.4xlarge", 4, &[Role::Db, Role::ZeroToken]),
                d("c7i.8xlarge", 4, &[Role::Loader]),
            ]
        );
        assert_eq!(
            with(&[
                ("SCT_USE_ZERO_NODES", "true"),
                ("SCT_N_DB_ZERO_TOKEN_NODES", "2"),
                ("SCT_ZERO_TOKEN_INSTANCE_TYPE_DB", "c7i.8xlarge"),
            ]),
            vec![
                d("i4i.4xlarge", 3, &[Role::Db]),
                d("c7i.8xlarge", 6, &[Role::Loader, Role::ZeroToken]),
            ]
        );
        // Zero-token nodes without use_zero_nodes are not counted.
        assert_eq!(with(&[("SCT_N_DB_ZERO_TOKEN_NODES", "2")]).len(), 2);
        // A platform migration target: as many nodes as n_db_nodes.
        assert_eq!(
            with(&[("SCT_INSTANCE_TYPE_DB_TARGET", "i8g.4xlarge")]),
            vec![
                d("i4i.4xlarge", 3, &[Role::Db]),
                d("c7i.8xlarge", 4, &[Role::Loader]),
                d("i8g.4xlarge", 3, &[Role::DbTarget]),
            ]
        );
        // Scale tests reserve up to cluster_target_size.
        assert_eq!(
            with(&[("SCT_CLUSTER_TARGET_SIZE", "10")])[0],
            d("i4i.4xlarge", 10, &[Role::Db])
        );
        // Oracle nodes only with a mixed db_type.
        assert_eq!(
            with(&[("SCT_INSTANCE_TYPE_DB_ORACLE", "i4i.2xlarge")]).len(),
            2,
            "db_type scylla has no oracle cluster"
        );
        assert_eq!(
            with(&[
                ("SCT_INSTANCE_TYPE_DB_ORACLE", "i4i.2xlarge"),
                ("SCT_DB_TYPE", "mixed_scylla"),
            ]),
            vec![
                d("i4i.4xlarge", 3, &[Role::Db]),
                d("c7i.8xlarge", 4, &[Role::Loader]),
                d("i4i.2xlarge", 1, &[Role::Oracle]),
            ]
        );
        let mut vars = base.to_vec();
        vars.push(("SCT_DB_TYPE", "mixed_cassandra"));
        let err = plan_err(&AWS_PERF, &vars, Cloud::Aws);
        insta::assert_snapshot!(stable(&err.to_string()), @"invalid configuration in <sct-configs>/defaults/test_default.yaml: key `instance_type_db_oracle` has value ``, expected an instance type for aws: 1 oracle db node(s) (n_test_oracle_db_nodes with a mixed db_type) in region eu-west-1 need one");
    }

    #[test]
    fn no_region_is_an_error_when_enabled() {
        if !present() {
            return;
        }
        let err = plan_err(
            &AWS_PERF,
            &[("SCT_TEST_ID", TEST_ID), ("SCT_REGION_NAME", "")],
            Cloud::Aws,
        );
        insta::assert_snapshot!(err.to_string(), @"invalid configuration in SCT_REGION_NAME: key `region_name` has value ``, expected at least one aws region");
    }

    #[test]
    fn tags_of_the_plan() {
        if !present() {
            return;
        }
        let p = plan(
            &AWS_PERF,
            &[
                ("SCT_TEST_ID", TEST_ID),
                ("USER", "alice"),
                ("SCT_COST_TAGS", "{team: qa, CostCenter: 42}"),
            ],
            Cloud::Aws,
        );
        let expected: BTreeMap<String, String> = [
            ("TestId", TEST_ID),
            ("CapacityReservation", "true"),
            ("Backend", "aws"),
            ("RunByUser", "alice"),
            ("TestName", "perf-regression-predefined-steps"),
            ("CreatedBy", "cr"),
            ("team", "qa"),
            ("CostCenter", "42"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        assert_eq!(p.tags.0, expected);
        assert_eq!(p.tags.test_id(), Some(TEST_ID));
        assert_eq!(p.tags.render(Cloud::Aws), expected);

        // An explicit test_name wins over user_prefix.
        let p = plan(
            &AWS_PERF,
            &[
                ("SCT_TEST_ID", TEST_ID),
                ("SCT_TEST_NAME", "longevity_test.LongevityTest.test_custom"),
            ],
            Cloud::Aws,
        );
        assert_eq!(
            p.tags.0.get("TestName").map(String::as_str),
            Some("longevity_test.LongevityTest.test_custom")
        );
    }
}
