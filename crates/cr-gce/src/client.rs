//! The Compute Engine v1 HTTP client: bearer-token auth, JSON bodies, pagination, waiting on
//! zone Operations, and classification of every failure where it enters.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use cr_core::Result;
use cr_core::error::ErrorKind;
use cr_core::transport::parse_retry_after;
use cr_core::wait::{Poll, WaitPolicy, Waited, poll_until};
use gcp_auth::TokenProvider;
use reqwest::header::RETRY_AFTER;
use reqwest::{Method, RequestBuilder};
use serde::de::DeserializeOwned;
use tokio::time::Instant;

use crate::credential::COMPUTE_SCOPE;
use crate::error::{
    CallSite, classify_http, classify_operation, classify_token, classify_transport,
    invalid_response,
};
use crate::wire::{AggregatedList, List, Operation, Region, ReservationResource, Zone};

/// The public Compute Engine v1 base URL.
pub const DEFAULT_BASE_URL: &str = "https://compute.googleapis.com/compute/v1/";

/// Page size of list calls (the API's maximum).
const MAX_RESULTS: &str = "500";

/// The longest a single `operations.wait` call may block server-side, plus slack.
const WAIT_CALL_LIMIT: Duration = Duration::from_secs(130);

/// Timeouts of the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Timeouts {
    /// Connecting to the API.
    pub(crate) connect: Duration,
    /// One ordinary API call (a hung call then fails as `Timeout` and is retried).
    pub(crate) request: Duration,
    /// Waiting for one Operation to finish, over all `wait` calls.
    pub(crate) operation: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            connect: Duration::from_secs(10),
            request: Duration::from_secs(60),
            operation: Duration::from_secs(300),
        }
    }
}

/// A Compute API client bound to one project.
#[derive(Clone)]
pub(crate) struct GceClient {
    http: reqwest::Client,
    /// `<base>/projects/<project>/`.
    project_url: String,
    project: String,
    tokens: Arc<dyn TokenProvider>,
    timeouts: Timeouts,
}

impl fmt::Debug for GceClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GceClient")
            .field("project_url", &self.project_url)
            .field("timeouts", &self.timeouts)
            .finish_non_exhaustive()
    }
}

/// Percent-encodes one path segment.
fn segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The Compute v1 base for an endpoint override (`http://127.0.0.1:8080` →
/// `http://127.0.0.1:8080/compute/v1/`).
pub(crate) fn base_url(endpoint: Option<&str>) -> String {
    match endpoint {
        None => DEFAULT_BASE_URL.to_string(),
        Some(e) => {
            let e = e.trim_end_matches('/');
            if e.ends_with("/compute/v1") {
                format!("{e}/")
            } else {
                format!("{e}/compute/v1/")
            }
        }
    }
}

impl GceClient {
    /// `<base>/projects/<project>/`: Compute Engine's rate quotas are per project.
    pub(crate) fn project_url(&self) -> &str {
        &self.project_url
    }
}

impl GceClient {
    pub(crate) fn new(
        http: reqwest::Client,
        base: &str,
        project: &str,
        tokens: Arc<dyn TokenProvider>,
        timeouts: Timeouts,
    ) -> Self {
        GceClient {
            http,
            project_url: format!("{base}projects/{}/", segment(project)),
            project: project.to_string(),
            tokens,
            timeouts,
        }
    }

    /// The project calls go to.
    pub(crate) fn project(&self) -> &str {
        &self.project
    }

    fn zone_url(&self, zone: &str, rest: &str) -> String {
        format!("{}zones/{}/{rest}", self.project_url, segment(zone))
    }

    /// Sends one request and decodes its JSON answer; every failure comes back classified.
    async fn call<T: DeserializeOwned>(
        &self,
        site: &CallSite,
        method: Method,
        url: &str,
        query: &[(&str, &str)],
        body: Option<serde_json::Value>,
        timeout: Duration,
    ) -> Result<T> {
        let token = self
            .tokens
            .token(&[COMPUTE_SCOPE])
            .await
            .map_err(|e| classify_token(site, &e))?;
        let mut request: RequestBuilder = self
            .http
            .request(method, url)
            .bearer_auth(token.as_str())
            .timeout(timeout);
        if !query.is_empty() {
            request = request.query(query);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request
            .send()
            .await
            .map_err(|e| classify_transport(site, &e))?;
        let status = response.status();
        let retry_after = response
            .headers()
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| parse_retry_after(v, jiff::Timestamp::now()));
        let bytes = response
            .bytes()
            .await
            .map_err(|e| classify_transport(site, &e))?;
        if !status.is_success() {
            let text = String::from_utf8_lossy(&bytes);
            return Err(classify_http(site, status.as_u16(), &text, retry_after).into());
        }
        serde_json::from_slice(&bytes).map_err(|e| {
            invalid_response(
                site,
                format!("HTTP {status} with a body that is not the documented JSON: {e}"),
            )
        })
    }

    /// `reservations.insert`: returns the Operation (not yet waited on).
    pub(crate) async fn insert_reservation(
        &self,
        site: &CallSite,
        zone: &str,
        reservation: &ReservationResource,
        request_id: &str,
    ) -> Result<Operation> {
        let url = self.zone_url(zone, "reservations");
        self.call(
            site,
            Method::POST,
            &url,
            &[("requestId", request_id)],
            Some(serde_json::to_value(reservation).map_err(|e| invalid_response(site, e))?),
            self.timeouts.request,
        )
        .await
    }

    /// `reservations.get`.
    pub(crate) async fn get_reservation(
        &self,
        site: &CallSite,
        zone: &str,
        name: &str,
    ) -> Result<ReservationResource> {
        let url = self.zone_url(zone, &format!("reservations/{}", segment(name)));
        self.call(site, Method::GET, &url, &[], None, self.timeouts.request)
            .await
    }

    /// `reservations.delete`: returns the Operation (not yet waited on).
    pub(crate) async fn delete_reservation(
        &self,
        site: &CallSite,
        zone: &str,
        name: &str,
        request_id: &str,
    ) -> Result<Operation> {
        let url = self.zone_url(zone, &format!("reservations/{}", segment(name)));
        self.call(
            site,
            Method::DELETE,
            &url,
            &[("requestId", request_id)],
            None,
            self.timeouts.request,
        )
        .await
    }

    /// Waits for a zone Operation with `zoneOperations.wait`, looping (one call blocks for at
    /// most about two minutes) until it is `DONE` or the operation timeout passes. A finished
    /// Operation with errors comes back as its classified error.
    pub(crate) async fn wait_operation(
        &self,
        site: &CallSite,
        zone: &str,
        operation: Operation,
    ) -> Result<Operation> {
        let deadline = Instant::now() + self.timeouts.operation;
        let wait_site = CallSite {
            operation: "zoneOperations.wait",
            ..site.clone()
        };
        let name = operation.name.clone();
        let last_status = std::sync::Mutex::new(operation.status.clone());
        let mut current = Some(operation);
        // cr-core's one polling loop; each look is one `operations.wait` call, which itself
        // blocks server-side for up to two minutes.
        let policy = WaitPolicy {
            first_interval: Duration::from_millis(200),
            max_interval: Duration::from_secs(5),
            settle_timeout: self.timeouts.operation,
        };
        let waited = poll_until(&policy, Some(deadline), None, || {
            let seen = current.take();
            let wait_site = &wait_site;
            let name = &name;
            let last_status = &last_status;
            async move {
                if let Some(op) = seen.filter(Operation::is_done) {
                    return Ok(Poll::Ready(op));
                }
                let remaining = deadline.saturating_duration_since(Instant::now());
                let url = self.zone_url(zone, &format!("operations/{}/wait", segment(name)));
                let result: Result<Operation> = self
                    .call(
                        wait_site,
                        Method::POST,
                        &url,
                        &[],
                        Some(serde_json::json!({})),
                        remaining.min(WAIT_CALL_LIMIT).max(Duration::from_secs(1)),
                    )
                    .await;
                match result {
                    Ok(op) if op.is_done() => Ok(Poll::Ready(op)),
                    Ok(op) => {
                        *last_status.lock().unwrap_or_else(|p| p.into_inner()) = op.status;
                        Ok(Poll::Pending { retry_after: None })
                    }
                    // Waiting is read-only: a throttled, transient or timed-out wait is simply
                    // repeated until the operation's own deadline.
                    Err(e) if e.is_retryable() => Ok(Poll::Pending {
                        retry_after: e.retry_after(),
                    }),
                    Err(e) => Err(e),
                }
            }
        })
        .await?;
        let operation = match waited {
            Waited::Ready(op) => op,
            Waited::TimedOut | Waited::Stopped => {
                let last_status = last_status.into_inner().unwrap_or_else(|p| p.into_inner());
                return Err(site
                    .error(
                        ErrorKind::Timeout,
                        "operation_timeout",
                        format!(
                            "operation {name} did not finish within {} s (last status {last_status})",
                            self.timeouts.operation.as_secs(),
                        ),
                    )
                    .request_id(Some(format!("operation {name}")))
                    .into());
            }
        };
        if let Some(e) = operation_error(site, &operation) {
            return Err(e.into());
        }
        Ok(operation)
    }

    /// `zoneOperations.get`: the Operation as it is now (no waiting).
    pub(crate) async fn get_operation(
        &self,
        site: &CallSite,
        zone: &str,
        name: &str,
    ) -> Result<Operation> {
        let get_site = CallSite {
            operation: "zoneOperations.get",
            ..site.clone()
        };
        let url = self.zone_url(zone, &format!("operations/{}", segment(name)));
        self.call(
            &get_site,
            Method::GET,
            &url,
            &[],
            None,
            self.timeouts.request,
        )
        .await
    }

    /// `zones.list`, every page.
    pub(crate) async fn list_zones(&self, site: &CallSite) -> Result<Vec<Zone>> {
        self.list_all(site, &format!("{}zones", self.project_url), None)
            .await
    }

    /// `regions.list`, every page.
    pub(crate) async fn list_regions(&self, site: &CallSite) -> Result<Vec<Region>> {
        self.list_all(site, &format!("{}regions", self.project_url), None)
            .await
    }

    async fn list_all<T: DeserializeOwned>(
        &self,
        site: &CallSite,
        url: &str,
        filter: Option<&str>,
    ) -> Result<Vec<T>> {
        let mut out = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let mut query = vec![("maxResults", MAX_RESULTS)];
            if let Some(f) = filter {
                query.push(("filter", f));
            }
            if let Some(t) = token.as_deref() {
                query.push(("pageToken", t));
            }
            let page: List<T> = self
                .call(site, Method::GET, url, &query, None, self.timeouts.request)
                .await?;
            out.extend(page.items);
            match page.next_page_token.filter(|t| !t.is_empty()) {
                Some(next) if Some(&next) != token.as_ref() => token = Some(next),
                Some(_) => return Err(invalid_response(site, "the same page token twice")),
                None => return Ok(out),
            }
        }
    }

    /// `reservations.aggregatedList` with `filter`, every page; reservations of every zone.
    pub(crate) async fn aggregated_reservations(
        &self,
        site: &CallSite,
        filter: &str,
    ) -> Result<Vec<ReservationResource>> {
        let url = format!("{}aggregated/reservations", self.project_url);
        let mut out = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let mut query = vec![("maxResults", MAX_RESULTS), ("filter", filter)];
            if let Some(t) = token.as_deref() {
                query.push(("pageToken", t));
            }
            let page: AggregatedList = self
                .call(site, Method::GET, &url, &query, None, self.timeouts.request)
                .await?;
            if !page.unreachables.is_empty() {
                // A partial listing would make cancel_all_regions miss reservations.
                return Err(site
                    .error(
                        ErrorKind::Transient,
                        "unreachable",
                        format!(
                            "the aggregated list could not reach {}",
                            page.unreachables.join(", ")
                        ),
                    )
                    .into());
            }
            for (scope, scoped) in page.items {
                for mut r in scoped.reservations {
                    // The scope names the zone even when a response omits `zone`.
                    if r.zone.is_none()
                        && let Some(z) = scope.strip_prefix("zones/")
                    {
                        r.zone = Some(z.to_string());
                    }
                    out.push(r);
                }
            }
            match page.next_page_token.filter(|t| !t.is_empty()) {
                Some(next) if Some(&next) != token.as_ref() => token = Some(next),
                Some(_) => return Err(invalid_response(site, "the same page token twice")),
                None => return Ok(out),
            }
        }
    }
}

/// The classified error of a finished Operation that failed, marked settled (the cloud
/// says it is over, and a reused requestId would only return this failure again); `None` if
/// it succeeded.
pub(crate) fn operation_error(
    site: &CallSite,
    operation: &Operation,
) -> Option<cr_core::error::CloudError> {
    let err = operation.error.as_ref()?;
    if err.errors.is_empty() && operation.http_error_status_code.is_none() {
        return None;
    }
    Some(
        classify_operation(
            site,
            &operation.name,
            &err.errors,
            operation.http_error_status_code,
            operation.http_error_message.as_deref(),
        )
        .settled(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_url_for_endpoints() {
        assert_eq!(base_url(None), DEFAULT_BASE_URL);
        assert_eq!(
            base_url(Some("http://127.0.0.1:9/")),
            "http://127.0.0.1:9/compute/v1/"
        );
        assert_eq!(
            base_url(Some("https://h/compute/v1")),
            "https://h/compute/v1/"
        );
    }

    #[test]
    fn segments_are_escaped() {
        assert_eq!(segment("us-east1-b"), "us-east1-b");
        assert_eq!(segment("a/b c"), "a%2Fb%20c");
    }
}
