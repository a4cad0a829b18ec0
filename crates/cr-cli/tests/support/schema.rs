//! Checks cr's JSON documents against `docs/json.schema.json`, the schema users read.
//!
//! A validator for the part of JSON Schema that file uses (`type`, `const`, `enum`,
//! `required`, `properties`, `items`, local `$ref`), so the published schema itself is what
//! the tests hold the output to; a keyword it does not know fails loudly rather than passing.

use serde_json::Value;

const SCHEMA: &str = include_str!("../../../../docs/json.schema.json");

/// Panics with every violation when `doc` is not a valid `definition` document.
pub fn check(definition: &str, doc: &Value) {
    let schema: Value = serde_json::from_str(SCHEMA).expect("docs/json.schema.json is JSON");
    let def = &schema["$defs"][definition];
    assert!(
        def.is_object(),
        "docs/json.schema.json has no definition {definition}"
    );
    let mut errors = Vec::new();
    validate(&schema, def, doc, "$", &mut errors);
    assert!(
        errors.is_empty(),
        "the {definition} document breaks docs/json.schema.json:\n  {}\n{}",
        errors.join("\n  "),
        serde_json::to_string_pretty(doc).unwrap_or_default()
    );
}

fn type_matches(name: &str, v: &Value) -> bool {
    match name {
        "object" => v.is_object(),
        "array" => v.is_array(),
        "string" => v.is_string(),
        "integer" => v.is_i64() || v.is_u64(),
        "number" => v.is_number(),
        "boolean" => v.is_boolean(),
        "null" => v.is_null(),
        other => panic!("unknown JSON Schema type {other}"),
    }
}

fn validate(root: &Value, schema: &Value, v: &Value, at: &str, errors: &mut Vec<String>) {
    let Some(map) = schema.as_object() else {
        panic!("a schema at {at} is not an object");
    };
    for (keyword, rule) in map {
        match keyword.as_str() {
            "description" | "title" | "$schema" | "$id" | "$defs" => {}
            "$ref" => {
                let name = rule
                    .as_str()
                    .and_then(|r| r.strip_prefix("#/$defs/"))
                    .unwrap_or_else(|| panic!("only local $refs are supported: {rule}"));
                validate(root, &root["$defs"][name], v, at, errors);
            }
            "type" => {
                let names: Vec<&str> = match rule {
                    Value::String(s) => vec![s.as_str()],
                    Value::Array(a) => a.iter().filter_map(Value::as_str).collect(),
                    _ => panic!("bad type at {at}"),
                };
                if !names.iter().any(|n| type_matches(n, v)) {
                    errors.push(format!("{at}: {v} is not of type {names:?}"));
                }
            }
            "const" => {
                if v != rule {
                    errors.push(format!("{at}: {v} is not {rule}"));
                }
            }
            "enum" => {
                if !rule.as_array().is_some_and(|a| a.contains(v)) {
                    errors.push(format!("{at}: {v} is not one of {rule}"));
                }
            }
            "required" => {
                for key in rule
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(Value::as_str)
                {
                    if v.as_object().is_some_and(|o| !o.contains_key(key)) {
                        errors.push(format!("{at}: missing {key}"));
                    }
                }
            }
            "properties" => {
                if let (Some(props), Some(obj)) = (rule.as_object(), v.as_object()) {
                    for (key, sub) in props {
                        if let Some(value) = obj.get(key) {
                            validate(root, sub, value, &format!("{at}.{key}"), errors);
                        }
                    }
                }
            }
            "items" => {
                for (i, item) in v.as_array().into_iter().flatten().enumerate() {
                    validate(root, rule, item, &format!("{at}[{i}]"), errors);
                }
            }
            other => panic!("docs/json.schema.json uses {other}, which this check does not know"),
        }
    }
}

#[test]
fn the_checker_refuses_what_the_schema_refuses() {
    let ok =
        serde_json::json!({"schema": 1, "ok": true, "reserved": false, "disabled_reason": "off"});
    check("reserve_disabled", &ok);
    for bad in [
        serde_json::json!({"schema": 1, "ok": true, "reserved": false}),
        serde_json::json!({"schema": 2, "ok": true, "reserved": false, "disabled_reason": "off"}),
        serde_json::json!({"schema": 1, "ok": true, "reserved": false, "disabled_reason": 3}),
    ] {
        let refused = std::panic::catch_unwind(|| check("reserve_disabled", &bad)).is_err();
        assert!(refused, "accepted {bad}");
    }
}
