//! The ARM resources the emulator keeps (resource groups, capacity reservation groups,
//! capacity reservations, long-running operations) and their JSON as the 2025-04-01 spec
//! and its examples show it.

use jiff::Timestamp;
use serde_json::{Map, Value, json};

use super::error::ArmError;

/// Resource type of a group.
pub const GROUP_TYPE: &str = "Microsoft.Compute/capacityReservationGroups";
/// Resource type of a reservation.
pub const RESERVATION_TYPE: &str =
    "Microsoft.Compute/capacityReservationGroups/capacityReservations";

/// ARM timestamps: seven fractional digits and an explicit offset.
pub fn arm_time(t: Timestamp) -> String {
    t.strftime("%Y-%m-%dT%H:%M:%S%.7f+00:00").to_string()
}

/// A resource group.
#[derive(Debug, Clone)]
pub struct ResourceGroup {
    /// Name as first created.
    pub name: String,
    /// Normalised location.
    pub location: String,
    /// Tags.
    pub tags: Map<String, Value>,
}

impl ResourceGroup {
    /// `GET /subscriptions/{sub}/resourcegroups/{rg}` body.
    pub fn to_json(&self, sub: &str, state: &str) -> Value {
        json!({
            "id": format!("/subscriptions/{sub}/resourceGroups/{}", self.name),
            "name": self.name,
            "type": "Microsoft.Resources/resourceGroups",
            "location": self.location,
            "tags": self.tags,
            "properties": {"provisioningState": state},
        })
    }
}

/// A capacity reservation group.
#[derive(Debug, Clone)]
pub struct Group {
    /// Resource group name as first created.
    pub rg: String,
    /// Group name as first created.
    pub name: String,
    /// Normalised location.
    pub location: String,
    /// Zones the group spans (empty: regional).
    pub zones: Vec<String>,
    /// Tags.
    pub tags: Map<String, Value>,
    /// `properties.sharingProfile`, kept as sent.
    pub sharing_profile: Option<Value>,
    /// `properties.reservationType` (`Targeted`/`Block`), if sent.
    pub reservation_type: Option<String>,
}

/// ARM id of a group.
pub fn group_id(sub: &str, rg: &str, name: &str) -> String {
    format!("/subscriptions/{sub}/resourceGroups/{rg}/providers/{GROUP_TYPE}/{name}")
}

/// ARM id of a reservation.
pub fn reservation_id(sub: &str, rg: &str, group: &str, name: &str) -> String {
    format!("{}/capacityReservations/{name}", group_id(sub, rg, group))
}

/// `properties.provisioningState` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Prov {
    /// Create accepted, not finished.
    Creating,
    /// Capacity change accepted, not finished.
    Updating,
    /// Delete accepted, not finished.
    Deleting,
    /// Done.
    Succeeded,
    /// The create failed; the resource stays until deleted.
    Failed,
}

impl Prov {
    /// Wire spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Prov::Creating => "Creating",
            Prov::Updating => "Updating",
            Prov::Deleting => "Deleting",
            Prov::Succeeded => "Succeeded",
            Prov::Failed => "Failed",
        }
    }

    /// Whether an operation is under way.
    pub fn is_transitional(self) -> bool {
        matches!(self, Prov::Creating | Prov::Updating | Prov::Deleting)
    }
}

/// What happens when a reservation's long-running operation comes due.
#[derive(Debug, Clone)]
pub enum Pending {
    /// Creation finishes (`error`: it fails, holding nothing).
    Create {
        /// Due time.
        at: Timestamp,
        /// Why it fails, if it does.
        error: Option<ArmError>,
    },
    /// `sku.capacity` changes to `capacity` (an increase was taken from the world already).
    Update {
        /// Due time.
        at: Timestamp,
        /// New capacity.
        capacity: u32,
        /// Why it fails, if it does (the reservation then keeps its old capacity).
        error: Option<ArmError>,
    },
    /// The reservation goes away (`error`: the delete fails and it stays).
    Delete {
        /// Due time.
        at: Timestamp,
        /// Why it fails, if it does.
        error: Option<ArmError>,
    },
}

impl Pending {
    /// Due time.
    pub fn at(&self) -> Timestamp {
        match self {
            Pending::Create { at, .. }
            | Pending::Update { at, .. }
            | Pending::Delete { at, .. } => *at,
        }
    }
}

/// A capacity reservation.
#[derive(Debug, Clone)]
pub struct Reservation {
    /// ARM id (names as first created); also the audit id.
    pub id: String,
    /// Group name as first created.
    pub group: String,
    /// Name as first created.
    pub name: String,
    /// Normalised location.
    pub location: String,
    /// VM size.
    pub sku_name: String,
    /// `sku.tier`, if sent.
    pub sku_tier: Option<String>,
    /// Reserved instances.
    pub capacity: u32,
    /// Zone, or `None` for a regional reservation.
    pub zone: Option<String>,
    /// Tags.
    pub tags: Map<String, Value>,
    /// `properties.reservationId`.
    pub reservation_id: String,
    /// `properties.timeCreated`.
    pub time_created: Timestamp,
    /// `properties.provisioningTime`.
    pub provisioning_time: Timestamp,
    /// `properties.scheduleProfile`, kept as sent.
    pub schedule_profile: Option<Value>,
    /// Provisioning state.
    pub state: Prov,
    /// Instances this reservation holds in the world's capacity pool.
    pub held: u32,
    /// The operation under way, if any.
    pub pending: Option<Pending>,
    /// Id of the operation under way (for answering a repeated request with it).
    pub op_id: Option<String>,
}

impl Reservation {
    /// The zone as the world's capacity pools name it (`""` for regional).
    pub fn pool_zone(&self) -> &str {
        self.zone.as_deref().unwrap_or("")
    }

    /// The resource JSON; `instance_view` adds `properties.instanceView`.
    pub fn to_json(&self, instance_view: bool) -> Value {
        let mut sku = json!({"name": self.sku_name, "capacity": self.capacity});
        if let Some(t) = &self.sku_tier {
            sku["tier"] = json!(t);
        }
        let mut props = json!({
            "reservationId": self.reservation_id,
            "platformFaultDomainCount": if self.zone.is_some() { 1 } else { 3 },
            "virtualMachinesAssociated": [],
            "provisioningTime": arm_time(self.provisioning_time),
            "provisioningState": self.state.as_str(),
            "timeCreated": arm_time(self.time_created),
        });
        if let Some(s) = &self.schedule_profile {
            props["scheduleProfile"] = s.clone();
        }
        if instance_view {
            props["instanceView"] = self.instance_view();
        }
        let mut v = json!({
            "name": self.name,
            "id": self.id,
            "type": RESERVATION_TYPE,
            "location": self.location,
            "tags": self.tags,
            "sku": sku,
            "properties": props,
        });
        if let Some(z) = &self.zone {
            v["zones"] = json!([z]);
        }
        v
    }

    /// `properties.instanceView`.
    pub fn instance_view(&self) -> Value {
        let (code, display) = match self.state {
            Prov::Succeeded => ("ProvisioningState/succeeded", "Provisioning succeeded"),
            Prov::Failed => ("ProvisioningState/failed", "Provisioning failed"),
            Prov::Creating => ("ProvisioningState/creating", "Creating"),
            Prov::Updating => ("ProvisioningState/updating", "Updating"),
            Prov::Deleting => ("ProvisioningState/deleting", "Deleting"),
        };
        json!({
            "utilizationInfo": {
                "currentCapacity": self.held,
                "virtualMachinesAllocated": [],
            },
            "statuses": [{
                "code": code,
                "level": if self.state == Prov::Failed { "Error" } else { "Info" },
                "displayStatus": display,
                "time": arm_time(self.provisioning_time),
            }],
        })
    }
}

impl Group {
    /// The resource JSON. `members` are the reservations of the group (for
    /// `properties.capacityReservations` and the instance view).
    pub fn to_json(&self, sub: &str, members: &[&Reservation], instance_view: bool) -> Value {
        let mut props = json!({
            "capacityReservations": members
                .iter()
                .map(|r| json!({"id": r.id}))
                .collect::<Vec<_>>(),
            "virtualMachinesAssociated": [],
        });
        if let Some(s) = &self.sharing_profile {
            props["sharingProfile"] = s.clone();
        }
        if let Some(t) = &self.reservation_type {
            props["reservationType"] = json!(t);
        }
        if instance_view {
            let shared: Vec<Value> = self
                .sharing_profile
                .as_ref()
                .and_then(|s| s.get("subscriptionIds"))
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            props["instanceView"] = json!({
                "capacityReservations": members
                    .iter()
                    .map(|r| {
                        let mut iv = r.instance_view();
                        iv["name"] = json!(r.name);
                        iv
                    })
                    .collect::<Vec<_>>(),
                "sharedSubscriptionIds": shared,
            });
        }
        let mut v = json!({
            "name": self.name,
            "id": group_id(sub, &self.rg, &self.name),
            "type": GROUP_TYPE,
            "location": self.location,
            "tags": self.tags,
            "properties": props,
        });
        if !self.zones.is_empty() {
            v["zones"] = json!(self.zones);
        }
        v
    }
}

/// The kind of a long-running operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpKind {
    /// PUT/PATCH: a final GET (or the `Location` answer) returns the resource.
    Put,
    /// DELETE: nothing to return.
    Delete,
}

/// Key of a reservation: lower-cased resource group, group and name.
pub type ResKey = (String, String, String);

/// A long-running operation, as the status endpoint reports it.
#[derive(Debug, Clone)]
pub struct Operation {
    /// Operation id (`name` in the status body).
    pub id: String,
    /// Location in the status URL.
    pub location: String,
    /// PUT or DELETE.
    pub kind: OpKind,
    /// The reservation it concerns (none for a resource-group delete).
    pub key: Option<ResKey>,
    /// When it started.
    pub started: Timestamp,
    /// When it finishes.
    pub at: Timestamp,
    /// How it ends.
    pub error: Option<ArmError>,
}

impl Operation {
    /// Whether it has finished at `now`.
    pub fn done(&self, now: Timestamp) -> bool {
        now >= self.at
    }

    /// The `Azure-AsyncOperation` status body at `now`.
    pub fn status_json(&self, now: Timestamp) -> Value {
        let mut v = json!({
            "startTime": arm_time(self.started),
            "status": "InProgress",
            "name": self.id,
        });
        if self.done(now) {
            v["endTime"] = json!(arm_time(self.at));
            match &self.error {
                None => v["status"] = json!("Succeeded"),
                Some(e) => {
                    v["status"] = json!("Failed");
                    v["error"] = e.error_object();
                }
            }
        }
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reservation() -> Reservation {
        let t = Timestamp::from_second(1_700_000_000).unwrap();
        Reservation {
            id: reservation_id("sub", "RG", "g", "r"),
            group: "g".into(),
            name: "r".into(),
            location: "eastus".into(),
            sku_name: "Standard_D2s_v5".into(),
            sku_tier: None,
            capacity: 4,
            zone: Some("1".into()),
            tags: Map::new(),
            reservation_id: "id".into(),
            time_created: t,
            provisioning_time: t,
            schedule_profile: None,
            state: Prov::Creating,
            held: 4,
            pending: None,
            op_id: None,
        }
    }

    #[test]
    fn reservation_json_matches_the_spec_shape() {
        let v = reservation().to_json(true);
        assert_eq!(
            v["id"],
            "/subscriptions/sub/resourceGroups/RG/providers/Microsoft.Compute/capacityReservationGroups/g/capacityReservations/r"
        );
        assert_eq!(v["sku"]["capacity"], 4);
        assert_eq!(v["zones"][0], "1");
        assert_eq!(v["properties"]["provisioningState"], "Creating");
        assert_eq!(
            v["properties"]["timeCreated"],
            "2023-11-14T22:13:20.0000000+00:00"
        );
        assert_eq!(
            v["properties"]["instanceView"]["utilizationInfo"]["currentCapacity"],
            4
        );
    }

    #[test]
    fn operation_status_turns_terminal_when_due() {
        let t = Timestamp::from_second(1_700_000_000).unwrap();
        let op = Operation {
            id: "op".into(),
            location: "eastus".into(),
            kind: OpKind::Put,
            key: None,
            started: t,
            at: t + jiff::SignedDuration::from_secs(5),
            error: Some(ArmError::internal_execution()),
        };
        assert_eq!(op.status_json(t)["status"], "InProgress");
        let done = op.status_json(t + jiff::SignedDuration::from_secs(5));
        assert_eq!(done["status"], "Failed");
        assert_eq!(done["error"]["code"], "InternalExecutionError");
    }
}
