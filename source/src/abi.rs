//! The functions native code calls: each operation's value and local
//! partials from [`conventions`], so compiled code takes every rule,
//! every kink and edge convention, from the one place the other engines do.
//!
//! Partials are written through `&mut` references that the compiled code
//! points at the slots of its frame; the one helper that reads an
//! argument list takes a pointer and a length, and is the only code here
//! that must trust its caller (see its safety comment).

use adcheck_engines::conventions;
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
}
