//! The connection pool: `deadpool-postgres` over `tokio-postgres`, with TLS through rustls and
//! *ring*, every session in UTC so timestamps read as ISO 8601 in UTC.
//!
//! TLS follows libpq's `sslmode`: `disable` never encrypts; `prefer` (the default) and `require`
//! encrypt. With `GATEWAY_PG_CA_FILE` set, the server's certificate must chain to that CA (or a
//! system root) and name the host; without it, as libpq's `require` does, the connection is
//! encrypted but the server is not verified (hosted Supabase signs with its own CA, which its
//! dashboard offers for download).

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context as _;
use deadpool_postgres::{Manager, ManagerConfig, Pool, PoolError, RecyclingMethod, Runtime};
use secrecy::ExposeSecret;

use super::PostgresConfig;

/// A connection URL as libpq reads it, for `tokio-postgres`, which knows `sslmode` only up to
/// `require` and no `sslrootcert`: `verify-ca` and `verify-full` become `require` with
/// verification, and `sslrootcert` names the CA file. Answers the parsed settings and the CA
/// file the URL names.
pub fn parse_url(url: &str) -> Result<(tokio_postgres::Config, Option<PathBuf>), String> {
    let bad = || {
        "DATABASE_URL is not a Postgres connection URL (postgres://user:password@host:5432/database)"
            .to_owned()
    };
    let (base, query) = url.split_once('?').unwrap_or((url, ""));
    let mut kept = Vec::new();
    let (mut ca, mut verify) = (None, false);
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        match pair.split_once('=') {
            Some(("sslrootcert", path)) => ca = Some(PathBuf::from(path)),
            Some(("sslmode", "verify-ca" | "verify-full")) => {
                verify = true;
                kept.push("sslmode=require");
            }
            _ => kept.push(pair),
        }
    }
    let rebuilt = if kept.is_empty() {
        base.to_owned()
    } else {
        format!("{base}?{}", kept.join("&"))
    };
    let config = rebuilt.parse().map_err(|_| bad())?;
    if verify && ca.is_none() {
        return Err(
            "sslmode=verify-ca or verify-full needs the CA: add sslrootcert=<file> to DATABASE_URL or set GATEWAY_PG_CA_FILE"
                .into(),
        );
    }
    Ok((config, ca))
}

/// The parsed URL, and the CA file to verify the server against (`GATEWAY_PG_CA_FILE`, else the
/// URL's `sslrootcert`).
fn settings(config: &PostgresConfig) -> anyhow::Result<(tokio_postgres::Config, Option<PathBuf>)> {
    let (pg, url_ca) = parse_url(config.url.expose_secret()).map_err(anyhow::Error::msg)?;
    Ok((pg, config.ca_file.clone().or(url_ca)))
}

/// Builds the pool; no connection is made until one is needed.
pub(crate) fn pool(config: &PostgresConfig) -> anyhow::Result<Pool> {
    let (mut pg, ca) = settings(config)?;
    let options = pg.get_options().map(str::to_owned).unwrap_or_default();
    pg.options(
        format!(
            "{options} -c TimeZone=UTC -c statement_timeout={}",
            config.statement_timeout.as_millis()
        )
        .trim(),
    );
    if pg.get_application_name().is_none() {
        pg.application_name("convex-gateway");
    }
    if pg.get_connect_timeout().is_none() {
        pg.connect_timeout(config.connect_timeout);
    }
    let manager = Manager::from_config(
        pg,
        tls(ca.as_deref())?,
        ManagerConfig {
            recycling_method: RecyclingMethod::Fast,
        },
    );
    Pool::builder(manager)
        .max_size(config.pool_size)
        .runtime(Runtime::Tokio1)
        .wait_timeout(Some(config.connect_timeout))
        .create_timeout(Some(config.connect_timeout))
        .recycle_timeout(Some(Duration::from_secs(5)))
        .build()
        .context("building the Postgres pool")
}

/// A dedicated connection outside the pool (the installer, the change-log listener).
pub(crate) async fn connect_one(config: &PostgresConfig) -> anyhow::Result<tokio_postgres::Client> {
    let (pg, ca) = settings(config)?;
    let (client, connection) = pg
        .connect(tls(ca.as_deref())?)
        .await
        .context("connecting to Postgres")?;
    tokio::spawn(async move {
        if let Err(err) = connection.await {
            tracing::warn!(error = %err, "a Postgres connection ended");
        }
    });
    Ok(client)
}

/// Connects outside the pool, `LISTEN`s on `channel`, and calls `notified` on every
/// notification until the connection ends (or `notified` answers false); answers why it ended.
pub(crate) async fn listen(
    config: &PostgresConfig,
    channel: &str,
    mut notified: impl FnMut() -> bool + Send,
) -> anyhow::Result<()> {
    let (pg, ca) = settings(config)?;
    let (client, mut connection) = pg
        .connect(tls(ca.as_deref())?)
        .await
        .context("connecting to Postgres to listen")?;
    // The connection must be driven while the client runs `LISTEN`, and after it.
    let (events, mut received) = tokio::sync::mpsc::unbounded_channel();
    let driver = tokio::spawn(async move {
        loop {
            match std::future::poll_fn(|cx| connection.poll_message(cx)).await {
                Some(Ok(tokio_postgres::AsyncMessage::Notification(_))) => {
                    if events.send(()).is_err() {
                        return Ok(());
                    }
                }
                Some(Ok(_)) => {}
                Some(Err(err)) => return Err(anyhow::Error::new(err)),
                None => return Ok(()),
            }
        }
    });
    client
        .batch_execute(&format!("LISTEN {}", super::quote_ident(channel)))
        .await
        .context("LISTEN")?;
    // Whatever was committed while no one listened is read now.
    if notified() {
        while received.recv().await.is_some() {
            if !notified() {
                break;
            }
        }
    }
    drop(received);
    drop(client);
    driver.await.context("the listening connection's task")?
}

fn tls(ca_file: Option<&Path>) -> anyhow::Result<tokio_postgres_rustls::MakeRustlsConnect> {
    let mut roots = rustls::RootCertStore::empty();
    let native = rustls_native_certs::load_native_certs();
    for cert in native.certs {
        let _ = roots.add(cert);
    }
    if let Some(path) = ca_file {
        let pem = std::fs::read(path)
            .with_context(|| format!("reading GATEWAY_PG_CA_FILE {}", path.display()))?;
        let mut added = 0;
        for cert in rustls::pki_types::pem::PemObject::pem_slice_iter(&pem) {
            let cert: rustls::pki_types::CertificateDer<'static> =
                cert.with_context(|| format!("GATEWAY_PG_CA_FILE {}", path.display()))?;
            roots
                .add(cert)
                .context("GATEWAY_PG_CA_FILE holds an unusable certificate")?;
            added += 1;
        }
        anyhow::ensure!(
            added > 0,
            "GATEWAY_PG_CA_FILE {} holds no certificate",
            path.display()
        );
    }
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(std::sync::Arc::clone(&provider))
        .with_safe_default_protocol_versions()
        .context("TLS protocol versions")?;
    let tls = if ca_file.is_some() {
        builder.with_root_certificates(roots).with_no_client_auth()
    } else {
        builder
            .dangerous()
            .with_custom_certificate_verifier(std::sync::Arc::new(EncryptOnly(provider)))
            .with_no_client_auth()
    };
    Ok(tokio_postgres_rustls::MakeRustlsConnect::new(tls))
}

/// libpq's `sslmode=require` without a root certificate: the session is encrypted and the
/// handshake's signatures are checked, but the certificate is not verified against a CA.
#[derive(Debug)]
struct EncryptOnly(std::sync::Arc<rustls::crypto::CryptoProvider>);

impl rustls::client::danger::ServerCertVerifier for EncryptOnly {
    fn verify_server_cert(
        &self,
        _end_entity: &rustls::pki_types::CertificateDer<'_>,
        _intermediates: &[rustls::pki_types::CertificateDer<'_>],
        _server_name: &rustls::pki_types::ServerName<'_>,
        _ocsp_response: &[u8],
        _now: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// A pool error for clients and logs, without connection details.
pub(crate) fn describe(err: &PoolError) -> String {
    match err {
        PoolError::Timeout(_) => "no Postgres connection became free in time".into(),
        PoolError::Backend(err) => match err.as_db_error() {
            Some(db) => format!("Postgres refused the connection: {}", db.message()),
            None => format!("Postgres cannot be reached: {err}"),
        },
        other => format!("Postgres pool: {other}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn libpq_verify_modes_and_sslrootcert_are_understood() {
        let (config, ca) = parse_url(
            "postgres://u:p@db.example.com:5432/postgres?sslmode=verify-full&sslrootcert=/ca.crt",
        )
        .unwrap();
        assert_eq!(ca.as_deref(), Some(Path::new("/ca.crt")));
        assert_eq!(
            config.get_ssl_mode(),
            tokio_postgres::config::SslMode::Require
        );
        assert_eq!(config.get_dbname(), Some("postgres"));
        assert!(parse_url("postgres://u@h/db?sslmode=verify-ca").is_err());
        let (config, ca) = parse_url("postgres://u@h/db?sslmode=disable").unwrap();
        assert_eq!(
            config.get_ssl_mode(),
            tokio_postgres::config::SslMode::Disable
        );
        assert!(ca.is_none());
        assert!(parse_url("not a url ://").is_err());
    }
}
