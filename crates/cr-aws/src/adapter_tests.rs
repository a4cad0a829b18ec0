//! Unit tests of [`AwsAdapter`] over a mocked [`Ec2Api`].

use std::sync::Arc;

use aws_sdk_ec2::types::{
    AvailabilityZone, CapacityReservation, CapacityReservationInstancePlatform,
    CapacityReservationState, InstanceType, InstanceTypeOffering, LocationType, PlacementGroup,
    PlacementGroupState, Tag,
};
use cr_core::adapter::{CloudAdapter, CreateRequest};
use cr_core::error::{CloudError, ErrorKind};
use cr_core::model::{CancelOutcome, ReservationState};
use cr_core::plan::{Demand, DemandDetails, Role};
use cr_core::tags::Tags;
use cr_core::{Cloud, Error};
use jiff::Timestamp;

use super::*;
use crate::client::MockEc2Api;

const TEST: &str = "7c86b7e8-9f4f-4d1e-b0c4-000000000001";

fn settings(use_placement_group: bool) -> Settings {
    Settings {
        home_region: "us-east-1".into(),
        instance_platform: CapacityReservationInstancePlatform::from("Linux/UNIX"),
        use_placement_group,
        placement_group_source: "test.yaml".into(),
        pacing_endpoint: "ec2".into(),
    }
}

fn adapter(api: MockEc2Api, use_placement_group: bool) -> AwsAdapter {
    AwsAdapter::new(Arc::new(api), settings(use_placement_group))
}

fn az(name: &str, state: AvailabilityZoneState, zone_type: &str) -> AvailabilityZone {
    AvailabilityZone::builder()
        .zone_name(name)
        .region_name("us-east-1")
        .state(state)
        .zone_type(zone_type)
        .build()
}

fn offering(zone: &str, t: &str) -> InstanceTypeOffering {
    InstanceTypeOffering::builder()
        .location_type(LocationType::AvailabilityZone)
        .location(zone)
        .instance_type(InstanceType::from(t))
        .build()
}

fn cr(
    id: &str,
    zone: &str,
    t: &str,
    state: CapacityReservationState,
    test: &str,
) -> CapacityReservation {
    CapacityReservation::builder()
        .capacity_reservation_id(id)
        .capacity_reservation_arn(format!(
            "arn:aws:ec2:us-east-1:123456789012:capacity-reservation/{id}"
        ))
        .availability_zone(zone)
        .instance_type(t)
        .total_instance_count(3)
        .available_instance_count(2)
        .state(state)
        .end_date(DateTime::from_secs(1_900_000_000))
        .tags(Tag::builder().key(TEST_ID).value(test).build())
        .build()
}

fn cloud_error(kind: ErrorKind, op: &str, code: &str) -> Box<CloudError> {
    Box::new(
        CloudError::new(kind, Cloud::Aws, op, code, format!("{code} from the mock"))
            .region("us-east-1"),
    )
}

fn request(attempt: u32) -> CreateRequest {
    let mut tags = Tags::default();
    tags.0.insert(TEST_ID.into(), TEST.into());
    tags.0.insert("RunByUser".into(), "ci".into());
    CreateRequest {
        test_id: TEST.into(),
        region: "us-east-1".into(),
        zone: "us-east-1b".into(),
        demand: Demand {
            instance_type: "i4i.large".into(),
            count: 3,
            roles: vec![Role::Db],
            details: DemandDetails::default(),
        },
        end_time: "2030-03-17T12:00:00Z".parse::<Timestamp>().unwrap(),
        tags,
        attempt,
        region_handle: Default::default(),
    }
}

#[test]
fn client_token_is_deterministic_bounded_and_distinct() {
    let t = client_token(TEST, "us-east-1", "us-east-1a", "i4i.large", 0);
    assert_eq!(
        t,
        client_token(TEST, "us-east-1", "us-east-1a", "i4i.large", 0)
    );
    assert_eq!(t.len(), 64);
    assert!(t.chars().all(|c| c.is_ascii_hexdigit()));
    let others = [
        client_token("other", "us-east-1", "us-east-1a", "i4i.large", 0),
        client_token(TEST, "us-west-2", "us-east-1a", "i4i.large", 0),
        client_token(TEST, "us-east-1", "us-east-1b", "i4i.large", 0),
        client_token(TEST, "us-east-1", "us-east-1a", "c6i.xlarge", 0),
        client_token(TEST, "us-east-1", "us-east-1a", "i4i.large", 1),
        // Field boundaries matter: the fields are length-prefixed.
        client_token(
            &format!("{TEST}u"),
            "s-east-1",
            "us-east-1a",
            "i4i.large",
            0,
        ),
    ];
    for o in others {
        assert_ne!(o, t);
    }
}

#[tokio::test]
async fn zones_offer_every_type_in_cloud_order() {
    let mut api = MockEc2Api::new();
    api.expect_describe_availability_zones()
        .withf(|r| r == "us-east-1")
        .returning(|_| {
            Ok(vec![
                az(
                    "us-east-1a",
                    AvailabilityZoneState::Available,
                    "availability-zone",
                ),
                az(
                    "us-east-1b",
                    AvailabilityZoneState::Available,
                    "availability-zone",
                ),
                az(
                    "us-east-1c",
                    AvailabilityZoneState::Impaired,
                    "availability-zone",
                ),
                az(
                    "us-east-1d",
                    AvailabilityZoneState::Available,
                    "availability-zone",
                ),
                az(
                    "us-east-1-bos-1a",
                    AvailabilityZoneState::Available,
                    "local-zone",
                ),
            ])
        });
    api.expect_describe_instance_type_offerings()
        .withf(|r, types| r == "us-east-1" && *types == ["i4i.large", "c6i.xlarge"])
        .returning(|_, _| {
            Ok(vec![
                offering("us-east-1a", "i4i.large"),
                offering("us-east-1b", "i4i.large"),
                offering("us-east-1b", "c6i.xlarge"),
                offering("us-east-1c", "i4i.large"),
                offering("us-east-1c", "c6i.xlarge"),
                offering("us-east-1d", "c6i.xlarge"),
                offering("us-east-1d", "i4i.large"),
                offering("us-east-1-bos-1a", "i4i.large"),
                offering("us-east-1-bos-1a", "c6i.xlarge"),
            ])
        });
    let zones = adapter(api, false)
        .zones(
            "us-east-1",
            &["i4i.large".into(), "c6i.xlarge".into(), "i4i.large".into()],
        )
        .await
        .unwrap();
    assert_eq!(zones, ["us-east-1b", "us-east-1d"]);
}

#[tokio::test]
async fn create_sends_targeted_limited_tagged_idempotent_request() {
    let mut api = MockEc2Api::new();
    let expected_token = client_token(TEST, "us-east-1", "us-east-1b", "i4i.large", 2);
    api.expect_create_capacity_reservation()
        .withf(move |region, input| {
            region == "us-east-1"
                && input.instance_type == "i4i.large"
                && input.platform.as_str() == "Linux/UNIX"
                && input.zone == "us-east-1b"
                && input.count == 3
                && input.end_date == DateTime::from_secs(1_899_979_200)
                && input.tags
                    == [
                        // The token's first 16 characters: another run of the test finds
                        // this reservation by it (IdempotentParameterMismatch).
                        ("CrToken".to_string(), expected_token[..16].to_string()),
                        ("RunByUser".to_string(), "ci".to_string()),
                        (TEST_ID.to_string(), TEST.to_string()),
                    ]
                && input.client_token == expected_token
                && input.placement_group_arn.is_none()
        })
        .times(1)
        .returning(|_, _| {
            Ok(cr(
                "cr-0123456789abcdef0",
                "us-east-1b",
                "i4i.large",
                CapacityReservationState::Active,
                TEST,
            ))
        });
    let r = adapter(api, false).create(&request(2)).await.unwrap();
    assert_eq!(r.id.0, "cr-0123456789abcdef0");
    assert_eq!(r.cloud, Cloud::Aws);
    assert_eq!(
        (r.region.as_str(), r.zone.as_deref()),
        ("us-east-1", Some("us-east-1b"))
    );
    assert_eq!(r.instance_type, "i4i.large");
    assert_eq!((r.count, r.used), (3, Some(1)));
    assert_eq!(r.state, ReservationState::Active);
    assert_eq!(
        r.end_time,
        Some(Timestamp::from_second(1_900_000_000).unwrap())
    );
    assert_eq!(r.tags.get(TEST_ID).map(String::as_str), Some(TEST));
    assert!(r.extra[EXTRA_ARN].ends_with("cr-0123456789abcdef0"));
}

#[tokio::test]
async fn create_error_names_zone_and_type() {
    let mut api = MockEc2Api::new();
    api.expect_create_capacity_reservation().returning(|_, _| {
        Err(cloud_error(
            ErrorKind::CapacityUnavailable,
            "CreateCapacityReservation",
            "InsufficientInstanceCapacity",
        ))
    });
    let err = adapter(api, false).create(&request(0)).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::CapacityUnavailable);
    let e = err.cloud_error().unwrap();
    assert_eq!(e.location.zone.as_deref(), Some("us-east-1b"));
    assert_eq!(e.location.instance_type.as_deref(), Some("i4i.large"));
    assert_eq!(e.location.region.as_deref(), Some("us-east-1"));
    assert_eq!(e.code, "InsufficientInstanceCapacity");
}

fn group(name: &str, test: &str) -> PlacementGroup {
    PlacementGroup::builder()
        .group_name(name)
        .group_arn(format!(
            "arn:aws:ec2:us-east-1:123456789012:placement-group/{name}"
        ))
        .state(PlacementGroupState::Available)
        .tags(Tag::builder().key(TEST_ID).value(test).build())
        .build()
}

#[tokio::test]
async fn create_uses_the_tests_placement_group_looked_up_once() {
    let mut api = MockEc2Api::new();
    api.expect_describe_placement_groups()
        .withf(|region, filters| {
            region == "us-east-1"
                && filters.len() == 1
                && filters[0].name() == Some("tag:TestId")
                && filters[0].values() == [TEST]
        })
        .times(1)
        .returning(|_, _| {
            Ok(vec![
                group("someone-else", "other-test"),
                group("ours", TEST),
            ])
        });
    api.expect_create_capacity_reservation()
        .withf(|_, input| {
            input.placement_group_arn.as_deref()
                == Some("arn:aws:ec2:us-east-1:123456789012:placement-group/ours")
        })
        .times(2)
        .returning(|_, _| {
            Ok(cr(
                "cr-1",
                "us-east-1b",
                "i4i.large",
                CapacityReservationState::Active,
                TEST,
            ))
        });
    let a = adapter(api, true);
    a.create(&request(0)).await.unwrap();
    a.create(&request(1)).await.unwrap();
}

#[tokio::test]
async fn missing_placement_group_is_a_configuration_error() {
    let mut api = MockEc2Api::new();
    api.expect_describe_placement_groups()
        .returning(|_, _| Ok(vec![group("someone-else", "other-test")]));
    api.expect_create_capacity_reservation().never();
    let err = adapter(api, true).create(&request(0)).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidConfig);
    let text = err.to_string();
    assert!(text.contains("use_placement_group"), "{text}");
    assert!(text.contains("test.yaml"), "{text}");
    assert!(text.contains(TEST), "{text}");
}

#[tokio::test]
async fn find_filters_by_tag_and_state_and_rechecks_tags() {
    let mut api = MockEc2Api::new();
    api.expect_describe_capacity_reservations()
        .withf(|region, ids, filters| {
            region == "eu-west-1"
                && ids.is_empty()
                && filters.len() == 2
                && filters[0].name() == Some("tag:TestId")
                && filters[0].values() == [TEST]
                && filters[1].name() == Some("state")
                && filters[1].values() == ["active", "pending"]
        })
        .returning(|_, _, _| {
            Ok(vec![
                cr(
                    "cr-1",
                    "eu-west-1a",
                    "i4i.large",
                    CapacityReservationState::Active,
                    TEST,
                ),
                cr(
                    "cr-2",
                    "eu-west-1a",
                    "c6i.xlarge",
                    CapacityReservationState::Pending,
                    TEST,
                ),
                cr(
                    "cr-3",
                    "eu-west-1a",
                    "i4i.large",
                    CapacityReservationState::Active,
                    "other",
                ),
                cr(
                    "cr-4",
                    "eu-west-1a",
                    "i4i.large",
                    CapacityReservationState::Cancelled,
                    TEST,
                ),
            ])
        });
    let found = adapter(api, false)
        .find(TEST, Some("eu-west-1".into()))
        .await
        .unwrap();
    let ids: Vec<&str> = found.iter().map(|r| r.id.0.as_str()).collect();
    assert_eq!(ids, ["cr-1", "cr-2"]);
    assert!(found.iter().all(|r| r.region == "eu-west-1"));
    assert_eq!(found[1].state, ReservationState::Pending);
}

#[tokio::test]
async fn find_created_filters_by_created_by_and_keeps_only_crs_reservations() {
    let with = |id: &str, created_by: Option<&str>| {
        let mut b = CapacityReservation::builder()
            .capacity_reservation_id(id)
            .availability_zone("eu-west-1a")
            .instance_type("i4i.large")
            .total_instance_count(3)
            .available_instance_count(2)
            .state(CapacityReservationState::Active)
            .tags(Tag::builder().key(TEST_ID).value("any-test").build());
        if let Some(v) = created_by {
            b = b.tags(Tag::builder().key(tags::CREATED_BY).value(v).build());
        }
        b.build()
    };
    let mut api = MockEc2Api::new();
    api.expect_describe_capacity_reservations()
        .withf(|region, ids, filters| {
            region == "eu-west-1"
                && ids.is_empty()
                && filters.len() == 2
                && filters[0].name() == Some("tag:CreatedBy")
                && filters[0].values() == ["cr"]
                && filters[1].name() == Some("state")
        })
        .times(1)
        .returning(move |_, _, _| {
            // An endpoint may ignore the filter: the tags decide.
            Ok(vec![
                with("cr-ours", Some("cr")),
                with("cr-by-hand", Some("hand")),
                with("cr-untagged", None),
            ])
        });
    let found = adapter(api, false)
        .find_created(Some("eu-west-1".into()))
        .await
        .unwrap();
    let ids: Vec<&str> = found.iter().map(|r| r.id.0.as_str()).collect();
    assert_eq!(ids, ["cr-ours"]);
    assert_eq!(found[0].used, Some(1), "total 3, available 2");
}

#[tokio::test]
async fn find_falls_back_to_client_side_tag_matching() {
    let mut api = MockEc2Api::new();
    let mut seq = mockall::Sequence::new();
    api.expect_describe_capacity_reservations()
        .withf(|_, _, filters| filters.len() == 2)
        .times(1)
        .in_sequence(&mut seq)
        .returning(|_, _, _| {
            Err(cloud_error(
                ErrorKind::InvalidRequest,
                "DescribeCapacityReservations",
                "InvalidFilter",
            ))
        });
    api.expect_describe_capacity_reservations()
        .withf(|_, _, filters| filters.len() == 1 && filters[0].name() == Some("state"))
        .times(1)
        .in_sequence(&mut seq)
        .returning(|_, _, _| {
            Ok(vec![
                cr(
                    "cr-1",
                    "us-east-1a",
                    "i4i.large",
                    CapacityReservationState::Active,
                    TEST,
                ),
                cr(
                    "cr-3",
                    "us-east-1a",
                    "i4i.large",
                    CapacityReservationState::Active,
                    "other",
                ),
            ])
        });
    let found = adapter(api, false)
        .find(TEST, Some("us-east-1".into()))
        .await
        .unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].id.0, "cr-1");
}

fn live(id: &str) -> cr_core::model::Reservation {
    to_reservation(
        "test",
        "us-east-1",
        &cr(
            id,
            "us-east-1a",
            "i4i.large",
            CapacityReservationState::Active,
            TEST,
        ),
    )
    .unwrap()
}

#[tokio::test]
async fn cancel_outcomes() {
    let mut api = MockEc2Api::new();
    api.expect_cancel_capacity_reservation()
        .withf(|region, id| region == "us-east-1" && id == "cr-ok")
        .returning(|_, _| Ok(true));
    api.expect_cancel_capacity_reservation()
        .withf(|_, id| id == "cr-missing")
        .returning(|_, _| {
            Err(cloud_error(
                ErrorKind::NotFound,
                "CancelCapacityReservation",
                "InvalidCapacityReservationId.NotFound",
            ))
        });
    api.expect_cancel_capacity_reservation()
        .withf(|_, id| id == "cr-cancelled" || id == "cr-live")
        .returning(|_, _| {
            Err(cloud_error(
                ErrorKind::InvalidRequest,
                "CancelCapacityReservation",
                "InvalidCapacityReservationId.State",
            ))
        });
    api.expect_describe_capacity_reservations()
        .withf(|_, ids, _| *ids == ["cr-cancelled"])
        .returning(|_, _, _| {
            Ok(vec![cr(
                "cr-cancelled",
                "us-east-1a",
                "i4i.large",
                CapacityReservationState::Cancelled,
                TEST,
            )])
        });
    api.expect_describe_capacity_reservations()
        .withf(|_, ids, _| *ids == ["cr-live"])
        .returning(|_, _, _| {
            Ok(vec![cr(
                "cr-live",
                "us-east-1a",
                "i4i.large",
                CapacityReservationState::Active,
                TEST,
            )])
        });
    api.expect_cancel_capacity_reservation()
        .withf(|_, id| id == "cr-throttled")
        .returning(|_, _| {
            Err(cloud_error(
                ErrorKind::Throttled,
                "CancelCapacityReservation",
                "RequestLimitExceeded",
            ))
        });
    let a = adapter(api, false);
    assert_eq!(
        a.cancel(&live("cr-ok")).await.unwrap(),
        CancelOutcome::Cancelled
    );
    assert_eq!(
        a.cancel(&live("cr-missing")).await.unwrap(),
        CancelOutcome::AlreadyGone
    );
    assert_eq!(
        a.cancel(&live("cr-cancelled")).await.unwrap(),
        CancelOutcome::AlreadyGone
    );
    let err = a.cancel(&live("cr-live")).await.unwrap_err();
    assert!(matches!(err, Error::InvalidRequest(_)), "{err}");
    let err = a.cancel(&live("cr-throttled")).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Throttled);
    assert_eq!(
        err.cloud_error().unwrap().location.zone.as_deref(),
        Some("us-east-1a")
    );
}

#[tokio::test]
async fn regions_come_from_the_home_region() {
    let mut api = MockEc2Api::new();
    api.expect_describe_regions()
        .withf(|r| r == "us-east-1")
        .returning(|_| Ok(vec!["us-east-1".into(), "eu-west-1".into()]));
    assert_eq!(
        adapter(api, false).regions().await.unwrap(),
        ["us-east-1", "eu-west-1"]
    );
}

#[test]
fn instance_target_names_the_reservation() {
    let a = adapter(MockEc2Api::new(), false);
    assert_eq!(
        a.instance_target(&live("cr-0abc")),
        serde_json::json!({
            "CapacityReservationSpecification": {
                "CapacityReservationTarget": {"CapacityReservationId": "cr-0abc"}
            }
        })
    );
}
