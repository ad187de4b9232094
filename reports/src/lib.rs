//! CSV rows, summaries and terminal tables of adcheck runs.
//!
//! A run's outputs are deterministic by design. Rows come in the canonical
//! order, the order in which `run_streaming` hands them on: the corpus in
//! the order of its files, the catalogue in its order, generated cases by
//! index; for each case the engines in the order given, each engine's
//! checks in the order made. [`CaseWriter`] writes them as they come
//! without anything that varies between runs (timings go to a separate
//! file), and counters ([`TotalsCounter`], `Summarizer`) count them as they
//! come, so a run of any size holds none of them. So the same seed gives
//! byte-identical `cases.csv`, and shards merged with [`merge`] (which
//! streams too) give the same file as one unsharded run.

pub mod conformance;
mod table;
pub use table::{render_engine_summary, render_table};

use adcheck_suites::conformance::{CaseId, FailMeaning, Outcome, Record};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

/// Why a report could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// A CSV file is malformed.
    #[error("{path}: {source}")]
    Csv {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: csv::Error,
    },
    /// A JSON file is malformed.
    #[error("{path}: {source}")]
    Json {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: serde_json::Error,
    },
    /// Shards that do not belong together.
    #[error("cannot merge: {0}")]
    Mismatch(String),
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> ReportError + '_ {
    move |source| ReportError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Writes `records` (in the canonical order) as CSV.
pub fn write_cases(path: &Path, records: &[Record]) -> Result<(), ReportError> {
    let mut writer = CsvFile::create(path)?;
    for r in records {
        // `Record` leaves its timing out of serialisation.
        writer.serialize(r)?;
    }
    writer.finish()
}

/// Reads a `cases.csv`.
pub fn read_cases(path: &Path) -> Result<Vec<Record>, ReportError> {
    CaseRows::open(path)?.collect()
}

/// The rows of a `cases.csv`, read one at a time.
pub struct CaseRows {
    path: PathBuf,
    rows: csv::DeserializeRecordsIntoIter<fs::File, Record>,
}

impl CaseRows {
    /// Opens `path`.
    pub fn open(path: &Path) -> Result<CaseRows, ReportError> {
        let reader = csv::Reader::from_path(path).map_err(|source| ReportError::Csv {
            path: path.to_path_buf(),
            source,
        })?;
        Ok(CaseRows {
            path: path.to_path_buf(),
            rows: reader.into_deserialize(),
        })
    }
}

impl Iterator for CaseRows {
    type Item = Result<Record, ReportError>;

    fn next(&mut self) -> Option<Self::Item> {
        let row = self.rows.next()?;
        Some(row.map_err(|source| ReportError::Csv {
            path: self.path.clone(),
            source,
        }))
    }
}

/// A CSV file being written, its errors naming it.
struct CsvFile {
    path: PathBuf,
    writer: csv::Writer<fs::File>,
}

impl CsvFile {
    fn create(path: &Path) -> Result<CsvFile, ReportError> {
        let writer = csv::Writer::from_path(path).map_err(|source| ReportError::Csv {
            path: path.to_path_buf(),
            source,
        })?;
        Ok(CsvFile {
            path: path.to_path_buf(),
            writer,
        })
    }

    fn csv_error(&self, source: csv::Error) -> ReportError {
        ReportError::Csv {
            path: self.path.clone(),
            source,
        }
    }

    fn serialize(&mut self, r: &Record) -> Result<(), ReportError> {
        self.writer.serialize(r).map_err(|e| self.csv_error(e))
    }

    fn write_timings_header(&mut self) -> Result<(), ReportError> {
        self.writer
            .write_record(["case", "engine", "check", "seconds"])
            .map_err(|e| self.csv_error(e))
    }

    fn write_timing(&mut self, r: &Record) -> Result<(), ReportError> {
        self.writer
            .write_record([
                r.case.as_str(),
                r.engine.as_str(),
                r.check.name(),
                &format!("{:.9}", r.seconds),
            ])
            .map_err(|e| self.csv_error(e))
    }

    fn finish(mut self) -> Result<(), ReportError> {
        self.writer.flush().map_err(io(&self.path))
    }
}

/// `cases.csv` and `timings.csv` written row by row, as records arrive in
/// the canonical order, so a run of any size holds none
/// of them.
pub struct CaseWriter {
    cases: CsvFile,
    timings: CsvFile,
}

impl CaseWriter {
    /// Creates (or truncates) `cases.csv` and `timings.csv` in `dir`.
    pub fn create(dir: &Path) -> Result<CaseWriter, ReportError> {
        let cases = CsvFile::create(&dir.join("cases.csv"))?;
        let mut timings = CsvFile::create(&dir.join("timings.csv"))?;
        timings.write_timings_header()?;
        Ok(CaseWriter { cases, timings })
    }

    /// Appends `r` to both files.
    pub fn write(&mut self, r: &Record) -> Result<(), ReportError> {
        self.cases.serialize(r)?;
        self.timings.write_timing(r)
    }

    /// Flushes both files.
    pub fn finish(self) -> Result<(), ReportError> {
        self.cases.finish()?;
        self.timings.finish()
    }
}

/// Counts for one engine.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct EngineTotals {
    /// Passes.
    pub pass: usize,
    /// Admissible answers where the derivative is not one value (a kink,
    /// a tie, a domain edge).
    #[serde(default)]
    pub convention: usize,
    /// Failures.
    pub fail: usize,
    /// Failures by what they mean (`wrong`, `inaccurate`, `inconsistent`,
    /// `fault`; see `FailMeaning`).
    #[serde(default)]
    pub fail_by_meaning: BTreeMap<String, usize>,
    /// Failures that fail the run: all but the `inaccurate` ones, and those
    /// too when they keep fewer bits than `--min-bits`.
    #[serde(default)]
    pub failing_the_run: usize,
    /// Inconclusive results.
    pub inconclusive: usize,
    /// Inconclusive results by reason.
    pub inconclusive_by_reason: BTreeMap<String, usize>,
    /// Distinct generated cases checked.
    pub generated_cases: usize,
}

/// `summary.json`: what was run and what came of it.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    /// The seed.
    pub seed: u64,
    /// Generated cases asked for (before sharding).
    pub cases: u64,
    /// The shard, `K/N`.
    pub shard: String,
    /// The engines, in order.
    pub engines: Vec<String>,
    /// The suites run.
    pub suites: Vec<String>,
    /// Totals per engine.
    pub totals: BTreeMap<String, EngineTotals>,
    /// Replay files written for failures (relative to the output folder).
    pub failures: Vec<String>,
    /// Wall time of the run, in seconds.
    pub wall_seconds: f64,
    /// Cases scheduled but not started because the time budget ran out
    /// (their checks are in no file).
    #[serde(default)]
    pub skipped_cases: u64,
    /// `--min-bits`: inaccurate answers keeping fewer bits fail the run.
    #[serde(default)]
    pub min_bits: Option<f64>,
}

impl Summary {
    /// Recomputes the totals from `records` (in the canonical order).
    pub fn count(&mut self, records: &[Record]) {
        let mut counter = TotalsCounter::new(self.min_bits);
        for r in records {
            counter.add(r);
        }
        self.totals = counter.finish();
    }

    /// Failures over all engines.
    pub fn failures_total(&self) -> usize {
        self.totals.values().map(|t| t.fail).sum()
    }

    /// Failures that fail the run (exit status 1): every failure but the
    /// `inaccurate` ones that keep at least `--min-bits` bits (all of them
    /// without `--min-bits`).
    pub fn failing_the_run(&self) -> usize {
        self.totals.values().map(|t| t.failing_the_run).sum()
    }
}

/// The per-engine totals of a run, counted one record at a time in
/// constant memory. Records must come in the canonical order (each engine's
/// records of a case together), which is how
/// a generated case is counted once without keeping the cases seen.
#[derive(Clone, Debug, Default)]
pub struct TotalsCounter {
    min_bits: Option<f64>,
    totals: BTreeMap<String, EngineTotals>,
    last_generated: BTreeMap<String, String>,
}

impl TotalsCounter {
    /// A counter for a run under `--min-bits` `min_bits`.
    pub fn new(min_bits: Option<f64>) -> TotalsCounter {
        TotalsCounter {
            min_bits,
            ..TotalsCounter::default()
        }
    }

    /// Counts `r`.
    pub fn add(&mut self, r: &Record) {
        let t = self.totals.entry(r.engine.clone()).or_default();
        match r.verdict {
            Outcome::Pass => t.pass += 1,
            Outcome::Convention => t.convention += 1,
            Outcome::Fail => {
                t.fail += 1;
                let meaning = r.fail_meaning().unwrap_or(FailMeaning::Wrong);
                *t.fail_by_meaning
                    .entry(meaning.name().to_string())
                    .or_default() += 1;
                let below = |b: f64| r.bits.is_none_or(|bits| bits < b);
                if meaning.fails_the_run() || self.min_bits.is_some_and(below) {
                    t.failing_the_run += 1;
                }
            }
            Outcome::Inconclusive => {
                t.inconclusive += 1;
                *t.inconclusive_by_reason
                    .entry(r.reason.clone())
                    .or_default() += 1;
            }
        }
        if matches!(r.case_id(), CaseId::Generated(_)) {
            let last = self.last_generated.entry(r.engine.clone()).or_default();
            if *last != r.case {
                t.generated_cases += 1;
                last.clone_from(&r.case);
            }
        }
    }

    /// The totals counted.
    pub fn finish(self) -> BTreeMap<String, EngineTotals> {
        self.totals
    }
}

/// Writes `summary.json`.
pub fn write_summary(path: &Path, summary: &Summary) -> Result<(), ReportError> {
    let text = serde_json::to_string_pretty(summary).map_err(|source| ReportError::Json {
        path: path.to_path_buf(),
        source,
    })?;
    fs::write(path, text + "\n").map_err(io(path))
}

/// Reads `summary.json`.
pub fn read_summary(path: &Path) -> Result<Summary, ReportError> {
    let text = fs::read_to_string(path).map_err(io(path))?;
    serde_json::from_str(&text).map_err(|source| ReportError::Json {
        path: path.to_path_buf(),
        source,
    })
}

/// The shard `K/N` of a summary, if it is one shard of a campaign.
fn shard_of(summary: &Summary) -> Option<(u64, u64)> {
    let (k, n) = summary.shard.split_once('/')?;
    Some((k.parse().ok()?, n.parse().ok()?))
}

/// Checks that `summaries` are the shards of one campaign, each exactly
/// once and all of them: the same seed, cases, engines and suites, the
/// same shard count, every index from 0 to N−1.
fn check_shard_set(shards: &[PathBuf], summaries: &[Summary]) -> Result<(), ReportError> {
    let first = summaries
        .first()
        .ok_or_else(|| ReportError::Mismatch("no shard folders given".into()))?;
    let mut seen: BTreeMap<u64, &PathBuf> = BTreeMap::new();
    let mut count = None;
    for (dir, s) in shards.iter().zip(summaries) {
        if (s.seed, s.cases, &s.engines, &s.suites)
            != (first.seed, first.cases, &first.engines, &first.suites)
        {
            return Err(ReportError::Mismatch(format!(
                "{} is another campaign (seed, cases, engines or suites differ from {})",
                dir.display(),
                shards[0].display()
            )));
        }
        let (k, n) = shard_of(s).ok_or_else(|| {
            ReportError::Mismatch(format!(
                "{} is not the output of one shard (its shard is `{}`)",
                dir.display(),
                s.shard
            ))
        })?;
        match count {
            None => count = Some(n),
            Some(c) if c != n => {
                return Err(ReportError::Mismatch(format!(
                    "{} is shard {k}/{n}, but {} is one of {c} shards",
                    dir.display(),
                    shards[0].display()
                )))
            }
            Some(_) => {}
        }
        if let Some(other) = seen.insert(k, dir) {
            return Err(ReportError::Mismatch(format!(
                "shard {k}/{n} given twice ({} and {})",
                other.display(),
                dir.display()
            )));
        }
    }
    let n = count.unwrap_or(0);
    let missing: Vec<String> = (0..n)
        .filter(|k| !seen.contains_key(k))
        .map(|k| format!("{k}/{n}"))
        .collect();
    if !missing.is_empty() {
        return Err(ReportError::Mismatch(format!(
            "shards missing: {}",
            missing.join(", ")
        )));
    }
    Ok(())
}

/// Where a row goes in the canonical order: corpus, catalogue, then
/// generated cases by index; rows of a shard keep their order among equal
/// keys (the corpus and the catalogue are shard 0's alone).
type MergeKey = (u8, u64);

fn merge_key(case: &str) -> MergeKey {
    match CaseId::parse(case) {
        CaseId::Generated(index) => (2, index),
        CaseId::Corpus(_) => (0, 0),
        CaseId::Catalogue(_) | CaseId::Other(_) => (1, 0),
    }
}

/// One shard's `cases.csv` with its `timings.csv`, read in step.
struct ShardRows {
    dir: PathBuf,
    shard: u64,
    cases: CaseRows,
    timings_path: PathBuf,
    timings: csv::StringRecordsIntoIter<fs::File>,
    rows: usize,
    last: Option<MergeKey>,
}

impl ShardRows {
    fn open(dir: &Path, shard: u64) -> Result<ShardRows, ReportError> {
        let timings_path = dir.join("timings.csv");
        let timings = csv::Reader::from_path(&timings_path)
            .map_err(|source| ReportError::Csv {
                path: timings_path.clone(),
                source,
            })?
            .into_records();
        Ok(ShardRows {
            dir: dir.to_path_buf(),
            shard,
            cases: CaseRows::open(&dir.join("cases.csv"))?,
            timings_path,
            timings,
            rows: 0,
            last: None,
        })
    }

    /// The next row with its seconds, checked to be in order.
    fn next_row(&mut self) -> Result<Option<(MergeKey, Record)>, ReportError> {
        let Some(row) = self.cases.next().transpose()? else {
            return Ok(None);
        };
        let mut record = row;
        let timing = self
            .timings
            .next()
            .transpose()
            .map_err(|source| ReportError::Csv {
                path: self.timings_path.clone(),
                source,
            })?;
        record.seconds = timing
            .as_ref()
            .and_then(|t| t.get(3))
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| self.mismatch_timings())?;
        self.rows += 1;
        let key = merge_key(&record.case);
        if key.0 < 2 && self.shard != 0 {
            return Err(ReportError::Mismatch(format!(
                "{} has row `{}` of the corpus or catalogue, which only shard 0 runs",
                self.dir.display(),
                record.case
            )));
        }
        if self.last.is_some_and(|last| key < last) {
            return Err(ReportError::Mismatch(format!(
                "{}: cases.csv is not in the canonical order (row {} is case `{}`)",
                self.dir.display(),
                self.rows,
                record.case
            )));
        }
        self.last = Some(key);
        Ok(Some((key, record)))
    }

    fn mismatch_timings(&self) -> ReportError {
        ReportError::Mismatch(format!(
            "{} does not match cases.csv beside it at row {} (a row missing or without seconds)",
            self.timings_path.display(),
            self.rows + 1
        ))
    }

    /// Checks that no timing row is left over.
    fn finish(mut self) -> Result<(), ReportError> {
        if self.timings.next().is_some() {
            return Err(ReportError::Mismatch(format!(
                "{} has more rows than cases.csv beside it ({})",
                self.timings_path.display(),
                self.rows
            )));
        }
        Ok(())
    }
}

/// Merges the outputs of shard runs (each folder holding `cases.csv`,
/// `timings.csv` and `summary.json`) into `out`: the rows in canonical
/// order, their timings beside them, the summary recounted, the failure
/// files copied. The folders must be every shard of one campaign, each
/// once (else [`ReportError::Mismatch`], naming what is wrong).
pub fn merge(shards: &[PathBuf], out: &Path) -> Result<Summary, ReportError> {
    let mut summaries = Vec::new();
    for dir in shards {
        summaries.push(read_summary(&dir.join("summary.json"))?);
    }
    check_shard_set(shards, &summaries)?;
    let first = summaries[0].clone();
    fs::create_dir_all(out.join("failures")).map_err(io(out))?;
    let mut streams = Vec::new();
    for (dir, s) in shards.iter().zip(&summaries) {
        streams.push(ShardRows::open(dir, shard_of(s).map_or(0, |(k, _)| k))?);
    }
    let mut writer = CaseWriter::create(out)?;
    let mut counter = TotalsCounter::new(first.min_bits);
    let mut heads: Vec<Option<(MergeKey, Record)>> = Vec::new();
    for stream in &mut streams {
        heads.push(stream.next_row()?);
    }
    // Each shard's rows are in the canonical order and a case is in one
    // shard only, so taking the least head each time is that order.
    while let Some(s) = heads
        .iter()
        .enumerate()
        .filter_map(|(s, head)| head.as_ref().map(|(key, _)| (*key, s)))
        .min()
        .map(|(_, s)| s)
    {
        let (_, record) = heads[s].take().expect("the least head is there");
        writer.write(&record)?;
        counter.add(&record);
        heads[s] = streams[s].next_row()?;
    }
    for stream in streams {
        stream.finish()?;
    }
    writer.finish()?;
    let mut failures = Vec::new();
    for (dir, s) in shards.iter().zip(&summaries) {
        for f in &s.failures {
            let target = out.join(f);
            fs::copy(dir.join(f), &target).map_err(io(&target))?;
            failures.push(f.clone());
        }
    }
    failures.sort();
    let mut merged = Summary {
        shard: format!("merged from {} shards", shards.len()),
        failures,
        wall_seconds: summaries.iter().map(|s| s.wall_seconds).sum(),
        skipped_cases: summaries.iter().map(|s| s.skipped_cases).sum(),
        ..first
    };
    merged.totals = counter.finish();
    write_summary(&out.join("summary.json"), &merged)?;
    Ok(merged)
}

#[cfg(test)]
mod tests {
    use super::*;
    use adcheck_suites::conformance::{Check, Suite};

    fn record(verdict: Outcome, meaning: Option<FailMeaning>, reason: &str) -> Record {
        Record {
            case: "gen-1".into(),
            suite: Suite::Generated,
            family: "kinks".into(),
            engine: "planted".into(),
            check: Check::Jvp,
            verdict,
            meaning,
            bits: Some(40.5),
            ulps: None,
            reason: reason.into(),
            seconds: 0.0,
            failed_entry: None,
            process_fault: None,
        }
    }

    #[test]
    fn cases_csv_carries_verdicts_and_meanings_and_reads_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cases.csv");
        let records = vec![
            record(Outcome::Pass, None, ""),
            record(
                Outcome::Convention,
                None,
                "got 1e0: generalized gradient [-1e0, 1e0] (declared 0e0)",
            ),
            record(
                Outcome::Fail,
                Some(FailMeaning::Inaccurate),
                "expected 1e0, got 1.0000001e0",
            ),
            record(
                Outcome::Fail,
                Some(FailMeaning::Wrong),
                "the derivative diverges here",
            ),
        ];
        write_cases(&path, &records).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[0],
            "case,suite,family,engine,check,verdict,meaning,bits,ulps,reason"
        );
        assert_eq!(lines[1], "gen-1,generated,kinks,planted,jvp,pass,,40.5,,");
        assert!(lines[3].starts_with("gen-1,generated,kinks,planted,jvp,fail,inaccurate,40.5,,"));
        assert_eq!(read_cases(&path).unwrap(), records);
        // The totals keep the four verdicts apart, and an inaccurate
        // failure fails the run only under --min-bits.
        let mut summary = Summary::default();
        summary.count(&records);
        let t = &summary.totals["planted"];
        assert_eq!((t.pass, t.convention, t.fail), (1, 1, 2));
        assert_eq!(summary.failing_the_run(), 1);
        let mut strict = Summary {
            min_bits: Some(45.0),
            ..Summary::default()
        };
        strict.count(&records);
        assert_eq!(strict.failing_the_run(), 2);
    }
}
