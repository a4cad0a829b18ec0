//! [`OciAdapter`]: the [`CloudAdapter`] of OCI compute capacity reservations.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use async_trait::async_trait;
use cr_core::adapter::{CloudAdapter, CreateRequest, Readiness};
use cr_core::error::ErrorKind;
use cr_core::model::{CancelOutcome, Reservation, ReservationState};
use cr_core::plan::Demand;
use cr_core::preflight::{Checkable, CredentialReport, PermissionCheck, QuotaLine};
use cr_core::tags::{self, TEST_ID};
use cr_core::wait::{Poll, WaitPolicy, Waited, poll_until};
use cr_core::{Cloud, ReservationId, Result};

use crate::client::OciClient;
use crate::error::{CallSite, classify_code};
use crate::wire::{ConfigDetails, CreateDetails, ReservationBody, ShapeConfig};

/// `Reservation.extra` key holding the work request of a pending create.
pub const EXTRA_WORK_REQUEST: &str = "oci_work_request";

/// `Reservation.extra` key holding the reservation's compartment.
pub const EXTRA_COMPARTMENT: &str = "oci_compartment";

/// OCI's limit on `opc-retry-token`.
pub const MAX_RETRY_TOKEN_LEN: usize = 64;

/// OCI's limit on a display name.
const MAX_DISPLAY_NAME: usize = 255;

/// How reservations are created.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct ReservationSettings {
    /// `oci_compartment_id` (else the tenancy).
    pub(crate) compartment: Option<String>,
    /// `faultDomain` of every config (`FAULT-DOMAIN-1`..3), none by default.
    pub(crate) fault_domain: Option<String>,
    /// The defined-tag namespace that gets `TestId` (e.g. `SCT`), none by default.
    pub(crate) defined_tag_namespace: Option<String>,
}

/// OCI compute capacity reservations, spoken over the Core and Identity REST APIs.
pub struct OciAdapter {
    client: OciClient,
    tenancy: String,
    home_region: Option<String>,
    settings: ReservationSettings,
    /// How long a cancel waits for `DELETED`.
    delete_timeout: Duration,
    /// Where the credential came from, in words (the preflight's credential source).
    source: String,
}

impl fmt::Debug for OciAdapter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OciAdapter")
            .field("client", &self.client)
            .field("tenancy", &self.tenancy)
            .field("home_region", &self.home_region)
            .field("settings", &self.settings)
            .finish()
    }
}

/// The `opc-retry-token` of a create: hex of cr-core's idempotency digest (test id, region,
/// AD, shape, attempt), exactly 64 characters. The same create retried after a lost reply
/// presents the same token; a rerun after the first was settled presents the next attempt's.
pub fn retry_token(request: &CreateRequest) -> String {
    let token = hex::encode(request.idempotency_digest());
    debug_assert!(token.len() <= MAX_RETRY_TOKEN_LEN);
    token
}

/// The display name: `cr-<test id>-<AD label>-<shape>`, cut to OCI's limit.
pub fn display_name(test_id: &str, ad: &str, shape: &str) -> String {
    let label = ad.rsplit(':').next().unwrap_or(ad);
    let name = format!("cr-{test_id}-{label}-{shape}");
    name.chars().take(MAX_DISPLAY_NAME).collect()
}

fn is_flex(shape: &str) -> bool {
    shape.ends_with(".Flex")
}

/// The compute service limit counting the cores (OCPUs) of `shape`, per availability domain
/// (`VM.Standard.E4.Flex` → `standard-e4-core-count`); `None` for a family cr does not know.
pub fn core_limit(shape: &str) -> Option<&'static str> {
    let series = shape
        .strip_prefix("VM.")
        .or_else(|| shape.strip_prefix("BM."))?;
    let family = series.trim_end_matches(".Flex");
    let family = family
        .rsplit_once('.')
        .filter(|(_, n)| n.chars().all(|c| c.is_ascii_digit()))
        .map_or(family, |(f, _)| f);
    Some(match family {
        "Standard2" => "standard2-core-count",
        "Standard3" => "standard3-core-count",
        "Standard.E2" => "standard-e2-core-ad-count",
        "Standard.E3" => "standard-e3-core-ad-count",
        "Standard.E4" => "standard-e4-core-count",
        "Standard.E5" => "standard-e5-core-count",
        "Standard.A1" => "standard-a1-core-count",
        "Optimized3" => "optimized3-core-count",
        "DenseIO2" => "dense-io2-core-count",
        "DenseIO.E4" => "dense-io-e4-core-count",
        "DenseIO.E5" => "dense-io-e5-core-count",
        _ => return None,
    })
}

/// The OCPUs one instance of the demand counts: a Flex shape's configured `ocpus` (1 when
/// unset, as a reservation without a shape config gets), else the number the shape's name
/// ends in (`VM.Standard2.4` → 4, `BM.Standard.E4.128` → 128).
fn ocpus(demand: &cr_core::plan::Demand) -> Option<u64> {
    let shape = &demand.instance_type;
    if is_flex(shape) {
        let n = demand.details.ocpus.unwrap_or(1.0);
        return (n > 0.0).then(|| n.ceil() as u64);
    }
    shape.rsplit('.').next()?.parse().ok()
}

fn state_of(lifecycle: Option<&str>) -> ReservationState {
    match lifecycle.map(str::to_ascii_uppercase).as_deref() {
        Some("CREATING") => ReservationState::Pending,
        Some("ACTIVE" | "UPDATING" | "MOVING") => ReservationState::Active,
        Some("DELETING") => ReservationState::Cancelling,
        Some("DELETED") => ReservationState::Cancelled,
        Some(other) => ReservationState::Other(other.to_string()),
        None => ReservationState::Other("unknown".into()),
    }
}

/// The freeform tags of a reservation: the plan's, rendered for OCI, and the planned end
/// ([`tags::CR_END_TIME`]: OCI reservations have no end time of their own, so `cr orphans`
/// and people read it there).
fn freeform_tags(request: &CreateRequest) -> BTreeMap<String, String> {
    let mut tags = request.tags.render(Cloud::Oci);
    let end =
        jiff::Timestamp::from_second(request.end_time.as_second()).unwrap_or(request.end_time);
    tags.insert(tags::CR_END_TIME.to_string(), end.to_string());
    tags
}

/// cr's view of an OCI reservation (a full body or a summary).
pub(crate) fn to_reservation(r: &ReservationBody, region: &str) -> Reservation {
    let configs = r
        .instance_reservation_configs
        .as_deref()
        .unwrap_or_default();
    let mut shapes: Vec<&str> = configs.iter().map(|c| c.instance_shape.as_str()).collect();
    shapes.dedup();
    let count = r
        .reserved_instance_count
        .unwrap_or_else(|| configs.iter().map(|c| c.reserved_count).sum());
    let used = r
        .used_instance_count
        .or_else(|| configs.iter().map(|c| c.used_count).sum::<Option<u64>>());
    let mut extra = BTreeMap::new();
    if let Some(c) = &r.compartment_id {
        extra.insert(EXTRA_COMPARTMENT.to_string(), c.clone());
    }
    Reservation {
        id: ReservationId(r.id.clone()),
        cloud: Cloud::Oci,
        region: region.to_string(),
        zone: Some(r.availability_domain.clone()),
        instance_type: shapes.join(","),
        count: u32::try_from(count).unwrap_or(u32::MAX),
        used: used.map(|u| u32::try_from(u).unwrap_or(u32::MAX)),
        // OCI capacity reservations have no end time: they hold until deleted.
        end_time: None,
        created: r.time_created.parse::<jiff::Timestamp>().ok(),
        state: state_of(r.lifecycle_state.as_deref()),
        tags: r.freeform_tags.clone().unwrap_or_default(),
        extra,
    }
}

impl OciAdapter {
    /// Lists the compartment in `region` (every page) and keeps the reservations whose
    /// freeform tags `keep` accepts (a summary without tags is read to decide), each read in
    /// full: summaries carry no shape. Deleted ones are left out.
    async fn list_where(
        &self,
        region: &str,
        keep: impl Fn(&BTreeMap<String, String>) -> bool,
    ) -> Result<Vec<Reservation>> {
        let region = region.to_string();
        let site = CallSite::new("ListComputeCapacityReservations").region(&region);
        let listed = self
            .client
            .list_reservations(&site, &region, self.compartment())
            .await?;
        let candidates: Vec<ReservationBody> = listed
            .into_iter()
            .filter(|s| {
                // A summary may omit tags and state: only a present, different value rules it out.
                s.freeform_tags.as_ref().is_none_or(&keep)
                    && !matches!(
                        s.lifecycle_state
                            .as_deref()
                            .map(str::to_ascii_uppercase)
                            .as_deref(),
                        Some("DELETED")
                    )
            })
            .collect();
        let get_site = site.op("GetComputeCapacityReservation").on_reservation();
        let reads = candidates.iter().map(|s| {
            let get_site = get_site.clone().ad(&s.availability_domain);
            let region = &region;
            async move {
                match self.client.get_reservation(&get_site, region, &s.id).await {
                    Ok(full) => Ok(Some(to_reservation(&full, region))),
                    // Deleted between the list and the read.
                    Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
                    Err(e) => Err(e),
                }
            }
        });
        Ok(futures::future::try_join_all(reads)
            .await?
            .into_iter()
            .flatten()
            .collect())
    }

    pub(crate) fn new(
        client: OciClient,
        tenancy: String,
        home_region: Option<String>,
        settings: ReservationSettings,
    ) -> Self {
        OciAdapter {
            client,
            tenancy,
            home_region,
            settings,
            delete_timeout: Duration::from_secs(300),
            source: "an OCI API key".to_string(),
        }
    }

    pub(crate) fn set_delete_timeout(&mut self, timeout: Duration) {
        self.delete_timeout = timeout;
    }

    pub(crate) fn set_source(&mut self, source: String) {
        self.source = source;
    }

    /// The region the preflight's region-less reads go to: the profile's home region.
    fn home(&self) -> Option<&str> {
        self.home_region.as_deref()
    }

    /// One limit's value, use and what is left in one availability domain.
    async fn core_headroom(&self, region: &str, limit: &str, ad: &str) -> Result<(u64, u64)> {
        let site = CallSite::new("ListLimitValues").region(region).ad(ad);
        let availability_site = site.op("GetResourceAvailability");
        let (values, availability) = tokio::join!(
            self.client
                .limit_values(&site, region, &self.tenancy, limit, ad),
            self.client
                .resource_availability(&availability_site, region, &self.tenancy, limit, ad)
        );
        let value = values?
            .into_iter()
            .filter(|v| v.name == limit)
            .find(|v| {
                v.availability_domain
                    .as_deref()
                    .is_none_or(|a| a.eq_ignore_ascii_case(ad))
            })
            .and_then(|v| v.value)
            .unwrap_or(0);
        let availability = availability?;
        let used = availability.used.unwrap_or(0).max(0);
        // A compartment quota can leave less than the limit: the effective limit is what is
        // used plus what is still available, never more than the limit.
        let limit_value = match availability.available {
            Some(a) => value.min(used + a.max(0)),
            None => value,
        };
        Ok((
            u64::try_from(limit_value.max(0)).unwrap_or(0),
            u64::try_from(used).unwrap_or(0),
        ))
    }

    /// The compartment reservations are made and listed in.
    pub fn compartment(&self) -> &str {
        self.settings
            .compartment
            .as_deref()
            .unwrap_or(&self.tenancy)
    }

    /// The create body of `request`.
    pub(crate) fn create_details(&self, request: &CreateRequest) -> CreateDetails {
        let shape = &request.demand.instance_type;
        let d = &request.demand.details;
        let shape_config = (is_flex(shape) || d.ocpus.is_some() || d.memory_gb.is_some())
            .then_some(ShapeConfig {
                ocpus: d.ocpus,
                memory_in_gbs: d.memory_gb,
            });
        let mut defined_tags = BTreeMap::new();
        if let Some(ns) = &self.settings.defined_tag_namespace {
            defined_tags.insert(
                ns.clone(),
                BTreeMap::from([(TEST_ID.to_string(), request.test_id.clone())]),
            );
        }
        CreateDetails {
            compartment_id: self.compartment().to_string(),
            availability_domain: request.zone.clone(),
            display_name: display_name(&request.test_id, &request.zone, shape),
            is_default_reservation: false,
            freeform_tags: freeform_tags(request),
            defined_tags,
            instance_reservation_configs: vec![ConfigDetails {
                instance_shape: shape.clone(),
                reserved_count: request.demand.count,
                instance_shape_config: shape_config,
                fault_domain: self.settings.fault_domain.clone(),
            }],
        }
    }

    async fn availability_domains(&self, region: &str) -> Result<Vec<String>> {
        let site = CallSite::new("ListAvailabilityDomains").region(region);
        Ok(self
            .client
            .availability_domains(&site, region, &self.tenancy)
            .await?
            .into_iter()
            .map(|a| a.name)
            .collect())
    }

    /// The classified failure of a finished work request, settled (nothing was made).
    async fn work_request_failure(
        &self,
        site: &CallSite,
        region: &str,
        work_request: &str,
    ) -> Result<cr_core::Error> {
        let errors = self
            .client
            .work_request_errors(&site.op("ListWorkRequestErrors"), region, work_request)
            .await?;
        let (code, message) = errors
            .first()
            .map(|e| (e.code.clone(), e.message.clone()))
            .unwrap_or_else(|| ("WorkRequestFailed".into(), "the work request failed".into()));
        Ok(classify_code(site, None, &code, &message)
            .request_id(Some(format!("work request {work_request}")))
            .settled()
            .into())
    }
}

fn zone_of(reservation: &Reservation) -> &str {
    reservation.zone.as_deref().unwrap_or_default()
}

/// The call site of `operation` on `reservation`: its region, AD and shape.
fn site_of(operation: &'static str, reservation: &Reservation) -> CallSite {
    CallSite::new(operation)
        .region(&reservation.region)
        .ad(zone_of(reservation))
        .shape(&reservation.instance_type)
}

#[async_trait]
impl CloudAdapter for OciAdapter {
    fn cloud(&self) -> Cloud {
        Cloud::Oci
    }

    /// OCI names every capacity reservation by its OCID (display names need not be unique):
    /// two of one availability domain and shape coexist (the service limits count both; a
    /// create refused for them is retried after the earlier one is released).
    fn can_hold_beside(
        &self,
        _held: &Reservation,
        _zone: &str,
        _demand: &cr_core::plan::Demand,
    ) -> bool {
        true
    }

    /// A signed `GetCompartment` of the compartment cr reserves in (the tenancy when none is
    /// configured), in the profile's home region; the identity is the user OCID of the key
    /// id (never the key).
    async fn check_credentials(&self) -> Result<Checkable<CredentialReport>> {
        let Some(home) = self.home() else {
            return Ok(Checkable::not_checkable(format!(
                "{} names no region (`region` in the profile), where the compartment would be \
                 read",
                self.source
            )));
        };
        let site = CallSite::new("GetCompartment").region(home);
        let compartment = self
            .client
            .get_compartment(&site, home, self.compartment())
            .await?;
        let name = compartment
            .name
            .filter(|n| !n.is_empty())
            .map(|n| format!(" ({n})"))
            .unwrap_or_default();
        Ok(Checkable::Checked(CredentialReport {
            source: format!(
                "{}; compartment {}{name} readable",
                self.source,
                self.compartment()
            ),
            identity: self.client.user().map(|u| format!("user {u}")),
        }))
    }

    /// OCI has no permission-test API: what a read can show is checked (listing the
    /// compartment's reservations, its availability domains, in the home region the tenancy's
    /// region subscriptions: `404 NotAuthorizedOrNotFound` is a missing statement), and the
    /// permissions only a create or delete would exercise are each said to be not checkable.
    async fn check_permissions(&self, region: &str) -> Result<Checkable<Vec<PermissionCheck>>> {
        let denied = |e: &cr_core::Error| {
            e.cloud_error().is_some_and(|c| {
                c.code.eq_ignore_ascii_case("NotAuthorizedOrNotFound")
                    || c.code.eq_ignore_ascii_case("NotAuthorized")
            })
        };
        let verdict = |outcome: Result<()>| -> Result<bool> {
            match outcome {
                Ok(()) => Ok(true),
                Err(e) if denied(&e) => Ok(false),
                Err(e) => Err(e),
            }
        };
        let list_site = CallSite::new("ListComputeCapacityReservations").region(region);
        let ads_site = CallSite::new("ListAvailabilityDomains").region(region);
        let (listed, ads) = tokio::join!(
            self.client
                .probe_reservations(&list_site, region, self.compartment()),
            self.client
                .availability_domains(&ads_site, region, &self.tenancy),
        );
        let mut checks = Vec::new();
        let inspect = verdict(listed)?;
        let compartments = verdict(ads.map(|_| ()))?;
        let subscriptions = match self.home() {
            Some(home) => {
                let site = CallSite::new("ListRegionSubscriptions").region(home);
                Some(verdict(
                    self.client
                        .region_subscriptions(&site, home, &self.tenancy)
                        .await
                        .map(|_| ()),
                )?)
            }
            None => None,
        };
        for (permission, what) in crate::permissions::PERMISSIONS {
            let grant = crate::permissions::statement_of(permission);
            let read = match *permission {
                "COMPUTE_CAPACITY_RESERVATION_INSPECT" => Some(inspect),
                "COMPARTMENT_INSPECT" => Some(compartments),
                "TENANCY_INSPECT" => subscriptions,
                _ => None,
            };
            checks.push(match read {
                Some(granted) => PermissionCheck::checked(*permission, granted, grant),
                None if *permission == "TENANCY_INSPECT" => PermissionCheck::unchecked(
                    *permission,
                    grant,
                    "checked by ListRegionSubscriptions in the home region, which the profile \
                     does not name (`region`)",
                ),
                None => PermissionCheck::unchecked(
                    *permission,
                    grant,
                    format!(
                        "OCI has no permission-test API and this permission ({what}) is only \
                         exercised by a call with side effects or on an existing reservation"
                    ),
                ),
            });
        }
        Ok(Checkable::Checked(checks))
    }

    /// The Limits service: for each shape family's core-count limit the demands draw on, its
    /// value and use per availability domain (`ListLimitValues`, `GetResourceAvailability`),
    /// against OCPUs × count. OCI counts these per AD and the engine places a region's set in
    /// one AD: the lines are those of the first AD with room for all, else of the first AD.
    async fn quota_headroom(
        &self,
        region: &str,
        demands: &[Demand],
    ) -> Result<Checkable<Vec<QuotaLine>>> {
        let mut needs: BTreeMap<&'static str, u64> = BTreeMap::new();
        let mut unknown = Vec::new();
        for d in demands {
            match (core_limit(&d.instance_type), ocpus(d)) {
                (Some(limit), Some(n)) => {
                    *needs.entry(limit).or_default() += n.saturating_mul(u64::from(d.count));
                }
                _ => unknown.push(d.instance_type.clone()),
            }
        }
        if !unknown.is_empty() {
            return Ok(Checkable::not_checkable(format!(
                "cr does not know the core-count limit (or the OCPUs) of {}; check it with \
                 `oci limits resource-availability get --service-name compute`",
                unknown.join(", ")
            )));
        }
        if needs.is_empty() {
            return Ok(Checkable::Checked(Vec::new()));
        }
        let ads = self.availability_domains(region).await?;
        let mut per_ad: Vec<Vec<QuotaLine>> = Vec::new();
        for ad in &ads {
            let mut lines = Vec::new();
            for (limit, needed) in &needs {
                let outcome = self.core_headroom(region, limit, ad).await;
                let (value, used) = match outcome {
                    Ok(v) => v,
                    Err(e)
                        if e.cloud_error().is_some_and(|c| {
                            c.code.eq_ignore_ascii_case("NotAuthorizedOrNotFound")
                                || c.code.eq_ignore_ascii_case("NotAuthorized")
                        }) =>
                    {
                        return Ok(Checkable::not_checkable(format!(
                            "reading the service limits needs the statement `{}`",
                            crate::permissions::INSPECT_LIMITS
                        )));
                    }
                    Err(e) => return Err(e),
                };
                let label = ad.rsplit(':').next().unwrap_or(ad);
                lines.push(QuotaLine {
                    metric: (*limit).to_string(),
                    unit: format!("OCPUs of {limit} in {label}"),
                    limit: value,
                    used,
                    needed: *needed,
                });
            }
            if lines.iter().all(QuotaLine::fits) {
                return Ok(Checkable::Checked(lines));
            }
            per_ad.push(lines);
        }
        Ok(Checkable::Checked(
            per_ad.into_iter().next().unwrap_or_default(),
        ))
    }

    /// `AD-N` (and the letters the planner turned into it) is the region's N-th availability
    /// domain as ListAvailabilityDomains orders them; a full name must be one of them.
    async fn resolve_zones(&self, region: &str, configured: &[String]) -> Result<Vec<String>> {
        let ads = self.availability_domains(region).await?;
        configured
            .iter()
            .map(|c| {
                if let Some(full) = ads.iter().find(|a| a.eq_ignore_ascii_case(c)) {
                    return Ok(full.clone());
                }
                let index = c
                    .to_ascii_uppercase()
                    .strip_prefix("AD-")
                    .and_then(|n| n.parse::<usize>().ok())
                    .filter(|n| *n >= 1);
                match index.and_then(|n| ads.get(n - 1)) {
                    Some(full) => Ok(full.clone()),
                    // A configuration error (exit 2), like a type no zone offers: the
                    // configured name, not the cloud, is wrong.
                    None => Err(cr_core::Error::config(
                        "the configuration (availability_zone / oci_availability_domain)",
                        "availability_zone",
                        c.as_str(),
                        format!(
                            "an availability domain of {region}, which has {} (letter a / AD-1 is the first)",
                            if ads.is_empty() {
                                "none".to_string()
                            } else {
                                ads.join(", ")
                            }
                        ),
                    )),
                }
            })
            .collect()
    }

    /// The region's availability domains that can reserve every shape, in the API's order
    /// (ListComputeCapacityReservationInstanceShapes), so an AD lacking a shape is skipped
    /// before any create.
    async fn zones(&self, region: &str, instance_types: &[String]) -> Result<Vec<String>> {
        let ads = self.availability_domains(region).await?;
        let site = CallSite::new("ListComputeCapacityReservationInstanceShapes").region(region);
        let offered = self
            .client
            .reservable_shapes(&site, region, self.compartment())
            .await?;
        Ok(ads
            .into_iter()
            .filter(|ad| {
                instance_types.iter().all(|t| {
                    offered
                        .iter()
                        .any(|o| o.availability_domain == *ad && o.instance_shape == *t)
                })
            })
            .collect())
    }

    /// The tenancy's `READY` region subscriptions.
    async fn regions(&self) -> Result<Vec<String>> {
        let site = CallSite::new("ListRegionSubscriptions");
        let home = self.home_region.as_deref().ok_or_else(|| {
            cr_core::Error::config(
                "the OCI profile",
                "region",
                "",
                "the home region (`region` in ~/.oci/config) to list the tenancy's region subscriptions",
            )
        })?;
        Ok(self
            .client
            .region_subscriptions(&site.clone().region(home), home, &self.tenancy)
            .await?
            .into_iter()
            .filter(|s| {
                s.status
                    .as_deref()
                    .is_none_or(|st| st.eq_ignore_ascii_case("READY"))
            })
            .map(|s| s.region_name)
            .collect())
    }

    async fn create(&self, request: &CreateRequest) -> Result<Reservation> {
        let site = CallSite::new("CreateComputeCapacityReservation")
            .region(&request.region)
            .ad(&request.zone)
            .shape(&request.demand.instance_type);
        let details = self.create_details(request);
        let token = retry_token(request);
        let (body, work_request) = self
            .client
            .create_reservation(&site, &request.region, &details, &token)
            .await?;
        let mut r = to_reservation(&body, &request.region);
        if r.instance_type.is_empty() {
            r.instance_type = request.demand.instance_type.clone();
        }
        if body.instance_reservation_configs.is_none() && body.reserved_instance_count.is_none() {
            r.count = request.demand.count;
        }
        if r.tags.is_empty() {
            r.tags = details.freeform_tags.clone();
        }
        if r.state == ReservationState::Pending
            && let Some(w) = work_request
        {
            r.extra.insert(EXTRA_WORK_REQUEST.to_string(), w);
        }
        Ok(r)
    }

    /// One look at a pending reservation: its create work request when known (a stockout
    /// found late fails it), then the reservation's `lifecycleState`.
    async fn poll(&self, reservation: &Reservation) -> Result<Readiness> {
        let region = &reservation.region;
        let site = site_of("CreateComputeCapacityReservation", reservation);
        if let Some(wr) = reservation.extra.get(EXTRA_WORK_REQUEST) {
            let wr_site = site.op("GetWorkRequest").on_reservation();
            match self.client.work_request(&wr_site, region, wr).await {
                Ok(work) if !work.is_done() => {
                    return Ok(Readiness::Pending { retry_after: None });
                }
                Ok(work) if work.failed() => {
                    return Ok(Readiness::Failed(
                        self.work_request_failure(&site, region, wr).await?,
                    ));
                }
                Ok(_) => {}
                // Work requests are kept for a limited time: the reservation's own state
                // decides then.
                Err(e) if e.kind() == ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
        }
        let get_site = site.op("GetComputeCapacityReservation").on_reservation();
        let current = match self
            .client
            .get_reservation(&get_site, region, &reservation.id.0)
            .await
        {
            Ok(r) => to_reservation(&r, region),
            Err(e) if e.kind() == ErrorKind::NotFound => {
                return Ok(Readiness::Failed(
                    site.error(
                        ErrorKind::Transient,
                        "ReservationGone",
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
                    "ReservationNotActive",
                    format!(
                        "reservation {} is {other:?} instead of becoming ACTIVE",
                        reservation.id
                    ),
                )
                .settled()
                .into(),
            ),
        })
    }

    /// Lists the compartment (every page) and keeps the test's reservations by their
    /// `TestId` freeform tag; summaries carry no shape, so each kept one is read in full.
    async fn find(&self, test_id: &str, region: Option<String>) -> Result<Vec<Reservation>> {
        let Some(region) = region else {
            // lists_all_regions is false: the engine always names the region.
            return Ok(Vec::new());
        };
        let mut found = self
            .list_where(&region, |t| {
                t.get(TEST_ID).map(String::as_str) == Some(test_id)
            })
            .await?;
        tags::retain_test(&mut found, test_id);
        Ok(found)
    }

    /// The compartment's reservations whose freeform tags say cr made them (`CreatedBy=cr`
    /// and a `TestId`), in `region` or, without one, in every subscribed region.
    async fn find_created(&self, region: Option<String>) -> Result<Vec<Reservation>> {
        let regions = match region {
            Some(r) => vec![r],
            None => self.regions().await?,
        };
        let lists = futures::future::try_join_all(
            regions
                .iter()
                .map(|r| self.list_where(r, tags::is_created_by_cr)),
        )
        .await?;
        let mut found: Vec<Reservation> = lists.into_iter().flatten().collect();
        tags::retain_created_by_cr(&mut found);
        found.retain(|r| r.state.is_live());
        Ok(found)
    }

    /// Deletes the reservation (202 with a work request, or 204) and waits until it is
    /// `DELETED` or gone. One loop looks at the reservation each time: still `CREATING` (OCI
    /// refuses to delete it then: 409 `IncorrectState`) → wait; `ACTIVE` → delete;
    /// `DELETING` → wait; `DELETED` or 404 → done. Already `DELETED` or gone before cr's
    /// delete is [`CancelOutcome::AlreadyGone`].
    async fn cancel(&self, reservation: &Reservation) -> Result<CancelOutcome> {
        let region = &reservation.region;
        let site = site_of("DeleteComputeCapacityReservation", reservation).on_reservation();
        let get_site = site.op("GetComputeCapacityReservation");
        let id = &reservation.id.0;
        let policy = WaitPolicy {
            first_interval: Duration::from_millis(100),
            max_interval: Duration::from_secs(5),
            settle_timeout: self.delete_timeout,
        };
        let deadline = tokio::time::Instant::now() + self.delete_timeout;
        let deleted = std::sync::atomic::AtomicBool::new(false);
        // The delete's work request, and how often the reservation looked ACTIVE after a
        // delete without one: a delete whose work request failed leaves it ACTIVE, and only a
        // new delete releases it.
        let delete_work = std::sync::Mutex::new(None::<String>);
        let active_after_delete = std::sync::atomic::AtomicU32::new(0);
        let wr_site = site.op("GetWorkRequest");
        let gone = || {
            if deleted.load(std::sync::atomic::Ordering::SeqCst) {
                CancelOutcome::Cancelled
            } else {
                CancelOutcome::AlreadyGone
            }
        };
        let waited = poll_until(&policy, Some(deadline), None, || async {
            let state = match self.client.get_reservation(&get_site, region, id).await {
                Ok(r) => state_of(r.lifecycle_state.as_deref()),
                Err(e) if e.kind() == ErrorKind::NotFound => return Ok(Poll::Ready(gone())),
                Err(e) if e.is_retryable() => {
                    return Ok(Poll::Pending {
                        retry_after: e.retry_after(),
                    });
                }
                Err(e) => return Err(e),
            };
            if matches!(state, ReservationState::Active | ReservationState::Other(_))
                && deleted.load(std::sync::atomic::Ordering::SeqCst)
            {
                let work = delete_work
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .clone();
                let failed = match work {
                    Some(wr) => match self.client.work_request(&wr_site, region, &wr).await {
                        Ok(w) => w.failed(),
                        // Expired work requests and passing errors: look again.
                        Err(_) => false,
                    },
                    None => {
                        active_after_delete.fetch_add(1, std::sync::atomic::Ordering::SeqCst) >= 3
                    }
                };
                if failed {
                    tracing::warn!(id, region, "the delete did not take effect; deleting again");
                    deleted.store(false, std::sync::atomic::Ordering::SeqCst);
                    active_after_delete.store(0, std::sync::atomic::Ordering::SeqCst);
                }
            }
            match state {
                ReservationState::Cancelled => Ok(Poll::Ready(gone())),
                ReservationState::Active | ReservationState::Other(_)
                    if !deleted.load(std::sync::atomic::Ordering::SeqCst) =>
                {
                    match self.client.delete_reservation(&site, region, id).await {
                        Ok(work) => {
                            deleted.store(true, std::sync::atomic::Ordering::SeqCst);
                            *delete_work.lock().unwrap_or_else(|p| p.into_inner()) = work;
                            Ok(Poll::Pending { retry_after: None })
                        }
                        Err(e) if e.kind() == ErrorKind::NotFound => Ok(Poll::Ready(gone())),
                        // IncorrectState (another operation under way), throttled, 5xx.
                        Err(e) if e.is_retryable() => Ok(Poll::Pending {
                            retry_after: e.retry_after(),
                        }),
                        Err(e) => Err(e),
                    }
                }
                _ => Ok(Poll::Pending { retry_after: None }),
            }
        })
        .await?;
        match waited {
            Waited::Ready(outcome) => Ok(outcome),
            Waited::TimedOut | Waited::Stopped => Err(site
                .error(
                    ErrorKind::Timeout,
                    "DeleteTimeout",
                    format!(
                        "reservation {id} was not DELETED within {} s; check it in the console \
                         (Compute > Capacity reservations) and run `cr cancel` again",
                        self.delete_timeout.as_secs()
                    ),
                )
                .into()),
        }
    }

    /// OCI counts per tenancy and region (the home region for calls about no region).
    fn pacing_scope(&self, region: &str) -> Option<String> {
        let region = match region {
            "" => self.home_region.as_deref().unwrap_or_default(),
            r => r,
        };
        Some(format!(
            "oci {} {}",
            self.client.core_base(region),
            self.tenancy
        ))
    }

    fn instance_target(&self, reservation: &Reservation) -> serde_json::Value {
        serde_json::json!({
            "capacityReservationId": reservation.id.0,
            "availabilityDomain": zone_of(reservation),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes_map_to_their_core_count_limit_and_ocpus() {
        let demand = |shape: &str, ocpus: Option<f64>| cr_core::plan::Demand {
            instance_type: shape.into(),
            count: 3,
            roles: vec![],
            details: cr_core::plan::DemandDetails {
                ocpus,
                ..Default::default()
            },
        };
        assert_eq!(
            core_limit("VM.Standard.E4.Flex"),
            Some("standard-e4-core-count")
        );
        assert_eq!(
            core_limit("BM.Standard.E4.128"),
            Some("standard-e4-core-count")
        );
        assert_eq!(core_limit("VM.Standard2.8"), Some("standard2-core-count"));
        assert_eq!(
            core_limit("VM.DenseIO.E5.Flex"),
            Some("dense-io-e5-core-count")
        );
        assert_eq!(core_limit("VM.GPU.A10.1"), None);
        assert_eq!(ocpus(&demand("VM.DenseIO.E5.Flex", Some(8.0))), Some(8));
        assert_eq!(ocpus(&demand("VM.Standard.E4.Flex", None)), Some(1));
        assert_eq!(ocpus(&demand("BM.Standard.E4.128", None)), Some(128));
        assert_eq!(ocpus(&demand("VM.Standard2.4", None)), Some(4));
    }

    #[test]
    fn display_names_and_tokens() {
        assert_eq!(
            display_name("t-1", "Emul:PHX-AD-1", "VM.Standard.E5.Flex"),
            "cr-t-1-PHX-AD-1-VM.Standard.E5.Flex"
        );
        assert!(display_name(&"x".repeat(400), "a", "b").chars().count() <= MAX_DISPLAY_NAME);
    }

    #[test]
    fn lifecycle_states_map() {
        for (s, want) in [
            ("CREATING", ReservationState::Pending),
            ("ACTIVE", ReservationState::Active),
            ("updating", ReservationState::Active),
            ("DELETING", ReservationState::Cancelling),
            ("DELETED", ReservationState::Cancelled),
        ] {
            assert_eq!(state_of(Some(s)), want, "{s}");
        }
    }

    #[test]
    fn summaries_without_optional_fields_map() {
        let r: ReservationBody = serde_json::from_value(serde_json::json!({
            "id": "ocid1.capacityreservation.oc1.phx.x",
            "availabilityDomain": "Emul:PHX-AD-2",
            "timeCreated": "2030-01-01T00:00:00.000Z"
        }))
        .unwrap();
        let m = to_reservation(&r, "us-phoenix-1");
        assert_eq!(m.zone.as_deref(), Some("Emul:PHX-AD-2"));
        assert_eq!(m.count, 0);
        assert!(m.tags.is_empty());
        assert!(!m.state.is_live());
        assert_eq!(
            m.created,
            Some("2030-01-01T00:00:00Z".parse::<jiff::Timestamp>().unwrap())
        );
    }
}
