//! Many tests at once under the cloud's API rate limits: `engines` engines in this one
//! process (each its own adapter, test id and plan of 6 instance types in the same region,
//! so they share one account's buckets), started together against one emulator whose
//! rate limiter is on. Every one must succeed with no doubled reservation, and their cancels
//! must leave nothing. The bench (`CR_BENCH_ONLY=fifty cargo xtask bench`) runs 50 with the
//! `realistic` limits and reports the time against the buckets' physical limit; the contract
//! check ([`crate::checks::many_engines_share_the_rate_limit`]) runs 10 with small buckets.

use std::time::{Duration, Instant};

use cr_core::engine::{Engine, WaitPolicy};
use cr_core::pacing::PacingPolicy;
use cr_core::plan::CapacityPlan;
use cr_core::retry::RetryPolicy;
use cr_emulator::Scenario;
use cr_emulator::ratelimit::{Bucket, CallClass, RateLimit, RateLimits};

use crate::{ContractTarget, Credentials, Fixture, TestConfig, cloud_kind};

/// Instance types each engine reserves.
pub const TYPES: usize = 6;

/// What one run of many engines at once found.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// Engines started together.
    pub engines: usize,
    /// From the start to the last engine's answer.
    pub took: Duration,
    /// Engines whose reserve failed, with the error.
    pub failed: Vec<String>,
    /// Reservations the engines returned.
    pub reserved: usize,
    /// Live reservations in the emulator's audit once every reserve answered.
    pub live_after_reserve: usize,
    /// Live reservations once every engine cancelled.
    pub live_after_cancel: usize,
    /// Create calls the emulator saw during the reserves.
    pub create_calls: usize,
    /// Calls admitted and throttled per class during the reserves (writes, reads).
    pub admitted: (u64, u64),
    /// Calls throttled per class (writes, reads).
    pub throttled: (u64, u64),
    /// The buckets' physical limit for the calls admitted: (writes, reads) bound.
    pub bound: (Duration, Duration),
}

impl Outcome {
    /// The binding physical limit.
    pub fn limit(&self) -> Duration {
        self.bound.0.max(self.bound.1)
    }

    /// Create calls beyond one per reservation, per reservation.
    pub fn retries_per_create(&self) -> f64 {
        if self.reserved == 0 {
            return 0.0;
        }
        self.create_calls.saturating_sub(self.reserved) as f64 / self.reserved as f64
    }
}

/// Small buckets for the contract check: the burst is a fraction of what 10 engines send at
/// once, refilled quickly enough for CI (GCE too gets a token bucket, not its minute).
pub fn small_limits() -> RateLimit {
    RateLimit::Explicit(RateLimits {
        write: Some(Bucket {
            burst: 10,
            per_second: 40.0,
            per_minute: None,
        }),
        read: Some(Bucket {
            burst: 20,
            per_second: 80.0,
            per_minute: None,
        }),
        delete: None,
    })
}

/// How long the buckets need for `calls` calls at least: nothing within the burst (or the
/// first minute's quota), then the refill rate.
fn bound(bucket: Option<&Bucket>, calls: u64) -> Duration {
    let Some(b) = bucket else {
        return Duration::ZERO;
    };
    match b.per_minute {
        Some(n) => Duration::from_secs(60 * (calls.saturating_sub(1) / n.max(1))),
        None if b.per_second > 0.0 => {
            Duration::from_secs_f64(calls.saturating_sub(b.burst) as f64 / b.per_second)
        }
        None => Duration::ZERO,
    }
}

/// Runs `engines` engines of [`TYPES`] types each at once on `scenario` with `limits` on the
/// target's cloud, engines built with `retry` and `wait`; then cancels every set.
pub async fn run(
    t: &dyn ContractTarget,
    mut scenario: Scenario,
    limits: RateLimit,
    engines: usize,
    retry: RetryPolicy,
    wait: WaitPolicy,
    id: &str,
) -> Outcome {
    let cloud = t.cloud();
    let kind = cloud_kind(cloud);
    scenario.clouds.get_mut(kind).rate_limit = Some(limits.clone());
    let fx = Fixture::start(t, scenario, TestConfig::single(id)).await;
    let template = crate::bench::plan_with(&fx, cloud, TYPES, &[0], false);
    let mut runs: Vec<(Engine, CapacityPlan)> = Vec::with_capacity(engines);
    for i in 0..engines {
        let adapter = t
            .adapter(&fx.emulator, &fx.params, Credentials::Valid)
            .await
            .unwrap_or_else(|e| panic!("building adapter {i}: {e}"));
        let mut plan = template.clone();
        let test_id = format!("{id}-{i:02}");
        plan.test_id = Some(test_id.clone());
        plan.tags
            .0
            .insert(cr_core::tags::TEST_ID.to_string(), test_id);
        runs.push((
            Engine::new(adapter, retry.clone()).with_wait(wait.clone()),
            plan,
        ));
    }
    let before = fx.emulator.requests().len();
    let started = Instant::now();
    let results =
        futures::future::join_all(runs.iter().map(|(engine, plan)| engine.reserve(plan))).await;
    let took = started.elapsed();
    let state = fx.emulator.state();
    let create_calls = fx.emulator.requests()[before..]
        .iter()
        .filter(|r| r.cloud == Some(kind) && r.operation == t.create_operation())
        .count();
    let (mut admitted, mut throttled) = ((0, 0), (0, 0));
    for c in state.rate_limited.iter().filter(|c| c.cloud == kind) {
        if c.class == CallClass::Read {
            admitted.1 += c.admitted;
            throttled.1 += c.throttled;
        } else {
            admitted.0 += c.admitted;
            throttled.0 += c.throttled;
        }
    }
    let resolved = limits.resolve(kind);
    let bound = (
        bound(resolved.write.as_ref(), admitted.0),
        bound(resolved.read.as_ref(), admitted.1),
    );
    let mut failed = Vec::new();
    let mut reserved = 0;
    for (i, r) in results.iter().enumerate() {
        match r {
            Ok(set) => reserved += set.reservations().count(),
            Err(e) => failed.push(format!("engine {i}: {e}")),
        }
    }
    let live_after_reserve = state.live(kind).count();
    let cancels =
        futures::future::join_all(runs.iter().map(|(engine, plan)| engine.cancel(plan))).await;
    for (i, c) in cancels.iter().enumerate() {
        if let Err(e) = c {
            failed.push(format!("cancel of engine {i}: {e}"));
        }
    }
    let live_after_cancel = fx.live(cloud).len();
    Outcome {
        engines,
        took,
        failed,
        reserved,
        live_after_reserve,
        live_after_cancel,
        create_calls,
        admitted,
        throttled,
        bound,
    }
}

/// The engines' retry policy in the contract check: the suite's, paced.
pub fn paced(retry: RetryPolicy) -> RetryPolicy {
    RetryPolicy {
        pacing: PacingPolicy::default(),
        ..retry
    }
}
