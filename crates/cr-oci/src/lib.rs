//! cr backend for Oracle Cloud Infrastructure compute capacity reservations.
//!
//! Speaks the Core and Identity REST APIs (`/20160918`) with reqwest (rustls), each request
//! signed by cr's own HTTP-signature signer (draft-cavage v1, `rsa-sha256`, aws-lc-rs; see
//! `signer`). The adapter ([`OciAdapter`]) creates one capacity reservation per shape per
//! availability domain and returns it pending (`CREATING`) with its work request, which the
//! engine's polling loop follows through [`cr_core::adapter::CloudAdapter::poll`] until
//! `ACTIVE`; it classifies failures, finds a test's reservations by listing the compartment
//! and filtering on the `TestId` freeform tag, and deletes them. The shared engine in cr-core
//! does AD fallback, rollback, waiting and retries.
//!
//! - **Backend name**: `oci`.
//! - **Configuration**: `oci_region_name`, `availability_zone` letters `a`/`b`/`c` or
//!   `oci_availability_domain` (`AD-1`), resolved against ListAvailabilityDomains (names are
//!   per tenancy, e.g. `Uocm:PHX-AD-1`, and never constructed), `oci_instance_type_*`
//!   (`<shape>:<ocpus>:<ram_gb>:<nvmes>`; Flex shapes send `instanceShapeConfig`),
//!   `oci_compartment_id` (else the tenancy), and the cr extensions [`FAULT_DOMAIN_KEY`] and
//!   [`DEFINED_TAG_NAMESPACE_KEY`].
//! - **Credentials**: `~/.oci/config` (or `OCI_CLI_CONFIG_FILE` / `OCI_CONFIG_FILE`), profile
//!   `OCI_CLI_PROFILE` (default `DEFAULT`): `user`, `tenancy`, `fingerprint`, `key_file`,
//!   `region`, `pass_phrase`. PKCS#8, PKCS#1 and encrypted PKCS#8 keys.
//! - **Idempotency**: `opc-retry-token` = hex of cr-core's idempotency digest (64 characters),
//!   the same for a retried create; a token spent on a since-deleted reservation
//!   (`409 InvalidatedRetryToken`) is settled, so the engine retries with the next attempt.
//! - **Expiry**: OCI capacity reservations have no end time; they hold until `cr cancel`.
//! - **Permissions**: [`permissions()`] lists the IAM policy statements.
//! - **Modules**, as in every cloud crate: `builder`, `credential`, `client`, `adapter`,
//!   `error`, `permissions`, plus OCI's `signer` and `wire`.
//!
//! ```no_run
//! # async fn demo() -> cr_core::Result<()> {
//! use std::sync::Arc;
//! use cr_core::{EngineBackend, retry::RetryPolicy};
//!
//! let adapter = cr_oci::OciBuilder::from_env().build().await?;
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
mod permissions;
mod signer;
mod wire;

use std::sync::Arc;

use cr_core::registry::{BackendOptions, BackendRegistration, BoxFuture};
use cr_core::{CapacityReservation, Cloud, EngineBackend, Params, Result};

pub use adapter::{
    EXTRA_COMPARTMENT, EXTRA_WORK_REQUEST, MAX_RETRY_TOKEN_LEN, OciAdapter, display_name,
    retry_token,
};
pub use builder::{DEFINED_TAG_NAMESPACE_KEY, FAULT_DOMAIN_KEY, OciBuilder};
pub use credential::DEFAULT_PROFILE;
pub use permissions::{OPERATIONS, PERMISSIONS, USE_TAG_NAMESPACE, permissions, statements};

/// `cluster_backend` values besides `oci` that select this backend (none).
pub const ALIASES: &[&str] = &[];

/// Builds the `oci` backend: the adapter from `params` and `options`, driven by the engine.
fn construct(
    params: Params,
    options: BackendOptions,
) -> BoxFuture<'static, Result<Box<dyn CapacityReservation>>> {
    Box::pin(async move {
        let adapter = OciBuilder::from_options(&options)
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
        name: "oci",
        cloud: Cloud::Oci,
        aliases: ALIASES,
        construct,
        permissions: permissions_document,
    }
}
