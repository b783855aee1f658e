//! The list-query compiler for Postgres (after `store/local/sql.rs`): filters and order become
//! SQL over the table's columns, with every value a parameter (sent as text and cast to the
//! column's own type, so an index on the column serves the comparison); pages use keyset
//! cursors over the order columns plus the primary key.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};

use super::catalog::{Column, Kind, PAGE_XMIN, TableInfo};
use super::values::key_text;
use crate::store::{FieldPath, Filter, FilterOp, ListQuery, Literal, SortDirection, StoreError};

/// One list call's SQL and its text parameters.
#[derive(Debug)]
pub(crate) struct ListPlan {
    pub(crate) sql: String,
    pub(crate) params: Vec<Option<String>>,
    pub(crate) key_count: usize,
    pub(crate) order_tag: String,
}

/// What a cursor carries: the order it was made for, the last row's sort keys as text, and its
/// primary key.
#[derive(Serialize, Deserialize)]
pub(crate) struct CursorData {
    o: String,
    k: Vec<Option<String>>,
    s: String,
}

/// A sort key: the SQL expression and the type its cursor text is cast back to.
struct Key {
    expr: String,
    sql_type: String,
    direction: SortDirection,
    nullable: bool,
}

struct Params(Vec<Option<String>>);

impl Params {
    /// Binds a text value and answers its placeholder.
    fn bind(&mut self, value: impl Into<String>) -> String {
        self.0.push(Some(value.into()));
        format!("${}::text", self.0.len())
    }
    fn bind_opt(&mut self, value: Option<String>) -> String {
        self.0.push(value);
        format!("${}::text", self.0.len())
    }
}

impl ListPlan {
    pub(crate) fn build(table: &TableInfo, query: &ListQuery) -> Result<Self, StoreError> {
        let mut params = Params(Vec::new());
        let mut conditions = Vec::new();
        for filter in &query.filters {
            conditions.push(filter_sql(table, filter, &mut params)?);
        }
        let order_tag = query.order_tag();
        let mut keys = Vec::with_capacity(query.order.len() + 1);
        for key in &query.order {
            keys.extend(sort_key(table, &key.field, key.direction)?);
        }
        let tie_direction = query
            .order
            .last()
            .map_or(SortDirection::Asc, |k| k.direction);
        if query.order.is_empty()
            && let Some(created) = &table.created
        {
            // The default order is insertion order where the table records it.
            keys.push(Key {
                expr: format!("t.{}", created.ident),
                sql_type: created.sql_type.clone(),
                direction: SortDirection::Asc,
                nullable: !created.not_null,
            });
        }
        // Ties keep insertion order (in the last key's direction), as on the other stores:
        // the creation column, then the key.
        if let Some(created) = &table.created
            && !query.order.is_empty()
            && !query
                .order
                .iter()
                .any(|k| k.field == FieldPath::CreationTime)
        {
            keys.push(Key {
                expr: format!("t.{}", created.ident),
                sql_type: created.sql_type.clone(),
                direction: tie_direction,
                nullable: !created.not_null,
            });
        }
        let key_sql = format!("t.{}", table.key.ident);

        if let Some(raw) = &query.cursor {
            let cursor = decode_cursor(raw)?;
            if cursor.o != order_tag || cursor.k.len() != keys.len() {
                return Err(StoreError::InvalidCursor(
                    "the cursor belongs to a different `order`; pass the same `order` as the first page".into(),
                ));
            }
            conditions.push(keyset_sql(
                &keys,
                &cursor,
                &key_sql,
                &table.key.sql_type,
                tie_direction,
                &mut params,
            ));
        }

        let mut order_by: Vec<String> = keys
            .iter()
            .map(|k| {
                // A missing value sorts first ascending and last descending, as on the other
                // stores; NOT NULL columns keep the plain order an ordinary index serves.
                let nulls = match (k.nullable, k.direction) {
                    (false, _) => "",
                    (true, SortDirection::Asc) => " NULLS FIRST",
                    (true, SortDirection::Desc) => " NULLS LAST",
                };
                format!("{} {}{nulls}", k.expr, direction_sql(k.direction))
            })
            .collect();
        order_by.push(format!("{key_sql} {}", direction_sql(tie_direction)));
        let key_columns: String = keys
            .iter()
            .map(|k| format!(", ({})::text", k.expr))
            .collect();
        let limit = params.bind_opt(None);
        let where_sql = if conditions.is_empty() {
            String::new()
        } else {
            format!(" WHERE {}", conditions.join(" AND "))
        };
        // The page is chosen in a subquery and only its rows are turned into documents:
        // Postgres would otherwise build every matching row's document before sorting.
        let order = order_by.join(", ");
        let sql = format!(
            "SELECT {projection}{key_columns} FROM (SELECT t.*, t.xmin AS {PAGE_XMIN} FROM {qualified} t{where_sql} ORDER BY {order} LIMIT ({limit})::int8) t ORDER BY {order}",
            projection = table.page_projection,
            qualified = table.qualified,
        );
        Ok(Self {
            sql,
            params: params.0,
            key_count: keys.len(),
            order_tag,
        })
    }

    /// The cursor after a row whose sort keys and id are these.
    pub(crate) fn cursor(
        &self,
        keys: Vec<Option<String>>,
        id: String,
    ) -> Result<String, StoreError> {
        encode_cursor(&CursorData {
            o: self.order_tag.clone(),
            k: keys,
            s: id,
        })
    }
}

fn direction_sql(direction: SortDirection) -> &'static str {
    match direction {
        SortDirection::Asc => "ASC",
        SortDirection::Desc => "DESC",
    }
}

/// The sort key for a field; `None` for `_creationTime` on a table without a creation column,
/// which is then ordered by its primary key alone (the tie-breaker every order ends with).
fn sort_key(
    table: &TableInfo,
    field: &FieldPath,
    direction: SortDirection,
) -> Result<Option<Key>, StoreError> {
    let (expr, sql_type, nullable) = match field {
        FieldPath::Id => (
            format!("t.{}", table.key.ident),
            table.key.sql_type.clone(),
            false,
        ),
        FieldPath::CreationTime => {
            let Some(created) = &table.created else {
                return Ok(None);
            };
            (
                format!("t.{}", created.ident),
                created.sql_type.clone(),
                !created.not_null,
            )
        }
        FieldPath::User(segments) => {
            let column = table.require(&segments[0])?;
            if segments.len() == 1 {
                (
                    format!("t.{}", column.ident),
                    column.sql_type.clone(),
                    !column.not_null,
                )
            } else {
                (
                    json_path(table, column, segments)?,
                    "jsonb".to_owned(),
                    true,
                )
            }
        }
    };
    Ok(Some(Key {
        expr,
        sql_type,
        direction,
        nullable,
    }))
}

fn creation_column(table: &TableInfo) -> Result<&Column, StoreError> {
    table.created.as_ref().ok_or_else(|| {
        StoreError::InvalidQuery(format!(
            "table `{}` has no creation-time column (GATEWAY_PG_CREATION_COLUMN), so it has no `_creationTime`",
            table.name
        ))
    })
}

/// `col #> '{a,b}'` for a path into a JSON column; segments are `[A-Za-z0-9_]+`, checked by
/// the query parser, so they are safe inside the literal.
fn json_path(
    table: &TableInfo,
    column: &Column,
    segments: &[String],
) -> Result<String, StoreError> {
    if column.kind != Kind::Json {
        return Err(StoreError::InvalidQuery(format!(
            "`{}`: column `{}` of table `{}` is {}, not json, so it has no nested fields",
            segments.join("."),
            column.name,
            table.name,
            column.sql_type
        )));
    }
    Ok(format!(
        "({} #> '{{{}}}')",
        column.as_jsonb(),
        segments[1..].join(",")
    ))
}

/// The condition for one filter.
fn filter_sql(
    table: &TableInfo,
    filter: &Filter,
    params: &mut Params,
) -> Result<String, StoreError> {
    let cond = match &filter.field {
        FieldPath::Id => typed_sql(
            &format!("t.{}", table.key.ident),
            &table.key,
            &filter.op,
            params,
            true,
        )?,
        FieldPath::CreationTime => {
            let created = creation_column(table)?;
            let expr = format!("t.{}", created.ident);
            time_filter_sql(&expr, &filter.op, params)
        }
        FieldPath::User(segments) => {
            let column = table.require(&segments[0])?;
            if segments.len() == 1 && column.kind != Kind::Json {
                typed_sql(
                    &format!("t.{}", column.ident),
                    column,
                    &filter.op,
                    params,
                    false,
                )?
            } else {
                let expr = if segments.len() == 1 {
                    column.as_jsonb()
                } else {
                    json_path(table, column, segments)?
                };
                json_sql(&expr, &filter.op, params)
            }
        }
    };
    Ok(if filter.negated {
        format!("NOT COALESCE(({cond}), false)")
    } else {
        cond
    })
}

/// `_creationTime` filters: milliseconds since the epoch against the timestamp column.
fn time_filter_sql(expr: &str, op: &FilterOp, params: &mut Params) -> String {
    let mut one = |literal: &Literal, comparison: &str| {
        let ms = match literal {
            Literal::Int(i) => i.to_string(),
            Literal::Float(f) => f.to_string(),
            _ => return "false".to_owned(),
        };
        let p = params.bind(ms);
        format!("{expr} {comparison} to_timestamp(({p})::float8 / 1000)")
    };
    match op {
        FilterOp::Eq(l) => one(l, "="),
        FilterOp::Neq(l) => one(l, "<>"),
        FilterOp::Gt(l) => one(l, ">"),
        FilterOp::Gte(l) => one(l, ">="),
        FilterOp::Lt(l) => one(l, "<"),
        FilterOp::Lte(l) => one(l, "<="),
        FilterOp::In(ls) => {
            let parts: Vec<String> = ls.iter().map(|l| one(l, "=")).collect();
            format!("({})", parts.join(" OR "))
        }
        _ => "false".to_owned(),
    }
}

/// A filter on a column of a fixed type. A literal of another type never matches (as on the
/// other stores: `30` never equals `"30"`), except that an unquoted number in an equality also
/// matches a text column holding the same spelling.
fn typed_sql(
    expr: &str,
    column: &Column,
    op: &FilterOp,
    params: &mut Params,
    is_key: bool,
) -> Result<String, StoreError> {
    // The literal as the column's own type, or `None` when it cannot be one.
    let value = |literal: &Literal, params: &mut Params| -> Option<String> {
        let text = match (&column.kind, literal) {
            (Kind::Text | Kind::Other, Literal::Str(s) | Literal::NumberOrText(_, s)) => s.clone(),
            (Kind::Uuid, Literal::Str(s) | Literal::NumberOrText(_, s)) => {
                uuid::Uuid::parse_str(s).ok()?;
                s.clone()
            }
            (Kind::Int { .. }, Literal::Str(s)) if is_key => key_text(column, s)?,
            (Kind::Int { .. } | Kind::Float | Kind::Numeric, Literal::NumberOrText(n, _)) => {
                return match n.as_ref() {
                    Literal::Int(i) => Some(numeric_cast(column, &i.to_string(), true, params)),
                    Literal::Float(f) => Some(numeric_cast(column, &f.to_string(), false, params)),
                    _ => None,
                };
            }
            (Kind::Int { .. } | Kind::Float | Kind::Numeric, Literal::Int(i)) => {
                return Some(numeric_cast(column, &i.to_string(), true, params));
            }
            (Kind::Int { .. } | Kind::Float | Kind::Numeric, Literal::Float(f)) => {
                return Some(numeric_cast(column, &f.to_string(), false, params));
            }
            (Kind::Bool, Literal::Bool(b)) => b.to_string(),
            _ => return None,
        };
        // `_id` text of an integer key that is not a number finds nothing.
        if is_key && key_text(column, &text).is_none() {
            return None;
        }
        let p = params.bind(text);
        Some(match column.kind {
            Kind::Text => p,
            _ => format!("({p})::{}", column.sql_type),
        })
    };
    let compare =
        |literal: &Literal, comparison: &str, params: &mut Params| match value(literal, params) {
            Some(v) => format!("{expr} {comparison} {v}"),
            None => "false".to_owned(),
        };
    Ok(match op {
        FilterOp::Eq(l) => compare(l, "=", params),
        FilterOp::Neq(l) => format!(
            "({expr} IS NOT NULL AND NOT COALESCE({}, false))",
            compare(l, "=", params)
        ),
        FilterOp::Gt(l) => compare(l, ">", params),
        FilterOp::Gte(l) => compare(l, ">=", params),
        FilterOp::Lt(l) => compare(l, "<", params),
        FilterOp::Lte(l) => compare(l, "<=", params),
        FilterOp::In(ls) => {
            let parts: Vec<String> = ls.iter().map(|l| compare(l, "=", params)).collect();
            format!("({})", parts.join(" OR "))
        }
        FilterOp::Like(pattern) | FilterOp::Ilike(pattern) => {
            if column.kind != Kind::Text {
                return Ok("false".to_owned());
            }
            let operator = if matches!(op, FilterOp::Like(_)) {
                "LIKE"
            } else {
                "ILIKE"
            };
            let p = params.bind(like_pattern(pattern));
            format!("{expr} {operator} {p}")
        }
        FilterOp::IsNull => format!("{expr} IS NULL"),
        FilterOp::IsTrue if column.kind == Kind::Bool => format!("{expr} IS TRUE"),
        FilterOp::IsFalse if column.kind == Kind::Bool => format!("{expr} IS FALSE"),
        FilterOp::IsTrue | FilterOp::IsFalse => "false".to_owned(),
    })
}

/// A number compared with a numeric column: integers are cast to the column's own integer
/// family (so its index serves the comparison), fractions to numeric.
fn numeric_cast(column: &Column, text: &str, integer: bool, params: &mut Params) -> String {
    let p = params.bind(text.to_owned());
    match (&column.kind, integer) {
        (Kind::Int { .. }, true) => format!("({p})::int8"),
        (Kind::Float, _) => format!("({p})::float8"),
        _ => format!("({p})::numeric"),
    }
}

/// A filter on a JSON value (a json/jsonb column or a path into one), with the same typed
/// semantics as the document stores.
fn json_sql(expr: &str, op: &FilterOp, params: &mut Params) -> String {
    let mut compare = |literal: &Literal, comparison: &str| -> String {
        match literal {
            Literal::Bool(b) => format!("{expr} {comparison} '{b}'::jsonb"),
            Literal::Int(_) | Literal::Float(_) => {
                let text = match literal {
                    Literal::Int(i) => i.to_string(),
                    Literal::Float(f) => serde_json::Value::from(*f).to_string(),
                    _ => unreachable!("matched above"),
                };
                let p = params.bind(text);
                format!("(jsonb_typeof({expr}) = 'number' AND {expr} {comparison} ({p})::jsonb)")
            }
            Literal::Str(s) => {
                let p = params.bind(s.clone());
                format!("(jsonb_typeof({expr}) = 'string' AND {expr} {comparison} to_jsonb({p}))")
            }
            Literal::NumberOrText(number, text) => {
                let number = match number.as_ref() {
                    Literal::Int(i) => i.to_string(),
                    Literal::Float(f) => serde_json::Value::from(*f).to_string(),
                    _ => "null".to_owned(),
                };
                let n = params.bind(number);
                let t = params.bind(text.clone());
                format!(
                    "((jsonb_typeof({expr}) = 'number' AND {expr} {comparison} ({n})::jsonb) OR {expr} {comparison} to_jsonb({t}))"
                )
            }
        }
    };
    let present = format!("({expr} IS NOT NULL AND {expr} <> 'null'::jsonb)");
    match op {
        FilterOp::Eq(l) => compare(l, "="),
        FilterOp::Neq(l) => format!("({present} AND NOT COALESCE({}, false))", compare(l, "=")),
        FilterOp::Gt(l) => compare(l, ">"),
        FilterOp::Gte(l) => compare(l, ">="),
        FilterOp::Lt(l) => compare(l, "<"),
        FilterOp::Lte(l) => compare(l, "<="),
        FilterOp::In(ls) => {
            let parts: Vec<String> = ls.iter().map(|l| compare(l, "=")).collect();
            format!("({})", parts.join(" OR "))
        }
        FilterOp::Like(pattern) | FilterOp::Ilike(pattern) => {
            let operator = if matches!(op, FilterOp::Like(_)) {
                "LIKE"
            } else {
                "ILIKE"
            };
            let p = params.bind(like_pattern(pattern));
            format!("(jsonb_typeof({expr}) = 'string' AND ({expr} #>> '{{}}') {operator} {p})")
        }
        FilterOp::IsNull => format!("NOT {present}"),
        FilterOp::IsTrue => format!("{expr} = 'true'::jsonb"),
        FilterOp::IsFalse => format!("{expr} = 'false'::jsonb"),
    }
}

/// PostgREST's `*` wildcard to a LIKE pattern, escaping LIKE's own `%`, `_` and `\`.
fn like_pattern(pattern: &str) -> String {
    let mut out = String::with_capacity(pattern.len() + 4);
    for c in pattern.chars() {
        match c {
            '*' => out.push('%'),
            '%' | '_' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            other => out.push(other),
        }
    }
    out
}

/// "After the cursor" in the query's order. NULL sorts first ascending and last descending (the
/// order clauses say so); the expansion follows that, and the primary key breaks ties.
fn keyset_sql(
    keys: &[Key],
    cursor: &CursorData,
    key_sql: &str,
    key_type: &str,
    tie_direction: SortDirection,
    params: &mut Params,
) -> String {
    let tie_op = match tie_direction {
        SortDirection::Asc => ">",
        SortDirection::Desc => "<",
    };
    let cast = |p: String, ty: &str| format!("({p})::{ty}");
    let one_direction = keys.iter().all(|k| k.direction == tie_direction);
    let no_nulls = keys
        .iter()
        .zip(&cursor.k)
        .all(|(k, v)| !k.nullable || v.is_some());
    if one_direction && no_nulls && keys.iter().all(|k| !k.nullable) {
        let mut values: Vec<String> = keys
            .iter()
            .zip(&cursor.k)
            .map(|(k, v)| cast(params.bind_opt(v.clone()), &k.sql_type))
            .collect();
        values.push(cast(params.bind(cursor.s.clone()), key_type));
        let exprs: Vec<&str> = keys.iter().map(|k| k.expr.as_str()).collect();
        let lhs = if exprs.is_empty() {
            key_sql.to_owned()
        } else {
            format!("{}, {key_sql}", exprs.join(", "))
        };
        return format!("({lhs}) {tie_op} ({})", values.join(", "));
    }
    let mut alternatives = Vec::with_capacity(keys.len() + 1);
    for i in 0..=keys.len() {
        let mut parts = Vec::with_capacity(i + 1);
        for (key, value) in keys.iter().zip(&cursor.k).take(i) {
            parts.push(match value {
                None => format!("{} IS NULL", key.expr),
                Some(v) => format!(
                    "{} = {}",
                    key.expr,
                    cast(params.bind(v.clone()), &key.sql_type)
                ),
            });
        }
        if i == keys.len() {
            parts.push(format!(
                "{key_sql} {tie_op} {}",
                cast(params.bind(cursor.s.clone()), key_type)
            ));
        } else {
            let key = &keys[i];
            let expr = &key.expr;
            parts.push(match (key.direction, &cursor.k[i]) {
                (SortDirection::Asc, None) => format!("{expr} IS NOT NULL"),
                (SortDirection::Desc, None) => "false".to_owned(),
                (SortDirection::Asc, Some(v)) => {
                    format!("{expr} > {}", cast(params.bind(v.clone()), &key.sql_type))
                }
                (SortDirection::Desc, Some(v)) => {
                    format!(
                        "({expr} < {} OR {expr} IS NULL)",
                        cast(params.bind(v.clone()), &key.sql_type)
                    )
                }
            });
        }
        alternatives.push(format!("({})", parts.join(" AND ")));
    }
    format!("({})", alternatives.join(" OR "))
}

fn encode_cursor(data: &CursorData) -> Result<String, StoreError> {
    let json = serde_json::to_vec(data)
        .map_err(|err| StoreError::Internal(anyhow::Error::new(err).context("encoding cursor")))?;
    Ok(URL_SAFE_NO_PAD.encode(json))
}

fn decode_cursor(raw: &str) -> Result<CursorData, StoreError> {
    let bad = || StoreError::InvalidCursor("the cursor is not one this gateway issued".into());
    let bytes = URL_SAFE_NO_PAD.decode(raw).map_err(|_| bad())?;
    let data: CursorData = serde_json::from_slice(&bytes).map_err(|_| bad())?;
    // Cursor texts are cast in SQL; NUL can never be sent as text.
    if data.s.contains('\0') || data.k.iter().flatten().any(|k| k.contains('\0')) {
        return Err(bad());
    }
    Ok(data)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn like_patterns_escape_like_syntax() {
        assert_eq!(like_pattern("a*b"), "a%b");
        assert_eq!(like_pattern("50%_off\\"), "50\\%\\_off\\\\");
    }

    #[test]
    fn cursors_round_trip_and_reject_garbage() {
        let data = CursorData {
            o: "x".into(),
            k: vec![Some("1.5".into()), None],
            s: "7".into(),
        };
        let decoded = decode_cursor(&encode_cursor(&data).unwrap()).unwrap();
        assert_eq!((decoded.o, decoded.k, decoded.s), (data.o, data.k, data.s));
        assert!(decode_cursor("not base64!").is_err());
    }
}
