//! Zonal reservations: insert (returns an Operation; capacity taken at once, the
//! reservation CREATING until the operation is DONE), get, list, delete and aggregated list,
//! with `requestId` idempotency, int64 fields as JSON strings on output (strings or numbers
//! accepted on input) and `deleteAtTime`/`deleteAfterDuration` expiry.

use std::collections::{BTreeMap, HashMap};

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use jiff::{SignedDuration, Timestamp};
use serde_json::{Map, Value, json};

use super::operations::{Op, OpError, OpKind};
use super::{CLOUD, Call, GceError, begin, gce_time, list_body, list_page, new_id};
use crate::scenario::FaultKind;
use crate::server::{AppState, BaseUrl};
use crate::world::{AuditRecord, AuditState, CapacityDenied, RegionInfo, World};

/// `Reservation.status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Status {
    Creating,
    Ready,
    Deleting,
}

/// One reservation.
#[derive(Debug, Clone)]
pub(super) struct Res {
    pub id: u64,
    pub name: String,
    pub zone: String,
    pub region: String,
    pub created: Timestamp,
    pub status: Status,
    pub machine_type: String,
    pub count: u32,
    pub instance_properties: Value,
    pub description: Option<String>,
    pub specific_required: bool,
    pub share_settings: Value,
    pub delete_at: Option<Timestamp>,
    pub delete_after: Option<Value>,
    /// False while an insert that will fail (stockout/quota reported by the operation) is
    /// pending: such a reservation never took capacity.
    pub holds_capacity: bool,
}

impl Res {
    /// Gives the capacity back and records how the reservation ended.
    pub fn release(self, world: &World, state: AuditState) {
        if self.holds_capacity {
            // VMs still consuming it keep running on demand, holding their share.
            let running = world.detach_reservation(CLOUD, &self.id.to_string());
            world.release(
                CLOUD,
                &self.region,
                &self.zone,
                &self.machine_type,
                self.count.saturating_sub(running),
            );
            world.set_state(CLOUD, &self.id.to_string(), state);
        }
    }

    fn render(&self, call: &Call, world: &World) -> Value {
        let in_use = world.reservation_used(CLOUD, &self.id.to_string());
        let mut v = json!({
            "kind": "compute#reservation",
            "id": self.id.to_string(),
            "creationTimestamp": gce_time(self.created),
            "selfLink": format!("{}/reservations/{}", call.zone_url(&self.zone), self.name),
            "zone": call.zone_url(&self.zone),
            "name": self.name,
            "specificReservation": {
                "instanceProperties": self.instance_properties,
                "count": self.count.to_string(),
                "inUseCount": in_use.to_string(),
                "assuredCount": self.count.to_string(),
            },
            "specificReservationRequired": self.specific_required,
            "status": match self.status {
                Status::Creating => "CREATING",
                Status::Ready => "READY",
                Status::Deleting => "DELETING",
            },
            "shareSettings": self.share_settings,
            "satisfiesPzs": false,
        });
        if let Some(d) = &self.description {
            v["description"] = json!(d);
        }
        if let Some(t) = self.delete_at {
            v["deleteAtTime"] = json!(gce_time(t));
        }
        if let Some(d) = &self.delete_after {
            v["deleteAfterDuration"] = d.clone();
        }
        v
    }
}

fn is_name(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= 63
        && b[0].is_ascii_lowercase()
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
        && b[b.len() - 1] != b'-'
}

/// An int64 given as a JSON string or number.
fn int64(v: &Value) -> Option<i64> {
    match v {
        Value::String(s) => s.parse().ok(),
        Value::Number(n) => n.as_i64(),
        _ => None,
    }
}

pub(super) fn required(field: &str) -> GceError {
    GceError::new(
        StatusCode::BAD_REQUEST,
        format!("Required field '{field}' not specified"),
        "required",
        "INVALID_ARGUMENT",
    )
}

fn invalid_value(field: &str, value: &Value, why: &str) -> GceError {
    let shown = value
        .as_str()
        .map_or_else(|| value.to_string(), str::to_owned);
    GceError::invalid(format!(
        "Invalid value for field '{field}': '{shown}'. {why}"
    ))
}

/// A validated insert body.
struct NewReservation {
    name: String,
    machine_type: String,
    count: u32,
    instance_properties: Value,
    description: Option<String>,
    specific_required: bool,
    share_settings: Value,
    delete_at: Option<Timestamp>,
    delete_after: Option<Value>,
}

fn parse_body(body: &[u8], zone: &str, now: Timestamp) -> Result<NewReservation, GceError> {
    let v: Value = serde_json::from_slice(body).map_err(|e| {
        GceError::new(
            StatusCode::BAD_REQUEST,
            format!("Invalid JSON payload received. {e}"),
            "parseError",
            "INVALID_ARGUMENT",
        )
    })?;
    let obj = v
        .as_object()
        .ok_or_else(|| GceError::invalid("The request body must be a JSON object."))?;
    let name = obj.get("name").ok_or_else(|| required("resource.name"))?;
    let name_str = name.as_str().unwrap_or_default();
    if !is_name(name_str) {
        return Err(invalid_value(
            "resource.name",
            name,
            "Must be a match of regex '(?:[a-z](?:[-a-z0-9]{0,61}[a-z0-9])?)'",
        ));
    }
    let specific = obj
        .get("specificReservation")
        .and_then(Value::as_object)
        .ok_or_else(|| required("resource.specificReservation"))?;
    if let Some(t) = specific
        .get("sourceInstanceTemplate")
        .and_then(Value::as_str)
    {
        return Err(GceError::not_found(
            t.split("/compute/v1/").last().unwrap_or(t),
        ));
    }
    let count_v = specific
        .get("count")
        .ok_or_else(|| required("resource.specificReservation.count"))?;
    let count = int64(count_v)
        .filter(|c| (1..=100_000).contains(c))
        .and_then(|c| u32::try_from(c).ok())
        .ok_or_else(|| {
            invalid_value(
                "resource.specificReservation.count",
                count_v,
                "Must be a positive integer.",
            )
        })?;
    let props = specific
        .get("instanceProperties")
        .and_then(Value::as_object)
        .ok_or_else(|| required("resource.specificReservation.instanceProperties"))?;
    let mt_v = props
        .get("machineType")
        .ok_or_else(|| required("resource.specificReservation.instanceProperties.machineType"))?;
    let machine_type = mt_v.as_str().unwrap_or_default().to_owned();
    let well_formed = machine_type.split('-').count() >= 2
        && machine_type.starts_with(|c: char| c.is_ascii_lowercase())
        && machine_type.split('-').all(|p| {
            !p.is_empty()
                && p.bytes()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        });
    if !well_formed {
        return Err(invalid_value(
            "resource.specificReservation.instanceProperties.machineType",
            mt_v,
            &format!("Machine type with name '{machine_type}' does not exist in zone '{zone}'."),
        ));
    }
    let mut instance_properties: Map<String, Value> = props.clone();
    if let Some(Value::Array(ssds)) = instance_properties.get_mut("localSsds") {
        for ssd in ssds.iter_mut() {
            if let Some(size) = ssd.get("diskSizeGb").and_then(int64) {
                ssd["diskSizeGb"] = json!(size.to_string());
            }
        }
    }
    let delete_at = match obj.get("deleteAtTime") {
        None | Some(Value::Null) => None,
        Some(t) => {
            let ts = t
                .as_str()
                .and_then(|s| s.parse::<Timestamp>().ok())
                .ok_or_else(|| {
                    invalid_value("resource.deleteAtTime", t, "Must be an RFC 3339 timestamp.")
                })?;
            if ts <= now {
                return Err(invalid_value(
                    "resource.deleteAtTime",
                    t,
                    "Must be in the future.",
                ));
            }
            Some(ts)
        }
    };
    let (delete_at, delete_after) = match obj.get("deleteAfterDuration") {
        None | Some(Value::Null) => (delete_at, None),
        Some(_) if delete_at.is_some() => {
            return Err(GceError::invalid(
                "Only one of 'resource.deleteAtTime' and 'resource.deleteAfterDuration' may be specified.",
            ));
        }
        Some(d) => {
            let secs = d
                .get("seconds")
                .and_then(int64)
                .filter(|s| *s > 0)
                .ok_or_else(|| {
                    invalid_value(
                        "resource.deleteAfterDuration.seconds",
                        d,
                        "Must be positive.",
                    )
                })?;
            let nanos = d.get("nanos").and_then(Value::as_i64).unwrap_or(0);
            let after = SignedDuration::new(secs, i32::try_from(nanos).unwrap_or(0));
            let mut echo = json!({"seconds": secs.to_string()});
            if nanos != 0 {
                echo["nanos"] = json!(nanos);
            }
            (Some(now + after), Some(echo))
        }
    };
    Ok(NewReservation {
        name: name_str.to_owned(),
        machine_type,
        count,
        instance_properties: Value::Object(instance_properties),
        description: obj
            .get("description")
            .and_then(Value::as_str)
            .map(str::to_owned),
        specific_required: obj
            .get("specificReservationRequired")
            .and_then(Value::as_bool)
            .unwrap_or(false),
        share_settings: obj
            .get("shareSettings")
            .cloned()
            .unwrap_or_else(|| json!({"shareType": "LOCAL"})),
        delete_at,
        delete_after,
    })
}

pub(super) fn check_request_id(
    query: &HashMap<String, String>,
) -> Result<Option<String>, GceError> {
    match query.get("requestId").filter(|r| !r.is_empty()) {
        None => Ok(None),
        Some(r) => match uuid::Uuid::parse_str(r) {
            Ok(u) if !u.is_nil() => Ok(Some(r.to_ascii_lowercase())),
            _ => Err(GceError::invalid(format!(
                "Invalid value for field 'requestId': '{r}'. The request id must be a valid UUID with the exception that zero UUID is not supported (00000000-0000-0000-0000-000000000000)."
            ))),
        },
    }
}

pub(super) fn zone_or_404(app: &AppState, call: &Call, zone: &str) -> Result<RegionInfo, GceError> {
    app.world
        .region_of_zone(CLOUD, zone)
        .ok_or_else(|| GceError::not_found(&format!("projects/{}/zones/{zone}", call.project)))
}

fn capacity_failure(
    denied: CapacityDenied,
    call: &Call,
    world: &World,
    region: &str,
    zone: &str,
    new: &NewReservation,
) -> OpError {
    match denied {
        CapacityDenied::Quota { metric, limit, .. } => OpError {
            code: "QUOTA_EXCEEDED".into(),
            message: format!("Quota '{metric}' exceeded.  Limit: {limit}.0 in region {region}."),
            http_status: 403,
            http_message: "FORBIDDEN",
            details: json!([{"quotaInfo": {
                "metricName": format!("compute.googleapis.com/{}", gce_metric_name(&metric)),
                "limitName": format!("{metric}-per-project-region"),
                "dimensions": {"region": region},
                "limit": limit as f64,
            }}]),
        },
        _ => {
            let others: Vec<String> = world
                .zones_with_capacity(CLOUD, region, &new.machine_type, new.count)
                .into_iter()
                .filter(|z| z != zone)
                .collect();
            OpError {
                code: call.opts.stockout_code.clone(),
                message: format!(
                    "The zone 'projects/{}/zones/{zone}' does not have enough resources available to fulfill the request.  Try a different zone, or try again later.",
                    call.project
                ),
                http_status: 503,
                http_message: "SERVICE UNAVAILABLE",
                details: json!([
                    {"errorInfo": {
                        "reason": "resource_availability",
                        "domain": "compute.googleapis.com",
                        "metadatas": {"zone": zone, "vmType": new.machine_type, "zonesAvailable": others.join(",")},
                    }},
                    {"help": {"links": [{"description": "Troubleshooting documentation",
                                         "url": "https://cloud.google.com/compute/docs/resource-error"}]}},
                ]),
            }
        }
    }
}

/// `POST .../zones/{zone}/reservations`.
pub(super) async fn insert(
    State(app): State<AppState>,
    Path((project, zone)): Path<(String, String)>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
    base: BaseUrl,
    body: Bytes,
) -> Response {
    let call = match begin(&app, &headers, &base, "reservations.insert", &project, true).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    match insert_inner(&app, &call, &zone, &query, &body) {
        Ok(v) => call.ok(v),
        Err(e) => call.fail(&e),
    }
}

fn insert_inner(
    app: &AppState,
    call: &Call,
    zone: &str,
    query: &HashMap<String, String>,
    body: &[u8],
) -> Result<Value, GceError> {
    let world = &app.world;
    let region = zone_or_404(app, call, zone)?;
    let request_id = check_request_id(query)?;
    if let Some(v) = replay(app, call, request_id.as_deref()) {
        return Ok(v);
    }
    let now = world.now();
    let new = parse_body(body, zone, now)?;
    let op_name = {
        let mut inner = app.gce.lock();
        if inner
            .reservations
            .contains_key(&(zone.to_owned(), new.name.clone()))
        {
            return Err(GceError::new(
                StatusCode::CONFLICT,
                format!(
                    "The resource 'projects/{}/zones/{zone}/reservations/{}' already exists",
                    call.project, new.name
                ),
                "alreadyExists",
                "ALREADY_EXISTS",
            ));
        }
        let (holds_capacity, mut error) = match world.try_consume(
            CLOUD,
            &region.name,
            zone,
            &new.machine_type,
            new.count,
        ) {
            Ok(()) => (true, None),
            Err(CapacityDenied::NotOffered) => {
                return Err(GceError::invalid(format!(
                    "Invalid value for field 'resource.specificReservation.instanceProperties.machineType': '{}'. Machine type with name '{}' does not exist in zone '{zone}'.",
                    new.machine_type, new.machine_type
                )));
            }
            Err(denied) if call.opts.sync_capacity_errors => {
                let e = capacity_failure(denied, call, world, &region.name, zone, &new);
                let (status, reason, status_text) = if e.code == "QUOTA_EXCEEDED" {
                    (StatusCode::FORBIDDEN, "quotaExceeded", "PERMISSION_DENIED")
                } else {
                    (
                        StatusCode::SERVICE_UNAVAILABLE,
                        e.code.as_str(),
                        "UNAVAILABLE",
                    )
                };
                return Err(GceError::new(
                    status,
                    e.message.clone(),
                    reason,
                    status_text,
                ));
            }
            Err(denied) => (
                false,
                Some(capacity_failure(
                    denied,
                    call,
                    world,
                    &region.name,
                    zone,
                    &new,
                )),
            ),
        };
        if error.is_none() && call.fault == Some(FaultKind::FailedLro) {
            error = Some(OpError {
                code: call.opts.failed_lro_code.clone(),
                message: "Internal error. Please try again or contact Google Support.".into(),
                http_status: 500,
                http_message: "INTERNAL SERVER ERROR",
                details: json!([]),
            });
        }
        let id = new_id();
        let res = Res {
            id,
            name: new.name.clone(),
            zone: zone.to_owned(),
            region: region.name.clone(),
            created: now,
            status: Status::Creating,
            machine_type: new.machine_type.clone(),
            count: new.count,
            instance_properties: new.instance_properties,
            description: new.description,
            specific_required: new.specific_required,
            share_settings: new.share_settings,
            delete_at: new.delete_at,
            delete_after: new.delete_after,
            holds_capacity,
        };
        if holds_capacity {
            world.upsert_reservation(AuditRecord {
                cloud: CLOUD,
                id: id.to_string(),
                name: res.name.clone(),
                region: res.region.clone(),
                zone: res.zone.clone(),
                instance_type: res.machine_type.clone(),
                count: res.count,
                state: AuditState::Pending,
                tags: BTreeMap::new(),
                created_at: now,
                ended_at: None,
                used: 0,
            });
        }
        let lro = SignedDuration::try_from(world.lro_duration(CLOUD)).unwrap_or_default();
        let op = Op {
            name: Op::new_name(now),
            id: new_id(),
            zone: zone.to_owned(),
            kind: OpKind::Insert,
            target: res.name.clone(),
            target_id: id,
            inserted: now,
            done_at: now + lro,
            error,
            request_id: request_id.clone(),
            applied: false,
            user: app.creds.gce.client_email.clone(),
        };
        inner
            .reservations
            .insert((zone.to_owned(), res.name.clone()), res);
        push_op(&mut inner, op)
    };
    app.gce.sweep(world);
    render_op(app, call, &op_name)
}

pub(super) fn push_op(inner: &mut super::Inner, op: Op) -> String {
    let name = op.name.clone();
    super::operations::due_at(inner, op.done_at);
    if let Some(r) = &op.request_id {
        inner.request_ids.insert(r.clone(), name.clone());
    }
    inner.op_index.insert(name.clone(), inner.operations.len());
    inner.operations.push(op);
    name
}

pub(super) fn render_op(app: &AppState, call: &Call, name: &str) -> Result<Value, GceError> {
    let inner = app.gce.lock();
    inner
        .op_index
        .get(name)
        .map(|&i| inner.operations[i].render(call, app.world.now()))
        .ok_or_else(|| GceError::not_found(name))
}

/// The operation a repeated `requestId` already started, as it is now.
pub(super) fn replay(app: &AppState, call: &Call, request_id: Option<&str>) -> Option<Value> {
    let name = app.gce.lock().request_ids.get(request_id?)?.clone();
    render_op(app, call, &name).ok()
}

/// `GET .../zones/{zone}/reservations/{reservation}`.
pub(super) async fn get(
    State(app): State<AppState>,
    Path((project, zone, name)): Path<(String, String, String)>,
    headers: HeaderMap,
    base: BaseUrl,
) -> Response {
    let call = match begin(&app, &headers, &base, "reservations.get", &project, false).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let found = app
        .gce
        .lock()
        .reservations
        .get(&(zone.clone(), name.clone()))
        .map(|r| r.render(&call, &app.world));
    match found {
        Some(v) => call.ok(v),
        None => call.fail(&GceError::not_found(&format!(
            "projects/{project}/zones/{zone}/reservations/{name}"
        ))),
    }
}

/// `DELETE .../zones/{zone}/reservations/{reservation}`.
pub(super) async fn delete(
    State(app): State<AppState>,
    Path((project, zone, name)): Path<(String, String, String)>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
    base: BaseUrl,
) -> Response {
    let call = match begin(&app, &headers, &base, "reservations.delete", &project, true).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    match delete_inner(&app, &call, &zone, &name, &query) {
        Ok(v) => call.ok(v),
        Err(e) => call.fail(&e),
    }
}

fn delete_inner(
    app: &AppState,
    call: &Call,
    zone: &str,
    name: &str,
    query: &HashMap<String, String>,
) -> Result<Value, GceError> {
    let request_id = check_request_id(query)?;
    if let Some(v) = replay(app, call, request_id.as_deref()) {
        return Ok(v);
    }
    let world = &app.world;
    let now = world.now();
    let resource = format!("projects/{}/zones/{zone}/reservations/{name}", call.project);
    let op_name = {
        let mut inner = app.gce.lock();
        let Some(res) = inner
            .reservations
            .get_mut(&(zone.to_owned(), name.to_owned()))
        else {
            return Err(GceError::not_found(&resource));
        };
        if res.status != Status::Ready {
            return Err(GceError::new(
                StatusCode::BAD_REQUEST,
                format!("The resource '{resource}' is not ready"),
                "resourceNotReady",
                "FAILED_PRECONDITION",
            ));
        }
        // A specifically targeted reservation can only be deleted when no VM consumes it
        // (Compute Engine "Delete reservations"); an open one can, its VMs keep running.
        let consumers = world.instances_in(CLOUD, &res.id.to_string());
        if res.specific_required && !consumers.is_empty() {
            return Err(GceError::new(
                StatusCode::BAD_REQUEST,
                format!(
                    "The reservation '{resource}' is being used by {} instance(s) and cannot be deleted: delete, stop or suspend them first.",
                    consumers.len()
                ),
                "resourceInUseByAnotherResource",
                "FAILED_PRECONDITION",
            ));
        }
        res.status = Status::Deleting;
        let target_id = res.id;
        let lro = SignedDuration::try_from(world.lro_duration(CLOUD)).unwrap_or_default();
        let op = Op {
            name: Op::new_name(now),
            id: new_id(),
            zone: zone.to_owned(),
            kind: OpKind::Delete,
            target: name.to_owned(),
            target_id,
            inserted: now,
            done_at: now + lro,
            error: None,
            request_id,
            applied: false,
            user: app.creds.gce.client_email.clone(),
        };
        push_op(&mut inner, op)
    };
    app.gce.sweep(world);
    render_op(app, call, &op_name)
}

/// `GET .../zones/{zone}/reservations`.
pub(super) async fn list(
    State(app): State<AppState>,
    Path((project, zone)): Path<(String, String)>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
    base: BaseUrl,
) -> Response {
    let call = match begin(&app, &headers, &base, "reservations.list", &project, false).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    if let Err(e) = zone_or_404(&app, &call, &zone) {
        return call.fail(&e);
    }
    let items: Vec<Value> = app
        .gce
        .lock()
        .reservations
        .values()
        .filter(|r| r.zone == zone)
        .map(|r| r.render(&call, &app.world))
        .collect();
    match list_page(&query, "res", items) {
        Ok((items, next)) => call.ok(list_body(
            "compute#reservationList",
            format!("projects/{project}/zones/{zone}/reservations"),
            format!("{}/reservations", call.zone_url(&zone)),
            items,
            next,
        )),
        Err(e) => call.fail(&e),
    }
}

/// `GET .../aggregated/reservations`: every zone of the project as a scope, those without
/// results on the page carrying a `NO_RESULTS_ON_PAGE` warning.
pub(super) async fn aggregated(
    State(app): State<AppState>,
    Path(project): Path<String>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
    base: BaseUrl,
) -> Response {
    let call = match begin(
        &app,
        &headers,
        &base,
        "reservations.aggregatedList",
        &project,
        false,
    )
    .await
    {
        Ok(c) => c,
        Err(r) => return r,
    };
    let all: Vec<Value> = app
        .gce
        .lock()
        .reservations
        .values()
        .map(|r| r.render(&call, &app.world))
        .collect();
    let (page, next) = match list_page(&query, "agg", all) {
        Ok(p) => p,
        Err(e) => return call.fail(&e),
    };
    let mut by_zone: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    for r in page {
        let zone = r["zone"]
            .as_str()
            .and_then(|z| z.rsplit('/').next())
            .unwrap_or_default()
            .to_owned();
        by_zone.entry(zone).or_default().push(r);
    }
    let mut items = Map::new();
    for region in app.world.regions(CLOUD) {
        for zone in region.zones {
            let scope = format!("zones/{zone}");
            let value = match by_zone.remove(&zone) {
                Some(reservations) => json!({"reservations": reservations}),
                None => json!({"warning": {
                    "code": "NO_RESULTS_ON_PAGE",
                    "message": format!("There are no results for scope '{scope}' on this page."),
                    "data": [{"key": "scope", "value": scope}],
                }}),
            };
            items.insert(scope, value);
        }
    }
    let mut v = json!({
        "kind": "compute#reservationAggregatedList",
        "id": format!("projects/{project}/aggregated/reservations"),
        "items": items,
        "selfLink": format!("{}/aggregated/reservations", call.project_url),
    });
    if let Some(t) = next {
        v["nextPageToken"] = json!(t);
    }
    call.ok(v)
}

/// The Service Usage metric name of a Compute Engine quota (`N2_CPUS` → `n2_cpus`, `CPUS` →
/// `cpus`), as `quotaInfo.metricName` carries it.
fn gce_metric_name(metric: &str) -> String {
    metric.to_ascii_lowercase()
}
