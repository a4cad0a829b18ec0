//! The IAM policy statements this backend needs (`cr permissions --backend oci`), the
//! permissions they grant and which API operation each one is for. `<group>` and
//! `<compartment>` are placeholders for the group of the user in `~/.oci/config` and the
//! compartment of `oci_compartment_id` (the tenancy itself when unset: write `in tenancy`
//! then).
//!
//! As narrow as OCI allows: the capacity-reservation statement is limited by
//! `request.permission` to the four permissions cr's calls need (not UPDATE or MOVE), and the
//! two identity statements are `inspect`, the weakest verb. OCI cannot condition a statement
//! on a resource's freeform tags (only defined tags have `target.resource.tag` variables), so
//! deletes cannot be limited to cr's reservations by tag; keep cr in its own compartment to
//! fence them in.

/// Every permission the backend's calls need, with what it is for.
pub const PERMISSIONS: &[(&str, &str)] = &[
    (
        "COMPUTE_CAPACITY_RESERVATION_INSPECT",
        "ListComputeCapacityReservations (finding the test's reservations by tag) and \
         ListComputeCapacityReservationInstanceShapes (the shapes an AD offers)",
    ),
    (
        "COMPUTE_CAPACITY_RESERVATION_READ",
        "GetComputeCapacityReservation (until ACTIVE, before a delete) and the create's and \
         delete's work requests (GetWorkRequest, ListWorkRequestErrors)",
    ),
    (
        "COMPUTE_CAPACITY_RESERVATION_CREATE",
        "CreateComputeCapacityReservation",
    ),
    (
        "COMPUTE_CAPACITY_RESERVATION_DELETE",
        "DeleteComputeCapacityReservation (rollback, cancel, cleanup)",
    ),
    (
        "COMPARTMENT_INSPECT",
        "ListAvailabilityDomains (the region's ADs)",
    ),
    (
        "TENANCY_INSPECT",
        "ListRegionSubscriptions (every subscribed region, for cleanup)",
    ),
];

/// Every API operation the backend calls, with the policy statement that allows it.
pub const OPERATIONS: &[(&str, &str)] = &[
    ("CreateComputeCapacityReservation", MANAGE),
    ("GetComputeCapacityReservation", MANAGE),
    ("ListComputeCapacityReservations", MANAGE),
    ("DeleteComputeCapacityReservation", MANAGE),
    // Work requests of capacity reservations are authorized by the reservation's own
    // permissions.
    ("GetWorkRequest", MANAGE),
    ("ListWorkRequestErrors", MANAGE),
    ("ListComputeCapacityReservationInstanceShapes", MANAGE),
    ("ListAvailabilityDomains", INSPECT_COMPARTMENTS),
    ("ListRegionSubscriptions", INSPECT_TENANCY),
];

const MANAGE: &str = "Allow group <group> to manage compute-capacity-reservations in compartment <compartment> \
     where any {request.permission = 'COMPUTE_CAPACITY_RESERVATION_INSPECT', \
     request.permission = 'COMPUTE_CAPACITY_RESERVATION_READ', \
     request.permission = 'COMPUTE_CAPACITY_RESERVATION_CREATE', \
     request.permission = 'COMPUTE_CAPACITY_RESERVATION_DELETE'}";
const INSPECT_COMPARTMENTS: &str = "Allow group <group> to inspect compartments in tenancy";
const INSPECT_TENANCY: &str = "Allow group <group> to inspect tenancies in tenancy";
/// Needed only with `oci_defined_tag_namespace` set.
pub const USE_TAG_NAMESPACE: &str = "Allow group <group> to use tag-namespaces in tenancy where target.tag-namespace.name = '<namespace>'";

/// Read by the preflight only (`cr doctor`): the service limits and their use (Limits
/// `ListLimitValues`, `GetResourceAvailability`). Without it the quota is reported as not
/// checkable, never as a failure.
pub const INSPECT_LIMITS: &str = "Allow group <group> to inspect resource-availability in tenancy";

/// The statement granting `permission`.
pub(crate) fn statement_of(permission: &str) -> &'static str {
    match permission {
        "COMPARTMENT_INSPECT" => INSPECT_COMPARTMENTS,
        "TENANCY_INSPECT" => INSPECT_TENANCY,
        _ => MANAGE,
    }
}

/// The distinct statements, in order.
pub fn statements() -> Vec<&'static str> {
    let mut out: Vec<&'static str> = Vec::new();
    for (_, s) in OPERATIONS {
        if !out.contains(s) {
            out.push(s);
        }
    }
    out
}

/// The permissions document of this backend (every cloud crate has this function): the
/// policy statements, the optional one for defined tags, the permissions they grant (with
/// the statement granting each) and the operation each statement serves.
pub fn permissions() -> serde_json::Value {
    let operations: serde_json::Map<String, serde_json::Value> = OPERATIONS
        .iter()
        .map(|(op, s)| ((*op).to_string(), serde_json::Value::from(*s)))
        .collect();
    let permissions: serde_json::Map<String, serde_json::Value> = PERMISSIONS
        .iter()
        .map(|(p, _)| ((*p).to_string(), serde_json::Value::from(statement_of(p))))
        .collect();
    serde_json::json!({
        "description": "OCI IAM policy statements for cr capacity reservations (oci iam policy create --statements ...). \
                        Replace <group> and <compartment>; with reservations in the root compartment write `in tenancy`.",
        "statements": statements(),
        "optional_statements": {
            "oci_defined_tag_namespace": USE_TAG_NAMESPACE,
            "preflight_quota": INSPECT_LIMITS,
        },
        "permissions": permissions,
        "operations": operations,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_operation_has_a_listed_statement() {
        let doc = permissions();
        let listed: Vec<&str> = doc["statements"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap())
            .collect();
        assert_eq!(listed.len(), 3);
        for (op, s) in OPERATIONS {
            assert!(listed.contains(s), "{op}");
            assert_eq!(doc["operations"][op], *s);
        }
    }

    #[test]
    fn the_manage_statement_is_limited_to_the_listed_permissions() {
        for (p, _) in PERMISSIONS {
            let s = statement_of(p);
            assert!(statements().contains(&s), "{p}");
            if s == MANAGE {
                assert!(s.contains(&format!("request.permission = '{p}'")), "{p}");
            }
        }
        let conditions = MANAGE.matches("request.permission").count();
        let reservation_permissions = PERMISSIONS
            .iter()
            .filter(|(p, _)| p.starts_with("COMPUTE_CAPACITY_RESERVATION_"))
            .count();
        assert_eq!(conditions, reservation_permissions);
        assert!(!MANAGE.contains("UPDATE") && !MANAGE.contains("MOVE"));
    }
}
