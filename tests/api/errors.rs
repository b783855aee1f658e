//! Every error the edge produces is problem+json with its documented status and code.

use std::io::{Read, Write};

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{assert_problem, spawn_app, spawn_app_with};
use convex_gateway::error::ErrorCode;
use convex_gateway::store::TableName;

#[tokio::test]
async fn unknown_routes_and_methods_are_problems() {
    let app = spawn_app().await;
    let body = assert_problem(
        app.get("/nope").await,
        StatusCode::NOT_FOUND,
        "route_not_found",
    )
    .await;
    assert!(body["detail"].as_str().unwrap().contains("/nope"));
    assert_problem(
        app.get("/v1/tables").await,
        StatusCode::NOT_FOUND,
        "route_not_found",
    )
    .await;
    assert_problem(
        app.get("/v1/tables/a/b/c").await,
        StatusCode::NOT_FOUND,
        "route_not_found",
    )
    .await;

    let response = app
        .client
        .put(app.url("/v1/tables/videos"))
        .send()
        .await
        .unwrap();
    let allow = response.headers()["allow"].to_str().unwrap().to_owned();
    assert!(allow.contains("GET") && allow.contains("POST"), "{allow}");
    assert_problem(
        response,
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
    )
    .await;
    let response = app.client.post(app.url("/health")).send().await.unwrap();
    assert_problem(
        response,
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
    )
    .await;
}

#[tokio::test]
async fn table_names_are_validated_and_the_allow_list_applies() {
    let app = spawn_app_with(|c| {
        c.tables = Some(vec![TableName::parse("videos").unwrap()]);
    })
    .await;
    assert_eq!(app.list("videos", "").await["items"], json!([]));
    for path in ["/v1/tables/users", "/v1/tables/users/abc"] {
        assert_problem(
            app.get(path).await,
            StatusCode::NOT_FOUND,
            "table_not_found",
        )
        .await;
    }
    let response = app.post_json("/v1/tables/users", &json!({"a": 1})).await;
    assert_problem(response, StatusCode::NOT_FOUND, "table_not_found").await;
    for bad in ["1abc", "a-b", "_x", &"a".repeat(65)] {
        let response = app.get(&format!("/v1/tables/{bad}")).await;
        assert_problem(response, StatusCode::BAD_REQUEST, "invalid_table_name").await;
    }
}

#[tokio::test]
async fn too_many_documents_in_one_insert_is_refused() {
    let app = spawn_app().await;
    let docs: Vec<_> = (0..1001).map(|i| json!({"i": i})).collect();
    let response = app.post_json("/v1/tables/bulk", &json!(docs)).await;
    assert_problem(
        response,
        StatusCode::PAYLOAD_TOO_LARGE,
        "too_many_documents",
    )
    .await;
    assert!(app.list_all("bulk", "").await.is_empty());
}

/// Sends a raw HTTP/1.1 request on loopback and returns the status line and the whole answer.
fn raw_request(addr: std::net::SocketAddr, request: &[u8]) -> (String, String) {
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .unwrap();
    // The server may answer and close before the whole body is written.
    let _ = stream.write_all(request);
    let mut response = Vec::new();
    let _ = stream.read_to_end(&mut response);
    let text = String::from_utf8_lossy(&response).into_owned();
    let status = text.lines().next().unwrap_or_default().to_owned();
    (status, text)
}

#[tokio::test]
async fn oversized_bodies_are_refused_by_length_and_while_streaming() {
    let app = spawn_app_with(|c| c.max_body_bytes = 4096).await;
    let addr = app.addr;
    let big = "x".repeat(10_000);

    let declared = format!(
        "POST /v1/tables/t HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{{\"a\":\"{big}\"}}",
        big.len() + 8
    );
    let (status, text) =
        tokio::task::spawn_blocking(move || raw_request(addr, declared.as_bytes()))
            .await
            .unwrap();
    assert!(status.contains("413"), "{status}");
    assert!(
        text.contains("application/problem+json") && text.contains("payload_too_large"),
        "{text}"
    );
    // The answer states the limit and the setting that raises it.
    assert!(
        text.contains("4096 bytes") && text.contains("GATEWAY_MAX_BODY_BYTES"),
        "{text}"
    );

    let chunk = format!("{{\"a\":\"{big}\"}}");
    let chunked = format!(
        "POST /v1/tables/t HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n{:x}\r\n{chunk}\r\n0\r\n\r\n",
        chunk.len()
    );
    let (status, text) = tokio::task::spawn_blocking(move || raw_request(addr, chunked.as_bytes()))
        .await
        .unwrap();
    assert!(status.contains("413"), "{status}");
    assert!(
        text.contains("payload_too_large") && text.contains("4096 bytes"),
        "{text}"
    );
    assert!(app.list_all("t", "").await.is_empty());

    // Just under the limit is fine.
    let response = app
        .post_json("/v1/tables/t", &json!({"a": "x".repeat(3000)}))
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
}

#[tokio::test]
async fn malformed_query_strings_are_problems() {
    let app = spawn_app().await;
    let response = app.get("/v1/tables/t?a=%ZZ").await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json"
    );
    let response = app.get("/v1/tables/t?limit=5&limit=6").await;
    assert_problem(response, StatusCode::BAD_REQUEST, "invalid_limit").await;
}

#[test]
fn every_error_code_is_documented_in_the_readme() {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    for code in ErrorCode::ALL {
        assert!(
            readme.contains(&format!("`{}`", code.as_str())),
            "README does not document error code `{}`",
            code.as_str()
        );
    }
}

#[tokio::test]
async fn undecodable_paths_and_unacceptable_encodings_are_problems() {
    let app = spawn_app().await;
    let response = app.get("/v1/tables/videos/%FF%FE").await;
    assert_problem(response, StatusCode::BAD_REQUEST, "bad_request").await;
    let response = app
        .client
        .get(app.url("/health"))
        .header("accept-encoding", "identity;q=0")
        .send()
        .await
        .unwrap();
    assert_problem(response, StatusCode::NOT_ACCEPTABLE, "not_acceptable").await;
}

#[test]
fn every_setting_is_documented_in_the_readme_and_env_example() {
    let root = env!("CARGO_MANIFEST_DIR");
    let source = std::fs::read_to_string(format!("{root}/src/config.rs")).unwrap();
    let readme = std::fs::read_to_string(format!("{root}/README.md")).unwrap();
    let example = std::fs::read_to_string(format!("{root}/.env.example")).unwrap();
    // Every quoted SCREAMING_CASE string in the config module names a variable it reads.
    let vars: std::collections::BTreeSet<&str> = source
        .split('"')
        .skip(1)
        .step_by(2)
        .filter(|s| {
            s.contains('_')
                && s.chars()
                    .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
        })
        .collect();
    assert!(
        vars.contains("GATEWAY_ADDR") && vars.contains("CONVEX_URL"),
        "{vars:?}"
    );
    for var in vars {
        // CONVEX_DEPLOY_KEY is an accepted alias, documented beside CONVEX_DEPLOYMENT_KEY.
        assert!(
            readme.contains(&format!("`{var}`"))
                || var == "CONVEX_DEPLOY_KEY" && readme.contains(var),
            "README does not document {var}"
        );
        assert!(example.contains(var), ".env.example does not list {var}");
    }
}

#[test]
fn the_defaults_in_env_example_and_the_readme_are_the_parsers() {
    let root = env!("CARGO_MANIFEST_DIR");
    let readme = std::fs::read_to_string(format!("{root}/README.md")).unwrap();
    let example = std::fs::read_to_string(format!("{root}/.env.example")).unwrap();
    let default = format!(
        "{:?}",
        convex_gateway::Config::from_lookup(|_| None).unwrap()
    );
    let mut checked = 0;
    for line in example.lines() {
        let Some((var, value)) = line.split_once('=') else {
            continue;
        };
        if line.starts_with('#') || value.is_empty() {
            continue;
        }
        // The value .env.example shows is the value the gateway uses when the variable is unset.
        let with = convex_gateway::Config::from_lookup(|k| (k == var).then(|| value.to_owned()))
            .unwrap_or_else(|err| panic!("{var}={value} in .env.example is refused: {err}"));
        assert_eq!(
            format!("{with:?}"),
            default,
            "{var}={value} in .env.example is not the parser's default"
        );
        // And the README's settings table says the same.
        let row = readme
            .lines()
            .find(|l| l.starts_with(&format!("| `{var}` |")))
            .unwrap_or_else(|| panic!("the README's settings table has no row for {var}"));
        let cells: Vec<&str> = row.split('|').map(str::trim).collect();
        assert_eq!(
            cells.get(2).copied(),
            Some(format!("`{value}`").as_str()),
            "the README's default for {var} is not .env.example's {value}"
        );
        checked += 1;
    }
    assert!(checked >= 20, "only {checked} defaults were compared");
}
