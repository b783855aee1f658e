//! The HTTP transport of every call to Convex: hyper-util's pooled HTTP/1.1 client over rustls
//! (*ring*, the platform's certificate verifier), with the connect timeout and the overall
//! timeout (`CONVEX_TIMEOUT`, answer and body) always set.
//!
//! It replaced a `reqwest` client on the hot path: reqwest parses the request URL again on every
//! call (once to send, once in its redirect layer, which runs even with redirects off) and adds
//! its own layers; a call here costs what hyper-util costs. Redirects are never followed, so a
//! caller's token can never be carried to another host.

use std::time::Duration;

use axum::body::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::http::{HeaderMap, HeaderValue, Method, Request, StatusCode, Uri, header};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use rustls_platform_verifier::BuilderVerifierExt;

/// `User-Agent` of every call.
const USER_AGENT: &str = concat!("convex-gateway/", env!("CARGO_PKG_VERSION"));

/// An answer, read whole.
#[derive(Debug)]
pub(super) struct Answer {
    pub(super) status: StatusCode,
    pub(super) headers: HeaderMap,
    pub(super) body: Bytes,
}

/// Why a call got no answer.
#[derive(Debug)]
pub(super) enum Failure {
    /// Nothing came within the timeout.
    Timeout,
    /// No connection could be made.
    Connect(String),
    /// The connection broke (reset, closed) before an answer came.
    Broken(String),
    /// The answer's body broke off, or the request could not be built.
    Other(String),
}

/// The client.
#[derive(Clone)]
pub(super) struct Transport {
    client: Client<HttpsConnector<HttpConnector>, Full<Bytes>>,
    timeout: Duration,
}

impl Transport {
    /// A pooled client (idle connections kept 90 s) that connects within `connect_timeout` and
    /// gives up on a call after `timeout`.
    pub(super) fn new(connect_timeout: Duration, timeout: Duration) -> anyhow::Result<Self> {
        // The process-wide provider too, for the other rustls clients (the WebSocket to Convex).
        crate::http_client::install_crypto_provider();
        let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
        let tls = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()?
            .with_platform_verifier()?
            .with_no_client_auth();
        let mut http = HttpConnector::new();
        http.enforce_http(false);
        http.set_nodelay(true);
        http.set_connect_timeout(Some(connect_timeout));
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http()
            .enable_http1()
            .wrap_connector(http);
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(90))
            .pool_timer(TokioTimer::new())
            .build(connector);
        Ok(Self { client, timeout })
    }

    /// Sends one request with `headers` (plus `User-Agent`, and `Content-Type: application/json`
    /// when there is a body) and reads the whole answer, all within the timeout.
    pub(super) async fn send(
        &self,
        method: Method,
        uri: Uri,
        mut headers: HeaderMap,
        body: Option<Bytes>,
    ) -> Result<Answer, Failure> {
        headers.insert(header::USER_AGENT, HeaderValue::from_static(USER_AGENT));
        if body.is_some() {
            headers.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
        }
        let mut request = Request::builder()
            .method(method)
            .uri(uri)
            .body(Full::new(body.unwrap_or_default()))
            .map_err(|err| Failure::Other(format!("building the request: {err}")))?;
        *request.headers_mut() = headers;
        let call = async {
            let response = self.client.request(request).await.map_err(|err| {
                if err.is_connect() {
                    Failure::Connect(err.to_string())
                } else {
                    Failure::Broken(err.to_string())
                }
            })?;
            let (parts, body) = response.into_parts();
            let body = body
                .collect()
                .await
                .map_err(|err| Failure::Other(format!("reading the answer: {err}")))?
                .to_bytes();
            Ok(Answer {
                status: parts.status,
                headers: parts.headers,
                body,
            })
        };
        tokio::time::timeout(self.timeout, call)
            .await
            .unwrap_or(Err(Failure::Timeout))
    }

    /// Overrides the timeout for one kind of call (the health probe's shorter one).
    pub(super) fn with_timeout(&self, timeout: Duration) -> Self {
        Self {
            client: self.client.clone(),
            timeout,
        }
    }
}
