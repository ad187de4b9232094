//! The campaign recipes of `docs/campaigns.md` (a GitHub Actions matrix, a
//! Slurm job array) run as written, locally: each recipe's shard command for
//! every shard of its matrix or array, then its merge command, with only the
//! case count made small; the merged `cases.csv` must equal one unsharded
//! run's, byte for byte.

use std::path::Path;
use std::process::Command;

const RECIPES: &str = include_str!("../../docs/campaigns.md");

/// How a command names its shard once the recipe's placeholder is replaced.
const SHARD: &str = "{SHARD}";

/// The words of the recipe line that runs `adcheck <what>` after `marker`
/// (the first such line after it), without the `- run:` of a workflow, and
/// with the shard's `placeholder` written `{SHARD}`.
fn command_after(marker: &str, what: &str, placeholder: &str) -> Vec<String> {
    let rest = &RECIPES[RECIPES
        .find(marker)
        .unwrap_or_else(|| panic!("no `{marker}`"))..];
    let line = rest
        .lines()
        .map(|l| l.trim().trim_start_matches("- run:").trim())
        .find(|l| l.starts_with(&format!("target/release/adcheck {what}")))
        .unwrap_or_else(|| panic!("no `adcheck {what}` after `{marker}`"));
    line.replace(placeholder, SHARD)
        .split_whitespace()
        .skip(1)
        .map(String::from)
        .collect()
}

fn run(args: &[String], dir: &Path) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_adcheck"))
        .args(args)
        .current_dir(dir)
        .output()
        .expect("the binary runs")
}

/// Runs one recipe: `placeholder` is how its shard command names the shard.
fn check_recipe(marker: &str, placeholder: &str) {
    let dir = tempfile::tempdir().unwrap();
    let shard_command = command_after(marker, "verify", placeholder);
    let merge_command = command_after(marker, "report merge", placeholder);
    let shard_flag = shard_command
        .iter()
        .find(|w| w.contains(SHARD) && w.contains('/'))
        .expect("a --shard K/N argument");
    let count: u64 = shard_flag.rsplit('/').next().unwrap().parse().unwrap();
    assert_eq!(count, 10, "{shard_flag}");
    let small = |words: &[String]| -> Vec<String> {
        let mut out = words.to_vec();
        if let Some(i) = out.iter().position(|w| w == "--cases") {
            out[i + 1] = "60".into();
        }
        out
    };
    let mut folders = Vec::new();
    for k in 0..count {
        let args: Vec<String> = small(&shard_command)
            .iter()
            .map(|w| w.replace(SHARD, &k.to_string()))
            .collect();
        let o = run(&args, dir.path());
        assert!(o.status.code().is_some_and(|c| c <= 1), "{args:?}: {o:?}");
        let out = &args[args.iter().position(|w| w == "--out").unwrap() + 1];
        folders.push(out.clone());
    }
    // The shell expands the recipe's glob; so does the test.
    let merge: Vec<String> = merge_command
        .iter()
        .flat_map(|w| {
            if w.ends_with('*') {
                folders.clone()
            } else {
                vec![w.clone()]
            }
        })
        .collect();
    let o = run(&merge, dir.path());
    assert_eq!(o.status.code(), Some(0), "{merge:?}: {o:?}");
    let merged_dir = &merge[merge.iter().position(|w| w == "--out").unwrap() + 1];
    // One unsharded run of the same campaign.
    let mut whole = small(&shard_command);
    let at = whole.iter().position(|w| w == "--shard").unwrap();
    whole.drain(at..at + 2);
    let at = whole.iter().position(|w| w == "--out").unwrap();
    whole[at + 1] = "whole".into();
    let o = run(&whole, dir.path());
    assert_eq!(o.status.code(), Some(0), "{whole:?}: {o:?}");
    let read = |p: &str| std::fs::read_to_string(dir.path().join(p).join("cases.csv")).unwrap();
    let merged = read(merged_dir);
    assert!(
        merged.lines().count() > 500,
        "{} rows",
        merged.lines().count()
    );
    assert_eq!(
        merged,
        read("whole"),
        "{marker}: the merged shards differ from one run"
    );
}

#[test]
fn the_github_actions_matrix_recipe_merges_to_one_run() {
    check_recipe("## GitHub Actions", "${{ matrix.shard }}");
}

#[test]
fn the_slurm_array_recipe_merges_to_one_run() {
    check_recipe("## Slurm", "${SLURM_ARRAY_TASK_ID}");
}
