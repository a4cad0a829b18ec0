//! Default regions and zones of each emulated cloud, as the real clouds have them (tens of
//! regions each), plus the EC2 instance-type catalogue that `DescribeInstanceTypeOfferings`
//! reports. A scenario adds to these; it never has to repeat them.

use crate::world::CloudKind;

/// A region the emulator knows without being told.
#[derive(Debug, Clone, Copy)]
pub struct RegionDef {
    /// Wire name (`us-east-1`, `us-east1`, `eastus`, `us-phoenix-1`).
    pub name: &'static str,
    /// Human-readable name (Azure `displayName`, GCE `description`).
    pub display_name: &'static str,
    /// Zone names: EC2/GCE zone suffixes are expanded by [`zones`]; Azure zones are `1`..`3`
    /// (empty for regions without availability zones); OCI ADs are `AD-1`.. expanded to full
    /// names by [`zones`].
    pub zones: &'static [&'static str],
    /// EC2: the region is opt-in (not enabled unless the scenario names it).
    pub opt_in: bool,
    /// OCI region key (`PHX`); empty elsewhere.
    pub key: &'static str,
}

const fn r(
    name: &'static str,
    display_name: &'static str,
    zones: &'static [&'static str],
) -> RegionDef {
    RegionDef {
        name,
        display_name,
        zones,
        opt_in: false,
        key: "",
    }
}

const fn opt(
    name: &'static str,
    display_name: &'static str,
    zones: &'static [&'static str],
) -> RegionDef {
    RegionDef {
        name,
        display_name,
        zones,
        opt_in: true,
        key: "",
    }
}

const fn oci(
    name: &'static str,
    key: &'static str,
    display_name: &'static str,
    ads: &'static [&'static str],
) -> RegionDef {
    RegionDef {
        name,
        display_name,
        zones: ads,
        opt_in: false,
        key,
    }
}

const ABC: &[&str] = &["a", "b", "c"];
const AZ3: &[&str] = &["1", "2", "3"];
const NOAZ: &[&str] = &[];
const AD1: &[&str] = &["AD-1"];
const AD3: &[&str] = &["AD-1", "AD-2", "AD-3"];

/// EC2 regions of the `aws` partition (zone letters).
pub const AWS_REGIONS: &[RegionDef] = &[
    r(
        "us-east-1",
        "US East (N. Virginia)",
        &["a", "b", "c", "d", "e", "f"],
    ),
    r("us-east-2", "US East (Ohio)", ABC),
    r("us-west-1", "US West (N. California)", &["a", "c"]),
    r("us-west-2", "US West (Oregon)", &["a", "b", "c", "d"]),
    opt("af-south-1", "Africa (Cape Town)", ABC),
    opt("ap-east-1", "Asia Pacific (Hong Kong)", ABC),
    opt("ap-east-2", "Asia Pacific (Taipei)", ABC),
    r("ap-northeast-1", "Asia Pacific (Tokyo)", &["a", "c", "d"]),
    r(
        "ap-northeast-2",
        "Asia Pacific (Seoul)",
        &["a", "b", "c", "d"],
    ),
    r("ap-northeast-3", "Asia Pacific (Osaka)", ABC),
    r("ap-south-1", "Asia Pacific (Mumbai)", ABC),
    opt("ap-south-2", "Asia Pacific (Hyderabad)", ABC),
    r("ap-southeast-1", "Asia Pacific (Singapore)", ABC),
    r("ap-southeast-2", "Asia Pacific (Sydney)", ABC),
    opt("ap-southeast-3", "Asia Pacific (Jakarta)", ABC),
    opt("ap-southeast-4", "Asia Pacific (Melbourne)", ABC),
    opt("ap-southeast-5", "Asia Pacific (Malaysia)", ABC),
    opt("ap-southeast-6", "Asia Pacific (New Zealand)", ABC),
    opt("ap-southeast-7", "Asia Pacific (Thailand)", ABC),
    r("ca-central-1", "Canada (Central)", &["a", "b", "d"]),
    opt("ca-west-1", "Canada West (Calgary)", ABC),
    r("eu-central-1", "Europe (Frankfurt)", ABC),
    opt("eu-central-2", "Europe (Zurich)", ABC),
    r("eu-north-1", "Europe (Stockholm)", ABC),
    opt("eu-south-1", "Europe (Milan)", ABC),
    opt("eu-south-2", "Europe (Spain)", ABC),
    r("eu-west-1", "Europe (Ireland)", ABC),
    r("eu-west-2", "Europe (London)", ABC),
    r("eu-west-3", "Europe (Paris)", ABC),
    opt("il-central-1", "Israel (Tel Aviv)", ABC),
    opt("me-central-1", "Middle East (UAE)", ABC),
    opt("me-south-1", "Middle East (Bahrain)", ABC),
    opt("mx-central-1", "Mexico (Central)", ABC),
    r("sa-east-1", "South America (Sao Paulo)", ABC),
];

/// Compute Engine regions (zone suffixes).
pub const GCE_REGIONS: &[RegionDef] = &[
    r("africa-south1", "Johannesburg, South Africa", ABC),
    r("asia-east1", "Changhua County, Taiwan", ABC),
    r("asia-east2", "Hong Kong", ABC),
    r("asia-northeast1", "Tokyo, Japan", ABC),
    r("asia-northeast2", "Osaka, Japan", ABC),
    r("asia-northeast3", "Seoul, South Korea", ABC),
    r("asia-south1", "Mumbai, India", ABC),
    r("asia-south2", "Delhi, India", ABC),
    r("asia-southeast1", "Jurong West, Singapore", ABC),
    r("asia-southeast2", "Jakarta, Indonesia", ABC),
    r("australia-southeast1", "Sydney, Australia", ABC),
    r("australia-southeast2", "Melbourne, Australia", ABC),
    r("europe-central2", "Warsaw, Poland", ABC),
    r("europe-north1", "Hamina, Finland", ABC),
    r("europe-north2", "Stockholm, Sweden", ABC),
    r("europe-southwest1", "Madrid, Spain", ABC),
    r("europe-west1", "St. Ghislain, Belgium", &["b", "c", "d"]),
    r("europe-west2", "London, England", ABC),
    r("europe-west3", "Frankfurt, Germany", ABC),
    r("europe-west4", "Eemshaven, Netherlands", ABC),
    r("europe-west6", "Zurich, Switzerland", ABC),
    r("europe-west8", "Milan, Italy", ABC),
    r("europe-west9", "Paris, France", ABC),
    r("europe-west10", "Berlin, Germany", ABC),
    r("europe-west12", "Turin, Italy", ABC),
    r("me-central1", "Doha, Qatar", ABC),
    r("me-central2", "Dammam, Saudi Arabia", ABC),
    r("me-west1", "Tel Aviv, Israel", ABC),
    r("northamerica-northeast1", "Montreal, Quebec", ABC),
    r("northamerica-northeast2", "Toronto, Ontario", ABC),
    r("northamerica-south1", "Queretaro, Mexico", ABC),
    r("southamerica-east1", "Osasco, Sao Paulo, Brazil", ABC),
    r("southamerica-west1", "Santiago, Chile", ABC),
    r("us-central1", "Council Bluffs, Iowa", &["a", "b", "c", "f"]),
    r(
        "us-east1",
        "Moncks Corner, South Carolina",
        &["b", "c", "d"],
    ),
    r("us-east4", "Ashburn, Virginia", ABC),
    r("us-east5", "Columbus, Ohio", ABC),
    r("us-south1", "Dallas, Texas", ABC),
    r("us-west1", "The Dalles, Oregon", ABC),
    r("us-west2", "Los Angeles, California", ABC),
    r("us-west3", "Salt Lake City, Utah", ABC),
    r("us-west4", "Las Vegas, Nevada", ABC),
];

/// Azure locations (availability zones `1`..`3` where the location has them).
pub const AZURE_REGIONS: &[RegionDef] = &[
    r("eastus", "East US", AZ3),
    r("eastus2", "East US 2", AZ3),
    r("westus", "West US", NOAZ),
    r("westus2", "West US 2", AZ3),
    r("westus3", "West US 3", AZ3),
    r("centralus", "Central US", AZ3),
    r("northcentralus", "North Central US", NOAZ),
    r("southcentralus", "South Central US", AZ3),
    r("westcentralus", "West Central US", NOAZ),
    r("canadacentral", "Canada Central", AZ3),
    r("canadaeast", "Canada East", NOAZ),
    r("brazilsouth", "Brazil South", AZ3),
    r("mexicocentral", "Mexico Central", AZ3),
    r("northeurope", "North Europe", AZ3),
    r("westeurope", "West Europe", AZ3),
    r("uksouth", "UK South", AZ3),
    r("ukwest", "UK West", NOAZ),
    r("francecentral", "France Central", AZ3),
    r("germanywestcentral", "Germany West Central", AZ3),
    r("norwayeast", "Norway East", AZ3),
    r("swedencentral", "Sweden Central", AZ3),
    r("switzerlandnorth", "Switzerland North", AZ3),
    r("polandcentral", "Poland Central", AZ3),
    r("italynorth", "Italy North", AZ3),
    r("spaincentral", "Spain Central", AZ3),
    r("eastasia", "East Asia", AZ3),
    r("southeastasia", "Southeast Asia", AZ3),
    r("japaneast", "Japan East", AZ3),
    r("japanwest", "Japan West", AZ3),
    r("koreacentral", "Korea Central", AZ3),
    r("koreasouth", "Korea South", NOAZ),
    r("centralindia", "Central India", AZ3),
    r("southindia", "South India", NOAZ),
    r("westindia", "West India", NOAZ),
    r("australiaeast", "Australia East", AZ3),
    r("australiasoutheast", "Australia Southeast", NOAZ),
    r("australiacentral", "Australia Central", NOAZ),
    r("uaenorth", "UAE North", AZ3),
    r("southafricanorth", "South Africa North", AZ3),
    r("qatarcentral", "Qatar Central", AZ3),
    r("israelcentral", "Israel Central", AZ3),
];

/// OCI regions (availability domains as `AD-N`; full names from [`oci_ad_name`]).
pub const OCI_REGIONS: &[RegionDef] = &[
    oci("us-ashburn-1", "IAD", "US East (Ashburn)", AD3),
    oci("us-phoenix-1", "PHX", "US West (Phoenix)", AD3),
    oci("us-sanjose-1", "SJC", "US West (San Jose)", AD1),
    oci("us-chicago-1", "ORD", "US Midwest (Chicago)", AD3),
    oci("ca-toronto-1", "YYZ", "Canada Southeast (Toronto)", AD1),
    oci("ca-montreal-1", "YUL", "Canada Southeast (Montreal)", AD1),
    oci("eu-frankfurt-1", "FRA", "Germany Central (Frankfurt)", AD3),
    oci("uk-london-1", "LHR", "UK South (London)", AD3),
    oci("uk-cardiff-1", "CWL", "UK West (Newport)", AD1),
    oci(
        "eu-amsterdam-1",
        "AMS",
        "Netherlands Northwest (Amsterdam)",
        AD1,
    ),
    oci("eu-zurich-1", "ZRH", "Switzerland North (Zurich)", AD1),
    oci("eu-madrid-1", "MAD", "Spain Central (Madrid)", AD1),
    oci("eu-marseille-1", "MRS", "France South (Marseille)", AD1),
    oci("eu-milan-1", "LIN", "Italy Northwest (Milan)", AD1),
    oci("eu-paris-1", "CDG", "France Central (Paris)", AD1),
    oci("eu-stockholm-1", "ARN", "Sweden Central (Stockholm)", AD1),
    oci("ap-tokyo-1", "NRT", "Japan East (Tokyo)", AD1),
    oci("ap-osaka-1", "KIX", "Japan Central (Osaka)", AD1),
    oci("ap-seoul-1", "ICN", "South Korea Central (Seoul)", AD1),
    oci(
        "ap-chuncheon-1",
        "YNY",
        "South Korea North (Chuncheon)",
        AD1,
    ),
    oci("ap-mumbai-1", "BOM", "India West (Mumbai)", AD1),
    oci("ap-hyderabad-1", "HYD", "India South (Hyderabad)", AD1),
    oci("ap-singapore-1", "SIN", "Singapore (Singapore)", AD1),
    oci("ap-sydney-1", "SYD", "Australia East (Sydney)", AD1),
    oci(
        "ap-melbourne-1",
        "MEL",
        "Australia Southeast (Melbourne)",
        AD1,
    ),
    oci("sa-saopaulo-1", "GRU", "Brazil East (Sao Paulo)", AD1),
    oci("sa-vinhedo-1", "VCP", "Brazil Southeast (Vinhedo)", AD1),
    oci("sa-santiago-1", "SCL", "Chile Central (Santiago)", AD1),
    oci("me-jeddah-1", "JED", "Saudi Arabia West (Jeddah)", AD1),
    oci("me-dubai-1", "DXB", "UAE East (Dubai)", AD1),
    oci("il-jerusalem-1", "MTZ", "Israel Central (Jerusalem)", AD1),
    oci(
        "af-johannesburg-1",
        "JNB",
        "South Africa Central (Johannesburg)",
        AD1,
    ),
    oci("mx-queretaro-1", "QRO", "Mexico Central (Queretaro)", AD1),
];

/// The tenancy-specific prefix of emulated OCI availability-domain names
/// (`Emul:PHX-AD-1`); real tenancies see a random four-letter prefix.
pub const OCI_AD_PREFIX: &str = "Emul";

/// The default regions of a cloud.
pub fn regions(cloud: CloudKind) -> &'static [RegionDef] {
    match cloud {
        CloudKind::Aws => AWS_REGIONS,
        CloudKind::Gce => GCE_REGIONS,
        CloudKind::Azure => AZURE_REGIONS,
        CloudKind::Oci => OCI_REGIONS,
    }
}

/// Looks up a default region.
pub fn region(cloud: CloudKind, name: &str) -> Option<&'static RegionDef> {
    regions(cloud).iter().find(|r| r.name == name)
}

/// Full zone names of a default region: `us-east-1a`, `us-east1-b`, `1`, `Emul:PHX-AD-1`.
pub fn zones(cloud: CloudKind, def: &RegionDef) -> Vec<String> {
    def.zones
        .iter()
        .map(|z| match cloud {
            CloudKind::Aws => format!("{}{}", def.name, z),
            CloudKind::Gce => format!("{}-{}", def.name, z),
            CloudKind::Azure => (*z).to_owned(),
            CloudKind::Oci => oci_ad_name(def.key, z),
        })
        .collect()
}

/// Full OCI availability-domain name from a region key and an `AD-N` suffix.
pub fn oci_ad_name(key: &str, ad: &str) -> String {
    format!("{OCI_AD_PREFIX}:{key}-{ad}")
}

/// EC2 zone id (`use1-az1`) of a zone name (`us-east-1a`): the region's short code plus the
/// zone letter's position. Real zone ids are shuffled per account; a fixed mapping is enough
/// for clients that only pass them back.
pub fn aws_zone_id(zone: &str) -> Option<String> {
    let (region, letter) = zone.split_at(zone.len().checked_sub(1)?);
    let letter = letter.chars().next()?;
    if !letter.is_ascii_lowercase() {
        return None;
    }
    let mut parts = region.split('-');
    let geo = parts.next()?;
    let dir = parts.next()?;
    let num = parts.next()?;
    if parts.next().is_some() {
        return None;
    }
    let dir = match dir {
        "northeast" => "ne",
        "northwest" => "nw",
        "southeast" => "se",
        "southwest" => "sw",
        other => &other[..1],
    };
    Some(format!(
        "{geo}{dir}{num}-az{}",
        letter as u32 - 'a' as u32 + 1
    ))
}
