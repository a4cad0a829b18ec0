//! Deterministic reservation names and request ids.
//!
//! GCE reservations carry no labels, so ownership lives in the name and the description.
//! A name is `cr-<test prefix>-<zone suffix>-<machine type>-<hash>`:
//! - `cr-<test prefix>-` (the test id's first 8 letters and digits) lets one aggregated list
//!   filter a test's reservations by name; the description's `TestId` then confirms each;
//! - the zone suffix and machine type make names readable in the console;
//! - the hash of (test id, region, zone, type) makes the name unique and stable, so a rerun or
//!   a retry finds the same reservation instead of creating a second one.
//!
//! Names match `[a-z]([-a-z0-9]*[a-z0-9])?` and are at most 63 characters long.

use sha2::{Digest, Sha256};

/// Longest valid GCE resource name.
pub const MAX_NAME_LEN: usize = 63;

/// Every reservation cr creates starts with this.
pub const NAME_PREFIX: &str = "cr-";

const TEST_PREFIX_LEN: usize = 8;
const ZONE_SUFFIX_LEN: usize = 4;
const HASH_LEN: usize = 8;

/// The name prefix shared by every reservation of `test_id`: `cr-<first 8 letters/digits>-`.
pub fn test_prefix(test_id: &str) -> String {
    let mut p: String = test_id
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_lowercase())
        .take(TEST_PREFIX_LEN)
        .collect();
    if p.is_empty() {
        p.push('x');
    }
    format!("{NAME_PREFIX}{p}-")
}

/// The `filter` of an aggregated list that keeps the names of `test_id`'s reservations
/// (RE2 full match; the prefix holds only `[a-z0-9-]`, which needs no escaping).
pub fn name_filter(test_id: &str) -> String {
    format!("name eq \"{}.*\"", test_prefix(test_id))
}

/// The `filter` of an aggregated list that keeps the names of every test's reservations
/// (cr's name prefix); the description's tags then decide which are cr's.
pub fn any_test_filter() -> String {
    format!("name eq \"{NAME_PREFIX}.*\"")
}

/// The reservation name for one (test, region, zone, machine type).
pub fn reservation_name(test_id: &str, region: &str, zone: &str, machine_type: &str) -> String {
    let prefix = test_prefix(test_id);
    let zone_suffix = {
        let last = zone.strip_prefix(region).unwrap_or(zone);
        let last = last.rsplit('-').next().unwrap_or(last);
        let s = sanitize(last);
        let s: String = s.chars().take(ZONE_SUFFIX_LEN).collect();
        let s = s.trim_matches('-').to_string();
        if s.is_empty() { "z".to_string() } else { s }
    };
    let hash = {
        let digest = digest(&["name", test_id, region, zone, machine_type]);
        hex::encode(&digest[..HASH_LEN / 2])
    };
    // prefix + zone + '-' + type + '-' + hash
    let room = MAX_NAME_LEN - prefix.len() - zone_suffix.len() - 1 - 1 - HASH_LEN;
    let machine: String = sanitize(machine_type).chars().take(room).collect();
    let machine = machine.trim_matches('-');
    if machine.is_empty() {
        format!("{prefix}{zone_suffix}-{hash}")
    } else {
        format!("{prefix}{zone_suffix}-{machine}-{hash}")
    }
}

/// The `requestId` of one insert: a UUID derived from (test, region, zone, type, attempt),
/// so a retried call carries the same id and GCE deduplicates it. The digest is formatted
/// as a version-4 UUID (its bits say nothing of the randomness) so any UUID validator accepts
/// it; it is never the all-zero UUID.
pub fn insert_request_id(
    test_id: &str,
    region: &str,
    zone: &str,
    machine_type: &str,
    attempt: u32,
) -> String {
    uuid_from_digest(cr_core::adapter::idempotency_digest(
        test_id,
        region,
        zone,
        machine_type,
        attempt,
    ))
}

/// The `requestId` of one delete, derived from the reservation's numeric id (unique to this
/// incarnation of the name), so a retried delete is deduplicated but a later reservation of
/// the same name is not mistaken for it.
pub fn delete_request_id(name: &str, numeric_id: &str) -> String {
    uuid_from(&["delete", name, numeric_id])
}

fn uuid_from(parts: &[&str]) -> String {
    uuid_from_digest(digest(parts))
}

fn uuid_from_digest(d: [u8; 32]) -> String {
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&d[..16]);
    uuid::Builder::from_random_bytes(bytes)
        .into_uuid()
        .hyphenated()
        .to_string()
}

fn digest(parts: &[&str]) -> [u8; 32] {
    let mut h = Sha256::new();
    for p in parts {
        // Length-prefixed so ("ab","c") and ("a","bc") differ.
        h.update((p.len() as u64).to_be_bytes());
        h.update(p.as_bytes());
    }
    h.finalize().into()
}

/// Lowercase letters, digits and single dashes.
fn sanitize(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        let c = c.to_ascii_lowercase();
        if c.is_ascii_lowercase() || c.is_ascii_digit() {
            out.push(c);
        } else if !out.ends_with('-') {
            out.push('-');
        }
    }
    out
}

/// Whether `name` is a valid GCE resource name.
pub fn is_valid_name(name: &str) -> bool {
    let b = name.as_bytes();
    !b.is_empty()
        && b.len() <= MAX_NAME_LEN
        && b[0].is_ascii_lowercase()
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
        && *b.last().unwrap_or(&b'-') != b'-'
}

#[cfg(test)]
mod tests {
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};

    use super::*;

    fn parse_uuid(s: &str) -> Option<uuid::Uuid> {
        uuid::Uuid::parse_str(s).ok()
    }

    #[test]
    fn typical_name() {
        let name = reservation_name(
            "7c86f6de-f87d-45a8-9e7f-61fe7b7dbe84",
            "us-east1",
            "us-east1-b",
            "n2-highmem-16",
        );
        assert!(name.starts_with("cr-7c86f6de-b-n2-highmem-16-"), "{name}");
        assert_eq!(name.len(), "cr-7c86f6de-b-n2-highmem-16-".len() + HASH_LEN);
        assert!(is_valid_name(&name));
    }

    #[test]
    fn names_are_deterministic_and_distinct() {
        let a = reservation_name("t1", "us-east1", "us-east1-b", "n2-standard-8");
        assert_eq!(
            a,
            reservation_name("t1", "us-east1", "us-east1-b", "n2-standard-8")
        );
        let others = [
            reservation_name("t2", "us-east1", "us-east1-b", "n2-standard-8"),
            reservation_name("t1", "us-east1", "us-east1-c", "n2-standard-8"),
            reservation_name("t1", "us-east1", "us-east1-b", "n2-standard-16"),
            reservation_name("t1", "us-east4", "us-east4-b", "n2-standard-8"),
        ];
        for o in others {
            assert_ne!(a, o);
        }
    }

    #[test]
    fn names_share_the_test_prefix_and_match_the_filter() {
        let id = "ABCDEF12-3456";
        let name = reservation_name(id, "europe-west4", "europe-west4-a", "c3-standard-4");
        assert!(name.starts_with(&test_prefix(id)));
        assert_eq!(test_prefix(id), "cr-abcdef12-");
        assert_eq!(name_filter(id), "name eq \"cr-abcdef12-.*\"");
        assert_eq!(test_prefix("__"), "cr-x-");
    }

    /// Test ids holding the metacharacters of GCE's filter syntax (quotes, backslash,
    /// parentheses, spaces) and of RE2 (`.*+?|()[]{}^$\`): the filter stays one valid
    /// `name eq "<regex>"` term whose regex is literal letters, digits and dashes, and it
    /// matches the names of that test's reservations.
    #[test]
    fn test_ids_with_filter_and_regex_metacharacters_give_a_literal_filter() {
        let ids = [
            r#"run "quoted" (1)"#,
            r"C:\ci\run\42",
            "a*b?c",
            "x.y+z|w",
            "[abc]{2}^$",
            "name eq \"evil\" OR name ne \"x\"",
            ") OR (name eq .*",
            "ünïcödé-テスト-7",
            "\"\\\"",
        ];
        for id in ids {
            let prefix = test_prefix(id);
            assert_eq!(name_filter(id), format!("name eq \"{prefix}.*\""), "{id:?}");
            let literal = prefix.strip_prefix(NAME_PREFIX).unwrap();
            assert!(
                literal
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-'),
                "{id:?} gives {prefix:?}"
            );
            let name = reservation_name(id, "us-east1", "us-east1-b", "n2-standard-8");
            assert!(is_valid_name(&name), "{name}");
            assert!(name.starts_with(&prefix), "{name} vs {prefix}");
        }
        assert_eq!(test_prefix(r"C:\ci\run\42"), "cr-ccirun42-");
        assert_eq!(test_prefix("a*b?c"), "cr-abc-");
        // Only letters and digits count, so ids differing in punctuation share a prefix:
        // the description's TestId, not the name, tells them apart.
        assert_eq!(test_prefix("a*b?c"), test_prefix("abc"));
        assert_eq!(test_prefix("\"\\\""), "cr-x-");
    }

    fn random_string(rng: &mut StdRng, max: usize) -> String {
        const ALPHABET: &[char] = &[
            'a', 'Z', '0', '9', '-', '_', '.', ' ', '/', 'é', '中', '😀', '\n', '"', 'x', 'q',
        ];
        let len = rng.random_range(0..=max);
        (0..len)
            .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())])
            .collect()
    }

    /// Property: for any test id, region, zone and type — long, empty, odd characters —
    /// the name is valid, at most 63 characters, and starts with the test prefix.
    #[test]
    fn every_generated_name_is_valid() {
        let mut rng = StdRng::seed_from_u64(0x6ce);
        for _ in 0..5_000 {
            let test_id = random_string(&mut rng, 120);
            let region = random_string(&mut rng, 40);
            let zone = format!("{region}{}", random_string(&mut rng, 10));
            let machine = random_string(&mut rng, 120);
            let name = reservation_name(&test_id, &region, &zone, &machine);
            assert!(
                is_valid_name(&name),
                "{name:?} from {test_id:?} {zone:?} {machine:?}"
            );
            assert!(name.starts_with(&test_prefix(&test_id)));
        }
    }

    #[test]
    fn request_ids_are_stable_uuids_per_attempt() {
        let a = insert_request_id("t", "r", "r-a", "n2", 0);
        assert_eq!(a, insert_request_id("t", "r", "r-a", "n2", 0));
        assert_ne!(a, insert_request_id("t", "r", "r-a", "n2", 1));
        assert_ne!(a, insert_request_id("t", "r", "r-b", "n2", 0));
        let u = parse_uuid(&a).expect("a UUID");
        assert!(!u.is_nil());
        assert_eq!(u.get_version_num(), 4);
        let d = delete_request_id("cr-x-a-n2-00000000", "123");
        assert_ne!(d, delete_request_id("cr-x-a-n2-00000000", "124"));
        assert!(parse_uuid(&d).is_some());
    }

    #[test]
    fn validity_check_rejects_bad_names() {
        for bad in ["", "-a", "1a", "a-", "A", "a_b", &"a".repeat(64)] {
            assert!(!is_valid_name(bad), "{bad}");
        }
        for good in ["a", "a-1", &"a".repeat(63)] {
            assert!(is_valid_name(good), "{good}");
        }
    }
}
