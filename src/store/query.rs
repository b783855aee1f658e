//! The list-query grammar: PostgREST-style filters (`field=op.value`), `order`, `limit` and an
//! opaque `cursor`, parsed into adapter-neutral types.
//!
//! Parsing is strict: anything the grammar does not cover is refused with a message, never
//! silently ignored, because a filter that is dropped would widen what a caller reads.

use std::fmt;

/// The default page size.
pub const DEFAULT_LIMIT: u32 = 100;
/// The largest page a caller may ask for.
pub const MAX_LIMIT: u32 = 1000;
/// The most values an `in.(…)` list may hold.
pub const MAX_IN_VALUES: usize = 100;
/// The most filters one query may carry.
pub const MAX_FILTERS: usize = 32;
/// The most keys an `order` may list.
pub const MAX_ORDER_KEYS: usize = 4;
/// The deepest dotted path a filter or order may name.
pub const MAX_PATH_DEPTH: usize = 8;

/// A field a filter or order names: a system field, or a dotted path into the user's fields.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum FieldPath {
    /// `_id`.
    Id,
    /// `_creationTime`.
    CreationTime,
    /// `a.b.c`: each segment is `[A-Za-z0-9_]+` and the first does not start with `_`.
    User(Vec<String>),
}

impl FieldPath {
    /// Parses `_id`, `_creationTime` or a dotted path.
    pub fn parse(raw: &str) -> Result<Self, String> {
        match raw {
            "_id" => return Ok(Self::Id),
            "_creationTime" => return Ok(Self::CreationTime),
            _ => {}
        }
        let segments: Vec<String> = raw.split('.').map(str::to_owned).collect();
        let valid_segment =
            |s: &String| !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !segments.iter().all(valid_segment) {
            return Err(format!(
                "`{raw}` is not a field path: use names of letters, digits and `_`, joined by `.`"
            ));
        }
        if segments.len() > MAX_PATH_DEPTH {
            return Err(format!(
                "`{raw}` is nested deeper than {MAX_PATH_DEPTH} levels"
            ));
        }
        if segments[0].starts_with('_') {
            return Err(format!(
                "`{raw}` is not a known system field (only `_id` and `_creationTime` are)"
            ));
        }
        Ok(Self::User(segments))
    }
}

impl fmt::Display for FieldPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Id => f.write_str("_id"),
            Self::CreationTime => f.write_str("_creationTime"),
            Self::User(segments) => f.write_str(&segments.join(".")),
        }
    }
}

/// A typed value from a filter. Unquoted `true`/`false` are booleans and JSON numbers are numbers;
/// everything else, or anything in double quotes, is a string.
#[derive(Debug, Clone, PartialEq)]
pub enum Literal {
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    /// An unquoted number in an equality (`eq`, `neq`, `in`): it equals that number, and also a
    /// string spelled exactly as written, so `twitchId=eq.2234567890` finds the string
    /// `"2234567890"` (as PostgREST does for a text column). The number is an `Int` or a `Float`.
    NumberOrText(Box<Literal>, String),
}

impl Literal {
    /// Parses one filter value.
    pub fn parse(raw: &str) -> Self {
        if let Some(inner) = raw.strip_prefix('"').and_then(|r| r.strip_suffix('"')) {
            return Self::Str(unescape_quoted(inner));
        }
        match raw {
            "true" => return Self::Bool(true),
            "false" => return Self::Bool(false),
            _ => {}
        }
        // Only JSON number syntax counts as a number: `inf`, `NaN` or `0x1` stay strings.
        if let Ok(serde_json::Value::Number(n)) = serde_json::from_str::<serde_json::Value>(raw) {
            if let Some(i) = n.as_i64() {
                return Self::Int(i);
            }
            if let Some(f) = n.as_f64() {
                return Self::Float(f);
            }
        }
        Self::Str(raw.to_owned())
    }

    /// [`Self::parse`] for an equality: an unquoted number may also match its text.
    pub fn parse_for_equality(raw: &str) -> Self {
        match Self::parse(raw) {
            number @ (Self::Int(_) | Self::Float(_)) => {
                Self::NumberOrText(Box::new(number), raw.to_owned())
            }
            other => other,
        }
    }

    /// The number alone: comparisons by order never match text.
    fn number_only(self) -> Self {
        match self {
            Self::NumberOrText(number, _) => *number,
            other => other,
        }
    }

    fn is_orderable(&self) -> bool {
        !matches!(self, Self::Bool(_))
    }
}

fn unescape_quoted(inner: &str) -> String {
    let mut out = String::with_capacity(inner.len());
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            if let Some(next) = chars.next() {
                out.push(next);
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// A filter operator with its operand.
#[derive(Debug, Clone, PartialEq)]
pub enum FilterOp {
    Eq(Literal),
    Neq(Literal),
    Gt(Literal),
    Gte(Literal),
    Lt(Literal),
    Lte(Literal),
    /// Case-sensitive pattern; `*` matches any run of characters.
    Like(String),
    /// Like `Like`, ignoring ASCII case.
    Ilike(String),
    In(Vec<Literal>),
    IsNull,
    IsTrue,
    IsFalse,
}

/// One `field=[not.]op.value` condition.
#[derive(Debug, Clone, PartialEq)]
pub struct Filter {
    pub field: FieldPath,
    pub op: FilterOp,
    /// `not.` inverts the condition (a missing field then matches).
    pub negated: bool,
}

impl Filter {
    /// Parses the right-hand side of `field=…`.
    pub fn parse(field: &str, expr: &str) -> Result<Self, String> {
        let field = FieldPath::parse(field)?;
        let (negated, expr) = match expr.strip_prefix("not.") {
            Some(rest) => (true, rest),
            None => (false, expr),
        };
        let (op, value) = expr.split_once('.').ok_or_else(|| {
            format!("`{field}={expr}` needs an operator, for example `{field}=eq.value`")
        })?;
        let op = match op {
            "eq" => FilterOp::Eq(Literal::parse_for_equality(value)),
            "neq" => FilterOp::Neq(Literal::parse_for_equality(value)),
            "gt" | "gte" | "lt" | "lte" => {
                let literal = Literal::parse(value);
                if !literal.is_orderable() {
                    return Err(format!(
                        "`{op}` compares numbers or strings; use `eq` or `is` for booleans"
                    ));
                }
                match op {
                    "gt" => FilterOp::Gt(literal),
                    "gte" => FilterOp::Gte(literal),
                    "lt" => FilterOp::Lt(literal),
                    _ => FilterOp::Lte(literal),
                }
            }
            "like" => FilterOp::Like(value.to_owned()),
            "ilike" => FilterOp::Ilike(value.to_owned()),
            "in" => FilterOp::In(parse_in_list(value)?),
            "is" => match value {
                "null" => FilterOp::IsNull,
                "true" => FilterOp::IsTrue,
                "false" => FilterOp::IsFalse,
                other => {
                    return Err(format!(
                        "`is.{other}` is not supported: use `is.null`, `is.true` or `is.false`"
                    ));
                }
            },
            other => {
                return Err(format!(
                    "unknown operator `{other}`: use eq, neq, gt, gte, lt, lte, like, ilike, in or is"
                ));
            }
        };
        let op = match field {
            FieldPath::User(_) => op,
            FieldPath::Id => op.coerce_literals(|l| Ok(Literal::Str(l.to_text()))).map_err(
                |()| "`_id` supports eq, neq, in, gt, gte, lt and lte".to_owned(),
            )?,
            FieldPath::CreationTime => op
                .coerce_literals(|l| match l.number_only() {
                    number @ (Literal::Int(_) | Literal::Float(_)) => Ok(number),
                    _ => Err(()),
                })
                .map_err(|()| {
                    "`_creationTime` is a number in milliseconds and supports eq, neq, in, gt, gte, lt and lte".to_owned()
                })?,
        };
        Ok(Self { field, op, negated })
    }
}

impl Literal {
    /// The literal as text, for fields that only hold strings (`_id`).
    fn to_text(&self) -> String {
        match self {
            Self::Bool(b) => b.to_string(),
            Self::Int(i) => i.to_string(),
            Self::Float(f) => f.to_string(),
            Self::Str(s) | Self::NumberOrText(_, s) => s.clone(),
        }
    }
}

impl FilterOp {
    /// Maps every operand through `f`; operators without a literal operand are refused, since
    /// system fields are never null, boolean or free text.
    fn coerce_literals(self, f: impl Fn(Literal) -> Result<Literal, ()>) -> Result<Self, ()> {
        Ok(match self {
            Self::Eq(l) => Self::Eq(f(l)?),
            Self::Neq(l) => Self::Neq(f(l)?),
            Self::Gt(l) => Self::Gt(f(l)?),
            Self::Gte(l) => Self::Gte(f(l)?),
            Self::Lt(l) => Self::Lt(f(l)?),
            Self::Lte(l) => Self::Lte(f(l)?),
            Self::In(ls) => Self::In(ls.into_iter().map(f).collect::<Result<_, _>>()?),
            Self::Like(_) | Self::Ilike(_) | Self::IsNull | Self::IsTrue | Self::IsFalse => {
                return Err(());
            }
        })
    }
}

impl Filter {
    /// Whether `doc` passes the filter, with the same typed semantics as the stores: values
    /// compare only with values of their own type, `neq` needs a present value, `is.null` also
    /// matches a missing field, and `not.` inverts. Used for documents a transaction staged.
    pub fn matches(&self, doc: &super::Document) -> bool {
        use serde_json::Value;
        let value: Option<Value> = match &self.field {
            FieldPath::Id => Some(Value::String(doc.id.clone())),
            FieldPath::CreationTime => doc.creation_time.map(Value::from),
            FieldPath::User(segments) => {
                let mut current = doc.fields.get(&segments[0]);
                for segment in &segments[1..] {
                    current = current.and_then(|v| v.get(segment));
                }
                current.cloned()
            }
        };
        fn same(literal: &Literal, value: Option<&Value>) -> bool {
            match (literal, value) {
                (Literal::Bool(b), Some(Value::Bool(v))) => b == v,
                (Literal::Int(i), Some(Value::Number(n))) => n.as_f64() == Some(*i as f64),
                (Literal::Float(f), Some(Value::Number(n))) => n.as_f64() == Some(*f),
                (Literal::Str(s), Some(Value::String(v))) => s == v,
                (Literal::NumberOrText(_, text), Some(Value::String(v))) => text == v,
                (Literal::NumberOrText(number, _), value) => same(number, value),
                _ => false,
            }
        }
        let same = |literal: &Literal| same(literal, value.as_ref());
        let compare = |literal: &Literal| -> Option<std::cmp::Ordering> {
            match (literal, &value) {
                (Literal::Int(i), Some(Value::Number(n))) => n.as_f64()?.partial_cmp(&(*i as f64)),
                (Literal::Float(f), Some(Value::Number(n))) => n.as_f64()?.partial_cmp(f),
                (Literal::Str(s), Some(Value::String(v))) => Some(v.as_str().cmp(s.as_str())),
                _ => None,
            }
        };
        let pattern = |pattern: &str, fold: bool| match &value {
            Some(Value::String(v)) => {
                let (v, p) = if fold {
                    (v.to_ascii_lowercase(), pattern.to_ascii_lowercase())
                } else {
                    (v.clone(), pattern.to_owned())
                };
                wildcard_match(&p, &v)
            }
            _ => false,
        };
        use std::cmp::Ordering::{Equal, Greater, Less};
        let result = match &self.op {
            FilterOp::Eq(l) => same(l),
            FilterOp::Neq(l) => !matches!(value, None | Some(Value::Null)) && !same(l),
            FilterOp::Gt(l) => compare(l) == Some(Greater),
            FilterOp::Gte(l) => matches!(compare(l), Some(Greater | Equal)),
            FilterOp::Lt(l) => compare(l) == Some(Less),
            FilterOp::Lte(l) => matches!(compare(l), Some(Less | Equal)),
            FilterOp::Like(p) => pattern(p, false),
            FilterOp::Ilike(p) => pattern(p, true),
            FilterOp::In(ls) => ls.iter().any(same),
            FilterOp::IsNull => matches!(value, None | Some(Value::Null)),
            FilterOp::IsTrue => value == Some(Value::Bool(true)),
            FilterOp::IsFalse => value == Some(Value::Bool(false)),
        };
        result != self.negated
    }
}

/// `*` matches any run of characters; everything else matches itself.
fn wildcard_match(pattern: &str, text: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern == text;
    }
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !text.starts_with(first) || !text[first.len()..].ends_with(last) {
        return false;
    }
    let mut rest = &text[first.len()..text.len() - last.len()];
    for part in &parts[1..parts.len() - 1] {
        match rest.find(part) {
            Some(at) => rest = &rest[at + part.len()..],
            None => return false,
        }
    }
    true
}

/// Parses `(a,b,"c,d")`.
fn parse_in_list(raw: &str) -> Result<Vec<Literal>, String> {
    let inner = raw
        .strip_prefix('(')
        .and_then(|r| r.strip_suffix(')'))
        .ok_or_else(|| format!("`in.{raw}` must be a list in parentheses, like `in.(a,b)`"))?;
    let mut values = Vec::new();
    let mut current = String::new();
    let mut in_quotes = false;
    let mut escaped = false;
    for c in inner.chars() {
        match c {
            _ if escaped => {
                current.push(c);
                escaped = false;
            }
            '\\' if in_quotes => {
                current.push(c);
                escaped = true;
            }
            '"' => {
                in_quotes = !in_quotes;
                current.push(c);
            }
            ',' if !in_quotes => {
                values.push(Literal::parse_for_equality(&std::mem::take(&mut current)));
            }
            _ => current.push(c),
        }
    }
    if in_quotes {
        return Err(format!("`in.{raw}` has an unclosed quote"));
    }
    if !inner.is_empty() {
        values.push(Literal::parse_for_equality(&current));
    }
    if values.is_empty() {
        return Err("`in.()` needs at least one value".into());
    }
    if values.len() > MAX_IN_VALUES {
        return Err(format!("`in` takes at most {MAX_IN_VALUES} values"));
    }
    Ok(values)
}

/// Sort direction of one order key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SortDirection {
    Asc,
    Desc,
}

/// One key of `order=`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct OrderKey {
    pub field: FieldPath,
    pub direction: SortDirection,
}

/// Last segments that read as a direction but are not one: refused with a hint, never taken
/// as a field path.
const DIRECTION_LIKE: [&str; 10] = [
    "ascending",
    "descending",
    "up",
    "down",
    "dsc",
    "des",
    "increasing",
    "decreasing",
    "reverse",
    "rev",
];

/// Parses `a.b.desc,c` into order keys, PostgREST's way: `field[.asc|.desc][.nullsfirst|.nullslast]`.
///
/// - The direction is case-insensitive (`DESC`), and the last dotted segment is a direction only
///   when it is `asc` or `desc`, so a field named `asc` needs an explicit one (`asc.asc`).
/// - A last segment that looks like a direction (`down`, `descending`) is refused with a hint;
///   a field of that name needs an explicit direction too (`down.asc`).
/// - Nulls (and missing values) sort first ascending and last descending on every store (Convex's
///   index order), so `nullsfirst`/`nullslast` are accepted where they say that and refused
///   where they ask for the other placement.
pub fn parse_order(raw: &str) -> Result<Vec<OrderKey>, String> {
    let mut keys = Vec::new();
    for part in raw.split(',') {
        let part = part.trim();
        if part.is_empty() {
            return Err(format!("`order={raw}` has an empty key"));
        }
        let (mut field, mut nulls) = (part, None);
        if let Some((rest, last)) = part.rsplit_once('.') {
            let last = last.to_ascii_lowercase();
            if last == "nullsfirst" || last == "nullslast" {
                field = rest;
                nulls = Some(last);
            }
        }
        let (field, direction) = match field.rsplit_once('.') {
            Some((path, last)) if last.eq_ignore_ascii_case("asc") => (path, SortDirection::Asc),
            Some((path, last)) if last.eq_ignore_ascii_case("desc") => (path, SortDirection::Desc),
            Some((_, last)) if DIRECTION_LIKE.contains(&last.to_ascii_lowercase().as_str()) => {
                return Err(format!(
                    "`{part}`: `{last}` is not a direction; use `asc` or `desc` (a field named `{last}` needs one: `{field}.asc`)"
                ));
            }
            _ => (field, SortDirection::Asc),
        };
        match (direction, nulls.as_deref()) {
            (SortDirection::Asc, Some("nullslast")) | (SortDirection::Desc, Some("nullsfirst")) => {
                return Err(format!(
                    "`{part}` cannot be served: nulls and missing values sort first in ascending order and last in descending order, on every store"
                ));
            }
            _ => {}
        }
        let field = FieldPath::parse(field)?;
        if keys.iter().any(|k: &OrderKey| k.field == field) {
            return Err(format!("`order` names `{field}` twice"));
        }
        keys.push(OrderKey { field, direction });
    }
    if keys.len() > MAX_ORDER_KEYS {
        return Err(format!("`order` takes at most {MAX_ORDER_KEYS} keys"));
    }
    Ok(keys)
}

/// Which part of a list query was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueryErrorKind {
    Filter,
    Order,
    Limit,
    Cursor,
}

/// A list query that could not be parsed.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct QueryError {
    pub kind: QueryErrorKind,
    pub message: String,
}

impl QueryError {
    fn new(kind: QueryErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
        }
    }
}

/// A parsed list request.
#[derive(Debug, Clone, PartialEq)]
pub struct ListQuery {
    /// All must hold (AND).
    pub filters: Vec<Filter>,
    /// Never empty: defaults to `_creationTime.asc`.
    pub order: Vec<OrderKey>,
    /// 1 to [`MAX_LIMIT`].
    pub limit: u32,
    /// An adapter-specific opaque cursor from a previous page.
    pub cursor: Option<String>,
}

impl Default for ListQuery {
    fn default() -> Self {
        Self {
            filters: Vec::new(),
            order: vec![OrderKey {
                field: FieldPath::CreationTime,
                direction: SortDirection::Asc,
            }],
            limit: DEFAULT_LIMIT,
            cursor: None,
        }
    }
}

impl ListQuery {
    /// The order as a stable string (`score.desc,_creationTime.asc`), which cursors carry so a
    /// cursor is only ever used with the order it was made for.
    pub fn order_tag(&self) -> String {
        self.order
            .iter()
            .map(|k| {
                let direction = match k.direction {
                    SortDirection::Asc => "asc",
                    SortDirection::Desc => "desc",
                };
                format!("{}.{direction}", k.field)
            })
            .collect::<Vec<_>>()
            .join(",")
    }

    /// Parses decoded query-string pairs. `order`, `limit` and `cursor` are reserved; every other
    /// key is a filter on the field it names.
    pub fn from_pairs(
        pairs: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Self, QueryError> {
        use QueryErrorKind as K;
        let mut query = Self::default();
        let (mut seen_order, mut seen_limit, mut seen_cursor) = (false, false, false);
        for (key, value) in pairs {
            match key.as_str() {
                "order" => {
                    if std::mem::replace(&mut seen_order, true) {
                        return Err(QueryError::new(K::Order, "`order` is given twice"));
                    }
                    query.order = parse_order(&value).map_err(|m| QueryError::new(K::Order, m))?;
                }
                "limit" => {
                    if std::mem::replace(&mut seen_limit, true) {
                        return Err(QueryError::new(K::Limit, "`limit` is given twice"));
                    }
                    query.limit = value
                        .parse::<u32>()
                        .ok()
                        .filter(|l| (1..=MAX_LIMIT).contains(l))
                        .ok_or_else(|| {
                            QueryError::new(
                                K::Limit,
                                format!(
                                    "`limit={value}` must be a whole number from 1 to {MAX_LIMIT}"
                                ),
                            )
                        })?;
                }
                "cursor" => {
                    if std::mem::replace(&mut seen_cursor, true) {
                        return Err(QueryError::new(K::Cursor, "`cursor` is given twice"));
                    }
                    if value.is_empty() {
                        return Err(QueryError::new(K::Cursor, "`cursor` is empty"));
                    }
                    query.cursor = Some(value);
                }
                "offset" | "select" | "or" | "and" => {
                    return Err(QueryError::new(
                        K::Filter,
                        format!(
                            "`{key}` is not supported; page with `cursor` and filter with `field=op.value`"
                        ),
                    ));
                }
                _ => {
                    let filter =
                        Filter::parse(&key, &value).map_err(|m| QueryError::new(K::Filter, m))?;
                    query.filters.push(filter);
                    if query.filters.len() > MAX_FILTERS {
                        return Err(QueryError::new(
                            K::Filter,
                            format!("at most {MAX_FILTERS} filters are allowed"),
                        ));
                    }
                }
            }
        }
        Ok(query)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(q: &[(&str, &str)]) -> Vec<(String, String)> {
        q.iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn staged_documents_are_matched_with_the_stores_semantics() {
        let doc = crate::store::Document {
            id: "x1".into(),
            creation_time: Some(5.0),
            version: 1,
            fields: serde_json::from_value(
                serde_json::json!({"n": 3, "s": "Banana", "b": true, "m": {"r": 2}, "id": "2"}),
            )
            .unwrap(),
        };
        let check = |field: &str, expr: &str| Filter::parse(field, expr).unwrap().matches(&doc);
        assert!(
            check("n", "eq.3")
                && !check("n", "eq.\"3\"")
                && check("n", "gt.2")
                && !check("n", "gt.3")
        );
        assert!(check("s", "like.*an*") && !check("s", "like.b*") && check("s", "ilike.b*"));
        assert!(check("b", "is.true") && check("missing", "is.null") && !check("missing", "neq.1"));
        assert!(check("m.r", "in.(1,2)") && check("n", "not.eq.4") && check("_id", "eq.x1"));
        assert!(check("_creationTime", "lte.5") && !check("s", "gt.5"));
        // An unquoted number also equals its spelling as a string; order comparisons do not.
        assert!(check("id", "eq.2") && check("id", "eq.\"2\"") && !check("id", "eq.2.0"));
        assert!(check("id", "in.(1,2)") && !check("id", "neq.2") && !check("id", "gt.1"));
        assert!(check("m.r", "eq.2") && check("m.r", "eq.2.0") && !check("m.r", "eq.\"2\""));
        assert!(wildcard_match("a*c*e", "abcde") && !wildcard_match("a*c", "abd"));
    }

    #[test]
    fn literals_are_typed_like_json_unless_quoted() {
        assert_eq!(Literal::parse("30"), Literal::Int(30));
        assert_eq!(Literal::parse("-1.5"), Literal::Float(-1.5));
        assert_eq!(Literal::parse("true"), Literal::Bool(true));
        assert_eq!(Literal::parse("\"30\""), Literal::Str("30".into()));
        assert_eq!(Literal::parse("inf"), Literal::Str("inf".into()));
        assert_eq!(Literal::parse("NaN"), Literal::Str("NaN".into()));
        assert_eq!(Literal::parse("a\"b"), Literal::Str("a\"b".into()));
        assert_eq!(Literal::parse("\"a\\\"b\""), Literal::Str("a\"b".into()));
    }

    #[test]
    fn every_operator_parses() {
        let cases = [
            (
                "eq.1",
                FilterOp::Eq(Literal::NumberOrText(Box::new(Literal::Int(1)), "1".into())),
            ),
            ("neq.x", FilterOp::Neq(Literal::Str("x".into()))),
            ("gt.1", FilterOp::Gt(Literal::Int(1))),
            ("gte.1", FilterOp::Gte(Literal::Int(1))),
            ("lt.a", FilterOp::Lt(Literal::Str("a".into()))),
            ("lte.2.5", FilterOp::Lte(Literal::Float(2.5))),
            ("like.a*", FilterOp::Like("a*".into())),
            ("ilike.*A", FilterOp::Ilike("*A".into())),
            (
                "in.(1,b,\"c,d\")",
                FilterOp::In(vec![
                    Literal::NumberOrText(Box::new(Literal::Int(1)), "1".into()),
                    Literal::Str("b".into()),
                    Literal::Str("c,d".into()),
                ]),
            ),
            ("is.null", FilterOp::IsNull),
            ("is.true", FilterOp::IsTrue),
            ("is.false", FilterOp::IsFalse),
        ];
        for (expr, op) in cases {
            let filter = Filter::parse("a.b", expr).unwrap();
            assert_eq!(filter.op, op, "{expr}");
            assert_eq!(filter.field, FieldPath::User(vec!["a".into(), "b".into()]));
            assert!(!filter.negated);
        }
        assert!(Filter::parse("a", "not.eq.1").unwrap().negated);
        assert_eq!(
            Filter::parse("_id", "eq.123").unwrap().op,
            FilterOp::Eq(Literal::Str("123".into()))
        );
    }

    #[test]
    fn bad_filters_are_refused_with_a_reason() {
        for (field, expr) in [
            ("a", "1"),
            ("a", "equals.1"),
            ("a", "gt.true"),
            ("a", "in.1,2"),
            ("a", "in.()"),
            ("a", "in.(\"x)"),
            ("a", "is.maybe"),
            ("a..b", "eq.1"),
            ("a-b", "eq.1"),
            ("_secret", "eq.1"),
            ("_id", "like.a*"),
            ("_creationTime", "eq.yesterday"),
            ("_creationTime", "is.null"),
        ] {
            assert!(Filter::parse(field, expr).is_err(), "{field}={expr}");
        }
    }

    #[test]
    fn order_defaults_and_parses_directions() {
        assert_eq!(
            ListQuery::default().order,
            vec![OrderKey {
                field: FieldPath::CreationTime,
                direction: SortDirection::Asc
            }]
        );
        let keys = parse_order("score.desc,name,meta.rank.asc").unwrap();
        assert_eq!(keys.len(), 3);
        assert_eq!(keys[0].direction, SortDirection::Desc);
        assert_eq!(keys[1].field, FieldPath::User(vec!["name".into()]));
        assert_eq!(keys[1].direction, SortDirection::Asc);
        assert_eq!(
            keys[2].field,
            FieldPath::User(vec!["meta".into(), "rank".into()])
        );
        for bad in [
            "",
            "a,,b",
            "a.nullslast",
            "a.desc.nullsfirst",
            "a,a.desc",
            "a,b,c,d,e",
            "x-y",
            "views.down",
            "views.DESCENDING",
            "views.up",
        ] {
            assert!(parse_order(bad).is_err(), "{bad}");
        }
        // Directions ignore case; nulls placements that match the stores' order are accepted.
        let same =
            |a: &str, b: &str| assert_eq!(parse_order(a).unwrap(), parse_order(b).unwrap(), "{a}");
        same("views.DESC", "views.desc");
        same("views.Asc", "views");
        same("views.asc.nullsfirst", "views");
        same("views.nullsfirst", "views");
        same("views.desc.NULLSLAST", "views.desc");
        // A field named like a direction keyword takes an explicit direction.
        assert_eq!(
            parse_order("down.asc").unwrap()[0].field,
            FieldPath::User(vec!["down".into()])
        );
    }

    #[test]
    fn reserved_parameters_are_validated() {
        let q = ListQuery::from_pairs(pairs(&[("limit", "5"), ("cursor", "abc"), ("age", "gt.3")]))
            .unwrap();
        assert_eq!(q.limit, 5);
        assert_eq!(q.cursor.as_deref(), Some("abc"));
        assert_eq!(q.filters.len(), 1);
        for (q, kind) in [
            (vec![("limit", "0")], QueryErrorKind::Limit),
            (vec![("limit", "1001")], QueryErrorKind::Limit),
            (vec![("limit", "ten")], QueryErrorKind::Limit),
            (vec![("limit", "1"), ("limit", "2")], QueryErrorKind::Limit),
            (vec![("cursor", "")], QueryErrorKind::Cursor),
            (vec![("order", "a"), ("order", "b")], QueryErrorKind::Order),
            (vec![("offset", "10")], QueryErrorKind::Filter),
        ] {
            assert_eq!(ListQuery::from_pairs(pairs(&q)).unwrap_err().kind, kind);
        }
    }
}
