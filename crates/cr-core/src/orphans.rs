//! Orphaned reservations: the rules that decide, from a listing of every reservation cr
//! created ([`crate::adapter::CloudAdapter::find_created`]), which ones nobody needs any more.
//!
//! The rules are pure functions of one reservation, the [`OrphanRules`] and the current time,
//! so `cr orphans` and its tests decide alike. A reservation is an orphan when one or more
//! rules match ([`OrphanReason`]):
//!
//! - **past its end time** — always checked: the cloud's own end time (EC2 `EndDate`, GCE
//!   `deleteAtTime`) or, where the cloud has none (Azure, OCI), the planned end cr records in
//!   the [`crate::tags::CR_END_TIME`] tag;
//! - **older than** `--older-than` since its creation;
//! - **unused for** `--unused-for`: the cloud reports 0 instances in it and it was created at
//!   least that long ago (a reservation whose usage the cloud does not report is never
//!   judged unused);
//! - **its test finished**: its `TestId` is one the caller names (`--finished-test`). No cloud
//!   carries "this test is over" on a reservation, so the caller, who knows, says so.
//!
//! A rule whose input the cloud did not report (no creation time, no usage) does not match:
//! an orphan is only ever called one for a reason the listing shows.

use std::collections::BTreeSet;
use std::time::Duration;

use jiff::Timestamp;
use serde::Serialize;

use crate::model::Reservation;
use crate::tags::{CR_END_TIME, TEST_ID};

/// Why a reservation is an orphan.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum OrphanReason {
    /// Its end time has passed and it is still held.
    PastEndTime,
    /// It was created longer ago than [`OrphanRules::older_than`].
    OlderThan,
    /// No instance uses it, and it was created longer ago than [`OrphanRules::unused_for`].
    Unused,
    /// Its test is one of [`OrphanRules::finished_tests`].
    TestFinished,
}

impl OrphanReason {
    /// The reason's name as `--output json` writes it (`past_end_time`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            OrphanReason::PastEndTime => "past_end_time",
            OrphanReason::OlderThan => "older_than",
            OrphanReason::Unused => "unused",
            OrphanReason::TestFinished => "test_finished",
        }
    }
}

/// Which rules apply beyond the end time (always checked).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OrphanRules {
    /// Older than this since creation (`--older-than`).
    pub older_than: Option<Duration>,
    /// Unused (0 in use) and created at least this long ago (`--unused-for`).
    pub unused_for: Option<Duration>,
    /// Test ids whose tests are over (`--finished-test`).
    pub finished_tests: BTreeSet<String>,
}

/// One reservation of a listing, with why it is an orphan (empty: it is not one).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Assessed {
    /// The reservation, as the cloud listed it.
    pub reservation: Reservation,
    /// The end time the rules used (the cloud's, or the [`CR_END_TIME`] tag).
    pub end_time: Option<Timestamp>,
    /// Every rule that matched, in [`OrphanReason`] order.
    pub reasons: Vec<OrphanReason>,
}

impl Assessed {
    /// Whether any rule matched.
    pub fn is_orphan(&self) -> bool {
        !self.reasons.is_empty()
    }
}

/// The end time of `r`: the cloud's, else the planned end recorded in [`CR_END_TIME`].
pub fn end_time(r: &Reservation) -> Option<Timestamp> {
    r.end_time.or_else(|| {
        r.tags
            .get(CR_END_TIME)
            .and_then(|t| t.trim().parse::<Timestamp>().ok())
    })
}

/// How long ago `r` was created, when the cloud says (never negative).
pub fn age(r: &Reservation, now: Timestamp) -> Option<Duration> {
    let since = now.duration_since(r.created?);
    Some(Duration::try_from(since).unwrap_or(Duration::ZERO))
}

/// Whether `r`'s end time has passed at `now`.
pub fn is_past_end_time(r: &Reservation, now: Timestamp) -> bool {
    end_time(r).is_some_and(|end| end <= now)
}

/// Whether `r` was created at least `limit` before `now`.
pub fn is_older_than(r: &Reservation, limit: Duration, now: Timestamp) -> bool {
    age(r, now).is_some_and(|a| a >= limit)
}

/// Whether the cloud reports no instance in `r` and it was created at least `limit` before
/// `now`. The clouds report usage but not since when it is 0, so "unused for" counts from the
/// creation: the rule "no reservation without instances older than 15 minutes".
pub fn is_unused_for(r: &Reservation, limit: Duration, now: Timestamp) -> bool {
    r.used == Some(0) && is_older_than(r, limit, now)
}

/// Whether `r`'s test is one of `finished`.
pub fn is_of_finished_test(r: &Reservation, finished: &BTreeSet<String>) -> bool {
    r.tags.get(TEST_ID).is_some_and(|t| finished.contains(t))
}

/// Every rule of `rules` that `r` matches at `now`.
pub fn reasons(r: &Reservation, rules: &OrphanRules, now: Timestamp) -> Vec<OrphanReason> {
    let mut out = Vec::new();
    if is_past_end_time(r, now) {
        out.push(OrphanReason::PastEndTime);
    }
    if rules.older_than.is_some_and(|d| is_older_than(r, d, now)) {
        out.push(OrphanReason::OlderThan);
    }
    if rules.unused_for.is_some_and(|d| is_unused_for(r, d, now)) {
        out.push(OrphanReason::Unused);
    }
    if is_of_finished_test(r, &rules.finished_tests) {
        out.push(OrphanReason::TestFinished);
    }
    out
}

/// Every reservation of `listing` with its reasons, sorted by region, zone and id.
pub fn assess(listing: Vec<Reservation>, rules: &OrphanRules, now: Timestamp) -> Vec<Assessed> {
    let mut out: Vec<Assessed> = listing
        .into_iter()
        .map(|r| Assessed {
            end_time: end_time(&r),
            reasons: reasons(&r, rules, now),
            reservation: r,
        })
        .collect();
    out.sort_by(|a, b| {
        let key = |x: &Assessed| {
            (
                x.reservation.region.clone(),
                x.reservation.zone.clone(),
                x.reservation.id.clone(),
            )
        };
        key(a).cmp(&key(b))
    });
    out
}

/// The `(test id, region)` pairs whose region resources may be removed once `chosen` are
/// cancelled: those where `chosen` holds every reservation of the test that `listing`
/// shows in the region. A region where the test keeps a reservation that is not an orphan is
/// left alone (removing Azure's reservation group would take that reservation with it).
pub fn regions_to_finish(listing: &[Reservation], chosen: &[Reservation]) -> Vec<(String, String)> {
    let test_of = |r: &Reservation| r.tags.get(TEST_ID).cloned().unwrap_or_default();
    let mut pairs: Vec<(String, String)> = chosen
        .iter()
        .map(|r| (test_of(r), r.region.clone()))
        .filter(|(test, _)| !test.is_empty())
        .collect();
    pairs.sort();
    pairs.dedup();
    pairs.retain(|(test, region)| {
        listing
            .iter()
            .filter(|r| r.region == *region && test_of(r) == *test)
            .all(|r| chosen.iter().any(|c| c.id == r.id))
    });
    pairs
}

/// Parses a duration written as whole numbers with units, largest first: `90s`, `15m`,
/// `6h`, `2d`, `1h30m`. The error says what was wrong and what is accepted.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    const FORM: &str = "a duration such as 90s, 15m, 6h, 2d or 1h30m (units: d, h, m, s)";
    let s = text.trim();
    if s.is_empty() {
        return Err(format!("empty duration: expected {FORM}"));
    }
    let mut total: u64 = 0;
    let mut digits = String::new();
    let mut last_rank = usize::MAX;
    let mut any = false;
    for c in s.chars() {
        if c.is_ascii_digit() {
            digits.push(c);
            continue;
        }
        let (rank, seconds) = match c {
            'd' => (3, 86_400),
            'h' => (2, 3_600),
            'm' => (1, 60),
            's' => (0, 1),
            other => {
                return Err(format!(
                    "`{text}`: unknown unit or character `{other}`: expected {FORM}"
                ));
            }
        };
        if digits.is_empty() {
            return Err(format!(
                "`{text}`: unit `{c}` without a number before it: expected {FORM}"
            ));
        }
        if rank >= last_rank {
            return Err(format!(
                "`{text}`: units must each appear once, largest first: expected {FORM}"
            ));
        }
        let n: u64 = digits
            .parse()
            .map_err(|_| format!("`{text}`: number too large: expected {FORM}"))?;
        total = n
            .checked_mul(seconds)
            .and_then(|v| total.checked_add(v))
            .ok_or_else(|| format!("`{text}`: too long a duration: expected {FORM}"))?;
        digits.clear();
        last_rank = rank;
        any = true;
    }
    if !digits.is_empty() {
        return Err(format!(
            "`{text}`: `{digits}` has no unit (write {digits}m or {digits}s): expected {FORM}"
        ));
    }
    if !any || total == 0 {
        return Err(format!("`{text}`: must be longer than 0: expected {FORM}"));
    }
    Ok(Duration::from_secs(total))
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use jiff::SignedDuration;

    use super::*;
    use crate::cloud::Cloud;
    use crate::model::{ReservationId, ReservationState};

    fn now() -> Timestamp {
        "2030-01-01T12:00:00Z".parse().unwrap()
    }

    fn mins(m: i64) -> SignedDuration {
        SignedDuration::from_mins(m)
    }

    /// A reservation of test `t-1`, created `age_min` minutes before [`now`].
    fn res(id: &str, age_min: i64) -> Reservation {
        Reservation {
            id: ReservationId(id.into()),
            cloud: Cloud::Gce,
            region: "us-east1".into(),
            zone: Some("us-east1-b".into()),
            instance_type: "n2-standard-8".into(),
            count: 2,
            used: Some(1),
            end_time: Some(now() + mins(60)),
            created: Some(now() - mins(age_min)),
            state: ReservationState::Active,
            tags: BTreeMap::from([
                (TEST_ID.to_string(), "t-1".to_string()),
                ("CreatedBy".to_string(), "cr".to_string()),
            ]),
            extra: BTreeMap::new(),
        }
    }

    #[test]
    fn past_end_time_uses_the_cloud_end_time() {
        let mut r = res("a", 10);
        assert!(!is_past_end_time(&r, now()));
        r.end_time = Some(now() - mins(1));
        assert!(is_past_end_time(&r, now()));
        r.end_time = Some(now());
        assert!(is_past_end_time(&r, now()), "the end itself is past");
        assert_eq!(
            reasons(&r, &OrphanRules::default(), now()),
            [OrphanReason::PastEndTime],
            "checked without any option"
        );
    }

    #[test]
    fn past_end_time_falls_back_to_the_recorded_end_where_the_cloud_has_none() {
        let mut r = res("a", 10);
        r.end_time = None;
        assert!(
            !is_past_end_time(&r, now()),
            "no end time at all: never past"
        );
        r.tags
            .insert(CR_END_TIME.into(), (now() - mins(5)).to_string());
        assert!(is_past_end_time(&r, now()));
        assert_eq!(end_time(&r), Some(now() - mins(5)));
        r.tags.insert(CR_END_TIME.into(), "next tuesday".into());
        assert!(
            !is_past_end_time(&r, now()),
            "an unreadable tag decides nothing"
        );
    }

    #[test]
    fn older_than_counts_from_creation() {
        let rules = OrphanRules {
            older_than: Some(Duration::from_secs(6 * 3600)),
            ..OrphanRules::default()
        };
        assert!(reasons(&res("a", 6 * 60 - 1), &rules, now()).is_empty());
        assert_eq!(
            reasons(&res("a", 6 * 60), &rules, now()),
            [OrphanReason::OlderThan]
        );
        let mut unknown = res("a", 0);
        unknown.created = None;
        assert!(
            reasons(&unknown, &rules, now()).is_empty(),
            "no creation time: no age"
        );
        let mut future = res("a", 0);
        future.created = Some(now() + mins(5));
        assert_eq!(age(&future, now()), Some(Duration::ZERO), "clock skew");
    }

    #[test]
    fn unused_needs_zero_in_use_and_the_age() {
        let rules = OrphanRules {
            unused_for: Some(Duration::from_secs(15 * 60)),
            ..OrphanRules::default()
        };
        let mut r = res("a", 16);
        assert!(reasons(&r, &rules, now()).is_empty(), "1 in use");
        r.used = Some(0);
        assert_eq!(reasons(&r, &rules, now()), [OrphanReason::Unused]);
        r.used = None;
        assert!(
            reasons(&r, &rules, now()).is_empty(),
            "usage not reported: not judged unused"
        );
        let mut young = res("b", 14);
        young.used = Some(0);
        assert!(reasons(&young, &rules, now()).is_empty(), "too young");
    }

    #[test]
    fn a_finished_test_is_named_by_its_test_id() {
        let rules = OrphanRules {
            finished_tests: BTreeSet::from(["t-1".to_string()]),
            ..OrphanRules::default()
        };
        assert_eq!(
            reasons(&res("a", 1), &rules, now()),
            [OrphanReason::TestFinished]
        );
        let mut other = res("b", 1);
        other.tags.insert(TEST_ID.into(), "t-10".into());
        assert!(reasons(&other, &rules, now()).is_empty(), "exact ids only");
    }

    #[test]
    fn every_matching_rule_is_listed_and_the_listing_is_sorted() {
        let rules = OrphanRules {
            older_than: Some(Duration::from_secs(60)),
            unused_for: Some(Duration::from_secs(60)),
            finished_tests: BTreeSet::from(["t-1".to_string()]),
        };
        let mut all = res("z", 120);
        all.used = Some(0);
        all.end_time = Some(now() - mins(1));
        let fresh = {
            let mut r = res("a", 0);
            r.tags.insert(TEST_ID.into(), "t-2".into());
            r
        };
        let assessed = assess(vec![all, fresh], &rules, now());
        assert_eq!(assessed[0].reservation.id.0, "a");
        assert!(!assessed[0].is_orphan());
        assert_eq!(
            assessed[1].reasons,
            [
                OrphanReason::PastEndTime,
                OrphanReason::OlderThan,
                OrphanReason::Unused,
                OrphanReason::TestFinished
            ]
        );
        let names: Vec<&str> = assessed[1].reasons.iter().map(|r| r.as_str()).collect();
        assert_eq!(
            serde_json::to_value(&assessed[1].reasons).unwrap(),
            serde_json::json!(names)
        );
    }

    #[test]
    fn a_region_is_finished_only_when_all_of_its_tests_reservations_go() {
        let mut b = res("b", 1);
        b.region = "us-west1".into();
        let mut c = res("c", 1);
        c.tags.insert(TEST_ID.into(), "t-2".into());
        let listing = vec![res("a", 1), res("a2", 1), b.clone(), c.clone()];
        // a goes but a2 (same test, same region) stays; b and c go.
        let chosen = vec![res("a", 1), b, c];
        assert_eq!(
            regions_to_finish(&listing, &chosen),
            [
                ("t-1".to_string(), "us-west1".to_string()),
                ("t-2".to_string(), "us-east1".to_string())
            ]
        );
    }

    #[test]
    fn durations_parse_with_units() {
        let ok = |s: &str| parse_duration(s).unwrap().as_secs();
        assert_eq!(ok("90s"), 90);
        assert_eq!(ok("15m"), 900);
        assert_eq!(ok("6h"), 21_600);
        assert_eq!(ok("2d"), 172_800);
        assert_eq!(ok("1h30m"), 5_400);
        assert_eq!(ok(" 1d2h3m4s "), 93_784);
        for (bad, says) in [
            ("", "empty"),
            ("15", "no unit"),
            ("m", "without a number"),
            ("6 h", "unknown unit or character ` `"),
            ("6w", "unknown unit or character `w`"),
            ("30m1h", "largest first"),
            ("1h1h", "largest first"),
            ("0m", "longer than 0"),
            ("99999999999999999999s", "too large"),
            ("999999999999999d", "too long"),
        ] {
            let e = parse_duration(bad).unwrap_err();
            assert!(e.contains(says), "{bad:?}: {e}");
            assert!(e.contains("90s, 15m, 6h"), "{bad:?} names the form: {e}");
        }
    }
}
