//! `Check`, the one call from an engine crate's tests: a clean engine
//! passes and gets its report; a planted bug fails with a readable summary,
//! is saved as replay files, and is replayed first by the next run.

use adcheck_campaign::check::Check;
use adcheck_engines::forward::ForwardEngine;
use adcheck_engines::{Capabilities, Derivative, Engine, EngineError, Program};
use adcheck_suites::conformance::{FailMeaning, Suite};

/// The forward engine, but every J·v of a program with `sin` is 0.1% off.
struct SinOff;

impl Engine for SinOff {
    fn name(&self) -> &str {
        "sin-off"
    }
    fn capabilities(&self) -> Capabilities {
        ForwardEngine.capabilities()
    }
    fn jvp(&self, p: &Program, x: &[f64], v: &[f64]) -> Result<Derivative, EngineError> {
        let mut d = ForwardEngine.jvp(p, x, v)?;
        if p.to_string().contains("= sin ") {
            d.derivative.iter_mut().for_each(|t| *t *= 1.001);
        }
        Ok(d)
    }
    fn vjp(&self, p: &Program, x: &[f64], u: &[f64]) -> Result<Derivative, EngineError> {
        ForwardEngine.vjp(p, x, u)
    }
}

#[test]
fn a_clean_engine_passes_and_gets_its_report() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("forward");
    let outcome = Check::new(&ForwardEngine, &out).cases(60).run().unwrap();
    outcome.assert_no_failures();
    assert_eq!(outcome.failing(), 0);
    for file in [
        "conformance.md",
        "conformance.html",
        "conformance.csv",
        "cases.csv",
        "summary.json",
    ] {
        assert!(out.join(file).is_file(), "{file} missing");
    }
    let report = std::fs::read_to_string(&outcome.report).unwrap();
    assert!(
        report.contains("# Conformance report: `forward`"),
        "{report}"
    );
    assert!(
        outcome.summary().contains("checks"),
        "{}",
        outcome.summary()
    );
}

#[test]
fn a_planted_bug_fails_readably_is_saved_and_replays_first() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("sin-off");
    let check = || {
        Check::new(&SinOff, &out)
            .cases(150)
            .suites(&[Suite::Generated])
            .run()
            .unwrap()
    };
    let first = check();
    assert!(first.count(FailMeaning::Wrong) > 0, "{}", first.summary());
    assert_eq!(first.replayed, 0);
    let saved = std::fs::read_dir(out.join("failures")).unwrap().count();
    assert!(saved > 0);
    let panic =
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| first.assert_no_failures()))
            .expect_err("a wrong derivative fails the test");
    let message = panic.downcast_ref::<String>().unwrap();
    assert!(
        message.contains("wrong") && message.contains("conformance.md"),
        "{message}"
    );
    // The next run replays every saved failure before the suites; they
    // fail again and keep their files.
    let second = check();
    assert_eq!(second.replayed, saved);
    let replayed_failures = second
        .finished
        .outcome
        .reports
        .iter()
        .flat_map(|r| &r.records)
        .filter(|r| r.suite == Suite::Corpus && r.fail_meaning() == Some(FailMeaning::Wrong))
        .count();
    assert!(replayed_failures >= saved, "{}", second.summary());
    assert!(std::fs::read_dir(out.join("failures")).unwrap().count() >= saved);
    let report = std::fs::read_to_string(&second.report).unwrap();
    assert!(
        report.contains("the next `cargo test` replays it first"),
        "{report}"
    );
}

#[test]
fn a_missing_corpus_folder_is_an_input_error() {
    let dir = tempfile::tempdir().unwrap();
    let error = Check::new(&ForwardEngine, dir.path())
        .corpus(dir.path().join("nowhere"))
        .run()
        .err()
        .expect("no such folder");
    assert!(error.to_string().contains("no such folder"), "{error}");
}
