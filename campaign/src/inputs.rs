//! What every command takes from the user, validated the same way: shards,
//! durations, case counts, bit counts, seeds, engine and suite names, and
//! the replay and corpus files. Each error is one line (exit status 2).

use crate::registry::builtin_engines;
use crate::InputError;
use adcheck_engines::Engine;
use adcheck_suites::conformance::{ReplayCase, Shard, Suite};
use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// `K/N`, parsed (a clap value parser).
pub fn parse_shard(text: &str) -> Result<Shard, String> {
    let (k, n) = text
        .split_once('/')
        .ok_or_else(|| format!("`{text}` is not of the form K/N"))?;
    let index: u64 = k
        .parse()
        .map_err(|_| format!("`{k}` is not a shard number"))?;
    let count: u64 = n
        .parse()
        .map_err(|_| format!("`{n}` is not a shard count"))?;
    if count == 0 || index >= count {
        return Err(format!(
            "shard {index}/{count} does not exist (K runs from 0 to N-1)"
        ));
    }
    Ok(Shard { index, count })
}

/// The longest duration a flag accepts: a year.
const MAX_SECONDS: f64 = 365.0 * 24.0 * 3600.0;

/// `s` seconds as a duration, or a one-line error naming `flag`.
pub fn positive_seconds(flag: &str, s: f64) -> Result<Duration, InputError> {
    if s.is_finite() && s > 0.0 && s <= MAX_SECONDS {
        Ok(Duration::from_secs_f64(s))
    } else {
        Err(InputError(format!(
            "{flag} must be a positive number of seconds up to {MAX_SECONDS} (a year), not {s:?}"
        )))
    }
}

/// The most generated cases one `verify` process runs: it keeps no record,
/// so this only stops a slip of the keyboard from starting a run that
/// would never end (10⁹ cases take about ten days on two cores).
pub const MAX_CASES_PER_PROCESS: u64 = 1_000_000_000;

/// The most generated cases a run that keeps every record runs (a
/// conformance report reads them all: about 37 KB a case).
pub const MAX_CASES_KEPT: u64 = 250_000;

/// Checks that `--cases` (split `shard.count` ways) fits one process.
pub fn check_cases(cases: u64, shard: Shard) -> Result<(), InputError> {
    let here = cases.div_ceil(shard.count.max(1));
    if here <= MAX_CASES_PER_PROCESS {
        return Ok(());
    }
    Err(InputError(format!(
        "--cases {cases}{}: one process takes at most {MAX_CASES_PER_PROCESS} cases (about ten days); split the campaign with --shard K/N and join the outputs with `report merge`",
        if shard.count > 1 {
            format!(" in {} shards is {here} a shard", shard.count)
        } else {
            String::new()
        }
    )))
}

/// Checks that `--cases` fits a run that keeps every record in memory.
pub fn check_cases_kept(cases: u64) -> Result<(), InputError> {
    if cases <= MAX_CASES_KEPT {
        return Ok(());
    }
    Err(InputError(format!(
        "--cases {cases}: a conformance report reads every record, so it takes at most {MAX_CASES_KEPT} cases; `verify --engine NAME` checks more"
    )))
}

/// `--min-bits B`, validated: a number of bits from 0 to 53.
pub fn min_bits(b: Option<f64>) -> Result<Option<f64>, InputError> {
    match b {
        Some(b) if !(0.0..=53.0).contains(&b) => Err(InputError(format!(
            "--min-bits must be a number of bits from 0 to 53, not {b:?}"
        ))),
        b => Ok(b),
    }
}

/// The deadline `--time-budget` sets (`None` without one), validated.
pub fn deadline(time_budget: Option<f64>) -> Result<Option<Instant>, InputError> {
    time_budget
        .map(|s| Ok(Instant::now() + positive_seconds("--time-budget", s)?))
        .transpose()
}

/// Loads replay cases from a file or a folder of `*.json` files. A case
/// that would check nothing (a check never replayed, vectors of the wrong
/// length), two cases with one id and a folder without replay files are
/// errors naming the file.
pub fn load_replays(path: &Path) -> Result<Vec<ReplayCase>, InputError> {
    let files: Vec<PathBuf> = if path.is_dir() {
        let mut files: Vec<PathBuf> = fs::read_dir(path)
            .map_err(|e| InputError(format!("{}: {e}", path.display())))?
            .filter_map(|entry| entry.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "json"))
            .collect();
        if files.is_empty() {
            return Err(InputError(format!(
                "{}: no replay files (*.json) in this folder",
                path.display()
            )));
        }
        files.sort();
        files
    } else if path.is_file() {
        vec![path.to_path_buf()]
    } else {
        return Err(InputError(format!(
            "{}: no such file or folder",
            path.display()
        )));
    };
    // Ids name the rows and the failure files, so they must be unique.
    let mut seen: std::collections::HashMap<String, &Path> = Default::default();
    files
        .iter()
        .map(|file| {
            let text = fs::read_to_string(file)
                .map_err(|e| InputError(format!("{}: {e}", file.display())))?;
            let case = serde_json::from_str::<ReplayCase>(&text)
                .map_err(|e| InputError(format!("{}: not a replay file: {e}", file.display())))?;
            case.validate()
                .map_err(|e| InputError(format!("{}: {e}", file.display())))?;
            if let Some(other) = seen.insert(case.id.clone(), file) {
                return Err(InputError(format!(
                    "{}: id `{}` is also the id of {}",
                    file.display(),
                    case.id,
                    other.display()
                )));
            }
            Ok(case)
        })
        .collect()
}

/// The regression corpus folder used when `--corpus` is not given.
pub const DEFAULT_CORPUS: &str = "corpus";

/// The saved cases a run replays: those of `replay` when given (which then
/// becomes the only suite), else the regression corpus when the corpus
/// suite runs: `corpus_dir` when given (it must exist), else `corpus/` if
/// there is one (a note on stderr when there is none).
pub fn corpus_for(
    replay: Option<&Path>,
    corpus_dir: Option<&Path>,
    suites: &mut Vec<Suite>,
) -> Result<Vec<ReplayCase>, InputError> {
    if let Some(path) = replay {
        *suites = vec![Suite::Corpus];
        return load_replays(path);
    }
    if !suites.contains(&Suite::Corpus) {
        return Ok(Vec::new());
    }
    match corpus_dir {
        Some(dir) if dir.is_dir() => load_replays(dir),
        Some(dir) => Err(InputError(format!(
            "--corpus {}: no such folder",
            dir.display()
        ))),
        None if Path::new(DEFAULT_CORPUS).is_dir() => load_replays(Path::new(DEFAULT_CORPUS)),
        None => {
            eprintln!(
                "adcheck: no folder `{DEFAULT_CORPUS}` here, so the corpus suite replays nothing (--corpus DIR names one)"
            );
            Ok(Vec::new())
        }
    }
}

/// The engines `--engine NAME` (repeatable) names; every built-in engine
/// when none is named.
pub fn select_engines(names: &[String]) -> Result<Vec<Box<dyn Engine>>, InputError> {
    if names.is_empty() {
        return Ok(builtin_engines());
    }
    names
        .iter()
        .map(|name| crate::registry::engine_named(name))
        .collect()
}

/// The suites `--suite NAME` (repeatable) names; every suite when none is.
pub fn select_suites(names: &[String]) -> Result<Vec<Suite>, InputError> {
    if names.is_empty() {
        return Ok(Suite::ALL.to_vec());
    }
    names
        .iter()
        .map(|n| {
            Suite::from_name(n).ok_or_else(|| {
                InputError(format!(
                    "unknown suite `{n}` (known: generated, catalogue, properties, corpus)"
                ))
            })
        })
        .collect()
}

/// A seed from the clock and the process id, for a run given none (it is
/// printed, so the run can be repeated).
pub fn random_seed() -> u64 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    adcheck_suites::generate::mix(nanos, u64::from(std::process::id()))
}
