//! [`Program`]: a Wengert list, its text and JSON forms, and its interpreter.
//!
//! # Text form
//!
//! One statement a line; `#` starts a comment. Inputs are declared first, then
//! numbered assignments, then the outputs:
//!
//! ```text
//! input v1 v2
//! v3 = mul v1 v2
//! v4 = sin v1
//! v5 = add v3 v4
//! output v5
//! ```
//!
//! Right-hand sides: `const 2.5`, a unary op (`sin v1`), `powi v1 3`, a binary
//! op (`mul v1 v2`), `logsumexp v1 v2 …` (one or more), and the branches
//! `iflt a b c d` / `ifle a b c d` (`c` when `a < b`, resp. `a <= b`, else
//! `d`). Names are any identifiers; printing renames them `v1, v2, …` in
//! order of definition, so printing is canonical.
//!
//! # JSON form
//!
//! Values are numbered from 0: the inputs first, then one per body entry.
//!
//! ```json
//! {"inputs": 2,
//!  "body": [{"op": "mul", "args": [0, 1]}, {"op": "sin", "args": [0]},
//!           {"op": "add", "args": [2, 3]}],
//!  "outputs": [4]}
//! ```
//!
//! A constant is `{"op": "const", "value": 2.5}` and an integer power
//! `{"op": "powi", "args": [0], "exponent": 3}`.

use crate::ops::{BinaryOp, Comparison, UnaryOp};
use crate::{conventions, Differentiable, Scalar};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::fmt;

/// The index of a value in a program: inputs first, then body entries.
pub type ValueId = u32;

/// One assignment of a [`Program`]'s body.
#[derive(Clone, Debug, PartialEq)]
pub enum Instr {
    /// A finite constant.
    Const(f64),
    /// `op(a)`.
    Unary(UnaryOp, ValueId),
    /// `a^n` for an integer `n`.
    PowI(ValueId, i32),
    /// `op(a, b)`.
    Binary(BinaryOp, [ValueId; 2]),
    /// `ln Σ e^aᵢ` over one or more arguments.
    LogSumExp(Vec<ValueId>),
    /// A branch: `[a, b, c, d]` gives `c` when `cmp(a, b)` holds, else `d`.
    Select(Comparison, [ValueId; 4]),
}

impl Instr {
    /// The values this instruction reads, in order.
    pub fn args(&self) -> &[ValueId] {
        match self {
            Instr::Const(_) => &[],
            Instr::Unary(_, a) | Instr::PowI(a, _) => std::slice::from_ref(a),
            Instr::Binary(_, args) => args,
            Instr::LogSumExp(args) => args,
            Instr::Select(_, args) => args,
        }
    }

    /// The same instruction reading `f(a)` wherever it read `a`.
    pub fn map_args(&self, f: impl Fn(ValueId) -> ValueId) -> Instr {
        match self {
            Instr::Const(c) => Instr::Const(*c),
            Instr::Unary(op, a) => Instr::Unary(*op, f(*a)),
            Instr::PowI(a, e) => Instr::PowI(f(*a), *e),
            Instr::Binary(op, args) => Instr::Binary(*op, args.map(&f)),
            Instr::LogSumExp(args) => Instr::LogSumExp(args.iter().map(|&a| f(a)).collect()),
            Instr::Select(cmp, args) => Instr::Select(*cmp, args.map(&f)),
        }
    }

    /// Evaluates the instruction over any scalar, reading its arguments
    /// through `get`.
    #[inline]
    pub fn eval<'v, S: Scalar + 'v>(&self, get: impl Fn(ValueId) -> &'v S) -> S {
        match self {
            Instr::Const(c) => S::from_f64(*c),
            Instr::Unary(op, a) => op.apply(get(*a)),
            Instr::PowI(a, n) => get(*a).powi(*n),
            Instr::Binary(op, [a, b]) => op.apply(get(*a), get(*b)),
            Instr::LogSumExp(args) => {
                let xs: Vec<S> = args.iter().map(|&a| get(a).clone()).collect();
                S::logsumexp(&xs)
            }
            Instr::Select(cmp, [a, b, t, f]) => {
                if cmp.holds(get(*a), get(*b)) {
                    get(*t).selected()
                } else {
                    get(*f).selected()
                }
            }
        }
    }

    /// The operation's name in the text and JSON forms.
    pub fn op_name(&self) -> &'static str {
        match self {
            Instr::Const(_) => "const",
            Instr::Unary(op, _) => op.name(),
            Instr::PowI(..) => "powi",
            Instr::Binary(op, _) => op.name(),
            Instr::LogSumExp(_) => "logsumexp",
            Instr::Select(cmp, _) => cmp.name(),
        }
    }
}

/// A Wengert list: `n_inputs` inputs, a body of numbered assignments, and the
/// outputs. Every argument refers to an earlier value, so evaluation is one
/// pass in order. Build one with [`Program::parse`], [`Program::from_json`],
/// [`Program::new`] or [`trace`](crate::trace); all of them validate.
#[derive(Clone, Debug, PartialEq)]
pub struct Program {
    n_inputs: usize,
    body: Vec<Instr>,
    outputs: Vec<ValueId>,
}

/// Where in its source a [`ProgramError`] was found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Location {
    /// A line of the text form, counted from 1.
    Line(usize),
    /// A body entry of the JSON form or of [`Program::new`], counted from 0.
    BodyEntry(usize),
    /// The output list.
    Outputs,
    /// The program as a whole.
    Program,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Location::Line(n) => write!(f, "line {n}"),
            Location::BodyEntry(k) => write!(f, "body entry {k}"),
            Location::Outputs => f.write_str("outputs"),
            Location::Program => f.write_str("program"),
        }
    }
}

/// What is wrong with a program that failed to load.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum ProgramErrorKind {
    /// The line is not of the form `input …`, `output …` or `NAME = OP ARGS`.
    #[error("syntax error: {0}")]
    Syntax(String),
    /// The operation name is not one of [`UnaryOp`], [`BinaryOp`],
    /// [`Comparison`], `const`, `powi` or `logsumexp`.
    #[error("unknown operation `{0}`")]
    UnknownOp(String),
    /// The operation was given the wrong number of arguments.
    #[error("`{op}` takes {expected}, got {got}")]
    WrongArity {
        /// The operation.
        op: String,
        /// What it takes, in words.
        expected: String,
        /// How many it was given.
        got: usize,
    },
    /// An argument names a value not defined above it.
    #[error("`{0}` is used before it is defined")]
    UseBeforeDefinition(String),
    /// An output names a value that is not defined.
    #[error("output `{0}` is not defined")]
    UndefinedOutput(String),
    /// A name is assigned twice.
    #[error("`{0}` is defined twice")]
    Redefinition(String),
    /// A constant is infinite or NaN.
    #[error("constant `{0}` is not finite")]
    NonFiniteConstant(String),
    /// A number could not be read.
    #[error("`{0}` is not a valid {1}")]
    BadNumber(String, &'static str),
    /// An `input` line follows an assignment.
    #[error("inputs must be declared before the first assignment")]
    InputAfterAssignment,
    /// There is nothing in the program.
    #[error("the program is empty")]
    Empty,
    /// The program declares no inputs.
    #[error("the program has no inputs")]
    NoInputs,
    /// The program declares no outputs.
    #[error("the program has no outputs")]
    NoOutputs,
    /// The JSON form could not be read.
    #[error("invalid JSON: {0}")]
    Json(String),
}

/// Programs with more inputs than this (and fewer outputs) get their path
/// magnitudes by output rows ([`Program::path_magnitudes`]).
pub const PATH_ROWS_ABOVE_INPUTS: usize = 64;

/// A program that failed to load: where, and what is wrong.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[error("{location}: {kind}")]
pub struct ProgramError {
    /// Where the problem is.
    pub location: Location,
    /// What the problem is.
    pub kind: ProgramErrorKind,
}

impl ProgramError {
    fn new(location: Location, kind: ProgramErrorKind) -> Self {
        ProgramError { location, kind }
    }
}

/// The operation named by a right-hand side, before its arguments are read.
#[derive(Clone, Copy)]
enum OpKind {
    Const,
    PowI,
    Unary(UnaryOp),
    Binary(BinaryOp),
    LogSumExp,
    Select(Comparison),
}

impl OpKind {
    fn from_name(name: &str) -> Option<Self> {
        Some(match name {
            "const" => OpKind::Const,
            "powi" => OpKind::PowI,
            "logsumexp" => OpKind::LogSumExp,
            _ => UnaryOp::from_name(name)
                .map(OpKind::Unary)
                .or_else(|| BinaryOp::from_name(name).map(OpKind::Binary))
                .or_else(|| Comparison::from_name(name).map(OpKind::Select))?,
        })
    }

    /// How many value arguments the operation reads: `(count, at_least)`.
    fn value_arity(self) -> (usize, bool) {
        match self {
            OpKind::Const => (0, false),
            OpKind::PowI | OpKind::Unary(_) => (1, false),
            OpKind::Binary(_) => (2, false),
            OpKind::LogSumExp => (1, true),
            OpKind::Select(_) => (4, false),
        }
    }

    /// Builds the instruction from resolved arguments and literals.
    fn build(self, args: Vec<ValueId>, value: Option<f64>, exponent: Option<i32>) -> Instr {
        match self {
            OpKind::Const => Instr::Const(value.unwrap_or(0.0)),
            OpKind::PowI => Instr::PowI(args[0], exponent.unwrap_or(1)),
            OpKind::Unary(op) => Instr::Unary(op, args[0]),
            OpKind::Binary(op) => Instr::Binary(op, [args[0], args[1]]),
            OpKind::LogSumExp => Instr::LogSumExp(args),
            OpKind::Select(cmp) => Instr::Select(cmp, [args[0], args[1], args[2], args[3]]),
        }
    }
}

fn arity_error(op: &str, expected: usize, at_least: bool, got: usize) -> ProgramErrorKind {
    let noun = if expected == 1 {
        "argument"
    } else {
        "arguments"
    };
    let expected = if at_least {
        format!("at least {expected} {noun}")
    } else {
        format!("{expected} {noun}")
    };
    ProgramErrorKind::WrongArity {
        op: op.to_string(),
        expected,
        got,
    }
}

fn parse_constant(token: &str) -> Result<f64, ProgramErrorKind> {
    let value: f64 = token
        .parse()
        .map_err(|_| ProgramErrorKind::BadNumber(token.to_string(), "number"))?;
    if value.is_finite() {
        Ok(value)
    } else {
        Err(ProgramErrorKind::NonFiniteConstant(token.to_string()))
    }
}

fn is_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

impl Program {
    /// Builds a program from its parts, checking that every argument refers
    /// to an earlier value, constants are finite, and there are inputs and
    /// outputs.
    pub fn new(
        n_inputs: usize,
        body: Vec<Instr>,
        outputs: Vec<ValueId>,
    ) -> Result<Self, ProgramError> {
        if n_inputs == 0 {
            let kind = if body.is_empty() && outputs.is_empty() {
                ProgramErrorKind::Empty
            } else {
                ProgramErrorKind::NoInputs
            };
            return Err(ProgramError::new(Location::Program, kind));
        }
        for (k, instr) in body.iter().enumerate() {
            let at = |kind| ProgramError::new(Location::BodyEntry(k), kind);
            let defined = n_inputs + k;
            if let Some(&bad) = instr.args().iter().find(|&&a| a as usize >= defined) {
                return Err(at(ProgramErrorKind::UseBeforeDefinition(bad.to_string())));
            }
            match instr {
                Instr::Const(c) if !c.is_finite() => {
                    return Err(at(ProgramErrorKind::NonFiniteConstant(format!("{c:?}"))))
                }
                Instr::LogSumExp(args) if args.is_empty() => {
                    return Err(at(arity_error("logsumexp", 1, true, 0)))
                }
                _ => {}
            }
        }
        let n_values = n_inputs + body.len();
        if outputs.is_empty() {
            return Err(ProgramError::new(
                Location::Outputs,
                ProgramErrorKind::NoOutputs,
            ));
        }
        if let Some(&bad) = outputs.iter().find(|&&o| o as usize >= n_values) {
            return Err(ProgramError::new(
                Location::Outputs,
                ProgramErrorKind::UndefinedOutput(bad.to_string()),
            ));
        }
        Ok(Program {
            n_inputs,
            body,
            outputs,
        })
    }

    /// The assignments, in order; entry `k` defines value `n_inputs + k`.
    pub fn body(&self) -> &[Instr] {
        &self.body
    }

    /// The output values, in order.
    pub fn outputs(&self) -> &[ValueId] {
        &self.outputs
    }

    /// Inputs plus body entries.
    pub fn n_values(&self) -> usize {
        self.n_inputs + self.body.len()
    }

    /// Reads the text form (see the [module docs](self)).
    pub fn parse(text: &str) -> Result<Self, ProgramError> {
        let mut names: HashMap<&str, ValueId> = HashMap::new();
        let mut n_inputs = 0usize;
        let mut body = Vec::new();
        let mut outputs = Vec::new();
        let mut saw_statement = false;
        for (index, raw) in text.lines().enumerate() {
            let line_no = index + 1;
            let at = |kind| ProgramError::new(Location::Line(line_no), kind);
            let line = raw.split('#').next().unwrap_or("").trim();
            let tokens: Vec<&str> = line.split_whitespace().collect();
            let Some(&first) = tokens.first() else {
                continue;
            };
            saw_statement = true;
            match first {
                "input" => {
                    if !body.is_empty() {
                        return Err(at(ProgramErrorKind::InputAfterAssignment));
                    }
                    if tokens.len() == 1 {
                        return Err(at(ProgramErrorKind::Syntax(
                            "`input` needs at least one name".into(),
                        )));
                    }
                    for &name in &tokens[1..] {
                        define(&mut names, name, n_inputs as ValueId).map_err(at)?;
                        n_inputs += 1;
                    }
                }
                "output" => {
                    if tokens.len() == 1 {
                        return Err(at(ProgramErrorKind::Syntax(
                            "`output` needs at least one name".into(),
                        )));
                    }
                    for &name in &tokens[1..] {
                        let id = names.get(name).ok_or_else(|| {
                            at(ProgramErrorKind::UndefinedOutput(name.to_string()))
                        })?;
                        outputs.push(*id);
                    }
                }
                name => {
                    if tokens.get(1) != Some(&"=") {
                        return Err(at(ProgramErrorKind::Syntax(
                            "expected `NAME = OP ARGS`, `input NAMES` or `output NAMES`".into(),
                        )));
                    }
                    let Some(&op) = tokens.get(2) else {
                        return Err(at(ProgramErrorKind::Syntax(
                            "missing operation after `=`".into(),
                        )));
                    };
                    let instr = parse_rhs(op, &tokens[3..], &names).map_err(at)?;
                    define(&mut names, name, (n_inputs + body.len()) as ValueId).map_err(at)?;
                    body.push(instr);
                }
            }
        }
        if !saw_statement {
            return Err(ProgramError::new(
                Location::Program,
                ProgramErrorKind::Empty,
            ));
        }
        if n_inputs == 0 {
            return Err(ProgramError::new(
                Location::Program,
                ProgramErrorKind::NoInputs,
            ));
        }
        if outputs.is_empty() {
            return Err(ProgramError::new(
                Location::Outputs,
                ProgramErrorKind::NoOutputs,
            ));
        }
        Program::new(n_inputs, body, outputs)
    }

    /// Reads the JSON form (see the [module docs](self)).
    pub fn from_json(json: &str) -> Result<Self, ProgramError> {
        let raw: RawProgram = serde_json::from_str(json).map_err(|e| {
            let location = if e.line() > 0 {
                Location::Line(e.line())
            } else {
                Location::Program
            };
            ProgramError::new(location, ProgramErrorKind::Json(e.to_string()))
        })?;
        Program::try_from(raw)
    }

    /// Writes the JSON form.
    pub fn to_json(&self) -> String {
        serde_json::to_string(&RawProgram::from(self.clone())).expect("programs always serialise")
    }

    /// The same computation without the body entries no output depends on
    /// (values renumbered; inputs kept).
    pub fn pruned(&self) -> Program {
        let n = self.n_inputs;
        let mut live = vec![false; self.n_values()];
        for &o in &self.outputs {
            live[o as usize] = true;
        }
        for k in (0..self.body.len()).rev() {
            if live[n + k] {
                for &a in self.body[k].args() {
                    live[a as usize] = true;
                }
            }
        }
        let mut renumber: Vec<ValueId> = (0..n as ValueId).collect();
        renumber.resize(self.n_values(), ValueId::MAX);
        let mut body = Vec::new();
        for (k, instr) in self.body.iter().enumerate() {
            if !live[n + k] {
                continue;
            }
            let instr = instr.map_args(|a| renumber[a as usize]);
            renumber[n + k] = (n + body.len()) as ValueId;
            body.push(instr);
        }
        let outputs = self.outputs.iter().map(|o| renumber[*o as usize]).collect();
        Program {
            n_inputs: n,
            body,
            outputs,
        }
    }

    /// Every value of the program at `x`: the inputs, then each body entry's.
    pub fn all_values<S: Scalar>(&self, x: &[S]) -> Vec<S> {
        let everything = Program {
            n_inputs: self.n_inputs,
            body: self.body.clone(),
            outputs: (0..self.n_values() as ValueId).collect(),
        };
        everything.eval(x)
    }

    /// The local partials of every body entry, given every program value.
    fn partials_at(&self, values: &[f64]) -> Vec<Vec<f64>> {
        self.body
            .iter()
            .map(|instr| {
                let args: Vec<f64> = instr.args().iter().map(|&a| values[a as usize]).collect();
                local_partials(instr, &args)
            })
            .collect()
    }

    /// The first-order rounding scale of each output's `f64` evaluation at
    /// `x`: `Σₖ |∂yᵢ/∂vₖ|·|vₖ|` over the values `vₖ` the body computes
    /// (constants are exact). Rounding every operation's result by a relative
    /// `δ` (a faithfully rounded library function is off by up to one ulp)
    /// moves `yᵢ` by about `δ` times this. Non-finite terms are left out.
    pub fn primal_rounding_scale(&self, x: &[f64]) -> Vec<f64> {
        let n = self.n_inputs;
        let values = self.all_values(x);
        let partials = self.partials_at(&values);
        self.outputs
            .iter()
            .map(|&o| {
                let mut adjoint = vec![0.0f64; self.n_values()];
                adjoint[o as usize] = 1.0;
                let mut scale = 0.0;
                for (k, instr) in self.body.iter().enumerate().rev() {
                    let a = adjoint[n + k];
                    if a == 0.0 {
                        continue;
                    }
                    let term = a * values[n + k].abs();
                    if term.is_finite() && !matches!(instr, Instr::Const(_)) {
                        scale += term;
                    }
                    for (&arg, d) in instr.args().iter().zip(&partials[k]) {
                        adjoint[arg as usize] += conventions::chain(d.abs(), a);
                    }
                }
                scale
            })
            .collect()
    }

    /// Whether, at `x`, some value of the program or some partial product of
    /// its chain rule lies beyond `2^±400` (zero aside): the forward product
    /// `Σⱼ |∂v/∂xⱼ|` or the adjoint `Σᵢ |∂yᵢ/∂v|` of any value `v`. There a
    /// correct engine's intermediate products may leave `f64`'s normal range
    /// (an adjoint of 1e−273 divided by 1e68 underflows) while the final
    /// derivative is normal, so two correct engines can differ by whole
    /// terms.
    pub fn has_extreme_scales(&self, x: &[f64]) -> bool {
        let extreme = |v: f64| v != 0.0 && !(2f64.powi(-400)..=2f64.powi(400)).contains(&v.abs());
        let values = self.all_values(x);
        if values.iter().any(|&v| v.is_finite() && extreme(v)) {
            return true;
        }
        let partials = self.partials_at(&values);
        let n = self.n_inputs;
        // Forward: Σⱼ |∂v/∂xⱼ| for every value at once (inputs start at 1).
        let mut forward = vec![0.0f64; self.n_values()];
        forward[..n].iter_mut().for_each(|m| *m = 1.0);
        for (k, instr) in self.body.iter().enumerate() {
            forward[n + k] = instr
                .args()
                .iter()
                .zip(&partials[k])
                .map(|(&a, d)| conventions::chain(d.abs(), forward[a as usize]))
                .sum();
        }
        // Backward: Σᵢ |∂yᵢ/∂v|.
        let mut backward = vec![0.0f64; self.n_values()];
        for &o in &self.outputs {
            backward[o as usize] += 1.0;
        }
        for (k, instr) in self.body.iter().enumerate().rev() {
            let a = backward[n + k];
            if a == 0.0 {
                continue;
            }
            for (&arg, d) in instr.args().iter().zip(&partials[k]) {
                backward[arg as usize] += conventions::chain(d.abs(), a);
            }
        }
        forward
            .iter()
            .chain(&backward)
            .any(|&m| m.is_finite() && extreme(m))
    }

    /// For each Jacobian entry (row-major `m × n`), the sum over paths from
    /// input to output of the products of absolute local partials at `x`.
    /// Any order of accumulating the chain rule in `f64` is within a few
    /// `ε · length · magnitude` of the exact derivative, so this is the scale
    /// for comparing two engines' answers. An entry is NaN or infinite when a
    /// live operation has a non-finite local partial (`√0`, `ln 0`, …), even
    /// one reached by no input: there the engines may rightly differ.
    ///
    /// Cost: `O(n · size)` by input columns, or `O(m · size)` by output
    /// rows for programs of more than [`PATH_ROWS_ABOVE_INPUTS`] inputs and
    /// fewer outputs (the same sums, accumulated in another order), except
    /// where an output depends on a non-finite partial (there the columns
    /// say which entries it poisons).
    pub fn path_magnitudes(&self, x: &[f64]) -> Vec<f64> {
        let n = self.n_inputs;
        let values = self.all_values(x);
        let partials = self.partials_at(&values);
        let m = self.outputs.len();
        if n > PATH_ROWS_ABOVE_INPUTS && m < n {
            if let Some(rows) = self.path_magnitude_rows(&partials) {
                return rows;
            }
        }
        self.path_magnitude_columns(&partials)
    }

    /// [`Program::path_magnitudes`] by input columns, one forward sweep each.
    fn path_magnitude_columns(&self, partials: &[Vec<f64>]) -> Vec<f64> {
        let n = self.n_inputs;
        let mut out = vec![0.0; self.outputs.len() * n];
        let mut magnitude = vec![0.0; self.n_values()];
        for j in 0..n {
            magnitude.iter_mut().for_each(|m| *m = 0.0);
            magnitude[j] = 1.0;
            for (k, instr) in self.body.iter().enumerate() {
                magnitude[n + k] = instr
                    .args()
                    .iter()
                    .zip(&partials[k])
                    .map(|(&a, d)| d.abs() * magnitude[a as usize])
                    .sum();
            }
            for (i, &o) in self.outputs.iter().enumerate() {
                out[i * n + j] = magnitude[o as usize];
            }
        }
        out
    }

    /// [`Program::path_magnitudes`] by output rows, one backward sweep
    /// each; `None` when an output depends on a non-finite partial.
    fn path_magnitude_rows(&self, partials: &[Vec<f64>]) -> Option<Vec<f64>> {
        let n = self.n_inputs;
        let mut out = vec![0.0; self.outputs.len() * n];
        let mut adjoint = vec![0.0; self.n_values()];
        let mut reached = vec![false; self.n_values()];
        for (i, &o) in self.outputs.iter().enumerate() {
            adjoint.iter_mut().for_each(|a| *a = 0.0);
            reached.iter_mut().for_each(|r| *r = false);
            adjoint[o as usize] = 1.0;
            reached[o as usize] = true;
            for (k, instr) in self.body.iter().enumerate().rev() {
                if !reached[n + k] {
                    continue;
                }
                let a = adjoint[n + k];
                for (&arg, d) in instr.args().iter().zip(&partials[k]) {
                    if !d.is_finite() {
                        return None;
                    }
                    adjoint[arg as usize] += d.abs() * a;
                    reached[arg as usize] = true;
                }
            }
            out[i * n..(i + 1) * n].copy_from_slice(&adjoint[..n]);
        }
        Some(out)
    }

    /// The name the text form gives value `id`.
    pub fn value_name(id: ValueId) -> String {
        format!("v{}", id as usize + 1)
    }
}

/// Binds `name` to `id`, rejecting bad and repeated names.
fn define<'a>(
    names: &mut HashMap<&'a str, ValueId>,
    name: &'a str,
    id: ValueId,
) -> Result<(), ProgramErrorKind> {
    if !is_identifier(name) {
        return Err(ProgramErrorKind::Syntax(format!(
            "`{name}` is not a valid name"
        )));
    }
    if names.insert(name, id).is_some() {
        return Err(ProgramErrorKind::Redefinition(name.to_string()));
    }
    Ok(())
}

fn parse_rhs(
    op: &str,
    operands: &[&str],
    names: &HashMap<&str, ValueId>,
) -> Result<Instr, ProgramErrorKind> {
    let kind = OpKind::from_name(op).ok_or_else(|| ProgramErrorKind::UnknownOp(op.to_string()))?;
    let (literals, value_operands) = match kind {
        OpKind::Const => (1, 0),
        OpKind::PowI => (1, 1),
        _ => (0, 0),
    };
    let (arity, at_least) = match kind {
        OpKind::Const | OpKind::PowI => (literals + value_operands, false),
        _ => kind.value_arity(),
    };
    let got = operands.len();
    if got < arity || (!at_least && got != arity) {
        return Err(arity_error(op, arity, at_least, got));
    }
    let resolve = |name: &&str| {
        names
            .get(*name)
            .copied()
            .ok_or_else(|| ProgramErrorKind::UseBeforeDefinition(name.to_string()))
    };
    Ok(match kind {
        OpKind::Const => kind.build(vec![], Some(parse_constant(operands[0])?), None),
        OpKind::PowI => {
            let base = resolve(&operands[0])?;
            let n: i32 = operands[1]
                .parse()
                .map_err(|_| ProgramErrorKind::BadNumber(operands[1].to_string(), "integer"))?;
            kind.build(vec![base], None, Some(n))
        }
        _ => kind.build(
            operands.iter().map(resolve).collect::<Result<_, _>>()?,
            None,
            None,
        ),
    })
}

impl fmt::Display for Program {
    /// The canonical text form: values renamed `v1, v2, …`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = |id: &ValueId| Program::value_name(*id);
        let inputs: Vec<String> = (0..self.n_inputs as ValueId).map(|i| name(&i)).collect();
        writeln!(f, "input {}", inputs.join(" "))?;
        for (k, instr) in self.body.iter().enumerate() {
            write!(
                f,
                "{} = {}",
                name(&((self.n_inputs + k) as ValueId)),
                instr.op_name()
            )?;
            match instr {
                Instr::Const(c) => write!(f, " {c:?}")?,
                Instr::PowI(a, n) => write!(f, " {} {n}", name(a))?,
                _ => {
                    for a in instr.args() {
                        write!(f, " {}", name(a))?;
                    }
                }
            }
            writeln!(f)?;
        }
        let outputs: Vec<String> = self.outputs.iter().map(name).collect();
        writeln!(f, "output {}", outputs.join(" "))
    }
}

/// The serde shape of the JSON form.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawProgram {
    inputs: usize,
    body: Vec<RawInstr>,
    outputs: Vec<ValueId>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawInstr {
    op: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    args: Vec<ValueId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    value: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    exponent: Option<i32>,
}

impl TryFrom<RawProgram> for Program {
    type Error = ProgramError;

    fn try_from(raw: RawProgram) -> Result<Self, ProgramError> {
        let mut body = Vec::with_capacity(raw.body.len());
        for (k, entry) in raw.body.into_iter().enumerate() {
            let at = |kind| ProgramError::new(Location::BodyEntry(k), kind);
            let kind = OpKind::from_name(&entry.op)
                .ok_or_else(|| at(ProgramErrorKind::UnknownOp(entry.op.clone())))?;
            let (arity, at_least) = kind.value_arity();
            let got = entry.args.len();
            if got < arity || (!at_least && got != arity) {
                return Err(at(arity_error(&entry.op, arity, at_least, got)));
            }
            let missing = |field: &str| {
                at(ProgramErrorKind::Syntax(format!(
                    "`{}` needs the field `{field}`",
                    entry.op
                )))
            };
            match kind {
                OpKind::Const if entry.value.is_none() => return Err(missing("value")),
                OpKind::PowI if entry.exponent.is_none() => return Err(missing("exponent")),
                _ => {}
            }
            body.push(kind.build(entry.args, entry.value, entry.exponent));
        }
        Program::new(raw.inputs, body, raw.outputs)
    }
}

impl From<Program> for RawProgram {
    fn from(p: Program) -> Self {
        let body = p
            .body
            .iter()
            .map(|instr| RawInstr {
                op: instr.op_name().to_string(),
                args: instr.args().to_vec(),
                value: match instr {
                    Instr::Const(c) => Some(*c),
                    _ => None,
                },
                exponent: match instr {
                    Instr::PowI(_, n) => Some(*n),
                    _ => None,
                },
            })
            .collect();
        RawProgram {
            inputs: p.n_inputs,
            body,
            outputs: p.outputs,
        }
    }
}

impl Serialize for Program {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        RawProgram::from(self.clone()).serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for Program {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = RawProgram::deserialize(deserializer)?;
        Program::try_from(raw).map_err(serde::de::Error::custom)
    }
}

impl Differentiable for Program {
    fn n_inputs(&self) -> usize {
        self.n_inputs
    }

    fn n_outputs(&self) -> usize {
        self.outputs.len()
    }

    /// Interprets the program over any scalar, in one pass.
    ///
    /// # Panics
    /// If `x.len()` differs from [`Differentiable::n_inputs`]; engines check
    /// the length first and return an error instead.
    fn eval<S: Scalar>(&self, x: &[S]) -> Vec<S> {
        assert_eq!(x.len(), self.n_inputs, "wrong number of inputs");
        let mut values: Vec<S> = Vec::with_capacity(self.n_values());
        values.extend_from_slice(x);
        for instr in &self.body {
            let value = instr.eval(|id| &values[id as usize]);
            values.push(value);
        }
        self.outputs
            .iter()
            .map(|&o| values[o as usize].clone())
            .collect()
    }
}

/// The local partial derivatives of one instruction at the given argument
/// values, for tools that walk a program themselves (conventions as in
/// [`conventions`]).
pub fn local_partials(instr: &Instr, args: &[f64]) -> Vec<f64> {
    match instr {
        Instr::Const(_) => vec![],
        Instr::Unary(op, _) => vec![conventions::unary(*op, &args[0]).1],
        Instr::PowI(_, n) => vec![conventions::powi(&args[0], *n).1],
        Instr::Binary(op, _) => {
            let (_, da, db) = conventions::binary(*op, &args[0], &args[1]);
            vec![da, db]
        }
        Instr::LogSumExp(_) => {
            let mut out = vec![0.0; args.len()];
            conventions::logsumexp(args, |i, d| out[i] = d);
            out
        }
        Instr::Select(cmp, _) => {
            let taken = cmp.holds(&args[0], &args[1]);
            vec![
                0.0,
                0.0,
                f64::from(u8::from(taken)),
                f64::from(u8::from(!taken)),
            ]
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two outputs over `n` inputs: `Σ sin(xᵢ)·xᵢ₊₁` and `√(x₀) + Σ xᵢ²`.
    fn wide(n: usize) -> Program {
        let mut text = String::from("input");
        for i in 0..n {
            text.push_str(&format!(" x{i}"));
        }
        text.push_str("\nq0 = sqrt x0\nr0 = mul x0 x0\nt0 = add q0 r0");
        for i in 1..n {
            text.push_str(&format!(
                "\ns{i} = sin x{}\np{i} = mul s{i} x{i}\nr{i} = mul x{i} x{i}\nt{i} = add t{} r{i}",
                i - 1,
                i - 1
            ));
        }
        text.push_str("\nu1 = add p1 p2");
        for i in 3..n {
            text.push_str(&format!("\nu{} = add u{} p{i}", i - 1, i - 2));
        }
        text.push_str(&format!("\noutput u{} t{}", n - 2, n - 1));
        Program::parse(&text).unwrap()
    }

    #[test]
    fn path_magnitudes_by_rows_are_those_by_columns() {
        let p = wide(100);
        let x: Vec<f64> = (0..100)
            .map(|i| f64::from(i) / 40.0 - 1.2)
            .map(f64::abs)
            .collect();
        let values = p.all_values(&x);
        let partials = p.partials_at(&values);
        let rows = p.path_magnitude_rows(&partials).expect("finite partials");
        let columns = p.path_magnitude_columns(&partials);
        assert_eq!(p.path_magnitudes(&x), rows);
        for (k, (r, c)) in rows.iter().zip(&columns).enumerate() {
            assert!(
                (r - c).abs() <= 1e-14 * c.abs(),
                "entry {k}: {r} by rows, {c} by columns"
            );
        }
        // √0 has an infinite partial: the columns say what it poisons.
        let mut at_zero = x.clone();
        at_zero[0] = 0.0;
        let values = p.all_values(&at_zero);
        let partials = p.partials_at(&values);
        assert!(p.path_magnitude_rows(&partials).is_none());
        let poisoned = p.path_magnitudes(&at_zero);
        assert_eq!(
            poisoned.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
            p.path_magnitude_columns(&partials)
                .iter()
                .map(|v| v.to_bits())
                .collect::<Vec<_>>()
        );
        assert!(poisoned[100..].iter().all(|v| !v.is_finite()));
    }
}
