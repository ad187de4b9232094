//! The `adcheck` command line: exit statuses, determinism, shards, replay;
//! conformance reports for built-in and process engines; `serve`.

use std::path::Path;
use std::process::{Command, Output, Stdio};

fn adcheck(args: &[&str], dir: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_adcheck"))
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
    let bad_replay = dir.path().join("bad.json");
    std::fs::write(&bad_replay, "{\"id\": 3").unwrap();
    let empty = dir.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    let replay = |point: &str, check: &str| {
        format!(
            r#"{{"id":"x","engine":"reverse","check":"{check}","family":"arithmetic","program":{{"inputs":2,"body":[{{"op":"mul","args":[0,1]}}],"outputs":[2]}},"program_text":"","point":{point},"direction":[1.0,0.0],"cotangent":[1.0],"verdict":"fail","evidence":"","seed":0,"index":null}}"#
        )
    };
    let short_point = dir.path().join("short.json");
    std::fs::write(&short_point, replay("[1.0]", "jvp")).unwrap();
    let unknown_check = dir.path().join("unknown.json");
    std::fs::write(&unknown_check, replay("[1.0, 2.0]", "jvpp")).unwrap();
    // Two files with one id would write one failure file and rows of two
    // cases under one name.
    let twins = dir.path().join("twins");
    std::fs::create_dir(&twins).unwrap();
    for file in ["a.json", "b.json"] {
        std::fs::write(twins.join(file), replay("[1.0, 2.0]", "jvp")).unwrap();
    }
    let cases: &[&[&str]] = &[
        &["verify", "--no-such-flag"],
        &["verify", "--cases", "many"],
        &["verify", "--engine", "nonexistent"],
        &["verify", "--suite", "nonexistent"],
        &["verify", "--shard", "3/2"],
        &["verify", "--time-budget", "-1"],
        &["verify", "--replay", "missing.json"],
        &["verify", "--replay", bad_replay.to_str().unwrap()],
        &["verify", "--time-budget", "1e300"],
        &["verify", "--time-budget", "1.8e19"],
        &["verify", "--mutants", "--time-budget", "1e300"],
        &["verify", "--cases", "18446744073709551615"],
        &["verify", "--cases", "2000000000"],
        &["verify", "--cases", "20000000000", "--shard", "0/10"],
        &["conformance", "--engine", "reverse", "--cases", "1000000"],
        &["verify", "--mutants", "--cases", "18446744073709551615"],
        &[
            "conformance",
            "--engine",
            "reverse",
            "--cases",
            "18446744073709551615",
        ],
        &["conformance", "--engine", "reverse", "--timeout", "1e300"],
        &["verify", "--corpus", "no-such-folder"],
        &["verify", "--replay", empty.to_str().unwrap()],
        &["verify", "--replay", short_point.to_str().unwrap()],
        &["verify", "--replay", unknown_check.to_str().unwrap()],
        &["verify", "--replay", twins.to_str().unwrap()],
        &["verify", "--inputs", "0"],
        &["verify", "--inputs", "many"],
        &["verify", "--outputs", "3..1"],
        &["verify", "--length", "200000"],
        &["verify", "--fan-out", "1.5"],
        &["verify", "--fan-out", "0.8", "--depth", "0.5"],
        &["conformance", "--engine", "reverse", "--length", "0"],
        &["frobnicate"],
    ];
    for args in cases {
        let out = adcheck(args, dir.path());
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
        let err = stderr(&out);
        assert_eq!(
            err.trim_end().lines().count(),
            1,
            "{args:?} printed:\n{err}"
        );
        assert!(!err.contains("panicked"), "{err}");
    }
}

fn run_verify(dir: &Path, out: &str, extra: &[&str]) -> String {
    let mut args = vec![
        "verify", "--cases", "300", "--seed", "42", "--quiet", "--out", out,
    ];
    args.extend_from_slice(extra);
    let o = adcheck(&args, dir);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    std::fs::read_to_string(dir.join(out).join("cases.csv")).unwrap()
}

#[test]
fn same_seed_same_bytes_and_shards_merge_to_the_whole() {
    let dir = tempfile::tempdir().unwrap();
    let whole = run_verify(dir.path(), "a", &[]);
    let again = run_verify(dir.path(), "b", &[]);
    assert_eq!(whole, again, "two runs with one seed differ");
    assert!(
        whole.lines().count() > 1000,
        "{} rows",
        whole.lines().count()
    );
    for shard in ["0/3", "1/3", "2/3"] {
        run_verify(
            dir.path(),
            &format!("s{}", &shard[..1]),
            &["--shard", shard],
        );
    }
    let o = adcheck(
        &["report", "merge", "s0", "s1", "s2", "--out", "merged"],
        dir.path(),
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let merged = std::fs::read_to_string(dir.path().join("merged/cases.csv")).unwrap();
    assert_eq!(merged, whole, "merged shards differ from the whole run");
    let timings = std::fs::read_to_string(dir.path().join("merged/timings.csv")).unwrap();
    assert_eq!(timings.lines().count(), whole.lines().count());
    // Shard sets that are not one whole campaign are refused, by name.
    for (args, says) in [
        (&["s0", "s1", "s1", "s2"][..], "given twice"),
        (&["s0", "s2"][..], "shards missing: 1/3"),
        (&["s0", "s1", "s2", "a"][..], "is shard 0/1"),
        (
            &["s0", "s1", "s2", "merged"][..],
            "not the output of one shard",
        ),
    ] {
        let mut all = vec!["report", "merge"];
        all.extend_from_slice(args);
        all.extend(["--out", "bad"]);
        let o = adcheck(&all, dir.path());
        assert_eq!(o.status.code(), Some(2), "{args:?}");
        let err = stderr(&o);
        assert_eq!(err.trim_end().lines().count(), 1, "{err}");
        assert!(err.contains(says), "{args:?}: {err}");
    }
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("a/summary.json")).unwrap())
            .unwrap();
    assert_eq!(summary["seed"], 42);
    assert_eq!(
        summary["engines"],
        serde_json::json!([
            "forward",
            "reverse",
            "checkpointed",
            "fwd_over_rev",
            "source"
        ])
    );
}

#[test]
fn a_replay_file_replays() {
    let dir = tempfile::tempdir().unwrap();
    let replay = serde_json::json!({
        "id": "seed-example",
        "engine": "reverse",
        "check": "vjp",
        "family": "arithmetic",
        "program": {"inputs": 2, "body": [{"op": "mul", "args": [0, 1]}, {"op": "sin", "args": [0]}, {"op": "add", "args": [2, 3]}], "outputs": [4]},
        "program_text": "",
        "point": [0.5, 2.0],
        "direction": [1.0, 0.0],
        "cotangent": [1.0],
        "verdict": "fail",
        "evidence": "",
        "seed": 0,
        "index": null
    });
    // Where a run writes its failures; replaying one must not delete it.
    std::fs::create_dir_all(dir.path().join("r/failures")).unwrap();
    std::fs::write(dir.path().join("r/failures/case.json"), replay.to_string()).unwrap();
    let o = adcheck(
        &[
            "verify",
            "--replay",
            "r/failures/case.json",
            "--out",
            "r",
            "--format",
            "json",
        ],
        dir.path(),
    );
    assert!(dir.path().join("r/failures/case.json").is_file());
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let summary: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    for engine in [
        "forward",
        "reverse",
        "checkpointed",
        "fwd_over_rev",
        "source",
    ] {
        assert_eq!(summary["totals"][engine]["pass"], 1, "{engine}");
    }
    let csv = std::fs::read_to_string(dir.path().join("r/replay/cases.csv")).unwrap();
    assert!(
        csv.contains("corpus-seed-example,corpus,arithmetic,reverse,vjp,pass"),
        "{csv}"
    );
    // A saved gradient check replays its gradient (it used to check nothing).
    let mut gradient = replay.clone();
    gradient["check"] = "gradient".into();
    std::fs::write(dir.path().join("g.json"), gradient.to_string()).unwrap();
    let o = adcheck(
        &["verify", "--replay", "g.json", "--out", "g", "--quiet"],
        dir.path(),
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let csv = std::fs::read_to_string(dir.path().join("g/replay/cases.csv")).unwrap();
    assert!(
        csv.contains("corpus-seed-example,corpus,arithmetic,reverse,gradient,pass"),
        "{csv}"
    );
}

#[test]
fn conformance_bad_input_exits_2_with_one_line() {
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
    assert!(md.contains("Catalogue: 60 of 60 cases as expected"), "{md}");
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
    let command = format!("{} serve --engine reverse", env!("CARGO_BIN_EXE_adcheck"));
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
    let mut child = Command::new(env!("CARGO_BIN_EXE_adcheck"))
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

#[test]
fn the_generator_knobs_are_taken_and_every_case_judged() {
    let dir = tempfile::tempdir().unwrap();
    let o = adcheck(
        &[
            "verify",
            "--engine",
            "reverse",
            "--suite",
            "generated",
            "--cases",
            "6",
            "--seed",
            "3",
            "--inputs",
            "7",
            "--outputs",
            "2",
            "--length",
            "300",
            "--large-one-in",
            "0",
            "--out",
            "o",
            "--quiet",
        ],
        dir.path(),
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let csv = std::fs::read_to_string(dir.path().join("o/cases.csv")).unwrap();
    let jvp_rows: Vec<&str> = csv
        .lines()
        .filter(|l| l.contains(",reverse,jvp,"))
        .collect();
    assert_eq!(jvp_rows.len(), 6, "{csv}");
    // The flags are taken and every case judged (the shapes they give are
    // checked by the generator's own tests).
    assert!(jvp_rows
        .iter()
        .all(|r| r.contains(",pass,") || r.contains(",inconclusive,")));
}
