//! `tiny-dual`: a forward-mode dual number `re + eps·ε`, `ε² = 0` — the
//! kind of small AD crate adcheck is for. Each operation carries its own
//! derivative rule; a zero tangent stays zero even through an infinite
//! partial (so `√` of a constant 0 does not turn a derivative into NaN).

/// A value and its tangent.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Dual {
    /// The value.
    pub re: f64,
    /// The tangent.
    pub eps: f64,
}

impl Dual {
    /// A variable with tangent `eps`.
    pub fn new(re: f64, eps: f64) -> Self {
        Dual { re, eps }
    }
    /// A constant.
    pub fn constant(re: f64) -> Self {
        Dual { re, eps: 0.0 }
    }
    /// `f(re)` with derivative `df` (a zero tangent contributes nothing).
    fn chain(self, value: f64, df: f64) -> Self {
        Dual::new(value, if self.eps == 0.0 { 0.0 } else { df * self.eps })
    }
    /// `f(a, b)` with partials `da`, `db`.
    fn chain2(a: Dual, b: Dual, value: f64, da: f64, db: f64) -> Self {
        let t = |d: f64, e: f64| if e == 0.0 { 0.0 } else { d * e };
        Dual::new(value, t(da, a.eps) + t(db, b.eps))
    }
}

macro_rules! unary {
    ($($name:ident: |$x:ident, $v:ident| $d:expr;)*) => {
        impl Dual {
            $(
                #[doc = concat!("`", stringify!($name), "`.")]
                #[allow(unused_variables)]
                pub fn $name(self) -> Self {
                    let $x = self.re;
                    let $v = $x.$name();
                    self.chain($v, $d)
                }
            )*
        }
    };
}

unary! {
    recip: |x, v| -v * v;
    sqrt: |x, v| 0.5 / v;
    cbrt: |x, v| 1.0 / (3.0 * v * v);
    exp: |x, v| v;
    exp_m1: |x, v| v + 1.0;
    ln: |x, v| 1.0 / x;
    ln_1p: |x, v| 1.0 / (1.0 + x);
    sin: |x, v| x.cos();
    cos: |x, v| -x.sin();
    tan: |x, v| 1.0 + v * v;
    asin: |x, v| 1.0 / ((1.0 - x) * (1.0 + x)).sqrt();
    acos: |x, v| -1.0 / ((1.0 - x) * (1.0 + x)).sqrt();
    atan: |x, v| 1.0 / (1.0 + x * x);
    sinh: |x, v| x.cosh();
    cosh: |x, v| x.sinh();
    tanh: |x, v| { let s = 1.0 / x.cosh(); s * s };
    abs: |x, v| if x > 0.0 { 1.0 } else if x < 0.0 { -1.0 } else { 0.0 };
}

impl Dual {
    /// `max(x, 0)`.
    pub fn relu(self) -> Self {
        self.chain(self.re.max(0.0), if self.re > 0.0 { 1.0 } else { 0.0 })
    }
    /// `ln(1 + eˣ)`.
    pub fn softplus(self) -> Self {
        let x = self.re;
        let value = if x > 0.0 { x + (-x).exp().ln_1p() } else { x.exp().ln_1p() };
        self.chain(value, 1.0 / (1.0 + (-x).exp()))
    }
    /// `xⁿ`.
    pub fn powi(self, n: i32) -> Self {
        // n − 1 in i64: at n = i32::MIN it does not fit an i32.
        let d = match i32::try_from(i64::from(n) - 1) {
            _ if n == 0 => 0.0,
            Ok(m) => f64::from(n) * self.re.powi(m),
            Err(_) => f64::from(n) * (self.re.powi(n) / self.re),
        };
        self.chain(self.re.powi(n), d)
    }
    /// `xᵖ`.
    pub fn powf(self, p: Dual) -> Self {
        let (a, b) = (self.re, p.re);
        let value = a.powf(b);
        let da = if b == 0.0 { 0.0 } else { b * a.powf(b - 1.0) };
        let db = if a == 0.0 && b >= 0.0 { 0.0 } else { value * a.ln() };
        Dual::chain2(self, p, value, da, db)
    }
    /// `atan2(self, x)`.
    pub fn atan2(self, x: Dual) -> Self {
        let (a, b) = (self.re, x.re);
        let r = a.hypot(b);
        let (da, db) = ((b / r) / r, (-a / r) / r);
        Dual::chain2(self, x, a.atan2(b), da, db)
    }
    /// `√(self² + other²)`.
    pub fn hypot(self, other: Dual) -> Self {
        let h = self.re.hypot(other.re);
        let (da, db) = if h == 0.0 { (0.0, 0.0) } else { (self.re / h, other.re / h) };
        Dual::chain2(self, other, h, da, db)
    }
    /// The smaller (half to each at a tie).
    pub fn min(self, other: Dual) -> Self {
        let (da, db) = match self.re.partial_cmp(&other.re) {
            Some(std::cmp::Ordering::Less) => (1.0, 0.0),
            Some(std::cmp::Ordering::Greater) => (0.0, 1.0),
            _ => (0.5, 0.5),
        };
        Dual::chain2(self, other, self.re.min(other.re), da, db)
    }
    /// The larger (half to each at a tie).
    pub fn max(self, other: Dual) -> Self {
        -((-self).min(-other))
    }
    /// `ln Σ eˣⁱ`, shifted by the largest.
    pub fn logsumexp(xs: &[Dual]) -> Dual {
        let m = xs.iter().map(|x| x.re).fold(f64::NEG_INFINITY, f64::max);
        if m == f64::NEG_INFINITY {
            // Every entry −∞: equal shares of the tangents.
            let eps = xs.iter().map(|x| x.eps).sum::<f64>() / xs.len() as f64;
            return Dual::new(m, eps);
        }
        if m == f64::INFINITY {
            return Dual::constant(m);
        }
        let total: f64 = xs.iter().map(|x| (x.re - m).exp()).sum();
        let eps = xs.iter().map(|x| (x.re - m).exp() / total * x.eps).sum();
        Dual::new(m + total.ln(), eps)
    }
}

impl std::ops::Add for Dual {
    type Output = Dual;
    fn add(self, o: Dual) -> Dual {
        Dual::new(self.re + o.re, self.eps + o.eps)
    }
}
impl std::ops::Sub for Dual {
    type Output = Dual;
    fn sub(self, o: Dual) -> Dual {
        Dual::new(self.re - o.re, self.eps - o.eps)
    }
}
impl std::ops::Mul for Dual {
    type Output = Dual;
    fn mul(self, o: Dual) -> Dual {
        Dual::chain2(self, o, self.re * o.re, o.re, self.re)
    }
}
impl std::ops::Div for Dual {
    type Output = Dual;
    fn div(self, o: Dual) -> Dual {
        let q = self.re / o.re;
        Dual::chain2(self, o, q, 1.0 / o.re, -q / o.re)
    }
}
impl std::ops::Neg for Dual {
    type Output = Dual;
    fn neg(self) -> Dual {
        Dual::new(-self.re, -self.eps)
    }
}
