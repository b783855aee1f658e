//! Authentication and authorization: the JWT attack suite, JWKS rotation, policy and row
//! ownership, token issuing with refresh rotation, service accounts, and Convex identity.

use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::response::IntoResponse as _;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::jwk::{Jwk, JwkSet, KeyAlgorithm, PublicKeyUse};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use reqwest::StatusCode;
use serde_json::{Map, Value, json};

use convex_gateway::auth::signer::Signer;
use convex_gateway::auth::{Auth, MaybeAuthUser};
use convex_gateway::config::ConvexAuthMode;

use crate::helpers::{TestApp, assert_problem, spawn_app, spawn_app_with};

const RSA_PRIVATE: &str = include_str!("../fixtures/rsa-test-private.pem");
const RSA_PUBLIC: &str = include_str!("../fixtures/rsa-test-public.pem");
const SECRET: &str = "a-test-secret-that-is-long-enough-for-hs256";
const ISSUER: &str = "https://issuer.test";
const AUDIENCE: &str = "gateway-tests";

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn claims(sub: &str) -> Map<String, Value> {
    let Value::Object(map) = json!({
        "sub": sub, "iss": ISSUER, "aud": AUDIENCE, "exp": now() + 600, "iat": now(),
    }) else {
        unreachable!()
    };
    map
}

fn sign(header: Header, claims: &Map<String, Value>, key: &EncodingKey) -> String {
    jsonwebtoken::encode(&header, claims, key).unwrap()
}

/// An EC P-256 key pair for a JWKS, with its kid.
struct EcKey {
    encoding: EncodingKey,
    jwk: Jwk,
}

impl EcKey {
    fn new(kid: &str) -> Self {
        use p256::pkcs8::EncodePrivateKey as _;
        let secret = p256::SecretKey::random(&mut rand::rngs::OsRng);
        let pem = secret.to_pkcs8_pem(Default::default()).unwrap();
        let encoding = EncodingKey::from_ec_pem(pem.as_bytes()).unwrap();
        let mut jwk = Jwk::from_encoding_key(&encoding, Algorithm::ES256).unwrap();
        jwk.common.key_id = Some(kid.to_owned());
        jwk.common.key_algorithm = Some(KeyAlgorithm::ES256);
        jwk.common.public_key_use = Some(PublicKeyUse::Signature);
        Self { encoding, jwk }
    }

    fn token(&self, claims: &Map<String, Value>) -> String {
        let mut header = Header::new(Algorithm::ES256);
        header.kid = self.jwk.common.key_id.clone();
        sign(header, claims, &self.encoding)
    }
}

/// A JWKS endpoint on 127.0.0.1 whose keys the test can rotate, counting its hits.
struct JwksServer {
    url: String,
    keys: Arc<Mutex<Option<JwkSet>>>,
    hits: Arc<AtomicU64>,
}

impl JwksServer {
    async fn start(keys: Vec<Jwk>) -> Self {
        let state = Arc::new(Mutex::new(Some(JwkSet { keys })));
        let hits = Arc::new(AtomicU64::new(0));
        let (s, h) = (Arc::clone(&state), Arc::clone(&hits));
        let app = axum::Router::new().route(
            "/jwks.json",
            axum::routing::get(move || {
                let (s, h) = (Arc::clone(&s), Arc::clone(&h));
                async move {
                    h.fetch_add(1, Ordering::SeqCst);
                    match s.lock().unwrap().clone() {
                        Some(set) => (
                            [("cache-control", "public, max-age=600")],
                            axum::Json(serde_json::to_value(set).unwrap()),
                        )
                            .into_response(),
                        None => axum::http::StatusCode::INTERNAL_SERVER_ERROR.into_response(),
                    }
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/jwks.json", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self {
            url,
            keys: state,
            hits,
        }
    }

    fn set(&self, keys: Option<Vec<Jwk>>) {
        *self.keys.lock().unwrap() = keys.map(|keys| JwkSet { keys });
    }

    fn hits(&self) -> u64 {
        self.hits.load(Ordering::SeqCst)
    }
}

/// An app accepting every key source at once: HS256 secret, RSA PEM, JWKS and its own key.
async fn spawn_multi_source(jwks: &JwksServer) -> TestApp {
    let url = jwks.url.clone();
    spawn_app_with(move |c| {
        c.auth.jwt_secret = Some(SECRET.to_owned().into());
        c.auth.public_key_pem = Some(RSA_PUBLIC.to_owned());
        c.auth.jwks_url = Some(url);
        c.auth.jwks_min_refresh = Duration::from_secs(2);
        c.auth.issuer = Some(ISSUER.into());
        c.auth.audience = Some(AUDIENCE.into());
        c.auth.leeway_seconds = 5;
    })
    .await
}

async fn call(app: &TestApp, token: &str) -> reqwest::Response {
    app.anon
        .get(app.url("/v1/tables/notes"))
        .header("authorization", format!("Bearer {token}"))
        .send()
        .await
        .unwrap()
}

async fn assert_rejected(app: &TestApp, token: &str, code: &str) {
    let response = call(app, token).await;
    let challenge = response
        .headers()
        .get("www-authenticate")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    assert!(
        challenge.starts_with("Bearer ") && challenge.contains("error=\"invalid_token\""),
        "{code}: {challenge}"
    );
    assert_problem(response, StatusCode::UNAUTHORIZED, code).await;
}

#[tokio::test]
async fn every_key_source_accepts_its_own_valid_tokens() {
    let ec = EcKey::new("k1");
    let jwks = JwksServer::start(vec![ec.jwk.clone()]).await;
    let app = spawn_multi_source(&jwks).await;
    let rsa = EncodingKey::from_rsa_pem(RSA_PRIVATE.as_bytes()).unwrap();
    let hs = EncodingKey::from_secret(SECRET.as_bytes());
    for (name, token) in [
        (
            "HS256 secret",
            sign(Header::new(Algorithm::HS256), &claims("u1"), &hs),
        ),
        (
            "RS256 PEM",
            sign(Header::new(Algorithm::RS256), &claims("u2"), &rsa),
        ),
        ("ES256 JWKS", ec.token(&claims("u3"))),
        ("gateway's own", app.token("u4", &[])),
    ] {
        let response = call(&app, &token).await;
        assert_eq!(
            response.status(),
            StatusCode::OK,
            "{name}: {:?}",
            response.text().await
        );
    }
}

#[tokio::test]
async fn the_jwt_attack_suite_is_refused_with_precise_codes() {
    let ec = EcKey::new("k1");
    let jwks = JwksServer::start(vec![ec.jwk.clone()]).await;
    let app = spawn_multi_source(&jwks).await;
    let rsa = EncodingKey::from_rsa_pem(RSA_PRIVATE.as_bytes()).unwrap();
    let hs = EncodingKey::from_secret(SECRET.as_bytes());
    let valid = sign(Header::new(Algorithm::RS256), &claims("eve"), &rsa);

    // alg: none, unsigned.
    let none_header = URL_SAFE_NO_PAD.encode(r#"{"alg":"none","typ":"JWT"}"#);
    let body = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claims("eve")).unwrap());
    assert_rejected(
        &app,
        &format!("{none_header}.{body}."),
        "unsupported_algorithm",
    )
    .await;

    // HS256 "signed" with the RSA public key as the HMAC secret: the classic key confusion.
    let confused = sign(
        Header::new(Algorithm::HS256),
        &claims("eve"),
        &EncodingKey::from_secret(RSA_PUBLIC.as_bytes()),
    );
    assert_rejected(&app, &confused, "bad_signature").await;

    let mut expired = claims("eve");
    expired.insert("exp".into(), json!(now() - 3600));
    assert_rejected(
        &app,
        &sign(Header::new(Algorithm::RS256), &expired, &rsa),
        "token_expired",
    )
    .await;

    let mut early = claims("eve");
    early.insert("nbf".into(), json!(now() + 3600));
    assert_rejected(
        &app,
        &sign(Header::new(Algorithm::RS256), &early, &rsa),
        "token_not_yet_valid",
    )
    .await;

    // A wrong issuer or audience names the accepted one: neither is a secret.
    let mut wrong_iss = claims("eve");
    wrong_iss.insert("iss".into(), json!("https://evil.test"));
    let token = sign(Header::new(Algorithm::HS256), &wrong_iss, &hs);
    assert_rejected(&app, &token, "wrong_issuer").await;
    let problem = assert_problem(
        call(&app, &token).await,
        StatusCode::UNAUTHORIZED,
        "wrong_issuer",
    )
    .await;
    assert!(
        problem["detail"].as_str().unwrap().contains(ISSUER),
        "{problem}"
    );

    let mut wrong_aud = claims("eve");
    wrong_aud.insert("aud".into(), json!("someone-else"));
    assert_rejected(&app, &ec.token(&wrong_aud), "wrong_audience").await;
    let problem = assert_problem(
        call(&app, &ec.token(&wrong_aud)).await,
        StatusCode::UNAUTHORIZED,
        "wrong_audience",
    )
    .await;
    assert!(
        problem["detail"].as_str().unwrap().contains(AUDIENCE),
        "{problem}"
    );

    let mut no_exp = claims("eve");
    no_exp.remove("exp");
    assert_rejected(
        &app,
        &sign(Header::new(Algorithm::HS256), &no_exp, &hs),
        "missing_claim",
    )
    .await;
    let mut no_sub = claims("eve");
    no_sub.remove("sub");
    assert_rejected(
        &app,
        &sign(Header::new(Algorithm::HS256), &no_sub, &hs),
        "missing_claim",
    )
    .await;

    let stranger = EcKey::new("unknown-kid");
    assert_rejected(&app, &stranger.token(&claims("eve")), "unknown_key").await;
    // A key with a known kid but a different private key: the signature fails.
    let impostor = EcKey::new("k1");
    assert_rejected(&app, &impostor.token(&claims("eve")), "bad_signature").await;

    // One flipped character in the middle of the signature.
    let (head, signature) = valid.rsplit_once('.').unwrap();
    let mut sig: Vec<char> = signature.chars().collect();
    let mid = sig.len() / 2;
    sig[mid] = if sig[mid] == 'A' { 'B' } else { 'A' };
    let flipped = format!("{head}.{}", sig.into_iter().collect::<String>());
    assert_rejected(&app, &flipped, "bad_signature").await;

    assert_rejected(&app, head, "malformed_token").await;
    // Cut in the middle of the payload: two segments, not a JWS.
    let cut = valid.find('.').unwrap() + 10;
    assert_rejected(&app, &valid[..cut], "malformed_token").await;
    assert_rejected(&app, "garbage", "malformed_token").await;
    assert_rejected(&app, "a.b.c", "malformed_token").await;

    // Not a Bearer credential at all.
    let basic = app
        .anon
        .get(app.url("/v1/tables/notes"))
        .header("authorization", "Basic dXNlcjpwYXNz")
        .send()
        .await
        .unwrap();
    assert_problem(basic, StatusCode::UNAUTHORIZED, "malformed_token").await;

    // A valid token in the query string is refused, never used.
    let in_query = app
        .anon
        .get(app.url(&format!("/v1/tables/notes?access_token={valid}")))
        .send()
        .await
        .unwrap();
    assert_problem(in_query, StatusCode::UNAUTHORIZED, "token_in_query").await;

    // A bad token is never downgraded to anonymous, even on a public route.
    let health = app
        .anon
        .get(app.url("/health"))
        .header("authorization", "Bearer garbage")
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), StatusCode::UNAUTHORIZED);

    // And the valid token itself does work.
    assert_eq!(call(&app, &valid).await.status(), StatusCode::OK);
}

/// A listener on 127.0.0.1 that accepts connections and counts them, answering nothing: a
/// token header pointing here (`jku`, `x5u`) must never make the gateway connect.
async fn counting_listener() -> (String, Arc<AtomicU64>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/keys.json", listener.local_addr().unwrap());
    let count = Arc::new(AtomicU64::new(0));
    let counter = Arc::clone(&count);
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            counter.fetch_add(1, Ordering::SeqCst);
            drop(stream);
        }
    });
    (url, count)
}

/// A compact token with a hand-written header (which `jsonwebtoken::Header` could not carry),
/// signed with `key` under `alg`.
fn hand_made(
    header: &Value,
    claims: &Map<String, Value>,
    key: &EncodingKey,
    alg: Algorithm,
) -> String {
    let signing_input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(header).unwrap()),
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(claims).unwrap())
    );
    let signature = jsonwebtoken::crypto::sign(signing_input.as_bytes(), key, alg).unwrap();
    format!("{signing_input}.{signature}")
}

/// Valid HS256 and RS256 tokens pass: the suites call this before and after their attacks, so
/// a gateway that refuses everything fails them.
async fn assert_valid_tokens_pass(app: &TestApp) {
    let rsa = EncodingKey::from_rsa_pem(RSA_PRIVATE.as_bytes()).unwrap();
    let hs = EncodingKey::from_secret(SECRET.as_bytes());
    for token in [
        sign(Header::new(Algorithm::HS256), &claims("ok"), &hs),
        sign(Header::new(Algorithm::RS256), &claims("ok"), &rsa),
    ] {
        let response = call(app, &token).await;
        assert_eq!(
            response.status(),
            StatusCode::OK,
            "{:?}",
            response.text().await
        );
    }
}

#[tokio::test]
async fn configured_issuer_and_audience_are_required_not_only_checked() {
    let ec = EcKey::new("k1");
    let jwks = JwksServer::start(vec![ec.jwk.clone()]).await;
    let app = spawn_multi_source(&jwks).await;
    assert_valid_tokens_pass(&app).await;
    let rsa = EncodingKey::from_rsa_pem(RSA_PRIVATE.as_bytes()).unwrap();
    let hs = EncodingKey::from_secret(SECRET.as_bytes());
    for claim in ["aud", "iss"] {
        let mut without = claims("eve");
        without.remove(claim);
        for (source, token) in [
            ("HS256", sign(Header::new(Algorithm::HS256), &without, &hs)),
            ("RS256", sign(Header::new(Algorithm::RS256), &without, &rsa)),
            ("JWKS", ec.token(&without)),
        ] {
            let problem = call(&app, &token).await;
            let body = assert_problem(problem, StatusCode::UNAUTHORIZED, "missing_claim").await;
            assert!(
                body["detail"].as_str().unwrap_or_default().contains(claim),
                "{source} without {claim}: {body}"
            );
        }
    }

    // The gateway's own tokens always need both, whatever JWT_ISSUER and JWT_AUDIENCE say.
    let pem = std::fs::read_to_string(app.data_dir.path().join("signing-key.pem")).unwrap();
    let own = EncodingKey::from_ec_pem(pem.as_bytes()).unwrap();
    let signer = Signer::from_pem(&pem, &app.config.auth).unwrap();
    let gateway = app.config.auth.public_url.clone();
    for claim in ["aud", "iss"] {
        let mut own_claims = claims("eve");
        own_claims.insert("iss".into(), json!(gateway));
        own_claims.insert("aud".into(), json!(gateway));
        let mut header = Header::new(Algorithm::ES256);
        header.kid = Some(signer.kid().to_owned());
        assert_eq!(
            call(&app, &sign(header.clone(), &own_claims, &own))
                .await
                .status(),
            StatusCode::OK,
            "the gateway's own token with both claims"
        );
        own_claims.remove(claim);
        assert_rejected(&app, &sign(header, &own_claims, &own), "missing_claim").await;
    }

    // Without JWT_ISSUER and JWT_AUDIENCE, tokens need neither.
    let open = spawn_app_with(|c| c.auth.jwt_secret = Some(SECRET.to_owned().into())).await;
    let mut bare = claims("eve");
    bare.remove("iss");
    bare.remove("aud");
    assert_eq!(
        call(&open, &sign(Header::new(Algorithm::HS256), &bare, &hs))
            .await
            .status(),
        StatusCode::OK
    );
    assert_valid_tokens_pass(&app).await;
}

#[tokio::test]
async fn headers_with_crit_unknown_kids_and_key_urls_are_refused_and_never_fetched() {
    let ec = EcKey::new("k1");
    let jwks = JwksServer::start(vec![ec.jwk.clone()]).await;
    let app = spawn_multi_source(&jwks).await;
    assert_valid_tokens_pass(&app).await;
    let valid_claims = claims("eve");
    let hs = EncodingKey::from_secret(SECRET.as_bytes());
    let rsa = EncodingKey::from_rsa_pem(RSA_PRIVATE.as_bytes()).unwrap();
    let hs256 = |header: &Value| hand_made(header, &valid_claims, &hs, Algorithm::HS256);
    let rs256 = |header: &Value| hand_made(header, &valid_claims, &rsa, Algorithm::RS256);

    // RFC 7515 §4.1.11: an extension listed in `crit` that the gateway does not understand.
    let crit = json!({"alg": "HS256", "typ": "JWT", "crit": ["x-ext"], "x-ext": true});
    assert_rejected(&app, &hs256(&crit), "unsupported_header").await;
    let crit = json!({"alg": "RS256", "typ": "JWT", "crit": ["x-ext"], "x-ext": true});
    assert_rejected(&app, &rs256(&crit), "unsupported_header").await;
    let b64 = json!({"alg": "HS256", "crit": ["b64"], "b64": false});
    assert_rejected(&app, &hs256(&b64), "unsupported_header").await;
    // The same headers without `crit` pass: the refusal is about `crit` alone.
    let plain = json!({"alg": "HS256", "typ": "JWT", "x-ext": true});
    assert_eq!(call(&app, &hs256(&plain)).await.status(), StatusCode::OK);

    // A kid that names no key is refused, even when a key without a kid would verify it.
    let nope = json!({"alg": "HS256", "typ": "JWT", "kid": "nope"});
    assert_rejected(&app, &hs256(&nope), "unknown_key").await;
    let nope = json!({"alg": "RS256", "typ": "JWT", "kid": "nope"});
    assert_rejected(&app, &rs256(&nope), "unknown_key").await;

    // Key URLs and embedded keys in the header are never fetched or trusted: tokens signed by
    // an attacker's key that point at it fail as any stranger's token does.
    let (listener, connections) = counting_listener().await;
    let attacker = EcKey::new("attacker");
    let jwks_hits = jwks.hits();
    let mut cases: Vec<(&str, Header, &str)> = Vec::new();
    let mut jku = Header::new(Algorithm::ES256);
    jku.jku = Some(listener.clone());
    cases.push(("jku", jku.clone(), "bad_signature"));
    jku.kid = Some("attacker".into());
    cases.push(("jku with its kid", jku, "unknown_key"));
    let mut x5u = Header::new(Algorithm::ES256);
    x5u.x5u = Some(listener.clone());
    cases.push(("x5u", x5u, "bad_signature"));
    let mut jwk = Header::new(Algorithm::ES256);
    jwk.jwk = Some(attacker.jwk.clone());
    cases.push(("jwk", jwk, "bad_signature"));
    let mut x5c = Header::new(Algorithm::ES256);
    x5c.x5c = Some(vec![URL_SAFE_NO_PAD.encode(b"not a certificate")]);
    cases.push(("x5c", x5c, "bad_signature"));
    for (name, header, code) in cases {
        let token = sign(header, &valid_claims, &attacker.encoding);
        let response = call(&app, &token).await;
        let body = assert_problem(response, StatusCode::UNAUTHORIZED, code).await;
        assert_eq!(body["code"], code, "{name}");
    }
    assert_eq!(
        connections.load(Ordering::SeqCst),
        0,
        "a header's key URL was fetched"
    );
    assert!(
        jwks.hits() <= jwks_hits + 1,
        "only the configured JWKS is refetched, at most once per interval"
    );
    assert_valid_tokens_pass(&app).await;
}

#[tokio::test]
async fn the_classic_malformed_and_confused_tokens_are_refused_with_their_codes() {
    let ec = EcKey::new("k1");
    let jwks = JwksServer::start(vec![ec.jwk.clone()]).await;
    let app = spawn_multi_source(&jwks).await;
    assert_valid_tokens_pass(&app).await;
    let body = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claims("eve")).unwrap());

    // `alg: none` in every spelling: with an empty signature it is no algorithm the gateway
    // takes; without the trailing dot it is not even a JWS.
    for alg in ["none", "None", "NONE", "nOnE"] {
        let header = URL_SAFE_NO_PAD.encode(format!(r#"{{"alg":"{alg}","typ":"JWT"}}"#));
        assert_rejected(&app, &format!("{header}.{body}."), "unsupported_algorithm").await;
        assert_rejected(&app, &format!("{header}.{body}"), "malformed_token").await;
    }

    // HMAC "signed" with the RSA public key, as PEM and as DER: HS256 meets the real secret
    // and fails its signature; HS384 and HS512 have no key at all.
    let der: Vec<u8> = {
        let b64: String = RSA_PUBLIC
            .lines()
            .filter(|line| !line.starts_with("-----"))
            .collect();
        base64::engine::general_purpose::STANDARD
            .decode(b64)
            .unwrap()
    };
    for secret in [RSA_PUBLIC.as_bytes(), der.as_slice()] {
        for (alg, code) in [
            (Algorithm::HS256, "bad_signature"),
            (Algorithm::HS384, "unsupported_algorithm"),
            (Algorithm::HS512, "unsupported_algorithm"),
        ] {
            let token = sign(
                Header::new(alg),
                &claims("eve"),
                &EncodingKey::from_secret(secret),
            );
            assert_rejected(&app, &token, code).await;
        }
    }

    let valid = sign(
        Header::new(Algorithm::HS256),
        &claims("eve"),
        &EncodingKey::from_secret(SECRET.as_bytes()),
    );
    let parts: Vec<&str> = valid.split('.').collect();
    let (head, payload, signature) = (parts[0], parts[1], parts[2]);
    let not_json = URL_SAFE_NO_PAD.encode("this is not json");
    for (name, token) in [
        ("four segments", format!("{valid}.{signature}")),
        (
            "five segments, like a JWE",
            format!("{valid}.{payload}.{signature}"),
        ),
        (
            "a header that is not base64url",
            format!("h*a*d.{payload}.{signature}"),
        ),
        (
            "a payload that is not base64url",
            format!("{head}.p@yl@@d.{signature}"),
        ),
        (
            "a signature that is not base64url",
            format!("{head}.{payload}.s!g"),
        ),
        (
            "a header that is not JSON",
            format!("{not_json}.{payload}.{signature}"),
        ),
        (
            "a payload that is not JSON",
            format!("{head}.{not_json}.{signature}"),
        ),
        ("an empty signature", format!("{head}.{payload}.")),
    ] {
        let response = call(&app, &token).await;
        let problem = assert_problem(response, StatusCode::UNAUTHORIZED, "malformed_token").await;
        assert_eq!(problem["code"], "malformed_token", "{name}");
    }

    // 100 KB of token: refused by its size, before anything is decoded.
    let mut huge = claims("eve");
    huge.insert("padding".into(), json!("x".repeat(100 * 1024)));
    let huge = sign(
        Header::new(Algorithm::HS256),
        &huge,
        &EncodingKey::from_secret(SECRET.as_bytes()),
    );
    assert!(huge.len() > 100 * 1024);
    assert_rejected(&app, &huge, "malformed_token").await;
    assert_valid_tokens_pass(&app).await;
}

#[tokio::test]
async fn a_static_key_with_a_kid_verifies_tokens_that_name_it() {
    // Supabase's shared-secret signing keys put the key's id in the header of HS256 tokens.
    let app = spawn_app_with(|c| {
        c.auth.jwt_secret = Some(SECRET.to_owned().into());
        c.auth.jwt_secret_kid = Some("sb-key-1".into());
        c.auth.public_key_pem = Some(RSA_PUBLIC.to_owned());
        c.auth.public_key_kid = Some("rsa-1".into());
    })
    .await;
    let hs = EncodingKey::from_secret(SECRET.as_bytes());
    let rsa = EncodingKey::from_rsa_pem(RSA_PRIVATE.as_bytes()).unwrap();
    let with_kid = |alg: Algorithm, kid: Option<&str>| {
        let mut header = Header::new(alg);
        header.kid = kid.map(str::to_owned);
        header
    };
    for (header, key) in [
        (with_kid(Algorithm::HS256, Some("sb-key-1")), &hs),
        (with_kid(Algorithm::HS256, None), &hs),
        (with_kid(Algorithm::RS256, Some("rsa-1")), &rsa),
        (with_kid(Algorithm::RS256, None), &rsa),
    ] {
        let name = format!("{:?} {:?}", header.alg, header.kid);
        let response = call(&app, &sign(header, &claims("u"), key)).await;
        assert_eq!(response.status(), StatusCode::OK, "{name}");
    }
    for (header, key, code) in [
        (
            with_kid(Algorithm::HS256, Some("other")),
            &hs,
            "unknown_key",
        ),
        // The kid selects the RSA key, whose pinned algorithm is not HS256.
        (
            with_kid(Algorithm::HS256, Some("rsa-1")),
            &hs,
            "unsupported_algorithm",
        ),
        (
            with_kid(Algorithm::RS256, Some("sb-key-1")),
            &rsa,
            "unsupported_algorithm",
        ),
    ] {
        assert_rejected(&app, &sign(header, &claims("u"), key), code).await;
    }
}

async fn spawn_with_jwks(jwks: &JwksServer, min_refresh: Duration) -> TestApp {
    let url = jwks.url.clone();
    spawn_app_with(move |c| {
        c.auth.jwks_url = Some(url);
        c.auth.jwks_min_refresh = min_refresh;
        c.auth.issuer = Some(ISSUER.into());
        c.auth.audience = Some(AUDIENCE.into());
    })
    .await
}

#[tokio::test]
async fn unknown_kids_refetch_the_jwks_at_most_once_per_interval() {
    let old = EcKey::new("old");
    let jwks = JwksServer::start(vec![old.jwk.clone()]).await;
    // A long interval, so nothing in this test may refetch, however slow the machine is.
    let app = spawn_with_jwks(&jwks, Duration::from_secs(120)).await;
    assert_eq!(jwks.hits(), 1, "one fetch at startup");
    assert_eq!(
        call(&app, &old.token(&claims("a"))).await.status(),
        StatusCode::OK
    );
    let new = EcKey::new("new");
    jwks.set(Some(vec![new.jwk.clone()]));
    for i in 0..20 {
        let forged = EcKey::new(&format!("forged-{i}"));
        assert_rejected(&app, &forged.token(&claims("a")), "unknown_key").await;
    }
    assert_rejected(&app, &new.token(&claims("a")), "unknown_key").await;
    assert_eq!(jwks.hits(), 1, "refetches are rate-limited");
}

#[tokio::test]
async fn jwks_rotation_is_picked_up_without_restart_and_survives_an_idp_outage() {
    let old = EcKey::new("old");
    let jwks = JwksServer::start(vec![old.jwk.clone()]).await;
    let app = spawn_with_jwks(&jwks, Duration::from_secs(1)).await;
    assert_eq!(
        call(&app, &old.token(&claims("a"))).await.status(),
        StatusCode::OK
    );
    assert_eq!(jwks.hits(), 1, "known kids are served from the cache");

    // The IdP rotates; once the interval has passed, the unknown kid triggers a refetch.
    let new = EcKey::new("new");
    jwks.set(Some(vec![new.jwk.clone()]));
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(
        call(&app, &new.token(&claims("a"))).await.status(),
        StatusCode::OK
    );
    let after_rotation = jwks.hits();
    assert!(after_rotation >= 2);
    for _ in 0..5 {
        assert_eq!(
            call(&app, &new.token(&claims("a"))).await.status(),
            StatusCode::OK
        );
    }
    assert_eq!(jwks.hits(), after_rotation, "the new key is cached");

    // The IdP goes down: a refetch fails, and the cached keys keep working.
    jwks.set(None);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_rejected(&app, &EcKey::new("x").token(&claims("a")), "unknown_key").await;
    assert!(
        jwks.hits() > after_rotation,
        "the failed refetch was attempted"
    );
    assert_eq!(
        call(&app, &new.token(&claims("a"))).await.status(),
        StatusCode::OK
    );
}

const POLICY: &str = r#"
[roles.admin]
admin = true

[roles.authenticated]
tables = { "notes" = ["read", "write", "delete"], "catalog" = ["read"] }

[roles.editor]
tables = { "catalog" = ["read", "write"] }

[roles.anonymous]
tables = { "public_posts" = ["read"] }

[tables.notes]
owner_field = "ownerId"

[[clients]]
id = "pipeline"
# sha256("pipeline-secret-123")
secret_sha256 = "SECRET_HASH"
roles = ["editor"]
"#;

async fn spawn_with_policy() -> TestApp {
    let dir = tempfile::TempDir::new().unwrap();
    let path = dir.path().join("policy.toml");
    let hash = convex_gateway::auth::tokens::sha256_hex("pipeline-secret-123");
    std::fs::write(&path, POLICY.replace("SECRET_HASH", &hash)).unwrap();
    let app = spawn_app_with(|c| c.auth.policy_path = Some(path.clone())).await;
    // The policy is read at startup; the folder can go.
    drop(dir);
    app
}

#[tokio::test]
async fn the_policy_allows_denies_and_defaults_anonymous_to_public_routes() {
    let app = spawn_with_policy().await;
    let user = app.client_for(&app.token("alice", &[]));
    let editor = app.client_for(&app.token("ed", &["editor"]));
    let admin = app.client_for(&app.token("root", &["admin"]));
    let post = |client: &reqwest::Client, table: &str| {
        client
            .post(app.url(&format!("/v1/tables/{table}")))
            .json(&json!({"title": "x"}))
            .send()
    };

    // Anonymous: only what the policy grants anonymous, and a 401 (not 403) elsewhere.
    let anon_list = app
        .anon
        .get(app.url("/v1/tables/catalog"))
        .send()
        .await
        .unwrap();
    assert!(anon_list.headers().contains_key("www-authenticate"));
    assert_problem(anon_list, StatusCode::UNAUTHORIZED, "missing_token").await;
    assert_eq!(
        app.anon
            .get(app.url("/v1/tables/public_posts"))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::OK
    );
    assert_problem(
        post(&app.anon, "public_posts").await.unwrap(),
        StatusCode::UNAUTHORIZED,
        "missing_token",
    )
    .await;
    for public in [
        "/health",
        "/ready",
        "/metrics",
        "/docs/",
        "/openapi.json",
        "/.well-known/jwks.json",
        "/.well-known/openid-configuration",
    ] {
        assert_eq!(
            app.anon.get(app.url(public)).send().await.unwrap().status(),
            StatusCode::OK,
            "{public}"
        );
    }

    // Authenticated: read catalog, not write it; nothing on unlisted tables.
    assert_eq!(
        user.get(app.url("/v1/tables/catalog"))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::OK
    );
    assert_problem(
        post(&user, "catalog").await.unwrap(),
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
    assert_problem(
        user.get(app.url("/v1/tables/secrets"))
            .send()
            .await
            .unwrap(),
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
    // A role adds grants.
    let created: Value = {
        let r = post(&editor, "catalog").await.unwrap();
        assert_eq!(r.status(), StatusCode::CREATED);
        r.json().await.unwrap()
    };
    let path = format!("/v1/tables/catalog/{}", created["_id"].as_str().unwrap());
    assert_problem(
        editor.delete(app.url(&path)).send().await.unwrap(),
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
    // Admins may do everything.
    assert_eq!(
        admin.delete(app.url(&path)).send().await.unwrap().status(),
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        post(&admin, "secrets").await.unwrap().status(),
        StatusCode::CREATED
    );
    assert_problem(
        user.get(app.url("/admin/clients")).send().await.unwrap(),
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
    assert_eq!(
        admin
            .get(app.url("/admin/clients"))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn the_default_policy_needs_a_token_for_tables() {
    let app = spawn_app().await;
    let response = app
        .anon
        .get(app.url("/v1/tables/anything"))
        .send()
        .await
        .unwrap();
    assert_problem(response, StatusCode::UNAUTHORIZED, "missing_token").await;
    assert_eq!(
        app.get("/v1/tables/anything").await.status(),
        StatusCode::OK
    );
    let user = app.client_for(&app.token("u", &[]));
    assert_problem(
        user.get(app.url("/admin/clients")).send().await.unwrap(),
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
}

#[tokio::test]
async fn rows_of_owned_tables_are_invisible_and_unwritable_to_others() {
    let app = spawn_with_policy().await;
    let alice = app.client_for(&app.token("alice", &[]));
    let bob = app.client_for(&app.token("bob", &[]));
    let admin = app.client_for(&app.token("root", &["admin"]));

    let note: Value = alice
        .post(app.url("/v1/tables/notes"))
        .json(&json!({"text": "alice's"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        note["ownerId"], "alice",
        "inserts are stamped with the owner"
    );
    let path = format!("/v1/tables/notes/{}", note["_id"].as_str().unwrap());
    bob.post(app.url("/v1/tables/notes"))
        .json(&json!({"text": "bob's"}))
        .send()
        .await
        .unwrap();

    let bobs: Value = bob
        .get(app.url("/v1/tables/notes"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(bobs["items"].as_array().unwrap().len(), 1);
    assert_eq!(bobs["items"][0]["ownerId"], "bob");
    // Filtering cannot widen the scope.
    let sneaky: Value = bob
        .get(app.url("/v1/tables/notes?ownerId=eq.alice"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(sneaky["items"], json!([]));

    // Another user's row answers 404 for every verb, and stays unchanged.
    assert_problem(
        bob.get(app.url(&path)).send().await.unwrap(),
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    assert_problem(
        bob.patch(app.url(&path))
            .json(&json!({"text": "pwned"}))
            .send()
            .await
            .unwrap(),
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    assert_problem(
        bob.put(app.url(&path))
            .json(&json!({"text": "pwned"}))
            .send()
            .await
            .unwrap(),
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    assert_problem(
        bob.delete(app.url(&path)).send().await.unwrap(),
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    let unchanged: Value = alice
        .get(app.url(&path))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(unchanged["text"], "alice's");

    // Nobody can give a row away or plant one on someone else.
    let give_away = alice
        .patch(app.url(&path))
        .json(&json!({"ownerId": "bob"}))
        .send()
        .await
        .unwrap();
    assert_problem(give_away, StatusCode::FORBIDDEN, "forbidden").await;
    let plant = bob
        .post(app.url("/v1/tables/notes"))
        .json(&json!({"ownerId": "alice"}))
        .send()
        .await
        .unwrap();
    assert_problem(plant, StatusCode::FORBIDDEN, "forbidden").await;

    // The owner can write: PATCH keeps the owner; PUT stamps it again. If-Match still applies.
    let stale = alice
        .patch(app.url(&path))
        .header("if-match", "\"9\"")
        .json(&json!({"text": "x"}))
        .send()
        .await
        .unwrap();
    assert_problem(stale, StatusCode::PRECONDITION_FAILED, "version_mismatch").await;
    let patched = alice
        .patch(app.url(&path))
        .json(&json!({"text": "edited"}))
        .send()
        .await
        .unwrap();
    assert_eq!(patched.status(), StatusCode::OK);
    let replaced: Value = alice
        .put(app.url(&path))
        .json(&json!({"text": "new"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(replaced["ownerId"], "alice");

    // Admins see every row.
    let all: Value = admin
        .get(app.url("/v1/tables/notes"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(all["items"].as_array().unwrap().len(), 2);
    assert_eq!(
        alice.delete(app.url(&path)).send().await.unwrap().status(),
        StatusCode::NO_CONTENT
    );
}

#[tokio::test]
async fn two_hundred_concurrent_requests_from_twenty_users_see_only_their_own_rows() {
    let app = spawn_with_policy().await;
    let users: Vec<(String, reqwest::Client)> = (0..20)
        .map(|i| {
            let sub = format!("user{i}");
            let client = app.client_for(&app.token(&sub, &[]));
            (sub, client)
        })
        .collect();
    for (sub, client) in &users {
        let docs: Vec<Value> = (0..3).map(|n| json!({"n": n, "by": sub})).collect();
        let r = client
            .post(app.url("/v1/tables/notes"))
            .json(&docs)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::CREATED);
    }
    let mut tasks = Vec::new();
    for round in 0..10 {
        for (sub, client) in &users {
            let (sub, client, url) = (sub.clone(), client.clone(), app.url("/v1/tables/notes"));
            tasks.push(tokio::spawn(async move {
                let page: Value = client.get(url).send().await.unwrap().json().await.unwrap();
                let items = page["items"].as_array().unwrap().clone();
                (round, sub, items)
            }));
        }
    }
    assert_eq!(tasks.len(), 200);
    for task in tasks {
        let (round, sub, items) = task.await.unwrap();
        assert_eq!(items.len(), 3, "{sub} round {round}");
        for item in items {
            assert_eq!(item["ownerId"], sub.as_str());
            assert_eq!(item["by"], sub.as_str());
        }
    }
}

async fn token_request(app: &TestApp, client: &reqwest::Client, body: Value) -> reqwest::Response {
    client
        .post(app.url("/auth/token"))
        .json(&body)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn client_credentials_issue_tokens_and_refresh_tokens_rotate() {
    let app = spawn_with_policy().await;
    // OAuth clients send forms; JSON works too.
    let issued: Value = app
        .anon
        .post(app.url("/auth/token"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("grant_type=client_credentials&client_id=pipeline&client_secret=pipeline-secret-123")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(issued["token_type"], "Bearer");
    assert_eq!(issued["expires_in"], 900);
    let access = issued["access_token"].as_str().unwrap();
    // The service account acts with its roles (editor may write the catalog).
    let service = app.client_for(access);
    let r = service
        .post(app.url("/v1/tables/catalog"))
        .json(&json!({"sku": 1}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);

    let wrong = token_request(&app, &app.anon, json!({"grant_type": "client_credentials", "client_id": "pipeline", "client_secret": "nope"})).await;
    assert_problem(wrong, StatusCode::UNAUTHORIZED, "invalid_client").await;
    let unknown = token_request(
        &app,
        &app.anon,
        json!({"grant_type": "password", "username": "a"}),
    )
    .await;
    assert_eq!(unknown.status(), StatusCode::BAD_REQUEST);

    // Rotation: each refresh token works once.
    let first = issued["refresh_token"].as_str().unwrap().to_owned();
    let refresh = |token: String| {
        app.anon
            .post(app.url("/auth/refresh"))
            .json(&json!({"refresh_token": token}))
            .send()
    };
    let second: Value = refresh(first.clone()).await.unwrap().json().await.unwrap();
    let second_token = second["refresh_token"].as_str().unwrap().to_owned();
    assert_ne!(second_token, first);
    assert_eq!(
        app.client_for(second["access_token"].as_str().unwrap())
            .get(app.url("/v1/tables/catalog"))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::OK
    );
    // The refresh_token grant of /auth/token rotates too.
    let third: Value = token_request(
        &app,
        &app.anon,
        json!({"grant_type": "refresh_token", "refresh_token": second_token}),
    )
    .await
    .json()
    .await
    .unwrap();
    let third_token = third["refresh_token"].as_str().unwrap().to_owned();

    // Reusing a rotated token revokes the whole family: the newest token dies with it.
    assert_problem(
        refresh(first).await.unwrap(),
        StatusCode::BAD_REQUEST,
        "refresh_token_reused",
    )
    .await;
    assert_problem(
        refresh(third_token).await.unwrap(),
        StatusCode::BAD_REQUEST,
        "invalid_grant",
    )
    .await;

    // Revocation.
    let fresh: Value = token_request(&app, &app.anon, json!({"grant_type": "client_credentials", "client_id": "pipeline", "client_secret": "pipeline-secret-123"})).await.json().await.unwrap();
    let fresh_refresh = fresh["refresh_token"].as_str().unwrap().to_owned();
    let revoked = app
        .anon
        .post(app.url("/auth/revoke"))
        .json(&json!({"token": fresh_refresh}))
        .send()
        .await
        .unwrap();
    assert_eq!(revoked.status(), StatusCode::OK);
    assert_problem(
        refresh(fresh_refresh).await.unwrap(),
        StatusCode::BAD_REQUEST,
        "invalid_grant",
    )
    .await;
    let unknown_revoke = app
        .anon
        .post(app.url("/auth/revoke"))
        .json(&json!({"token": "cgr_nothing"}))
        .send()
        .await
        .unwrap();
    assert_eq!(unknown_revoke.status(), StatusCode::OK);
}

#[tokio::test]
async fn admins_mint_user_tokens_and_manage_service_accounts() {
    let app = spawn_with_policy().await;
    let admin = app.client_for(&app.token("root", &["admin"]));
    let user = app.client_for(&app.token("alice", &[]));

    let minted: Value = token_request(&app, &admin, json!({"grant_type": "mint", "sub": "bob", "roles": ["editor"], "ttl_seconds": 120, "claims": {"email": "bob@example.com", "iss": "forged"}}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(minted["expires_in"], 120);
    let bob = app.client_for(minted["access_token"].as_str().unwrap());
    assert_eq!(
        bob.post(app.url("/v1/tables/catalog"))
            .json(&json!({"a": 1}))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::CREATED
    );
    let payload: Value = serde_json::from_slice(
        &URL_SAFE_NO_PAD
            .decode(
                minted["access_token"]
                    .as_str()
                    .unwrap()
                    .split('.')
                    .nth(1)
                    .unwrap(),
            )
            .unwrap(),
    )
    .unwrap();
    assert_eq!(payload["sub"], "bob");
    assert_eq!(payload["email"], "bob@example.com");
    assert_eq!(
        payload["iss"],
        app.config.auth.public_url.as_str(),
        "registered claims cannot be forged"
    );

    let denied = token_request(&app, &user, json!({"grant_type": "mint", "sub": "x"})).await;
    assert_problem(denied, StatusCode::FORBIDDEN, "forbidden").await;
    let anonymous = token_request(&app, &app.anon, json!({"grant_type": "mint", "sub": "x"})).await;
    assert_problem(anonymous, StatusCode::UNAUTHORIZED, "missing_token").await;

    // Service accounts through the admin API: the secret is shown once and works.
    let created: Value = admin
        .post(app.url("/admin/clients"))
        .json(&json!({"id": "etl", "roles": ["editor"]}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let secret = created["clientSecret"].as_str().unwrap().to_owned();
    let listed: Value = admin
        .get(app.url("/admin/clients"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let ids: HashSet<_> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        ids,
        HashSet::from(["etl".to_owned(), "pipeline".to_owned()])
    );
    assert!(!listed.to_string().contains(&secret));
    let ok = token_request(
        &app,
        &app.anon,
        json!({"grant_type": "client_credentials", "client_id": "etl", "client_secret": secret}),
    )
    .await;
    assert_eq!(ok.status(), StatusCode::OK);
    let refresh_token = ok.json::<Value>().await.unwrap()["refresh_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let dup = admin
        .post(app.url("/admin/clients"))
        .json(&json!({"id": "etl"}))
        .send()
        .await
        .unwrap();
    assert_problem(dup, StatusCode::CONFLICT, "conflict").await;
    let policy_owned = admin
        .delete(app.url("/admin/clients/pipeline"))
        .send()
        .await
        .unwrap();
    assert_problem(policy_owned, StatusCode::CONFLICT, "conflict").await;
    assert_eq!(
        admin
            .delete(app.url("/admin/clients/etl"))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::NO_CONTENT
    );
    let gone = token_request(
        &app,
        &app.anon,
        json!({"grant_type": "client_credentials", "client_id": "etl", "client_secret": secret}),
    )
    .await;
    assert_problem(gone, StatusCode::UNAUTHORIZED, "invalid_client").await;
    // Its refresh tokens died with it.
    let dead = app
        .anon
        .post(app.url("/auth/refresh"))
        .json(&json!({"refresh_token": refresh_token}))
        .send()
        .await
        .unwrap();
    assert_problem(dead, StatusCode::BAD_REQUEST, "invalid_grant").await;
}

/// Verifies a token the way Convex's customJwt provider does: kid lookup in the published JWKS,
/// the pinned algorithm, `iss`, `aud` = applicationID, and the claims Convex requires.
async fn verify_like_convex(
    app: &TestApp,
    token: &str,
    application_id: &str,
) -> Map<String, Value> {
    let jwks: JwkSet = app
        .anon
        .get(app.url("/.well-known/jwks.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let header = jsonwebtoken::decode_header(token).unwrap();
    assert_eq!(header.typ.as_deref(), Some("JWT"));
    assert_eq!(header.alg, Algorithm::ES256);
    let jwk = jwks
        .find(header.kid.as_deref().unwrap())
        .expect("kid is published");
    let mut validation = jsonwebtoken::Validation::new(Algorithm::ES256);
    validation.set_issuer(&[app.config.auth.public_url.as_str()]);
    validation.set_audience(&[application_id]);
    // Required, not only checked when present (jsonwebtoken checks absent ones otherwise).
    validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
    validation.leeway = 5;
    let data = jsonwebtoken::decode::<Map<String, Value>>(
        token,
        &jsonwebtoken::DecodingKey::from_jwk(jwk).unwrap(),
        &validation,
    )
    .unwrap();
    for claim in ["sub", "iss", "aud", "exp", "iat"] {
        assert!(data.claims.contains_key(claim), "{claim}");
    }
    data.claims
}

#[tokio::test]
async fn minted_convex_identities_verify_against_the_published_jwks_per_caller() {
    let app = spawn_app_with(|c| c.auth.convex_application_id = "my-convex-app".into()).await;
    let http = convex_gateway::http_client::client(Duration::from_secs(2), Duration::from_secs(5))
        .unwrap();
    let auth = Arc::new(
        Auth::build(&app.config.auth, app.data_dir.path(), http.clone(), None)
            .await
            .unwrap(),
    );

    // 50 callers at once: each minted token carries its own caller, never another's.
    let mut tasks = Vec::new();
    for i in 0..50 {
        let auth = Arc::clone(&auth);
        let mut extra = Map::new();
        extra.insert("email".into(), json!(format!("u{i}@example.com")));
        let token = app.token_with(
            &format!("u{i}"),
            &["editor"],
            Duration::from_secs(600),
            extra,
        );
        tasks.push(tokio::spawn(async move {
            let user = auth.authenticate(&token).await.unwrap();
            let minted = auth
                .convex_identity(&MaybeAuthUser(Some(user)))
                .unwrap()
                .unwrap();
            use secrecy::ExposeSecret as _;
            (i, minted.expose_secret().to_owned())
        }));
    }
    for task in tasks {
        let (i, minted) = task.await.unwrap();
        let claims = verify_like_convex(&app, &minted, "my-convex-app").await;
        assert_eq!(claims["sub"], format!("u{i}"));
        assert_eq!(claims["email"], format!("u{i}@example.com"));
        assert_eq!(claims["roles"], json!(["editor"]));
        let lifetime = claims["exp"].as_u64().unwrap() - claims["iat"].as_u64().unwrap();
        assert_eq!(lifetime, 300);
    }
    assert!(
        auth.convex_identity(&MaybeAuthUser(None))
            .unwrap()
            .is_none()
    );
    let config = auth.convex_auth_config();
    assert!(
        config.contains("type: \"customJwt\"")
            && config.contains("applicationID: \"my-convex-app\"")
    );
    assert!(config.contains(&format!(
        "jwks: \"{}/.well-known/jwks.json\"",
        app.config.auth.public_url
    )));

    // forward: the caller's own token, unchanged; none: nothing.
    let mut forward = app.config.auth.clone();
    forward.convex_auth_mode = ConvexAuthMode::Forward;
    let auth = Auth::build(&forward, app.data_dir.path(), http.clone(), None)
        .await
        .unwrap();
    let token = app.token("alice", &[]);
    let user = auth.authenticate(&token).await.unwrap();
    use secrecy::ExposeSecret as _;
    assert_eq!(
        auth.convex_identity(&MaybeAuthUser(Some(user.clone())))
            .unwrap()
            .unwrap()
            .expose_secret(),
        token
    );
    let mut none = app.config.auth.clone();
    none.convex_auth_mode = ConvexAuthMode::None;
    let auth = Auth::build(&none, app.data_dir.path(), http, None)
        .await
        .unwrap();
    assert!(
        auth.convex_identity(&MaybeAuthUser(Some(user)))
            .unwrap()
            .is_none()
    );

    // The gateway's own key is stable across restarts of the same data folder.
    let (signer, _) = Signer::load_or_generate(&app.config.auth, app.data_dir.path()).unwrap();
    let published: Value = app
        .anon
        .get(app.url("/.well-known/jwks.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(published["keys"][0]["kid"], signer.kid());
    let discovery: Value = app
        .anon
        .get(app.url("/.well-known/openid-configuration"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(discovery["issuer"], app.config.auth.public_url.as_str());
    assert_eq!(
        discovery["jwks_uri"],
        format!("{}/.well-known/jwks.json", app.config.auth.public_url)
    );
}
