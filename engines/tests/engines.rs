//! The built-in engines through the `Engine` trait: the seed example, typed
//! errors, tracing, and forward/reverse agreement over random programs.

use adcheck_engines::forward::ForwardEngine;
use adcheck_engines::ops::{BinaryOp, Comparison, UnaryOp};
use adcheck_engines::reverse::ReverseEngine;
use adcheck_engines::{
    trace, Differentiable, Engine, EngineError, Instr, Program, Scalar, ValueId,
};
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::FileFailurePersistence;

fn seed_program() -> Program {
    Program::parse("input v1 v2\nv3 = mul v1 v2\nv4 = sin v1\nv5 = add v3 v4\noutput v5").unwrap()
}

#[test]
fn seed_example_forward_and_reverse_match_the_closed_form_exactly() {
    let p = seed_program();
    for x in [[1.5f64, -2.0], [0.0, 0.0], [-3.25, 7.0], [1e-8, 1e8]] {
        let closed = [x[1] + x[0].cos(), x[0]];
        let fwd = ForwardEngine.jvp(&p, &x, &[1.0, 0.0]).unwrap();
        assert_eq!(fwd.derivative, vec![closed[0]]);
        assert_eq!(fwd.primal, vec![x[0] * x[1] + x[0].sin()]);
        assert_eq!(fwd.stats.forward_passes, 1);
        let rev = ReverseEngine.gradient(&p, &x).unwrap();
        assert_eq!(rev.derivative, closed.to_vec());
        // One recording, one sweep, three operations on the tape.
        assert_eq!(rev.stats.reverse_sweeps, 1);
        assert_eq!(rev.stats.forward_passes, 1);
        assert_eq!(rev.stats.operations_recorded, 3);
        assert!(rev.stats.peak_tape_bytes > 0);
    }
}

#[test]
fn a_value_constant_near_the_point_has_derivative_zero_in_every_engine() {
    // Constant near the point, with a rule that is infinite on the way:
    // the chain rule operation by operation gives 0·∞ = NaN unless a zero
    // tangent, adjoint or partial carries nothing (conventions, last row)
    // and x − x, x / x of one variable are constants.
    let constant = [
        ("input x\nr = relu x\ns = sqrt r\noutput s", -1.0),
        ("input x\np = powi x 0\na = acos p\noutput a", 3.0),
        (
            "input x\nc = mul x x\nd = sub c c\ns = sqrt d\noutput s",
            -2.0,
        ),
        ("input x\nq = div x x\na = acos q\noutput a", 0.7),
        (
            "input x\nz = const 0\ns = sqrt x\nv = iflt x z z s\nw = sqrt v\noutput w",
            -1.0,
        ),
    ];
    for engine in adcheck_engines::builtin_engines() {
        for (text, x) in constant {
            let p = Program::parse(text).unwrap();
            let g = engine.gradient(&p, &[x]).unwrap().derivative;
            assert_eq!(g, [0.0], "{}: {text} at {x}", engine.name());
        }
    }
}

#[test]
fn engines_return_typed_errors_instead_of_panicking() {
    let p = seed_program();
    for engine in [&ForwardEngine as &dyn Engine, &ReverseEngine] {
        assert_eq!(
            engine.gradient(&p, &[1.0]).unwrap_err(),
            EngineError::InputLength {
                expected: 2,
                got: 1
            }
        );
        assert!(matches!(
            engine.jvp(&p, &[1.0, 2.0], &[1.0]).unwrap_err(),
            EngineError::SeedLength {
                expected: 2,
                got: 1,
                ..
            }
        ));
        assert!(matches!(
            engine.jvp(&p, &[1.0, 2.0], &[1.0, f64::NAN]).unwrap_err(),
            EngineError::NonFiniteSeed { index: 1, .. }
        ));
        assert!(matches!(
            engine.vjp(&p, &[1.0, 2.0], &[f64::INFINITY]).unwrap_err(),
            EngineError::NonFiniteSeed { index: 0, .. }
        ));
        let two_outputs = Program::parse("input a\nb = sin a\noutput a b").unwrap();
        assert_eq!(
            engine.gradient(&two_outputs, &[1.0]).unwrap_err(),
            EngineError::NotScalar {
                what: "gradient",
                outputs: 2
            }
        );
        assert!(matches!(
            engine.hvp(&p, &[1.0, 2.0], &[1.0, 0.0]).unwrap_err(),
            EngineError::Unsupported { .. }
        ));
    }
}

/// A hand-written function with a branch, to check that tracing records the
/// side taken.
struct Branchy;

impl Differentiable for Branchy {
    fn n_inputs(&self) -> usize {
        2
    }
    fn n_outputs(&self) -> usize {
        2
    }
    fn eval<S: Scalar>(&self, x: &[S]) -> Vec<S> {
        let y = if x[0].gt(&x[1]) {
            x[0].clone() * S::from_f64(2.0)
        } else {
            x[1].exp()
        };
        vec![y, S::from_f64(7.0)]
    }
}

#[test]
fn trace_records_the_branch_taken_and_constant_outputs() {
    let left = trace(&Branchy, &[3.0, 1.0]);
    assert_eq!(
        left.to_string(),
        "input v1 v2\nv3 = const 2.0\nv4 = mul v1 v3\nv5 = const 7.0\noutput v4 v5\n"
    );
    let right = trace(&Branchy, &[0.0, 1.0]);
    assert_eq!(
        right.to_string(),
        "input v1 v2\nv3 = exp v2\nv4 = const 7.0\noutput v3 v4\n"
    );
    // The traced program differentiates like the function near the point.
    let d = ReverseEngine.jacobian(&left, &[3.0, 1.0]).unwrap();
    assert_eq!(d.derivative, vec![2.0, 0.0, 0.0, 0.0]);
}

#[test]
fn pruning_drops_dead_entries_and_keeps_the_function() {
    let p = Program::parse(
        "input a b\ndead = exp b\nc = mul a b\nalso_dead = sin dead\nd = sin c\noutput d c",
    )
    .unwrap();
    let q = p.pruned();
    assert_eq!(
        q.to_string(),
        "input v1 v2\nv3 = mul v1 v2\nv4 = sin v3\noutput v4 v3\n"
    );
    assert_eq!(q.eval(&[0.5, 3.0]), p.eval(&[0.5, 3.0]));
}

#[test]
fn tracing_a_program_reproduces_it() {
    let p = seed_program();
    assert_eq!(trace(&p, &[0.5, 0.25]), p);
}

#[test]
fn jacobian_default_and_overrides_agree() {
    // Both engines' Jacobians equal the trait's default strategy built from
    // their own jvp / vjp.
    struct Defaults<'a>(&'a dyn Engine);
    impl Engine for Defaults<'_> {
        fn name(&self) -> &str {
            "defaults"
        }
        fn capabilities(&self) -> adcheck_engines::Capabilities {
            self.0.capabilities()
        }
        fn jvp(
            &self,
            p: &Program,
            x: &[f64],
            v: &[f64],
        ) -> Result<adcheck_engines::Derivative, EngineError> {
            self.0.jvp(p, x, v)
        }
        fn vjp(
            &self,
            p: &Program,
            x: &[f64],
            u: &[f64],
        ) -> Result<adcheck_engines::Derivative, EngineError> {
            self.0.vjp(p, x, u)
        }
    }
    let wide = Program::parse(
        "input a b c\nd = mul a b\ne = sin c\nf = add d e\ng = hypot a c\noutput f g d",
    )
    .unwrap();
    let x = [0.5, -1.25, 2.0];
    for engine in [&ForwardEngine as &dyn Engine, &ReverseEngine] {
        let own = engine.jacobian(&wide, &x).unwrap();
        let default = Defaults(engine).jacobian(&wide, &x).unwrap();
        assert_eq!(own.derivative, default.derivative, "{}", engine.name());
        assert_eq!(own.primal, default.primal);
    }
}

#[test]
fn repeated_calls_give_identical_results() {
    let p = seed_program();
    let first = ReverseEngine.gradient(&p, &[0.75, 1.5]).unwrap();
    let _other = ReverseEngine
        .gradient(
            &Program::parse("input a\nb = exp a\noutput b").unwrap(),
            &[2.0],
        )
        .unwrap();
    let again = ReverseEngine.gradient(&p, &[0.75, 1.5]).unwrap();
    assert_eq!(first, again);
}

/// One generated instruction: an operation code and argument choices, mapped
/// onto the values defined so far (so every choice is well-formed and shrinks
/// towards earlier values and simpler operations).
#[derive(Clone, Debug)]
struct Gene {
    op: u8,
    args: [u16; 4],
    constant: f64,
}

fn build_program(n_inputs: usize, genes: &[Gene], n_outputs: usize) -> Program {
    let mut body = Vec::new();
    for (k, g) in genes.iter().enumerate() {
        let defined = (n_inputs + k) as u16;
        let a = |i: usize| (g.args[i] % defined) as ValueId;
        let n_unary = UnaryOp::ALL.len() as u8;
        let n_binary = BinaryOp::ALL.len() as u8;
        let code = g.op % (n_unary + n_binary + 4);
        let instr = if code < n_unary {
            Instr::Unary(UnaryOp::ALL[code as usize], a(0))
        } else if code < n_unary + n_binary {
            Instr::Binary(BinaryOp::ALL[(code - n_unary) as usize], [a(0), a(1)])
        } else {
            match code - n_unary - n_binary {
                0 => Instr::Const(g.constant),
                1 => Instr::PowI(a(0), i32::from(g.args[1] % 7) - 3),
                2 => Instr::LogSumExp(vec![a(0), a(1), a(2)]),
                _ => Instr::Select(
                    Comparison::ALL[(g.args[3] % 2) as usize],
                    [a(0), a(1), a(2), a(3)],
                ),
            }
        };
        body.push(instr);
    }
    let total = n_inputs + body.len();
    let outputs = (0..n_outputs)
        .map(|i| (total - 1 - i % total) as ValueId)
        .collect();
    Program::new(n_inputs, body, outputs).unwrap()
}

fn arb_program() -> impl Strategy<Value = (Program, Vec<f64>)> {
    let gene = (any::<u8>(), any::<[u16; 4]>(), -4.0f64..4.0)
        .prop_map(|(op, args, constant)| Gene { op, args, constant });
    (1usize..5, prop::collection::vec(gene, 1..25), 1usize..4).prop_flat_map(|(n, genes, m)| {
        let p = build_program(n, &genes, m);
        (Just(p), prop::collection::vec(-2.0f64..2.0, n))
    })
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 512,
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct("tests/proptest-regressions/engines.txt"))),
        ..ProptestConfig::default()
    })]

    #[test]
    fn forward_and_reverse_jacobians_agree((p, x) in arb_program()) {
        let fwd = ForwardEngine.jacobian(&p, &x).unwrap();
        let rev = ReverseEngine.jacobian(&p, &x).unwrap();
        let same = |a: &[f64], b: &[f64]| a.iter().zip(b).all(|(a, b)| a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan()));
        prop_assert!(same(&fwd.primal, &p.eval(&x)));
        prop_assert!(same(&fwd.primal, &rev.primal));
        let scale = p.path_magnitudes(&x);
        let len = p.body().len() as f64;
        for ((a, b), s) in fwd.derivative.iter().zip(&rev.derivative).zip(&scale) {
            if a.is_finite() && b.is_finite() && s.is_finite() {
                let tolerance = 4.0 * len * f64::EPSILON * s;
                prop_assert!((a - b).abs() <= tolerance, "fwd {a:e} rev {b:e} scale {s:e}\n{p}");
            }
        }
    }

    #[test]
    fn text_and_json_round_trip((p, _x) in arb_program()) {
        let text = p.to_string();
        let parsed = Program::parse(&text).unwrap();
        prop_assert_eq!(&parsed, &p);
        prop_assert_eq!(parsed.to_string(), text);
        prop_assert_eq!(Program::from_json(&p.to_json()).unwrap(), p);
    }
}

#[test]
fn generated_programs_are_mostly_comparable() {
    // Guards the property above against vacuity: most generated entries must
    // be finite in both engines, so the comparison actually runs.
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    let (mut compared, mut total) = (0usize, 0usize);
    for _ in 0..300 {
        let (p, x) = arb_program().new_tree(&mut runner).unwrap().current();
        let fwd = ForwardEngine.jacobian(&p, &x).unwrap();
        let rev = ReverseEngine.jacobian(&p, &x).unwrap();
        total += fwd.derivative.len();
        compared += fwd
            .derivative
            .iter()
            .zip(&rev.derivative)
            .filter(|(a, b)| a.is_finite() && b.is_finite())
            .count();
    }
    assert!(
        compared * 10 >= total * 6,
        "only {compared} of {total} entries finite"
    );
}
