//! cr backend for Oracle Cloud Infrastructure capacity reservations.
//!
//! Registers the `oci` backend with the cr-core registry. The cloud adapter is not written
//! yet: every operation fails with `Error::NotImplemented`.
#![deny(missing_docs)]

use cr_core::Cloud;
use cr_core::backend::NotImplementedBackend;
use cr_core::registry::{BackendOptions, BackendRegistration, BoxFuture};
use cr_core::{CapacityReservation, Params, Result};

fn construct(
    _params: Params,
    _options: BackendOptions,
) -> BoxFuture<'static, Result<Box<dyn CapacityReservation>>> {
    Box::pin(async {
        Ok(Box::new(NotImplementedBackend(Cloud::Oci)) as Box<dyn CapacityReservation>)
    })
}

fn permissions() -> Result<serde_json::Value> {
    Err(cr_core::Error::NotImplemented {
        backend: Cloud::Oci,
        operation: "permissions".into(),
    })
}

inventory::submit! {
    BackendRegistration { name: "oci", cloud: Cloud::Oci, aliases: &[], construct, permissions }
}
