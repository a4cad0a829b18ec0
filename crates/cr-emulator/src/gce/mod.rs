//! Compute Engine API: placeholder so the crate compiles; the real module replaces this file.

use axum::Router;

use crate::server::AppState;
use crate::world::World;

/// This cloud's resources.
#[derive(Debug, Default)]
pub struct State {}

impl State {
    /// Empty state.
    pub fn new() -> State {
        State {}
    }

    /// Forgets every resource.
    pub fn reset(&self) {}

    /// Applies time-driven transitions (none yet).
    pub fn sweep(&self, _world: &World) {}
}

/// This cloud's routes (none yet).
pub fn routes() -> Router<AppState> {
    Router::new()
}
