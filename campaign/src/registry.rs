//! The engines `--engine NAME` names: the built-in ones and the adapters
//! compiled in.

use crate::InputError;
use adcheck_engines::Engine;

/// Every built-in engine, in a fixed order: the four of
/// `adcheck-engines` (dual numbers, the tape, checkpointed reverse,
/// forward over reverse), then the source-transformation engine of
/// `adcheck-source`.
pub fn builtin_engines() -> Vec<Box<dyn Engine>> {
    let mut all = adcheck_engines::builtin_engines();
    all.push(Box::new(adcheck_source::SourceEngine::default()));
    all
}

/// Every engine `--engine` accepts: the built-in ones and the adapters
/// compiled in.
pub fn known_engines() -> Vec<Box<dyn Engine>> {
    let mut all = builtin_engines();
    all.extend(adcheck_adapters::engines());
    all
}

/// The engine called `name`, or a one-line error that lists the others.
pub fn engine_named(name: &str) -> Result<Box<dyn Engine>, InputError> {
    if let Some(engine) = known_engines().into_iter().find(|e| e.name() == name) {
        return Ok(engine);
    }
    let known: Vec<String> = known_engines()
        .iter()
        .map(|e| e.name().to_string())
        .collect();
    let hint = match adcheck_adapters::ADAPTERS.iter().find(|(n, _)| *n == name) {
        Some((_, feature)) => format!(
            "; the `{name}` adapter is behind the cargo feature `{feature}`: `cargo xtask conformance --engine {name}` builds it in"
        ),
        None => String::new(),
    };
    Err(InputError(format!(
        "unknown engine `{name}` (known: {}){hint}",
        known.join(", ")
    )))
}
