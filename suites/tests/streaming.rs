//! `run_streaming` hands each case on in the canonical order however the
//! workers finish, holds nothing back, and ends (rather than hangs) when
//! its sink panics.

use adcheck_engines::forward::ForwardEngine;
use adcheck_engines::reverse::ReverseEngine;
use adcheck_engines::{Capabilities, Derivative, Engine, EngineError, Program};
use adcheck_suites::catalogue::catalogue;
use adcheck_suites::conformance::{run_streaming, ConformanceConfig, Suite};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Reverse mode that sleeps on programs of an odd number of assignments,
/// so that workers finish cases out of order.
struct Uneven;

impl Uneven {
    fn wait(p: &Program) {
        if p.body().len() % 2 == 1 {
            std::thread::sleep(Duration::from_millis(3));
        }
    }
}

impl Engine for Uneven {
    fn name(&self) -> &str {
        "uneven"
    }
    fn capabilities(&self) -> Capabilities {
        Capabilities {
            hvp: false,
            ..ReverseEngine.capabilities()
        }
    }
    fn jvp(&self, p: &Program, x: &[f64], v: &[f64]) -> Result<Derivative, EngineError> {
        Self::wait(p);
        ReverseEngine.jvp(p, x, v)
    }
    fn vjp(&self, p: &Program, x: &[f64], u: &[f64]) -> Result<Derivative, EngineError> {
        Self::wait(p);
        ReverseEngine.vjp(p, x, u)
    }
}

#[test]
fn cases_come_in_the_canonical_order_whatever_order_they_finish_in() {
    let config = ConformanceConfig {
        cases: 120,
        seed: 5,
        suites: vec![Suite::Generated, Suite::Catalogue, Suite::Properties],
        ..ConformanceConfig::default()
    };
    let engines: [&dyn Engine; 2] = [&Uneven, &ForwardEngine];
    // (engine, the case of each record) per call, in the order of calls.
    let mut calls: Vec<(usize, Vec<String>)> = Vec::new();
    let counts = run_streaming(&engines, &config, &|_| {}, &mut |e, outcome| {
        calls.push((e, outcome.records.iter().map(|r| r.case.clone()).collect()));
    });
    assert_eq!(counts.skipped, 0);
    let expected_cases: Vec<String> = catalogue()
        .iter()
        .map(|p| format!("cat-{}", p.name))
        .chain((0..config.cases).map(|i| format!("gen-{i}")))
        .collect();
    assert_eq!(counts.scheduled as usize, expected_cases.len());
    // One call per case and engine, engines in their order within a case.
    assert_eq!(calls.len(), 2 * expected_cases.len());
    for (k, (e, cases)) in calls.iter().enumerate() {
        assert_eq!(*e, k % 2, "call {k}");
        let case = &expected_cases[k / 2];
        assert!(
            cases.iter().all(|c| c == case),
            "call {k} should hold only {case}: {cases:?}"
        );
    }
    // Every generated case was checked (none handed on empty).
    for (k, (_, cases)) in calls.iter().enumerate() {
        if expected_cases[k / 2].starts_with("gen-") {
            assert!(
                !cases.is_empty(),
                "{} had no records",
                expected_cases[k / 2]
            );
        }
    }
}

#[test]
fn a_panicking_sink_ends_the_run_instead_of_hanging() {
    // More cases than are ever judged ahead of the sink; the sink waits
    // until the workers have run that far ahead (and so wait for it), then
    // panics: they must be let go, or the run would hang.
    let config = ConformanceConfig {
        cases: 6000,
        seed: 9,
        suites: vec![Suite::Generated],
        ..ConformanceConfig::default()
    };
    let engines: [&dyn Engine; 1] = [&ReverseEngine];
    let finished = AtomicU64::new(0);
    let mut seen = 0;
    let run = catch_unwind(AssertUnwindSafe(|| {
        run_streaming(
            &engines,
            &config,
            &|k| {
                finished.fetch_add(k, Ordering::Relaxed);
            },
            &mut |_, _| {
                seen += 1;
                let start = Instant::now();
                while finished.load(Ordering::Relaxed) < 4000
                    && start.elapsed() < Duration::from_secs(60)
                {
                    std::thread::sleep(Duration::from_millis(5));
                }
                panic!("the sink gives up");
            },
        )
    }));
    let panic = run.expect_err("the sink's panic reaches the caller");
    assert_eq!(panic.downcast_ref::<&str>(), Some(&"the sink gives up"));
    assert_eq!(seen, 1);
    let judged = finished.load(Ordering::Relaxed);
    assert!(
        (4000..6000).contains(&judged),
        "the workers should have stopped {judged} cases in, short of 6000"
    );
}
