//! `cr reserve`, `cr cancel` and `cr cleanup`.

use std::process::ExitCode;

use cr_core::Result;

use crate::args::{Global, Output};
use crate::commands::open_backend;
use crate::embedded::Embedded;
use crate::output;

pub async fn reserve(
    global: &Global,
    embedded: Option<&Embedded>,
    explicit: Option<&str>,
) -> Result<ExitCode> {
    let (params, backend) = open_backend(global, embedded, explicit).await?;
    let set = backend.reserve(&params).await?;
    match global.output {
        Output::Json => output::json(&set),
        Output::Text => output::text(&output::set_text(&set)),
    }
    Ok(ExitCode::SUCCESS)
}

pub async fn cancel(
    global: &Global,
    embedded: Option<&Embedded>,
    explicit: Option<&str>,
) -> Result<ExitCode> {
    let (params, backend) = open_backend(global, embedded, explicit).await?;
    let report = backend.cancel(&params).await?;
    output::report(global.output, &report)
}

pub async fn cleanup(
    global: &Global,
    embedded: Option<&Embedded>,
    backend_name: &str,
    test_id: &str,
) -> Result<ExitCode> {
    // Cleanup needs no configuration, but settings in --config files still apply.
    let (_, backend) = open_backend(global, embedded, Some(backend_name)).await?;
    let report = backend.cancel_all_regions(test_id).await?;
    output::report(global.output, &report)
}
