//! `GET /subscriptions/{sub}/providers/Microsoft.Compute/skus` (Resource SKUs, api-version
//! 2021-07-01): which VM sizes each location offers, in which zones, and whether they support
//! capacity reservations — how ARM clients find where a size can be reserved.
//!
//! The sizes are a catalogue of common families plus every size the scenario names; a size
//! whose scenario count is negative in a zone is listed with a `Zone` restriction
//! (`NotAvailableForSubscription`) for that zone, as ARM reports sizes a subscription cannot
//! use there.

use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{Value, json};

use super::error::ArmError;
use super::groups::regions;
use super::{CLOUD, Ctx, json_response};

/// VM sizes every location offers unless the scenario says otherwise.
const CATALOG: &[&str] = &[
    "Standard_D2s_v5",
    "Standard_D4s_v5",
    "Standard_D8s_v5",
    "Standard_D16s_v5",
    "Standard_D32s_v5",
    "Standard_D64s_v5",
    "Standard_D2_v4",
    "Standard_D4_v4",
    "Standard_D8_v4",
    "Standard_E4s_v5",
    "Standard_E8s_v5",
    "Standard_E16s_v5",
    "Standard_E32s_v5",
    "Standard_F2s_v2",
    "Standard_F4s_v2",
    "Standard_F8s_v2",
    "Standard_F16s_v2",
    "Standard_F32s_v2",
    "Standard_F8as_v6",
    "Standard_F16as_v6",
    "Standard_F32as_v6",
    "Standard_L8s_v3",
    "Standard_L16s_v3",
    "Standard_L32s_v3",
    "Standard_L48s_v3",
    "Standard_L64s_v3",
    "Standard_L80s_v3",
    "Standard_L8as_v3",
    "Standard_L16as_v3",
    "Standard_L32as_v3",
    "Standard_L8s_v4",
    "Standard_L16s_v4",
    "Standard_L32s_v4",
];

/// Splits `Standard_L8s_v3` into (`L`, 8, `s`, `v3`).
fn parse_size(name: &str) -> Option<(String, u32, String, String)> {
    let rest = name.strip_prefix("Standard_")?;
    let (body, version) = rest.split_once('_').unwrap_or((rest, ""));
    let letters: String = body.chars().take_while(char::is_ascii_alphabetic).collect();
    let digits: String = body[letters.len()..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    let suffix = body[letters.len() + digits.len()..].to_owned();
    Some((letters, digits.parse().ok()?, suffix, version.to_owned()))
}

/// The vCPUs of a size (`Standard_L8s_v3` → 8; 0 when the name does not parse).
pub(super) fn vcpus(name: &str) -> u32 {
    parse_size(name).map_or(0, |(_, n, _, _)| n)
}

/// The SKU's family as quota and SKU listings name it (`standardLSv3Family`).
pub(super) fn family(name: &str) -> String {
    match parse_size(name) {
        Some((letters, _, suffix, version)) => format!(
            "standard{}{}{}Family",
            letters.to_ascii_uppercase(),
            suffix.to_ascii_uppercase(),
            version
        ),
        None => "standardFamily".to_owned(),
    }
}

fn capabilities(name: &str) -> Value {
    let (letters, vcpus, suffix, _) = parse_size(name).unwrap_or_default();
    let gb_per_vcpu = match letters.as_str() {
        "E" | "L" => 8,
        "F" => 2,
        _ => 4,
    };
    json!([
        {"name": "vCPUs", "value": vcpus.to_string()},
        {"name": "vCPUsAvailable", "value": vcpus.to_string()},
        {"name": "MemoryGB", "value": (vcpus * gb_per_vcpu).to_string()},
        {"name": "HyperVGenerations", "value": "V1,V2"},
        {"name": "PremiumIO", "value": if suffix.contains('s') { "True" } else { "False" }},
        {"name": "CapacityReservationSupported", "value": "True"},
        {"name": "SupportedCapacityReservationTypes", "value": "Targeted"},
    ])
}

/// `location eq 'eastus'` out of `$filter`.
fn filter_location(filter: &str) -> Option<String> {
    let (_, rest) = filter.split_once("location eq")?;
    let v = rest.trim().trim_start_matches('\'');
    Some(
        v.split('\'')
            .next()
            .unwrap_or_default()
            .to_ascii_lowercase(),
    )
}

/// The sizes a region lists: the catalogue, then every other size the scenario's region
/// names.
pub(super) fn sizes(region: Option<&crate::scenario::RegionScenario>) -> Vec<String> {
    let mut sizes: Vec<String> = CATALOG.iter().map(|s| (*s).to_owned()).collect();
    if let Some(r) = region {
        for types in r.zones.values() {
            for t in types.keys() {
                if !sizes.contains(t) {
                    sizes.push(t.clone());
                }
            }
        }
    }
    sizes
}

/// `GET /subscriptions/{sub}/providers/Microsoft.Compute/skus`.
pub(super) fn list(ctx: &Ctx<'_>) -> Result<Response, ArmError> {
    let want = match ctx.param("$filter") {
        Some(f) => Some(filter_location(f).ok_or_else(|| {
            ArmError::new(
                StatusCode::BAD_REQUEST,
                "InvalidFilter",
                format!("The filter '{f}' is not supported; use \"location eq '<location>'\"."),
            )
        })?),
        None => None,
    };
    let scenario = ctx.app.world.scenario_arc();
    let named = &scenario.clouds.get(CLOUD).regions;
    let world = &ctx.app.world;
    let mut items = Vec::new();
    for region in regions(ctx) {
        if want.as_ref().is_some_and(|w| *w != region.name) {
            continue;
        }
        for size in sizes(named.get(&region.name)) {
            let offered: Vec<&String> = region
                .zones
                .iter()
                .filter(|z| world.offered(CLOUD, &region.name, z, &size))
                .collect();
            let refused: Vec<&String> = region
                .zones
                .iter()
                .filter(|z| !offered.contains(z))
                .collect();
            let regional_ok = world.offered(CLOUD, &region.name, "", &size);
            let mut restrictions = Vec::new();
            if !refused.is_empty() {
                restrictions.push(json!({
                    "type": "Zone",
                    "values": [region.name],
                    "restrictionInfo": {"locations": [region.name], "zones": refused},
                    "reasonCode": "NotAvailableForSubscription",
                }));
            }
            if !regional_ok && offered.is_empty() {
                restrictions.push(json!({
                    "type": "Location",
                    "values": [region.name],
                    "restrictionInfo": {"locations": [region.name]},
                    "reasonCode": "NotAvailableForSubscription",
                }));
            }
            items.push(json!({
                "resourceType": "virtualMachines",
                "name": size,
                "tier": "Standard",
                "size": size.strip_prefix("Standard_").unwrap_or(&size),
                "family": family(&size),
                "locations": [region.name],
                "locationInfo": [{
                    "location": region.name,
                    "zones": region.zones,
                    "zoneDetails": [],
                }],
                "capabilities": capabilities(&size),
                "restrictions": restrictions,
            }));
        }
    }
    Ok(json_response(StatusCode::OK, &ctx.page(items)))
}

/// The vCPUs of a size and the quota metrics it draws on: its family
/// (`standardDSv5Family`) and the regional total `cores`.
pub(crate) fn quota_shape(name: &str) -> crate::quota::QuotaShape {
    crate::quota::QuotaShape {
        vcpus: vcpus(name),
        metrics: vec![family(name), "cores".to_owned()],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn families_follow_azure_naming() {
        assert_eq!(family("Standard_L8s_v3"), "standardLSv3Family");
        assert_eq!(family("Standard_D2_v4"), "standardDv4Family");
        assert_eq!(family("Standard_L16as_v3"), "standardLASv3Family");
    }

    #[test]
    fn filter_takes_the_location() {
        assert_eq!(
            filter_location("location eq 'EastUS'").as_deref(),
            Some("eastus")
        );
        assert_eq!(filter_location("name eq 'x'"), None);
    }
}
