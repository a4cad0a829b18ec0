//! Credentials the emulator generates at start and accepts: an AWS key pair, a GCE
//! service-account key, an Azure client secret and an OCI API signing key — all random,
//! never fixed in the repository — and [`write_credentials`], which writes them as the files
//! and environment variables each cloud's tooling reads.

use std::collections::BTreeMap;
use std::fmt;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use aws_lc_rs::encoding::{AsDer, PublicKeyX509Der};
use aws_lc_rs::rsa::{KeyPair as RsaKeyPair, KeySize};
use aws_lc_rs::signature::KeyPair as _;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use md5::{Digest as _, Md5};
use rand::Rng;
use rand::distr::Alphanumeric;

/// Everything the emulator accepts, per cloud, plus the CA clients must trust.
pub struct Credentials {
    /// AWS access key.
    pub aws: AwsCredentials,
    /// GCE service-account key.
    pub gce: GceCredentials,
    /// Azure service principal.
    pub azure: AzureCredentials,
    /// OCI API signing key.
    pub oci: OciCredentials,
    /// The emulator CA, PEM.
    pub ca_pem: String,
}

/// An AWS access key pair.
pub struct AwsCredentials {
    /// `AKIA…`.
    pub access_key_id: String,
    /// The secret (signs SigV4 requests).
    pub secret_access_key: String,
    /// The 12-digit account id (`ownerId`, ARNs).
    pub account_id: String,
    /// The region written to `env.sh`.
    pub default_region: String,
}

/// A GCE service account and its key.
pub struct GceCredentials {
    /// The only project the API serves.
    pub project_id: String,
    /// The service account's e-mail (`iss` of token assertions).
    pub client_email: String,
    /// Numeric client id.
    pub client_id: String,
    /// Key id (`kid` of token assertions).
    pub private_key_id: String,
    /// PKCS#8 PEM private key (the JSON key file's `private_key`).
    pub private_key_pem: String,
    /// PKCS#1 `RSAPublicKey` DER, for RS256 verification.
    pub public_key_der: Vec<u8>,
}

/// An Azure tenant, service principal and subscription.
pub struct AzureCredentials {
    /// Directory (tenant) id.
    pub tenant_id: String,
    /// Application (client) id.
    pub client_id: String,
    /// Client secret.
    pub client_secret: String,
    /// The only subscription the API serves.
    pub subscription_id: String,
}

/// An OCI tenancy, user and API signing key.
pub struct OciCredentials {
    /// `ocid1.tenancy.oc1..…`.
    pub tenancy_ocid: String,
    /// `ocid1.user.oc1..…`.
    pub user_ocid: String,
    /// MD5 of the public key's SubjectPublicKeyInfo DER, colon-separated hex.
    pub fingerprint: String,
    /// PKCS#8 PEM private key.
    pub private_key_pem: String,
    /// PKCS#1 `RSAPublicKey` DER, for rsa-sha256 verification.
    pub public_key_der: Vec<u8>,
    /// SubjectPublicKeyInfo PEM (what the OCI console shows).
    pub public_key_pem: String,
    /// The region written to the config file.
    pub default_region: String,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("aws", &self.aws)
            .field("gce", &self.gce)
            .field("azure", &self.azure)
            .field("oci", &self.oci)
            .finish_non_exhaustive()
    }
}

impl fmt::Debug for AwsCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AwsCredentials")
            .field("access_key_id", &self.access_key_id)
            .field("account_id", &self.account_id)
            .finish_non_exhaustive()
    }
}

impl fmt::Debug for GceCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GceCredentials")
            .field("project_id", &self.project_id)
            .field("client_email", &self.client_email)
            .finish_non_exhaustive()
    }
}

impl fmt::Debug for AzureCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AzureCredentials")
            .field("tenant_id", &self.tenant_id)
            .field("client_id", &self.client_id)
            .field("subscription_id", &self.subscription_id)
            .finish_non_exhaustive()
    }
}

impl fmt::Debug for OciCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OciCredentials")
            .field("tenancy_ocid", &self.tenancy_ocid)
            .field("user_ocid", &self.user_ocid)
            .field("fingerprint", &self.fingerprint)
            .finish_non_exhaustive()
    }
}

/// Key generation failed.
#[derive(Debug, thiserror::Error)]
#[error("key generation failed")]
pub struct KeyGenError;

fn random_string(len: usize, charset: &[u8]) -> String {
    let mut rng = rand::rng();
    (0..len)
        .map(|_| char::from(charset[rng.random_range(0..charset.len())]))
        .collect()
}

/// A random alphanumeric token (for bearer tokens, request ids).
pub fn random_token(len: usize) -> String {
    rand::rng()
        .sample_iter(&Alphanumeric)
        .take(len)
        .map(char::from)
        .collect()
}

fn pem(label: &str, der: &[u8]) -> String {
    let b64 = B64.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for chunk in b64.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(chunk).unwrap_or_default());
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

struct RsaMaterial {
    private_pem: String,
    public_pkcs1: Vec<u8>,
    public_spki: Vec<u8>,
}

fn rsa_key() -> Result<RsaMaterial, KeyGenError> {
    let kp = RsaKeyPair::generate(KeySize::Rsa2048).map_err(|_| KeyGenError)?;
    let pkcs8 = kp.as_der().map_err(|_| KeyGenError)?;
    let public = kp.public_key();
    let spki: PublicKeyX509Der<'static> = public.as_der().map_err(|_| KeyGenError)?;
    Ok(RsaMaterial {
        private_pem: pem("PRIVATE KEY", pkcs8.as_ref()),
        public_pkcs1: public.as_ref().to_vec(),
        public_spki: spki.as_ref().to_vec(),
    })
}

const UPPER_DIGITS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
const LOWER_DIGITS: &[u8] = b"abcdefghijklmnopqrstuvwxyz234567";
const DIGITS: &[u8] = b"0123456789";
const SECRET_CHARS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

impl Credentials {
    /// Generates fresh credentials for all four clouds.
    pub fn generate(ca_pem: String) -> Result<Credentials, KeyGenError> {
        let gce_key = rsa_key()?;
        let oci_key = rsa_key()?;
        let project_id = "cr-emulator-project".to_owned();
        let fingerprint = Md5::digest(&oci_key.public_spki)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<Vec<_>>()
            .join(":");
        Ok(Credentials {
            aws: AwsCredentials {
                access_key_id: format!("AKIA{}", random_string(16, UPPER_DIGITS)),
                secret_access_key: random_string(40, SECRET_CHARS),
                account_id: random_string(12, DIGITS).replacen('0', "1", 1),
                default_region: "us-east-1".to_owned(),
            },
            gce: GceCredentials {
                client_email: format!("cr-emulator@{project_id}.iam.gserviceaccount.com"),
                project_id,
                client_id: format!("1{}", random_string(20, DIGITS)),
                private_key_id: hex::encode(rand::rng().random::<[u8; 20]>()),
                private_key_pem: gce_key.private_pem,
                public_key_der: gce_key.public_pkcs1,
            },
            azure: AzureCredentials {
                tenant_id: uuid::Uuid::new_v4().to_string(),
                client_id: uuid::Uuid::new_v4().to_string(),
                client_secret: random_string(40, SECRET_CHARS),
                subscription_id: uuid::Uuid::new_v4().to_string(),
            },
            oci: OciCredentials {
                tenancy_ocid: format!(
                    "ocid1.tenancy.oc1..aaaaaaaa{}",
                    random_string(52, LOWER_DIGITS)
                ),
                user_ocid: format!(
                    "ocid1.user.oc1..aaaaaaaa{}",
                    random_string(52, LOWER_DIGITS)
                ),
                fingerprint,
                private_key_pem: oci_key.private_pem,
                public_key_der: oci_key.public_pkcs1,
                public_key_pem: pem("PUBLIC KEY", &oci_key.public_spki),
                default_region: "us-phoenix-1".to_owned(),
            },
            ca_pem,
        })
    }

    /// The GCE service-account key file (JSON) whose `token_uri` points at `base_url`.
    pub fn gce_key_json(&self, base_url: &str) -> serde_json::Value {
        let g = &self.gce;
        serde_json::json!({
            "type": "service_account",
            "project_id": g.project_id,
            "private_key_id": g.private_key_id,
            "private_key": g.private_key_pem,
            "client_email": g.client_email,
            "client_id": g.client_id,
            "auth_uri": format!("{base_url}/o/oauth2/auth"),
            "token_uri": format!("{base_url}/token"),
            "auth_provider_x509_cert_url": "https://www.googleapis.com/oauth2/v1/certs",
            "client_x509_cert_url": format!("https://www.googleapis.com/robot/v1/metadata/x509/{}", g.client_email.replace('@', "%40")),
            "universe_domain": "googleapis.com",
        })
    }
}

/// Files written by [`write_credentials`]. Its `Debug` shows the paths and the variable
/// names, and the values of the variables that are not secrets.
#[derive(Clone)]
pub struct CredentialFiles {
    /// `DIR/env.sh`: `source` it.
    pub env_sh: PathBuf,
    /// `DIR/ca.pem`.
    pub ca_pem: PathBuf,
    /// `DIR/gce-service-account.json`.
    pub gce_key: PathBuf,
    /// `DIR/aws/credentials` (INI, profile `default`).
    pub aws_credentials: PathBuf,
    /// `DIR/oci/config`.
    pub oci_config: PathBuf,
    /// `DIR/oci/key.pem`.
    pub oci_key: PathBuf,
    /// Exactly the variables `env.sh` exports (name → value), for callers that pass them
    /// to child processes or backends without parsing the script.
    pub env: BTreeMap<String, String>,
}

/// The variables of [`CredentialFiles::env`] whose values are secrets.
const SECRET_VARS: &[&str] = &["AWS_SECRET_ACCESS_KEY", "AZURE_CLIENT_SECRET"];

impl fmt::Debug for CredentialFiles {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        struct Env<'a>(&'a BTreeMap<String, String>);
        impl fmt::Debug for Env<'_> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_map()
                    .entries(self.0.iter().map(|(k, v)| {
                        let shown = if SECRET_VARS.contains(&k.as_str()) {
                            "<redacted>"
                        } else {
                            v.as_str()
                        };
                        (k, shown)
                    }))
                    .finish()
            }
        }
        f.debug_struct("CredentialFiles")
            .field("env_sh", &self.env_sh)
            .field("ca_pem", &self.ca_pem)
            .field("gce_key", &self.gce_key)
            .field("aws_credentials", &self.aws_credentials)
            .field("oci_config", &self.oci_config)
            .field("oci_key", &self.oci_key)
            .field("env", &Env(&self.env))
            .finish()
    }
}

fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

fn write_private(path: &Path, contents: &str) -> io::Result<()> {
    fs::write(path, contents)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(path, fs::Permissions::from_mode(0o600))?;
    }
    Ok(())
}

/// Writes credentials for all four clouds into `dir` (created if missing) plus `env.sh`,
/// which exports what each cloud's tooling reads and `CR_ENDPOINT` (HTTPS),
/// `CR_ENDPOINT_HTTP` and the CA bundle variables.
pub fn write_credentials(
    creds: &Credentials,
    dir: &Path,
    https_url: &str,
    http_url: &str,
) -> io::Result<CredentialFiles> {
    fs::create_dir_all(dir.join("aws"))?;
    fs::create_dir_all(dir.join("oci"))?;
    let dir = dir.canonicalize()?;
    let mut files = CredentialFiles {
        env_sh: dir.join("env.sh"),
        ca_pem: dir.join("ca.pem"),
        gce_key: dir.join("gce-service-account.json"),
        aws_credentials: dir.join("aws").join("credentials"),
        oci_config: dir.join("oci").join("config"),
        oci_key: dir.join("oci").join("key.pem"),
        env: BTreeMap::new(),
    };
    fs::write(&files.ca_pem, &creds.ca_pem)?;
    let key_json =
        serde_json::to_string_pretty(&creds.gce_key_json(https_url)).map_err(io::Error::other)?;
    write_private(&files.gce_key, &key_json)?;
    let aws = &creds.aws;
    write_private(
        &files.aws_credentials,
        &format!(
            "[default]\naws_access_key_id = {}\naws_secret_access_key = {}\n",
            aws.access_key_id, aws.secret_access_key
        ),
    )?;
    fs::write(
        dir.join("aws").join("config"),
        format!(
            "[default]\nregion = {}\nendpoint_url = {https_url}\nca_bundle = {}\n",
            aws.default_region,
            files.ca_pem.display()
        ),
    )?;
    let oci = &creds.oci;
    write_private(&files.oci_key, &oci.private_key_pem)?;
    write_private(
        &files.oci_config,
        &format!(
            "[DEFAULT]\nuser={}\nfingerprint={}\ntenancy={}\nregion={}\nkey_file={}\n",
            oci.user_ocid,
            oci.fingerprint,
            oci.tenancy_ocid,
            oci.default_region,
            files.oci_key.display()
        ),
    )?;
    let az = &creds.azure;
    let ca = files.ca_pem.display().to_string();
    let vars: Vec<(&str, String)> = vec![
        ("CR_ENDPOINT", https_url.to_owned()),
        ("CR_ENDPOINT_HTTP", http_url.to_owned()),
        ("CR_OCI_ENDPOINT", https_url.to_owned()),
        ("CR_CA_BUNDLE", ca.clone()),
        ("AWS_CA_BUNDLE", ca.clone()),
        ("REQUESTS_CA_BUNDLE", ca.clone()),
        ("SSL_CERT_FILE", ca.clone()),
        ("CURL_CA_BUNDLE", ca.clone()),
        ("NODE_EXTRA_CA_CERTS", ca),
        ("AWS_ACCESS_KEY_ID", aws.access_key_id.clone()),
        ("AWS_SECRET_ACCESS_KEY", aws.secret_access_key.clone()),
        ("AWS_REGION", aws.default_region.clone()),
        ("AWS_DEFAULT_REGION", aws.default_region.clone()),
        ("AWS_ENDPOINT_URL_EC2", https_url.to_owned()),
        (
            "AWS_SHARED_CREDENTIALS_FILE",
            files.aws_credentials.display().to_string(),
        ),
        (
            "AWS_CONFIG_FILE",
            dir.join("aws").join("config").display().to_string(),
        ),
        (
            "GOOGLE_APPLICATION_CREDENTIALS",
            files.gce_key.display().to_string(),
        ),
        ("GOOGLE_CLOUD_PROJECT", creds.gce.project_id.clone()),
        ("CLOUDSDK_CORE_PROJECT", creds.gce.project_id.clone()),
        (
            "CLOUDSDK_API_ENDPOINT_OVERRIDES_COMPUTE",
            format!("{https_url}/compute/v1/"),
        ),
        (
            "CLOUDSDK_CORE_CUSTOM_CA_CERTS_FILE",
            files.ca_pem.display().to_string(),
        ),
        ("AZURE_TENANT_ID", az.tenant_id.clone()),
        ("AZURE_CLIENT_ID", az.client_id.clone()),
        ("AZURE_CLIENT_SECRET", az.client_secret.clone()),
        ("AZURE_SUBSCRIPTION_ID", az.subscription_id.clone()),
        ("AZURE_AUTHORITY_HOST", format!("{https_url}/")),
        (
            "OCI_CLI_CONFIG_FILE",
            files.oci_config.display().to_string(),
        ),
        ("OCI_CONFIG_FILE", files.oci_config.display().to_string()),
        ("OCI_CLI_REGION", oci.default_region.clone()),
        ("OCI_TENANCY_OCID", oci.tenancy_ocid.clone()),
    ];
    let mut env =
        String::from("# Generated by cr-emulator: credentials this emulator instance accepts.\n");
    for (k, v) in vars {
        env.push_str(&format!("export {k}={}\n", shell_quote(&v)));
        files.env.insert(k.to_owned(), v);
    }
    write_private(&files.env_sh, &env)?;
    Ok(files)
}
