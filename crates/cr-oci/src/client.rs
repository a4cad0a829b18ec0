//! The OCI Core and Identity HTTP client: signed requests, per-region endpoints, pagination
//! (`limit` / `page` → `opc-next-page`), and classification of every failure where it enters.

use std::fmt;
use std::time::Duration;

use cr_core::Result;
use reqwest::{Method, Url};
use serde::de::DeserializeOwned;

use crate::error::{CallSite, classify_http, classify_transport, invalid_response};
use crate::signer::{BodyHeaders, JSON, RequestParts, Signer, http_date};
use crate::wire::{
    AvailabilityDomain, Compartment, CreateDetails, LimitValue, RegionSubscription,
    ReservableShape, ReservationBody, ResourceAvailability, WorkRequest, WorkRequestError,
};

/// The API version segment of Core and Identity paths.
const API: &str = "20160918";
/// The API version segment of the Limits service.
const LIMITS_API: &str = "20190729";

/// Page size of list calls.
const PAGE_LIMIT: &str = "100";

/// Timeouts of the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Timeouts {
    pub(crate) connect: Duration,
    /// One API call (a hung call then fails as `Timeout` and is retried).
    pub(crate) request: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            connect: Duration::from_secs(10),
            request: Duration::from_secs(60),
        }
    }
}

/// Where calls go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Endpoints {
    /// The public endpoints of realm `oc1`: `iaas.{region}.oraclecloud.com` (Core) and
    /// `identity.{region}.oci.oraclecloud.com` (Identity).
    Public,
    /// One base URL for both (the emulator): `{base}/oci/{region}/20160918/...`.
    Override(String),
}

impl Endpoints {
    /// The Core base URL of `region`: with the tenancy, the scope of OCI's rate limits.
    pub(crate) fn core(&self, region: &str) -> String {
        self.base(Service::Core, region)
    }

    fn base(&self, service: Service, region: &str) -> String {
        let api = service.api();
        match self {
            Endpoints::Public => match service {
                Service::Core => format!("https://iaas.{region}.oraclecloud.com/{api}/"),
                Service::Identity => {
                    format!("https://identity.{region}.oci.oraclecloud.com/{api}/")
                }
                Service::Limits => {
                    format!("https://limits.{region}.oci.oraclecloud.com/{api}/")
                }
            },
            Endpoints::Override(base) => format!(
                "{}/oci/{}/{api}/",
                base.trim_end_matches('/'),
                segment(region)
            ),
        }
    }
}

#[derive(Debug, Clone, Copy)]
enum Service {
    Core,
    Identity,
    /// The Limits service (service limits and their use), for the preflight.
    Limits,
}

impl Service {
    fn api(self) -> &'static str {
        match self {
            Service::Core | Service::Identity => API,
            Service::Limits => LIMITS_API,
        }
    }
}

/// Percent-encodes one path segment.
pub(crate) fn segment(s: &str) -> String {
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

/// The path of one reservation.
fn reservation_path(id: &str) -> String {
    format!("computeCapacityReservations/{}", segment(id))
}

/// One successful answer.
#[derive(Debug)]
pub(crate) struct Answer {
    pub(crate) status: u16,
    pub(crate) body: Vec<u8>,
    pub(crate) next_page: Option<String>,
    pub(crate) work_request: Option<String>,
}

/// A signed OCI client.
#[derive(Clone)]
pub(crate) struct OciClient {
    http: reqwest::Client,
    signer: Signer,
    endpoints: Endpoints,
    timeouts: Timeouts,
}

impl fmt::Debug for OciClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OciClient")
            .field("signer", &self.signer)
            .field("endpoints", &self.endpoints)
            .field("timeouts", &self.timeouts)
            .finish()
    }
}

impl OciClient {
    /// Where calls about `region` go (the rate-limit scope's endpoint part).
    pub(crate) fn core_base(&self, region: &str) -> String {
        self.endpoints.core(region)
    }
}

impl OciClient {
    pub(crate) fn new(
        http: reqwest::Client,
        signer: Signer,
        endpoints: Endpoints,
        timeouts: Timeouts,
    ) -> Self {
        OciClient {
            http,
            signer,
            endpoints,
            timeouts,
        }
    }

    fn url(
        &self,
        site: &CallSite,
        service: Service,
        region: &str,
        path: &str,
        query: &[(&str, &str)],
    ) -> Result<Url> {
        let mut url = Url::parse(&format!("{}{path}", self.endpoints.base(service, region)))
            .map_err(|e| invalid_response(site, format!("cannot build the URL: {e}")))?;
        if !query.is_empty() {
            url.query_pairs_mut().extend_pairs(query);
        }
        Ok(url)
    }

    /// Sends one signed request; a non-2xx answer comes back classified.
    async fn send(
        &self,
        site: &CallSite,
        method: Method,
        url: Url,
        body: Option<Vec<u8>>,
        headers: &[(&str, &str)],
    ) -> Result<Answer> {
        let target = match url.query() {
            Some(q) => format!("{}?{q}", url.path()),
            None => url.path().to_string(),
        };
        let host = match (url.host_str(), url.port()) {
            (Some(h), Some(p)) => format!("{h}:{p}"),
            (Some(h), None) => h.to_string(),
            (None, _) => return Err(invalid_response(site, "the URL has no host")),
        };
        let date = http_date(jiff::Timestamp::now());
        let with_body = matches!(method, Method::POST | Method::PUT | Method::PATCH);
        let body_headers = with_body.then(|| BodyHeaders::json(body.as_deref().unwrap_or(b"")));
        let authorization = self.signer.authorization(&RequestParts {
            method: method.as_str(),
            target: &target,
            host: &host,
            date: &date,
            body: body_headers.as_ref(),
        });
        let mut request = self
            .http
            .request(method, url)
            .timeout(self.timeouts.request)
            .header("date", &date)
            .header("authorization", authorization)
            .header("accept", JSON);
        if let Some(b) = &body_headers {
            request = request
                .header("content-type", &b.content_type)
                .header("content-length", &b.content_length)
                .header("x-content-sha256", &b.content_sha256)
                .body(body.unwrap_or_default());
        }
        for (k, v) in headers {
            request = request.header(*k, *v);
        }
        let response = request
            .send()
            .await
            .map_err(|e| classify_transport(site, &e))?;
        let status = response.status().as_u16();
        let header = |name: &str| {
            response
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        };
        let request_id = header("opc-request-id");
        let next_page = header("opc-next-page").filter(|p| !p.is_empty());
        let work_request = header("opc-work-request-id").filter(|p| !p.is_empty());
        let date = header("date");
        let bytes = response
            .bytes()
            .await
            .map_err(|e| classify_transport(site, &e))?;
        if !(200..300).contains(&status) {
            return Err(classify_http(site, status, &bytes, request_id, date.as_deref()).into());
        }
        Ok(Answer {
            status,
            body: bytes.to_vec(),
            next_page,
            work_request,
        })
    }

    fn decode<T: DeserializeOwned>(site: &CallSite, answer: &Answer) -> Result<T> {
        serde_json::from_slice(&answer.body).map_err(|e| {
            invalid_response(
                site,
                format!(
                    "HTTP {} with a body that is not the documented JSON: {e}",
                    answer.status
                ),
            )
        })
    }

    /// One GET of `path` (no query), decoded.
    async fn get_json<T: DeserializeOwned>(
        &self,
        site: &CallSite,
        service: Service,
        region: &str,
        path: &str,
    ) -> Result<T> {
        let url = self.url(site, service, region, path, &[])?;
        let answer = self.send(site, Method::GET, url, None, &[]).await?;
        Self::decode(site, &answer)
    }

    async fn list_all<T: DeserializeOwned>(
        &self,
        site: &CallSite,
        service: Service,
        region: &str,
        path: &str,
        query: &[(&str, &str)],
    ) -> Result<Vec<T>> {
        let mut out = Vec::new();
        let mut page: Option<String> = None;
        loop {
            let mut q: Vec<(&str, &str)> = query.to_vec();
            q.push(("limit", PAGE_LIMIT));
            if let Some(p) = page.as_deref() {
                q.push(("page", p));
            }
            let url = self.url(site, service, region, path, &q)?;
            let answer = self.send(site, Method::GET, url, None, &[]).await?;
            let items: Vec<T> = Self::decode(site, &answer)?;
            out.extend(items);
            match answer.next_page {
                Some(next) if Some(&next) == page.as_ref() => {
                    return Err(invalid_response(site, "the same opc-next-page twice"));
                }
                Some(next) => page = Some(next),
                None => return Ok(out),
            }
        }
    }

    /// Every page of a Core list of `compartment`.
    async fn list_core<T: DeserializeOwned>(
        &self,
        site: &CallSite,
        region: &str,
        path: &str,
        compartment: &str,
    ) -> Result<Vec<T>> {
        self.list_all(
            site,
            Service::Core,
            region,
            path,
            &[("compartmentId", compartment)],
        )
        .await
    }

    /// `ListAvailabilityDomains` of `region` (Identity), in the API's order.
    pub(crate) async fn availability_domains(
        &self,
        site: &CallSite,
        region: &str,
        tenancy: &str,
    ) -> Result<Vec<AvailabilityDomain>> {
        self.list_all(
            site,
            Service::Identity,
            region,
            "availabilityDomains",
            &[("compartmentId", tenancy)],
        )
        .await
    }

    /// `ListComputeCapacityReservationInstanceShapes` of `region`.
    pub(crate) async fn reservable_shapes(
        &self,
        site: &CallSite,
        region: &str,
        compartment: &str,
    ) -> Result<Vec<ReservableShape>> {
        self.list_core(
            site,
            region,
            "computeCapacityReservationInstanceShapes",
            compartment,
        )
        .await
    }

    /// `ListRegionSubscriptions` of the tenancy (asked in `home`).
    pub(crate) async fn region_subscriptions(
        &self,
        site: &CallSite,
        home: &str,
        tenancy: &str,
    ) -> Result<Vec<RegionSubscription>> {
        let path = format!("tenancies/{}/regionSubscriptions", segment(tenancy));
        self.get_json(site, Service::Identity, home, &path).await
    }

    /// `CreateComputeCapacityReservation`: the reservation and its work request id.
    pub(crate) async fn create_reservation(
        &self,
        site: &CallSite,
        region: &str,
        details: &CreateDetails,
        retry_token: &str,
    ) -> Result<(ReservationBody, Option<String>)> {
        let url = self.url(
            site,
            Service::Core,
            region,
            "computeCapacityReservations",
            &[],
        )?;
        let body = serde_json::to_vec(details).map_err(|e| invalid_response(site, e))?;
        let answer = self
            .send(
                site,
                Method::POST,
                url,
                Some(body),
                &[("opc-retry-token", retry_token)],
            )
            .await?;
        let r = Self::decode(site, &answer)?;
        Ok((r, answer.work_request))
    }

    /// `GetComputeCapacityReservation`.
    pub(crate) async fn get_reservation(
        &self,
        site: &CallSite,
        region: &str,
        id: &str,
    ) -> Result<ReservationBody> {
        self.get_json(site, Service::Core, region, &reservation_path(id))
            .await
    }

    /// `ListComputeCapacityReservations` of a compartment, every page.
    pub(crate) async fn list_reservations(
        &self,
        site: &CallSite,
        region: &str,
        compartment: &str,
    ) -> Result<Vec<ReservationBody>> {
        self.list_core(site, region, "computeCapacityReservations", compartment)
            .await
    }

    /// One page of one `ListComputeCapacityReservations` item: whether the caller may list
    /// the compartment's reservations, at the smallest cost.
    pub(crate) async fn probe_reservations(
        &self,
        site: &CallSite,
        region: &str,
        compartment: &str,
    ) -> Result<()> {
        let url = self.url(
            site,
            Service::Core,
            region,
            "computeCapacityReservations",
            &[("compartmentId", compartment), ("limit", "1")],
        )?;
        self.send(site, Method::GET, url, None, &[])
            .await
            .map(|_| ())
    }

    /// The user OCID the requests are signed as.
    pub(crate) fn user(&self) -> Option<&str> {
        self.signer.user()
    }

    /// `GetCompartment` (Identity): the signed cheap read of the preflight.
    pub(crate) async fn get_compartment(
        &self,
        site: &CallSite,
        region: &str,
        id: &str,
    ) -> Result<Compartment> {
        let path = format!("compartments/{}", segment(id));
        self.get_json(site, Service::Identity, region, &path).await
    }

    /// `ListLimitValues` of the compute service: the value of limit `name` in `ad`.
    pub(crate) async fn limit_values(
        &self,
        site: &CallSite,
        region: &str,
        tenancy: &str,
        name: &str,
        ad: &str,
    ) -> Result<Vec<LimitValue>> {
        self.list_all(
            site,
            Service::Limits,
            region,
            "limitValues",
            &[
                ("compartmentId", tenancy),
                ("serviceName", "compute"),
                ("scopeType", "AD"),
                ("availabilityDomain", ad),
                ("name", name),
            ],
        )
        .await
    }

    /// `GetResourceAvailability` of compute limit `name` in `ad`: used and available.
    pub(crate) async fn resource_availability(
        &self,
        site: &CallSite,
        region: &str,
        tenancy: &str,
        name: &str,
        ad: &str,
    ) -> Result<ResourceAvailability> {
        let path = format!(
            "services/compute/limits/{}/resourceAvailability",
            segment(name)
        );
        let url = self.url(
            site,
            Service::Limits,
            region,
            &path,
            &[("compartmentId", tenancy), ("availabilityDomain", ad)],
        )?;
        let answer = self.send(site, Method::GET, url, None, &[]).await?;
        Self::decode(site, &answer)
    }

    /// `DeleteComputeCapacityReservation`: its work request id (202), or none (204).
    pub(crate) async fn delete_reservation(
        &self,
        site: &CallSite,
        region: &str,
        id: &str,
    ) -> Result<Option<String>> {
        let url = self.url(site, Service::Core, region, &reservation_path(id), &[])?;
        let answer = self.send(site, Method::DELETE, url, None, &[]).await?;
        Ok(answer.work_request)
    }

    /// `GetWorkRequest`.
    pub(crate) async fn work_request(
        &self,
        site: &CallSite,
        region: &str,
        id: &str,
    ) -> Result<WorkRequest> {
        let path = format!("workRequests/{}", segment(id));
        self.get_json(site, Service::Core, region, &path).await
    }

    /// `ListWorkRequestErrors`.
    pub(crate) async fn work_request_errors(
        &self,
        site: &CallSite,
        region: &str,
        id: &str,
    ) -> Result<Vec<WorkRequestError>> {
        self.list_all(
            site,
            Service::Core,
            region,
            &format!("workRequests/{}/errors", segment(id)),
            &[],
        )
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_per_region() {
        assert_eq!(
            Endpoints::Public.base(Service::Core, "us-ashburn-1"),
            "https://iaas.us-ashburn-1.oraclecloud.com/20160918/"
        );
        assert_eq!(
            Endpoints::Public.base(Service::Identity, "us-ashburn-1"),
            "https://identity.us-ashburn-1.oci.oraclecloud.com/20160918/"
        );
        assert_eq!(
            Endpoints::Override("https://127.0.0.1:9/".into())
                .base(Service::Core, "eu-frankfurt-1"),
            "https://127.0.0.1:9/oci/eu-frankfurt-1/20160918/"
        );
    }

    #[test]
    fn segments_are_escaped() {
        assert_eq!(segment("ocid1.x.oc1..a"), "ocid1.x.oc1..a");
        assert_eq!(segment("a/b c"), "a%2Fb%20c");
    }
}
