//! Symbolic derivatives: programs as hash-consed expression DAGs.
//!
//! A [`Graph`] holds expression nodes; building a node that already exists
//! returns the existing one, and the 0/1 identities and exact constant
//! arithmetic are folded as nodes are built. [`Graph::derivative`] turns
//! expressions into their directional derivatives, which are expressions
//! again, so derivatives of any order come from the same rules.
//!
//! These rules are written here from the textbook formulas and share no code
//! with the engines' rules. At kinks and domain edges they encode the
//! conventions declared in `adcheck_engines::conventions`, with explicit
//! `Select` nodes.

use crate::mp::Mp;
use adcheck_engines::ops::{BinaryOp, Comparison, UnaryOp};
use adcheck_engines::{Differentiable, Instr, Program, Scalar};
use rug::Float;
use std::collections::HashMap;
use std::fmt::Write;

/// The index of a node in a [`Graph`].
pub type NodeId = u32;

/// The comparison of a [`Node::Select`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Cmp {
    /// `a < b`
    Lt,
    /// `a <= b`
    Le,
    /// `a == b`
    Eq,
}

impl Cmp {
    fn symbol(self) -> &'static str {
        match self {
            Cmp::Lt => "<",
            Cmp::Le => "<=",
            Cmp::Eq => "==",
        }
    }
}

/// One expression node. Children always have smaller ids.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Node {
    /// Input `k`.
    Input(u32),
    /// An exact `f64` constant, stored by its bits.
    Const(u64),
    /// `op(a)`.
    Unary(UnaryOp, NodeId),
    /// `a^n`.
    PowI(NodeId, i32),
    /// `op(a, b)`.
    Binary(BinaryOp, NodeId, NodeId),
    /// `ln Σ e^aᵢ`.
    LogSumExp(Vec<NodeId>),
    /// `t` when `a cmp b`, else `f`: `[a, b, t, f]`.
    Select(Cmp, [NodeId; 4]),
}

impl Node {
    pub(crate) fn children(&self) -> Vec<NodeId> {
        match self {
            Node::Input(_) | Node::Const(_) => vec![],
            Node::Unary(_, a) | Node::PowI(a, _) => vec![*a],
            Node::Binary(_, a, b) => vec![*a, *b],
            Node::LogSumExp(xs) => xs.clone(),
            Node::Select(_, args) => args.to_vec(),
        }
    }
}

/// `a + b` rounded, if that rounding is exact.
fn exact_sum(a: f64, b: f64) -> Option<f64> {
    let s = a + b;
    // Two-sum: the rounding error of a + b, exactly.
    let bb = s - a;
    let err = (a - (s - bb)) + (b - bb);
    (s.is_finite() && err == 0.0).then_some(s)
}

/// `a · b` rounded, if that rounding is exact.
fn exact_product(a: f64, b: f64) -> Option<f64> {
    let p = a * b;
    (p.is_finite() && a.mul_add(b, -p) == 0.0 && (p != 0.0 || a == 0.0 || b == 0.0)).then_some(p)
}

/// A hash-consed expression DAG.
#[derive(Clone, Debug, Default)]
pub struct Graph {
    nodes: Vec<Node>,
    index: HashMap<Node, NodeId>,
    /// Nodes constant near the point the graph is evaluated at (indexed by
    /// id; shorter than the graph when later nodes are not): their
    /// derivatives are 0 ([`Graph::set_locally_constant`]).
    locally_constant: Vec<bool>,
}

impl Graph {
    /// An empty graph.
    pub fn new() -> Self {
        Self::default()
    }

    /// The number of distinct nodes.
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// Whether the graph has no nodes.
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// The node with id `id`.
    pub fn node(&self, id: NodeId) -> &Node {
        &self.nodes[id as usize]
    }

    fn intern(&mut self, node: Node) -> NodeId {
        if let Some(&id) = self.index.get(&node) {
            return id;
        }
        let id = self.nodes.len() as NodeId;
        self.nodes.push(node.clone());
        self.index.insert(node, id);
        id
    }

    /// The constant `c` (must be finite or NaN-free for folding to apply).
    pub fn constant(&mut self, c: f64) -> NodeId {
        self.intern(Node::Const(c.to_bits()))
    }

    /// Input `k`.
    pub fn input(&mut self, k: u32) -> NodeId {
        self.intern(Node::Input(k))
    }

    fn as_const(&self, id: NodeId) -> Option<f64> {
        match self.nodes[id as usize] {
            Node::Const(bits) => Some(f64::from_bits(bits)),
            _ => None,
        }
    }

    fn is(&self, id: NodeId, c: f64) -> bool {
        self.as_const(id) == Some(c)
    }

    /// `a + b`, folding zeros and exact constant sums.
    pub fn add(&mut self, a: NodeId, b: NodeId) -> NodeId {
        if self.is(a, 0.0) {
            return b;
        }
        if self.is(b, 0.0) {
            return a;
        }
        if let (Some(x), Some(y)) = (self.as_const(a), self.as_const(b)) {
            if let Some(s) = exact_sum(x, y) {
                return self.constant(s);
            }
        }
        let (a, b) = (a.min(b), a.max(b));
        self.intern(Node::Binary(BinaryOp::Add, a, b))
    }

    /// `a − b`, folding zeros and exact constant differences.
    pub fn sub(&mut self, a: NodeId, b: NodeId) -> NodeId {
        if self.is(b, 0.0) {
            return a;
        }
        if self.is(a, 0.0) {
            return self.neg(b);
        }
        if let (Some(x), Some(y)) = (self.as_const(a), self.as_const(b)) {
            if let Some(s) = exact_sum(x, -y) {
                return self.constant(s);
            }
        }
        self.intern(Node::Binary(BinaryOp::Sub, a, b))
    }

    /// `a · b`, folding zeros, ones and exact constant products. A zero
    /// factor gives zero structurally, as the engines' zero-tangent rule does.
    pub fn mul(&mut self, a: NodeId, b: NodeId) -> NodeId {
        if self.is(a, 0.0) || self.is(b, 0.0) {
            return self.constant(0.0);
        }
        if self.is(a, 1.0) {
            return b;
        }
        if self.is(b, 1.0) {
            return a;
        }
        if self.is(a, -1.0) {
            return self.neg(b);
        }
        if self.is(b, -1.0) {
            return self.neg(a);
        }
        if let (Some(x), Some(y)) = (self.as_const(a), self.as_const(b)) {
            if let Some(p) = exact_product(x, y) {
                return self.constant(p);
            }
        }
        let (a, b) = (a.min(b), a.max(b));
        self.intern(Node::Binary(BinaryOp::Mul, a, b))
    }

    /// `a / b`, folding a zero numerator and a unit denominator.
    pub fn div(&mut self, a: NodeId, b: NodeId) -> NodeId {
        if self.is(a, 0.0) {
            return self.constant(0.0);
        }
        if self.is(b, 1.0) {
            return a;
        }
        self.intern(Node::Binary(BinaryOp::Div, a, b))
    }

    /// `−a`, folding constants and double negation.
    pub fn neg(&mut self, a: NodeId) -> NodeId {
        if let Some(c) = self.as_const(a) {
            return self.constant(-c);
        }
        if let Node::Unary(UnaryOp::Neg, inner) = self.nodes[a as usize] {
            return inner;
        }
        self.intern(Node::Unary(UnaryOp::Neg, a))
    }

    /// `op(a)`.
    pub fn unary(&mut self, op: UnaryOp, a: NodeId) -> NodeId {
        match op {
            UnaryOp::Neg => self.neg(a),
            _ => self.intern(Node::Unary(op, a)),
        }
    }

    /// `op(a, b)`.
    pub fn binary(&mut self, op: BinaryOp, a: NodeId, b: NodeId) -> NodeId {
        match op {
            BinaryOp::Add => self.add(a, b),
            BinaryOp::Sub => self.sub(a, b),
            BinaryOp::Mul => self.mul(a, b),
            BinaryOp::Div => self.div(a, b),
            _ => self.intern(Node::Binary(op, a, b)),
        }
    }

    /// `a^n`, folding `n = 0` and `n = 1`.
    pub fn powi(&mut self, a: NodeId, n: i32) -> NodeId {
        match n {
            0 => self.constant(1.0),
            1 => a,
            _ => self.intern(Node::PowI(a, n)),
        }
    }

    /// `t` when `a cmp b` holds, else `f`; folds equal branches.
    pub fn select(&mut self, cmp: Cmp, a: NodeId, b: NodeId, t: NodeId, f: NodeId) -> NodeId {
        if t == f {
            return t;
        }
        self.intern(Node::Select(cmp, [a, b, t, f]))
    }

    /// `ln Σ e^xᵢ`.
    pub fn logsumexp(&mut self, xs: Vec<NodeId>) -> NodeId {
        self.intern(Node::LogSumExp(xs))
    }

    /// Adds `p`'s computation; returns the node of every program value
    /// (inputs first, then body entries). The primal is added as written —
    /// identical nodes are shared but nothing is folded — so that evaluating
    /// it in `f64` repeats the program's own rounding, signed zeros included.
    pub fn add_program(&mut self, p: &Program) -> Vec<NodeId> {
        let mut ids: Vec<NodeId> = (0..p.n_inputs() as u32).map(|k| self.input(k)).collect();
        for instr in p.body() {
            let arg = |i: usize| ids[instr.args()[i] as usize];
            let node = match instr {
                Instr::Const(c) => Node::Const(c.to_bits()),
                Instr::Unary(op, _) => Node::Unary(*op, arg(0)),
                Instr::PowI(_, n) => Node::PowI(arg(0), *n),
                Instr::Binary(op, _) => Node::Binary(*op, arg(0), arg(1)),
                Instr::LogSumExp(args) => {
                    Node::LogSumExp(args.iter().map(|a| ids[*a as usize]).collect())
                }
                Instr::Select(cmp, _) => {
                    let cmp = match cmp {
                        Comparison::Lt => Cmp::Lt,
                        Comparison::Le => Cmp::Le,
                    };
                    Node::Select(cmp, [arg(0), arg(1), arg(2), arg(3)])
                }
            };
            let id = self.intern(node);
            ids.push(id);
        }
        ids
    }

    /// Adds `p`'s computation; returns the node of each output.
    pub fn add_program_outputs(&mut self, p: &Program) -> Vec<NodeId> {
        let ids = self.add_program(p);
        p.outputs().iter().map(|&o| ids[o as usize]).collect()
    }

    /// The directional derivatives of `roots` when input `k` moves with
    /// tangent `tangent[k]` (a node, usually a constant).
    pub fn derivative(&mut self, roots: &[NodeId], tangent: &[NodeId]) -> Vec<NodeId> {
        let Some(&last) = roots.iter().max() else {
            return vec![];
        };
        let needed = self.reachable(roots);
        let zero = self.constant(0.0);
        let mut d: Vec<NodeId> = vec![zero; last as usize + 1];
        for id in 0..=last {
            if !needed[id as usize] {
                continue;
            }
            // A node no input reaches (c − c, then hypot or cbrt of it) is a
            // constant: its derivative is 0, not its rule's 0/0 at a value
            // that happens to sit at a singular point.
            // So is a node declared constant near the point.
            let node = &self.nodes[id as usize];
            let constant = self.is_locally_constant(id)
                || (!matches!(node, Node::Input(_))
                    && node.children().iter().all(|&c| d[c as usize] == zero));
            if !constant {
                d[id as usize] = self.derivative_of(id, &d, tangent);
            }
        }
        roots.iter().map(|&r| d[r as usize]).collect()
    }

    /// `∂root/∂x_k` for every input `k < n`, in reverse mode: one sweep back
    /// from `root` over the local partials ([`Graph::local_partials`]), so
    /// `O(size)` where [`Graph::derivative`] with unit tangents costs
    /// `O(n · size)`. The same chain rule summed in another order: the
    /// values agree wherever the derivative is one value. Where it is not,
    /// they may differ as two AD modes do: a zero that is not structural
    /// meeting an infinite partial groups differently, and a rule that is
    /// not linear in the tangent at a tie (`hypot` at the origin, whose
    /// one-sided values are `±|(da, db)|`) is taken argument by argument,
    /// so the branches a tie may take span a wider set (an outer bound).
    pub fn gradient_reverse(&mut self, root: NodeId, n: usize) -> Vec<NodeId> {
        let zero = self.constant(0.0);
        let one = self.constant(1.0);
        let mut gradient = vec![zero; n];
        let needed = self.reachable(&[root]);
        // As in `derivative`, a node no input reaches, or one constant near
        // the point, has derivative 0.
        let live: Vec<bool> = self
            .depends_on_inputs()
            .into_iter()
            .enumerate()
            .map(|(id, depends)| depends && !self.is_locally_constant(id as NodeId))
            .collect();
        let mut adjoint: Vec<NodeId> = vec![zero; root as usize + 1];
        adjoint[root as usize] = one;
        let mut scratch = Vec::new();
        for id in (0..=root).rev() {
            let a = adjoint[id as usize];
            if !needed[id as usize] || !live[id as usize] || a == zero {
                continue;
            }
            if let Node::Input(k) = self.nodes[id as usize] {
                if let Some(g) = gradient.get_mut(k as usize) {
                    *g = a;
                }
                continue;
            }
            for (child, partial) in self.local_partials(id, &mut scratch) {
                if live[child as usize] {
                    let term = self.mul(a, partial);
                    adjoint[child as usize] = self.add(adjoint[child as usize], term);
                }
            }
        }
        gradient
    }

    /// The sum of the local partial derivatives of node `id` with respect to
    /// each of its arguments (each argument's derivative taken as 1). It is
    /// infinite or NaN exactly when the node's operation is not
    /// differentiable at its arguments (`√0`, `ln 0`, `1/0`, …). `ones`
    /// holds the constant 1's id for every node below `id` (grown as
    /// needed): one buffer serves every node, so a pass over a graph is
    /// linear in its size.
    pub fn local_sensitivity(&mut self, id: NodeId, ones: &mut Vec<NodeId>) -> NodeId {
        let one = self.constant(1.0);
        if ones.len() <= id as usize {
            ones.resize(id as usize + 1, one);
        }
        self.derivative_of(id, ones, &[])
    }

    /// The local partial derivatives of node `id`, one `(child, ∂id/∂child)`
    /// per argument position: a repeated child (`x·x`, `atan2(x, x)`) has
    /// one entry per position, as an engine applying the chain rule edge by
    /// edge holds them. `scratch` holds zeros for every node below `id` and
    /// is left so: one buffer serves every node of a graph.
    pub fn local_partials(
        &mut self,
        id: NodeId,
        scratch: &mut Vec<NodeId>,
    ) -> Vec<(NodeId, NodeId)> {
        let zero = self.constant(0.0);
        let one = self.constant(1.0);
        if scratch.len() <= id as usize {
            scratch.resize(id as usize + 1, zero);
        }
        match self.nodes[id as usize].clone() {
            Node::Input(_) | Node::Const(_) => Vec::new(),
            Node::Unary(_, u) | Node::PowI(u, _) => {
                scratch[u as usize] = one;
                let partial = self.derivative_of(id, scratch, &[]);
                scratch[u as usize] = zero;
                vec![(u, partial)]
            }
            Node::Binary(op, a, b) => {
                let pa = self.binary_derivative(op, id, a, b, one, zero, one);
                let pb = self.binary_derivative(op, id, a, b, zero, one, one);
                vec![(a, pa), (b, pb)]
            }
            Node::LogSumExp(xs) => xs
                .into_iter()
                .map(|x| {
                    let shifted = self.sub(x, id);
                    (x, self.unary(UnaryOp::Exp, shifted))
                })
                .collect(),
            Node::Select(cmp, [a, b, t, f]) => {
                let pt = self.select(cmp, a, b, one, zero);
                let pf = self.select(cmp, a, b, zero, one);
                vec![(a, zero), (b, zero), (t, pt), (f, pf)]
            }
        }
    }

    /// Whether each node (indexed by id) depends on some input.
    pub fn depends_on_inputs(&self) -> Vec<bool> {
        let mut depends = vec![false; self.nodes.len()];
        for (id, node) in self.nodes.iter().enumerate() {
            depends[id] = matches!(node, Node::Input(_))
                || node.children().iter().any(|&c| depends[c as usize]);
        }
        depends
    }

    /// Declares which nodes are constant near the point this graph will be
    /// evaluated at (indexed by id; see the `constancy` module): their
    /// derivatives, of every order, are 0 from now on, whatever their rules
    /// give at a singular point on the way (`√′(0) · 0` for `√(relu x)` at
    /// `x < 0`).
    pub(crate) fn set_locally_constant(&mut self, mask: Vec<bool>) {
        self.locally_constant = mask;
    }

    /// Whether node `id` was declared constant near the point.
    pub(crate) fn is_locally_constant(&self, id: NodeId) -> bool {
        self.locally_constant
            .get(id as usize)
            .copied()
            .unwrap_or(false)
    }

    /// Which nodes `roots` depend on.
    fn reachable(&self, roots: &[NodeId]) -> Vec<bool> {
        let last = roots.iter().copied().max().map_or(0, |m| m as usize + 1);
        let mut needed = vec![false; last];
        for &r in roots {
            needed[r as usize] = true;
        }
        for id in (0..last).rev() {
            if needed[id] {
                for c in self.nodes[id].children() {
                    needed[c as usize] = true;
                }
            }
        }
        needed
    }

    /// The derivative rule of node `id`, given its children's derivatives.
    fn derivative_of(&mut self, id: NodeId, d: &[NodeId], tangent: &[NodeId]) -> NodeId {
        let node = self.nodes[id as usize].clone();
        let zero = self.constant(0.0);
        let one = self.constant(1.0);
        match node {
            Node::Input(k) => tangent.get(k as usize).copied().unwrap_or(zero),
            Node::Const(_) => zero,
            Node::Unary(op, u) => {
                let du = d[u as usize];
                if du == zero {
                    return zero;
                }
                let factor = self.unary_factor(op, u, id, du);
                match factor {
                    Factor::Times(f) => self.mul(f, du),
                    Factor::Over(g) => self.div(du, g),
                    Factor::Done(r) => r,
                }
            }
            Node::PowI(u, n) => {
                let nn = self.constant(f64::from(n));
                // n − 1 in i64: for n = −2³¹ it does not fit an i32, and
                // u^(n−1) is then u^n / u (exact in MPFR, signs included).
                let p = match i32::try_from(i64::from(n) - 1) {
                    Ok(m) => self.powi(u, m),
                    Err(_) => {
                        let whole = self.powi(u, n);
                        self.div(whole, u)
                    }
                };
                let f = self.mul(nn, p);
                self.mul(f, d[u as usize])
            }
            // x − x is 0 and x / x is 1 wherever they are defined: their
            // derivative is 0, not the rule's d − d (∞ − ∞ after a singular
            // point) or (d·x − x·d)/x². (Their local partials, which an
            // engine may hold, are still each position's, for the range
            // analysis.)
            Node::Binary(BinaryOp::Sub | BinaryOp::Div, a, b) if a == b => zero,
            Node::Binary(op, a, b) => {
                let (da, db) = (d[a as usize], d[b as usize]);
                self.binary_derivative(op, id, a, b, da, db, one)
            }
            Node::LogSumExp(xs) => {
                let mut total = zero;
                for x in xs {
                    let shifted = self.sub(x, id);
                    let w = self.unary(UnaryOp::Exp, shifted);
                    let term = self.mul(w, d[x as usize]);
                    total = self.add(total, term);
                }
                total
            }
            Node::Select(cmp, [a, b, t, f]) => self.select(cmp, a, b, d[t as usize], d[f as usize]),
        }
    }

    /// How `d op(u)` relates to `du`: `du · f`, `du / g`, or a finished node.
    fn unary_factor(&mut self, op: UnaryOp, u: NodeId, value: NodeId, du: NodeId) -> Factor {
        let c = |g: &mut Graph, x: f64| g.constant(x);
        match op {
            UnaryOp::Neg => Factor::Done(self.neg(du)),
            UnaryOp::Recip => {
                let sq = self.mul(u, u);
                let q = self.div(du, sq);
                Factor::Done(self.neg(q))
            }
            UnaryOp::Sqrt => {
                let two = c(self, 2.0);
                Factor::Over(self.mul(two, value))
            }
            UnaryOp::Cbrt => {
                let three = c(self, 3.0);
                let sq = self.mul(value, value);
                Factor::Over(self.mul(three, sq))
            }
            UnaryOp::Exp => Factor::Times(value),
            UnaryOp::Expm1 => Factor::Times(self.unary(UnaryOp::Exp, u)),
            UnaryOp::Ln => Factor::Over(u),
            UnaryOp::Log1p => {
                let one = c(self, 1.0);
                Factor::Over(self.add(one, u))
            }
            UnaryOp::Sin => Factor::Times(self.unary(UnaryOp::Cos, u)),
            UnaryOp::Cos => {
                let s = self.unary(UnaryOp::Sin, u);
                Factor::Times(self.neg(s))
            }
            UnaryOp::Tan | UnaryOp::Tanh => {
                let inner = if op == UnaryOp::Tan {
                    UnaryOp::Cos
                } else {
                    UnaryOp::Cosh
                };
                let g = self.unary(inner, u);
                Factor::Over(self.mul(g, g))
            }
            UnaryOp::Asin | UnaryOp::Acos => {
                let one = c(self, 1.0);
                let sq = self.mul(u, u);
                let diff = self.sub(one, sq);
                let root = self.unary(UnaryOp::Sqrt, diff);
                let q = self.div(du, root);
                Factor::Done(if op == UnaryOp::Asin { q } else { self.neg(q) })
            }
            UnaryOp::Atan => {
                let one = c(self, 1.0);
                let sq = self.mul(u, u);
                Factor::Over(self.add(one, sq))
            }
            UnaryOp::Sinh => Factor::Times(self.unary(UnaryOp::Cosh, u)),
            UnaryOp::Cosh => Factor::Times(self.unary(UnaryOp::Sinh, u)),
            UnaryOp::Abs => {
                // sign(u), with sign(0) = 0.
                let (zero, one, minus) = (c(self, 0.0), c(self, 1.0), c(self, -1.0));
                let negative = self.select(Cmp::Lt, u, zero, minus, zero);
                Factor::Times(self.select(Cmp::Lt, zero, u, one, negative))
            }
            UnaryOp::Relu => {
                let zero = c(self, 0.0);
                Factor::Done(self.select(Cmp::Lt, zero, u, du, zero))
            }
            UnaryOp::Softplus => {
                let one = c(self, 1.0);
                let m = self.neg(u);
                let e = self.unary(UnaryOp::Exp, m);
                Factor::Over(self.add(one, e))
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn binary_derivative(
        &mut self,
        op: BinaryOp,
        value: NodeId,
        a: NodeId,
        b: NodeId,
        da: NodeId,
        db: NodeId,
        one: NodeId,
    ) -> NodeId {
        let zero = self.constant(0.0);
        match op {
            BinaryOp::Add => self.add(da, db),
            BinaryOp::Sub => self.sub(da, db),
            BinaryOp::Mul => {
                let l = self.mul(da, b);
                let r = self.mul(a, db);
                self.add(l, r)
            }
            BinaryOp::Div => {
                // (da − (a/b)·db) / b
                let q = self.div(a, b);
                let t = self.mul(q, db);
                let num = self.sub(da, t);
                self.div(num, b)
            }
            BinaryOp::Powf => {
                // ∂a = b·a^(b−1), 0 when a = b = 0; ∂b = aᵇ·ln a, 0 when a = 0 ≤ b.
                let bm1 = self.sub(b, one);
                let p = self.binary(BinaryOp::Powf, a, bm1);
                let general_a = self.mul(b, p);
                let at_zero_base = self.select(Cmp::Eq, a, zero, zero, general_a);
                let pa = self.select(Cmp::Eq, b, zero, at_zero_base, general_a);
                let ln = self.unary(UnaryOp::Ln, a);
                let general_b = self.mul(value, ln);
                let nonneg = self.select(Cmp::Le, zero, b, zero, general_b);
                let pb = self.select(Cmp::Eq, a, zero, nonneg, general_b);
                let l = self.mul(pa, da);
                let r = self.mul(pb, db);
                self.add(l, r)
            }
            BinaryOp::Atan2 => {
                // (x·dy − y·dx) / (x² + y²), with a = y and b = x.
                let l = self.mul(b, da);
                let r = self.mul(a, db);
                let num = self.sub(l, r);
                let xx = self.mul(b, b);
                let yy = self.mul(a, a);
                let den = self.add(xx, yy);
                self.div(num, den)
            }
            BinaryOp::Min | BinaryOp::Max => {
                // min: a < b → da; b < a → db; tie → (da + db)/2.
                // max: b < a → da; a < b → db; tie → (da + db)/2.
                let half = self.constant(0.5);
                let sum = self.add(da, db);
                let tie = self.mul(half, sum);
                let (p, q) = if op == BinaryOp::Min { (a, b) } else { (b, a) };
                let otherwise = self.select(Cmp::Lt, q, p, db, tie);
                self.select(Cmp::Lt, p, q, da, otherwise)
            }
            BinaryOp::Hypot => {
                let l = self.mul(a, da);
                let r = self.mul(b, db);
                let num = self.add(l, r);
                let q = self.div(num, value);
                // At the origin the convention is 0, and the one-sided
                // values (a·da + b·db)/|(a, b)| fill [−r, r] with
                // r = |(da, db)| (Cauchy–Schwarz): the nested selects carry
                // r and −r as branches a tie may take (they never differ
                // from 0 in an ordinary evaluation).
                let bound = self.binary(BinaryOp::Hypot, da, db);
                let minus = self.neg(bound);
                let edges = self.select(Cmp::Eq, value, zero, bound, minus);
                let at_origin = self.select(Cmp::Eq, value, zero, zero, edges);
                self.select(Cmp::Eq, value, zero, at_origin, q)
            }
        }
    }

    /// An evaluation plan for `roots`: the nodes they need, in order.
    pub fn plan(&self, roots: &[NodeId]) -> Plan {
        let needed = self.reachable(roots);
        Plan {
            order: (0..needed.len() as NodeId)
                .filter(|&i| needed[i as usize])
                .collect(),
            roots: roots.to_vec(),
        }
    }

    /// Evaluates every node of `plan` over any scalar (MPFR at the thread's
    /// precision, usually). Returns the values indexed by node id (`None`
    /// for nodes not needed).
    pub fn evaluate<S: Scalar>(&self, plan: &Plan, inputs: &[S]) -> Vec<Option<S>> {
        self.evaluate_with(plan, inputs, &[])
    }

    /// Like [`evaluate`](Graph::evaluate), but nodes listed in `fixed` take
    /// the given values instead of being computed (indexed by node id; `None`
    /// computes as usual).
    pub fn evaluate_with<S: Scalar>(
        &self,
        plan: &Plan,
        inputs: &[S],
        fixed: &[Option<S>],
    ) -> Vec<Option<S>> {
        self.evaluate_choosing(plan, inputs, fixed, &HashMap::new())
    }

    /// Like [`evaluate_with`](Graph::evaluate_with), but the `Select` nodes
    /// named in `choices` take their `t` branch (`true`) or their `f`
    /// branch (`false`) whatever their comparison says: the one-sided
    /// derivatives at a tie.
    pub fn evaluate_choosing<S: Scalar>(
        &self,
        plan: &Plan,
        inputs: &[S],
        fixed: &[Option<S>],
        choices: &HashMap<NodeId, bool>,
    ) -> Vec<Option<S>> {
        let mut values: Vec<Option<S>> =
            vec![None; plan.order.last().map_or(0, |&l| l as usize + 1)];
        for &id in &plan.order {
            if let Some(Some(v)) = fixed.get(id as usize) {
                values[id as usize] = Some(v.clone());
                continue;
            }
            let v = match &self.nodes[id as usize] {
                Node::Input(k) => inputs[*k as usize].clone(),
                Node::Const(bits) => S::from_f64(f64::from_bits(*bits)),
                _ => self.apply(
                    id,
                    |n| values[n as usize].as_ref().expect("children come first"),
                    choices,
                ),
            };
            values[id as usize] = Some(v);
        }
        values
    }

    /// The value of operation node `id` (not an input or a constant) from
    /// its children's values (`get`), a `Select` named in `choices` taking
    /// the branch given.
    fn apply<'v, S: Scalar + 'v>(
        &self,
        id: NodeId,
        get: impl Fn(NodeId) -> &'v S,
        choices: &HashMap<NodeId, bool>,
    ) -> S {
        match &self.nodes[id as usize] {
            Node::Input(_) | Node::Const(_) => unreachable!("leaves have no operation"),
            Node::Unary(op, a) => op.apply(get(*a)),
            Node::PowI(a, n) => get(*a).powi(*n),
            Node::Binary(op, a, b) => op.apply(get(*a), get(*b)),
            Node::LogSumExp(xs) => {
                let xs: Vec<S> = xs.iter().map(|&x| get(x).clone()).collect();
                S::logsumexp(&xs)
            }
            Node::Select(cmp, [a, b, t, f]) => {
                let holds = choices.get(&id).copied().unwrap_or_else(|| match cmp {
                    Cmp::Lt => get(*a).lt(get(*b)),
                    Cmp::Le => get(*a).le(get(*b)),
                    Cmp::Eq => get(*a).eq_primal(get(*b)),
                });
                get(if holds { *t } else { *f }).clone()
            }
        }
    }

    /// The values of `order` (nodes in evaluation order) with the `Select`
    /// nodes in `choices` taking the branch given, every other node's value
    /// read from `base` (an evaluation at the same point): so a choice at a
    /// tie costs only the nodes that depend on it. Indexed by node id,
    /// `None` outside `order`.
    pub fn evaluate_overlay<S: Scalar>(
        &self,
        order: &[NodeId],
        base: &[Option<S>],
        choices: &HashMap<NodeId, bool>,
    ) -> Vec<Option<S>> {
        let mut values: Vec<Option<S>> =
            vec![None; order.iter().max().map_or(0, |&l| l as usize + 1)];
        for &id in order {
            let get = |n: NodeId| {
                values
                    .get(n as usize)
                    .and_then(Option::as_ref)
                    .or_else(|| base.get(n as usize).and_then(Option::as_ref))
                    .expect("children come first or are in the base")
            };
            let v = match &self.nodes[id as usize] {
                Node::Input(_) | Node::Const(_) => get(id).clone(),
                _ => self.apply(id, get, choices),
            };
            values[id as usize] = Some(v);
        }
        values
    }

    /// For each node of `plan`, whether its `f64` evaluation (`f64_values`)
    /// or that of a node it depends on left `f64`'s range: overflowed to ±∞
    /// or underflowed to zero where the precise value (`precise`) is beyond
    /// `f64`'s normal range. Such an `f64` value measures a range escape,
    /// not rounding.
    pub fn range_escapes(
        &self,
        plan: &Plan,
        f64_values: &[Option<f64>],
        precise: &[Option<Mp>],
    ) -> Vec<bool> {
        let mut escaped = vec![false; f64_values.len().max(precise.len())];
        for &id in &plan.order {
            let i = id as usize;
            let own = match (
                f64_values.get(i).copied().flatten(),
                precise.get(i).and_then(Option::as_ref),
            ) {
                // The precise value is beyond f64's range (above its
                // largest number, or nonzero below its smallest normal one)
                // and the f64 one is ±∞ or 0: the range, not rounding. (A
                // zero from cancellation has a precise value in range.)
                (Some(v), Some(p)) => {
                    let p = p.0.clone().abs();
                    let beyond = p.is_finite()
                        && !p.is_zero()
                        && !(f64::MIN_POSITIVE..=f64::MAX).contains(&p);
                    beyond && (v.is_infinite() || v == 0.0)
                }
                _ => false,
            };
            let inherited = self.nodes[i]
                .children()
                .iter()
                .any(|&c| escaped.get(c as usize).copied().unwrap_or(false));
            if let Some(e) = escaped.get_mut(i) {
                *e = own || inherited;
            }
        }
        escaped
    }

    /// For each node of `plan`, the magnitude of its value as a sum over
    /// paths of products of absolute values: sums and differences add the
    /// magnitudes of their terms, products multiply them. Against it, the
    /// rounding error of an f64 evaluation that accumulates the same terms in
    /// any order is a few units of `ε · magnitude`.
    pub fn magnitudes(&self, plan: &Plan, values: &[Option<Mp>]) -> Vec<f64> {
        // Kept at a wide exponent range (MPFR at 64 bits) and rounded at the
        // end: the terms of a derivative at 1e−300 (x² + y² = 2e−600) leave
        // f64's range even where the magnitude itself does not.
        const PREC: u32 = 64;
        let zero = || Float::with_val(PREC, 0);
        let mut mag: Vec<Float> = vec![zero(); values.len()];
        let abs = |id: NodeId| {
            values[id as usize]
                .as_ref()
                .map_or_else(zero, |v| Float::with_val(PREC, v.float().abs_ref()))
        };
        for &id in &plan.order {
            let next = {
                let m = |n: &NodeId| &mag[*n as usize];
                match &self.nodes[id as usize] {
                    Node::Binary(BinaryOp::Add | BinaryOp::Sub, a, b) => {
                        Float::with_val(PREC, m(a) + m(b))
                    }
                    // A zero factor contributes nothing, even against ∞.
                    Node::Binary(BinaryOp::Mul, a, b) => {
                        if m(a).is_zero() || m(b).is_zero() {
                            zero()
                        } else {
                            Float::with_val(PREC, m(a) * m(b))
                        }
                    }
                    Node::Binary(BinaryOp::Div, a, b) => {
                        if m(a).is_zero() {
                            zero()
                        } else {
                            Float::with_val(PREC, m(a) / &abs(*b))
                        }
                    }
                    Node::Unary(UnaryOp::Neg, a) => m(a).clone(),
                    Node::Select(cmp, [a, b, t, f]) => {
                        let (x, y) = (values[*a as usize].as_ref(), values[*b as usize].as_ref());
                        let order = x.zip(y).and_then(|(x, y)| x.0.partial_cmp(&y.0));
                        let holds = match cmp {
                            Cmp::Lt => order == Some(std::cmp::Ordering::Less),
                            Cmp::Le => order.is_some_and(|o| o.is_le()),
                            Cmp::Eq => order == Some(std::cmp::Ordering::Equal),
                        };
                        m(if holds { t } else { f }).clone()
                    }
                    _ => abs(id),
                }
            };
            mag[id as usize] = next;
        }
        mag.iter().map(Float::to_f64).collect()
    }

    /// The expression of `id` as a formula over inputs `x1, x2, …`, cut off
    /// after about `limit` characters.
    pub fn formula(&self, id: NodeId, limit: usize) -> String {
        let mut out = String::new();
        self.write_formula(id, &mut out, limit);
        if out.len() > limit {
            let mut cut = limit;
            while !out.is_char_boundary(cut) {
                cut -= 1;
            }
            out.truncate(cut);
            out.push('…');
        }
        out
    }

    fn write_formula(&self, id: NodeId, out: &mut String, limit: usize) {
        if out.len() > limit {
            return;
        }
        match &self.nodes[id as usize] {
            Node::Input(k) => {
                let _ = write!(out, "x{}", k + 1);
            }
            Node::Const(bits) => {
                let _ = write!(out, "{:?}", f64::from_bits(*bits));
            }
            Node::Unary(UnaryOp::Neg, a) => {
                out.push_str("-(");
                self.write_formula(*a, out, limit);
                out.push(')');
            }
            Node::Unary(op, a) => {
                let _ = write!(out, "{}(", op.name());
                self.write_formula(*a, out, limit);
                out.push(')');
            }
            Node::PowI(a, n) => {
                out.push('(');
                self.write_formula(*a, out, limit);
                let _ = write!(out, ")^{n}");
            }
            Node::Binary(op, a, b) => {
                let infix = match op {
                    BinaryOp::Add => Some(" + "),
                    BinaryOp::Sub => Some(" - "),
                    BinaryOp::Mul => Some("*"),
                    BinaryOp::Div => Some("/"),
                    _ => None,
                };
                match infix {
                    Some(sym) => {
                        out.push('(');
                        self.write_formula(*a, out, limit);
                        out.push_str(sym);
                        self.write_formula(*b, out, limit);
                        out.push(')');
                    }
                    None => {
                        let _ = write!(out, "{}(", op.name());
                        self.write_formula(*a, out, limit);
                        out.push_str(", ");
                        self.write_formula(*b, out, limit);
                        out.push(')');
                    }
                }
            }
            Node::LogSumExp(xs) => {
                out.push_str("logsumexp(");
                for (i, x) in xs.iter().enumerate() {
                    if i > 0 {
                        out.push_str(", ");
                    }
                    self.write_formula(*x, out, limit);
                }
                out.push(')');
            }
            Node::Select(cmp, [a, b, t, f]) => {
                out.push('(');
                self.write_formula(*a, out, limit);
                let _ = write!(out, " {} ", cmp.symbol());
                self.write_formula(*b, out, limit);
                out.push_str(" ? ");
                self.write_formula(*t, out, limit);
                out.push_str(" : ");
                self.write_formula(*f, out, limit);
                out.push(')');
            }
        }
    }
}

/// How a unary derivative combines with the argument's derivative.
enum Factor {
    Times(NodeId),
    Over(NodeId),
    Done(NodeId),
}

/// The nodes some roots need, in evaluation order.
#[derive(Clone, Debug)]
pub struct Plan {
    order: Vec<NodeId>,
    roots: Vec<NodeId>,
}

impl Plan {
    /// The nodes evaluated, in order.
    pub fn nodes(&self) -> &[NodeId] {
        &self.order
    }

    /// The roots this plan evaluates.
    pub fn roots(&self) -> &[NodeId] {
        &self.roots
    }

    /// How many nodes are evaluated.
    pub fn len(&self) -> usize {
        self.order.len()
    }

    /// Whether nothing is evaluated.
    pub fn is_empty(&self) -> bool {
        self.order.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_consing_and_identities() {
        let mut g = Graph::new();
        let x = g.input(0);
        let y = g.input(1);
        let zero = g.constant(0.0);
        let one = g.constant(1.0);
        assert_eq!(g.add(x, zero), x);
        assert_eq!(g.mul(one, y), y);
        assert_eq!(g.mul(y, zero), zero);
        let s1 = g.unary(UnaryOp::Sin, x);
        let s2 = g.unary(UnaryOp::Sin, x);
        assert_eq!(s1, s2);
        assert_eq!(g.mul(x, y), g.mul(y, x));
        let n = g.neg(s1);
        assert_eq!(g.neg(n), s1);
        let two = g.constant(2.0);
        let three = g.constant(3.0);
        let six = g.mul(two, three);
        assert_eq!(g.as_const(six), Some(6.0));
        let third = g.constant(1.0 / 3.0);
        // 3 · (1/3) rounds, so it stays symbolic rather than folding to 1.
        let product = g.mul(three, third);
        assert_eq!(g.as_const(product), None);
    }

    #[test]
    fn seed_example_derivative_formulas() {
        let p =
            Program::parse("input v1 v2\nv3 = mul v1 v2\nv4 = sin v1\nv5 = add v3 v4\noutput v5")
                .unwrap();
        let mut g = Graph::new();
        let out = g.add_program_outputs(&p);
        let (zero, one) = (g.constant(0.0), g.constant(1.0));
        let d1 = g.derivative(&out, &[one, zero])[0];
        let d2 = g.derivative(&out, &[zero, one])[0];
        assert_eq!(g.formula(d1, 200), "(x2 + cos(x1))");
        assert_eq!(g.formula(d2, 200), "x1");
    }

    #[test]
    fn reverse_gradients_equal_forward_ones_at_smooth_points() {
        let programs = [
            "input a b c\nd = mul a b\ne = sin d\nf = div e c\ng = powf a c\nh = add f g\noutput h",
            "input a b\nc = atan2 a b\nd = hypot a b\ne = mul c d\nf = tanh e\ng = sub f a\noutput g",
            "input a b c\nd = max a b\ne = min d c\nf = exp e\ng = ln b\nh = mul f g\ni = logsumexp a b c\nj = add h i\noutput j",
            "input a b\nc = iflt a b a b\nd = mul c c\ne = cbrt d\nf = sqrt b\ng = mul e f\nh = mul g a\noutput h",
        ];
        let x = [0.7, 1.9, 1.3];
        for text in programs {
            let p = Program::parse(text).unwrap();
            let n = p.n_inputs();
            let mut g = Graph::new();
            let out = g.add_program_outputs(&p)[0];
            let reverse = g.gradient_reverse(out, n);
            let (zero, one) = (g.constant(0.0), g.constant(1.0));
            let forward: Vec<NodeId> = (0..n)
                .map(|j| {
                    let e: Vec<NodeId> = (0..n).map(|k| if k == j { one } else { zero }).collect();
                    g.derivative(&[out], &e)[0]
                })
                .collect();
            let roots: Vec<NodeId> = reverse.iter().chain(&forward).copied().collect();
            let plan = g.plan(&roots);
            let point: Vec<Mp> = x[..n].iter().map(|&v| Mp::from_f64(v)).collect();
            let values = g.evaluate(&plan, &point);
            for j in 0..n {
                let value = |id: NodeId| values[id as usize].as_ref().unwrap().0.to_f64();
                let (r, f) = (value(reverse[j]), value(forward[j]));
                assert!(r.is_finite(), "{text}: ∂/∂x{j} = {r}");
                assert!(
                    (r - f).abs() <= 1e-15 * f.abs().max(1e-300),
                    "{text}: ∂/∂x{j} reverse {r} forward {f}"
                );
            }
        }
    }
}
