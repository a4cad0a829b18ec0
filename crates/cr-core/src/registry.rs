//! The backend registry: each cloud crate submits a [`BackendRegistration`] through
//! `inventory`; the facade looks backends up by name.

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
}

impl fmt::Debug for BackendOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BackendOptions")
            .field("endpoint", &self.endpoint)
            .field("ca_bundle", &self.ca_bundle)
            .field("retry", &self.retry)
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
