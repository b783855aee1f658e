//! The store behaviour suite: what every adapter must do, checked over HTTP through the running
//! gateway. `store_suite!(spawn)` instantiates every case as a test for the adapter that `spawn`
//! starts; each adapter (embedded store now, Convex and Postgres later) runs the same cases.
//! Where adapters may differ, a case asks the running gateway for the adapter's capabilities
//! (`/admin/status`), never for its kind.

use std::collections::HashSet;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{TestApp, assert_problem, ids};

/// Instantiates every case of the suite for the adapter that `$spawn` starts.
macro_rules! store_suite {
    ($spawn:path) => {
        store_suite!(@cases $spawn;
            insert_then_get_round_trips,
            array_insert_is_atomic,
            patch_merges_and_bumps_the_version,
            put_replaces_all_fields,
            delete_removes_the_document,
            if_match_guards_writes,
            if_none_match_answers_not_modified,
            every_filter_operator_selects_the_right_documents,
            unquoted_numbers_also_match_strings_spelled_the_same,
            order_sorts_by_fields_and_breaks_ties_stably,
            listed_documents_equal_fetched_ones,
            listed_documents_carry_the_version_if_match_needs,
            pages_cover_the_table_exactly_once,
            paging_during_concurrent_inserts_never_skips_or_repeats,
            cursors_are_validated,
            limit_defaults_and_bounds,
            tables_are_isolated,
            rejected_requests_leave_the_store_unchanged,
            concurrent_writes_fail_independently,
            batches_apply_all_or_nothing_with_refs,
            batch_limits_and_invalid_operations,
            transactions_read_their_writes_and_commit_atomically,
            concurrent_transactions_conflict_and_scopes_are_private,
            dry_runs_answer_what_a_write_stores_and_keep_nothing,
        );
    };
    (@cases $spawn:path; $($case:ident),* $(,)?) => {
        $(
            #[tokio::test]
            async fn $case() {
                let app = $spawn().await;
                $crate::store_suite::$case(&app).await;
            }
        )*
    };
}

fn doc_path(table: &str, doc: &Value) -> String {
    format!("/v1/tables/{table}/{}", doc["_id"].as_str().unwrap())
}

/// Whether the store keeps rows of fixed columns, where a field a document does not set reads
/// as `null` rather than being absent.
async fn fixed_columns(app: &TestApp) -> bool {
    !app.capabilities().await["freeFormDocuments"]
        .as_bool()
        .unwrap()
}

/// The document as a free-form store shows it: on a store of fixed columns, top-level `null`
/// fields are columns the document does not set, so they are dropped before comparing.
fn present(doc: &Value, fixed: bool) -> Value {
    match doc {
        Value::Object(map) if fixed => Value::Object(
            map.iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        ),
        other => other.clone(),
    }
}

fn etag(response: &reqwest::Response) -> String {
    response.headers()["etag"].to_str().unwrap().to_owned()
}

pub async fn insert_then_get_round_trips(app: &TestApp) {
    let response = app
        .post_json(
            "/v1/tables/clips",
            &json!({"title": "Intro", "views": 3, "tags": ["a"], "meta": {"rank": 1.5}, "whole": 2.0}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    assert_eq!(etag(&response), "\"1\"");
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    let created: Value = response.json().await.unwrap();
    let id = created["_id"].as_str().unwrap();
    assert!(!id.is_empty());
    assert_eq!(location, format!("/v1/tables/clips/{id}"));
    let ct = created["_creationTime"].as_f64().unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as f64;
    assert!(
        (now - ct).abs() < 60_000.0,
        "creation time {ct} vs now {now}"
    );

    let fetched = app.get(&location).await;
    assert_eq!(fetched.status(), StatusCode::OK);
    assert_eq!(etag(&fetched), "\"1\"");
    // Whole numbers come back whole on every store (`3`, never `3.0`), so typed clients see
    // the same JSON whichever adapter serves them.
    let text = fetched.text().await.unwrap();
    assert!(
        text.contains(r#""views":3"#)
            && text.contains(r#""rank":1.5"#)
            && (text.contains(r#""whole":2,"#) || text.contains(r#""whole":2}"#)),
        "{text}"
    );
    let listed = app.get("/v1/tables/clips").await.text().await.unwrap();
    assert!(listed.contains(r#""views":3"#), "{listed}");
    let fetched: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(fetched, created);
    assert_eq!(fetched["title"], "Intro");
    assert_eq!(fetched["meta"]["rank"], 1.5);

    let missing = app.get("/v1/tables/clips/does-not-exist").await;
    assert_problem(missing, StatusCode::NOT_FOUND, "not_found").await;
}

pub async fn array_insert_is_atomic(app: &TestApp) {
    let docs = app
        .insert_many(
            "items",
            vec![json!({"n": 1}), json!({"n": 2}), json!({"n": 3})],
        )
        .await;
    assert_eq!(docs.len(), 3);
    let unique: HashSet<_> = ids(&docs).into_iter().collect();
    assert_eq!(unique.len(), 3);

    // The third element is invalid: nothing of this request may be stored.
    let response = app
        .post_json(
            "/v1/tables/items",
            &json!([{"n": 4}, {"n": 5}, {"_secret": 6}]),
        )
        .await;
    assert_problem(response, StatusCode::BAD_REQUEST, "reserved_field").await;
    let response = app
        .post_json("/v1/tables/items", &json!([{"n": 4}, 5]))
        .await;
    assert_problem(response, StatusCode::BAD_REQUEST, "invalid_body").await;
    let all = app.list_all("items", "").await;
    assert_eq!(all.len(), 3);
    let ns: Vec<_> = all.iter().map(|d| d["n"].as_i64().unwrap()).collect();
    assert_eq!(ns, [1, 2, 3]);
}

pub async fn patch_merges_and_bumps_the_version(app: &TestApp) {
    let doc = app
        .insert(
            "clips",
            json!({"title": "a", "status": "queued", "urls": {"chat": "c", "audio": "x"}}),
        )
        .await;
    let path = doc_path("clips", &doc);
    let response = app
        .send_json(
            Method::PATCH,
            &path,
            &json!({"status": "done", "urls": {"audio": null, "transcript": "t"}, "title": null}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(etag(&response), "\"2\"");
    let patched: Value = present(&response.json().await.unwrap(), fixed_columns(app).await);
    assert_eq!(patched["_id"], doc["_id"]);
    assert_eq!(patched["_creationTime"], doc["_creationTime"]);
    assert_eq!(patched["status"], "done");
    assert_eq!(patched["urls"], json!({"chat": "c", "transcript": "t"}));
    assert!(patched.get("title").is_none());
    let fetched: Value = app.get(&path).await.json().await.unwrap();
    assert_eq!(present(&fetched, true), patched);

    // merge-patch+json is accepted too.
    let response = app
        .client
        .patch(app.url(&path))
        .header("content-type", "application/merge-patch+json")
        .body(r#"{"status":"archived"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(etag(&response), "\"3\"");

    let missing = app
        .send_json(Method::PATCH, "/v1/tables/clips/nope", &json!({"a": 1}))
        .await;
    assert_problem(missing, StatusCode::NOT_FOUND, "not_found").await;
}

pub async fn put_replaces_all_fields(app: &TestApp) {
    let doc = app.insert("clips", json!({"title": "a", "views": 1})).await;
    let path = doc_path("clips", &doc);
    let response = app
        .send_json(Method::PUT, &path, &json!({"name": "b"}))
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(etag(&response), "\"2\"");
    let replaced: Value = response.json().await.unwrap();
    assert_eq!(
        present(&replaced, fixed_columns(app).await),
        json!({"_id": doc["_id"], "_creationTime": doc["_creationTime"], "_version": 2, "name": "b"})
    );
    let missing = app
        .send_json(Method::PUT, "/v1/tables/clips/nope", &json!({"a": 1}))
        .await;
    assert_problem(missing, StatusCode::NOT_FOUND, "not_found").await;
}

pub async fn delete_removes_the_document(app: &TestApp) {
    let doc = app.insert("clips", json!({"title": "a"})).await;
    let keep = app.insert("clips", json!({"title": "b"})).await;
    let path = doc_path("clips", &doc);
    let response = app.client.delete(app.url(&path)).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert_problem(app.get(&path).await, StatusCode::NOT_FOUND, "not_found").await;
    let again = app.client.delete(app.url(&path)).send().await.unwrap();
    let body = assert_problem(again, StatusCode::NOT_FOUND, "not_found").await;
    assert!(body.get("failedOperation").is_none(), "{body}");
    assert_eq!(ids(&app.list_all("clips", "").await), ids(&[keep]));
}

pub async fn if_match_guards_writes(app: &TestApp) {
    let doc = app.insert("clips", json!({"n": 1})).await;
    let path = doc_path("clips", &doc);
    let patch = |if_match: &'static str, n: i64| {
        app.client
            .patch(app.url(&path))
            .header("if-match", if_match)
            .json(&json!({"n": n}))
            .send()
    };

    let stale = patch("\"7\"", 2).await.unwrap();
    let body = assert_problem(stale, StatusCode::PRECONDITION_FAILED, "version_mismatch").await;
    // A single-document write is no batch: no operation index.
    assert!(body.get("failedOperation").is_none(), "{body}");
    let weak = patch("W/\"1\"", 2).await.unwrap();
    assert_problem(weak, StatusCode::PRECONDITION_FAILED, "version_mismatch").await;
    let malformed = patch("1", 2).await.unwrap();
    assert_problem(malformed, StatusCode::BAD_REQUEST, "invalid_header").await;
    // None of those changed the document.
    let current = app.get(&path).await;
    assert_eq!(etag(&current), "\"1\"");
    assert_eq!(current.json::<Value>().await.unwrap()["n"], 1);

    let ok = patch("\"0\", \"1\"", 2).await.unwrap();
    assert_eq!(ok.status(), StatusCode::OK);
    assert_eq!(etag(&ok), "\"2\"");
    let star = patch("*", 3).await.unwrap();
    assert_eq!(star.status(), StatusCode::OK);

    let put = app
        .client
        .put(app.url(&path))
        .header("if-match", "\"1\"")
        .json(&json!({"n": 9}))
        .send()
        .await
        .unwrap();
    assert_problem(put, StatusCode::PRECONDITION_FAILED, "version_mismatch").await;

    let delete_stale = app
        .client
        .delete(app.url(&path))
        .header("if-match", "\"2\"")
        .send()
        .await
        .unwrap();
    assert_problem(
        delete_stale,
        StatusCode::PRECONDITION_FAILED,
        "version_mismatch",
    )
    .await;
    assert_eq!(app.get(&path).await.status(), StatusCode::OK);
    let delete_ok = app
        .client
        .delete(app.url(&path))
        .header("if-match", "\"3\"")
        .send()
        .await
        .unwrap();
    assert_eq!(delete_ok.status(), StatusCode::NO_CONTENT);

    // A precondition on a missing document: the document's absence is what is reported.
    let missing = app
        .client
        .patch(app.url("/v1/tables/clips/nope"))
        .header("if-match", "*")
        .json(&json!({"n": 1}))
        .send()
        .await
        .unwrap();
    assert_problem(missing, StatusCode::NOT_FOUND, "not_found").await;
}

pub async fn if_none_match_answers_not_modified(app: &TestApp) {
    let doc = app.insert("clips", json!({"n": 1})).await;
    let path = doc_path("clips", &doc);
    let response = app
        .client
        .get(app.url(&path))
        .header("if-none-match", "\"1\"")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NOT_MODIFIED);
    assert_eq!(etag(&response), "\"1\"");
    app.send_json(Method::PATCH, &path, &json!({"n": 2})).await;
    let response = app
        .client
        .get(app.url(&path))
        .header("if-none-match", "\"1\"")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
}

/// Seeds documents of mixed types and checks which ones each filter selects.
pub async fn every_filter_operator_selects_the_right_documents(app: &TestApp) {
    let docs = app
        .insert_many(
            "things",
            vec![
                json!({"k": "a", "n": 1, "s": "apple", "b": true, "meta": {"rank": 10}}),
                json!({"k": "b", "n": 2.5, "s": "Banana", "b": false, "meta": {"rank": 20}}),
                json!({"k": "c", "n": "2", "s": "cherry pie", "b": null}),
                json!({"k": "d", "n": 30, "s": "date?", "meta": {"rank": "30"}}),
                json!({"k": "e", "s": "[x]", "n": true}),
            ],
        )
        .await;
    let selected = |query: &'static str| async move {
        let page = app.list("things", &format!("{query}&order=k")).await;
        page["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d["k"].as_str().unwrap().to_owned())
            .collect::<Vec<_>>()
            .join("")
    };
    let cases: &[(&str, &str)] = &[
        // Numbers compare with numbers only: not with "2", not with true.
        ("n=eq.1", "a"),
        ("n=eq.2.5", "b"),
        ("n=eq.\"2\"", "c"),
        // An unquoted number also equals a string spelled the same; quoted is a string only.
        ("n=eq.2", "c"),
        ("n=in.(2,30)", "cd"),
        ("n=neq.2", "abde"),
        ("n=not.eq.2", "abde"),
        ("meta.rank=eq.30", "d"),
        ("meta.rank=eq.10", "a"),
        // Order comparisons stay numeric: "2" is not greater than 1.
        ("n=gt.1", "bd"),
        ("n=eq.true", "e"),
        ("n=neq.1", "bcde"),
        ("n=gt.2", "bd"),
        ("n=gte.2.5", "bd"),
        ("n=lt.30", "ab"),
        ("n=lte.30", "abd"),
        // Strings compare with strings only.
        ("s=gt.b", "cd"),
        // "Banana" and "[x]" sort before "b" ('B' and '[' come before 'b' in byte order).
        ("s=lt.b", "abe"),
        ("s=eq.apple", "a"),
        ("s=eq.\"date?\"", "d"),
        // like is case-sensitive with `*`; GLOB's own `?` and `[` are literal.
        ("s=like.*an*", "b"),
        ("s=like.B*", "b"),
        ("s=like.b*", ""),
        ("s=like.date?", "d"),
        ("s=like.[x]", "e"),
        ("s=ilike.b*", "b"),
        ("s=ilike.*PIE", "c"),
        ("k=in.(a,c,zz)", "ac"),
        ("n=in.(1,\"2\",30)", "acd"),
        ("b=is.true", "a"),
        ("b=is.false", "b"),
        ("b=is.null", "cde"),
        ("b=not.is.null", "ab"),
        ("n=not.eq.1", "bcde"),
        ("n=not.gt.2", "ace"),
        ("meta.rank=gt.15", "b"),
        ("meta.rank=eq.\"30\"", "d"),
        ("meta.rank=is.null", "ce"),
        ("n=gt.1&n=lt.30", "b"),
    ];
    for (query, expected) in cases {
        assert_eq!(selected(query).await, *expected, "filter {query}");
    }

    let first = docs[0]["_id"].as_str().unwrap();
    let third = docs[2]["_id"].as_str().unwrap();
    assert_eq!(
        selected(Box::leak(format!("_id=eq.{first}").into_boxed_str())).await,
        "a"
    );
    assert_eq!(
        selected(Box::leak(
            format!("_id=in.({first},{third})").into_boxed_str()
        ))
        .await,
        "ac"
    );
    let ct = docs[0]["_creationTime"].as_f64().unwrap();
    assert_eq!(
        selected(Box::leak(
            format!("_creationTime=gte.{ct}").into_boxed_str()
        ))
        .await,
        "abcde"
    );
    assert_eq!(
        selected(Box::leak(format!("_creationTime=lt.{ct}").into_boxed_str())).await,
        ""
    );

    for (query, code) in [
        ("n=approx.1", "invalid_filter"),
        ("n=1", "invalid_filter"),
        ("n=gt.true", "invalid_filter"),
        ("n=in.1,2", "invalid_filter"),
        ("a..b=eq.1", "invalid_filter"),
        ("_secret=eq.1", "invalid_filter"),
        ("_creationTime=eq.today", "invalid_filter"),
        ("offset=10", "invalid_filter"),
        ("order=", "invalid_order"),
        ("order=n.nullslast", "invalid_order"),
        ("order=n.down", "invalid_order"),
        ("order=n.descending", "invalid_order"),
    ] {
        let response = app.get(&format!("/v1/tables/things?{query}")).await;
        assert_problem(response, StatusCode::BAD_REQUEST, code).await;
    }
}

pub async fn unquoted_numbers_also_match_strings_spelled_the_same(app: &TestApp) {
    // The KlipStream lookup: Twitch ids are strings of digits.
    app.insert(
        "videos",
        json!({"twitchId": "2234567890", "status": "queued"}),
    )
    .await;
    app.insert("videos", json!({"twitchId": "x", "status": "queued"}))
        .await;
    let first = app.list("videos", "twitchId=eq.2234567890").await;
    let items = first["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "the first page holds the match: {first}");
    assert_eq!(items[0]["twitchId"], "2234567890");

    // A field holding both types: every page together has each match once.
    let tags = |docs: Vec<Value>| {
        let mut tags: Vec<String> = docs
            .iter()
            .map(|d| d["tag"].as_str().unwrap().to_owned())
            .collect();
        tags.sort();
        tags.join(",")
    };
    for (k, tag) in [
        (json!("2234567890"), "s1"),
        (json!(2234567890_i64), "n1"),
        (json!("x"), "x"),
        (json!("2234567890"), "s2"),
        (json!(2234567890_i64), "n2"),
        (json!("2234567890.0"), "other"),
    ] {
        app.insert("things", json!({"k": k, "tag": tag})).await;
    }
    for (query, expected) in [
        ("k=eq.2234567890", "n1,n2,s1,s2"),
        ("k=eq.2234567890&limit=1", "n1,n2,s1,s2"),
        ("k=eq.\"2234567890\"", "s1,s2"),
        ("k=eq.2234567890.0", "n1,n2,other"),
        ("k=neq.2234567890", "other,x"),
        ("k=in.(2234567890,x)", "n1,n2,s1,s2,x"),
        ("k=gte.2234567890", "n1,n2"),
    ] {
        assert_eq!(
            tags(app.list_all("things", query).await),
            expected,
            "{query}"
        );
    }
}

pub async fn order_sorts_by_fields_and_breaks_ties_stably(app: &TestApp) {
    let docs = app
        .insert_many(
            "scores",
            vec![
                json!({"k": "a", "score": 2, "name": "x"}),
                json!({"k": "b", "score": 1, "name": "y"}),
                json!({"k": "c", "score": 2, "name": "w"}),
                json!({"k": "d", "name": "z"}),
                json!({"k": "e", "score": 3, "name": "x"}),
            ],
        )
        .await;
    let keys = |query: &'static str| async move {
        app.list_all("scores", query)
            .await
            .iter()
            .map(|d| d["k"].as_str().unwrap().to_owned())
            .collect::<Vec<_>>()
            .join("")
    };
    // Default: insertion (creation) order.
    assert_eq!(keys("").await, "abcde");
    assert_eq!(keys("order=_creationTime.desc").await, "edcba");
    // Missing values sort first ascending, last descending; ties keep insertion order.
    assert_eq!(keys("order=score").await, "dbace");
    assert_eq!(keys("order=score.desc").await, "ecabd");
    // Directions ignore case, and nulls placements that say the same are accepted.
    assert_eq!(keys("order=score.DESC").await, "ecabd");
    assert_eq!(keys("order=score.desc.nullslast").await, "ecabd");
    assert_eq!(keys("order=score.Asc.nullsfirst").await, "dbace");
    // Several keys in one direction (served by an index on Convex).
    assert_eq!(keys("order=score.desc,name.desc").await, "eacbd");
    assert_eq!(keys("order=score,name").await, "dbcae");
    // The same orders, paged, give the same sequence.
    assert_eq!(keys("order=score.desc&limit=1").await, "ecabd");
    assert_eq!(keys("order=score,name&limit=2").await, "dbcae");
    // Mixed directions: stores that sort serve them; one-direction indexes refuse them.
    let mixed = [
        ("order=score.desc,name.asc", "ecabd"),
        ("order=score.asc,name.desc", "dbace"),
        ("order=name,score.desc", "ceabd"),
        ("order=name,score.desc&limit=1", "ceabd"),
    ];
    let capabilities = app.capabilities().await;
    for (query, expected) in mixed {
        if !capabilities["mixedDirections"].as_bool().unwrap() {
            let response = app.get(&format!("/v1/tables/scores?{query}")).await;
            assert_problem(response, StatusCode::BAD_REQUEST, "order_needs_index").await;
        } else {
            assert_eq!(keys(query).await, expected, "{query}");
        }
    }
    // An order no index serves is refused where orders need an index, and sorted elsewhere.
    let unindexed = app.get("/v1/tables/scores?order=k.desc").await;
    if !capabilities["anyOrder"].as_bool().unwrap() {
        assert_problem(unindexed, StatusCode::BAD_REQUEST, "order_needs_index").await;
    } else {
        assert_eq!(unindexed.status(), StatusCode::OK);
    }
    let mut sorted_ids = ids(&docs);
    sorted_ids.sort();
    let by_id = app.list_all("scores", "order=_id&limit=2").await;
    assert_eq!(ids(&by_id), sorted_ids);
}

/// Lists and reads by id hand stored documents through as text where the adapter can; whatever
/// the path, a listed document and a fetched one must be exactly the document the insert
/// answered (which the gateway serialises itself).
pub async fn listed_documents_equal_fetched_ones(app: &TestApp) {
    let fixed = fixed_columns(app).await;
    let docs = json!([
        {},
        {"title": "quote \" backslash \\ newline \n tab \t", "emoji": "😀 ü", "n": -0.5},
        {"nested": {"deep": {"list": [1, "two", null, true, {"x": []}]}}, "big": 9007199254740991i64},
        {"zeta": 1, "alpha": 2, "mid": {"b": 1, "a": 2}},
    ]);
    let response = app.post_json("/v1/tables/raw_docs", &docs).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let created: Vec<Value> = response.json().await.unwrap();
    let listed: Value = app
        .get("/v1/tables/raw_docs?order=_creationTime.asc")
        .await
        .json()
        .await
        .unwrap();
    let items = listed["items"].as_array().unwrap();
    assert_eq!(items.len(), 4);
    for ((item, sent), created) in items.iter().zip(docs.as_array().unwrap()).zip(&created) {
        let response = app.get(&doc_path("raw_docs", item)).await;
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(response.headers()["content-type"], "application/json");
        assert_eq!(etag(&response), "\"1\"");
        let fetched: Value = response.json().await.unwrap();
        assert_eq!(item, &fetched);
        assert_eq!(created, &fetched);
        let mut own = item.as_object().unwrap().clone();
        assert!(own.remove("_id").unwrap().is_string());
        assert!(own.remove("_creationTime").unwrap().is_number());
        assert_eq!(own.remove("_version"), Some(json!(1)));
        assert_eq!(&present(&Value::Object(own), fixed), sent);
    }
}

pub async fn listed_documents_carry_the_version_if_match_needs(app: &TestApp) {
    let doc = app.insert("clips", json!({"n": 0, "key": "v1"})).await;
    assert_eq!(doc["_version"], 1, "{doc}");
    let path = doc_path("clips", &doc);
    for n in 1..=2 {
        let patched = app
            .send_json(reqwest::Method::PATCH, &path, &json!({"n": n}))
            .await;
        assert_eq!(patched.status(), StatusCode::OK);
        let etag = etag(&patched);
        let body: Value = patched.json().await.unwrap();
        assert_eq!(format!("\"{}\"", body["_version"]), etag, "{body}");
    }
    // Find by a field, then write conditionally with the listed version: no extra read.
    let listed = app.list("clips", "key=eq.v1").await;
    let found = &listed["items"][0];
    assert_eq!(found["_version"], 3, "{listed}");
    let fetched = app.get(&path).await;
    assert_eq!(etag(&fetched), "\"3\"");
    let stale = app
        .client
        .patch(app.url(&path))
        .header("if-match", "\"2\"")
        .json(&json!({"n": 9}))
        .send()
        .await
        .unwrap();
    assert_problem(stale, StatusCode::PRECONDITION_FAILED, "version_mismatch").await;
    let current = app
        .client
        .patch(app.url(&path))
        .header("if-match", format!("\"{}\"", found["_version"]))
        .json(&json!({"n": 9}))
        .send()
        .await
        .unwrap();
    assert_eq!(current.status(), StatusCode::OK);
    assert_eq!(current.json::<Value>().await.unwrap()["_version"], 4);
    // The version is the store's: a client cannot set it.
    let forged = app
        .post_json("/v1/tables/clips", &json!({"_version": 7}))
        .await;
    assert_problem(forged, StatusCode::BAD_REQUEST, "reserved_field").await;
}

pub async fn pages_cover_the_table_exactly_once(app: &TestApp) {
    let docs: Vec<Value> = (0..57).map(|i| json!({"i": i, "bucket": i % 4})).collect();
    let inserted = app.insert_many("pages", docs).await;
    for query in [
        "limit=10",
        "limit=1",
        "limit=57",
        "limit=100",
        "limit=7&order=bucket.desc",
        "limit=5&order=bucket.desc,i.desc",
        "limit=9&bucket=gte.2",
    ] {
        let all = app.list_all("pages", query).await;
        let expected = if query.contains("bucket=gte.2") {
            inserted
                .iter()
                .filter(|d| d["bucket"].as_i64().unwrap() >= 2)
                .count()
        } else {
            inserted.len()
        };
        assert_eq!(all.len(), expected, "{query}");
        let unique: HashSet<_> = ids(&all).into_iter().collect();
        assert_eq!(unique.len(), expected, "{query}: a document repeated");
    }
    // The last page says so.
    let page = app.list("pages", "limit=57").await;
    assert!(page["nextCursor"].is_null());
    let page = app.list("pages", "limit=56").await;
    assert!(page["nextCursor"].is_string());
}

pub async fn paging_during_concurrent_inserts_never_skips_or_repeats(app: &TestApp) {
    let before: Vec<Value> = (0..120).map(|i| json!({"i": i, "w": i % 7})).collect();
    let before = app.insert_many("feed", before).await;
    let mut next = 1000;
    for order in ["", "order=w.desc", "order=_creationTime.desc"] {
        // Page by hand, and insert five documents between every two pages: the inserts land
        // while the paging is under way, every time.
        let mut seen = Vec::new();
        let mut inserted = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let query = match &cursor {
                Some(c) => format!("limit=7&{order}&cursor={c}"),
                None => format!("limit=7&{order}"),
            };
            let page = app.list("feed", &query).await;
            seen.extend(page["items"].as_array().unwrap().iter().cloned());
            let Some(c) = page["nextCursor"].as_str() else {
                break;
            };
            cursor = Some(c.to_owned());
            if inserted.len() < 60 {
                for _ in 0..5 {
                    inserted.push(app.insert("feed", json!({"i": next, "w": next % 7})).await);
                    next += 1;
                }
            }
        }
        assert_eq!(inserted.len(), 60, "{order}: the inserts ran while paging");
        let seen_ids = ids(&seen);
        let unique: HashSet<_> = seen_ids.iter().cloned().collect();
        assert_eq!(unique.len(), seen_ids.len(), "{order}: a document repeated");
        for id in ids(&before) {
            assert!(unique.contains(&id), "{order}: document {id} was skipped");
        }
        let new_seen = ids(&inserted)
            .iter()
            .filter(|id| unique.contains(*id))
            .count();
        match order {
            // New documents sort after every page read so far: all of them are met.
            "" => assert_eq!(
                new_seen, 60,
                "{order}: inserts behind the cursor were missed"
            ),
            // They sort before the cursor: a page that has passed a position never sees them.
            "order=_creationTime.desc" => assert_eq!(new_seen, 0, "{order}"),
            _ => {}
        }
    }
}

pub async fn cursors_are_validated(app: &TestApp) {
    app.insert_many("c", (0..5).map(|i| json!({"i": i})).collect())
        .await;
    let page = app.list("c", "limit=2&order=i.desc").await;
    let cursor = page["nextCursor"].as_str().unwrap();
    let next = app
        .list("c", &format!("limit=2&order=i.desc&cursor={cursor}"))
        .await;
    assert_eq!(next["items"][0]["i"], 2);

    let wrong_order = app
        .get(&format!("/v1/tables/c?limit=2&order=i.asc&cursor={cursor}"))
        .await;
    assert_problem(wrong_order, StatusCode::BAD_REQUEST, "invalid_cursor").await;
    for bad in ["garbage!", "e30", "AAAA", ""] {
        let response = app.get(&format!("/v1/tables/c?cursor={bad}")).await;
        assert_problem(response, StatusCode::BAD_REQUEST, "invalid_cursor").await;
    }
}

pub async fn limit_defaults_and_bounds(app: &TestApp) {
    app.insert_many("lim", (0..150).map(|i| json!({"i": i})).collect())
        .await;
    let page = app.list("lim", "").await;
    assert_eq!(page["items"].as_array().unwrap().len(), 100);
    assert!(page["nextCursor"].is_string());
    let page = app.list("lim", "limit=1000").await;
    assert_eq!(page["items"].as_array().unwrap().len(), 150);
    assert!(page["nextCursor"].is_null());
    for bad in ["0", "1001", "-1", "ten", "1.5"] {
        let response = app.get(&format!("/v1/tables/lim?limit={bad}")).await;
        assert_problem(response, StatusCode::BAD_REQUEST, "invalid_limit").await;
    }
}

pub async fn tables_are_isolated(app: &TestApp) {
    let a = app.insert("alpha", json!({"x": 1})).await;
    app.insert("beta", json!({"x": 2})).await;
    assert_eq!(
        ids(&app.list_all("alpha", "").await),
        ids(std::slice::from_ref(&a))
    );
    let wrong_table = app
        .get(&format!("/v1/tables/beta/{}", a["_id"].as_str().unwrap()))
        .await;
    assert_problem(wrong_table, StatusCode::NOT_FOUND, "not_found").await;
    assert!(app.list_all("gamma", "").await.is_empty());
}

pub async fn rejected_requests_leave_the_store_unchanged(app: &TestApp) {
    let doc = app.insert("safe", json!({"n": 1, "keep": true})).await;
    let path = doc_path("safe", &doc);
    let snapshot = app.list_all("safe", "").await;

    let safe = "/v1/tables/safe".to_owned();
    #[rustfmt::skip]
    let cases = [
        (Method::POST, &safe, "application/json", "{\"n\":", StatusCode::BAD_REQUEST, "malformed_json"),
        (Method::POST, &safe, "text/plain", "{\"n\":2}", StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type"),
        (Method::POST, &safe, "application/json", "[1]", StatusCode::BAD_REQUEST, "invalid_body"),
        (Method::POST, &safe, "application/json", "\"str\"", StatusCode::BAD_REQUEST, "invalid_body"),
        (Method::POST, &safe, "application/json", "{\"_id\":\"x\",\"n\":2}", StatusCode::BAD_REQUEST, "reserved_field"),
        (Method::POST, &safe, "application/json", "{\"_creationTime\":1}", StatusCode::BAD_REQUEST, "reserved_field"),
        (Method::PATCH, &path, "application/json", "{\"n\": 2, \"_id\": \"other\"}", StatusCode::BAD_REQUEST, "reserved_field"),
        (Method::PATCH, &path, "application/json", "[]", StatusCode::BAD_REQUEST, "invalid_body"),
        (Method::PATCH, &path, "application/json", "{bad", StatusCode::BAD_REQUEST, "malformed_json"),
        (Method::PUT, &path, "application/json", "null", StatusCode::BAD_REQUEST, "invalid_body"),
        (Method::PUT, &path, "application/xml", "<n/>", StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type"),
        (Method::POST, &"/v1/tables/1bad".to_owned(), "application/json", "{\"n\":2}", StatusCode::BAD_REQUEST, "invalid_table_name"),
    ];
    for (method, target, content_type, body, status, code) in cases {
        let response = app
            .client
            .request(method, app.url(target))
            .header("content-type", content_type)
            .body(body)
            .send()
            .await
            .unwrap();
        assert_problem(response, status, code).await;
    }
    let oversized = format!("{{\"blob\":\"{}\"}}", "x".repeat(2 * 1024 * 1024));
    let response = app
        .client
        .post(app.url("/v1/tables/safe"))
        .header("content-type", "application/json")
        .body(oversized)
        .send()
        .await
        .unwrap();
    assert_problem(response, StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large").await;

    assert_eq!(app.list_all("safe", "").await, snapshot);
    let current = app.get(&path).await;
    assert_eq!(current.headers()["etag"], "\"1\"");
}

/// Failing writes interleaved with good ones: each fails alone, the good ones all land.
pub async fn concurrent_writes_fail_independently(app: &TestApp) {
    let target = app.insert("mixed", json!({"n": 0})).await;
    let target_path = doc_path("mixed", &target);
    let mut tasks = Vec::new();
    for i in 0..40 {
        let client = app.client.clone();
        let insert_url = app.url("/v1/tables/mixed");
        let patch_url = app.url(&target_path);
        tasks.push(tokio::spawn(async move {
            if i % 2 == 0 {
                let r = client
                    .post(insert_url)
                    .json(&json!({"i": i}))
                    .send()
                    .await
                    .unwrap();
                r.status()
            } else {
                let r = client
                    .patch(patch_url)
                    .header("if-match", "\"99\"")
                    .json(&json!({"n": i}))
                    .send()
                    .await
                    .unwrap();
                r.status()
            }
        }));
    }
    for (i, task) in tasks.into_iter().enumerate() {
        let status = task.await.unwrap();
        let expected = if i % 2 == 0 {
            StatusCode::CREATED
        } else {
            StatusCode::PRECONDITION_FAILED
        };
        assert_eq!(status, expected, "request {i}");
    }
    let all = app.list_all("mixed", "").await;
    assert_eq!(all.len(), 21);
    let current = app.get(&target_path).await;
    assert_eq!(current.headers()["etag"], "\"1\"");
    assert_eq!(current.json::<Value>().await.unwrap()["n"], 0);
}

async fn count(app: &TestApp, table: &str) -> usize {
    app.list_all(table, "").await.len()
}

pub async fn batches_apply_all_or_nothing_with_refs(app: &TestApp) {
    let response = app
        .post_json(
            "/v1/transactions",
            &json!({"operations": [
                {"op": "insert", "table": "molecules", "document": {"name": "Water"}},
                {"op": "insert", "table": "experiments", "document": {"moleculeId": {"$ref": "0"}, "runs": [{"of": {"$ref": 0}}]}},
                {"op": "patch", "table": "experiments", "id": {"$ref": "1"}, "patch": {"status": "running"}},
                {"op": "check", "table": "molecules", "id": {"$ref": "0"}, "version": 1},
                {"op": "insert", "table": "molecules", "document": {"name": "Ethanol"}},
                {"op": "delete", "table": "molecules", "id": {"$ref": "4"}, "version": 1},
            ]}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    let results = body["results"].as_array().unwrap();
    let molecule = results[0]["id"].as_str().unwrap();
    assert_eq!(results[1]["document"]["moleculeId"], molecule);
    assert_eq!(results[1]["document"]["runs"][0]["of"], molecule);
    assert_eq!(results[2]["op"], "patch");
    assert_eq!(results[2]["version"], 2);
    assert_eq!(results[2]["document"]["status"], "running");
    assert_eq!(results[3]["op"], "check");
    assert_eq!(results[5]["op"], "delete");
    assert_eq!(results[5]["id"], results[4]["id"]);
    assert!(results[5].get("document").is_none_or(Value::is_null));
    assert_eq!(count(app, "molecules").await, 1);
    let experiment = app
        .get(&format!(
            "/v1/tables/experiments/{}",
            results[1]["id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(experiment.headers()["etag"], "\"2\"");

    // The 4th of 6 operations fails: nothing of the batch is applied.
    let failed = app
        .post_json(
            "/v1/transactions",
            &json!({"operations": [
                {"op": "insert", "table": "molecules", "document": {"name": "A"}},
                {"op": "insert", "table": "experiments", "document": {"moleculeId": {"$ref": "0"}}},
                {"op": "patch", "table": "molecules", "id": molecule, "patch": {"touched": true}},
                {"op": "patch", "table": "molecules", "id": "missing", "patch": {"x": 1}},
                {"op": "insert", "table": "molecules", "document": {"name": "B"}},
                {"op": "delete", "table": "experiments", "id": {"$ref": "1"}},
            ]}),
        )
        .await;
    let problem = assert_problem(failed, StatusCode::NOT_FOUND, "not_found").await;
    assert_eq!(problem["failedOperation"], 3);
    let stale = app
        .post_json(
            "/v1/transactions",
            &json!({"operations": [
                {"op": "insert", "table": "molecules", "document": {"name": "C"}},
                {"op": "check", "table": "molecules", "id": molecule, "version": 7},
            ]}),
        )
        .await;
    let problem = assert_problem(stale, StatusCode::PRECONDITION_FAILED, "version_mismatch").await;
    assert_eq!(problem["failedOperation"], 1);
    assert_eq!(count(app, "molecules").await, 1);
    assert_eq!(count(app, "experiments").await, 1);
    let unchanged: Value = app
        .get(&format!("/v1/tables/molecules/{molecule}"))
        .await
        .json()
        .await
        .unwrap();
    assert!(unchanged.get("touched").is_none_or(Value::is_null));
}

pub async fn batch_limits_and_invalid_operations(app: &TestApp) {
    let batch = |ops: Value| async move {
        app.post_json("/v1/transactions", &json!({"operations": ops}))
            .await
    };
    let forward =
        batch(json!([{"op": "insert", "table": "t", "document": {"a": {"$ref": "0"}}}])).await;
    let problem = assert_problem(forward, StatusCode::BAD_REQUEST, "invalid_reference").await;
    assert_eq!(problem["failedOperation"], 0);
    let later = batch(json!([
        {"op": "insert", "table": "t", "document": {"a": 1}},
        {"op": "delete", "table": "t", "id": {"$ref": "3"}},
    ]))
    .await;
    let problem = assert_problem(later, StatusCode::BAD_REQUEST, "invalid_reference").await;
    assert_eq!(problem["failedOperation"], 1);
    let reserved = batch(json!([{"op": "insert", "table": "t", "document": {"_id": "x"}}])).await;
    assert_problem(reserved, StatusCode::BAD_REQUEST, "reserved_field").await;
    assert_problem(
        batch(json!([])).await,
        StatusCode::BAD_REQUEST,
        "invalid_body",
    )
    .await;
    assert_problem(
        batch(json!([{"op": "upsert", "table": "t"}])).await,
        StatusCode::BAD_REQUEST,
        "invalid_body",
    )
    .await;
    let too_many: Vec<Value> = (0..501)
        .map(|i| json!({"op": "insert", "table": "t", "document": {"i": i}}))
        .collect();
    assert_problem(
        batch(Value::Array(too_many)).await,
        StatusCode::PAYLOAD_TOO_LARGE,
        "too_many_operations",
    )
    .await;
    assert_eq!(count(app, "t").await, 0);
}

async fn begin(app: &TestApp, client: &reqwest::Client) -> String {
    let response = client
        .post(app.url("/v1/transactions/begin"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    let body: Value = response.json().await.unwrap();
    assert!(body["expiresAt"].as_u64().unwrap() > 0);
    body["id"].as_str().unwrap().to_owned()
}

fn in_tx(
    client: &reqwest::Client,
    method: Method,
    url: String,
    tx: &str,
) -> reqwest::RequestBuilder {
    client.request(method, url).header("x-transaction-id", tx)
}

pub async fn transactions_read_their_writes_and_commit_atomically(app: &TestApp) {
    let a = app.insert("ledger", json!({"name": "a", "n": 1})).await;
    let d = app.insert("ledger", json!({"name": "d", "n": 4})).await;
    let (a_path, d_path) = (doc_path("ledger", &a), doc_path("ledger", &d));
    let tx = begin(app, &app.client).await;
    let c = &app.client;

    // Writes are staged (202) and visible only inside the transaction.
    let patched = in_tx(c, Method::PATCH, app.url(&a_path), &tx)
        .json(&json!({"n": 2}))
        .send()
        .await
        .unwrap();
    assert_eq!(patched.status(), StatusCode::ACCEPTED);
    let seen: Value = in_tx(c, Method::GET, app.url(&a_path), &tx)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(seen["n"], 2);
    let outside: Value = app.get(&a_path).await.json().await.unwrap();
    assert_eq!(outside["n"], 1);

    let b: Value = in_tx(c, Method::POST, app.url("/v1/tables/ledger"), &tx)
        .json(&json!({"name": "b", "n": 3}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let provisional = b["_id"].as_str().unwrap().to_owned();
    let child = in_tx(c, Method::POST, app.url("/v1/tables/ledger"), &tx)
        .json(&json!({"name": "child", "parent": provisional}))
        .send()
        .await
        .unwrap();
    assert_eq!(child.status(), StatusCode::ACCEPTED);
    let deleted = in_tx(c, Method::DELETE, app.url(&d_path), &tx)
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), StatusCode::ACCEPTED);
    assert_problem(
        in_tx(c, Method::GET, app.url(&d_path), &tx)
            .send()
            .await
            .unwrap(),
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    assert_eq!(app.get(&d_path).await.status(), StatusCode::OK);

    let listed: Value = in_tx(c, Method::GET, app.url("/v1/tables/ledger?n=gte.2"), &tx)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let names: Vec<&str> = listed["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["a", "b"], "the transaction's own view, filtered");
    assert_eq!(
        app.list_all("ledger", "n=gte.2").await.len(),
        1,
        "others see the committed state"
    );

    let committed = c
        .post(app.url(&format!("/v1/transactions/{tx}/commit")))
        .send()
        .await
        .unwrap();
    assert_eq!(committed.status(), StatusCode::OK);
    let committed: Value = committed.json().await.unwrap();
    let real_b = committed["ids"][&provisional].as_str().unwrap().to_owned();
    assert_eq!(committed["results"].as_array().unwrap().len(), 4);

    let all = app.list_all("ledger", "").await;
    let by_name = |name: &str| all.iter().find(|d| d["name"] == name).cloned();
    assert_eq!(by_name("a").unwrap()["n"], 2);
    assert_eq!(by_name("b").unwrap()["_id"], real_b.as_str());
    assert_eq!(
        by_name("child").unwrap()["parent"],
        real_b.as_str(),
        "provisional ids become real ones"
    );
    assert!(by_name("d").is_none());
    assert_eq!(app.get(&a_path).await.headers()["etag"], "\"2\"");

    // A committed transaction is over; rollback discards.
    assert_problem(
        c.post(app.url(&format!("/v1/transactions/{tx}/commit")))
            .send()
            .await
            .unwrap(),
        StatusCode::NOT_FOUND,
        "transaction_not_found",
    )
    .await;
    let tx = begin(app, c).await;
    in_tx(c, Method::PATCH, app.url(&a_path), &tx)
        .json(&json!({"n": 99}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        c.post(app.url(&format!("/v1/transactions/{tx}/rollback")))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::NO_CONTENT
    );
    let after: Value = app.get(&a_path).await.json().await.unwrap();
    assert_eq!(after["n"], 2);
}

pub async fn concurrent_transactions_conflict_and_scopes_are_private(app: &TestApp) {
    let x = app.insert("counters", json!({"count": 0})).await;
    let path = doc_path("counters", &x);
    let c = &app.client;
    let (t1, t2) = (begin(app, c).await, begin(app, c).await);
    for tx in [&t1, &t2] {
        let read: Value = in_tx(c, Method::GET, app.url(&path), tx)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(read["count"], 0);
        in_tx(c, Method::PATCH, app.url(&path), tx)
            .json(&json!({"count": 1}))
            .send()
            .await
            .unwrap();
    }
    assert_eq!(
        c.post(app.url(&format!("/v1/transactions/{t1}/commit")))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::OK
    );
    let second = c
        .post(app.url(&format!("/v1/transactions/{t2}/commit")))
        .send()
        .await
        .unwrap();
    assert_problem(second, StatusCode::CONFLICT, "transaction_conflict").await;
    let current: Value = app.get(&path).await.json().await.unwrap();
    assert_eq!(current["count"], 1);

    // Someone else's transaction does not exist for you; nor does a made-up one.
    let mine = begin(app, c).await;
    let other = app.client_for(&app.token("intruder", &[]));
    let stolen = in_tx(&other, Method::GET, app.url(&path), &mine)
        .send()
        .await
        .unwrap();
    assert_problem(stolen, StatusCode::NOT_FOUND, "transaction_not_found").await;
    let commit = other
        .post(app.url(&format!("/v1/transactions/{mine}/commit")))
        .send()
        .await
        .unwrap();
    assert_problem(commit, StatusCode::NOT_FOUND, "transaction_not_found").await;
    let unknown = in_tx(c, Method::GET, app.url(&path), "nope")
        .send()
        .await
        .unwrap();
    assert_problem(unknown, StatusCode::NOT_FOUND, "transaction_not_found").await;
    let anonymous = app
        .anon
        .post(app.url("/v1/transactions/begin"))
        .send()
        .await
        .unwrap();
    assert_problem(anonymous, StatusCode::UNAUTHORIZED, "missing_token").await;
}

/// `Prefer: tx=rollback`: a write, a batch and a commit run as they would, answer what they
/// would store, and store nothing; no idempotency key is consumed; `Preference-Applied` comes
/// only with a write that ran as a dry run; `handling=strict` refuses what cannot be honoured.
pub async fn dry_runs_answer_what_a_write_stores_and_keep_nothing(app: &TestApp) {
    let dry = |method: Method, path: &str| {
        app.client
            .request(method, app.url(path))
            .header("prefer", "tx=rollback")
    };
    let applied = |r: &reqwest::Response| {
        r.headers()
            .get("preference-applied")
            .map(|v| v.to_str().unwrap().to_owned())
    };
    let without_system = |doc: &Value| {
        let mut doc = doc.clone();
        let object = doc.as_object_mut().unwrap();
        object.remove("_id");
        object.remove("_creationTime");
        doc
    };

    // An insert: the document it would store, and nothing stored.
    let molecule = json!({"name": "Water", "status": "liquid"});
    let response = dry(Method::POST, "/v1/tables/molecules")
        .json(&molecule)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    assert_eq!(applied(&response).as_deref(), Some("tx=rollback"));
    assert!(
        response.headers().get("location").is_none(),
        "nothing is there"
    );
    let would: Value = response.json().await.unwrap();
    assert_eq!(count(app, "molecules").await, 0, "a dry run stores nothing");
    let real = app.post_json("/v1/tables/molecules", &molecule).await;
    assert_eq!(real.status(), StatusCode::CREATED);
    assert!(applied(&real).is_none(), "no preference, nothing applied");
    let stored: Value = real.json().await.unwrap();
    assert_eq!(without_system(&would), without_system(&stored));
    let path = doc_path("molecules", &stored);

    // A patch: the next version, with the ETag it would have; the document stays as it was.
    let response = dry(Method::PATCH, &path)
        .json(&json!({"status": "ice"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(applied(&response).as_deref(), Some("tx=rollback"));
    assert_eq!(response.headers()["etag"], "\"2\"");
    let would: Value = response.json().await.unwrap();
    let unchanged: Value = app.get(&path).await.json().await.unwrap();
    assert_eq!(unchanged, stored, "a dry patch changes nothing");
    let real: Value = app
        .send_json(Method::PATCH, &path, &json!({"status": "ice"}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        would, real,
        "the dry run answered what the write then stored"
    );

    // A dry run that fails fails as the write would, and says nothing was applied.
    let stale = dry(Method::DELETE, &path)
        .header("if-match", "\"1\"")
        .send()
        .await
        .unwrap();
    assert!(applied(&stale).is_none());
    assert_problem(stale, StatusCode::PRECONDITION_FAILED, "version_mismatch").await;
    // A delete: 204, and the document is still there.
    let response = dry(Method::DELETE, &path).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert_eq!(applied(&response).as_deref(), Some("tx=rollback"));
    assert_eq!(app.get(&path).await.status(), StatusCode::OK);

    // A batch with references: its results, nothing stored.
    let batch = json!({"operations": [
        {"op": "insert", "table": "molecules", "document": {"name": "Ethanol"}},
        {"op": "insert", "table": "experiments", "document": {"moleculeId": {"$ref": "0"}}},
        {"op": "delete", "table": "molecules", "id": stored["_id"]},
    ]});
    let response = dry(Method::POST, "/v1/transactions")
        .json(&batch)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(applied(&response).as_deref(), Some("tx=rollback"));
    let results: Value = response.json().await.unwrap();
    assert_eq!(
        results["results"][1]["document"]["moleculeId"],
        results["results"][0]["id"]
    );
    assert_eq!(count(app, "molecules").await, 1);
    assert_eq!(count(app, "experiments").await, 0);

    // A dry run consumes no idempotency key: the real request with the same key runs.
    let keyed = json!({"name": "Methane"});
    let response = dry(Method::POST, "/v1/tables/molecules")
        .header("idempotency-key", "dry-then-real")
        .json(&keyed)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    let response = app
        .client
        .post(app.url("/v1/tables/molecules"))
        .header("idempotency-key", "dry-then-real")
        .json(&keyed)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    assert!(response.headers().get("idempotent-replayed").is_none());
    assert_eq!(count(app, "molecules").await, 2);

    // An interactive transaction: a staged write cannot be a dry run (strict refuses it, lenient
    // stages it without Preference-Applied); a dry-run commit answers its results, stores
    // nothing, and ends the transaction.
    let begun: Value = app
        .post_json("/v1/transactions/begin", &json!({}))
        .await
        .json()
        .await
        .unwrap();
    let tx = begun["id"].as_str().unwrap().to_owned();
    let strict = app
        .client
        .post(app.url("/v1/tables/molecules"))
        .header("x-transaction-id", &tx)
        .header("prefer", "tx=rollback, handling=strict")
        .json(&json!({"name": "Staged"}))
        .send()
        .await
        .unwrap();
    assert_problem(strict, StatusCode::BAD_REQUEST, "preference_not_honoured").await;
    let staged = app
        .client
        .post(app.url("/v1/tables/molecules"))
        .header("x-transaction-id", &tx)
        .header("prefer", "tx=rollback")
        .json(&json!({"name": "Staged"}))
        .send()
        .await
        .unwrap();
    assert_eq!(staged.status(), StatusCode::ACCEPTED);
    assert!(applied(&staged).is_none(), "staged, not a dry run");
    let response = dry(Method::POST, &format!("/v1/transactions/{tx}/commit"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(applied(&response).as_deref(), Some("tx=rollback"));
    let committed: Value = response.json().await.unwrap();
    assert_eq!(committed["results"][0]["document"]["name"], "Staged");
    assert_eq!(count(app, "molecules").await, 2);
    let again = app
        .post_json(&format!("/v1/transactions/{tx}/commit"), &json!({}))
        .await;
    assert_problem(again, StatusCode::NOT_FOUND, "transaction_not_found").await;

    // Strict handling: an unknown preference, or a dry run of a route that cannot do one.
    for (method, path, prefer) in [
        (
            Method::POST,
            "/v1/tables/molecules",
            "return=minimal, handling=strict",
        ),
        (
            Method::POST,
            "/v1/transactions/begin",
            "tx=rollback, handling=strict",
        ),
    ] {
        let refused = app
            .client
            .request(method, app.url(path))
            .header("prefer", prefer)
            .json(&json!({"name": "Refused"}))
            .send()
            .await
            .unwrap();
        assert_problem(refused, StatusCode::BAD_REQUEST, "preference_not_honoured").await;
    }
    // Lenient (the default) ignores what it does not know, and says it applied nothing.
    let lenient = app
        .client
        .post(app.url("/v1/tables/molecules"))
        .header("prefer", "return=minimal")
        .json(&json!({"name": "Kept"}))
        .send()
        .await
        .unwrap();
    assert_eq!(lenient.status(), StatusCode::CREATED);
    assert!(applied(&lenient).is_none());
    assert_eq!(count(app, "molecules").await, 3);
}
