//! Any [`Engine`] served over the protocol (`adcheck serve`), answering the
//! `adcheck` module and GradBench's `hello`, `lse` and `llsq` evals.

use crate::gradbench;
use crate::wire::{
    decode, encode, normalize_literals, EvaluateInput, EvaluateOutput, FUNCTIONS, MODULE,
};
use adcheck_engines::{Differentiable, Engine, EngineError};
use serde_json::{json, Map, Value};
use std::io::{self, BufRead, Write};
use std::time::Instant;

/// The most calls one `batch` message may carry.
pub const MAX_BATCH_CALLS: usize = 4096;

/// One session of the protocol, answering for one engine.
pub struct Server<'e> {
    engine: &'e dyn Engine,
    batches: bool,
}

impl<'e> Server<'e> {
    /// A server for `engine`.
    pub fn new(engine: &'e dyn Engine) -> Self {
        Server {
            engine,
            batches: true,
        }
    }

    /// A server that says it takes no batches (answering one call per
    /// message only), as an engine written before batches would.
    pub fn without_batches(engine: &'e dyn Engine) -> Self {
        Server {
            engine,
            batches: false,
        }
    }

    /// The functions of the `adcheck` module this engine answers.
    pub fn functions(&self) -> Vec<&'static str> {
        let hvp = self.engine.capabilities().hvp;
        FUNCTIONS
            .iter()
            .copied()
            .filter(|f| *f != "hvp" || hvp)
            .collect()
    }

    /// The reply line (without its newline) to one message line.
    pub fn respond(&mut self, line: &str) -> String {
        let message: Value = match serde_json::from_str(&normalize_literals(line)) {
            Ok(Value::Object(m)) => Value::Object(m),
            Ok(_) => return error_reply(Value::Null, "a message must be a JSON object"),
            Err(e) => return error_reply(Value::Null, &format!("not JSON: {e}")),
        };
        let id = message.get("id").cloned().unwrap_or(Value::Null);
        if !id.is_i64() && !id.is_u64() {
            return error_reply(id, "a message needs an integer `id`");
        }
        let text = |key: &str| message.get(key).and_then(Value::as_str).unwrap_or("");
        let mut reply = Map::new();
        reply.insert("id".into(), id);
        match text("kind") {
            "start" => {
                reply.insert(
                    "tool".into(),
                    json!(format!("adcheck-{}", self.engine.name())),
                );
                // A GradBench eval names itself in `start`; adcheck's own
                // functions are no business of its session.
                if matches!(text("eval"), "" | MODULE) {
                    let mut config = json!({ "functions": self.functions() });
                    if self.batches {
                        config["batch"] = json!({ "max_calls": MAX_BATCH_CALLS });
                    }
                    reply.insert("config".into(), config);
                }
            }
            "define" => {
                let module = text("module");
                if module == MODULE || gradbench::MODULES.contains(&module) {
                    reply.insert("success".into(), json!(true));
                } else {
                    reply.insert("success".into(), json!(false));
                    reply.insert(
                        "error".into(),
                        json!(format!(
                            "unknown module `{module}` (known: {MODULE}, {})",
                            gradbench::MODULES.join(", ")
                        )),
                    );
                }
            }
            "evaluate" => {
                // GradBench's early evals named the function `name`.
                let function = match text("function") {
                    "" => text("name"),
                    f => f,
                };
                let input = message.get("input").cloned().unwrap_or(Value::Null);
                let fields = match text("module") {
                    MODULE => self.evaluate(function, input),
                    module => gradbench::evaluate(self.engine, module, function, &input),
                };
                if let Value::Object(fields) = fields {
                    reply.extend(fields);
                }
            }
            _ => {}
        }
        Value::Object(reply).to_string()
    }

    /// An `evaluate` of the `adcheck` module: `success`, `output`,
    /// `timings` or `error`.
    fn evaluate(&self, function: &str, input: Value) -> Value {
        if function == "batch" && self.batches {
            return self.batch(input);
        }
        let input: EvaluateInput = match serde_json::from_value(input) {
            Ok(input) => input,
            Err(e) => return json!({"success": false, "error": format!("input: {e}")}),
        };
        let start = Instant::now();
        let answer = self.call(function, &input);
        let nanoseconds = start.elapsed().as_nanos() as u64;
        match answer {
            Ok(output) => json!({
                "success": true,
                "output": output,
                "timings": [{"name": "evaluate", "nanoseconds": nanoseconds}],
            }),
            Err(e @ EngineError::Unsupported { .. }) => {
                json!({"success": false, "error": format!("unsupported: {e}")})
            }
            Err(e) => json!({"success": false, "error": e.to_string()}),
        }
    }

    /// A `batch`: `{"programs": [...], "calls": [{"function", "program":
    /// index, "x", "v"?, "u"?}]}`, answered `{"results": [...]}`, one
    /// result per call (`{"success": true, "primal", "derivative"?}` or
    /// `{"success": false, "error"}`).
    fn batch(&self, input: Value) -> Value {
        #[derive(serde::Deserialize)]
        struct Batch {
            programs: Vec<adcheck_engines::Program>,
            calls: Vec<Value>,
        }
        let batch: Batch = match serde_json::from_value(input) {
            Ok(b) => b,
            Err(e) => return json!({"success": false, "error": format!("batch input: {e}")}),
        };
        if batch.calls.len() > MAX_BATCH_CALLS {
            return json!({"success": false, "error": format!(
                "a batch of {} calls, above the {MAX_BATCH_CALLS} this server takes",
                batch.calls.len()
            )});
        }
        let start = Instant::now();
        let results: Vec<Value> = batch
            .calls
            .into_iter()
            .enumerate()
            .map(|(k, mut call)| {
                let function = call["function"].as_str().unwrap_or("").to_string();
                let program = call["program"]
                    .as_u64()
                    .and_then(|i| batch.programs.get(i as usize));
                let Some(program) = program else {
                    return json!({"success": false, "error": format!("call {k}: no program {}", call["program"])});
                };
                call["program"] = serde_json::to_value(program).expect("a program serialises");
                let answer = serde_json::from_value::<EvaluateInput>(call)
                    .map_err(|e| EngineError::Failed(format!("call {k}: {e}")))
                    .and_then(|input| self.call(&function, &input));
                match answer {
                    Ok(output) => {
                        let mut result = serde_json::to_value(output).expect("serialises");
                        result["success"] = json!(true);
                        result
                    }
                    Err(e @ EngineError::Unsupported { .. }) => {
                        json!({"success": false, "error": format!("unsupported: {e}")})
                    }
                    Err(e) => json!({"success": false, "error": e.to_string()}),
                }
            })
            .collect();
        let nanoseconds = start.elapsed().as_nanos() as u64;
        json!({
            "success": true,
            "output": {"results": results},
            "timings": [{"name": "evaluate", "nanoseconds": nanoseconds}],
        })
    }

    fn call(&self, function: &str, input: &EvaluateInput) -> Result<EvaluateOutput, EngineError> {
        let p = &input.program;
        let x = decode(&input.x);
        let seed = |s: &Option<Vec<crate::wire::WireF64>>, what: &'static str| {
            s.as_deref()
                .map(decode)
                .ok_or_else(|| EngineError::Failed(format!("`{function}` needs `{what}`")))
        };
        let d = match function {
            "primal" => {
                EngineError::check_point(p, &x)?;
                return Ok(EvaluateOutput {
                    primal: encode(&p.eval(&x)),
                    derivative: None,
                });
            }
            "jvp" => self.engine.jvp(p, &x, &seed(&input.v, "v")?)?,
            "vjp" => self.engine.vjp(p, &x, &seed(&input.u, "u")?)?,
            "gradient" => self.engine.gradient(p, &x)?,
            "jacobian" => self.engine.jacobian(p, &x)?,
            "hvp" => self.engine.hvp(p, &x, &seed(&input.v, "v")?)?,
            other => {
                return Err(EngineError::Failed(format!(
                    "unknown function `{other}` (known: {})",
                    FUNCTIONS.join(", ")
                )))
            }
        };
        Ok(EvaluateOutput {
            primal: encode(&d.primal),
            derivative: Some(encode(&d.derivative)),
        })
    }
}

fn error_reply(id: Value, error: &str) -> String {
    json!({"id": id, "success": false, "error": error}).to_string()
}

/// Answers every line of `input` on `output`, one reply line each, until
/// the end of `input` (the end of the session). Blank lines are skipped; a
/// line that is not UTF-8, or on which the engine panics, is answered with
/// an error (id null) and the session goes on.
pub fn serve(engine: &dyn Engine, input: impl BufRead, mut output: impl Write) -> io::Result<()> {
    let mut server = Server::new(engine);
    for line in input.split(b'\n') {
        let bytes = line?;
        let reply = match std::str::from_utf8(&bytes) {
            Ok(text) if text.trim().is_empty() => continue,
            // A panicking engine answers this line with an error, and the
            // session goes on.
            Ok(text) => {
                std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| server.respond(text)))
                    .unwrap_or_else(|_| {
                        error_reply(Value::Null, "the engine panicked on this message")
                    })
            }
            Err(e) => error_reply(Value::Null, &format!("not UTF-8: {e}")),
        };
        writeln!(output, "{reply}")?;
        output.flush()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use adcheck_engines::reverse::ReverseEngine;
    use adcheck_engines::{Derivative, Program};

    fn reply(line: &str) -> Value {
        serde_json::from_str(&Server::new(&ReverseEngine).respond(line)).unwrap()
    }

    /// The replies `serve` writes for `input`, parsed.
    fn session(engine: &dyn Engine, input: &[u8]) -> Vec<Value> {
        let mut out = Vec::new();
        serve(engine, input, &mut out).unwrap();
        String::from_utf8(out)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    #[test]
    fn the_seed_example_over_the_wire() {
        let program = r#"{"inputs":2,"body":[{"op":"mul","args":[0,1]},{"op":"sin","args":[0]},{"op":"add","args":[2,3]}],"outputs":[4]}"#;
        let r = reply(&format!(
            r#"{{"id":3,"kind":"evaluate","module":"adcheck","function":"gradient","input":{{"program":{program},"x":[1.5,-2.0]}}}}"#
        ));
        assert_eq!(r["id"], 3);
        assert_eq!(r["success"], true);
        assert_eq!(r["output"]["derivative"], json!([-2.0 + 1.5f64.cos(), 1.5]));
        assert_eq!(r["timings"][0]["name"], "evaluate");
    }

    #[test]
    fn a_panicking_engine_answers_with_an_error_and_the_session_goes_on() {
        struct Panics;
        impl Engine for Panics {
            fn name(&self) -> &str {
                "panics"
            }
            fn capabilities(&self) -> adcheck_engines::Capabilities {
                ReverseEngine.capabilities()
            }
            fn jvp(&self, _: &Program, _: &[f64], _: &[f64]) -> Result<Derivative, EngineError> {
                panic!("planted")
            }
            fn vjp(&self, _: &Program, _: &[f64], _: &[f64]) -> Result<Derivative, EngineError> {
                panic!("planted")
            }
        }
        let program = r#"{"inputs":1,"body":[{"op":"sin","args":[0]}],"outputs":[1]}"#;
        let input = format!(
            "{{\"id\":1,\"kind\":\"evaluate\",\"module\":\"adcheck\",\"function\":\"vjp\",\"input\":{{\"program\":{program},\"x\":[1.0],\"u\":[1.0]}}}}\n{{\"id\":2,\"kind\":\"analysis\"}}\n"
        );
        let hook = std::panic::take_hook();
        std::panic::set_hook(Box::new(|_| {}));
        let replies = session(&Panics, input.as_bytes());
        std::panic::set_hook(hook);
        assert_eq!(replies.len(), 2);
        assert_eq!(replies[0]["success"], json!(false));
        assert!(replies[0]["error"].as_str().unwrap().contains("panicked"));
        assert_eq!(replies[1], json!({"id": 2}));
    }

    #[test]
    fn non_finite_results_and_errors() {
        let program = r#"{"inputs":1,"body":[{"op":"sqrt","args":[0]}],"outputs":[1]}"#;
        let r = reply(&format!(
            r#"{{"id":1,"kind":"evaluate","module":"adcheck","function":"gradient","input":{{"program":{program},"x":[0.0]}}}}"#
        ));
        assert_eq!(r["output"]["derivative"], json!(["inf"]));
        let r = reply(&format!(
            r#"{{"id":2,"kind":"evaluate","module":"adcheck","function":"hvp","input":{{"program":{program},"x":[1.0],"v":[1.0]}}}}"#
        ));
        assert_eq!(r["success"], false);
        assert!(r["error"].as_str().unwrap().starts_with("unsupported"));
        assert_eq!(reply(r#"{"id":4,"kind":"analysis"}"#), json!({"id": 4}));
        assert_eq!(reply("oops")["success"], false);
        // A line that is not UTF-8 gets its own error; the session goes on.
        let mut input = b"\xff\xfe garbage\n".to_vec();
        input.extend_from_slice(br#"{"id":6,"kind":"analysis"}"#);
        input.extend_from_slice(b"\n");
        let replies = session(&ReverseEngine, &input);
        assert_eq!(replies.len(), 2);
        assert_eq!(
            (replies[0]["id"].clone(), replies[0]["success"].clone()),
            (Value::Null, json!(false))
        );
        assert_eq!(replies[1], json!({"id": 6}));
        let r = reply(r#"{"id":5,"kind":"define","module":"nope"}"#);
        assert_eq!(
            (r["success"].clone(), r["id"].clone()),
            (json!(false), json!(5))
        );
    }
}
