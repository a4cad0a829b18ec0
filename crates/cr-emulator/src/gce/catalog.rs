//! Zones and regions of the project (`zones.list/get`, `regions.list/get`): the default
//! Compute Engine regions merged with the scenario's, all `UP`, regions reporting their
//! `INSTANCES` quota and use.

use std::collections::HashMap;

use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::Response;
use serde_json::{Value, json};

use super::{CLOUD, Call, GceError, begin, list_body, list_page, stable_id};
use crate::server::{AppState, BaseUrl};
use crate::world::RegionInfo;

const CPU_PLATFORMS: &[&str] = &[
    "Intel Broadwell",
    "Intel Cascade Lake",
    "Intel Ice Lake",
    "Intel Sapphire Rapids",
    "AMD Milan",
    "AMD Genoa",
];

const CREATED: &str = "1969-12-31T16:00:00.000-08:00";

fn zone_json(call: &Call, region: &RegionInfo, zone: &str) -> Value {
    json!({
        "kind": "compute#zone",
        "id": stable_id(zone).to_string(),
        "creationTimestamp": CREATED,
        "name": zone,
        "description": zone,
        "status": "UP",
        "region": call.region_url(&region.name),
        "selfLink": call.zone_url(zone),
        "availableCpuPlatforms": CPU_PLATFORMS,
        "supportsPzs": false,
    })
}

fn region_json(app: &AppState, call: &Call, region: &RegionInfo) -> Value {
    let quotas = region_quotas(app, &region.name);
    json!({
        "kind": "compute#region",
        "id": stable_id(&region.name).to_string(),
        "creationTimestamp": CREATED,
        "name": region.name,
        "description": region.name,
        "status": "UP",
        "zones": region.zones.iter().map(|z| call.zone_url(z)).collect::<Vec<_>>(),
        "quotas": quotas,
        "selfLink": call.region_url(&region.name),
        "supportsPzs": false,
    })
}

/// The series whose vCPUs have their own regional quota (`<SERIES>_CPUS`), as
/// `regions.get` lists them besides `CPUS`.
const CPU_SERIES: [&str; 18] = [
    "A2", "A3", "C2", "C2D", "C3", "C3D", "C4", "E2", "G2", "M1", "M2", "M3", "N2", "N2D", "N4",
    "T2A", "T2D", "Z3",
];

/// `quotas[]` of a region: `CPUS` and every series' `<SERIES>_CPUS` (plus any other metric
/// the scenario sets), each with its limit and the vCPUs reservations hold, as doubles.
fn region_quotas(app: &AppState, region: &str) -> Vec<Value> {
    let mut metrics: Vec<String> = std::iter::once("CPUS".to_owned())
        .chain(CPU_SERIES.iter().map(|s| format!("{s}_CPUS")))
        .collect();
    for m in app.world.quota_metrics(CLOUD, region) {
        if !metrics.contains(&m) {
            metrics.push(m);
        }
    }
    metrics
        .into_iter()
        .map(|m| {
            let limit = app.world.quota_limit(CLOUD, region, &m);
            let usage = app.world.quota_used(CLOUD, region, "", &m);
            json!({"metric": m, "limit": limit as f64, "usage": usage as f64})
        })
        .collect()
}

/// `GET .../zones`.
pub(super) async fn list_zones(
    State(app): State<AppState>,
    Path(project): Path<String>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
    base: BaseUrl,
) -> Response {
    let call = match begin(&app, &headers, &base, "zones.list", &project, false).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let items: Vec<Value> = app
        .world
        .regions(CLOUD)
        .iter()
        .flat_map(|r| {
            r.zones
                .iter()
                .map(|z| zone_json(&call, r, z))
                .collect::<Vec<_>>()
        })
        .collect();
    match list_page(&query, "zones", items) {
        Ok((items, next)) => call.ok(list_body(
            "compute#zoneList",
            format!("projects/{project}/zones"),
            format!("{}/zones", call.project_url),
            items,
            next,
        )),
        Err(e) => call.fail(&e),
    }
}

/// `GET .../zones/{zone}`.
pub(super) async fn get_zone(
    State(app): State<AppState>,
    Path((project, zone)): Path<(String, String)>,
    headers: HeaderMap,
    base: BaseUrl,
) -> Response {
    let call = match begin(&app, &headers, &base, "zones.get", &project, false).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    match app.world.region_of_zone(CLOUD, &zone) {
        Some(r) => call.ok(zone_json(&call, &r, &zone)),
        None => call.fail(&GceError::not_found(&format!(
            "projects/{project}/zones/{zone}"
        ))),
    }
}

/// `GET .../regions`.
pub(super) async fn list_regions(
    State(app): State<AppState>,
    Path(project): Path<String>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
    base: BaseUrl,
) -> Response {
    let call = match begin(&app, &headers, &base, "regions.list", &project, false).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let items: Vec<Value> = app
        .world
        .regions(CLOUD)
        .iter()
        .map(|r| region_json(&app, &call, r))
        .collect();
    match list_page(&query, "regions", items) {
        Ok((items, next)) => call.ok(list_body(
            "compute#regionList",
            format!("projects/{project}/regions"),
            format!("{}/regions", call.project_url),
            items,
            next,
        )),
        Err(e) => call.fail(&e),
    }
}

/// `GET .../regions/{region}`.
pub(super) async fn get_region(
    State(app): State<AppState>,
    Path((project, region)): Path<(String, String)>,
    headers: HeaderMap,
    base: BaseUrl,
) -> Response {
    let call = match begin(&app, &headers, &base, "regions.get", &project, false).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    match app.world.region(CLOUD, &region) {
        Some(r) => call.ok(region_json(&app, &call, &r)),
        None => call.fail(&GceError::not_found(&format!(
            "projects/{project}/regions/{region}"
        ))),
    }
}

/// The guest CPUs of a machine type (`n2-highmem-16` 16, `e2-micro` 2, `f1-micro` 1,
/// `a2-highgpu-2g` 24, `a3-highgpu-8g` 208, `n2-custom-6-24576` 6) and the quota metrics it
/// draws on: its series' `<SERIES>_CPUS` (N1, F1 and G1 have none) and the regional `CPUS`.
pub(crate) fn quota_shape(machine_type: &str) -> crate::quota::QuotaShape {
    let parts: Vec<&str> = machine_type.split('-').collect();
    let series = parts[0].to_ascii_uppercase();
    let last = parts.last().copied().unwrap_or_default();
    let vcpus = if let Some(i) = parts.iter().position(|p| *p == "custom") {
        parts.get(i + 1).and_then(|n| n.parse().ok()).unwrap_or(1)
    } else if let Ok(n) = last.parse::<u32>() {
        n
    } else if let Some(gpus) = last.strip_suffix('g').and_then(|n| n.parse::<u32>().ok()) {
        match (series.as_str(), parts.get(1).copied()) {
            ("A3", Some("megagpu")) => 208,
            ("A3", _) => 26 * gpus,
            ("A2", Some("megagpu")) => 96,
            _ => 12 * gpus,
        }
    } else {
        match series.as_str() {
            "F1" | "G1" => 1,
            _ => 2,
        }
    };
    let mut metrics = Vec::new();
    if !matches!(series.as_str(), "N1" | "F1" | "G1") {
        metrics.push(format!("{series}_CPUS"));
    }
    metrics.push("CPUS".to_owned());
    crate::quota::QuotaShape { vcpus, metrics }
}
