//! The source-transformation engine: a program becomes a static graph,
//! the graph becomes a primal, a tangent and an adjoint program, and those
//! run as native code.
//!
//! Where the tape engines ([`adcheck_engines::reverse`]) record every
//! operation again at every call and walk the record back, this engine does
//! the work once per program, as JAX's trace → transform → compile does:
//!
//! 1. **trace** — a [`Differentiable`] is recorded as a [`Program`]
//!    ([`adcheck_engines::trace()`]; a program from the suites or the
//!    protocol is taken as it is);
//! 2. **simplify** — constant folding, common subexpressions, dead code,
//!    activity ([`graph`]): no partial, tangent or adjoint for a value no
//!    derivative reaches;
//! 3. **transform** — the tangent program (JVP) and the adjoint program
//!    (VJP, gradients), every local rule from
//!    [`conventions`](adcheck_engines::conventions) so kinks and domain
//!    edges get the values the other built-in engines give;
//! 4. **compile** — Cranelift makes native code of the primal, tangent and
//!    adjoint programs (feature `jit`, on by default); where it cannot (the
//!    feature off, or a machine without a code generator) a register
//!    interpreter runs the same programs.
//!
//! `H·v` is the tangent of the adjoint: the adjoint program run in
//! tangent (dual-number) arithmetic, compiled to native code the first
//! time it is asked for (the interpreter runs it where there is no
//! native code).
//!
//! ```
//! use adcheck_engines::{Engine, Program};
//! use adcheck_source::{Compiled, Options, SourceEngine, Workspace};
//!
//! // The seed example: y = x1·x2 + sin x1.
//! let p = Program::parse("input v1 v2\nv3 = mul v1 v2\nv4 = sin v1\nv5 = add v3 v4\noutput v5")?;
//! let x = [1.5, -2.0];
//! let grad = SourceEngine::default().gradient(&p, &x)?;
//! assert_eq!(grad.derivative, vec![x[1] + x[0].cos(), x[0]]);
//!
//! // Compile once, evaluate many times.
//! let compiled = Compiled::new(&p, Options::default());
//! let mut ws = Workspace::default();
//! for x0 in [0.5, 1.0, 2.0] {
//!     let (_, g) = compiled.vjp(&mut ws, &[x0, 3.0], &[1.0]);
//!     assert_eq!(g, vec![3.0 + x0.cos(), x0]);
//! }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

#[cfg(feature = "jit")]
mod abi;
pub mod graph;
#[cfg(feature = "jit")]
mod hvp;
mod interp;
#[cfg(feature = "jit")]
mod jit;
#[cfg(feature = "jit")]
pub mod segments;

use adcheck_engines::forward::{Dual, Strict};
use adcheck_engines::{
    trace, CallStats, Capabilities, Derivative, Differentiable, Engine, EngineError, Instr, Program,
};
use graph::Graph;
use std::cell::RefCell;
use std::rc::Rc;

/// How a program is compiled.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Options {
    /// Constant folding and common subexpressions (dead code and activity
    /// are always worked out). Off, the adjoints are bitwise the tape's.
    pub simplify: bool,
    /// Native code where it can be made; off, the register interpreter.
    pub native: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            simplify: true,
            native: true,
        }
    }
}

/// Buffers reused across evaluations of compiled programs.
#[derive(Debug, Default)]
pub struct Workspace {
    /// The native programs' frame.
    #[cfg(feature = "jit")]
    frame: Vec<f64>,
    values: Vec<f64>,
    partials: Vec<f64>,
    derivatives: Vec<f64>,
    /// The `H·v` programs' frame of dual numbers.
    #[cfg(feature = "jit")]
    hvp_frame: Vec<f64>,
}

/// A program compiled once, to be evaluated at many points.
#[derive(Debug)]
pub struct Compiled {
    graph: Graph,
    #[cfg(feature = "jit")]
    native: Option<(jit::Native, jit::Layout)>,
    /// The `H·v` programs, compiled at the first `H·v` (`None`: Cranelift
    /// could not make them, and the interpreter runs them).
    #[cfg(feature = "jit")]
    hvp: std::cell::OnceCell<Option<hvp::HvpNative>>,
    why_interpreted: Option<String>,
}

impl Compiled {
    /// Simplifies, transforms and compiles `p`.
    pub fn new(p: &Program, options: Options) -> Compiled {
        let graph = Graph::build(p, options.simplify);
        #[cfg(feature = "jit")]
        {
            if options.native {
                let layout = jit::Layout::of(&graph);
                return match jit::Native::compile(&graph, &layout) {
                    Ok(native) => Compiled {
                        graph,
                        native: Some((native, layout)),
                        hvp: std::cell::OnceCell::new(),
                        why_interpreted: None,
                    },
                    Err(why) => Compiled {
                        graph,
                        native: None,
                        hvp: std::cell::OnceCell::new(),
                        why_interpreted: Some(why),
                    },
                };
            }
            Compiled {
                graph,
                native: None,
                hvp: std::cell::OnceCell::new(),
                why_interpreted: Some("native code turned off".into()),
            }
        }
        #[cfg(not(feature = "jit"))]
        Compiled {
            graph,
            why_interpreted: Some(if options.native {
                "built without the `jit` feature".into()
            } else {
                "native code turned off".into()
            }),
        }
    }

    /// Traces `f` at `x` (branches take the sides they take at `x`) and
    /// compiles the program.
    pub fn of<F: Differentiable + ?Sized>(f: &F, x: &[f64], options: Options) -> Compiled {
        Compiled::new(&trace(f, x), options)
    }

    /// The simplified graph.
    pub fn graph(&self) -> &Graph {
        &self.graph
    }

    /// Why the programs run in the interpreter, or `None` when they run as
    /// native code.
    pub fn why_interpreted(&self) -> Option<&str> {
        self.why_interpreted.as_deref()
    }

    /// How many loops the native code runs (repeated iterations of the
    /// trace rolled back into one), or `None` when it is interpreted.
    pub fn native_loops(&self) -> Option<usize> {
        #[cfg(feature = "jit")]
        if let Some((native, _)) = &self.native {
            return Some(native.loops());
        }
        None
    }

    /// The bytes one evaluation's buffers hold.
    pub fn frame_bytes(&self) -> usize {
        #[cfg(feature = "jit")]
        if let Some((_, layout)) = &self.native {
            return layout.len() * 8;
        }
        (2 * self.graph.n_values() + self.graph.n_slots()) * 8
    }

    /// Output `o`'s value after a native primal pass: an input, a
    /// constant or a frame value.
    #[cfg(feature = "jit")]
    fn value_of(&self, frame: &[f64], x: &[f64], o: u32) -> f64 {
        let n = self.graph.n_inputs();
        let o = o as usize;
        if o < n {
            return x[o];
        }
        match &self.graph.body()[o - n] {
            Instr::Const(c) => *c,
            _ => frame[o],
        }
    }

    /// The primal `f(x)` and `uᵀJ`.
    ///
    /// # Panics
    /// When `x` or `u` has the wrong length (the engine checks first).
    pub fn vjp(&self, ws: &mut Workspace, x: &[f64], u: &[f64]) -> (Vec<f64>, Vec<f64>) {
        let (mut primal, mut gradient) = (Vec::new(), Vec::new());
        self.vjp_into(ws, x, u, &mut primal, &mut gradient);
        (primal, gradient)
    }

    /// [`Compiled::vjp`] into the caller's buffers, which keep their
    /// storage from call to call: the form for evaluating one program
    /// many times.
    ///
    /// # Panics
    /// When `x` or `u` has the wrong length (the engine checks first).
    pub fn vjp_into(
        &self,
        ws: &mut Workspace,
        x: &[f64],
        u: &[f64],
        primal: &mut Vec<f64>,
        gradient: &mut Vec<f64>,
    ) {
        let g = &self.graph;
        let n = g.n_inputs();
        assert_eq!((x.len(), u.len()), (n, g.outputs().len()));
        primal.clear();
        #[cfg(feature = "jit")]
        if let Some((native, layout)) = &self.native {
            let frame = &mut ws.frame;
            frame.resize(layout.len(), 0.0);
            if gradient.len() != n {
                gradient.clear();
                gradient.resize(n, 0.0);
            }
            native.run(jit::Pass::Primal, frame, x, gradient);
            // The seeds, as the tape adds them to zero; every other adjoint
            // is stored by its first write, so nothing else is zeroed.
            let d = layout.derivatives();
            for &o in g.outputs() {
                let o = o as usize;
                if o < n {
                    gradient[o] = 0.0;
                } else {
                    frame[d + o] = 0.0;
                }
            }
            for (&o, &w) in g.outputs().iter().zip(u) {
                let o = o as usize;
                if g.is_differentiated(o) {
                    if o < n {
                        gradient[o] += w;
                    } else {
                        frame[d + o] += w;
                    }
                }
            }
            native.run(jit::Pass::Adjoint, frame, x, gradient);
            for &j in native.unwritten_inputs() {
                gradient[j] = 0.0;
            }
            // The native adjoint is plain arithmetic (see `jit`): without a
            // NaN in the gradient it is the tape's but for the sign of a
            // zero, which `+ 0.0` makes the tape's `+0`; with one, a
            // `0 · ∞` may be in it, and the interpreter applies the rule.
            let mut nan = false;
            for d in gradient.iter_mut() {
                *d += 0.0;
                nan |= d.is_nan();
            }
            if !nan {
                primal.extend(g.outputs().iter().map(|&o| self.value_of(frame, x, o)));
                return;
            }
        }
        interp::primal(g, x, &mut ws.values, &mut ws.partials);
        interp::adjoint(g, &ws.partials, u, &mut ws.derivatives);
        primal.extend(interp::outputs(g, &ws.values));
        gradient.clear();
        gradient.extend_from_slice(&ws.derivatives[..n]);
    }

    /// The primal `f(x)` and `J·v`.
    ///
    /// # Panics
    /// When `x` or `v` has the wrong length (the engine checks first).
    pub fn jvp(&self, ws: &mut Workspace, x: &[f64], v: &[f64]) -> (Vec<f64>, Vec<f64>) {
        let g = &self.graph;
        let n = g.n_inputs();
        assert_eq!((x.len(), v.len()), (n, n));
        let tangent_of = |tangents: &[f64], o: u32| {
            if g.is_differentiated(o as usize) {
                tangents[o as usize]
            } else {
                0.0
            }
        };
        #[cfg(feature = "jit")]
        if let Some((native, layout)) = &self.native {
            let frame = &mut ws.frame;
            frame.resize(layout.len(), 0.0);
            // The inputs' tangents, read where they are (a copy: the
            // compiled code takes them as a buffer it may write).
            let tangents_in = &mut ws.derivatives;
            tangents_in.clear();
            tangents_in.extend_from_slice(v);
            native.run(jit::Pass::Primal, frame, x, tangents_in);
            native.run(jit::Pass::Tangent, frame, x, tangents_in);
            let d = layout.derivatives();
            let primal = g
                .outputs()
                .iter()
                .map(|&o| self.value_of(frame, x, o))
                .collect();
            let tangent = |o: u32| {
                let o = o as usize;
                if o < n {
                    v[o]
                } else {
                    tangent_of(&frame[d..], o as u32)
                }
            };
            let tangents: Vec<f64> = g.outputs().iter().map(|&o| tangent(o)).collect();
            // Plain arithmetic (see `jit`): without a NaN it is the
            // interpreter's answer (a zero's sign aside); with one, a
            // `0 · ∞` may be in it, and the interpreter applies the rule.
            if !tangents.iter().any(|t| t.is_nan()) {
                return (primal, tangents);
            }
        }
        interp::primal(g, x, &mut ws.values, &mut ws.partials);
        interp::tangent(g, &ws.partials, v, &mut ws.derivatives);
        (
            interp::outputs(g, &ws.values),
            g.outputs()
                .iter()
                .map(|&o| tangent_of(&ws.derivatives, o))
                .collect(),
        )
    }

    /// The primal, `uᵀJ` and `H·v` of `uᵀf`: the adjoint program run in
    /// tangent arithmetic (the tangent of the adjoint), as native code
    /// (compiled at the first call) or in the interpreter.
    ///
    /// # Panics
    /// When `x`, `u` or `v` has the wrong length (the engine checks first).
    pub fn gradient_and_hvp(
        &self,
        ws: &mut Workspace,
        x: &[f64],
        u: &[f64],
        v: &[f64],
    ) -> [Vec<f64>; 3] {
        let g = &self.graph;
        let n = g.n_inputs();
        assert_eq!((x.len(), v.len(), u.len()), (n, n, g.outputs().len()));
        #[cfg(feature = "jit")]
        if self.native.is_some() {
            let native = self.hvp.get_or_init(|| hvp::HvpNative::compile(g).ok());
            if let Some(native) = native {
                // `None`: a NaN reached the derivatives (perhaps `0 · ∞`,
                // which the interpreter's rule makes 0).
                if let Some(answer) = native.evaluate(g, &mut ws.hvp_frame, x, u, v) {
                    return answer;
                }
            }
        }
        #[cfg(not(feature = "jit"))]
        let _ = ws;
        let inputs: Vec<Dual<Strict<f64>>> = x
            .iter()
            .zip(v)
            .map(|(&re, &eps)| Dual::new(re, Strict(eps)))
            .collect();
        let seeds: Vec<Dual<Strict<f64>>> = u.iter().map(|&w| Dual::new(w, Strict(0.0))).collect();
        let (mut values, mut partials, mut adjoints) = (Vec::new(), Vec::new(), Vec::new());
        interp::primal(g, &inputs, &mut values, &mut partials);
        interp::adjoint(g, &partials, &seeds, &mut adjoints);
        [
            interp::outputs(g, &values).iter().map(|d| d.re).collect(),
            adjoints[..n].iter().map(|a| a.re).collect(),
            adjoints[..n].iter().map(|a| a.eps.0).collect(),
        ]
    }
}

/// Whether native code can be made here (the `jit` feature is on and
/// Cranelift has a code generator for this machine).
pub fn native_code_available() -> bool {
    #[cfg(feature = "jit")]
    return jit::available();
    #[cfg(not(feature = "jit"))]
    false
}

/// The source-transformation engine: each program compiled once (a
/// per-thread cache of the last programs seen), then evaluated.
#[derive(Clone, Copy, Debug, Default)]
pub struct SourceEngine {
    /// How programs are compiled.
    pub options: Options,
}

/// How many compiled programs each thread keeps.
const CACHED_PROGRAMS: usize = 4;

thread_local! {
    static CACHE: RefCell<Vec<(Program, Options, Rc<Compiled>)>> = const { RefCell::new(Vec::new()) };
    static WORKSPACE: RefCell<Workspace> = RefCell::new(Workspace::default());
}

/// The same program to the bit: constants compared by bit pattern, so
/// `0` and `−0` are two programs.
fn same_program(a: &Program, b: &Program) -> bool {
    a.n_inputs() == b.n_inputs()
        && a.outputs() == b.outputs()
        && a.body().len() == b.body().len()
        && a.body().iter().zip(b.body()).all(|(x, y)| match (x, y) {
            (Instr::Const(c), Instr::Const(d)) => c.to_bits() == d.to_bits(),
            _ => x == y,
        })
}

impl SourceEngine {
    /// The compiled form of `p`, from this thread's cache or made now.
    pub fn compiled(&self, p: &Program) -> Rc<Compiled> {
        CACHE.with(|cache| {
            let mut cache = cache.borrow_mut();
            if let Some(k) = cache
                .iter()
                .position(|(q, o, _)| *o == self.options && same_program(p, q))
            {
                let entry = cache.remove(k);
                let compiled = entry.2.clone();
                cache.push(entry);
                return compiled;
            }
            let compiled = Rc::new(Compiled::new(p, self.options));
            if cache.len() == CACHED_PROGRAMS {
                cache.remove(0);
            }
            cache.push((p.clone(), self.options, compiled.clone()));
            compiled
        })
    }

    fn stats(compiled: &Compiled, sweeps: u64) -> CallStats {
        CallStats {
            forward_passes: 1,
            reverse_sweeps: sweeps,
            operations_recorded: 0,
            peak_tape_bytes: compiled.frame_bytes() as u64,
            recomputations: 0,
        }
    }
}

impl Engine for SourceEngine {
    fn name(&self) -> &str {
        "source"
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            forward: true,
            reverse: true,
            hvp: true,
            // Common subexpressions change the order adjoints are summed in.
            reverse_bitwise: !self.options.simplify,
        }
    }

    fn jvp(&self, p: &Program, x: &[f64], v: &[f64]) -> Result<Derivative, EngineError> {
        EngineError::check_point(p, x)?;
        EngineError::check_seed("direction v", v, p.n_inputs())?;
        let compiled = self.compiled(p);
        let (primal, derivative) = WORKSPACE.with(|ws| compiled.jvp(&mut ws.borrow_mut(), x, v));
        Ok(Derivative {
            primal,
            derivative,
            stats: Self::stats(&compiled, 0),
        })
    }

    fn vjp(&self, p: &Program, x: &[f64], u: &[f64]) -> Result<Derivative, EngineError> {
        EngineError::check_point(p, x)?;
        EngineError::check_seed("cotangent u", u, p.n_outputs())?;
        let compiled = self.compiled(p);
        let (primal, derivative) = WORKSPACE.with(|ws| compiled.vjp(&mut ws.borrow_mut(), x, u));
        Ok(Derivative {
            primal,
            derivative,
            stats: Self::stats(&compiled, 1),
        })
    }

    fn hvp(&self, p: &Program, x: &[f64], v: &[f64]) -> Result<Derivative, EngineError> {
        EngineError::check_point(p, x)?;
        EngineError::check_scalar(p, "hvp")?;
        EngineError::check_seed("direction v", v, p.n_inputs())?;
        let compiled = self.compiled(p);
        let [primal, _, hvp] =
            WORKSPACE.with(|ws| compiled.gradient_and_hvp(&mut ws.borrow_mut(), x, &[1.0], v));
        Ok(Derivative {
            primal,
            derivative: hvp,
            stats: Self::stats(&compiled, 1),
        })
    }
}
