//! `cr status` and `cr permissions`.

use std::process::ExitCode;

use cr_core::Result;

use crate::args::{Global, Output};
use crate::commands::open_backend;
use crate::embedded::Embedded;
use crate::output;

pub async fn status(
    global: &Global,
    embedded: Option<&Embedded>,
    explicit: Option<&str>,
) -> Result<ExitCode> {
    let (params, backend) = open_backend(global, embedded, explicit).await?;
    let set = backend.discover(&params).await?;
    match global.output {
        Output::Json => output::json(&set),
        Output::Text => output::text(&output::status_text(&set)),
    }
    Ok(ExitCode::SUCCESS)
}

pub fn permissions(global: &Global, backend: &str) -> Result<ExitCode> {
    let registration = cr_facade::registration(backend)?;
    let policy = (registration.permissions)()?;
    // A policy document is JSON in either output mode: it is meant to be applied as is.
    let _ = global;
    output::json(&policy);
    Ok(ExitCode::SUCCESS)
}
