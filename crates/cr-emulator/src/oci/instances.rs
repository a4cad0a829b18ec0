//! `LaunchInstance` (`POST /20160918/instances`), `GetInstance` and `TerminateInstance`
//! (`DELETE /20160918/instances/{id}`) as far as capacity reservations are concerned, and the
//! used counts they give reservations (`usedInstanceCount`, each config's `usedCount`,
//! `GET .../computeCapacityReservations/{id}/instances`).
//!
//! Matching (OCI "Capacity Reservations" docs, `LaunchInstanceDetails.capacityReservationId`
//! field doc): the launch must be in the reservation's availability domain and match one of
//! its capacity configurations: the shape, for a flexible shape the `shapeConfig`
//! (`ocpus`, `memoryInGBs`) the configuration reserved, and the fault domain (a configuration
//! with a fault domain takes only launches into it; one without takes only launches that name
//! none). A named reservation that does not fit fails the launch; without
//! `capacityReservationId` the compartment's default reservation (`isDefaultReservation`) is
//! used when it fits and has room, and on-demand capacity otherwise; an empty string opts out
//! of the default reservation.

use std::collections::BTreeMap;

use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use jiff::Timestamp;
use serde_json::{Map, Value, json};

use super::identity::known_compartment;
use super::model::{Config, Lifecycle, Reservation, oci_time};
use super::{CLOUD, Ctx, OciError, json_response};
use crate::credentials::random_token;
use crate::usage::Instance;
use crate::world::CapacityDenied;

/// One launched instance as OCI reports it.
#[derive(Debug, Clone)]
pub(super) struct OciInstance {
    pub id: String,
    pub compartment_id: String,
    pub availability_domain: String,
    pub fault_domain: Option<String>,
    pub shape: String,
    pub shape_config: Option<Value>,
    pub display_name: String,
    pub capacity_reservation_id: Option<String>,
    pub time_created: Timestamp,
    /// Index of the reservation config it runs in.
    pub config: Option<usize>,
}

impl OciInstance {
    fn to_json(&self, region: &str, state: &str) -> Value {
        let mut v = json!({
            "id": self.id,
            "compartmentId": self.compartment_id,
            "availabilityDomain": self.availability_domain,
            "displayName": self.display_name,
            "shape": self.shape,
            "region": region,
            "lifecycleState": state,
            "timeCreated": oci_time(self.time_created),
            "capacityReservationId": self.capacity_reservation_id,
        });
        if let Some(fd) = &self.fault_domain {
            v["faultDomain"] = json!(fd);
        }
        if let Some(c) = &self.shape_config {
            v["shapeConfig"] = c.clone();
        }
        v
    }
}

fn num(v: &Value, key: &str) -> Option<f64> {
    v.get(key).and_then(Value::as_f64)
}

/// Why `config` does not take this launch.
fn config_mismatch(
    config: &Config,
    shape: &str,
    shape_config: Option<&Value>,
    fault_domain: Option<&str>,
) -> Option<String> {
    if config.instance_shape != shape {
        return Some(format!(
            "shape {shape} is not the configuration's shape {}",
            config.instance_shape
        ));
    }
    if let Some(reserved) = &config.instance_shape_config {
        for key in ["ocpus", "memoryInGBs"] {
            let want = num(reserved, key);
            let got = shape_config.and_then(|c| num(c, key));
            if want.is_some() && want != got {
                return Some(format!(
                    "shapeConfig.{key} {} is not the configuration's {}",
                    got.map_or_else(|| "(none)".to_owned(), |g| g.to_string()),
                    want.unwrap_or_default()
                ));
            }
        }
    }
    if config.fault_domain.as_deref() != fault_domain {
        return Some(format!(
            "fault domain {} is not the configuration's {}",
            fault_domain.unwrap_or("(none)"),
            config.fault_domain.as_deref().unwrap_or("(none)")
        ));
    }
    None
}

/// The config of `r` this launch fits and has room in, or why none does.
fn pick_config(
    r: &Reservation,
    used: &[u32],
    ad: &str,
    shape: &str,
    shape_config: Option<&Value>,
    fault_domain: Option<&str>,
) -> Result<usize, (bool, String)> {
    if r.availability_domain != ad {
        return Err((
            false,
            format!(
                "availability domain {ad} is not the reservation's {}",
                r.availability_domain
            ),
        ));
    }
    let mut last = (
        false,
        "the reservation has no capacity configurations".to_string(),
    );
    for (i, c) in r.configs.iter().enumerate() {
        match config_mismatch(c, shape, shape_config, fault_domain) {
            Some(why) => last = (false, why),
            None if used.get(i).copied().unwrap_or(0) >= c.reserved_count => {
                last = (
                    true,
                    format!(
                        "its {} configuration has all {} instances in use",
                        c.instance_shape, c.reserved_count
                    ),
                );
            }
            None => return Ok(i),
        }
    }
    Err(last)
}

/// Instances per config of reservation `id`.
pub(super) fn used_per_config(
    instances: &BTreeMap<String, OciInstance>,
    r: &Reservation,
) -> Vec<u32> {
    let mut used = vec![0u32; r.configs.len()];
    for i in instances.values() {
        if i.capacity_reservation_id.as_deref() == Some(&r.id)
            && let Some(c) = i.config
            && let Some(n) = used.get_mut(c)
        {
            *n += 1;
        }
    }
    used
}

/// Writes the used counts into a reservation's JSON (full or summary).
pub(super) fn with_usage(mut v: Value, used: &[u32]) -> Value {
    let total: u64 = used.iter().map(|&n| u64::from(n)).sum();
    if v.get("usedInstanceCount").is_some() {
        v["usedInstanceCount"] = json!(total);
    }
    // `get_mut`, not indexing: `v[key]` would add the key (as null) to a summary, which has
    // no per-config detail.
    if let Some(configs) = v
        .get_mut("instanceReservationConfigs")
        .and_then(Value::as_array_mut)
    {
        for (c, n) in configs.iter_mut().zip(used) {
            c["usedCount"] = json!(n);
        }
    }
    v
}

fn field<'a>(obj: &'a Map<String, Value>, key: &str) -> Result<Option<&'a str>, OciError> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(OciError::invalid(format!("{key} must be a string."))),
    }
}

/// `POST /20160918/instances`.
pub(super) fn launch(ctx: &Ctx<'_>, body: &[u8]) -> Result<Response, OciError> {
    let obj: Map<String, Value> = serde_json::from_slice(body).map_err(|_| {
        OciError::new(
            StatusCode::BAD_REQUEST,
            "CannotParseRequest",
            "Unable to parse the request body as a JSON object.",
        )
    })?;
    let compartment = field(&obj, "compartmentId")?
        .ok_or_else(|| OciError::missing("compartmentId"))?
        .to_owned();
    let ad = field(&obj, "availabilityDomain")?
        .ok_or_else(|| OciError::missing("availabilityDomain"))?
        .to_owned();
    let shape = field(&obj, "shape")?
        .ok_or_else(|| OciError::missing("shape"))?
        .to_owned();
    if obj.get("sourceDetails").is_none() && field(&obj, "imageId")?.is_none() {
        return Err(OciError::missing("sourceDetails"));
    }
    let subnet = obj
        .get("createVnicDetails")
        .and_then(|v| v.get("subnetId"))
        .and_then(Value::as_str)
        .or(field(&obj, "subnetId")?);
    if subnet.is_none() {
        return Err(OciError::missing("createVnicDetails.subnetId"));
    }
    if !known_compartment(ctx, &compartment) {
        return Err(OciError::new(
            StatusCode::NOT_FOUND,
            "NotAuthorizedOrNotFound",
            format!(
                "Authorization failed or requested resource not found: compartment {compartment}."
            ),
        ));
    }
    if !ctx.region.zones.contains(&ad) {
        return Err(OciError::invalid(format!(
            "Invalid availabilityDomain {ad} for region {}.",
            ctx.region.name
        )));
    }
    let shape_config = obj.get("shapeConfig").filter(|v| !v.is_null()).cloned();
    if shape.ends_with(".Flex")
        && shape_config
            .as_ref()
            .and_then(|c| num(c, "ocpus"))
            .is_none()
    {
        return Err(OciError::invalid(format!(
            "shapeConfig.ocpus is required for the flexible shape {shape}."
        )));
    }
    let fault_domain = field(&obj, "faultDomain")?.map(str::to_owned);
    let asked = field(&obj, "capacityReservationId")?.map(str::to_owned);
    let display_name = field(&obj, "displayName")?.map(str::to_owned);

    let world = &ctx.app.world;
    let inner = ctx.app.oci.lock();
    let mut instances = ctx.app.oci.instances();
    let placed: Option<(String, usize)> = match asked.as_deref() {
        Some("") => None,
        Some(id) => {
            let r = inner
                .reservations
                .get(id)
                .filter(|r| r.region == ctx.region.name && r.lifecycle != Lifecycle::Deleted)
                .ok_or_else(|| {
                    OciError::new(
                        StatusCode::BAD_REQUEST,
                        "RelatedResourceNotAuthorizedOrNotFound",
                        format!("Capacity reservation {id} was not found or is not authorized."),
                    )
                })?;
            if !matches!(r.lifecycle, Lifecycle::Active | Lifecycle::Updating) {
                return Err(OciError::new(
                    StatusCode::CONFLICT,
                    "IncorrectState",
                    format!(
                        "Capacity reservation {id} is {}; instances launch only into an ACTIVE reservation.",
                        r.lifecycle.as_str()
                    ),
                ));
            }
            let used = used_per_config(&instances, r);
            match pick_config(
                r,
                &used,
                &ad,
                &shape,
                shape_config.as_ref(),
                fault_domain.as_deref(),
            ) {
                Ok(i) => Some((id.to_owned(), i)),
                Err((true, why)) => {
                    return Err(OciError::new(
                        StatusCode::INTERNAL_SERVER_ERROR,
                        "InternalError",
                        format!("Out of host capacity in capacity reservation {id}: {why}."),
                    ));
                }
                Err((false, why)) => {
                    return Err(OciError::invalid(format!(
                        "The launch does not match capacity reservation {id}: {why}."
                    )));
                }
            }
        }
        None => inner
            .reservations
            .values()
            .filter(|r| {
                r.is_default
                    && r.compartment_id == compartment
                    && r.region == ctx.region.name
                    && r.lifecycle == Lifecycle::Active
            })
            .find_map(|r| {
                let used = used_per_config(&instances, r);
                pick_config(
                    r,
                    &used,
                    &ad,
                    &shape,
                    shape_config.as_ref(),
                    fault_domain.as_deref(),
                )
                .ok()
                .map(|i| (r.id.clone(), i))
            }),
    };
    if placed.is_none() {
        match world.try_consume(CLOUD, &ctx.region.name, &ad, &shape, 1) {
            Ok(()) => {}
            Err(CapacityDenied::NotOffered) => {
                return Err(OciError::invalid(format!(
                    "Shape {shape} is not available in availability domain {ad}."
                )));
            }
            Err(CapacityDenied::Quota {
                metric,
                limit,
                used,
                ..
            }) => {
                return Err(OciError::new(
                    StatusCode::BAD_REQUEST,
                    &ctx.opts.quota_code,
                    format!(
                        "The following service limits were exceeded: {metric} in availability domain {ad} (limit {limit}, used {used})."
                    ),
                ));
            }
            Err(CapacityDenied::Stockout { .. }) => {
                return Err(OciError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "InternalError",
                    "Out of host capacity.",
                ));
            }
        }
    }
    let id = format!(
        "ocid1.instance.oc1.{}.{}",
        ctx.region.key.to_ascii_lowercase(),
        random_token(60).to_ascii_lowercase()
    );
    let instance = OciInstance {
        id: id.clone(),
        compartment_id: compartment,
        availability_domain: ad.clone(),
        fault_domain,
        shape: shape.clone(),
        shape_config,
        display_name: display_name.unwrap_or_else(|| format!("instance{}", ctx.now.as_second())),
        capacity_reservation_id: placed.as_ref().map(|(r, _)| r.clone()),
        time_created: ctx.now,
        config: placed.as_ref().map(|(_, c)| *c),
    };
    world.record_launch(Instance {
        cloud: CLOUD,
        id: id.clone(),
        name: instance.display_name.clone(),
        region: ctx.region.name.clone(),
        zone: ad,
        instance_type: shape,
        reservation: instance.capacity_reservation_id.clone(),
        launched_at: ctx.now,
    });
    let body = instance.to_json(&ctx.region.name, "PROVISIONING");
    instances.insert(id.clone(), instance);
    drop(instances);
    drop(inner);
    let mut resp = json_response(StatusCode::OK, &body);
    if let Ok(v) = HeaderValue::from_str(&random_token(32)) {
        resp.headers_mut().insert("etag", v);
    }
    Ok(resp)
}

/// `GET /20160918/instances/{id}`.
pub(super) fn get(ctx: &Ctx<'_>, id: &str) -> Result<Response, OciError> {
    let instances = ctx.app.oci.instances();
    let i = instances.get(id).ok_or_else(OciError::not_found)?;
    Ok(json_response(
        StatusCode::OK,
        &i.to_json(&ctx.region.name, "RUNNING"),
    ))
}

/// `DELETE /20160918/instances/{id}`.
pub(super) fn terminate(ctx: &Ctx<'_>, id: &str) -> Result<Response, OciError> {
    let removed = ctx.app.oci.instances().remove(id);
    removed.ok_or_else(OciError::not_found)?;
    ctx.app.world.record_termination(CLOUD, id);
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `GET .../computeCapacityReservations/{id}/instances`: `CapacityReservationInstanceSummary`
/// items.
pub(super) fn in_reservation(ctx: &Ctx<'_>, id: &str) -> Vec<Value> {
    ctx.app
        .oci
        .instances()
        .values()
        .filter(|i| i.capacity_reservation_id.as_deref() == Some(id))
        .map(|i| {
            let mut v = json!({
                "id": i.id,
                "availabilityDomain": i.availability_domain,
                "compartmentId": i.compartment_id,
                "shape": i.shape,
            });
            if let Some(fd) = &i.fault_domain {
                v["faultDomain"] = json!(fd);
            }
            if let Some(c) = &i.shape_config {
                v["shapeConfig"] = c.clone();
            }
            v
        })
        .collect()
}
