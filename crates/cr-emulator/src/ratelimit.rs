//! The clouds' API rate limits: a token bucket (or, on GCE, a per-minute quota) per account
//! and region and per class of call, shaped like each real cloud's and set per cloud in the
//! scenario (`clouds.<cloud>.rate_limit`: `realistic` or explicit numbers; docs/emulator.md).
//!
//! A cloud's handler asks [`crate::World::rate_limit`] once per call, after authentication and
//! the injected faults, with the scope the real cloud counts in (EC2: account and region;
//! GCE: project; ARM: subscription and principal; OCI: tenancy and region) and the class of
//! the call; a refused call is answered with the cloud's own throttle error and counted
//! ([`RateLimitCount`], in `GET /_emulator/state`). Buckets run on real (monotonic) time, not
//! the world clock: advancing the clock for expiry does not refill them.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::time::Instant;

use crate::world::CloudKind;

/// A cloud's rate limit in the scenario: the preset shaped like the real cloud, or explicit
/// buckets.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum RateLimit {
    /// `realistic`: the cloud's published defaults ([`RateLimits::realistic`]).
    Preset(Preset),
    /// Explicit buckets.
    Explicit(RateLimits),
}

/// The named rate-limit presets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Preset {
    /// The real cloud's default limits.
    Realistic,
}

/// One cloud's buckets by class of call. A class without a bucket is not limited; deletes
/// draw on `write` unless `delete` is given (ARM counts them apart).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimits {
    /// Mutating calls (EC2 non-`Describe*` actions, GCE inserts and deletes, ARM PUT/POST/
    /// PATCH, OCI POST/PUT/DELETE).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub write: Option<Bucket>,
    /// Reading calls (EC2 `Describe*`, GET elsewhere).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub read: Option<Bucket>,
    /// ARM DELETE (falls back to `write`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delete: Option<Bucket>,
}

/// One bucket: `burst` tokens refilled at `per_second`, or (GCE) `per_minute` calls in each
/// synchronized minute.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Bucket {
    /// Tokens the bucket holds when full (calls that can be made at once).
    #[serde(default)]
    pub burst: u64,
    /// Tokens added per second (0: never refilled).
    #[serde(default)]
    pub per_second: f64,
    /// A per-minute quota instead of a token bucket: this many calls in each minute counted
    /// from the bucket's first call, the count starting afresh at the next minute (GCE).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub per_minute: Option<u64>,
}

impl RateLimit {
    /// The buckets for `cloud`.
    pub fn resolve(&self, cloud: CloudKind) -> RateLimits {
        match self {
            RateLimit::Preset(Preset::Realistic) => RateLimits::realistic(cloud),
            RateLimit::Explicit(limits) => limits.clone(),
        }
    }

    /// What makes no sense in the limits, as a message naming the key.
    pub fn validate(&self, cloud: CloudKind) -> Result<(), String> {
        let limits = self.resolve(cloud);
        for (class, bucket) in [
            ("write", &limits.write),
            ("read", &limits.read),
            ("delete", &limits.delete),
        ] {
            let Some(b) = bucket else { continue };
            let key = format!("clouds.{}.rate_limit.{class}", cloud.as_str());
            match b.per_minute {
                Some(0) => return Err(format!("{key}.per_minute must be at least 1")),
                Some(_) if b.burst != 0 || b.per_second != 0.0 => {
                    return Err(format!(
                        "{key}: give either per_minute or burst and per_second, not both"
                    ));
                }
                Some(_) => {}
                None if b.burst == 0 => return Err(format!("{key}.burst must be at least 1")),
                None if !(b.per_second >= 0.0 && b.per_second.is_finite()) => {
                    return Err(format!("{key}.per_second must be a number ≥ 0"));
                }
                None => {}
            }
        }
        Ok(())
    }
}

impl RateLimits {
    /// The real cloud's default limits: EC2 mutating actions 50 / 5 per s and non-mutating
    /// 100 / 20 per s per account and region; GCE 1,500 writes and 1,500 reads per minute per
    /// project; ARM writes and deletes 200 / 10 per s, reads 250 / 25 per s per subscription
    /// and principal; OCI (which publishes no numbers) writes 20 / 5 per s and reads 100 / 20
    /// per s per tenancy and region.
    pub fn realistic(cloud: CloudKind) -> RateLimits {
        let bucket = |burst, per_second| {
            Some(Bucket {
                burst,
                per_second,
                per_minute: None,
            })
        };
        let per_minute = |n| {
            Some(Bucket {
                per_minute: Some(n),
                ..Bucket::default()
            })
        };
        match cloud {
            CloudKind::Aws => RateLimits {
                write: bucket(50, 5.0),
                read: bucket(100, 20.0),
                delete: None,
            },
            CloudKind::Gce => RateLimits {
                write: per_minute(1500),
                read: per_minute(1500),
                delete: None,
            },
            CloudKind::Azure => RateLimits {
                write: bucket(200, 10.0),
                read: bucket(250, 25.0),
                delete: bucket(200, 10.0),
            },
            CloudKind::Oci => RateLimits {
                write: bucket(20, 5.0),
                read: bucket(100, 20.0),
                delete: None,
            },
        }
    }
}

/// The class of a call, which picks its bucket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CallClass {
    /// A mutating call.
    Write,
    /// A reading call.
    Read,
    /// A delete (its own bucket on ARM, `write` elsewhere).
    Delete,
}

/// What one bucket let through and refused, in `GET /_emulator/state` (`rate_limited`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RateLimitCount {
    /// The cloud.
    pub cloud: CloudKind,
    /// The scope the cloud counts in (`<account>/<region>`, the project, ...).
    pub scope: String,
    /// The class of call.
    pub class: CallClass,
    /// Calls let through.
    pub admitted: u64,
    /// Calls refused with the cloud's throttle error.
    pub throttled: u64,
}

#[derive(Debug)]
struct BucketState {
    tokens: f64,
    last: Instant,
    admitted: u64,
    throttled: u64,
}

/// Every bucket's state. Part of [`crate::World`].
#[derive(Debug, Default)]
pub struct Limiter {
    buckets: Mutex<BTreeMap<(CloudKind, String, CallClass), BucketState>>,
}

impl Limiter {
    /// Forgets every bucket (they start full again).
    pub fn reset(&self) {
        self.lock().clear();
    }

    fn lock(
        &self,
    ) -> std::sync::MutexGuard<'_, BTreeMap<(CloudKind, String, CallClass), BucketState>> {
        self.buckets.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Takes a token for one call of `class` in `scope`: `None` when the call may go on, else
    /// how long until the bucket has a token again (the throttle's Retry-After).
    pub fn take(
        &self,
        limits: &RateLimits,
        cloud: CloudKind,
        scope: &str,
        class: CallClass,
    ) -> Option<Duration> {
        let bucket = match class {
            CallClass::Write => limits.write.as_ref(),
            CallClass::Read => limits.read.as_ref(),
            CallClass::Delete => limits.delete.as_ref().or(limits.write.as_ref()),
        }?;
        // Deletes without their own bucket share the writes'.
        let class = if class == CallClass::Delete && limits.delete.is_none() {
            CallClass::Write
        } else {
            class
        };
        let now = Instant::now();
        let mut buckets = self.lock();
        let state = buckets
            .entry((cloud, scope.to_owned(), class))
            .or_insert_with(|| BucketState {
                tokens: bucket.per_minute.unwrap_or(bucket.burst) as f64,
                last: now,
                admitted: 0,
                throttled: 0,
            });
        let wait = match bucket.per_minute {
            Some(n) => {
                let minute = Duration::from_secs(60);
                let since = now.duration_since(state.last);
                if since >= minute {
                    // A new minute: the count starts afresh, minutes still counted from the
                    // first call.
                    let minutes = since.as_secs() / 60;
                    state.last += minute * u32::try_from(minutes).unwrap_or(u32::MAX);
                    state.tokens = n as f64;
                }
                (state.tokens < 1.0).then(|| minute - now.duration_since(state.last))
            }
            None => {
                let elapsed = now.duration_since(state.last).as_secs_f64();
                state.tokens =
                    (state.tokens + elapsed * bucket.per_second).min(bucket.burst as f64);
                state.last = now;
                (state.tokens < 1.0).then(|| {
                    if bucket.per_second > 0.0 {
                        Duration::from_secs_f64((1.0 - state.tokens) / bucket.per_second)
                    } else {
                        Duration::from_secs(3600)
                    }
                })
            }
        };
        match wait {
            Some(wait) => {
                state.throttled += 1;
                Some(wait)
            }
            None => {
                state.tokens -= 1.0;
                state.admitted += 1;
                None
            }
        }
    }

    /// What every bucket let through and refused.
    pub fn counts(&self) -> Vec<RateLimitCount> {
        self.lock()
            .iter()
            .map(|((cloud, scope, class), s)| RateLimitCount {
                cloud: *cloud,
                scope: scope.clone(),
                class: *class,
                admitted: s.admitted,
                throttled: s.throttled,
            })
            .collect()
    }
}

/// Whole seconds for a Retry-After header: at least 1.
pub fn retry_after_secs(wait: Duration) -> u64 {
    wait.as_secs_f64().ceil().max(1.0) as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(burst: u64, per_second: f64) -> RateLimits {
        RateLimits {
            write: Some(Bucket {
                burst,
                per_second,
                per_minute: None,
            }),
            ..RateLimits::default()
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_bucket_lets_its_burst_through_then_refills_at_its_rate() {
        let l = Limiter::default();
        let lim = limits(3, 2.0);
        for _ in 0..3 {
            assert_eq!(l.take(&lim, CloudKind::Aws, "a/r", CallClass::Write), None);
        }
        let wait = l.take(&lim, CloudKind::Aws, "a/r", CallClass::Write);
        assert_eq!(wait, Some(Duration::from_millis(500)));
        // Another scope and an unlimited class are not affected.
        assert_eq!(l.take(&lim, CloudKind::Aws, "a/s", CallClass::Write), None);
        assert_eq!(l.take(&lim, CloudKind::Aws, "a/r", CallClass::Read), None);
        tokio::time::advance(Duration::from_millis(500)).await;
        assert_eq!(l.take(&lim, CloudKind::Aws, "a/r", CallClass::Write), None);
        assert!(
            l.take(&lim, CloudKind::Aws, "a/r", CallClass::Write)
                .is_some()
        );
        let c = l.counts();
        let w = c
            .iter()
            .find(|c| c.scope == "a/r" && c.class == CallClass::Write)
            .unwrap();
        assert_eq!((w.admitted, w.throttled), (4, 2));
    }

    #[tokio::test(start_paused = true)]
    async fn a_per_minute_quota_starts_afresh_each_minute() {
        let l = Limiter::default();
        let lim = RateLimits {
            read: Some(Bucket {
                per_minute: Some(2),
                ..Bucket::default()
            }),
            ..RateLimits::default()
        };
        let take = || l.take(&lim, CloudKind::Gce, "p", CallClass::Read);
        assert_eq!(take(), None);
        tokio::time::advance(Duration::from_secs(20)).await;
        assert_eq!(take(), None);
        assert_eq!(take(), Some(Duration::from_secs(40)));
        tokio::time::advance(Duration::from_secs(40)).await;
        assert_eq!(take(), None);
    }

    #[test]
    fn deletes_share_the_write_bucket_unless_given_their_own() {
        let l = Limiter::default();
        let lim = limits(1, 0.0);
        assert_eq!(l.take(&lim, CloudKind::Oci, "t", CallClass::Delete), None);
        assert!(
            l.take(&lim, CloudKind::Oci, "t", CallClass::Write)
                .is_some()
        );
    }

    #[test]
    fn the_scenario_forms_parse_and_bad_numbers_are_named() {
        let preset: RateLimit = serde_json::from_str("\"realistic\"").unwrap();
        assert_eq!(
            preset.resolve(CloudKind::Aws).write.unwrap().burst,
            50,
            "EC2's mutating bucket"
        );
        let explicit: RateLimit =
            serde_json::from_str(r#"{"write": {"burst": 1, "per_second": 0}}"#).unwrap();
        assert!(explicit.validate(CloudKind::Aws).is_ok());
        let bad: RateLimit = serde_json::from_str(r#"{"read": {"per_second": 3}}"#).unwrap();
        let e = bad.validate(CloudKind::Gce).unwrap_err();
        assert!(e.contains("clouds.gce.rate_limit.read.burst"), "{e}");
    }
}
