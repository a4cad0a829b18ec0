//! Progress events: what the engine is doing, as it happens, for people watching.
//!
//! The engine reports every step a person would want to see while a reserve, cancel or
//! cleanup runs — a zone tried, a reservation created and waited on, a zone given up and why,
//! a reservation released — as an [`Event`] to the [`Progress`] sink it was given
//! ([`crate::engine::Engine::with_progress`], or [`crate::registry::BackendOptions::progress`]
//! for a backend built by the registry). The `cr` CLI draws them as spinners and lines on a
//! terminal; the Python package forwards them to a callback. Events are for display: the
//! result or the error of the call is the authority on what happened.
//!
//! ```
//! use std::sync::{Arc, Mutex};
//! use cr_core::progress::{Event, Progress};
//!
//! let seen = Arc::new(Mutex::new(Vec::new()));
//! let sink = seen.clone();
//! let progress = Progress::new(move |e: &Event| sink.lock().unwrap().push(e.clone()));
//! progress.emit(Event::RegionStarted { region: "us-east1".into(), zones: vec!["us-east1-b".into()] });
//! assert_eq!(seen.lock().unwrap().len(), 1);
//! ```

use std::fmt;
use std::sync::Arc;

use serde::Serialize;

use crate::error::{Error, ErrorKind};

/// One step of a reserve, cancel or cleanup.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Event {
    /// The engine starts on a region; `zones` are the candidates, in the order tried.
    RegionStarted {
        /// Region.
        region: String,
        /// Candidate zones, in order (empty until resolved for a reuse).
        zones: Vec<String>,
    },
    /// A configured zone is left out before anything is tried there.
    ZoneSkipped {
        /// Region.
        region: String,
        /// The zone.
        zone: String,
        /// Why.
        reason: String,
    },
    /// Every demand of the region is being created in `zone` at once.
    ZoneStarted {
        /// Region.
        region: String,
        /// The zone.
        zone: String,
    },
    /// A reservation exists; if `pending`, its creation is still being carried out and the
    /// engine waits for it.
    Created {
        /// The reservation.
        reservation: Step,
        /// Whether the cloud is still creating it.
        pending: bool,
    },
    /// A reservation is usable.
    Ready {
        /// The reservation.
        reservation: Step,
    },
    /// A reservation's creation failed (the zone's outcome follows).
    CreateFailed {
        /// The reservation.
        reservation: Step,
        /// The error's kind.
        kind: ErrorKind,
        /// The cloud's own code, if any.
        code: Option<String>,
        /// The cloud's message (or cr's).
        message: String,
    },
    /// A zone cannot hold every demand; the engine rolls it back and tries the next one
    /// (`next` false: none is left, or the failure ends the search).
    ZoneFailed {
        /// Region.
        region: String,
        /// The zone.
        zone: String,
        /// The instance type that failed.
        instance_type: String,
        /// The error's kind.
        kind: ErrorKind,
        /// The cloud's own code, if any.
        code: Option<String>,
        /// The cloud's message (or cr's).
        message: String,
    },
    /// A reservation the test already holds is not used by this plan and will be released
    /// (reported before the release).
    NotReused {
        /// The reservation.
        reservation: Step,
        /// Why this plan does not use it (count, type, sizing, end time or zone changed).
        reason: String,
        /// Kept until the new set is reserved beside it (the cloud can hold both), then
        /// released; `false`: released before the new set is created.
        kept_until_replaced: bool,
    },
    /// A reservation the test already holds serves a demand of the plan as it is, in the zone
    /// being tried: it is used there instead of a create (the rest of a set an earlier run left
    /// half-made, or one a concurrent run of the test is still creating).
    Held {
        /// The reservation.
        reservation: Step,
    },
    /// An earlier run's complete set is reused in the region.
    Reused {
        /// Region.
        region: String,
        /// Its zone.
        zone: Option<String>,
        /// How many reservations.
        count: usize,
    },
    /// The region is reserved.
    RegionReserved {
        /// Region.
        region: String,
        /// The zone to launch in (`None`: a regional reservation).
        zone: Option<String>,
    },
    /// A reservation is being released (rollback, cancel or cleanup).
    Releasing {
        /// The reservation.
        reservation: Step,
    },
    /// A release finished.
    Released {
        /// The reservation.
        reservation: Step,
        /// `cancelled`, `already_gone` or `failed`.
        outcome: ReleaseOutcome,
    },
}

/// A reservation as events name it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Step {
    /// The cloud's id (or name).
    pub id: String,
    /// Region.
    pub region: String,
    /// Zone (`None`: regional).
    pub zone: Option<String>,
    /// Instance type.
    pub instance_type: String,
    /// Instances.
    pub count: u32,
}

impl Step {
    /// The step naming `r`.
    pub fn of(r: &crate::model::Reservation) -> Step {
        Step {
            id: r.id.0.clone(),
            region: r.region.clone(),
            zone: r.zone.clone(),
            instance_type: r.instance_type.clone(),
            count: r.count,
        }
    }
}

/// How a release ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ReleaseOutcome {
    /// Cancelled now.
    Cancelled,
    /// It was already gone (or its creation had failed).
    AlreadyGone,
    /// Releasing it failed: it is still held (the call's error lists it).
    Failed,
}

impl Event {
    /// The `CreateFailed` event of `reservation` failing with `error`.
    pub fn create_failed(reservation: &crate::model::Reservation, error: &Error) -> Event {
        let (code, message) = code_and_message(error);
        Event::CreateFailed {
            reservation: Step::of(reservation),
            kind: error.kind(),
            code,
            message,
        }
    }

    /// The `ZoneFailed` event of `error` in `zone`.
    pub fn zone_failed(region: &str, zone: &str, instance_type: &str, error: &Error) -> Event {
        let (code, message) = code_and_message(error);
        Event::ZoneFailed {
            region: region.to_string(),
            zone: zone.to_string(),
            instance_type: instance_type.to_string(),
            kind: error.kind(),
            code,
            message,
        }
    }
}

/// The cloud's code (if any) and message of `error` (cr's own text when not the cloud's).
fn code_and_message(error: &Error) -> (Option<String>, String) {
    let cloud = error.cloud_error();
    (
        cloud.map(|c| c.code.clone()).filter(|c| !c.is_empty()),
        cloud.map_or_else(|| error.to_string(), |c| c.message.clone()),
    )
}

/// A progress callback.
type Sink = dyn Fn(&Event) + Send + Sync;

/// Where events go: a shared callback (cheap to clone). The default discards them.
#[derive(Clone, Default)]
pub struct Progress(Option<Arc<Sink>>);

impl Progress {
    /// Events go to `sink`. It is called on the engine's tasks: keep it quick.
    pub fn new(sink: impl Fn(&Event) + Send + Sync + 'static) -> Self {
        Progress(Some(Arc::new(sink)))
    }

    /// Events are discarded.
    pub fn none() -> Self {
        Progress(None)
    }

    /// Whether events go anywhere.
    pub fn is_some(&self) -> bool {
        self.0.is_some()
    }

    /// Reports `event`.
    pub fn emit(&self, event: Event) {
        if let Some(sink) = &self.0 {
            sink(&event);
        }
    }
}

impl fmt::Debug for Progress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.0.is_some() {
            "Progress(sink)"
        } else {
            "Progress(none)"
        })
    }
}
