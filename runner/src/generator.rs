//! The generator's knobs on the command line, shared by `verify` and
//! `conformance`.

use crate::InputError;
use adcheck_suites::generate::{GenConfig, MAX_INPUTS, MAX_OUTPUTS};
use clap::Args;

/// The most body entries a generated program may have.
pub(crate) const MAX_LENGTH: usize = 100_000;

/// The shape of generated programs (each flag defaults to the built-in
/// generator's setting).
#[derive(Args, Debug, Default, Clone)]
pub struct GeneratorArgs {
    /// Inputs of each generated program: `N` or `A..B` (default 1..6; at
    /// most 4096).
    #[arg(long, value_name = "N|A..B", help_heading = "Generated programs")]
    inputs: Option<String>,
    /// Outputs of each generated program: `N` or `A..B` (default 1..3; at
    /// most 256).
    #[arg(long, value_name = "N|A..B", help_heading = "Generated programs")]
    outputs: Option<String>,
    /// Live operations of each generated program (those an output depends
    /// on, after domain repair): `N` or `A..B` (at most 100000). Without
    /// it, programs of 1 to 20 entries are drawn, most of them dead, as
    /// every seed always gave.
    #[arg(long, value_name = "N|A..B", help_heading = "Generated programs")]
    length: Option<String>,
    /// Probability that an argument is the first input (fan-out; default
    /// 0.15).
    #[arg(long, value_name = "P", help_heading = "Generated programs")]
    fan_out: Option<f64>,
    /// Probability that an argument is the latest value (long chains;
    /// default 0.35).
    #[arg(long, value_name = "P", help_heading = "Generated programs")]
    depth: Option<f64>,
    /// Probability that a coordinate of a point is a special value (a
    /// kink, a domain edge, a signed zero, a tiny or huge magnitude;
    /// default 0.1).
    #[arg(long, value_name = "P", help_heading = "Generated programs")]
    special_points: Option<f64>,
    /// One case in K is of the `large` family (100 to 1000 live
    /// operations); 0 for none (default 512).
    #[arg(long, value_name = "K", help_heading = "Generated programs")]
    large_one_in: Option<u64>,
}

/// `N` or `A..B` (`A ≤ B`), each from `least` to `most`.
fn range(flag: &str, text: &str, least: usize, most: usize) -> Result<(usize, usize), InputError> {
    let number = |s: &str| {
        s.trim().parse::<usize>().map_err(|_| {
            InputError(format!(
                "{flag} takes N or A..B (whole numbers), not `{text}`"
            ))
        })
    };
    let (a, b) = match text.split_once("..") {
        Some((a, b)) => (number(a)?, number(b)?),
        None => {
            let n = number(text)?;
            (n, n)
        }
    };
    if a > b || a < least || b > most {
        return Err(InputError(format!(
            "{flag} {text}: each end must lie from {least} to {most}, the first no larger than the second"
        )));
    }
    Ok((a, b))
}

fn probability(flag: &str, p: Option<f64>, default: f64) -> Result<f64, InputError> {
    match p {
        None => Ok(default),
        Some(p) if (0.0..=1.0).contains(&p) => Ok(p),
        Some(p) => Err(InputError(format!(
            "{flag} is a probability from 0 to 1, not {p}"
        ))),
    }
}

impl GeneratorArgs {
    /// The generator settings these flags ask for, validated.
    pub(crate) fn config(&self) -> Result<GenConfig, InputError> {
        let default = GenConfig::default();
        let inputs = match &self.inputs {
            Some(t) => range("--inputs", t, 1, MAX_INPUTS)?,
            None => default.inputs,
        };
        let outputs = match &self.outputs {
            Some(t) => range("--outputs", t, 1, MAX_OUTPUTS)?,
            None => default.outputs,
        };
        let (length, live_length) = match &self.length {
            Some(t) => (range("--length", t, 1, MAX_LENGTH)?, true),
            None => (default.length, false),
        };
        let fan_out = probability("--fan-out", self.fan_out, default.fan_out)?;
        let depth = probability("--depth", self.depth, default.depth)?;
        if fan_out + depth > 1.0 {
            return Err(InputError(format!(
                "--fan-out {fan_out} and --depth {depth} are shares of one argument's choices: their sum must not exceed 1"
            )));
        }
        Ok(GenConfig {
            inputs,
            outputs,
            length,
            family: None,
            fan_out,
            depth,
            special_points: probability(
                "--special-points",
                self.special_points,
                default.special_points,
            )?,
            live_length,
            large_one_in: self.large_one_in.unwrap_or(default.large_one_in),
        })
    }
}
