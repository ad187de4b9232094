//! Plots (SVG, plotters) and the self-contained `index.html`, rebuilt from
//! the CSVs alone.

use crate::rows::{
    self, BenchRow, CheckpointRow, GradientRow, NmRow, ScaleCheckpointedRow, ScaleOracleRow,
    SecondRow,
};
use anyhow::Result;
use plotters::prelude::*;
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt::Write;
use std::path::Path;

/// A series: label and (x, y) points.
type Series = (String, Vec<(f64, f64)>);

/// The least-squares slope of log y against log x.
pub fn slope(points: &[(f64, f64)]) -> f64 {
    let pts: Vec<(f64, f64)> = points
        .iter()
        .filter(|(x, y)| *x > 0.0 && *y > 0.0 && x.is_finite() && y.is_finite())
        .map(|(x, y)| (x.ln(), y.ln()))
        .collect();
    let n = pts.len() as f64;
    if pts.len() < 2 {
        return f64::NAN;
    }
    let (mx, my) = (
        pts.iter().map(|p| p.0).sum::<f64>() / n,
        pts.iter().map(|p| p.1).sum::<f64>() / n,
    );
    let num: f64 = pts.iter().map(|(x, y)| (x - mx) * (y - my)).sum();
    let den: f64 = pts.iter().map(|(x, _)| (x - mx).powi(2)).sum();
    num / den
}

const COLOURS: [RGBColor; 6] = [
    RGBColor(31, 119, 180),
    RGBColor(214, 39, 40),
    RGBColor(44, 160, 44),
    RGBColor(255, 127, 14),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
];

/// Draws a log-log line chart.
fn chart(path: &Path, title: &str, x_label: &str, y_label: &str, series: &[Series]) -> Result<()> {
    let all: Vec<(f64, f64)> = series
        .iter()
        .flat_map(|s| s.1.iter().copied())
        .filter(|(x, y)| *x > 0.0 && *y > 0.0)
        .collect();
    if all.is_empty() {
        return Ok(());
    }
    let (x0, x1) = all
        .iter()
        .fold((f64::MAX, f64::MIN), |(a, b), p| (a.min(p.0), b.max(p.0)));
    let (y0, y1) = all
        .iter()
        .fold((f64::MAX, f64::MIN), |(a, b), p| (a.min(p.1), b.max(p.1)));
    let root = SVGBackend::new(path, (720, 460)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| anyhow::anyhow!("{e}"))?;
    let mut c = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 18))
        .margin(12)
        .x_label_area_size(44)
        .y_label_area_size(70)
        .build_cartesian_2d(
            (x0 / 1.3..x1 * 1.3).log_scale(),
            (y0 / 1.5..y1 * 1.5).log_scale(),
        )
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    c.configure_mesh()
        .x_desc(x_label)
        .y_desc(y_label)
        .draw()
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    for (k, (label, points)) in series.iter().enumerate() {
        let colour = COLOURS[k % COLOURS.len()];
        let pts: Vec<(f64, f64)> = points
            .iter()
            .copied()
            .filter(|(x, y)| *x > 0.0 && *y > 0.0)
            .collect();
        c.draw_series(LineSeries::new(pts.clone(), colour.stroke_width(2)))
            .map_err(|e| anyhow::anyhow!("{e}"))?
            .label(label.clone())
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 18, y)], colour.stroke_width(2))
            });
        c.draw_series(pts.iter().map(|&p| Circle::new(p, 3, colour.filled())))
            .map_err(|e| anyhow::anyhow!("{e}"))?;
    }
    c.configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .draw()
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    root.present().map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok(())
}

/// `rows` grouped by `key`, in key order.
fn group<R>(rows: &[R], key: impl Fn(&R) -> &str) -> BTreeMap<String, Vec<&R>> {
    let mut out: BTreeMap<String, Vec<&R>> = BTreeMap::new();
    for r in rows {
        out.entry(key(r).to_string()).or_default().push(r);
    }
    out
}

/// One series per `label`, of `(x, y)` points.
fn series_by<R>(
    rows: &[&R],
    label: impl Fn(&R) -> &str,
    x: impl Fn(&R) -> f64,
    y: impl Fn(&R) -> f64,
) -> Vec<Series> {
    let mut out: BTreeMap<String, Vec<(f64, f64)>> = BTreeMap::new();
    for r in rows {
        out.entry(label(r).to_string())
            .or_default()
            .push((x(r), y(r)));
    }
    out.into_iter().collect()
}

/// An HTML table of rows, with the CSV's header and cells.
fn table<R: Serialize>(rows: &[R]) -> Result<String> {
    let (header, body) = rows::cells(rows)?;
    if body.is_empty() {
        return Ok(String::new());
    }
    let mut html = String::from("<table><tr>");
    for k in &header {
        let _ = write!(html, "<th>{k}</th>");
    }
    html.push_str("</tr>");
    for r in &body {
        html.push_str("<tr>");
        for v in r {
            let _ = write!(html, "<td>{v}</td>");
        }
        html.push_str("</tr>");
    }
    html.push_str("</table>");
    Ok(html)
}

/// Rebuilds every plot and `index.html` from the CSVs in `out`, and writes
/// the fitted slopes to `slopes.csv`.
pub fn report(out: &Path) -> Result<()> {
    let mut sections: Vec<(String, Vec<String>, String)> = Vec::new();
    let mut slopes: Vec<(String, String, f64)> = Vec::new();
    if let Some(rows) = rows::read::<GradientRow>(out)? {
        let mut svgs = Vec::new();
        for (problem, rs) in group(&rows, |r| &r.problem) {
            let series: Vec<Series> =
                series_by(&rs, |r| &r.method, |r| r.n as f64, |r| r.ratio_to_primal)
                    .into_iter()
                    .filter(|(m, _)| m != "primal")
                    .collect();
            for (method, pts) in &series {
                slopes.push((format!("gradient {problem}"), method.clone(), slope(pts)));
            }
            let file = format!("gradient_{problem}.svg");
            chart(
                &out.join(&file),
                &format!("{problem}: gradient cost / primal cost"),
                "inputs n",
                "time ratio to the primal",
                &series,
            )?;
            svgs.push(file);
        }
        sections.push((
            "Gradient cost against the primal".into(),
            svgs,
            table(&rows)?,
        ));
    }
    if let Some(rows) = rows::read::<NmRow>(out)? {
        let mut svgs = Vec::new();
        for (sweep, rs) in group(&rows, |r| &r.sweep) {
            let by_m = sweep.starts_with('m');
            let x = if by_m { "m" } else { "n" };
            let size = |r: &NmRow| if by_m { r.m as f64 } else { r.n as f64 };
            let series: Vec<Series> = series_by(&rs, |r| &r.method, size, |r| r.ratio_to_primal)
                .into_iter()
                .filter(|(m, _)| m != "primal")
                .collect();
            for (method, pts) in &series {
                slopes.push((
                    format!("jacobian, sweep {sweep}"),
                    method.clone(),
                    slope(pts),
                ));
            }
            // The crossover: the first size at which reverse mode beats the
            // fastest forward mode (n sweeps), or forward beats reverse (m).
            let by_name = |name: &str| {
                series
                    .iter()
                    .find(|(m, _)| m == name)
                    .map(|(_, p)| p.clone())
            };
            if let (Some(rev), Some(fwd)) = (by_name("reverse"), by_name("forward_vector")) {
                let reverse_wins = !sweep.starts_with('m');
                let crossing = rev
                    .iter()
                    .zip(&fwd)
                    .find(|((_, r), (_, f))| if reverse_wins { r < f } else { f < r });
                if let Some(((x, _), _)) = crossing {
                    let winner = if reverse_wins {
                        "reverse below forward_vector from"
                    } else {
                        "forward_vector below reverse from"
                    };
                    slopes.push((format!("crossover, sweep {sweep}"), winner.to_string(), *x));
                }
            }
            let file = format!("nm_{}.svg", sweep.replace([' ', '(', ')', '='], ""));
            chart(
                &out.join(&file),
                &format!("Jacobian of F(n, m), sweep {sweep}: cost / primal"),
                x,
                "time ratio to the primal",
                &series,
            )?;
            svgs.push(file);
        }
        sections.push(("n against m: full Jacobians".into(), svgs, table(&rows)?));
    }
    if let Some(rows) = rows::read::<CheckpointRow>(out)? {
        let mut svgs = Vec::new();
        for (problem, rs) in group(&rows, |r| &r.problem) {
            let steps = |r: &CheckpointRow| r.steps as f64;
            let series = series_by(&rs, |r| &r.schedule, steps, |r| r.total_bytes as f64);
            for (schedule, pts) in &series {
                slopes.push((format!("memory {problem}"), schedule.clone(), slope(pts)));
            }
            for (schedule, pts) in
                series_by(&rs, |r| &r.schedule, steps, |r| r.checkpoint_bytes as f64)
            {
                if schedule != "plain_tape" {
                    slopes.push((format!("checkpoint bytes {problem}"), schedule, slope(&pts)));
                }
            }
            let file = format!("checkpoint_memory_{problem}.svg");
            chart(
                &out.join(&file),
                &format!("{problem}: peak tape + checkpoint bytes"),
                "steps L",
                "bytes",
                &series,
            )?;
            svgs.push(file);
            let time = series_by(&rs, |r| &r.schedule, steps, |r| r.seconds);
            let file = format!("checkpoint_time_{problem}.svg");
            chart(
                &out.join(&file),
                &format!("{problem}: gradient time by schedule"),
                "steps L",
                "seconds",
                &time,
            )?;
            svgs.push(file);
        }
        sections.push((
            "Checkpointing: memory against recomputation".into(),
            svgs,
            table(&rows)?,
        ));
    }
    if let Some(rows) = rows::read::<ScaleOracleRow>(out)? {
        let mut svgs = Vec::new();
        let mut series: Vec<Series> = Vec::new();
        for (shape, rs) in group(&rows, |r| &r.shape) {
            let operations = |r: &ScaleOracleRow| r.operations as f64;
            for (quantity, pts) in series_by(&rs, |r| &r.quantity, operations, |r| r.cpu_seconds) {
                let label = format!("{shape} {quantity}");
                slopes.push((
                    "oracle CPU time by operations".into(),
                    label.clone(),
                    slope(&pts),
                ));
                series.push((label, pts));
            }
        }
        let file = "scale_oracle.svg".to_string();
        chart(
            &out.join(&file),
            "oracle: CPU seconds of one reference by program size",
            "operations",
            "CPU seconds",
            &series,
        )?;
        svgs.push(file);
        let mut body = table(&rows)?;
        if let Some(rows) = rows::read::<ScaleCheckpointedRow>(out)? {
            let all: Vec<&ScaleCheckpointedRow> = rows.iter().collect();
            let series = series_by(
                &all,
                |r| &r.schedule,
                |r| r.accounted_steps as f64,
                |r| r.cpu_seconds,
            );
            for (schedule, pts) in &series {
                slopes.push((
                    "checkpointed CPU time by accounted steps".into(),
                    schedule.clone(),
                    slope(pts),
                ));
            }
            let file = "scale_checkpointed.svg".to_string();
            chart(
                &out.join(&file),
                "checkpointed: CPU seconds by steps advanced (untaped + taped)",
                "accounted steps",
                "CPU seconds",
                &series,
            )?;
            svgs.push(file);
            body.push_str(&table(&rows)?);
        }
        sections.push((
            "Scale: the oracle and checkpointing by program size".into(),
            svgs,
            body,
        ));
    }
    if let Some(rows) = rows::read::<SecondRow>(out)? {
        sections.push((
            "Second order: H·v against one gradient".into(),
            Vec::new(),
            table(&rows)?,
        ));
    }
    let suspects = suspects(out)?;
    let mut w = csv::Writer::from_path(out.join("suspect.csv"))?;
    w.write_record(["file", "row", "why"])?;
    for (file, row, why) in &suspects {
        w.write_record([file.as_str(), row.as_str(), why.as_str()])?;
    }
    w.flush()?;
    let mut w = csv::Writer::from_path(out.join("slopes.csv"))?;
    w.write_record(["experiment", "series", "log_log_slope"])?;
    for (e, s, v) in &slopes {
        w.write_record([e.as_str(), s.as_str(), &format!("{v:.3}")])?;
    }
    w.flush()?;
    /// A fitted slope as the page's table shows it.
    #[derive(Serialize)]
    struct SlopeRow<'a> {
        experiment: &'a str,
        series: &'a str,
        log_log_slope: String,
    }
    let slope_rows: Vec<SlopeRow> = slopes
        .iter()
        .map(|(e, s, v)| SlopeRow {
            experiment: e,
            series: s,
            log_log_slope: format!("{v:.3}"),
        })
        .collect();
    let meta = std::fs::read_to_string(out.join("meta.json")).unwrap_or_default();
    let mut html = String::from(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>adcheck bench</title><style>\
         body{font-family:sans-serif;margin:2em;max-width:1100px}table{border-collapse:collapse;font-size:12px;margin:1em 0}\
         td,th{border:1px solid #ccc;padding:2px 6px;text-align:right}th{background:#eee}svg{margin:0.5em 0}pre{background:#f6f6f6;padding:1em}\
         </style></head><body><h1>adcheck bench</h1><p>Every ratio below comes from measurements interleaved in one run \
         (medians over rounds). Rebuild this page from the CSVs with <code>cargo xtask bench report</code>.</p>",
    );
    let _ = write!(html, "<h2>Run</h2><pre>{}</pre>", meta.replace('<', "&lt;"));
    let _ = write!(html, "<h2>Suspect measurements</h2>");
    if suspects.is_empty() {
        html.push_str(
            "<p>None: no derivative cheaper than what it includes, no round spread above 100%.</p>",
        );
    } else {
        html.push_str("<ul>");
        for (file, row, why) in &suspects {
            let _ = write!(html, "<li>{file}, {}: {why}</li>", row.replace('<', "&lt;"));
        }
        html.push_str("</ul>");
    }
    let _ = write!(
        html,
        "<h2>Fitted log-log slopes</h2>{}",
        table(&slope_rows)?
    );
    for (title, svgs, tbl) in sections {
        let _ = write!(html, "<h2>{title}</h2>");
        for svg in svgs {
            if let Ok(text) = std::fs::read_to_string(out.join(&svg)) {
                html.push_str(&text);
            }
        }
        html.push_str(&tbl);
    }
    html.push_str("</body></html>\n");
    std::fs::write(out.join("index.html"), html)?;
    eprintln!("wrote {}", out.join("index.html").display());
    for (e, s, v) in &slopes {
        eprintln!("  slope {e:<34} {s:<22} {v:>6.2}");
    }
    for (file, row, why) in &suspects {
        eprintln!("  SUSPECT {file} {row}: {why}");
    }
    Ok(())
}

/// Measurements that cannot be right, or cannot be trusted: a derivative
/// cheaper than the primal it includes, an H·v or Hessian cheaper than the
/// one gradient it includes, or rounds that spread by more than their
/// median. `(file, row, why)`, written to `suspect.csv` and the page.
fn suspects(out: &Path) -> Result<Vec<(String, String, String)>> {
    let mut found = Vec::new();
    // (file, what the row measures, method, ratio to the primal, spread)
    let mut timed: Vec<(&str, String, String, f64, f64)> = Vec::new();
    for r in rows::read::<GradientRow>(out)?.unwrap_or_default() {
        let what = format!("{} n={} {}", r.problem, r.n, r.method);
        timed.push((
            GradientRow::FILE,
            what,
            r.method,
            r.ratio_to_primal,
            r.spread,
        ));
    }
    for r in rows::read::<NmRow>(out)?.unwrap_or_default() {
        let what = format!("{} n={} {}", r.sweep, r.n, r.method);
        timed.push((NmRow::FILE, what, r.method, r.ratio_to_primal, r.spread));
    }
    for (file, what, method, ratio, spread) in timed {
        if method != "primal" && ratio < 1.0 {
            found.push((
                file.into(),
                what.clone(),
                format!("{ratio:.3}× the primal it includes"),
            ));
        }
        if spread > 1.0 {
            found.push((
                file.into(),
                what,
                format!("rounds spread {:.0}% of the median", 100.0 * spread),
            ));
        }
    }
    for r in rows::read::<SecondRow>(out)?.unwrap_or_default() {
        let what = format!("{} n={}", r.problem, r.n);
        let ratios = [
            ("hvp_over_gradient", Some(r.hvp_over_gradient)),
            ("hessian_over_gradient", r.hessian_over_gradient),
        ];
        for (column, ratio) in ratios {
            if let Some(ratio) = ratio.filter(|&ratio| ratio < 1.0) {
                found.push((
                    SecondRow::FILE.into(),
                    what.clone(),
                    format!("{column} {ratio:.3}: cheaper than the gradient it includes"),
                ));
            }
        }
    }
    Ok(found)
}
