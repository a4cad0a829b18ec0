//! cr backend for Google Compute Engine zonal reservations.
//!
//! Speaks the Compute v1 REST API with reqwest (rustls); OAuth tokens are exchanged by cr's
//! own client (classified, with a timeout; gcp_auth signs the service-account JWT). The
//! adapter ([`GceAdapter`]) inserts one reservation per machine type per zone and returns it
//! pending with its zone Operation, which the engine's polling loop follows through
//! [`cr_core::adapter::CloudAdapter::poll`]; it classifies failures, finds a test's
//! reservations with one aggregated list, and deletes them; the shared engine in cr-core does
//! zone fallback, rollback, waiting and retries.
//!
//! - **Backend names**: `gce`, alias `gcp`. SCT's `gce-siren` is deliberately not an alias:
//!   its database nodes run in Scylla Cloud's project, which cannot consume reservations made
//!   in the test's project.
//! - **Configuration**: `gce_datacenter` (region or zone; the planner resolves zones),
//!   `gce_reservation_type` (`regional` falls back across the region's `UP` zones unless
//!   `gce_datacenter` names a zone),
//!   `gce_project` (else `GOOGLE_CLOUD_PROJECT`, else the credentials' project),
//!   `gce_reservation_specific` (`specificReservationRequired`, default true),
//!   `gce_n_local_ssd_disk_*` (that many 375 GB NVMe local SSDs per instance), and the cr
//!   extension [`MIN_CPU_PLATFORM_KEY`] (`minCpuPlatform`).
//! - **Credentials**: the service-account key file in `GOOGLE_APPLICATION_CREDENTIALS` (its
//!   `token_uri` honoured; with an extra CA bundle the token exchange trusts it too), else the
//!   application-default credentials of `gcloud auth application-default login`. The metadata
//!   server is never probed.
//! - **Ownership without labels**: GCE reservations have no labels, so a reservation is named
//!   `cr-<first 8 letters/digits of the test id>-<zone suffix>-<machine type>-<hash>` (valid,
//!   ≤ 63 characters, stable across retries and reruns: see [`reservation_name`]) and its
//!   `description` holds the tags as a JSON object. Discovery lists
//!   `aggregated/reservations` filtered by the name prefix and keeps those whose description's
//!   `TestId` matches, so a reservation made by another tool is found if it follows both
//!   conventions.
//! - **Idempotency**: each insert carries a `requestId` derived from (test id, region, zone,
//!   type, attempt); an `alreadyExists` answer for a reservation of the same test is adopted.
//! - **Expiry**: `deleteAtTime` is the plan's end time, so a crashed run cannot hold capacity
//!   past it.
//! - **Permissions**: [`permissions()`] (also [`role_definition`]) is the custom-role
//!   definition (`cr permissions --backend gce`).
//! - **Modules**, as in every cloud crate: `builder`, `credential`, `client`, `adapter`,
//!   `error`, `permissions`, plus GCE's `naming` and `wire`; what is not cloud-specific
//!   (endpoint and CA bundle checks, HTTP status kinds, Retry-After, the TestId re-check) is
//!   `cr_core::transport` / `cr_core::tags`.
//!
//! ```no_run
//! # async fn demo() -> cr_core::Result<()> {
//! use std::sync::Arc;
//! use cr_core::{EngineBackend, retry::RetryPolicy};
//!
//! let adapter = cr_gce::GceBuilder::from_env()
//!     .with_project("my-project")
//!     .build()
//!     .await?;
//! let backend = EngineBackend::new(Arc::new(adapter), RetryPolicy::default());
//! # let _ = backend;
//! # Ok(()) }
//! ```
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

pub use adapter::{EXTRA_ID, EXTRA_OPERATION, GceAdapter};
pub use builder::{GceBuilder, MIN_CPU_PLATFORM_KEY};
pub use client::DEFAULT_BASE_URL;
pub use credential::COMPUTE_SCOPE;
pub use naming::{is_valid_name, name_filter, reservation_name, test_prefix};
pub use permissions::{PERMISSIONS, permissions, role_definition};

/// `cluster_backend` values besides `gce` that select this backend.
pub const ALIASES: &[&str] = &["gcp"];

/// Builds the `gce` backend: the adapter from `params` and `options`, driven by the engine.
fn construct(
    params: Params,
    options: BackendOptions,
) -> BoxFuture<'static, Result<Box<dyn CapacityReservation>>> {
    Box::pin(async move {
        let adapter = GceBuilder::from_options(&options)
            .with_params(&params)
            .build()
            .await?;
        Ok(
            Box::new(EngineBackend::from_options(Arc::new(adapter), &options))
                as Box<dyn CapacityReservation>,
        )
    })
}

fn permissions_document() -> Result<serde_json::Value> {
    Ok(permissions())
}

inventory::submit! {
    BackendRegistration {
        name: "gce",
        cloud: Cloud::Gce,
        aliases: ALIASES,
        construct,
        permissions: permissions_document,
    }
}
