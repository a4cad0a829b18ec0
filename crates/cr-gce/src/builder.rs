//! [`GceBuilder`]: configuration of the GCE backend. Setters never fail; everything is
//! validated once, in [`GceBuilder::build`].

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use cr_core::registry::BackendOptions;
use cr_core::{Error, Params, Result, transport};
use gcp_auth::TokenProvider;

use crate::adapter::{GceAdapter, ReservationSettings};
use crate::client::{GceClient, Timeouts, base_url};
use crate::credential::{self, CredentialSource};

/// The raw configuration key of the minimum CPU platform (a cr extension: SCT has none).
pub const MIN_CPU_PLATFORM_KEY: &str = "gce_min_cpu_platform";

/// Builds a [`GceAdapter`].
///
/// ```no_run
/// # async fn f() -> cr_core::Result<()> {
/// let adapter = cr_gce::GceBuilder::from_env()
///     .with_project("my-project")
///     .build()
///     .await?;
/// # Ok(()) }
/// ```
#[derive(Clone, Default)]
pub struct GceBuilder {
    endpoint: Option<String>,
    ca_bundle: Option<PathBuf>,
    credentials: CredentialSource,
    project: Option<String>,
    env_project: Option<String>,
    settings: ReservationSettings,
    timeouts: Timeouts,
    home: Option<PathBuf>,
    cloudsdk_config: Option<PathBuf>,
}

impl fmt::Debug for GceBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GceBuilder")
            .field("endpoint", &self.endpoint)
            .field("ca_bundle", &self.ca_bundle)
            .field("credentials", &self.credentials)
            .field("project", &self.project)
            .field("env_project", &self.env_project)
            .field("settings", &self.settings)
            .field("timeouts", &self.timeouts)
            .finish_non_exhaustive()
    }
}

fn non_empty(s: Option<String>) -> Option<String> {
    s.map(|s| s.trim().to_string()).filter(|s| !s.is_empty())
}

impl GceBuilder {
    /// A builder with the defaults: the public endpoint, application-default credentials,
    /// specific reservations, a five-minute bound on each Operation.
    pub fn new() -> Self {
        GceBuilder::default()
    }

    /// A builder reading the process environment: `GOOGLE_APPLICATION_CREDENTIALS` (a
    /// service-account key file), `GOOGLE_CLOUD_PROJECT` / `CLOUDSDK_CORE_PROJECT`, and `HOME` /
    /// `CLOUDSDK_CONFIG` to find the application-default credentials.
    pub fn from_env() -> Self {
        GceBuilder::from_vars(|k| std::env::var(k).ok())
    }

    /// As [`GceBuilder::from_env`], with variables looked up through `var`.
    pub fn from_vars(var: impl Fn(&str) -> Option<String>) -> Self {
        GceBuilder::new().with_vars(var)
    }

    /// Takes what `var` sets of `GOOGLE_APPLICATION_CREDENTIALS`, `GOOGLE_CLOUD_PROJECT` /
    /// `CLOUDSDK_CORE_PROJECT`, `HOME` and `CLOUDSDK_CONFIG`; unset ones change nothing.
    fn with_vars(mut self, var: impl Fn(&str) -> Option<String>) -> Self {
        if let Some(path) = non_empty(var("GOOGLE_APPLICATION_CREDENTIALS")) {
            self.credentials = CredentialSource::ServiceAccountFile(PathBuf::from(path));
        }
        if let Some(project) = non_empty(var("GOOGLE_CLOUD_PROJECT"))
            .or_else(|| non_empty(var("CLOUDSDK_CORE_PROJECT")))
        {
            self.env_project = Some(project);
        }
        if let Some(home) = non_empty(var("HOME")) {
            self.home = Some(PathBuf::from(home));
        }
        if let Some(dir) = non_empty(var("CLOUDSDK_CONFIG")) {
            self.cloudsdk_config = Some(PathBuf::from(dir));
        }
        self
    }

    /// A builder from the registry's options: [`GceBuilder::new`], then
    /// [`GceBuilder::with_options`] (as `AwsBuilder::from_options`).
    pub fn from_options(options: &BackendOptions) -> Self {
        GceBuilder::new().with_options(options)
    }

    /// Applies the registry's options: the environment as [`BackendOptions::var`] sees it
    /// (overlay, then process; see [`GceBuilder::from_env`] for the variables read), and
    /// [`BackendOptions::endpoint`] / [`BackendOptions::ca_bundle_path`] (`--endpoint` else
    /// `CR_ENDPOINT`, `--ca-bundle` else `CR_CA_BUNDLE`), which win when set.
    pub fn with_options(mut self, options: &BackendOptions) -> Self {
        self = self.with_vars(|k| options.var(k));
        if let Some(endpoint) = options.endpoint() {
            self.endpoint = Some(endpoint);
        }
        if let Some(path) = options.ca_bundle_path() {
            self.ca_bundle = Some(path);
        }
        self
    }

    /// Takes `gce_project`, `gce_reservation_specific` and `gce_min_cpu_platform` from the
    /// configuration.
    pub fn with_params(mut self, params: &Params) -> Self {
        if let Some(p) = non_empty(params.gce_project.clone()) {
            self.project = Some(p);
        }
        self.settings.specific = params.gce_reservation_specific;
        if let Some(p) = params.raw_str(MIN_CPU_PLATFORM_KEY) {
            self.settings.min_cpu_platform = Some(p);
        }
        self
    }

    /// Sends every call to `endpoint` (e.g. the emulator's base URL) instead of
    /// `https://compute.googleapis.com`.
    pub fn with_endpoint(mut self, endpoint: impl Into<String>) -> Self {
        self.endpoint = Some(endpoint.into());
        self
    }

    /// Trusts the CA certificates of this PEM file too (for the API and the token endpoint).
    pub fn with_ca_bundle(mut self, path: impl Into<PathBuf>) -> Self {
        self.ca_bundle = Some(path.into());
        self
    }

    /// Authenticates with this service-account key file (its `token_uri` is honoured).
    pub fn with_service_account_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.credentials = CredentialSource::ServiceAccountFile(path.into());
        self
    }

    /// Takes access tokens from `provider` (tests inject one; so can applications that hold
    /// their own gcp_auth provider).
    pub fn with_token_provider(mut self, provider: Arc<dyn TokenProvider>) -> Self {
        self.credentials = CredentialSource::Provider(provider);
        self
    }

    /// Reserves in this project (else the environment's, else the credentials').
    pub fn with_project(mut self, project: impl Into<String>) -> Self {
        self.project = Some(project.into());
        self
    }

    /// `specificReservationRequired` of created reservations (default true).
    pub fn with_specific_reservation(mut self, specific: bool) -> Self {
        self.settings.specific = specific;
        self
    }

    /// `minCpuPlatform` of created reservations (e.g. `Intel Ice Lake`).
    pub fn with_min_cpu_platform(mut self, platform: impl Into<String>) -> Self {
        self.settings.min_cpu_platform = Some(platform.into());
        self
    }

    /// The longest wait for one insert or delete Operation (default five minutes).
    pub fn with_operation_timeout(mut self, timeout: Duration) -> Self {
        self.timeouts.operation = timeout;
        self
    }

    /// The longest one ordinary API call may take before it fails as a timeout and the
    /// engine retries it (default one minute).
    pub fn with_request_timeout(mut self, timeout: Duration) -> Self {
        self.timeouts.request = timeout;
        self
    }

    /// Validates the configuration, loads the credentials (no network call) and builds the
    /// adapter.
    pub async fn build(self) -> Result<GceAdapter> {
        let endpoint = self
            .endpoint
            .as_deref()
            .map(transport::validate_endpoint)
            .transpose()?;
        let base = base_url(endpoint.as_deref());
        if reqwest::Url::parse(&base).is_err() {
            return Err(Error::config(
                transport::ENDPOINT_SOURCE,
                "endpoint",
                endpoint.unwrap_or_default(),
                "an http:// or https:// URL with a host and no query or fragment, e.g. \
                 https://127.0.0.1:8443",
            ));
        }
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
            .map_err(|e| Error::Other(format!("cannot build the GCE HTTP client: {e}")))?;
        let credential = credential::load(
            self.credentials,
            self.ca_bundle.is_some().then(|| http.clone()),
            self.home,
            self.cloudsdk_config,
        )
        .await?;
        let mut project = self
            .project
            .or(self.env_project)
            .or(credential.project.clone());
        if project.is_none() {
            project = credential
                .provider
                .project_id()
                .await
                .ok()
                .map(|p| p.to_string());
        }
        let project = project.ok_or_else(|| {
            Error::config(
                "the --config files and SCT_GCE_PROJECT (GOOGLE_CLOUD_PROJECT is not set either, \
                 and the credentials name no project)",
                "gce_project",
                "",
                "a GCE project id: set gce_project or GOOGLE_CLOUD_PROJECT, or use credentials \
                 that name a project",
            )
        })?;
        let client = GceClient::new(http, &base, &project, credential.provider, self.timeouts);
        Ok(GceAdapter::new(client, self.settings))
    }
}

#[cfg(test)]
mod tests {
    use cr_core::ErrorKind;

    use super::*;

    #[tokio::test]
    async fn a_bad_endpoint_names_the_option_and_the_variable() {
        for bad in ["127.0.0.1:8443", "https://h?x=1", "ftp://h"] {
            let err = GceBuilder::new()
                .with_endpoint(bad)
                .build()
                .await
                .unwrap_err();
            assert_eq!(err.kind(), ErrorKind::InvalidConfig, "{bad}");
            let text = err.to_string();
            assert!(text.contains(transport::ENDPOINT_SOURCE), "{text}");
        }
    }

    #[tokio::test]
    async fn a_bad_ca_bundle_names_the_file_and_the_variable() {
        let dir = tempfile::tempdir().unwrap();
        let junk = dir.path().join("junk.pem");
        std::fs::write(&junk, "not a certificate").unwrap();
        let missing = dir.path().join("missing.pem");
        for path in [&junk, &missing] {
            let err = GceBuilder::new()
                .with_ca_bundle(path)
                .build()
                .await
                .unwrap_err();
            assert_eq!(err.kind(), ErrorKind::InvalidConfig);
            let text = err.to_string();
            assert!(text.contains(transport::CA_BUNDLE_SOURCE), "{text}");
            assert!(text.contains(&path.display().to_string()), "{text}");
        }
    }

    #[test]
    fn options_overlay_supplies_endpoint_and_ca_bundle() {
        let mut options = BackendOptions::default();
        options
            .env
            .insert("CR_ENDPOINT".into(), "http://127.0.0.1:1".into());
        options
            .env
            .insert("CR_CA_BUNDLE".into(), "/overlay/ca.pem".into());
        let b = GceBuilder::from_options(&options);
        assert_eq!(b.endpoint.as_deref(), Some("http://127.0.0.1:1"));
        assert_eq!(b.ca_bundle, Some(PathBuf::from("/overlay/ca.pem")));
        options.endpoint = Some("https://127.0.0.1:2".into());
        let b = GceBuilder::from_options(&options);
        assert_eq!(b.endpoint.as_deref(), Some("https://127.0.0.1:2"));
    }
}
