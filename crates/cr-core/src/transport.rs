//! What every cloud crate's transport needs and used to write by hand: endpoint and CA
//! bundle validation (one error text for every cloud), the HTTP status → [`ErrorKind`]
//! fallback, and `Retry-After` parsing. Works on strings, bytes and status numbers only:
//! cr-core links no HTTP client.

use std::error::Error as StdError;
use std::path::Path;
use std::time::Duration;

use jiff::Timestamp;

use crate::error::{Error, ErrorKind, Result};

/// Where an endpoint comes from, as configuration errors name it.
pub const ENDPOINT_SOURCE: &str = "--endpoint / CR_ENDPOINT";
/// Where a CA bundle comes from, as configuration errors name it.
pub const CA_BUNDLE_SOURCE: &str = "--ca-bundle / CR_CA_BUNDLE";

const PEM_CERTIFICATE: &[u8] = b"-----BEGIN CERTIFICATE-----";

/// The delay a `Retry-After` header value asks for: delta-seconds (`120`) or an HTTP date
/// (IMF-fixdate, `Wed, 21 Oct 2015 07:28:00 GMT`, measured from `now`; a date already past
/// is zero). `None` for anything else.
pub fn parse_retry_after(value: &str, now: Timestamp) -> Option<Duration> {
    let value = value.trim();
    if value.is_empty() {
        return None;
    }
    if value.bytes().all(|b| b.is_ascii_digit()) {
        return value.parse::<u64>().ok().map(Duration::from_secs);
    }
    let at = jiff::fmt::rfc2822::DateTimeParser::new()
        .parse_timestamp(value)
        .ok()?;
    let ahead = now.duration_until(at);
    Some(Duration::try_from(ahead).unwrap_or(Duration::ZERO))
}

/// How far the cloud's clock is ahead of `now` (negative: behind), in whole seconds, from
/// the `Date` header (an HTTP date) of one of its answers; `None` when there is none or it
/// does not parse. A clock skew refusal is told from other authentication failures by this
/// where the cloud's code does not say it (OCI answers every refusal `NotAuthenticated`).
pub fn server_clock_skew(date: Option<&str>, now: Timestamp) -> Option<i64> {
    let at = jiff::fmt::rfc2822::DateTimeParser::new()
        .parse_timestamp(date?.trim())
        .ok()?;
    Some(at.as_second() - now.as_second())
}

/// The clause a clock skew error adds to the cloud's message: how far its clock is from this
/// machine's by its `Date` header (`skew_s` from [`server_clock_skew`]) and how far it lets a
/// request's time be off.
pub fn clock_skew_note(skew_s: Option<i64>, tolerance: &str) -> String {
    match skew_s {
        Some(s) => format!(
            "the cloud's clock (its Date header) is {} {} this machine's; it accepts requests at most {tolerance} off",
            human_seconds(s.unsigned_abs()),
            if s >= 0 { "ahead of" } else { "behind" }
        ),
        None => format!("the cloud accepts requests at most {tolerance} off its own clock"),
    }
}

fn human_seconds(s: u64) -> String {
    match s {
        0..120 => format!("{s} s"),
        120..7200 => format!("{} min {} s", s / 60, s % 60),
        _ => format!("{} h {} min", s / 3600, (s % 3600) / 60),
    }
}

/// The kind of an HTTP error status when no cloud code decided it: 429 throttled, 401/403
/// unauthorized, 404 not found, 408 timeout, 5xx transient, any other 4xx an invalid request,
/// anything else [`ErrorKind::Other`]. Cloud crates keep their own code tables and consult
/// this only as the fallback.
pub fn kind_of_status(status: u16) -> ErrorKind {
    match status {
        429 => ErrorKind::Throttled,
        401 | 403 => ErrorKind::Unauthorized,
        404 => ErrorKind::NotFound,
        408 => ErrorKind::Timeout,
        500..=599 => ErrorKind::Transient,
        400..=499 => ErrorKind::InvalidRequest,
        _ => ErrorKind::Other,
    }
}

/// Validates an endpoint override and returns it normalised (trimmed, without trailing
/// slashes): an `http://` or `https://` URL with a host (and optionally a port and a path),
/// without user information, query or fragment. The error names `--endpoint / CR_ENDPOINT`.
pub fn validate_endpoint(endpoint: &str) -> Result<String> {
    let trimmed = endpoint.trim();
    let bad = |why: &str| {
        Error::config(
            ENDPOINT_SOURCE,
            "endpoint",
            redact_userinfo(trimmed),
            format!(
                "an http:// or https:// URL with a host and no query or fragment, e.g. \
                 https://127.0.0.1:8443 ({why})"
            ),
        )
    };
    let scheme_end = trimmed.find("://").ok_or_else(|| bad("no scheme"))?;
    let scheme = &trimmed[..scheme_end];
    if !scheme.eq_ignore_ascii_case("http") && !scheme.eq_ignore_ascii_case("https") {
        return Err(bad("the scheme is neither http nor https"));
    }
    let rest = &trimmed[scheme_end + 3..];
    if rest.contains(['?', '#']) {
        return Err(bad("it has a query or fragment"));
    }
    if rest.contains(char::is_whitespace) {
        return Err(bad("it contains whitespace"));
    }
    let authority = rest.split('/').next().unwrap_or("");
    if authority.contains('@') {
        return Err(bad("credentials do not belong in the endpoint"));
    }
    let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
        let (host, after) = v6.split_once(']').ok_or_else(|| bad("an unclosed '['"))?;
        let port = match after {
            "" => None,
            p => Some(p.strip_prefix(':').ok_or_else(|| bad("junk after ']'"))?),
        };
        (host, port)
    } else {
        match authority.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (authority, None),
        }
    };
    if host.is_empty() {
        return Err(bad("no host"));
    }
    if let Some(port) = port
        && (port.is_empty()
            || !port.bytes().all(|b| b.is_ascii_digit())
            || port.parse::<u16>().is_err())
    {
        return Err(bad("the port is not a number from 0 to 65535"));
    }
    Ok(trimmed.trim_end_matches('/').to_string())
}

/// `endpoint` with any `user:password@` replaced, so an error never repeats a secret.
fn redact_userinfo(endpoint: &str) -> String {
    let Some(scheme_end) = endpoint.find("://") else {
        return endpoint.to_string();
    };
    let rest = &endpoint[scheme_end + 3..];
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) => format!("{}://***@{}", &endpoint[..scheme_end], &rest[at + 1..]),
        None => endpoint.to_string(),
    }
}

/// Reads the extra CA certificates of `--ca-bundle` / `CR_CA_BUNDLE` and checks the file
/// holds at least one PEM `CERTIFICATE` block. Errors are configuration errors naming the
/// file. (Whether each block parses is the TLS stack's to check; use [`invalid_ca_bundle`]
/// for its complaint, so the text stays the same.)
pub fn load_ca_bundle(path: &Path) -> Result<Vec<u8>> {
    let origin = path.display().to_string();
    let pem = std::fs::read(path)
        .map_err(|e| invalid_ca_bundle(&origin, format!("the file cannot be read: {e}")))?;
    check_ca_pem(&pem, &origin)?;
    Ok(pem)
}

/// Checks that `pem` (from `origin`: a path, or a description of PEM given in memory)
/// holds at least one PEM `CERTIFICATE` block.
pub fn check_ca_pem(pem: &[u8], origin: &str) -> Result<()> {
    if pem
        .windows(PEM_CERTIFICATE.len())
        .any(|w| w == PEM_CERTIFICATE)
    {
        Ok(())
    } else {
        Err(invalid_ca_bundle(
            origin,
            "no -----BEGIN CERTIFICATE----- block found",
        ))
    }
}

/// The configuration error of a CA bundle at `origin` that cannot be used, and why.
pub fn invalid_ca_bundle(origin: &str, why: impl std::fmt::Display) -> Error {
    Error::config(
        CA_BUNDLE_SOURCE,
        "ca_bundle",
        origin,
        format!("a PEM file of CA certificates ({why})"),
    )
}

/// Every error in `err`'s source chain, `err` first. An `io::Error` hides the error it wraps
/// from `source()` (it returns the wrapped error's source), so it is opened explicitly.
pub fn error_sources<'a>(err: &'a (dyn StdError + 'static)) -> Vec<&'a (dyn StdError + 'static)> {
    let mut out = Vec::new();
    let mut current = Some(err);
    while let Some(e) = current {
        out.push(e);
        current = match e
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
        {
            Some(inner) => Some(inner as &(dyn StdError + 'static)),
            None => e.source(),
        };
    }
    out
}

/// The Display texts of `err`'s chain joined by `: `, each said once (layers often repeat the
/// text of the error they wrap). No Debug output: it is long and may hold request data.
pub fn error_text(err: &(dyn StdError + 'static)) -> String {
    let mut text = String::new();
    for e in error_sources(err) {
        let part = e.to_string();
        if part.is_empty() || text.contains(&part) {
            continue;
        }
        if !text.is_empty() {
            text.push_str(": ");
        }
        text.push_str(&part);
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> Timestamp {
        "2015-10-21T07:27:00Z".parse().unwrap()
    }

    #[test]
    fn server_clock_skew_from_the_date_header() {
        // now() is 07:27:00.
        let ahead = server_clock_skew(Some("Wed, 21 Oct 2015 07:37:00 GMT"), now());
        assert_eq!(ahead, Some(600));
        let behind = server_clock_skew(Some("Wed, 21 Oct 2015 07:07:30 GMT"), now());
        assert_eq!(behind, Some(-1170));
        assert_eq!(server_clock_skew(Some("yesterday"), now()), None);
        assert_eq!(server_clock_skew(None, now()), None);
        assert_eq!(
            clock_skew_note(Some(-1170), "15 minutes"),
            "the cloud's clock (its Date header) is 19 min 30 s behind this machine's; it accepts requests at most 15 minutes off"
        );
        assert!(clock_skew_note(Some(600), "5 minutes").contains("10 min 0 s ahead of"));
    }

    #[test]
    fn retry_after_in_seconds() {
        assert_eq!(
            parse_retry_after("120", now()),
            Some(Duration::from_secs(120))
        );
        assert_eq!(parse_retry_after(" 0 ", now()), Some(Duration::ZERO));
    }

    #[test]
    fn retry_after_as_http_date() {
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now()),
            Some(Duration::from_secs(60))
        );
        // Already past: retry now.
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:00:00 GMT", now()),
            Some(Duration::ZERO)
        );
    }

    #[test]
    fn retry_after_garbage_is_none() {
        for v in [
            "",
            "  ",
            "-5",
            "1.5",
            "soon",
            "12 s",
            "Wed, 99 Oct 2015 07:28:00 GMT",
        ] {
            assert_eq!(parse_retry_after(v, now()), None, "{v:?}");
        }
    }

    #[test]
    fn statuses_map_to_kinds() {
        let table = [
            (429, ErrorKind::Throttled),
            (401, ErrorKind::Unauthorized),
            (403, ErrorKind::Unauthorized),
            (404, ErrorKind::NotFound),
            (408, ErrorKind::Timeout),
            (500, ErrorKind::Transient),
            (503, ErrorKind::Transient),
            (400, ErrorKind::InvalidRequest),
            (409, ErrorKind::InvalidRequest),
            (200, ErrorKind::Other),
            (0, ErrorKind::Other),
        ];
        for (status, kind) in table {
            assert_eq!(kind_of_status(status), kind, "{status}");
        }
    }

    #[test]
    fn endpoints_are_validated_and_normalised() {
        for (given, want) in [
            ("https://127.0.0.1:8443", "https://127.0.0.1:8443"),
            ("http://localhost:8080/", "http://localhost:8080"),
            (" https://h/compute/v1// ", "https://h/compute/v1"),
            ("https://[::1]:8443/", "https://[::1]:8443"),
            ("HTTPS://ec2.example", "HTTPS://ec2.example"),
        ] {
            assert_eq!(validate_endpoint(given).unwrap(), want, "{given}");
        }
        for bad in [
            "127.0.0.1:8443",
            "ftp://h",
            "https://",
            "https:///path",
            "https://h?x=1",
            "https://h/#frag",
            "https://h:port",
            "https://h:99999",
            "https://h x",
            "https://[::1",
        ] {
            let err = validate_endpoint(bad).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::InvalidConfig, "{bad}");
            let text = err.to_string();
            assert!(text.contains("--endpoint / CR_ENDPOINT"), "{text}");
            assert!(text.contains("`endpoint`"), "{text}");
        }
    }

    #[test]
    fn endpoint_errors_never_repeat_credentials() {
        let err = validate_endpoint("https://user:hunter2@h:8443/x").unwrap_err();
        let text = err.to_string();
        assert!(!text.contains("hunter2"), "{text}");
        assert!(text.contains("https://***@h:8443/x"), "{text}");
    }

    #[test]
    fn ca_bundles_are_read_and_checked() {
        let dir = std::env::temp_dir().join(format!("cr-core-ca-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let good = dir.join("good.pem");
        std::fs::write(
            &good,
            "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n",
        )
        .unwrap();
        assert!(load_ca_bundle(&good).unwrap().starts_with(b"-----BEGIN"));

        let junk = dir.join("junk.pem");
        std::fs::write(&junk, "not a certificate").unwrap();
        let text = load_ca_bundle(&junk).unwrap_err().to_string();
        assert!(text.contains("--ca-bundle / CR_CA_BUNDLE"), "{text}");
        assert!(text.contains(&junk.display().to_string()), "{text}");
        assert!(
            text.contains("no -----BEGIN CERTIFICATE----- block"),
            "{text}"
        );

        let missing = dir.join("missing.pem");
        let err = load_ca_bundle(&missing).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidConfig);
        let text = err.to_string();
        assert!(text.contains(&missing.display().to_string()), "{text}");
        assert!(text.contains("cannot be read"), "{text}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn error_text_says_each_layer_once_and_opens_io_errors() {
        #[derive(Debug)]
        struct Outer(std::io::Error);
        impl std::fmt::Display for Outer {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                write!(f, "request failed: {}", self.0)
            }
        }
        impl StdError for Outer {
            fn source(&self) -> Option<&(dyn StdError + 'static)> {
                Some(&self.0)
            }
        }
        let inner = std::io::Error::other("invalid peer certificate: UnknownIssuer");
        let err = Outer(inner);
        assert_eq!(
            error_sources(&err).len(),
            3,
            "outer, io, and the error io wraps"
        );
        assert_eq!(
            error_text(&err),
            "request failed: invalid peer certificate: UnknownIssuer"
        );
    }
}
