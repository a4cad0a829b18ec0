//! Cloud-independent core of **cr**: reserve compute capacity before a test cluster is
//! provisioned, and release it afterwards.
//!
//! - [`CapacityReservation`]: the interface every backend offers (is_enabled, reserve,
//!   get_id, cancel, cancel_all_regions and its preview, discover, instance_target,
//!   find_created and cancel_created for orphans).
//! - [`orphans`]: the rules that call a reservation cr created an orphan.
//! - [`config::Params`]: SCT-style layered YAML configuration.
//! - [`plan::CapacityPlan`]: what to reserve, where, until when.
//! - [`engine::Engine`]: zone fallback, rollback, retries and concurrency, written once over
//!   the small per-cloud [`adapter::CloudAdapter`].
//! - [`preflight`]: whether reserving can work (credentials, permissions, offerings, quota).
//! - [`progress`]: the events a reserve, cancel or cleanup reports while it runs.
//! - [`pacing`]: client-side pacing that shares a cloud's API rate limit (adaptive, CUBIC).
//! - [`registry`]: the `inventory`-based backend registry.
//! - [`transport`]: what every cloud crate's client shares (endpoint and CA bundle
//!   validation, HTTP status kinds, Retry-After).
//!
//! Architecture invariant: this crate depends on no cloud SDK.
#![deny(missing_docs)]

pub mod adapter;
pub mod backend;
pub mod cloud;
pub mod config;
pub mod engine;
pub mod error;
pub mod model;
pub mod orphans;
pub mod pacing;
pub mod plan;
mod planner;
pub mod preflight;
pub mod progress;
pub mod registry;
pub mod retry;
pub mod tags;
pub mod transport;
pub mod wait;

pub use backend::{CapacityReservation, EngineBackend};
pub use cloud::Cloud;
pub use config::Params;
pub use error::{Error, ErrorKind, Result};
pub use model::{CancelReport, CleanupPreview, Reservation, ReservationId, ReservationSet};
pub use plan::CapacityPlan;
/// The cancellation token of [`CapacityReservation::reserve_until`] (tokio-util's).
pub use tokio_util::sync::CancellationToken;
