//! The `json` format: one pretty-printed JSON object of variable -> value.
//!
//! Keys keep the order given (serde_json's `preserve_order`), so the output is
//! stable and diffs cleanly. JSON strings can hold any text, so only NUL (like
//! every format) and invalid names are refused.

use super::{EncodeError, Format, check_common};
use serde_json::{Map, Value};

pub(super) fn encode(vars: &[(&str, &str)]) -> Result<String, EncodeError> {
    let mut map = Map::with_capacity(vars.len());
    for &(key, value) in vars {
        check_common(Format::Json, key, value)?;
        map.insert(key.to_owned(), Value::String(value.to_owned()));
    }
    let mut out = serde_json::to_string_pretty(&Value::Object(map))
        .expect("a map of strings always serializes");
    out.push('\n');
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_one_pretty_object_in_the_given_order() {
        let out = encode(&[("B", "2"), ("A", "line\n\"q\"\t\u{1}é")]).unwrap();
        assert_eq!(
            out,
            "{\n  \"B\": \"2\",\n  \"A\": \"line\\n\\\"q\\\"\\t\\u0001é\"\n}\n"
        );
    }

    #[test]
    fn reads_back_exactly() {
        let vars = [("A", "\u{FFFF}\r\n\\"), ("B", "")];
        let parsed: Map<String, Value> = serde_json::from_str(&encode(&vars).unwrap()).unwrap();
        let back: Vec<(&str, &str)> = parsed
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str().unwrap()))
            .collect();
        assert_eq!(back, vars);
    }
}
