//! The IAM policy this backend needs: `cr permissions --backend aws` prints it.
//!
//! As narrow as EC2 allows: the describe actions support no resource-level permissions, so
//! they are granted on `*`; creating is allowed only with cr's `CreatedBy=cr` tag in the
//! request, tagging only as part of that create, and cancelling only reservations carrying a
//! `TestId` tag (cr's cleanup key: cr never cancels anything else).

use cr_core::tags::{CREATED_BY, CREATED_BY_VALUE, TEST_ID};

/// Every EC2 action the backend calls, sorted. `ec2:CreateTags` is not called on its own,
/// but EC2 authorizes tag-on-create (the `TagSpecifications` of CreateCapacityReservation)
/// against it.
pub const ACTIONS: &[&str] = &[
    "ec2:CancelCapacityReservation",
    "ec2:CreateCapacityReservation",
    "ec2:CreateTags",
    "ec2:DescribeAvailabilityZones",
    "ec2:DescribeCapacityReservations",
    "ec2:DescribeInstanceTypeOfferings",
    "ec2:DescribePlacementGroups",
    "ec2:DescribeRegions",
];

/// The describe actions: EC2 supports no resource-level permissions or conditions for them,
/// so they are granted on `Resource: "*"`.
pub const DESCRIBE_ACTIONS: &[&str] = &[
    "ec2:DescribeAvailabilityZones",
    "ec2:DescribeCapacityReservations",
    "ec2:DescribeInstanceTypeOfferings",
    "ec2:DescribePlacementGroups",
    "ec2:DescribeRegions",
];

/// Capacity reservations of any region and account (the policy is attached in one account).
const RESERVATIONS_ARN: &str = "arn:aws:ec2:*:*:capacity-reservation/*";
/// Placement groups: CreateCapacityReservation with `PlacementGroupArn` is also authorized
/// against the group (`use_placement_group`).
const PLACEMENT_GROUPS_ARN: &str = "arn:aws:ec2:*:*:placement-group/*";

/// The IAM policy document granting [`ACTIONS`], each as narrowly as EC2 allows.
pub fn policy() -> serde_json::Value {
    serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "Describe",
                "Effect": "Allow",
                "Action": DESCRIBE_ACTIONS,
                "Resource": "*",
            },
            {
                "Sid": "CreateTaggedByCr",
                "Effect": "Allow",
                "Action": ["ec2:CreateCapacityReservation"],
                "Resource": [RESERVATIONS_ARN, PLACEMENT_GROUPS_ARN],
                "Condition": {
                    "StringEquals": {format!("aws:RequestTag/{CREATED_BY}"): CREATED_BY_VALUE},
                },
            },
            {
                "Sid": "TagOnCreateOnly",
                "Effect": "Allow",
                "Action": ["ec2:CreateTags"],
                "Resource": RESERVATIONS_ARN,
                "Condition": {
                    "StringEquals": {"ec2:CreateAction": "CreateCapacityReservation"},
                },
            },
            {
                "Sid": "CancelTestReservations",
                "Effect": "Allow",
                "Action": ["ec2:CancelCapacityReservation"],
                "Resource": RESERVATIONS_ARN,
                "Condition": {
                    "Null": {format!("aws:ResourceTag/{TEST_ID}"): "false"},
                },
            },
        ]
    })
}

/// The permissions document of this backend (every cloud crate has this function): the
/// IAM [`policy`].
pub fn permissions() -> serde_json::Value {
    policy()
}

/// Every action the policy document grants, from its statements (what the contract suite
/// compares with the request log).
pub fn granted_actions(policy: &serde_json::Value) -> Vec<String> {
    let mut out: Vec<String> = policy["Statement"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|s| s["Action"].as_array().into_iter().flatten())
        .filter_map(|a| a.as_str().map(str::to_string))
        .collect();
    out.sort();
    out.dedup();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn actions_are_sorted_unique_ec2_actions() {
        let mut sorted = ACTIONS.to_vec();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted, ACTIONS);
        assert!(ACTIONS.iter().all(|a| a.starts_with("ec2:")));
    }

    #[test]
    fn the_statements_grant_exactly_the_actions() {
        assert_eq!(granted_actions(&policy()), ACTIONS);
    }

    #[test]
    fn only_describes_are_unconditional_on_every_resource() {
        let p = policy();
        assert_eq!(p["Version"], "2012-10-17");
        for s in p["Statement"].as_array().unwrap() {
            assert_eq!(s["Effect"], "Allow");
            let actions: Vec<&str> = s["Action"]
                .as_array()
                .unwrap()
                .iter()
                .map(|a| a.as_str().unwrap())
                .collect();
            if s["Resource"] == "*" {
                assert!(actions.iter().all(|a| DESCRIBE_ACTIONS.contains(a)), "{s}");
                assert!(s.get("Condition").is_none(), "{s}");
            } else {
                assert!(s["Condition"].is_object(), "a write is conditioned: {s}");
            }
        }
        let text = p.to_string();
        assert!(
            text.contains(r#""aws:RequestTag/CreatedBy":"cr""#),
            "{text}"
        );
        assert!(
            text.contains(r#""ec2:CreateAction":"CreateCapacityReservation""#),
            "{text}"
        );
        assert!(
            text.contains(r#""aws:ResourceTag/TestId":"false""#),
            "{text}"
        );
    }
}
