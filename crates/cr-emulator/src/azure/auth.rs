//! Entra ID (AAD) as far as a service principal with a client secret needs it:
//! `POST /{tenant}/oauth2/v2.0/token` (client-credentials grant), the OpenID metadata
//! (`GET /{tenant}/v2.0/.well-known/openid-configuration`) and instance discovery
//! (`GET /common/discovery/instance`), which MSAL-based SDKs (Python, Go, Java, .NET, JS)
//! fetch from a custom authority host before asking for a token. The Rust `azure_identity`
//! 1.x `ClientSecretCredential` posts to the token endpoint directly.
//!
//! Issued tokens are random, JWT-shaped (some tools decode the claims), and remembered with
//! their expiry; the ARM handlers accept only tokens issued here and not yet expired.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use serde_json::{Value, json};
use std::collections::HashMap;

use super::error::ArmError;
use crate::credentials::random_token;
use crate::server::{AppState, BaseUrl, tag};
use crate::world::CloudKind;

/// Lifetime of an access token, as Entra ID reports it.
pub const TOKEN_LIFETIME_S: i64 = 3599;

const CLOUD: CloudKind = CloudKind::Azure;
const OP_TOKEN: &str = "oauth2.token";

/// An Entra ID error: `{"error", "error_description", "error_codes", ...}`.
fn aad_error(status: StatusCode, error: &str, aadsts: u32, description: &str) -> Response {
    let now = jiff::Timestamp::now();
    let trace = uuid::Uuid::new_v4().to_string();
    let body = json!({
        "error": error,
        "error_description": format!(
            "AADSTS{aadsts}: {description} Trace ID: {trace} Correlation ID: {trace} Timestamp: {}",
            now.strftime("%Y-%m-%d %H:%M:%SZ")
        ),
        "error_codes": [aadsts],
        "timestamp": now.strftime("%Y-%m-%d %H:%M:%SZ").to_string(),
        "trace_id": trace,
        "correlation_id": trace,
        "error_uri": format!("https://login.microsoftonline.com/error?code={aadsts}"),
    });
    tag((status, Json(body)), CLOUD, OP_TOKEN, Some(error), None)
}

/// A JWT-shaped access token: random signature, claims a decoder would look for.
fn mint_token(tenant: &str, client_id: &str, audience: &str, now: jiff::Timestamp) -> String {
    let header = json!({"typ": "JWT", "alg": "RS256", "kid": "cr-emulator"});
    let iat = now.as_second();
    let claims = json!({
        "aud": audience,
        "iss": format!("https://sts.windows.net/{tenant}/"),
        "iat": iat,
        "nbf": iat,
        "exp": iat + TOKEN_LIFETIME_S,
        "appid": client_id,
        "appidacr": "1",
        "idtyp": "app",
        "oid": client_id,
        "sub": client_id,
        "tid": tenant,
        "ver": "1.0",
        "jti": random_token(22),
    });
    format!(
        "{}.{}.{}",
        B64URL.encode(header.to_string()),
        B64URL.encode(claims.to_string()),
        B64URL.encode(random_token(64))
    )
}

/// `POST /{tenant}/oauth2/v2.0/token`.
pub async fn token(
    State(app): State<AppState>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let fault = app.world.admit(CLOUD, OP_TOKEN).await;
    if let Some(r) = super::fault_response(&app, fault, OP_TOKEN) {
        return r;
    }
    let creds = &app.creds.azure;
    let form: HashMap<String, String> = match serde_urlencoded::from_bytes(&body) {
        Ok(f) => f,
        Err(_) => {
            return aad_error(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                900144,
                "The request body must contain the following parameter: 'grant_type'.",
            );
        }
    };
    let is_form = headers
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    if !is_form {
        return aad_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            900144,
            "The request body must contain the following parameter: 'grant_type'.",
        );
    }
    if !tenant.eq_ignore_ascii_case(&creds.tenant_id) {
        return aad_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            90002,
            &format!(
                "Tenant '{tenant}' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud."
            ),
        );
    }
    match form.get("grant_type").map(String::as_str) {
        Some("client_credentials") => {}
        Some(other) => {
            return aad_error(
                StatusCode::BAD_REQUEST,
                "unsupported_grant_type",
                70003,
                &format!("The app requested an unsupported grant type '{other}'."),
            );
        }
        None => {
            return aad_error(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                900144,
                "The request body must contain the following parameter: 'grant_type'.",
            );
        }
    }
    let Some(client_id) = form.get("client_id") else {
        return aad_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            900144,
            "The request body must contain the following parameter: 'client_id'.",
        );
    };
    if !client_id.eq_ignore_ascii_case(&creds.client_id) {
        return aad_error(
            StatusCode::BAD_REQUEST,
            "unauthorized_client",
            700016,
            &format!(
                "Application with identifier '{client_id}' was not found in the directory '{tenant}'."
            ),
        );
    }
    if form.contains_key("client_assertion") {
        return aad_error(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            700027,
            "Client assertion failed signature validation: the emulator only issues client secrets.",
        );
    }
    match form.get("client_secret") {
        Some(secret) if secret == &creds.client_secret => {}
        Some(_) => {
            return aad_error(
                StatusCode::UNAUTHORIZED,
                "invalid_client",
                7000215,
                &format!(
                    "Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '{client_id}'."
                ),
            );
        }
        None => {
            return aad_error(
                StatusCode::UNAUTHORIZED,
                "invalid_client",
                7000218,
                "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.",
            );
        }
    }
    let Some(scope) = form.get("scope").filter(|s| !s.trim().is_empty()) else {
        return aad_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            90014,
            "The required field 'scope' is missing from the credential. Ensure that you have all the necessary parameters for the login request.",
        );
    };
    let Some(audience) = scope
        .split_ascii_whitespace()
        .find_map(|s| s.strip_suffix("/.default"))
    else {
        return aad_error(
            StatusCode::BAD_REQUEST,
            "invalid_scope",
            1002012,
            &format!(
                "The provided value for scope {scope} is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier (application ID URI)."
            ),
        );
    };
    let now = app.world.now();
    let token = mint_token(&creds.tenant_id, client_id, audience, now);
    app.azure.remember_token(&token, now, TOKEN_LIFETIME_S);
    let body = json!({
        "token_type": "Bearer",
        "expires_in": TOKEN_LIFETIME_S,
        "ext_expires_in": TOKEN_LIFETIME_S,
        "access_token": token,
    });
    let mut r = (StatusCode::OK, Json(body)).into_response();
    r.headers_mut().insert(
        axum::http::header::CACHE_CONTROL,
        axum::http::HeaderValue::from_static("no-store, no-cache"),
    );
    tag(r, CLOUD, OP_TOKEN, None, None)
}

/// `GET /{tenant}/v2.0/.well-known/openid-configuration`.
pub async fn openid_configuration(
    State(app): State<AppState>,
    Path(tenant): Path<String>,
    BaseUrl(base): BaseUrl,
) -> Response {
    const OP: &str = "oauth2.openid-configuration";
    let fault = app.world.admit(CLOUD, OP).await;
    if let Some(r) = super::fault_response(&app, fault, OP) {
        return r;
    }
    let known = tenant.eq_ignore_ascii_case(&app.creds.azure.tenant_id)
        || ["common", "organizations", "consumers"].contains(&tenant.as_str());
    if !known {
        return aad_error(
            StatusCode::BAD_REQUEST,
            "invalid_tenant",
            90002,
            &format!("Tenant '{tenant}' not found."),
        );
    }
    let host = base
        .split_once("://")
        .map_or(base.as_str(), |(_, h)| h)
        .to_owned();
    let t = &app.creds.azure.tenant_id;
    let body = json!({
        "token_endpoint": format!("{base}/{t}/oauth2/v2.0/token"),
        "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt", "client_secret_basic"],
        "jwks_uri": format!("{base}/{t}/discovery/v2.0/keys"),
        "response_modes_supported": ["query", "fragment", "form_post"],
        "subject_types_supported": ["pairwise"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
        "scopes_supported": ["openid", "profile", "email", "offline_access"],
        "issuer": format!("{base}/{t}/v2.0"),
        "request_uri_parameter_supported": false,
        "userinfo_endpoint": format!("{base}/oidc/userinfo"),
        "authorization_endpoint": format!("{base}/{t}/oauth2/v2.0/authorize"),
        "device_authorization_endpoint": format!("{base}/{t}/oauth2/v2.0/devicecode"),
        "http_logout_supported": true,
        "frontchannel_logout_supported": true,
        "end_session_endpoint": format!("{base}/{t}/oauth2/v2.0/logout"),
        "claims_supported": ["sub", "iss", "aud", "exp", "iat", "tid", "ver", "oid"],
        "kerberos_endpoint": format!("{base}/{t}/kerberos"),
        "tenant_region_scope": Value::Null,
        "cloud_instance_name": host,
        "cloud_graph_host_name": host,
        "msgraph_host": host,
        "rbac_url": base,
    });
    tag((StatusCode::OK, Json(body)), CLOUD, OP, None, None)
}

/// `GET /common/discovery/instance?api-version=1.1&authorization_endpoint=...`.
pub async fn instance_discovery(
    State(app): State<AppState>,
    Query(q): Query<HashMap<String, String>>,
    BaseUrl(base): BaseUrl,
) -> Response {
    const OP: &str = "oauth2.instance-discovery";
    let fault = app.world.admit(CLOUD, OP).await;
    if let Some(r) = super::fault_response(&app, fault, OP) {
        return r;
    }
    let host = base
        .split_once("://")
        .map_or(base.as_str(), |(_, h)| h)
        .to_owned();
    // The tenant is the first path segment of the authorization endpoint being validated.
    let tenant = q
        .get("authorization_endpoint")
        .and_then(|u| u.split_once("://").map(|(_, rest)| rest.to_owned()))
        .and_then(|rest| rest.split('/').nth(1).map(str::to_owned))
        .unwrap_or_else(|| "common".to_owned());
    let body = json!({
        "tenant_discovery_endpoint": format!("{base}/{tenant}/v2.0/.well-known/openid-configuration"),
        "api-version": q.get("api-version").cloned().unwrap_or_else(|| "1.1".to_owned()),
        "metadata": [{
            "preferred_network": host,
            "preferred_cache": host,
            "aliases": [host],
        }],
    });
    tag((StatusCode::OK, Json(body)), CLOUD, OP, None, None)
}

/// Checks `Authorization: Bearer <token>` against the tokens issued here.
pub fn check_bearer(app: &AppState, headers: &HeaderMap) -> Result<(), ArmError> {
    let Some(value) = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    else {
        return Err(ArmError::new(
            StatusCode::UNAUTHORIZED,
            "AuthenticationFailed",
            "Authentication failed. The 'Authorization' header is missing.",
        ));
    };
    let Some(token) = value
        .strip_prefix("Bearer ")
        .or_else(|| value.strip_prefix("bearer "))
        .map(str::trim)
    else {
        return Err(ArmError::new(
            StatusCode::UNAUTHORIZED,
            "AuthenticationFailed",
            "Authentication failed. The 'Authorization' header is provided in an invalid format.",
        ));
    };
    let now = app.world.now();
    match app.azure.token_expiry(token) {
        None => Err(ArmError::new(
            StatusCode::UNAUTHORIZED,
            "InvalidAuthenticationToken",
            "The access token is invalid.",
        )),
        Some(exp) if exp <= now => Err(ArmError::new(
            StatusCode::UNAUTHORIZED,
            "ExpiredAuthenticationToken",
            format!(
                "The access token expiry UTC time '{}' is earlier than current UTC time '{}'.",
                exp.strftime("%-m/%-d/%Y %-I:%M:%S %p"),
                now.strftime("%-m/%-d/%Y %-I:%M:%S %p")
            ),
        )),
        Some(_) => Ok(()),
    }
}

/// `WWW-Authenticate` value ARM sends with a 401.
pub fn www_authenticate(base: &str, err: &ArmError) -> String {
    format!(
        "Bearer authorization_uri=\"{base}/\", error=\"invalid_token\", error_description=\"{}\"",
        err.message.replace('"', "'")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minted_token_is_jwt_shaped_with_claims() {
        let now = jiff::Timestamp::from_second(1_700_000_000).unwrap();
        let t = mint_token("tid", "cid", "https://management.azure.com", now);
        let parts: Vec<&str> = t.split('.').collect();
        assert_eq!(parts.len(), 3);
        let claims: Value = serde_json::from_slice(&B64URL.decode(parts[1]).unwrap()).unwrap();
        assert_eq!(claims["tid"], "tid");
        assert_eq!(claims["aud"], "https://management.azure.com");
        assert_eq!(claims["exp"], 1_700_000_000 + TOKEN_LIFETIME_S);
    }
}
