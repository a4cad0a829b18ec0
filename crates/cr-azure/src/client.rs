//! The ARM client: one azure_core [`Pipeline`] (bearer-token policy over the chain's
//! credential, reqwest transport trusting the extra CA bundle, azure_core's own retry off so
//! the engine is the one retry layer) and typed calls returning classified errors.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use azure_core::credentials::TokenCredential;
use azure_core::http::headers::HeaderName;
use azure_core::http::policies::Policy;
use azure_core::http::policies::auth::BearerTokenAuthorizationPolicy;
use azure_core::http::{
    ClientOptions, Context, Method, Pipeline, PipelineSendOptions, Request, RetryOptions,
    Transport, Url,
};
use cr_core::error::ErrorKind;
use cr_core::transport::parse_retry_after;
use cr_core::{Error, Result};
use serde::de::DeserializeOwned;

use crate::credential::ChainCredential;
use crate::error::{CallSite, classify_http, classify_pipeline, invalid_response};
use crate::wire::Page;

/// `Microsoft.Compute` api-version of groups, reservations and operation status.
pub const COMPUTE_API_VERSION: &str = "2024-11-01";
/// `Microsoft.Resources` api-version of resource groups.
pub const RESOURCES_API_VERSION: &str = "2024-11-01";
/// `Microsoft.Resources/subscriptions` api-version of locations.
pub const SUBSCRIPTIONS_API_VERSION: &str = "2022-12-01";
/// `Microsoft.Compute/skus` api-version (its latest stable).
pub const SKUS_API_VERSION: &str = "2021-07-01";
/// `Microsoft.Authorization/permissions` api-version (the caller's effective permissions at
/// a scope, for the preflight).
pub const AUTHORIZATION_API_VERSION: &str = "2022-04-01";

/// Bounds of calls and waits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Timeouts {
    /// Connecting.
    pub(crate) connect: Duration,
    /// One call (a hung call then fails as `Timeout` and is retried).
    pub(crate) request: Duration,
    /// One long-running operation this adapter waits for (deletes).
    pub(crate) operation: Duration,
    /// The longest pause between two polls, whatever Retry-After asks.
    pub(crate) max_poll_interval: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            connect: Duration::from_secs(10),
            request: Duration::from_secs(60),
            operation: Duration::from_secs(600),
            max_poll_interval: Duration::from_secs(30),
        }
    }
}

/// One HTTP answer that was not an error.
#[derive(Debug, Clone)]
pub(crate) struct Answer {
    pub(crate) status: u16,
    pub(crate) body: Vec<u8>,
    pub(crate) retry_after: Option<Duration>,
    pub(crate) async_operation: Option<String>,
    pub(crate) location: Option<String>,
    pub(crate) request_id: Option<String>,
}

impl Answer {
    /// The classified error of an error answer.
    pub(crate) fn error(&self, site: &CallSite) -> cr_core::error::CloudError {
        classify_http(site, self.status, &self.body, self.retry_after)
            .request_id(self.request_id.clone())
    }

    /// The body as `T`. A success status whose body is nothing but ARM's error envelope
    /// (`{"error": {...}}`, e.g. from a gateway answering 200) is not the answer: most models
    /// have only optional fields and would read it as an empty resource (an empty id,
    /// "Succeeded" by default), so it fails as an invalid (transient) answer naming the error.
    pub(crate) fn json<T: DeserializeOwned>(&self, site: &CallSite) -> Result<T> {
        if let Ok(map) =
            serde_json::from_slice::<serde_json::Map<String, serde_json::Value>>(&self.body)
            && map.len() == 1
            && map.get("error").is_some_and(serde_json::Value::is_object)
        {
            let reply: crate::error::ErrorReply =
                serde_json::from_slice(&self.body).unwrap_or_default();
            let arm = reply.error.unwrap_or_default();
            return Err(invalid_response(
                site,
                format!(
                    "HTTP {} carrying an error document instead of the answer: {}: {}",
                    self.status, arm.code, arm.message
                ),
            ));
        }
        serde_json::from_slice(&self.body).map_err(|e| {
            invalid_response(
                site,
                format!(
                    "HTTP {} with a body that is not the documented JSON: {e}",
                    self.status
                ),
            )
        })
    }
}

/// The ARM client of one subscription.
#[derive(Clone)]
pub(crate) struct ArmClient {
    pipeline: Pipeline,
    /// The pipeline's credential, told to forget its tokens when ARM says one expired.
    credential: Arc<ChainCredential>,
    /// `https://management.azure.com` or the override, without a trailing slash.
    base: String,
    subscription: String,
    /// The token scope (`https://management.azure.com/.default`).
    scope: String,
    pub(crate) timeouts: Timeouts,
}

impl fmt::Debug for ArmClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ArmClient")
            .field("base", &self.base)
            .field("subscription", &self.subscription)
            .field("timeouts", &self.timeouts)
            .finish_non_exhaustive()
    }
}

/// Percent-encodes one path segment (ARM names keep letters, digits, `-_.()`).
pub(crate) fn segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~' | b'(' | b')') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Whether `url` is on the same scheme, host and port as `base`: polling and paging URLs
/// come from the server, and the bearer token must never follow one elsewhere.
pub(crate) fn same_origin(base: &str, url: &str) -> bool {
    match (Url::parse(base), Url::parse(url)) {
        (Ok(a), Ok(b)) => {
            a.scheme().eq_ignore_ascii_case(b.scheme())
                && a.host_str().map(str::to_ascii_lowercase)
                    == b.host_str().map(str::to_ascii_lowercase)
                && a.port_or_known_default() == b.port_or_known_default()
        }
        _ => false,
    }
}

fn header(answer: &azure_core::http::RawResponse, name: &'static str) -> Option<String> {
    answer
        .headers()
        .get_optional_str(&HeaderName::from_static(name))
        .map(str::to_string)
        .filter(|v| !v.trim().is_empty())
}

/// Whether a 401 says the bearer token expired (`ExpiredAuthenticationToken`).
fn token_expired(answer: &azure_core::http::RawResponse) -> bool {
    serde_json::from_slice::<crate::error::ErrorReply>(answer.body().as_ref())
        .ok()
        .and_then(|r| r.error)
        .is_some_and(|e| e.code.eq_ignore_ascii_case("ExpiredAuthenticationToken"))
}

/// The delay the server asks for: `retry-after-ms`, `x-ms-retry-after-ms`, then `Retry-After`.
fn retry_after_of(answer: &azure_core::http::RawResponse) -> Option<Duration> {
    for name in ["retry-after-ms", "x-ms-retry-after-ms"] {
        if let Some(ms) = header(answer, name).and_then(|v| v.trim().parse::<u64>().ok()) {
            return Some(Duration::from_millis(ms));
        }
    }
    header(answer, "retry-after").and_then(|v| parse_retry_after(&v, jiff::Timestamp::now()))
}

impl ArmClient {
    /// ARM's base URL and the subscription: the scope of ARM's throttling (with the
    /// principal, one per client).
    pub(crate) fn throttling_scope(&self) -> String {
        format!("{} {}", self.base, self.subscription)
    }
}

impl ArmClient {
    pub(crate) fn new(
        transport: Transport,
        base: &str,
        subscription: &str,
        credential: Arc<ChainCredential>,
        scope: String,
        timeouts: Timeouts,
    ) -> Self {
        let options = ClientOptions {
            transport: Some(transport),
            retry: RetryOptions::none(),
            ..ClientOptions::default()
        };
        let auth: Arc<dyn Policy> = Arc::new(BearerTokenAuthorizationPolicy::new(
            credential.clone() as Arc<dyn TokenCredential>,
            [scope.clone()],
        ));
        let pipeline = Pipeline::new(
            Some("cr-azure"),
            Some(env!("CARGO_PKG_VERSION")),
            options,
            Vec::new(),
            vec![auth],
            None,
        );
        ArmClient {
            pipeline,
            credential,
            base: base.trim_end_matches('/').to_string(),
            subscription: subscription.to_string(),
            scope,
            timeouts,
        }
    }

    /// Which credential of the chain gave the token (once a call was made) and who the token
    /// says the caller is (its claims only; the token is dropped here).
    pub(crate) async fn principal(&self) -> (Option<&'static str>, Option<String>) {
        let who = self
            .credential
            .get_token(&[self.scope.as_str()], None)
            .await
            .ok()
            .and_then(|t| crate::credential::principal_of_token(t.token.secret()));
        (self.credential.source(), who)
    }

    /// The subscription.
    pub(crate) fn subscription(&self) -> &str {
        &self.subscription
    }

    /// `https://host/subscriptions/<sub><rest>?api-version=<version>`.
    pub(crate) fn url(&self, rest: &str, api_version: &str) -> String {
        format!(
            "{}/subscriptions/{}{rest}?api-version={api_version}",
            self.base,
            segment(&self.subscription)
        )
    }

    /// The URL of an ARM id (`/subscriptions/...`).
    pub(crate) fn id_url(&self, id: &str, api_version: &str) -> String {
        format!("{}{id}?api-version={api_version}", self.base)
    }

    /// Sends one request; an HTTP error comes back as its classified error.
    pub(crate) async fn send(
        &self,
        site: &CallSite,
        method: Method,
        url: &str,
        body: Option<Vec<u8>>,
    ) -> Result<Answer> {
        let answer = self.exchange(site, method, url, body).await?;
        if answer.status >= 400 {
            return Err(answer.error(site).into());
        }
        Ok(answer)
    }

    /// Sends one request and returns the answer whatever its status (failures to get one
    /// are classified errors).
    pub(crate) async fn exchange(
        &self,
        site: &CallSite,
        method: Method,
        url: &str,
        body: Option<Vec<u8>>,
    ) -> Result<Answer> {
        if !same_origin(&self.base, url) {
            return Err(site
                .error(
                    ErrorKind::InvalidRequest,
                    "ForeignUrl",
                    format!(
                        "the cloud answered with a URL outside {} ({url}); cr does not send its token there",
                        self.base
                    ),
                )
                .into());
        }
        let parsed = Url::parse(url).map_err(|e| invalid_response(site, e))?;
        let mut request = Request::new(parsed, method);
        request.insert_header("accept", "application/json");
        if let Some(body) = body {
            request.insert_header("content-type", "application/json");
            request.set_body(body);
        }
        let ctx = Context::new();
        let mut fresh_token = false;
        let answer = loop {
            let answer = self
                .pipeline
                .send(
                    &ctx,
                    &mut request,
                    Some(PipelineSendOptions {
                        skip_checks: true,
                        ..PipelineSendOptions::default()
                    }),
                )
                .await
                .map_err(|e| Error::from(classify_pipeline(site, &e)))?;
            // ARM says the token expired (clock skew, a token cached across a long wait):
            // once, with a token fetched anew (the bearer policy already dropped its copy).
            if u16::from(answer.status()) == 401 && !fresh_token && token_expired(&answer) {
                fresh_token = true;
                self.credential.forget_tokens();
                continue;
            }
            break answer;
        };
        let status = u16::from(answer.status());
        let retry_after = retry_after_of(&answer);
        let request_id = header(&answer, "x-ms-request-id");
        let async_operation = header(&answer, "azure-asyncoperation");
        let location = header(&answer, "location");
        let body = answer.body().as_ref().to_vec();
        Ok(Answer {
            status,
            body,
            retry_after,
            async_operation,
            location,
            request_id,
        })
    }

    /// `GET` decoded as `T`.
    pub(crate) async fn get<T: DeserializeOwned>(&self, site: &CallSite, url: &str) -> Result<T> {
        self.send(site, Method::Get, url, None).await?.json(site)
    }

    /// `PUT` of a JSON body.
    pub(crate) async fn put<B: serde::Serialize>(
        &self,
        site: &CallSite,
        url: &str,
        body: &B,
    ) -> Result<Answer> {
        let bytes = serde_json::to_vec(body).map_err(|e| invalid_response(site, e))?;
        self.send(site, Method::Put, url, Some(bytes)).await
    }

    /// `DELETE`.
    pub(crate) async fn delete(&self, site: &CallSite, url: &str) -> Result<Answer> {
        self.send(site, Method::Delete, url, None).await
    }

    /// Every page of a list, following `nextLink` verbatim.
    pub(crate) async fn list<T: DeserializeOwned>(
        &self,
        site: &CallSite,
        url: &str,
    ) -> Result<Vec<T>> {
        let mut out = Vec::new();
        let mut next = url.to_string();
        let mut seen = vec![next.clone()];
        loop {
            let page: Page<T> = self.get(site, &next).await?;
            out.extend(page.value);
            match page.next_link.filter(|l| !l.trim().is_empty()) {
                Some(link) if seen.contains(&link) => {
                    return Err(invalid_response(site, "the same nextLink twice"));
                }
                Some(link) => {
                    seen.push(link.clone());
                    next = link;
                }
                None => return Ok(out),
            }
        }
    }
}

#[cfg(test)]
mod answer_tests {
    use super::*;

    fn answer(body: serde_json::Value) -> Answer {
        Answer {
            status: 200,
            body: body.to_string().into_bytes(),
            retry_after: None,
            async_operation: None,
            location: None,
            request_id: None,
        }
    }

    #[test]
    fn an_error_envelope_with_200_is_not_an_answer() {
        let site = CallSite::new(
            "CapacityReservations_Get",
            crate::permissions::RESERVATION_READ,
        );
        let err = answer(
            serde_json::json!({"error": {"code": "InternalServerError", "message": "boom"}}),
        )
        .json::<crate::wire::CapacityReservation>(&site)
        .expect_err("an error document is no reservation");
        assert_eq!(err.kind(), ErrorKind::Transient, "{err}");
        assert!(err.to_string().contains("InternalServerError"), "{err}");
        // A failed operation's status carries an error beside its status: that is an answer.
        let status: serde_json::Value =
            answer(serde_json::json!({"status": "Failed", "error": {"code": "X", "message": "y"}}))
                .json(&site)
                .expect("an operation status");
        assert_eq!(status["status"], "Failed");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(headers: &[(&'static str, &str)]) -> azure_core::http::RawResponse {
        let mut h = azure_core::http::headers::Headers::new();
        for (k, v) in headers {
            h.insert(HeaderName::from_static(k), v.to_string());
        }
        azure_core::http::RawResponse::from_bytes(
            azure_core::http::StatusCode::Accepted,
            h,
            Vec::<u8>::new(),
        )
    }

    #[test]
    fn retry_after_prefers_milliseconds_then_seconds() {
        assert_eq!(
            retry_after_of(&answer(&[("retry-after-ms", "250"), ("retry-after", "7")])),
            Some(Duration::from_millis(250))
        );
        assert_eq!(
            retry_after_of(&answer(&[("x-ms-retry-after-ms", "40")])),
            Some(Duration::from_millis(40))
        );
        assert_eq!(
            retry_after_of(&answer(&[("retry-after", "7")])),
            Some(Duration::from_secs(7))
        );
        assert_eq!(retry_after_of(&answer(&[("retry-after", "soon")])), None);
        assert_eq!(retry_after_of(&answer(&[])), None);
        let a = answer(&[("azure-asyncoperation", "https://h/op"), ("location", " ")]);
        assert_eq!(
            header(&a, "azure-asyncoperation").as_deref(),
            Some("https://h/op")
        );
        assert_eq!(
            header(&a, "location"),
            None,
            "a blank header counts as absent"
        );
    }

    #[test]
    fn origins_and_segments() {
        assert!(same_origin(
            "https://127.0.0.1:8443",
            "https://127.0.0.1:8443/subscriptions/x?a=b"
        ));
        assert!(same_origin(
            "https://management.azure.com",
            "https://MANAGEMENT.azure.com:443/x"
        ));
        assert!(!same_origin(
            "https://127.0.0.1:8443",
            "https://127.0.0.1:9443/x"
        ));
        assert!(!same_origin("https://a.example", "http://a.example/x"));
        assert!(!same_origin("https://a.example", "https://evil.example/x"));
        assert_eq!(segment("cr-a_b.(c)"), "cr-a_b.(c)");
        assert_eq!(segment("a/b c"), "a%2Fb%20c");
    }
}
