//! Client-side pacing: sharing a cloud's API rate limit politely, as the AWS SDKs' adaptive
//! retry mode does.
//!
//! A [`RateController`] is a token bucket on the client whose rate follows CUBIC: it stays
//! out of the way until the cloud first throttles, then sends at a rate cut by
//! [`PacingPolicy::beta`] on every throttle (at most once per round of calls: a throttle of a
//! call sent before the last cut does not cut again) and grown on success along the cubic
//! curve back to, then past, the rate at which the cloud last throttled. A throttle that says
//! when to come back (Retry-After) holds every call of the controller until then.
//!
//! Controllers live in one process-global registry keyed by the scope the adapter names
//! ([`crate::adapter::CloudAdapter::pacing_scope`]: cloud, endpoint, account, region) and the
//! class of call ([`CallClass`]), so every engine of the process that talks to the same
//! bucket of the cloud paces through the same controller. The engine sends every adapter
//! call through [`crate::retry::RetryPolicy::run_paced`]; [`PacingPolicy::enabled`] (in
//! [`crate::retry::RetryPolicy::pacing`]) turns it off.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, LazyLock, Mutex};
use std::time::Duration;

use tokio::time::Instant;

/// How the pacer adapts. The defaults are the AWS SDKs' adaptive mode (β = 0.7, C = 0.4,
/// at least 0.5 calls per second).
#[derive(Debug, Clone, PartialEq)]
pub struct PacingPolicy {
    /// Pace at all (off: calls are only retried with backoff).
    pub enabled: bool,
    /// The lowest rate the pacer cuts to, in calls per second.
    pub min_rate: f64,
    /// The highest rate it grows to.
    pub max_rate: f64,
    /// The factor a throttle multiplies the rate by.
    pub beta: f64,
    /// CUBIC's scale constant: how fast the rate grows back.
    pub scale: f64,
}

impl Default for PacingPolicy {
    fn default() -> Self {
        PacingPolicy {
            enabled: true,
            min_rate: 0.5,
            max_rate: 10_000.0,
            beta: 0.7,
            scale: 0.4,
        }
    }
}

impl PacingPolicy {
    /// No pacing.
    pub fn off() -> Self {
        PacingPolicy {
            enabled: false,
            ..PacingPolicy::default()
        }
    }
}

/// Which of the cloud's buckets a call draws on: clouds count mutating and reading calls
/// apart (EC2 mutating / non-mutating, ARM writes / reads, GCE's quota groups).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CallClass {
    /// Reads: listings, polls, look-ups.
    Read,
    /// Mutations: creates, cancels, region resources.
    Write,
}

impl CallClass {
    /// The class of an engine operation (`create`, `cancel`, `poll`, ...).
    pub fn of(operation: &str) -> CallClass {
        match operation {
            "create" | "cancel" | "prepare_region" | "finish_region" => CallClass::Write,
            _ => CallClass::Read,
        }
    }
}

/// When a call was let through, handed back with its outcome ([`RateController::record`]).
#[derive(Debug, Clone, Copy)]
pub struct Ticket {
    sent: Instant,
}

#[derive(Debug)]
struct State {
    /// Whether the bucket paces (only after the first throttle).
    engaged: bool,
    fill_rate: f64,
    capacity: f64,
    tokens: f64,
    last_refill: Instant,
    /// The rate at the last throttle, and CUBIC's time to grow back to it.
    last_max_rate: f64,
    time_window: f64,
    last_throttle: Option<Instant>,
    /// Sends of the last second, for the measured sending rate.
    sent: VecDeque<Instant>,
    /// Retry-After: no call before this.
    hold_until: Option<Instant>,
    throttles: u64,
    cuts: u64,
}

/// One shared bucket of the client (see the module documentation).
#[derive(Debug)]
pub struct RateController {
    policy: PacingPolicy,
    state: Mutex<State>,
}

/// What a controller saw, for reports.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PacingStats {
    /// Whether it paces (it has seen a throttle).
    pub engaged: bool,
    /// Its sending rate now, in calls per second.
    pub rate: f64,
    /// Throttles recorded.
    pub throttles: u64,
    /// Times it cut its rate.
    pub cuts: u64,
}

impl RateController {
    /// A controller that does not pace until its first throttle.
    pub fn new(policy: PacingPolicy) -> Self {
        let now = Instant::now();
        RateController {
            state: Mutex::new(State {
                engaged: false,
                fill_rate: policy.max_rate,
                capacity: policy.max_rate,
                tokens: 0.0,
                last_refill: now,
                last_max_rate: 0.0,
                time_window: 0.0,
                last_throttle: None,
                sent: VecDeque::new(),
                hold_until: None,
                throttles: 0,
                cuts: 0,
            }),
            policy,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Takes a token if the call may go now; else how long until one may be there.
    fn try_take(&self, now: Instant) -> Option<Duration> {
        let mut s = self.lock();
        if let Some(h) = s.hold_until.filter(|h| *h > now) {
            return Some(h - now);
        }
        if !s.engaged {
            return None;
        }
        refill(&mut s, now);
        if s.tokens >= 1.0 {
            s.tokens -= 1.0;
            None
        } else {
            Some(Duration::from_secs_f64((1.0 - s.tokens) / s.fill_rate))
        }
    }

    /// Waits for the next call's turn (ends early once `stop` is cancelled; the caller then
    /// checks it). Waiters look again when a token may be there, at the rate of that moment:
    /// a cut slows the calls already waiting, not only later ones. The ticket goes back with
    /// the outcome to [`RateController::record`].
    pub async fn acquire(&self, stop: Option<&tokio_util::sync::CancellationToken>) -> Ticket {
        while let Some(wait) = self.try_take(Instant::now()) {
            crate::wait::pause(wait, stop).await;
            if stop.is_some_and(tokio_util::sync::CancellationToken::is_cancelled) {
                break;
            }
        }
        let now = Instant::now();
        let mut s = self.lock();
        s.sent.push_back(now);
        trim(&mut s.sent, now);
        Ticket { sent: now }
    }

    /// Records the outcome of the call let through with `ticket`: `throttled` cuts the rate
    /// (once per round of calls) and holds every call until `retry_after`; a success grows the
    /// rate along the cubic curve.
    pub fn record(&self, ticket: Ticket, throttled: bool, retry_after: Option<Duration>) {
        let now = Instant::now();
        let p = &self.policy;
        let mut s = self.lock();
        trim(&mut s.sent, now);
        let measured = s.sent.len() as f64;
        refill(&mut s, now);
        if throttled {
            s.throttles += 1;
            if let Some(after) = retry_after {
                let until = now + after;
                s.hold_until = Some(s.hold_until.map_or(until, |h| h.max(until)));
            }
            if s.last_throttle.is_some_and(|t| ticket.sent <= t) {
                // Sent before the last cut: that cut already answered this round.
                return;
            }
            let rate = if s.engaged {
                measured.min(s.fill_rate)
            } else {
                measured
            }
            .max(p.min_rate);
            s.last_max_rate = rate;
            s.time_window = (rate * (1.0 - p.beta) / p.scale).cbrt();
            s.last_throttle = Some(now);
            s.engaged = true;
            s.cuts += 1;
            set_rate(&mut s, p, rate * p.beta);
        } else if s.engaged {
            let t = s
                .last_throttle
                .map_or(0.0, |t| now.duration_since(t).as_secs_f64());
            let cubic = p.scale * (t - s.time_window).powi(3) + s.last_max_rate;
            // Never more than twice what is actually being sent.
            set_rate(&mut s, p, cubic.min(2.0 * measured.max(p.min_rate)));
        }
    }

    /// What the controller saw so far.
    pub fn stats(&self) -> PacingStats {
        let s = self.lock();
        PacingStats {
            engaged: s.engaged,
            rate: s.fill_rate,
            throttles: s.throttles,
            cuts: s.cuts,
        }
    }
}

fn refill(s: &mut State, now: Instant) {
    let elapsed = now.duration_since(s.last_refill).as_secs_f64();
    s.tokens = (s.tokens + elapsed * s.fill_rate).min(s.capacity);
    s.last_refill = now;
}

fn set_rate(s: &mut State, p: &PacingPolicy, rate: f64) {
    s.fill_rate = rate.clamp(p.min_rate, p.max_rate);
    s.capacity = s.fill_rate.max(1.0);
    s.tokens = s.tokens.min(s.capacity);
}

fn trim(sent: &mut VecDeque<Instant>, now: Instant) {
    while sent
        .front()
        .is_some_and(|t| now.duration_since(*t) > Duration::from_secs(1))
    {
        sent.pop_front();
    }
}

type Registry = Mutex<HashMap<(String, CallClass), Arc<RateController>>>;

static REGISTRY: LazyLock<Registry> = LazyLock::new(|| Mutex::new(HashMap::new()));

/// The process's controller for `scope` and `class`, made with `policy` on first use (later
/// callers share it whatever their policy).
pub fn shared(scope: &str, class: CallClass, policy: &PacingPolicy) -> Arc<RateController> {
    REGISTRY
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .entry((scope.to_owned(), class))
        .or_insert_with(|| Arc::new(RateController::new(policy.clone())))
        .clone()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn engaged_at(rate: f64) -> RateController {
        let c = RateController::new(PacingPolicy::default());
        {
            let mut s = c.lock();
            s.engaged = true;
            let p = PacingPolicy::default();
            set_rate(&mut s, &p, rate);
            s.last_max_rate = rate;
        }
        c
    }

    #[tokio::test(start_paused = true)]
    async fn a_throttle_cuts_the_rate_once_per_round() {
        let c = RateController::new(PacingPolicy::default());
        // Ten calls at once, unpaced; the cloud throttles two of them.
        let mut tickets = Vec::new();
        for _ in 0..10 {
            tickets.push(c.acquire(None).await);
        }
        assert!(!c.stats().engaged, "no pacing before the first throttle");
        c.record(tickets[0], true, None);
        let after_one = c.stats();
        assert!(after_one.engaged);
        assert!(
            (after_one.rate - 7.0).abs() < 1e-9,
            "10/s × 0.7: {after_one:?}"
        );
        // The same round's second throttle does not cut again.
        c.record(tickets[1], true, None);
        assert_eq!(c.stats().cuts, 1);
        assert_eq!(c.stats().throttles, 2);
        // A call sent after the cut and throttled does.
        tokio::time::advance(Duration::from_millis(10)).await;
        let t = c.acquire(None).await;
        c.record(t, true, None);
        assert_eq!(c.stats().cuts, 2);
        assert!(c.stats().rate < after_one.rate);
    }

    #[tokio::test(start_paused = true)]
    async fn successes_grow_the_rate_back_past_the_last_throttle() {
        let c = engaged_at(10.0);
        let t = c.acquire(None).await;
        c.record(t, true, None);
        let cut = c.stats().rate;
        for _ in 0..60 {
            tokio::time::advance(Duration::from_millis(100)).await;
            let t = c.acquire(None).await;
            c.record(t, false, None);
        }
        let grown = c.stats().rate;
        assert!(grown > cut, "{grown} > {cut}");
    }

    #[tokio::test(start_paused = true)]
    async fn the_rate_stays_within_its_bounds() {
        let p = PacingPolicy::default();
        let c = engaged_at(1.0);
        for _ in 0..50 {
            tokio::time::advance(Duration::from_millis(100)).await;
            let t = c.acquire(None).await;
            c.record(t, true, None);
        }
        assert!(
            (c.stats().rate - p.min_rate).abs() < 1e-9,
            "{:?}",
            c.stats()
        );
        for _ in 0..2000 {
            tokio::time::advance(Duration::from_millis(50)).await;
            let t = Ticket {
                sent: Instant::now(),
            };
            c.record(t, false, None);
        }
        assert!(c.stats().rate <= p.max_rate);
    }

    #[tokio::test(start_paused = true)]
    async fn an_engaged_bucket_spaces_calls_at_its_rate() {
        let c = engaged_at(4.0);
        // Spend the burst, then each call waits a quarter second more than the one before.
        {
            c.lock().tokens = 0.0;
        }
        let start = Instant::now();
        for _ in 0..4 {
            c.acquire(None).await;
        }
        assert_eq!(start.elapsed(), Duration::from_secs(1));
    }

    #[tokio::test(start_paused = true)]
    async fn retry_after_holds_every_call() {
        let c = RateController::new(PacingPolicy::default());
        let t = c.acquire(None).await;
        c.record(t, true, Some(Duration::from_secs(2)));
        let start = Instant::now();
        c.acquire(None).await;
        assert!(start.elapsed() >= Duration::from_secs(2));
    }

    #[test]
    fn one_controller_per_scope_and_class() {
        let p = PacingPolicy::default();
        let a = shared("test/x/eu-west-1", CallClass::Write, &p);
        let b = shared("test/x/eu-west-1", CallClass::Write, &p);
        let c = shared("test/x/eu-west-1", CallClass::Read, &p);
        let d = shared("test/x/us-east-1", CallClass::Write, &p);
        assert!(Arc::ptr_eq(&a, &b));
        assert!(!Arc::ptr_eq(&a, &c));
        assert!(!Arc::ptr_eq(&a, &d));
        assert_eq!(CallClass::of("create"), CallClass::Write);
        assert_eq!(CallClass::of("poll"), CallClass::Read);
    }
}
