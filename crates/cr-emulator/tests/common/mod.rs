//! Shared helpers of the protocol tests: starting an emulator, an HTTP client that trusts
//! its CA, an independent SigV4 signer for EC2 calls, an RS256 JWT signer for the GCE token
//! endpoint, and tiny XML/JSON readers.

#![allow(dead_code)]

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use cr_emulator::{Emulator, EmulatorHandle, Scenario};
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

/// Starts an emulator running the scenario given as YAML.
pub async fn start(yaml: &str) -> EmulatorHandle {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let scenario = Scenario::from_str_any(yaml).expect("test scenario parses");
    Emulator::start(scenario).await.expect("emulator starts")
}

/// A client trusting only the emulator's CA, with a generous timeout.
pub fn client(emu: &EmulatorHandle) -> reqwest::Client {
    let ca = reqwest::Certificate::from_pem(emu.ca_pem().as_bytes()).expect("CA parses");
    reqwest::Client::builder()
        .tls_certs_only([ca])
        .timeout(Duration::from_secs(60))
        .no_proxy()
        .build()
        .expect("client builds")
}

// ----- EC2 ------------------------------------------------------------------------------

/// How to sign an EC2 request.
#[derive(Clone, Debug)]
pub struct Signer {
    pub access_key: String,
    pub secret: String,
    pub region: String,
    /// Seconds to shift the signing time by (negative: in the past).
    pub skew_secs: i64,
}

impl Signer {
    pub fn for_emulator(emu: &EmulatorHandle, region: &str) -> Signer {
        Signer {
            access_key: emu.credentials().aws.access_key_id.clone(),
            secret: emu.credentials().aws.secret_access_key.clone(),
            region: region.to_owned(),
            skew_secs: 0,
        }
    }
}

fn hmac_sha256(key: &[u8], msg: &str) -> Vec<u8> {
    let mut m = Hmac::<Sha256>::new_from_slice(key).expect("any key length");
    m.update(msg.as_bytes());
    m.finalize().into_bytes().to_vec()
}

/// Form-encodes like the AWS SDKs: RFC 3986 unreserved characters kept, the rest `%XX`.
pub fn form_encode(params: &[(&str, &str)]) -> String {
    fn enc(s: &str) -> String {
        s.bytes()
            .map(|b| {
                if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                    (b as char).to_string()
                } else {
                    format!("%{b:02X}")
                }
            })
            .collect()
    }
    params
        .iter()
        .map(|(k, v)| format!("{}={}", enc(k), enc(v)))
        .collect::<Vec<_>>()
        .join("&")
}

/// Headers (name, value) for a signed `POST /` with `body` to `host`.
pub fn sign(signer: &Signer, host: &str, body: &str) -> Vec<(String, String)> {
    let now = jiff::Timestamp::now() + jiff::SignedDuration::from_secs(signer.skew_secs);
    let amz_date = now.strftime("%Y%m%dT%H%M%SZ").to_string();
    let date = &amz_date[..8];
    let content_type = "application/x-www-form-urlencoded; charset=utf-8";
    let canonical = format!(
        "POST\n/\n\ncontent-type:{content_type}\nhost:{host}\nx-amz-date:{amz_date}\n\ncontent-type;host;x-amz-date\n{}",
        hex::encode(Sha256::digest(body.as_bytes()))
    );
    let scope = format!("{date}/{}/ec2/aws4_request", signer.region);
    let to_sign = format!(
        "AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{}",
        hex::encode(Sha256::digest(canonical.as_bytes()))
    );
    let mut key = hmac_sha256(format!("AWS4{}", signer.secret).as_bytes(), date);
    for part in [signer.region.as_str(), "ec2", "aws4_request"] {
        key = hmac_sha256(&key, part);
    }
    let signature = hex::encode(hmac_sha256(&key, &to_sign));
    vec![
        ("content-type".into(), content_type.into()),
        ("x-amz-date".into(), amz_date),
        (
            "authorization".into(),
            format!(
                "AWS4-HMAC-SHA256 Credential={}/{scope}, SignedHeaders=content-type;host;x-amz-date, Signature={signature}",
                signer.access_key
            ),
        ),
    ]
}

/// An EC2 reply.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub body: String,
    pub request_id: Option<String>,
}

impl Reply {
    /// Texts of every `<tag>` element.
    pub fn all(&self, tag: &str) -> Vec<String> {
        all_between(&self.body, tag)
    }

    /// Text of the first `<tag>` element.
    pub fn one(&self, tag: &str) -> String {
        self.all(tag)
            .into_iter()
            .next()
            .unwrap_or_else(|| panic!("no <{tag}> in {}", self.body))
    }

    /// The EC2 error code of an error reply.
    pub fn code(&self) -> String {
        assert!(
            self.body.contains("<Response><Errors><Error>"),
            "not an EC2 error: {}",
            self.body
        );
        self.one("Code")
    }
}

/// Texts of every `<tag>…</tag>` (no nesting of the same tag).
pub fn all_between(body: &str, tag: &str) -> Vec<String> {
    let open = format!("<{tag}>");
    let close = format!("</{tag}>");
    let mut out = Vec::new();
    let mut rest = body;
    while let Some(i) = rest.find(&open) {
        let after = &rest[i + open.len()..];
        let Some(j) = after.find(&close) else { break };
        out.push(after[..j].to_owned());
        rest = &after[j + close.len()..];
    }
    out
}

/// Sends a signed EC2 call over HTTPS.
pub async fn ec2_with(
    client: &reqwest::Client,
    base: &str,
    signer: &Signer,
    params: &[(&str, &str)],
) -> Reply {
    let mut all = vec![("Version", "2016-11-15")];
    all.extend_from_slice(params);
    let body = form_encode(&all);
    let host = base
        .split("://")
        .nth(1)
        .expect("base url has a scheme")
        .trim_end_matches('/');
    let mut req = client.post(format!("{base}/")).body(body.clone());
    for (k, v) in sign(signer, host, &body) {
        req = req.header(k, v);
    }
    let resp = req.send().await.expect("request completes");
    let status = resp.status().as_u16();
    let request_id = resp
        .headers()
        .get("x-amzn-requestid")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    Reply {
        status,
        body: resp.text().await.expect("body reads"),
        request_id,
    }
}

/// A signed EC2 call in `region` over HTTPS.
pub async fn ec2(emu: &EmulatorHandle, region: &str, params: &[(&str, &str)]) -> Reply {
    ec2_with(
        &client(emu),
        emu.https_url(),
        &Signer::for_emulator(emu, region),
        params,
    )
    .await
}

// ----- GCE ------------------------------------------------------------------------------

/// An RS256 JWT signed with a PKCS#8 PEM key.
pub fn jwt(private_key_pem: &str, kid: &str, claims: &serde_json::Value) -> String {
    jwt_der(&pem_body(private_key_pem), kid, claims)
}

/// An RS256 JWT signed with a PKCS#8 DER key.
pub fn jwt_der(der: &[u8], kid: &str, claims: &serde_json::Value) -> String {
    let key = aws_lc_rs::rsa::KeyPair::from_pkcs8(der).expect("PKCS#8 RSA key");
    let header = serde_json::json!({"alg": "RS256", "typ": "JWT", "kid": kid});
    let signing_input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    );
    let rng = aws_lc_rs::rand::SystemRandom::new();
    let mut sig = vec![0; key.public_modulus_len()];
    key.sign(
        &aws_lc_rs::signature::RSA_PKCS1_SHA256,
        &rng,
        signing_input.as_bytes(),
        &mut sig,
    )
    .expect("signs");
    format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(sig))
}

/// The DER inside a PEM block.
pub fn pem_body(pem: &str) -> Vec<u8> {
    let b64: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    base64::engine::general_purpose::STANDARD
        .decode(b64)
        .expect("PEM base64")
}

/// Unix seconds now.
pub fn unix_now() -> i64 {
    jiff::Timestamp::now().as_second()
}

/// Claims for a token request with the emulator's service account.
pub fn token_claims(emu: &EmulatorHandle, base: &str) -> serde_json::Value {
    let now = unix_now();
    serde_json::json!({
        "iss": emu.credentials().gce.client_email,
        "scope": "https://www.googleapis.com/auth/cloud-platform",
        "aud": format!("{base}/token"),
        "iat": now,
        "exp": now + 3600,
    })
}

/// Exchanges a signed assertion for an access token; returns (status, JSON).
pub async fn token_request(emu: &EmulatorHandle, assertion: &str) -> (u16, serde_json::Value) {
    let resp = client(emu)
        .post(format!("{}/token", emu.https_url()))
        .form(&[
            ("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer"),
            ("assertion", assertion),
        ])
        .send()
        .await
        .expect("token request completes");
    (
        resp.status().as_u16(),
        resp.json().await.expect("token reply is JSON"),
    )
}

/// A valid access token for the Compute API.
pub async fn gce_token(emu: &EmulatorHandle) -> String {
    let g = &emu.credentials().gce;
    let assertion = jwt(
        &g.private_key_pem,
        &g.private_key_id,
        &token_claims(emu, emu.https_url()),
    );
    let (status, body) = token_request(emu, &assertion).await;
    assert_eq!(status, 200, "{body}");
    body["access_token"]
        .as_str()
        .expect("access_token")
        .to_owned()
}

/// A Compute call relative to `/compute/v1/projects/{project}/`; returns (status, JSON).
pub async fn gce(
    emu: &EmulatorHandle,
    token: &str,
    method: reqwest::Method,
    path: &str,
    body: Option<serde_json::Value>,
) -> (u16, serde_json::Value) {
    let project = &emu.credentials().gce.project_id;
    let url = format!("{}/compute/v1/projects/{project}/{path}", emu.https_url());
    let mut req = client(emu).request(method, url).bearer_auth(token);
    if let Some(b) = body {
        req = req.json(&b);
    }
    let resp = req.send().await.expect("compute request completes");
    let status = resp.status().as_u16();
    let text = resp.text().await.expect("body reads");
    (
        status,
        serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON: {text}")),
    )
}

/// An insert body for `count` machines of `machine_type`.
pub fn reservation_body(
    name: &str,
    machine_type: &str,
    count: serde_json::Value,
) -> serde_json::Value {
    serde_json::json!({
        "name": name,
        "description": "owner=ci",
        "specificReservationRequired": true,
        "specificReservation": {"count": count, "instanceProperties": {
            "machineType": machine_type,
            "localSsds": [{"diskSizeGb": 375, "interface": "NVME"}],
        }},
    })
}
