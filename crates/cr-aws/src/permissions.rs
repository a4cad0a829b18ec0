//! The IAM policy this backend needs: `cr permissions --backend aws` prints it.

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

/// The IAM policy document granting [`ACTIONS`].
pub fn policy() -> serde_json::Value {
    serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Sid": "CapacityReservations",
            "Effect": "Allow",
            "Action": ACTIONS,
            "Resource": "*",
        }]
    })
}

/// The permissions document of this backend (every cloud crate has this function): the
/// IAM [`policy`].
pub fn permissions() -> serde_json::Value {
    policy()
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
    fn policy_is_one_statement_over_all_resources() {
        let p = policy();
        assert_eq!(p["Version"], "2012-10-17");
        let statements = p["Statement"].as_array().unwrap();
        assert_eq!(statements.len(), 1);
        assert_eq!(statements[0]["Effect"], "Allow");
        assert_eq!(statements[0]["Resource"], "*");
        let actions: Vec<&str> = statements[0]["Action"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a.as_str().unwrap())
            .collect();
        assert_eq!(actions, ACTIONS);
    }
}
