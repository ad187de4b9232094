//! GradBench's `hello`, `lse` and `llsq` evals, answered by any engine.
//!
//! The functions are built as [`Program`]s from their primitive operations
//! (GradBench asks that LSE not call a built-in with a hand-written
//! derivative), then evaluated in `f64` (`primal`, `square`) or
//! differentiated by the engine (`gradient`, `double`).

use crate::wire::WireF64;
use adcheck_engines::{trace, Differentiable, Engine, Program, Scalar};
use serde::Deserialize;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

/// The GradBench modules answered.
pub const MODULES: [&str; 3] = ["hello", "lse", "llsq"];

/// `LSE(x) = a + ln Σ exp(xᵢ − a)` with `a = max x`.
struct LogSumExp {
    n: usize,
}

impl Differentiable for LogSumExp {
    fn n_inputs(&self) -> usize {
        self.n
    }
    fn n_outputs(&self) -> usize {
        1
    }
    fn eval<S: Scalar>(&self, x: &[S]) -> Vec<S> {
        let a = x[1..].iter().fold(x[0].clone(), |a, xi| a.max(xi));
        let sum = x[1..]
            .iter()
            .fold((x[0].clone() - a.clone()).exp(), |s, xi| {
                s + (xi.clone() - a.clone()).exp()
            });
        vec![a + sum.ln()]
    }
}

/// GradBench's `llsq` objective: `½ Σᵢ (sign tᵢ − Σⱼ xⱼ tᵢʲ)²` with
/// `tᵢ = −1 + 2i/(n − 1)`.
struct LinearLeastSquares {
    n: usize,
    m: usize,
}

impl Differentiable for LinearLeastSquares {
    fn n_inputs(&self) -> usize {
        self.m
    }
    fn n_outputs(&self) -> usize {
        1
    }
    fn eval<S: Scalar>(&self, x: &[S]) -> Vec<S> {
        let mut total = S::from_f64(0.0);
        for i in 0..self.n {
            let t = -1.0 + (i as f64 * 2.0) / (self.n as f64 - 1.0);
            let sign = if t > 0.0 {
                1.0
            } else if t < 0.0 {
                -1.0
            } else {
                0.0
            };
            let mut power = 1.0;
            let mut residual = S::from_f64(sign);
            for xj in x {
                residual = residual - xj.clone() * S::from_f64(power);
                power *= t;
            }
            total = total + residual.clone() * residual;
        }
        vec![total * S::from_f64(0.5)]
    }
}

/// The most entries an `lse` input `x` may have, and the most terms
/// (`n` × the length of `x`) an `llsq` input may ask for: twice the largest
/// input GradBench's own evals send (`llsq` n = 16392 with 128 entries),
/// and a traced program of a few hundred MB.
pub const MAX_TERMS: usize = 1 << 22;

/// The most runs one `evaluate` may ask for (`min_runs`).
pub const MAX_RUNS: u64 = 10_000;

/// The longest `min_seconds` one `evaluate` may ask for.
pub const MAX_MIN_SECONDS: f64 = 60.0;

/// GradBench's `Runs`: how many times to evaluate, and for how long.
#[derive(Deserialize)]
struct Runs {
    #[serde(default = "one")]
    min_runs: u64,
    #[serde(default)]
    min_seconds: f64,
}

fn one() -> u64 {
    1
}

impl Runs {
    /// A one-line error when the runs asked for are beyond the bounds.
    fn check(&self) -> Result<(), String> {
        if self.min_runs > MAX_RUNS {
            return Err(format!(
                "`min_runs` {} is above the bound {MAX_RUNS}",
                self.min_runs
            ));
        }
        if self.min_seconds.is_nan() || self.min_seconds > MAX_MIN_SECONDS {
            return Err(format!(
                "`min_seconds` {} is above the bound {MAX_MIN_SECONDS}",
                self.min_seconds
            ));
        }
        Ok(())
    }
}

#[derive(Deserialize)]
struct LseInput {
    x: Vec<f64>,
    #[serde(flatten)]
    runs: Runs,
}

#[derive(Deserialize)]
struct LlsqInput {
    x: Vec<f64>,
    n: usize,
    #[serde(flatten)]
    runs: Runs,
}

/// Evaluates `function` of GradBench module `module`; the reply's fields
/// other than `id` (`success`, `output`, `timings`, `error`).
pub fn evaluate(engine: &dyn Engine, module: &str, function: &str, input: &Value) -> Value {
    match evaluate_inner(engine, module, function, input) {
        Ok(answer) => {
            // GradBench's convention: `evaluate` times the function alone;
            // building the program first is a separate `prepare`.
            let mut timings = Vec::new();
            if let Some(prepare) = answer.prepare {
                timings.push(json!({"name": "prepare", "nanoseconds": prepare.as_nanos() as u64}));
            }
            timings.extend(
                answer
                    .runs
                    .iter()
                    .map(|t| json!({"name": "evaluate", "nanoseconds": t.as_nanos() as u64})),
            );
            json!({"success": true, "output": answer.output.to_json(), "timings": timings})
        }
        Err(error) => json!({"success": false, "error": error}),
    }
}

/// What a function computed, before it is written as JSON (outside the
/// timed runs).
enum Output {
    Number(f64),
    Numbers(Vec<f64>),
}

impl Output {
    fn to_json(&self) -> Value {
        match self {
            Output::Number(x) => json!(WireF64(*x)),
            Output::Numbers(xs) => json!(crate::wire::encode(xs)),
        }
    }
}

/// An answer: the output, the time building the program took (when it is
/// built per message), and one time per run.
struct Answer {
    output: Output,
    prepare: Option<Duration>,
    runs: Vec<Duration>,
}

fn evaluate_inner(
    engine: &dyn Engine,
    module: &str,
    function: &str,
    input: &Value,
) -> Result<Answer, String> {
    let parse = |what: &str| format!("`{module}` input: {what}");
    match module {
        "hello" => {
            let x = input.as_f64().ok_or_else(|| parse("expected a number"))?;
            let square = Program::parse("input x\ny = mul x x\noutput y").expect("valid");
            let once = Runs {
                min_runs: 1,
                min_seconds: 0.0,
            };
            let mut answer =
                run_function(engine, &square, function, &[x], &once, "square", "double")?;
            // `double` of R → R answers a number, not a one-entry gradient.
            if let Output::Numbers(entries) = &answer.output {
                if entries.len() == 1 {
                    answer.output = Output::Number(entries[0]);
                }
            }
            Ok(answer)
        }
        "lse" => {
            let input: LseInput =
                serde_json::from_value(input.clone()).map_err(|e| parse(&e.to_string()))?;
            if input.x.is_empty() {
                return Err(parse("`x` is empty"));
            }
            if input.x.len() > MAX_TERMS {
                return Err(parse(&format!(
                    "`x` has {} entries, above the bound {MAX_TERMS}",
                    input.x.len()
                )));
            }
            input.runs.check().map_err(|e| parse(&e))?;
            let f = LogSumExp { n: input.x.len() };
            let started = Instant::now();
            let program = trace(&f, &input.x);
            let prepare = started.elapsed();
            let mut answer = run_function(
                engine,
                &program,
                function,
                &input.x,
                &input.runs,
                "primal",
                "gradient",
            )?;
            answer.prepare = Some(prepare);
            Ok(answer)
        }
        "llsq" => {
            let input: LlsqInput =
                serde_json::from_value(input.clone()).map_err(|e| parse(&e.to_string()))?;
            if input.x.is_empty() || input.n < 2 {
                return Err(parse("needs a non-empty `x` and `n` of at least 2"));
            }
            let terms = input.n.saturating_mul(input.x.len());
            if terms > MAX_TERMS {
                return Err(parse(&format!(
                    "`n` × the length of `x` is {terms}, above the bound {MAX_TERMS}"
                )));
            }
            input.runs.check().map_err(|e| parse(&e))?;
            let f = LinearLeastSquares {
                n: input.n,
                m: input.x.len(),
            };
            let started = Instant::now();
            let program = trace(&f, &input.x);
            let prepare = started.elapsed();
            let mut answer = run_function(
                engine,
                &program,
                function,
                &input.x,
                &input.runs,
                "primal",
                "gradient",
            )?;
            answer.prepare = Some(prepare);
            Ok(answer)
        }
        other => Err(format!(
            "unknown module `{other}` (known: adcheck, {})",
            MODULES.join(", ")
        )),
    }
}

/// Runs the primal (`primal_name`) or the gradient (`gradient_name`) of a
/// scalar program as often as `runs` asks, timing each run.
fn run_function(
    engine: &dyn Engine,
    program: &Program,
    function: &str,
    x: &[f64],
    runs: &Runs,
    primal_name: &str,
    gradient_name: &str,
) -> Result<Answer, String> {
    let once = || -> Result<Output, String> {
        if function == primal_name {
            Ok(Output::Number(program.eval(x)[0]))
        } else if function == gradient_name {
            let d = engine.gradient(program, x).map_err(|e| e.to_string())?;
            Ok(Output::Numbers(d.derivative))
        } else {
            Err(format!(
                "unknown function `{function}` (known: {primal_name}, {gradient_name})"
            ))
        }
    };
    let mut timings = Vec::new();
    let started = Instant::now();
    loop {
        let t = Instant::now();
        let output = once()?;
        timings.push(t.elapsed());
        if timings.len() as u64 >= runs.min_runs.max(1)
            && started.elapsed().as_secs_f64() >= runs.min_seconds
        {
            return Ok(Answer {
                output,
                prepare: None,
                runs: timings,
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lse_program_is_built_from_primitives() {
        let p = trace(&LogSumExp { n: 3 }, &[0.0, 1.0, 2.0]);
        let text = p.to_string();
        assert!(text.contains("max") && text.contains("exp") && text.contains("ln"));
        assert!(!text.contains("logsumexp"));
        let y = p.eval(&[0.0, 1.0, 2.0])[0];
        let exact = (1.0f64 + 1f64.exp() + 2f64.exp()).ln();
        assert!((y - exact).abs() <= 2.0 * f64::EPSILON * exact);
    }

    #[test]
    fn inputs_beyond_the_bounds_are_one_line_errors() {
        use adcheck_engines::reverse::ReverseEngine;
        let cases = [
            ("llsq", json!({"x": [0.0, 1.0], "n": 1u64 << 40})),
            ("llsq", json!({"x": [0.0], "n": usize::MAX})),
            ("llsq", json!({"x": [0.0], "n": 8, "min_runs": 1u64 << 40})),
            ("llsq", json!({"x": [0.0], "n": 8, "min_seconds": 1e300})),
            ("lse", json!({"x": [0.0], "min_seconds": 3600.0})),
            ("lse", json!({"x": [0.0], "min_runs": 10_001})),
        ];
        for (module, input) in cases {
            let function = if module == "lse" {
                "primal"
            } else {
                "gradient"
            };
            let reply = evaluate(&ReverseEngine, module, function, &input);
            assert_eq!(reply["success"], json!(false), "{input}");
            let error = reply["error"].as_str().unwrap();
            assert!(error.contains("above the bound"), "{error}");
            assert_eq!(error.lines().count(), 1);
        }
        // At the bounds, an answer.
        let reply = evaluate(
            &ReverseEngine,
            "llsq",
            "primal",
            &json!({"x": [0.0], "n": 8, "min_runs": 3, "min_seconds": 0.0}),
        );
        assert_eq!(reply["success"], json!(true), "{reply}");
        // One `prepare` (building the program), then one `evaluate` a run.
        let names: Vec<&str> = reply["timings"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["name"].as_str().unwrap())
            .collect();
        assert_eq!(names, ["prepare", "evaluate", "evaluate", "evaluate"]);
    }

    #[test]
    fn llsq_matches_the_definition() {
        // n = 3: t = −1, 0, 1 and s = −1, 0, 1; with x = (a, b):
        // ½[(−1 − a + b)² + (0 − a)² + (1 − a − b)²].
        let (a, b) = (0.25, -0.5);
        let f = LinearLeastSquares { n: 3, m: 2 };
        let exact = 0.5 * ((-1.0 - a + b) * (-1.0 - a + b) + a * a + (1.0 - a - b) * (1.0 - a - b));
        assert_eq!(f.eval(&[a, b])[0], exact);
    }
}
