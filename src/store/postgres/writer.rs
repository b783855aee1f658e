//! Batches on Postgres: every operation of a batch (or of a committed interactive transaction)
//! runs in one Postgres transaction at READ COMMITTED, under the caller's role and claims. Rows a
//! precondition or a merge patch reads are locked first (`SELECT … FOR UPDATE`), so a version
//! checked is the version written over; a `check` holds its row with `FOR SHARE` until commit,
//! or `FOR UPDATE` in a batch that also writes: two such batches (two committing transactions
//! that read the same row) would otherwise both hold the share lock and deadlock upgrading it.

use deadpool_postgres::{GenericClient, Object};
use serde_json::{Map, Value};

use super::catalog::{Catalog, Kind, TableInfo};
use super::errors::map;
use super::values::{key_text, row_object};
use super::{SET_CALLER, document};
use crate::store::{
    ChangeOp, DocId, Document, Fields, HistoryScope, Precondition, StoreError, TableName, WriteOp,
    WriteOutcome, merge_patch, resolve_field_refs,
};

/// Applies the operations in one transaction; answers the outcomes and the round trips made.
pub(crate) async fn apply(
    conn: &mut Object,
    catalog: &Catalog,
    settings: Option<[String; 3]>,
    ops: Vec<WriteOp>,
    dry_run: bool,
    history: Option<&HistoryScope>,
) -> Result<(Vec<WriteOutcome>, u64), StoreError> {
    let mut trips = 0;
    let history = history.filter(|scope| ops.iter().any(|op| scope.keeps(op.table().as_str())));
    if history.is_some() && !catalog.history_installed {
        return Err(StoreError::NoHistory(
            "history on Postgres lives beside the change log: run `convex-gateway postgres install`, then send the gateway SIGHUP".into(),
        ));
    }
    // A lone insert as the connecting user is one statement: it needs no transaction of its own
    // (unless it is a dry run, which is rolled back).
    if !dry_run
        && history.is_none()
        && settings.is_none()
        && ops.len() == 1
        && matches!(ops[0], WriteOp::Insert { .. })
    {
        let client: &Object = conn;
        let mut outcomes = Vec::with_capacity(1);
        for op in ops {
            outcomes.push(one(client, catalog, op, &[], "FOR SHARE", &mut trips).await?);
        }
        return Ok((outcomes, trips));
    }
    let tx = conn.transaction().await.map_err(|e| map(e, None))?;
    trips += 1;
    if let Some(settings) = settings {
        let statement = tx
            .prepare_cached(SET_CALLER)
            .await
            .map_err(|e| map(e, None))?;
        tx.query(&statement, &[&settings[0], &settings[1], &settings[2]])
            .await
            .map_err(|e| map(e, None))?;
        trips += 1;
    }
    let check_lock = if ops.iter().any(|op| !matches!(op, WriteOp::Check { .. })) {
        "FOR UPDATE"
    } else {
        "FOR SHARE"
    };
    let mut outcomes = Vec::with_capacity(ops.len());
    // The table of each outcome, for the history.
    let mut tables: Vec<TableName> = Vec::with_capacity(ops.len());
    let mut ops = ops.into_iter().peekable();
    while let Some(op) = ops.next() {
        // A run of inserts into one table, with the same fields and no `$ref`s, is one
        // statement (an array insert of 1,000 documents is one round trip, not 1,000).
        if let WriteOp::Insert { table, fields } = &op
            && let Ok(info) = catalog.table(table.as_str())
            && !has_refs(fields)
        {
            let mut run = vec![fields.clone()];
            while let Some(WriteOp::Insert {
                table: next_table,
                fields: next,
            }) = ops.peek()
            {
                if next_table != table
                    || has_refs(next)
                    || next.len() != fields.len()
                    || !next.keys().all(|k| fields.contains_key(k))
                {
                    break;
                }
                run.push(next.clone());
                ops.next();
            }
            if run.len() > 1 {
                let first = outcomes.len();
                let docs = insert_run(&tx, info, &run, first, &mut trips).await?;
                tables.extend(std::iter::repeat_n(table.clone(), docs.len()));
                outcomes.extend(docs.into_iter().map(WriteOutcome::Inserted));
                continue;
            }
        }
        let index = outcomes.len();
        tables.push(op.table().clone());
        let outcome = one(&tx, catalog, op, &outcomes, check_lock, &mut trips)
            .await
            .map_err(|e| e.at_op(index))?;
        outcomes.push(outcome);
    }
    if let Some(scope) = history {
        record_history(&tx, scope, &tables, &outcomes, &mut trips).await?;
    }
    // A dry run ran every statement, constraints, triggers and row policies included; nothing
    // of it is kept (sequences excepted: Postgres never gives their numbers back).
    if dry_run {
        tx.rollback().await.map_err(|e| map(e, None))?;
    } else {
        tx.commit().await.map_err(|e| map(e, None))?;
    }
    trips += 1;
    Ok((outcomes, trips))
}

/// Records each write to a table that keeps history in `gateway.history`, in the batch's
/// transaction (`gateway.record_history` is the installer's, so any caller's role may).
async fn record_history(
    tx: &deadpool_postgres::Transaction<'_>,
    scope: &HistoryScope,
    tables: &[TableName],
    outcomes: &[WriteOutcome],
    trips: &mut u64,
) -> Result<(), StoreError> {
    let statement = tx
        .prepare_cached("SELECT gateway.record_history($1, $2, $3, $4, $5, $6)")
        .await
        .map_err(|e| map(e, None))?;
    for (table, outcome) in tables.iter().zip(outcomes) {
        if !scope.keeps(table.as_str()) {
            continue;
        }
        let (op, version, doc) = match outcome {
            WriteOutcome::Inserted(doc) => (ChangeOp::Insert, Some(doc.version as i64), Some(doc)),
            WriteOutcome::Updated(doc) => (ChangeOp::Update, Some(doc.version as i64), Some(doc)),
            WriteOutcome::Deleted { .. } => (ChangeOp::Delete, None, None),
            WriteOutcome::Checked(_) => continue,
        };
        let fields = doc.map(|d| Value::Object(d.fields.clone()));
        tx.query(
            &statement,
            &[
                &table.as_str(),
                &outcome.id(),
                &version,
                &scope.op_name(op),
                &scope.sub,
                &fields,
            ],
        )
        .await
        .map_err(|e| map(e, None))?;
        *trips += 1;
    }
    Ok(())
}

async fn one<C: GenericClient + Sync>(
    client: &C,
    catalog: &Catalog,
    op: WriteOp,
    earlier: &[WriteOutcome],
    check_lock: &str,
    trips: &mut u64,
) -> Result<WriteOutcome, StoreError> {
    match op {
        WriteOp::Insert { table, mut fields } => {
            resolve_field_refs(&mut fields, earlier)?;
            let info = catalog.table(table.as_str())?;
            insert(client, info, &fields, trips)
                .await
                .map(WriteOutcome::Inserted)
        }
        WriteOp::Patch {
            table,
            id,
            mut patch,
            precondition,
        } => {
            resolve_field_refs(&mut patch, earlier)?;
            let (info, id) = target(catalog, &table, &id, earlier)?;
            // A JSON column patched with an object merges into what it holds (RFC 7396).
            let merges = patch.iter().any(|(name, value)| {
                value.is_object() && info.field(name).is_some_and(|c| c.kind == Kind::Json)
            });
            let current = if precondition.is_some() || merges {
                Some(locked(client, info, &id, &precondition, "FOR UPDATE", trips).await?)
            } else {
                None
            };
            let mut values = Fields::new();
            for (name, value) in patch {
                let merged = match (&value, current.as_ref().and_then(|d| d.fields.get(&name))) {
                    (Value::Object(p), Some(existing))
                        if info.field(&name).is_some_and(|c| c.kind == Kind::Json) =>
                    {
                        let mut target = existing.as_object().cloned().unwrap_or_default();
                        merge_patch(&mut target, p);
                        Value::Object(target)
                    }
                    (Value::Object(p), None)
                        if info.field(&name).is_some_and(|c| c.kind == Kind::Json) =>
                    {
                        let mut target = Map::new();
                        merge_patch(&mut target, p);
                        Value::Object(target)
                    }
                    _ => value,
                };
                values.insert(name, merged);
            }
            update(client, info, &id, &values, false, trips)
                .await
                .map(WriteOutcome::Updated)
        }
        WriteOp::Replace {
            table,
            id,
            mut fields,
            precondition,
        } => {
            resolve_field_refs(&mut fields, earlier)?;
            let (info, id) = target(catalog, &table, &id, earlier)?;
            if precondition.is_some() {
                locked(client, info, &id, &precondition, "FOR UPDATE", trips).await?;
            }
            update(client, info, &id, &fields, true, trips)
                .await
                .map(WriteOutcome::Updated)
        }
        WriteOp::Delete {
            table,
            id,
            precondition,
        } => {
            let (info, id) = target(catalog, &table, &id, earlier)?;
            if precondition.is_some() {
                locked(client, info, &id, &precondition, "FOR UPDATE", trips).await?;
            }
            let Some(key) = key_text(&info.key, &id) else {
                return Err(not_found(info, &id));
            };
            let sql = format!(
                "DELETE FROM {} AS t WHERE t.{} = ($1::text)::{} RETURNING t.{}::text",
                info.qualified, info.key.ident, info.key.sql_type, info.key.ident
            );
            let rows = query(client, &sql, &[Some(key)], None, trips).await?;
            if rows.is_empty() {
                return Err(not_found(info, &id));
            }
            Ok(WriteOutcome::Deleted { id })
        }
        WriteOp::Check {
            table,
            id,
            precondition,
        } => {
            let (info, id) = target(catalog, &table, &id, earlier)?;
            locked(client, info, &id, &Some(precondition), check_lock, trips)
                .await
                .map(WriteOutcome::Checked)
        }
    }
}

fn target<'c>(
    catalog: &'c Catalog,
    table: &TableName,
    id: &DocId,
    earlier: &[WriteOutcome],
) -> Result<(&'c TableInfo, String), StoreError> {
    let id = id.resolve(earlier)?;
    Ok((catalog.table(table.as_str())?, id))
}

fn not_found(info: &TableInfo, id: &str) -> StoreError {
    StoreError::NotFound {
        table: info.name.clone(),
        id: id.to_owned(),
        op: None,
    }
}

async fn query<C: GenericClient + Sync>(
    client: &C,
    sql: &str,
    params: &[Option<String>],
    fields: Option<&Fields>,
    trips: &mut u64,
) -> Result<Vec<tokio_postgres::Row>, StoreError> {
    let statement = client.prepare_cached(sql).await.map_err(|e| map(e, None))?;
    let params: Vec<&(dyn tokio_postgres::types::ToSql + Sync)> = params
        .iter()
        .map(|p| p as &(dyn tokio_postgres::types::ToSql + Sync))
        .collect();
    *trips += 1;
    client
        .query(&statement, &params)
        .await
        .map_err(|e| map(e, fields))
}

/// Reads and locks the row, and checks the precondition against its version.
async fn locked<C: GenericClient + Sync>(
    client: &C,
    info: &TableInfo,
    id: &str,
    precondition: &Option<Precondition>,
    lock: &str,
    trips: &mut u64,
) -> Result<Document, StoreError> {
    let Some(key) = key_text(&info.key, id) else {
        return Err(not_found(info, id));
    };
    let sql = format!(
        "SELECT {} FROM {} t WHERE t.{} = ($1::text)::{} {lock}",
        info.projection, info.qualified, info.key.ident, info.key.sql_type
    );
    let rows = query(client, &sql, &[Some(key)], None, trips).await?;
    let doc = rows
        .first()
        .map(document)
        .transpose()?
        .ok_or_else(|| not_found(info, id))?;
    if let Some(precondition) = precondition
        && !precondition.holds_for(doc.version)
    {
        return Err(StoreError::VersionMismatch {
            id: id.to_owned(),
            actual: doc.version,
            op: None,
        });
    }
    Ok(doc)
}

async fn insert<C: GenericClient + Sync>(
    client: &C,
    info: &TableInfo,
    fields: &Fields,
    trips: &mut u64,
) -> Result<Document, StoreError> {
    let (columns, row) = row_object(info, fields)?;
    let mut names: Vec<String> = columns.iter().map(|c| c.ident.clone()).collect();
    let mut values: Vec<String> = columns.iter().map(|c| format!("p.{}", c.ident)).collect();
    let mut params = vec![Some(row.to_string())];
    // A text or uuid key without a default gets a fresh UUID, as the other stores assign ids.
    if !info.key.has_default && matches!(info.key.kind, Kind::Uuid | Kind::Text) {
        names.push(info.key.ident.clone());
        params.push(Some(uuid::Uuid::now_v7().to_string()));
        values.push(format!("($2::text)::{}", info.key.sql_type));
    }
    let sql = if names.is_empty() {
        format!(
            "INSERT INTO {q} AS t DEFAULT VALUES RETURNING {p}",
            q = info.qualified,
            p = info.projection
        )
    } else {
        format!(
            "INSERT INTO {q} AS t ({names}) SELECT {values} FROM jsonb_populate_record(NULL::{q}, ($1::text)::jsonb) p RETURNING {p}",
            q = info.qualified,
            names = names.join(", "),
            values = values.join(", "),
            p = info.projection
        )
    };
    if names.is_empty() {
        params.clear();
    }
    let rows = query(client, &sql, &params, Some(fields), trips).await?;
    rows.first()
        .map(document)
        .transpose()?
        .ok_or_else(|| StoreError::Internal(anyhow::anyhow!("an insert returned no row")))
}

/// Whether a document holds a `{"$ref": …}` anywhere.
fn has_refs(fields: &Fields) -> bool {
    fn walk(value: &Value) -> bool {
        crate::store::ref_target(value).is_some()
            || match value {
                Value::Object(map) => map.values().any(walk),
                Value::Array(items) => items.iter().any(walk),
                _ => false,
            }
    }
    fields.values().any(walk)
}

/// Inserts documents with the same fields into one table in one statement, under a savepoint:
/// when Postgres refuses the statement, it is rolled back and the documents are inserted one by
/// one, so the error names the operation at fault (`first` is the run's first index).
async fn insert_run(
    tx: &deadpool_postgres::Transaction<'_>,
    info: &TableInfo,
    docs: &[Fields],
    first: usize,
    trips: &mut u64,
) -> Result<Vec<Document>, StoreError> {
    let mut rows = Vec::with_capacity(docs.len());
    let mut columns = Vec::new();
    for (i, fields) in docs.iter().enumerate() {
        let (cols, row) = row_object(info, fields).map_err(|e| e.at_op(first + i))?;
        columns = cols;
        rows.push(row);
    }
    let mut names: Vec<String> = columns.iter().map(|c| c.ident.clone()).collect();
    let mut values: Vec<String> = columns.iter().map(|c| format!("p.{}", c.ident)).collect();
    if !info.key.has_default && matches!(info.key.kind, Kind::Uuid | Kind::Text) {
        // Fresh keys come with the rows, as for a single insert.
        for row in &mut rows {
            if let Value::Object(map) = row {
                map.insert(
                    info.key.name.clone(),
                    Value::String(uuid::Uuid::now_v7().to_string()),
                );
            }
        }
        names.push(info.key.ident.clone());
        values.push(format!("p.{}", info.key.ident));
    }
    if names.is_empty() {
        // Documents without fields: one DEFAULT VALUES insert each.
        let mut out = Vec::with_capacity(docs.len());
        for (i, fields) in docs.iter().enumerate() {
            out.push(
                insert(tx, info, fields, trips)
                    .await
                    .map_err(|e| e.at_op(first + i))?,
            );
        }
        return Ok(out);
    }
    // Rows come back in the order they were given: the insert reads the array in order.
    let sql = format!(
        "INSERT INTO {q} AS t ({names}) SELECT {values} FROM jsonb_populate_recordset(NULL::{q}, ($1::text)::jsonb) p RETURNING {p}",
        q = info.qualified,
        names = names.join(", "),
        values = values.join(", "),
        p = info.projection
    );
    tx.batch_execute("SAVEPOINT gateway_run")
        .await
        .map_err(|e| map(e, None))?;
    *trips += 1;
    match query(
        tx,
        &sql,
        &[Some(Value::Array(rows).to_string())],
        None,
        trips,
    )
    .await
    {
        Ok(rows) if rows.len() == docs.len() => {
            tx.batch_execute("RELEASE SAVEPOINT gateway_run")
                .await
                .map_err(|e| map(e, None))?;
            *trips += 1;
            rows.iter().map(document).collect()
        }
        Ok(rows) => Err(StoreError::Internal(anyhow::anyhow!(
            "an insert of {} rows returned {}",
            docs.len(),
            rows.len()
        ))),
        Err(_) => {
            // Find the document at fault, one at a time; the error it meets is the answer.
            tx.batch_execute("ROLLBACK TO SAVEPOINT gateway_run")
                .await
                .map_err(|e| map(e, None))?;
            *trips += 1;
            let mut out = Vec::with_capacity(docs.len());
            for (i, fields) in docs.iter().enumerate() {
                out.push(
                    insert(tx, info, fields, trips)
                        .await
                        .map_err(|e| e.at_op(first + i))?,
                );
            }
            Ok(out)
        }
    }
}

/// Sets the given columns; `replace` also resets every other writable column to its default.
async fn update<C: GenericClient + Sync>(
    client: &C,
    info: &TableInfo,
    id: &str,
    fields: &Fields,
    replace: bool,
    trips: &mut u64,
) -> Result<Document, StoreError> {
    let Some(key) = key_text(&info.key, id) else {
        return Err(not_found(info, id));
    };
    let (columns, row) = row_object(info, fields)?;
    let mut sets: Vec<String> = columns
        .iter()
        .map(|c| format!("{0} = p.{0}", c.ident))
        .collect();
    if replace {
        sets.extend(
            info.fields
                .iter()
                .filter(|c| !c.generated && !fields.contains_key(&c.name))
                .map(|c| format!("{} = DEFAULT", c.ident)),
        );
    }
    if sets.is_empty() {
        // Nothing to change: still a write, so the version moves as on the other stores.
        sets.push(format!("{0} = t.{0}", info.key.ident));
    }
    let sql = format!(
        "UPDATE {q} AS t SET {sets} FROM jsonb_populate_record(NULL::{q}, ($2::text)::jsonb) p WHERE t.{k} = ($1::text)::{kt} RETURNING {p}",
        q = info.qualified,
        sets = sets.join(", "),
        k = info.key.ident,
        kt = info.key.sql_type,
        p = info.projection
    );
    let rows = query(
        client,
        &sql,
        &[Some(key), Some(row.to_string())],
        Some(fields),
        trips,
    )
    .await?;
    rows.first()
        .map(document)
        .transpose()?
        .ok_or_else(|| not_found(info, id))
}
