//! A fast Convex-like upstream for the benchmarks (`bench/run`): it answers every
//! `POST /api/query`, `/api/mutation` and `/api/action` with the same ~1 KB success body shaped
//! like Convex's (`{"status":"success","value":{…},"logLines":[]}`), whose value is a document
//! the gateway's Convex adapter can decode. It does no work per request, so what the benchmark
//! measures is the gateway. Usage: `convex_stub [PORT]` (0 or none: any free port); it prints
//! `listening on http://127.0.0.1:PORT`.

use std::net::SocketAddr;

use axum::Router;
use axum::body::Bytes;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::{get, post};

fn body() -> Bytes {
    let filler = "lorem ipsum dolor sit amet ".repeat(30);
    let value = serde_json::json!({
        "_id": "jd7a2x3q9r5kqv0b8m1n2p3s4t5u6v7w",
        "_creationTime": 1_763_800_000_000.0_f64,
        "gwVersion": 1,
        "gwUpdatedTime": 1_763_800_000_000.0_f64,
        "twitchId": "2234567890",
        "status": "Transcribing",
        "title": "A benchmark document",
        "body": filler,
    });
    Bytes::from(
        serde_json::json!({ "status": "success", "value": value, "logLines": [] }).to_string(),
    )
}

fn main() -> std::io::Result<()> {
    let port: u16 = std::env::args()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    // One thread: the load generator and the gateway need the other cores more.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let answer = body();
        let reply = move || {
            let answer = answer.clone();
            async move { ([(header::CONTENT_TYPE, "application/json")], answer).into_response() }
        };
        let app = Router::new()
            .route("/api/query", post(reply.clone()))
            .route("/api/mutation", post(reply.clone()))
            .route("/api/action", post(reply))
            .route("/", get(|| async { "ok" }));
        let listener =
            tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], port))).await?;
        println!("listening on http://{}", listener.local_addr()?);
        axum::serve(listener, app).await
    })
}
