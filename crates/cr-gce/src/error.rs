//! Classification of Compute Engine failures into cr's [`ErrorKind`]s, where they enter:
//! synchronous HTTP error envelopes, `error.errors[]` of a finished Operation, transport
//! failures and token failures. The engine decides fallback and retry on the kind alone.

use std::error::Error as StdError;
use std::time::Duration;

use cr_core::error::{CloudError, ErrorKind};
use cr_core::transport::error_sources as chain;
use cr_core::{Cloud, Error};
use serde::Deserialize;

/// Where a call was made, so every error names its region, zone and machine type.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct CallSite {
    /// The API method, e.g. `reservations.insert`.
    pub(crate) operation: &'static str,
    pub(crate) region: Option<String>,
    pub(crate) zone: Option<String>,
    pub(crate) instance_type: Option<String>,
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

    pub(crate) fn zone(mut self, zone: impl Into<String>) -> Self {
        self.zone = Some(zone.into());
        self
    }

    pub(crate) fn instance_type(mut self, t: impl Into<String>) -> Self {
        self.instance_type = Some(t.into());
        self
    }

    /// A classified error at this call site.
    pub(crate) fn error(
        &self,
        kind: ErrorKind,
        code: impl Into<String>,
        message: impl Into<String>,
    ) -> CloudError {
        let mut e = CloudError::new(kind, Cloud::Gce, self.operation, code, message);
        e.location.region = self.region.clone();
        e.location.zone = self.zone.clone();
        e.location.instance_type = self.instance_type.clone();
        e
    }
}

/// The synchronous error envelope: `{"error": {"code", "message", "errors": [{"reason", ...}]}}`.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct ErrorReply {
    #[serde(default)]
    pub(crate) error: ErrorBody,
}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct ErrorBody {
    #[serde(default)]
    pub(crate) message: String,
    #[serde(default)]
    pub(crate) status: Option<String>,
    #[serde(default)]
    pub(crate) errors: Vec<ErrorItem>,
}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct ErrorItem {
    #[serde(default)]
    pub(crate) reason: Option<String>,
    #[serde(default)]
    pub(crate) message: Option<String>,
}

/// `error.errors[]` of an Operation: `code` is e.g. `ZONE_RESOURCE_POOL_EXHAUSTED`.
#[derive(Debug, Clone, Default, Deserialize)]
pub(crate) struct OperationErrorItem {
    #[serde(default)]
    pub(crate) code: String,
    #[serde(default)]
    pub(crate) message: String,
}

/// The kind of a cloud code (a synchronous `reason` or an Operation `code`), when the code
/// alone decides it. Compared case-insensitively: synchronous reasons are camelCase,
/// Operation codes SCREAMING_SNAKE.
pub(crate) fn kind_of_code(code: &str) -> Option<ErrorKind> {
    let normal: String = code
        .chars()
        .filter(|c| *c != '_')
        .flat_map(char::to_lowercase)
        .collect();
    let kind = match normal.as_str() {
        "zoneresourcepoolexhausted" | "zoneresourcepoolexhaustedwithdetails" => {
            ErrorKind::CapacityUnavailable
        }
        "quotaexceeded" => ErrorKind::QuotaExceeded,
        "ratelimitexceeded" | "userratelimitexceeded" | "resourceoperationrateexceeded" => {
            ErrorKind::Throttled
        }
        "forbidden"
        | "insufficientpermissions"
        | "permissiondenied"
        | "permissionserror"
        | "autherror"
        | "unauthorized"
        | "unauthenticated"
        | "accessnotconfigured" => ErrorKind::Unauthorized,
        "notfound" | "resourcenotfound" => ErrorKind::NotFound,
        "invalid" | "badrequest" | "invalidargument" | "invalidfieldvalue" | "invalidusage"
        | "conditionnotmet" | "invalidparameter" => ErrorKind::InvalidRequest,
        // `resourceNotReady`: another operation (e.g. a delete) is still running on it.
        "backenderror" | "internalerror" | "unavailable" | "serviceunavailable"
        | "resourcenotready" => ErrorKind::Transient,
        "timeout" | "deadlineexceeded" => ErrorKind::Timeout,
        _ => return None,
    };
    Some(kind)
}

/// The kind of an HTTP status when no code decided it: cr-core's mapping
/// ([`cr_core::transport::kind_of_status`]) with GCE's own meanings of 409 and 410.
pub(crate) fn kind_of_status(status: u16) -> ErrorKind {
    match status {
        410 => ErrorKind::NotFound,
        // A conflicting operation on the same resource: it ends on its own.
        409 => ErrorKind::Transient,
        // Not an error status (an Operation that failed with a code GCE did not fill in).
        s if s < 400 => ErrorKind::InvalidRequest,
        s => cr_core::transport::kind_of_status(s),
    }
}

/// Classifies a synchronous HTTP error response.
pub(crate) fn classify_http(
    site: &CallSite,
    status: u16,
    body: &str,
    retry_after: Option<Duration>,
) -> CloudError {
    let reply: ErrorReply = serde_json::from_str(body).unwrap_or_default();
    let reasons: Vec<&str> = reply
        .error
        .errors
        .iter()
        .filter_map(|e| e.reason.as_deref())
        .chain(reply.error.status.as_deref())
        .collect();
    // Any reason that names a class wins over the status: GCE sends 403 for both
    // rate limits and missing permissions.
    let by_code = reasons
        .iter()
        .find_map(|r| kind_of_code(r).map(|k| (*r, k)));
    let first_reason = || reasons.first().map(|r| r.to_string());
    let (code, kind) = match by_code {
        // A 401 is always missing or bad credentials (its reason is e.g. `required`), and a
        // 429 always a rate limit, whatever the reason says.
        _ if status == 401 => (
            first_reason().unwrap_or_else(|| "401".into()),
            ErrorKind::Unauthorized,
        ),
        _ if status == 429 => (
            first_reason().unwrap_or_else(|| "429".into()),
            ErrorKind::Throttled,
        ),
        Some((r, k)) => (r.to_string(), k),
        None => (
            first_reason().unwrap_or_else(|| status.to_string()),
            kind_of_status(status),
        ),
    };
    let mut message = reply.error.message.clone();
    if message.is_empty() {
        message = reply
            .error
            .errors
            .iter()
            .find_map(|e| e.message.clone())
            .unwrap_or_else(|| format!("HTTP {status}: {}", truncate(body, 300)));
    }
    // GCE has no code of its own for "this zone does not offer the machine type": an insert
    // naming one is an `invalid` 400 whose message says so. That is the zone's failure (the
    // next zone may offer it), not a bad request.
    let kind = if kind == ErrorKind::InvalidRequest && is_machine_type_not_in_zone(&message) {
        ErrorKind::NotOffered
    } else {
        kind
    };
    site.error(kind, code, message).retry_after(retry_after)
}

/// Whether an error message is GCE's "Machine type with name 'x' does not exist in zone 'z'."
fn is_machine_type_not_in_zone(message: &str) -> bool {
    message.contains("Machine type with name") && message.contains("does not exist in zone")
}

/// Classifies the errors of a finished Operation; the first classifiable code wins.
pub(crate) fn classify_operation(
    site: &CallSite,
    operation_name: &str,
    errors: &[OperationErrorItem],
    http_status: Option<u16>,
    http_message: Option<&str>,
) -> CloudError {
    let classified = errors
        .iter()
        .find_map(|e| kind_of_code(&e.code).map(|k| (e, k)));
    let (code, message, kind) = match classified {
        Some((e, k)) => (e.code.clone(), e.message.clone(), k),
        None => {
            let first = errors.first();
            let code = first
                .map(|e| e.code.clone())
                .filter(|c| !c.is_empty())
                .or_else(|| http_status.map(|s| s.to_string()))
                .unwrap_or_else(|| "OPERATION_FAILED".into());
            let message = first
                .map(|e| e.message.clone())
                .filter(|m| !m.is_empty())
                .or_else(|| http_message.map(str::to_string))
                .unwrap_or_else(|| "the operation failed without an error message".into());
            let kind = http_status
                .map(kind_of_status)
                .unwrap_or(ErrorKind::InvalidRequest);
            (code, message, kind)
        }
    };
    site.error(kind, code, message)
        .request_id(Some(format!("operation {operation_name}")))
}

/// Classifies a transport failure (no HTTP response).
pub(crate) fn classify_transport(site: &CallSite, err: &reqwest::Error) -> CloudError {
    let (kind, code, message) = transport_kind(err);
    site.error(kind, code, message)
}

/// The kind, code and message of a transport failure. A certificate the client does not
/// trust is refused again on every retry, so it is not retryable; timeouts, refused or reset
/// connections and unreadable bodies are.
fn transport_kind(err: &reqwest::Error) -> (ErrorKind, &'static str, String) {
    // reqwest's Display can include the URL, which holds no secret (tokens go in headers,
    // grants in bodies).
    let message = cr_core::transport::error_text(err);
    if untrusted_certificate(err) {
        (
            ErrorKind::InvalidRequest,
            "tls_untrusted",
            format!("{message}; {TLS_HINT}"),
        )
    } else if err.is_timeout() {
        (ErrorKind::Timeout, "timeout", message)
    } else if err.is_connect() {
        (ErrorKind::Transient, "connect", message)
    } else if err.is_decode() {
        (ErrorKind::Transient, "invalid_response", message)
    } else {
        (ErrorKind::Transient, "transport", message)
    }
}

const TLS_HINT: &str = "if the endpoint uses a private CA (e.g. the emulator), trust it with \
                        --ca-bundle or CR_CA_BUNDLE";

/// Whether `err` is rustls refusing the server's certificate (unknown issuer, expired, wrong
/// name, ...): rustls's `InvalidCertificate` reads `invalid peer certificate: <reason>`.
/// cr-gce does not link rustls itself, so the chain is matched by that text (cr-aws, which
/// does, matches the type).
fn untrusted_certificate(err: &(dyn StdError + 'static)) -> bool {
    chain(err)
        .iter()
        .any(|e| e.to_string().starts_with("invalid peer certificate"))
}

/// A token endpoint's failure, classified like the answer of any other call (a 429 is
/// throttling, a 5xx transient, a refused grant unauthorized). It travels from cr's token
/// exchange to [`classify_token`] inside `gcp_auth::Error::Other`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TokenFailure {
    pub(crate) kind: ErrorKind,
    pub(crate) code: String,
    pub(crate) message: String,
    pub(crate) retry_after: Option<Duration>,
}

impl std::fmt::Display for TokenFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl StdError for TokenFailure {}

impl TokenFailure {
    pub(crate) fn new(
        kind: ErrorKind,
        code: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        TokenFailure {
            kind,
            code: code.into(),
            message: message.into(),
            retry_after: None,
        }
    }

    /// The token request got no answer.
    pub(crate) fn transport(token_uri: &str, err: &reqwest::Error) -> Self {
        let (kind, code, message) = transport_kind(err);
        TokenFailure::new(
            kind,
            format!("token_{code}"),
            format!("token endpoint {token_uri}: {message}"),
        )
    }

    /// The token endpoint answered `status` (not a success) with `body`: an OAuth 2.0 error
    /// (`{"error": "invalid_grant", "error_description": "..."}`, RFC 6749 §5.2) or anything
    /// else. Only `error` and `error_description` are quoted, and not even those when they
    /// contain one of `secrets` (the assertion, a refresh token): a server may echo the grant.
    pub(crate) fn answer(
        token_uri: &str,
        status: u16,
        retry_after: Option<Duration>,
        body: &[u8],
        secrets: &[&str],
    ) -> Self {
        #[derive(Default, Deserialize)]
        struct OAuthError {
            #[serde(default)]
            error: Option<String>,
            #[serde(default)]
            error_description: Option<String>,
        }
        let reply: OAuthError = serde_json::from_slice(body).unwrap_or_default();
        let quotable = |s: &String| {
            !s.is_empty()
                && !secrets
                    .iter()
                    .any(|secret| !secret.is_empty() && s.contains(secret))
        };
        let error = reply.error.filter(quotable);
        let description = reply.error_description.filter(quotable);
        // Google refuses an assertion whose `iat`/`exp` are off its clock with
        // `invalid_grant` "Invalid JWT: Token must be a short-lived token (60 minutes) and in
        // a reasonable timeframe. Check your iat and exp values ...": the times cr put in it
        // come from this machine's clock.
        let clock_refused = error.as_deref() == Some("invalid_grant")
            && description
                .as_deref()
                .is_some_and(|d| d.contains("reasonable timeframe") || d.contains("iat and exp"));
        let kind = match status {
            _ if clock_refused => ErrorKind::ClockSkew,
            429 => ErrorKind::Throttled,
            408 => ErrorKind::Timeout,
            s if s >= 500 => ErrorKind::Transient,
            // A refused grant, an unknown client, a wrong token URI (404): whatever it is,
            // these credentials yield no token. No other kind fits (NotFound least of all: a
            // cancel would read it as "already gone").
            _ => ErrorKind::Unauthorized,
        };
        let what = match kind {
            ErrorKind::Throttled => "is rate limiting token requests",
            ErrorKind::Unauthorized => "refused the credentials",
            ErrorKind::ClockSkew => {
                "refused the token request's times (the JWT's iat and exp, taken from this machine's clock, are off Google's by more than it allows)"
            }
            _ => "failed",
        };
        let mut message = format!("token endpoint {token_uri} {what}: HTTP {status}");
        for part in [&error, &description].into_iter().flatten() {
            message.push_str(": ");
            message.push_str(truncate(part, 300));
        }
        TokenFailure {
            kind,
            code: error.unwrap_or_else(|| status.to_string()),
            message,
            retry_after,
        }
    }
}

/// Classifies a failure to obtain an access token. A [`TokenFailure`] (from cr's own token
/// exchange) keeps its classification; any other provider's failure (an injected provider)
/// is transient when the provider could not reach its endpoint, unauthorized otherwise.
pub(crate) fn classify_token(site: &CallSite, err: &gcp_auth::Error) -> CloudError {
    if let Some(f) = chain(err)
        .into_iter()
        .find_map(|e| e.downcast_ref::<TokenFailure>())
    {
        return site
            .error(
                f.kind,
                f.code.clone(),
                format!("cannot obtain an access token: {}", f.message),
            )
            .retry_after(f.retry_after);
    }
    let message = format!(
        "cannot obtain an access token: {}",
        cr_core::transport::error_text(err)
    );
    match err {
        // The token endpoint could not be reached: worth retrying.
        gcp_auth::Error::Other(_, _) | gcp_auth::Error::Http(_, _) => {
            site.error(ErrorKind::Transient, "token_unavailable", message)
        }
        _ => site.error(ErrorKind::Unauthorized, "token_rejected", message),
    }
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
        CallSite::new("reservations.insert")
            .region("us-east1")
            .zone("us-east1-b")
            .instance_type("n2-highmem-16")
    }

    fn envelope(status: u16, reason: &str, message: &str) -> String {
        serde_json::json!({"error": {"code": status, "message": message,
            "errors": [{"reason": reason, "message": message, "domain": "global"}]}})
        .to_string()
    }

    #[test]
    fn http_errors_are_classified_by_reason_then_status() {
        let table: &[(u16, &str, ErrorKind)] = &[
            (403, "rateLimitExceeded", ErrorKind::Throttled),
            (403, "userRateLimitExceeded", ErrorKind::Throttled),
            (429, "rateLimitExceeded", ErrorKind::Throttled),
            (429, "somethingNew", ErrorKind::Throttled),
            (403, "forbidden", ErrorKind::Unauthorized),
            (403, "insufficientPermissions", ErrorKind::Unauthorized),
            (401, "required", ErrorKind::Unauthorized),
            (401, "authError", ErrorKind::Unauthorized),
            (400, "invalid", ErrorKind::InvalidRequest),
            (400, "badRequest", ErrorKind::InvalidRequest),
            (404, "notFound", ErrorKind::NotFound),
            (403, "quotaExceeded", ErrorKind::QuotaExceeded),
            (503, "backendError", ErrorKind::Transient),
            (500, "unknownReason", ErrorKind::Transient),
            (
                400,
                "ZONE_RESOURCE_POOL_EXHAUSTED",
                ErrorKind::CapacityUnavailable,
            ),
            (
                400,
                "ZONE_RESOURCE_POOL_EXHAUSTED_WITH_DETAILS",
                ErrorKind::CapacityUnavailable,
            ),
            (412, "conditionNotMet", ErrorKind::InvalidRequest),
            (400, "resourceNotReady", ErrorKind::Transient),
        ];
        for (status, reason, kind) in table {
            let e = classify_http(&site(), *status, &envelope(*status, reason, "boom"), None);
            assert_eq!(e.kind, *kind, "{status} {reason}");
            assert_eq!(e.message, "boom");
            assert_eq!(e.location.cloud, Some(Cloud::Gce));
            assert_eq!(e.location.region.as_deref(), Some("us-east1"));
            assert_eq!(e.location.zone.as_deref(), Some("us-east1-b"));
            assert_eq!(e.location.instance_type.as_deref(), Some("n2-highmem-16"));
            assert_eq!(e.operation, "reservations.insert");
        }
    }

    #[test]
    fn http_errors_without_reason_fall_back_to_status() {
        let table: &[(u16, ErrorKind)] = &[
            (401, ErrorKind::Unauthorized),
            (403, ErrorKind::Unauthorized),
            (404, ErrorKind::NotFound),
            (408, ErrorKind::Timeout),
            (429, ErrorKind::Throttled),
            (400, ErrorKind::InvalidRequest),
            (502, ErrorKind::Transient),
            (503, ErrorKind::Transient),
        ];
        for (status, kind) in table {
            let e = classify_http(&site(), *status, "<html>oops</html>", None);
            assert_eq!(e.kind, *kind, "{status}");
            assert_eq!(e.code, status.to_string());
            assert!(e.message.contains("oops"), "{}", e.message);
        }
    }

    #[test]
    fn retry_after_is_kept() {
        let e = classify_http(
            &site(),
            429,
            &envelope(429, "rateLimitExceeded", "slow down"),
            Some(Duration::from_secs(3)),
        );
        assert_eq!(e.retry_after, Some(Duration::from_secs(3)));
        assert_eq!(e.code, "rateLimitExceeded");
    }

    #[test]
    fn operation_errors_are_classified_by_code() {
        let table: &[(&str, ErrorKind)] = &[
            (
                "ZONE_RESOURCE_POOL_EXHAUSTED",
                ErrorKind::CapacityUnavailable,
            ),
            (
                "ZONE_RESOURCE_POOL_EXHAUSTED_WITH_DETAILS",
                ErrorKind::CapacityUnavailable,
            ),
            ("QUOTA_EXCEEDED", ErrorKind::QuotaExceeded),
            ("RESOURCE_OPERATION_RATE_EXCEEDED", ErrorKind::Throttled),
            ("RATE_LIMIT_EXCEEDED", ErrorKind::Throttled),
            ("PERMISSION_DENIED", ErrorKind::Unauthorized),
            ("RESOURCE_NOT_FOUND", ErrorKind::NotFound),
            ("INVALID_FIELD_VALUE", ErrorKind::InvalidRequest),
            ("INTERNAL_ERROR", ErrorKind::Transient),
        ];
        for (code, kind) in table {
            let errors = vec![OperationErrorItem {
                code: code.to_string(),
                message: "zone says no".into(),
            }];
            let e = classify_operation(&site(), "operation-1", &errors, Some(400), None);
            assert_eq!(e.kind, *kind, "{code}");
            assert_eq!(e.code, *code);
            assert_eq!(e.message, "zone says no");
            assert_eq!(e.request_id.as_deref(), Some("operation operation-1"));
        }
    }

    #[test]
    fn unknown_operation_codes_use_the_http_status() {
        let errors = vec![OperationErrorItem {
            code: "SOMETHING_NEW".into(),
            message: "new failure".into(),
        }];
        let e = classify_operation(&site(), "op", &errors, Some(503), None);
        assert_eq!(e.kind, ErrorKind::Transient);
        assert_eq!(e.code, "SOMETHING_NEW");
        let e = classify_operation(&site(), "op", &errors, None, None);
        assert_eq!(e.kind, ErrorKind::InvalidRequest);
        let e = classify_operation(&site(), "op", &[], Some(403), Some("denied"));
        assert_eq!(e.kind, ErrorKind::Unauthorized);
        assert_eq!(e.code, "403");
        assert_eq!(e.message, "denied");
    }

    /// An error whose Display is fixed (stands in for rustls's and hyper's errors).
    #[derive(Debug)]
    struct Text(&'static str, Option<Box<dyn StdError + Send + Sync>>);

    impl std::fmt::Display for Text {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str(self.0)
        }
    }

    impl StdError for Text {
        fn source(&self) -> Option<&(dyn StdError + 'static)> {
            self.1.as_deref().map(|e| e as &(dyn StdError + 'static))
        }
    }

    #[test]
    fn untrusted_certificates_are_found_inside_io_errors() {
        // The chain reqwest returns when rustls refuses the emulator's certificate:
        // reqwest::Error > hyper_util Error(Connect) > io::Error(Other) > io::Error(InvalidData)
        // > rustls::Error::InvalidCertificate(UnknownIssuer).
        let rustls = Text("invalid peer certificate: UnknownIssuer", None);
        let io =
            std::io::Error::other(std::io::Error::new(std::io::ErrorKind::InvalidData, rustls));
        let err = Text(
            "error sending request for url (https://127.0.0.1:8443/token)",
            Some(Box::new(Text("client error (Connect)", Some(Box::new(io))))),
        );
        assert!(untrusted_certificate(&err));

        let refused = Text(
            "error sending request",
            Some(Box::new(std::io::Error::new(
                std::io::ErrorKind::ConnectionRefused,
                "Connection refused (os error 111)",
            ))),
        );
        assert!(!untrusted_certificate(&refused));
        let closed = Text(
            "peer closed connection without sending TLS close_notify",
            None,
        );
        assert!(!untrusted_certificate(&closed));
    }

    #[test]
    fn a_token_failure_keeps_its_classification() {
        let failure = TokenFailure {
            kind: ErrorKind::Throttled,
            code: "rate_limit_exceeded".into(),
            message: "token endpoint https://oauth2.example/token is rate limiting".into(),
            retry_after: Some(Duration::from_secs(9)),
        };
        let err = gcp_auth::Error::Other("token request failed", Box::new(failure));
        let e = classify_token(&site(), &err);
        assert_eq!(e.kind, ErrorKind::Throttled);
        assert_eq!(e.code, "rate_limit_exceeded");
        assert_eq!(e.retry_after, Some(Duration::from_secs(9)));
        assert!(
            e.message
                .starts_with("cannot obtain an access token: token endpoint")
        );
        assert_eq!(e.location.zone.as_deref(), Some("us-east1-b"));
    }

    #[test]
    fn token_endpoint_statuses_never_read_as_not_found() {
        for status in [400, 401, 403, 404, 405, 410, 418] {
            let f = TokenFailure::answer("https://t/token", status, None, b"", &[]);
            assert_eq!(f.kind, ErrorKind::Unauthorized, "{status}");
        }
        assert_eq!(
            TokenFailure::answer("https://t/token", 429, None, b"", &[]).kind,
            ErrorKind::Throttled
        );
        assert_eq!(
            TokenFailure::answer("https://t/token", 502, None, b"", &[]).kind,
            ErrorKind::Transient
        );
        let f = TokenFailure::answer(
            "https://t/token",
            400,
            None,
            br#"{"error": "invalid_grant", "error_description": "assertion eyJhbGc.x.y is bad"}"#,
            &["eyJhbGc.x.y"],
        );
        assert_eq!(f.code, "invalid_grant");
        assert!(!f.message.contains("eyJhbGc"), "{}", f.message);
    }

    #[test]
    fn a_jwt_refused_for_its_times_is_clock_skew() {
        let f = TokenFailure::answer(
            "https://t/token",
            400,
            None,
            br#"{"error": "invalid_grant", "error_description": "Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe. Check your iat and exp values in the JWT claim."}"#,
            &[],
        );
        assert_eq!(f.kind, ErrorKind::ClockSkew);
        assert_eq!(f.code, "invalid_grant");
        assert!(f.message.contains("this machine's clock"), "{}", f.message);
        // Another refused grant is the credentials'.
        let other = TokenFailure::answer(
            "https://t/token",
            400,
            None,
            br#"{"error": "invalid_grant", "error_description": "Invalid JWT Signature."}"#,
            &[],
        );
        assert_eq!(other.kind, ErrorKind::Unauthorized);
    }

    #[test]
    fn token_failures_are_unauthorized_unless_unreachable() {
        let e = classify_token(&site(), &gcp_auth::Error::Str("token request failed"));
        assert_eq!(e.kind, ErrorKind::Unauthorized);
        assert!(e.message.contains("token request failed"));
        let io = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "refused");
        let e = classify_token(
            &site(),
            &gcp_auth::Error::Other("HTTP request failed", Box::new(io)),
        );
        assert_eq!(e.kind, ErrorKind::Transient);
    }

    #[test]
    fn a_machine_type_the_zone_does_not_offer_is_not_offered() {
        let site = CallSite::new("reservations.insert").zone("us-east1-b");
        let body = r#"{"error": {"code": 400, "message": "Invalid value for field 'resource.specificReservation.instanceProperties.machineType': 'n9-huge'. Machine type with name 'n9-huge' does not exist in zone 'us-east1-b'.", "errors": [{"reason": "invalid", "message": "Invalid value"}]}}"#;
        let e = classify_http(&site, 400, body, None);
        assert_eq!(e.kind, ErrorKind::NotOffered, "{e}");
        let other = r#"{"error": {"code": 400, "message": "Invalid value for field 'resource.name'", "errors": [{"reason": "invalid"}]}}"#;
        assert_eq!(
            classify_http(&site, 400, other, None).kind,
            ErrorKind::InvalidRequest
        );
    }
}
