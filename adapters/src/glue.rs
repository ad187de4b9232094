//! Glue for forward-mode active types: implement [`ForwardActive`] (a
//! [`Scalar`] that can be seeded with a tangent and read back) and
//! [`ForwardGlue`] is a complete [`Engine`]: `jvp` in one pass, `vjp`,
//! gradients and Jacobians from `n` passes.

use adcheck_engines::{
    CallStats, Capabilities, Derivative, Differentiable, Engine, EngineError, Program, Scalar,
};
use std::marker::PhantomData;

/// A forward-mode active scalar: a value with one tangent.
pub trait ForwardActive: Scalar {
    /// The variable `value` carrying the tangent `tangent`.
    fn seeded(value: f64, tangent: f64) -> Self;
    /// The tangent part.
    fn tangent(&self) -> f64;
}

/// An [`Engine`] made from a [`ForwardActive`] type.
pub struct ForwardGlue<T> {
    name: String,
    active: PhantomData<fn() -> T>,
}

impl<T: ForwardActive> ForwardGlue<T> {
    /// An engine called `name`.
    pub fn new(name: impl Into<String>) -> Self {
        ForwardGlue {
            name: name.into(),
            active: PhantomData,
        }
    }
}

impl<T: ForwardActive> Engine for ForwardGlue<T> {
    fn name(&self) -> &str {
        &self.name
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            forward: true,
            ..Capabilities::default()
        }
    }

    fn jvp(&self, p: &Program, x: &[f64], v: &[f64]) -> Result<Derivative, EngineError> {
        EngineError::check_point(p, x)?;
        EngineError::check_seed("direction v", v, x.len())?;
        let inputs: Vec<T> = x.iter().zip(v).map(|(&a, &t)| T::seeded(a, t)).collect();
        let outputs = p.eval(&inputs);
        Ok(Derivative {
            primal: outputs.iter().map(Scalar::to_f64).collect(),
            derivative: outputs.iter().map(ForwardActive::tangent).collect(),
            stats: CallStats {
                forward_passes: 1,
                ..CallStats::default()
            },
        })
    }

    /// `uᵀJ` from the `n` columns of `J`.
    fn vjp(&self, p: &Program, x: &[f64], u: &[f64]) -> Result<Derivative, EngineError> {
        EngineError::check_point(p, x)?;
        EngineError::check_seed("cotangent u", u, p.n_outputs())?;
        let mut jacobian = self.jacobian(p, x)?;
        let n = x.len();
        jacobian.derivative = (0..n)
            .map(|j| {
                (0..p.n_outputs()).fold(0.0, |acc, i| {
                    acc + adcheck_engines::conventions::chain(jacobian.derivative[i * n + j], u[i])
                })
            })
            .collect();
        Ok(jacobian)
    }

    /// `n` forward passes, one column each (never the trait's row-wise
    /// default, which would call `vjp` and so come back here).
    fn jacobian(&self, p: &Program, x: &[f64]) -> Result<Derivative, EngineError> {
        EngineError::check_point(p, x)?;
        let (n, m) = (x.len(), p.n_outputs());
        let mut jacobian = vec![0.0; n * m];
        let mut primal = p.eval(x);
        let mut stats = CallStats::default();
        for j in 0..n {
            let mut e = vec![0.0; n];
            e[j] = 1.0;
            let column = self.jvp(p, x, &e)?;
            stats.absorb(&column.stats);
            for (i, d) in column.derivative.iter().enumerate() {
                jacobian[i * n + j] = *d;
            }
            primal = column.primal;
        }
        Ok(Derivative {
            primal,
            derivative: jacobian,
            stats,
        })
    }
}
