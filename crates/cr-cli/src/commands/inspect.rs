//! `cr status` and `cr permissions`.

use std::process::ExitCode;

use cr_core::Result;

use crate::args::{Global, Output};
use crate::commands::{Context, open_backend};
use crate::output;

pub async fn status(context: &Context<'_>, explicit: Option<&str>) -> Result<ExitCode> {
    let (params, backend) = open_backend(context, explicit).await?;
    let set = backend.discover(&params).await?;
    match context.global.output {
        Output::Json => output::json(&output::set_json(&set, backend.as_ref())),
        Output::Text => output::text(&output::status_text(&set)),
    }
    Ok(ExitCode::SUCCESS)
}

pub fn permissions(global: &Global, backend: &str) -> Result<ExitCode> {
    let registration = cr_facade::registration(backend)?;
    let policy = (registration.permissions)()?;
    match global.output {
        // The document, ready to apply (the default: it is what the cloud's tools take).
        Output::Json => output::json(&policy),
        Output::Text => output::text(&output::permissions_text(registration.name, &policy)),
    }
    Ok(ExitCode::SUCCESS)
}
