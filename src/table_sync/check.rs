//! `convex-gateway sync check`: compares both sides of each synced pair, row by row through the
//! key map, and by a checksum of each side's contents, and reports the differences. It is what
//! an operator runs before switching a migration over. It reads only: Postgres in one
//! repeatable-read snapshot, Convex through `list_snapshot` at one timestamp.

use std::collections::{BTreeMap, HashMap};

use serde_json::{Map, Value};
use sha2::{Digest as _, Sha256};

use super::config::SyncConfig;
use super::echo::fingerprint;
use super::export::ExportClient;
use super::to_convex::{Ids, row_fields};
use super::types::row_from_json;
use crate::store::postgres::PostgresConfig;
use crate::store::postgres::catalog::Catalog;

/// How many differences of each kind a report names.
const NAMED: usize = 20;

/// One pair compared.
#[derive(Debug, Clone, PartialEq)]
pub struct PairReport {
    pub postgres: String,
    pub convex: String,
    pub postgres_rows: usize,
    pub convex_documents: usize,
    /// A digest of each side's contents (as Convex fields), independent of order.
    pub postgres_checksum: String,
    pub convex_checksum: String,
    /// Postgres keys with no Convex document (up to 20 named; `only_postgres_count` counts).
    pub only_postgres: Vec<String>,
    pub only_postgres_count: usize,
    /// Convex ids with no Postgres row.
    pub only_convex: Vec<String>,
    pub only_convex_count: usize,
    /// Pairs of key and id whose contents differ.
    pub differ: Vec<(String, String)>,
    pub differ_count: usize,
    /// Rows that cannot be carried at all (key and reason).
    pub uncarried: Vec<(String, String)>,
}

impl PairReport {
    /// Both sides hold the same rows with the same contents.
    pub fn equal(&self) -> bool {
        self.only_postgres_count == 0
            && self.only_convex_count == 0
            && self.differ_count == 0
            && self.uncarried.is_empty()
            && self.postgres_checksum == self.convex_checksum
    }

    /// The report as the command prints it.
    pub fn render(&self) -> String {
        let mut out = format!(
            "{} <-> {}: postgres {} rows, convex {} documents, checksums {} / {}: {}\n",
            self.postgres,
            self.convex,
            self.postgres_rows,
            self.convex_documents,
            &self.postgres_checksum[..12],
            &self.convex_checksum[..12],
            if self.equal() { "equal" } else { "DIFFERENT" }
        );
        if !self.equal() {
            out.push_str(&format!(
                "  {} only in postgres, {} only in convex, {} differ, {} cannot be carried\n",
                self.only_postgres_count,
                self.only_convex_count,
                self.differ_count,
                self.uncarried.len()
            ));
        }
        for key in &self.only_postgres {
            out.push_str(&format!("  only in postgres: {key}\n"));
        }
        for id in &self.only_convex {
            out.push_str(&format!("  only in convex: {id}\n"));
        }
        for (key, id) in &self.differ {
            out.push_str(&format!("  differ: postgres {key} / convex {id}\n"));
        }
        for (key, reason) in self.uncarried.iter().take(NAMED) {
            out.push_str(&format!("  cannot be carried: postgres {key}: {reason}\n"));
        }
        out
    }
}

/// Compares every pair.
pub async fn check(
    config: &SyncConfig,
    postgres: &PostgresConfig,
    export: &ExportClient,
) -> anyhow::Result<Vec<PairReport>> {
    let mut client = crate::store::postgres::connect::connect_one(postgres).await?;
    let tx = client
        .build_transaction()
        .isolation_level(tokio_postgres::IsolationLevel::RepeatableRead)
        .read_only(true)
        .start()
        .await?;
    let catalog = Catalog::load(&tx, &postgres.schema, &postgres.creation_column, &[]).await?;
    let mut reports = Vec::new();
    for pair in &config.tables {
        let table = catalog.table(&pair.postgres)?;
        // Postgres: each row as the Convex fields it is synced as.
        let rows = tx
            .query(
                &format!(
                    "SELECT t.{k}::text, to_jsonb(t)::text FROM {q} t",
                    k = table.key.ident,
                    q = table.qualified
                ),
                &[],
            )
            .await?;
        let mut pg: BTreeMap<String, String> = BTreeMap::new();
        let mut ids = Ids::default();
        let mut uncarried = Vec::new();
        for row in &rows {
            let key: String = row.get(0);
            let text: String = row.get(1);
            let fields: Map<String, Value> = row_from_json(&text).unwrap_or_default();
            match row_fields(&tx, pair, table, &fields, &mut ids).await? {
                Ok(fields) => {
                    pg.insert(key, fingerprint(&fields));
                }
                Err(reason) => uncarried.push((key, reason)),
            }
        }
        // Convex: every document at one timestamp.
        let mut convex: HashMap<String, String> = HashMap::new();
        let (mut snapshot, mut cursor) = (None, None);
        loop {
            let page = export
                .list_snapshot(&pair.convex, snapshot, cursor.as_deref())
                .await?;
            for document in &page.documents {
                if let Some(id) = document.get("_id").and_then(Value::as_str) {
                    convex.insert(id.to_owned(), fingerprint(document));
                }
            }
            if !page.has_more {
                break;
            }
            snapshot = Some(page.snapshot);
            cursor = page.cursor;
        }
        let keys: HashMap<String, String> = tx
            .query(
                "SELECT pg_key, convex_id FROM gateway.sync_keys WHERE pair = $1",
                &[&pair.postgres],
            )
            .await?
            .iter()
            .map(|r| (r.get(0), r.get(1)))
            .collect();
        let mut report = PairReport {
            postgres: pair.postgres.clone(),
            convex: pair.convex.clone(),
            postgres_rows: rows.len(),
            convex_documents: convex.len(),
            postgres_checksum: checksum(pg.values()),
            convex_checksum: checksum(convex.values()),
            only_postgres: Vec::new(),
            only_postgres_count: 0,
            only_convex: Vec::new(),
            only_convex_count: 0,
            differ: Vec::new(),
            differ_count: 0,
            uncarried,
        };
        let mut matched = std::collections::HashSet::new();
        for (key, print) in &pg {
            match keys.get(key).and_then(|id| convex.get(id).map(|p| (id, p))) {
                None => {
                    report.only_postgres_count += 1;
                    if report.only_postgres.len() < NAMED {
                        report.only_postgres.push(key.clone());
                    }
                }
                Some((id, theirs)) => {
                    matched.insert(id.clone());
                    if theirs != print {
                        report.differ_count += 1;
                        if report.differ.len() < NAMED {
                            report.differ.push((key.clone(), id.clone()));
                        }
                    }
                }
            }
        }
        let mut only_convex: Vec<&String> =
            convex.keys().filter(|id| !matched.contains(*id)).collect();
        only_convex.sort();
        report.only_convex_count = only_convex.len();
        report.only_convex = only_convex.into_iter().take(NAMED).cloned().collect();
        reports.push(report);
    }
    tx.commit().await?;
    Ok(reports)
}

/// An order-independent digest of a side's row fingerprints.
fn checksum<'a>(prints: impl Iterator<Item = &'a String>) -> String {
    let mut sorted: Vec<&String> = prints.collect();
    sorted.sort();
    let mut hasher = Sha256::new();
    for print in sorted {
        hasher.update(print.as_bytes());
    }
    hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}
