//! Classified errors: every failure says what failed, where, the cloud's own code, and what
//! the user can do about it.

use std::fmt;
use std::time::Duration;

use serde::Serialize;

use crate::cloud::Cloud;

/// Convenient result alias.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What kind of failure an [`Error`] is; the engine decides fallback and retry on this alone,
/// never on message strings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ErrorKind {
    /// The zone has no capacity for the instance type (stockout): try the next zone.
    CapacityUnavailable,
    /// The zone does not offer the instance type at all: try the next zone.
    NotOffered,
    /// An account, project or subscription quota is exhausted. Its [`QuotaScope`] says
    /// whether another zone can help.
    QuotaExceeded,
    /// The cloud is rate limiting: retry with backoff.
    Throttled,
    /// Bad, expired or insufficient credentials: stop at once.
    Unauthorized,
    /// The cloud refused the request because this machine's clock is too far from its own
    /// (EC2 `RequestExpired`, OCI 401 with a `Date` minutes away, GCE `invalid_grant` for
    /// the JWT's `iat`/`exp`): stop at once, a retry is signed with the same clock.
    ClockSkew,
    /// The cloud rejected the request as invalid: stop at once.
    InvalidRequest,
    /// The resource does not exist (any more).
    NotFound,
    /// The cloud did not answer in time: retry.
    Timeout,
    /// A temporary server or network failure: retry.
    Transient,
    /// The configuration is wrong: names the file and key.
    InvalidConfig,
    /// The backend is not compiled in, unknown, or not implemented yet.
    Unsupported,
    /// The caller stopped the operation (a signal, a cancellation token).
    Interrupted,
    /// A rollback or cancel could not release everything: reservations are still held.
    RollbackFailed,
    /// A failure that fits none of the above.
    Other,
}

/// How far a quota reaches: whether trying another zone or region can help.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum QuotaScope {
    /// One zone (OCI availability-domain limits): the next zone may have room.
    Zone,
    /// One region (EC2 vCPU limits, GCE regional quotas, Azure regional vCPU quotas): no
    /// other zone of the region helps; another region might.
    Region,
    /// The whole account, project or subscription: nothing else helps.
    Account,
}

impl fmt::Display for QuotaScope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            QuotaScope::Zone => "zone",
            QuotaScope::Region => "region",
            QuotaScope::Account => "account",
        })
    }
}

impl ErrorKind {
    /// Whether an operation that failed with this kind may be retried as it is.
    pub fn is_retryable(self) -> bool {
        matches!(
            self,
            ErrorKind::Throttled | ErrorKind::Timeout | ErrorKind::Transient
        )
    }

    /// Whether the engine should move on to the next zone after this failure (for a quota,
    /// only when its scope is a zone: see [`CloudError::quota_scope`]).
    pub fn is_zone_fallback(self) -> bool {
        matches!(
            self,
            ErrorKind::CapacityUnavailable | ErrorKind::NotOffered | ErrorKind::QuotaExceeded
        )
    }

    fn hint(self) -> &'static str {
        match self {
            ErrorKind::CapacityUnavailable => {
                "the cloud has no capacity for this instance type here right now: allow more zones or regions, choose another instance type, or retry later"
            }
            ErrorKind::NotOffered => {
                "this zone does not offer the instance type: allow other zones, or choose a type the zone offers"
            }
            ErrorKind::QuotaExceeded => {
                "a quota is exhausted: raise the quota the cloud's message names, for this region (the cloud console's quota page), or release unused reservations"
            }
            ErrorKind::Throttled => "the cloud is rate limiting requests: retry later",
            ErrorKind::Unauthorized => {
                "check the credentials and that they grant the permissions printed by `cr permissions --backend <backend>`"
            }
            ErrorKind::ClockSkew => {
                "this machine's clock is too far from the cloud's (it refuses requests signed at the wrong time): sync the clock with NTP (`chronyc makestep`, or `timedatectl set-ntp true`), then retry"
            }
            ErrorKind::InvalidRequest => {
                "the cloud rejected the request: check the configuration values it was built from"
            }
            ErrorKind::NotFound => "the resource does not exist (any more)",
            ErrorKind::Timeout => "the cloud did not answer in time: retry",
            ErrorKind::Transient => "a temporary cloud or network failure: retry",
            ErrorKind::InvalidConfig => "fix the configuration",
            ErrorKind::Unsupported => "see `cr plan` for the backends compiled in",
            ErrorKind::Interrupted => "",
            ErrorKind::RollbackFailed => "",
            ErrorKind::Other => "",
        }
    }
}

/// Where a cloud call failed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Location {
    /// The cloud.
    pub cloud: Option<Cloud>,
    /// Region, when known.
    pub region: Option<String>,
    /// Zone (availability zone, availability domain), when known.
    pub zone: Option<String>,
    /// Instance type (machine type, VM size, shape), when known.
    pub instance_type: Option<String>,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut parts = Vec::new();
        if let Some(c) = self.cloud {
            parts.push(format!("cloud {c}"));
        }
        if let Some(r) = &self.region {
            parts.push(format!("region {r}"));
        }
        if let Some(z) = &self.zone {
            parts.push(format!("zone {z}"));
        }
        if let Some(t) = &self.instance_type {
            parts.push(format!("instance type {t}"));
        }
        f.write_str(&parts.join(", "))
    }
}

/// A failed cloud call, classified where it entered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CloudError {
    /// The classification.
    pub kind: ErrorKind,
    /// Where.
    pub location: Location,
    /// The cloud operation (e.g. `CreateCapacityReservation`, `reservations.insert`).
    pub operation: String,
    /// The cloud's own error code (e.g. `InsufficientInstanceCapacity`).
    pub code: String,
    /// The cloud's own message (never containing secrets).
    pub message: String,
    /// A server-supplied delay before retrying, if any.
    #[serde(skip)]
    pub retry_after: Option<Duration>,
    /// The cloud's request id, for support cases.
    pub request_id: Option<String>,
    /// For [`ErrorKind::QuotaExceeded`]: how far the quota reaches (`None`: a region).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub quota_scope: Option<QuotaScope>,
    /// The cloud said the operation finished without effect (a long-running operation that
    /// ended with this error): nothing was created, and the same idempotency token would
    /// only get this failure back, so a retry must use a fresh one. `false` for errors whose
    /// outcome is unknown (timeouts, resets, most 5xx).
    #[serde(skip)]
    pub settled: bool,
}

impl CloudError {
    /// A new classified cloud error.
    pub fn new(
        kind: ErrorKind,
        cloud: Cloud,
        operation: impl Into<String>,
        code: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        CloudError {
            kind,
            location: Location {
                cloud: Some(cloud),
                ..Location::default()
            },
            operation: operation.into(),
            code: code.into(),
            message: message.into(),
            retry_after: None,
            request_id: None,
            quota_scope: None,
            settled: false,
        }
    }

    /// Sets the scope of a quota error.
    pub fn quota_scope(mut self, scope: QuotaScope) -> Self {
        self.quota_scope = Some(scope);
        self
    }

    /// Marks the error as settled: see [`CloudError::settled`].
    pub fn settled(mut self) -> Self {
        self.settled = true;
        self
    }

    /// The scope of a quota error: a region unless the cloud said otherwise.
    pub fn scope(&self) -> QuotaScope {
        self.quota_scope.unwrap_or(QuotaScope::Region)
    }

    /// Whether the next zone of the same region may succeed after this failure.
    pub fn next_zone_may_help(&self) -> bool {
        match self.kind {
            ErrorKind::QuotaExceeded => self.scope() == QuotaScope::Zone,
            kind => kind.is_zone_fallback(),
        }
    }

    /// Sets the region.
    pub fn region(mut self, region: impl Into<String>) -> Self {
        self.location.region = Some(region.into());
        self
    }

    /// Sets the zone.
    pub fn zone(mut self, zone: impl Into<String>) -> Self {
        self.location.zone = Some(zone.into());
        self
    }

    /// Sets the instance type.
    pub fn instance_type(mut self, t: impl Into<String>) -> Self {
        self.location.instance_type = Some(t.into());
        self
    }

    /// Sets a server-supplied retry delay.
    pub fn retry_after(mut self, d: Option<Duration>) -> Self {
        self.retry_after = d;
        self
    }

    /// Sets the cloud's request id.
    pub fn request_id(mut self, id: Option<String>) -> Self {
        self.request_id = id;
        self
    }
}

impl fmt::Display for CloudError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} failed", self.operation)?;
        let loc = self.location.to_string();
        if !loc.is_empty() {
            write!(f, " ({loc})")?;
        }
        if self.code.is_empty() {
            write!(f, ": {}", self.message)?;
        } else {
            write!(f, ": {}: {}", self.code, self.message)?;
        }
        if let Some(id) = &self.request_id {
            write!(f, " [request id {id}]")?;
        }
        let hint = self.kind.hint();
        if !hint.is_empty() {
            match self.location.cloud {
                Some(cloud) => write!(f, " — {}", hint.replace("<backend>", cloud.as_str()))?,
                None => write!(f, " — {hint}")?,
            }
        }
        Ok(())
    }
}

/// A configuration value that is wrong: names the file, the key, the value and what was expected.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ConfigError {
    /// Where the value came from: a file path, `SCT_<KEY>` environment variable, or `defaults`.
    pub source: String,
    /// The configuration key.
    pub key: String,
    /// The offending value as written.
    pub value: String,
    /// What was expected instead.
    pub expected: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "invalid configuration in {}: key `{}` has value `{}`, expected {}",
            self.source, self.key, self.value, self.expected
        )
    }
}

/// One zone the engine tried, and why it failed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ZoneAttempt {
    /// The zone.
    pub zone: String,
    /// The failure that made the engine leave the zone.
    pub error: CloudError,
}

/// A configured zone the engine did not try.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct SkippedZone {
    /// The zone.
    pub zone: String,
    /// Why (e.g. "does not offer i4i.large").
    pub reason: String,
}

/// What a [`Leftover`] is.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LeftoverKind {
    /// A reservation.
    #[default]
    Reservation,
    /// A region resource holding reservations (an Azure capacity reservation group).
    RegionResources,
    /// Reservations that may exist but could not be checked: a create's outcome was unknown
    /// and listing its region failed. `cr cleanup` finds them by the test id.
    Unverified,
}

/// A reservation a rollback or cancel could not release: the user must release it by hand.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct Leftover {
    /// What it is.
    #[serde(default)]
    pub kind: LeftoverKind,
    /// The reservation id (for region resources: the region, or the resource's id).
    pub id: String,
    /// Region.
    pub region: String,
    /// Zone (`None` for regional reservations and region resources).
    pub zone: Option<String>,
    /// Instance type (empty for region resources).
    pub instance_type: String,
    /// Why the cancel failed.
    pub error: String,
}

impl Leftover {
    /// `region/zone`, or just the region when there is no zone.
    pub fn place(&self) -> String {
        match &self.zone {
            Some(zone) => format!("{}/{zone}", self.region),
            None => self.region.clone(),
        }
    }
}

/// Every error cr returns.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The zone has no capacity for the instance type.
    #[error("{0}")]
    CapacityUnavailable(Box<CloudError>),
    /// The zone does not offer the instance type.
    #[error("{0}")]
    NotOffered(Box<CloudError>),
    /// A quota is exhausted.
    #[error("{0}")]
    QuotaExceeded(Box<CloudError>),
    /// The cloud throttled the request (after retries).
    #[error("{0}")]
    Throttled(Box<CloudError>),
    /// Credentials are missing, wrong, expired or lack a permission.
    #[error("{0}")]
    Unauthorized(Box<CloudError>),
    /// The cloud rejected the request as invalid.
    #[error("{0}")]
    InvalidRequest(Box<CloudError>),
    /// The resource was not found.
    #[error("{0}")]
    NotFound(Box<CloudError>),
    /// The cloud did not answer in time (after retries).
    #[error("{0}")]
    Timeout(Box<CloudError>),
    /// A temporary failure persisted through every retry.
    #[error("{0}")]
    Transient(Box<CloudError>),
    /// The configuration is wrong.
    #[error("{0}")]
    InvalidConfig(Box<ConfigError>),
    /// A configuration file could not be read or parsed.
    #[error("cannot read configuration file {path}: {message}")]
    ConfigFile {
        /// The file.
        path: String,
        /// What went wrong (with line and column where known).
        message: String,
    },
    /// Reservations are not enabled for this configuration.
    #[error("capacity reservation is disabled for backend {backend}: {reason}")]
    Disabled {
        /// The backend.
        backend: Cloud,
        /// Exactly why.
        reason: String,
    },
    /// No zone of a region could hold every demand.
    #[error("{}", no_zone_message(*.cloud, .region, .attempts, .skipped))]
    NoZoneAvailable {
        /// The cloud.
        cloud: Cloud,
        /// The region.
        region: String,
        /// Every zone tried, in order, with its cloud error.
        attempts: Vec<ZoneAttempt>,
        /// Configured zones not tried, with why.
        skipped: Vec<SkippedZone>,
    },
    /// A quota that no other zone of the region shares room with is exhausted.
    #[error("{}", quota_message(.region, .attempts, .error))]
    QuotaExhausted {
        /// The region.
        region: String,
        /// The zones tried before, in order.
        attempts: Vec<ZoneAttempt>,
        /// The quota error.
        error: Box<CloudError>,
    },
    /// The caller stopped the operation (a signal or a cancellation token); what it had
    /// reserved was released (or the error is [`Error::RollbackFailed`]).
    #[error("{operation} was interrupted ({reason}); nothing it reserved is held any more")]
    Interrupted {
        /// What was interrupted (`reserve`).
        operation: String,
        /// Why (`SIGINT`, `cancelled by the caller`).
        reason: String,
    },
    /// The reserve's overall deadline passed; what it had reserved was released.
    #[error("{operation} on {cloud} did not finish within its deadline of {} s; nothing it reserved is held any more — raise the deadline (`--reserve-timeout`, `CR_RESERVE_TIMEOUT`) or retry later", .after.as_secs())]
    DeadlineExceeded {
        /// The cloud.
        cloud: Cloud,
        /// What ran out of time (`reserve`).
        operation: String,
        /// The deadline.
        after: Duration,
    },
    /// The operation failed and the rollback that followed could not release everything.
    #[error("{cause}; ROLLBACK FAILED, these reservations are still held and must be cancelled by hand (`cr cleanup`): {}", format_leftovers(.leftovers))]
    RollbackFailed {
        /// The failure that triggered the rollback.
        cause: Box<Error>,
        /// What could not be released.
        leftovers: Vec<Leftover>,
    },
    /// The backend name is unknown or not compiled in.
    #[error("{0}")]
    UnknownBackend(String),
    /// The backend exists but this operation is not implemented for it yet.
    #[error(
        "backend {backend} is not implemented yet in this build of cr: {operation} is not available (nothing was reserved)"
    )]
    NotImplemented {
        /// The backend.
        backend: Cloud,
        /// The operation asked for.
        operation: String,
    },
    /// A classified cloud error of a kind without a variant of its own (its code and
    /// request id kept, never flattened into text).
    #[error("{0}")]
    Cloud(Box<CloudError>),
    /// Anything else (I/O on local files).
    #[error("{0}")]
    Other(String),
}

fn no_zone_message(
    cloud: Cloud,
    region: &str,
    attempts: &[ZoneAttempt],
    skipped: &[SkippedZone],
) -> String {
    let mut text = format!(
        "no zone of {cloud} region {region} could hold every demand; zones tried: {}",
        format_attempts(attempts)
    );
    if !skipped.is_empty() {
        let s: Vec<String> = skipped
            .iter()
            .map(|z| format!("{} ({})", z.zone, z.reason))
            .collect();
        text.push_str(&format!("; configured zones skipped: {}", s.join("; ")));
    }
    let kinds: Vec<ErrorKind> = attempts.iter().map(|a| a.error.kind).collect();
    let mut advice = vec![
        "allow more zones or regions",
        "choose another instance type",
    ];
    if kinds.contains(&ErrorKind::QuotaExceeded) {
        advice.push("raise the quota named above");
    }
    if kinds.contains(&ErrorKind::CapacityUnavailable) || kinds.is_empty() {
        advice.push("or retry later");
    }
    text.push_str(" — ");
    text.push_str(&advice.join(", "));
    text
}

fn quota_message(region: &str, attempts: &[ZoneAttempt], error: &CloudError) -> String {
    let scope = error.scope();
    let elsewhere = if scope == QuotaScope::Account {
        "no other zone or region".to_string()
    } else {
        format!("no other zone of region {region}")
    };
    let mut text = format!(
        "quota exhausted: {} {} ({}); the quota covers the whole {scope}, so {elsewhere} was tried",
        error.operation, error.code, error.message,
    );
    if let Some(t) = &error.location.instance_type {
        text.push_str(&format!("; instance type {t}"));
    }
    if let Some(z) = &error.location.zone {
        text.push_str(&format!(", zone {z}"));
    }
    if let Some(id) = &error.request_id {
        text.push_str(&format!(" [request id {id}]"));
    }
    if !attempts.is_empty() {
        text.push_str(&format!(
            "; zones tried before: {}",
            format_attempts(attempts)
        ));
    }
    text.push_str(&format!(
        " — raise that quota (the cloud's message above names it) for this {scope} (the cloud console's quota page, or a support request), release unused reservations, or use another {}",
        if scope == QuotaScope::Account { "account" } else { "region" }
    ));
    text
}

fn format_attempts(attempts: &[ZoneAttempt]) -> String {
    if attempts.is_empty() {
        return "none (no candidate zone offers every demanded instance type)".into();
    }
    attempts
        .iter()
        .map(|a| {
            format!(
                "{} ({} {}: {}{})",
                a.zone,
                a.error.operation,
                a.error.code,
                a.error.message,
                a.error
                    .location
                    .instance_type
                    .as_deref()
                    .map(|t| format!(", instance type {t}"))
                    .unwrap_or_default()
            )
        })
        .collect::<Vec<_>>()
        .join("; ")
}

fn format_leftovers(leftovers: &[Leftover]) -> String {
    leftovers
        .iter()
        .map(|l| {
            let what = match l.kind {
                LeftoverKind::Reservation => l.instance_type.clone(),
                LeftoverKind::RegionResources => "region resources".to_string(),
                LeftoverKind::Unverified => "unverified".to_string(),
            };
            format!("{} ({what} in {}: {})", l.id, l.place(), l.error)
        })
        .collect::<Vec<_>>()
        .join("; ")
}

impl Error {
    /// The classification of this error.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::CapacityUnavailable(_) | Error::NoZoneAvailable { .. } => {
                ErrorKind::CapacityUnavailable
            }
            Error::NotOffered(_) => ErrorKind::NotOffered,
            Error::QuotaExceeded(_) | Error::QuotaExhausted { .. } => ErrorKind::QuotaExceeded,
            Error::Interrupted { .. } => ErrorKind::Interrupted,
            Error::DeadlineExceeded { .. } => ErrorKind::Timeout,
            Error::Throttled(_) => ErrorKind::Throttled,
            Error::Unauthorized(_) => ErrorKind::Unauthorized,
            Error::InvalidRequest(_) => ErrorKind::InvalidRequest,
            Error::NotFound(_) => ErrorKind::NotFound,
            Error::Timeout(_) => ErrorKind::Timeout,
            Error::Transient(_) => ErrorKind::Transient,
            Error::InvalidConfig(_) | Error::ConfigFile { .. } | Error::Disabled { .. } => {
                ErrorKind::InvalidConfig
            }
            Error::UnknownBackend(_) | Error::NotImplemented { .. } => ErrorKind::Unsupported,
            Error::RollbackFailed { .. } => ErrorKind::RollbackFailed,
            Error::Cloud(e) => e.kind,
            Error::Other(_) => ErrorKind::Other,
        }
    }

    /// Whether the failed operation may be retried as it is.
    pub fn is_retryable(&self) -> bool {
        self.kind().is_retryable()
    }

    /// Whether the cloud settled the operation as failed: see [`CloudError::settled`].
    pub fn is_settled(&self) -> bool {
        self.cloud_error().is_some_and(|e| e.settled)
    }

    /// Whether the failed create may have been carried out by the cloud all the same (a
    /// timeout, a dropped connection, a transient or throttled answer after every retry,
    /// an interrupted call): the engine must then look for it by tag before giving up.
    pub fn outcome_unknown(&self) -> bool {
        !self.is_settled()
            && matches!(
                self.kind(),
                ErrorKind::Timeout
                    | ErrorKind::Transient
                    | ErrorKind::Throttled
                    | ErrorKind::Interrupted
            )
    }

    /// The classified cloud error inside, if this is one.
    pub fn cloud_error(&self) -> Option<&CloudError> {
        match self {
            Error::CapacityUnavailable(e)
            | Error::NotOffered(e)
            | Error::QuotaExceeded(e)
            | Error::QuotaExhausted { error: e, .. }
            | Error::Throttled(e)
            | Error::Unauthorized(e)
            | Error::InvalidRequest(e)
            | Error::NotFound(e)
            | Error::Timeout(e)
            | Error::Transient(e)
            | Error::Cloud(e) => Some(e),
            _ => None,
        }
    }

    /// A server-supplied delay before retrying, if any.
    pub fn retry_after(&self) -> Option<Duration> {
        self.cloud_error().and_then(|e| e.retry_after)
    }

    /// A configuration error.
    pub fn config(
        source: impl Into<String>,
        key: impl Into<String>,
        value: impl Into<String>,
        expected: impl Into<String>,
    ) -> Self {
        Error::InvalidConfig(Box::new(ConfigError {
            source: source.into(),
            key: key.into(),
            value: value.into(),
            expected: expected.into(),
        }))
    }
}

impl From<CloudError> for Error {
    fn from(e: CloudError) -> Self {
        let b = Box::new(e);
        match b.kind {
            ErrorKind::CapacityUnavailable => Error::CapacityUnavailable(b),
            ErrorKind::NotOffered => Error::NotOffered(b),
            ErrorKind::QuotaExceeded => Error::QuotaExceeded(b),
            ErrorKind::Throttled => Error::Throttled(b),
            ErrorKind::Unauthorized => Error::Unauthorized(b),
            ErrorKind::InvalidRequest => Error::InvalidRequest(b),
            ErrorKind::NotFound => Error::NotFound(b),
            ErrorKind::Timeout => Error::Timeout(b),
            ErrorKind::Transient => Error::Transient(b),
            ErrorKind::ClockSkew
            | ErrorKind::InvalidConfig
            | ErrorKind::Unsupported
            | ErrorKind::Interrupted
            | ErrorKind::RollbackFailed
            | ErrorKind::Other => Error::Cloud(b),
        }
    }
}
