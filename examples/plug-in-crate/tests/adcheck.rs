//! tiny-dual checked by adcheck: a newtype makes `Dual` an adcheck
//! `Scalar`, `ForwardGlue` makes that an engine, and one `Check` runs the
//! suites, writes the report and fails this test on anything `wrong`.

use adcheck_adapters::{ForwardActive, ForwardGlue};
use adcheck_campaign::check::Check;
use adcheck_engines::Scalar;
use std::cmp::Ordering;
use tiny_dual::Dual;

/// `Dual` as adcheck sees it (the orphan rule asks for a newtype).
#[derive(Clone, Copy, Debug)]
struct A(Dual);

macro_rules! ops { ($($t:ident $f:ident $op:tt),*) => {
    $(impl std::ops::$t for A { type Output = A; fn $f(self, o: A) -> A { A(self.0 $op o.0) } })*
    impl std::ops::Neg for A { type Output = A; fn neg(self) -> A { A(-self.0) } }
} }
ops!(Add add +, Sub sub -, Mul mul *, Div div /);
macro_rules! unary { ($($f:ident => $g:ident),*) => { $(fn $f(&self) -> A { A(self.0.$g()) })* } }
macro_rules! binary { ($($f:ident),*) => { $(fn $f(&self, o: &A) -> A { A(self.0.$f(o.0)) })* } }

impl Scalar for A {
    fn from_f64(c: f64) -> A { A(Dual::constant(c)) }
    fn to_f64(&self) -> f64 { self.0.re }
    fn primal_cmp(&self, o: &A) -> Option<Ordering> { self.0.re.partial_cmp(&o.0.re) }
    fn powi(&self, n: i32) -> A { A(self.0.powi(n)) }
    unary!(recip => recip, sqrt => sqrt, cbrt => cbrt, exp => exp, expm1 => exp_m1, ln => ln,
        log1p => ln_1p, sin => sin, cos => cos, tan => tan, asin => asin, acos => acos,
        atan => atan, sinh => sinh, cosh => cosh, tanh => tanh, abs => abs, relu => relu,
        softplus => softplus);
    binary!(powf, atan2, min, max, hypot);
    fn logsumexp(xs: &[A]) -> A {
        A(Dual::logsumexp(&xs.iter().map(|x| x.0).collect::<Vec<_>>()))
    }
}

impl ForwardActive for A {
    fn seeded(value: f64, tangent: f64) -> A { A(Dual::new(value, tangent)) }
    fn tangent(&self) -> f64 { self.0.eps }
}

#[test]
fn tiny_dual_conforms() {
    let engine = ForwardGlue::<A>::new("tiny-dual");
    let out = concat!(env!("CARGO_MANIFEST_DIR"), "/target/adcheck/tiny-dual");
    let outcome = Check::new(&engine, out).cases(500).run().expect("the campaign ran");
    outcome.assert_no_failures(); // panics with the summary: every failure, its replay file
}
