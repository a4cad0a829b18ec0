//! Google OAuth2 for the emulated Compute Engine: the token endpoint (`POST /token`,
//! JWT-bearer grant, RS256 assertion verified against the service-account key the emulator
//! issued; `iss`, `aud` = token URI, `iat`/`exp` checked) and the bearer check every compute
//! call goes through. Self-signed JWTs (the service account signing its own access token, as
//! Google's client libraries may do) are accepted too. Token lifetimes use real time, not the
//! world clock, so advancing the clock never logs clients out; JWT times are checked against
//! the cloud's clock (real time plus the scenario's `clock_skew_s`): an assertion whose `iat`
//! is more than `max_clock_skew_s` (default 300) from it is refused with `invalid_grant`.

use std::collections::HashMap;
use std::sync::Mutex;

use aws_lc_rs::signature::{RSA_PKCS1_2048_8192_SHA256, UnparsedPublicKey};
use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jiff::Timestamp;
use serde_json::{Value, json};

use super::{CLOUD, GceError};
use crate::credentials::{GceCredentials, random_token};
use crate::scenario::FaultKind;
use crate::server::{AppState, BaseUrl, drop_connection, tag};

const TOKEN_LIFETIME_SECS: i64 = 3599;
const COMPUTE_SCOPES: &[&str] = &[
    "https://www.googleapis.com/auth/compute",
    "https://www.googleapis.com/auth/cloud-platform",
];
const READONLY_SCOPE: &str = "https://www.googleapis.com/auth/compute.readonly";

/// Issued access tokens (kept across `reset`, like the credentials themselves). Debug shows
/// how many, never a token.
#[derive(Default)]
pub struct Tokens {
    issued: Mutex<HashMap<String, Issued>>,
}

impl std::fmt::Debug for Tokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let n = self.issued.lock().map_or(0, |m| m.len());
        f.debug_struct("Tokens").field("issued", &n).finish()
    }
}

#[derive(Debug, Clone)]
struct Issued {
    expires: Timestamp,
    scopes: Vec<String>,
}

/// Verified claims of an RS256 JWT signed by the service-account key.
struct Claims {
    iss: String,
    aud: String,
    scope: Option<String>,
    iat: i64,
    exp: i64,
}

fn oauth_error(error: &str, description: &str) -> Response {
    (
        StatusCode::BAD_REQUEST,
        Json(json!({"error": error, "error_description": description})),
    )
        .into_response()
}

/// Decodes one JWS segment. JWS says unpadded base64url, but Google's token endpoint also
/// accepts padded segments, and some clients (gcp_auth 0.12) send them: accept both.
fn b64url(segment: &str) -> Option<Vec<u8>> {
    URL_SAFE_NO_PAD.decode(segment.trim_end_matches('=')).ok()
}

fn verify_jwt(jwt: &str, creds: &GceCredentials) -> Result<Claims, &'static str> {
    let mut parts = jwt.split('.');
    let (Some(h), Some(p), Some(s), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err("Invalid JWT: not a compact JWS.");
    };
    let header: Value = b64url(h)
        .and_then(|b| serde_json::from_slice(&b).ok())
        .ok_or("Invalid JWT: bad header.")?;
    if header.get("alg").and_then(Value::as_str) != Some("RS256") {
        return Err("Invalid JWT: only RS256 is supported.");
    }
    if let Some(kid) = header.get("kid").and_then(Value::as_str)
        && kid != creds.private_key_id
    {
        return Err("Invalid JWT Signature.");
    }
    let signature = b64url(s).ok_or("Invalid JWT Signature.")?;
    let signed = &jwt[..h.len() + 1 + p.len()];
    UnparsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA256, &creds.public_key_der)
        .verify(signed.as_bytes(), &signature)
        .map_err(|_| "Invalid JWT Signature.")?;
    let claims: Value = b64url(p)
        .and_then(|b| serde_json::from_slice(&b).ok())
        .ok_or("Invalid JWT: bad claims.")?;
    let text = |k: &str| claims.get(k).and_then(Value::as_str).map(str::to_owned);
    let num = |k: &str| claims.get(k).and_then(Value::as_i64);
    Ok(Claims {
        iss: text("iss").ok_or("Invalid JWT: missing iss.")?,
        aud: text("aud").unwrap_or_default(),
        scope: text("scope"),
        iat: num("iat").ok_or("Invalid JWT: missing iat.")?,
        exp: num("exp").ok_or("Invalid JWT: missing exp.")?,
    })
}

/// How far a JWT's `iat` may be from the token endpoint's clock unless the scenario says
/// otherwise (`clouds.gce.options.max_clock_skew_s`). Google documents no figure; clients
/// whose clock is more than a few minutes off are refused.
const DEFAULT_MAX_SKEW_S: i64 = 300;

/// A JWT used as it is (a self-signed access token): valid from `iat` (a little early is
/// fine) until `exp`, at most an hour, on the cloud's clock `now`.
fn times_ok(c: &Claims, now: Timestamp) -> bool {
    let now = now.as_second();
    // Google allows a little clock skew and at most an hour of validity.
    c.exp > now - 30 && c.iat <= now + 300 && c.exp > c.iat && c.exp - c.iat <= 3600 + 300
}

/// A JWT-bearer assertion at the token endpoint: made just now (its `iat` within
/// `max_skew_s` of the cloud's clock `now`, either way), not expired, at most an hour long.
fn assertion_times_ok(c: &Claims, now: Timestamp, max_skew_s: i64) -> bool {
    let now = now.as_second();
    (c.iat - now).abs() <= max_skew_s && c.exp > now && c.exp > c.iat && c.exp - c.iat <= 3600 + 300
}

/// Token URIs a client may put in `aud`: ours on either listener, by IP or name, and
/// Google's own (clients configured with the default token URI but routed here).
fn accepted_audiences(app: &AppState, base: &BaseUrl) -> Vec<String> {
    let (http, https) = app.base_urls();
    let mut out = vec![
        "https://oauth2.googleapis.com/token".to_owned(),
        format!("{}/token", base.0),
    ];
    for b in [http, https] {
        if !b.is_empty() {
            out.push(format!("{b}/token"));
            out.push(format!("{}/token", b.replace("127.0.0.1", "localhost")));
        }
    }
    out
}

/// `POST /token`.
pub(super) async fn token(State(app): State<AppState>, base: BaseUrl, body: Bytes) -> Response {
    const OP: &str = "token";
    let fault = app.world.admit(CLOUD, OP).await;
    match fault {
        Some(FaultKind::Throttle) => {
            let r = (
                StatusCode::TOO_MANY_REQUESTS,
                Json(
                    json!({"error": "rate_limit_exceeded", "error_description": "Rate limit exceeded."}),
                ),
            );
            return tag(r, CLOUD, OP, Some("rate_limit_exceeded"), fault);
        }
        Some(FaultKind::ServerError) => {
            let r = (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(json!({"error": "internal_failure", "error_description": "Backend error."})),
            );
            return tag(r, CLOUD, OP, Some("internal_failure"), fault);
        }
        Some(FaultKind::ConnectionReset | FaultKind::Hang) => {
            return tag(drop_connection(), CLOUD, OP, None, fault);
        }
        _ => {}
    }
    let form: HashMap<String, String> = serde_urlencoded::from_bytes(&body).unwrap_or_default();
    let fail = |error: &str, description: &str| {
        tag(
            oauth_error(error, description),
            CLOUD,
            OP,
            Some(error),
            fault,
        )
    };
    let grant = form
        .get("grant_type")
        .map(String::as_str)
        .unwrap_or_default();
    if grant != "urn:ietf:params:oauth:grant-type:jwt-bearer" {
        return fail(
            "unsupported_grant_type",
            &format!("Invalid grant_type: {grant}"),
        );
    }
    let Some(assertion) = form.get("assertion") else {
        return fail("invalid_request", "Missing required parameter: assertion");
    };
    let creds = &app.creds.gce;
    let claims = match verify_jwt(assertion, creds) {
        Ok(c) => c,
        Err(e) => return fail("invalid_grant", e),
    };
    if claims.iss != creds.client_email {
        return fail("invalid_grant", "Invalid grant: account not found");
    }
    if !accepted_audiences(&app, &base)
        .iter()
        .any(|a| a.trim_end_matches('/') == claims.aud.trim_end_matches('/'))
    {
        return fail(
            "invalid_grant",
            &format!(
                "Invalid JWT: Failed audience check. The right audience is {}/token",
                base.0
            ),
        );
    }
    let max_skew_s = app
        .world
        .scenario_arc()
        .clouds
        .gce
        .option_u64("max_clock_skew_s")
        .and_then(|s| i64::try_from(s).ok())
        .unwrap_or(DEFAULT_MAX_SKEW_S);
    if !assertion_times_ok(&claims, app.world.auth_now(), max_skew_s) {
        return fail(
            "invalid_grant",
            "Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe. Check your iat and exp values in the JWT claim.",
        );
    }
    let scopes: Vec<String> = claims
        .scope
        .unwrap_or_default()
        .split_whitespace()
        .map(str::to_owned)
        .collect();
    if scopes.is_empty() {
        return fail(
            "invalid_scope",
            "Invalid OAuth scope or ID token audience provided.",
        );
    }
    let access_token = format!("ya29.emu-{}", random_token(96));
    let expires = Timestamp::now() + jiff::SignedDuration::from_secs(TOKEN_LIFETIME_SECS);
    app.gce
        .tokens
        .issued
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert(access_token.clone(), Issued { expires, scopes });
    let r = Json(json!({
        "access_token": access_token,
        "expires_in": TOKEN_LIFETIME_SECS,
        "token_type": "Bearer",
    }));
    tag(r, CLOUD, OP, None, fault)
}

/// Checks `Authorization: Bearer …` for a compute call; `write` calls need a read-write
/// scope.
pub(super) fn check_bearer(
    app: &AppState,
    headers: &HeaderMap,
    write: bool,
) -> Result<(), GceError> {
    let unauthenticated = |missing: bool| {
        GceError::new(
            StatusCode::UNAUTHORIZED,
            if missing {
                "Request is missing required authentication credential. Expected OAuth 2 access token, login cookie or other valid authentication credential. See https://developers.google.com/identity/sign-in/web/devconsole-project."
            } else {
                "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential. See https://developers.google.com/identity/sign-in/web/devconsole-project."
            },
            if missing { "required" } else { "authError" },
            "UNAUTHENTICATED",
        )
        .with_item_message(if missing { "Login Required." } else { "Invalid Credentials" })
        .with_location("Authorization", "header")
    };
    let Some(value) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    else {
        return Err(unauthenticated(true));
    };
    let Some(token) = value
        .strip_prefix("Bearer ")
        .or_else(|| value.strip_prefix("bearer "))
    else {
        return Err(unauthenticated(false));
    };
    let token = token.trim();
    let scopes: Vec<String> = {
        let issued = app
            .gce
            .tokens
            .issued
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        match issued.get(token) {
            Some(i) if i.expires > Timestamp::now() => i.scopes.clone(),
            Some(_) => return Err(unauthenticated(false)),
            None => {
                drop(issued);
                // A self-signed JWT used directly as the access token.
                let claims =
                    verify_jwt(token, &app.creds.gce).map_err(|_| unauthenticated(false))?;
                if claims.iss != app.creds.gce.client_email
                    || !times_ok(&claims, app.world.auth_now())
                {
                    return Err(unauthenticated(false));
                }
                match claims.scope {
                    Some(s) => s.split_whitespace().map(str::to_owned).collect(),
                    // Audience-scoped self-signed JWTs grant the API's full access.
                    None => COMPUTE_SCOPES.iter().map(|s| (*s).to_owned()).collect(),
                }
            }
        }
    };
    let allowed = scopes
        .iter()
        .any(|s| COMPUTE_SCOPES.contains(&s.as_str()) || (!write && s == READONLY_SCOPE));
    if !allowed {
        return Err(GceError::new(
            StatusCode::FORBIDDEN,
            "Request had insufficient authentication scopes.",
            "insufficientPermissions",
            "PERMISSION_DENIED",
        )
        .with_item_message("Insufficient Permission"));
    }
    Ok(())
}
