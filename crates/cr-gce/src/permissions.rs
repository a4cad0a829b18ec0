//! The IAM permissions this backend uses, as a custom-role definition
//! (`gcloud iam roles create cr_reservations --project=P --file=role.json`).

/// Every permission the backend's calls need, and nothing else.
pub const PERMISSIONS: &[&str] = &[
    // reservations.insert
    "compute.reservations.create",
    // reservations.delete
    "compute.reservations.delete",
    // reservations.get after an insert, before a delete, and when adopting an existing one
    "compute.reservations.get",
    // reservations.aggregatedList (discover, cancel, cleanup)
    "compute.reservations.list",
    // zoneOperations.get while an insert is pending, zoneOperations.wait on every delete
    "compute.zoneOperations.get",
    // zones.list: the candidate zones of a region
    "compute.zones.list",
    // Not compute.regions.list: cancel_all_regions is one aggregated list (lists_all_regions),
    // so the engine never asks for the regions.
];

/// The custom-role definition.
pub fn role_definition() -> serde_json::Value {
    serde_json::json!({
        "title": "cr capacity reservations",
        "description": "Create, list and delete Compute Engine reservations for test clusters (cr).",
        "stage": "GA",
        "includedPermissions": PERMISSIONS,
    })
}

/// The permissions document of this backend (every cloud crate has this function): the
/// custom-role [`role_definition`].
pub fn permissions() -> serde_json::Value {
    role_definition()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_role_lists_exactly_the_permissions() {
        let role = role_definition();
        let listed: Vec<&str> = role["includedPermissions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap())
            .collect();
        assert_eq!(listed, PERMISSIONS);
        assert_eq!(role["stage"], "GA");
        let mut unique = listed.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), listed.len());
    }
}
