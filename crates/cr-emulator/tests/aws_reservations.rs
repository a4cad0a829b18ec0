//! EC2 capacity reservations over raw HTTP: create/describe/cancel, error shapes, SigV4
//! rejection, pagination, idempotency, pending/expiry transitions and seeded faults.

mod common;

use std::time::Duration;

use common::{Signer, client, ec2, ec2_with, start};
use cr_emulator::{AuditState, CloudKind};

const CREATE: (&str, &str) = ("Action", "CreateCapacityReservation");

fn create_params<'a>(zone: &'a str, ty: &'a str, count: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        CREATE,
        ("InstanceType", ty),
        ("InstancePlatform", "Linux/UNIX"),
        ("AvailabilityZone", zone),
        ("InstanceCount", count),
    ]
}

#[tokio::test]
async fn create_describe_with_tag_filter_and_cancel() {
    let emu = start("seed: 1").await;
    let mut p = create_params("us-east-1b", "i4i.large", "2");
    p.extend([
        ("InstanceMatchCriteria", "targeted"),
        ("TagSpecifications.1.ResourceType", "capacity-reservation"),
        ("TagSpecifications.1.Tag.1.Key", "owner"),
        ("TagSpecifications.1.Tag.1.Value", "ci"),
        ("TagSpecifications.1.Tag.2.Key", "Name"),
        ("TagSpecifications.1.Tag.2.Value", "pool-a"),
    ]);
    let created = ec2(&emu, "us-east-1", &p).await;
    assert_eq!(created.status, 200, "{}", created.body);
    assert!(created.body.contains(
        "<CreateCapacityReservationResponse xmlns=\"http://ec2.amazonaws.com/doc/2016-11-15/\">"
    ));
    assert_eq!(created.all("requestId").len(), 1);
    assert_eq!(
        created.request_id.as_deref(),
        Some(created.one("requestId").as_str())
    );
    let id = created.one("capacityReservationId");
    assert!(id.starts_with("cr-") && id.len() == 20, "{id}");
    assert_eq!(created.one("state"), "active");
    assert_eq!(created.one("totalInstanceCount"), "2");
    assert_eq!(created.one("availabilityZoneId"), "use1-az2");
    assert_eq!(created.one("instanceMatchCriteria"), "targeted");
    assert_eq!(created.one("ownerId"), emu.credentials().aws.account_id);
    assert!(created.body.contains("<tagSet><item><key>Name</key><value>pool-a</value></item><item><key>owner</key><value>ci</value></item></tagSet>"));

    // A second reservation without the tag must not match the tag filter.
    let other = ec2(
        &emu,
        "us-east-1",
        &create_params("us-east-1c", "m5.large", "1"),
    )
    .await;
    assert_eq!(other.status, 200);

    let by_tag = ec2(
        &emu,
        "us-east-1",
        &[
            ("Action", "DescribeCapacityReservations"),
            ("Filter.1.Name", "tag:owner"),
            ("Filter.1.Value.1", "ci"),
        ],
    )
    .await;
    assert_eq!(by_tag.status, 200, "{}", by_tag.body);
    assert_eq!(by_tag.all("capacityReservationId"), vec![id.clone()]);

    let by_key = ec2(
        &emu,
        "us-east-1",
        &[
            ("Action", "DescribeCapacityReservations"),
            ("Filter.1.Name", "tag-key"),
            ("Filter.1.Value.1", "own*"),
            ("Filter.2.Name", "state"),
            ("Filter.2.Value.1", "active"),
        ],
    )
    .await;
    assert_eq!(by_key.all("capacityReservationId"), vec![id.clone()]);

    let by_id = ec2(
        &emu,
        "us-east-1",
        &[
            ("Action", "DescribeCapacityReservations"),
            ("CapacityReservationId.1", &id),
        ],
    )
    .await;
    assert_eq!(by_id.all("capacityReservationId"), vec![id.clone()]);

    // Reservations are regional.
    let elsewhere = ec2(
        &emu,
        "us-west-2",
        &[("Action", "DescribeCapacityReservations")],
    )
    .await;
    assert_eq!(elsewhere.status, 200);
    assert!(elsewhere.all("capacityReservationId").is_empty());

    let cancelled = ec2(
        &emu,
        "us-east-1",
        &[
            ("Action", "CancelCapacityReservation"),
            ("CapacityReservationId", &id),
        ],
    )
    .await;
    assert_eq!(cancelled.status, 200, "{}", cancelled.body);
    assert!(
        cancelled
            .body
            .contains("<CancelCapacityReservationResponse")
    );
    assert_eq!(cancelled.one("return"), "true");

    let after = ec2(
        &emu,
        "us-east-1",
        &[
            ("Action", "DescribeCapacityReservations"),
            ("CapacityReservationId.1", &id),
        ],
    )
    .await;
    assert_eq!(after.one("state"), "cancelled");

    let again = ec2(
        &emu,
        "us-east-1",
        &[
            ("Action", "CancelCapacityReservation"),
            ("CapacityReservationId", &id),
        ],
    )
    .await;
    assert_eq!(
        (again.status, again.code().as_str()),
        (400, "IncorrectState")
    );

    let audit = emu.state();
    let rec = audit
        .reservations
        .iter()
        .find(|r| r.id == id)
        .expect("audited");
    assert_eq!(rec.cloud, CloudKind::Aws);
    assert_eq!(rec.state, AuditState::Cancelled);
    assert_eq!(rec.name, "pool-a");
    assert_eq!(
        (rec.zone.as_str(), rec.instance_type.as_str(), rec.count),
        ("us-east-1b", "i4i.large", 2)
    );
    assert_eq!(rec.tags.get("owner").map(String::as_str), Some("ci"));
    assert!(rec.ended_at.is_some());
    let log = emu.requests();
    assert!(
        log.iter()
            .any(|r| r.operation == "CancelCapacityReservation" && r.status == 200)
    );
    emu.shutdown().await;
}

/// EC2 filter values are patterns: `*` and `?` wildcards, `\` their escape. A test id holding
/// them matches itself only when escaped — and unescaped may match another test's id.
#[tokio::test]
async fn tag_filter_values_honour_wildcards_and_backslash_escapes() {
    let emu = start("").await;
    let mut ids = std::collections::BTreeMap::new();
    for test_id in [r"ci\run-*", "cirun-x", "ab?", "abc"] {
        let mut p = create_params("us-east-1b", "m5.large", "1");
        p.extend([
            ("TagSpecifications.1.ResourceType", "capacity-reservation"),
            ("TagSpecifications.1.Tag.1.Key", "TestId"),
            ("TagSpecifications.1.Tag.1.Value", test_id),
        ]);
        let created = ec2(&emu, "us-east-1", &p).await;
        assert_eq!(created.status, 200, "{}", created.body);
        ids.insert(test_id, created.one("capacityReservationId"));
    }
    let found = |value: &'static str| {
        let emu = &emu;
        async move {
            let r = ec2(
                emu,
                "us-east-1",
                &[
                    ("Action", "DescribeCapacityReservations"),
                    ("Filter.1.Name", "tag:TestId"),
                    ("Filter.1.Value.1", value),
                ],
            )
            .await;
            assert_eq!(r.status, 200, "{}", r.body);
            let mut got = r.all("capacityReservationId");
            got.sort();
            got
        }
    };
    // Escaped, each id finds exactly its own reservation.
    assert_eq!(found(r"ci\\run-\*").await, [ids[r"ci\run-*"].clone()]);
    assert_eq!(found(r"ab\?").await, [ids["ab?"].clone()]);
    // Unescaped, `\r` is a plain `r` and `*`, `?` are wildcards.
    assert_eq!(found(r"ci\run-*").await, [ids["cirun-x"].clone()]);
    let mut both = vec![ids["ab?"].clone(), ids["abc"].clone()];
    both.sort();
    assert_eq!(found("ab?").await, both);
    emu.shutdown().await;
}

#[tokio::test]
async fn stockout_quota_and_unoffered_types_use_ec2_error_shapes() {
    let emu = start(
        r#"
clouds:
  aws:
    regions:
      us-east-1:
        quotas: {standard: 24}
        zones:
          us-east-1a: {i4i.large: 0, p4d.24xlarge: -1}
          us-east-1b: {i4i.large: 10}
"#,
    )
    .await;
    let stockout = ec2(
        &emu,
        "us-east-1",
        &create_params("us-east-1a", "i4i.large", "1"),
    )
    .await;
    assert_eq!(stockout.status, 500);
    assert_eq!(stockout.code(), "InsufficientInstanceCapacity");
    assert!(stockout.body.contains("<RequestID>"), "{}", stockout.body);
    assert!(
        stockout.one("Message").contains("us-east-1b"),
        "hint names a zone with capacity"
    );

    let partial = ec2(
        &emu,
        "us-east-1",
        &create_params("us-east-1b", "i4i.large", "11"),
    )
    .await;
    assert_eq!(
        (partial.status, partial.code().as_str()),
        (500, "InsufficientInstanceCapacity")
    );

    let ok = ec2(
        &emu,
        "us-east-1",
        &create_params("us-east-1b", "i4i.large", "10"),
    )
    .await;
    assert_eq!(ok.status, 200, "{}", ok.body);
    let quota = ec2(
        &emu,
        "us-east-1",
        &create_params("us-east-1c", "m5.large", "3"),
    )
    .await;
    assert_eq!(
        (quota.status, quota.code().as_str()),
        (400, "InstanceLimitExceeded")
    );
    // 20 vCPUs of the standard bucket held (10 × i4i.large): 3 × m5.large (6) do not fit.
    assert!(
        quota.one("Message").contains("vCPU limit of 24"),
        "{}",
        quota.body
    );

    let unoffered = ec2(
        &emu,
        "us-east-1",
        &create_params("us-east-1a", "p4d.24xlarge", "1"),
    )
    .await;
    assert_eq!(
        (unoffered.status, unoffered.code().as_str()),
        (400, "Unsupported")
    );

    let missing = ec2(
        &emu,
        "us-east-1",
        &[
            CREATE,
            ("InstancePlatform", "Linux/UNIX"),
            ("AvailabilityZone", "us-east-1a"),
            ("InstanceCount", "1"),
        ],
    )
    .await;
    assert_eq!(
        (missing.status, missing.code().as_str()),
        (400, "MissingParameter")
    );

    let mut bad_platform = create_params("us-east-1b", "m5.large", "1");
    bad_platform[2] = ("InstancePlatform", "Plan9");
    let bad = ec2(&emu, "us-east-1", &bad_platform).await;
    assert_eq!(
        (bad.status, bad.code().as_str()),
        (400, "InvalidParameterValue")
    );

    let bad_zone = ec2(
        &emu,
        "us-east-1",
        &create_params("us-west-2a", "m5.large", "1"),
    )
    .await;
    assert_eq!(bad_zone.code(), "InvalidParameterValue");

    let mut limited = create_params("us-east-1b", "m5.large", "1");
    limited.push(("EndDateType", "limited"));
    let combo = ec2(&emu, "us-east-1", &limited).await;
    assert_eq!(
        (combo.status, combo.code().as_str()),
        (400, "InvalidParameterCombination")
    );

    let mut reserved_tag = create_params("us-east-1b", "m5.large", "1");
    reserved_tag.extend([
        ("TagSpecifications.1.ResourceType", "capacity-reservation"),
        ("TagSpecifications.1.Tag.1.Key", "aws:owner"),
        ("TagSpecifications.1.Tag.1.Value", "x"),
    ]);
    assert_eq!(
        ec2(&emu, "us-east-1", &reserved_tag).await.code(),
        "InvalidParameterValue"
    );

    let mut dry = create_params("us-east-1b", "m5.large", "1");
    dry.push(("DryRun", "true"));
    let dry = ec2(&emu, "us-east-1", &dry).await;
    assert_eq!((dry.status, dry.code().as_str()), (412, "DryRunOperation"));

    let unknown = ec2(
        &emu,
        "us-east-1",
        &[
            ("Action", "DescribeCapacityReservations"),
            ("CapacityReservationId.1", "cr-0123456789abcdef0"),
        ],
    )
    .await;
    assert_eq!(unknown.code(), "InvalidCapacityReservationId.NotFound");
    let malformed = ec2(
        &emu,
        "us-east-1",
        &[
            ("Action", "CancelCapacityReservation"),
            ("CapacityReservationId", "nope"),
        ],
    )
    .await;
    assert_eq!(malformed.code(), "InvalidCapacityReservationId.Malformed");
    let bad_action = ec2(&emu, "us-east-1", &[("Action", "RunInstancez")]).await;
    assert_eq!(bad_action.code(), "InvalidAction");
    let bad_filter = ec2(
        &emu,
        "us-east-1",
        &[
            ("Action", "DescribeCapacityReservations"),
            ("Filter.1.Name", "colour"),
            ("Filter.1.Value.1", "red"),
        ],
    )
    .await;
    assert_eq!(bad_filter.code(), "InvalidParameterValue");

    // Only the one successful reservation exists, and the log records the error codes.
    assert_eq!(emu.state().reservations.len(), 1);
    assert!(emu.requests().iter().any(|r| r.error_code.as_deref()
        == Some("InsufficientInstanceCapacity")
        && r.status == 500));
    emu.shutdown().await;
}

#[tokio::test]
async fn bad_missing_or_stale_signatures_are_rejected() {
    let emu = start("").await;
    let http = client(&emu);
    let base = emu.https_url();
    let good = Signer::for_emulator(&emu, "us-east-1");
    let params = [("Action", "DescribeCapacityReservations")];

    let ok = ec2_with(&http, base, &good, &params).await;
    assert_eq!(ok.status, 200, "{}", ok.body);

    let wrong_secret = Signer {
        secret: "x".repeat(40),
        ..good.clone()
    };
    let r = ec2_with(&http, base, &wrong_secret, &params).await;
    assert_eq!((r.status, r.code().as_str()), (401, "AuthFailure"));

    let unknown_key = Signer {
        access_key: "AKIAEXAMPLEEXAMPLE00".into(),
        ..good.clone()
    };
    let r = ec2_with(&http, base, &unknown_key, &params).await;
    assert_eq!((r.status, r.code().as_str()), (401, "AuthFailure"));

    let stale = Signer {
        skew_secs: -20 * 60,
        ..good.clone()
    };
    let r = ec2_with(&http, base, &stale, &params).await;
    assert_eq!((r.status, r.code().as_str()), (400, "RequestExpired"));

    let bogus_region = Signer {
        region: "us-east-9".into(),
        ..good.clone()
    };
    let r = ec2_with(&http, base, &bogus_region, &params).await;
    assert_eq!(r.status, 401);

    let unsigned = http
        .post(format!("{base}/"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("Action=DescribeCapacityReservations&Version=2016-11-15")
        .send()
        .await
        .unwrap();
    assert_eq!(unsigned.status().as_u16(), 401);
    assert!(
        unsigned
            .text()
            .await
            .unwrap()
            .contains("<Code>MissingAuthenticationToken</Code>")
    );

    // A body altered after signing no longer matches the signature.
    let body = common::form_encode(&[
        ("Action", "DescribeCapacityReservations"),
        ("Version", "2016-11-15"),
    ]);
    let host = base.trim_start_matches("https://");
    let mut req = http
        .post(format!("{base}/"))
        .body(format!("{body}&MaxResults=5"));
    for (k, v) in common::sign(&good, host, &body) {
        req = req.header(k, v);
    }
    let tampered = req.send().await.unwrap();
    assert_eq!(tampered.status().as_u16(), 401);

    // The plain-HTTP listener speaks the same protocol.
    let over_http = ec2_with(&http, emu.http_url(), &good, &params).await;
    assert_eq!(over_http.status, 200, "{}", over_http.body);
    emu.shutdown().await;
}

#[tokio::test]
async fn describe_paginates_with_next_token() {
    let emu = start("").await;
    let mut ids = Vec::new();
    for _ in 0..5 {
        let r = ec2(
            &emu,
            "eu-west-1",
            &create_params("eu-west-1a", "c5.large", "1"),
        )
        .await;
        assert_eq!(r.status, 200, "{}", r.body);
        ids.push(r.one("capacityReservationId"));
    }
    let mut seen = Vec::new();
    let mut token: Option<String> = None;
    let mut pages = 0;
    loop {
        let mut p = vec![
            ("Action", "DescribeCapacityReservations"),
            ("MaxResults", "2"),
        ];
        if let Some(t) = &token {
            p.push(("NextToken", t.as_str()));
        }
        let r = ec2(&emu, "eu-west-1", &p).await;
        assert_eq!(r.status, 200, "{}", r.body);
        pages += 1;
        let page = r.all("capacityReservationId");
        assert!(page.len() <= 2);
        seen.extend(page);
        token = r.all("nextToken").into_iter().next();
        if token.is_none() {
            break;
        }
    }
    assert_eq!(pages, 3);
    assert_eq!(seen, ids);
    let bad = ec2(
        &emu,
        "eu-west-1",
        &[
            ("Action", "DescribeCapacityReservations"),
            ("NextToken", "garbage"),
        ],
    )
    .await;
    assert_eq!(bad.code(), "InvalidPaginationToken");
    let bad_max = ec2(
        &emu,
        "eu-west-1",
        &[
            ("Action", "DescribeCapacityReservations"),
            ("MaxResults", "0"),
        ],
    )
    .await;
    assert_eq!(bad_max.code(), "InvalidParameterValue");
    emu.shutdown().await;
}

#[tokio::test]
async fn client_token_returns_the_original_reservation() {
    let emu =
        start("clouds: {aws: {regions: {us-east-2: {zones: {us-east-2a: {m5.large: 3}}}}}}").await;
    let mut p = create_params("us-east-2a", "m5.large", "2");
    p.push(("ClientToken", "token-1"));
    let first = ec2(&emu, "us-east-2", &p).await;
    let second = ec2(&emu, "us-east-2", &p).await;
    assert_eq!((first.status, second.status), (200, 200), "{}", second.body);
    assert_eq!(
        first.one("capacityReservationId"),
        second.one("capacityReservationId")
    );
    assert_eq!(
        emu.state().reservations.len(),
        1,
        "one reservation, capacity taken once"
    );
    assert_eq!(
        emu.world()
            .available(CloudKind::Aws, "us-east-2", "us-east-2a", "m5.large"),
        1
    );

    let mut changed = create_params("us-east-2a", "m5.large", "1");
    changed.push(("ClientToken", "token-1"));
    let mismatch = ec2(&emu, "us-east-2", &changed).await;
    assert_eq!(
        (mismatch.status, mismatch.code().as_str()),
        (400, "IdempotentParameterMismatch")
    );
    emu.shutdown().await;
}

#[tokio::test]
async fn end_date_expiry_releases_capacity() {
    let emu =
        start("clouds: {aws: {regions: {us-east-1: {zones: {us-east-1d: {r5.large: 4}}}}}}").await;
    let end = (jiff::Timestamp::now() + jiff::SignedDuration::from_hours(1)).to_string();
    let mut p = create_params("us-east-1d", "r5.large", "4");
    p.extend([("EndDateType", "limited"), ("EndDate", end.as_str())]);
    let r = ec2(&emu, "us-east-1", &p).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let id = r.one("capacityReservationId");
    assert_eq!(r.one("endDateType"), "limited");
    let full = ec2(
        &emu,
        "us-east-1",
        &create_params("us-east-1d", "r5.large", "1"),
    )
    .await;
    assert_eq!(full.code(), "InsufficientInstanceCapacity");

    emu.advance_clock(Duration::from_secs(2 * 3600));
    let d = ec2(
        &emu,
        "us-east-1",
        &[
            ("Action", "DescribeCapacityReservations"),
            ("CapacityReservationId.1", &id),
        ],
    )
    .await;
    assert_eq!(d.one("state"), "expired");
    let rec = emu
        .state()
        .reservations
        .into_iter()
        .find(|r| r.id == id)
        .unwrap();
    assert_eq!(rec.state, AuditState::Expired);
    assert!(rec.ended_at.is_some());
    let again = ec2(
        &emu,
        "us-east-1",
        &create_params("us-east-1d", "r5.large", "4"),
    )
    .await;
    assert_eq!(again.status, 200, "capacity came back: {}", again.body);
    emu.shutdown().await;
}

#[tokio::test]
async fn pending_becomes_active_and_failed_lro_fault_ends_failed() {
    let emu = start(
        r#"
lro_ms: 60000
faults:
  - {cloud: aws, operation: CreateCapacityReservation, kind: failed_lro, rate: 1.0, limit: 1}
"#,
    )
    .await;
    let failing = ec2(
        &emu,
        "us-east-1",
        &create_params("us-east-1a", "m5.large", "1"),
    )
    .await;
    assert_eq!(failing.status, 200);
    assert_eq!(failing.one("state"), "pending");
    let ok = ec2(
        &emu,
        "us-east-1",
        &create_params("us-east-1a", "m5.large", "1"),
    )
    .await;
    assert_eq!(ok.one("state"), "pending");
    let ok_id = ok.one("capacityReservationId");
    assert_eq!(emu.state().reservations[1].state, AuditState::Pending);

    emu.advance_clock(Duration::from_secs(61));
    let d = ec2(
        &emu,
        "us-east-1",
        &[("Action", "DescribeCapacityReservations")],
    )
    .await;
    let states = d.all("state");
    assert_eq!(states, ["failed", "active"], "{}", d.body);
    let audit = emu.state();
    assert_eq!(audit.reservations[0].state, AuditState::Cancelled);
    assert_eq!(audit.reservations[1].state, AuditState::Active);
    assert_eq!(audit.reservations[1].id, ok_id);
    emu.shutdown().await;
}

async fn fault_sequence(seed: u64) -> Vec<u16> {
    let emu = start(&format!(
        "seed: {seed}\nfaults:\n  - {{cloud: aws, operation: DescribeCapacityReservations, kind: throttle, rate: 0.5}}\n"
    ))
    .await;
    let http = client(&emu);
    let signer = Signer::for_emulator(&emu, "us-east-1");
    let mut out = Vec::new();
    for _ in 0..24 {
        let r = ec2_with(
            &http,
            emu.https_url(),
            &signer,
            &[("Action", "DescribeCapacityReservations")],
        )
        .await;
        if r.status == 503 {
            assert_eq!(r.code(), "RequestLimitExceeded");
        }
        out.push(r.status);
    }
    let logged: Vec<u16> = emu.requests().iter().map(|r| r.status).collect();
    assert_eq!(logged, out);
    emu.shutdown().await;
    out
}

#[tokio::test]
async fn throttle_faults_are_reproducible_under_a_seed() {
    let a = fault_sequence(7).await;
    let b = fault_sequence(7).await;
    assert_eq!(a, b);
    assert!(a.contains(&503) && a.contains(&200), "{a:?}");
    let c = fault_sequence(8).await;
    assert_ne!(a, c);
}

#[tokio::test]
async fn connection_reset_and_server_error_faults() {
    let emu = start(
        r#"
faults:
  - {cloud: aws, operation: DescribeRegions, kind: connection_reset, rate: 1.0, limit: 1}
  - {cloud: aws, operation: DescribeAvailabilityZones, kind: 5xx, rate: 1.0, limit: 1}
"#,
    )
    .await;
    let http = client(&emu);
    let signer = Signer::for_emulator(&emu, "us-east-1");
    let body = common::form_encode(&[("Action", "DescribeRegions"), ("Version", "2016-11-15")]);
    let host = emu.https_url().trim_start_matches("https://").to_owned();
    let mut req = http
        .post(format!("{}/", emu.https_url()))
        .body(body.clone());
    for (k, v) in common::sign(&signer, &host, &body) {
        req = req.header(k, v);
    }
    assert!(req.send().await.is_err(), "the connection is dropped");
    let ok = ec2(&emu, "us-east-1", &[("Action", "DescribeRegions")]).await;
    assert_eq!(ok.status, 200);
    let err = ec2(
        &emu,
        "us-east-1",
        &[("Action", "DescribeAvailabilityZones")],
    )
    .await;
    assert_eq!((err.status, err.code().as_str()), (500, "InternalError"));
    let log = emu.requests();
    assert_eq!(log[0].status, 0);
    assert_eq!(log[0].fault, Some(cr_emulator::FaultKind::ConnectionReset));
    emu.shutdown().await;
}

#[tokio::test]
async fn a_denied_permission_is_unauthorized_operation() {
    let emu = start("clouds: {aws: {denied_permissions: [ec2:CreateCapacityReservation]}}").await;
    let r = ec2(
        &emu,
        "us-east-1",
        &create_params("us-east-1a", "m5.large", "1"),
    )
    .await;
    assert_eq!(
        (r.status, r.code().as_str()),
        (403, "UnauthorizedOperation")
    );
    assert!(
        r.one("Message")
            .starts_with("You are not authorized to perform this operation. Encoded authorization failure message: "),
        "{}",
        r.body
    );
    assert!(emu.state().reservations.is_empty(), "nothing was created");
    // What is not denied still works.
    let d = ec2(
        &emu,
        "us-east-1",
        &[
            ("Action", "DescribeCapacityReservations"),
            ("Version", "2016-11-15"),
        ],
    )
    .await;
    assert_eq!(d.status, 200, "{}", d.body);
    assert!(
        !emu.world()
            .permission_granted(CloudKind::Aws, "ec2:CreateCapacityReservation")
    );
}
