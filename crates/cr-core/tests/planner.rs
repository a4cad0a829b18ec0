//! The planner over the real SCT files: enablement, regions, zones, demands (the counting
//! rules of docs/configuration.md), the reservation window and tags.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use cr_core::plan::{CapacityPlan, Demand, DemandDetails, Role};
use cr_core::{Cloud, Error, ErrorKind, Params};
use jiff::Timestamp;

/// The SCT configuration files, beside the checkout (`<checkout>/../shared/sct-configs`).
const SCT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/sct-configs");

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
    let files: Vec<PathBuf> = files.iter().map(|f| Path::new(SCT).join(f)).collect();
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
    message.replace(SCT, "<sct-configs>")
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
    let mut vars = GCE_REFERENCE.to_vec();
    vars.retain(|(k, _)| *k != "SCT_N_DB_NODES");
    vars.push(("SCT_N_DB_NODES", "3 3"));
    let err = plan_err(&GCE, &vars, Cloud::Gce);
    assert_eq!(err.kind(), ErrorKind::InvalidConfig);
    insta::assert_snapshot!(stable(&err.to_string()), @"invalid configuration in SCT_N_DB_NODES: key `n_db_nodes` has value `3 3`, expected at most 1 entries, one per region of `gce_datacenter` (us-east1)");
}

#[test]
fn simulated_regions_fold_every_dc_into_the_first_region() {
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
