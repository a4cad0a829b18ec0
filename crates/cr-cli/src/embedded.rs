//! `--emulator`: an in-process emulator of the four cloud APIs, and the backend options that
//! point a backend at it (endpoint, CA, credentials) without touching the process environment.

use std::path::Path;

use cr_core::registry::BackendOptions;
use cr_core::{Error, Result};
use cr_emulator::{Emulator, EmulatorHandle, Scenario};

/// A running embedded emulator and the credentials it wrote.
pub struct Embedded {
    handle: EmulatorHandle,
    env: std::collections::BTreeMap<String, String>,
    ca_bundle: std::path::PathBuf,
    // Holds the credential files for as long as the emulator runs; removed on drop.
    _dir: tempfile::TempDir,
}

impl Embedded {
    /// Starts the emulator with the scenario in `scenario` (YAML or JSON), or the demo one;
    /// `note`: say so on stderr.
    pub async fn start(scenario: Option<&Path>, note: bool) -> Result<Embedded> {
        let scenario = match scenario {
            Some(path) => Scenario::from_file(path).map_err(|e| Error::ConfigFile {
                path: path.display().to_string(),
                message: e.to_string(),
            })?,
            None => cr_emulator::demo_scenario(),
        };
        let handle = Emulator::start(scenario)
            .await
            .map_err(|e| Error::Other(format!("cannot start the embedded emulator: {e}")))?;
        let dir = tempfile::tempdir()
            .map_err(|e| Error::Other(format!("cannot create a credentials directory: {e}")))?;
        let files = handle
            .write_credentials(dir.path())
            .map_err(|e| Error::Other(format!("cannot write emulator credentials: {e}")))?;
        if note {
            eprintln!(
                "note: using an embedded emulator ({}): nothing reaches a real cloud, and what is reserved vanishes when this command exits",
                handle.https_url()
            );
        }
        Ok(Embedded {
            env: files.env.clone(),
            ca_bundle: files.ca_pem.clone(),
            handle,
            _dir: dir,
        })
    }

    /// Points `options` at the emulator.
    pub fn configure(&self, options: &mut BackendOptions) {
        options.endpoint = Some(self.handle.https_url().to_string());
        options.ca_bundle = Some(self.ca_bundle.clone());
        options.env.extend(self.env.clone());
    }

    /// Stops the emulator.
    pub async fn shutdown(self) {
        self.handle.shutdown().await;
    }
}
