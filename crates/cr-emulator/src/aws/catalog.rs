//! What an EC2 account can see of the cloud's layout: DescribeRegions,
//! DescribeAvailabilityZones, DescribeInstanceTypeOfferings and DescribePlacementGroups, plus
//! the control endpoint that adds placement groups at run time.
//!
//! Offerings: every type of the catalogue (and every type a scenario names) is offered in
//! every zone unless the scenario gives it a negative count there; offering is not capacity
//! (a type with 0 instances is offered but stocked out).

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};

use super::params::{any_match, decode_token, encode_token, tag_filter};
use super::xml::{Ec2Error, Xml};
use super::{CLOUD, Ctx, instance_types};
use crate::defaults::aws_zone_id;
use crate::server::AppState;
use crate::world::RegionInfo;

/// An EC2 placement group.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlacementGroup {
    /// Region.
    pub region: String,
    /// Group name.
    pub name: String,
    /// `cluster`, `spread`, `partition`.
    #[serde(default = "cluster")]
    pub strategy: String,
    /// Tags.
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
}

fn cluster() -> String {
    "cluster".to_owned()
}

impl PlacementGroup {
    fn id(&self) -> String {
        // Stable per (region, name) so repeated listings agree.
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for b in self.region.bytes().chain([0]).chain(self.name.bytes()) {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
        format!("pg-{:017x}", u128::from(h) << 4 | u128::from(h >> 60))
    }

    fn arn(&self, account: &str) -> String {
        format!(
            "arn:aws:ec2:{}:{account}:placement-group/{}",
            self.region, self.name
        )
    }
}

/// Scenario-seeded groups of a region, overridden by run-time ones of the same name.
fn placement_groups(ctx: &Ctx<'_>, region: &str) -> Vec<PlacementGroup> {
    let scenario = ctx.app.world.scenario_arc();
    let mut out: Vec<PlacementGroup> = scenario
        .clouds
        .aws
        .regions
        .get(region)
        .map(|r| {
            r.placement_groups
                .iter()
                .map(|g| PlacementGroup {
                    region: region.to_owned(),
                    name: g.name.clone(),
                    strategy: g.strategy.clone(),
                    tags: g.tags.clone(),
                })
                .collect()
        })
        .unwrap_or_default();
    for g in ctx
        .app
        .aws
        .lock()
        .placement_groups
        .iter()
        .filter(|g| g.region == region)
    {
        out.retain(|o| o.name != g.name);
        out.push(g.clone());
    }
    out
}

/// Checks a `PlacementGroupArn` of CreateCapacityReservation: a cluster group of this
/// account in this region.
pub(super) fn check_cluster_group_arn(ctx: &Ctx<'_>, arn: &str) -> Result<String, Ec2Error> {
    let account = &ctx.app.creds.aws.account_id;
    let prefix = format!("arn:aws:ec2:{}:{account}:placement-group/", ctx.region);
    let Some(name) = arn.strip_prefix(&prefix) else {
        return Err(Ec2Error::invalid(format!(
            "The placement group ARN '{arn}' is not valid for this account and region."
        )));
    };
    match placement_groups(ctx, &ctx.region)
        .into_iter()
        .find(|g| g.name == name)
    {
        Some(g) if g.strategy == "cluster" => Ok(arn.to_owned()),
        Some(_) => Err(Ec2Error::invalid(format!(
            "The placement group '{name}' is not a cluster placement group."
        ))),
        None => Err(Ec2Error::bad(
            "InvalidPlacementGroup.Unknown",
            format!("The Placement Group '{name}' is unknown."),
        )),
    }
}

fn opt_in_status(r: &RegionInfo) -> &'static str {
    match (r.opt_in, r.opt_in_disabled) {
        (false, _) => "opt-in-not-required",
        (true, false) => "opted-in",
        (true, true) => "not-opted-in",
    }
}

pub(super) fn describe_regions(ctx: &Ctx<'_>) -> Result<Xml, Ec2Error> {
    let p = &ctx.params;
    let names = p.list("RegionName");
    let all = p.bool("AllRegions")?.unwrap_or(false);
    let filters = p.filters()?;
    p.dry_run()?;
    let regions = ctx.app.world.regions(CLOUD);
    for n in &names {
        if !regions.iter().any(|r| &r.name == n) {
            return Err(Ec2Error::invalid(format!("Invalid region: {n}")));
        }
    }
    let mut x = Xml::default();
    x.open("regionInfo");
    for r in &regions {
        if !names.is_empty() && !names.contains(&r.name) {
            continue;
        }
        if names.is_empty() && !all && r.opt_in_disabled {
            continue;
        }
        let endpoint = format!("ec2.{}.amazonaws.com", r.name);
        let status = opt_in_status(r);
        let mut keep = true;
        for f in &filters {
            keep &= match f.name.as_str() {
                "region-name" => any_match(&f.values, &r.name),
                "endpoint" => any_match(&f.values, &endpoint),
                "opt-in-status" => any_match(&f.values, status),
                other => {
                    return Err(Ec2Error::invalid(format!(
                        "The filter '{other}' is invalid"
                    )));
                }
            };
        }
        if keep {
            x.open("item")
                .leaf("regionName", &r.name)
                .leaf("regionEndpoint", &endpoint)
                .leaf("optInStatus", status)
                .close("item");
        }
    }
    x.close("regionInfo");
    Ok(x)
}

pub(super) fn describe_availability_zones(ctx: &Ctx<'_>) -> Result<Xml, Ec2Error> {
    let p = &ctx.params;
    let names = p.list("ZoneName");
    let ids = p.list("ZoneId");
    let filters = p.filters()?;
    p.dry_run()?;
    let region = ctx
        .app
        .world
        .region(CLOUD, &ctx.region)
        .ok_or_else(|| Ec2Error::invalid("Unknown region."))?;
    let zones: Vec<(String, String)> = region
        .zones
        .iter()
        .map(|z| (z.clone(), aws_zone_id(z).unwrap_or_default()))
        .collect();
    for n in &names {
        if !zones.iter().any(|(z, _)| z == n) {
            return Err(Ec2Error::invalid(format!(
                "Invalid availability zone: [{n}]"
            )));
        }
    }
    for n in &ids {
        if !zones.iter().any(|(_, id)| id == n) {
            return Err(Ec2Error::invalid(format!(
                "Invalid availability zone ID: [{n}]"
            )));
        }
    }
    let mut x = Xml::default();
    x.open("availabilityZoneInfo");
    for (index, (zone, id)) in zones.iter().enumerate() {
        let named = names.contains(zone) || ids.contains(id);
        if (!names.is_empty() || !ids.is_empty()) && !named {
            continue;
        }
        let long_name = format!("{} {}", region.display_name, index + 1);
        let mut keep = true;
        for f in &filters {
            let v = &f.values;
            keep &= match f.name.as_str() {
                "zone-name" => any_match(v, zone),
                "zone-id" => any_match(v, id),
                "state" => any_match(v, "available"),
                "region-name" => any_match(v, &region.name),
                "zone-type" => any_match(v, "availability-zone"),
                "group-name" | "network-border-group" => any_match(v, &region.name),
                "group-long-name" => any_match(v, &long_name),
                "opt-in-status" => any_match(v, "opt-in-not-required"),
                other => {
                    return Err(Ec2Error::invalid(format!(
                        "The filter '{other}' is invalid"
                    )));
                }
            };
        }
        if keep {
            x.open("item")
                .leaf("zoneName", zone)
                .leaf("zoneId", id)
                .leaf("zoneState", "available")
                .leaf("regionName", &region.name)
                .leaf("zoneType", "availability-zone")
                .leaf("optInStatus", "opt-in-not-required")
                .leaf("groupName", &region.name)
                .leaf("groupLongName", &long_name)
                .leaf("networkBorderGroup", &region.name)
                .open("messageSet")
                .close("messageSet")
                .close("item");
        }
    }
    x.close("availabilityZoneInfo");
    Ok(x)
}

pub(super) fn describe_instance_type_offerings(ctx: &Ctx<'_>) -> Result<Xml, Ec2Error> {
    let p = &ctx.params;
    let location_type = p.get("LocationType").unwrap_or("region");
    if ![
        "region",
        "availability-zone",
        "availability-zone-id",
        "outpost",
    ]
    .contains(&location_type)
    {
        return Err(Ec2Error::invalid(format!(
            "Value ({location_type}) for parameter LocationType is invalid."
        )));
    }
    let filters = p.filters()?;
    let max = p
        .int("MaxResults", 5, 1000)?
        .map_or(1000, |m| usize::try_from(m).unwrap_or(1000));
    let offset = match p.get("NextToken").filter(|t| !t.is_empty()) {
        Some(t) => decode_token("dito", t)?,
        None => 0,
    };
    p.dry_run()?;
    let mut type_filters = Vec::new();
    let mut location_filters = Vec::new();
    for f in &filters {
        match f.name.as_str() {
            "instance-type" => type_filters.push(&f.values),
            "location" => location_filters.push(&f.values),
            other => {
                return Err(Ec2Error::invalid(format!(
                    "The filter '{other}' is invalid"
                )));
            }
        }
    }
    let world = &ctx.app.world;
    let region = world
        .region(CLOUD, &ctx.region)
        .ok_or_else(|| Ec2Error::invalid("Unknown region."))?;
    let scenario = world.scenario_arc();
    let mut types: Vec<String> = instance_types::all().map(str::to_owned).collect();
    for zone_map in scenario
        .clouds
        .aws
        .regions
        .values()
        .flat_map(|r| r.zones.values())
    {
        for t in zone_map.keys() {
            if !instance_types::is_known(t) && !types.contains(t) {
                types.push(t.clone());
            }
        }
    }
    types.retain(|t| type_filters.iter().all(|v| any_match(v, t)));
    let mut offerings: Vec<(String, String)> = Vec::new();
    match location_type {
        "region" if location_filters.iter().all(|v| any_match(v, &region.name)) => {
            for t in &types {
                if region
                    .zones
                    .iter()
                    .any(|z| world.offered(CLOUD, &region.name, z, t))
                {
                    offerings.push((t.clone(), region.name.clone()));
                }
            }
        }
        "availability-zone" | "availability-zone-id" => {
            for zone in &region.zones {
                let location = if location_type == "availability-zone" {
                    zone.clone()
                } else {
                    aws_zone_id(zone).unwrap_or_default()
                };
                if !location_filters.iter().all(|v| any_match(v, &location)) {
                    continue;
                }
                for t in &types {
                    if world.offered(CLOUD, &region.name, zone, t) {
                        offerings.push((t.clone(), location.clone()));
                    }
                }
            }
        }
        // A region filtered out, or Outposts (none in the emulator).
        _ => {}
    }
    let mut x = Xml::default();
    x.open("instanceTypeOfferingSet");
    for (t, location) in offerings.iter().skip(offset).take(max) {
        x.open("item")
            .leaf("instanceType", t)
            .leaf("locationType", location_type)
            .leaf("location", location)
            .close("item");
    }
    x.close("instanceTypeOfferingSet");
    if offset.saturating_add(max) < offerings.len() {
        x.leaf("nextToken", encode_token("dito", offset + max));
    }
    Ok(x)
}

pub(super) fn describe_placement_groups(ctx: &Ctx<'_>) -> Result<Xml, Ec2Error> {
    let p = &ctx.params;
    let names = p.list("GroupName");
    let ids = p.list("GroupId");
    let filters = p.filters()?;
    p.dry_run()?;
    let account = &ctx.app.creds.aws.account_id;
    let groups = placement_groups(ctx, &ctx.region);
    for n in &names {
        if !groups.iter().any(|g| &g.name == n) {
            return Err(Ec2Error::bad(
                "InvalidPlacementGroup.Unknown",
                format!("The Placement Group '{n}' is unknown."),
            ));
        }
    }
    for n in &ids {
        if !groups.iter().any(|g| &g.id() == n) {
            return Err(Ec2Error::bad(
                "InvalidPlacementGroup.Unknown",
                format!("The Placement Group '{n}' is unknown."),
            ));
        }
    }
    let mut x = Xml::default();
    x.open("placementGroupSet");
    for g in &groups {
        let id = g.id();
        let arn = g.arn(account);
        if (!names.is_empty() || !ids.is_empty()) && !names.contains(&g.name) && !ids.contains(&id)
        {
            continue;
        }
        let mut keep = true;
        for f in &filters {
            if let Some(hit) = tag_filter(f, &g.tags) {
                keep &= hit;
                continue;
            }
            let v = &f.values;
            keep &= match f.name.as_str() {
                "group-name" => any_match(v, &g.name),
                "group-arn" => any_match(v, &arn),
                "state" => any_match(v, "available"),
                "strategy" => any_match(v, &g.strategy),
                "spread-level" => g.strategy == "spread" && any_match(v, "rack"),
                other => {
                    return Err(Ec2Error::invalid(format!(
                        "The filter '{other}' is invalid"
                    )));
                }
            };
        }
        if !keep {
            continue;
        }
        x.open("item")
            .leaf("groupName", &g.name)
            .leaf("state", "available")
            .leaf("strategy", &g.strategy)
            .leaf("groupId", &id)
            .tag_set(&g.tags)
            .leaf("groupArn", &arn);
        if g.strategy == "partition" {
            x.leaf("partitionCount", 2);
        }
        if g.strategy == "spread" {
            x.leaf("spreadLevel", "rack");
        }
        x.close("item");
    }
    x.close("placementGroupSet");
    Ok(x)
}

/// `POST /_emulator/aws/placement-groups` with `{"region", "name", "strategy", "tags"}`.
pub(super) async fn control_add_placement_group(
    State(app): State<AppState>,
    Json(group): Json<PlacementGroup>,
) -> Response {
    if app.world.region(CLOUD, &group.region).is_none() {
        return (
            StatusCode::BAD_REQUEST,
            Json(serde_json::json!({"error": format!("unknown AWS region {}", group.region)})),
        )
            .into_response();
    }
    if !["cluster", "spread", "partition"].contains(&group.strategy.as_str()) {
        return (
            StatusCode::BAD_REQUEST,
            Json(serde_json::json!({"error": format!("unknown strategy {}", group.strategy)})),
        )
            .into_response();
    }
    app.aws.add_placement_group(group.clone());
    (StatusCode::CREATED, Json(group)).into_response()
}
