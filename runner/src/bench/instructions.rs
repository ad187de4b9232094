//! `--instructions`: each method of the gradient experiment counted in
//! instructions under callgrind, one child process per row, beside the
//! CPU-time run. Instruction counts do not move with other load on the
//! machine (CPU-time ratios here vary by up to a third from run to run),
//! at the cost of valgrind's slowdown.

use crate::rows::{self, GradientInstructionsRow, GradientRow, RowWriter};
use anyhow::{bail, Context, Result};
use rayon::prelude::*;
use std::path::Path;
use std::process::Command;

/// Repetitions counted per method (after one uncounted warm-up); the
/// counts are exact, so few are needed.
const REPS: usize = 3;

/// Whether valgrind can be run.
pub fn valgrind_available() -> bool {
    Command::new("valgrind")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Counts every row of `out/gradient.csv` under callgrind and writes
/// `out/gradient_instructions.csv`.
pub fn count_gradient(out: &Path, quick: bool, peers: bool) -> Result<()> {
    let Some(timed) = rows::read::<GradientRow>(out)? else {
        bail!("--instructions counts the gradient experiment: run it too");
    };
    let exe = std::env::current_exe().context("finding adcheck-bench")?;
    // The children's own outputs and profiles, removed at the end.
    let scratch = out.join("callgrind-scratch");
    std::fs::create_dir_all(&scratch).context("a scratch folder")?;
    // One child per row, as many at once as there are cores: a count does
    // not depend on what else runs.
    let counts: Vec<Result<f64>> = timed
        .par_iter()
        .enumerate()
        .map(|(k, row)| count_row(&exe, &scratch, k, row, quick, peers))
        .collect();
    let mut w = RowWriter::<GradientInstructionsRow>::create(out)?;
    let mut primal = f64::NAN;
    for (row, count) in timed.iter().zip(counts) {
        let instructions = count?;
        if row.method == "primal" {
            primal = instructions;
        }
        w.write(&GradientInstructionsRow {
            problem: row.problem.clone(),
            n: row.n,
            method: row.method.clone(),
            instructions,
            ratio_to_primal: instructions / primal,
        })?;
    }
    std::fs::remove_dir_all(&scratch).ok();
    w.finish()
}

/// The instructions of one evaluation of `row`'s method, counted by a
/// child process under callgrind.
fn count_row(
    exe: &Path,
    scratch: &Path,
    k: usize,
    row: &GradientRow,
    quick: bool,
    peers: bool,
) -> Result<f64> {
    let profile = scratch.join(format!("callgrind.{k}"));
    let mut child = Command::new("valgrind");
    child
        .arg("--tool=callgrind")
        .arg("--collect-atstart=no")
        .arg("--toggle-collect=*callgrind_measured*")
        .arg(format!("--callgrind-out-file={}", profile.display()))
        .arg(exe)
        .arg("--experiment")
        .arg("gradient")
        .arg("--out")
        .arg(scratch.join(format!("child.{k}")))
        .arg("--child")
        .arg(format!("{},{},{},{REPS}", row.problem, row.n, row.method));
    if quick {
        child.arg("--quick");
    }
    if peers {
        child.arg("--peers");
    }
    let output = child.output().context("running valgrind")?;
    if !output.status.success() {
        bail!(
            "callgrind of {} n={} {} failed: {}",
            row.problem,
            row.n,
            row.method,
            String::from_utf8_lossy(&output.stderr)
                .lines()
                .last()
                .unwrap_or("")
        );
    }
    let instructions = total_instructions(&profile)? / REPS as f64;
    eprintln!(
        "  instructions {} n={} {}: {instructions:.0}",
        row.problem, row.n, row.method
    );
    Ok(instructions)
}

/// The `summary:` (or `totals:`) count of a callgrind profile.
fn total_instructions(profile: &Path) -> Result<f64> {
    let text = std::fs::read_to_string(profile)
        .with_context(|| format!("reading {}", profile.display()))?;
    text.lines()
        .find_map(|l| {
            l.strip_prefix("summary:")
                .or_else(|| l.strip_prefix("totals:"))
        })
        .and_then(|v| v.split_whitespace().next()?.parse::<f64>().ok())
        .with_context(|| format!("no instruction total in {}", profile.display()))
}
