//! The backend registry: each cloud crate submits a [`BackendRegistration`] through
//! `inventory`; the facade looks backends up by name.

use std::collections::BTreeMap;
use std::fmt;
use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;

use crate::backend::CapacityReservation;
use crate::cloud::Cloud;
use crate::config::Params;
use crate::error::Result;
use crate::retry::RetryPolicy;

/// How a backend reaches its cloud.
#[derive(Clone, Default)]
pub struct BackendOptions {
    /// Send every cloud API call to this base URL (the emulator), instead of the cloud's.
    pub endpoint: Option<String>,
    /// Extra CA certificates (PEM) to trust, e.g. the emulator's.
    pub ca_bundle: Option<PathBuf>,
    /// Retry policy for throttled and transient failures.
    pub retry: RetryPolicy,
    /// The overall deadline of one reserve (`None`: the engine's default,
    /// [`crate::engine::DEFAULT_RESERVE_DEADLINE`]).
    pub reserve_deadline: Option<std::time::Duration>,
    /// Environment variables that take precedence over the process environment when a
    /// backend reads its credentials and settings (e.g. `GOOGLE_APPLICATION_CREDENTIALS`,
    /// `AWS_ACCESS_KEY_ID`): lets one process point backends at an embedded emulator
    /// without mutating its own environment. Values may be secret: never logged.
    pub env: BTreeMap<String, String>,
    /// Where the engine reports progress events (default: nowhere).
    pub progress: crate::progress::Progress,
}

impl BackendOptions {
    /// The value of environment variable `key`: the overlay in [`BackendOptions::env`] first,
    /// then the process environment. Empty values count as unset.
    pub fn var(&self, key: &str) -> Option<String> {
        self.env
            .get(key)
            .cloned()
            .or_else(|| std::env::var(key).ok())
            .filter(|v| !v.is_empty())
    }

    /// The endpoint override: [`BackendOptions::endpoint`] if set, else `CR_ENDPOINT` as
    /// [`BackendOptions::var`] sees it (overlay, then process). Blank counts as unset; the
    /// value is not validated here (see [`crate::transport::validate_endpoint`]).
    pub fn endpoint(&self) -> Option<String> {
        self.endpoint
            .clone()
            .or_else(|| self.var("CR_ENDPOINT"))
            .map(|e| e.trim().to_string())
            .filter(|e| !e.is_empty())
    }

    /// The extra CA bundle: [`BackendOptions::ca_bundle`] if set, else `CR_CA_BUNDLE` as
    /// [`BackendOptions::var`] sees it. Blank counts as unset.
    pub fn ca_bundle_path(&self) -> Option<PathBuf> {
        self.ca_bundle.clone().or_else(|| {
            self.var("CR_CA_BUNDLE")
                .map(|p| p.trim().to_string())
                .filter(|p| !p.is_empty())
                .map(PathBuf::from)
        })
    }
}

impl fmt::Debug for BackendOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BackendOptions")
            .field("endpoint", &self.endpoint)
            .field("ca_bundle", &self.ca_bundle)
            .field("retry", &self.retry)
            .field("reserve_deadline", &self.reserve_deadline)
            .field("env", &self.env.keys().collect::<Vec<_>>())
            .field("progress", &self.progress)
            .finish()
    }
}

/// A boxed future, as returned by a backend constructor.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Builds a backend from the configuration and options (reads credentials, no cloud call).
pub type Constructor =
    fn(Params, BackendOptions) -> BoxFuture<'static, Result<Box<dyn CapacityReservation>>>;

/// One backend's entry in the registry.
pub struct BackendRegistration {
    /// The canonical name (`aws`, `gce`, `azure`, `oci`).
    pub name: &'static str,
    /// The cloud.
    pub cloud: Cloud,
    /// Other `cluster_backend` values that mean the same cloud.
    pub aliases: &'static [&'static str],
    /// The constructor.
    pub construct: Constructor,
    /// The cloud permissions this backend needs, as a policy document the user can apply
    /// (AWS IAM policy JSON, GCE custom-role definition, …).
    pub permissions: fn() -> Result<serde_json::Value>,
}

impl fmt::Debug for BackendRegistration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BackendRegistration")
            .field("name", &self.name)
            .field("cloud", &self.cloud)
            .field("aliases", &self.aliases)
            .finish_non_exhaustive()
    }
}

inventory::collect!(BackendRegistration);

/// Every registered backend, sorted by name.
pub fn registrations() -> Vec<&'static BackendRegistration> {
    let mut all: Vec<_> = inventory::iter::<BackendRegistration>.into_iter().collect();
    all.sort_by_key(|r| r.name);
    all
}

/// The backend registered under `name` or one of its aliases.
pub fn find(name: &str) -> Option<&'static BackendRegistration> {
    inventory::iter::<BackendRegistration>
        .into_iter()
        .find(|r| r.name == name || r.aliases.contains(&name))
}

/// The canonical names of every registered backend, sorted.
pub fn names() -> Vec<&'static str> {
    registrations().into_iter().map(|r| r.name).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoint_and_ca_bundle_prefer_the_field_then_the_overlay() {
        let mut options = BackendOptions::default();
        options
            .env
            .insert("CR_ENDPOINT".into(), " https://overlay:1 ".into());
        options
            .env
            .insert("CR_CA_BUNDLE".into(), "/overlay/ca.pem".into());
        assert_eq!(options.endpoint().as_deref(), Some("https://overlay:1"));
        assert_eq!(
            options.ca_bundle_path(),
            Some(PathBuf::from("/overlay/ca.pem"))
        );
        options.endpoint = Some("https://explicit:2".into());
        options.ca_bundle = Some("/explicit/ca.pem".into());
        assert_eq!(options.endpoint().as_deref(), Some("https://explicit:2"));
        assert_eq!(
            options.ca_bundle_path(),
            Some(PathBuf::from("/explicit/ca.pem"))
        );
        // A blank overlay value is unset, and masks the process's value.
        let mut blank = BackendOptions::default();
        blank.env.insert("CR_ENDPOINT".into(), "   ".into());
        blank.env.insert("CR_CA_BUNDLE".into(), String::new());
        assert_eq!(blank.endpoint(), None);
        assert_eq!(blank.ca_bundle_path(), None);
    }
}
