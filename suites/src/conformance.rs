//! The conformance API: any [`Engine`] against every suite, with a
//! structured report.
//!
//! The built-in engines are checked through exactly this API, as a third
//! party's engine would be. [`run`] takes several engines at once so that
//! each reference is computed once and shared across them.
//!
//! ```
//! use adcheck_engines::reverse::ReverseEngine;
//! use adcheck_suites::conformance::{check_engine, ConformanceConfig, Outcome, Suite};
//!
//! let config = ConformanceConfig {
//!     cases: 40,
//!     seed: 7,
//!     suites: vec![Suite::Generated, Suite::Catalogue, Suite::Properties],
//!     ..ConformanceConfig::default()
//! };
//! let report = check_engine(&ReverseEngine, &config);
//! assert_eq!(report.count(Outcome::Fail), 0);
//! for row in report.summary() {
//!     println!("{:<12} {:<24} pass {:>4} fail {:>2} inconclusive {:>2}",
//!         row.suite, row.group, row.pass, row.fail, row.inconclusive);
//! }
//! ```

use crate::batch::{self, Prefetched};
use crate::catalogue::{catalogue, Pitfall};
use crate::fault_guard::{FaultGuard, NOT_RUN_REASON};
use crate::generate::{case_tree, shrink, GenConfig, GeneratedCase};
use crate::properties::{self, Property, PropertyOutcome};
use adcheck_engines::{Differentiable, Engine, EngineError, ProcessFault, Program};
use adcheck_oracle::{
    InconclusiveReason, Miss, Oracle, OracleConfig, Quantity, Reference, Verdict,
};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{mpsc, Condvar, Mutex};
use std::time::Instant;

/// A suite of checks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Suite {
    /// Generated programs against the oracle.
    Generated,
    /// The pitfall catalogue: expectations and the oracle.
    Catalogue,
    /// Consistency properties on the generated programs.
    Properties,
    /// The regression corpus of saved counterexamples.
    Corpus,
}

impl Suite {
    /// Every suite.
    pub const ALL: [Suite; 4] = [
        Suite::Generated,
        Suite::Catalogue,
        Suite::Properties,
        Suite::Corpus,
    ];

    /// A short name.
    pub fn name(self) -> &'static str {
        match self {
            Suite::Generated => "generated",
            Suite::Catalogue => "catalogue",
            Suite::Properties => "properties",
            Suite::Corpus => "corpus",
        }
    }

    /// Looks a suite up by name.
    pub fn from_name(name: &str) -> Option<Suite> {
        Suite::ALL.into_iter().find(|s| s.name() == name)
    }
}

/// A deterministic slice of the generated cases: those whose index is
/// `index` modulo `count`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Shard {
    /// This shard, from 0.
    pub index: u64,
    /// How many shards.
    pub count: u64,
}

impl Shard {
    /// Whether generated case `index` belongs to this shard: by a hash of
    /// the index, so that every shard is a sample of the whole campaign
    /// (families and every other index-derived choice spread over all
    /// shards alike).
    pub fn contains(&self, index: u64) -> bool {
        let count = self.count.max(1);
        crate::generate::mix(SHARD_SALT, index) % count == self.index
    }
}

/// Decorrelates shard membership from every other use of the index.
const SHARD_SALT: u64 = 0x7368_6172_6473_0001;

impl Default for Shard {
    fn default() -> Self {
        Shard { index: 0, count: 1 }
    }
}

/// What to run.
#[derive(Clone, Debug)]
pub struct ConformanceConfig {
    /// Generated cases (before sharding).
    pub cases: u64,
    /// The seed every random choice flows from.
    pub seed: u64,
    /// Which suites.
    pub suites: Vec<Suite>,
    /// Generator knobs.
    pub generator: GenConfig,
    /// Oracle settings (tolerances, precision).
    pub oracle: OracleConfig,
    /// Which slice of the generated cases.
    pub shard: Shard,
    /// Candidates tried when shrinking one failure.
    pub shrink_budget: usize,
    /// Wall seconds one failure may spend shrinking.
    pub shrink_seconds: f64,
    /// Saved cases to replay (the regression corpus).
    pub corpus: Vec<ReplayCase>,
    /// Stop starting new cases after this instant (a time budget); the cases
    /// skipped are counted in [`RunOutcome::skipped`].
    pub deadline: Option<Instant>,
    /// Cases whose calls go in one batch to an engine that takes batches
    /// ([`Engine::batch_limit`]); engines that do not are unaffected.
    pub batch_cases: usize,
}

impl Default for ConformanceConfig {
    fn default() -> Self {
        ConformanceConfig {
            cases: 1000,
            seed: 0,
            suites: vec![
                Suite::Generated,
                Suite::Catalogue,
                Suite::Properties,
                Suite::Corpus,
            ],
            generator: GenConfig::default(),
            oracle: OracleConfig::default(),
            shard: Shard::default(),
            shrink_budget: 400,
            shrink_seconds: 20.0,
            corpus: Vec::new(),
            deadline: None,
            batch_cases: 16,
        }
    }
}

/// The verdict of one check, as `cases.csv` spells it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// The derivative is one value and the answer is within tolerance.
    Pass,
    /// The derivative is not one value here and the answer is admissible.
    Convention,
    /// A failure (see [`FailMeaning`]).
    Fail,
    /// The oracle cannot decide (the reason says why).
    Inconclusive,
}

impl Outcome {
    /// The name `cases.csv` and the reports use.
    pub fn name(self) -> &'static str {
        match self {
            Outcome::Pass => "pass",
            Outcome::Convention => "convention",
            Outcome::Fail => "fail",
            Outcome::Inconclusive => "inconclusive",
        }
    }
}

impl std::fmt::Display for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// What a record checked: the primal outputs, a derivative quantity, a
/// consistency property, or a catalogue case's declared expectation.
/// Written as its name (`primal`, `jvp`, `vjp`, `gradient`, `jacobian`,
/// `hvp`, a property's name, `expected`) in `cases.csv` and replay files.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Check {
    /// The primal outputs, judged beside the first quantity.
    Primal,
    /// J·v.
    Jvp,
    /// uᵀJ.
    Vjp,
    /// ∇f.
    Gradient,
    /// J.
    Jacobian,
    /// H·v.
    Hvp,
    /// A consistency property.
    Property(Property),
    /// A catalogue case's declared gradient or convention.
    Expected,
}

impl Check {
    /// Every check but the properties, in a fixed order.
    const PLAIN: [Check; 7] = [
        Check::Primal,
        Check::Jvp,
        Check::Vjp,
        Check::Gradient,
        Check::Jacobian,
        Check::Hvp,
        Check::Expected,
    ];

    /// The check of an oracle quantity.
    pub fn of(quantity: &Quantity) -> Check {
        match quantity {
            Quantity::Jvp(_) => Check::Jvp,
            Quantity::Vjp(_) => Check::Vjp,
            Quantity::Gradient => Check::Gradient,
            Quantity::Jacobian => Check::Jacobian,
            Quantity::Hvp(_) => Check::Hvp,
        }
    }

    /// The name written in `cases.csv` and replay files.
    pub fn name(self) -> &'static str {
        match self {
            Check::Primal => "primal",
            Check::Jvp => "jvp",
            Check::Vjp => "vjp",
            Check::Gradient => "gradient",
            Check::Jacobian => "jacobian",
            Check::Hvp => "hvp",
            Check::Property(p) => p.name(),
            Check::Expected => "expected",
        }
    }

    /// The check called `name`.
    pub fn from_name(name: &str) -> Option<Check> {
        Check::PLAIN
            .into_iter()
            .chain(Property::ALL.map(Check::Property))
            .find(|c| c.name() == name)
    }

    /// The checks a replay file may name: the primal, the quantities but
    /// the Jacobian, and the properties.
    pub fn replayable() -> Vec<Check> {
        [
            Check::Jvp,
            Check::Vjp,
            Check::Gradient,
            Check::Hvp,
            Check::Primal,
        ]
        .into_iter()
        .chain(Property::ALL.map(Check::Property))
        .collect()
    }
}

impl std::fmt::Display for Check {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl Serialize for Check {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.name())
    }
}

impl<'de> Deserialize<'de> for Check {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Check, D::Error> {
        let name = String::deserialize(deserializer)?;
        Check::from_name(&name).ok_or_else(|| {
            let known: Vec<&str> = Check::PLAIN
                .into_iter()
                .chain(Property::ALL.map(Check::Property))
                .map(Check::name)
                .collect();
            serde::de::Error::custom(format!(
                "unknown check `{name}` (known: {})",
                known.join(", ")
            ))
        })
    }
}

/// The outcome of one check of one engine on one case.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Record {
    /// The case: `gen-{index}`, `cat-{name}` or `corpus-{id}`.
    pub case: String,
    /// The suite.
    pub suite: Suite,
    /// The operation or pitfall family.
    pub family: String,
    /// The engine.
    pub engine: String,
    /// What was checked.
    pub check: Check,
    /// Pass, convention, fail or inconclusive.
    pub verdict: Outcome,
    /// What a failure means (empty unless the verdict is `fail`).
    #[serde(default)]
    pub meaning: Option<FailMeaning>,
    /// The worst bits correct over the entries (oracle checks).
    pub bits: Option<f64>,
    /// The worst ULP distance over the entries (oracle checks).
    pub ulps: Option<f64>,
    /// The inconclusive reason, or a line of evidence for a failure.
    pub reason: String,
    /// Seconds the engine took (not part of any deterministic output).
    #[serde(skip)]
    pub seconds: f64,
    /// The first failing entry's values, when an oracle check failed (kept
    /// in memory for reports; `cases.csv` has the evidence text).
    #[serde(skip)]
    pub failed_entry: Option<FailedEntry>,
    /// How the engine broke the protocol, when this fault is a process
    /// fault (in memory; `cases.csv` has the fault's name leading the
    /// evidence text).
    #[serde(skip)]
    pub process_fault: Option<ProcessFault>,
}

/// The values of the entry that failed an oracle check.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct FailedEntry {
    /// The reference rounded to `f64`.
    pub expected: f64,
    /// The engine's value.
    pub got: f64,
    /// Bits of the reference the engine's value reproduces.
    pub bits_correct: f64,
}

/// What a failed check means: the one classifier of failures, used by the
/// terminal summary, `summary.json` and the conformance report alike.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FailMeaning {
    /// No admissible value is near the answer (both MPFR references agree,
    /// or the answer is outside every admissible value at a kink, or a
    /// catalogue case's declared value is missed).
    Wrong,
    /// The right formula with bits lost beyond the rounding scale: at
    /// least `OracleConfig::inaccurate_bits` correct bits, but outside the
    /// tolerance. Counted and reported; it fails a run only under
    /// `--min-bits`.
    Inaccurate,
    /// A consistency property does not hold.
    Inconsistent,
    /// No answer: an error, a panic, a malformed answer, a process fault.
    Fault,
}

impl FailMeaning {
    /// Every meaning, in the order reports list them.
    pub const ALL: [FailMeaning; 4] = [
        FailMeaning::Wrong,
        FailMeaning::Inaccurate,
        FailMeaning::Inconsistent,
        FailMeaning::Fault,
    ];

    /// The name used in `cases.csv`, `summary.json` and tables.
    pub fn name(self) -> &'static str {
        match self {
            FailMeaning::Wrong => "wrong",
            FailMeaning::Inaccurate => "inaccurate",
            FailMeaning::Inconsistent => "inconsistent",
            FailMeaning::Fault => "fault",
        }
    }

    /// The meaning of an oracle miss.
    pub fn of_miss(miss: Miss) -> FailMeaning {
        match miss {
            Miss::Wrong => FailMeaning::Wrong,
            Miss::Inaccurate => FailMeaning::Inaccurate,
        }
    }

    /// Whether a failure with this meaning fails a run (exit status 1)
    /// without `--min-bits`.
    pub fn fails_the_run(self) -> bool {
        self != FailMeaning::Inaccurate
    }

    /// What a failure of `check` with evidence `reason` means, for records
    /// read from a `cases.csv` written before the `meaning` column.
    pub fn classify(check: &str, reason: &str) -> FailMeaning {
        let fault = adcheck_engines::ProcessFault::ALL
            .iter()
            .any(|f| reason.starts_with(f.name()))
            || ["engine error", "engine panicked", "malformed"]
                .iter()
                .any(|p| reason.starts_with(p));
        if fault {
            FailMeaning::Fault
        } else if Property::ALL.iter().any(|p| p.name() == check) {
            FailMeaning::Inconsistent
        } else {
            FailMeaning::Wrong
        }
    }
}

/// A case, as its id names it: the one place ids are made and read back.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CaseId<'a> {
    /// `gen-{index}`: generated case `index`.
    Generated(u64),
    /// `cat-{name}`: the catalogue's pitfall `name`.
    Catalogue(&'a str),
    /// `corpus-{id}`: the saved case `id`.
    Corpus(&'a str),
    /// Anything else (a record written by hand).
    Other(&'a str),
}

impl<'a> CaseId<'a> {
    /// Reads an id back.
    pub fn parse(id: &'a str) -> CaseId<'a> {
        if let Some(index) = id.strip_prefix("gen-").and_then(|i| i.parse().ok()) {
            return CaseId::Generated(index);
        }
        if let Some(name) = id.strip_prefix("cat-") {
            return CaseId::Catalogue(name);
        }
        if let Some(saved) = id.strip_prefix("corpus-") {
            return CaseId::Corpus(saved);
        }
        CaseId::Other(id)
    }
}

impl std::fmt::Display for CaseId<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CaseId::Generated(index) => write!(f, "gen-{index}"),
            CaseId::Catalogue(name) => write!(f, "cat-{name}"),
            CaseId::Corpus(id) => write!(f, "corpus-{id}"),
            CaseId::Other(id) => f.write_str(id),
        }
    }
}

impl Record {
    /// The case this record is of.
    pub fn case_id(&self) -> CaseId<'_> {
        CaseId::parse(&self.case)
    }

    /// What this record's failure means (`None` unless it failed).
    pub fn fail_meaning(&self) -> Option<FailMeaning> {
        (self.verdict == Outcome::Fail).then(|| {
            self.meaning
                .unwrap_or_else(|| FailMeaning::classify(self.check.name(), &self.reason))
        })
    }
}

/// A saved case: everything needed to replay a check (the replay-file form).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ReplayCase {
    /// Where it came from.
    pub id: String,
    /// The engine that failed it.
    pub engine: String,
    /// What failed (as in [`Record::check`]).
    pub check: Check,
    /// The family.
    pub family: String,
    /// The program (JSON form).
    pub program: Program,
    /// The program in the text form, for people.
    pub program_text: String,
    /// The point.
    pub point: Vec<f64>,
    /// The direction `v`.
    pub direction: Vec<f64>,
    /// The cotangent `u`.
    pub cotangent: Vec<f64>,
    /// The verdict when saved.
    pub verdict: String,
    /// The evidence when saved.
    pub evidence: String,
    /// The campaign seed.
    pub seed: u64,
    /// The generated case index, if generated.
    pub index: Option<u64>,
}

impl ReplayCase {
    /// Why replaying this case would check nothing, if it would not: a
    /// check that is never replayed, or a point, direction or cotangent
    /// whose length does not fit the program.
    pub fn validate(&self) -> Result<(), String> {
        let checks = Check::replayable();
        if !checks.contains(&self.check) {
            let names: Vec<&str> = checks.iter().map(|c| c.name()).collect();
            return Err(format!(
                "check `{}` cannot be replayed (replayable: {})",
                self.check,
                names.join(", ")
            ));
        }
        let (n, m) = (self.program.n_inputs(), self.program.n_outputs());
        for (what, len, want) in [
            ("point", self.point.len(), n),
            ("direction", self.direction.len(), n),
            ("cotangent", self.cotangent.len(), m),
        ] {
            if len != want {
                return Err(format!(
                    "the {what} has {len} entries but the program has {want} {}",
                    if what == "cotangent" {
                        "outputs"
                    } else {
                        "inputs"
                    }
                ));
            }
        }
        Ok(())
    }
}

/// A shrunk counterexample.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Counterexample {
    /// The shrunk case, ready to save and replay.
    pub case: ReplayCase,
    /// Assignments in the shrunk program.
    pub size: usize,
    /// Assignments before shrinking.
    pub original_size: usize,
    /// Candidates tried while shrinking.
    pub shrink_steps: usize,
    /// Why shrinking stopped before it had tried every candidate, or was
    /// not tried at all (a process fault, a time limit).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not_shrunk: Option<String>,
    /// The failing entry of the shrunk case, when an oracle check failed.
    #[serde(default)]
    pub entry: Option<FailedEntry>,
    /// What the failure means (of the shrunk case, which fails with the
    /// original's meaning).
    #[serde(default)]
    pub meaning: Option<FailMeaning>,
}

impl Counterexample {
    /// Whether this is the shrunk form of `r`'s failure: the same check of
    /// the same generated case.
    pub fn shows(&self, r: &Record) -> bool {
        self.case.check == r.check
            && matches!(r.case_id(), CaseId::Generated(i) if self.case.index == Some(i))
    }
}

/// One row of [`ConformanceReport::summary`].
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SummaryRow {
    /// The suite.
    pub suite: String,
    /// The family (generated), the case (catalogue) or the property.
    pub group: String,
    /// Passes.
    pub pass: usize,
    /// Admissible answers where the derivative is not one value.
    pub convention: usize,
    /// Failures.
    pub fail: usize,
    /// Inconclusive results.
    pub inconclusive: usize,
    /// The worst bits correct seen.
    pub worst_bits: Option<f64>,
    /// The median bits correct (to 0.01 bit).
    pub median_bits: Option<f64>,
}

/// The results of one engine.
#[derive(Clone, Debug, Default)]
pub struct ConformanceReport {
    /// The engine.
    pub engine: String,
    /// Every check, in case order.
    pub records: Vec<Record>,
    /// Every failure of a generated case, shrunk.
    pub counterexamples: Vec<Counterexample>,
}

impl ConformanceReport {
    /// How many records have verdict `kind`.
    pub fn count(&self, kind: Outcome) -> usize {
        self.records.iter().filter(|r| r.verdict == kind).count()
    }

    /// The share of records that are inconclusive.
    pub fn inconclusive_share(&self) -> f64 {
        self.count(Outcome::Inconclusive) as f64 / self.records.len().max(1) as f64
    }

    /// Counts by suite and group (family for generated cases and the
    /// corpus, case name for the catalogue, property name for properties).
    pub fn summary(&self) -> Vec<SummaryRow> {
        summarize(self.records.iter())
    }
}

/// Counts records by suite and group.
pub fn summarize<'a>(records: impl Iterator<Item = &'a Record>) -> Vec<SummaryRow> {
    let mut summarizer = Summarizer::default();
    for r in records {
        summarizer.add(r);
    }
    summarizer.rows()
}

/// The rows of [`summarize`], counted one record at a time: memory grows
/// with the number of groups, not of records (bits are kept as a count per
/// hundredth of a bit, so the median is exact to 0.01 bit).
#[derive(Clone, Debug, Default)]
pub struct Summarizer {
    groups: BTreeMap<(String, String), GroupTally>,
}

/// The counts of one group.
#[derive(Clone, Debug, Default)]
struct GroupTally {
    pass: usize,
    convention: usize,
    fail: usize,
    inconclusive: usize,
    worst_bits: Option<f64>,
    /// Records seen with bits, by bits in hundredths.
    bits: BTreeMap<u32, usize>,
}

impl Summarizer {
    /// Counts `r`.
    pub fn add(&mut self, r: &Record) {
        let group = match r.suite {
            Suite::Catalogue => match r.case_id() {
                CaseId::Catalogue(name) => name.to_string(),
                other => other.to_string(),
            },
            Suite::Properties => r.check.name().to_string(),
            _ => r.family.clone(),
        };
        let e = self
            .groups
            .entry((r.suite.name().to_string(), group))
            .or_default();
        match r.verdict {
            Outcome::Pass => e.pass += 1,
            Outcome::Convention => e.convention += 1,
            Outcome::Fail => e.fail += 1,
            Outcome::Inconclusive => e.inconclusive += 1,
        }
        if let Some(b) = r.bits {
            e.worst_bits = Some(e.worst_bits.map_or(b, |w| w.min(b)));
            // Bits lie in [0, 53] (see `bits_correct`).
            *e.bits
                .entry((b.clamp(0.0, 53.0) * 100.0).round() as u32)
                .or_default() += 1;
        }
    }

    /// The rows, by suite and group.
    pub fn rows(&self) -> Vec<SummaryRow> {
        self.groups
            .iter()
            .map(|((suite, group), t)| {
                let seen: usize = t.bits.values().sum();
                let mut before = 0;
                let median = t.bits.iter().find_map(|(&hundredths, &k)| {
                    before += k;
                    (before > seen / 2).then_some(f64::from(hundredths) / 100.0)
                });
                SummaryRow {
                    suite: suite.clone(),
                    group: group.clone(),
                    pass: t.pass,
                    convention: t.convention,
                    fail: t.fail,
                    inconclusive: t.inconclusive,
                    worst_bits: t.worst_bits,
                    median_bits: median,
                }
            })
            .collect()
    }
}

/// One unit of work: a program at a point, with its references computed.
pub(crate) struct Prepared {
    /// The case id.
    pub id: String,
    /// The suite.
    pub suite: Suite,
    /// The family.
    pub family: String,
    /// The case.
    pub case: GeneratedCase,
    /// The generated index, if generated.
    pub index: Option<u64>,
    /// Oracle references, one per quantity.
    pub references: Vec<Reference>,
    /// The catalogue case, if any.
    pub pitfall: Option<Pitfall>,
    /// Only this check (a replayed case), or all.
    pub only_check: Option<Check>,
}

/// The quantities checked on a case.
fn quantities(case: &GeneratedCase, with_hvp: bool) -> Vec<Quantity> {
    let mut q = vec![
        Quantity::Jvp(case.direction.clone()),
        Quantity::Vjp(case.cotangent.clone()),
    ];
    if with_hvp && case.program.n_outputs() == 1 {
        q.push(Quantity::Hvp(case.direction.clone()));
    }
    q
}

fn references(oracle: &Oracle, case: &GeneratedCase, quantities: &[Quantity]) -> Vec<Reference> {
    quantities
        .iter()
        .filter_map(|q| oracle.reference(&case.program, &case.point, q).ok())
        .collect()
}

/// Prepares generated case `index`.
pub(crate) fn prepare_generated(
    config: &ConformanceConfig,
    oracle: &Oracle,
    index: u64,
    with_hvp: bool,
) -> Prepared {
    let case = case_tree(&config.generator, config.seed, index).current();
    Prepared {
        id: CaseId::Generated(index).to_string(),
        suite: Suite::Generated,
        family: case.family.name().to_string(),
        references: references(oracle, &case, &quantities(&case, with_hvp)),
        case,
        index: Some(index),
        pitfall: None,
        only_check: None,
    }
}

/// Prepares a catalogue case: its gradient, and `H·v` along ones when an
/// engine computes it.
pub(crate) fn prepare_pitfall(oracle: &Oracle, pitfall: &Pitfall, with_hvp: bool) -> Prepared {
    let program = pitfall.parse();
    let n = program.n_inputs();
    let case = GeneratedCase {
        family: crate::generate::Family::Mixed,
        program,
        point: pitfall.point.clone(),
        direction: vec![1.0; n],
        cotangent: vec![1.0],
    };
    Prepared {
        id: CaseId::Catalogue(pitfall.name).to_string(),
        suite: Suite::Catalogue,
        family: pitfall.family.to_string(),
        references: references(
            oracle,
            &case,
            &if with_hvp {
                vec![Quantity::Gradient, Quantity::Hvp(case.direction.clone())]
            } else {
                vec![Quantity::Gradient]
            },
        ),
        case,
        index: None,
        pitfall: Some(pitfall.clone()),
        only_check: None,
    }
}

/// Prepares a saved case for replay.
pub(crate) fn prepare_replay(oracle: &Oracle, replay: &ReplayCase, with_hvp: bool) -> Prepared {
    let case = GeneratedCase {
        family: crate::generate::Family::Mixed,
        program: replay.program.clone(),
        point: replay.point.clone(),
        direction: replay.direction.clone(),
        cotangent: replay.cotangent.clone(),
    };
    Prepared {
        id: CaseId::Corpus(&replay.id).to_string(),
        suite: Suite::Corpus,
        family: replay.family.clone(),
        // Only the reference the replayed check is judged on (a property
        // needs none; the primal is judged beside the first quantity).
        references: references(
            oracle,
            &case,
            &match replay.check {
                Check::Gradient => vec![Quantity::Gradient],
                Check::Jvp | Check::Primal => vec![Quantity::Jvp(case.direction.clone())],
                Check::Vjp => vec![Quantity::Vjp(case.cotangent.clone())],
                Check::Hvp if with_hvp && case.program.n_outputs() == 1 => {
                    vec![Quantity::Hvp(case.direction.clone())]
                }
                _ => Vec::new(),
            },
        ),
        case,
        index: replay.index,
        pitfall: None,
        only_check: Some(replay.check),
    }
}

/// What an engine call answered: a derivative, nothing because the engine
/// does not support the call (nothing to judge), or no answer (a fault).
enum Answer {
    Got(adcheck_engines::Derivative),
    Unsupported,
    Failed(CallFault),
}

/// A call that gave no answer: the evidence text (it leads with a process
/// fault's name, `engine error` or `engine panicked`) and, when the engine
/// broke the protocol, which way.
struct CallFault {
    text: String,
    process: Option<ProcessFault>,
}

/// Calls the engine, turning a panic into an error so one bad engine call
/// cannot stop a run.
fn call(f: impl FnOnce() -> Result<adcheck_engines::Derivative, EngineError>) -> Answer {
    match try_call(f) {
        Ok(d) => Answer::Got(d),
        Err(None) => Answer::Unsupported,
        Err(Some(e)) => Answer::Failed(e),
    }
}

/// [`call`]'s work: `Err(None)` for an unsupported call.
fn try_call(
    f: impl FnOnce() -> Result<adcheck_engines::Derivative, EngineError>,
) -> Result<adcheck_engines::Derivative, Option<CallFault>> {
    let fault = |text: String| {
        Err(Some(CallFault {
            text,
            process: None,
        }))
    };
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(Ok(d)) => Ok(d),
        Ok(Err(EngineError::Unsupported { .. })) => Err(None),
        // The fault's name leads the text, for readers of `cases.csv`.
        Ok(Err(e @ EngineError::Process { fault, .. })) => Err(Some(CallFault {
            text: e.to_string(),
            process: Some(fault),
        })),
        Ok(Err(e)) => fault(format!("engine error: {e}")),
        Err(panic) => {
            let message = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "a non-string panic".into());
            fault(format!("engine panicked: {message}"))
        }
    }
}

/// A record's verdict, meaning, bits, ulps, reason, failing entry and
/// process fault.
pub(crate) struct Folded {
    pub(crate) verdict: Outcome,
    meaning: Option<FailMeaning>,
    bits: Option<f64>,
    ulps: Option<f64>,
    reason: String,
    entry: Option<FailedEntry>,
    process_fault: Option<ProcessFault>,
}

impl Folded {
    fn pass() -> Folded {
        Folded {
            verdict: Outcome::Pass,
            meaning: None,
            bits: None,
            ulps: None,
            reason: String::new(),
            entry: None,
            process_fault: None,
        }
    }

    /// A fault: the engine gave no answer.
    fn fault(reason: String, process_fault: Option<ProcessFault>) -> Folded {
        Folded {
            process_fault,
            ..Folded::fail(FailMeaning::Fault, reason)
        }
    }

    fn fail(meaning: FailMeaning, reason: String) -> Folded {
        Folded {
            verdict: Outcome::Fail,
            meaning: Some(meaning),
            reason,
            ..Folded::pass()
        }
    }

    fn inconclusive(reason: String) -> Folded {
        Folded {
            verdict: Outcome::Inconclusive,
            reason,
            ..Folded::pass()
        }
    }

    fn convention(reason: String) -> Folded {
        Folded {
            verdict: Outcome::Convention,
            reason,
            ..Folded::pass()
        }
    }
}

/// Folds entry verdicts into one record: a fail if any entry fails, else
/// inconclusive if any is, else a convention if any entry is, else a pass.
fn fold(verdicts: &[Verdict]) -> Folded {
    let mut bits: Option<f64> = None;
    let mut ulps: Option<f64> = None;
    for v in verdicts {
        if let Verdict::Pass {
            bits_correct,
            ulps: u,
        } = v
        {
            bits = Some(bits.map_or(*bits_correct, |b| b.min(*bits_correct)));
            ulps = Some(ulps.map_or(*u, |x| x.max(*u)));
        }
    }
    // The worst failure leads: a wrong entry before an inaccurate one.
    let worst = verdicts
        .iter()
        .filter_map(|v| match v {
            Verdict::Fail { miss, .. } => Some((*miss, v)),
            _ => None,
        })
        .min_by_key(|(miss, _)| *miss);
    if let Some((
        miss,
        Verdict::Fail {
            expected,
            got,
            bits_correct,
            evidence,
            ..
        },
    )) = worst
    {
        return Folded {
            bits: Some(*bits_correct),
            entry: Some(FailedEntry {
                expected: *expected,
                got: *got,
                bits_correct: *bits_correct,
            }),
            ..Folded::fail(FailMeaning::of_miss(miss), evidence.clone())
        };
    }
    if let Some(Verdict::Inconclusive { reason, .. }) = verdicts
        .iter()
        .find(|v| matches!(v, Verdict::Inconclusive { .. }))
    {
        return Folded {
            bits,
            ulps,
            ..Folded::inconclusive(reason.name().to_string())
        };
    }
    if let Some(Verdict::Convention {
        got,
        admissible,
        declared,
    }) = verdicts
        .iter()
        .find(|v| matches!(v, Verdict::Convention { .. }))
    {
        return Folded {
            bits,
            ulps,
            ..Folded::convention(format!(
                "got {got:e}: {} (declared {declared:e})",
                admissible.describe()
            ))
        };
    }
    Folded {
        bits,
        ulps,
        ..Folded::pass()
    }
}

/// The record of a catalogue case's expectation, given the engine's
/// gradient and the oracle's verdicts on it: a declared value missed by an
/// answer the oracle finds admissible is a convention, not a failure.
pub(crate) fn expectation(pitfall: &Pitfall, got: &[f64], verdicts: Option<&[Verdict]>) -> Folded {
    let Err(miss) = pitfall.check(got) else {
        return Folded::pass();
    };
    let reason = format!("{miss} ({})", pitfall.note);
    let Some(verdicts) = verdicts else {
        return Folded::fail(FailMeaning::Wrong, reason);
    };
    let judged = fold(verdicts);
    if judged.verdict == Outcome::Fail {
        return Folded {
            reason: format!("{reason}; {}", judged.reason),
            ..judged
        };
    }
    // Every entry that misses the declared value is a convention.
    let missed: Vec<usize> = (0..got.len().min(pitfall.expected.len()))
        .filter(|&k| {
            Pitfall {
                expected: vec![pitfall.expected[k]],
                ..pitfall.clone()
            }
            .check(&[got[k]])
            .is_err()
        })
        // A value the oracle passes is right to within the rounding of the
        // program at that point (softmax(1000, 1000) computed through
        // 1000 + ln 2 is 248 ulps from ½ in PyTorch and in any shifted
        // formula): the catalogue's few ulps are no stricter a judge.
        .filter(|&k| !matches!(verdicts.get(k), Some(Verdict::Pass { .. })))
        .collect();
    if missed.is_empty() {
        return Folded::pass();
    }
    let conventions: Vec<String> = missed
        .iter()
        .filter_map(|&k| match verdicts.get(k) {
            Some(Verdict::Convention { admissible, .. }) => {
                Some(format!("∂{k} in the {}", admissible.describe()))
            }
            // Where the function itself is not finite (logsumexp of all −∞)
            // its derivative is undefined, and a non-finite answer is as
            // admissible as the value the catalogue declares.
            Some(Verdict::Inconclusive {
                reason: InconclusiveReason::PrimalNotFinite,
                ..
            }) if !got[k].is_finite() => Some(format!(
                "∂{k} in the {}",
                adcheck_oracle::Admissible::Undefined.describe()
            )),
            _ => None,
        })
        .collect();
    if !missed.is_empty() && conventions.len() == missed.len() {
        Folded::convention(format!(
            "another convention than the catalogue declares: {miss}; {}",
            conventions.join(", ")
        ))
    } else {
        // Name the first missed entry that is not a convention.
        let named = missed
            .iter()
            .find(|&&k| !matches!(verdicts.get(k), Some(Verdict::Convention { .. })))
            .map_or(reason, |&k| {
                format!(
                    "∂{k}: expected {:e}, got {:e} ({})",
                    pitfall.expected[k], got[k], pitfall.note
                )
            });
        Folded::fail(FailMeaning::Wrong, named)
    }
}

/// Runs every check of `prepared` on `engine`.
pub(crate) fn judge(
    engine: &dyn Engine,
    prepared: &Prepared,
    oracle: &Oracle,
    properties_too: bool,
) -> Vec<Record> {
    // A misbehaving process costs one timeout per case, not one per call.
    let guard = FaultGuard::new(engine);
    let engine: &dyn Engine = &guard;
    let mut records: Vec<Record> = Vec::new();
    let case = &prepared.case;
    let (p, x) = (&case.program, &case.point);
    let wanted = |check: Check| prepared.only_check.is_none_or(|c| c == check);
    let suite = |check: Check| match check {
        Check::Property(_) => Suite::Properties,
        _ => prepared.suite,
    };
    let record = |check: Check, folded: Folded, seconds| Record {
        case: prepared.id.clone(),
        suite: suite(check),
        family: prepared.family.clone(),
        engine: engine.name().to_string(),
        check,
        verdict: folded.verdict,
        meaning: folded.meaning,
        bits: folded.bits,
        ulps: folded.ulps,
        reason: folded.reason,
        seconds,
        failed_entry: folded.entry,
        process_fault: folded.process_fault,
    };
    // A check the guard did not run; the first of them carries the fault
    // that stopped the case when no record does (a property may have met
    // it in a call whose result it ignores).
    let not_run = |check: Check, records: &[Record]| {
        let recorded = records.iter().any(|r| r.process_fault.is_some());
        let folded = match guard.stopped() {
            Some((fault, why)) if !recorded => Folded::fault(why, Some(fault)),
            _ => Folded::inconclusive(NOT_RUN_REASON.to_string()),
        };
        record(check, folded, 0.0)
    };
    let mut primal_error: Option<String> = None;
    for reference in &prepared.references {
        let check = Check::of(&reference.quantity);
        if matches!(reference.quantity, Quantity::Hvp(_)) && !engine.capabilities().hvp {
            continue;
        }
        let want_quantity = wanted(check);
        // The primal, once per case, from the first quantity answered.
        let want_primal =
            wanted(Check::Primal) && !records.iter().any(|r| r.check == Check::Primal);
        if !want_quantity && !want_primal {
            continue;
        }
        if guard.stopped().is_some() {
            if want_quantity {
                records.push(not_run(check, &records));
            }
            continue;
        }
        let start = Instant::now();
        let refused = guard.refusals();
        let answer = call(|| match &reference.quantity {
            Quantity::Jvp(v) => engine.jvp(p, x, v),
            Quantity::Vjp(u) => engine.vjp(p, x, u),
            Quantity::Gradient => engine.gradient(p, x),
            Quantity::Jacobian => engine.jacobian(p, x),
            Quantity::Hvp(v) => engine.hvp(p, x, v),
        });
        let seconds = start.elapsed().as_secs_f64();
        let not_run_here = guard.refusals() > refused;
        let answer = match answer {
            Answer::Got(d) => Ok(d),
            Answer::Unsupported => continue,
            Answer::Failed(e) => Err(e),
        };
        if want_quantity {
            match &answer {
                Err(_) if not_run_here => records.push(not_run(check, &records)),
                Err(e) => records.push(record(
                    check,
                    Folded::fault(e.text.clone(), e.process),
                    seconds,
                )),
                Ok(got) => {
                    let folded = match oracle.judge(reference, &got.derivative) {
                        Ok(verdicts) => fold(&verdicts),
                        Err(e) => {
                            Folded::fail(FailMeaning::Fault, format!("malformed answer: {e}"))
                        }
                    };
                    records.push(record(check, folded, seconds));
                }
            }
        }
        if let (true, Ok(got)) = (want_primal, &answer) {
            let folded = match oracle.judge_primal(reference, &got.primal) {
                Ok(verdicts) => fold(&verdicts),
                Err(e) => Folded::fail(FailMeaning::Fault, format!("malformed primal: {e}")),
            };
            records.push(record(Check::Primal, folded, 0.0));
        }
        if let (true, Err(e)) = (want_primal, &answer) {
            if !not_run_here && e.process.is_none() && primal_error.is_none() {
                primal_error = Some(e.text.clone());
            }
        }
    }
    // When every answer was an error the engine reported, the primal row
    // is that error (a process fault is recorded once, on the quantity).
    if let Some(e) = primal_error {
        if !records.iter().any(|r| r.check == Check::Primal) {
            records.push(record(
                Check::Primal,
                Folded::fail(FailMeaning::Fault, e),
                0.0,
            ));
        }
    }
    if let (Some(_), Some(_)) = (&prepared.pitfall, guard.stopped()) {
        records.push(not_run(Check::Expected, &records));
    } else if let Some(pitfall) = &prepared.pitfall {
        let start = Instant::now();
        let refused = guard.refusals();
        let answer = call(|| engine.gradient(p, x));
        let seconds = start.elapsed().as_secs_f64();
        let expected = match answer {
            // No gradient to hold to the expectation.
            Answer::Unsupported => None,
            Answer::Got(got) => {
                // The oracle's verdicts on this very answer.
                let verdicts = prepared
                    .references
                    .iter()
                    .find(|r| r.quantity == Quantity::Gradient)
                    .and_then(|r| oracle.judge(r, &got.derivative).ok());
                let folded = expectation(pitfall, &got.derivative, verdicts.as_deref());
                Some(record(Check::Expected, folded, seconds))
            }
            Answer::Failed(_) if guard.refusals() > refused => {
                Some(not_run(Check::Expected, &records))
            }
            Answer::Failed(e) => Some(record(
                Check::Expected,
                Folded::fault(e.text, e.process),
                seconds,
            )),
        };
        records.extend(expected);
    }
    let replayed_property = matches!(prepared.only_check, Some(Check::Property(_)));
    if (properties_too && prepared.suite == Suite::Generated) || replayed_property {
        for property in Property::ALL {
            if !wanted(Check::Property(property)) {
                continue;
            }
            if guard.stopped().is_some() {
                records.push(not_run(Check::Property(property), &records));
                continue;
            }
            let start = Instant::now();
            let refused = guard.refusals();
            let outcome = catch_unwind(AssertUnwindSafe(|| {
                properties::check(engine, property, p, x, &case.direction, &case.cotangent)
            }))
            .unwrap_or_else(|_| PropertyOutcome::Faulted {
                why: "engine panicked".into(),
                process: None,
            });
            let seconds = start.elapsed().as_secs_f64();
            let folded = match outcome {
                PropertyOutcome::Faulted { .. } if guard.refusals() > refused => {
                    records.push(not_run(Check::Property(property), &records));
                    continue;
                }
                PropertyOutcome::Holds => Folded::pass(),
                // An engine that errs or panics inside a property gave no
                // answer: a fault, not an inconsistency.
                PropertyOutcome::Faulted { why, process } => Folded::fault(why, process),
                PropertyOutcome::Violated(why) => Folded::fail(FailMeaning::Inconsistent, why),
                PropertyOutcome::ZeroSeedTimesInfinity(why) => Folded::convention(why),
                PropertyOutcome::NotApplicable(_) => continue,
            };
            records.push(record(Check::Property(property), folded, seconds));
        }
    }
    records
}

/// The failing record of `check` when `engine` runs `case`, if it fails.
fn failing_record(
    engine: &dyn Engine,
    oracle: &Oracle,
    case: &GeneratedCase,
    check: Check,
    with_hvp: bool,
) -> Option<Record> {
    let prepared = Prepared {
        id: String::new(),
        suite: Suite::Generated,
        family: String::new(),
        references: references(oracle, case, &quantities(case, with_hvp))
            .into_iter()
            .filter(|r| Check::of(&r.quantity) == check || check == Check::Primal)
            .collect(),
        case: case.clone(),
        index: None,
        pitfall: None,
        only_check: Some(check),
    };
    let properties_too = matches!(check, Check::Property(_));
    judge(engine, &prepared, oracle, properties_too)
        .into_iter()
        .find(|r| r.check == check && r.verdict == Outcome::Fail)
}

/// Process faults met while shrinking one failure after which shrinking
/// stops (each one restarted the engine, and may have cost a timeout).
const SHRINK_FAULTS: usize = 2;

/// Shrinks the failure `failed` of generated case `index`: candidates are
/// kept while they fail with the same meaning. A process fault is not
/// shrunk (re-running a crashing or hanging engine hundreds of times would
/// cost hundreds of timeouts): its case is saved as found. Shrinking stops
/// early at [`ConformanceConfig::shrink_seconds`], at the run's deadline, or
/// after a few candidates that faulted; [`Counterexample::not_shrunk`] says
/// which.
pub(crate) fn shrink_failure(
    engine: &dyn Engine,
    config: &ConformanceConfig,
    oracle: &Oracle,
    index: u64,
    failed: &Record,
    with_hvp: bool,
) -> Counterexample {
    let mut tree = case_tree(&config.generator, config.seed, index);
    let original = tree.current();
    let meaning = failed.fail_meaning();
    let started = Instant::now();
    let mut stop: Option<String> = None;
    if failed.process_fault.is_some() {
        stop = Some("a process fault: saved as found, not shrunk by re-running the engine".into());
    } else if config.shrink_budget == 0 {
        stop = Some("the shrink budget is 0: saved as found".into());
    }
    let mut faults = 0;
    let mut judged = 0;
    let mut best_failure: Option<Record> = None;
    let (small, _) = shrink(
        tree.as_mut(),
        |c| {
            if stop.is_none() {
                if config.deadline.is_some_and(|d| Instant::now() >= d) {
                    stop = Some("the time budget ran out".into());
                } else if started.elapsed().as_secs_f64() >= config.shrink_seconds {
                    stop = Some(format!(
                        "the shrink time limit ({} s) was reached",
                        config.shrink_seconds
                    ));
                }
            }
            if stop.is_some() {
                return false;
            }
            judged += 1;
            let Some(r) = failing_record(engine, oracle, c, failed.check, with_hvp) else {
                return false;
            };
            if r.process_fault.is_some() {
                faults += 1;
                if faults >= SHRINK_FAULTS {
                    stop = Some(format!("{faults} candidates faulted the engine"));
                }
                return false;
            }
            let same = r.fail_meaning() == meaning;
            if same {
                best_failure = Some(r);
            }
            same
        },
        config.shrink_budget,
    );
    // The evidence of the small case, not of the original.
    let small_failure = best_failure.filter(|_| small != original);
    let entry = small_failure
        .as_ref()
        .map_or(failed.failed_entry, |r| r.failed_entry);
    let evidence = small_failure.map_or_else(|| failed.reason.clone(), |r| r.reason);
    Counterexample {
        entry,
        size: small.size(),
        original_size: original.size(),
        shrink_steps: judged,
        not_shrunk: stop,
        meaning,
        case: ReplayCase {
            id: format!(
                "{}-{}-{}-{}",
                failed.case,
                config.seed,
                engine.name(),
                failed.check
            ),
            engine: engine.name().to_string(),
            check: failed.check,
            family: failed.family.clone(),
            program_text: small.program.to_string(),
            program: small.program,
            point: small.point,
            direction: small.direction,
            cotangent: small.cotangent,
            verdict: failed.verdict.name().to_string(),
            evidence,
            seed: config.seed,
            index: Some(index),
        },
    }
}

/// What [`run_all`] returns.
#[derive(Clone, Debug, Default)]
#[non_exhaustive]
pub struct RunOutcome {
    /// One report per engine, in the engines' order.
    pub reports: Vec<ConformanceReport>,
    /// Cases not started because the deadline had passed.
    pub skipped: u64,
    /// Cases scheduled (corpus, catalogue and generated, after sharding).
    pub scheduled: u64,
}

impl RunOutcome {
    /// A run's outcome: its reports, the cases skipped and those scheduled.
    pub fn new(reports: Vec<ConformanceReport>, skipped: u64, scheduled: u64) -> RunOutcome {
        RunOutcome {
            reports,
            skipped,
            scheduled,
        }
    }
}

/// How many cases [`run`] schedules for `config` (for progress bars).
pub fn scheduled_cases(config: &ConformanceConfig) -> u64 {
    units(config).count() as u64
}

/// The cases a run schedules, in the canonical order, made as they are
/// taken (so a campaign's size costs no memory).
fn units(config: &ConformanceConfig) -> impl Iterator<Item = Unit> + Send + '_ {
    let has = |s: Suite| config.suites.contains(&s);
    let shard = config.shard;
    // The corpus and the catalogue belong to the first shard only, so that
    // shards partition the work and merge back into one run.
    let first_shard = shard.index == 0;
    let corpus = if has(Suite::Corpus) && first_shard {
        config.corpus.len()
    } else {
        0
    };
    let pitfalls = if has(Suite::Catalogue) && first_shard {
        catalogue().len()
    } else {
        0
    };
    let generated = if has(Suite::Generated) || has(Suite::Properties) {
        config.cases
    } else {
        0
    };
    (0..corpus)
        .map(Unit::Replay)
        .chain((0..pitfalls).map(Unit::Pitfall))
        .chain(
            (0..generated)
                .filter(move |&i| shard.contains(i))
                .map(Unit::Generated),
        )
}

/// Runs the configured suites on several engines (see [`run_all`]) and
/// returns one report per engine.
pub fn run(
    engines: &[&dyn Engine],
    config: &ConformanceConfig,
    progress: &(dyn Fn(u64) + Sync),
) -> Vec<ConformanceReport> {
    run_all(engines, config, progress).reports
}

/// Runs the configured suites on several engines, each reference computed
/// once and shared; `progress` is called with the number of cases finished
/// since the last call. Reports come back in the engines' order, records in
/// case order, so the same configuration gives the same reports (unless a
/// deadline cuts the run short). Holds every record: for runs of any size,
/// [`run_streaming`] hands them on as they are judged.
pub fn run_all(
    engines: &[&dyn Engine],
    config: &ConformanceConfig,
    progress: &(dyn Fn(u64) + Sync),
) -> RunOutcome {
    let mut reports: Vec<ConformanceReport> = engines
        .iter()
        .map(|e| ConformanceReport {
            engine: e.name().to_string(),
            ..ConformanceReport::default()
        })
        .collect();
    let counts = run_streaming(engines, config, progress, &mut |e, outcome| {
        reports[e].records.extend(outcome.records);
        reports[e].counterexamples.extend(outcome.counterexamples);
    });
    RunOutcome {
        reports,
        skipped: counts.skipped,
        scheduled: counts.scheduled,
    }
}

/// What one engine gave on one case.
#[derive(Clone, Debug, Default)]
#[non_exhaustive]
pub struct CaseOutcome {
    /// Its checks, in the order they were made.
    pub records: Vec<Record>,
    /// Its failures of a generated case, shrunk.
    pub counterexamples: Vec<Counterexample>,
}

/// What [`run_streaming`] returns once every case is handed on.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct RunCounts {
    /// Cases not started because the deadline had passed.
    pub skipped: u64,
    /// Cases scheduled (corpus, catalogue and generated, after sharding).
    pub scheduled: u64,
}

/// Cases judged ahead of the first one not yet handed on, at most: what
/// bounds memory when one case is slow (a failure being shrunk) while the
/// workers go on.
const CASES_AHEAD: usize = 4096;

/// Runs the configured suites on several engines as [`run_all`] does, but
/// keeps nothing: `sink(e, outcome)` receives each case's outcome for the
/// engine at index `e`, in the canonical order (case by case; for each
/// case, engine by engine), as soon as every case before it is done. The
/// cases are judged in parallel, at most 4,096 (`CASES_AHEAD`) ahead of the
/// sink, so memory does not grow with the number of cases; the sink runs
/// on the calling thread.
pub fn run_streaming(
    engines: &[&dyn Engine],
    config: &ConformanceConfig,
    progress: &(dyn Fn(u64) + Sync),
    sink: &mut dyn FnMut(usize, CaseOutcome),
) -> RunCounts {
    let oracle = Oracle::new(OracleConfig {
        seed: config.seed,
        ..config.oracle.clone()
    });
    let skipped = AtomicU64::new(0);
    let pitfalls = catalogue();
    // Engines that take batches get the calls of `chunk` cases at once;
    // for the others a chunk is one case, as it always was.
    let batching = engines.iter().any(|e| e.batch_limit() > 0);
    let chunk = if batching {
        config.batch_cases.max(1)
    } else {
        1
    };
    let ahead = (CASES_AHEAD / chunk).max(1);
    let judge_one =
        |these: &[Unit]| judge_chunk(engines, config, &oracle, &pitfalls, these, &skipped);
    let workers = rayon::current_num_threads().max(1);
    // The cases not yet taken with the number of the next chunk, and the
    // first chunk not yet handed on (workers wait while they are `ahead`
    // chunks past it).
    let pending = Mutex::new((units(config), 0usize));
    let scheduled = AtomicU64::new(0);
    let stop = AtomicBool::new(false);
    let handed = (Mutex::new(0usize), Condvar::new());
    let (send, done) = mpsc::channel::<(usize, std::thread::Result<Vec<Vec<CaseOutcome>>>)>();
    std::thread::scope(|scope| {
        for _ in 0..workers {
            let send = send.clone();
            let (pending, scheduled, stop, handed, judge_one) =
                (&pending, &scheduled, &stop, &handed, &judge_one);
            scope.spawn(move || loop {
                let (k, these) = {
                    let mut pending = pending.lock().unwrap_or_else(|e| e.into_inner());
                    let (units, next) = &mut *pending;
                    let these: Vec<Unit> = units.by_ref().take(chunk).collect();
                    *next += 1;
                    (*next - 1, these)
                };
                if these.is_empty() || stop.load(Ordering::Relaxed) {
                    break;
                }
                scheduled.fetch_add(these.len() as u64, Ordering::Relaxed);
                {
                    let (first, moved) = handed;
                    let mut first = first.lock().unwrap_or_else(|e| e.into_inner());
                    while k >= *first + ahead {
                        first = moved.wait(first).unwrap_or_else(|e| e.into_inner());
                    }
                }
                let outcome = catch_unwind(AssertUnwindSafe(|| judge_one(&these)));
                progress(these.len() as u64);
                if send.send((k, outcome)).is_err() {
                    break;
                }
            });
        }
        drop(send);
        let set_first = |value: usize| {
            let (lock, moved) = &handed;
            *lock.lock().unwrap_or_else(|e| e.into_inner()) = value;
            moved.notify_all();
        };
        let handing_on = catch_unwind(AssertUnwindSafe(|| {
            let mut waiting: BTreeMap<usize, Vec<Vec<CaseOutcome>>> = BTreeMap::new();
            let mut first = 0;
            for (k, outcome) in done.iter() {
                // A panic while judging is the run's panic, raised here.
                let outcome = outcome.unwrap_or_else(|panic| std::panic::resume_unwind(panic));
                waiting.insert(k, outcome);
                while let Some(per_unit) = waiting.remove(&first) {
                    for per_engine in per_unit {
                        for (e, outcome) in per_engine.into_iter().enumerate() {
                            sink(e, outcome);
                        }
                    }
                    first += 1;
                    set_first(first);
                }
            }
        }));
        if let Err(panic) = handing_on {
            // Let waiting workers go and take nothing new, then panic.
            stop.store(true, Ordering::Relaxed);
            set_first(usize::MAX / 2);
            std::panic::resume_unwind(panic);
        }
    });
    RunCounts {
        skipped: skipped.into_inner(),
        scheduled: scheduled.into_inner(),
    }
}

/// Judges the cases of one chunk on every engine (one batch per engine
/// that takes batches): for each case, each engine's outcome.
fn judge_chunk(
    engines: &[&dyn Engine],
    config: &ConformanceConfig,
    oracle: &Oracle,
    pitfalls: &[Pitfall],
    these: &[Unit],
    skipped: &AtomicU64,
) -> Vec<Vec<CaseOutcome>> {
    let with_hvp = engines.iter().any(|e| e.capabilities().hvp);
    let has = |s: Suite| config.suites.contains(&s);
    let prepared: Vec<Option<Prepared>> = these
        .iter()
        .map(|unit| {
            if config.deadline.is_some_and(|d| Instant::now() >= d) {
                skipped.fetch_add(1, Ordering::Relaxed);
                return None;
            }
            Some(match *unit {
                Unit::Replay(k) => prepare_replay(oracle, &config.corpus[k], with_hvp),
                Unit::Pitfall(k) => prepare_pitfall(oracle, &pitfalls[k], with_hvp),
                Unit::Generated(i) => {
                    let mut p = prepare_generated(config, oracle, i, with_hvp);
                    if !has(Suite::Generated) {
                        p.references.clear();
                    }
                    p
                }
            })
        })
        .collect();
    let mut out: Vec<Vec<CaseOutcome>> = prepared.iter().map(|_| Vec::new()).collect();
    for engine in engines {
        let served: Vec<Prefetched> = if engine.batch_limit() > 0 {
            let plans: Vec<_> = prepared
                .iter()
                .flatten()
                .map(|p| batch::plan(p, engine.capabilities(), has(Suite::Properties)))
                .collect();
            batch::prefetch(*engine, &plans)
        } else {
            Vec::new()
        };
        let mut served = served.into_iter();
        for (slot, prepared) in out.iter_mut().zip(&prepared) {
            let Some(prepared) = prepared else {
                slot.push(CaseOutcome::default());
                continue;
            };
            let on = served.next();
            let on: &dyn Engine = match &on {
                Some(prefetched) => prefetched,
                None => *engine,
            };
            let records = judge(on, prepared, oracle, has(Suite::Properties));
            let counterexamples = match prepared.index {
                Some(index) if prepared.suite == Suite::Generated => records
                    .iter()
                    .filter(|r| r.verdict == Outcome::Fail)
                    .map(|r| shrink_failure(*engine, config, oracle, index, r, with_hvp))
                    .collect(),
                _ => Vec::new(),
            };
            slot.push(CaseOutcome {
                records,
                counterexamples,
            });
        }
    }
    out
}

#[derive(Clone, Copy)]
enum Unit {
    Replay(usize),
    Pitfall(usize),
    Generated(u64),
}

/// Runs the configured suites on one engine.
pub fn check_engine(engine: &dyn Engine, config: &ConformanceConfig) -> ConformanceReport {
    run(&[engine], config, &|_| {}).pop().unwrap_or_default()
}

/// How a failure was first found by [`hunt`].
#[derive(Clone, Debug, PartialEq, Serialize)]
#[non_exhaustive]
pub struct Kill {
    /// The suite that found it.
    pub suite: Suite,
    /// The case.
    pub case: String,
    /// The check that failed.
    pub check: Check,
    /// The evidence.
    pub reason: String,
    /// Cases checked up to and including this one, in the suite order
    /// (corpus, catalogue, generated by index).
    pub cases_checked: u64,
    /// Wall time from the start of the hunt, in seconds.
    pub seconds: f64,
}

/// What [`hunt`] found.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
#[non_exhaustive]
pub struct HuntOutcome {
    /// The first failure in suite order, if any.
    pub first: Option<Kill>,
    /// The first failure among generated cases alone, if any.
    pub first_generated: Option<Kill>,
    /// That generated failure, shrunk.
    pub counterexample: Option<Counterexample>,
}

/// Looks for the first failure of `engine`, case by case in the canonical
/// order (corpus, catalogue, then generated cases by index), and separately
/// for the first failure among the generated cases, which it then shrinks.
/// Used to measure how fast the suites catch a planted bug.
pub fn hunt(engine: &dyn Engine, config: &ConformanceConfig) -> HuntOutcome {
    let oracle = Oracle::new(OracleConfig {
        seed: config.seed,
        ..config.oracle.clone()
    });
    let start = Instant::now();
    let with_hvp = engine.capabilities().hvp;
    let has = |s: Suite| config.suites.contains(&s);
    let pitfalls = catalogue();
    let mut outcome = HuntOutcome::default();
    let mut checked = 0u64;
    let kill = |prepared: &Prepared, checked: u64, properties: bool| -> Option<Kill> {
        judge(engine, prepared, &oracle, properties)
            .into_iter()
            .find(|r| r.verdict == Outcome::Fail)
            .map(|r| Kill {
                suite: r.suite,
                case: r.case,
                check: r.check,
                reason: r.reason,
                cases_checked: checked,
                seconds: start.elapsed().as_secs_f64(),
            })
    };
    if has(Suite::Corpus) {
        for replay in &config.corpus {
            checked += 1;
            if let Some(k) = kill(&prepare_replay(&oracle, replay, with_hvp), checked, false) {
                outcome.first.get_or_insert(k);
                break;
            }
        }
    }
    if has(Suite::Catalogue) && outcome.first.is_none() {
        for pitfall in &pitfalls {
            checked += 1;
            if let Some(k) = kill(&prepare_pitfall(&oracle, pitfall, with_hvp), checked, false) {
                outcome.first.get_or_insert(k);
                break;
            }
        }
    }
    if has(Suite::Generated) || has(Suite::Properties) {
        let before_generated = checked;
        for index in 0..config.cases {
            if config.deadline.is_some_and(|d| Instant::now() >= d) {
                break;
            }
            let mut prepared = prepare_generated(config, &oracle, index, with_hvp);
            if !has(Suite::Generated) {
                prepared.references.clear();
            }
            let records = judge(engine, &prepared, &oracle, has(Suite::Properties));
            if let Some(failed) = records.into_iter().find(|r| r.verdict == Outcome::Fail) {
                let k = Kill {
                    suite: failed.suite,
                    case: failed.case.clone(),
                    check: failed.check,
                    reason: failed.reason.clone(),
                    cases_checked: index + 1,
                    seconds: start.elapsed().as_secs_f64(),
                };
                if outcome.first.is_none() {
                    outcome.first = Some(Kill {
                        cases_checked: before_generated + index + 1,
                        ..k.clone()
                    });
                }
                outcome.counterexample = Some(shrink_failure(
                    engine, config, &oracle, index, &failed, with_hvp,
                ));
                outcome.first_generated = Some(k);
                break;
            }
        }
    }
    outcome
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn case_ids_read_back_what_they_write() {
        for id in [
            CaseId::Generated(0),
            CaseId::Generated(999_999),
            CaseId::Catalogue("sqrt_at_zero"),
            CaseId::Corpus("gen-147679-1126-fwd_over_rev-hvp"),
            CaseId::Other("hand-written"),
        ] {
            let text = id.to_string();
            assert_eq!(CaseId::parse(&text), id, "{text}");
        }
        assert_eq!(CaseId::Generated(7).to_string(), "gen-7");
        // A malformed index is not a generated case.
        assert_eq!(CaseId::parse("gen-x"), CaseId::Other("gen-x"));
    }

    #[test]
    fn checks_are_written_as_the_words_cases_csv_always_had() {
        let words = [
            (Check::Primal, "primal"),
            (Check::Jvp, "jvp"),
            (Check::Vjp, "vjp"),
            (Check::Gradient, "gradient"),
            (Check::Jacobian, "jacobian"),
            (Check::Hvp, "hvp"),
            (Check::Expected, "expected"),
            (Check::Property(Property::DotProduct), "dot_product"),
            (
                Check::Property(Property::ForwardReverseJacobian),
                "forward_reverse_jacobian",
            ),
        ];
        for (check, word) in words {
            assert_eq!(check.name(), word);
            assert_eq!(
                serde_json::to_string(&check).unwrap(),
                format!("\"{word}\"")
            );
            assert_eq!(
                serde_json::from_str::<Check>(&format!("\"{word}\"")).unwrap(),
                check
            );
        }
        for p in Property::ALL {
            assert_eq!(Check::from_name(p.name()), Some(Check::Property(p)));
        }
        let unknown = serde_json::from_str::<Check>("\"jvpp\"").unwrap_err();
        assert!(
            unknown.to_string().contains("unknown check `jvpp`"),
            "{unknown}"
        );
        // The Jacobian and the catalogue's expectation are never replayed.
        assert!(!Check::replayable().contains(&Check::Jacobian));
        assert!(!Check::replayable().contains(&Check::Expected));
    }
}
