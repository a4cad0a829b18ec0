//! cr backend for Amazon EC2 On-Demand Capacity Reservations, over aws-sdk-ec2.
//!
//! Registers the backend `aws` (alias `ec2`) with the cr-core registry. The
//! [`AwsAdapter`] speaks EC2 and classifies its errors; cr-core's engine does zone fallback,
//! rollback and retries (the SDK's own retries are off, so every attempt is the engine's).
//!
//! - **Configuration keys** besides the common ones: `region_name`, `availability_zone`
//!   (letters; candidates are the region's available zones offering every demanded type,
//!   configured ones first), `use_placement_group` (reserve in the placement group tagged
//!   with the test id; none found is a configuration error), and `aws_instance_platform`
//!   (default `Linux/UNIX`, see [`INSTANCE_PLATFORM_KEY`]).
//! - **Credentials**: aws-config's standard chain (environment, profiles, SSO, web identity,
//!   container and instance metadata), or static keys from the options' environment overlay.
//!   `--endpoint`, `AWS_ENDPOINT_URL_EC2` or `AWS_ENDPOINT_URL` redirect every call (e.g. to
//!   the emulator); `--ca-bundle`, `AWS_CA_BUNDLE` or `CR_CA_BUNDLE` add trusted CAs.
//! - **Create**: CreateCapacityReservation per instance type, `targeted`, `limited` with the
//!   plan's end time (EC2 releases it by itself even if cr crashes), tagged with the core's
//!   tags, with a ClientToken derived from (test id, region, zone, type, attempt) so a
//!   retried call never reserves twice.
//! - **Find** lists by `tag:TestId` and state `active`/`pending` (checking the tags again
//!   client-side); **cancel** treats a reservation that is already gone as such.
//! - **Permissions**: [`permissions()`] (also [`policy`]) is the IAM policy (`cr permissions
//!   --backend aws`).
//! - **Modules**, as in every cloud crate: `builder`, `credential`, `client`, `adapter`,
//!   `error`, `permissions`; what is not cloud-specific (endpoint and CA bundle checks, HTTP
//!   status kinds, Retry-After, the TestId re-check) is `cr_core::transport` /
//!   `cr_core::tags`.
//!
//! ```no_run
//! # async fn demo(params: cr_core::Params) -> cr_core::Result<()> {
//! use cr_core::CapacityReservation;
//!
//! let backend = cr_aws::AwsBuilder::from_env()
//!     .with_params(&params)
//!     .build_backend()
//!     .await?;
//! let set = backend.reserve(&params).await?;
//! println!("{} reservations", set.reservations().count());
//! # Ok(()) }
//! ```
#![deny(missing_docs)]

mod adapter;
mod builder;
mod client;
mod credential;
mod error;
mod permissions;

use std::sync::Arc;

use cr_core::registry::{BackendOptions, BackendRegistration, BoxFuture};
use cr_core::{CapacityReservation, Cloud, EngineBackend, Params, Result};

pub use adapter::{AwsAdapter, EXTRA_ARN, EXTRA_PLACEMENT_GROUP_ARN};
pub use builder::{
    AwsBuilder, DEFAULT_ATTEMPT_TIMEOUT, DEFAULT_CONNECT_TIMEOUT, DEFAULT_INSTANCE_PLATFORM,
    DEFAULT_REGION, INSTANCE_PLATFORM_KEY,
};
pub use permissions::{ACTIONS, DESCRIBE_ACTIONS, granted_actions, permissions, policy};

/// `cluster_backend` values besides `aws` that select this backend.
pub const ALIASES: &[&str] = &["ec2"];

/// Builds the `aws` backend: the adapter from `params` and `options`, driven by the engine.
fn construct(
    params: Params,
    options: BackendOptions,
) -> BoxFuture<'static, Result<Box<dyn CapacityReservation>>> {
    Box::pin(async move {
        let adapter = AwsBuilder::from_options(&options)
            .with_params(&params)
            .build()
            .await?;
        let backend = EngineBackend::from_options(Arc::new(adapter), &options);
        Ok(Box::new(backend) as Box<dyn CapacityReservation>)
    })
}

fn permissions_document() -> Result<serde_json::Value> {
    Ok(permissions())
}

inventory::submit! {
    BackendRegistration {
        name: "aws",
        cloud: Cloud::Aws,
        aliases: ALIASES,
        construct,
        permissions: permissions_document,
    }
}
