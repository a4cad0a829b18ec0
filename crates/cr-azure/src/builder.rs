//! [`AzureBuilder`]: configuration of the Azure backend. Setters never fail; everything is
//! validated once, in [`AzureBuilder::build`].

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use azure_core::credentials::{Secret, TokenCredential};
use azure_core::http::{HttpClient, Transport};
use cr_core::registry::BackendOptions;
use cr_core::{Error, Params, Result, transport};

use crate::adapter::{AzureAdapter, Placement};
use crate::client::{ArmClient, Timeouts};
use crate::credential::{ChainCredential, CredentialEnv, Sovereign};

/// The raw configuration key of the subscription (else `AZURE_SUBSCRIPTION_ID`).
pub const SUBSCRIPTION_KEY: &str = "azure_subscription_id";
/// The raw configuration key of a resource group cr uses but never creates nor deletes.
pub const RESOURCE_GROUP_KEY: &str = "azure_resource_group";
/// The raw configuration key allowing a regional (zone-less) reservation when every zone is
/// out of capacity (default false).
pub const REGIONAL_FALLBACK_KEY: &str = "azure_regional_fallback";

/// Builds an [`AzureAdapter`].
///
/// ```no_run
/// # async fn f() -> cr_core::Result<()> {
/// let adapter = cr_azure::AzureBuilder::from_env()
///     .with_subscription("00000000-0000-0000-0000-000000000000")
///     .build()
///     .await?;
/// # Ok(()) }
/// ```
#[derive(Clone, Default)]
pub struct AzureBuilder {
    endpoint: Option<String>,
    ca_bundle: Option<PathBuf>,
    authority_host: Option<String>,
    env: CredentialEnv,
    credential: Option<Arc<dyn TokenCredential>>,
    http_client: Option<Arc<dyn HttpClient>>,
    subscription: Option<String>,
    env_subscription: Option<String>,
    placement: Placement,
    timeouts: Timeouts,
}

impl fmt::Debug for AzureBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AzureBuilder")
            .field("endpoint", &self.endpoint)
            .field("ca_bundle", &self.ca_bundle)
            .field("authority_host", &self.authority_host)
            .field("env", &self.env)
            .field("credential", &self.credential.as_ref().map(|_| "supplied"))
            .field(
                "http_client",
                &self.http_client.as_ref().map(|_| "supplied"),
            )
            .field("subscription", &self.subscription)
            .field("env_subscription", &self.env_subscription)
            .field("placement", &self.placement)
            .field("timeouts", &self.timeouts)
            .finish()
    }
}

fn non_empty(s: Option<String>) -> Option<String> {
    s.map(|s| s.trim().to_string()).filter(|s| !s.is_empty())
}

impl AzureBuilder {
    /// A builder with the defaults: the public cloud, the credential chain probing managed
    /// identity and the Azure CLI.
    pub fn new() -> Self {
        AzureBuilder {
            env: CredentialEnv {
                managed_identity: true,
                azure_cli: true,
                ..CredentialEnv::default()
            },
            ..AzureBuilder::default()
        }
    }

    /// A builder reading the process environment: `AZURE_TENANT_ID`, `AZURE_CLIENT_ID`,
    /// `AZURE_CLIENT_SECRET`, `AZURE_FEDERATED_TOKEN_FILE`, `AZURE_AUTHORITY_HOST`,
    /// `AZURE_SUBSCRIPTION_ID`.
    pub fn from_env() -> Self {
        AzureBuilder::new().with_vars(|k| std::env::var(k).ok())
    }

    fn with_vars(mut self, var: impl Fn(&str) -> Option<String>) -> Self {
        if let Some(v) = non_empty(var("AZURE_TENANT_ID")) {
            self.env.tenant_id = Some(v);
        }
        if let Some(v) = non_empty(var("AZURE_CLIENT_ID")) {
            self.env.client_id = Some(v);
        }
        if let Some(v) = var("AZURE_CLIENT_SECRET").filter(|s| !s.is_empty()) {
            self.env.client_secret = Some(Secret::new(v));
        }
        if let Some(v) = non_empty(var("AZURE_FEDERATED_TOKEN_FILE")) {
            self.env.federated_token_file = Some(PathBuf::from(v));
        }
        if let Some(v) = non_empty(var("AZURE_AUTHORITY_HOST")) {
            self.authority_host = Some(v);
        }
        if let Some(v) = non_empty(var("AZURE_SUBSCRIPTION_ID")) {
            self.env_subscription = Some(v);
        }
        self
    }

    /// A builder from the registry's options: [`AzureBuilder::new`], then
    /// [`AzureBuilder::with_options`].
    pub fn from_options(options: &BackendOptions) -> Self {
        AzureBuilder::new().with_options(options)
    }

    /// Applies the registry's options: the environment as [`BackendOptions::var`] sees it
    /// (see [`AzureBuilder::from_env`] for the variables), and `--endpoint` / `CR_ENDPOINT`,
    /// `--ca-bundle` / `CR_CA_BUNDLE`, which win when set.
    pub fn with_options(mut self, options: &BackendOptions) -> Self {
        self = self.with_vars(|k| options.var(k));
        if let Some(e) = options.endpoint() {
            self.endpoint = Some(e);
        }
        if let Some(p) = options.ca_bundle_path() {
            self.ca_bundle = Some(p);
        }
        self
    }

    /// Takes `azure_subscription_id`, `azure_resource_group`,
    /// `azure_capacity_reservation_group` and `azure_regional_fallback` from the
    /// configuration.
    pub fn with_params(mut self, params: &Params) -> Self {
        if let Some(s) = params.raw_str(SUBSCRIPTION_KEY) {
            self.subscription = non_empty(Some(s));
        }
        if let Some(rg) = non_empty(params.raw_str(RESOURCE_GROUP_KEY)) {
            self.placement.resource_group = Some(rg);
        }
        if let Some(g) = non_empty(params.azure_capacity_reservation_group.clone()) {
            self.placement.group = Some(g);
        }
        if let Some(v) = params.raw_str(REGIONAL_FALLBACK_KEY) {
            self.placement.regional_fallback =
                matches!(v.to_ascii_lowercase().as_str(), "true" | "yes" | "1");
        }
        self
    }

    /// Allows a regional (zone-less) reservation as the last resort when every zone is out
    /// of capacity (`azure_regional_fallback`; default false).
    pub fn with_regional_fallback(mut self, allowed: bool) -> Self {
        self.placement.regional_fallback = allowed;
        self
    }

    /// Sends every ARM call to `endpoint` (e.g. the emulator) instead of the cloud's.
    pub fn with_endpoint(mut self, endpoint: impl Into<String>) -> Self {
        self.endpoint = Some(endpoint.into());
        self
    }

    /// Trusts the CA certificates of this PEM file too (ARM and the token endpoint).
    pub fn with_ca_bundle(mut self, path: impl Into<PathBuf>) -> Self {
        self.ca_bundle = Some(path.into());
        self
    }

    /// The Entra ID authority host (as `AZURE_AUTHORITY_HOST`): the public, US Government
    /// or China cloud's, or any other (the emulator's).
    pub fn with_authority_host(mut self, host: impl Into<String>) -> Self {
        self.authority_host = Some(host.into());
        self
    }

    /// Authenticates as this service principal (client secret).
    pub fn with_client_secret(
        mut self,
        tenant_id: impl Into<String>,
        client_id: impl Into<String>,
        secret: impl Into<String>,
    ) -> Self {
        self.env.tenant_id = Some(tenant_id.into());
        self.env.client_id = Some(client_id.into());
        self.env.client_secret = Some(Secret::new(secret.into()));
        self
    }

    /// Takes tokens from `credential` instead of the chain.
    pub fn with_token_credential(mut self, credential: Arc<dyn TokenCredential>) -> Self {
        self.credential = Some(credential);
        self
    }

    /// Sends ARM calls through `client` instead of cr's reqwest transport (tests inject a
    /// mock; the endpoint and credential settings still apply).
    pub fn with_http_client(mut self, client: Arc<dyn HttpClient>) -> Self {
        self.http_client = Some(client);
        self
    }

    /// Whether the chain probes managed identity and the Azure CLI after the environment's
    /// credentials (default true).
    pub fn with_probes(mut self, probe: bool) -> Self {
        self.env.managed_identity = probe;
        self.env.azure_cli = probe;
        self
    }

    /// Reserves in this subscription (else `azure_subscription_id`, else
    /// `AZURE_SUBSCRIPTION_ID`).
    pub fn with_subscription(mut self, subscription: impl Into<String>) -> Self {
        self.subscription = Some(subscription.into());
        self
    }

    /// Uses this resource group (never created nor deleted by cr).
    pub fn with_resource_group(mut self, rg: impl Into<String>) -> Self {
        self.placement.resource_group = Some(rg.into());
        self
    }

    /// The longest one API call may take before it fails as a timeout (default one minute).
    pub fn with_request_timeout(mut self, timeout: Duration) -> Self {
        self.timeouts.request = timeout;
        self
    }

    /// The longest wait for one delete operation (default ten minutes).
    pub fn with_operation_timeout(mut self, timeout: Duration) -> Self {
        self.timeouts.operation = timeout;
        self
    }

    /// The longest pause between two polls of an operation, whatever its Retry-After asks
    /// (default 30 s).
    pub fn with_max_poll_interval(mut self, interval: Duration) -> Self {
        self.timeouts.max_poll_interval = interval;
        self
    }

    /// Validates the configuration, sets up the credentials (no network call) and builds the
    /// adapter.
    pub async fn build(self) -> Result<AzureAdapter> {
        let endpoint = self
            .endpoint
            .as_deref()
            .map(transport::validate_endpoint)
            .transpose()?;
        let cloud = match &self.authority_host {
            Some(host) => {
                let v = transport::validate_endpoint(host).map_err(|_| {
                    Error::config(
                        "AZURE_AUTHORITY_HOST",
                        "AZURE_AUTHORITY_HOST",
                        host.clone(),
                        "an https:// URL such as https://login.microsoftonline.us",
                    )
                })?;
                Sovereign::of_authority_host(&v)
            }
            None => Sovereign::Public,
        };
        let base = endpoint.unwrap_or_else(|| cloud.arm_endpoint().to_string());
        let mut http = reqwest::Client::builder()
            .connect_timeout(self.timeouts.connect)
            .timeout(self.timeouts.request)
            .user_agent(concat!("cr/", env!("CARGO_PKG_VERSION")));
        let mut probe = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(2))
            .timeout(Duration::from_secs(10));
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
            http = http.tls_certs_merge(certs.clone());
            probe = probe.tls_certs_merge(certs);
        }
        let client_error =
            |e: reqwest::Error| Error::Other(format!("cannot build the Azure HTTP client: {e}"));
        let http = http.build().map_err(client_error)?;
        let probe = probe.build().map_err(client_error)?;
        let credential: Arc<ChainCredential> = match self.credential {
            Some(c) => Arc::new(ChainCredential::single(c)),
            None => Arc::new(ChainCredential::from_env(
                &self.env,
                &cloud,
                http.clone(),
                probe,
            )?),
        };
        let subscription = self.subscription.or(self.env_subscription).ok_or_else(|| {
            Error::config(
                "configuration",
                SUBSCRIPTION_KEY,
                "",
                "an Azure subscription id (the key azure_subscription_id or the variable \
                     AZURE_SUBSCRIPTION_ID)",
            )
        })?;
        let transport = match self.http_client {
            Some(c) => Transport::new(c),
            None => Transport::new(Arc::new(http)),
        };
        let client = ArmClient::new(
            transport,
            &base,
            &subscription,
            credential,
            cloud.arm_scope(),
            self.timeouts,
        );
        Ok(AzureAdapter::new(client, self.placement))
    }
}

#[cfg(test)]
mod tests {
    use cr_core::ErrorKind;

    use super::*;

    #[tokio::test]
    async fn bad_endpoints_and_missing_subscriptions_are_configuration_errors() {
        for bad in ["127.0.0.1:8443", "https://h?x=1", "ftp://h"] {
            let err = AzureBuilder::new()
                .with_probes(false)
                .with_subscription("s")
                .with_endpoint(bad)
                .build()
                .await
                .unwrap_err();
            assert_eq!(err.kind(), ErrorKind::InvalidConfig, "{bad}");
            assert!(err.to_string().contains(transport::ENDPOINT_SOURCE));
        }
        let err = AzureBuilder::new()
            .with_probes(false)
            .build()
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidConfig);
        let text = err.to_string();
        assert!(text.contains("azure_subscription_id"), "{text}");
        assert!(text.contains("AZURE_SUBSCRIPTION_ID"), "{text}");
    }

    #[tokio::test]
    async fn a_bad_ca_bundle_names_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let junk = dir.path().join("junk.pem");
        std::fs::write(&junk, "not a certificate").unwrap();
        let err = AzureBuilder::new()
            .with_probes(false)
            .with_subscription("s")
            .with_ca_bundle(&junk)
            .build()
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidConfig);
        assert!(err.to_string().contains(&junk.display().to_string()));
    }

    #[test]
    fn options_overlay_supplies_credentials_without_showing_the_secret() {
        let mut options = BackendOptions::default();
        for (k, v) in [
            ("AZURE_TENANT_ID", "tenant"),
            ("AZURE_CLIENT_ID", "client"),
            ("AZURE_CLIENT_SECRET", "hunter2-secret"),
            ("AZURE_SUBSCRIPTION_ID", "sub"),
            ("AZURE_AUTHORITY_HOST", "https://127.0.0.1:1/"),
            ("CR_ENDPOINT", "https://127.0.0.1:1"),
        ] {
            options.env.insert(k.into(), v.into());
        }
        let b = AzureBuilder::from_options(&options);
        assert_eq!(b.env.tenant_id.as_deref(), Some("tenant"));
        assert_eq!(b.env_subscription.as_deref(), Some("sub"));
        assert_eq!(b.endpoint.as_deref(), Some("https://127.0.0.1:1"));
        let text = format!("{b:?}");
        assert!(!text.contains("hunter2"), "{text}");
        assert!(text.contains("tenant"), "{text}");
    }
}
