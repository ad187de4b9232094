//! The experiments. Each writes one CSV under the output folder; every ratio
//! in it comes from measurements interleaved in the same run.

use crate::alloc::peak_during;
use crate::rows::{
    CheckpointRow, GradientRow, NmRow, RowWriter, ScaleCheckpointedRow, ScaleOracleRow, SecondRow,
};
use crate::timing::{callgrind_measured, compare, keep, Settings};
use adcheck_engines::checkpointed::{binomial_minimum, vjp_stepped, Schedule};
use adcheck_engines::forward::{self, Dual};
use adcheck_engines::fwd_over_rev::{gradient_and_hvp, hessian};
use adcheck_engines::reverse::vjps;
use adcheck_engines::stepped::{Stepped, Unrolled};
use adcheck_engines::{Differentiable, Program};
use adcheck_source::{Compiled, Options as SourceOptions, Workspace};
use adcheck_suites::problems::{
    point, FamilyNm, Gmm, Gru, LinearLeastSquares, LogSumExp, Rk4, Rosenbrock,
};
use anyhow::Result;
use std::path::Path;

/// Records the machine, the commit and the time of the run.
pub fn write_meta(out: &Path, quick: bool) -> Result<()> {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_string())
        })
        .unwrap_or_else(|| "unknown".into());
    let commit = std::process::Command::new("git")
        .args(["rev-parse", "--short", "HEAD"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map_or_else(
            || "unknown".into(),
            |o| String::from_utf8_lossy(&o.stdout).trim().to_string(),
        );
    let meta = serde_json::json!({
        "cpu": cpu,
        "cores": std::thread::available_parallelism().map_or(1, |n| n.get()),
        "commit": commit,
        "quick": quick,
        "unix_time": std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs()),
        "seed": "none: problems and points are fixed",
    });
    std::fs::write(
        out.join("meta.json"),
        serde_json::to_string_pretty(&meta)? + "\n",
    )?;
    Ok(())
}

/// The peer method measuring echidna's reverse-mode gradient.
pub const PEER_ECHIDNA_REVERSE: &str = "peer_echidna_reverse";
/// The peer method measuring one num-dual `Dual64` direction.
pub const PEER_NUM_DUAL_DIRECTION: &str = "peer_num_dual_per_direction";

/// The source-transformation engine's gradient (compiled once per problem
/// and size, then evaluated).
pub const SOURCE_REVERSE: &str = "source";

/// Builds a problem of a given size.
type MakeProblem = Box<dyn Fn(usize) -> Box<dyn DynProblem>>;

/// Gradient cost over primal cost for the standard scalar problems.
pub fn gradient(out: &Path, settings: &Settings) -> Result<()> {
    let mut w = RowWriter::<GradientRow>::create(out)?;
    let sizes = |full: &[usize], quick: &[usize]| {
        if settings.quick {
            quick.to_vec()
        } else {
            full.to_vec()
        }
    };
    let mut cases: Vec<(String, MakeProblem, Vec<usize>)> = vec![
        (
            "rosenbrock".into(),
            Box::new(|n| Box::new(Rosenbrock { n }) as Box<dyn DynProblem>),
            sizes(&[10, 100, 1000, 10_000], &[10, 100]),
        ),
        (
            "logsumexp".into(),
            Box::new(|n| Box::new(LogSumExp { n }) as Box<dyn DynProblem>),
            sizes(&[100, 1000, 10_000, 100_000], &[100, 1000]),
        ),
        (
            "llsq".into(),
            Box::new(|n| Box::new(LinearLeastSquares { n, m: 256 }) as Box<dyn DynProblem>),
            sizes(&[4, 16, 64, 256], &[4, 16]),
        ),
        (
            "gmm".into(),
            Box::new(|d| Box::new(Gmm::new(d, 5, 100)) as Box<dyn DynProblem>),
            sizes(&[2, 8, 32, 64], &[2, 8]),
        ),
    ];
    for (name, make, ns) in cases.iter_mut() {
        for &size in ns.iter() {
            let problem = make(size);
            let n = problem.inputs();
            if let Some((child_problem, child_n, ..)) = &settings.child {
                // A child under callgrind sets up only its own row (the
                // source engine's compile is slow under valgrind).
                if child_problem != name || *child_n != n {
                    continue;
                }
            }
            let x = point(n, 7);
            let mut primal = || keep(problem.primal(&x));
            let mut reverse = || keep(problem.reverse(&x));
            // The source engine compiles once, at its warm-up call (before
            // the rounds, and only where this method runs: a child under
            // callgrind for another method never pays for it), then writes
            // into buffers kept from call to call.
            let compiled = std::cell::OnceCell::new();
            let mut frame = Workspace::default();
            let ones = vec![1.0; problem.outputs()];
            let (mut value, mut gradient) = (Vec::new(), Vec::new());
            let mut source = || {
                let compiled = compiled
                    .get_or_init(|| Compiled::new(&problem.trace(&x), SourceOptions::default()));
                compiled.vjp_into(&mut frame, &x, &ones, &mut value, &mut gradient);
                keep(&gradient);
            };
            // The direction is an input of a JVP, as the point is: made
            // once, outside the timed calls.
            let mut e0 = vec![0.0; n];
            e0[0] = 1.0;
            let mut direction = || keep(problem.forward_direction(&x, &e0));
            let mut full = || keep(problem.forward_full(&x));
            let mut vector = || keep(problem.forward_vector(&x));
            let mut differences = || keep(problem.differences(&x));
            let mut methods: Vec<(&str, &mut dyn FnMut())> = vec![
                ("primal", &mut primal),
                ("reverse", &mut reverse),
                (SOURCE_REVERSE, &mut source),
                ("forward_per_direction", &mut direction),
            ];
            // Peers, in the same interleaved rounds (`--peers`).
            #[cfg(feature = "echidna")]
            let mut echidna = || keep(problem.echidna_reverse(&x));
            #[cfg(feature = "echidna")]
            if settings.peers {
                methods.push((PEER_ECHIDNA_REVERSE, &mut echidna));
            }
            #[cfg(feature = "num-dual")]
            let mut num_dual = || keep(problem.num_dual_direction(&x, &e0));
            #[cfg(feature = "num-dual")]
            if settings.peers {
                methods.push((PEER_NUM_DUAL_DIRECTION, &mut num_dual));
            }
            if n <= 1000 {
                methods.push(("forward_scalar", &mut full));
                methods.push(("forward_vector", &mut vector));
                methods.push(("central_differences", &mut differences));
            }
            if let Some((_, _, method, reps)) = &settings.child {
                // A child under callgrind: one method, then nothing else.
                let (_, f) = methods
                    .iter_mut()
                    .find(|(m, _)| m == method)
                    .ok_or_else(|| anyhow::anyhow!("no method `{method}` at {name} n={n}"))?;
                f(); // warm-up, outside the count
                callgrind_measured(*f, *reps);
                return Ok(());
            }
            let results = compare(settings, &mut methods);
            let base = results[0].1;
            for (method, seconds, spread) in results {
                w.write(&GradientRow {
                    problem: name.clone(),
                    n,
                    method,
                    seconds,
                    spread,
                    ratio_to_primal: seconds / base,
                })?;
            }
            eprintln!("  {name} n={n}");
        }
    }
    w.finish()?;
    Ok(())
}

/// A problem usable behind `dyn` (Differentiable's `eval` is generic).
pub trait DynProblem {
    /// n.
    fn inputs(&self) -> usize;
    /// m.
    fn outputs(&self) -> usize;
    /// The program recorded at `x`.
    fn trace(&self, x: &[f64]) -> Program;
    /// f(x).
    fn primal(&self, x: &[f64]) -> Vec<f64>;
    /// The gradient by one reverse sweep.
    fn reverse(&self, x: &[f64]) -> Vec<f64>;
    /// One scalar-dual forward pass along `v`: the primal and `J·v`
    /// (both kept, so neither method's primal can be optimised away).
    fn forward_direction(&self, x: &[f64], v: &[f64]) -> (Vec<f64>, Vec<f64>);
    /// The gradient by n scalar-dual passes.
    fn forward_full(&self, x: &[f64]) -> Vec<f64>;
    /// The gradient by ⌈n/8⌉ vector-dual passes.
    fn forward_vector(&self, x: &[f64]) -> Vec<f64>;
    /// The gradient by central differences (2n evaluations).
    fn differences(&self, x: &[f64]) -> Vec<f64>;
    /// A peer: the gradient by echidna's reverse mode.
    #[cfg(feature = "echidna")]
    fn echidna_reverse(&self, x: &[f64]) -> Vec<f64>;
    /// A peer: one direction by num-dual's `Dual64`, the primal and `J·v`.
    #[cfg(feature = "num-dual")]
    fn num_dual_direction(&self, x: &[f64], v: &[f64]) -> (Vec<f64>, Vec<f64>);
}

impl<F: Differentiable> DynProblem for F {
    fn inputs(&self) -> usize {
        self.n_inputs()
    }
    fn outputs(&self) -> usize {
        self.n_outputs()
    }
    fn trace(&self, x: &[f64]) -> Program {
        adcheck_engines::trace(self, x)
    }
    #[cfg(feature = "echidna")]
    fn echidna_reverse(&self, x: &[f64]) -> Vec<f64> {
        let u = vec![1.0; self.n_outputs()];
        adcheck_adapters::echidna::vjp_of(self, x, &u).1
    }
    #[cfg(feature = "num-dual")]
    fn num_dual_direction(&self, x: &[f64], v: &[f64]) -> (Vec<f64>, Vec<f64>) {
        adcheck_adapters::num_dual::jvp_of(self, x, v)
    }
    fn primal(&self, x: &[f64]) -> Vec<f64> {
        self.eval(x)
    }
    fn reverse(&self, x: &[f64]) -> Vec<f64> {
        let m = self.n_outputs();
        let u = vec![1.0; m];
        vjps(self, x, &[u])
            .map(|s| s.products[0].clone())
            .unwrap_or_default()
    }
    fn forward_direction(&self, x: &[f64], v: &[f64]) -> (Vec<f64>, Vec<f64>) {
        forward::jvp(self, x, v).unwrap_or_default()
    }
    fn forward_full(&self, x: &[f64]) -> Vec<f64> {
        let n = x.len();
        let mut duals: Vec<Dual> = x.iter().map(|&re| Dual::new(re, 0.0)).collect();
        let mut g = Vec::with_capacity(n);
        for j in 0..n {
            duals[j].eps = 1.0;
            g.push(self.eval(&duals).iter().map(|d| d.eps).sum());
            duals[j].eps = 0.0;
        }
        g
    }
    fn forward_vector(&self, x: &[f64]) -> Vec<f64> {
        forward::jacobian::<8, _>(self, x)
            .map(|r| r.1)
            .unwrap_or_default()
    }
    fn differences(&self, x: &[f64]) -> Vec<f64> {
        let mut xs = x.to_vec();
        (0..x.len())
            .map(|j| {
                let h = 1e-6 * x[j].abs().max(1.0);
                xs[j] = x[j] + h;
                let up: f64 = self.eval(&xs).iter().sum();
                xs[j] = x[j] - h;
                let down: f64 = self.eval(&xs).iter().sum();
                xs[j] = x[j];
                (up - down) / (2.0 * h)
            })
            .collect()
    }
}

/// Full Jacobians of F(n, m): forward ∝ n, reverse ∝ m.
pub fn nm(out: &Path, settings: &Settings) -> Result<()> {
    let mut w = RowWriter::<NmRow>::create(out)?;
    let sizes: Vec<usize> = if settings.quick {
        vec![1, 4, 16]
    } else {
        vec![1, 4, 16, 64, 256, 1024]
    };
    let mut shapes: Vec<(&str, usize, usize)> = Vec::new();
    for &k in &sizes {
        shapes.push(("n (m = 1)", k, 1));
        shapes.push(("m (n = 1)", 1, k));
        if k <= 256 {
            shapes.push(("n = m", k, k));
        }
    }
    for (sweep, n, m) in shapes {
        let f = FamilyNm { n, m };
        let x = point(n, 3);
        let mut primal = || keep(f.eval(&x));
        let mut fwd = || {
            let mut duals: Vec<Dual> = x.iter().map(|&re| Dual::new(re, 0.0)).collect();
            let mut cols = Vec::with_capacity(n);
            for j in 0..n {
                duals[j].eps = 1.0;
                cols.push(f.eval(&duals));
                duals[j].eps = 0.0;
            }
            keep(cols)
        };
        let mut fwd_vec = || keep(forward::jacobian::<8, _>(&f, &x));
        let seeds: Vec<Vec<f64>> = (0..m)
            .map(|i| (0..m).map(|k| f64::from(u8::from(k == i))).collect())
            .collect();
        let mut rev = || keep(vjps(&f, &x, &seeds));
        let mut fd = || {
            let mut xs = x.clone();
            let mut cols = Vec::with_capacity(n);
            for j in 0..n {
                xs[j] = x[j] + 1e-6;
                let up = f.eval(&xs);
                xs[j] = x[j] - 1e-6;
                let down = f.eval(&xs);
                xs[j] = x[j];
                cols.push(
                    up.iter()
                        .zip(&down)
                        .map(|(a, b)| (a - b) / 2e-6)
                        .collect::<Vec<f64>>(),
                );
            }
            keep(cols)
        };
        let results = compare(
            settings,
            &mut [
                ("primal", &mut primal),
                ("forward_scalar", &mut fwd),
                ("forward_vector", &mut fwd_vec),
                ("reverse", &mut rev),
                ("central_differences", &mut fd),
            ],
        );
        let base = results[0].1;
        for (method, seconds, spread) in results {
            w.write(&NmRow {
                sweep: sweep.to_string(),
                n,
                m,
                method,
                seconds,
                spread,
                ratio_to_primal: seconds / base,
            })?;
        }
        eprintln!("  {sweep}: n={n} m={m}");
    }
    w.finish()?;
    Ok(())
}

/// Memory and time of the checkpointing schedules against one plain tape.
pub fn checkpoint(out: &Path, settings: &Settings) -> Result<()> {
    let mut w = RowWriter::<CheckpointRow>::create(out)?;
    let rk4_steps: Vec<usize> = if settings.quick {
        vec![100, 200, 400, 800]
    } else {
        vec![1250, 2500, 5000, 10_000]
    };
    let gru_steps: Vec<usize> = if settings.quick {
        vec![20, 40, 80, 160]
    } else {
        vec![125, 250, 500, 1000]
    };
    for &l in &rk4_steps {
        measure_schedules(
            &mut w,
            "rk4",
            &Rk4 { steps: l, h: 0.001 },
            &Rk4::point(),
            settings,
        )?;
    }
    for &l in &gru_steps {
        let gru = Gru {
            steps: l,
            hidden: 8,
        };
        measure_schedules(&mut w, "gru", &gru, &gru.point(), settings)?;
    }
    w.finish()?;
    Ok(())
}

fn measure_schedules<F: Stepped>(
    w: &mut RowWriter<CheckpointRow>,
    name: &str,
    f: &F,
    x: &[f64],
    settings: &Settings,
) -> Result<()> {
    let l = f.n_steps();
    let schedules = [
        ("store_all", Schedule::StoreAll),
        ("uniform_sqrt", Schedule::Uniform),
        ("binomial_s10", Schedule::Binomial { snapshots: 10 }),
    ];
    let u = [1.0];
    // Accounting and allocator peaks, one call each.
    let (plain, plain_peak) =
        peak_during(|| vjps(&Unrolled(f), x, &[u.to_vec()]).expect("valid problem"));
    let mut rows = Vec::new();
    for (label, schedule) in schedules {
        let ((_, _, stats), peak) =
            peak_during(|| vjp_stepped(f, x, &u, schedule).expect("valid problem"));
        rows.push((label, schedule, stats, peak));
    }
    // Times, interleaved.
    let mut plain_run = || keep(vjps(&Unrolled(f), x, &[u.to_vec()]));
    let mut runs: Vec<Box<dyn FnMut()>> = schedules
        .iter()
        .map(|&(_, s)| Box::new(move || keep(vjp_stepped(f, x, &u, s))) as Box<dyn FnMut()>)
        .collect();
    let (a, rest) = runs.split_at_mut(1);
    let (b, c) = rest.split_at_mut(1);
    let times = compare(
        settings,
        &mut [
            ("plain", &mut plain_run),
            ("store_all", &mut *a[0]),
            ("uniform_sqrt", &mut *b[0]),
            ("binomial_s10", &mut *c[0]),
        ],
    );
    let store_all = times[1].1;
    w.write(&CheckpointRow {
        problem: name.to_string(),
        steps: l,
        schedule: "plain_tape".into(),
        tape_bytes: plain.stats.peak_tape_bytes,
        checkpoint_bytes: 0,
        total_bytes: plain.stats.peak_tape_bytes,
        allocator_peak_bytes: plain_peak as u64,
        untaped_steps: 0,
        minimum_untaped_steps: 0,
        seconds: times[0].1,
        time_vs_store_all: times[0].1 / store_all,
    })?;
    for ((label, schedule, stats, peak), (_, seconds, _)) in rows.into_iter().zip(&times[1..]) {
        let minimum = match schedule {
            Schedule::Binomial { snapshots } => binomial_minimum(l as u64, snapshots as u64),
            _ => 0,
        };
        w.write(&CheckpointRow {
            problem: name.to_string(),
            steps: l,
            schedule: label.to_string(),
            tape_bytes: stats.peak_tape_bytes,
            checkpoint_bytes: stats.peak_checkpoint_bytes,
            total_bytes: stats.peak_tape_bytes + stats.peak_checkpoint_bytes,
            allocator_peak_bytes: peak as u64,
            untaped_steps: stats.untaped_steps,
            minimum_untaped_steps: minimum as u64,
            seconds: *seconds,
            time_vs_store_all: seconds / store_all,
        })?;
    }
    eprintln!("  {name} L={l}");
    Ok(())
}

/// H·v by forward over reverse against one reverse gradient.
pub fn second(out: &Path, settings: &Settings) -> Result<()> {
    let mut w = RowWriter::<SecondRow>::create(out)?;
    let l = if settings.quick { 100 } else { 1000 };
    let rk4 = Unrolled(Rk4 { steps: l, h: 0.001 });
    let gru_problem = Gru {
        steps: l / 10,
        hidden: 8,
    };
    let gru = Unrolled(gru_problem);
    let rosen = Rosenbrock {
        n: if settings.quick { 100 } else { 1000 },
    };
    let problems: Vec<(&str, &dyn DynSecond, Vec<f64>)> = vec![
        ("rk4", &rk4, Rk4::point()),
        ("gru", &gru, gru_problem.point()),
        ("rosenbrock", &rosen, point(rosen.n, 5)),
    ];
    for (name, f, x) in problems {
        let v: Vec<f64> = point(x.len(), 11);
        let mut grad = || keep(f.gradient(&x));
        let mut hv = || keep(f.hvp(&x, &v));
        let mut hess = || keep(f.hessian(&x));
        // The source engine: compiled before the rounds (its H·v at the
        // warm-up call), natively and for the interpreter.
        let program = f.trace(&x);
        let native = Compiled::new(&program, SourceOptions::default());
        let interpreted = Compiled::new(
            &program,
            SourceOptions {
                native: false,
                ..SourceOptions::default()
            },
        );
        let mut ws = Workspace::default();
        let (mut value, mut gradient) = (Vec::new(), Vec::new());
        let mut source_grad = || {
            native.vjp_into(&mut ws, &x, &[1.0], &mut value, &mut gradient);
            keep(&gradient);
        };
        let mut ws_hvp = Workspace::default();
        let mut source_hv = || keep(native.gradient_and_hvp(&mut ws_hvp, &x, &[1.0], &v));
        let mut ws_interpreted = Workspace::default();
        let mut source_hv_interpreted =
            || keep(interpreted.gradient_and_hvp(&mut ws_interpreted, &x, &[1.0], &v));
        let mut methods: Vec<(&str, &mut dyn FnMut())> = vec![
            ("gradient", &mut grad),
            ("hvp", &mut hv),
            ("source_gradient", &mut source_grad),
            ("source_hvp", &mut source_hv),
            ("source_hvp_interpreted", &mut source_hv_interpreted),
        ];
        let small = x.len() <= 200;
        if small {
            methods.push(("hessian", &mut hess));
        }
        let t = compare(settings, &mut methods);
        let (g, h) = (t[0].1, t[1].1);
        let (sg, sh, si) = (t[2].1, t[3].1, t[4].1);
        let hessian = small.then(|| t[5].1);
        w.write(&SecondRow {
            problem: name.to_string(),
            n: x.len(),
            gradient_seconds: g,
            hvp_seconds: h,
            hvp_over_gradient: h / g,
            hessian_seconds: hessian,
            hessian_over_gradient: hessian.map(|s| s / g),
            source_gradient_seconds: Some(sg),
            source_hvp_seconds: Some(sh),
            source_hvp_interpreted_seconds: Some(si),
            source_hvp_over_gradient: Some(sh / sg),
        })?;
        eprintln!(
            "  {name}: H·v / gradient = {:.2} (tape), {:.2} (source); source H·v interpreted / compiled = {:.2}",
            h / g,
            sh / sg,
            si / sh
        );
    }
    w.finish()?;
    Ok(())
}

/// Second-order entry points behind `dyn`.
pub trait DynSecond {
    /// The gradient by one reverse sweep.
    fn gradient(&self, x: &[f64]) -> Vec<f64>;
    /// H·v by forward over reverse.
    fn hvp(&self, x: &[f64], v: &[f64]) -> Vec<f64>;
    /// The dense Hessian by n products.
    fn hessian(&self, x: &[f64]) -> Vec<f64>;
    /// The program traced at `x`.
    fn trace(&self, x: &[f64]) -> Program;
}

impl<F: Differentiable> DynSecond for F {
    fn gradient(&self, x: &[f64]) -> Vec<f64> {
        vjps(self, x, &[vec![1.0]])
            .map(|s| s.products[0].clone())
            .unwrap_or_default()
    }
    fn hvp(&self, x: &[f64], v: &[f64]) -> Vec<f64> {
        gradient_and_hvp(self, x, v)
            .map(|p| p.hvp)
            .unwrap_or_default()
    }
    fn hessian(&self, x: &[f64]) -> Vec<f64> {
        hessian(self, x).unwrap_or_default()
    }
    fn trace(&self, x: &[f64]) -> Program {
        adcheck_engines::trace(self, x)
    }
}

/// The least thread CPU seconds of `reps` calls of `f` (after one warm-up
/// call when `reps > 1`).
fn least_cpu_seconds(reps: usize, mut f: impl FnMut()) -> f64 {
    if reps > 1 {
        f();
    }
    (0..reps)
        .map(|_| {
            // This thread's CPU time: unaffected by other processes sharing
            // the machine, unlike wall-clock time.
            let start = cpu_time::ThreadTime::now();
            f();
            start.elapsed().as_secs_f64()
        })
        .fold(f64::INFINITY, f64::min)
}

/// A program of about `operations` body entries in one of the scale
/// experiment's shapes: `chain` (two inputs, one long dependent chain of
/// sin, mul and add) or `wide` (log-sum-exp over `operations / 2` inputs:
/// one exp each, then a running sum).
fn scale_program(shape: &str, operations: usize) -> adcheck_engines::Program {
    let mut text = String::new();
    match shape {
        "chain" => {
            text.push_str("input a b\nv0 = sin a");
            for i in 1..operations {
                let prev = i - 1;
                let line = match i % 3 {
                    0 => format!("\nv{i} = sin v{prev}"),
                    1 => format!("\nv{i} = mul v{prev} b"),
                    _ => format!("\nv{i} = add v{prev} a"),
                };
                text.push_str(&line);
            }
            text.push_str(&format!("\noutput v{}", operations - 1));
        }
        _ => {
            let n = (operations / 2).max(2);
            text.push_str("input");
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
            text.push_str(&format!("\ny = ln s{}\noutput y", n - 1));
        }
    }
    adcheck_engines::Program::parse(&text).expect("a valid scale program")
}

/// How the oracle's cost and the checkpointed engine's grow with program
/// size: thread CPU seconds of one reference (gradient, JVP) for programs
/// of 10² to 10⁵ operations in two shapes, and of one checkpointed VJP per
/// step it accounts for (advanced untaped or taped) under each schedule.
pub fn scale(out: &Path, settings: &Settings) -> Result<()> {
    use adcheck_engines::stepped::ProgramSteps;
    use adcheck_oracle::{Oracle, OracleConfig, Quantity};
    let sizes: Vec<usize> = if settings.quick {
        vec![100, 300, 1000, 3000]
    } else {
        vec![100, 1000, 10_000, 100_000]
    };
    let oracle = Oracle::new(OracleConfig::default());
    let mut w = RowWriter::<ScaleOracleRow>::create(out)?;
    for shape in ["chain", "wide"] {
        for &size in &sizes {
            let p = scale_program(shape, size);
            let n = p.n_inputs();
            let x: Vec<f64> = (0..n).map(|i| 0.3 + 0.4 * ((i % 7) as f64 / 7.0)).collect();
            let v: Vec<f64> = (0..n)
                .map(|i| if i % 2 == 0 { 1.0 } else { -0.5 })
                .collect();
            let operations = p.body().len();
            let reps = if operations <= 1000 { 3 } else { 1 };
            for (name, quantity) in [("gradient", Quantity::Gradient), ("jvp", Quantity::Jvp(v))] {
                let seconds = least_cpu_seconds(reps, || {
                    keep(oracle.reference(&p, &x, &quantity).expect("a reference"));
                });
                w.write(&ScaleOracleRow {
                    shape: shape.to_string(),
                    operations,
                    inputs: n,
                    quantity: name.to_string(),
                    cpu_seconds: seconds,
                    cpu_seconds_per_operation: seconds / operations as f64,
                })?;
                eprintln!("  oracle {shape} {operations} operations, {name}: {seconds:.3} s CPU");
            }
        }
    }
    w.finish()?;

    let mut w = RowWriter::<ScaleCheckpointedRow>::create(out)?;
    let schedules = [
        ("store_all", Schedule::StoreAll),
        ("uniform_sqrt", Schedule::Uniform),
        ("binomial_s4", Schedule::Binomial { snapshots: 4 }),
    ];
    for &size in &sizes {
        let p = scale_program("chain", size);
        let steps = ProgramSteps::balanced(&p);
        let x = [0.3, 0.9];
        for (label, schedule) in schedules {
            let (_, _, stats) = vjp_stepped(&steps, &x, &[1.0], schedule).expect("a valid program");
            let accounted = stats.untaped_steps + stats.taped_steps;
            let seconds = least_cpu_seconds(3, || keep(vjp_stepped(&steps, &x, &[1.0], schedule)));
            w.write(&ScaleCheckpointedRow {
                schedule: label.to_string(),
                operations: p.body().len(),
                steps: steps.n_steps(),
                accounted_steps: accounted,
                cpu_seconds: seconds,
                cpu_seconds_per_accounted_step: seconds / accounted as f64,
            })?;
        }
        eprintln!("  checkpointed chain of {size}");
    }
    w.finish()?;
    Ok(())
}
