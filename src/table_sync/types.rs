//! The one mapping between Convex values (as `convex_encoded_json` writes them) and Postgres
//! columns (as `to_jsonb` reads a row and `jsonb_populate_record` writes one), used both ways.
//! A value that cannot be carried exactly is an error naming the field, never a silent change.
//!
//! | Convex | Postgres | notes |
//! |---|---|---|
//! | int64 (`$integer`) | int8 | exact over the whole range, beyond 2^53 too |
//! | float64, whole | int2, int4 (back as float64) | int8 comes back as int64 |
//! | float64 | float4, float8 | NaN and ±Infinity (`$float`) too |
//! | float64, int64 | numeric | back as float64 only while float64 holds it exactly |
//! | bytes (`$bytes`) | bytea | |
//! | string | text, varchar, uuid, enums and other types in their text form | |
//! | float64 (ms since the epoch) | timestamptz, timestamp (as UTC) | `_creationTime`'s unit |
//! | boolean | bool | |
//! | array | arrays of the element type | |
//! | any value | json, jsonb | kept as `convex_encoded_json`: plain JSON, except int64, bytes and special floats |
//! | null | NULL | a missing field is NULL too |

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Map, Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::store::postgres::catalog::{Column, Kind};
use crate::store::postgres::values::hex;

/// The largest integer a float64 holds exactly.
const EXACT: i64 = 1 << 53;

/// A value that cannot be carried to the other side.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{field}` cannot be carried: {reason}")]
pub struct Uncarried {
    /// The field (Convex) or column (Postgres) it was in.
    pub field: String,
    /// Why.
    pub reason: String,
}

/// A Convex value, decoded from `convex_encoded_json`.
enum Convex<'a> {
    Null,
    Bool(bool),
    Float(f64),
    Int(i64),
    Str(&'a str),
    Bytes(Vec<u8>),
    Array(&'a [Value]),
    Object,
}

fn decode(value: &Value) -> Result<Convex<'_>, String> {
    Ok(match value {
        Value::Null => Convex::Null,
        Value::Bool(b) => Convex::Bool(*b),
        Value::Number(n) => Convex::Float(n.as_f64().ok_or("a number out of range")?),
        Value::String(s) => Convex::Str(s),
        Value::Array(items) => Convex::Array(items),
        Value::Object(map) => match special(map) {
            Some(("$integer", Value::String(b64))) => Convex::Int(i64::from_le_bytes(
                eight(b64).ok_or("an `$integer` that is not 8 bytes of base64")?,
            )),
            Some(("$float", Value::String(b64))) => Convex::Float(f64::from_le_bytes(
                eight(b64).ok_or("a `$float` that is not 8 bytes of base64")?,
            )),
            Some(("$bytes", Value::String(b64))) => Convex::Bytes(
                STANDARD
                    .decode(b64)
                    .map_err(|_| "`$bytes` that is not base64")?,
            ),
            Some((key, _)) => return Err(format!("an object with the reserved key `{key}`")),
            None => Convex::Object,
        },
    })
}

/// The one `$`-key of an encoded special value.
fn special(map: &Map<String, Value>) -> Option<(&str, &Value)> {
    let (key, value) = map.iter().next()?;
    (map.len() == 1 && key.starts_with('$')).then_some((key.as_str(), value))
}

fn eight(b64: &str) -> Option<[u8; 8]> {
    STANDARD.decode(b64).ok()?.try_into().ok()
}

fn integer(i: i64) -> Value {
    json!({ "$integer": STANDARD.encode(i.to_le_bytes()) })
}

/// A float64 as Convex encodes it: a JSON number, or `$float` for NaN, ±Infinity and -0.
fn float(f: f64) -> Value {
    if f.is_finite() && !(f == 0.0 && f.is_sign_negative()) {
        serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)
    } else {
        json!({ "$float": STANDARD.encode(f.to_le_bytes()) })
    }
}

fn is_timestamp(column: &Column) -> bool {
    column.sql_type.starts_with("timestamp")
}

/// A Convex field's value as the row JSON for `column`.
pub fn to_postgres(column: &Column, field: &str, value: &Value) -> Result<Value, Uncarried> {
    let fail = |reason: String| Uncarried {
        field: field.to_owned(),
        reason: format!("{reason} for the {} column", column.sql_type),
    };
    convert_to_postgres(&column.kind, is_timestamp(column), value).map_err(fail)
}

fn convert_to_postgres(kind: &Kind, timestamp: bool, value: &Value) -> Result<Value, String> {
    let decoded = decode(value)?;
    Ok(match (kind, decoded) {
        (_, Convex::Null) => Value::Null,
        // Kept as Convex encodes it, so it comes back as it was.
        (Kind::Json, _) => {
            check_encoded(value)?;
            value.clone()
        }
        (Kind::Text | Kind::Uuid, Convex::Str(s)) if !s.contains('\0') => Value::from(s),
        (Kind::Int { min, max }, Convex::Int(i)) if (*min..=*max).contains(&i) => Value::from(i),
        (Kind::Int { min, max }, Convex::Float(f))
            if f.fract() == 0.0
                && f.abs() <= EXACT as f64
                && (*min..=*max).contains(&(f as i64)) =>
        {
            Value::from(f as i64)
        }
        (Kind::Float | Kind::Numeric, Convex::Float(f)) if f.is_finite() => {
            serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)
        }
        (Kind::Float | Kind::Numeric, Convex::Float(f)) => Value::from(special_text(f)),
        (Kind::Float, Convex::Int(i)) if i.abs() <= EXACT => Value::from(i),
        // A decimal in a string reaches numeric exactly.
        (Kind::Numeric, Convex::Int(i)) => Value::from(i.to_string()),
        (Kind::Bool, Convex::Bool(b)) => Value::from(b),
        (Kind::Bytea, Convex::Bytes(bytes)) => Value::from(format!("\\x{}", hex(&bytes))),
        (Kind::Array(inner), Convex::Array(items)) => Value::Array(
            items
                .iter()
                .map(|item| convert_to_postgres(inner, timestamp, item))
                .collect::<Result<_, _>>()?,
        ),
        (Kind::Other, Convex::Float(ms)) if timestamp => Value::from(from_millis(ms)?),
        (Kind::Other, Convex::Str(s)) if !s.contains('\0') => Value::from(s),
        (_, decoded) => return Err(format!("{} does not fit", describe(&decoded))),
    })
}

/// A row as `to_jsonb` wrote it (`text`), as an object. A number that a float64 does not hold
/// exactly (a `numeric` with more digits, or a whole number beyond the 64-bit range) is kept as
/// its text, which [`to_convex`] then refuses for that column, rather than rounded.
pub fn row_from_json(text: &str) -> Option<Map<String, Value>> {
    let mut row: Map<String, Value> = serde_json::from_str(text).ok()?;
    let raw: std::collections::HashMap<String, Box<serde_json::value::RawValue>> =
        serde_json::from_str(text).ok()?;
    for (column, value) in raw {
        let digits = value.get();
        if let Some(Value::Number(n)) = row.get(&column)
            && n.is_f64()
            && !digits.contains(['e', 'E'])
            && !same_decimal(digits, &n.as_f64().unwrap_or(f64::NAN).to_string())
        {
            row.insert(column, Value::String(digits.to_owned()));
        }
    }
    Some(row)
}

/// Two plain decimals (no exponent) are the same number.
fn same_decimal(a: &str, b: &str) -> bool {
    let plain = |s: &str| {
        let s = s.strip_prefix('+').unwrap_or(s);
        if s.contains('.') {
            s.trim_end_matches('0').trim_end_matches('.').to_owned()
        } else {
            s.to_owned()
        }
    };
    plain(a) == plain(b)
}

/// A Postgres column's value (from `to_jsonb` of the row) as a Convex value.
pub fn to_convex(column: &Column, value: &Value) -> Result<Value, Uncarried> {
    let fail = |reason: String| Uncarried {
        field: column.name.clone(),
        reason: format!("{reason} (a {} column)", column.sql_type),
    };
    convert_to_convex(&column.kind, is_timestamp(column), value).map_err(fail)
}

fn convert_to_convex(kind: &Kind, timestamp: bool, value: &Value) -> Result<Value, String> {
    Ok(match (kind, value) {
        (_, Value::Null) => Value::Null,
        (Kind::Json, _) => {
            check_encoded(value)?;
            value.clone()
        }
        (Kind::Int { min, .. }, Value::Number(n)) => {
            let i = n.as_i64().ok_or("not a whole number")?;
            if *min == i64::MIN {
                integer(i)
            } else {
                Value::from(i as f64)
            }
        }
        (Kind::Float, Value::Number(n)) => float(n.as_f64().ok_or("a number out of range")?),
        (Kind::Float | Kind::Numeric, Value::String(s)) => match s.as_str() {
            "NaN" => float(f64::NAN),
            "Infinity" => float(f64::INFINITY),
            "-Infinity" => float(f64::NEG_INFINITY),
            _ => return Err(format!("the number `{s}`")),
        },
        (Kind::Numeric, Value::Number(n)) => {
            if let Some(i) = n.as_i64()
                && i.abs() > EXACT
            {
                return Err(format!("{i} is beyond what a float64 holds exactly"));
            }
            float(n.as_f64().ok_or("a number out of range")?)
        }
        (Kind::Bool, Value::Bool(b)) => Value::from(*b),
        (Kind::Bytea, Value::String(s)) => {
            let bytes = s
                .strip_prefix("\\x")
                .and_then(unhex)
                .ok_or("bytea that is not hex")?;
            json!({ "$bytes": STANDARD.encode(bytes) })
        }
        (Kind::Array(inner), Value::Array(items)) => Value::Array(
            items
                .iter()
                .map(|item| convert_to_convex(inner, timestamp, item))
                .collect::<Result<_, _>>()?,
        ),
        (Kind::Other, Value::String(s)) if timestamp => float(to_millis(s)?),
        (Kind::Text | Kind::Uuid | Kind::Other, Value::String(s)) => Value::from(s.as_str()),
        (Kind::Other, Value::Number(n)) => float(n.as_f64().ok_or("a number out of range")?),
        (Kind::Other, Value::Bool(b)) => Value::from(*b),
        (_, other) => return Err(format!("the value {other} does not fit")),
    })
}

/// Checks that a JSON value is valid `convex_encoded_json` all the way down.
fn check_encoded(value: &Value) -> Result<(), String> {
    match decode(value)? {
        Convex::Array(items) => items.iter().try_for_each(check_encoded),
        Convex::Object => value
            .as_object()
            .into_iter()
            .flatten()
            .try_for_each(|(key, inner)| {
                if key.starts_with('$') {
                    return Err(format!("an object with the reserved key `{key}`"));
                }
                check_encoded(inner)
            }),
        _ => Ok(()),
    }
}

fn special_text(f: f64) -> &'static str {
    if f.is_nan() {
        "NaN"
    } else if f > 0.0 {
        "Infinity"
    } else {
        "-Infinity"
    }
}

/// Milliseconds since the epoch as an RFC 3339 timestamp (microseconds, as Postgres keeps).
fn from_millis(ms: f64) -> Result<String, String> {
    let micros = (ms * 1000.0).round();
    if !micros.is_finite() || micros.abs() > 9.0e18 {
        return Err(format!("{ms} ms is not a time Postgres holds"));
    }
    let at = OffsetDateTime::from_unix_timestamp_nanos(micros as i128 * 1000)
        .map_err(|_| format!("{ms} ms is not a time Postgres holds"))?;
    at.format(&Rfc3339).map_err(|err| err.to_string())
}

/// An RFC 3339 timestamp (a `timestamp` without an offset is read as UTC) in milliseconds.
fn to_millis(text: &str) -> Result<f64, String> {
    // The time part (after the date) holds no offset: the value is UTC.
    let naive = !text.ends_with('Z')
        && text
            .get(10..)
            .is_some_and(|time| !time.is_empty() && !time.contains(['+', '-']));
    let with_offset = if naive {
        format!("{text}Z")
    } else {
        text.to_owned()
    };
    let at = OffsetDateTime::parse(&with_offset, &Rfc3339)
        .map_err(|_| format!("the timestamp `{text}`"))?;
    Ok(at.unix_timestamp_nanos() as f64 / 1e6)
}

fn unhex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

fn describe(value: &Convex<'_>) -> &'static str {
    match value {
        Convex::Null => "null",
        Convex::Bool(_) => "a boolean",
        Convex::Float(_) => "a float64",
        Convex::Int(_) => "an int64",
        Convex::Str(_) => "a string",
        Convex::Bytes(_) => "bytes",
        Convex::Array(_) => "an array",
        Convex::Object => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn column(sql_type: &str, kind: Kind) -> Column {
        Column {
            name: "c".into(),
            ident: "\"c\"".into(),
            sql_type: sql_type.into(),
            kind,
            jsonb: true,
            generated: false,
            has_default: false,
            not_null: false,
        }
    }

    fn int8() -> Column {
        column(
            "bigint",
            Kind::Int {
                min: i64::MIN,
                max: i64::MAX,
            },
        )
    }

    /// Convex -> Postgres -> Convex gives back the same value.
    fn round_trip(column: &Column, convex: Value) -> Value {
        let row = to_postgres(column, "c", &convex).unwrap();
        let back = to_convex(column, &row).unwrap();
        assert_eq!(back, convex, "through {row}");
        row
    }

    #[test]
    fn every_type_of_the_table_round_trips() {
        let big = (1_i64 << 60) + 1;
        assert_eq!(round_trip(&int8(), integer(big)), json!(big));
        assert_eq!(round_trip(&int8(), integer(i64::MIN)), json!(i64::MIN));
        let int4 = column(
            "integer",
            Kind::Int {
                min: i32::MIN.into(),
                max: i32::MAX.into(),
            },
        );
        assert_eq!(round_trip(&int4, json!(42.0)), json!(42));
        let float8 = column("double precision", Kind::Float);
        round_trip(&float8, json!(1.5));
        for special in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY, -0.0] {
            let row = to_postgres(&float8, "c", &float(special)).unwrap();
            let back = to_convex(&float8, &row).unwrap();
            // -0 reaches Postgres as 0 (to_jsonb writes it so).
            if special != 0.0 {
                assert_eq!(back, float(special));
            }
        }
        let numeric = column("numeric", Kind::Numeric);
        assert_eq!(round_trip(&numeric, json!(12.25)), json!(12.25));
        assert_eq!(
            to_postgres(&numeric, "c", &integer(big)).unwrap(),
            json!(big.to_string())
        );
        let bytea = column("bytea", Kind::Bytea);
        let bytes = json!({"$bytes": STANDARD.encode([0_u8, 1, 254, 255])});
        assert_eq!(round_trip(&bytea, bytes), json!("\\x0001feff"));
        let text = column("text", Kind::Text);
        round_trip(&text, json!("héllo"));
        let boolean = column("boolean", Kind::Bool);
        round_trip(&boolean, json!(true));
        let tstz = column("timestamp with time zone", Kind::Other);
        assert_eq!(
            round_trip(&tstz, json!(1_796_208_000_123.0)),
            json!("2026-12-02T10:40:00.123Z")
        );
        let texts = column("text[]", Kind::Array(Box::new(Kind::Text)));
        round_trip(&texts, json!(["a", null, "b"]));
        let jsonb = column("jsonb", Kind::Json);
        round_trip(
            &jsonb,
            json!({"n": 1, "big": integer(big), "list": [1, "x", {"$bytes": "AA=="}]}),
        );
        for col in [
            &int8(),
            &float8,
            &numeric,
            &bytea,
            &text,
            &boolean,
            &tstz,
            &texts,
            &jsonb,
        ] {
            assert_eq!(round_trip(col, Value::Null), Value::Null);
        }
    }

    #[test]
    fn postgres_timestamps_without_an_offset_are_utc() {
        let ts = column("timestamp without time zone", Kind::Other);
        assert_eq!(
            to_convex(&ts, &json!("2026-12-02T10:40:00.123")).unwrap(),
            json!(1_796_208_000_123.0)
        );
        let tstz = column("timestamp with time zone", Kind::Other);
        assert_eq!(
            to_convex(&tstz, &json!("2026-12-02T11:40:00.123+01:00")).unwrap(),
            json!(1_796_208_000_123.0)
        );
    }

    #[test]
    fn numbers_a_float64_cannot_hold_are_kept_as_text_and_refused() {
        let row = row_from_json(
            r#"{"a": 0.1, "b": 1.50, "c": 0.12345678901234567890, "d": 123456789012345678901234567890, "e": 1e+100, "f": 9007199254740993}"#,
        )
        .unwrap();
        assert_eq!(row["a"], json!(0.1));
        assert_eq!(row["b"], json!(1.5));
        assert_eq!(row["c"], json!("0.12345678901234567890"));
        assert_eq!(row["d"], json!("123456789012345678901234567890"));
        assert_eq!(row["e"], json!(1e100));
        assert_eq!(row["f"], json!(9007199254740993_i64));
        let numeric = column("numeric", Kind::Numeric);
        let err = to_convex(&numeric, &row["c"]).unwrap_err();
        assert!(err.reason.contains("0.12345678901234567890"), "{err}");
    }

    #[test]
    fn what_cannot_be_carried_is_an_error_naming_the_field() {
        let int4 = column(
            "integer",
            Kind::Int {
                min: i32::MIN.into(),
                max: i32::MAX.into(),
            },
        );
        let float8 = column("double precision", Kind::Float);
        let numeric = column("numeric", Kind::Numeric);
        let text = column("text", Kind::Text);
        let jsonb = column("jsonb", Kind::Json);
        let cases = [
            (&int4, json!(1.5)),
            (&int4, integer(1 << 40)),
            (&float8, integer((1 << 53) + 1)),
            (&text, json!(3)),
            (&text, json!("nul\u{0}")),
            (&jsonb, json!({"$weird": 1})),
            (&jsonb, json!({"a": {"$integer": "short"}})),
        ];
        for (col, value) in cases {
            let err = to_postgres(col, "field", &value).unwrap_err();
            assert_eq!(err.field, "field", "{value}");
        }
        // Back: a numeric beyond float64's exact range, a jsonb that Convex could not hold.
        let err = to_convex(&numeric, &json!(9_007_199_254_740_993_i64)).unwrap_err();
        assert_eq!(err.field, "c");
        assert!(to_convex(&jsonb, &json!({"$x": 1})).is_err());
        let tstz = column("timestamp with time zone", Kind::Other);
        for odd in ["2026-12-0é", "ééééééééééééé", "", "yesterday"] {
            assert!(to_convex(&tstz, &json!(odd)).is_err(), "{odd}");
        }
        assert!(to_postgres(&tstz, "at", &json!(1e300)).is_err());
    }
}
