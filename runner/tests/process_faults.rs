//! Engines in other processes that crash, hang, print garbage, answer with
//! the wrong id or the wrong length: each fault becomes one named verdict,
//! and the run completes with every other result intact.

use adcheck_engines::Engine;
use adcheck_protocol::ProcessEngine;
use adcheck_suites::conformance::{check_engine, ConformanceConfig, Outcome, Record, Suite};
use std::collections::BTreeMap;
use std::time::Duration;

const BIN: &str = env!("CARGO_BIN_EXE_misbehaving-engine");

fn config() -> ConformanceConfig {
    ConformanceConfig {
        suites: vec![Suite::Catalogue],
        seed: 7,
        ..ConformanceConfig::default()
    }
}

fn engine(fault: &str, once: &std::path::Path, timeout: Duration) -> ProcessEngine {
    let command = [BIN, "--fault", fault, "--at", "5", "--once-file"]
        .iter()
        .map(|s| s.to_string())
        .chain([once.display().to_string()])
        .collect();
    ProcessEngine::start(command, timeout, Some("misbehaving".into())).expect("starts")
}

type Keyed = BTreeMap<(String, String), Record>;

fn keyed(records: Vec<Record>) -> Keyed {
    records
        .into_iter()
        .map(|r| ((r.case.clone(), r.check.name().to_string()), r))
        .collect()
}

/// Runs the catalogue with `fault` injected once; returns the faulted
/// record after checking that every other result equals the clean run's.
fn faulted_record(fault: &str, timeout: Duration) -> Record {
    let dir = tempfile::tempdir().unwrap();
    let clean = keyed(
        check_engine(
            &engine("none", &dir.path().join("unused"), timeout),
            &config(),
        )
        .records,
    );
    assert!(
        clean.len() > 100,
        "the catalogue gives {} records",
        clean.len()
    );
    assert!(
        clean.values().all(|r| r.verdict != Outcome::Fail),
        "the reverse engine over the protocol fails: {:?}",
        clean.values().find(|r| r.verdict == Outcome::Fail)
    );
    let faulty_engine = engine(fault, &dir.path().join("once"), timeout);
    let faulty = keyed(check_engine(&faulty_engine, &config()).records);
    let differing: Vec<&Record> = faulty
        .iter()
        .filter(|(key, r)| clean.get(*key).is_none_or(|c| c.verdict != r.verdict))
        .map(|(_, r)| r)
        .collect();
    // One fault, one failed record; after a timeout the rest of that case
    // is not run (and says so), and nothing else changes.
    let (failed, not_run): (Vec<&Record>, Vec<&Record>) =
        differing.iter().partition(|r| r.verdict == Outcome::Fail);
    assert_eq!(failed.len(), 1, "{fault}: {differing:#?}");
    let hit = failed[0].clone();
    for r in &not_run {
        assert_eq!(
            (r.case.as_str(), r.verdict.name(), r.reason.as_str()),
            (hit.case.as_str(), "inconclusive", "not_run_after_fault"),
            "{fault}: {differing:#?}"
        );
    }
    if fault != "hang" {
        assert!(not_run.is_empty(), "{fault}: {differing:#?}");
    }
    // Nothing else is lost: the faulted answer can only take its own primal
    // check with it.
    for key in clean.keys() {
        assert!(
            faulty.contains_key(key) || (key.0 == hit.case && key.1 == "primal"),
            "{fault}: lost {key:?}"
        );
    }
    // The faulty process was replaced, and the run went on.
    if fault != "wrong-length" {
        assert!(faulty_engine.processes_started() >= 2);
    }
    hit
}

#[test]
fn a_crash_is_named_and_the_run_completes() {
    let r = faulted_record("crash", Duration::from_secs(20));
    assert_eq!(r.verdict, Outcome::Fail);
    assert!(r.reason.starts_with("engine_crashed"), "{}", r.reason);
    assert!(
        r.reason.contains("simulated crash"),
        "quotes stderr: {}",
        r.reason
    );
}

#[test]
fn a_hang_times_out_and_the_run_completes() {
    let r = faulted_record("hang", Duration::from_secs(2));
    assert_eq!(r.verdict, Outcome::Fail);
    assert!(r.reason.starts_with("engine_timeout"), "{}", r.reason);
}

#[test]
fn garbage_is_named_and_the_run_completes() {
    let r = faulted_record("garbage", Duration::from_secs(20));
    assert_eq!(r.verdict, Outcome::Fail);
    assert!(r.reason.starts_with("engine_garbage"), "{}", r.reason);
    assert!(r.reason.contains("this is not a reply"), "{}", r.reason);
}

#[test]
fn a_wrong_id_is_named_and_the_run_completes() {
    let r = faulted_record("wrong-id", Duration::from_secs(20));
    assert_eq!(r.verdict, Outcome::Fail);
    assert!(r.reason.starts_with("engine_wrong_id"), "{}", r.reason);
}

#[test]
fn a_wrong_length_is_a_malformed_answer() {
    let r = faulted_record("wrong-length", Duration::from_secs(20));
    assert_eq!(r.verdict, Outcome::Fail);
    assert!(r.reason.contains("malformed"), "{}", r.reason);
}

#[test]
fn an_engine_that_cannot_start_is_an_error_up_front() {
    let err = ProcessEngine::start(
        vec!["/nonexistent/engine".into()],
        Duration::from_secs(5),
        None,
    )
    .err()
    .expect("fails");
    assert!(err.to_string().starts_with("engine_unavailable"), "{err}");
    let err = ProcessEngine::start(
        vec![BIN.into(), "--fault".into(), "bogus".into()],
        Duration::from_secs(5),
        None,
    )
    .err()
    .expect("fails");
    assert!(err.to_string().starts_with("engine_unavailable"), "{err}");
}

#[test]
fn the_handshake_names_the_tool_and_its_functions() {
    let e = ProcessEngine::start(vec![BIN.into()], Duration::from_secs(20), None).unwrap();
    assert_eq!(e.name(), "adcheck-reverse");
    assert_eq!(
        e.functions(),
        ["primal", "jvp", "vjp", "gradient", "jacobian"]
    );
    assert!(!e.capabilities().hvp);
}
