//! [`AwsAdapter`]: the [`CloudAdapter`] for EC2 On-Demand Capacity Reservations. It maps
//! cr's requests onto the EC2 actions of [`crate::client::Ec2Api`] and EC2's replies back
//! onto [`Reservation`]s; fallback, rollback and retries are the engine's.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use aws_sdk_ec2::types::{
    AvailabilityZoneState, CapacityReservation, CapacityReservationInstancePlatform,
    CapacityReservationState, Filter, PlacementGroupState,
};
use aws_smithy_types::DateTime;
use cr_core::adapter::{CloudAdapter, CreateRequest, Readiness};
use cr_core::error::{CloudError, ErrorKind};
use cr_core::model::{CancelOutcome, Reservation, ReservationId, ReservationState};
use cr_core::tags::{self, TEST_ID};
use cr_core::{Cloud, Error, Result};
use jiff::Timestamp;

use crate::client::{ApiResult, CreateInput, Ec2Api, bad_reply, filter};

/// `Reservation::extra` key of the reservation's ARN.
pub const EXTRA_ARN: &str = "arn";
/// `Reservation::extra` key of the placement group ARN the reservation is in.
pub const EXTRA_PLACEMENT_GROUP_ARN: &str = "placement_group_arn";

/// Tag key holding the first 16 characters of the create's `ClientToken`: EC2 does not show a
/// reservation's token, and a second run of the same test whose create is refused with
/// `IdempotentParameterMismatch` (its end time differs by the seconds between the two starts)
/// finds the first run's reservation by it.
pub const TOKEN_TAG: &str = "CrToken";

/// What the configuration decides about every reservation of this backend.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Settings {
    /// The region that answers account-wide calls (DescribeRegions).
    pub home_region: String,
    /// `aws_instance_platform`.
    pub instance_platform: CapacityReservationInstancePlatform,
    /// `use_placement_group`, and where it was set (for the error when no group exists).
    pub use_placement_group: bool,
    /// Where `use_placement_group` came from.
    pub placement_group_source: String,
    /// The endpoint override, or `ec2` for EC2's own: with the region, the scope of EC2's
    /// throttling (per account and region; one account per endpoint is assumed, as the
    /// adapter does not learn its account id).
    pub pacing_endpoint: String,
}

/// The EC2 [`CloudAdapter`]. Build it with [`crate::AwsBuilder`].
pub struct AwsAdapter {
    api: Arc<dyn Ec2Api>,
    settings: Settings,
    /// Placement group ARNs found per (region, test id): one lookup per region, not one
    /// per reservation.
    placement_groups: Mutex<HashMap<(String, String), String>>,
}

impl fmt::Debug for AwsAdapter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AwsAdapter")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

/// The idempotency token of one create: the same (test, region, zone, type, attempt) always
/// gives the same token, so EC2 answers a retried call with the reservation it already made.
/// 64 hex characters, EC2's maximum.
pub(crate) fn client_token(
    test_id: &str,
    region: &str,
    zone: &str,
    instance_type: &str,
    attempt: u32,
) -> String {
    hex::encode(cr_core::adapter::idempotency_digest(
        test_id,
        region,
        zone,
        instance_type,
        attempt,
    ))
}

fn to_aws_time(t: Timestamp) -> DateTime {
    DateTime::from_secs_and_nanos(t.as_second(), t.subsec_nanosecond().unsigned_abs())
}

fn from_aws_time(t: &DateTime) -> Option<Timestamp> {
    Timestamp::new(t.secs(), t.subsec_nanos() as i32).ok()
}

fn state_of(state: Option<&CapacityReservationState>) -> ReservationState {
    match state {
        Some(CapacityReservationState::Active) => ReservationState::Active,
        Some(CapacityReservationState::Pending) => ReservationState::Pending,
        Some(CapacityReservationState::Cancelled) => ReservationState::Cancelled,
        Some(CapacityReservationState::Expired) => ReservationState::Expired,
        Some(CapacityReservationState::Failed) => ReservationState::Failed,
        Some(other) => ReservationState::Other(other.as_str().to_string()),
        None => ReservationState::Other("unknown".into()),
    }
}

fn tags_of(cr: &CapacityReservation) -> BTreeMap<String, String> {
    cr.tags()
        .iter()
        .filter_map(|t| Some((t.key()?.to_string(), t.value().unwrap_or("").to_string())))
        .collect()
}

/// A [`Reservation`] from EC2's description of it.
fn to_reservation(operation: &str, region: &str, cr: &CapacityReservation) -> Result<Reservation> {
    let id = cr
        .capacity_reservation_id()
        .ok_or_else(|| bad_reply(operation, region, "capacityReservationId"))?;
    let total = cr.total_instance_count().unwrap_or(0).max(0) as u32;
    let used = cr
        .available_instance_count()
        .map(|available| total.saturating_sub(available.max(0) as u32));
    let mut extra = BTreeMap::new();
    if let Some(arn) = cr.capacity_reservation_arn() {
        extra.insert(EXTRA_ARN.to_string(), arn.to_string());
    }
    if let Some(arn) = cr.placement_group_arn() {
        extra.insert(EXTRA_PLACEMENT_GROUP_ARN.to_string(), arn.to_string());
    }
    Ok(Reservation {
        id: ReservationId(id.to_string()),
        cloud: Cloud::Aws,
        region: region.to_string(),
        zone: cr
            .availability_zone()
            .filter(|z| !z.is_empty())
            .map(str::to_string),
        instance_type: cr.instance_type().unwrap_or_default().to_string(),
        count: total,
        used,
        end_time: cr.end_date().and_then(from_aws_time),
        created: cr.create_date().and_then(from_aws_time),
        state: state_of(cr.state()),
        tags: tags_of(cr),
        extra,
    })
}

impl AwsAdapter {
    pub(crate) fn new(api: Arc<dyn Ec2Api>, settings: Settings) -> Self {
        AwsAdapter {
            api,
            settings,
            placement_groups: Mutex::new(HashMap::new()),
        }
    }

    /// The ARN of the test's placement group in `region`: the available group tagged with
    /// its test id. No group is a configuration problem the user must fix, not a crash.
    async fn placement_group_arn(&self, region: &str, test_id: &str) -> Result<String> {
        let key = (region.to_string(), test_id.to_string());
        if let Some(arn) = self
            .placement_groups
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&key)
        {
            return Ok(arn.clone());
        }
        let groups = self
            .api
            .describe_placement_groups(region, vec![filter(&format!("tag:{TEST_ID}"), &[test_id])])
            .await
            .map_err(lift)?;
        // Tag filters are checked again here: an endpoint that ignored the filter must not
        // hand us another test's group.
        let arn = groups
            .iter()
            .filter(|g| {
                g.tags()
                    .iter()
                    .any(|t| t.key() == Some(TEST_ID) && t.value() == Some(test_id))
            })
            .filter(|g| matches!(g.state(), None | Some(PlacementGroupState::Available)))
            .find_map(|g| g.group_arn().map(str::to_string));
        let Some(arn) = arn else {
            return Err(Error::config(
                self.settings.placement_group_source.clone(),
                "use_placement_group",
                "true",
                format!(
                    "an available placement group tagged {TEST_ID}={test_id} in region {region} \
                     (none was found: create the test's placement group before reserving, or \
                     set use_placement_group: false)"
                ),
            ));
        };
        self.placement_groups
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(key, arn.clone());
        Ok(arn)
    }

    /// The test's live reservations in `region`.
    async fn find_in_region(&self, test_id: &str, region: &str) -> Result<Vec<Reservation>> {
        let mut found = self
            .list_tagged(region, filter(&format!("tag:{TEST_ID}"), &[test_id]))
            .await?;
        // The tag filter may be ignored or looser than asked: the TestId tag decides.
        tags::retain_test(&mut found, test_id);
        Ok(found)
    }

    /// Every live reservation cr made in `region`, whatever its test (`tag:CreatedBy=cr`,
    /// then `CreatedBy=cr` and a `TestId` re-checked here).
    async fn find_created_in_region(&self, region: &str) -> Result<Vec<Reservation>> {
        let mut found = self
            .list_tagged(
                region,
                filter(
                    &format!("tag:{}", tags::CREATED_BY),
                    &[tags::CREATED_BY_VALUE],
                ),
            )
            .await?;
        tags::retain_created_by_cr(&mut found);
        Ok(found)
    }

    /// The live reservations of `region` matching the tag filter `tagged` (every page). If
    /// the endpoint rejects tag filters, the region is listed by state alone and the caller's
    /// re-check of the tags decides.
    async fn list_tagged(&self, region: &str, tagged: Filter) -> Result<Vec<Reservation>> {
        let states = ["active", "pending"];
        let filters = vec![tagged, filter("state", &states)];
        let listed = match self
            .api
            .describe_capacity_reservations(region, Vec::new(), filters)
            .await
        {
            Ok(list) => list,
            // Tag filters are not documented for this action: if an endpoint rejects them,
            // list by state and match the tags here.
            Err(e) if e.kind == ErrorKind::InvalidRequest && rejects_tag_filter(&e) => {
                tracing::debug!(region, error = %e, "tag filter rejected, filtering client-side");
                self.api
                    .describe_capacity_reservations(
                        region,
                        Vec::new(),
                        vec![filter("state", &states)],
                    )
                    .await
                    .map_err(lift)?
            }
            Err(e) => return Err(lift(e)),
        };
        let mut found = listed
            .iter()
            .map(|cr| to_reservation("DescribeCapacityReservations", region, cr))
            .collect::<Result<Vec<_>>>()?;
        found.retain(|r| r.state.is_live());
        Ok(found)
    }

    /// The reservation another run of the same test made with `token` (EC2 refused ours as
    /// `IdempotentParameterMismatch`: same token, other parameters — the end time differs by
    /// the seconds between the two runs' starts). A live one serves this create too; if it is
    /// gone, or the token belongs to something else, the error is settled so the engine
    /// creates again with a fresh token.
    async fn adopt_by_token(
        &self,
        request: &CreateRequest,
        token: &str,
        refused: CloudError,
    ) -> Result<Reservation> {
        let instance_type = &request.demand.instance_type;
        let listed = self
            .api
            .describe_capacity_reservations(
                &request.region,
                Vec::new(),
                vec![
                    filter(&format!("tag:{TEST_ID}"), &[&request.test_id]),
                    filter(&format!("tag:{TOKEN_TAG}"), &[token_tag(token)]),
                ],
            )
            .await
            .map_err(|e| with_target(*e, &request.zone, instance_type))?;
        for cr in &listed {
            let r = to_reservation("DescribeCapacityReservations", &request.region, cr)?;
            let ours = tags::is_of_test(&r.tags, &request.test_id)
                && r.tags.get(TOKEN_TAG).map(String::as_str) == Some(token_tag(token))
                && r.zone.as_deref() == Some(request.zone.as_str())
                && r.instance_type == *instance_type
                && r.count == request.demand.count;
            if ours && r.state.is_live() {
                tracing::info!(id = %r.id, zone = r.zone, "another run of this test made this reservation with the same token; sharing it");
                return Ok(r);
            }
        }
        Err(with_target(
            CloudError {
                kind: ErrorKind::Transient,
                message: format!(
                    "{}; no live reservation of this test carries the token, so a fresh one is used",
                    refused.message
                ),
                ..refused
            }
            .settled(),
            &request.zone,
            instance_type,
        ))
    }

    /// Whether a cancel that EC2 refused was refused because the reservation is no longer
    /// live (a retried cancel, or one racing its end date).
    async fn is_gone(&self, reservation: &Reservation) -> Result<bool> {
        match self.describe_one(reservation).await {
            Ok(None) => Ok(true),
            Ok(Some(cr)) => Ok(matches!(
                cr.state(),
                Some(
                    CapacityReservationState::Cancelled
                        | CapacityReservationState::Expired
                        | CapacityReservationState::Failed
                )
            )),
            Err(e) if e.kind == ErrorKind::NotFound => Ok(true),
            Err(e) => Err(lift(e)),
        }
    }

    /// EC2's description of `reservation`, by id (`None`: not listed).
    async fn describe_one(
        &self,
        reservation: &Reservation,
    ) -> ApiResult<Option<CapacityReservation>> {
        let listed = self
            .api
            .describe_capacity_reservations(
                &reservation.region,
                vec![reservation.id.0.clone()],
                Vec::new(),
            )
            .await?;
        Ok(listed
            .into_iter()
            .find(|cr| cr.capacity_reservation_id() == Some(reservation.id.0.as_str())))
    }
}

fn rejects_tag_filter(e: &CloudError) -> bool {
    e.code == "InvalidFilter"
        || (e.code.starts_with("InvalidParameter") && e.message.contains("tag:"))
}

/// The [`TOKEN_TAG`] value of a `ClientToken`.
fn token_tag(token: &str) -> &str {
    &token[..token.len().min(16)]
}

/// A classified EC2 failure as cr's error.
#[expect(
    clippy::boxed_local,
    reason = "adapts the boxed error of every Ec2Api result, for use in map_err"
)]
fn lift(e: Box<CloudError>) -> Error {
    Error::from(*e)
}

/// As [`lift`], naming the zone and instance type the call was about.
fn with_target(e: CloudError, zone: &str, instance_type: &str) -> Error {
    e.zone(zone).instance_type(instance_type).into()
}

/// As [`with_target`], for a reservation whose zone may be unknown.
fn at_reservation(e: CloudError, reservation: &Reservation) -> Error {
    let e = match &reservation.zone {
        Some(zone) => e.zone(zone),
        None => e,
    };
    e.instance_type(&reservation.instance_type).into()
}

#[async_trait]
impl CloudAdapter for AwsAdapter {
    fn cloud(&self) -> Cloud {
        Cloud::Aws
    }

    /// EC2 names every reservation by an id of its own: two of one zone and type coexist
    /// (the On-Demand vCPU limit counts both; a create refused for it is retried after the
    /// earlier one is released).
    fn can_hold_beside(
        &self,
        _held: &Reservation,
        _zone: &str,
        _demand: &cr_core::plan::Demand,
    ) -> bool {
        true
    }

    async fn zones(&self, region: &str, instance_types: &[String]) -> Result<Vec<String>> {
        let mut wanted: Vec<String> = Vec::new();
        for t in instance_types {
            if !wanted.contains(t) {
                wanted.push(t.clone());
            }
        }
        // The zones and the types' offerings at once: one round trip, not two.
        let offerings = async {
            if wanted.is_empty() {
                Ok(Vec::new())
            } else {
                self.api
                    .describe_instance_type_offerings(region, wanted.clone())
                    .await
            }
        };
        let (zones, offerings) =
            futures::join!(self.api.describe_availability_zones(region), offerings);
        let zones = zones.map_err(lift)?;
        // Only the region's own availability zones: Local and Wavelength Zones have their
        // own types and prices and are never what `availability_zone` letters mean.
        let available: Vec<String> = zones
            .iter()
            .filter(|z| matches!(z.state(), None | Some(AvailabilityZoneState::Available)))
            .filter(|z| matches!(z.zone_type(), None | Some("availability-zone")))
            .filter(|z| z.region_name().is_none_or(|r| r == region))
            .filter_map(|z| z.zone_name().map(str::to_string))
            .collect();
        if wanted.is_empty() {
            return Ok(available);
        }
        let offerings = offerings.map_err(lift)?;
        let mut offered: HashMap<&str, HashSet<&str>> = HashMap::new();
        for o in &offerings {
            if let (Some(zone), Some(t)) = (o.location(), o.instance_type()) {
                offered.entry(zone).or_default().insert(t.as_str());
            }
        }
        Ok(available
            .into_iter()
            .filter(|z| {
                offered
                    .get(z.as_str())
                    .is_some_and(|types| wanted.iter().all(|t| types.contains(t.as_str())))
            })
            .collect())
    }

    async fn regions(&self) -> Result<Vec<String>> {
        Ok(self
            .api
            .describe_regions(&self.settings.home_region)
            .await
            .map_err(lift)?)
    }

    async fn create(&self, request: &CreateRequest) -> Result<Reservation> {
        let instance_type = &request.demand.instance_type;
        let count = i32::try_from(request.demand.count).map_err(|_| {
            Error::Other(format!(
                "cannot reserve {} instances of {instance_type}: EC2 takes at most {}",
                request.demand.count,
                i32::MAX
            ))
        })?;
        let placement_group_arn = if self.settings.use_placement_group {
            Some(
                self.placement_group_arn(&request.region, &request.test_id)
                    .await?,
            )
        } else {
            None
        };
        let token = client_token(
            &request.test_id,
            &request.region,
            &request.zone,
            instance_type,
            request.attempt,
        );
        let mut tags = request.tags.clone();
        tags.0
            .insert(TOKEN_TAG.to_string(), token_tag(&token).to_string());
        let input = CreateInput {
            instance_type: instance_type.clone(),
            platform: self.settings.instance_platform.clone(),
            zone: request.zone.clone(),
            count,
            end_date: to_aws_time(request.end_time),
            tags: tags.render(Cloud::Aws).into_iter().collect(),
            client_token: token.clone(),
            placement_group_arn,
        };
        let cr = match self
            .api
            .create_capacity_reservation(&request.region, input)
            .await
        {
            Ok(cr) => cr,
            Err(e) if e.code == "IdempotentParameterMismatch" => {
                return self.adopt_by_token(request, &token, *e).await;
            }
            Err(e) => return Err(with_target(*e, &request.zone, instance_type)),
        };
        let mut r = to_reservation("CreateCapacityReservation", &request.region, &cr)?;
        // A terse reply still describes what was asked for.
        if r.zone.is_none() {
            r.zone = Some(request.zone.clone());
        }
        if r.instance_type.is_empty() {
            r.instance_type = instance_type.clone();
        }
        if r.count == 0 {
            r.count = request.demand.count;
        }
        if r.end_time.is_none() {
            r.end_time = Some(request.end_time);
        }
        if r.tags.is_empty() {
            r.tags = request.tags.render(Cloud::Aws);
        }
        Ok(r)
    }

    /// One DescribeCapacityReservations of the reservation: `active` is usable, `pending` is
    /// not yet (instances cannot launch into it), `failed` is EC2 refusing it late (capacity
    /// or limits: EC2 gives no reason), and a cancelled or expired one holds nothing.
    async fn poll(&self, reservation: &Reservation) -> Result<Readiness> {
        let Some(cr) = self
            .describe_one(reservation)
            .await
            .map_err(|e| at_reservation(*e, reservation))?
        else {
            // Describe is eventually consistent: a reservation just created may not be
            // listed yet.
            return Ok(Readiness::Pending { retry_after: None });
        };
        let current = to_reservation("DescribeCapacityReservations", &reservation.region, &cr)?;
        let failed = |kind: ErrorKind, code: &str, message: String| {
            Readiness::Failed(at_reservation(
                CloudError::new(kind, Cloud::Aws, "CreateCapacityReservation", code, message)
                    .region(&reservation.region)
                    .settled(),
                reservation,
            ))
        };
        Ok(match current.state {
            ReservationState::Active => Readiness::Ready(current),
            ReservationState::Pending => Readiness::Pending { retry_after: None },
            ReservationState::Failed => failed(
                ErrorKind::CapacityUnavailable,
                "failed",
                format!(
                    "EC2 accepted {} and then failed it (insufficient capacity or an instance limit)",
                    reservation.id
                ),
            ),
            ref other => failed(
                ErrorKind::Transient,
                "ended",
                format!(
                    "{} ended ({other:?}) before becoming active",
                    reservation.id
                ),
            ),
        })
    }

    async fn find(&self, test_id: &str, region: Option<String>) -> Result<Vec<Reservation>> {
        match region {
            Some(region) => self.find_in_region(test_id, &region).await,
            // EC2 lists one region per call; the engine asks region by region, but a caller
            // asking for everywhere gets every enabled region.
            None => {
                let regions = self.regions().await?;
                let lists = futures::future::try_join_all(
                    regions.iter().map(|r| self.find_in_region(test_id, r)),
                )
                .await?;
                Ok(lists.into_iter().flatten().collect())
            }
        }
    }

    /// Every reservation cr made, found by `tag:CreatedBy=cr` region by region (EC2 lists one
    /// region per call; the engine names each region).
    async fn find_created(&self, region: Option<String>) -> Result<Vec<Reservation>> {
        match region {
            Some(region) => self.find_created_in_region(&region).await,
            None => {
                let regions = self.regions().await?;
                let lists = futures::future::try_join_all(
                    regions.iter().map(|r| self.find_created_in_region(r)),
                )
                .await?;
                Ok(lists.into_iter().flatten().collect())
            }
        }
    }

    async fn cancel(&self, reservation: &Reservation) -> Result<CancelOutcome> {
        let target = |e: Box<CloudError>| at_reservation(*e, reservation);
        match self
            .api
            .cancel_capacity_reservation(&reservation.region, &reservation.id.0)
            .await
        {
            Ok(true) => Ok(CancelOutcome::Cancelled),
            Ok(false) => {
                if self.is_gone(reservation).await? {
                    Ok(CancelOutcome::AlreadyGone)
                } else {
                    Err(target(Box::new(
                        CloudError::new(
                            ErrorKind::Transient,
                            Cloud::Aws,
                            "CancelCapacityReservation",
                            "ReturnFalse",
                            format!("EC2 did not cancel {} and it is still live", reservation.id),
                        )
                        .region(&reservation.region),
                    )))
                }
            }
            Err(e) if e.kind == ErrorKind::NotFound => Ok(CancelOutcome::AlreadyGone),
            // EC2 refuses to cancel a reservation that is already cancelled or expired; only
            // a look at its state tells that apart from a real refusal.
            Err(e) if e.kind == ErrorKind::InvalidRequest => {
                if self.is_gone(reservation).await? {
                    Ok(CancelOutcome::AlreadyGone)
                } else {
                    Err(target(e))
                }
            }
            Err(e) => Err(target(e)),
        }
    }

    /// EC2 throttles per account and region (the home region for account-wide calls).
    fn pacing_scope(&self, region: &str) -> Option<String> {
        let region = match region {
            "" => self.settings.home_region.as_str(),
            r => r,
        };
        Some(format!("aws {} {region}", self.settings.pacing_endpoint))
    }

    fn instance_target(&self, reservation: &Reservation) -> serde_json::Value {
        serde_json::json!({
            "CapacityReservationSpecification": {
                "CapacityReservationTarget": {
                    "CapacityReservationId": reservation.id.0,
                }
            }
        })
    }
}

#[cfg(test)]
#[path = "adapter_tests.rs"]
mod tests;
