//! Verdicts and accuracy metrics.

use rug::Float;
use std::fmt;

/// Why a case could not be decided.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum InconclusiveReason {
    /// The `f64` evaluation takes another branch (or piece of
    /// `abs`/`min`/`max`/`relu`) than the exact one, and the engine differs
    /// from the reference.
    BranchSwitch,
    /// A stencil point leaves the function's domain (a non-finite value), or
    /// an intermediate sits at a singular point of its operation, so the
    /// chain rule need not hold; and the engine differs from the reference.
    DomainEdge,
    /// The primal is not finite in `f64` (or its exact value overflows).
    PrimalNotFinite,
    /// The `f64` evaluation has lost more bits against MPFR than the
    /// configured threshold, so the engine's error is the program's, not its
    /// own.
    IllConditioned,
    /// The two references disagree beyond their error estimates, or the
    /// finite differences failed their own self-check.
    OracleDisagreement,
}

impl InconclusiveReason {
    /// All reasons, in a fixed order (for tables).
    pub const ALL: [InconclusiveReason; 5] = [
        InconclusiveReason::BranchSwitch,
        InconclusiveReason::DomainEdge,
        InconclusiveReason::PrimalNotFinite,
        InconclusiveReason::IllConditioned,
        InconclusiveReason::OracleDisagreement,
    ];

    /// A short snake_case name (for CSV and JSON).
    pub fn name(self) -> &'static str {
        match self {
            InconclusiveReason::BranchSwitch => "branch_switch",
            InconclusiveReason::DomainEdge => "domain_edge",
            InconclusiveReason::PrimalNotFinite => "primal_not_finite",
            InconclusiveReason::IllConditioned => "ill_conditioned",
            InconclusiveReason::OracleDisagreement => "oracle_disagreement",
        }
    }
}

impl fmt::Display for InconclusiveReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What kind of miss a failed entry is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Miss {
    /// No admissible value is near the answer: a formula bug.
    Wrong,
    /// The answer is the derivative to within a loose bound (at least
    /// [`OracleConfig::inaccurate_bits`](crate::OracleConfig) correct
    /// bits) but loses bits beyond the rounding scale: a lossy formula.
    Inaccurate,
}

impl Miss {
    /// `"wrong"` or `"inaccurate"`.
    pub fn name(self) -> &'static str {
        match self {
            Miss::Wrong => "wrong",
            Miss::Inaccurate => "inaccurate",
        }
    }
}

/// The set an answer fell in where the derivative is not one value.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Admissible {
    /// At a kink or a tie: the values the chain rule gives over every
    /// choice of one-sided derivative at the tied operations (for first
    /// derivatives the generalized gradient's projection on this entry, or
    /// an outer bound of it), from `lo` to `hi`.
    Generalized {
        /// The smallest admissible value.
        lo: f64,
        /// The largest admissible value.
        hi: f64,
    },
    /// The derivative diverges here (a domain edge such as `√` at 0) and
    /// the answer is that one-sided limit.
    OneSidedLimit(f64),
    /// The derivative is undefined here and the answer is not finite.
    Undefined,
}

impl Admissible {
    /// A short description for reports and `cases.csv`.
    pub fn describe(&self) -> String {
        match self {
            Admissible::Generalized { lo, hi } => {
                format!("generalized gradient [{lo:e}, {hi:e}]")
            }
            Admissible::OneSidedLimit(v) => format!("one-sided limit {v:e}"),
            Admissible::Undefined => "undefined here, non-finite answer".into(),
        }
    }
}

/// The oracle's judgement of one derivative entry.
#[derive(Clone, Debug, PartialEq)]
pub enum Verdict {
    /// Within the tolerance of the correctly rounded reference.
    Pass {
        /// Bits of the reference the engine's value reproduces (0 to 53).
        bits_correct: f64,
        /// Distance from the correctly rounded reference in units in the
        /// last place.
        ulps: f64,
    },
    /// The derivative is not one value here (a kink, a tie, a domain edge)
    /// and the answer is admissible.
    Convention {
        /// The engine's value.
        got: f64,
        /// The set it fell in.
        admissible: Admissible,
        /// The declared convention's value, beside the set.
        declared: f64,
    },
    /// Outside the tolerance, with references that agree (or outside every
    /// admissible value where the derivative is not one value).
    Fail {
        /// Wrong or merely inaccurate.
        miss: Miss,
        /// The reference rounded to `f64`.
        expected: f64,
        /// The engine's value.
        got: f64,
        /// Bits of the reference the engine's value reproduces.
        bits_correct: f64,
        /// What shows it: the MPFR reference, both references' agreement, the
        /// tolerance, and the symbolic formula.
        evidence: String,
    },
    /// Neither pass nor fail can be claimed.
    Inconclusive {
        /// The named reason.
        reason: InconclusiveReason,
        /// Particulars.
        detail: String,
    },
}

impl Verdict {
    /// `"pass"`, `"convention"`, `"fail"` or `"inconclusive"`.
    pub fn kind(&self) -> &'static str {
        match self {
            Verdict::Pass { .. } => "pass",
            Verdict::Convention { .. } => "convention",
            Verdict::Fail { .. } => "fail",
            Verdict::Inconclusive { .. } => "inconclusive",
        }
    }

    /// Whether this is a failure.
    pub fn is_fail(&self) -> bool {
        matches!(self, Verdict::Fail { .. })
    }

    /// Whether this is a pass.
    pub fn is_pass(&self) -> bool {
        matches!(self, Verdict::Pass { .. })
    }
}

/// `v` moved one unit in the last place up (`up`) or down, through zero to
/// the smallest subnormal (as `f64::next_up`/`next_down`, which need a newer
/// Rust than the project's); infinities and NaN stay.
pub fn adjacent_f64(v: f64, up: bool) -> f64 {
    if !v.is_finite() {
        return v;
    }
    if v == 0.0 {
        let tiny = f64::from_bits(1);
        return if up { tiny } else { -tiny };
    }
    let bits = v.to_bits();
    if (v > 0.0) == up {
        f64::from_bits(bits + 1)
    } else {
        f64::from_bits(bits - 1)
    }
}

/// The spacing of `f64` values at `r` (the smallest subnormal at zero).
pub fn ulp_of(r: f64) -> f64 {
    let a = r.abs();
    if !a.is_finite() {
        return f64::NAN;
    }
    if a < f64::MIN_POSITIVE {
        return f64::from_bits(1);
    }
    let exponent = a.log2().floor() as i32;
    // Guard against log2 rounding at exact powers of two.
    let e = if 2f64.powi(exponent) > a {
        exponent - 1
    } else {
        exponent
    };
    2f64.powi(e - 52)
}

/// The distance of `got` from the exact `reference`, in units in the last
/// place of the correctly rounded reference.
pub fn ulps(got: f64, reference: &Float) -> f64 {
    let r = reference.to_f64();
    if got.is_nan() || reference.is_nan() {
        return if got.is_nan() && reference.is_nan() {
            0.0
        } else {
            f64::INFINITY
        };
    }
    if got == r {
        return 0.0;
    }
    if !got.is_finite() || !r.is_finite() {
        return f64::INFINITY;
    }
    let diff = Float::with_val(reference.prec(), got - reference).abs();
    diff.to_f64() / ulp_of(r)
}

/// How many leading bits of the exact `reference` `got` reproduces, from 0
/// to 53 (53 when `got` is the correctly rounded value or closer).
pub fn bits_correct(got: f64, reference: &Float) -> f64 {
    let r = reference.to_f64();
    if got == r || (got.is_nan() && reference.is_nan()) {
        return 53.0;
    }
    if !got.is_finite() || !reference.is_finite() {
        return 0.0;
    }
    if reference.is_zero() {
        return 0.0;
    }
    let diff = Float::with_val(reference.prec(), got - reference).abs();
    let rel = Float::with_val(64, &diff / reference).abs().to_f64();
    // `+ 0.0` turns a negative zero into zero.
    (-rel.log2()).clamp(0.0, 53.0) + 0.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metrics() {
        let third: Float = Float::with_val(256, 1) / 3;
        let rounded = third.to_f64();
        assert_eq!(ulps(rounded, &third), ulps(rounded, &third));
        assert!(ulps(rounded, &third) <= 0.5);
        assert_eq!(bits_correct(rounded, &third), 53.0);
        // The two neighbours are 2/3 and 4/3 ulp away.
        let next = f64::from_bits(rounded.to_bits() + 1);
        let prev = f64::from_bits(rounded.to_bits() - 1);
        let (near, far) = if ulps(next, &third) < ulps(prev, &third) {
            (next, prev)
        } else {
            (prev, next)
        };
        assert!((ulps(near, &third) - 2.0 / 3.0).abs() < 1e-9);
        assert!((ulps(far, &third) - 4.0 / 3.0).abs() < 1e-9);
        let b = bits_correct(far, &third);
        assert!(b > 51.0 && b < 53.0, "{b}");
        // 0.5 is off by half of 1/3: one bit correct.
        assert!((bits_correct(0.5, &third) - 1.0).abs() < 1e-9);
        assert_eq!(ulp_of(1.0), f64::EPSILON);
        assert_eq!(ulp_of(0.0), f64::from_bits(1));
        assert_eq!(ulp_of(1.5), f64::EPSILON);
        assert_eq!(ulp_of(0.75), f64::EPSILON / 2.0);
    }
}
