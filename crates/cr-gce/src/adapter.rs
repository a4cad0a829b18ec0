//! [`GceAdapter`]: the [`CloudAdapter`] of Compute Engine zonal reservations.

use std::collections::BTreeMap;
use std::fmt;

use async_trait::async_trait;
use cr_core::adapter::{CloudAdapter, CreateRequest, Readiness};
use cr_core::error::ErrorKind;
use cr_core::model::{CancelOutcome, Reservation, ReservationState};
use cr_core::tags::{self, TEST_ID};
use cr_core::{Cloud, Error, ReservationId, Result};
use jiff::Timestamp;

use crate::client::{GceClient, operation_error};
use crate::error::CallSite;
use crate::naming;
use crate::wire::{
    InstanceProperties, Int64, LocalSsd, ReservationResource, SpecificReservation, last_segment,
    region_of_zone,
};

/// Size of one local SSD partition, GB (the only size GCE offers for attached local SSDs).
const LOCAL_SSD_GB: i64 = 375;

/// GCE's limit on a resource description.
const MAX_DESCRIPTION_LEN: usize = 2048;

/// `Reservation.extra` key holding GCE's numeric id.
pub const EXTRA_ID: &str = "gce_id";

/// `Reservation.extra` key holding the name of the insert Operation of a pending reservation.
pub const EXTRA_OPERATION: &str = "gce_operation";

/// `Reservation.extra` key recording `specificReservationRequired` (`true`/`false`): it
/// decides how an instance targets the reservation.
const EXTRA_SPECIFIC: &str = "gce_specific_reservation_required";

/// How reservations are created.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ReservationSettings {
    /// `specificReservationRequired`: only VMs naming the reservation consume it.
    pub(crate) specific: bool,
    /// `instanceProperties.minCpuPlatform`.
    pub(crate) min_cpu_platform: Option<String>,
}

impl Default for ReservationSettings {
    fn default() -> Self {
        ReservationSettings {
            specific: true,
            min_cpu_platform: None,
        }
    }
}

/// Compute Engine zonal reservations, spoken over the Compute v1 REST API.
pub struct GceAdapter {
    client: GceClient,
    settings: ReservationSettings,
    /// Mixed into every insert's `requestId`: GCE answers a reused requestId with its first
    /// Operation forever, so one process must never present another run's (a rollback's
    /// deleted reservation, a failed Operation). Two processes of one test still converge:
    /// the reservation *name* is deterministic, and the second insert adopts the first's.
    request_nonce: u32,
}

impl fmt::Debug for GceAdapter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GceAdapter")
            .field("client", &self.client)
            .field("settings", &self.settings)
            .finish()
    }
}

impl GceAdapter {
    pub(crate) fn new(client: GceClient, settings: ReservationSettings) -> Self {
        GceAdapter {
            client,
            settings,
            request_nonce: uuid::Uuid::new_v4().as_u128() as u32,
        }
    }

    /// The project reservations are made in.
    pub fn project(&self) -> &str {
        self.client.project()
    }

    /// The insert body of `request`.
    pub(crate) fn reservation_body(&self, request: &CreateRequest) -> ReservationResource {
        let name = naming::reservation_name(
            &request.test_id,
            &request.region,
            &request.zone,
            &request.demand.instance_type,
        );
        let local_ssds = (0..request.demand.details.local_ssds)
            .map(|_| LocalSsd {
                disk_size_gb: Int64(LOCAL_SSD_GB),
                interface: "NVME".into(),
            })
            .collect();
        ReservationResource {
            name,
            description: Some(description(&request.tags.render(Cloud::Gce))),
            specific_reservation: Some(SpecificReservation {
                count: Int64(i64::from(request.demand.count)),
                in_use_count: None,
                instance_properties: InstanceProperties {
                    machine_type: request.demand.instance_type.clone(),
                    local_ssds,
                    min_cpu_platform: self.settings.min_cpu_platform.clone(),
                },
            }),
            specific_reservation_required: Some(self.settings.specific),
            delete_at_time: Some(rfc3339(request.end_time)),
            ..ReservationResource::default()
        }
    }

    /// A reservation that already exists under our name counts as ours only if its
    /// description carries our test id.
    async fn adopt_existing(
        &self,
        site: &CallSite,
        request: &CreateRequest,
        name: &str,
    ) -> Result<Reservation> {
        let get_site = CallSite {
            operation: "reservations.get",
            ..site.clone()
        };
        let existing = self
            .client
            .get_reservation(&get_site, &request.zone, name)
            .await?;
        let reservation = to_reservation(&existing, Some(&request.zone));
        if !tags::is_of_test(&reservation.tags, &request.test_id) {
            return Err(site
                .error(
                    ErrorKind::InvalidRequest,
                    "alreadyExists",
                    format!(
                        "reservation {name} already exists and belongs to another test (TestId {:?})",
                        reservation.tags.get(TEST_ID)
                    ),
                )
                .into());
        }
        if reservation.state == ReservationState::Cancelling {
            return Err(site
                .error(
                    ErrorKind::Transient,
                    "resourceBeingDeleted",
                    format!("reservation {name} is still being deleted"),
                )
                .into());
        }
        Ok(reservation)
    }
}

impl GceAdapter {
    /// The reservations of one aggregated list by name `filter` (every page), in `region`
    /// or everywhere.
    async fn list_named(&self, filter: &str, region: Option<String>) -> Result<Vec<Reservation>> {
        let mut site = CallSite::new("reservations.aggregatedList");
        if let Some(r) = &region {
            site = site.region(r);
        }
        let listed = self.client.aggregated_reservations(&site, filter).await?;
        Ok(listed
            .iter()
            .map(|r| to_reservation(r, None))
            .filter(|r| region.as_deref().is_none_or(|want| r.region == want))
            .collect())
    }
}

fn is_already_exists(err: &Error) -> bool {
    err.cloud_error().is_some_and(|c| {
        let code = c.code.to_ascii_lowercase().replace('_', "");
        code == "alreadyexists" || code == "resourcealreadyexists"
    })
}

/// The description: the tags as a JSON object, shortened to GCE's limit by dropping tags
/// other than the test id (the last ones first).
pub(crate) fn description(tags: &BTreeMap<String, String>) -> String {
    let mut tags = tags.clone();
    loop {
        let text = serde_json::to_string(&tags).unwrap_or_else(|_| "{}".into());
        if text.len() <= MAX_DESCRIPTION_LEN {
            return text;
        }
        let victim = tags.keys().rev().find(|k| *k != TEST_ID).cloned();
        match victim {
            Some(k) => {
                tags.remove(&k);
            }
            None => {
                // Only the test id is left and it is too long to store: keep what fits
                // (discovery then cannot match it, which the name prefix alone cannot fix).
                return text.chars().take(MAX_DESCRIPTION_LEN).collect();
            }
        }
    }
}

/// The tags of a description written by [`description`] (or by any tool following it).
pub(crate) fn tags_of(description: Option<&str>) -> BTreeMap<String, String> {
    let Some(text) = description else {
        return BTreeMap::new();
    };
    match serde_json::from_str::<BTreeMap<String, serde_json::Value>>(text) {
        Ok(map) => map
            .into_iter()
            .filter_map(|(k, v)| match v {
                serde_json::Value::String(s) => Some((k, s)),
                serde_json::Value::Null => None,
                other => Some((k, other.to_string())),
            })
            .collect(),
        Err(_) => BTreeMap::new(),
    }
}

fn rfc3339(t: Timestamp) -> String {
    // Whole seconds in UTC (`…Z`), the form the API documents; truncated so the reservation
    // never outlives the plan's end time.
    Timestamp::from_second(t.as_second())
        .unwrap_or(t)
        .to_string()
}

fn state_of(status: Option<&str>) -> ReservationState {
    match status.unwrap_or("") {
        "READY" | "UPDATING" => ReservationState::Active,
        "CREATING" => ReservationState::Pending,
        "DELETING" => ReservationState::Cancelling,
        "INVALID" => ReservationState::Failed,
        other => ReservationState::Other(other.to_string()),
    }
}

/// cr's view of a GCE reservation.
/// How an instance consumes `reservation`: by name when the reservation requires it
/// (`specificReservationRequired`, cr's default); otherwise GCE refuses the name ("can not be
/// targeted as specificReservationRequired is not set") and any matching instance with
/// `ANY_RESERVATION` affinity (the default) consumes it.
fn instance_target(reservation: &Reservation) -> serde_json::Value {
    if reservation.extra.get(EXTRA_SPECIFIC).map(String::as_str) == Some("false") {
        return serde_json::json!({
            "reservationAffinity": {"consumeReservationType": "ANY_RESERVATION"}
        });
    }
    serde_json::json!({
        "reservationAffinity": {
            "consumeReservationType": "SPECIFIC_RESERVATION",
            "key": "compute.googleapis.com/reservation-name",
            "values": [reservation.id.0],
        }
    })
}

pub(crate) fn to_reservation(r: &ReservationResource, zone_hint: Option<&str>) -> Reservation {
    let zone = r
        .zone
        .as_deref()
        .map(last_segment)
        .or(zone_hint)
        .unwrap_or_default()
        .to_string();
    let specific = r.specific_reservation.as_ref();
    let mut extra = BTreeMap::new();
    if let Some(id) = &r.id {
        extra.insert(EXTRA_ID.to_string(), id.clone());
    }
    if let Some(required) = r.specific_reservation_required {
        extra.insert(EXTRA_SPECIFIC.to_string(), required.to_string());
    }
    Reservation {
        id: ReservationId(r.name.clone()),
        cloud: Cloud::Gce,
        region: region_of_zone(&zone).to_string(),
        instance_type: specific
            .map(|s| last_segment(&s.instance_properties.machine_type).to_string())
            .unwrap_or_default(),
        count: specific
            .map(|s| u32::try_from(s.count.0).unwrap_or(0))
            .unwrap_or(0),
        used: specific
            .and_then(|s| s.in_use_count)
            .map(|n| u32::try_from(n.0).unwrap_or(0)),
        end_time: r
            .delete_at_time
            .as_deref()
            .and_then(|t| t.parse::<Timestamp>().ok()),
        created: r
            .creation_timestamp
            .as_deref()
            .and_then(|t| t.parse::<Timestamp>().ok()),
        state: state_of(r.status.as_deref()),
        tags: tags_of(r.description.as_deref()),
        extra,
        zone: (!zone.is_empty()).then_some(zone),
    }
}

/// The zone of a GCE reservation: every GCE reservation cr makes or finds is zonal.
fn zone_of(reservation: &Reservation) -> Result<&str> {
    reservation.zone.as_deref().ok_or_else(|| {
        CallSite::new("reservations.get")
            .region(&reservation.region)
            .error(
                ErrorKind::InvalidRequest,
                "noZone",
                format!(
                    "reservation {} has no zone; Compute Engine reservations are zonal",
                    reservation.id
                ),
            )
            .into()
    })
}

#[async_trait]
impl CloudAdapter for GceAdapter {
    fn cloud(&self) -> Cloud {
        Cloud::Gce
    }

    /// The region's zones that are `UP`, in the API's order. GCE offers no cheap "which zones
    /// offer machine type X" call within the permissions cr asks for, so a zone lacking a
    /// type is left by the engine on the insert's own error.
    async fn zones(&self, region: &str, _instance_types: &[String]) -> Result<Vec<String>> {
        let site = CallSite::new("zones.list").region(region);
        let zones = self.client.list_zones(&site).await?;
        Ok(zones
            .into_iter()
            .filter(|z| {
                z.region.as_deref().map(last_segment) == Some(region)
                    || (z.region.is_none() && region_of_zone(&z.name) == region)
            })
            .filter(|z| z.status.as_deref().is_none_or(|s| s == "UP"))
            .map(|z| z.name)
            .collect())
    }

    async fn regions(&self) -> Result<Vec<String>> {
        let site = CallSite::new("regions.list");
        let regions = self.client.list_regions(&site).await?;
        Ok(regions.into_iter().map(|r| r.name).collect())
    }

    fn lists_all_regions(&self) -> bool {
        true
    }

    async fn create(&self, request: &CreateRequest) -> Result<Reservation> {
        let site = CallSite::new("reservations.insert")
            .region(&request.region)
            .zone(&request.zone)
            .instance_type(&request.demand.instance_type);
        let body = self.reservation_body(request);
        let request_id = naming::insert_request_id(
            &request.test_id,
            &request.region,
            &request.zone,
            &request.demand.instance_type,
            request.attempt.wrapping_add(self.request_nonce),
        );
        let operation = match self
            .client
            .insert_reservation(&site, &request.zone, &body, &request_id)
            .await
        {
            Ok(op) => op,
            // A retry after a lost answer, a rerun, or a concurrent run of the same test: the
            // reservation is there already (in whatever state: the engine waits for it).
            Err(e) if is_already_exists(&e) => {
                return self.adopt_existing(&site, request, &body.name).await;
            }
            Err(e) => return Err(e),
        };
        if operation.is_done() {
            if let Some(e) = operation_error(&site, &operation) {
                let e: Error = e.into();
                if is_already_exists(&e) {
                    return self.adopt_existing(&site, request, &body.name).await;
                }
                return Err(e);
            }
            let get_site = CallSite {
                operation: "reservations.get",
                ..site.clone()
            };
            return match self
                .client
                .get_reservation(&get_site, &request.zone, &body.name)
                .await
            {
                Ok(created) => Ok(to_reservation(&created, Some(&request.zone))),
                // The Operation finished, but its reservation is gone (deleted since): the
                // requestId is spent, and a fresh one is needed.
                Err(e) if e.kind() == ErrorKind::NotFound => Err(site
                    .error(
                        ErrorKind::Transient,
                        "reservationGone",
                        format!(
                            "reservation {} is gone although its insert finished",
                            body.name
                        ),
                    )
                    .settled()
                    .into()),
                Err(e) => Err(e),
            };
        }
        // The cloud has the name and an Operation: pending until the engine's polls see the
        // Operation DONE.
        let mut extra = BTreeMap::new();
        extra.insert(EXTRA_OPERATION.to_string(), operation.name.clone());
        extra.insert(
            EXTRA_SPECIFIC.to_string(),
            self.settings.specific.to_string(),
        );
        Ok(Reservation {
            id: ReservationId(body.name.clone()),
            cloud: Cloud::Gce,
            region: request.region.clone(),
            zone: Some(request.zone.clone()),
            instance_type: request.demand.instance_type.clone(),
            count: request.demand.count,
            used: None,
            end_time: Some(request.end_time),
            created: None,
            state: ReservationState::Pending,
            tags: request.tags.render(Cloud::Gce),
            extra,
        })
    }

    /// One look at a pending reservation: its insert Operation when known (it carries the
    /// failure, e.g. `ZONE_RESOURCE_POOL_EXHAUSTED`), otherwise the reservation's status.
    async fn poll(&self, reservation: &Reservation) -> Result<Readiness> {
        let zone = zone_of(reservation)?;
        let site = CallSite::new("reservations.insert")
            .region(&reservation.region)
            .zone(zone)
            .instance_type(&reservation.instance_type);
        if let Some(op_name) = reservation.extra.get(EXTRA_OPERATION) {
            let operation = self.client.get_operation(&site, zone, op_name).await?;
            if !operation.is_done() {
                return Ok(Readiness::Pending { retry_after: None });
            }
            if let Some(e) = operation_error(&site, &operation) {
                let e: Error = e.into();
                // Made by a concurrent run of the same test: its status decides.
                if !is_already_exists(&e) {
                    return Ok(Readiness::Failed(e));
                }
            }
        }
        let get_site = CallSite {
            operation: "reservations.get",
            ..site.clone()
        };
        let current = match self
            .client
            .get_reservation(&get_site, zone, &reservation.id.0)
            .await
        {
            Ok(r) => to_reservation(&r, Some(zone)),
            Err(e) if e.kind() == ErrorKind::NotFound => {
                return Ok(Readiness::Failed(
                    site.error(
                        ErrorKind::Transient,
                        "reservationGone",
                        format!(
                            "reservation {} disappeared while being created",
                            reservation.id
                        ),
                    )
                    .settled()
                    .into(),
                ));
            }
            Err(e) => return Err(e),
        };
        Ok(match current.state {
            ReservationState::Active => Readiness::Ready(current),
            ReservationState::Pending => Readiness::Pending { retry_after: None },
            ref other => Readiness::Failed(
                site.error(
                    ErrorKind::Transient,
                    "reservationNotReady",
                    format!(
                        "reservation {} is {other:?} instead of becoming READY",
                        reservation.id
                    ),
                )
                .settled()
                .into(),
            ),
        })
    }

    async fn find(&self, test_id: &str, region: Option<String>) -> Result<Vec<Reservation>> {
        let mut found = self
            .list_named(&naming::name_filter(test_id), region)
            .await?;
        // The name filter matches a prefix of the test id: the description's TestId decides.
        tags::retain_test(&mut found, test_id);
        Ok(found)
    }

    /// Every reservation named with cr's prefix whose description's tags say cr made it (a
    /// `cr-` name alone, or a `TestId` without `CreatedBy=cr`, is not enough).
    async fn find_created(&self, region: Option<String>) -> Result<Vec<Reservation>> {
        let mut found = self.list_named(&naming::any_test_filter(), region).await?;
        tags::retain_created_by_cr(&mut found);
        found.retain(|r| r.state.is_live());
        Ok(found)
    }

    async fn cancel(&self, reservation: &Reservation) -> Result<CancelOutcome> {
        let zone = zone_of(reservation)?;
        let site = CallSite::new("reservations.delete")
            .region(&reservation.region)
            .zone(zone)
            .instance_type(&reservation.instance_type);
        let name = reservation.id.0.as_str();
        // Look first: a delete's requestId is reused on purpose (below), and GCE answers a
        // reused one with the original, finished Operation — which must not turn a second
        // cancel of a long-gone reservation into "cancelled".
        let get_site = CallSite {
            operation: "reservations.get",
            ..site.clone()
        };
        let current = match self.client.get_reservation(&get_site, zone, name).await {
            Ok(r) => r,
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(CancelOutcome::AlreadyGone),
            Err(e) => return Err(e),
        };
        // Derived from the numeric id, unique to this incarnation of the name: a delete
        // retried after a lost answer joins the first one's Operation instead of failing on a
        // reservation that is already being deleted.
        let numeric_id = current
            .id
            .as_deref()
            .or(reservation.extra.get(EXTRA_ID).map(String::as_str))
            .unwrap_or_default();
        let request_id = naming::delete_request_id(name, numeric_id);
        let deleted = match self
            .client
            .delete_reservation(&site, zone, name, &request_id)
            .await
        {
            Ok(op) => self.client.wait_operation(&site, zone, op).await,
            Err(e) => Err(e),
        };
        match deleted {
            Ok(_) => Ok(CancelOutcome::Cancelled),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(CancelOutcome::AlreadyGone),
            Err(e) => Err(e),
        }
    }

    /// Compute Engine's rate quotas are per project, whatever the region.
    fn pacing_scope(&self, _region: &str) -> Option<String> {
        Some(format!("gce {}", self.client.project_url()))
    }

    fn instance_target(&self, reservation: &Reservation) -> serde_json::Value {
        instance_target(reservation)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_instance_targets_by_name_only_a_reservation_that_requires_it() {
        let mut body = ReservationResource {
            name: "cr-x".into(),
            zone: Some("zones/us-east1-b".into()),
            specific_reservation_required: Some(true),
            ..ReservationResource::default()
        };
        let target = instance_target(&to_reservation(&body, None));
        assert_eq!(
            target["reservationAffinity"]["consumeReservationType"],
            "SPECIFIC_RESERVATION"
        );
        assert_eq!(target["reservationAffinity"]["values"][0], "cr-x");
        body.specific_reservation_required = Some(false);
        let target = instance_target(&to_reservation(&body, None));
        assert_eq!(
            target,
            serde_json::json!({"reservationAffinity": {"consumeReservationType": "ANY_RESERVATION"}})
        );
    }

    #[test]
    fn description_round_trips_and_keeps_the_test_id_when_too_long() {
        let mut tags = BTreeMap::new();
        tags.insert(TEST_ID.to_string(), "t-1".to_string());
        tags.insert("RunByUser".to_string(), "me".to_string());
        assert_eq!(tags_of(Some(&description(&tags))), tags);
        for i in 0..100 {
            tags.insert(format!("k{i:03}"), "v".repeat(40));
        }
        let d = description(&tags);
        assert!(d.len() <= MAX_DESCRIPTION_LEN);
        assert_eq!(
            tags_of(Some(&d)).get(TEST_ID).map(String::as_str),
            Some("t-1")
        );
        assert!(tags_of(Some("made by hand")).is_empty());
        assert!(tags_of(None).is_empty());
    }

    #[test]
    fn reservations_map_status_counts_and_expiry() {
        let r: ReservationResource = serde_json::from_value(serde_json::json!({
            "name": "cr-t-b-n2-standard-8-0a1b2c3d",
            "id": "4242",
            "zone": "https://www.googleapis.com/compute/v1/projects/p/zones/us-east1-b",
            "status": "READY",
            "description": "{\"TestId\":\"t\"}",
            "deleteAtTime": "2030-01-02T03:04:05Z",
            "specificReservation": {"count": "3", "inUseCount": "1",
                "instanceProperties": {"machineType": "n2-standard-8"}}
        }))
        .unwrap();
        let m = to_reservation(&r, None);
        assert_eq!(m.id.0, "cr-t-b-n2-standard-8-0a1b2c3d");
        assert_eq!(m.zone.as_deref(), Some("us-east1-b"));
        assert_eq!(m.region, "us-east1");
        assert_eq!(m.instance_type, "n2-standard-8");
        assert_eq!(m.count, 3);
        assert_eq!(m.used, Some(1));
        assert_eq!(m.state, ReservationState::Active);
        assert_eq!(
            m.end_time,
            Some("2030-01-02T03:04:05Z".parse::<Timestamp>().unwrap())
        );
        assert_eq!(m.tags.get(TEST_ID).map(String::as_str), Some("t"));
        assert_eq!(m.extra.get(EXTRA_ID).map(String::as_str), Some("4242"));
        for (status, state) in [
            ("CREATING", ReservationState::Pending),
            ("DELETING", ReservationState::Cancelling),
            ("INVALID", ReservationState::Failed),
            ("UPDATING", ReservationState::Active),
        ] {
            let mut r = r.clone();
            r.status = Some(status.into());
            assert_eq!(to_reservation(&r, None).state, state);
        }
    }

    #[test]
    fn timestamps_are_whole_second_utc() {
        let t: Timestamp = "2030-01-02T03:04:05.678Z".parse().unwrap();
        assert_eq!(rfc3339(t), "2030-01-02T03:04:05Z");
    }
}
