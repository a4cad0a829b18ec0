//! Helpers for the OCI protocol tests: an emulator with a scenario and an independent
//! implementation of OCI request signing (draft-cavage HTTP signatures, rsa-sha256) on
//! aws-lc-rs, written from the SDKs' documented behaviour rather than shared with the
//! emulator's verifier.

#![allow(dead_code)]

use std::time::Duration;

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::KeyPair;
use aws_lc_rs::signature::RSA_PKCS1_SHA256;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use cr_emulator::{Emulator, EmulatorHandle, Scenario};
use reqwest::header::HeaderMap;
use reqwest::{Method, StatusCode};
use serde_json::Value;
use sha2::{Digest, Sha256};

/// One answer.
#[derive(Debug)]
pub struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Value,
}

impl Answer {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    pub fn code(&self) -> &str {
        self.body["code"].as_str().unwrap_or_default()
    }
}

/// Parses a PKCS#8 PEM private key.
pub fn key_from_pem(pem: &str) -> KeyPair {
    let b64: String = pem
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .collect::<Vec<_>>()
        .concat();
    let der = B64.decode(b64).expect("PEM base64");
    KeyPair::from_pkcs8(&der).expect("PKCS#8 RSA key")
}

/// How to sign (tests bend these to provoke rejections).
#[derive(Debug, Clone, Default)]
pub struct SignOpts {
    /// Seconds to shift the `date` header by.
    pub date_shift_s: i64,
    /// Override of the signed header list.
    pub headers: Option<Vec<&'static str>>,
    /// Override of the keyId.
    pub key_id: Option<String>,
    /// Sign this body instead of the one sent.
    pub signed_body: Option<Vec<u8>>,
    /// Send no Authorization header at all.
    pub unsigned: bool,
    /// Send (and sign) this `Host` instead of the URL's.
    pub host: Option<String>,
}

pub struct Oci {
    pub emu: EmulatorHandle,
    pub http: reqwest::Client,
    pub base: String,
    pub key: KeyPair,
    pub key_id: String,
    pub tenancy: String,
}

pub fn scenario(yaml: &str) -> Scenario {
    Scenario::from_str_any(yaml).expect("scenario parses")
}

impl Oci {
    pub async fn start(yaml: &str) -> Oci {
        let emu = Emulator::start(scenario(yaml))
            .await
            .expect("emulator starts");
        let c = &emu.credentials().oci;
        let key = key_from_pem(&c.private_key_pem);
        let key_id = format!("{}/{}/{}", c.tenancy_ocid, c.user_ocid, c.fingerprint);
        let tenancy = c.tenancy_ocid.clone();
        let base = emu.http_url().to_owned();
        Oci {
            emu,
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(60))
                .build()
                .expect("client"),
            base,
            key,
            key_id,
            tenancy,
        }
    }

    /// Sends `method path` (path with query, starting with `/`) signed as the OCI SDKs do.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
        extra: &[(&str, &str)],
    ) -> Answer {
        self.call_with(method, path, body, extra, &SignOpts::default(), None)
            .await
    }

    /// Like [`Oci::call`] with signing options and an optional other key.
    pub async fn call_with(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
        extra: &[(&str, &str)],
        opts: &SignOpts,
        other_key: Option<&KeyPair>,
    ) -> Answer {
        let url = reqwest::Url::parse(&format!("{}{path}", self.base)).expect("url");
        let host = opts
            .host
            .clone()
            .unwrap_or_else(|| format!("{}:{}", url.host_str().unwrap(), url.port().unwrap()));
        let target = match url.query() {
            Some(q) => format!(
                "{} {}?{q}",
                method.as_str().to_ascii_lowercase(),
                url.path()
            ),
            None => format!("{} {}", method.as_str().to_ascii_lowercase(), url.path()),
        };
        let has_body = matches!(method.as_str(), "POST" | "PUT" | "PATCH");
        let bytes: Vec<u8> = body
            .map(|b| serde_json::to_vec(b).unwrap())
            .unwrap_or_default();
        let when = jiff::Timestamp::now() + jiff::SignedDuration::from_secs(opts.date_shift_s);
        let date = jiff::fmt::rfc2822::DateTimePrinter::new()
            .timestamp_to_rfc9110_string(&when)
            .unwrap();
        let signed_body = opts.signed_body.clone().unwrap_or_else(|| bytes.clone());
        let sha = B64.encode(Sha256::digest(&signed_body));
        let names: Vec<&str> = opts.headers.clone().unwrap_or_else(|| {
            let mut v = vec!["date", "(request-target)", "host"];
            if has_body {
                v.extend(["content-length", "content-type", "x-content-sha256"]);
            }
            v
        });
        let value_of = |name: &str| -> String {
            match name {
                "date" => date.clone(),
                "(request-target)" => target.clone(),
                "host" => host.clone(),
                "content-length" => signed_body.len().to_string(),
                "content-type" => "application/json".to_owned(),
                "x-content-sha256" => sha.clone(),
                other => panic!("unknown header {other}"),
            }
        };
        let signing_string = names
            .iter()
            .map(|n| format!("{n}: {}", value_of(n)))
            .collect::<Vec<_>>()
            .join("\n");
        let key = other_key.unwrap_or(&self.key);
        let mut sig = vec![0u8; key.public_modulus_len()];
        key.sign(
            &RSA_PKCS1_SHA256,
            &SystemRandom::new(),
            signing_string.as_bytes(),
            &mut sig,
        )
        .expect("sign");
        let auth = format!(
            "Signature version=\"1\",headers=\"{}\",keyId=\"{}\",algorithm=\"rsa-sha256\",signature=\"{}\"",
            names.join(" "),
            opts.key_id.clone().unwrap_or_else(|| self.key_id.clone()),
            B64.encode(&sig)
        );
        let mut req = self
            .http
            .request(method, url)
            .header("date", &date)
            .header("host", &host);
        if !opts.unsigned {
            req = req.header("authorization", auth);
        }
        if has_body {
            req = req
                .header("content-type", "application/json")
                .header("x-content-sha256", &sha)
                .body(bytes);
        }
        for (k, v) in extra {
            req = req.header(*k, *v);
        }
        let resp = req.send().await.expect("request");
        let status = resp.status();
        let headers = resp.headers().clone();
        let raw = resp.bytes().await.expect("body");
        let body = if raw.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&raw)
                .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&raw).into_owned()))
        };
        Answer {
            status,
            headers,
            body,
        }
    }

    /// The first availability domain of the home region (`Emul:PHX-AD-1`).
    pub fn ad(&self, n: u32) -> String {
        format!("Emul:PHX-AD-{n}")
    }

    /// A create body for one config.
    pub fn create_body(&self, ad: &str, shape: &str, count: u32, name: &str) -> Value {
        let mut config = serde_json::json!({"instanceShape": shape, "reservedCount": count});
        if shape.ends_with(".Flex") {
            config["instanceShapeConfig"] = serde_json::json!({"ocpus": 8.0, "memoryInGBs": 64.0});
        }
        serde_json::json!({
            "compartmentId": self.tenancy,
            "availabilityDomain": ad,
            "displayName": name,
            "freeformTags": {"cluster": "c1"},
            "definedTags": {"Ops": {"team": "qa"}},
            "instanceReservationConfigs": [config],
        })
    }

    pub async fn create(&self, ad: &str, shape: &str, count: u32, name: &str) -> Answer {
        let body = self.create_body(ad, shape, count, name);
        self.call(
            Method::POST,
            "/20160918/computeCapacityReservations",
            Some(&body),
            &[],
        )
        .await
    }
}
