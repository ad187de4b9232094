//! Consistency properties: checks an engine must pass that need no oracle.
//!
//! Two answers that should be equal are compared at the scale of the path
//! magnitudes ([`Program::path_magnitudes`]): any order of accumulating the
//! chain rule in `f64` lands within a few `ε · length · magnitude` of the
//! exact value, so a larger gap is a bug, not rounding.

use adcheck_engines::{Differentiable, Engine, EngineError, ProcessFault, Program};
use serde::{Deserialize, Serialize};

/// A consistency property.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Property {
    /// The Jacobian by `n` jvps equals the Jacobian by `m` vjps.
    ForwardReverseJacobian,
    /// `⟨u, J·v⟩ = ⟨uᵀJ, v⟩`.
    DotProduct,
    /// `uᵀ(H·v) = vᵀ(H·u)` (engines with `hvp`, scalar functions).
    HvpSymmetry,
    /// The same call twice, with another call between, gives the same bits.
    Repeatable,
    /// `uᵀJ` bitwise equal to plain tape reverse mode's (engines that claim
    /// it, such as checkpointed reverse).
    MatchesReverseBitwise,
}

impl Property {
    /// Every property.
    pub const ALL: [Property; 5] = [
        Property::ForwardReverseJacobian,
        Property::DotProduct,
        Property::HvpSymmetry,
        Property::Repeatable,
        Property::MatchesReverseBitwise,
    ];

    /// A short snake_case name.
    pub fn name(self) -> &'static str {
        match self {
            Property::ForwardReverseJacobian => "forward_reverse_jacobian",
            Property::DotProduct => "dot_product",
            Property::HvpSymmetry => "hvp_symmetry",
            Property::Repeatable => "repeatable",
            Property::MatchesReverseBitwise => "matches_reverse_bitwise",
        }
    }
}

/// The outcome of checking one property on one case.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum PropertyOutcome {
    /// It holds.
    Holds,
    /// It is violated, with the evidence.
    Violated(String),
    /// It does not apply or cannot be decided here (with why), or the
    /// engine does not support a computation it needs.
    NotApplicable(String),
    /// The engine gave no answer to a computation it needs: an error or a
    /// panic (a fault, not an inconsistency), with the evidence and, when
    /// the engine broke the protocol, which way.
    Faulted {
        /// The evidence.
        why: String,
        /// The process fault, if it was one.
        process: Option<ProcessFault>,
    },
    /// The two sides differ only as AD modes may where a derivative is
    /// not defined everywhere: an exactly zero seed meeting an infinite
    /// partial (one mode multiplies 0·∞ = NaN on a path the other never
    /// takes). A convention, one class, not an inconsistency.
    ZeroSeedTimesInfinity(String),
}

/// The reason every [`PropertyOutcome::ZeroSeedTimesInfinity`] starts with,
/// so reports group them as one class.
pub const ZERO_SEED_TIMES_INFINITY: &str =
    "a zero seed times an infinite partial (0·∞ = NaN in one mode)";

/// Two answers that agree to this many bits (relative to their scale) are
/// not inconsistent: a difference that small is precision one of them lost
/// (1 − tanh² cancelling, say), which the oracle judges against MPFR as
/// `inaccurate`, not two different formulas. The same bound as the
/// oracle's default `inaccurate_bits`.
pub const AGREEMENT_BITS: i32 = 20;

/// How close two values that should be equal must be, given the magnitude
/// of the terms they sum: within rounding, or agreeing to
/// [`AGREEMENT_BITS`].
fn close(a: f64, b: f64, magnitude: f64, length: usize) -> bool {
    if a.to_bits() == b.to_bits() {
        return true;
    }
    let len = length.max(1) as f64;
    // Below the normal range relative precision is gone, and what an
    // operation loses there is amplified by the partials after it: values
    // under `len` times the smallest normal number are noise.
    let subnormal = 4.0 * len * f64::MIN_POSITIVE;
    let scale = a.abs().max(b.abs());
    let rounding = f64::EPSILON * (4.0 * scale + 4.0 * len * magnitude) + subnormal;
    let agreement = scale.max(magnitude) * 2f64.powi(-AGREEMENT_BITS);
    (a - b).abs() <= rounding.max(agreement)
}

fn unit(len: usize, k: usize) -> Vec<f64> {
    let mut e = vec![0.0; len];
    e[k] = 1.0;
    e
}

fn err(e: EngineError) -> PropertyOutcome {
    match e {
        // A reverse-only engine has no J·v to compare: nothing to check.
        EngineError::Unsupported { what, .. } => {
            PropertyOutcome::NotApplicable(format!("the engine does not support {what}"))
        }
        e => PropertyOutcome::Faulted {
            process: match e {
                EngineError::Process { fault, .. } => Some(fault),
                _ => None,
            },
            why: format!("engine error: {e}"),
        },
    }
}

/// Checks `property` of `engine` on `p` at `x` with seed vectors `v` (length
/// n) and `u` (length m).
pub fn check(
    engine: &dyn Engine,
    property: Property,
    p: &Program,
    x: &[f64],
    v: &[f64],
    u: &[f64],
) -> PropertyOutcome {
    match run(engine, property, p, x, v, u) {
        Ok(outcome) => outcome,
        Err(e) => err(e),
    }
}

fn run(
    engine: &dyn Engine,
    property: Property,
    p: &Program,
    x: &[f64],
    v: &[f64],
    u: &[f64],
) -> Result<PropertyOutcome, EngineError> {
    let (n, m) = (p.n_inputs(), p.n_outputs());
    let len = p.body().len();
    // Beyond 2^±400 products of derivatives leave f64's range (a square of
    // 1e150 overflows, an adjoint of 1e−273 divided by 1e68 underflows), and
    // two correct engines may differ by whole terms there.
    if property != Property::Repeatable
        && property != Property::MatchesReverseBitwise
        && p.has_extreme_scales(x)
    {
        return Ok(PropertyOutcome::NotApplicable(
            "values or partial products beyond 2^±400: derivative products leave f64's range"
                .into(),
        ));
    }
    let magnitudes = p.path_magnitudes(x);
    let regular = |i: usize, j: usize| magnitudes[i * n + j].is_finite();
    Ok(match property {
        Property::ForwardReverseJacobian => {
            let mut by_columns = vec![0.0; m * n];
            for j in 0..n {
                let d = engine.jvp(p, x, &unit(n, j))?.derivative;
                if d.len() != m {
                    return Ok(PropertyOutcome::Violated(format!(
                        "jvp gave {} entries, not {m}",
                        d.len()
                    )));
                }
                for i in 0..m {
                    by_columns[i * n + j] = d[i];
                }
            }
            for i in 0..m {
                let row = engine.vjp(p, x, &unit(m, i))?.derivative;
                if row.len() != n {
                    return Ok(PropertyOutcome::Violated(format!(
                        "vjp gave {} entries, not {n}",
                        row.len()
                    )));
                }
                for j in 0..n {
                    let (a, b) = (by_columns[i * n + j], row[j]);
                    // Where every local partial is finite, both must be finite and agree.
                    if regular(i, j) && !close(a, b, magnitudes[i * n + j], len) {
                        // A NaN on one side, where some other path has an
                        // infinite partial: that mode multiplied it by the
                        // zero seed of an output (or input) this entry does
                        // not involve.
                        if (a.is_nan() != b.is_nan()) && !magnitudes.iter().all(|m| m.is_finite()) {
                            return Ok(PropertyOutcome::ZeroSeedTimesInfinity(format!(
                                "{ZERO_SEED_TIMES_INFINITY}: J[{i}][{j}] is {a:e} by jvp, {b:e} by vjp"
                            )));
                        }
                        return Ok(PropertyOutcome::Violated(format!(
                            "J[{i}][{j}]: {a:e} by jvp, {b:e} by vjp (path magnitude {:e})",
                            magnitudes[i * n + j]
                        )));
                    }
                }
            }
            PropertyOutcome::Holds
        }
        Property::DotProduct => {
            let jv = engine.jvp(p, x, v)?.derivative;
            let ju = engine.vjp(p, x, u)?.derivative;
            if jv.len() != m || ju.len() != n {
                return Ok(PropertyOutcome::Violated("wrong result lengths".into()));
            }
            let left: f64 = u.iter().zip(&jv).map(|(a, b)| a * b).sum();
            let right: f64 = ju.iter().zip(v).map(|(a, b)| a * b).sum();
            let mut scale = 0.0;
            for i in 0..m {
                for j in 0..n {
                    scale += (u[i] * v[j]).abs() * magnitudes[i * n + j];
                }
            }
            if !scale.is_finite() {
                PropertyOutcome::NotApplicable("a local partial is not finite".into())
            } else if left.is_nan() && right.is_nan() {
                // Both modes agree on NaN (a zero seed times an infinite
                // partial, say): not an inconsistency; the oracle's own
                // checks of jvp and vjp judge the value.
                PropertyOutcome::NotApplicable("both ⟨u, Jv⟩ and ⟨uᵀJ, v⟩ are NaN".into())
            } else if close(left, right, scale, len) {
                PropertyOutcome::Holds
            } else {
                PropertyOutcome::Violated(format!("⟨u, Jv⟩ = {left:e} but ⟨uᵀJ, v⟩ = {right:e}"))
            }
        }
        Property::HvpSymmetry => {
            if !engine.capabilities().hvp {
                return Ok(PropertyOutcome::NotApplicable(
                    "the engine has no hvp".into(),
                ));
            }
            if m != 1 {
                return Ok(PropertyOutcome::NotApplicable(
                    "not a scalar function".into(),
                ));
            }
            // A second direction: v reversed.
            let w: Vec<f64> = v.iter().rev().copied().collect();
            let hv = engine.hvp(p, x, v)?.derivative;
            let hw = engine.hvp(p, x, &w)?.derivative;
            let left: f64 = w.iter().zip(&hv).map(|(a, b)| a * b).sum();
            let right: f64 = v.iter().zip(&hw).map(|(a, b)| a * b).sum();
            // The rounding noise of H·v, measured: H(3v)/3 is H·v in exact
            // arithmetic but rounds differently, and second derivatives can
            // be far worse conditioned than any first-order scale shows.
            let noise = |d: &[f64], hd: &[f64]| -> Result<f64, EngineError> {
                let tripled: Vec<f64> = d.iter().map(|c| 3.0 * c).collect();
                let h3 = engine.hvp(p, x, &tripled)?.derivative;
                Ok(h3
                    .iter()
                    .zip(hd)
                    .zip(d)
                    .map(|((a, b), c)| (a / 3.0 - b).abs() * c.abs())
                    .sum())
            };
            let measured = noise(&w, &hv)? + noise(v, &hw)?;
            // The terms of H·v are products of second partials with first
            // ones: their scale is about (1 + M)² with M the largest path
            // magnitude, against which rounding in H·v is measured.
            let largest = magnitudes.iter().fold(0.0f64, |m, &x| m.max(x));
            let norms: f64 = w.iter().chain(v).map(|a| a.abs()).sum();
            let scale: f64 = w.iter().zip(&hv).map(|(a, b)| (a * b).abs()).sum::<f64>()
                + v.iter().zip(&hw).map(|(a, b)| (a * b).abs()).sum::<f64>()
                + norms * (1.0 + largest).powi(2);
            if !scale.is_finite() {
                PropertyOutcome::NotApplicable("H·v is not finite".into())
            } else if left.is_nan() && right.is_nan() {
                PropertyOutcome::NotApplicable("both wᵀ(Hv) and vᵀ(Hw) are NaN".into())
            } else if close(left, right, 4.0 * scale, len)
                || (left - right).abs() <= 16.0 * measured
            {
                PropertyOutcome::Holds
            } else {
                PropertyOutcome::Violated(format!("wᵀ(Hv) = {left:e} but vᵀ(Hw) = {right:e}"))
            }
        }
        Property::MatchesReverseBitwise => {
            if !engine.capabilities().reverse_bitwise {
                return Ok(PropertyOutcome::NotApplicable(
                    "the engine does not claim it".into(),
                ));
            }
            let mine = engine.vjp(p, x, u)?.derivative;
            let plain = adcheck_engines::reverse::ReverseEngine
                .vjp(p, x, u)?
                .derivative;
            let same = mine.len() == plain.len()
                && mine
                    .iter()
                    .zip(&plain)
                    .all(|(a, b)| a.to_bits() == b.to_bits());
            if same {
                PropertyOutcome::Holds
            } else {
                PropertyOutcome::Violated(format!("uᵀJ = {mine:?}, plain reverse gives {plain:?}"))
            }
        }
        Property::Repeatable => {
            let first = engine.vjp(p, x, u)?;
            let first_jvp = engine.jvp(p, x, v)?;
            // Another program in between, to expose state kept across calls.
            let other = Program::parse("input a\nb = exp a\nc = mul b a\noutput c")
                .expect("a fixed program parses");
            let _ = engine.gradient(&other, &[0.375]);
            let again = engine.vjp(p, x, u)?;
            let again_jvp = engine.jvp(p, x, v)?;
            let same = |a: &[f64], b: &[f64]| {
                a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.to_bits() == y.to_bits())
            };
            if !same(&first.derivative, &again.derivative) {
                PropertyOutcome::Violated(format!(
                    "vjp gave {:?} then {:?}",
                    first.derivative, again.derivative
                ))
            } else if !same(&first_jvp.derivative, &again_jvp.derivative) {
                PropertyOutcome::Violated(format!(
                    "jvp gave {:?} then {:?}",
                    first_jvp.derivative, again_jvp.derivative
                ))
            } else {
                PropertyOutcome::Holds
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use adcheck_engines::forward::ForwardEngine;
    use adcheck_engines::reverse::ReverseEngine;
    use adcheck_engines::Derivative;

    #[test]
    fn built_in_engines_satisfy_the_properties() {
        let p = Program::parse(
            "input a b c\nd = mul a b\ne = sin c\nf = add d e\ng = hypot a f\noutput f g",
        )
        .unwrap();
        let x = [0.5, -1.5, 2.0];
        for engine in [&ForwardEngine as &dyn Engine, &ReverseEngine] {
            for property in Property::ALL {
                let outcome = check(engine, property, &p, &x, &[0.5, 1.0, -0.25], &[1.0, -2.0]);
                assert!(
                    matches!(
                        outcome,
                        PropertyOutcome::Holds | PropertyOutcome::NotApplicable(_)
                    ),
                    "{} {property:?}: {outcome:?}",
                    engine.name()
                );
            }
        }
    }

    /// Reverse mode whose vjp is off by a relative `error`.
    struct Skewed(f64);

    impl Engine for Skewed {
        fn name(&self) -> &str {
            "skewed"
        }
        fn capabilities(&self) -> adcheck_engines::Capabilities {
            ReverseEngine.capabilities()
        }
        fn jvp(&self, p: &Program, x: &[f64], v: &[f64]) -> Result<Derivative, EngineError> {
            ReverseEngine.jvp(p, x, v)
        }
        fn vjp(&self, p: &Program, x: &[f64], u: &[f64]) -> Result<Derivative, EngineError> {
            let mut d = ReverseEngine.vjp(p, x, u)?;
            for g in &mut d.derivative {
                *g *= 1.0 + self.0;
            }
            Ok(d)
        }
    }

    /// Reverse mode that multiplies every cotangent by every partial, so a
    /// zero cotangent meeting an infinite partial is NaN (as JAX and
    /// PyTorch do), and jvp as reverse mode's columns.
    struct ZeroTimesInfinity;

    impl Engine for ZeroTimesInfinity {
        fn name(&self) -> &str {
            "zero-times-infinity"
        }
        fn capabilities(&self) -> adcheck_engines::Capabilities {
            ReverseEngine.capabilities()
        }
        fn jvp(&self, p: &Program, x: &[f64], v: &[f64]) -> Result<Derivative, EngineError> {
            ReverseEngine.jvp(p, x, v)
        }
        fn vjp(&self, p: &Program, x: &[f64], u: &[f64]) -> Result<Derivative, EngineError> {
            let mut d = ReverseEngine.vjp(p, x, u)?;
            // (asin x, x) at 1 with u = (0, 1): 0·asin′(1) = 0·∞ = NaN.
            if u[0] == 0.0 {
                d.derivative[0] = f64::NAN;
            }
            Ok(d)
        }
    }

    #[test]
    fn a_zero_seed_times_an_infinite_partial_is_a_convention_and_a_finite_miss_is_not() {
        let p = Program::parse(
            "input x
y = asin x
output y x",
        )
        .unwrap();
        let outcome = check(
            &ZeroTimesInfinity,
            Property::ForwardReverseJacobian,
            &p,
            &[1.0],
            &[1.0],
            &[0.0, 1.0],
        );
        assert!(
            matches!(&outcome, PropertyOutcome::ZeroSeedTimesInfinity(why) if why.starts_with(ZERO_SEED_TIMES_INFINITY)),
            "{outcome:?}"
        );
        // Where every partial is finite, the same NaN is an inconsistency.
        let outcome = check(
            &ZeroTimesInfinity,
            Property::ForwardReverseJacobian,
            &p,
            &[0.5],
            &[1.0],
            &[0.0, 1.0],
        );
        assert!(
            matches!(outcome, PropertyOutcome::Violated(_)),
            "{outcome:?}"
        );
    }

    #[test]
    fn precision_loss_is_not_an_inconsistency_but_another_formula_is() {
        // tanh′(−3) as JAX computes it: jvp and vjp 20 ulps apart, both
        // right to 47 bits: inaccurate at worst, which the oracle judges.
        let p = Program::parse("input a\nb = tanh a\nc = mul b a\noutput c b").unwrap();
        let x = [-3.0];
        for property in [Property::ForwardReverseJacobian, Property::DotProduct] {
            let close_enough = check(&Skewed(1e-9), property, &p, &x, &[0.75], &[1.0, -0.5]);
            assert_eq!(close_enough, PropertyOutcome::Holds, "{property:?}");
            let off = check(&Skewed(1e-5), property, &p, &x, &[0.75], &[1.0, -0.5]);
            assert!(
                matches!(off, PropertyOutcome::Violated(_)),
                "{property:?}: {off:?}"
            );
        }
    }
}
