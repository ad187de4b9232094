//! Tidy: the modules of the `adcheck` binary import each other without a
//! cycle (`verify` below `conformance`, which reuses its exit status; the
//! inputs, the engine registry and the run itself are in the
//! `adcheck-campaign` library).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Each module of `runner/src` with the modules it names as `crate::m`.
fn imports() -> BTreeMap<String, BTreeSet<String>> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let modules: BTreeSet<String> = std::fs::read_dir(&src)
        .unwrap()
        .filter_map(|e| {
            let p = e.ok()?.path();
            let stem = p.file_stem()?.to_str()?.to_string();
            (p.extension()? == "rs" && stem != "main").then_some(stem)
        })
        .collect();
    modules
        .iter()
        .map(|m| {
            let text = std::fs::read_to_string(src.join(format!("{m}.rs"))).unwrap();
            let named = modules
                .iter()
                .filter(|other| *other != m)
                .filter(|other| {
                    text.contains(&format!("crate::{other}::"))
                        || text.contains(&format!("crate::{other}{{"))
                })
                .cloned()
                .collect();
            (m.clone(), named)
        })
        .collect()
}

#[test]
fn runner_modules_import_each_other_without_a_cycle() {
    let graph = imports();
    assert!(graph.len() >= 4, "{graph:?}");
    // Depth-first search; a module met again on the current path closes a cycle.
    fn visit(
        m: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) {
        if done.contains(m) {
            return;
        }
        if let Some(at) = path.iter().position(|p| p == m) {
            panic!("module cycle: {} -> {m}", path[at..].join(" -> "));
        }
        path.push(m.to_string());
        for next in &graph[m] {
            visit(next, graph, path, done);
        }
        path.pop();
        done.insert(m.to_string());
    }
    let mut done = BTreeSet::new();
    for m in graph.keys() {
        visit(m, &graph, &mut Vec::new(), &mut done);
    }
    // The ones that were in a cycle before.
    assert!(!graph["mutants"].contains("verify"), "{graph:?}");
    assert!(!graph["verify"].contains("conformance"), "{graph:?}");
}
