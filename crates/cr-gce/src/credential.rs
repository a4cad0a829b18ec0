//! Access tokens for the Compute API.
//!
//! Sources, in order: a token provider injected by the caller; a service-account key file
//! (`with_service_account_file`, else `GOOGLE_APPLICATION_CREDENTIALS`), whose `token_uri` is
//! honoured; else the application-default credentials file written by
//! `gcloud auth application-default login` (user credentials, or a service-account key). The
//! metadata server is never probed: cr runs on developer machines and CI as often as on GCE,
//! and a probe there costs a timeout.
//!
//! The token exchange (RFC 7523 JWT bearer for a service account, signed with gcp_auth's
//! signer; RFC 6749 refresh token for user credentials) is done here over cr's HTTP client,
//! not by gcp_auth: so it trusts cr's extra CA bundle, has a timeout, and its failures are
//! classified like any other call's (a throttled or failing endpoint is retried, a refused
//! grant is not). Concurrent callers share one fetch per scope set, and no lock is held
//! while it runs.

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use cr_core::error::{CloudError, ErrorKind};
use cr_core::{Cloud, Error, Result};
use futures::FutureExt as _;
use futures::future::{BoxFuture, Shared};
use gcp_auth::{CustomServiceAccount, Token, TokenProvider};
use reqwest::header::RETRY_AFTER;
use serde::Deserialize;

use crate::error::TokenFailure;

/// The OAuth scope of every call cr makes.
pub const COMPUTE_SCOPE: &str = "https://www.googleapis.com/auth/compute";

const JWT_BEARER: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";

/// Google's token endpoint, for credential files that name none.
const DEFAULT_TOKEN_URI: &str = "https://oauth2.googleapis.com/token";

/// The longest one token request may take (connecting included) before it fails as a
/// `Timeout`, which the engine retries. The endpoint answers in milliseconds when healthy.
const TOKEN_TIMEOUT: Duration = Duration::from_secs(30);

/// Connecting to the token endpoint (when cr builds the client itself).
const TOKEN_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

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

/// The fields of a credentials JSON that cr reads itself (a private key stays in gcp_auth).
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

/// The secrets of gcloud user credentials (`"type": "authorized_user"`). No `Debug`.
#[derive(Deserialize)]
struct UserCredentialsFile {
    client_id: String,
    client_secret: String,
    refresh_token: String,
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

/// Which configured source a credentials file came from: each accepts different files.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Origin {
    /// `with_service_account_file` or `GOOGLE_APPLICATION_CREDENTIALS`: a service-account key.
    KeyFile,
    /// The application-default credentials file: user credentials or a service-account key.
    ApplicationDefault,
}

impl Origin {
    fn what(self) -> &'static str {
        match self {
            Origin::KeyFile => "GOOGLE_APPLICATION_CREDENTIALS",
            Origin::ApplicationDefault => "application-default credentials",
        }
    }
}

/// Loads `source`. `tls_client` is cr's HTTP client when it trusts an extra CA bundle; else
/// the token exchange gets a client of its own (with the default trust roots).
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
            load_key_file(&path, tls_client, Origin::KeyFile)
        }
        CredentialSource::ApplicationDefault => {
            let path = application_default_path(home, cloudsdk_config).ok_or_else(|| {
                credential_error(
                    "no_credentials",
                    "no Google credentials: set GOOGLE_APPLICATION_CREDENTIALS to a service-account key file, or run `gcloud auth application-default login`",
                )
            })?;
            load_key_file(&path, tls_client, Origin::ApplicationDefault)
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

fn token_client(tls_client: Option<reqwest::Client>) -> Result<reqwest::Client> {
    match tls_client {
        Some(client) => Ok(client),
        None => reqwest::Client::builder()
            .connect_timeout(TOKEN_CONNECT_TIMEOUT)
            .user_agent(concat!("cr/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| {
                Error::Other(format!(
                    "cannot build the HTTP client for the Google token endpoint: {e}"
                ))
            }),
    }
}

fn load_key_file(
    path: &Path,
    tls_client: Option<reqwest::Client>,
    origin: Origin,
) -> Result<Credential> {
    let what = origin.what();
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
    match (meta.kind.as_deref(), origin) {
        (Some("service_account") | None, _) => service_account(&json, meta, tls_client, path),
        (Some("authorized_user"), Origin::ApplicationDefault) => {
            user_credentials(&json, meta, tls_client, path, what)
        }
        (Some("authorized_user"), Origin::KeyFile) => Err(credential_error(
            "credentials_unsupported",
            format!(
                "{what} file {} holds gcloud user credentials (`\"type\": \"authorized_user\"`), \
                 not a service-account key: point GOOGLE_APPLICATION_CREDENTIALS at a \
                 service-account key file (`gcloud iam service-accounts keys create`), or unset \
                 it to use the application-default credentials of \
                 `gcloud auth application-default login`",
                path.display()
            ),
        )),
        (Some(other), _) => Err(credential_error(
            "credentials_unsupported",
            format!(
                "{what} file {} has type `{other}`; cr supports service-account keys \
                 (`service_account`) and, as application-default credentials, gcloud user \
                 credentials (`authorized_user`)",
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
    exchanging(
        tls_client,
        meta.token_uri,
        Grant::ServiceAccount {
            account: Box::new(account),
            client_email: meta.client_email.unwrap_or_default(),
            key_id: meta.private_key_id,
        },
        meta.project_id,
    )
}

/// A credential whose tokens cr's own exchange fetches at `token_uri` (Google's by default).
fn exchanging(
    tls_client: Option<reqwest::Client>,
    token_uri: Option<String>,
    grant: Grant,
    project: Option<String>,
) -> Result<Credential> {
    let exchange = TokenExchange::new(
        token_client(tls_client)?,
        token_uri
            .filter(|u| !u.is_empty())
            .unwrap_or_else(|| DEFAULT_TOKEN_URI.to_string()),
        grant,
        project.clone(),
        TOKEN_TIMEOUT,
    );
    Ok(Credential {
        provider: Arc::new(exchange),
        project,
    })
}

fn user_credentials(
    json: &str,
    meta: KeyFileMeta,
    tls_client: Option<reqwest::Client>,
    path: &Path,
    what: &str,
) -> Result<Credential> {
    let user: UserCredentialsFile = serde_json::from_str(json).map_err(|e| {
        credential_error(
            "credentials_invalid",
            format!(
                "{what} file {} lacks a user-credentials field ({e}): run \
                 `gcloud auth application-default login` again",
                path.display()
            ),
        )
    })?;
    exchanging(
        tls_client,
        meta.token_uri,
        Grant::RefreshToken {
            client_id: user.client_id,
            client_secret: user.client_secret,
            refresh_token: user.refresh_token,
        },
        meta.quota_project_id,
    )
}

/// What a token request trades for an access token.
enum Grant {
    /// A JWT assertion signed with the service account's key (RFC 7523).
    ServiceAccount {
        account: Box<CustomServiceAccount>,
        client_email: String,
        key_id: Option<String>,
    },
    /// gcloud user credentials' refresh token (RFC 6749 §6). Its scopes were fixed at login.
    RefreshToken {
        client_id: String,
        client_secret: String,
        refresh_token: String,
    },
}

/// The form of one token request, and the secrets in it (kept out of error messages).
struct TokenRequest {
    form: Vec<(&'static str, String)>,
    secrets: Vec<String>,
}

impl Grant {
    fn request(&self, token_uri: &str, scopes: &[&str]) -> Result<TokenRequest, TokenFailure> {
        match self {
            Grant::ServiceAccount {
                account,
                client_email,
                key_id,
            } => {
                let assertion = assertion(
                    account,
                    client_email,
                    key_id.as_deref(),
                    token_uri,
                    scopes,
                )
                .map_err(|e| {
                    TokenFailure::new(
                        ErrorKind::Unauthorized,
                        "token_assertion",
                        format!("cannot sign the token request with the service-account key: {e}"),
                    )
                })?;
                Ok(TokenRequest {
                    form: vec![
                        ("grant_type", JWT_BEARER.to_string()),
                        ("assertion", assertion.clone()),
                    ],
                    secrets: vec![assertion],
                })
            }
            Grant::RefreshToken {
                client_id,
                client_secret,
                refresh_token,
            } => Ok(TokenRequest {
                form: vec![
                    ("grant_type", "refresh_token".to_string()),
                    ("client_id", client_id.clone()),
                    ("client_secret", client_secret.clone()),
                    ("refresh_token", refresh_token.clone()),
                ],
                secrets: vec![client_secret.clone(), refresh_token.clone()],
            }),
        }
    }
}

/// A JWT-bearer assertion for `scopes`, valid for (just under) an hour.
fn assertion(
    account: &CustomServiceAccount,
    client_email: &str,
    key_id: Option<&str>,
    token_uri: &str,
    scopes: &[&str],
) -> Result<String, gcp_auth::Error> {
    let mut header = serde_json::json!({"alg": "RS256", "typ": "JWT"});
    if let Some(kid) = key_id {
        header["kid"] = kid.into();
    }
    let iat = jiff::Timestamp::now().as_second();
    let claims = serde_json::json!({
        "iss": client_email,
        "scope": scopes.join(" "),
        "aud": token_uri,
        "iat": iat,
        "exp": iat + 3600 - 5,
    });
    let mut jwt = URL_SAFE_NO_PAD.encode(header.to_string());
    jwt.push('.');
    jwt.push_str(&URL_SAFE_NO_PAD.encode(claims.to_string()));
    let signature = account.signer().sign(jwt.as_bytes())?;
    jwt.push('.');
    jwt.push_str(&URL_SAFE_NO_PAD.encode(signature));
    Ok(jwt)
}

/// One fetch in flight, awaited by every caller that wants the same scopes meanwhile.
type Fetch = Shared<BoxFuture<'static, Result<Arc<Token>, TokenFailure>>>;

/// The cached token of one scope set, and the fetch of its successor.
#[derive(Default)]
struct Slot {
    token: Option<Arc<Token>>,
    fetch: Option<Fetch>,
}

type Slots = Mutex<HashMap<Vec<String>, Slot>>;

/// Access tokens from one token endpoint for one grant.
struct TokenExchange {
    endpoint: Arc<Endpoint>,
    project: Option<String>,
    /// Locked only to read or update a slot, never across a fetch. A fetch in flight holds
    /// it weakly (the slot holds the fetch).
    slots: Arc<Slots>,
}

/// Where and how a token is fetched.
struct Endpoint {
    http: reqwest::Client,
    token_uri: String,
    grant: Grant,
    timeout: Duration,
}

impl fmt::Debug for TokenExchange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let grant = match &self.endpoint.grant {
            Grant::ServiceAccount { client_email, .. } => format!("service account {client_email}"),
            Grant::RefreshToken { .. } => "user credentials".to_string(),
        };
        f.debug_struct("TokenExchange")
            .field("token_uri", &self.endpoint.token_uri)
            .field("grant", &grant)
            .field("timeout", &self.endpoint.timeout)
            .finish_non_exhaustive()
    }
}

impl TokenExchange {
    fn new(
        http: reqwest::Client,
        token_uri: String,
        grant: Grant,
        project: Option<String>,
        timeout: Duration,
    ) -> Self {
        TokenExchange {
            endpoint: Arc::new(Endpoint {
                http,
                token_uri,
                grant,
                timeout,
            }),
            project,
            slots: Arc::default(),
        }
    }

    /// A valid cached token, else the fetch in flight, else a new fetch (left in the slot
    /// for the callers that come while it runs).
    fn token_or_fetch(&self, key: &[String]) -> std::result::Result<Arc<Token>, Fetch> {
        let mut slots = self.slots.lock().unwrap_or_else(PoisonError::into_inner);
        let slot = slots.entry(key.to_vec()).or_default();
        if let Some(token) = &slot.token
            && !token.has_expired()
        {
            return Ok(token.clone());
        }
        if let Some(fetch) = &slot.fetch {
            return Err(fetch.clone());
        }
        let endpoint = self.endpoint.clone();
        let weak_slots = Arc::downgrade(&self.slots);
        let key = key.to_vec();
        let fetch = async move {
            let scopes: Vec<&str> = key.iter().map(String::as_str).collect();
            let result = endpoint.fetch(&scopes).await;
            if let Some(slots) = weak_slots.upgrade() {
                let mut slots = slots.lock().unwrap_or_else(PoisonError::into_inner);
                let slot = slots.entry(key.clone()).or_default();
                slot.fetch = None;
                if let Ok(token) = &result {
                    slot.token = Some(token.clone());
                }
            }
            result
        }
        .boxed()
        .shared();
        slot.fetch = Some(fetch.clone());
        Err(fetch)
    }
}

impl Endpoint {
    async fn fetch(&self, scopes: &[&str]) -> Result<Arc<Token>, TokenFailure> {
        let TokenRequest { form, secrets } = self.grant.request(&self.token_uri, scopes)?;
        let transport = |e: reqwest::Error| TokenFailure::transport(&self.token_uri, &e);
        let response = self
            .http
            .post(&self.token_uri)
            .timeout(self.timeout)
            .form(&form)
            .send()
            .await
            .map_err(transport)?;
        let status = response.status();
        let retry_after = response
            .headers()
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| cr_core::transport::parse_retry_after(v, jiff::Timestamp::now()));
        let body = response.bytes().await.map_err(transport)?;
        if !status.is_success() {
            let secrets: Vec<&str> = secrets.iter().map(String::as_str).collect();
            return Err(TokenFailure::answer(
                &self.token_uri,
                status.as_u16(),
                retry_after,
                &body,
                &secrets,
            ));
        }
        // serde_json's message names a line and column, never the content.
        let token: Token = serde_json::from_slice(&body).map_err(|e| {
            TokenFailure::new(
                ErrorKind::Transient,
                "invalid_token_response",
                format!(
                    "token endpoint {} answered HTTP {status} without a token: {e}",
                    self.token_uri
                ),
            )
        })?;
        Ok(Arc::new(token))
    }
}

#[async_trait]
impl TokenProvider for TokenExchange {
    async fn token(&self, scopes: &[&str]) -> Result<Arc<Token>, gcp_auth::Error> {
        let key: Vec<String> = scopes.iter().map(|s| s.to_string()).collect();
        match self.token_or_fetch(&key) {
            Ok(token) => Ok(token),
            Err(fetch) => fetch
                .await
                .map_err(|f| gcp_auth::Error::Other("token request failed", Box::new(f))),
        }
    }

    async fn project_id(&self) -> Result<Arc<str>, gcp_auth::Error> {
        self.project
            .as_deref()
            .map(Arc::from)
            .ok_or(gcp_auth::Error::Str("no project ID in the credentials"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use std::sync::atomic::{AtomicUsize, Ordering};

    use axum::http::StatusCode;
    use axum::response::IntoResponse;

    use crate::error::{CallSite, classify_token};

    const CLIENT_SECRET: &str = "client-secret-d3adb33f";
    const REFRESH_TOKEN: &str = "1//refresh-token-c0ffee";

    /// What the fake token endpoint does with every request.
    #[derive(Clone)]
    enum Behaviour {
        Answer {
            status: u16,
            retry_after: Option<&'static str>,
            body: String,
        },
        /// Never answers.
        Hang,
    }

    /// A fake token endpoint: its URL, and the form bodies it received.
    struct Endpoint {
        url: String,
        forms: Arc<Mutex<Vec<String>>>,
        hits: Arc<AtomicUsize>,
    }

    impl Endpoint {
        async fn start(behaviour: Behaviour) -> Endpoint {
            let forms = Arc::new(Mutex::new(Vec::new()));
            let hits = Arc::new(AtomicUsize::new(0));
            let (f, h) = (forms.clone(), hits.clone());
            let app = axum::Router::new().route(
                "/token",
                axum::routing::post(move |body: String| {
                    let (behaviour, f, h) = (behaviour.clone(), f.clone(), h.clone());
                    async move {
                        f.lock().unwrap().push(body);
                        h.fetch_add(1, Ordering::SeqCst);
                        match behaviour {
                            Behaviour::Hang => std::future::pending().await,
                            Behaviour::Answer {
                                status,
                                retry_after,
                                body,
                            } => {
                                let mut r =
                                    (StatusCode::from_u16(status).unwrap(), body).into_response();
                                if let Some(v) = retry_after {
                                    r.headers_mut().insert(RETRY_AFTER, v.parse().unwrap());
                                }
                                r
                            }
                        }
                    }
                }),
            );
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let url = format!("http://{}/token", listener.local_addr().unwrap());
            tokio::spawn(async move {
                let _ = axum::serve(listener, app).await;
            });
            Endpoint { url, forms, hits }
        }

        fn hits(&self) -> usize {
            self.hits.load(Ordering::SeqCst)
        }
    }

    /// Application-default user credentials (as `gcloud auth application-default login`
    /// writes them) whose token endpoint is `token_uri`, loaded from a `CLOUDSDK_CONFIG`
    /// directory.
    async fn user_credentials_at(token_uri: &str) -> (tempfile::TempDir, Credential) {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("application_default_credentials.json"),
            serde_json::json!({"type": "authorized_user", "client_id": "cid.apps.googleusercontent.com",
                "client_secret": CLIENT_SECRET, "refresh_token": REFRESH_TOKEN,
                "quota_project_id": "quota-proj", "token_uri": token_uri})
            .to_string(),
        )
        .unwrap();
        let credential = load(
            CredentialSource::ApplicationDefault,
            None,
            None,
            Some(dir.path().to_path_buf()),
        )
        .await
        .unwrap();
        (dir, credential)
    }

    fn site() -> CallSite {
        CallSite::new("reservations.insert").zone("us-east1-b")
    }

    fn answer(status: u16, retry_after: Option<&'static str>, body: &str) -> Behaviour {
        Behaviour::Answer {
            status,
            retry_after,
            body: body.to_string(),
        }
    }

    #[tokio::test]
    async fn token_endpoint_answers_are_classified_like_any_other_call() {
        let table: &[(Behaviour, ErrorKind, &str, Option<u64>)] = &[
            (
                answer(429, Some("7"), r#"{"error": "rate_limit_exceeded"}"#),
                ErrorKind::Throttled,
                "rate_limit_exceeded",
                Some(7),
            ),
            (answer(429, None, ""), ErrorKind::Throttled, "429", None),
            (
                answer(503, Some("2"), "<html>unavailable</html>"),
                ErrorKind::Transient,
                "503",
                Some(2),
            ),
            (answer(500, None, ""), ErrorKind::Transient, "500", None),
            // An HTTP date already past: retry at once.
            (
                answer(503, Some("Wed, 21 Oct 2015 07:28:00 GMT"), ""),
                ErrorKind::Transient,
                "503",
                Some(0),
            ),
            (answer(408, None, ""), ErrorKind::Timeout, "408", None),
            (
                answer(
                    400,
                    None,
                    r#"{"error": "invalid_grant", "error_description": "Token has been expired or revoked."}"#,
                ),
                ErrorKind::Unauthorized,
                "invalid_grant",
                None,
            ),
            (
                answer(401, None, r#"{"error": "invalid_client"}"#),
                ErrorKind::Unauthorized,
                "invalid_client",
                None,
            ),
            (
                answer(403, None, r#"{"error": "access_denied"}"#),
                ErrorKind::Unauthorized,
                "access_denied",
                None,
            ),
            // A wrong token URI is not a missing reservation.
            (
                answer(404, None, "no such path"),
                ErrorKind::Unauthorized,
                "404",
                None,
            ),
            // A token endpoint echoing the grant: none of it is quoted.
            (
                answer(
                    400,
                    None,
                    &serde_json::json!({"error": "invalid_grant",
                        "error_description": format!("bad refresh_token {REFRESH_TOKEN}")})
                    .to_string(),
                ),
                ErrorKind::Unauthorized,
                "invalid_grant",
                None,
            ),
            (
                answer(200, None, "<html>captive portal</html>"),
                ErrorKind::Transient,
                "invalid_token_response",
                None,
            ),
        ];
        for (behaviour, kind, code, retry_after) in table {
            let endpoint = Endpoint::start(behaviour.clone()).await;
            let (_dir, credential) = user_credentials_at(&endpoint.url).await;
            let err = credential
                .provider
                .token(&[COMPUTE_SCOPE])
                .await
                .unwrap_err();
            let e = classify_token(&site(), &err);
            assert_eq!(e.kind, *kind, "{e}");
            assert_eq!(e.code, *code, "{e}");
            assert_eq!(e.retry_after, retry_after.map(Duration::from_secs), "{e}");
            assert_eq!(e.operation, "reservations.insert");
            assert_eq!(e.location.zone.as_deref(), Some("us-east1-b"));
            assert!(e.message.contains(&endpoint.url), "{e}");
            for secret in [CLIENT_SECRET, REFRESH_TOKEN] {
                assert!(!e.to_string().contains(secret), "{e}");
            }
            assert_eq!(endpoint.hits(), 1, "no hidden retries: the engine retries");
        }
    }

    #[tokio::test]
    async fn user_credentials_refresh_at_their_token_uri_and_tokens_are_cached() {
        let endpoint = Endpoint::start(answer(
            200,
            None,
            r#"{"access_token": "ya29.user", "expires_in": 3599, "token_type": "Bearer"}"#,
        ))
        .await;
        let (_dir, credential) = user_credentials_at(&endpoint.url).await;
        assert_eq!(credential.project.as_deref(), Some("quota-proj"));
        let token = credential.provider.token(&[COMPUTE_SCOPE]).await.unwrap();
        assert_eq!(token.as_str(), "ya29.user");
        let again = credential.provider.token(&[COMPUTE_SCOPE]).await.unwrap();
        assert_eq!(again.as_str(), "ya29.user");
        assert_eq!(
            endpoint.hits(),
            1,
            "the second call is served from the cache"
        );
        let form: HashMap<String, String> = form_pairs(&endpoint.forms.lock().unwrap()[0]);
        assert_eq!(form["grant_type"], "refresh_token");
        assert_eq!(form["refresh_token"], REFRESH_TOKEN);
        assert_eq!(form["client_secret"], CLIENT_SECRET);
        assert_eq!(form["client_id"], "cid.apps.googleusercontent.com");
        // Another scope set is another token.
        credential
            .provider
            .token(&["https://www.googleapis.com/auth/cloud-platform"])
            .await
            .unwrap();
        assert_eq!(endpoint.hits(), 2);
    }

    /// Decodes an `application/x-www-form-urlencoded` body (test-only, no dependency).
    fn form_pairs(body: &str) -> HashMap<String, String> {
        fn decode(s: &str) -> String {
            let bytes = s.as_bytes();
            let mut out = Vec::new();
            let mut i = 0;
            while i < bytes.len() {
                match bytes[i] {
                    b'+' => out.push(b' '),
                    b'%' => {
                        out.push(u8::from_str_radix(&s[i + 1..i + 3], 16).unwrap());
                        i += 2;
                    }
                    b => out.push(b),
                }
                i += 1;
            }
            String::from_utf8(out).unwrap()
        }
        body.split('&')
            .filter_map(|kv| kv.split_once('='))
            .map(|(k, v)| (decode(k), decode(v)))
            .collect()
    }

    #[tokio::test]
    async fn a_hung_token_endpoint_times_out_and_concurrent_callers_share_one_fetch() {
        let endpoint = Endpoint::start(Behaviour::Hang).await;
        let exchange = Arc::new(TokenExchange::new(
            token_client(None).unwrap(),
            endpoint.url.clone(),
            Grant::RefreshToken {
                client_id: "cid".into(),
                client_secret: CLIENT_SECRET.into(),
                refresh_token: REFRESH_TOKEN.into(),
            },
            None,
            Duration::from_millis(300),
        ));
        let call = |exchange: Arc<TokenExchange>| async move {
            tokio::time::timeout(Duration::from_secs(10), exchange.token(&[COMPUTE_SCOPE]))
                .await
                .expect("the token call ends, with the token request's timeout")
        };
        let started = std::time::Instant::now();
        let (first, second) = tokio::join!(call(exchange.clone()), call(exchange.clone()));
        for err in [first.unwrap_err(), second.unwrap_err()] {
            let e = classify_token(&site(), &err);
            assert_eq!(e.kind, ErrorKind::Timeout, "{e}");
            assert_eq!(e.code, "token_timeout", "{e}");
            assert!(e.message.contains(&endpoint.url), "{e}");
        }
        assert!(started.elapsed() < Duration::from_secs(5));
        assert_eq!(endpoint.hits(), 1, "concurrent callers share one fetch");
        // A failed fetch is not cached: the next call (the engine's retry) asks again.
        let third = call(exchange.clone()).await.unwrap_err();
        assert_eq!(classify_token(&site(), &third).kind, ErrorKind::Timeout);
        assert_eq!(endpoint.hits(), 2);
    }

    #[tokio::test]
    async fn gcloud_user_credentials_as_a_key_file_get_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("user.json");
        std::fs::write(
            &path,
            serde_json::json!({"type": "authorized_user", "client_id": "cid",
                "client_secret": CLIENT_SECRET, "refresh_token": REFRESH_TOKEN})
            .to_string(),
        )
        .unwrap();
        let err = load(
            CredentialSource::ServiceAccountFile(path.clone()),
            None,
            None,
            None,
        )
        .await
        .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Unauthorized);
        let text = err.to_string();
        for needle in [
            path.display().to_string().as_str(),
            "authorized_user",
            "service-account key",
            "GOOGLE_APPLICATION_CREDENTIALS",
            "gcloud auth application-default login",
        ] {
            assert!(text.contains(needle), "{needle:?} missing from {text}");
        }
        assert!(!text.contains("No such file"), "{text}");
        assert!(!text.contains(REFRESH_TOKEN) && !text.contains(CLIENT_SECRET));
    }

    #[tokio::test]
    async fn incomplete_user_credentials_name_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("application_default_credentials.json");
        std::fs::write(&path, r#"{"type": "authorized_user", "client_id": "cid"}"#).unwrap();
        let err = load(
            CredentialSource::ApplicationDefault,
            None,
            None,
            Some(dir.path().to_path_buf()),
        )
        .await
        .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Unauthorized);
        assert!(
            err.to_string().contains(&path.display().to_string()),
            "{err}"
        );
    }

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

    #[tokio::test]
    async fn debug_hides_the_client_secret_refresh_token_and_minted_tokens() {
        let minted = "ya29.minted-token-sentinel";
        let endpoint = Endpoint::start(answer(
            200,
            None,
            &format!(
                r#"{{"access_token": "{minted}", "expires_in": 3599, "token_type": "Bearer"}}"#
            ),
        ))
        .await;
        let (_dir, credential) = user_credentials_at(&endpoint.url).await;
        let token = credential.provider.token(&[COMPUTE_SCOPE]).await.unwrap();
        assert_eq!(token.as_str(), minted);
        // The token is cached in the exchange now: neither it nor the grant's secrets show.
        for text in [format!("{credential:?}"), format!("{token:?}")] {
            for secret in [minted, CLIENT_SECRET, REFRESH_TOKEN] {
                assert!(!text.contains(secret), "{secret} in {text}");
            }
        }
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
