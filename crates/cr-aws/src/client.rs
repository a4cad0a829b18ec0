//! The EC2 calls this backend makes, one method per API action ([`Ec2Api`]), and their
//! implementation over aws-sdk-ec2 with one client per region, created lazily and cached.
//!
//! The adapter talks only to [`Ec2Api`], so its logic is unit-tested with a mock; every SDK
//! error is classified here, where it enters.

use std::collections::HashMap;
use std::fmt;
use std::sync::Mutex;

use async_trait::async_trait;
use aws_config::SdkConfig;
use aws_sdk_ec2::config::Region;
use aws_sdk_ec2::types::{
    AvailabilityZone, CapacityReservation, CapacityReservationInstancePlatform, EndDateType,
    Filter, InstanceMatchCriteria, InstanceTypeOffering, LocationType, PlacementGroup,
    ResourceType, Tag, TagSpecification,
};
use aws_smithy_types::DateTime;
use cr_core::Cloud;
use cr_core::error::{CloudError, ErrorKind};

use crate::error::classify;

/// What an EC2 call returns: boxed, because a [`CloudError`] is large and most calls succeed.
pub(crate) type ApiResult<T> = Result<T, Box<CloudError>>;

fn classify_boxed<E>(
    operation: &str,
    region: &str,
    err: aws_sdk_ec2::error::SdkError<
        E,
        aws_smithy_runtime_api::client::orchestrator::HttpResponse,
    >,
) -> Box<CloudError>
where
    E: aws_sdk_ec2::error::ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    Box::new(classify(operation, region, err))
}

/// One CreateCapacityReservation call, in this crate's terms.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct CreateInput {
    /// Instance type.
    pub instance_type: String,
    /// Instance platform (`Linux/UNIX` by default).
    pub platform: CapacityReservationInstancePlatform,
    /// Full zone name.
    pub zone: String,
    /// Instances.
    pub count: i32,
    /// When EC2 releases it on its own.
    pub end_date: DateTime,
    /// Tags, already rendered for EC2.
    pub tags: Vec<(String, String)>,
    /// Idempotency token.
    pub client_token: String,
    /// The cluster placement group to reserve in.
    pub placement_group_arn: Option<String>,
}

/// The EC2 API actions this backend calls. Each method is one action (the name in
/// [`crate::permissions::ACTIONS`]); listings are paginated to the end.
#[cfg_attr(test, mockall::automock)]
#[async_trait]
pub(crate) trait Ec2Api: Send + Sync + 'static {
    /// DescribeRegions (enabled regions), sent to `region`'s endpoint.
    async fn describe_regions(&self, region: &str) -> ApiResult<Vec<String>>;

    /// DescribeAvailabilityZones of `region`.
    async fn describe_availability_zones(&self, region: &str) -> ApiResult<Vec<AvailabilityZone>>;

    /// DescribeInstanceTypeOfferings of `region` by availability zone, for `instance_types`.
    async fn describe_instance_type_offerings(
        &self,
        region: &str,
        instance_types: Vec<String>,
    ) -> ApiResult<Vec<InstanceTypeOffering>>;

    /// DescribePlacementGroups of `region` matching `filters`.
    async fn describe_placement_groups(
        &self,
        region: &str,
        filters: Vec<Filter>,
    ) -> ApiResult<Vec<PlacementGroup>>;

    /// CreateCapacityReservation in `region`.
    async fn create_capacity_reservation(
        &self,
        region: &str,
        input: CreateInput,
    ) -> ApiResult<CapacityReservation>;

    /// DescribeCapacityReservations of `region`, by `ids` (when not empty) and `filters`.
    async fn describe_capacity_reservations(
        &self,
        region: &str,
        ids: Vec<String>,
        filters: Vec<Filter>,
    ) -> ApiResult<Vec<CapacityReservation>>;

    /// CancelCapacityReservation; `Ok(false)` when EC2 answered `return=false`.
    async fn cancel_capacity_reservation(&self, region: &str, id: &str) -> ApiResult<bool>;
}

/// [`Ec2Api`] over aws-sdk-ec2.
pub(crate) struct SdkEc2 {
    /// Shared configuration: credentials, endpoint, HTTP client, timeouts, retry.
    base: SdkConfig,
    clients: Mutex<HashMap<String, aws_sdk_ec2::Client>>,
}

impl fmt::Debug for SdkEc2 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let regions: Vec<String> = self
            .clients
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .keys()
            .cloned()
            .collect();
        f.debug_struct("SdkEc2")
            .field("endpoint", &self.base.endpoint_url())
            .field("regions", &regions)
            .finish_non_exhaustive()
    }
}

impl SdkEc2 {
    /// Clients built from `base`, one per region on first use.
    pub(crate) fn new(base: SdkConfig) -> Self {
        SdkEc2 {
            base,
            clients: Mutex::new(HashMap::new()),
        }
    }

    fn client(&self, region: &str) -> aws_sdk_ec2::Client {
        let mut clients = self.clients.lock().unwrap_or_else(|p| p.into_inner());
        clients
            .entry(region.to_string())
            .or_insert_with(|| {
                let config = aws_sdk_ec2::config::Builder::from(&self.base)
                    .region(Region::new(region.to_string()))
                    .build();
                aws_sdk_ec2::Client::from_conf(config)
            })
            .clone()
    }
}

/// A filter on `name` matching exactly one of `values` (OR-ed). The values are literals:
/// EC2 reads `*` and `?` in a filter value as wildcards and `\` as their escape, so each is
/// escaped ([`filter_literal`]).
pub(crate) fn filter(name: &str, values: &[&str]) -> Filter {
    Filter::builder()
        .name(name)
        .set_values(Some(values.iter().map(|v| filter_literal(v)).collect()))
        .build()
}

/// The EC2 filter value that matches exactly `value`: `\`, `*` and `?` backslash-escaped
/// (EC2's own example: the value `\*amazon\?\\` matches the literal `*amazon?\`).
fn filter_literal(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        if matches!(c, '\\' | '*' | '?') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// A well-formed reply that lacks something this backend needs. Transient: such a reply
/// comes from a broken proxy or a cut answer far more often than from EC2 itself, and the
/// call may have been carried out all the same (so a create is looked for by its tag).
pub(crate) fn bad_reply(operation: &str, region: &str, what: &str) -> CloudError {
    CloudError::new(
        ErrorKind::Transient,
        Cloud::Aws,
        operation,
        "UnexpectedResponse",
        format!(
            "the reply has no {what}; if this persists, check for a proxy between cr and EC2 \
             (AWS_ENDPOINT_URL*, HTTPS_PROXY)"
        ),
    )
    .region(region)
}

#[async_trait]
impl Ec2Api for SdkEc2 {
    async fn describe_regions(&self, region: &str) -> ApiResult<Vec<String>> {
        let out = self
            .client(region)
            .describe_regions()
            .send()
            .await
            .map_err(|e| classify_boxed("DescribeRegions", region, e))?;
        Ok(out
            .regions()
            .iter()
            .filter_map(|r| r.region_name().map(str::to_string))
            .collect())
    }

    async fn describe_availability_zones(&self, region: &str) -> ApiResult<Vec<AvailabilityZone>> {
        let out = self
            .client(region)
            .describe_availability_zones()
            .send()
            .await
            .map_err(|e| classify_boxed("DescribeAvailabilityZones", region, e))?;
        Ok(out.availability_zones().to_vec())
    }

    async fn describe_instance_type_offerings(
        &self,
        region: &str,
        instance_types: Vec<String>,
    ) -> ApiResult<Vec<InstanceTypeOffering>> {
        let types: Vec<&str> = instance_types.iter().map(String::as_str).collect();
        self.client(region)
            .describe_instance_type_offerings()
            .location_type(LocationType::AvailabilityZone)
            .filters(filter("instance-type", &types))
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .map_err(|e| classify_boxed("DescribeInstanceTypeOfferings", region, e))
    }

    async fn describe_placement_groups(
        &self,
        region: &str,
        filters: Vec<Filter>,
    ) -> ApiResult<Vec<PlacementGroup>> {
        let out = self
            .client(region)
            .describe_placement_groups()
            .set_filters(Some(filters))
            .send()
            .await
            .map_err(|e| classify_boxed("DescribePlacementGroups", region, e))?;
        Ok(out.placement_groups().to_vec())
    }

    async fn create_capacity_reservation(
        &self,
        region: &str,
        input: CreateInput,
    ) -> ApiResult<CapacityReservation> {
        let tags = input
            .tags
            .iter()
            .map(|(k, v)| Tag::builder().key(k).value(v).build())
            .collect();
        let out = self
            .client(region)
            .create_capacity_reservation()
            .client_token(input.client_token)
            .instance_type(input.instance_type)
            .instance_platform(input.platform)
            .availability_zone(input.zone)
            .instance_count(input.count)
            .instance_match_criteria(InstanceMatchCriteria::Targeted)
            .end_date_type(EndDateType::Limited)
            .end_date(input.end_date)
            .tag_specifications(
                TagSpecification::builder()
                    .resource_type(ResourceType::CapacityReservation)
                    .set_tags(Some(tags))
                    .build(),
            )
            .set_placement_group_arn(input.placement_group_arn)
            .send()
            .await
            .map_err(|e| classify_boxed("CreateCapacityReservation", region, e))?;
        out.capacity_reservation.ok_or_else(|| {
            Box::new(bad_reply(
                "CreateCapacityReservation",
                region,
                "capacityReservation",
            ))
        })
    }

    async fn describe_capacity_reservations(
        &self,
        region: &str,
        ids: Vec<String>,
        filters: Vec<Filter>,
    ) -> ApiResult<Vec<CapacityReservation>> {
        let request = self
            .client(region)
            .describe_capacity_reservations()
            .set_capacity_reservation_ids((!ids.is_empty()).then_some(ids))
            .set_filters((!filters.is_empty()).then_some(filters));
        request
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .map_err(|e| classify_boxed("DescribeCapacityReservations", region, e))
    }

    async fn cancel_capacity_reservation(&self, region: &str, id: &str) -> ApiResult<bool> {
        let out = self
            .client(region)
            .cancel_capacity_reservation()
            .capacity_reservation_id(id)
            .send()
            .await
            .map_err(|e| classify_boxed("CancelCapacityReservation", region, e))?;
        // An absent `return` element is read as success: the call itself did not fail.
        Ok(out.r#return.unwrap_or(true))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filter_values_are_literals() {
        let table = [
            (
                "7c86f6de-f87d-45a8-9e7f-61fe7b7dbe84",
                "7c86f6de-f87d-45a8-9e7f-61fe7b7dbe84",
            ),
            // EC2's documented example.
            (r"*amazon?\", r"\*amazon\?\\"),
            (r"ci\run", r"ci\\run"),
            ("run-*", r"run-\*"),
            ("run-?", r"run-\?"),
            (r"\*?", r"\\\*\?"),
            (
                r#"quotes "' spaces (and) [brackets] % é"#,
                r#"quotes "' spaces (and) [brackets] % é"#,
            ),
            ("", ""),
        ];
        for (value, escaped) in table {
            assert_eq!(filter_literal(value), escaped, "{value:?}");
        }
        let f = filter("tag:TestId", &[r"a\b", "c*"]);
        assert_eq!(f.name(), Some("tag:TestId"));
        assert_eq!(f.values(), [r"a\\b", r"c\*"]);
    }
}
