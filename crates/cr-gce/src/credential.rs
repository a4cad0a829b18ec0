//! Access tokens for the Compute API, through gcp_auth.
//!
//! Sources, in order: a token provider injected by the caller; a service-account key file
//! (`with_service_account_file`, else `GOOGLE_APPLICATION_CREDENTIALS`), whose `token_uri` is
//! honoured; else the application-default credentials file written by
//! `gcloud auth application-default login`. The metadata server is never probed: cr runs on
//! developer machines and CI as often as on GCE, and a probe there costs a timeout.
//!
//! gcp_auth's own HTTP client trusts only the public web roots, so when an extra CA bundle is
//! configured and the key's `token_uri` is `https`, the JWT-bearer exchange is done here over
//! cr's client (which trusts the bundle), still signing with gcp_auth's signer.

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use async_trait::async_trait;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use cr_core::error::{CloudError, ErrorKind};
use cr_core::{Cloud, Error, Result};
use gcp_auth::{CustomServiceAccount, Token, TokenProvider};
use serde::Deserialize;
use tokio::sync::Mutex;

/// The OAuth scope of every call cr makes.
pub const COMPUTE_SCOPE: &str = "https://www.googleapis.com/auth/compute";

const JWT_BEARER: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";

/// Where the credentials come from (as configured, before loading).
#[derive(Clone, Default)]
pub(crate) enum CredentialSource {
    /// A provider supplied by the caller (tests, embedding applications).
    Provider(Arc<dyn TokenProvider>),
    /// A service-account key file.
    ServiceAccountFile(PathBuf),
    /// The application-default credentials file.
    #[default]
    ApplicationDefault,
}

impl fmt::Debug for CredentialSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CredentialSource::Provider(_) => f.write_str("Provider(..)"),
            CredentialSource::ServiceAccountFile(p) => {
                f.debug_tuple("ServiceAccountFile").field(p).finish()
            }
            CredentialSource::ApplicationDefault => f.write_str("ApplicationDefault"),
        }
    }
}

/// Loaded credentials: a token provider and the project the credentials name, if any.
pub(crate) struct Credential {
    pub(crate) provider: Arc<dyn TokenProvider>,
    pub(crate) project: Option<String>,
}

impl fmt::Debug for Credential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credential")
            .field("project", &self.project)
            .finish_non_exhaustive()
    }
}

/// The fields of a credentials JSON that cr reads itself (the private key stays in gcp_auth).
#[derive(Deserialize)]
struct KeyFileMeta {
    #[serde(default, rename = "type")]
    kind: Option<String>,
    #[serde(default)]
    client_email: Option<String>,
    #[serde(default)]
    token_uri: Option<String>,
    #[serde(default)]
    project_id: Option<String>,
    #[serde(default)]
    quota_project_id: Option<String>,
    #[serde(default)]
    private_key_id: Option<String>,
}

fn credential_error(code: &str, message: impl Into<String>) -> Error {
    CloudError::new(
        ErrorKind::Unauthorized,
        Cloud::Gce,
        "credentials",
        code,
        message,
    )
    .into()
}

/// Loads `source`. `tls_client` is cr's HTTP client when it trusts an extra CA bundle.
pub(crate) async fn load(
    source: CredentialSource,
    tls_client: Option<reqwest::Client>,
    home: Option<PathBuf>,
    cloudsdk_config: Option<PathBuf>,
) -> Result<Credential> {
    match source {
        // Asked for its project only when the configuration names none.
        CredentialSource::Provider(provider) => Ok(Credential {
            provider,
            project: None,
        }),
        CredentialSource::ServiceAccountFile(path) => {
            load_key_file(&path, tls_client, "GOOGLE_APPLICATION_CREDENTIALS")
        }
        CredentialSource::ApplicationDefault => {
            let path = application_default_path(home, cloudsdk_config).ok_or_else(|| {
                credential_error(
                    "no_credentials",
                    "no Google credentials: set GOOGLE_APPLICATION_CREDENTIALS to a service-account key file, or run `gcloud auth application-default login`",
                )
            })?;
            load_key_file(&path, tls_client, "application-default credentials")
        }
    }
}

fn application_default_path(
    home: Option<PathBuf>,
    cloudsdk_config: Option<PathBuf>,
) -> Option<PathBuf> {
    let dir = cloudsdk_config.or_else(|| home.map(|h| h.join(".config").join("gcloud")))?;
    let path = dir.join("application_default_credentials.json");
    path.is_file().then_some(path)
}

fn load_key_file(
    path: &Path,
    tls_client: Option<reqwest::Client>,
    what: &str,
) -> Result<Credential> {
    let json = std::fs::read_to_string(path).map_err(|e| {
        credential_error(
            "credentials_unreadable",
            format!("cannot read {what} file {}: {e}", path.display()),
        )
    })?;
    let meta: KeyFileMeta = serde_json::from_str(&json).map_err(|e| {
        credential_error(
            "credentials_invalid",
            // serde_json's message names a line and column, never the content.
            format!("{what} file {} is not valid JSON: {e}", path.display()),
        )
    })?;
    match meta.kind.as_deref() {
        Some("service_account") | None => service_account(&json, meta, tls_client, path),
        Some("authorized_user") => Ok(Credential {
            project: meta.quota_project_id.clone(),
            provider: Arc::new(LazyUserCredentials::default()),
        }),
        Some(other) => Err(credential_error(
            "credentials_unsupported",
            format!(
                "{what} file {} has type `{other}`; cr supports `service_account` and `authorized_user`",
                path.display()
            ),
        )),
    }
}

fn service_account(
    json: &str,
    meta: KeyFileMeta,
    tls_client: Option<reqwest::Client>,
    path: &Path,
) -> Result<Credential> {
    let account = CustomServiceAccount::from_json(json).map_err(|e| {
        credential_error(
            "credentials_invalid",
            format!(
                "service-account key file {} is unusable: {e}",
                path.display()
            ),
        )
    })?;
    let project = meta.project_id.clone();
    let token_uri = meta.token_uri.clone().unwrap_or_default();
    let provider: Arc<dyn TokenProvider> = match tls_client {
        Some(client) if token_uri.starts_with("https://") => Arc::new(ExtraCaServiceAccount {
            account,
            client,
            token_uri,
            client_email: meta.client_email.unwrap_or_default(),
            key_id: meta.private_key_id,
            project: project.clone(),
            tokens: Mutex::new(HashMap::new()),
        }),
        _ => Arc::new(account),
    };
    Ok(Credential { provider, project })
}

/// A service account whose token endpoint needs cr's extra CA bundle.
struct ExtraCaServiceAccount {
    account: CustomServiceAccount,
    client: reqwest::Client,
    token_uri: String,
    client_email: String,
    key_id: Option<String>,
    project: Option<String>,
    tokens: Mutex<HashMap<Vec<String>, Arc<Token>>>,
}

impl fmt::Debug for ExtraCaServiceAccount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ExtraCaServiceAccount")
            .field("token_uri", &self.token_uri)
            .field("client_email", &self.client_email)
            .finish_non_exhaustive()
    }
}

impl ExtraCaServiceAccount {
    fn assertion(&self, scopes: &[&str]) -> Result<String, gcp_auth::Error> {
        let mut header = serde_json::json!({"alg": "RS256", "typ": "JWT"});
        if let Some(kid) = &self.key_id {
            header["kid"] = kid.clone().into();
        }
        let iat = jiff::Timestamp::now().as_second();
        let claims = serde_json::json!({
            "iss": self.client_email,
            "scope": scopes.join(" "),
            "aud": self.token_uri,
            "iat": iat,
            "exp": iat + 3600 - 5,
        });
        let mut jwt = URL_SAFE_NO_PAD.encode(header.to_string());
        jwt.push('.');
        jwt.push_str(&URL_SAFE_NO_PAD.encode(claims.to_string()));
        let signature = self.account.signer().sign(jwt.as_bytes())?;
        jwt.push('.');
        jwt.push_str(&URL_SAFE_NO_PAD.encode(signature));
        Ok(jwt)
    }

    async fn fetch(&self, scopes: &[&str]) -> Result<Arc<Token>, gcp_auth::Error> {
        let assertion = self.assertion(scopes)?;
        let response = self
            .client
            .post(&self.token_uri)
            .form(&[
                ("grant_type", JWT_BEARER),
                ("assertion", assertion.as_str()),
            ])
            .send()
            .await
            .map_err(|e| gcp_auth::Error::Other("token request failed to send", Box::new(e)))?;
        let status = response.status();
        if status.is_server_error() {
            return Err(gcp_auth::Error::Other(
                "token endpoint failed",
                format!("HTTP {status}").into(),
            ));
        }
        if !status.is_success() {
            // The body may echo the assertion: keep it out of the error.
            return Err(gcp_auth::Error::Str(
                "token request rejected by the token endpoint",
            ));
        }
        let body = response
            .bytes()
            .await
            .map_err(|e| gcp_auth::Error::Other("token response unreadable", Box::new(e)))?;
        let token: Token = serde_json::from_slice(&body)
            .map_err(|e| gcp_auth::Error::Json("token response is not a token", e))?;
        Ok(Arc::new(token))
    }
}

#[async_trait]
impl TokenProvider for ExtraCaServiceAccount {
    async fn token(&self, scopes: &[&str]) -> Result<Arc<Token>, gcp_auth::Error> {
        let key: Vec<String> = scopes.iter().map(|s| s.to_string()).collect();
        // One fetch at a time: concurrent creates share the first token.
        let mut tokens = self.tokens.lock().await;
        if let Some(t) = tokens.get(&key)
            && !t.has_expired()
        {
            return Ok(t.clone());
        }
        let token = self.fetch(scopes).await?;
        tokens.insert(key, token.clone());
        Ok(token)
    }

    async fn project_id(&self) -> Result<Arc<str>, gcp_auth::Error> {
        self.project
            .as_deref()
            .map(Arc::from)
            .ok_or(gcp_auth::Error::Str(
                "no project ID in the service-account key",
            ))
    }
}

/// gcloud user credentials: gcp_auth fetches a token when it loads them, so loading waits for
/// the first call (building a backend makes no network call).
#[derive(Default)]
struct LazyUserCredentials {
    inner: tokio::sync::OnceCell<gcp_auth::ConfigDefaultCredentials>,
}

impl fmt::Debug for LazyUserCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LazyUserCredentials")
            .finish_non_exhaustive()
    }
}

impl LazyUserCredentials {
    async fn get(&self) -> Result<&gcp_auth::ConfigDefaultCredentials, gcp_auth::Error> {
        self.inner
            .get_or_try_init(gcp_auth::ConfigDefaultCredentials::new)
            .await
    }
}

#[async_trait]
impl TokenProvider for LazyUserCredentials {
    async fn token(&self, scopes: &[&str]) -> Result<Arc<Token>, gcp_auth::Error> {
        self.get().await?.token(scopes).await
    }

    async fn project_id(&self) -> Result<Arc<str>, gcp_auth::Error> {
        self.get().await?.project_id().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn missing_application_default_credentials_are_unauthorized_with_advice() {
        let dir = tempfile::tempdir().unwrap();
        let err = load(
            CredentialSource::ApplicationDefault,
            None,
            Some(dir.path().to_path_buf()),
            None,
        )
        .await
        .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Unauthorized);
        assert!(
            err.to_string().contains("GOOGLE_APPLICATION_CREDENTIALS"),
            "{err}"
        );
    }

    #[tokio::test]
    async fn unreadable_and_invalid_key_files_name_the_file_not_the_content() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("missing.json");
        let err = load(
            CredentialSource::ServiceAccountFile(missing.clone()),
            None,
            None,
            None,
        )
        .await
        .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Unauthorized);
        assert!(err.to_string().contains("missing.json"));

        let bad = dir.path().join("bad.json");
        let secret = "-----BEGIN PRIVATE KEY-----\nnot-a-key\n-----END PRIVATE KEY-----\n";
        std::fs::write(
            &bad,
            serde_json::json!({"type": "service_account", "client_email": "a@b",
                "private_key": secret, "token_uri": "http://127.0.0.1:1/token"})
            .to_string(),
        )
        .unwrap();
        let err = load(CredentialSource::ServiceAccountFile(bad), None, None, None)
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Unauthorized);
        assert!(!err.to_string().contains("not-a-key"), "{err}");
    }

    #[test]
    fn debug_hides_providers() {
        struct Nothing;
        #[async_trait]
        impl TokenProvider for Nothing {
            async fn token(&self, _: &[&str]) -> Result<Arc<Token>, gcp_auth::Error> {
                Err(gcp_auth::Error::Str("none"))
            }
            async fn project_id(&self) -> Result<Arc<str>, gcp_auth::Error> {
                Err(gcp_auth::Error::Str("none"))
            }
        }
        let s = format!("{:?}", CredentialSource::Provider(Arc::new(Nothing)));
        assert_eq!(s, "Provider(..)");
    }
}
