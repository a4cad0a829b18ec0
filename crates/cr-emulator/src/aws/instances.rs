//! Launching into capacity reservations: `RunInstances`, `TerminateInstances` and a minimal
//! `DescribeInstances` (ids, type, zone, state, `capacityReservationId`,
//! `capacityReservationSpecification`).
//!
//! Matching (EC2 user guide, "Capacity Reservations"): an instance fits a reservation when
//! instance type, platform, Availability Zone and tenancy all match and the reservation is
//! `active` with a free slot. `CapacityReservationTarget.CapacityReservationId` names one
//! (targeted): anything that does not fit fails the whole launch with
//! `ReservationCapacityExceeded` ("…does not have sufficient compatible and available
//! capacity…", which covers both a full reservation and a mismatch; the emulator appends the
//! rule broken). Preference `open` (the default) takes any fitting `open` reservation and falls
//! back to On-Demand capacity; `none` always launches On-Demand;
//! `capacity-reservations-only` fails with `ReservationCapacityExceeded` instead of falling
//! back. The emulator's AMIs are all `Linux/UNIX`.

use std::collections::BTreeMap;

use rand::Rng;

use super::params::tag_specifications;
use super::reservations::Cr;
use super::xml::{Ec2Error, Xml, time};
use super::{CLOUD, Ctx, instance_types};
use crate::usage::Instance;
use crate::world::CapacityDenied;

/// EC2's message for `ReservationCapacityExceeded` (seen in botocore errors); the emulator
/// appends which rule the launch broke.
const INSUFFICIENT: &str = "The requested reservation does not have sufficient compatible and available capacity for this request.";

/// The platform every emulated AMI reports.
const AMI_PLATFORM: &str = "Linux/UNIX";

/// Why a reservation does not take an instance.
fn mismatch(cr: &Cr, zone: &str, instance_type: &str, tenancy: &str) -> Option<String> {
    if cr.instance_type != instance_type {
        return Some(format!(
            "The instance type ({instance_type}) does not match the instance type of Capacity Reservation {} ({}).",
            cr.id, cr.instance_type
        ));
    }
    if cr.zone != zone {
        return Some(format!(
            "The Availability Zone ({zone}) does not match the Availability Zone of Capacity Reservation {} ({}).",
            cr.id, cr.zone
        ));
    }
    if cr.platform != AMI_PLATFORM {
        return Some(format!(
            "The platform of the AMI ({AMI_PLATFORM}) does not match the platform of Capacity Reservation {} ({}).",
            cr.id, cr.platform
        ));
    }
    if cr.tenancy != tenancy {
        return Some(format!(
            "The tenancy ({tenancy}) does not match the tenancy of Capacity Reservation {} ({}).",
            cr.id, cr.tenancy
        ));
    }
    None
}

fn new_instance_id() -> String {
    let n: u128 = rand::rng().random();
    format!("i-{:017x}", n & ((1u128 << 68) - 1))
}

fn is_instance_id(id: &str) -> bool {
    id.strip_prefix("i-").is_some_and(|h| {
        (h.len() == 17 || h.len() == 8) && h.bytes().all(|b| b.is_ascii_hexdigit())
    })
}

/// Where the instances of one launch go.
enum Placement {
    /// Into this reservation (index into `Inner::reservations`).
    Reserved(usize),
    OnDemand,
}

pub(super) fn run(ctx: &Ctx<'_>) -> Result<Xml, Ec2Error> {
    let p = &ctx.params;
    let world = &ctx.app.world;
    let image = p.required("ImageId")?.to_owned();
    if !image.starts_with("ami-") {
        return Err(Ec2Error::bad(
            "InvalidAMIID.Malformed",
            format!("Invalid id: \"{image}\" (expecting \"ami-...\")"),
        ));
    }
    let min = p
        .int("MinCount", 1, 1000)?
        .ok_or_else(|| Ec2Error::missing("MinCount"))?;
    let max = p
        .int("MaxCount", 1, 1000)?
        .ok_or_else(|| Ec2Error::missing("MaxCount"))?;
    if min > max {
        return Err(Ec2Error::invalid(
            "MinCount must be less than or equal to MaxCount",
        ));
    }
    let instance_type = p.get("InstanceType").unwrap_or("m1.small").to_owned();
    let named_in_scenario = world
        .scenario_arc()
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
    let tenancy = p.get("Placement.Tenancy").unwrap_or("default").to_owned();
    if !matches!(tenancy.as_str(), "default" | "dedicated" | "host") {
        return Err(Ec2Error::invalid(format!(
            "Value ({tenancy}) for parameter Placement.Tenancy is invalid."
        )));
    }
    let region = world
        .region(CLOUD, &ctx.region)
        .ok_or_else(|| Ec2Error::invalid("Unknown region."))?;
    let asked_zone = p.get("Placement.AvailabilityZone").map(str::to_owned);
    if let Some(z) = &asked_zone
        && !region.zones.contains(z)
    {
        return Err(Ec2Error::invalid(format!(
            "Invalid availability zone: [{z}]"
        )));
    }
    const SPEC: &str = "CapacityReservationSpecification";
    let preference = p.get(&format!("{SPEC}.CapacityReservationPreference"));
    let target_id = p.get(&format!(
        "{SPEC}.CapacityReservationTarget.CapacityReservationId"
    ));
    let target_group = p.get(&format!(
        "{SPEC}.CapacityReservationTarget.CapacityReservationResourceGroupArn"
    ));
    if preference.is_some() && (target_id.is_some() || target_group.is_some()) {
        return Err(Ec2Error::bad(
            "InvalidParameterCombination",
            "CapacityReservationPreference and CapacityReservationTarget cannot both be specified.",
        ));
    }
    if target_id.is_some() && target_group.is_some() {
        return Err(Ec2Error::bad(
            "InvalidParameterCombination",
            "Only one of CapacityReservationId and CapacityReservationResourceGroupArn can be specified.",
        ));
    }
    let preference = match preference {
        None => "open",
        Some(v @ ("open" | "none" | "capacity-reservations-only")) => v,
        Some(other) => {
            return Err(Ec2Error::invalid(format!(
                "Value ({other}) for parameter CapacityReservationPreference is invalid."
            )));
        }
    };
    let tags = tag_specifications(p, "TagSpecification", "instance")?;
    p.dry_run()?;

    let count = u32::try_from(max).unwrap_or(1);
    let min = u32::try_from(min).unwrap_or(1);
    let mut inner = ctx.app.aws.lock();
    super::reservations::sweep(&mut inner, world);
    let free = |cr: &Cr| {
        if cr.state == "active" {
            cr.count
                .saturating_sub(world.reservation_used(CLOUD, &cr.id))
        } else {
            0
        }
    };
    // Which reservations a targeted launch may use.
    let targets: Option<Vec<usize>> = if let Some(id) = target_id {
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
        Some(vec![idx])
    } else if let Some(arn) = target_group {
        let members = super::groups::members(ctx, arn)?;
        Some(
            members
                .iter()
                .filter_map(|id| inner.index.get(id).copied())
                .collect(),
        )
    } else {
        None
    };
    let zone_of_launch = asked_zone.clone().unwrap_or_else(|| {
        targets
            .as_ref()
            .and_then(|t| t.first())
            .map(|&i| inner.reservations[i].zone.clone())
            .unwrap_or_else(|| region.zones.first().cloned().unwrap_or_default())
    });
    let mut launched = min.max(count);
    let placement = match &targets {
        Some(targets) => {
            let mut last_reason = None;
            let mut chosen = None;
            for &i in targets {
                let cr = &inner.reservations[i];
                if let Some(why) = mismatch(cr, &zone_of_launch, &instance_type, &tenancy) {
                    last_reason = Some(Ec2Error::bad(
                        "ReservationCapacityExceeded",
                        format!("{INSUFFICIENT} {why}"),
                    ));
                    continue;
                }
                if cr.state != "active" {
                    last_reason = Some(Ec2Error::bad(
                        "InvalidCapacityReservationId.NotFound",
                        format!(
                            "The Capacity Reservation {} is in the '{}' state; instances can only launch into an active Capacity Reservation.",
                            cr.id, cr.state
                        ),
                    ));
                    continue;
                }
                let free = free(cr);
                if free < min {
                    last_reason = Some(Ec2Error::bad(
                        "ReservationCapacityExceeded",
                        format!(
                            "{INSUFFICIENT} Capacity Reservation {} has {free} of {} instances available, {min} requested.",
                            cr.id, cr.count
                        ),
                    ));
                    continue;
                }
                launched = count.min(free);
                chosen = Some(i);
                break;
            }
            match chosen {
                Some(i) => Placement::Reserved(i),
                None => {
                    return Err(last_reason.unwrap_or_else(|| {
                        Ec2Error::bad(
                            "ReservationCapacityExceeded",
                            "The resource group has no Capacity Reservation with capacity for the request.",
                        )
                    }));
                }
            }
        }
        None => {
            let open = (preference != "none")
                .then(|| {
                    inner.reservations.iter().position(|cr| {
                        cr.region == ctx.region
                            && cr.match_criteria == "open"
                            && mismatch(cr, &zone_of_launch, &instance_type, &tenancy).is_none()
                            && free(cr) >= min
                    })
                })
                .flatten();
            match open {
                Some(i) => {
                    launched = count.min(free(&inner.reservations[i]));
                    Placement::Reserved(i)
                }
                None if preference == "capacity-reservations-only" => {
                    return Err(Ec2Error::bad(
                        "ReservationCapacityExceeded",
                        format!(
                            "There is no open Capacity Reservation with capacity for {min} {instance_type} instances in {zone_of_launch}."
                        ),
                    ));
                }
                None => Placement::OnDemand,
            }
        }
    };
    if let Placement::OnDemand = placement {
        // Take as many as the zone has, at least MinCount.
        let available = world.available(CLOUD, &ctx.region, &zone_of_launch, &instance_type);
        launched = count
            .min(u32::try_from(available).unwrap_or(u32::MAX))
            .max(min);
        match world.try_consume(
            CLOUD,
            &ctx.region,
            &zone_of_launch,
            &instance_type,
            launched,
        ) {
            Ok(()) => {}
            Err(CapacityDenied::NotOffered) => {
                return Err(Ec2Error::bad(
                    "Unsupported",
                    format!(
                        "Your requested instance type ({instance_type}) is not supported in your requested Availability Zone ({zone_of_launch})."
                    ),
                ));
            }
            Err(CapacityDenied::Quota { limit, .. }) => {
                return Err(Ec2Error::bad(
                    "VcpuLimitExceeded",
                    format!(
                        "You have requested more vCPU capacity than your current vCPU limit of {limit} allows for the instance bucket that the specified instance type belongs to. Please visit http://aws.amazon.com/contact-us/ec2-request to request an adjustment to this limit."
                    ),
                ));
            }
            Err(CapacityDenied::Stockout { .. }) => {
                return Err(Ec2Error::new(
                    axum::http::StatusCode::INTERNAL_SERVER_ERROR,
                    "InsufficientInstanceCapacity",
                    format!(
                        "We currently do not have sufficient {instance_type} capacity in the Availability Zone you requested ({zone_of_launch})."
                    ),
                ));
            }
        }
    }
    let reservation = match placement {
        Placement::Reserved(i) => Some(inner.reservations[i].id.clone()),
        Placement::OnDemand => None,
    };
    drop(inner);
    let now = world.now();
    let reservation_id = format!(
        "r-{:017x}",
        rand::rng().random::<u64>() & 0xf_ffff_ffff_ffff
    );
    let mut x = Xml::default();
    x.leaf("reservationId", &reservation_id)
        .leaf("ownerId", &ctx.app.creds.aws.account_id)
        .open("groupSet")
        .close("groupSet")
        .open("instancesSet");
    for index in 0..launched {
        let id = new_instance_id();
        let instance = Instance {
            cloud: CLOUD,
            id: id.clone(),
            name: tags.get("Name").cloned().unwrap_or_else(|| id.clone()),
            region: ctx.region.clone(),
            zone: zone_of_launch.clone(),
            instance_type: instance_type.clone(),
            reservation: reservation.clone(),
            launched_at: now,
        };
        write_instance(
            &mut x, &instance, &image, index, "pending", &tags, preference,
        );
        world.record_launch(instance);
        ctx.app
            .aws
            .set_instance_meta(&id, &image, &tags, preference);
    }
    x.close("instancesSet");
    Ok(x)
}

fn write_instance(
    x: &mut Xml,
    i: &Instance,
    image: &str,
    index: u32,
    state: &str,
    tags: &BTreeMap<String, String>,
    preference: &str,
) {
    let code = match state {
        "pending" => 0,
        "running" => 16,
        "shutting-down" => 32,
        _ => 48,
    };
    x.open("item")
        .leaf("instanceId", &i.id)
        .leaf("imageId", image)
        .open("instanceState")
        .leaf("code", code)
        .leaf("name", state)
        .close("instanceState")
        .leaf("amiLaunchIndex", index)
        .leaf("instanceType", &i.instance_type)
        .leaf("launchTime", time(i.launched_at))
        .open("placement")
        .leaf("availabilityZone", &i.zone)
        .leaf("tenancy", "default")
        .close("placement")
        .leaf("platformDetails", AMI_PLATFORM)
        .opt_leaf("capacityReservationId", i.reservation.as_deref())
        .open("capacityReservationSpecification");
    if i.reservation.is_some() && preference == "open" {
        x.leaf("capacityReservationPreference", "open");
    } else if i.reservation.is_some() {
        x.open("capacityReservationTarget")
            .opt_leaf("capacityReservationId", i.reservation.as_deref())
            .close("capacityReservationTarget");
    } else {
        x.leaf("capacityReservationPreference", preference);
    }
    x.close("capacityReservationSpecification").tag_set(tags);
    x.close("item");
}

fn instance_ids(ctx: &Ctx<'_>) -> Result<Vec<String>, Ec2Error> {
    let ids = ctx.params.list("InstanceId");
    for id in &ids {
        if !is_instance_id(id) {
            return Err(Ec2Error::bad(
                "InvalidInstanceID.Malformed",
                format!("Invalid id: \"{id}\""),
            ));
        }
        let known = ctx
            .app
            .world
            .instance(CLOUD, id)
            .is_some_and(|i| i.region == ctx.region);
        if !known {
            return Err(Ec2Error::bad(
                "InvalidInstanceID.NotFound",
                format!("The instance ID '{id}' does not exist"),
            ));
        }
    }
    Ok(ids)
}

pub(super) fn terminate(ctx: &Ctx<'_>) -> Result<Xml, Ec2Error> {
    let ids = instance_ids(ctx)?;
    if ids.is_empty() {
        return Err(Ec2Error::missing("InstanceId"));
    }
    ctx.params.dry_run()?;
    let mut x = Xml::default();
    x.open("instancesSet");
    for id in ids {
        ctx.app.world.record_termination(CLOUD, &id);
        x.open("item")
            .leaf("instanceId", &id)
            .open("currentState")
            .leaf("code", 32)
            .leaf("name", "shutting-down")
            .close("currentState")
            .open("previousState")
            .leaf("code", 16)
            .leaf("name", "running")
            .close("previousState")
            .close("item");
    }
    x.close("instancesSet");
    Ok(x)
}

pub(super) fn describe(ctx: &Ctx<'_>) -> Result<Xml, Ec2Error> {
    let ids = instance_ids(ctx)?;
    ctx.params.dry_run()?;
    let world = &ctx.app.world;
    let mut x = Xml::default();
    x.open("reservationSet");
    for i in world.instances(CLOUD) {
        if i.region != ctx.region || (!ids.is_empty() && !ids.contains(&i.id)) {
            continue;
        }
        let (image, tags, preference) = ctx.app.aws.instance_meta(&i.id);
        x.open("item")
            .leaf("reservationId", format!("r-{}", &i.id[2..]))
            .leaf("ownerId", &ctx.app.creds.aws.account_id)
            .open("groupSet")
            .close("groupSet")
            .open("instancesSet");
        write_instance(&mut x, &i, &image, 0, "running", &tags, &preference);
        x.close("instancesSet").close("item");
    }
    x.close("reservationSet");
    Ok(x)
}
