//! The contract suite for the AWS backend against the in-process emulator (SigV4-signed EC2
//! Query calls over HTTPS with the emulator's CA), plus what is EC2-specific: the fields
//! CreateCapacityReservation carries on the wire, placement groups, and the IAM policy
//! covering every action the backend calls.
//!
//! Built only with `--features aws` (aws-sdk-ec2 is a large compile):
//! `cargo test -p cr-contract-tests --features aws --test aws`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_ec2::config::{BehaviorVersion, Credentials as AwsCredentials, Region};
use aws_sdk_ec2::types::{
    CapacityReservationInstancePlatform, EndDateType, InstanceMatchCriteria, ResourceType, Tag,
    TagSpecification,
};
use cr_aws::AwsBuilder;
use cr_contract_tests::{
    ContractTarget, Credentials, Fixture, Layout, RegionLayout, TestConfig, base_scenario,
    cloud_kind, retry_policy,
};
use cr_core::adapter::CloudAdapter;
use cr_core::error::ErrorKind;
use cr_core::registry::BackendOptions;
use cr_core::{CapacityReservation, Cloud, EngineBackend, Params};
use cr_emulator::EmulatorHandle;
use cr_emulator::scenario::PlacementGroupSeed;

/// A single EC2 call gives up after this; the suite's hang lasts far longer.
const CALL_TIMEOUT: Duration = Duration::from_secs(3);

/// The AWS backend as the suite drives it; `extra_yaml` adds keys to every configuration.
struct AwsTarget {
    extra_yaml: &'static str,
}

const AWS: AwsTarget = AwsTarget { extra_yaml: "" };

fn letter_of(zone: &str) -> char {
    zone.chars().last().expect("a zone name")
}

#[async_trait]
impl ContractTarget for AwsTarget {
    fn cloud(&self) -> Cloud {
        Cloud::Aws
    }

    fn backend_name(&self) -> &'static str {
        "aws"
    }

    fn layout(&self) -> Layout {
        let region = |name: &str| RegionLayout {
            region: name.to_string(),
            zones: ["a", "b", "c"]
                .iter()
                .map(|z| format!("{name}{z}"))
                .collect(),
        };
        Layout {
            regions: vec![
                region("us-east-1"),
                region("eu-west-1"),
                region("us-east-2"),
            ],
            db_type: "i4i.large".into(),
            loader_type: "c6i.xlarge".into(),
        }
    }

    fn config_yaml(&self, config: &TestConfig) -> String {
        let layout = self.layout();
        let regions: Vec<&str> = config
            .placements
            .iter()
            .map(|p| layout.regions[p.region].region.as_str())
            .collect();
        // EC2 has one `availability_zone` for every region: the configured zone's letter.
        let first = config.placements[0];
        let letter = letter_of(&layout.regions[first.region].zones[first.zone]);
        format!(
            "cluster_backend: aws\n\
             use_capacity_reservation: true\n\
             region_name: '{regions}'\n\
             availability_zone: '{letter}'\n\
             instance_type_db: {db}\n\
             instance_type_loader: {loader}\n\
             {extra}",
            regions = regions.join(" "),
            db = layout.db_type,
            loader = layout.loader_type,
            extra = self.extra_yaml,
        )
    }

    fn create_operation(&self) -> &'static str {
        "CreateCapacityReservation"
    }

    fn quota_code(&self) -> &'static str {
        "InstanceLimitExceeded"
    }

    /// EC2 refuses an `X-Amz-Date` more than 15 minutes from its clock with `RequestExpired` (400).
    fn clock_skew_refusal(&self) -> Option<(Duration, &'static str)> {
        Some((Duration::from_secs(15 * 60), "RequestExpired"))
    }

    fn permissions_off_the_suite_path(&self) -> &'static [(&'static str, &'static str)] {
        &[(
            "ec2:DescribePlacementGroups",
            "called only with use_placement_group: true, which the shared suite's configuration \
             leaves off; placement_group_is_found_by_test_id calls it, and its fixtures check \
             the call is granted",
        )]
    }

    async fn adapter(
        &self,
        emulator: &EmulatorHandle,
        params: &Params,
        credentials: Credentials,
    ) -> cr_core::Result<Arc<dyn CloudAdapter>> {
        let aws = &emulator.credentials().aws;
        let secret = match credentials {
            Credentials::Valid => aws.secret_access_key.clone(),
            Credentials::Invalid => format!("{}-wrong", aws.secret_access_key),
        };
        let adapter = AwsBuilder::new()
            .with_params(params)
            .with_endpoint(emulator.https_url())
            .with_ca_pem(emulator.ca_pem().as_bytes().to_vec())
            .with_credentials(aws.access_key_id.clone(), secret, None)
            .with_timeouts(CALL_TIMEOUT, CALL_TIMEOUT)
            .build()
            .await?;
        Ok(Arc::new(adapter))
    }

    fn registry_options(&self, emulator: &EmulatorHandle, dir: &Path) -> BackendOptions {
        // Exactly what `source env.sh` would give the CLI: static keys, AWS_ENDPOINT_URL_EC2
        // (HTTPS) and AWS_CA_BUNDLE, read through the options' environment overlay.
        let files = emulator
            .write_credentials(dir)
            .expect("the emulator writes its credentials");
        BackendOptions {
            env: files.env,
            ..BackendOptions::default()
        }
    }

    async fn create_outside(
        &self,
        emulator: &EmulatorHandle,
        test_id: &str,
        region: &str,
        zone: &str,
        instance_type: &str,
    ) -> String {
        let out = raw_client(emulator, region)
            .create_capacity_reservation()
            .instance_type(instance_type)
            .instance_platform(CapacityReservationInstancePlatform::LinuxUnix)
            .availability_zone(zone)
            .instance_count(1)
            .end_date_type(EndDateType::Unlimited)
            .tag_specifications(
                TagSpecification::builder()
                    .resource_type(ResourceType::CapacityReservation)
                    .tags(Tag::builder().key("TestId").value(test_id).build())
                    .tags(Tag::builder().key("CreatedBy").value("hand").build())
                    .build(),
            )
            .send()
            .await
            .expect("a reservation made outside cr");
        out.capacity_reservation()
            .and_then(|c| c.capacity_reservation_id())
            .expect("an id")
            .to_string()
    }

    async fn create_untagged(
        &self,
        emulator: &EmulatorHandle,
        region: &str,
        zone: &str,
        instance_type: &str,
    ) -> String {
        let out = raw_client(emulator, region)
            .create_capacity_reservation()
            .instance_type(instance_type)
            .instance_platform(CapacityReservationInstancePlatform::LinuxUnix)
            .availability_zone(zone)
            .instance_count(1)
            .end_date_type(EndDateType::Unlimited)
            .send()
            .await
            .expect("an untagged reservation made outside cr");
        out.capacity_reservation()
            .and_then(|c| c.capacity_reservation_id())
            .expect("an id")
            .to_string()
    }

    async fn launch(
        &self,
        emulator: &EmulatorHandle,
        region: &str,
        zone: &str,
        instance_type: &str,
        target: &serde_json::Value,
        name: &str,
    ) -> Result<String, String> {
        use aws_sdk_ec2::error::ProvideErrorMetadata;
        use aws_sdk_ec2::types::{
            CapacityReservationPreference, CapacityReservationSpecification,
            CapacityReservationTarget, InstanceType, Placement,
        };
        // The target's CapacityReservationSpecification, field by field, into RunInstances
        // (the SDK's typed request is the minimal Query request: image, type, counts, zone).
        let spec = &target["CapacityReservationSpecification"];
        let mut built = CapacityReservationSpecification::builder();
        let t = &spec["CapacityReservationTarget"];
        if t.is_object() {
            let mut target = CapacityReservationTarget::builder();
            if let Some(id) = t["CapacityReservationId"].as_str() {
                target = target.capacity_reservation_id(id);
            }
            if let Some(arn) = t["CapacityReservationResourceGroupArn"].as_str() {
                target = target.capacity_reservation_resource_group_arn(arn);
            }
            built = built.capacity_reservation_target(target.build());
        }
        if let Some(p) = spec["CapacityReservationPreference"].as_str() {
            built = built.capacity_reservation_preference(CapacityReservationPreference::from(p));
        }
        let out = raw_client(emulator, region)
            .run_instances()
            .image_id("ami-0123456789abcdef0")
            .instance_type(InstanceType::from(instance_type))
            .min_count(1)
            .max_count(1)
            .placement(Placement::builder().availability_zone(zone).build())
            .capacity_reservation_specification(built.build())
            .tag_specifications(
                TagSpecification::builder()
                    .resource_type(ResourceType::Instance)
                    .tags(Tag::builder().key("Name").value(name).build())
                    .build(),
            )
            .send()
            .await;
        match out {
            Ok(o) => Ok(o
                .instances()
                .first()
                .and_then(|i| i.instance_id())
                .expect("RunInstances returns the instance")
                .to_string()),
            Err(e) => {
                let e = e.into_service_error();
                Err(format!(
                    "{}: {}",
                    e.code().unwrap_or("?"),
                    e.message().unwrap_or_default()
                ))
            }
        }
    }

    async fn terminate(&self, emulator: &EmulatorHandle, region: &str, id: &str) {
        raw_client(emulator, region)
            .terminate_instances()
            .instance_ids(id)
            .send()
            .await
            .unwrap_or_else(|e| panic!("TerminateInstances {id}: {e}"));
    }
}

/// A plain EC2 client of the emulator (plain HTTP), as another tool would use it.
fn raw_client(emulator: &EmulatorHandle, region: &str) -> aws_sdk_ec2::Client {
    let aws = &emulator.credentials().aws;
    let config = aws_sdk_ec2::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(region.to_string()))
        .endpoint_url(emulator.http_url())
        .credentials_provider(AwsCredentials::new(
            aws.access_key_id.clone(),
            aws.secret_access_key.clone(),
            None,
            None,
            "emulator",
        ))
        .build();
    aws_sdk_ec2::Client::from_conf(config)
}

cr_contract_tests::contract_suite!(AWS);
cr_contract_tests::fault_soak!(AWS);
cr_contract_tests::bench!(AWS);
cr_contract_tests::crash_recovery!(AWS);

async fn valid_backend(target: &AwsTarget, fx: &Fixture) -> EngineBackend {
    fx.backend(target, Credentials::Valid)
        .await
        .expect("the backend builds")
}

/// What CreateCapacityReservation carried, as EC2 (the emulator) describes it afterwards:
/// targeted matching, a limited end date at the plan's end, the configured platform, and the
/// core's tags.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_carries_every_field() {
    let target = AwsTarget {
        extra_yaml: "aws_instance_platform: 'Red Hat Enterprise Linux'\n",
    };
    let fx = Fixture::start(
        &target,
        base_scenario(),
        TestConfig::single("f1e1d500-fields"),
    )
    .await;
    let backend = valid_backend(&target, &fx).await;
    let set = backend.reserve(&fx.params).await.expect("reserve");
    let ids: Vec<String> = set.reservations().map(|r| r.id.0.clone()).collect();

    let described = raw_client(&fx.emulator, "us-east-1")
        .describe_capacity_reservations()
        .set_capacity_reservation_ids(Some(ids.clone()))
        .send()
        .await
        .expect("describe");
    let crs = described.capacity_reservations();
    assert_eq!(crs.len(), ids.len());
    for cr in crs {
        assert_eq!(
            cr.instance_match_criteria(),
            Some(&InstanceMatchCriteria::Targeted)
        );
        assert_eq!(cr.end_date_type(), Some(&EndDateType::Limited));
        assert_eq!(
            cr.instance_platform(),
            Some(&CapacityReservationInstancePlatform::RedHatEnterpriseLinux)
        );
        assert_eq!(cr.availability_zone(), Some("us-east-1a"));
        let end = cr.end_date().expect("an end date");
        assert!((end.secs() - fx.plan.end_time.as_second()).abs() <= 60);
        let tags: BTreeMap<&str, &str> = cr
            .tags()
            .iter()
            .map(|t| (t.key().unwrap_or(""), t.value().unwrap_or("")))
            .collect();
        for (k, v) in fx.plan.tags.render(Cloud::Aws) {
            assert_eq!(tags.get(k.as_str()), Some(&v.as_str()), "tag {k}: {tags:?}");
        }
        assert!(cr.placement_group_arn().is_none());
    }
    let target_json = backend
        .instance_target("us-east-1a", "i4i.large")
        .expect("instance_target")
        .expect("a target");
    assert_eq!(
        target_json["CapacityReservationSpecification"]["CapacityReservationTarget"]["CapacityReservationId"],
        serde_json::json!(set.get_id("us-east-1a", "i4i.large").unwrap().unwrap().0)
    );
    backend.cancel(&fx.params).await.expect("cancel");
}

/// With `use_placement_group`, every reservation goes into the test's placement group (found
/// by its TestId tag, another test's group ignored); without such a group, reserve stops
/// with a configuration error and holds nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn placement_group_is_found_by_test_id() {
    let target = AwsTarget {
        extra_yaml: "use_placement_group: true\n",
    };
    let test_id = "9b0c0000-placement";
    let mut scenario = base_scenario();
    let seed = |name: &str, test: &str| PlacementGroupSeed {
        name: name.to_string(),
        strategy: "cluster".into(),
        tags: BTreeMap::from([("TestId".to_string(), test.to_string())]),
    };
    scenario
        .clouds
        .get_mut(cloud_kind(Cloud::Aws))
        .regions
        .entry("us-east-1".into())
        .or_default()
        .placement_groups = vec![seed("other-pg", "another-test"), seed("our-pg", test_id)];
    let fx = Fixture::start(&target, scenario, TestConfig::single(test_id)).await;
    let backend = valid_backend(&target, &fx).await;
    let set = backend.reserve(&fx.params).await.expect("reserve");
    for r in set.reservations() {
        let arn = r
            .extra
            .get(cr_aws::EXTRA_PLACEMENT_GROUP_ARN)
            .unwrap_or_else(|| panic!("{} has no placement group: {r:?}", r.id));
        assert!(arn.ends_with("/our-pg"), "{arn}");
    }
    backend.cancel(&fx.params).await.expect("cancel");

    let lonely = TestConfig {
        placements: vec![cr_contract_tests::Placement { region: 1, zone: 0 }],
        ..TestConfig::single("9b0c0001-no-placement-group")
    };
    let fx = Fixture::start(&target, base_scenario(), lonely).await;
    let backend = valid_backend(&target, &fx).await;
    let err = backend
        .reserve(&fx.params)
        .await
        .expect_err("no placement group, no reservation");
    assert_eq!(err.kind(), ErrorKind::InvalidConfig, "{err}");
    let text = err.to_string();
    assert!(text.contains("use_placement_group"), "{text}");
    assert!(text.contains("eu-west-1"), "{text}");
    assert!(fx.live(Cloud::Aws).is_empty());
}

/// The registry builds the backend from nothing but the emulator's `env.sh` variables, and
/// the retry policy given there (`retry_policy`) is the one in force.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registry_reads_the_environment_overlay() {
    let fx = Fixture::start(&AWS, base_scenario(), TestConfig::single("e4e4e4e4-env")).await;
    let registration = cr_core::registry::find("ec2").expect("the ec2 alias resolves");
    assert_eq!(registration.name, "aws");
    let mut options = AWS.registry_options(&fx.emulator, fx.dir.path());
    options.retry = retry_policy();
    // A wrong key in the overlay wins over anything in the process environment.
    options
        .env
        .insert("AWS_SECRET_ACCESS_KEY".into(), "not-the-secret".into());
    let backend = (registration.construct)(fx.params.clone(), options)
        .await
        .expect("the backend builds");
    let err = backend
        .reserve(&fx.params)
        .await
        .expect_err("the overlay's wrong secret is used");
    assert_eq!(err.kind(), ErrorKind::Unauthorized, "{err}");
    assert!(fx.audit(Cloud::Aws).is_empty());
}

/// Tag filters are not documented for DescribeCapacityReservations: with an EC2 that rejects
/// them, discover, reserve (which looks for an existing set first) and cancel_all_regions
/// still find the test's reservations by their tags, and only the test's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn works_when_tag_filters_are_rejected() {
    let mut scenario = base_scenario();
    scenario
        .clouds
        .get_mut(cloud_kind(Cloud::Aws))
        .options
        .insert("tag_filters".into(), serde_json::json!(false));
    let fx = Fixture::start(
        &AWS,
        scenario,
        TestConfig::single("7a6f1170-no-tag-filters"),
    )
    .await;
    let foreign = AWS
        .create_outside(
            &fx.emulator,
            "another-test",
            "us-east-1",
            "us-east-1a",
            "i4i.large",
        )
        .await;
    let backend = valid_backend(&AWS, &fx).await;
    let set = backend.reserve(&fx.params).await.expect("reserve");
    let found = valid_backend(&AWS, &fx)
        .await
        .discover(&fx.params)
        .await
        .expect("discover");
    let ids = |s: &cr_core::ReservationSet| {
        s.reservations()
            .map(|r| r.id.0.clone())
            .collect::<BTreeSet<_>>()
    };
    assert_eq!(ids(&found), ids(&set));
    assert!(!ids(&found).contains(&foreign));
    let rejected = fx
        .emulator
        .requests()
        .into_iter()
        .filter(|r| {
            r.operation == "DescribeCapacityReservations"
                && r.error_code.as_deref() == Some("InvalidParameterValue")
        })
        .count();
    assert!(
        rejected > 0,
        "the emulator must have rejected the tag filter"
    );

    let report = backend
        .cancel_all_regions(&fx.config.test_id)
        .await
        .expect("cancel_all_regions");
    assert_eq!(report.cancelled.len(), set.reservations().count());
    let live = fx.live(Cloud::Aws);
    assert_eq!(live.len(), 1, "only the other test's reservation: {live:?}");
    assert_eq!(live[0].id, foreign);
}
