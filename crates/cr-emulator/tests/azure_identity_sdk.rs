//! The official Azure SDK for Rust against the emulator over HTTPS: `azure_identity`'s
//! `ClientSecretCredential` (custom authority host = the emulator, transport trusting the
//! emulator CA) gets a token, and an `azure_core` pipeline with the bearer-token policy
//! (which refuses non-HTTPS URLs) uses it against ARM.

use std::sync::Arc;
use std::time::Duration;

use azure_core::cloud::{CloudConfiguration, CustomConfiguration};
use azure_core::credentials::TokenCredential;
use azure_core::http::policies::Policy;
use azure_core::http::policies::auth::BearerTokenAuthorizationPolicy;
use azure_core::http::{ClientOptions, Context, Method, Pipeline, Request, Transport, Url};
use azure_identity::{ClientSecretCredential, ClientSecretCredentialOptions};
use cr_emulator::{Emulator, Scenario};

const ARM_SCOPE: &str = "https://management.azure.com/.default";

fn client_options(ca_pem: &str, https_url: &str) -> ClientOptions {
    let http = reqwest::Client::builder()
        .tls_certs_only([reqwest::Certificate::from_pem(ca_pem.as_bytes()).expect("CA PEM")])
        .timeout(Duration::from_secs(60))
        .build()
        .expect("client");
    let mut cloud = CustomConfiguration::default();
    cloud.authority_host = https_url.to_owned();
    ClientOptions {
        transport: Some(Transport::new(Arc::new(http))),
        cloud: Some(Arc::new(CloudConfiguration::from(cloud))),
        ..ClientOptions::default()
    }
}

#[tokio::test]
async fn client_secret_credential_and_bearer_policy_work_against_the_emulator() {
    let emu = Emulator::start(Scenario::default())
        .await
        .expect("emulator");
    let az = &emu.credentials().azure;
    let options = client_options(emu.ca_pem(), emu.https_url());
    let credential = ClientSecretCredential::new(
        &az.tenant_id,
        az.client_id.clone(),
        az.client_secret.clone().into(),
        Some(ClientSecretCredentialOptions {
            client_options: options.clone(),
        }),
    )
    .expect("credential");
    let token = credential
        .get_token(&[ARM_SCOPE], None)
        .await
        .expect("token from the emulator");
    assert_eq!(token.token.secret().split('.').count(), 3);
    assert!(
        token.expires_on > azure_core::time::OffsetDateTime::now_utc() + Duration::from_secs(3000)
    );

    let policy: Arc<dyn Policy> = Arc::new(BearerTokenAuthorizationPolicy::new(
        credential.clone(),
        [ARM_SCOPE],
    ));
    let pipeline = Pipeline::new(
        Some("cr-emulator-tests"),
        Some("0.1.0"),
        options,
        Vec::new(),
        vec![policy],
        None,
    );
    let ctx = Context::new();

    let url = Url::parse(&format!(
        "{}/subscriptions/{}/resourcegroups/sdk-rg?api-version=2024-11-01",
        emu.https_url(),
        az.subscription_id
    ))
    .unwrap();
    let mut put = Request::new(url, Method::Put);
    put.insert_header("content-type", "application/json");
    put.set_body(r#"{"location":"eastus"}"#);
    let resp = pipeline
        .send(&ctx, &mut put, None)
        .await
        .expect("PUT resource group");
    assert_eq!(u16::from(resp.status()), 201);

    let url = Url::parse(&format!(
        "{}/subscriptions/{}/locations?api-version=2022-12-01",
        emu.https_url(),
        az.subscription_id
    ))
    .unwrap();
    let mut get = Request::new(url, Method::Get);
    let resp = pipeline
        .send(&ctx, &mut get, None)
        .await
        .expect("GET locations");
    let body: serde_json::Value = serde_json::from_slice(resp.body().as_ref()).unwrap();
    assert!(body["value"].as_array().unwrap().len() >= 30);
    assert!(
        emu.requests()
            .iter()
            .any(|r| r.operation == "oauth2.token" && r.status == 200),
        "the token came from the emulator's endpoint"
    );
}

#[tokio::test]
async fn a_wrong_secret_is_refused_with_entra_error_codes() {
    let emu = Emulator::start(Scenario::default())
        .await
        .expect("emulator");
    let az = &emu.credentials().azure;
    let credential = ClientSecretCredential::new(
        &az.tenant_id,
        az.client_id.clone(),
        "not-the-secret".to_owned().into(),
        Some(ClientSecretCredentialOptions {
            client_options: client_options(emu.ca_pem(), emu.https_url()),
        }),
    )
    .expect("credential");
    let err = credential
        .get_token(&[ARM_SCOPE], None)
        .await
        .expect_err("wrong secret");
    let text = format!("{err}");
    assert!(text.contains("AADSTS7000215"), "{text}");
}
