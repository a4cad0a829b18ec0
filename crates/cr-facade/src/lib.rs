//! One entry point to every cr backend compiled in.
//!
//! Cargo features `aws`, `gce`, `azure` and `oci` (all on by default) each compile one cloud
//! crate in; [`backend`] resolves the configuration's `cluster_backend` to it through the
//! `inventory` registry of cr-core.
//!
//! ```no_run
//! # async fn demo() -> cr_core::Result<()> {
//! use cr_core::{CapacityReservation, Params};
//! use cr_core::registry::BackendOptions;
//!
//! let params = Params::load_with_process_env(&["sct.yaml".into()])?;
//! let backend = cr_facade::backend(&params, BackendOptions::default()).await?;
//! if backend.is_enabled(&params)? {
//!     let set = backend.reserve(&params).await?;
//!     println!("reserved {} reservations", set.reservations().count());
//!     backend.cancel(&params).await?;
//! }
//! # Ok(())
//! # }
//! ```
#![deny(missing_docs)]

// A backend crate reached only through a feature-gated dependency is dropped by the linker,
// and its `inventory::submit!` entry with it, unless something references the crate.
#[cfg(feature = "aws")]
use cr_aws as _;
#[cfg(feature = "azure")]
use cr_azure as _;
#[cfg(feature = "gce")]
use cr_gce as _;
#[cfg(feature = "oci")]
use cr_oci as _;

use cr_core::registry::{self, BackendOptions, BackendRegistration};
use cr_core::{CapacityReservation, Cloud, Error, Params, Result};

pub use cr_core;

/// The names of the backends compiled in (as enabled by this crate's features), sorted.
pub fn compiled_backends() -> Vec<&'static str> {
    registry::names()
}

/// The registration for backend `name` (a canonical name or an alias).
///
/// An unknown name, or a known cloud whose feature is off, is an error that lists the
/// backends compiled in and the feature that would add it.
pub fn registration(name: &str) -> Result<&'static BackendRegistration> {
    let name = name.trim();
    if let Some(r) = registry::find(name) {
        return Ok(r);
    }
    let compiled = compiled_backends().join(", ");
    let compiled = if compiled.is_empty() {
        "none".to_string()
    } else {
        compiled
    };
    Err(Error::UnknownBackend(match name.parse::<Cloud>() {
        Ok(cloud) => format!(
            "backend `{cloud}` is not compiled into this build (compiled in: {compiled}); rebuild with cargo feature `{cloud}` of cr-facade (e.g. `cargo build -p cr-cli --features {cloud}`)"
        ),
        Err(_) => format!(
            "unknown backend `{name}` (compiled in: {compiled}); cr knows aws, gce, azure and oci, each behind the cr-facade cargo feature of the same name"
        ),
    }))
}

/// The backend named by the configuration's `cluster_backend`.
pub async fn backend(
    params: &Params,
    options: BackendOptions,
) -> Result<Box<dyn CapacityReservation>> {
    let name = params.cluster_backend.as_deref().ok_or_else(|| {
        Error::config(
            params
                .raw
                .get("cluster_backend")
                .map(|v| v.source.clone())
                .unwrap_or_else(|| "the configuration".into()),
            "cluster_backend",
            "",
            format!(
                "one of the compiled-in backends: {}",
                compiled_backends().join(", ")
            ),
        )
    })?;
    backend_named(name, params, options).await
}

/// The backend registered as `name`, built for `params`.
pub async fn backend_named(
    name: &str,
    params: &Params,
    options: BackendOptions,
) -> Result<Box<dyn CapacityReservation>> {
    let registration = registration(name)?;
    (registration.construct)(params.clone(), options).await
}

/// The library example of docs/library.md, compiled as a doctest so the page stays true.
#[cfg(doctest)]
#[doc = include_str!("../../../docs/library.md")]
pub struct LibraryDoctests;
