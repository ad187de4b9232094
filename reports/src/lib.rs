//! CSV rows, summaries and terminal tables of adcheck runs.
//!
//! A run's outputs are deterministic by design: [`ordered`] fixes the order
//! of rows (corpus, then catalogue, then generated cases by index; engines in
//! the order given), and [`write_cases`] writes them without anything that
//! varies between runs (timings go to a separate file). So the same seed
//! gives byte-identical `cases.csv`, and shards merged with [`merge`] give
//! the same file as one unsharded run.

pub mod conformance;
mod table;
pub use table::{render_engine_summary, render_table};

use adcheck_suites::conformance::{FailMeaning, Record};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
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

/// The position of a case in the canonical order: saved cases first, then
/// the catalogue (both in the order first seen), then generated cases by
/// index.
fn case_rank(case: &str, first_seen: &HashMap<String, usize>) -> (u8, u64) {
    if let Some(index) = case.strip_prefix("gen-").and_then(|i| i.parse().ok()) {
        return (2, index);
    }
    let group = if case.starts_with("corpus-") { 0 } else { 1 };
    (
        group,
        first_seen.get(case).copied().unwrap_or(usize::MAX) as u64,
    )
}

/// Puts records in the canonical order: by case, then by engine in the
/// order of `engines`, keeping each engine's records for a case in the
/// order they were made.
pub fn ordered(records: impl IntoIterator<Item = Record>, engines: &[String]) -> Vec<Record> {
    let records: Vec<Record> = records.into_iter().collect();
    let mut first_seen = HashMap::new();
    for r in &records {
        let next = first_seen.len();
        first_seen.entry(r.case.clone()).or_insert(next);
    }
    let engine_rank = |e: &str| engines.iter().position(|x| x == e).unwrap_or(usize::MAX);
    /// Case rank, engine rank, original position.
    type Key = ((u8, u64), usize, usize);
    let mut keyed: Vec<(Key, Record)> = records
        .into_iter()
        .enumerate()
        .map(|(seq, r)| {
            (
                (case_rank(&r.case, &first_seen), engine_rank(&r.engine), seq),
                r,
            )
        })
        .collect();
    keyed.sort_by_key(|(k, _)| *k);
    keyed.into_iter().map(|(_, r)| r).collect()
}

/// Writes `records` (already [`ordered`]) as CSV.
pub fn write_cases(path: &Path, records: &[Record]) -> Result<(), ReportError> {
    let csv_error = |source| ReportError::Csv {
        path: path.to_path_buf(),
        source,
    };
    let mut writer = csv::Writer::from_path(path).map_err(csv_error)?;
    for r in records {
        // `Record` leaves its timing out of serialisation.
        writer.serialize(r).map_err(csv_error)?;
    }
    writer.flush().map_err(io(path))
}

/// Reads a `cases.csv`.
pub fn read_cases(path: &Path) -> Result<Vec<Record>, ReportError> {
    let csv_error = |source| ReportError::Csv {
        path: path.to_path_buf(),
        source,
    };
    let mut reader = csv::Reader::from_path(path).map_err(csv_error)?;
    reader
        .deserialize::<Record>()
        .map(|row| row.map_err(csv_error))
        .collect()
}

/// Writes the timing of each record (not deterministic, so kept apart).
pub fn write_timings(path: &Path, records: &[Record]) -> Result<(), ReportError> {
    let csv_error = |source| ReportError::Csv {
        path: path.to_path_buf(),
        source,
    };
    let mut writer = csv::Writer::from_path(path).map_err(csv_error)?;
    writer
        .write_record(["case", "engine", "check", "seconds"])
        .map_err(csv_error)?;
    for r in records {
        writer
            .write_record([&r.case, &r.engine, &r.check, &format!("{:.9}", r.seconds)])
            .map_err(csv_error)?;
    }
    writer.flush().map_err(io(path))
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
    /// Recomputes the totals from `records`.
    pub fn count(&mut self, records: &[Record]) {
        self.totals.clear();
        let mut generated: BTreeMap<String, std::collections::BTreeSet<String>> = BTreeMap::new();
        for r in records {
            let t = self.totals.entry(r.engine.clone()).or_default();
            match r.verdict.as_str() {
                "pass" => t.pass += 1,
                "convention" => t.convention += 1,
                "fail" => {
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
                _ => {
                    t.inconclusive += 1;
                    *t.inconclusive_by_reason
                        .entry(r.reason.clone())
                        .or_default() += 1;
                }
            }
            if r.case.starts_with("gen-") {
                generated
                    .entry(r.engine.clone())
                    .or_default()
                    .insert(r.case.clone());
            }
        }
        for (engine, cases) in generated {
            if let Some(t) = self.totals.get_mut(&engine) {
                t.generated_cases = cases.len();
            }
        }
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

/// Reads a `timings.csv`: the seconds of each row, in file order.
pub fn read_timings(path: &Path) -> Result<Vec<f64>, ReportError> {
    let csv_error = |source| ReportError::Csv {
        path: path.to_path_buf(),
        source,
    };
    let mut reader = csv::Reader::from_path(path).map_err(csv_error)?;
    let mut seconds = Vec::new();
    for row in reader.records() {
        let row = row.map_err(csv_error)?;
        let value = row.get(3).and_then(|s| s.parse().ok()).ok_or_else(|| {
            ReportError::Mismatch(format!("{}: a row without seconds", path.display()))
        })?;
        seconds.push(value);
    }
    Ok(seconds)
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
    let mut records = Vec::new();
    for dir in shards {
        let mut rows = read_cases(&dir.join("cases.csv"))?;
        let timings_path = dir.join("timings.csv");
        let seconds = read_timings(&timings_path)?;
        if seconds.len() != rows.len() {
            return Err(ReportError::Mismatch(format!(
                "{} has {} rows but cases.csv beside it has {}",
                timings_path.display(),
                seconds.len(),
                rows.len()
            )));
        }
        for (r, s) in rows.iter_mut().zip(seconds) {
            r.seconds = s;
        }
        records.extend(rows);
    }
    fs::create_dir_all(out.join("failures")).map_err(io(out))?;
    let records = ordered(records, &first.engines);
    write_cases(&out.join("cases.csv"), &records)?;
    write_timings(&out.join("timings.csv"), &records)?;
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
    merged.count(&records);
    write_summary(&out.join("summary.json"), &merged)?;
    Ok(merged)
}

#[cfg(test)]
mod tests {
    use super::*;
    use adcheck_suites::conformance::Suite;

    fn record(verdict: &str, meaning: Option<FailMeaning>, reason: &str) -> Record {
        Record {
            case: "gen-1".into(),
            suite: Suite::Generated,
            family: "kinks".into(),
            engine: "planted".into(),
            check: "jvp".into(),
            verdict: verdict.into(),
            meaning,
            bits: Some(40.5),
            ulps: None,
            reason: reason.into(),
            seconds: 0.0,
            failed_entry: None,
        }
    }

    #[test]
    fn cases_csv_carries_verdicts_and_meanings_and_reads_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cases.csv");
        let records = vec![
            record("pass", None, ""),
            record(
                "convention",
                None,
                "got 1e0: generalized gradient [-1e0, 1e0] (declared 0e0)",
            ),
            record(
                "fail",
                Some(FailMeaning::Inaccurate),
                "expected 1e0, got 1.0000001e0",
            ),
            record(
                "fail",
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
