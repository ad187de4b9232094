//! Runs against engines that misbehave on purpose (a hang on one function,
//! a crash every k messages, a huge line from every new process, megabytes
//! of standard error) end within a bound set by the timeout and the case
//! count, name every fault, and write every output.
//!
//! The bounds are generous on purpose (slow debug builds, a loaded
//! machine); what they catch is a run that pays the timeout once per call,
//! or once per shrinking candidate, instead of about once per case.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

const ENGINE: &str = env!("CARGO_BIN_EXE_misbehaving-engine");

/// What one run gave.
struct Run {
    status: i32,
    elapsed: Duration,
    stdout: String,
    cases_csv: String,
}

/// `adcheck conformance` of the misbehaving engine with `engine_args`,
/// then `args`, writing into `out`.
fn conformance(engine_args: &str, args: &[&str], out: &Path) -> Run {
    let started = Instant::now();
    let output = Command::new(env!("CARGO_BIN_EXE_adcheck"))
        .args(["conformance", "--engine-cmd"])
        .arg(format!("{ENGINE} {engine_args}"))
        .args(["--seed", "5", "--out"])
        .arg(out)
        .args(args)
        .output()
        .expect("adcheck runs");
    let elapsed = started.elapsed();
    for file in [
        "cases.csv",
        "timings.csv",
        "summary.json",
        "table.txt",
        "conformance.md",
        "conformance.html",
        "conformance.csv",
    ] {
        assert!(
            out.join(file).is_file(),
            "{file} not written; stderr: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    Run {
        status: output.status.code().unwrap_or(-1),
        elapsed,
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        cases_csv: std::fs::read_to_string(out.join("cases.csv")).unwrap(),
    }
}

/// The `(check, verdict, reason)` of every row of cases.csv.
fn rows(csv: &str) -> Vec<(String, String, String)> {
    let mut reader = csv::Reader::from_reader(csv.as_bytes());
    let headers = reader.headers().unwrap().clone();
    let column = |name: &str| headers.iter().position(|h| h == name).unwrap();
    let (check, verdict, reason) = (column("check"), column("verdict"), column("reason"));
    reader
        .records()
        .map(|r| {
            let r = r.unwrap();
            (
                r[check].to_string(),
                r[verdict].to_string(),
                r[reason].to_string(),
            )
        })
        .collect()
}

/// Seconds a misbehaving engine may add to one case: one timed-out answer
/// and the handshakes of two fresh processes (each up to two timeouts).
fn per_case_bound(timeout: f64) -> f64 {
    5.0 * timeout
}

#[test]
fn a_hang_on_one_function_costs_about_one_timeout_per_case() {
    let dir = tempfile::tempdir().unwrap();
    let cases = 6;
    let run = conformance(
        "--fault hang --every --at 1 --function gradient",
        &[
            "--timeout",
            "1",
            "--cases",
            "6",
            "--suite",
            "generated",
            "--suite",
            "properties",
        ],
        dir.path(),
    );
    assert_eq!(run.status, 1, "{}", run.stdout);
    let bound = 20.0 + cases as f64 * per_case_bound(1.0);
    assert!(
        run.elapsed.as_secs_f64() < bound,
        "{:?} (bound {bound} s)",
        run.elapsed
    );
    let rows = rows(&run.cases_csv);
    let faults: Vec<_> = rows.iter().filter(|r| r.1 == "fail").collect();
    assert!(!faults.is_empty());
    // Every failure is the timeout, at most one per case, never shrunk.
    assert!(
        faults.iter().all(|r| r.2.starts_with("engine_timeout")),
        "{faults:?}"
    );
    assert!(faults.len() <= cases, "{faults:?}");
    assert!(rows.iter().any(|r| r.2 == "not_run_after_fault"));
    assert!(
        rows.iter().any(|r| r.1 == "pass"),
        "answers before the hang"
    );
    assert!(run.stdout.contains("not shrunk (a process fault"));
    let failures = std::fs::read_dir(dir.path().join("failures")).unwrap();
    assert_eq!(failures.count(), faults.len());
}

#[test]
fn a_time_budget_bounds_a_run_with_a_hanging_engine() {
    let dir = tempfile::tempdir().unwrap();
    let budget = 3.0;
    let run = conformance(
        "--fault hang --every --at 1 --function gradient",
        &["--timeout", "1", "--cases", "100000", "--time-budget", "3"],
        dir.path(),
    );
    assert_eq!(run.status, 1, "{}", run.stdout);
    // The cases in flight when the budget ends (one per thread), then the
    // catalogue examination (stopped by its first timeout), then writing.
    let bound = budget + 20.0 + 2.0 * per_case_bound(1.0);
    assert!(
        run.elapsed.as_secs_f64() < bound,
        "{:?} (bound {bound} s)",
        run.elapsed
    );
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("summary.json")).unwrap())
            .unwrap();
    assert!(summary["skipped_cases"].as_u64().unwrap() > 90_000);
    let report = std::fs::read_to_string(dir.path().join("conformance.md")).unwrap();
    assert!(report.contains("were not started: the time budget ran out"));
}

#[test]
fn an_engine_that_crashes_every_k_messages_finishes() {
    let dir = tempfile::tempdir().unwrap();
    let run = conformance(
        "--fault crash --every --at 13",
        &[
            "--timeout",
            "5",
            "--cases",
            "40",
            "--suite",
            "generated",
            "--suite",
            "properties",
        ],
        dir.path(),
    );
    assert_eq!(run.status, 1, "{}", run.stdout);
    assert!(run.elapsed.as_secs_f64() < 60.0, "{:?}", run.elapsed);
    let rows = rows(&run.cases_csv);
    let faults: Vec<_> = rows.iter().filter(|r| r.1 == "fail").collect();
    assert!(!faults.is_empty());
    assert!(
        faults.iter().all(|r| r.2.starts_with("engine_crashed")
            || r.2.starts_with("engine error: engine_crashed")),
        "{faults:?}"
    );
    assert!(faults.iter().all(|r| r.2.contains("simulated crash")));
    // Between crashes the engine answers, and is judged.
    let passes = rows.iter().filter(|r| r.1 == "pass").count();
    assert!(passes > 4 * faults.len(), "{passes} passes");
}

#[test]
fn a_huge_line_from_every_new_process_is_cut_and_bounded() {
    let dir = tempfile::tempdir().unwrap();
    let run = conformance(
        "--huge-line 80000000",
        &["--timeout", "10", "--cases", "3", "--suite", "generated"],
        dir.path(),
    );
    assert_eq!(run.status, 1, "{}", run.stdout);
    assert!(
        run.elapsed.as_secs_f64() < 20.0 + 3.0 * per_case_bound(10.0),
        "{:?}",
        run.elapsed
    );
    let rows = rows(&run.cases_csv);
    assert!(rows
        .iter()
        .any(|r| r.1 == "fail" && r.2.starts_with("engine_garbage")));
    let longest = run.cases_csv.lines().map(str::len).max().unwrap();
    assert!(longest < 1024, "a cases.csv row of {longest} bytes");
}

#[test]
fn megabytes_of_stderr_stay_out_of_the_reports() {
    let dir = tempfile::tempdir().unwrap();
    let run = conformance(
        "--stderr-bytes 2000000 --fault crash --every --at 7",
        &["--timeout", "5", "--cases", "10", "--suite", "generated"],
        dir.path(),
    );
    assert_eq!(run.status, 1, "{}", run.stdout);
    let rows = rows(&run.cases_csv);
    let crash = rows
        .iter()
        .find(|r| r.2.starts_with("engine_crashed"))
        .expect("a crash");
    assert!(crash.2.contains("stderr ends"), "{}", crash.2);
    let longest = run.cases_csv.lines().map(str::len).max().unwrap();
    assert!(longest < 4096, "a cases.csv row of {longest} bytes");
    let report = std::fs::metadata(dir.path().join("conformance.md")).unwrap();
    assert!(report.len() < 512 * 1024, "{} bytes", report.len());
}

#[test]
fn unknown_fields_are_ignored_at_every_level_of_a_reply() {
    let dir = tempfile::tempdir().unwrap();
    let run = conformance(
        "--fault extra-fields --every --at 1",
        &[
            "--cases",
            "20",
            "--suite",
            "generated",
            "--suite",
            "properties",
        ],
        dir.path(),
    );
    assert_eq!(run.status, 0, "{}", run.stdout);
    assert!(rows(&run.cases_csv).iter().all(|r| r.1 != "fail"));
}

#[test]
fn a_refused_answer_still_accounts_for_its_rows_as_faults() {
    let dir = tempfile::tempdir().unwrap();
    let run = conformance(
        "--fault refuse --every --at 1",
        &["--cases", "3", "--suite", "generated"],
        dir.path(),
    );
    assert_eq!(run.status, 1, "{}", run.stdout);
    let rows = rows(&run.cases_csv);
    let primal: Vec<_> = rows.iter().filter(|r| r.0 == "primal").collect();
    assert_eq!(primal.len(), 3, "{rows:?}");
    for r in rows {
        assert_eq!(r.1, "fail", "{r:?}");
        assert!(r.2.contains("refused on purpose"), "{r:?}");
    }
    assert!(
        run.stdout.contains("(fault): engine error"),
        "{}",
        run.stdout
    );
}
