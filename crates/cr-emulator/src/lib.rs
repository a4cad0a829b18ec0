//! cr-emulator: one local server that speaks the EC2, Compute Engine, Azure Resource Manager
//! and OCI capacity-reservation APIs, with a capacity model, fault injection and an audit.
//!
//! It is written from the clouds' wire specifications (never from cr's own clients), so a
//! misunderstanding in a client cannot be mirrored here and pass unnoticed. Every listener
//! serves all four protocols, told apart by path and body: EC2 Query on `POST /`, Compute
//! Engine on `/compute/v1/...` (OAuth2 token endpoint `/token`), ARM on `/subscriptions/...`
//! (token endpoint `/{tenant}/oauth2/v2.0/token`), OCI on `/20160918/...`, and the control
//! API on `/_emulator/...`. Both a plain HTTP and an HTTPS listener are bound on 127.0.0.1;
//! the HTTPS certificate is signed by a CA generated at start ([`EmulatorHandle::ca_pem`]).
//!
//! ```no_run
//! # async fn demo() -> Result<(), cr_emulator::Error> {
//! let emulator = cr_emulator::Emulator::start(cr_emulator::Scenario::demo()).await?;
//! println!("EC2 endpoint: {}", emulator.https_url());
//! let audit = emulator.state();
//! assert!(audit.reservations.is_empty());
//! emulator.shutdown().await;
//! # Ok(()) }
//! ```
//!
//! Layout: [`scenario`] (the YAML/JSON scenario), [`defaults`] (regions and zones),
//! [`world`] (capacity, audit, faults, clock shared by all clouds), [`iam`] (the permission
//! each operation needs), [`server`] (router,
//! listeners, how a cloud module plugs in), [`tls`], [`credentials`], [`control`], and one
//! folder per cloud.

#![deny(missing_docs)]

pub mod aws;
pub mod azure;
pub mod control;
pub mod credentials;
pub mod defaults;
pub mod garbage;
pub mod gce;
pub mod iam;
pub mod oci;
pub mod quota;
pub mod ratelimit;
pub mod scenario;
pub mod server;
pub mod tls;
pub mod usage;
pub mod world;

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;

pub use credentials::{CredentialFiles, Credentials};
pub use scenario::{Fault, FaultKind, GarbageForm, Scenario, ScenarioError, demo_scenario};
pub use server::AppState;
pub use world::{AuditRecord, AuditState, CloudKind, EmulatorState, RequestRecord, World};

/// Starting the emulator failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A listener could not be bound.
    #[error("cannot bind 127.0.0.1:{port}: {source}")]
    Bind {
        /// The port asked for.
        port: u16,
        /// The cause.
        source: std::io::Error,
    },
    /// Certificate or TLS configuration failure.
    #[error(transparent)]
    Tls(#[from] tls::TlsError),
    /// Key generation failure.
    #[error(transparent)]
    Keys(#[from] credentials::KeyGenError),
    /// The scenario file is unusable.
    #[error(transparent)]
    Scenario(#[from] ScenarioError),
    /// Writing credential files failed.
    #[error("cannot write credentials: {0}")]
    Io(#[from] std::io::Error),
}

/// Entry point.
#[derive(Debug)]
pub struct Emulator;

impl Emulator {
    /// Starts an emulator on two ephemeral ports (HTTP and HTTPS) of 127.0.0.1.
    pub async fn start(scenario: Scenario) -> Result<EmulatorHandle, Error> {
        Emulator::builder().scenario(scenario).start().await
    }

    /// Options beyond the scenario (fixed ports).
    pub fn builder() -> EmulatorBuilder {
        EmulatorBuilder::default()
    }
}

/// What an emulator generates at start: its TLS CA and server certificate, and the
/// credentials it accepts (two RSA-2048 keys among them). Generating takes tens of
/// milliseconds of CPU; a process that starts many short-lived emulators (the fault soak
/// starts one per cycle) generates one identity and hands it to each
/// ([`EmulatorBuilder::identity`]). Emulators sharing an identity still share nothing else:
/// each has its own world, audit and issued tokens.
#[derive(Debug, Clone)]
pub struct EmulatorIdentity {
    tls: Arc<tls::TlsIdentity>,
    creds: Arc<Credentials>,
}

impl EmulatorIdentity {
    /// Generates a fresh CA, server certificate and credentials.
    pub fn generate() -> Result<EmulatorIdentity, Error> {
        let tls = tls::TlsIdentity::generate()?;
        let creds = Credentials::generate(tls.ca_pem.clone())?;
        Ok(EmulatorIdentity {
            tls: Arc::new(tls),
            creds: Arc::new(creds),
        })
    }
}

/// Configures an emulator before starting it.
#[derive(Debug, Clone, Default)]
pub struct EmulatorBuilder {
    port: u16,
    tls_port: u16,
    scenario: Scenario,
    identity: Option<EmulatorIdentity>,
}

impl EmulatorBuilder {
    /// Plain-HTTP port (0, the default, picks a free one).
    pub fn port(mut self, port: u16) -> Self {
        self.port = port;
        self
    }

    /// HTTPS port (0, the default, picks a free one).
    pub fn tls_port(mut self, port: u16) -> Self {
        self.tls_port = port;
        self
    }

    /// The scenario to run.
    pub fn scenario(mut self, scenario: Scenario) -> Self {
        self.scenario = scenario;
        self
    }

    /// Serves with `identity` (CA, certificate, credentials) instead of generating one.
    pub fn identity(mut self, identity: EmulatorIdentity) -> Self {
        self.identity = Some(identity);
        self
    }

    /// Generates the CA and keys (unless given an [`EmulatorIdentity`]), binds both listeners
    /// and starts serving.
    pub async fn start(self) -> Result<EmulatorHandle, Error> {
        let identity = match self.identity {
            Some(identity) => identity,
            None => EmulatorIdentity::generate()?,
        };
        let server_config = identity.tls.server_config()?;
        let world = Arc::new(World::new(self.scenario));
        let app = AppState::new(world, identity.creds.clone());

        let (http_listener, http_addr) =
            server::bind(self.port)
                .await
                .map_err(|source| Error::Bind {
                    port: self.port,
                    source,
                })?;
        let (https_listener, https_addr) =
            server::bind(self.tls_port)
                .await
                .map_err(|source| Error::Bind {
                    port: self.tls_port,
                    source,
                })?;
        let http_url = format!("http://{http_addr}");
        let https_url = format!("https://{https_addr}");
        let _ = app.urls.set((http_url.clone(), https_url.clone()));

        let router = server::router(app.clone());
        let (stop_tx, stop_rx) = watch::channel(false);
        let mut tasks = vec![
            tokio::spawn(server::serve(
                http_listener,
                None,
                router.clone(),
                stop_rx.clone(),
            )),
            tokio::spawn(server::serve(
                https_listener,
                Some(tokio_rustls::TlsAcceptor::from(server_config)),
                router,
                stop_rx.clone(),
            )),
        ];
        // Expiry and long-running operations advance even when nobody asks.
        let sweeper = app.clone();
        let mut sweep_stop = stop_rx;
        tasks.push(tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_millis(200));
            loop {
                tokio::select! {
                    _ = tick.tick() => sweeper.sweep(),
                    _ = sweep_stop.changed() => break,
                }
            }
        }));
        Ok(EmulatorHandle {
            app,
            identity,
            http_addr,
            https_addr,
            http_url,
            https_url,
            stop: stop_tx,
            tasks,
        })
    }
}

/// A running emulator. Dropping it without [`EmulatorHandle::shutdown`] also stops the
/// listeners (their tasks see the stop channel close).
#[derive(Debug)]
pub struct EmulatorHandle {
    app: AppState,
    identity: EmulatorIdentity,
    http_addr: SocketAddr,
    https_addr: SocketAddr,
    http_url: String,
    https_url: String,
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

impl EmulatorHandle {
    /// `http://127.0.0.1:PORT`.
    pub fn http_url(&self) -> &str {
        &self.http_url
    }

    /// `https://127.0.0.1:PORT` (trust [`EmulatorHandle::ca_pem`]).
    pub fn https_url(&self) -> &str {
        &self.https_url
    }

    /// Address of the plain-HTTP listener.
    pub fn http_addr(&self) -> SocketAddr {
        self.http_addr
    }

    /// Address of the HTTPS listener.
    pub fn https_addr(&self) -> SocketAddr {
        self.https_addr
    }

    /// The CA that signed the HTTPS certificate, PEM.
    pub fn ca_pem(&self) -> &str {
        &self.app.creds.ca_pem
    }

    /// The credentials every API accepts.
    pub fn credentials(&self) -> &Credentials {
        &self.app.creds
    }

    /// Its CA, certificate and credentials, to start more emulators with
    /// ([`EmulatorBuilder::identity`]).
    pub fn identity(&self) -> EmulatorIdentity {
        self.identity.clone()
    }

    /// The audit (same as `GET /_emulator/state`).
    pub fn state(&self) -> EmulatorState {
        self.app.sweep();
        self.app.world.state()
    }

    /// The request log (same as `GET /_emulator/requests`).
    pub fn requests(&self) -> Vec<RequestRecord> {
        self.app.world.requests()
    }

    /// Replaces the scenario.
    pub fn set_scenario(&self, scenario: Scenario) {
        self.app.world.set_scenario(scenario);
    }

    /// Forgets every reservation, operation, log entry and clock offset.
    pub fn reset(&self) {
        self.app.reset();
    }

    /// Moves the world clock forward (expiry, long-running operations) and applies what
    /// became due.
    pub fn advance_clock(&self, by: Duration) {
        self.app.world.advance(by);
        self.app.sweep();
    }

    /// Sets how far the clouds' clock is ahead of (+) or behind (-) the client's, in seconds
    /// (the scenario's `clock_skew_s`).
    pub fn set_clock_skew(&self, seconds: i64) {
        self.app.world.set_clock_skew(seconds);
    }

    /// The shared world (capacity, audit, faults, clock).
    pub fn world(&self) -> &Arc<World> {
        &self.app.world
    }

    /// The state handlers see.
    pub fn app_state(&self) -> &AppState {
        &self.app
    }

    /// Writes credentials for all four clouds and `env.sh` into `dir`.
    pub fn write_credentials(&self, dir: impl AsRef<Path>) -> std::io::Result<CredentialFiles> {
        credentials::write_credentials(
            &self.app.creds,
            dir.as_ref(),
            &self.https_url,
            &self.http_url,
        )
    }

    /// Stops both listeners, aborting open connections, and waits for them.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        for task in self.tasks {
            let _ = task.await;
        }
    }
}
