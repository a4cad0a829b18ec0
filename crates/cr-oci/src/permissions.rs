//! The IAM policy statements this backend needs (`cr permissions --backend oci`), and which
//! API operation each one is for. `<group>` and `<compartment>` are placeholders for the
//! group of the user in `~/.oci/config` and the compartment of `oci_compartment_id` (the
//! tenancy itself when unset: write `in tenancy` then).

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

const MANAGE: &str =
    "Allow group <group> to manage compute-capacity-reservations in compartment <compartment>";
const INSPECT_COMPARTMENTS: &str = "Allow group <group> to inspect compartments in tenancy";
const INSPECT_TENANCY: &str = "Allow group <group> to inspect tenancies in tenancy";
/// Needed only with `oci_defined_tag_namespace` set.
pub const USE_TAG_NAMESPACE: &str = "Allow group <group> to use tag-namespaces in tenancy where target.tag-namespace.name = '<namespace>'";

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
/// policy statements, the optional one for defined tags, and the operation each serves.
pub fn permissions() -> serde_json::Value {
    let operations: serde_json::Map<String, serde_json::Value> = OPERATIONS
        .iter()
        .map(|(op, s)| ((*op).to_string(), serde_json::Value::from(*s)))
        .collect();
    serde_json::json!({
        "description": "OCI IAM policy statements for cr capacity reservations (oci iam policy create --statements ...). \
                        Replace <group> and <compartment>; with reservations in the root compartment write `in tenancy`.",
        "statements": statements(),
        "optional_statements": {"oci_defined_tag_namespace": USE_TAG_NAMESPACE},
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
}
