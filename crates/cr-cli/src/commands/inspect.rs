//! `cr status` and `cr permissions`.

use std::process::ExitCode;

use cr_core::Result;

use crate::args::{Global, Output};
use crate::commands::{Context, open_backend};
use crate::output;

pub async fn status(context: &Context<'_>, explicit: Option<&str>) -> Result<ExitCode> {
    let (params, backend) = open_backend(context, explicit).await?;
    let set = backend.discover(&params).await?;
    let now = jiff::Timestamp::now();
    let warnings = output::unused_warnings(&set, now);
    match context.global.output {
        Output::Json => {
            let mut doc = output::set_json(&set, backend.as_ref());
            doc["warnings"] = serde_json::json!(warnings);
            output::json(&doc);
        }
        Output::Text => output::text(&output::status_text(&set, now)),
    }
    if !context.global.verbosity.quiet {
        for w in &warnings {
            eprintln!("warning: {w}");
        }
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
