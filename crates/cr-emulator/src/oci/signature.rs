//! Verification of OCI request signatures (draft-cavage HTTP Signatures, `version="1"`).
//!
//! The signing string is rebuilt from the `headers="..."` list of the `Authorization` header,
//! in that order, one `name: value` line per header joined with `\n`: `(request-target)` is
//! the lower-case method, a space and the path with query exactly as received; `host` is the
//! `Host` header as sent (with port). The list must contain at least what the OCI SDKs sign —
//! `date (request-target) host` for every method, plus `content-length content-type
//! x-content-sha256` for POST, PUT and PATCH — and for those methods `x-content-sha256` must
//! be the base64 SHA-256 of the body actually received. The signature is RSA PKCS#1 v1.5 with
//! SHA-256 over the signing string, checked against the public key the emulator issued.

use aws_lc_rs::signature::{RSA_PKCS1_2048_8192_SHA256, UnparsedPublicKey};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD as B64, STANDARD_NO_PAD as B64_NO_PAD};
use http::HeaderMap;
use sha2::{Digest, Sha256};

/// Headers every request must sign.
const GENERIC: &[&str] = &["date", "(request-target)", "host"];
/// Headers a request with a body must sign in addition.
const BODY: &[&str] = &["content-length", "content-type", "x-content-sha256"];

/// What the verifier needs to know about the request.
#[derive(Debug)]
pub struct SignedRequest<'a> {
    /// HTTP method, any case.
    pub method: &'a str,
    /// Path and query exactly as received (`/20160918/x?limit=1`).
    pub target: &'a str,
    /// All request headers.
    pub headers: &'a HeaderMap,
    /// The URI authority, used for `host` when the request has no `Host` header (HTTP/2
    /// sends `:authority` instead).
    pub host: Option<&'a str>,
    /// The body bytes.
    pub body: &'a [u8],
}

/// The identity a key id names: `{tenancy}/{user}/{fingerprint}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyId {
    /// Tenancy OCID.
    pub tenancy: String,
    /// User OCID.
    pub user: String,
    /// Colon-separated MD5 fingerprint of the API key.
    pub fingerprint: String,
}

/// Why a signature was rejected (the text goes into the 401 message; it never contains the
/// signature itself).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejected(pub String);

fn reject(msg: impl Into<String>) -> Rejected {
    Rejected(msg.into())
}

/// The parameters of an `Authorization: Signature ...` header (Debug leaves the signature
/// out).
#[derive(Default)]
struct Params {
    version: Option<String>,
    headers: Option<String>,
    key_id: Option<String>,
    algorithm: Option<String>,
    signature: Option<String>,
}

impl std::fmt::Debug for Params {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Params")
            .field("version", &self.version)
            .field("headers", &self.headers)
            .field("key_id", &self.key_id)
            .field("algorithm", &self.algorithm)
            .field("signature", &self.signature.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

fn parse_params(value: &str) -> Result<Params, Rejected> {
    let rest = value
        .strip_prefix("Signature ")
        .or_else(|| value.strip_prefix("signature "))
        .ok_or_else(|| reject("The Authorization header is not an HTTP signature."))?;
    let mut p = Params::default();
    let mut s = rest.trim();
    while !s.is_empty() {
        let eq = s
            .find('=')
            .ok_or_else(|| reject("Malformed Authorization header."))?;
        let key = s[..eq].trim().to_ascii_lowercase();
        let after = &s[eq + 1..];
        let (val, next) = if let Some(quoted) = after.strip_prefix('"') {
            let end = quoted
                .find('"')
                .ok_or_else(|| reject("Malformed Authorization header."))?;
            (&quoted[..end], &quoted[end + 1..])
        } else {
            let end = after.find(',').unwrap_or(after.len());
            (&after[..end], &after[end..])
        };
        let val = val.to_owned();
        match key.as_str() {
            "version" => p.version = Some(val),
            "headers" => p.headers = Some(val),
            "keyid" => p.key_id = Some(val),
            "algorithm" => p.algorithm = Some(val),
            "signature" => p.signature = Some(val),
            _ => {}
        }
        s = next.trim_start().trim_start_matches(',').trim_start();
    }
    Ok(p)
}

/// Parses `{tenancy}/{user}/{fingerprint}`.
pub fn parse_key_id(key_id: &str) -> Option<KeyId> {
    let mut parts = key_id.splitn(3, '/');
    let tenancy = parts.next()?.to_owned();
    let user = parts.next()?.to_owned();
    let fingerprint = parts.next()?.to_owned();
    if tenancy.is_empty() || user.is_empty() || fingerprint.is_empty() {
        return None;
    }
    Some(KeyId {
        tenancy,
        user,
        fingerprint,
    })
}

/// Base64 SHA-256 of a body, as `x-content-sha256` carries it.
pub fn body_sha256_b64(body: &[u8]) -> String {
    B64.encode(Sha256::digest(body))
}

fn header<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// Verifies the signature of a request. `expected` is the key the emulator issued and
/// `public_key_der` its public half (PKCS#1 `RSAPublicKey` or X.509 SubjectPublicKeyInfo);
/// `now` and `max_skew_s` bound the age of the `date` (or `x-date`) header.
pub fn verify(
    req: &SignedRequest<'_>,
    expected: &KeyId,
    public_key_der: &[u8],
    now: jiff::Timestamp,
    max_skew_s: i64,
) -> Result<KeyId, Rejected> {
    let auth = header(req.headers, "authorization").ok_or_else(|| {
        reject("The required information to complete authentication was not provided.")
    })?;
    let params = parse_params(auth)?;
    if let Some(v) = &params.version
        && v != "1"
    {
        return Err(reject(format!("Unsupported signature version '{v}'.")));
    }
    if let Some(a) = &params.algorithm
        && !a.eq_ignore_ascii_case("rsa-sha256")
    {
        return Err(reject(format!("Unsupported signature algorithm '{a}'.")));
    }
    let key_id = params
        .key_id
        .as_deref()
        .and_then(parse_key_id)
        .ok_or_else(|| reject("The keyId of the signature is missing or malformed."))?;
    if key_id.tenancy != expected.tenancy
        || key_id.user != expected.user
        || !key_id
            .fingerprint
            .eq_ignore_ascii_case(&expected.fingerprint)
    {
        return Err(reject(
            "The keyId of the signature does not name a known API key.",
        ));
    }
    let signature_b64 = params
        .signature
        .as_deref()
        .ok_or_else(|| reject("The signature is missing."))?;
    // Signers pad; accept an unpadded value too rather than fail on a formality.
    let signature = B64
        .decode(signature_b64)
        .or_else(|_| B64_NO_PAD.decode(signature_b64.trim_end_matches('=')))
        .map_err(|_| reject("The signature is not valid base64."))?;
    // Per the draft, an absent headers list means only `date` is signed.
    let signed: Vec<String> = params
        .headers
        .as_deref()
        .unwrap_or("date")
        .split_ascii_whitespace()
        .map(str::to_ascii_lowercase)
        .collect();

    let method = req.method.to_ascii_lowercase();
    let has_body = matches!(method.as_str(), "post" | "put" | "patch");
    let mut required: Vec<&str> = GENERIC.to_vec();
    if has_body {
        required.extend_from_slice(BODY);
    }
    for r in &required {
        // `x-date` may replace `date` (browsers cannot set `Date`).
        let present =
            signed.iter().any(|s| s == r) || (*r == "date" && signed.iter().any(|s| s == "x-date"));
        if !present {
            return Err(reject(format!(
                "The signature does not cover the required header '{r}'."
            )));
        }
    }

    let date_header = if signed.iter().any(|s| s == "x-date") {
        "x-date"
    } else {
        "date"
    };
    let date = header(req.headers, date_header)
        .ok_or_else(|| reject(format!("The signed header '{date_header}' is missing.")))?;
    let when = jiff::fmt::rfc2822::DateTimeParser::new()
        .parse_timestamp(date)
        .map_err(|_| {
            reject(format!(
                "The '{date_header}' header is not a valid HTTP date."
            ))
        })?;
    let skew = (now.as_second() - when.as_second()).abs();
    if skew > max_skew_s {
        return Err(reject(format!(
            "The request date '{date}' is more than {max_skew_s} seconds away from the server time."
        )));
    }

    if has_body {
        let claimed = header(req.headers, "x-content-sha256")
            .ok_or_else(|| reject("The signed header 'x-content-sha256' is missing."))?;
        if claimed != body_sha256_b64(req.body) {
            return Err(reject(
                "The x-content-sha256 header does not match the body.",
            ));
        }
        let len = header(req.headers, "content-length")
            .ok_or_else(|| reject("The signed header 'content-length' is missing."))?;
        if len.trim().parse::<usize>().ok() != Some(req.body.len()) {
            return Err(reject("The content-length header does not match the body."));
        }
    }

    let mut lines = Vec::with_capacity(signed.len());
    for name in &signed {
        let value = match name.as_str() {
            "(request-target)" => format!("{method} {}", req.target),
            "host" => header(req.headers, "host")
                .or(req.host)
                .ok_or_else(|| reject("The signed header 'host' is missing."))?
                .to_owned(),
            other => header(req.headers, other)
                .ok_or_else(|| reject(format!("The signed header '{other}' is missing.")))?
                .to_owned(),
        };
        lines.push(format!("{name}: {value}"));
    }
    let signing_string = lines.join("\n");
    UnparsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA256, public_key_der)
        .verify(signing_string.as_bytes(), &signature)
        .map_err(|_| reject("The signature does not verify against the API key."))?;
    Ok(key_id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_of_the_parsed_header_hides_the_signature() {
        let p = parse_params(
            r#"Signature version="1",keyId="t/u/f",algorithm="rsa-sha256",headers="date",signature="c2lnbmF0dXJlLXNlbnRpbmVs""#,
        )
        .unwrap();
        let text = format!("{p:?}");
        assert!(!text.contains("c2lnbmF0dXJlLXNlbnRpbmVs"), "{text}");
        assert!(text.contains("t/u/f"), "{text}");
    }

    #[test]
    fn params_parse_quoted_values_in_any_order() {
        let p = parse_params(
            r#"Signature version="1",headers="date (request-target) host",keyId="t/u/aa:bb",algorithm="rsa-sha256",signature="c2ln""#,
        )
        .unwrap();
        assert_eq!(p.version.as_deref(), Some("1"));
        assert_eq!(p.headers.as_deref(), Some("date (request-target) host"));
        assert_eq!(p.key_id.as_deref(), Some("t/u/aa:bb"));
        assert_eq!(p.signature.as_deref(), Some("c2ln"));
        assert!(parse_params("Bearer abc").is_err());
    }

    #[test]
    fn key_id_has_three_parts() {
        let k = parse_key_id("ocid1.tenancy.oc1..a/ocid1.user.oc1..b/12:34").unwrap();
        assert_eq!(k.tenancy, "ocid1.tenancy.oc1..a");
        assert_eq!(k.user, "ocid1.user.oc1..b");
        assert_eq!(k.fingerprint, "12:34");
        assert!(parse_key_id("a/b").is_none());
    }

    #[test]
    fn body_hash_of_empty_body() {
        assert_eq!(
            body_sha256_b64(b""),
            "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="
        );
    }
}
