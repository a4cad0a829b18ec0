//! [`OciBuilder`]: configuration of the OCI backend. Setters never fail; everything is
//! validated once, in [`OciBuilder::build`].

use std::path::PathBuf;
use std::time::Duration;

use cr_core::registry::BackendOptions;
use cr_core::{Error, Params, Result, transport};

use crate::adapter::{OciAdapter, ReservationSettings};
use crate::client::{Endpoints, OciClient, Timeouts};
use crate::credential::{self, ConfigSource, DEFAULT_PROFILE};

/// The raw configuration key of the fault domain every reservation is pinned to (a cr
/// extension: `FAULT-DOMAIN-1` to `FAULT-DOMAIN-3`; unset = any fault domain).
pub const FAULT_DOMAIN_KEY: &str = "oci_fault_domain";

/// The raw configuration key of the defined-tag namespace that gets the `TestId` defined tag
/// (a cr extension, e.g. `SCT`; the namespace and its `TestId` key must exist in the tenancy).
pub const DEFINED_TAG_NAMESPACE_KEY: &str = "oci_defined_tag_namespace";

const FAULT_DOMAINS: [&str; 3] = ["FAULT-DOMAIN-1", "FAULT-DOMAIN-2", "FAULT-DOMAIN-3"];

/// Builds an [`OciAdapter`].
///
/// ```no_run
/// # async fn f() -> cr_core::Result<()> {
/// let adapter = cr_oci::OciBuilder::from_env()
///     .with_compartment("ocid1.compartment.oc1..aaaa")
///     .build()
///     .await?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Default)]
pub struct OciBuilder {
    endpoint: Option<String>,
    ca_bundle: Option<PathBuf>,
    config_file: Option<PathBuf>,
    profile: Option<String>,
    home: Option<PathBuf>,
    region: Option<String>,
    settings: ReservationSettings,
    /// Where `oci_fault_domain` came from, for its error.
    fault_domain_source: Option<String>,
    timeouts: Timeouts,
    delete_timeout: Option<Duration>,
}

fn non_empty(s: Option<String>) -> Option<String> {
    s.map(|s| s.trim().to_string()).filter(|s| !s.is_empty())
}

impl OciBuilder {
    /// A builder with the defaults: the public endpoints, `~/.oci/config`, profile `DEFAULT`.
    pub fn new() -> Self {
        OciBuilder::default()
    }

    /// A builder reading the process environment: `OCI_CLI_CONFIG_FILE` / `OCI_CONFIG_FILE`,
    /// `OCI_CLI_PROFILE`, `HOME`.
    pub fn from_env() -> Self {
        OciBuilder::new().with_vars(|k| std::env::var(k).ok())
    }

    fn with_vars(mut self, var: impl Fn(&str) -> Option<String>) -> Self {
        if let Some(p) =
            non_empty(var("OCI_CLI_CONFIG_FILE")).or_else(|| non_empty(var("OCI_CONFIG_FILE")))
        {
            self.config_file = Some(PathBuf::from(p));
        }
        if let Some(p) = non_empty(var("OCI_CLI_PROFILE")) {
            self.profile = Some(p);
        }
        if let Some(h) = non_empty(var("HOME")) {
            self.home = Some(PathBuf::from(h));
        }
        self
    }

    /// A builder from the registry's options: the environment as [`BackendOptions::var`]
    /// sees it, and `--endpoint` / `CR_ENDPOINT`, `--ca-bundle` / `CR_CA_BUNDLE`.
    pub fn from_options(options: &BackendOptions) -> Self {
        let mut b = OciBuilder::new().with_vars(|k| options.var(k));
        if let Some(e) = options.endpoint() {
            b.endpoint = Some(e);
        }
        if let Some(p) = options.ca_bundle_path() {
            b.ca_bundle = Some(p);
        }
        b
    }

    /// Takes `oci_compartment_id`, [`FAULT_DOMAIN_KEY`] and [`DEFINED_TAG_NAMESPACE_KEY`].
    pub fn with_params(mut self, params: &Params) -> Self {
        if let Some(c) = non_empty(params.oci_compartment_id.clone()) {
            self.settings.compartment = Some(c);
        }
        if let Some(fd) = params.raw_str(FAULT_DOMAIN_KEY) {
            self.settings.fault_domain = Some(fd);
            self.fault_domain_source = Some(params.source_of(FAULT_DOMAIN_KEY).to_string());
        }
        if let Some(ns) = params.raw_str(DEFINED_TAG_NAMESPACE_KEY) {
            self.settings.defined_tag_namespace = Some(ns);
        }
        self
    }

    /// Sends every call to `endpoint` (the emulator: `{endpoint}/oci/{region}/20160918/...`)
    /// instead of the public endpoints.
    pub fn with_endpoint(mut self, endpoint: impl Into<String>) -> Self {
        self.endpoint = Some(endpoint.into());
        self
    }

    /// Trusts the CA certificates of this PEM file too.
    pub fn with_ca_bundle(mut self, path: impl Into<PathBuf>) -> Self {
        self.ca_bundle = Some(path.into());
        self
    }

    /// Reads this OCI configuration file instead of `~/.oci/config`.
    pub fn with_config_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.config_file = Some(path.into());
        self
    }

    /// Uses this profile of the configuration file (default `DEFAULT`).
    pub fn with_profile(mut self, profile: impl Into<String>) -> Self {
        self.profile = Some(profile.into());
        self
    }

    /// The home region (for the region subscriptions), instead of the profile's `region`.
    pub fn with_region(mut self, region: impl Into<String>) -> Self {
        self.region = Some(region.into());
        self
    }

    /// Reserves in this compartment (default: the tenancy, the root compartment).
    pub fn with_compartment(mut self, compartment: impl Into<String>) -> Self {
        self.settings.compartment = Some(compartment.into());
        self
    }

    /// Pins every reservation to this fault domain (`FAULT-DOMAIN-1`..`3`).
    pub fn with_fault_domain(mut self, fault_domain: impl Into<String>) -> Self {
        self.settings.fault_domain = Some(fault_domain.into());
        self
    }

    /// Adds the `TestId` defined tag in this namespace.
    pub fn with_defined_tag_namespace(mut self, namespace: impl Into<String>) -> Self {
        self.settings.defined_tag_namespace = Some(namespace.into());
        self
    }

    /// The longest one API call may take before it fails as a timeout (default one minute).
    pub fn with_request_timeout(mut self, timeout: Duration) -> Self {
        self.timeouts.request = timeout;
        self
    }

    /// The longest a cancel waits for `DELETED` (default five minutes).
    pub fn with_delete_timeout(mut self, timeout: Duration) -> Self {
        self.delete_timeout = Some(timeout);
        self
    }

    /// Validates the configuration, loads the key (no network call) and builds the adapter.
    pub async fn build(self) -> Result<OciAdapter> {
        let endpoints = match self.endpoint.as_deref() {
            Some(e) => Endpoints::Override(transport::validate_endpoint(e)?),
            None => Endpoints::Public,
        };
        if let Some(fd) = &self.settings.fault_domain {
            let normal = fd.to_ascii_uppercase();
            if !FAULT_DOMAINS.contains(&normal.as_str()) {
                return Err(Error::config(
                    self.fault_domain_source.as_deref().unwrap_or("the builder"),
                    FAULT_DOMAIN_KEY,
                    fd,
                    "FAULT-DOMAIN-1, FAULT-DOMAIN-2 or FAULT-DOMAIN-3",
                ));
            }
        }
        let mut settings = self.settings;
        settings.fault_domain = settings.fault_domain.map(|f| f.to_ascii_uppercase());
        let mut http = reqwest::Client::builder()
            .connect_timeout(self.timeouts.connect)
            .user_agent(concat!("cr/", env!("CARGO_PKG_VERSION")));
        if let Some(path) = &self.ca_bundle {
            let pem = transport::load_ca_bundle(path)?;
            let origin = path.display().to_string();
            let certs = reqwest::Certificate::from_pem_bundle(&pem)
                .map_err(|e| transport::invalid_ca_bundle(&origin, e))?;
            if certs.is_empty() {
                return Err(transport::invalid_ca_bundle(
                    &origin,
                    "no usable CERTIFICATE block",
                ));
            }
            http = http.tls_certs_merge(certs);
        }
        let http = http
            .build()
            .map_err(|e| Error::Other(format!("cannot build the OCI HTTP client: {e}")))?;
        let source = ConfigSource {
            path: self.config_file.clone().unwrap_or_else(|| {
                self.home
                    .clone()
                    .unwrap_or_default()
                    .join(".oci")
                    .join("config")
            }),
            profile: self.profile.unwrap_or_else(|| DEFAULT_PROFILE.to_string()),
        };
        let credential = credential::load(&source, self.home.as_deref())?;
        let client = OciClient::new(http, credential.signer, endpoints, self.timeouts);
        let mut adapter = OciAdapter::new(
            client,
            credential.tenancy,
            self.region.or(credential.region),
            settings,
        );
        if let Some(t) = self.delete_timeout {
            adapter.set_delete_timeout(t);
        }
        adapter.set_source(format!(
            "API key of profile {} in {}",
            source.profile,
            source.path.display()
        ));
        Ok(adapter)
    }
}

#[cfg(test)]
mod tests {
    use cr_core::ErrorKind;

    use super::*;

    #[tokio::test]
    async fn a_bad_endpoint_names_the_option() {
        let err = OciBuilder::new()
            .with_endpoint("127.0.0.1:1")
            .build()
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidConfig);
        assert!(err.to_string().contains(transport::ENDPOINT_SOURCE));
    }

    #[tokio::test]
    async fn a_bad_fault_domain_is_refused() {
        let err = OciBuilder::new()
            .with_fault_domain("FD-9")
            .build()
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidConfig);
        assert!(err.to_string().contains(FAULT_DOMAIN_KEY), "{err}");
    }

    #[test]
    fn the_environment_names_the_file_and_profile() {
        let vars = |k: &str| match k {
            "OCI_CONFIG_FILE" => Some("/b".to_string()),
            "OCI_CLI_PROFILE" => Some("P".to_string()),
            _ => None,
        };
        let b = OciBuilder::new().with_vars(vars);
        assert_eq!(b.config_file, Some(PathBuf::from("/b")));
        assert_eq!(b.profile.as_deref(), Some("P"));
        let first = |k: &str| match k {
            "OCI_CLI_CONFIG_FILE" => Some("/a".to_string()),
            "OCI_CONFIG_FILE" => Some("/b".to_string()),
            _ => None,
        };
        assert_eq!(
            OciBuilder::new().with_vars(first).config_file,
            Some(PathBuf::from("/a")),
            "OCI_CLI_CONFIG_FILE wins"
        );
    }
}
