//! Live queries over Server-Sent Events on the embedded store and on Postgres: table watches in
//! both modes, document watches, resuming with `Last-Event-ID`, row ownership on every event,
//! token expiry, limits, slow consumers, heartbeats and shutdown.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{TestApp, assert_problem, spawn_app, spawn_app_with};

/// One server-sent event.
#[derive(Debug, Clone)]
pub(crate) struct SseEvent {
    pub event: String,
    pub id: Option<String>,
    pub data: String,
}

impl SseEvent {
    pub(crate) fn json(&self) -> Value {
        serde_json::from_str(&self.data).unwrap_or_else(|e| panic!("{e}: {}", self.data))
    }
}

/// An open event stream, read event by event.
pub(crate) struct Sse {
    response: reqwest::Response,
    buffer: String,
    /// Comment lines seen (heartbeats).
    pub comments: usize,
}

impl Sse {
    /// Opens `url` as an event stream; asserts 200 and the media type.
    pub(crate) async fn open(
        client: &reqwest::Client,
        url: &str,
        last_event_id: Option<&str>,
    ) -> Self {
        let mut request = client.get(url).header("accept", "text/event-stream");
        if let Some(id) = last_event_id {
            request = request.header("last-event-id", id);
        }
        let response = request.send().await.unwrap();
        let status = response.status();
        if status != StatusCode::OK {
            panic!("{status}: {}", response.text().await.unwrap());
        }
        assert_eq!(response.headers()["content-type"], "text/event-stream");
        Self {
            response,
            buffer: String::new(),
            comments: 0,
        }
    }

    /// The next event, or `None` when the stream has ended; panics after `within`.
    pub(crate) async fn next_within(&mut self, within: Duration) -> Option<SseEvent> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            if let Some(end) = self.buffer.find("\n\n") {
                let block: String = self.buffer.drain(..end + 2).collect();
                let mut event = SseEvent {
                    event: "message".into(),
                    id: None,
                    data: String::new(),
                };
                let mut any = false;
                for line in block.lines() {
                    if line.starts_with(':') {
                        self.comments += 1;
                    } else if let Some(v) = line.strip_prefix("event:") {
                        event.event = v.trim().to_owned();
                        any = true;
                    } else if let Some(v) = line.strip_prefix("id:") {
                        event.id = Some(v.trim().to_owned());
                        any = true;
                    } else if let Some(v) = line.strip_prefix("data:") {
                        if !event.data.is_empty() {
                            event.data.push('\n');
                        }
                        event.data.push_str(v.strip_prefix(' ').unwrap_or(v));
                        any = true;
                    }
                }
                if any {
                    return Some(event);
                }
                continue;
            }
            match tokio::time::timeout_at(deadline, self.response.chunk()).await {
                Err(_) => panic!("no event within {within:?}; buffered: {:?}", self.buffer),
                Ok(Ok(Some(bytes))) => self.buffer.push_str(&String::from_utf8_lossy(&bytes)),
                Ok(Ok(None)) => return None,
                Ok(Err(err)) => panic!("reading the stream: {err}"),
            }
        }
    }

    /// The next event, within 10 s; panics if the stream ended.
    pub(crate) async fn next(&mut self) -> SseEvent {
        self.next_within(Duration::from_secs(10))
            .await
            .expect("the stream ended")
    }

    /// Asserts that the stream ends (after any events still buffered), within 10 s.
    pub(crate) async fn assert_ends(&mut self) {
        if let Some(event) = self.next_within(Duration::from_secs(10)).await {
            panic!("expected the end of the stream, got {event:?}");
        }
    }
}

/// A metric's value, summed over the series whose labels contain `labels`.
pub(crate) async fn metric(app: &TestApp, name: &str, labels: &str) -> f64 {
    let text = app.get("/metrics").await.text().await.unwrap();
    text.lines()
        .filter(|l| l.starts_with(name) && l.contains(labels))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// Waits until `check` holds, for at most 10 s.
pub(crate) async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + Duration::from_secs(10);
    while !check().await {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn id_of(doc: &Value) -> String {
    doc["_id"].as_str().unwrap().to_owned()
}

async fn patch(app: &TestApp, table: &str, id: &str, body: Value) {
    let response = app
        .client
        .patch(app.url(&format!("/v1/tables/{table}/{id}")))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.status(),
        StatusCode::OK,
        "{}",
        response.text().await.unwrap()
    );
}

async fn delete(app: &TestApp, table: &str, id: &str) {
    let response = app
        .client
        .delete(app.url(&format!("/v1/tables/{table}/{id}")))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
}

/// The (op, id) of the next change event, checking that its id grows.
async fn change(stream: &mut Sse, last: &mut u64) -> (String, String, Value) {
    let event = stream.next().await;
    assert_eq!(event.event, "change", "{event:?}");
    let position: u64 = event.id.as_deref().unwrap().parse().unwrap();
    assert!(position > *last, "positions grow: {position} after {last}");
    *last = position;
    let body = event.json();
    (
        body["op"].as_str().unwrap().to_owned(),
        body["id"].as_str().unwrap().to_owned(),
        body,
    )
}

/// A changes watch on `status=eq.open` sees exactly what happens to its view, in order: an
/// insert, an update, a document coming in by an update, one leaving by an update, a delete;
/// and nothing of the rows that never matched.
pub(crate) async fn check_changes_watch(app: &TestApp) {
    let mut stream = Sse::open(
        &app.client,
        &app.url("/v1/tables/items?mode=changes&status=eq.open"),
        None,
    )
    .await;
    let ready = stream.next().await;
    assert_eq!(ready.event, "ready");
    let mut last: u64 = ready.id.as_deref().unwrap().parse().unwrap();
    assert_eq!(ready.json()["position"], last);

    let a = id_of(&app.insert("items", json!({"status": "open", "n": 1})).await);
    let b = id_of(
        &app.insert("items", json!({"status": "closed", "n": 2}))
            .await,
    );
    patch(app, "items", &a, json!({"n": 10})).await;
    patch(app, "items", &b, json!({"status": "open"})).await;
    patch(app, "items", &a, json!({"status": "closed"})).await;
    delete(app, "items", &b).await;
    delete(app, "items", &a).await;
    let c = id_of(&app.insert("items", json!({"status": "open", "n": 3})).await);

    let (op, id, body) = change(&mut stream, &mut last).await;
    assert_eq!((op.as_str(), id.as_str()), ("insert", a.as_str()));
    assert_eq!(body["document"]["n"], 1);
    assert_eq!(body["version"], body["document"]["_version"]);
    let (op, id, body) = change(&mut stream, &mut last).await;
    assert_eq!((op.as_str(), id.as_str()), ("update", a.as_str()));
    assert_eq!(body["document"]["n"], 10);
    let (op, id, body) = change(&mut stream, &mut last).await;
    assert_eq!(
        (op.as_str(), id.as_str()),
        ("insert", b.as_str()),
        "b came into view"
    );
    assert_eq!(body["document"]["status"], "open");
    let (op, id, body) = change(&mut stream, &mut last).await;
    assert_eq!(
        (op.as_str(), id.as_str()),
        ("leave", a.as_str()),
        "a left the view"
    );
    assert_eq!(body["document"], Value::Null);
    let (op, id, _) = change(&mut stream, &mut last).await;
    assert_eq!((op.as_str(), id.as_str()), ("delete", b.as_str()));
    // a's delete happened out of view: nothing. c is next.
    let (op, id, _) = change(&mut stream, &mut last).await;
    assert_eq!((op.as_str(), id.as_str()), ("insert", c.as_str()));
}

/// A snapshot watch sends its page at once, then again only when the page's content changes:
/// writes to other tables and to rows outside the filter send nothing, and identical watches
/// share one reader.
pub(crate) async fn check_snapshot_watch(app: &TestApp) {
    let url = app.url("/v1/tables/items?kind=eq.a&order=n.desc&limit=2");
    let mut stream = Sse::open(&app.client, &url, None).await;
    let first = stream.next().await;
    assert_eq!(first.event, "snapshot", "{first:?}");
    assert_eq!(first.json()["items"], json!([]));
    let mut twin = Sse::open(&app.client, &url, None).await;
    assert_eq!(twin.next().await.json()["items"], json!([]));
    eventually("one cohort for two identical watches", || async {
        metric(app, "gateway_watch_upstream_subscriptions", "").await == 1.0
            && metric(app, "gateway_watches_open", "table_snapshot").await == 2.0
    })
    .await;

    app.insert("items", json!({"kind": "a", "n": 1})).await;
    let page = stream.next().await.json();
    assert_eq!(page["items"].as_array().unwrap().len(), 1);
    assert_eq!(page["items"][0]["n"].as_f64(), Some(1.0));
    // Outside the page: another table, another kind. Then one that changes it.
    app.insert("feed", json!({"kind": "a", "n": 5})).await;
    app.insert("items", json!({"kind": "b", "n": 7})).await;
    app.insert("items", json!({"kind": "a", "n": 2})).await;
    let page = stream.next().await.json();
    let ns: Vec<Option<f64>> = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["n"].as_f64())
        .collect();
    assert_eq!(
        ns,
        [Some(2.0), Some(1.0)],
        "no resend for the writes outside the page"
    );
    // A third match below the page's limit changes only `nextCursor` (there is more now)...
    app.insert("items", json!({"kind": "a", "n": 0})).await;
    let more = stream.next().await.json();
    assert_eq!(more["items"], page["items"]);
    assert!(more["nextCursor"].is_string());
    // ...and a fourth changes nothing of the page: no resend; the next event is the one that
    // changes the page.
    app.insert("items", json!({"kind": "a", "n": -1})).await;
    let top = app.insert("items", json!({"kind": "a", "n": 9})).await;
    let page = stream.next().await.json();
    assert_eq!(page["items"][0]["_id"], top["_id"]);
    assert_eq!(page["items"][1]["n"].as_f64(), Some(2.0));
    // The twin got the same pages (it may skip to the newest, never see another).
    let mut seen = twin.next().await.json();
    while seen["items"][0]["_id"] != top["_id"] {
        seen = twin.next().await.json();
    }
    assert_eq!(seen, page);
    drop(stream);
    drop(twin);
    eventually("the cohort to stop with its last watch", || async {
        metric(app, "gateway_watch_upstream_subscriptions", "").await == 0.0
            && metric(app, "gateway_watches_open", "table_snapshot").await == 0.0
    })
    .await;
}

/// A changes watch resumed with the `Last-Event-ID` of the last event it received gets exactly
/// the changes after it, none twice, none missing.
pub(crate) async fn check_resume(app: &TestApp) {
    let url = app.url("/v1/tables/items?mode=changes");
    let mut stream = Sse::open(&app.client, &url, None).await;
    assert_eq!(stream.next().await.event, "ready");
    let mut inserted = Vec::new();
    for n in 0..2 {
        inserted.push(id_of(&app.insert("items", json!({"n": n})).await));
    }
    let mut last = 0;
    change(&mut stream, &mut last).await;
    let (_, second, _) = change(&mut stream, &mut last).await;
    assert_eq!(second, inserted[1]);
    drop(stream);
    for n in 2..5 {
        inserted.push(id_of(&app.insert("items", json!({"n": n})).await));
    }
    let mut resumed = Sse::open(&app.client, &url, Some(&last.to_string())).await;
    for expected in &inserted[2..] {
        let (op, id, _) = change(&mut resumed, &mut last).await;
        assert_eq!((op.as_str(), id.as_str()), ("insert", expected.as_str()));
    }
    // Then live changes follow, without a gap.
    let live = id_of(&app.insert("items", json!({"n": 5})).await);
    let (_, id, _) = change(&mut resumed, &mut last).await;
    assert_eq!(id, live);
}

/// A document watch sends the document, each new version, then `deleted`, and ends.
pub(crate) async fn check_document_watch(app: &TestApp) {
    let doc = app.insert("items", json!({"n": 1})).await;
    let id = id_of(&doc);
    let url = app.url(&format!("/v1/tables/items/{id}"));
    let mut stream = Sse::open(&app.client, &url, None).await;
    let first = stream.next().await;
    assert_eq!(first.event, "document");
    assert_eq!(first.json(), doc);
    app.insert("items", json!({"n": 99})).await;
    patch(app, "items", &id, json!({"n": 2})).await;
    let second = stream.next().await;
    assert_eq!(second.event, "document");
    assert_eq!(second.json()["n"], 2);
    assert_eq!(second.json()["_id"], id.as_str());
    delete(app, "items", &id).await;
    let gone = stream.next().await;
    assert_eq!(gone.event, "deleted");
    assert_eq!(gone.json()["_id"], id.as_str());
    stream.assert_ends().await;
    // A document that does not exist cannot be watched.
    let response = app
        .client
        .get(app.url("/v1/tables/items/nope"))
        .header("accept", "text/event-stream")
        .send()
        .await
        .unwrap();
    assert_problem(response, StatusCode::NOT_FOUND, "not_found").await;
}

#[tokio::test]
async fn a_changes_watch_sees_its_view_change_in_order() {
    check_changes_watch(&spawn_app().await).await;
}

#[tokio::test]
async fn a_snapshot_watch_resends_only_when_its_page_changes() {
    check_snapshot_watch(&spawn_app().await).await;
}

#[tokio::test]
async fn last_event_id_resumes_exactly_after_a_disconnect() {
    check_resume(&spawn_app().await).await;
}

#[tokio::test]
async fn a_document_watch_follows_one_document_until_it_is_deleted() {
    check_document_watch(&spawn_app().await).await;
}

#[tokio::test]
async fn on_postgres_watches_see_the_gateways_and_other_programs_commits() {
    // Without row-level security: every change is judged from the feed alone (see the next
    // test for watches under the database's own row policies).
    let app = crate::pg::spawn_pg_app_with(
        |db| {
            crate::pg::suite_schema(db);
            crate::pg::install(db);
        },
        |c| c.postgres.rls = convex_gateway::store::postgres::RlsMode::Off,
    )
    .await;
    check_changes_watch(&app).await;
    check_snapshot_watch(&app).await;
    check_resume(&app).await;
    check_document_watch(&app).await;
    // Another program's commit reaches a watch through the trigger and NOTIFY, with no polling.
    let mut stream = Sse::open(&app.client, &app.url("/v1/tables/feed?mode=changes"), None).await;
    assert_eq!(stream.next().await.event, "ready");
    let url = app.postgres.as_ref().unwrap().url.clone();
    tokio::task::spawn_blocking(move || {
        crate::pg::psql_at(
            &url,
            "INSERT INTO feed (n) VALUES ('41'::jsonb); UPDATE feed SET n = '42'::jsonb WHERE n = '41'::jsonb;",
        )
    })
    .await
    .unwrap();
    let mut last = 0;
    let (op, id, inserted) = change(&mut stream, &mut last).await;
    assert_eq!(op, "insert");
    assert_eq!(inserted["document"]["n"], 41);
    let (op, same, updated) = change(&mut stream, &mut last).await;
    assert_eq!((op.as_str(), same.as_str()), ("update", id.as_str()));
    assert_eq!(updated["document"]["n"], 42);
}

#[tokio::test]
async fn under_row_level_security_a_watch_shows_only_the_rows_the_database_lets_the_caller_read() {
    let policy = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(
        policy.path(),
        "[roles.admin]\nadmin = true\n[roles.authenticated]\ntables = { notes = [\"read\", \"write\", \"delete\"] }\n",
    )
    .unwrap();
    let app = crate::pg::spawn_pg_app_with(
        |db| {
            db.psql(crate::postgres::SUPABASE_AUTH);
            db.psql(
                "CREATE TABLE notes (id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
                     created_at timestamptz NOT NULL DEFAULT now(),
                     owner uuid NOT NULL DEFAULT auth.uid(), body text);
                 ALTER TABLE notes ENABLE ROW LEVEL SECURITY;
                 CREATE POLICY own ON notes FOR ALL TO authenticated
                     USING (owner = auth.uid()) WITH CHECK (owner = auth.uid());
                 GRANT ALL ON notes TO authenticated, service_role;",
            );
            crate::pg::install(db);
        },
        |c| c.auth.policy_path = Some(policy.path().to_owned()),
    )
    .await;
    let (a, b) = (
        "0f0d5a8e-0000-4000-8000-00000000000a",
        "0f0d5a8e-0000-4000-8000-00000000000b",
    );
    let user_a = app.client_for(&app.token(a, &[]));
    let user_b = app.client_for(&app.token(b, &[]));
    let post = |client: &reqwest::Client, body: &str| {
        let request = client
            .post(app.url("/v1/tables/notes"))
            .json(&json!({ "body": body }));
        async move {
            let response = request.send().await.unwrap();
            assert_eq!(response.status(), StatusCode::CREATED);
            response.json::<Value>().await.unwrap()
        }
    };
    let mut changes = Sse::open(&user_a, &app.url("/v1/tables/notes?mode=changes"), None).await;
    assert_eq!(changes.next().await.event, "ready");
    let mut snapshot = Sse::open(&user_a, &app.url("/v1/tables/notes"), None).await;
    assert_eq!(snapshot.next().await.json()["items"], json!([]));
    // B's row first: A's watches show nothing of it; A's own row is the first event.
    let bs = post(&user_b, "b1").await;
    let mine = post(&user_a, "a1").await;
    let mut last = 0;
    let (op, id, body) = change(&mut changes, &mut last).await;
    assert_eq!(
        (op.as_str(), id.as_str()),
        ("insert", id_of(&mine).as_str())
    );
    assert_eq!(body["document"]["body"], "a1");
    let page = snapshot.next().await.json();
    assert_eq!(page["items"].as_array().unwrap().len(), 1, "{page}");
    // B's update and delete do not reach A; A's own delete does.
    user_b
        .patch(app.url(&format!("/v1/tables/notes/{}", id_of(&bs))))
        .json(&json!({"body": "b2"}))
        .send()
        .await
        .unwrap();
    user_b
        .delete(app.url(&format!("/v1/tables/notes/{}", id_of(&bs))))
        .send()
        .await
        .unwrap();
    user_a
        .delete(app.url(&format!("/v1/tables/notes/{}", id_of(&mine))))
        .send()
        .await
        .unwrap();
    let (op, id, _) = change(&mut changes, &mut last).await;
    assert_eq!(
        (op.as_str(), id.as_str()),
        ("delete", id_of(&mine).as_str())
    );
    assert_eq!(snapshot.next().await.json()["items"], json!([]));
}

const OWNED: &str = r#"
[roles.admin]
admin = true

[roles.authenticated]
tables = { "notes" = ["read", "write", "delete"] }

[tables.notes]
owner_field = "ownerId"
"#;

#[tokio::test]
async fn row_ownership_scopes_every_event() {
    let dir = tempfile::TempDir::new().unwrap();
    let path = dir.path().join("policy.toml");
    std::fs::write(&path, OWNED).unwrap();
    let app = spawn_app_with(|c| c.auth.policy_path = Some(path.clone())).await;
    let alice = app.client_for(&app.token("alice", &[]));
    let bob = app.client_for(&app.token("bob", &[]));
    let admin = app.client_for(&app.token("root", &["admin"]));
    let post = |client: &reqwest::Client, doc: Value| {
        let request = client.post(app.url("/v1/tables/notes")).json(&doc);
        async move {
            let response = request.send().await.unwrap();
            assert_eq!(response.status(), StatusCode::CREATED);
            response.json::<Value>().await.unwrap()
        }
    };
    let bobs_old = post(&bob, json!({"text": "bob's, before"})).await;
    let mut changes = Sse::open(&alice, &app.url("/v1/tables/notes?mode=changes"), None).await;
    assert_eq!(changes.next().await.event, "ready");
    let mut snapshot = Sse::open(&alice, &app.url("/v1/tables/notes"), None).await;
    assert_eq!(snapshot.next().await.json()["items"], json!([]));
    // Bob writes, updates and deletes his rows; an admin moves one of Bob's rows around too.
    let bobs = post(&bob, json!({"text": "bob's"})).await;
    let path = |doc: &Value| app.url(&format!("/v1/tables/notes/{}", id_of(doc)));
    bob.patch(path(&bobs))
        .json(&json!({"text": "bob's, edited"}))
        .send()
        .await
        .unwrap();
    admin
        .patch(path(&bobs_old))
        .json(&json!({"text": "edited by an admin"}))
        .send()
        .await
        .unwrap();
    bob.delete(path(&bobs)).send().await.unwrap();
    bob.delete(path(&bobs_old)).send().await.unwrap();
    // Then Alice writes: her own change is the first thing either watch shows.
    let hers = post(&alice, json!({"text": "alice's"})).await;
    let mut last = 0;
    let (op, id, body) = change(&mut changes, &mut last).await;
    assert_eq!(
        (op.as_str(), id.as_str()),
        ("insert", id_of(&hers).as_str())
    );
    assert_eq!(body["document"]["ownerId"], "alice");
    let page = snapshot.next().await.json();
    assert_eq!(page["items"].as_array().unwrap().len(), 1);
    assert_eq!(page["items"][0]["_id"], hers["_id"]);
    // Alice cannot watch Bob's document: to her it does not exist.
    let bobs_new = post(&bob, json!({"text": "bob's, later"})).await;
    let response = alice
        .get(path(&bobs_new))
        .header("accept", "text/event-stream")
        .send()
        .await
        .unwrap();
    assert_problem(response, StatusCode::NOT_FOUND, "not_found").await;
    // Her delete reaches her watches.
    alice.delete(path(&hers)).send().await.unwrap();
    let (op, id, _) = change(&mut changes, &mut last).await;
    assert_eq!(
        (op.as_str(), id.as_str()),
        ("delete", id_of(&hers).as_str())
    );
    assert_eq!(snapshot.next().await.json()["items"], json!([]));
}

#[tokio::test]
async fn an_expiring_token_ends_its_watch_with_token_expired() {
    let app = spawn_app().await;
    let token = app.token_with("short", &[], Duration::from_secs(2), serde_json::Map::new());
    let client = app.client_for(&token);
    let mut stream = Sse::open(&client, &app.url("/v1/tables/items?mode=changes"), None).await;
    assert_eq!(stream.next().await.event, "ready");
    let ended = stream.next().await;
    assert_eq!(ended.event, "error");
    assert_eq!(ended.json()["code"], "token_expired");
    stream.assert_ends().await;
    assert_eq!(
        metric(&app, "gateway_watch_dropped_total", "token_expired").await,
        1.0
    );
}

#[tokio::test]
async fn watches_are_limited_per_caller_and_in_all() {
    let app = spawn_app_with(|c| {
        c.watches.per_caller = 2;
        c.watches.max_total = 3;
    })
    .await;
    let url = app.url("/v1/tables/items?mode=changes");
    let first = Sse::open(&app.client, &url, None).await;
    let _second = Sse::open(&app.client, &url, None).await;
    let refused = app
        .client
        .get(&url)
        .header("accept", "text/event-stream")
        .send()
        .await
        .unwrap();
    assert_problem(refused, StatusCode::TOO_MANY_REQUESTS, "too_many_watches").await;
    let other = app.client_for(&app.token("other", &[]));
    let _third = Sse::open(&other, &url, None).await;
    let full = other
        .get(&url)
        .header("accept", "text/event-stream")
        .send()
        .await
        .unwrap();
    assert!(full.headers().contains_key("retry-after"));
    assert_problem(full, StatusCode::SERVICE_UNAVAILABLE, "watch_capacity").await;
    // A closed watch gives its place back.
    drop(first);
    eventually("the closed watch to be counted out", || async {
        metric(&app, "gateway_watches_open", "table_changes").await == 2.0
    })
    .await;
    Sse::open(&app.client, &url, None).await;
}

#[tokio::test]
async fn a_slow_consumer_is_cut_off_not_buffered_and_resumes_with_last_event_id() {
    let app = spawn_app_with(|c| {
        c.watches.queue = 4;
        c.max_body_bytes = 2 << 20;
    })
    .await;
    let url = app.url("/v1/tables/items?mode=changes");
    let mut stream = Sse::open(&app.client, &url, None).await;
    assert_eq!(stream.next().await.event, "ready");
    // The consumer stops reading. Each write is a separate commit, and together they are far
    // more than the socket buffers and the hub's ring of 4 batches hold.
    let pad = "x".repeat(1 << 20);
    let mut written = Vec::new();
    for n in 0..32 {
        written.push(id_of(
            &app.insert("items", json!({"n": n, "pad": pad})).await,
        ));
    }
    // What the sockets held, then `too_slow` as soon as the watch is read again, then the end.
    let mut last = 0;
    let mut received = Vec::new();
    loop {
        let event = stream.next().await;
        if event.event == "error" {
            assert_eq!(event.json()["code"], "too_slow");
            break;
        }
        let (_, id, _) = {
            assert_eq!(event.event, "change");
            last = event.id.as_deref().unwrap().parse().unwrap();
            let body = event.json();
            ((), body["id"].as_str().unwrap().to_owned(), ())
        };
        received.push(id);
    }
    stream.assert_ends().await;
    assert!(
        received.len() < written.len(),
        "it was cut off before the end"
    );
    assert_eq!(
        metric(&app, "gateway_watch_dropped_total", "too_slow").await,
        1.0
    );
    // Its place in the limits is given back.
    eventually("the cut-off watch to be counted out", || async {
        metric(&app, "gateway_watches_open", "table_changes").await == 0.0
    })
    .await;
    // Resuming gets the rest, in order.
    let mut resumed = Sse::open(&app.client, &url, Some(&last.to_string())).await;
    while received.len() < written.len() {
        let (_, id, _) = change(&mut resumed, &mut last).await;
        received.push(id);
    }
    assert_eq!(received, written);
}

#[tokio::test]
async fn an_idle_watch_gets_heartbeats_and_shutdown_ends_it() {
    let mut app = spawn_app_with(|c| c.watches.heartbeat = Duration::from_secs(1)).await;
    let mut stream = Sse::open(&app.client, &app.url("/v1/tables/items"), None).await;
    assert_eq!(stream.next().await.event, "snapshot");
    // Nothing changes: only heartbeats come.
    let started = Instant::now();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while stream.comments < 2 {
        match tokio::time::timeout_at(deadline, stream.response.chunk()).await {
            Ok(Ok(Some(bytes))) => {
                let text = String::from_utf8_lossy(&bytes).to_string();
                assert!(text.starts_with(":"), "only comments while idle: {text:?}");
                stream.comments +=
                    text.matches(":heartbeat").count() + text.matches(": heartbeat").count();
            }
            other => panic!("no heartbeat: {other:?}"),
        }
    }
    assert!(started.elapsed() >= Duration::from_millis(900));
    // Stopping the gateway ends the watch at once, instead of waiting out the grace period.
    app.stop();
    let ended = stream.next().await;
    assert_eq!(ended.event, "error");
    assert_eq!(ended.json()["code"], "shutting_down");
    stream.assert_ends().await;
    let server = app.server.take().unwrap();
    tokio::time::timeout(Duration::from_secs(10), server)
        .await
        .expect("the server stops without waiting for the watch")
        .unwrap()
        .unwrap();
}

#[tokio::test]
async fn bad_watch_requests_are_problems() {
    let app = spawn_app().await;
    let response = app
        .client
        .get(app.url("/v1/tables/items?mode=changes"))
        .header("accept", "text/event-stream")
        .header("last-event-id", "yesterday")
        .send()
        .await
        .unwrap();
    assert_problem(response, StatusCode::BAD_REQUEST, "invalid_header").await;
    let response = app
        .client
        .get(app.url("/v1/tables/items?n=bogus.1"))
        .header("accept", "text/event-stream")
        .send()
        .await
        .unwrap();
    assert_problem(response, StatusCode::BAD_REQUEST, "invalid_filter").await;
    let response = app
        .anon
        .get(app.url("/v1/tables/items"))
        .header("accept", "text/event-stream")
        .send()
        .await
        .unwrap();
    assert_problem(response, StatusCode::UNAUTHORIZED, "missing_token").await;
    // A plain list ignores `mode`.
    assert_eq!(app.list("items", "mode=changes").await["items"], json!([]));
}

#[tokio::test]
async fn a_position_the_feed_no_longer_keeps_answers_reset_and_a_snapshot() {
    let app = spawn_app_with(|c| c.changes_retention = Duration::from_secs(1)).await;
    let first = app.insert("items", json!({"n": 1})).await;
    // Retention prunes on a later write, once the first change is older than a second.
    let admin = app.client_for(&app.token("root", &["admin"]));
    eventually("the first change to be pruned", || async {
        app.insert("items", json!({"n": 2})).await;
        admin
            .get(app.url("/admin/changes?since=0"))
            .send()
            .await
            .unwrap()
            .status()
            == StatusCode::GONE
    })
    .await;
    let mut stream = Sse::open(
        &app.client,
        &app.url("/v1/tables/items?mode=changes"),
        Some("0"),
    )
    .await;
    let reset = stream.next().await;
    assert_eq!(reset.event, "reset");
    let snapshot = stream.next().await;
    assert_eq!(snapshot.event, "snapshot");
    assert_eq!(snapshot.id, reset.id);
    let items = snapshot.json()["items"].as_array().unwrap().clone();
    assert_eq!(items[0]["_id"], first["_id"]);
    // Then it follows on from the snapshot.
    let next = app.insert("items", json!({"n": 3})).await;
    let mut last = snapshot.id.as_deref().unwrap().parse().unwrap();
    let (op, id, _) = change(&mut stream, &mut last).await;
    assert_eq!((op.as_str(), id), ("insert", id_of(&next)));
}

#[tokio::test]
async fn postgres_without_the_change_log_refuses_watches_and_says_why() {
    let app = crate::pg::spawn_pg_app_with(
        |db| {
            db.psql(
                "CREATE TABLE t (id uuid PRIMARY KEY DEFAULT gen_random_uuid(), n int4);
                 GRANT ALL ON t TO anon, authenticated, service_role;",
            );
        },
        |_| {},
    )
    .await;
    let response = app
        .client
        .get(app.url("/v1/tables/t?mode=changes"))
        .header("accept", "text/event-stream")
        .send()
        .await
        .unwrap();
    let problem = assert_problem(response, StatusCode::NOT_FOUND, "change_feed_unavailable").await;
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("postgres install")
    );
}
