//! [`AzureAdapter`]: the [`CloudAdapter`] of Azure capacity reservation groups.

use std::collections::BTreeMap;
use std::time::Duration;

use async_trait::async_trait;
use cr_core::adapter::{
    CloudAdapter, CreateRequest, REGIONAL_LAST_RESORT, Readiness, RegionHandle, RegionRequest,
};
use cr_core::error::ErrorKind;
use cr_core::model::{CancelOutcome, Reservation, ReservationState};
use cr_core::plan::Demand;
use cr_core::preflight::{Checkable, CredentialReport, PermissionCheck, QuotaLine};
use cr_core::tags::{self, TEST_ID};
use cr_core::{Cloud, ReservationId, Result};
use futures::future::join_all;
use jiff::Timestamp;

use crate::client::{
    AUTHORIZATION_API_VERSION, ArmClient, COMPUTE_API_VERSION, RESOURCES_API_VERSION,
    SKUS_API_VERSION, SUBSCRIPTIONS_API_VERSION, segment,
};
use crate::error::{CallSite, is_nested_resources_conflict, is_operation_in_progress};
use crate::lro::{self, Lro, Step, failed_without_reason, provisioning_outcome};
use crate::naming;
use crate::permissions as act;
use crate::wire::{
    CapacityReservation, CapacityReservationPut, Group, GroupProperties, Location, Permission,
    ResourceGroup, ResourceSku, Sku, Subscription, Usage, canonical_tags, group_of, id_segment,
    same_location, tag,
};

/// `Reservation.extra` key: the id of the reservation's capacity reservation group.
pub const EXTRA_GROUP: &str = "azure_group_id";
/// `RegionHandle.extra` key: the group's zones, comma-separated (fixed at its creation).
pub const HANDLE_ZONES: &str = "zones";
/// The tag holding a reservation's planned end (Azure reservations of type `Targeted` have no
/// native expiry; `cr cleanup` and `cancel_all_regions` release them).
pub const END_TIME_TAG: &str = tags::CR_END_TIME;

/// How reservations and their groups are placed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Placement {
    /// `azure_resource_group`: never created nor deleted by cr.
    pub(crate) resource_group: Option<String>,
    /// `azure_capacity_reservation_group`.
    pub(crate) group: Option<String>,
    /// `azure_regional_fallback`: a regional reservation when every zone is out of capacity.
    pub(crate) regional_fallback: bool,
}

/// Azure capacity reservations in capacity reservation groups, spoken over ARM.
#[derive(Debug)]
pub struct AzureAdapter {
    client: ArmClient,
    placement: Placement,
}

/// Where a test's region lives in ARM.
struct RegionNames {
    resource_group: String,
    group: String,
    owned_rg: bool,
}

impl AzureAdapter {
    pub(crate) fn new(client: ArmClient, placement: Placement) -> Self {
        AzureAdapter { client, placement }
    }

    /// The subscription reservations are made in.
    pub fn subscription(&self) -> &str {
        self.client.subscription()
    }

    fn names(&self, test_id: &str, region: &str) -> RegionNames {
        let rg = self.placement.resource_group.clone();
        RegionNames {
            group: naming::group_name(
                test_id,
                region,
                self.placement.group.as_deref(),
                rg.is_some(),
            ),
            owned_rg: rg.is_none(),
            resource_group: rg.unwrap_or_else(|| naming::owned_resource_group(test_id, region)),
        }
    }

    fn rg_path(rg: &str) -> String {
        format!("/resourceGroups/{}", segment(rg))
    }

    fn group_path(rg: &str, group: &str) -> String {
        format!(
            "{}/providers/Microsoft.Compute/capacityReservationGroups/{}",
            Self::rg_path(rg),
            segment(group)
        )
    }

    /// Every group of the subscription (in `region`, if given) that may hold the test's
    /// reservations: those tagged with `test_id`, and those with no `TestId` tag at all. A
    /// group the user made and named in `azure_capacity_reservation_group` carries none of
    /// cr's tags, but the reservations cr made in it do, so a cleanup in another process
    /// (which knows only the test id) must look inside it too. Groups of other tests are
    /// skipped; the reservations found are filtered by their own tags.
    async fn groups_of_test(&self, test_id: &str, region: Option<&str>) -> Result<Vec<Group>> {
        self.groups_where(region, |g| {
            tag(&g.tags, TEST_ID).is_none_or(|owner| owner == test_id)
        })
        .await
    }

    /// Whether cr made `group` for `test_id` (it carries the test's id): only such a group is
    /// ever deleted.
    fn made_for_test(group: &Group, test_id: &str) -> bool {
        tag(&group.tags, TEST_ID) == Some(test_id)
    }

    /// The subscription's reservation groups (one list) in `region` (or everywhere) that
    /// `keep` accepts.
    async fn groups_where(
        &self,
        region: Option<&str>,
        keep: impl Fn(&Group) -> bool,
    ) -> Result<Vec<Group>> {
        let mut site = CallSite::new(
            "CapacityReservationGroups_ListBySubscription",
            act::GROUP_READ,
        );
        if let Some(r) = region {
            site = site.region(r);
        }
        let url = self.client.url(
            "/providers/Microsoft.Compute/capacityReservationGroups",
            COMPUTE_API_VERSION,
        );
        let groups: Vec<Group> = self.client.list(&site, &url).await?;
        Ok(groups
            .into_iter()
            .filter(|g| keep(g))
            .filter(|g| region.is_none_or(|r| same_location(&g.location, r)))
            .collect())
    }

    /// The live reservations of `groups`, as cr sees them.
    async fn reservations_in(&self, groups: &[Group]) -> Result<Vec<Reservation>> {
        let lists = join_all(groups.iter().map(|g| self.reservations_of(g))).await;
        let mut found = Vec::new();
        for (group, listed) in groups.iter().zip(lists) {
            for r in listed? {
                found.push(to_reservation(&r, &group.location));
            }
        }
        found.retain(|r| r.state.is_live());
        Ok(found)
    }

    /// The reservations of a group (every page); a group gone meanwhile has none.
    async fn reservations_of(&self, group: &Group) -> Result<Vec<CapacityReservation>> {
        let site = CallSite::new(
            "CapacityReservations_ListByCapacityReservationGroup",
            act::RESERVATION_READ,
        )
        .region(&group.location);
        let url = self.client.id_url(
            &format!("{}/capacityReservations", group.id),
            COMPUTE_API_VERSION,
        );
        match self.client.list(&site, &url).await {
            Ok(r) => Ok(r),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(Vec::new()),
            Err(e) => Err(e),
        }
    }

    /// Creates (or finds) the owned resource group.
    async fn ensure_resource_group(&self, request: &RegionRequest, rg: &str) -> Result<()> {
        let site = CallSite::new("ResourceGroups_CreateOrUpdate", act::RESOURCE_GROUP_WRITE)
            .region(&request.region);
        let url = self.client.url(&Self::rg_path(rg), RESOURCES_API_VERSION);
        let body = ResourceGroup {
            location: request.region.clone(),
            tags: request.tags.render(Cloud::Azure),
            ..ResourceGroup::default()
        };
        self.client.put(&site, &url, &body).await.map(|_| ())
    }

    /// The group of the region: the existing one (its zones were fixed at creation) or a new
    /// one spanning `request.zones`.
    async fn ensure_group(&self, request: &RegionRequest, names: &RegionNames) -> Result<Group> {
        let get_site =
            CallSite::new("CapacityReservationGroups_Get", act::GROUP_READ).region(&request.region);
        let url = self.client.url(
            &Self::group_path(&names.resource_group, &names.group),
            COMPUTE_API_VERSION,
        );
        match self.client.get::<Group>(&get_site, &url).await {
            Ok(existing) => return self.check_group(request, existing),
            Err(e) if e.kind() == ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
        let site = CallSite::new("CapacityReservationGroups_CreateOrUpdate", act::GROUP_WRITE)
            .region(&request.region);
        let body = Group {
            location: request.region.clone(),
            tags: request.tags.render(Cloud::Azure),
            zones: request.zones.clone(),
            properties: GroupProperties::default(),
            ..Group::default()
        };
        match self.client.put(&site, &url, &body).await {
            Ok(answer) => answer.json::<Group>(&site),
            // Made by a concurrent run of this test with other zones: use it as it is.
            Err(e) if e.kind() == ErrorKind::InvalidRequest => {
                match self.client.get::<Group>(&get_site, &url).await {
                    Ok(existing) => self.check_group(request, existing),
                    Err(_) => Err(e),
                }
            }
            Err(e) => Err(e),
        }
    }

    /// The regional group beside the region's zonal one (made on first use), by id.
    async fn ensure_regional_group(&self, request: &CreateRequest) -> Result<String> {
        let names = self.names(&request.test_id, &request.region);
        let path = Self::group_path(
            &names.resource_group,
            &naming::regional_group_name(&names.group),
        );
        let site = CallSite::new("CapacityReservationGroups_CreateOrUpdate", act::GROUP_WRITE)
            .region(&request.region)
            .instance_type(&request.demand.instance_type);
        let body = Group {
            location: request.region.clone(),
            tags: request.tags.render(Cloud::Azure),
            ..Group::default()
        };
        let url = self.client.url(&path, COMPUTE_API_VERSION);
        let made: Group = self.client.put(&site, &url, &body).await?.json(&site)?;
        Ok(if made.id.is_empty() {
            format!(
                "/subscriptions/{}{path}",
                segment(self.client.subscription())
            )
        } else {
            made.id
        })
    }

    /// The Resource SKUs of `region` (every page).
    async fn skus(&self, region: &str) -> Result<Vec<ResourceSku>> {
        let site = CallSite::new("ResourceSkus_List", act::SKUS_READ).region(region);
        let filter = format!("location eq '{region}'");
        let url = format!(
            "{}&$filter={}",
            self.client
                .url("/providers/Microsoft.Compute/skus", SKUS_API_VERSION),
            segment(&filter)
        );
        self.client.list(&site, &url).await
    }

    /// The scope whose permissions the preflight reads: the configured resource group, else
    /// the subscription (cr's own resource group does not exist before the first reserve,
    /// and the SKU list and cleanup's listing are subscription calls anyway).
    fn permission_scope(&self) -> String {
        match &self.placement.resource_group {
            Some(rg) => Self::rg_path(rg),
            None => String::new(),
        }
    }

    fn check_group(&self, request: &RegionRequest, existing: Group) -> Result<Group> {
        match tag(&existing.tags, TEST_ID) {
            Some(owner) if owner != request.test_id => Err(CallSite::new(
                "CapacityReservationGroups_Get",
                act::GROUP_READ,
            )
            .region(&request.region)
            .error(
                ErrorKind::InvalidRequest,
                "GroupOfAnotherTest",
                format!(
                    "capacity reservation group {} belongs to another test (TestId {owner}); \
                     set azure_capacity_reservation_group to another name",
                    existing.id
                ),
            )
            .into()),
            _ => Ok(existing),
        }
    }

    /// Deletes one reservation by id and waits for it to be gone.
    async fn delete_reservation(&self, site: &CallSite, id: &str) -> Result<CancelOutcome> {
        let url = self.client.id_url(id, COMPUTE_API_VERSION);
        let answer = match self.client.delete(site, &url).await {
            Ok(a) => a,
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(CancelOutcome::AlreadyGone),
            // ARM refuses to delete a reservation while it is being created or resized: let
            // that operation end (whichever way), then delete.
            Err(e) if is_operation_in_progress(&e) => {
                let get = site.with("CapacityReservations_Get", act::RESERVATION_READ);
                match lro::wait(&self.client, &get, &Lro::Resource(url.clone()), false).await {
                    Ok(()) => {}
                    Err(e) if e.is_settled() || e.kind() == ErrorKind::NotFound => {}
                    Err(e) => return Err(e),
                }
                match self.client.delete(site, &url).await {
                    Ok(a) => a,
                    Err(e) if e.kind() == ErrorKind::NotFound => {
                        return Ok(CancelOutcome::AlreadyGone);
                    }
                    Err(e) => return Err(e),
                }
            }
            Err(e) => return Err(e),
        };
        match answer.status {
            204 => Ok(CancelOutcome::AlreadyGone),
            202 => {
                let lro = Lro::of(&answer, &url);
                lro::wait(&self.client, site, &lro, true).await?;
                Ok(CancelOutcome::Cancelled)
            }
            _ => Ok(CancelOutcome::Cancelled),
        }
    }

    /// Deletes a group whose reservations are gone, retrying the "nested resources still
    /// exist" conflict ARM answers for a while after the last reservation went away.
    async fn delete_group(&self, group: &Group) -> Result<()> {
        let site = CallSite::new("CapacityReservationGroups_Delete", act::GROUP_DELETE)
            .region(&group.location);
        let url = self.client.id_url(&group.id, COMPUTE_API_VERSION);
        let deadline = tokio::time::Instant::now() + self.client.timeouts.operation;
        let mut pause = Duration::from_millis(200);
        loop {
            match self.client.delete(&site, &url).await {
                Ok(answer) if answer.status == 202 => {
                    let lro = Lro::of(&answer, &url);
                    return lro::wait(&self.client, &site, &lro, true).await;
                }
                Ok(_) => return Ok(()),
                Err(e) if e.kind() == ErrorKind::NotFound => return Ok(()),
                Err(e)
                    if is_nested_resources_conflict(&e)
                        && tokio::time::Instant::now() + pause < deadline =>
                {
                    let vms = self.associated_vms(group).await;
                    if !vms.is_empty() {
                        return Err(site
                            .error(
                                ErrorKind::InvalidRequest,
                                "VirtualMachinesAssociated",
                                format!(
                                    "capacity reservation group {} still has virtual machines associated: {}; \
                                     delete them or remove their capacity reservation association, then cancel again",
                                    group.id,
                                    vms.join(", ")
                                ),
                            )
                            .into());
                    }
                    tracing::debug!(
                        group = group.id,
                        "group still has nested resources; retrying"
                    );
                    tokio::time::sleep(pause.min(self.client.timeouts.max_poll_interval)).await;
                    pause = (pause * 2).min(Duration::from_secs(10));
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// The VMs (and scale-set VMs) still associated with a group, by id.
    async fn associated_vms(&self, group: &Group) -> Vec<String> {
        let site =
            CallSite::new("CapacityReservationGroups_Get", act::GROUP_READ).region(&group.location);
        let url = self.client.id_url(&group.id, COMPUTE_API_VERSION);
        match self.client.get::<Group>(&site, &url).await {
            Ok(g) => g
                .properties
                .virtual_machines_associated
                .into_iter()
                .map(|v| v.id)
                .collect(),
            Err(_) => Vec::new(),
        }
    }

    /// Deletes the owned resource group of a test in a region, if it is there and ours.
    async fn delete_owned_resource_group(&self, test_id: &str, region: &str) -> Result<()> {
        let names = self.names(test_id, region);
        if !names.owned_rg {
            return Ok(());
        }
        let site = CallSite::new("ResourceGroups_Get", act::RESOURCE_GROUP_READ).region(region);
        let url = self
            .client
            .url(&Self::rg_path(&names.resource_group), RESOURCES_API_VERSION);
        let rg: ResourceGroup = match self.client.get(&site, &url).await {
            Ok(rg) => rg,
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(e),
        };
        if tag(&rg.tags, TEST_ID) != Some(test_id) {
            // Not made by cr for this test: never deleted.
            return Ok(());
        }
        let site = site.with("ResourceGroups_Delete", act::RESOURCE_GROUP_DELETE);
        match self.client.delete(&site, &url).await {
            Ok(answer) if answer.status == 202 => {
                let lro = Lro::of(&answer, &url);
                lro::wait(&self.client, &site, &lro, true).await
            }
            Ok(_) => Ok(()),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Removes the test's part of one group: its reservations (concurrently), then the group
    /// itself if cr made it for the test. In a group cr did not make (no `TestId` tag: the
    /// user's `azure_capacity_reservation_group`), only the reservations tagged with the test
    /// are deleted and the group stays.
    async fn remove_group(&self, group: &Group, test_id: &str) -> Result<()> {
        let ours = Self::made_for_test(group, test_id);
        let mut members = self.reservations_of(group).await?;
        if !ours {
            members.retain(|r| tag(&r.tags, TEST_ID) == Some(test_id));
        }
        let site = CallSite::new("CapacityReservations_Delete", act::RESERVATION_DELETE)
            .region(&group.location);
        let outcomes = join_all(members.iter().map(|r| {
            let site = site
                .clone()
                .zone(r.zones.first().map(String::as_str))
                .instance_type(&r.sku.name);
            async move { self.delete_reservation(&site, &r.id).await }
        }))
        .await;
        for outcome in outcomes {
            outcome?;
        }
        if !ours {
            return Ok(());
        }
        self.delete_group(group).await
    }
}

/// The regional total of Azure's compute quotas.
const CORES: &str = "cores";

/// The vCPUs the demands need per quota family, then in total (`cores`), from the SKUs'
/// `family` and `vCPUs`; a size the list lacks (or without both) counts nowhere.
fn vcpu_needs(skus: &[ResourceSku], demands: &[Demand]) -> Vec<(String, u64)> {
    let mut per_family: BTreeMap<String, u64> = BTreeMap::new();
    let mut total = 0u64;
    for d in demands {
        let sku = skus.iter().find(|s| {
            s.resource_type.eq_ignore_ascii_case("virtualMachines")
                && s.name.eq_ignore_ascii_case(&d.instance_type)
        });
        let Some((family, vcpus)) = sku.and_then(|s| Some((s.family.clone()?, s.vcpus()?))) else {
            continue;
        };
        let n = vcpus.saturating_mul(u64::from(d.count));
        *per_family.entry(family).or_default() += n;
        total += n;
    }
    let mut out: Vec<(String, u64)> = per_family.into_iter().collect();
    if !out.is_empty() {
        out.push((CORES.to_string(), total));
    }
    out
}

fn state_of(provisioning_state: Option<&str>) -> ReservationState {
    match provisioning_state.map(str::to_ascii_lowercase).as_deref() {
        None | Some("succeeded") => ReservationState::Active,
        Some("creating" | "updating") => ReservationState::Pending,
        Some("deleting") => ReservationState::Cancelling,
        Some("failed") => ReservationState::Failed,
        Some("canceled" | "cancelled") => ReservationState::Cancelled,
        Some(_) => ReservationState::Other(provisioning_state.unwrap_or_default().to_string()),
    }
}

/// cr's view of an ARM capacity reservation.
pub(crate) fn to_reservation(r: &CapacityReservation, region_hint: &str) -> Reservation {
    let mut extra = BTreeMap::new();
    if let Some(g) = group_of(&r.id) {
        extra.insert(EXTRA_GROUP.to_string(), g.to_string());
    }
    let tags = canonical_tags(&r.tags);
    let used = r
        .properties
        .instance_view
        .as_ref()
        .and_then(|iv| iv.utilization_info.as_ref())
        .map(|u| u.virtual_machines_allocated.len())
        .or(Some(r.properties.virtual_machines_associated.len()))
        .and_then(|n| u32::try_from(n).ok());
    Reservation {
        id: ReservationId(r.id.clone()),
        cloud: Cloud::Azure,
        region: if r.location.is_empty() {
            region_hint.to_string()
        } else {
            r.location.to_ascii_lowercase().replace(' ', "")
        },
        zone: r.zones.first().cloned(),
        instance_type: r.sku.name.clone(),
        count: u32::try_from(r.sku.capacity).unwrap_or(0),
        used,
        // Targeted reservations have no end time: cr claims none (the planned end is only
        // recorded in the END_TIME_TAG tag, for people and cleanup tools).
        end_time: None,
        created: r
            .properties
            .time_created
            .as_deref()
            .and_then(|t| t.parse::<jiff::Timestamp>().ok()),
        state: state_of(r.properties.provisioning_state.as_deref()),
        tags,
        extra,
    }
}

/// The tags of a reservation: the plan's, rendered for ARM, and the end time.
fn reservation_tags(request: &CreateRequest) -> BTreeMap<String, String> {
    let mut tags = request.tags.render(Cloud::Azure);
    let limit = cr_core::tags::TagRules::of(Cloud::Azure)
        .and_then(|r| r.max_tags)
        .unwrap_or(50);
    if tags.len() < limit {
        let end = Timestamp::from_second(request.end_time.as_second()).unwrap_or(request.end_time);
        tags.insert(END_TIME_TAG.to_string(), end.to_string());
    }
    tags
}

fn create_site(request: &CreateRequest) -> CallSite {
    CallSite::new(
        "CapacityReservations_CreateOrUpdate",
        act::RESERVATION_WRITE,
    )
    .region(&request.region)
    .zone(
        Some(&request.zone)
            .filter(|z| !z.is_empty())
            .map(String::as_str),
    )
    .instance_type(&request.demand.instance_type)
}

fn reservation_site(operation: &'static str, action: &'static str, r: &Reservation) -> CallSite {
    CallSite::new(operation, action)
        .region(&r.region)
        .zone(r.zone.as_deref())
        .instance_type(&r.instance_type)
}

#[async_trait]
impl CloudAdapter for AzureAdapter {
    fn cloud(&self) -> Cloud {
        Cloud::Azure
    }

    /// The zones of `region` where every type can be reserved, from the Resource SKUs API
    /// (`locationInfo[].zones` less `restrictions` of type `Zone`/`Location`, and none for a
    /// size without `CapacityReservationSupported`), in numeric order.
    async fn zones(&self, region: &str, instance_types: &[String]) -> Result<Vec<String>> {
        let skus = self.skus(region).await?;
        let mut zones: Option<Vec<String>> = None;
        for t in instance_types {
            let offered: Vec<String> = skus
                .iter()
                .filter(|s| s.resource_type.eq_ignore_ascii_case("virtualMachines"))
                .filter(|s| s.name.eq_ignore_ascii_case(t))
                .flat_map(|s| s.reservable_zones(region))
                .collect();
            zones = Some(match zones {
                None => offered,
                Some(z) => z.into_iter().filter(|x| offered.contains(x)).collect(),
            });
        }
        let mut zones = zones.unwrap_or_default();
        zones.sort_by_key(|z| (z.parse::<u32>().unwrap_or(u32::MAX), z.clone()));
        zones.dedup();
        Ok(zones)
    }

    async fn regions(&self) -> Result<Vec<String>> {
        let site = CallSite::new("Subscriptions_ListLocations", act::LOCATIONS_READ);
        let url = self.client.url("/locations", SUBSCRIPTIONS_API_VERSION);
        let locations: Vec<Location> = self.client.list(&site, &url).await?;
        Ok(locations
            .into_iter()
            .filter(|l| {
                l.metadata
                    .as_ref()
                    .and_then(|m| m.region_type.as_deref())
                    .is_none_or(|t| !t.eq_ignore_ascii_case("Logical"))
            })
            .map(|l| l.name)
            .collect())
    }

    /// One subscription-wide list of groups finds the test everywhere.
    fn lists_all_regions(&self) -> bool {
        true
    }

    /// The chain's credential gets a token and reads the subscription
    /// (`GET /subscriptions/{id}`); the identity is the principal the token names.
    async fn check_credentials(&self) -> Result<Checkable<CredentialReport>> {
        let site = CallSite::new("Subscriptions_Get", act::SUBSCRIPTION_READ);
        let url = self.client.url("", SUBSCRIPTIONS_API_VERSION);
        let sub: Subscription = self.client.get(&site, &url).await?;
        if sub
            .state
            .as_deref()
            .is_some_and(|s| matches!(s.to_ascii_lowercase().as_str(), "disabled" | "deleted"))
        {
            return Err(site
                .error(
                    ErrorKind::Unauthorized,
                    "SubscriptionNotEnabled",
                    format!(
                        "subscription {} is {}: nothing can be created in it; enable it or set \
                         AZURE_SUBSCRIPTION_ID (or {}) to another",
                        self.client.subscription(),
                        sub.state.unwrap_or_default(),
                        crate::builder::SUBSCRIPTION_KEY
                    ),
                )
                .into());
        }
        let (source, identity) = self.client.principal().await;
        let name = sub
            .display_name
            .filter(|n| !n.is_empty())
            .map(|n| format!(" \"{n}\""))
            .unwrap_or_default();
        Ok(Checkable::Checked(CredentialReport {
            source: format!(
                "{} (subscription {}{name})",
                source.unwrap_or("the Azure credential chain"),
                self.client.subscription()
            ),
            identity,
        }))
    }

    /// `Microsoft.Authorization/permissions` of the scope (the configured resource group,
    /// else the subscription), every action of [`act::PERMISSIONS`] evaluated as ARM does:
    /// wildcards, and each role's `notActions` subtracted from that role's `actions`.
    async fn check_permissions(&self, region: &str) -> Result<Checkable<Vec<PermissionCheck>>> {
        let op = if self.placement.resource_group.is_some() {
            "Permissions_ListForResourceGroup"
        } else {
            "Permissions_ListForSubscription"
        };
        let site = CallSite::new(op, act::PERMISSIONS_READ).region(region);
        let scope = self.permission_scope();
        let url = self.client.url(
            &format!("{scope}/providers/Microsoft.Authorization/permissions"),
            AUTHORIZATION_API_VERSION,
        );
        let listed: Vec<Permission> = self.client.list(&site, &url).await?;
        let entries: Vec<(Vec<String>, Vec<String>)> = listed
            .into_iter()
            .map(|p| (p.actions, p.not_actions))
            .collect();
        let at = format!(
            "/subscriptions/{}{scope}",
            segment(self.client.subscription())
        );
        Ok(Checkable::Checked(
            act::PERMISSIONS
                .iter()
                .map(|a| {
                    PermissionCheck::checked(
                        *a,
                        act::allowed(&entries, a),
                        format!(
                            "a role with {a} assigned to this principal at {at}, e.g. the \
                             custom role of `cr permissions --backend azure`"
                        ),
                    )
                })
                .collect(),
        ))
    }

    /// The region's compute usages (`locations/{region}/usages`) against what the demands
    /// need: each VM size's `vCPUs` × count in its family (Resource SKUs' `family`), and
    /// their sum in the regional `cores` total. Sizes the SKU list lacks are left to the
    /// offerings check.
    async fn quota_headroom(
        &self,
        region: &str,
        demands: &[Demand],
    ) -> Result<Checkable<Vec<QuotaLine>>> {
        let site = CallSite::new("Usage_List", act::USAGES_READ).region(region);
        let url = self.client.url(
            &format!(
                "/providers/Microsoft.Compute/locations/{}/usages",
                segment(region)
            ),
            COMPUTE_API_VERSION,
        );
        let (skus, usages) =
            tokio::join!(self.skus(region), self.client.list::<Usage>(&site, &url));
        let usages = match usages {
            Ok(u) => u,
            Err(e)
                if e.cloud_error()
                    .is_some_and(|c| c.code.eq_ignore_ascii_case("AuthorizationFailed")) =>
            {
                return Ok(Checkable::not_checkable(format!(
                    "reading the vCPU quotas of {region} needs {}; add it to the principal's role \
                     (it is in the role of `cr permissions --backend azure`)",
                    act::USAGES_READ
                )));
            }
            Err(e) => return Err(e),
        };
        let needs = vcpu_needs(&skus?, demands);
        if needs.is_empty() {
            return Ok(Checkable::Checked(Vec::new()));
        }
        let mut lines = Vec::new();
        for (metric, needed) in needs {
            let Some(u) = usages
                .iter()
                .find(|u| u.name.value.eq_ignore_ascii_case(&metric))
            else {
                return Err(site
                    .error(
                        ErrorKind::InvalidRequest,
                        "UsageNotListed",
                        format!(
                            "the compute usages of {region} list no quota {metric}, which the \
                             plan's VM sizes count against"
                        ),
                    )
                    .into());
            };
            // ARM's own words ("Standard LSv3 Family vCPUs", "Total Regional vCPUs").
            let unit = u
                .name
                .localized_value
                .clone()
                .filter(|l| !l.trim().is_empty())
                .unwrap_or_else(|| {
                    if metric == CORES {
                        "vCPUs in the region".to_string()
                    } else {
                        format!("vCPUs of family {metric}")
                    }
                });
            lines.push(QuotaLine {
                metric: u.name.value.clone(),
                unit,
                limit: u64::try_from(u.limit).unwrap_or(0),
                used: u64::try_from(u.current_value).unwrap_or(0),
                needed,
            });
        }
        Ok(Checkable::Checked(lines))
    }

    /// Creates the owned resource group (unless one is configured) and the region's group
    /// with the engine's candidate zones; an existing group keeps the zones it was made with.
    async fn prepare_region(&self, request: &RegionRequest) -> Result<RegionHandle> {
        let names = self.names(&request.test_id, &request.region);
        if names.owned_rg {
            self.ensure_resource_group(request, &names.resource_group)
                .await?;
        }
        let group = self.ensure_group(request, &names).await?;
        let mut extra = BTreeMap::new();
        extra.insert(HANDLE_ZONES.to_string(), group.zones.join(","));
        if self.placement.regional_fallback {
            extra.insert(REGIONAL_LAST_RESORT.to_string(), "true".to_string());
        }
        Ok(RegionHandle {
            id: Some(group.id),
            extra,
        })
    }

    async fn create(&self, request: &CreateRequest) -> Result<Reservation> {
        let site = create_site(request);
        let zone = Some(request.zone.as_str()).filter(|z| !z.is_empty());
        let group_id = match &request.region_handle.id {
            // The regional last resort: a zone-less reservation needs a group without zones.
            _ if zone.is_none() => self.ensure_regional_group(request).await?,
            Some(id) => id.clone(),
            None => {
                let names = self.names(&request.test_id, &request.region);
                format!(
                    "/subscriptions/{}{}",
                    segment(self.client.subscription()),
                    Self::group_path(&names.resource_group, &names.group)
                )
            }
        };
        if let (Some(z), Some(zones)) = (zone, request.region_handle.extra.get(HANDLE_ZONES))
            && !zones.is_empty()
            && !zones.split(',').any(|g| g == z)
        {
            return Err(site
                .error(
                    ErrorKind::NotOffered,
                    "ZoneNotInGroup",
                    format!(
                        "capacity reservation group {group_id} spans zones {zones} (Azure fixes them \
                         when the group is created); zone {z} cannot be used in it"
                    ),
                )
                .into());
        }
        let id = format!(
            "{group_id}/capacityReservations/{}",
            segment(&naming::reservation_name(
                &request.demand.instance_type,
                zone
            ))
        );
        let url = self.client.id_url(&id, COMPUTE_API_VERSION);
        let body = CapacityReservationPut {
            location: request.region.clone(),
            sku: Sku {
                name: request.demand.instance_type.clone(),
                capacity: i64::from(request.demand.count),
            },
            zones: zone.map(|z| vec![z.to_string()]).unwrap_or_default(),
            tags: reservation_tags(request),
        };
        let answer = self.client.put(&site, &url, &body).await?;
        let made: Option<CapacityReservation> = (!answer.body.is_empty())
            .then(|| answer.json(&site))
            .transpose()?;
        let mut reservation = match &made {
            Some(r) if !r.id.is_empty() => to_reservation(r, &request.region),
            _ => Reservation {
                id: ReservationId(id.clone()),
                cloud: Cloud::Azure,
                region: request.region.clone(),
                zone: zone.map(str::to_string),
                instance_type: request.demand.instance_type.clone(),
                count: request.demand.count,
                used: None,
                end_time: None,
                created: None,
                state: ReservationState::Pending,
                tags: canonical_tags(&body.tags),
                extra: BTreeMap::from([(EXTRA_GROUP.to_string(), group_id.clone())]),
            },
        };
        let state = made
            .as_ref()
            .and_then(|r| r.properties.provisioning_state.clone());
        let accepted = answer.status == 202
            || answer.async_operation.is_some()
            || answer.location.is_some()
            || provisioning_outcome(state.as_deref()).is_none();
        if !accepted {
            if provisioning_outcome(state.as_deref()) == Some(false) {
                return Err(failed_without_reason(&site, &format!("reservation {id}")).into());
            }
            reservation.state = ReservationState::Active;
            return Ok(reservation);
        }
        reservation.state = ReservationState::Pending;
        Lro::of(&answer, &url).save(&mut reservation.extra);
        Ok(reservation)
    }

    /// One look: the reservation's operation (the pattern its PUT answered with), then the
    /// reservation itself once the operation is done.
    async fn poll(&self, reservation: &Reservation) -> Result<Readiness> {
        let site = reservation_site(
            "CapacityReservations_CreateOrUpdate",
            act::RESERVATION_WRITE,
            reservation,
        );
        if let Some(op) = Lro::load(&reservation.extra).filter(|l| !matches!(l, Lro::Resource(_))) {
            let op_site = site.with("OperationStatus_Get", act::OPERATIONS_READ);
            match lro::look(&self.client, &op_site, &op, false).await {
                Ok(Step::Running(retry_after)) => return Ok(Readiness::Pending { retry_after }),
                Ok(Step::Failed(e)) => {
                    let mut e = e;
                    e.operation = site.operation.to_string();
                    return Ok(Readiness::Failed(e.into()));
                }
                Ok(Step::Done) => {}
                // The operation is no longer known: the reservation's own state decides.
                Err(e) if e.kind() == ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
        }
        let get_site = site.with("CapacityReservations_Get", act::RESERVATION_READ);
        let url = self.client.id_url(&reservation.id.0, COMPUTE_API_VERSION);
        let current: CapacityReservation = match self.client.get(&get_site, &url).await {
            Ok(r) => r,
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
        let mut found = to_reservation(&current, &reservation.region);
        found.extra.retain(|k, _| k == EXTRA_GROUP);
        Ok(match found.state {
            ReservationState::Active => Readiness::Ready(found),
            ReservationState::Pending => Readiness::Pending { retry_after: None },
            ReservationState::Failed => Readiness::Failed(
                failed_without_reason(&site, &format!("reservation {}", reservation.id)).into(),
            ),
            ref other => Readiness::Failed(
                site.error(
                    ErrorKind::Transient,
                    "ReservationNotReady",
                    format!(
                        "reservation {} is {other:?} instead of becoming Succeeded",
                        reservation.id
                    ),
                )
                .settled()
                .into(),
            ),
        })
    }

    async fn find(&self, test_id: &str, region: Option<String>) -> Result<Vec<Reservation>> {
        let groups = self.groups_of_test(test_id, region.as_deref()).await?;
        let mut found = self.reservations_in(&groups).await?;
        tags::retain_test(&mut found, test_id);
        Ok(found)
    }

    /// The reservations of every group cr made (tagged `CreatedBy=cr` and a `TestId`) or
    /// that carries no `TestId` (a group the user made and named in
    /// `azure_capacity_reservation_group`), kept when their own tags say cr made them: one
    /// subscription-wide list of groups, then one list per group.
    async fn find_created(&self, region: Option<String>) -> Result<Vec<Reservation>> {
        let groups = self
            .groups_where(region.as_deref(), |g| {
                tag(&g.tags, TEST_ID).is_none() || tags::is_created_by_cr(&canonical_tags(&g.tags))
            })
            .await?;
        let mut found = self.reservations_in(&groups).await?;
        tags::retain_created_by_cr(&mut found);
        Ok(found)
    }

    async fn cancel(&self, reservation: &Reservation) -> Result<CancelOutcome> {
        let site = reservation_site(
            "CapacityReservations_Delete",
            act::RESERVATION_DELETE,
            reservation,
        );
        self.delete_reservation(&site, &reservation.id.0).await
    }

    /// Removes the test's groups in `region` (their remaining reservations first, then the
    /// group, retrying ARM's nested-resources race), then the owned resource group.
    async fn finish_region(&self, test_id: &str, region: &str) -> Result<()> {
        let groups = self.groups_of_test(test_id, Some(region)).await?;
        for outcome in join_all(groups.iter().map(|g| self.remove_group(g, test_id))).await {
            outcome?;
        }
        self.delete_owned_resource_group(test_id, region).await
    }

    /// Regions holding a group tagged with the test id, or an owned resource group of it.
    async fn regions_with_resources(&self, test_id: &str) -> Result<Vec<String>> {
        // Only groups cr made for the test are region resources; the test's reservations in
        // a group it did not make are found (and their regions finished) through `find`.
        let mut regions: Vec<String> = self
            .groups_of_test(test_id, None)
            .await?
            .into_iter()
            .filter(|g| Self::made_for_test(g, test_id))
            .map(|g| g.location.to_ascii_lowercase())
            .collect();
        if self.placement.resource_group.is_none() {
            let site = CallSite::new("ResourceGroups_List", act::RESOURCE_GROUP_READ);
            let url = self.client.url("/resourcegroups", RESOURCES_API_VERSION);
            let rgs: Vec<ResourceGroup> = self.client.list(&site, &url).await?;
            for rg in rgs {
                let region = rg.location.to_ascii_lowercase();
                let owned = rg.name.as_deref().is_some_and(|n| {
                    n.eq_ignore_ascii_case(&naming::owned_resource_group(test_id, &region))
                });
                if owned && tag(&rg.tags, TEST_ID) == Some(test_id) {
                    regions.push(region);
                }
            }
        }
        regions.sort();
        regions.dedup();
        Ok(regions)
    }

    /// The group a VM (`properties.capacityReservation`) or a scale set
    /// (`properties.virtualMachineProfile.capacityReservation`) names to consume the
    /// reservation, with the zone to launch in.
    /// ARM throttles per subscription and principal, whatever the region.
    fn pacing_scope(&self, _region: &str) -> Option<String> {
        Some(format!("azure {}", self.client.throttling_scope()))
    }

    fn instance_target(&self, reservation: &Reservation) -> serde_json::Value {
        let group = reservation
            .extra
            .get(EXTRA_GROUP)
            .cloned()
            .or_else(|| group_of(&reservation.id.0).map(str::to_string))
            .unwrap_or_default();
        let profile = serde_json::json!({"capacityReservationGroup": {"id": group}});
        let zones: Vec<&str> = reservation.zone.as_deref().into_iter().collect();
        serde_json::json!({
            "virtualMachine": {
                "zones": zones,
                "properties": {"capacityReservation": profile},
            },
            "virtualMachineScaleSet": {
                "zones": zones,
                "properties": {"virtualMachineProfile": {"capacityReservation": profile}},
            },
            "capacityReservationId": reservation.id.0,
            "resourceGroup": id_segment(&group, "resourceGroups"),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vcpus_are_summed_per_family_and_in_cores() {
        let skus: Vec<ResourceSku> = serde_json::from_value(serde_json::json!([
            {"resourceType": "virtualMachines", "name": "Standard_D8s_v5", "family": "standardDSv5Family",
             "capabilities": [{"name": "vCPUs", "value": "8"}]},
            {"resourceType": "virtualMachines", "name": "Standard_L16s_v3", "family": "standardLSv3Family",
             "capabilities": [{"name": "vCPUs", "value": "16"}]},
            {"resourceType": "disks", "name": "Standard_D8s_v5", "family": "x",
             "capabilities": [{"name": "vCPUs", "value": "99"}]},
        ]))
        .unwrap();
        let demand = |t: &str, count: u32| Demand {
            instance_type: t.into(),
            count,
            roles: vec![],
            details: Default::default(),
        };
        let needs = vcpu_needs(
            &skus,
            &[
                demand("standard_d8s_v5", 2),
                demand("Standard_L16s_v3", 3),
                demand("Standard_Unknown", 1),
            ],
        );
        assert_eq!(
            needs,
            vec![
                ("standardDSv5Family".to_string(), 16),
                ("standardLSv3Family".to_string(), 48),
                ("cores".to_string(), 64),
            ]
        );
        assert!(vcpu_needs(&skus, &[demand("Standard_Unknown", 1)]).is_empty());
    }

    #[test]
    fn reservations_map_state_zone_tags_and_end_time() {
        let r: CapacityReservation = serde_json::from_value(serde_json::json!({
            "id": "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/capacityReservationGroups/g/capacityReservations/cr-Standard_L8s_v3-z2",
            "name": "cr-Standard_L8s_v3-z2",
            "location": "EastUS",
            "tags": {"testid": "t", "CrEndTime": "2030-01-02T03:04:05Z"},
            "sku": {"name": "Standard_L8s_v3", "capacity": 3},
            "zones": ["2"],
            "properties": {"provisioningState": "Creating", "virtualMachinesAssociated": [{"id": "vm1"}]}
        }))
        .unwrap();
        let m = to_reservation(&r, "eastus");
        assert_eq!(m.region, "eastus");
        assert_eq!(m.zone.as_deref(), Some("2"));
        assert_eq!(m.count, 3);
        assert_eq!(m.used, Some(1));
        assert_eq!(m.state, ReservationState::Pending);
        assert_eq!(m.tags.get(TEST_ID).map(String::as_str), Some("t"));
        assert_eq!(m.end_time, None, "Azure reservations have no end time");
        assert_eq!(
            m.tags.get(END_TIME_TAG).map(String::as_str),
            Some("2030-01-02T03:04:05Z")
        );
        assert!(m.extra[EXTRA_GROUP].ends_with("/capacityReservationGroups/g"));
        for (s, want) in [
            ("Succeeded", ReservationState::Active),
            ("Updating", ReservationState::Pending),
            ("Deleting", ReservationState::Cancelling),
            ("Failed", ReservationState::Failed),
        ] {
            assert_eq!(state_of(Some(s)), want, "{s}");
        }
    }
}
