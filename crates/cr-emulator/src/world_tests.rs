//! Unit tests of the shared world: scenario parsing as the issue writes it, capacity and
//! quota accounting, unoffered types, seeded faults, zone ids and the clock.

use super::*;
use crate::scenario::Fault;

fn scenario(yaml: &str) -> Scenario {
    Scenario::from_str_any(yaml).expect("scenario parses")
}

#[test]
fn the_issue_example_is_accepted_verbatim() {
    let s = scenario(
        r#"
seed: 7
default_capacity: 1000            # instances of any type not listed below
latency: {fixed_ms: 0, jitter_ms: 0}
lro_ms: 0                         # how long a long-running operation stays pending
clouds:
  aws:   {regions: {us-east-1: {zones: {us-east-1a: {i4i.large: 0}, us-east-1b: {i4i.large: 10}}}}}
  gce:   {regions: {us-east1: {zones: {us-east1-b: {n2-highmem-16: 0}}}}}
  azure: {regions: {eastus: {zones: {"1": {Standard_L8s_v3: 0}}}}}
  oci:   {regions: {us-phoenix-1: {zones: {AD-1: {VM.DenseIO.E5.Flex: 0}}}}}   # an AD's full name or its AD-N suffix
faults:
  - {cloud: aws, operation: CreateCapacityReservation, kind: throttle, rate: 0.1}
"#,
    );
    let w = World::new(s);
    assert_eq!(
        w.capacity_total(CloudKind::Aws, "us-east-1", "us-east-1a", "i4i.large"),
        0
    );
    assert_eq!(
        w.capacity_total(CloudKind::Aws, "us-east-1", "us-east-1a", "m5.large"),
        1000
    );
    assert_eq!(
        w.capacity_total(CloudKind::Aws, "us-east-1", "us-east-1b", "i4i.large"),
        10
    );
    assert_eq!(
        w.capacity_total(CloudKind::Aws, "us-east-1", "us-east-1c", "i4i.large"),
        1000
    );
    assert_eq!(
        w.capacity_total(
            CloudKind::Oci,
            "us-phoenix-1",
            "Emul:PHX-AD-1",
            "VM.DenseIO.E5.Flex"
        ),
        0
    );
    assert_eq!(
        w.capacity_total(
            CloudKind::Oci,
            "us-phoenix-1",
            "Emul:PHX-AD-2",
            "VM.DenseIO.E5.Flex"
        ),
        1000
    );
    assert_eq!(
        w.capacity_total(CloudKind::Azure, "eastus", "1", "Standard_L8s_v3"),
        0
    );
    // The OCI region keeps its three ADs; naming AD-1 by suffix does not add a fourth.
    assert_eq!(
        w.region(CloudKind::Oci, "us-phoenix-1")
            .unwrap()
            .zones
            .len(),
        3
    );
}

#[test]
fn consume_and_release_track_stock_and_vcpu_quota() {
    // 10 vCPUs of EC2's standard bucket: five i4i.large (2 vCPUs each).
    let s = scenario(
        "clouds: {aws: {regions: {us-east-1: {quotas: {standard: 10}, zones: {us-east-1b: {i4i.large: 3}}}}}}",
    );
    let w = World::new(s);
    let c = CloudKind::Aws;
    assert_eq!(
        w.try_consume(c, "us-east-1", "us-east-1b", "i4i.large", 2),
        Ok(())
    );
    assert_eq!(
        w.try_consume(c, "us-east-1", "us-east-1b", "i4i.large", 2),
        Err(CapacityDenied::Stockout { available: 1 })
    );
    assert_eq!(
        w.try_consume(c, "us-east-1", "us-east-1a", "i4i.large", 3),
        Ok(())
    );
    assert_eq!(
        w.try_consume(c, "us-east-1", "us-east-1a", "i4i.large", 1),
        Err(CapacityDenied::Quota {
            metric: "standard".into(),
            limit: 10,
            used: 10,
            needed: 2
        })
    );
    // Another bucket is not affected.
    assert_eq!(
        w.try_consume(c, "us-east-1", "us-east-1a", "g5.xlarge", 1),
        Ok(())
    );
    assert_eq!(w.quota_used(c, "us-east-1", "", "G"), 4);
    w.release(c, "us-east-1", "us-east-1b", "i4i.large", 2);
    assert_eq!(w.available(c, "us-east-1", "us-east-1b", "i4i.large"), 3);
    assert_eq!(w.quota_used(c, "us-east-1", "", "standard"), 6);
    assert_eq!(w.quota_limit(c, "us-east-1", "standard"), 10);
    assert_eq!(
        w.quota_limit(c, "us-east-1", "G"),
        crate::quota::DEFAULT_VCPU_QUOTA
    );
}

#[test]
fn gce_counts_the_family_and_the_regional_total() {
    let s = scenario("clouds: {gce: {regions: {us-east1: {quotas: {N2_CPUS: 40, CPUS: 48}}}}}");
    let w = World::new(s);
    let c = CloudKind::Gce;
    assert_eq!(
        w.try_consume(c, "us-east1", "us-east1-b", "n2-highmem-16", 2),
        Ok(())
    );
    // 32 of N2_CPUS' 40 held: 16 more would pass CPUS (48) but not N2_CPUS.
    assert!(matches!(
        w.try_consume(c, "us-east1", "us-east1-c", "n2-standard-16", 1),
        Err(CapacityDenied::Quota { ref metric, limit: 40, used: 32, needed: 16 }) if metric == "N2_CPUS"
    ));
    // N1 counts only against CPUS: 32 + 16 = 48 fits, one more vCPU does not.
    assert_eq!(
        w.try_consume(c, "us-east1", "us-east1-c", "n1-standard-16", 1),
        Ok(())
    );
    assert!(matches!(
        w.try_consume(c, "us-east1", "us-east1-c", "n1-standard-1", 1),
        Err(CapacityDenied::Quota { ref metric, .. }) if metric == "CPUS"
    ));
    assert_eq!(w.quota_used(c, "us-east1", "", "CPUS"), 48);
}

#[test]
fn oci_core_limits_are_per_availability_domain() {
    let s =
        scenario("clouds: {oci: {regions: {us-phoenix-1: {quotas: {standard-e4-core-count: 8}}}}}");
    let w = World::new(s);
    let c = CloudKind::Oci;
    let ad = |n: u8| format!("kIdk:PHX-AD-{n}");
    assert_eq!(
        w.try_consume_vcpus(c, "us-phoenix-1", &ad(1), "VM.Standard.E4.Flex", 2, 8),
        Ok(())
    );
    assert!(matches!(
        w.try_consume_vcpus(c, "us-phoenix-1", &ad(1), "VM.Standard.E4.Flex", 1, 1),
        Err(CapacityDenied::Quota { .. })
    ));
    assert_eq!(
        w.try_consume_vcpus(c, "us-phoenix-1", &ad(2), "VM.Standard.E4.Flex", 2, 8),
        Ok(())
    );
    w.release(c, "us-phoenix-1", &ad(1), "VM.Standard.E4.Flex", 1);
    assert_eq!(
        w.quota_used(c, "us-phoenix-1", &ad(1), "standard-e4-core-count"),
        4
    );
}

#[test]
fn a_quota_metric_the_cloud_lacks_is_refused() {
    let e =
        Scenario::from_str_any("clouds: {gce: {regions: {us-east1: {quotas: {INSTANCES: 2}}}}}")
            .unwrap_err()
            .to_string();
    assert!(
        e.contains("clouds.gce.regions.us-east1.quotas: INSTANCES"),
        "{e}"
    );
}

#[test]
fn negative_counts_mean_not_offered() {
    let s = scenario(
        "clouds: {aws: {regions: {us-east-1: {zones: {us-east-1a: {p4d.24xlarge: -1}}}}}}",
    );
    let w = World::new(s);
    assert!(!w.offered(CloudKind::Aws, "us-east-1", "us-east-1a", "p4d.24xlarge"));
    assert_eq!(
        w.try_consume(CloudKind::Aws, "us-east-1", "us-east-1a", "p4d.24xlarge", 1),
        Err(CapacityDenied::NotOffered)
    );
}

#[test]
fn faults_are_reproducible_per_seed_and_respect_limits() {
    let mut s = Scenario {
        seed: 42,
        ..Scenario::default()
    };
    s.faults.push(Fault {
        cloud: CloudKind::Gce,
        operation: "reservations.get".into(),
        kind: FaultKind::ServerError,
        rate: 0.5,
        limit: None,
        garbage: None,
    });
    let run = |s: &Scenario| {
        let w = World::new(s.clone());
        (0..64)
            .map(|_| w.fault(CloudKind::Gce, "reservations.get").is_some())
            .collect::<Vec<_>>()
    };
    let a = run(&s);
    assert_eq!(a, run(&s));
    let hits = a.iter().filter(|h| **h).count();
    assert!(
        (10..=54).contains(&hits),
        "{hits} hits out of 64 at rate 0.5"
    );
    s.faults[0].limit = Some(3);
    let limited = run(&s);
    assert_eq!(limited.iter().filter(|h| **h).count(), 3.min(hits));
    s.seed = 43;
    assert_ne!(a, run(&s), "another seed gives another sequence");
}

#[test]
fn aws_zone_ids_follow_the_region_code() {
    assert_eq!(
        defaults::aws_zone_id("us-east-1a").as_deref(),
        Some("use1-az1")
    );
    assert_eq!(
        defaults::aws_zone_id("ap-northeast-1c").as_deref(),
        Some("apne1-az3")
    );
    assert_eq!(
        defaults::aws_zone_id("eu-central-1b").as_deref(),
        Some("euc1-az2")
    );
}

#[test]
fn the_clock_advances() {
    let w = World::new(Scenario::default());
    let before = w.now();
    w.advance(Duration::from_secs(3600));
    assert!(w.now().duration_since(before).as_secs() >= 3600);
    w.reset();
    assert!(w.now().duration_since(before).as_secs() < 3600);
}
