//! `adcheck conformance` and `adcheck serve`: reports for built-in and
//! process engines, and one-line errors on bad input.

use std::path::Path;
use std::process::{Command, Output, Stdio};

const ADCHECK: &str = env!("CARGO_BIN_EXE_adcheck");

fn adcheck(args: &[&str], dir: &Path) -> Output {
    Command::new(ADCHECK)
        .args(args)
        .current_dir(dir)
        .output()
        .expect("the binary runs")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn bad_input_exits_2_with_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let cases: &[(&[&str], &str)] = &[
        (&["conformance"], "required"),
        (
            &["conformance", "--engine", "nope"],
            "unknown engine `nope`",
        ),
        // The adapters are behind cargo features the tests build without.
        (
            &["conformance", "--engine", "num-dual"],
            "cargo feature `num-dual`",
        ),
        (
            &["conformance", "--engine", "reverse", "--engine-cmd", "x"],
            "cannot be used",
        ),
        (
            &["conformance", "--engine-cmd", "/nonexistent/engine"],
            "engine_unavailable",
        ),
        (&["conformance", "--engine-cmd", "'unclosed"], "unclosed"),
        (
            &["conformance", "--engine", "reverse", "--timeout", "0"],
            "--timeout",
        ),
        (
            &["conformance", "--engine", "reverse", "--suite", "nope"],
            "unknown suite",
        ),
        (&["serve", "--engine", "nope"], "unknown engine"),
    ];
    for (args, says) in cases {
        let out = adcheck(args, dir.path());
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert_eq!(
            err.trim_end().lines().count(),
            1,
            "{args:?} printed:\n{err}"
        );
        assert!(err.contains(says), "{args:?} should say `{says}`: {err}");
    }
}

#[test]
fn a_built_in_engine_gets_a_report_in_three_forms() {
    let dir = tempfile::tempdir().unwrap();
    let out = adcheck(
        &[
            "conformance",
            "--engine",
            "forward",
            "--cases",
            "40",
            "--seed",
            "5",
            "--quiet",
            "--out",
            "r",
        ],
        dir.path(),
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let report = dir.path().join("r");
    let md = std::fs::read_to_string(report.join("conformance.md")).unwrap();
    assert!(md.starts_with("# Conformance report: `forward`"), "{md}");
    assert!(md.contains("cargo xtask conformance --engine forward --seed 5 --cases 40"));
    assert!(md.contains("Catalogue: 59 of 59 cases as expected"), "{md}");
    assert!(md.contains("| `abs_at_zero` | [0.0] | [0.0] | [0.0] | the declared convention |"));
    let html = std::fs::read_to_string(report.join("conformance.html")).unwrap();
    assert!(
        html.contains("<table>")
            && html.contains("<h1>Conformance report: <code>forward</code></h1>")
    );
    let csv = std::fs::read_to_string(report.join("conformance.csv")).unwrap();
    assert!(csv.starts_with("engine,section,group,pass,fail"));
    assert!(csv.contains("forward,catalogue_answer,tanh_large"));
    assert!(report.join("cases.csv").is_file() && report.join("summary.json").is_file());
}

#[test]
fn a_served_engine_checked_over_the_protocol_passes() {
    let dir = tempfile::tempdir().unwrap();
    let command = format!("{ADCHECK} serve --engine reverse");
    let out = adcheck(
        &[
            "conformance",
            "--engine-cmd",
            &command,
            "--cases",
            "40",
            "--seed",
            "5",
            "--quiet",
            "--out",
            "p",
        ],
        dir.path(),
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let md = std::fs::read_to_string(dir.path().join("p/conformance.md")).unwrap();
    assert!(
        md.starts_with("# Conformance report: `adcheck-reverse`"),
        "{md}"
    );
    assert!(md.contains("0 fail"), "{md}");
}

#[test]
fn serve_answers_until_its_input_ends() {
    let mut child = Command::new(ADCHECK)
        .args(["serve", "--engine", "forward"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().unwrap();
        writeln!(stdin, r#"{{"id":1,"kind":"start"}}"#).unwrap();
        writeln!(stdin, r#"{{"id":2,"kind":"define","module":"hello"}}"#).unwrap();
        writeln!(
            stdin,
            r#"{{"id":3,"kind":"evaluate","module":"hello","function":"double","input":3.0}}"#
        )
        .unwrap();
    }
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    let lines: Vec<serde_json::Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 3);
    assert_eq!(lines[0]["tool"], "adcheck-forward");
    assert_eq!(lines[2]["output"], 6.0);
}
