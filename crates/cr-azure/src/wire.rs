//! The ARM resources cr reads and writes, as typed serde models (`Microsoft.Compute`
//! capacity reservation groups and reservations, resource groups, Resource SKUs, locations,
//! operation status, list pages). Unknown fields are ignored; what cr writes is exactly what
//! the specification lists as writable.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::error::ArmErrorBody;

/// `{"id": ...}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct SubResource {
    #[serde(default)]
    pub(crate) id: String,
}

/// One page of a list: `{"value": [...], "nextLink": ...}`.
#[derive(Debug, Deserialize)]
#[serde(bound = "T: serde::de::DeserializeOwned")]
pub(crate) struct Page<T> {
    #[serde(default = "Vec::new")]
    pub(crate) value: Vec<T>,
    #[serde(default, rename = "nextLink")]
    pub(crate) next_link: Option<String>,
}

/// A resource group.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct ResourceGroup {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) name: Option<String>,
    pub(crate) location: String,
    #[serde(default)]
    pub(crate) tags: BTreeMap<String, String>,
}

/// `properties` of a capacity reservation group.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct GroupProperties {
    #[serde(default, skip_serializing)]
    pub(crate) virtual_machines_associated: Vec<SubResource>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) reservation_type: Option<String>,
}

/// A capacity reservation group.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct Group {
    #[serde(default, skip_serializing)]
    pub(crate) id: String,
    pub(crate) location: String,
    #[serde(default)]
    pub(crate) tags: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) zones: Vec<String>,
    #[serde(default)]
    pub(crate) properties: GroupProperties,
}

/// `sku` of a reservation.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Sku {
    pub(crate) name: String,
    #[serde(default)]
    pub(crate) capacity: i64,
}

/// `properties.instanceView.utilizationInfo`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct UtilizationInfo {
    #[serde(default)]
    pub(crate) virtual_machines_allocated: Vec<SubResource>,
}

/// `properties.instanceView`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct InstanceView {
    #[serde(default)]
    pub(crate) utilization_info: Option<UtilizationInfo>,
}

/// `properties` of a reservation (read-only, except nothing cr writes).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ReservationProperties {
    #[serde(default)]
    pub(crate) provisioning_state: Option<String>,
    #[serde(default)]
    pub(crate) virtual_machines_associated: Vec<SubResource>,
    #[serde(default)]
    pub(crate) instance_view: Option<InstanceView>,
    /// RFC 3339 creation time.
    #[serde(default)]
    pub(crate) time_created: Option<String>,
}

/// A capacity reservation as ARM answers it.
#[derive(Debug, Clone, Default, Deserialize)]
pub(crate) struct CapacityReservation {
    #[serde(default)]
    pub(crate) id: String,
    #[serde(default)]
    pub(crate) location: String,
    #[serde(default)]
    pub(crate) tags: BTreeMap<String, String>,
    #[serde(default)]
    pub(crate) sku: Sku,
    #[serde(default)]
    pub(crate) zones: Vec<String>,
    #[serde(default)]
    pub(crate) properties: ReservationProperties,
}

/// The PUT body of a reservation: exactly the writable fields.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct CapacityReservationPut {
    pub(crate) location: String,
    pub(crate) sku: Sku,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub(crate) zones: Vec<String>,
    pub(crate) tags: BTreeMap<String, String>,
}

/// The subscription (`GET /subscriptions/{id}`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Subscription {
    #[serde(default)]
    pub(crate) display_name: Option<String>,
    /// `Enabled`, `Warned`, `PastDue`, `Disabled`, `Deleted`.
    #[serde(default)]
    pub(crate) state: Option<String>,
}

/// A location of the subscription.
#[derive(Debug, Clone, Default, Deserialize)]
pub(crate) struct Location {
    #[serde(default)]
    pub(crate) name: String,
    #[serde(default)]
    pub(crate) metadata: Option<LocationMetadata>,
}

/// `metadata` of a location.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct LocationMetadata {
    #[serde(default)]
    pub(crate) region_type: Option<String>,
}

/// One Resource SKU.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ResourceSku {
    #[serde(default)]
    pub(crate) resource_type: String,
    #[serde(default)]
    pub(crate) name: String,
    #[serde(default)]
    pub(crate) location_info: Vec<SkuLocationInfo>,
    #[serde(default)]
    pub(crate) restrictions: Vec<SkuRestriction>,
    #[serde(default)]
    pub(crate) capabilities: Vec<SkuCapability>,
    /// The quota family (`standardDSv5Family`), as `locations/{region}/usages` names it.
    #[serde(default)]
    pub(crate) family: Option<String>,
}

/// `locationInfo[]` of a SKU.
#[derive(Debug, Clone, Default, Deserialize)]
pub(crate) struct SkuLocationInfo {
    #[serde(default)]
    pub(crate) location: String,
    #[serde(default)]
    pub(crate) zones: Vec<String>,
}

/// `restrictions[]` of a SKU.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct SkuRestriction {
    /// `Location` or `Zone`.
    #[serde(default, rename = "type")]
    pub(crate) kind: String,
    #[serde(default)]
    pub(crate) values: Vec<String>,
    #[serde(default)]
    pub(crate) restriction_info: Option<SkuRestrictionInfo>,
}

/// `restrictions[].restrictionInfo`.
#[derive(Debug, Clone, Default, Deserialize)]
pub(crate) struct SkuRestrictionInfo {
    #[serde(default)]
    pub(crate) locations: Vec<String>,
    #[serde(default)]
    pub(crate) zones: Vec<String>,
}

/// `capabilities[]` of a SKU.
#[derive(Debug, Clone, Default, Deserialize)]
pub(crate) struct SkuCapability {
    #[serde(default)]
    pub(crate) name: String,
    #[serde(default)]
    pub(crate) value: String,
}

impl ResourceSku {
    /// The `vCPUs` capability (what one VM of the size counts against its family's quota).
    pub(crate) fn vcpus(&self) -> Option<u64> {
        self.capabilities
            .iter()
            .find(|c| c.name.eq_ignore_ascii_case("vCPUs"))
            .and_then(|c| c.value.trim().parse().ok())
    }

    /// The zones of `region` where this SKU can be reserved: its `locationInfo` zones, less
    /// those a `Zone` restriction names; none when a `Location` restriction covers the region
    /// or the SKU says it does not support capacity reservations.
    pub(crate) fn reservable_zones(&self, region: &str) -> Vec<String> {
        let unsupported = self.capabilities.iter().any(|c| {
            c.name.eq_ignore_ascii_case("CapacityReservationSupported")
                && c.value.eq_ignore_ascii_case("false")
        });
        if unsupported {
            return Vec::new();
        }
        let covers = |locations: &[String]| locations.iter().any(|l| same_location(l, region));
        let mut restricted: Vec<String> = Vec::new();
        for r in &self.restrictions {
            let info = r.restriction_info.clone().unwrap_or_default();
            if r.kind.eq_ignore_ascii_case("Location")
                && (covers(&info.locations) || covers(&r.values))
            {
                return Vec::new();
            }
            if r.kind.eq_ignore_ascii_case("Zone")
                && (info.locations.is_empty() || covers(&info.locations))
            {
                restricted.extend(info.zones.iter().cloned());
            }
        }
        self.location_info
            .iter()
            .filter(|l| same_location(&l.location, region))
            .flat_map(|l| l.zones.iter())
            .filter(|z| !restricted.contains(z))
            .cloned()
            .collect()
    }
}

/// One entry of `Microsoft.Authorization/permissions`: what one role assignment lets the
/// caller do at the scope.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Permission {
    #[serde(default)]
    pub(crate) actions: Vec<String>,
    #[serde(default)]
    pub(crate) not_actions: Vec<String>,
}

/// `name` of a compute usage.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct UsageName {
    #[serde(default)]
    pub(crate) value: String,
    #[serde(default)]
    pub(crate) localized_value: Option<String>,
}

/// One compute usage of a location (`locations/{region}/usages`): a quota in vCPUs.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Usage {
    #[serde(default)]
    pub(crate) name: UsageName,
    #[serde(default)]
    pub(crate) current_value: i64,
    #[serde(default)]
    pub(crate) limit: i64,
}

/// The body of an `Azure-AsyncOperation` status.
#[derive(Debug, Clone, Default, Deserialize)]
pub(crate) struct OperationStatus {
    #[serde(default)]
    pub(crate) status: String,
    #[serde(default)]
    pub(crate) error: Option<ArmErrorBody>,
}

/// Whether two ARM location names are the same (`East US` = `eastus`).
pub(crate) fn same_location(a: &str, b: &str) -> bool {
    let norm = |s: &str| {
        s.chars()
            .filter(|c| !c.is_whitespace())
            .flat_map(char::to_lowercase)
            .collect::<String>()
    };
    norm(a) == norm(b)
}

/// The value of tag `key`, whose name ARM compares without case.
pub(crate) fn tag<'a>(tags: &'a BTreeMap<String, String>, key: &str) -> Option<&'a str> {
    tags.iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(key))
        .map(|(_, v)| v.as_str())
}

/// The tags with cr's own keys spelled as cr spells them (ARM may answer `testid`).
pub(crate) fn canonical_tags(tags: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    tags.iter()
        .map(|(k, v)| {
            let key = cr_core::tags::CORE_TAG_KEYS
                .iter()
                .find(|c| c.eq_ignore_ascii_case(k))
                .map_or_else(|| k.clone(), |c| c.to_string());
            (key, v.clone())
        })
        .collect()
}

/// The segment after `key` in an ARM id (`resourceGroups` → the resource group's name),
/// keys compared without case.
pub(crate) fn id_segment<'a>(id: &'a str, key: &str) -> Option<&'a str> {
    let mut parts = id.split('/');
    while let Some(p) = parts.next() {
        if p.eq_ignore_ascii_case(key) {
            return parts.next().filter(|s| !s.is_empty());
        }
    }
    None
}

/// The group id of a reservation id (everything before `/capacityReservations/`).
pub(crate) fn group_of(reservation_id: &str) -> Option<&str> {
    let lower = reservation_id.to_ascii_lowercase();
    lower
        .find("/capacityreservations/")
        .map(|at| &reservation_id[..at])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sku(v: serde_json::Value) -> ResourceSku {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn zones_less_restrictions() {
        let s = sku(serde_json::json!({
            "resourceType": "virtualMachines", "name": "Standard_L8s_v3",
            "locationInfo": [{"location": "EastUS", "zones": ["1", "2", "3"]}],
            "restrictions": [{"type": "Zone", "values": ["eastus"], "reasonCode": "NotAvailableForSubscription",
                "restrictionInfo": {"locations": ["eastus"], "zones": ["2"]}}],
            "capabilities": [{"name": "CapacityReservationSupported", "value": "True"}],
        }));
        assert_eq!(s.reservable_zones("eastus"), ["1", "3"]);
        assert!(s.reservable_zones("westus2").is_empty());
        let mut located = s.clone();
        located.restrictions = vec![SkuRestriction {
            kind: "Location".into(),
            values: vec!["eastus".into()],
            restriction_info: None,
        }];
        assert!(located.reservable_zones("eastus").is_empty());
        let mut unsupported = s;
        unsupported.capabilities[0].value = "False".into();
        assert!(unsupported.reservable_zones("eastus").is_empty());
    }

    #[test]
    fn ids_compare_without_case_and_split() {
        let id = "/subscriptions/s/resourceGroups/RG/providers/Microsoft.Compute/CapacityReservationGroups/g/capacityReservations/r";
        assert_eq!(id_segment(id, "resourcegroups"), Some("RG"));
        assert_eq!(id_segment(id, "capacityReservationGroups"), Some("g"));
        assert_eq!(
            group_of(id),
            Some(
                "/subscriptions/s/resourceGroups/RG/providers/Microsoft.Compute/CapacityReservationGroups/g"
            )
        );
        let tags = BTreeMap::from([("testid".to_string(), "t".to_string())]);
        assert_eq!(tag(&tags, "TestId"), Some("t"));
        assert_eq!(
            canonical_tags(&tags).get("TestId").map(String::as_str),
            Some("t")
        );
    }
}
