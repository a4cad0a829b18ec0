//! cr backend for Microsoft Azure capacity reservations.
//!
//! Speaks Azure Resource Manager through the official azure_core 1.x pipeline (bearer-token
//! policy, reqwest transport trusting an extra CA bundle) with typed serde models for the
//! dozen ARM calls; credentials come from azure_identity 1.x, chained here. The adapter
//! ([`AzureAdapter`]) creates a capacity reservation group per test and region in
//! `prepare_region` (with the zones the engine resolved: Azure fixes a group's zones at
//! creation), one reservation per VM size per zone in it, follows each PUT's long-running
//! operation (`Azure-AsyncOperation`, `Location` or plain `provisioningState`) through the
//! engine's polling loop, and removes reservations, then the group, then an owned resource
//! group at cancel. The shared engine in cr-core does zone fallback, rollback, waiting and
//! retries.
//!
//! - **Backend name**: `azure`.
//! - **Configuration**: `azure_region_name`, `azure_instance_type_db/loader/monitor`,
//!   `azure_use_capacity_reservation`, `azure_reservation_zones` (else `availability_zone`),
//!   `azure_capacity_reservation_group` (default `cr-<test id>-<region>`), and the cr keys
//!   [`SUBSCRIPTION_KEY`] (else `AZURE_SUBSCRIPTION_ID`) and [`RESOURCE_GROUP_KEY`] (a
//!   resource group cr uses but never creates nor deletes; without it cr creates, tags and
//!   later deletes `cr-<test id>-<region>`), and [`REGIONAL_FALLBACK_KEY`] (a regional,
//!   zone-less reservation in a group without zones when every zone is out of capacity).
//! - **Credentials**, in this order: client secret (`AZURE_TENANT_ID` / `AZURE_CLIENT_ID` /
//!   `AZURE_CLIENT_SECRET`), workload identity (`AZURE_FEDERATED_TOKEN_FILE`), managed
//!   identity, Azure CLI; `AZURE_AUTHORITY_HOST` selects the cloud (public, US Government,
//!   China, or any other authority such as the emulator's).
//! - **Idempotency**: ARM PUT is idempotent by name, and names are deterministic
//!   (`cr-<size>-z<zone>` in the test's group), so a create retried after a lost reply
//!   lands on the same reservation.
//! - **Expiry**: `Targeted` reservations have no native end; the planned end is the tag
//!   [`END_TIME_TAG`], and `cancel_all_regions` / cleanup release them.
//! - **Permissions**: [`permissions()`] (also [`role_definition`]) is the custom role
//!   definition (`cr permissions --backend azure`).
//! - **Modules**, as in every cloud crate: `builder`, `credential`, `client`, `adapter`,
//!   `error`, `permissions`, plus Azure's `lro`, `naming` and `wire`; what is not
//!   cloud-specific (endpoint and CA bundle checks, HTTP status kinds, Retry-After, the
//!   TestId re-check) is `cr_core::transport` / `cr_core::tags`.
//!
//! ```no_run
//! # async fn demo() -> cr_core::Result<()> {
//! use std::sync::Arc;
//! use cr_core::{EngineBackend, retry::RetryPolicy};
//!
//! let adapter = cr_azure::AzureBuilder::from_env().build().await?;
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
mod lro;
mod naming;
mod permissions;
mod wire;

use std::sync::Arc;

use cr_core::registry::{BackendOptions, BackendRegistration, BoxFuture};
use cr_core::{CapacityReservation, Cloud, EngineBackend, Params, Result};

pub use adapter::{AzureAdapter, END_TIME_TAG, EXTRA_GROUP, HANDLE_ZONES};
pub use builder::{AzureBuilder, REGIONAL_FALLBACK_KEY, RESOURCE_GROUP_KEY, SUBSCRIPTION_KEY};
pub use client::{
    AUTHORIZATION_API_VERSION, COMPUTE_API_VERSION, RESOURCES_API_VERSION, SKUS_API_VERSION,
    SUBSCRIPTIONS_API_VERSION,
};
pub use credential::PUBLIC_AUTHORITY_HOST;
pub use lro::{EXTRA_LRO_KIND, EXTRA_LRO_URL};
pub use naming::{group_name, owned_resource_group, regional_group_name, reservation_name};
pub use permissions::{
    PERMISSIONS, action_matches, action_of_operation, allowed, permissions, role_definition,
};

/// `cluster_backend` values besides `azure` that select this backend.
pub const ALIASES: &[&str] = &[];

/// Builds the `azure` backend: the adapter from `params` and `options`, driven by the engine.
fn construct(
    params: Params,
    options: BackendOptions,
) -> BoxFuture<'static, Result<Box<dyn CapacityReservation>>> {
    Box::pin(async move {
        let adapter = AzureBuilder::from_options(&options)
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
        name: "azure",
        cloud: Cloud::Azure,
        aliases: ALIASES,
        construct,
        permissions: permissions_document,
    }
}
