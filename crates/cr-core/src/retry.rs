//! Retries of throttled and transient cloud calls: jittered exponential backoff, honouring a
//! server's Retry-After, bounded in count and in time.

use std::time::Duration;

/// How the engine retries retryable failures.
#[derive(Debug, Clone, PartialEq)]
pub struct RetryPolicy {
    /// Retries after the first attempt.
    pub max_retries: usize,
    /// First delay.
    pub min_delay: Duration,
    /// Largest delay between two attempts (also caps a server's Retry-After).
    pub max_delay: Duration,
    /// Give up once this much time has passed since the first attempt.
    pub max_elapsed: Duration,
    /// Randomise delays (full jitter).
    pub jitter: bool,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_retries: 6,
            min_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(30),
            max_elapsed: Duration::from_secs(180),
            jitter: true,
        }
    }
}

impl RetryPolicy {
    /// A policy for tests: tiny delays.
    pub fn fast() -> Self {
        RetryPolicy {
            max_retries: 4,
            min_delay: Duration::from_millis(1),
            max_delay: Duration::from_millis(20),
            max_elapsed: Duration::from_secs(10),
            jitter: true,
        }
    }
}
