//! Classification of EC2 failures into cr's error kinds, done once where an SDK error enters,
//! so the engine decides fallback and retry on the kind alone.

use std::error::Error as StdError;

use aws_credential_types::provider::error::CredentialsError;
use aws_sdk_ec2::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_ec2::operation::RequestId;
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use cr_core::Cloud;
use cr_core::error::{CloudError, ErrorKind};
pub(crate) use cr_core::transport::error_sources as chain;
use cr_core::transport::error_text;
use cr_core::transport::{kind_of_status, parse_retry_after};

use crate::credential;

/// Stockouts: the engine moves on to the next zone.
const CAPACITY: &[&str] = &[
    "InsufficientInstanceCapacity",
    "InsufficientCapacity",
    "InsufficientHostCapacity",
    "ReservationCapacityExceeded",
];

/// Account limits. EC2's instance and vCPU limits are regional: with no scope set they are
/// region-scoped, so the engine stops trying the region's other zones and names the quota.
const QUOTA: &[&str] = &[
    "InstanceLimitExceeded",
    "VcpuLimitExceeded",
    "ResourceLimitExceeded",
];

/// Rate limiting (botocore's EC2 retry policy names the first two).
const THROTTLED: &[&str] = &[
    "RequestLimitExceeded",
    "EC2ThrottledException",
    "Throttling",
    "ThrottlingException",
];

/// Credentials that are missing, wrong, expired, or lack a permission: stop at once.
const UNAUTHORIZED: &[&str] = &[
    "AuthFailure",
    "UnauthorizedOperation",
    "SignatureDoesNotMatch",
    "IncompleteSignature",
    "InvalidClientTokenId",
    "InvalidAccessKeyId",
    "MissingAuthenticationToken",
    "ExpiredToken",
    "ExpiredTokenException",
    "OptInRequired",
    "Blocked",
    "PendingVerification",
];

/// The request's signing time is too far from AWS's clock: EC2 `RequestExpired` (400, more
/// than 15 minutes either way), `RequestTimeTooSkewed` elsewhere in AWS.
const CLOCK_SKEW: &[&str] = &["RequestExpired", "RequestTimeTooSkewed"];

/// How far AWS lets a request's `X-Amz-Date` be from its clock.
const CLOCK_TOLERANCE: &str = "15 minutes";

/// Server-side failures worth retrying.
const TRANSIENT: &[&str] = &[
    "InternalError",
    "InternalFailure",
    "ServerInternal",
    "Unavailable",
    "ServiceUnavailable",
];

/// The kind of an EC2 error `code` (HTTP `status` decides for codes not listed).
pub(crate) fn kind_of(code: &str, status: Option<u16>) -> ErrorKind {
    if CAPACITY.contains(&code) {
        ErrorKind::CapacityUnavailable
    } else if code == "Unsupported" {
        // "The instance type is not supported in the requested Availability Zone": the zone
        // does not offer it; the next one may.
        ErrorKind::NotOffered
    } else if QUOTA.contains(&code) {
        ErrorKind::QuotaExceeded
    } else if THROTTLED.contains(&code) {
        ErrorKind::Throttled
    } else if CLOCK_SKEW.contains(&code) {
        ErrorKind::ClockSkew
    } else if UNAUTHORIZED.contains(&code) {
        ErrorKind::Unauthorized
    } else if TRANSIENT.contains(&code) {
        ErrorKind::Transient
    } else if code.ends_with(".NotFound") || code.ends_with(".Unknown") {
        ErrorKind::NotFound
    } else if code.starts_with("Invalid")
        || code.ends_with(".Malformed")
        || matches!(
            code,
            "MissingParameter"
                | "UnknownParameter"
                | "IdempotentParameterMismatch"
                | "ValidationError"
                | "UnsupportedOperation"
                | "DryRunOperation"
                | "IncorrectState"
        )
    {
        ErrorKind::InvalidRequest
    } else {
        status.map_or(ErrorKind::Other, kind_of_status)
    }
}

/// The first error of type `T` in `err`'s chain.
pub(crate) fn find<'a, T: StdError + 'static>(err: &'a (dyn StdError + 'static)) -> Option<&'a T> {
    chain(err).into_iter().find_map(|e| e.downcast_ref::<T>())
}

/// Classifies an SDK failure of `operation` in `region`.
pub(crate) fn classify<E>(
    operation: &str,
    region: &str,
    err: SdkError<E, HttpResponse>,
) -> CloudError
where
    E: ProvideErrorMetadata + StdError + Send + Sync + 'static,
{
    let header_request_id = err.request_id().map(str::to_string);
    let retry_after = err
        .raw_response()
        .and_then(|r| r.headers().get("retry-after"))
        .and_then(|v| parse_retry_after(v, jiff::Timestamp::now()));
    let (kind, code, message, request_id) = match &err {
        SdkError::ServiceError(ctx) => {
            let status = ctx.raw().status().as_u16();
            let meta = ctx.err().meta();
            let code = meta.code().unwrap_or("Unknown").to_string();
            let message = meta
                .message()
                .map(str::to_string)
                .unwrap_or_else(|| format!("HTTP {status} without an error message"));
            let request_id = meta.request_id().map(str::to_string).or(header_request_id);
            // A 2xx the SDK took for an error without finding its code (a garbled reply, or
            // an error document a proxy sent with 200): like an unreadable answer below, the
            // call may have been carried out, and a retry settles it.
            let kind = if (200..300).contains(&status) && meta.code().is_none() {
                ErrorKind::Transient
            } else {
                kind_of(&code, Some(status))
            };
            let message = if kind == ErrorKind::ClockSkew {
                let date = ctx.raw().headers().get("date");
                let skew = cr_core::transport::server_clock_skew(date, jiff::Timestamp::now());
                format!(
                    "{message} ({})",
                    cr_core::transport::clock_skew_note(skew, CLOCK_TOLERANCE)
                )
            } else {
                message
            };
            (kind, code, message, request_id)
        }
        SdkError::ResponseError(ctx) => {
            let status = ctx.raw().status().as_u16();
            // An answer the SDK could not read: a 2xx is a reply cut short or garbled on the
            // way (a proxy, a truncated body), so the call may have been carried out and is
            // retried like any transient failure (creates are idempotent by ClientToken);
            // any other status keeps its own kind.
            let kind = if (200..300).contains(&status) {
                ErrorKind::Transient
            } else {
                kind_of("", Some(status))
            };
            (
                kind,
                format!("UnreadableResponse(HTTP {status})"),
                error_text(&err),
                header_request_id,
            )
        }
        SdkError::TimeoutError(_) => (
            ErrorKind::Timeout,
            "Timeout".to_string(),
            error_text(&err),
            None,
        ),
        SdkError::ConstructionFailure(_) => (
            ErrorKind::InvalidRequest,
            "ConstructionFailure".to_string(),
            error_text(&err),
            None,
        ),
        SdkError::DispatchFailure(d) => {
            let (kind, code, message) = if let Some(c) = find::<CredentialsError>(&err) {
                (
                    ErrorKind::Unauthorized,
                    "CredentialsError",
                    format!(
                        "no usable AWS credentials: {}",
                        credential::describe_failure(c)
                    ),
                )
            } else if find::<rustls::Error>(&err).is_some() {
                // A certificate the client does not trust will not be trusted on a retry.
                (
                    ErrorKind::Other,
                    "TlsError",
                    format!(
                        "{}; if the endpoint uses a private CA (e.g. the emulator), trust it \
                         with --ca-bundle, CR_CA_BUNDLE or AWS_CA_BUNDLE",
                        error_text(&err)
                    ),
                )
            } else if d.is_timeout() {
                (ErrorKind::Timeout, "Timeout", error_text(&err))
            } else if d.is_user() {
                (
                    ErrorKind::InvalidRequest,
                    "DispatchFailure",
                    error_text(&err),
                )
            } else {
                (ErrorKind::Transient, "DispatchFailure", error_text(&err))
            };
            (kind, code.to_string(), message, None)
        }
        _ => (
            ErrorKind::Other,
            "Unknown".to_string(),
            error_text(&err),
            None,
        ),
    };
    CloudError::new(kind, Cloud::Aws, operation, code, message)
        .region(region)
        .request_id(request_id)
        .retry_after(retry_after)
}

#[cfg(test)]
mod tests {
    use aws_config::meta::credentials::CredentialsProviderChain;
    use aws_credential_types::provider::{ProvideCredentials, future};
    use aws_sdk_ec2::operation::create_capacity_reservation::CreateCapacityReservationError;
    use aws_smithy_runtime_api::client::result::ConnectorError;
    use aws_smithy_runtime_api::http::StatusCode;
    use aws_smithy_types::body::SdkBody;
    use aws_smithy_types::error::ErrorMetadata;

    use std::time::Duration;

    use super::*;

    #[test]
    fn codes_map_to_kinds() {
        let table = [
            (
                "InsufficientInstanceCapacity",
                500,
                ErrorKind::CapacityUnavailable,
            ),
            ("InsufficientCapacity", 500, ErrorKind::CapacityUnavailable),
            (
                "ReservationCapacityExceeded",
                400,
                ErrorKind::CapacityUnavailable,
            ),
            ("InstanceLimitExceeded", 400, ErrorKind::QuotaExceeded),
            ("VcpuLimitExceeded", 400, ErrorKind::QuotaExceeded),
            ("RequestLimitExceeded", 503, ErrorKind::Throttled),
            ("AuthFailure", 401, ErrorKind::Unauthorized),
            ("UnauthorizedOperation", 403, ErrorKind::Unauthorized),
            ("RequestExpired", 400, ErrorKind::ClockSkew),
            ("RequestTimeTooSkewed", 403, ErrorKind::ClockSkew),
            ("SignatureDoesNotMatch", 403, ErrorKind::Unauthorized),
            ("ExpiredToken", 400, ErrorKind::Unauthorized),
            ("InvalidParameterValue", 400, ErrorKind::InvalidRequest),
            (
                "InvalidParameterCombination",
                400,
                ErrorKind::InvalidRequest,
            ),
            ("MissingParameter", 400, ErrorKind::InvalidRequest),
            (
                "IdempotentParameterMismatch",
                400,
                ErrorKind::InvalidRequest,
            ),
            (
                "InvalidCapacityReservationId.Malformed",
                400,
                ErrorKind::InvalidRequest,
            ),
            (
                "InvalidCapacityReservationId.NotFound",
                400,
                ErrorKind::NotFound,
            ),
            ("InternalError", 500, ErrorKind::Transient),
            ("Unavailable", 503, ErrorKind::Transient),
            ("SomethingNew", 503, ErrorKind::Transient),
            ("SomethingNew", 429, ErrorKind::Throttled),
            ("SomethingNew", 403, ErrorKind::Unauthorized),
            ("SomethingNew", 400, ErrorKind::InvalidRequest),
        ];
        for (code, status, kind) in table {
            assert_eq!(kind_of(code, Some(status)), kind, "{code} HTTP {status}");
        }
    }

    fn response(status: u16) -> HttpResponse {
        let mut r = HttpResponse::new(StatusCode::try_from(status).unwrap(), SdkBody::empty());
        r.headers_mut()
            .insert("x-amzn-requestid", "req-from-header");
        r
    }

    #[test]
    fn service_error_keeps_code_message_region_and_request_id() {
        let meta = ErrorMetadata::builder()
            .code("InsufficientInstanceCapacity")
            .message("Insufficient capacity.")
            .build();
        let err =
            SdkError::service_error(CreateCapacityReservationError::generic(meta), response(500));
        let e = classify("CreateCapacityReservation", "us-east-1", err);
        assert_eq!(e.kind, ErrorKind::CapacityUnavailable);
        assert_eq!(e.code, "InsufficientInstanceCapacity");
        assert_eq!(e.message, "Insufficient capacity.");
        assert_eq!(e.operation, "CreateCapacityReservation");
        assert_eq!(e.location.cloud, Some(Cloud::Aws));
        assert_eq!(e.location.region.as_deref(), Some("us-east-1"));
        assert_eq!(e.request_id.as_deref(), Some("req-from-header"));
    }

    #[test]
    fn retry_after_is_read_in_seconds_and_as_an_http_date() {
        let meta = ErrorMetadata::builder()
            .code("RequestLimitExceeded")
            .build();
        for (value, want) in [
            ("4", Some(Duration::from_secs(4))),
            // A date already past: retry at once.
            ("Wed, 21 Oct 2015 07:28:00 GMT", Some(Duration::ZERO)),
            ("later", None),
        ] {
            let mut raw = response(503);
            raw.headers_mut().insert("retry-after", value);
            let err =
                SdkError::service_error(CreateCapacityReservationError::generic(meta.clone()), raw);
            let e = classify("CreateCapacityReservation", "us-east-1", err);
            assert_eq!(e.kind, ErrorKind::Throttled);
            assert_eq!(e.retry_after, want, "{value}");
        }
        let err =
            SdkError::service_error(CreateCapacityReservationError::generic(meta), response(503));
        assert_eq!(classify("X", "r", err).retry_after, None);
    }

    #[test]
    fn request_expired_is_clock_skew_measured_by_the_date_header() {
        let meta = ErrorMetadata::builder()
            .code("RequestExpired")
            .message("Request has expired.")
            .build();
        let ahead = (jiff::Timestamp::now() + jiff::SignedDuration::from_secs(1200))
            .strftime("%a, %d %b %Y %H:%M:%S GMT")
            .to_string();
        let mut raw = response(400);
        raw.headers_mut().insert("date", ahead);
        let err = SdkError::service_error(CreateCapacityReservationError::generic(meta), raw);
        let e = classify("DescribeAvailabilityZones", "us-east-1", err);
        assert_eq!(e.kind, ErrorKind::ClockSkew);
        assert_eq!(e.code, "RequestExpired");
        assert!(
            e.message
                .starts_with("Request has expired. (the cloud's clock (its Date header) is ")
                && e.message.contains(" min ")
                && e.message.contains("ahead of this machine's")
                && e.message.contains("15 minutes"),
            "{}",
            e.message
        );
        assert!(e.to_string().contains("NTP"), "{e}");
    }

    #[test]
    fn dispatch_failures_are_timeouts_or_transient() {
        let timeout: SdkError<CreateCapacityReservationError, HttpResponse> =
            SdkError::dispatch_failure(ConnectorError::timeout("read timed out".into()));
        assert_eq!(classify("X", "r", timeout).kind, ErrorKind::Timeout);
        let io: SdkError<CreateCapacityReservationError, HttpResponse> =
            SdkError::dispatch_failure(ConnectorError::io("connection reset".into()));
        assert_eq!(classify("X", "r", io).kind, ErrorKind::Transient);
    }

    #[test]
    fn missing_credentials_are_unauthorized() {
        let cred = CredentialsError::not_loaded("no providers in chain provided credentials");
        let err: SdkError<CreateCapacityReservationError, HttpResponse> =
            SdkError::dispatch_failure(ConnectorError::other(Box::new(cred), None));
        let e = classify("DescribeRegions", "eu-west-1", err);
        assert_eq!(e.kind, ErrorKind::Unauthorized);
        assert_eq!(e.code, "CredentialsError");
        assert!(
            e.message
                .contains("no providers in chain provided credentials"),
            "{}",
            e.message
        );
        assert!(
            !e.message.contains("CredentialsNotLoaded"),
            "no Debug output: {}",
            e.message
        );
    }

    #[derive(Debug)]
    struct Nothing(&'static str);

    impl ProvideCredentials for Nothing {
        fn provide_credentials<'a>(&'a self) -> future::ProvideCredentials<'a>
        where
            Self: 'a,
        {
            future::ProvideCredentials::ready(Err(CredentialsError::not_loaded(self.0)))
        }
    }

    #[tokio::test]
    async fn no_credentials_anywhere_names_every_source_tried_on_one_line() {
        let chain = CredentialsProviderChain::first_try(
            "Environment",
            Nothing("environment variable not set: AWS_ACCESS_KEY_ID"),
        )
        .or_else("Profile", Nothing("No profiles were defined"))
        .or_else(
            "Ec2InstanceMetadata",
            Nothing("failed to load IMDS session token\nsecond line"),
        );
        let cred = chain.provide_credentials().await.unwrap_err();
        let err: SdkError<CreateCapacityReservationError, HttpResponse> =
            SdkError::dispatch_failure(ConnectorError::other(Box::new(cred), None));
        let e = classify("DescribeRegions", "eu-west-1", err);
        assert_eq!(e.kind, ErrorKind::Unauthorized);
        assert_eq!(
            e.message,
            "no usable AWS credentials: tried Environment (environment variable not set: \
             AWS_ACCESS_KEY_ID), Profile (No profiles were defined), Ec2InstanceMetadata (failed \
             to load IMDS session token)"
        );
    }

    #[test]
    fn untrusted_certificate_is_not_retried() {
        let tls = rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer);
        let io = std::io::Error::other(tls);
        let err: SdkError<CreateCapacityReservationError, HttpResponse> =
            SdkError::dispatch_failure(ConnectorError::io(Box::new(io)));
        let e = classify("DescribeRegions", "eu-west-1", err);
        assert_eq!(e.code, "TlsError");
        assert!(!e.kind.is_retryable(), "{:?}", e.kind);
        assert!(e.message.contains("--ca-bundle"), "{}", e.message);
    }
}
