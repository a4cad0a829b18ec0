//! Classification of Azure Resource Manager failures into cr's [`ErrorKind`]s, where they
//! enter: synchronous ARM error envelopes, the `error` of a failed long-running operation,
//! transport failures and token failures. Codes are looked up in `error.code` and
//! `error.details[].code`, never parsed out of messages.

use std::time::Duration;

use cr_core::error::{CloudError, ErrorKind, QuotaScope};
use cr_core::transport::error_sources;
use cr_core::{Cloud, Error};
use serde::Deserialize;

/// Where a call was made, so every error names its region, zone and VM size, and the ARM
/// action the call needs (for "unauthorized" errors).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct CallSite {
    /// The ARM operation, e.g. `CapacityReservations_CreateOrUpdate`.
    pub(crate) operation: &'static str,
    /// The RBAC action the operation needs.
    pub(crate) action: &'static str,
    pub(crate) region: Option<String>,
    pub(crate) zone: Option<String>,
    pub(crate) instance_type: Option<String>,
}

impl CallSite {
    pub(crate) fn new(operation: &'static str, action: &'static str) -> Self {
        CallSite {
            operation,
            action,
            ..CallSite::default()
        }
    }

    pub(crate) fn region(mut self, region: impl Into<String>) -> Self {
        self.region = Some(region.into());
        self
    }

    pub(crate) fn zone(mut self, zone: Option<&str>) -> Self {
        self.zone = zone.map(str::to_string);
        self
    }

    pub(crate) fn instance_type(mut self, t: impl Into<String>) -> Self {
        self.instance_type = Some(t.into());
        self
    }

    /// The same place, another operation.
    pub(crate) fn with(&self, operation: &'static str, action: &'static str) -> Self {
        CallSite {
            operation,
            action,
            ..self.clone()
        }
    }

    /// A classified error at this call site.
    pub(crate) fn error(
        &self,
        kind: ErrorKind,
        code: impl Into<String>,
        message: impl Into<String>,
    ) -> CloudError {
        let mut e = CloudError::new(kind, Cloud::Azure, self.operation, code, message);
        e.location.region = self.region.clone();
        e.location.zone = self.zone.clone();
        e.location.instance_type = self.instance_type.clone();
        e
    }
}

/// ARM's error envelope: `{"error": {"code", "message", "target", "details": [...]}}`.
#[derive(Debug, Default, Clone, Deserialize)]
pub(crate) struct ErrorReply {
    #[serde(default)]
    pub(crate) error: Option<ArmErrorBody>,
}

/// `error` of the envelope, also the `error` of a failed operation status.
#[derive(Debug, Default, Clone, Deserialize)]
pub(crate) struct ArmErrorBody {
    #[serde(default)]
    pub(crate) code: String,
    #[serde(default)]
    pub(crate) message: String,
    #[serde(default)]
    pub(crate) details: Vec<ArmErrorBody>,
}

/// The kind a code decides on its own, compared without case.
pub(crate) fn kind_of_code(code: &str) -> Option<ErrorKind> {
    let c = code.to_ascii_lowercase();
    let kind = match c.as_str() {
        "allocationfailed" | "zonalallocationfailed" | "skunotavailable" => {
            ErrorKind::CapacityUnavailable
        }
        c if c.starts_with("overconstrained") => ErrorKind::CapacityUnavailable,
        "quotaexceeded" => ErrorKind::QuotaExceeded,
        "toomanyrequests" | "subscriptionrequeststhrottled" | "throttled" => ErrorKind::Throttled,
        "authorizationfailed"
        | "invalidauthenticationtoken"
        | "invalidauthenticationtokentenant"
        | "expiredauthenticationtoken"
        | "authenticationfailed"
        | "linkedauthorizationfailed" => ErrorKind::Unauthorized,
        "resourcenotfound"
        | "notfound"
        | "resourcegroupnotfound"
        | "parentresourcenotfound"
        | "operationnotfound" => ErrorKind::NotFound,
        "notsupported"
        | "invalidparameter"
        | "badrequest"
        | "invalidrequestcontent"
        | "locationrequired"
        | "propertychangenotallowed"
        | "invalidapiversionparameter"
        | "missingapiversionparameter"
        | "invalidresourcetype"
        | "invalidresourcelocation"
        | "invalidtagnamecharacters"
        | "invalidresourcegroupname"
        | "subscriptionnotfound"
        | "locationnotavailableforresourcetype"
        | "locationnotavailableforresourcegroup"
        | "invalidresourcegrouplocation" => ErrorKind::InvalidRequest,
        // Another operation on the resource is running: it ends on its own.
        "anotheroperationinprogress" | "conflictingoperationinprogress" => ErrorKind::Transient,
        "internalservererror" | "internalexecutionerror" | "serviceunavailable" | "internal" => {
            ErrorKind::Transient
        }
        "gatewaytimeout" | "requesttimeout" | "operationtimedout" => ErrorKind::Timeout,
        _ => return None,
    };
    Some(kind)
}

/// Every code of an ARM error: `error.code`, then `error.details[].code` (depth first).
fn codes(body: &ArmErrorBody) -> Vec<&str> {
    let mut out = vec![body.code.as_str()];
    for d in &body.details {
        out.extend(codes(d));
    }
    out.retain(|c| !c.is_empty());
    out
}

/// Whether an error says a group still holds nested resources (a reservation still being
/// deleted, azure-rest-api-specs #18767), so deleting the group is to be retried.
pub(crate) fn is_nested_resources_conflict(err: &Error) -> bool {
    err.cloud_error().is_some_and(|c| {
        matches!(
            c.code.to_ascii_lowercase().as_str(),
            "cannotdeleteresource" | "nestedresourcesexist" | "resourcegroupdeletionblocked"
        )
    })
}

/// Whether ARM refused because another operation on the resource is still running.
pub(crate) fn is_operation_in_progress(err: &Error) -> bool {
    err.cloud_error().is_some_and(|c| {
        c.code.eq_ignore_ascii_case("AnotherOperationInProgress")
            || c.code
                .eq_ignore_ascii_case("ConflictingOperationInProgress")
    })
}

/// Classifies an ARM error (synchronous, with its HTTP `status`, or of a failed operation,
/// `status` `None`). The first code that names a class wins, looked up in `error.code` and
/// then in `error.details[].code`; a 401 is always unauthorized and a 429 always throttled.
pub(crate) fn classify_arm(
    site: &CallSite,
    status: Option<u16>,
    body: &ArmErrorBody,
    retry_after: Option<Duration>,
) -> CloudError {
    let all = codes(body);
    let by_code = all.iter().find_map(|c| kind_of_code(c).map(|k| (*c, k)));
    let top = (!body.code.is_empty()).then(|| body.code.clone());
    let (code, mut kind) = match (status, by_code) {
        (Some(401), _) => (
            top.clone().unwrap_or_else(|| "401".into()),
            ErrorKind::Unauthorized,
        ),
        (Some(429), _) => (
            top.clone().unwrap_or_else(|| "429".into()),
            ErrorKind::Throttled,
        ),
        (_, Some((c, k))) => (c.to_string(), k),
        (Some(s), None) => (
            top.clone().unwrap_or_else(|| s.to_string()),
            kind_of_status(s),
        ),
        (None, None) => (
            top.clone().unwrap_or_else(|| "OperationFailed".into()),
            ErrorKind::InvalidRequest,
        ),
    };
    // `OperationNotAllowed` is what Compute answers for exhausted core quotas, usually with a
    // `QuotaExceeded` detail (found above); without one, a message about quota decides.
    if kind_of_code(&code).is_none()
        && code.eq_ignore_ascii_case("OperationNotAllowed")
        && body.message.to_ascii_lowercase().contains("quota")
    {
        kind = ErrorKind::QuotaExceeded;
    }
    let mut message = if body.message.is_empty() {
        body.details
            .iter()
            .map(|d| d.message.as_str())
            .find(|m| !m.is_empty())
            .unwrap_or("the cloud gave no message")
            .to_string()
    } else {
        body.message.clone()
    };
    if let Some(top) = &top
        && !top.eq_ignore_ascii_case(&code)
    {
        message = format!("{top}: {message}");
    }
    match kind {
        ErrorKind::Unauthorized if !site.action.is_empty() => {
            message = format!(
                "{message} (this call needs the action {}; see `cr permissions --backend azure`)",
                site.action
            );
        }
        ErrorKind::InvalidRequest if code.eq_ignore_ascii_case("NotSupported") => {
            if let Some(size) = &site.instance_type {
                message = format!(
                    "{message} (VM size {size} cannot be reserved: choose a size whose Resource SKU \
                     lists CapacityReservationSupported=True)"
                );
            }
        }
        _ => {}
    }
    let mut e = site.error(kind, code, message).retry_after(retry_after);
    if kind == ErrorKind::QuotaExceeded {
        // Azure's vCPU quotas are per VM family per region of a subscription.
        e = e.quota_scope(QuotaScope::Region);
    }
    e
}

/// The kind of an HTTP status when no code decided it: cr-core's mapping, with ARM's 409
/// (a conflict with another operation) transient.
pub(crate) fn kind_of_status(status: u16) -> ErrorKind {
    match status {
        409 => ErrorKind::Transient,
        s if s < 400 => ErrorKind::InvalidRequest,
        s => cr_core::transport::kind_of_status(s),
    }
}

/// Classifies a synchronous HTTP error answer with its raw `body`.
pub(crate) fn classify_http(
    site: &CallSite,
    status: u16,
    body: &[u8],
    retry_after: Option<Duration>,
) -> CloudError {
    let reply: ErrorReply = serde_json::from_slice(body).unwrap_or_default();
    let arm = reply.error.unwrap_or_else(|| ArmErrorBody {
        code: String::new(),
        message: format!(
            "HTTP {status}: {}",
            String::from_utf8_lossy(&body[..body.len().min(300)])
        ),
        details: Vec::new(),
    });
    classify_arm(site, Some(status), &arm, retry_after)
}

const TLS_HINT: &str = "if the endpoint uses a private CA (e.g. the emulator), trust it with \
                        --ca-bundle or CR_CA_BUNDLE";

/// Classifies a failure of the azure_core pipeline (no HTTP answer): the token (a credential
/// error, unauthorized unless the token endpoint could not be reached) or the transport.
pub(crate) fn classify_pipeline(site: &CallSite, err: &azure_core::Error) -> CloudError {
    let message = cr_core::transport::error_text(err);
    let sources = error_sources(err);
    let reqwest_err = sources
        .iter()
        .find_map(|e| e.downcast_ref::<reqwest::Error>());
    let untrusted = sources
        .iter()
        .any(|e| e.to_string().starts_with("invalid peer certificate"));
    if untrusted {
        return site.error(
            ErrorKind::InvalidRequest,
            "tls_untrusted",
            format!("{message}; {TLS_HINT}"),
        );
    }
    if let Some(token) = sources
        .iter()
        .find_map(|e| e.downcast_ref::<crate::credential::TokenFailure>())
    {
        return site
            .error(token.kind, token.code.clone(), token.message.clone())
            .retry_after(token.retry_after);
    }
    let (kind, code) = match err.kind() {
        azure_core::error::ErrorKind::Credential => (ErrorKind::Unauthorized, "credential"),
        _ => match reqwest_err {
            Some(r) if r.is_timeout() => (ErrorKind::Timeout, "timeout"),
            Some(r) if r.is_connect() => (ErrorKind::Transient, "connect"),
            _ => match err.kind() {
                azure_core::error::ErrorKind::Connection => (ErrorKind::Transient, "connect"),
                azure_core::error::ErrorKind::Io => (ErrorKind::Transient, "transport"),
                _ => (ErrorKind::Other, "client"),
            },
        },
    };
    site.error(kind, code, message)
}

/// An answer that is not the documented JSON.
pub(crate) fn invalid_response(site: &CallSite, why: impl std::fmt::Display) -> Error {
    site.error(
        ErrorKind::Transient,
        "InvalidResponse",
        format!("the answer is not the documented JSON: {why}"),
    )
    .into()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(v: serde_json::Value) -> Vec<u8> {
        v.to_string().into_bytes()
    }

    fn site() -> CallSite {
        CallSite::new(
            "CapacityReservations_CreateOrUpdate",
            "Microsoft.Compute/capacityReservationGroups/capacityReservations/write",
        )
        .region("eastus")
        .zone(Some("1"))
        .instance_type("Standard_L8s_v3")
    }

    #[test]
    fn capacity_codes_at_the_top_or_in_details() {
        for code in [
            "AllocationFailed",
            "ZonalAllocationFailed",
            "OverconstrainedZonalAllocationRequest",
            "OverconstrainedAllocationRequest",
            "SkuNotAvailable",
        ] {
            let e = classify_http(
                &site(),
                409,
                &body(serde_json::json!({"error": {"code": code, "message": "m"}})),
                None,
            );
            assert_eq!(e.kind, ErrorKind::CapacityUnavailable, "{code}");
            assert_eq!(e.code, code);
            let nested = classify_http(
                &site(),
                409,
                &body(
                    serde_json::json!({"error": {"code": "Conflict", "message": "m",
                    "details": [{"code": code, "message": "inner"}]}}),
                ),
                None,
            );
            assert_eq!(nested.kind, ErrorKind::CapacityUnavailable, "{code}");
            assert_eq!(nested.code, code);
        }
    }

    #[test]
    fn quota_by_detail_code_or_operation_not_allowed_about_quota() {
        let e = classify_http(
            &site(),
            409,
            &body(serde_json::json!({"error": {"code": "OperationNotAllowed",
                "message": "exceeding approved standardLSv3Family Cores quota",
                "details": [{"code": "QuotaExceeded", "message": "x"}]}})),
            None,
        );
        assert_eq!(e.kind, ErrorKind::QuotaExceeded);
        assert_eq!(e.code, "QuotaExceeded");
        assert_eq!(e.scope(), QuotaScope::Region);
        assert!(
            e.message.starts_with("OperationNotAllowed: "),
            "{}",
            e.message
        );
        assert!(e.message.contains("standardLSv3Family"), "{}", e.message);
        let e = classify_http(
            &site(),
            409,
            &body(serde_json::json!({"error": {"code": "OperationNotAllowed",
                "message": "Operation could not be completed as it results in exceeding approved quota"}})),
            None,
        );
        assert_eq!(e.kind, ErrorKind::QuotaExceeded);
        let e = classify_http(
            &site(),
            409,
            &body(serde_json::json!({"error": {"code": "OperationNotAllowed",
                "message": "The group is being deleted"}})),
            None,
        );
        assert_eq!(
            e.kind,
            ErrorKind::Transient,
            "409 without a code that decides"
        );
    }

    #[test]
    fn status_overrides_and_hints() {
        let e = classify_http(
            &site(),
            429,
            &body(
                serde_json::json!({"error": {"code": "SubscriptionRequestsThrottled", "message": "slow"}}),
            ),
            Some(Duration::from_secs(3)),
        );
        assert_eq!(e.kind, ErrorKind::Throttled);
        assert_eq!(e.retry_after, Some(Duration::from_secs(3)));
        let e = classify_http(
            &site(),
            403,
            &body(serde_json::json!({"error": {"code": "AuthorizationFailed",
                "message": "The client 'x' does not have authorization to perform action"}})),
            None,
        );
        assert_eq!(e.kind, ErrorKind::Unauthorized);
        assert!(
            e.message
                .contains("Microsoft.Compute/capacityReservationGroups/capacityReservations/write"),
            "{}",
            e.message
        );
        let e = classify_http(&site(), 401, b"", None);
        assert_eq!(e.kind, ErrorKind::Unauthorized);
        let e = classify_http(
            &site(),
            400,
            &body(serde_json::json!({"error": {"code": "NotSupported", "message": "no"}})),
            None,
        );
        assert_eq!(e.kind, ErrorKind::InvalidRequest);
        assert!(e.message.contains("Standard_L8s_v3"), "{}", e.message);
        let e = classify_http(&site(), 503, b"<html>down</html>", None);
        assert_eq!(e.kind, ErrorKind::Transient);
        assert!(e.message.contains("down"));
        let e = classify_http(
            &site(),
            404,
            &body(serde_json::json!({"error": {"code": "ResourceNotFound", "message": "gone"}})),
            None,
        );
        assert_eq!(e.kind, ErrorKind::NotFound);
        let text = e.to_string();
        for part in ["eastus", "zone 1", "Standard_L8s_v3", "ResourceNotFound"] {
            assert!(text.contains(part), "{text}");
        }
    }

    #[test]
    fn the_nested_resources_conflict_is_recognised_by_code() {
        let e: Error = classify_http(
            &site(),
            409,
            &body(serde_json::json!({"error": {"code": "CannotDeleteResource",
                "message": "Cannot delete resource while nested resources exist."}})),
            None,
        )
        .into();
        assert!(is_nested_resources_conflict(&e));
        let other: Error = classify_http(
            &site(),
            409,
            &body(
                serde_json::json!({"error": {"code": "Conflict", "message": "nested resources"}}),
            ),
            None,
        )
        .into();
        assert!(
            !is_nested_resources_conflict(&other),
            "the message never decides"
        );
    }
}
