//! Entra ID credentials, tried in the order users of other Azure tools expect (azure_identity
//! 1.x has no `DefaultAzureCredential`, so the chain is built here): client secret
//! (`AZURE_TENANT_ID` / `AZURE_CLIENT_ID` / `AZURE_CLIENT_SECRET`), workload identity
//! (`AZURE_FEDERATED_TOKEN_FILE`), managed identity, Azure CLI.
//!
//! A credential the environment configures (the first two) and that fails stops the chain
//! with its own error (a wrong secret is not a reason to try the VM's identity); the others
//! are probes, and when every probe fails the error lists what was tried. Secrets live in
//! azure_core's [`Secret`], whose Debug is redacted; no error repeats one.

use std::fmt;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use azure_core::cloud::{CloudConfiguration, CustomConfiguration};
use azure_core::credentials::{AccessToken, Secret, TokenCredential, TokenRequestOptions};
use azure_core::http::{ClientOptions, RetryOptions, Transport};
use azure_identity::{
    AzureCliCredential, ClientAssertionCredentialOptions, ClientSecretCredential,
    ClientSecretCredentialOptions, ManagedIdentityCredential, ManagedIdentityCredentialOptions,
    UserAssignedId, WorkloadIdentityCredential, WorkloadIdentityCredentialOptions,
};
use cr_core::error::ErrorKind;
use cr_core::transport::error_sources;
use cr_core::{Error, Result};

/// The public cloud's authority host.
pub const PUBLIC_AUTHORITY_HOST: &str = "https://login.microsoftonline.com";

/// Which Azure cloud (the authority host and the ARM endpoint go together).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Sovereign {
    Public,
    Government,
    China,
    /// Any other authority host (e.g. the emulator's), with the public ARM audience.
    Custom(String),
}

impl Sovereign {
    /// The cloud of an `AZURE_AUTHORITY_HOST` value.
    pub(crate) fn of_authority_host(host: &str) -> Sovereign {
        let trimmed = host.trim().trim_end_matches('/');
        let bare = trimmed
            .strip_prefix("https://")
            .unwrap_or(trimmed)
            .to_ascii_lowercase();
        match bare.as_str() {
            "login.microsoftonline.com" => Sovereign::Public,
            "login.microsoftonline.us" => Sovereign::Government,
            "login.chinacloudapi.cn" => Sovereign::China,
            _ => Sovereign::Custom(format!("{trimmed}/")),
        }
    }

    /// The ARM endpoint of this cloud.
    pub(crate) fn arm_endpoint(&self) -> &'static str {
        match self {
            Sovereign::Government => "https://management.usgovcloudapi.net",
            Sovereign::China => "https://management.chinacloudapi.cn",
            Sovereign::Public | Sovereign::Custom(_) => "https://management.azure.com",
        }
    }

    /// The OAuth scope of ARM in this cloud.
    pub(crate) fn arm_scope(&self) -> String {
        format!("{}/.default", self.arm_endpoint())
    }

    fn configuration(&self) -> CloudConfiguration {
        match self {
            Sovereign::Public => CloudConfiguration::AzurePublic,
            Sovereign::Government => CloudConfiguration::AzureGovernment,
            Sovereign::China => CloudConfiguration::AzureChina,
            Sovereign::Custom(host) => {
                let mut c = CustomConfiguration::default();
                c.authority_host = host.clone();
                CloudConfiguration::from(c)
            }
        }
    }
}

/// What the environment said about credentials (read once by the builder).
#[derive(Clone, Default)]
pub(crate) struct CredentialEnv {
    pub(crate) tenant_id: Option<String>,
    pub(crate) client_id: Option<String>,
    pub(crate) client_secret: Option<Secret>,
    pub(crate) federated_token_file: Option<PathBuf>,
    /// Whether managed identity is probed (default true).
    pub(crate) managed_identity: bool,
    /// Whether the Azure CLI is asked (default true).
    pub(crate) azure_cli: bool,
}

impl fmt::Debug for CredentialEnv {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CredentialEnv")
            .field("tenant_id", &self.tenant_id)
            .field("client_id", &self.client_id)
            .field(
                "client_secret",
                &self.client_secret.as_ref().map(|_| "<redacted>"),
            )
            .field("federated_token_file", &self.federated_token_file)
            .field("managed_identity", &self.managed_identity)
            .field("azure_cli", &self.azure_cli)
            .finish()
    }
}

/// A token failure, classified like any other call: carried inside the azure_core error the
/// bearer-token policy returns, and found again by [`crate::error::classify_pipeline`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TokenFailure {
    pub(crate) kind: ErrorKind,
    pub(crate) code: String,
    pub(crate) message: String,
    pub(crate) retry_after: Option<Duration>,
}

impl fmt::Display for TokenFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for TokenFailure {}

impl TokenFailure {
    /// Classifies a credential's failure: throttled or transient when the token endpoint
    /// answered 429 / 5xx or could not be reached, unauthorized otherwise.
    fn of(name: &str, err: &azure_core::Error) -> TokenFailure {
        let mut kind = ErrorKind::Unauthorized;
        for e in error_sources(err) {
            if let Some(az) = e.downcast_ref::<azure_core::Error>() {
                match az.kind() {
                    azure_core::error::ErrorKind::HttpResponse { status, .. } => {
                        let s = u16::from(*status);
                        if s == 429 {
                            kind = ErrorKind::Throttled;
                        } else if s >= 500 {
                            kind = ErrorKind::Transient;
                        }
                    }
                    azure_core::error::ErrorKind::Io | azure_core::error::ErrorKind::Connection => {
                        kind = ErrorKind::Transient
                    }
                    _ => {}
                }
            }
            if let Some(r) = e.downcast_ref::<reqwest::Error>() {
                kind = if r.is_timeout() {
                    ErrorKind::Timeout
                } else {
                    ErrorKind::Transient
                };
            }
        }
        TokenFailure {
            kind,
            code: name.to_string(),
            message: format!(
                "{name} could not get an Entra ID token: {}",
                cr_core::transport::error_text(err)
            ),
            retry_after: None,
        }
    }

    fn into_azure(self) -> azure_core::Error {
        azure_core::Error::new(azure_core::error::ErrorKind::Credential, self)
    }
}

/// One credential of the chain.
#[derive(Clone)]
struct Link {
    name: &'static str,
    credential: Arc<dyn TokenCredential>,
    /// Configured by the environment: its failure ends the chain.
    configured: bool,
}

/// The credential chain: the first link that gives a token is kept for the process.
pub(crate) struct ChainCredential {
    links: Mutex<Vec<Link>>,
    /// What could not even be set up (e.g. `AZURE_CLIENT_SECRET` missing), for the error.
    skipped: Vec<String>,
    winner: Mutex<Option<usize>>,
    /// What the links were built from, to build them again (without their token caches)
    /// when ARM says a token expired; `None` for a supplied credential.
    inputs: Option<Inputs>,
}

/// What [`ChainCredential::from_env`] was given.
#[derive(Clone)]
struct Inputs {
    env: CredentialEnv,
    cloud: Sovereign,
    http: reqwest::Client,
    probe_http: reqwest::Client,
}

impl fmt::Debug for ChainCredential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ChainCredential")
            .field(
                "links",
                &self.links().iter().map(|l| l.name).collect::<Vec<_>>(),
            )
            .finish_non_exhaustive()
    }
}

impl ChainCredential {
    /// The chain the environment asks for; `http` is the transport for the token endpoints
    /// (it trusts the extra CA bundle, if any).
    pub(crate) fn from_env(
        env: &CredentialEnv,
        cloud: &Sovereign,
        http: reqwest::Client,
        probe_http: reqwest::Client,
    ) -> Result<ChainCredential> {
        let inputs = Inputs {
            env: env.clone(),
            cloud: cloud.clone(),
            http,
            probe_http,
        };
        let (links, skipped) = Self::build(&inputs)?;
        Ok(ChainCredential {
            links: Mutex::new(links),
            skipped,
            winner: Mutex::new(None),
            inputs: Some(inputs),
        })
    }

    /// Builds the links (and the reasons of those skipped) from `inputs`.
    fn build(inputs: &Inputs) -> Result<(Vec<Link>, Vec<String>)> {
        let Inputs {
            env,
            cloud,
            http,
            probe_http,
        } = inputs;
        let options = |http: &reqwest::Client| ClientOptions {
            transport: Some(Transport::new(Arc::new(http.clone()))),
            cloud: Some(Arc::new(cloud.configuration())),
            // One retry layer: the engine's (classified, honouring Retry-After).
            retry: RetryOptions::none(),
            ..ClientOptions::default()
        };
        let mut links = Vec::new();
        let mut skipped = Vec::new();
        let wrap = |name: &'static str, e: azure_core::Error| -> Error {
            let f = TokenFailure::of(name, &e);
            Error::config(
                "the environment",
                name,
                "",
                format!("credentials azure_identity accepts ({})", f.message),
            )
        };
        match (&env.tenant_id, &env.client_id, &env.client_secret) {
            (Some(tenant), Some(client), Some(secret)) => links.push(Link {
                name: "ClientSecretCredential",
                credential: ClientSecretCredential::new(
                    tenant,
                    client.clone(),
                    secret.clone(),
                    Some(ClientSecretCredentialOptions {
                        client_options: options(http),
                    }),
                )
                .map_err(|e| wrap("ClientSecretCredential", e))?,
                configured: true,
            }),
            (None, None, None) => skipped.push(
                "ClientSecretCredential: AZURE_TENANT_ID, AZURE_CLIENT_ID and AZURE_CLIENT_SECRET are not set"
                    .to_string(),
            ),
            _ => {
                let missing: Vec<&str> = [
                    ("AZURE_TENANT_ID", env.tenant_id.is_none()),
                    ("AZURE_CLIENT_ID", env.client_id.is_none()),
                    ("AZURE_CLIENT_SECRET", env.client_secret.is_none()),
                ]
                .iter()
                .filter(|(_, m)| *m)
                .map(|(n, _)| *n)
                .collect();
                skipped.push(format!(
                    "ClientSecretCredential: {} not set",
                    missing.join(", ")
                ));
            }
        }
        match &env.federated_token_file {
            Some(file) => links.push(Link {
                name: "WorkloadIdentityCredential",
                credential: WorkloadIdentityCredential::new(Some(
                    WorkloadIdentityCredentialOptions {
                        credential_options: ClientAssertionCredentialOptions {
                            client_options: options(http),
                        },
                        client_id: env.client_id.clone(),
                        tenant_id: env.tenant_id.clone(),
                        token_file_path: Some(file.clone()),
                    },
                ))
                .map_err(|e| wrap("WorkloadIdentityCredential", e))?,
                configured: true,
            }),
            None => skipped.push(
                "WorkloadIdentityCredential: AZURE_FEDERATED_TOKEN_FILE is not set".to_string(),
            ),
        }
        if env.managed_identity {
            let options = ManagedIdentityCredentialOptions {
                user_assigned_id: env.client_id.clone().map(UserAssignedId::ClientId),
                client_options: options(probe_http),
            };
            match ManagedIdentityCredential::new(Some(options)) {
                Ok(c) => links.push(Link {
                    name: "ManagedIdentityCredential",
                    credential: c,
                    configured: false,
                }),
                Err(e) => skipped.push(format!(
                    "ManagedIdentityCredential: {}",
                    cr_core::transport::error_text(&e)
                )),
            }
        }
        if env.azure_cli {
            match AzureCliCredential::new(None) {
                Ok(c) => links.push(Link {
                    name: "AzureCliCredential",
                    credential: c,
                    configured: false,
                }),
                Err(e) => skipped.push(format!(
                    "AzureCliCredential: {}",
                    cr_core::transport::error_text(&e)
                )),
            }
        }
        Ok((links, skipped))
    }

    /// Forgets every cached token: the links are built again, so the next token is a fresh
    /// one (ARM said the last one expired, e.g. after clock skew).
    pub(crate) fn forget_tokens(&self) {
        if let Some(inputs) = &self.inputs
            && let Ok((links, _)) = Self::build(inputs)
        {
            *self.links.lock().unwrap_or_else(|p| p.into_inner()) = links;
        }
    }

    fn links(&self) -> Vec<Link> {
        self.links.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// A chain of one credential the caller supplies (tests, applications with their own).
    pub(crate) fn single(credential: Arc<dyn TokenCredential>) -> ChainCredential {
        ChainCredential {
            links: Mutex::new(vec![Link {
                name: "the supplied TokenCredential",
                credential,
                configured: true,
            }]),
            skipped: Vec::new(),
            winner: Mutex::new(None),
            inputs: None,
        }
    }

    fn winner(&self) -> Option<usize> {
        *self.winner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The name of the link that gave the last token (`ClientSecretCredential`, …), once one
    /// did: what the preflight reports as the credential source.
    pub(crate) fn source(&self) -> Option<&'static str> {
        let i = self.winner()?;
        self.links().get(i).map(|l| l.name)
    }
}

/// Who an Entra ID access token says the caller is, from its (unverified) claims: the object
/// id and, for an application, its app id, or a user's name. Only these claims are read; the
/// token itself is never kept nor shown.
pub(crate) fn principal_of_token(token: &str) -> Option<String> {
    use base64::Engine as _;
    let claims = token.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(claims.trim_end_matches('='))
        .ok()?;
    let claims: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    let text = |k: &str| {
        claims
            .get(k)
            .and_then(|v| v.as_str())
            .filter(|v| !v.is_empty())
    };
    let oid = text("oid");
    let who = match (
        text("appid").or(text("azp")),
        text("upn").or(text("unique_name")),
    ) {
        (_, Some(user)) => format!("user {user}"),
        (Some(app), None) => format!("application (client id) {app}"),
        (None, None) => "a principal".to_string(),
    };
    Some(match oid {
        Some(oid) => format!("{who}, object id {oid}"),
        None => who,
    })
}

#[async_trait]
impl TokenCredential for ChainCredential {
    async fn get_token(
        &self,
        scopes: &[&str],
        options: Option<TokenRequestOptions<'_>>,
    ) -> azure_core::Result<AccessToken> {
        let links = self.links();
        if let Some(i) = self.winner() {
            let link = &links[i];
            return link
                .credential
                .get_token(scopes, options)
                .await
                .map_err(|e| TokenFailure::of(link.name, &e).into_azure());
        }
        let mut tried: Vec<String> = self.skipped.clone();
        let mut retryable: Option<TokenFailure> = None;
        for (i, link) in links.iter().enumerate() {
            match link.credential.get_token(scopes, options.clone()).await {
                Ok(token) => {
                    *self.winner.lock().unwrap_or_else(|p| p.into_inner()) = Some(i);
                    return Ok(token);
                }
                Err(e) => {
                    let failure = TokenFailure::of(link.name, &e);
                    if link.configured {
                        return Err(failure.into_azure());
                    }
                    if failure.kind.is_retryable() && retryable.is_none() {
                        retryable = Some(failure.clone());
                    }
                    tried.push(failure.message);
                }
            }
        }
        let message = format!(
            "no Azure credential worked; tried, in order: {}. Set AZURE_TENANT_ID, \
             AZURE_CLIENT_ID and AZURE_CLIENT_SECRET (a service principal), \
             AZURE_FEDERATED_TOKEN_FILE (workload identity), run on a VM with a managed \
             identity, or log in with `az login`",
            tried.join("; ")
        );
        Err(TokenFailure {
            kind: ErrorKind::Unauthorized,
            code: "NoCredential".into(),
            message,
            retry_after: None,
        }
        .into_azure())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn http() -> reqwest::Client {
        reqwest::Client::builder()
            .timeout(Duration::from_millis(500))
            .build()
            .unwrap()
    }

    #[test]
    fn authority_hosts_name_their_cloud() {
        assert_eq!(
            Sovereign::of_authority_host("https://login.microsoftonline.us/"),
            Sovereign::Government
        );
        assert_eq!(
            Sovereign::of_authority_host("https://login.chinacloudapi.cn"),
            Sovereign::China
        );
        assert_eq!(
            Sovereign::of_authority_host(PUBLIC_AUTHORITY_HOST),
            Sovereign::Public
        );
        let custom = Sovereign::of_authority_host("https://127.0.0.1:8443");
        assert_eq!(custom, Sovereign::Custom("https://127.0.0.1:8443/".into()));
        assert_eq!(
            Sovereign::Government.arm_scope(),
            "https://management.usgovcloudapi.net/.default"
        );
        assert_eq!(custom.arm_endpoint(), "https://management.azure.com");
    }

    #[tokio::test]
    async fn with_nothing_configured_the_error_lists_what_was_tried() {
        let env = CredentialEnv {
            client_id: Some("only-the-client".into()),
            managed_identity: false,
            azure_cli: false,
            ..CredentialEnv::default()
        };
        let chain = ChainCredential::from_env(&env, &Sovereign::Public, http(), http()).unwrap();
        let err = chain
            .get_token(&["https://management.azure.com/.default"], None)
            .await
            .unwrap_err();
        let text = cr_core::transport::error_text(&err);
        assert!(
            text.contains("ClientSecretCredential: AZURE_TENANT_ID, AZURE_CLIENT_SECRET not set"),
            "{text}"
        );
        assert!(
            text.contains("AZURE_FEDERATED_TOKEN_FILE is not set"),
            "{text}"
        );
        assert!(text.contains("az login"), "{text}");
    }

    #[test]
    fn the_principal_comes_from_the_claims_only() {
        use base64::Engine as _;
        let b64 = |v: serde_json::Value| {
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string())
        };
        let app = format!(
            "{}.{}.c2lnbmF0dXJl",
            b64(serde_json::json!({"alg": "RS256"})),
            b64(serde_json::json!({"appid": "app-1", "oid": "obj-1", "tid": "t"}))
        );
        let who = principal_of_token(&app).unwrap();
        assert_eq!(who, "application (client id) app-1, object id obj-1");
        assert!(!who.contains("c2lnbmF0dXJl"));
        let user = format!(
            "h.{}.s",
            b64(serde_json::json!({"upn": "a@b.example", "oid": "o"}))
        );
        assert_eq!(
            principal_of_token(&user).unwrap(),
            "user a@b.example, object id o"
        );
        assert_eq!(principal_of_token("opaque-token"), None);
    }

    #[test]
    fn debug_never_shows_the_secret() {
        let env = CredentialEnv {
            tenant_id: Some("t".into()),
            client_id: Some("c".into()),
            client_secret: Some(Secret::new("hunter2-secret")),
            ..CredentialEnv::default()
        };
        let text = format!("{env:?}");
        assert!(!text.contains("hunter2"), "{text}");
        let chain = ChainCredential::from_env(&env, &Sovereign::Public, http(), http()).unwrap();
        assert!(!format!("{chain:?}").contains("hunter2"));
        // The bearer tokens the chain hands the pipeline are azure_core `AccessToken`s, whose
        // `Secret` cr relies on to keep a token out of Debug.
        let token = AccessToken::new(
            Secret::new("eyJ0eXAi.bearer-token-sentinel"),
            azure_core::time::OffsetDateTime::now_utc(),
        );
        let text = format!("{token:?}");
        assert!(!text.contains("bearer-token-sentinel"), "{text}");
    }
}
