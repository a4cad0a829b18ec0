//! The benchmark harness (`cargo xtask bench`, docs/BENCHMARKS.md): wall times of the engine
//! against the in-process emulator with a fixed latency `L` per call and a long-running
//! operation time `T`, each as a ratio to `L` (and `T`), beside a sequential baseline measured
//! in the same run on the same emulator — one call at a time, a fixed pause between polls, no
//! idempotency, SDK-style retries: what the reference user's tool does today. Ratios measured
//! in one run stay stable on a noisy 2-core machine, where absolute times would not; nothing
//! here is a timed test (each figure is reported beside its target, never asserted).
//!
//! Written once over [`ContractTarget`], run for every backend ([`crate::bench!`]).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Arc;
use std::time::{Duration, Instant};

use cr_core::adapter::{CloudAdapter, CreateRequest, Readiness, RegionRequest};
use cr_core::engine::{Engine, WaitPolicy};
use cr_core::error::ErrorKind;
use cr_core::model::Reservation;
use cr_core::plan::{CapacityPlan, Demand, RegionPlan};
use cr_core::retry::RetryPolicy;
use cr_core::{Cloud, Error};
use cr_emulator::scenario::Latency;
use cr_emulator::{EmulatorHandle, Fault, FaultKind, Scenario};

use crate::{ContractTarget, Credentials, Fixture, TestConfig, base_scenario, cloud_kind};

/// The emulator's latency per call.
pub const L: Duration = Duration::from_millis(100);
/// The emulator's long-running-operation time.
pub const T: Duration = Duration::from_millis(1000);
/// The sequential baseline's fixed pause between polls of a pending reservation.
pub const BASELINE_POLL: Duration = Duration::from_secs(1);

/// One measured figure.
#[derive(Debug, Clone)]
pub struct Row {
    /// What was measured.
    pub what: String,
    /// cr's wall time.
    pub cr: Duration,
    /// The sequential baseline's, when there is one.
    pub baseline: Option<Duration>,
    /// The target, in words (`≤ 1.3 × (L + T) + discovery`).
    pub target: String,
    /// Whether cr met the target.
    pub met: bool,
    /// API calls and other counts.
    pub notes: String,
}

/// In units of `L`.
fn in_l(d: Duration) -> f64 {
    d.as_secs_f64() / L.as_secs_f64()
}

/// The bench's scenario: `L` on every call, `T` for every long-running operation (also on
/// clouds that answer at once by default), ample capacity.
fn scenario(t: &dyn ContractTarget) -> Scenario {
    let mut s = t.scenario(base_scenario());
    s.latency = Latency {
        fixed_ms: L.as_millis() as u64,
        ..Latency::default()
    };
    s.lro_ms = T.as_millis() as u64;
    for cloud in [
        &mut s.clouds.aws,
        &mut s.clouds.gce,
        &mut s.clouds.azure,
        &mut s.clouds.oci,
    ] {
        cloud.lro_ms = Some(T.as_millis() as u64);
    }
    s
}

/// Eight instance types of the cloud that its emulator offers everywhere.
fn types(cloud: Cloud) -> [&'static str; 8] {
    match cloud {
        Cloud::Aws => [
            "i4i.large",
            "c6i.xlarge",
            "c5.large",
            "m5.large",
            "r5.large",
            "m6i.large",
            "c6i.large",
            "i3.large",
        ],
        Cloud::Gce => [
            "n2-highmem-16",
            "e2-standard-4",
            "n2-standard-8",
            "n2-highmem-8",
            "c2-standard-8",
            "n2d-standard-8",
            "e2-standard-8",
            "n1-standard-8",
        ],
        Cloud::Azure => [
            "Standard_L8s_v3",
            "Standard_F4s_v2",
            "Standard_D4s_v5",
            "Standard_D8s_v5",
            "Standard_E4s_v5",
            "Standard_E8s_v5",
            "Standard_D2s_v5",
            "Standard_D16s_v5",
        ],
        Cloud::Oci => [
            "VM.DenseIO.E5.Flex",
            "VM.Standard.E5.Flex",
            "VM.Standard.E4.Flex",
            "VM.Standard.E3.Flex",
            "VM.Standard3.Flex",
            "VM.Optimized3.Flex",
            "VM.Standard.A1.Flex",
            "VM.DenseIO.E4.Flex",
        ],
    }
}

/// The fixture's plan with `n` demands of distinct types (sized like the plan's first demand
/// for the first and dense types, like its last for the others) in `regions` of the layout,
/// pinned to each region's first zone unless `fallback`.
pub(crate) fn plan_with(
    fx: &Fixture,
    cloud: Cloud,
    n: usize,
    regions: &[usize],
    fallback: bool,
) -> CapacityPlan {
    let mut plan = fx.plan.clone();
    let template = plan.regions[0].clone();
    let first = template
        .demands
        .first()
        .expect("the plan demands a type")
        .clone();
    let last = template
        .demands
        .last()
        .expect("the plan demands a type")
        .clone();
    let demands: Vec<Demand> = types(cloud)
        .iter()
        .take(n)
        .map(|ty| {
            let like = if ty.contains("DenseIO") || *ty == first.instance_type {
                &first
            } else {
                &last
            };
            Demand {
                instance_type: (*ty).to_string(),
                count: 2,
                ..like.clone()
            }
        })
        .collect();
    plan.regions = regions
        .iter()
        .map(|&i| {
            let layout = &fx.layout.regions[i];
            RegionPlan {
                region: layout.region.clone(),
                zones: vec![layout.zones[0].clone()],
                zone_fallback: fallback,
                demands: demands.clone(),
            }
        })
        .collect();
    plan
}

/// The engine as users get it: default retry and wait policies.
fn engine(adapter: Arc<dyn CloudAdapter>) -> Engine {
    Engine::new(adapter, RetryPolicy::default()).with_wait(WaitPolicy::default())
}

/// Calls of `operation` (or of every operation when empty) the emulator answered since
/// `from` requests.
fn calls(emulator: &EmulatorHandle, cloud: Cloud, from: usize, operation: &str) -> usize {
    let kind = cloud_kind(cloud);
    emulator.requests()[from..]
        .iter()
        .filter(|r| r.cloud == Some(kind) && (operation.is_empty() || r.operation == operation))
        .count()
}

/// What one sequential-baseline call does on a throttle or 5xx: botocore's standard retry
/// mode — up to 3 attempts, a pause of `rand(0, 1) × 2^attempt` seconds (capped at 20 s).
async fn sdk_retry<T, F, Fut>(mut call: F, rng: &mut u64) -> cr_core::Result<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = cr_core::Result<T>>,
{
    let mut attempt = 0u32;
    loop {
        match call().await {
            Err(e)
                if attempt < 2
                    && matches!(e.kind(), ErrorKind::Throttled | ErrorKind::Transient) =>
            {
                *rng = rng
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                let unit = (*rng >> 11) as f64 / (1u64 << 53) as f64;
                let pause = (unit * 2f64.powi(attempt as i32)).min(20.0);
                tokio::time::sleep(Duration::from_secs_f64(pause)).await;
                attempt += 1;
            }
            other => return other,
        }
    }
}

/// The sequential baseline: per region, one zone listing, then zone by zone each type created
/// and waited for in turn (a fixed pause between polls), a zone that cannot hold a type rolled
/// back one cancel at a time. No look for an earlier set, no idempotency token reuse across
/// zones. Returns what it holds (all of it, or nothing after a failure it rolled back).
async fn sequential(
    adapter: &dyn CloudAdapter,
    plan: &CapacityPlan,
    seed: u64,
) -> cr_core::Result<Vec<Reservation>> {
    let mut rng = seed;
    let test_id = plan.test_id.clone().unwrap_or_default();
    let mut held = Vec::new();
    for rp in &plan.regions {
        let types: Vec<String> = rp.demands.iter().map(|d| d.instance_type.clone()).collect();
        let offered = sdk_retry(|| adapter.zones(&rp.region, &types), &mut rng).await?;
        let mut zones = rp.zones.clone();
        if rp.zone_fallback {
            zones.extend(offered.iter().filter(|z| !rp.zones.contains(z)).cloned());
        }
        let handle = adapter
            .prepare_region(&RegionRequest {
                test_id: test_id.clone(),
                region: rp.region.clone(),
                zones: zones.clone(),
                demands: rp.demands.clone(),
                end_time: plan.end_time,
                tags: plan.tags.clone(),
            })
            .await?;
        let mut done = false;
        for (z, zone) in zones.iter().enumerate() {
            let mut made = Vec::new();
            let mut failed = None;
            for d in &rp.demands {
                let request = CreateRequest {
                    test_id: test_id.clone(),
                    region: rp.region.clone(),
                    zone: zone.clone(),
                    demand: d.clone(),
                    end_time: plan.end_time,
                    tags: plan.tags.clone(),
                    // Not the engine's tokens: the baseline runs after it on the same emulator.
                    attempt: 1000 + z as u32,
                    region_handle: handle.clone(),
                };
                match sdk_retry(|| adapter.create(&request), &mut rng).await {
                    Ok(r) => match wait(adapter, r).await {
                        Ok(r) => made.push(r),
                        Err(e) => {
                            failed = Some(e);
                            break;
                        }
                    },
                    Err(e) => {
                        failed = Some(e);
                        break;
                    }
                }
            }
            match failed {
                None => {
                    held.extend(made);
                    done = true;
                    break;
                }
                Some(e) => {
                    for r in made {
                        sdk_retry(|| adapter.cancel(&r), &mut rng).await?;
                    }
                    if !e.kind().is_zone_fallback() {
                        return Err(e);
                    }
                }
            }
        }
        if !done {
            for r in held {
                sdk_retry(|| adapter.cancel(&r), &mut rng).await?;
            }
            return Err(Error::Other(format!(
                "the baseline found no zone in {}",
                rp.region
            )));
        }
    }
    Ok(held)
}

/// Polls a pending reservation with the baseline's fixed pause until usable.
async fn wait(adapter: &dyn CloudAdapter, r: Reservation) -> cr_core::Result<Reservation> {
    if r.state == cr_core::model::ReservationState::Active {
        return Ok(r);
    }
    loop {
        tokio::time::sleep(BASELINE_POLL).await;
        match adapter.poll(&r).await? {
            Readiness::Ready(r) => return Ok(r),
            Readiness::Pending { .. } => {}
            Readiness::Failed(e) => return Err(e),
        }
    }
}

/// Cancels one at a time (the baseline's cancel).
async fn sequential_cancel(adapter: &dyn CloudAdapter, held: &[Reservation]) {
    for r in held {
        adapter
            .cancel(r)
            .await
            .unwrap_or_else(|e| panic!("the baseline's cancel of {} failed: {e}", r.id));
    }
}

/// A fresh emulator and adapter for one measurement.
async fn start(
    t: &dyn ContractTarget,
    scenario: Scenario,
    id: &str,
) -> (Fixture, Arc<dyn CloudAdapter>) {
    let fx = Fixture::start(t, scenario, TestConfig::single(id)).await;
    let adapter = t
        .adapter(&fx.emulator, &fx.params, Credentials::Valid)
        .await
        .unwrap_or_else(|e| panic!("building the adapter: {e}"));
    (fx, adapter)
}

async fn timed<T>(f: impl std::future::Future<Output = T>) -> (T, Duration) {
    let started = Instant::now();
    let out = f.await;
    (out, started.elapsed())
}

/// Every figure for `t` (with `CR_BENCH_ONLY=fifty`, only [`fifty`]'s).
pub async fn run(t: &dyn ContractTarget) -> Vec<Row> {
    if std::env::var("CR_BENCH_ONLY").as_deref() == Ok("fifty") {
        return vec![fifty(t).await];
    }
    let cloud = t.cloud();
    let mut rows = Vec::new();

    // 1. N types in one zone, returned once every reservation is usable; then its cancel.
    for n in [1usize, 2, 4, 8] {
        let (fx, adapter) = start(t, scenario(t), &format!("bench-types-{n}")).await;
        let plan = plan_with(&fx, cloud, n, &[0], false);
        let before = fx.emulator.requests().len();
        let (set, took) = timed(engine(adapter.clone()).reserve(&plan)).await;
        let set = set.unwrap_or_else(|e| panic!("reserve of {n} types: {e}"));
        let creates = calls(&fx.emulator, cloud, before, t.create_operation());
        let all = calls(&fx.emulator, cloud, before, "");
        let (cancelled, cancel_took) = timed(engine(adapter.clone()).cancel(&plan)).await;
        assert!(cancelled.expect("cancel").is_complete());
        let (held, baseline) = timed(sequential(adapter.as_ref(), &plan, n as u64)).await;
        let held = held.unwrap_or_else(|e| panic!("the baseline's reserve of {n} types: {e}"));
        let (_, baseline_cancel) = timed(sequential_cancel(adapter.as_ref(), &held)).await;
        // Discovery: one round of concurrent look-ups before the first create.
        let budget = (L + T).mul_f64(1.3) + L;
        rows.push(Row {
            what: format!("reserve {n} type(s) in one zone, usable"),
            cr: took,
            baseline: Some(baseline),
            target: "≤ 1.3 × (L + T) + discovery (L)".into(),
            met: took <= budget,
            notes: format!(
                "{creates} creates, {all} calls; {} reservations",
                set.reservations().count()
            ),
        });
        rows.push(Row {
            what: format!("cancel {n} reservation(s)"),
            cr: cancel_took,
            baseline: Some(baseline_cancel),
            target: "≤ 3 × L".into(),
            met: cancel_took <= L * 3,
            notes: String::new(),
        });
    }

    // 2. Fallback past two stocked-out zones (the configured one and the next), 2 types.
    {
        let mut s = scenario(t);
        let layout = t.layout();
        let first = &layout.regions[0];
        for zone in &first.zones[..2] {
            for ty in &types(cloud)[..2] {
                crate::set_capacity(&mut s, cloud, &first.region, zone, ty, 0);
            }
        }
        let (fx, adapter) = start(t, s, "bench-fallback").await;
        let plan = plan_with(&fx, cloud, 2, &[0], true);
        let before = fx.emulator.requests().len();
        let (set, took) = timed(engine(adapter.clone()).reserve(&plan)).await;
        let set = set.unwrap_or_else(|e| panic!("reserve past two stocked-out zones: {e}"));
        let creates = calls(&fx.emulator, cloud, before, t.create_operation());
        let all = calls(&fx.emulator, cloud, before, "");
        expect_zone(&set, &first.zones[2]);
        engine(adapter.clone()).cancel(&plan).await.expect("cancel");
        let (held, baseline) = timed(sequential(adapter.as_ref(), &plan, 2)).await;
        sequential_cancel(adapter.as_ref(), &held.expect("the baseline's fallback")).await;
        rows.push(Row {
            what: "reserve 2 types past 2 stocked-out zones".into(),
            cr: took,
            baseline: Some(baseline),
            target: "≤ 5 × L + T".into(),
            met: took <= L * 5 + T,
            notes: format!("{creates} creates over 3 zones, {all} calls"),
        });
    }

    // 2b. Waste: a zone out of one of two types — creates made and rolled back there.
    {
        let mut s = scenario(t);
        let layout = t.layout();
        let first = &layout.regions[0];
        crate::set_capacity(
            &mut s,
            cloud,
            &first.region,
            &first.zones[0],
            types(cloud)[1],
            0,
        );
        let (fx, adapter) = start(t, s, "bench-waste").await;
        let plan = plan_with(&fx, cloud, 2, &[0], true);
        let before = fx.emulator.requests().len();
        let (set, took) = timed(engine(adapter.clone()).reserve(&plan)).await;
        set.unwrap_or_else(|e| panic!("reserve past a partly stocked-out zone: {e}"));
        let kind = cloud_kind(cloud);
        let wasted = fx
            .emulator
            .state()
            .reservations
            .iter()
            // The stocked-out type's own create held nothing (on Azure its PUT is accepted and
            // fails in its operation, which the audit records too).
            .filter(|r| {
                r.cloud == kind && r.zone == first.zones[0] && r.instance_type != types(cloud)[1]
            })
            .count();
        let creates = calls(&fx.emulator, cloud, before, t.create_operation());
        engine(adapter.clone()).cancel(&plan).await.expect("cancel");
        rows.push(Row {
            what: "reserve 2 types, the first zone out of one".into(),
            cr: took,
            baseline: None,
            target: "≤ 1 create made and rolled back per zone tried".into(),
            met: wasted <= 1,
            notes: format!("{wasted} made and rolled back in the first zone; {creates} creates"),
        });
    }

    // 3. Three regions against one.
    {
        let (fx, adapter) = start(t, scenario(t), "bench-regions").await;
        let one = plan_with(&fx, cloud, 2, &[0], false);
        let three = plan_with(&fx, cloud, 2, &[0, 1, 2], false);
        let (r, single) = timed(engine(adapter.clone()).reserve(&one)).await;
        r.expect("one region");
        engine(adapter.clone()).cancel(&one).await.expect("cancel");
        let (r, triple) = timed(engine(adapter.clone()).reserve(&three)).await;
        r.expect("three regions");
        let (c, cancel_three) = timed(engine(adapter.clone()).cancel(&three)).await;
        assert!(c.expect("cancel").is_complete());
        let (held, baseline) = timed(sequential(adapter.as_ref(), &three, 3)).await;
        sequential_cancel(
            adapter.as_ref(),
            &held.expect("the baseline's three regions"),
        )
        .await;
        rows.push(Row {
            what: "reserve 2 types in 3 regions".into(),
            cr: triple,
            baseline: Some(baseline),
            target: format!("≤ 1.3 × one region ({:.1} L)", in_l(single)),
            met: triple <= single.mul_f64(1.3),
            notes: String::new(),
        });
        rows.push(Row {
            what: "cancel 3 regions × 2 reservations".into(),
            cr: cancel_three,
            baseline: None,
            target: "≤ 3 × L".into(),
            met: cancel_three <= L * 3,
            notes: String::new(),
        });
    }

    // 4. cancel_all_regions over every default region, 100 reservations spread.
    rows.push(cancel_all(t).await);

    // 6. 20 % throttling on creates, 10 seeds: cr against the baseline with SDK retries.
    {
        let mut cr_total = Duration::ZERO;
        let mut baseline_total = Duration::ZERO;
        let mut doubled = 0usize;
        for seed in 1..=10u64 {
            let mut s = scenario(t);
            s.seed = seed;
            s.faults.push(Fault {
                cloud: cloud_kind(cloud),
                operation: t.create_operation().to_string(),
                kind: FaultKind::Throttle,
                rate: 0.2,
                limit: None,
                garbage: None,
            });
            let (fx, adapter) = start(t, s, &format!("bench-throttle-{seed}")).await;
            let plan = plan_with(&fx, cloud, 4, &[0], false);
            let (set, took) = timed(engine(adapter.clone()).reserve(&plan)).await;
            let set = set.unwrap_or_else(|e| panic!("reserve under throttling (seed {seed}): {e}"));
            let live = fx.live(cloud).len();
            if live != set.reservations().count() {
                doubled += 1;
            }
            engine(adapter.clone()).cancel(&plan).await.expect("cancel");
            let (held, baseline) = timed(sequential(adapter.as_ref(), &plan, seed)).await;
            if let Ok(held) = held {
                sequential_cancel(adapter.as_ref(), &held).await;
            }
            cr_total += took;
            baseline_total += baseline;
        }
        rows.push(Row {
            what: "reserve 4 types, 20 % of creates throttled (mean of 10 seeds)".into(),
            cr: cr_total / 10,
            baseline: Some(baseline_total / 10),
            target: "≤ 0.7 × the baseline with SDK retries, no doubled reservation".into(),
            met: cr_total.as_secs_f64() <= 0.7 * baseline_total.as_secs_f64() && doubled == 0,
            notes: format!("{doubled} seeds with a doubled reservation"),
        });
    }
    rows.push(fifty(t).await);
    rows
}

/// 50 engines in this process, 6 types each, started together under the cloud's `realistic`
/// rate limits ([`crate::many`]), with the bench's `L` and `T` and the engine as users get it.
/// The target: ≤ 1.2 × the physical limit of the buckets for the calls made (or of one
/// reserve's own budget, 1.3 × (L + T) + L, where the buckets would allow more).
pub async fn fifty(t: &dyn ContractTarget) -> Row {
    use cr_emulator::ratelimit::{Preset, RateLimit};
    let out = crate::many::run(
        t,
        scenario(t),
        RateLimit::Preset(Preset::Realistic),
        50,
        RetryPolicy::default(),
        WaitPolicy::default(),
        "bench-fifty",
    )
    .await;
    let limit = out.limit();
    let ok = out.failed.is_empty()
        && out.live_after_reserve == out.reserved
        && out.live_after_cancel == 0;
    Row {
        what: format!(
            "{} engines × {} types at once, realistic rate limits",
            out.engines,
            crate::many::TYPES
        ),
        cr: out.took,
        baseline: None,
        target: format!(
            "≤ 1.2 × the buckets' limit ({:.1} s: writes {:.1} s, reads {:.1} s)",
            limit.as_secs_f64(),
            out.bound.0.as_secs_f64(),
            out.bound.1.as_secs_f64()
        ),
        // Under the buckets' limit, one reserve's own time is the floor.
        met: ok && out.took <= limit.max((L + T).mul_f64(1.3) + L).mul_f64(1.2),
        notes: format!(
            "{} reservations, {} engines failed{}; {} live after reserve, {} after cancel; \
             {} creates ({:.2} retries per create); admitted {} writes, {} reads; \
             throttled {} writes, {} reads",
            out.reserved,
            out.failed.len(),
            out.failed
                .first()
                .map(|f| format!(" (first: {f})"))
                .unwrap_or_default(),
            out.live_after_reserve,
            out.live_after_cancel,
            out.create_calls,
            out.retries_per_create(),
            out.admitted.0,
            out.admitted.1,
            out.throttled.0,
            out.throttled.1
        ),
    }
}

fn expect_zone(set: &cr_core::ReservationSet, zone: &str) {
    assert_eq!(
        set.regions[0].zone.as_deref(),
        Some(zone),
        "the set lands in the zone with capacity"
    );
}

/// 100 reservations over every default region of the cloud (made through the adapter, zone by
/// zone and type by type), then one `cancel_all_regions`.
async fn cancel_all(t: &dyn ContractTarget) -> Row {
    let cloud = t.cloud();
    let (fx, adapter) = start(t, scenario(t), "bench-cancel-all").await;
    let mut regions = fx.emulator.world().regions(cloud_kind(cloud));
    // EC2 opt-in regions the account has not enabled refuse every create (OptInRequired).
    regions.retain(|r| !r.opt_in_disabled);
    let template = plan_with(&fx, cloud, 8, &[0], false);
    let test_id = template.test_id.clone().unwrap_or_default();
    let mut slots = Vec::new();
    'fill: for round in 0.. {
        let mut added = false;
        for region in &regions {
            let (z, ty) = (
                round % region.zones.len().max(1),
                round / region.zones.len().max(1),
            );
            if region.zones.is_empty() || ty >= 8 {
                continue;
            }
            slots.push((region.name.clone(), region.zones[z].clone(), ty));
            added = true;
            if slots.len() == 100 {
                break 'fill;
            }
        }
        if !added {
            break;
        }
    }
    let mut by_region: BTreeMap<String, Vec<(String, usize)>> = BTreeMap::new();
    for (region, zone, ty) in &slots {
        by_region
            .entry(region.clone())
            .or_default()
            .push((zone.clone(), *ty));
    }
    let demands = &template.regions[0].demands;
    let test_id = &test_id;
    let made = futures::future::join_all(by_region.iter().map(|(region, wanted)| {
        let adapter = adapter.clone();
        let template = &template;
        async move {
            let mut zones: Vec<String> = wanted.iter().map(|(z, _)| z.clone()).collect();
            zones.dedup();
            let handle = adapter
                .prepare_region(&RegionRequest {
                    test_id: test_id.clone(),
                    region: region.clone(),
                    zones,
                    demands: demands.clone(),
                    end_time: template.end_time,
                    tags: template.tags.clone(),
                })
                .await
                .unwrap_or_else(|e| panic!("prepare {region}: {e}"));
            for (zone, ty) in wanted {
                let request = CreateRequest {
                    test_id: test_id.clone(),
                    region: region.clone(),
                    zone: zone.clone(),
                    demand: demands[*ty].clone(),
                    end_time: template.end_time,
                    tags: template.tags.clone(),
                    attempt: 0,
                    region_handle: handle.clone(),
                };
                adapter
                    .create(&request)
                    .await
                    .unwrap_or_else(|e| panic!("create in {zone}: {e}"));
            }
        }
    }))
    .await;
    drop(made);
    // Let every create finish before cancelling (cancel of a pending one would wait for it).
    tokio::time::sleep(T + L * 2).await;
    let total = slots.len();
    let before = fx.emulator.requests().len();
    let (report, took) = timed(engine(adapter.clone()).cancel_all_regions(test_id)).await;
    let report = report.expect("cancel_all_regions");
    let calls_made = calls(&fx.emulator, cloud, before, "");
    let live = fx.live(cloud).len();
    let gce = cloud == Cloud::Gce;
    Row {
        what: format!(
            "cancel_all_regions: {total} reservations over {} regions",
            by_region.len()
        ),
        cr: took,
        baseline: None,
        target: if gce {
            "≤ 2 × L (aggregated list)"
        } else {
            "≤ 3 × L"
        }
        .into(),
        met: took <= L * if gce { 2 } else { 3 } && live == 0,
        notes: format!(
            "{} cancelled, {} failed, {live} left; {calls_made} calls",
            report.cancelled.len(),
            report.failed.len()
        ),
    }
}

/// The rows as a Markdown table, each time also in units of `L`.
pub fn markdown(cloud: Cloud, rows: &[Row]) -> String {
    let mut out = format!(
        "### {cloud}\n\n| measured | cr | baseline | target | met | notes |\n|---|---|---|---|---|---|\n"
    );
    for r in rows {
        let baseline = r
            .baseline
            .map(|b| format!("{:.2} s ({:.1} L)", b.as_secs_f64(), in_l(b)))
            .unwrap_or_else(|| "—".into());
        let _ = writeln!(
            out,
            "| {} | {:.2} s ({:.1} L) | {baseline} | {} | {} | {} |",
            r.what,
            r.cr.as_secs_f64(),
            in_l(r.cr),
            r.target,
            if r.met { "yes" } else { "**no**" },
            r.notes
        );
    }
    out
}

/// The harness against `$target` as one ignored `#[tokio::test]` named `bench` (run by
/// `cargo xtask bench`): prints the table and writes it to `target/bench/<cloud>.md`.
#[macro_export]
macro_rules! bench {
    ($target:expr) => {
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        #[ignore = "a benchmark: cargo xtask bench"]
        async fn bench() {
            let target = $target;
            let rows = $crate::bench::run(&target).await;
            let table = $crate::bench::markdown($crate::ContractTarget::cloud(&target), &rows);
            println!("{table}");
            let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/bench");
            std::fs::create_dir_all(&dir).expect("target/bench");
            let name = format!("{}.md", $crate::ContractTarget::backend_name(&target));
            std::fs::write(dir.join(name), table).expect("the bench table is written");
        }
    };
}
