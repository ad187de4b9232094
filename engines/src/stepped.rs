//! [`Stepped`] functions: a state advanced by `L` steps, then read out, as
//! an ODE integrator or a recurrent network is; and [`ProgramSteps`], which
//! cuts any [`Program`] into steps so checkpointing applies to it too.

use crate::program::{Instr, ValueId};
use crate::{Differentiable, Program, Scalar};
use std::collections::HashMap;

/// A function computed as `y = read_out(x, s_L)`, `s_{k+1} = step(k, x, s_k)`,
/// `s_0 = init(x)`.
///
/// Checkpointing engines keep only some states `s_k` and recompute the
/// others. For their gradients to equal plain reverse mode bit for bit, a
/// state component should never be an input itself that steps also read
/// directly (make the initial state a computed copy, or separate inputs).
pub trait Stepped {
    /// The number of inputs `n`.
    fn n_inputs(&self) -> usize;
    /// The number of outputs `m`.
    fn n_outputs(&self) -> usize;
    /// The number of steps `L`.
    fn n_steps(&self) -> usize;
    /// The initial state.
    fn init<S: Scalar>(&self, x: &[S]) -> Vec<S>;
    /// Step `k`: the next state from the current one.
    fn step<S: Scalar>(&self, k: usize, x: &[S], state: &[S]) -> Vec<S>;
    /// The outputs from the final state.
    fn read_out<S: Scalar>(&self, x: &[S], state: &[S]) -> Vec<S>;
}

impl<F: Stepped + ?Sized> Stepped for &F {
    fn n_inputs(&self) -> usize {
        (**self).n_inputs()
    }
    fn n_outputs(&self) -> usize {
        (**self).n_outputs()
    }
    fn n_steps(&self) -> usize {
        (**self).n_steps()
    }
    fn init<S: Scalar>(&self, x: &[S]) -> Vec<S> {
        (**self).init(x)
    }
    fn step<S: Scalar>(&self, k: usize, x: &[S], state: &[S]) -> Vec<S> {
        (**self).step(k, x, state)
    }
    fn read_out<S: Scalar>(&self, x: &[S], state: &[S]) -> Vec<S> {
        (**self).read_out(x, state)
    }
}

/// A [`Stepped`] function seen as one [`Differentiable`] (all steps in a row).
#[derive(Clone, Copy, Debug)]
pub struct Unrolled<F>(pub F);

impl<F: Stepped> Differentiable for Unrolled<F> {
    fn n_inputs(&self) -> usize {
        self.0.n_inputs()
    }
    fn n_outputs(&self) -> usize {
        self.0.n_outputs()
    }
    fn eval<S: Scalar>(&self, x: &[S]) -> Vec<S> {
        let mut state = self.0.init(x);
        for k in 0..self.0.n_steps() {
            state = self.0.step(k, x, &state);
        }
        self.0.read_out(x, &state)
    }
}

/// A [`Program`] cut into steps of a few body entries each. The state at a
/// cut is the set of values defined before it and used after it (inputs are
/// read directly by every step, never carried in the state).
#[derive(Clone, Debug)]
pub struct ProgramSteps<'p> {
    program: &'p Program,
    /// Step `k` evaluates body entries `cuts[k]..cuts[k + 1]`.
    cuts: Vec<usize>,
    /// The body values live at each cut, in increasing order.
    live: Vec<Vec<ValueId>>,
}

impl<'p> ProgramSteps<'p> {
    /// Cuts `program` into steps of `entries_per_step` body entries (the last
    /// may be shorter).
    pub fn new(program: &'p Program, entries_per_step: usize) -> Self {
        let len = program.body().len();
        let per = entries_per_step.max(1);
        let mut cuts: Vec<usize> = (0..len).step_by(per).collect();
        cuts.push(len);
        if cuts.len() == 1 {
            cuts.insert(0, 0);
        }
        let n = program.n_inputs();
        // The last entry index that reads each value (outputs read at `len`).
        let mut last_use = vec![None::<usize>; program.n_values()];
        for (k, instr) in program.body().iter().enumerate() {
            for &a in instr.args() {
                last_use[a as usize] = Some(k);
            }
        }
        for &o in program.outputs() {
            last_use[o as usize] = Some(len);
        }
        let live = cuts
            .iter()
            .map(|&cut| {
                (n..n + cut)
                    .filter(|&v| last_use[v].is_some_and(|u| u >= cut))
                    .map(|v| v as ValueId)
                    .collect()
            })
            .collect();
        ProgramSteps {
            program,
            cuts,
            live,
        }
    }

    /// The values a state holds at cut `k`.
    pub fn live(&self, k: usize) -> &[ValueId] {
        &self.live[k]
    }
}

impl Stepped for ProgramSteps<'_> {
    fn n_inputs(&self) -> usize {
        self.program.n_inputs()
    }
    fn n_outputs(&self) -> usize {
        self.program.n_outputs()
    }
    fn n_steps(&self) -> usize {
        self.cuts.len() - 1
    }
    fn init<S: Scalar>(&self, _x: &[S]) -> Vec<S> {
        Vec::new()
    }
    fn step<S: Scalar>(&self, k: usize, x: &[S], state: &[S]) -> Vec<S> {
        let n = self.program.n_inputs();
        let mut values: HashMap<ValueId, S> = self.live[k]
            .iter()
            .copied()
            .zip(state.iter().cloned())
            .collect();
        for index in self.cuts[k]..self.cuts[k + 1] {
            let instr: &Instr = &self.program.body()[index];
            let value = instr.eval(|a| {
                if (a as usize) < n {
                    &x[a as usize]
                } else {
                    &values[&a]
                }
            });
            values.insert((n + index) as ValueId, value);
        }
        self.live[k + 1].iter().map(|v| values[v].clone()).collect()
    }
    fn read_out<S: Scalar>(&self, x: &[S], state: &[S]) -> Vec<S> {
        let n = self.program.n_inputs();
        let last = &self.live[self.live.len() - 1];
        self.program
            .outputs()
            .iter()
            .map(|&o| {
                if (o as usize) < n {
                    x[o as usize].clone()
                } else {
                    let at = last.binary_search(&o).expect("outputs are live at the end");
                    state[at].clone()
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn program_steps_compute_the_program() {
        let p = Program::parse(
            "input a b\nc = mul a b\nd = sin c\ne = add d a\nf = exp b\ng = mul e c\noutput g f a",
        )
        .unwrap();
        for per in 1..=6 {
            let steps = ProgramSteps::new(&p, per);
            assert_eq!(
                Unrolled(&steps).eval(&[0.5, -1.5]),
                p.eval(&[0.5, -1.5]),
                "{per} per step"
            );
        }
        let steps = ProgramSteps::new(&p, 1);
        assert_eq!(steps.n_steps(), 5);
        // After `c = mul a b` and `d = sin c`, c and d are live.
        assert_eq!(steps.live(2), &[2, 3]);
    }
}
