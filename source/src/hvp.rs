//! Native code for `H·v`: the adjoint program run in dual-number
//! (tangent) arithmetic, compiled with Cranelift — the tangent of the
//! adjoint, as the interpreter runs it over `Dual<Strict<f64>>`.
//!
//! Every value, partial and adjoint is a pair `[value, tangent]` in one
//! `f64` frame ([`HvpLayout`]). The primal program computes each value
//! and its partials as dual numbers: `+ − ×` and branches inline, every
//! other operation by its rule in [`crate::abi`] (the interpreter's own
//! rule over the interpreter's number type, so a second derivative at a
//! kink or domain edge is the one the other engines give). The adjoint
//! program sweeps back `adjoint[parent] += partial · adjoint` in dual
//! arithmetic.
//!
//! As in [`crate::jit`], the sweep is plain IEEE arithmetic: it adds
//! products the interpreter skips (a zero adjoint or a zero partial), and
//! multiplies a tangent by a value where the interpreter's zero rule
//! gives zero. Each differs from the interpreter only in a zero's sign
//! unless one factor is infinite or NaN; then the product is NaN, which
//! survives every later sum and product into the answer, and the caller
//! runs the interpreter. The first write into an adjoint (the edge
//! [`first_writes`] names) stores what the interpreter adds to `+0`, so
//! no adjoint is zeroed; that too changes at most a zero's sign. An answer
//! without NaN is the interpreter's bit for bit once `+ 0.0` has made a
//! `−0` the interpreter's `+0`.
//!
//! A loop found in the trace ([`crate::segments`]) is compiled once as a
//! native loop, as in the `f64` programs, so the code is as long as the
//! loop body and not as the trace; the rest is straight-line, and
//! segments are packed into functions of about
//! [`CHUNK`](crate::jit::CHUNK) operations so Cranelift's time stays
//! linear in the program. Unlike there, a value stays in a register only
//! into the next operation (an adjoint's read-add-write chain, a
//! product's arguments), then lives in the frame; nothing is carried
//! from one iteration to the next. A product's partials are its
//! arguments, read again by the adjoint program rather than stored; an
//! adjoint read for the last time is not written back. It is compiled
//! the first time `H·v` is asked for.

use crate::abi;
use crate::graph::Graph;
use crate::jit::{groups, isa_for, CodeMemory};
use crate::segments::{first_writes, segments, Loop, Segment};

/// The longest iteration looked for: longer than the `f64` programs'
/// ([`crate::segments::MAX_PERIOD`]), as this code keeps a value in a
/// register only into the next operation. A step of RK4 is 54
/// operations: rolled, RK4 over 1,000 steps (54,008 operations) compiled
/// in 13 ms instead of 2.2 s and its `H·v` ran in 256 µs instead of
/// 756 µs straight-line (one run each here, the first session of
/// this module).
const MAX_PERIOD: usize = 64;
use adcheck_engines::forward::{Dual, Strict};
use adcheck_engines::ops::{BinaryOp, Comparison};
use adcheck_engines::Instr;
use cranelift_codegen::ir::condcodes::{FloatCC, IntCC};
use cranelift_codegen::ir::{
    types, AbiParam, BlockArg, InstBuilder, MemFlags, SigRef, Signature, Value,
};
use cranelift_codegen::isa::CallConv;
use cranelift_frontend::{FunctionBuilder, FunctionBuilderContext};
use cranelift_jit::{JITBuilder, JITModule};
use cranelift_module::{default_libcall_names, Module};
use std::collections::{BTreeMap, HashMap};

/// Where each kind of pair sits in the frame, in `f64`s (value `i` at
/// `2i`, then the partials, the adjoints, a sink for partials nobody
/// reads, and a scratch row for `logsumexp`'s arguments).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HvpLayout {
    partials: usize,
    adjoints: usize,
    sink: usize,
    scratch: usize,
    len: usize,
}

impl HvpLayout {
    /// The frame of `g`.
    pub fn of(g: &Graph) -> HvpLayout {
        let widest = g
            .body()
            .iter()
            .map(|i| match i {
                Instr::LogSumExp(args) => args.len(),
                _ => 0,
            })
            .max()
            .unwrap_or(0);
        let partials = 2 * g.n_values();
        let adjoints = partials + 2 * g.n_slots();
        let sink = adjoints + 2 * g.n_values();
        let scratch = sink + 2 * widest.max(2);
        HvpLayout {
            partials,
            adjoints,
            sink,
            scratch,
            len: scratch + 2 * widest,
        }
    }
}

type PassFn = unsafe extern "C" fn(*mut f64);

/// The compiled `H·v` programs of one graph.
pub struct HvpNative {
    /// The code the function pointers point into.
    _code: CodeMemory,
    primal: Vec<PassFn>,
    /// In program order (run from the last).
    adjoint: Vec<PassFn>,
    constants: Vec<(usize, f64)>,
    /// Differentiated outputs, whose adjoints the seed starts.
    seeded: Vec<usize>,
    /// Inputs no edge writes an adjoint into (their derivatives are 0).
    unwritten_inputs: Vec<usize>,
    layout: HvpLayout,
}

impl std::fmt::Debug for HvpNative {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HvpNative")
            .field("functions", &(self.primal.len() + self.adjoint.len()))
            .finish()
    }
}

/// Which program a function runs.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Sweep {
    Primal,
    Adjoint,
}

impl HvpNative {
    /// Compiles the dual primal and adjoint programs of `g`.
    pub fn compile(g: &Graph) -> Result<HvpNative, String> {
        let layout = HvpLayout::of(g);
        let isa = isa_for(g.body().len())?;
        let mut module = JITModule::new(JITBuilder::with_isa(isa, default_libcall_names()));
        let mut ctx = module.make_context();
        let mut fctx = FunctionBuilderContext::new();
        let pointer = module.target_config().pointer_type();
        let call_conv = module.isa().default_call_conv();
        let (first, written) = first_writes(g);
        let mut ids = Vec::new();
        for group in groups(segments(g, &first, MAX_PERIOD)) {
            for sweep in [Sweep::Primal, Sweep::Adjoint] {
                ctx.func.signature = Signature::new(call_conv);
                ctx.func.signature.params.push(AbiParam::new(pointer));
                let id = module
                    .declare_anonymous_function(&ctx.func.signature)
                    .map_err(|e| e.to_string())?;
                {
                    let mut b = FunctionBuilder::new(&mut ctx.func, &mut fctx);
                    let entry = b.create_block();
                    b.append_block_params_for_function_params(entry);
                    b.switch_to_block(entry);
                    b.seal_block(entry);
                    let frame = b.block_params(entry)[0];
                    let e = Emitter {
                        b,
                        frame,
                        pointer,
                        call_conv,
                        g,
                        first: &first,
                        layout: &layout,
                        signatures: HashMap::new(),
                        counter: None,
                        bases: HashMap::new(),
                        held: BTreeMap::new(),
                        clock: 0,
                    };
                    e.build(sweep, &group);
                }
                module
                    .define_function(id, &mut ctx)
                    .map_err(|e| format!("{e:?}"))?;
                module.clear_context(&mut ctx);
                ids.push((sweep, id));
            }
        }
        module.finalize_definitions().map_err(|e| e.to_string())?;
        let (mut primal, mut adjoint) = (Vec::new(), Vec::new());
        for (sweep, id) in ids {
            let code = module.get_finalized_function(id);
            // SAFETY: `code` is a finalized function of this module with
            // the signature declared above (one pointer; no result), kept
            // alive as long as the `HvpNative` holds the module (its
            // `CodeMemory`).
            #[allow(unsafe_code)]
            let f = unsafe { std::mem::transmute::<*const u8, PassFn>(code) };
            match sweep {
                Sweep::Primal => primal.push(f),
                Sweep::Adjoint => adjoint.push(f),
            }
        }
        let constants = g.constants();
        let mut seeded: Vec<usize> = g
            .outputs()
            .iter()
            .map(|&o| o as usize)
            .filter(|&o| g.is_differentiated(o))
            .collect();
        seeded.sort_unstable();
        seeded.dedup();
        Ok(HvpNative {
            _code: CodeMemory::new(module),
            primal,
            adjoint,
            constants,
            seeded,
            unwritten_inputs: (0..g.n_inputs()).filter(|&j| !written[j]).collect(),
            layout,
        })
    }

    /// The primal, `uᵀJ` and `H·v` of `uᵀf` at `x`, or `None` where a NaN
    /// reached the derivatives and the interpreter must answer (see the
    /// module's documentation).
    ///
    /// # Panics
    /// When `x`, `u` or `v` has the wrong length.
    pub fn evaluate(
        &self,
        g: &Graph,
        frame: &mut Vec<f64>,
        x: &[f64],
        u: &[f64],
        v: &[f64],
    ) -> Option<[Vec<f64>; 3]> {
        let n = g.n_inputs();
        assert_eq!((x.len(), v.len(), u.len()), (n, n, g.outputs().len()));
        frame.resize(self.layout.len, 0.0);
        for (j, (&xj, &vj)) in x.iter().zip(v).enumerate() {
            frame[2 * j] = xj;
            frame[2 * j + 1] = vj;
        }
        for &(i, c) in &self.constants {
            frame[2 * i] = c;
            frame[2 * i + 1] = 0.0;
        }
        let run = |f: &PassFn, frame: &mut Vec<f64>| {
            // SAFETY: the compiled code reads and writes the frame only at
            // offsets below the layout's length, which the frame has
            // (resized above); it hands the helpers it calls pointers into
            // the frame; the module that holds the code lives as long as
            // `self`.
            #[allow(unsafe_code)]
            unsafe {
                f(frame.as_mut_ptr())
            };
        };
        self.primal.iter().for_each(|f| run(f, frame));
        let a = self.layout.adjoints;
        // Only adjoints nothing stores into start at zero: the seeded
        // ones (the sweep adds into them) and the unwritten inputs'.
        for &j in self.seeded.iter().chain(&self.unwritten_inputs) {
            frame[a + 2 * j] = 0.0;
            frame[a + 2 * j + 1] = 0.0;
        }
        for (&o, &w) in g.outputs().iter().zip(u) {
            let o = o as usize;
            if g.is_differentiated(o) {
                // The seed as the interpreter adds it, in its arithmetic.
                let at = a + 2 * o;
                let sum = Dual::new(frame[at], Strict(frame[at + 1])) + Dual::new(w, Strict(0.0));
                frame[at] = sum.re;
                frame[at + 1] = sum.eps.0;
            }
        }
        self.adjoint.iter().rev().for_each(|f| run(f, frame));
        let mut nan = false;
        let mut part = |k: usize| -> Vec<f64> {
            (0..n)
                .map(|j| {
                    let d = frame[a + 2 * j + k] + 0.0;
                    nan |= d.is_nan();
                    d
                })
                .collect()
        };
        let (gradient, hvp) = (part(0), part(1));
        if nan {
            return None;
        }
        let primal = g.outputs().iter().map(|&o| frame[2 * o as usize]).collect();
        Some([primal, gradient, hvp])
    }
}

/// A pair's place: `slot` (in `f64`s) in iteration 0, moved by `stride`
/// `f64`s an iteration (0 outside loops).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Loc {
    stride: i64,
    slot: usize,
}

impl Loc {
    fn fixed(slot: usize) -> Loc {
        Loc { stride: 0, slot }
    }

    fn plus(self, k: usize) -> Loc {
        Loc {
            slot: self.slot + k,
            ..self
        }
    }
}

/// One operation as the code sees it: value `i` of iteration 0, moved by
/// `own` values an iteration, its arguments by their strides, its partial
/// slots by `slot_stride`.
struct Op {
    i: usize,
    own: i64,
    strides: Vec<i64>,
    slot_stride: i64,
}

/// One function being built.
struct Emitter<'a, 'b> {
    b: FunctionBuilder<'b>,
    frame: Value,
    pointer: types::Type,
    call_conv: CallConv,
    g: &'a Graph,
    /// Per edge, whether it writes its parent's adjoint first (a store,
    /// not an addition: no adjoint is zeroed).
    first: &'a [bool],
    layout: &'a HvpLayout,
    signatures: HashMap<&'static str, SigRef>,
    /// The loop counter, inside a loop.
    counter: Option<Value>,
    /// Per stride, `frame + counter · stride` in this iteration.
    bases: HashMap<i64, Value>,
    /// Frame `f64`s held in registers in this block: their value, whether
    /// memory has it yet, and the operation that last used them. Written
    /// back before a call (helpers read the frame), at the end of a block
    /// and once unused for [`WINDOW`] operations, so an adjoint's
    /// read-add-write chain stays in registers.
    held: BTreeMap<Loc, Held>,
    /// Operations emitted so far.
    clock: usize,
}

/// A frame `f64` held in a register.
#[derive(Clone, Copy)]
struct Held {
    value: Value,
    dirty: bool,
    used: usize,
}

/// How many operations a value stays in a register after its last use:
/// one, so a value reaches the next operation (an adjoint's read-add-write
/// chain, a product's arguments) without a store and a load. Longer made
/// Cranelift's register allocator spill (per `H·v` under callgrind, GRU
/// of 100 steps and Rosenbrock n = 1000: 2.72M and 367k instructions at 1,
/// 2.79M and 383k at 2, 3.10M and 388k at 8, 3.19M and 398k at 32, against
/// 2.88M and 413k holding nothing) and compiling GRU cost 10% to 50% more.
const WINDOW: usize = 1;

impl<'a> Emitter<'a, '_> {
    /// The function of `group` for one sweep: segments in order for the
    /// primal, from the last (each swept back) for the adjoint.
    fn build(mut self, sweep: Sweep, group: &[Segment]) {
        let order: Vec<&Segment> = match sweep {
            Sweep::Primal => group.iter().collect(),
            Sweep::Adjoint => group.iter().rev().collect(),
        };
        for segment in order {
            match segment {
                Segment::Straight { lo, hi } => {
                    let ids: Vec<usize> = match sweep {
                        Sweep::Primal => (*lo..*hi).collect(),
                        Sweep::Adjoint => (*lo..*hi).rev().collect(),
                    };
                    for i in ids {
                        let op = Op {
                            i,
                            own: 0,
                            strides: vec![0; self.instr(i).args().len()],
                            slot_stride: 0,
                        };
                        self.operation(sweep, &op);
                    }
                }
                Segment::Loop(l) => self.emit_loop(sweep, l),
            }
        }
        self.write_back(|_, _| true);
        self.b.ins().return_(&[]);
        self.b.finalize();
    }

    fn operation(&mut self, sweep: Sweep, op: &Op) {
        self.clock += 1;
        if let Some(before) = self.clock.checked_sub(WINDOW) {
            self.write_back(|_, h| h.used < before);
        }
        match sweep {
            Sweep::Primal => self.primal(op),
            Sweep::Adjoint => self.adjoint(op),
        }
    }

    /// A loop: one body for every iteration, the counter up (primal) or
    /// down (adjoint, the body's operations swept back).
    fn emit_loop(&mut self, sweep: Sweep, l: &Loop) {
        let down = sweep == Sweep::Adjoint;
        let header = self.b.create_block();
        let counter = self.b.append_block_param(header, types::I64);
        let body = self.b.create_block();
        let exit = self.b.create_block();
        let first = self
            .b
            .ins()
            .iconst(types::I64, if down { l.count as i64 - 1 } else { 0 });
        self.write_back(|_, _| true);
        self.b.ins().jump(header, &[BlockArg::Value(first)]);
        self.b.switch_to_block(header);
        let more = if down {
            self.b
                .ins()
                .icmp_imm(IntCC::SignedGreaterThanOrEqual, counter, 0)
        } else {
            self.b
                .ins()
                .icmp_imm(IntCC::SignedLessThan, counter, l.count as i64)
        };
        self.b.ins().brif(more, body, &[], exit, &[]);
        self.b.switch_to_block(body);
        self.b.seal_block(body);
        self.counter = Some(counter);
        self.bases.clear();
        let ops: Vec<usize> = if down {
            (0..l.period).rev().collect()
        } else {
            (0..l.period).collect()
        };
        for j in ops {
            let op = Op {
                i: l.start + j,
                own: l.period as i64,
                strides: l.strides[j].clone(),
                slot_stride: l.slot_stride,
            };
            self.operation(sweep, &op);
        }
        let next = self.b.ins().iadd_imm(counter, if down { -1 } else { 1 });
        self.write_back(|_, _| true);
        self.b.ins().jump(header, &[BlockArg::Value(next)]);
        self.b.seal_block(header);
        self.b.switch_to_block(exit);
        self.b.seal_block(exit);
        self.counter = None;
        self.bases.clear();
    }

    fn offset(slot: usize) -> i32 {
        i32::try_from(slot * 8).expect("a frame of at most 2³¹ bytes")
    }

    /// `frame + counter · stride` (the frame outside loops).
    fn base(&mut self, stride: i64) -> Value {
        let Some(counter) = self.counter.filter(|_| stride != 0) else {
            return self.frame;
        };
        if let Some(&b) = self.bases.get(&stride) {
            return b;
        }
        let offset = self.b.ins().imul_imm(counter, stride * 8);
        let b = self.b.ins().iadd(self.frame, offset);
        self.bases.insert(stride, b);
        b
    }

    /// The `f64` at `at`: from its register, or from memory.
    ///
    /// Two places name one `f64` only if they are equal: outside loops
    /// every stride is 0, and in a loop no value is named through two
    /// strides in one iteration ([`crate::segments`] checks it), nor so
    /// its adjoint; partials, the sink and the scratch row have regions
    /// of their own.
    fn load(&mut self, at: Loc) -> Value {
        let clock = self.clock;
        if let Some(h) = self.held.get_mut(&at) {
            h.used = clock;
            return h.value;
        }
        let base = self.base(at.stride);
        let value = self
            .b
            .ins()
            .load(types::F64, MemFlags::trusted(), base, Self::offset(at.slot));
        self.held.insert(
            at,
            Held {
                value,
                dirty: false,
                used: clock,
            },
        );
        value
    }

    /// `v` into `at`, held in a register until written back (see
    /// [`Emitter::load`] for why no other place needs forgetting).
    fn store(&mut self, value: Value, at: Loc) {
        self.held.insert(
            at,
            Held {
                value,
                dirty: true,
                used: self.clock,
            },
        );
    }

    /// Writes back the held values `which` selects and forgets them.
    fn write_back(&mut self, which: impl Fn(Loc, &Held) -> bool) {
        let chosen: Vec<Loc> = self
            .held
            .iter()
            .filter(|(&at, h)| which(at, h))
            .map(|(&at, _)| at)
            .collect();
        for at in chosen {
            let h = self.held.remove(&at).expect("chosen from what is held");
            if h.dirty {
                self.write(h.value, at);
            }
        }
    }

    /// A store to memory.
    fn write(&mut self, v: Value, at: Loc) {
        let base = self.base(at.stride);
        self.b
            .ins()
            .store(MemFlags::trusted(), v, base, Self::offset(at.slot));
    }

    fn pair(&mut self, at: Loc) -> (Value, Value) {
        (self.load(at), self.load(at.plus(1)))
    }

    fn store_pair(&mut self, (re, eps): (Value, Value), at: Loc) {
        self.store(re, at);
        self.store(eps, at.plus(1));
    }

    fn address(&mut self, at: Loc) -> Value {
        let base = self.base(at.stride);
        self.b
            .ins()
            .iadd_imm(base, i64::from(Self::offset(at.slot)))
    }

    fn f64(&mut self, c: f64) -> Value {
        self.b.ins().f64const(c)
    }

    fn call(&mut self, name: &'static str, params: &[types::Type], address: usize, args: &[Value]) {
        let sig = match self.signatures.get(name) {
            Some(&s) => s,
            None => {
                let mut sig = Signature::new(self.call_conv);
                sig.params.extend(params.iter().map(|&t| AbiParam::new(t)));
                let s = self.b.import_signature(sig);
                self.signatures.insert(name, s);
                s
            }
        };
        // The helper reads the frame and writes into it.
        self.write_back(|_, _| true);
        let callee = self.b.ins().iconst(self.pointer, address as i64);
        self.b.ins().call_indirect(sig, callee, args);
    }

    fn instr(&self, i: usize) -> &'a Instr {
        &self.g.body()[i - self.g.n_inputs()]
    }

    /// `op`'s own value.
    fn me(op: &Op) -> Loc {
        Loc {
            stride: 2 * op.own,
            slot: 2 * op.i,
        }
    }

    /// Argument `q` of `op`.
    fn arg(&self, op: &Op, q: usize) -> Loc {
        Loc {
            stride: 2 * op.strides[q],
            slot: 2 * self.instr(op.i).args()[q] as usize,
        }
    }

    /// The adjoint of the value at `value`.
    fn adjoint_of(&self, value: Loc) -> Loc {
        value.plus(self.layout.adjoints)
    }

    /// Where `op`'s partials go: its slots, or the sink.
    fn partials_of(&self, op: &Op) -> Loc {
        if self.g.is_differentiated(op.i) {
            Loc {
                stride: 2 * op.slot_stride,
                slot: self.layout.partials + 2 * self.g.slot_start(op.i),
            }
        } else {
            Loc::fixed(self.layout.sink)
        }
    }

    /// The dual primal of one operation: its value and, where read, its
    /// dual partials.
    fn primal(&mut self, op: &Op) {
        let p = self.pointer;
        let differentiated = self.g.is_differentiated(op.i);
        let at = self.partials_of(op);
        let me = Self::me(op);
        let value = match self.instr(op.i) {
            Instr::Const(_) => return,
            Instr::Unary(o, _) => {
                let args = [
                    self.address(self.arg(op, 0)),
                    self.address(me),
                    self.address(at),
                ];
                self.call("unary", &[p, p, p], abi::dual_unary_address(*o), &args);
                return;
            }
            Instr::PowI(_, e) => {
                let args = [
                    self.address(self.arg(op, 0)),
                    self.b.ins().iconst(types::I32, i64::from(*e)),
                    self.address(me),
                    self.address(at),
                ];
                let powi = abi::dual_powi as *const () as usize;
                self.call("powi", &[p, types::I32, p, p], powi, &args);
                return;
            }
            Instr::Binary(o @ (BinaryOp::Add | BinaryOp::Sub | BinaryOp::Mul), _) => {
                let (ar, ae) = self.pair(self.arg(op, 0));
                let (br, be) = self.pair(self.arg(op, 1));
                // Partials are constants or the arguments, which the
                // adjoint knows or reads: none is stored.
                match o {
                    BinaryOp::Add => (self.b.ins().fadd(ar, br), self.b.ins().fadd(ae, be)),
                    // `ae + (−1)·be` is `ae − be`.
                    BinaryOp::Sub => (self.b.ins().fsub(ar, br), self.b.ins().fsub(ae, be)),
                    _ => {
                        // `(a·b, b·a′ + a·b′)`, in the order of `chain2`.
                        let re = self.b.ins().fmul(ar, br);
                        let left = self.b.ins().fmul(br, ae);
                        let right = self.b.ins().fmul(ar, be);
                        (re, self.b.ins().fadd(left, right))
                    }
                }
            }
            Instr::Binary(o, [a, b]) => {
                let args = [
                    self.address(self.arg(op, 0)),
                    self.address(self.arg(op, 1)),
                    self.address(me),
                    self.address(at),
                    self.b
                        .ins()
                        .iconst(types::I32, i64::from(differentiated && a == b)),
                ];
                let address = abi::dual_binary_address(*o);
                self.call("binary", &[p, p, p, p, types::I32], address, &args);
                return;
            }
            Instr::LogSumExp(args) => {
                let scratch = self.layout.scratch;
                for j in 0..args.len() {
                    let x = self.pair(self.arg(op, j));
                    self.store_pair(x, Loc::fixed(scratch + 2 * j));
                }
                let call = [
                    self.address(Loc::fixed(scratch)),
                    self.b.ins().iconst(p, args.len() as i64),
                    self.address(me),
                    self.address(at),
                ];
                let address = abi::dual_logsumexp as *const () as usize;
                self.call("logsumexp", &[p, p, p, p], address, &call);
                return;
            }
            Instr::Select(cmp, _) => {
                let x = self.load(self.arg(op, 0));
                let y = self.load(self.arg(op, 1));
                let cc = match cmp {
                    Comparison::Lt => FloatCC::LessThan,
                    Comparison::Le => FloatCC::LessThanOrEqual,
                };
                let taken = self.b.ins().fcmp(cc, x, y);
                let (tr, te) = self.pair(self.arg(op, 2));
                let (fr, fe) = self.pair(self.arg(op, 3));
                if differentiated {
                    let (one, zero) = (self.f64(1.0), self.f64(0.0));
                    let pt = self.b.ins().select(taken, one, zero);
                    let pf = self.b.ins().select(taken, zero, one);
                    self.store_pair((pt, zero), at);
                    self.store_pair((pf, zero), at.plus(2));
                }
                (
                    self.b.ins().select(taken, tr, fr),
                    self.b.ins().select(taken, te, fe),
                )
            }
        };
        self.store_pair(value, me);
    }

    /// The argument position of `op`'s edge with partial slot `offset`.
    fn position_of(&self, op: &Op, offset: usize) -> usize {
        crate::graph::argument_of_slot(self.instr(op.i), offset)
    }

    /// The dual adjoint of one operation: its adjoint times each dual
    /// partial, into each parent.
    fn adjoint(&mut self, op: &Op) {
        let i = op.i;
        if !self.g.is_differentiated(i) || self.g.edges(i).is_empty() {
            return;
        }
        let mine = self.adjoint_of(Self::me(op));
        let (ar, ae) = self.pair(mine);
        // Read for the last time: whatever register holds it need not be
        // written back.
        self.held.remove(&mine);
        self.held.remove(&mine.plus(1));
        let start = self.g.slot_start(i);
        let constant = match self.instr(i) {
            Instr::Binary(BinaryOp::Add, [a, b]) if a == b => Some([2.0, 2.0]),
            Instr::Binary(BinaryOp::Add, _) => Some([1.0, 1.0]),
            Instr::Binary(BinaryOp::Sub, [a, b]) if a == b => Some([0.0, 0.0]),
            Instr::Binary(BinaryOp::Sub, _) => Some([1.0, -1.0]),
            _ => None,
        };
        let partials = self.partials_of(op);
        let product = match self.instr(i) {
            Instr::Binary(BinaryOp::Mul, [a, b]) => Some(a == b),
            _ => None,
        };
        for e in self.g.edge_range(i) {
            let offset = self.g.all_edges()[e].slot as usize - start;
            let parent = self.adjoint_of(self.arg(op, self.position_of(op, offset)));
            let first = self.first[e];
            // The product, and whether it is subtracted: `q + (−x)` is
            // `q − x` exactly.
            let (re, eps, minus) = match constant {
                // The interpreter skips a zero partial; a first write
                // still has to store.
                Some(c) if c[offset] == 0.0 => {
                    if first {
                        let zero = self.f64(0.0);
                        self.store_pair((zero, zero), parent);
                    }
                    continue;
                }
                // `c · (ar, ae)`: the product's `ar · 0` is left out, a
                // zero the interpreter's rule gives too; `1 ·`, `−1 ·` and
                // `2 ·` are exactly the value, its negation and its sum
                // with itself.
                Some(c) => match c[offset] {
                    1.0 => (ar, ae, false),
                    -1.0 => (ar, ae, true),
                    2.0 => (self.b.ins().fadd(ar, ar), self.b.ins().fadd(ae, ae), false),
                    c => {
                        let c = self.f64(c);
                        (self.b.ins().fmul(c, ar), self.b.ins().fmul(c, ae), false)
                    }
                },
                None => {
                    let (pr, pe) = match product {
                        // `x · x`: the interpreter's merged partial `x + x`.
                        Some(true) => {
                            let (xr, xe) = self.pair(self.arg(op, 0));
                            (self.b.ins().fadd(xr, xr), self.b.ins().fadd(xe, xe))
                        }
                        // `a · b`: the partial into one is the other.
                        Some(false) => self.pair(self.arg(op, 1 - offset)),
                        None => self.pair(partials.plus(2 * offset)),
                    };
                    // `p · a` in dual arithmetic: `(p·a, a·p′ + p·a′)`.
                    let re = self.b.ins().fmul(pr, ar);
                    let left = self.b.ins().fmul(ar, pe);
                    let right = self.b.ins().fmul(pr, ae);
                    (re, self.b.ins().fadd(left, right), false)
                }
            };
            // A first write stores what the interpreter adds to `+0`: the
            // same but for a zero's sign (see the module's documentation).
            let sum = if first && minus {
                (self.b.ins().fneg(re), self.b.ins().fneg(eps))
            } else if first {
                (re, eps)
            } else {
                let (qr, qe) = self.pair(parent);
                if minus {
                    (self.b.ins().fsub(qr, re), self.b.ins().fsub(qe, eps))
                } else {
                    (self.b.ins().fadd(qr, re), self.b.ins().fadd(qe, eps))
                }
            };
            self.store_pair(sum, parent);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use adcheck_engines::{trace, Differentiable, Program, Scalar};

    /// `Σᵢ term(xᵢ)` over `n` inputs: a loop in the trace.
    struct Summed(usize, Term);

    enum Term {
        /// `xᵢ³`, with `H = diag(6x)`.
        Cube,
        /// `(xᵢ + 1)·xₘ`, `m` the middle: `xₘ` is read at a fixed place by
        /// every iteration and at the moving one by iteration `m`, whose
        /// two operations both add into its adjoint. The loop search
        /// leaves iteration `m` out of the loop (no value named through
        /// two strides), which is what lets registers hold a place under
        /// one name only.
        PlusOneTimesMiddle,
    }

    impl Differentiable for Summed {
        fn n_inputs(&self) -> usize {
            self.0
        }
        fn n_outputs(&self) -> usize {
            1
        }
        fn eval<S: Scalar>(&self, x: &[S]) -> Vec<S> {
            let mut total = S::from_f64(0.0);
            for v in x {
                total = total
                    + match self.1 {
                        Term::Cube => v.clone() * v.clone() * v.clone(),
                        Term::PlusOneTimesMiddle => {
                            (v.clone() + S::from_f64(1.0)) * x[self.0 / 2].clone()
                        }
                    };
            }
            vec![total]
        }
    }

    /// `f`'s primal, gradient and `H·v` at `x` (seed `u`) by native code
    /// with at least one loop.
    fn natively_with_a_loop(f: &Summed, x: &[f64], u: f64, v: &[f64]) -> [Vec<f64>; 3] {
        let g = Graph::build(&trace(f, x), true);
        let (first, _) = first_writes(&g);
        assert!(
            segments(&g, &first, MAX_PERIOD)
                .iter()
                .any(|s| matches!(s, Segment::Loop(_))),
            "the trace has a loop to compile"
        );
        HvpNative::compile(&g)
            .unwrap()
            .evaluate(&g, &mut Vec::new(), x, &[u], v)
            .expect("no NaN here: the native code answers")
    }

    #[test]
    fn a_looped_program_is_answered_natively_with_its_second_derivative() {
        let n = 200;
        let x: Vec<f64> = (0..n).map(|i| 0.5 + i as f64 / 64.0).collect();
        let v: Vec<f64> = (0..n).map(|i| 1.0 - i as f64 / 128.0).collect();
        let [primal, gradient, hvp] = natively_with_a_loop(&Summed(n, Term::Cube), &x, 2.0, &v);
        let cubes: f64 = x.iter().map(|a| a * a * a).sum();
        assert!((primal[0] - cubes).abs() <= 1e-12 * cubes);
        for i in 0..n {
            // Each entry is a product of exact small factors: exact.
            assert_eq!(gradient[i], 2.0 * 3.0 * x[i] * x[i], "gradient {i}");
            assert_eq!(hvp[i], 2.0 * 6.0 * x[i] * v[i], "hvp {i}");
        }
    }

    #[test]
    fn a_value_a_loop_reads_two_ways_gets_both_adjoints() {
        let (n, m) = (100, 50);
        let x: Vec<f64> = (0..n).map(|i| 1.0 + (i % 7) as f64).collect();
        let v: Vec<f64> = (0..n).map(|i| 2.0 - (i % 5) as f64).collect();
        let f = Summed(n, Term::PlusOneTimesMiddle);
        let [_, gradient, hvp] = natively_with_a_loop(&f, &x, 1.0, &v);
        // f = xₘ·Σᵢ(xᵢ + 1): ∂f/∂xₘ = Σᵢ(xᵢ + 1) + xₘ, ∂f/∂xᵢ = xₘ; H·v is
        // 2vₘ + Σᵢ≠ₘ vᵢ at m and vₘ elsewhere (small integers: exact).
        let others = |w: &[f64]| w.iter().sum::<f64>() - w[m];
        assert_eq!(gradient[m], x.iter().map(|a| a + 1.0).sum::<f64>() + x[m]);
        assert_eq!(hvp[m], 2.0 * v[m] + others(&v));
        for i in (0..n).filter(|&i| i != m) {
            assert_eq!((gradient[i], hvp[i]), (x[m], v[m]), "entry {i}");
        }
    }

    #[test]
    fn a_nan_from_zero_times_infinity_is_left_to_the_interpreter() {
        let p = Program::parse("input x\nc = const 0\ny = sqrt x\nz = mul c y\noutput z").unwrap();
        let g = Graph::build(&p, false);
        let native = HvpNative::compile(&g).unwrap();
        let mut frame = Vec::new();
        assert!(native
            .evaluate(&g, &mut frame, &[0.0], &[1.0], &[1.0])
            .is_none());
        // Away from the infinite partial it answers: d²(0·√x) = 0.
        let [_, gradient, hvp] = native
            .evaluate(&g, &mut frame, &[4.0], &[1.0], &[1.0])
            .unwrap();
        assert_eq!((gradient[0], hvp[0]), (0.0, 0.0));
    }
}
