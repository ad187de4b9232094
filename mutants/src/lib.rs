//! Mutant engines: each is a built-in engine's algorithm with one realistic
//! bug of a kind AD tools have shipped. They exist to prove that adcheck
//! finds bugs; they are test support and never part of the engines users get.
//!
//! A mutant runs one of two small engines here, a dual-number forward mode
//! ([`MutantForward`]) or a Wengert-tape reverse mode ([`MutantReverse`]),
//! which take their rules from `adcheck_engines::conventions` and then apply
//! the planted [`Bug`].

mod forward;
mod reverse;
mod rules;
mod second;

pub use forward::MutantForward;
pub use reverse::MutantReverse;
pub use second::MissingCrossTerm;

use adcheck_engines::Engine;

/// A planted bug.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Bug {
    /// `d cos = +sin·dx`: a wrong sign in one rule.
    CosSignFlipped,
    /// Fan-out adjoints overwritten (`=`) instead of summed (`+=`).
    FanOutOverwritten,
    /// The backward sweep stops one node early (off by one).
    SweepOffByOne,
    /// The tape swept in recording order instead of reverse order.
    SweepWrongOrder,
    /// Unreached nodes are not skipped: `0·∞` from an unused node poisons
    /// the gradient with NaN.
    UnusedNodePoisons,
    /// The tape is not cleared between calls.
    TapeNotCleared,
    /// `d(cˣ)/dx` taken as `x·c^(x−1)`, the power rule on the wrong argument.
    ConstantBasePowerRule,
    /// `pow` at a zero base gives NaN (`0·ln 0`, `0·0⁻¹` not masked).
    PowZeroBaseNaN,
    /// `logsumexp` backward as `eˣⁱ/Σeˣʲ`, which overflows to NaN.
    LogsumexpUnstable,
    /// `sqrt′(0)` given as 0 instead of +∞.
    SqrtOriginConvention,
    /// `abs′` as `x/|x|`: NaN at 0, outside the generalized gradient
    /// [−1, 1]. (`abs′(0) = 1`, JAX's choice, is admissible, not a bug.)
    AbsOriginNaN,
    /// `atan2` at the origin gives 0 instead of NaN.
    Atan2OriginConvention,
    /// `atan2` partials by the naive `x/(x² + y²)`, which underflows or
    /// overflows far from 1.
    Atan2Naive,
    /// `min`/`max` at a tie send the adjoint to neither argument.
    TieSendsNothing,
    /// `log1p` evaluated as `ln(1 + x)`, losing its bits near 0.
    Log1pNaive,
    /// `expm1` evaluated as `eˣ − 1`, losing its bits near 0.
    Expm1Naive,
    /// `tanh′` as `1 − tanh²`, which is 0 for large arguments.
    TanhNaive,
    /// softplus′ as `eˣ/(1 + eˣ)`, NaN for large arguments.
    SoftplusNaive,
    /// The tangent of the second factor of `mul` dropped.
    DualPartDropped,
    /// A zero tangent times an infinite partial gives NaN in forward mode.
    ZeroTangentPoisons,
    /// `d(a/b)/db = +a/b²`: the quotient rule's sign.
    QuotientRuleSign,
    /// `d(xⁿ) = n·xⁿ`: the exponent not lowered.
    PowiExponentNotLowered,
    /// `relu′` through `(1 + x/|x|)/2`: NaN at 0, outside [0, 1].
    /// (`relu′(0) = 1` is admissible, not a bug.)
    ReluOriginNaN,
    /// `hypot′` at the origin by `a/h`: NaN.
    HypotOriginNaN,
    /// Forward over reverse without the cross term `∂(partial)·adjoint`.
    HvpMissingCrossTerm,
}

/// Which engine a mutant is built on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Base {
    /// Dual-number forward mode.
    Forward,
    /// Forward over reverse (a tape over dual numbers).
    ForwardOverReverse,
    /// Tape reverse mode.
    Reverse,
}

impl Bug {
    /// Every bug.
    pub const ALL: [Bug; 25] = [
        Bug::CosSignFlipped,
        Bug::FanOutOverwritten,
        Bug::SweepOffByOne,
        Bug::SweepWrongOrder,
        Bug::UnusedNodePoisons,
        Bug::TapeNotCleared,
        Bug::ConstantBasePowerRule,
        Bug::PowZeroBaseNaN,
        Bug::LogsumexpUnstable,
        Bug::SqrtOriginConvention,
        Bug::AbsOriginNaN,
        Bug::Atan2OriginConvention,
        Bug::Atan2Naive,
        Bug::TieSendsNothing,
        Bug::Log1pNaive,
        Bug::Expm1Naive,
        Bug::TanhNaive,
        Bug::SoftplusNaive,
        Bug::DualPartDropped,
        Bug::ZeroTangentPoisons,
        Bug::QuotientRuleSign,
        Bug::PowiExponentNotLowered,
        Bug::ReluOriginNaN,
        Bug::HypotOriginNaN,
        Bug::HvpMissingCrossTerm,
    ];

    /// A short kebab-case name, used as the engine's name.
    pub fn name(self) -> &'static str {
        match self {
            Bug::CosSignFlipped => "cos-sign-flipped",
            Bug::FanOutOverwritten => "fan-out-overwritten",
            Bug::SweepOffByOne => "sweep-off-by-one",
            Bug::SweepWrongOrder => "sweep-wrong-order",
            Bug::UnusedNodePoisons => "unused-node-poisons",
            Bug::TapeNotCleared => "tape-not-cleared",
            Bug::ConstantBasePowerRule => "constant-base-power-rule",
            Bug::PowZeroBaseNaN => "pow-zero-base-nan",
            Bug::LogsumexpUnstable => "logsumexp-unstable",
            Bug::SqrtOriginConvention => "sqrt-origin-convention",
            Bug::AbsOriginNaN => "abs-origin-nan",
            Bug::Atan2OriginConvention => "atan2-origin-convention",
            Bug::Atan2Naive => "atan2-naive",
            Bug::TieSendsNothing => "tie-sends-nothing",
            Bug::Log1pNaive => "log1p-naive",
            Bug::Expm1Naive => "expm1-naive",
            Bug::TanhNaive => "tanh-naive",
            Bug::SoftplusNaive => "softplus-naive",
            Bug::DualPartDropped => "dual-part-dropped",
            Bug::ZeroTangentPoisons => "zero-tangent-poisons",
            Bug::QuotientRuleSign => "quotient-rule-sign",
            Bug::PowiExponentNotLowered => "powi-exponent-not-lowered",
            Bug::ReluOriginNaN => "relu-origin-nan",
            Bug::HypotOriginNaN => "hypot-origin-nan",
            Bug::HvpMissingCrossTerm => "hvp-missing-cross-term",
        }
    }

    /// The class of real-world bug it mirrors.
    pub fn mirrors(self) -> &'static str {
        match self {
            Bug::CosSignFlipped => "a wrong sign in one derivative rule",
            Bug::FanOutOverwritten => "fan-out adjoints overwritten instead of summed",
            Bug::SweepOffByOne => "the tape swept off by one",
            Bug::SweepWrongOrder => "the tape swept in the wrong order",
            Bug::UnusedNodePoisons => "0·∞ poisoning from an unused node",
            Bug::TapeNotCleared => "a tape not cleared between calls",
            Bug::ConstantBasePowerRule => "c^x differentiated as x·c^(x−1)",
            Bug::PowZeroBaseNaN => "pow with a zero base giving NaN",
            Bug::LogsumexpUnstable => "an unstable logsumexp backward",
            Bug::SqrtOriginConvention => "the sqrt convention broken at the origin",
            Bug::AbsOriginNaN => "abs′ as x / abs(x), NaN at the origin",
            Bug::Atan2OriginConvention => "the atan2 convention broken at the origin",
            Bug::Atan2Naive => "atan2 partials that underflow near the origin",
            Bug::TieSendsNothing => "min/max ties sending the whole adjoint nowhere",
            Bug::Log1pNaive => "log1p through the naive formula",
            Bug::Expm1Naive => "expm1 through the naive formula",
            Bug::TanhNaive => "tanh′ as 1 − tanh², zero at large arguments",
            Bug::SoftplusNaive => "softplus′ overflowing at large arguments",
            Bug::DualPartDropped => "dual parts dropped in one operation",
            Bug::ZeroTangentPoisons => "0·∞ poisoning through a zero tangent",
            Bug::QuotientRuleSign => "a wrong sign in the quotient rule",
            Bug::PowiExponentNotLowered => "the power rule without lowering the exponent",
            Bug::ReluOriginNaN => "relu′ through x / abs(x), NaN at the origin",
            Bug::HypotOriginNaN => "a norm's derivative NaN at the zero vector",
            Bug::HvpMissingCrossTerm => "a missing cross term in H·v",
        }
    }

    /// The engine the bug is planted in.
    pub fn base(self) -> Base {
        match self {
            Bug::FanOutOverwritten
            | Bug::SweepOffByOne
            | Bug::SweepWrongOrder
            | Bug::UnusedNodePoisons
            | Bug::TapeNotCleared
            | Bug::LogsumexpUnstable
            | Bug::TieSendsNothing
            | Bug::QuotientRuleSign
            | Bug::HypotOriginNaN
            | Bug::TanhNaive => Base::Reverse,
            Bug::HvpMissingCrossTerm => Base::ForwardOverReverse,
            _ => Base::Forward,
        }
    }

    /// The mutant engine.
    pub fn engine(self) -> Box<dyn Engine> {
        match self.base() {
            Base::Forward => Box::new(MutantForward::new(self)),
            Base::Reverse => Box::new(MutantReverse::new(self)),
            Base::ForwardOverReverse => Box::new(MissingCrossTerm),
        }
    }
}

/// Every mutant engine.
pub fn all_mutants() -> Vec<Box<dyn Engine>> {
    Bug::ALL.iter().map(|b| b.engine()).collect()
}
