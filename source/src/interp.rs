//! The register interpreter: the transformed programs run over a
//! [`Graph`]'s fixed layout, generic over the number type.
//!
//! Over `f64` it is the fallback where no native code is made, and where
//! the native code's plain arithmetic met a NaN (it then applies the zero
//! rule the native code leaves out); over
//! `Dual<Strict<f64>>` it runs the adjoint program in tangent arithmetic,
//! which is how the engine's `H·v` is the tangent of the adjoint. Every
//! local partial comes from [`conventions`], and zero partials and zero
//! adjoints are skipped as the tape skips them, so over `f64` and an
//! unsimplified graph the adjoints are bitwise the tape's.

use crate::graph::Graph;
use adcheck_engines::conventions;
use adcheck_engines::reverse::TapeScalar;
use adcheck_engines::{Instr, Scalar};

/// The primal pass: every value, and the local partials of every
/// differentiated value into its slots.
pub fn primal<T: TapeScalar>(g: &Graph, x: &[T], values: &mut Vec<T>, partials: &mut Vec<T>) {
    let n = g.n_inputs();
    values.clear();
    values.extend_from_slice(x);
    partials.clear();
    partials.resize(g.n_slots(), T::from_f64(0.0));
    for (k, instr) in g.body().iter().enumerate() {
        let i = n + k;
        let value = if g.is_differentiated(i) {
            let s = g.slot_start(i);
            let get = |a: u32| values[a as usize];
            match instr {
                Instr::Const(c) => T::from_f64(*c),
                Instr::Unary(op, a) => {
                    let (v, d) = conventions::unary(*op, &get(*a));
                    partials[s] = d;
                    v
                }
                Instr::PowI(a, e) => {
                    let (v, d) = conventions::powi(&get(*a), *e);
                    partials[s] = d;
                    v
                }
                Instr::Binary(op, [a, b]) => {
                    let (v, da, db) = conventions::binary(*op, &get(*a), &get(*b));
                    if a == b {
                        partials[s] = da + db;
                    } else {
                        partials[s] = da;
                        partials[s + 1] = db;
                    }
                    v
                }
                Instr::LogSumExp(args) => {
                    let xs: Vec<T> = args.iter().map(|&a| get(a)).collect();
                    conventions::logsumexp(&xs, |j, d| partials[s + j] = d)
                }
                Instr::Select(cmp, [a, b, t, f]) => {
                    let taken = cmp.holds(&get(*a), &get(*b));
                    partials[s] = T::from_f64(if taken { 1.0 } else { 0.0 });
                    partials[s + 1] = T::from_f64(if taken { 0.0 } else { 1.0 });
                    if taken {
                        get(*t)
                    } else {
                        get(*f)
                    }
                }
            }
        } else {
            instr.eval(|a| &values[a as usize])
        };
        values.push(value);
    }
}

/// The adjoint pass after [`primal`]: `adjoints` is resized and zeroed,
/// the cotangent `u` added at the differentiated outputs, then swept back.
pub fn adjoint<T: TapeScalar>(g: &Graph, partials: &[T], u: &[T], adjoints: &mut Vec<T>) {
    adjoints.clear();
    adjoints.resize(g.n_values(), T::from_f64(0.0));
    for (&o, &w) in g.outputs().iter().zip(u) {
        if g.is_differentiated(o as usize) {
            adjoints[o as usize] = adjoints[o as usize] + w;
        }
    }
    for i in (g.n_inputs()..g.n_values()).rev() {
        let a = adjoints[i];
        if a.is_structural_zero() {
            continue;
        }
        for e in g.edges(i) {
            let p = partials[e.slot as usize];
            if !p.is_structural_zero() {
                let parent = e.parent as usize;
                adjoints[parent] = adjoints[parent] + p * a;
            }
        }
    }
}

/// The tangent pass after [`primal`]: the tangent of every value along
/// `v`, each a sum of `partial · tangent` over its edges where a zero
/// tangent contributes zero ([`conventions::chain`]).
pub fn tangent(g: &Graph, partials: &[f64], v: &[f64], tangents: &mut Vec<f64>) {
    tangents.clear();
    tangents.extend_from_slice(v);
    for i in g.n_inputs()..g.n_values() {
        let t = if g.is_differentiated(i) {
            let mut edges = g.edges(i).iter().map(|e| {
                conventions::chain(partials[e.slot as usize], tangents[e.parent as usize])
            });
            let first = edges.next().unwrap_or(0.0);
            edges.fold(first, |sum, term| sum + term)
        } else {
            0.0
        };
        tangents.push(t);
    }
}

/// The outputs' values after [`primal`], as `f64`.
pub fn outputs<T: Scalar>(g: &Graph, values: &[T]) -> Vec<T> {
    g.outputs()
        .iter()
        .map(|&o| values[o as usize].clone())
        .collect()
}
