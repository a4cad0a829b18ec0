//! The scenario: what the emulated clouds have to offer and how badly they behave.
//!
//! A scenario is read from YAML or JSON (a file, `PUT /_emulator/scenario`, or built in code)
//! and describes, per cloud, regions → zones → instance type → instances available, a
//! per-region vCPU quotas, latency, how long long-running operations take and which faults to
//! inject. Everything not named keeps the defaults of [`crate::defaults`]: a region or zone
//! absent from the scenario exists with `default_capacity` instances of every type, and a zone
//! named with a map overrides only the types it lists.
//!
//! ```yaml
//! seed: 7
//! default_capacity: 1000
//! latency: {fixed_ms: 0, jitter_ms: 0}
//! lro_ms: 0
//! clock_skew_s: -600        # the clouds' clock 10 minutes behind the client's
//! clouds:
//!   aws:   {regions: {us-east-1: {quotas: {standard: 64}, zones: {us-east-1a: {i4i.large: 0}}}}}
//!   oci:   {regions: {us-phoenix-1: {zones: {AD-1: {VM.DenseIO.E5.Flex: 0}}}}}
//! faults:
//!   - {cloud: aws, operation: CreateCapacityReservation, kind: throttle, rate: 0.1}
//!   - {cloud: gce, operation: reservations.get, kind: garbage, garbage: truncated, rate: 0.05}
//! ```
//!
//! A negative count marks an instance type as not offered in that zone at all (it disappears
//! from `DescribeInstanceTypeOfferings` and creating a reservation for it is rejected as an
//! invalid request rather than a stockout); `0` means offered but out of stock.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::world::CloudKind;

/// The whole scenario. Unknown keys are rejected so that a misspelt key fails loudly instead
/// of silently doing nothing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// Seed of every random choice (fault injection, latency jitter): the same scenario and
    /// the same sequence of requests per operation give the same outcome.
    #[serde(default)]
    pub seed: u64,
    /// Instances available of any type in any zone that the scenario does not list.
    #[serde(default = "default_capacity")]
    pub default_capacity: u64,
    /// Added to every request before it is answered.
    #[serde(default)]
    pub latency: Latency,
    /// How long a long-running operation (GCE Operation, ARM async operation, OCI lifecycle
    /// transition, EC2 `pending` state) stays unfinished, in milliseconds.
    #[serde(default)]
    pub lro_ms: u64,
    /// How long a `hang` fault holds a request before dropping the connection, in
    /// milliseconds (meant to exceed the client's timeout).
    #[serde(default = "default_hang_ms")]
    pub hang_ms: u64,
    /// How far the clouds' clock is from the client's, in seconds: positive ahead, negative
    /// behind. Authentication checks it (EC2's `X-Amz-Date`, OCI's signed `date`, the GCE
    /// token endpoint's JWT `iat`/`exp`) and every answer's `Date` header carries it; the
    /// world clock of expiry and long-running operations is not moved. Also set at run time
    /// with `POST /_emulator/clock/skew`.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub clock_skew_s: i64,
    /// Per-cloud capacity and options.
    #[serde(default)]
    pub clouds: Clouds,
    /// Faults injected at the given rates.
    #[serde(default)]
    pub faults: Vec<Fault>,
}

fn default_capacity() -> u64 {
    1000
}

fn default_hang_ms() -> u64 {
    60_000
}

fn is_zero(n: &i64) -> bool {
    *n == 0
}

impl Default for Scenario {
    fn default() -> Self {
        Scenario {
            seed: 0,
            default_capacity: default_capacity(),
            latency: Latency::default(),
            lro_ms: 0,
            hang_ms: default_hang_ms(),
            clock_skew_s: 0,
            clouds: Clouds::default(),
            faults: Vec::new(),
        }
    }
}

/// Latency added to requests: `fixed_ms` plus a seeded uniform jitter in `0..=jitter_ms`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Latency {
    /// Always added.
    #[serde(default)]
    pub fixed_ms: u64,
    /// Upper bound of the random part.
    #[serde(default)]
    pub jitter_ms: u64,
    /// Overrides for single operations, keyed by `Operation` or `cloud:Operation`
    /// (e.g. `aws:CreateCapacityReservation`, `gce:reservations.insert`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub operations: BTreeMap<String, OperationLatency>,
}

/// Latency of one operation.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OperationLatency {
    /// Always added.
    #[serde(default)]
    pub fixed_ms: u64,
    /// Upper bound of the random part.
    #[serde(default)]
    pub jitter_ms: u64,
}

/// The four clouds.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Clouds {
    /// AWS EC2.
    #[serde(default)]
    pub aws: CloudScenario,
    /// Google Compute Engine.
    #[serde(default)]
    pub gce: CloudScenario,
    /// Azure Resource Manager.
    #[serde(default)]
    pub azure: CloudScenario,
    /// Oracle Cloud Infrastructure.
    #[serde(default)]
    pub oci: CloudScenario,
}

impl Clouds {
    /// The part of the scenario for one cloud.
    pub fn get(&self, cloud: CloudKind) -> &CloudScenario {
        match cloud {
            CloudKind::Aws => &self.aws,
            CloudKind::Gce => &self.gce,
            CloudKind::Azure => &self.azure,
            CloudKind::Oci => &self.oci,
        }
    }

    /// Mutable access to the part of the scenario for one cloud.
    pub fn get_mut(&mut self, cloud: CloudKind) -> &mut CloudScenario {
        match cloud {
            CloudKind::Aws => &mut self.aws,
            CloudKind::Gce => &mut self.gce,
            CloudKind::Azure => &mut self.azure,
            CloudKind::Oci => &mut self.oci,
        }
    }
}

/// One cloud's capacity and behaviour switches.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CloudScenario {
    /// Regions whose capacity differs from the default (or that the defaults lack).
    #[serde(default)]
    pub regions: BTreeMap<String, RegionScenario>,
    /// Permissions the caller lacks, in the cloud's names (`ec2:CreateCapacityReservation`,
    /// `compute.reservations.create`, `Microsoft.Compute/capacityReservationGroups/write`,
    /// OCI's `COMPUTE_CAPACITY_RESERVATION_CREATE`): every operation needing one of them
    /// ([`crate::iam::required_permissions`]) is refused with the cloud's authorization
    /// error, and the permission-query endpoints answer from the same list.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub denied_permissions: Vec<String>,
    /// Overrides the top-level `lro_ms` for this cloud.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lro_ms: Option<u64>,
    /// Behaviour switches for points the wire reference marks as unverified, documented per
    /// cloud in docs/emulator.md (e.g. `aws: {auth_failure_status: 403}`,
    /// `gce: {stockout: sync}`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub options: BTreeMap<String, serde_json::Value>,
    /// The cloud's API rate limits (`realistic`, or explicit buckets; [`crate::ratelimit`]).
    /// Unlimited when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_limit: Option<crate::ratelimit::RateLimit>,
}

impl CloudScenario {
    /// A string option, if set.
    pub fn option_str(&self, key: &str) -> Option<&str> {
        self.options.get(key).and_then(|v| v.as_str())
    }

    /// An integer option, if set (accepts numbers and numeric strings).
    pub fn option_u64(&self, key: &str) -> Option<u64> {
        match self.options.get(key)? {
            serde_json::Value::Number(n) => n.as_u64(),
            serde_json::Value::String(s) => s.parse().ok(),
            _ => None,
        }
    }

    /// A boolean option, if set.
    pub fn option_bool(&self, key: &str) -> Option<bool> {
        self.options.get(key).and_then(|v| v.as_bool())
    }
}

/// One region.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegionScenario {
    /// Zone name (for OCI a full availability-domain name or its `AD-N` suffix) →
    /// instance type → instances available (negative: type not offered in the zone).
    #[serde(default)]
    pub zones: BTreeMap<String, BTreeMap<String, i64>>,
    /// Compute quota limits of the region in vCPUs (OCI: OCPUs, per availability domain),
    /// keyed by the cloud's metric name: a family (`standard` / `G` / `P` … on EC2,
    /// `N2_CPUS` on GCE, `standardDSv5Family` on Azure, `standard-e4-core-count` on OCI) or
    /// the regional total (GCE `CPUS`, Azure `cores`). Every reservation holding capacity
    /// counts; a metric not named has [`crate::quota::DEFAULT_VCPU_QUOTA`]. See
    /// [`crate::quota`].
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub quotas: BTreeMap<String, u64>,
    /// AWS only: placement groups that exist in the region from the start.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub placement_groups: Vec<PlacementGroupSeed>,
}

impl RegionScenario {
    /// Sets the quota of `instance_type`'s family (its first metric, see
    /// [`crate::quota::quota_shape`]) to what `instances` of it take, so that a test can say
    /// "room for n of these" in the cloud's own unit.
    pub fn limit_to_instances(&mut self, cloud: CloudKind, instance_type: &str, instances: u64) {
        let shape = crate::quota::quota_shape(cloud, instance_type);
        self.quotas
            .insert(shape.metrics[0].clone(), instances * u64::from(shape.vcpus));
    }
}

/// An AWS placement group named by the scenario.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlacementGroupSeed {
    /// Group name.
    pub name: String,
    /// `cluster`, `spread` or `partition`.
    #[serde(default = "default_pg_strategy")]
    pub strategy: String,
    /// Tags of the group.
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
}

fn default_pg_strategy() -> String {
    "cluster".to_owned()
}

/// A fault injected into one operation of one cloud.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Fault {
    /// `aws`, `gce`, `azure` or `oci`.
    pub cloud: CloudKind,
    /// Operation name as logged in `/_emulator/requests` (EC2 `Action`, GCE method such as
    /// `reservations.insert`, ...), or `*` for every operation of the cloud. Matched without
    /// regard to case.
    pub operation: String,
    /// What goes wrong.
    pub kind: FaultKind,
    /// Probability per request, `0.0..=1.0`.
    pub rate: f64,
    /// Stop injecting after this many hits (unlimited when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<u64>,
    /// For [`FaultKind::Garbage`]: which garbage answer. Absent: each hit draws one of
    /// [`GarbageForm::ALL`] from the fault's seeded stream.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub garbage: Option<GarbageForm>,
}

/// The answers of the `garbage` fault: what a broken API, a proxy or a cut connection hands a
/// client instead of the documented answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GarbageForm {
    /// The real answer cut in half (same status and content type).
    Truncated,
    /// The real answer with every value of the wrong type (JSON strings as numbers and so on;
    /// EC2 XML texts that parse as nothing).
    WrongTypes,
    /// The real answer without its scalar fields (ids, states, counts).
    MissingFields,
    /// `502 Bad Gateway`, `text/html`: a proxy's error page.
    #[serde(rename = "html_502", alias = "bad_gateway")]
    HtmlBadGateway,
    /// `200 OK` with the cloud's error document (an internal error) as the body.
    #[serde(rename = "error_200", alias = "error_in_200")]
    ErrorIn200,
}

impl GarbageForm {
    /// Every form, in a stable order.
    pub const ALL: [GarbageForm; 5] = [
        GarbageForm::Truncated,
        GarbageForm::WrongTypes,
        GarbageForm::MissingFields,
        GarbageForm::HtmlBadGateway,
        GarbageForm::ErrorIn200,
    ];
}

/// The kinds of fault the emulator injects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum FaultKind {
    /// The cloud's throttling error (EC2 `RequestLimitExceeded` 503, GCE 429/403
    /// `rateLimitExceeded`, ARM 429 with `Retry-After`, OCI 429 `TooManyRequests`).
    #[serde(rename = "throttle", alias = "throttling")]
    Throttle,
    /// The cloud's internal server error (5xx).
    #[serde(rename = "5xx", alias = "server_error", alias = "internal_error")]
    ServerError,
    /// The connection is dropped without an answer.
    #[serde(
        rename = "connection_reset",
        alias = "connection reset",
        alias = "connection-reset",
        alias = "reset"
    )]
    ConnectionReset,
    /// The request is held for `hang_ms`, then the connection is dropped.
    #[serde(rename = "hang", alias = "timeout")]
    Hang,
    /// The request is carried out, then the connection is dropped instead of answering: the
    /// client cannot tell whether it happened, so only an idempotent retry is safe.
    #[serde(rename = "lost_reply", alias = "lost-reply", alias = "reply_lost")]
    LostReply,
    /// A long-running operation is accepted but finishes with an error.
    #[serde(
        rename = "failed_lro",
        alias = "failed long-running operation",
        alias = "failed-lro",
        alias = "lro_failure"
    )]
    FailedLro,
    /// The request is carried out, then answered with garbage ([`GarbageForm`]: truncated,
    /// wrong types, missing fields, a proxy's HTML 502, or 200 with an error body).
    #[serde(rename = "garbage", alias = "garbage_response")]
    Garbage,
}

/// Reading a scenario failed.
#[derive(Debug, thiserror::Error)]
pub enum ScenarioError {
    /// The file could not be read.
    #[error("cannot read scenario file {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
    /// The text is not a valid scenario.
    #[error("invalid scenario: {0}")]
    Parse(String),
    /// The scenario parsed but makes no sense.
    #[error("invalid scenario: {0}")]
    Invalid(String),
}

impl Scenario {
    /// Parses YAML (JSON is accepted too: `{` as the first non-blank character selects the
    /// JSON parser).
    pub fn from_str_any(text: &str) -> Result<Scenario, ScenarioError> {
        let scenario: Scenario = if text.trim_start().starts_with('{') {
            serde_json::from_str(text).map_err(|e| ScenarioError::Parse(e.to_string()))?
        } else if text.trim().is_empty() {
            Scenario::default()
        } else {
            serde_saphyr::from_str(text).map_err(|e| ScenarioError::Parse(e.to_string()))?
        };
        scenario.validate()?;
        Ok(scenario)
    }

    /// Reads a YAML or JSON file.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Scenario, ScenarioError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|source| ScenarioError::Io {
            path: path.display().to_string(),
            source,
        })?;
        Scenario::from_str_any(&text)
    }

    /// Checks values serde cannot check.
    pub fn validate(&self) -> Result<(), ScenarioError> {
        for cloud in CloudKind::ALL {
            for (region, r) in &self.clouds.get(cloud).regions {
                for metric in r.quotas.keys() {
                    if !crate::quota::is_metric(cloud, metric) {
                        return Err(ScenarioError::Invalid(format!(
                            "clouds.{cloud}.regions.{region}.quotas: {metric} is not a {cloud} \
                             quota metric ({})",
                            crate::quota::metric_hint(cloud)
                        )));
                    }
                }
            }
        }
        for f in &self.faults {
            if !(0.0..=1.0).contains(&f.rate) || f.rate.is_nan() {
                return Err(ScenarioError::Invalid(format!(
                    "fault rate {} for {}:{} is outside 0..=1",
                    f.rate, f.cloud, f.operation
                )));
            }
        }
        for cloud in CloudKind::ALL {
            if let Some(limit) = &self.clouds.get(cloud).rate_limit {
                limit.validate(cloud).map_err(ScenarioError::Invalid)?;
            }
        }
        Ok(())
    }

    /// Every cloud with its real API rate limits ([`crate::ratelimit::RateLimits::realistic`]).
    pub fn with_realistic_rate_limits(mut self) -> Scenario {
        for cloud in CloudKind::ALL {
            self.clouds.get_mut(cloud).rate_limit = Some(crate::ratelimit::RateLimit::Preset(
                crate::ratelimit::Preset::Realistic,
            ));
        }
        self
    }

    /// The scenario used by `cr ... --emulator`: ample capacity everywhere except the first
    /// zone of each cloud's best-known region, which is out of stock for one popular type, so
    /// that a demo shows zone fallback.
    pub fn demo() -> Scenario {
        let mut s = Scenario {
            seed: 1,
            ..Scenario::default()
        };
        let stock_out = |region: &str, zone: &str, ty: &str| {
            let mut zones = BTreeMap::new();
            zones.insert(zone.to_owned(), BTreeMap::from([(ty.to_owned(), 0i64)]));
            (
                region.to_owned(),
                RegionScenario {
                    zones,
                    ..RegionScenario::default()
                },
            )
        };
        s.clouds
            .aws
            .regions
            .extend([stock_out("us-east-1", "us-east-1a", "i4i.large")]);
        s.clouds
            .gce
            .regions
            .extend([stock_out("us-east1", "us-east1-b", "n2-highmem-16")]);
        s.clouds
            .azure
            .regions
            .extend([stock_out("eastus", "1", "Standard_L8s_v3")]);
        s.clouds
            .oci
            .regions
            .extend([stock_out("us-phoenix-1", "AD-1", "VM.DenseIO.E5.Flex")]);
        s
    }
}

/// See [`Scenario::demo`].
pub fn demo_scenario() -> Scenario {
    Scenario::demo()
}
