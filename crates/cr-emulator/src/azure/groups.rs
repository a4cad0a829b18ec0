//! Subscription-level and container resources: the subscription itself, its locations,
//! resource groups, and capacity reservation groups.

use std::collections::BTreeMap;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

use super::error::ArmError;
use super::locations::{self, Region};
use super::model::{GROUP_TYPE, Group, OpKind, Operation, ResKey, Reservation, ResourceGroup};
use super::{CLOUD, Ctx, json_response, reservations};
use crate::world::AuditState;

/// Lower-cased key.
pub(super) fn lc(s: &str) -> String {
    s.to_ascii_lowercase()
}

/// ARM accepts a location as `eastus`, `EastUS` or `East US`.
pub(super) fn normalize_location(s: &str) -> String {
    s.chars()
        .filter(|c| !c.is_whitespace())
        .collect::<String>()
        .to_ascii_lowercase()
}

/// The scenario's regions in ARM's terms.
pub(super) fn regions(ctx: &Ctx<'_>) -> Vec<Region> {
    ctx.app
        .world
        .regions(CLOUD)
        .into_iter()
        .map(|r| Region {
            name: r.name,
            display_name: r.display_name,
            // A scenario names the regional pool with the zone "" (see docs/emulator.md).
            zones: r.zones.into_iter().filter(|z| !z.is_empty()).collect(),
        })
        .collect()
}

/// Resolves a location the client sent to a region of the scenario.
pub(super) fn find_region(ctx: &Ctx<'_>, raw: &str) -> Option<Region> {
    let want = normalize_location(raw);
    regions(ctx).into_iter().find(|r| {
        normalize_location(&r.name) == want || normalize_location(&r.display_name) == want
    })
}

/// Parses a JSON object body.
pub(super) fn parse_object(body: &[u8]) -> Result<Map<String, Value>, ArmError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(ArmError::invalid_content("the request body is empty"));
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(_) => Err(ArmError::invalid_content(
            "the request body must be a JSON object",
        )),
        Err(e) => Err(ArmError::invalid_content(&e.to_string())),
    }
}

/// Validates `tags`: an object of strings whose names avoid ARM's reserved characters.
/// ARM's tag limits: tags per resource, characters of a name, characters of a value.
const MAX_TAGS: usize = 50;
const MAX_TAG_NAME: usize = 512;
const MAX_TAG_VALUE: usize = 256;

pub(super) fn parse_tags(v: Option<&Value>) -> Result<Map<String, Value>, ArmError> {
    let Some(v) = v else {
        return Ok(Map::new());
    };
    if v.is_null() {
        return Ok(Map::new());
    }
    let Some(obj) = v.as_object() else {
        return Err(ArmError::invalid_content("'tags' must be an object"));
    };
    if obj.len() > MAX_TAGS {
        return Err(ArmError::new(
            StatusCode::BAD_REQUEST,
            "InvalidTagCount",
            format!(
                "The number of tags {} exceeds the maximum of {MAX_TAGS} tags per resource.",
                obj.len()
            ),
        ));
    }
    let mut bad = Vec::new();
    for (k, val) in obj {
        if k.chars().count() > MAX_TAG_NAME {
            return Err(ArmError::new(
                StatusCode::BAD_REQUEST,
                "InvalidTagNameLength",
                format!(
                    "The tag name '{k}' exceeds the maximum length of {MAX_TAG_NAME} characters."
                ),
            ));
        }
        if val
            .as_str()
            .is_some_and(|v| v.chars().count() > MAX_TAG_VALUE)
        {
            return Err(ArmError::new(
                StatusCode::BAD_REQUEST,
                "InvalidTagValueLength",
                format!(
                    "The value of tag '{k}' exceeds the maximum length of {MAX_TAG_VALUE} characters."
                ),
            ));
        }
        if !val.is_string() {
            return Err(ArmError::invalid_content(&format!(
                "tag '{k}' must have a string value"
            )));
        }
        if k.chars().any(|c| "<>%&\\?/".contains(c) || c.is_control()) {
            bad.push(k.clone());
        }
    }
    if !bad.is_empty() {
        return Err(ArmError::new(
            StatusCode::BAD_REQUEST,
            "InvalidTagNameCharacters",
            format!(
                "The tag names '{}' have reserved characters '<,>,%,&,\\,?,/' or control characters.",
                bad.join(",")
            ),
        ));
    }
    Ok(obj.clone())
}

/// The `location` of a create request, resolved.
pub(super) fn required_location(
    ctx: &Ctx<'_>,
    obj: &Map<String, Value>,
    resource_type: &str,
) -> Result<Region, ArmError> {
    let Some(raw) = obj
        .get("location")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
    else {
        return Err(ArmError::new(
            StatusCode::BAD_REQUEST,
            "LocationRequired",
            "The location property is required for this definition.",
        ));
    };
    find_region(ctx, raw).ok_or_else(|| {
        let names: Vec<String> = regions(ctx).into_iter().map(|r| r.display_name).collect();
        ArmError::new(
            StatusCode::BAD_REQUEST,
            "LocationNotAvailableForResourceType",
            format!(
                "The provided location '{raw}' is not available for resource type '{resource_type}'. \
                 List of available regions for the resource type is '{}'.",
                names.join(",")
            ),
        )
    })
}

/// `GET /subscriptions/{sub}`.
pub(super) fn get_subscription(ctx: &Ctx<'_>) -> Response {
    let a = &ctx.app.creds.azure;
    json_response(
        StatusCode::OK,
        &json!({
            "id": format!("/subscriptions/{}", a.subscription_id),
            "authorizationSource": "RoleBased",
            "managedByTenants": [],
            "subscriptionId": a.subscription_id,
            "tenantId": a.tenant_id,
            "displayName": "cr-emulator",
            "state": "Enabled",
            "subscriptionPolicies": {
                "locationPlacementId": "Public_2014-09-01",
                "quotaId": "PayAsYouGo_2014-09-01",
                "spendingLimit": "Off",
            },
        }),
    )
}

/// `GET /subscriptions/{sub}/locations`.
pub(super) fn list_locations(ctx: &Ctx<'_>) -> Response {
    let sub = &ctx.app.creds.azure.subscription_id;
    let value: Vec<Value> = regions(ctx)
        .iter()
        .map(|r| locations::location_json(sub, r))
        .collect();
    json_response(StatusCode::OK, &json!({ "value": value }))
}

fn rg_name_valid(rg: &str) -> bool {
    !rg.is_empty()
        && rg.len() <= 90
        && !rg.ends_with('.')
        && rg
            .chars()
            .all(|c| c.is_alphanumeric() || "-_.()".contains(c))
}

/// `PUT /subscriptions/{sub}/resourcegroups/{rg}`.
pub(super) fn put_resource_group(
    ctx: &Ctx<'_>,
    rg: &str,
    body: &[u8],
) -> Result<Response, ArmError> {
    if !rg_name_valid(rg) {
        return Err(ArmError::new(
            StatusCode::BAD_REQUEST,
            "InvalidResourceGroupName",
            format!(
                "Resource group name '{rg}' is invalid. It can include alphanumeric, underscore, parentheses, \
                 hyphen, period (except at end), and Unicode characters that match the allowed characters."
            ),
        ));
    }
    let obj = parse_object(body)?;
    let region =
        required_location(ctx, &obj, "Microsoft.Resources/resourceGroups").map_err(|e| {
            if e.code == "LocationNotAvailableForResourceType" {
                ArmError::new(
                    StatusCode::BAD_REQUEST,
                    "LocationNotAvailableForResourceGroup",
                    e.message,
                )
            } else {
                e
            }
        })?;
    let tags = parse_tags(obj.get("tags"))?;
    let sub = &ctx.app.creds.azure.subscription_id;
    let mut inner = ctx.app.azure.lock();
    if let Some(existing) = inner.rgs.get_mut(&lc(rg)) {
        if existing.location != region.name {
            return Err(ArmError::new(
                StatusCode::CONFLICT,
                "InvalidResourceGroupLocation",
                format!(
                    "Invalid resource group location '{}'. The Resource group already exists in location '{}'.",
                    region.name, existing.location
                ),
            ));
        }
        existing.tags = tags;
        return Ok(json_response(
            StatusCode::OK,
            &existing.to_json(sub, "Succeeded"),
        ));
    }
    let group = ResourceGroup {
        name: rg.to_owned(),
        location: region.name,
        tags,
    };
    let body = group.to_json(sub, "Succeeded");
    inner.rgs.insert(lc(rg), group);
    Ok(json_response(StatusCode::CREATED, &body))
}

/// `PATCH /subscriptions/{sub}/resourcegroups/{rg}` (tags only).
pub(super) fn patch_resource_group(
    ctx: &Ctx<'_>,
    rg: &str,
    body: &[u8],
) -> Result<Response, ArmError> {
    let obj = parse_object(body)?;
    let sub = &ctx.app.creds.azure.subscription_id;
    let mut inner = ctx.app.azure.lock();
    let existing = inner
        .rgs
        .get_mut(&lc(rg))
        .ok_or_else(|| ArmError::resource_group_not_found(rg))?;
    if obj.contains_key("tags") {
        existing.tags = parse_tags(obj.get("tags"))?;
    }
    Ok(json_response(
        StatusCode::OK,
        &existing.to_json(sub, "Succeeded"),
    ))
}

/// `GET /subscriptions/{sub}/resourcegroups/{rg}`.
pub(super) fn get_resource_group(ctx: &Ctx<'_>, rg: &str) -> Result<Response, ArmError> {
    let inner = ctx.app.azure.lock();
    let g = inner
        .rgs
        .get(&lc(rg))
        .ok_or_else(|| ArmError::resource_group_not_found(rg))?;
    Ok(json_response(
        StatusCode::OK,
        &g.to_json(&ctx.app.creds.azure.subscription_id, "Succeeded"),
    ))
}

/// `HEAD /subscriptions/{sub}/resourcegroups/{rg}`: 204 or 404, no body.
pub(super) fn head_resource_group(ctx: &Ctx<'_>, rg: &str) -> Response {
    if ctx.app.azure.lock().rgs.contains_key(&lc(rg)) {
        StatusCode::NO_CONTENT.into_response()
    } else {
        StatusCode::NOT_FOUND.into_response()
    }
}

/// `GET /subscriptions/{sub}/resourcegroups`.
pub(super) fn list_resource_groups(ctx: &Ctx<'_>) -> Response {
    let sub = &ctx.app.creds.azure.subscription_id;
    let items: Vec<Value> = ctx
        .app
        .azure
        .lock()
        .rgs
        .values()
        .map(|g| g.to_json(sub, "Succeeded"))
        .collect();
    json_response(StatusCode::OK, &ctx.page(items))
}

/// `DELETE /subscriptions/{sub}/resourcegroups/{rg}`: deletes everything in it (releasing
/// reserved capacity), answering 202 with a `Location` to poll unless operations are
/// immediate.
pub(super) fn delete_resource_group(ctx: &Ctx<'_>, rg: &str) -> Result<Response, ArmError> {
    let key = lc(rg);
    let world = &ctx.app.world;
    let mut inner = ctx.app.azure.lock();
    if inner.rgs.remove(&key).is_none() {
        return Err(ArmError::resource_group_not_found(rg));
    }
    let doomed: Vec<_> = inner
        .reservations
        .keys()
        .filter(|k| k.0 == key)
        .cloned()
        .collect();
    for k in doomed {
        if let Some(r) = inner.reservations.remove(&k) {
            if r.held > 0 {
                world.release(CLOUD, &r.location, r.pool_zone(), &r.sku_name, r.held);
            }
            world.set_state(CLOUD, &r.id, AuditState::Cancelled);
        }
    }
    inner.groups.retain(|k, _| k.0 != key);
    let lro = world.lro_duration(CLOUD);
    if lro.is_zero() && !ctx.opts.lro_always {
        return Ok(StatusCode::OK.into_response());
    }
    let id = uuid::Uuid::new_v4().to_string();
    let op = Operation {
        id: id.clone(),
        location: String::new(),
        kind: OpKind::Delete,
        key: None,
        started: ctx.now,
        at: ctx.now + jiff::SignedDuration::try_from(lro).unwrap_or_default(),
        error: None,
    };
    let retry = reservations::retry_after(ctx, &op);
    inner.ops.insert(id.clone(), op);
    let url = format!(
        "{}/subscriptions/{}/operationresults/{id}?api-version={}",
        ctx.base, ctx.sub, ctx.api_version
    );
    let mut r = StatusCode::ACCEPTED.into_response();
    if let Ok(v) = url.parse() {
        r.headers_mut().insert(axum::http::header::LOCATION, v);
    }
    if let Ok(v) = retry.to_string().parse() {
        r.headers_mut().insert(axum::http::header::RETRY_AFTER, v);
    }
    Ok(r)
}

/// `PUT` (create or update) and `PATCH` (tags, sharing profile) of a group.
pub(super) fn put_group(
    ctx: &Ctx<'_>,
    rg: &str,
    name: &str,
    body: &[u8],
    patch: bool,
) -> Result<Response, ArmError> {
    let obj = parse_object(body)?;
    let sub = ctx.app.creds.azure.subscription_id.clone();
    let key = (lc(rg), lc(name));
    let props = obj.get("properties").and_then(Value::as_object);
    let sharing = props.and_then(|p| p.get("sharingProfile")).cloned();
    let mut inner = ctx.app.azure.lock();
    if !inner.rgs.contains_key(&key.0) {
        if ctx.opts.auto_create_resource_groups && !patch {
            let region = required_location(ctx, &obj, GROUP_TYPE)?;
            inner.rgs.insert(
                key.0.clone(),
                ResourceGroup {
                    name: rg.to_owned(),
                    location: region.name,
                    tags: Map::new(),
                },
            );
        } else {
            return Err(ArmError::resource_group_not_found(rg));
        }
    }
    if patch || inner.groups.contains_key(&key) {
        let Some(group) = inner.groups.get_mut(&key) else {
            return Err(ArmError::resource_not_found(GROUP_TYPE, name, rg));
        };
        if patch {
            if obj.contains_key("tags") {
                group.tags = parse_tags(obj.get("tags"))?;
            }
        } else {
            let region = required_location(ctx, &obj, GROUP_TYPE)?;
            if region.name != group.location {
                return Err(ArmError::new(
                    StatusCode::CONFLICT,
                    "InvalidResourceLocation",
                    format!(
                        "The resource '{name}' already exists in location '{}' in resource group '{rg}'. \
                         A resource with the same name cannot be created in location '{}'. Please select a new resource name.",
                        group.location, region.name
                    ),
                ));
            }
            let zones = parse_zones(obj.get("zones"))?;
            if !zones.is_empty() && sorted(&zones) != sorted(&group.zones) {
                return Err(ArmError::property_change("zones"));
            }
            if let Some(t) = props
                .and_then(|p| p.get("reservationType"))
                .and_then(Value::as_str)
                && group.reservation_type.as_deref().unwrap_or("Targeted") != t
            {
                return Err(ArmError::property_change("reservationType"));
            }
            group.tags = parse_tags(obj.get("tags"))?;
        }
        if sharing.is_some() {
            group.sharing_profile = sharing;
        }
        let group = group.clone();
        let members = group_members(&inner.reservations, &key);
        return Ok(json_response(
            StatusCode::OK,
            &group.to_json(&sub, &members, false),
        ));
    }
    let region = required_location(ctx, &obj, GROUP_TYPE)?;
    let zones = parse_zones(obj.get("zones"))?;
    for z in &zones {
        if !region.zones.contains(z) {
            return Err(ArmError::invalid_parameter(
                "zones",
                format!(
                    "The zone(s) '{z}' for resource '{name}' is not supported. The supported zones for location '{}' are '{}'.",
                    region.name,
                    region.zones.join(",")
                ),
            ));
        }
    }
    let reservation_type = match props.and_then(|p| p.get("reservationType")) {
        None | Some(Value::Null) => None,
        Some(Value::String(t)) if t == "Targeted" || t == "Block" => Some(t.clone()),
        // `Open` arrived with api-version 2026-04-01; older versions refuse it.
        Some(Value::String(t)) if t == "Open" && ctx.api_version.as_str() >= "2026-04-01" => {
            Some(t.clone())
        }
        Some(other) => {
            let allowed = if ctx.api_version.as_str() >= "2026-04-01" {
                "'Targeted', 'Block' and 'Open'"
            } else {
                "'Targeted' and 'Block'"
            };
            return Err(ArmError::invalid_parameter(
                "properties.reservationType",
                format!(
                    "The value {other} is not a valid reservation type at api-version {}; allowed values are {allowed}.",
                    ctx.api_version
                ),
            ));
        }
    };
    let group = Group {
        rg: inner
            .rgs
            .get(&key.0)
            .map_or_else(|| rg.to_owned(), |g| g.name.clone()),
        name: name.to_owned(),
        location: region.name,
        zones,
        tags: parse_tags(obj.get("tags"))?,
        sharing_profile: sharing,
        reservation_type,
    };
    let body = group.to_json(&sub, &[], false);
    inner.groups.insert(key, group);
    Ok(json_response(StatusCode::CREATED, &body))
}

fn sorted(v: &[String]) -> Vec<String> {
    let mut v = v.to_vec();
    v.sort();
    v
}

/// The reservations of a group, by name.
pub(super) fn group_members<'a>(
    res: &'a BTreeMap<ResKey, Reservation>,
    key: &(String, String),
) -> Vec<&'a Reservation> {
    res.iter()
        .filter(|(k, _)| k.0 == key.0 && k.1 == key.1)
        .map(|(_, r)| r)
        .collect()
}

/// `zones`: absent, null or an array of strings.
pub(super) fn parse_zones(v: Option<&Value>) -> Result<Vec<String>, ArmError> {
    match v {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(items)) => items
            .iter()
            .map(|z| {
                z.as_str()
                    .map(str::to_owned)
                    .ok_or_else(|| ArmError::invalid_content("'zones' must be an array of strings"))
            })
            .collect(),
        Some(_) => Err(ArmError::invalid_content(
            "'zones' must be an array of strings",
        )),
    }
}

/// `GET` of a group (`$expand=instanceView` adds the members' instance views).
pub(super) fn get_group(ctx: &Ctx<'_>, rg: &str, name: &str) -> Result<Response, ArmError> {
    let inner = ctx.app.azure.lock();
    if !inner.rgs.contains_key(&lc(rg)) {
        return Err(ArmError::resource_group_not_found(rg));
    }
    let key = (lc(rg), lc(name));
    let group = inner
        .groups
        .get(&key)
        .ok_or_else(|| ArmError::resource_not_found(GROUP_TYPE, name, rg))?;
    let members = group_members(&inner.reservations, &key);
    Ok(json_response(
        StatusCode::OK,
        &group.to_json(
            &ctx.app.creds.azure.subscription_id,
            &members,
            ctx.expand_instance_view(),
        ),
    ))
}

/// `DELETE` of a group: refused while it still contains reservations.
pub(super) fn delete_group(ctx: &Ctx<'_>, rg: &str, name: &str) -> Result<Response, ArmError> {
    let mut inner = ctx.app.azure.lock();
    if !inner.rgs.contains_key(&lc(rg)) {
        return Err(ArmError::resource_group_not_found(rg));
    }
    let key = (lc(rg), lc(name));
    if !inner.groups.contains_key(&key) {
        return Ok(StatusCode::NO_CONTENT.into_response());
    }
    let members: Vec<String> = group_members(&inner.reservations, &key)
        .iter()
        .map(|r| format!("{GROUP_TYPE}/{}/capacityReservations/{}", r.group, r.name))
        .collect();
    if !members.is_empty() {
        let code = ctx
            .app
            .world
            .scenario_arc()
            .clouds
            .get(CLOUD)
            .option_str("group_not_empty_code")
            .unwrap_or("CannotDeleteResource")
            .to_owned();
        return Err(ArmError::new(
            StatusCode::CONFLICT,
            &code,
            format!(
                "Cannot delete resource while nested resources exist. Some existing nested resource IDs include: '{}'. \
                 Please delete all nested resources before deleting this resource.",
                members.join(", ")
            ),
        ));
    }
    let options = ctx.app.world.scenario_arc();
    let options = options.clouds.get(CLOUD);
    // azure-rest-api-specs #18767: within seconds of its last reservation going away, ARM
    // may still refuse the group's delete because of nested resources.
    let race = options.option_u64("group_delete_race_ms").unwrap_or(0);
    if let Some((emptied_at, last)) = inner.emptied.get(&key)
        && *emptied_at + jiff::SignedDuration::from_millis(i64::try_from(race).unwrap_or(0))
            > ctx.now
    {
        return Err(ArmError::new(
            StatusCode::CONFLICT,
            options
                .option_str("group_not_empty_code")
                .unwrap_or("CannotDeleteResource"),
            format!(
                "Cannot delete resource while nested resources exist. Some existing nested resource IDs include: '{last}'. \
                 Please delete all nested resources before deleting this resource."
            ),
        ));
    }
    let location = inner.groups.get(&key).map(|g| g.location.clone());
    inner.groups.remove(&key);
    inner.emptied.remove(&key);
    // Since api-version 2025-11-01 the delete may also answer 202 (polled through
    // `Location`) or 204: `group_delete: async | no-content` (default `sync`, 200).
    match options
        .option_str("group_delete")
        .map(str::to_ascii_lowercase)
        .as_deref()
    {
        Some("async") => {
            let lro = ctx.app.world.lro_duration(CLOUD);
            let op = Operation {
                id: uuid::Uuid::new_v4().to_string(),
                location: location.unwrap_or_default(),
                kind: OpKind::Delete,
                key: None,
                started: ctx.now,
                at: ctx.now + jiff::SignedDuration::try_from(lro).unwrap_or_default(),
                error: None,
            };
            let r = reservations::location_accepted(ctx, &op);
            inner.ops.insert(op.id.clone(), op);
            Ok(r)
        }
        Some("no-content") => Ok(StatusCode::NO_CONTENT.into_response()),
        _ => Ok(StatusCode::OK.into_response()),
    }
}

/// Groups of one resource group, or of the whole subscription.
pub(super) fn list_groups(ctx: &Ctx<'_>, rg: Option<&str>) -> Result<Response, ArmError> {
    let sub = &ctx.app.creds.azure.subscription_id;
    let inner = ctx.app.azure.lock();
    if let Some(rg) = rg
        && !inner.rgs.contains_key(&lc(rg))
    {
        return Err(ArmError::resource_group_not_found(rg));
    }
    let ids_only = rg.is_none() && ctx.param("resourceIdsOnly").is_some_and(|v| !v.is_empty());
    let items: Vec<Value> = inner
        .groups
        .iter()
        .filter(|(k, _)| rg.is_none_or(|rg| k.0 == lc(rg)))
        .map(|(k, g)| {
            if ids_only {
                json!({"id": super::model::group_id(sub, &g.rg, &g.name)})
            } else {
                g.to_json(sub, &group_members(&inner.reservations, k), false)
            }
        })
        .collect();
    Ok(json_response(StatusCode::OK, &ctx.page(items)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations_normalise_case_and_spaces() {
        assert_eq!(normalize_location("East US 2"), "eastus2");
        assert_eq!(normalize_location("WestEurope"), "westeurope");
    }

    #[test]
    fn tags_reject_reserved_characters_and_non_strings() {
        let e = parse_tags(Some(&json!({"a/b": "x"}))).unwrap_err();
        assert_eq!(e.code, "InvalidTagNameCharacters");
        let e = parse_tags(Some(&json!({"a": 1}))).unwrap_err();
        assert_eq!(e.code, "InvalidRequestContent");
        assert_eq!(parse_tags(Some(&json!({"owner": "ci"}))).unwrap().len(), 1);
    }

    #[test]
    fn resource_group_names() {
        assert!(rg_name_valid("my-rg_1.(x)"));
        assert!(!rg_name_valid("ends."));
        assert!(!rg_name_valid("has space"));
    }
}
