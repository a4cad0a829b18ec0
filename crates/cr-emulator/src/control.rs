//! The control and audit API under `/_emulator/` (JSON): the audit of every reservation, the
//! request log, the scenario, reset, the world clock, and the clouds' clock skew. These requests are not logged and
//! never see faults or latency.

use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;

use crate::scenario::Scenario;
use crate::server::AppState;

/// `/_emulator/*` routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/_emulator/state", get(state))
        .route("/_emulator/requests", get(requests))
        .route("/_emulator/scenario", get(get_scenario).put(put_scenario))
        .route("/_emulator/reset", post(reset))
        .route("/_emulator/clock", get(clock))
        .route("/_emulator/clock/advance", post(advance))
        .route("/_emulator/clock/skew", post(skew))
        .route("/_emulator/info", get(info))
}

fn bad_request(message: impl std::fmt::Display) -> Response {
    (
        StatusCode::BAD_REQUEST,
        Json(json!({"error": message.to_string()})),
    )
        .into_response()
}

async fn state(State(app): State<AppState>) -> Response {
    app.sweep();
    Json(app.world.state()).into_response()
}

async fn requests(State(app): State<AppState>) -> Response {
    Json(json!({"requests": app.world.requests()})).into_response()
}

async fn get_scenario(State(app): State<AppState>) -> Response {
    Json(app.world.scenario()).into_response()
}

async fn put_scenario(State(app): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let Ok(text) = std::str::from_utf8(&body) else {
        return bad_request("scenario is not UTF-8");
    };
    let is_json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("json"));
    let parsed = if is_json {
        serde_json::from_str::<Scenario>(text)
            .map_err(|e| e.to_string())
            .and_then(|s| s.validate().map(|()| s).map_err(|e| e.to_string()))
    } else {
        Scenario::from_str_any(text).map_err(|e| e.to_string())
    };
    match parsed {
        Ok(scenario) => {
            app.world.set_scenario(scenario);
            Json(app.world.scenario()).into_response()
        }
        Err(e) => bad_request(e),
    }
}

async fn reset(State(app): State<AppState>) -> Response {
    app.reset();
    StatusCode::NO_CONTENT.into_response()
}

async fn clock(State(app): State<AppState>) -> Response {
    Json(json!({"now": app.world.now(), "skew_s": app.world.clock_skew_s()})).into_response()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Skew {
    seconds: i64,
}

/// `POST /_emulator/clock/skew {"seconds": -600}`: the scenario's `clock_skew_s`.
async fn skew(State(app): State<AppState>, body: Bytes) -> Response {
    let skew: Skew = match serde_json::from_slice(&body) {
        Ok(s) => s,
        Err(e) => {
            return bad_request(format!(
                "expected {{\"seconds\": N}} (the clouds' clock ahead of the client's by N seconds, negative: behind): {e}"
            ));
        }
    };
    app.world.set_clock_skew(skew.seconds);
    Json(json!({"now": app.world.now(), "skew_s": app.world.clock_skew_s()})).into_response()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Advance {
    #[serde(default)]
    seconds: u64,
    #[serde(default)]
    ms: u64,
}

async fn advance(State(app): State<AppState>, body: Bytes) -> Response {
    let advance: Advance = match serde_json::from_slice(&body) {
        Ok(a) => a,
        Err(e) => return bad_request(format!("expected {{\"seconds\": N}} or {{\"ms\": N}}: {e}")),
    };
    app.world
        .advance(Duration::from_secs(advance.seconds) + Duration::from_millis(advance.ms));
    app.sweep();
    Json(json!({"now": app.world.now()})).into_response()
}

async fn info(State(app): State<AppState>) -> Response {
    let (http, https) = app.base_urls();
    let c = &app.creds;
    Json(json!({
        "http_url": http,
        "https_url": https,
        "aws": {"access_key_id": c.aws.access_key_id, "account_id": c.aws.account_id},
        "gce": {"project_id": c.gce.project_id, "client_email": c.gce.client_email},
        "azure": {"tenant_id": c.azure.tenant_id, "client_id": c.azure.client_id, "subscription_id": c.azure.subscription_id},
        "oci": {"tenancy_ocid": c.oci.tenancy_ocid, "user_ocid": c.oci.user_ocid, "fingerprint": c.oci.fingerprint},
    }))
    .into_response()
}
