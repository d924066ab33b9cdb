//! An ordered JSON value, printed as ZooKeeper's AdminServer prints its responses.
//!
//! ZooKeeper fills a `LinkedHashMap` and has Jackson pretty-print it: keys keep their
//! insertion order, objects indent by two spaces with ` : ` between key and value,
//! arrays stay on one line (`[ 1, 2 ]`, `[ ]`), and objects inside arrays open on the
//! array's line (`[ {`). serde_json does the encoding (escaping, numbers); [`Jackson`]
//! is the formatter that reproduces that layout, and [`J`]'s objects are ordered lists,
//! so no global serde_json feature is needed for key order.

use std::io;

use serde::ser::{Serialize, SerializeMap, SerializeSeq, Serializer};
use serde_json::ser::Formatter;

#[derive(Clone, Debug, PartialEq)]
pub enum J {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Arr(Vec<J>),
    Obj(Vec<(String, J)>),
}

impl J {
    pub fn obj(entries: Vec<(&str, J)>) -> J {
        J::Obj(
            entries
                .into_iter()
                .map(|(k, v)| (k.to_string(), v))
                .collect(),
        )
    }

    pub fn str(s: impl Into<String>) -> J {
        J::Str(s.into())
    }

    /// Pretty-printed as Jackson's default pretty printer does.
    pub fn to_pretty(&self) -> String {
        let mut out = Vec::new();
        let mut ser = serde_json::Serializer::with_formatter(&mut out, Jackson::default());
        // Serialising an in-memory value into a Vec cannot fail.
        if self.serialize(&mut ser).is_err() {
            return String::from("{ }");
        }
        String::from_utf8(out).unwrap_or_default()
    }
}

impl Serialize for J {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            J::Null => s.serialize_unit(),
            J::Bool(b) => s.serialize_bool(*b),
            J::Int(i) => s.serialize_i64(*i),
            // Jackson writes NaN unquoted; JSON has no NaN, so zkd writes null.
            J::Float(f) if !f.is_finite() => s.serialize_unit(),
            J::Float(f) => s.serialize_f64(*f),
            J::Str(v) => s.serialize_str(v),
            J::Arr(items) => {
                let mut seq = s.serialize_seq(Some(items.len()))?;
                for item in items {
                    seq.serialize_element(item)?;
                }
                seq.end()
            }
            J::Obj(entries) => {
                let mut map = s.serialize_map(Some(entries.len()))?;
                for (k, v) in entries {
                    map.serialize_entry(k, v)?;
                }
                map.end()
            }
        }
    }
}

/// Jackson's DefaultPrettyPrinter: objects indent (by object depth only), arrays inline.
#[derive(Default)]
pub struct Jackson {
    depth: usize,
}

impl Jackson {
    fn indent<W: ?Sized + io::Write>(&self, w: &mut W) -> io::Result<()> {
        w.write_all(b"\n")?;
        for _ in 0..self.depth {
            w.write_all(b"  ")?;
        }
        Ok(())
    }
}

impl Formatter for Jackson {
    fn begin_array<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
        w.write_all(b"[")
    }

    fn end_array<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
        w.write_all(b" ]")
    }

    fn begin_array_value<W: ?Sized + io::Write>(
        &mut self,
        w: &mut W,
        first: bool,
    ) -> io::Result<()> {
        w.write_all(if first { b" " } else { b", " })
    }

    fn end_array_value<W: ?Sized + io::Write>(&mut self, _w: &mut W) -> io::Result<()> {
        Ok(())
    }

    fn begin_object<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.depth += 1;
        w.write_all(b"{")
    }

    fn end_object<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.depth -= 1;
        // serde_json tells begin_object_key whether a key is the first, but not
        // end_object whether there was one: an empty object is written as "{" "}" with
        // nothing between, which the caller below turns into Jackson's "{ }".
        w.write_all(b"\x00}")
    }

    fn begin_object_key<W: ?Sized + io::Write>(
        &mut self,
        w: &mut W,
        first: bool,
    ) -> io::Result<()> {
        if !first {
            w.write_all(b",")?;
        }
        self.indent(w)
    }

    fn begin_object_value<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
        w.write_all(b" : ")
    }
}

/// Post-process the end-of-object marker: `{\0}` → `{ }`, otherwise newline + indent.
fn finish(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len() + 64);
    let mut depth = 0usize;
    let mut in_str = false;
    let mut escaped = false;
    for ch in raw.chars() {
        if in_str {
            out.push(ch);
            if escaped {
                escaped = false;
            } else if ch == '\\' {
                escaped = true;
            } else if ch == '"' {
                in_str = false;
            }
            continue;
        }
        match ch {
            '"' => {
                in_str = true;
                out.push(ch);
            }
            '{' => {
                depth += 1;
                out.push(ch);
            }
            '\0' => {
                depth = depth.saturating_sub(1);
                if out.ends_with('{') {
                    out.push(' ');
                } else {
                    out.push('\n');
                    for _ in 0..depth {
                        out.push_str("  ");
                    }
                }
            }
            _ => out.push(ch),
        }
    }
    out
}

impl J {
    /// The response body: Jackson's layout.
    pub fn render(&self) -> String {
        finish(&self.to_pretty())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prints_like_jackson() {
        let v = J::obj(vec![
            (
                "connections",
                J::Arr(vec![J::obj(vec![("a", J::Int(1)), ("b", J::str("x\"y"))])]),
            ),
            ("secure_connections", J::Arr(vec![])),
            ("current_config", J::obj(vec![])),
            ("ids", J::Arr(vec![J::Int(1), J::Int(2)])),
            ("avg", J::Float(1.0)),
            ("command", J::str("connections")),
            ("error", J::Null),
        ]);
        assert_eq!(
            v.render(),
            "{\n  \"connections\" : [ {\n    \"a\" : 1,\n    \"b\" : \"x\\\"y\"\n  } ],\n  \
             \"secure_connections\" : [ ],\n  \"current_config\" : { },\n  \
             \"ids\" : [ 1, 2 ],\n  \"avg\" : 1.0,\n  \"command\" : \"connections\",\n  \
             \"error\" : null\n}"
        );
        let parsed: serde_json::Value = serde_json::from_str(&v.render()).unwrap();
        assert_eq!(parsed["connections"][0]["b"], "x\"y");
    }
}
