//! The message shapes on the wire, and how numbers are written.
//!
//! JSON has no infinities or NaN, but derivatives at domain edges are
//! exactly that, so a number on the wire is a JSON number or one of the
//! strings `"inf"`, `"-inf"`, `"nan"` (Python's `Infinity`, `-Infinity` and
//! `NaN` literals are read too, by the Python reference engine).

use adcheck_engines::Program;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;

/// An `f64` that survives JSON: finite values as numbers, the rest as
/// `"inf"`, `"-inf"` or `"nan"`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct WireF64(pub f64);

impl Serialize for WireF64 {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let x = self.0;
        if x.is_finite() {
            s.serialize_f64(x)
        } else if x.is_nan() {
            s.serialize_str("nan")
        } else if x > 0.0 {
            s.serialize_str("inf")
        } else {
            s.serialize_str("-inf")
        }
    }
}

impl<'de> Deserialize<'de> for WireF64 {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match Value::deserialize(d)? {
            Value::Number(n) => n
                .as_f64()
                .map(WireF64)
                .ok_or_else(|| serde::de::Error::custom("a number out of f64 range")),
            Value::String(s) => parse_special(&s).map(WireF64).ok_or_else(|| {
                serde::de::Error::custom(format!(
                    "`{s}` is not a number (non-finite values are \"inf\", \"-inf\", \"nan\")"
                ))
            }),
            other => Err(serde::de::Error::custom(format!(
                "expected a number, found {other}"
            ))),
        }
    }
}

fn parse_special(s: &str) -> Option<f64> {
    match s {
        "inf" | "+inf" | "Infinity" => Some(f64::INFINITY),
        "-inf" | "-Infinity" => Some(f64::NEG_INFINITY),
        "nan" | "NaN" => Some(f64::NAN),
        _ => None,
    }
}

/// Writes a slice of `f64` in the wire form.
pub fn encode(xs: &[f64]) -> Vec<WireF64> {
    xs.iter().copied().map(WireF64).collect()
}

/// Reads a slice of wire numbers back.
pub fn decode(xs: &[WireF64]) -> Vec<f64> {
    xs.iter().map(|w| w.0).collect()
}

/// Python's `json.dumps` writes `Infinity`, `-Infinity` and `NaN` as bare
/// literals, which are not JSON; this turns them into the wire strings
/// (outside string literals only) so that such a line still parses.
pub fn normalize_literals(line: &str) -> std::borrow::Cow<'_, str> {
    if !(line.contains("Infinity") || line.contains("NaN")) {
        return std::borrow::Cow::Borrowed(line);
    }
    let mut out = String::with_capacity(line.len() + 16);
    let mut in_string = false;
    let mut escaped = false;
    let mut rest = line;
    while let Some(c) = rest.chars().next() {
        if in_string {
            out.push(c);
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_string = false;
            }
            rest = &rest[c.len_utf8()..];
            continue;
        }
        let replaced = [
            ("-Infinity", "\"-inf\""),
            ("Infinity", "\"inf\""),
            ("NaN", "\"nan\""),
        ]
        .iter()
        .find(|(literal, _)| rest.starts_with(literal));
        if let Some((literal, wire)) = replaced {
            out.push_str(wire);
            rest = &rest[literal.len()..];
        } else {
            if c == '"' {
                in_string = true;
            }
            out.push(c);
            rest = &rest[c.len_utf8()..];
        }
    }
    std::borrow::Cow::Owned(out)
}

/// The module every adcheck engine defines.
pub const MODULE: &str = "adcheck";

/// The functions of the `adcheck` module, in a fixed order.
pub const FUNCTIONS: [&str; 6] = ["primal", "jvp", "vjp", "gradient", "jacobian", "hvp"];

/// The `input` of an `evaluate` message of the `adcheck` module.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct EvaluateInput {
    /// The program, in its JSON form.
    pub program: Program,
    /// The point (length `n`).
    pub x: Vec<WireF64>,
    /// The direction (length `n`) for `jvp` and `hvp`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub v: Option<Vec<WireF64>>,
    /// The cotangent (length `m`) for `vjp`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub u: Option<Vec<WireF64>>,
}

/// The `output` of a successful `evaluate` of the `adcheck` module. Fields
/// it does not name are ignored, as at every level of a reply.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct EvaluateOutput {
    /// `f(x)` (length `m`).
    pub primal: Vec<WireF64>,
    /// The derivative asked for: `J·v` (length `m`), `uᵀJ`, the gradient or
    /// `H·v` (length `n`), the Jacobian row-major (length `m·n`); absent for
    /// `primal`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub derivative: Option<Vec<WireF64>>,
}

/// One entry of a reply's `timings`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Timing {
    /// What was timed (`"evaluate"`).
    pub name: String,
    /// How long it took.
    pub nanoseconds: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn non_finite_numbers_round_trip_as_strings() {
        let xs = [1.5, f64::INFINITY, f64::NEG_INFINITY, -0.0];
        let text = serde_json::to_string(&encode(&xs)).unwrap();
        assert_eq!(text, r#"[1.5,"inf","-inf",-0.0]"#);
        let back: Vec<WireF64> = serde_json::from_str(&text).unwrap();
        assert_eq!(decode(&back)[..2], xs[..2]);
        assert!(decode(&back)[3].is_sign_negative());
        let nan: WireF64 = serde_json::from_str(r#""nan""#).unwrap();
        assert!(nan.0.is_nan());
        assert!(serde_json::from_str::<WireF64>(r#""many""#).is_err());
    }

    #[test]
    fn python_literals_are_read_outside_strings_only() {
        let line = r#"{"a": [NaN, -Infinity, Infinity], "s": "NaN \" Infinity"}"#;
        assert_eq!(
            normalize_literals(line),
            r#"{"a": ["nan", "-inf", "inf"], "s": "NaN \" Infinity"}"#
        );
    }
}
