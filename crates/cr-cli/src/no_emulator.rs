//! `--emulator` in a `cr` built without the emulator (cargo feature `emulator` off): every use
//! fails with an error saying how to get it.

use std::path::Path;

use cr_core::registry::BackendOptions;
use cr_core::{Error, Result};

/// Never constructed: this build has no emulator.
#[derive(Debug)]
pub enum Embedded {}

impl Embedded {
    /// Fails: this build has no emulator.
    pub async fn start(_scenario: Option<&Path>, _note: bool) -> Result<Embedded> {
        Err(not_built())
    }

    /// Unreachable: no `Embedded` exists.
    pub fn configure(&self, _options: &mut BackendOptions) {
        match *self {}
    }

    /// Unreachable: no `Embedded` exists.
    pub async fn shutdown(self) {
        match self {}
    }
}

/// The error of `--emulator` / `cr emulator` in this build.
pub fn not_built() -> Error {
    Error::UnknownBackend(
        "this cr was built without the emulator (cargo feature `emulator` of cr-cli, on by default): rebuild with it, or run `cr emulator` from a default build".into(),
    )
}
