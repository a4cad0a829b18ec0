//! The GCE token endpoint and bearer checks over raw HTTP: a valid JWT-bearer grant works;
//! wrong key, issuer, audience, lifetime, grant type or scope are refused in Google's OAuth
//! error shape; the Compute API refuses missing, unknown and under-scoped tokens.

mod common;

use aws_lc_rs::encoding::AsDer;
use common::{
    client, gce, gce_token, jwt, jwt_der, reservation_body, start, token_claims, token_request,
    unix_now,
};
use reqwest::Method;
use serde_json::json;

#[tokio::test]
async fn a_valid_assertion_yields_a_bearer_token() {
    let emu = start("").await;
    let g = &emu.credentials().gce;
    let assertion = jwt(
        &g.private_key_pem,
        &g.private_key_id,
        &token_claims(&emu, emu.https_url()),
    );
    let (status, body) = token_request(&emu, &assertion).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["token_type"], "Bearer");
    assert!(body["expires_in"].as_i64().unwrap() > 3000);
    let token = body["access_token"].as_str().unwrap();
    let (status, _) = gce(&emu, token, Method::GET, "zones", None).await;
    assert_eq!(status, 200);

    // The plain-HTTP token URI is an accepted audience too.
    let over_http = jwt(
        &g.private_key_pem,
        &g.private_key_id,
        &token_claims(&emu, emu.http_url()),
    );
    assert_eq!(token_request(&emu, &over_http).await.0, 200);
    emu.shutdown().await;
}

#[tokio::test]
async fn bad_assertions_are_refused() {
    let emu = start("").await;
    let g = &emu.credentials().gce;
    let good = token_claims(&emu, emu.https_url());
    let refuse = |claims: serde_json::Value, pem: Option<Vec<u8>>| {
        let kid = g.private_key_id.clone();
        let key_pem = g.private_key_pem.clone();
        let emu = &emu;
        async move {
            let assertion = match pem {
                Some(der) => jwt_der(&der, &kid, &claims),
                None => jwt(&key_pem, &kid, &claims),
            };
            token_request(emu, &assertion).await
        }
    };

    let other_key = aws_lc_rs::rsa::KeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048).unwrap();
    let other_der = other_key.as_der().unwrap().as_ref().to_vec();
    let (status, body) = refuse(good.clone(), Some(other_der)).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );
    assert_eq!(body["error_description"], "Invalid JWT Signature.");

    let mut wrong_iss = good.clone();
    wrong_iss["iss"] = json!("someone@else.iam.gserviceaccount.com");
    assert_eq!(refuse(wrong_iss, None).await.1["error"], "invalid_grant");

    let mut wrong_aud = good.clone();
    wrong_aud["aud"] = json!("https://example.com/token");
    let (_, body) = refuse(wrong_aud, None).await;
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .contains("audience")
    );

    let mut expired = good.clone();
    expired["iat"] = json!(unix_now() - 7200);
    expired["exp"] = json!(unix_now() - 3600);
    assert_eq!(refuse(expired, None).await.1["error"], "invalid_grant");

    let mut too_long = good.clone();
    too_long["exp"] = json!(unix_now() + 86_400);
    assert_eq!(refuse(too_long, None).await.1["error"], "invalid_grant");

    let mut no_scope = good.clone();
    no_scope.as_object_mut().unwrap().remove("scope");
    assert_eq!(refuse(no_scope, None).await.1["error"], "invalid_scope");

    let resp = client(&emu)
        .post(format!("{}/token", emu.https_url()))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 400);
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(body["error"], "unsupported_grant_type");
    emu.shutdown().await;
}

#[tokio::test]
async fn compute_calls_need_a_valid_token_with_the_right_scope() {
    let emu = start("").await;
    let project = emu.credentials().gce.project_id.clone();
    let url = format!("{}/compute/v1/projects/{project}/zones", emu.https_url());
    let resp = client(&emu).get(&url).send().await.unwrap();
    assert_eq!(resp.status().as_u16(), 401);
    assert!(resp.headers().get("www-authenticate").is_some());
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(body["error"]["status"], "UNAUTHENTICATED");
    assert_eq!(body["error"]["errors"][0]["reason"], "required");

    let (status, body) = gce(&emu, "ya29.not-a-token", Method::GET, "zones", None).await;
    assert_eq!(status, 401);
    assert_eq!(body["error"]["errors"][0]["reason"], "authError");

    // A read-only token can list but not insert.
    let g = &emu.credentials().gce;
    let mut claims = token_claims(&emu, emu.https_url());
    claims["scope"] = json!("https://www.googleapis.com/auth/compute.readonly");
    let (_, body) = token_request(&emu, &jwt(&g.private_key_pem, &g.private_key_id, &claims)).await;
    let readonly = body["access_token"].as_str().unwrap().to_owned();
    assert_eq!(
        gce(&emu, &readonly, Method::GET, "zones", None).await.0,
        200
    );
    let (status, body) = gce(
        &emu,
        &readonly,
        Method::POST,
        "zones/us-east1-b/reservations",
        Some(reservation_body("ro", "n2-standard-2", json!("1"))),
    )
    .await;
    assert_eq!(
        (status, body["error"]["errors"][0]["reason"].as_str()),
        (403, Some("insufficientPermissions"))
    );

    // Another project is forbidden even with a good token.
    let token = gce_token(&emu).await;
    let resp = client(&emu)
        .get(format!(
            "{}/compute/v1/projects/someone-else/zones",
            emu.https_url()
        ))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 403);

    // A self-signed JWT works as an access token.
    let now = unix_now();
    let self_signed = jwt(
        &g.private_key_pem,
        &g.private_key_id,
        &json!({"iss": g.client_email, "sub": g.client_email, "aud": "https://compute.googleapis.com/", "iat": now, "exp": now + 3600}),
    );
    assert_eq!(
        gce(&emu, &self_signed, Method::GET, "regions", None)
            .await
            .0,
        200
    );
    emu.shutdown().await;
}
