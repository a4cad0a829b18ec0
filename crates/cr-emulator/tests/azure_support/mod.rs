//! Helpers for the Azure protocol tests: an emulator with a scenario, a bearer token from its
//! token endpoint, and raw ARM calls with reqwest.

#![allow(dead_code)]

use std::time::Duration;

use cr_emulator::{Emulator, EmulatorHandle, Scenario};
use reqwest::StatusCode;
use reqwest::header::HeaderMap;
use serde_json::Value;

/// Newest Compute api-version (what azure-mgmt-compute 39 sends).
pub const COMPUTE_API: &str = "2026-04-01";
/// Resource groups.
pub const RESOURCES_API: &str = "2024-11-01";
/// Locations.
pub const SUBSCRIPTIONS_API: &str = "2022-12-01";

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
        self.body["error"]["code"].as_str().unwrap_or_default()
    }
}

pub struct Az {
    pub emu: EmulatorHandle,
    pub http: reqwest::Client,
    pub token: String,
    pub base: String,
    pub sub: String,
}

pub fn scenario(yaml: &str) -> Scenario {
    Scenario::from_str_any(yaml).expect("scenario parses")
}

pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .expect("client")
}

async fn answer(resp: reqwest::Response) -> Answer {
    let status = resp.status();
    let headers = resp.headers().clone();
    let bytes = resp.bytes().await.expect("body");
    let body = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()))
    };
    Answer {
        status,
        headers,
        body,
    }
}

/// Asks the emulator's token endpoint for an ARM token.
pub async fn fetch_token(http: &reqwest::Client, base: &str, emu: &EmulatorHandle) -> Answer {
    let a = &emu.credentials().azure;
    let resp = http
        .post(format!("{base}/{}/oauth2/v2.0/token", a.tenant_id))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", a.client_id.as_str()),
            ("client_secret", a.client_secret.as_str()),
            ("scope", "https://management.azure.com/.default"),
        ])
        .send()
        .await
        .expect("token request");
    answer(resp).await
}

impl Az {
    /// An emulator running `yaml`, with a token, talking plain HTTP.
    pub async fn start(yaml: &str) -> Az {
        let emu = Emulator::start(scenario(yaml))
            .await
            .expect("emulator starts");
        let http = client();
        let base = emu.http_url().to_owned();
        let t = fetch_token(&http, &base, &emu).await;
        assert_eq!(t.status, StatusCode::OK, "{:?}", t.body);
        let token = t.body["access_token"]
            .as_str()
            .expect("access_token")
            .to_owned();
        let sub = emu.credentials().azure.subscription_id.clone();
        Az {
            emu,
            http,
            token,
            base,
            sub,
        }
    }

    /// `/subscriptions/{sub}{rest}?api-version={api}` (rest starts with `/` or is empty).
    pub fn url(&self, rest: &str, api: &str) -> String {
        let sep = if rest.contains('?') { '&' } else { '?' };
        format!(
            "{}/subscriptions/{}{rest}{sep}api-version={api}",
            self.base, self.sub
        )
    }

    pub fn rg_path(rg: &str) -> String {
        format!("/resourceGroups/{rg}")
    }

    pub fn group_path(rg: &str, g: &str) -> String {
        format!("/resourceGroups/{rg}/providers/Microsoft.Compute/capacityReservationGroups/{g}")
    }

    pub fn res_path(rg: &str, g: &str, r: &str) -> String {
        format!("{}/capacityReservations/{r}", Az::group_path(rg, g))
    }

    pub async fn send(&self, method: reqwest::Method, url: &str, body: Option<&Value>) -> Answer {
        let mut req = self.http.request(method, url).bearer_auth(&self.token);
        if let Some(b) = body {
            req = req.json(b);
        }
        answer(req.send().await.expect("request")).await
    }

    pub async fn get_url(&self, url: &str) -> Answer {
        self.send(reqwest::Method::GET, url, None).await
    }

    pub async fn put(&self, rest: &str, api: &str, body: Value) -> Answer {
        self.send(reqwest::Method::PUT, &self.url(rest, api), Some(&body))
            .await
    }

    pub async fn get(&self, rest: &str, api: &str) -> Answer {
        self.send(reqwest::Method::GET, &self.url(rest, api), None)
            .await
    }

    pub async fn delete(&self, rest: &str, api: &str) -> Answer {
        self.send(reqwest::Method::DELETE, &self.url(rest, api), None)
            .await
    }

    /// Resource group `rg` in eastus.
    pub async fn rg(&self, rg: &str) {
        let a = self
            .put(
                &Az::rg_path(rg),
                RESOURCES_API,
                serde_json::json!({"location": "eastus"}),
            )
            .await;
        assert!(a.status.is_success(), "{:?}", a.body);
    }

    /// Group `g` in `rg` (eastus) with `zones`.
    pub async fn group(&self, rg: &str, g: &str, zones: &[&str]) -> Answer {
        let mut body = serde_json::json!({"location": "eastus", "tags": {"owner": "ci"}});
        if !zones.is_empty() {
            body["zones"] = serde_json::json!(zones);
        }
        self.put(&Az::group_path(rg, g), COMPUTE_API, body).await
    }

    /// Reservation PUT.
    pub async fn reserve(
        &self,
        rg: &str,
        g: &str,
        r: &str,
        sku: &str,
        capacity: u32,
        zone: Option<&str>,
    ) -> Answer {
        let mut body = serde_json::json!({
            "location": "eastus",
            "tags": {"cluster": "c1"},
            "sku": {"name": sku, "capacity": capacity},
        });
        if let Some(z) = zone {
            body["zones"] = serde_json::json!([z]);
        }
        self.put(&Az::res_path(rg, g, r), COMPUTE_API, body).await
    }
}
