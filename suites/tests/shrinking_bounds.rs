//! Shrinking a wrong answer is bounded: a time limit per failure, a cap on
//! candidates that fault the engine, and the run's deadline; a process
//! fault is saved as found, never shrunk by re-running the engine.

use adcheck_engines::reverse::ReverseEngine;
use adcheck_engines::{Capabilities, Derivative, Engine, EngineError, ProcessFault, Program};
use adcheck_suites::conformance::{check_engine, ConformanceConfig, Suite};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// Reverse mode with every derivative doubled, after `delay`; programs of
/// at most `fault_below` assignments get a process fault instead.
struct Wrong {
    delay: Duration,
    fault_below: usize,
    calls: AtomicUsize,
}

impl Wrong {
    fn answer(
        &self,
        p: &Program,
        d: Result<Derivative, EngineError>,
    ) -> Result<Derivative, EngineError> {
        self.calls.fetch_add(1, Ordering::Relaxed);
        std::thread::sleep(self.delay);
        if p.body().len() <= self.fault_below {
            return Err(EngineError::Process {
                fault: ProcessFault::Crashed,
                detail: "simulated".into(),
            });
        }
        let mut d = d?;
        d.derivative.iter_mut().for_each(|g| *g *= 2.0);
        Ok(d)
    }
}

impl Engine for Wrong {
    fn name(&self) -> &str {
        "wrong"
    }
    fn capabilities(&self) -> Capabilities {
        Capabilities {
            hvp: false,
            ..ReverseEngine.capabilities()
        }
    }
    fn jvp(&self, p: &Program, x: &[f64], v: &[f64]) -> Result<Derivative, EngineError> {
        self.answer(p, ReverseEngine.jvp(p, x, v))
    }
    fn vjp(&self, p: &Program, x: &[f64], u: &[f64]) -> Result<Derivative, EngineError> {
        self.answer(p, ReverseEngine.vjp(p, x, u))
    }
}

fn config() -> ConformanceConfig {
    ConformanceConfig {
        cases: 8,
        seed: 11,
        suites: vec![Suite::Generated],
        ..ConformanceConfig::default()
    }
}

#[test]
fn a_slow_engine_stops_shrinking_at_the_time_limit() {
    let engine = Wrong {
        delay: Duration::from_millis(20),
        fault_below: 0,
        calls: AtomicUsize::new(0),
    };
    let config = ConformanceConfig {
        shrink_seconds: 0.3,
        ..config()
    };
    let report = check_engine(&engine, &config);
    assert!(!report.counterexamples.is_empty());
    for c in &report.counterexamples {
        // Judging a candidate takes at least 20 ms, so 400 would take 8 s.
        assert!(c.shrink_steps < 40, "{} candidates", c.shrink_steps);
        let why = c.not_shrunk.as_deref().unwrap_or_default();
        assert!(why.contains("shrink time limit (0.3 s)"), "{why:?}");
    }
}

#[test]
fn candidates_that_fault_the_engine_stop_shrinking_and_are_not_kept() {
    let engine = Wrong {
        delay: Duration::ZERO,
        fault_below: 2,
        calls: AtomicUsize::new(0),
    };
    let report = check_engine(&engine, &config());
    assert!(!report.counterexamples.is_empty());
    let mut stopped = 0;
    let wrong_answers = report
        .counterexamples
        .iter()
        .filter(|c| c.original_size > 2);
    for c in wrong_answers {
        // The shrunk case still shows the wrong answer, not a fault.
        assert!(
            c.size > 2,
            "{} from {}: {:?} {}",
            c.size,
            c.original_size,
            c.not_shrunk,
            c.case.evidence
        );
        assert!(
            !c.case.evidence.starts_with("engine_"),
            "{}",
            c.case.evidence
        );
        if c.not_shrunk.as_deref() == Some("2 candidates faulted the engine") {
            stopped += 1;
        }
    }
    assert!(stopped > 0, "{:?}", report.counterexamples[0].not_shrunk);
}

#[test]
fn a_deadline_stops_shrinking() {
    let engine = Wrong {
        delay: Duration::from_millis(5),
        fault_below: 0,
        calls: AtomicUsize::new(0),
    };
    let config = ConformanceConfig {
        deadline: Some(Instant::now() + Duration::from_millis(200)),
        ..config()
    };
    let report = check_engine(&engine, &config);
    let c = report.counterexamples.first().expect("a counterexample");
    assert_eq!(c.not_shrunk.as_deref(), Some("the time budget ran out"));
}

#[test]
fn a_process_fault_is_saved_as_found_without_calling_the_engine_again() {
    let engine = Wrong {
        delay: Duration::ZERO,
        fault_below: usize::MAX,
        calls: AtomicUsize::new(0),
    };
    let config = ConformanceConfig {
        cases: 1,
        ..config()
    };
    let report = check_engine(&engine, &config);
    let calls_in_the_run = engine.calls.load(Ordering::Relaxed);
    // A second fault stops the case: two calls, and none for shrinking.
    assert_eq!(calls_in_the_run, 2);
    assert_eq!(report.counterexamples.len(), 2);
    for c in &report.counterexamples {
        assert_eq!(c.shrink_steps, 0);
        assert_eq!(c.size, c.original_size);
        assert!(c
            .not_shrunk
            .as_deref()
            .is_some_and(|w| w.starts_with("a process fault")));
    }
}

#[test]
fn a_shrink_budget_of_zero_saves_failures_as_found() {
    let engine = Wrong {
        delay: Duration::ZERO,
        fault_below: 0,
        calls: AtomicUsize::new(0),
    };
    let config = ConformanceConfig {
        shrink_budget: 0,
        ..config()
    };
    let report = check_engine(&engine, &config);
    assert!(!report.counterexamples.is_empty());
    for c in &report.counterexamples {
        assert_eq!(c.shrink_steps, 0);
        assert_eq!(c.size, c.original_size);
        assert_eq!(
            c.not_shrunk.as_deref(),
            Some("the shrink budget is 0: saved as found")
        );
    }
}
