//! Values that are constant near the point, whatever their operations.
//!
//! `relu` of a strictly negative value, a branch not taken by a strict
//! comparison, `min`/`max` strictly on one side, `x⁰` and `x − x` make a
//! value constant on a neighbourhood of the point; so does any
//! operation whose arguments all are. Such a value's derivatives of every order are 0, even
//! when an operation on the way sits at a singular point of its own rule:
//! `√(relu(x))` at `x < 0` is the constant 0, and the chain rule's
//! `√′(0) · 0 = ∞ · 0` is an artefact of differentiating it operation by
//! operation. The oracle freezes these values ([`Graph::set_locally_constant`])
//! so its references are the function's derivative there, and an engine
//! answering NaN through that `0·∞` is judged against 0.
//!
//! The analysis is conservative: a comparison decides a side only when both
//! its arguments are *steady* (continuous on a whole neighbourhood of the
//! point), so a jump upstream (a tie, `atan2` on its branch cut, an
//! operation at the edge of its domain) leaves everything below it
//! unfrozen, and the oracle's other rules apply as before.

use crate::expr::{Cmp, Graph, Node, NodeId};
use adcheck_engines::ops::{BinaryOp, UnaryOp};
use rug::Float;
use std::cmp::Ordering;

/// Which nodes of `order` (in evaluation order) are constant near the point,
/// given their exact values there (`value`, `None` for a node not
/// evaluated) and how many program values each node stands for (`values`:
/// identical expressions written twice share a node). Indexed by node id,
/// `graph.len()` long.
pub(crate) fn locally_constant<'v>(
    graph: &Graph,
    order: &[NodeId],
    value: impl Fn(NodeId) -> Option<&'v Float>,
    values: &[u32],
) -> Vec<bool> {
    let mut steady = vec![false; graph.len()];
    let mut constant = vec![false; graph.len()];
    let finite = |id: NodeId| value(id).filter(|v| v.is_finite());
    for &id in order {
        if finite(id).is_none() {
            continue;
        }
        let node = graph.node(id);
        let children = node.children();
        let all = |flags: &[bool]| children.iter().all(|&c| flags[c as usize]);
        // The side a comparison of two steady values takes near the point,
        // or `None` at a tie (or when either is not steady).
        let order_of = |a: NodeId, b: NodeId| -> Option<Ordering> {
            if !(steady[a as usize] && steady[b as usize]) {
                return None;
            }
            let ordering = finite(a)?.partial_cmp(finite(b)?)?;
            (ordering != Ordering::Equal).then_some(ordering)
        };
        let follow = |c: NodeId| (steady[c as usize], constant[c as usize]);
        let (is_steady, is_constant) = match node {
            Node::Input(_) => (true, false),
            Node::Const(_) => (true, true),
            Node::PowI(_, 0) => (true, true),
            Node::Unary(UnaryOp::Relu, a)
                if steady[*a as usize] && finite(*a).is_some_and(|v| *v < 0) =>
            {
                (true, true)
            }
            // x − x of one program value is 0 wherever x is finite. (Not
            // of two values that are the same expression written twice,
            // cbrt x − cbrt x: an AD engine differentiates each on its own,
            // and no local rule of its sees that they cancel. Not x / x nor
            // atan2(x, x): an engine's partials of those, 1/x and −x/x²,
            // overflow at tiny x, which the range analysis must still see.)
            Node::Binary(BinaryOp::Sub, a, b)
                if a == b && values.get(*a as usize).is_some_and(|&k| k <= 1) =>
            {
                (true, true)
            }
            Node::Binary(op @ (BinaryOp::Min | BinaryOp::Max), a, b) => match order_of(*a, *b) {
                Some(ordering) => {
                    let first = (ordering == Ordering::Less) == (*op == BinaryOp::Min);
                    follow(if first { *a } else { *b })
                }
                None => (all(&steady), all(&constant)),
            },
            Node::Select(cmp, [a, b, t, f]) => match order_of(*a, *b) {
                Some(ordering) => {
                    let holds = match cmp {
                        Cmp::Lt | Cmp::Le => ordering == Ordering::Less,
                        Cmp::Eq => false,
                    };
                    follow(if holds { *t } else { *f })
                }
                // At a tie the value is one branch or the other: constant
                // when both are the same constant.
                None => {
                    let same = constant[*t as usize]
                        && constant[*f as usize]
                        && finite(*t).is_some()
                        && finite(*t) == finite(*f);
                    (same, same)
                }
            },
            _ => {
                let is_constant = all(&constant);
                let continuous = all(&steady) && continuous_at(node, &finite);
                (continuous, is_constant)
            }
        };
        // A constant is continuous.
        steady[id as usize] = is_steady || is_constant;
        constant[id as usize] = is_constant;
    }
    constant
}

/// Whether operation `node` is continuous on a neighbourhood of its
/// arguments' values (finite ones; its own value is finite): not at the
/// edge of its domain, not on a branch cut.
fn continuous_at<'v>(node: &Node, value: &impl Fn(NodeId) -> Option<&'v Float>) -> bool {
    let v = |id: &NodeId| value(*id);
    match node {
        Node::Unary(op, a) => {
            let Some(x) = v(a) else { return false };
            match op {
                UnaryOp::Sqrt | UnaryOp::Ln => *x > 0,
                UnaryOp::Log1p => *x > -1,
                UnaryOp::Asin | UnaryOp::Acos => *x > -1 && *x < 1,
                UnaryOp::Recip => !x.is_zero(),
                _ => true,
            }
        }
        Node::PowI(a, n) => *n >= 0 || v(a).is_some_and(|x| !x.is_zero()),
        Node::Binary(op, a, b) => {
            let (Some(x), Some(y)) = (v(a), v(b)) else {
                return false;
            };
            match op {
                BinaryOp::Div => !y.is_zero(),
                BinaryOp::Powf => *x > 0,
                // atan2(y, x) jumps by 2π across y = 0 where x ≤ 0.
                BinaryOp::Atan2 => !(x.is_zero() && *y <= 0),
                _ => true,
            }
        }
        Node::LogSumExp(xs) => xs.iter().all(|x| v(x).is_some()),
        Node::Input(_) | Node::Const(_) | Node::Select(..) => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mp::Mp;
    use adcheck_engines::{Program, Scalar};

    /// The locally constant program values of `text` at `x`, by value index.
    fn constant_values(text: &str, x: &[f64]) -> Vec<bool> {
        let program = Program::parse(text).expect("a valid program");
        let mut graph = Graph::new();
        let ids = graph.add_program(&program);
        let plan = graph.plan(&ids);
        let inputs: Vec<Mp> = x.iter().map(|&v| Mp::from_f64(v)).collect();
        let values = graph.evaluate(&plan, &inputs);
        let mut shared = vec![0u32; graph.len()];
        for &id in &ids {
            shared[id as usize] += 1;
        }
        let mask = locally_constant(
            &graph,
            plan.nodes(),
            |id| values[id as usize].as_ref().map(Mp::float),
            &shared,
        );
        ids.iter().map(|&id| mask[id as usize]).collect()
    }

    #[test]
    fn relu_of_a_negative_value_and_what_follows_it_are_constant() {
        let text = "input x\nr = relu x\ns = sqrt r\nt = add s x\noutput t";
        assert_eq!(constant_values(text, &[-1.0]), [false, true, true, false]);
        // At the kink, and on the positive side, nothing is frozen.
        assert_eq!(constant_values(text, &[0.0]), [false; 4]);
        assert_eq!(constant_values(text, &[-0.0]), [false; 4]);
        assert_eq!(constant_values(text, &[2.0]), [false; 4]);
    }

    #[test]
    fn strict_comparisons_follow_their_side() {
        let text =
            "input x y\nz = const 0\nv = iflt x y z y\nm = min z y\nw = max x x\noutput v m w";
        // x < y: the select is the constant; min(0, y) with y > 0 too.
        let at = constant_values(text, &[1.0, 2.0]);
        assert_eq!(at, [false, false, true, true, true, false]);
        // A tie of the comparison: not decided, so not frozen.
        let tie = constant_values(text, &[2.0, 2.0]);
        assert_eq!(tie, [false, false, true, false, true, false]);
    }

    #[test]
    fn a_jump_upstream_leaves_the_comparison_undecided() {
        // atan2 on its branch cut jumps from π to −π: relu(atan2 − 4) is
        // −0.86 here but the comparison's argument is not steady.
        let cut = "input y x\na = atan2 y x\nc = const 4\nd = sub a c\nr = relu d\noutput r";
        assert!(!constant_values(cut, &[0.0, -1.0])[5]);
        // Off the cut it is steady, and relu of a negative is frozen.
        assert!(constant_values(cut, &[1.0, -1.0])[5]);
        // √ at 0 is the edge of its domain.
        let edge = "input x\ns = sqrt x\nc = const 1\nd = sub s c\nr = relu d\noutput r";
        assert!(!constant_values(edge, &[0.0])[4]);
        assert!(constant_values(edge, &[0.25])[4]);
    }

    #[test]
    fn a_value_less_itself_is_zero() {
        let text = "input x\ns = mul x x\nd = sub s s\nr = sqrt d\nq = div x x\noutput r q";
        assert_eq!(
            constant_values(text, &[-2.0]),
            [false, false, true, true, false]
        );
        // The same expression written twice is two values to an engine.
        let twice = "input x\na = cbrt x\nb = cbrt x\nd = sub a b\nr = sqrt d\noutput r";
        assert_eq!(constant_values(twice, &[-1.0]), [false; 5]);
    }

    #[test]
    fn powers_of_zero_exponent_and_constant_arguments() {
        let text = "input x\np = powi x 0\na = acos p\nq = powi x 2\noutput a q";
        assert_eq!(constant_values(text, &[3.0]), [false, true, true, false]);
        // ln of a constant 0 is −∞: not a value to freeze.
        let text = "input x\nr = relu x\nl = ln r\noutput l";
        assert_eq!(constant_values(text, &[-1.0]), [false, true, false]);
    }
}
