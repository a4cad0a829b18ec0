//! The `garbage` fault: an answer that is not what the API documents. The handler carries
//! the request out as usual (so, as with a lost reply, the client cannot tell from the answer
//! whether it happened); then the request-log middleware replaces the answer with one of the
//! [`GarbageForm`]s, in the cloud's own content type.

use axum::body::Body;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;

use crate::scenario::GarbageForm;
use crate::world::CloudKind;

/// The nginx page a proxy in front of the API answers when the API itself did not.
pub const BAD_GATEWAY_HTML: &str = "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n";

/// Whether the cloud answers XML (EC2) rather than JSON.
fn is_xml(cloud: CloudKind) -> bool {
    cloud == CloudKind::Aws
}

fn content_type(cloud: CloudKind) -> &'static str {
    if is_xml(cloud) {
        "text/xml;charset=UTF-8"
    } else {
        "application/json"
    }
}

/// The answer `form` makes of the real answer (`status`, `body`) of `cloud`.
pub fn render(cloud: CloudKind, form: GarbageForm, status: StatusCode, body: &[u8]) -> Response {
    let (status, ctype, body): (StatusCode, &str, Vec<u8>) = match form {
        GarbageForm::Truncated => {
            let cut = if body.len() >= 2 {
                body[..body.len() / 2].to_vec()
            } else if is_xml(cloud) {
                b"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<".to_vec()
            } else {
                b"{\"".to_vec()
            };
            // A body on a 204 would not reach the client.
            let status = if status == StatusCode::NO_CONTENT {
                StatusCode::OK
            } else {
                status
            };
            (status, content_type(cloud), cut)
        }
        GarbageForm::WrongTypes => (status, content_type(cloud), wrong_types(cloud, body)),
        GarbageForm::MissingFields => (status, content_type(cloud), missing_fields(cloud, body)),
        GarbageForm::HtmlBadGateway => (
            StatusCode::BAD_GATEWAY,
            "text/html",
            BAD_GATEWAY_HTML.as_bytes().to_vec(),
        ),
        GarbageForm::ErrorIn200 => (StatusCode::OK, content_type(cloud), error_body(cloud)),
    };
    let mut response = Response::new(Body::from(body));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(ctype));
    response
}

/// The cloud's error document for an internal error, as the cloud words it.
fn error_body(cloud: CloudKind) -> Vec<u8> {
    let text = match cloud {
        CloudKind::Aws => "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Response><Errors><Error><Code>InternalError</Code><Message>An internal error has occurred. Retry your request.</Message></Error></Errors><RequestID>00000000-0000-0000-0000-000000000000</RequestID></Response>".to_owned(),
        CloudKind::Gce => serde_json::json!({"error": {"code": 500, "message": "Internal error. Please try again or contact Google Support.",
            "errors": [{"domain": "global", "reason": "backendError", "message": "Internal error."}]}}).to_string(),
        CloudKind::Azure => serde_json::json!({"error": {"code": "InternalServerError", "message": "An unexpected error occured while processing the request."}}).to_string(),
        CloudKind::Oci => serde_json::json!({"code": "InternalServerError", "message": "Internal error occurred"}).to_string(),
    };
    text.into_bytes()
}

/// Every value of the wrong type: strings become numbers, numbers strings, booleans
/// strings; in XML every text becomes a word no number, date, boolean or enum parses as.
fn wrong_types(cloud: CloudKind, body: &[u8]) -> Vec<u8> {
    if is_xml(cloud) {
        return map_xml_text(body, |_| Some("\u{1F4A5}not-a-value".to_owned()));
    }
    match serde_json::from_slice::<serde_json::Value>(body) {
        Ok(v) => retype(v).to_string().into_bytes(),
        // Not JSON to start with (an empty body): a document of the wrong type.
        Err(_) => b"[\"not\", \"an\", \"object\"]".to_vec(),
    }
}

fn retype(v: serde_json::Value) -> serde_json::Value {
    use serde_json::Value;
    match v {
        Value::String(_) => Value::from(123_456),
        Value::Number(n) => Value::from(format!("{n} units")),
        Value::Bool(b) => Value::from(if b { "yes" } else { "no" }),
        Value::Array(a) => Value::Array(a.into_iter().map(retype).collect()),
        Value::Object(o) => Value::Object(o.into_iter().map(|(k, v)| (k, retype(v))).collect()),
        Value::Null => Value::from(false),
    }
}

/// Every scalar field left out (objects and lists stay, empty of them); in XML every element
/// holding only text.
fn missing_fields(cloud: CloudKind, body: &[u8]) -> Vec<u8> {
    if is_xml(cloud) {
        return map_xml_text(body, |_| None);
    }
    match serde_json::from_slice::<serde_json::Value>(body) {
        Ok(v) => strip(v).to_string().into_bytes(),
        Err(_) => b"{}".to_vec(),
    }
}

fn strip(v: serde_json::Value) -> serde_json::Value {
    use serde_json::Value;
    match v {
        Value::Array(a) => Value::Array(a.into_iter().map(strip).collect()),
        Value::Object(o) => Value::Object(
            o.into_iter()
                .filter(|(_, v)| v.is_object() || v.is_array())
                .map(|(k, v)| (k, strip(v)))
                .collect(),
        ),
        other => other,
    }
}

/// Rewrites the XML document: every element whose content is only text is given the text
/// `edit` returns, or left out when it returns `None`. Containers and the declaration stay.
fn map_xml_text(body: &[u8], edit: impl Fn(&str) -> Option<String>) -> Vec<u8> {
    let text = String::from_utf8_lossy(body);
    // <name>text</name> with no child element: text holds no '<'.
    let leaf =
        regex_lite::Regex::new(r"<([A-Za-z_][\w.\-]*)(\s[^>]*)?>([^<]*)</([A-Za-z_][\w.\-]*)>")
            .expect("a valid pattern");
    let out = leaf.replace_all(&text, |c: &regex_lite::Captures<'_>| {
        let (open, attrs, inner, close) =
            (&c[1], c.get(2).map_or("", |m| m.as_str()), &c[3], &c[4]);
        if open != close {
            return c[0].to_owned();
        }
        match edit(inner) {
            Some(t) => format!("<{open}{attrs}>{t}</{close}>"),
            None => String::new(),
        }
    });
    out.into_owned().into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn body_of(r: Response) -> (StatusCode, String, String) {
        let status = r.status();
        let ctype = r.headers()[header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .to_owned();
        let bytes = axum::body::to_bytes(r.into_body(), usize::MAX)
            .await
            .unwrap();
        (status, ctype, String::from_utf8_lossy(&bytes).into_owned())
    }

    const XML: &[u8] = b"<?xml version=\"1.0\"?><CreateCapacityReservationResponse><requestId>r-1</requestId><capacityReservation><capacityReservationId>cr-1</capacityReservationId><totalInstanceCount>3</totalInstanceCount></capacityReservation></CreateCapacityReservationResponse>";

    #[tokio::test]
    async fn every_form_changes_the_answer() {
        let json = br#"{"id": "r-1", "count": 3, "ok": true, "items": [{"name": "a"}]}"#;
        for form in GarbageForm::ALL {
            for (cloud, body) in [(CloudKind::Aws, XML), (CloudKind::Gce, &json[..])] {
                let (status, ctype, text) =
                    body_of(render(cloud, form, StatusCode::OK, body)).await;
                assert_ne!(text.as_bytes(), body, "{form:?} {cloud}");
                match form {
                    GarbageForm::HtmlBadGateway => {
                        assert_eq!(status, StatusCode::BAD_GATEWAY);
                        assert_eq!(ctype, "text/html");
                    }
                    GarbageForm::ErrorIn200 => {
                        assert_eq!(status, StatusCode::OK);
                        assert!(text.contains("Internal"), "{text}");
                    }
                    _ => assert_eq!(status, StatusCode::OK),
                }
            }
        }
    }

    #[test]
    fn json_shapes() {
        let v = serde_json::json!({"id": "r-1", "count": 3, "items": [{"name": "a", "n": 1}]});
        assert_eq!(
            strip(v.clone()),
            serde_json::json!({"items": [{}]}),
            "missing fields"
        );
        assert_eq!(
            retype(v),
            serde_json::json!({"id": 123_456, "count": "3 units", "items": [{"name": 123_456, "n": "1 units"}]})
        );
    }

    #[test]
    fn xml_leaves() {
        let stripped = String::from_utf8(map_xml_text(XML, |_| None)).unwrap();
        assert!(
            !stripped.contains("cr-1") && !stripped.contains("requestId"),
            "{stripped}"
        );
        assert!(
            stripped.contains("<capacityReservation></capacityReservation>"),
            "{stripped}"
        );
        let retyped = String::from_utf8(map_xml_text(XML, |_| Some("x".into()))).unwrap();
        assert!(
            retyped.contains("<totalInstanceCount>x</totalInstanceCount>"),
            "{retyped}"
        );
    }
}
