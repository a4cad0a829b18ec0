//! EC2 Query API (`POST /`, form body, XML replies): capacity reservations
//! (create/describe/cancel, with `ClientToken` idempotency, expiry and `pending` → `active`),
//! launching into them (RunInstances/TerminateInstances/DescribeInstances, see
//! [`instances`]), regions, availability zones, instance-type offerings and placement groups. Every request is
//! SigV4-verified against the generated key pair; the credential scope's region is the region
//! addressed.
//!
//! Behaviour the wire reference leaves unverified is switched by `clouds.aws.options`:
//! `auth_failure_status` (401), `signature_mismatch_code` (`AuthFailure`), `tag_filters`
//! (true: `tag:<key>`/`tag-key` accepted by DescribeCapacityReservations),
//! `cancel_ended` (`error`: cancelling a cancelled/expired reservation is `IncorrectState`;
//! `ok`: returns true), `ended_visible_minutes` (60: how long ended reservations stay listed).

mod catalog;
mod groups;
pub mod instance_types;
mod instances;
mod params;
mod reservations;
mod sigv4;
mod xml;

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State as AxState;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::Response;
use axum::routing::post;

use crate::scenario::{CloudScenario, FaultKind};
use crate::server::{AppState, drop_connection, tag};
use crate::world::{CloudKind, World};

use params::Params;
use xml::Ec2Error;

pub use catalog::PlacementGroup;

const CLOUD: CloudKind = CloudKind::Aws;

/// EC2 resources: capacity reservations, idempotency tokens and placement groups created at
/// run time (scenario-seeded groups are read from the scenario).
#[derive(Debug, Default)]
pub struct State {
    inner: Mutex<Inner>,
    /// Per instance: image id, tags and the launch's reservation preference (what
    /// DescribeInstances repeats; the rest is in the world's usage record).
    instance_meta: Mutex<HashMap<String, InstanceMeta>>,
    resource_groups: Mutex<Vec<groups::ResourceGroup>>,
}

type InstanceMeta = (String, std::collections::BTreeMap<String, String>, String);

#[derive(Debug, Default)]
struct Inner {
    reservations: Vec<reservations::Cr>,
    index: HashMap<String, usize>,
    tokens: HashMap<(String, String), (String, String)>,
    placement_groups: Vec<PlacementGroup>,
    /// The earliest time a time-driven transition is due (sweeps before it are no-ops).
    next_due: Option<jiff::Timestamp>,
}

impl State {
    /// No resources.
    pub fn new() -> State {
        State::default()
    }

    /// Forgets every reservation, token and run-time placement group.
    pub fn reset(&self) {
        *self.lock() = Inner::default();
        lock_any(&self.instance_meta).clear();
        lock_any(&self.resource_groups).clear();
    }

    fn set_instance_meta(
        &self,
        id: &str,
        image: &str,
        tags: &std::collections::BTreeMap<String, String>,
        preference: &str,
    ) {
        lock_any(&self.instance_meta).insert(
            id.to_owned(),
            (image.to_owned(), tags.clone(), preference.to_owned()),
        );
    }

    fn instance_meta(&self, id: &str) -> InstanceMeta {
        lock_any(&self.instance_meta)
            .get(id)
            .cloned()
            .unwrap_or_default()
    }

    fn groups(&self) -> std::sync::MutexGuard<'_, Vec<groups::ResourceGroup>> {
        lock_any(&self.resource_groups)
    }

    /// Applies `pending` → `active`/`failed` and `EndDate` expiry up to the world clock.
    pub fn sweep(&self, world: &World) {
        reservations::sweep(&mut self.lock(), world);
    }

    /// Adds a placement group (control API `POST /_emulator/aws/placement-groups`).
    pub fn add_placement_group(&self, group: PlacementGroup) {
        let mut inner = self.lock();
        inner
            .placement_groups
            .retain(|g| !(g.region == group.region && g.name == group.name));
        inner.placement_groups.push(group);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

fn lock_any<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// `POST /` (and `GET /` with a query string, which EC2 also accepts) plus the control
/// endpoint for placement groups.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/", post(handle).get(handle))
        .route(
            "/_emulator/aws/placement-groups",
            post(catalog::control_add_placement_group),
        )
        .route("/_emulator/aws/resource-groups", post(groups::control_add))
}

/// Switches read from `clouds.aws.options`.
#[derive(Debug, Clone)]
struct Options {
    auth: sigv4::AuthStyle,
    tag_filters: bool,
    cancel_ended_ok: bool,
    ended_visible: Duration,
}

impl Options {
    fn from(c: &CloudScenario) -> Options {
        Options {
            auth: sigv4::AuthStyle {
                status: c
                    .option_u64("auth_failure_status")
                    .and_then(|s| u16::try_from(s).ok())
                    .and_then(|s| StatusCode::from_u16(s).ok())
                    .unwrap_or(StatusCode::UNAUTHORIZED),
                mismatch_code: c
                    .option_str("signature_mismatch_code")
                    .unwrap_or("AuthFailure")
                    .to_owned(),
            },
            tag_filters: c.option_bool("tag_filters").unwrap_or(true),
            cancel_ended_ok: c.option_str("cancel_ended") == Some("ok"),
            ended_visible: Duration::from_secs(
                60 * c.option_u64("ended_visible_minutes").unwrap_or(60),
            ),
        }
    }
}

/// What an action handler needs.
struct Ctx<'a> {
    app: &'a AppState,
    region: String,
    params: Params,
    opts: Options,
    fault: Option<FaultKind>,
}

async fn handle(
    AxState(app): AxState<AppState>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let request_id = uuid::Uuid::new_v4().to_string();
    let mut pairs: Vec<(String, String)> = match serde_urlencoded::from_bytes(&body) {
        Ok(p) => p,
        Err(_) => {
            let e = Ec2Error::bad(
                "MalformedQueryString",
                "The request body is not a valid form encoding.",
            );
            return tag(e.render(&request_id), CLOUD, "Unknown", Some(&e.code), None);
        }
    };
    if let Some(q) = uri.query() {
        pairs.extend(serde_urlencoded::from_str::<Vec<(String, String)>>(q).unwrap_or_default());
    }
    let params = Params::new(pairs);
    let action = params.get("Action").unwrap_or_default().to_owned();
    let op = if action.is_empty() {
        "Unknown"
    } else {
        action.as_str()
    };
    let fail = |e: Ec2Error, fault: Option<FaultKind>| {
        tag(e.render(&request_id), CLOUD, op, Some(&e.code), fault)
    };

    let opts = Options::from(&app.world.scenario_arc().clouds.aws);
    let verified = match sigv4::verify(
        &method,
        &uri,
        &headers,
        &body,
        &app.creds.aws,
        &opts.auth,
        app.world.auth_now(),
    ) {
        Ok(v) => v,
        Err(e) => return fail(e, None),
    };
    if action.is_empty() {
        return fail(
            Ec2Error::bad(
                "MissingAction",
                "The request must contain the parameter Action.",
            ),
            None,
        );
    }
    match app.world.region(CLOUD, &verified.region) {
        None => {
            return fail(
                Ec2Error::new(
                    opts.auth.status,
                    "AuthFailure",
                    format!(
                        "Credential should be scoped to a valid region, not '{}'.",
                        verified.region
                    ),
                ),
                None,
            );
        }
        Some(r) if r.opt_in_disabled => {
            return fail(
                Ec2Error::new(
                    opts.auth.status,
                    "OptInRequired",
                    format!(
                        "You are not subscribed to this service in region {}. Enable the region first.",
                        r.name
                    ),
                ),
                None,
            );
        }
        Some(_) => {}
    }

    if let Some(permission) = app.world.denied_permission(CLOUD, op) {
        return fail(
            unauthorized_operation(&app, permission, &verified.region),
            None,
        );
    }
    let fault = app.world.admit(CLOUD, op).await;
    match fault {
        Some(FaultKind::Throttle) => {
            return fail(
                Ec2Error::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "RequestLimitExceeded",
                    "Request limit exceeded.",
                ),
                fault,
            );
        }
        Some(FaultKind::ServerError) => {
            return fail(
                Ec2Error::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "InternalError",
                    "An internal error has occurred. Retry your request.",
                ),
                fault,
            );
        }
        Some(FaultKind::ConnectionReset | FaultKind::Hang) => {
            return tag(drop_connection(), CLOUD, op, None, fault);
        }
        Some(FaultKind::FailedLro | FaultKind::LostReply | FaultKind::Garbage) | None => {}
    }
    // EC2 throttles per account and region: mutating actions and `Describe*` apart.
    let class = if op.starts_with("Describe") {
        crate::ratelimit::CallClass::Read
    } else {
        crate::ratelimit::CallClass::Write
    };
    let scope = format!("{}/{}", app.creds.aws.account_id, verified.region);
    if fault.is_none() && app.world.rate_limit(CLOUD, &scope, class).is_some() {
        return fail(
            Ec2Error::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "RequestLimitExceeded",
                "Request limit exceeded.",
            ),
            None,
        );
    }

    let ctx = Ctx {
        app: &app,
        region: verified.region,
        params,
        opts,
        fault,
    };
    let result = match op {
        "CreateCapacityReservation" => reservations::create(&ctx),
        "DescribeCapacityReservations" => reservations::describe(&ctx),
        "CancelCapacityReservation" => reservations::cancel(&ctx),
        "RunInstances" => instances::run(&ctx),
        "TerminateInstances" => instances::terminate(&ctx),
        "DescribeInstances" => instances::describe(&ctx),
        "DescribeRegions" => catalog::describe_regions(&ctx),
        "DescribeAvailabilityZones" => catalog::describe_availability_zones(&ctx),
        "DescribeInstanceTypeOfferings" => catalog::describe_instance_type_offerings(&ctx),
        "DescribePlacementGroups" => catalog::describe_placement_groups(&ctx),
        other => Err(Ec2Error::bad(
            "InvalidAction",
            format!("The action {other} is not valid for this web service."),
        )),
    };
    match result {
        Ok(body) => tag(xml::success(op, &request_id, body), CLOUD, op, None, fault),
        Err(e) => fail(e, fault),
    }
}

/// EC2's refusal of an action the caller's policies do not allow: `403
/// UnauthorizedOperation`, with the encoded authorization failure message (opaque; `aws sts
/// decode-authorization-message` decodes the real one) naming the principal and the action.
pub(crate) fn unauthorized_operation(app: &AppState, permission: &str, region: &str) -> Ec2Error {
    use base64::Engine as _;
    let account = &app.creds.aws.account_id;
    let decoded = serde_json::json!({
        "allowed": false,
        "explicitDeny": false,
        "matchedStatements": {"items": []},
        "failures": {"items": []},
        "context": {
            "principal": {"arn": format!("arn:aws:iam::{account}:user/cr")},
            "action": permission,
            "resource": format!("arn:aws:ec2:{region}:{account}:capacity-reservation/*"),
        },
    });
    let encoded = base64::engine::general_purpose::STANDARD.encode(decoded.to_string());
    Ec2Error::new(
        StatusCode::FORBIDDEN,
        "UnauthorizedOperation",
        format!(
            "You are not authorized to perform this operation. Encoded authorization failure message: {encoded}"
        ),
    )
}
