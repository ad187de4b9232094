//! Checkpointed reverse mode: keep a few states, recompute the rest.
//!
//! A [`Stepped`] function is reversed one step at a time: each step is taped
//! from its input state, swept backwards, and its tape dropped. The states
//! the sweep needs come from checkpoints taken on the way forward, per
//! [`Schedule`]:
//!
//! | schedule | states kept | untaped advances |
//! |---|---|---|
//! | [`Schedule::StoreAll`] | all `L` | `L − 1` (one forward sweep) |
//! | [`Schedule::Uniform`] | `⌈√L⌉` checkpoints + one segment | about `2L` (one extra sweep) |
//! | [`Schedule::Binomial`] with `s` snapshots | `s` (the initial state counts) | the Griewank–Walther minimum `t·L − C(s+t, s+1)` |
//!
//! The adjoint of every value is accumulated in the same order as on one
//! tape (inputs and the carried state are seeded, then contributions added
//! from the last operation back), so the gradients are bitwise identical to
//! [`ReverseEngine`](crate::reverse::ReverseEngine)'s.

use crate::engine::{CallStats, Capabilities, Derivative, Engine, EngineError};
use crate::reverse::{Tape, Var};
use crate::stepped::{ProgramSteps, Stepped};
use crate::{Differentiable, Program};

/// Which states to keep.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Schedule {
    /// Every state (no recomputation, memory `O(L)`).
    StoreAll,
    /// A checkpoint every `⌈√L⌉` steps (memory `O(√L)`).
    Uniform,
    /// Binomial (Revolve) checkpointing with this many snapshots, counting
    /// the stored initial state (memory `O(s)`, fewest recomputations).
    Binomial {
        /// Snapshots, at least 1.
        snapshots: usize,
    },
}

/// The accounting of one checkpointed reverse pass.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CheckpointStats {
    /// Steps advanced without a tape, the first sweep included.
    pub untaped_steps: u64,
    /// Steps taped (each exactly once).
    pub taped_steps: u64,
    /// The largest single-step tape, in bytes.
    pub peak_tape_bytes: u64,
    /// The most bytes of states held at once.
    pub peak_checkpoint_bytes: u64,
    /// Operations recorded, over all step tapes.
    pub operations_recorded: u64,
}

/// `C(n, k)`, saturating.
fn binomial(n: u64, k: u64) -> u64 {
    let k = k.min(n.saturating_sub(k));
    let mut r: u64 = 1;
    for i in 0..k {
        r = r.saturating_mul(n - i) / (i + 1);
    }
    r
}

/// `β(s, t) = C(s + t, s)`: the most steps `s` snapshots reverse with at
/// most `t` advances of each step (0 for negative `t`).
fn beta(s: u64, t: i64) -> u64 {
    if t < 0 {
        0
    } else {
        binomial(s + t as u64, s)
    }
}

/// The smallest `t` with `β(s, t) ≥ l`.
fn repetitions(l: u64, s: u64) -> i64 {
    let mut t = 0;
    while beta(s, t) < l {
        t += 1;
    }
    t
}

/// The Griewank–Walther minimum number of untaped advances to reverse `l`
/// steps with `s` snapshots (counting the initial state): `t·l − C(s+t, s+1)`.
pub fn binomial_minimum(l: u64, s: u64) -> u64 {
    if l <= 1 {
        return 0;
    }
    let s = s.max(1);
    let t = repetitions(l, s);
    (t as u64) * l - beta(s + 1, t - 1)
}

/// Where Revolve places the next snapshot: `m` steps into a range of `l`.
fn split(l: u64, s: u64) -> u64 {
    let t = repetitions(l, s);
    beta(s, t - 2)
        .max(l.saturating_sub(beta(s - 1, t)))
        .clamp(1, l - 1)
}

/// The tape nodes of input variables.
fn nodes(vars: &[Var<'_, f64>]) -> Vec<u32> {
    vars.iter()
        .map(|v| v.node().expect("inputs are on the tape"))
        .collect()
}

struct Reverser<'a, F: Stepped + ?Sized> {
    f: &'a F,
    x: &'a [f64],
    u: &'a [f64],
    tape: Tape<f64>,
    adjoints: Vec<f64>,
    /// The running adjoint of the inputs.
    adj_x: Vec<f64>,
    primal: Vec<f64>,
    stats: CheckpointStats,
    held_bytes: u64,
}

impl<F: Stepped + ?Sized> Reverser<'_, F> {
    fn hold(&mut self, state: &[f64]) {
        self.held_bytes += (state.len() * 8) as u64;
        self.stats.peak_checkpoint_bytes = self.stats.peak_checkpoint_bytes.max(self.held_bytes);
    }

    fn release(&mut self, state: &[f64]) {
        self.held_bytes -= (state.len() * 8) as u64;
    }

    fn advance(&mut self, k: usize, state: &[f64]) -> Vec<f64> {
        self.stats.untaped_steps += 1;
        self.f.step(k, self.x, state)
    }

    /// Tapes step `k` from `state` (with the read-out after the last step),
    /// sweeps it with the inputs and outputs seeded, and returns the adjoint
    /// of `state`.
    fn reverse_step(&mut self, k: usize, state: &[f64], adj_next: &[f64]) -> Vec<f64> {
        self.stats.taped_steps += 1;
        self.tape.clear();
        let last = k + 1 == self.f.n_steps();
        let (seeds, x_nodes, s_nodes, primal) = {
            let xs: Vec<Var<'_, f64>> = self.x.iter().map(|&v| self.tape.input(v)).collect();
            let ss: Vec<Var<'_, f64>> = state.iter().map(|&v| self.tape.input(v)).collect();
            let out = self.f.step(k, &xs, &ss);
            let mut seeds: Vec<(u32, f64)> = Vec::new();
            let mut primal = None;
            if last {
                let y = self.f.read_out(&xs, &out);
                primal = Some(y.iter().map(|v| v.value()).collect::<Vec<f64>>());
                seeds.extend(
                    y.iter()
                        .zip(self.u)
                        .filter_map(|(v, &w)| v.node().map(|n| (n, w))),
                );
            } else {
                seeds.extend(
                    out.iter()
                        .zip(adj_next)
                        .filter_map(|(v, &w)| v.node().map(|n| (n, w))),
                );
            }
            seeds.extend(
                xs.iter()
                    .zip(&self.adj_x)
                    .filter_map(|(v, &w)| v.node().map(|n| (n, w))),
            );
            (seeds, nodes(&xs), nodes(&ss), primal)
        };
        if let Some(primal) = primal {
            self.primal = primal;
        }
        self.finish_sweep(&seeds, &x_nodes, &s_nodes)
    }

    /// Sweeps the current tape; updates the running input adjoint and
    /// returns the adjoint of the state nodes.
    fn finish_sweep(&mut self, seeds: &[(u32, f64)], x_nodes: &[u32], s_nodes: &[u32]) -> Vec<f64> {
        self.tape.backward(seeds, &mut self.adjoints);
        self.stats.peak_tape_bytes = self.stats.peak_tape_bytes.max(self.tape.bytes() as u64);
        self.stats.operations_recorded += (self.tape.len() - x_nodes.len() - s_nodes.len()) as u64;
        for (a, &node) in self.adj_x.iter_mut().zip(x_nodes) {
            *a = self.adjoints[node as usize];
        }
        s_nodes
            .iter()
            .map(|&node| self.adjoints[node as usize])
            .collect()
    }

    /// Reverses steps `lo..hi` from the state at `lo` with `snapshots`
    /// snapshots (the one holding `state` included).
    fn revolve(
        &mut self,
        lo: usize,
        hi: usize,
        state: &[f64],
        snapshots: u64,
        adj_hi: Vec<f64>,
    ) -> Vec<f64> {
        let l = (hi - lo) as u64;
        if l == 1 {
            return self.reverse_step(lo, state, &adj_hi);
        }
        if snapshots <= 1 {
            let mut adj = adj_hi;
            for k in (lo..hi).rev() {
                let mut s = state.to_vec();
                for j in lo..k {
                    s = self.advance(j, &s);
                }
                adj = self.reverse_step(k, &s, &adj);
            }
            return adj;
        }
        let m = split(l, snapshots) as usize;
        let mut s = state.to_vec();
        for j in lo..lo + m {
            s = self.advance(j, &s);
        }
        self.hold(&s);
        let adj_mid = self.revolve(lo + m, hi, &s, snapshots - 1, adj_hi);
        self.release(&s);
        self.revolve(lo, lo + m, state, snapshots, adj_mid)
    }

    /// Reverses steps `0..L` from `s0` per `schedule`; returns the adjoint of `s0`.
    fn run(&mut self, s0: &[f64], schedule: Schedule) -> Vec<f64> {
        let l = self.f.n_steps();
        self.hold(s0);
        match schedule {
            Schedule::Binomial { snapshots } => {
                self.revolve(0, l, s0, snapshots.max(1) as u64, Vec::new())
            }
            Schedule::StoreAll => {
                let mut states = vec![s0.to_vec()];
                for k in 0..l - 1 {
                    let next = self.advance(k, &states[k]);
                    self.hold(&next);
                    states.push(next);
                }
                let mut adj = Vec::new();
                for k in (0..l).rev() {
                    adj = self.reverse_step(k, &states[k], &adj);
                }
                adj
            }
            Schedule::Uniform => {
                let c = (l as f64).sqrt().ceil().max(1.0) as usize;
                let mut checkpoints = vec![s0.to_vec()];
                let mut s = s0.to_vec();
                for k in 0..l - 1 {
                    s = self.advance(k, &s);
                    if (k + 1) % c == 0 {
                        self.hold(&s);
                        checkpoints.push(s.clone());
                    }
                }
                let mut adj = Vec::new();
                for (segment, start) in checkpoints.iter().enumerate().rev() {
                    let lo = segment * c;
                    let hi = (lo + c).min(l);
                    let mut states = vec![start.clone()];
                    for k in lo..hi - 1 {
                        let next = self.advance(k, &states[k - lo]);
                        self.hold(&next);
                        states.push(next);
                    }
                    for k in (lo..hi).rev() {
                        adj = self.reverse_step(k, &states[k - lo], &adj);
                    }
                    for st in &states[1..] {
                        self.release(st);
                    }
                }
                adj
            }
        }
    }
}

/// The primal `f(x)`, `uᵀJ`, and the accounting of a checkpointed reverse
/// pass of a stepped function.
pub fn vjp_stepped<F: Stepped + ?Sized>(
    f: &F,
    x: &[f64],
    u: &[f64],
    schedule: Schedule,
) -> Result<(Vec<f64>, Vec<f64>, CheckpointStats), EngineError> {
    if x.len() != f.n_inputs() {
        return Err(EngineError::InputLength {
            expected: f.n_inputs(),
            got: x.len(),
        });
    }
    EngineError::check_seed("cotangent u", u, f.n_outputs())?;
    let mut r = Reverser {
        f,
        x,
        u,
        tape: Tape::new(),
        adjoints: Vec::new(),
        adj_x: vec![0.0; x.len()],
        primal: Vec::new(),
        stats: CheckpointStats::default(),
        held_bytes: 0,
    };
    // The initial state, untaped; it is taped again at the end.
    let s0 = f.init(x);
    let adj_s0 = if f.n_steps() == 0 {
        Vec::new()
    } else {
        r.run(&s0, schedule)
    };
    // The initial state's own tape (and the read-out when there are no steps).
    r.tape.clear();
    let (seeds, x_nodes, primal) = {
        let xs: Vec<Var<'_, f64>> = x.iter().map(|&v| r.tape.input(v)).collect();
        let s = f.init(&xs);
        let mut seeds: Vec<(u32, f64)> = Vec::new();
        let mut primal = None;
        if f.n_steps() == 0 {
            let y = f.read_out(&xs, &s);
            primal = Some(y.iter().map(|v| v.value()).collect::<Vec<f64>>());
            seeds.extend(
                y.iter()
                    .zip(u)
                    .filter_map(|(v, &w)| v.node().map(|n| (n, w))),
            );
        } else {
            seeds.extend(
                s.iter()
                    .zip(&adj_s0)
                    .filter_map(|(v, &w)| v.node().map(|n| (n, w))),
            );
        }
        seeds.extend(
            xs.iter()
                .zip(&r.adj_x)
                .filter_map(|(v, &w)| v.node().map(|n| (n, w))),
        );
        (seeds, nodes(&xs), primal)
    };
    if let Some(primal) = primal {
        r.primal = primal;
    }
    r.finish_sweep(&seeds, &x_nodes, &[]);
    let stats = r.stats;
    Ok((r.primal, r.adj_x, stats))
}

/// The checkpointed engine over programs: each body entry is a step
/// ([`ProgramSteps::balanced`]: more where many values are live, so a step
/// costs what its entries do), reversed with the chosen schedule.
#[derive(Clone, Copy, Debug)]
pub struct CheckpointedEngine {
    /// The schedule.
    pub schedule: Schedule,
}

impl Default for CheckpointedEngine {
    fn default() -> Self {
        CheckpointedEngine {
            schedule: Schedule::Binomial { snapshots: 4 },
        }
    }
}

impl CheckpointedEngine {
    fn call(&self, p: &Program, x: &[f64], u: &[f64]) -> Result<Derivative, EngineError> {
        let steps = ProgramSteps::balanced(p);
        let (primal, derivative, s) = vjp_stepped(&steps, x, u, self.schedule)?;
        let plain_sweep = (steps.n_steps() as u64).saturating_sub(1);
        Ok(Derivative {
            primal,
            derivative,
            stats: CallStats {
                forward_passes: 1,
                reverse_sweeps: 1,
                operations_recorded: s.operations_recorded,
                peak_tape_bytes: s.peak_tape_bytes + s.peak_checkpoint_bytes,
                recomputations: s.untaped_steps.saturating_sub(plain_sweep),
            },
        })
    }
}

impl Engine for CheckpointedEngine {
    fn name(&self) -> &str {
        "checkpointed"
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            forward: false,
            reverse: true,
            hvp: false,
            reverse_bitwise: true,
        }
    }

    fn jvp(&self, p: &Program, x: &[f64], v: &[f64]) -> Result<Derivative, EngineError> {
        EngineError::check_point(p, x)?;
        EngineError::check_seed("direction v", v, p.n_inputs())?;
        Ok(self.jacobian(p, x)?.jacobian_times(p.n_inputs(), v))
    }

    fn vjp(&self, p: &Program, x: &[f64], u: &[f64]) -> Result<Derivative, EngineError> {
        EngineError::check_point(p, x)?;
        self.call(p, x, u)
    }

    fn jacobian(&self, p: &Program, x: &[f64]) -> Result<Derivative, EngineError> {
        EngineError::check_point(p, x)?;
        let m = p.n_outputs();
        let mut stats = CallStats::default();
        let mut rows = Vec::with_capacity(m * p.n_inputs());
        let mut primal = Vec::new();
        for i in 0..m {
            let e: Vec<f64> = (0..m).map(|k| f64::from(u8::from(k == i))).collect();
            let d = self.call(p, x, &e)?;
            stats.absorb(&d.stats);
            rows.extend(d.derivative);
            primal = d.primal;
        }
        Ok(Derivative {
            primal,
            derivative: rows,
            stats,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reverse::vjps;
    use crate::stepped::Unrolled;
    use crate::Scalar;

    /// Counts advances only: every step is the identity on one value.
    struct Chain(usize);

    impl Stepped for Chain {
        fn n_inputs(&self) -> usize {
            1
        }
        fn n_outputs(&self) -> usize {
            1
        }
        fn n_steps(&self) -> usize {
            self.0
        }
        fn init<S: Scalar>(&self, x: &[S]) -> Vec<S> {
            vec![x[0].sin()]
        }
        fn step<S: Scalar>(&self, k: usize, x: &[S], s: &[S]) -> Vec<S> {
            vec![(s[0].clone() * x[0].clone()).sin() + S::from_f64(k as f64 * 1e-3)]
        }
        fn read_out<S: Scalar>(&self, _x: &[S], s: &[S]) -> Vec<S> {
            vec![s[0].clone() * s[0].clone()]
        }
    }

    #[test]
    fn the_minimum_formula_matches_the_examples() {
        assert_eq!(binomial_minimum(16, 1), 120);
        assert_eq!(binomial_minimum(10, 2), 20);
        assert_eq!(binomial_minimum(10, 3), 15);
        assert_eq!(binomial_minimum(10, 10), 9);
    }

    #[test]
    fn binomial_schedules_advance_the_minimum_and_match_plain_reverse_bitwise() {
        for l in 1..=40 {
            let f = Chain(l);
            let plain = vjps(&Unrolled(&f), &[0.7], &[vec![1.0]]).unwrap();
            for s in 1..=8 {
                let (primal, grad, stats) =
                    vjp_stepped(&f, &[0.7], &[1.0], Schedule::Binomial { snapshots: s }).unwrap();
                assert_eq!(
                    stats.untaped_steps,
                    binomial_minimum(l as u64, s as u64),
                    "L={l} s={s}"
                );
                assert_eq!(stats.taped_steps, l as u64);
                assert!(stats.peak_checkpoint_bytes <= 8 * s as u64, "L={l} s={s}");
                assert_eq!(primal, plain.primal);
                assert_eq!(
                    grad[0].to_bits(),
                    plain.products[0][0].to_bits(),
                    "L={l} s={s}"
                );
            }
            for schedule in [Schedule::StoreAll, Schedule::Uniform] {
                let (_, grad, stats) = vjp_stepped(&f, &[0.7], &[1.0], schedule).unwrap();
                assert_eq!(
                    grad[0].to_bits(),
                    plain.products[0][0].to_bits(),
                    "{schedule:?} L={l}"
                );
                assert_eq!(stats.taped_steps, l as u64);
            }
        }
    }

    #[test]
    fn memory_follows_the_schedule() {
        let f = Chain(400);
        let stats = |schedule| vjp_stepped(&f, &[0.7], &[1.0], schedule).unwrap().2;
        assert_eq!(stats(Schedule::StoreAll).peak_checkpoint_bytes, 400 * 8);
        assert_eq!(stats(Schedule::StoreAll).untaped_steps, 399);
        // ⌈√400⌉ = 20 checkpoints plus one segment of 20 states.
        assert!(stats(Schedule::Uniform).peak_checkpoint_bytes <= 40 * 8);
        assert!(stats(Schedule::Uniform).untaped_steps <= 2 * 400);
        assert!(stats(Schedule::Binomial { snapshots: 5 }).peak_checkpoint_bytes <= 5 * 8);
    }
}
