//! The Identity calls a capacity tool needs: availability domains of a region, the realm's
//! regions, and the tenancy's region subscriptions. Real OCI serves these on
//! `identity.{region}.oci.oraclecloud.com`; the emulator serves them next to Core.

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
