//! Real GradBench sessions, replayed: the GradBench harness (its own evals
//! and checker, commit f26651a7) was run against `adcheck serve --engine
//! reverse` and every message and reply recorded (`data/gradbench/`, from
//! `../shared/gradbench/`; `lse` without its inputs of 20,000 entries and
//! more). Each recorded message is sent again, in order, and each reply must
//! equal the recorded one, which GradBench's checker called valid, except
//! where this server changed on purpose since the recording: the `start`
//! reply of a GradBench session no longer lists adcheck's functions, and
//! the timings now have a `prepare` entry (building the program) before
//! the `evaluate` runs. Timings differ run to run and are checked in shape.

use adcheck_engines::reverse::ReverseEngine;
use adcheck_protocol::serve;
use serde_json::Value;

/// The recorded `message`s and `response`s of a session file, in order.
fn recorded(text: &str) -> (Vec<Value>, Vec<Value>) {
    let mut messages = Vec::new();
    let mut responses = Vec::new();
    for line in text.lines() {
        let entry: Value = serde_json::from_str(line).expect("a recorded line is JSON");
        if let Some(m) = entry.get("message") {
            messages.push(m.clone());
        } else if let Some(r) = entry.get("response") {
            responses.push(r.clone());
        } else {
            panic!("a line that is neither a message nor a response: {line}");
        }
    }
    assert_eq!(messages.len(), responses.len(), "one response a message");
    (messages, responses)
}

fn replies(messages: &[Value]) -> Vec<Value> {
    let input: String = messages.iter().map(|m| format!("{m}\n")).collect();
    let mut out = Vec::new();
    serve(&ReverseEngine, input.as_bytes(), &mut out).unwrap();
    String::from_utf8(out)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn without(mut v: Value, key: &str) -> Value {
    if let Value::Object(m) = &mut v {
        m.remove(key);
    }
    v
}

/// Replays `file` and checks every reply; returns how many `evaluate`
/// answers were compared.
fn replay(text: &str) -> usize {
    let (messages, recorded) = recorded(text);
    let got = replies(&messages);
    assert_eq!(got.len(), messages.len(), "one reply a message");
    let mut evaluated = 0;
    for (k, ((message, want), got)) in messages.iter().zip(&recorded).zip(&got).enumerate() {
        assert_eq!(
            got["id"], message["id"],
            "message {k}: the reply carries its id"
        );
        match message["kind"].as_str().unwrap() {
            "start" => {
                assert_eq!(got["tool"], want["tool"]);
                assert!(message["eval"].is_string(), "GradBench names its eval");
                assert_eq!(
                    got.get("config"),
                    None,
                    "no adcheck functions in a GradBench session"
                );
            }
            "evaluate" => {
                evaluated += 1;
                // The recorded answer was judged valid by GradBench.
                let analysis = messages
                    .iter()
                    .find(|m| m["kind"] == "analysis" && m["of"] == message["id"])
                    .unwrap_or_else(|| panic!("message {k}: no analysis recorded"));
                assert_eq!(analysis["valid"], true, "message {k}: {analysis}");
                assert_eq!(
                    without(got.clone(), "timings"),
                    without(want.clone(), "timings"),
                    "message {k}: the answer differs from the recorded one"
                );
                let timings = got["timings"].as_array().unwrap();
                let names: Vec<&str> = timings
                    .iter()
                    .map(|t| t["name"].as_str().unwrap())
                    .collect();
                let runs = names.iter().filter(|n| **n == "evaluate").count();
                let min_runs = message["input"]["min_runs"].as_u64().unwrap_or(1) as usize;
                assert!(
                    runs >= min_runs,
                    "message {k}: {runs} runs, {min_runs} asked"
                );
                assert!(names.iter().all(|n| *n == "evaluate" || *n == "prepare"));
                assert!(names.iter().filter(|n| **n == "prepare").count() <= 1);
                assert!(timings.iter().all(|t| t["nanoseconds"].as_u64().is_some()));
            }
            _ => assert_eq!(got, want, "message {k}"),
        }
    }
    evaluated
}

#[test]
fn hello_replays_as_recorded() {
    assert_eq!(
        replay(include_str!("data/gradbench/hello-reverse.jsonl")),
        8
    );
}

#[test]
fn lse_replays_as_recorded() {
    let evaluated = replay(include_str!("data/gradbench/lse-reverse.jsonl"));
    assert!(evaluated >= 2, "{evaluated}");
}

#[test]
fn llsq_replays_as_recorded() {
    assert_eq!(
        replay(include_str!("data/gradbench/llsq-reverse.jsonl")),
        22
    );
}

#[test]
fn an_eval_adcheck_does_not_implement_is_refused_as_recorded() {
    let evaluated = replay(include_str!("data/gradbench/ba-reverse.jsonl"));
    assert_eq!(evaluated, 0);
}

#[test]
fn the_ci_session_is_the_recorded_hello_session() {
    // .ci/run pipes this file into `adcheck serve`; it must not drift from
    // the real session it was cut from.
    let (messages, _) = recorded(include_str!("data/gradbench/hello-reverse.jsonl"));
    let ci: Vec<Value> = include_str!("data/gradbench/hello-messages.jsonl")
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(ci, messages);
}
