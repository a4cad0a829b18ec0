//! Configuration fuzzing (issue 11, "Bad input"): random values of every key the loader
//! knows ([`cr_core::config::known_keys`]), of every YAML type, and random bytes as a whole
//! file. Loading and building the plan for every cloud never panics, and every failure is a
//! named error: a value's names the file and the key, a file's names the file.
//!
//! `PROPTEST_CASES` changes the number of cases (default 256 per property).

use std::collections::BTreeMap;
use std::path::Path;

use cr_core::config::known_keys;
use cr_core::{CapacityPlan, Cloud, Error, ErrorKind, Params};
use proptest::prelude::*;
use serde_json::Value;

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(256)
}

/// Strings a configuration may hold: SCT shapes (counts, lists, `++` appends, booleans as
/// text, shapes with sizes), huge and odd numbers as text, and any unicode.
fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(String::new()),
        Just("3 3".to_string()),
        Just("++ 1".to_string()),
        Just("true".to_string()),
        Just("on".to_string()),
        Just("zonal".to_string()),
        Just("VM.DenseIO.E5.Flex:8:64:1".to_string()),
        Just("us-east1-b us-west1".to_string()),
        Just("1e400".to_string()),
        Just("-0".to_string()),
        Just("NaN".to_string()),
        Just("18446744073709551616".to_string()),
        "[a-z0-9 ,:._-]{0,24}",
        any::<String>(),
        "\\PC{0,300}",
    ]
}

/// A YAML value of any type, nested two levels at most.
fn value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        prop_oneof![Just(u64::MAX), Just(u64::from(u32::MAX) + 1), Just(0)].prop_map(Value::from),
        any::<f64>()
            .prop_filter("JSON has no NaN or infinities", |f| f.is_finite())
            .prop_map(Value::from),
        text().prop_map(Value::from),
    ];
    leaf.prop_recursive(2, 16, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map(text(), inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Loads `file` and builds the plan for every cloud: never a panic (proptest reports one as
/// a failure), every failure a named error. `keys`: the keys the file sets (`None`: raw bytes).
fn load_and_plan(file: &Path, keys: Option<&[String]>) -> Result<(), TestCaseError> {
    let path = file.display().to_string();
    let params = match Params::load(&[file.to_path_buf()], &BTreeMap::new()) {
        Ok(p) => p,
        Err(e) => return check_error(&e, &path, keys, "loading"),
    };
    for cloud in [Cloud::Aws, Cloud::Gce, Cloud::Azure, Cloud::Oci] {
        if let Err(e) = CapacityPlan::build(&params, cloud, jiff::Timestamp::now()) {
            check_error(&e, &path, keys, &format!("the {cloud} plan"))?;
        }
    }
    Ok(())
}

/// `e` is a named error: a bad value names the file (or, for a plan built from cr's own
/// defaults, `defaults`) and a key, a file that is not a configuration names the file.
fn check_error(
    e: &Error,
    path: &str,
    keys: Option<&[String]>,
    what: &str,
) -> Result<(), TestCaseError> {
    let text = e.to_string();
    prop_assert_ne!(
        e.kind(),
        ErrorKind::Other,
        "{} gave an unnamed error: {}",
        what,
        text
    );
    match e {
        Error::InvalidConfig(c) => {
            prop_assert!(
                c.source == path || c.source == "defaults",
                "{} names {} instead of the file {}: {}",
                what,
                c.source,
                path,
                text
            );
            prop_assert!(!c.key.is_empty(), "{} names no key: {}", what, text);
            if let Some(keys) = keys
                && c.source == path
            {
                prop_assert!(
                    keys.contains(&c.key),
                    "{} names key {} the file does not set ({:?}): {}",
                    what,
                    c.key,
                    keys,
                    text
                );
            }
            prop_assert!(
                text.contains(&c.key) && text.contains(&c.source),
                "{}",
                text
            );
        }
        Error::ConfigFile { path: p, .. } => {
            prop_assert_eq!(p.as_str(), path, "{}: {}", what, text);
        }
        // A configuration that switches reservations off or names no backend is not an
        // error of its values; anything else must be one of the above.
        Error::Disabled { .. } | Error::UnknownBackend(_) => {}
        other => {
            return Err(TestCaseError::fail(format!(
                "{what}: not a configuration error: {other:?}"
            )));
        }
    }
    Ok(())
}

#[test]
fn known_keys_are_what_the_loader_reads() {
    let keys = known_keys();
    for key in [
        "test_id",
        "cluster_backend",
        "n_db_nodes",
        "gce_datacenter",
        "oci_instance_type_db",
        "availability_zone",
        "cost_tags",
        "max_reservation_hours",
    ] {
        assert!(keys.iter().any(|k| k == key), "{key} missing from {keys:?}");
    }
    let mut unique = keys.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), keys.len(), "listed once each: {keys:?}");
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), ..ProptestConfig::default() })]

    /// Up to four known keys with random values of any type (plus a backend and a test id
    /// sometimes, so the plan gets past "which cloud").
    #[test]
    fn random_values_of_known_keys_are_named_errors_or_a_plan(
        picks in prop::collection::vec((any::<prop::sample::Index>(), value()), 1..5),
        backend in prop::option::of(prop::sample::select(vec!["aws", "gce", "azure", "oci"])),
    ) {
        let known = known_keys();
        let mut doc = serde_json::Map::new();
        if let Some(b) = backend {
            doc.insert("cluster_backend".into(), Value::from(b));
        }
        for (index, v) in picks {
            doc.insert(index.get(&known).clone(), v);
        }
        let keys: Vec<String> = doc.keys().cloned().collect();
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("fuzz.yaml");
        // JSON is YAML: one flow mapping.
        std::fs::write(&file, Value::Object(doc).to_string()).unwrap();
        load_and_plan(&file, Some(&keys))?;
    }

    /// Any bytes as the whole file: random bytes, and YAML-looking lines of known keys.
    #[test]
    fn random_files_are_named_errors_or_a_plan(
        bytes in prop_oneof![
            prop::collection::vec(any::<u8>(), 0..512),
            prop::collection::vec(
                (any::<prop::sample::Index>(), "[ -~\t]{0,40}"),
                0..8,
            )
            .prop_map(|lines| {
                let known = known_keys();
                lines
                    .into_iter()
                    .map(|(i, rest)| format!("{}:{rest}\n", i.get(&known)))
                    .collect::<String>()
                    .into_bytes()
            }),
        ],
    ) {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("fuzz.yaml");
        std::fs::write(&file, &bytes).unwrap();
        load_and_plan(&file, None)?;
    }
}
