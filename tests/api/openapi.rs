//! The served spec, the committed `openapi/openapi.json` and the `openapi` subcommand agree, and
//! the spec describes every route the router serves.

use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::{binary, spawn_app};

const COMMITTED: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/openapi/openapi.json");

fn committed() -> Value {
    let text = std::fs::read_to_string(COMMITTED).expect(
        "openapi/openapi.json is missing; regenerate it with `cargo run -q -- openapi > openapi/openapi.json`",
    );
    serde_json::from_str(&text).unwrap()
}

#[tokio::test]
async fn served_spec_matches_the_committed_file() {
    let app = spawn_app().await;
    let response = app.get("/openapi.json").await;
    assert_eq!(response.status(), StatusCode::OK);
    let served: Value = response.json().await.unwrap();
    assert!(
        served == committed(),
        "openapi/openapi.json is stale; regenerate it with `cargo run -q -- openapi > openapi/openapi.json`"
    );
}

#[test]
fn the_openapi_subcommand_prints_the_committed_spec() {
    let output = std::process::Command::new(binary())
        .arg("openapi")
        .output()
        .unwrap();
    assert!(output.status.success());
    let printed: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(printed, committed());
}

/// A response, or the shared response its `$ref` names.
fn resolve<'a>(spec: &'a Value, response: &'a Value) -> &'a Value {
    match response["$ref"].as_str() {
        Some(target) => spec
            .pointer(target.trim_start_matches('#'))
            .unwrap_or_else(|| panic!("unresolvable {target}")),
        None => response,
    }
}

#[test]
fn the_spec_documents_every_route_and_error_shape() {
    let spec = committed();
    let paths = spec["paths"].as_object().unwrap();
    for (path, methods) in [
        ("/health", &["get"][..]),
        ("/ready", &["get"]),
        ("/metrics", &["get"]),
        ("/v1/tables/{table}", &["get", "post"]),
        (
            "/v1/tables/{table}/{id}",
            &["get", "patch", "put", "delete"],
        ),
    ] {
        for method in methods {
            let op = &paths[path][method];
            assert!(op.is_object(), "{method} {path} is not documented");
            for (status, response) in op["responses"].as_object().unwrap() {
                let response = resolve(&spec, response);
                if status.starts_with('4') || status.starts_with('5') {
                    assert!(
                        response["content"]["application/problem+json"].is_object(),
                        "{method} {path} {status} is not described as problem+json"
                    );
                }
            }
        }
    }
    // Protected routes declare the bearer scheme and their 401 and 403 answers.
    assert_eq!(
        spec["components"]["securitySchemes"]["bearer"]["scheme"],
        "bearer"
    );
    for (path, methods) in [
        ("/v1/tables/{table}", &["get", "post"][..]),
        (
            "/v1/tables/{table}/{id}",
            &["get", "patch", "put", "delete"],
        ),
        ("/admin/clients", &["get", "post"]),
        ("/admin/clients/{id}", &["delete"]),
    ] {
        for method in methods {
            let op = &paths[path][method];
            assert_eq!(
                op["security"][0]["bearer"],
                serde_json::json!([]),
                "{method} {path}"
            );
            for status in ["401", "403"] {
                assert!(
                    op["responses"][status].is_object(),
                    "{method} {path} lacks {status}"
                );
            }
        }
    }
    for public in [
        "/auth/token",
        "/auth/refresh",
        "/auth/revoke",
        "/.well-known/jwks.json",
        "/.well-known/openid-configuration",
    ] {
        assert!(paths[public].is_object(), "{public} is not documented");
    }
    let codes = spec["components"]["schemas"]["ErrorCode"]["enum"]
        .as_array()
        .unwrap();
    assert!(codes.iter().any(|c| c == "version_mismatch"));
    assert!(spec["components"]["schemas"]["Problem"].is_object());
}

#[test]
fn the_list_route_declares_its_filters_and_the_limits_it_accepts() {
    let spec = committed();
    let params = spec["paths"]["/v1/tables/{table}"]["get"]["parameters"]
        .as_array()
        .unwrap()
        .clone();
    let param = |name: &str| {
        params
            .iter()
            .find(|p| p["name"] == name)
            .unwrap_or_else(|| panic!("no `{name}` parameter"))
            .clone()
    };
    let limit = param("limit");
    assert_eq!(
        (
            limit["schema"]["minimum"].clone(),
            limit["schema"]["maximum"].clone()
        ),
        (Value::from(1), Value::from(1000))
    );
    // Filters are a free-form object sent as one query parameter per key, which Swagger UI's
    // "Try it out" and the generated clients both understand.
    let filters = param("filters");
    assert_eq!(filters["in"], "query");
    assert_eq!(filters["style"], "form");
    assert_eq!(filters["explode"], true);
    assert_eq!(filters["schema"]["type"], "object");
    assert_eq!(filters["schema"]["additionalProperties"]["type"], "string");
    // No `$ref` points at a schema the spec does not define.
    let text = spec.to_string();
    for reference in text.split("#/components/schemas/").skip(1) {
        let name: String = reference
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        assert!(
            spec["components"]["schemas"].get(&name).is_some(),
            "unresolvable $ref to {name}"
        );
    }
}

/// Every `$ref` in the spec names something the spec holds (an unresolvable one breaks client
/// generators and fuzzers), and the error responses many routes share are defined once.
#[test]
fn every_reference_resolves_and_shared_errors_are_defined_once() {
    fn refs<'a>(value: &'a Value, out: &mut Vec<&'a str>) {
        match value {
            Value::Object(map) => {
                for (key, inner) in map {
                    match (key.as_str(), inner) {
                        ("$ref", Value::String(target)) => out.push(target),
                        _ => refs(inner, out),
                    }
                }
            }
            Value::Array(items) => items.iter().for_each(|item| refs(item, out)),
            _ => {}
        }
    }
    let spec = committed();
    let mut found = Vec::new();
    refs(&spec, &mut found);
    assert!(!found.is_empty());
    for target in &found {
        let pointer = target
            .strip_prefix('#')
            .unwrap_or_else(|| panic!("{target} is not a local reference"));
        assert!(
            spec.pointer(pointer).is_some(),
            "unresolvable $ref {target}"
        );
    }
    // 401 is answered by nearly every route: one shared response, not a copy per route.
    let mut inline_401 = 0;
    let mut shared_401 = 0;
    for item in spec["paths"].as_object().unwrap().values() {
        for op in item.as_object().unwrap().values() {
            match op["responses"].get("401") {
                Some(r) if r.get("$ref").is_some() => shared_401 += 1,
                Some(r) if r["description"] == "Missing or invalid bearer token" => inline_401 += 1,
                Some(_) => {}
                None => {}
            }
        }
    }
    assert!(
        shared_401 >= 15,
        "{shared_401} routes share the 401 response"
    );
    assert!(
        inline_401 <= 4,
        "{inline_401} routes repeat the 401 response"
    );
}
