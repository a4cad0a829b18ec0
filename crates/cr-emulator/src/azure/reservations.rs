//! Capacity reservations (create, resize, get, list, delete) as ARM long-running operations,
//! and the operation-status endpoints clients poll.
//!
//! A create takes capacity from the world when it is accepted; whether a refusal (stockout,
//! quota) fails the PUT itself or only its long-running operation is the `stockout` / `quota`
//! switch. The operation stays `InProgress` (and the resource `Creating`, `Updating` or
//! `Deleting`) for the scenario's `lro_ms`; [`super::State::sweep`] then applies the outcome
//! decided at acceptance. Even with `lro_ms: 0` every answer carries an operation to poll,
//! as ARM's do, unless `lro_always: false` (then a successful create or delete completes in
//! the first answer, without polling headers).

use std::collections::BTreeMap;

use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

use super::error::ArmError;
use super::groups::{group_members, lc, normalize_location, parse_object, parse_tags, parse_zones};
use super::model::{
    GROUP_TYPE, OpKind, Operation, Pending, Prov, ResKey, Reservation, reservation_id,
};
use super::{CLOUD, Ctx, LroHeaders, Report, json_response, settle};
use crate::scenario::FaultKind;
use crate::world::{AuditRecord, AuditState, CapacityDenied};

/// `Retry-After` seconds for a pending operation.
pub(super) fn retry_after(ctx: &Ctx<'_>, op: &Operation) -> u64 {
    if let Some(s) = ctx.opts.retry_after_s {
        return s.max(1);
    }
    let remaining = op.at.duration_since(ctx.now).as_millis().max(0);
    let secs = u64::try_from(remaining).unwrap_or(0).div_ceil(1000);
    secs.max(1)
}

fn status_url(ctx: &Ctx<'_>, location: &str, id: &str) -> String {
    format!(
        "{}/subscriptions/{}/providers/Microsoft.Compute/locations/{location}/operations/{id}?api-version={}",
        ctx.base, ctx.sub, ctx.api_version
    )
}

/// Adds the polling headers of `op` to a response, per the `lro_headers` switch.
pub(super) fn with_lro_headers(ctx: &Ctx<'_>, mut r: Response, op: &Operation) -> Response {
    let (async_op, location) = match (ctx.opts.lro_headers, op.kind) {
        (LroHeaders::Auto, OpKind::Put) => (true, false),
        (LroHeaders::Auto, OpKind::Delete) | (LroHeaders::Both, _) => (true, true),
        (LroHeaders::AsyncOperation, _) => (true, false),
        (LroHeaders::Location, _) => (false, true),
        (LroHeaders::None, _) => (false, false),
    };
    let url = status_url(ctx, &op.location, &op.id);
    let h = r.headers_mut();
    if async_op && let Ok(v) = HeaderValue::from_str(&url) {
        h.insert("azure-asyncoperation", v);
    }
    if location && let Ok(v) = HeaderValue::from_str(&format!("{url}&monitor=true")) {
        h.insert(axum::http::header::LOCATION, v);
    }
    if let Ok(v) = HeaderValue::from_str(&retry_after(ctx, op).to_string()) {
        h.insert(axum::http::header::RETRY_AFTER, v);
    }
    r
}

/// A `202 Accepted` carrying only `Location` (the `monitor=true` status URL of `op`) and
/// `Retry-After`, without a body: how ARM answers a reservation PATCH and an asynchronous
/// group delete.
pub(super) fn location_accepted(ctx: &Ctx<'_>, op: &Operation) -> Response {
    let mut r = StatusCode::ACCEPTED.into_response();
    let url = format!("{}&monitor=true", status_url(ctx, &op.location, &op.id));
    if let Ok(v) = HeaderValue::from_str(&url) {
        r.headers_mut().insert(axum::http::header::LOCATION, v);
    }
    if let Ok(v) = HeaderValue::from_str(&retry_after(ctx, op).to_string()) {
        r.headers_mut().insert(axum::http::header::RETRY_AFTER, v);
    }
    r
}

fn stockout_error(zone: Option<&str>) -> ArmError {
    match zone {
        Some(_) => ArmError::new(
            StatusCode::CONFLICT,
            "ZonalAllocationFailed",
            "Allocation failed. We do not have sufficient capacity for the requested VM size in this zone. \
             Read more about improving likelihood of allocation success at http://aka.ms/allocation-guidance",
        ),
        None => ArmError::new(
            StatusCode::CONFLICT,
            "AllocationFailed",
            "Allocation failed. We do not have sufficient capacity for the requested VM size in this region. \
             Read more about improving likelihood of allocation success at http://aka.ms/allocation-guidance",
        ),
    }
}

/// A refused quota, as [`CapacityDenied::Quota`] says it.
struct QuotaRefusal {
    metric: String,
    limit: u64,
    used: u64,
    needed: u64,
}

fn quota_error(ctx: &Ctx<'_>, sku: &str, location: &str, denied: &QuotaRefusal) -> ArmError {
    let QuotaRefusal {
        metric,
        limit,
        used,
        needed,
    } = denied;
    // The regional total is "Total Regional Cores"; a family's quota names the family.
    let which = if metric == "cores" {
        "Total Regional Cores quota".to_owned()
    } else {
        format!("{metric} Cores quota (VM size {sku})")
    };
    let message = format!(
        "Operation could not be completed as it results in exceeding approved {which}. Additional details - \
         Deployment Model: Resource Manager, Location: {location}, Current Limit: {limit}, Current Usage: {used}, \
         Additional Required: {needed}, (Minimum) New Limit Required: {}. Submit a request for Quota increase at \
         https://aka.ms/ProdportalCRP/#blade/Microsoft_Azure_Capacity/UsageAndQuota.ReactView by specifying \
         parameters listed in the 'Details' section for deployment to succeed.",
        used + needed
    );
    let mut e = ArmError::new(StatusCode::CONFLICT, &ctx.opts.quota_code, message.clone());
    if e.code != "QuotaExceeded" {
        e = e.with_detail("QuotaExceeded", message);
    }
    e
}

fn not_offered_error(ctx: &Ctx<'_>, sku: &str, location: &str, zone: Option<&str>) -> ArmError {
    ArmError::new(
        StatusCode::CONFLICT,
        "SkuNotAvailable",
        format!(
            "The requested VM size for resource 'Following SKUs have failed for Capacity Restrictions: {sku}' is \
             currently not available in location '{location}'{} for subscription '{}'. Please try another size or \
             deploy to a different location or zones. See https://aka.ms/azureskunotavailable for details.",
            zone.map(|z| format!(" zones '{z}'")).unwrap_or_default(),
            ctx.app.creds.azure.subscription_id
        ),
    )
}

/// What the body of a reservation PUT/PATCH asks for.
struct Ask {
    location: Option<String>,
    sku_name: Option<String>,
    sku_tier: Option<String>,
    capacity: Option<u32>,
    zones: Option<Vec<String>>,
    tags: Option<Map<String, Value>>,
    schedule_profile: Option<Value>,
}

fn parse_ask(obj: &Map<String, Value>) -> Result<Ask, ArmError> {
    let sku = match obj.get("sku") {
        None | Some(Value::Null) => None,
        Some(Value::Object(s)) => Some(s),
        Some(_) => return Err(ArmError::invalid_content("'sku' must be an object")),
    };
    let sku_name = match sku.and_then(|s| s.get("name")) {
        None | Some(Value::Null) => None,
        Some(Value::String(n)) => Some(n.clone()),
        Some(_) => return Err(ArmError::invalid_content("'sku.name' must be a string")),
    };
    let capacity = match sku.and_then(|s| s.get("capacity")) {
        None | Some(Value::Null) => None,
        Some(v) => match v.as_i64() {
            Some(n) if n < 0 => {
                return Err(ArmError::invalid_parameter(
                    "sku.capacity",
                    format!(
                        "The value {n} of parameter 'sku.capacity' is out of range. The value must be between 0 and 2147483647."
                    ),
                ));
            }
            Some(n) => Some(u32::try_from(n).map_err(|_| {
                ArmError::invalid_parameter(
                    "sku.capacity",
                    "The value of parameter 'sku.capacity' is out of range.",
                )
            })?),
            None => {
                return Err(ArmError::invalid_content(
                    "'sku.capacity' must be an integer",
                ));
            }
        },
    };
    let sku_tier = sku
        .and_then(|s| s.get("tier"))
        .and_then(Value::as_str)
        .map(str::to_owned);
    let zones = if obj.contains_key("zones") {
        Some(parse_zones(obj.get("zones"))?)
    } else {
        None
    };
    let tags = if obj.contains_key("tags") {
        Some(parse_tags(obj.get("tags"))?)
    } else {
        None
    };
    Ok(Ask {
        location: obj
            .get("location")
            .and_then(Value::as_str)
            .map(str::to_owned),
        sku_name,
        sku_tier,
        capacity,
        zones,
        tags,
        schedule_profile: obj
            .get("properties")
            .and_then(|p| p.get("scheduleProfile"))
            .filter(|v| !v.is_null())
            .cloned(),
    })
}

fn string_tags(tags: &Map<String, Value>) -> BTreeMap<String, String> {
    tags.iter()
        .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned()))
        .collect()
}

fn lro_due(ctx: &Ctx<'_>) -> (jiff::Timestamp, bool) {
    let lro = ctx.app.world.lro_duration(CLOUD);
    let immediate = lro.is_zero() && !ctx.opts.lro_always;
    (
        ctx.now + jiff::SignedDuration::try_from(lro).unwrap_or_default(),
        immediate,
    )
}

fn new_op(
    ctx: &Ctx<'_>,
    location: &str,
    kind: OpKind,
    key: &ResKey,
    at: jiff::Timestamp,
    error: Option<ArmError>,
) -> Operation {
    Operation {
        id: uuid::Uuid::new_v4().to_string(),
        location: location.to_owned(),
        kind,
        key: Some(key.clone()),
        started: ctx.now,
        at,
        error,
    }
}

/// `PUT` (create, re-create after failure, resize, retag) and `PATCH` (resize, retag).
pub(super) fn put(
    ctx: &Ctx<'_>,
    rg: &str,
    group: &str,
    name: &str,
    body: &[u8],
    patch: bool,
) -> Result<Response, ArmError> {
    let obj = parse_object(body)?;
    let ask = parse_ask(&obj)?;
    let world = &ctx.app.world;
    let key: ResKey = (lc(rg), lc(group), lc(name));
    let gkey = (key.0.clone(), key.1.clone());
    let mut inner = ctx.app.azure.lock();
    if !inner.rgs.contains_key(&key.0) {
        return Err(ArmError::resource_group_not_found(rg));
    }
    let Some(grp) = inner.groups.get(&gkey).cloned() else {
        return Err(ArmError::parent_not_found(group));
    };
    let failed_lro = ctx.fault == Some(FaultKind::FailedLro);
    let (at, immediate) = lro_due(ctx);

    if let Some(existing) = inner.reservations.get(&key).cloned()
        && (existing.state != Prov::Failed || patch)
    {
        // Update of a reservation that exists (or a repeated create while it is pending).
        if let Some(n) = &ask.sku_name
            && !n.eq_ignore_ascii_case(&existing.sku_name)
        {
            return Err(ArmError::property_change("sku.name"));
        }
        if let Some(z) = &ask.zones
            && z.first() != existing.zone.as_ref()
        {
            return Err(ArmError::property_change("zones"));
        }
        if let Some(l) = &ask.location
            && normalize_location(l) != existing.location
        {
            return Err(ArmError::property_change("location"));
        }
        if !patch && ask.sku_name.is_none() {
            return Err(ArmError::invalid_parameter(
                "sku",
                "Required parameter 'sku' is missing (null).",
            ));
        }
        let new_capacity = ask.capacity.unwrap_or(existing.capacity);
        if existing.state.is_transitional() {
            // A client repeating the request that started the operation gets that operation.
            let same = existing.state == Prov::Creating && new_capacity == existing.capacity;
            if same && let Some(op) = existing.op_id.as_ref().and_then(|id| inner.ops.get(id)) {
                let r = json_response(StatusCode::OK, &existing.to_json(false));
                return Ok(with_lro_headers(ctx, r, op));
            }
            return Err(ArmError::operation_in_progress(&existing.id));
        }
        let r = inner.reservations.get_mut(&key).expect("present above");
        if let Some(tags) = ask.tags.clone() {
            r.tags = tags;
        } else if !patch {
            r.tags = Map::new();
        }
        world.update_reservation(CLOUD, &r.id, |a| a.tags = string_tags(&r.tags));
        if new_capacity == r.capacity {
            return Ok(json_response(StatusCode::OK, &r.to_json(false)));
        }
        let mut error = None;
        if failed_lro {
            error = Some(ArmError::internal_execution());
        } else if new_capacity > r.held {
            let more = new_capacity - r.held;
            match world.try_consume(CLOUD, &r.location, r.pool_zone(), &r.sku_name, more) {
                Ok(()) => r.held += more,
                Err(denied) => {
                    let (e, mode) =
                        denied_error(ctx, denied, &r.sku_name, &r.location, r.zone.as_deref());
                    if mode == Report::Sync {
                        return Err(e);
                    }
                    error = Some(e);
                }
            }
        }
        r.state = Prov::Updating;
        r.pending = Some(Pending::Update {
            at,
            capacity: new_capacity,
            error: error.clone(),
        });
        let op = new_op(ctx, &r.location, OpKind::Put, &key, at, error.clone());
        r.op_id = Some(op.id.clone());
        if immediate && error.is_none() {
            settle(&mut inner, world, ctx.now);
            let r = &inner.reservations[&key];
            return Ok(json_response(StatusCode::OK, &r.to_json(false)));
        }
        let resp = if patch {
            location_accepted(ctx, &op)
        } else {
            let body = inner.reservations[&key].to_json(false);
            with_lro_headers(ctx, json_response(StatusCode::OK, &body), &op)
        };
        inner.ops.insert(op.id.clone(), op);
        return Ok(resp);
    }

    // Create (or re-create after a failed create).
    if patch {
        return Err(ArmError::resource_not_found(
            GROUP_TYPE,
            &format!("{group}/capacityReservations/{name}"),
            rg,
        ));
    }
    let Some(raw_location) = ask.location.as_deref().filter(|l| !l.is_empty()) else {
        return Err(ArmError::new(
            StatusCode::BAD_REQUEST,
            "LocationRequired",
            "The location property is required for this definition.",
        ));
    };
    if normalize_location(raw_location) != grp.location {
        return Err(ArmError::invalid_parameter(
            "location",
            format!(
                "The location '{raw_location}' of the capacity reservation does not match the location '{}' of its capacity reservation group.",
                grp.location
            ),
        ));
    }
    let Some(sku_name) = ask.sku_name.clone() else {
        return Err(ArmError::invalid_parameter(
            "sku.name",
            "Required parameter 'sku.name' is missing (null).",
        ));
    };
    let Some(capacity) = ask.capacity else {
        return Err(ArmError::invalid_parameter(
            "sku.capacity",
            "Required parameter 'sku.capacity' is missing (null).",
        ));
    };
    let zones = ask.zones.clone().unwrap_or_default();
    if zones.len() > 1 {
        return Err(ArmError::invalid_parameter(
            "zones",
            "A capacity reservation can be in at most one availability zone.",
        ));
    }
    let zone = zones.first().cloned();
    match (&zone, grp.zones.is_empty()) {
        (Some(z), false) if !grp.zones.contains(z) => {
            return Err(ArmError::invalid_parameter(
                "zones",
                format!(
                    "The zone '{z}' is not one of the zones '{}' of capacity reservation group '{}'.",
                    grp.zones.join(","),
                    grp.name
                ),
            ));
        }
        (None, false) => {
            return Err(ArmError::invalid_parameter(
                "zones",
                format!(
                    "Capacity reservation group '{}' is zonal; the capacity reservation must name one of its zones '{}'.",
                    grp.name,
                    grp.zones.join(",")
                ),
            ));
        }
        (Some(_), true) => {
            return Err(ArmError::invalid_parameter(
                "zones",
                format!(
                    "Capacity reservation group '{}' is regional; a capacity reservation in it cannot name a zone.",
                    grp.name
                ),
            ));
        }
        _ => {}
    }
    // A group holds at most one reservation per VM size (per zone of a zonal group).
    if let Some(twin) = group_members(&inner.reservations, &gkey)
        .into_iter()
        .find(|r| {
            !r.name.eq_ignore_ascii_case(name)
                && r.sku_name.eq_ignore_ascii_case(&sku_name)
                && r.zone == zone
        })
    {
        return Err(ArmError::new(
            StatusCode::CONFLICT,
            "CapacityReservationAlreadyExistsForSku",
            format!(
                "Capacity reservation group '{}' already has capacity reservation '{}' for VM size '{sku_name}'{}; \
                 a group holds at most one capacity reservation per VM size{}.",
                grp.name,
                twin.name,
                zone.as_deref()
                    .map(|z| format!(" in zone '{z}'"))
                    .unwrap_or_default(),
                if zone.is_some() { " per zone" } else { "" },
            ),
        ));
    }
    let pool_zone = zone.clone().unwrap_or_default();
    if !world.offered(CLOUD, &grp.location, &pool_zone, &sku_name) {
        return Err(not_offered_error(
            ctx,
            &sku_name,
            &grp.location,
            zone.as_deref(),
        ));
    }
    let mut error = None;
    let mut held = 0;
    if failed_lro {
        error = Some(ArmError::internal_execution());
    } else {
        match world.try_consume(CLOUD, &grp.location, &pool_zone, &sku_name, capacity) {
            Ok(()) => held = capacity,
            Err(denied) => {
                let (e, mode) =
                    denied_error(ctx, denied, &sku_name, &grp.location, zone.as_deref());
                if mode == Report::Sync {
                    return Err(e);
                }
                error = Some(e);
            }
        }
    }
    let previous = inner.reservations.remove(&key);
    let id = previous.as_ref().map_or_else(
        || {
            reservation_id(
                &ctx.app.creds.azure.subscription_id,
                &grp.rg,
                &grp.name,
                name,
            )
        },
        |p| p.id.clone(),
    );
    let reservation = Reservation {
        id: id.clone(),
        group: grp.name.clone(),
        name: previous
            .as_ref()
            .map_or_else(|| name.to_owned(), |p| p.name.clone()),
        location: grp.location.clone(),
        sku_name: sku_name.clone(),
        sku_tier: ask.sku_tier.clone(),
        capacity,
        zone: zone.clone(),
        tags: ask.tags.clone().unwrap_or_default(),
        reservation_id: previous.as_ref().map_or_else(
            || uuid::Uuid::new_v4().to_string(),
            |p| p.reservation_id.clone(),
        ),
        time_created: ctx.now,
        provisioning_time: ctx.now,
        schedule_profile: ask.schedule_profile.clone(),
        state: Prov::Creating,
        held,
        pending: Some(Pending::Create {
            at,
            error: error.clone(),
        }),
        op_id: None,
    };
    world.upsert_reservation(AuditRecord {
        cloud: CLOUD,
        id: id.clone(),
        name: reservation.name.clone(),
        region: grp.location.clone(),
        zone: pool_zone,
        instance_type: sku_name,
        count: capacity,
        state: AuditState::Pending,
        tags: string_tags(&reservation.tags),
        created_at: ctx.now,
        ended_at: None,
        used: 0,
    });
    let op = new_op(ctx, &grp.location, OpKind::Put, &key, at, error.clone());
    let mut reservation = reservation;
    reservation.op_id = Some(op.id.clone());
    inner.reservations.insert(key.clone(), reservation);
    if immediate && error.is_none() {
        settle(&mut inner, world, ctx.now);
        return Ok(json_response(
            StatusCode::CREATED,
            &inner.reservations[&key].to_json(false),
        ));
    }
    let body = inner.reservations[&key].to_json(false);
    let resp = with_lro_headers(ctx, json_response(StatusCode::CREATED, &body), &op);
    inner.ops.insert(op.id.clone(), op);
    Ok(resp)
}

/// Maps a capacity refusal to its ARM error and whether it is reported synchronously.
fn denied_error(
    ctx: &Ctx<'_>,
    denied: CapacityDenied,
    sku: &str,
    location: &str,
    zone: Option<&str>,
) -> (ArmError, Report) {
    match denied {
        CapacityDenied::Stockout { .. } => (stockout_error(zone), ctx.opts.stockout),
        CapacityDenied::Quota {
            metric,
            limit,
            used,
            needed,
        } => (
            quota_error(
                ctx,
                sku,
                location,
                &QuotaRefusal {
                    metric,
                    limit,
                    used,
                    needed,
                },
            ),
            ctx.opts.quota,
        ),
        CapacityDenied::NotOffered => (not_offered_error(ctx, sku, location, zone), Report::Sync),
    }
}

/// `GET` of one reservation.
pub(super) fn get(ctx: &Ctx<'_>, rg: &str, group: &str, name: &str) -> Result<Response, ArmError> {
    let inner = ctx.app.azure.lock();
    if !inner.rgs.contains_key(&lc(rg)) {
        return Err(ArmError::resource_group_not_found(rg));
    }
    let r = inner
        .reservations
        .get(&(lc(rg), lc(group), lc(name)))
        .ok_or_else(|| {
            ArmError::resource_not_found(
                GROUP_TYPE,
                &format!("{group}/capacityReservations/{name}"),
                rg,
            )
        })?;
    let key = (lc(rg), lc(group), lc(name));
    let vms = super::vms::allocated(&inner.vms, &key);
    Ok(json_response(
        StatusCode::OK,
        &super::vms::with_vms(r.to_json(ctx.expand_instance_view()), &vms),
    ))
}

/// `GET` of the reservations of a group.
pub(super) fn list(ctx: &Ctx<'_>, rg: &str, group: &str) -> Result<Response, ArmError> {
    let inner = ctx.app.azure.lock();
    if !inner.rgs.contains_key(&lc(rg)) {
        return Err(ArmError::resource_group_not_found(rg));
    }
    let gkey = (lc(rg), lc(group));
    if !inner.groups.contains_key(&gkey) {
        return Err(ArmError::resource_not_found(GROUP_TYPE, group, rg));
    }
    let items: Vec<Value> = group_members(&inner.reservations, &gkey)
        .iter()
        .map(|r| {
            let key = (gkey.0.clone(), gkey.1.clone(), lc(&r.name));
            super::vms::with_vms(r.to_json(false), &super::vms::allocated(&inner.vms, &key))
        })
        .collect();
    Ok(json_response(StatusCode::OK, &ctx.page(items)))
}

/// `DELETE` of a reservation: 204 when absent, 202 with polling headers while it goes away
/// (200 at once when operations are immediate).
pub(super) fn delete(
    ctx: &Ctx<'_>,
    rg: &str,
    group: &str,
    name: &str,
) -> Result<Response, ArmError> {
    let world = &ctx.app.world;
    let key: ResKey = (lc(rg), lc(group), lc(name));
    let mut inner = ctx.app.azure.lock();
    if !inner.rgs.contains_key(&key.0) {
        return Err(ArmError::resource_group_not_found(rg));
    }
    let Some(existing) = inner.reservations.get(&key).cloned() else {
        return Ok(StatusCode::NO_CONTENT.into_response());
    };
    match existing.state {
        Prov::Deleting => {
            if let Some(op) = existing.op_id.as_ref().and_then(|id| inner.ops.get(id)) {
                return Ok(with_lro_headers(
                    ctx,
                    StatusCode::ACCEPTED.into_response(),
                    op,
                ));
            }
            return Err(ArmError::operation_in_progress(&existing.id));
        }
        Prov::Creating | Prov::Updating => {
            return Err(ArmError::operation_in_progress(&existing.id));
        }
        Prov::Succeeded | Prov::Failed => {}
    }
    // "This operation is allowed only when all the associated resources are disassociated
    // from the capacity reservation."
    let associated = super::vms::allocated(&inner.vms, &key).len();
    if associated > 0 {
        return Err(ArmError::new(
            StatusCode::CONFLICT,
            "OperationNotAllowed",
            format!(
                "Capacity reservation '{}' has {associated} virtual machine(s) associated; disassociate or delete them before deleting it.",
                existing.id
            ),
        ));
    }
    let (at, immediate) = lro_due(ctx);
    let error = (ctx.fault == Some(FaultKind::FailedLro)).then(ArmError::internal_execution);
    let op = new_op(
        ctx,
        &existing.location,
        OpKind::Delete,
        &key,
        at,
        error.clone(),
    );
    {
        let r = inner.reservations.get_mut(&key).expect("present above");
        r.state = Prov::Deleting;
        r.pending = Some(Pending::Delete {
            at,
            error: error.clone(),
        });
        r.op_id = Some(op.id.clone());
    }
    if immediate && error.is_none() {
        settle(&mut inner, world, ctx.now);
        return Ok(StatusCode::OK.into_response());
    }
    let resp = with_lro_headers(ctx, StatusCode::ACCEPTED.into_response(), &op);
    inner.ops.insert(op.id.clone(), op);
    Ok(resp)
}

/// `GET .../locations/{loc}/operations/{id}`: the `Azure-AsyncOperation` status body, or with
/// `monitor=true` the `Location` protocol (202 while running, then the final answer).
pub(super) fn operation_status(
    ctx: &Ctx<'_>,
    _location: &str,
    id: &str,
) -> Result<Response, ArmError> {
    let inner = ctx.app.azure.lock();
    let Some(op) = inner.ops.get(id).cloned() else {
        return Err(ArmError::new(
            StatusCode::NOT_FOUND,
            "OperationNotFound",
            format!("The operation '{id}' could not be found."),
        ));
    };
    let monitor = ctx
        .param("monitor")
        .is_some_and(|v| v.eq_ignore_ascii_case("true"));
    if !monitor {
        return Ok(json_response(StatusCode::OK, &op.status_json(ctx.now)));
    }
    if !op.done(ctx.now) {
        let mut r = StatusCode::ACCEPTED.into_response();
        let url = format!("{}&monitor=true", status_url(ctx, &op.location, &op.id));
        if let Ok(v) = HeaderValue::from_str(&url) {
            r.headers_mut().insert(axum::http::header::LOCATION, v);
        }
        if let Ok(v) = HeaderValue::from_str(&retry_after(ctx, &op).to_string()) {
            r.headers_mut().insert(axum::http::header::RETRY_AFTER, v);
        }
        return Ok(r);
    }
    if let Some(e) = op.error {
        return Err(e);
    }
    match op.kind {
        OpKind::Delete => Ok(StatusCode::NO_CONTENT.into_response()),
        OpKind::Put => {
            let body = op
                .key
                .as_ref()
                .and_then(|k| inner.reservations.get(k))
                .map(|r| r.to_json(false))
                .unwrap_or_else(|| json!({}));
            Ok(json_response(StatusCode::OK, &body))
        }
    }
}

/// `GET /subscriptions/{sub}/operationresults/{id}` (resource-group delete).
pub(super) fn operation_result(ctx: &Ctx<'_>, id: &str) -> Result<Response, ArmError> {
    let inner = ctx.app.azure.lock();
    let Some(op) = inner.ops.get(id) else {
        return Err(ArmError::new(
            StatusCode::NOT_FOUND,
            "OperationNotFound",
            format!("The operation '{id}' could not be found."),
        ));
    };
    if op.done(ctx.now) {
        return Ok(StatusCode::OK.into_response());
    }
    let mut r = StatusCode::ACCEPTED.into_response();
    let url = format!(
        "{}/subscriptions/{}/operationresults/{id}?api-version={}",
        ctx.base, ctx.sub, ctx.api_version
    );
    if let Ok(v) = HeaderValue::from_str(&url) {
        r.headers_mut().insert(axum::http::header::LOCATION, v);
    }
    if let Ok(v) = HeaderValue::from_str(&retry_after(ctx, op).to_string()) {
        r.headers_mut().insert(axum::http::header::RETRY_AFTER, v);
    }
    Ok(r)
}
