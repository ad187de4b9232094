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
//! Cost: one pass over the graph for the partials, then `O(size)` per entry.

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
                Node::Const(_) => edges.push((id, Vec::new())),
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

    /// The range risk of the entry `wᵀ J d`: `direction` over the inputs,
    /// `weights` over the output nodes.
    pub(crate) fn risk(&self, direction: &[f64], weights: &[(NodeId, f64)]) -> RangeRisk {
        let zero = || Float::with_val(PREC, 0);
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

        let limit = overflow_limit();
        let mut risk = RangeRisk::default();
        let mut overflows = |what: &dyn Fn() -> String, q: &Float| {
            if risk.out_of_range.is_none()
                && q.is_finite()
                && Float::with_val(PREC, q.abs_ref()) >= limit
            {
                risk.out_of_range = Some(format!("{} is {q:.3e}", what()));
            }
        };
        let below = |q: &Float| {
            q.is_finite() && !q.is_zero() && Float::with_val(PREC, q.abs_ref()) < f64::MIN_POSITIVE
        };
        let size = |q: &Float| Float::with_val(PREC, q.abs_ref());
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
            overflows(&|| format!("the tangent of {}", self.name(*id)), t);
            overflows(&|| format!("the adjoint of {}", self.name(*id)), a);
            let mut terms_lost = zero();
            for (c, p) in edges {
                let tc = &tangent[*c as usize];
                let forward = Float::with_val(PREC, p * tc);
                let backward = Float::with_val(PREC, a * p);
                overflows(
                    &|| format!("the partial of {} in {}", self.name(*id), self.name(*c)),
                    p,
                );
                overflows(
                    &|| format!("a term of the tangent of {}", self.name(*id)),
                    &forward,
                );
                overflows(
                    &|| format!("a term of the adjoint of {}", self.name(*c)),
                    &backward,
                );
                if below(p) || below(&forward) {
                    terms_lost += size(&forward);
                }
                if below(p) || below(&backward) {
                    adjoint_terms_lost[*c as usize] += size(&backward);
                }
            }
            let own = if below(t) { size(t) } else { zero() };
            tangent_loss[*id as usize] = own.max(&terms_lost);
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
            let own = if below(a) { size(a) } else { zero() };
            let lost = own.max(&adjoint_terms_lost[i]);
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
