//! Reading documents from rows: parsed, as the API's JSON text, or as raw documents.

use std::time::{SystemTime, UNIX_EPOCH};

use rusqlite::{Connection, OptionalExtension, params};

use crate::store::{Document, Fields, RawDocument, StoreError, document_json};

// === rows ===

pub(super) const COLUMNS: &str = "seq, id, creation_time, version, doc";

pub(super) fn fetch(
    conn: &Connection,
    table: &str,
    id: &str,
) -> Result<Option<(i64, Document)>, StoreError> {
    fetch_with(conn, table, id, row_to_document)
}

/// One document's `seq` and its item, read by `item`.
pub(super) fn fetch_with<T>(
    conn: &Connection,
    table: &str,
    id: &str,
    item: RowReader<T>,
) -> Result<Option<(i64, T)>, StoreError> {
    let mut stmt = conn
        .prepare_cached(&format!(
            "SELECT {COLUMNS} FROM documents WHERE tbl = ?1 AND id = ?2"
        ))
        .map_err(internal)?;
    stmt.query_row(params![table, id], |row| {
        let seq: i64 = row.get(0)?;
        Ok(item(row)?.map(|doc| (seq, doc)))
    })
    .optional()
    .map_err(internal)?
    .transpose()
}

/// Reads one row's item, or the error that makes the row unreadable: rusqlite's errors outside,
/// decoding errors inside, so a corrupt row is reported instead of panicking.
pub(super) type RowReader<T> = fn(&rusqlite::Row<'_>) -> rusqlite::Result<Result<T, StoreError>>;

/// Reads the leading columns (after `seq`) into a document.
pub(super) fn row_to_document(
    row: &rusqlite::Row<'_>,
) -> rusqlite::Result<Result<Document, StoreError>> {
    let id: String = row.get(1)?;
    let creation_time: f64 = row.get(2)?;
    let version: i64 = row.get(3)?;
    let raw = row.get_ref(4)?.as_str()?;
    Ok(serde_json::from_str::<Fields>(raw)
        .map_err(|err| StoreError::Internal(anyhow::anyhow!("document {id} is corrupt: {err}")))
        .map(|fields| Document {
            id,
            creation_time: Some(creation_time),
            version: u64::try_from(version).unwrap_or_default(),
            fields,
        }))
}

/// Reads the leading columns (after `seq`) into the API's JSON text for the document, from the
/// stored text as it is: no parse into values and back.
pub(super) fn row_to_json(row: &rusqlite::Row<'_>) -> rusqlite::Result<Result<String, StoreError>> {
    let id = row.get_ref(1)?.as_str()?;
    let creation_time: f64 = row.get(2)?;
    let version: i64 = row.get(3)?;
    let fields = row.get_ref(4)?.as_str()?;
    Ok(document_json(
        id,
        Some(creation_time),
        u64::try_from(version).unwrap_or_default(),
        fields,
    ))
}

/// Reads the leading columns (after `seq`) into the document's JSON text and version.
pub(super) fn row_to_raw_document(
    row: &rusqlite::Row<'_>,
) -> rusqlite::Result<Result<RawDocument, StoreError>> {
    let version: i64 = row.get(3)?;
    Ok(row_to_json(row)?.map(|json| RawDocument {
        json,
        version: u64::try_from(version).unwrap_or_default(),
    }))
}

pub(super) fn encode_fields(fields: &Fields) -> String {
    serde_json::Value::Object(fields.clone()).to_string()
}

pub(super) fn internal(err: rusqlite::Error) -> StoreError {
    StoreError::Internal(anyhow::Error::new(err).context("SQLite"))
}

pub(super) fn now_ms() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as f64)
        .unwrap_or_default()
}
