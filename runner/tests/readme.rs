//! The README stays true: its output excerpt is what `verify` prints, and
//! every command it shows is run by a test or by `.ci/run`.

use std::path::{Path, PathBuf};
use std::process::Command;

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("runner sits in the workspace")
        .to_path_buf()
}

fn readme() -> String {
    std::fs::read_to_string(workspace().join("README.md")).expect("README.md")
}

/// The lines of the README's output excerpt (between its markers, inside
/// the code fence).
fn excerpt() -> Vec<String> {
    let text = readme();
    let start = text
        .find("<!-- readme-excerpt:start -->")
        .expect("start marker");
    let end = text
        .find("<!-- readme-excerpt:end -->")
        .expect("end marker");
    text[start..end]
        .lines()
        .skip(1)
        .filter(|l| !l.starts_with("```"))
        .map(str::to_string)
        .collect()
}

/// `line` with what varies between runs (timing, output folder) masked.
fn masked(line: &str) -> String {
    let mut out = line.to_string();
    if let (Some(a), Some(b)) = (out.find(" in "), out.find(" cases/s)")) {
        if a < b {
            out.replace_range(a..b + " cases/s)".len(), " in … s (… cases/s)");
        }
    }
    if let Some(at) = out.find("; outputs in ") {
        out.truncate(at + "; outputs in ".len());
        out.push('…');
    }
    out
}

#[test]
fn the_output_excerpt_is_what_verify_prints() {
    let out = tempfile::tempdir().unwrap();
    let run = Command::new(env!("CARGO_BIN_EXE_adcheck"))
        .args(["verify", "--seed", "20261126", "--cases", "200", "--out"])
        .arg(out.path())
        .current_dir(workspace())
        .output()
        .expect("the binary runs");
    assert_eq!(run.status.code(), Some(0));
    let stdout = String::from_utf8_lossy(&run.stdout);
    let stderr = String::from_utf8_lossy(&run.stderr);
    // What a terminal shows: the header (stderr), the summary (stdout),
    // then the totals and the seed (stderr).
    let err: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    let mut shown: Vec<String> = vec![err[0].to_string()];
    shown.extend(stdout.lines().map(str::to_string));
    shown.extend(err[1..].iter().map(|l| l.to_string()));
    let shown: Vec<String> = shown.iter().map(|l| masked(l)).collect();
    let readme: Vec<String> = excerpt().iter().map(|l| masked(l)).collect();
    assert_eq!(
        readme,
        shown,
        "README excerpt is stale; verify printed:\n{}",
        shown.join("\n")
    );
    assert!(shown.len() <= 20, "the summary should fit one screen");
}

/// Every command the README shows: lines of its code blocks and inline
/// code spans that start with `cargo ` (a `for` loop's body included).
fn readme_commands() -> Vec<String> {
    let text = readme();
    let mut commands = Vec::new();
    let mut in_block = false;
    let mut in_rust = false;
    for line in text.lines() {
        if let Some(lang) = line.strip_prefix("```") {
            in_block = !in_block;
            in_rust = in_block && lang.starts_with("rust");
            continue;
        }
        if in_block {
            if !in_rust {
                if let Some(c) = line.trim().strip_prefix("cargo ") {
                    let c = c.split(" #").next().unwrap_or(c).trim();
                    commands.push(format!("cargo {c}"));
                }
            }
            continue;
        }
        for (k, span) in line.split('`').enumerate() {
            if k % 2 == 1 {
                if let Some(at) = span.find("cargo ") {
                    let c = &span[at..];
                    let c = c.split("; done").next().unwrap_or(c);
                    commands.push(c.trim().to_string());
                }
            }
        }
    }
    commands
}

/// Where each README command is run, when not by `.ci/run` verbatim: the
/// file of the test that runs it (which must contain the command).
const RUN_BY_TESTS: [(&str, &str); 1] = [(
    "cargo xtask verify --seed 20261126 --cases 200",
    "runner/tests/readme.rs",
)];

/// The README commands nothing here runs, with the reason: the optional
/// Symbolica feature, whose licence allows one unlicensed instance per
/// machine, is never built by CI or the tests; PyTorch's wheel pulls ~3 GB
/// and is never installed by CI.
const NOT_RUN: [&str; 3] = [
    "cargo run --release -p adcheck-runner --features symbolica -- verify --seed 20261126 --cases 2000",
    "cargo run --release -p adcheck-suites --features symbolica --example third_reference -- 2000 1",
    "cargo xtask conformance --engine-cmd \"python3 examples/pytorch_engine/pytorch_engine.py\" --seed 20261126 --cases 1000",
];

/// Whether `command` is a usage form with placeholders (`--engine NAME`,
/// `DIR...`, `"CMD ARGS"`) rather than a command to paste.
fn is_usage_form(command: &str) -> bool {
    command
        .split(|c: char| !c.is_ascii_alphabetic())
        .any(|w| w.len() >= 3 && w.chars().all(|c| c.is_ascii_uppercase()))
}

#[test]
fn every_readme_command_is_run_by_a_test_or_by_ci() {
    let root = workspace();
    let ci = std::fs::read_to_string(root.join(".ci/run")).expect(".ci/run");
    // `.ci/run` may continue a command over lines with `\`.
    let ci = ci.replace("\\\n", " ");
    let ci: String = ci.split_whitespace().collect::<Vec<_>>().join(" ");
    let mut missing = Vec::new();
    for command in readme_commands() {
        // A command quoted inside another (GradBench's `--tool '…'`).
        let command = command.trim_end_matches('\'').to_string();
        if is_usage_form(&command) || NOT_RUN.contains(&command.as_str()) {
            continue;
        }
        let normal = command.split_whitespace().collect::<Vec<_>>().join(" ");
        // The whole command, not a prefix of a longer word.
        let by_ci = ci.match_indices(&normal).any(|(at, _)| {
            ci[at + normal.len()..]
                .chars()
                .next()
                .is_none_or(|c| c.is_whitespace() || c == ';')
        });
        let by_test = RUN_BY_TESTS.iter().any(|(c, file)| {
            *c == normal && std::fs::read_to_string(root.join(file)).is_ok_and(|t| t.contains(c))
        });
        if !by_ci && !by_test {
            missing.push(command);
        }
    }
    assert!(
        missing.is_empty(),
        "README commands that neither .ci/run nor a test runs:\n{}",
        missing.join("\n")
    );
}
