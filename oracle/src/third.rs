//! A third symbolic reference by [Symbolica](https://symbolica.io)
//! (cargo feature `symbolica`, off by default and out of CI).
//!
//! The program at the point becomes one Symbolica expression per output:
//! each non-smooth operation is resolved to the piece the exact evaluation
//! takes (`abs` to `x` or `−x`, `max` to one argument, a branch to the side
//! taken), which has the same derivative wherever the program is
//! differentiable. Symbolica differentiates it (`AtomCore::derivative`) and
//! evaluates the derivatives in MPFR (`evaluate_with_prec`). Only
//! Symbolica's documented API is used. A point on a kink or a tie, a zero or
//! negative base of a real power, or an expression too large to inline is
//! [`Unsupported`]: the oracle then has its two references only.
//!
//! Symbolica's licence lets an unlicensed copy run as one instance on one
//! core, and such a copy aborts the process when a second thread calls it:
//! every request here goes to one dedicated thread, which alone calls
//! Symbolica.

use crate::{Mp, Quantity};
use adcheck_engines::ops::{BinaryOp, Comparison, UnaryOp};
use adcheck_engines::{Differentiable, Instr, Program, Scalar};
use rug::Float;
use std::cmp::Ordering;
use std::collections::HashMap;
use std::sync::{mpsc, Mutex, OnceLock};
use symbolica::prelude::*;

/// Why Symbolica was not asked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Unsupported(pub String);

/// Inlined expressions longer than this are not built (fan-out doubles
/// them at every level).
const MAX_EXPRESSION: usize = 200_000;

/// One request to the Symbolica thread, and where its answer goes.
struct Job {
    outputs: Vec<String>,
    x: Vec<f64>,
    quantity: Quantity,
    prec: u32,
    answer: mpsc::Sender<Result<Vec<Float>, Unsupported>>,
}

/// The one thread that runs Symbolica: an unlicensed copy aborts the
/// process when a second thread uses it, so every caller hands its work to
/// this thread and waits.
fn symbolica_thread() -> &'static Mutex<mpsc::Sender<Job>> {
    static WORKER: OnceLock<Mutex<mpsc::Sender<Job>>> = OnceLock::new();
    WORKER.get_or_init(|| {
        let (send, jobs) = mpsc::channel::<Job>();
        std::thread::Builder::new()
            .name("symbolica".into())
            .spawn(move || {
                for job in jobs {
                    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                        differentiate(&job.outputs, &job.x, &job.quantity, job.prec)
                    }))
                    .unwrap_or_else(|panic| {
                        let message = panic
                            .downcast_ref::<&str>()
                            .map(|s| s.to_string())
                            .or_else(|| panic.downcast_ref::<String>().cloned())
                            .unwrap_or_default();
                        Err(Unsupported(format!("Symbolica panicked: {message}")))
                    });
                    let _ = job.answer.send(result);
                }
            })
            .expect("the Symbolica thread starts");
        Mutex::new(send)
    })
}

/// An exact decimal-free form of an `f64`: a rational Symbolica reads
/// exactly.
fn exact(c: f64) -> String {
    if c == 0.0 {
        return "0".into();
    }
    let bits = c.to_bits();
    let sign = if bits >> 63 == 1 { "-" } else { "" };
    let exponent = ((bits >> 52) & 0x7ff) as i64;
    let fraction = bits & ((1u64 << 52) - 1);
    let (mantissa, power) = if exponent == 0 {
        (fraction, -1074)
    } else {
        (fraction | (1u64 << 52), exponent - 1075)
    };
    if power >= 0 {
        format!("({sign}{mantissa}*2^{power})")
    } else {
        format!("({sign}{mantissa}/2^{})", -power)
    }
}

/// The exact value of an MPFR float as a rational Symbolica reads exactly.
fn exact_mp(v: &Float) -> String {
    match v.to_integer_exp() {
        Some((m, e)) if e >= 0 => format!("({m}*2^{e})"),
        Some((m, e)) => format!("({m}/2^{})", -e),
        None => "0".into(),
    }
}

/// The program's outputs as Symbolica expressions in `x0 … x(n−1)`, with
/// every non-smooth choice resolved at `x`. Values that do not depend on
/// the inputs enter as their exact MPFR values: Symbolica would otherwise
/// try exact rational powers of constants, which can be astronomically
/// large.
fn expressions(p: &Program, x: &[f64]) -> Result<Vec<String>, Unsupported> {
    let n = p.n_inputs();
    let point: Vec<Mp> = x.iter().map(|&v| Mp::from_f64(v)).collect();
    let values = p.all_values(&point);
    if values.iter().any(|v| !v.0.is_finite()) {
        return Err(Unsupported("a value is not finite".into()));
    }
    let sign = |k: usize| values[k].0.cmp0();
    let order = |a: usize, b: usize| values[a].primal_cmp(&values[b]);
    let unsupported = |what: &str| Err(Unsupported(what.to_string()));
    let mut e: Vec<String> = (0..n).map(|j| format!("x{j}")).collect();
    let mut varies: Vec<bool> = vec![true; n];
    for (k, instr) in p.body().iter().enumerate() {
        let depends = instr.args().iter().any(|&a| varies[a as usize]);
        varies.push(depends);
        if !depends {
            e.push(exact_mp(&values[n + k].0));
            continue;
        }
        let a = |i: usize| -> &str { &e[instr.args()[i] as usize] };
        let v = |i: usize| instr.args()[i] as usize;
        let text = match instr {
            Instr::Const(c) => exact(*c),
            Instr::PowI(_, m) => format!("({})^({m})", a(0)),
            Instr::Unary(op, _) => {
                let x = a(0);
                match op {
                    UnaryOp::Neg => format!("(-({x}))"),
                    UnaryOp::Recip => format!("(1/({x}))"),
                    UnaryOp::Sqrt => format!("(({x})^(1/2))"),
                    UnaryOp::Cbrt => match sign(v(0)) {
                        Some(Ordering::Greater) => format!("(({x})^(1/3))"),
                        Some(Ordering::Less) => format!("(-(-({x}))^(1/3))"),
                        _ => return unsupported("cbrt at 0"),
                    },
                    UnaryOp::Exp => format!("exp({x})"),
                    UnaryOp::Expm1 => format!("(exp({x})-1)"),
                    UnaryOp::Ln => format!("log({x})"),
                    UnaryOp::Log1p => format!("log(1+({x}))"),
                    UnaryOp::Sin => format!("sin({x})"),
                    UnaryOp::Cos => format!("cos({x})"),
                    UnaryOp::Tan => format!("tan({x})"),
                    UnaryOp::Asin => format!("asin({x})"),
                    UnaryOp::Acos => format!("acos({x})"),
                    UnaryOp::Atan => format!("atan({x})"),
                    UnaryOp::Sinh => format!("sinh({x})"),
                    UnaryOp::Cosh => format!("cosh({x})"),
                    UnaryOp::Tanh => format!("tanh({x})"),
                    UnaryOp::Softplus => format!("log(1+exp({x}))"),
                    UnaryOp::Abs | UnaryOp::Relu => match sign(v(0)) {
                        Some(Ordering::Greater) => format!("({x})"),
                        Some(Ordering::Less) if *op == UnaryOp::Abs => format!("(-({x}))"),
                        Some(Ordering::Less) => "0".into(),
                        _ => return unsupported("a kink at 0"),
                    },
                }
            }
            Instr::Binary(op, _) => {
                let (x, y) = (a(0), a(1));
                match op {
                    BinaryOp::Add => format!("(({x})+({y}))"),
                    BinaryOp::Sub => format!("(({x})-({y}))"),
                    BinaryOp::Mul => format!("(({x})*({y}))"),
                    BinaryOp::Div => format!("(({x})/({y}))"),
                    BinaryOp::Powf => match sign(v(0)) {
                        Some(Ordering::Greater) => format!("(({x})^({y}))"),
                        _ => return unsupported("a real power of a base ≤ 0"),
                    },
                    // atan(y/x) differs from atan2 by a constant off x = 0.
                    BinaryOp::Atan2 => match sign(v(1)) {
                        Some(Ordering::Greater | Ordering::Less) => format!("atan(({x})/({y}))"),
                        _ => return unsupported("atan2 on the y axis"),
                    },
                    BinaryOp::Hypot => {
                        if sign(v(0)) == Some(Ordering::Equal)
                            && sign(v(1)) == Some(Ordering::Equal)
                        {
                            return unsupported("hypot at the origin");
                        }
                        format!("((({x})^2+({y})^2)^(1/2))")
                    }
                    BinaryOp::Min | BinaryOp::Max => {
                        let want = if *op == BinaryOp::Max {
                            Ordering::Greater
                        } else {
                            Ordering::Less
                        };
                        match order(v(0), v(1)) {
                            Some(o) if o == want => x.to_string(),
                            Some(Ordering::Equal) | None => return unsupported("a tie"),
                            Some(_) => y.to_string(),
                        }
                    }
                }
            }
            Instr::LogSumExp(args) => {
                let terms: Vec<String> =
                    (0..args.len()).map(|i| format!("exp({})", a(i))).collect();
                format!("log({})", terms.join("+"))
            }
            Instr::Select(cmp, _) => match order(v(0), v(1)) {
                Some(Ordering::Equal) | None => return unsupported("a branch at its boundary"),
                Some(o) => {
                    let holds =
                        o == Ordering::Less || (*cmp == Comparison::Le && o == Ordering::Equal);
                    if holds {
                        a(2).to_string()
                    } else {
                        a(3).to_string()
                    }
                }
            },
        };
        if text.len() > MAX_EXPRESSION {
            return unsupported("the inlined expression is too large");
        }
        debug_assert_eq!(e.len(), n + k);
        e.push(text);
    }
    Ok(p.outputs().iter().map(|&o| e[o as usize].clone()).collect())
}

fn parse(text: &str) -> Result<Atom, Unsupported> {
    try_parse!(text).map_err(|e| Unsupported(format!("Symbolica cannot parse it: {e}")))
}

/// Symbolica's values, at `prec` bits, of the entries of `quantity` of `p`
/// at `x`, in the oracle's entry order.
pub fn reference(
    p: &Program,
    x: &[f64],
    quantity: &Quantity,
    prec: u32,
) -> Result<Vec<Float>, Unsupported> {
    let outputs = expressions(p, x)?;
    let (answer, receive) = mpsc::channel();
    let job = Job {
        outputs,
        x: x.to_vec(),
        quantity: quantity.clone(),
        prec,
        answer,
    };
    symbolica_thread()
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .send(job)
        .map_err(|_| Unsupported("the Symbolica thread is gone".into()))?;
    receive
        .recv()
        .map_err(|_| Unsupported("the Symbolica thread is gone".into()))?
}

/// Differentiates and evaluates the output expressions (on the Symbolica
/// thread).
fn differentiate(
    outputs: &[String],
    x: &[f64],
    quantity: &Quantity,
    prec: u32,
) -> Result<Vec<Float>, Unsupported> {
    let n = x.len();
    let names: Vec<String> = (0..n).map(|j| format!("x{j}")).collect();
    let mut point: HashMap<Atom, symbolica::domains::float::Float> = HashMap::new();
    for (name, &value) in names.iter().zip(x) {
        point.insert(
            parse(name)?,
            symbolica::domains::float::Float::with_val(prec, value),
        );
    }
    let evaluate = |atom: &Atom| -> Result<Float, Unsupported> {
        atom.evaluate_with_prec(&point, prec)
            .map(|f| f.into_raw())
            .map_err(|e| Unsupported(format!("Symbolica cannot evaluate it: {e:?}")))
    };
    let atoms: Vec<Atom> = outputs.iter().map(|t| parse(t)).collect::<Result<_, _>>()?;
    // The Jacobian, row by row: ∂yᵢ/∂xⱼ.
    let derivatives: Vec<Vec<Atom>> = atoms
        .iter()
        .map(|y| {
            names
                .iter()
                .map(|name| y.derivative(symbol!(name.as_str())))
                .collect()
        })
        .collect();
    let zero = || Float::with_val(prec, 0);
    let combine = |row: &[Atom], w: &[f64]| -> Result<Float, Unsupported> {
        let mut total = zero();
        for (d, &wj) in row.iter().zip(w) {
            if wj != 0.0 {
                total += evaluate(d)? * wj;
            }
        }
        Ok(total)
    };
    match quantity {
        Quantity::Jvp(v) => derivatives.iter().map(|row| combine(row, v)).collect(),
        Quantity::Vjp(u) => (0..n)
            .map(|j| {
                let mut total = zero();
                for (row, &ui) in derivatives.iter().zip(u) {
                    if ui != 0.0 {
                        total += evaluate(&row[j])? * ui;
                    }
                }
                Ok(total)
            })
            .collect(),
        Quantity::Gradient | Quantity::Jacobian => {
            derivatives.iter().flatten().map(evaluate).collect()
        }
        Quantity::Hvp(v) => {
            // ∂/∂xᵢ of Σⱼ vⱼ ∂y/∂xⱼ.
            let mut directional = parse("0")?;
            for (d, &vj) in derivatives[0].iter().zip(v) {
                if vj != 0.0 {
                    directional = &directional + &(d * &parse(&exact(vj))?);
                }
            }
            names
                .iter()
                .map(|name| evaluate(&directional.derivative(symbol!(name.as_str()))))
                .collect()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constants_are_exact() {
        assert_eq!(exact(0.5), "(4503599627370496/2^53)");
        assert_eq!(exact(-3.0), "(-6755399441055744/2^51)");
        assert_eq!(exact(0.0), "0");
    }
}
