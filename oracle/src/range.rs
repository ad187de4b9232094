//! Whether an `f64` engine can hold the intermediate derivatives an entry
//! needs.
//!
//! Any engine that applies the chain rule in `f64` holds, for each value `v`
//! of the program, a tangent `ṫ(v) = ∂v/∂x · d` (forward mode) or an
//! adjoint `ā(v) = wᵀ ∂y/∂v` (reverse mode), the local partials `∂v/∂c` of
//! each operation, and their products along each edge. MPFR has the exponent
//! range to compute all of them exactly. Where one of them is beyond `f64`'s
//! range, a correct engine may overflow (≥ 2¹⁰⁰⁰ here, leaving headroom for
//! the sums) or underflow (below the smallest normal number) on the way to an
//! entry that is itself an ordinary `f64`; where none is, an answer that
//! misses the exact entry comes from the engine's formulas (`x² + y²` in
//! `atan2`'s rule at 1e200), which the oracle judges like any other miss.
//!
//! Underflow costs at most the quantity lost times the factor it meets on
//! the way to the entry: a tangent (or the underflowing terms of its sum,
//! whichever is larger) times its value's adjoint, an adjoint (or its
//! underflowing terms) times its value's tangent; a term whose partial
//! underflows is lost with it. Forward and reverse engines hold different
//! quantities, so the bound is the larger of the two sums,
//! [`RangeRisk::underflow`], which widens the tolerance. Overflow has no
//! such bound (∞ poisons the sum), so it is reported by name. Every argument
//! position counts on its own (`atan2(x, x)` holds two partials of 1/(2x)
//! even though they cancel).
//!
//! Cost: one pass over the graph for the partials, then `O(size)` per entry
//! while entries × size stays within [`EXACT_SWEEP_BUDGET`], and `O(size)`
//! for the whole quantity beyond (one bound for every entry, see
//! [`LocalPartials::risks`]).

use crate::expr::{Graph, Node, NodeId};
use crate::mp::Mp;
use rug::Float;

/// Quantities at or above this size may overflow an `f64` engine's sums.
fn overflow_limit() -> Float {
    Float::with_val(PREC, 1) << 1000u32
}

/// Precision of the range sweeps: only the exponent matters.
const PREC: u32 = 64;

/// The exact local partials of every operation an output depends on.
pub(crate) struct LocalPartials {
    /// The nodes in evaluation order, with their `(child, partial)` edges
    /// (empty for inputs and constants).
    nodes: Vec<(NodeId, Vec<(NodeId, Float)>)>,
    /// Input index of each input node.
    inputs: Vec<(NodeId, usize)>,
    /// The program value each node stands for (0-based), to name it as the
    /// text form does (`v3` is value 2).
    names: std::collections::HashMap<NodeId, usize>,
    len: usize,
}

/// What an entry's intermediate derivatives do to an `f64` engine.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RangeRisk {
    /// The first intermediate derivative whose leaving `f64`'s range can
    /// cost the whole entry, described: one beyond `2¹⁰⁰⁰` (`"the adjoint
    /// of v3 is 2.1e305"`), or one below the normal range that meets an
    /// infinite factor on the way (a tangent of 6e−325 into `√′(0)`).
    pub out_of_range: Option<String>,
    /// A bound on what intermediate derivatives below `f64`'s normal range
    /// can move the entry (0 when none is).
    pub underflow: f64,
}

impl LocalPartials {
    /// The partials of the nodes `outputs` need, evaluated exactly at `x`.
    /// `value_nodes[i]` is the node of program value `i`.
    pub(crate) fn new(
        graph: &mut Graph,
        outputs: &[NodeId],
        value_nodes: &[NodeId],
        x: &[Mp],
    ) -> Self {
        let order: Vec<NodeId> = graph.plan(outputs).nodes().to_vec();
        let mut scratch = Vec::new();
        let mut edges: Vec<(NodeId, Vec<(NodeId, NodeId)>)> = Vec::with_capacity(order.len());
        let mut inputs = Vec::new();
        for &id in &order {
            match graph.node(id) {
                Node::Input(k) => {
                    inputs.push((id, *k as usize));
                    edges.push((id, Vec::new()));
                }
                // A constant, or a value constant near the point, passes on
                // no derivative.
                Node::Const(_) => edges.push((id, Vec::new())),
                _ if graph.is_locally_constant(id) => edges.push((id, Vec::new())),
                _ => {
                    let partials = graph.local_partials(id, &mut scratch);
                    edges.push((id, partials));
                }
            }
        }
        let partial_nodes: Vec<NodeId> = edges
            .iter()
            .flat_map(|(_, e)| e.iter().map(|&(_, p)| p))
            .collect();
        let plan = graph.plan(&partial_nodes);
        let values = graph.evaluate(&plan, x);
        let value_of = |p: NodeId| {
            values[p as usize].as_ref().map_or_else(
                || Float::with_val(PREC, f64::NAN),
                |v| Float::with_val(PREC, v.float()),
            )
        };
        let nodes = edges
            .into_iter()
            .map(|(id, e)| (id, e.into_iter().map(|(c, p)| (c, value_of(p))).collect()))
            .collect();
        let mut names = std::collections::HashMap::new();
        for (i, &node) in value_nodes.iter().enumerate() {
            names.entry(node).or_insert(i);
        }
        LocalPartials {
            nodes,
            inputs,
            names,
            len: graph.len(),
        }
    }

    fn name(&self, id: NodeId) -> String {
        self.names
            .get(&id)
            .map_or_else(|| "an intermediate".to_string(), |i| format!("v{}", i + 1))
    }

    /// The range risk of every entry of a quantity: exactly, entry by entry,
    /// while that costs at most [`EXACT_SWEEP_BUDGET`] node visits; beyond,
    /// one bound that holds for every entry (the side that differs between
    /// entries is bounded over all of them, see [`Side::Bound`]), so the
    /// cost stays `O(size)` however many entries there are.
    pub(crate) fn risks(&self, entries: &Entries) -> Vec<RangeRisk> {
        self.risks_within(entries, EXACT_SWEEP_BUDGET)
    }

    /// [`LocalPartials::risks`] with another budget of node visits.
    fn risks_within(&self, entries: &Entries, budget: usize) -> Vec<RangeRisk> {
        let count = entries.count();
        if count.saturating_mul(self.nodes.len()) <= budget {
            return (0..count)
                .map(|k| {
                    let (d, w) = entries.seed(k);
                    self.risk(&d, &w)
                })
                .collect();
        }
        let tangents = match entries {
            Entries::PerOutput { direction, .. } => Side::Exact(self.tangents(direction)),
            _ => Side::Bound(self.tangent_bounds(entries.inputs())),
        };
        let adjoints = match entries {
            Entries::PerInput { weights, .. } => Side::Exact(self.adjoints(weights)),
            _ => Side::Bound(self.adjoint_bounds(entries.outputs())),
        };
        vec![self.assess(&tangents, &adjoints); count]
    }

    /// The range risk of the entry `wᵀ J d`: `direction` over the inputs,
    /// `weights` over the output nodes.
    pub(crate) fn risk(&self, direction: &[f64], weights: &[(NodeId, f64)]) -> RangeRisk {
        let tangents = Side::Exact(self.tangents(direction));
        let adjoints = Side::Exact(self.adjoints(weights));
        self.assess(&tangents, &adjoints)
    }

    /// Every node's exact tangent along `direction`.
    fn tangents(&self, direction: &[f64]) -> Vec<Float> {
        let mut tangent: Vec<Float> = vec![zero(); self.len];
        for &(id, k) in &self.inputs {
            tangent[id as usize] = Float::with_val(PREC, direction.get(k).copied().unwrap_or(0.0));
        }
        for (id, edges) in &self.nodes {
            if edges.is_empty() {
                continue;
            }
            let mut t = zero();
            for (c, p) in edges {
                if !tangent[*c as usize].is_zero() {
                    t += Float::with_val(PREC, p * &tangent[*c as usize]);
                }
            }
            tangent[*id as usize] = t;
        }
        tangent
    }

    /// Every node's exact adjoint under `weights`.
    fn adjoints(&self, weights: &[(NodeId, f64)]) -> Vec<Float> {
        let mut adjoint: Vec<Float> = vec![zero(); self.len];
        for &(o, w) in weights {
            adjoint[o as usize] += w;
        }
        for (id, edges) in self.nodes.iter().rev() {
            let a = adjoint[*id as usize].clone();
            if a.is_zero() {
                continue;
            }
            for (c, p) in edges {
                adjoint[*c as usize] += Float::with_val(PREC, &a * p);
            }
        }
        adjoint
    }

    /// A bound on every node's tangent along each unit direction `e_k`
    /// (`k < inputs`): `|∂v/∂x_k| ≤ Σ |∂v/∂c|·bound(c)`.
    fn tangent_bounds(&self, inputs: usize) -> Vec<Float> {
        let mut bound: Vec<Float> = vec![zero(); self.len];
        for &(id, k) in &self.inputs {
            if k < inputs {
                bound[id as usize] = Float::with_val(PREC, 1);
            }
        }
        for (id, edges) in &self.nodes {
            if edges.is_empty() {
                continue;
            }
            let mut b = zero();
            for (c, p) in edges {
                if !bound[*c as usize].is_zero() {
                    b += Float::with_val(PREC, p.abs_ref()) * &bound[*c as usize];
                }
            }
            bound[*id as usize] = b;
        }
        bound
    }

    /// A bound on every node's adjoint under each unit weight on one of
    /// `outputs`: `|∂y_k/∂c| ≤ [c is an output] + Σ |∂v/∂c|·bound(v)`.
    fn adjoint_bounds(&self, outputs: &[NodeId]) -> Vec<Float> {
        let mut bound: Vec<Float> = vec![zero(); self.len];
        for &o in outputs {
            bound[o as usize] = Float::with_val(PREC, 1);
        }
        for (id, edges) in self.nodes.iter().rev() {
            let b = bound[*id as usize].clone();
            if b.is_zero() {
                continue;
            }
            for (c, p) in edges {
                bound[*c as usize] += Float::with_val(PREC, p.abs_ref()) * &b;
            }
        }
        bound
    }

    /// What the tangents and adjoints do to an `f64` engine's entry.
    fn assess(&self, tangents: &Side, adjoints: &Side) -> RangeRisk {
        let (tangent, adjoint) = (tangents.values(), adjoints.values());
        let limit = overflow_limit();
        let mut risk = RangeRisk::default();
        let mut overflows = |what: &dyn Fn() -> String, q: &Float, bound: bool| {
            if risk.out_of_range.is_none()
                && q.is_finite()
                && Float::with_val(PREC, q.abs_ref()) >= limit
            {
                let is = if bound { "may reach" } else { "is" };
                risk.out_of_range = Some(format!("{} {is} {q:.3e}", what()));
            }
        };
        // What underflow can lose of each value's tangent (forward) and of
        // each value's adjoint (reverse): the value itself when it is below
        // the normal range, or the terms of its sum that are (a term is lost
        // when it or its partial underflows), whichever is larger.
        let mut tangent_loss: Vec<Float> = vec![zero(); self.len];
        let mut adjoint_terms_lost: Vec<Float> = vec![zero(); self.len];
        for (id, edges) in &self.nodes {
            let (t, a) = (&tangent[*id as usize], &adjoint[*id as usize]);
            if edges.is_empty() {
                continue;
            }
            overflows(
                &|| format!("the tangent of {}", self.name(*id)),
                t,
                tangents.is_bound(),
            );
            overflows(
                &|| format!("the adjoint of {}", self.name(*id)),
                a,
                adjoints.is_bound(),
            );
            let mut terms_lost = zero();
            for (c, p) in edges {
                let tc = &tangent[*c as usize];
                let forward = Float::with_val(PREC, p * tc);
                let backward = Float::with_val(PREC, a * p);
                overflows(
                    &|| format!("the partial of {} in {}", self.name(*id), self.name(*c)),
                    p,
                    false,
                );
                overflows(
                    &|| format!("a term of the tangent of {}", self.name(*id)),
                    &forward,
                    tangents.is_bound(),
                );
                overflows(
                    &|| format!("a term of the adjoint of {}", self.name(*c)),
                    &backward,
                    adjoints.is_bound(),
                );
                terms_lost += term_lost(p, &forward, tangents.is_bound());
                adjoint_terms_lost[*c as usize] += term_lost(p, &backward, adjoints.is_bound());
            }
            tangent_loss[*id as usize] = lost_if_below(t, tangents.is_bound()).max(&terms_lost);
        }
        let (mut forward, mut backward) = (zero(), zero());
        for (id, _) in &self.nodes {
            let i = *id as usize;
            let (t, a) = (&tangent[i], &adjoint[i]);
            let mut unbounded = |what: &str, lost: &Float| {
                if risk.out_of_range.is_none() {
                    risk.out_of_range = Some(format!(
                        "{what} of {} loses {lost:.3e} below f64's normal range and meets an infinite factor",
                        self.name(*id)
                    ));
                }
            };
            if !tangent_loss[i].is_zero() {
                if a.is_finite() {
                    forward += Float::with_val(PREC, &tangent_loss[i] * a).abs();
                } else if a.is_infinite() {
                    unbounded("the tangent", &tangent_loss[i]);
                }
            }
            let lost = lost_if_below(a, adjoints.is_bound()).max(&adjoint_terms_lost[i]);
            if !lost.is_zero() {
                if t.is_finite() {
                    backward += Float::with_val(PREC, &lost * t).abs();
                } else if t.is_infinite() {
                    unbounded("the adjoint", &lost);
                }
            }
        }
        // An engine holds tangents (forward mode) or adjoints (reverse
        // mode): the larger loss covers either.
        risk.underflow = forward.max(&backward).to_f64();
        risk
    }
}

/// Node visits the exact, entry-by-entry range sweeps may cost a quantity
/// (entries × nodes); beyond, the entries share one bound.
pub(crate) const EXACT_SWEEP_BUDGET: usize = 250_000;

/// The entries of one quantity, by the seeds that single each out.
pub(crate) enum Entries<'a> {
    /// `J d` (a JVP): entry `k` is output `k`'s, all along `direction`.
    PerOutput {
        /// The direction, over the inputs.
        direction: &'a [f64],
        /// The output nodes.
        outputs: &'a [NodeId],
    },
    /// `wᵀ J` (a VJP, a gradient): entry `k` is input `k`'s, all under
    /// `weights` on the output nodes.
    PerInput {
        /// The weights, on the output nodes.
        weights: &'a [(NodeId, f64)],
        /// The number of inputs.
        inputs: usize,
    },
    /// `J` row by row: entry `k` is output `k / inputs`, input `k % inputs`.
    Jacobian {
        /// The output nodes.
        outputs: &'a [NodeId],
        /// The number of inputs.
        inputs: usize,
    },
}

impl Entries<'_> {
    fn count(&self) -> usize {
        match self {
            Entries::PerOutput { outputs, .. } => outputs.len(),
            Entries::PerInput { inputs, .. } => *inputs,
            Entries::Jacobian { outputs, inputs } => outputs.len() * inputs,
        }
    }

    fn inputs(&self) -> usize {
        match self {
            Entries::PerOutput { direction, .. } => direction.len(),
            Entries::PerInput { inputs, .. } | Entries::Jacobian { inputs, .. } => *inputs,
        }
    }

    fn outputs(&self) -> &[NodeId] {
        match self {
            Entries::PerOutput { outputs, .. } | Entries::Jacobian { outputs, .. } => outputs,
            Entries::PerInput { .. } => &[],
        }
    }

    /// The direction and weights of entry `k`.
    fn seed(&self, k: usize) -> (Vec<f64>, Vec<(NodeId, f64)>) {
        let unit = |len: usize, i: usize| {
            let mut e = vec![0.0; len];
            e[i] = 1.0;
            e
        };
        let on = |outputs: &[NodeId], i: usize| -> Vec<(NodeId, f64)> {
            outputs
                .iter()
                .enumerate()
                .map(|(j, &o)| (o, if j == i { 1.0 } else { 0.0 }))
                .collect()
        };
        match self {
            Entries::PerOutput { direction, outputs } => (direction.to_vec(), on(outputs, k)),
            Entries::PerInput { weights, inputs } => (unit(*inputs, k), weights.to_vec()),
            Entries::Jacobian { outputs, inputs } => {
                (unit(*inputs, k % inputs), on(outputs, k / inputs))
            }
        }
    }
}

/// Per-node tangents or adjoints: exact for one entry, or a bound on their
/// size over every entry of a quantity (the side whose seed differs
/// between entries). A bound makes the verdict conservative: an overflow
/// it may reach is named, and wherever a value might lie below the normal
/// range it is taken to lose up to the smallest normal number.
enum Side {
    Exact(Vec<Float>),
    Bound(Vec<Float>),
}

impl Side {
    fn values(&self) -> &[Float] {
        match self {
            Side::Exact(v) | Side::Bound(v) => v,
        }
    }

    fn is_bound(&self) -> bool {
        matches!(self, Side::Bound(_))
    }
}

fn zero() -> Float {
    Float::with_val(PREC, 0)
}

fn size(q: &Float) -> Float {
    Float::with_val(PREC, q.abs_ref())
}

/// Whether `q` is below `f64`'s normal range (and not zero).
fn below(q: &Float) -> bool {
    q.is_finite() && !q.is_zero() && size(q) < f64::MIN_POSITIVE
}

/// What underflow can lose of `q` itself: all of it when it is below the
/// normal range; for a bound, up to the smallest normal number.
fn lost_if_below(q: &Float, bound: bool) -> Float {
    if bound {
        if q.is_finite() {
            size(q).min(&Float::with_val(PREC, f64::MIN_POSITIVE))
        } else {
            zero()
        }
    } else if below(q) {
        size(q)
    } else {
        zero()
    }
}

/// What underflow can lose of the term `term = p · q` of a sum: all of it
/// when the partial `p` underflows; else the term when it is below the
/// normal range (for a bound on `q`, up to the smallest normal number).
fn term_lost(p: &Float, term: &Float, bound: bool) -> Float {
    if below(p) {
        size(term)
    } else {
        lost_if_below(term, bound)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use adcheck_engines::{Differentiable, Program, Scalar};

    /// Exact risks entry by entry, and the shared bound, of every quantity
    /// of `program` at `x` that has entries.
    fn both(program: &str, x: &[f64]) -> Vec<(Vec<RangeRisk>, Vec<RangeRisk>)> {
        let p = Program::parse(program).unwrap();
        let mut graph = Graph::new();
        let values = graph.add_program(&p);
        let outputs: Vec<NodeId> = p.outputs().iter().map(|&o| values[o as usize]).collect();
        let point: Vec<Mp> = x.iter().map(|&v| Mp::from_f64(v)).collect();
        let partials = LocalPartials::new(&mut graph, &outputs, &values, &point);
        let n = p.n_inputs();
        let direction: Vec<f64> = (0..n).map(|i| 1.0 - 0.25 * i as f64).collect();
        let weights: Vec<(NodeId, f64)> = outputs.iter().map(|&o| (o, 0.75)).collect();
        let quantities = [
            Entries::PerOutput {
                direction: &direction,
                outputs: &outputs,
            },
            Entries::PerInput {
                weights: &weights,
                inputs: n,
            },
            Entries::Jacobian {
                outputs: &outputs,
                inputs: n,
            },
        ];
        quantities
            .iter()
            .map(|q| {
                (
                    partials.risks_within(q, usize::MAX),
                    partials.risks_within(q, 0),
                )
            })
            .collect()
    }

    #[test]
    fn the_shared_bound_is_never_less_cautious_than_the_exact_risks() {
        let cases: [(&str, &[f64]); 4] = [
            // exp(1050): partials beyond 2¹⁰⁰⁰.
            (
                "input a b c\nd = mul a b\ne = exp d\nf = mul e c\ng = sin a\noutput f g",
                &[700.0, 1.5, 1e-300],
            ),
            // exp(−770): tangents and adjoints below the normal range.
            (
                "input a b c\nd = mul a b\ne = exp d\nf = mul e c\ng = add f a\noutput g f",
                &[-700.0, 1.1, 3.0],
            ),
            // Partials of 1/(2√x) at 1e−310 and products of tiny values.
            (
                "input a b\nc = sqrt a\nd = mul c b\ne = mul d d\noutput e d",
                &[1e-310, 1e-160],
            ),
            // An ordinary point: no risk either way.
            ("input a b\nc = mul a b\nd = sin c\noutput d", &[0.5, 2.0]),
        ];
        let mut flagged = 0;
        let mut underflowing = 0;
        for (program, x) in cases {
            for (exact, bound) in both(program, x) {
                assert_eq!(exact.len(), bound.len());
                for (k, (e, b)) in exact.iter().zip(&bound).enumerate() {
                    assert!(
                        b.underflow >= e.underflow,
                        "{program} at {x:?}, entry {k}: bound {} below exact {}",
                        b.underflow,
                        e.underflow
                    );
                    if e.out_of_range.is_some() {
                        flagged += 1;
                        assert!(
                            b.out_of_range.is_some(),
                            "{program} at {x:?}, entry {k}: {e:?} but the bound says nothing"
                        );
                    }
                    underflowing += usize::from(e.underflow > 0.0);
                }
            }
        }
        // The cases do reach both kinds of risk.
        assert!(flagged > 0 && underflowing > 0, "{flagged} {underflowing}");
        // At the ordinary point the bound stays clear.
        for (_, bound) in both("input a b\nc = mul a b\nd = sin c\noutput d", &[0.5, 2.0]) {
            for b in bound {
                assert!(b.out_of_range.is_none(), "{b:?}");
                assert!(b.underflow < 1e-300, "{b:?}");
            }
        }
    }
}
