//! The one writer thread: it owns the only read-write connection, groups the write batches that
//! are waiting into one SQLite transaction (group commit), gives each batch its own savepoint so
//! one failing batch rolls back alone, and answers only after `COMMIT` returned.

use rusqlite::{Connection, params};
use tokio::sync::mpsc;

use crate::store::{
    ChangeOp, Document, Precondition, StoreError, TableName, WriteOp, WriteOutcome, merge_patch,
    normalize_numbers, resolve_field_refs, validate_fields,
};

use super::*;

// === impl Writer ===

pub(super) struct Writer {
    pub(super) conn: Connection,
    /// `_creationTime` never goes backwards, even if the wall clock does.
    pub(super) last_creation_time: f64,
    /// How long the change log keeps a change.
    pub(super) change_retention: std::time::Duration,
    /// When the change log was last pruned.
    pub(super) last_prune: std::time::Instant,
    /// Moved on after every commit, so change-feed consumers read at once.
    pub(super) committed: tokio::sync::watch::Sender<u64>,
    /// The running job's history scope (who writes, which tables keep versions).
    pub(super) history: Option<crate::store::HistoryScope>,
}

impl Writer {
    pub(super) fn run(mut self, mut rx: mpsc::Receiver<WriteJob>) {
        while let Some(first) = rx.blocking_recv() {
            let mut jobs = vec![first];
            while jobs.len() < MAX_GROUP {
                match rx.try_recv() {
                    Ok(job) => jobs.push(job),
                    Err(_) => break,
                }
            }
            self.commit_group(jobs);
        }
        tracing::debug!("SQLite writer stopped: every store handle is gone");
    }

    /// Runs each job under its own savepoint inside one transaction, commits, then answers.
    ///
    /// A job that fails is rolled back to its savepoint and answered with its error; the others
    /// still commit. If SQLite itself fails (a savepoint cannot be set or undone, or the commit
    /// fails), the transaction is in an unknown state: the whole group is rolled back and every
    /// job is told it was not applied.
    fn commit_group(&mut self, jobs: Vec<WriteJob>) {
        let saved_clock = self.last_creation_time;
        if let Err(err) = self.conn.execute_batch("BEGIN IMMEDIATE") {
            let message = format!("cannot start a write transaction: {err}");
            for job in jobs {
                let _ = job
                    .reply
                    .send(Err(StoreError::Unavailable(message.clone())));
            }
            return;
        }
        let mut answers = Vec::with_capacity(jobs.len());
        let mut fatal = None;
        for job in jobs {
            if fatal.is_some() {
                answers.push((job.reply, None));
                continue;
            }
            self.history = job.history;
            let result = match job.purge_history_before {
                Some(before) => super::history::purge(&self.conn, before).map(|purged| {
                    if purged > 0 {
                        tracing::info!(
                            purged,
                            "forgot the history of documents deleted before GATEWAY_HISTORY_TTL"
                        );
                    }
                    Ok(Vec::new())
                }),
                None => self.run_job(job.ops, job.dry_run),
            };
            self.history = None;
            match result {
                Ok(result) => answers.push((job.reply, Some(result))),
                Err(err) => {
                    fatal = Some(err);
                    answers.push((job.reply, None));
                }
            }
        }
        let fatal = match fatal {
            Some(err) => Some(err),
            None => self
                .prune_changes()
                .err()
                .or_else(|| self.conn.execute_batch("COMMIT").err()),
        };
        if let Some(err) = fatal {
            tracing::error!(error = %err, "SQLite write failed; the whole group is rolled back");
            let _ = self.conn.execute_batch("ROLLBACK");
            self.last_creation_time = saved_clock;
            for (reply, _) in answers {
                let _ = reply.send(Err(StoreError::Unavailable(format!(
                    "the write was not applied: {err}"
                ))));
            }
            return;
        }
        self.committed.send_modify(|n| *n = n.wrapping_add(1));
        for (reply, result) in answers {
            // The caller may have gone away (timeout, disconnect); the write stands regardless.
            if let Some(result) = result {
                let _ = reply.send(result);
            }
        }
    }

    /// Runs one job under a savepoint. The outer error means SQLite failed and the transaction
    /// can no longer be trusted; the inner one is the job's own failure, already rolled back.
    /// A dry run is rolled back to its savepoint after it succeeded, outcomes in hand.
    fn run_job(&mut self, ops: Vec<WriteOp>, dry_run: bool) -> Result<JobResult, rusqlite::Error> {
        let saved_clock = self.last_creation_time;
        self.conn.execute_batch("SAVEPOINT job")?;
        let mut outcomes = Vec::with_capacity(ops.len());
        for (index, op) in ops.into_iter().enumerate() {
            match self.run_op(op, &outcomes) {
                Ok(outcome) => outcomes.push(outcome),
                Err(err) => {
                    self.last_creation_time = saved_clock;
                    self.conn.execute_batch("ROLLBACK TO job; RELEASE job")?;
                    return Ok(Err(err.at_op(index)));
                }
            }
        }
        if dry_run {
            self.last_creation_time = saved_clock;
            self.conn.execute_batch("ROLLBACK TO job; RELEASE job")?;
        } else {
            self.conn.execute_batch("RELEASE job")?;
        }
        Ok(Ok(outcomes))
    }

    fn run_op(
        &mut self,
        op: WriteOp,
        earlier: &[WriteOutcome],
    ) -> Result<WriteOutcome, StoreError> {
        match op {
            WriteOp::Insert { table, mut fields } => {
                resolve_field_refs(&mut fields, earlier)?;
                validate_fields(&fields).map_err(StoreError::InvalidDocument)?;
                normalize_numbers(&mut fields);
                let now = now_ms().max(self.last_creation_time);
                self.last_creation_time = now;
                let doc = Document {
                    id: uuid::Uuid::now_v7().simple().to_string(),
                    creation_time: Some(now),
                    version: 1,
                    fields,
                };
                let encoded = encode_fields(&doc.fields);
                self.conn
                    .prepare_cached(
                        "INSERT INTO documents (tbl, id, creation_time, version, doc) VALUES (?1, ?2, ?3, 1, ?4)",
                    )
                    .and_then(|mut stmt| {
                        stmt.execute(params![
                            table.as_str(),
                            doc.id,
                            doc.creation_time,
                            &encoded
                        ])
                    })
                    .map_err(internal)?;
                self.record(&table, &doc, ChangeOp::Insert, Some(&encoded), None)?;
                Ok(WriteOutcome::Inserted(doc))
            }
            WriteOp::Patch {
                table,
                id,
                mut patch,
                precondition,
            } => {
                resolve_field_refs(&mut patch, earlier)?;
                validate_fields(&patch).map_err(StoreError::InvalidDocument)?;
                normalize_numbers(&mut patch);
                let id = id.resolve(earlier)?;
                let (seq, mut doc) = self.current(&table, &id, precondition.as_ref())?;
                let previous = encode_fields(&doc.fields);
                merge_patch(&mut doc.fields, &patch);
                self.update(&table, seq, &mut doc, &previous)?;
                Ok(WriteOutcome::Updated(doc))
            }
            WriteOp::Replace {
                table,
                id,
                mut fields,
                precondition,
            } => {
                resolve_field_refs(&mut fields, earlier)?;
                validate_fields(&fields).map_err(StoreError::InvalidDocument)?;
                normalize_numbers(&mut fields);
                let id = id.resolve(earlier)?;
                let (seq, mut doc) = self.current(&table, &id, precondition.as_ref())?;
                let previous = encode_fields(&doc.fields);
                doc.fields = fields;
                self.update(&table, seq, &mut doc, &previous)?;
                Ok(WriteOutcome::Updated(doc))
            }
            WriteOp::Delete {
                table,
                id,
                precondition,
            } => {
                let id = id.resolve(earlier)?;
                let (seq, doc) = self.current(&table, &id, precondition.as_ref())?;
                self.conn
                    .prepare_cached("DELETE FROM documents WHERE seq = ?1")
                    .and_then(|mut stmt| stmt.execute([seq]))
                    .map_err(internal)?;
                let previous = encode_fields(&doc.fields);
                self.record(&table, &doc, ChangeOp::Delete, None, Some(&previous))?;
                Ok(WriteOutcome::Deleted { id: doc.id })
            }
            WriteOp::Check {
                table,
                id,
                precondition,
            } => {
                let id = id.resolve(earlier)?;
                let (_, doc) = self.current(&table, &id, Some(&precondition))?;
                Ok(WriteOutcome::Checked(doc))
            }
        }
    }

    /// The document as it stands, after checking that it exists and meets the precondition.
    fn current(
        &self,
        table: &TableName,
        id: &str,
        precondition: Option<&Precondition>,
    ) -> Result<(i64, Document), StoreError> {
        let (seq, doc) =
            fetch(&self.conn, table.as_str(), id)?.ok_or_else(|| StoreError::NotFound {
                table: table.to_string(),
                id: id.to_owned(),
                op: None,
            })?;
        if let Some(pre) = precondition
            && !pre.holds_for(doc.version)
        {
            return Err(StoreError::VersionMismatch {
                id: id.to_owned(),
                actual: doc.version,
                op: None,
            });
        }
        Ok((seq, doc))
    }

    fn update(
        &self,
        table: &TableName,
        seq: i64,
        doc: &mut Document,
        previous: &str,
    ) -> Result<(), StoreError> {
        doc.version += 1;
        let encoded = encode_fields(&doc.fields);
        self.conn
            .prepare_cached("UPDATE documents SET doc = ?1, version = ?2 WHERE seq = ?3")
            .and_then(|mut stmt| stmt.execute(params![&encoded, doc.version as i64, seq]))
            .map_err(internal)?;
        self.record(table, doc, ChangeOp::Update, Some(&encoded), Some(previous))
    }

    /// Appends a change to the log, in the write's own transaction (so it commits, or rolls
    /// back, with the write). A delete keeps no document: it is a tombstone. Updates and
    /// deletes keep the fields as they were before (`previous`).
    fn record(
        &self,
        table: &TableName,
        doc: &Document,
        op: ChangeOp,
        encoded: Option<&str>,
        previous: Option<&str>,
    ) -> Result<(), StoreError> {
        let creation_time = doc.creation_time;
        self.conn
            .prepare_cached(
                "INSERT INTO changes (tbl, id, op, version, creation_time, doc, at, prev) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            )
            .and_then(|mut stmt| {
                stmt.execute(params![
                    table.as_str(),
                    doc.id,
                    op.as_str(),
                    doc.version as i64,
                    creation_time,
                    encoded,
                    now_ms(),
                    previous
                ])
            })
            .map_err(internal)?;
        if let Some(scope) = self.history.as_ref().filter(|s| s.keeps(table.as_str())) {
            // A delete is recorded one past the document's last version, without fields.
            let version = match op {
                ChangeOp::Delete => doc.version + 1,
                _ => doc.version,
            };
            self.conn
                .prepare_cached(
                    "INSERT OR REPLACE INTO history (tbl, id, version, op, at, sub, doc) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                )
                .and_then(|mut stmt| {
                    stmt.execute(params![
                        table.as_str(),
                        doc.id,
                        version as i64,
                        scope.op_name(op),
                        now_ms(),
                        scope.sub,
                        encoded
                    ])
                })
                .map_err(internal)?;
        }
        Ok(())
    }

    /// Drops changes older than the retention, at most once per retention period (and at least
    /// once a minute), inside the group's transaction, and moves the horizon past them.
    fn prune_changes(&mut self) -> Result<(), rusqlite::Error> {
        let every = self
            .change_retention
            .min(std::time::Duration::from_secs(60));
        if self.last_prune.elapsed() < every {
            return Ok(());
        }
        self.last_prune = std::time::Instant::now();
        let before = now_ms() - self.change_retention.as_millis() as f64;
        // Walk the log in position order and stop at the first change to keep, so the cost is
        // the changes pruned, not the whole log (`at` has no index). A change written after a
        // newer one (the wall clock stepped back) is kept until everything before it goes.
        let last: Option<i64> = self.conn.query_row(
            "SELECT COALESCE(
                 (SELECT pos FROM changes WHERE at >= ?1 ORDER BY pos LIMIT 1) - 1,
                 (SELECT MAX(pos) FROM changes)
             )",
            [before],
            |row| row.get(0),
        )?;
        if let Some(last) = last.filter(|last| *last > 0) {
            self.conn
                .prepare_cached("DELETE FROM changes WHERE pos <= ?1")?
                .execute([last])?;
            self.conn
                .prepare_cached(
                    "UPDATE change_horizon SET pruned_through = MAX(pruned_through, ?1) WHERE one = 1",
                )?
                .execute([last])?;
        }
        Ok(())
    }
}
