//! The built-in reverse engine as a GradBench tool: a recorded session of
//! GradBench's `hello`, `lse` and `llsq` evals (message lines as GradBench
//! sends them) is replayed, and every reply is checked against the
//! functions' closed forms.

use adcheck_engines::reverse::ReverseEngine;
use adcheck_protocol::serve;
use serde_json::Value;

const SESSION: &str = include_str!("data/gradbench-session.jsonl");

fn replay() -> Vec<(Value, Value)> {
    let mut out = Vec::new();
    serve(&ReverseEngine, SESSION.as_bytes(), &mut out).unwrap();
    let replies: Vec<Value> = String::from_utf8(out)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let messages: Vec<Value> = SESSION
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(messages.len(), replies.len(), "one reply per message");
    messages.into_iter().zip(replies).collect()
}

fn numbers(v: &Value) -> Vec<f64> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap())
        .collect()
}

fn close(got: f64, want: f64, rel: f64) -> bool {
    (got - want).abs() <= rel * want.abs().max(f64::MIN_POSITIVE)
}

fn lse(x: &[f64]) -> (f64, Vec<f64>) {
    let a = x.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let sum: f64 = x.iter().map(|xi| (xi - a).exp()).sum();
    (
        a + sum.ln(),
        x.iter().map(|xi| (xi - a).exp() / sum).collect(),
    )
}

fn llsq(x: &[f64], n: usize) -> (f64, Vec<f64>) {
    let mut value = 0.0;
    let mut grad = vec![0.0; x.len()];
    for i in 0..n {
        let t = -1.0 + 2.0 * i as f64 / (n as f64 - 1.0);
        let s = if t == 0.0 { 0.0 } else { t.signum() };
        let powers: Vec<f64> = (0..x.len()).map(|j| t.powi(j as i32)).collect();
        let r = s - x.iter().zip(&powers).map(|(a, b)| a * b).sum::<f64>();
        value += 0.5 * r * r;
        for (g, p) in grad.iter_mut().zip(&powers) {
            *g -= r * p;
        }
    }
    (value, grad)
}

#[test]
fn hello_lse_and_llsq_answer_in_gradbench_formats() {
    let mut evaluated = 0;
    for (message, reply) in replay() {
        assert_eq!(
            reply["id"], message["id"],
            "the reply carries the message id"
        );
        match message["kind"].as_str().unwrap() {
            "start" => assert_eq!(reply["tool"], "adcheck-reverse"),
            "define" => assert_eq!(reply["success"], true, "{reply}"),
            "evaluate" => {
                evaluated += 1;
                assert_eq!(reply["success"], true, "{reply}");
                let timings = reply["timings"].as_array().unwrap();
                let runs = message["input"]["min_runs"].as_u64().unwrap_or(1);
                assert!(timings.len() as u64 >= runs, "one timing per run: {reply}");
                assert!(timings
                    .iter()
                    .all(|t| t["name"] == "evaluate" && t["nanoseconds"].as_u64().is_some()));
                let input = &message["input"];
                let output = &reply["output"];
                match (
                    message["module"].as_str().unwrap(),
                    message["function"].as_str().unwrap(),
                ) {
                    ("hello", "square") => {
                        let x = input.as_f64().unwrap();
                        assert_eq!(output.as_f64().unwrap(), x * x);
                    }
                    ("hello", "double") => {
                        let x = input.as_f64().unwrap();
                        assert_eq!(output.as_f64().unwrap(), 2.0 * x);
                    }
                    ("lse", function) => {
                        let (value, grad) = lse(&numbers(&input["x"]));
                        if function == "primal" {
                            assert!(close(output.as_f64().unwrap(), value, 4e-16));
                        } else {
                            let got = numbers(output);
                            assert_eq!(got.len(), grad.len());
                            for (g, w) in got.iter().zip(&grad) {
                                assert!(close(*g, *w, 1e-15), "lse gradient {got:?} vs {grad:?}");
                            }
                        }
                    }
                    ("llsq", function) => {
                        let n = input["n"].as_u64().unwrap() as usize;
                        let (value, grad) = llsq(&numbers(&input["x"]), n);
                        if function == "primal" {
                            assert!(close(output.as_f64().unwrap(), value, 1e-14));
                        } else {
                            let got = numbers(output);
                            assert_eq!(got.len(), grad.len());
                            for (g, w) in got.iter().zip(&grad) {
                                assert!(
                                    (g - w).abs() <= 1e-13 * n as f64,
                                    "llsq {got:?} vs {grad:?}"
                                );
                            }
                        }
                    }
                    other => panic!("unexpected evaluate {other:?}"),
                }
            }
            _ => assert_eq!(reply, serde_json::json!({"id": message["id"]})),
        }
    }
    assert_eq!(evaluated, 14);
}
