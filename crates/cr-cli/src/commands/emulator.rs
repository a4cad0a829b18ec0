//! `cr emulator`: the local emulator of the four cloud APIs, until Ctrl-C or SIGTERM.

use std::process::ExitCode;

use cr_core::{Error, Result};
use cr_emulator::{Emulator, Scenario};
use serde_json::json;

use crate::args::{EmulatorArgs, Output};
use crate::output;

pub async fn run(output: Output, args: &EmulatorArgs) -> Result<ExitCode> {
    let scenario = match &args.scenario {
        Some(path) => Scenario::from_file(path).map_err(|e| Error::ConfigFile {
            path: path.display().to_string(),
            message: e.to_string(),
        })?,
        None => Scenario::default(),
    };
    let handle = Emulator::builder()
        .port(args.port)
        .tls_port(args.tls_port)
        .scenario(scenario)
        .start()
        .await
        .map_err(|e| Error::Other(format!("emulator: {e}")))?;
    let files = match &args.write_credentials {
        Some(dir) => Some(handle.write_credentials(dir).map_err(|e| {
            Error::Other(format!(
                "emulator: cannot write credentials into {}: {e}",
                dir.display()
            ))
        })?),
        None => None,
    };
    let audit = format!("{}/_emulator/state", handle.http_url());
    match output {
        // One line, so a program can read it as soon as the emulator serves. Paths only: the
        // credentials themselves stay in the files.
        Output::Json => output::text(&format!(
            "{}\n",
            json!({
                "schema": output::SCHEMA,
                "ok": true,
                "http": handle.http_url(),
                "https": handle.https_url(),
                "audit": audit,
                "env_sh": files.as_ref().map(|f| f.env_sh.display().to_string()),
                "ca_bundle": files.as_ref().map(|f| f.ca_pem.display().to_string()),
            })
        )),
        Output::Text => {
            let mut text = format!(
                "cr-emulator listening:\n  http:  {}\n  https: {}\n",
                handle.http_url(),
                handle.https_url()
            );
            if let Some(files) = &files {
                text += &format!("  credentials: source {}\n", files.env_sh.display());
            }
            text += &format!("  audit: {audit}\nPress Ctrl-C to stop.\n");
            output::text(&text);
        }
    }
    stopped().await;
    handle.shutdown().await;
    Ok(ExitCode::SUCCESS)
}

/// Ctrl-C, or SIGTERM (how service managers and test harnesses stop a server).
async fn stopped() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}
