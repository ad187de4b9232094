//! Batches over the protocol: an engine that says it takes them is sent the
//! calls of many cases in one message, and the verdicts are the same as one
//! call a message; a batch that faults is answered call by call; a slow
//! start is the handshake's business, not a case's.

use adcheck_protocol::{ProcessEngine, ProcessOptions};
use adcheck_suites::conformance::{check_engine, ConformanceConfig, Outcome, Record, Suite};
use std::time::Duration;

const BIN: &str = env!("CARGO_BIN_EXE_misbehaving-engine");

fn config(cases: u64) -> ConformanceConfig {
    ConformanceConfig {
        cases,
        seed: 11,
        suites: vec![Suite::Generated, Suite::Properties, Suite::Catalogue],
        ..ConformanceConfig::default()
    }
}

fn engine(args: &[&str], options: ProcessOptions) -> ProcessEngine {
    let command = std::iter::once(BIN)
        .chain(args.iter().copied())
        .map(String::from)
        .collect();
    ProcessEngine::with_options(command, options).expect("starts")
}

fn options(batches: bool) -> ProcessOptions {
    ProcessOptions {
        batches,
        ..ProcessOptions::new(Duration::from_secs(20))
    }
}

/// What a record says, without its timing.
fn verdicts(records: &[Record]) -> Vec<(String, String, String, String, String)> {
    records
        .iter()
        .map(|r| {
            (
                r.case.clone(),
                r.check.name().to_string(),
                r.verdict.name().to_string(),
                format!("{:?}", r.meaning),
                r.reason.clone(),
            )
        })
        .collect()
}

#[test]
fn batched_and_unbatched_runs_give_the_same_verdicts_in_far_fewer_messages() {
    let one_by_one = engine(&["--batches"], options(false));
    let batched = engine(&["--batches"], options(true));
    assert_eq!(one_by_one.batch_max_calls(), 0);
    assert!(batched.batch_max_calls() > 0);
    let config = config(96);
    let a = check_engine(&one_by_one, &config);
    let b = check_engine(&batched, &config);
    assert!(a.records.len() > 500, "{}", a.records.len());
    assert_eq!(verdicts(&a.records), verdicts(&b.records));
    let (singles, batches) = (one_by_one.evaluate_messages(), batched.evaluate_messages());
    // 96 generated and 60 catalogue cases, 16 a batch: about ten messages,
    // against more than a thousand calls.
    assert!(singles > 1000, "{singles}");
    assert!(
        batches * 50 < singles,
        "{batches} batched messages vs {singles}"
    );
}

#[test]
fn a_batch_that_crashes_is_answered_call_by_call() {
    let dir = std::env::temp_dir().join(format!("adcheck-batch-crash-{}", std::process::id()));
    let _ = std::fs::remove_file(&dir);
    let once = dir.display().to_string();
    let clean = engine(&["--batches"], options(true));
    let crashing = engine(
        &[
            "--batches",
            "--fault",
            "crash",
            "--at",
            "1",
            "--once-file",
            &once,
        ],
        options(true),
    );
    let config = config(32);
    let a = check_engine(&clean, &config);
    let b = check_engine(&crashing, &config);
    let _ = std::fs::remove_file(&dir);
    // The crash cost one batch and one process; every case was judged.
    assert_eq!(verdicts(&a.records), verdicts(&b.records));
    assert!(crashing.processes_started() >= 2);
    assert!(b.records.iter().all(|r| r.verdict != Outcome::Fail));
}

#[test]
fn a_slow_start_waits_for_the_handshake_timeout_not_the_reply_timeout() {
    let slow = |startup: f64| {
        let command = [BIN, "--slow-start", "1.5"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        ProcessEngine::with_options(
            command,
            ProcessOptions {
                timeout: Duration::from_millis(500),
                startup_timeout: Duration::from_secs_f64(startup),
                name: None,
                batches: true,
            },
        )
    };
    let engine = slow(20.0).expect("a slow start within the handshake timeout is fine");
    let report = check_engine(
        &engine,
        &ConformanceConfig {
            suites: vec![Suite::Catalogue],
            ..config(0)
        },
    );
    assert!(!report.records.is_empty());
    assert!(
        report.records.iter().all(|r| r.verdict != Outcome::Fail),
        "no case pays for the start"
    );
    let error = slow(0.5)
        .err()
        .expect("too slow for its handshake timeout")
        .to_string();
    assert!(
        error.contains("handshake") && error.contains("start"),
        "{error}"
    );
}
