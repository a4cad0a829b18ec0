//! EC2 Query replies: a small XML writer, the success envelope (`<{Action}Response
//! xmlns=...><requestId>`), the error envelope (`<Response><Errors><Error><Code>`), and
//! timestamp formatting.

use std::fmt::Write as _;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use jiff::Timestamp;

/// Namespace of EC2 API version 2016-11-15 (real responses carry the trailing slash).
pub const NAMESPACE: &str = "http://ec2.amazonaws.com/doc/2016-11-15/";

/// Appends escaped text.
pub fn escape_into(out: &mut String, text: &str) {
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
}

/// Builds an XML document element by element.
#[derive(Debug, Default)]
pub struct Xml {
    out: String,
}

impl Xml {
    /// `<tag>`.
    pub fn open(&mut self, tag: &str) -> &mut Self {
        let _ = write!(self.out, "<{tag}>");
        self
    }

    /// `</tag>`.
    pub fn close(&mut self, tag: &str) -> &mut Self {
        let _ = write!(self.out, "</{tag}>");
        self
    }

    /// `<tag>escaped value</tag>`.
    pub fn leaf(&mut self, tag: &str, value: impl std::fmt::Display) -> &mut Self {
        let value = value.to_string();
        let _ = write!(self.out, "<{tag}>");
        escape_into(&mut self.out, &value);
        let _ = write!(self.out, "</{tag}>");
        self
    }

    /// A leaf only when the value is present.
    pub fn opt_leaf(&mut self, tag: &str, value: Option<impl std::fmt::Display>) -> &mut Self {
        if let Some(v) = value {
            self.leaf(tag, v);
        }
        self
    }

    /// `<tagSet><item><key>k</key><value>v</value></item>…</tagSet>`.
    pub fn tag_set<'a>(
        &mut self,
        tags: impl IntoIterator<Item = (&'a String, &'a String)>,
    ) -> &mut Self {
        self.open("tagSet");
        for (k, v) in tags {
            self.open("item")
                .leaf("key", k)
                .leaf("value", v)
                .close("item");
        }
        self.close("tagSet")
    }
}

/// ISO-8601 with milliseconds, as EC2 writes timestamps (`2025-06-01T12:00:00.000Z`).
pub fn time(ts: Timestamp) -> String {
    format!(
        "{}.{:03}Z",
        ts.strftime("%Y-%m-%dT%H:%M:%S"),
        ts.subsec_millisecond()
    )
}

fn with_headers(status: StatusCode, body: String, request_id: &str) -> Response {
    let mut response = (status, body).into_response();
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/xml;charset=UTF-8"),
    );
    if let Ok(v) = HeaderValue::from_str(request_id) {
        h.insert("x-amzn-requestid", v);
    }
    h.insert(header::SERVER, HeaderValue::from_static("AmazonEC2"));
    response
}

/// A success reply: `<{action}Response xmlns=…><requestId>…</requestId>{inner}</…>`.
pub fn success(action: &str, request_id: &str, inner: Xml) -> Response {
    let mut body = String::with_capacity(inner.out.len() + 200);
    let _ = write!(
        body,
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<{action}Response xmlns=\"{NAMESPACE}\"><requestId>{request_id}</requestId>"
    );
    body.push_str(&inner.out);
    let _ = write!(body, "</{action}Response>");
    with_headers(StatusCode::OK, body, request_id)
}

/// An EC2 error: code, message and HTTP status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ec2Error {
    /// HTTP status.
    pub status: StatusCode,
    /// EC2 error code (`InsufficientInstanceCapacity`).
    pub code: String,
    /// Human-readable message.
    pub message: String,
}

impl Ec2Error {
    /// Any error.
    pub fn new(status: StatusCode, code: &str, message: impl Into<String>) -> Ec2Error {
        Ec2Error {
            status,
            code: code.to_owned(),
            message: message.into(),
        }
    }

    /// 400 with the given code.
    pub fn bad(code: &str, message: impl Into<String>) -> Ec2Error {
        Ec2Error::new(StatusCode::BAD_REQUEST, code, message)
    }

    /// 400 `InvalidParameterValue`.
    pub fn invalid(message: impl Into<String>) -> Ec2Error {
        Ec2Error::bad("InvalidParameterValue", message)
    }

    /// 400 `MissingParameter`.
    pub fn missing(name: &str) -> Ec2Error {
        Ec2Error::bad(
            "MissingParameter",
            format!("The request must contain the parameter {name}"),
        )
    }

    /// The `<Response><Errors><Error>…</Error></Errors><RequestID>…</RequestID></Response>`
    /// reply.
    pub fn render(&self, request_id: &str) -> Response {
        let mut body = String::with_capacity(256);
        body.push_str(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Response><Errors><Error><Code>",
        );
        escape_into(&mut body, &self.code);
        body.push_str("</Code><Message>");
        escape_into(&mut body, &self.message);
        let _ = write!(
            body,
            "</Message></Error></Errors><RequestID>{request_id}</RequestID></Response>"
        );
        with_headers(self.status, body, request_id)
    }
}
