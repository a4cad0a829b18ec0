//! The OCI CLI/SDK configuration file (`~/.oci/config`, or `OCI_CLI_CONFIG_FILE` /
//! `OCI_CONFIG_FILE`): one profile (`OCI_CLI_PROFILE`, default `DEFAULT`; a named profile
//! inherits the `[DEFAULT]` section's keys) gives `user`, `tenancy`, `fingerprint`,
//! `key_file`, `region` and, for an encrypted key, `pass_phrase`. The key is loaded here, once;
//! a key file readable by group or others is used, with a warning.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use cr_core::{Error, Result};

use crate::signer::{self, Signer};

/// The profile used when `OCI_CLI_PROFILE` is unset.
pub const DEFAULT_PROFILE: &str = "DEFAULT";

/// Where the credentials come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ConfigSource {
    /// The configuration file.
    pub(crate) path: PathBuf,
    /// The profile.
    pub(crate) profile: String,
}

/// What a profile says, the key loaded.
#[derive(Debug, Clone)]
pub(crate) struct Credential {
    pub(crate) tenancy: String,
    /// The profile's `region` (the home region of calls that need one).
    pub(crate) region: Option<String>,
    pub(crate) signer: Signer,
}

/// The sections of an OCI config file (`[NAME]` then `key = value` lines; `#` and `;`
/// comments). Keys before any section belong to `DEFAULT`.
pub(crate) fn parse_sections(text: &str) -> BTreeMap<String, BTreeMap<String, String>> {
    let mut sections: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    let mut current = DEFAULT_PROFILE.to_string();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            current = name.trim().to_string();
            sections.entry(current.clone()).or_default();
            continue;
        }
        if let Some((k, v)) = line.split_once('=') {
            sections
                .entry(current.clone())
                .or_default()
                .insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
        }
    }
    sections
}

/// `~/x` → `<home>/x`.
fn expand_home(path: &str, home: Option<&Path>) -> PathBuf {
    match (path.strip_prefix("~/"), home) {
        (Some(rest), Some(home)) => home.join(rest),
        _ => PathBuf::from(path),
    }
}

/// Whether a key file's permissions let group or others read it.
#[cfg(unix)]
pub(crate) fn readable_by_others(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.permissions().mode() & 0o044 != 0)
}

#[cfg(not(unix))]
pub(crate) fn readable_by_others(_path: &Path) -> bool {
    false
}

/// Reads the profile of `source` and loads its key.
pub(crate) fn load(source: &ConfigSource, home: Option<&Path>) -> Result<Credential> {
    let origin = source.path.display().to_string();
    let text = std::fs::read_to_string(&source.path).map_err(|e| Error::ConfigFile {
        path: origin.clone(),
        message: format!(
            "cannot read the OCI configuration file ({e}); create it with `oci setup config`, or point \
             OCI_CLI_CONFIG_FILE at one"
        ),
    })?;
    let sections = parse_sections(&text);
    let Some(own) = sections.get(&source.profile) else {
        return Err(Error::config(
            origin,
            "profile (OCI_CLI_PROFILE)",
            &source.profile,
            format!(
                "a profile of the file (it has: {})",
                sections.keys().cloned().collect::<Vec<_>>().join(", ")
            ),
        ));
    };
    let mut profile = sections.get(DEFAULT_PROFILE).cloned().unwrap_or_default();
    profile.extend(own.clone());
    let where_ = format!("{origin} [{}]", source.profile);
    let need = |key: &str, expected: &str| -> Result<String> {
        profile
            .get(key)
            .filter(|v| !v.is_empty())
            .cloned()
            .ok_or_else(|| Error::config(&where_, key, "", expected))
    };
    let user = need("user", "the user's OCID (ocid1.user.oc1..…)")?;
    let tenancy = need("tenancy", "the tenancy's OCID (ocid1.tenancy.oc1..…)")?;
    let fingerprint = need(
        "fingerprint",
        "the API key's fingerprint, as the console shows it (aa:bb:…)",
    )?;
    let key_file = need("key_file", "the path of the API signing key (PEM)")?;
    let key_path = expand_home(&key_file, home);
    let pem = std::fs::read(&key_path).map_err(|e| {
        Error::config(
            &where_,
            "key_file",
            &key_file,
            format!("a readable PEM private key file ({e})"),
        )
    })?;
    if readable_by_others(&key_path) {
        tracing::warn!(
            key_file = %key_path.display(),
            "the OCI API key file is readable by group or others; restrict it with `chmod 600 {}`",
            key_path.display()
        );
    }
    let pass_phrase = profile.get("pass_phrase").map(String::as_str);
    let key = signer::load_key(&pem, pass_phrase).map_err(|e| {
        let key = match e {
            signer::KeyError::NeedsPassPhrase | signer::KeyError::WrongPassPhrase => "pass_phrase",
            _ => "key_file",
        };
        let value = if key == "pass_phrase" {
            match pass_phrase {
                Some(_) => "(hidden)".to_string(),
                None => String::new(),
            }
        } else {
            key_file.clone()
        };
        Error::config(&where_, key, value, e.to_string())
    })?;
    Ok(Credential {
        signer: Signer::new(&tenancy, &user, &fingerprint, key),
        tenancy,
        region: profile.get("region").filter(|r| !r.is_empty()).cloned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/testdata");

    fn write_config(dir: &Path, body: &str) -> ConfigSource {
        let path = dir.join("config");
        std::fs::write(&path, body).unwrap();
        ConfigSource {
            path,
            profile: DEFAULT_PROFILE.into(),
        }
    }

    #[test]
    fn sections_and_profile_inheritance() {
        let dir = tempfile::tempdir().unwrap();
        let body = format!(
            "# comment\n[DEFAULT]\nuser=ocid1.user.oc1..u\nfingerprint = aa:bb\nkey_file={DIR}/key_pkcs1.pem\n\
             tenancy=ocid1.tenancy.oc1..t\nregion=us-phoenix-1\n\n[OTHER]\nregion = eu-frankfurt-1\n"
        );
        let mut source = write_config(dir.path(), &body);
        let c = load(&source, None).unwrap();
        assert_eq!(c.tenancy, "ocid1.tenancy.oc1..t");
        assert_eq!(c.region.as_deref(), Some("us-phoenix-1"));
        assert_eq!(
            c.signer.key_id(),
            "ocid1.tenancy.oc1..t/ocid1.user.oc1..u/aa:bb"
        );
        source.profile = "OTHER".into();
        let c = load(&source, None).unwrap();
        assert_eq!(c.region.as_deref(), Some("eu-frankfurt-1"), "own keys win");
        assert_eq!(
            c.tenancy, "ocid1.tenancy.oc1..t",
            "DEFAULT's keys are inherited"
        );
        source.profile = "MISSING".into();
        let text = load(&source, None).unwrap_err().to_string();
        assert!(
            text.contains("MISSING") && text.contains("DEFAULT, OTHER"),
            "{text}"
        );
    }

    #[test]
    fn missing_keys_and_files_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let source = write_config(
            dir.path(),
            "[DEFAULT]\nuser=u\ntenancy=t\nkey_file=/nope.pem\n",
        );
        let text = load(&source, None).unwrap_err().to_string();
        assert!(text.contains("`fingerprint`"), "{text}");
        let source = write_config(
            dir.path(),
            "[DEFAULT]\nuser=u\ntenancy=t\nfingerprint=f\nkey_file=/nope.pem\n",
        );
        let text = load(&source, None).unwrap_err().to_string();
        assert!(
            text.contains("`key_file`") && text.contains("/nope.pem"),
            "{text}"
        );
        let gone = ConfigSource {
            path: dir.path().join("absent"),
            profile: DEFAULT_PROFILE.into(),
        };
        let text = load(&gone, None).unwrap_err().to_string();
        assert!(text.contains("oci setup config"), "{text}");
    }

    #[test]
    fn an_encrypted_key_uses_the_pass_phrase_and_never_shows_it() {
        let dir = tempfile::tempdir().unwrap();
        let base = format!(
            "[DEFAULT]\nuser=u\ntenancy=t\nfingerprint=f\nkey_file={DIR}/key_pkcs8_encrypted.pem\n"
        );
        let source = write_config(dir.path(), &base);
        let text = load(&source, None).unwrap_err().to_string();
        assert!(
            text.contains("`pass_phrase`") && text.contains("encrypted"),
            "{text}"
        );
        let source = write_config(dir.path(), &format!("{base}pass_phrase=not-it-secret\n"));
        let text = load(&source, None).unwrap_err().to_string();
        assert!(!text.contains("not-it-secret"), "{text}");
        assert!(text.contains("(hidden)"), "{text}");
        let source = write_config(dir.path(), &format!("{base}pass_phrase=kat-pass-phrase\n"));
        let credential = load(&source, None).expect("the right pass phrase opens the key");
        // Neither the pass phrase nor any line of the key file shows in Debug.
        let text = format!("{credential:?}");
        assert!(!text.contains("kat-pass-phrase"), "{text}");
        let pem = std::fs::read_to_string(format!("{DIR}/key_pkcs8_encrypted.pem")).unwrap();
        for line in pem.lines().filter(|l| !l.starts_with("-----")) {
            assert!(!text.contains(line), "a key line in {text}");
        }
    }

    #[cfg(unix)]
    #[test]
    fn group_readable_key_files_are_detected() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let key = dir.path().join("k.pem");
        std::fs::write(&key, "x").unwrap();
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert!(!readable_by_others(&key));
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o640)).unwrap();
        assert!(readable_by_others(&key));
    }

    /// A buffer the test's subscriber writes into.
    #[derive(Clone, Default)]
    struct Captured(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

    impl std::io::Write for Captured {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[cfg(unix)]
    #[test]
    fn loading_a_group_readable_key_warns_without_showing_it() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let key = dir.path().join("k.pem");
        std::fs::copy(format!("{DIR}/key_pkcs8.pem"), &key).unwrap();
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
        let source = write_config(
            dir.path(),
            &format!(
                "[DEFAULT]\nuser=u\ntenancy=t\nfingerprint=f\nkey_file={}\n",
                key.display()
            ),
        );
        let captured = Captured::default();
        let writer = captured.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(move || writer.clone())
            .with_ansi(false)
            .finish();
        let loaded = tracing::subscriber::with_default(subscriber, || load(&source, None));
        assert!(loaded.is_ok());
        let log = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
        assert!(log.contains("WARN") && log.contains("chmod 600"), "{log}");
        assert!(
            !log.contains("PRIVATE KEY") && !log.contains("MII"),
            "{log}"
        );
    }

    #[test]
    fn home_is_expanded() {
        assert_eq!(
            expand_home("~/.oci/k.pem", Some(Path::new("/home/me"))),
            PathBuf::from("/home/me/.oci/k.pem")
        );
        assert_eq!(
            expand_home("/abs", Some(Path::new("/h"))),
            PathBuf::from("/abs")
        );
    }
}
