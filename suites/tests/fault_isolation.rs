//! Engines that misbehave — panic, answer with the wrong length, answer NaN
//! everywhere, or return errors — are reported with a named reason, and the
//! run completes with every case accounted for.

use adcheck_engines::{
    CallStats, Capabilities, Derivative, Differentiable, Engine, EngineError, Program,
};
use adcheck_suites::conformance::{check_engine, ConformanceConfig, Outcome, Suite};

#[derive(Clone, Copy)]
enum Misbehaviour {
    Panics,
    WrongLength,
    NaN,
    Errors,
}

struct Bad(Misbehaviour);

impl Bad {
    fn answer(&self, p: &Program, len: usize) -> Result<Derivative, EngineError> {
        let primal = vec![0.0; p.n_outputs()];
        match self.0 {
            Misbehaviour::Panics => panic!("the engine fell over"),
            Misbehaviour::WrongLength => Ok(Derivative {
                primal,
                derivative: vec![0.0; len + 1],
                stats: CallStats::default(),
            }),
            Misbehaviour::NaN => Ok(Derivative {
                primal: vec![f64::NAN; p.n_outputs()],
                derivative: vec![f64::NAN; len],
                stats: CallStats::default(),
            }),
            Misbehaviour::Errors => Err(EngineError::Failed("out of memory".into())),
        }
    }
}

impl Engine for Bad {
    fn name(&self) -> &str {
        "bad"
    }
    fn capabilities(&self) -> Capabilities {
        Capabilities {
            forward: true,
            reverse: true,
            hvp: false,
            reverse_bitwise: false,
        }
    }
    fn jvp(&self, p: &Program, _x: &[f64], _v: &[f64]) -> Result<Derivative, EngineError> {
        self.answer(p, p.n_outputs())
    }
    fn vjp(&self, p: &Program, _x: &[f64], _u: &[f64]) -> Result<Derivative, EngineError> {
        self.answer(p, p.n_inputs())
    }
}

#[test]
fn misbehaving_engines_get_named_failures_and_the_run_completes() {
    let config = ConformanceConfig {
        cases: 40,
        seed: 9,
        suites: vec![Suite::Generated, Suite::Catalogue],
        shrink_budget: 10,
        ..ConformanceConfig::default()
    };
    let expected_reason = [
        (
            Misbehaviour::Panics,
            "engine panicked: the engine fell over",
        ),
        (Misbehaviour::WrongLength, "malformed answer"),
        (Misbehaviour::NaN, "expected"),
        (
            Misbehaviour::Errors,
            "engine error: engine failure: out of memory",
        ),
    ];
    // Silence the panic messages of the panicking engine.
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    for (behaviour, reason) in expected_reason {
        let report = check_engine(&Bad(behaviour), &config);
        // Every generated case and every catalogue case was checked.
        let cases: std::collections::BTreeSet<&str> =
            report.records.iter().map(|r| r.case.as_str()).collect();
        assert_eq!(
            cases.len(),
            40 + adcheck_suites::catalogue::catalogue().len()
        );
        let fails: Vec<_> = report
            .records
            .iter()
            .filter(|r| r.verdict == Outcome::Fail)
            .collect();
        assert!(!fails.is_empty());
        assert!(
            fails.iter().any(|r| r.reason.contains(reason)),
            "no failure says `{reason}`: {:?}",
            fails.first().map(|r| &r.reason)
        );
        assert_eq!(
            report.count(Outcome::Pass)
                + report.count(Outcome::Convention)
                + report.count(Outcome::Fail)
                + report.count(Outcome::Inconclusive),
            report.records.len()
        );
        // Every failure says what it means.
        assert!(report
            .records
            .iter()
            .filter(|r| r.verdict == Outcome::Fail)
            .all(|r| r.meaning.is_some()));
    }
    std::panic::set_hook(hook);
}
