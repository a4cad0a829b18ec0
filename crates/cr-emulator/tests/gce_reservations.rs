//! Compute Engine reservations over raw HTTP: insert/get/list/delete, aggregated list with
//! filters and pagination, the Operation life cycle, error shapes, `requestId` idempotency,
//! `deleteAfterDuration` expiry and seeded faults.

mod common;

use std::time::Duration;

use common::{gce, gce_token, reservation_body, start};
use cr_emulator::{AuditState, CloudKind};
use reqwest::Method;
use serde_json::json;

#[tokio::test]
async fn insert_get_list_delete_round_trip() {
    let emu = start("").await;
    let token = gce_token(&emu).await;
    let body = reservation_body("ci-pool-a-0001", "n2-highmem-16", json!("2"));
    let (status, op) = gce(
        &emu,
        &token,
        Method::POST,
        "zones/us-east1-b/reservations",
        Some(body),
    )
    .await;
    assert_eq!(status, 200, "{op}");
    assert_eq!(op["kind"], "compute#operation");
    assert_eq!(op["operationType"], "insert");
    assert_eq!(op["status"], "DONE");
    assert!(op.get("error").is_none(), "{op}");
    assert!(
        op["targetLink"]
            .as_str()
            .unwrap()
            .ends_with("/zones/us-east1-b/reservations/ci-pool-a-0001")
    );
    assert!(op["id"].is_string() && op["targetId"].is_string());

    let (status, r) = gce(
        &emu,
        &token,
        Method::GET,
        "zones/us-east1-b/reservations/ci-pool-a-0001",
        None,
    )
    .await;
    assert_eq!(status, 200, "{r}");
    assert_eq!(r["kind"], "compute#reservation");
    assert_eq!(r["status"], "READY");
    assert_eq!(r["specificReservation"]["count"], "2", "int64 as a string");
    assert_eq!(r["specificReservation"]["inUseCount"], "0");
    assert_eq!(
        r["specificReservation"]["instanceProperties"]["machineType"],
        "n2-highmem-16"
    );
    assert_eq!(
        r["specificReservation"]["instanceProperties"]["localSsds"][0]["diskSizeGb"],
        "375"
    );
    assert_eq!(r["specificReservationRequired"], true);
    assert_eq!(r["description"], "owner=ci");
    assert_eq!(r["id"], op["targetId"]);
    assert!(r["zone"].as_str().unwrap().ends_with("/zones/us-east1-b"));

    // A number for count is accepted too.
    let (status, _) = gce(
        &emu,
        &token,
        Method::POST,
        "zones/us-east1-b/reservations",
        Some(reservation_body("other-1", "n2-standard-8", json!(1))),
    )
    .await;
    assert_eq!(status, 200);

    let (_, list) = gce(
        &emu,
        &token,
        Method::GET,
        "zones/us-east1-b/reservations",
        None,
    )
    .await;
    assert_eq!(list["kind"], "compute#reservationList");
    let names: Vec<&str> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["ci-pool-a-0001", "other-1"]);

    let (_, filtered) = gce(
        &emu,
        &token,
        Method::GET,
        "aggregated/reservations?filter=name%20eq%20%22ci-pool-.*%22",
        None,
    )
    .await;
    assert_eq!(filtered["kind"], "compute#reservationAggregatedList");
    let scope = &filtered["items"]["zones/us-east1-b"];
    assert_eq!(scope["reservations"].as_array().unwrap().len(), 1);
    assert_eq!(scope["reservations"][0]["name"], "ci-pool-a-0001");
    let empty = &filtered["items"]["zones/us-central1-a"];
    assert_eq!(empty["warning"]["code"], "NO_RESULTS_ON_PAGE");
    assert_eq!(
        empty["warning"]["data"][0],
        json!({"key": "scope", "value": "zones/us-central1-a"})
    );

    let (_, aip) = gce(
        &emu,
        &token,
        Method::GET,
        "zones/us-east1-b/reservations?filter=name%20%3D%20%22other-1%22",
        None,
    )
    .await;
    assert_eq!(aip["items"].as_array().unwrap().len(), 1);

    let (status, del) = gce(
        &emu,
        &token,
        Method::DELETE,
        "zones/us-east1-b/reservations/ci-pool-a-0001",
        None,
    )
    .await;
    assert_eq!(status, 200, "{del}");
    assert_eq!(
        (del["operationType"].as_str(), del["status"].as_str()),
        (Some("delete"), Some("DONE"))
    );
    let (status, gone) = gce(
        &emu,
        &token,
        Method::GET,
        "zones/us-east1-b/reservations/ci-pool-a-0001",
        None,
    )
    .await;
    assert_eq!(status, 404);
    assert_eq!(gone["error"]["code"], 404);
    assert_eq!(gone["error"]["errors"][0]["reason"], "notFound");

    let audit = emu.state();
    let rec = audit
        .reservations
        .iter()
        .find(|r| r.name == "ci-pool-a-0001")
        .unwrap();
    assert_eq!(rec.cloud, CloudKind::Gce);
    assert_eq!(rec.state, AuditState::Cancelled);
    assert_eq!(
        (rec.region.as_str(), rec.zone.as_str(), rec.count),
        ("us-east1", "us-east1-b", 2)
    );
    assert!(rec.ended_at.is_some());
    emu.shutdown().await;
}

#[tokio::test]
async fn operations_go_pending_running_done() {
    let emu = start("lro_ms: 60000").await;
    let token = gce_token(&emu).await;
    let (_, op) = gce(
        &emu,
        &token,
        Method::POST,
        "zones/europe-west1-b/reservations",
        Some(reservation_body("slow", "n2-standard-4", json!("1"))),
    )
    .await;
    assert_eq!(op["status"], "PENDING");
    let op_path = format!(
        "zones/europe-west1-b/operations/{}",
        op["name"].as_str().unwrap()
    );
    let (_, r) = gce(
        &emu,
        &token,
        Method::GET,
        "zones/europe-west1-b/reservations/slow",
        None,
    )
    .await;
    assert_eq!(r["status"], "CREATING");
    assert_eq!(emu.state().reservations[0].state, AuditState::Pending);

    emu.advance_clock(Duration::from_secs(31));
    let (_, running) = gce(&emu, &token, Method::GET, &op_path, None).await;
    assert_eq!(running["status"], "RUNNING");
    assert!(running.get("startTime").is_some());

    let (status, not_ready) = gce(
        &emu,
        &token,
        Method::DELETE,
        "zones/europe-west1-b/reservations/slow",
        None,
    )
    .await;
    assert_eq!(
        (status, not_ready["error"]["errors"][0]["reason"].as_str()),
        (400, Some("resourceNotReady"))
    );

    emu.advance_clock(Duration::from_secs(30));
    let (_, done) = gce(&emu, &token, Method::GET, &op_path, None).await;
    assert_eq!(done["status"], "DONE");
    assert_eq!(done["progress"], 100);
    assert!(done.get("endTime").is_some());
    let (_, r) = gce(
        &emu,
        &token,
        Method::GET,
        "zones/europe-west1-b/reservations/slow",
        None,
    )
    .await;
    assert_eq!(r["status"], "READY");
    assert_eq!(emu.state().reservations[0].state, AuditState::Active);

    // wait blocks until DONE by the world clock; a short real-time LRO finishes on its own.
    emu.set_scenario(cr_emulator::Scenario::from_str_any("lro_ms: 300").unwrap());
    let (_, del) = gce(
        &emu,
        &token,
        Method::DELETE,
        "zones/europe-west1-b/reservations/slow",
        None,
    )
    .await;
    assert_ne!(del["status"], "DONE");
    let wait_path = format!(
        "zones/europe-west1-b/operations/{}/wait",
        del["name"].as_str().unwrap()
    );
    let (status, waited) = gce(&emu, &token, Method::POST, &wait_path, None).await;
    assert_eq!(
        (status, waited["status"].as_str()),
        (200, Some("DONE")),
        "{waited}"
    );
    let (status, _) = gce(
        &emu,
        &token,
        Method::GET,
        "zones/europe-west1-b/reservations/slow",
        None,
    )
    .await;
    assert_eq!(status, 404);

    let (_, ops) = gce(
        &emu,
        &token,
        Method::GET,
        "zones/europe-west1-b/operations",
        None,
    )
    .await;
    assert_eq!(ops["items"].as_array().unwrap().len(), 2);
    let (status, missing) = gce(
        &emu,
        &token,
        Method::GET,
        "zones/europe-west1-b/operations/operation-nope",
        None,
    )
    .await;
    assert_eq!(
        (status, missing["error"]["errors"][0]["reason"].as_str()),
        (404, Some("notFound"))
    );
    emu.shutdown().await;
}

#[tokio::test]
async fn stockout_and_quota_fail_the_operation() {
    let emu = start(
        r#"
clouds:
  gce:
    regions:
      us-east1: {quotas: {N2_CPUS: 100}, zones: {us-east1-b: {n2-highmem-16: 0, a3-highgpu-8g: -1}}}
"#,
    )
    .await;
    let token = gce_token(&emu).await;
    let insert = |name: &'static str, zone: &'static str, mt: &'static str, count: u32| {
        let emu = &emu;
        let token = token.clone();
        async move {
            gce(
                emu,
                &token,
                Method::POST,
                &format!("zones/{zone}/reservations"),
                Some(reservation_body(name, mt, json!(count.to_string()))),
            )
            .await
        }
    };
    let (status, op) = insert("r1", "us-east1-b", "n2-highmem-16", 1).await;
    assert_eq!(status, 200);
    assert_eq!(op["status"], "DONE");
    let err = &op["error"]["errors"][0];
    assert_eq!(err["code"], "ZONE_RESOURCE_POOL_EXHAUSTED");
    assert!(
        err["message"]
            .as_str()
            .unwrap()
            .contains("does not have enough resources available")
    );
    assert_eq!(
        err["errorDetails"][0]["errorInfo"]["reason"],
        "resource_availability"
    );
    assert_eq!(op["httpErrorStatusCode"], 503);
    let (status, _) = gce(
        &emu,
        &token,
        Method::GET,
        "zones/us-east1-b/reservations/r1",
        None,
    )
    .await;
    assert_eq!(status, 404, "a failed insert leaves nothing behind");
    assert!(emu.state().reservations.is_empty());

    let (_, ok) = insert("r2", "us-east1-c", "n2-highmem-16", 6).await;
    assert!(ok.get("error").is_none(), "{ok}");
    let (_, quota) = insert("r3", "us-east1-d", "n2-standard-2", 3).await;
    let err = &quota["error"]["errors"][0];
    assert_eq!(err["code"], "QUOTA_EXCEEDED");
    // 96 vCPUs held of N2_CPUS' 100: three n2-standard-2 (6) do not fit.
    assert_eq!(err["errorDetails"][0]["quotaInfo"]["limit"], 100.0);
    assert_eq!(
        err["errorDetails"][0]["quotaInfo"]["metricName"],
        "compute.googleapis.com/n2_cpus"
    );
    assert!(
        err["message"]
            .as_str()
            .unwrap()
            .contains("Quota 'N2_CPUS' exceeded"),
        "{err}"
    );
    assert_eq!(
        err["errorDetails"][0]["quotaInfo"]["dimensions"]["region"],
        "us-east1"
    );
    assert_eq!(quota["httpErrorStatusCode"], 403);

    let (status, unoffered) = insert("r4", "us-east1-b", "a3-highgpu-8g", 1).await;
    assert_eq!(
        (status, unoffered["error"]["errors"][0]["reason"].as_str()),
        (400, Some("invalid"))
    );

    let (status, dup) = insert("r2", "us-east1-c", "n2-highmem-16", 1).await;
    assert_eq!(status, 409);
    assert_eq!(dup["error"]["errors"][0]["reason"], "alreadyExists");

    let (status, bad) = insert("Bad_Name", "us-east1-c", "n2-highmem-16", 1).await;
    assert_eq!(
        (status, bad["error"]["errors"][0]["reason"].as_str()),
        (400, Some("invalid"))
    );
    let (status, _) = insert("r5", "us-east1-z", "n2-highmem-16", 1).await;
    assert_eq!(status, 404);

    // The synchronous reporting style is a scenario switch.
    emu.set_scenario(
        cr_emulator::Scenario::from_str_any(
            "clouds: {gce: {options: {stockout: sync}, regions: {us-east1: {zones: {us-east1-b: {n2-highmem-16: 0}}}}}}",
        )
        .unwrap(),
    );
    let (status, sync) = insert("r6", "us-east1-b", "n2-highmem-16", 1).await;
    assert_eq!(status, 503, "{sync}");
    assert_eq!(
        sync["error"]["errors"][0]["reason"],
        "ZONE_RESOURCE_POOL_EXHAUSTED"
    );
    emu.shutdown().await;
}

#[tokio::test]
async fn request_id_makes_insert_idempotent() {
    let emu = start("").await;
    let token = gce_token(&emu).await;
    let path = "zones/us-central1-f/reservations?requestId=6f1c2a86-3f7e-4b8b-9c1e-1d2a3b4c5d6e";
    let body = reservation_body("idem", "c3-standard-8", json!("3"));
    let (_, a) = gce(&emu, &token, Method::POST, path, Some(body.clone())).await;
    let (status, b) = gce(&emu, &token, Method::POST, path, Some(body)).await;
    assert_eq!(status, 200, "retry returns the operation, not 409: {b}");
    assert_eq!(a["name"], b["name"]);
    assert_eq!(
        b["clientOperationId"],
        "6f1c2a86-3f7e-4b8b-9c1e-1d2a3b4c5d6e"
    );
    assert_eq!(emu.state().reservations.len(), 1);
    assert_eq!(
        emu.world().available(
            CloudKind::Gce,
            "us-central1",
            "us-central1-f",
            "c3-standard-8"
        ),
        997
    );
    let (status, _) = gce(
        &emu,
        &token,
        Method::POST,
        "zones/us-central1-f/reservations?requestId=00000000-0000-0000-0000-000000000000",
        Some(reservation_body("zero", "c3-standard-8", json!("1"))),
    )
    .await;
    assert_eq!(status, 400);
    emu.shutdown().await;
}

#[tokio::test]
async fn delete_after_duration_expires_the_reservation() {
    let emu =
        start("clouds: {gce: {regions: {us-west1: {zones: {us-west1-a: {n2-standard-8: 2}}}}}}")
            .await;
    let token = gce_token(&emu).await;
    let mut body = reservation_body("short", "n2-standard-8", json!("2"));
    body["deleteAfterDuration"] = json!({"seconds": "3600"});
    let (_, op) = gce(
        &emu,
        &token,
        Method::POST,
        "zones/us-west1-a/reservations",
        Some(body),
    )
    .await;
    assert!(op.get("error").is_none(), "{op}");
    let (_, r) = gce(
        &emu,
        &token,
        Method::GET,
        "zones/us-west1-a/reservations/short",
        None,
    )
    .await;
    assert!(r["deleteAtTime"].is_string());
    assert_eq!(r["deleteAfterDuration"]["seconds"], "3600");

    let mut at = reservation_body("at", "n2-standard-4", json!("1"));
    at["deleteAtTime"] =
        json!((jiff::Timestamp::now() + jiff::SignedDuration::from_hours(3)).to_string());
    let (_, op) = gce(
        &emu,
        &token,
        Method::POST,
        "zones/us-west1-a/reservations",
        Some(at),
    )
    .await;
    assert!(op.get("error").is_none(), "{op}");

    emu.advance_clock(Duration::from_secs(2 * 3600));
    let (status, _) = gce(
        &emu,
        &token,
        Method::GET,
        "zones/us-west1-a/reservations/short",
        None,
    )
    .await;
    assert_eq!(status, 404);
    let (status, _) = gce(
        &emu,
        &token,
        Method::GET,
        "zones/us-west1-a/reservations/at",
        None,
    )
    .await;
    assert_eq!(status, 200);
    let states: Vec<AuditState> = emu.state().reservations.iter().map(|r| r.state).collect();
    assert_eq!(states, [AuditState::Expired, AuditState::Active]);
    assert_eq!(
        emu.world()
            .available(CloudKind::Gce, "us-west1", "us-west1-a", "n2-standard-8"),
        2
    );
    emu.advance_clock(Duration::from_secs(3600));
    assert_eq!(emu.state().reservations[1].state, AuditState::Expired);

    let mut both = reservation_body("both", "n2-standard-4", json!("1"));
    both["deleteAfterDuration"] = json!({"seconds": 60});
    both["deleteAtTime"] = json!("2099-01-01T00:00:00Z");
    let (status, _) = gce(
        &emu,
        &token,
        Method::POST,
        "zones/us-west1-a/reservations",
        Some(both),
    )
    .await;
    assert_eq!(status, 400);
    emu.shutdown().await;
}

#[tokio::test]
async fn list_and_aggregated_list_paginate() {
    let emu = start("").await;
    let token = gce_token(&emu).await;
    for (i, zone) in [
        "asia-east1-a",
        "asia-east1-b",
        "asia-east1-a",
        "europe-west4-c",
        "asia-east1-a",
    ]
    .iter()
    .enumerate()
    {
        let (_, op) = gce(
            &emu,
            &token,
            Method::POST,
            &format!("zones/{zone}/reservations"),
            Some(reservation_body(
                &format!("p-{i}"),
                "e2-standard-4",
                json!("1"),
            )),
        )
        .await;
        assert!(op.get("error").is_none());
    }
    let (_, first) = gce(
        &emu,
        &token,
        Method::GET,
        "zones/asia-east1-a/reservations?maxResults=2",
        None,
    )
    .await;
    assert_eq!(first["items"].as_array().unwrap().len(), 2);
    let next = first["nextPageToken"].as_str().unwrap().to_owned();
    let (_, second) = gce(
        &emu,
        &token,
        Method::GET,
        &format!("zones/asia-east1-a/reservations?maxResults=2&pageToken={next}"),
        None,
    )
    .await;
    assert_eq!(second["items"].as_array().unwrap().len(), 1);
    assert!(second.get("nextPageToken").is_none());

    let mut names = Vec::new();
    let mut token_q = String::new();
    let mut pages = 0;
    loop {
        let (status, page) = gce(
            &emu,
            &token,
            Method::GET,
            &format!("aggregated/reservations?maxResults=2{token_q}"),
            None,
        )
        .await;
        assert_eq!(status, 200, "{page}");
        pages += 1;
        let items = page["items"].as_object().unwrap();
        assert!(items.len() >= 120, "every zone is a scope");
        for scoped in items.values() {
            if let Some(rs) = scoped["reservations"].as_array() {
                names.extend(rs.iter().map(|r| r["name"].as_str().unwrap().to_owned()));
            } else {
                assert_eq!(scoped["warning"]["code"], "NO_RESULTS_ON_PAGE");
            }
        }
        match page["nextPageToken"].as_str() {
            Some(t) => token_q = format!("&pageToken={t}"),
            None => break,
        }
    }
    assert_eq!(pages, 3);
    names.sort();
    assert_eq!(names, ["p-0", "p-1", "p-2", "p-3", "p-4"]);
    let (status, bad) = gce(
        &emu,
        &token,
        Method::GET,
        "aggregated/reservations?pageToken=zzz",
        None,
    )
    .await;
    assert_eq!(
        (status, bad["error"]["errors"][0]["reason"].as_str()),
        (400, Some("invalid"))
    );
    let (status, _) = gce(
        &emu,
        &token,
        Method::GET,
        "aggregated/reservations?filter=name%20eq%20a%20AND%20status%20%3D%20READY",
        None,
    )
    .await;
    assert_eq!(status, 400, "mixed filter styles are refused");
    emu.shutdown().await;
}

#[tokio::test]
async fn zones_and_regions() {
    let emu = start("clouds: {gce: {regions: {us-east1: {quotas: {CPUS: 24}}}}}").await;
    let token = gce_token(&emu).await;
    let (_, regions) = gce(&emu, &token, Method::GET, "regions", None).await;
    assert_eq!(regions["kind"], "compute#regionList");
    assert!(regions["items"].as_array().unwrap().len() >= 40);
    let (_, r) = gce(&emu, &token, Method::GET, "regions/us-east1", None).await;
    let zones: Vec<&str> = r["zones"]
        .as_array()
        .unwrap()
        .iter()
        .map(|z| z.as_str().unwrap().rsplit('/').next().unwrap())
        .collect();
    assert_eq!(zones, ["us-east1-b", "us-east1-c", "us-east1-d"]);
    assert_eq!(
        r["quotas"][0],
        json!({"metric": "CPUS", "limit": 24.0, "usage": 0.0})
    );
    let (_, z) = gce(
        &emu,
        &token,
        Method::GET,
        "zones?filter=name%20eq%20us-central1-.*",
        None,
    )
    .await;
    let names: Vec<&str> = z["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "us-central1-a",
            "us-central1-b",
            "us-central1-c",
            "us-central1-f"
        ]
    );
    let (_, one) = gce(&emu, &token, Method::GET, "zones/europe-west1-d", None).await;
    assert_eq!(one["status"], "UP");
    assert!(
        one["region"]
            .as_str()
            .unwrap()
            .ends_with("/regions/europe-west1")
    );
    let (status, _) = gce(&emu, &token, Method::GET, "zones/europe-west1-a", None).await;
    assert_eq!(status, 404);
    emu.shutdown().await;
}

async fn gce_fault_run(seed: u64) -> Vec<u16> {
    let emu = start(&format!(
        "seed: {seed}\nfaults:\n  - {{cloud: gce, operation: reservations.list, kind: throttle, rate: 0.4}}\n  - {{cloud: gce, operation: reservations.insert, kind: failed_lro, rate: 1.0, limit: 1}}\n"
    ))
    .await;
    let token = gce_token(&emu).await;
    let (_, op) = gce(
        &emu,
        &token,
        Method::POST,
        "zones/us-east4-a/reservations",
        Some(reservation_body("f", "n2-standard-2", json!("1"))),
    )
    .await;
    assert_eq!(op["error"]["errors"][0]["code"], "INTERNAL_ERROR");
    assert_eq!(
        emu.state().reservations[0].state,
        AuditState::Cancelled,
        "capacity returned"
    );
    let mut out = Vec::new();
    for _ in 0..20 {
        let (status, body) = gce(
            &emu,
            &token,
            Method::GET,
            "zones/us-east4-a/reservations",
            None,
        )
        .await;
        if status == 429 {
            assert_eq!(body["error"]["errors"][0]["reason"], "rateLimitExceeded");
        }
        out.push(status);
    }
    emu.shutdown().await;
    out
}

#[tokio::test]
async fn faults_are_reproducible_and_failed_lro_reports_an_error() {
    let a = gce_fault_run(3).await;
    assert_eq!(a, gce_fault_run(3).await);
    assert!(a.contains(&429) && a.contains(&200), "{a:?}");
}

#[tokio::test]
async fn a_denied_permission_is_forbidden_naming_it() {
    let emu = start("clouds: {gce: {denied_permissions: [compute.reservations.create]}}").await;
    let token = gce_token(&emu).await;
    let (status, body) = gce(
        &emu,
        &token,
        Method::POST,
        "zones/us-east1-b/reservations",
        Some(reservation_body("d", "n2-standard-2", json!("1"))),
    )
    .await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(body["error"]["errors"][0]["reason"], "forbidden");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(
        message.starts_with("Required 'compute.reservations.create' permission for 'projects/"),
        "{message}"
    );
    assert!(emu.state().reservations.is_empty(), "nothing was created");
    let (status, _) = gce(
        &emu,
        &token,
        Method::GET,
        "zones/us-east1-b/reservations",
        None,
    )
    .await;
    assert_eq!(status, 200);
}
