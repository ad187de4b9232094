//! The compiled programs against the tape engines on generated programs:
//! unsimplified, native adjoints are bitwise the tape's and `H·v` bitwise
//! forward over reverse's (compiled or interpreted); native and
//! interpreted code agree; simplified,
//! the answers stay within rounding of the tape's.

use adcheck_engines::fwd_over_rev::FwdOverRevEngine;
use adcheck_engines::reverse::ReverseEngine;
use adcheck_engines::{Differentiable, Engine, Program};
use adcheck_source::{Compiled, Options, SourceEngine, Workspace};
use adcheck_suites::generate::{case, GenConfig};

/// The same bits, or NaN on both sides.
fn same_bits(a: &[f64], b: &[f64]) -> bool {
    a.len() == b.len()
        && a.iter()
            .zip(b)
            .all(|(x, y)| x.to_bits() == y.to_bits() || (x.is_nan() && y.is_nan()))
}

fn cases(count: u64) -> impl Iterator<Item = (u64, Program, Vec<f64>, Vec<f64>, Vec<f64>)> {
    let config = GenConfig::default();
    (0..count).map(move |i| {
        let c = case(&config, 20261207, i);
        (i, c.program, c.point, c.direction, c.cotangent)
    })
}

const AS_RECORDED_NATIVE: Options = Options {
    simplify: false,
    native: true,
};
const AS_RECORDED_INTERPRETED: Options = Options {
    simplify: false,
    native: false,
};

#[test]
#[cfg(feature = "jit")] // native code and its loops
fn native_code_is_made_on_this_machine() {
    assert!(adcheck_source::native_code_available());
    let p = Program::parse("input x\ny = sin x\noutput y").unwrap();
    assert_eq!(
        Compiled::new(&p, Options::default()).why_interpreted(),
        None
    );
}

#[test]
fn unsimplified_adjoints_are_bitwise_the_tapes() {
    let mut ws = Workspace::default();
    let mut checked = 0;
    for (i, p, x, _, u) in cases(3000) {
        let tape = ReverseEngine.vjp(&p, &x, &u).unwrap();
        for options in [AS_RECORDED_NATIVE, AS_RECORDED_INTERPRETED] {
            let (primal, grad) = Compiled::new(&p, options).vjp(&mut ws, &x, &u);
            assert!(
                same_bits(&primal, &tape.primal) && same_bits(&grad, &tape.derivative),
                "case {i} ({options:?}):\n{p}\nat {x:?}, u = {u:?}\nsource {primal:?} {grad:?}\ntape {:?} {:?}",
                tape.primal,
                tape.derivative
            );
        }
        checked += 1;
    }
    assert_eq!(checked, 3000);
}

#[test]
fn native_and_interpreted_tangents_agree_and_match_the_tape_within_rounding() {
    let mut ws = Workspace::default();
    for (i, p, x, v, _) in cases(3000) {
        let native = Compiled::new(&p, AS_RECORDED_NATIVE).jvp(&mut ws, &x, &v);
        let interpreted = Compiled::new(&p, AS_RECORDED_INTERPRETED).jvp(&mut ws, &x, &v);
        // Equal as numbers (a zero's sign may differ: `chain(1, t)` is `t`).
        let equal = |a: &[f64], b: &[f64]| {
            a.iter()
                .zip(b)
                .all(|(x, y)| x == y || (x.is_nan() && y.is_nan()))
        };
        assert!(
            equal(&native.0, &interpreted.0) && equal(&native.1, &interpreted.1),
            "case {i}:\n{p}\nnative {native:?}\ninterpreted {interpreted:?}"
        );
    }
}

#[test]
fn unsimplified_hvp_is_bitwise_forward_over_reverse() {
    let engine = SourceEngine {
        options: AS_RECORDED_NATIVE,
    };
    let mut checked = 0;
    for (i, p, x, v, _) in cases(3000) {
        if p.n_outputs() != 1 {
            continue;
        }
        let theirs = FwdOverRevEngine.hvp(&p, &x, &v).unwrap();
        let ours = engine.hvp(&p, &x, &v).unwrap();
        assert!(
            same_bits(&ours.derivative, &theirs.derivative)
                && same_bits(&ours.primal, &theirs.primal),
            "case {i}:\n{p}\nsource {:?}\nfwd_over_rev {:?}",
            ours.derivative,
            theirs.derivative
        );
        checked += 1;
    }
    assert!(checked > 500, "{checked} scalar programs");
}

#[test]
fn simplified_answers_are_within_rounding_of_the_tapes() {
    let engine = SourceEngine::default();
    let mut simplified = 0;
    for (i, p, x, _, u) in cases(3000) {
        let tape = ReverseEngine.vjp(&p, &x, &u).unwrap();
        let ours = engine.vjp(&p, &x, &u).unwrap();
        let graph = Compiled::new(&p, Options::default());
        if graph.graph().body().len() < p.pruned().body().len() {
            simplified += 1;
        }
        // Rows of path magnitudes weighted by |u|: the scale any order of
        // summing the chain rule rounds at.
        let n = p.n_inputs();
        let paths = p.path_magnitudes(&x);
        for j in 0..n {
            let scale: f64 = (0..p.n_outputs())
                .map(|r| u[r].abs() * paths[r * n + j])
                .sum();
            let (a, b) = (ours.derivative[j], tape.derivative[j]);
            let close = a == b
                || (a.is_nan() && b.is_nan())
                || !scale.is_finite()
                || (a - b).abs() <= 1e-13 * scale;
            assert!(
                close,
                "case {i} entry {j}: source {a:e}, tape {b:e}, scale {scale:e}\n{p}"
            );
        }
        assert!(
            same_bits(&ours.primal, &tape.primal)
                || ours.primal.iter().zip(&tape.primal).all(|(a, b)| a == b),
            "case {i}"
        );
    }
    assert!(
        simplified > 100,
        "only {simplified} programs were simplified at all"
    );
}

#[test]
fn a_traced_problem_compiles_once_and_evaluates_at_many_points() {
    // Rosenbrock written once over Scalar, traced at one point.
    let f = adcheck_suites::problems::Rosenbrock { n: 50 };
    let x0 = adcheck_suites::problems::point(50, 7);
    let compiled = Compiled::of(&f, &x0, Options::default());
    let mut ws = Workspace::default();
    for salt in 0..5 {
        let x = adcheck_suites::problems::point(50, salt);
        let (value, grad) = compiled.vjp(&mut ws, &x, &[1.0]);
        let tape = ReverseEngine
            .gradient(&adcheck_engines::trace(&f, &x), &x)
            .unwrap();
        assert_eq!(value, f.eval(&x));
        let scale = grad.iter().map(|g| g.abs()).fold(1.0, f64::max);
        for (a, b) in grad.iter().zip(&tape.derivative) {
            assert!((a - b).abs() <= 1e-12 * scale, "{a} {b}");
        }
    }
}

#[test]
fn large_programs_cut_into_functions_keep_bitwise_parity() {
    // 100 to 1,000 live operations: several compiled functions a program,
    // values leaving the registers and coming back from the frame.
    let config = GenConfig {
        inputs: (1, 300),
        ..adcheck_suites::generate::LARGE
    };
    let mut ws = Workspace::default();
    let mut longest = 0;
    for i in 0..40 {
        let c = case(&config, 7, i);
        let (p, x, v, u) = (c.program, c.point, c.direction, c.cotangent);
        longest = longest.max(p.pruned().body().len());
        let tape = ReverseEngine.vjp(&p, &x, &u).unwrap();
        let native = Compiled::new(&p, AS_RECORDED_NATIVE);
        let (primal, grad) = native.vjp(&mut ws, &x, &u);
        assert!(
            same_bits(&primal, &tape.primal) && same_bits(&grad, &tape.derivative),
            "large case {i}: source {grad:?}\ntape {:?}",
            tape.derivative
        );
        let interpreted_program = Compiled::new(&p, AS_RECORDED_INTERPRETED);
        let ours = native.gradient_and_hvp(&mut ws, &x, &u, &v);
        let theirs = interpreted_program.gradient_and_hvp(&mut ws, &x, &u, &v);
        assert!(
            ours.iter().zip(&theirs).all(|(a, b)| same_bits(a, b)),
            "large case {i}: H·v {ours:?}\nvs {theirs:?}"
        );
        let interpreted = interpreted_program.jvp(&mut ws, &x, &v);
        let compiled = native.jvp(&mut ws, &x, &v);
        assert!(
            compiled
                .1
                .iter()
                .zip(&interpreted.1)
                .all(|(a, b)| a == b || (a.is_nan() && b.is_nan())),
            "large case {i}: jvp {:?} vs {:?}",
            compiled.1,
            interpreted.1
        );
    }
    assert!(
        longest > 600,
        "the longest program had {longest} operations"
    );
}

#[test]
#[cfg(feature = "jit")] // native code and its loops
fn loops_rolled_back_from_traced_problems_keep_bitwise_parity() {
    use adcheck_engines::stepped::Unrolled;
    use adcheck_suites::problems::{
        point, Gmm, Gru, LinearLeastSquares, LogSumExp, Rk4, Rosenbrock,
    };
    /// `f64_loops`: whether the `f64` programs roll a loop (the `H·v`
    /// programs roll longer ones).
    fn check<F: Differentiable>(
        name: &str,
        f: &F,
        traced_at: &[f64],
        points: &[Vec<f64>],
        f64_loops: bool,
    ) {
        let p = adcheck_engines::trace(f, traced_at);
        let native = Compiled::new(&p, AS_RECORDED_NATIVE);
        let interpreted = Compiled::new(&p, AS_RECORDED_INTERPRETED);
        assert_eq!(
            native.native_loops().unwrap() > 0,
            f64_loops,
            "{name}: loops"
        );
        let mut ws = Workspace::default();
        for x in points {
            let u = vec![1.0; p.n_outputs()];
            let tape = ReverseEngine.vjp(&p, x, &u).unwrap();
            let (primal, grad) = native.vjp(&mut ws, x, &u);
            assert!(
                same_bits(&primal, &tape.primal) && same_bits(&grad, &tape.derivative),
                "{name} at {x:?}:\nsource {grad:?}\ntape {:?}",
                tape.derivative
            );
            let v: Vec<f64> = (0..x.len())
                .map(|j| 1.0 - j as f64 / x.len() as f64)
                .collect();
            let (a, b) = (native.jvp(&mut ws, x, &v), interpreted.jvp(&mut ws, x, &v));
            assert!(
                a.1.iter()
                    .zip(&b.1)
                    .all(|(s, t)| s == t || (s.is_nan() && t.is_nan())),
                "{name}: jvp {a:?} vs {b:?}"
            );
            // H·v: the compiled loops of dual numbers, bitwise the
            // interpreter's and forward over reverse's.
            let ours = native.gradient_and_hvp(&mut ws, x, &u, &v);
            let interpreted = interpreted.gradient_and_hvp(&mut ws, x, &u, &v);
            for (k, what) in ["primal", "gradient", "hvp"].iter().enumerate() {
                assert!(
                    same_bits(&ours[k], &interpreted[k]),
                    "{name} at {x:?}: {what} {:?} vs {:?}",
                    ours[k],
                    interpreted[k]
                );
            }
            if p.n_outputs() == 1 {
                let theirs = FwdOverRevEngine.hvp(&p, x, &v).unwrap();
                assert!(
                    same_bits(&ours[2], &theirs.derivative),
                    "{name} at {x:?}: hvp {:?} vs fwd_over_rev {:?}",
                    ours[2],
                    theirs.derivative
                );
            }
        }
    }
    // Besides the traced point: zeros, a huge and an infinite coordinate,
    // so the loops meet zero adjoints, zero partials and 0·∞.
    let points = |n: usize| {
        let mut special = point(n, 3);
        special[n / 2] = 0.0;
        special[1] = 1e200;
        let mut infinite = point(n, 4);
        infinite[n - 2] = f64::INFINITY;
        vec![point(n, 7), point(n, 1), vec![0.0; n], special, infinite]
    };
    for n in [10, 57, 300] {
        check(
            "rosenbrock",
            &Rosenbrock { n },
            &point(n, 7),
            &points(n),
            true,
        );
        check(
            "logsumexp",
            &LogSumExp { n },
            &point(n, 7),
            &points(n),
            true,
        );
    }
    check(
        "llsq",
        &LinearLeastSquares { n: 9, m: 40 },
        &point(9, 7),
        &points(9),
        true,
    );
    let gmm = Gmm::new(3, 4, 20);
    let k = gmm.n_inputs();
    check("gmm", &gmm, &point(k, 7), &points(k), true);
    // A step of more than 32 operations (RK4's is 54): a loop of the
    // `H·v` programs only.
    let rk4 = Unrolled(Rk4 { steps: 20, h: 0.01 });
    check(
        "rk4",
        &rk4,
        &Rk4::point(),
        &points(Rk4::point().len()),
        false,
    );
    let gru = Gru {
        steps: 6,
        hidden: 4,
    };
    let k = gru.point().len();
    check("gru", &Unrolled(gru), &gru.point(), &points(k), true);
}

#[test]
fn compiled_hvp_meets_the_zero_rule_through_the_interpreter() {
    // At 0, √ has an infinite partial, and `0·y` sends it a zero adjoint:
    // plain arithmetic makes 0·∞ = NaN, the rule (and forward over
    // reverse) make it 0.
    let p = Program::parse("input x\nc = const 0\ny = sqrt x\nz = mul c y\noutput z").unwrap();
    let engine = SourceEngine {
        options: AS_RECORDED_NATIVE,
    };
    let ours = engine.hvp(&p, &[0.0], &[1.0]).unwrap();
    let theirs = FwdOverRevEngine.hvp(&p, &[0.0], &[1.0]).unwrap();
    assert!(ours.derivative.iter().all(|d| !d.is_nan()), "{ours:?}");
    assert!(same_bits(&ours.derivative, &theirs.derivative));
}
