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

/// Reported as the limit when the scenario sets no quota.
const UNLIMITED_QUOTA: u64 = 100_000;

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
    let used = app.world.region_used(CLOUD, &region.name);
    let limit = app
        .world
        .region_quota(CLOUD, &region.name)
        .unwrap_or(UNLIMITED_QUOTA);
    json!({
        "kind": "compute#region",
        "id": stable_id(&region.name).to_string(),
        "creationTimestamp": CREATED,
        "name": region.name,
        "description": region.name,
        "status": "UP",
        "zones": region.zones.iter().map(|z| call.zone_url(z)).collect::<Vec<_>>(),
        "quotas": [{"metric": "INSTANCES", "limit": limit as f64, "usage": used as f64}],
        "selfLink": call.region_url(&region.name),
        "supportsPzs": false,
    })
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
