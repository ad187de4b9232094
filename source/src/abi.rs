//! The functions native code calls: each operation's value and local
//! partials from [`conventions`], so compiled code takes every rule,
//! every kink and edge convention, from the one place the other engines do.
//!
//! Partials are written through `&mut` references that the compiled code
//! points at the slots of its frame; the one helper that reads an
//! argument list takes a pointer and a length, and is the only code here
//! that must trust its caller (see its safety comment).

use adcheck_engines::conventions;
use adcheck_engines::forward::{Dual, Strict};
use adcheck_engines::ops::{BinaryOp, UnaryOp};

/// `value = op(x)`, `*partial = op′(x)` for the unary operation
/// `UnaryOp::ALL[OP]`.
pub extern "C" fn unary<const OP: usize>(x: f64, partial: &mut f64) -> f64 {
    let (v, d) = conventions::unary(UnaryOp::ALL[OP], &x);
    *partial = d;
    v
}

/// `value = op(a, b)` and both partials for `BinaryOp::ALL[OP]`.
pub extern "C" fn binary<const OP: usize>(a: f64, b: f64, partials: &mut [f64; 2]) -> f64 {
    let (v, da, db) = conventions::binary(BinaryOp::ALL[OP], &a, &b);
    *partials = [da, db];
    v
}

/// `xⁿ` and its derivative.
pub extern "C" fn powi(x: f64, n: i32, partial: &mut f64) -> f64 {
    let (v, d) = conventions::powi(&x, n);
    *partial = d;
    v
}

/// `ln Σ e^xᵢ` over `len` arguments at `xs`, each partial written to
/// `partials`.
///
/// # Safety
/// `xs` and `partials` point at `len` valid, distinct `f64`s: the compiled
/// code passes two regions of its frame, each laid out for the largest
/// `logsumexp` of the program.
#[allow(unsafe_code)]
pub unsafe extern "C" fn logsumexp(xs: *const f64, len: usize, partials: *mut f64) -> f64 {
    // SAFETY: as the function's contract says (the frame is sized so).
    let (xs, partials) = unsafe {
        (
            std::slice::from_raw_parts(xs, len),
            std::slice::from_raw_parts_mut(partials, len),
        )
    };
    conventions::logsumexp(xs, |i, d| partials[i] = d)
}

/// A dual number as the `H·v` program keeps it in its frame: `[value,
/// tangent]`, in the type the interpreter runs the adjoint program in.
type Pair = Dual<Strict<f64>>;

/// The pair at the start of `at`.
fn pair(at: &[f64]) -> Pair {
    Dual::new(at[0], Strict(at[1]))
}

/// `d` into the start of `at`.
fn put(d: Pair, at: &mut [f64]) {
    at[0] = d.re;
    at[1] = d.eps.0;
}

/// The dual value of `UnaryOp::ALL[OP]` at `x`, and its partial (a dual
/// number too: its tangent is the second derivative along `x`'s tangent).
pub extern "C" fn dual_unary<const OP: usize>(
    x: &[f64; 2],
    value: &mut [f64; 2],
    partial: &mut [f64; 2],
) {
    let (v, d) = conventions::unary(UnaryOp::ALL[OP], &pair(x));
    put(v, value);
    put(d, partial);
}

/// The dual value of `BinaryOp::ALL[OP]` and both dual partials; with
/// `same` (one value read twice) their sum goes to the first, as the
/// interpreter records it.
pub extern "C" fn dual_binary<const OP: usize>(
    a: &[f64; 2],
    b: &[f64; 2],
    value: &mut [f64; 2],
    partials: &mut [f64; 4],
    same: i32,
) {
    let (v, da, db) = conventions::binary(BinaryOp::ALL[OP], &pair(a), &pair(b));
    put(v, value);
    if same != 0 {
        put(da + db, &mut partials[..2]);
    } else {
        put(da, &mut partials[..2]);
        put(db, &mut partials[2..]);
    }
}

/// `xⁿ` and its derivative, in dual numbers.
pub extern "C" fn dual_powi(x: &[f64; 2], n: i32, value: &mut [f64; 2], partial: &mut [f64; 2]) {
    let (v, d) = conventions::powi(&pair(x), n);
    put(v, value);
    put(d, partial);
}

/// `ln Σ e^xᵢ` over `len` dual arguments at `xs`, each dual partial
/// written to `partials`.
///
/// # Safety
/// `xs` and `partials` point at `2·len` valid, distinct `f64`s: the
/// compiled code passes two regions of its frame, each laid out for the
/// largest `logsumexp` of the program.
#[allow(unsafe_code)]
pub unsafe extern "C" fn dual_logsumexp(
    xs: *const f64,
    len: usize,
    value: &mut [f64; 2],
    partials: *mut f64,
) {
    // SAFETY: as the function's contract says (the frame is sized so).
    let (xs, partials) = unsafe {
        (
            std::slice::from_raw_parts(xs, 2 * len),
            std::slice::from_raw_parts_mut(partials, 2 * len),
        )
    };
    let args: Vec<Pair> = xs.chunks_exact(2).map(pair).collect();
    let v = conventions::logsumexp(&args, |i, d| put(d, &mut partials[2 * i..]));
    put(v, value);
}

type DualUnary = extern "C" fn(&[f64; 2], &mut [f64; 2], &mut [f64; 2]);
type DualBinary = extern "C" fn(&[f64; 2], &[f64; 2], &mut [f64; 2], &mut [f64; 4], i32);

/// The dual unary helpers, entry `k` for `UnaryOp::ALL[k]`.
const DUAL_UNARY_TABLE: [DualUnary; 20] = [
    dual_unary::<0>,
    dual_unary::<1>,
    dual_unary::<2>,
    dual_unary::<3>,
    dual_unary::<4>,
    dual_unary::<5>,
    dual_unary::<6>,
    dual_unary::<7>,
    dual_unary::<8>,
    dual_unary::<9>,
    dual_unary::<10>,
    dual_unary::<11>,
    dual_unary::<12>,
    dual_unary::<13>,
    dual_unary::<14>,
    dual_unary::<15>,
    dual_unary::<16>,
    dual_unary::<17>,
    dual_unary::<18>,
    dual_unary::<19>,
];

/// The dual binary helpers, entry `k` for `BinaryOp::ALL[k]`.
const DUAL_BINARY_TABLE: [DualBinary; 9] = [
    dual_binary::<0>,
    dual_binary::<1>,
    dual_binary::<2>,
    dual_binary::<3>,
    dual_binary::<4>,
    dual_binary::<5>,
    dual_binary::<6>,
    dual_binary::<7>,
    dual_binary::<8>,
];

/// The address of [`dual_unary`] for `op`.
pub fn dual_unary_address(op: UnaryOp) -> usize {
    DUAL_UNARY_TABLE[index_of(UnaryOp::ALL, op)] as usize
}

/// The address of [`dual_binary`] for `op`.
pub fn dual_binary_address(op: BinaryOp) -> usize {
    DUAL_BINARY_TABLE[index_of(BinaryOp::ALL, op)] as usize
}

/// The unary helpers, entry `k` for `UnaryOp::ALL[k]` (the length is
/// fixed, so a new operation fails to compile until it has its entry).
const UNARY_TABLE: [extern "C" fn(f64, &mut f64) -> f64; 20] = [
    unary::<0>,
    unary::<1>,
    unary::<2>,
    unary::<3>,
    unary::<4>,
    unary::<5>,
    unary::<6>,
    unary::<7>,
    unary::<8>,
    unary::<9>,
    unary::<10>,
    unary::<11>,
    unary::<12>,
    unary::<13>,
    unary::<14>,
    unary::<15>,
    unary::<16>,
    unary::<17>,
    unary::<18>,
    unary::<19>,
];

/// The binary helpers, entry `k` for `BinaryOp::ALL[k]`.
const BINARY_TABLE: [extern "C" fn(f64, f64, &mut [f64; 2]) -> f64; 9] = [
    binary::<0>,
    binary::<1>,
    binary::<2>,
    binary::<3>,
    binary::<4>,
    binary::<5>,
    binary::<6>,
    binary::<7>,
    binary::<8>,
];

/// The address of [`unary`] for `op`.
pub fn unary_address(op: UnaryOp) -> usize {
    UNARY_TABLE[index_of(UnaryOp::ALL, op)] as usize
}

/// The address of [`binary`] for `op`.
pub fn binary_address(op: BinaryOp) -> usize {
    BINARY_TABLE[index_of(BinaryOp::ALL, op)] as usize
}

fn index_of<T: PartialEq>(all: &[T], op: T) -> usize {
    all.iter()
        .position(|o| *o == op)
        .expect("every operation is in ALL")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_table_entry_is_its_operations_rule() {
        assert_eq!(UNARY_TABLE.len(), UnaryOp::ALL.len());
        assert_eq!(BINARY_TABLE.len(), BinaryOp::ALL.len());
        for (k, &op) in UnaryOp::ALL.iter().enumerate() {
            let x = 0.3 + k as f64 * 0.01;
            let mut d = 0.0;
            let got = UNARY_TABLE[k](x, &mut d);
            let (v, dv) = conventions::unary(op, &x);
            assert_eq!(
                (got.to_bits(), d.to_bits()),
                (v.to_bits(), dv.to_bits()),
                "{op}"
            );
            assert_eq!(unary_address(op), UNARY_TABLE[k] as usize);
        }
        for (k, &op) in BinaryOp::ALL.iter().enumerate() {
            let (a, b) = (0.7, -1.3);
            let mut d = [0.0; 2];
            let got = BINARY_TABLE[k](a, b, &mut d);
            let (v, da, db) = conventions::binary(op, &a, &b);
            assert_eq!(
                (got.to_bits(), d[0].to_bits(), d[1].to_bits()),
                (v.to_bits(), da.to_bits(), db.to_bits()),
                "{op}"
            );
            assert_eq!(binary_address(op), BINARY_TABLE[k] as usize);
        }
    }

    #[test]
    fn each_dual_table_entry_is_its_operations_rule_in_dual_numbers() {
        assert_eq!(DUAL_UNARY_TABLE.len(), UnaryOp::ALL.len());
        assert_eq!(DUAL_BINARY_TABLE.len(), BinaryOp::ALL.len());
        let bits = |d: Pair| (d.re.to_bits(), d.eps.0.to_bits());
        for (k, &op) in UnaryOp::ALL.iter().enumerate() {
            let x = [0.3 + k as f64 * 0.01, -0.7];
            let (mut v, mut d) = ([0.0; 2], [0.0; 2]);
            DUAL_UNARY_TABLE[k](&x, &mut v, &mut d);
            let (want_v, want_d) = conventions::unary(op, &pair(&x));
            assert_eq!(bits(pair(&v)), bits(want_v), "{op}");
            assert_eq!(bits(pair(&d)), bits(want_d), "{op}");
            assert_eq!(dual_unary_address(op), DUAL_UNARY_TABLE[k] as usize);
        }
        for (k, &op) in BinaryOp::ALL.iter().enumerate() {
            let (a, b) = ([0.7, 0.25], [-1.3, 2.0]);
            let (mut v, mut d) = ([0.0; 2], [0.0; 4]);
            DUAL_BINARY_TABLE[k](&a, &b, &mut v, &mut d, 0);
            let (want_v, want_a, want_b) = conventions::binary(op, &pair(&a), &pair(&b));
            assert_eq!(bits(pair(&v)), bits(want_v), "{op}");
            assert_eq!(bits(pair(&[d[0], d[1]])), bits(want_a), "{op}");
            assert_eq!(bits(pair(&[d[2], d[3]])), bits(want_b), "{op}");
            // One value read twice: the partials' sum in the first place.
            DUAL_BINARY_TABLE[k](&a, &a, &mut v, &mut d, 1);
            let (_, da, db) = conventions::binary(op, &pair(&a), &pair(&a));
            assert_eq!(bits(pair(&[d[0], d[1]])), bits(da + db), "{op}");
            assert_eq!(dual_binary_address(op), DUAL_BINARY_TABLE[k] as usize);
        }
    }
}
