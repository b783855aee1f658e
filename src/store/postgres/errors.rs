//! Postgres errors to store errors: constraint violations, bad values, refused privileges and
//! row-level security, conflicts and outages each get their own error (and so their own stable
//! code), so no error a caller can cause answers 500.

use tokio_postgres::error::SqlState;

use crate::store::{ConstraintKind, Fields, StoreError};

/// Maps a Postgres error. `fields` are the values the failing statement wrote, when it wrote
/// any: a value Postgres could not parse is blamed on the field that holds it.
pub(crate) fn map(err: tokio_postgres::Error, fields: Option<&Fields>) -> StoreError {
    let Some(db) = err.as_db_error() else {
        if err.is_closed() {
            return StoreError::Unavailable("the connection to Postgres closed".into());
        }
        // I/O and protocol errors: the database cannot be reached as it should.
        return StoreError::Unavailable(format!("Postgres: {err}"));
    };
    let code = db.code();
    let constraint = db.constraint().map(str::to_owned);
    let detail = db.detail().map(|d| format!(" ({d})")).unwrap_or_default();
    let violation = |kind: ConstraintKind, what: &str| StoreError::Constraint {
        kind,
        message: format!(
            "{what}{}{detail}; nothing was written",
            constraint
                .as_deref()
                .map(|c| format!(": constraint `{c}`"))
                .unwrap_or_default()
        ),
        constraint: constraint.clone(),
        field: db.column().map(str::to_owned),
    };
    match code {
        c if *c == SqlState::NOT_NULL_VIOLATION => StoreError::Constraint {
            kind: ConstraintKind::NotNull,
            message: format!(
                "column `{}` of table `{}` needs a value; nothing was written",
                db.column().unwrap_or("?"),
                db.table().unwrap_or("?")
            ),
            constraint: constraint.clone(),
            field: db.column().map(str::to_owned),
        },
        c if *c == SqlState::UNIQUE_VIOLATION => violation(
            ConstraintKind::Unique,
            "another row already holds this value",
        ),
        c if *c == SqlState::FOREIGN_KEY_VIOLATION => violation(
            ConstraintKind::ForeignKey,
            "a foreign key refers to a missing row, or the row is still referred to",
        ),
        c if *c == SqlState::CHECK_VIOLATION => {
            violation(ConstraintKind::Check, "a check constraint refused the row")
        }
        c if *c == SqlState::EXCLUSION_VIOLATION => violation(
            ConstraintKind::Exclusion,
            "an exclusion constraint refused the row",
        ),
        c if *c == SqlState::INSUFFICIENT_PRIVILEGE => StoreError::DatabaseForbidden(format!(
            "the database refused this for the caller's role: {}",
            db.message()
        )),
        c if *c == SqlState::T_R_SERIALIZATION_FAILURE || *c == SqlState::T_R_DEADLOCK_DETECTED => {
            StoreError::DatabaseConflict(format!(
                "the database aborted the write for a concurrent change ({}); retry it",
                db.message()
            ))
        }
        c if *c == SqlState::UNDEFINED_TABLE => StoreError::UnknownTable(format!(
            "the table is gone from the database ({}); the gateway reads tables again on SIGHUP",
            db.message()
        )),
        c if *c == SqlState::UNDEFINED_COLUMN => StoreError::UnknownField {
            field: String::new(),
            message: format!(
                "a column is gone from the database ({}); the gateway reads tables again on SIGHUP",
                db.message()
            ),
        },
        c if c.code().starts_with("22") => {
            let field = fields.and_then(|fields| blame(db.message(), fields));
            StoreError::InvalidValue {
                message: match &field {
                    Some(f) => format!("`{f}`: {}", db.message()),
                    None => format!("a value does not fit its column: {}", db.message()),
                },
                field,
            }
        }
        c if c.code().starts_with("08")
            || c.code().starts_with("53")
            || c.code().starts_with("57") =>
        {
            StoreError::Unavailable(format!("Postgres: {}", db.message()))
        }
        _ => StoreError::Internal(anyhow::Error::new(err).context("Postgres")),
    }
}

/// The field whose string value Postgres quotes in its message (`invalid input syntax for type
/// date: "tomorrow"`).
fn blame(message: &str, fields: &Fields) -> Option<String> {
    fields.iter().find_map(|(name, value)| {
        let text = value.as_str()?;
        message
            .contains(&format!("\"{text}\""))
            .then(|| name.clone())
    })
}
