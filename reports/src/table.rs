//! The terminal output of a run: the per-engine summary and the full table.

use crate::Summary;
use adcheck_suites::conformance::{FailMeaning, SummaryRow};

fn bits(b: Option<f64>) -> String {
    b.map_or_else(|| "-".to_string(), |b| format!("{b:.1}"))
}

/// Lays out `rows` (the first is the header) in columns sized to their
/// content: the first `left` columns aligned left, the rest right.
fn columns(rows: &[Vec<String>], left: usize) -> String {
    let width = |c: usize| {
        rows.iter()
            .map(|r| r.get(c).map_or(0, |s| s.chars().count()))
            .max()
            .unwrap_or(0)
    };
    let n = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..n).map(width).collect();
    rows.iter()
        .map(|r| {
            let cells: Vec<String> = r
                .iter()
                .enumerate()
                .map(|(c, s)| {
                    if c < left {
                        format!("{s:<w$}", w = widths[c])
                    } else {
                        format!("{s:>w$}", w = widths[c])
                    }
                })
                .collect();
            cells.join("  ").trim_end().to_string()
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// One line per engine: checks, passes, conventions, failures (by
/// meaning, when there are any) and inconclusive results with their share.
pub fn render_engine_summary(summary: &Summary) -> String {
    let any_fail = summary.totals.values().any(|t| t.fail > 0);
    let mut header: Vec<String> = ["engine", "checks", "pass", "convention", "fail"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    if any_fail {
        header.extend(FailMeaning::ALL.iter().map(|m| m.name().to_string()));
    }
    header.push("inconclusive".into());
    let mut rows = vec![header];
    for engine in &summary.engines {
        let Some(t) = summary.totals.get(engine) else {
            continue;
        };
        let checks = t.pass + t.convention + t.fail + t.inconclusive;
        let mut row = vec![
            engine.clone(),
            checks.to_string(),
            t.pass.to_string(),
            t.convention.to_string(),
            t.fail.to_string(),
        ];
        if any_fail {
            row.extend(FailMeaning::ALL.iter().map(|m| {
                t.fail_by_meaning
                    .get(m.name())
                    .copied()
                    .unwrap_or(0)
                    .to_string()
            }));
        }
        row.push(format!(
            "{} ({:.2}%)",
            t.inconclusive,
            100.0 * t.inconclusive as f64 / checks.max(1) as f64
        ));
        rows.push(row);
    }
    columns(&rows, 1)
}

/// Renders an engine's rows as a table in columns sized to their content.
/// Catalogue cases are folded into one line unless one of them failed or
/// was inconclusive.
pub fn render_table(engine: &str, rows: &[SummaryRow]) -> String {
    let mut lines: Vec<Vec<String>> = vec![[
        "engine",
        "suite",
        "family / case / property",
        "pass",
        "conv",
        "fail",
        "inconc",
        "worst",
        "median",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()];
    let mut catalogue = SummaryRow {
        suite: "catalogue".into(),
        group: "(all cases passed)".into(),
        pass: 0,
        convention: 0,
        fail: 0,
        inconclusive: 0,
        worst_bits: None,
        median_bits: None,
    };
    let mut shown: Vec<&SummaryRow> = Vec::new();
    for row in rows {
        if row.suite == "catalogue" && row.fail == 0 && row.inconclusive == 0 {
            catalogue.pass += row.pass;
            catalogue.convention += row.convention;
            catalogue.worst_bits = match (catalogue.worst_bits, row.worst_bits) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
        } else {
            shown.push(row);
        }
    }
    let catalogue_line = (catalogue.pass > 0).then_some(&catalogue);
    for row in shown.into_iter().chain(catalogue_line) {
        lines.push(vec![
            engine.to_string(),
            row.suite.clone(),
            row.group.clone(),
            row.pass.to_string(),
            row.convention.to_string(),
            row.fail.to_string(),
            row.inconclusive.to_string(),
            bits(row.worst_bits),
            bits(row.median_bits),
        ]);
    }
    columns(&lines, 3)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::EngineTotals;

    fn summary(fail: usize) -> Summary {
        let mut s = Summary {
            engines: vec!["forward".into(), "fwd_over_rev".into()],
            ..Summary::default()
        };
        s.totals.insert(
            "forward".into(),
            EngineTotals {
                pass: 57_000,
                convention: 17,
                inconclusive: 283,
                ..EngineTotals::default()
            },
        );
        let mut t = EngineTotals {
            pass: 60_500,
            fail,
            inconclusive: 1_200,
            ..EngineTotals::default()
        };
        if fail > 0 {
            t.fail_by_meaning.insert("wrong".into(), fail - 1);
            t.fail_by_meaning.insert("inconsistent".into(), 1);
        }
        s.totals.insert("fwd_over_rev".into(), t);
        s
    }

    #[test]
    fn the_engine_summary_has_one_aligned_line_per_engine() {
        let text = render_engine_summary(&summary(0));
        assert_eq!(
            text,
            "engine        checks   pass  convention  fail  inconclusive\n\
             forward        57300  57000          17     0   283 (0.49%)\n\
             fwd_over_rev   61700  60500           0     0  1200 (1.94%)"
        );
    }

    #[test]
    fn failures_are_broken_down_by_meaning() {
        let text = render_engine_summary(&summary(5));
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[0],
            "engine        checks   pass  convention  fail  wrong  inaccurate  inconsistent  fault  inconclusive"
        );
        assert_eq!(
            lines[2],
            "fwd_over_rev   61705  60500           0     5      4           0             1      0  1200 (1.94%)"
        );
    }

    #[test]
    fn table_columns_fit_the_longest_engine_name() {
        let rows = vec![SummaryRow {
            suite: "properties".into(),
            group: "matches_reverse_bitwise".into(),
            pass: 10_000,
            convention: 0,
            fail: 0,
            inconclusive: 0,
            worst_bits: None,
            median_bits: None,
        }];
        let table = render_table("checkpointed", &rows);
        let lines: Vec<&str> = table.lines().collect();
        assert_eq!(lines.len(), 2);
        // Every column starts at the same offset on both lines.
        let at = |line: &str, word: &str| line.find(word).unwrap();
        assert_eq!(at(lines[0], "suite"), at(lines[1], "properties"));
        assert_eq!(
            at(lines[0], "family"),
            at(lines[1], "matches_reverse_bitwise")
        );
    }
}
