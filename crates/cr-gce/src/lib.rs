//! cr backend for Google Compute Engine zonal reservations.
//!
//! Speaks the Compute v1 REST API with reqwest (rustls) and authenticates with gcp_auth. The
//! adapter ([`GceAdapter`]) creates one reservation per machine type per zone, waits on its
//! zone Operation, classifies failures, finds a test's reservations with one aggregated list,
//! and deletes them; the shared engine in cr-core does fallback, rollback and retries.
//!
//! Registered as backend `gce` (alias `gce-siren`, SCT's other GCE backend name).
//! Configuration keys read: `gce_project`, `gce_reservation_specific`, and the cr extension
//! `gce_min_cpu_platform`; credentials from `GOOGLE_APPLICATION_CREDENTIALS` or the
//! application-default credentials.
#![deny(missing_docs)]

mod adapter;
#[cfg(test)]
mod adapter_tests;
mod builder;
mod client;
mod credential;
mod error;
mod naming;
mod permissions;
mod wire;

use std::sync::Arc;

use cr_core::registry::{BackendOptions, BackendRegistration, BoxFuture};
use cr_core::{CapacityReservation, Cloud, EngineBackend, Params, Result};

pub use adapter::{EXTRA_ID, GceAdapter};
pub use builder::{GceBuilder, MIN_CPU_PLATFORM_KEY};
pub use client::DEFAULT_BASE_URL;
pub use credential::COMPUTE_SCOPE;
pub use naming::{is_valid_name, name_filter, reservation_name, test_prefix};
pub use permissions::{PERMISSIONS, role_definition};

/// Builds the `gce` backend: the adapter from `params` and `options`, driven by the engine.
pub fn construct(
    params: Params,
    options: BackendOptions,
) -> BoxFuture<'static, Result<Box<dyn CapacityReservation>>> {
    Box::pin(async move {
        let adapter = GceBuilder::from_options(&options)
            .with_params(&params)
            .build()
            .await?;
        Ok(
            Box::new(EngineBackend::new(Arc::new(adapter), options.retry))
                as Box<dyn CapacityReservation>,
        )
    })
}

fn permissions() -> Result<serde_json::Value> {
    Ok(role_definition())
}

inventory::submit! {
    BackendRegistration {
        name: "gce",
        cloud: Cloud::Gce,
        aliases: &["gce-siren"],
        construct,
        permissions,
    }
}
