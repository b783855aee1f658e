//! The list-query compiler: filters and order become SQL over `json_extract`, so SQLite filters
//! and sorts and expression indexes can serve them; pages use keyset cursors on the order keys
//! plus the insert sequence number. Another SQL dialect starts from a copy of this file.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rusqlite::types::Value as SqlValue;
use rusqlite::{Connection, params_from_iter};
use serde::{Deserialize, Serialize};

use crate::store::{
    FieldPath, Filter, FilterOp, ListQuery, Literal, OrderKey, SortDirection, StoreError, TableName,
};

use super::*;

// === list queries ===

/// The SQL for one list call, built before it runs on a reader thread.
pub(super) struct ListPlan {
    pub(super) sql: String,
    pub(super) params: Vec<SqlValue>,
    /// How many sort-key columns follow the document columns.
    pub(super) key_count: usize,
    pub(super) order_tag: String,
}

/// What a cursor carries: the order it was made for, the last row's sort keys, and its sequence.
#[derive(Serialize, Deserialize)]
pub(super) struct CursorData {
    /// The order spec the cursor belongs to.
    o: String,
    /// The sort-key values of the last row returned.
    k: Vec<serde_json::Value>,
    /// The last row's insert sequence, the final tie-breaker.
    s: i64,
}

impl ListPlan {
    pub(super) fn build(table: &TableName, query: &ListQuery) -> Result<Self, StoreError> {
        let mut params: Vec<SqlValue> = vec![SqlValue::Text(table.to_string())];
        let mut conditions = vec!["tbl = ?1".to_owned()];
        for filter in &query.filters {
            conditions.push(filter_sql(filter, &mut params));
        }

        let order_tag = query.order_tag();
        let key_exprs: Vec<String> = query.order.iter().map(|k| field_expr(&k.field)).collect();
        let tie_direction = query
            .order
            .last()
            .map_or(SortDirection::Asc, |k| k.direction);

        if let Some(raw) = &query.cursor {
            let cursor = decode_cursor(raw)?;
            if cursor.o != order_tag || cursor.k.len() != query.order.len() {
                return Err(StoreError::InvalidCursor(
                    "the cursor belongs to a different `order`; pass the same `order` as the first page".into(),
                ));
            }
            let values = cursor
                .k
                .iter()
                .map(json_to_sql)
                .collect::<Result<Vec<_>, _>>()?;
            conditions.push(keyset_sql(
                &query.order,
                &key_exprs,
                &values,
                cursor.s,
                tie_direction,
                &mut params,
            ));
        }

        let mut order_by: Vec<String> = query
            .order
            .iter()
            .zip(&key_exprs)
            .map(|(key, expr)| format!("{expr} {}", direction_sql(key.direction)))
            .collect();
        order_by.push(format!("seq {}", direction_sql(tie_direction)));

        let key_columns: String = key_exprs.iter().map(|e| format!(", {e}")).collect();
        let sql = format!(
            "SELECT {COLUMNS}{key_columns} FROM documents WHERE {} ORDER BY {} LIMIT ?",
            conditions.join(" AND "),
            order_by.join(", ")
        );
        Ok(Self {
            sql,
            params,
            key_count: key_exprs.len(),
            order_tag,
        })
    }

    /// Runs the plan: up to `limit` items, each read from its row by `item`, and the cursor of
    /// the next page.
    pub(super) fn run<T>(
        mut self,
        conn: &Connection,
        limit: usize,
        item: RowReader<T>,
    ) -> Result<(Vec<T>, Option<String>), StoreError> {
        // One extra row tells whether another page follows.
        self.params.push(SqlValue::Integer(limit as i64 + 1));
        let mut stmt = conn.prepare_cached(&self.sql).map_err(internal)?;
        let mut rows = stmt
            .query(params_from_iter(self.params.iter()))
            .map_err(internal)?;
        let mut items = Vec::with_capacity(limit.min(128));
        // The sequence and sort keys of the page's last row, read only once the page is full:
        // the next page starts after them.
        let mut last: Option<(i64, Vec<SqlValue>)> = None;
        let mut more = false;
        while let Some(row) = rows.next().map_err(internal)? {
            if items.len() == limit {
                // The extra row: it is not read, only seen.
                more = true;
                break;
            }
            items.push(item(row).map_err(internal)??);
            if items.len() == limit {
                let keys = (0..self.key_count)
                    .map(|i| row.get::<_, SqlValue>(5 + i))
                    .collect::<rusqlite::Result<Vec<_>>>()
                    .map_err(internal)?;
                last = Some((row.get(0).map_err(internal)?, keys));
            }
        }
        let next_cursor = match (more, last) {
            (true, Some((seq, keys))) => Some(encode_cursor(&CursorData {
                o: self.order_tag,
                k: keys.iter().map(sql_to_json).collect(),
                s: seq,
            })?),
            _ => None,
        };
        Ok((items, next_cursor))
    }
}

pub(super) fn direction_sql(direction: SortDirection) -> &'static str {
    match direction {
        SortDirection::Asc => "ASC",
        SortDirection::Desc => "DESC",
    }
}

/// `'$."a"."b"'`: segments are `[A-Za-z0-9_]+` (checked by the parser), so quoting is safe.
pub(super) fn json_path(segments: &[String]) -> String {
    let mut path = String::from("'$");
    for segment in segments {
        path.push_str(".\"");
        path.push_str(segment);
        path.push('"');
    }
    path.push('\'');
    path
}

pub(super) fn field_expr(field: &FieldPath) -> String {
    match field {
        FieldPath::Id => "id".into(),
        FieldPath::CreationTime => "creation_time".into(),
        FieldPath::User(segments) => format!("json_extract(doc, {})", json_path(segments)),
    }
}

pub(super) fn literal_sql(literal: &Literal) -> SqlValue {
    match literal {
        Literal::Bool(b) => SqlValue::Integer(i64::from(*b)),
        Literal::Int(i) => SqlValue::Integer(*i),
        Literal::Float(f) => SqlValue::Real(*f),
        Literal::Str(s) => SqlValue::Text(s.clone()),
        // Only system columns bind a literal directly, and they were given the number alone.
        Literal::NumberOrText(number, _) => literal_sql(number),
    }
}

/// The condition for one filter. Every comparison on a user field is guarded by the value's JSON
/// type, so `30` never matches `"30"` or `true`, and a string never compares with a number.
pub(super) fn filter_sql(filter: &Filter, params: &mut Vec<SqlValue>) -> String {
    let cond = match &filter.field {
        FieldPath::User(segments) => user_filter_sql(segments, &filter.op, params),
        system => system_filter_sql(&field_expr(system), &filter.op, params),
    };
    if filter.negated {
        format!("NOT COALESCE(({cond}), 0)")
    } else {
        cond
    }
}

pub(super) fn user_filter_sql(
    segments: &[String],
    op: &FilterOp,
    params: &mut Vec<SqlValue>,
) -> String {
    let path = json_path(segments);
    let value = format!("json_extract(doc, {path})");
    let ty = format!("json_type(doc, {path})");
    // One typed comparison. Booleans are matched by their JSON type alone; numbers and strings
    // are bound as parameters and compared only with values of their own type.
    fn compare(
        literal: &Literal,
        comparison: &str,
        (value, ty): (&str, &str),
        params: &mut Vec<SqlValue>,
    ) -> String {
        let guard = match literal {
            Literal::Bool(b) => return format!("COALESCE({ty}, '') = '{b}'"),
            // The number, or a string spelled the same: `json_extract` gives a string's text,
            // which never equals a number (SQLite compares no-affinity values by type first).
            Literal::NumberOrText(number, text) => {
                let number = compare(number, comparison, (value, ty), params);
                params.push(SqlValue::Text(text.clone()));
                return format!("({number} OR {value} = ?)");
            }
            Literal::Int(_) | Literal::Float(_) => "IN ('integer', 'real')",
            // `json_extract` yields a string's text, a number as a number and an object or
            // array as JSON text starting with `{` or `[`. So a text literal that cannot be
            // such JSON text is equal only to a string, and the type check (which parses the
            // document again for every row) can go.
            Literal::Str(s) if comparison == "=" && !s.starts_with(['{', '[']) => {
                params.push(literal_sql(literal));
                return format!("{value} = ?");
            }
            Literal::Str(_) => "= 'text'",
        };
        params.push(literal_sql(literal));
        format!("({ty} {guard} AND {value} {comparison} ?)")
    }
    let mut compare =
        |literal: &Literal, comparison: &str| compare(literal, comparison, (&value, &ty), params);
    match op {
        FilterOp::Eq(l) => compare(l, "="),
        FilterOp::Neq(l) => format!(
            "(COALESCE({ty}, 'null') <> 'null' AND NOT {})",
            compare(l, "=")
        ),
        FilterOp::Gt(l) => compare(l, ">"),
        FilterOp::Gte(l) => compare(l, ">="),
        FilterOp::Lt(l) => compare(l, "<"),
        FilterOp::Lte(l) => compare(l, "<="),
        FilterOp::In(literals) => {
            let parts: Vec<String> = literals.iter().map(|l| compare(l, "=")).collect();
            format!("({})", parts.join(" OR "))
        }
        FilterOp::Like(pattern) => {
            params.push(SqlValue::Text(like_to_glob(pattern)));
            format!("({ty} = 'text' AND {value} GLOB ?)")
        }
        FilterOp::Ilike(pattern) => {
            params.push(SqlValue::Text(like_to_glob(&pattern.to_ascii_lowercase())));
            format!("({ty} = 'text' AND lower({value}) GLOB ?)")
        }
        FilterOp::IsNull => format!("COALESCE({ty}, 'null') = 'null'"),
        FilterOp::IsTrue => format!("COALESCE({ty}, '') = 'true'"),
        FilterOp::IsFalse => format!("COALESCE({ty}, '') = 'false'"),
    }
}

/// System columns have fixed types (the parser has already coerced literals to match).
pub(super) fn system_filter_sql(column: &str, op: &FilterOp, params: &mut Vec<SqlValue>) -> String {
    let (operator, literal) = match op {
        FilterOp::Eq(l) => ("=", l),
        FilterOp::Neq(l) => ("<>", l),
        FilterOp::Gt(l) => (">", l),
        FilterOp::Gte(l) => (">=", l),
        FilterOp::Lt(l) => ("<", l),
        FilterOp::Lte(l) => ("<=", l),
        FilterOp::In(literals) => {
            params.extend(literals.iter().map(literal_sql));
            return format!("{column} IN ({})", vec!["?"; literals.len()].join(", "));
        }
        // System fields are never null and are not booleans or free text.
        FilterOp::IsNull | FilterOp::IsTrue | FilterOp::IsFalse => return "0".into(),
        FilterOp::Like(_) | FilterOp::Ilike(_) => return "0".into(),
    };
    params.push(literal_sql(literal));
    format!("{column} {operator} ?")
}

/// PostgREST's `*` wildcard to a SQLite GLOB pattern, escaping GLOB's own special characters.
pub(super) fn like_to_glob(pattern: &str) -> String {
    let mut glob = String::with_capacity(pattern.len() + 4);
    for c in pattern.chars() {
        match c {
            '?' => glob.push_str("[?]"),
            '[' => glob.push_str("[[]"),
            ']' => glob.push_str("[]]"),
            other => glob.push(other),
        }
    }
    glob
}

/// "After the cursor" in the query's order. SQLite sorts NULL first ascending and last
/// descending; the expansion below follows that exactly, and `seq` breaks ties.
pub(super) fn keyset_sql(
    order: &[OrderKey],
    exprs: &[String],
    values: &[SqlValue],
    seq: i64,
    tie_direction: SortDirection,
    params: &mut Vec<SqlValue>,
) -> String {
    let tie_op = match tie_direction {
        SortDirection::Asc => ">",
        SortDirection::Desc => "<",
    };
    // System columns are never NULL; with one direction throughout, a row-value comparison lets
    // SQLite walk the index.
    let all_system = order.iter().all(|k| !matches!(k.field, FieldPath::User(_)));
    let one_direction = order.iter().all(|k| k.direction == tie_direction);
    if all_system && one_direction {
        params.extend(values.iter().cloned());
        params.push(SqlValue::Integer(seq));
        let placeholders = vec!["?"; values.len() + 1].join(", ");
        return format!("({}, seq) {tie_op} ({placeholders})", exprs.join(", "));
    }
    let mut alternatives = Vec::with_capacity(order.len() + 1);
    for i in 0..=order.len() {
        let mut parts = Vec::with_capacity(i + 1);
        for j in 0..i {
            params.push(values[j].clone());
            parts.push(format!("{} IS ?", exprs[j]));
        }
        if i == order.len() {
            params.push(SqlValue::Integer(seq));
            parts.push(format!("seq {tie_op} ?"));
        } else {
            let expr = &exprs[i];
            let after = match (order[i].direction, &values[i]) {
                (SortDirection::Asc, SqlValue::Null) => format!("{expr} IS NOT NULL"),
                (SortDirection::Desc, SqlValue::Null) => "0".to_owned(),
                (SortDirection::Asc, v) => {
                    params.push(v.clone());
                    format!("{expr} > ?")
                }
                (SortDirection::Desc, v) => {
                    params.push(v.clone());
                    format!("({expr} < ? OR {expr} IS NULL)")
                }
            };
            parts.push(after);
        }
        alternatives.push(format!("({})", parts.join(" AND ")));
    }
    format!("({})", alternatives.join(" OR "))
}

pub(super) fn sql_to_json(value: &SqlValue) -> serde_json::Value {
    match value {
        SqlValue::Null => serde_json::Value::Null,
        SqlValue::Integer(i) => serde_json::Value::from(*i),
        SqlValue::Real(f) => serde_json::Value::from(*f),
        SqlValue::Text(s) => serde_json::Value::String(s.clone()),
        // json_extract never yields blobs; keep the cursor valid anyway.
        SqlValue::Blob(_) => serde_json::Value::Null,
    }
}

pub(super) fn json_to_sql(value: &serde_json::Value) -> Result<SqlValue, StoreError> {
    Ok(match value {
        serde_json::Value::Null => SqlValue::Null,
        serde_json::Value::Number(n) => match n.as_i64() {
            Some(i) => SqlValue::Integer(i),
            None => SqlValue::Real(n.as_f64().unwrap_or_default()),
        },
        serde_json::Value::String(s) => SqlValue::Text(s.clone()),
        _ => return Err(bad_cursor()),
    })
}

pub(super) fn encode_cursor(data: &CursorData) -> Result<String, StoreError> {
    let json = serde_json::to_vec(data)
        .map_err(|err| StoreError::Internal(anyhow::Error::new(err).context("encoding cursor")))?;
    Ok(URL_SAFE_NO_PAD.encode(json))
}

pub(super) fn decode_cursor(raw: &str) -> Result<CursorData, StoreError> {
    let bytes = URL_SAFE_NO_PAD.decode(raw).map_err(|_| bad_cursor())?;
    serde_json::from_slice(&bytes).map_err(|_| bad_cursor())
}

pub(super) fn bad_cursor() -> StoreError {
    StoreError::InvalidCursor("the cursor is not one this gateway issued".into())
}

#[cfg(test)]
mod tests {
    use base64::Engine as _;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;

    use super::*;

    #[test]
    fn glob_translation_escapes_glob_syntax() {
        assert_eq!(like_to_glob("a*b"), "a*b");
        assert_eq!(like_to_glob("what?"), "what[?]");
        assert_eq!(like_to_glob("[x]"), "[[]x[]]");
    }

    #[test]
    fn json_paths_are_quoted() {
        assert_eq!(json_path(&["a".into(), "b_1".into()]), "'$.\"a\".\"b_1\"'");
    }

    #[test]
    fn cursors_round_trip_and_reject_garbage() {
        let data = CursorData {
            o: "_creationTime.ASC".into(),
            k: vec![serde_json::json!(1.5), serde_json::Value::Null],
            s: 7,
        };
        let decoded = decode_cursor(&encode_cursor(&data).unwrap()).unwrap();
        assert_eq!(decoded.o, data.o);
        assert_eq!(decoded.k, data.k);
        assert_eq!(decoded.s, 7);
        assert!(decode_cursor("not base64!").is_err());
        assert!(decode_cursor(&URL_SAFE_NO_PAD.encode("{}")).is_err());
    }
}
