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
    let notes = output::PlanNotes {
        // `plan` works offline for any backend, but says when this cr could not reserve it.
        unavailable: cr_facade::registration(&name).err().map(|e| e.to_string()),
        monitors_left_out: if params.reserve_monitor_nodes {
            Vec::new()
        } else {
            params.n_monitor_nodes.clone()
        },
    };
    match global.output {
        Output::Json => output::json(&output::plan_json(&plan, &notes)),
        Output::Text => output::text(&output::plan_text(&plan, &notes)),
    }
    Ok(ExitCode::SUCCESS)
}
