//! EC2 layout calls over raw HTTP: DescribeRegions, DescribeAvailabilityZones,
//! DescribeInstanceTypeOfferings and DescribePlacementGroups (scenario-seeded and added
//! through the control API), and PlacementGroupArn on CreateCapacityReservation.

mod common;

use common::{client, ec2, start};

#[tokio::test]
async fn regions_list_enabled_regions_unless_all_regions() {
    let emu = start("clouds: {aws: {regions: {af-south-1: {}}}}").await;
    let r = ec2(&emu, "us-east-1", &[("Action", "DescribeRegions")]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.body.contains("<DescribeRegionsResponse"));
    let names = r.all("regionName");
    assert!(names.len() >= 17, "{names:?}");
    assert!(names.contains(&"us-east-1".to_owned()) && names.contains(&"eu-west-1".to_owned()));
    assert!(
        names.contains(&"af-south-1".to_owned()),
        "named in the scenario = opted in"
    );
    assert!(
        !names.contains(&"me-south-1".to_owned()),
        "opt-in region not enabled"
    );
    assert!(
        r.body
            .contains("<regionEndpoint>ec2.us-east-1.amazonaws.com</regionEndpoint>")
    );

    let all = ec2(
        &emu,
        "us-east-1",
        &[("Action", "DescribeRegions"), ("AllRegions", "true")],
    )
    .await;
    let all_names = all.all("regionName");
    assert_eq!(all_names.len(), cr_emulator::defaults::AWS_REGIONS.len());
    assert!(all.body.contains("<regionName>me-south-1</regionName><regionEndpoint>ec2.me-south-1.amazonaws.com</regionEndpoint><optInStatus>not-opted-in</optInStatus>"));

    let filtered = ec2(
        &emu,
        "us-east-1",
        &[
            ("Action", "DescribeRegions"),
            ("Filter.1.Name", "region-name"),
            ("Filter.1.Value.1", "eu-*"),
        ],
    )
    .await;
    assert!(
        filtered
            .all("regionName")
            .iter()
            .all(|n| n.starts_with("eu-"))
    );

    // Calls addressed to a region that is not enabled are refused.
    let disabled = ec2(
        &emu,
        "me-south-1",
        &[("Action", "DescribeCapacityReservations")],
    )
    .await;
    assert_eq!(disabled.code(), "OptInRequired");
    emu.shutdown().await;
}

#[tokio::test]
async fn availability_zones_of_the_signed_region() {
    let emu = start("").await;
    let r = ec2(
        &emu,
        "us-east-1",
        &[("Action", "DescribeAvailabilityZones")],
    )
    .await;
    assert_eq!(
        r.all("zoneName"),
        [
            "us-east-1a",
            "us-east-1b",
            "us-east-1c",
            "us-east-1d",
            "us-east-1e",
            "us-east-1f"
        ]
    );
    assert_eq!(r.one("zoneId"), "use1-az1");
    assert_eq!(r.one("zoneState"), "available");
    let one = ec2(
        &emu,
        "eu-central-1",
        &[
            ("Action", "DescribeAvailabilityZones"),
            ("ZoneName.1", "eu-central-1b"),
        ],
    )
    .await;
    assert_eq!(one.all("zoneName"), ["eu-central-1b"]);
    let bad = ec2(
        &emu,
        "eu-central-1",
        &[
            ("Action", "DescribeAvailabilityZones"),
            ("ZoneName.1", "us-east-1a"),
        ],
    )
    .await;
    assert_eq!(bad.code(), "InvalidParameterValue");
    emu.shutdown().await;
}

#[tokio::test]
async fn instance_type_offerings_respect_unoffered_types_and_paginate() {
    let emu = start("clouds: {aws: {regions: {us-west-2: {zones: {us-west-2a: {i4i.large: -1}, us-west-2b: {i4i.large: 0}}}}}}").await;
    let r = ec2(
        &emu,
        "us-west-2",
        &[
            ("Action", "DescribeInstanceTypeOfferings"),
            ("LocationType", "availability-zone"),
            ("Filter.1.Name", "instance-type"),
            ("Filter.1.Value.1", "i4i.large"),
        ],
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        r.all("location"),
        ["us-west-2b", "us-west-2c", "us-west-2d"],
        "0 instances is still offered"
    );
    assert!(
        r.all("locationType")
            .iter()
            .all(|t| t == "availability-zone")
    );

    let in_zone = ec2(
        &emu,
        "us-west-2",
        &[
            ("Action", "DescribeInstanceTypeOfferings"),
            ("LocationType", "availability-zone"),
            ("Filter.1.Name", "location"),
            ("Filter.1.Value.1", "us-west-2a"),
            ("MaxResults", "1000"),
        ],
    )
    .await;
    let types = in_zone.all("instanceType");
    assert!(types.contains(&"m5.large".to_owned()));
    assert!(!types.contains(&"i4i.large".to_owned()));
    let mut total = types.len();
    let mut token = in_zone.all("nextToken").into_iter().next();
    while let Some(t) = token {
        let page = ec2(
            &emu,
            "us-west-2",
            &[
                ("Action", "DescribeInstanceTypeOfferings"),
                ("LocationType", "availability-zone"),
                ("Filter.1.Name", "location"),
                ("Filter.1.Value.1", "us-west-2a"),
                ("MaxResults", "1000"),
                ("NextToken", &t),
            ],
        )
        .await;
        total += page.all("instanceType").len();
        token = page.all("nextToken").into_iter().next();
    }
    assert_eq!(total, cr_emulator::aws::instance_types::all().count() - 1);

    let bad = ec2(
        &emu,
        "us-west-2",
        &[
            ("Action", "DescribeInstanceTypeOfferings"),
            ("LocationType", "planet"),
        ],
    )
    .await;
    assert_eq!(bad.code(), "InvalidParameterValue");
    emu.shutdown().await;
}

#[tokio::test]
async fn placement_groups_from_scenario_and_control_api() {
    let emu = start(
        r#"
clouds:
  aws:
    regions:
      us-east-1:
        placement_groups:
          - {name: pg-ci, strategy: cluster, tags: {owner: ci}}
          - {name: spread-1, strategy: spread}
"#,
    )
    .await;
    let r = ec2(&emu, "us-east-1", &[("Action", "DescribePlacementGroups")]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.all("groupName"), ["pg-ci", "spread-1"]);
    let tagged = ec2(
        &emu,
        "us-east-1",
        &[
            ("Action", "DescribePlacementGroups"),
            ("Filter.1.Name", "tag:owner"),
            ("Filter.1.Value.1", "ci"),
        ],
    )
    .await;
    assert_eq!(tagged.all("groupName"), ["pg-ci"]);
    let arn = tagged.one("groupArn");
    assert_eq!(
        arn,
        format!(
            "arn:aws:ec2:us-east-1:{}:placement-group/pg-ci",
            emu.credentials().aws.account_id
        )
    );

    let added = client(&emu)
        .post(format!("{}/_emulator/aws/placement-groups", emu.http_url()))
        .json(&serde_json::json!({"region": "us-east-1", "name": "late", "strategy": "cluster"}))
        .send()
        .await
        .unwrap();
    assert_eq!(added.status().as_u16(), 201);
    let by_name = ec2(
        &emu,
        "us-east-1",
        &[
            ("Action", "DescribePlacementGroups"),
            ("GroupName.1", "late"),
        ],
    )
    .await;
    assert_eq!(by_name.all("groupName"), ["late"]);
    let unknown = ec2(
        &emu,
        "us-east-1",
        &[
            ("Action", "DescribePlacementGroups"),
            ("GroupName.1", "nope"),
        ],
    )
    .await;
    assert_eq!(unknown.code(), "InvalidPlacementGroup.Unknown");

    let e = &emu;
    let create = |arn: String| async move {
        ec2(
            e,
            "us-east-1",
            &[
                ("Action", "CreateCapacityReservation"),
                ("InstanceType", "c5.large"),
                ("InstancePlatform", "Linux/UNIX"),
                ("AvailabilityZone", "us-east-1a"),
                ("InstanceCount", "1"),
                ("PlacementGroupArn", &arn),
            ],
        )
        .await
    };
    let with_group = create(arn.clone()).await;
    assert_eq!(with_group.status, 200, "{}", with_group.body);
    assert_eq!(with_group.one("placementGroupArn"), arn);
    let spread_arn = arn.replace("pg-ci", "spread-1");
    assert_eq!(create(spread_arn).await.code(), "InvalidParameterValue");
    let missing_arn = arn.replace("pg-ci", "ghost");
    assert_eq!(
        create(missing_arn).await.code(),
        "InvalidPlacementGroup.Unknown"
    );
    emu.shutdown().await;
}
