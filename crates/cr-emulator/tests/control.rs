//! The control and audit API (`/_emulator/...`), credentials written for tooling, latency and
//! hang faults, and both listeners.

mod azure_support;
mod common;

use std::time::Duration;

use common::{client, ec2, gce, gce_token, jwt, reservation_body, start, token_request};
use reqwest::Method;
use serde_json::{Value, json};

#[tokio::test]
async fn state_and_requests_report_every_reservation_and_call() {
    let emu = start("").await;
    let r = ec2(
        &emu,
        "us-east-1",
        &[
            ("Action", "CreateCapacityReservation"),
            ("InstanceType", "i4i.large"),
            ("InstancePlatform", "Linux/UNIX"),
            ("AvailabilityZone", "us-east-1a"),
            ("InstanceCount", "3"),
            ("TagSpecifications.1.ResourceType", "capacity-reservation"),
            ("TagSpecifications.1.Tag.1.Key", "owner"),
            ("TagSpecifications.1.Tag.1.Value", "ci"),
        ],
    )
    .await;
    assert_eq!(r.status, 200);
    let token = gce_token(&emu).await;
    let (status, _) = gce(
        &emu,
        &token,
        Method::POST,
        "zones/us-east1-c/reservations",
        Some(reservation_body("audit-me", "n2-standard-8", json!("2"))),
    )
    .await;
    assert_eq!(status, 200);

    let http = client(&emu);
    let state: Value = http
        .get(format!("{}/_emulator/state", emu.http_url()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let list = state["reservations"].as_array().unwrap();
    assert_eq!(list.len(), 2);
    let mut keys: Vec<&str> = list[0]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "cloud",
            "count",
            "created_at",
            "ended_at",
            "id",
            "instance_type",
            "name",
            "region",
            "state",
            "tags",
            "used",
            "zone"
        ]
    );
    assert_eq!(list[0]["cloud"], "aws");
    assert_eq!(list[0]["used"], 0, "no instance was launched into it");
    assert_eq!(list[0]["state"], "active");
    assert_eq!(list[0]["tags"], json!({"owner": "ci"}));
    assert_eq!(list[0]["ended_at"], Value::Null);
    assert_eq!(list[1]["cloud"], "gce");
    assert_eq!(
        (list[1]["name"].as_str(), list[1]["count"].as_u64()),
        (Some("audit-me"), Some(2))
    );
    assert_eq!(list[1]["region"], "us-east1");

    let requests: Value = http
        .get(format!("{}/_emulator/requests", emu.https_url()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let log = requests["requests"].as_array().unwrap();
    let ops: Vec<&str> = log
        .iter()
        .map(|r| r["operation"].as_str().unwrap())
        .collect();
    assert_eq!(
        ops,
        ["CreateCapacityReservation", "token", "reservations.insert"]
    );
    assert_eq!(log[0]["cloud"], "aws");
    assert_eq!(log[0]["status"], 200);
    assert_eq!(log[0]["error_code"], Value::Null);
    assert!(log[0]["latency_ms"].as_f64().unwrap() >= 0.0);
    assert_eq!(log[2]["cloud"], "gce");
    emu.shutdown().await;
}

#[tokio::test]
async fn scenario_can_be_replaced_at_runtime_and_reset_clears_everything() {
    let emu = start("").await;
    let http = client(&emu);
    let create = [
        ("Action", "CreateCapacityReservation"),
        ("InstanceType", "m5.large"),
        ("InstancePlatform", "Linux/UNIX"),
        ("AvailabilityZone", "us-east-1a"),
        ("InstanceCount", "1"),
    ];
    assert_eq!(ec2(&emu, "us-east-1", &create).await.status, 200);

    let put = http
        .put(format!("{}/_emulator/scenario", emu.http_url()))
        .body("clouds: {aws: {regions: {us-east-1: {zones: {us-east-1a: {m5.large: 1}}}}}}\n")
        .send()
        .await
        .unwrap();
    assert_eq!(put.status().as_u16(), 200);
    let echoed: Value = put.json().await.unwrap();
    assert_eq!(
        echoed["clouds"]["aws"]["regions"]["us-east-1"]["zones"]["us-east-1a"]["m5.large"],
        1
    );
    let full = ec2(&emu, "us-east-1", &create).await;
    assert_eq!(
        full.code(),
        "InsufficientInstanceCapacity",
        "the existing reservation uses the one instance"
    );

    let bad = http
        .put(format!("{}/_emulator/scenario", emu.http_url()))
        .body("seeds: 3\n")
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status().as_u16(), 400, "unknown keys are refused");
    let json_put = http
        .put(format!("{}/_emulator/scenario", emu.http_url()))
        .header("content-type", "application/json")
        .body(r#"{"seed": 5, "default_capacity": 7}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(json_put.status().as_u16(), 200);
    let current: Value = http
        .get(format!("{}/_emulator/scenario", emu.http_url()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        (
            current["seed"].as_u64(),
            current["default_capacity"].as_u64()
        ),
        (Some(5), Some(7))
    );

    let advanced: Value = http
        .post(format!("{}/_emulator/clock/advance", emu.http_url()))
        .json(&json!({"seconds": 7200}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let now: jiff::Timestamp = advanced["now"].as_str().unwrap().parse().unwrap();
    assert!(now.duration_since(jiff::Timestamp::now()).as_secs() >= 7000);

    let reset = http
        .post(format!("{}/_emulator/reset", emu.http_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(reset.status().as_u16(), 204);
    assert!(emu.state().reservations.is_empty());
    assert!(emu.requests().is_empty());
    assert_eq!(
        emu.world().available(
            cr_emulator::CloudKind::Aws,
            "us-east-1",
            "us-east-1a",
            "m5.large"
        ),
        7
    );
    let after: Value = http
        .get(format!("{}/_emulator/clock", emu.http_url()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let now: jiff::Timestamp = after["now"].as_str().unwrap().parse().unwrap();
    assert!(
        now.duration_since(jiff::Timestamp::now()).as_secs() < 60,
        "reset rewinds the clock"
    );
    emu.shutdown().await;
}

#[tokio::test]
async fn credential_files_debug_redacts_the_secrets() {
    let emu = start("").await;
    let dir = tempfile::tempdir().unwrap();
    let files = emu.write_credentials(dir.path()).unwrap();
    let shown = format!("{files:?}");
    for secret in [
        &emu.credentials().aws.secret_access_key,
        &emu.credentials().azure.client_secret,
    ] {
        assert!(!shown.contains(secret.as_str()), "secret in {shown}");
    }
    assert!(shown.contains("AWS_SECRET_ACCESS_KEY"), "{shown}");
    assert!(shown.contains("<redacted>"), "{shown}");
    // Every credential type, the TLS identity and the running emulator (its issued tokens
    // included) keep every secret out of Debug.
    let gce_token = gce_token(&emu).await;
    let c = emu.credentials();
    let azure = azure_support::fetch_token(&client(&emu), emu.https_url(), &emu).await;
    let azure_token = azure.body["access_token"]
        .as_str()
        .expect("an Entra token")
        .to_string();
    let key_lines: Vec<&str> = [
        c.gce.private_key_pem.as_str(),
        c.oci.private_key_pem.as_str(),
    ]
    .iter()
    .flat_map(|pem| pem.lines())
    .filter(|l| !l.starts_with("-----") && l.len() > 16)
    .collect();
    assert!(!key_lines.is_empty());
    for text in [
        format!("{c:?}"),
        format!("{:?}", c.aws),
        format!("{:?}", c.gce),
        format!("{:?}", c.azure),
        format!("{:?}", c.oci),
        format!("{:?}", emu.identity()),
        format!("{emu:?}"),
    ] {
        for secret in [
            c.aws.secret_access_key.as_str(),
            c.azure.client_secret.as_str(),
            gce_token.as_str(),
            azure_token.as_str(),
        ]
        .into_iter()
        .chain(key_lines.iter().copied())
        {
            assert!(!text.contains(secret), "a secret in {text}");
        }
    }
    // What is not secret stays readable.
    assert!(shown.contains(emu.https_url()), "{shown}");
    assert!(
        shown.contains(&emu.credentials().aws.access_key_id),
        "{shown}"
    );
    emu.shutdown().await;
}

#[tokio::test]
async fn written_credentials_work_for_every_cloud() {
    let emu = start("").await;
    let dir = tempfile::tempdir().unwrap();
    let files = emu.write_credentials(dir.path()).unwrap();
    let env = std::fs::read_to_string(&files.env_sh).unwrap();
    for var in [
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_REGION",
        "GOOGLE_APPLICATION_CREDENTIALS",
        "AZURE_TENANT_ID",
        "AZURE_CLIENT_ID",
        "AZURE_CLIENT_SECRET",
        "AZURE_SUBSCRIPTION_ID",
        "AZURE_AUTHORITY_HOST",
        "OCI_CLI_CONFIG_FILE",
        "CR_ENDPOINT",
        "CR_ENDPOINT_HTTP",
        "CR_CA_BUNDLE",
        "AWS_CA_BUNDLE",
        "REQUESTS_CA_BUNDLE",
        "SSL_CERT_FILE",
    ] {
        assert!(
            env.contains(&format!("export {var}=")),
            "{var} missing from env.sh"
        );
        assert!(
            files.env.contains_key(var),
            "{var} missing from CredentialFiles::env"
        );
    }
    assert_eq!(files.env["CR_ENDPOINT"], emu.https_url());
    assert_eq!(files.env["CR_ENDPOINT_HTTP"], emu.http_url());
    assert_eq!(
        std::fs::read_to_string(&files.ca_pem).unwrap(),
        emu.ca_pem()
    );
    assert_eq!(
        files.env["CR_CA_BUNDLE"],
        files.ca_pem.display().to_string()
    );

    // The service-account file is usable as is: its token_uri is the emulator.
    let key: Value =
        serde_json::from_str(&std::fs::read_to_string(&files.gce_key).unwrap()).unwrap();
    assert_eq!(key["type"], "service_account");
    let token_uri = key["token_uri"].as_str().unwrap();
    assert_eq!(token_uri, format!("{}/token", emu.https_url()));
    let now = common::unix_now();
    let assertion = jwt(
        key["private_key"].as_str().unwrap(),
        key["private_key_id"].as_str().unwrap(),
        &json!({"iss": key["client_email"], "scope": "https://www.googleapis.com/auth/compute", "aud": token_uri, "iat": now, "exp": now + 600}),
    );
    assert_eq!(token_request(&emu, &assertion).await.0, 200);

    let oci = std::fs::read_to_string(&files.oci_config).unwrap();
    assert!(oci.contains(&format!(
        "fingerprint={}",
        emu.credentials().oci.fingerprint
    )));
    assert!(oci.contains(&format!("key_file={}", files.oci_key.display())));
    assert!(
        std::fs::read_to_string(&files.oci_key)
            .unwrap()
            .starts_with("-----BEGIN PRIVATE KEY-----")
    );
    let aws = std::fs::read_to_string(&files.aws_credentials).unwrap();
    assert!(aws.contains(&emu.credentials().aws.access_key_id));

    // Secrets never show in Debug output.
    let debug = format!("{:?}", emu.credentials());
    assert!(!debug.contains(&emu.credentials().aws.secret_access_key));
    assert!(!debug.contains(&emu.credentials().azure.client_secret));
    assert!(!debug.contains("PRIVATE KEY"));
    emu.shutdown().await;
}

#[tokio::test]
async fn latency_and_hang_faults() {
    let emu = start(
        r#"
latency: {fixed_ms: 0, jitter_ms: 0, operations: {"aws:DescribeRegions": {fixed_ms: 150, jitter_ms: 0}}}
hang_ms: 30000
faults:
  - {cloud: aws, operation: DescribeAvailabilityZones, kind: hang, rate: 1.0}
"#,
    )
    .await;
    let r = ec2(&emu, "us-east-1", &[("Action", "DescribeRegions")]).await;
    assert_eq!(r.status, 200);
    let logged = emu.requests();
    assert!(logged[0].latency_ms >= 150.0, "{:?}", logged[0]);

    let impatient = reqwest::Client::builder()
        .tls_certs_only([reqwest::Certificate::from_pem(emu.ca_pem().as_bytes()).unwrap()])
        .timeout(Duration::from_millis(300))
        .build()
        .unwrap();
    let signer = common::Signer::for_emulator(&emu, "us-east-1");
    let body = common::form_encode(&[
        ("Action", "DescribeAvailabilityZones"),
        ("Version", "2016-11-15"),
    ]);
    let host = emu.https_url().trim_start_matches("https://").to_owned();
    let mut req = impatient
        .post(format!("{}/", emu.https_url()))
        .body(body.clone());
    for (k, v) in common::sign(&signer, &host, &body) {
        req = req.header(k, v);
    }
    let err = req
        .send()
        .await
        .expect_err("the request hangs past the timeout");
    assert!(err.is_timeout(), "{err}");
    // Shutting down does not wait for the hanging request.
    tokio::time::timeout(Duration::from_secs(10), emu.shutdown())
        .await
        .expect("shutdown is prompt");
}

#[tokio::test]
async fn a_request_whose_client_hung_up_is_logged_with_status_0() {
    let emu = start(
        r#"
hang_ms: 30000
faults:
  - {cloud: aws, operation: DescribeAvailabilityZones, kind: hang, rate: 1.0}
"#,
    )
    .await;
    let impatient = reqwest::Client::builder()
        .tls_certs_only([reqwest::Certificate::from_pem(emu.ca_pem().as_bytes()).unwrap()])
        .timeout(Duration::from_millis(300))
        .build()
        .unwrap();
    let signer = common::Signer::for_emulator(&emu, "us-east-1");
    let body = common::form_encode(&[
        ("Action", "DescribeAvailabilityZones"),
        ("Version", "2016-11-15"),
    ]);
    let host = emu.https_url().trim_start_matches("https://").to_owned();
    for _ in 0..2 {
        let mut req = impatient
            .post(format!("{}/", emu.https_url()))
            .body(body.clone());
        for (k, v) in common::sign(&signer, &host, &body) {
            req = req.header(k, v);
        }
        let err = req.send().await.expect_err("the request hangs");
        assert!(err.is_timeout(), "{err}");
    }
    // The server learns of the hang-up when the connection closes: wait for it, well
    // before the 30 s hang would end.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let logged = loop {
        let logged = emu.requests();
        if logged.len() >= 2 || std::time::Instant::now() > deadline {
            break logged;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(logged.len(), 2, "{logged:?}");
    for r in &logged {
        assert_eq!(r.status, 0, "{r:?}");
        assert_eq!(r.method, "POST");
        assert_eq!(r.path, "/");
        assert!(r.latency_ms >= 250.0, "{r:?}");
    }
    tokio::time::timeout(Duration::from_secs(10), emu.shutdown())
        .await
        .expect("shutdown is prompt");
}

#[tokio::test]
async fn unknown_paths_get_404_and_both_listeners_serve_control() {
    let emu = start("").await;
    let http = client(&emu);
    let resp = http
        .get(format!("{}/nowhere", emu.https_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 404);
    let info: Value = http
        .get(format!("{}/_emulator/info", emu.https_url()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(info["https_url"], emu.https_url());
    assert_eq!(
        info["aws"]["access_key_id"],
        emu.credentials().aws.access_key_id
    );
    assert!(
        !info
            .to_string()
            .contains(&emu.credentials().aws.secret_access_key)
    );
    emu.shutdown().await;
}

#[tokio::test]
async fn fixed_ports_are_honoured() {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    // Find two free ports, then ask for them explicitly; another process may grab one in
    // between, so try a few times.
    for _ in 0..5 {
        let a = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let b = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let (pa, pb) = (
            a.local_addr().unwrap().port(),
            b.local_addr().unwrap().port(),
        );
        drop((a, b));
        let Ok(emu) = cr_emulator::Emulator::builder()
            .port(pa)
            .tls_port(pb)
            .start()
            .await
        else {
            continue;
        };
        assert_eq!(emu.http_url(), format!("http://127.0.0.1:{pa}"));
        assert_eq!(emu.https_url(), format!("https://127.0.0.1:{pb}"));
        let ok = client(&emu)
            .get(format!("{}/_emulator/clock", emu.https_url()))
            .send()
            .await
            .unwrap();
        assert_eq!(ok.status().as_u16(), 200);
        emu.shutdown().await;
        return;
    }
    panic!("could not bind two free ports in five attempts");
}

#[test]
fn the_documented_scenario_example_parses_and_means_what_it_says() {
    let doc = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../docs/emulator.md"
    ))
    .unwrap();
    let section = &doc[doc.find("## Scenario").expect("scenario section")..];
    let start = section.find("```yaml\n").expect("yaml example") + "```yaml\n".len();
    let yaml = &section[start..start + section[start..].find("```").unwrap()];
    let s = cr_emulator::Scenario::from_str_any(yaml).expect("documented example parses");
    assert_eq!(s.seed, 7);
    assert_eq!(s.clouds.aws.regions["us-east-1"].quotas["standard"], 64);
    assert_eq!(
        s.clouds.aws.regions["us-east-1"].zones["us-east-1b"]["p4d.24xlarge"],
        -1
    );
    assert_eq!(s.faults.len(), 3);
    assert_eq!(s.faults[1].limit, Some(1));
    assert_eq!(
        s.latency.operations["aws:CreateCapacityReservation"].fixed_ms,
        200
    );
    let w = cr_emulator::World::new(s);
    assert_eq!(
        w.lro_duration(cr_emulator::CloudKind::Aws),
        Duration::from_secs(5)
    );
    assert_eq!(w.lro_duration(cr_emulator::CloudKind::Gce), Duration::ZERO);
}

/// `lost_reply`: the reservation is made, but the client gets no answer.
#[tokio::test]
async fn lost_reply_carries_out_the_request_and_drops_the_answer() {
    let scenario = cr_emulator::Scenario::from_str_any(
        "faults:\n  - {cloud: gce, operation: token, kind: lost_reply, rate: 1.0, limit: 1}\n",
    )
    .expect("scenario parses");
    let emu = cr_emulator::Emulator::start(scenario)
        .await
        .expect("starts");
    let client = reqwest::Client::new();
    let url = format!("{}/token", emu.http_url());
    let first = client
        .post(&url)
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await;
    assert!(first.is_err(), "the first answer is lost: {first:?}");
    let second = client
        .post(&url)
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .expect("the second is answered");
    // The grant type is wrong for Google's endpoint: an OAuth error, but an answer.
    assert_eq!(second.status().as_u16(), 400);
    let log = emu.requests();
    assert!(
        log.iter()
            .any(|r| r.operation == "token" && r.fault == Some(cr_emulator::FaultKind::LostReply)),
        "{log:?}"
    );
    emu.shutdown().await;
}

/// `clock_skew_s` (here set at run time with `POST /_emulator/clock/skew`): the clouds' clock
/// is off the client's, so EC2 refuses a request signed on the client's clock past 15
/// minutes (`RequestExpired`) and accepts one 10 minutes off, the GCE token endpoint refuses
/// an assertion minted on it (`invalid_grant`), and every answer's `Date` is the clouds'
/// clock; the world clock does not move.
#[tokio::test]
async fn clock_skew_is_set_at_run_time_and_checked_by_authentication() {
    let emu = start("").await;
    let http = client(&emu);
    let world_before = emu.world().now();
    let set = |seconds: i64| {
        let http = http.clone();
        let url = format!("{}/_emulator/clock/skew", emu.http_url());
        async move {
            let r = http
                .post(url)
                .json(&json!({ "seconds": seconds }))
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 200);
            r.json::<Value>().await.unwrap()
        }
    };
    let describe = [("Action", "DescribeAvailabilityZones")];

    assert_eq!(set(-600).await["skew_s"], -600);
    let r = ec2(&emu, "us-east-1", &describe).await;
    assert_eq!(r.status, 200, "10 minutes is within EC2's 15: {}", r.body);

    assert_eq!(set(1200).await["skew_s"], 1200);
    let r = ec2(&emu, "us-east-1", &describe).await;
    assert_eq!((r.status, r.code().as_str()), (400, "RequestExpired"));
    let g = &emu.credentials().gce;
    let assertion = jwt(
        &g.private_key_pem,
        &g.private_key_id,
        &common::token_claims(&emu, emu.https_url()),
    );
    let (status, body) = token_request(&emu, &assertion).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .contains("Check your iat and exp values"),
        "{body}"
    );
    // The answer's Date is the clouds' clock, 20 minutes ahead.
    let answer = http
        .get(format!("{}/compute/v1/projects/p/zones", emu.https_url()))
        .send()
        .await
        .unwrap();
    let date = answer.headers()["date"].to_str().unwrap().to_string();
    let at = jiff::fmt::rfc2822::DateTimeParser::new()
        .parse_timestamp(&date)
        .unwrap();
    let ahead = at.as_second() - jiff::Timestamp::now().as_second();
    assert!(
        (1190..=1210).contains(&ahead),
        "Date {date} is {ahead} s ahead"
    );
    let clock: Value = http
        .get(format!("{}/_emulator/clock", emu.http_url()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(clock["skew_s"], 1200);
    assert!(
        (emu.world().now().as_second() - world_before.as_second()).abs() < 60,
        "the world clock is not moved by the skew"
    );

    // Back in step: accepted again.
    set(0).await;
    let r = ec2(&emu, "us-east-1", &describe).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let (status, body) = token_request(&emu, &assertion).await;
    assert_eq!(status, 200, "{body}");
    let bad = http
        .post(format!("{}/_emulator/clock/skew", emu.http_url()))
        .json(&json!({"minutes": 3}))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 400);
}
