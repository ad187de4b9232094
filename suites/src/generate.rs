//! Program generators: proptest strategies with knobs, and deterministic
//! cases by seed and index.
//!
//! A case is built from a point and a list of genes. Each gene picks an
//! operation from the case's [`Family`] and its arguments among the values
//! defined so far, and the program is evaluated in `f64` as it is built: when
//! an operation would leave its domain or overflow at the point, the builder
//! tries the same operation on other arguments, then falls back to `add`. So
//! generated programs are mostly regular where they are checked, while the
//! point generator still aims at kinks, domain edges, tiny and huge
//! magnitudes and signed zeros.
//!
//! Shrinking works on the genes and the point (fewer genes, earlier
//! arguments, simpler operations, smaller coordinates) and every candidate is
//! rebuilt, so a shrunk case is always a well-formed program.

use adcheck_engines::ops::{BinaryOp, Comparison, UnaryOp};
use adcheck_engines::{Differentiable, Instr, Program, ValueId};
use adcheck_oracle::adjacent_f64;
use proptest::prelude::*;
use proptest::strategy::{BoxedStrategy, ValueTree};
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};
use serde::{Deserialize, Serialize};

/// A family of operations a generated program concentrates on (beside the
/// arithmetic every program has).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Family {
    /// `+ − × ÷`, negation, reciprocal, integer powers, constants.
    Arithmetic,
    /// `exp`, `expm1`, `ln`, `log1p`, softplus, logsumexp.
    ExpLog,
    /// `sin`, `cos`, `tan`, `asin`, `acos`, `atan`, `atan2`.
    Trig,
    /// `sinh`, `cosh`, `tanh`.
    Hyperbolic,
    /// `sqrt`, `cbrt`, `powf`, `powi`, `hypot`.
    Powers,
    /// `abs`, `relu`, `min`, `max`.
    Kinks,
    /// `iflt`, `ifle` branches.
    Branches,
    /// Everything.
    Mixed,
    /// The hard places: points exactly at kinks, ties and domain edges and
    /// one ulp, 1e−300 or 1e300 away (inputs equal to, or one ulp from,
    /// each other; `0`, `±5e−324`, `1 − 2⁻⁵³`, …), with the non-smooth and
    /// edge operations (`abs`, `relu`, `min`, `max`, `hypot`, `√`, `∛`,
    /// `powf`, `atan2`, `asin`, `acos`, `ln`, `÷`, branches) applied to the
    /// inputs directly half the time, so they meet those points.
    HardPlaces,
    /// Long programs: 100 to 1,000 live operations of every family's kind,
    /// with much fan-out and long chains ([`LARGE`]),
    /// for the bugs that show only on long tapes. Not in the rotation: one
    /// case in [`GenConfig::large_one_in`], by a hash of its index.
    Large,
}

/// An operation a gene can pick.
#[derive(Clone, Copy, Debug, PartialEq)]
enum GenOp {
    Unary(UnaryOp),
    Binary(BinaryOp),
    PowI,
    Const,
    LogSumExp,
    Select(Comparison),
}

const ARITHMETIC: &[GenOp] = &[
    GenOp::Binary(BinaryOp::Add),
    GenOp::Binary(BinaryOp::Mul),
    GenOp::Binary(BinaryOp::Sub),
    GenOp::Binary(BinaryOp::Div),
    GenOp::Unary(UnaryOp::Neg),
    GenOp::Const,
];

impl Family {
    /// Every family, in a fixed order.
    pub const ALL: [Family; 10] = [
        Family::Arithmetic,
        Family::ExpLog,
        Family::Trig,
        Family::Hyperbolic,
        Family::Powers,
        Family::Kinks,
        Family::Branches,
        Family::Mixed,
        Family::HardPlaces,
        Family::Large,
    ];

    /// The families cases rotate through (by a hash of the index; every
    /// one but [`Family::Large`]).
    pub const ROTATION: [Family; 9] = [
        Family::Arithmetic,
        Family::ExpLog,
        Family::Trig,
        Family::Hyperbolic,
        Family::Powers,
        Family::Kinks,
        Family::Branches,
        Family::Mixed,
        Family::HardPlaces,
    ];

    /// A short snake_case name.
    pub fn name(self) -> &'static str {
        match self {
            Family::Arithmetic => "arithmetic",
            Family::ExpLog => "exp_log",
            Family::Trig => "trig",
            Family::Hyperbolic => "hyperbolic",
            Family::Powers => "powers",
            Family::Kinks => "kinks",
            Family::Branches => "branches",
            Family::Mixed => "mixed",
            Family::HardPlaces => "hard_places",
            Family::Large => "large",
        }
    }

    /// Looks a family up by name.
    pub fn from_name(name: &str) -> Option<Family> {
        Family::ALL.into_iter().find(|f| f.name() == name)
    }

    fn special_ops(self) -> Vec<GenOp> {
        use BinaryOp as B;
        use UnaryOp as U;
        match self {
            Family::Arithmetic => vec![GenOp::Unary(U::Recip), GenOp::PowI],
            Family::ExpLog => vec![
                GenOp::Unary(U::Exp),
                GenOp::Unary(U::Expm1),
                GenOp::Unary(U::Ln),
                GenOp::Unary(U::Log1p),
                GenOp::Unary(U::Softplus),
                GenOp::LogSumExp,
            ],
            Family::Trig => vec![
                GenOp::Unary(U::Sin),
                GenOp::Unary(U::Cos),
                GenOp::Unary(U::Tan),
                GenOp::Unary(U::Asin),
                GenOp::Unary(U::Acos),
                GenOp::Unary(U::Atan),
                GenOp::Binary(B::Atan2),
            ],
            Family::Hyperbolic => vec![
                GenOp::Unary(U::Sinh),
                GenOp::Unary(U::Cosh),
                GenOp::Unary(U::Tanh),
            ],
            Family::Powers => vec![
                GenOp::Unary(U::Sqrt),
                GenOp::Unary(U::Cbrt),
                GenOp::Binary(B::Powf),
                GenOp::PowI,
                GenOp::Binary(B::Hypot),
            ],
            Family::Kinks => vec![
                GenOp::Unary(U::Abs),
                GenOp::Unary(U::Relu),
                GenOp::Binary(B::Min),
                GenOp::Binary(B::Max),
            ],
            Family::Branches => vec![
                GenOp::Select(Comparison::Lt),
                GenOp::Select(Comparison::Le),
                GenOp::Unary(U::Sin),
            ],
            Family::Mixed | Family::Large => Family::ALL[..7]
                .iter()
                .flat_map(|f| f.special_ops())
                .collect(),
            Family::HardPlaces => vec![
                GenOp::Unary(U::Abs),
                GenOp::Unary(U::Relu),
                GenOp::Binary(B::Min),
                GenOp::Binary(B::Max),
                GenOp::Binary(B::Hypot),
                GenOp::Unary(U::Sqrt),
                GenOp::Unary(U::Cbrt),
                GenOp::Binary(B::Powf),
                GenOp::Binary(B::Atan2),
                GenOp::Unary(U::Asin),
                GenOp::Unary(U::Acos),
                GenOp::Unary(U::Ln),
                GenOp::Binary(B::Div),
                GenOp::Select(Comparison::Lt),
                GenOp::Select(Comparison::Le),
            ],
        }
    }

    /// The operations a gene chooses from: the family's own twice over, so
    /// they dominate, then plain arithmetic.
    fn ops(self) -> Vec<GenOp> {
        let special = self.special_ops();
        let mut ops = special.clone();
        ops.extend(special);
        ops.extend_from_slice(ARITHMETIC);
        ops
    }
}

/// The knobs of the program and point generators.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GenConfig {
    /// Inputs `n`: smallest and largest (1 to [`MAX_INPUTS`]).
    pub inputs: (usize, usize),
    /// Outputs `m`: smallest and largest (1 to [`MAX_OUTPUTS`]).
    pub outputs: (usize, usize),
    /// Body length: smallest and largest (live operations when
    /// [`GenConfig::live_length`]).
    pub length: (usize, usize),
    /// The family of every case, or `None` to rotate through
    /// [`Family::ROTATION`] by a hash of the case index (with the large
    /// family now and then, see [`GenConfig::large_one_in`]).
    pub family: Option<Family>,
    /// Probability that an argument is the first input (one value used many
    /// times: fan-out).
    pub fan_out: f64,
    /// Probability that an argument is the latest value (long chains: depth).
    pub depth: f64,
    /// Probability that a coordinate of the point is a special value (a kink,
    /// a domain edge, a signed zero, a tiny or huge magnitude).
    pub special_points: f64,
    /// Whether `length` counts live operations (those an output depends
    /// on, after repair): arguments then prefer values no operation has
    /// read yet, and what no output depends on is pruned. Off by default,
    /// so that a seed keeps giving the programs it always gave (most of a
    /// program's entries are then dead: 26 of 1,000 live on average).
    #[serde(default)]
    pub live_length: bool,
    /// When families rotate, one case in this many (by a hash of its
    /// index) is of the [`Family::Large`] family instead; 0 for none.
    #[serde(default = "default_large_one_in")]
    pub large_one_in: u64,
}

fn default_large_one_in() -> u64 {
    512
}

/// The most inputs a generated program may have.
pub const MAX_INPUTS: usize = 4096;
/// The most outputs a generated program may have.
pub const MAX_OUTPUTS: usize = 256;

impl Default for GenConfig {
    fn default() -> Self {
        GenConfig {
            inputs: (1, 6),
            outputs: (1, 3),
            length: (1, 20),
            family: None,
            fan_out: 0.15,
            depth: 0.35,
            special_points: 0.1,
            live_length: false,
            large_one_in: default_large_one_in(),
        }
    }
}

/// The knobs of [`Family::Large`]: 100 to 1,000 live operations, more
/// fan-out and longer chains than the default (inputs, outputs and special
/// points stay the campaign's).
pub const LARGE: GenConfig = GenConfig {
    inputs: (1, 8),
    outputs: (1, 3),
    length: (100, 1000),
    family: Some(Family::Large),
    fan_out: 0.25,
    depth: 0.45,
    special_points: 0.1,
    live_length: true,
    large_one_in: 0,
};

/// One generated case: a program, a point and seed vectors.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GeneratedCase {
    /// The family the program concentrates on.
    pub family: Family,
    /// The program.
    pub program: Program,
    /// The point.
    pub point: Vec<f64>,
    /// A direction for `J·v` and `H·v` (dyadic entries in `[−1, 1]`).
    pub direction: Vec<f64>,
    /// A cotangent for `uᵀJ` (dyadic entries in `[−1, 1]`).
    pub cotangent: Vec<f64>,
}

/// The raw material of one instruction.
#[derive(Clone, Debug)]
struct Gene {
    op: u16,
    args: [u16; 4],
    roll: [u16; 4],
    constant: f64,
    exponent: i8,
}

fn gene() -> impl Strategy<Value = Gene> {
    (
        any::<u16>(),
        any::<[u16; 4]>(),
        any::<[u16; 4]>(),
        -3.0f64..3.0,
        -3i8..=4,
    )
        .prop_map(|(op, args, roll, constant, exponent)| Gene {
            op,
            args,
            roll,
            constant,
            exponent,
        })
}

const SPECIAL_POINTS: &[f64] = &[
    0.0, -0.0, 1.0, -1.0, 0.5, 2.0, 1e-300, -1e-300, 1e-8, 1e8, 1e150, -1e150, 3.0,
];

/// Where derivatives are hard: kinks and edges (0, ±1), one ulp from them,
/// the smallest normal and subnormal magnitudes, and 1e±200, 1e±300. (0
/// twice: the kinks of `abs`, `relu` and the norm sit there; the subnormal
/// once, since partials at it, 1/x, leave f64 and so leave most entries
/// there undecided.)
const HARD_POINTS: &[f64] = &[
    0.0,
    -0.0,
    0.0,
    5e-324,
    f64::MIN_POSITIVE,
    1e-300,
    -1e-300,
    1e-200,
    1.0,
    -1.0,
    0.9999999999999999,
    -0.9999999999999999,
    1.0000000000000002,
    0.5,
    2.0,
    1e200,
    -1e200,
    1e300,
];

/// A coordinate of a hard-places point: one of [`HARD_POINTS`], or (from
/// the second on) tied to the previous coordinate: equal, one ulp above or
/// below, or negated. `(value, tie)`; tie 0 keeps the value.
fn hard_coordinate() -> impl Strategy<Value = (f64, u8)> {
    (
        prop::sample::select(HARD_POINTS),
        prop_oneof![4 => Just(0u8), 3 => Just(1u8), 1 => Just(2u8), 1 => Just(3u8), 1 => Just(4u8)],
    )
}

/// Applies the ties of [`hard_coordinate`].
fn hard_point(coordinates: Vec<(f64, u8)>) -> Vec<f64> {
    let mut point: Vec<f64> = Vec::with_capacity(coordinates.len());
    for (value, tie) in coordinates {
        let v = match (point.last(), tie) {
            (Some(&p), 1) => p,
            (Some(&p), 2) => adjacent_f64(p, true),
            (Some(&p), 3) => adjacent_f64(p, false),
            (Some(&p), 4) => -p,
            _ => value,
        };
        point.push(if v.is_finite() { v } else { value });
    }
    point
}

fn coordinate(special: f64) -> impl Strategy<Value = f64> {
    let p = (special.clamp(0.0, 1.0) * 1000.0) as u32;
    prop_oneof![
        (1000 - p).max(1) => -3.0f64..3.0,
        p.max(1) => prop::sample::select(SPECIAL_POINTS),
    ]
}

fn dyadic() -> impl Strategy<Value = f64> {
    (1u8..=8, any::<bool>()).prop_map(|(k, negative)| {
        let v = f64::from(k) / 8.0;
        if negative {
            -v
        } else {
            v
        }
    })
}

/// Whether a value is usable: finite and of moderate size (for the hard
/// places, any size up to 1e300 ×2, so 1e300 itself passes through).
fn regular(family: Family, v: f64) -> bool {
    let limit = if family == Family::HardPlaces {
        1e301
    } else {
        1e100
    };
    v.is_finite() && v.abs() < limit
}

fn evaluate_instr(instr: &Instr, values: &[f64]) -> f64 {
    instr.eval(|a| &values[a as usize])
}

/// Builds the program of `genes` at `point`, repairing operations that would
/// leave their domain there (see the module docs).
fn build(
    family: Family,
    point: &[f64],
    genes: &[Gene],
    n_outputs: usize,
    config: &GenConfig,
) -> Program {
    let ops = family.ops();
    let n = point.len();
    let mut values: Vec<f64> = point.to_vec();
    let mut body: Vec<Instr> = Vec::with_capacity(genes.len());
    // Body values no entry has read yet (kept only when `length` counts
    // live operations): the first two arguments of an entry read them
    // first, so nearly every value ends up on a path to the outputs.
    let mut unread: std::collections::BTreeSet<usize> = Default::default();
    for g in genes {
        // Room is kept for the additions that make the unread values live.
        if config.live_length && body.len() + unread.len() >= genes.len() {
            break;
        }
        let defined = values.len();
        let unread_pick = |slot: usize| -> Option<usize> {
            if !config.live_length || slot >= 2 || unread.len() <= slot {
                return None;
            }
            unread
                .iter()
                .nth(usize::from(g.args[slot]) % unread.len())
                .copied()
        };
        let pick = |slot: usize, shift: usize| -> ValueId {
            let roll = f64::from(g.roll[slot]) / f64::from(u16::MAX);
            // The hard places sit at the inputs: half the arguments are one.
            let chosen = if let Some(v) = unread_pick(slot) {
                v
            } else if family == Family::HardPlaces && roll < 0.5 {
                usize::from(g.args[slot]) % n
            } else if family == Family::HardPlaces {
                usize::from(g.args[slot]) % defined
            } else if roll < config.depth {
                defined - 1
            } else if roll < config.depth + config.fan_out {
                0
            } else {
                usize::from(g.args[slot]) % defined
            };
            ((chosen + defined - shift % defined) % defined) as ValueId
        };
        let op = ops[usize::from(g.op) % ops.len()];
        let make = |shift: usize| -> Instr {
            let a = |slot| pick(slot, shift);
            match op {
                GenOp::Unary(u) => Instr::Unary(u, a(0)),
                GenOp::Binary(b) => Instr::Binary(b, [a(0), a(1)]),
                GenOp::PowI => Instr::PowI(a(0), i32::from(g.exponent)),
                GenOp::Const => Instr::Const(g.constant),
                GenOp::LogSumExp => Instr::LogSumExp(vec![a(0), a(1), a(2)]),
                GenOp::Select(c) => Instr::Select(c, [a(0), a(1), a(2), a(3)]),
            }
        };
        // Try the chosen arguments, then shifted ones, then plain addition.
        let instr = (0..defined.min(8))
            .map(make)
            .find(|instr| regular(family, evaluate_instr(instr, &values)))
            .unwrap_or_else(|| Instr::Binary(BinaryOp::Add, [pick(0, 0), pick(1, 0)]));
        let value = evaluate_instr(&instr, &values);
        let instr = if regular(family, value) {
            instr
        } else {
            Instr::Const(g.constant)
        };
        values.push(evaluate_instr(&instr, &values));
        if config.live_length {
            for a in instr.args() {
                unread.remove(&(*a as usize));
            }
            unread.insert(values.len() - 1);
        }
        body.push(instr);
    }
    if config.live_length {
        // Every value no entry reads but the last is added into it, so all
        // of them reach the output.
        let last = values.len() - 1;
        let mut total_so_far = last as ValueId;
        for v in unread.iter().copied().filter(|&v| v != last) {
            let instr = Instr::Binary(BinaryOp::Add, [total_so_far, v as ValueId]);
            let value = evaluate_instr(&instr, &values);
            if regular(family, value) {
                values.push(value);
                body.push(instr);
                total_so_far = (values.len() - 1) as ValueId;
            }
        }
    }
    let total = n + body.len();
    let outputs = (0..n_outputs)
        .map(|i| (total - 1 - i % total) as ValueId)
        .collect();
    let program = Program::new(n, body, outputs).expect("generated programs are well-formed");
    if config.live_length {
        program.pruned()
    } else {
        program
    }
}

/// The proptest strategy of cases of one family under `config`.
///
/// Every part is drawn independently (no dependent draws), so each shrinks
/// on its own: the point loses coordinates, the body loses genes, down to the
/// configured minimums.
pub fn case_strategy(family: Family, config: GenConfig) -> BoxedStrategy<GeneratedCase> {
    let n_min = config.inputs.0.clamp(1, MAX_INPUTS);
    let n_max = config.inputs.1.clamp(n_min, MAX_INPUTS);
    let m_min = config.outputs.0.clamp(1, MAX_OUTPUTS);
    let m_max = config.outputs.1.clamp(m_min, MAX_OUTPUTS);
    let len_max = config.length.1.max(config.length.0);
    let point: BoxedStrategy<Vec<f64>> = if family == Family::HardPlaces {
        prop::collection::vec(hard_coordinate(), n_min..=n_max)
            .prop_map(hard_point)
            .boxed()
    } else {
        prop::collection::vec(coordinate(config.special_points), n_min..=n_max).boxed()
    };
    (
        point,
        prop::collection::vec(gene(), config.length.0..=len_max),
        m_min..=m_max,
        // At least 64 and 16 entries, as always, so that the small shapes'
        // streams stay what they were.
        prop::collection::vec(dyadic(), n_max.max(64)),
        prop::collection::vec(dyadic(), m_max.max(16)),
    )
        .prop_map(move |(point, genes, m, mut direction, mut cotangent)| {
            direction.truncate(point.len());
            cotangent.truncate(m);
            GeneratedCase {
                family,
                program: build(family, &point, &genes, m, &config),
                point,
                direction,
                cotangent,
            }
        })
        .boxed()
}

/// SplitMix64: mixes a seed and an index into an independent stream seed.
pub fn mix(seed: u64, index: u64) -> u64 {
    let mut z = seed ^ index.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The family of case `index` under `config`: a hash of the index, so
/// that no other index-derived choice (a shard's `index mod N`) correlates
/// with it.
pub fn family_of(config: &GenConfig, index: u64) -> Family {
    config.family.unwrap_or_else(|| {
        if config.large_one_in > 0 && mix(LARGE_SALT, index) % config.large_one_in == 0 {
            return Family::Large;
        }
        let h = mix(FAMILY_SALT, index);
        Family::ROTATION[(h % Family::ROTATION.len() as u64) as usize]
    })
}

/// Decorrelates [`family_of`] from every other use of [`mix`].
const FAMILY_SALT: u64 = 0x6661_6d69_6c79_0001;
/// Decorrelates the choice of the large family from the others.
const LARGE_SALT: u64 = 0x6c61_7267_6500_0001;

/// The value tree of case `index` of the campaign with seed `seed`: the same
/// seed and index always give the same case, whatever else runs.
pub fn case_tree(
    config: &GenConfig,
    seed: u64,
    index: u64,
) -> Box<dyn ValueTree<Value = GeneratedCase>> {
    let stream = mix(seed, index);
    let mut bytes = [0u8; 32];
    for (k, chunk) in bytes.chunks_mut(8).enumerate() {
        chunk.copy_from_slice(&mix(stream, k as u64).to_le_bytes());
    }
    let rng = TestRng::from_seed(RngAlgorithm::ChaCha, &bytes);
    let mut runner = TestRunner::new_with_rng(Config::default(), rng);
    let family = family_of(config, index);
    let knobs = if family == Family::Large {
        GenConfig {
            inputs: config.inputs,
            outputs: config.outputs,
            special_points: config.special_points,
            ..LARGE
        }
    } else {
        config.clone()
    };
    let strategy = case_strategy(family, knobs);
    Box::new(
        strategy
            .new_tree(&mut runner)
            .expect("case strategies never reject"),
    )
}

/// Case `index` of the campaign with seed `seed`.
pub fn case(config: &GenConfig, seed: u64, index: u64) -> GeneratedCase {
    case_tree(config, seed, index).current()
}

/// Shrinks a failing case: walks the value tree towards simpler cases while
/// `still_fails` holds, then [`reduce`]s the program and point directly, each
/// for at most `budget` candidates. Returns the smallest failing case found
/// and the number of candidates tried.
pub fn shrink(
    tree: &mut dyn ValueTree<Value = GeneratedCase>,
    mut still_fails: impl FnMut(&GeneratedCase) -> bool,
    budget: usize,
) -> (GeneratedCase, usize) {
    let mut best = tree.current();
    let mut tried = 0;
    if tree.simplify() {
        while tried < budget {
            tried += 1;
            let candidate = tree.current();
            if still_fails(&candidate) {
                best = candidate;
                if !tree.simplify() {
                    break;
                }
            } else if !tree.complicate() {
                break;
            }
        }
    }
    let (best, more) = reduce(best, &mut still_fails, budget);
    (best, tried + more)
}

/// The program without body entry `k`: every use of its value reads
/// `replacement` instead (an earlier value), and later values move down one.
fn without_entry(p: &Program, k: usize, replacement: ValueId) -> Option<Program> {
    let n = p.n_inputs();
    let removed = (n + k) as ValueId;
    let renumber = |a: ValueId| {
        let a = if a == removed { replacement } else { a };
        if a > removed {
            a - 1
        } else {
            a
        }
    };
    let body: Vec<Instr> = p
        .body()
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != k)
        .map(|(_, instr)| instr.map_args(renumber))
        .collect();
    let outputs = p.outputs().iter().map(|&o| renumber(o)).collect();
    Program::new(n, body, outputs).ok()
}

/// Simpler stand-ins for a coordinate, simplest first.
fn simpler_values(v: f64) -> Vec<f64> {
    let mut out = vec![0.0, 1.0, -1.0, 0.5, 2.0, v.round(), (v * 8.0).round() / 8.0];
    out.retain(|c| c.to_bits() != v.to_bits() && c.is_finite());
    out
}

/// Delta debugging on the program and the point, after the value tree has
/// done what it can: drop dead code, delete entries (their uses read one of
/// their arguments instead), and simplify coordinates, keeping each step
/// that still fails. Returns the result and the candidates tried.
pub fn reduce(
    mut best: GeneratedCase,
    still_fails: &mut dyn FnMut(&GeneratedCase) -> bool,
    budget: usize,
) -> (GeneratedCase, usize) {
    let mut tried = 0;
    let mut try_candidate =
        |candidate: GeneratedCase, best: &mut GeneratedCase, tried: &mut usize| {
            if *tried >= budget {
                return false;
            }
            *tried += 1;
            if still_fails(&candidate) {
                *best = candidate;
                true
            } else {
                false
            }
        };
    let pruned = GeneratedCase {
        program: best.program.pruned(),
        ..best.clone()
    };
    if pruned.program != best.program {
        try_candidate(pruned, &mut best, &mut tried);
    }
    let mut progress = true;
    while progress && tried < budget {
        progress = false;
        // Delete entries, last first; each use reads an argument (or an input).
        let mut k = best.program.body().len();
        while k > 0 {
            k -= 1;
            if k >= best.program.body().len() {
                continue;
            }
            let instr = best.program.body()[k].clone();
            let mut replacements: Vec<ValueId> = instr.args().to_vec();
            replacements.push(0);
            replacements.dedup();
            for r in replacements {
                if let Some(program) = without_entry(&best.program, k, r) {
                    let candidate = GeneratedCase {
                        program: program.pruned(),
                        ..best.clone()
                    };
                    if try_candidate(candidate.clone(), &mut best, &mut tried) {
                        progress = true;
                        break;
                    }
                    // Keep dead code if the failure needs it.
                    let candidate = GeneratedCase {
                        program,
                        ..best.clone()
                    };
                    if try_candidate(candidate, &mut best, &mut tried) {
                        progress = true;
                        break;
                    }
                }
            }
        }
        // Simplify coordinates of the point.
        for i in 0..best.point.len() {
            for v in simpler_values(best.point[i]) {
                let mut point = best.point.clone();
                point[i] = v;
                let candidate = GeneratedCase {
                    point,
                    ..best.clone()
                };
                if try_candidate(candidate, &mut best, &mut tried) {
                    progress = true;
                    break;
                }
            }
        }
    }
    (best, tried)
}

impl GeneratedCase {
    /// The number of assignments in the program (its size for shrinking).
    pub fn size(&self) -> usize {
        self.program.body().len()
    }

    /// `n` and `m`.
    pub fn shape(&self) -> (usize, usize) {
        (self.program.n_inputs(), self.program.n_outputs())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cases_are_deterministic_by_seed_and_index() {
        let config = GenConfig::default();
        assert_eq!(case(&config, 7, 3), case(&config, 7, 3));
        assert_ne!(case(&config, 7, 3), case(&config, 7, 4));
        assert_ne!(case(&config, 7, 3), case(&config, 8, 3));
    }

    #[test]
    fn generated_programs_respect_the_knobs_and_are_regular() {
        let config = GenConfig {
            inputs: (2, 4),
            outputs: (1, 2),
            length: (3, 12),
            special_points: 0.0,
            large_one_in: 0,
            ..GenConfig::default()
        };
        let mut regular_outputs = 0;
        for index in 0..400 {
            let c = case(&config, 1, index);
            let (n, m) = c.shape();
            assert!((2..=4).contains(&n) && (1..=2).contains(&m));
            assert!((3..=12).contains(&c.size()));
            assert_eq!(c.family, family_of(&config, index));
            if c.program.eval(&c.point).iter().all(|v| v.is_finite()) {
                regular_outputs += 1;
            }
        }
        assert_eq!(regular_outputs, 400, "the builder keeps values finite");
    }

    #[test]
    fn a_live_length_counts_operations_the_outputs_depend_on() {
        for (length, family) in [
            (500, Family::Mixed),
            (500, Family::HardPlaces),
            (60, Family::Kinks),
        ] {
            let config = GenConfig {
                length: (length, length),
                live_length: true,
                family: Some(family),
                ..GenConfig::default()
            };
            let sizes: Vec<usize> = (0..40).map(|i| case(&config, 2, i).size()).collect();
            let mean = sizes.iter().sum::<usize>() as f64 / sizes.len() as f64;
            // Every entry is live (pruned), none beyond the length asked.
            for i in 0..40 {
                let c = case(&config, 2, i);
                assert_eq!(c.program.pruned(), c.program, "{family:?} case {i}");
                assert!(c.size() <= length);
            }
            assert!(
                mean >= 0.9 * length as f64,
                "{family:?}: mean live size {mean} of {length}"
            );
        }
        // Without it, most of a long program is dead (the seeds' programs
        // stay what they were).
        let config = GenConfig {
            length: (500, 500),
            family: Some(Family::Mixed),
            ..GenConfig::default()
        };
        let live: usize = (0..40)
            .map(|i| case(&config, 2, i).program.pruned().body().len())
            .sum();
        assert!(live < 40 * 100, "{live}");
    }

    #[test]
    fn the_large_family_is_a_small_share_of_long_programs() {
        let config = GenConfig::default();
        let large: Vec<u64> = (0..20_000)
            .filter(|&i| family_of(&config, i) == Family::Large)
            .collect();
        assert!((20..60).contains(&large.len()), "{} of 20000", large.len());
        for &i in large.iter().take(10) {
            let c = case(&config, 4, i);
            assert_eq!(c.family, Family::Large);
            assert!((100..=1000).contains(&c.size()), "case {i}: {}", c.size());
            assert!(c.program.eval(&c.point).iter().all(|v| v.is_finite()));
        }
        let none = GenConfig {
            large_one_in: 0,
            ..GenConfig::default()
        };
        assert!((0..20_000).all(|i| family_of(&none, i) != Family::Large));
        // The other cases keep the families they had.
        let old_rotation = |i: u64| {
            Family::ROTATION[(mix(FAMILY_SALT, i) % Family::ROTATION.len() as u64) as usize]
        };
        assert!((0..20_000)
            .filter(|i| !large.contains(i))
            .all(|i| family_of(&config, i) == old_rotation(i)));
    }

    #[test]
    fn families_use_their_operations() {
        let config = GenConfig {
            family: Some(Family::Kinks),
            length: (20, 20),
            ..GenConfig::default()
        };
        let c = case(&config, 3, 0);
        let text = c.program.to_string();
        assert!(
            ["abs", "relu", "min", "max"]
                .iter()
                .any(|op| text.contains(op)),
            "{text}"
        );
    }

    #[test]
    fn shrinking_finds_a_small_failing_case() {
        // "Fails" whenever the program uses `sin`: the shrunk case should be a
        // single sin.
        let config = GenConfig {
            family: Some(Family::Trig),
            ..GenConfig::default()
        };
        let uses_sin = |c: &GeneratedCase| c.program.to_string().contains("= sin");
        let index = (0..200)
            .find(|&i| {
                let c = case(&config, 5, i);
                uses_sin(&c) && c.size() >= 10
            })
            .unwrap();
        let mut tree = case_tree(&config, 5, index);
        let (small, tried) = shrink(tree.as_mut(), uses_sin, 2000);
        assert!(uses_sin(&small));
        assert!(
            small.size() <= 2,
            "{} after {tried} tries:\n{}",
            small.size(),
            small.program
        );
    }
}

#[cfg(test)]
mod shard_tests {
    use super::*;
    use crate::conformance::Shard;

    #[test]
    fn every_shard_of_a_four_way_split_covers_every_family() {
        let config = GenConfig::default();
        for count in [2u64, 4, 8] {
            for index in 0..count {
                let shard = Shard { index, count };
                let families: std::collections::BTreeSet<Family> = (0..400u64)
                    .filter(|&i| shard.contains(i))
                    .map(|i| family_of(&config, i))
                    .filter(|&f| f != Family::Large)
                    .collect();
                assert_eq!(
                    families.len(),
                    Family::ROTATION.len(),
                    "shard {index}/{count}: {families:?}"
                );
            }
        }
        // The large family, one case in 512, reaches every shard of a
        // 4-way split of a campaign of 20,000 cases.
        for index in 0..4u64 {
            let shard = Shard { index, count: 4 };
            assert!(
                (0..20_000u64).any(|i| shard.contains(i) && family_of(&config, i) == Family::Large),
                "shard {index}/4 has no large case"
            );
        }
        // The shards partition the cases.
        let owners = |i: u64| {
            (0..4)
                .filter(|&k| Shard { index: k, count: 4 }.contains(i))
                .count()
        };
        assert!((0..1000).all(|i| owners(i) == 1));
    }

    #[test]
    fn hard_places_sit_at_kinks_ties_and_edges() {
        let config = GenConfig {
            family: Some(Family::HardPlaces),
            inputs: (2, 6),
            ..GenConfig::default()
        };
        let (mut tied, mut at_zero, mut ulp_apart) = (0, 0, 0);
        for index in 0..300 {
            let c = case(&config, 11, index);
            let p = &c.point;
            tied += p.windows(2).filter(|w| w[0] == w[1]).count();
            ulp_apart += p
                .windows(2)
                .filter(|w| {
                    w[0] != w[1]
                        && (adjacent_f64(w[0], true) == w[1] || adjacent_f64(w[0], false) == w[1])
                })
                .count();
            at_zero += p.iter().filter(|v| **v == 0.0).count();
            assert!(c.program.eval(p).iter().all(|v| v.is_finite()));
        }
        assert!(
            tied > 100 && ulp_apart > 30 && at_zero > 50,
            "{tied} {ulp_apart} {at_zero}"
        );
    }
}
