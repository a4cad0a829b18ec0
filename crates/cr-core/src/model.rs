//! Reservations, reservation sets and cancel reports: what backends return.

use std::collections::BTreeMap;
use std::fmt;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::cloud::Cloud;
use crate::error::Leftover;

/// A cloud's identifier of one reservation (EC2 `cr-…`, GCE reservation name, Azure resource
/// id, OCI OCID).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ReservationId(pub String);

impl fmt::Display for ReservationId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The state of a reservation as the cloud reports it, normalised.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReservationState {
    /// Being created.
    Pending,
    /// Holding capacity.
    Active,
    /// Being released.
    Cancelling,
    /// Released by a cancel.
    Cancelled,
    /// Released by its end time.
    Expired,
    /// Creation failed.
    Failed,
    /// Any other cloud state, verbatim.
    Other(String),
}

impl ReservationState {
    /// Whether the reservation holds (or will hold) capacity.
    pub fn is_live(&self) -> bool {
        matches!(self, ReservationState::Pending | ReservationState::Active)
    }
}

/// One reservation: `count` instances of one type in one zone.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Reservation {
    /// The cloud's id.
    pub id: ReservationId,
    /// The cloud.
    pub cloud: Cloud,
    /// Region.
    pub region: String,
    /// Zone (availability zone / domain).
    pub zone: String,
    /// Instance type (machine type, VM size, shape).
    pub instance_type: String,
    /// Instances reserved.
    pub count: u32,
    /// Instances currently running in it, when the cloud reports it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub used: Option<u32>,
    /// When the cloud releases it on its own.
    pub end_time: Option<Timestamp>,
    /// State.
    pub state: ReservationState,
    /// Tags (or, on GCE, the tags decoded from the description).
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
    /// Cloud-specific handles needed to cancel or target it (e.g. Azure group id, OCI etag).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub extra: BTreeMap<String, String>,
}

/// The reservations of one region, all in one zone.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RegionReservations {
    /// Region.
    pub region: String,
    /// The zone every reservation of this region is in.
    pub zone: String,
    /// The reservations, one per instance type.
    pub reservations: Vec<Reservation>,
}

/// Everything reserved for one test.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReservationSet {
    /// The backend name.
    pub backend: Cloud,
    /// The test id every reservation is tagged with.
    pub test_id: String,
    /// One entry per region, in configuration order.
    pub regions: Vec<RegionReservations>,
}

impl ReservationSet {
    /// An empty set.
    pub fn empty(backend: Cloud, test_id: impl Into<String>) -> Self {
        ReservationSet {
            backend,
            test_id: test_id.into(),
            regions: Vec::new(),
        }
    }

    /// Every reservation, region by region.
    pub fn reservations(&self) -> impl Iterator<Item = &Reservation> {
        self.regions.iter().flat_map(|r| r.reservations.iter())
    }

    /// The id of the reservation for `instance_type` in `zone`.
    pub fn get_id(&self, zone: &str, instance_type: &str) -> Option<&ReservationId> {
        self.reservations()
            .find(|r| r.zone == zone && r.instance_type == instance_type)
            .map(|r| &r.id)
    }

    /// Whether the set holds nothing.
    pub fn is_empty(&self) -> bool {
        self.reservations().next().is_none()
    }
}

/// What a cancel did.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CancelReport {
    /// Reservations this call released.
    pub cancelled: Vec<Reservation>,
    /// Reservations that were already gone (cancelled, expired, deleted).
    pub already_gone: Vec<Reservation>,
    /// Reservations that could not be released, with why.
    pub failed: Vec<Leftover>,
}

impl CancelReport {
    /// Whether everything was released.
    pub fn is_complete(&self) -> bool {
        self.failed.is_empty()
    }

    /// Adds another report to this one.
    pub fn merge(&mut self, other: CancelReport) {
        self.cancelled.extend(other.cancelled);
        self.already_gone.extend(other.already_gone);
        self.failed.extend(other.failed);
    }
}

/// What cancelling one reservation found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CancelOutcome {
    /// This call released it.
    Cancelled,
    /// It was already gone.
    AlreadyGone,
}
