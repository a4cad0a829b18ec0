//! The RBAC actions this backend uses, as a custom role definition
//! (`az role definition create --role-definition role.json`, after replacing
//! `/subscriptions/<subscription-id>` in `AssignableScopes`).

/// `Microsoft.Resources/subscriptions/locations/read`: the subscription's regions. Not in
/// [`PERMISSIONS`]: the adapter lists every region's groups in one subscription-wide call
/// (`lists_all_regions`), so the engine never asks for the regions.
pub const LOCATIONS_READ: &str = "Microsoft.Resources/subscriptions/locations/read";
/// `Microsoft.Compute/skus/read`: which zones offer a VM size.
pub const SKUS_READ: &str = "Microsoft.Compute/skus/read";
/// Resource groups: read (and list).
pub const RESOURCE_GROUP_READ: &str = "Microsoft.Resources/subscriptions/resourceGroups/read";
/// Resource groups: create the owned one.
pub const RESOURCE_GROUP_WRITE: &str = "Microsoft.Resources/subscriptions/resourceGroups/write";
/// Resource groups: delete the owned one.
pub const RESOURCE_GROUP_DELETE: &str = "Microsoft.Resources/subscriptions/resourceGroups/delete";
/// The result of a resource group delete.
pub const OPERATION_RESULTS_READ: &str = "Microsoft.Resources/subscriptions/operationresults/read";
/// Capacity reservation groups: read and list.
pub const GROUP_READ: &str = "Microsoft.Compute/capacityReservationGroups/read";
/// Capacity reservation groups: create.
pub const GROUP_WRITE: &str = "Microsoft.Compute/capacityReservationGroups/write";
/// Capacity reservation groups: delete.
pub const GROUP_DELETE: &str = "Microsoft.Compute/capacityReservationGroups/delete";
/// Capacity reservations: read and list.
pub const RESERVATION_READ: &str =
    "Microsoft.Compute/capacityReservationGroups/capacityReservations/read";
/// Capacity reservations: create.
pub const RESERVATION_WRITE: &str =
    "Microsoft.Compute/capacityReservationGroups/capacityReservations/write";
/// Capacity reservations: delete.
pub const RESERVATION_DELETE: &str =
    "Microsoft.Compute/capacityReservationGroups/capacityReservations/delete";
/// The status of a long-running Compute operation (`Azure-AsyncOperation`, `Location`).
pub const OPERATIONS_READ: &str = "Microsoft.Compute/locations/operations/read";

/// Every action the backend's calls need, and nothing else.
pub const PERMISSIONS: &[&str] = &[
    SKUS_READ,
    RESOURCE_GROUP_READ,
    RESOURCE_GROUP_WRITE,
    RESOURCE_GROUP_DELETE,
    OPERATION_RESULTS_READ,
    GROUP_READ,
    GROUP_WRITE,
    GROUP_DELETE,
    RESERVATION_READ,
    RESERVATION_WRITE,
    RESERVATION_DELETE,
    OPERATIONS_READ,
    SUBSCRIPTION_READ,
    USAGES_READ,
];

/// `Microsoft.Compute/locations/usages/read`: the region's vCPU quotas (preflight only).
pub const USAGES_READ: &str = "Microsoft.Compute/locations/usages/read";
/// `Microsoft.Resources/subscriptions/read`: the subscription (the preflight's credential
/// check, a cheap authenticated read).
pub const SUBSCRIPTION_READ: &str = "Microsoft.Resources/subscriptions/read";
/// `Microsoft.Authorization/permissions/read`: the caller's own permissions (preflight).
/// Every principal may read its own, so no role needs to list it.
pub const PERMISSIONS_READ: &str = "Microsoft.Authorization/permissions/read";

/// Whether ARM's action pattern `pattern` (`*`, `Microsoft.Compute/*`,
/// `Microsoft.Compute/*/read`) covers `action`: case-insensitive, `*` matching any run of
/// characters, slashes included.
pub fn action_matches(pattern: &str, action: &str) -> bool {
    fn matches(p: &[u8], a: &[u8]) -> bool {
        match p.split_first() {
            None => a.is_empty(),
            Some((b'*', rest)) => (0..=a.len()).any(|i| matches(rest, &a[i..])),
            Some((c, rest)) => a
                .split_first()
                .is_some_and(|(x, tail)| x.eq_ignore_ascii_case(c) && matches(rest, tail)),
        }
    }
    matches(pattern.trim().as_bytes(), action.as_bytes())
}

/// Whether the caller may perform `action`, given the entries of
/// `Microsoft.Authorization/permissions` (one per role assignment that applies at the scope,
/// each a list of `actions` less its `notActions`): allowed when one entry's actions cover it
/// and that same entry's notActions do not (a `notAction` subtracts only within its own role;
/// it is no deny).
pub fn allowed(entries: &[(Vec<String>, Vec<String>)], action: &str) -> bool {
    entries.iter().any(|(actions, not_actions)| {
        actions.iter().any(|p| action_matches(p, action))
            && !not_actions.iter().any(|p| action_matches(p, action))
    })
}

/// The action the emulator's (and ARM's) operation name needs, for checking the role
/// against a request log. `None` for operations this backend never calls.
pub fn action_of_operation(operation: &str) -> Option<&'static str> {
    Some(match operation {
        "Subscriptions_ListLocations" => LOCATIONS_READ,
        "ResourceSkus_List" => SKUS_READ,
        "ResourceGroups_Get" | "ResourceGroups_List" | "ResourceGroups_CheckExistence" => {
            RESOURCE_GROUP_READ
        }
        "ResourceGroups_CreateOrUpdate" | "ResourceGroups_Update" => RESOURCE_GROUP_WRITE,
        "ResourceGroups_Delete" => RESOURCE_GROUP_DELETE,
        "OperationResults_Get" => OPERATION_RESULTS_READ,
        "CapacityReservationGroups_Get"
        | "CapacityReservationGroups_ListByResourceGroup"
        | "CapacityReservationGroups_ListBySubscription" => GROUP_READ,
        "CapacityReservationGroups_CreateOrUpdate" | "CapacityReservationGroups_Update" => {
            GROUP_WRITE
        }
        "CapacityReservationGroups_Delete" => GROUP_DELETE,
        "CapacityReservations_Get" | "CapacityReservations_ListByCapacityReservationGroup" => {
            RESERVATION_READ
        }
        "CapacityReservations_CreateOrUpdate" | "CapacityReservations_Update" => RESERVATION_WRITE,
        "CapacityReservations_Delete" => RESERVATION_DELETE,
        "OperationStatus_Get" => OPERATIONS_READ,
        "Usage_List" => USAGES_READ,
        "Subscriptions_Get" => SUBSCRIPTION_READ,
        "Permissions_ListForResourceGroup" | "Permissions_ListForSubscription" => PERMISSIONS_READ,
        _ => return None,
    })
}

/// The custom role definition. It is assigned at the subscription: the Resource SKUs list and
/// the subscription-wide listing of capacity reservation groups (cleanup) are
/// subscription-level calls, which a role assigned at one resource group does not cover.
pub fn role_definition() -> serde_json::Value {
    serde_json::json!({
        "Name": "cr capacity reservations",
        "IsCustom": true,
        "Description": "Create, list and delete capacity reservation groups and capacity reservations (and cr's own resource groups) for test clusters (cr).",
        "Actions": PERMISSIONS,
        "NotActions": [],
        "DataActions": [],
        "NotDataActions": [],
        "AssignableScopes": ["/subscriptions/<subscription-id>"],
    })
}

/// The permissions document of this backend (every cloud crate has this function): the
/// custom [`role_definition`].
pub fn permissions() -> serde_json::Value {
    role_definition()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards_and_not_actions_follow_arm() {
        assert!(action_matches("*", GROUP_WRITE));
        assert!(action_matches("Microsoft.Compute/*", RESERVATION_DELETE));
        assert!(action_matches("microsoft.compute/*/read", GROUP_READ));
        assert!(action_matches("Microsoft.Compute/*/read", RESERVATION_READ));
        assert!(!action_matches("Microsoft.Compute/*/read", GROUP_WRITE));
        assert!(!action_matches("Microsoft.Resources/*", GROUP_WRITE));
        assert!(action_matches(GROUP_WRITE, &GROUP_WRITE.to_uppercase()));
        let contributor_without_deletes = vec![(
            vec!["*".to_string()],
            vec!["Microsoft.Compute/*/delete".to_string()],
        )];
        assert!(allowed(&contributor_without_deletes, GROUP_WRITE));
        assert!(!allowed(&contributor_without_deletes, GROUP_DELETE));
        assert!(!allowed(&contributor_without_deletes, RESERVATION_DELETE));
        // Another role granting the delete wins: notActions subtract within their own role.
        let mut with_other = contributor_without_deletes.clone();
        with_other.push((vec![GROUP_DELETE.to_string()], vec![]));
        assert!(allowed(&with_other, GROUP_DELETE));
        assert!(!allowed(&[], SKUS_READ));
    }

    #[test]
    fn the_role_lists_exactly_the_actions_once() {
        let role = role_definition();
        let listed: Vec<&str> = role["Actions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap())
            .collect();
        assert_eq!(listed, PERMISSIONS);
        let mut unique = listed.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), listed.len());
        assert_eq!(role["IsCustom"], true);
        for action in PERMISSIONS {
            assert!(
                [
                    "CapacityReservations_Delete",
                    "CapacityReservations_CreateOrUpdate",
                    "CapacityReservations_Get",
                    "CapacityReservationGroups_Delete",
                    "CapacityReservationGroups_CreateOrUpdate",
                    "CapacityReservationGroups_Get",
                    "ResourceGroups_Delete",
                    "ResourceGroups_CreateOrUpdate",
                    "ResourceGroups_Get",
                    "OperationResults_Get",
                    "OperationStatus_Get",
                    "ResourceSkus_List",
                    "Usage_List",
                    "Subscriptions_Get",
                ]
                .iter()
                .any(|op| action_of_operation(op) == Some(action)),
                "{action} is used by some operation"
            );
        }
    }
}
