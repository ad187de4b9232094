//! Timing: warm-up, interleaved rounds, medians and spread, in this
//! thread's CPU time (other processes sharing the machine do not move it,
//! as they move wall-clock time).

use cpu_time::ThreadTime;
use std::hint::black_box;

/// How long to measure.
pub struct Settings {
    /// Rounds per measurement (the median is taken over them).
    pub rounds: usize,
    /// The least time one round of one method should take, in seconds.
    pub min_round: f64,
    /// A smoke run.
    pub quick: bool,
    /// Measure the peer crates beside the built-in engines.
    pub peers: bool,
    /// In a child run under callgrind: only this `(problem, n, method)`,
    /// run `reps` times inside [`callgrind_measured`].
    pub child: Option<(String, usize, String, usize)>,
}

impl Settings {
    /// Full or quick settings.
    pub fn new(quick: bool) -> Self {
        if quick {
            Settings {
                rounds: 3,
                min_round: 0.0005,
                quick,
                peers: false,
                child: None,
            }
        } else {
            Settings {
                rounds: 7,
                min_round: 0.01,
                quick,
                peers: false,
                child: None,
            }
        }
    }
}

/// The median CPU seconds per call of each method and the spread (max − min
/// of the rounds, relative to the median), measured in interleaved rounds
/// so that ratios between methods come from the same run and conditions.
pub fn compare(
    settings: &Settings,
    methods: &mut [(&str, &mut dyn FnMut())],
) -> Vec<(String, f64, f64)> {
    // Warm up and choose repetitions so each round lasts min_round.
    let reps: Vec<usize> = methods
        .iter_mut()
        .map(|(_, f)| {
            f();
            let start = ThreadTime::now();
            f();
            let once = start.elapsed().as_secs_f64().max(1e-9);
            ((settings.min_round / once).ceil() as usize).clamp(1, 1_000_000)
        })
        .collect();
    let mut samples: Vec<Vec<f64>> = vec![Vec::new(); methods.len()];
    for _ in 0..settings.rounds {
        for (k, (_, f)) in methods.iter_mut().enumerate() {
            let start = ThreadTime::now();
            for _ in 0..reps[k] {
                f();
            }
            samples[k].push(start.elapsed().as_secs_f64() / reps[k] as f64);
        }
    }
    methods
        .iter()
        .zip(samples)
        .map(|((name, _), mut s)| {
            s.sort_by(f64::total_cmp);
            let median = s[s.len() / 2];
            let spread = (s[s.len() - 1] - s[0]) / median;
            (name.to_string(), median, spread)
        })
        .collect()
}

/// Keeps a value alive so the optimiser cannot drop the work that made it.
pub fn keep<T>(v: T) {
    black_box(v);
}

/// Runs `f` `reps` times. Under callgrind, `adcheck-bench --instructions`
/// counts only what runs inside this function (`--toggle-collect`), so a
/// method's count leaves out building the problem and the process around
/// it.
#[inline(never)]
pub fn callgrind_measured(f: &mut dyn FnMut(), reps: usize) {
    for _ in 0..reps {
        f();
    }
}
