//! The rows of the bench's CSV files as typed records: the experiments
//! write them and the report reads them back through the same structs, so
//! a column renamed or reordered on one side cannot be missed on the other.
//!
//! Numbers are written in fixed formats (seconds with 7 significant digits,
//! spreads to 3 places, ratios to 4) so the files stay readable and diffable.

use anyhow::{Context, Result};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize, Serializer};
use std::fs::File;
use std::path::Path;

/// A CSV file of the bench: its name and its row type.
pub trait BenchRow: Serialize + DeserializeOwned {
    /// The file's name in the output folder.
    const FILE: &'static str;
}

/// Seconds (and other wide-ranging figures) as `1.234568e-3`.
fn seconds<S: Serializer>(v: &f64, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&format!("{v:.6e}"))
}

/// An optional figure of [`seconds`]' format; empty when absent.
fn optional_seconds<S: Serializer>(v: &Option<f64>, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&v.map_or_else(String::new, |v| format!("{v:.6e}")))
}

/// A spread (relative) to 3 places.
fn spread<S: Serializer>(v: &f64, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&format!("{v:.3}"))
}

/// A ratio to 4 places.
fn ratio<S: Serializer>(v: &f64, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&format!("{v:.4}"))
}

/// An optional ratio to 4 places; empty when absent.
fn optional_ratio<S: Serializer>(v: &Option<f64>, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&v.map_or_else(String::new, |v| format!("{v:.4}")))
}

/// One method on one problem size of the `gradient` experiment.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct GradientRow {
    /// The problem (`rosenbrock`, `logsumexp`, …).
    pub problem: String,
    /// Its number of inputs.
    pub n: usize,
    /// The method (`primal`, `reverse`, `forward_per_direction`, …).
    pub method: String,
    /// CPU seconds of one evaluation (median over rounds).
    #[serde(serialize_with = "seconds")]
    pub seconds: f64,
    /// The rounds' spread relative to the median.
    #[serde(serialize_with = "spread")]
    pub spread: f64,
    /// `seconds` over the primal's, measured in the same rounds.
    #[serde(serialize_with = "ratio")]
    pub ratio_to_primal: f64,
}

impl BenchRow for GradientRow {
    const FILE: &'static str = "gradient.csv";
}

/// One method on one problem size of the `gradient` experiment, counted in
/// instructions under callgrind (`--instructions`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct GradientInstructionsRow {
    /// The problem.
    pub problem: String,
    /// Its number of inputs.
    pub n: usize,
    /// The method.
    pub method: String,
    /// Instructions of one evaluation (the mean of a few counted ones).
    #[serde(serialize_with = "seconds")]
    pub instructions: f64,
    /// `instructions` over the primal's.
    #[serde(serialize_with = "ratio")]
    pub ratio_to_primal: f64,
}

impl BenchRow for GradientInstructionsRow {
    const FILE: &'static str = "gradient_instructions.csv";
}

/// One method on one shape of the `nm` experiment (full Jacobians).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NmRow {
    /// The sweep the shape belongs to (`n (m = 1)`, `m (n = 1)`, `n = m`).
    pub sweep: String,
    /// Inputs.
    pub n: usize,
    /// Outputs.
    pub m: usize,
    /// The method.
    pub method: String,
    /// CPU seconds of one full Jacobian.
    #[serde(serialize_with = "seconds")]
    pub seconds: f64,
    /// The rounds' spread relative to the median.
    #[serde(serialize_with = "spread")]
    pub spread: f64,
    /// `seconds` over the primal's.
    #[serde(serialize_with = "ratio")]
    pub ratio_to_primal: f64,
}

impl BenchRow for NmRow {
    const FILE: &'static str = "nm.csv";
}

/// One schedule on one length of the `checkpoint` experiment.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CheckpointRow {
    /// The stepped problem (`rk4`, `gru`).
    pub problem: String,
    /// Its number of steps L.
    pub steps: usize,
    /// The schedule (`plain_tape`, `store_all`, `uniform_sqrt`, `binomial_s10`).
    pub schedule: String,
    /// Peak bytes of tape.
    pub tape_bytes: u64,
    /// Peak bytes of checkpoints.
    pub checkpoint_bytes: u64,
    /// Their sum.
    pub total_bytes: u64,
    /// The allocator's peak during the run.
    pub allocator_peak_bytes: u64,
    /// Steps recomputed without taping.
    pub untaped_steps: u64,
    /// The fewest recomputations any schedule with these snapshots needs
    /// (binomial schedules; 0 otherwise).
    pub minimum_untaped_steps: u64,
    /// CPU seconds of one gradient.
    #[serde(serialize_with = "seconds")]
    pub seconds: f64,
    /// `seconds` over store-all's.
    #[serde(serialize_with = "ratio")]
    pub time_vs_store_all: f64,
}

impl BenchRow for CheckpointRow {
    const FILE: &'static str = "checkpoint.csv";
}

/// One problem of the `second` experiment (H·v against one gradient).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SecondRow {
    /// The problem.
    pub problem: String,
    /// Its number of inputs.
    pub n: usize,
    /// CPU seconds of one gradient.
    #[serde(serialize_with = "seconds")]
    pub gradient_seconds: f64,
    /// CPU seconds of one H·v.
    #[serde(serialize_with = "seconds")]
    pub hvp_seconds: f64,
    /// Their ratio.
    #[serde(serialize_with = "ratio")]
    pub hvp_over_gradient: f64,
    /// CPU seconds of the full Hessian (small problems only).
    #[serde(serialize_with = "optional_seconds")]
    pub hessian_seconds: Option<f64>,
    /// Its ratio to one gradient.
    #[serde(serialize_with = "optional_ratio")]
    pub hessian_over_gradient: Option<f64>,
    /// CPU seconds of the source engine's gradient (compiled once).
    #[serde(serialize_with = "optional_seconds", default)]
    pub source_gradient_seconds: Option<f64>,
    /// CPU seconds of its H·v, the compiled tangent of the adjoint.
    #[serde(serialize_with = "optional_seconds", default)]
    pub source_hvp_seconds: Option<f64>,
    /// The same H·v in the register interpreter.
    #[serde(serialize_with = "optional_seconds", default)]
    pub source_hvp_interpreted_seconds: Option<f64>,
    /// The source engine's H·v over its gradient.
    #[serde(serialize_with = "optional_ratio", default)]
    pub source_hvp_over_gradient: Option<f64>,
}

impl BenchRow for SecondRow {
    const FILE: &'static str = "second.csv";
}

/// One program size and quantity of the `scale` experiment's oracle part.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ScaleOracleRow {
    /// The program's shape (`chain`, `wide`).
    pub shape: String,
    /// Its operations.
    pub operations: usize,
    /// Its inputs.
    pub inputs: usize,
    /// The reference computed (`gradient`, `jvp`).
    pub quantity: String,
    /// CPU seconds of one reference.
    #[serde(serialize_with = "seconds")]
    pub cpu_seconds: f64,
    /// The same per operation.
    #[serde(serialize_with = "seconds")]
    pub cpu_seconds_per_operation: f64,
}

impl BenchRow for ScaleOracleRow {
    const FILE: &'static str = "scale_oracle.csv";
}

/// One schedule and size of the `scale` experiment's checkpointing part.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ScaleCheckpointedRow {
    /// The schedule.
    pub schedule: String,
    /// The chain's operations.
    pub operations: usize,
    /// Its steps.
    pub steps: usize,
    /// Steps advanced, untaped and taped.
    pub accounted_steps: u64,
    /// CPU seconds of one VJP.
    #[serde(serialize_with = "seconds")]
    pub cpu_seconds: f64,
    /// The same per accounted step.
    #[serde(serialize_with = "seconds")]
    pub cpu_seconds_per_accounted_step: f64,
}

impl BenchRow for ScaleCheckpointedRow {
    const FILE: &'static str = "scale_checkpointed.csv";
}

/// Writes rows of one type to its file in `out`, row by row as they come.
pub struct RowWriter<R: BenchRow> {
    writer: csv::Writer<File>,
    _row: std::marker::PhantomData<R>,
}

impl<R: BenchRow> RowWriter<R> {
    /// Creates (truncates) `out/R::FILE`.
    pub fn create(out: &Path) -> Result<Self> {
        let path = out.join(R::FILE);
        let writer = csv::Writer::from_path(&path)
            .with_context(|| format!("creating {}", path.display()))?;
        Ok(RowWriter {
            writer,
            _row: std::marker::PhantomData,
        })
    }

    /// Appends one row (the header comes with the first).
    pub fn write(&mut self, row: &R) -> Result<()> {
        self.writer.serialize(row)?;
        Ok(())
    }

    /// Flushes the file.
    pub fn finish(mut self) -> Result<()> {
        self.writer.flush()?;
        Ok(())
    }
}

/// The rows of `out/R::FILE`, or `None` when the experiment did not run.
pub fn read<R: BenchRow>(out: &Path) -> Result<Option<Vec<R>>> {
    let path = out.join(R::FILE);
    if !path.exists() {
        return Ok(None);
    }
    let mut reader =
        csv::Reader::from_path(&path).with_context(|| format!("reading {}", path.display()))?;
    let rows = reader
        .deserialize()
        .collect::<Result<Vec<R>, _>>()
        .with_context(|| format!("reading {}", path.display()))?;
    Ok(Some(rows))
}

/// The header and cells of `rows` as they are written to the CSV (for the
/// report's tables).
pub fn cells<R: Serialize>(rows: &[R]) -> Result<(Vec<String>, Vec<Vec<String>>)> {
    let mut writer = csv::Writer::from_writer(Vec::new());
    for row in rows {
        writer.serialize(row)?;
    }
    let bytes = writer.into_inner().context("writing a table")?;
    let mut reader = csv::Reader::from_reader(bytes.as_slice());
    let header = reader.headers()?.iter().map(str::to_string).collect();
    let body = reader
        .records()
        .map(|r| r.map(|r| r.iter().map(str::to_string).collect()))
        .collect::<Result<_, _>>()?;
    Ok((header, body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_write_the_columns_and_formats_the_report_reads_back() {
        let dir = std::env::temp_dir().join(format!("adcheck-rows-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let mut w = RowWriter::<SecondRow>::create(&dir).unwrap();
        w.write(&SecondRow {
            problem: "rk4".into(),
            n: 4,
            gradient_seconds: 1.5e-3,
            hvp_seconds: 2.25e-3,
            hvp_over_gradient: 1.5,
            hessian_seconds: None,
            hessian_over_gradient: None,
            source_gradient_seconds: Some(5e-4),
            source_hvp_seconds: Some(1e-3),
            source_hvp_interpreted_seconds: Some(3e-3),
            source_hvp_over_gradient: Some(2.0),
        })
        .unwrap();
        w.finish().unwrap();
        let text = std::fs::read_to_string(dir.join("second.csv")).unwrap();
        assert_eq!(
            text,
            "problem,n,gradient_seconds,hvp_seconds,hvp_over_gradient,hessian_seconds,hessian_over_gradient,\
             source_gradient_seconds,source_hvp_seconds,source_hvp_interpreted_seconds,source_hvp_over_gradient\n\
             rk4,4,1.500000e-3,2.250000e-3,1.5000,,,5.000000e-4,1.000000e-3,3.000000e-3,2.0000\n"
        );
        let back = read::<SecondRow>(&dir).unwrap().unwrap();
        assert_eq!(back.len(), 1);
        assert_eq!(back[0].hvp_over_gradient, 1.5);
        assert_eq!(back[0].hessian_seconds, None);
        assert_eq!(back[0].source_hvp_interpreted_seconds, Some(3e-3));
        let (header, body) = cells(&back).unwrap();
        assert_eq!(header[0], "problem");
        assert_eq!(body[0][2], "1.500000e-3");
        // A file written before the source columns still reads.
        std::fs::write(
            dir.join("second.csv"),
            "problem,n,gradient_seconds,hvp_seconds,hvp_over_gradient,hessian_seconds,hessian_over_gradient\n\
             rk4,4,1.500000e-3,2.250000e-3,1.5000,,\n",
        )
        .unwrap();
        let old = read::<SecondRow>(&dir).unwrap().unwrap();
        assert_eq!(
            (old[0].hvp_seconds, old[0].source_hvp_seconds),
            (2.25e-3, None)
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
