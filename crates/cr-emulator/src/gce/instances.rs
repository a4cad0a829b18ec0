//! `instances.insert` / `get` / `delete` as far as reservations are concerned: the VM's
//! `reservationAffinity` decides which reservation it consumes, and each call returns a zone
//! Operation like the reservation calls (the instance exists, and consumes, from the request
//! on; the operation reports it).
//!
//! Matching (Compute Engine "Consuming reservations"): a VM consumes a reservation only if
//! project, zone, machine type, minimum CPU platform, GPUs (`guestAccelerators`) and local
//! SSDs (`localSsds` against the VM's `SCRATCH` disks, count and interface) match
//! the reservation's `instanceProperties` exactly and the reservation is READY with a free
//! slot. `SPECIFIC_RESERVATION` (key `compute.googleapis.com/reservation-name`, one value:
//! the name, or `projects/{p}/reservations/{name}`) consumes that reservation or fails;
//! `ANY_RESERVATION` (the default) takes a fitting reservation without
//! `specificReservationRequired` and otherwise runs on demand; `NO_RESERVATION` always runs
//! on demand.

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use jiff::SignedDuration;
use serde_json::{Value, json};

use super::operations::{Op, OpKind};
use super::reservations::{Res, Status, check_request_id, push_op, render_op, replay, zone_or_404};
use super::{CLOUD, Call, GceError, begin, gce_time, new_id};
use crate::server::{AppState, BaseUrl};
use crate::usage::Instance;
use crate::world::CapacityDenied;

const KEY: &str = "compute.googleapis.com/reservation-name";

/// One VM: the body it was created with plus what the emulator assigned.
#[derive(Debug, Clone)]
pub(super) struct Vm {
    pub id: u64,
    pub body: Value,
    pub created: jiff::Timestamp,
}

/// The last path segment of a URL or partial URL (`zones/z/machineTypes/n1-standard-4`).
fn last_segment(s: &str) -> &str {
    s.rsplit('/').next().unwrap_or(s)
}

/// Why `res` cannot take this VM, naming the property that differs.
fn mismatch(res: &Res, zone: &str, machine_type: &str, vm: &Value) -> Option<String> {
    if res.zone != zone {
        return Some(format!(
            "the instance's zone '{zone}' is not the reservation's zone '{}'",
            res.zone
        ));
    }
    if res.machine_type != machine_type {
        return Some(format!(
            "the instance's machine type '{machine_type}' is not the reservation's '{}'",
            res.machine_type
        ));
    }
    let platform = |v: &Value| v["minCpuPlatform"].as_str().map(str::to_owned);
    if platform(&res.instance_properties) != platform(vm) {
        return Some(format!(
            "the instance's minCpuPlatform {:?} is not the reservation's {:?}",
            platform(vm),
            platform(&res.instance_properties)
        ));
    }
    let gpus = |v: &Value| {
        let mut g: Vec<(String, i64)> = v["guestAccelerators"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|a| {
                (
                    last_segment(a["acceleratorType"].as_str().unwrap_or_default()).to_owned(),
                    a["acceleratorCount"].as_i64().unwrap_or(0),
                )
            })
            .collect();
        g.sort();
        g
    };
    // Local SSDs: the reservation's `localSsds` against the VM's `SCRATCH` disks, by count and
    // interface (SCSI when not given).
    let mut reserved_ssds: Vec<String> = res.instance_properties["localSsds"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|d| d["interface"].as_str().unwrap_or("SCSI").to_owned())
        .collect();
    let mut vm_ssds: Vec<String> = vm["disks"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|d| d["type"].as_str() == Some("SCRATCH"))
        .map(|d| d["interface"].as_str().unwrap_or("SCSI").to_owned())
        .collect();
    reserved_ssds.sort();
    vm_ssds.sort();
    if reserved_ssds != vm_ssds {
        return Some(format!(
            "the instance's local SSDs {vm_ssds:?} are not the reservation's {reserved_ssds:?}"
        ));
    }
    if gpus(&res.instance_properties) != gpus(vm) {
        return Some(format!(
            "the instance's guestAccelerators {:?} are not the reservation's {:?}",
            gpus(vm),
            gpus(&res.instance_properties)
        ));
    }
    None
}

fn invalid_affinity(message: String) -> GceError {
    GceError::invalid(format!(
        "Invalid value for field 'resource.reservationAffinity': {message}"
    ))
}

/// `POST .../zones/{zone}/instances`.
pub(super) async fn insert(
    State(app): State<AppState>,
    Path((project, zone)): Path<(String, String)>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
    base: BaseUrl,
    body: Bytes,
) -> Response {
    let call = match begin(&app, &headers, &base, "instances.insert", &project, true).await {
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
    let vm: Value = serde_json::from_slice(body).map_err(|e| {
        GceError::new(
            StatusCode::BAD_REQUEST,
            format!("Invalid JSON payload received. {e}"),
            "parseError",
            "INVALID_ARGUMENT",
        )
    })?;
    let name = vm["name"]
        .as_str()
        .filter(|n| !n.is_empty())
        .ok_or_else(|| super::reservations::required("resource.name"))?
        .to_owned();
    let machine_type_url = vm["machineType"]
        .as_str()
        .ok_or_else(|| super::reservations::required("resource.machineType"))?;
    let machine_type = last_segment(machine_type_url).to_owned();
    if machine_type_url.contains("/zones/")
        && !machine_type_url.contains(&format!("/zones/{zone}/"))
        && !machine_type_url.starts_with(&format!("zones/{zone}/"))
    {
        return Err(GceError::invalid(format!(
            "Invalid value for field 'resource.machineType': '{machine_type_url}'. Machine type must be in the instance's zone '{zone}'."
        )));
    }
    if vm["disks"].as_array().is_none_or(|d| d.is_empty()) {
        return Err(GceError::invalid(
            "Invalid value for field 'resource.disks': ''. No disks are specified.",
        ));
    }
    let affinity = &vm["reservationAffinity"];
    let kind = affinity["consumeReservationType"]
        .as_str()
        .unwrap_or("ANY_RESERVATION");
    let now = world.now();
    let mut inner = app.gce.lock();
    if inner
        .instances
        .contains_key(&(zone.to_owned(), name.clone()))
    {
        return Err(GceError::new(
            StatusCode::CONFLICT,
            format!(
                "The resource 'projects/{}/zones/{zone}/instances/{name}' already exists",
                call.project
            ),
            "alreadyExists",
            "ALREADY_EXISTS",
        ));
    }
    let free = |r: &Res| {
        if r.status == Status::Ready && r.holds_capacity {
            r.count
                .saturating_sub(world.reservation_used(CLOUD, &r.id.to_string()))
        } else {
            0
        }
    };
    let reservation: Option<u64> = match kind {
        "SPECIFIC_RESERVATION" => {
            if affinity["key"].as_str() != Some(KEY) {
                return Err(invalid_affinity(format!(
                    "key must be '{KEY}' for SPECIFIC_RESERVATION, not {}",
                    affinity["key"]
                )));
            }
            let values: Vec<&str> = affinity["values"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .collect();
            let [wanted] = values.as_slice() else {
                return Err(invalid_affinity(format!(
                    "SPECIFIC_RESERVATION takes exactly one reservation in values, not {}",
                    values.len()
                )));
            };
            let res_name = match wanted.split('/').collect::<Vec<_>>().as_slice() {
                [n] => *n,
                ["projects", p, "reservations", n] if *p == call.project => *n,
                ["projects", p, "zones", z, "reservations", n]
                    if *p == call.project && *z == zone =>
                {
                    *n
                }
                _ => {
                    return Err(invalid_affinity(format!(
                        "Could not find the given reservation with the following name: '{wanted}' in project '{}' zone '{zone}'",
                        call.project
                    )));
                }
            };
            let spelled = format!("projects/{}/reservations/{res_name}", call.project);
            let res = inner
                .reservations
                .get(&(zone.to_owned(), res_name.to_owned()))
                .ok_or_else(|| {
                    invalid_affinity(format!(
                        "Could not find the given reservation with the following name: '{res_name}' in zone '{zone}'"
                    ))
                })?;
            if !res.specific_required {
                return Err(invalid_affinity(format!(
                    "Specified reservations [{spelled}] can not be targeted as specificReservationRequired is not set"
                )));
            }
            if res.status != Status::Ready {
                return Err(invalid_affinity(format!(
                    "Reservation [{spelled}] cannot be consumed: it requires reservation to be in READY state"
                )));
            }
            if let Some(why) = mismatch(res, zone, &machine_type, &vm) {
                return Err(invalid_affinity(format!(
                    "Specified reservations [{spelled}] are not compatible with the requested VM configuration: {why}"
                )));
            }
            if free(res) == 0 {
                return Err(invalid_affinity(format!(
                    "Specified reservations [{spelled}] do not have available resources for the requested VM configuration: {} of {} in use",
                    res.count, res.count
                )));
            }
            Some(res.id)
        }
        "ANY_RESERVATION" | "UNSPECIFIED" => inner
            .reservations
            .values()
            .find(|r| {
                !r.specific_required
                    && mismatch(r, zone, &machine_type, &vm).is_none()
                    && free(r) > 0
            })
            .map(|r| r.id),
        "NO_RESERVATION" => None,
        other => {
            return Err(invalid_affinity(format!(
                "'{other}' is not a consumeReservationType (ANY_RESERVATION, SPECIFIC_RESERVATION, NO_RESERVATION)"
            )));
        }
    };
    if reservation.is_none() {
        match world.try_consume(CLOUD, &region.name, zone, &machine_type, 1) {
            Ok(()) => {}
            Err(CapacityDenied::NotOffered) => {
                return Err(GceError::invalid(format!(
                    "Invalid value for field 'resource.machineType': '{machine_type_url}'. Machine type with name '{machine_type}' does not exist in zone '{zone}'."
                )));
            }
            Err(CapacityDenied::Quota { metric, limit, .. }) => {
                return Err(GceError::new(
                    StatusCode::FORBIDDEN,
                    format!(
                        "Quota '{metric}' exceeded.  Limit: {limit}.0 in region {}.",
                        region.name
                    ),
                    "quotaExceeded",
                    "PERMISSION_DENIED",
                ));
            }
            Err(CapacityDenied::Stockout { .. }) => {
                return Err(GceError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    format!(
                        "The zone 'projects/{}/zones/{zone}' does not have enough resources available to fulfill the request.  Try a different zone, or try again later.",
                        call.project
                    ),
                    &call.opts.stockout_code,
                    "UNAVAILABLE",
                ));
            }
        }
    }
    let id = new_id();
    world.record_launch(Instance {
        cloud: CLOUD,
        id: id.to_string(),
        name: name.clone(),
        region: region.name.clone(),
        zone: zone.to_owned(),
        instance_type: machine_type,
        reservation: reservation.map(|r| r.to_string()),
        launched_at: now,
    });
    inner.instances.insert(
        (zone.to_owned(), name.clone()),
        Vm {
            id,
            body: vm,
            created: now,
        },
    );
    let lro = SignedDuration::try_from(world.lro_duration(CLOUD)).unwrap_or_default();
    let op = Op {
        name: Op::new_name(now),
        id: new_id(),
        zone: zone.to_owned(),
        kind: OpKind::InstanceInsert,
        target: name,
        target_id: id,
        inserted: now,
        done_at: now + lro,
        error: None,
        request_id,
        applied: false,
        user: app.creds.gce.client_email.clone(),
    };
    let op_name = push_op(&mut inner, op);
    drop(inner);
    render_op(app, call, &op_name)
}

fn render(app: &AppState, call: &Call, zone: &str, name: &str, vm: &Vm) -> Value {
    let mut v = vm.body.clone();
    let reservation = app
        .world
        .instance(CLOUD, &vm.id.to_string())
        .and_then(|i| i.reservation);
    let inner = app.gce.lock();
    let consumed = reservation.and_then(|id| {
        inner
            .reservations
            .values()
            .find(|r| r.id.to_string() == id)
            .map(|r| format!("{}/reservations/{}", call.zone_url(&r.zone), r.name))
    });
    drop(inner);
    v["kind"] = json!("compute#instance");
    v["id"] = json!(vm.id.to_string());
    v["creationTimestamp"] = json!(gce_time(vm.created));
    v["zone"] = json!(call.zone_url(zone));
    v["selfLink"] = json!(format!("{}/instances/{name}", call.zone_url(zone)));
    v["machineType"] = json!(format!(
        "{}/machineTypes/{}",
        call.zone_url(zone),
        last_segment(vm.body["machineType"].as_str().unwrap_or_default())
    ));
    v["status"] = json!("RUNNING");
    if v.get("reservationAffinity").is_none() {
        v["reservationAffinity"] = json!({"consumeReservationType": "ANY_RESERVATION"});
    }
    if let Some(link) = consumed {
        // What Compute Engine reports in `resourceStatus` for a VM consuming a reservation.
        v["resourceStatus"] = json!({"consumedReservation": link});
    }
    v
}

/// `GET .../zones/{zone}/instances/{instance}`.
pub(super) async fn get(
    State(app): State<AppState>,
    Path((project, zone, name)): Path<(String, String, String)>,
    headers: HeaderMap,
    base: BaseUrl,
) -> Response {
    let call = match begin(&app, &headers, &base, "instances.get", &project, false).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let vm = app
        .gce
        .lock()
        .instances
        .get(&(zone.clone(), name.clone()))
        .cloned();
    match vm {
        Some(vm) => call.ok(render(&app, &call, &zone, &name, &vm)),
        None => call.fail(&GceError::not_found(&format!(
            "projects/{project}/zones/{zone}/instances/{name}"
        ))),
    }
}

/// `DELETE .../zones/{zone}/instances/{instance}`.
pub(super) async fn delete(
    State(app): State<AppState>,
    Path((project, zone, name)): Path<(String, String, String)>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
    base: BaseUrl,
) -> Response {
    let call = match begin(&app, &headers, &base, "instances.delete", &project, true).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let result = (|| {
        let request_id = check_request_id(&query)?;
        if let Some(v) = replay(&app, &call, request_id.as_deref()) {
            return Ok(v);
        }
        let world = &app.world;
        let now = world.now();
        let mut inner = app.gce.lock();
        let vm = inner
            .instances
            .remove(&(zone.clone(), name.clone()))
            .ok_or_else(|| {
                GceError::not_found(&format!("projects/{project}/zones/{zone}/instances/{name}"))
            })?;
        world.record_termination(CLOUD, &vm.id.to_string());
        let lro = SignedDuration::try_from(world.lro_duration(CLOUD)).unwrap_or_default();
        let op = Op {
            name: Op::new_name(now),
            id: new_id(),
            zone: zone.clone(),
            kind: OpKind::InstanceDelete,
            target: name.clone(),
            target_id: vm.id,
            inserted: now,
            done_at: now + lro,
            error: None,
            request_id,
            applied: false,
            user: app.creds.gce.client_email.clone(),
        };
        let op_name = push_op(&mut inner, op);
        drop(inner);
        render_op(&app, &call, &op_name)
    })();
    match result {
        Ok(v) => call.ok(v),
        Err(e) => call.fail(&e),
    }
}
