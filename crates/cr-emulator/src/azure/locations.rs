//! `GET /subscriptions/{sub}/locations`: the regions of the scenario with the metadata ARM
//! returns (display names, geography, coordinates, paired region) and the logical → physical
//! availability-zone mapping of the subscription.
//!
//! Region names and zones come from the scenario (defaults plus whatever it names); the
//! metadata below is what the public `GetLocations` responses show for the well-known
//! regions. Regions the table lacks get neutral metadata so a scenario can invent regions.

use serde_json::{Value, json};

/// Metadata of one well-known location.
struct Meta {
    name: &'static str,
    geography: &'static str,
    group: &'static str,
    lat: &'static str,
    long: &'static str,
    physical: &'static str,
    paired: &'static str,
}

const fn m(
    name: &'static str,
    geography: &'static str,
    group: &'static str,
    lat: &'static str,
    long: &'static str,
    physical: &'static str,
    paired: &'static str,
) -> Meta {
    Meta {
        name,
        geography,
        group,
        lat,
        long,
        physical,
        paired,
    }
}

const US: &str = "United States";
const APAC: &str = "Asia Pacific";

const META: &[Meta] = &[
    m(
        "eastus", US, "US", "37.3719", "-79.8164", "Virginia", "westus",
    ),
    m(
        "eastus2",
        US,
        "US",
        "36.6681",
        "-78.3889",
        "Virginia",
        "centralus",
    ),
    m(
        "westus",
        US,
        "US",
        "37.783",
        "-122.417",
        "California",
        "eastus",
    ),
    m(
        "westus2",
        US,
        "US",
        "47.233",
        "-119.852",
        "Washington",
        "westcentralus",
    ),
    m(
        "westus3",
        US,
        "US",
        "33.448376",
        "-112.074036",
        "Phoenix",
        "eastus",
    ),
    m(
        "centralus",
        US,
        "US",
        "41.5908",
        "-93.6208",
        "Iowa",
        "eastus2",
    ),
    m(
        "northcentralus",
        US,
        "US",
        "41.8819",
        "-87.6278",
        "Illinois",
        "southcentralus",
    ),
    m(
        "southcentralus",
        US,
        "US",
        "29.4167",
        "-98.5",
        "Texas",
        "northcentralus",
    ),
    m(
        "westcentralus",
        US,
        "US",
        "40.890",
        "-110.234",
        "Wyoming",
        "westus2",
    ),
    m(
        "canadacentral",
        "Canada",
        "Canada",
        "43.653",
        "-79.383",
        "Toronto",
        "canadaeast",
    ),
    m(
        "canadaeast",
        "Canada",
        "Canada",
        "46.817",
        "-71.217",
        "Quebec",
        "canadacentral",
    ),
    m(
        "brazilsouth",
        "Brazil",
        "South America",
        "-23.55",
        "-46.633",
        "Sao Paulo State",
        "southcentralus",
    ),
    m(
        "mexicocentral",
        "Mexico",
        "Mexico",
        "20.588818",
        "-100.389888",
        "Querétaro State",
        "",
    ),
    m(
        "northeurope",
        "Europe",
        "Europe",
        "53.3478",
        "-6.2597",
        "Ireland",
        "westeurope",
    ),
    m(
        "westeurope",
        "Europe",
        "Europe",
        "52.3667",
        "4.9",
        "Netherlands",
        "northeurope",
    ),
    m(
        "uksouth",
        "United Kingdom",
        "Europe",
        "50.941",
        "-0.799",
        "London",
        "ukwest",
    ),
    m(
        "ukwest",
        "United Kingdom",
        "Europe",
        "53.427",
        "-3.084",
        "Cardiff",
        "uksouth",
    ),
    m(
        "francecentral",
        "France",
        "Europe",
        "46.3772",
        "2.3730",
        "Paris",
        "francesouth",
    ),
    m(
        "germanywestcentral",
        "Germany",
        "Europe",
        "50.110924",
        "8.682127",
        "Frankfurt",
        "germanynorth",
    ),
    m(
        "norwayeast",
        "Norway",
        "Europe",
        "59.913868",
        "10.752245",
        "Norway",
        "norwaywest",
    ),
    m(
        "swedencentral",
        "Sweden",
        "Europe",
        "60.67488",
        "17.14127",
        "Gävle",
        "swedensouth",
    ),
    m(
        "switzerlandnorth",
        "Switzerland",
        "Europe",
        "47.451542",
        "8.564572",
        "Zurich",
        "switzerlandwest",
    ),
    m(
        "polandcentral",
        "Poland",
        "Europe",
        "52.23334",
        "21.01666",
        "Warsaw",
        "",
    ),
    m(
        "italynorth",
        "Italy",
        "Europe",
        "45.46888",
        "9.18109",
        "Milan",
        "",
    ),
    m(
        "spaincentral",
        "Spain",
        "Europe",
        "40.4259",
        "-3.4209",
        "Madrid",
        "",
    ),
    m(
        "eastasia",
        APAC,
        APAC,
        "22.267",
        "114.188",
        "Hong Kong",
        "southeastasia",
    ),
    m(
        "southeastasia",
        APAC,
        APAC,
        "1.283",
        "103.833",
        "Singapore",
        "eastasia",
    ),
    m(
        "japaneast",
        "Japan",
        APAC,
        "35.68",
        "139.77",
        "Tokyo, Saitama",
        "japanwest",
    ),
    m(
        "japanwest",
        "Japan",
        APAC,
        "34.6939",
        "135.5022",
        "Osaka",
        "japaneast",
    ),
    m(
        "koreacentral",
        "Korea",
        APAC,
        "37.5665",
        "126.9780",
        "Seoul",
        "koreasouth",
    ),
    m(
        "koreasouth",
        "Korea",
        APAC,
        "35.1796",
        "129.0756",
        "Busan",
        "koreacentral",
    ),
    m(
        "centralindia",
        "India",
        APAC,
        "18.5822",
        "73.9197",
        "Pune",
        "southindia",
    ),
    m(
        "southindia",
        "India",
        APAC,
        "12.9822",
        "80.1636",
        "Chennai",
        "centralindia",
    ),
    m(
        "westindia",
        "India",
        APAC,
        "19.088",
        "72.868",
        "Mumbai",
        "southindia",
    ),
    m(
        "australiaeast",
        "Australia",
        APAC,
        "-33.86",
        "151.2094",
        "New South Wales",
        "australiasoutheast",
    ),
    m(
        "australiasoutheast",
        "Australia",
        APAC,
        "-37.8136",
        "144.9631",
        "Victoria",
        "australiaeast",
    ),
    m(
        "australiacentral",
        "Australia",
        APAC,
        "-35.3075",
        "149.1244",
        "Canberra",
        "australiacentral2",
    ),
    m(
        "uaenorth",
        "UAE",
        "Middle East",
        "25.266666",
        "55.316666",
        "Dubai",
        "uaecentral",
    ),
    m(
        "qatarcentral",
        "Qatar",
        "Middle East",
        "25.551462",
        "51.439327",
        "Doha",
        "",
    ),
    m(
        "israelcentral",
        "Israel",
        "Middle East",
        "31.2655698",
        "33.4506633",
        "Israel",
        "",
    ),
    m(
        "southafricanorth",
        "South Africa",
        "Africa",
        "-25.73134",
        "28.21837",
        "Johannesburg",
        "southafricawest",
    ),
];

/// One region as the scenario has it.
#[derive(Debug, Clone)]
pub struct Region {
    /// Wire name (`eastus`).
    pub name: String,
    /// `displayName` (`East US`).
    pub display_name: String,
    /// Logical zones (`1`, `2`, `3`), empty for regions without zones.
    pub zones: Vec<String>,
}

/// The `Location` JSON of one region for one subscription.
pub fn location_json(sub: &str, region: &Region) -> Value {
    let meta = META.iter().find(|m| m.name == region.name);
    let geography_group = meta.map_or("", |m| m.group);
    let regional_display_name = if geography_group.is_empty() {
        region.display_name.clone()
    } else {
        format!("({geography_group}) {}", region.display_name)
    };
    let mut metadata = json!({
        "regionType": "Physical",
        "regionCategory": if region.zones.is_empty() { "Other" } else { "Recommended" },
        "geography": meta.map_or("", |m| m.geography),
        "geographyGroup": geography_group,
        "longitude": meta.map_or("0", |m| m.long),
        "latitude": meta.map_or("0", |m| m.lat),
        "physicalLocation": meta.map_or("", |m| m.physical),
    });
    if let Some(paired) = meta.map(|m| m.paired).filter(|p| !p.is_empty()) {
        metadata["pairedRegion"] = json!([{
            "name": paired,
            "id": format!("/subscriptions/{sub}/locations/{paired}"),
        }]);
    }
    let mut loc = json!({
        "id": format!("/subscriptions/{sub}/locations/{}", region.name),
        "name": region.name,
        "type": "Region",
        "displayName": region.display_name,
        "regionalDisplayName": regional_display_name,
        "metadata": metadata,
    });
    if !region.zones.is_empty() {
        loc["availabilityZoneMappings"] = Value::Array(zone_mappings(sub, region));
    }
    loc
}

/// Logical zones map to physical zones differently per subscription (that is the point of the
/// mapping); derive a stable permutation from the subscription and region names.
fn zone_mappings(sub: &str, region: &Region) -> Vec<Value> {
    let n = region.zones.len();
    let mut physical: Vec<usize> = (1..=n).collect();
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in sub.bytes().chain(region.name.bytes()) {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    for i in (1..n).rev() {
        let j = (h % (i as u64 + 1)) as usize;
        physical.swap(i, j);
        h = h.rotate_left(17) ^ 0x9e37_79b9_7f4a_7c15;
    }
    region
        .zones
        .iter()
        .zip(physical)
        .map(|(logical, p)| {
            json!({
                "logicalZone": logical,
                "physicalZone": format!("{}-az{p}", region.name),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn eastus() -> Region {
        Region {
            name: "eastus".into(),
            display_name: "East US".into(),
            zones: vec!["1".into(), "2".into(), "3".into()],
        }
    }

    #[test]
    fn known_region_has_metadata_and_a_zone_permutation() {
        let v = location_json("sub-1", &eastus());
        assert_eq!(v["name"], "eastus");
        assert_eq!(v["regionalDisplayName"], "(US) East US");
        assert_eq!(v["metadata"]["pairedRegion"][0]["name"], "westus");
        let maps = v["availabilityZoneMappings"].as_array().unwrap();
        assert_eq!(maps.len(), 3);
        let mut phys: Vec<&str> = maps
            .iter()
            .map(|m| m["physicalZone"].as_str().unwrap())
            .collect();
        phys.sort_unstable();
        assert_eq!(phys, ["eastus-az1", "eastus-az2", "eastus-az3"]);
    }

    #[test]
    fn region_without_zones_has_no_mapping_and_unknown_region_still_renders() {
        let r = Region {
            name: "moonbase1".into(),
            display_name: "Moon Base 1".into(),
            zones: vec![],
        };
        let v = location_json("s", &r);
        assert!(v.get("availabilityZoneMappings").is_none());
        assert_eq!(v["regionalDisplayName"], "Moon Base 1");
        assert_eq!(v["metadata"]["regionType"], "Physical");
    }
}
