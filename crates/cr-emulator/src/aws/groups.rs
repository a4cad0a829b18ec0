//! Capacity Reservation resource groups (`AWS::EC2::CapacityReservationPool` groups of AWS
//! Resource Groups) as far as `RunInstances` needs them: a launch targeting
//! `CapacityReservationResourceGroupArn` may use any member reservation. The emulator does not
//! serve the Resource Groups API; groups are made with the control endpoint
//! `POST /_emulator/aws/resource-groups` `{"region", "name", "capacity_reservation_ids"}`.

use axum::Json;
use axum::extract::State as AxState;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::Ctx;
use super::xml::Ec2Error;
use crate::server::AppState;

/// One group.
#[derive(Debug, Clone, Deserialize)]
pub struct ResourceGroup {
    /// Region of the group.
    pub region: String,
    /// Group name (the ARN's `group/{name}`).
    pub name: String,
    /// Member reservations, in the order launches try them.
    pub capacity_reservation_ids: Vec<String>,
}

/// `POST /_emulator/aws/resource-groups`.
pub(super) async fn control_add(
    AxState(app): AxState<AppState>,
    Json(group): Json<ResourceGroup>,
) -> Response {
    let mut groups = app.aws.groups();
    groups.retain(|g| !(g.region == group.region && g.name == group.name));
    groups.push(group);
    StatusCode::NO_CONTENT.into_response()
}

/// The member reservations of the group `arn`
/// (`arn:aws:resource-groups:{region}:{account}:group/{name}`).
pub(super) fn members(ctx: &Ctx<'_>, arn: &str) -> Result<Vec<String>, Ec2Error> {
    let malformed = || {
        Ec2Error::invalid(format!(
            "Value ({arn}) for parameter CapacityReservationResourceGroupArn is invalid."
        ))
    };
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    let ["arn", "aws", "resource-groups", region, account, resource] = parts.as_slice() else {
        return Err(malformed());
    };
    let name = resource.strip_prefix("group/").ok_or_else(malformed)?;
    let found = (*region == ctx.region && *account == ctx.app.creds.aws.account_id)
        .then(|| {
            ctx.app
                .aws
                .groups()
                .iter()
                .find(|g| g.region == *region && g.name == name)
                .map(|g| g.capacity_reservation_ids.clone())
        })
        .flatten();
    found.ok_or_else(|| {
        Ec2Error::invalid(format!(
            "The resource group {arn} does not exist or is not a Capacity Reservation group."
        ))
    })
}
