//! Faults that must be forced: a store that is down, panics, hangs, fails internally or is slow.
//! A fault-injecting store stands in for the adapter only here.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use convex_gateway::store::{
    Capabilities, Document, DocumentStore, ListQuery, Page, StoreCtx, StoreError, TableName,
    WriteOp, WriteOutcome,
};
use reqwest::StatusCode;

use crate::helpers::{assert_problem, spawn_app_on};

#[derive(Clone, Copy)]
enum Fault {
    Down,
    Panic,
    Hang,
    Internal,
    Slow(Duration),
}

struct FaultyStore(Fault);

impl FaultyStore {
    async fn fail<T>(&self) -> Result<T, StoreError> {
        match self.0 {
            Fault::Down => Err(StoreError::Unavailable("disk unplugged".into())),
            Fault::Panic => panic!("the adapter panicked"),
            Fault::Hang => std::future::pending().await,
            Fault::Internal => Err(StoreError::Internal(anyhow::anyhow!(
                "cannot open /var/secret/credentials.db"
            ))),
            Fault::Slow(delay) => {
                tokio::time::sleep(delay).await;
                Err(StoreError::Unavailable("slow".into()))
            }
        }
    }
}

#[async_trait]
impl DocumentStore for FaultyStore {
    fn adapter(&self) -> &'static str {
        "faulty"
    }
    fn capabilities(&self) -> Capabilities {
        Capabilities {
            free_form_documents: true,
            any_order: true,
            mixed_directions: true,
            caller_identity: false,
            change_feed: false,
        }
    }
    async fn list(&self, _: &StoreCtx, _: &TableName, _: &ListQuery) -> Result<Page, StoreError> {
        if let Fault::Slow(delay) = self.0 {
            tokio::time::sleep(delay).await;
            return Ok(Page {
                items: Vec::new(),
                next_cursor: None,
            });
        }
        self.fail().await
    }
    async fn get(
        &self,
        _: &StoreCtx,
        _: &TableName,
        _: &str,
    ) -> Result<Option<Document>, StoreError> {
        self.fail().await
    }
    async fn apply(&self, _: &StoreCtx, _: Vec<WriteOp>) -> Result<Vec<WriteOutcome>, StoreError> {
        self.fail().await
    }
    async fn health(&self) -> Result<(), StoreError> {
        match self.0 {
            Fault::Down => Err(StoreError::Unavailable("disk unplugged".into())),
            _ => Ok(()),
        }
    }
}

async fn spawn_faulty(fault: Fault) -> crate::helpers::TestApp {
    spawn_app_on(Arc::new(FaultyStore(fault)), |c| {
        c.request_timeout = Duration::from_secs(1);
    })
    .await
}

#[tokio::test]
async fn an_unavailable_store_fails_readiness_but_not_liveness() {
    let app = spawn_faulty(Fault::Down).await;
    assert_eq!(app.get("/health").await.status(), StatusCode::OK);
    let ready = app.get("/ready").await;
    assert_eq!(ready.headers()["retry-after"], "1");
    assert_problem(ready, StatusCode::SERVICE_UNAVAILABLE, "store_unavailable").await;
    let list = app.get("/v1/tables/t").await;
    assert_problem(list, StatusCode::SERVICE_UNAVAILABLE, "store_unavailable").await;
}

#[tokio::test]
async fn a_panicking_handler_answers_500_and_the_server_survives() {
    let app = spawn_faulty(Fault::Panic).await;
    let response = app.get("/v1/tables/t").await;
    assert_problem(response, StatusCode::INTERNAL_SERVER_ERROR, "internal").await;
    assert_eq!(app.get("/health").await.status(), StatusCode::OK);
    let metrics = app.get("/metrics").await.text().await.unwrap();
    assert!(
        metrics.contains(
            r#"http_requests_total{method="GET",route="/v1/tables/{table}",status="500"} 1"#
        ),
        "{metrics}"
    );
}

#[tokio::test]
async fn a_hanging_store_is_cut_off_by_the_request_timeout() {
    let app = spawn_faulty(Fault::Hang).await;
    let started = std::time::Instant::now();
    let response = app.get("/v1/tables/t").await;
    assert_problem(response, StatusCode::GATEWAY_TIMEOUT, "timeout").await;
    assert!(started.elapsed() < Duration::from_secs(10));
}

#[tokio::test]
async fn internal_errors_do_not_leak_their_cause() {
    let app = spawn_faulty(Fault::Internal).await;
    let response = app.get("/v1/tables/t/x").await;
    let body = assert_problem(response, StatusCode::INTERNAL_SERVER_ERROR, "internal").await;
    assert!(!body.to_string().contains("secret"), "{body}");
}

#[tokio::test]
async fn shutdown_drains_requests_in_flight() {
    let mut app = spawn_faulty(Fault::Slow(Duration::from_millis(700))).await;
    let request = {
        let client = app.client.clone();
        let url = app.url("/v1/tables/t");
        tokio::spawn(async move { client.get(url).send().await })
    };
    // Stop only once the slow request is being served (the gauge counts the scrape itself too):
    // otherwise the test would prove nothing about draining.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let metrics = app.get("/metrics").await.text().await.unwrap();
        if metrics.contains("http_requests_in_flight 2") {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the slow request never started: {metrics}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(
        !request.is_finished(),
        "the slow request finished before the shutdown began"
    );
    app.stop();
    let response = request.await.unwrap().unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let server = app.server.take().unwrap();
    tokio::time::timeout(Duration::from_secs(5), server)
        .await
        .expect("server stopped after draining")
        .unwrap()
        .unwrap();
    assert!(
        reqwest::Client::new()
            .get(app.url("/health"))
            .send()
            .await
            .is_err(),
        "the listener is closed after shutdown"
    );
}
