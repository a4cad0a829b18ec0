//! `cr doctor` and `cr reserve --preflight`: whether reserving can work, checked without
//! creating anything ([`cr_core::preflight`]).

use std::process::ExitCode;

use cr_core::Result;
use cr_core::preflight::PreflightReport;

use super::{Context, open_backend};
use crate::args::Output;
use crate::output;

/// The exit code of a preflight that found reserving cannot work (docs/cli.md).
pub const PREFLIGHT_FAILED: u8 = 6;

/// `cr doctor`: the checklist (or its JSON document); exit 0 only if reserving can work.
pub async fn run(context: &Context<'_>, explicit: Option<&str>) -> Result<ExitCode> {
    let (params, backend) = open_backend(context, explicit).await?;
    let report = backend.preflight(&params).await?;
    context.settle();
    match context.global.output {
        Output::Json => output::json(&output::preflight_json(&report)),
        Output::Text => output::text(&output::preflight_text(&report)),
    }
    Ok(exit_code(&report))
}

/// The exit code of a report: 0 if reserving can work, else [`PREFLIGHT_FAILED`].
pub fn exit_code(report: &PreflightReport) -> ExitCode {
    if report.can_reserve() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(PREFLIGHT_FAILED)
    }
}
