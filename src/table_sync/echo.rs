//! Echo suppression for Convex: when the sync writes a Postgres change into Convex, Convex logs
//! a revision of its own, which the Convex-to-Postgres direction would carry back. Before that
//! happens, the write's fingerprint is kept (`expect`), and the revision with that fingerprint
//! is recognised and dropped (`consume`), together with any older expected revision of the same
//! document (Convex logs one revision per transaction, so two writes in one call leave one).
//!
//! Writes the sync makes into Postgres need no such table: their transaction sets
//! `gateway.sync_origin`, which the change feed records.

use serde_json::{Map, Value};
use sha2::{Digest as _, Sha256};
use tokio_postgres::GenericClient;

/// Fields that are not the row's: Convex's own and the gateway's bookkeeping.
pub const NOT_CARRIED: [&str; 4] = ["_id", "_creationTime", "gwVersion", "gwUpdatedTime"];

/// A digest of a document's carried fields that does not depend on key order, on how a number
/// is spelled (`3` or `3.0`), or on whether an empty field is `null` or missing.
pub fn fingerprint(fields: &Map<String, Value>) -> String {
    let mut text = String::new();
    canonical(&Value::Object(fields.clone()), true, &mut text);
    let digest = Sha256::digest(text.as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

fn canonical(value: &Value, top: bool, out: &mut String) {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => out.push_str(&format!("{:?}", n.as_f64().unwrap_or(f64::NAN))),
        Value::String(s) => out.push_str(&Value::String(s.clone()).to_string()),
        Value::Array(items) => {
            out.push('[');
            for item in items {
                canonical(item, false, out);
                out.push(',');
            }
            out.push(']');
        }
        Value::Object(map) => {
            let mut keys: Vec<&String> = map
                .iter()
                .filter(|(key, value)| {
                    !(top && (NOT_CARRIED.contains(&key.as_str()) || value.is_null()))
                })
                .map(|(key, _)| key)
                .collect();
            keys.sort();
            out.push('{');
            for key in keys {
                out.push_str(&Value::String(key.clone()).to_string());
                out.push(':');
                canonical(&map[key], false, out);
                out.push(',');
            }
            out.push('}');
        }
    }
}

/// Keeps the fingerprints of revisions the sync is about to cause in Convex, in order: pair,
/// document and fingerprint ([`fingerprint`]) side by side.
pub async fn expect_many(
    tx: &impl GenericClient,
    pairs: &[&str],
    ids: &[&str],
    fingerprints: &[String],
) -> Result<(), tokio_postgres::Error> {
    tx.execute(
        "INSERT INTO gateway.sync_echoes (pair, convex_id, fingerprint) \
         SELECT p, i, f FROM unnest($1::text[], $2::text[], $3::text[]) WITH ORDINALITY AS u(p, i, f, n) ORDER BY n",
        &[&pairs, &ids, &fingerprints],
    )
    .await?;
    Ok(())
}

/// Whether a Convex revision is one the sync caused; if so it is forgotten, with the older
/// expected revisions of the same document.
pub async fn consume(
    tx: &impl GenericClient,
    pair: &str,
    convex_id: &str,
    document: &Map<String, Value>,
) -> Result<bool, tokio_postgres::Error> {
    let row = tx
        .query_opt(
            "WITH hit AS (
                 SELECT max(seq) AS seq FROM gateway.sync_echoes
                 WHERE pair = $1 AND convex_id = $2 AND fingerprint = $3
             ), gone AS (
                 DELETE FROM gateway.sync_echoes e USING hit
                 WHERE e.pair = $1 AND e.convex_id = $2 AND e.seq <= hit.seq
                 RETURNING 1
             )
             SELECT count(*) FROM gone",
            &[&pair, &convex_id, &fingerprint(document)],
        )
        .await?;
    Ok(row.is_some_and(|row| row.get::<_, i64>(0) > 0))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn fields(value: Value) -> Map<String, Value> {
        value.as_object().cloned().unwrap_or_default()
    }

    #[test]
    fn a_fingerprint_ignores_spelling_and_bookkeeping_but_not_content() {
        let sent = fields(json!({"name": "water", "score": 3.0, "tags": ["a"], "empty": null}));
        let logged = fields(json!({
            "_id": "k1", "_creationTime": 1.5, "gwVersion": 2, "gwUpdatedTime": 9,
            "tags": ["a"], "score": 3, "name": "water",
        }));
        assert_eq!(fingerprint(&sent), fingerprint(&logged));
        let changed = fields(json!({"name": "water", "score": 3.5, "tags": ["a"]}));
        assert_ne!(fingerprint(&sent), fingerprint(&changed));
        let nested = fields(json!({"name": "water", "score": 3, "tags": ["a"], "o": {"x": null}}));
        assert_ne!(fingerprint(&logged), fingerprint(&nested));
    }
}
