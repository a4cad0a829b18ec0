//! The planner over cr's own SCT-style fixtures (`tests/data/sct`): enablement, regions, zones,
//! demands (the counting rules of docs/configuration.md), the reservation window and tags. The
//! same kinds of checks over SCT's real files are in `tests/real_sct_configs.rs`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use cr_core::plan::{CapacityPlan, Demand, DemandDetails, Role};
use cr_core::{Cloud, Error, ErrorKind, Params};
use jiff::Timestamp;

/// This crate's test data (`tests/data/README.md`); the SCT-style files are under `sct/`.
const DATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data");

const TEST_ID: &str = "7dc6db84-eb01-4b61-a946-b5c72e0f6d71";

const AWS_PERF: [&str; 4] = [
    "defaults/test_default.yaml",
    "defaults/aws_config.yaml",
    "configurations/capacity_reservation.yaml",
    "test-cases/performance/perf-latency-steps.yaml",
];
const AWS_LONGEVITY: [&str; 4] = [
    "defaults/test_default.yaml",
    "defaults/aws_config.yaml",
    "configurations/capacity_reservation.yaml",
    "test-cases/longevity/longevity-200gb-4h.yaml",
];
const AWS_THREE_REGIONS: [&str; 4] = [
    "defaults/test_default.yaml",
    "defaults/aws_config.yaml",
    "configurations/capacity_reservation.yaml",
    "test-cases/features/aws-three-regions.yaml",
];
const GCE: [&str; 3] = [
    "defaults/test_default.yaml",
    "defaults/gce_config.yaml",
    "configurations/gce/n2d-highmem-32.yaml",
];
const GCE_MULTI_DC: [&str; 4] = [
    "defaults/test_default.yaml",
    "defaults/gce_config.yaml",
    "configurations/gce/n2d-highmem-32.yaml",
    "test-cases/features/gce-multi-dc-counts.yaml",
];
const OCI: [&str; 4] = [
    "defaults/test_default.yaml",
    "defaults/oci_config.yaml",
    "test-cases/longevity/longevity-200gb-4h.yaml",
    "configurations/oci/longevity-200gb-4h-oci.yaml",
];
const AZURE: [&str; 3] = [
    "defaults/test_default.yaml",
    "defaults/azure_config.yaml",
    "test-cases/longevity/longevity-azure-3h.yaml",
];

fn now() -> Timestamp {
    "2026-09-01T12:00:00Z".parse().expect("timestamp")
}

/// `files` followed by `more` (an overlay of `configurations/`).
fn and<'a>(files: &[&'a str], more: &'a str) -> Vec<&'a str> {
    let mut all = files.to_vec();
    all.push(more);
    all
}

fn load(files: &[&str], vars: &[(&str, &str)]) -> Params {
    let files: Vec<PathBuf> = files
        .iter()
        .map(|f| Path::new(DATA).join("sct").join(f))
        .collect();
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

fn stable(message: &str) -> String {
    message.replace(DATA, "<data>")
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

/// A GCE case: 3 × n2d-highmem-32 db nodes (8 local SSDs), 1 × n2-highcpu-8 loader, zone b.
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

/// `GCE_REFERENCE` without the variables named in `drop`.
fn gce_vars_without(drop: &[&str]) -> Vec<(&'static str, &'static str)> {
    let mut vars = GCE_REFERENCE.to_vec();
    vars.retain(|(k, _)| !drop.contains(k));
    vars
}

#[test]
fn gce_reference_case() {
    let p = plan(&GCE, &GCE_REFERENCE, Cloud::Gce);
    assert!(p.enabled, "{:?}", p.disabled_reason);
    assert_eq!(p.disabled_reason, None);
    assert_eq!(p.regions.len(), 1);
    let r = &p.regions[0];
    assert_eq!(r.region, "us-central1", "gce_config.yaml's datacenter");
    assert_eq!(r.zones, vec!["us-central1-b"]);
    assert!(
        r.zone_fallback,
        "regional reservations fall back across zones"
    );
    assert_eq!(
        r.demands,
        vec![
            ssd(d("n2d-highmem-32", 3, &[Role::Db]), 8),
            d("n2-highcpu-8", 1, &[Role::Loader]),
        ]
    );
    assert_eq!(p.duration_minutes, 75 + 60, "test_default's test_duration");
    assert_eq!(minutes(&p), 135);
    insta::assert_json_snapshot!(p);
}

#[test]
fn gce_zonal_reservation_and_zone_in_datacenter() {
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
fn gce_zonal_without_any_zone_is_a_configuration_error() {
    // A region for gce_datacenter and no availability_zone: "zonal" names no zone to try.
    let mut vars = gce_vars_without(&["SCT_AVAILABILITY_ZONE"]);
    vars.push(("SCT_GCE_RESERVATION_TYPE", "zonal"));
    vars.push(("SCT_GCE_DATACENTER", "us-west1"));
    vars.push(("SCT_AVAILABILITY_ZONE", ""));
    let e = plan_err(&GCE, &vars, Cloud::Gce);
    assert_eq!(e.kind(), cr_core::ErrorKind::InvalidConfig, "{e}");
    let message = e.to_string();
    assert!(message.contains("SCT_GCE_RESERVATION_TYPE"), "{message}");
    assert!(message.contains("key `gce_reservation_type`"), "{message}");
    assert!(
        message.contains("`zonal` reserves only in the zone given"),
        "{message}"
    );
}

#[test]
fn gce_nemesis_nodes_default_to_the_db_type() {
    // test_default's nemesis_add_node_cnt is 2: they are db nodes of the db type.
    let vars = gce_vars_without(&["SCT_NEMESIS_ADD_NODE_CNT"]);
    let p = plan(&GCE, &vars, Cloud::Gce);
    assert_eq!(
        p.regions[0].demands,
        vec![
            ssd(d("n2d-highmem-32", 5, &[Role::Db, Role::NemesisAdd]), 8),
            d("n2-highcpu-8", 1, &[Role::Loader]),
        ]
    );
}

#[test]
fn gce_multi_dc_single_count_goes_to_the_first_region() {
    // SCT_N_DB_NODES=3 and SCT_N_LOADERS=1 replace the test case's per-DC strings with single
    // values: SCT puts them in the first DC.
    let p = plan(&GCE_MULTI_DC, &GCE_REFERENCE, Cloud::Gce);
    assert_eq!(p.duration_minutes, 50 + 60);
    let regions: Vec<&str> = p.regions.iter().map(|r| r.region.as_str()).collect();
    assert_eq!(regions, vec!["us-east1", "us-west1"]);
    assert_eq!(
        p.regions[0].demands,
        vec![
            ssd(d("n2d-highmem-32", 3, &[Role::Db]), 8),
            d("n2-highcpu-8", 1, &[Role::Loader]),
        ]
    );
    assert_eq!(p.regions[0].zones, vec!["us-east1-b"]);
    assert_eq!(p.regions[1].demands, vec![]);
    assert_eq!(
        p.regions[1].zones,
        vec!["us-west1-a"],
        "the datacenter's zone wins over letters"
    );
}

#[test]
fn gce_multi_dc_lists_are_per_region() {
    // The test case's n_db_nodes '3 2', n_loaders '1 1' and nemesis_add_node_cnt 1.
    let vars = gce_vars_without(&[
        "SCT_N_DB_NODES",
        "SCT_N_LOADERS",
        "SCT_NEMESIS_ADD_NODE_CNT",
    ]);
    let p = plan(&GCE_MULTI_DC, &vars, Cloud::Gce);
    assert_eq!(p.regions.len(), 2);
    assert_eq!(p.regions[0].region, "us-east1");
    assert_eq!(p.regions[0].zones, vec!["us-east1-b"]);
    assert_eq!(
        p.regions[0].demands,
        vec![
            ssd(d("n2d-highmem-32", 4, &[Role::Db, Role::NemesisAdd]), 8),
            d("n2-highcpu-8", 1, &[Role::Loader]),
        ]
    );
    assert_eq!(p.regions[1].region, "us-west1");
    assert_eq!(p.regions[1].zones, vec!["us-west1-a"]);
    assert_eq!(
        p.regions[1].demands,
        vec![
            ssd(d("n2d-highmem-32", 3, &[Role::Db, Role::NemesisAdd]), 8),
            d("n2-highcpu-8", 1, &[Role::Loader]),
        ]
    );
}

#[test]
fn aws_short_count_lists_leave_the_last_regions_empty() {
    // Three regions; n_db_nodes [3, 2], n_loaders 1, nemesis_add_node_cnt 1.
    let p = plan(&AWS_THREE_REGIONS, &[("SCT_TEST_ID", TEST_ID)], Cloud::Aws);
    assert!(p.enabled, "{:?}", p.disabled_reason);
    let regions: Vec<(&str, &[String])> = p
        .regions
        .iter()
        .map(|r| (r.region.as_str(), r.zones.as_slice()))
        .collect();
    assert_eq!(
        regions,
        vec![
            ("us-east-1", &["us-east-1a".to_string()][..]),
            ("eu-west-1", &["eu-west-1a".to_string()][..]),
            ("ap-south-1", &["ap-south-1a".to_string()][..]),
        ]
    );
    assert_eq!(
        p.regions[0].demands,
        vec![
            d("i4i.large", 4, &[Role::Db, Role::NemesisAdd]),
            d("c6i.xlarge", 1, &[Role::Loader]),
        ]
    );
    assert_eq!(
        p.regions[1].demands,
        vec![d("i4i.large", 3, &[Role::Db, Role::NemesisAdd])],
        "nemesis nodes in every region with db nodes; the single loader count in the first"
    );
    assert_eq!(
        p.regions[2].demands,
        vec![],
        "a list shorter than the regions"
    );
    assert_eq!(p.duration_minutes, 90 + 60);
}

#[test]
fn count_lists_longer_than_the_regions_are_an_error() {
    let vars = gce_vars_without(&["SCT_N_DB_NODES"]);
    let files = and(&GCE, "configurations/errors/two-dc-counts-one-region.yaml");
    let err = plan_err(&files, &vars, Cloud::Gce);
    assert_eq!(err.kind(), ErrorKind::InvalidConfig);
    insta::assert_snapshot!(stable(&err.to_string()), @"invalid configuration in <data>/sct/configurations/errors/two-dc-counts-one-region.yaml: key `n_db_nodes` has value `3 3`, expected at most 1 entries, one per region of `gce_datacenter` (us-central1)");

    // From the environment, over the two DCs of the multi-DC case.
    let mut vars = gce_vars_without(&["SCT_N_DB_NODES"]);
    vars.push(("SCT_N_DB_NODES", "2 2 2"));
    let err = plan_err(&GCE_MULTI_DC, &vars, Cloud::Gce);
    insta::assert_snapshot!(err.to_string(), @"invalid configuration in SCT_N_DB_NODES: key `n_db_nodes` has value `2 2 2`, expected at most 2 entries, one per region of `gce_datacenter` (us-east1 us-west1)");
}

#[test]
fn simulated_regions_fold_every_dc_into_the_first_region() {
    // simulated-dcs.yaml: simulated_regions 2 and n_db_nodes '2 3', in gce_config's one region.
    let vars = gce_vars_without(&["SCT_N_DB_NODES"]);
    let files = and(&GCE, "configurations/counting/simulated-dcs.yaml");
    let p = plan(&files, &vars, Cloud::Gce);
    assert_eq!(p.regions.len(), 1);
    assert_eq!(
        p.regions[0].demands[0],
        ssd(d("n2d-highmem-32", 5, &[Role::Db]), 8)
    );
}

#[test]
fn aws_performance_case() {
    let p = plan(&AWS_PERF, &[("SCT_TEST_ID", TEST_ID)], Cloud::Aws);
    assert!(p.enabled, "{:?}", p.disabled_reason);
    assert_eq!(p.test_id.as_deref(), Some(TEST_ID));
    assert_eq!(p.regions.len(), 1);
    let r = &p.regions[0];
    assert_eq!(r.region, "us-east-1");
    assert_eq!(r.zones, vec!["us-east-1b"]);
    assert!(r.zone_fallback);
    // nemesis_add_node_cnt is 0 and monitors are not reserved.
    assert_eq!(
        r.demands,
        vec![
            d("i4i.8xlarge", 3, &[Role::Db]),
            d("c6i.4xlarge", 2, &[Role::Loader]),
        ]
    );
    assert_eq!(
        p.instance_types("us-east-1"),
        vec!["i4i.8xlarge", "c6i.4xlarge"]
    );
    assert_eq!(p.duration_minutes, 420 + 60);
    assert_eq!(minutes(&p), 480);
    assert_eq!(p.end_time.to_string(), "2026-09-01T20:00:00Z");
}

#[test]
fn aws_monitors_only_when_asked() {
    let files = and(&AWS_PERF, "configurations/counting/reserve-monitors.yaml");
    let p = plan(&files, &[("SCT_TEST_ID", TEST_ID)], Cloud::Aws);
    assert_eq!(p.regions[0].demands.len(), 3);
    assert_eq!(p.regions[0].demands[2], d("t3.large", 1, &[Role::Monitor]));
}

#[test]
fn aws_longevity_needs_a_loader_type() {
    // aws_config.yaml leaves instance_type_loader empty (SCT resolves it from its sizing rules).
    let err = plan_err(&AWS_LONGEVITY, &[("SCT_TEST_ID", TEST_ID)], Cloud::Aws);
    assert_eq!(err.kind(), ErrorKind::InvalidConfig);
    insta::assert_snapshot!(stable(&err.to_string()), @"invalid configuration in <data>/sct/defaults/aws_config.yaml: key `instance_type_loader` has value ``, expected an instance type for aws: 3 loader node(s) (n_loaders) in region us-east-1 need one");

    let p = plan(
        &AWS_LONGEVITY,
        &[
            ("SCT_TEST_ID", TEST_ID),
            ("SCT_INSTANCE_TYPE_LOADER", "c6i.2xlarge"),
            ("SCT_AVAILABILITY_ZONE", "c,d"),
        ],
        Cloud::Aws,
    );
    let r = &p.regions[0];
    assert_eq!(r.zones, vec!["us-east-1c", "us-east-1d"]);
    // 4 db nodes + test_default's nemesis_add_node_cnt 2, same type: summed.
    assert_eq!(
        r.demands,
        vec![
            d("i4i.2xlarge", 6, &[Role::Db, Role::NemesisAdd]),
            d("c6i.2xlarge", 3, &[Role::Loader]),
        ]
    );
    assert_eq!(p.duration_minutes, 300 + 60);
}

#[test]
fn disabled_plans_say_exactly_why_and_keep_their_regions() {
    let files = [
        "defaults/test_default.yaml",
        "defaults/aws_config.yaml",
        "test-cases/longevity/longevity-200gb-4h.yaml",
    ];
    let p = plan(&files, &[("SCT_REUSE_CLUSTER", "0a1b2c")], Cloud::Aws);
    assert!(!p.enabled);
    insta::assert_snapshot!(stable(p.disabled_reason.as_deref().unwrap_or_default()), @"`use_capacity_reservation` is `false` (from <data>/sct/defaults/test_default.yaml), must be true; `instance_provision` is `spot` (from <data>/sct/defaults/aws_config.yaml), must be `on_demand`; `test_id` is not set by any file or SCT_TEST_ID, must be the test's id; `reuse_cluster` is `0a1b2c` (from SCT_REUSE_CLUSTER), must be unset or false: a reused cluster already has its instances");
    // The missing loader type does not matter while disabled; cancel still needs the region.
    assert_eq!(p.regions.len(), 1);
    assert_eq!(p.regions[0].region, "us-east-1");
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
    assert_eq!(p.duration_minutes, 420);
}

#[test]
fn oci_longevity() {
    let vars = [
        ("SCT_TEST_ID", TEST_ID),
        ("SCT_OCI_USE_CAPACITY_RESERVATION", "true"),
    ];
    let p = plan(&OCI, &vars, Cloud::Oci);
    assert!(p.enabled, "{:?}", p.disabled_reason);
    let r = &p.regions[0];
    assert_eq!(r.region, "us-ashburn-1");
    assert_eq!(r.zones, vec!["AD-1", "AD-2", "AD-3"]);
    assert!(r.zone_fallback);
    let dense = DemandDetails {
        ocpus: Some(16.0),
        ..DemandDetails::default()
    };
    let standard = DemandDetails {
        ocpus: Some(4.0),
        memory_gb: Some(32.0),
        ..DemandDetails::default()
    };
    assert_eq!(
        r.demands,
        vec![
            Demand {
                details: dense,
                ..d("VM.DenseIO.E5.Flex", 6, &[Role::Db, Role::NemesisAdd])
            },
            Demand {
                details: standard,
                ..d("VM.Standard.E5.Flex", 3, &[Role::Loader])
            },
        ]
    );
    assert_eq!(
        p.tags.0.get("TestName").map(String::as_str),
        Some("longevity-200gb-4h-oci")
    );
    assert_eq!(p.tags.0.get("Backend").map(String::as_str), Some("oci"));

    // The monitor shape leaves its OCPUs to the shape (`VM.Standard.E4.Flex::16`).
    let files = and(&OCI, "configurations/counting/reserve-monitors.yaml");
    let p = plan(&files, &vars, Cloud::Oci);
    assert_eq!(
        p.regions[0].demands[2],
        Demand {
            details: DemandDetails {
                memory_gb: Some(16.0),
                ..DemandDetails::default()
            },
            ..d("VM.Standard.E4.Flex", 1, &[Role::Monitor])
        }
    );
}

#[test]
fn oci_zones() {
    let base = [
        ("SCT_TEST_ID", TEST_ID),
        ("SCT_OCI_USE_CAPACITY_RESERVATION", "true"),
    ];
    let mut vars = base.to_vec();
    vars.push(("SCT_OCI_AVAILABILITY_DOMAIN", "Uocm:US-ASHBURN-AD-2"));
    assert_eq!(
        plan(&OCI, &vars, Cloud::Oci).regions[0].zones,
        vec!["Uocm:US-ASHBURN-AD-2"]
    );
    let files = and(
        &OCI,
        "configurations/errors/oci-fourth-availability-domain.yaml",
    );
    let err = plan_err(&files, &base, Cloud::Oci);
    insta::assert_snapshot!(stable(&err.to_string()), @"invalid configuration in <data>/sct/configurations/errors/oci-fourth-availability-domain.yaml: key `availability_zone` has value `d`, expected OCI availability domain letters `a`, `b` or `c` (AD-1 to AD-3)");
}

#[test]
fn azure_longevity() {
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
    assert_eq!(r.region, "westeurope");
    assert_eq!(r.zones, vec!["1"]);
    assert!(r.zone_fallback);
    assert_eq!(
        r.demands,
        vec![
            d("Standard_L16s_v3", 7, &[Role::Db, Role::NemesisAdd]),
            d("Standard_F8s_v2", 2, &[Role::Loader]),
        ]
    );
    assert_eq!(p.duration_minutes, 200 + 60);

    let mut with_zones = vars.to_vec();
    with_zones.push(("SCT_AZURE_RESERVATION_ZONES", "2,3"));
    assert_eq!(
        plan(&AZURE, &with_zones, Cloud::Azure).regions[0].zones,
        vec!["2", "3"]
    );

    // A zone letter from a file (the variable would win over it).
    let no_zone: Vec<_> = vars
        .iter()
        .copied()
        .filter(|(k, _)| *k != "SCT_AVAILABILITY_ZONE")
        .collect();
    let files = and(&AZURE, "configurations/errors/azure-zone-letter.yaml");
    let err = plan_err(&files, &no_zone, Cloud::Azure);
    insta::assert_snapshot!(stable(&err.to_string()), @"invalid configuration in <data>/sct/configurations/errors/azure-zone-letter.yaml: key `availability_zone` has value `a`, expected Azure zone numbers such as `1` or `1,2,3`");
}

#[test]
fn azure_performance_case_types() {
    let files = [
        "defaults/test_default.yaml",
        "defaults/azure_config.yaml",
        "test-cases/performance/perf-latency-steps.yaml",
        "configurations/counting/reserve-monitors.yaml",
    ];
    let p = plan(
        &files,
        &[
            ("SCT_TEST_ID", TEST_ID),
            ("SCT_AZURE_USE_CAPACITY_RESERVATION", "true"),
            ("SCT_INSTANCE_PROVISION", "on_demand"),
        ],
        Cloud::Azure,
    );
    assert_eq!(p.regions[0].region, "eastus2");
    assert_eq!(
        p.regions[0].zones,
        Vec::<String>::new(),
        "no zone configured: all from the cloud"
    );
    assert_eq!(
        p.regions[0].demands,
        vec![
            d("Standard_L32s_v3", 3, &[Role::Db]),
            d("Standard_F16s_v2", 2, &[Role::Loader]),
            d("Standard_D4s_v5", 1, &[Role::Monitor]),
        ]
    );
}

#[test]
fn counting_rules_for_extra_db_nodes() {
    // Each rule is one overlay of configurations/counting over the AWS performance case
    // (3 × i4i.8xlarge db, 2 × c6i.4xlarge loaders, nemesis_add_node_cnt 0).
    let with = |overlay: &str| {
        let files = and(&AWS_PERF, overlay);
        plan(&files, &[("SCT_TEST_ID", TEST_ID)], Cloud::Aws).regions[0]
            .demands
            .clone()
    };
    let base = vec![
        d("i4i.8xlarge", 3, &[Role::Db]),
        d("c6i.4xlarge", 2, &[Role::Loader]),
    ];
    // Grow-shrink nemesis nodes of their own type.
    assert_eq!(
        with("configurations/counting/grow-shrink-nemesis.yaml"),
        vec![
            d("i4i.8xlarge", 3, &[Role::Db]),
            d("c6i.4xlarge", 2, &[Role::Loader]),
            d("i4i.16xlarge", 2, &[Role::NemesisAdd]),
        ]
    );
    // A per-tenant list of nemesis counts counts as its largest entry, of the db type.
    assert_eq!(
        with("configurations/counting/nemesis-per-tenant.yaml"),
        vec![
            d("i4i.8xlarge", 6, &[Role::Db, Role::NemesisAdd]),
            d("c6i.4xlarge", 2, &[Role::Loader]),
        ]
    );
    // Zero-token nodes: the db type unless zero_token_instance_type_db is set.
    assert_eq!(
        with("configurations/counting/zero-token-nodes.yaml"),
        vec![
            d("i4i.8xlarge", 4, &[Role::Db, Role::ZeroToken]),
            d("c6i.4xlarge", 2, &[Role::Loader]),
        ]
    );
    assert_eq!(
        with("configurations/counting/zero-token-own-type.yaml"),
        vec![
            d("i4i.8xlarge", 3, &[Role::Db]),
            d("c6i.4xlarge", 4, &[Role::Loader, Role::ZeroToken]),
        ]
    );
    // Zero-token nodes without use_zero_nodes are not counted.
    assert_eq!(
        with("configurations/counting/zero-token-switched-off.yaml"),
        base
    );
    // A platform migration target: as many nodes as n_db_nodes.
    assert_eq!(
        with("configurations/counting/platform-migration.yaml"),
        vec![
            d("i4i.8xlarge", 3, &[Role::Db]),
            d("c6i.4xlarge", 2, &[Role::Loader]),
            d("i8g.8xlarge", 3, &[Role::DbTarget]),
        ]
    );
    // Scale tests reserve up to cluster_target_size.
    assert_eq!(
        with("configurations/counting/scale-to-target-size.yaml"),
        vec![
            d("i4i.8xlarge", 12, &[Role::Db]),
            d("c6i.4xlarge", 2, &[Role::Loader]),
        ]
    );
    // Oracle nodes only with a mixed db_type: test_default's n_test_oracle_db_nodes 2.
    assert_eq!(
        with("configurations/counting/oracle-type-with-scylla.yaml"),
        base,
        "db_type scylla has no oracle cluster"
    );
    assert_eq!(
        with("configurations/counting/mixed-scylla-oracle.yaml"),
        vec![
            d("i4i.8xlarge", 3, &[Role::Db]),
            d("c6i.4xlarge", 2, &[Role::Loader]),
            d("i4i.4xlarge", 2, &[Role::Oracle]),
        ]
    );
    let files = and(
        &AWS_PERF,
        "configurations/errors/mixed-cassandra-without-oracle-type.yaml",
    );
    let err = plan_err(&files, &[("SCT_TEST_ID", TEST_ID)], Cloud::Aws);
    insta::assert_snapshot!(stable(&err.to_string()), @"invalid configuration in <data>/sct/defaults/test_default.yaml: key `instance_type_db_oracle` has value ``, expected an instance type for aws: 2 oracle db node(s) (n_test_oracle_db_nodes with a mixed db_type) in region us-east-1 need one");
}

#[test]
fn no_region_is_an_error_when_enabled() {
    let err = plan_err(
        &AWS_PERF,
        &[("SCT_TEST_ID", TEST_ID), ("SCT_REGION_NAME", "")],
        Cloud::Aws,
    );
    insta::assert_snapshot!(err.to_string(), @"invalid configuration in SCT_REGION_NAME: key `region_name` has value ``, expected at least one aws region");
}

#[test]
fn tags_of_the_plan() {
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
        ("TestName", "perf-latency-steps"),
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
