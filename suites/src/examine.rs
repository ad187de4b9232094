//! A closer look at one engine on the pitfall catalogue, for conformance
//! reports: what it answers at every case, the MPFR reference beside it, and
//! whether a mismatch is a wrong derivative or another convention.
//!
//! At a kink or a domain edge the derivative is a choice (the table in
//! `adcheck_engines::conventions`); an engine that chooses otherwise is
//! reported as following another convention, not as wrong. A mismatch
//! counts as wrong only where both MPFR references agree on the value.

use crate::catalogue::{catalogue, Pitfall};
use adcheck_engines::{Differentiable, Engine};
use adcheck_oracle::{Oracle, Quantity, Support};
use serde::Serialize;
use std::panic::{catch_unwind, AssertUnwindSafe};

/// How an engine's gradient compares with a catalogue case's expectation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PitfallOutcome {
    /// The expected gradient (exact, or the declared convention).
    Matches,
    /// Another value where the derivative is a convention (a kink, a tie, a
    /// domain edge): MPFR cannot single out one value there.
    OtherConvention,
    /// Another value where both MPFR references agree with the expectation.
    Wrong,
    /// The engine returned an error or panicked.
    Error,
}

impl PitfallOutcome {
    /// A short name for tables.
    pub fn name(self) -> &'static str {
        match self {
            PitfallOutcome::Matches => "matches",
            PitfallOutcome::OtherConvention => "other convention",
            PitfallOutcome::Wrong => "wrong",
            PitfallOutcome::Error => "error",
        }
    }
}

/// One entry of the MPFR gradient reference.
#[derive(Clone, Debug, Serialize)]
#[non_exhaustive]
pub struct ReferenceEntry {
    /// The symbolic value, correctly rounded to `f64`.
    pub value: f64,
    /// The symbolic value to 30 significant digits.
    pub digits: String,
    /// How the finite differences back it: `confirmed`, `kink`,
    /// `domain_edge`, `unconfirmed`, `disagreement`.
    pub support: &'static str,
}

/// An engine's answer to one catalogue case.
#[derive(Clone, Debug, Serialize)]
#[non_exhaustive]
pub struct PitfallAnswer {
    /// The case name.
    pub name: String,
    /// Its family.
    pub family: String,
    /// What goes wrong in tools that get it wrong.
    pub note: String,
    /// The program, text form.
    pub program: String,
    /// The point.
    pub point: Vec<f64>,
    /// The expected gradient (NaN: any non-finite value).
    pub expected: Vec<f64>,
    /// The engine's gradient, or its error.
    pub got: Result<Vec<f64>, String>,
    /// The MPFR reference, entry by entry (empty if the oracle refused).
    pub reference: Vec<ReferenceEntry>,
    /// Whether the case is a convention: some entry of the reference is not
    /// confirmed by finite differences (a kink, a tie or an edge lies in
    /// the stencil).
    pub is_convention: bool,
    /// The verdict.
    pub outcome: PitfallOutcome,
}

fn support_name(s: Support) -> &'static str {
    match s {
        Support::Confirmed => "confirmed",
        Support::Kink => "kink",
        Support::DomainEdge => "domain_edge",
        Support::Unconfirmed => "unconfirmed",
        Support::Disagreement => "disagreement",
    }
}

/// `engine`'s answer to `pitfall`, with the MPFR reference.
pub fn examine(engine: &dyn Engine, oracle: &Oracle, pitfall: &Pitfall) -> PitfallAnswer {
    let program = pitfall.parse();
    let got = match catch_unwind(AssertUnwindSafe(|| {
        engine.gradient(&program, &pitfall.point)
    })) {
        Ok(Ok(d)) if d.derivative.len() == program.n_inputs() => Ok(d.derivative),
        Ok(Ok(d)) => Err(format!(
            "malformed answer: {} entries for {} inputs",
            d.derivative.len(),
            program.n_inputs()
        )),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err("engine panicked".into()),
    };
    let full = oracle
        .reference(&program, &pitfall.point, &Quantity::Gradient)
        .ok();
    let reference: Vec<ReferenceEntry> = full
        .as_ref()
        .map(|r| {
            r.entries
                .iter()
                .map(|e| ReferenceEntry {
                    value: e.rounded,
                    digits: format!("{:.30e}", e.exact),
                    support: support_name(e.support),
                })
                .collect()
        })
        .unwrap_or_default();
    // Where the derivative is not one value: a tie the admissible set
    // spans, or a point the finite differences cannot confirm.
    let is_convention = full.as_ref().is_none_or(|r| {
        r.entries.iter().any(|e| {
            e.support != Support::Confirmed || e.admissible.is_some_and(|(lo, hi)| lo < hi)
        })
    });
    // The same decision as the catalogue's `expected` check: a missed
    // declared value is another convention when the oracle finds the
    // answer admissible, and wrong otherwise.
    let outcome = match &got {
        Err(_) => PitfallOutcome::Error,
        Ok(g) => {
            let verdicts = full.as_ref().and_then(|r| oracle.judge(r, g).ok());
            use crate::conformance::Outcome;
            match crate::conformance::expectation(pitfall, g, verdicts.as_deref()).verdict {
                Outcome::Pass => PitfallOutcome::Matches,
                Outcome::Convention => PitfallOutcome::OtherConvention,
                Outcome::Fail | Outcome::Inconclusive => PitfallOutcome::Wrong,
            }
        }
    };
    PitfallAnswer {
        name: pitfall.name.to_string(),
        family: pitfall.family.to_string(),
        note: pitfall.note.to_string(),
        program: program.to_string(),
        point: pitfall.point.clone(),
        expected: pitfall.expected.clone(),
        got,
        reference,
        is_convention,
        outcome,
    }
}

/// [`examine`] over the whole catalogue, in catalogue order. An engine in
/// another process that times out (or faults twice) is not asked again in
/// this pass: the cases left answer with a "not run" error, so a hanging
/// engine costs one timeout here, not one per case.
pub fn examine_catalogue(engine: &dyn Engine, oracle: &Oracle) -> Vec<PitfallAnswer> {
    use rayon::prelude::*;
    let guard = crate::fault_guard::FaultGuard::new(engine);
    catalogue()
        .par_iter()
        .map(|p| examine(&guard, oracle, p))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use adcheck_engines::{reverse::ReverseEngine, Derivative, EngineError, Program};
    use adcheck_oracle::OracleConfig;

    /// Reverse mode with `abs′(0) = 1` and `tanh′ = 1 − tanh²`.
    struct Other;
    impl Engine for Other {
        fn name(&self) -> &str {
            "other"
        }
        fn capabilities(&self) -> adcheck_engines::Capabilities {
            ReverseEngine.capabilities()
        }
        fn jvp(&self, p: &Program, x: &[f64], v: &[f64]) -> Result<Derivative, EngineError> {
            ReverseEngine.jvp(p, x, v)
        }
        fn vjp(&self, p: &Program, x: &[f64], u: &[f64]) -> Result<Derivative, EngineError> {
            let mut d = ReverseEngine.vjp(p, x, u)?;
            let text = p.to_string();
            if text.contains("abs") && x[0] == 0.0 {
                d.derivative[0] = 1.0;
            }
            if text.contains("tanh") {
                d.derivative[0] = 1.0 - x[0].tanh().powi(2);
            }
            Ok(d)
        }
    }

    #[test]
    fn conventions_and_wrong_values_are_told_apart() {
        let oracle = Oracle::new(OracleConfig::default());
        let answers = examine_catalogue(&Other, &oracle);
        let outcome = |name: &str| answers.iter().find(|a| a.name == name).unwrap().outcome;
        assert_eq!(outcome("abs_at_zero"), PitfallOutcome::OtherConvention);
        assert_eq!(outcome("tanh_large"), PitfallOutcome::Wrong);
        assert_eq!(outcome("fan_out_cube"), PitfallOutcome::Matches);
        let all = examine_catalogue(&ReverseEngine, &oracle);
        assert!(all.iter().all(|a| a.outcome == PitfallOutcome::Matches));
        let tanh = all.iter().find(|a| a.name == "tanh_large").unwrap();
        assert_eq!(tanh.reference[0].support, "confirmed");
        assert!(
            all.iter()
                .find(|a| a.name == "abs_at_zero")
                .unwrap()
                .is_convention
        );
    }
}
