//! `cr`: plan, reserve, inspect and release cloud capacity reservations from SCT-style
//! configuration files.
//!
//! Exit codes: 0 ok, 2 invalid configuration or usage, 3 no capacity or quota anywhere,
//! 4 unauthorized, 5 a rollback or cancel failed (reservations are still held: the message
//! lists them), 6 the preflight found that reserving cannot work (`cr doctor`,
//! `cr reserve --preflight`), 130 interrupted by a signal (everything released), 1 anything
//! else.

mod args;
mod commands;
#[cfg(feature = "emulator")]
mod embedded;
#[cfg(not(feature = "emulator"))]
#[path = "no_emulator.rs"]
mod embedded;
mod output;
mod progress;

use std::process::ExitCode;

use clap::Parser;
use cr_core::{Error, ErrorKind};

use crate::args::Cli;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let json_output = cli.output() == args::Output::Json;
    let (global, command) = match cli.resolve() {
        Ok(resolved) => resolved,
        // Reported as clap reports every other usage error (exit 2).
        Err(usage) => <Cli as clap::CommandFactory>::command()
            .error(clap::error::ErrorKind::ArgumentConflict, usage)
            .exit(),
    };
    let show_progress = progress::shown(global.verbosity);
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("CR_LOG").unwrap_or_else(|_| {
                tracing_subscriber::EnvFilter::new(progress::log_filter(
                    global.verbosity,
                    show_progress,
                ))
            }),
        )
        .with_writer(std::io::stderr)
        .with_ansi(output::stderr_colour())
        .init();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    match runtime.block_on(commands::run(global, command)) {
        Ok(code) => code,
        Err(e) => fail(&e, json_output),
    }
}

/// Reports `e` on stderr (and as a document on stdout under `--output json`).
fn fail(e: &Error, json_output: bool) -> ExitCode {
    let code = exit_code(e);
    eprintln!("error: {e}");
    // Scripts get the failure as a document too (docs/json.md), on stdout.
    if json_output {
        output::json(&output::error_json(e, code));
    }
    ExitCode::from(code)
}

/// The documented exit code of an error.
pub(crate) fn exit_code(e: &Error) -> u8 {
    match e.kind() {
        ErrorKind::InvalidConfig | ErrorKind::Unsupported => 2,
        ErrorKind::CapacityUnavailable | ErrorKind::NotOffered | ErrorKind::QuotaExceeded => 3,
        ErrorKind::Unauthorized | ErrorKind::ClockSkew => 4,
        ErrorKind::RollbackFailed => 5,
        ErrorKind::Interrupted => 130,
        _ => 1,
    }
}
