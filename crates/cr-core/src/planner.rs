//! The planner: counting rules and zone candidates (see ../shared/sct-configs/README.md).

use jiff::Timestamp;

use crate::cloud::Cloud;
use crate::config::Params;
use crate::error::Result;
use crate::plan::CapacityPlan;

pub(crate) fn build(params: &Params, backend: Cloud, now: Timestamp) -> Result<CapacityPlan> {
    let _ = (params, backend, now);
    todo!("config helper")
}
