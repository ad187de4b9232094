//! The built-in rules, with the planted bug applied.

use crate::Bug;
use adcheck_engines::conventions;
use adcheck_engines::ops::{BinaryOp, UnaryOp};

/// Value and derivative of a unary operation under `bug`.
pub fn unary(bug: Bug, op: UnaryOp, x: f64) -> (f64, f64) {
    let (v, d) = conventions::unary(op, &x);
    match (bug, op) {
        (Bug::CosSignFlipped, UnaryOp::Cos) => (v, -d),
        (Bug::SqrtOriginConvention, UnaryOp::Sqrt) if x == 0.0 => (v, 0.0),
        (Bug::AbsOriginNaN, UnaryOp::Abs) => (v, x / x.abs()),
        (Bug::ReluOriginNaN, UnaryOp::Relu) => (v, (1.0 + x / x.abs()) / 2.0),
        (Bug::Log1pNaive, UnaryOp::Log1p) => ((1.0 + x).ln(), d),
        (Bug::Expm1Naive, UnaryOp::Expm1) => (x.exp() - 1.0, d),
        (Bug::TanhNaive, UnaryOp::Tanh) => (v, 1.0 - v * v),
        (Bug::SoftplusNaive, UnaryOp::Softplus) => (v, x.exp() / (1.0 + x.exp())),
        _ => (v, d),
    }
}

/// Value and partials of a binary operation under `bug`.
pub fn binary(bug: Bug, op: BinaryOp, a: f64, b: f64) -> (f64, f64, f64) {
    let (v, da, db) = conventions::binary(op, &a, &b);
    match (bug, op) {
        (Bug::ConstantBasePowerRule, BinaryOp::Powf) => (v, da, b * a.powf(b - 1.0)),
        (Bug::PowZeroBaseNaN, BinaryOp::Powf) if a == 0.0 => (v, b * a.powf(b - 1.0), v * a.ln()),
        (Bug::Atan2OriginConvention, BinaryOp::Atan2) if a == 0.0 && b == 0.0 => (v, 0.0, 0.0),
        (Bug::Atan2Naive, BinaryOp::Atan2) => {
            let r = a * a + b * b;
            (v, b / r, -a / r)
        }
        (Bug::TieSendsNothing, BinaryOp::Min | BinaryOp::Max) if a == b => (v, 0.0, 0.0),
        (Bug::DualPartDropped, BinaryOp::Mul) => (v, da, 0.0),
        (Bug::QuotientRuleSign, BinaryOp::Div) => (v, da, -db),
        (Bug::HypotOriginNaN, BinaryOp::Hypot) if v == 0.0 => (v, a / v, b / v),
        _ => (v, da, db),
    }
}

/// Value and derivative of `xⁿ` under `bug`.
pub fn powi(bug: Bug, x: f64, n: i32) -> (f64, f64) {
    let (v, d) = conventions::powi(&x, n);
    match bug {
        Bug::PowiExponentNotLowered => (v, f64::from(n) * v),
        _ => (v, d),
    }
}

/// Value and partials of `logsumexp` under `bug`.
pub fn logsumexp(bug: Bug, xs: &[f64]) -> (f64, Vec<f64>) {
    let mut partials = vec![0.0; xs.len()];
    let v = conventions::logsumexp(xs, |i, d| partials[i] = d);
    if bug == Bug::LogsumexpUnstable {
        let total: f64 = xs.iter().map(|x| x.exp()).sum();
        partials = xs.iter().map(|x| x.exp() / total).collect();
    }
    (v, partials)
}

/// `partial · tangent` under `bug` (a zero tangent stays zero unless the bug
/// is [`Bug::ZeroTangentPoisons`]).
pub fn chain(bug: Bug, partial: f64, tangent: f64) -> f64 {
    if bug == Bug::ZeroTangentPoisons {
        partial * tangent
    } else {
        conventions::chain(partial, tangent)
    }
}
