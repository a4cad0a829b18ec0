//! Command-line arguments.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Reserve cloud compute capacity before a test cluster is provisioned, and release it after.
#[derive(Debug, Parser)]
#[command(name = "cr", version, about)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Command,
}

/// Options every subcommand takes.
#[derive(Debug, Args)]
pub struct Global {
    /// An SCT-style YAML configuration file; repeat to layer files (later files win).
    #[arg(long = "config", short = 'c', global = true, value_name = "FILE")]
    pub config: Vec<PathBuf>,

    /// Output format.
    #[arg(long, global = true, value_enum, default_value_t = Output::Text)]
    pub output: Output,

    /// Send every cloud API call of the selected backend to this base URL (e.g. an emulator).
    #[arg(long, global = true, env = "CR_ENDPOINT", value_name = "URL")]
    pub endpoint: Option<String>,

    /// Extra CA certificates (PEM) to trust, e.g. the emulator's `ca.pem`.
    #[arg(long, global = true, env = "CR_CA_BUNDLE", value_name = "FILE")]
    pub ca_bundle: Option<PathBuf>,

    /// The longest a reserve may take, in seconds, before it gives up and releases everything
    /// (default 1800).
    #[arg(long = "reserve-timeout", global = true, env = "CR_RESERVE_TIMEOUT", value_name = "SECONDS", value_parser = clap::value_parser!(u64).range(1..))]
    pub reserve_timeout: Option<u64>,

    /// Start an embedded emulator of the four clouds (demo scenario, or --emulator-scenario)
    /// and use it: no cloud account needed.
    #[arg(long, global = true)]
    pub emulator: bool,

    /// With --emulator: the emulator scenario file (YAML or JSON).
    #[arg(long = "emulator-scenario", global = true, value_name = "FILE")]
    pub emulator_scenario: Option<PathBuf>,
}

/// Output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Output {
    /// For people.
    Text,
    /// For programs.
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Show what would be reserved, where and until when (offline: no cloud call).
    Plan(BackendArg),
    /// Reserve everything the configuration demands, all or nothing.
    Reserve(BackendArg),
    /// Show the test's reservations as the cloud reports them.
    Status(BackendArg),
    /// Cancel every reservation of the test in the configuration's regions.
    Cancel(BackendArg),
    /// Cancel every reservation tagged with a test id, in every region of the account.
    Cleanup(CleanupArgs),
    /// Print the cloud permissions a backend needs, as a policy document.
    Permissions(PermissionsArgs),
    /// Run the local emulator of the four cloud APIs until interrupted.
    Emulator(EmulatorArgs),
}

#[derive(Debug, Args)]
pub struct BackendArg {
    /// Use this backend instead of the configuration's `cluster_backend`.
    #[arg(long)]
    pub backend: Option<String>,
}

#[derive(Debug, Args)]
pub struct CleanupArgs {
    /// The backend (aws, gce, azure, oci).
    #[arg(long)]
    pub backend: String,
    /// The test id the reservations are tagged with.
    #[arg(long = "test-id", value_parser = non_empty)]
    pub test_id: String,
}

#[derive(Debug, Args)]
pub struct PermissionsArgs {
    /// The backend (aws, gce, azure, oci).
    #[arg(long)]
    pub backend: String,
}

#[derive(Debug, Args)]
pub struct EmulatorArgs {
    /// HTTP port on 127.0.0.1 (0 = any free port).
    #[arg(long, default_value_t = 8787)]
    pub port: u16,
    /// HTTPS port on 127.0.0.1 (0 = any free port).
    #[arg(long = "tls-port", default_value_t = 0)]
    pub tls_port: u16,
    /// Scenario file (YAML or JSON); default: every zone well stocked.
    #[arg(long, value_name = "FILE")]
    pub scenario: Option<PathBuf>,
    /// Write credentials for all four clouds, the CA and `env.sh` into this directory.
    #[arg(long = "write-credentials", value_name = "DIR")]
    pub write_credentials: Option<PathBuf>,
}

/// A value that is not empty: reservations are found by it.
fn non_empty(value: &str) -> Result<String, String> {
    if value.trim().is_empty() {
        Err("must not be empty: reservations are found by their TestId tag".into())
    } else {
        Ok(value.to_string())
    }
}
