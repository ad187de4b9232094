//! The core vocabulary of adcheck and its built-in AD engines.
//!
//! - [`Scalar`]: the number type programs are written over (`f64`, the
//!   engines' active types, the oracle's MPFR float).
//! - [`Differentiable`]: a function `Rⁿ → Rᵐ` written once, generic over
//!   [`Scalar`].
//! - [`Program`]: a Wengert list with a text and a JSON form; it is
//!   [`Differentiable`] through one interpreter.
//! - [`trace()`]: records any [`Differentiable`] at a point as a [`Program`].
//! - [`Engine`]: the one interface of every AD engine, built-in or not.
//!
//! The built-in engines are [`forward::ForwardEngine`] (dual numbers) and
//! [`reverse::ReverseEngine`] (a Wengert tape). Their derivative rules, and
//! the values they give at kinks and domain edges, live in [`conventions`].
//!
//! ```
//! use adcheck_engines::{Engine, Program, forward::ForwardEngine, reverse::ReverseEngine};
//!
//! // The seed example: y = x1·x2 + sin x1.
//! let p = Program::parse("input v1 v2\nv3 = mul v1 v2\nv4 = sin v1\nv5 = add v3 v4\noutput v5")?;
//! let x = [1.5, -2.0];
//! let dy_dx1 = ForwardEngine::default().jvp(&p, &x, &[1.0, 0.0])?;
//! let grad = ReverseEngine::default().gradient(&p, &x)?;
//! assert_eq!(dy_dx1.derivative, vec![x[1] + x[0].cos()]);
//! assert_eq!(grad.derivative, vec![x[1] + x[0].cos(), x[0]]);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod checkpointed;
pub mod conventions;
mod engine;
pub mod forward;
pub mod fwd_over_rev;
pub mod ops;
pub mod program;
pub mod reverse;
mod scalar;
pub mod stepped;
mod trace;

pub use engine::{
    Call, CallStats, Capabilities, Derivative, Engine, EngineError, ProcessFault, Request,
};
pub use program::{
    local_partials, Instr, Location, Program, ProgramError, ProgramErrorKind, ValueId,
};
pub use scalar::Scalar;
pub use trace::{trace, Traced};

/// Every built-in engine, in a fixed order.
pub fn builtin_engines() -> Vec<Box<dyn Engine>> {
    vec![
        Box::new(forward::ForwardEngine),
        Box::new(reverse::ReverseEngine),
        Box::new(checkpointed::CheckpointedEngine::default()),
        Box::new(fwd_over_rev::FwdOverRevEngine),
    ]
}

/// A function `Rⁿ → Rᵐ` written once, generic over [`Scalar`].
///
/// Hand-written problems implement it directly; [`Program`] implements it by
/// interpretation. Any engine differentiates it by calling [`eval`] with its
/// own active scalar type.
///
/// [`eval`]: Differentiable::eval
pub trait Differentiable {
    /// The number of inputs, `n`.
    fn n_inputs(&self) -> usize;
    /// The number of outputs, `m`.
    fn n_outputs(&self) -> usize;
    /// Evaluates the function at `x` (of length `n`), giving `m` outputs.
    fn eval<S: Scalar>(&self, x: &[S]) -> Vec<S>;
}

impl<F: Differentiable + ?Sized> Differentiable for &F {
    fn n_inputs(&self) -> usize {
        (**self).n_inputs()
    }
    fn n_outputs(&self) -> usize {
        (**self).n_outputs()
    }
    fn eval<S: Scalar>(&self, x: &[S]) -> Vec<S> {
        (**self).eval(x)
    }
}
