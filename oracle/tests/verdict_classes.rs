//! Planted answers for every class of the verdict model: another
//! subgradient inside and outside the generalized gradient for each
//! non-smooth operation and through a composition, a finite value where the
//! derivative diverges, a smooth point next to a special one, and a lossy
//! but correct formula.

use adcheck_engines::Program;
use adcheck_oracle::{Admissible, Miss, Oracle, Quantity, Verdict};

/// The oracle's verdicts on `answer` for `quantity` of `program` at `x`.
fn judged(program: &str, x: &[f64], quantity: Quantity, answer: &[f64]) -> Vec<Verdict> {
    let p = Program::parse(program).unwrap();
    let oracle = Oracle::default();
    let reference = oracle.reference(&p, x, &quantity).unwrap();
    oracle.judge(&reference, answer).unwrap()
}

fn gradient(program: &str, x: &[f64], answer: &[f64]) -> Vec<Verdict> {
    judged(program, x, Quantity::Gradient, answer)
}

fn is_convention(v: &Verdict) -> bool {
    matches!(v, Verdict::Convention { .. })
}

fn is_wrong(v: &Verdict) -> bool {
    matches!(
        v,
        Verdict::Fail {
            miss: Miss::Wrong,
            ..
        }
    )
}

#[test]
fn relu_at_zero_admits_zero_one_and_between() {
    let relu = "input x\ny = relu x\noutput y";
    for g in [0.0, 1.0, 0.5] {
        let v = &gradient(relu, &[0.0], &[g])[0];
        assert!(is_convention(v), "{g}: {v:?}");
        assert!(matches!(
            v,
            Verdict::Convention {
                admissible: Admissible::Generalized { lo: 0.0, hi: 1.0 },
                ..
            }
        ));
    }
    assert!(is_wrong(&gradient(relu, &[0.0], &[-0.5])[0]));
    // Away from the kink there is one value.
    assert!(gradient(relu, &[0.5], &[1.0])[0].is_pass());
    assert!(is_wrong(&gradient(relu, &[0.5], &[0.0])[0]));
}

#[test]
fn a_tie_of_max_may_go_to_either_argument() {
    let max = "input x y\nz = max x y\noutput z";
    for answer in [[1.0, 0.0], [0.0, 1.0], [0.5, 0.5]] {
        let v = gradient(max, &[1.0, 1.0], &answer);
        assert!(v.iter().all(is_convention), "{answer:?}: {v:?}");
    }
    let v = gradient(max, &[1.0, 1.0], &[2.0, 0.0]);
    assert!(is_wrong(&v[0]), "{v:?}");
    let min = "input x y\nz = min x y\noutput z";
    let v = gradient(min, &[-2.0, -2.0], &[1.0, 0.0]);
    assert!(v.iter().all(is_convention), "{v:?}");
}

#[test]
fn a_norm_at_the_origin_admits_the_unit_ball_entry_by_entry() {
    let hypot = "input x y\nz = hypot x y\noutput z";
    for answer in [[0.0, 0.0], [0.5, 0.5], [1.0, 0.0], [-0.6, 0.8]] {
        let v = gradient(hypot, &[0.0, 0.0], &answer);
        assert!(v.iter().all(is_convention), "{answer:?}: {v:?}");
    }
    let v = gradient(hypot, &[0.0, 0.0], &[1.5, 0.0]);
    assert!(is_wrong(&v[0]), "{v:?}");
}

#[test]
fn sets_go_through_the_chain_rule() {
    // 3·|x| at 0: the generalized gradient is [−3, 3].
    let scaled = "input x\na = abs x\nc = const 3\ny = mul a c\noutput y";
    assert!(is_convention(&gradient(scaled, &[0.0], &[3.0])[0]));
    assert!(is_convention(&gradient(scaled, &[0.0], &[-2.0])[0]));
    assert!(is_wrong(&gradient(scaled, &[0.0], &[4.0])[0]));
    // relu(x) + x at 0: [1, 2], so 0 is wrong whatever relu′(0) is taken.
    let shifted = "input x\nr = relu x\ny = add r x\noutput y";
    assert!(is_convention(&gradient(shifted, &[0.0], &[2.0])[0]));
    assert!(is_wrong(&gradient(shifted, &[0.0], &[0.0])[0]));
    // Through a jvp too: d/dt |x + t v| at 0 with v = 2 is in [−2, 2].
    let abs = "input x\ny = abs x\noutput y";
    let v = judged(abs, &[0.0], Quantity::Jvp(vec![2.0]), &[2.0]);
    assert!(is_convention(&v[0]), "{v:?}");
    let v = judged(abs, &[0.0], Quantity::Jvp(vec![2.0]), &[2.5]);
    assert!(is_wrong(&v[0]), "{v:?}");
}

#[test]
fn a_finite_value_where_the_derivative_diverges_is_wrong() {
    for program in [
        "input x\ny = sqrt x\noutput y",
        "input x\ny = cbrt x\noutput y",
        "input x\nh = const 0.5\ny = powf x h\noutput y",
    ] {
        let exact = &gradient(program, &[0.0], &[f64::INFINITY])[0];
        assert!(
            matches!(
                exact,
                Verdict::Convention {
                    admissible: Admissible::OneSidedLimit(l),
                    ..
                } if *l == f64::INFINITY
            ),
            "{program}: {exact:?}"
        );
        let undefined = &gradient(program, &[0.0], &[f64::NAN])[0];
        assert!(is_convention(undefined), "{program}: {undefined:?}");
        for made_up in [50.0, 0.0, f64::NEG_INFINITY] {
            let v = &gradient(program, &[0.0], &[made_up])[0];
            assert!(is_wrong(v), "{program} {made_up}: {v:?}");
        }
    }
}

#[test]
fn a_smooth_point_next_to_a_special_case_has_one_value() {
    // a^b at b = 0, a = 2: the special case b = 0 of the rule is a removable
    // one, so every entry is one value, the mixed partial included
    // (∂²/∂a∂b aᵇ = a^(b−1)(1 + b ln a) = 1/2).
    let pow = "input a b\nz = powf a b\noutput z";
    let ln2 = std::f64::consts::LN_2;
    let g = gradient(pow, &[2.0, 0.0], &[0.0, ln2]);
    assert!(g.iter().all(Verdict::is_pass), "{g:?}");
    let hv = judged(
        pow,
        &[2.0, 0.0],
        Quantity::Hvp(vec![0.0, 1.0]),
        &[0.5, ln2 * ln2],
    );
    assert!(hv.iter().all(Verdict::is_pass), "{hv:?}");
    let hv = judged(
        pow,
        &[2.0, 0.0],
        Quantity::Hvp(vec![0.0, 1.0]),
        &[0.0, ln2 * ln2],
    );
    assert!(is_wrong(&hv[0]), "{hv:?}");
}

#[test]
fn a_lossy_but_correct_formula_is_inaccurate_not_wrong() {
    // tanh′ as 1 − tanh² (PyTorch's rule) at x = 5 keeps about 40 bits.
    let tanh = "input x\ny = tanh x\noutput y";
    let x = 5.0f64;
    let lossy = 1.0 - x.tanh() * x.tanh();
    let v = &gradient(tanh, &[x], &[lossy])[0];
    match v {
        Verdict::Fail {
            miss: Miss::Inaccurate,
            bits_correct,
            ..
        } => assert!((20.0..50.0).contains(bits_correct), "{bits_correct}"),
        other => panic!("{other:?}"),
    }
    // At x = 20 the same formula gives 0: no bit is right, so it is wrong.
    let v = &gradient(tanh, &[20.0], &[1.0 - 20f64.tanh().powi(2)])[0];
    assert!(is_wrong(v), "{v:?}");
    // A sign error is wrong however many bits of magnitude it shares.
    let exact = 1.0 / x.cosh().powi(2);
    assert!(is_wrong(&gradient(tanh, &[x], &[-exact])[0]));
}

#[test]
fn an_answer_with_no_correct_bits_never_passes_at_extreme_magnitudes() {
    // atan2's partials x/(x² + y²) where x² + y² underflows (1e−300) or
    // overflows (1e200) in f64 while the partial itself is an ordinary f64
    // (5e299, 5e−201): PyTorch answers 0 at both, JAX ∞ and 0. Neither may
    // pass; the correctly rounded value does.
    let atan2 = "input y x\nz = atan2 y x\noutput z";
    for p in [1e-300, 1e200] {
        let exact = 1.0 / (2.0 * p);
        for wrong in [0.0, f64::INFINITY] {
            for v in gradient(atan2, &[p, p], &[wrong, -wrong]) {
                assert!(!v.is_pass(), "{wrong:e} at {p:e}: {v:?}");
            }
        }
        for v in gradient(atan2, &[p, p], &[exact, -exact]) {
            assert!(v.is_pass(), "the exact {exact:e} at {p:e}: {v:?}");
        }
    }
}

fn verdict_name(v: &Verdict) -> String {
    match v {
        Verdict::Inconclusive { reason, .. } => format!("inconclusive ({})", reason.name()),
        other => format!("{other:?}"),
    }
}

#[test]
fn textbook_rules_that_overflow_inside_are_wrong_at_extreme_magnitudes() {
    // Every intermediate derivative here is an ordinary f64; only the rule's
    // own formula leaves the range (a² + b² for hypot and atan2, b² for
    // −a/b²). MPFR judges them: the exact answer passes, the overflowed
    // one is wrong, not ill-conditioned.
    let hypot = "input x y\nz = hypot x y\noutput z";
    let half = std::f64::consts::FRAC_1_SQRT_2;
    for p in [1e200, 1e-200, 1e300] {
        let v = gradient(hypot, &[p, p], &[half, half]);
        assert!(v.iter().all(Verdict::is_pass), "{p:e}: {v:?}");
        for bad in [0.0, f64::NAN, f64::INFINITY] {
            let v = gradient(hypot, &[p, p], &[bad, bad]);
            assert!(
                v.iter().all(is_wrong),
                "{bad} at {p:e}: {:?}",
                v.iter().map(verdict_name).collect::<Vec<_>>()
            );
        }
    }
    let div = "input a b\nz = div a b\noutput z";
    let (a, b) = (1e-200, 1e-200);
    let v = gradient(div, &[a, b], &[1.0 / b, -(a / b) / b]);
    assert!(v.iter().all(Verdict::is_pass), "{v:?}");
    // −a/b²: b² underflows to 0.
    let v = gradient(div, &[a, b], &[1.0 / b, -a / (b * b)]);
    assert!(v[0].is_pass() && is_wrong(&v[1]), "{v:?}");
    let atan2 = "input y x\nz = atan2 y x\noutput z";
    for p in [1e-300, 1e200] {
        for bad in [0.0, f64::INFINITY] {
            let v = gradient(atan2, &[p, p], &[bad, -bad]);
            assert!(v.iter().all(is_wrong), "{bad:e} at {p:e}: {v:?}");
        }
    }
    // Near, not at, the origin: x/(x² + y²) at (3e−170, 4e−170).
    let (y, x) = (3e-170f64, 4e-170f64);
    let r = y.hypot(x);
    let exact = [(x / r) / r, -(y / r) / r];
    let v = gradient(atan2, &[y, x], &exact);
    assert!(v.iter().all(Verdict::is_pass), "{v:?}");
    let v = gradient(atan2, &[y, x], &[f64::INFINITY, f64::NEG_INFINITY]);
    assert!(v.iter().all(is_wrong), "{v:?}");
}

#[test]
fn an_underflowing_tangent_excuses_what_it_can_cost_and_no_more() {
    // z = ((x·1e−200)·1e−200)·1e300 at 1e200 (values 1, 1e−200, 1e100):
    // the tangent of the second product is 1e−400, below f64's range, so a
    // forward engine answers 0 while a reverse one answers 1e−100 (its
    // adjoints stay in range). Neither is a bug: the underflow can cost the
    // whole entry, so any answer between is undecided (the exact one
    // passes), and a value the underflow cannot explain is still a fail.
    let program = "input x\nc = const 1e-200\nd = const 1e300\ny = mul x c\nw = mul y c\nz = mul w d\noutput z";
    let reverse = (1e300 * 1e-200) * 1e-200;
    let v = &gradient(program, &[1e200], &[reverse])[0];
    assert!(v.is_pass(), "{}", verdict_name(v));
    let v = &gradient(program, &[1e200], &[0.0])[0];
    assert!(
        matches!(
            v,
            Verdict::Inconclusive {
                reason: adcheck_oracle::InconclusiveReason::IllConditioned,
                ..
            }
        ),
        "{}",
        verdict_name(v)
    );
    for answer in [1e-90, -1e-100] {
        let v = &gradient(program, &[1e200], &[answer])[0];
        assert!(
            matches!(v, Verdict::Fail { .. }),
            "{answer:e}: {}",
            verdict_name(v)
        );
    }
}

#[test]
fn an_overflowing_adjoint_leaves_the_entry_undecided() {
    // z = (x·1e300)·1e10·1e−300 at 1: forward, the tangents stay in range
    // (1e300, then 1e310 overflows: ∞); reverse, the adjoint of x·1e300 is
    // 1e−290, fine. One of the products, 1e310, does not fit f64: an
    // engine's ∞ or NaN there is no bug, and no verdict either way but pass
    // for the exact value.
    let program = "input x\na = const 1e300\nb = const 1e10\nc = const 1e-300\ny = mul x a\nw = mul y b\nz = mul w c\noutput z";
    let v = &gradient(program, &[1e-20], &[1e10])[0];
    assert!(v.is_pass(), "{}", verdict_name(v));
    let v = &gradient(program, &[1e-20], &[f64::INFINITY])[0];
    assert!(
        matches!(v, Verdict::Inconclusive { .. }),
        "{}",
        verdict_name(v)
    );
}

#[test]
fn a_tangent_lost_below_the_range_into_an_infinite_partial_is_undecided() {
    // √((x4·x1)/x4) at x1 = 0, x4 = 5e−324 along d = (1/8, …, −1/8): the
    // tangent of x4·x1 is 6e−325, which f64 rounds to 0, and √′(0) is ∞.
    // The exact derivative diverges (+∞), but a forward engine's 0 comes
    // from the range, not its rules: undecided, while +∞ is the limit.
    let program = "input v1 v2 v3 v4\nv5 = mul v4 v1\nv6 = div v5 v4\nv7 = sqrt v6\noutput v7 v2";
    let x = [0.0, 0.0, 1.0, 5e-324];
    let d = vec![0.125, -0.125, -0.5, -0.125];
    let v = &judged(program, &x, Quantity::Jvp(d.clone()), &[0.0, -0.125])[0];
    assert!(
        matches!(v, Verdict::Inconclusive { .. }),
        "{}",
        verdict_name(v)
    );
    let v = &judged(program, &x, Quantity::Jvp(d), &[f64::INFINITY, -0.125])[0];
    assert!(is_convention(v), "{}", verdict_name(v));
}

#[test]
fn operations_tied_on_the_same_values_choose_their_sides_each_on_its_own() {
    // max(v2, v4) and iflt(v4 < v2) at v2 = v4 = 0 (echidna: the max tie
    // to its first argument, and the branch test false, as its primal
    // evaluation decides): ∂/∂v2 of u·(max, iflt) with u = (7/8, 1/2) is
    // 7/8 + 1/2, one of the values the chain rule over the ties allows.
    let program = "input v1 v2 v3 v4\nv5 = iflt v4 v2 v3 v2\nv6 = max v2 v4\noutput v6 v5";
    let x = [1.0, 0.0, 1.0, 0.0];
    let u = vec![0.875, 0.5];
    let v = judged(
        program,
        &x,
        Quantity::Vjp(u.clone()),
        &[0.0, 1.375, 0.0, 0.0],
    );
    assert!(is_convention(&v[1]), "{}", verdict_name(&v[1]));
    // Beyond what any choice gives, it is wrong.
    let v = judged(program, &x, Quantity::Vjp(u), &[0.0, 2.0, 0.0, 0.0]);
    assert!(is_wrong(&v[1]), "{}", verdict_name(&v[1]));
}

#[test]
fn a_finite_branch_of_a_tie_at_a_divergence_is_admissible() {
    // max(x, √x) at 0: the derivative from the right is +∞ (√ wins), but
    // the tie sends it to x as well, whose derivative 1 is one of the
    // branches; 0.5 and 2 are neither.
    let program = "input x\ny = sqrt x\nz = max x y\noutput z";
    for g in [1.0, f64::INFINITY] {
        let v = &gradient(program, &[0.0], &[g])[0];
        assert!(is_convention(v), "{g}: {}", verdict_name(v));
    }
    let v = &gradient(program, &[0.0], &[-1.0])[0];
    assert!(is_wrong(v), "{}", verdict_name(v));
}

#[test]
fn a_value_constant_near_the_point_has_derivative_zero_through_a_singular_rule() {
    // Each program is constant near its point, though an operation on the
    // way sits where its rule is infinite: the derivative is 0, and the NaN
    // of 0·∞ through it (JAX's and PyTorch's answer) is wrong.
    let constant = [
        ("input x\nr = relu x\ns = sqrt r\noutput s", -1.0),
        ("input x\np = powi x 0\na = acos p\noutput a", 3.0),
        (
            "input x\nc = mul x x\nd = sub c c\ns = sqrt d\noutput s",
            -2.0,
        ),
        // The branch not taken by a strict comparison, as `where(x > 0, …)`.
        (
            "input x\nz = const 0\nr = relu x\ns = sqrt r\nv = iflt z x s z\nw = sqrt v\noutput w",
            -0.5,
        ),
        // min strictly on its constant side.
        (
            "input x\nc = const 1\nm = min x c\nd = sub m c\nr = relu d\ns = sqrt r\noutput s",
            3.0,
        ),
    ];
    for (program, x) in constant {
        let v = gradient(program, &[x], &[0.0]);
        assert!(v[0].is_pass(), "{program} at {x}: 0 gives {v:?}");
        let v = gradient(program, &[x], &[f64::NAN]);
        assert!(is_wrong(&v[0]), "{program} at {x}: NaN gives {v:?}");
        if let Verdict::Fail { evidence, .. } = &v[0] {
            assert!(
                evidence.contains("is constant near the point"),
                "{evidence}"
            );
        }
        let v = gradient(program, &[x], &[1.0]);
        assert!(is_wrong(&v[0]), "{program} at {x}: 1 gives {v:?}");
    }
    // Not constant where the comparison sits at its tie, or where the value
    // deciding it is not continuous: those keep the kink's and the edge's
    // rules (√(relu x) at 0 has one-sided derivatives 0 and +∞).
    let kink = "input x\nr = relu x\ns = sqrt r\noutput s";
    assert!(!gradient(kink, &[0.0], &[f64::NAN])[0].is_pass());
    assert!(!is_wrong(&gradient(kink, &[0.0], &[f64::INFINITY])[0]));
    let edge = "input x\ns = sqrt x\nc = const 1\nd = sub s c\nr = relu d\nq = sqrt r\noutput q";
    assert!(!is_wrong(&gradient(edge, &[0.0], &[f64::NAN])[0]));
    // One expression written twice is two values to an engine, which
    // differentiates them apart: ∛x − ∛x is not frozen, so NaN is no
    // failure (a false alarm of the soak, gen-255735).
    let twice = "input x\na = cbrt x\nb = cbrt x\nd = sub a b\ns = sqrt d\noutput s";
    let v = gradient(twice, &[-1.0], &[f64::NAN]);
    assert!(!matches!(v[0], Verdict::Fail { .. }), "{v:?}");
}
