//! Local derivative rules, and the conventions at kinks and domain edges.
//!
//! Every built-in engine takes its local derivatives from this one module, so
//! forward and reverse mode agree by construction on what a derivative *is* at
//! a point where the mathematics leaves a choice. The oracle does not use this
//! module: it derives its references independently, and where the derivative
//! is not one value it computes the admissible set itself; the table below is
//! adcheck's declared choice inside that set.
//!
//! What JAX 0.10.2 and PyTorch 2.15.0 (CPU, float64) answer at the same
//! points is measured, not recalled: `python3 docs/conformance/conventions.py
//! jax|pytorch` asks each framework directly (its own functions and
//! autodiff). adcheck's declared value is one admissible choice; the oracle
//! accepts any admissible one as a `convention`.
//!
//! | operation | point | adcheck | JAX 0.10.2 | PyTorch 2.15.0 |
//! |---|---|---|---|---|
//! | `abs x` | `x = ±0` | `0` (`sign(0) = 0`) | `1` | `0` |
//! | `relu x` | `x = 0` | `0` | `0` | `0` |
//! | `max(a, b)`, `min(a, b)` | `a = b` | `½` to each argument (the value is `a + (b − a)/2`, so a dual part is averaged too) | `½, ½` | `½, ½` |
//! | `sqrt x` | `x = 0` | `+∞` | `+∞` | `+∞` |
//! | `cbrt x` | `x = 0` | `+∞` | `+∞` | (no `cbrt`) |
//! | `ln x`, `recip x` | `x = 0` | `1/x` and `−1/x²` (`+∞`, `−∞`) | `+∞`, `−∞` | `+∞`, `−∞` |
//! | `asin x`, `acos x` | `x = 1`, `x = −1` | `+∞`, `−∞` | `+∞`, `−∞` | `+∞`, `−∞` |
//! | `powf(a, b)`, ∇ | `(2, 0)` | `(0, ln 2)` | `(0, ln 2)` | `(0, ln 2)` |
//! | `powf(a, b)`, ∇ | `(0, 0)` | `(0, 0)` (`b·a^(b−1)` masked where it is `0·∞`; `aᵇ·ln a` masked at `a = 0 ≤ b`) | `(NaN, 0)` | `(0, 0)` |
//! | `powf(a, b)`, ∇ | `a = 0`, `b` = ½, 1, 2 | `(+∞, 0)`, `(1, 0)`, `(0, 0)` | the same | the same |
//! | `powf(a, b)`, ∂/∂b | `a < 0` | `NaN` (`aᵇ·ln a`; not defined near integer `b`) | `NaN` | `NaN` |
//! | `powi(x, n)` | `n = 0`, `x = 0` | `0` | `0` | `0` |
//! | `atan2(y, x)` | `x = y = 0` | `NaN` for both (`0/0`) | `NaN, NaN` | `0, −0` |
//! | `hypot(a, b)` | `a = b = 0` | `0` for both (a subgradient) | `½, ½` (`hypot`; `linalg.norm`: `NaN, NaN`) | `NaN, NaN` (`hypot`; `linalg.vector_norm`: `0, 0`) |
//! | `logsumexp(x)` | every entry `−∞` | the entries equal to the result share `1` equally | `NaN` | `NaN` |
//! | `select` (branch) | any | the derivative of the side taken; the comparison is not differentiated | the same (`where`) | the same (`where`) |
//! | any | tangent, adjoint or local partial exactly `0` | contributes `0`, even through a non-finite partial or adjoint | `NaN` (`where(0 < x, √x, 0)′` at −1; `0·asin x` at 1; `√(relu x)′` at −1) | `NaN` (the same) |
//!
//! The last row is what keeps an unused intermediate at a singular point,
//! such as `ln 0` in a branch not taken, from turning a gradient into NaN
//! through `0·∞`; and what makes a value that is constant near the point
//! (`relu` of a negative value, `acos(x⁰)`) have derivative 0 in reverse
//! mode as in forward mode, as the oracle's references say (the tape's
//! sweep skips an edge whose partial is exactly zero).
//!
//! Accuracy choices: `tanh′` is computed as `sech²` (not `1 − tanh²`, which
//! loses every bit for large arguments) with `sech = 2e^−|x|/(1 + e^−2|x|)`,
//! which does not overflow, the softplus derivative as a stable
//! sigmoid, the `logsumexp` partials as `exp(xᵢ − result)`, and the inverse
//! trigonometric derivatives from `(1 − x)(1 + x)` rather than `1 − x²`.

use crate::ops::{BinaryOp, UnaryOp};
use crate::Scalar;
use std::cmp::Ordering;

#[inline(always)]
fn c<T: Scalar>(v: f64) -> T {
    T::from_f64(v)
}

/// The value and derivative of a unary operation at `x`.
#[inline(always)]
pub fn unary<T: Scalar>(op: UnaryOp, x: &T) -> (T, T) {
    match op {
        UnaryOp::Neg => (-x.clone(), c(-1.0)),
        UnaryOp::Recip => {
            let v = x.recip();
            let d = -(v.clone() * v.clone());
            (v, d)
        }
        UnaryOp::Sqrt => {
            let v = x.sqrt();
            let d = c::<T>(0.5) / v.clone();
            (v, d)
        }
        UnaryOp::Cbrt => {
            let v = x.cbrt();
            let d = (c::<T>(3.0) * v.clone() * v.clone()).recip();
            (v, d)
        }
        UnaryOp::Exp => {
            let v = x.exp();
            (v.clone(), v)
        }
        UnaryOp::Expm1 => (x.expm1(), x.exp()),
        UnaryOp::Ln => (x.ln(), x.recip()),
        UnaryOp::Log1p => (x.log1p(), (c::<T>(1.0) + x.clone()).recip()),
        UnaryOp::Sin => (x.sin(), x.cos()),
        UnaryOp::Cos => (x.cos(), -x.sin()),
        UnaryOp::Tan => {
            let v = x.tan();
            let d = c::<T>(1.0) + v.clone() * v.clone();
            (v, d)
        }
        UnaryOp::Asin => (x.asin(), one_minus_square(x).sqrt().recip()),
        UnaryOp::Acos => (x.acos(), -one_minus_square(x).sqrt().recip()),
        UnaryOp::Atan => (x.atan(), (c::<T>(1.0) + x.clone() * x.clone()).recip()),
        UnaryOp::Sinh => (x.sinh(), x.cosh()),
        UnaryOp::Cosh => (x.cosh(), x.sinh()),
        UnaryOp::Tanh => {
            // sech = 2e^−|x| / (1 + e^−2|x|): never overflows, so its own
            // derivative (forward over reverse) stays finite at large |x|.
            let decay = (-x.abs()).exp();
            let sech = c::<T>(2.0) * decay.clone() / (c::<T>(1.0) + decay.clone() * decay);
            (x.tanh(), sech.clone() * sech)
        }
        UnaryOp::Abs => {
            let d = match x.primal_cmp(&c(0.0)) {
                Some(Ordering::Greater) => c(1.0),
                Some(Ordering::Less) => c(-1.0),
                Some(Ordering::Equal) => c(0.0),
                None => c(f64::NAN),
            };
            (x.abs(), d)
        }
        UnaryOp::Relu => {
            let d = match x.primal_cmp(&c(0.0)) {
                Some(Ordering::Greater) => c(1.0),
                Some(_) => c(0.0),
                None => c(f64::NAN),
            };
            (x.relu(), d)
        }
        UnaryOp::Softplus => (x.softplus(), sigmoid(x)),
    }
}

/// `(1 − x)(1 + x)`, which keeps its bits near `x = ±1`.
#[inline]
fn one_minus_square<T: Scalar>(x: &T) -> T {
    (c::<T>(1.0) - x.clone()) * (c::<T>(1.0) + x.clone())
}

/// The logistic function `1 / (1 + e^-x)`, evaluated without overflow.
#[inline]
fn sigmoid<T: Scalar>(x: &T) -> T {
    if x.ge(&c(0.0)) {
        (c::<T>(1.0) + (-x.clone()).exp()).recip()
    } else {
        let e = x.exp();
        e.clone() / (c::<T>(1.0) + e)
    }
}

/// The value and the two partial derivatives of a binary operation.
#[inline(always)]
pub fn binary<T: Scalar>(op: BinaryOp, a: &T, b: &T) -> (T, T, T) {
    match op {
        BinaryOp::Add => (a.clone() + b.clone(), c(1.0), c(1.0)),
        BinaryOp::Sub => (a.clone() - b.clone(), c(1.0), c(-1.0)),
        BinaryOp::Mul => (a.clone() * b.clone(), b.clone(), a.clone()),
        BinaryOp::Div => {
            let v = a.clone() / b.clone();
            let db = -(v.clone() / b.clone());
            (v, b.recip(), db)
        }
        BinaryOp::Powf => {
            let v = a.powf(b);
            // b·a^(b−1) is 0·∞ = NaN only at a = b = 0; mask just there, so
            // the rule stays differentiable in b (for second derivatives).
            // (b/a)·aᵇ reuses the value and keeps its bits: b·a^(b−1) loses
            // |ln a|·ε to the rounding of b − 1 (44 bits at a = 1e200,
            // b = −1.1e−16). Where b/a leaves the normal range (a = 5e−324,
            // b = ½), b·(aᵇ/a); where aᵇ itself is not normal (a = 1e−300,
            // b = 1.1) or a = 0, b·a^(b−1).
            let normal = |t: &T| {
                let t = t.to_f64().abs();
                t.is_finite() && t >= f64::MIN_POSITIVE
            };
            let da = if b.is_zero() && a.is_zero() {
                c(0.0)
            } else if a.is_zero() || !normal(&v) {
                b.clone() * a.powf(&(b.clone() - c(1.0)))
            } else {
                let ratio = b.clone() / a.clone();
                if normal(&ratio) || ratio.is_zero() {
                    ratio * v.clone()
                } else {
                    let scaled = v.clone() / a.clone();
                    if normal(&scaled) {
                        b.clone() * scaled
                    } else {
                        b.clone() * a.powf(&(b.clone() - c(1.0)))
                    }
                }
            };
            let db = if a.is_zero() && b.ge(&c(0.0)) {
                c(0.0)
            } else {
                v.clone() * a.ln()
            };
            (v, da, db)
        }
        BinaryOp::Atan2 => {
            // atan2(y, x): ∂/∂y = x/r², ∂/∂x = −y/r², scaled by r to avoid overflow.
            let r = a.hypot(b);
            let dy = (b.clone() / r.clone()) / r.clone();
            let dx = (-(a.clone() / r.clone())) / r;
            (a.atan2(b), dy, dx)
        }
        BinaryOp::Min => select_extreme(a, b, Ordering::Less),
        BinaryOp::Max => select_extreme(a, b, Ordering::Greater),
        BinaryOp::Hypot => {
            let h = a.hypot(b);
            if h.is_zero() {
                (h, c(0.0), c(0.0))
            } else {
                let da = a.clone() / h.clone();
                let db = b.clone() / h.clone();
                (h, da, db)
            }
        }
    }
}

/// `min` (want `Less`) or `max` (want `Greater`) with the tie rule of the table.
#[inline]
fn select_extreme<T: Scalar>(a: &T, b: &T, want: Ordering) -> (T, T, T) {
    match a.primal_cmp(b) {
        // a + (b − a)/2 is a in value, and averages any tangent it carries,
        // consistently with the ½, ½ partials.
        Some(Ordering::Equal) => (a.clone() + (b.clone() - a.clone()) * c(0.5), c(0.5), c(0.5)),
        Some(o) if o == want => (a.clone(), c(1.0), c(0.0)),
        Some(_) => (b.clone(), c(0.0), c(1.0)),
        None => (c(f64::NAN), c(f64::NAN), c(f64::NAN)),
    }
}

/// The value and derivative of `x^n` for an integer `n`.
#[inline]
pub fn powi<T: Scalar>(x: &T, n: i32) -> (T, T) {
    let d = match n {
        0 => c(0.0),
        // n − 1 does not fit an i32 (it would wrap to i32::MAX), and
        // x^(n−1) = x^n / x.
        i32::MIN => c::<T>(f64::from(n)) * (x.powi(n) / x.clone()),
        _ => c::<T>(f64::from(n)) * x.powi(n - 1),
    };
    (x.powi(n), d)
}

/// The value of `logsumexp(xs)`, and each partial derivative handed to
/// `partial(i, ∂/∂xᵢ)`: the softmax `exp(xᵢ − m) / Σ exp(xⱼ − m)` shifted by
/// the largest entry `m`, so huge entries neither overflow nor lose bits.
#[inline]
pub fn logsumexp<T: Scalar>(xs: &[T], mut partial: impl FnMut(usize, T)) -> T {
    let v = T::logsumexp(xs);
    if v.to_f64().is_infinite() {
        let k = xs.iter().filter(|x| x.eq_primal(&v)).count().max(1);
        let share = 1.0 / k as f64;
        for (i, x) in xs.iter().enumerate() {
            partial(i, c(if x.eq_primal(&v) { share } else { 0.0 }));
        }
    } else {
        let m = xs
            .iter()
            .fold(&xs[0], |m, x| if x.gt(m) { x } else { m })
            .clone();
        let shifted: Vec<T> = xs.iter().map(|x| (x.clone() - m.clone()).exp()).collect();
        let total = shifted
            .iter()
            .skip(1)
            .fold(shifted[0].clone(), |s, e| s + e.clone());
        for (i, e) in shifted.into_iter().enumerate() {
            partial(i, e / total.clone());
        }
    }
    v
}

/// `partial · tangent`, except that an exactly zero tangent gives zero even
/// when the partial is infinite or NaN (the last row of the table).
#[inline(always)]
pub fn chain(partial: f64, tangent: f64) -> f64 {
    if tangent == 0.0 {
        0.0
    } else {
        partial * tangent
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kink_conventions() {
        assert_eq!(unary(UnaryOp::Abs, &0.0).1, 0.0);
        assert_eq!(unary(UnaryOp::Abs, &-0.0).1, 0.0);
        assert_eq!(unary(UnaryOp::Relu, &0.0).1, 0.0);
        assert_eq!(binary(BinaryOp::Max, &2.0, &2.0), (2.0, 0.5, 0.5));
        assert_eq!(binary(BinaryOp::Min, &2.0, &2.0), (2.0, 0.5, 0.5));
        assert_eq!(unary(UnaryOp::Sqrt, &0.0).1, f64::INFINITY);
        assert_eq!(binary(BinaryOp::Hypot, &0.0, &0.0), (0.0, 0.0, 0.0));
        let (_, dy, dx) = binary(BinaryOp::Atan2, &0.0, &0.0);
        assert!(dy.is_nan() && dx.is_nan());
        assert_eq!(powi(&0.0, 0), (1.0, 0.0));
    }

    #[test]
    fn pow_at_zero_base() {
        assert_eq!(
            binary(BinaryOp::Powf, &0.0, &0.5),
            (0.0, f64::INFINITY, 0.0)
        );
        assert_eq!(binary(BinaryOp::Powf, &0.0, &2.0), (0.0, 0.0, 0.0));
        assert_eq!(binary(BinaryOp::Powf, &0.0, &2.5), (0.0, 0.0, 0.0));
        assert_eq!(binary(BinaryOp::Powf, &0.0, &0.0), (1.0, 0.0, 0.0));
        assert_eq!(binary(BinaryOp::Powf, &0.0, &1.0), (0.0, 1.0, 0.0));
        let (v, da, db) = binary(BinaryOp::Powf, &-2.0, &3.0);
        assert_eq!((v, da), (-8.0, 12.0));
        assert!(db.is_nan());
    }

    #[test]
    fn logsumexp_partials_are_stable() {
        let mut p = vec![0.0; 2];
        let v = logsumexp(&[1000.0, 1000.0], |i, d| p[i] = d);
        assert_eq!(v, 1000.0 + std::f64::consts::LN_2);
        assert_eq!(p, vec![0.5, 0.5]);
        let mut p = vec![0.0; 4];
        let v = logsumexp(&[f64::NEG_INFINITY; 4], |i, d| p[i] = d);
        assert_eq!(v, f64::NEG_INFINITY);
        assert_eq!(p, vec![0.25; 4]);
    }

    #[test]
    fn tanh_derivative_keeps_bits_for_large_arguments() {
        let (_, d) = unary(UnaryOp::Tanh, &20.0);
        let exact = 4.0 * (-40.0f64).exp() / (1.0 + (-40.0f64).exp()).powi(2);
        assert!((d - exact).abs() <= 4.0 * f64::EPSILON * exact);
    }

    #[test]
    fn chain_treats_zero_tangent_as_structural() {
        assert_eq!(chain(f64::INFINITY, 0.0), 0.0);
        assert_eq!(chain(f64::NAN, 0.0), 0.0);
        assert_eq!(chain(2.0, 3.0), 6.0);
    }
}
