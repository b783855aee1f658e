//! The HTTP/1.1 server: accepts connections, serves the router on each with hyper (upgrades
//! included, for the WebSocket relay), gives every request its peer's address (`ConnectInfo`),
//! and, once told to stop, stops accepting and lets each connection finish what it is doing.
//!
//! It stands in for `axum::serve`, which reads the first bytes of every connection to look for
//! HTTP/2 (not served here) and hands them back through a rewinding reader; hyper's read buffer
//! then grows from 8 to 16 KB on every connection. Here the socket goes to hyper as it is, so an
//! idle keep-alive connection, or an open watch, holds about 8 KB less (`bench/run watch-idle`).

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use axum::http::Request;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tower::ServiceExt as _;

/// Serves `router` on `listener` until `stop` completes, then waits for the open connections
/// to finish their requests (the caller bounds how long).
pub async fn serve(listener: TcpListener, router: Router, stop: impl Future<Output = ()>) {
    // Each connection holds a receiver: stopping is sent on it, and the sender sees every
    // connection gone once all are dropped.
    let (stopping, connection_stop) = watch::channel(false);
    let builder = hyper::server::conn::http1::Builder::new();
    let mut stop = std::pin::pin!(stop);
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = &mut stop => break,
        };
        let (socket, peer) = match accepted {
            Ok(pair) => pair,
            Err(err) => {
                wait_after(err).await;
                continue;
            }
        };
        // Events and small answers go out at once, not held back for the previous write's ACK.
        let _ = socket.set_nodelay(true);
        let service = router
            .clone()
            .map_request(move |mut request: Request<Incoming>| {
                request
                    .extensions_mut()
                    .insert(ConnectInfo::<SocketAddr>(peer));
                request
            });
        let connection = builder
            .serve_connection(TokioIo::new(socket), TowerToHyperService::new(service))
            .with_upgrades();
        let alive = connection_stop.clone();
        tokio::spawn(async move {
            let mut connection = std::pin::pin!(connection);
            let result = tokio::select! {
                result = connection.as_mut() => result,
                () = stopped(alive.clone()) => {
                    // Finish the request in flight, then close.
                    connection.as_mut().graceful_shutdown();
                    connection.await
                }
            };
            if let Err(err) = result {
                tracing::trace!(error = %err, "a connection ended with an error");
            }
            drop(alive);
        });
    }
    drop(listener);
    drop(connection_stop);
    stopping.send_replace(true);
    stopping.closed().await;
}

/// Completes once stopping is sent.
async fn stopped(mut stop: watch::Receiver<bool>) {
    let _ = stop.wait_for(|stopping| *stopping).await;
}

/// After a failed accept: a connection that went away before it was accepted is nothing to wait
/// for; anything else (out of file descriptors, say) is logged, and accepting pauses a second so
/// that open connections can close.
async fn wait_after(err: io::Error) {
    if matches!(
        err.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
    ) {
        return;
    }
    tracing::error!(error = %err, "accepting a connection failed");
    tokio::time::sleep(Duration::from_secs(1)).await;
}
