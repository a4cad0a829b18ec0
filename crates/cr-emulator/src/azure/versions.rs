//! The `api-version` values ARM accepts for each resource type the emulator serves.
//!
//! Real ARM rejects a version the resource provider never published with
//! `InvalidApiVersionParameter` (or `NoRegisteredProviderFound` for unknown types); clients
//! pin a version per operation, so an emulator that accepted anything would hide a client
//! bug such as a missing or misspelt `api-version`.
//!
//! Compute: capacity reservation groups and reservations exist from `2021-04-01` on; the list
//! is every stable Compute (ComputeRP) version of `Azure/azure-rest-api-specs` that contains
//! them, plus `2026-04-01`, which azure-mgmt-compute 39 for Python sends. Resources
//! (resource groups) and Subscriptions (locations) list the stable versions of their specs
//! that current SDKs use; Resource SKUs have their own (latest 2021-07-01), and so has
//! `Microsoft.Authorization/permissions` (2015-07-01, 2022-04-01). A scenario can
//! replace each list (`clouds.azure.options.compute_api_versions: [...]`,
//! `resources_api_versions`, `subscriptions_api_versions`, `skus_api_versions`,
//! `authorization_api_versions`).

/// Stable `Microsoft.Compute` versions that define `capacityReservationGroups` and
/// `capacityReservations`.
pub const COMPUTE: &[&str] = &[
    "2021-04-01",
    "2021-07-01",
    "2021-11-01",
    "2022-03-01",
    "2022-08-01",
    "2022-11-01",
    "2023-03-01",
    "2023-07-01",
    "2023-09-01",
    "2024-03-01",
    "2024-07-01",
    "2024-11-01",
    "2025-04-01",
    "2025-11-01",
    "2026-04-01",
];

/// Stable `Microsoft.Resources` versions for `resourceGroups`.
pub const RESOURCES: &[&str] = &[
    "2016-02-01",
    "2016-07-01",
    "2016-09-01",
    "2017-05-10",
    "2018-02-01",
    "2018-05-01",
    "2019-03-01",
    "2019-05-01",
    "2019-05-10",
    "2019-07-01",
    "2019-08-01",
    "2019-10-01",
    "2020-06-01",
    "2020-08-01",
    "2020-10-01",
    "2021-01-01",
    "2021-04-01",
    "2022-09-01",
    "2023-07-01",
    "2024-03-01",
    "2024-07-01",
    "2024-11-01",
    "2025-03-01",
    "2025-04-01",
];

/// Stable `Microsoft.Resources/subscriptions` versions for `locations`.
pub const SUBSCRIPTIONS: &[&str] = &[
    "2016-06-01",
    "2018-06-01",
    "2019-06-01",
    "2019-11-01",
    "2020-01-01",
    "2021-01-01",
    "2022-12-01",
    "2024-11-01",
];

/// Stable `Microsoft.Compute/skus` (Resource SKUs) versions.
pub const SKUS: &[&str] = &["2017-03-30", "2017-09-01", "2019-04-01", "2021-07-01"];

/// Stable `Microsoft.Authorization` versions that serve `permissions`.
pub const AUTHORIZATION: &[&str] = &["2015-07-01", "2022-04-01"];

/// Which family of versions an operation is checked against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    /// `Microsoft.Compute`.
    Compute,
    /// `Microsoft.Resources` (resource groups).
    Resources,
    /// `Microsoft.Resources/subscriptions` (locations).
    Subscriptions,
    /// `Microsoft.Compute/skus`.
    Skus,
    /// `Microsoft.Authorization` (the caller's permissions).
    Authorization,
}

impl Family {
    /// Key of the scenario option that overrides the list.
    pub fn option_key(self) -> &'static str {
        match self {
            Family::Compute => "compute_api_versions",
            Family::Resources => "resources_api_versions",
            Family::Subscriptions => "subscriptions_api_versions",
            Family::Skus => "skus_api_versions",
            Family::Authorization => "authorization_api_versions",
        }
    }

    /// The built-in list.
    pub fn builtin(self) -> &'static [&'static str] {
        match self {
            Family::Compute => COMPUTE,
            Family::Resources => RESOURCES,
            Family::Subscriptions => SUBSCRIPTIONS,
            Family::Skus => SKUS,
            Family::Authorization => AUTHORIZATION,
        }
    }
}

/// The supported list for a family, honouring a scenario override.
pub fn supported(family: Family, over: Option<&serde_json::Value>) -> Vec<String> {
    if let Some(serde_json::Value::Array(items)) = over {
        let list: Vec<String> = items
            .iter()
            .filter_map(|v| v.as_str().map(str::to_owned))
            .collect();
        if !list.is_empty() {
            return list;
        }
    }
    family.builtin().iter().map(|s| (*s).to_owned()).collect()
}

/// ARM's wording: the supported versions are listed newest last, separated by commas.
pub fn invalid_message(given: &str, supported: &[String]) -> String {
    format!(
        "The api-version '{given}' is invalid. The supported versions are '{}'.",
        supported.join(",")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn override_replaces_builtin_and_empty_override_keeps_it() {
        let custom = serde_json::json!(["2099-01-01"]);
        assert_eq!(
            supported(Family::Compute, Some(&custom)),
            vec!["2099-01-01"]
        );
        let empty = serde_json::json!([]);
        assert_eq!(
            supported(Family::Compute, Some(&empty)).len(),
            COMPUTE.len()
        );
        assert!(supported(Family::Compute, None).contains(&"2026-04-01".to_owned()));
    }

    #[test]
    fn message_names_given_and_supported() {
        let m = invalid_message("2000-01-01", &["a".into(), "b".into()]);
        assert_eq!(
            m,
            "The api-version '2000-01-01' is invalid. The supported versions are 'a,b'."
        );
    }
}
