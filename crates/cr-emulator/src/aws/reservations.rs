//! On-Demand Capacity Reservations: CreateCapacityReservation, DescribeCapacityReservations
//! and CancelCapacityReservation, plus the time-driven transitions (`pending` → `active` or
//! `failed`, `scheduled` → `active`, `EndDate` → `expired`).

use std::collections::BTreeMap;

use axum::http::StatusCode;
use jiff::{SignedDuration, Timestamp};
use rand::Rng;

use super::params::{
    Filter, any_match, decode_token, encode_token, tag_filter, tag_specifications,
};
use super::xml::{Ec2Error, Xml, time};
use super::{CLOUD, Ctx, Inner, instance_types};
use crate::defaults::aws_zone_id;
use crate::scenario::FaultKind;
use crate::world::{AuditRecord, AuditState, CapacityDenied, World};

/// `CapacityReservationInstancePlatform` enum of the EC2 model.
const PLATFORMS: &[&str] = &[
    "Linux/UNIX",
    "Red Hat Enterprise Linux",
    "SUSE Linux",
    "Windows",
    "Windows with SQL Server",
    "Windows with SQL Server Enterprise",
    "Windows with SQL Server Standard",
    "Windows with SQL Server Web",
    "Linux with SQL Server Standard",
    "Linux with SQL Server Web",
    "Linux with SQL Server Enterprise",
    "RHEL with SQL Server Standard",
    "RHEL with SQL Server Enterprise",
    "RHEL with SQL Server Web",
    "RHEL with HA",
    "RHEL with HA and SQL Server Standard",
    "RHEL with HA and SQL Server Enterprise",
    "Ubuntu Pro",
];

/// One capacity reservation.
#[derive(Debug, Clone)]
pub(super) struct Cr {
    pub id: String,
    pub region: String,
    pub zone: String,
    pub zone_id: String,
    pub instance_type: String,
    pub platform: String,
    pub tenancy: String,
    pub count: u32,
    pub ebs_optimized: bool,
    pub ephemeral_storage: bool,
    pub end_date_type: String,
    pub end_date: Option<Timestamp>,
    pub match_criteria: String,
    pub tags: BTreeMap<String, String>,
    pub state: &'static str,
    pub created: Timestamp,
    pub start: Timestamp,
    /// When a `pending`/`scheduled` reservation becomes `active` (or `failed`).
    pub ready_at: Timestamp,
    pub fail_when_ready: bool,
    pub placement_group_arn: Option<String>,
    pub outpost_arn: Option<String>,
    pub delivery_preference: String,
    pub ended_at: Option<Timestamp>,
}

impl Cr {
    /// When this reservation next changes state by itself.
    fn due(&self) -> Option<Timestamp> {
        if !self.holds_capacity() {
            return None;
        }
        let ready = matches!(self.state, "pending" | "scheduled").then_some(self.ready_at);
        earliest(ready, self.end_date)
    }

    fn holds_capacity(&self) -> bool {
        matches!(self.state, "active" | "pending" | "scheduled")
    }

    fn audit_state(&self) -> AuditState {
        match self.state {
            "active" => AuditState::Active,
            "pending" | "scheduled" => AuditState::Pending,
            "expired" => AuditState::Expired,
            // `failed` reservations never held capacity for the client: report them as
            // cancelled, the closest audit state.
            _ => AuditState::Cancelled,
        }
    }

    fn audit(&self) -> AuditRecord {
        AuditRecord {
            cloud: CLOUD,
            id: self.id.clone(),
            name: self
                .tags
                .get("Name")
                .cloned()
                .unwrap_or_else(|| self.id.clone()),
            region: self.region.clone(),
            zone: self.zone.clone(),
            instance_type: self.instance_type.clone(),
            count: self.count,
            state: self.audit_state(),
            tags: self.tags.clone(),
            created_at: self.created,
            ended_at: self.ended_at,
            used: 0,
        }
    }

    /// `<item>…</item>` of a `capacityReservationSet`.
    fn write(&self, x: &mut Xml, account: &str, used: u32) {
        x.open("item");
        self.write_members(x, account, used);
        x.close("item");
    }

    /// `<capacityReservation>…</capacityReservation>` (Create's reply).
    fn write_single(&self, x: &mut Xml, account: &str, used: u32) {
        x.open("capacityReservation");
        self.write_members(x, account, used);
        x.close("capacityReservation");
    }

    fn write_members(&self, x: &mut Xml, account: &str, used: u32) {
        x.leaf("capacityReservationId", &self.id)
            .leaf("ownerId", account)
            .leaf(
                "capacityReservationArn",
                format!(
                    "arn:aws:ec2:{}:{account}:capacity-reservation/{}",
                    self.region, self.id
                ),
            )
            .leaf("availabilityZoneId", &self.zone_id)
            .leaf("instanceType", &self.instance_type)
            .leaf("instancePlatform", &self.platform)
            .leaf("availabilityZone", &self.zone)
            .leaf("tenancy", &self.tenancy)
            .leaf("totalInstanceCount", self.count)
            .leaf(
                "availableInstanceCount",
                if self.holds_capacity() {
                    self.count.saturating_sub(used)
                } else {
                    0
                },
            )
            .leaf("ebsOptimized", self.ebs_optimized)
            .leaf("ephemeralStorage", self.ephemeral_storage)
            .leaf("state", self.state)
            .leaf("startDate", time(self.start))
            .opt_leaf("endDate", self.end_date.map(time))
            .leaf("endDateType", &self.end_date_type)
            .leaf("instanceMatchCriteria", &self.match_criteria)
            .leaf("createDate", time(self.created))
            .tag_set(&self.tags)
            .opt_leaf("outpostArn", self.outpost_arn.as_deref())
            .opt_leaf("placementGroupArn", self.placement_group_arn.as_deref())
            .open("capacityAllocationSet");
        if used > 0 {
            x.open("item")
                .leaf("allocationType", "used")
                .leaf("count", used)
                .close("item");
        }
        x.close("capacityAllocationSet")
            .leaf("reservationType", "default")
            .leaf("deliveryPreference", &self.delivery_preference);
    }
}

fn new_id() -> String {
    let n: u128 = rand::rng().random();
    format!("cr-{:017x}", n & ((1u128 << 68) - 1))
}

fn is_well_formed_id(id: &str) -> bool {
    id.strip_prefix("cr-").is_some_and(|h| {
        (h.len() == 17 || h.len() == 8) && h.bytes().all(|b| b.is_ascii_hexdigit())
    })
}

fn one_of<'a>(value: &'a str, allowed: &[&str], name: &str) -> Result<&'a str, Ec2Error> {
    if allowed.contains(&value) {
        Ok(value)
    } else {
        Err(Ec2Error::invalid(format!(
            "Value ({value}) for parameter {name} is invalid."
        )))
    }
}

/// Records a reservation's new state in the audit and returns its capacity when it ends.
fn settle(world: &World, cr: &mut Cr, state: &'static str, now: Timestamp) {
    let released = cr.holds_capacity() && !matches!(state, "active" | "pending" | "scheduled");
    cr.state = state;
    if released {
        cr.ended_at = Some(now);
        // Instances running in it keep running on demand, holding their share.
        let running = world.detach_reservation(CLOUD, &cr.id);
        world.release(
            CLOUD,
            &cr.region,
            &cr.zone,
            &cr.instance_type,
            cr.count.saturating_sub(running),
        );
    }
    world.upsert_reservation(cr.audit());
}

pub(super) fn sweep(inner: &mut Inner, world: &World) {
    let now = world.now();
    if inner.next_due.is_none_or(|due| due > now) {
        return;
    }
    let mut next_due: Option<Timestamp> = None;
    for cr in &mut inner.reservations {
        if matches!(cr.state, "pending" | "scheduled") && cr.ready_at <= now {
            let next = if cr.fail_when_ready {
                "failed"
            } else {
                "active"
            };
            settle(world, cr, next, now);
        }
        if cr.holds_capacity() && cr.end_date.is_some_and(|end| end <= now) {
            settle(world, cr, "expired", now);
        }
        next_due = earliest(next_due, cr.due());
    }
    inner.next_due = next_due;
}

fn earliest(a: Option<Timestamp>, b: Option<Timestamp>) -> Option<Timestamp> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

pub(super) fn create(ctx: &Ctx<'_>) -> Result<Xml, Ec2Error> {
    let p = &ctx.params;
    let world = &ctx.app.world;
    let now = world.now();
    let instance_type = p.required("InstanceType")?.to_owned();
    let platform = one_of(
        p.required("InstancePlatform")?,
        PLATFORMS,
        "InstancePlatform",
    )?
    .to_owned();
    let count = p
        .int("InstanceCount", 1, 1000)?
        .ok_or_else(|| Ec2Error::missing("InstanceCount"))?;
    let count = u32::try_from(count).unwrap_or(1);
    let region = world
        .region(CLOUD, &ctx.region)
        .ok_or_else(|| Ec2Error::invalid("Unknown region."))?;
    let zone = match (p.get("AvailabilityZone"), p.get("AvailabilityZoneId")) {
        (Some(_), Some(_)) => {
            return Err(Ec2Error::bad(
                "InvalidParameterCombination",
                "Only one of AvailabilityZone and AvailabilityZoneId can be specified.",
            ));
        }
        (Some(name), None) => region.zones.iter().find(|z| *z == name).cloned(),
        (None, Some(id)) => region
            .zones
            .iter()
            .find(|z| aws_zone_id(z).as_deref() == Some(id))
            .cloned(),
        (None, None) => return Err(Ec2Error::missing("AvailabilityZone")),
    };
    let Some(zone) = zone else {
        let given = p
            .get("AvailabilityZone")
            .or(p.get("AvailabilityZoneId"))
            .unwrap_or_default();
        return Err(Ec2Error::invalid(format!(
            "Invalid availability zone: [{given}]"
        )));
    };
    let scenario_types = world.scenario_arc();
    let named_in_scenario = scenario_types
        .clouds
        .aws
        .regions
        .values()
        .flat_map(|r| r.zones.values())
        .any(|z| z.contains_key(&instance_type));
    if !instance_types::is_known(&instance_type) && !named_in_scenario {
        return Err(Ec2Error::invalid(format!(
            "Invalid value '{instance_type}' for InstanceType."
        )));
    }
    let tenancy = one_of(
        p.get("Tenancy").unwrap_or("default"),
        &["default", "dedicated"],
        "Tenancy",
    )?
    .to_owned();
    let ebs_optimized = p.bool("EbsOptimized")?.unwrap_or(false);
    let ephemeral_storage = p.bool("EphemeralStorage")?.unwrap_or(false);
    let end_date_type = one_of(
        p.get("EndDateType").unwrap_or("unlimited"),
        &["unlimited", "limited"],
        "EndDateType",
    )?
    .to_owned();
    let end_date = p.time("EndDate")?;
    match (end_date_type.as_str(), end_date) {
        ("limited", None) => {
            return Err(Ec2Error::bad(
                "InvalidParameterCombination",
                "EndDate must be specified when EndDateType is limited.",
            ));
        }
        ("unlimited", Some(_)) => {
            return Err(Ec2Error::bad(
                "InvalidParameterCombination",
                "EndDate cannot be specified when EndDateType is unlimited.",
            ));
        }
        (_, Some(end)) if end <= now => {
            return Err(Ec2Error::invalid("The EndDate must be in the future."));
        }
        _ => {}
    }
    let match_criteria = one_of(
        p.get("InstanceMatchCriteria").unwrap_or("open"),
        &["open", "targeted"],
        "InstanceMatchCriteria",
    )?
    .to_owned();
    let delivery_preference = one_of(
        p.get("DeliveryPreference").unwrap_or("fixed"),
        &["fixed", "incremental"],
        "DeliveryPreference",
    )?
    .to_owned();
    let tags = tag_specifications(p, "TagSpecifications", "capacity-reservation")?;
    let placement_group_arn = match p.get("PlacementGroupArn") {
        Some(arn) => Some(super::catalog::check_cluster_group_arn(ctx, arn)?),
        None => None,
    };
    let start = match p.time("StartDate")? {
        Some(s) if s > now => s,
        _ => now,
    };
    if let Some(token) = p.get("ClientToken")
        && token.chars().count() > 64
    {
        return Err(Ec2Error::invalid(
            "ClientToken must be at most 64 characters.",
        ));
    }
    p.dry_run()?;

    let fingerprint = p.fingerprint(&["ClientToken", "DryRun", "Version"]);
    let mut inner = ctx.app.aws.lock();
    if let Some(token) = p.get("ClientToken")
        && let Some((seen, id)) = inner.tokens.get(&(ctx.region.clone(), token.to_owned()))
    {
        if *seen != fingerprint {
            return Err(Ec2Error::bad(
                "IdempotentParameterMismatch",
                "The client token you have provided is associated with a request that had different parameters.",
            ));
        }
        let mut x = Xml::default();
        if let Some(&i) = inner.index.get(id) {
            let cr = &inner.reservations[i];
            let used = world.reservation_used(CLOUD, &cr.id);
            cr.write_single(&mut x, &ctx.app.creds.aws.account_id, used);
        }
        return Ok(x);
    }

    if let Err(denied) = world.try_consume(CLOUD, &ctx.region, &zone, &instance_type, count) {
        return Err(capacity_error(
            world,
            &ctx.region,
            &zone,
            &instance_type,
            count,
            denied,
            ctx,
        ));
    }
    let lro = SignedDuration::try_from(world.lro_duration(CLOUD)).unwrap_or_default();
    let fail = ctx.fault == Some(FaultKind::FailedLro);
    let ready_at = (now + lro).max(start);
    let state = if ready_at > now || fail {
        if start > now { "scheduled" } else { "pending" }
    } else {
        "active"
    };
    let cr = Cr {
        id: new_id(),
        region: ctx.region.clone(),
        zone_id: aws_zone_id(&zone).unwrap_or_default(),
        zone,
        instance_type,
        platform,
        tenancy,
        count,
        ebs_optimized,
        ephemeral_storage,
        end_date_type,
        end_date,
        match_criteria,
        tags,
        state,
        created: now,
        start,
        ready_at,
        fail_when_ready: fail,
        placement_group_arn,
        outpost_arn: p.get("OutpostArn").map(str::to_owned),
        delivery_preference,
        ended_at: None,
    };
    world.upsert_reservation(cr.audit());
    let mut x = Xml::default();
    cr.write_single(&mut x, &ctx.app.creds.aws.account_id, 0);
    if let Some(token) = p.get("ClientToken") {
        inner.tokens.insert(
            (ctx.region.clone(), token.to_owned()),
            (fingerprint, cr.id.clone()),
        );
    }
    inner.next_due = earliest(inner.next_due, cr.due());
    let i = inner.reservations.len();
    inner.index.insert(cr.id.clone(), i);
    inner.reservations.push(cr);
    Ok(x)
}

fn capacity_error(
    world: &World,
    region: &str,
    zone: &str,
    instance_type: &str,
    count: u32,
    denied: CapacityDenied,
    ctx: &Ctx<'_>,
) -> Ec2Error {
    match denied {
        CapacityDenied::Stockout { .. } => {
            let others: Vec<String> = world
                .zones_with_capacity(CLOUD, region, instance_type, count)
                .into_iter()
                .filter(|z| z != zone)
                .collect();
            let hint = if others.is_empty() {
                String::new()
            } else {
                format!(
                    " You can currently get {instance_type} capacity by not specifying an Availability Zone in your request or choosing {}.",
                    others.join(", ")
                )
            };
            Ec2Error::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "InsufficientInstanceCapacity",
                format!(
                    "We currently do not have sufficient {instance_type} capacity in the Availability Zone you requested ({zone}). Our system will be working on provisioning additional capacity.{hint}"
                ),
            )
        }
        CapacityDenied::Quota {
            metric,
            limit,
            used,
            needed,
        } => {
            let status = ctx
                .app
                .world
                .scenario_arc()
                .clouds
                .aws
                .option_u64("quota_status")
                .and_then(|s| u16::try_from(s).ok())
                .and_then(|s| StatusCode::from_u16(s).ok())
                .unwrap_or(StatusCode::BAD_REQUEST);
            Ec2Error::new(
                status,
                "InstanceLimitExceeded",
                format!(
                    "You have requested more vCPU capacity ({}) than your current vCPU limit of {limit} allows for the instance bucket that the specified instance type belongs to ({}, {used} vCPUs in use). Please visit http://aws.amazon.com/contact-us/ec2-request to request an adjustment to this limit.",
                    used + needed,
                    crate::quota::describe(CLOUD, &metric)
                ),
            )
        }
        CapacityDenied::NotOffered => {
            let offered: Vec<String> = world
                .region(CLOUD, region)
                .map(|r| r.zones)
                .unwrap_or_default()
                .into_iter()
                .filter(|z| world.offered(CLOUD, region, z, instance_type))
                .collect();
            Ec2Error::bad(
                "Unsupported",
                format!(
                    "Your requested instance type ({instance_type}) is not supported in your requested Availability Zone ({zone}). Please retry your request by not specifying an Availability Zone or choosing {}.",
                    offered.join(", ")
                ),
            )
        }
    }
}

fn matches_filter(cr: &Cr, f: &Filter, account: &str, tag_filters: bool) -> Result<bool, Ec2Error> {
    if tag_filters && let Some(hit) = tag_filter(f, &cr.tags) {
        return Ok(hit);
    }
    let v = &f.values;
    let opt = |o: &Option<String>| o.as_deref().is_some_and(|s| any_match(v, s));
    Ok(match f.name.as_str() {
        "instance-type" => any_match(v, &cr.instance_type),
        "owner-id" => any_match(v, account),
        "instance-platform" => any_match(v, &cr.platform),
        "availability-zone" => any_match(v, &cr.zone),
        "availability-zone-id" => any_match(v, &cr.zone_id),
        "tenancy" => any_match(v, &cr.tenancy),
        "outpost-arn" => opt(&cr.outpost_arn),
        "placement-group-arn" => opt(&cr.placement_group_arn),
        "state" => any_match(v, cr.state),
        "start-date" => any_match(v, &time(cr.start)),
        "end-date" => cr.end_date.is_some_and(|e| any_match(v, &time(e))),
        "end-date-type" => any_match(v, &cr.end_date_type),
        "instance-match-criteria" => any_match(v, &cr.match_criteria),
        "capacity-reservation-id" => any_match(v, &cr.id),
        other => {
            return Err(Ec2Error::invalid(format!(
                "The filter '{other}' is invalid"
            )));
        }
    })
}

pub(super) fn describe(ctx: &Ctx<'_>) -> Result<Xml, Ec2Error> {
    let p = &ctx.params;
    let ids = p.list("CapacityReservationId");
    let filters = p.filters()?;
    let max = p.int("MaxResults", 1, 1000)?;
    if max.is_some() && !ids.is_empty() {
        return Err(Ec2Error::bad(
            "InvalidParameterCombination",
            "The parameter CapacityReservationIds cannot be used with the parameter MaxResults",
        ));
    }
    let offset = match p.get("NextToken").filter(|t| !t.is_empty()) {
        Some(t) => decode_token("dcr", t)?,
        None => 0,
    };
    for id in &ids {
        if !is_well_formed_id(id) {
            return Err(Ec2Error::bad(
                "InvalidCapacityReservationId.Malformed",
                format!("Invalid id: \"{id}\" (expecting \"cr-...\")"),
            ));
        }
    }
    p.dry_run()?;
    let account = &ctx.app.creds.aws.account_id;
    let world = &ctx.app.world;
    let mut inner = ctx.app.aws.lock();
    sweep(&mut inner, world);
    let now = world.now();
    let visible = |cr: &Cr| {
        cr.region == ctx.region
            && cr.ended_at.is_none_or(|ended| {
                ended + SignedDuration::try_from(ctx.opts.ended_visible).unwrap_or_default() > now
            })
    };
    for id in &ids {
        let found = inner
            .index
            .get(id)
            .is_some_and(|&i| visible(&inner.reservations[i]));
        if !found {
            return Err(Ec2Error::bad(
                "InvalidCapacityReservationId.NotFound",
                format!("The capacity reservation ID '{id}' does not exist"),
            ));
        }
    }
    let mut selected = Vec::new();
    for cr in inner.reservations.iter().filter(|cr| visible(cr)) {
        if !ids.is_empty() && !ids.contains(&cr.id) {
            continue;
        }
        let mut keep = true;
        for f in &filters {
            if !matches_filter(cr, f, account, ctx.opts.tag_filters)? {
                keep = false;
                break;
            }
        }
        if keep {
            selected.push(cr);
        }
    }
    let page_size = max.map_or(usize::MAX, |m| usize::try_from(m).unwrap_or(1000));
    let mut x = Xml::default();
    x.open("capacityReservationSet");
    for cr in selected.iter().skip(offset).take(page_size) {
        cr.write(
            &mut x,
            account,
            ctx.app.world.reservation_used(CLOUD, &cr.id),
        );
    }
    x.close("capacityReservationSet");
    if offset.saturating_add(page_size) < selected.len() {
        x.leaf("nextToken", encode_token("dcr", offset + page_size));
    }
    Ok(x)
}

pub(super) fn cancel(ctx: &Ctx<'_>) -> Result<Xml, Ec2Error> {
    let p = &ctx.params;
    let id = p.required("CapacityReservationId")?;
    if !is_well_formed_id(id) {
        return Err(Ec2Error::bad(
            "InvalidCapacityReservationId.Malformed",
            format!("Invalid id: \"{id}\" (expecting \"cr-...\")"),
        ));
    }
    p.dry_run()?;
    let world = &ctx.app.world;
    let mut inner = ctx.app.aws.lock();
    sweep(&mut inner, world);
    let idx = inner
        .index
        .get(id)
        .copied()
        .filter(|&i| inner.reservations[i].region == ctx.region)
        .ok_or_else(|| {
            Ec2Error::bad(
                "InvalidCapacityReservationId.NotFound",
                format!("The capacity reservation ID '{id}' does not exist"),
            )
        })?;
    let cr = &mut inner.reservations[idx];
    if !cr.holds_capacity() {
        if !ctx.opts.cancel_ended_ok {
            return Err(Ec2Error::bad(
                "IncorrectState",
                format!(
                    "The capacity reservation '{id}' is in the '{}' state and cannot be cancelled.",
                    cr.state
                ),
            ));
        }
    } else {
        settle(world, cr, "cancelled", world.now());
    }
    let mut x = Xml::default();
    x.leaf("return", true);
    Ok(x)
}
