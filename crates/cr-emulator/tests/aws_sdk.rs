//! The official AWS SDK for Rust (aws-sdk-ec2) against the emulator, over HTTPS trusting the
//! emulator's CA and over plain HTTP: create a capacity reservation with tags, describe it
//! with a tag filter (through the SDK's paginator), cancel it, and see the SDK classify the
//! emulator's stockout error.

mod common;

use aws_sdk_ec2::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_ec2::types::{
    CapacityReservationInstancePlatform, CapacityReservationState, EndDateType, Filter,
    InstanceMatchCriteria, ResourceType, Tag, TagSpecification,
};
use aws_smithy_http_client::tls::rustls_provider::CryptoMode;
use aws_smithy_http_client::tls::{Provider, TlsContext, TrustStore};
use cr_emulator::{AuditState, EmulatorHandle};

fn sdk_client(emu: &EmulatorHandle, https: bool) -> aws_sdk_ec2::Client {
    let aws = &emu.credentials().aws;
    let credentials = Credentials::new(
        &aws.access_key_id,
        &aws.secret_access_key,
        None,
        None,
        "cr-emulator",
    );
    let mut config = aws_sdk_ec2::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .credentials_provider(credentials)
        .endpoint_url(if https {
            emu.https_url()
        } else {
            emu.http_url()
        });
    if https {
        let tls = TlsContext::builder()
            .with_trust_store(TrustStore::empty().with_pem_certificate(emu.ca_pem().as_bytes()))
            .build()
            .expect("TLS context");
        config = config.http_client(
            aws_smithy_http_client::Builder::new()
                .tls_provider(Provider::Rustls(CryptoMode::AwsLc))
                .tls_context(tls)
                .build_https(),
        );
    }
    aws_sdk_ec2::Client::from_conf(config.build())
}

async fn create_describe_cancel(emu: &EmulatorHandle, https: bool) {
    let ec2 = sdk_client(emu, https);
    let owner = if https { "ci-https" } else { "ci-http" };
    let created = ec2
        .create_capacity_reservation()
        .instance_type("i4i.large")
        .instance_platform(CapacityReservationInstancePlatform::LinuxUnix)
        .availability_zone("us-east-1b")
        .instance_count(2)
        .end_date_type(EndDateType::Unlimited)
        .instance_match_criteria(InstanceMatchCriteria::Targeted)
        .client_token(format!("token-{owner}"))
        .tag_specifications(
            TagSpecification::builder()
                .resource_type(ResourceType::CapacityReservation)
                .tags(Tag::builder().key("owner").value(owner).build())
                .build(),
        )
        .send()
        .await
        .expect("create succeeds");
    let cr = created
        .capacity_reservation()
        .expect("reservation in reply");
    let id = cr.capacity_reservation_id().expect("id").to_owned();
    assert_eq!(cr.state(), Some(&CapacityReservationState::Active));
    assert_eq!(cr.total_instance_count(), Some(2));
    assert_eq!(cr.availability_zone(), Some("us-east-1b"));
    assert!(cr.create_date().is_some());
    assert_eq!(cr.tags()[0].value(), Some(owner));

    let pages: Vec<_> = ec2
        .describe_capacity_reservations()
        .filters(Filter::builder().name("tag:owner").values(owner).build())
        .max_results(1)
        .into_paginator()
        .send()
        .collect::<Vec<_>>()
        .await;
    let found: Vec<String> = pages
        .into_iter()
        .flat_map(|p| {
            p.expect("describe page")
                .capacity_reservations
                .unwrap_or_default()
        })
        .filter_map(|c| c.capacity_reservation_id)
        .collect();
    assert_eq!(found, vec![id.clone()]);

    let cancelled = ec2
        .cancel_capacity_reservation()
        .capacity_reservation_id(&id)
        .send()
        .await
        .expect("cancel succeeds");
    assert_eq!(cancelled.r#return(), Some(true));
    let after = ec2
        .describe_capacity_reservations()
        .capacity_reservation_ids(&id)
        .send()
        .await
        .expect("describe by id");
    assert_eq!(
        after.capacity_reservations()[0].state(),
        Some(&CapacityReservationState::Cancelled)
    );
    let audit = emu.state();
    let rec = audit
        .reservations
        .iter()
        .find(|r| r.id == id)
        .expect("audited");
    assert_eq!(rec.state, AuditState::Cancelled);
}

#[tokio::test]
async fn the_official_sdk_creates_describes_with_a_tag_filter_and_cancels() {
    let emu = common::start(
        "clouds: {aws: {regions: {us-east-1: {zones: {us-east-1a: {i4i.large: 0}}}}}}",
    )
    .await;
    create_describe_cancel(&emu, true).await;
    create_describe_cancel(&emu, false).await;

    // The SDK sees the emulator's stockout as an InsufficientInstanceCapacity service error.
    let ec2 = sdk_client(&emu, true);
    let err = ec2
        .create_capacity_reservation()
        .instance_type("i4i.large")
        .instance_platform(CapacityReservationInstancePlatform::LinuxUnix)
        .availability_zone("us-east-1a")
        .instance_count(1)
        .send()
        .await
        .expect_err("stocked out");
    let service = err
        .as_service_error()
        .expect("a service error, not a transport one");
    use aws_sdk_ec2::error::ProvideErrorMetadata;
    assert_eq!(service.code(), Some("InsufficientInstanceCapacity"));
    assert!(service.message().unwrap_or_default().contains("us-east-1a"));
    emu.shutdown().await;
}
