//! `computeCapacityReservations`: create (with `opc-retry-token` idempotency), get, list
//! (filters, sorting, `limit`/`page` → `opc-next-page`), update (the full config list
//! replaces the old one), delete, change compartment, plus the work requests the mutating
//! calls return.
//!
//! Capacity is charged per availability domain and shape when a create or an increase is
//! accepted and given back when a decrease or delete completes. Lifecycle transitions
//! (`CREATING` → `ACTIVE`, `UPDATING` → `ACTIVE`, `DELETING` → `DELETED`) take the
//! scenario's `lro_ms`; with `lro_ms: 0` they complete within the request.

use std::collections::BTreeMap;

use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use jiff::Timestamp;
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

use super::identity::known_compartment;
use super::model::{Config, Lifecycle, Pending, Reservation, WorkKind, WorkRequest, per_shape};
use super::{CLOUD, Ctx, Inner, OciError, json_response};
use crate::credentials::random_token;
use crate::scenario::FaultKind;
use crate::world::{AuditRecord, AuditState, CapacityDenied, World};

fn new_etag() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

fn parse_body(body: &[u8]) -> Result<Map<String, Value>, OciError> {
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(m)) => Ok(m),
        _ => Err(OciError::new(
            StatusCode::BAD_REQUEST,
            "CannotParseRequest",
            "Unable to parse the request body as a JSON object.",
        )),
    }
}

fn opt_string(obj: &Map<String, Value>, key: &str) -> Result<Option<String>, OciError> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(OciError::invalid(format!("{key} must be a string."))),
    }
}

fn freeform_tags(obj: &Map<String, Value>) -> Result<Option<Map<String, Value>>, OciError> {
    match obj.get("freeformTags") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Object(m)) if m.values().all(Value::is_string) => Ok(Some(m.clone())),
        Some(_) => Err(OciError::invalid("freeformTags must be a map of strings.")),
    }
}

fn defined_tags(obj: &Map<String, Value>) -> Result<Option<Map<String, Value>>, OciError> {
    match obj.get("definedTags") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Object(m)) if m.values().all(Value::is_object) => Ok(Some(m.clone())),
        Some(_) => Err(OciError::invalid(
            "definedTags must be a map of namespaces to maps.",
        )),
    }
}

fn parse_config(ctx: &Ctx<'_>, v: &Value, i: usize) -> Result<Config, OciError> {
    let Some(o) = v.as_object() else {
        return Err(OciError::invalid(format!(
            "instanceReservationConfigs[{i}] must be an object."
        )));
    };
    let Some(shape) = opt_string(o, "instanceShape")?.filter(|s| !s.is_empty()) else {
        return Err(OciError::missing(&format!(
            "instanceReservationConfigs[{i}].instanceShape"
        )));
    };
    let count = match o.get("reservedCount") {
        None | Some(Value::Null) => {
            return Err(OciError::missing(&format!(
                "instanceReservationConfigs[{i}].reservedCount"
            )));
        }
        Some(n) => n
            .as_u64()
            .and_then(|n| u32::try_from(n).ok())
            .ok_or_else(|| {
                OciError::invalid(format!(
                    "instanceReservationConfigs[{i}].reservedCount must be a non-negative integer."
                ))
            })?,
    };
    let shape_config = o
        .get("instanceShapeConfig")
        .filter(|v| !v.is_null())
        .cloned();
    if let Some(c) = &shape_config
        && !c.is_object()
    {
        return Err(OciError::invalid(format!(
            "instanceReservationConfigs[{i}].instanceShapeConfig must be an object."
        )));
    }
    if ctx.opts.require_flex_shape_config && shape.ends_with(".Flex") && shape_config.is_none() {
        return Err(OciError::invalid(format!(
            "instanceShapeConfig is required for the flexible shape {shape} (instanceReservationConfigs[{i}])."
        )));
    }
    let fault_domain = opt_string(o, "faultDomain")?;
    if let Some(fd) = &fault_domain
        && !["FAULT-DOMAIN-1", "FAULT-DOMAIN-2", "FAULT-DOMAIN-3"].contains(&fd.as_str())
    {
        return Err(OciError::invalid(format!("Invalid faultDomain {fd}.")));
    }
    let cluster_config = o.get("clusterConfig").filter(|v| !v.is_null()).cloned();
    if let Some(c) = &cluster_config
        && c.get("hpcIslandId").and_then(Value::as_str).is_none()
    {
        return Err(OciError::missing(&format!(
            "instanceReservationConfigs[{i}].clusterConfig.hpcIslandId"
        )));
    }
    Ok(Config {
        instance_shape: shape,
        instance_shape_config: shape_config,
        fault_domain,
        cluster_config,
        cluster_placement_group_id: opt_string(o, "clusterPlacementGroupId")?,
        reserved_count: count,
    })
}

fn parse_configs(ctx: &Ctx<'_>, obj: &Map<String, Value>) -> Result<Option<Vec<Config>>, OciError> {
    match obj.get("instanceReservationConfigs") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Array(items)) => items
            .iter()
            .enumerate()
            .map(|(i, v)| parse_config(ctx, v, i))
            .collect::<Result<Vec<_>, _>>()
            .map(Some),
        Some(_) => Err(OciError::invalid(
            "instanceReservationConfigs must be an array.",
        )),
    }
}

/// How a refused charge is answered: the error, and whether it fails the request itself.
fn denied_error(ctx: &Ctx<'_>, denied: CapacityDenied, shape: &str, ad: &str) -> (OciError, bool) {
    match denied {
        CapacityDenied::Stockout { .. } => (
            OciError::new(
                ctx.opts.stockout_status,
                &ctx.opts.stockout_code,
                ctx.opts.stockout_message.clone(),
            ),
            ctx.opts.stockout_sync,
        ),
        CapacityDenied::Quota {
            metric,
            limit,
            used,
            needed,
        } => (
            OciError::new(
                StatusCode::BAD_REQUEST,
                &ctx.opts.quota_code,
                format!(
                    "The following service limits were exceeded: {metric} in availability domain {ad} (limit {limit}, \
                     used {used}, requested {needed}). Request a service limit increase from the service limits page \
                     in the console."
                ),
            ),
            true,
        ),
        CapacityDenied::NotOffered => (
            OciError::invalid(format!(
                "Shape {shape} is not available in availability domain {ad}."
            )),
            true,
        ),
    }
}

/// Takes `wanted - held` per shape from the world, all or nothing.
fn charge(
    ctx: &Ctx<'_>,
    ad: &str,
    held: &BTreeMap<String, u32>,
    configs: &[Config],
) -> Result<(), (OciError, bool)> {
    let wanted = &per_shape(configs);
    let world = &ctx.app.world;
    let region = &ctx.region.name;
    let mut taken: Vec<(String, u32)> = Vec::new();
    for (shape, n) in wanted {
        let more = n.saturating_sub(held.get(shape).copied().unwrap_or(0));
        if more == 0 {
            continue;
        }
        let ocpus = u64::from(ocpus_each(configs, shape));
        if let Err(d) =
            world.try_consume_vcpus(CLOUD, region, ad, shape, more, ocpus * u64::from(more))
        {
            for (s, m) in taken {
                world.release(CLOUD, region, ad, &s, m);
            }
            return Err(denied_error(ctx, d, shape, ad));
        }
        taken.push((shape.clone(), more));
    }
    Ok(())
}

/// The OCPUs one instance of `shape` counts against its core limit: the largest
/// `instanceShapeConfig.ocpus` of the configs for it (rounded up), else the shape's own.
fn ocpus_each(configs: &[Config], shape: &str) -> u32 {
    configs
        .iter()
        .filter(|c| c.instance_shape == shape)
        .filter_map(|c| c.instance_shape_config.as_ref()?.get("ocpus")?.as_f64())
        .map(|o| o.ceil() as u32)
        .max()
        .unwrap_or_else(|| crate::quota::quota_shape(CLOUD, shape).vcpus)
}

fn audit_shape(configs: &[Config]) -> (String, u32) {
    let shapes: Vec<String> = per_shape(configs).keys().cloned().collect();
    let count: u64 = configs.iter().map(|c| u64::from(c.reserved_count)).sum();
    (shapes.join(","), u32::try_from(count).unwrap_or(u32::MAX))
}

fn string_tags(m: &Map<String, Value>) -> BTreeMap<String, String> {
    m.iter()
        .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned()))
        .collect()
}

fn lro_due(ctx: &Ctx<'_>) -> (Timestamp, bool) {
    let lro = ctx.app.world.lro_duration(CLOUD);
    (
        ctx.now + jiff::SignedDuration::try_from(lro).unwrap_or_default(),
        lro.is_zero(),
    )
}

fn new_work_request(
    ctx: &Ctx<'_>,
    kind: WorkKind,
    r: &Reservation,
    at: Timestamp,
    error: Option<(String, String)>,
) -> WorkRequest {
    WorkRequest {
        id: format!(
            "ocid1.coreservicesworkrequest.oc1.{}.{}",
            ctx.region.key.to_ascii_lowercase(),
            random_token(60).to_ascii_lowercase()
        ),
        kind,
        compartment_id: r.compartment_id.clone(),
        resource_id: r.id.clone(),
        accepted: ctx.now,
        at,
        error,
    }
}

fn set_header(r: &mut Response, name: &'static str, value: &str) {
    if let Ok(v) = HeaderValue::from_str(value) {
        r.headers_mut().insert(name, v);
    }
}

/// The full reservation JSON with its used counts.
fn full_json(ctx: &Ctx<'_>, r: &Reservation) -> Value {
    let used = super::instances::used_per_config(&ctx.app.oci.instances(), r);
    super::instances::with_usage(r.to_json(), &used)
}

fn reservation_response(ctx: &Ctx<'_>, r: &Reservation, work_request: Option<&str>) -> Response {
    let mut resp = json_response(StatusCode::OK, &full_json(ctx, r));
    set_header(&mut resp, "etag", &r.etag);
    set_header(
        &mut resp,
        "location",
        &format!("{}/20160918/computeCapacityReservations/{}", ctx.base, r.id),
    );
    if let Some(w) = work_request {
        set_header(&mut resp, "opc-work-request-id", w);
    }
    resp
}

/// Hash of a create request for retry-token comparison: the parsed JSON (keys sorted) plus
/// the region, so the same token in another region is a different request.
fn request_hash(ctx: &Ctx<'_>, obj: &Map<String, Value>) -> String {
    let canonical = Value::Object(obj.clone()).to_string();
    hex::encode(Sha256::digest(format!("{}\n{canonical}", ctx.region.name)))
}

/// OCI's limit on `opc-retry-token`.
const MAX_RETRY_TOKEN_LEN: usize = 64;

/// The service-limit names a config counts against and how much it uses of each, as OCI
/// counts them: OCPUs and memory for Flex shapes, instances for the others.
pub(super) fn limit_usage(config: &Config) -> Vec<(String, u64)> {
    let n = u64::from(config.reserved_count);
    let shape = config.instance_shape.to_ascii_lowercase();
    match shape.strip_suffix(".flex") {
        Some(base) => {
            let family = base
                .strip_prefix("vm.")
                .or_else(|| base.strip_prefix("bm."))
                .unwrap_or(base)
                .replace('.', "-");
            let per = |key: &str| {
                config
                    .instance_shape_config
                    .as_ref()
                    .and_then(|c| c.get(key))
                    .and_then(Value::as_f64)
                    .unwrap_or(1.0)
            };
            // Whole units, rounded up: half an OCPU still takes one from the limit.
            let total = |per: f64| (per * n as f64).ceil() as u64;
            vec![
                (format!("{family}-core-count"), total(per("ocpus"))),
                (format!("{family}-memory-count"), total(per("memoryInGBs"))),
            ]
        }
        None => vec![(format!("{}-count", shape.replace('.', "-")), n)],
    }
}

/// Refuses a create that would take a service limit of `limits` past its value in `ad`
/// (`400 LimitExceeded`, naming the limit and the availability domain).
fn check_limits(
    ctx: &Ctx<'_>,
    inner: &Inner,
    ad: &str,
    configs: &[Config],
) -> Result<(), OciError> {
    if ctx.opts.limits.is_empty() {
        return Ok(());
    }
    let mut used: BTreeMap<String, u64> = BTreeMap::new();
    for r in inner.reservations.values().filter(|r| {
        r.region == ctx.region.name
            && r.availability_domain == ad
            && !matches!(r.lifecycle, Lifecycle::Deleted)
    }) {
        for c in &r.configs {
            for (name, n) in limit_usage(c) {
                *used.entry(name).or_default() += n;
            }
        }
    }
    let mut wanted: BTreeMap<String, u64> = BTreeMap::new();
    for c in configs {
        for (name, n) in limit_usage(c) {
            *wanted.entry(name).or_default() += n;
        }
    }
    for (name, n) in wanted {
        let Some(limit) = ctx.opts.limits.get(&name) else {
            continue;
        };
        let have = used.get(&name).copied().unwrap_or(0);
        if have + n > *limit {
            return Err(OciError::new(
                StatusCode::BAD_REQUEST,
                &ctx.opts.quota_code,
                format!(
                    "The following service limits were exceeded: {name} in availability domain {ad} (limit {limit}, \
                     used {have}, requested {n}). Request a service limit increase from the service limits page in the console."
                ),
            ));
        }
    }
    Ok(())
}

/// `POST /20160918/computeCapacityReservations`.
pub(super) fn create(ctx: &Ctx<'_>, body: &[u8]) -> Result<Response, OciError> {
    let obj = parse_body(body)?;
    let hash = request_hash(ctx, &obj);
    let token = ctx.header("opc-retry-token").map(str::to_owned);
    if let Some(t) = &token
        && t.len() > MAX_RETRY_TOKEN_LEN
    {
        return Err(OciError::invalid(format!(
            "The opc-retry-token must be at most {MAX_RETRY_TOKEN_LEN} characters long (it has {}).",
            t.len()
        )));
    }
    let mut inner = ctx.app.oci.lock();
    if let Some(t) = &token
        && let Some((h, id)) = inner.retry_tokens.get(t)
    {
        if *h != hash {
            return Err(OciError::new(
                StatusCode::CONFLICT,
                "InvalidatedRetryToken",
                format!("The retry token {t} was already used for a different request."),
            ));
        }
        // The token's reservation has since been deleted: OCI does not hand it back.
        let Some(r) = inner
            .reservations
            .get(id)
            .filter(|r| !matches!(r.lifecycle, Lifecycle::Deleted | Lifecycle::Deleting))
        else {
            return Err(OciError::new(
                StatusCode::CONFLICT,
                "InvalidatedRetryToken",
                format!(
                    "The retry token {t} was used for a capacity reservation that has since been deleted; use a new token."
                ),
            ));
        };
        return Ok(reservation_response(ctx, r, r.work_request_id.as_deref()));
    }
    let Some(compartment) = opt_string(&obj, "compartmentId")? else {
        return Err(OciError::missing("compartmentId"));
    };
    if !known_compartment(ctx, &compartment) {
        return Err(OciError::not_found());
    }
    let Some(ad_raw) = opt_string(&obj, "availabilityDomain")? else {
        return Err(OciError::missing("availabilityDomain"));
    };
    let Some(ad) = ctx
        .region
        .zones
        .iter()
        .find(|z| z.eq_ignore_ascii_case(&ad_raw))
        .cloned()
    else {
        return Err(OciError::invalid(format!(
            "Invalid availabilityDomain {ad_raw}: it is not an availability domain of region {}.",
            ctx.region.name
        )));
    };
    let configs = parse_configs(ctx, &obj)?.unwrap_or_default();
    let freeform = freeform_tags(&obj)?.unwrap_or_default();
    let defined = defined_tags(&obj)?.unwrap_or_default();
    let is_default = obj
        .get("isDefaultReservation")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let display_name = opt_string(&obj, "displayName")?.unwrap_or_else(|| {
        format!(
            "computecapacityreservation{}",
            ctx.now.strftime("%Y%m%d%H%M%S")
        )
    });

    check_limits(ctx, &inner, &ad, &configs)?;
    let wanted = per_shape(&configs);
    let mut error: Option<(String, String)> = None;
    let mut held = BTreeMap::new();
    if ctx.fault == Some(FaultKind::FailedLro) {
        error = Some((
            "InternalError".to_owned(),
            "Internal error occurred".to_owned(),
        ));
    } else {
        match charge(ctx, &ad, &BTreeMap::new(), &configs) {
            Ok(()) => held = wanted.clone(),
            Err((e, true)) => return Err(e),
            Err((e, false)) => error = Some((e.code, e.message)),
        }
    }
    let (at, immediate) = lro_due(ctx);
    let immediate = immediate && error.is_none();
    let id = format!(
        "ocid1.capacityreservation.oc1.{}.aaaaaaaa{}",
        ctx.region.key.to_ascii_lowercase(),
        random_token(52).to_ascii_lowercase()
    );
    let mut r = Reservation {
        id: id.clone(),
        region: ctx.region.name.clone(),
        compartment_id: compartment,
        availability_domain: ad.clone(),
        display_name: display_name.clone(),
        freeform_tags: freeform,
        defined_tags: defined,
        is_default,
        configs,
        lifecycle: if immediate {
            Lifecycle::Active
        } else {
            Lifecycle::Creating
        },
        time_created: ctx.now,
        time_updated: ctx.now,
        etag: new_etag(),
        held,
        pending: (!immediate).then(|| Pending {
            at,
            kind: WorkKind::Create,
            new_configs: None,
            error: error.clone(),
        }),
        work_request_id: None,
    };
    let wr = new_work_request(
        ctx,
        WorkKind::Create,
        &r,
        if immediate { ctx.now } else { at },
        error,
    );
    r.work_request_id = Some(wr.id.clone());
    let (shapes, count) = audit_shape(&r.configs);
    ctx.app.world.upsert_reservation(AuditRecord {
        cloud: CLOUD,
        id: id.clone(),
        name: display_name,
        region: ctx.region.name.clone(),
        zone: ad,
        instance_type: shapes,
        count,
        state: if immediate {
            AuditState::Active
        } else {
            AuditState::Pending
        },
        tags: string_tags(&r.freeform_tags),
        created_at: ctx.now,
        ended_at: None,
        used: 0,
    });
    let resp = reservation_response(ctx, &r, Some(&wr.id));
    if let Some(t) = token {
        inner.retry_tokens.insert(t, (hash, id.clone()));
    }
    inner.work_requests.insert(wr.id.clone(), wr);
    inner.reservations.insert(id, r);
    Ok(resp)
}

/// Finds a reservation of the addressed region (others are "not found", as in OCI).
fn find<'a>(
    ctx: &Ctx<'_>,
    inner: &'a mut Inner,
    id: &str,
) -> Result<&'a mut Reservation, OciError> {
    inner
        .reservations
        .get_mut(id)
        .filter(|r| r.region == ctx.region.name)
        .ok_or_else(OciError::not_found)
}

fn check_if_match(ctx: &Ctx<'_>, r: &Reservation) -> Result<(), OciError> {
    match ctx.header("if-match") {
        Some(tag) if tag != r.etag => Err(OciError::new(
            StatusCode::PRECONDITION_FAILED,
            "NoEtagMatch",
            format!("The if-match value '{tag}' does not match the current etag of the resource."),
        )),
        _ => Ok(()),
    }
}

fn incorrect_state(r: &Reservation, action: &str) -> OciError {
    OciError::new(
        StatusCode::CONFLICT,
        "IncorrectState",
        format!(
            "Capacity reservation {} is {}; it cannot be {action} in this state.",
            r.id,
            r.lifecycle.as_str()
        ),
    )
}

/// `GET /20160918/computeCapacityReservations/{id}`.
pub(super) fn get(ctx: &Ctx<'_>, id: &str) -> Result<Response, OciError> {
    let mut inner = ctx.app.oci.lock();
    let r = find(ctx, &mut inner, id)?;
    let mut resp = json_response(StatusCode::OK, &full_json(ctx, r));
    set_header(&mut resp, "etag", &r.etag);
    Ok(resp)
}

/// `GET /20160918/computeCapacityReservations?compartmentId=...`.
pub(super) fn list(ctx: &Ctx<'_>) -> Result<Response, OciError> {
    let Some(compartment) = ctx.param("compartmentId") else {
        return Err(OciError::missing("compartmentId"));
    };
    let ad = ctx.param("availabilityDomain");
    let state = match ctx.param("lifecycleState") {
        None => None,
        Some(s) => Some(
            Lifecycle::parse(s)
                .ok_or_else(|| OciError::invalid(format!("Invalid lifecycleState {s}.")))?,
        ),
    };
    let display_name = ctx.param("displayName");
    let sort_by = ctx.param("sortBy").unwrap_or("TIMECREATED");
    if !["TIMECREATED", "DISPLAYNAME"].contains(&sort_by) {
        return Err(OciError::invalid(format!("Invalid sortBy {sort_by}.")));
    }
    let default_order = if sort_by == "TIMECREATED" {
        "DESC"
    } else {
        "ASC"
    };
    let sort_order = ctx.param("sortOrder").unwrap_or(default_order);
    if !["ASC", "DESC"].contains(&sort_order) {
        return Err(OciError::invalid(format!(
            "Invalid sortOrder {sort_order}."
        )));
    }
    let inner = ctx.app.oci.lock();
    let mut items: Vec<&Reservation> = inner
        .reservations
        .values()
        .filter(|r| r.region == ctx.region.name && r.compartment_id == compartment)
        .filter(|r| ad.is_none_or(|a| r.availability_domain.eq_ignore_ascii_case(a)))
        .filter(|r| state.is_none_or(|s| r.lifecycle == s))
        .filter(|r| display_name.is_none_or(|n| r.display_name == n))
        .collect();
    items.sort_by(|a, b| {
        let ord = if sort_by == "DISPLAYNAME" {
            a.display_name.cmp(&b.display_name)
        } else {
            a.time_created.cmp(&b.time_created)
        }
        .then_with(|| a.id.cmp(&b.id));
        if sort_order == "DESC" {
            ord.reverse()
        } else {
            ord
        }
    });
    let items: Vec<Value> = items
        .iter()
        .map(|r| {
            if ctx.opts.minimal_summaries {
                r.minimal_summary_json()
            } else {
                let used = super::instances::used_per_config(&ctx.app.oci.instances(), r);
                super::instances::with_usage(r.summary_json(), &used)
            }
        })
        .collect();
    drop(inner);
    super::paged(ctx, items)
}

/// `PUT /20160918/computeCapacityReservations/{id}`.
pub(super) fn update(ctx: &Ctx<'_>, id: &str, body: &[u8]) -> Result<Response, OciError> {
    let obj = parse_body(body)?;
    let display_name = opt_string(&obj, "displayName")?;
    let freeform = freeform_tags(&obj)?;
    let defined = defined_tags(&obj)?;
    let is_default = obj.get("isDefaultReservation").and_then(Value::as_bool);
    let configs = parse_configs(ctx, &obj)?;
    let world = &ctx.app.world;
    let mut inner = ctx.app.oci.lock();
    let r = find(ctx, &mut inner, id)?;
    check_if_match(ctx, r)?;
    if r.lifecycle != Lifecycle::Active {
        return Err(incorrect_state(r, "updated"));
    }
    let mut error = None;
    if let Some(new) = &configs
        && *new != r.configs
    {
        if ctx.fault == Some(FaultKind::FailedLro) {
            error = Some((
                "InternalError".to_owned(),
                "Internal error occurred".to_owned(),
            ));
        } else {
            match charge(ctx, &r.availability_domain, &r.held, new) {
                Ok(()) => {
                    for (shape, n) in per_shape(new) {
                        let h = r.held.entry(shape).or_insert(0);
                        *h = (*h).max(n);
                    }
                }
                Err((e, true)) => return Err(e),
                Err((e, false)) => error = Some((e.code, e.message)),
            }
        }
    }
    if let Some(n) = display_name {
        r.display_name = n;
    }
    if let Some(t) = freeform {
        r.freeform_tags = t;
    }
    if let Some(t) = defined {
        r.defined_tags = t;
    }
    if let Some(d) = is_default {
        r.is_default = d;
    }
    r.etag = new_etag();
    r.time_updated = ctx.now;
    let tags = string_tags(&r.freeform_tags);
    let name = r.display_name.clone();
    world.update_reservation(CLOUD, &r.id, |a| {
        a.tags = tags;
        a.name = name;
    });
    let (at, immediate) = lro_due(ctx);
    let changes_configs = configs.as_ref().is_some_and(|c| *c != r.configs);
    let wr = new_work_request(
        ctx,
        WorkKind::Update,
        r,
        if changes_configs { at } else { ctx.now },
        error.clone(),
    );
    r.work_request_id = Some(wr.id.clone());
    if changes_configs {
        r.lifecycle = Lifecycle::Updating;
        r.pending = Some(Pending {
            at,
            kind: WorkKind::Update,
            new_configs: configs,
            error: error.clone(),
        });
    }
    let wr_id = wr.id.clone();
    inner.work_requests.insert(wr.id.clone(), wr);
    if changes_configs && immediate && error.is_none() {
        settle(&mut inner, world, ctx.now);
    }
    let mut resp = ctx.opts.update_status.into_response();
    set_header(&mut resp, "opc-work-request-id", &wr_id);
    Ok(resp)
}

/// `DELETE /20160918/computeCapacityReservations/{id}`.
pub(super) fn delete(ctx: &Ctx<'_>, id: &str) -> Result<Response, OciError> {
    let world = &ctx.app.world;
    let mut inner = ctx.app.oci.lock();
    let r = find(ctx, &mut inner, id)?;
    check_if_match(ctx, r)?;
    match r.lifecycle {
        Lifecycle::Deleted => return Err(OciError::not_found()),
        Lifecycle::Deleting => {
            let mut resp = ctx.opts.delete_status.into_response();
            if let Some(w) = &r.work_request_id {
                set_header(&mut resp, "opc-work-request-id", w);
            }
            return Ok(resp);
        }
        Lifecycle::Active => {}
        Lifecycle::Creating | Lifecycle::Updating | Lifecycle::Moving => {
            return Err(incorrect_state(r, "deleted"));
        }
    }
    // "To delete a capacity reservation, you must first terminate all the instances in the
    // capacity reservation or move the instances out of the capacity configuration."
    let running = ctx.app.world.instances_in(CLOUD, id);
    if !running.is_empty() {
        return Err(OciError::new(
            StatusCode::CONFLICT,
            "IncorrectState",
            format!(
                "Capacity reservation {id} has {} instance(s) in it; terminate them or move them out of the capacity configuration before deleting it.",
                running.len()
            ),
        ));
    }
    let error = (ctx.fault == Some(FaultKind::FailedLro)).then(|| {
        (
            "InternalError".to_owned(),
            "Internal error occurred".to_owned(),
        )
    });
    let (at, immediate) = lro_due(ctx);
    r.lifecycle = Lifecycle::Deleting;
    r.etag = new_etag();
    r.time_updated = ctx.now;
    r.pending = Some(Pending {
        at,
        kind: WorkKind::Delete,
        new_configs: None,
        error: error.clone(),
    });
    let wr = new_work_request(ctx, WorkKind::Delete, r, at, error.clone());
    r.work_request_id = Some(wr.id.clone());
    let wr_id = wr.id.clone();
    inner.work_requests.insert(wr.id.clone(), wr);
    if immediate && error.is_none() {
        settle(&mut inner, world, ctx.now);
    }
    let mut resp = ctx.opts.delete_status.into_response();
    set_header(&mut resp, "opc-work-request-id", &wr_id);
    Ok(resp)
}

/// `GET /20160918/computeCapacityReservations/{id}/instances`: the instances launched into
/// it.
pub(super) fn list_instances(ctx: &Ctx<'_>, id: &str) -> Result<Response, OciError> {
    let mut inner = ctx.app.oci.lock();
    find(ctx, &mut inner, id)?;
    Ok(json_response(
        StatusCode::OK,
        &json!(super::instances::in_reservation(ctx, id)),
    ))
}

/// `POST /20160918/computeCapacityReservations/{id}/actions/changeCompartment`.
pub(super) fn change_compartment(
    ctx: &Ctx<'_>,
    id: &str,
    body: &[u8],
) -> Result<Response, OciError> {
    let obj = parse_body(body)?;
    let Some(target) = opt_string(&obj, "compartmentId")? else {
        return Err(OciError::missing("compartmentId"));
    };
    if !known_compartment(ctx, &target) {
        return Err(OciError::not_found());
    }
    let mut inner = ctx.app.oci.lock();
    let r = find(ctx, &mut inner, id)?;
    check_if_match(ctx, r)?;
    if r.lifecycle != Lifecycle::Active {
        return Err(incorrect_state(r, "moved"));
    }
    r.compartment_id = target;
    r.etag = new_etag();
    r.time_updated = ctx.now;
    let wr = new_work_request(ctx, WorkKind::Update, r, ctx.now, None);
    let wr_id = wr.id.clone();
    inner.work_requests.insert(wr.id.clone(), wr);
    let mut resp = StatusCode::OK.into_response();
    set_header(&mut resp, "opc-work-request-id", &wr_id);
    Ok(resp)
}

/// `GET /20160918/workRequests/{id}`.
pub(super) fn get_work_request(ctx: &Ctx<'_>, id: &str) -> Result<Response, OciError> {
    let inner = ctx.app.oci.lock();
    let wr = inner
        .work_requests
        .get(id)
        .ok_or_else(OciError::not_found)?;
    Ok(json_response(
        StatusCode::OK,
        &wr.to_json(ctx.now, &ctx.base),
    ))
}

/// `GET /20160918/workRequests/{id}/errors`.
pub(super) fn list_work_request_errors(ctx: &Ctx<'_>, id: &str) -> Result<Response, OciError> {
    let inner = ctx.app.oci.lock();
    let wr = inner
        .work_requests
        .get(id)
        .ok_or_else(OciError::not_found)?;
    let items = match (&wr.error, ctx.now >= wr.at) {
        (Some((code, message)), true) => json!([{
            "code": code,
            "message": message,
            "timestamp": super::model::oci_time(wr.at),
        }]),
        _ => json!([]),
    };
    Ok(json_response(StatusCode::OK, &items))
}

/// Applies every lifecycle transition due at `now`.
pub(super) fn settle(inner: &mut Inner, world: &World, now: Timestamp) {
    for r in inner.reservations.values_mut() {
        let Some(p) = r.pending.as_ref().filter(|p| p.at <= now).cloned() else {
            continue;
        };
        r.pending = None;
        r.time_updated = p.at;
        r.etag = new_etag();
        let release = |r: &Reservation, shape: &str, n: u32| {
            if n > 0 {
                world.release(CLOUD, &r.region, &r.availability_domain, shape, n);
            }
        };
        match (p.kind, p.error.is_some()) {
            (WorkKind::Create, false) => {
                r.lifecycle = Lifecycle::Active;
                world.set_state(CLOUD, &r.id, AuditState::Active);
            }
            (WorkKind::Create, true) => {
                for (shape, n) in std::mem::take(&mut r.held) {
                    release(r, &shape, n);
                }
                r.lifecycle = Lifecycle::Deleted;
                world.set_state(CLOUD, &r.id, AuditState::Cancelled);
            }
            (WorkKind::Update, failed) => {
                let keep = if failed {
                    per_shape(&r.configs)
                } else {
                    per_shape(p.new_configs.as_deref().unwrap_or(&r.configs))
                };
                for (shape, h) in std::mem::take(&mut r.held) {
                    let k = keep.get(&shape).copied().unwrap_or(0);
                    release(r, &shape, h.saturating_sub(k));
                }
                r.held = keep;
                if !failed && let Some(new) = p.new_configs {
                    r.configs = new;
                    let (shapes, count) = audit_shape(&r.configs);
                    world.update_reservation(CLOUD, &r.id, |a| {
                        a.instance_type = shapes;
                        a.count = count;
                    });
                }
                r.lifecycle = Lifecycle::Active;
            }
            (WorkKind::Delete, false) => {
                for (shape, n) in std::mem::take(&mut r.held) {
                    release(r, &shape, n);
                }
                r.lifecycle = Lifecycle::Deleted;
                world.set_state(CLOUD, &r.id, AuditState::Cancelled);
            }
            (WorkKind::Delete, true) => r.lifecycle = Lifecycle::Active,
        }
    }
    // Work requests are kept an hour after they finish, like the reservations' DELETED state.
    inner
        .work_requests
        .retain(|_, w| w.at + jiff::SignedDuration::from_secs(3600) > now);
}
