//! How the JSON log format stores a span's fields: written straight out as one JSON object
//! (`{"method":"GET","path":"/v1/…","request_id":"…"}`), which the JSON event format reads back
//! for every event inside the span.
//!
//! tracing-subscriber's own `JsonFields` builds a `BTreeMap` of `serde_json::Value`s per span
//! and serializes it through an `io::Write` adaptor; with one span per request, that was the
//! larger part of the request span's cost (`bench/profile`). The output is the same JSON.

use std::fmt;

use tracing::field::{Field, Visit};
use tracing_subscriber::field::RecordFields;
use tracing_subscriber::fmt::FormatFields;
use tracing_subscriber::fmt::format::Writer;

/// The span field formatter of the JSON log format.
#[derive(Debug, Default, Clone, Copy)]
pub(super) struct JsonSpanFields;

impl<'writer> FormatFields<'writer> for JsonSpanFields {
    fn format_fields<R: RecordFields>(
        &self,
        mut writer: Writer<'writer>,
        fields: R,
    ) -> fmt::Result {
        let mut visitor = Visitor {
            out: &mut writer,
            first: true,
            result: Ok(()),
        };
        visitor.result = visitor.out.write_char('{');
        fields.record(&mut visitor);
        visitor.result?;
        writer.write_char('}')
    }

    fn add_fields(
        &self,
        current: &'writer mut tracing_subscriber::fmt::FormattedFields<Self>,
        fields: &tracing::span::Record<'_>,
    ) -> fmt::Result {
        // Fields recorded later go inside the object already written (a later value of the same
        // field comes last, and a JSON reader keeps the last).
        let Some(open) = current.fields.strip_suffix('}').map(str::len) else {
            return self.format_fields(current.as_writer(), fields);
        };
        current.fields.truncate(open);
        let mut out = String::new();
        let mut visitor = Visitor {
            out: &mut out,
            first: open <= 1,
            result: Ok(()),
        };
        fields.record(&mut visitor);
        visitor.result?;
        current.fields.push_str(&out);
        current.fields.push('}');
        Ok(())
    }
}

struct Visitor<'a, W: fmt::Write> {
    out: &'a mut W,
    first: bool,
    result: fmt::Result,
}

impl<W: fmt::Write> Visitor<'_, W> {
    fn key(&mut self, field: &Field) -> fmt::Result {
        if !std::mem::take(&mut self.first) {
            self.out.write_char(',')?;
        }
        string(self.out, field.name())?;
        self.out.write_char(':')
    }

    fn put(&mut self, field: &Field, value: impl FnOnce(&mut W) -> fmt::Result) {
        if self.result.is_ok() {
            self.result = self.key(field).and_then(|()| value(self.out));
        }
    }
}

impl<W: fmt::Write> Visit for Visitor<'_, W> {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.put(field, |out| string(out, value));
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.put(field, |out| write!(out, "{value}"));
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.put(field, |out| write!(out, "{value}"));
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.put(field, |out| write!(out, "{value}"));
    }

    fn record_f64(&mut self, field: &Field, value: f64) {
        // JSON has no NaN or infinities: those are written as strings.
        if value.is_finite() {
            self.put(field, |out| write!(out, "{value}"));
        } else {
            self.put(field, |out| string(out, &value.to_string()));
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.put(field, |out| string(out, &format!("{value:?}")));
    }
}

/// `value` as a JSON string. Only ASCII bytes are ever escaped, so the runs between them are
/// whole UTF-8 sequences and are copied as they are.
fn string(out: &mut impl fmt::Write, value: &str) -> fmt::Result {
    out.write_char('"')?;
    let mut start = 0;
    for (at, &byte) in value.as_bytes().iter().enumerate() {
        let escaped = match byte {
            b'"' => "\\\"",
            b'\\' => "\\\\",
            b'\n' => "\\n",
            b'\r' => "\\r",
            b'\t' => "\\t",
            0..0x20 => "",
            _ => continue,
        };
        out.write_str(&value[start..at])?;
        if escaped.is_empty() {
            write!(out, "\\u{byte:04x}")?;
        } else {
            out.write_str(escaped)?;
        }
        start = at + 1;
    }
    out.write_str(&value[start..])?;
    out.write_char('"')
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use tracing_subscriber::fmt::MakeWriter;

    use super::*;

    #[derive(Clone, Default)]
    struct Buffer(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Buffer {
        fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
            self.0
                .lock()
                .map_err(|_| std::io::ErrorKind::Other)?
                .extend_from_slice(data);
            Ok(data.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl<'a> MakeWriter<'a> for Buffer {
        type Writer = Buffer;
        fn make_writer(&'a self) -> Self::Writer {
            self.clone()
        }
    }

    /// The JSON lines `log` writes under the JSON log format's subscriber (as `telemetry::init`
    /// builds it).
    fn logged(log: impl FnOnce()) -> Vec<serde_json::Value> {
        let buffer = Buffer::default();
        let subscriber = tracing_subscriber::fmt()
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .fmt_fields(JsonSpanFields)
            .with_writer(buffer.clone())
            .finish();
        tracing::subscriber::with_default(subscriber, log);
        let bytes = buffer.0.lock().unwrap().clone();
        String::from_utf8(bytes)
            .unwrap()
            .lines()
            .map(|line| serde_json::from_str(line).unwrap())
            .collect()
    }

    #[test]
    fn span_fields_reach_each_event_as_the_json_format_writes_them() {
        let awkward = "quote \" backslash \\ newline \n tab \t bell \u{7} é ✓";
        let lines = logged(|| {
            let span = tracing::info_span!(
                "request",
                method = "GET",
                path = awkward,
                count = 3_u64,
                delta = -2_i64,
                ok = true,
                ratio = 0.5_f64,
                nan = f64::NAN,
                debug = ?vec![1, 2],
                later = tracing::field::Empty,
            );
            let _entered = span.enter();
            tracing::info!("first");
            span.record("later", "recorded");
            tracing::info!("second");
        });
        assert_eq!(lines.len(), 2, "{lines:?}");
        let first = &lines[0]["span"];
        assert_eq!(first["method"], "GET");
        assert_eq!(first["path"], awkward);
        assert_eq!(first["count"], 3);
        assert_eq!(first["delta"], -2);
        assert_eq!(first["ok"], true);
        assert_eq!(first["ratio"], 0.5);
        assert_eq!(first["nan"], "NaN");
        assert_eq!(first["debug"], "[1, 2]");
        assert!(first.get("later").is_none());
        assert_eq!(lines[1]["span"]["later"], "recorded");
        assert_eq!(lines[1]["span"]["path"], awkward);
        assert_eq!(lines[1]["message"], "second");
    }

    #[test]
    fn a_span_with_no_fields_is_an_empty_object_and_takes_fields_later() {
        let lines = logged(|| {
            let span = tracing::info_span!("bare", late = tracing::field::Empty);
            let _entered = span.enter();
            tracing::info!("before");
            span.record("late", 7_u64);
            tracing::info!("after");
        });
        assert_eq!(lines[0]["span"]["name"], "bare");
        assert!(lines[0]["span"].get("late").is_none());
        assert_eq!(lines[1]["span"]["late"], 7);
    }
}
