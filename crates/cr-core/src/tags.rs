//! The tags every reservation carries, and how each cloud's key/value rules shape them.
//!
//! [`Tags`] is cloud-independent; [`Tags::render`] applies one cloud's limits
//! deterministically: cr's own tags come first (in [`CORE_TAG_KEYS`] order), then the
//! others by key; over-long keys and values are truncated, forbidden characters replaced by
//! `_`, reserved prefixes escaped, and tags beyond the cloud's count limit left out. The
//! `TestId` tag is never altered or dropped: a crashed run is cleaned up by it.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::cloud::Cloud;

/// Tag key holding the test id; a crashed run is cleaned up by it.
pub const TEST_ID: &str = "TestId";
/// Tag key marking a cr reservation (value `true`).
pub const CAPACITY_RESERVATION: &str = "CapacityReservation";
/// Tag key holding the backend name.
pub const BACKEND: &str = "Backend";
/// Tag key holding who ran the test.
pub const RUN_BY_USER: &str = "RunByUser";
/// Tag key holding the test name.
pub const TEST_NAME: &str = "TestName";
/// Tag key naming the creating tool (value `cr`).
pub const CREATED_BY: &str = "CreatedBy";
/// The value of [`CREATED_BY`].
pub const CREATED_BY_VALUE: &str = "cr";

/// Tag key holding a reservation's sizing details (e.g. `local_ssds=4`), present only when
/// its demand has any: a later run reuses the reservation only if its plan asks the same.
pub const CR_DETAILS: &str = "CrDetails";

/// Tag key recording a reservation's planned end (RFC 3339, whole seconds) on clouds whose
/// reservations have no native end time (Azure, OCI): for people, `cr orphans` and cleanup
/// tools. Not one of [`CORE_TAG_KEYS`]: it is added after them, room permitting.
pub const CR_END_TIME: &str = "CrEndTime";

/// cr's own tag keys, in rendering order; `cost_tags` may not override them.
pub const CORE_TAG_KEYS: [&str; 7] = [
    TEST_ID,
    CAPACITY_RESERVATION,
    BACKEND,
    RUN_BY_USER,
    TEST_NAME,
    CREATED_BY,
    CR_DETAILS,
];

/// The [`CR_DETAILS`] tag of a demand's sizing details, or `None` when it has none. The value
/// is canonical (fixed field order, shortest float form), so equal details give equal tags.
pub fn details_tag(details: &crate::plan::DemandDetails) -> Option<(String, String)> {
    let mut parts = Vec::new();
    if details.local_ssds > 0 {
        parts.push(format!("local_ssds={}", details.local_ssds));
    }
    if let Some(v) = details.ocpus {
        parts.push(format!("ocpus={v}"));
    }
    if let Some(v) = details.memory_gb {
        parts.push(format!("memory_gb={v}"));
    }
    if let Some(v) = details.nvmes {
        parts.push(format!("nvmes={v}"));
    }
    (!parts.is_empty()).then(|| (CR_DETAILS.to_string(), parts.join(",")))
}

/// Whether `key` is one of cr's own tag keys. Compared without case, because Azure tag
/// names are case-insensitive.
pub fn is_core_key(key: &str) -> bool {
    CORE_TAG_KEYS
        .iter()
        .any(|k| k.eq_ignore_ascii_case(key.trim()))
}

/// One cloud's tag limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TagRules {
    /// Most tags per resource (`None`: no limit known).
    pub max_tags: Option<usize>,
    /// Longest key, in characters.
    pub max_key_chars: usize,
    /// Longest value, in characters.
    pub max_value_chars: usize,
    /// Characters a key may not contain (replaced by `_`).
    pub forbidden_key_chars: &'static [char],
    /// A key prefix reserved by the cloud, compared without case (escaped with `_`).
    pub reserved_key_prefix: Option<&'static str>,
    /// Whether keys are compared without case (two keys differing only in case collide).
    pub case_insensitive_keys: bool,
}

impl TagRules {
    /// The rules of `cloud`, or `None` for GCE, whose reservations have no labels (the
    /// backend encodes the tags in the description instead).
    pub fn of(cloud: Cloud) -> Option<TagRules> {
        match cloud {
            // cloud-apis.md 1.9.
            Cloud::Aws => Some(TagRules {
                max_tags: Some(50),
                max_key_chars: 128,
                max_value_chars: 256,
                forbidden_key_chars: &[],
                reserved_key_prefix: Some("aws:"),
                case_insensitive_keys: false,
            }),
            // cloud-apis.md 3.10.
            Cloud::Azure => Some(TagRules {
                max_tags: Some(50),
                max_key_chars: 512,
                max_value_chars: 256,
                forbidden_key_chars: &['<', '>', '%', '&', '\\', '?', '/'],
                reserved_key_prefix: None,
                case_insensitive_keys: true,
            }),
            // cloud-apis.md 4.7: freeform tags; only the commonly cited lengths are known.
            Cloud::Oci => Some(TagRules {
                max_tags: None,
                max_key_chars: 100,
                max_value_chars: 256,
                forbidden_key_chars: &[],
                reserved_key_prefix: None,
                case_insensitive_keys: false,
            }),
            Cloud::Gce => None,
        }
    }
}

/// The tags of one test's reservations, in cloud-independent form.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Tags(pub BTreeMap<String, String>);

impl Tags {
    /// cr's own tags of a test's reservations: `TestId` (when known),
    /// `CapacityReservation=true`, `Backend`, `CreatedBy=cr`.
    pub fn for_test(test_id: Option<&str>, backend: Cloud) -> Tags {
        let mut tags = BTreeMap::new();
        if let Some(id) = test_id {
            tags.insert(TEST_ID.to_string(), id.to_string());
        }
        tags.insert(CAPACITY_RESERVATION.to_string(), "true".to_string());
        tags.insert(BACKEND.to_string(), backend.as_str().to_string());
        tags.insert(CREATED_BY.to_string(), CREATED_BY_VALUE.to_string());
        Tags(tags)
    }

    /// Adds `RunByUser` when known.
    pub fn with_run_by_user(self, user: Option<&str>) -> Tags {
        self.with_optional(RUN_BY_USER, user)
    }

    /// Adds `TestName` when known.
    pub fn with_test_name(self, name: Option<&str>) -> Tags {
        self.with_optional(TEST_NAME, name)
    }

    fn with_optional(mut self, key: &str, value: Option<&str>) -> Tags {
        if let Some(v) = value.map(str::trim).filter(|v| !v.is_empty()) {
            self.0.insert(key.to_string(), v.to_string());
        }
        self
    }

    /// Adds the user's cost tags. Fails with the offending key when one would override one
    /// of cr's own tags (compared without case).
    pub fn with_cost_tags(mut self, cost_tags: &BTreeMap<String, String>) -> Result<Tags, String> {
        if let Some(key) = cost_tags.keys().find(|k| is_core_key(k)) {
            return Err(key.clone());
        }
        self.0
            .extend(cost_tags.iter().map(|(k, v)| (k.clone(), v.clone())));
        Ok(self)
    }

    /// The test id tag, if present.
    pub fn test_id(&self) -> Option<&str> {
        self.0.get(TEST_ID).map(String::as_str)
    }

    /// The tags rendered within `cloud`'s key/value rules.
    pub fn render(&self, cloud: Cloud) -> BTreeMap<String, String> {
        render(self, cloud)
    }
}

/// Whether `tags` carry `TestId=test_id` exactly.
pub fn is_of_test(tags: &BTreeMap<String, String>, test_id: &str) -> bool {
    tags.get(TEST_ID).map(String::as_str) == Some(test_id)
}

/// Whether `tags` mark a reservation cr created, whatever its test: `CreatedBy=cr` and a
/// non-empty `TestId` (both written by every cr create, [`Tags::for_test`]). A reservation
/// made by hand or by another tool — even one carrying a `TestId` tag or, on GCE, a
/// `cr-` name — is not cr's: `cr orphans` never lists or touches it.
pub fn is_created_by_cr(tags: &BTreeMap<String, String>) -> bool {
    tags.get(CREATED_BY).map(String::as_str) == Some(CREATED_BY_VALUE)
        && tags.get(TEST_ID).is_some_and(|id| !id.trim().is_empty())
}

/// Keeps only the reservations cr created ([`is_created_by_cr`]): the re-check every
/// adapter makes after listing every test's reservations by the cloud's filter.
pub fn retain_created_by_cr(reservations: &mut Vec<crate::model::Reservation>) {
    reservations.retain(|r| is_created_by_cr(&r.tags));
}

/// Keeps only the reservations whose `TestId` tag is exactly `test_id`: the re-check every
/// adapter makes after listing by the cloud's filter (a filter may match more than asked,
/// e.g. a name prefix, a case-insensitive or wildcard tag match).
pub fn retain_test(reservations: &mut Vec<crate::model::Reservation>, test_id: &str) {
    reservations.retain(|r| is_of_test(&r.tags, test_id));
}

/// The first `max` characters of `s`.
fn truncate(s: &str, max: usize) -> String {
    s.chars().take(max).collect()
}

/// Renders `tags` within `cloud`'s rules (lengths, characters, reserved prefixes, count).
fn render(tags: &Tags, cloud: Cloud) -> BTreeMap<String, String> {
    let Some(rules) = TagRules::of(cloud) else {
        return tags.0.clone();
    };
    // cr's tags first, so the count limit and key collisions only ever cost user tags.
    let core = CORE_TAG_KEYS
        .iter()
        .filter_map(|k| tags.0.get_key_value(*k));
    let others = tags
        .0
        .iter()
        .filter(|(k, _)| !CORE_TAG_KEYS.contains(&k.as_str()));

    let mut out = BTreeMap::new();
    let mut seen: Vec<String> = Vec::new();
    for (key, value) in core.chain(others) {
        if rules.max_tags.is_some_and(|max| out.len() >= max) {
            break;
        }
        let Some(key) = render_key(key, &rules) else {
            continue;
        };
        let identity = if rules.case_insensitive_keys {
            key.to_lowercase()
        } else {
            key.clone()
        };
        if seen.contains(&identity) {
            continue;
        }
        seen.push(identity);
        out.insert(key, truncate(value, rules.max_value_chars));
    }
    out
}

/// One key within `rules`, or `None` when nothing of it is left.
fn render_key(key: &str, rules: &TagRules) -> Option<String> {
    let mut key: String = key
        .trim()
        .chars()
        .map(|c| {
            if rules.forbidden_key_chars.contains(&c) {
                '_'
            } else {
                c
            }
        })
        .collect();
    if let Some(prefix) = rules.reserved_key_prefix
        && key
            .get(..prefix.len())
            .is_some_and(|p| p.eq_ignore_ascii_case(prefix))
    {
        key.insert(0, '_');
    }
    let key = truncate(&key, rules.max_key_chars);
    (!key.is_empty()).then_some(key)
}

#[cfg(test)]
mod tests {
    #[test]
    fn retain_test_keeps_exact_test_ids_only() {
        use crate::model::{Reservation, ReservationId, ReservationState};
        let with = |id: &str, test: Option<&str>| Reservation {
            id: ReservationId(id.into()),
            cloud: Cloud::Aws,
            region: "r".into(),
            zone: Some("z".into()),
            instance_type: "t".into(),
            count: 1,
            used: None,
            end_time: None,
            created: None,
            state: ReservationState::Active,
            tags: test
                .map(|t| BTreeMap::from([(TEST_ID.to_string(), t.to_string())]))
                .unwrap_or_default(),
            extra: BTreeMap::new(),
        };
        let mut all = vec![
            with("a", Some("t-1")),
            with("b", Some("t-10")),
            with("c", Some("T-1")),
            with("d", None),
            with("e", Some("t-1")),
        ];
        retain_test(&mut all, "t-1");
        let ids: Vec<&str> = all.iter().map(|r| r.id.0.as_str()).collect();
        assert_eq!(ids, ["a", "e"]);
    }

    use super::*;

    #[test]
    fn created_by_cr_needs_both_created_by_and_a_test_id() {
        let tags = |pairs: &[(&str, &str)]| -> BTreeMap<String, String> {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        assert!(is_created_by_cr(&Tags::for_test(Some("t-1"), Cloud::Gce).0));
        assert!(!is_created_by_cr(&Tags::for_test(None, Cloud::Gce).0));
        assert!(!is_created_by_cr(&tags(&[
            ("TestId", "t-1"),
            ("CreatedBy", "hand")
        ])));
        assert!(!is_created_by_cr(&tags(&[("TestId", "t-1")])));
        assert!(!is_created_by_cr(&tags(&[
            ("CreatedBy", "cr"),
            ("TestId", " ")
        ])));
        assert!(!is_created_by_cr(&tags(&[
            ("createdby", "cr"),
            ("TestId", "t")
        ])));
        assert!(!is_created_by_cr(&BTreeMap::new()));
    }

    fn sample(extra: &[(&str, &str)]) -> Tags {
        let extra: BTreeMap<String, String> = extra
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Tags::for_test(Some("7dc6db84-eb01-4b61-a946-b5c72e0f6d71"), Cloud::Aws)
            .with_run_by_user(Some("alice"))
            .with_test_name(Some("perf"))
            .with_cost_tags(&extra)
            .expect("no core key")
    }

    #[test]
    fn core_tags() {
        let t = sample(&[]);
        assert_eq!(t.test_id(), Some("7dc6db84-eb01-4b61-a946-b5c72e0f6d71"));
        assert_eq!(
            t.0.get("CapacityReservation").map(String::as_str),
            Some("true")
        );
        assert_eq!(t.0.get("Backend").map(String::as_str), Some("aws"));
        assert_eq!(t.0.get("CreatedBy").map(String::as_str), Some("cr"));
        assert_eq!(t.0.get("RunByUser").map(String::as_str), Some("alice"));
        assert_eq!(t.0.get("TestName").map(String::as_str), Some("perf"));
        assert_eq!(t.0.len(), 6);
    }

    #[test]
    fn cost_tags_cannot_override_core_tags() {
        let extra = BTreeMap::from([("testid".to_string(), "x".to_string())]);
        let err = Tags::for_test(Some("t"), Cloud::Aws)
            .with_cost_tags(&extra)
            .unwrap_err();
        assert_eq!(err, "testid");
    }

    #[test]
    fn gce_is_unchanged() {
        let t = sample(&[("aws:x", "y"), ("a/b", "c")]);
        assert_eq!(t.render(Cloud::Gce), t.0);
    }

    #[test]
    fn aws_limits() {
        let long_key = "k".repeat(200);
        let long_value = "v".repeat(300);
        let mut extra: Vec<(String, String)> = (0..60)
            .map(|i| (format!("extra{i:02}"), "x".to_string()))
            .collect();
        extra.push((long_key.clone(), long_value.clone()));
        extra.push(("AWS:owner".to_string(), "me".to_string()));
        let extra: Vec<(&str, &str)> = extra
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let rendered = sample(&extra).render(Cloud::Aws);
        assert_eq!(rendered.len(), 50);
        // Core tags always survive the count limit (CrDetails is only set on demands with
        // sizing details).
        for k in CORE_TAG_KEYS.into_iter().filter(|k| *k != CR_DETAILS) {
            assert!(rendered.contains_key(k), "{k} missing");
        }
        assert_eq!(
            rendered.get("TestId").map(String::as_str),
            Some("7dc6db84-eb01-4b61-a946-b5c72e0f6d71")
        );
        assert!(
            rendered
                .keys()
                .all(|k| !k.to_lowercase().starts_with("aws:"))
        );
        assert!(
            rendered
                .keys()
                .all(|k| (1..=128).contains(&k.chars().count()))
        );
        assert!(rendered.values().all(|v| v.chars().count() <= 256));
        // "AWS:owner" sorts before "extra..", so it is kept, escaped.
        assert_eq!(rendered.get("_AWS:owner").map(String::as_str), Some("me"));
    }

    #[test]
    fn aws_truncates_long_keys_and_values() {
        let long_key = "k".repeat(200);
        let long_value = "é".repeat(300);
        let rendered = sample(&[(long_key.as_str(), long_value.as_str())]).render(Cloud::Aws);
        assert_eq!(rendered.get(&"k".repeat(128)), Some(&"é".repeat(256)));
    }

    #[test]
    fn azure_replaces_forbidden_characters_and_dedups_without_case() {
        let rendered = sample(&[
            ("team/owner?", "qa"),
            ("Team_owner_", "dup"),
            ("a<b>%&\\", "z"),
        ])
        .render(Cloud::Azure);
        // "Team_owner_" sorts first and wins; "team/owner?" renders to the same name without case.
        assert_eq!(rendered.get("Team_owner_").map(String::as_str), Some("dup"));
        assert!(!rendered.contains_key("team_owner_"));
        assert_eq!(rendered.get("a_b____").map(String::as_str), Some("z"));
        assert!(
            rendered
                .keys()
                .all(|k| !k.contains(['<', '>', '%', '&', '\\', '?', '/']))
        );
        assert_eq!(rendered.len(), 8);
    }

    #[test]
    fn oci_lengths() {
        let long_key = "k".repeat(150);
        let long_value = "v".repeat(300);
        let rendered = sample(&[(long_key.as_str(), long_value.as_str())]).render(Cloud::Oci);
        assert_eq!(rendered.get(&"k".repeat(100)), Some(&"v".repeat(256)));
        assert_eq!(rendered.len(), 7);
    }
}
