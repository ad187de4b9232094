//! Every `Scalar` operation: value and derivative against an independent
//! closed form, in both engines, at ordinary points and at the kinks and
//! domain edges fixed in `conventions`.

use adcheck_engines::forward::ForwardEngine;
use adcheck_engines::ops::{BinaryOp, UnaryOp};
use adcheck_engines::reverse::ReverseEngine;
use adcheck_engines::{Engine, Instr, Program};

/// Whether `a` and `b` agree to `ulps` units in the last place (NaN matches
/// NaN, infinities must match exactly).
fn close(a: f64, b: f64, ulps: f64) -> bool {
    if a.is_nan() || b.is_nan() {
        return a.is_nan() && b.is_nan();
    }
    if a.is_infinite() || b.is_infinite() {
        return a == b;
    }
    let scale = a.abs().max(b.abs()).max(f64::MIN_POSITIVE);
    (a - b).abs() <= ulps * f64::EPSILON * scale
}

fn unary_program(op: UnaryOp) -> Program {
    Program::new(1, vec![Instr::Unary(op, 0)], vec![1]).unwrap()
}

fn binary_program(op: BinaryOp) -> Program {
    Program::new(2, vec![Instr::Binary(op, [0, 1])], vec![2]).unwrap()
}

/// Checks value and derivative of a one-input program in both engines.
fn check_1d(p: &Program, x: f64, value: f64, derivative: f64, what: &str) {
    let engines: [&dyn Engine; 2] = [&ForwardEngine, &ReverseEngine];
    for engine in engines {
        let g = engine.gradient(p, &[x]).unwrap();
        assert!(
            close(g.primal[0], value, 2.0),
            "{what} value at {x:e} in {}: {} vs {value}",
            engine.name(),
            g.primal[0]
        );
        assert!(
            close(g.derivative[0], derivative, 4.0),
            "{what}' at {x:e} in {}: {} vs {derivative}",
            engine.name(),
            g.derivative[0]
        );
    }
}

/// Checks value and both partials of a two-input program in both engines.
fn check_2d(p: &Program, x: [f64; 2], value: f64, grad: [f64; 2], what: &str) {
    let engines: [&dyn Engine; 2] = [&ForwardEngine, &ReverseEngine];
    for engine in engines {
        let g = engine.gradient(p, &x).unwrap();
        assert!(
            close(g.primal[0], value, 2.0),
            "{what} value at {x:?} in {}: {} vs {value}",
            engine.name(),
            g.primal[0]
        );
        for (k, (&got, &want)) in g.derivative.iter().zip(&grad).enumerate() {
            assert!(
                close(got, want, 4.0),
                "{what} ∂{k} at {x:?} in {}: {} vs {}",
                engine.name(),
                got,
                want
            );
        }
    }
}

type Closed = (UnaryOp, fn(f64) -> f64, fn(f64) -> f64, &'static [f64]);

const UNARY: &[Closed] = &[
    (UnaryOp::Neg, |x| -x, |_| -1.0, &[-2.0, 0.0, 3.5]),
    (
        UnaryOp::Recip,
        |x| 1.0 / x,
        |x| -1.0 / (x * x),
        &[-2.0, 0.25, 3.5],
    ),
    (
        UnaryOp::Sqrt,
        f64::sqrt,
        |x| 1.0 / (2.0 * x.sqrt()),
        &[0.01, 2.0, 1e10],
    ),
    (
        UnaryOp::Cbrt,
        f64::cbrt,
        |x| 1.0 / (3.0 * x.cbrt().powi(2)),
        &[-8.0, 0.5, 27.0],
    ),
    (UnaryOp::Exp, f64::exp, f64::exp, &[-3.0, 0.0, 2.5]),
    (UnaryOp::Expm1, f64::exp_m1, f64::exp, &[-1e-10, 1e-3, 2.0]),
    (UnaryOp::Ln, f64::ln, |x| 1.0 / x, &[0.1, 1.0, 1e5]),
    (
        UnaryOp::Log1p,
        f64::ln_1p,
        |x| 1.0 / (1.0 + x),
        &[-0.5, 1e-12, 10.0],
    ),
    (UnaryOp::Sin, f64::sin, f64::cos, &[-1.0, 0.0, 2.0]),
    (UnaryOp::Cos, f64::cos, |x| -x.sin(), &[-1.0, 0.0, 2.0]),
    (
        UnaryOp::Tan,
        f64::tan,
        |x| 1.0 / x.cos().powi(2),
        &[-1.0, 0.0, 1.2],
    ),
    (
        UnaryOp::Asin,
        f64::asin,
        |x| 1.0 / (1.0 - x * x).sqrt(),
        &[-0.5, 0.0, 0.9],
    ),
    (
        UnaryOp::Acos,
        f64::acos,
        |x| -1.0 / (1.0 - x * x).sqrt(),
        &[-0.5, 0.0, 0.9],
    ),
    (
        UnaryOp::Atan,
        f64::atan,
        |x| 1.0 / (1.0 + x * x),
        &[-3.0, 0.0, 0.5],
    ),
    (UnaryOp::Sinh, f64::sinh, f64::cosh, &[-2.0, 0.0, 1.0]),
    (UnaryOp::Cosh, f64::cosh, f64::sinh, &[-2.0, 0.0, 1.0]),
    (
        UnaryOp::Tanh,
        f64::tanh,
        |x| 1.0 / x.cosh().powi(2),
        &[-2.0, 0.0, 1.0, 20.0],
    ),
    (UnaryOp::Abs, f64::abs, |x| x.signum(), &[-2.0, 3.0]),
    (
        UnaryOp::Relu,
        |x| x.max(0.0),
        |x| if x > 0.0 { 1.0 } else { 0.0 },
        &[-2.0, 3.0],
    ),
    (
        UnaryOp::Softplus,
        |x| x.max(0.0) + (-x.abs()).exp().ln_1p(),
        |x| 1.0 / (1.0 + (-x).exp()),
        &[-5.0, 0.0, 3.0],
    ),
];

#[test]
fn every_unary_operation_matches_its_closed_form() {
    assert_eq!(
        UNARY.len(),
        UnaryOp::ALL.len(),
        "a unary op has no closed form"
    );
    for &(op, f, df, points) in UNARY {
        let p = unary_program(op);
        for &x in points {
            check_1d(&p, x, f(x), df(x), op.name());
        }
    }
}

type Closed2 = (BinaryOp, fn(f64, f64) -> f64, fn(f64, f64) -> [f64; 2]);

const BINARY: &[Closed2] = &[
    (BinaryOp::Add, |a, b| a + b, |_, _| [1.0, 1.0]),
    (BinaryOp::Sub, |a, b| a - b, |_, _| [1.0, -1.0]),
    (BinaryOp::Mul, |a, b| a * b, |a, b| [b, a]),
    (BinaryOp::Div, |a, b| a / b, |a, b| [1.0 / b, -a / (b * b)]),
    (BinaryOp::Powf, f64::powf, |a, b| {
        [b * a.powf(b - 1.0), a.powf(b) * a.ln()]
    }),
    (BinaryOp::Atan2, f64::atan2, |y, x| {
        [x / (x * x + y * y), -y / (x * x + y * y)]
    }),
    (BinaryOp::Min, f64::min, |a, b| {
        if a < b {
            [1.0, 0.0]
        } else {
            [0.0, 1.0]
        }
    }),
    (BinaryOp::Max, f64::max, |a, b| {
        if a > b {
            [1.0, 0.0]
        } else {
            [0.0, 1.0]
        }
    }),
    (BinaryOp::Hypot, f64::hypot, |a, b| {
        let h = (a * a + b * b).sqrt();
        [a / h, b / h]
    }),
];

#[test]
fn every_binary_operation_matches_its_closed_form() {
    assert_eq!(
        BINARY.len(),
        BinaryOp::ALL.len(),
        "a binary op has no closed form"
    );
    let points = [[0.7, 1.3], [2.0, -0.5], [3.0, 2.5], [1.5, 0.25]];
    for &(op, f, df) in BINARY {
        let p = binary_program(op);
        for x in points {
            if op == BinaryOp::Powf && x[0] <= 0.0 {
                continue;
            }
            check_2d(&p, x, f(x[0], x[1]), df(x[0], x[1]), op.name());
        }
    }
}

#[test]
fn powi_matches_its_closed_form() {
    for n in [-3, -1, 0, 1, 2, 5] {
        let p = Program::new(1, vec![Instr::PowI(0, n)], vec![1]).unwrap();
        for x in [-1.5f64, 0.5, 2.0] {
            let expected = f64::from(n) * x.powi(n - 1);
            let expected = if n == 0 { 0.0 } else { expected };
            check_1d(&p, x, x.powi(n), expected, &format!("powi {n}"));
        }
    }
}

#[test]
fn logsumexp_matches_softmax() {
    let p = Program::parse("input a b c\nv = logsumexp a b c\noutput v").unwrap();
    let x: [f64; 3] = [0.5, -1.0, 2.0];
    let total: f64 = x.iter().map(|v| v.exp()).sum();
    let expected: Vec<f64> = x.iter().map(|v| v.exp() / total).collect();
    for engine in [&ForwardEngine as &dyn Engine, &ReverseEngine] {
        let g = engine.gradient(&p, &x).unwrap();
        assert!(close(g.primal[0], total.ln(), 2.0));
        for (got, want) in g.derivative.iter().zip(&expected) {
            assert!(close(*got, *want, 4.0), "{}", engine.name());
        }
    }
    // Huge entries: the stable rule neither overflows nor loses the softmax.
    let g = ReverseEngine
        .gradient(&p, &[1000.0, 1000.0, -1000.0])
        .unwrap();
    assert_eq!(g.primal[0], 1000.0 + std::f64::consts::LN_2);
    assert_eq!(g.derivative, vec![0.5, 0.5, 0.0]);
    // All -inf: the entries share the derivative equally.
    let inf = f64::NEG_INFINITY;
    let g = ForwardEngine.gradient(&p, &[inf, inf, inf]).unwrap();
    assert_eq!(g.derivative, vec![1.0 / 3.0; 3]);
}

#[test]
fn kink_and_domain_edge_conventions_hold_in_both_engines() {
    let inf = f64::INFINITY;
    check_1d(&unary_program(UnaryOp::Abs), 0.0, 0.0, 0.0, "abs at +0");
    check_1d(&unary_program(UnaryOp::Abs), -0.0, 0.0, 0.0, "abs at -0");
    check_1d(&unary_program(UnaryOp::Relu), 0.0, 0.0, 0.0, "relu at 0");
    check_1d(&unary_program(UnaryOp::Sqrt), 0.0, 0.0, inf, "sqrt at 0");
    check_1d(&unary_program(UnaryOp::Cbrt), 0.0, 0.0, inf, "cbrt at 0");
    check_1d(&unary_program(UnaryOp::Ln), 0.0, -inf, inf, "ln at 0");
    check_1d(
        &unary_program(UnaryOp::Asin),
        1.0,
        std::f64::consts::FRAC_PI_2,
        inf,
        "asin at 1",
    );
    check_2d(
        &binary_program(BinaryOp::Max),
        [2.0, 2.0],
        2.0,
        [0.5, 0.5],
        "max tie",
    );
    check_2d(
        &binary_program(BinaryOp::Min),
        [2.0, 2.0],
        2.0,
        [0.5, 0.5],
        "min tie",
    );
    check_2d(
        &binary_program(BinaryOp::Hypot),
        [0.0, 0.0],
        0.0,
        [0.0, 0.0],
        "hypot at origin",
    );
    check_2d(
        &binary_program(BinaryOp::Atan2),
        [0.0, 0.0],
        0.0,
        [f64::NAN, f64::NAN],
        "atan2 at origin",
    );
    let pow = binary_program(BinaryOp::Powf);
    check_2d(&pow, [0.0, 0.5], 0.0, [inf, 0.0], "powf(0, 0.5)");
    check_2d(&pow, [0.0, 2.0], 0.0, [0.0, 0.0], "powf(0, 2)");
    check_2d(&pow, [0.0, 2.5], 0.0, [0.0, 0.0], "powf(0, 2.5)");
    check_2d(&pow, [0.0, 0.0], 1.0, [0.0, 0.0], "powf(0, 0)");
    check_2d(&pow, [-2.0, 3.0], -8.0, [12.0, f64::NAN], "powf(-2, 3)");
    let powi0 = Program::new(1, vec![Instr::PowI(0, 0)], vec![1]).unwrap();
    check_1d(&powi0, 0.0, 1.0, 0.0, "powi(0, 0)");
}

#[test]
fn an_unused_singular_intermediate_does_not_poison_the_gradient() {
    // v2 = ln x is -inf with derivative +inf at 0 but is not used by the output.
    let p = Program::parse("input x\nv2 = ln x\nv3 = mul x x\noutput v3").unwrap();
    check_1d(&p, 0.0, 0.0, 0.0, "unused ln at 0");
    // A branch that selects a safe value beside a NaN derivative.
    let p = Program::parse("input x\nzero = const 0\ns = sqrt x\nv = iflt zero x s zero\noutput v")
        .unwrap();
    check_1d(&p, 0.0, 0.0, 0.0, "where-style branch at 0");
    check_1d(&p, 4.0, 2.0, 0.25, "where-style branch at 4");
}

#[test]
fn fan_out_accumulates() {
    // y = x·x·x uses x three times: dy/dx = 3x².
    let p = Program::parse("input x\nv2 = mul x x\nv3 = mul v2 x\noutput v3").unwrap();
    check_1d(&p, 1.5, 3.375, 6.75, "x³ by fan-out");
}
