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

/// The most values a state may carry, whatever the length of its step,
/// in [`ProgramSteps::balanced`].
pub const SMALL_STATE: usize = 16;

impl<'p> ProgramSteps<'p> {
    /// Cuts `program` into steps of `entries_per_step` body entries (the last
    /// may be shorter).
    pub fn new(program: &'p Program, entries_per_step: usize) -> Self {
        let len = program.body().len();
        let per = entries_per_step.max(1);
        let mut cuts: Vec<usize> = (0..len).step_by(per).collect();
        cuts.push(len);
        Self::with_cuts(program, cuts)
    }

    /// Cuts `program` into steps of one body entry each, except where more
    /// than [`SMALL_STATE`] values are live at a cut: there a step runs on
    /// until it hands on no more values than it has entries. Advancing a step
    /// copies its state, so this keeps a step's cost proportional to its
    /// entries and a sweep linear in the program's length (a program whose
    /// first half defines values its second half sums would otherwise carry
    /// thousands of values through every one-entry step).
    pub fn balanced(program: &'p Program) -> Self {
        let len = program.body().len();
        let live = live_counts(program);
        let mut cuts = vec![0];
        for (j, &count) in live.iter().enumerate().take(len).skip(1) {
            let start = *cuts.last().expect("cuts start at 0");
            if count <= SMALL_STATE.max(j - start) {
                cuts.push(j);
            }
        }
        cuts.push(len);
        Self::with_cuts(program, cuts)
    }

    /// Steps between consecutive `cuts` (increasing, from 0 to the body's
    /// length); the live sets are found in one sweep, so in time linear in
    /// the program and in their total size.
    fn with_cuts(program: &'p Program, mut cuts: Vec<usize>) -> Self {
        let len = program.body().len();
        cuts.dedup();
        if cuts.len() == 1 {
            cuts.insert(0, 0);
        }
        let n = program.n_inputs();
        let last_use = last_uses(program);
        let mut alive = std::collections::BTreeSet::new();
        let mut live = Vec::with_capacity(cuts.len());
        let mut next_cut = cuts.iter().peekable();
        for j in 0..=len {
            if j > 0 {
                let i = j - 1;
                for &a in program.body()[i].args() {
                    if (a as usize) >= n && last_use[a as usize] == Some(i) {
                        alive.remove(&a);
                    }
                }
                let defined = (n + i) as ValueId;
                if last_use[defined as usize].is_some_and(|u| u >= j) {
                    alive.insert(defined);
                }
            }
            while next_cut.next_if(|&&cut| cut == j).is_some() {
                live.push(alive.iter().copied().collect());
            }
        }
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

/// The last body entry that reads each value (`len` for an output), if any.
fn last_uses(program: &Program) -> Vec<Option<usize>> {
    let len = program.body().len();
    let mut last_use = vec![None::<usize>; program.n_values()];
    for (k, instr) in program.body().iter().enumerate() {
        for &a in instr.args() {
            last_use[a as usize] = Some(k);
        }
    }
    for &o in program.outputs() {
        last_use[o as usize] = Some(len);
    }
    last_use
}

/// How many body values are live at each cut position `0..=len` (defined
/// before it, read at or after it).
fn live_counts(program: &Program) -> Vec<usize> {
    let (n, len) = (program.n_inputs(), program.body().len());
    let mut change = vec![0i64; len + 2];
    for (v, last) in last_uses(program).into_iter().enumerate().skip(n) {
        let defined = v - n;
        if let Some(last) = last {
            // Live at cuts defined + 1 ..= last.
            change[defined + 1] += 1;
            change[last + 1] -= 1;
        }
    }
    let mut count = 0i64;
    change[..=len]
        .iter()
        .map(|d| {
            count += d;
            count as usize
        })
        .collect()
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
        // A small program keeps one entry a step when balanced.
        let balanced = ProgramSteps::balanced(&p);
        assert_eq!(balanced.cuts, steps.cuts);
        assert_eq!(balanced.live, steps.live);
    }

    /// `exp` of each of `n` inputs, then their sum: the exps pile up live.
    fn wide_sum(n: usize) -> Program {
        let mut text = String::from("input");
        for i in 0..n {
            text.push_str(&format!(" x{i}"));
        }
        for i in 0..n {
            text.push_str(&format!("\ne{i} = exp x{i}"));
        }
        text.push_str("\ns1 = add e0 e1");
        for i in 2..n {
            text.push_str(&format!("\ns{i} = add s{} e{i}", i - 1));
        }
        text.push_str(&format!("\noutput s{}", n - 1));
        Program::parse(&text).unwrap()
    }

    #[test]
    fn balanced_steps_carry_no_more_values_than_they_have_entries() {
        let p = wide_sum(200);
        let steps = ProgramSteps::balanced(&p);
        let x: Vec<f64> = (0..200).map(|i| f64::from(i) / 100.0 - 1.0).collect();
        assert_eq!(Unrolled(&steps).eval(&x), p.eval(&x));
        let mut carried = 0;
        for k in 0..steps.n_steps() {
            let entries = steps.cuts[k + 1] - steps.cuts[k];
            let state = steps.live(k + 1).len();
            assert!(
                state <= SMALL_STATE.max(entries),
                "step {k}: {entries} entries hand on {state} values"
            );
            carried += state;
        }
        // One entry a step would carry about 200²/2 values in all.
        let bound = SMALL_STATE * steps.n_steps() + p.body().len();
        assert!(carried <= bound, "{carried} values carried (bound {bound})");
        assert!(
            steps.n_steps() < p.body().len() / 2,
            "{} steps",
            steps.n_steps()
        );
        // The live sets are those of one entry a step, at the same cuts.
        let fine = ProgramSteps::new(&p, 1);
        for (k, &cut) in steps.cuts.iter().enumerate() {
            assert_eq!(steps.live(k), fine.live(cut), "cut {cut}");
        }
    }
}
