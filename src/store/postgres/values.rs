//! Fields to columns: each value is checked against its column's type before any SQL runs, so a
//! wrong value answers `400` naming the field instead of reaching Postgres as an SQL error, and
//! the checked fields become the one JSON object that `jsonb_populate_record` turns into a row.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Map, Value};

use super::catalog::{Column, Kind, TableInfo};
use crate::store::{Fields, StoreError};

/// The fields as the row object for `jsonb_populate_record`, with the columns they set, in the
/// order of `fields`.
pub(crate) fn row_object<'t>(
    table: &'t TableInfo,
    fields: &Fields,
) -> Result<(Vec<&'t Column>, Value), StoreError> {
    let mut columns = Vec::with_capacity(fields.len());
    let mut row = Map::with_capacity(fields.len());
    for (name, value) in fields {
        let column = table.require(name)?;
        if column.generated {
            return Err(invalid(
                name,
                format!(
                    "`{name}` is a generated column: Postgres computes it, and it cannot be written"
                ),
            ));
        }
        row.insert(name.clone(), checked(column, name, value)?);
        columns.push(column);
    }
    Ok((columns, Value::Object(row)))
}

/// The value as `jsonb_populate_record` reads it for the column, or why it does not fit.
fn checked(column: &Column, field: &str, value: &Value) -> Result<Value, StoreError> {
    if value.is_null() {
        return Ok(Value::Null);
    }
    convert(&column.kind, value).map_err(|expected| {
        invalid(
            field,
            format!(
                "`{field}` is a {} column and needs {expected}, not {}",
                column.sql_type,
                describe(value)
            ),
        )
    })
}

fn convert(kind: &Kind, value: &Value) -> Result<Value, &'static str> {
    match (kind, value) {
        (Kind::Json, v) => {
            // Whole floats become integers, as every store keeps JSON numbers.
            let mut wrapped = Map::from_iter([(String::new(), v.clone())]);
            crate::store::normalize_numbers(&mut wrapped);
            Ok(wrapped.remove("").unwrap_or(Value::Null))
        }
        (Kind::Text, Value::String(s)) if !s.contains('\0') => Ok(value.clone()),
        (Kind::Text, _) => Err("a string (without NUL characters)"),
        (Kind::Uuid, Value::String(s)) if uuid::Uuid::parse_str(s).is_ok() => Ok(value.clone()),
        (Kind::Uuid, _) => Err("a UUID string"),
        (Kind::Int { min, max }, Value::Number(n)) => match n.as_i64() {
            Some(i) if (*min..=*max).contains(&i) => Ok(value.clone()),
            _ => Err("a whole number within the column's range"),
        },
        (Kind::Int { .. }, _) => Err("a whole number"),
        (Kind::Float | Kind::Numeric, Value::Number(_)) => Ok(value.clone()),
        // A decimal in a string reaches numeric exactly, beyond what a JSON number parsed as a
        // double holds.
        (Kind::Numeric, Value::String(s)) if is_decimal(s) => Ok(value.clone()),
        (Kind::Numeric, _) => Err("a number, or a decimal in a string"),
        (Kind::Float, _) => Err("a number"),
        (Kind::Bool, Value::Bool(_)) => Ok(value.clone()),
        (Kind::Bool, _) => Err("true or false"),
        (Kind::Bytea, Value::String(s)) => STANDARD
            .decode(s)
            .map(|bytes| Value::String(format!("\\x{}", hex(&bytes))))
            .map_err(|_| "a base64 string"),
        (Kind::Bytea, _) => Err("a base64 string"),
        (Kind::Array(inner), Value::Array(items)) => items
            .iter()
            .map(|item| match item {
                Value::Null => Ok(Value::Null),
                // Nested arrays are the dimensions of a multidimensional array.
                Value::Array(_) => convert(kind, item),
                other => convert(inner, other),
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Value::Array)
            .map_err(|_| "an array whose items fit the element type"),
        (Kind::Array(_), _) => Err("an array"),
        (Kind::Other, Value::String(s)) if !s.contains('\0') => Ok(value.clone()),
        (Kind::Other, Value::Number(_) | Value::Bool(_)) => Ok(value.clone()),
        (Kind::Other, _) => Err("a string in the type's text form"),
    }
}

/// `-12.50`, `3`, `.5`: an optional sign, digits with at most one point, at least one digit.
fn is_decimal(s: &str) -> bool {
    let digits = s.strip_prefix(['-', '+']).unwrap_or(s);
    let mut parts = digits.splitn(2, '.');
    let whole = parts.next().unwrap_or("");
    let fraction = parts.next().unwrap_or("");
    !(whole.is_empty() && fraction.is_empty())
        && s.len() <= 1000
        && whole.chars().all(|c| c.is_ascii_digit())
        && fraction.chars().all(|c| c.is_ascii_digit())
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut out, b| {
            let _ = write!(out, "{b:02x}");
            out
        })
}

fn describe(value: &Value) -> String {
    match value {
        Value::Null => "null".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(_) => "this string".into(),
        Value::Array(_) => "an array".into(),
        Value::Object(_) => "an object".into(),
    }
}

pub(crate) fn invalid(field: &str, message: String) -> StoreError {
    StoreError::InvalidValue {
        field: Some(field.to_owned()),
        message,
    }
}

/// A key value as the key column's type admits it, or `None` when no row can have it (so a
/// lookup by it finds nothing rather than failing).
pub(crate) fn key_text(key: &Column, id: &str) -> Option<String> {
    let fits = match &key.kind {
        Kind::Uuid => uuid::Uuid::parse_str(id).is_ok(),
        Kind::Int { min, max } => id.parse::<i64>().is_ok_and(|i| (*min..=*max).contains(&i)),
        Kind::Text | Kind::Other => !id.contains('\0'),
        _ => false,
    };
    fits.then(|| id.to_owned())
}

/// Postgres's bytea hex text (`\x0a0b`) as base64, for rows the change log holds as JSON.
pub(crate) fn bytea_hex_to_base64(text: &str) -> Option<String> {
    let digits = text.strip_prefix("\\x")?;
    let bytes = (0..digits.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(digits.get(i..i + 2)?, 16).ok())
        .collect::<Option<Vec<u8>>>()?;
    Some(STANDARD.encode(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn values_are_checked_against_their_kind() {
        let int4 = Kind::Int {
            min: i64::from(i32::MIN),
            max: i64::from(i32::MAX),
        };
        assert!(convert(&int4, &json!(5)).is_ok());
        assert!(convert(&int4, &json!(5_000_000_000_i64)).is_err());
        assert!(convert(&int4, &json!(1.5)).is_err());
        assert!(convert(&int4, &json!("5")).is_err());
        assert!(convert(&Kind::Uuid, &json!("not-a-uuid")).is_err());
        assert_eq!(
            convert(&Kind::Bytea, &json!("AAEC")).unwrap(),
            json!("\\x000102")
        );
        assert!(convert(&Kind::Bytea, &json!("***")).is_err());
        let ints = Kind::Array(Box::new(int4));
        assert!(convert(&ints, &json!([1, null, 3])).is_ok());
        assert!(convert(&ints, &json!([[1, 2], [3, 4]])).is_ok());
        assert!(convert(&ints, &json!([1, "x"])).is_err());
        assert_eq!(bytea_hex_to_base64("\\x000102").as_deref(), Some("AAEC"));
        assert!(bytea_hex_to_base64("\\x0").is_none());
        assert!(convert(&Kind::Numeric, &json!("-12345.678901234567890")).is_ok());
        for bad in ["", ".", "1.2.3", "1e5", "x", "--1"] {
            assert!(convert(&Kind::Numeric, &json!(bad)).is_err(), "{bad}");
        }
    }
}
