//! The `adcheck` command line: exit statuses, determinism, shards, replay.

use std::path::Path;
use std::process::{Command, Output};

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
    let cases: &[&[&str]] = &[
        &["verify", "--no-such-flag"],
        &["verify", "--cases", "many"],
        &["verify", "--engine", "nonexistent"],
        &["verify", "--suite", "nonexistent"],
        &["verify", "--shard", "3/2"],
        &["verify", "--time-budget", "-1"],
        &["verify", "--replay", "missing.json"],
        &["verify", "--replay", bad_replay.to_str().unwrap()],
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
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("a/summary.json")).unwrap())
            .unwrap();
    assert_eq!(summary["seed"], 42);
    assert_eq!(
        summary["engines"],
        serde_json::json!(["forward", "reverse", "checkpointed", "fwd_over_rev"])
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
    for engine in ["forward", "reverse", "checkpointed", "fwd_over_rev"] {
        assert_eq!(summary["totals"][engine]["pass"], 1, "{engine}");
    }
    let csv = std::fs::read_to_string(dir.path().join("r/replay/cases.csv")).unwrap();
    assert!(
        csv.contains("corpus-seed-example,corpus,arithmetic,reverse,vjp,pass"),
        "{csv}"
    );
}
