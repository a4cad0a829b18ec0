//! Reservations, reservation sets and cancel reports: what backends return.

use std::collections::BTreeMap;
use std::fmt;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::cloud::Cloud;
use crate::error::{Leftover, SkippedZone};

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
    /// Zone (availability zone / domain); `None` for a regional reservation (Azure without
    /// zones), which instances in any zone of the region consume.
    pub zone: Option<String>,
    /// Instance type (machine type, VM size, shape).
    pub instance_type: String,
    /// Instances reserved.
    pub count: u32,
    /// Instances currently running in it, when the cloud reports it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub used: Option<u32>,
    /// When the cloud releases it on its own.
    pub end_time: Option<Timestamp>,
    /// When it was created, as the cloud reports it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<Timestamp>,
    /// State.
    pub state: ReservationState,
    /// Tags (or, on GCE, the tags decoded from the description).
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
    /// Cloud-specific handles needed to cancel or target it (e.g. Azure group id, OCI etag).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub extra: BTreeMap<String, String>,
}

/// The reservations of one region, all in one zone: the zone the test's instances must be
/// launched in.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RegionReservations {
    /// Region.
    pub region: String,
    /// The zone every reservation of this region is in (`None`: they are regional).
    pub zone: Option<String>,
    /// The reservations, one per instance type.
    pub reservations: Vec<Reservation>,
    /// Whether this call found the set already reserved (by an earlier or a concurrent run
    /// of the same test) and reused it instead of reserving.
    #[serde(default)]
    pub reused: bool,
    /// Configured zones the engine did not try, with why (e.g. the zone does not offer a
    /// demanded type).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub skipped_zones: Vec<SkippedZone>,
    /// Zones tried before the one reserved, in order, with why each was given up.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attempts: Vec<ZoneTried>,
}

/// A zone the engine tried and left, as a result reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ZoneTried {
    /// The zone.
    pub zone: String,
    /// The failure's kind.
    pub kind: crate::error::ErrorKind,
    /// The cloud's own code (empty when cr decided).
    pub code: String,
    /// The cloud's message.
    pub message: String,
    /// The instance type that failed.
    pub instance_type: Option<String>,
}

impl From<&crate::error::ZoneAttempt> for ZoneTried {
    fn from(a: &crate::error::ZoneAttempt) -> Self {
        ZoneTried {
            zone: a.zone.clone(),
            kind: a.error.kind,
            code: a.error.code.clone(),
            message: a.error.message.clone(),
            instance_type: a.error.location.instance_type.clone(),
        }
    }
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

    /// The id of the reservation for `instance_type` in `zone`: a full zone name, or the
    /// zone's letter as SCT writes it (`b` for `us-east1-b`). A letter that matches in more
    /// than one region is an error.
    pub fn get_id(&self, zone: &str, instance_type: &str) -> crate::Result<Option<&ReservationId>> {
        Ok(self.find(zone, instance_type)?.map(|r| &r.id))
    }

    /// The reservation for `instance_type` in `zone` (full name or letter, as
    /// [`ReservationSet::get_id`]).
    pub fn find(&self, zone: &str, instance_type: &str) -> crate::Result<Option<&Reservation>> {
        let typed = || {
            self.reservations()
                .filter(|r| r.instance_type == instance_type)
        };
        if let Some(r) = typed().find(|r| r.zone.as_deref() == Some(zone)) {
            return Ok(Some(r));
        }
        let by_letter: Vec<&Reservation> = typed()
            .filter(|r| {
                r.zone
                    .as_deref()
                    .is_some_and(|z| zone_matches_letter(z, zone))
            })
            .collect();
        match by_letter.as_slice() {
            // A regional reservation (no zone) serves every zone of its region.
            [] => {
                let regional: Vec<&Reservation> = typed().filter(|r| r.zone.is_none()).collect();
                match regional.as_slice() {
                    [] => Ok(None),
                    [one] => Ok(Some(one)),
                    many => Err(crate::Error::Other(format!(
                        "instance type {instance_type} has regional reservations in {}; look it up by its region's zone in full",
                        many.iter()
                            .map(|r| r.region.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ))),
                }
            }
            [one] => Ok(Some(one)),
            many => Err(crate::Error::Other(format!(
                "zone `{zone}` is ambiguous for instance type {instance_type}: the test holds it in {}; name the zone in full",
                many.iter()
                    .filter_map(|r| r.zone.as_deref())
                    .collect::<Vec<_>>()
                    .join(", ")
            ))),
        }
    }

    /// Whether the set holds nothing.
    pub fn is_empty(&self) -> bool {
        self.reservations().next().is_none()
    }
}

/// Whether `letter` is the short form of `zone` as SCT writes it: the zone's last letters
/// after the region (`us-east1-b` → `b`, `eu-west-1a` → `a`, OCI `…-AD-1` → `1`).
fn zone_matches_letter(zone: &str, letter: &str) -> bool {
    // OCI availability domains (`kIdk:US-ASHBURN-AD-2`): SCT's letter `b`, `AD-2`, or `2`.
    if let Some(n) = oci_ad_number(zone) {
        let letter = letter.to_ascii_lowercase();
        return letter == format!("ad-{n}")
            || letter == n.to_string()
            || (letter.len() == 1 && u32::from(letter.as_bytes()[0]) == u32::from(b'a') + n - 1);
    }
    !letter.is_empty()
        && letter.len() <= 2
        && letter.chars().all(|c| c.is_ascii_alphanumeric())
        && zone.len() > letter.len()
        && zone.ends_with(letter)
        && zone[..zone.len() - letter.len()]
            .chars()
            .last()
            .is_some_and(|c| c == '-' || c.is_ascii_digit())
}

/// N of an OCI availability-domain name ending in `AD-N` (case-insensitive).
fn oci_ad_number(zone: &str) -> Option<u32> {
    let upper = zone.to_ascii_uppercase();
    let (_, n) = upper.rsplit_once("AD-")?;
    n.parse::<u32>().ok().filter(|n| (1..=26).contains(n))
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

/// What `cr cleanup --dry-run` found: what a cleanup of the test would cancel and which
/// regions' resources (Azure reservation groups) it would remove. Nothing was changed.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CleanupPreview {
    /// The test id.
    pub test_id: String,
    /// The live reservations tagged with the test id, in every region.
    pub reservations: Vec<Reservation>,
    /// The regions a cleanup would finish (reservations there, or region resources left).
    pub regions_to_finish: Vec<String>,
}

/// What cancelling one reservation found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CancelOutcome {
    /// This call released it.
    Cancelled,
    /// It was already gone.
    AlreadyGone,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(zones: &[(&str, &str)]) -> ReservationSet {
        let regions = zones
            .iter()
            .map(|(region, zone)| RegionReservations {
                region: region.to_string(),
                zone: Some(zone.to_string()),
                reservations: vec![Reservation {
                    id: ReservationId(format!("id-{zone}")),
                    cloud: Cloud::Gce,
                    region: region.to_string(),
                    zone: Some(zone.to_string()),
                    instance_type: "n2-standard-8".into(),
                    count: 1,
                    used: None,
                    end_time: None,
                    created: None,
                    state: ReservationState::Active,
                    tags: BTreeMap::new(),
                    extra: BTreeMap::new(),
                }],
                reused: false,
                skipped_zones: Vec::new(),
                attempts: Vec::new(),
            })
            .collect();
        ReservationSet {
            backend: Cloud::Gce,
            test_id: "t".into(),
            regions,
        }
    }

    #[test]
    fn get_id_takes_the_full_zone_or_its_letter() {
        let s = set(&[("us-east1", "us-east1-b")]);
        let id = |zone: &str| s.get_id(zone, "n2-standard-8").unwrap().cloned();
        assert_eq!(
            id("us-east1-b"),
            Some(ReservationId("id-us-east1-b".into()))
        );
        assert_eq!(id("b"), Some(ReservationId("id-us-east1-b".into())));
        assert_eq!(id("c"), None);
        assert_eq!(id("1-b"), None, "only a letter, not any suffix");
        assert_eq!(s.get_id("b", "other-type").unwrap(), None);

        let aws = set(&[("eu-west-1", "eu-west-1a")]);
        assert!(aws.get_id("a", "n2-standard-8").unwrap().is_some());
    }

    #[test]
    fn an_oci_availability_domain_is_found_by_its_letter_or_ad_n() {
        let s = set(&[("us-ashburn-1", "kIdk:US-ASHBURN-AD-2")]);
        let id = |zone: &str| s.get_id(zone, "n2-standard-8").unwrap().cloned();
        let want = Some(ReservationId("id-kIdk:US-ASHBURN-AD-2".into()));
        assert_eq!(id("b"), want);
        assert_eq!(id("AD-2"), want);
        assert_eq!(id("ad-2"), want);
        assert_eq!(id("kIdk:US-ASHBURN-AD-2"), want);
        assert_eq!(id("2"), want);
        assert_eq!(id("a"), None);
        assert_eq!(id("AD-1"), None);
        assert_eq!(id("1"), None);
    }

    #[test]
    fn a_regional_reservation_serves_any_zone() {
        let mut s = set(&[("westeurope", "westeurope-1")]);
        s.regions[0].zone = None;
        s.regions[0].reservations[0].zone = None;
        assert!(s.get_id("2", "n2-standard-8").unwrap().is_some());
        assert!(s.get_id("", "n2-standard-8").unwrap().is_some());
        assert!(s.get_id("2", "other").unwrap().is_none());
    }

    #[test]
    fn a_letter_matching_zones_of_two_regions_is_an_error() {
        let s = set(&[("us-east1", "us-east1-b"), ("us-west1", "us-west1-b")]);
        let err = s.get_id("b", "n2-standard-8").unwrap_err();
        assert!(err.to_string().contains("us-east1-b, us-west1-b"), "{err}");
        assert!(s.get_id("us-west1-b", "n2-standard-8").unwrap().is_some());
    }
}
