//! ARM's error envelope (`{"error": {"code", "message", "target", "details"}}`, Compute's
//! `CloudError`/`ApiError`) and the errors the emulator answers with.

use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

/// One ARM error.
#[derive(Debug, Clone, PartialEq)]
pub struct ArmError {
    /// HTTP status when sent synchronously.
    pub status: StatusCode,
    /// `error.code`.
    pub code: String,
    /// `error.message`.
    pub message: String,
    /// `error.target`.
    pub target: Option<String>,
    /// `error.details[]` as `(code, message)`.
    pub details: Vec<(String, String)>,
    /// `Retry-After` seconds (throttling).
    pub retry_after: Option<u64>,
}

impl ArmError {
    /// An error without target or details.
    pub fn new(status: StatusCode, code: &str, message: impl Into<String>) -> ArmError {
        ArmError {
            status,
            code: code.to_owned(),
            message: message.into(),
            target: None,
            details: Vec::new(),
            retry_after: None,
        }
    }

    /// Sets `error.target`.
    pub fn with_target(mut self, target: &str) -> ArmError {
        self.target = Some(target.to_owned());
        self
    }

    /// Adds an `error.details[]` entry.
    pub fn with_detail(mut self, code: &str, message: impl Into<String>) -> ArmError {
        self.details.push((code.to_owned(), message.into()));
        self
    }

    /// The `error` object (also used inside a failed operation status).
    pub fn error_object(&self) -> Value {
        let mut e = json!({"code": self.code, "message": self.message});
        if let Some(t) = &self.target {
            e["target"] = json!(t);
        }
        if !self.details.is_empty() {
            e["details"] = Value::Array(
                self.details
                    .iter()
                    .map(|(c, m)| json!({"code": c, "message": m}))
                    .collect(),
            );
        }
        e
    }

    /// The full response body.
    pub fn body(&self) -> Value {
        json!({"error": self.error_object()})
    }

    /// `400 InvalidParameter` naming the offending property.
    pub fn invalid_parameter(target: &str, message: impl Into<String>) -> ArmError {
        ArmError::new(StatusCode::BAD_REQUEST, "InvalidParameter", message).with_target(target)
    }

    /// `400 InvalidRequestContent`: the body is not the JSON the operation takes.
    pub fn invalid_content(detail: &str) -> ArmError {
        ArmError::new(
            StatusCode::BAD_REQUEST,
            "InvalidRequestContent",
            format!("The request content was invalid and could not be deserialized: '{detail}'."),
        )
    }

    /// `404 ResourceNotFound` for a resource under a resource group.
    pub fn resource_not_found(resource_type: &str, name_path: &str, rg: &str) -> ArmError {
        ArmError::new(
            StatusCode::NOT_FOUND,
            "ResourceNotFound",
            format!(
                "The Resource '{resource_type}/{name_path}' under resource group '{rg}' was not found. \
                 For more details please go to https://aka.ms/ARMResourceNotFoundFix"
            ),
        )
    }

    /// `404 ResourceGroupNotFound`.
    pub fn resource_group_not_found(rg: &str) -> ArmError {
        ArmError::new(
            StatusCode::NOT_FOUND,
            "ResourceGroupNotFound",
            format!("Resource group '{rg}' could not be found."),
        )
    }

    /// `404 ParentResourceNotFound`: a nested resource whose parent is missing.
    pub fn parent_not_found(parent: &str) -> ArmError {
        ArmError::new(
            StatusCode::NOT_FOUND,
            "ParentResourceNotFound",
            format!(
                "Can not perform requested operation on nested resource. Parent resource '{parent}' not found."
            ),
        )
    }

    /// `409 AnotherOperationInProgress`.
    pub fn operation_in_progress(resource: &str) -> ArmError {
        ArmError::new(
            StatusCode::CONFLICT,
            "AnotherOperationInProgress",
            format!(
                "Another operation on this or dependent resource is in progress. Resource '{resource}' \
                 cannot be changed until it completes."
            ),
        )
    }

    /// `409 PropertyChangeNotAllowed`.
    pub fn property_change(property: &str) -> ArmError {
        ArmError::new(
            StatusCode::CONFLICT,
            "PropertyChangeNotAllowed",
            format!("Changing property '{property}' is not allowed."),
        )
        .with_target(property)
    }

    /// `500 InternalServerError` (the `5xx` fault).
    pub fn internal(sub: &str, tracking: &str) -> ArmError {
        ArmError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "InternalServerError",
            format!(
                "Encountered internal server error. Diagnostic information: subscription id '{sub}', \
                 tracking id '{tracking}', request correlation id '{tracking}'."
            ),
        )
    }

    /// `InternalExecutionError`, how an operation that failed for no capacity reason ends
    /// (the `failed_lro` fault).
    pub fn internal_execution() -> ArmError {
        ArmError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "InternalExecutionError",
            "An internal execution error occurred. Please retry later.",
        )
    }
}

impl IntoResponse for ArmError {
    fn into_response(self) -> Response {
        let mut r = (
            self.status,
            [(
                axum::http::header::CONTENT_TYPE,
                HeaderValue::from_static("application/json; charset=utf-8"),
            )],
            self.body().to_string(),
        )
            .into_response();
        if let Some(s) = self.retry_after
            && let Ok(v) = HeaderValue::from_str(&s.to_string())
        {
            r.headers_mut().insert(axum::http::header::RETRY_AFTER, v);
        }
        r
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn envelope_carries_target_and_details() {
        let e = ArmError::new(StatusCode::CONFLICT, "OperationNotAllowed", "quota")
            .with_target("sku")
            .with_detail("QuotaExceeded", "more");
        let b = e.body();
        assert_eq!(b["error"]["code"], "OperationNotAllowed");
        assert_eq!(b["error"]["target"], "sku");
        assert_eq!(b["error"]["details"][0]["code"], "QuotaExceeded");
    }
}
