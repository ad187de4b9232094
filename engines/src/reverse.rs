//! Reverse mode: a Wengert tape.
//!
//! Running a function over [`Var`] records, for each operation, one
//! fixed-size record: its (up to two) parents and their local partial
//! derivatives (from [`conventions`]); the rare node with more edges
//! (`logsumexp` of more than two arguments) keeps them aside.
//! [`Tape::backward`] then sweeps the records from the outputs to the
//! inputs, summing over fan-out; an absent parent sends its product to a
//! sink adjoint nothing reads, so the sweep does not branch on arity, and
//! every place it writes is clamped to the sink, so it needs no bounds
//! checks. Over `f64` the sweep is plain arithmetic, run again under the
//! zero rule only when an adjoint comes out NaN (see [`Tape::backward`]
//! for why the two then agree to the bit). Nothing is allocated, counted
//! or locked per operation beyond amortised `Vec` growth, and
//! [`Tape::clear`] keeps the capacity so a tape is reused across calls.
//!
//! The tape is generic over its base number type `T`: over `f64` it gives
//! gradients; over dual numbers it gives gradients and Hessian-vector
//! products in one sweep (forward over reverse).

use crate::conventions;
use crate::engine::{CallStats, Capabilities, Derivative, Engine, EngineError};
use crate::forward::{Dual, Tangent};
use crate::ops::{BinaryOp, UnaryOp};
use crate::{forward_scalar_ops, scalar_operators, Differentiable, Program, Scalar};
use std::cell::RefCell;
use std::cmp::Ordering;

/// A number type a tape can be built over: copyable, with an exact test for
/// "carries nothing" so unreached nodes can be skipped.
pub trait TapeScalar: Scalar + Copy {
    /// Whether [`Tape::backward`] may sweep in plain arithmetic first (see
    /// there): only where `to_f64` is the whole number, so a NaN it made
    /// shows.
    const PLAIN_SWEEP: bool = false;

    /// Whether the value and every derivative part it carries is exactly zero.
    fn is_structural_zero(&self) -> bool;
}

impl TapeScalar for f64 {
    const PLAIN_SWEEP: bool = true;

    #[inline]
    fn is_structural_zero(&self) -> bool {
        *self == 0.0
    }
}

impl<V: Tangent> TapeScalar for Dual<V> {
    #[inline]
    fn is_structural_zero(&self) -> bool {
        self.re == 0.0 && self.eps.is_zero()
    }
}

/// One recorded dependency: node `parent` with local partial `partial`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Edge<T> {
    /// The index of the node read.
    pub parent: u32,
    /// `∂ node / ∂ parent` at the recorded point.
    pub partial: T,
}

/// A parent place that reads nothing: the sweep sends its product to the
/// sink, a scratch adjoint past the last node that nothing reads.
const NONE: u32 = u32::MAX;

/// In `parents[0]`: the node has more than two edges, kept in
/// [`TapeData::wide`] at the span `parents[1]` names.
const WIDE: u32 = u32::MAX - 1;

/// One node: up to two parents and their partials, in a record of fixed
/// size, so recording is one push and the sweep reads records in order
/// (a node with more edges, only `logsumexp` of more than two arguments,
/// keeps them aside).
#[derive(Clone, Copy, Debug)]
struct Record<T> {
    parents: [u32; 2],
    partials: [T; 2],
}

#[derive(Debug)]
struct TapeData<T> {
    /// Node `i` is `records[i]`.
    records: Vec<Record<T>>,
    /// The edges of nodes with more than two, each node's a span of
    /// `wide_edges`.
    wide: Vec<(u32, u32)>,
    wide_edges: Vec<Edge<T>>,
}

/// A Wengert tape over base type `T`.
#[derive(Debug)]
pub struct Tape<T> {
    data: RefCell<TapeData<T>>,
}

impl<T: TapeScalar> Default for Tape<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T: TapeScalar> Tape<T> {
    /// An empty tape.
    pub fn new() -> Self {
        Tape {
            data: RefCell::new(TapeData {
                records: Vec::new(),
                wide: Vec::new(),
                wide_edges: Vec::new(),
            }),
        }
    }

    /// Forgets every node but keeps the storage for the next recording.
    pub fn clear(&self) {
        let mut d = self.data.borrow_mut();
        d.records.clear();
        d.wide.clear();
        d.wide_edges.clear();
    }

    /// The number of nodes recorded (inputs included).
    pub fn len(&self) -> usize {
        self.data.borrow().records.len()
    }

    /// Whether nothing is recorded.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The bytes the recorded nodes and edges occupy.
    pub fn bytes(&self) -> usize {
        let d = self.data.borrow();
        d.records.len() * std::mem::size_of::<Record<T>>()
            + d.wide.len() * std::mem::size_of::<(u32, u32)>()
            + d.wide_edges.len() * std::mem::size_of::<Edge<T>>()
    }

    /// A new independent variable with value `value`.
    pub fn input(&self, value: T) -> Var<'_, T> {
        let zero = T::from_f64(0.0);
        Var {
            value,
            index: self.push([NONE, NONE], [zero, zero]),
            tape: Some(self),
        }
    }

    /// Records a node reading up to two parents (`NONE` for none), with
    /// their partials as they are: an edge whose partial is exactly zero is
    /// left out by the sweep, not here (see [`Tape::backward`]).
    #[inline(always)]
    fn push(&self, parents: [u32; 2], partials: [T; 2]) -> u32 {
        let mut d = self.data.borrow_mut();
        let index = u32::try_from(d.records.len())
            .ok()
            .filter(|&i| i < WIDE)
            .expect("a tape holds fewer than 2³² − 2 nodes");
        d.records.push(Record { parents, partials });
        index
    }

    /// Records a node reading any number of parents.
    fn push_edges(&self, edges: &[Edge<T>]) -> u32 {
        let zero = T::from_f64(0.0);
        match edges {
            [] => self.push([NONE, NONE], [zero, zero]),
            [a] => self.push([a.parent, NONE], [a.partial, zero]),
            [a, b] => self.push([a.parent, b.parent], [a.partial, b.partial]),
            _ => {
                let span = {
                    let mut d = self.data.borrow_mut();
                    let start = d.wide_edges.len() as u32;
                    d.wide_edges.extend_from_slice(edges);
                    let end = d.wide_edges.len() as u32;
                    d.wide.push((start, end));
                    d.wide.len() as u32 - 1
                };
                self.push([WIDE, span], [zero, zero])
            }
        }
    }

    /// Sweeps adjoints backwards. `adjoints` is resized to the tape's length
    /// and zeroed, then each `(node, seed)` is added before the sweep; on
    /// return `adjoints[i]` is the adjoint of node `i`. A node whose adjoint
    /// is exactly zero is skipped, and so is an edge whose partial is
    /// exactly zero (`relu′` of a negative value, the branch a `min` does
    /// not take, `x⁰`): they carry nothing, and multiplied they would turn
    /// an infinite partial or adjoint into NaN through `0·∞` (see
    /// [`conventions`], last row).
    ///
    /// Over `f64` the sweep runs first in plain arithmetic, without those
    /// tests. No adjoint is ever `−0` (each starts at `+0`, and `+0 + −0`
    /// is `+0`), so adding a product the rule would skip, `±0` when the
    /// other factor is finite, changes no bit; and when the other factor is
    /// infinite or NaN, the product is NaN, which every later adjoint it
    /// reaches keeps. So where no adjoint is NaN, the plain sweep is the
    /// rule's to the bit; where one is, the sweep runs again under the
    /// rule.
    pub fn backward(&self, seeds: &[(u32, T)], adjoints: &mut Vec<T>) {
        let d = self.data.borrow();
        let len = d.records.len();
        let seeded = |adjoints: &mut Vec<T>| {
            adjoints.clear();
            // One more: the sink, which absorbs the products of absent
            // parents.
            adjoints.resize(len + 1, T::from_f64(0.0));
            for &(node, seed) in seeds {
                adjoints[node as usize] = adjoints[node as usize] + seed;
            }
        };
        seeded(adjoints);
        if T::PLAIN_SWEEP {
            sweep::<T, false>(&d, adjoints);
            let nan = adjoints[..len]
                .iter()
                .fold(false, |nan, a| nan | a.to_f64().is_nan());
            if !nan {
                adjoints.truncate(len);
                return;
            }
            seeded(adjoints);
        }
        sweep::<T, true>(&d, adjoints);
        adjoints.truncate(len);
    }
}

/// One backward sweep over `d`'s records into `adjoints` (one entry a node
/// and the sink last); under the zero rule when `RULE`.
#[inline(always)]
fn sweep<T: TapeScalar, const RULE: bool>(d: &TapeData<T>, adjoints: &mut [T]) {
    let sink = d.records.len();
    // `adjoints` has `sink + 1` entries and every place is clamped to
    // `sink`, so the compiler can drop the bounds checks.
    let adj = &mut adjoints[..=sink];
    let add = |adj: &mut [T], parent: u32, partial: T, a: T| {
        if !(RULE && partial.is_structural_zero()) {
            let p = (parent as usize).min(sink);
            adj[p] = adj[p] + partial * a;
        }
    };
    let records = &d.records[..sink];
    for i in (0..sink).rev() {
        let (r, a) = (&records[i], adj[i]);
        if RULE && a.is_structural_zero() {
            continue;
        }
        if r.parents[0] == WIDE {
            let (start, end) = d.wide[r.parents[1] as usize];
            for e in &d.wide_edges[start as usize..end as usize] {
                add(adj, e.parent, e.partial, a);
            }
            continue;
        }
        add(adj, r.parents[0], r.partials[0], a);
        add(adj, r.parents[1], r.partials[1], a);
    }
}

/// An active variable: a value and, unless it is a constant, its node on a tape.
#[derive(Clone, Copy, Debug)]
pub struct Var<'t, T> {
    value: T,
    index: u32,
    tape: Option<&'t Tape<T>>,
}

impl<'t, T: TapeScalar> Var<'t, T> {
    /// A constant: it is on no tape and has derivative zero.
    pub fn constant(value: T) -> Self {
        Var {
            value,
            index: u32::MAX,
            tape: None,
        }
    }

    /// The value.
    pub fn value(&self) -> T {
        self.value
    }

    /// The node index on the tape, or `None` for a constant.
    pub fn node(&self) -> Option<u32> {
        self.tape.map(|_| self.index)
    }

    #[inline(always)]
    fn derive1(&self, value: T, partial: T) -> Self {
        match self.tape {
            None => Var::constant(value),
            Some(tape) => Var {
                value,
                index: tape.push([self.index, NONE], [partial, T::from_f64(0.0)]),
                tape: Some(tape),
            },
        }
    }

    #[inline(always)]
    fn derive2(&self, other: &Self, value: T, pa: T, pb: T) -> Self {
        match (self.tape, other.tape) {
            (None, None) => Var::constant(value),
            (Some(_), None) => self.derive1(value, pa),
            (None, Some(_)) => other.derive1(value, pb),
            // One variable read twice (x − x, x · x): one edge with the
            // partials' sum, so x − x carries exactly nothing.
            (Some(_), Some(_)) if self.index == other.index => self.derive1(value, pa + pb),
            (Some(tape), Some(other_tape)) => {
                debug_assert!(std::ptr::eq(tape, other_tape), "variables from two tapes");
                Var {
                    value,
                    index: tape.push([self.index, other.index], [pa, pb]),
                    tape: Some(tape),
                }
            }
        }
    }

    #[inline(always)]
    fn unary(&self, op: UnaryOp) -> Self {
        let (value, d) = conventions::unary(op, &self.value);
        self.derive1(value, d)
    }

    #[inline(always)]
    fn binary(&self, op: BinaryOp, other: &Self) -> Self {
        let (value, da, db) = conventions::binary(op, &self.value, &other.value);
        // x − x and x / x of one variable are constants (0, and 1 where x is
        // not 0): recorded, their partials would cancel only up to rounding.
        if self.tape.is_some()
            && self.index == other.index
            && matches!(op, BinaryOp::Sub | BinaryOp::Div)
        {
            return Var::constant(value);
        }
        self.derive2(other, value, da, db)
    }
}

scalar_operators!(impl ['t, T: TapeScalar] Var<'t, T>);

impl<'t, T: TapeScalar> Scalar for Var<'t, T> {
    #[inline]
    fn from_f64(c: f64) -> Self {
        Var::constant(T::from_f64(c))
    }
    #[inline]
    fn to_f64(&self) -> f64 {
        self.value.to_f64()
    }
    #[inline]
    fn primal_cmp(&self, other: &Self) -> Option<Ordering> {
        self.value.primal_cmp(&other.value)
    }
    #[inline]
    fn powi(&self, n: i32) -> Self {
        let (value, d) = conventions::powi(&self.value, n);
        self.derive1(value, d)
    }
    fn selected(&self) -> Self {
        self.derive1(self.value, T::from_f64(1.0))
    }
    fn logsumexp(xs: &[Self]) -> Self {
        let values: Vec<T> = xs.iter().map(|x| x.value).collect();
        let mut edges = Vec::with_capacity(xs.len());
        let value = conventions::logsumexp(&values, |i, partial| {
            if let Some(parent) = xs[i].node() {
                edges.push(Edge { parent, partial });
            }
        });
        match xs.iter().find_map(|x| x.tape) {
            None => Var::constant(value),
            Some(tape) => Var {
                value,
                index: tape.push_edges(&edges),
                tape: Some(tape),
            },
        }
    }
    forward_scalar_ops!(unary, binary);
}

/// Records `f` at `x` on `tape` (cleared first); returns the output variables.
pub fn record<'t, F: Differentiable + ?Sized, T: TapeScalar>(
    tape: &'t Tape<T>,
    f: &F,
    x: &[T],
) -> Vec<Var<'t, T>> {
    tape.clear();
    let inputs: Vec<Var<'t, T>> = x.iter().map(|&v| tape.input(v)).collect();
    f.eval(&inputs)
}

/// A tape and adjoint buffer kept per thread, so repeated calls reuse storage.
struct Workspace {
    tape: Tape<f64>,
    adjoints: Vec<f64>,
}

thread_local! {
    static WORKSPACE: RefCell<Option<Workspace>> = const { RefCell::new(None) };
}

/// Runs `body` with this thread's reusable workspace (a fresh one when the
/// cached one is already in use, e.g. by a nested call).
fn with_workspace<R>(body: impl FnOnce(&mut Workspace) -> R) -> R {
    let mut ws = WORKSPACE
        .with(|cell| cell.borrow_mut().take())
        .unwrap_or_else(|| Workspace {
            tape: Tape::new(),
            adjoints: Vec::new(),
        });
    let result = body(&mut ws);
    WORKSPACE.with(|cell| *cell.borrow_mut() = Some(ws));
    result
}

/// What [`vjps`] returns.
#[derive(Clone, Debug, PartialEq)]
pub struct Sweeps {
    /// `f(x)`.
    pub primal: Vec<f64>,
    /// One `uᵀJ` per cotangent, in order.
    pub products: Vec<Vec<f64>>,
    /// What the call cost.
    pub stats: CallStats,
}

/// Records `f` at `x` once and runs one backward sweep per cotangent in
/// `cotangents`.
pub fn vjps<F: Differentiable + ?Sized>(
    f: &F,
    x: &[f64],
    cotangents: &[Vec<f64>],
) -> Result<Sweeps, EngineError> {
    EngineError::check_point(f, x)?;
    for u in cotangents {
        EngineError::check_seed("cotangent u", u, f.n_outputs())?;
    }
    Ok(with_workspace(|ws| {
        let outputs = record(&ws.tape, f, x);
        let primal: Vec<f64> = outputs.iter().map(|y| y.value).collect();
        let mut results = Vec::with_capacity(cotangents.len());
        let mut seeds = Vec::with_capacity(outputs.len());
        for u in cotangents {
            seeds.clear();
            seeds.extend(
                outputs
                    .iter()
                    .zip(u)
                    .filter_map(|(y, &ui)| y.node().map(|node| (node, ui))),
            );
            ws.tape.backward(&seeds, &mut ws.adjoints);
            results.push(ws.adjoints[..x.len()].to_vec());
        }
        let stats = CallStats {
            forward_passes: 1,
            reverse_sweeps: cotangents.len() as u64,
            operations_recorded: (ws.tape.len() - x.len()) as u64,
            peak_tape_bytes: ws.tape.bytes() as u64,
            recomputations: 0,
        };
        Sweeps {
            primal,
            products: results,
            stats,
        }
    }))
}

/// The reverse-mode engine: `vjp` and gradients in one recording and one
/// sweep; the Jacobian by one recording and `m` sweeps; `jvp` through the
/// Jacobian.
#[derive(Clone, Copy, Debug, Default)]
pub struct ReverseEngine;

impl Engine for ReverseEngine {
    fn name(&self) -> &str {
        "reverse"
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            forward: false,
            reverse: true,
            hvp: false,
            reverse_bitwise: true,
        }
    }

    fn jvp(&self, p: &Program, x: &[f64], v: &[f64]) -> Result<Derivative, EngineError> {
        EngineError::check_point(p, x)?;
        EngineError::check_seed("direction v", v, p.n_inputs())?;
        Ok(self.jacobian(p, x)?.jacobian_times(p.n_inputs(), v))
    }

    fn vjp(&self, p: &Program, x: &[f64], u: &[f64]) -> Result<Derivative, EngineError> {
        let mut sweeps = vjps(p, x, &[u.to_vec()])?;
        Ok(Derivative {
            derivative: sweeps.products.pop().unwrap_or_default(),
            primal: sweeps.primal,
            stats: sweeps.stats,
        })
    }

    fn jacobian(&self, p: &Program, x: &[f64]) -> Result<Derivative, EngineError> {
        let m = p.n_outputs();
        let seeds: Vec<Vec<f64>> = (0..m)
            .map(|i| (0..m).map(|k| if k == i { 1.0 } else { 0.0 }).collect())
            .collect();
        let sweeps = vjps(p, x, &seeds)?;
        Ok(Derivative {
            primal: sweeps.primal,
            derivative: sweeps.products.concat(),
            stats: sweeps.stats,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seed_example<S: Scalar>(x: &[S]) -> S {
        x[0].clone() * x[1].clone() + x[0].sin()
    }

    #[test]
    fn a_cleared_tape_is_reused_without_reallocating() {
        let tape: Tape<f64> = Tape::new();
        let x = tape.input(1.5);
        let y = tape.input(-0.5);
        let _ = seed_example(&[x, y]);
        let capacity = tape.data.borrow().records.capacity();
        for _ in 0..10 {
            tape.clear();
            let x = tape.input(1.5);
            let y = tape.input(-0.5);
            let out = seed_example(&[x, y]);
            let mut adjoints = Vec::new();
            tape.backward(&[(out.node().unwrap(), 1.0)], &mut adjoints);
            assert_eq!(adjoints[..2], [-0.5 + 1.5f64.cos(), 1.5]);
            assert_eq!(tape.data.borrow().records.capacity(), capacity);
        }
    }

    #[test]
    fn wide_nodes_keep_their_edges_in_order() {
        let tape: Tape<f64> = Tape::new();
        let x: Vec<Var<'_, f64>> = [0.5, -1.0, 2.0, -2000.0]
            .iter()
            .map(|&v| tape.input(v))
            .collect();
        // Four edges aside; e^(−2000 − lse) is 0, which the sweep skips.
        let y = Var::logsumexp(&x);
        let partials = |xs: &[f64]| {
            let mut out = vec![0.0; xs.len()];
            conventions::logsumexp(xs, |i, d| out[i] = d);
            out
        };
        let mut adjoints = Vec::new();
        tape.backward(&[(y.node().unwrap(), 1.0)], &mut adjoints);
        let p = partials(&[0.5, -1.0, 2.0, -2000.0]);
        assert_eq!(p[3], 0.0);
        assert_eq!(adjoints[..4], p[..]);
        assert_eq!(tape.data.borrow().wide_edges.len(), 4);
        // Two edges are an ordinary record.
        let z = Var::logsumexp(&[x[0], x[1]]);
        assert_eq!(tape.data.borrow().wide.len(), 1);
        tape.backward(&[(z.node().unwrap(), 1.0)], &mut adjoints);
        let p = partials(&[0.5, -1.0]);
        assert_eq!(adjoints[..4], [p[0], p[1], 0.0, 0.0]);
    }

    #[test]
    fn a_zero_partial_stops_an_infinite_adjoint() {
        // √(relu x) at x = −1: the adjoint of relu x is √′(0) = ∞ and its
        // partial is 0. The plain sweep makes 0·∞ = NaN; the sweep under
        // the rule skips the edge, so ∂/∂x is 0, and y's own edge gives 1.
        let tape: Tape<f64> = Tape::new();
        let (x, y) = (tape.input(-1.0), tape.input(2.0));
        let out = x.relu().sqrt() + y;
        let mut adjoints = Vec::new();
        tape.backward(&[(out.node().unwrap(), 1.0)], &mut adjoints);
        assert_eq!(adjoints[..2], [0.0, 1.0]);
        assert_eq!(adjoints[0].to_bits(), 0.0f64.to_bits());
    }

    #[test]
    fn constants_are_not_recorded() {
        let tape: Tape<f64> = Tape::new();
        let x = tape.input(2.0);
        let c = Var::constant(3.0);
        let y = (c * c).sin() * x;
        assert_eq!(
            tape.len(),
            2,
            "only the input and the final product are nodes"
        );
        assert_eq!(y.value(), 9f64.sin() * 2.0);
    }

    #[test]
    fn a_tape_over_duals_gives_second_derivatives() {
        // f = x·y + sin x; seed the x direction: H·e₁ = (−sin x, 1).
        let tape: Tape<Dual> = Tape::new();
        let x = tape.input(Dual::new(0.5, 1.0));
        let y = tape.input(Dual::new(2.0, 0.0));
        let out = seed_example(&[x, y]);
        let mut adjoints = Vec::new();
        tape.backward(&[(out.node().unwrap(), Dual::new(1.0, 0.0))], &mut adjoints);
        assert_eq!(adjoints[0], Dual::new(2.0 + 0.5f64.cos(), -(0.5f64.sin())));
        assert_eq!(adjoints[1], Dual::new(0.5, 1.0));
    }
}
