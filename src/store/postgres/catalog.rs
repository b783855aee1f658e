//! What the Postgres adapter serves: the tables of `GATEWAY_PG_SCHEMA`, read from the system
//! catalogs at startup and on `SIGHUP`, with each column's type class and the SQL that turns a
//! row into the API's document.

use std::collections::HashMap;

use tokio_postgres::GenericClient;

use super::quote_ident;
use crate::store::StoreError;

/// The column `postgres install` adds to count each row's writes.
pub(crate) const VERSION_COLUMN: &str = "_version";

/// The column a list's page subquery carries the rows' `xmin` in.
pub(crate) const PAGE_XMIN: &str = "\"_gw_xmin\"";

/// How a column's values look in JSON (the README's mapping table).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    /// text, varchar, char, citext, name: strings.
    Text,
    /// uuid: strings holding a UUID.
    Uuid,
    /// int2, int4, int8: integers within the column's range.
    Int { min: i64, max: i64 },
    /// float4, float8: numbers.
    Float,
    /// numeric: numbers, as they are.
    Numeric,
    /// bool.
    Bool,
    /// json, jsonb: any JSON value.
    Json,
    /// bytea: base64 strings.
    Bytea,
    /// Arrays of another kind.
    Array(Box<Kind>),
    /// timestamptz, timestamp, date, time, interval, enums and anything else: strings in the
    /// type's own text form (ISO 8601 for timestamps), which Postgres parses.
    Other,
}

impl Kind {
    fn of(typname: &str, category: &str, element: Option<&str>) -> Self {
        if category == "A" {
            let inner = element.map_or(Kind::Other, |e| Kind::of(e, "", None));
            return Kind::Array(Box::new(inner));
        }
        match typname {
            "text" | "varchar" | "bpchar" | "citext" | "name" => Kind::Text,
            "uuid" => Kind::Uuid,
            "int2" => Kind::Int {
                min: i64::from(i16::MIN),
                max: i64::from(i16::MAX),
            },
            "int4" => Kind::Int {
                min: i64::from(i32::MIN),
                max: i64::from(i32::MAX),
            },
            "int8" => Kind::Int {
                min: i64::MIN,
                max: i64::MAX,
            },
            "float4" | "float8" => Kind::Float,
            "numeric" => Kind::Numeric,
            "bool" => Kind::Bool,
            "json" | "jsonb" => Kind::Json,
            "bytea" => Kind::Bytea,
            _ => Kind::Other,
        }
    }
}

/// One column.
#[derive(Debug, Clone)]
pub struct Column {
    /// The column's name, which is the field's name.
    pub name: String,
    /// The name quoted for SQL.
    pub ident: String,
    /// The type as SQL spells it (`character varying(20)`, `uuid`, `text[]`), for casts.
    pub sql_type: String,
    pub kind: Kind,
    /// `jsonb` (false: `json`), for JSON columns.
    pub jsonb: bool,
    /// A generated column: read, never written.
    pub generated: bool,
    /// The column has a default (or is an identity column).
    pub has_default: bool,
    /// The column is NOT NULL.
    pub not_null: bool,
}

impl Column {
    /// The column as a `jsonb` expression of row alias `t`, for JSON paths.
    pub(crate) fn as_jsonb(&self) -> String {
        if self.jsonb {
            format!("t.{}", self.ident)
        } else {
            format!("t.{}::jsonb", self.ident)
        }
    }
}

/// One served table.
#[derive(Debug, Clone)]
pub struct TableInfo {
    pub(crate) name: String,
    /// `"schema"."table"`.
    pub(crate) qualified: String,
    /// The single-column primary key, served as `_id`.
    pub(crate) key: Column,
    /// The column `_creationTime` comes from, if the table has it.
    pub(crate) created: Option<Column>,
    /// Every other column: the document's fields.
    pub(crate) fields: Vec<Column>,
    by_name: HashMap<String, usize>,
    /// The change-log trigger is installed on the table.
    pub(crate) has_trigger: bool,
    /// The table has the `_version` column and trigger that `postgres install` adds, so
    /// versions count writes; otherwise the version is the row's `xmin`.
    pub(crate) counted_versions: bool,
    /// The select list that reads row alias `t` as the document: id text, creation time in
    /// milliseconds (or NULL), version, and the fields as JSON object text.
    pub(crate) projection: String,
    /// The same over a page subquery `t` (`SELECT t.*, t.xmin AS "_gw_xmin" …`), which a list
    /// computes for the page's rows only, after its sort and limit.
    pub(crate) page_projection: String,
}

impl TableInfo {
    /// The field's column.
    pub(crate) fn field(&self, name: &str) -> Option<&Column> {
        self.by_name.get(name).map(|&i| &self.fields[i])
    }

    /// The field's column, or the error that names it.
    pub(crate) fn require(&self, name: &str) -> Result<&Column, StoreError> {
        self.field(name).ok_or_else(|| StoreError::UnknownField {
            field: name.to_owned(),
            message: format!(
                "table `{}` has no column `{name}`; its fields are: {}",
                self.name,
                self.fields
                    .iter()
                    .map(|c| c.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        })
    }

    fn build(
        schema: &str,
        name: String,
        key: Column,
        created: Option<Column>,
        fields: Vec<Column>,
        has_trigger: bool,
        counted_versions: bool,
    ) -> Self {
        let by_name = fields
            .iter()
            .enumerate()
            .map(|(i, c)| (c.name.clone(), i))
            .collect();
        let field_list: Vec<String> = fields
            .iter()
            .map(|c| match c.kind {
                // base64 without the line breaks `encode` puts every 76 characters.
                Kind::Bytea => format!(
                    "translate(encode(t.{0}, 'base64'), E'\\n', '') AS {0}",
                    c.ident
                ),
                _ => format!("t.{}", c.ident),
            })
            .collect();
        let created_sql = created.as_ref().map_or_else(
            || "NULL::float8".to_owned(),
            |c| format!("(extract(epoch FROM t.{}) * 1000)::float8", c.ident),
        );
        let projection_with = |version_sql: &str| {
            format!(
                "t.{key}::text, {created_sql}, {version_sql}, (SELECT row_to_json(r)::text FROM (SELECT {fields}) r)",
                key = key.ident,
                fields = field_list.join(", "),
            )
        };
        let (projection, page_projection) = if counted_versions {
            let version = format!("t.{}", quote_ident(VERSION_COLUMN));
            (projection_with(&version), projection_with(&version))
        } else {
            (
                projection_with("t.xmin::text::int8"),
                projection_with(&format!("t.{PAGE_XMIN}::text::int8")),
            )
        };
        Self {
            qualified: format!("{}.{}", quote_ident(schema), quote_ident(&name)),
            name,
            key,
            created,
            fields,
            by_name,
            has_trigger,
            counted_versions,
            projection,
            page_projection,
        }
    }
}

/// Everything the adapter serves, read at one moment.
#[derive(Debug, Default)]
pub struct Catalog {
    pub(crate) tables: HashMap<String, TableInfo>,
    /// Tables that exist but cannot be served, with the reason.
    pub(crate) unservable: HashMap<String, String>,
    /// `convex-gateway postgres install` has run: the `gateway` schema holds the change log.
    pub(crate) feed_installed: bool,
    /// Whether `gateway.history` and its recording function are installed.
    pub(crate) history_installed: bool,
    /// The database has the roles that row-level security maps callers to.
    pub(crate) roles_present: bool,
    /// Read from the database (`false` until Postgres has been reached).
    pub(crate) loaded: bool,
}

impl Catalog {
    /// The served table, or why it is not served.
    pub fn table(&self, name: &str) -> Result<&TableInfo, StoreError> {
        if !self.loaded {
            return Err(StoreError::Unavailable(
                "Postgres has not been reached yet; the gateway keeps trying".into(),
            ));
        }
        if let Some(table) = self.tables.get(name) {
            return Ok(table);
        }
        if let Some(reason) = self.unservable.get(name) {
            return Err(StoreError::TableWithoutKey(reason.clone()));
        }
        Err(StoreError::UnknownTable(format!(
            "no table `{name}` is served: the schema has no such table (tables are read at startup and on SIGHUP)"
        )))
    }

    /// Reads the tables of `schema`, their columns and primary keys.
    pub async fn load(
        client: &impl GenericClient,
        schema: &str,
        creation_column: &str,
        roles: &[&str],
    ) -> Result<Self, tokio_postgres::Error> {
        let columns = client
            .query(
                "SELECT c.relname::text, a.attname::text, format_type(a.atttypid, a.atttypmod), \
                        t.typname::text, t.typcategory::text, et.typname::text, \
                        (a.atthasdef OR a.attidentity <> ''), a.attgenerated <> '', a.attnotnull, \
                        COALESCE(a.attnum = ANY (i.indkey::int2[]), false) AND i.indnatts = 1 \
                 FROM pg_class c \
                 JOIN pg_namespace n ON n.oid = c.relnamespace \
                 JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped \
                 JOIN pg_type t ON t.oid = a.atttypid \
                 LEFT JOIN pg_type et ON et.oid = t.typelem AND t.typcategory = 'A' \
                 LEFT JOIN pg_index i ON i.indrelid = c.oid AND i.indisprimary \
                 WHERE n.nspname = $1 AND c.relkind IN ('r', 'p') \
                 ORDER BY c.relname, a.attnum",
                &[&schema],
            )
            .await?;
        let triggers: Vec<(String, String)> = client
            .query(
                "SELECT c.relname::text, g.tgname::text FROM pg_trigger g \
                 JOIN pg_class c ON c.oid = g.tgrelid JOIN pg_namespace n ON n.oid = c.relnamespace \
                 WHERE n.nspname = $1 AND g.tgname IN ('gateway_change_log', 'gateway_version')",
                &[&schema],
            )
            .await?
            .iter()
            .map(|row| (row.get(0), row.get(1)))
            .collect();
        let has =
            |table: &str, trigger: &str| triggers.iter().any(|(t, g)| t == table && g == trigger);
        let feed_installed: bool = client
            .query_one(
                "SELECT to_regclass('gateway.changes') IS NOT NULL AND to_regclass('gateway.feed') IS NOT NULL",
                &[],
            )
            .await?
            .get(0);
        let history_installed: bool = client
            .query_one(
                "SELECT to_regclass('gateway.history') IS NOT NULL AND to_regprocedure('gateway.record_history(text, text, bigint, text, text, jsonb)') IS NOT NULL",
                &[],
            )
            .await?
            .get(0);
        let roles_present: bool = client
            .query_one(
                "SELECT count(*) = cardinality($1::text[]) FROM pg_roles WHERE rolname = ANY ($1::text[])",
                &[&roles],
            )
            .await?
            .get(0);

        struct Raw {
            keys: Vec<Column>,
            columns: Vec<Column>,
        }
        let mut raw: Vec<(String, Raw)> = Vec::new();
        for row in &columns {
            let table: String = row.get(0);
            let name: String = row.get(1);
            let typname: String = row.get(3);
            let category: String = row.get(4);
            let element: Option<String> = row.get(5);
            let column = Column {
                ident: quote_ident(&name),
                name,
                sql_type: row.get(2),
                kind: Kind::of(&typname, &category, element.as_deref()),
                jsonb: typname == "jsonb",
                has_default: row.get(6),
                generated: row.get(7),
                not_null: row.get(8),
            };
            let is_key: bool = row.get(9);
            if raw.last().is_none_or(|(t, _)| *t != table) {
                raw.push((
                    table.clone(),
                    Raw {
                        keys: Vec::new(),
                        columns: Vec::new(),
                    },
                ));
            }
            if let Some((_, entry)) = raw.last_mut() {
                if is_key {
                    entry.keys.push(column);
                } else {
                    entry.columns.push(column);
                }
            }
        }

        let mut catalog = Catalog {
            feed_installed,
            history_installed,
            roles_present,
            loaded: true,
            ..Catalog::default()
        };
        for (name, Raw { mut keys, columns }) in raw {
            if crate::store::TableName::parse(&name).is_err() {
                tracing::warn!(table = %name, "not served: the name is not a valid table name");
                continue;
            }
            let Some(key) = keys.pop().filter(|_| keys.is_empty()) else {
                catalog.unservable.insert(
                    name.clone(),
                    format!(
                        "table `{name}` has no single-column primary key, which the gateway serves as `_id`; add one to serve it"
                    ),
                );
                continue;
            };
            let counted_versions = has(&name, "gateway_version")
                && columns
                    .iter()
                    .any(|c| c.name == VERSION_COLUMN && c.sql_type == "bigint");
            let columns: Vec<Column> = columns
                .into_iter()
                .filter(|c| !(counted_versions && c.name == VERSION_COLUMN))
                .collect();
            let (created, fields): (Vec<Column>, Vec<Column>) =
                columns.into_iter().partition(|c| {
                    c.name == creation_column
                        && matches!(
                            c.sql_type.as_str(),
                            "timestamp with time zone" | "timestamp without time zone" | "date"
                        )
                });
            let has_trigger = has(&name, "gateway_change_log");
            catalog.tables.insert(
                name.clone(),
                TableInfo::build(
                    schema,
                    name,
                    key,
                    created.into_iter().next(),
                    fields,
                    has_trigger,
                    counted_versions,
                ),
            );
        }
        Ok(catalog)
    }
}
