//! The Limits service (`/20190729/...`; `limits.{region}.oci.oraclecloud.com` in reality) as
//! far as a preflight reads compute quotas:
//!
//! - `GET /20190729/limitValues?compartmentId={tenancy}&serviceName=compute[&name=][&scopeType=]
//!   [&availabilityDomain=]` (`ListLimitValues`): the value of each compute core-count limit
//!   (`standard-e4-core-count` …) per availability domain, from the world's quota model.
//! - `GET /20190729/services/{service}/limits/{limit}/resourceAvailability?compartmentId=
//!   &availabilityDomain=` (`GetResourceAvailability`): `used` (what live reservations hold)
//!   and `available` in that AD.
//!
//! As in OCI, the compartment must be the tenancy (limits are tenancy-wide), an AD-scoped
//! limit needs `availabilityDomain`, and an unknown service or limit is `404`.

use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{Value, json};

use super::identity::SHAPES;
use super::{CLOUD, Ctx, OciError, json_response, paged};

/// Every compute core-count limit the emulator's shapes count against, sorted.
fn limit_names() -> Vec<String> {
    let mut names: Vec<String> = SHAPES
        .iter()
        .flat_map(|s| super::model::quota_shape(s).metrics)
        .collect();
    names.sort();
    names.dedup();
    names
}

fn require_tenancy(ctx: &Ctx<'_>) -> Result<(), OciError> {
    let Some(compartment) = ctx.param("compartmentId") else {
        return Err(OciError::missing("compartmentId"));
    };
    if compartment != ctx.app.creds.oci.tenancy_ocid {
        return Err(OciError::new(
            StatusCode::BAD_REQUEST,
            "InvalidParameter",
            "compartmentId must be the tenancy OCID: service limits are set for the tenancy.",
        ));
    }
    Ok(())
}

/// The AD a request names, as the region's own name (`AD-1` style labels are not accepted,
/// as in OCI).
fn availability_domain(ctx: &Ctx<'_>, ad: &str) -> Result<String, OciError> {
    ctx.region
        .zones
        .iter()
        .find(|z| z.eq_ignore_ascii_case(ad))
        .cloned()
        .ok_or_else(|| {
            OciError::new(
                StatusCode::BAD_REQUEST,
                "InvalidParameter",
                format!("Invalid availabilityDomain '{ad}'."),
            )
        })
}

/// `ListLimitValues`.
pub(super) fn list_limit_values(ctx: &Ctx<'_>) -> Result<Response, OciError> {
    require_tenancy(ctx)?;
    let Some(service) = ctx.param("serviceName") else {
        return Err(OciError::missing("serviceName"));
    };
    if service != "compute" {
        return paged(ctx, Vec::new());
    }
    if let Some(scope) = ctx.param("scopeType")
        && scope != "AD"
    {
        // Every limit the emulator models is AD-scoped.
        return paged(ctx, Vec::new());
    }
    let ads: Vec<String> = match ctx.param("availabilityDomain") {
        Some(ad) => vec![availability_domain(ctx, ad)?],
        None => ctx.region.zones.clone(),
    };
    let world = &ctx.app.world;
    let mut items: Vec<Value> = Vec::new();
    for name in limit_names() {
        if ctx.param("name").is_some_and(|n| n != name) {
            continue;
        }
        for ad in &ads {
            items.push(json!({
                "name": name,
                "scopeType": "AD",
                "availabilityDomain": ad,
                "value": world.quota_limit(CLOUD, &ctx.region.name, &name),
            }));
        }
    }
    paged(ctx, items)
}

/// `GetResourceAvailability`.
pub(super) fn resource_availability(
    ctx: &Ctx<'_>,
    service: &str,
    limit: &str,
) -> Result<Response, OciError> {
    require_tenancy(ctx)?;
    if service != "compute" || !limit_names().iter().any(|n| n == limit) {
        return Err(OciError::new(
            StatusCode::NOT_FOUND,
            "NotAuthorizedOrNotFound",
            format!("Limit '{limit}' of service '{service}' not found."),
        ));
    }
    let Some(ad) = ctx.param("availabilityDomain") else {
        return Err(OciError::new(
            StatusCode::BAD_REQUEST,
            "InvalidParameter",
            format!("availabilityDomain is required for the AD-scoped limit '{limit}'."),
        ));
    };
    let ad = availability_domain(ctx, ad)?;
    let world = &ctx.app.world;
    let value = world.quota_limit(CLOUD, &ctx.region.name, limit);
    let used = world.quota_used(CLOUD, &ctx.region.name, &ad, limit);
    let available = value.saturating_sub(used);
    Ok(json_response(
        StatusCode::OK,
        &json!({
            "used": used,
            "available": available,
            "fractionalUsage": used as f64,
            "fractionalAvailability": available as f64,
        }),
    ))
}
