//! What a preflight reads before reserving, as ARM serves it:
//!
//! - `GET /subscriptions/{sub}[/resourceGroups/{rg}]/providers/Microsoft.Authorization/permissions`
//!   (api-version 2022-04-01): the caller's effective permissions at the scope, one entry per
//!   role assignment. The emulator's principal holds one role: every action (`*`) less the
//!   scenario's `denied_permissions` for Azure as `notActions` — how a Contributor-like role
//!   with exclusions reads. A resource group that does not exist is `404
//!   ResourceGroupNotFound`, as in ARM.
//! - `GET /subscriptions/{sub}/providers/Microsoft.Compute/locations/{location}/usages`
//!   (Compute api-versions): the region's compute quotas in vCPUs — `cores` (Total Regional
//!   vCPUs) and one per VM family (`standardDSv5Family` …) with `limit` and `currentValue`
//!   from the world's quota model (what live reservations hold), plus the instance counts
//!   ARM lists beside them (`availabilitySets`, `virtualMachines`).

use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{Value, json};

use super::error::ArmError;
use super::groups::find_region;
use super::skus::{family, sizes};
use super::{CLOUD, Ctx, json_response};

/// The permissions of the emulator's principal at a scope: `*` less the denied actions.
pub(super) fn permissions(ctx: &Ctx<'_>, rg: Option<&str>) -> Result<Response, ArmError> {
    if let Some(rg) = rg
        && !ctx
            .app
            .azure
            .lock()
            .rgs
            .contains_key(&super::groups::lc(rg))
    {
        return Err(ArmError::resource_group_not_found(rg));
    }
    let denied = ctx.app.world.denied_permissions(CLOUD);
    let entry = json!({
        "actions": ["*"],
        "notActions": denied,
        "dataActions": [],
        "notDataActions": [],
    });
    Ok(json_response(StatusCode::OK, &ctx.page(vec![entry])))
}

/// ARM's localized name of a family usage (`standardDSv5Family` → `Standard DSv5 Family
/// vCPUs`).
fn localized(metric: &str) -> String {
    match metric
        .strip_prefix("standard")
        .and_then(|m| m.strip_suffix("Family"))
    {
        Some(series) => format!("Standard {series} Family vCPUs"),
        None => metric.to_owned(),
    }
}

fn usage(metric: &str, localized_value: &str, limit: u64, used: u64) -> Value {
    json!({
        "unit": "Count",
        "currentValue": used,
        "limit": limit,
        "name": {"value": metric, "localizedValue": localized_value},
    })
}

/// The compute usages of a location.
pub(super) fn usages(ctx: &Ctx<'_>, location: &str) -> Result<Response, ArmError> {
    let Some(region) = find_region(ctx, location) else {
        return Err(ArmError::new(
            StatusCode::NOT_FOUND,
            "NoRegisteredProviderFound",
            format!(
                "No registered resource provider found for location '{location}' and API version \
                 '{}' for type 'locations/usages'.",
                ctx.api_version
            ),
        ));
    };
    let world = &ctx.app.world;
    let scenario = world.scenario_arc();
    let named = scenario.clouds.get(CLOUD).regions.get(&region.name);
    let mut families: Vec<String> = sizes(named).iter().map(|s| family(s)).collect();
    families.extend(
        world
            .quota_metrics(CLOUD, &region.name)
            .into_iter()
            .filter(|m| m != "cores"),
    );
    families.sort();
    families.dedup();
    let quota = |metric: &str| {
        (
            world.quota_limit(CLOUD, &region.name, metric),
            world.quota_used(CLOUD, &region.name, "", metric),
        )
    };
    let (limit, used) = quota("cores");
    let mut items = vec![
        usage("availabilitySets", "Availability Sets", 2500, 0),
        usage("cores", "Total Regional vCPUs", limit, used),
        usage("virtualMachines", "Virtual Machines", 25000, 0),
    ];
    for f in families {
        let (limit, used) = quota(&f);
        items.push(usage(&f, &localized(&f), limit, used));
    }
    Ok(json_response(StatusCode::OK, &ctx.page(items)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn family_usages_are_named_as_arm_names_them() {
        assert_eq!(
            localized("standardDSv5Family"),
            "Standard DSv5 Family vCPUs"
        );
        assert_eq!(localized("cores"), "cores");
    }
}
