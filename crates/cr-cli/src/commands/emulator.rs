//! `cr emulator`: the local emulator of the four cloud APIs, until Ctrl-C.

use std::process::ExitCode;

use cr_core::{Error, Result};
use cr_emulator::{EmulatorOptions, Scenario};

use crate::args::EmulatorArgs;

pub async fn run(args: EmulatorArgs) -> Result<ExitCode> {
    let scenario = match &args.scenario {
        Some(path) => Scenario::from_file(path).map_err(|e| Error::ConfigFile {
            path: path.display().to_string(),
            message: e.to_string(),
        })?,
        None => Scenario::default(),
    };
    cr_emulator::run_until_ctrl_c(EmulatorOptions {
        port: args.port,
        tls_port: args.tls_port,
        scenario,
        write_credentials: args.write_credentials,
    })
    .await
    .map_err(|e| Error::Other(format!("emulator: {e}")))?;
    Ok(ExitCode::SUCCESS)
}
