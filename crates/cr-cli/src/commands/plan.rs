//! `cr plan`: the capacity plan, offline.

use std::process::ExitCode;

use cr_core::{CapacityPlan, Result};
use jiff::Timestamp;

use crate::args::{Global, Output};
use crate::commands::{backend_name, cloud_of, load_params};
use crate::output;

pub fn run(global: &Global, explicit: Option<&str>) -> Result<ExitCode> {
    let params = load_params(global)?;
    let name = backend_name(&params, explicit)?;
    let cloud = cloud_of(&name)?;
    let plan = CapacityPlan::build(&params, cloud, Timestamp::now())?;
    match global.output {
        Output::Json => output::json(&output::plan_json(&plan)),
        Output::Text => output::text(&output::plan_text(&plan)),
    }
    Ok(ExitCode::SUCCESS)
}
