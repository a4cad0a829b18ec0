//! The planner: from [`Params`] to a [`CapacityPlan`] — enablement, regions, zone
//! candidates, the reservation window, tags, and the counting rules of
//! `docs/configuration.md` (which follow SCT's `capacity_reservation.py`).

use jiff::{SignedDuration, Timestamp};

use crate::cloud::Cloud;
use crate::config::value::split_gce_datacenter;
use crate::config::{GceReservationType, OciShape, Params};
use crate::error::{Error, Result};
use crate::plan::{CapacityPlan, Demand, DemandDetails, RegionPlan, Role};
use crate::tags::Tags;

/// The `db_type` values that bring an oracle cluster (SCT's gemini tests).
pub const MIXED_DB_TYPES: [&str; 2] = ["mixed_scylla", "mixed_cassandra"];

pub(crate) fn build(params: &Params, backend: Cloud, now: Timestamp) -> Result<CapacityPlan> {
    let disabled_reason = disabled_reason(params, backend);
    let enabled = disabled_reason.is_none();

    let duration_minutes = reservation_minutes(params);
    if enabled && duration_minutes == 0 {
        return Err(Error::config(
            params.source_of("test_duration"),
            "test_duration",
            params.display_raw("test_duration"),
            "test_duration + reservation_buffer_minutes of at least 1 minute",
        ));
    }
    // Bounded by MAX_RESERVATION_HOURS_LIMIT, so the cast and the addition cannot overflow
    // for any real clock.
    let end_time = now
        .checked_add(SignedDuration::from_mins(duration_minutes as i64))
        .map_err(|e| Error::Other(format!("reservation end time out of range: {e}")))?;
    // Clouds take whole seconds; truncating keeps the end within the cap.
    let end_time = Timestamp::from_second(end_time.as_second())
        .map_err(|e| Error::Other(format!("reservation end time out of range: {e}")))?;

    let counter = Counter::new(params, backend);
    if enabled {
        counter.check(params)?;
    }
    let mut regions = Vec::with_capacity(counter.regions.len());
    for (idx, spec) in counter.regions.iter().enumerate() {
        match region_plan(params, backend, &counter, idx, spec) {
            Ok(plan) => regions.push(plan),
            Err(e) if enabled => return Err(e),
            Err(e) => {
                // Disabled: nothing is reserved, but cancel and discover still need the
                // regions, so keep them and report the problem only once it matters.
                tracing::debug!(region = %spec.region, error = %e, "capacity plan incomplete (reservations disabled)");
                regions.push(RegionPlan {
                    region: spec.region.clone(),
                    zones: Vec::new(),
                    zone_fallback: true,
                    demands: Vec::new(),
                });
            }
        }
    }

    let test_name = params
        .raw_str("test_name")
        .or_else(|| params.user_prefix.clone());
    let tags = Tags::for_test(params.test_id.as_deref(), backend)
        .with_run_by_user(params.run_by_user.as_deref())
        .with_test_name(test_name.as_deref())
        .with_cost_tags(&params.cost_tags)
        .map_err(|key| {
            Error::config(
                params.source_of("cost_tags"),
                "cost_tags",
                key,
                "tag keys other than cr's own tags",
            )
        })?;

    Ok(CapacityPlan {
        backend,
        enabled,
        disabled_reason,
        test_id: params.test_id.clone(),
        end_time,
        duration_minutes,
        reuse_slack_minutes: params.reservation_buffer_minutes.min(duration_minutes),
        regions,
        tags,
    })
}

/// `test_duration + reservation_buffer_minutes`, capped at `max_reservation_hours`.
fn reservation_minutes(params: &Params) -> u64 {
    params
        .test_duration
        .saturating_add(params.reservation_buffer_minutes)
        .min(params.max_reservation_hours.saturating_mul(60))
}

/// The key switching reservations on for `cloud`, and its value.
fn flag(params: &Params, cloud: Cloud) -> (&'static str, bool) {
    match cloud {
        Cloud::Aws => ("use_capacity_reservation", params.use_capacity_reservation),
        Cloud::Gce => (
            "gce_use_capacity_reservation",
            params.gce_use_capacity_reservation,
        ),
        Cloud::Azure => (
            "azure_use_capacity_reservation",
            params.azure_use_capacity_reservation,
        ),
        Cloud::Oci => (
            "oci_use_capacity_reservation",
            params.oci_use_capacity_reservation,
        ),
    }
}

/// Every unmet condition, naming key, value and source; `None` when reservations are on.
fn disabled_reason(params: &Params, cloud: Cloud) -> Option<String> {
    let mut unmet = Vec::new();
    let (flag_key, on) = flag(params, cloud);
    if !on {
        unmet.push(format!(
            "`{flag_key}` is `{}` (from {}), must be true",
            params.display_raw(flag_key),
            params.source_of(flag_key)
        ));
    }
    if params.instance_provision != "on_demand" {
        unmet.push(format!(
            "`instance_provision` is `{}` (from {}), must be `on_demand`",
            params.instance_provision,
            params.source_of("instance_provision")
        ));
    }
    if params.test_id.is_none() {
        unmet.push(if params.raw.contains_key("test_id") {
            format!(
                "`test_id` is empty (from {}), must be the test's id",
                params.source_of("test_id")
            )
        } else {
            "`test_id` is not set by any file or SCT_TEST_ID, must be the test's id".to_string()
        });
    }
    if let Some(reuse) = &params.reuse_cluster {
        unmet.push(format!(
            "`reuse_cluster` is `{reuse}` (from {}), must be unset or false: a reused cluster already has its instances",
            params.source_of("reuse_cluster")
        ));
    }
    (!unmet.is_empty()).then(|| unmet.join("; "))
}

/// The configuration key holding `cloud`'s regions.
fn region_key(cloud: Cloud) -> &'static str {
    match cloud {
        Cloud::Aws => "region_name",
        Cloud::Gce => "gce_datacenter",
        Cloud::Azure => "azure_region_name",
        Cloud::Oci => "oci_region_name",
    }
}

/// One configured region, with the zone `gce_datacenter` named, if any.
#[derive(Debug)]
struct RegionSpec {
    region: String,
    zone: Option<String>,
}

fn region_specs(params: &Params, cloud: Cloud) -> Vec<RegionSpec> {
    let plain = |names: &[String]| {
        names
            .iter()
            .map(|r| RegionSpec {
                region: r.clone(),
                zone: None,
            })
            .collect()
    };
    match cloud {
        Cloud::Aws => plain(&params.region_name),
        Cloud::Azure => plain(&params.azure_region_name),
        Cloud::Oci => plain(&params.oci_region_name),
        Cloud::Gce => params
            .gce_datacenter
            .iter()
            .filter_map(|dc| split_gce_datacenter(dc))
            .map(|(region, zone)| RegionSpec { region, zone })
            .collect(),
    }
}

/// Per-region node counts (see "Counting rules" in docs/configuration.md).
struct Counter {
    cloud: Cloud,
    regions: Vec<RegionSpec>,
    /// `simulated_regions`: every data centre's nodes live in the first real region.
    simulated: bool,
}

impl Counter {
    fn new(params: &Params, cloud: Cloud) -> Self {
        Counter {
            cloud,
            regions: region_specs(params, cloud),
            simulated: params.simulated_regions > 0,
        }
    }

    /// A count list's entry for region `idx`: a single value (or a list shorter than the
    /// regions) leaves the remaining regions at 0, as SCT places an int count in the first
    /// data centre only.
    fn at(&self, list: &[u32], idx: usize) -> u32 {
        if self.simulated {
            return if idx == 0 {
                list.iter().fold(0u32, |a, b| a.saturating_add(*b))
            } else {
                0
            };
        }
        list.get(idx).copied().unwrap_or(0)
    }

    /// Regions exist, and no count list has more entries than there are regions.
    fn check(&self, params: &Params) -> Result<()> {
        let key = region_key(self.cloud);
        if self.regions.is_empty() {
            return Err(Error::config(
                params.source_of(key),
                key,
                params.display_raw(key),
                format!("at least one {} region", self.cloud),
            ));
        }
        let mut seen: Vec<&str> = Vec::new();
        for spec in &self.regions {
            if seen.contains(&spec.region.as_str()) {
                return Err(Error::config(
                    params.source_of(key),
                    key,
                    params.display_raw(key),
                    format!(
                        "each region once (`{}` is listed twice; one data centre per region)",
                        spec.region
                    ),
                ));
            }
            seen.push(&spec.region);
        }
        if self.simulated {
            return Ok(());
        }
        let mut lists: Vec<(&str, &[u32])> = vec![
            ("n_db_nodes", &params.n_db_nodes),
            ("n_loaders", &params.n_loaders),
            ("cluster_target_size", &params.cluster_target_size),
        ];
        if params.reserve_monitor_nodes {
            lists.push(("n_monitor_nodes", &params.n_monitor_nodes));
        }
        if params.use_zero_nodes {
            lists.push(("n_db_zero_token_nodes", &params.n_db_zero_token_nodes));
        }
        for (count_key, list) in lists {
            if list.len() > self.regions.len() {
                return Err(Error::config(
                    params.source_of(count_key),
                    count_key,
                    params.display_raw(count_key),
                    format!(
                        "at most {} entries, one per region of `{key}` ({})",
                        self.regions.len(),
                        self.regions
                            .iter()
                            .map(|r| r.region.as_str())
                            .collect::<Vec<_>>()
                            .join(" ")
                    ),
                ));
            }
        }
        Ok(())
    }

    /// How many nodes of each role region `idx` needs, in role order.
    fn roles(&self, params: &Params, idx: usize) -> Vec<(Role, u32)> {
        let n_db = self.at(&params.n_db_nodes, idx);
        let db = if params.cluster_target_size.iter().any(|n| *n > 0) {
            self.at(&params.cluster_target_size, idx)
        } else {
            n_db
        };
        let nemesis = if db > 0 {
            params.nemesis_add_node_cnt
        } else {
            0
        };
        let monitors = if params.reserve_monitor_nodes {
            self.at(&params.n_monitor_nodes, idx)
        } else {
            0
        };
        let zero = if params.use_zero_nodes {
            self.at(&params.n_db_zero_token_nodes, idx)
        } else {
            0
        };
        let target = if params.instance_type_db_target.is_some() {
            n_db
        } else {
            0
        };
        let oracle = if idx == 0 && MIXED_DB_TYPES.contains(&params.db_type.as_str()) {
            params.n_test_oracle_db_nodes
        } else {
            0
        };
        vec![
            (Role::Db, db),
            (Role::Loader, self.at(&params.n_loaders, idx)),
            (Role::Monitor, monitors),
            (Role::NemesisAdd, nemesis),
            (Role::ZeroToken, zero),
            (Role::DbTarget, target),
            (Role::Oracle, oracle),
        ]
    }
}

fn region_plan(
    params: &Params,
    cloud: Cloud,
    counter: &Counter,
    idx: usize,
    spec: &RegionSpec,
) -> Result<RegionPlan> {
    let (zones, zone_fallback) = zones(params, cloud, spec)?;
    let mut demands: Vec<Demand> = Vec::new();
    for (role, count) in counter.roles(params, idx) {
        if count == 0 {
            continue;
        }
        let (instance_type, details) = instance_type(params, cloud, role, count, &spec.region)?;
        match demands
            .iter_mut()
            .find(|d| d.instance_type == instance_type && d.details == details)
        {
            Some(d) => {
                d.count = d.count.checked_add(count).ok_or_else(|| {
                    Error::config(
                        params.source_of("n_db_nodes"),
                        "n_db_nodes",
                        params.display_raw("n_db_nodes"),
                        format!(
                            "node counts whose sum for instance type {instance_type} in region {} fits in 32 bits (the roles {:?} and {role:?} add up past {})",
                            spec.region,
                            d.roles,
                            u32::MAX
                        ),
                    )
                })?;
                if !d.roles.contains(&role) {
                    d.roles.push(role);
                }
            }
            None => demands.push(Demand {
                instance_type,
                count,
                roles: vec![role],
                details,
            }),
        }
    }
    Ok(RegionPlan {
        region: spec.region.clone(),
        zones,
        zone_fallback,
        demands,
    })
}

/// Zone candidates known offline (configured first, full names) and whether the engine may
/// fall back to the region's other zones.
fn zones(params: &Params, cloud: Cloud, spec: &RegionSpec) -> Result<(Vec<String>, bool)> {
    let letters = |key: &str, zones: &[String], expected: &str| -> Result<Vec<char>> {
        zones
            .iter()
            .map(|z| {
                let mut chars = z.chars();
                match (chars.next(), chars.next()) {
                    (Some(c), None) if c.is_ascii_lowercase() => Ok(c),
                    _ => Err(Error::config(
                        params.source_of(key),
                        key,
                        params.display_raw(key),
                        expected,
                    )),
                }
            })
            .collect()
    };
    let region = &spec.region;
    match cloud {
        Cloud::Aws => {
            let zones = letters(
                "availability_zone",
                &params.availability_zone,
                "AWS zone letters such as `a` or `a,b,c`",
            )?;
            Ok((zones.iter().map(|c| format!("{region}{c}")).collect(), true))
        }
        Cloud::Gce => {
            let fallback = params.gce_reservation_type == GceReservationType::Regional;
            // `gce_datacenter` naming a zone pins the test to it: instances launch there, so a
            // reservation in another zone would be paid for and unusable.
            if let Some(zone) = &spec.zone {
                return Ok((vec![zone.clone()], false));
            }
            let zones = letters(
                "availability_zone",
                &params.availability_zone,
                "GCE zone letters such as `b` or `b,c`",
            )?;
            if zones.is_empty() && !fallback {
                // Zonal means "only the zone I name": with none named there is nothing to try.
                return Err(Error::config(
                    params.source_of("gce_reservation_type"),
                    "gce_reservation_type",
                    params.display_raw("gce_reservation_type"),
                    format!(
                        "`regional` when no zone is named (gce_datacenter `{region}` is a region and \
                         availability_zone is not set): `zonal` reserves only in the zone given by \
                         gce_datacenter (e.g. `{region}-b`) or availability_zone (e.g. `b`)"
                    ),
                ));
            }
            Ok((
                zones.iter().map(|c| format!("{region}-{c}")).collect(),
                fallback,
            ))
        }
        Cloud::Azure => {
            let (key, zones) = if params.azure_reservation_zones.is_empty() {
                ("availability_zone", &params.availability_zone)
            } else {
                ("azure_reservation_zones", &params.azure_reservation_zones)
            };
            if zones.iter().all(|z| z.chars().all(|c| c.is_ascii_digit())) {
                Ok((zones.clone(), true))
            } else {
                Err(Error::config(
                    params.source_of(key),
                    key,
                    params.display_raw(key),
                    "Azure zone numbers such as `1` or `1,2,3`",
                ))
            }
        }
        Cloud::Oci => {
            if let Some(ad) = &params.oci_availability_domain {
                return Ok((vec![ad.clone()], true));
            }
            let expected = "OCI availability domain letters `a`, `b` or `c` (AD-1 to AD-3)";
            let zones = letters("availability_zone", &params.availability_zone, expected)?;
            zones
                .iter()
                .map(|c| match c {
                    'a'..='c' => Ok(format!("AD-{}", (*c as u8 - b'a') + 1)),
                    _ => Err(Error::config(
                        params.source_of("availability_zone"),
                        "availability_zone",
                        params.display_raw("availability_zone"),
                        expected,
                    )),
                })
                .collect::<Result<Vec<_>>>()
                .map(|z| (z, true))
        }
    }
}

/// The per-role instance-type keys of one cloud.
fn role_keys(cloud: Cloud) -> [&'static str; 3] {
    match cloud {
        Cloud::Aws => [
            "instance_type_db",
            "instance_type_loader",
            "instance_type_monitor",
        ],
        Cloud::Gce => [
            "gce_instance_type_db",
            "gce_instance_type_loader",
            "gce_instance_type_monitor",
        ],
        Cloud::Azure => [
            "azure_instance_type_db",
            "azure_instance_type_loader",
            "azure_instance_type_monitor",
        ],
        Cloud::Oci => [
            "oci_instance_type_db",
            "oci_instance_type_loader",
            "oci_instance_type_monitor",
        ],
    }
}

/// What a count of `role` nodes is called in messages.
fn describe(role: Role, count: u32) -> String {
    let what = match role {
        Role::Db => "db node(s) (n_db_nodes / cluster_target_size)",
        Role::Loader => "loader node(s) (n_loaders)",
        Role::Monitor => "monitor node(s) (n_monitor_nodes with reserve_monitor_nodes)",
        Role::NemesisAdd => "db node(s) a nemesis may add (nemesis_add_node_cnt)",
        Role::ZeroToken => "zero-token db node(s) (n_db_zero_token_nodes with use_zero_nodes)",
        Role::DbTarget => "target db node(s) (instance_type_db_target with n_db_nodes)",
        Role::Oracle => "oracle db node(s) (n_test_oracle_db_nodes with a mixed db_type)",
    };
    format!("{count} {what}")
}

/// The instance type (and sizing details) of `role` on `cloud`, or a configuration error
/// naming the key that should hold it.
fn instance_type(
    params: &Params,
    cloud: Cloud,
    role: Role,
    count: u32,
    region: &str,
) -> Result<(String, DemandDetails)> {
    let missing = |key: &str| {
        Error::config(
            params.source_of(key),
            key,
            params.display_raw(key),
            format!(
                "an instance type for {cloud}: {} in region {region} need one",
                describe(role, count)
            ),
        )
    };
    let [db_key, loader_key, monitor_key] = role_keys(cloud);
    // Db-like nodes all get the db nodes' local SSDs on GCE.
    let gce_ssds = |i: usize| DemandDetails {
        local_ssds: params.gce_local_ssds[i],
        ..DemandDetails::default()
    };
    let base = |i: usize, key: &str| -> Result<(String, DemandDetails)> {
        let found = match cloud {
            Cloud::Aws => {
                pick(&params.aws_instance_types, i).map(|t| (t, DemandDetails::default()))
            }
            Cloud::Gce => pick(&params.gce_instance_types, i).map(|t| (t, gce_ssds(i))),
            Cloud::Azure => {
                pick(&params.azure_instance_types, i).map(|t| (t, DemandDetails::default()))
            }
            Cloud::Oci => params.oci_instance_types[i].as_ref().map(oci_demand),
        };
        found.ok_or_else(|| missing(key))
    };
    // Cloud-agnostic keys naming a type for db-like nodes.
    let generic = |key: &str, value: Option<String>| -> Result<Option<(String, DemandDetails)>> {
        let Some(value) = value else {
            return Ok(None);
        };
        Ok(Some(match cloud {
            Cloud::Aws | Cloud::Azure => (value, DemandDetails::default()),
            Cloud::Gce => (value, gce_ssds(0)),
            Cloud::Oci => {
                let shape = value.parse::<OciShape>().map_err(|expected| {
                    Error::config(params.source_of(key), key, value.clone(), expected)
                })?;
                oci_demand(&shape)
            }
        }))
    };
    match role {
        Role::Db => base(0, db_key),
        Role::Loader => base(1, loader_key),
        Role::Monitor => base(2, monitor_key),
        Role::NemesisAdd => match generic(
            "nemesis_grow_shrink_instance_type",
            params.nemesis_grow_shrink_instance_type.clone(),
        )? {
            Some(t) => Ok(t),
            None => base(0, db_key),
        },
        Role::ZeroToken => match generic(
            "zero_token_instance_type_db",
            params.zero_token_instance_type_db.clone(),
        )? {
            Some(t) => Ok(t),
            None => base(0, db_key),
        },
        Role::DbTarget => generic(
            "instance_type_db_target",
            params.instance_type_db_target.clone(),
        )?
        .ok_or_else(|| missing("instance_type_db_target")),
        Role::Oracle => {
            let key = oracle_key(cloud);
            let value = match cloud {
                Cloud::Aws => params.instance_type_db_oracle.clone(),
                _ => params.raw_str(key),
            };
            generic(key, value)?.ok_or_else(|| missing(key))
        }
    }
}

/// The key of the oracle cluster's instance type on `cloud`.
fn oracle_key(cloud: Cloud) -> &'static str {
    match cloud {
        Cloud::Aws => "instance_type_db_oracle",
        Cloud::Gce => "gce_instance_type_db_oracle",
        Cloud::Azure => "azure_instance_type_db_oracle",
        Cloud::Oci => "oci_instance_type_db_oracle",
    }
}

fn pick(types: &crate::config::InstanceTypes, i: usize) -> Option<String> {
    match i {
        0 => types.db.clone(),
        1 => types.loader.clone(),
        _ => types.monitor.clone(),
    }
}

fn oci_demand(shape: &OciShape) -> (String, DemandDetails) {
    (
        shape.shape.clone(),
        DemandDetails {
            local_ssds: 0,
            ocpus: shape.ocpus,
            memory_gb: shape.memory_gb,
            nvmes: shape.nvmes,
        },
    )
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    fn plan(vars: &[(&str, &str)]) -> Result<CapacityPlan> {
        let mut env: BTreeMap<String, String> = [
            ("SCT_CLUSTER_BACKEND", "aws"),
            ("SCT_TEST_ID", "t-1"),
            ("SCT_INSTANCE_PROVISION", "on_demand"),
            ("SCT_USE_CAPACITY_RESERVATION", "true"),
            ("SCT_INSTANCE_TYPE_DB", "i4i.large"),
            ("SCT_INSTANCE_TYPE_LOADER", "c6i.xlarge"),
            ("SCT_N_LOADERS", "0"),
            ("SCT_N_MONITOR_NODES", "0"),
            ("SCT_TEST_DURATION", "60"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        for (k, v) in vars {
            env.insert(k.to_string(), v.to_string());
        }
        let params = Params::load(&[], &env)?;
        build(
            &params,
            Cloud::Aws,
            Timestamp::from_second(1_900_000_000).unwrap(),
        )
    }

    #[test]
    fn a_region_listed_twice_is_rejected() {
        let err = plan(&[
            ("SCT_REGION_NAME", "us-east-1 eu-west-1 us-east-1"),
            ("SCT_N_DB_NODES", "1 1 1"),
        ])
        .unwrap_err();
        assert_eq!(err.kind(), crate::ErrorKind::InvalidConfig);
        let text = err.to_string();
        assert!(text.contains("region_name"), "{text}");
        assert!(text.contains("`us-east-1` is listed twice"), "{text}");
        assert!(
            plan(&[
                ("SCT_REGION_NAME", "us-east-1 eu-west-1"),
                ("SCT_N_DB_NODES", "1 1")
            ])
            .is_ok()
        );
    }

    #[test]
    fn count_sums_do_not_overflow() {
        // The db and loader roles share the type: 4294967295 + 5 does not fit in 32 bits.
        let err = plan(&[
            ("SCT_REGION_NAME", "us-east-1"),
            ("SCT_N_DB_NODES", "4294967295"),
            ("SCT_N_LOADERS", "5"),
            ("SCT_INSTANCE_TYPE_LOADER", "i4i.large"),
        ])
        .unwrap_err();
        assert_eq!(err.kind(), crate::ErrorKind::InvalidConfig, "{err}");
        assert!(err.to_string().contains("32 bits"), "{err}");
    }

    #[test]
    fn a_gce_datacenter_naming_a_zone_pins_the_reservation_to_it() {
        let mut env: BTreeMap<String, String> = [
            ("SCT_CLUSTER_BACKEND", "gce"),
            ("SCT_TEST_ID", "t-1"),
            ("SCT_INSTANCE_PROVISION", "on_demand"),
            ("SCT_GCE_USE_CAPACITY_RESERVATION", "true"),
            ("SCT_GCE_INSTANCE_TYPE_DB", "n2-highmem-16"),
            ("SCT_N_DB_NODES", "3"),
            ("SCT_N_LOADERS", "0"),
            ("SCT_N_MONITOR_NODES", "0"),
            ("SCT_TEST_DURATION", "60"),
            ("SCT_GCE_RESERVATION_TYPE", "regional"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let at = Timestamp::from_second(1_900_000_000).unwrap();
        env.insert("SCT_GCE_DATACENTER".into(), "us-east1-c".into());
        let plan = build(&Params::load(&[], &env).unwrap(), Cloud::Gce, at).unwrap();
        assert_eq!(plan.regions[0].zones, ["us-east1-c"]);
        assert!(
            !plan.regions[0].zone_fallback,
            "a pinned zone is never left"
        );
        env.insert("SCT_GCE_DATACENTER".into(), "us-east1".into());
        let plan = build(&Params::load(&[], &env).unwrap(), Cloud::Gce, at).unwrap();
        assert!(
            plan.regions[0].zone_fallback,
            "a regional datacenter may fall back"
        );
    }
}
