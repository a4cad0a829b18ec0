//! SigV4 verification of EC2 Query requests: the canonical request is rebuilt from the
//! headers the client lists in `SignedHeaders` (never a fixed set), the signature recomputed
//! with the emulator's secret key, and stale dates refused. The credential scope's region is
//! the region the request addresses (one endpoint serves every region).

use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use hmac::{Hmac, Mac};
use jiff::Timestamp;
use sha2::{Digest, Sha256};

use super::xml::Ec2Error;
use crate::credentials::AwsCredentials;

type HmacSha256 = Hmac<Sha256>;

/// How far a request's date may be from the server's clock.
const MAX_SKEW_SECS: i64 = 15 * 60;

/// A verified request's scope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    /// The region from the credential scope.
    pub region: String,
}

/// How auth failures are reported (the wire reference leaves the exact code and status
/// unverified; `clouds.aws.options.auth_failure_status` / `signature_mismatch_code` switch).
#[derive(Debug, Clone)]
pub struct AuthStyle {
    /// HTTP status of `AuthFailure`-type errors.
    pub status: StatusCode,
    /// Code for a signature that does not match.
    pub mismatch_code: String,
}

fn auth_failure(style: &AuthStyle, code: &str, message: &str) -> Ec2Error {
    Ec2Error::new(style.status, code, message)
}

fn hmac(key: &[u8], data: &[u8]) -> Vec<u8> {
    // HMAC accepts keys of any length, so this cannot fail.
    let mut mac = HmacSha256::new_from_slice(key).unwrap_or_else(|_| unreachable!());
    mac.update(data);
    mac.finalize().into_bytes().to_vec()
}

/// RFC 3986 encoding as SigV4 wants it: unreserved characters stay, everything else is
/// `%XX` upper-case.
fn aws_encode(s: &str, out: &mut String) {
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let Ok(v) = u8::from_str_radix(
                std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("zz"),
                16,
            )
        {
            out.push(v);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn canonical_query(query: Option<&str>) -> String {
    let Some(q) = query.filter(|q| !q.is_empty()) else {
        return String::new();
    };
    let mut pairs: Vec<(String, String)> = q
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            let (mut ke, mut ve) = (String::new(), String::new());
            aws_encode(&percent_decode(k), &mut ke);
            aws_encode(&percent_decode(v), &mut ve);
            (ke, ve)
        })
        .collect();
    pairs.sort();
    pairs
        .into_iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&")
}

fn canonical_uri(path: &str) -> String {
    if path.is_empty() {
        return "/".to_owned();
    }
    // Clients send the path already encoded once; SigV4 for non-S3 services encodes each
    // segment again.
    path.split('/')
        .map(|seg| {
            let mut out = String::new();
            aws_encode(&percent_decode(seg), &mut out);
            out
        })
        .collect::<Vec<_>>()
        .join("/")
}

fn header_value(headers: &HeaderMap, uri: &Uri, name: &str) -> Option<String> {
    let values: Vec<String> = headers
        .get_all(name)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .map(|v| v.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect();
    if values.is_empty() {
        // HTTP/2 carries the host as `:authority`, which hyper keeps in the URI.
        return (name == "host")
            .then(|| uri.authority().map(|a| a.to_string()))
            .flatten();
    }
    Some(values.join(","))
}

fn parse_amz_date(s: &str) -> Option<Timestamp> {
    // `YYYYMMDD'T'HHMMSS'Z'` → RFC 3339, which jiff parses without time-zone support.
    let b = s.as_bytes();
    if b.len() != 16
        || b[8] != b'T'
        || b[15] != b'Z'
        || !s[..8]
            .bytes()
            .chain(s[9..15].bytes())
            .all(|c| c.is_ascii_digit())
    {
        return None;
    }
    format!(
        "{}-{}-{}T{}:{}:{}Z",
        &s[0..4],
        &s[4..6],
        &s[6..8],
        &s[9..11],
        &s[11..13],
        &s[13..15]
    )
    .parse()
    .ok()
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Verifies the `Authorization` header of a request; `now` is the cloud's clock, which
/// `X-Amz-Date` may be at most 15 minutes from (`RequestExpired`, 400).
pub fn verify(
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: &[u8],
    creds: &AwsCredentials,
    style: &AuthStyle,
    now: Timestamp,
) -> Result<Verified, Ec2Error> {
    let Some(auth) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    else {
        return Err(auth_failure(
            style,
            "MissingAuthenticationToken",
            "The request must contain either a valid (registered) AWS access key ID or X.509 certificate.",
        ));
    };
    let Some(rest) = auth.strip_prefix("AWS4-HMAC-SHA256 ") else {
        return Err(Ec2Error::bad(
            "IncompleteSignature",
            "Unsupported authorization type; expected AWS4-HMAC-SHA256.",
        ));
    };
    let (mut credential, mut signed_headers, mut signature) = (None, None, None);
    for part in rest.split(',') {
        let part = part.trim();
        if let Some(v) = part.strip_prefix("Credential=") {
            credential = Some(v);
        } else if let Some(v) = part.strip_prefix("SignedHeaders=") {
            signed_headers = Some(v);
        } else if let Some(v) = part.strip_prefix("Signature=") {
            signature = Some(v);
        }
    }
    let (Some(credential), Some(signed_headers), Some(signature)) =
        (credential, signed_headers, signature)
    else {
        return Err(Ec2Error::bad(
            "IncompleteSignature",
            "Authorization header requires 'Credential', 'SignedHeaders' and 'Signature' parameters.",
        ));
    };
    let scope: Vec<&str> = credential.split('/').collect();
    let [access_key, date, region, service, terminator] = scope[..] else {
        return Err(Ec2Error::bad(
            "IncompleteSignature",
            "Credential must have exactly 5 slash-delimited elements.",
        ));
    };
    if access_key != creds.access_key_id {
        return Err(auth_failure(
            style,
            "AuthFailure",
            "AWS was not able to validate the provided access credentials",
        ));
    }
    if service != "ec2" || terminator != "aws4_request" {
        return Err(auth_failure(
            style,
            &style.mismatch_code,
            &format!("Credential should be scoped to correct service: 'ec2', not '{service}'."),
        ));
    }
    if headers.contains_key("x-amz-security-token") {
        return Err(auth_failure(
            style,
            "AuthFailure",
            "The security token included in the request is invalid.",
        ));
    }
    let amz_date = headers
        .get("x-amz-date")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let Some(amz_date) = amz_date else {
        return Err(Ec2Error::bad(
            "MissingParameter",
            "Request is missing the X-Amz-Date header.",
        ));
    };
    let Some(request_time) = parse_amz_date(&amz_date) else {
        return Err(Ec2Error::bad(
            "IncompleteSignature",
            format!("Invalid X-Amz-Date: {amz_date}"),
        ));
    };
    if !amz_date.starts_with(date) {
        return Err(auth_failure(
            style,
            &style.mismatch_code,
            "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP.",
        ));
    }
    // Signatures are checked against the cloud's clock (real time plus the scenario's
    // `clock_skew_s`), not the world clock (which tests advance).
    let skew = now.duration_since(request_time).as_secs().abs();
    if skew > MAX_SKEW_SECS {
        return Err(Ec2Error::bad(
            "RequestExpired",
            format!("Request has expired. Timestamp date is {amz_date}."),
        ));
    }
    let names: Vec<&str> = signed_headers.split(';').collect();
    if !names.contains(&"host") {
        return Err(auth_failure(
            style,
            &style.mismatch_code,
            "'Host' must be a 'SignedHeader' in the AWS Authorization.",
        ));
    }
    let mut canonical_headers = String::new();
    for name in &names {
        let Some(value) = header_value(headers, uri, name) else {
            return Err(auth_failure(
                style,
                &style.mismatch_code,
                &format!(
                    "The request signature we calculated does not match the signature you provided: signed header '{name}' is missing."
                ),
            ));
        };
        canonical_headers.push_str(name);
        canonical_headers.push(':');
        canonical_headers.push_str(value.trim());
        canonical_headers.push('\n');
    }
    let body_hash = hex::encode(Sha256::digest(body));
    let payload_hash = match headers
        .get("x-amz-content-sha256")
        .and_then(|v| v.to_str().ok())
    {
        Some("UNSIGNED-PAYLOAD") => "UNSIGNED-PAYLOAD".to_owned(),
        Some(declared) if declared != body_hash => {
            return Err(auth_failure(
                style,
                &style.mismatch_code,
                "The provided 'x-amz-content-sha256' header does not match what was computed.",
            ));
        }
        _ => body_hash,
    };
    let canonical_request = format!(
        "{method}\n{}\n{}\n{canonical_headers}\n{signed_headers}\n{payload_hash}",
        canonical_uri(uri.path()),
        canonical_query(uri.query()),
    );
    let scope = format!("{date}/{region}/{service}/aws4_request");
    let string_to_sign = format!(
        "AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{}",
        hex::encode(Sha256::digest(canonical_request.as_bytes()))
    );
    let k_date = hmac(
        format!("AWS4{}", creds.secret_access_key).as_bytes(),
        date.as_bytes(),
    );
    let k_region = hmac(&k_date, region.as_bytes());
    let k_service = hmac(&k_region, service.as_bytes());
    let k_signing = hmac(&k_service, b"aws4_request");
    let expected = hex::encode(hmac(&k_signing, string_to_sign.as_bytes()));
    if !constant_time_eq(expected.as_bytes(), signature.as_bytes()) {
        return Err(auth_failure(
            style,
            &style.mismatch_code,
            "AWS was not able to validate the provided access credentials",
        ));
    }
    Ok(Verified {
        region: region.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_and_uri_canonicalisation_follow_sigv4() {
        assert_eq!(canonical_query(Some("b=2&a=x%20y&a=1")), "a=1&a=x%20y&b=2");
        assert_eq!(canonical_query(None), "");
        assert_eq!(canonical_uri("/"), "/");
        assert_eq!(canonical_uri("/a%20b/c"), "/a%20b/c");
    }

    #[test]
    fn amz_dates_parse() {
        let ts = parse_amz_date("20250601T120000Z").unwrap();
        assert_eq!(ts.to_string(), "2025-06-01T12:00:00Z");
        assert!(parse_amz_date("2025-06-01").is_none());
    }
}
