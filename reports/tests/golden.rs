//! Golden files: the Markdown conformance report and the merged
//! `cases.csv` of a fixed run, byte for byte, so a change to what a report
//! says or how a file is written shows up as a diff to review. Rewrite
//! them after an intended change with `ADCHECK_BLESS=1 cargo test -p
//! adcheck-reports --test golden`.

use adcheck_engines::forward::ForwardEngine;
use adcheck_engines::{Capabilities, Derivative, Engine, EngineError, Program};
use adcheck_reports::conformance::ConformanceDocument;
use adcheck_reports::{merge, write_summary, CaseWriter, Summary, TotalsCounter};
use adcheck_suites::conformance::{check_engine, ConformanceConfig, Shard, Suite};
use std::path::{Path, PathBuf};

/// The forward engine with one planted bug: J·v of any program using
/// `sin` is 0.1% off.
struct SinOff;

impl Engine for SinOff {
    fn name(&self) -> &str {
        "sin-off"
    }
    fn capabilities(&self) -> Capabilities {
        ForwardEngine.capabilities()
    }
    fn jvp(&self, p: &Program, x: &[f64], v: &[f64]) -> Result<Derivative, EngineError> {
        let mut d = ForwardEngine.jvp(p, x, v)?;
        if p.to_string().contains("= sin ") {
            d.derivative.iter_mut().for_each(|t| *t *= 1.001);
        }
        Ok(d)
    }
    fn vjp(&self, p: &Program, x: &[f64], u: &[f64]) -> Result<Derivative, EngineError> {
        ForwardEngine.vjp(p, x, u)
    }
}

/// A fixed run: 40 generated cases and the catalogue, shrinking bounded by
/// candidates only (never by time, so the result does not depend on the
/// machine's load).
fn config(shard: Shard) -> ConformanceConfig {
    ConformanceConfig {
        cases: 40,
        seed: 7,
        suites: vec![Suite::Generated, Suite::Catalogue],
        shard,
        shrink_seconds: 1e9,
        ..ConformanceConfig::default()
    }
}

fn golden(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(name)
}

/// `actual` is the golden file `name` (or becomes it, under ADCHECK_BLESS).
fn assert_golden(name: &str, actual: &str) {
    let path = golden(name);
    if std::env::var_os("ADCHECK_BLESS").is_some() {
        std::fs::write(&path, actual).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (bless with ADCHECK_BLESS=1)", path.display()));
    if expected != actual {
        let line = expected
            .lines()
            .zip(actual.lines())
            .position(|(a, b)| a != b)
            .unwrap_or(expected.lines().count().min(actual.lines().count()));
        panic!(
            "{} differs from the golden file from line {} on:\n  golden: {:?}\n  now:    {:?}\n(bless an intended change with ADCHECK_BLESS=1)",
            path.display(),
            line + 1,
            expected.lines().nth(line),
            actual.lines().nth(line)
        );
    }
}

#[test]
fn the_markdown_report_of_a_fixed_run_is_the_golden_one() {
    let report = check_engine(&SinOff, &config(Shard::default()));
    let document = ConformanceDocument {
        engine: "sin-off",
        description: "The forward engine with a planted bug in J·v through `sin`.",
        command: "reports/tests/golden.rs",
        seed: 7,
        cases: 40,
        wall_seconds: 1.0,
        skipped_cases: 0,
        report: &report,
        catalogue: &[],
        failures_dir: "failures",
        engine_command: "cargo xtask conformance --engine sin-off",
        corpus: &[],
    };
    assert_golden("conformance.md", &document.markdown());
}

/// Writes the outputs `report merge` reads for one shard of the fixed run.
fn write_shard(dir: &Path, shard: Shard) {
    std::fs::create_dir_all(dir.join("failures")).unwrap();
    let report = check_engine(&SinOff, &config(shard));
    let mut writer = CaseWriter::create(dir).unwrap();
    let mut counter = TotalsCounter::new(None);
    for r in &report.records {
        writer.write(r).unwrap();
        counter.add(r);
    }
    writer.finish().unwrap();
    let summary = Summary {
        seed: 7,
        cases: 40,
        shard: format!("{}/{}", shard.index, shard.count),
        engines: vec!["sin-off".into()],
        suites: vec!["generated".into(), "catalogue".into()],
        totals: counter.finish(),
        ..Summary::default()
    };
    write_summary(&dir.join("summary.json"), &summary).unwrap();
}

#[test]
fn two_shards_merge_into_the_golden_cases_csv() {
    let dir = tempfile::tempdir().unwrap();
    let shards: Vec<PathBuf> = (0..2)
        .map(|index| {
            let shard_dir = dir.path().join(format!("shard-{index}"));
            write_shard(&shard_dir, Shard { index, count: 2 });
            shard_dir
        })
        .collect();
    let out = dir.path().join("merged");
    merge(&shards, &out).unwrap();
    assert_golden(
        "merged-cases.csv",
        &std::fs::read_to_string(out.join("cases.csv")).unwrap(),
    );
}
