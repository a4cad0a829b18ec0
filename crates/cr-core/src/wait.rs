//! The one polling loop of cr: waiting for something the cloud does in the background (a
//! reservation being created, a long-running operation) with growing pauses, the server's
//! Retry-After, a deadline and a stop token. The engine waits for reservations to become
//! usable with it, and adapters wait for their long-running operations with it, so every
//! cloud shares one wait instead of each writing its own.

use std::future::Future;
use std::time::Duration;

use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::error::Result;

/// How a wait polls: the first pause, growing by half each poll up to `max_interval` (a
/// server's Retry-After, when given, is used instead).
#[derive(Debug, Clone, PartialEq)]
pub struct WaitPolicy {
    /// The first pause between two polls.
    pub first_interval: Duration,
    /// The longest pause between two polls.
    pub max_interval: Duration,
    /// How long a rollback or cancel waits for a reservation still being created to finish
    /// before cancelling it (clouds refuse to delete one mid-creation).
    pub settle_timeout: Duration,
}

impl Default for WaitPolicy {
    fn default() -> Self {
        WaitPolicy {
            first_interval: Duration::from_millis(500),
            max_interval: Duration::from_secs(10),
            settle_timeout: Duration::from_secs(10 * 60),
        }
    }
}

impl WaitPolicy {
    /// A policy for tests: tiny pauses.
    pub fn fast() -> Self {
        WaitPolicy {
            first_interval: Duration::from_millis(5),
            max_interval: Duration::from_millis(50),
            settle_timeout: Duration::from_secs(10),
        }
    }
}

/// What one look at the awaited thing found.
#[derive(Debug)]
pub enum Poll<T> {
    /// Done: stop waiting.
    Ready(T),
    /// Not yet; look again after `retry_after` if the server said when.
    Pending {
        /// A server-supplied delay before the next look.
        retry_after: Option<Duration>,
    },
}

/// How a wait ended, when no look failed.
#[derive(Debug)]
pub enum Waited<T> {
    /// A look found it done.
    Ready(T),
    /// The deadline passed first.
    TimedOut,
    /// The stop token was cancelled first.
    Stopped,
}

/// Looks with `look` until it is ready or fails, pausing per `policy` between looks, until
/// `deadline` (if any) passes or `stop` (if any) is cancelled. A pause never runs past the
/// deadline and ends early when `stop` is cancelled. A look that fails ends the wait with
/// its error.
pub async fn poll_until<T, F, Fut>(
    policy: &WaitPolicy,
    deadline: Option<Instant>,
    stop: Option<&CancellationToken>,
    mut look: F,
) -> Result<Waited<T>>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<Poll<T>>>,
{
    let mut interval = policy.first_interval;
    loop {
        match look().await? {
            Poll::Ready(value) => return Ok(Waited::Ready(value)),
            Poll::Pending { retry_after } => {
                if stop.is_some_and(CancellationToken::is_cancelled) {
                    return Ok(Waited::Stopped);
                }
                let now = Instant::now();
                if deadline.is_some_and(|d| now >= d) {
                    return Ok(Waited::TimedOut);
                }
                let mut delay = retry_after.unwrap_or(interval).min(policy.max_interval);
                if let Some(d) = deadline {
                    delay = delay.min(d - now);
                }
                pause(delay, stop).await;
                interval = (interval + interval / 2).min(policy.max_interval);
            }
        }
    }
}

/// Sleeps for `delay`, or less if `stop` is cancelled meanwhile.
pub async fn pause(delay: Duration, stop: Option<&CancellationToken>) {
    match stop {
        Some(token) => {
            tokio::select! {
                () = tokio::time::sleep(delay) => {}
                () = token.cancelled() => {}
            }
        }
        None => tokio::time::sleep(delay).await,
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    #[tokio::test(start_paused = true)]
    async fn pauses_grow_and_honour_retry_after_until_ready() {
        let looks = AtomicUsize::new(0);
        let start = Instant::now();
        let policy = WaitPolicy {
            first_interval: Duration::from_millis(100),
            max_interval: Duration::from_millis(200),
            settle_timeout: Duration::from_secs(1),
        };
        let waited = poll_until(&policy, None, None, || async {
            Ok(match looks.fetch_add(1, Ordering::SeqCst) {
                0..=2 => Poll::Pending { retry_after: None },
                3 => Poll::Pending {
                    retry_after: Some(Duration::from_millis(150)),
                },
                n => Poll::Ready(n),
            })
        })
        .await
        .unwrap();
        assert!(matches!(waited, Waited::Ready(4)));
        // 100 + 150 + 200 (capped) + 150 (the server's).
        assert_eq!(start.elapsed(), Duration::from_millis(600));
    }

    #[tokio::test(start_paused = true)]
    async fn a_deadline_or_a_stop_ends_the_wait() {
        let policy = WaitPolicy::fast();
        let pending = || async { Ok(Poll::<()>::Pending { retry_after: None }) };
        let deadline = Instant::now() + Duration::from_secs(2);
        let waited = poll_until(&policy, Some(deadline), None, pending)
            .await
            .unwrap();
        assert!(matches!(waited, Waited::TimedOut));
        assert!(Instant::now() >= deadline);
        assert!(Instant::now() < deadline + policy.max_interval);

        let stop = CancellationToken::new();
        stop.cancel();
        let waited = poll_until(&policy, None, Some(&stop), pending)
            .await
            .unwrap();
        assert!(matches!(waited, Waited::Stopped));
    }
}
