//! Which cloud permission each emulated operation needs: what the real cloud's authorizer
//! checks for that API call, written from the clouds' IAM references (not from cr's
//! permission manifests), so a test can check a manifest against the request log.
//!
//! [`required_permissions`] answers `None` for an operation the emulator does not know and
//! `Some(&[])` for one that needs no permission (the token endpoints). EC2 checks
//! `ec2:CreateTags` as well for a `CreateCapacityReservation` carrying `TagSpecifications`
//! (tag-on-create); OCI's are the permission names of its policy reference (a policy verb on
//! a resource type grants a set of them).

use crate::world::CloudKind;

/// The permissions `cloud` checks before carrying out `operation` (the name the request log
/// shows), or `None` when the emulator does not know the operation.
pub fn required_permissions(cloud: CloudKind, operation: &str) -> Option<&'static [&'static str]> {
    match cloud {
        CloudKind::Aws => aws(operation),
        CloudKind::Gce => gce(operation),
        CloudKind::Azure => azure(operation),
        CloudKind::Oci => oci(operation),
    }
}

fn aws(operation: &str) -> Option<&'static [&'static str]> {
    Some(match operation {
        // Tag-on-create: the tags of TagSpecifications are authorized as ec2:CreateTags with
        // the condition key ec2:CreateAction = CreateCapacityReservation.
        "CreateCapacityReservation" => &["ec2:CreateCapacityReservation", "ec2:CreateTags"],
        "CancelCapacityReservation" => &["ec2:CancelCapacityReservation"],
        "DescribeCapacityReservations" => &["ec2:DescribeCapacityReservations"],
        "DescribeRegions" => &["ec2:DescribeRegions"],
        "DescribeAvailabilityZones" => &["ec2:DescribeAvailabilityZones"],
        "DescribeInstanceTypeOfferings" => &["ec2:DescribeInstanceTypeOfferings"],
        "DescribePlacementGroups" => &["ec2:DescribePlacementGroups"],
        _ => return None,
    })
}

fn gce(operation: &str) -> Option<&'static [&'static str]> {
    Some(match operation {
        "token" => &[],
        "reservations.insert" => &["compute.reservations.create"],
        "reservations.delete" => &["compute.reservations.delete"],
        "reservations.get" => &["compute.reservations.get"],
        "reservations.list" | "reservations.aggregatedList" => &["compute.reservations.list"],
        "zoneOperations.get" | "zoneOperations.wait" => &["compute.zoneOperations.get"],
        "zoneOperations.list" => &["compute.zoneOperations.list"],
        "zones.list" => &["compute.zones.list"],
        "zones.get" => &["compute.zones.get"],
        "regions.list" => &["compute.regions.list"],
        "regions.get" => &["compute.regions.get"],
        _ => return None,
    })
}

fn azure(operation: &str) -> Option<&'static [&'static str]> {
    const RG_READ: &str = "Microsoft.Resources/subscriptions/resourceGroups/read";
    const RG_WRITE: &str = "Microsoft.Resources/subscriptions/resourceGroups/write";
    const GROUP_READ: &str = "Microsoft.Compute/capacityReservationGroups/read";
    const GROUP_WRITE: &str = "Microsoft.Compute/capacityReservationGroups/write";
    const CR_READ: &str = "Microsoft.Compute/capacityReservationGroups/capacityReservations/read";
    const CR_WRITE: &str = "Microsoft.Compute/capacityReservationGroups/capacityReservations/write";
    Some(match operation {
        "oauth2.token" | "oauth2.openid-configuration" | "oauth2.instance-discovery" => &[],
        "Subscriptions_Get" => &["Microsoft.Resources/subscriptions/read"],
        "Subscriptions_ListLocations" => &["Microsoft.Resources/subscriptions/locations/read"],
        "ResourceSkus_List" => &["Microsoft.Compute/skus/read"],
        "ResourceGroups_Get" | "ResourceGroups_List" | "ResourceGroups_CheckExistence" => {
            &[RG_READ]
        }
        "ResourceGroups_CreateOrUpdate" | "ResourceGroups_Update" => &[RG_WRITE],
        "ResourceGroups_Delete" => &["Microsoft.Resources/subscriptions/resourceGroups/delete"],
        "OperationResults_Get" => &["Microsoft.Resources/subscriptions/operationresults/read"],
        "CapacityReservationGroups_Get"
        | "CapacityReservationGroups_ListByResourceGroup"
        | "CapacityReservationGroups_ListBySubscription" => &[GROUP_READ],
        "CapacityReservationGroups_CreateOrUpdate" | "CapacityReservationGroups_Update" => {
            &[GROUP_WRITE]
        }
        "CapacityReservationGroups_Delete" => {
            &["Microsoft.Compute/capacityReservationGroups/delete"]
        }
        "CapacityReservations_Get" | "CapacityReservations_ListByCapacityReservationGroup" => {
            &[CR_READ]
        }
        "CapacityReservations_CreateOrUpdate" | "CapacityReservations_Update" => &[CR_WRITE],
        "CapacityReservations_Delete" => {
            &["Microsoft.Compute/capacityReservationGroups/capacityReservations/delete"]
        }
        "OperationStatus_Get" => &["Microsoft.Compute/locations/operations/read"],
        "Usage_List" => &["Microsoft.Compute/locations/usages/read"],
        // Every principal may read its own permissions.
        "Permissions_ListForSubscription" | "Permissions_ListForResourceGroup" => &[],
        _ => return None,
    })
}

fn oci(operation: &str) -> Option<&'static [&'static str]> {
    const READ: &str = "COMPUTE_CAPACITY_RESERVATION_READ";
    Some(match operation {
        "CreateComputeCapacityReservation" => &["COMPUTE_CAPACITY_RESERVATION_CREATE"],
        "DeleteComputeCapacityReservation" => &["COMPUTE_CAPACITY_RESERVATION_DELETE"],
        "UpdateComputeCapacityReservation" => &["COMPUTE_CAPACITY_RESERVATION_UPDATE"],
        "ChangeComputeCapacityReservationCompartment" => &["COMPUTE_CAPACITY_RESERVATION_MOVE"],
        "GetComputeCapacityReservation" | "ListComputeCapacityReservationInstances" => &[READ],
        "ListComputeCapacityReservations" | "ListComputeCapacityReservationInstanceShapes" => {
            &["COMPUTE_CAPACITY_RESERVATION_INSPECT"]
        }
        // A work request is authorized by the permissions of the resource it is about.
        "GetWorkRequest" | "ListWorkRequestErrors" => &[READ],
        "ListAvailabilityDomains" | "GetCompartment" => &["COMPARTMENT_INSPECT"],
        "ListRegionSubscriptions" => &["TENANCY_INSPECT"],
        // ListRegions is public: no authorization.
        "ListRegions" => &[],
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_and_unknown_operations() {
        assert_eq!(
            required_permissions(CloudKind::Aws, "CreateCapacityReservation"),
            Some(&["ec2:CreateCapacityReservation", "ec2:CreateTags"][..])
        );
        assert_eq!(required_permissions(CloudKind::Gce, "token"), Some(&[][..]));
        assert_eq!(required_permissions(CloudKind::Oci, "Unknown"), None);
        assert_eq!(
            required_permissions(CloudKind::Azure, "CapacityReservations_Delete"),
            Some(&["Microsoft.Compute/capacityReservationGroups/capacityReservations/delete"][..])
        );
    }
}
