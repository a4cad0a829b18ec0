//! Virtual machines (`Microsoft.Compute/virtualMachines` PUT / GET / DELETE) as far as
//! capacity reservations are concerned, as ARM long-running operations like the
//! reservations'. Virtual machine scale sets are not emulated.
//!
//! Matching (Azure "Associate a VM to a capacity reservation group", "Overallocate capacity
//! reservation"): `properties.capacityReservation.capacityReservationGroup.id` associates the
//! VM with a group in its location; the VM is allocated from the member reservation with its
//! VM size and zone (a regional VM from a regional reservation). A group without such a
//! reservation refuses the VM. A reservation that is already fully used still takes the VM
//! (overallocation): it is listed in `virtualMachinesAllocated` but runs on regular capacity
//! and does not count as used; the emulator's audit counts only VMs inside the reserved
//! quantity.

use std::collections::BTreeMap;

use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use jiff::Timestamp;
use serde_json::{Map, Value, json};

use super::groups::{lc, required_location};
use super::model::{OpKind, Operation, Prov, ResKey, Reservation};
use super::{ArmError, CLOUD, Ctx, json_response};
use crate::usage::Instance;
use crate::world::CapacityDenied;

const VM_TYPE: &str = "Microsoft.Compute/virtualMachines";

/// One VM.
#[derive(Debug, Clone)]
pub(super) struct Vm {
    pub id: String,
    pub name: String,
    pub location: String,
    pub body: Value,
    /// The reservation it is allocated from (inside the quantity or overallocated).
    pub reservation: Option<ResKey>,
    pub created: Timestamp,
    /// `properties.vmId`.
    pub vm_id: String,
    /// `Creating` until its operation is due, then `Succeeded`.
    pub ready_at: Timestamp,
}

impl Vm {
    fn to_json(&self, now: Timestamp) -> Value {
        let mut v = self.body.clone();
        v["id"] = json!(self.id);
        v["name"] = json!(self.name);
        v["type"] = json!(VM_TYPE);
        v["location"] = json!(self.location);
        v["properties"]["provisioningState"] = json!(if now >= self.ready_at {
            "Succeeded"
        } else {
            "Creating"
        });
        v["properties"]["timeCreated"] = json!(super::model::arm_time(self.created));
        v["properties"]["vmId"] = json!(self.vm_id);
        v
    }
}

/// The VMs allocated from `r`, oldest first.
pub(super) fn allocated<'a>(vms: &'a BTreeMap<(String, String), Vm>, key: &ResKey) -> Vec<&'a Vm> {
    let mut out: Vec<&Vm> = vms
        .values()
        .filter(|v| v.reservation.as_ref() == Some(key))
        .collect();
    out.sort_by_key(|v| v.created);
    out
}

/// Writes the VMs of a reservation into its JSON: `properties.virtualMachinesAssociated`
/// and, with the instance view, `utilizationInfo.virtualMachinesAllocated`.
pub(super) fn with_vms(mut v: Value, vms: &[&Vm]) -> Value {
    let ids: Vec<Value> = vms.iter().map(|m| json!({"id": m.id})).collect();
    v["properties"]["virtualMachinesAssociated"] = json!(ids);
    if v["properties"].get("instanceView").is_some() {
        v["properties"]["instanceView"]["utilizationInfo"]["virtualMachinesAllocated"] = json!(ids);
    }
    v
}

fn vm_id(ctx: &Ctx<'_>, rg: &str, name: &str) -> String {
    format!(
        "/subscriptions/{}/resourceGroups/{rg}/providers/{VM_TYPE}/{name}",
        ctx.sub
    )
}

/// `(resource group, group name)` of a capacity reservation group ARM id, lower-cased.
fn parse_group_id(id: &str) -> Option<(String, String)> {
    let segs: Vec<String> = id
        .split('/')
        .filter(|s| !s.is_empty())
        .map(str::to_ascii_lowercase)
        .collect();
    match segs
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .as_slice()
    {
        [
            "subscriptions",
            _,
            "resourcegroups",
            rg,
            "providers",
            "microsoft.compute",
            "capacityreservationgroups",
            g,
        ] => Some(((*rg).to_owned(), (*g).to_owned())),
        _ => None,
    }
}

/// `PUT .../virtualMachines/{name}`: 201 with `Azure-AsyncOperation` while it is created.
pub(super) fn put(ctx: &Ctx<'_>, rg: &str, name: &str, body: &[u8]) -> Result<Response, ArmError> {
    let obj: Map<String, Value> =
        serde_json::from_slice(body).map_err(|e| ArmError::invalid_content(&e.to_string()))?;
    let region = required_location(ctx, &obj, VM_TYPE)?;
    let props = obj.get("properties").cloned().unwrap_or(Value::Null);
    let size = props["hardwareProfile"]["vmSize"]
        .as_str()
        .filter(|s| !s.is_empty())
        .ok_or_else(|| {
            ArmError::invalid_parameter(
                "hardwareProfile.vmSize",
                "Required parameter 'hardwareProfile.vmSize' is missing (null).",
            )
        })?
        .to_owned();
    for required in ["storageProfile", "networkProfile"] {
        if props.get(required).is_none_or(Value::is_null) {
            return Err(ArmError::invalid_parameter(
                required,
                format!("Required parameter '{required}' is missing (null)."),
            ));
        }
    }
    let zones: Vec<String> = obj
        .get("zones")
        .and_then(Value::as_array)
        .map(|z| {
            z.iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default();
    if zones.len() > 1 {
        return Err(ArmError::invalid_parameter(
            "zones",
            "A virtual machine can be placed in at most one zone.",
        ));
    }
    let zone = zones.into_iter().next();
    let group_ref = props["capacityReservation"]["capacityReservationGroup"]["id"]
        .as_str()
        .map(str::to_owned);
    let world = &ctx.app.world;
    let mut inner = ctx.app.azure.lock();
    if !inner.rgs.contains_key(&lc(rg)) {
        return Err(ArmError::resource_group_not_found(rg));
    }
    let vkey = (lc(rg), lc(name));
    if inner.vms.contains_key(&vkey) {
        return Err(ArmError::new(
            StatusCode::CONFLICT,
            "OperationNotAllowed",
            format!("Virtual machine '{name}' already exists; the emulator does not update VMs."),
        ));
    }
    let mut reservation: Option<ResKey> = None;
    let mut inside = false;
    if let Some(gid) = &group_ref {
        let gkey = parse_group_id(gid).ok_or_else(|| {
            ArmError::invalid_parameter(
                "capacityReservation.capacityReservationGroup.id",
                format!("'{gid}' is not a capacity reservation group id."),
            )
        })?;
        let group = inner.groups.get(&gkey).ok_or_else(|| {
            ArmError::new(
                StatusCode::NOT_FOUND,
                "NotFound",
                format!("The capacity reservation group '{gid}' could not be found."),
            )
        })?;
        if group.location != region.name {
            return Err(ArmError::invalid_parameter(
                "capacityReservation.capacityReservationGroup.id",
                format!(
                    "The capacity reservation group '{gid}' is in location '{}', not the virtual machine's '{}'.",
                    group.location, region.name
                ),
            ));
        }
        let members: Vec<(&ResKey, &Reservation)> = inner
            .reservations
            .iter()
            .filter(|(k, r)| {
                k.0 == gkey.0
                    && k.1 == gkey.1
                    && matches!(r.state, Prov::Succeeded | Prov::Updating)
            })
            .collect();
        let fitting = members
            .iter()
            .find(|(_, r)| r.sku_name.eq_ignore_ascii_case(&size) && r.zone == zone);
        let Some((key, r)) = fitting else {
            let held: Vec<String> = members
                .iter()
                .map(|(_, r)| {
                    format!(
                        "{} in {}",
                        r.sku_name,
                        r.zone.as_deref().unwrap_or("no zone (regional)")
                    )
                })
                .collect();
            return Err(ArmError::invalid_parameter(
                "capacityReservation.capacityReservationGroup.id",
                format!(
                    "The capacity reservation group '{gid}' has no capacity reservation for VM size '{size}' in {} (it holds: {}).",
                    zone.as_deref()
                        .map_or("no zone (regional)".to_owned(), |z| format!("zone '{z}'")),
                    if held.is_empty() {
                        "nothing".to_owned()
                    } else {
                        held.join(", ")
                    }
                ),
            ));
        };
        let used = world.reservation_used(CLOUD, &r.id);
        inside = used < r.capacity;
        reservation = Some((*key).clone());
    }
    let pool_zone = zone.clone().unwrap_or_default();
    if !inside {
        match world.try_consume(CLOUD, &region.name, &pool_zone, &size, 1) {
            Ok(()) => {}
            Err(CapacityDenied::NotOffered) => {
                return Err(ArmError::new(
                    StatusCode::CONFLICT,
                    "SkuNotAvailable",
                    format!(
                        "The requested VM size '{size}' is not available in location '{}'.",
                        region.name
                    ),
                ));
            }
            Err(CapacityDenied::Quota {
                metric,
                limit,
                used,
                needed,
            }) => {
                return Err(ArmError::new(
                    StatusCode::CONFLICT,
                    "OperationNotAllowed",
                    format!(
                        "Operation could not be completed as it results in exceeding approved {metric} Cores quota. Additional details - \
                         Location: {}, Current Limit: {limit}, Current Usage: {used}, Additional Required: {needed}.",
                        region.name
                    ),
                ));
            }
            Err(CapacityDenied::Stockout { .. }) => {
                return Err(ArmError::new(
                    StatusCode::CONFLICT,
                    "ZonalAllocationFailed",
                    "Allocation failed. We do not have sufficient capacity for the requested VM size in this zone.",
                ));
            }
        }
    }
    let id = vm_id(ctx, rg, name);
    let lro = world.lro_duration(CLOUD);
    let at = ctx.now + jiff::SignedDuration::try_from(lro).unwrap_or_default();
    let reservation_audit = reservation
        .as_ref()
        .filter(|_| inside)
        .and_then(|k| inner.reservations.get(k))
        .map(|r| r.id.clone());
    world.record_launch(Instance {
        cloud: CLOUD,
        id: id.clone(),
        name: name.to_owned(),
        region: region.name.clone(),
        zone: pool_zone,
        instance_type: size,
        reservation: reservation_audit,
        launched_at: ctx.now,
    });
    let mut body = Value::Object(obj);
    body.as_object_mut().map(|o| o.remove("id"));
    let vm = Vm {
        id: id.clone(),
        name: name.to_owned(),
        location: region.name.clone(),
        body,
        reservation,
        created: ctx.now,
        vm_id: uuid::Uuid::new_v4().to_string(),
        ready_at: at,
    };
    let op = Operation {
        id: uuid::Uuid::new_v4().to_string(),
        location: region.name.clone(),
        kind: OpKind::Put,
        key: None,
        started: ctx.now,
        at,
        error: None,
    };
    let json = vm.to_json(ctx.now);
    inner.vms.insert(vkey, vm);
    let resp =
        super::reservations::with_lro_headers(ctx, json_response(StatusCode::CREATED, &json), &op);
    inner.ops.insert(op.id.clone(), op);
    Ok(resp)
}

/// `GET .../virtualMachines/{name}`.
pub(super) fn get(ctx: &Ctx<'_>, rg: &str, name: &str) -> Result<Response, ArmError> {
    let inner = ctx.app.azure.lock();
    let vm = inner.vms.get(&(lc(rg), lc(name))).ok_or_else(|| {
        ArmError::new(
            StatusCode::NOT_FOUND,
            "ResourceNotFound",
            format!("The Resource '{VM_TYPE}/{name}' under resource group '{rg}' was not found."),
        )
    })?;
    Ok(json_response(StatusCode::OK, &vm.to_json(ctx.now)))
}

/// `DELETE .../virtualMachines/{name}`: 202 with polling headers (204 when absent). The VM
/// stops using its reservation at once.
pub(super) fn delete(ctx: &Ctx<'_>, rg: &str, name: &str) -> Result<Response, ArmError> {
    let mut inner = ctx.app.azure.lock();
    let Some(vm) = inner.vms.remove(&(lc(rg), lc(name))) else {
        return Ok(StatusCode::NO_CONTENT.into_response());
    };
    ctx.app.world.record_termination(CLOUD, &vm.id);
    let lro = ctx.app.world.lro_duration(CLOUD);
    let op = Operation {
        id: uuid::Uuid::new_v4().to_string(),
        location: vm.location.clone(),
        kind: OpKind::Delete,
        key: None,
        started: ctx.now,
        at: ctx.now + jiff::SignedDuration::try_from(lro).unwrap_or_default(),
        error: None,
    };
    let mut resp = StatusCode::ACCEPTED.into_response();
    resp = super::reservations::with_lro_headers(ctx, resp, &op);
    if let Ok(v) = HeaderValue::from_str("0") {
        resp.headers_mut().insert("content-length", v);
    }
    inner.ops.insert(op.id.clone(), op);
    Ok(resp)
}
