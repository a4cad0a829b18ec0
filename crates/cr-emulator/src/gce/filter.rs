//! The `filter=` expressions of Compute Engine list calls, evaluated against the JSON a
//! resource is returned as.
//!
//! Two styles, which cannot be mixed (as the API documents): regular-expression style
//! (`name eq ci-pool-.*`, `name ne "x"`: whole-field RE2 match) and AIP-160 style
//! (`name = "x"`, `!=`, `>`, `<`, `>=`, `<=`, `:` with `*` wildcards; terms in parentheses,
//! `AND` by default or explicit `AND`/`OR`, `NOT`/`-` negation; `OR` binds tighter than `AND`).
//! Field paths are dotted (`specificReservation.instanceProperties.machineType`).

use serde_json::Value;

/// A parsed filter.
#[derive(Debug, Clone, PartialEq)]
pub enum Filter {
    /// Every term must hold.
    And(Vec<Filter>),
    /// Some term must hold.
    Or(Vec<Filter>),
    /// Negation.
    Not(Box<Filter>),
    /// `field op value`.
    Cmp {
        /// Dotted field path.
        field: String,
        /// The operator.
        op: Op,
        /// The literal.
        value: String,
    },
}

/// Comparison operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// `=`.
    Eq,
    /// `!=`.
    Ne,
    /// `<`.
    Lt,
    /// `<=`.
    Le,
    /// `>`.
    Gt,
    /// `>=`.
    Ge,
    /// `:` (has / wildcard match).
    Has,
    /// `eq` (regular expression, whole field).
    ReEq,
    /// `ne` (regular expression, whole field, negated).
    ReNe,
}

struct Parser<'a> {
    s: &'a [u8],
    text: &'a str,
    pos: usize,
}

impl<'a> Parser<'a> {
    fn skip_ws(&mut self) {
        while self.pos < self.s.len() && self.s[self.pos].is_ascii_whitespace() {
            self.pos += 1;
        }
    }

    fn peek(&self) -> Option<u8> {
        self.s.get(self.pos).copied()
    }

    fn keyword(&mut self, kw: &str) -> bool {
        let end = self.pos + kw.len();
        if self.text.get(self.pos..end) == Some(kw)
            && self
                .s
                .get(end)
                .is_none_or(|c| c.is_ascii_whitespace() || *c == b'(')
        {
            self.pos = end;
            true
        } else {
            false
        }
    }

    fn expr(&mut self) -> Result<Filter, String> {
        // AND of OR-groups (AIP-160: OR binds tighter).
        let mut terms = vec![self.or_group()?];
        loop {
            self.skip_ws();
            match self.peek() {
                None | Some(b')') => break,
                _ => {
                    self.keyword("AND");
                    terms.push(self.or_group()?);
                }
            }
        }
        Ok(if terms.len() == 1 {
            terms.remove(0)
        } else {
            Filter::And(terms)
        })
    }

    fn or_group(&mut self) -> Result<Filter, String> {
        let mut terms = vec![self.unary()?];
        loop {
            self.skip_ws();
            if self.keyword("OR") {
                terms.push(self.unary()?);
            } else {
                break;
            }
        }
        Ok(if terms.len() == 1 {
            terms.remove(0)
        } else {
            Filter::Or(terms)
        })
    }

    fn unary(&mut self) -> Result<Filter, String> {
        self.skip_ws();
        if self.keyword("NOT") {
            return Ok(Filter::Not(Box::new(self.unary()?)));
        }
        if self.peek() == Some(b'-') {
            self.pos += 1;
            return Ok(Filter::Not(Box::new(self.unary()?)));
        }
        if self.peek() == Some(b'(') {
            self.pos += 1;
            let inner = self.expr()?;
            self.skip_ws();
            if self.peek() != Some(b')') {
                return Err("unbalanced parenthesis".into());
            }
            self.pos += 1;
            return Ok(inner);
        }
        self.comparison()
    }

    fn comparison(&mut self) -> Result<Filter, String> {
        self.skip_ws();
        let start = self.pos;
        while self
            .peek()
            .is_some_and(|c| c.is_ascii_alphanumeric() || c == b'.' || c == b'_')
        {
            self.pos += 1;
        }
        let field = self.text[start..self.pos].to_owned();
        if field.is_empty() {
            return Err(format!("expected a field name at offset {start}"));
        }
        self.skip_ws();
        let op = if self.keyword("eq") {
            Op::ReEq
        } else if self.keyword("ne") {
            Op::ReNe
        } else {
            let rest = &self.text[self.pos..];
            let (op, len) = [
                ("!=", Op::Ne),
                (">=", Op::Ge),
                ("<=", Op::Le),
                ("=", Op::Eq),
                (">", Op::Gt),
                ("<", Op::Lt),
                (":", Op::Has),
            ]
            .into_iter()
            .find(|(sym, _)| rest.starts_with(sym))
            .map(|(sym, op)| (op, sym.len()))
            .ok_or_else(|| format!("expected an operator after '{field}'"))?;
            self.pos += len;
            op
        };
        self.skip_ws();
        let value = self.value(matches!(op, Op::ReEq | Op::ReNe))?;
        Ok(Filter::Cmp { field, op, value })
    }

    fn value(&mut self, regex: bool) -> Result<String, String> {
        if self.peek() == Some(b'"') {
            self.pos += 1;
            let mut out = String::new();
            let mut chars = self.text[self.pos..].char_indices();
            while let Some((i, c)) = chars.next() {
                match c {
                    '\\' => {
                        if let Some((_, next)) = chars.next() {
                            // Keep regex escapes intact; unescape only quotes and backslashes.
                            if next != '"' && next != '\\' || regex && next == '\\' {
                                out.push('\\');
                            }
                            out.push(next);
                        }
                    }
                    '"' => {
                        self.pos += i + 1;
                        return Ok(out);
                    }
                    c => out.push(c),
                }
            }
            return Err("unterminated string".into());
        }
        // A bare value runs to whitespace or an unbalanced ')'; regular expressions may
        // contain balanced parentheses.
        let start = self.pos;
        let mut depth = 0i32;
        while let Some(c) = self.peek() {
            if c.is_ascii_whitespace() && depth == 0 {
                break;
            }
            if c == b'(' && regex {
                depth += 1;
            }
            if c == b')' {
                if depth == 0 {
                    break;
                }
                depth -= 1;
            }
            self.pos += 1;
        }
        if self.pos == start {
            return Err("expected a value".into());
        }
        Ok(self.text[start..self.pos].to_owned())
    }
}

impl Filter {
    /// Parses a filter expression; refuses mixing the regex and AIP-160 styles.
    pub fn parse(text: &str) -> Result<Filter, String> {
        let mut p = Parser {
            s: text.as_bytes(),
            text,
            pos: 0,
        };
        let f = p.expr()?;
        p.skip_ws();
        if p.pos != text.len() {
            return Err(format!("unexpected input at offset {}", p.pos));
        }
        let (mut regex, mut aip) = (false, false);
        f.visit(&mut |op| {
            if matches!(op, Op::ReEq | Op::ReNe) {
                regex = true;
            } else {
                aip = true;
            }
        });
        if regex && aip {
            return Err(
                "regular-expression (eq/ne) and comparison operators cannot be mixed".into(),
            );
        }
        f.check_regexes()?;
        Ok(f)
    }

    fn visit(&self, f: &mut impl FnMut(Op)) {
        match self {
            Filter::And(v) | Filter::Or(v) => v.iter().for_each(|x| x.visit(f)),
            Filter::Not(x) => x.visit(f),
            Filter::Cmp { op, .. } => f(*op),
        }
    }

    fn check_regexes(&self) -> Result<(), String> {
        match self {
            Filter::And(v) | Filter::Or(v) => v.iter().try_for_each(Filter::check_regexes),
            Filter::Not(x) => x.check_regexes(),
            Filter::Cmp {
                op: Op::ReEq | Op::ReNe,
                value,
                ..
            } => anchored(value).map(|_| ()),
            Filter::Cmp { .. } => Ok(()),
        }
    }

    /// Whether `resource` satisfies the filter.
    pub fn matches(&self, resource: &Value) -> bool {
        match self {
            Filter::And(v) => v.iter().all(|x| x.matches(resource)),
            Filter::Or(v) => v.iter().any(|x| x.matches(resource)),
            Filter::Not(x) => !x.matches(resource),
            Filter::Cmp { field, op, value } => compare(lookup(resource, field), *op, value),
        }
    }
}

fn anchored(re: &str) -> Result<regex_lite::Regex, String> {
    regex_lite::Regex::new(&format!("^(?:{re})$"))
        .map_err(|e| format!("invalid regular expression {re:?}: {e}"))
}

fn lookup<'v>(resource: &'v Value, path: &str) -> Option<&'v Value> {
    path.split('.').try_fold(resource, |v, key| v.get(key))
}

fn scalar(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn wildcard(pattern: &str, text: &str) -> bool {
    match (pattern.strip_prefix('*'), pattern.strip_suffix('*')) {
        (Some(rest), _) if rest.ends_with('*') => text.contains(&rest[..rest.len() - 1]),
        (Some(suffix), _) => text.ends_with(suffix),
        (None, Some(prefix)) => text.starts_with(prefix),
        _ => text == pattern,
    }
}

fn compare(field: Option<&Value>, op: Op, value: &str) -> bool {
    let Some(field) = field else {
        // A missing field equals nothing and differs from everything.
        return matches!(op, Op::Ne | Op::ReNe);
    };
    if op == Op::Has {
        return match field {
            Value::Array(items) => items.iter().filter_map(scalar).any(|s| wildcard(value, &s)),
            Value::Object(map) => value == "*" || map.contains_key(value),
            v => scalar(v).is_some_and(|s| value == "*" || wildcard(value, &s)),
        };
    }
    let Some(text) = scalar(field) else {
        return matches!(op, Op::Ne | Op::ReNe);
    };
    match op {
        Op::ReEq | Op::ReNe => {
            let hit = anchored(value).is_ok_and(|re| re.is_match(&text));
            hit == (op == Op::ReEq)
        }
        Op::Eq => text == value,
        Op::Ne => text != value,
        _ => {
            let ordering = match (text.parse::<f64>(), value.parse::<f64>()) {
                (Ok(a), Ok(b)) => a.partial_cmp(&b),
                _ => Some(text.as_str().cmp(value)),
            };
            ordering.is_some_and(|o| match op {
                Op::Lt => o.is_lt(),
                Op::Le => o.is_le(),
                Op::Gt => o.is_gt(),
                Op::Ge => o.is_ge(),
                _ => false,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn res() -> Value {
        json!({"name": "ci-pool-a-0001", "status": "READY", "specificReservation": {"count": "2",
               "instanceProperties": {"machineType": "n2-highmem-16"}}, "specificReservationRequired": true})
    }

    fn m(f: &str) -> bool {
        Filter::parse(f)
            .unwrap_or_else(|e| panic!("{f}: {e}"))
            .matches(&res())
    }

    #[test]
    fn regex_style() {
        assert!(m("name eq ci-pool-.*"));
        assert!(m(r#"name eq "ci-pool-.*""#));
        assert!(!m("name eq ci-pool"));
        assert!(m("name ne other-.*"));
        assert!(m("(name eq ci-.*)(status eq READY)"));
        assert!(m("name eq (ci|cd)-pool-.*"));
    }

    #[test]
    fn aip_style() {
        assert!(m(r#"name = "ci-pool-a-0001""#));
        assert!(m("name = ci-pool-a-0001"));
        assert!(!m(r#"name != "ci-pool-a-0001""#));
        assert!(m(r#"name:"ci-pool-*""#));
        assert!(m(
            "specificReservation.count > 1 AND specificReservation.count <= 2"
        ));
        assert!(m(
            r#"(status = "READY") (specificReservation.instanceProperties.machineType = "n2-highmem-16")"#
        ));
        assert!(m(r#"status = "CREATING" OR status = "READY""#));
        assert!(m("specificReservationRequired = true"));
        assert!(m(r#"NOT name = "x""#));
        assert!(m(r#"-name = "x""#));
        assert!(!m(r#"description = "x""#));
    }

    #[test]
    fn malformed_or_mixed_filters_are_refused() {
        assert!(Filter::parse("name eq a AND status = READY").is_err());
        assert!(Filter::parse("(name = a").is_err());
        assert!(Filter::parse("name").is_err());
        assert!(Filter::parse("name eq [").is_err());
    }
}
