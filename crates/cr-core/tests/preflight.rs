//! The preflight against a mocked cloud: each area's pass, failure and not-checkable answer,
//! and that bad credentials stop every other check.

use std::collections::BTreeMap;

use cr_core::Cloud;
use cr_core::adapter::MockCloudAdapter;
use cr_core::engine::Engine;
use cr_core::error::{CloudError, ErrorKind};
use cr_core::plan::{CapacityPlan, Demand, DemandDetails, RegionPlan, Role};
use cr_core::preflight::{
    Area, Checkable, CredentialReport, PermissionCheck, PreflightReport, QuotaLine, Status,
};
use cr_core::retry::RetryPolicy;
use cr_core::tags::{TEST_ID, Tags};
use jiff::Timestamp;
use std::sync::Arc;

fn plan(zones: &[&str], zone_fallback: bool) -> CapacityPlan {
    CapacityPlan {
        backend: Cloud::Gce,
        enabled: true,
        disabled_reason: None,
        test_id: Some("t-1".into()),
        end_time: Timestamp::from_second(1_900_000_000).unwrap(),
        duration_minutes: 120,
        reuse_slack_minutes: 60,
        regions: vec![RegionPlan {
            region: "us-east1".into(),
            zones: zones.iter().map(|z| z.to_string()).collect(),
            zone_fallback,
            demands: vec![
                Demand {
                    instance_type: "n2-highmem-16".into(),
                    count: 3,
                    roles: vec![Role::Db],
                    details: DemandDetails::default(),
                },
                Demand {
                    instance_type: "e2-standard-2".into(),
                    count: 1,
                    roles: vec![Role::Loader],
                    details: DemandDetails::default(),
                },
            ],
        }],
        tags: Tags(BTreeMap::from([(TEST_ID.to_string(), "t-1".to_string())])),
    }
}

/// A cloud where everything is fine: both types in zones b and c, every action allowed, the
/// quota has room.
fn healthy() -> MockCloudAdapter {
    let mut m = MockCloudAdapter::new();
    m.expect_cloud().return_const(Cloud::Gce);
    m.expect_resolve_zones().returning(|_, z| Ok(z.to_vec()));
    m.expect_check_credentials().returning(|| {
        Ok(Checkable::Checked(CredentialReport {
            source: "service account key file /keys/sa.json".into(),
            identity: Some("cr@project.iam.gserviceaccount.com".into()),
        }))
    });
    m
}

fn permissions(m: &mut MockCloudAdapter, denied: &'static [&'static str]) {
    m.expect_check_permissions().returning(move |_| {
        Ok(Checkable::Checked(
            ["compute.reservations.create", "compute.reservations.delete"]
                .iter()
                .map(|a| {
                    PermissionCheck::checked(
                        *a,
                        !denied.contains(a),
                        format!("roles/compute.admin (or a custom role with {a})"),
                    )
                })
                .collect(),
        ))
    });
}

fn offered_in_b_and_c(m: &mut MockCloudAdapter) {
    m.expect_zones_offering()
        .returning(|_, _| Ok(vec!["us-east1-b".into(), "us-east1-c".into()]));
}

fn quota(m: &mut MockCloudAdapter, limit: u64) {
    m.expect_quota_headroom().returning(move |_, _| {
        Ok(Checkable::Checked(vec![QuotaLine {
            metric: "N2_CPUS".into(),
            unit: "vCPUs of family N2".into(),
            limit,
            used: 8,
            needed: 48,
        }]))
    });
}

async fn run(m: MockCloudAdapter, plan: &CapacityPlan) -> PreflightReport {
    Engine::new(Arc::new(m), RetryPolicy::none())
        .preflight(plan)
        .await
}

fn of(report: &PreflightReport, area: Area) -> Vec<&cr_core::preflight::Finding> {
    report.findings.iter().filter(|f| f.area == area).collect()
}

#[tokio::test]
async fn a_healthy_account_passes_every_area() {
    let mut m = healthy();
    permissions(&mut m, &[]);
    offered_in_b_and_c(&mut m);
    quota(&mut m, 100);
    let report = run(m, &plan(&["us-east1-b"], true)).await;
    assert!(report.can_reserve(), "{report:#?}");
    for area in [
        Area::Credentials,
        Area::Permissions,
        Area::Offerings,
        Area::Quota,
    ] {
        let found = of(&report, area);
        assert!(!found.is_empty(), "no {area:?} finding: {report:#?}");
        assert!(
            found.iter().all(|f| f.status == Status::Pass),
            "{report:#?}"
        );
    }
    assert!(
        of(&report, Area::Credentials)[0]
            .detail
            .contains("cr@project")
    );
    assert_eq!(
        of(&report, Area::Offerings).len(),
        2,
        "one finding per type"
    );
}

#[tokio::test]
async fn a_missing_permission_is_named_with_the_line_that_grants_it() {
    let mut m = healthy();
    permissions(&mut m, &["compute.reservations.delete"]);
    offered_in_b_and_c(&mut m);
    quota(&mut m, 100);
    let report = run(m, &plan(&["us-east1-b"], true)).await;
    assert!(!report.can_reserve());
    let failed: Vec<_> = report.failures().collect();
    assert_eq!(failed.len(), 1, "{report:#?}");
    assert_eq!(failed[0].area, Area::Permissions);
    assert_eq!(failed[0].subject, "compute.reservations.delete");
    assert!(
        failed[0]
            .fix
            .as_deref()
            .unwrap()
            .contains("roles/compute.admin")
    );
    assert_eq!(failed[0].region.as_deref(), Some("us-east1"));
}

#[tokio::test]
async fn a_type_not_offered_in_the_configured_zones_names_them() {
    let mut m = healthy();
    permissions(&mut m, &[]);
    offered_in_b_and_c(&mut m);
    quota(&mut m, 100);
    // Zone d is configured, fallback off: neither type can be had.
    let report = run(m, &plan(&["us-east1-d"], false)).await;
    assert!(!report.can_reserve());
    let offerings = of(&report, Area::Offerings);
    assert_eq!(offerings.len(), 2);
    for f in offerings {
        assert_eq!(f.status, Status::Fail, "{f:#?}");
        assert!(f.detail.contains("us-east1-d"), "{f:#?}");
        assert!(f.fix.is_some());
    }
}

#[tokio::test]
async fn with_fallback_a_configured_zone_lacking_the_type_is_named_but_passes() {
    let mut m = healthy();
    permissions(&mut m, &[]);
    offered_in_b_and_c(&mut m);
    quota(&mut m, 100);
    let report = run(m, &plan(&["us-east1-d"], true)).await;
    assert!(report.can_reserve(), "{report:#?}");
    let f = of(&report, Area::Offerings)[0];
    assert!(
        f.detail.contains("offered in us-east1-b, us-east1-c"),
        "{f:#?}"
    );
    assert!(f.detail.contains("not in us-east1-d"), "{f:#?}");
}

#[tokio::test]
async fn a_short_quota_says_by_how_much() {
    let mut m = healthy();
    permissions(&mut m, &[]);
    offered_in_b_and_c(&mut m);
    quota(&mut m, 40);
    let report = run(m, &plan(&["us-east1-b"], true)).await;
    assert!(!report.can_reserve());
    let f = report.failures().next().unwrap();
    assert_eq!(f.area, Area::Quota);
    assert_eq!(f.subject, "N2_CPUS");
    assert!(
        f.detail
            .contains("limit 40, used 8, the plan needs 48 (16 short)"),
        "{f:#?}"
    );
}

#[tokio::test]
async fn bad_credentials_stop_every_other_check() {
    let mut m = MockCloudAdapter::new();
    m.expect_cloud().return_const(Cloud::Gce);
    m.expect_check_credentials().returning(|| {
        Err(CloudError::new(
            ErrorKind::Unauthorized,
            Cloud::Gce,
            "token",
            "invalid_grant",
            "Invalid JWT Signature.",
        )
        .into())
    });
    // No other expectation: any further call would panic the mock.
    let report = run(m, &plan(&["us-east1-b"], true)).await;
    assert!(!report.can_reserve());
    assert_eq!(report.findings.len(), 1, "{report:#?}");
    assert_eq!(report.findings[0].area, Area::Credentials);
    assert_eq!(report.findings[0].code.as_deref(), Some("invalid_grant"));
}

#[tokio::test]
async fn what_the_cloud_cannot_check_is_said_and_does_not_fail() {
    let mut m = healthy();
    m.expect_check_permissions()
        .returning(|_| Ok(Checkable::not_checkable("no permission-test API")));
    offered_in_b_and_c(&mut m);
    m.expect_quota_headroom().returning(|_, _| {
        Ok(Checkable::not_checkable(
            "needs servicequotas:GetServiceQuota",
        ))
    });
    let report = run(m, &plan(&["us-east1-b"], true)).await;
    assert!(report.can_reserve(), "{report:#?}");
    let unchecked: Vec<_> = report
        .findings
        .iter()
        .filter(|f| f.status == Status::NotCheckable)
        .collect();
    assert_eq!(unchecked.len(), 2, "{report:#?}");
    assert!(
        unchecked
            .iter()
            .any(|f| f.detail.contains("GetServiceQuota"))
    );
}

#[tokio::test]
async fn an_action_checkable_only_by_doing_it_is_its_own_not_checkable_finding() {
    let mut m = healthy();
    m.expect_check_permissions().returning(|_| {
        Ok(Checkable::Checked(vec![
            PermissionCheck::checked("LIST", true, "Allow group g to inspect x"),
            PermissionCheck::unchecked(
                "CREATE",
                "Allow group g to manage x",
                "no permission-test API: known only by creating",
            ),
            PermissionCheck::unchecked(
                "DELETE",
                "Allow group g to manage x",
                "no permission-test API: known only by deleting",
            ),
        ]))
    });
    offered_in_b_and_c(&mut m);
    quota(&mut m, 100);
    let report = run(m, &plan(&["us-east1-b"], true)).await;
    assert!(report.can_reserve(), "{report:#?}");
    let perms = of(&report, Area::Permissions);
    assert_eq!(perms.len(), 3, "{report:#?}");
    assert_eq!(perms[0].status, Status::Pass);
    for (f, action) in perms[1..].iter().zip(["CREATE", "DELETE"]) {
        assert_eq!(f.status, Status::NotCheckable, "{f:?}");
        assert_eq!(f.subject, action);
        assert!(f.detail.contains("known only by"), "{f:?}");
        assert!(f.fix.as_deref().unwrap().contains("manage x"), "{f:?}");
    }
}

#[tokio::test]
async fn a_failed_quota_call_is_a_failed_finding_with_the_cloud_code() {
    let mut m = healthy();
    permissions(&mut m, &[]);
    offered_in_b_and_c(&mut m);
    m.expect_quota_headroom().returning(|_, _| {
        Err(CloudError::new(
            ErrorKind::Unauthorized,
            Cloud::Gce,
            "regions.get",
            "forbidden",
            "Required 'compute.regions.get' permission",
        )
        .into())
    });
    let report = run(m, &plan(&["us-east1-b"], true)).await;
    assert!(!report.can_reserve());
    let f = report.failures().next().unwrap();
    assert_eq!(
        (f.area, f.code.as_deref()),
        (Area::Quota, Some("forbidden"))
    );
}
