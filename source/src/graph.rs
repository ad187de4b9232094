//! The static graph: a [`Program`] simplified once, with what each value
//! needs for differentiation worked out before any point is seen.
//!
//! Building a [`Graph`] does, in order:
//!
//! 1. **constant folding** — an operation whose arguments are all constants
//!    is evaluated now, in `f64` by the same operation the engines run, so
//!    its value is bitwise what it would be at run time; a branch whose
//!    comparison reads constants becomes the side it takes;
//! 2. **common subexpressions** — an operation with the same arguments as
//!    an earlier one is that one (hash-consing on the operation and its
//!    argument ids; constants by bit pattern);
//! 3. **dead code** — values no output reads are dropped;
//! 4. **activity** — a value is *active* when it depends on an input
//!    through a derivative: not a constant, not `x − x` or `x / x` of one
//!    active value (constants, as the tape makes them), not through the
//!    comparison of a branch;
//! 5. **what is differentiated** — the active values on an active path to
//!    an output: only they get local partials, tangents and adjoints ("no
//!    adjoint for unreached values").
//!
//! Steps 1 and 2 are optional ([`Graph::build`]'s `simplify`): without
//! them the graph is the program's own, and the engine's gradients are
//! bitwise those of the tape.

use adcheck_engines::ops::BinaryOp;
use adcheck_engines::{Differentiable, Instr, Program, ValueId};
use std::collections::HashMap;

/// One dependency of a differentiated value: its parent and the slot of
/// the local partial `∂ value / ∂ parent` in the partials array.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Edge {
    /// The value read.
    pub parent: u32,
    /// The index of its local partial among all partials.
    pub slot: u32,
}

/// A simplified program with its activity analysis and partial layout.
#[derive(Clone, Debug)]
pub struct Graph {
    n_inputs: usize,
    body: Vec<Instr>,
    outputs: Vec<ValueId>,
    active: Vec<bool>,
    differentiated: Vec<bool>,
    /// Per value, where its partial slots start (`n_values + 1` entries).
    slot_start: Vec<u32>,
    /// Per value, where its edges start in `edges` (`n_values + 1` entries).
    edge_start: Vec<u32>,
    edges: Vec<Edge>,
}

/// What identifies an operation for common-subexpression elimination.
#[derive(Clone, PartialEq, Eq, Hash)]
enum Key {
    Const(u64),
    Other(&'static str, Vec<ValueId>, i64),
}

fn key_of(instr: &Instr) -> Key {
    match instr {
        Instr::Const(c) => Key::Const(c.to_bits()),
        Instr::PowI(_, n) => Key::Other("powi", instr.args().to_vec(), i64::from(*n)),
        _ => Key::Other(instr.op_name(), instr.args().to_vec(), 0),
    }
}

impl Graph {
    /// Builds the graph of `p`: folded and hash-consed when `simplify`,
    /// then pruned, with its activity and partial layout.
    pub fn build(p: &Program, simplify: bool) -> Graph {
        let n = p.n_inputs();
        let (body, outputs) = if simplify {
            fold_and_share(p)
        } else {
            (p.body().to_vec(), p.outputs().to_vec())
        };
        let (body, outputs) = prune(n, body, outputs);
        let (body, outputs) = constants_first(n, body, outputs);
        let active = activity(n, &body);
        let mut g = Graph {
            n_inputs: n,
            body,
            outputs,
            active,
            differentiated: Vec::new(),
            slot_start: Vec::new(),
            edge_start: Vec::new(),
            edges: Vec::new(),
        };
        g.lay_out_partials();
        g
    }

    /// Marks what is differentiated and lays out partial slots and edges.
    fn lay_out_partials(&mut self) {
        let n = self.n_inputs;
        let total = self.n_values();
        let mut diff = vec![false; total];
        for &o in &self.outputs {
            diff[o as usize] = self.active[o as usize];
        }
        for k in (0..self.body.len()).rev() {
            if diff[n + k] {
                for parent in self.active_parents(k) {
                    diff[parent as usize] = true;
                }
            }
        }
        let mut slot_start = vec![0u32; total + 1];
        let mut edge_start = vec![0u32; total + 1];
        let mut edges = Vec::new();
        let mut slots = 0u32;
        for i in 0..total {
            slot_start[i] = slots;
            edge_start[i] = edges.len() as u32;
            if i >= n && diff[i] {
                let k = i - n;
                let instr = &self.body[k];
                for (position, &arg) in instr.args().iter().enumerate() {
                    if self.edge_reads(k, position) {
                        edges.push(Edge {
                            parent: arg,
                            slot: slots + self.slot_of(k, position),
                        });
                    }
                }
                slots += partial_count(instr);
            }
        }
        slot_start[total] = slots;
        edge_start[total] = edges.len() as u32;
        self.differentiated = diff;
        self.slot_start = slot_start;
        self.edge_start = edge_start;
        self.edges = edges;
    }

    /// Whether argument `position` of body entry `k` carries a derivative.
    fn edge_reads(&self, k: usize, position: usize) -> bool {
        let instr = &self.body[k];
        let arg = instr.args()[position];
        if !self.active[arg as usize] {
            return false;
        }
        match instr {
            // Only the sides of a branch are differentiated, never the
            // comparison.
            Instr::Select(..) => position >= 2,
            // One value read twice: one edge with the partials' sum.
            Instr::Binary(_, [a, b]) => !(position == 1 && a == b),
            _ => true,
        }
    }

    /// The slot (within body entry `k`'s) of argument `position`'s partial.
    fn slot_of(&self, k: usize, position: usize) -> u32 {
        match &self.body[k] {
            Instr::Select(..) => position as u32 - 2,
            _ => position as u32,
        }
    }

    fn active_parents(&self, k: usize) -> Vec<ValueId> {
        if !self.active[self.n_inputs + k] {
            return Vec::new();
        }
        let instr = &self.body[k];
        (0..instr.args().len())
            .filter(|&position| self.edge_reads(k, position))
            .map(|position| instr.args()[position])
            .collect()
    }

    /// The number of inputs.
    pub fn n_inputs(&self) -> usize {
        self.n_inputs
    }

    /// Inputs plus body entries.
    pub fn n_values(&self) -> usize {
        self.n_inputs + self.body.len()
    }

    /// The body after simplification; entry `k` defines value `n_inputs + k`.
    pub fn body(&self) -> &[Instr] {
        &self.body
    }

    /// The output values.
    pub fn outputs(&self) -> &[ValueId] {
        &self.outputs
    }

    /// Whether value `i` depends on an input through a derivative.
    pub fn is_active(&self, i: usize) -> bool {
        self.active[i]
    }

    /// Whether value `i` gets partials, a tangent and an adjoint.
    pub fn is_differentiated(&self, i: usize) -> bool {
        self.differentiated[i]
    }

    /// The first partial slot of value `i` (its slots follow in the order
    /// of [`partial_count`]).
    pub fn slot_start(&self, i: usize) -> usize {
        self.slot_start[i] as usize
    }

    /// The total number of partial slots.
    pub fn n_slots(&self) -> usize {
        self.slot_start[self.n_values()] as usize
    }

    /// The indices of value `i`'s edges among all edges.
    pub fn edge_range(&self, i: usize) -> std::ops::Range<usize> {
        self.edge_start[i] as usize..self.edge_start[i + 1] as usize
    }

    /// Every edge, value by value.
    pub fn all_edges(&self) -> &[Edge] {
        &self.edges
    }

    /// The number of constants (they come first in the body).
    pub fn n_constants(&self) -> usize {
        self.body
            .iter()
            .take_while(|i| matches!(i, Instr::Const(_)))
            .count()
    }

    /// Each constant's value (its index among all values) and number.
    pub fn constants(&self) -> Vec<(usize, f64)> {
        self.body
            .iter()
            .enumerate()
            .filter_map(|(k, i)| match i {
                Instr::Const(c) => Some((self.n_inputs + k, *c)),
                _ => None,
            })
            .collect()
    }

    /// The edges of value `i`, in argument order.
    pub fn edges(&self, i: usize) -> &[Edge] {
        &self.edges[self.edge_start[i] as usize..self.edge_start[i + 1] as usize]
    }
}

/// The argument an edge with partial slot `offset` (counted from its
/// operation's first) reads: the slot's own position, but for a branch,
/// whose two partials are its sides' (arguments 2 and 3).
pub fn argument_of_slot(instr: &Instr, offset: usize) -> usize {
    match instr {
        Instr::Select(..) => offset + 2,
        _ => offset,
    }
}

/// How many partial slots a differentiated operation writes: one per
/// argument, and two for a branch (taken side, other side).
pub fn partial_count(instr: &Instr) -> u32 {
    match instr {
        Instr::Const(_) => 0,
        Instr::Select(..) => 2,
        _ => instr.args().len() as u32,
    }
}

/// Constant folding and common subexpressions in one forward pass.
fn fold_and_share(p: &Program) -> (Vec<Instr>, Vec<ValueId>) {
    let n = p.n_inputs();
    // Per new value: its constant, if it is one (NaN placeholders are
    // never read: `is_const` guards them).
    let mut constant: Vec<f64> = vec![f64::NAN; n];
    let mut is_const: Vec<bool> = vec![false; n];
    let mut map: Vec<ValueId> = (0..n as ValueId).collect();
    let mut body: Vec<Instr> = Vec::new();
    let mut seen: HashMap<Key, ValueId> = HashMap::new();
    for instr in p.body() {
        let instr = instr.map_args(|a| map[a as usize]);
        let args = instr.args();
        let folded = match &instr {
            Instr::Select(cmp, [a, b, t, f]) if is_const[*a as usize] && is_const[*b as usize] => {
                let taken = if cmp.holds(&constant[*a as usize], &constant[*b as usize]) {
                    *t
                } else {
                    *f
                };
                map.push(taken);
                continue;
            }
            Instr::Const(c) => Some(*c),
            _ if args.iter().all(|&a| is_const[a as usize]) => {
                Some(instr.eval(|a| &constant[a as usize]))
            }
            _ => None,
        };
        let instr = folded.map_or(instr, Instr::Const);
        let key = key_of(&instr);
        if let Some(&id) = seen.get(&key) {
            map.push(id);
            continue;
        }
        let id = (n + body.len()) as ValueId;
        seen.insert(key, id);
        match instr {
            Instr::Const(c) => {
                constant.push(c);
                is_const.push(true);
            }
            _ => {
                constant.push(f64::NAN);
                is_const.push(false);
            }
        }
        body.push(instr);
        map.push(id);
    }
    let outputs = p.outputs().iter().map(|&o| map[o as usize]).collect();
    (body, outputs)
}

/// Drops the body entries no output reads (values renumbered).
fn prune(n: usize, body: Vec<Instr>, outputs: Vec<ValueId>) -> (Vec<Instr>, Vec<ValueId>) {
    let mut live = vec![false; n + body.len()];
    for &o in &outputs {
        live[o as usize] = true;
    }
    for k in (0..body.len()).rev() {
        if live[n + k] {
            for &a in body[k].args() {
                live[a as usize] = true;
            }
        }
    }
    let mut renumber: Vec<ValueId> = (0..n as ValueId).collect();
    renumber.resize(n + body.len(), ValueId::MAX);
    let mut kept = Vec::with_capacity(body.len());
    for (k, instr) in body.iter().enumerate() {
        if live[n + k] {
            renumber[n + k] = (n + kept.len()) as ValueId;
            kept.push(instr.map_args(|a| renumber[a as usize]));
        }
    }
    let outputs = outputs.iter().map(|&o| renumber[o as usize]).collect();
    (kept, outputs)
}

/// Moves every constant before the first operation (values renumbered;
/// the operations keep their order), so the computed part of a program is
/// one run in which repeated iterations line up.
fn constants_first(
    n: usize,
    body: Vec<Instr>,
    outputs: Vec<ValueId>,
) -> (Vec<Instr>, Vec<ValueId>) {
    let (constants, operations): (Vec<usize>, Vec<usize>) =
        (0..body.len()).partition(|&k| matches!(body[k], Instr::Const(_)));
    let mut renumber: Vec<ValueId> = (0..n as ValueId).collect();
    renumber.resize(n + body.len(), ValueId::MAX);
    for (new, &k) in constants.iter().chain(&operations).enumerate() {
        renumber[n + k] = (n + new) as ValueId;
    }
    let reordered = constants
        .iter()
        .chain(&operations)
        .map(|&k| body[k].map_args(|a| renumber[a as usize]))
        .collect();
    let outputs = outputs.iter().map(|&o| renumber[o as usize]).collect();
    (reordered, outputs)
}

/// Which values depend on an input through a derivative.
fn activity(n: usize, body: &[Instr]) -> Vec<bool> {
    let mut active = vec![true; n];
    for instr in body {
        let a = |v: &ValueId| active[*v as usize];
        let is_active = match instr {
            Instr::Const(_) => false,
            // x − x and x / x of one active value are constants, as the
            // tape makes them: recorded, their partials would cancel only
            // up to rounding.
            Instr::Binary(BinaryOp::Sub | BinaryOp::Div, [x, y]) if x == y => false,
            Instr::Select(_, [_, _, t, f]) => a(t) || a(f),
            _ => instr.args().iter().any(a),
        };
        active.push(is_active);
    }
    active
}

#[cfg(test)]
mod tests {
    use super::*;

    fn graph(text: &str, simplify: bool) -> Graph {
        Graph::build(&Program::parse(text).unwrap(), simplify)
    }

    #[test]
    fn constants_fold_and_repeated_expressions_are_shared() {
        let g = graph(
            "input x\nc = const 2\nd = mul c c\ns1 = sin x\ns2 = sin x\nt = add s1 s2\nu = mul t d\noutput u",
            true,
        );
        // 2·2 folded to 4, sin x once: 4, sin x, add, mul (c is dead).
        assert_eq!(g.body().len(), 4);
        assert!(g.body().contains(&Instr::Const(4.0)));
        let unsimplified = graph(
            "input x\nc = const 2\nd = mul c c\ns1 = sin x\ns2 = sin x\nt = add s1 s2\nu = mul t d\noutput u",
            false,
        );
        assert_eq!(unsimplified.body().len(), 6);
    }

    #[test]
    fn a_branch_on_constants_is_the_side_it_takes() {
        let g = graph(
            "input x\na = const 1\nb = const 2\ny = sin x\nz = cos x\nw = iflt a b y z\noutput w",
            true,
        );
        assert_eq!(g.body().len(), 1, "{:?}", g.body());
        assert_eq!(
            g.body()[0],
            Instr::Unary(adcheck_engines::ops::UnaryOp::Sin, 0)
        );
    }

    #[test]
    fn activity_stops_at_constants_self_differences_and_comparisons() {
        let g = graph(
            "input x y\nd = sub x x\ns = sin d\nc = iflt x y y s\nout = add c s\noutput out",
            false,
        );
        // values: x0 y1 d2 s3 c4 out5
        assert!(!g.is_active(2) && !g.is_active(3));
        assert!(g.is_active(4) && g.is_active(5));
        // The comparison reads x, but only y (a side) is differentiated.
        assert!(g.is_differentiated(1) && !g.is_differentiated(0));
        assert_eq!(g.edges(4), &[Edge { parent: 1, slot: 0 }]);
    }

    #[test]
    fn one_value_read_twice_is_one_edge() {
        let g = graph("input x\ny = mul x x\noutput y", false);
        assert_eq!(g.edges(1), &[Edge { parent: 0, slot: 0 }]);
        assert_eq!(g.n_slots(), 2);
    }
}
