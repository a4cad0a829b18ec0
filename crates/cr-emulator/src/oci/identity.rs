//! The Identity calls a capacity tool needs: availability domains of a region, the realm's
//! regions, and the tenancy's region subscriptions (real OCI serves these on
//! `identity.{region}.oci.oraclecloud.com`; the emulator serves them next to Core), plus Core's
//! list of shapes that can be reserved in each availability domain.

use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::{CLOUD, Ctx, OciError, json_response};

/// A stable OCID-shaped id derived from a name.
pub(super) fn stable_ocid(kind: &str, realm_part: &str, name: &str) -> String {
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz234567";
    let digest = Sha256::digest(name.as_bytes());
    let tail: String = digest
        .iter()
        .take(26)
        .map(|b| char::from(ALPHABET[usize::from(*b) % ALPHABET.len()]))
        .collect();
    format!("ocid1.{kind}.oc1.{realm_part}.aaaaaaaa{tail}")
}

/// Whether a compartment id is one the tenancy has: the tenancy itself or any compartment
/// OCID (the emulator has no compartment tree).
pub(super) fn known_compartment(ctx: &Ctx<'_>, id: &str) -> bool {
    id == ctx.app.creds.oci.tenancy_ocid || id.starts_with("ocid1.compartment.")
}

/// `GET /20160918/availabilityDomains?compartmentId=...`.
pub(super) fn availability_domains(ctx: &Ctx<'_>) -> Result<Response, OciError> {
    let Some(compartment) = ctx.param("compartmentId") else {
        return Err(OciError::missing("compartmentId"));
    };
    if !known_compartment(ctx, compartment) {
        return Err(OciError::not_found());
    }
    let items: Vec<Value> = ctx
        .region
        .zones
        .iter()
        .map(|ad| {
            json!({
                "name": ad,
                "id": stable_ocid("availabilitydomain", "", ad),
                "compartmentId": compartment,
            })
        })
        .collect();
    Ok(json_response(StatusCode::OK, &Value::Array(items)))
}

/// Shapes every availability domain offers for capacity reservations unless the scenario
/// marks them not offered (a negative count).
pub(super) const SHAPES: &[&str] = &[
    "VM.Standard2.1",
    "VM.Standard2.2",
    "VM.Standard2.4",
    "VM.Standard2.8",
    "VM.Standard2.16",
    "VM.Standard3.Flex",
    "VM.Standard.E3.Flex",
    "VM.Standard.E4.Flex",
    "VM.Standard.E5.Flex",
    "VM.Standard.A1.Flex",
    "VM.Optimized3.Flex",
    "VM.DenseIO2.8",
    "VM.DenseIO2.16",
    "VM.DenseIO.E4.Flex",
    "VM.DenseIO.E5.Flex",
    "BM.Standard2.52",
    "BM.Standard3.64",
    "BM.Standard.E4.128",
    "BM.Standard.E5.192",
    "BM.DenseIO.E4.128",
    "BM.DenseIO.E5.128",
];

/// `GET /20160918/computeCapacityReservationInstanceShapes?compartmentId=...`.
pub(super) fn reservable_shapes(ctx: &Ctx<'_>) -> Result<Response, OciError> {
    let Some(compartment) = ctx.param("compartmentId") else {
        return Err(OciError::missing("compartmentId"));
    };
    if !known_compartment(ctx, compartment) {
        return Err(OciError::not_found());
    }
    let want_ad = ctx.param("availabilityDomain");
    let scenario = ctx.app.world.scenario_arc();
    let named = scenario.clouds.get(CLOUD).regions.get(&ctx.region.name);
    let mut shapes: Vec<String> = SHAPES.iter().map(|s| (*s).to_owned()).collect();
    if let Some(r) = named {
        for types in r.zones.values() {
            for t in types.keys() {
                if !shapes.contains(t) {
                    shapes.push(t.clone());
                }
            }
        }
    }
    shapes.sort();
    let mut items = Vec::new();
    for ad in &ctx.region.zones {
        if want_ad.is_some_and(|w| !w.eq_ignore_ascii_case(ad)) {
            continue;
        }
        for shape in &shapes {
            if ctx.app.world.offered(CLOUD, &ctx.region.name, ad, shape) {
                items.push(json!({"availabilityDomain": ad, "instanceShape": shape}));
            }
        }
    }
    if ctx.param("sortOrder") == Some("DESC") {
        items.reverse();
    }
    super::paged(ctx, items)
}

/// `GET /20160918/regions`.
pub(super) fn regions(ctx: &Ctx<'_>) -> Response {
    let items: Vec<Value> = ctx
        .app
        .world
        .regions(CLOUD)
        .into_iter()
        .map(|r| json!({"key": r.key, "name": r.name}))
        .collect();
    json_response(StatusCode::OK, &Value::Array(items))
}

/// `GET /20160918/compartments/{compartmentId}` (`GetCompartment`): the tenancy (root
/// compartment) or any compartment OCID; anything else is `404 NotAuthorizedOrNotFound`.
pub(super) fn get_compartment(ctx: &Ctx<'_>, id: &str) -> Result<Response, OciError> {
    if !known_compartment(ctx, id) {
        return Err(OciError::not_found());
    }
    let tenancy = &ctx.app.creds.oci.tenancy_ocid;
    let root = id == tenancy;
    Ok(json_response(
        StatusCode::OK,
        &json!({
            "id": id,
            "compartmentId": if root { Value::Null } else { json!(tenancy) },
            "name": if root { "cr-emulator-tenancy" } else { "cr-emulator" },
            "description": if root { "The root compartment" } else { "A compartment of the emulator" },
            "timeCreated": "2024-01-01T00:00:00.000Z",
            "lifecycleState": "ACTIVE",
            "isAccessible": true,
            "freeformTags": {},
            "definedTags": {},
        }),
    ))
}

/// `GET /20160918/tenancies/{tenancyId}/regionSubscriptions`.
pub(super) fn region_subscriptions(ctx: &Ctx<'_>, tenancy: &str) -> Result<Response, OciError> {
    if tenancy != ctx.app.creds.oci.tenancy_ocid {
        return Err(OciError::not_found());
    }
    let home = &ctx.app.creds.oci.default_region;
    let items: Vec<Value> = ctx
        .app
        .world
        .regions(CLOUD)
        .into_iter()
        .filter(|r| {
            &r.name == home
                || ctx
                    .opts
                    .subscribed_regions
                    .as_ref()
                    .is_none_or(|list| list.contains(&r.name))
        })
        .map(|r| {
            json!({
                "regionKey": r.key,
                "regionName": r.name,
                "status": "READY",
                "isHomeRegion": &r.name == home,
            })
        })
        .collect();
    Ok(json_response(StatusCode::OK, &Value::Array(items)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stable_ocids_are_stable_and_distinct() {
        let a = stable_ocid("availabilitydomain", "", "Emul:PHX-AD-1");
        assert_eq!(a, stable_ocid("availabilitydomain", "", "Emul:PHX-AD-1"));
        assert_ne!(a, stable_ocid("availabilitydomain", "", "Emul:PHX-AD-2"));
        assert!(a.starts_with("ocid1.availabilitydomain.oc1..aaaaaaaa"));
    }
}
