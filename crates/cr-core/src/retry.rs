//! Retries of throttled and transient cloud calls: jittered exponential backoff, honouring a
//! server's Retry-After, bounded in count and in time.
//!
//! Every adapter call the engine makes goes through [`RetryPolicy::run`]. Each attempt is
//! bounded by [`RetryPolicy::attempt_timeout`] (an attempt that runs past it fails as
//! [`ErrorKind::Timeout`](crate::error::ErrorKind::Timeout), its outcome unknown). Only errors
//! whose [`ErrorKind::is_retryable`](crate::error::ErrorKind::is_retryable) holds (throttled,
//! timeout, transient) are retried; the decision never looks at message strings. A run
//! given a stop token ([`RetryPolicy::run_until`]) makes no new attempt once it is cancelled
//! and cuts its backoff sleep short. Given a pacer ([`RetryPolicy::run_paced`], what the
//! engine does for every call), each attempt first waits its turn in the shared client-side
//! rate ([`crate::pacing`]); a throttle is then the pacer's signal, retried once the pacer
//! lets it through rather than after a backoff, and bounded by `max_elapsed` alone.

use std::future::Future;
use std::time::Duration;

use backon::{BackoffBuilder, ExponentialBuilder};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::error::{CloudError, Error, ErrorKind, Location, Result};
use crate::pacing::{PacingPolicy, RateController};

/// How the engine retries retryable failures.
///
/// Delays double from `min_delay`. With `jitter`, each delay is `d + r·d` for a random
/// `r` in `[0, 1)` and the base `d` stops growing at `max_delay / 2`, so a jittered delay never
/// exceeds `max_delay` and concurrent callers do not retry in lock step.
#[derive(Debug, Clone, PartialEq)]
pub struct RetryPolicy {
    /// Retries after the first attempt.
    pub max_retries: usize,
    /// First delay.
    pub min_delay: Duration,
    /// Largest delay between two attempts (also caps a server's Retry-After).
    pub max_delay: Duration,
    /// Give up once this much time has passed since the first attempt (a retry whose delay
    /// would end past it is not made).
    pub max_elapsed: Duration,
    /// Randomise delays.
    pub jitter: bool,
    /// Seed of the jitter's random source, so tests get the same delays every run; `None`
    /// seeds from the operating system.
    pub jitter_seed: Option<u64>,
    /// The longest one attempt may take; past it the attempt is abandoned and fails as a
    /// timeout (retryable; for a create, its outcome is unknown).
    pub attempt_timeout: Duration,
    /// Client-side pacing of the calls that share one of the cloud's rate limits
    /// ([`crate::pacing`]; [`PacingPolicy::off`] turns it off).
    pub pacing: PacingPolicy,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_retries: 6,
            min_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(30),
            max_elapsed: Duration::from_secs(180),
            jitter: true,
            jitter_seed: None,
            attempt_timeout: Duration::from_secs(60),
            pacing: PacingPolicy::default(),
        }
    }
}

impl RetryPolicy {
    /// A policy for tests: tiny delays, no pacing.
    pub fn fast() -> Self {
        RetryPolicy {
            max_retries: 4,
            min_delay: Duration::from_millis(1),
            max_delay: Duration::from_millis(20),
            max_elapsed: Duration::from_secs(10),
            jitter: true,
            jitter_seed: None,
            attempt_timeout: Duration::from_secs(10),
            pacing: PacingPolicy::off(),
        }
    }

    /// A policy that never retries.
    pub fn none() -> Self {
        RetryPolicy {
            max_retries: 0,
            ..RetryPolicy::fast()
        }
    }

    /// The backoff schedule, before Retry-After and the time bound are applied.
    fn backoff(&self) -> ExponentialBuilder {
        let mut builder = ExponentialBuilder::new()
            .with_factor(2.0)
            .with_min_delay(self.min_delay)
            .with_max_times(self.max_retries);
        if self.jitter {
            // backon adds up to one more base delay as jitter; halving the base cap keeps
            // the sum within max_delay.
            builder = builder.with_max_delay(self.max_delay / 2).with_jitter();
            if let Some(seed) = self.jitter_seed {
                builder = builder.with_jitter_seed(seed);
            }
        } else {
            builder = builder.with_max_delay(self.max_delay);
        }
        builder
    }

    /// The delay before retrying after `error`, given the backoff schedule's next delay
    /// (`None` once the retries are used up) and the time spent since the first attempt.
    /// `None` means: give up and return `error`.
    ///
    /// A server's Retry-After is honoured as a lower bound, capped by `max_delay` so a
    /// misbehaving server cannot stall the run.
    pub fn next_delay(
        &self,
        error: &Error,
        scheduled: Option<Duration>,
        elapsed: Duration,
    ) -> Option<Duration> {
        let scheduled = scheduled?;
        let delay = match error.retry_after() {
            Some(server) => scheduled.max(server),
            None => scheduled,
        }
        .min(self.max_delay);
        if elapsed.saturating_add(delay) > self.max_elapsed {
            return None;
        }
        Some(delay)
    }

    /// Runs `call` until it succeeds, fails with an error that is not retryable, or the
    /// policy's bounds are reached; returns the last result. `operation` names the call in
    /// the log lines of each retry.
    pub async fn run<T, F, Fut>(&self, operation: &str, call: F) -> Result<T>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T>>,
    {
        self.run_until(operation, None, call).await
    }

    /// As [`RetryPolicy::run`], but once `stop` is cancelled no further attempt starts and
    /// a backoff sleep ends early (the attempt in flight finishes: a create abandoned half-way
    /// could still be carried out).
    pub async fn run_until<T, F, Fut>(
        &self,
        operation: &str,
        stop: Option<&CancellationToken>,
        call: F,
    ) -> Result<T>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T>>,
    {
        self.run_paced(operation, stop, None, call).await
    }

    /// As [`RetryPolicy::run_until`], every attempt paced by `pacer` when given: it waits its
    /// turn first, and its outcome goes back to the pacer (a throttle cuts the shared rate and
    /// a Retry-After holds every call of the pacer). A throttled attempt is retried as soon as
    /// the pacer lets it through, without counting against `max_retries` (the pacer, not the
    /// backoff, spaces them); `max_elapsed` still bounds the run.
    pub async fn run_paced<T, F, Fut>(
        &self,
        operation: &str,
        stop: Option<&CancellationToken>,
        pacer: Option<&RateController>,
        mut call: F,
    ) -> Result<T>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T>>,
    {
        let start = Instant::now();
        let stopped = || stop.is_some_and(CancellationToken::is_cancelled);
        let mut schedule = self.backoff().build();
        let mut retries = 0usize;
        loop {
            let ticket = match pacer {
                Some(p) => {
                    let before = Instant::now();
                    let ticket = p.acquire(stop).await;
                    if stopped() && before.elapsed() > Duration::ZERO {
                        return Err(Error::Interrupted {
                            operation: operation.to_string(),
                            reason: "cancelled while waiting for the cloud's rate limit".into(),
                        });
                    }
                    Some(ticket)
                }
                None => None,
            };
            let result = match tokio::time::timeout(self.attempt_timeout, call()).await {
                Ok(result) => result,
                Err(_) => Err(attempt_timed_out(operation, self.attempt_timeout)),
            };
            if let (Some(p), Some(ticket)) = (pacer, ticket) {
                let throttled = result
                    .as_ref()
                    .is_err_and(|e| e.kind() == ErrorKind::Throttled);
                let retry_after = result.as_ref().err().and_then(Error::retry_after);
                p.record(ticket, throttled, retry_after);
            }
            let error = match result {
                Ok(value) => return Ok(value),
                Err(e) => e,
            };
            if !error.is_retryable() || stopped() {
                return Err(error);
            }
            let scheduled = if pacer.is_some() && error.kind() == ErrorKind::Throttled {
                Some(Duration::ZERO)
            } else {
                schedule.next()
            };
            let Some(delay) = self.next_delay(&error, scheduled, start.elapsed()) else {
                return Err(error);
            };
            retries += 1;
            log_retry(operation, &error, delay, retries);
            if !delay.is_zero() {
                crate::wait::pause(delay, stop).await;
            }
        }
    }
}

/// The error of an attempt abandoned after `after`.
fn attempt_timed_out(operation: &str, after: Duration) -> Error {
    Error::Timeout(Box::new(CloudError {
        kind: ErrorKind::Timeout,
        location: Location::default(),
        operation: operation.to_string(),
        code: "attempt_timeout".into(),
        message: format!(
            "no answer within {} ms; the call was abandoned (its outcome is unknown)",
            after.as_millis()
        ),
        retry_after: None,
        request_id: None,
        quota_scope: None,
        settled: false,
    }))
}

/// One log line per retry: what failed, how, where, and the wait. Classified fields only, so
/// nothing the cloud echoed back (which could include request details) reaches the log.
fn log_retry(operation: &str, error: &Error, delay: Duration, retry: usize) {
    let (code, region, zone) = error
        .cloud_error()
        .map(|e| {
            (
                e.code.as_str(),
                e.location.region.as_deref().unwrap_or(""),
                e.location.zone.as_deref().unwrap_or(""),
            )
        })
        .unwrap_or(("", "", ""));
    tracing::warn!(
        operation,
        kind = ?error.kind(),
        code,
        region,
        zone,
        retry,
        delay_ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX),
        "retrying cloud call"
    );
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;
    use crate::cloud::Cloud;
    use crate::error::{CloudError, ErrorKind};

    fn error(kind: ErrorKind, retry_after: Option<Duration>) -> Error {
        CloudError::new(kind, Cloud::Aws, "Op", "Code", "message")
            .retry_after(retry_after)
            .into()
    }

    fn policy() -> RetryPolicy {
        RetryPolicy {
            max_retries: 5,
            min_delay: Duration::from_millis(100),
            max_delay: Duration::from_secs(2),
            max_elapsed: Duration::from_secs(10),
            jitter: false,
            jitter_seed: None,
            attempt_timeout: Duration::from_secs(30),
            pacing: PacingPolicy::default(),
        }
    }

    #[test]
    fn retry_after_is_a_lower_bound_capped_by_max_delay() {
        let p = policy();
        let ms = Duration::from_millis;
        let throttled = error(ErrorKind::Throttled, Some(ms(700)));
        assert_eq!(
            p.next_delay(&throttled, Some(ms(100)), ms(0)),
            Some(ms(700))
        );
        assert_eq!(
            p.next_delay(&throttled, Some(ms(900)), ms(0)),
            Some(ms(900))
        );
        let slow_server = error(ErrorKind::Throttled, Some(Duration::from_secs(3600)));
        assert_eq!(
            p.next_delay(&slow_server, Some(ms(100)), ms(0)),
            Some(p.max_delay)
        );
        let plain = error(ErrorKind::Transient, None);
        assert_eq!(p.next_delay(&plain, Some(ms(100)), ms(0)), Some(ms(100)));
    }

    #[test]
    fn stops_when_retries_or_time_run_out() {
        let p = policy();
        let ms = Duration::from_millis;
        let e = error(ErrorKind::Transient, None);
        assert_eq!(p.next_delay(&e, None, ms(0)), None);
        assert_eq!(p.next_delay(&e, Some(ms(500)), ms(9_400)), Some(ms(500)));
        assert_eq!(p.next_delay(&e, Some(ms(700)), ms(9_400)), None);
    }

    #[test]
    fn schedule_doubles_and_stays_within_max_delay() {
        let plain: Vec<Duration> = policy().backoff().build().collect();
        let ms = Duration::from_millis;
        // backon multiplies in f32: compare whole milliseconds.
        let plain_ms: Vec<u128> = plain.iter().map(Duration::as_millis).collect();
        assert_eq!(plain_ms, [100, 200, 400, 800, 1600]);

        let seeded = RetryPolicy {
            jitter: true,
            jitter_seed: Some(7),
            max_retries: 10,
            ..policy()
        };
        let first: Vec<Duration> = seeded.backoff().build().collect();
        let second: Vec<Duration> = seeded.backoff().build().collect();
        assert_eq!(first, second, "a seeded jitter repeats");
        assert_eq!(first.len(), 10);
        assert!(
            first
                .iter()
                .all(|d| *d >= ms(100) && *d <= seeded.max_delay)
        );
        assert_ne!(first, plain, "jitter changes the delays");
    }

    #[tokio::test(start_paused = true)]
    async fn retries_retryable_errors_until_success() {
        let calls = AtomicUsize::new(0);
        let result = policy()
            .run("Op", || async {
                match calls.fetch_add(1, Ordering::SeqCst) {
                    0 => Err(error(ErrorKind::Throttled, None)),
                    1 => Err(error(ErrorKind::Timeout, None)),
                    n => Ok(n),
                }
            })
            .await;
        assert_eq!(result.unwrap(), 2);
        assert_eq!(calls.load(Ordering::SeqCst), 3);
    }

    #[tokio::test(start_paused = true)]
    async fn does_not_retry_other_errors() {
        for kind in [
            ErrorKind::CapacityUnavailable,
            ErrorKind::QuotaExceeded,
            ErrorKind::Unauthorized,
            ErrorKind::InvalidRequest,
            ErrorKind::NotFound,
        ] {
            let calls = AtomicUsize::new(0);
            let result: Result<()> = policy()
                .run("Op", || async {
                    calls.fetch_add(1, Ordering::SeqCst);
                    Err(error(kind, None))
                })
                .await;
            assert_eq!(result.unwrap_err().kind(), kind);
            assert_eq!(calls.load(Ordering::SeqCst), 1, "{kind:?} is not retried");
        }
    }

    #[tokio::test(start_paused = true)]
    async fn gives_up_after_max_retries() {
        let calls = AtomicUsize::new(0);
        let result: Result<()> = policy()
            .run("Op", || async {
                calls.fetch_add(1, Ordering::SeqCst);
                Err(error(ErrorKind::Transient, None))
            })
            .await;
        assert_eq!(result.unwrap_err().kind(), ErrorKind::Transient);
        assert_eq!(calls.load(Ordering::SeqCst), 1 + policy().max_retries);
    }

    #[tokio::test(start_paused = true)]
    async fn gives_up_when_time_runs_out() {
        // Every retry waits the server's 2 s; 10 s allow five such waits, not six.
        let calls = AtomicUsize::new(0);
        let result: Result<()> = RetryPolicy {
            max_retries: 100,
            ..policy()
        }
        .run("Op", || async {
            calls.fetch_add(1, Ordering::SeqCst);
            Err(error(ErrorKind::Throttled, Some(Duration::from_secs(2))))
        })
        .await;
        assert_eq!(result.unwrap_err().kind(), ErrorKind::Throttled);
        assert_eq!(calls.load(Ordering::SeqCst), 1 + 5);
    }

    #[tokio::test(start_paused = true)]
    async fn an_attempt_past_its_timeout_fails_as_a_timeout_and_is_retried() {
        let calls = AtomicUsize::new(0);
        let p = RetryPolicy {
            attempt_timeout: Duration::from_secs(5),
            ..policy()
        };
        let result = p
            .run("Op", || async {
                if calls.fetch_add(1, Ordering::SeqCst) == 0 {
                    // A hung call: never answers.
                    std::future::pending::<()>().await;
                }
                Ok(7)
            })
            .await;
        assert_eq!(result.unwrap(), 7);
        assert_eq!(calls.load(Ordering::SeqCst), 2);

        let hung: Result<()> = RetryPolicy {
            max_retries: 0,
            ..p
        }
        .run("CreateThing", std::future::pending)
        .await;
        let e = hung.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Timeout);
        assert!(e.outcome_unknown());
        assert!(e.to_string().contains("CreateThing"), "{e}");
    }

    #[tokio::test(start_paused = true)]
    async fn a_stopped_run_makes_no_new_attempt() {
        let calls = AtomicUsize::new(0);
        let stop = CancellationToken::new();
        let result: Result<()> = policy()
            .run_until("Op", Some(&stop), || async {
                calls.fetch_add(1, Ordering::SeqCst);
                stop.cancel();
                Err(error(ErrorKind::Throttled, None))
            })
            .await;
        assert_eq!(result.unwrap_err().kind(), ErrorKind::Throttled);
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }
}
