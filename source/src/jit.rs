//! Native code: the primal, adjoint and tangent programs of a [`Graph`]
//! compiled with Cranelift.
//!
//! Every program works on one `f64` frame ([`Layout`]): the values, the
//! local partials, the adjoints (or tangents), a sink for partials nobody
//! reads and a scratch row for `logsumexp`'s arguments; the inputs are read
//! where the caller has them, and their adjoints written (or tangents
//! read) in the caller's buffer. Offsets are fixed when compiling, so the
//! code has no index arrays to read. The computed
//! part is cut into [`Segment`]s: a loop found in the trace
//! ([`crate::segments`]) is compiled once as a native loop, the rest
//! operation by operation. Segments are packed into functions of about
//! [`CHUNK`] operations, so Cranelift's time stays linear in the program;
//! values cross functions and iterations through the frame, and inside one
//! they stay in registers for a window of [`WINDOW`] operations.
//!
//! Cheap operations (`+ − × ÷`, `neg`, `sqrt`, `recip`, branches) are
//! inlined with the rules of `conventions` written out; every other
//! operation calls its rule in [`crate::abi`]. The adjoint and tangent
//! programs are plain IEEE arithmetic: where the tape skips a zero adjoint
//! or omits a zero partial, they add `partial · adjoint` anyway, which
//! changes nothing but the sign of a zero unless the other factor is
//! infinite or NaN; then the product is NaN, NaN survives every later sum
//! and product into the answer, and the caller runs the interpreter,
//! which applies the zero rule. The first write into a parent (its last
//! consumer) stores `partial · adjoint` instead of adding it, so no
//! adjoint is zeroed before a sweep; the caller turns a gradient's `−0`
//! into the tape's `+0`, so unsimplified gradients are bitwise the tape's.
//!
//! The one `unsafe` boundary is [`Native::run`]: it calls code made here
//! on a frame of [`Layout::len`] values, and the code reads and writes only
//! inside the frame by construction (every offset comes from the layout,
//! every loop runs the iterations the graph has).

use crate::abi;
use crate::graph::Graph;
use crate::segments::{first_writes, segments, Loop, Segment, MAX_PERIOD};
use adcheck_engines::ops::{BinaryOp, Comparison, UnaryOp};
use adcheck_engines::Instr;
use cranelift_codegen::ir::condcodes::{FloatCC, IntCC};
use cranelift_codegen::ir::{
    types, AbiParam, BlockArg, InstBuilder, MemFlags, SigRef, Signature, Value,
};
use cranelift_codegen::isa::{CallConv, OwnedTargetIsa};
use cranelift_codegen::settings::{self, Configurable};
use cranelift_frontend::{FunctionBuilder, FunctionBuilderContext};
use cranelift_jit::{JITBuilder, JITModule};
use cranelift_module::{default_libcall_names, FuncId, Module};
use std::collections::HashMap;

/// About how many operations one compiled function holds (a loop counts
/// one iteration).
pub const CHUNK: usize = 256;

/// How many operations a value stays in a register after its last use
/// before it is read from the frame again.
const WINDOW: usize = 32;

/// Programs of at most this many operations are compiled without
/// Cranelift's optimisations (a fifth less compile time, where running
/// costs next to nothing anyway).
pub const QUICK_UP_TO: usize = 256;

/// Where each kind of slot sits in the frame, in `f64`s.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Layout {
    partials: usize,
    /// Per value, where its stored partials start (from `partials`): only
    /// partials the code stores get a slot, so a loop's partials are
    /// contiguous (log-sum-exp: one `f64` an iteration, not five).
    partial_start: Vec<u32>,
    derivatives: usize,
    sink: usize,
    scratch: usize,
    len: usize,
}

impl Layout {
    /// The frame of `g`: values, partials, derivatives, sink, scratch.
    pub fn of(g: &Graph) -> Layout {
        let values = g.n_values();
        let widest = g
            .body()
            .iter()
            .map(|i| match i {
                Instr::LogSumExp(args) => args.len(),
                _ => 0,
            })
            .max()
            .unwrap_or(0);
        let n = g.n_inputs();
        let mut partial_start = Vec::with_capacity(values + 1);
        let mut stored = 0u32;
        for i in 0..values {
            partial_start.push(stored);
            if i >= n && g.is_differentiated(i) && stores_partials(&g.body()[i - n]) {
                stored += (g.slot_start(i + 1) - g.slot_start(i)) as u32;
            }
        }
        partial_start.push(stored);
        let partials = values;
        let derivatives = partials + stored as usize;
        let sink = derivatives + values;
        let scratch = sink + widest.max(2);
        Layout {
            partials,
            partial_start,
            derivatives,
            sink,
            scratch,
            len: scratch + widest,
        }
    }

    /// The frame's length.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Where the derivatives (adjoints or tangents) start.
    pub fn derivatives(&self) -> usize {
        self.derivatives
    }
}

/// Whether the code stores `instr`'s partials (into its graph slots'
/// count of frame slots); `neg`, `+`, `−` and `×` have theirs read from
/// constants and values (see `Chunk::partial`).
fn stores_partials(instr: &Instr) -> bool {
    !matches!(
        instr,
        Instr::Const(_)
            | Instr::Unary(UnaryOp::Neg, _)
            | Instr::Binary(BinaryOp::Add | BinaryOp::Sub | BinaryOp::Mul, _)
    )
}

type ChunkFn = unsafe extern "C" fn(*mut f64, i32, *const f64, *mut f64);

/// Which program a set of functions runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pass {
    /// Values and local partials.
    Primal = 0,
    /// Adjoints, swept back (after `Primal`, with the seeds in place).
    Adjoint = 1,
    /// Tangents, forward (after `Primal`, with the inputs' tangents in place).
    Tangent = 2,
}

/// The compiled programs of one graph: one function a group of segments,
/// holding the group's primal, adjoint and tangent programs (its second
/// argument picks one), so a small program costs one function to compile.
pub struct Native {
    /// The code the function pointers point into.
    _code: CodeMemory,
    chunks: Vec<ChunkFn>,
    constants: Vec<(usize, f64)>,
    unwritten_inputs: Vec<usize>,
    loops: usize,
    len: usize,
    inputs: usize,
}

impl std::fmt::Debug for Native {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Native")
            .field("functions", &self.chunks.len())
            .field("loops", &self.loops)
            .finish()
    }
}

/// Compiled code's memory, freed when this is dropped. Whoever holds one
/// keeps the function pointers taken from its module beside it, in the
/// same struct, and hands them to no one.
pub(crate) struct CodeMemory(Option<JITModule>);

impl CodeMemory {
    /// Holds `module`'s finalized code until dropped.
    pub(crate) fn new(module: JITModule) -> CodeMemory {
        CodeMemory(Some(module))
    }
}

impl Drop for CodeMemory {
    fn drop(&mut self) {
        if let Some(module) = self.0.take() {
            // SAFETY: the function pointers into this module are held only
            // beside it (see the type's documentation) and die with it.
            #[allow(unsafe_code)]
            unsafe {
                module.free_memory();
            }
        }
    }
}

thread_local! {
    static ISA: Option<OwnedTargetIsa> = host_isa("speed").ok();
    static QUICK_ISA: Option<OwnedTargetIsa> = host_isa("none").ok();
}

/// The host's instruction set at an optimisation level.
fn host_isa(opt_level: &str) -> Result<OwnedTargetIsa, String> {
    let mut flags = settings::builder();
    let set = |flags: &mut settings::Builder, k: &str, v: &str| {
        flags
            .set(k, v)
            .map_err(|e| format!("cranelift setting {k}: {e}"))
    };
    set(&mut flags, "opt_level", opt_level)?;
    set(&mut flags, "use_colocated_libcalls", "false")?;
    set(&mut flags, "is_pic", "false")?;
    set(
        &mut flags,
        "enable_verifier",
        if cfg!(debug_assertions) {
            "true"
        } else {
            "false"
        },
    )?;
    let isa = cranelift_native::builder().map_err(|e| format!("no native code here: {e}"))?;
    isa.finish(settings::Flags::new(flags))
        .map_err(|e| format!("no native code here: {e}"))
}

/// The host's instruction set for a program of `operations` operations:
/// without Cranelift's optimisations up to [`QUICK_UP_TO`].
pub fn isa_for(operations: usize) -> Result<OwnedTargetIsa, String> {
    if operations <= QUICK_UP_TO {
        QUICK_ISA.with(|isa| isa.clone())
    } else {
        ISA.with(|isa| isa.clone())
    }
    .ok_or_else(|| "no native code generator for this machine".to_string())
}

/// Whether native code can be made on this machine.
pub fn available() -> bool {
    ISA.with(|isa| isa.is_some())
}

/// Segments packed into functions of about [`CHUNK`] operations (a long
/// straight run is cut).
pub(crate) fn groups(segments: Vec<Segment>) -> Vec<Vec<Segment>> {
    let mut groups: Vec<Vec<Segment>> = Vec::new();
    let mut current: Vec<Segment> = Vec::new();
    let mut cost = 0;
    let mut push = |segment: Segment, weight: usize, current: &mut Vec<Segment>| {
        if cost + weight > CHUNK && !current.is_empty() {
            groups.push(std::mem::take(current));
            cost = 0;
        }
        cost += weight;
        current.push(segment);
    };
    for segment in segments {
        match segment {
            Segment::Straight { lo, hi } => {
                for piece in (lo..hi).step_by(CHUNK) {
                    let end = (piece + CHUNK).min(hi);
                    push(
                        Segment::Straight { lo: piece, hi: end },
                        end - piece,
                        &mut current,
                    );
                }
            }
            Segment::Loop(Loop { period, .. }) => push(segment, period + 8, &mut current),
        }
    }
    if !current.is_empty() {
        groups.push(current);
    }
    groups
}

/// Per value, whether it is an operation of a loop whose value, in every
/// iteration, is read only from registers: by operations of its own
/// iteration, or of the next through a carried register; never by another
/// segment, as an output, or as the partial of a product (which the
/// adjoint and tangent programs read from the frame). Its store is left
/// out, so a loop's memory traffic is what the derivatives need.
fn register_only(g: &Graph, segments: &[Segment]) -> Vec<bool> {
    let n = g.n_inputs();
    let mut consumers: Vec<Vec<(u32, u8)>> = vec![Vec::new(); g.n_values()];
    for (k, instr) in g.body().iter().enumerate() {
        for (q, &a) in instr.args().iter().enumerate() {
            consumers[a as usize].push(((n + k) as u32, q as u8));
        }
    }
    let mut only = vec![false; g.n_values()];
    let mut output = vec![false; g.n_values()];
    for &o in g.outputs() {
        output[o as usize] = true;
    }
    // A product reads its operands again for its partials.
    let read_as_partial = |c: usize, q: usize| match &g.body()[c - n] {
        Instr::Binary(BinaryOp::Mul, args) if g.is_differentiated(c) => {
            args[0] == args[1] || g.is_active(args[1 - q] as usize)
        }
        _ => false,
    };
    for segment in segments {
        let Segment::Loop(Loop {
            start,
            period,
            count,
            strides,
            ..
        }) = segment
        else {
            continue;
        };
        let (start, period, count) = (*start, *period, *count);
        let end = start + period * count;
        for j in 0..period {
            let i0 = start + j;
            // A value the next iteration reads from a carried register:
            // the loop stores its last iteration's after the loop
            // (`Chunk::carried`), for readers after the loop.
            let carried = (0..period).any(|jc| {
                let args = g.body()[start + jc - n].args();
                (0..args.len())
                    .any(|q| strides[jc][q] == period as i64 && args[q] as usize + period == i0)
            });
            only[i0] = (0..count).all(|k| {
                let v = i0 + k * period;
                let iteration = |c: usize| (c - start) / period;
                let last = carried && k == count - 1;
                (!output[v] || last)
                    && consumers[v].iter().all(|&(c, q)| {
                        let (c, q) = (c as usize, q as usize);
                        if read_as_partial(c, q) {
                            return false;
                        }
                        if c < start || c >= end {
                            return c >= end && last;
                        }
                        let (kc, jc) = (iteration(c), (c - start) % period);
                        // The same iteration reads it from a register; the
                        // next, through the carried register of
                        // `Chunk::carried` (its argument one period back).
                        kc == k
                            || (kc == k + 1
                                && strides[jc][q] == period as i64
                                && (g.body()[start + jc - n].args()[q] as usize) + period == i0)
                    })
            });
        }
    }
    only
}

impl Native {
    /// Compiles the three programs of `g`.
    pub fn compile(g: &Graph, layout: &Layout) -> Result<Native, String> {
        let isa = isa_for(g.body().len())?;
        let mut module = JITModule::new(JITBuilder::with_isa(isa, default_libcall_names()));
        let mut ctx = module.make_context();
        let mut fctx = FunctionBuilderContext::new();
        let pointer = module.target_config().pointer_type();
        let call_conv = module.isa().default_call_conv();
        let (first, written) = first_writes(g);
        let segments = segments(g, &first, MAX_PERIOD);
        let loops = segments
            .iter()
            .filter(|s| matches!(s, Segment::Loop(_)))
            .count();
        let register_only = register_only(g, &segments);
        let mut ids: Vec<FuncId> = Vec::new();
        for group in groups(segments) {
            ctx.func.signature = Signature::new(call_conv);
            ctx.func.signature.params.push(AbiParam::new(pointer));
            ctx.func.signature.params.push(AbiParam::new(types::I32));
            ctx.func.signature.params.push(AbiParam::new(pointer));
            ctx.func.signature.params.push(AbiParam::new(pointer));
            let id = module
                .declare_anonymous_function(&ctx.func.signature)
                .map_err(|e| e.to_string())?;
            {
                let b = FunctionBuilder::new(&mut ctx.func, &mut fctx);
                Chunk::new(b, g, layout, &first, &register_only, pointer, call_conv).build(&group);
            }
            module
                .define_function(id, &mut ctx)
                .map_err(|e| format!("{e:?}"))?;
            module.clear_context(&mut ctx);
            ids.push(id);
        }
        module.finalize_definitions().map_err(|e| e.to_string())?;
        let chunks = ids
            .into_iter()
            .map(|id| {
                let code = module.get_finalized_function(id);
                // SAFETY: `code` is a finalized function of this module with
                // the signature declared above (a pointer, an i32, two
                // pointers; no result), kept alive as long as the `Native`
                // holds the module (its `CodeMemory`).
                #[allow(unsafe_code)]
                unsafe {
                    std::mem::transmute::<*const u8, ChunkFn>(code)
                }
            })
            .collect();
        let constants = g.constants();
        Ok(Native {
            _code: CodeMemory::new(module),
            chunks,
            constants,
            unwritten_inputs: (0..g.n_inputs()).filter(|&j| !written[j]).collect(),
            loops,
            len: layout.len(),
            inputs: g.n_inputs(),
        })
    }

    /// The inputs whose adjoint nothing writes (no seed, no consumer):
    /// their gradient is 0.
    pub fn unwritten_inputs(&self) -> &[usize] {
        &self.unwritten_inputs
    }

    /// How many loops the compiled code runs.
    pub fn loops(&self) -> usize {
        self.loops
    }

    /// Runs one program on `frame` at the point `x`, with `dx` the
    /// inputs' derivatives (the adjoints it writes, or the tangents it
    /// reads): the functions in order, or in reverse order for the adjoint.
    /// The primal first writes the constants (a loop reads a different one
    /// each iteration from the frame).
    ///
    /// # Panics
    /// When the frame is not of the layout's length, or `x` or `dx` not of
    /// the program's inputs'.
    pub fn run(&self, pass: Pass, frame: &mut [f64], x: &[f64], dx: &mut [f64]) {
        assert_eq!(frame.len(), self.len, "a frame of the compiled layout");
        assert_eq!((x.len(), dx.len()), (self.inputs, self.inputs));
        if pass == Pass::Primal {
            for &(i, c) in &self.constants {
                frame[i] = c;
            }
        }
        let mut call = |f: &ChunkFn| {
            // SAFETY: the compiled code reads and writes the frame only at
            // offsets below the layout's length, and `x` and `dx` below the
            // number of inputs, all checked just above; it hands the
            // helpers it calls pointers into the frame; the module that
            // holds the code lives as long as `self`.
            #[allow(unsafe_code)]
            unsafe {
                f(frame.as_mut_ptr(), pass as i32, x.as_ptr(), dx.as_mut_ptr())
            };
        };
        if pass == Pass::Adjoint {
            self.chunks.iter().rev().for_each(&mut call);
        } else {
            self.chunks.iter().for_each(&mut call);
        }
    }
}

/// Which memory a [`Loc`] is in: the frame, the caller's point (inputs
/// are read where they are, not copied) or the caller's buffer for the
/// inputs' derivatives (the gradient, written where it is returned; or
/// the direction `v`, read).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum Region {
    Frame,
    Inputs,
    InputDerivatives,
}

/// A slot as the code addresses it: `slot` of `region` in iteration 0,
/// moved by `stride` slots an iteration (0 outside loops).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
struct Loc {
    region: Region,
    stride: i64,
    slot: usize,
}

/// One operation as the code sees it: value `i` (of iteration 0), moved
/// by `own` an iteration, its arguments by their strides.
struct Op {
    i: usize,
    own: i64,
    strides: Vec<i64>,
    slot_stride: i64,
}

impl Op {
    fn straight(i: usize, arity: usize) -> Op {
        Op {
            i,
            own: 0,
            strides: vec![0; arity],
            slot_stride: 0,
        }
    }
}

/// A value a loop hands from one iteration to the next in a register: it
/// is cached under `read` when an iteration starts and taken from `write`
/// when it ends; `initial` is the frame slot it starts from, and `exit`
/// where it is stored after the loop (adjoints the loop still owes).
struct Carried {
    derivative: bool,
    read: Loc,
    write: Loc,
    initial: Loc,
    exit: Option<Loc>,
}

/// How an edge's local partial is had in compiled code.
enum Partial {
    /// `+1`, `−1` or `2` (`x + x`): a constant.
    Constant(f64),
    /// The argument at this position (the other factor of a product).
    Argument(usize),
    /// `x + x` for `x · x` read once.
    Doubled,
    /// A slot the primal program wrote.
    Slot,
}

/// One function being built.
struct Chunk<'a, 'b> {
    b: FunctionBuilder<'b>,
    frame: Value,
    pass: Value,
    inputs: Value,
    input_derivatives: Value,
    g: &'a Graph,
    layout: &'a Layout,
    first: &'a [bool],
    /// Per loop operation (iteration 0's value), whether its value is
    /// never read from the frame (see [`register_only`]).
    register_only: &'a [bool],
    pointer: types::Type,
    call_conv: CallConv,
    /// The loop counter, inside a loop.
    counter: Option<Value>,
    /// Per region and stride, `region + counter·stride` in this iteration.
    bases: HashMap<(Region, i64), Value>,
    /// Values in registers, with the operation count when last used.
    values: HashMap<Loc, (Value, usize)>,
    /// Adjoints or tangents in registers: last use, and whether the
    /// frame's copy is behind.
    derivatives: HashMap<Loc, (Value, usize, bool)>,
    /// Operations emitted in this block (the clock of the caches).
    clock: usize,
    signatures: HashMap<&'static str, SigRef>,
}

impl<'a, 'b> Chunk<'a, 'b> {
    fn new(
        mut b: FunctionBuilder<'b>,
        g: &'a Graph,
        layout: &'a Layout,
        first: &'a [bool],
        register_only: &'a [bool],
        pointer: types::Type,
        call_conv: CallConv,
    ) -> Self {
        let entry = b.create_block();
        b.append_block_params_for_function_params(entry);
        b.switch_to_block(entry);
        b.seal_block(entry);
        let params = b.block_params(entry).to_vec();
        let (frame, pass, inputs, input_derivatives) = (params[0], params[1], params[2], params[3]);
        Chunk {
            b,
            frame,
            pass,
            inputs,
            input_derivatives,
            g,
            layout,
            first,
            register_only,
            pointer,
            call_conv,
            counter: None,
            bases: HashMap::new(),
            values: HashMap::new(),
            derivatives: HashMap::new(),
            clock: 0,
            signatures: HashMap::new(),
        }
    }

    /// The function for `group`: its second argument picks the primal (0),
    /// adjoint (1) or tangent (any other) program, each a block of its own.
    fn build(mut self, group: &[Segment]) {
        let [primal, rest, adjoint, tangent] = [(); 4].map(|_| self.b.create_block());
        self.b.ins().brif(self.pass, rest, &[], primal, &[]);
        self.b.switch_to_block(rest);
        self.b.seal_block(rest);
        let is_adjoint = self
            .b
            .ins()
            .icmp_imm(IntCC::Equal, self.pass, Pass::Adjoint as i64);
        self.b.ins().brif(is_adjoint, adjoint, &[], tangent, &[]);
        for (block, pass) in [
            (primal, Pass::Primal),
            (adjoint, Pass::Adjoint),
            (tangent, Pass::Tangent),
        ] {
            self.b.switch_to_block(block);
            self.b.seal_block(block);
            // Registers do not cross blocks: each program starts afresh.
            self.values.clear();
            self.derivatives.clear();
            self.clock = 0;
            let order: Vec<&Segment> = if pass == Pass::Adjoint {
                group.iter().rev().collect()
            } else {
                group.iter().collect()
            };
            for segment in order {
                match segment {
                    Segment::Straight { lo, hi } => {
                        let ids: Vec<usize> = if pass == Pass::Adjoint {
                            (*lo..*hi).rev().collect()
                        } else {
                            (*lo..*hi).collect()
                        };
                        for i in ids {
                            let arity = self.instr(i).args().len();
                            self.operation(pass, &Op::straight(i, arity));
                        }
                    }
                    Segment::Loop(l) => self.emit_loop(pass, l),
                }
            }
            self.evict(usize::MAX);
            self.b.ins().return_(&[]);
        }
        self.b.finalize();
    }

    fn instr(&self, i: usize) -> &'a Instr {
        &self.g.body()[i - self.g.n_inputs()]
    }

    fn operation(&mut self, pass: Pass, op: &Op) {
        match pass {
            Pass::Primal => self.primal(op),
            Pass::Adjoint => self.adjoint(op),
            Pass::Tangent => self.tangent(op),
        }
        self.tick();
    }

    /// A loop: every iteration's operations through one body, the counter
    /// up (primal, tangent) or down (adjoint). Each stride's address is
    /// carried from iteration to iteration (one add), and so is each value
    /// one iteration hands the next (a running sum, its adjoint, an
    /// adjoint every iteration adds into), so no dependence between
    /// iterations goes through memory; the rest is written back after
    /// each iteration.
    fn emit_loop(&mut self, pass: Pass, segment: &Loop) {
        let Loop {
            start,
            period,
            count,
            strides,
            ..
        } = segment;
        let (start, period, count) = (*start, *period, *count);
        // The partials' stride in the frame: what one iteration stores
        // (the same in every iteration, as their shapes are).
        let partial_start = &self.layout.partial_start;
        let slot_stride = partial_start[start + period] as i64 - partial_start[start] as i64;
        self.evict(usize::MAX);
        let down = pass == Pass::Adjoint;
        let first_k = if down { count as i64 - 1 } else { 0 };
        let step = if down { -1 } else { 1 };
        // Every (region, stride) the body addresses by: the frame by the
        // period (values, derivatives) and the partials' stride, each
        // argument's region (and its derivatives') by its stride.
        let n = self.g.n_inputs();
        let mut moving: Vec<(Region, i64)> =
            vec![(Region::Frame, period as i64), (Region::Frame, slot_stride)];
        for (j, strides) in strides.iter().enumerate() {
            for (&a, &s) in self.instr(start + j).args().iter().zip(strides) {
                if (a as usize) < n {
                    moving.push((Region::Inputs, s));
                    // (The primal reads no derivative: a pointer less to
                    // carry, where a helper call leaves few registers.)
                    if pass != Pass::Primal {
                        moving.push((Region::InputDerivatives, s));
                    }
                } else {
                    moving.push((Region::Frame, s));
                }
            }
        }
        moving.retain(|&(_, s)| s != 0);
        moving.sort_unstable();
        moving.dedup();
        let carried = self.carried(pass, start, period, count, strides);

        let header = self.b.create_block();
        let counter = self.b.append_block_param(header, types::I64);
        let pointers: Vec<Value> = moving
            .iter()
            .map(|_| self.b.append_block_param(header, self.pointer))
            .collect();
        let registers: Vec<Value> = carried
            .iter()
            .map(|_| self.b.append_block_param(header, types::F64))
            .collect();
        let body = self.b.create_block();
        let exit = self.b.create_block();

        let mut initial = vec![BlockArg::Value(self.b.ins().iconst(types::I64, first_k))];
        for &(region, s) in &moving {
            let start = self.region(region);
            let p = self.b.ins().iadd_imm(start, first_k * s * 8);
            initial.push(BlockArg::Value(p));
        }
        for c in &carried {
            let v = self.load(c.initial);
            initial.push(BlockArg::Value(v));
        }
        self.b.ins().jump(header, &initial);

        self.b.switch_to_block(header);
        let more = if down {
            self.b
                .ins()
                .icmp_imm(IntCC::SignedGreaterThanOrEqual, counter, 0)
        } else {
            self.b
                .ins()
                .icmp_imm(IntCC::SignedLessThan, counter, count as i64)
        };
        self.b.ins().brif(more, body, &[], exit, &[]);

        self.b.switch_to_block(body);
        self.b.seal_block(body);
        self.counter = Some(counter);
        self.bases = moving
            .iter()
            .copied()
            .zip(pointers.iter().copied())
            .collect();
        for (c, &v) in carried.iter().zip(&registers) {
            let clock = self.clock;
            if c.derivative {
                self.derivatives.insert(c.read, (v, clock, true));
            } else {
                self.values.insert(c.read, (v, clock));
            }
        }
        let ops: Vec<usize> = if down {
            (0..period).rev().collect()
        } else {
            (0..period).collect()
        };
        for j in ops {
            let op = Op {
                i: start + j,
                own: period as i64,
                strides: strides[j].clone(),
                slot_stride,
            };
            self.operation(pass, &op);
        }
        let mut next = vec![BlockArg::Value(self.b.ins().iadd_imm(counter, step))];
        for (&(_, s), &p) in moving.iter().zip(&pointers) {
            next.push(BlockArg::Value(self.b.ins().iadd_imm(p, step * s * 8)));
        }
        for c in &carried {
            let v = if c.derivative {
                let v = self.derivative_at(c.write);
                self.derivatives.remove(&c.write);
                v
            } else {
                self.value(c.write)
            };
            next.push(BlockArg::Value(v));
        }
        self.evict(usize::MAX);
        self.b.ins().jump(header, &next);
        self.b.seal_block(header);

        self.b.switch_to_block(exit);
        self.b.seal_block(exit);
        self.counter = None;
        self.bases.clear();
        for (c, &v) in carried.iter().zip(&registers) {
            if let Some(at) = c.exit {
                self.store(v, at);
            }
        }
    }

    /// What a loop hands from one iteration to the next in registers.
    fn carried(
        &self,
        pass: Pass,
        start: usize,
        period: usize,
        count: usize,
        strides: &[Vec<i64>],
    ) -> Vec<Carried> {
        let p = period as i64;
        let d = self.layout.derivatives;
        let mut out: Vec<Carried> = Vec::new();
        for (j, strides) in strides.iter().enumerate() {
            let i = start + j;
            let args = self.instr(i).args();
            let with_edges: Vec<usize> = if self.g.is_differentiated(i) {
                let op = Op::straight(i, args.len());
                let first = self.g.slot_start(i);
                self.g
                    .edges(i)
                    .iter()
                    .map(|e| self.position_of(&op, e.slot as usize - first))
                    .collect()
            } else {
                Vec::new()
            };
            let op = Op {
                i,
                own: p,
                strides: strides.clone(),
                slot_stride: 0,
            };
            for (q, (&a0, &s)) in args.iter().zip(strides).enumerate() {
                let a0 = a0 as usize;
                // The previous iteration's value: a0 + period is the value
                // of an operation of this iteration (in the frame: inputs
                // never move by a period, see `segments`).
                let previous = s == p && a0 < start && a0 + period >= start;
                let frame = |stride: i64, slot: usize| Loc {
                    region: Region::Frame,
                    stride,
                    slot,
                };
                let item = match pass {
                    // The last iteration's value is stored after the
                    // loop, for what reads it later (see `register_only`).
                    Pass::Primal if previous => Carried {
                        derivative: false,
                        read: frame(p, a0),
                        write: frame(p, a0 + period),
                        initial: frame(0, a0),
                        exit: Some(frame(0, a0 + count * period)),
                    },
                    Pass::Tangent if previous && with_edges.contains(&q) => Carried {
                        derivative: true,
                        read: frame(p, d + a0),
                        write: frame(p, d + a0 + period),
                        initial: frame(0, d + a0),
                        exit: None,
                    },
                    Pass::Adjoint if previous && with_edges.contains(&q) => Carried {
                        derivative: true,
                        read: frame(p, d + a0 + period),
                        write: frame(p, d + a0),
                        initial: frame(0, d + a0 + count * period),
                        exit: Some(frame(0, d + a0)),
                    },
                    // An adjoint every iteration adds into (an input read
                    // by all of them, say).
                    Pass::Adjoint if s == 0 && with_edges.contains(&q) => {
                        let at = self.derivative_loc(self.arg(&op, q));
                        Carried {
                            derivative: true,
                            read: at,
                            write: at,
                            initial: at,
                            exit: Some(at),
                        }
                    }
                    _ => continue,
                };
                if !out.iter().any(|c| c.write == item.write) {
                    out.push(item);
                }
            }
        }
        out
    }

    /// Where `region` starts.
    fn region(&self, region: Region) -> Value {
        match region {
            Region::Frame => self.frame,
            Region::Inputs => self.inputs,
            Region::InputDerivatives => self.input_derivatives,
        }
    }

    /// `region + counter · stride` (the region's start outside loops).
    fn base(&mut self, region: Region, stride: i64) -> Value {
        let start = self.region(region);
        let Some(counter) = self.counter.filter(|_| stride != 0) else {
            return start;
        };
        if let Some(&b) = self.bases.get(&(region, stride)) {
            return b;
        }
        let offset = self.b.ins().imul_imm(counter, stride * 8);
        let b = self.b.ins().iadd(start, offset);
        self.bases.insert((region, stride), b);
        b
    }

    fn offset(slot: usize) -> i32 {
        i32::try_from(slot * 8).expect("a frame of at most 2³¹ bytes")
    }

    fn load(&mut self, at: Loc) -> Value {
        let base = self.base(at.region, at.stride);
        self.b
            .ins()
            .load(types::F64, MemFlags::trusted(), base, Self::offset(at.slot))
    }

    fn store(&mut self, v: Value, at: Loc) {
        let base = self.base(at.region, at.stride);
        self.b
            .ins()
            .store(MemFlags::trusted(), v, base, Self::offset(at.slot));
    }

    fn address(&mut self, at: Loc) -> Value {
        let base = self.base(at.region, at.stride);
        self.b
            .ins()
            .iadd_imm(base, i64::from(Self::offset(at.slot)))
    }

    fn f64(&mut self, c: f64) -> Value {
        self.b.ins().f64const(c)
    }

    /// Argument `q` of `op`: its value's place.
    fn arg(&self, op: &Op, q: usize) -> Loc {
        let id = self.instr(op.i).args()[q] as usize;
        Loc {
            region: if id < self.g.n_inputs() {
                Region::Inputs
            } else {
                Region::Frame
            },
            stride: op.strides[q],
            slot: id,
        }
    }

    /// The value at `at`: a constant, a register or the frame.
    fn value(&mut self, at: Loc) -> Value {
        if at.region == Region::Frame && at.stride == 0 && at.slot >= self.g.n_inputs() {
            if let Instr::Const(c) = self.instr(at.slot) {
                return self.f64(*c);
            }
        }
        let clock = self.clock;
        if let Some((v, used)) = self.values.get_mut(&at) {
            *used = clock;
            return *v;
        }
        let v = self.load(at);
        self.values.insert(at, (v, clock));
        v
    }

    fn derivative_loc(&self, value: Loc) -> Loc {
        match value.region {
            Region::Inputs => Loc {
                region: Region::InputDerivatives,
                ..value
            },
            _ => Loc {
                region: Region::Frame,
                stride: value.stride,
                slot: self.layout.derivatives + value.slot,
            },
        }
    }

    /// The adjoint or tangent of the value at `value`.
    fn derivative(&mut self, value: Loc) -> Value {
        let at = self.derivative_loc(value);
        self.derivative_at(at)
    }

    /// The adjoint or tangent at frame place `at` (a derivative slot).
    fn derivative_at(&mut self, at: Loc) -> Value {
        let clock = self.clock;
        if let Some((v, used, _)) = self.derivatives.get_mut(&at) {
            *used = clock;
            return *v;
        }
        let v = self.load(at);
        self.derivatives.insert(at, (v, clock, false));
        v
    }

    /// A new adjoint or tangent of the value at `value`; `stored` when the
    /// frame already holds it.
    fn set_derivative(&mut self, value: Loc, v: Value, stored: bool) {
        let at = self.derivative_loc(value);
        self.derivatives.insert(at, (v, self.clock, !stored));
    }

    /// Forgets an adjoint read for the last time (a body value's, at its
    /// own operation: every consumer comes later in the program).
    fn forget_derivative(&mut self, value: Loc) {
        let at = self.derivative_loc(value);
        self.derivatives.remove(&at);
    }

    /// One more operation emitted; every [`WINDOW`] of them, what was last
    /// used a window ago leaves the registers (an adjoint written back to
    /// the frame first), so no value lives across much of a function and
    /// register allocation stays linear in its length.
    fn tick(&mut self) {
        self.clock += 1;
        if self.clock % WINDOW == 0 {
            self.evict(self.clock - WINDOW);
        }
    }

    /// Drops from the registers what was last used before `before`,
    /// writing back adjoints the frame does not hold yet.
    fn evict(&mut self, before: usize) {
        self.values.retain(|_, (_, used)| *used >= before);
        let mut leaving: Vec<(Loc, Value)> = self
            .derivatives
            .iter()
            .filter(|(_, (_, used, dirty))| *used < before && *dirty)
            .map(|(&at, (v, _, _))| (at, *v))
            .collect();
        leaving.sort_by_key(|(at, _)| (at.region, at.stride, at.slot));
        for (at, v) in leaving {
            self.store(v, at);
        }
        self.derivatives.retain(|_, (_, used, _)| *used >= before);
    }

    fn signature(&mut self, name: &'static str, params: &[types::Type]) -> SigRef {
        if let Some(&s) = self.signatures.get(name) {
            return s;
        }
        let mut sig = Signature::new(self.call_conv);
        sig.params.extend(params.iter().map(|&t| AbiParam::new(t)));
        sig.returns.push(AbiParam::new(types::F64));
        let s = self.b.import_signature(sig);
        self.signatures.insert(name, s);
        s
    }

    fn call(&mut self, sig: SigRef, address: usize, args: &[Value]) -> Value {
        let callee = self.b.ins().iconst(self.pointer, address as i64);
        let call = self.b.ins().call_indirect(sig, callee, args);
        self.b.inst_results(call)[0]
    }

    /// Where `op`'s partials go: its slots, or the sink when nothing
    /// reads them.
    fn partials_at(&self, op: &Op) -> Loc {
        if self.g.is_differentiated(op.i) {
            Loc {
                region: Region::Frame,
                stride: op.slot_stride,
                slot: self.layout.partials + self.layout.partial_start[op.i] as usize,
            }
        } else {
            Loc {
                region: Region::Frame,
                stride: 0,
                slot: self.layout.sink,
            }
        }
    }

    fn next(at: Loc) -> Loc {
        Loc {
            region: Region::Frame,
            stride: at.stride,
            slot: at.slot + 1,
        }
    }

    /// The primal program of one operation: its value, and its partials
    /// where they are read.
    fn primal(&mut self, op: &Op) {
        let instr = self.instr(op.i);
        let differentiated = self.g.is_differentiated(op.i);
        let slot = self.partials_at(op);
        let v = match instr {
            Instr::Const(_) => return,
            Instr::Unary(o, _) => {
                let x = self.value(self.arg(op, 0));
                self.unary(*o, x, slot, differentiated)
            }
            Instr::PowI(_, e) => {
                let x = self.value(self.arg(op, 0));
                let e = self.b.ins().iconst(types::I32, i64::from(*e));
                let at = self.address(slot);
                let sig = self.signature("powi", &[types::F64, types::I32, self.pointer]);
                self.call(sig, abi::powi as *const () as usize, &[x, e, at])
            }
            Instr::Binary(o, [a, b]) => {
                let x = self.value(self.arg(op, 0));
                let y = self.value(self.arg(op, 1));
                let v = self.binary(*o, x, y, slot, differentiated);
                if differentiated && a == b && self.g.is_active(*a as usize) {
                    self.merge_partials(*o, slot);
                }
                v
            }
            Instr::LogSumExp(args) => {
                for j in 0..args.len() {
                    let x = self.value(self.arg(op, j));
                    let at = Loc {
                        region: Region::Frame,
                        stride: 0,
                        slot: self.layout.scratch + j,
                    };
                    self.store(x, at);
                }
                let xs = self.address(Loc {
                    region: Region::Frame,
                    stride: 0,
                    slot: self.layout.scratch,
                });
                let len = self.b.ins().iconst(self.pointer, args.len() as i64);
                let at = self.address(slot);
                let sig = self.signature("logsumexp", &[self.pointer, self.pointer, self.pointer]);
                self.call(sig, abi::logsumexp as *const () as usize, &[xs, len, at])
            }
            Instr::Select(cmp, _) => {
                let x = self.value(self.arg(op, 0));
                let y = self.value(self.arg(op, 1));
                let cc = match cmp {
                    Comparison::Lt => FloatCC::LessThan,
                    Comparison::Le => FloatCC::LessThanOrEqual,
                };
                let taken = self.b.ins().fcmp(cc, x, y);
                let tv = self.value(self.arg(op, 2));
                let fv = self.value(self.arg(op, 3));
                if differentiated {
                    let (one, zero) = (self.f64(1.0), self.f64(0.0));
                    let pt = self.b.ins().select(taken, one, zero);
                    let pf = self.b.ins().select(taken, zero, one);
                    self.store(pt, slot);
                    self.store(pf, Self::next(slot));
                }
                self.b.ins().select(taken, tv, fv)
            }
        };
        let me = Loc {
            region: Region::Frame,
            stride: op.own,
            slot: op.i,
        };
        if !(op.own != 0 && self.register_only[op.i]) {
            self.store(v, me);
        }
        let clock = self.clock;
        self.values.insert(me, (v, clock));
    }

    fn unary(&mut self, op: UnaryOp, x: Value, slot: Loc, differentiated: bool) -> Value {
        match op {
            UnaryOp::Neg => self.b.ins().fneg(x),
            UnaryOp::Sqrt => {
                let v = self.b.ins().sqrt(x);
                if differentiated {
                    let half = self.f64(0.5);
                    let d = self.b.ins().fdiv(half, v);
                    self.store(d, slot);
                }
                v
            }
            UnaryOp::Recip => {
                let one = self.f64(1.0);
                let v = self.b.ins().fdiv(one, x);
                if differentiated {
                    let square = self.b.ins().fmul(v, v);
                    let d = self.b.ins().fneg(square);
                    self.store(d, slot);
                }
                v
            }
            _ => {
                let at = self.address(slot);
                let sig = self.signature("unary", &[types::F64, self.pointer]);
                self.call(sig, abi::unary_address(op), &[x, at])
            }
        }
    }

    fn binary(
        &mut self,
        op: BinaryOp,
        x: Value,
        y: Value,
        slot: Loc,
        differentiated: bool,
    ) -> Value {
        match op {
            BinaryOp::Add => self.b.ins().fadd(x, y),
            BinaryOp::Sub => self.b.ins().fsub(x, y),
            BinaryOp::Mul => self.b.ins().fmul(x, y),
            BinaryOp::Div => {
                let v = self.b.ins().fdiv(x, y);
                if differentiated {
                    let one = self.f64(1.0);
                    let da = self.b.ins().fdiv(one, y);
                    let ratio = self.b.ins().fdiv(v, y);
                    let db = self.b.ins().fneg(ratio);
                    self.store(da, slot);
                    self.store(db, Self::next(slot));
                }
                v
            }
            _ => {
                let at = self.address(slot);
                let sig = self.signature("binary", &[types::F64, types::F64, self.pointer]);
                self.call(sig, abi::binary_address(op), &[x, y, at])
            }
        }
    }

    /// One value read twice by a rule-called operation: the edge's partial
    /// is the sum of both (slot 0), as the tape records it.
    fn merge_partials(&mut self, op: BinaryOp, slot: Loc) {
        if matches!(
            op,
            BinaryOp::Add | BinaryOp::Sub | BinaryOp::Mul | BinaryOp::Div
        ) {
            return; // constants or values (see `partial`); x − x, x / x are inactive
        }
        let (da, db) = (self.load(slot), self.load(Self::next(slot)));
        let sum = self.b.ins().fadd(da, db);
        self.store(sum, slot);
    }

    /// How the partial of `op`'s edge into argument `position` is had.
    fn partial(&self, op: &Op, position: usize) -> Partial {
        match self.instr(op.i) {
            Instr::Unary(UnaryOp::Neg, _) => Partial::Constant(-1.0),
            Instr::Binary(BinaryOp::Add, [a, b]) if a == b => Partial::Constant(2.0),
            Instr::Binary(BinaryOp::Add, _) => Partial::Constant(1.0),
            Instr::Binary(BinaryOp::Sub, _) => {
                Partial::Constant(if position == 0 { 1.0 } else { -1.0 })
            }
            Instr::Binary(BinaryOp::Mul, [a, b]) if a == b => Partial::Doubled,
            Instr::Binary(BinaryOp::Mul, _) => {
                let other = self.arg(op, 1 - position);
                match self.instr_at(other) {
                    Some(Instr::Const(c)) => Partial::Constant(*c),
                    _ => Partial::Argument(1 - position),
                }
            }
            _ => Partial::Slot,
        }
    }

    /// The instruction a value place names when it is one value in every
    /// iteration (a constant, say).
    fn instr_at(&self, at: Loc) -> Option<&'a Instr> {
        let n = self.g.n_inputs();
        (at.region == Region::Frame && at.stride == 0 && at.slot >= n).then(|| self.instr(at.slot))
    }

    fn partial_value(&mut self, op: &Op, partial: &Partial, slot_offset: usize) -> Value {
        match *partial {
            Partial::Constant(c) => self.f64(c),
            Partial::Argument(q) => self.value(self.arg(op, q)),
            Partial::Doubled => {
                let x = self.value(self.arg(op, 0));
                self.b.ins().fadd(x, x)
            }
            Partial::Slot => {
                let base = self.partials_at(op);
                self.load(Loc {
                    region: Region::Frame,
                    stride: base.stride,
                    slot: base.slot + slot_offset,
                })
            }
        }
    }

    /// The argument position of `op`'s edge with partial slot `offset`.
    fn position_of(&self, op: &Op, offset: usize) -> usize {
        crate::graph::argument_of_slot(self.instr(op.i), offset)
    }

    /// The adjoint program of one operation: its adjoint, read for the
    /// last time, times each local partial, into each parent.
    ///
    /// Plain IEEE arithmetic: no zero rule here. A zero adjoint times an
    /// infinite partial (or the reverse) is NaN, where the tape skips the
    /// product; such a NaN reaches the gradient (NaN survives every later
    /// sum and product), and [`crate::Compiled::vjp_into`] then runs the
    /// program again in the interpreter, which applies the rule. Short of
    /// that, the two differ only in the sign of a zero (a first write
    /// stores `p·a` where the tape adds it to `+0`), which the caller
    /// normalises in the gradient.
    fn adjoint(&mut self, op: &Op) {
        let i = op.i;
        if !self.g.is_differentiated(i) || self.g.edges(i).is_empty() {
            return;
        }
        let me = Loc {
            region: Region::Frame,
            stride: op.own,
            slot: i,
        };
        let a = self.derivative(me);
        self.forget_derivative(me);
        let start = self.g.slot_start(i);
        for e in self.g.edge_range(i) {
            let edge = self.g.all_edges()[e];
            let offset = edge.slot as usize - start;
            let position = self.position_of(op, offset);
            let partial = self.partial(op, position);
            let parent = self.arg(op, position);
            let first = self.first[e];
            let new = match partial {
                // The tape skips an edge whose partial is zero; a first
                // write still has to store.
                Partial::Constant(0.0) if first => self.f64(0.0),
                Partial::Constant(0.0) => continue,
                Partial::Constant(1.0) if first => a,
                Partial::Constant(1.0) => {
                    let old = self.derivative(parent);
                    self.b.ins().fadd(old, a)
                }
                Partial::Constant(-1.0) if first => self.b.ins().fneg(a),
                Partial::Constant(-1.0) => {
                    let old = self.derivative(parent);
                    self.b.ins().fsub(old, a)
                }
                _ => {
                    let p = self.partial_value(op, &partial, offset);
                    let term = self.b.ins().fmul(p, a);
                    if first {
                        term
                    } else {
                        let old = self.derivative(parent);
                        self.b.ins().fadd(old, term)
                    }
                }
            };
            self.set_derivative(parent, new, false);
        }
    }

    /// The tangent program of one operation: the sum over its edges of
    /// `partial · tangent`, in plain IEEE arithmetic as the adjoint is (a
    /// zero tangent times an infinite partial is NaN here, which reaches
    /// the outputs' tangents, and [`crate::Compiled::jvp`] then runs the
    /// interpreter, which gives it zero).
    fn tangent(&mut self, op: &Op) {
        let i = op.i;
        if !self.g.is_differentiated(i) || self.g.edges(i).is_empty() {
            return;
        }
        let start = self.g.slot_start(i);
        let mut sum: Option<Value> = None;
        for e in self.g.edges(i) {
            let offset = e.slot as usize - start;
            let position = self.position_of(op, offset);
            let partial = self.partial(op, position);
            let t = self.derivative(self.arg(op, position));
            let term = match partial {
                Partial::Constant(1.0) => t,
                Partial::Constant(-1.0) => self.b.ins().fneg(t),
                _ => {
                    let p = self.partial_value(op, &partial, offset);
                    self.b.ins().fmul(p, t)
                }
            };
            sum = Some(match sum {
                None => term,
                Some(s) => self.b.ins().fadd(s, term),
            });
        }
        let t = sum.expect("a differentiated value has an edge");
        let me = Loc {
            region: Region::Frame,
            stride: op.own,
            slot: i,
        };
        let at = self.derivative_loc(me);
        self.store(t, at);
        self.set_derivative(me, t, true);
    }
}
