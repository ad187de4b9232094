//! Forward mode: dual numbers `a + bε` with `ε² = 0`.
//!
//! [`Dual<f64>`] carries one tangent beside each value; [`Dual<[f64; K]>`]
//! carries `K` tangents, so a Jacobian costs `⌈n / K⌉` passes. Both are plain
//! `Copy` values: no allocation or indirection per operation. Local
//! derivatives come from [`crate::conventions`] (one table for all engines).
//!
//! **Two speeds, one answer.** adcheck's convention is that an exactly zero
//! tangent times an infinite or NaN partial is 0 ([`conventions::chain`]).
//! Testing every product for it costs a compare and a select per
//! operation and keeps the compiler from scheduling the tangent arithmetic
//! freely, so the tangents of `f64` and `[f64; K]` are plain arithmetic:
//! there `0 · ∞` is NaN, as in IEEE. The entry points ([`jvp`],
//! [`jacobian`], [`ForwardEngine`]) run the plain pass and, only when a
//! tangent of the result is NaN, run the pass again on [`Strict`] tangents,
//! which apply the zero rule at every product. Where no NaN reaches the
//! result the two passes agree but for the sign of a zero (a plain
//! `p · 0` may be `−0`), because the rule only ever changes a product whose
//! tangent is exactly zero, and that product is `±0` or NaN; a NaN that a
//! selection drops does not reach the result in either pass.

use crate::conventions::{self, chain};
use crate::engine::{CallStats, Capabilities, Derivative, Engine, EngineError};
use crate::ops::{BinaryOp, UnaryOp};
use crate::{Differentiable, Program, Scalar};
use std::cmp::Ordering;
use std::fmt::Debug;

/// How many directions [`ForwardEngine::jacobian`] carries in one pass.
pub const JACOBIAN_CHUNK: usize = 8;

/// The tangent part of a dual number: one direction (`f64`) or `K`
/// (`[f64; K]`), plain IEEE arithmetic, or either under the zero rule
/// ([`Strict`]).
pub trait Tangent: Copy + Debug + PartialEq {
    /// The zero tangent (a constant).
    const ZERO: Self;
    /// `partial · self`.
    fn chain(self, partial: f64) -> Self;
    /// `pa · self + pb · other`.
    fn chain2(self, pa: f64, other: Self, pb: f64) -> Self;
    /// `self + partial · other`.
    fn accumulate(&mut self, partial: f64, other: Self);
    /// Whether every component is exactly zero.
    fn is_zero(&self) -> bool;
    /// Whether a component is NaN.
    fn has_nan(&self) -> bool;
}

impl Tangent for f64 {
    const ZERO: Self = 0.0;
    #[inline]
    fn chain(self, partial: f64) -> Self {
        partial * self
    }
    #[inline]
    fn chain2(self, pa: f64, other: Self, pb: f64) -> Self {
        pa * self + pb * other
    }
    #[inline]
    fn accumulate(&mut self, partial: f64, other: Self) {
        *self += partial * other;
    }
    #[inline]
    fn is_zero(&self) -> bool {
        *self == 0.0
    }
    #[inline]
    fn has_nan(&self) -> bool {
        self.is_nan()
    }
}

impl<const K: usize> Tangent for [f64; K] {
    const ZERO: Self = [0.0; K];
    #[inline]
    fn chain(self, partial: f64) -> Self {
        self.map(|t| partial * t)
    }
    #[inline]
    fn chain2(self, pa: f64, other: Self, pb: f64) -> Self {
        let mut out = [0.0; K];
        for k in 0..K {
            out[k] = pa * self[k] + pb * other[k];
        }
        out
    }
    #[inline]
    fn accumulate(&mut self, partial: f64, other: Self) {
        for k in 0..K {
            self[k] += partial * other[k];
        }
    }
    #[inline]
    fn is_zero(&self) -> bool {
        self.iter().all(|t| *t == 0.0)
    }
    #[inline]
    fn has_nan(&self) -> bool {
        self.iter().any(|t| t.is_nan())
    }
}

/// Tangents under adcheck's zero rule: a component that is exactly zero
/// stays zero whatever the partial ([`conventions::chain`]), so a constant
/// never turns into NaN through an infinite partial.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Strict<V>(pub V);

impl Tangent for Strict<f64> {
    const ZERO: Self = Strict(0.0);
    #[inline]
    fn chain(self, partial: f64) -> Self {
        Strict(chain(partial, self.0))
    }
    #[inline]
    fn chain2(self, pa: f64, other: Self, pb: f64) -> Self {
        Strict(chain(pa, self.0) + chain(pb, other.0))
    }
    #[inline]
    fn accumulate(&mut self, partial: f64, other: Self) {
        self.0 += chain(partial, other.0);
    }
    #[inline]
    fn is_zero(&self) -> bool {
        self.0 == 0.0
    }
    #[inline]
    fn has_nan(&self) -> bool {
        self.0.is_nan()
    }
}

impl<const K: usize> Tangent for Strict<[f64; K]> {
    const ZERO: Self = Strict([0.0; K]);
    #[inline]
    fn chain(self, partial: f64) -> Self {
        Strict(self.0.map(|t| chain(partial, t)))
    }
    #[inline]
    fn chain2(self, pa: f64, other: Self, pb: f64) -> Self {
        Strict(std::array::from_fn(|k| {
            chain(pa, self.0[k]) + chain(pb, other.0[k])
        }))
    }
    #[inline]
    fn accumulate(&mut self, partial: f64, other: Self) {
        for k in 0..K {
            self.0[k] += chain(partial, other.0[k]);
        }
    }
    #[inline]
    fn is_zero(&self) -> bool {
        self.0.iter().all(|t| *t == 0.0)
    }
    #[inline]
    fn has_nan(&self) -> bool {
        self.0.iter().any(|t| t.is_nan())
    }
}

/// A dual number: the value `re` and its tangent(s) `eps`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Dual<V = f64> {
    /// The primal value.
    pub re: f64,
    /// The directional derivative(s) of the value.
    pub eps: V,
}

impl<V: Tangent> Dual<V> {
    /// A value with tangent(s) `eps`.
    pub fn new(re: f64, eps: V) -> Self {
        Dual { re, eps }
    }

    #[inline(always)]
    fn unary(&self, op: UnaryOp) -> Self {
        let (re, d) = conventions::unary(op, &self.re);
        Dual {
            re,
            eps: self.eps.chain(d),
        }
    }

    #[inline(always)]
    fn binary(&self, op: BinaryOp, other: &Self) -> Self {
        let (re, da, db) = conventions::binary(op, &self.re, &other.re);
        Dual {
            re,
            eps: self.eps.chain2(da, other.eps, db),
        }
    }
}

/// Implements `+ − × ÷` and negation for an active type by forwarding them to
/// its `binary(BinaryOp::…, &rhs)` and `unary(UnaryOp::Neg)` methods:
/// `scalar_operators!(impl [V: Tangent] Dual<V>)`.
#[macro_export]
#[doc(hidden)]
macro_rules! scalar_operators {
    (impl [$($generics:tt)*] $ty:ty) => {
        impl<$($generics)*> ::std::ops::Add for $ty {
            type Output = Self;
            #[inline(always)]
            fn add(self, rhs: Self) -> Self {
                self.binary($crate::ops::BinaryOp::Add, &rhs)
            }
        }
        impl<$($generics)*> ::std::ops::Sub for $ty {
            type Output = Self;
            #[inline(always)]
            fn sub(self, rhs: Self) -> Self {
                self.binary($crate::ops::BinaryOp::Sub, &rhs)
            }
        }
        impl<$($generics)*> ::std::ops::Mul for $ty {
            type Output = Self;
            #[inline(always)]
            fn mul(self, rhs: Self) -> Self {
                self.binary($crate::ops::BinaryOp::Mul, &rhs)
            }
        }
        impl<$($generics)*> ::std::ops::Div for $ty {
            type Output = Self;
            #[inline(always)]
            fn div(self, rhs: Self) -> Self {
                self.binary($crate::ops::BinaryOp::Div, &rhs)
            }
        }
        impl<$($generics)*> ::std::ops::Neg for $ty {
            type Output = Self;
            #[inline(always)]
            fn neg(self) -> Self {
                self.unary($crate::ops::UnaryOp::Neg)
            }
        }
    };
}

/// Implements the unary and binary methods of [`Scalar`] by forwarding each to
/// `self.$unary(UnaryOp::…)` / `self.$binary(BinaryOp::…, other)`. Shared by
/// every active type whose rules are "apply the op, record the partials".
#[macro_export]
#[doc(hidden)]
macro_rules! forward_scalar_ops {
    ($unary:ident, $binary:ident) => {
        fn recip(&self) -> Self {
            self.$unary($crate::ops::UnaryOp::Recip)
        }
        fn sqrt(&self) -> Self {
            self.$unary($crate::ops::UnaryOp::Sqrt)
        }
        fn cbrt(&self) -> Self {
            self.$unary($crate::ops::UnaryOp::Cbrt)
        }
        fn exp(&self) -> Self {
            self.$unary($crate::ops::UnaryOp::Exp)
        }
        fn expm1(&self) -> Self {
            self.$unary($crate::ops::UnaryOp::Expm1)
        }
        fn ln(&self) -> Self {
            self.$unary($crate::ops::UnaryOp::Ln)
        }
        fn log1p(&self) -> Self {
            self.$unary($crate::ops::UnaryOp::Log1p)
        }
        fn sin(&self) -> Self {
            self.$unary($crate::ops::UnaryOp::Sin)
        }
        fn cos(&self) -> Self {
            self.$unary($crate::ops::UnaryOp::Cos)
        }
        fn tan(&self) -> Self {
            self.$unary($crate::ops::UnaryOp::Tan)
        }
        fn asin(&self) -> Self {
            self.$unary($crate::ops::UnaryOp::Asin)
        }
        fn acos(&self) -> Self {
            self.$unary($crate::ops::UnaryOp::Acos)
        }
        fn atan(&self) -> Self {
            self.$unary($crate::ops::UnaryOp::Atan)
        }
        fn sinh(&self) -> Self {
            self.$unary($crate::ops::UnaryOp::Sinh)
        }
        fn cosh(&self) -> Self {
            self.$unary($crate::ops::UnaryOp::Cosh)
        }
        fn tanh(&self) -> Self {
            self.$unary($crate::ops::UnaryOp::Tanh)
        }
        fn abs(&self) -> Self {
            self.$unary($crate::ops::UnaryOp::Abs)
        }
        fn relu(&self) -> Self {
            self.$unary($crate::ops::UnaryOp::Relu)
        }
        fn softplus(&self) -> Self {
            self.$unary($crate::ops::UnaryOp::Softplus)
        }
        fn powf(&self, p: &Self) -> Self {
            self.$binary($crate::ops::BinaryOp::Powf, p)
        }
        fn atan2(&self, x: &Self) -> Self {
            self.$binary($crate::ops::BinaryOp::Atan2, x)
        }
        fn min(&self, other: &Self) -> Self {
            self.$binary($crate::ops::BinaryOp::Min, other)
        }
        fn max(&self, other: &Self) -> Self {
            self.$binary($crate::ops::BinaryOp::Max, other)
        }
        fn hypot(&self, other: &Self) -> Self {
            self.$binary($crate::ops::BinaryOp::Hypot, other)
        }
    };
}

scalar_operators!(impl [V: Tangent] Dual<V>);

impl<V: Tangent> Scalar for Dual<V> {
    #[inline]
    fn from_f64(c: f64) -> Self {
        Dual {
            re: c,
            eps: V::ZERO,
        }
    }
    #[inline]
    fn to_f64(&self) -> f64 {
        self.re
    }
    #[inline]
    fn primal_cmp(&self, other: &Self) -> Option<Ordering> {
        self.re.partial_cmp(&other.re)
    }
    #[inline]
    fn powi(&self, n: i32) -> Self {
        let (re, d) = conventions::powi(&self.re, n);
        Dual {
            re,
            eps: self.eps.chain(d),
        }
    }
    fn logsumexp(xs: &[Self]) -> Self {
        let values: Vec<f64> = xs.iter().map(|x| x.re).collect();
        let mut eps = V::ZERO;
        let re = conventions::logsumexp(&values, |i, d| eps.accumulate(d, xs[i].eps));
        Dual { re, eps }
    }
    forward_scalar_ops!(unary, binary);
}

/// Evaluates `f` at `x` with tangent `v`: the primal and `J·v` in one pass.
pub fn jvp<F: Differentiable + ?Sized>(
    f: &F,
    x: &[f64],
    v: &[f64],
) -> Result<(Vec<f64>, Vec<f64>), EngineError> {
    EngineError::check_point(f, x)?;
    // The seed is checked as the duals are made (one pass over `v`, not
    // two); `check_seed` names what is wrong.
    let mut fits = v.len() == f.n_inputs();
    let duals: Vec<Dual> = x
        .iter()
        .zip(v)
        .map(|(&re, &eps)| {
            fits &= eps.is_finite();
            Dual { re, eps }
        })
        .collect();
    if !fits {
        EngineError::check_seed("direction v", v, f.n_inputs())?;
    }
    let out = f.eval(&duals);
    if out.iter().any(|d| d.eps.is_nan()) {
        // Perhaps 0·∞ on the way: the pass again under the zero rule.
        let duals: Vec<Dual<Strict<f64>>> = duals
            .iter()
            .map(|d| Dual::new(d.re, Strict(d.eps)))
            .collect();
        let out = f.eval(&duals);
        return Ok((
            out.iter().map(|d| d.re).collect(),
            out.iter().map(|d| d.eps.0).collect(),
        ));
    }
    Ok((
        out.iter().map(|d| d.re).collect(),
        out.iter().map(|d| d.eps).collect(),
    ))
}

/// The primal and the Jacobian (row-major `m × n`) by `⌈n / K⌉` passes of
/// `K`-direction duals; the second value is the number of passes.
pub fn jacobian<const K: usize, F: Differentiable + ?Sized>(
    f: &F,
    x: &[f64],
) -> Result<(Vec<f64>, Vec<f64>, u64), EngineError> {
    EngineError::check_point(f, x)?;
    let (n, m) = (f.n_inputs(), f.n_outputs());
    let mut jac = vec![0.0; n * m];
    let mut primal = Vec::new();
    let mut passes = 0;
    let mut duals: Vec<Dual<[f64; K]>> = x.iter().map(|&re| Dual::new(re, [0.0; K])).collect();
    for first in (0..n.max(1)).step_by(K) {
        for (j, d) in duals.iter_mut().enumerate() {
            d.eps = [0.0; K];
            if (first..first + K).contains(&j) {
                d.eps[j - first] = 1.0;
            }
        }
        let mut out: Vec<(f64, [f64; K])> = f.eval(&duals).iter().map(|d| (d.re, d.eps)).collect();
        passes += 1;
        if out.iter().any(|(_, eps)| eps.has_nan()) {
            // Perhaps 0·∞ on the way: this pass again under the zero rule.
            let strict: Vec<Dual<Strict<[f64; K]>>> = duals
                .iter()
                .map(|d| Dual::new(d.re, Strict(d.eps)))
                .collect();
            out = f.eval(&strict).iter().map(|d| (d.re, d.eps.0)).collect();
            passes += 1;
        }
        for (i, (_, eps)) in out.iter().enumerate() {
            for k in 0..K.min(n.saturating_sub(first)) {
                jac[i * n + first + k] = eps[k];
            }
        }
        primal = out.iter().map(|(re, _)| *re).collect();
    }
    Ok((primal, jac, passes))
}

/// The forward-mode engine: `jvp` in one pass; `vjp` and the Jacobian by
/// `⌈n / 8⌉` passes of vector duals.
#[derive(Clone, Copy, Debug, Default)]
pub struct ForwardEngine;

impl Engine for ForwardEngine {
    fn name(&self) -> &str {
        "forward"
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            forward: true,
            reverse: false,
            hvp: false,
            reverse_bitwise: false,
        }
    }

    fn jvp(&self, p: &Program, x: &[f64], v: &[f64]) -> Result<Derivative, EngineError> {
        let (primal, derivative) = jvp(p, x, v)?;
        Ok(Derivative {
            primal,
            derivative,
            stats: CallStats {
                forward_passes: 1,
                ..CallStats::default()
            },
        })
    }

    fn vjp(&self, p: &Program, x: &[f64], u: &[f64]) -> Result<Derivative, EngineError> {
        EngineError::check_point(p, x)?;
        EngineError::check_seed("cotangent u", u, p.n_outputs())?;
        let mut d = self.jacobian(p, x)?;
        let n = p.n_inputs();
        let mut out = vec![0.0; n];
        for (i, &ui) in u.iter().enumerate() {
            for (j, o) in out.iter_mut().enumerate() {
                *o += chain(d.derivative[i * n + j], ui);
            }
        }
        d.derivative = out;
        Ok(d)
    }

    fn jacobian(&self, p: &Program, x: &[f64]) -> Result<Derivative, EngineError> {
        let (primal, derivative, passes) = jacobian::<JACOBIAN_CHUNK, _>(p, x)?;
        Ok(Derivative {
            primal,
            derivative,
            stats: CallStats {
                forward_passes: passes,
                ..CallStats::default()
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vector_duals_match_scalar_duals_bitwise() {
        let p = Program::parse(
            "input a b c\nd = mul a b\ne = atan2 d c\nf = logsumexp a e c\ng = tanh f\noutput g d",
        )
        .unwrap();
        let x = [0.3, -1.1, 2.5];
        let (_, jac, passes) = jacobian::<2, _>(&p, &x).unwrap();
        assert_eq!(passes, 2);
        for j in 0..3 {
            let mut v = [0.0; 3];
            v[j] = 1.0;
            let (_, column) = jvp(&p, &x, &v).unwrap();
            for i in 0..2 {
                assert_eq!(jac[i * 3 + j].to_bits(), column[i].to_bits());
            }
        }
    }

    #[test]
    fn a_zero_tangent_passes_a_singular_point_unharmed() {
        // ∂/∂x of x + sqrt(y) at y = 0 is 1, though sqrt′(0) = ∞.
        let p = Program::parse("input x y\ns = sqrt y\nz = add x s\noutput z").unwrap();
        // The plain pass meets 0·∞ = NaN; the entry points rerun it strictly.
        let plain = p.eval(&[Dual::new(1.0, 1.0), Dual::new(0.0, 0.0)]);
        assert!(plain[0].eps.is_nan());
        let (_, d) = jvp(&p, &[1.0, 0.0], &[1.0, 0.0]).unwrap();
        assert_eq!(d, vec![1.0]);
        let (_, jac, passes) = jacobian::<2, _>(&p, &[1.0, 0.0]).unwrap();
        assert_eq!(jac, vec![1.0, f64::INFINITY]);
        assert_eq!(passes, 2, "one plain pass and its strict rerun");
    }
}
