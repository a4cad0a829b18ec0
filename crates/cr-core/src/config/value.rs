//! Typed reading of merged configuration values: the value shapes SCT accepts for each key,
//! and the configuration errors that name source, key, value and expectation.

use std::cell::RefCell;
use std::collections::BTreeMap;

use serde_json::Value;

use super::{OciShape, SourcedValue};
use crate::error::{Error, Result};

/// A short name of a value's YAML kind, for messages.
pub(super) fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "a mapping",
    }
}

/// A value as the user wrote it: strings bare, everything else as compact JSON.
pub(super) fn display_value(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// Reads typed values out of the merged keys, and remembers which keys it was asked for
/// (what [`super::known_keys`] lists).
pub(super) struct Reader<'a> {
    raw: &'a BTreeMap<String, SourcedValue>,
    asked: RefCell<Vec<String>>,
}

impl<'a> Reader<'a> {
    pub(super) fn new(raw: &'a BTreeMap<String, SourcedValue>) -> Self {
        Reader {
            raw,
            asked: RefCell::new(Vec::new()),
        }
    }

    /// Every key read so far, in the order first read.
    pub(super) fn asked(&self) -> Vec<String> {
        self.asked.borrow().clone()
    }

    /// The value of `key`, or `None` when it is missing, null or an empty string (SCT's
    /// "not set").
    fn get(&self, key: &str) -> Option<&'a Value> {
        {
            let mut asked = self.asked.borrow_mut();
            if !asked.iter().any(|k| k == key) {
                asked.push(key.to_string());
            }
        }
        match self.raw.get(key).map(|v| &v.value) {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) if s.trim().is_empty() => None,
            Some(v) => Some(v),
        }
    }

    /// A configuration error about `key`'s current value.
    pub(super) fn error(&self, key: &str, expected: &str) -> Error {
        let (source, value) = match self.raw.get(key) {
            Some(v) => (v.source.as_str(), display_value(&v.value)),
            None => (super::DEFAULTS_SOURCE, String::new()),
        };
        Error::config(source, key, value, expected)
    }

    /// A string (numbers are taken as their text).
    pub(super) fn string(&self, key: &str) -> Result<Option<String>> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.trim().to_string())),
            Some(Value::Number(n)) => Ok(Some(n.to_string())),
            Some(_) => Err(self.error(key, "a string")),
        }
    }

    /// `reuse_cluster`: an id, or false / empty for "not reusing".
    pub(super) fn reuse_cluster(&self, key: &str) -> Result<Option<String>> {
        match self.get(key) {
            None | Some(Value::Bool(false)) => Ok(None),
            Some(Value::String(s)) if s.trim().eq_ignore_ascii_case("false") => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.trim().to_string())),
            Some(Value::Number(n)) => Ok(Some(n.to_string())),
            Some(_) => Err(self.error(key, "the test id of the cluster to reuse, or false")),
        }
    }

    /// A boolean: YAML `true`/`false`, or a string SCT's `strtobool` accepts.
    pub(super) fn bool(&self, key: &str, default: bool) -> Result<bool> {
        match self.get(key) {
            None => Ok(default),
            Some(Value::Bool(b)) => Ok(*b),
            Some(Value::String(s)) => match s.trim().to_ascii_lowercase().as_str() {
                "true" | "yes" | "y" | "t" | "on" | "1" => Ok(true),
                "false" | "no" | "n" | "f" | "off" | "0" => Ok(false),
                _ => Err(self.error(key, "true or false")),
            },
            Some(_) => Err(self.error(key, "true or false")),
        }
    }

    /// A non-negative whole number.
    pub(super) fn u64(&self, key: &str, default: u64) -> Result<u64> {
        match self.get(key) {
            None => Ok(default),
            Some(v) => as_u64(v).ok_or_else(|| self.error(key, "a non-negative whole number")),
        }
    }

    /// A non-negative whole number that fits 32 bits.
    pub(super) fn u32(&self, key: &str, default: u32) -> Result<u32> {
        match self.get(key) {
            None => Ok(default),
            Some(v) => as_u64(v)
                .and_then(|n| u32::try_from(n).ok())
                .ok_or_else(|| self.error(key, "a non-negative whole number")),
        }
    }

    /// A node count: an int, a list of ints, or a space-separated string of ints (one per
    /// data centre).
    pub(super) fn counts(&self, key: &str) -> Result<Vec<u32>> {
        let expected = "a node count: a non-negative integer, a list of them, or a space-separated string of them such as \"3 3\" (one per region)";
        let one = |v: &Value| as_u64(v).and_then(|n| u32::try_from(n).ok());
        match self.get(key) {
            None => Ok(Vec::new()),
            Some(Value::String(s)) => s
                .split_whitespace()
                .map(|p| p.parse::<u32>().ok())
                .collect::<Option<Vec<_>>>()
                .ok_or_else(|| self.error(key, expected)),
            Some(Value::Array(items)) => items
                .iter()
                .map(one)
                .collect::<Option<Vec<_>>>()
                .ok_or_else(|| self.error(key, expected)),
            Some(v) => one(v)
                .map(|n| vec![n])
                .ok_or_else(|| self.error(key, expected)),
        }
    }

    /// A list of names: a string (space-separated for several), or a list of strings.
    fn names(&self, key: &str, expected: &str) -> Result<Vec<String>> {
        let items: Vec<String> = match self.get(key) {
            None => return Ok(Vec::new()),
            Some(Value::String(s)) => s.split_whitespace().map(str::to_string).collect(),
            Some(Value::Array(items)) => {
                let mut out = Vec::new();
                for item in items {
                    match item {
                        Value::String(s) => out.extend(s.split_whitespace().map(str::to_string)),
                        _ => return Err(self.error(key, expected)),
                    }
                }
                out
            }
            Some(_) => return Err(self.error(key, expected)),
        };
        Ok(items)
    }

    /// Region names (`region_name`, `azure_region_name`, `oci_region_name`).
    pub(super) fn regions(&self, key: &str) -> Result<Vec<String>> {
        let expected = "a region name such as `us-east-1`, a list of them, or a space-separated string of them (lowercase letters, digits and hyphens)";
        let regions = self.names(key, expected)?;
        if regions.iter().all(|r| is_region_name(r)) {
            Ok(regions)
        } else {
            Err(self.error(key, expected))
        }
    }

    /// `gce_datacenter`: regions (`us-east1`) or zones (`us-east1-b`).
    pub(super) fn gce_datacenters(&self, key: &str) -> Result<Vec<String>> {
        let expected = "a GCE region such as `us-east1` or zone such as `us-east1-b`, a list of them, or a space-separated string of them";
        let dcs = self.names(key, expected)?;
        if dcs.iter().all(|d| split_gce_datacenter(d).is_some()) {
            Ok(dcs)
        } else {
            Err(self.error(key, expected))
        }
    }

    /// Zones: `a`, `a,b,c`, Azure `1` or `1,2` (lists and spaces also accepted).
    pub(super) fn zones(&self, key: &str) -> Result<Vec<String>> {
        let expected =
            "zone letters such as `a` or `a,b,c`, or Azure zone numbers such as `1` or `1,2,3`";
        let parts: Vec<String> = match self.get(key) {
            None => return Ok(Vec::new()),
            Some(Value::Number(n)) => vec![n.to_string()],
            Some(Value::String(s)) => s
                .split([',', ' '])
                .filter(|p| !p.trim().is_empty())
                .map(|p| p.trim().to_string())
                .collect(),
            Some(Value::Array(items)) => {
                let mut out = Vec::new();
                for item in items {
                    match item {
                        Value::String(s) => out.extend(
                            s.split([',', ' '])
                                .filter(|p| !p.trim().is_empty())
                                .map(|p| p.trim().to_string()),
                        ),
                        Value::Number(n) => out.push(n.to_string()),
                        _ => return Err(self.error(key, expected)),
                    }
                }
                out
            }
            Some(_) => return Err(self.error(key, expected)),
        };
        let valid = |z: &String| {
            (z.len() == 1 && z.chars().all(|c| c.is_ascii_lowercase()))
                || (!z.is_empty() && z.len() <= 2 && z.chars().all(|c| c.is_ascii_digit()))
        };
        if parts.iter().all(valid) {
            let mut unique = Vec::new();
            for p in parts {
                if !unique.contains(&p) {
                    unique.push(p);
                }
            }
            Ok(unique)
        } else {
            Err(self.error(key, expected))
        }
    }

    /// An OCI shape, `<shape>:<ocpus>:<ram_gb>:<nvmes>`.
    pub(super) fn oci_shape(&self, key: &str) -> Result<Option<OciShape>> {
        match self.string(key)? {
            None => Ok(None),
            Some(s) => s
                .parse::<OciShape>()
                .map(Some)
                .map_err(|expected| self.error(key, &expected)),
        }
    }

    /// A map of string keys to string values (numbers and booleans taken as their text).
    pub(super) fn string_map(&self, key: &str) -> Result<BTreeMap<String, String>> {
        let expected = "a mapping of tag keys to string values";
        match self.get(key) {
            None => Ok(BTreeMap::new()),
            Some(Value::Object(map)) => map
                .iter()
                .map(|(k, v)| match v {
                    Value::String(s) => Some((k.clone(), s.clone())),
                    Value::Number(n) => Some((k.clone(), n.to_string())),
                    Value::Bool(b) => Some((k.clone(), b.to_string())),
                    _ => None,
                })
                .collect::<Option<BTreeMap<_, _>>>()
                .ok_or_else(|| self.error(key, expected)),
            Some(_) => Err(self.error(key, expected)),
        }
    }
}

fn as_u64(v: &Value) -> Option<u64> {
    match v {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.trim().parse::<u64>().ok(),
        _ => None,
    }
}

fn is_region_name(s: &str) -> bool {
    !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

/// Splits a `gce_datacenter` entry into its region and, when it names a zone, the zone:
/// `us-east1` → (`us-east1`, None); `us-east1-b` → (`us-east1`, Some(`us-east1-b`)).
pub(crate) fn split_gce_datacenter(dc: &str) -> Option<(String, Option<String>)> {
    let parts: Vec<&str> = dc.split('-').collect();
    let word = |p: &str| !p.is_empty() && p.chars().all(|c| c.is_ascii_lowercase());
    // A GCE region is `<continent>-<area><digit(s)>`, e.g. `us-east1`, `europe-west10`.
    let region_like = |area: &str| {
        let letters = area.trim_end_matches(|c: char| c.is_ascii_digit());
        word(letters) && letters.len() < area.len()
    };
    match parts.as_slice() {
        [continent, area] if word(continent) && region_like(area) => Some((dc.to_string(), None)),
        [continent, area, zone]
            if word(continent) && region_like(area) && zone.len() == 1 && word(zone) =>
        {
            Some((format!("{continent}-{area}"), Some(dc.to_string())))
        }
        _ => None,
    }
}
