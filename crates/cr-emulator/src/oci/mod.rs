//! OCI Core (`/20160918/...`): compute capacity reservations, availability domains, regions,
//! region subscriptions and work requests, behind HTTP-signature authentication.
//!
//! # Regions
//!
//! OCI puts the region in the host name (`iaas.us-phoenix-1.oraclecloud.com`). The emulator
//! has one host, so it recognises the region three ways, first match wins:
//! 1. a path prefix: `/oci/{region}/20160918/...` — point an SDK at
//!    `https://127.0.0.1:PORT/oci/us-ashburn-1` where it accepts an endpoint with a path;
//! 2. the host name: a label equal to a region name (`iaas.us-ashburn-1.oci.localhost:PORT`,
//!    for clients that resolve such names to 127.0.0.1, e.g. with `curl --resolve`);
//! 3. otherwise the home region of the generated credentials (`us-phoenix-1`, the `region`
//!    of the written OCI config file): plain `/20160918/...`.
//!
//! Signatures are verified over the path and host exactly as sent, so all three work with
//! the official signers.
//!
//! Behaviour the wire reference marks as unverified is switched by `clouds.oci.options` in
//! the scenario (see [`Options`] and docs/emulator.md).

mod identity;
mod instances;
mod limits;
pub(crate) mod model;
mod reservations;
pub mod signature;

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

use axum::Router;
use axum::extract::{Request, State as AxState};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use jiff::Timestamp;
use serde_json::{Value, json};

use crate::scenario::FaultKind;
use crate::server::{AppState, BaseUrl, drop_connection, tag};
use crate::world::{CloudKind, RegionInfo, World};

use model::{Lifecycle, Reservation, WorkRequest};

const CLOUD: CloudKind = CloudKind::Oci;
const MAX_BODY: usize = 4 * 1024 * 1024;
/// The API version path segment of Core and Identity.
pub const API_PREFIX: &str = "/20160918/";
/// The API version path segment of the Limits service (`limits.{region}.oci.oraclecloud.com`
/// in reality; served beside Core here, with the same region rules).
pub const LIMITS_PREFIX: &str = "/20190729/";

/// The `clouds.oci.options` switches of the scenario.
#[derive(Debug, Clone)]
pub struct Options {
    /// `stockout`: `sync` (default: the create fails) or `lro` (the create is accepted, the
    /// reservation goes `CREATING` → `DELETED` and its work request fails).
    pub stockout_sync: bool,
    /// `stockout_status` (default 500).
    pub stockout_status: StatusCode,
    /// `stockout_code` (default `InternalError`).
    pub stockout_code: String,
    /// `stockout_message` (default `Out of host capacity.`).
    pub stockout_message: String,
    /// `quota_code` (default `LimitExceeded`, status 400).
    pub quota_code: String,
    /// `throttle_retry_after_s`: add `Retry-After` to 429 answers (default: none).
    pub throttle_retry_after_s: Option<u64>,
    /// `max_clock_skew_s`: how far the signed date may be from now (default 300).
    pub max_clock_skew_s: i64,
    /// `deleted_retention_s`: how long a `DELETED` reservation stays listed (default 3600).
    pub deleted_retention_s: i64,
    /// `update_status`, `delete_status` (default 202 each).
    pub update_status: StatusCode,
    /// See `update_status`.
    pub delete_status: StatusCode,
    /// `require_flex_shape_config`: a `.Flex` shape needs `instanceShapeConfig` (default true).
    pub require_flex_shape_config: bool,
    /// `subscribed_regions`: regions `regionSubscriptions` lists (default: every region).
    pub subscribed_regions: Option<Vec<String>>,
    /// `default_limit`: page size when the client sends no `limit` (default 100).
    pub default_limit: usize,
    /// `limits`: service limits per availability domain, by OCI's limit names, counted as
    /// OCI counts them: `<family>-core-count` (OCPUs) and `<family>-memory-count` (GB) for
    /// Flex shapes (`VM.DenseIO.E5.Flex` → family `denseio-e5`), `<shape>-count` (instances)
    /// for the others (`VM.Standard2.1` → `vm-standard2-1-count`). Default: none.
    pub limits: BTreeMap<String, u64>,
    /// `summary_fields: minimal`: list items carry only the fields the API requires (`id`,
    /// `availabilityDomain`, `timeCreated`). Default: every field.
    pub minimal_summaries: bool,
}

impl Options {
    fn from_world(world: &World) -> Options {
        let scenario = world.scenario_arc();
        let c = scenario.clouds.get(CLOUD);
        let status = |key: &str, default: StatusCode| {
            c.option_u64(key)
                .and_then(|n| u16::try_from(n).ok())
                .and_then(|n| StatusCode::from_u16(n).ok())
                .unwrap_or(default)
        };
        Options {
            stockout_sync: !c
                .option_str("stockout")
                .is_some_and(|s| s.eq_ignore_ascii_case("lro") || s.eq_ignore_ascii_case("async")),
            stockout_status: status("stockout_status", StatusCode::INTERNAL_SERVER_ERROR),
            stockout_code: c
                .option_str("stockout_code")
                .unwrap_or("InternalError")
                .to_owned(),
            stockout_message: c
                .option_str("stockout_message")
                .unwrap_or("Out of host capacity.")
                .to_owned(),
            quota_code: c
                .option_str("quota_code")
                .unwrap_or("LimitExceeded")
                .to_owned(),
            throttle_retry_after_s: c.option_u64("throttle_retry_after_s"),
            max_clock_skew_s: c
                .option_u64("max_clock_skew_s")
                .and_then(|n| i64::try_from(n).ok())
                .unwrap_or(300),
            deleted_retention_s: c
                .option_u64("deleted_retention_s")
                .and_then(|n| i64::try_from(n).ok())
                .unwrap_or(3600),
            update_status: status("update_status", StatusCode::ACCEPTED),
            delete_status: status("delete_status", StatusCode::ACCEPTED),
            require_flex_shape_config: c.option_bool("require_flex_shape_config").unwrap_or(true),
            subscribed_regions: c
                .options
                .get("subscribed_regions")
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(Value::as_str)
                        .map(str::to_owned)
                        .collect()
                }),
            default_limit: c
                .option_u64("default_limit")
                .and_then(|n| usize::try_from(n).ok())
                .filter(|n| *n > 0)
                .unwrap_or(100),
            limits: c
                .options
                .get("limits")
                .and_then(Value::as_object)
                .map(|m| {
                    m.iter()
                        .filter_map(|(k, v)| v.as_u64().map(|n| (k.to_ascii_lowercase(), n)))
                        .collect()
                })
                .unwrap_or_default(),
            minimal_summaries: c
                .option_str("summary_fields")
                .is_some_and(|s| s.eq_ignore_ascii_case("minimal")),
        }
    }
}

/// An OCI error: `{"code", "message"}` with a status.
#[derive(Debug, Clone, PartialEq)]
pub struct OciError {
    /// HTTP status.
    pub status: StatusCode,
    /// `code`.
    pub code: String,
    /// `message`.
    pub message: String,
}

impl OciError {
    /// A new error.
    pub fn new(status: StatusCode, code: &str, message: impl Into<String>) -> OciError {
        OciError {
            status,
            code: code.to_owned(),
            message: message.into(),
        }
    }

    /// `404 NotAuthorizedOrNotFound`.
    pub fn not_found() -> OciError {
        OciError::new(
            StatusCode::NOT_FOUND,
            "NotAuthorizedOrNotFound",
            "Authorization failed or requested resource not found.",
        )
    }

    /// `400 InvalidParameter`.
    pub fn invalid(message: impl Into<String>) -> OciError {
        OciError::new(StatusCode::BAD_REQUEST, "InvalidParameter", message)
    }

    /// `400 MissingParameter`.
    pub fn missing(name: &str) -> OciError {
        OciError::new(
            StatusCode::BAD_REQUEST,
            "MissingParameter",
            format!("Missing {name}."),
        )
    }
}

impl IntoResponse for OciError {
    fn into_response(self) -> Response {
        json_response(
            self.status,
            &json!({"code": self.code, "message": self.message}),
        )
    }
}

fn json_response(status: StatusCode, body: &Value) -> Response {
    (
        status,
        [(
            axum::http::header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        body.to_string(),
    )
        .into_response()
}

#[derive(Debug, Default)]
struct Inner {
    /// Reservations by OCID.
    reservations: BTreeMap<String, Reservation>,
    /// `opc-retry-token` → (hash of the create request, reservation OCID).
    retry_tokens: HashMap<String, (String, String)>,
    /// Work requests by OCID.
    work_requests: HashMap<String, WorkRequest>,
}

/// This cloud's resources.
#[derive(Debug, Default)]
pub struct State {
    inner: Mutex<Inner>,
    /// Launched instances by OCID (lock after `inner` when both are needed).
    instances: Mutex<BTreeMap<String, instances::OciInstance>>,
}

impl State {
    /// Empty state.
    pub fn new() -> State {
        State::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Forgets every reservation, retry token and work request.
    pub fn reset(&self) {
        *self.lock() = Inner::default();
        self.instances().clear();
    }

    fn instances(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, instances::OciInstance>> {
        self.instances.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Applies the lifecycle transitions due at the world clock's now and forgets reservations
    /// deleted longer ago than the retention.
    pub fn sweep(&self, world: &World) {
        let now = world.now();
        let retention = Options::from_world(world).deleted_retention_s;
        let mut inner = self.lock();
        reservations::settle(&mut inner, world, now);
        inner.reservations.retain(|_, r| {
            r.lifecycle != Lifecycle::Deleted
                || r.time_updated + jiff::SignedDuration::from_secs(retention) > now
        });
    }
}

/// This cloud's routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/20160918/{*rest}", any(entry))
        .route("/oci/{region}/20160918/{*rest}", any(entry))
        .route("/20190729/{*rest}", any(entry))
        .route("/oci/{region}/20190729/{*rest}", any(entry))
}

/// What a handler gets.
pub(crate) struct Ctx<'a> {
    app: &'a AppState,
    /// Base URL including a region prefix, if the client used one.
    base: String,
    region: RegionInfo,
    query: Vec<(String, String)>,
    headers: &'a HeaderMap,
    opts: Options,
    fault: Option<FaultKind>,
    now: Timestamp,
}

impl Ctx<'_> {
    fn param(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Route {
    Reservations,
    Reservation(String),
    ReservationInstances(String),
    ChangeCompartment(String),
    AvailabilityDomains,
    Regions,
    RegionSubscriptions(String),
    WorkRequest(String),
    WorkRequestErrors(String),
    ReservableShapes,
    Instances,
    Instance(String),
    Compartment(String),
    LimitValues,
    ResourceAvailability(String, String),
    Unknown,
}

fn parse_route(rest: &str) -> Route {
    let segs: Vec<&str> = rest.split('/').filter(|s| !s.is_empty()).collect();
    let s = |i: usize| segs[i].to_owned();
    match segs.as_slice() {
        ["computeCapacityReservations"] => Route::Reservations,
        ["computeCapacityReservations", _] => Route::Reservation(s(1)),
        ["computeCapacityReservations", _, "instances"] => Route::ReservationInstances(s(1)),
        [
            "computeCapacityReservations",
            _,
            "actions",
            "changeCompartment",
        ] => Route::ChangeCompartment(s(1)),
        ["availabilityDomains"] => Route::AvailabilityDomains,
        ["computeCapacityReservationInstanceShapes"] => Route::ReservableShapes,
        ["regions"] => Route::Regions,
        ["instances"] => Route::Instances,
        ["instances", _] => Route::Instance(s(1)),
        ["tenancies", _, "regionSubscriptions"] => Route::RegionSubscriptions(s(1)),
        ["workRequests", _] => Route::WorkRequest(s(1)),
        ["workRequests", _, "errors"] => Route::WorkRequestErrors(s(1)),
        ["compartments", _] => Route::Compartment(s(1)),
        _ => Route::Unknown,
    }
}

/// A path of the Limits service after `/20190729/`.
fn parse_limits_route(rest: &str) -> Route {
    let segs: Vec<&str> = rest.split('/').filter(|s| !s.is_empty()).collect();
    match segs.as_slice() {
        ["limitValues"] => Route::LimitValues,
        ["services", service, "limits", limit, "resourceAvailability"] => {
            Route::ResourceAvailability((*service).to_owned(), (*limit).to_owned())
        }
        _ => Route::Unknown,
    }
}

fn operation_name(route: &Route, method: &Method) -> &'static str {
    match (route, method.as_str()) {
        (Route::Reservations, "POST") => "CreateComputeCapacityReservation",
        (Route::Reservations, _) => "ListComputeCapacityReservations",
        (Route::Reservation(_), "PUT") => "UpdateComputeCapacityReservation",
        (Route::Reservation(_), "DELETE") => "DeleteComputeCapacityReservation",
        (Route::Reservation(_), _) => "GetComputeCapacityReservation",
        (Route::ReservationInstances(_), _) => "ListComputeCapacityReservationInstances",
        (Route::ChangeCompartment(_), _) => "ChangeComputeCapacityReservationCompartment",
        (Route::AvailabilityDomains, _) => "ListAvailabilityDomains",
        (Route::Regions, _) => "ListRegions",
        (Route::RegionSubscriptions(_), _) => "ListRegionSubscriptions",
        (Route::WorkRequest(_), _) => "GetWorkRequest",
        (Route::WorkRequestErrors(_), _) => "ListWorkRequestErrors",
        (Route::ReservableShapes, _) => "ListComputeCapacityReservationInstanceShapes",
        (Route::Instances, _) => "LaunchInstance",
        (Route::Instance(_), "DELETE") => "TerminateInstance",
        (Route::Instance(_), _) => "GetInstance",
        (Route::Compartment(_), _) => "GetCompartment",
        (Route::LimitValues, _) => "ListLimitValues",
        (Route::ResourceAvailability(..), _) => "GetResourceAvailability",
        (Route::Unknown, _) => "Unknown",
    }
}

/// Answers a fault in OCI's shape; `None` lets the request go on.
fn fault_response(
    app: &AppState,
    fault: Option<FaultKind>,
    op: &str,
    request_id: &str,
) -> Option<Response> {
    let opts = Options::from_world(&app.world);
    let (mut r, code) = match fault? {
        FaultKind::Throttle => {
            let mut r = OciError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "TooManyRequests",
                "Too many requests for the user",
            )
            .into_response();
            if let Some(s) = opts.throttle_retry_after_s
                && let Ok(v) = HeaderValue::from_str(&s.to_string())
            {
                r.headers_mut().insert(axum::http::header::RETRY_AFTER, v);
            }
            (r, "TooManyRequests")
        }
        FaultKind::ServerError => (
            OciError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "InternalError",
                "Internal error occurred",
            )
            .into_response(),
            "InternalError",
        ),
        FaultKind::ConnectionReset | FaultKind::Hang => {
            return Some(tag(drop_connection(), CLOUD, op, None, fault));
        }
        FaultKind::FailedLro | FaultKind::LostReply | FaultKind::Garbage => return None,
    };
    if let Ok(v) = HeaderValue::from_str(request_id) {
        r.headers_mut().insert("opc-request-id", v);
    }
    Some(tag(r, CLOUD, op, Some(code), fault))
}

/// `opc-request-id`: the client's id (if any) followed by server parts, as OCI answers.
fn request_id(headers: &HeaderMap) -> String {
    let mut parts = Vec::new();
    if let Some(client) = headers.get("opc-request-id").and_then(|v| v.to_str().ok())
        && !client.is_empty()
    {
        parts.push(client.to_owned());
    }
    for _ in 0..2 {
        parts.push(
            uuid::Uuid::new_v4()
                .simple()
                .to_string()
                .to_ascii_uppercase(),
        );
    }
    parts.join("/")
}

/// The region a request addresses (see the module docs).
fn resolve_region(
    app: &AppState,
    prefix: Option<&str>,
    headers: &HeaderMap,
    uri: &axum::http::Uri,
) -> Result<RegionInfo, OciError> {
    let regions = app.world.regions(CLOUD);
    if let Some(p) = prefix {
        return regions
            .into_iter()
            .find(|r| r.name == p || r.key.eq_ignore_ascii_case(p))
            .ok_or_else(|| {
                OciError::new(
                    StatusCode::NOT_FOUND,
                    "NotAuthorizedOrNotFound",
                    format!("Unknown region '{p}'."),
                )
            });
    }
    let host = headers
        .get(axum::http::header::HOST)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
        .or_else(|| uri.authority().map(|a| a.to_string()))
        .unwrap_or_default();
    let hostname = host.rsplit_once(':').map_or(host.as_str(), |(h, _)| h);
    for label in hostname.split('.') {
        if let Some(r) = regions.iter().find(|r| r.name == label) {
            return Ok(r.clone());
        }
    }
    let home = &app.creds.oci.default_region;
    regions
        .into_iter()
        .find(|r| &r.name == home)
        .ok_or_else(|| {
            OciError::new(
                StatusCode::NOT_FOUND,
                "NotAuthorizedOrNotFound",
                format!("Unknown region '{home}'."),
            )
        })
}

async fn entry(AxState(app): AxState<AppState>, BaseUrl(base): BaseUrl, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let path = parts.uri.path().to_owned();
    let (idx, limits) = match (path.find(API_PREFIX), path.find(LIMITS_PREFIX)) {
        (Some(i), _) => (i, false),
        (None, Some(i)) => (i, true),
        (None, None) => return OciError::not_found().into_response(),
    };
    let prefix = path[..idx]
        .strip_prefix("/oci/")
        .map(|p| p.trim_end_matches('/').to_owned())
        .filter(|p| !p.is_empty());
    let version_len = if limits {
        LIMITS_PREFIX.len()
    } else {
        API_PREFIX.len()
    };
    let rest = &path[idx + version_len..];
    let route = if limits {
        parse_limits_route(rest)
    } else {
        parse_route(rest)
    };
    let op = operation_name(&route, &parts.method);
    let rid = request_id(&parts.headers);
    let fault = app.world.admit(CLOUD, op).await;
    if let Some(r) = fault_response(&app, fault, op, &rid) {
        return r;
    }
    let body = axum::body::to_bytes(body, MAX_BODY)
        .await
        .unwrap_or_default();
    let result = handle(&app, &base, prefix.as_deref(), route, &parts, &body, fault);
    let (mut response, code) = match result {
        Ok(r) => (r, None),
        Err(e) => {
            let code = e.code.clone();
            (e.into_response(), Some(code))
        }
    };
    if let Ok(v) = HeaderValue::from_str(&rid) {
        response.headers_mut().insert("opc-request-id", v);
    }
    tag(response, CLOUD, op, code.as_deref(), fault)
}

fn handle(
    app: &AppState,
    base: &str,
    prefix: Option<&str>,
    route: Route,
    parts: &axum::http::request::Parts,
    body: &[u8],
    fault: Option<FaultKind>,
) -> Result<Response, OciError> {
    let opts = Options::from_world(&app.world);
    let target = parts
        .uri
        .path_and_query()
        .map_or_else(|| parts.uri.path().to_owned(), |pq| pq.as_str().to_owned());
    let authority = parts.uri.authority().map(|a| a.to_string());
    let creds = &app.creds.oci;
    signature::verify(
        &signature::SignedRequest {
            method: parts.method.as_str(),
            target: &target,
            headers: &parts.headers,
            host: authority.as_deref(),
            body,
        },
        &signature::KeyId {
            tenancy: creds.tenancy_ocid.clone(),
            user: creds.user_ocid.clone(),
            fingerprint: creds.fingerprint.clone(),
        },
        &creds.public_key_der,
        app.world.auth_now(),
        opts.max_clock_skew_s,
    )
    .map_err(|e| {
        OciError::new(
            StatusCode::UNAUTHORIZED,
            "NotAuthenticated",
            format!(
                "The required information to complete authentication was not provided or was incorrect. {}",
                e.0
            ),
        )
    })?;
    if app
        .world
        .denied_permission(CLOUD, operation_name(&route, &parts.method))
        .is_some()
    {
        // OCI does not say which permission is missing, nor whether the resource exists.
        return Err(OciError::new(
            StatusCode::NOT_FOUND,
            "NotAuthorizedOrNotFound",
            "Authorization failed or requested resource not found.",
        ));
    }
    let region = resolve_region(app, prefix, &parts.headers, &parts.uri)?;
    // Per tenancy and region; a 429 without Retry-After, as OCI answers.
    let class = match parts.method.as_str() {
        "GET" | "HEAD" => crate::ratelimit::CallClass::Read,
        "DELETE" => crate::ratelimit::CallClass::Delete,
        _ => crate::ratelimit::CallClass::Write,
    };
    let scope = format!("{}/{}", creds.tenancy_ocid, region.name);
    if app.world.rate_limit(CLOUD, &scope, class).is_some() {
        return Err(OciError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "TooManyRequests",
            "Too many requests for the tenancy",
        ));
    }
    app.oci.sweep(&app.world);
    let base = match prefix {
        Some(p) => format!("{base}/oci/{p}"),
        None => base.to_owned(),
    };
    let ctx = Ctx {
        app,
        base,
        region,
        query: serde_urlencoded::from_str(parts.uri.query().unwrap_or("")).unwrap_or_default(),
        headers: &parts.headers,
        opts,
        fault,
        now: app.world.now(),
    };
    let m = parts.method.as_str();
    let not_allowed = || {
        OciError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "NotAllowed",
            format!("Method {m} is not allowed on this resource."),
        )
    };
    match route {
        Route::Reservations => match m {
            "POST" => reservations::create(&ctx, body),
            "GET" => reservations::list(&ctx),
            _ => Err(not_allowed()),
        },
        Route::Reservation(id) => match m {
            "GET" => reservations::get(&ctx, &id),
            "PUT" => reservations::update(&ctx, &id, body),
            "DELETE" => reservations::delete(&ctx, &id),
            _ => Err(not_allowed()),
        },
        Route::ReservationInstances(id) => match m {
            "GET" => reservations::list_instances(&ctx, &id),
            _ => Err(not_allowed()),
        },
        Route::ChangeCompartment(id) => match m {
            "POST" => reservations::change_compartment(&ctx, &id, body),
            _ => Err(not_allowed()),
        },
        Route::AvailabilityDomains => match m {
            "GET" => identity::availability_domains(&ctx),
            _ => Err(not_allowed()),
        },
        Route::Regions => match m {
            "GET" => Ok(identity::regions(&ctx)),
            _ => Err(not_allowed()),
        },
        Route::RegionSubscriptions(tenancy) => match m {
            "GET" => identity::region_subscriptions(&ctx, &tenancy),
            _ => Err(not_allowed()),
        },
        Route::WorkRequest(id) => match m {
            "GET" => reservations::get_work_request(&ctx, &id),
            _ => Err(not_allowed()),
        },
        Route::WorkRequestErrors(id) => match m {
            "GET" => reservations::list_work_request_errors(&ctx, &id),
            _ => Err(not_allowed()),
        },
        Route::ReservableShapes => match m {
            "GET" => identity::reservable_shapes(&ctx),
            _ => Err(not_allowed()),
        },
        Route::Instances => match m {
            "POST" => instances::launch(&ctx, body),
            _ => Err(not_allowed()),
        },
        Route::Instance(id) => match m {
            "GET" => instances::get(&ctx, &id),
            "DELETE" => instances::terminate(&ctx, &id),
            _ => Err(not_allowed()),
        },
        Route::Compartment(id) => match m {
            "GET" => identity::get_compartment(&ctx, &id),
            _ => Err(not_allowed()),
        },
        Route::LimitValues => match m {
            "GET" => limits::list_limit_values(&ctx),
            _ => Err(not_allowed()),
        },
        Route::ResourceAvailability(service, limit) => match m {
            "GET" => limits::resource_availability(&ctx, &service, &limit),
            _ => Err(not_allowed()),
        },
        Route::Unknown => Err(OciError::not_found()),
    }
}

/// Pages a JSON array with `limit` and `page` (an offset), setting `opc-next-page`.
fn paged(ctx: &Ctx<'_>, items: Vec<Value>) -> Result<Response, OciError> {
    let limit = match ctx.param("limit") {
        None => ctx.opts.default_limit,
        Some(l) => l
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=1000).contains(n))
            .ok_or_else(|| {
                OciError::invalid(format!("Invalid limit {l}: it must be between 1 and 1000."))
            })?,
    };
    let start = match ctx.param("page") {
        None => 0,
        Some(p) => p
            .parse::<usize>()
            .map_err(|_| OciError::invalid(format!("Invalid page token {p}.")))?,
    };
    let end = (start + limit).min(items.len());
    let page: Vec<Value> = items
        .get(start..end)
        .map(<[Value]>::to_vec)
        .unwrap_or_default();
    let mut resp = json_response(StatusCode::OK, &Value::Array(page));
    if end < items.len()
        && let Ok(v) = HeaderValue::from_str(&end.to_string())
    {
        resp.headers_mut().insert("opc-next-page", v);
    }
    Ok(resp)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_parse() {
        assert_eq!(
            parse_route("computeCapacityReservations"),
            Route::Reservations
        );
        assert_eq!(
            parse_route("computeCapacityReservations/ocid1.x"),
            Route::Reservation("ocid1.x".into())
        );
        assert_eq!(
            parse_route("tenancies/ocid1.tenancy.oc1..a/regionSubscriptions"),
            Route::RegionSubscriptions("ocid1.tenancy.oc1..a".into())
        );
        assert_eq!(parse_route("instances"), Route::Instances);
        assert_eq!(parse_route("shapes"), Route::Unknown);
    }

    #[test]
    fn request_id_keeps_the_client_part() {
        let mut h = HeaderMap::new();
        h.insert("opc-request-id", HeaderValue::from_static("CLIENT1"));
        assert!(request_id(&h).starts_with("CLIENT1/"));
        assert_eq!(request_id(&HeaderMap::new()).split('/').count(), 2);
    }
}
