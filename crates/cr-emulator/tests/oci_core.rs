//! Raw-HTTP protocol tests of the emulated OCI Core API with an independent request signer:
//! signatures (good, missing, wrong key, tampered body, stale date, incomplete header list),
//! availability domains and regions (home region, `/oci/{region}` prefix, host name),
//! capacity reservations (create, get, list with filters and paging, full-list update,
//! delete), lifecycle transitions, retry tokens, etags, error shapes, audit and capacity
//! accounting, and seeded fault injection.

mod oci_support;

use std::time::Duration;

use cr_emulator::{AuditState, CloudKind};
use oci_support::*;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

const RES: &str = "/20160918/computeCapacityReservations";

fn list_path(o: &Oci, extra: &str) -> String {
    format!("{RES}?compartmentId={}{extra}", o.tenancy)
}

#[tokio::test]
async fn availability_domains_regions_and_subscriptions() {
    let o = Oci::start("").await;
    let ads = o
        .call(
            Method::GET,
            &format!("/20160918/availabilityDomains?compartmentId={}", o.tenancy),
            None,
            &[],
        )
        .await;
    assert_eq!(ads.status, StatusCode::OK, "{:?}", ads.body);
    assert!(ads.header("opc-request-id").is_some());
    let names: Vec<&str> = ads
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["Emul:PHX-AD-1", "Emul:PHX-AD-2", "Emul:PHX-AD-3"]);
    assert!(
        ads.body[0]["id"]
            .as_str()
            .unwrap()
            .starts_with("ocid1.availabilitydomain.")
    );
    assert_eq!(ads.body[0]["compartmentId"], o.tenancy.as_str());

    let iad = o
        .call(
            Method::GET,
            &format!(
                "/oci/us-ashburn-1/20160918/availabilityDomains?compartmentId={}",
                o.tenancy
            ),
            None,
            &[],
        )
        .await;
    assert_eq!(iad.body[0]["name"], "Emul:IAD-AD-1");
    let tokyo = o
        .call(
            Method::GET,
            &format!(
                "/oci/ap-tokyo-1/20160918/availabilityDomains?compartmentId={}",
                o.tenancy
            ),
            None,
            &[],
        )
        .await;
    assert_eq!(tokyo.body.as_array().unwrap().len(), 1);
    let unknown = o
        .call(
            Method::GET,
            &format!(
                "/oci/xx-nowhere-1/20160918/availabilityDomains?compartmentId={}",
                o.tenancy
            ),
            None,
            &[],
        )
        .await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);

    // The region may also come from the host name (iaas.<region>.…).
    let port = o.emu.http_addr().port();
    let by_host = SignOpts {
        host: Some(format!("iaas.eu-frankfurt-1.oci.localhost:{port}")),
        ..SignOpts::default()
    };
    let fra = o
        .call_with(
            Method::GET,
            &format!("/20160918/availabilityDomains?compartmentId={}", o.tenancy),
            None,
            &[],
            &by_host,
            None,
        )
        .await;
    assert_eq!(fra.status, StatusCode::OK, "{:?}", fra.body);
    assert_eq!(fra.body[0]["name"], "Emul:FRA-AD-1");

    let missing = o
        .call(Method::GET, "/20160918/availabilityDomains", None, &[])
        .await;
    assert_eq!(missing.status, StatusCode::BAD_REQUEST);
    assert_eq!(missing.code(), "MissingParameter");

    let regions = o.call(Method::GET, "/20160918/regions", None, &[]).await;
    let list = regions.body.as_array().unwrap();
    assert!(list.len() >= 30, "{} regions", list.len());
    assert!(
        list.iter()
            .any(|r| r["key"] == "PHX" && r["name"] == "us-phoenix-1")
    );

    let subs = o
        .call(
            Method::GET,
            &format!("/20160918/tenancies/{}/regionSubscriptions", o.tenancy),
            None,
            &[],
        )
        .await;
    let home: Vec<&Value> = subs
        .body
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["isHomeRegion"] == true)
        .collect();
    assert_eq!(home.len(), 1);
    assert_eq!(home[0]["regionName"], "us-phoenix-1");
    assert_eq!(home[0]["status"], "READY");
    let other = o
        .call(
            Method::GET,
            "/20160918/tenancies/ocid1.tenancy.oc1..other/regionSubscriptions",
            None,
            &[],
        )
        .await;
    assert_eq!(other.code(), "NotAuthorizedOrNotFound");
}

#[tokio::test]
async fn signatures_are_verified() {
    let o = Oci::start("").await;
    let path = list_path(&o, "");
    assert_eq!(
        o.call(Method::GET, &path, None, &[]).await.status,
        StatusCode::OK
    );

    let unsigned = SignOpts {
        unsigned: true,
        ..SignOpts::default()
    };
    let a = o
        .call_with(Method::GET, &path, None, &[], &unsigned, None)
        .await;
    assert_eq!(a.status, StatusCode::UNAUTHORIZED);
    assert_eq!(a.code(), "NotAuthenticated");

    let other = aws_lc_rs::rsa::KeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048).unwrap();
    let a = o
        .call_with(
            Method::GET,
            &path,
            None,
            &[],
            &SignOpts::default(),
            Some(&other),
        )
        .await;
    assert_eq!(a.status, StatusCode::UNAUTHORIZED);

    let stale = SignOpts {
        date_shift_s: -600,
        ..SignOpts::default()
    };
    let a = o
        .call_with(Method::GET, &path, None, &[], &stale, None)
        .await;
    assert_eq!(a.status, StatusCode::UNAUTHORIZED);
    assert!(
        a.body["message"].as_str().unwrap().contains("seconds"),
        "{:?}",
        a.body
    );

    let no_host = SignOpts {
        headers: Some(vec!["date", "(request-target)"]),
        ..SignOpts::default()
    };
    let a = o
        .call_with(Method::GET, &path, None, &[], &no_host, None)
        .await;
    assert_eq!(a.status, StatusCode::UNAUTHORIZED);

    let wrong_key_id = SignOpts {
        key_id: Some(format!("{}/ocid1.user.oc1..someone/aa:bb", o.tenancy)),
        ..SignOpts::default()
    };
    let a = o
        .call_with(Method::GET, &path, None, &[], &wrong_key_id, None)
        .await;
    assert_eq!(a.status, StatusCode::UNAUTHORIZED);

    // A POST must sign its body headers, and the body must be the one hashed.
    let body = o.create_body(&o.ad(1), "VM.Standard2.1", 1, "x");
    let get_headers_only = SignOpts {
        headers: Some(vec!["date", "(request-target)", "host"]),
        ..SignOpts::default()
    };
    let a = o
        .call_with(Method::POST, RES, Some(&body), &[], &get_headers_only, None)
        .await;
    assert_eq!(a.status, StatusCode::UNAUTHORIZED);
    let tampered = SignOpts {
        signed_body: Some(b"{}".to_vec()),
        ..SignOpts::default()
    };
    let a = o
        .call_with(Method::POST, RES, Some(&body), &[], &tampered, None)
        .await;
    assert_eq!(a.status, StatusCode::UNAUTHORIZED);
    assert!(o.emu.state().reservations.is_empty());
    assert_eq!(
        o.call(Method::POST, RES, Some(&body), &[]).await.status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn create_get_list_update_delete_with_capacity_and_audit() {
    let o = Oci::start(
        "clouds: {oci: {regions: {us-phoenix-1: {zones: {AD-2: {VM.DenseIO.E5.Flex: 10}}}}}}",
    )
    .await;
    let world = o.emu.world();
    let ad = o.ad(2);
    let c = o.create(&ad, "VM.DenseIO.E5.Flex", 4, "res-a").await;
    assert_eq!(c.status, StatusCode::OK, "{:?}", c.body);
    assert_eq!(c.body["lifecycleState"], "ACTIVE");
    assert_eq!(c.body["reservedInstanceCount"], 4);
    assert_eq!(c.body["usedInstanceCount"], 0);
    assert_eq!(c.body["availabilityDomain"], ad.as_str());
    assert_eq!(c.body["freeformTags"]["cluster"], "c1");
    assert_eq!(c.body["definedTags"]["Ops"]["team"], "qa");
    assert_eq!(
        c.body["instanceReservationConfigs"][0]["instanceShapeConfig"]["ocpus"],
        8.0
    );
    let id = c.body["id"].as_str().unwrap().to_owned();
    assert!(id.starts_with("ocid1.capacityreservation.oc1.phx."), "{id}");
    let etag = c.header("etag").unwrap().to_owned();
    assert!(c.header("opc-work-request-id").is_some());
    assert!(c.header("opc-request-id").is_some());
    assert_eq!(
        world.available(CloudKind::Oci, "us-phoenix-1", &ad, "VM.DenseIO.E5.Flex"),
        6
    );
    let rec = o
        .emu
        .state()
        .reservations
        .into_iter()
        .find(|r| r.id == id)
        .unwrap();
    assert_eq!(
        (rec.zone.as_str(), rec.instance_type.as_str(), rec.count),
        (ad.as_str(), "VM.DenseIO.E5.Flex", 4)
    );
    assert_eq!(rec.state, AuditState::Active);
    assert_eq!(rec.name, "res-a");

    let g = o.call(Method::GET, &format!("{RES}/{id}"), None, &[]).await;
    assert_eq!(g.status, StatusCode::OK);
    assert_eq!(g.header("etag"), Some(etag.as_str()));
    let l = o.call(Method::GET, &list_path(&o, ""), None, &[]).await;
    let items = l.body.as_array().unwrap();
    assert_eq!(items.len(), 1);
    assert!(
        items[0].get("instanceReservationConfigs").is_none(),
        "summaries carry no configs"
    );
    assert_eq!(items[0]["reservedInstanceCount"], 4);
    // The reservation lives in PHX only.
    let elsewhere = o
        .call(
            Method::GET,
            &format!("/oci/us-ashburn-1{RES}/{id}"),
            None,
            &[],
        )
        .await;
    assert_eq!(elsewhere.code(), "NotAuthorizedOrNotFound");

    // Resize with the current etag.
    let mut update = json!({"instanceReservationConfigs": [
        {"instanceShape": "VM.DenseIO.E5.Flex", "reservedCount": 7, "instanceShapeConfig": {"ocpus": 8.0, "memoryInGBs": 64.0}}
    ]});
    let bad = o
        .call(
            Method::PUT,
            &format!("{RES}/{id}"),
            Some(&update),
            &[("if-match", "nope")],
        )
        .await;
    assert_eq!(bad.status, StatusCode::PRECONDITION_FAILED);
    assert_eq!(bad.code(), "NoEtagMatch");
    let u = o
        .call(
            Method::PUT,
            &format!("{RES}/{id}"),
            Some(&update),
            &[("if-match", etag.as_str())],
        )
        .await;
    assert_eq!(u.status, StatusCode::ACCEPTED, "{:?}", u.body);
    assert!(u.header("opc-work-request-id").is_some());
    let g = o.call(Method::GET, &format!("{RES}/{id}"), None, &[]).await;
    assert_eq!(g.body["reservedInstanceCount"], 7);
    assert_ne!(g.header("etag"), Some(etag.as_str()));
    assert_eq!(
        world.available(CloudKind::Oci, "us-phoenix-1", &ad, "VM.DenseIO.E5.Flex"),
        3
    );
    let rec = o
        .emu
        .state()
        .reservations
        .into_iter()
        .find(|r| r.id == id)
        .unwrap();
    assert_eq!(rec.count, 7);
    update["instanceReservationConfigs"][0]["reservedCount"] = json!(20);
    let too_many = o
        .call(Method::PUT, &format!("{RES}/{id}"), Some(&update), &[])
        .await;
    assert_eq!(too_many.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(too_many.body["message"], "Out of host capacity.");

    let d = o
        .call(Method::DELETE, &format!("{RES}/{id}"), None, &[])
        .await;
    assert_eq!(d.status, StatusCode::ACCEPTED);
    let g = o.call(Method::GET, &format!("{RES}/{id}"), None, &[]).await;
    assert_eq!(g.body["lifecycleState"], "DELETED");
    assert_eq!(
        world.available(CloudKind::Oci, "us-phoenix-1", &ad, "VM.DenseIO.E5.Flex"),
        10
    );
    let rec = o
        .emu
        .state()
        .reservations
        .into_iter()
        .find(|r| r.id == id)
        .unwrap();
    assert_eq!(rec.state, AuditState::Cancelled);
    assert_eq!(
        o.call(Method::DELETE, &format!("{RES}/{id}"), None, &[])
            .await
            .status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn lifecycle_states_are_visible_while_operations_run() {
    let o = Oci::start("lro_ms: 60000").await;
    let c = o.create(&o.ad(1), "VM.Standard.E4.Flex", 2, "slow").await;
    assert_eq!(c.body["lifecycleState"], "CREATING");
    let id = c.body["id"].as_str().unwrap().to_owned();
    let wr = c.header("opc-work-request-id").unwrap().to_owned();
    let w = o
        .call(
            Method::GET,
            &format!("/20160918/workRequests/{wr}"),
            None,
            &[],
        )
        .await;
    assert!(
        ["ACCEPTED", "IN_PROGRESS"].contains(&w.body["status"].as_str().unwrap()),
        "{:?}",
        w.body
    );
    let creating = o
        .call(
            Method::GET,
            &list_path(&o, "&lifecycleState=CREATING"),
            None,
            &[],
        )
        .await;
    assert_eq!(creating.body.as_array().unwrap().len(), 1);
    let rec = o
        .emu
        .state()
        .reservations
        .into_iter()
        .find(|r| r.id == id)
        .unwrap();
    assert_eq!(rec.state, AuditState::Pending);
    let early = o
        .call(Method::DELETE, &format!("{RES}/{id}"), None, &[])
        .await;
    assert_eq!(early.status, StatusCode::CONFLICT);
    assert_eq!(early.code(), "IncorrectState");

    o.emu.advance_clock(Duration::from_secs(61));
    let g = o.call(Method::GET, &format!("{RES}/{id}"), None, &[]).await;
    assert_eq!(g.body["lifecycleState"], "ACTIVE");
    let w = o
        .call(
            Method::GET,
            &format!("/20160918/workRequests/{wr}"),
            None,
            &[],
        )
        .await;
    assert_eq!(w.body["status"], "SUCCEEDED");
    assert_eq!(w.body["resources"][0]["identifier"], id.as_str());

    let d = o
        .call(Method::DELETE, &format!("{RES}/{id}"), None, &[])
        .await;
    assert_eq!(d.status, StatusCode::ACCEPTED);
    let g = o.call(Method::GET, &format!("{RES}/{id}"), None, &[]).await;
    assert_eq!(g.body["lifecycleState"], "DELETING");
    let upd = o
        .call(
            Method::PUT,
            &format!("{RES}/{id}"),
            Some(&json!({"displayName": "x"})),
            &[],
        )
        .await;
    assert_eq!(upd.code(), "IncorrectState");
    o.emu.advance_clock(Duration::from_secs(61));
    let deleted = o
        .call(
            Method::GET,
            &list_path(&o, "&lifecycleState=DELETED"),
            None,
            &[],
        )
        .await;
    assert_eq!(deleted.body.as_array().unwrap().len(), 1);
    // Deleted reservations drop out of lists after the retention (an hour by default).
    o.emu.advance_clock(Duration::from_secs(3700));
    let later = o.call(Method::GET, &list_path(&o, ""), None, &[]).await;
    assert!(later.body.as_array().unwrap().is_empty());
}

#[tokio::test]
async fn retry_tokens_make_create_idempotent() {
    let o = Oci::start("").await;
    let body = o.create_body(&o.ad(1), "VM.Standard3.Flex", 2, "once");
    let first = o
        .call(
            Method::POST,
            RES,
            Some(&body),
            &[("opc-retry-token", "tok-1")],
        )
        .await;
    let second = o
        .call(
            Method::POST,
            RES,
            Some(&body),
            &[("opc-retry-token", "tok-1")],
        )
        .await;
    assert_eq!(first.status, StatusCode::OK);
    assert_eq!(second.status, StatusCode::OK);
    assert_eq!(first.body["id"], second.body["id"]);
    let l = o.call(Method::GET, &list_path(&o, ""), None, &[]).await;
    assert_eq!(l.body.as_array().unwrap().len(), 1);
    assert_eq!(
        o.emu.world().available(
            CloudKind::Oci,
            "us-phoenix-1",
            &o.ad(1),
            "VM.Standard3.Flex"
        ),
        998
    );
    let changed = o.create_body(&o.ad(1), "VM.Standard3.Flex", 3, "once");
    let third = o
        .call(
            Method::POST,
            RES,
            Some(&changed),
            &[("opc-retry-token", "tok-1")],
        )
        .await;
    assert_eq!(third.status, StatusCode::CONFLICT);
    assert_eq!(third.code(), "InvalidatedRetryToken");
}

#[tokio::test]
async fn list_filters_sorts_and_pages() {
    let o = Oci::start("").await;
    for (i, ad) in [(3, 1), (0, 2), (4, 1), (1, 1), (2, 3)] {
        let a = o
            .create(&o.ad(ad), "VM.Standard2.2", 1, &format!("n{i}"))
            .await;
        assert_eq!(a.status, StatusCode::OK);
    }
    let mut names = Vec::new();
    let mut page: Option<String> = None;
    let mut pages = 0;
    loop {
        let extra = match &page {
            Some(p) => format!("&limit=2&sortBy=DISPLAYNAME&sortOrder=ASC&page={p}"),
            None => "&limit=2&sortBy=DISPLAYNAME&sortOrder=ASC".to_owned(),
        };
        let a = o.call(Method::GET, &list_path(&o, &extra), None, &[]).await;
        assert_eq!(a.status, StatusCode::OK, "{:?}", a.body);
        pages += 1;
        names.extend(
            a.body
                .as_array()
                .unwrap()
                .iter()
                .map(|r| r["displayName"].as_str().unwrap().to_owned()),
        );
        match a.header("opc-next-page") {
            Some(p) => page = Some(p.to_owned()),
            None => break,
        }
    }
    assert_eq!(pages, 3);
    assert_eq!(names, ["n0", "n1", "n2", "n3", "n4"]);
    let ad1 = o
        .call(
            Method::GET,
            &list_path(&o, &format!("&availabilityDomain={}", o.ad(1))),
            None,
            &[],
        )
        .await;
    assert_eq!(ad1.body.as_array().unwrap().len(), 3);
    let by_name = o
        .call(Method::GET, &list_path(&o, "&displayName=n4"), None, &[])
        .await;
    assert_eq!(by_name.body.as_array().unwrap().len(), 1);
    let other = o
        .call(
            Method::GET,
            &format!("{RES}?compartmentId=ocid1.compartment.oc1..empty"),
            None,
            &[],
        )
        .await;
    assert!(other.body.as_array().unwrap().is_empty());
    assert_eq!(
        o.call(Method::GET, &list_path(&o, "&limit=0"), None, &[])
            .await
            .code(),
        "InvalidParameter"
    );
    assert_eq!(
        o.call(Method::GET, RES, None, &[]).await.code(),
        "MissingParameter"
    );
}

#[tokio::test]
async fn error_shapes() {
    let yaml = r#"
clouds:
  oci:
    regions:
      us-phoenix-1:
        quotas: {standard2-core-count: 5}
        zones: {AD-1: {VM.DenseIO.E5.Flex: 0, BM.GPU.H100.8: -1}}
"#;
    let o = Oci::start(yaml).await;
    let s = o.create(&o.ad(1), "VM.DenseIO.E5.Flex", 1, "s").await;
    assert_eq!(s.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(
        s.body,
        json!({"code": "InternalError", "message": "Out of host capacity."})
    );
    assert!(s.header("opc-request-id").is_some());
    let q = o.create(&o.ad(2), "VM.Standard2.1", 6, "q").await;
    assert_eq!(q.status, StatusCode::BAD_REQUEST);
    assert_eq!(q.code(), "LimitExceeded");
    let n = o.create(&o.ad(1), "BM.GPU.H100.8", 1, "n").await;
    assert_eq!(n.code(), "InvalidParameter");
    let bad_ad = o.create("PHX-AD-1", "VM.Standard2.1", 1, "a").await;
    assert_eq!(bad_ad.code(), "InvalidParameter");
    let mut flex = o.create_body(&o.ad(2), "VM.Standard.E5.Flex", 1, "f");
    flex["instanceReservationConfigs"][0]
        .as_object_mut()
        .unwrap()
        .remove("instanceShapeConfig");
    let f = o.call(Method::POST, RES, Some(&flex), &[]).await;
    assert_eq!(f.code(), "InvalidParameter");
    let mut no_comp = o.create_body(&o.ad(2), "VM.Standard2.1", 1, "c");
    no_comp.as_object_mut().unwrap().remove("compartmentId");
    assert_eq!(
        o.call(Method::POST, RES, Some(&no_comp), &[]).await.code(),
        "MissingParameter"
    );
    let nf = o
        .call(
            Method::GET,
            &format!("{RES}/ocid1.capacityreservation.oc1.phx.nothere"),
            None,
            &[],
        )
        .await;
    assert_eq!(nf.status, StatusCode::NOT_FOUND);
    assert_eq!(nf.code(), "NotAuthorizedOrNotFound");
    assert!(
        o.emu.state().reservations.is_empty(),
        "refused creates leave no audit record"
    );
}

#[tokio::test]
async fn stockout_can_be_reported_through_the_lifecycle() {
    let yaml = r#"
lro_ms: 60000
clouds:
  oci:
    options: {stockout: lro}
    regions: {us-phoenix-1: {zones: {AD-1: {VM.DenseIO.E5.Flex: 0}}}}
"#;
    let o = Oci::start(yaml).await;
    let c = o.create(&o.ad(1), "VM.DenseIO.E5.Flex", 2, "s").await;
    assert_eq!(c.status, StatusCode::OK);
    assert_eq!(c.body["lifecycleState"], "CREATING");
    let id = c.body["id"].as_str().unwrap().to_owned();
    let wr = c.header("opc-work-request-id").unwrap().to_owned();
    o.emu.advance_clock(Duration::from_secs(61));
    let g = o.call(Method::GET, &format!("{RES}/{id}"), None, &[]).await;
    assert_eq!(g.body["lifecycleState"], "DELETED");
    let w = o
        .call(
            Method::GET,
            &format!("/20160918/workRequests/{wr}"),
            None,
            &[],
        )
        .await;
    assert_eq!(w.body["status"], "FAILED");
    let e = o
        .call(
            Method::GET,
            &format!("/20160918/workRequests/{wr}/errors"),
            None,
            &[],
        )
        .await;
    assert_eq!(e.body[0]["message"], "Out of host capacity.");
    let rec = o
        .emu
        .state()
        .reservations
        .into_iter()
        .find(|r| r.id == id)
        .unwrap();
    assert_eq!(rec.state, AuditState::Cancelled);
}

#[tokio::test]
async fn update_replaces_the_whole_config_list_and_keeps_omitted_fields() {
    let o = Oci::start("").await;
    let world = o.emu.world();
    let ad = o.ad(3);
    let mut body = o.create_body(&ad, "VM.Standard2.4", 2, "multi");
    body["instanceReservationConfigs"] = json!([
        {"instanceShape": "VM.Standard2.4", "reservedCount": 2, "faultDomain": "FAULT-DOMAIN-1"},
        {"instanceShape": "VM.Standard2.8", "reservedCount": 3},
    ]);
    let c = o.call(Method::POST, RES, Some(&body), &[]).await;
    assert_eq!(c.status, StatusCode::OK, "{:?}", c.body);
    let id = c.body["id"].as_str().unwrap().to_owned();
    assert_eq!(c.body["reservedInstanceCount"], 5);
    assert_eq!(
        world.available(CloudKind::Oci, "us-phoenix-1", &ad, "VM.Standard2.8"),
        997
    );
    let u = o
        .call(
            Method::PUT,
            &format!("{RES}/{id}"),
            Some(&json!({
                "freeformTags": {"cluster": "c2"},
                "instanceReservationConfigs": [{"instanceShape": "VM.Standard2.4", "reservedCount": 2, "faultDomain": "FAULT-DOMAIN-1"}],
            })),
            &[],
        )
        .await;
    assert_eq!(u.status, StatusCode::ACCEPTED);
    let g = o.call(Method::GET, &format!("{RES}/{id}"), None, &[]).await;
    assert_eq!(
        g.body["instanceReservationConfigs"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        g.body["instanceReservationConfigs"][0]["faultDomain"],
        "FAULT-DOMAIN-1"
    );
    assert_eq!(g.body["displayName"], "multi", "omitted fields stay");
    assert_eq!(g.body["freeformTags"]["cluster"], "c2");
    assert_eq!(g.body["definedTags"]["Ops"]["team"], "qa");
    assert_eq!(
        world.available(CloudKind::Oci, "us-phoenix-1", &ad, "VM.Standard2.8"),
        1000
    );
    assert_eq!(
        world.available(CloudKind::Oci, "us-phoenix-1", &ad, "VM.Standard2.4"),
        998
    );
    let rec = o
        .emu
        .state()
        .reservations
        .into_iter()
        .find(|r| r.id == id)
        .unwrap();
    assert_eq!(
        (rec.instance_type.as_str(), rec.count),
        ("VM.Standard2.4", 2)
    );
    assert_eq!(rec.tags["cluster"], "c2");
}

#[tokio::test]
async fn faults_answer_in_oci_shape_and_repeat_under_a_seed() {
    let yaml = r#"
seed: 11
faults:
  - {cloud: oci, operation: ListComputeCapacityReservations, kind: throttle, rate: 0.4}
  - {cloud: oci, operation: GetComputeCapacityReservation, kind: 5xx, rate: 1.0}
  - {cloud: oci, operation: CreateComputeCapacityReservation, kind: failed_lro, rate: 1.0, limit: 1}
"#;
    let run = || async {
        let o = Oci::start(yaml).await;
        let mut statuses = Vec::new();
        for _ in 0..16 {
            let a = o.call(Method::GET, &list_path(&o, ""), None, &[]).await;
            if a.status == StatusCode::TOO_MANY_REQUESTS {
                assert_eq!(a.code(), "TooManyRequests");
                assert!(a.header("opc-request-id").is_some());
            } else {
                assert_eq!(a.status, StatusCode::OK);
            }
            statuses.push(a.status.as_u16());
        }
        let e = o.call(Method::GET, &format!("{RES}/x"), None, &[]).await;
        assert_eq!(e.status, StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(e.code(), "InternalError");
        // A failed long-running create shows CREATING, then DELETED, holding nothing.
        let c = o.create(&o.ad(1), "VM.Standard2.1", 2, "f").await;
        assert_eq!(c.body["lifecycleState"], "CREATING");
        o.emu.advance_clock(Duration::from_millis(10));
        let rec = o
            .emu
            .state()
            .reservations
            .into_iter()
            .find(|r| r.id == c.body["id"])
            .unwrap();
        assert_eq!(rec.state, AuditState::Cancelled);
        assert_eq!(
            o.emu
                .world()
                .available(CloudKind::Oci, "us-phoenix-1", &o.ad(1), "VM.Standard2.1"),
            1000
        );
        statuses
    };
    let first = run().await;
    assert!(first.contains(&429) && first.contains(&200), "{first:?}");
    assert_eq!(first, run().await);
}

#[tokio::test]
async fn reservable_shapes_per_availability_domain() {
    let o = Oci::start("clouds: {oci: {regions: {us-phoenix-1: {zones: {AD-2: {BM.GPU.H100.8: -1, VM.GPU.A10.1: 4}}}}}}").await;
    let path = format!(
        "/20160918/computeCapacityReservationInstanceShapes?compartmentId={}&availabilityDomain={}&limit=1000",
        o.tenancy,
        o.ad(2)
    );
    let a = o.call(Method::GET, &path, None, &[]).await;
    assert_eq!(a.status, StatusCode::OK, "{:?}", a.body);
    let shapes: Vec<&str> = a
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["instanceShape"].as_str().unwrap())
        .collect();
    assert!(shapes.contains(&"VM.DenseIO.E5.Flex"));
    assert!(
        shapes.contains(&"VM.GPU.A10.1"),
        "sizes the scenario names are listed"
    );
    assert!(!shapes.contains(&"BM.GPU.H100.8"), "not offered in AD-2");
    assert!(
        a.body
            .as_array()
            .unwrap()
            .iter()
            .all(|s| s["availabilityDomain"] == o.ad(2).as_str())
    );
    let paged = o
        .call(
            Method::GET,
            &format!(
                "/20160918/computeCapacityReservationInstanceShapes?compartmentId={}&limit=5",
                o.tenancy
            ),
            None,
            &[],
        )
        .await;
    assert_eq!(paged.body.as_array().unwrap().len(), 5);
    assert_eq!(paged.header("opc-next-page"), Some("5"));
}

/// A retry token whose reservation has since been deleted is answered 409
/// `InvalidatedRetryToken` (OCI never hands a deleted reservation back), also once the
/// deleted reservation has dropped out of lists.
#[tokio::test]
async fn a_retry_token_of_a_deleted_reservation_is_invalidated() {
    let o = Oci::start("").await;
    let body = o.create_body(&o.ad(1), "VM.Standard2.1", 1, "spent");
    let token = [("opc-retry-token", "tok-deleted")];
    let first = o.call(Method::POST, RES, Some(&body), &token).await;
    assert_eq!(first.status, StatusCode::OK);
    let id = first.body["id"].as_str().unwrap().to_owned();
    let del = o
        .call(Method::DELETE, &format!("{RES}/{id}"), None, &[])
        .await;
    assert!(del.status.is_success(), "{:?}", del.body);
    let again = o.call(Method::POST, RES, Some(&body), &token).await;
    assert_eq!(again.status, StatusCode::CONFLICT, "{:?}", again.body);
    assert_eq!(again.code(), "InvalidatedRetryToken");
    o.emu.advance_clock(Duration::from_secs(3700));
    let swept = o.call(Method::POST, RES, Some(&body), &token).await;
    assert_eq!(swept.code(), "InvalidatedRetryToken");
    // A fresh token creates.
    let fresh = o
        .call(
            Method::POST,
            RES,
            Some(&body),
            &[("opc-retry-token", "tok-fresh")],
        )
        .await;
    assert_eq!(fresh.status, StatusCode::OK);
}

/// `opc-retry-token` is at most 64 characters.
#[tokio::test]
async fn retry_tokens_longer_than_64_characters_are_refused() {
    let o = Oci::start("").await;
    let body = o.create_body(&o.ad(1), "VM.Standard2.1", 1, "long");
    let ok = "a".repeat(64);
    let long = "a".repeat(65);
    let r = o
        .call(Method::POST, RES, Some(&body), &[("opc-retry-token", &ok)])
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let r = o
        .call(
            Method::POST,
            RES,
            Some(&body),
            &[("opc-retry-token", &long)],
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(r.code(), "InvalidParameter");
    assert!(r.body["message"].as_str().unwrap().contains("64"));
}

/// Service limits are counted as OCI counts them: OCPUs and memory for Flex shapes,
/// instances for fixed shapes, per availability domain; the refusal is `LimitExceeded`.
#[tokio::test]
async fn limits_count_cores_and_memory_for_flex_and_instances_otherwise() {
    let o = Oci::start(
        "clouds:\n  oci:\n    options:\n      limits:\n        standard3-core-count: 20\n        standard3-memory-count: 1000\n        vm-standard2-1-count: 2\n",
    )
    .await;
    // create_body gives Flex shapes 8 OCPUs and 64 GB each: 2 instances = 16 OCPUs.
    let a = o.create(&o.ad(1), "VM.Standard3.Flex", 2, "flex-a").await;
    assert_eq!(a.status, StatusCode::OK, "{:?}", a.body);
    let b = o.create(&o.ad(1), "VM.Standard3.Flex", 1, "flex-b").await;
    assert_eq!(b.status, StatusCode::BAD_REQUEST, "24 OCPUs > 20");
    assert_eq!(b.code(), "LimitExceeded");
    let message = b.body["message"].as_str().unwrap();
    assert!(message.contains("standard3-core-count"), "{message}");
    assert!(message.contains(&o.ad(1)), "{message}");
    // Another AD has its own limit.
    let c = o.create(&o.ad(2), "VM.Standard3.Flex", 2, "flex-c").await;
    assert_eq!(c.status, StatusCode::OK);
    // Fixed shapes count instances.
    let d = o.create(&o.ad(1), "VM.Standard2.1", 2, "fixed-a").await;
    assert_eq!(d.status, StatusCode::OK);
    let e = o.create(&o.ad(1), "VM.Standard2.1", 1, "fixed-b").await;
    assert_eq!(e.code(), "LimitExceeded");
    // Deleting gives the limit back.
    let id = a.body["id"].as_str().unwrap();
    o.call(Method::DELETE, &format!("{RES}/{id}"), None, &[])
        .await;
    let f = o.create(&o.ad(1), "VM.Standard3.Flex", 1, "flex-f").await;
    assert_eq!(f.status, StatusCode::OK, "{:?}", f.body);
}

/// `summary_fields: minimal`: list items carry only `id`, `availabilityDomain` and
/// `timeCreated`, all the API promises.
#[tokio::test]
async fn minimal_summaries_carry_only_the_required_fields() {
    let o = Oci::start("clouds:\n  oci:\n    options:\n      summary_fields: minimal\n").await;
    assert_eq!(
        o.create(&o.ad(1), "VM.Standard2.1", 1, "m").await.status,
        StatusCode::OK
    );
    let l = o.call(Method::GET, &list_path(&o, ""), None, &[]).await;
    let item = l.body[0].as_object().unwrap();
    let mut keys: Vec<&str> = item.keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(keys, ["availabilityDomain", "id", "timeCreated"]);
}

/// `delete_status: 204` answers a delete with no content (and still a work request id).
#[tokio::test]
async fn delete_may_answer_204() {
    let o = Oci::start("clouds:\n  oci:\n    options:\n      delete_status: 204\n").await;
    let a = o.create(&o.ad(1), "VM.Standard2.1", 1, "d").await;
    let id = a.body["id"].as_str().unwrap();
    let del = o
        .call(Method::DELETE, &format!("{RES}/{id}"), None, &[])
        .await;
    assert_eq!(del.status, StatusCode::NO_CONTENT);
    let got = o.call(Method::GET, &format!("{RES}/{id}"), None, &[]).await;
    assert_eq!(got.body["lifecycleState"], "DELETED");
}

#[tokio::test]
async fn a_denied_permission_is_not_authorized_or_not_found() {
    let o =
        Oci::start("clouds: {oci: {denied_permissions: [COMPUTE_CAPACITY_RESERVATION_CREATE]}}")
            .await;
    let r = o.create(&o.ad(1), "VM.Standard2.1", 1, "d").await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(
        r.body,
        json!({"code": "NotAuthorizedOrNotFound", "message": "Authorization failed or requested resource not found."})
    );
    assert!(o.emu.state().reservations.is_empty(), "nothing was created");
    let list = o.call(Method::GET, &list_path(&o, ""), None, &[]).await;
    assert_eq!(list.status, StatusCode::OK, "{:?}", list.body);
}
