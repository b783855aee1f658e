//! Convex deployment settings through the running gateway and its command line, against the
//! Convex test backend's environment-variable API (real shapes and limits): set, list masked,
//! reveal, read from a Convex function, unset; Convex's refusals carried with their codes; a
//! non-admin refused; and `convex trust`, which sets the provider's variables and proves with
//! a probe that the test backend, now checking tokens against them, accepts the minted
//! identity (and refuses it when the JWKS URL is wrong).

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{ConvexBackend, assert_problem, binary, spawn_app_with, spawn_convex_app};

const KEY: &str = "deployment-test-deploy-key";

async fn backend() -> ConvexBackend {
    tokio::task::spawn_blocking(|| ConvexBackend::start_with(560, &[("EMU_ADMIN_KEY", KEY)]))
        .await
        .unwrap()
}

/// What a Convex function sees in `process.env[name]`.
async fn seen_by_functions(backend: &str, name: &str) -> Value {
    let answer: Value = reqwest::Client::new()
        .post(format!("{backend}/api/query"))
        .json(&json!({"path": "settings:get", "args": {"name": name}, "format": "json"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    answer["value"].clone()
}

#[tokio::test]
async fn admins_set_list_reveal_and_unset_deployment_variables() {
    let backend = backend().await;
    let app = spawn_app_with(|c| {
        *c = c.clone().with_convex(backend.url.clone());
        if let Some(convex) = c.convex.as_mut() {
            convex.deploy_key = Some(KEY.to_owned().into());
        }
    })
    .await;
    let admin = app.client_for(&app.token("ops", &["admin"]));
    let url = |path: &str| app.url(&format!("/admin/convex/env{path}"));

    let set = admin
        .put(url("/OPENAI_KEY"))
        .json(&json!({"value": "sk-secret-value"}))
        .send()
        .await
        .unwrap();
    assert_eq!(set.status(), StatusCode::OK);
    let set: Value = set.json().await.unwrap();
    assert_eq!(
        set,
        json!({"name": "OPENAI_KEY", "value": null, "masked": true, "length": 15}),
        "the value is not echoed"
    );
    admin
        .put(url("/GATEWAY_HISTORY_TTL"))
        .json(&json!({"value": "86400"}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        seen_by_functions(&backend.url, "OPENAI_KEY").await,
        "sk-secret-value",
        "functions read it"
    );

    let masked: Value = admin
        .get(url(""))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        masked["variables"],
        json!([
            {"name": "GATEWAY_HISTORY_TTL", "value": null, "masked": true, "length": 5},
            {"name": "OPENAI_KEY", "value": null, "masked": true, "length": 15},
        ])
    );
    assert!(!masked.to_string().contains("sk-secret"));
    let revealed: Value = admin
        .get(url("?reveal=true"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(revealed["variables"][1]["value"], "sk-secret-value");
    let one: Value = admin
        .get(url("/OPENAI_KEY?reveal=true"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        (one["value"].as_str(), one["masked"].as_bool()),
        (Some("sk-secret-value"), Some(false))
    );
    let one: Value = admin
        .get(url("/OPENAI_KEY"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(one["value"].is_null());

    // Convex's own limits, carried with its codes; nothing changed.
    for (name, value, code) in [
        ("1BAD", "x".to_owned(), "EnvironmentVariableNameInvalid"),
        (
            "A_NAME_THAT_IS_FAR_TOO_LONG_FOR_CONVEX_XX",
            "x".to_owned(),
            "EnvironmentVariableNameTooLong",
        ),
        (
            "BIG",
            "x".repeat(8 * 1024 + 1),
            "EnvironmentVariableValueTooLarge",
        ),
        ("CONVEX_SITE_URL", "x".to_owned(), "EnvVarNameForbidden"),
    ] {
        let refused = admin
            .put(url(&format!("/{name}")))
            .json(&json!({"value": value}))
            .send()
            .await
            .unwrap();
        let problem = assert_problem(refused, StatusCode::BAD_REQUEST, "env_var_refused").await;
        assert!(
            problem["detail"].as_str().unwrap().contains(code),
            "{problem}"
        );
    }
    let count: Value = admin
        .get(url(""))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(count["variables"].as_array().unwrap().len(), 2);

    // Not for non-admins.
    let user = app.client_for(&app.token("someone", &[]));
    assert_problem(
        user.get(url("")).send().await.unwrap(),
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
    assert_problem(
        user.put(url("/X"))
            .json(&json!({"value": "1"}))
            .send()
            .await
            .unwrap(),
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;

    // Unset: gone for the API and for functions.
    let unset = admin.delete(url("/OPENAI_KEY")).send().await.unwrap();
    assert_eq!(unset.status(), StatusCode::NO_CONTENT);
    assert_problem(
        admin.get(url("/OPENAI_KEY")).send().await.unwrap(),
        StatusCode::NOT_FOUND,
        "env_var_not_found",
    )
    .await;
    assert!(
        seen_by_functions(&backend.url, "OPENAI_KEY")
            .await
            .is_null()
    );
}

#[tokio::test]
async fn without_a_deploy_key_there_are_no_deployment_settings() {
    let app = spawn_convex_app().await;
    let admin = app.client_for(&app.token("ops", &["admin"]));
    let answer = admin
        .get(app.url("/admin/convex/env"))
        .send()
        .await
        .unwrap();
    assert_problem(answer, StatusCode::NOT_FOUND, "deployment_not_configured").await;
}

/// Runs `convex-gateway convex …` against the backend with the app's data folder (its key).
fn cli(
    app: &crate::helpers::TestApp,
    backend: &str,
    public_url: &str,
    args: &[&str],
) -> std::process::Output {
    std::process::Command::new(binary())
        .arg("convex")
        .args(args)
        .env_clear()
        .env("GATEWAY_DATA_DIR", app.data_dir.path())
        .env("GATEWAY_PUBLIC_URL", public_url)
        .env("CONVEX_URL", backend)
        .env("CONVEX_DEPLOYMENT_KEY", KEY)
        .output()
        .unwrap()
}

// Multi-threaded: the command line blocks this test's thread while the backend fetches the
// JWKS from the in-process gateway, which must keep serving.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_command_line_manages_variables_and_convex_trust_proves_the_identity() {
    let backend = backend().await;
    // A running gateway serves the JWKS that Convex (here, the test backend) fetches.
    let app = spawn_app_with(|_| {}).await;
    let public = app.url("");
    let public = public.trim_end_matches('/');
    let text = |out: &std::process::Output| {
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    };

    let set = cli(
        &app,
        &backend.url,
        public,
        &["env", "set", "STRIPE_KEY", "sk_live_123"],
    );
    assert!(set.status.success(), "{}", text(&set));
    let list = cli(&app, &backend.url, public, &["env", "list"]);
    assert!(list.status.success());
    let listed = String::from_utf8_lossy(&list.stdout).to_string();
    assert!(
        listed.contains("STRIPE_KEY=") && !listed.contains("sk_live_123"),
        "{listed}"
    );
    let revealed = cli(&app, &backend.url, public, &["env", "list", "--reveal"]);
    assert!(String::from_utf8_lossy(&revealed.stdout).contains("STRIPE_KEY=sk_live_123"));
    let get = cli(&app, &backend.url, public, &["env", "get", "STRIPE_KEY"]);
    assert_eq!(String::from_utf8_lossy(&get.stdout).trim(), "sk_live_123");
    let bad = cli(&app, &backend.url, public, &["env", "set", "9LIVES", "x"]);
    assert!(
        !bad.status.success() && text(&bad).contains("EnvironmentVariableNameInvalid"),
        "{}",
        text(&bad)
    );
    let unset = cli(&app, &backend.url, public, &["env", "unset", "STRIPE_KEY"]);
    assert!(unset.status.success());
    let missing = cli(&app, &backend.url, public, &["env", "get", "STRIPE_KEY"]);
    assert!(!missing.status.success());

    // Trust: prints the provider block, sets its variables, and the probe passes the backend's
    // check of issuer, audience and signature (against the running gateway's JWKS).
    let trust = cli(&app, &backend.url, public, &["trust"]);
    let out = text(&trust);
    assert!(trust.status.success(), "{out}");
    assert!(
        out.contains("process.env.GATEWAY_ISSUER") && out.contains("type: \"customJwt\""),
        "{out}"
    );
    assert!(
        out.contains("set GATEWAY_ISSUER") && out.contains("Convex accepts the gateway's identity"),
        "{out}"
    );
    assert_eq!(
        seen_by_functions(&backend.url, "GATEWAY_ISSUER").await,
        public
    );
    assert_eq!(
        seen_by_functions(&backend.url, "GATEWAY_JWKS_URL").await,
        format!("{public}/.well-known/jwks.json")
    );
    // Again: nothing to change, still proven.
    let again = cli(&app, &backend.url, public, &["trust"]);
    assert!(
        again.status.success() && text(&again).contains("GATEWAY_ISSUER already set"),
        "{}",
        text(&again)
    );

    // Another gateway's key under the same issuer: its tokens do not verify, and trust says so.
    let other = spawn_app_with(|_| {}).await;
    let wrong = std::process::Command::new(binary())
        .args(["convex", "trust"])
        .env_clear()
        .env("GATEWAY_DATA_DIR", other.data_dir.path())
        .env("GATEWAY_PUBLIC_URL", public)
        .env("CONVEX_URL", &backend.url)
        .env("CONVEX_DEPLOYMENT_KEY", KEY)
        .output()
        .unwrap();
    assert!(!wrong.status.success(), "{}", text(&wrong));
    assert!(
        text(&wrong).contains("Convex refused the minted token"),
        "{}",
        text(&wrong)
    );
    // The deploy key never reaches the output.
    assert!(!out.contains(KEY) && !text(&wrong).contains(KEY));
}
