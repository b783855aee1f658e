//! Many replicas as one: three gateway processes sharing their state in Postgres
//! (`GATEWAY_STATE_URL`) and their rate limits in Redis, behind HAProxy, round robin. Keyed
//! writes apply once whichever replica each copy reaches, a transaction moves between replicas
//! step by step, a limit holds in total, signing keys rotate for all, and no acknowledged write
//! is lost when Convex goes away and a replica dies.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio::sync::Semaphore;

use crate::cluster::{CLIENT_SECRET, Cluster, DATABASE, kid_of, replica_of};
use crate::helpers::{ConvexBackend, bearer_client};
use crate::resilience::FaultProxy;

/// Two tables on the Postgres adapter.
const TABLES: &str = "
CREATE TABLE items (doc_id uuid PRIMARY KEY DEFAULT gen_random_uuid(), created_at timestamptz NOT NULL DEFAULT clock_timestamp(), n int8, copy int8);
CREATE TABLE counters (doc_id uuid PRIMARY KEY DEFAULT gen_random_uuid(), created_at timestamptz NOT NULL DEFAULT clock_timestamp(), name text, value int8 NOT NULL);
GRANT ALL ON items, counters TO anon, authenticated, service_role;
";

/// Three replicas on the Postgres adapter, serving the tables of the database that also keeps
/// their state.
async fn pg_cluster(extra: &[(&str, &str)]) -> Cluster {
    let mut envs = vec![
        ("GATEWAY_STORE", "postgres"),
        ("DATABASE_URL", DATABASE),
        ("GATEWAY_PG_POOL_SIZE", "6"),
        ("GATEWAY_STATE_POOL_SIZE", "6"),
    ];
    envs.extend_from_slice(extra);
    Cluster::start(TABLES, &envs).await
}

fn redis_url() -> String {
    std::env::var("TEST_REDIS_URL")
        .ok()
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| "redis://127.0.0.1:6379".into())
}

#[tokio::test]
async fn keyed_writes_sent_twice_at_once_apply_once_across_replicas() {
    let cluster = Arc::new(pg_cluster(&[]).await);
    let client = bearer_client(&cluster.token("writer", &[]));
    let gate = Arc::new(Semaphore::new(24));
    let mut tasks = Vec::new();
    for n in 0..200u64 {
        for copy in 0..2u64 {
            let (cluster, client, gate) = (Arc::clone(&cluster), client.clone(), Arc::clone(&gate));
            tasks.push(tokio::spawn(async move {
                let _permit = gate.acquire().await.unwrap();
                // A copy answered 409 (the other is still in flight) tries again until it
                // gets the stored answer.
                let deadline = Instant::now() + Duration::from_secs(60);
                let mut conflicts = 0;
                loop {
                    let response = client
                        .post(cluster.url("/v1/tables/items"))
                        .header("idempotency-key", format!("item-{n}"))
                        .json(&json!({"n": n, "copy": 0}))
                        .send()
                        .await
                        .unwrap();
                    let replica = replica_of(&response);
                    let status = response.status();
                    let replayed = response.headers().contains_key("idempotent-replayed");
                    let body: Value = response.json().await.unwrap();
                    match status {
                        StatusCode::CREATED => {
                            return (
                                n,
                                copy,
                                body["_id"].as_str().unwrap().to_owned(),
                                replayed,
                                replica,
                                conflicts,
                            );
                        }
                        StatusCode::CONFLICT => {
                            assert_eq!(body["code"], "idempotency_in_progress", "{body}");
                            conflicts += 1;
                            assert!(Instant::now() < deadline, "still in flight");
                            tokio::time::sleep(Duration::from_millis(20)).await;
                        }
                        other => panic!("{other}: {body}"),
                    }
                }
            }));
        }
    }
    let mut by_key: BTreeMap<u64, Vec<(String, bool, String)>> = BTreeMap::new();
    let mut conflicts = 0;
    for task in tasks {
        let (n, _copy, id, replayed, replica, c) = task.await.unwrap();
        conflicts += c;
        by_key.entry(n).or_default().push((id, replayed, replica));
    }
    let mut replicas = BTreeSet::new();
    let mut crossed = 0;
    for (n, answers) in &by_key {
        assert_eq!(answers.len(), 2);
        assert_eq!(answers[0].0, answers[1].0, "key {n} made two documents");
        assert_eq!(
            answers.iter().filter(|a| !a.1).count(),
            1,
            "key {n}: exactly one copy ran, the other replayed: {answers:?}"
        );
        if answers[0].2 != answers[1].2 {
            crossed += 1;
        }
        replicas.extend(answers.iter().map(|a| a.2.clone()));
    }
    assert_eq!(
        replicas.len(),
        3,
        "the balancer used every replica: {replicas:?}"
    );
    assert!(crossed > 0, "no key's copies reached two replicas");
    let rows = cluster
        .db
        .psql("SELECT count(*), count(DISTINCT n) FROM items");
    assert_eq!(rows, "200|200", "every keyed write applied exactly once");
    eprintln!(
        "idempotency across replicas: 400 requests, {crossed} keys crossed replicas, {conflicts} answered 409 while in flight"
    );
}

#[tokio::test]
async fn transactions_move_between_replicas_and_lose_no_increment() {
    let cluster = Arc::new(pg_cluster(&[]).await);
    let client = bearer_client(&cluster.token("counter", &[]));
    let created: Value = client
        .post(cluster.url("/v1/tables/counters"))
        .json(&json!({"name": "hits", "value": 0}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let path = format!("/v1/tables/counters/{}", created["_id"].as_str().unwrap());
    const COMMITS: usize = 100;
    let committed = Arc::new(AtomicUsize::new(0));
    let conflicts = Arc::new(AtomicUsize::new(0));
    let spread = Arc::new(AtomicUsize::new(0));
    let mut workers = Vec::new();
    for _ in 0..4 {
        let (cluster, client, path) = (Arc::clone(&cluster), client.clone(), path.clone());
        let (committed, conflicts, spread) = (
            Arc::clone(&committed),
            Arc::clone(&conflicts),
            Arc::clone(&spread),
        );
        workers.push(tokio::spawn(async move {
            let deadline = Instant::now() + Duration::from_secs(240);
            while committed.load(Ordering::SeqCst) < COMMITS {
                assert!(Instant::now() < deadline, "too slow");
                let mut seen = HashSet::new();
                let begun = client
                    .post(cluster.url("/v1/transactions/begin"))
                    .send()
                    .await
                    .unwrap();
                seen.insert(replica_of(&begun));
                assert_eq!(begun.status(), StatusCode::CREATED);
                let tx = begun.json::<Value>().await.unwrap()["id"]
                    .as_str()
                    .unwrap()
                    .to_owned();
                let read = client
                    .get(cluster.url(&path))
                    .header("x-transaction-id", &tx)
                    .send()
                    .await
                    .unwrap();
                seen.insert(replica_of(&read));
                assert_eq!(read.status(), StatusCode::OK);
                let value = read.json::<Value>().await.unwrap()["value"]
                    .as_i64()
                    .unwrap();
                let patched = client
                    .patch(cluster.url(&path))
                    .header("x-transaction-id", &tx)
                    .json(&json!({"value": value + 1}))
                    .send()
                    .await
                    .unwrap();
                seen.insert(replica_of(&patched));
                // Staged, not applied: 202.
                assert_eq!(
                    patched.status(),
                    StatusCode::ACCEPTED,
                    "{:?}",
                    patched.text().await
                );
                let commit = client
                    .post(cluster.url(&format!("/v1/transactions/{tx}/commit")))
                    .send()
                    .await
                    .unwrap();
                seen.insert(replica_of(&commit));
                if seen.len() > 1 {
                    spread.fetch_add(1, Ordering::SeqCst);
                }
                match commit.status() {
                    StatusCode::OK => {
                        // Stop at exactly COMMITS: a worker past the mark rolls nothing back,
                        // it simply counts one more commit.
                        committed.fetch_add(1, Ordering::SeqCst);
                    }
                    StatusCode::CONFLICT => {
                        let body: Value = commit.json().await.unwrap();
                        assert_eq!(body["code"], "transaction_conflict", "{body}");
                        conflicts.fetch_add(1, Ordering::SeqCst);
                    }
                    other => panic!("commit answered {other}: {:?}", commit.text().await),
                }
            }
        }));
    }
    for worker in workers {
        worker.await.unwrap();
    }
    let commits = committed.load(Ordering::SeqCst);
    assert!(commits >= COMMITS);
    let value: Value = client
        .get(cluster.url(&path))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        value["value"].as_u64(),
        Some(commits as u64),
        "the counter equals the number of commits"
    );
    assert!(
        spread.load(Ordering::SeqCst) > commits / 2,
        "most transactions should span replicas under round robin"
    );
    eprintln!(
        "transactions across replicas: {commits} commits, {} conflicts, {} spanned several replicas",
        conflicts.load(Ordering::SeqCst),
        spread.load(Ordering::SeqCst)
    );
}

#[tokio::test]
async fn a_role_limit_holds_in_total_across_replicas() {
    let prefix = format!("cg-test:{}:{}:", std::process::id(), uuid::Uuid::new_v4());
    let redis = redis_url();
    let cluster = Arc::new(
        pg_cluster(&[
            ("GATEWAY_RATE_LIMIT_URL", &redis),
            ("GATEWAY_RATE_LIMIT_PREFIX", &prefix),
        ])
        .await,
    );
    let client = bearer_client(&cluster.token("scraper", &["limited"]));
    // 300 requests a second for 5 seconds, paced, in flight at once as they come due.
    let started = Instant::now();
    let mut tasks = Vec::new();
    for i in 0..1500u64 {
        let (cluster, client) = (Arc::clone(&cluster), client.clone());
        let due = started + Duration::from_micros(i * 1_000_000 / 300);
        tasks.push(tokio::spawn(async move {
            tokio::time::sleep_until(due.into()).await;
            let response = client
                .get(cluster.url("/v1/tables/items?limit=1"))
                .send()
                .await
                .unwrap();
            (response.status(), replica_of(&response))
        }));
    }
    let mut allowed = 0;
    let mut limited = 0;
    let mut replicas = BTreeSet::new();
    for task in tasks {
        let (status, replica) = task.await.unwrap();
        replicas.insert(replica);
        match status {
            StatusCode::OK => allowed += 1,
            StatusCode::TOO_MANY_REQUESTS => limited += 1,
            other => panic!("{other}"),
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    // 50/s over the run plus the burst; the run may stretch on a loaded machine, never shrink.
    let ceiling = (50.0 * elapsed).ceil() as usize + 10 + 1;
    assert_eq!(replicas.len(), 3, "{replicas:?}");
    assert!(
        allowed <= ceiling,
        "{allowed} allowed in {elapsed:.1} s: the limit was counted per replica"
    );
    assert!(
        allowed >= 50 * 4,
        "{allowed} allowed in {elapsed:.1} s: the limit let too few through"
    );
    eprintln!(
        "global limit: {allowed} allowed, {limited} limited in {elapsed:.1} s (ceiling {ceiling})"
    );
}

#[tokio::test]
async fn signing_keys_rotate_for_every_replica_and_state_is_shared() {
    let mut cluster = pg_cluster(&[]).await;
    // Every replica serves the same keys, and lists the others.
    let mut jwks = Vec::new();
    for i in 0..3 {
        jwks.push(published_kids(&cluster, i).await);
    }
    assert_eq!(jwks[0].len(), 1);
    assert!(jwks.iter().all(|j| j == &jwks[0]), "{jwks:?}");
    let admin = bearer_client(&cluster.token("root", &["admin"]));
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let status: Value = admin
            .get(cluster.replica_url(1, "/admin/status"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let live: BTreeSet<String> = status["replicas"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["live"] == true)
            .map(|r| r["id"].as_str().unwrap().to_owned())
            .collect();
        if live.len() == 3 {
            assert_eq!(
                live,
                BTreeSet::from(["r0".into(), "r1".into(), "r2".into()])
            );
            break;
        }
        assert!(Instant::now() < deadline, "replicas listed: {status}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // Refresh tokens are shared: issued on r0, rotated on r1, reuse caught on r2.
    let issued: Value = reqwest::Client::new()
        .post(cluster.replica_url(0, "/auth/token"))
        .json(&json!({"grant_type": "client_credentials", "client_id": "pipeline", "client_secret": CLIENT_SECRET}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let first = issued["refresh_token"].as_str().unwrap();
    let rotated = reqwest::Client::new()
        .post(cluster.replica_url(1, "/auth/refresh"))
        .json(&json!({"refresh_token": first}))
        .send()
        .await
        .unwrap();
    assert_eq!(rotated.status(), StatusCode::OK);
    let reused = reqwest::Client::new()
        .post(cluster.replica_url(2, "/auth/refresh"))
        .json(&json!({"refresh_token": first}))
        .send()
        .await
        .unwrap();
    assert_eq!(reused.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        reused.json::<Value>().await.unwrap()["code"],
        "refresh_token_reused"
    );

    // Rotation: the new key is published first, signs 3 s later, and the old key then keeps
    // verifying for --keep (8 s).
    let before = cluster.token("alice", &[]);
    let old_kid = kid_of(&before);
    let out = cluster.cli(&["keys", "rotate", "--publish-ahead", "3s", "--keep", "8s"]);
    let rotated_at = Instant::now();
    let new_kid = out
        .lines()
        .next()
        .and_then(|l| l.strip_prefix("new signing key "))
        .and_then(|l| l.split(';').next())
        .unwrap()
        .to_owned();
    assert_ne!(new_kid, old_kid);
    // Every replica publishes the new key once it has read the keys again (SIGHUP, here).
    cluster.hangup_all();
    let deadline = Instant::now() + Duration::from_secs(30);
    for i in 0..3 {
        loop {
            let kids = published_kids(&cluster, i).await;
            if kids.contains(&new_kid) {
                assert!(kids.contains(&old_kid), "r{i}: {kids:?}");
                break;
            }
            assert!(
                Instant::now() < deadline,
                "r{i} does not publish the new key: {kids:?}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    tokio::time::sleep_until((rotated_at + Duration::from_secs(3)).into()).await;
    let after = cluster.token("alice", &[]);
    assert_eq!(
        kid_of(&after),
        new_kid,
        "the new key signs once it is active"
    );
    for i in 0..3 {
        for (token, what) in [(&before, "old"), (&after, "new")] {
            let response = bearer_client(token)
                .get(cluster.replica_url(i, "/v1/tables/items?limit=1"))
                .send()
                .await
                .unwrap();
            assert_eq!(
                response.status(),
                StatusCode::OK,
                "r{i} refused the {what} key's token"
            );
        }
    }
    // Tokens the replicas issue carry the new kid once each has read the keys again.
    cluster.hangup_all();
    let deadline = Instant::now() + Duration::from_secs(60);
    for i in 0..3 {
        loop {
            let issued: Value = reqwest::Client::new()
                .post(cluster.replica_url(i, "/auth/token"))
                .json(&json!({"grant_type": "client_credentials", "client_id": "pipeline", "client_secret": CLIENT_SECRET}))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            if kid_of(issued["access_token"].as_str().unwrap()) == new_kid {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "r{i} still signs with the old key"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    // Once its publication ends, the old key verifies nowhere.
    let ends = rotated_at + Duration::from_secs(3 + 8 + 1);
    tokio::time::sleep_until(ends.into()).await;
    for i in 0..3 {
        let response = bearer_client(&before)
            .get(cluster.replica_url(i, "/v1/tables/items?limit=1"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "r{i}");
        assert_eq!(
            response.json::<Value>().await.unwrap()["code"],
            "unknown_key"
        );
    }

    // A replica that stops cleanly leaves the list at once.
    cluster.terminate(2).await;
    let admin = bearer_client(&cluster.token("root", &["admin"]));
    let status: Value = admin
        .get(cluster.replica_url(0, "/admin/status"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let listed: BTreeSet<&str> = status["replicas"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    assert_eq!(listed, BTreeSet::from(["r0", "r1"]), "{status}");
}

/// The key ids replica `i` publishes in its JWKS.
async fn published_kids(cluster: &Cluster, i: usize) -> BTreeSet<String> {
    let keys: Value = reqwest::get(cluster.replica_url(i, "/.well-known/jwks.json"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    keys["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn no_acknowledged_write_is_lost_when_convex_goes_away_and_a_replica_dies() {
    const WRITERS: usize = 8;
    const PER_WRITER: usize = 375;
    let backend = tokio::task::spawn_blocking(|| ConvexBackend::start(560))
        .await
        .unwrap();
    let proxy = FaultProxy::start(&backend.url).await;
    let mut cluster = Cluster::start(
        "",
        &[
            ("CONVEX_URL", &proxy.url),
            ("CONVEX_TIMEOUT", "2"),
            ("CONVEX_CIRCUIT_BREAKER_TIMEOUT", "1"),
            ("GATEWAY_REQUEST_TIMEOUT", "3"),
        ],
    )
    .await;
    let tokens: Vec<String> = (0..WRITERS)
        .map(|w| cluster.token(&format!("writer{w}"), &[]))
        .collect();
    let balancer = cluster.url("/v1/tables/events");
    let acked = Arc::new(AtomicUsize::new(0));
    let queued = Arc::new(AtomicUsize::new(0));
    let retried = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for (writer, token) in tokens.iter().enumerate() {
        let client = bearer_client(token);
        let (url, acked, queued, retried) = (
            balancer.clone(),
            Arc::clone(&acked),
            Arc::clone(&queued),
            Arc::clone(&retried),
        );
        tasks.push(tokio::spawn(async move {
            for n in 0..PER_WRITER {
                // Spread the writes over about 20 seconds.
                let due = started + Duration::from_millis((n as u64) * 53);
                tokio::time::sleep_until(due.into()).await;
                let key = format!("w{writer}-n{n}");
                let deadline = Instant::now() + Duration::from_secs(90);
                loop {
                    let response = client
                        .post(&url)
                        .header("idempotency-key", &key)
                        .json(&json!({"writer": writer, "n": n}))
                        .send()
                        .await;
                    match response.map(|r| r.status()) {
                        Ok(StatusCode::CREATED) => break,
                        Ok(StatusCode::ACCEPTED) => {
                            queued.fetch_add(1, Ordering::Relaxed);
                            break;
                        }
                        // A replica that died mid-request (the balancer answers 502 or 503),
                        // a key still claimed by it (409), or Convex failing before the outbox
                        // took the write: the client retries with the same key.
                        Ok(status) => {
                            assert!(
                                status.is_server_error() || status == StatusCode::CONFLICT,
                                "{status}"
                            );
                            retried.fetch_add(1, Ordering::Relaxed);
                        }
                        Err(_) => {
                            retried.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                    assert!(Instant::now() < deadline, "write {key} never acknowledged");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                acked.fetch_add(1, Ordering::Relaxed);
            }
        }));
    }
    // Outage from about 5 s to 15 s; one replica killed in the middle of it, for good.
    while acked.load(Ordering::Relaxed) < 700 {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    proxy.set_up(false);
    let down = Instant::now();
    while queued.load(Ordering::Relaxed) < 100 {
        assert!(
            down.elapsed() < Duration::from_secs(30),
            "nothing was queued"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    cluster.kill_9(2);
    tokio::time::sleep_until((down + Duration::from_secs(10)).into()).await;
    proxy.set_up(true);
    for task in tasks {
        task.await.unwrap();
    }
    assert_eq!(acked.load(Ordering::Relaxed), WRITERS * PER_WRITER);

    // The surviving replicas drain the shared outbox, the dead replica's claims included.
    let deadline = Instant::now() + Duration::from_secs(180);
    loop {
        let left = cluster.db.psql(
            "SELECT count(*) FILTER (WHERE status = 'queued'), count(*) FILTER (WHERE status = 'dead') FROM gateway.outbox",
        );
        assert!(left.ends_with("|0"), "dead letters: {left}");
        if left == "0|0" {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the outbox did not drain: {left}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let client = bearer_client(&tokens[0]);
    let mut all = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut url = cluster.replica_url(0, "/v1/tables/events?limit=1000");
        if let Some(c) = &cursor {
            url.push_str(&format!("&cursor={c}"));
        }
        let page: Value = client.get(&url).send().await.unwrap().json().await.unwrap();
        all.extend(page["items"].as_array().unwrap().iter().cloned());
        match page["nextCursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    let mut seen = HashSet::new();
    for doc in &all {
        let pair = (doc["writer"].as_u64().unwrap(), doc["n"].as_u64().unwrap());
        assert!(seen.insert(pair), "written twice: {pair:?}");
    }
    assert_eq!(all.len(), WRITERS * PER_WRITER, "lost writes");
    eprintln!(
        "no-lost-writes across replicas: {} acknowledged ({} queued, {} client retries), one replica killed, in {:?}",
        all.len(),
        queued.load(Ordering::Relaxed),
        retried.load(Ordering::Relaxed),
        started.elapsed()
    );
}
