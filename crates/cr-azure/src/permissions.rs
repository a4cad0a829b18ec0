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
];

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
                ]
                .iter()
                .any(|op| action_of_operation(op) == Some(action)),
                "{action} is used by some operation"
            );
        }
    }
}
