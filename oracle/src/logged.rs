//! [`Logged`]: a scalar wrapper that records every decision made on primal
//! values, so the oracle can tell whether two evaluations took one path.
//!
//! The decisions logged are comparisons (branches) and the piece of `abs`,
//! `relu`, `min` and `max` taken. Wrapping `f64` and [`Mp`](crate::Mp) alike
//! gives comparable logs of the engine's path and the exact path.

use adcheck_engines::Scalar;
use std::cell::RefCell;
use std::cmp::Ordering;
use std::ops::{Add, Div, Mul, Neg, Sub};

thread_local! {
    static LOG: RefCell<Option<Vec<i8>>> = const { RefCell::new(None) };
}

/// Runs `body` and returns, beside its result, the outcome of every decision
/// [`Logged`] values made in it, in order (`-1` less, `0` equal, `1`
/// greater, `2` unordered). Logs nest: an inner log is not part of the outer.
pub fn with_branch_log<R>(body: impl FnOnce() -> R) -> (R, Vec<i8>) {
    struct Restore(Option<Vec<i8>>);
    impl Drop for Restore {
        fn drop(&mut self) {
            LOG.with(|log| *log.borrow_mut() = self.0.take());
        }
    }
    let outer = LOG.with(|log| log.borrow_mut().replace(Vec::new()));
    let restore = Restore(outer);
    let result = body();
    let log = LOG.with(|log| log.borrow_mut().take()).unwrap_or_default();
    drop(restore);
    (result, log)
}

/// A scalar whose primal decisions are logged (see [`with_branch_log`]).
#[derive(Clone, Debug, PartialEq)]
pub struct Logged<S>(pub S);

impl<S: Scalar> Logged<S> {
    fn decide(&self, other: &S) -> Option<Ordering> {
        let order = self.0.primal_cmp(other);
        LOG.with(|log| {
            if let Some(log) = log.borrow_mut().as_mut() {
                log.push(match order {
                    Some(Ordering::Less) => -1,
                    Some(Ordering::Equal) => 0,
                    Some(Ordering::Greater) => 1,
                    None => 2,
                });
            }
        });
        order
    }
}

macro_rules! logged_operator {
    ($trait:ident, $method:ident) => {
        impl<S: Scalar> $trait for Logged<S> {
            type Output = Self;
            fn $method(self, rhs: Self) -> Self {
                Logged(self.0.$method(rhs.0))
            }
        }
    };
}
logged_operator!(Add, add);
logged_operator!(Sub, sub);
logged_operator!(Mul, mul);
logged_operator!(Div, div);

impl<S: Scalar> Neg for Logged<S> {
    type Output = Self;
    fn neg(self) -> Self {
        Logged(-self.0)
    }
}

macro_rules! delegate_unary {
    ($($name:ident),*) => {
        $(fn $name(&self) -> Self { Logged(self.0.$name()) })*
    };
}

impl<S: Scalar> Scalar for Logged<S> {
    fn from_f64(c: f64) -> Self {
        Logged(S::from_f64(c))
    }
    fn to_f64(&self) -> f64 {
        self.0.to_f64()
    }
    fn primal_cmp(&self, other: &Self) -> Option<Ordering> {
        self.decide(&other.0)
    }
    fn powi(&self, n: i32) -> Self {
        Logged(self.0.powi(n))
    }
    fn powf(&self, p: &Self) -> Self {
        Logged(self.0.powf(&p.0))
    }
    fn atan2(&self, x: &Self) -> Self {
        Logged(self.0.atan2(&x.0))
    }
    fn hypot(&self, other: &Self) -> Self {
        Logged(self.0.hypot(&other.0))
    }
    fn abs(&self) -> Self {
        self.decide(&S::from_f64(0.0));
        Logged(self.0.abs())
    }
    fn relu(&self) -> Self {
        self.decide(&S::from_f64(0.0));
        Logged(self.0.relu())
    }
    fn min(&self, other: &Self) -> Self {
        self.decide(&other.0);
        Logged(self.0.min(&other.0))
    }
    fn max(&self, other: &Self) -> Self {
        self.decide(&other.0);
        Logged(self.0.max(&other.0))
    }
    fn logsumexp(xs: &[Self]) -> Self {
        let inner: Vec<S> = xs.iter().map(|x| x.0.clone()).collect();
        Logged(S::logsumexp(&inner))
    }
    delegate_unary!(
        recip, sqrt, cbrt, exp, expm1, ln, log1p, sin, cos, tan, asin, acos, atan, sinh, cosh,
        tanh, softplus
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decisions_are_logged_in_order() {
        let x = Logged(-2.0f64);
        let ((), log) = with_branch_log(|| {
            let _ = x.abs();
            let _ = x.max(&Logged(-2.0));
            let _ = x.lt(&Logged(f64::NAN));
            let _ = x.sin();
        });
        assert_eq!(log, vec![-1, 0, 2]);
    }

    #[test]
    fn logs_nest() {
        let x = Logged(1.0f64);
        let (inner, outer) = with_branch_log(|| {
            let _ = x.relu();
            with_branch_log(|| x.abs()).1
        });
        assert_eq!(inner, vec![1]);
        assert_eq!(outer, vec![1]);
    }
}
