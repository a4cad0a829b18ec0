//! [`AwsBuilder`]: how the backend reaches EC2 — region, endpoint, credentials, trusted CAs,
//! timeouts, retries — and the configuration keys it reads. Setters never fail; everything
//! is validated once in [`AwsBuilder::build`].

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use aws_config::BehaviorVersion;
use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_credential_types::Credentials;
use aws_sdk_ec2::config::Region;
use aws_sdk_ec2::types::CapacityReservationInstancePlatform;
use aws_smithy_http_client::tls::rustls_provider::CryptoMode;
use aws_smithy_http_client::tls::{Provider, TlsContext, TrustStore};
use cr_core::registry::BackendOptions;
use cr_core::retry::RetryPolicy;
use cr_core::{EngineBackend, Error, Params, Result, transport};
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;

use crate::adapter::{AwsAdapter, Settings};
use crate::client::SdkEc2;
use crate::credential::CredentialSource;

/// Configuration key choosing the reservations' instance platform (default `Linux/UNIX`).
pub const INSTANCE_PLATFORM_KEY: &str = "aws_instance_platform";
/// The instance platform when [`INSTANCE_PLATFORM_KEY`] is not set.
pub const DEFAULT_INSTANCE_PLATFORM: &str = "Linux/UNIX";
/// The region that answers account-wide calls when the configuration names none.
pub const DEFAULT_REGION: &str = "us-east-1";
/// Default bound on establishing a connection.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Default bound on one attempt of one call (the engine retries a timed-out attempt).
pub const DEFAULT_ATTEMPT_TIMEOUT: Duration = Duration::from_secs(30);

/// Where extra trusted CA certificates come from.
#[derive(Clone)]
enum CaBundle {
    File(PathBuf),
    Pem(Vec<u8>),
}

/// A value with the place it was set (a file, `SCT_<KEY>`, `defaults`, an option).
#[derive(Debug, Clone)]
struct Sourced<T> {
    value: T,
    source: String,
}

/// Builds an [`AwsAdapter`] (or the whole backend).
///
/// Credentials come from aws-config's standard chain (environment, shared config and
/// credentials files with profiles, SSO, web identity, ECS and instance metadata) unless
/// [`AwsBuilder::with_credentials`] sets static keys. The endpoint is EC2's regional one
/// unless [`AwsBuilder::with_endpoint`] or `AWS_ENDPOINT_URL`/`AWS_ENDPOINT_URL_EC2` say
/// otherwise.
///
/// ```no_run
/// # async fn demo() -> cr_core::Result<()> {
/// let adapter = cr_aws::AwsBuilder::new()
///     .with_region("eu-west-1")
///     .with_endpoint("https://127.0.0.1:8443")
///     .with_ca_bundle("/tmp/emulator/ca.pem")
///     .build()
///     .await?;
/// # let _ = adapter; Ok(()) }
/// ```
#[derive(Clone)]
pub struct AwsBuilder {
    region: Option<String>,
    /// `AWS_REGION` / `AWS_DEFAULT_REGION`: used when neither the configuration nor
    /// [`AwsBuilder::with_region`] names a region.
    env_region: Option<String>,
    endpoint: Option<String>,
    credential: CredentialSource,
    ca_bundle: Option<CaBundle>,
    retry: RetryPolicy,
    instance_platform: Option<Sourced<String>>,
    use_placement_group: Sourced<bool>,
    connect_timeout: Duration,
    attempt_timeout: Duration,
}

impl Default for AwsBuilder {
    fn default() -> Self {
        AwsBuilder {
            region: None,
            env_region: None,
            endpoint: None,
            credential: CredentialSource::default(),
            ca_bundle: None,
            retry: RetryPolicy::default(),
            instance_platform: None,
            use_placement_group: Sourced {
                value: false,
                source: "defaults".into(),
            },
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            attempt_timeout: DEFAULT_ATTEMPT_TIMEOUT,
        }
    }
}

impl fmt::Debug for AwsBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AwsBuilder")
            .field("region", &self.region)
            .field("env_region", &self.env_region)
            .field("endpoint", &self.endpoint)
            .field("credential", &self.credential)
            .field(
                "ca_bundle",
                &self.ca_bundle.as_ref().map(|c| match c {
                    CaBundle::File(p) => p.display().to_string(),
                    CaBundle::Pem(_) => "PEM in memory".to_string(),
                }),
            )
            .field("retry", &self.retry)
            .field("instance_platform", &self.instance_platform)
            .field("use_placement_group", &self.use_placement_group)
            .field("connect_timeout", &self.connect_timeout)
            .field("attempt_timeout", &self.attempt_timeout)
            .finish()
    }
}

impl AwsBuilder {
    /// A builder with the defaults: standard credential chain, EC2's own endpoints.
    pub fn new() -> Self {
        Self::default()
    }

    /// A builder that also reads the process environment: `AWS_REGION` /
    /// `AWS_DEFAULT_REGION` (the region for account-wide calls when the configuration names
    /// none) and `AWS_CA_BUNDLE` (extra trusted CAs, as the AWS CLI reads it). aws-config
    /// reads the rest of the environment (credentials, `AWS_PROFILE`, `AWS_ENDPOINT_URL`)
    /// itself when the backend is built.
    pub fn from_env() -> Self {
        Self::new().with_env(|k| std::env::var(k).ok())
    }

    /// A builder from the registry's options: [`AwsBuilder::from_env`], then
    /// [`AwsBuilder::with_options`] (as `GceBuilder::from_options`).
    pub fn from_options(options: &BackendOptions) -> Self {
        Self::from_env().with_options(options)
    }

    /// Reads `AWS_REGION`/`AWS_DEFAULT_REGION` and `AWS_CA_BUNDLE` through `var`.
    fn with_env(mut self, var: impl Fn(&str) -> Option<String>) -> Self {
        let var = |k: &str| var(k).filter(|v| !v.trim().is_empty());
        if let Some(region) = var("AWS_REGION").or_else(|| var("AWS_DEFAULT_REGION")) {
            self.env_region = Some(region);
        }
        if let Some(path) = var("AWS_CA_BUNDLE") {
            self.ca_bundle = Some(CaBundle::File(path.into()));
        }
        self
    }

    /// Reads the configuration keys of this backend: the first `region_name` (account-wide
    /// calls go there), `use_placement_group`, and `aws_instance_platform`.
    pub fn with_params(mut self, params: &Params) -> Self {
        let source = |key: &str| {
            params
                .raw
                .get(key)
                .map(|v| v.source.clone())
                .unwrap_or_else(|| "defaults".into())
        };
        if let Some(region) = params.region_name.first() {
            self.region = Some(region.clone());
        }
        self.use_placement_group = Sourced {
            value: params.use_placement_group,
            source: source("use_placement_group"),
        };
        if let Some(platform) = params.raw_str(INSTANCE_PLATFORM_KEY) {
            self.instance_platform = Some(Sourced {
                value: platform,
                source: source(INSTANCE_PLATFORM_KEY),
            });
        }
        self
    }

    /// Applies the command-line options: endpoint, CA bundle, retry policy, and the
    /// environment as [`BackendOptions::var`] sees it (its overlay first, then the process):
    /// `AWS_ACCESS_KEY_ID` / `AWS_SECRET_ACCESS_KEY` / `AWS_SESSION_TOKEN` (static keys),
    /// `AWS_PROFILE`, `AWS_REGION`, `AWS_ENDPOINT_URL_EC2` / `AWS_ENDPOINT_URL`, and
    /// `AWS_CA_BUNDLE`. cr's own [`BackendOptions::endpoint`] (`--endpoint`, else
    /// `CR_ENDPOINT`) and [`BackendOptions::ca_bundle_path`] (`--ca-bundle`, else
    /// `CR_CA_BUNDLE`) win over the AWS variables, as on every cloud.
    pub fn with_options(mut self, options: &BackendOptions) -> Self {
        let overlay = |k: &str| options.var(k).filter(|v| !v.trim().is_empty());
        self = self.with_env(overlay);
        if let (Some(id), Some(secret)) = (
            overlay("AWS_ACCESS_KEY_ID"),
            overlay("AWS_SECRET_ACCESS_KEY"),
        ) {
            self = self.with_credentials(id, secret, overlay("AWS_SESSION_TOKEN"));
        }
        if let Some(profile) = overlay("AWS_PROFILE") {
            self.credential.profile = Some(profile);
        }
        if let Some(endpoint) =
            overlay("AWS_ENDPOINT_URL_EC2").or_else(|| overlay("AWS_ENDPOINT_URL"))
        {
            self.endpoint = Some(endpoint);
        }
        if let Some(endpoint) = options.endpoint() {
            self.endpoint = Some(endpoint);
        }
        if let Some(path) = options.ca_bundle_path() {
            self.ca_bundle = Some(CaBundle::File(path));
        }
        self.retry = options.retry.clone();
        self
    }

    /// The region for account-wide calls (DescribeRegions).
    pub fn with_region(mut self, region: impl Into<String>) -> Self {
        self.region = Some(region.into());
        self
    }

    /// Sends every call to `url` (e.g. the emulator) instead of EC2's regional endpoints.
    pub fn with_endpoint(mut self, url: impl Into<String>) -> Self {
        self.endpoint = Some(url.into());
        self
    }

    /// Signs with these static keys instead of the standard credential chain.
    pub fn with_credentials(
        mut self,
        access_key_id: impl Into<String>,
        secret_access_key: impl Into<String>,
        session_token: Option<String>,
    ) -> Self {
        self.credential.credentials = Some(Credentials::new(
            access_key_id,
            secret_access_key,
            session_token,
            None,
            "cr-static",
        ));
        self
    }

    /// Uses this profile of the shared config files instead of `AWS_PROFILE`/`default`.
    pub fn with_profile(mut self, profile: impl Into<String>) -> Self {
        self.credential.profile = Some(profile.into());
        self
    }

    /// Also trusts the CA certificates in this PEM file (besides the system's).
    pub fn with_ca_bundle(mut self, path: impl Into<PathBuf>) -> Self {
        self.ca_bundle = Some(CaBundle::File(path.into()));
        self
    }

    /// Also trusts these PEM-encoded CA certificates (besides the system's).
    pub fn with_ca_pem(mut self, pem: impl Into<Vec<u8>>) -> Self {
        self.ca_bundle = Some(CaBundle::Pem(pem.into()));
        self
    }

    /// The engine's retry policy for throttled and transient failures. The SDK itself never
    /// retries, so every attempt is the engine's and counts are honest.
    pub fn with_retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    /// The instance platform of every reservation (default `Linux/UNIX`).
    pub fn with_instance_platform(mut self, platform: impl Into<String>) -> Self {
        self.instance_platform = Some(Sourced {
            value: platform.into(),
            source: "builder".into(),
        });
        self
    }

    /// Whether reservations go into the test's placement group (found by its TestId tag).
    pub fn with_placement_group(mut self, on: bool) -> Self {
        self.use_placement_group = Sourced {
            value: on,
            source: "builder".into(),
        };
        self
    }

    /// Bounds on connecting and on one attempt of one call.
    pub fn with_timeouts(mut self, connect: Duration, attempt: Duration) -> Self {
        self.connect_timeout = connect;
        self.attempt_timeout = attempt;
        self
    }

    /// Validates everything and builds the adapter (reads credentials lazily: no cloud call).
    pub async fn build(self) -> Result<AwsAdapter> {
        let settings = self.settings()?;
        let ca_pem = self.ca_pem()?;
        let endpoint = self
            .endpoint
            .as_deref()
            .map(transport::validate_endpoint)
            .transpose()?;
        let mut loader = aws_config::defaults(BehaviorVersion::latest())
            // An explicit region keeps aws-config from probing instance metadata for one;
            // each call names its own region anyway.
            .region(Region::new(settings.home_region.clone()))
            .retry_config(RetryConfig::disabled())
            .timeout_config(
                TimeoutConfig::builder()
                    .connect_timeout(self.connect_timeout)
                    .operation_attempt_timeout(self.attempt_timeout)
                    .build(),
            );
        if let Some(endpoint) = endpoint {
            loader = loader.endpoint_url(endpoint);
        }
        loader = self.credential.configure(loader);
        if let Some(pem) = ca_pem {
            let tls = TlsContext::builder()
                .with_trust_store(TrustStore::default().with_pem_certificate(pem))
                .build()
                .map_err(|e| Error::Other(format!("cannot set up TLS for EC2: {e}")))?;
            let client = aws_smithy_http_client::Builder::new()
                .tls_provider(Provider::Rustls(CryptoMode::AwsLc))
                .tls_context(tls)
                .build_https();
            loader = loader.http_client(client);
        }
        let config = self.credential.finish(loader.load().await);
        Ok(AwsAdapter::new(Arc::new(SdkEc2::new(config)), settings))
    }

    /// Builds the whole backend: the adapter driven by the engine with this retry policy.
    pub async fn build_backend(self) -> Result<EngineBackend> {
        let retry = self.retry.clone();
        let adapter = self.build().await?;
        Ok(EngineBackend::new(Arc::new(adapter), retry))
    }

    fn settings(&self) -> Result<Settings> {
        let home_region = self
            .region
            .clone()
            .or_else(|| self.env_region.clone())
            .unwrap_or_else(|| DEFAULT_REGION.to_string());
        if home_region.is_empty()
            || !home_region
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        {
            return Err(Error::config(
                "configuration",
                "region_name",
                home_region,
                "an AWS region name such as us-east-1",
            ));
        }
        let instance_platform = match &self.instance_platform {
            None => CapacityReservationInstancePlatform::from(DEFAULT_INSTANCE_PLATFORM),
            Some(p) => {
                let known = CapacityReservationInstancePlatform::values();
                if !known.contains(&p.value.as_str()) {
                    return Err(Error::config(
                        p.source.clone(),
                        INSTANCE_PLATFORM_KEY,
                        p.value.clone(),
                        format!("one of: {}", known.join(", ")),
                    ));
                }
                CapacityReservationInstancePlatform::from(p.value.as_str())
            }
        };
        Ok(Settings {
            home_region,
            instance_platform,
            use_placement_group: self.use_placement_group.value,
            placement_group_source: self.use_placement_group.source.clone(),
            pacing_endpoint: self.endpoint.clone().unwrap_or_else(|| "ec2".into()),
        })
    }

    /// The extra CA certificates, checked here: the SDK's TLS layer panics on bad PEM.
    fn ca_pem(&self) -> Result<Option<Vec<u8>>> {
        let (pem, origin) = match &self.ca_bundle {
            None => return Ok(None),
            Some(CaBundle::Pem(pem)) => {
                let origin = "the CA certificates given".to_string();
                transport::check_ca_pem(pem, &origin)?;
                (pem.clone(), origin)
            }
            Some(CaBundle::File(path)) => {
                (transport::load_ca_bundle(path)?, path.display().to_string())
            }
        };
        let bad = |why: String| transport::invalid_ca_bundle(&origin, why);
        let certs = CertificateDer::pem_slice_iter(&pem)
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(|e| bad(e.to_string()))?;
        if certs.is_empty() {
            return Err(bad("no usable CERTIFICATE block".into()));
        }
        let mut roots = rustls::RootCertStore::empty();
        for cert in certs {
            roots.add(cert).map_err(|e| bad(e.to_string()))?;
        }
        Ok(Some(pem))
    }
}

#[cfg(test)]
mod tests {
    use cr_core::ErrorKind;

    use super::*;

    #[tokio::test]
    async fn rejects_unknown_platform_naming_the_key() {
        let err = AwsBuilder::new()
            .with_instance_platform("Plan 9")
            .build()
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidConfig);
        let text = err.to_string();
        assert!(text.contains(INSTANCE_PLATFORM_KEY), "{text}");
        assert!(text.contains("Linux/UNIX"), "{text}");
    }

    #[tokio::test]
    async fn rejects_bad_endpoint_and_bad_ca() {
        let err = AwsBuilder::new()
            .with_endpoint("127.0.0.1:8443")
            .build()
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidConfig);
        assert!(
            err.to_string().contains(transport::ENDPOINT_SOURCE),
            "{err}"
        );

        let err = AwsBuilder::new()
            .with_ca_pem(b"not a certificate".to_vec())
            .build()
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidConfig);

        let err = AwsBuilder::new()
            .with_ca_bundle("/nonexistent/cr-aws-ca.pem")
            .build()
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidConfig);
        assert!(err.to_string().contains("/nonexistent/cr-aws-ca.pem"));
        assert!(
            err.to_string().contains(transport::CA_BUNDLE_SOURCE),
            "{err}"
        );
    }

    #[tokio::test]
    async fn debug_hides_static_secret() {
        let b = AwsBuilder::new()
            .with_region("us-east-1")
            .with_endpoint("http://127.0.0.1:1")
            .with_credentials(
                "AKIDEXAMPLE",
                "very-secret-key",
                Some("session-token-sentinel".into()),
            );
        let text = format!("{b:?}");
        assert!(!text.contains("very-secret-key"), "{text}");
        assert!(!text.contains("session-token-sentinel"), "{text}");
        assert!(text.contains("redacted"), "{text}");
        // The adapter built from it (its SDK configuration holds the keys) neither.
        let adapter = b.build().await.expect("builds without a cloud call");
        let text = format!("{adapter:?}");
        for secret in ["very-secret-key", "session-token-sentinel"] {
            assert!(!text.contains(secret), "{text}");
        }
    }

    #[test]
    fn options_overlay_wins_and_explicit_options_win_over_it() {
        let mut options = BackendOptions::default();
        // Empty overlay values mask the process's (a CI job may export the emulator's).
        options.env.insert("CR_ENDPOINT".into(), String::new());
        options.env.insert("CR_CA_BUNDLE".into(), String::new());
        options
            .env
            .insert("AWS_ACCESS_KEY_ID".into(), "AKIDOVERLAY".into());
        options
            .env
            .insert("AWS_SECRET_ACCESS_KEY".into(), "overlay-secret".into());
        options.env.insert("AWS_REGION".into(), "eu-north-1".into());
        options
            .env
            .insert("AWS_ENDPOINT_URL".into(), "http://127.0.0.1:1".into());
        let b = AwsBuilder::new().with_options(&options);
        assert_eq!(b.endpoint.as_deref(), Some("http://127.0.0.1:1"));
        assert_eq!(
            b.credential.credentials.as_ref().map(|c| c.access_key_id()),
            Some("AKIDOVERLAY")
        );
        assert_eq!(b.settings().unwrap().home_region, "eu-north-1");
        // The configuration's region wins over the environment's.
        let b = b.with_region("ap-south-1");
        assert_eq!(b.settings().unwrap().home_region, "ap-south-1");

        options.endpoint = Some("https://127.0.0.1:2".into());
        let b = AwsBuilder::new().with_options(&options);
        assert_eq!(b.endpoint.as_deref(), Some("https://127.0.0.1:2"));
    }

    #[test]
    fn cr_endpoint_and_cr_ca_bundle_in_the_overlay_are_honoured() {
        let mut options = BackendOptions::default();
        options
            .env
            .insert("AWS_ENDPOINT_URL".into(), "http://127.0.0.1:1".into());
        options
            .env
            .insert("CR_ENDPOINT".into(), "https://127.0.0.1:3".into());
        options
            .env
            .insert("AWS_CA_BUNDLE".into(), "/aws/ca.pem".into());
        options
            .env
            .insert("CR_CA_BUNDLE".into(), "/cr/ca.pem".into());
        let b = AwsBuilder::new().with_options(&options);
        // cr's own variable wins over the AWS-wide one, as on every cloud.
        assert_eq!(b.endpoint.as_deref(), Some("https://127.0.0.1:3"));
        assert!(
            matches!(&b.ca_bundle, Some(CaBundle::File(p)) if p == std::path::Path::new("/cr/ca.pem"))
        );
        // Only CR_ENDPOINT: AWS used to ignore it.
        let mut options = BackendOptions::default();
        options
            .env
            .insert("CR_ENDPOINT".into(), "https://127.0.0.1:4/".into());
        let b = AwsBuilder::new().with_options(&options);
        assert_eq!(b.endpoint.as_deref(), Some("https://127.0.0.1:4/"));
    }

    #[tokio::test]
    async fn endpoint_and_ca_errors_read_as_on_gce() {
        // The same text as cr-gce's: both come from cr_core::transport.
        let err = AwsBuilder::new()
            .with_endpoint("https://h?x=1")
            .build()
            .await
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            transport::validate_endpoint("https://h?x=1")
                .unwrap_err()
                .to_string()
        );
        let path = std::env::temp_dir().join(format!("cr-aws-junk-{}.pem", std::process::id()));
        std::fs::write(&path, "not a certificate").unwrap();
        let err = AwsBuilder::new()
            .with_ca_bundle(&path)
            .build()
            .await
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            transport::load_ca_bundle(&path).unwrap_err().to_string()
        );
        std::fs::remove_file(&path).unwrap();
    }

    #[test]
    fn region_defaults_and_validates() {
        let s = AwsBuilder::new().settings().unwrap();
        assert_eq!(s.home_region, DEFAULT_REGION);
        assert_eq!(s.instance_platform.as_str(), DEFAULT_INSTANCE_PLATFORM);
        let err = AwsBuilder::new()
            .with_region("US East")
            .settings()
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidConfig);
    }
}
