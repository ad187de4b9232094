//! Plots (SVG, plotters) and the self-contained `index.html`, rebuilt from
//! the CSVs alone.

use anyhow::{Context, Result};
use plotters::prelude::*;
use std::collections::BTreeMap;
use std::fmt::Write;
use std::path::Path;

/// A CSV file's rows, each as (column, value) pairs in the file's order.
type Row = Vec<(String, String)>;
type Rows = Vec<Row>;

fn read(path: &Path) -> Result<Option<Rows>> {
    if !path.exists() {
        return Ok(None);
    }
    let mut reader =
        csv::Reader::from_path(path).with_context(|| format!("reading {}", path.display()))?;
    let headers = reader.headers()?.clone();
    let mut rows = Vec::new();
    for record in reader.records() {
        let record = record?;
        rows.push(
            headers
                .iter()
                .zip(record.iter())
                .map(|(h, v)| (h.to_string(), v.to_string()))
                .collect(),
        );
    }
    Ok(Some(rows))
}

fn get<'a>(row: &'a Row, key: &str) -> Option<&'a String> {
    row.iter().find(|(k, _)| k == key).map(|(_, v)| v)
}

fn num(row: &Row, key: &str) -> f64 {
    get(row, key)
        .and_then(|v| v.parse().ok())
        .unwrap_or(f64::NAN)
}

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

fn group(rows: &Rows, key: &str) -> BTreeMap<String, Rows> {
    let mut out: BTreeMap<String, Rows> = BTreeMap::new();
    for r in rows {
        out.entry(get(r, key).cloned().unwrap_or_default())
            .or_default()
            .push(r.clone());
    }
    out
}

fn series_by(rows: &Rows, label: &str, x: &str, y: &str) -> Vec<Series> {
    group(rows, label)
        .into_iter()
        .map(|(l, rs)| (l, rs.iter().map(|r| (num(r, x), num(r, y))).collect()))
        .collect()
}

fn table(rows: &Rows) -> String {
    let Some(first) = rows.first() else {
        return String::new();
    };
    let mut html = String::from("<table><tr>");
    for (k, _) in first {
        let _ = write!(html, "<th>{k}</th>");
    }
    html.push_str("</tr>");
    for r in rows {
        html.push_str("<tr>");
        for (_, v) in r {
            let _ = write!(html, "<td>{v}</td>");
        }
        html.push_str("</tr>");
    }
    html.push_str("</table>");
    html
}

/// Rebuilds every plot and `index.html` from the CSVs in `out`, and writes
/// the fitted slopes to `slopes.csv`.
pub fn report(out: &Path) -> Result<()> {
    let mut sections: Vec<(String, Vec<String>, String)> = Vec::new();
    let mut slopes: Vec<(String, String, f64)> = Vec::new();
    if let Some(rows) = read(&out.join("gradient.csv"))? {
        let mut svgs = Vec::new();
        for (problem, rs) in group(&rows, "problem") {
            let series: Vec<Series> = series_by(&rs, "method", "n", "ratio_to_primal")
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
            table(&rows),
        ));
    }
    if let Some(rows) = read(&out.join("nm.csv"))? {
        let mut svgs = Vec::new();
        for (sweep, rs) in group(&rows, "sweep") {
            let x = if sweep.starts_with('m') { "m" } else { "n" };
            let series: Vec<Series> = series_by(&rs, "method", x, "ratio_to_primal")
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
        sections.push(("n against m: full Jacobians".into(), svgs, table(&rows)));
    }
    if let Some(rows) = read(&out.join("checkpoint.csv"))? {
        let mut svgs = Vec::new();
        for (problem, rs) in group(&rows, "problem") {
            let series = series_by(&rs, "schedule", "steps", "total_bytes");
            for (schedule, pts) in &series {
                slopes.push((format!("memory {problem}"), schedule.clone(), slope(pts)));
            }
            for (schedule, pts) in series_by(&rs, "schedule", "steps", "checkpoint_bytes") {
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
            let time = series_by(&rs, "schedule", "steps", "seconds");
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
            table(&rows),
        ));
    }
    if let Some(rows) = read(&out.join("scale_oracle.csv"))? {
        let mut svgs = Vec::new();
        let mut series: Vec<Series> = Vec::new();
        for (shape, rs) in group(&rows, "shape") {
            for (quantity, pts) in series_by(&rs, "quantity", "operations", "cpu_seconds") {
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
        let mut body = table(&rows);
        if let Some(rows) = read(&out.join("scale_checkpointed.csv"))? {
            let series = series_by(&rows, "schedule", "accounted_steps", "cpu_seconds");
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
            body.push_str(&table(&rows));
        }
        sections.push((
            "Scale: the oracle and checkpointing by program size".into(),
            svgs,
            body,
        ));
    }
    if let Some(rows) = read(&out.join("second.csv"))? {
        sections.push((
            "Second order: H·v against one gradient".into(),
            Vec::new(),
            table(&rows),
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
    let slope_rows: Rows = slopes
        .iter()
        .map(|(e, s, v)| {
            [
                ("experiment", e.clone()),
                ("series", s.clone()),
                ("log_log_slope", format!("{v:.3}")),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect()
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
    let _ = write!(html, "<h2>Fitted log-log slopes</h2>{}", table(&slope_rows));
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
    for file in ["gradient.csv", "nm.csv"] {
        let Some(rows) = read(&out.join(file))? else {
            continue;
        };
        for r in &rows {
            let method = get(r, "method").cloned().unwrap_or_default();
            let what = format!(
                "{} n={} {method}",
                get(r, "problem")
                    .or_else(|| get(r, "sweep"))
                    .cloned()
                    .unwrap_or_default(),
                get(r, "n").cloned().unwrap_or_default()
            );
            let ratio = num(r, "ratio_to_primal");
            if method != "primal" && ratio < 1.0 {
                found.push((
                    file.into(),
                    what.clone(),
                    format!("{ratio:.3}× the primal it includes"),
                ));
            }
            let spread = num(r, "spread");
            if spread > 1.0 {
                found.push((
                    file.into(),
                    what,
                    format!("rounds spread {:.0}% of the median", 100.0 * spread),
                ));
            }
        }
    }
    if let Some(rows) = read(&out.join("second.csv"))? {
        for r in &rows {
            let what = format!(
                "{} n={}",
                get(r, "problem").cloned().unwrap_or_default(),
                get(r, "n").cloned().unwrap_or_default()
            );
            for column in ["hvp_over_gradient", "hessian_over_gradient"] {
                let ratio = num(r, column);
                if ratio < 1.0 {
                    found.push((
                        "second.csv".into(),
                        what.clone(),
                        format!("{column} {ratio:.3}: cheaper than the gradient it includes"),
                    ));
                }
            }
        }
    }
    Ok(found)
}
