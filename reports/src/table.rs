//! The terminal table of a run.

use adcheck_suites::conformance::SummaryRow;

fn bits(b: Option<f64>) -> String {
    b.map_or_else(|| "-".to_string(), |b| format!("{b:.1}"))
}

/// Renders an engine's rows as an aligned text table. Catalogue cases are
/// folded into one line unless one of them failed or was inconclusive.
pub fn render_table(engine: &str, rows: &[SummaryRow]) -> String {
    let mut lines = vec![format!(
        "{:<10} {:<11} {:<30} {:>7} {:>5} {:>6} {:>6} {:>6}",
        "engine", "suite", "family / case / property", "pass", "fail", "inconc", "worst", "median"
    )];
    let mut catalogue = SummaryRow {
        suite: "catalogue".into(),
        group: "(all cases passed)".into(),
        pass: 0,
        fail: 0,
        inconclusive: 0,
        worst_bits: None,
        median_bits: None,
    };
    let mut shown: Vec<&SummaryRow> = Vec::new();
    for row in rows {
        if row.suite == "catalogue" && row.fail == 0 && row.inconclusive == 0 {
            catalogue.pass += row.pass;
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
        lines.push(format!(
            "{:<10} {:<11} {:<30} {:>7} {:>5} {:>6} {:>6} {:>6}",
            engine,
            row.suite,
            row.group,
            row.pass,
            row.fail,
            row.inconclusive,
            bits(row.worst_bits),
            bits(row.median_bits)
        ));
    }
    lines.join("\n")
}
