//! Tidy: every source file of the workspace opens with `//!` docs and is
//! named in its crate's section of ARCHITECTURE.md, and the oracle never
//! uses the engines' conventions (its references must not share the
//! engines' rules).

use std::path::{Path, PathBuf};

/// The workspace's crates, by folder; each has a section `` ## `folder` ``.
const CRATES: [&str; 11] = [
    "engines", "source", "oracle", "suites", "reports", "protocol", "adapters", "campaign",
    "runner", "mutants", "xtask",
];

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// Every `.rs` file under `dir`, recursively.
fn sources(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return files;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            files.extend(sources(&path));
        } else if path.extension().is_some_and(|x| x == "rs") {
            files.push(path);
        }
    }
    files.sort();
    files
}

/// The text of `` ## `name` `` up to the next `## ` heading.
fn section<'a>(architecture: &'a str, name: &str) -> &'a str {
    let heading = format!("\n## `{name}`");
    let start = architecture
        .find(&heading)
        .unwrap_or_else(|| panic!("ARCHITECTURE.md has no section for `{name}`"));
    let rest = &architecture[start + heading.len()..];
    &rest[..rest.find("\n## ").unwrap_or(rest.len())]
}

#[test]
fn every_source_file_has_module_docs_and_is_on_the_map() {
    let root = root();
    let architecture = std::fs::read_to_string(root.join("ARCHITECTURE.md")).unwrap();
    let mut problems = Vec::new();
    for krate in CRATES {
        let text = section(&architecture, krate);
        for dir in ["src", "tests", "examples", "benches"] {
            for file in sources(&root.join(krate).join(dir)) {
                let shown = file.strip_prefix(&root).unwrap().display().to_string();
                let source = std::fs::read_to_string(&file).unwrap();
                let first = source.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
                if !first.starts_with("//!") {
                    problems.push(format!("{shown}: does not open with `//!` docs"));
                }
                let name = file.file_name().unwrap().to_str().unwrap();
                if dir == "src" && !text.contains(name) {
                    problems.push(format!(
                        "{shown}: not named in ARCHITECTURE.md's `{krate}` section"
                    ));
                }
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn the_oracle_never_uses_the_engines_conventions() {
    for file in sources(&root().join("oracle/src")) {
        let source = std::fs::read_to_string(&file).unwrap();
        for (n, line) in source.lines().enumerate() {
            let code = line.split("//").next().unwrap_or("");
            assert!(
                !code.contains("conventions"),
                "{}:{}: the oracle uses `conventions`: {line}",
                file.display(),
                n + 1
            );
        }
    }
}
