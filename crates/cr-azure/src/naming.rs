//! Deterministic ARM names: the owned resource group, the reservation group and the
//! reservations. ARM PUT is idempotent by name, so a create retried after a lost reply (or a
//! rerun of the same test) lands on the same resource instead of reserving twice.

use sha2::{Digest, Sha256};

/// Longest resource group name.
const RG_MAX: usize = 90;
/// Longest capacity reservation group / reservation name.
const NAME_MAX: usize = 80;

fn allowed(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')
}

fn short_hash(s: &str) -> String {
    hex::encode(&Sha256::digest(s.as_bytes())[..4])
}

/// `cr-<test id>-<suffix>` within `max` characters: the test id verbatim when it is a valid
/// name part and fits, otherwise its valid characters (shortened) and a hash of the whole id,
/// so two test ids never share a name.
fn with_test_id(test_id: &str, suffix: &str, max: usize) -> String {
    let plain = format!("cr-{test_id}-{suffix}");
    if test_id.chars().all(allowed) && !test_id.is_empty() && plain.len() <= max {
        return plain;
    }
    let hash = short_hash(test_id);
    let room = max.saturating_sub(3 + 1 + hash.len() + 1 + suffix.len());
    let safe: String = test_id
        .chars()
        .map(|c| if allowed(c) { c } else { '-' })
        .take(room)
        .collect();
    let safe = safe.trim_matches(|c| c == '-' || c == '.');
    if safe.is_empty() {
        format!("cr-{hash}-{suffix}")
    } else {
        format!("cr-{safe}-{hash}-{suffix}")
    }
}

/// The resource group cr creates and owns for a test in a region: `cr-<test id>-<region>`.
pub fn owned_resource_group(test_id: &str, region: &str) -> String {
    with_test_id(test_id, region, RG_MAX)
}

/// The capacity reservation group of a test in a region: `azure_capacity_reservation_group`
/// when configured (with `-<region>` appended when the resource group is configured too, so
/// the regions of one test do not collide in it), else `cr-<test id>-<region>`.
pub fn group_name(
    test_id: &str,
    region: &str,
    configured: Option<&str>,
    shared_resource_group: bool,
) -> String {
    match configured {
        Some(name) if shared_resource_group => format!("{name}-{region}"),
        Some(name) => name.to_string(),
        None => with_test_id(test_id, region, NAME_MAX),
    }
}

/// The regional (zone-less) group beside a zonal one, for the regional last resort: a
/// group's zones are fixed, and a regional reservation needs a group without zones.
pub fn regional_group_name(group: &str) -> String {
    let name = format!("{group}-regional");
    if name.len() <= NAME_MAX {
        name
    } else {
        let hash = short_hash(group);
        let keep: String = group.chars().take(NAME_MAX - hash.len() - 10).collect();
        format!("{keep}-{hash}-regional")
    }
}

/// The reservation of one VM size in one zone of a group (`regional` without a zone): one
/// per size per zone, as ARM allows in a group.
pub fn reservation_name(vm_size: &str, zone: Option<&str>) -> String {
    let zone = zone.map_or_else(|| "regional".to_string(), |z| format!("z{z}"));
    let name: String = format!("cr-{vm_size}-{zone}")
        .chars()
        .map(|c| if allowed(c) { c } else { '-' })
        .collect();
    if name.len() <= NAME_MAX {
        name
    } else {
        let hash = short_hash(&name);
        format!("{}-{hash}", &name[..NAME_MAX - hash.len() - 1])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_stable_valid_and_distinct() {
        assert_eq!(
            owned_resource_group("7c86f6de", "eastus"),
            "cr-7c86f6de-eastus"
        );
        let odd = owned_resource_group(r#"5e7a\x*y?(q) "r".+[s]"#, "eastus");
        assert!(odd.chars().all(allowed), "{odd}");
        assert!(odd.ends_with("-eastus"));
        assert_eq!(
            odd,
            owned_resource_group(r#"5e7a\x*y?(q) "r".+[s]"#, "eastus")
        );
        assert_ne!(
            owned_resource_group("a/b", "eastus"),
            owned_resource_group("a?b", "eastus")
        );
        let long = "x".repeat(300);
        assert!(owned_resource_group(&long, "eastus").len() <= RG_MAX);
        assert!(group_name(&long, "westeurope", None, false).len() <= NAME_MAX);
        assert_eq!(group_name("t", "eastus", Some("mine"), false), "mine");
        assert_eq!(group_name("t", "eastus", Some("mine"), true), "mine-eastus");
        assert_eq!(regional_group_name("g"), "g-regional");
        assert!(regional_group_name(&"g".repeat(80)).len() <= NAME_MAX);
        assert_eq!(
            reservation_name("Standard_L8s_v3", Some("2")),
            "cr-Standard_L8s_v3-z2"
        );
        assert_eq!(
            reservation_name("Standard_L8s_v3", None),
            "cr-Standard_L8s_v3-regional"
        );
    }
}
