//! Loops found again: a traced program is a loop written out, and its
//! repeated iterations are rolled back into one.
//!
//! The computed part of a [`Graph`] (after its constants) is cut into
//! [`Segment`]s: straight runs of operations, and loops of `count`
//! iterations of `period` operations in which operation `j` of iteration
//! `k` is iteration 0's with every argument moved by `k` times its own
//! stride (an input one further, the previous iteration's value, the same
//! constant). Everything the compiled code decides per operation — the
//! operation, what is differentiated, which arguments carry derivatives,
//! which adjoint write is the first into its parent — must be the same in
//! every iteration, and no two argument positions of an iteration may name
//! one value through two different strides (the compiled loop keeps values
//! in registers by position). So one loop body, compiled once, runs every
//! iteration, and the code is as long as the loop, not as the trace.

use crate::graph::Graph;
use adcheck_engines::Instr;

/// The longest iteration the `f64` programs look for: no longer than the
/// window a value stays in a register (`jit.rs`), as a loop's
/// carried values must stay in registers through a whole iteration.
pub const MAX_PERIOD: usize = 32;
/// The fewest iterations worth a loop.
pub const MIN_ITERATIONS: usize = 4;

/// A run of the computed part of a program.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Segment {
    /// Values `lo..hi`, one operation each, in order.
    Straight {
        /// The first value.
        lo: usize,
        /// One past the last.
        hi: usize,
    },
    /// A loop.
    Loop(Loop),
}

/// `count` iterations of `period` operations from `start`: operation `j`
/// of iteration `k` is value `start + k·period + j`, and its argument `q`
/// is iteration 0's plus `k·strides[j][q]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Loop {
    /// The first value of iteration 0.
    pub start: usize,
    /// Operations an iteration.
    pub period: usize,
    /// Iterations.
    pub count: usize,
    /// Per operation, per argument, how far it moves an iteration.
    pub strides: Vec<Vec<i64>>,
    /// How far the partial slots move an iteration.
    pub slot_stride: i64,
}

impl Segment {
    /// The values it computes: `lo..hi`.
    pub fn range(&self) -> (usize, usize) {
        match *self {
            Segment::Straight { lo, hi } => (lo, hi),
            Segment::Loop(Loop {
                start,
                period,
                count,
                ..
            }) => (start, start + period * count),
        }
    }
}

/// Which edges write their parent's adjoint first in the reverse sweep
/// (the parent's last consumer): they store instead of adding, so no
/// adjoint needs zeroing. Also, per value, whether anything writes its
/// adjoint (an output's seed counts).
pub fn first_writes(g: &Graph) -> (Vec<bool>, Vec<bool>) {
    let mut written = vec![false; g.n_values()];
    for &o in g.outputs() {
        if g.is_differentiated(o as usize) {
            written[o as usize] = true;
        }
    }
    let mut first = vec![false; g.all_edges().len()];
    for i in (g.n_inputs()..g.n_values()).rev() {
        if !g.is_differentiated(i) {
            continue;
        }
        for e in g.edge_range(i) {
            let parent = g.all_edges()[e].parent as usize;
            if !written[parent] {
                written[parent] = true;
                first[e] = true;
            }
        }
    }
    (first, written)
}

/// Whether values `a` and `b` compile to the same code but for addresses.
fn same_shape(g: &Graph, first: &[bool], a: usize, b: usize) -> bool {
    let n = g.n_inputs();
    let (x, y) = (&g.body()[a - n], &g.body()[b - n]);
    let kind = match (x, y) {
        (Instr::Unary(o, _), Instr::Unary(p, _)) => o == p,
        (Instr::PowI(_, e), Instr::PowI(_, f)) => e == f,
        (Instr::Binary(o, [x0, x1]), Instr::Binary(p, [y0, y1])) => {
            o == p && (x0 == x1) == (y0 == y1)
        }
        (Instr::LogSumExp(xs), Instr::LogSumExp(ys)) => xs.len() == ys.len(),
        (Instr::Select(c, _), Instr::Select(d, _)) => c == d,
        _ => false,
    };
    kind && g.is_differentiated(a) == g.is_differentiated(b)
        && x.args()
            .iter()
            .zip(y.args())
            .all(|(&p, &q)| g.is_active(p as usize) == g.is_active(q as usize))
        && g.edge_range(a).len() == g.edge_range(b).len()
        && g.edge_range(a)
            .zip(g.edge_range(b))
            .all(|(e, f)| first[e] == first[f])
}

/// Whether iteration `k` of a candidate loop is iteration 0 moved by the
/// strides, with no value named through two strides.
fn iteration_matches(
    g: &Graph,
    first: &[bool],
    start: usize,
    period: usize,
    k: usize,
    strides: &[Vec<i64>],
    slot_stride: i64,
) -> bool {
    let n = g.n_inputs();
    let mut named: Vec<(usize, i64, usize)> = Vec::with_capacity(period * 3);
    let mut name = |id: usize, stride: i64, base: usize| -> bool {
        match named.iter().find(|(i, _, _)| *i == id) {
            Some(&(_, s, b)) => s == stride && b == base,
            None => {
                named.push((id, stride, base));
                true
            }
        }
    };
    for (j, strides) in strides.iter().enumerate().take(period) {
        let (zero, here) = (start + j, start + k * period + j);
        if here >= g.n_values() || !same_shape(g, first, zero, here) {
            return false;
        }
        if g.slot_start(here) as i64 != g.slot_start(zero) as i64 + k as i64 * slot_stride {
            return false;
        }
        if !name(here, period as i64, zero) {
            return false;
        }
        let (args0, args) = (g.body()[zero - n].args(), g.body()[here - n].args());
        if strides.len() != args0.len() {
            return false; // iteration 1 had another shape here
        }
        for (q, (&a0, &a)) in args0.iter().zip(args).enumerate() {
            // An argument stays an input or a computed value in every
            // iteration (the two live in different memory).
            if ((a as usize) < n) != ((a0 as usize) < n) {
                return false;
            }
            if a as i64 != a0 as i64 + k as i64 * strides[q]
                || !name(a as usize, strides[q], a0 as usize)
            {
                return false;
            }
        }
    }
    true
}

/// The longest loop starting at `start`: `(period, count, strides,
/// slot stride)`, covering the most operations.
fn loop_at(
    g: &Graph,
    first: &[bool],
    start: usize,
    max_period: usize,
) -> Option<(usize, usize, Vec<Vec<i64>>, i64)> {
    let n = g.n_inputs();
    let end = g.n_values();
    let mut best: Option<(usize, usize, Vec<Vec<i64>>, i64)> = None;
    for period in 1..=max_period {
        if start + MIN_ITERATIONS * period > end {
            break;
        }
        if !same_shape(g, first, start, start + period) {
            continue;
        }
        let strides: Vec<Vec<i64>> = (0..period)
            .map(|j| {
                let (a0, a1) = (
                    g.body()[start + j - n].args(),
                    g.body()[start + period + j - n].args(),
                );
                a0.iter()
                    .zip(a1)
                    .map(|(&x, &y)| y as i64 - x as i64)
                    .collect()
            })
            .collect();
        let slot_stride = g.slot_start(start + period) as i64 - g.slot_start(start) as i64;
        let mut count = 0;
        while start + (count + 1) * period <= end
            && iteration_matches(g, first, start, period, count, &strides, slot_stride)
        {
            count += 1;
        }
        let covers = |c: usize, p: usize| c * p;
        if count >= MIN_ITERATIONS
            && best
                .as_ref()
                .is_none_or(|(p, c, _, _)| covers(count, period) > covers(*c, *p))
        {
            best = Some((period, count, strides, slot_stride));
        }
    }
    best
}

/// The computed part of `g` as straight runs and loops of at most
/// `max_period` operations an iteration, in order.
pub fn segments(g: &Graph, first: &[bool], max_period: usize) -> Vec<Segment> {
    let end = g.n_values();
    let mut out = Vec::new();
    let mut straight_from = g.n_inputs() + g.n_constants();
    let mut i = straight_from;
    while i < end {
        match loop_at(g, first, i, max_period) {
            Some((period, count, strides, slot_stride)) => {
                if straight_from < i {
                    out.push(Segment::Straight {
                        lo: straight_from,
                        hi: i,
                    });
                }
                out.push(Segment::Loop(Loop {
                    start: i,
                    period,
                    count,
                    strides,
                    slot_stride,
                }));
                i += period * count;
                straight_from = i;
            }
            None => i += 1,
        }
    }
    if straight_from < end {
        out.push(Segment::Straight {
            lo: straight_from,
            hi: end,
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use adcheck_engines::{trace, Differentiable, Program, Scalar};

    struct SumOfSquares(usize);

    impl Differentiable for SumOfSquares {
        fn n_inputs(&self) -> usize {
            self.0
        }
        fn n_outputs(&self) -> usize {
            1
        }
        fn eval<S: Scalar>(&self, x: &[S]) -> Vec<S> {
            let mut total = S::from_f64(0.0);
            for v in x {
                total = total + v.clone() * v.clone();
            }
            vec![total]
        }
    }

    #[test]
    fn a_traced_loop_is_rolled_back_into_one() {
        let g = Graph::build(&trace(&SumOfSquares(100), &vec![0.5; 100]), true);
        let (first, _) = first_writes(&g);
        let segments = segments(&g, &first, MAX_PERIOD);
        // 0 + x₀² is not like the rest (it adds a constant): the loop
        // starts one iteration in, or after it.
        let loops: Vec<_> = segments
            .iter()
            .filter_map(|s| match s {
                Segment::Loop(l) => Some(l.period * l.count),
                _ => None,
            })
            .collect();
        assert_eq!(loops.len(), 1, "{segments:?}");
        assert!(loops[0] >= 196, "{segments:?}");
        // The segments cover the computed part exactly, in order.
        let mut at = g.n_inputs() + g.n_constants();
        for s in &segments {
            let (lo, hi) = s.range();
            assert_eq!(lo, at);
            at = hi;
        }
        assert_eq!(at, g.n_values());
    }

    #[test]
    fn a_program_without_repetition_stays_straight() {
        let p =
            Program::parse("input x y\na = sin x\nb = mul a y\nc = exp b\nd = add c x\noutput d")
                .unwrap();
        let g = Graph::build(&p, true);
        let (first, written) = first_writes(&g);
        assert_eq!(
            segments(&g, &first, MAX_PERIOD),
            vec![Segment::Straight { lo: 2, hi: 6 }]
        );
        assert!(written[0] && written[1]);
    }
}
