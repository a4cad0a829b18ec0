//! Compute Engine v1 (`/compute/v1/projects/{project}/...`): zonal reservations
//! (insert/get/list/delete, aggregated list), instances consuming them (insert/get/delete,
//! see [`instances`]), zones and regions, zone operations (get, wait,
//! list) with the PENDING → RUNNING → DONE life cycle, and the OAuth2 token endpoint
//! (`POST /token`) whose access tokens every call requires.
//!
//! Behaviour the wire reference leaves unverified is switched by `clouds.gce.options`:
//! `stockout` (`operation`: capacity and quota refusals arrive as a failed Operation;
//! `sync`: as an immediate HTTP error), `throttle_status` (429, or 403), `failed_lro_code`
//! (`INTERNAL_ERROR`), `stockout_code` (`ZONE_RESOURCE_POOL_EXHAUSTED`, or
//! `ZONE_RESOURCE_POOL_EXHAUSTED_WITH_DETAILS`), `self_link_base` (default: the scheme and host the client used),
//! `wait_timeout_ms` (120000: how long `operations/{op}/wait` blocks).

mod auth;
pub(crate) mod catalog;
pub mod filter;
mod instances;
mod operations;
mod reservations;

use std::collections::HashMap;
use std::sync::Mutex;

use axum::Router;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use jiff::{SignedDuration, Timestamp};
use serde_json::{Value, json};

use crate::scenario::{CloudScenario, FaultKind};
use crate::server::{AppState, BaseUrl, drop_connection, tag};
use crate::world::{CloudKind, World};

const CLOUD: CloudKind = CloudKind::Gce;

/// Compute Engine resources: reservations, operations, `requestId`s, and issued tokens.
#[derive(Debug, Default)]
pub struct State {
    inner: Mutex<Inner>,
    tokens: auth::Tokens,
}

#[derive(Debug, Default)]
struct Inner {
    /// Keyed by (zone, name).
    reservations: std::collections::BTreeMap<(String, String), reservations::Res>,
    operations: Vec<operations::Op>,
    op_index: HashMap<String, usize>,
    /// VMs, keyed by (zone, name).
    instances: std::collections::BTreeMap<(String, String), instances::Vm>,
    /// `requestId` → operation name.
    request_ids: HashMap<String, String>,
    /// The earliest time an operation finishes or a reservation expires (sweeps before it
    /// are no-ops).
    next_due: Option<jiff::Timestamp>,
}

impl State {
    /// No resources.
    pub fn new() -> State {
        State::default()
    }

    /// Forgets reservations, operations and request ids (issued tokens stay valid).
    pub fn reset(&self) {
        *self.lock() = Inner::default();
    }

    /// Finishes operations that are due and deletes reservations whose
    /// `deleteAtTime`/`deleteAfterDuration` has passed.
    pub fn sweep(&self, world: &World) {
        operations::sweep(&mut self.lock(), world);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The token endpoint and `/compute/v1/...`.
pub fn routes() -> Router<AppState> {
    const P: &str = "/compute/v1/projects/{project}";
    Router::new()
        .route("/token", post(auth::token))
        .route(&format!("{P}/zones"), get(catalog::list_zones))
        .route(&format!("{P}/zones/{{zone}}"), get(catalog::get_zone))
        .route(&format!("{P}/regions"), get(catalog::list_regions))
        .route(&format!("{P}/regions/{{region}}"), get(catalog::get_region))
        .route(
            &format!("{P}/zones/{{zone}}/reservations"),
            get(reservations::list).post(reservations::insert),
        )
        .route(
            &format!("{P}/zones/{{zone}}/reservations/{{reservation}}"),
            get(reservations::get).delete(reservations::delete),
        )
        .route(
            &format!("{P}/zones/{{zone}}/instances"),
            post(instances::insert),
        )
        .route(
            &format!("{P}/zones/{{zone}}/instances/{{instance}}"),
            get(instances::get).delete(instances::delete),
        )
        .route(
            &format!("{P}/aggregated/reservations"),
            get(reservations::aggregated),
        )
        .route(
            &format!("{P}/zones/{{zone}}/operations"),
            get(operations::list),
        )
        .route(
            &format!("{P}/zones/{{zone}}/operations/{{operation}}"),
            get(operations::get),
        )
        .route(
            &format!("{P}/zones/{{zone}}/operations/{{operation}}/wait"),
            post(operations::wait),
        )
        .route("/compute/v1/{*rest}", axum::routing::any(unknown))
}

async fn unknown(uri: axum::http::Uri) -> Response {
    let e = GceError::not_found(uri.path().trim_start_matches("/compute/v1/"));
    tag(e.render(), CLOUD, "unknown", Some(&e.reason), None)
}

/// A Google API error (`{"error": {"code", "message", "errors": [...], "status"}}`).
#[derive(Debug, Clone)]
pub(crate) struct GceError {
    status: StatusCode,
    message: String,
    reason: String,
    status_text: &'static str,
    item_message: Option<&'static str>,
    location: Option<(&'static str, &'static str)>,
}

impl GceError {
    fn new(
        status: StatusCode,
        message: impl Into<String>,
        reason: &str,
        status_text: &'static str,
    ) -> GceError {
        GceError {
            status,
            message: message.into(),
            reason: reason.to_owned(),
            status_text,
            item_message: None,
            location: None,
        }
    }

    fn with_item_message(mut self, m: &'static str) -> GceError {
        self.item_message = Some(m);
        self
    }

    fn with_location(mut self, location: &'static str, kind: &'static str) -> GceError {
        self.location = Some((location, kind));
        self
    }

    fn not_found(resource: &str) -> GceError {
        GceError::new(
            StatusCode::NOT_FOUND,
            format!("The resource '{resource}' was not found"),
            "notFound",
            "NOT_FOUND",
        )
    }

    fn invalid(message: impl Into<String>) -> GceError {
        GceError::new(
            StatusCode::BAD_REQUEST,
            message,
            "invalid",
            "INVALID_ARGUMENT",
        )
    }

    fn render(&self) -> Response {
        let mut item = json!({
            "message": self.item_message.unwrap_or(&self.message),
            "domain": "global",
            "reason": self.reason,
        });
        if let Some((location, kind)) = &self.location {
            item["location"] = json!(location);
            item["locationType"] = json!(kind);
        }
        let body = json!({"error": {
            "code": self.status.as_u16(),
            "message": self.message,
            "errors": [item],
            "status": self.status_text,
        }});
        let mut response = (self.status, axum::Json(body)).into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"https://accounts.google.com/\""),
            );
        }
        response
    }
}

/// Switches read from `clouds.gce.options`.
#[derive(Debug, Clone)]
struct Options {
    sync_capacity_errors: bool,
    throttle_status: StatusCode,
    failed_lro_code: String,
    stockout_code: String,
    self_link_base: Option<String>,
    wait_timeout_ms: u64,
}

impl Options {
    fn from(c: &CloudScenario) -> Options {
        Options {
            sync_capacity_errors: c.option_str("stockout") == Some("sync"),
            throttle_status: c
                .option_u64("throttle_status")
                .and_then(|s| u16::try_from(s).ok())
                .and_then(|s| StatusCode::from_u16(s).ok())
                .unwrap_or(StatusCode::TOO_MANY_REQUESTS),
            failed_lro_code: c
                .option_str("failed_lro_code")
                .unwrap_or("INTERNAL_ERROR")
                .to_owned(),
            stockout_code: c
                .option_str("stockout_code")
                .unwrap_or("ZONE_RESOURCE_POOL_EXHAUSTED")
                .to_owned(),
            self_link_base: c
                .option_str("self_link_base")
                .map(|s| s.trim_end_matches('/').to_owned()),
            wait_timeout_ms: c.option_u64("wait_timeout_ms").unwrap_or(120_000),
        }
    }
}

/// A request that passed authentication, the project check and fault injection.
struct Call {
    op: &'static str,
    fault: Option<FaultKind>,
    opts: Options,
    /// `https://host:port/compute/v1/projects/{project}`.
    project_url: String,
    project: String,
}

impl Call {
    fn ok(&self, body: Value) -> Response {
        tag(axum::Json(body), CLOUD, self.op, None, self.fault)
    }

    fn fail(&self, e: &GceError) -> Response {
        tag(e.render(), CLOUD, self.op, Some(&e.reason), self.fault)
    }

    fn zone_url(&self, zone: &str) -> String {
        format!("{}/zones/{zone}", self.project_url)
    }

    fn region_url(&self, region: &str) -> String {
        format!("{}/regions/{region}", self.project_url)
    }
}

/// Authenticates, checks the project, applies latency and faults. `Err` is the finished
/// response.
async fn begin(
    app: &AppState,
    headers: &HeaderMap,
    base: &BaseUrl,
    op: &'static str,
    project: &str,
    write: bool,
) -> Result<Call, Response> {
    let opts = Options::from(&app.world.scenario_arc().clouds.gce);
    let fail = |e: GceError, fault| tag(e.render(), CLOUD, op, Some(&e.reason), fault);
    if let Err(e) = auth::check_bearer(app, headers, write) {
        return Err(fail(e, None));
    }
    // Another project, or a permission the scenario denies: GCE's one authorization error.
    let denied = if project != app.creds.gce.project_id {
        Some(format!("compute.{}", op.replace("aggregatedList", "list")))
    } else {
        app.world.denied_permission(CLOUD, op).map(str::to_string)
    };
    if let Some(permission) = denied {
        return Err(fail(
            GceError::new(
                StatusCode::FORBIDDEN,
                format!("Required '{permission}' permission for 'projects/{project}'"),
                "forbidden",
                "PERMISSION_DENIED",
            ),
            None,
        ));
    }
    let fault = app.world.admit(CLOUD, op).await;
    match fault {
        Some(FaultKind::Throttle) => {
            let e = GceError::new(
                opts.throttle_status,
                "Rate Limit Exceeded",
                "rateLimitExceeded",
                "RESOURCE_EXHAUSTED",
            );
            let mut r = fail(e, fault);
            r.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
            return Err(r);
        }
        Some(FaultKind::ServerError) => {
            let e = GceError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "Internal error. Please try again or contact Google Support.",
                "backendError",
                "UNAVAILABLE",
            );
            return Err(fail(e, fault));
        }
        Some(FaultKind::ConnectionReset | FaultKind::Hang) => {
            return Err(tag(drop_connection(), CLOUD, op, None, fault));
        }
        _ => {}
    }
    let class = if write {
        crate::ratelimit::CallClass::Write
    } else {
        crate::ratelimit::CallClass::Read
    };
    if app.world.rate_limit(CLOUD, project, class).is_some() {
        // Compute Engine's rate quotas: per project and minute, a 403 without Retry-After.
        let group = if write { "Queries" } else { "Read requests" };
        let e = GceError::new(
            StatusCode::FORBIDDEN,
            format!(
                "Quota exceeded for quota metric '{group}' and limit '{group} per minute' of \
                 service 'compute.googleapis.com' for consumer 'project:{project}'."
            ),
            "rateLimitExceeded",
            "RESOURCE_EXHAUSTED",
        );
        return Err(fail(e, None));
    }
    app.gce.sweep(&app.world);
    let root = opts
        .self_link_base
        .clone()
        .unwrap_or_else(|| base.0.clone());
    Ok(Call {
        op,
        fault,
        project_url: format!("{root}/compute/v1/projects/{project}"),
        project: project.to_owned(),
        opts,
    })
}

/// RFC 3339 with milliseconds in Pacific time, as Compute Engine writes timestamps.
fn gce_time(ts: Timestamp) -> String {
    let local = ts - SignedDuration::from_hours(7);
    format!(
        "{}.{:03}-07:00",
        local.strftime("%Y-%m-%dT%H:%M:%S"),
        local.subsec_millisecond()
    )
}

/// A random positive 64-bit resource id (decimal string on the wire).
fn new_id() -> u64 {
    use rand::Rng;
    rand::rng().random_range(1_000_000_000_000_000_000..u64::MAX)
}

/// A stable id for a named thing (zones, regions).
fn stable_id(name: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in name.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    1_000_000_000_000_000_000 + h % 8_000_000_000_000_000_000
}

/// `maxResults` (0–500, 0 or absent = 500) and `pageToken` (an offset bound to the listing).
fn paging(query: &HashMap<String, String>, kind: &str) -> Result<(usize, usize), GceError> {
    let max = match query.get("maxResults") {
        None => 500,
        Some(v) => match v.parse::<usize>() {
            Ok(0) => 500,
            Ok(n) if n <= 500 => n,
            _ => {
                return Err(GceError::invalid(format!(
                    "Invalid value for field 'maxResults': '{v}'. Must be less than or equal to 500"
                )));
            }
        },
    };
    let offset = match query.get("pageToken").filter(|t| !t.is_empty()) {
        None => 0,
        Some(t) => {
            use base64::Engine as _;
            base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(t)
                .ok()
                .and_then(|b| String::from_utf8(b).ok())
                .and_then(|s| s.strip_prefix(&format!("{kind}:"))?.parse().ok())
                .ok_or_else(|| {
                    GceError::invalid(format!("Invalid value for field 'pageToken': '{t}'"))
                })?
        }
    };
    Ok((max, offset))
}

fn page_token(kind: &str, offset: usize) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("{kind}:{offset}"))
}

/// A Compute list response: `kind`, `id`, `items`, `selfLink` and, when there are more pages,
/// `nextPageToken`.
pub(super) fn list_body(
    kind: &str,
    id: String,
    self_link: String,
    items: Vec<Value>,
    next: Option<String>,
) -> Value {
    let mut v = json!({"kind": kind, "id": id, "items": items, "selfLink": self_link});
    if let Some(t) = next {
        v["nextPageToken"] = json!(t);
    }
    v
}

/// Applies `filter`, `orderBy`, `maxResults` and `pageToken` to a listing.
fn list_page(
    query: &HashMap<String, String>,
    kind: &str,
    mut items: Vec<Value>,
) -> Result<(Vec<Value>, Option<String>), GceError> {
    if let Some(f) = query.get("filter").filter(|f| !f.trim().is_empty()) {
        let parsed = filter::Filter::parse(f).map_err(|e| {
            GceError::invalid(format!(
                "Invalid value for field 'filter': '{f}'. Invalid list filter expression: {e}"
            ))
        })?;
        items.retain(|v| parsed.matches(v));
    }
    match query.get("orderBy").map(String::as_str) {
        None | Some("") | Some("name") => {
            items.sort_by(|a, b| a["name"].as_str().cmp(&b["name"].as_str()))
        }
        Some("creationTimestamp desc") => {
            items.sort_by(|a, b| {
                b["creationTimestamp"]
                    .as_str()
                    .cmp(&a["creationTimestamp"].as_str())
            });
        }
        Some(other) => {
            return Err(GceError::invalid(format!(
                "Invalid value for field 'orderBy': '{other}'. Only 'name' and 'creationTimestamp desc' are supported."
            )));
        }
    }
    let (max, offset) = paging(query, kind)?;
    let next = (offset.saturating_add(max) < items.len()).then(|| page_token(kind, offset + max));
    Ok((items.into_iter().skip(offset).take(max).collect(), next))
}
