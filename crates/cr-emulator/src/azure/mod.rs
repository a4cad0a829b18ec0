//! Azure Resource Manager: resource groups, capacity reservation groups, capacity
//! reservations and virtual machines consuming them ([`vms`]) of `Microsoft.Compute`, subscription locations, long-running operations, and
//! the Entra ID token endpoint whose bearer tokens the API requires.
//!
//! Every `/subscriptions/...` request goes through one entry point ([`arm`]): it parses the
//! path without regard to case (ARM ids are case-insensitive), applies latency and faults,
//! checks the bearer token, the subscription and the `api-version`, and then hands over to
//! [`groups`] (resource groups, reservation groups, locations) or [`reservations`]
//! (reservations and operation status). Behaviour the wire reference marks as unverified is
//! switched by `clouds.azure.options` in the scenario (see [`Options`] and docs/emulator.md).

mod auth;
mod error;
mod groups;
mod locations;
mod model;
mod preflight;
mod reservations;
pub(crate) mod skus;
mod versions;
mod vms;

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

use axum::Router;
use axum::extract::{Request, State as AxState};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post};
use jiff::Timestamp;
use serde_json::Value;

use crate::scenario::FaultKind;
use crate::server::{AppState, BaseUrl, drop_connection, tag};
use crate::world::{AuditState, CloudKind, World};

pub use error::ArmError;
use model::{Group, Operation, Pending, Prov, ResKey, Reservation, ResourceGroup};

const CLOUD: CloudKind = CloudKind::Azure;
/// Largest request body accepted.
const MAX_BODY: usize = 4 * 1024 * 1024;

/// Which polling headers a long-running operation answers with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LroHeaders {
    /// PUT: `Azure-AsyncOperation`; DELETE: `Azure-AsyncOperation` and `Location`.
    Auto,
    /// Only `Azure-AsyncOperation`.
    AsyncOperation,
    /// Only `Location`.
    Location,
    /// Both.
    Both,
    /// Neither: clients poll the resource's `provisioningState`.
    None,
}

/// When a capacity or quota refusal is reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Report {
    /// The PUT itself fails.
    Sync,
    /// The PUT is accepted and its long-running operation fails.
    Lro,
}

/// The `clouds.azure.options` switches of the scenario.
#[derive(Debug, Clone)]
pub struct Options {
    /// `lro_headers`: `auto` (default), `azure-async-operation`, `location`, `both`, `none`.
    pub lro_headers: LroHeaders,
    /// `lro_always`: answer with a long-running operation even when `lro_ms` is 0, as ARM
    /// does (default true; false: with `lro_ms: 0` creates and deletes complete in the first
    /// response).
    pub lro_always: bool,
    /// `stockout`: `lro` (default) or `sync`.
    pub stockout: Report,
    /// `quota`: `sync` (default) or `lro`.
    pub quota: Report,
    /// `quota_code`: top-level code of a quota refusal (default `OperationNotAllowed`,
    /// with a `QuotaExceeded` detail).
    pub quota_code: String,
    /// `throttle_code`: code of the 429 (default `TooManyRequests`).
    pub throttle_code: String,
    /// `throttle_retry_after_s`: `Retry-After` of the 429 (default 1).
    pub throttle_retry_after_s: u64,
    /// `retry_after_s`: `Retry-After` of a pending operation (default: the remaining time
    /// rounded up to whole seconds, at least 1).
    pub retry_after_s: Option<u64>,
    /// `page_size`: items per list page before `nextLink` (default 100).
    pub page_size: usize,
    /// `auto_create_resource_groups`: a PUT into a missing resource group creates it
    /// (default false: `ResourceGroupNotFound`, as ARM does).
    pub auto_create_resource_groups: bool,
    /// `compute_api_versions`, `resources_api_versions`, `subscriptions_api_versions`.
    pub api_versions: HashMap<&'static str, Value>,
}

impl Options {
    fn from_world(world: &World) -> Options {
        let scenario = world.scenario_arc();
        let c = scenario.clouds.get(CLOUD);
        let lro_headers = match c
            .option_str("lro_headers")
            .map(str::to_ascii_lowercase)
            .as_deref()
        {
            Some("azure-async-operation" | "azure-asyncoperation" | "async") => {
                LroHeaders::AsyncOperation
            }
            Some("location") => LroHeaders::Location,
            Some("both") => LroHeaders::Both,
            Some("none") => LroHeaders::None,
            _ => LroHeaders::Auto,
        };
        let report = |key: &str, default: Report| match c
            .option_str(key)
            .map(str::to_ascii_lowercase)
            .as_deref()
        {
            Some("sync") => Report::Sync,
            Some("lro" | "async") => Report::Lro,
            _ => default,
        };
        let mut api_versions = HashMap::new();
        for fam in [
            versions::Family::Compute,
            versions::Family::Resources,
            versions::Family::Subscriptions,
            versions::Family::Skus,
        ] {
            if let Some(v) = c.options.get(fam.option_key()) {
                api_versions.insert(fam.option_key(), v.clone());
            }
        }
        Options {
            lro_headers,
            lro_always: c.option_bool("lro_always").unwrap_or(true),
            stockout: report("stockout", Report::Lro),
            quota: report("quota", Report::Sync),
            quota_code: c
                .option_str("quota_code")
                .unwrap_or("OperationNotAllowed")
                .to_owned(),
            throttle_code: c
                .option_str("throttle_code")
                .unwrap_or("TooManyRequests")
                .to_owned(),
            throttle_retry_after_s: c.option_u64("throttle_retry_after_s").unwrap_or(1),
            retry_after_s: c.option_u64("retry_after_s"),
            page_size: c
                .option_u64("page_size")
                .and_then(|n| usize::try_from(n).ok())
                .filter(|n| *n > 0)
                .unwrap_or(100),
            auto_create_resource_groups: c
                .option_bool("auto_create_resource_groups")
                .unwrap_or(false),
            api_versions,
        }
    }
}

/// Issued access tokens → expiry. Debug shows how many, never a token.
#[derive(Default)]
struct IssuedTokens(HashMap<String, Timestamp>);

impl std::ops::Deref for IssuedTokens {
    type Target = HashMap<String, Timestamp>;
    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

impl std::ops::DerefMut for IssuedTokens {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.0
    }
}

impl std::fmt::Debug for IssuedTokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} issued", self.0.len())
    }
}

#[derive(Debug, Default)]
struct Inner {
    /// Issued access tokens → expiry.
    tokens: IssuedTokens,
    /// Resource groups by lower-cased name.
    rgs: BTreeMap<String, ResourceGroup>,
    /// Groups by (rg, name), lower-cased.
    groups: BTreeMap<(String, String), Group>,
    /// Reservations by (rg, group, name), lower-cased.
    reservations: BTreeMap<ResKey, Reservation>,
    /// Long-running operations by id.
    ops: HashMap<String, Operation>,
    /// Groups by (rg, name) whose last reservation went away: when, and that reservation's
    /// id (ARM still refuses the group's delete for a while: `group_delete_race_ms`).
    emptied: HashMap<(String, String), (Timestamp, String)>,
    /// Virtual machines by (rg, name), lower-cased.
    vms: BTreeMap<(String, String), vms::Vm>,
}

/// This cloud's resources.
#[derive(Debug, Default)]
pub struct State {
    inner: Mutex<Inner>,
}

impl State {
    /// Empty state.
    pub fn new() -> State {
        State::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Forgets every resource, operation and issued token.
    pub fn reset(&self) {
        *self.lock() = Inner::default();
    }

    /// Finishes the long-running operations that are due at the world clock's now.
    pub fn sweep(&self, world: &World) {
        let now = world.now();
        let mut inner = self.lock();
        settle(&mut inner, world, now);
    }

    fn remember_token(&self, token: &str, now: Timestamp, lifetime_s: i64) {
        let mut inner = self.lock();
        inner.tokens.retain(|_, exp| *exp > now);
        inner.tokens.insert(
            token.to_owned(),
            now + jiff::SignedDuration::from_secs(lifetime_s),
        );
    }

    fn token_expiry(&self, token: &str) -> Option<Timestamp> {
        self.lock().tokens.get(token).copied()
    }
}

/// Applies every pending transition due at `now`.
fn settle(inner: &mut Inner, world: &World, now: Timestamp) {
    let due: Vec<ResKey> = inner
        .reservations
        .iter()
        .filter(|(_, r)| r.pending.as_ref().is_some_and(|p| p.at() <= now))
        .map(|(k, _)| k.clone())
        .collect();
    for key in due {
        let Some(r) = inner.reservations.get_mut(&key) else {
            continue;
        };
        let Some(pending) = r.pending.take() else {
            continue;
        };
        r.op_id = None;
        let audit_id = r.id.clone();
        match pending {
            Pending::Create { at, error: None } => {
                r.state = Prov::Succeeded;
                r.provisioning_time = at;
                world.set_state(CLOUD, &audit_id, AuditState::Active);
            }
            Pending::Create { at, error: Some(_) } => {
                r.state = Prov::Failed;
                r.provisioning_time = at;
                world.set_state(CLOUD, &audit_id, AuditState::Cancelled);
            }
            Pending::Update {
                at,
                capacity,
                error: None,
            } => {
                if capacity < r.held {
                    world.release(
                        CLOUD,
                        &r.location,
                        r.pool_zone(),
                        &r.sku_name,
                        r.held - capacity,
                    );
                }
                r.held = capacity;
                r.capacity = capacity;
                r.state = Prov::Succeeded;
                r.provisioning_time = at;
                world.update_reservation(CLOUD, &audit_id, |a| {
                    a.count = capacity;
                    a.state = AuditState::Active;
                });
            }
            Pending::Update {
                capacity,
                error: Some(_),
                ..
            } => {
                // The increase was taken up front; give it back and keep the old size.
                if capacity > r.capacity && r.held > r.capacity {
                    world.release(
                        CLOUD,
                        &r.location,
                        r.pool_zone(),
                        &r.sku_name,
                        r.held - r.capacity,
                    );
                    r.held = r.capacity;
                }
                r.state = Prov::Succeeded;
            }
            Pending::Delete { at, error: None } => {
                if r.held > 0 {
                    world.release(CLOUD, &r.location, r.pool_zone(), &r.sku_name, r.held);
                }
                world.set_state(CLOUD, &audit_id, AuditState::Cancelled);
                inner.reservations.remove(&key);
                inner
                    .emptied
                    .insert((key.0.clone(), key.1.clone()), (at, audit_id));
            }
            Pending::Delete { error: Some(_), .. } => {
                r.state = if r.held > 0 || r.capacity == 0 {
                    Prov::Succeeded
                } else {
                    Prov::Failed
                };
            }
        }
    }
    inner.ops.retain(|_, op| {
        // Keep finished operations for an hour so late pollers still get an answer.
        op.at + jiff::SignedDuration::from_secs(3600) > now
    });
}

/// This cloud's routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/subscriptions", any(arm))
        .route("/subscriptions/{*rest}", any(arm))
        .route("/{tenant}/oauth2/v2.0/token", post(auth::token))
        .route(
            "/{tenant}/v2.0/.well-known/openid-configuration",
            get(auth::openid_configuration),
        )
        .route("/common/discovery/instance", get(auth::instance_discovery))
}

/// Answers a fault decided by [`World::admit`] in ARM's shape; `None` lets the request go on.
fn fault_response(app: &AppState, fault: Option<FaultKind>, op: &str) -> Option<Response> {
    let opts = Options::from_world(&app.world);
    match fault? {
        FaultKind::Throttle => {
            let mut e = ArmError::new(
                StatusCode::TOO_MANY_REQUESTS,
                &opts.throttle_code,
                "The request is being throttled as the limit has been reached for operation type - \
                 Write_ObservationWindow_00:03:00. For more information, see - https://aka.ms/throttling",
            );
            e.retry_after = Some(opts.throttle_retry_after_s);
            let code = e.code.clone();
            Some(tag(
                finish(e.into_response()),
                CLOUD,
                op,
                Some(&code),
                fault,
            ))
        }
        FaultKind::ServerError => {
            let e = ArmError::internal(
                &app.creds.azure.subscription_id,
                &uuid::Uuid::new_v4().to_string(),
            );
            Some(tag(
                finish(e.into_response()),
                CLOUD,
                op,
                Some("InternalServerError"),
                fault,
            ))
        }
        FaultKind::ConnectionReset | FaultKind::Hang => {
            Some(tag(drop_connection(), CLOUD, op, None, fault))
        }
        FaultKind::FailedLro | FaultKind::LostReply | FaultKind::Garbage => None,
    }
}

/// ARM's throttling per subscription and principal (the emulator has one principal): a 429
/// `SubscriptionRequestsThrottled` with `Retry-After` once the class's bucket is empty.
fn rate_limit(app: &AppState, sub: &str, method: &Method) -> Result<(), ArmError> {
    use crate::ratelimit::{CallClass, retry_after_secs};
    let (class, name) = match method.as_str() {
        "GET" | "HEAD" => (CallClass::Read, "read"),
        "DELETE" => (CallClass::Delete, "delete"),
        _ => (CallClass::Write, "write"),
    };
    let principal = &app.creds.azure.client_id;
    let Some(wait) = app
        .world
        .rate_limit(CLOUD, &format!("{sub}/{principal}"), class)
    else {
        return Ok(());
    };
    let after = retry_after_secs(wait);
    let mut e = ArmError::new(
        StatusCode::TOO_MANY_REQUESTS,
        "SubscriptionRequestsThrottled",
        format!(
            "Number of '{name}' requests for subscription '{sub}' actor '{principal}' exceeded. \
             Please try again after '{after}' seconds after additional tokens are available. \
             Refer to https://aka.ms/arm-throttling"
        ),
    );
    e.retry_after = Some(after);
    Err(e)
}

/// Headers every ARM answer carries.
fn finish(mut r: Response) -> Response {
    let id = uuid::Uuid::new_v4().to_string();
    let h = r.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&id) {
        h.insert("x-ms-request-id", v.clone());
        h.insert("x-ms-correlation-request-id", v.clone());
        h.insert("x-ms-routing-request-id", v);
    }
    h.insert("cache-control", HeaderValue::from_static("no-cache"));
    h.insert(
        "x-ms-ratelimit-remaining-subscription-reads",
        HeaderValue::from_static("11999"),
    );
    h.insert(
        "x-ms-ratelimit-remaining-subscription-writes",
        HeaderValue::from_static("1199"),
    );
    r
}

/// A JSON answer.
fn json_response(status: StatusCode, body: &Value) -> Response {
    (
        status,
        [(
            axum::http::header::CONTENT_TYPE,
            HeaderValue::from_static("application/json; charset=utf-8"),
        )],
        body.to_string(),
    )
        .into_response()
}

/// What a handler gets besides its own path parameters.
pub(crate) struct Ctx<'a> {
    app: &'a AppState,
    /// `https://127.0.0.1:PORT`.
    base: String,
    /// Subscription id as the client wrote it.
    sub: String,
    /// The `api-version` sent (already validated).
    api_version: String,
    /// Decoded query parameters.
    query: Vec<(String, String)>,
    /// Request path as sent.
    path: String,
    /// Scenario switches.
    opts: Options,
    /// The fault decided for this request (only `FailedLro` reaches handlers).
    fault: Option<FaultKind>,
    /// World clock at arrival.
    now: Timestamp,
}

impl Ctx<'_> {
    fn param(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn expand_instance_view(&self) -> bool {
        self.param("$expand")
            .is_some_and(|v| v.eq_ignore_ascii_case("instanceView"))
    }

    /// Paginates `items` with `$skiptoken` and builds the list body with `nextLink`.
    fn page(&self, items: Vec<Value>) -> Value {
        let start: usize = self
            .param("$skiptoken")
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        let size = self.opts.page_size;
        let end = (start + size).min(items.len());
        let value: Vec<Value> = items
            .get(start..end)
            .map(<[Value]>::to_vec)
            .unwrap_or_default();
        let mut body = serde_json::json!({ "value": value });
        if end < items.len() {
            let mut q: Vec<(String, String)> = self
                .query
                .iter()
                .filter(|(k, _)| !k.eq_ignore_ascii_case("$skiptoken"))
                .cloned()
                .collect();
            q.push(("$skiptoken".to_owned(), end.to_string()));
            let qs = serde_urlencoded::to_string(&q).unwrap_or_default();
            body["nextLink"] = Value::String(format!("{}{}?{qs}", self.base, self.path));
        }
        body
    }
}

/// The route of a `/subscriptions/...` path.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Route {
    Subscription,
    Locations,
    ResourceGroups,
    ResourceGroup(String),
    RgOperationResult(String),
    GroupsInRg(String),
    Group(String, String),
    Reservations(String, String),
    Reservation(String, String, String),
    GroupsInSub,
    Vm(String, String),
    OperationStatus(String, String),
    Skus,
    PermissionsOfSubscription,
    PermissionsOfResourceGroup(String),
    Usages(String),
    Unknown,
}

fn parse_route(segments: &[&str]) -> Route {
    let lc: Vec<String> = segments.iter().map(|s| s.to_ascii_lowercase()).collect();
    let l: Vec<&str> = lc.iter().map(String::as_str).collect();
    let s = |i: usize| segments[i].to_owned();
    match l.as_slice() {
        [_] => Route::Subscription,
        [_, "locations"] => Route::Locations,
        [_, "resourcegroups"] => Route::ResourceGroups,
        [_, "resourcegroups", _] => Route::ResourceGroup(s(2)),
        [_, "operationresults", _] => Route::RgOperationResult(s(2)),
        [
            _,
            "resourcegroups",
            _,
            "providers",
            "microsoft.compute",
            "capacityreservationgroups",
        ] => Route::GroupsInRg(s(2)),
        [
            _,
            "resourcegroups",
            _,
            "providers",
            "microsoft.compute",
            "capacityreservationgroups",
            _,
        ] => Route::Group(s(2), s(6)),
        [
            _,
            "resourcegroups",
            _,
            "providers",
            "microsoft.compute",
            "capacityreservationgroups",
            _,
            "capacityreservations",
        ] => Route::Reservations(s(2), s(6)),
        [
            _,
            "resourcegroups",
            _,
            "providers",
            "microsoft.compute",
            "capacityreservationgroups",
            _,
            "capacityreservations",
            _,
        ] => Route::Reservation(s(2), s(6), s(8)),
        [
            _,
            "providers",
            "microsoft.compute",
            "capacityreservationgroups",
        ] => Route::GroupsInSub,
        [
            _,
            "resourcegroups",
            _,
            "providers",
            "microsoft.compute",
            "virtualmachines",
            _,
        ] => Route::Vm(s(2), s(6)),
        [_, "providers", "microsoft.compute", "skus"] => Route::Skus,
        [_, "providers", "microsoft.authorization", "permissions"] => {
            Route::PermissionsOfSubscription
        }
        [
            _,
            "resourcegroups",
            _,
            "providers",
            "microsoft.authorization",
            "permissions",
        ] => Route::PermissionsOfResourceGroup(s(2)),
        [
            _,
            "providers",
            "microsoft.compute",
            "locations",
            _,
            "usages",
        ] => Route::Usages(s(4)),
        [
            _,
            "providers",
            "microsoft.compute",
            "locations",
            _,
            "operations",
            _,
        ] => Route::OperationStatus(s(4), s(6)),
        _ => Route::Unknown,
    }
}

fn operation_name(route: &Route, method: &Method) -> &'static str {
    let m = method.as_str();
    match (route, m) {
        (Route::Subscription, _) => "Subscriptions_Get",
        (Route::Locations, _) => "Subscriptions_ListLocations",
        (Route::ResourceGroups, _) => "ResourceGroups_List",
        (Route::ResourceGroup(_), "PUT") => "ResourceGroups_CreateOrUpdate",
        (Route::ResourceGroup(_), "PATCH") => "ResourceGroups_Update",
        (Route::ResourceGroup(_), "DELETE") => "ResourceGroups_Delete",
        (Route::ResourceGroup(_), "HEAD") => "ResourceGroups_CheckExistence",
        (Route::ResourceGroup(_), _) => "ResourceGroups_Get",
        (Route::RgOperationResult(_), _) => "OperationResults_Get",
        (Route::GroupsInRg(_), _) => "CapacityReservationGroups_ListByResourceGroup",
        (Route::Group(..), "PUT") => "CapacityReservationGroups_CreateOrUpdate",
        (Route::Group(..), "PATCH") => "CapacityReservationGroups_Update",
        (Route::Group(..), "DELETE") => "CapacityReservationGroups_Delete",
        (Route::Group(..), _) => "CapacityReservationGroups_Get",
        (Route::Reservations(..), _) => "CapacityReservations_ListByCapacityReservationGroup",
        (Route::Reservation(..), "PUT") => "CapacityReservations_CreateOrUpdate",
        (Route::Reservation(..), "PATCH") => "CapacityReservations_Update",
        (Route::Reservation(..), "DELETE") => "CapacityReservations_Delete",
        (Route::Reservation(..), _) => "CapacityReservations_Get",
        (Route::GroupsInSub, _) => "CapacityReservationGroups_ListBySubscription",
        (Route::Vm(..), "PUT") => "VirtualMachines_CreateOrUpdate",
        (Route::Vm(..), "DELETE") => "VirtualMachines_Delete",
        (Route::Vm(..), _) => "VirtualMachines_Get",
        (Route::OperationStatus(..), _) => "OperationStatus_Get",
        (Route::Skus, _) => "ResourceSkus_List",
        (Route::PermissionsOfSubscription, _) => "Permissions_ListForSubscription",
        (Route::PermissionsOfResourceGroup(_), _) => "Permissions_ListForResourceGroup",
        (Route::Usages(_), _) => "Usage_List",
        (Route::Unknown, _) => "Unknown",
    }
}

fn family(route: &Route) -> versions::Family {
    match route {
        Route::Subscription | Route::Locations => versions::Family::Subscriptions,
        Route::ResourceGroups | Route::ResourceGroup(_) | Route::RgOperationResult(_) => {
            versions::Family::Resources
        }
        Route::Skus => versions::Family::Skus,
        Route::PermissionsOfSubscription | Route::PermissionsOfResourceGroup(_) => {
            versions::Family::Authorization
        }
        _ => versions::Family::Compute,
    }
}

fn method_not_allowed(method: &Method) -> ArmError {
    ArmError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "HttpMethodNotAllowed",
        format!("The HTTP method '{method}' is not supported for this resource."),
    )
}

/// The entry point of every `/subscriptions/...` request.
async fn arm(AxState(app): AxState<AppState>, BaseUrl(base): BaseUrl, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let path = parts.uri.path().to_owned();
    let segments: Vec<&str> = path
        .trim_start_matches('/')
        .split('/')
        .filter(|s| !s.is_empty())
        .skip(1)
        .collect();
    let route = if segments.is_empty() {
        Route::Unknown
    } else {
        parse_route(&segments)
    };
    let op = operation_name(&route, &parts.method);
    let fault = app.world.admit(CLOUD, op).await;
    if let Some(r) = fault_response(&app, fault, op) {
        return r;
    }
    let body = match axum::body::to_bytes(body, MAX_BODY).await {
        Ok(b) => b,
        Err(_) => {
            let e = ArmError::invalid_content("request body too large or unreadable");
            return tag(
                finish(e.into_response()),
                CLOUD,
                op,
                Some("InvalidRequestContent"),
                fault,
            );
        }
    };
    let query: Vec<(String, String)> =
        serde_urlencoded::from_str(parts.uri.query().unwrap_or("")).unwrap_or_default();
    let result = handle(
        &app,
        &base,
        &path,
        &segments,
        route,
        &parts.method,
        &parts.headers,
        query,
        &body,
        fault,
    );
    let (response, code) = match result {
        Ok(r) => (r, None),
        Err(e) => {
            let code = e.code.clone();
            let mut r = e.clone().into_response();
            if e.status == StatusCode::UNAUTHORIZED
                && let Ok(v) = HeaderValue::from_str(&auth::www_authenticate(&base, &e))
            {
                r.headers_mut()
                    .insert(axum::http::header::WWW_AUTHENTICATE, v);
            }
            (r, Some(code))
        }
    };
    let mut response = finish(response);
    if let Some(id) = parts.headers.get("x-ms-client-request-id") {
        response
            .headers_mut()
            .insert("x-ms-client-request-id", id.clone());
    }
    tag(response, CLOUD, op, code.as_deref(), fault)
}

#[allow(clippy::too_many_arguments)]
fn handle(
    app: &AppState,
    base: &str,
    path: &str,
    segments: &[&str],
    route: Route,
    method: &Method,
    headers: &HeaderMap,
    query: Vec<(String, String)>,
    body: &[u8],
    fault: Option<FaultKind>,
) -> Result<Response, ArmError> {
    auth::check_bearer(app, headers)?;
    if let Some(action) = app
        .world
        .denied_permission(CLOUD, operation_name(&route, method))
    {
        let principal = &app.creds.azure.client_id;
        return Err(ArmError::new(
            StatusCode::FORBIDDEN,
            "AuthorizationFailed",
            format!(
                "The client '{principal}' with object id '{principal}' does not have authorization to perform action \
                 '{action}' over scope '{path}' or the scope is invalid. If access was recently granted, please \
                 refresh your credentials."
            ),
        ));
    }
    let sub = segments.first().copied().unwrap_or_default().to_owned();
    if route == Route::Unknown && segments.is_empty() {
        return Err(ArmError::new(
            StatusCode::NOT_FOUND,
            "InvalidResourceType",
            "Listing subscriptions is not supported by the emulator.",
        ));
    }
    if !sub.eq_ignore_ascii_case(&app.creds.azure.subscription_id) {
        return Err(ArmError::new(
            StatusCode::NOT_FOUND,
            "SubscriptionNotFound",
            format!("The subscription '{sub}' could not be found."),
        ));
    }
    rate_limit(app, &sub, method)?;
    let opts = Options::from_world(&app.world);
    let fam = family(&route);
    let api_version = query
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("api-version"))
        .map(|(_, v)| v.clone());
    let Some(api_version) = api_version else {
        return Err(ArmError::new(
            StatusCode::BAD_REQUEST,
            "MissingApiVersionParameter",
            "The api-version query parameter (?api-version=) is required for all requests.",
        ));
    };
    let supported = versions::supported(fam, opts.api_versions.get(fam.option_key()));
    if !supported.iter().any(|v| v == &api_version) {
        return Err(ArmError::new(
            StatusCode::BAD_REQUEST,
            "InvalidApiVersionParameter",
            versions::invalid_message(&api_version, &supported),
        ));
    }
    let now = app.world.now();
    app.azure.sweep(&app.world);
    let ctx = Ctx {
        app,
        base: base.to_owned(),
        sub,
        api_version,
        query,
        path: path.to_owned(),
        opts,
        fault,
        now,
    };
    let m = method.as_str();
    match route {
        Route::Subscription => match m {
            "GET" => Ok(groups::get_subscription(&ctx)),
            _ => Err(method_not_allowed(method)),
        },
        Route::Locations => match m {
            "GET" => Ok(groups::list_locations(&ctx)),
            _ => Err(method_not_allowed(method)),
        },
        Route::ResourceGroups => match m {
            "GET" => Ok(groups::list_resource_groups(&ctx)),
            _ => Err(method_not_allowed(method)),
        },
        Route::ResourceGroup(rg) => match m {
            "PUT" => groups::put_resource_group(&ctx, &rg, body),
            "PATCH" => groups::patch_resource_group(&ctx, &rg, body),
            "GET" => groups::get_resource_group(&ctx, &rg),
            "HEAD" => Ok(groups::head_resource_group(&ctx, &rg)),
            "DELETE" => groups::delete_resource_group(&ctx, &rg),
            _ => Err(method_not_allowed(method)),
        },
        Route::RgOperationResult(id) => match m {
            "GET" => reservations::operation_result(&ctx, &id),
            _ => Err(method_not_allowed(method)),
        },
        Route::GroupsInRg(rg) => match m {
            "GET" => groups::list_groups(&ctx, Some(&rg)),
            _ => Err(method_not_allowed(method)),
        },
        Route::GroupsInSub => match m {
            "GET" => groups::list_groups(&ctx, None),
            _ => Err(method_not_allowed(method)),
        },
        Route::Group(rg, g) => match m {
            "PUT" => groups::put_group(&ctx, &rg, &g, body, false),
            "PATCH" => groups::put_group(&ctx, &rg, &g, body, true),
            "GET" => groups::get_group(&ctx, &rg, &g),
            "DELETE" => groups::delete_group(&ctx, &rg, &g),
            _ => Err(method_not_allowed(method)),
        },
        Route::Reservations(rg, g) => match m {
            "GET" => reservations::list(&ctx, &rg, &g),
            _ => Err(method_not_allowed(method)),
        },
        Route::Reservation(rg, g, r) => match m {
            "PUT" => reservations::put(&ctx, &rg, &g, &r, body, false),
            "PATCH" => reservations::put(&ctx, &rg, &g, &r, body, true),
            "GET" => reservations::get(&ctx, &rg, &g, &r),
            "DELETE" => reservations::delete(&ctx, &rg, &g, &r),
            _ => Err(method_not_allowed(method)),
        },
        Route::Vm(rg, name) => match m {
            "PUT" => vms::put(&ctx, &rg, &name, body),
            "GET" => vms::get(&ctx, &rg, &name),
            "DELETE" => vms::delete(&ctx, &rg, &name),
            _ => Err(method_not_allowed(method)),
        },
        Route::Skus => match m {
            "GET" => skus::list(&ctx),
            _ => Err(method_not_allowed(method)),
        },
        Route::PermissionsOfSubscription => match m {
            "GET" => preflight::permissions(&ctx, None),
            _ => Err(method_not_allowed(method)),
        },
        Route::PermissionsOfResourceGroup(rg) => match m {
            "GET" => preflight::permissions(&ctx, Some(&rg)),
            _ => Err(method_not_allowed(method)),
        },
        Route::Usages(location) => match m {
            "GET" => preflight::usages(&ctx, &location),
            _ => Err(method_not_allowed(method)),
        },
        Route::OperationStatus(loc, id) => match m {
            "GET" => reservations::operation_status(&ctx, &loc, &id),
            _ => Err(method_not_allowed(method)),
        },
        Route::Unknown => Err(ArmError::new(
            StatusCode::NOT_FOUND,
            "InvalidResourceType",
            format!(
                "The resource type could not be found for path '{path}' and api version '{}'.",
                ctx.api_version
            ),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_parse_without_regard_to_case() {
        let p = |s: &str| parse_route(&s.split('/').filter(|x| !x.is_empty()).collect::<Vec<_>>());
        assert_eq!(
            p(
                "SUB/resourceGroups/RG/providers/Microsoft.Compute/CapacityReservationGroups/G/capacityreservations/R"
            ),
            Route::Reservation("RG".into(), "G".into(), "R".into())
        );
        assert_eq!(
            p("sub/resourcegroups/rg/providers/microsoft.compute/capacityReservationGroups"),
            Route::GroupsInRg("rg".into())
        );
        assert_eq!(
            p("sub/providers/Microsoft.Compute/locations/eastus/operations/abc"),
            Route::OperationStatus("eastus".into(), "abc".into())
        );
        assert_eq!(p("sub/locations"), Route::Locations);
        assert_eq!(
            p("sub/providers/Microsoft.Network/virtualNetworks"),
            Route::Unknown
        );
    }
}
