//! Where the backend's AWS credentials come from: static keys (the builder's or the options'
//! environment overlay), or aws-config's standard provider chain (environment, shared config
//! and credentials files with profiles, SSO and `credential_process`, web identity, container
//! and instance metadata), quieted so a failing source costs one line, not a WARN dump; and
//! that one line, naming the sources tried.

use aws_config::imds::client::error::ImdsError;
use aws_config::meta::ProviderChainError;
use aws_config::{ConfigLoader, SdkConfig};
use aws_credential_types::Credentials;
use aws_credential_types::provider::error::CredentialsError;
use aws_credential_types::provider::{self, ProvideCredentials, SharedCredentialsProvider};
use tracing::instrument::WithSubscriber as _;
use tracing::subscriber::NoSubscriber;

use crate::error::{chain, find};

/// How the backend signs its calls.
#[derive(Clone, Default)]
pub(crate) struct CredentialSource {
    /// Static keys; `None`: the standard chain.
    pub(crate) credentials: Option<Credentials>,
    /// The profile of the shared config files the chain reads (else `AWS_PROFILE`/`default`).
    pub(crate) profile: Option<String>,
}

impl std::fmt::Debug for CredentialSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CredentialSource")
            .field(
                "credentials",
                &self.credentials.as_ref().map(|_| "static (redacted)"),
            )
            .field("profile", &self.profile)
            .finish()
    }
}

impl CredentialSource {
    /// Sets the credentials up on `loader`; [`CredentialSource::finish`] completes it once
    /// the config is loaded.
    pub(crate) fn configure(&self, mut loader: ConfigLoader) -> ConfigLoader {
        if let Some(credentials) = &self.credentials {
            loader = loader.credentials_provider(credentials.clone());
        }
        if let Some(profile) = &self.profile {
            loader = loader.profile_name(profile);
        }
        loader
    }

    /// The loaded config, with the standard chain (when it is used) quieted.
    pub(crate) fn finish(&self, config: SdkConfig) -> SdkConfig {
        if self.credentials.is_none() {
            quiet(config)
        } else {
            config
        }
    }
}

/// `config` with its credentials chain wrapped in [`QuietCredentials`].
fn quiet(config: SdkConfig) -> SdkConfig {
    match config.credentials_provider() {
        Some(chain) => config
            .into_builder()
            .credentials_provider(SharedCredentialsProvider::new(QuietCredentials(chain)))
            .build(),
        None => config,
    }
}

/// aws-config's credentials chain, with aws-config's own logging silenced while it runs.
///
/// When a source fails (rather than finding nothing), the chain logs a WARN whose text holds
/// the error's Debug form: for instance metadata, the whole HTTP reply, kilobytes of it. The
/// failure reaches the user anyway, as the one-line error of the call (it names the sources
/// tried: see `error::classify`), so the WARN says nothing more. With aws-config's debug
/// logging on (`CR_LOG=aws_config=debug`) nothing is silenced.
#[derive(Debug)]
struct QuietCredentials(SharedCredentialsProvider);

impl ProvideCredentials for QuietCredentials {
    fn provide_credentials<'a>(&'a self) -> provider::future::ProvideCredentials<'a>
    where
        Self: 'a,
    {
        provider::future::ProvideCredentials::new(async move {
            if tracing::enabled!(target: "aws_config", tracing::Level::DEBUG) {
                self.0.provide_credentials().await
            } else {
                self.0
                    .provide_credentials()
                    .with_subscriber(NoSubscriber::default())
                    .await
            }
        })
    }

    fn fallback_on_interrupt(&self) -> Option<Credentials> {
        self.0.fallback_on_interrupt()
    }
}

/// One line for a credentials failure. When every source of the chain found nothing, each is
/// named with its reason; when one failed, the chain stopped there and its failure is said.
/// Never a Debug dump: aws-config's instance-metadata error embeds the HTTP reply's Debug in
/// its Display, and a provider chain's Display spans lines.
pub(crate) fn describe_failure(err: &CredentialsError) -> String {
    if let Some(chain) = find::<ProviderChainError<CredentialsError>>(err) {
        let tried: Vec<String> = chain
            .attempts()
            .iter()
            .map(|a| format!("{} ({})", a.name(), reason(a.error())))
            .collect();
        return format!("tried {}", tried.join(", "));
    }
    format!(
        "{} (the sources, in order: environment, profile with SSO and credential_process, web \
         identity, container, instance metadata)",
        reason(err)
    )
}

/// What a credentials provider said, on one line, without its generic wrapper text (`the
/// credential provider was not enabled`).
fn reason(err: &CredentialsError) -> String {
    let mut parts: Vec<String> = Vec::new();
    for (i, e) in chain(err).into_iter().enumerate() {
        if i == 0 && e.source().is_some() {
            continue;
        }
        let part = match e.downcast_ref::<ImdsError>() {
            Some(ImdsError::ErrorResponse(reply)) => {
                parts.push(format!(
                    "the instance metadata service answered HTTP {}",
                    reply.response().status().as_u16()
                ));
                break;
            }
            _ => e.to_string(),
        };
        let line = part.lines().next().unwrap_or("").trim();
        let line = match line.char_indices().nth(200) {
            Some((cut, _)) => format!("{}…", &line[..cut]),
            None => line.to_string(),
        };
        if line.is_empty() || parts.iter().any(|p| p.contains(&line)) {
            continue;
        }
        parts.push(line);
    }
    parts.join(": ")
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use aws_config::imds::credentials::ImdsCredentialsProvider;
    use aws_config::meta::credentials::CredentialsProviderChain;
    use aws_sdk_ec2::error::SdkError;
    use aws_sdk_ec2::operation::create_capacity_reservation::CreateCapacityReservationError;
    use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
    use aws_smithy_runtime_api::client::result::ConnectorError;
    use cr_core::ErrorKind;
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

    use super::*;

    /// Counts the events a subscriber printing up to `max` would print.
    struct Counting {
        max: tracing::Level,
        events: Arc<AtomicUsize>,
    }

    impl tracing::Subscriber for Counting {
        fn register_callsite(
            &self,
            _: &'static tracing::Metadata<'static>,
        ) -> tracing::subscriber::Interest {
            // Ask `enabled` every time: other tests run other subscribers meanwhile.
            tracing::subscriber::Interest::sometimes()
        }
        fn enabled(&self, metadata: &tracing::Metadata<'_>) -> bool {
            *metadata.level() <= self.max
        }
        fn new_span(&self, _: &tracing::span::Attributes<'_>) -> tracing::span::Id {
            tracing::span::Id::from_u64(1)
        }
        fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}
        fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
        fn event(&self, event: &tracing::Event<'_>) {
            if *event.metadata().level() <= self.max {
                self.events.fetch_add(1, Ordering::SeqCst);
            }
        }
        fn enter(&self, _: &tracing::span::Id) {}
        fn exit(&self, _: &tracing::span::Id) {}
    }

    const REPLY_MARKER: &str = "proxy-says-no-7f3a";

    /// An instance metadata service that hands out a session token, then answers the
    /// credentials request with a 403 and a few kilobytes of HTML (as a proxy in front of
    /// 169.254.169.254 does off EC2).
    async fn refusing_imds() -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                tokio::spawn(async move {
                    let mut head = Vec::new();
                    let mut chunk = [0u8; 1024];
                    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                        match stream.read(&mut chunk).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => head.extend_from_slice(&chunk[..n]),
                        }
                    }
                    let reply = if head.starts_with(b"PUT /latest/api/token") {
                        "HTTP/1.1 200 OK\r\nx-aws-ec2-metadata-token-ttl-seconds: 21600\r\n\
                         content-length: 5\r\nconnection: close\r\n\r\ntoken"
                            .to_string()
                    } else {
                        let body = format!(
                            "<html><body>{}{REPLY_MARKER}</body></html>",
                            "Access denied by policy. ".repeat(120)
                        );
                        format!(
                            "HTTP/1.1 403 Forbidden\r\ncontent-type: text/html\r\n\
                             content-length: {}\r\nconnection: close\r\n\r\n{body}",
                            body.len()
                        )
                    };
                    let _ = stream.write_all(reply.as_bytes()).await;
                    let _ = stream.shutdown().await;
                });
            }
        });
        url
    }

    fn metadata_chain(url: &str) -> SharedCredentialsProvider {
        let imds = aws_config::imds::Client::builder()
            .endpoint(url)
            .unwrap()
            .build();
        SharedCredentialsProvider::new(CredentialsProviderChain::first_try(
            "Ec2InstanceMetadata",
            ImdsCredentialsProvider::builder().imds_client(imds).build(),
        ))
    }

    async fn events_while(
        max: tracing::Level,
        provider: &dyn ProvideCredentials,
    ) -> (usize, CredentialsError) {
        let events = Arc::new(AtomicUsize::new(0));
        let err = provider
            .provide_credentials()
            .with_subscriber(Counting {
                max,
                events: events.clone(),
            })
            .await
            .unwrap_err();
        (events.load(Ordering::SeqCst), err)
    }

    #[tokio::test]
    async fn a_failing_credentials_source_is_one_line_and_aws_config_warns_nothing() {
        let url = refusing_imds().await;
        // aws-config's chain on its own warns, with the reply's Debug dump...
        let (warnings, _) = events_while(tracing::Level::WARN, &metadata_chain(&url)).await;
        assert!(
            warnings >= 1,
            "the test no longer sees aws-config's warning"
        );
        // ...silenced by the wrapper cr installs...
        let quiet = QuietCredentials(metadata_chain(&url));
        let (warnings, err) = events_while(tracing::Level::WARN, &quiet).await;
        assert_eq!(warnings, 0);
        // ...unless aws-config's debug logging is on.
        let (events, _) = events_while(tracing::Level::DEBUG, &quiet).await;
        assert!(events >= 1);

        // The error cr reports says it in one line.
        let sdk: SdkError<CreateCapacityReservationError, HttpResponse> =
            SdkError::dispatch_failure(ConnectorError::other(Box::new(err), None));
        let e = crate::error::classify("DescribeRegions", "us-east-1", sdk);
        assert_eq!(e.kind, ErrorKind::Unauthorized);
        assert!(
            e.message
                .contains("instance metadata service answered HTTP 403"),
            "{}",
            e.message
        );
        assert!(!e.message.contains(REPLY_MARKER), "{}", e.message);
        assert!(!e.message.contains("Access denied"), "{}", e.message);
        assert!(
            !e.message.contains('\n') && e.message.len() < 400,
            "{}",
            e.message
        );
    }

    #[test]
    fn debug_hides_static_secret() {
        let source = CredentialSource {
            credentials: Some(Credentials::new(
                "AKIDEXAMPLE",
                "very-secret-key",
                Some("session-token-sentinel".to_string()),
                None,
                "t",
            )),
            profile: None,
        };
        let text = format!("{source:?}");
        assert!(!text.contains("very-secret-key"), "{text}");
        assert!(!text.contains("session-token-sentinel"), "{text}");
        assert!(text.contains("redacted"), "{text}");
    }
}
