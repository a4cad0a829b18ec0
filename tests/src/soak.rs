//! The fault soak: many seeded reserve → cancel cycles against an emulator that fails the way
//! clouds fail, with every outcome checked against the emulator's audit.
//!
//! Each cycle gets its own emulator and seed: throttling on 10 % of requests, 5xx on 5 %,
//! connection resets on 2 %, lost replies on 2 %, hung calls (past the adapter's call timeout)
//! on 1 %, failed long-running operations on 5 %; and, drawn from the cycle's seed, a
//! stocked-out configured zone (30 % of cycles), a regional quota smaller than the plan (10 %)
//! and a second region (30 %). After every cycle:
//!
//! - a reserve that returned `Ok` holds exactly the plan's capacity, in one zone per region
//!   (else a *false success*), and no (region, zone, type) holds two live reservations (a *double*);
//! - a reserve that returned `Err` holds nothing, and its error has a kind other than `Other`
//!   (else *unclassified*);
//! - after cancel (retried up to three times, as a caller would), nothing is held (else a
//!   *leak*).
//!
//! [`fault_soak`] returns the tally; the contract suite runs 100 cycles per backend
//! (`CR_SOAK_CYCLES` changes that), `cargo xtask soak` 2,000.

use std::collections::BTreeMap;
use std::fmt;

use cr_core::CapacityReservation;
use cr_core::error::ErrorKind;
use cr_emulator::{Fault, FaultKind};
use futures::StreamExt;

use crate::{
    ContractTarget, Credentials, Fixture, Placement, TestConfig, base_scenario, cloud_kind,
    set_capacity,
};

/// What a soak saw.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SoakTally {
    /// Cycles run.
    pub cycles: u32,
    /// Reserves that succeeded.
    pub reserved: u32,
    /// Reserves that failed, by error kind.
    pub failed: BTreeMap<String, u32>,
    /// Faults the emulator injected, by kind.
    pub faults: BTreeMap<String, u32>,
    /// Requests answered with an error or not at all (each one a retry, a fallback or the end).
    pub failed_requests: u32,
    /// Successful reserves that fell back past at least one zone.
    pub fallbacks: u32,
    /// Cancels that had to be repeated.
    pub cancel_retries: u32,
    /// Cycles that left capacity held after cancel (or after a failed reserve).
    pub leaks: u32,
    /// Successful reserves that did not hold exactly the plan.
    pub false_successes: u32,
    /// (region, zone, type) triples holding two live reservations.
    pub doubles: u32,
    /// Errors of kind `Other`.
    pub unclassified: u32,
    /// What went wrong, one line per problem (empty when all is well).
    pub problems: Vec<String>,
}

impl SoakTally {
    /// No leak, no false success, no double, every error classified.
    pub fn clean(&self) -> bool {
        self.leaks == 0 && self.false_successes == 0 && self.doubles == 0 && self.unclassified == 0
    }
}

impl fmt::Display for SoakTally {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "cycles {}: reserved {}, failed {:?}; faults injected {:?} ({} failed requests); \
             fallbacks {}, cancel retries {}; leaks {}, false successes {}, doubles {}, unclassified {}",
            self.cycles,
            self.reserved,
            self.failed,
            self.faults,
            self.failed_requests,
            self.fallbacks,
            self.cancel_retries,
            self.leaks,
            self.false_successes,
            self.doubles,
            self.unclassified
        )?;
        for p in &self.problems {
            writeln!(f, "  problem: {p}")?;
        }
        Ok(())
    }
}

/// splitmix64: the cycle's own choices, reproducible from the seed.
pub(crate) struct Draw(pub(crate) u64);

impl Draw {
    pub(crate) fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    pub(crate) fn chance(&mut self, p: f64) -> bool {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64 <= p
    }
}

/// The faults of every cycle, on every operation of the cloud.
const FAULTS: [(FaultKind, f64); 6] = [
    (FaultKind::Throttle, 0.10),
    (FaultKind::ServerError, 0.05),
    (FaultKind::ConnectionReset, 0.02),
    (FaultKind::LostReply, 0.02),
    (FaultKind::Hang, 0.01),
    (FaultKind::FailedLro, 0.05),
];

/// How many cycles run at once (each against its own emulator; they mostly wait: for hung
/// calls to time out, for backoff, for long-running operations). `CR_SOAK_CONCURRENCY`
/// changes it.
const CONCURRENT_CYCLES: usize = 32;

/// Runs `cycles` seeded reserve → cancel cycles (seed `seed`) and returns the tally. Cycles
/// run [`CONCURRENT_CYCLES`] at a time; each draws its choices and its emulator's faults from
/// its own seed, so a cycle's problem line names the seed that reproduces it.
pub async fn fault_soak(t: &dyn ContractTarget, cycles: u32, seed: u64) -> SoakTally {
    let tallies: Vec<SoakTally> = futures::stream::iter(0..cycles)
        .map(|cycle| async move {
            let cycle_seed = seed.wrapping_mul(1_000_003).wrapping_add(u64::from(cycle));
            let mut tally = SoakTally::default();
            let started = std::time::Instant::now();
            one_cycle(t, cycle, cycle_seed, &mut tally).await;
            if std::env::var_os("CR_SOAK_TRACE").is_some() {
                eprintln!(
                    "soak cycle {cycle}: {:.2} s",
                    started.elapsed().as_secs_f64()
                );
            }
            tally.cycles = 1;
            tally
        })
        .buffer_unordered(
            std::env::var("CR_SOAK_CONCURRENCY")
                .ok()
                .and_then(|v| v.parse().ok())
                .unwrap_or(CONCURRENT_CYCLES),
        )
        .collect()
        .await;
    let mut total = SoakTally::default();
    for t in tallies {
        total.add(t);
    }
    total.problems.sort();
    total
}

impl SoakTally {
    fn add(&mut self, other: SoakTally) {
        self.cycles += other.cycles;
        self.reserved += other.reserved;
        for (k, v) in other.failed {
            *self.failed.entry(k).or_default() += v;
        }
        for (k, v) in other.faults {
            *self.faults.entry(k).or_default() += v;
        }
        self.failed_requests += other.failed_requests;
        self.fallbacks += other.fallbacks;
        self.cancel_retries += other.cancel_retries;
        self.leaks += other.leaks;
        self.false_successes += other.false_successes;
        self.doubles += other.doubles;
        self.unclassified += other.unclassified;
        self.problems.extend(other.problems);
    }
}

async fn one_cycle(t: &dyn ContractTarget, cycle: u32, seed: u64, tally: &mut SoakTally) {
    let mut draw = Draw(seed);
    let layout = t.layout();
    let mut config = TestConfig::single(format!("50a4{seed:012x}"));
    if draw.chance(0.3) {
        config.placements.push(Placement { region: 1, zone: 0 });
    }
    let mut scenario = base_scenario();
    scenario.seed = seed;
    scenario.lro_ms = 30;
    // Longer than any target's call timeout (a few seconds), far shorter than the suite's.
    scenario.hang_ms = 4_000;
    for (kind, rate) in FAULTS {
        scenario.faults.push(Fault {
            cloud: cloud_kind(t.cloud()),
            operation: "*".into(),
            kind,
            rate,
            limit: None,
            garbage: None,
        });
    }
    let first = &layout.regions[0];
    if draw.chance(0.3) {
        set_capacity(
            &mut scenario,
            t.cloud(),
            &first.region,
            &first.zones[0],
            &layout.db_type,
            0,
        );
    }
    if draw.chance(0.1) {
        crate::limit_to_db_nodes(t, &mut scenario, &first.region, 2);
    }
    let fx = Fixture::start_sharing_keys(t, scenario, config).await;
    let problem = |tally: &mut SoakTally, what: String| {
        tally
            .problems
            .push(format!("cycle {cycle} (seed {seed}): {what}"));
    };
    let backend = match fx.backend(t, Credentials::Valid).await {
        Ok(b) => b,
        Err(e) => {
            problem(tally, format!("building the backend failed: {e}"));
            tally.unclassified += 1;
            return;
        }
    };
    let mut leaked = false;
    match backend.reserve(&fx.params).await {
        Ok(set) => {
            tally.reserved += 1;
            if set.regions.iter().any(|r| !r.attempts.is_empty()) {
                tally.fallbacks += 1;
            }
            let live = fx.live(t.cloud());
            for region in &set.regions {
                let mut held: Vec<(String, u32)> = live
                    .iter()
                    .filter(|r| r.region == region.region)
                    .map(|r| (r.instance_type.clone(), r.count))
                    .collect();
                held.sort();
                let zones: std::collections::BTreeSet<&str> = live
                    .iter()
                    .filter(|r| r.region == region.region)
                    .map(|r| r.zone.as_str())
                    .collect();
                if held != fx.demands(&region.region) || zones.len() != 1 {
                    tally.false_successes += 1;
                    problem(
                        tally,
                        format!(
                            "reserve returned Ok but {} holds {held:?} in zones {zones:?}, the plan is {:?}",
                            region.region,
                            fx.demands(&region.region)
                        ),
                    );
                }
            }
            let mut per_zone_type = BTreeMap::new();
            for r in &live {
                // Zone names repeat across regions on Azure ("1", "2", "3").
                *per_zone_type
                    .entry((r.region.clone(), r.zone.clone(), r.instance_type.clone()))
                    .or_insert(0u32) += 1;
            }
            let doubles = per_zone_type.values().filter(|n| **n > 1).count() as u32;
            if doubles > 0 {
                tally.doubles += doubles;
                problem(
                    tally,
                    format!("two live reservations of one (region, zone, type): {per_zone_type:?}"),
                );
            }
        }
        Err(e) => {
            *tally.failed.entry(format!("{:?}", e.kind())).or_default() += 1;
            if e.kind() == ErrorKind::Other {
                tally.unclassified += 1;
                problem(tally, format!("an unclassified error: {e}"));
            }
            // A failed reserve holds nothing; a failed rollback says what it left, but that is
            // still capacity held after an error.
            let live = fx.live(t.cloud());
            if !live.is_empty() {
                leaked = true;
                problem(
                    tally,
                    format!(
                        "reserve failed ({e}) yet {} reservations are held",
                        live.len()
                    ),
                );
            }
        }
    }
    let mut cancelled = false;
    for attempt in 0..3 {
        match backend.cancel(&fx.params).await {
            Ok(report) if report.is_complete() => {
                cancelled = true;
                break;
            }
            _ if attempt < 2 => tally.cancel_retries += 1,
            _ => {}
        }
    }
    let live = fx.live(t.cloud());
    if !live.is_empty() {
        leaked = true;
        problem(
            tally,
            format!(
                "{} reservations still held after cancel (cancel {}): {:?}",
                live.len(),
                if cancelled {
                    "reported complete"
                } else {
                    "failed 3 times"
                },
                live.iter()
                    .map(|r| (&r.id, &r.zone, &r.instance_type))
                    .collect::<Vec<_>>()
            ),
        );
    }
    if leaked {
        tally.leaks += 1;
    }
    for request in fx.emulator.requests() {
        if let Some(kind) = request.fault {
            *tally.faults.entry(format!("{kind:?}")).or_default() += 1;
        }
        if request.status == 0 || request.status >= 400 {
            tally.failed_requests += 1;
        }
    }
}
