//! Classification of OCI failures into cr's [`ErrorKind`]s, where they enter: the error body
//! `{"code", "message"}` of a synchronous answer (with its `opc-request-id`), the errors of a
//! failed work request, and transport failures. The engine decides on the kind alone; the
//! code decides, never a limit name read out of a message.

use cr_core::error::{CloudError, ErrorKind, QuotaScope};
use cr_core::{Cloud, Error};
use serde::Deserialize;

/// The policy statement that lets a group manage capacity reservations, for "not authorized
/// or not found" messages.
pub(crate) const MANAGE_POLICY_HINT: &str =
    "Allow group <group> to manage compute-capacity-reservations in compartment <compartment>";

/// Where a call was made, so every error names its region, availability domain and shape.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct CallSite {
    /// The API operation, e.g. `CreateComputeCapacityReservation`.
    pub(crate) operation: &'static str,
    pub(crate) region: Option<String>,
    pub(crate) ad: Option<String>,
    pub(crate) shape: Option<String>,
    /// What a 404 means here: the addressed reservation is gone (get, delete) rather than
    /// "the compartment is unknown or the user may not use it" (create, list).
    pub(crate) missing_means_gone: bool,
}

impl CallSite {
    pub(crate) fn new(operation: &'static str) -> Self {
        CallSite {
            operation,
            ..CallSite::default()
        }
    }

    pub(crate) fn region(mut self, region: impl Into<String>) -> Self {
        self.region = Some(region.into());
        self
    }

    pub(crate) fn ad(mut self, ad: impl Into<String>) -> Self {
        self.ad = Some(ad.into());
        self
    }

    pub(crate) fn shape(mut self, shape: impl Into<String>) -> Self {
        self.shape = Some(shape.into());
        self
    }

    /// The same site for another operation on the same reservation.
    pub(crate) fn op(&self, operation: &'static str) -> Self {
        CallSite {
            operation,
            ..self.clone()
        }
    }

    /// A 404 at this site means the reservation is gone.
    pub(crate) fn on_reservation(mut self) -> Self {
        self.missing_means_gone = true;
        self
    }

    /// A classified error at this call site.
    pub(crate) fn error(
        &self,
        kind: ErrorKind,
        code: impl Into<String>,
        message: impl Into<String>,
    ) -> CloudError {
        let mut e = CloudError::new(kind, Cloud::Oci, self.operation, code, message);
        e.location.region = self.region.clone();
        e.location.zone = self.ad.clone();
        e.location.instance_type = self.shape.clone();
        e
    }
}

/// OCI's error body.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct ErrorBody {
    #[serde(default)]
    pub(crate) code: String,
    #[serde(default)]
    pub(crate) message: String,
}

/// How far a limit or quota reaches, as its message says: availability-domain limits leave
/// the next AD worth trying, tenancy-wide ones nothing. A region otherwise.
pub(crate) fn quota_scope(message: &str) -> QuotaScope {
    let m = message.to_ascii_lowercase();
    if m.contains("availability domain") || m.contains("-ad-") || m.contains(" ad ") {
        QuotaScope::Zone
    } else if m.contains("tenancy") || m.contains("global") {
        QuotaScope::Account
    } else {
        QuotaScope::Region
    }
}

/// Whether a 500 is OCI's stockout ("Out of host capacity.").
fn is_stockout(code: &str, message: &str) -> bool {
    code == "InternalError"
        && message
            .to_ascii_lowercase()
            .contains("out of host capacity")
}

/// Classifies `code` and `message` (a synchronous answer's or a work request's) at `site`.
pub(crate) fn classify_code(
    site: &CallSite,
    status: Option<u16>,
    code: &str,
    message: &str,
) -> CloudError {
    let (kind, message) = match code {
        _ if is_stockout(code, message) => (ErrorKind::CapacityUnavailable, message.to_string()),
        "LimitExceeded" | "QuotaExceeded" => {
            let scope = quota_scope(message);
            let hint = match code {
                "LimitExceeded" => {
                    "request a service limit increase (console: Governance > Limits, Quotas and Usage)"
                }
                _ => "raise the compartment quota, or free capacity it counts",
            };
            return site
                .error(
                    ErrorKind::QuotaExceeded,
                    code,
                    format!("{message} ({hint})"),
                )
                .quota_scope(scope)
                .settled();
        }
        "TooManyRequests" => (ErrorKind::Throttled, message.to_string()),
        "NotAuthenticated" => (
            ErrorKind::Unauthorized,
            format!(
                "{message} (the request signature was refused: check the profile's user, tenancy, fingerprint and \
                 key_file, that the key's public half is uploaded for the user, and the system clock)"
            ),
        ),
        "NotAuthorizedOrNotFound" | "RelatedResourceNotAuthorizedOrNotFound" => {
            let kind = if site.missing_means_gone && code == "NotAuthorizedOrNotFound" {
                ErrorKind::NotFound
            } else {
                ErrorKind::Unauthorized
            };
            (
                kind,
                format!(
                    "{message} (either it does not exist or the user is not authorized; a policy such as \
                     `{MANAGE_POLICY_HINT}` grants access: see `cr permissions --backend oci`)"
                ),
            )
        }
        "NotAuthorized" | "Forbidden" => (ErrorKind::Unauthorized, message.to_string()),
        "IncorrectState" | "Conflict" | "LockConflict" => {
            (ErrorKind::Transient, message.to_string())
        }
        "InvalidatedRetryToken" => {
            // The token's first request is over (its reservation deleted, say): only a fresh
            // token can succeed.
            return site.error(ErrorKind::Transient, code, message).settled();
        }
        "InvalidParameter" | "MissingParameter" | "CannotParseRequest" | "NoEtagMatch"
        | "NotAllowed" => (ErrorKind::InvalidRequest, message.to_string()),
        "InternalError" | "ServiceUnavailable" | "BadGateway" => {
            (ErrorKind::Transient, message.to_string())
        }
        _ => (
            match status {
                Some(409) => ErrorKind::Transient,
                Some(s) => cr_core::transport::kind_of_status(s),
                None => ErrorKind::InvalidRequest,
            },
            message.to_string(),
        ),
    };
    let mut e = site.error(kind, code, message);
    if kind == ErrorKind::CapacityUnavailable {
        e = e.settled();
    }
    e
}

/// How far OCI lets a request's signed `date` be from its clock (a 401 otherwise).
const CLOCK_TOLERANCE_S: i64 = 5 * 60;

/// Classifies a synchronous error answer; `date` is its `Date` header. OCI answers every
/// refused signature `401 NotAuthenticated`, a stale or future `date` included: a 401 whose
/// `Date` is more than the 5 minutes OCI tolerates from this machine's clock is the clock's
/// fault ([`ErrorKind::ClockSkew`]), not the key's.
pub(crate) fn classify_http(
    site: &CallSite,
    status: u16,
    body: &[u8],
    request_id: Option<String>,
    date: Option<&str>,
) -> CloudError {
    let parsed: ErrorBody = serde_json::from_slice(body).unwrap_or_default();
    let code = if parsed.code.is_empty() {
        status.to_string()
    } else {
        parsed.code
    };
    let message = if parsed.message.is_empty() {
        format!(
            "HTTP {status}: {}",
            truncate(&String::from_utf8_lossy(body), 300)
        )
    } else {
        parsed.message
    };
    let mut e = classify_code(site, Some(status), &code, &message);
    // 429 and 401 mean what they mean, whatever the code.
    match status {
        429 => e.kind = ErrorKind::Throttled,
        401 => {
            let skew = cr_core::transport::server_clock_skew(date, jiff::Timestamp::now());
            if skew.is_some_and(|s| s.abs() > CLOCK_TOLERANCE_S) {
                e.kind = ErrorKind::ClockSkew;
                e.message = format!(
                    "{message} ({})",
                    cr_core::transport::clock_skew_note(skew, "5 minutes")
                );
            } else {
                e.kind = ErrorKind::Unauthorized;
            }
        }
        _ => {}
    }
    e.request_id(request_id)
}

/// Classifies a transport failure: timeouts are timeouts, an untrusted certificate is a
/// configuration problem reported as unauthorized (retrying cannot help), the rest transient.
pub(crate) fn classify_transport(site: &CallSite, err: &reqwest::Error) -> CloudError {
    let text = cr_core::transport::error_text(err);
    if err.is_timeout() {
        return site.error(ErrorKind::Timeout, "timeout", text);
    }
    let untrusted = cr_core::transport::error_sources(err)
        .iter()
        .any(|e| e.to_string().contains("invalid peer certificate"));
    if untrusted {
        return site.error(
            ErrorKind::Unauthorized,
            "untrusted_certificate",
            format!("{text} (trust the endpoint's CA with --ca-bundle / CR_CA_BUNDLE)"),
        );
    }
    site.error(ErrorKind::Transient, "transport", text)
}

/// A response body that is not what the API documents.
pub(crate) fn invalid_response(site: &CallSite, what: impl std::fmt::Display) -> Error {
    site.error(ErrorKind::Transient, "invalid_response", what.to_string())
        .into()
}

fn truncate(s: &str, max: usize) -> &str {
    match s.char_indices().nth(max) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn site() -> CallSite {
        CallSite::new("CreateComputeCapacityReservation")
            .region("us-ashburn-1")
            .ad("Emul:IAD-AD-1")
            .shape("VM.DenseIO.E5.Flex")
    }

    fn body(code: &str, message: &str) -> Vec<u8> {
        serde_json::json!({"code": code, "message": message})
            .to_string()
            .into_bytes()
    }

    #[test]
    fn codes_are_classified_as_the_issue_says() {
        let table: &[(u16, &str, &str, ErrorKind)] = &[
            (
                500,
                "InternalError",
                "Out of host capacity.",
                ErrorKind::CapacityUnavailable,
            ),
            (
                500,
                "InternalError",
                "Internal error occurred",
                ErrorKind::Transient,
            ),
            (400, "LimitExceeded", "limit", ErrorKind::QuotaExceeded),
            (400, "QuotaExceeded", "quota", ErrorKind::QuotaExceeded),
            (429, "TooManyRequests", "slow", ErrorKind::Throttled),
            (429, "Whatever", "slow", ErrorKind::Throttled),
            (401, "NotAuthenticated", "no", ErrorKind::Unauthorized),
            (
                404,
                "NotAuthorizedOrNotFound",
                "no",
                ErrorKind::Unauthorized,
            ),
            (409, "IncorrectState", "busy", ErrorKind::Transient),
            (409, "InvalidatedRetryToken", "spent", ErrorKind::Transient),
            (400, "InvalidParameter", "bad", ErrorKind::InvalidRequest),
            (503, "SomethingNew", "down", ErrorKind::Transient),
            (400, "SomethingNew", "bad", ErrorKind::InvalidRequest),
        ];
        for (status, code, message, kind) in table {
            let e = classify_http(
                &site(),
                *status,
                &body(code, message),
                Some("RID/1".into()),
                None,
            );
            assert_eq!(e.kind, *kind, "{status} {code} {message}");
            assert_eq!(e.code, *code);
            assert_eq!(e.request_id.as_deref(), Some("RID/1"));
            assert_eq!(e.location.cloud, Some(Cloud::Oci));
            assert_eq!(e.location.region.as_deref(), Some("us-ashburn-1"));
            assert_eq!(e.location.zone.as_deref(), Some("Emul:IAD-AD-1"));
            assert_eq!(
                e.location.instance_type.as_deref(),
                Some("VM.DenseIO.E5.Flex")
            );
        }
        let spent = classify_http(
            &site(),
            409,
            &body("InvalidatedRetryToken", "x"),
            None,
            None,
        );
        assert!(spent.settled, "a spent token needs a fresh one");
    }

    #[test]
    fn a_401_from_a_cloud_minutes_away_is_clock_skew() {
        let date = |skew: i64| {
            (jiff::Timestamp::now() + jiff::SignedDuration::from_secs(skew))
                .strftime("%a, %d %b %Y %H:%M:%S GMT")
                .to_string()
        };
        let refused = body(
            "NotAuthenticated",
            "The required information to complete authentication was not provided or was incorrect.",
        );
        let behind = classify_http(&site(), 401, &refused, None, Some(&date(-600)));
        assert_eq!(behind.kind, ErrorKind::ClockSkew);
        assert_eq!(behind.code, "NotAuthenticated");
        assert!(
            behind.message.contains("behind this machine's")
                && behind.message.contains("5 minutes"),
            "{}",
            behind.message
        );
        // Within OCI's 5 minutes, or with no usable Date, a refusal is the key's.
        for near in [Some(date(120)), Some("garbage".to_string()), None] {
            let e = classify_http(&site(), 401, &refused, None, near.as_deref());
            assert_eq!(e.kind, ErrorKind::Unauthorized, "{near:?}");
        }
    }

    #[test]
    fn not_found_says_both_possibilities_and_the_policy() {
        let e = classify_http(
            &site(),
            404,
            &body(
                "NotAuthorizedOrNotFound",
                "Authorization failed or requested resource not found.",
            ),
            None,
            None,
        );
        assert!(e.message.contains("not authorized"), "{}", e.message);
        assert!(
            e.message.contains("manage compute-capacity-reservations"),
            "{}",
            e.message
        );
        let gone = classify_http(
            &site().on_reservation(),
            404,
            &body("NotAuthorizedOrNotFound", "x"),
            None,
            None,
        );
        assert_eq!(gone.kind, ErrorKind::NotFound);
    }

    #[test]
    fn quota_scope_follows_the_message() {
        for (message, scope) in [
            (
                "standard-e5-core-count limit for availability domain Emul:IAD-AD-1 reached",
                QuotaScope::Zone,
            ),
            ("The tenancy limit was exceeded", QuotaScope::Account),
            (
                "The following service limits were exceeded: x-count",
                QuotaScope::Region,
            ),
        ] {
            let e = classify_http(&site(), 400, &body("LimitExceeded", message), None, None);
            assert_eq!(e.scope(), scope, "{message}");
            assert!(e.message.contains("limit increase"), "{}", e.message);
        }
    }

    #[test]
    fn non_json_bodies_use_the_status() {
        let e = classify_http(&site(), 502, b"<html>bad gateway</html>", None, None);
        assert_eq!(e.kind, ErrorKind::Transient);
        assert_eq!(e.code, "502");
        assert!(e.message.contains("bad gateway"));
    }
}
