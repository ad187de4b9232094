//! Reference derivatives in arbitrary precision, and verdicts on engines.
//!
//! The oracle knows each derivative two independent ways, both in MPFR
//! (default 256 bits):
//!
//! 1. **symbolic** ([`Graph`]): the program becomes a hash-consed expression
//!    DAG, differentiated into new DAGs by textbook rules that share no code
//!    with the engines, then evaluated;
//! 2. **finite differences** ([`fd`]): central stencils with power-of-two
//!    steps, Richardson extrapolation, an error estimate and a self-check at
//!    doubled precision.
//!
//! [`Oracle::reference`] computes both for one quantity (J·v, uᵀJ, a
//! gradient, a Jacobian, H·v) at one point, checks that they agree, and
//! keeps the result so that any number of engines can be judged against it
//! with [`Oracle::judge`].
//!
//! # Reading a verdict
//!
//! - **Pass** `{ bits_correct, ulps }`: the derivative is one value here
//!   and the engine is within the tolerance of the correctly rounded
//!   reference. `bits_correct` counts the leading bits it reproduces (53 =
//!   correctly rounded or better); `ulps` is its distance in units in the
//!   last place.
//! - **Convention** `{ got, admissible, declared }`: the derivative is not
//!   one value here and the answer is admissible; [`Admissible`] says which
//!   set it fell in (below). `declared` is adcheck's own convention there.
//! - **Fail** `{ miss, expected, got, evidence }`: [`Miss::Wrong`] when no
//!   admissible value is near the answer; [`Miss::Inaccurate`] when the
//!   answer keeps at least [`OracleConfig::inaccurate_bits`] (20) correct
//!   bits but misses the tolerance (a lossy formula such as `1 − tanh²`).
//!   The evidence gives the MPFR value, the finite-difference estimate with
//!   its error bound, the tolerance, the admissible set where there is one,
//!   and the symbolic formula.
//! - **Inconclusive** `{ reason }`: neither can be claimed, for a named
//!   [`InconclusiveReason`]: a branch switch (the `f64` evaluation takes
//!   another path than the exact one), a domain edge (the stencil leaves
//!   the domain, or an intermediate sits at a singular point, and the
//!   answer is finite while the reference cannot single out a value), a
//!   primal that is not finite, an ill-conditioned primal (the engine's
//!   error is the program's), or the references disagreeing.
//!
//! # Where the derivative is not one value
//!
//! The symbolic rules encode the declared conventions with `Select` nodes
//! (`abs`, `relu`, `min`/`max`, `hypot` at the origin, the special cases of
//! `powf`). At a point where a `Select`'s two operands are exactly equal in
//! MPFR (a tie), each of its branches is a one-sided derivative. The oracle
//! evaluates each entry under every choice of branch at the ties it depends
//! on — for first derivatives each `Select` on its own (every operation may
//! take any of its one-sided pieces, whatever the others take); for `H·v`
//! the order comparisons (`<`, `<=`) of the same two values taking one side
//! together (below, above, at the tie), so the first- and second-order
//! rules see one one-sided piece, and equality special cases each on their
//! own — up to 2¹² choices, NaN results left out, and keeps the smallest and largest value
//! ([`Entry::admissible`]). A comparison of a value with itself is no tie. When they differ, any answer
//! between them, within the tolerance, is a convention
//! ([`Admissible::Generalized`]) and any other is wrong, whatever the
//! finite differences say (at a kink a central stencil "confirms" only one
//! subgradient). `hypot`'s rule carries `±|(da, db)|` as extra branches at
//! the origin, so a norm's admissible values there fill `[−r, r]` entry by
//! entry.
//!
//! For first derivatives an entry is multilinear in the choices (each
//! operation's partial appears once along each path), so the range is
//! exactly what the chain rule gives over the operations' generalized
//! gradients — an outer bound of the Clarke generalized gradient's
//! projection, and the set of answers an AD engine may produce with any
//! valid choice at each kink. Limits: the per-entry range is a box (a
//! gradient `[1, 1]` for `max(x, y)` at a tie passes though it lies off the
//! segment); for second derivatives the range is an outer bound that may
//! be loose (products of one-sided partials); and a tie is exact
//! equality in MPFR, so points a rounding away from a kink are judged as the
//! smooth points they are.
//!
//! Where the exact rule gives ±∞ and the finite differences cannot settle
//! on a finite value (`√`, `x^½` at 0, `∛` at 0, `asin` at 1), the
//! derivative diverges: that infinity is admissible
//! ([`Admissible::OneSidedLimit`]), NaN is admissible
//! ([`Admissible::Undefined`]), and a finite value is wrong. Where the
//! exact reference is NaN at a singular point, a non-finite answer is
//! admissible and a finite one is inconclusive (a smooth composite may have
//! a derivative there the rules cannot see).
//!
//! # Values constant near the point
//!
//! A value that is constant on a neighbourhood of the point has derivatives
//! 0 of every order, whatever its operations' rules give there: `√(relu x)`
//! at `x < 0`, `acos(x⁰)`, `√(x·x − x·x)`, `√` of a `where` whose strict
//! comparison takes a constant branch. The chain rule applied operation by
//! operation meets `∞ · 0` inside these (`√′(0)` times a zero tangent) and
//! gives NaN; the function's derivative is 0, so NaN is `wrong` there and
//! the evidence names the value ("v4 is constant near the point"). The
//! `constancy` module finds them, conservatively, from the exact values:
//! constants, `x⁰`, `x − x`, `relu` of a strictly negative value, `min`,
//! `max` and `Select` strictly on a constant side, a tie whose branches are
//! the same constant, and any operation whose arguments all are constant.
//! A comparison decides a side only when both its arguments are continuous
//! on a whole neighbourhood (no tie, branch cut or domain edge upstream); a
//! tie itself (`relu` at 0) stays a kink with its admissible set. Frozen
//! values carry no derivative into the symbolic entries, the singularity
//! test or the range analysis. (`x / x` and `atan2(x, x)` are not frozen:
//! an engine's partials `1/x`, `−x/x²` there overflow at tiny `x`, which the
//! range analysis must still see; the symbolic rule of `x / x` and `x − x`
//! is 0 all the same.)
//!
//! The tolerance is mixed: `|got − r| ≤ ε·(relative·|r| + per_op·L·M) + 4·C`
//! where `r` is the exact reference, `L` the program length, `M` the sum over
//! derivative paths of the products of absolute partials (the scale at which
//! any summation order's rounding lives; see [`Graph::magnitudes`]) and `C`
//! the measured effect of the `f64` primal's own rounding on the derivative
//! ([`Entry::conditioning`]). The gate is met against either the exact
//! derivative or the exact derivative taken on the `f64` path's own
//! intermediate values ([`Entry::on_f64_path`], with [`Oracle::path_tolerance`]):
//! the second isolates the engine's rounding from the program's
//! conditioning. Bits correct are always measured against the exact
//! derivative, so a pass on an ill-conditioned program shows its lost bits.
//!
//!
//! # Extreme magnitudes
//!
//! MPFR's exponent range holds every intermediate derivative exactly, so
//! entries at 1e±200, 1e±300 and subnormals are judged, not skipped. For
//! first-order entries the oracle computes, exactly, every tangent (forward
//! mode), adjoint (reverse mode), local partial and edge product an `f64`
//! engine must hold on the way to the entry (the `range` module,
//! [`RangeRisk`]; see the costs below):
//!
//! - one at or beyond `2¹⁰⁰⁰` may overflow any correct engine, and one
//!   below the normal range that meets an infinite factor (a tangent of
//!   6e−325 into `√′(0)`) may cost it everything: a miss is
//!   `ill_conditioned`, naming it ("the partial of v10 in v1 is 4.49e307");
//! - ones below the normal range may be lost: their cost, each times the
//!   factor it meets on the way to the entry (a flushed tangent moves the
//!   entry by itself times its adjoint), bounds what underflow can do
//!   ([`Entry::underflow`]), and the tolerance admits 1.125 times it;
//! - where none is, a miss comes from the engine's own formulas (`x² + y²`
//!   inside `atan2`'s or `hypot`'s rule at 1e200, `−a/b²` at 1e−200) and is
//!   judged like any other: wrong or inaccurate.
//!
//! `H·v` entries are not analysed: there values beyond `2^±400` make a miss
//! `ill_conditioned` instead ([`Reference::extreme_values`]).
//!
//! The finite differences step at the scale of the point floored at 1
//! ([`fd::directional`]); where that leaves a check unsettled at a point
//! with coordinates below 1 (steps of 2⁻⁴⁰ cross `hypot`'s kink at 1e−200),
//! they are redone at the point's own scales ([`fd::point_scales`]) and kept
//! when smooth and tight. A cross-check along a random direction that an
//! undefined entry spoils is redone input by input (up to 16 inputs).
//!
//! No answer passes with fewer correct bits than its gate implies; where the
//! gate is as wide as the entry itself (a cancellation's path magnitude, the
//! program's conditioning, an underflow bound), an answer that is neither
//! within 2⁻²⁰ of the exact value nor of the derivative on the `f64` path
//! is `ill_conditioned`, not a pass (test `extreme_scales` in the suites).
//!
//! # Cost
//!
//! For a program of `size` operations, `n` inputs and `m` outputs, one
//! first-order reference costs `O(size)` MPFR operations per stage, times
//! the number of precisions tried (two, rarely more):
//!
//! | stage | cost |
//! |---|---|
//! | evaluation, magnitudes, the `f64` path, branch logs | `O(size)` |
//! | symbolic JVP | `O(size)` (one tangent sweep) |
//! | symbolic VJP / gradient / Jacobian columns | `O(n · size)` by forward sweeps for `n ≤ 64`; `O(m · size)` by reverse sweeps above ([`Graph::gradient_reverse`]) |
//! | path magnitudes of the program | the same split (by rows above 64 inputs, unless a partial is not finite) |
//! | range risks ([`RangeRisk`]) | `O(size)` per entry while entries × size ≤ 250,000, else `O(size)` for one bound shared by every entry |
//! | finite differences | a fixed number of directional estimates, `O(size)` each; per-input retries for at most 16 inputs |
//! | `H·v` | `O(n · size)` (Hessian columns for the terms) |
//!
//! Measured by `cargo xtask bench --experiment scale` (thread CPU time of
//! one reference, programs of 10² to 10⁵ operations): about 45 µs an
//! operation, fitted log-log slopes 0.89 to 1.02 for chains and for
//! log-sum-exp over up to 50,000 inputs, gradient and JVP.
//!
//! ```
//! use adcheck_engines::{Program, Engine, reverse::ReverseEngine};
//! use adcheck_oracle::{Oracle, Quantity};
//!
//! let p = Program::parse("input x y\nz = mul x y\nw = sin x\nv = add z w\noutput v")?;
//! let x = [0.5, 2.0];
//! let oracle = Oracle::default();
//! let reference = oracle.reference(&p, &x, &Quantity::Gradient)?;
//! let got = ReverseEngine.gradient(&p, &x)?;
//! for verdict in oracle.judge(&reference, &got.derivative)? {
//!     assert!(verdict.is_pass(), "{verdict:?}");
//! }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod constancy;
mod expr;
pub mod fd;
mod judge;
mod logged;
mod mp;
mod range;
mod reference;
#[cfg(feature = "symbolica")]
pub mod third;
mod verdict;

pub use expr::{Cmp, Graph, Node, NodeId, Plan};
pub use fd::{FdConfig, FdEstimate, FdStatus};
pub use logged::{with_branch_log, Logged};
pub use mp::{precision, with_precision, Mp, DEFAULT_PRECISION};
pub use range::RangeRisk;
pub use verdict::{
    adjacent_f64, bits_correct, ulp_of, ulps, Admissible, InconclusiveReason, Miss, Verdict,
};

use adcheck_engines::{Differentiable, Program, Scalar};
use rug::Float;

/// What to differentiate.
#[derive(Clone, Debug, PartialEq)]
pub enum Quantity {
    /// `J·v` (m entries).
    Jvp(Vec<f64>),
    /// `uᵀJ` (n entries).
    Vjp(Vec<f64>),
    /// `∇f` of a scalar function (n entries).
    Gradient,
    /// The Jacobian, row-major (m·n entries).
    Jacobian,
    /// `H·v` of a scalar function (n entries).
    Hvp(Vec<f64>),
}

impl Quantity {
    /// A short name: `jvp`, `vjp`, `gradient`, `jacobian`, `hvp`.
    pub fn name(&self) -> &'static str {
        match self {
            Quantity::Jvp(_) => "jvp",
            Quantity::Vjp(_) => "vjp",
            Quantity::Gradient => "gradient",
            Quantity::Jacobian => "jacobian",
            Quantity::Hvp(_) => "hvp",
        }
    }
}

/// Why the oracle refused a request.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum OracleError {
    /// The point has the wrong length.
    #[error("the program takes {expected} inputs, the point has {got}")]
    InputLength {
        /// `n`.
        expected: usize,
        /// Given.
        got: usize,
    },
    /// A direction or cotangent has the wrong length or a non-finite entry.
    #[error("the {what} must have {expected} finite entries")]
    BadSeed {
        /// Which vector.
        what: &'static str,
        /// The length required.
        expected: usize,
    },
    /// A gradient or H·v of a function with several outputs.
    #[error("{what} needs a scalar function, this one has {outputs} outputs")]
    NotScalar {
        /// `gradient` or `hvp`.
        what: &'static str,
        /// `m`.
        outputs: usize,
    },
    /// The engine's answer has the wrong number of entries.
    #[error("expected {expected} entries, the engine gave {got}")]
    AnswerLength {
        /// Entries in the reference.
        expected: usize,
        /// Entries given.
        got: usize,
    },
}

/// The oracle's settings.
#[derive(Clone, Debug, PartialEq)]
pub struct OracleConfig {
    /// MPFR working precision in bits.
    pub precision: u32,
    /// Finite-difference settings.
    pub fd: FdConfig,
    /// Multiple of `ε·|r|` allowed (the relative part of the tolerance).
    pub relative: f64,
    /// Multiple of `ε·L·M` allowed (the path-magnitude part).
    pub per_op: f64,
    /// A primal that has lost more bits than this in `f64` is ill-conditioned.
    pub ill_conditioned_bits: f64,
    /// A failed answer with at least this many correct bits is
    /// [`Miss::Inaccurate`] (right formula, bits lost), not wrong.
    pub inaccurate_bits: f64,
    /// Seed for the random directions of the finite-difference cross-check.
    pub seed: u64,
}

impl Default for OracleConfig {
    fn default() -> Self {
        OracleConfig {
            precision: DEFAULT_PRECISION,
            fd: FdConfig::default(),
            relative: 4.0,
            per_op: 2.0,
            ill_conditioned_bits: 8.0,
            inaccurate_bits: 20.0,
            seed: 0x5eed,
        }
    }
}

/// How far the finite differences back the symbolic value of an entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Support {
    /// The references agree within their error estimates.
    Confirmed,
    /// A kink or branch lies inside the stencil: the symbolic value (the
    /// declared convention) stands alone.
    Kink,
    /// The stencil leaves the domain: the symbolic value stands alone.
    DomainEdge,
    /// The differences failed their self-check (repeated at doubled
    /// precision and halved step, they moved): the symbolic value stands
    /// alone. An answer within the tolerance of it passes; any other is
    /// inconclusive.
    Unconfirmed,
    /// The references disagree beyond their error estimates (finite
    /// differences, or Symbolica with the feature `symbolica`): every
    /// answer is inconclusive, never a pass or a fail.
    Disagreement,
}

/// One entry of a [`Reference`].
#[derive(Clone, Debug)]
pub struct Entry {
    /// The symbolic value in MPFR.
    pub exact: Float,
    /// `exact` correctly rounded to `f64`.
    pub rounded: f64,
    /// The symbolic value computed exactly from the `f64` path's own
    /// intermediate values: what an engine gets with exact accumulation on
    /// its primal, so the gap to `exact` is the program's conditioning.
    pub on_f64_path: Float,
    /// How far the `f64` primal's own rounding moves the derivative (the
    /// program's conditioning, measured): the largest of `|on_f64_path −
    /// exact|` and the changes when the computed `f64` values move one unit
    /// in the last place (all up, and neighbours in opposite directions).
    pub conditioning: f64,
    /// The path magnitude `M` of `on_f64_path`.
    pub path_magnitude: f64,
    /// `|s − on_f64_path|` where `s` is the symbolic derivative evaluated in
    /// `f64` on the same path: a measured scale of how much `f64` rounding
    /// inside the derivative's own operations moves it (large where, say,
    /// `exp(x − lse)` amplifies the rounding of its argument).
    pub rounding_scale: f64,
    /// Whether the symbolic derivative evaluated in `f64` on the `f64` path
    /// is finite. When it is not while the exact value is, the derivative's
    /// own operations leave `f64`'s range, and so may an engine's.
    pub f64_formula_finite: bool,
    /// The path magnitude `M` of the entry.
    pub magnitude: f64,
    /// How far the finite differences back it.
    pub support: Support,
    /// The finite-difference estimate behind `support`, rounded, and its
    /// error bound (for a cross-check along a random direction, the
    /// directional value).
    pub fd: Option<(f64, f64)>,
    /// When the estimate checks a combination of entries (a cross-check
    /// along a random direction), the symbolic value of that combination:
    /// the figure `fd` was compared with.
    pub fd_checked_against: Option<f64>,
    /// Where operations the entry depends on sit at a tie (a kink of
    /// `abs`/`relu`, a tie of `min`/`max`, `hypot` at the origin, the
    /// special cases of `powf`): the smallest and largest value the entry
    /// takes over every choice of branch at those ties, rounded outwards.
    /// When they differ the derivative is not one value here (see
    /// [`Admissible::Generalized`]); `None` when nothing is tied, or when
    /// the ties are too many to enumerate.
    pub admissible: Option<(f64, f64)>,
    /// Whether the entry is ±∞ exactly and one-sided differences of the
    /// program along the entry's direction grow without bound as the step
    /// shrinks: the derivative diverges (a domain edge such as `√` at 0).
    pub diverges: bool,
    /// What the entry's intermediate derivatives (tangents, adjoints, local
    /// partials and their products, exactly) do to an `f64` engine: an
    /// overflow that excuses a miss, or an underflow bound that widens the
    /// tolerance (see the `range` module). `None` for `H·v`, which is not
    /// analysed: there values beyond `2^±400` excuse a miss instead
    /// ([`Reference::extreme_values`]).
    pub range: Option<RangeRisk>,
    node: NodeId,
}

/// Both references for one quantity at one point, ready to judge engines.
#[derive(Clone, Debug)]
pub struct Reference {
    /// Which quantity.
    pub quantity: Quantity,
    /// The entries, in the engine's order.
    pub entries: Vec<Entry>,
    /// The exact outputs, rounded to `f64`.
    pub primal: Vec<f64>,
    /// Whether the outputs are finite in `f64` and exactly.
    pub primal_finite: bool,
    /// The exact outputs.
    pub primal_exact: Vec<Float>,
    /// The outputs as `f64` evaluation of the program gives them.
    pub primal_f64: Vec<f64>,
    /// Each output's first-order rounding scale
    /// ([`Program::primal_rounding_scale`]): how far one-ulp errors in the
    /// program's operations, amplified by the operations after them, can
    /// move a correct `f64` evaluation.
    pub primal_rounding_scale: Vec<f64>,
    /// The most bits any program value lost in `f64` against MPFR.
    pub lost_bits: f64,
    /// Whether `f64` evaluation takes the exact evaluation's branches.
    pub f64_path_matches: bool,
    /// Whether some program value (exact or in `f64`), or some forward or
    /// adjoint product of partials, lies beyond `2^±400`
    /// ([`Program::has_extreme_scales`]): there products of derivatives leave
    /// `f64`'s normal range (a partial of 1e−316 keeps a few bits, then a
    /// factor of 1e15 makes them show). An engine that misses the gate there
    /// is called ill-conditioned.
    pub extreme_values: bool,
    /// Whether some node of the symbolic derivative is infinite or NaN while
    /// the primal is finite: an intermediate sits at a singular point of its
    /// operation (`√0`, `ln 0`, `1/0`, …), where the chain rule does not
    /// apply even if the composite function is smooth (as `√(x²)` is at 0
    /// in the direction of a unit tangent). Values constant near the point
    /// (`√(relu x)` at `x < 0`, see [`Reference::frozen_singular`]) do not
    /// count: their derivative is 0.
    pub singular: bool,
    /// The first program value (0-based) that is constant near the point
    /// although its operation's rule is not finite there (`√` of
    /// `relu(x) = 0` at `x < 0`): the chain rule applied operation by
    /// operation gives `∞ · 0 = NaN` through it, the function's derivative
    /// is 0. Named in the evidence of a failed entry.
    pub frozen_singular: Option<usize>,
    /// Symbolica's value of each entry, rounded: the third symbolic
    /// reference (feature `symbolica`; `None` without it, or where it does
    /// not apply, see `third`). Where it disagrees with the symbolic value,
    /// the entry's support is a disagreement.
    pub third: Option<Vec<f64>>,
    /// What the finite differences saw.
    pub fd_status: FdStatus,
    /// Function evaluations the finite differences spent.
    pub fd_evaluations: usize,
    program_len: usize,
    graph: Graph,
}

/// How much of [`Entry::underflow`] the tolerance admits: the bound is
/// exact to first order (a flushed tangent moves the entry by exactly itself
/// times its adjoint), so a little more than itself, and not so much that an
/// answer of the wrong sign passes.
const UNDERFLOW_SLACK: f64 = 1.125;

impl Entry {
    /// The bound on what underflowing intermediate derivatives can move
    /// the entry (0 when none underflows, or for `H·v`).
    pub fn underflow(&self) -> f64 {
        self.range.as_ref().map_or(0.0, |r| r.underflow)
    }
}

impl Reference {
    /// The symbolic formula of entry `k` (cut off after `limit` characters).
    pub fn formula(&self, k: usize, limit: usize) -> String {
        self.graph.formula(self.entries[k].node, limit)
    }
}

/// The direction `d` and output weights `w` whose directional derivative
/// `wᵀ J d` is entry `k` of a first-order quantity (`None` for `H·v`).
fn seed_of_entry(
    quantity: &Quantity,
    k: usize,
    n: usize,
    m: usize,
) -> Option<(Vec<f64>, Vec<f64>)> {
    let unit = |len: usize, i: usize| {
        let mut e = vec![0.0; len];
        e[i] = 1.0;
        e
    };
    match quantity {
        Quantity::Jvp(v) => Some((v.clone(), unit(m, k))),
        Quantity::Vjp(u) => Some((unit(n, k), u.clone())),
        Quantity::Gradient => Some((unit(n, k), vec![1.0])),
        Quantity::Jacobian => Some((unit(n, k % n), unit(m, k / n))),
        Quantity::Hvp(_) => None,
    }
}

/// Whether the one-sided difference quotients of `wᵀ f(x + t·d)` grow
/// without bound as `t → 0` from some side where `f` is defined, toward the
/// sign of the exact infinity (`positive`). Steps 2⁻²⁰ … 2⁻⁵⁰ (relative to
/// |x|): a real divergence (`√t`, `∛t`) grows by 2⁴ or more over every
/// 2¹⁰ and moves the function by far more than MPFR's rounding; a bounded
/// derivative, or rounding noise divided by the step, does not.
fn one_sided_diverges(
    graph: &Graph,
    outputs: &[NodeId],
    x: &[f64],
    d: &[f64],
    w: &[f64],
    positive: bool,
) -> bool {
    let plan = graph.plan(outputs);
    let scale = x.iter().fold(1.0f64, |a, v| a.max(v.abs()));
    let g = |t: f64| -> Mp {
        let point: Vec<Mp> = x
            .iter()
            .zip(d)
            .map(|(&xi, &di)| Mp::from_f64(xi) + Mp::from_f64(di) * Mp::from_f64(t))
            .collect();
        let values = graph.evaluate(&plan, &point);
        outputs
            .iter()
            .zip(w)
            .fold(Mp::from_f64(0.0), |sum, (&o, &wi)| {
                let v = values[o as usize].clone().unwrap_or_else(Mp::nan);
                sum + v * Mp::from_f64(wi)
            })
    };
    let at = g(0.0);
    if !at.0.is_finite() {
        return false;
    }
    let prec = at.0.prec();
    // Moves smaller than this are MPFR's rounding amplified, not the function.
    let noise = (1.0 + at.to_f64().abs()) * 2f64.powi(-(prec as i32) / 4);
    [1.0f64, -1.0].iter().any(|&side| {
        let steps: Option<Vec<(f64, Float)>> = [20, 30, 40, 50]
            .iter()
            .map(|&e| {
                let t = side * scale * 2f64.powi(-e);
                let step = g(t) - at.clone();
                let moved = step.0.is_finite() && step.to_f64().abs() > noise;
                let q = Float::with_val(prec, &step.0 / t);
                (moved && q.is_finite()).then_some((step.to_f64().abs(), q))
            })
            .collect();
        let Some(steps) = steps else {
            return false;
        };
        // The function itself must close in on its value: a jump (atan2
        // across its branch cut) also makes the quotients grow, as 1/t.
        if steps.windows(2).any(|pair| pair[1].0 > pair[0].0 / 2.0) {
            return false;
        }
        let q: Vec<Float> = steps.into_iter().map(|(_, q)| q).collect();
        // Each quotient approximates the derivative along +d from this
        // side; it must grow toward the exact infinity's sign.
        let signed = |q: &Float| if positive { q.clone() } else { -q.clone() };
        q.windows(2).all(|pair| {
            let (a, b) = (signed(&pair[0]), signed(&pair[1]));
            b.is_sign_positive() && b > Float::with_val(prec, a.abs_ref()) * 16u32
        })
    })
}

/// At most 2^MAX_TIES choices of branch are enumerated per entry (beyond,
/// the entry gets no admissible set).
const MAX_TIES: usize = 12;

/// At most this many node evaluations (choices × the nodes a choice
/// changes) are spent on one entry's ties: beyond, as beyond
/// [`MAX_TIES`], the entry gets no admissible set. It binds only on long
/// programs (the generator's small ones change a few dozen nodes).
const TIE_EVALUATIONS: usize = 1 << 20;

/// For each entry root, the range of its value over every choice of branch
/// at the `Select` nodes it depends on whose comparison is a tie at the
/// point (see [`Entry::admissible`]); NaN choices are left out.
fn admissible_ranges(
    graph: &Graph,
    plan: &Plan,
    values: &[Option<Mp>],
    roots: &[NodeId],
    each_on_its_own: bool,
) -> Vec<Option<(f64, f64)>> {
    let tied = tied_selects(graph, plan, values);
    if tied.is_empty() {
        return vec![None; roots.len()];
    }
    // The nodes of the plan a choice at some tie can change: a tied
    // `Select` and what depends on it. Only those are evaluated again for
    // each choice; the rest keep their values.
    let mut downstream: std::collections::HashSet<NodeId> = Default::default();
    for &id in plan.nodes() {
        if tied.contains(&id)
            || graph
                .node(id)
                .children()
                .iter()
                .any(|c| downstream.contains(c))
        {
            downstream.insert(id);
        }
    }
    roots
        .iter()
        .map(|&root| {
            if !downstream.contains(&root) {
                return None;
            }
            let own = graph.plan(&[root]);
            let ties: Vec<NodeId> = own
                .nodes()
                .iter()
                .copied()
                .filter(|id| tied.contains(id))
                .collect();
            if ties.is_empty() {
                return None;
            }
            let changing: Vec<NodeId> = own
                .nodes()
                .iter()
                .copied()
                .filter(|id| downstream.contains(id))
                .collect();
            let groups = TieGroups::new(graph, ties, each_on_its_own);
            let combinations = groups.combinations()?;
            if combinations.saturating_mul(changing.len()) > TIE_EVALUATIONS {
                return None;
            }
            let (lo, hi) = (0..combinations)
                .filter_map(|c| {
                    let v = graph.evaluate_overlay(&changing, values, &groups.choices(graph, c));
                    v[root as usize].as_ref().map(|v| v.0.clone())
                })
                .filter(|v| !v.is_nan())
                .fold(
                    (None, None),
                    |(lo, hi): (Option<Float>, Option<Float>), v| {
                        let lo = lo.filter(|l| *l <= v).or_else(|| Some(v.clone()));
                        let hi = hi.filter(|h| *h >= v).or(Some(v));
                        (lo, hi)
                    },
                );
            Some(range_of(lo?, hi?))
        })
        .collect()
}

/// The `Select` nodes of `plan` at a tie: both operands exactly equal and
/// finite in MPFR (a comparison of a value with itself is decided the same
/// way everywhere: not a tie).
fn tied_selects(
    graph: &Graph,
    plan: &Plan,
    values: &[Option<Mp>],
) -> std::collections::HashSet<NodeId> {
    plan.nodes()
        .iter()
        .copied()
        .filter(|&id| match graph.node(id) {
            Node::Select(_, [a, b, _, _]) if a == b => false,
            Node::Select(_, [a, b, _, _]) => match (&values[*a as usize], &values[*b as usize]) {
                (Some(a), Some(b)) => a.0.is_finite() && a.0 == b.0,
                _ => false,
            },
            _ => false,
        })
        .collect()
}

/// The ties an entry depends on, grouped as their choices go together.
///
/// For first derivatives every tied `Select` chooses its branch on its own:
/// each operation may take any of its one-sided pieces (an engine sends a
/// `max` tie to one argument and takes an `iflt` over the same two values
/// the other way), the chain rule over sets. For H·v, order comparisons
/// (`<`, `<=`) of the same two values take one side together — below,
/// above, or at the tie — so a first and a second derivative see the same
/// one-sided piece; the special cases (`==`) choose their branch each on
/// its own (`hypot`'s bound at the origin needs that).
struct TieGroups {
    ties: Vec<NodeId>,
    /// The operand pairs of the order comparisons that go together.
    pairs: Vec<(NodeId, NodeId)>,
    /// The `Select`s that choose on their own.
    alone: Vec<NodeId>,
    each_on_its_own: bool,
}

impl TieGroups {
    fn new(graph: &Graph, ties: Vec<NodeId>, each_on_its_own: bool) -> TieGroups {
        let mut pairs: Vec<(NodeId, NodeId)> = Vec::new();
        let mut alone: Vec<NodeId> = Vec::new();
        for &id in &ties {
            if let Node::Select(cmp, [a, b, _, _]) = graph.node(id) {
                if *cmp == Cmp::Eq || each_on_its_own {
                    alone.push(id);
                } else {
                    let key = ((*a).min(*b), (*a).max(*b));
                    if !pairs.contains(&key) {
                        pairs.push(key);
                    }
                }
            }
        }
        TieGroups {
            ties,
            pairs,
            alone,
            each_on_its_own,
        }
    }

    /// How many combinations of choices there are (three sides a pair, two
    /// branches a lone tie), or `None` beyond 2^MAX_TIES.
    fn combinations(&self) -> Option<usize> {
        3usize
            .checked_pow(self.pairs.len() as u32)
            .and_then(|c| c.checked_mul(1 << self.alone.len().min(20)))
            .filter(|&c| c <= 1 << MAX_TIES)
    }

    /// The branch every tied `Select` takes in combination `combination`.
    fn choices(
        &self,
        graph: &Graph,
        combination: usize,
    ) -> std::collections::HashMap<NodeId, bool> {
        // Side of each pair: 0 the first below, 1 above, 2 at the tie.
        let mut rest = combination;
        let sides: Vec<usize> = self
            .pairs
            .iter()
            .map(|_| {
                let side = rest % 3;
                rest /= 3;
                side
            })
            .collect();
        let mut choices: std::collections::HashMap<NodeId, bool> = self
            .alone
            .iter()
            .enumerate()
            .map(|(i, &id)| (id, rest >> i & 1 == 1))
            .collect();
        for &id in &self.ties {
            if let Node::Select(cmp, [a, b, _, _]) = graph.node(id) {
                if *cmp == Cmp::Eq || self.each_on_its_own {
                    continue;
                }
                let key = ((*a).min(*b), (*a).max(*b));
                let k = self.pairs.iter().position(|p| *p == key).expect("grouped");
                // Whether a < b, a > b, or a = b on this side.
                let side = match (sides[k], *a == key.0) {
                    (2, _) => 2,
                    (s, true) => s,
                    (s, false) => 1 - s,
                };
                let holds = match cmp {
                    Cmp::Lt => side == 0,
                    _ => side != 1,
                };
                choices.insert(id, holds);
            }
        }
        choices
    }
}

/// The range `[lo, hi]` of an entry over its choices, in f64 rounded
/// outwards; choices that agree to the working precision (formulas equal in
/// value, rounded differently) are one value.
fn range_of(lo: Float, hi: Float) -> (f64, f64) {
    let spread = Float::with_val(lo.prec(), &hi - &lo).to_f64();
    let scale = lo.to_f64().abs().max(hi.to_f64().abs());
    if scale.is_finite() && spread <= scale * 2f64.powi(24 - lo.prec() as i32) {
        let v = lo.to_f64();
        return (v, v);
    }
    (
        lo.to_f64_round(rug::float::Round::Down),
        hi.to_f64_round(rug::float::Round::Up),
    )
}

/// The oracle: computes [`Reference`]s and judges engines against them.
#[derive(Clone, Debug, Default)]
pub struct Oracle {
    /// Its settings.
    pub config: OracleConfig,
}

fn splitmix(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

fn check_seed(what: &'static str, seed: &[f64], expected: usize) -> Result<(), OracleError> {
    if seed.len() == expected && seed.iter().all(|s| s.is_finite()) {
        Ok(())
    } else {
        Err(OracleError::BadSeed { what, expected })
    }
}

/// How many bits of the exact value `exact` the `f64` value `got` has lost
/// beyond rounding (0 for a correctly rounded value).
fn bits_lost(got: f64, exact: &Float) -> f64 {
    if exact.is_zero() {
        return if got == 0.0 { 0.0 } else { 53.0 };
    }
    if !got.is_finite() {
        return 53.0;
    }
    // Relative error against the exact value, so that an underflow to zero
    // counts as losing everything even though zero is the rounded value.
    let rel = Float::with_val(
        64,
        (Float::with_val(exact.prec(), got - exact) / exact).abs(),
    )
    .to_f64();
    (53.0 + rel.log2()).clamp(0.0, 53.0)
}

/// One comparison of the two references: `Σ aᵢ·FDᵢ ≈ Σ bₖ·exactₖ`, which
/// backs the entries `k` it involves.
struct FdCheck {
    fd_weights: Vec<(usize, f64)>,
    entry_weights: Vec<(usize, f64)>,
}

/// The symbolic side of a quantity: the entries' nodes, and how finite
/// differences of `fd_of` along `fd_direction` check them.
struct SymbolicPlan {
    roots: Vec<NodeId>,
    /// Per root of H·v, the Hessian entries and coefficients whose magnitudes
    /// add up to the root's: the combination can fold to an exact constant
    /// symbolically while an engine sums the entries in `f64`. Empty: the
    /// root's own magnitude.
    terms: Vec<Vec<(NodeId, f64)>>,
    fd_of: Vec<NodeId>,
    fd_direction: Vec<f64>,
    checks: Vec<FdCheck>,
}

fn unit_vector(graph: &mut Graph, n: usize, j: usize) -> Vec<NodeId> {
    (0..n)
        .map(|k| graph.constant(if k == j { 1.0 } else { 0.0 }))
        .collect()
}

/// Programs with more inputs than this (and fewer outputs than inputs) get
/// their Jacobian's columns in reverse mode ([`Graph::gradient_reverse`]:
/// `O(m · size)` instead of `O(n · size)`); the generator's programs have
/// at most this many, so their symbolic references are the forward ones.
const REVERSE_ABOVE_INPUTS: usize = 64;

/// The columns `∂y/∂x_j` of the Jacobian of `outputs`, symbolically.
fn jacobian_columns(graph: &mut Graph, outputs: &[NodeId], n: usize) -> Vec<Vec<NodeId>> {
    if n > REVERSE_ABOVE_INPUTS && outputs.len() < n {
        let rows: Vec<Vec<NodeId>> = outputs
            .iter()
            .map(|&o| graph.gradient_reverse(o, n))
            .collect();
        return (0..n)
            .map(|j| rows.iter().map(|row| row[j]).collect())
            .collect();
    }
    (0..n)
        .map(|j| {
            let e = unit_vector(graph, n, j);
            graph.derivative(outputs, &e)
        })
        .collect()
}

/// The most inputs for which a disputed cross-check is redone input by
/// input (each costs one more finite-difference estimate).
const PER_INPUT_LIMIT: usize = 16;

/// For quantities whose entries are checked along a random direction
/// (gradient, `uᵀJ`, Jacobian), the checks of each input's entries along
/// that input's axis: `(input, checks)`, with the finite differences of the
/// outputs weighted as the entries are. Empty for the others.
fn per_input_checks(quantity: &Quantity, n: usize, m: usize) -> Vec<(usize, Vec<FdCheck>)> {
    let weights: Vec<(usize, f64)> = match quantity {
        Quantity::Vjp(u) => u.iter().copied().enumerate().collect(),
        Quantity::Gradient => vec![(0, 1.0)],
        Quantity::Jacobian => {
            return (0..n)
                .map(|j| {
                    let checks = (0..m)
                        .map(|i| FdCheck {
                            fd_weights: vec![(i, 1.0)],
                            entry_weights: vec![(i * n + j, 1.0)],
                        })
                        .collect();
                    (j, checks)
                })
                .collect()
        }
        Quantity::Jvp(_) | Quantity::Hvp(_) => return Vec::new(),
    };
    (0..n)
        .map(|j| {
            (
                j,
                vec![FdCheck {
                    fd_weights: weights.clone(),
                    entry_weights: vec![(j, 1.0)],
                }],
            )
        })
        .collect()
}

fn per_entry_checks(count: usize) -> Vec<FdCheck> {
    (0..count)
        .map(|k| FdCheck {
            fd_weights: vec![(k, 1.0)],
            entry_weights: vec![(k, 1.0)],
        })
        .collect()
}

impl Oracle {
    /// An oracle with the given settings.
    pub fn new(config: OracleConfig) -> Self {
        Oracle { config }
    }

    /// A direction for the cross-check, fixed by the seed and the point, with
    /// dyadic entries in `[−1, 1]` so stencil points stay exact.
    fn direction(&self, x: &[f64]) -> Vec<f64> {
        let mut state = self.config.seed;
        for v in x {
            state ^= v.to_bits();
            splitmix(&mut state);
        }
        (0..x.len())
            .map(|_| {
                let r = splitmix(&mut state);
                let magnitude = ((r >> 1) % 8 + 1) as f64 / 8.0;
                if r & 1 == 0 {
                    magnitude
                } else {
                    -magnitude
                }
            })
            .collect()
    }

    /// Computes both references for `quantity` of `p` at `x` and checks
    /// their agreement.
    pub fn reference(
        &self,
        p: &Program,
        x: &[f64],
        quantity: &Quantity,
    ) -> Result<Reference, OracleError> {
        let (n, m) = (p.n_inputs(), p.n_outputs());
        if x.len() != n {
            return Err(OracleError::InputLength {
                expected: n,
                got: x.len(),
            });
        }
        match quantity {
            Quantity::Jvp(v) | Quantity::Hvp(v) => check_seed("direction v", v, n)?,
            Quantity::Vjp(u) => check_seed("cotangent u", u, m)?,
            Quantity::Gradient | Quantity::Jacobian => {}
        }
        if matches!(quantity, Quantity::Gradient | Quantity::Hvp(_)) && m != 1 {
            return Err(OracleError::NotScalar {
                what: quantity.name(),
                outputs: m,
            });
        }
        Ok(with_precision(self.config.precision, || {
            self.reference_at_precision(p, x, quantity)
        }))
    }

    /// Builds the symbolic entries of `quantity` and the checks that finite
    /// differences make of them.
    fn symbolic(
        &self,
        graph: &mut Graph,
        outputs: &[NodeId],
        x: &[f64],
        quantity: &Quantity,
    ) -> SymbolicPlan {
        let (n, m) = (x.len(), outputs.len());
        match quantity {
            Quantity::Jvp(v) => {
                let t: Vec<NodeId> = v.iter().map(|&c| graph.constant(c)).collect();
                SymbolicPlan {
                    terms: vec![Vec::new(); m],
                    roots: graph.derivative(outputs, &t),
                    fd_of: outputs.to_vec(),
                    fd_direction: v.clone(),
                    checks: per_entry_checks(m),
                }
            }
            Quantity::Hvp(v) => {
                let gradient: Vec<NodeId> = jacobian_columns(graph, outputs, n)
                    .into_iter()
                    .map(|c| c[0])
                    .collect();
                let t: Vec<NodeId> = v.iter().map(|&c| graph.constant(c)).collect();
                let hessian_columns = jacobian_columns(graph, &gradient, n);
                SymbolicPlan {
                    terms: (0..n)
                        .map(|k| (0..n).map(|j| (hessian_columns[j][k], v[j])).collect())
                        .collect(),
                    roots: graph.derivative(&gradient, &t),
                    fd_of: gradient,
                    fd_direction: v.clone(),
                    checks: per_entry_checks(n),
                }
            }
            Quantity::Vjp(_) | Quantity::Gradient => {
                let u = match quantity {
                    Quantity::Vjp(u) => u.clone(),
                    _ => vec![1.0],
                };
                let columns = jacobian_columns(graph, outputs, n);
                let zero = graph.constant(0.0);
                let roots = columns
                    .iter()
                    .map(|column| {
                        let mut total = zero;
                        for (i, &ui) in u.iter().enumerate() {
                            let weight = graph.constant(ui);
                            let term = graph.mul(weight, column[i]);
                            total = graph.add(total, term);
                        }
                        total
                    })
                    .collect();
                let w = self.direction(x);
                SymbolicPlan {
                    roots,
                    terms: (0..n)
                        .map(|j| {
                            u.iter()
                                .enumerate()
                                .map(|(i, &ui)| (columns[j][i], ui))
                                .collect()
                        })
                        .collect(),
                    fd_of: outputs.to_vec(),
                    checks: vec![FdCheck {
                        fd_weights: u.iter().copied().enumerate().collect(),
                        entry_weights: w.iter().copied().enumerate().collect(),
                    }],
                    fd_direction: w,
                }
            }
            Quantity::Jacobian => {
                let columns = jacobian_columns(graph, outputs, n);
                let roots = (0..m)
                    .flat_map(|i| columns.iter().map(move |c| c[i]))
                    .collect();
                let w = self.direction(x);
                SymbolicPlan {
                    terms: vec![Vec::new(); m * n],
                    roots,
                    fd_of: outputs.to_vec(),
                    checks: (0..m)
                        .map(|i| FdCheck {
                            fd_weights: vec![(i, 1.0)],
                            entry_weights: (0..n).map(|j| (i * n + j, w[j])).collect(),
                        })
                        .collect(),
                    fd_direction: w,
                }
            }
        }
    }

    /// Judges an engine's answer (`got`, in the quantity's order) entry by
    /// entry against `reference`.
    pub fn judge(&self, reference: &Reference, got: &[f64]) -> Result<Vec<Verdict>, OracleError> {
        if got.len() != reference.entries.len() {
            return Err(OracleError::AnswerLength {
                expected: reference.entries.len(),
                got: got.len(),
            });
        }
        Ok(got
            .iter()
            .enumerate()
            .map(|(k, &g)| self.judge_entry(reference, k, g))
            .collect())
    }

    /// Judges an engine's primal outputs against the exact ones. The gate is
    /// `4·ε·L·|r|` for the rounding of `L` operations, plus four times the
    /// gap between the exact value and plain `f64` evaluation (the program's
    /// own conditioning).
    pub fn judge_primal(
        &self,
        reference: &Reference,
        got: &[f64],
    ) -> Result<Vec<Verdict>, OracleError> {
        if got.len() != reference.primal_exact.len() {
            return Err(OracleError::AnswerLength {
                expected: reference.primal_exact.len(),
                got: got.len(),
            });
        }
        let len = reference.program_len.max(1) as f64;
        Ok(got
            .iter()
            .zip(&reference.primal_exact)
            .zip(&reference.primal_f64)
            .zip(&reference.primal_rounding_scale)
            .map(|(((&g, exact), &plain), &scale)| {
                if !reference.primal_finite {
                    return Verdict::Inconclusive {
                        reason: InconclusiveReason::PrimalNotFinite,
                        detail: format!("exact {}", exact.to_f64()),
                    };
                }
                let r = exact.to_f64();
                let conditioning = Float::with_val(self.config.precision, plain - exact).abs().to_f64();
                // Another correct evaluation may round each operation
                // differently by up to an ulp (libraries differ): `2ε` per
                // unit of rounding scale covers that, beside this f64
                // evaluation's own measured error.
                let tolerance = 4.0 * f64::EPSILON * len * r.abs()
                    + 4.0 * conditioning
                    + 2.0 * f64::EPSILON * scale
                    + 4.0 * f64::from_bits(1);
                let diff = Float::with_val(self.config.precision, g - exact).abs().to_f64();
                let bits = bits_correct(g, exact);
                if g == r || g == plain || diff <= tolerance {
                    Verdict::Pass {
                        bits_correct: bits,
                        ulps: ulps(g, exact),
                    }
                } else if reference.lost_bits > self.config.ill_conditioned_bits {
                    Verdict::Inconclusive {
                        reason: InconclusiveReason::IllConditioned,
                        detail: format!("the f64 primal lost {:.1} bits", reference.lost_bits),
                    }
                } else {
                    Verdict::Fail {
                        miss: self.miss(bits),
                        expected: r,
                        got: g,
                        bits_correct: bits,
                        evidence: format!(
                            "primal: expected {r:e} (MPFR {exact:.40}), f64 evaluation gives {plain:e}, got {g:e}; tolerance {tolerance:.2e}"
                        ),
                    }
                }
            })
            .collect())
    }

    /// The tolerance of the pass gate against the exact derivative (see the
    /// crate docs): the mixed tolerance plus four times the measured
    /// [`Entry::conditioning`], since an engine computing its partials by other
    /// (equivalent) formulas meets the primal's rounding in other places.
    pub fn tolerance(&self, reference: &Reference, entry: &Entry) -> f64 {
        let conditioning = if entry.conditioning.is_finite() {
            entry.conditioning
        } else {
            0.0
        };
        self.mixed(reference, entry.rounded.abs(), entry.magnitude)
            + 4.0 * conditioning
            + UNDERFLOW_SLACK * entry.underflow()
    }

    /// The tolerance of the pass gate against the derivative on the `f64`
    /// path: the mixed tolerance at that path, plus sixteen times the
    /// measured [`Entry::rounding_scale`].
    pub fn path_tolerance(&self, reference: &Reference, entry: &Entry) -> f64 {
        let scale = if entry.rounding_scale.is_finite() {
            entry.rounding_scale
        } else {
            0.0
        };
        self.mixed(
            reference,
            entry.on_f64_path.to_f64().abs(),
            entry.path_magnitude,
        ) + 16.0 * scale
            + UNDERFLOW_SLACK * entry.underflow()
    }

    fn mixed(&self, reference: &Reference, value: f64, magnitude: f64) -> f64 {
        let len = reference.program_len.max(1) as f64;
        f64::EPSILON * (self.config.relative * value + self.config.per_op * len * magnitude)
            + 4.0 * f64::from_bits(1)
    }

    /// Wrong, or inaccurate when the answer keeps
    /// [`OracleConfig::inaccurate_bits`] correct bits.
    fn miss(&self, bits_correct: f64) -> Miss {
        if bits_correct >= self.config.inaccurate_bits {
            Miss::Inaccurate
        } else {
            Miss::Wrong
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_range_rounds_outwards_and_collapses_to_one_value_within_precision() {
        with_precision(DEFAULT_PRECISION, || {
            let f = |v: f64| Float::with_val(DEFAULT_PRECISION, v);
            assert_eq!(range_of(f(0.0), f(1.0)), (0.0, 1.0));
            // 1/3 and 1/3 plus a rounding of the working precision: one value.
            let third = Float::with_val(DEFAULT_PRECISION, 1) / 3u32;
            let nudged = Float::with_val(DEFAULT_PRECISION, &third + f(1e-72));
            assert_eq!(range_of(third.clone(), nudged), (1.0 / 3.0, 1.0 / 3.0));
            // Outwards: the f64 range contains the exact one.
            let (lo, hi) = range_of(
                third.clone(),
                Float::with_val(DEFAULT_PRECISION, &third * 2u32),
            );
            assert!(lo <= 1.0 / 3.0 && hi >= 2.0 / 3.0);
        });
    }

    #[test]
    fn ties_of_order_comparisons_of_the_same_values_go_together_for_hvp_only() {
        let p = Program::parse(
            "input x y\na = iflt x y x y\nb = ifle y x x y\nc = max x y\noutput a b c",
        )
        .unwrap();
        let mut graph = Graph::new();
        let ids = graph.add_program(&p);
        let plan = graph.plan(&ids);
        let values = graph.evaluate(&plan, &[Mp::from_f64(1.0), Mp::from_f64(1.0)]);
        let tied = tied_selects(&graph, &plan, &values);
        let ties: Vec<NodeId> = plan
            .nodes()
            .iter()
            .copied()
            .filter(|id| tied.contains(id))
            .collect();
        assert_eq!(ties.len(), 2, "the two selects, x = y = 1");
        // First derivatives: each tie on its own, 2 × 2 choices.
        assert_eq!(
            TieGroups::new(&graph, ties.clone(), true).combinations(),
            Some(4)
        );
        // H·v: one pair of operands, three sides (below, above, at the tie).
        let together = TieGroups::new(&graph, ties, false);
        assert_eq!(together.combinations(), Some(3));
        // Below (x < y): iflt x y takes x; ifle y x (y ≤ x) does not hold.
        let below = together.choices(&graph, 0);
        assert_eq!(below.values().filter(|&&holds| holds).count(), 1);
    }
}
