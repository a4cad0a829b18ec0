//! The four clouds cr knows.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// A cloud provider.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Cloud {
    /// Amazon EC2.
    Aws,
    /// Google Compute Engine.
    Gce,
    /// Microsoft Azure.
    Azure,
    /// Oracle Cloud Infrastructure.
    Oci,
}

impl Cloud {
    /// Every cloud, in a stable order.
    pub const ALL: [Cloud; 4] = [Cloud::Aws, Cloud::Gce, Cloud::Azure, Cloud::Oci];

    /// The canonical backend name (`aws`, `gce`, `azure`, `oci`).
    pub fn as_str(self) -> &'static str {
        match self {
            Cloud::Aws => "aws",
            Cloud::Gce => "gce",
            Cloud::Azure => "azure",
            Cloud::Oci => "oci",
        }
    }
}

impl fmt::Display for Cloud {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Cloud {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Cloud::ALL
            .into_iter()
            .find(|c| c.as_str() == s)
            .ok_or_else(|| format!("unknown cloud `{s}` (expected one of aws, gce, azure, oci)"))
    }
}
