//! The `[sync]` section of the TOML file `GATEWAY_SYNC` names: each Postgres table paired with a
//! Convex table, its key, renamed and reference fields, the direction it flows in and how
//! conflicts are settled. The whole file is checked when it is read, and each mistake is named
//! with the pair it is in.
//!
//! ```toml
//! [[sync.tables]]
//! postgres = "molecules"
//! convex = "molecules"
//!
//! [[sync.tables]]
//! postgres = "experiments"
//! convex = "experiments"
//! key = "id"                      # the Postgres primary key column (default `id`)
//! direction = "both"              # or "to_convex", "to_postgres"
//! conflict = "last_modified"      # or "convex_wins", "postgres_wins"
//! on_delete = "delete_wins"       # or "update_wins"
//! rename = { molecule_id = "moleculeId" }      # Postgres column = Convex field
//! references = { molecule_id = "molecules" }   # a key of another synced Postgres table
//! ```

use std::collections::{BTreeMap, HashSet};
use std::path::Path;
use std::time::Duration;

use serde::Deserialize;

/// Which way a pair's changes flow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// Both ways.
    #[default]
    Both,
    /// Postgres to Convex only.
    ToConvex,
    /// Convex to Postgres only.
    ToPostgres,
}

impl Direction {
    /// Whether Postgres changes flow to Convex.
    pub fn to_convex(self) -> bool {
        matches!(self, Self::Both | Self::ToConvex)
    }

    /// Whether Convex changes flow to Postgres.
    pub fn to_postgres(self) -> bool {
        matches!(self, Self::Both | Self::ToPostgres)
    }
}

/// Who wins when a row changed on both sides since it was last synced.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConflictPolicy {
    /// The later change, by each side's own commit time (Convex `_ts`, the Postgres commit time
    /// the change feed records), never by a field a client wrote.
    #[default]
    LastModified,
    /// Convex's version.
    ConvexWins,
    /// Postgres's version.
    PostgresWins,
}

/// Who wins when a row was deleted on one side and updated on the other.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeleteConflict {
    /// The delete (PowerSync's recommended default).
    #[default]
    DeleteWins,
    /// The update: the deleted side gets the row back.
    UpdateWins,
}

/// The sync's settings.
#[derive(Debug, Clone, PartialEq)]
pub struct SyncConfig {
    /// The synced pairs, in the file's order.
    pub tables: Vec<TablePair>,
    /// The longest wait between polls of an idle Convex change log (`idle_poll_max_ms`,
    /// default 1,000); a log with more to read is read again at once.
    pub idle_poll_max: Duration,
}

/// One Postgres table and the Convex table it is synced with.
#[derive(Debug, Clone, PartialEq)]
pub struct TablePair {
    /// The Postgres table (in the served schema).
    pub postgres: String,
    /// The Convex table.
    pub convex: String,
    /// The Postgres primary key column.
    pub key: String,
    /// Postgres column to Convex field, for the columns whose names differ.
    pub rename: BTreeMap<String, String>,
    /// Postgres column to the Postgres table (of another pair) whose key it holds; on the
    /// Convex side the field holds that row's `_id`.
    pub references: BTreeMap<String, String>,
    /// Which way changes flow.
    pub direction: Direction,
    /// Who wins a conflict between two updates.
    pub conflict: ConflictPolicy,
    /// Who wins a conflict between a delete and an update.
    pub on_delete: DeleteConflict,
}

impl TablePair {
    /// The Convex field a Postgres column is carried in.
    pub fn convex_field<'a>(&'a self, column: &'a str) -> &'a str {
        self.rename.get(column).map_or(column, String::as_str)
    }

    /// The Postgres column a Convex field is carried in.
    pub fn postgres_column<'a>(&'a self, field: &'a str) -> &'a str {
        self.rename
            .iter()
            .find_map(|(column, renamed)| (renamed == field).then_some(column.as_str()))
            .unwrap_or(field)
    }
}

#[derive(Deserialize)]
struct File {
    sync: Option<RawSync>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSync {
    idle_poll_max_ms: Option<u64>,
    #[serde(default)]
    tables: Vec<RawPair>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPair {
    postgres: String,
    convex: String,
    key: Option<String>,
    #[serde(default)]
    rename: BTreeMap<String, String>,
    #[serde(default)]
    references: BTreeMap<String, String>,
    #[serde(default)]
    direction: Direction,
    #[serde(default)]
    conflict: ConflictPolicy,
    #[serde(default)]
    on_delete: DeleteConflict,
}

/// Fields the gateway keeps on Convex documents for itself.
const RESERVED_FIELDS: [&str; 2] = ["gwVersion", "gwUpdatedTime"];

/// Reads and checks the sync settings in the file at `path`.
pub fn load(path: &Path) -> Result<SyncConfig, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|err| format!("reading {}: {err}", path.display()))?;
    parse(&text).map_err(|err| format!("{}: {err}", path.display()))
}

/// Parses and checks the sync settings in a TOML text.
pub fn parse(text: &str) -> Result<SyncConfig, String> {
    let file: File = toml::from_str(text).map_err(|err| err.to_string())?;
    let raw = file.sync.ok_or("there is no [sync] section".to_owned())?;
    if raw.tables.is_empty() {
        return Err("[sync] names no tables: add a [[sync.tables]] entry".into());
    }
    let idle = raw.idle_poll_max_ms.unwrap_or(1000);
    if !(50..=60_000).contains(&idle) {
        return Err("sync.idle_poll_max_ms must be between 50 and 60000".into());
    }
    let postgres_names: HashSet<&str> = raw.tables.iter().map(|t| t.postgres.as_str()).collect();
    let mut seen_postgres = HashSet::new();
    let mut seen_convex = HashSet::new();
    let mut tables = Vec::with_capacity(raw.tables.len());
    for (index, pair) in raw.tables.iter().enumerate() {
        let at = |reason: String| format!("sync.tables[{index}] ({}): {reason}", pair.postgres);
        check_sql_name(&pair.postgres).map_err(|r| at(format!("postgres: {r}")))?;
        check_convex_table(&pair.convex).map_err(|r| at(format!("convex: {r}")))?;
        if !seen_postgres.insert(pair.postgres.as_str()) {
            return Err(at("this Postgres table is paired twice".into()));
        }
        if !seen_convex.insert(pair.convex.as_str()) {
            return Err(at(format!(
                "the Convex table `{}` is paired twice",
                pair.convex
            )));
        }
        let key = pair.key.clone().unwrap_or_else(|| "id".into());
        check_sql_name(&key).map_err(|r| at(format!("key: {r}")))?;
        let mut fields = HashSet::new();
        for (column, field) in &pair.rename {
            check_sql_name(column).map_err(|r| at(format!("rename: column {r}")))?;
            check_convex_field(field).map_err(|r| at(format!("rename.{column}: {r}")))?;
            if !fields.insert(field.as_str()) {
                return Err(at(format!("two columns are renamed to `{field}`")));
            }
        }
        for (column, target) in &pair.references {
            check_sql_name(column).map_err(|r| at(format!("references: column {r}")))?;
            if *column == key {
                return Err(at(format!(
                    "references.{column}: the key cannot be a reference"
                )));
            }
            if !postgres_names.contains(target.as_str()) {
                return Err(at(format!(
                    "references.{column}: `{target}` is not a synced Postgres table"
                )));
            }
        }
        tables.push(TablePair {
            postgres: pair.postgres.clone(),
            convex: pair.convex.clone(),
            key,
            rename: pair.rename.clone(),
            references: pair.references.clone(),
            direction: pair.direction,
            conflict: pair.conflict,
            on_delete: pair.on_delete,
        });
    }
    Ok(SyncConfig {
        tables,
        idle_poll_max: Duration::from_millis(idle),
    })
}

/// A Postgres identifier the sync quotes as it is: letters, digits and `_`, not starting with a
/// digit, at most 63 bytes.
fn check_sql_name(name: &str) -> Result<(), String> {
    let mut chars = name.chars();
    let first_ok = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_');
    if !first_ok || name.len() > 63 || !chars.all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return Err(format!(
            "`{name}` is not a plain identifier (letters, digits and `_`, at most 63)"
        ));
    }
    Ok(())
}

/// A Convex name: a letter, then letters, digits and `_`, at most 64.
fn convex_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && name.len() <= 64
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// A Convex table name.
fn check_convex_table(name: &str) -> Result<(), String> {
    if !convex_name(name) {
        return Err(format!("`{name}` is not a Convex table name"));
    }
    Ok(())
}

/// A Convex field the sync may write: not `_`-prefixed (Convex's own) and not the gateway's.
fn check_convex_field(name: &str) -> Result<(), String> {
    if !convex_name(name) {
        return Err(format!("`{name}` is not a field name a synced row may use"));
    }
    if RESERVED_FIELDS.contains(&name) {
        return Err(format!("`{name}` is the gateway's own field"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEED: &str = r#"
        [[sync.tables]]
        postgres = "molecules"
        convex = "molecules"

        [[sync.tables]]
        postgres = "experiments"
        convex = "experiments"
        conflict = "postgres_wins"
        on_delete = "update_wins"
        direction = "to_convex"
        rename = { molecule_id = "moleculeId", ran_at = "ranAt" }
        references = { molecule_id = "molecules" }
    "#;

    #[test]
    fn the_seeds_tables_parse_with_defaults() {
        let config = parse(SEED).unwrap();
        assert_eq!(config.idle_poll_max, Duration::from_secs(1));
        let [molecules, experiments] = &config.tables[..] else {
            panic!("two pairs");
        };
        assert_eq!(molecules.key, "id");
        assert_eq!(molecules.direction, Direction::Both);
        assert_eq!(molecules.conflict, ConflictPolicy::LastModified);
        assert_eq!(molecules.on_delete, DeleteConflict::DeleteWins);
        assert_eq!(experiments.conflict, ConflictPolicy::PostgresWins);
        assert_eq!(experiments.on_delete, DeleteConflict::UpdateWins);
        assert!(experiments.direction.to_convex() && !experiments.direction.to_postgres());
        assert_eq!(experiments.convex_field("molecule_id"), "moleculeId");
        assert_eq!(experiments.convex_field("notes"), "notes");
        assert_eq!(experiments.postgres_column("ranAt"), "ran_at");
        assert_eq!(experiments.postgres_column("notes"), "notes");
        assert_eq!(experiments.references["molecule_id"], "molecules");
    }

    #[test]
    fn mistakes_are_named_with_their_pair() {
        let cases = [
            ("", "no [sync] section"),
            ("[sync]\n", "names no tables"),
            (
                "[sync]\nidle_poll_max_ms = 0\n[[sync.tables]]\npostgres = \"a\"\nconvex = \"a\"\n",
                "sync.idle_poll_max_ms",
            ),
            (
                "[[sync.tables]]\npostgres = \"a\"\nconvex = \"a\"\nconflict = \"newest\"\n",
                "unknown variant `newest`",
            ),
            (
                "[[sync.tables]]\npostgres = \"a\"\nconvex = \"a\"\nwhatever = 1\n",
                "unknown field `whatever`",
            ),
            (
                "[[sync.tables]]\npostgres = \"a;drop\"\nconvex = \"a\"\n",
                "sync.tables[0] (a;drop): postgres",
            ),
            (
                "[[sync.tables]]\npostgres = \"a\"\nconvex = \"_a\"\n",
                "not a Convex table name",
            ),
            (
                "[[sync.tables]]\npostgres = \"a\"\nconvex = \"a\"\n[[sync.tables]]\npostgres = \"b\"\nconvex = \"a\"\n",
                "sync.tables[1] (b): the Convex table `a` is paired twice",
            ),
            (
                "[[sync.tables]]\npostgres = \"a\"\nconvex = \"a\"\nrename = { x = \"_id\" }\n",
                "rename.x",
            ),
            (
                "[[sync.tables]]\npostgres = \"a\"\nconvex = \"a\"\nrename = { x = \"gwVersion\" }\n",
                "the gateway's own field",
            ),
            (
                "[[sync.tables]]\npostgres = \"a\"\nconvex = \"a\"\nrename = { x = \"y\", z = \"y\" }\n",
                "two columns are renamed to `y`",
            ),
            (
                "[[sync.tables]]\npostgres = \"a\"\nconvex = \"a\"\nreferences = { b_id = \"b\" }\n",
                "`b` is not a synced Postgres table",
            ),
            (
                "[[sync.tables]]\npostgres = \"a\"\nconvex = \"a\"\nreferences = { id = \"a\" }\n",
                "the key cannot be a reference",
            ),
        ];
        for (text, expected) in cases {
            let err = parse(text).unwrap_err();
            assert!(err.contains(expected), "{text:?}: {err}");
        }
    }
}
