//! Reading EC2 Query parameters: flattened, 1-indexed lists (`Prefix.N`), nested members
//! (`Filter.N.Value.M`), booleans, integers and timestamps, with EC2's error codes for
//! malformed values. Also the filter matching (`*`/`?` wildcards) every Describe uses.

use std::collections::{BTreeMap, HashMap};

use jiff::Timestamp;

use super::xml::Ec2Error;

/// The decoded form body (plus query string).
#[derive(Debug, Default)]
pub struct Params {
    map: HashMap<String, String>,
}

/// One `Filter.N`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Filter {
    /// `Filter.N.Name`.
    pub name: String,
    /// `Filter.N.Value.M`, OR-ed.
    pub values: Vec<String>,
}

impl Params {
    /// From decoded pairs; later duplicates win, as in EC2.
    pub fn new(pairs: impl IntoIterator<Item = (String, String)>) -> Params {
        Params {
            map: pairs.into_iter().collect(),
        }
    }

    /// A parameter.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.map.get(name).map(String::as_str)
    }

    /// A required parameter.
    pub fn required(&self, name: &str) -> Result<&str, Ec2Error> {
        self.get(name)
            .filter(|v| !v.is_empty())
            .ok_or_else(|| Ec2Error::missing(name))
    }

    /// Every parameter except the named ones, sorted (the identity of a request for
    /// `ClientToken` idempotency).
    pub fn fingerprint(&self, except: &[&str]) -> String {
        let sorted: BTreeMap<&String, &String> = self
            .map
            .iter()
            .filter(|(k, _)| !except.contains(&k.as_str()))
            .collect();
        sorted
            .into_iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("&")
    }

    /// The indices `N` present under `prefix.N` (or `prefix.N.…`), ascending.
    pub fn indices(&self, prefix: &str) -> Vec<u32> {
        let dotted = format!("{prefix}.");
        let mut out: Vec<u32> = self
            .map
            .keys()
            .filter_map(|k| k.strip_prefix(&dotted))
            .filter_map(|rest| rest.split('.').next()?.parse().ok())
            .collect();
        out.sort_unstable();
        out.dedup();
        out
    }

    /// The values of a flattened list `prefix.1`, `prefix.2`, … in index order.
    pub fn list(&self, prefix: &str) -> Vec<String> {
        self.indices(prefix)
            .into_iter()
            .filter_map(|i| self.get(&format!("{prefix}.{i}")).map(str::to_owned))
            .collect()
    }

    /// `Filter.N.Name` / `Filter.N.Value.M`.
    pub fn filters(&self) -> Result<Vec<Filter>, Ec2Error> {
        self.indices("Filter")
            .into_iter()
            .map(|i| {
                let name = self
                    .get(&format!("Filter.{i}.Name"))
                    .ok_or_else(|| Ec2Error::missing(&format!("Filter.{i}.Name")))?;
                Ok(Filter {
                    name: name.to_owned(),
                    values: self.list(&format!("Filter.{i}.Value")),
                })
            })
            .collect()
    }

    /// A boolean (`true`/`false`, any case).
    pub fn bool(&self, name: &str) -> Result<Option<bool>, Ec2Error> {
        match self.get(name) {
            None => Ok(None),
            Some(v) if v.eq_ignore_ascii_case("true") => Ok(Some(true)),
            Some(v) if v.eq_ignore_ascii_case("false") => Ok(Some(false)),
            Some(v) => Err(Ec2Error::invalid(format!(
                "Value ({v}) for parameter {name} is invalid. Expected a boolean."
            ))),
        }
    }

    /// An integer within `min..=max`.
    pub fn int(&self, name: &str, min: i64, max: i64) -> Result<Option<i64>, Ec2Error> {
        let Some(v) = self.get(name) else {
            return Ok(None);
        };
        match v.parse::<i64>() {
            Ok(n) if (min..=max).contains(&n) => Ok(Some(n)),
            _ => Err(Ec2Error::invalid(format!(
                "Value ({v}) for parameter {name} is invalid. Must be between {min} and {max}."
            ))),
        }
    }

    /// An ISO-8601 timestamp.
    pub fn time(&self, name: &str) -> Result<Option<Timestamp>, Ec2Error> {
        let Some(v) = self.get(name) else {
            return Ok(None);
        };
        v.parse::<Timestamp>().map(Some).map_err(|_| {
            Ec2Error::invalid(format!(
                "Value ({v}) for parameter {name} is invalid. Expected an ISO 8601 timestamp."
            ))
        })
    }

    /// `DryRun=true`: answer `DryRunOperation` instead of acting.
    pub fn dry_run(&self) -> Result<(), Ec2Error> {
        if self.bool("DryRun")? == Some(true) {
            return Err(Ec2Error::new(
                axum::http::StatusCode::PRECONDITION_FAILED,
                "DryRunOperation",
                "Request would have succeeded, but DryRun flag is set.",
            ));
        }
        Ok(())
    }
}

/// EC2 filter-value matching: `*` matches any run, `?` one character, `\` escapes.
pub fn glob_match(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    // Classic two-pointer wildcard match with backtracking to the last `*`.
    let (mut pi, mut ti) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        let (tok, literal, width) = match p.get(pi) {
            Some('\\') if pi + 1 < p.len() => (Some(p[pi + 1]), true, 2),
            Some(c) => (Some(*c), false, 1),
            None => (None, false, 0),
        };
        match tok {
            Some('*') if !literal => {
                star = Some((pi, ti));
                pi += 1;
            }
            Some('?') if !literal => {
                pi += 1;
                ti += 1;
            }
            Some(c) if c == t[ti] => {
                pi += width;
                ti += 1;
            }
            _ => match star {
                Some((sp, st)) => {
                    pi = sp + 1;
                    ti = st + 1;
                    star = Some((sp, st + 1));
                }
                None => return false,
            },
        }
    }
    while p.get(pi) == Some(&'*') {
        pi += 1;
    }
    pi == p.len()
}

/// Whether any of a filter's values matches `value`.
pub fn any_match(values: &[String], value: &str) -> bool {
    values.iter().any(|p| glob_match(p, value))
}

/// Applies a `tag:<key>` or `tag-key` filter to a tag map; `None` when the filter is not a
/// tag filter.
pub fn tag_filter(filter: &Filter, tags: &BTreeMap<String, String>) -> Option<bool> {
    if let Some(key) = filter.name.strip_prefix("tag:") {
        return Some(tags.get(key).is_some_and(|v| any_match(&filter.values, v)));
    }
    if filter.name == "tag-key" {
        return Some(tags.keys().any(|k| any_match(&filter.values, k)));
    }
    None
}

/// Reads `{prefix}.N.ResourceType` / `{prefix}.N.Tag.M.Key|Value`, keeping tags of
/// `resource_type` and refusing others, and checks EC2's tag limits.
pub fn tag_specifications(
    params: &Params,
    prefix: &str,
    resource_type: &str,
) -> Result<BTreeMap<String, String>, Ec2Error> {
    let mut tags = BTreeMap::new();
    for i in params.indices(prefix) {
        let rt = params
            .get(&format!("{prefix}.{i}.ResourceType"))
            .ok_or_else(|| Ec2Error::missing(&format!("{prefix}.{i}.ResourceType")))?;
        if rt != resource_type {
            return Err(Ec2Error::invalid(format!(
                "'{rt}' is not a valid taggable resource type for this operation."
            )));
        }
        let tag_prefix = format!("{prefix}.{i}.Tag");
        for j in params.indices(&tag_prefix) {
            let key = params
                .get(&format!("{tag_prefix}.{j}.Key"))
                .ok_or_else(|| Ec2Error::missing(&format!("{tag_prefix}.{j}.Key")))?;
            let value = params.get(&format!("{tag_prefix}.{j}.Value")).unwrap_or("");
            if key.is_empty() || key.chars().count() > 128 {
                return Err(Ec2Error::invalid(format!(
                    "Tag key must be 1 to 128 characters long: '{key}'."
                )));
            }
            if value.chars().count() > 256 {
                return Err(Ec2Error::invalid(format!(
                    "Tag value for key '{key}' exceeds 256 characters."
                )));
            }
            if key.to_ascii_lowercase().starts_with("aws:") {
                return Err(Ec2Error::invalid(format!(
                    "Tag keys starting with 'aws:' are reserved for internal use: '{key}'."
                )));
            }
            if tags.insert(key.to_owned(), value.to_owned()).is_some() {
                return Err(Ec2Error::invalid(format!("Duplicate tag key '{key}'.")));
            }
        }
    }
    if tags.len() > 50 {
        return Err(Ec2Error::bad(
            "TagLimitExceeded",
            "The maximum number of tags per resource is 50.",
        ));
    }
    Ok(tags)
}

/// Pagination tokens: opaque to clients, an offset to us, bound to the operation so a
/// token from one listing is refused by another.
pub fn encode_token(kind: &str, offset: usize) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("{kind}:{offset}"))
}

/// Reverses [`encode_token`].
pub fn decode_token(kind: &str, token: &str) -> Result<usize, Ec2Error> {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(token)
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .and_then(|s| s.strip_prefix(&format!("{kind}:"))?.parse().ok())
        .ok_or_else(|| Ec2Error::bad("InvalidPaginationToken", "The pagination token is invalid."))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards() {
        assert!(glob_match("ci-*", "ci-pool"));
        assert!(glob_match("*", ""));
        assert!(glob_match("a?c", "abc"));
        assert!(!glob_match("a?c", "ac"));
        assert!(glob_match("*pool*", "ci-pool-1"));
        assert!(!glob_match("ci", "ci-pool"));
        assert!(glob_match(r"a\*", "a*"));
        assert!(!glob_match(r"a\*", "ab"));
    }

    #[test]
    fn lists_and_filters() {
        let p = Params::new(
            [
                ("Filter.2.Name", "state"),
                ("Filter.2.Value.1", "active"),
                ("Filter.1.Name", "tag:owner"),
                ("Filter.1.Value.2", "b"),
                ("Filter.1.Value.1", "a"),
                ("CapacityReservationId.10", "cr-2"),
                ("CapacityReservationId.2", "cr-1"),
            ]
            .map(|(k, v)| (k.to_owned(), v.to_owned())),
        );
        assert_eq!(p.list("CapacityReservationId"), ["cr-1", "cr-2"]);
        let f = p.filters().unwrap();
        assert_eq!(f[0].name, "tag:owner");
        assert_eq!(f[0].values, ["a", "b"]);
        assert_eq!(f[1].name, "state");
    }
}
