//! OCI request signing: draft-cavage HTTP Signatures, `version="1"`, `rsa-sha256`.
//!
//! The signing string is one `name: value` line per signed header, joined with `\n`, in the
//! order the OCI SDKs use: `date (request-target) host` for every request, plus
//! `content-length content-type x-content-sha256` for POST, PUT and PATCH (whose
//! `x-content-sha256` is the base64 SHA-256 of the exact body bytes). The signature is RSA
//! PKCS#1 v1.5 over SHA-256 of that string, made with aws-lc-rs (not the `rsa` crate:
//! RUSTSEC-2023-0071). The key is read from PEM: PKCS#8 (`BEGIN PRIVATE KEY`), PKCS#1
//! (`BEGIN RSA PRIVATE KEY`), or encrypted PKCS#8 (`BEGIN ENCRYPTED PRIVATE KEY`, decrypted
//! with the profile's `pass_phrase`); text around the block (the console's `OCI_API_KEY`
//! label line) is ignored. Nothing secret is ever printed: [`Signer`]'s Debug shows the key id.

use std::fmt;
use std::sync::Arc;

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{RSA_PKCS1_SHA256, RsaKeyPair};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use sha2::{Digest, Sha256};

/// The content type of every body cr sends.
pub(crate) const JSON: &str = "application/json";

/// Why a key file cannot be used (the text never contains key material or the pass phrase).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum KeyError {
    /// No PEM block, or one that is not an RSA private key.
    NotAKey(String),
    /// The key is encrypted and no `pass_phrase` was given.
    NeedsPassPhrase,
    /// The `pass_phrase` does not decrypt the key.
    WrongPassPhrase,
    /// A legacy OpenSSL-encrypted PKCS#1 key (`Proc-Type: 4,ENCRYPTED`).
    LegacyEncrypted,
}

impl fmt::Display for KeyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeyError::NotAKey(why) => write!(
                f,
                "a PEM RSA private key (PKCS#8 `BEGIN PRIVATE KEY` or PKCS#1 `BEGIN RSA PRIVATE KEY`) ({why})"
            ),
            KeyError::NeedsPassPhrase => f.write_str(
                "an unencrypted key, or `pass_phrase` in the profile: the key is encrypted and no pass phrase is configured",
            ),
            KeyError::WrongPassPhrase => f.write_str(
                "the profile's `pass_phrase` to decrypt the key (it does not: wrong pass phrase, or an unsupported cipher)",
            ),
            KeyError::LegacyEncrypted => f.write_str(
                "a PKCS#8 key: this is a legacy OpenSSL-encrypted PKCS#1 key (`Proc-Type: 4,ENCRYPTED`), which cr does not \
                 decrypt; convert it with `openssl pkcs8 -topk8 -v2 aes-256-cbc -in OLD.pem -out NEW.pem` (keeps it \
                 encrypted; set `pass_phrase`) or `openssl pkcs8 -topk8 -nocrypt -in OLD.pem -out NEW.pem`",
            ),
        }
    }
}

/// Reads an RSA private key from PEM text, decrypting it with `pass_phrase` when encrypted.
pub(crate) fn load_key(pem_text: &[u8], pass_phrase: Option<&str>) -> Result<RsaKeyPair, KeyError> {
    let text = String::from_utf8_lossy(pem_text);
    if text.contains("Proc-Type: 4,ENCRYPTED") {
        return Err(KeyError::LegacyEncrypted);
    }
    let block = pem::parse(pem_text.trim_ascii())
        .or_else(|_| {
            // A label line after the block (`OCI_API_KEY`) or before it: parse the block alone.
            let start = text.find("-----BEGIN").ok_or(())?;
            let end_marker = text[start..].find("-----END").ok_or(())?;
            let tail = &text[start + end_marker..];
            let end = tail[5..].find("-----").map(|i| i + 10).ok_or(())?;
            pem::parse(&text[start..start + end_marker + end]).map_err(|_| ())
        })
        .map_err(|_| KeyError::NotAKey("no PEM block found".into()))?;
    let rejected = |e: aws_lc_rs::error::KeyRejected| KeyError::NotAKey(e.to_string());
    match block.tag() {
        "PRIVATE KEY" => RsaKeyPair::from_pkcs8(block.contents()).map_err(rejected),
        "RSA PRIVATE KEY" => RsaKeyPair::from_der(block.contents()).map_err(rejected),
        "ENCRYPTED PRIVATE KEY" => {
            let pass = pass_phrase
                .filter(|p| !p.is_empty())
                .ok_or(KeyError::NeedsPassPhrase)?;
            let info = pkcs8::EncryptedPrivateKeyInfo::try_from(block.contents())
                .map_err(|e| KeyError::NotAKey(format!("not an encrypted PKCS#8 key: {e}")))?;
            let plain = info
                .decrypt(pass.as_bytes())
                .map_err(|_| KeyError::WrongPassPhrase)?;
            RsaKeyPair::from_pkcs8(plain.as_bytes()).map_err(rejected)
        }
        other => Err(KeyError::NotAKey(format!("the PEM block is `{other}`"))),
    }
}

/// The signed headers of a body: `content-length`, `content-type`, `x-content-sha256`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct BodyHeaders {
    pub(crate) content_length: String,
    pub(crate) content_type: String,
    pub(crate) content_sha256: String,
}

impl BodyHeaders {
    /// The headers of a JSON body.
    pub(crate) fn json(body: &[u8]) -> BodyHeaders {
        BodyHeaders {
            content_length: body.len().to_string(),
            content_type: JSON.to_string(),
            content_sha256: B64.encode(Sha256::digest(body)),
        }
    }
}

/// What is signed about one request.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RequestParts<'a> {
    /// The method, any case.
    pub(crate) method: &'a str,
    /// Path and query exactly as sent (`/20160918/x?limit=1`).
    pub(crate) target: &'a str,
    /// The `Host` header as sent (with `:port` when the URL has one).
    pub(crate) host: &'a str,
    /// The `date` header (RFC 1123, GMT).
    pub(crate) date: &'a str,
    /// The body's headers, for POST, PUT and PATCH (an absent body signs as empty).
    pub(crate) body: Option<&'a BodyHeaders>,
}

/// Signs requests for one API key (`keyId` = `tenancy/user/fingerprint`).
#[derive(Clone)]
pub(crate) struct Signer {
    key_id: String,
    key: Arc<RsaKeyPair>,
    rng: SystemRandom,
}

impl fmt::Debug for Signer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Signer")
            .field("key_id", &self.key_id)
            .finish_non_exhaustive()
    }
}

/// The `date` header value of `t`: RFC 1123 in GMT (`Thu, 05 Jun 2025 21:31:40 GMT`).
pub(crate) fn http_date(t: jiff::Timestamp) -> String {
    t.strftime("%a, %d %b %Y %H:%M:%S GMT").to_string()
}

impl Signer {
    pub(crate) fn new(tenancy: &str, user: &str, fingerprint: &str, key: RsaKeyPair) -> Self {
        Signer {
            key_id: format!("{tenancy}/{user}/{fingerprint}"),
            key: Arc::new(key),
            rng: SystemRandom::new(),
        }
    }

    /// The key id the signature names.
    #[cfg(test)]
    pub(crate) fn key_id(&self) -> &str {
        &self.key_id
    }

    /// The user OCID of the key id (`tenancy/user/fingerprint`): who signs, never the key.
    pub(crate) fn user(&self) -> Option<&str> {
        self.key_id.split('/').nth(1).filter(|u| !u.is_empty())
    }

    /// The signing string of `parts` and the names of its headers, in order.
    pub(crate) fn signing_string(parts: &RequestParts<'_>) -> (String, String) {
        let method = parts.method.to_ascii_lowercase();
        let mut lines = vec![
            format!("date: {}", parts.date),
            format!("(request-target): {method} {}", parts.target),
            format!("host: {}", parts.host),
        ];
        let mut names = String::from("date (request-target) host");
        let empty;
        let body = match (method.as_str(), parts.body) {
            (_, Some(b)) => Some(b),
            ("post" | "put" | "patch", None) => {
                empty = BodyHeaders::json(b"");
                Some(&empty)
            }
            _ => None,
        };
        if let Some(b) = body {
            lines.push(format!("content-length: {}", b.content_length));
            lines.push(format!("content-type: {}", b.content_type));
            lines.push(format!("x-content-sha256: {}", b.content_sha256));
            names.push_str(" content-length content-type x-content-sha256");
        }
        (lines.join("\n"), names)
    }

    /// The `Authorization` header value of a request.
    pub(crate) fn authorization(&self, parts: &RequestParts<'_>) -> String {
        let (string, names) = Signer::signing_string(parts);
        let mut signature = vec![0u8; self.key.public_modulus_len()];
        // Signing with a valid key pair into a buffer of the modulus length cannot fail.
        let signature = match self.key.sign(
            &RSA_PKCS1_SHA256,
            &self.rng,
            string.as_bytes(),
            &mut signature,
        ) {
            Ok(()) => B64.encode(&signature),
            Err(_) => String::new(),
        };
        format!(
            "Signature version=\"1\",headers=\"{names}\",keyId=\"{}\",algorithm=\"rsa-sha256\",signature=\"{signature}\"",
            self.key_id
        )
    }
}

#[cfg(test)]
mod tests {
    use aws_lc_rs::signature::KeyPair as _;

    use super::*;

    const DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/testdata");

    fn read(name: &str) -> Vec<u8> {
        std::fs::read(format!("{DIR}/{name}")).unwrap()
    }

    fn param<'a>(auth: &'a str, name: &str) -> &'a str {
        let start = auth.find(&format!("{name}=\"")).unwrap() + name.len() + 2;
        let len = auth[start..].find('"').unwrap();
        &auth[start..start + len]
    }

    /// testdata/kat.json holds signatures the official OCI Python SDK's signer computed
    /// (testdata/make_kat.sh); ours must be byte-identical (PKCS#1 v1.5 is deterministic).
    #[test]
    fn signatures_match_the_official_sdk() {
        let kat: serde_json::Value = serde_json::from_slice(&read("kat.json")).unwrap();
        let s = |k: &str| kat[k].as_str().unwrap().to_string();
        for key_file in ["key_pkcs8.pem", "key_pkcs1.pem", "key_pkcs8_labelled.pem"] {
            let key = load_key(&read(key_file), None).unwrap();
            let signer = Signer::new(&s("tenancy"), &s("user"), &s("fingerprint"), key);
            let date = s("date");
            for case in kat["cases"].as_array().unwrap() {
                let url = reqwest::Url::parse(case["url"].as_str().unwrap()).unwrap();
                let target = match url.query() {
                    Some(q) => format!("{}?{q}", url.path()),
                    None => url.path().to_string(),
                };
                let host = match url.port() {
                    Some(p) => format!("{}:{p}", url.host_str().unwrap()),
                    None => url.host_str().unwrap().to_string(),
                };
                let body = case["body"]
                    .as_str()
                    .map(|b| BodyHeaders::json(b.as_bytes()));
                if let Some(b) = &body {
                    assert_eq!(b.content_sha256, case["x-content-sha256"].as_str().unwrap());
                    assert_eq!(b.content_length, case["content-length"].as_str().unwrap());
                }
                let parts = RequestParts {
                    method: case["method"].as_str().unwrap(),
                    target: &target,
                    host: &host,
                    date: &date,
                    body: body.as_ref(),
                };
                let ours = signer.authorization(&parts);
                let theirs = case["authorization"].as_str().unwrap();
                for name in ["headers", "keyId", "algorithm", "signature", "version"] {
                    assert_eq!(
                        param(&ours, name),
                        param(theirs, name),
                        "{key_file} {} {name}",
                        case["method"]
                    );
                }
            }
        }
    }

    #[test]
    fn an_encrypted_key_needs_its_pass_phrase() {
        let encrypted = read("key_pkcs8_encrypted.pem");
        assert_eq!(
            load_key(&encrypted, None).err(),
            Some(KeyError::NeedsPassPhrase)
        );
        assert_eq!(
            load_key(&encrypted, Some("wrong")).err(),
            Some(KeyError::WrongPassPhrase)
        );
        let key = load_key(&encrypted, Some("kat-pass-phrase")).unwrap();
        let plain = load_key(&read("key_pkcs8.pem"), None).unwrap();
        assert_eq!(
            key.public_key().as_ref(),
            plain.public_key().as_ref(),
            "the decrypted key is the same key"
        );
        let text = KeyError::NeedsPassPhrase.to_string();
        assert!(text.contains("pass_phrase"), "{text}");
    }

    #[test]
    fn a_legacy_encrypted_pkcs1_key_is_refused_with_the_conversion() {
        let err = load_key(&read("key_pkcs1_encrypted.pem"), Some("kat-pass-phrase")).unwrap_err();
        assert_eq!(err, KeyError::LegacyEncrypted);
        assert!(err.to_string().contains("openssl pkcs8 -topk8"), "{err}");
    }

    #[test]
    fn junk_is_not_a_key() {
        for junk in [
            &b"not a key"[..],
            b"-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n",
        ] {
            assert!(matches!(load_key(junk, None), Err(KeyError::NotAKey(_))));
        }
    }

    #[test]
    fn bodies_sign_six_headers_and_an_empty_post_signs_the_empty_hash() {
        let parts = RequestParts {
            method: "POST",
            target: "/x",
            host: "h",
            date: "d",
            body: None,
        };
        let (string, names) = Signer::signing_string(&parts);
        assert_eq!(
            names,
            "date (request-target) host content-length content-type x-content-sha256"
        );
        assert!(string.ends_with(
            "content-length: 0\ncontent-type: application/json\nx-content-sha256: 47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="
        ));
        assert!(string.starts_with("date: d\n(request-target): post /x\nhost: h\n"));
        let get = RequestParts {
            method: "GET",
            ..parts
        };
        assert_eq!(Signer::signing_string(&get).1, "date (request-target) host");
    }

    #[test]
    fn dates_are_rfc1123_gmt_and_debug_hides_the_key() {
        let t: jiff::Timestamp = "2025-06-05T21:31:40Z".parse().unwrap();
        assert_eq!(http_date(t), "Thu, 05 Jun 2025 21:31:40 GMT");
        let key = load_key(&read("key_pkcs8.pem"), None).unwrap();
        let signer = Signer::new("t", "u", "f", key);
        assert_eq!(format!("{signer:?}"), "Signer { key_id: \"t/u/f\", .. }");
    }
}
