//! Plots (SVG, plotters) and the self-contained `index.html`, rebuilt from
//! the CSVs alone.

use crate::experiments::SOURCE_REVERSE;
use crate::rows::{
    self, BenchRow, CheckpointRow, GradientInstructionsRow, GradientRow, NmRow,
    ScaleCheckpointedRow, ScaleOracleRow, SecondRow,
};
use anyhow::Result;
use plotters::prelude::*;
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt::Write;
use std::path::Path;

/// Rounds that spread by more than their median: the row is flagged as
/// suspect and left out of slope fits.
const MAX_SPREAD: f64 = 1.0;

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

/// Every series name the experiments write, each with its own colour on
/// every plot (methods, schedules, the scale experiment's series).
const NAMED_COLOURS: [(&str, RGBColor); 17] = [
    ("reverse", RGBColor(214, 39, 40)),
    ("source", RGBColor(0, 0, 128)),
    ("forward_per_direction", RGBColor(31, 119, 180)),
    ("forward_scalar", RGBColor(23, 190, 207)),
    ("forward_vector", RGBColor(44, 160, 44)),
    ("central_differences", RGBColor(127, 127, 127)),
    ("peer_echidna_reverse", RGBColor(255, 127, 14)),
    ("peer_num_dual_per_direction", RGBColor(148, 103, 189)),
    ("plain_tape", RGBColor(140, 86, 75)),
    ("store_all", RGBColor(214, 39, 40)),
    ("uniform_sqrt", RGBColor(44, 160, 44)),
    ("binomial_s10", RGBColor(31, 119, 180)),
    ("binomial_s4", RGBColor(31, 119, 180)),
    ("chain gradient", RGBColor(214, 39, 40)),
    ("chain jvp", RGBColor(31, 119, 180)),
    ("wide gradient", RGBColor(255, 127, 14)),
    ("wide jvp", RGBColor(44, 160, 44)),
];

/// The colour of a series: its own from [`NAMED_COLOURS`], else one of a
/// spare palette chosen by its name (stable across plots and runs).
fn colour_of(label: &str) -> RGBColor {
    const SPARE: [RGBColor; 4] = [
        RGBColor(188, 189, 34),
        RGBColor(227, 119, 194),
        RGBColor(0, 0, 0),
        RGBColor(102, 102, 255),
    ];
    NAMED_COLOURS
        .iter()
        .find(|(name, _)| *name == label)
        .map(|&(_, c)| c)
        .unwrap_or_else(|| {
            let hash = label
                .bytes()
                .fold(0usize, |h, b| h.wrapping_mul(31) + b as usize);
            SPARE[hash % SPARE.len()]
        })
}

/// A tick label a reader takes in at a glance: `0.5`, `3`, `40`, `1k`,
/// `20k`, `1M`, `1e-6`.
fn tick(v: f64) -> String {
    let a = v.abs();
    if a == 0.0 {
        "0".into()
    } else if !(1e-3..1e9).contains(&a) {
        format!("{v:.0e}")
    } else if a >= 1e6 {
        format!("{}M", trim(v / 1e6))
    } else if a >= 1e3 {
        format!("{}k", trim(v / 1e3))
    } else {
        trim(v)
    }
}

/// Up to three significant digits, without trailing zeros.
fn trim(v: f64) -> String {
    let digits = (2 - v.abs().log10().floor() as i32).clamp(0, 6) as usize;
    let text = format!("{v:.digits$}");
    if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        text
    }
}

/// What a chart draws beside its series.
#[derive(Default)]
struct Marks {
    /// A horizontal band `(low, high, label)`: the seed's "two to four
    /// times a single function evaluation" on the gradient plots.
    band: Option<(f64, f64, String)>,
    /// A vertical line `(x, label)`: the n-against-m crossover.
    crossover: Option<(f64, String)>,
}

/// Draws a log-log line chart.
fn chart(
    path: &Path,
    title: &str,
    x_label: &str,
    y_label: &str,
    series: &[Series],
    marks: &Marks,
) -> Result<()> {
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
    let (mut y0, mut y1) = all
        .iter()
        .fold((f64::MAX, f64::MIN), |(a, b), p| (a.min(p.1), b.max(p.1)));
    if let Some((low, high, _)) = &marks.band {
        y0 = y0.min(*low);
        y1 = y1.max(*high);
    }
    let root = SVGBackend::new(path, (720, 460)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| anyhow::anyhow!("{e}"))?;
    let (xr, yr) = (x0 / 1.3..x1 * 1.3, y0 / 1.5..y1 * 1.5);
    let mut c = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 18))
        .margin(12)
        .x_label_area_size(44)
        .y_label_area_size(70)
        .build_cartesian_2d(xr.clone().log_scale(), yr.clone().log_scale())
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    c.configure_mesh()
        .x_desc(x_label)
        .y_desc(y_label)
        .x_label_formatter(&|v| tick(*v))
        .y_label_formatter(&|v| tick(*v))
        .draw()
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    if let Some((low, high, label)) = &marks.band {
        let shade = RGBColor(255, 215, 0);
        c.draw_series(std::iter::once(Rectangle::new(
            [(xr.start, *low), (xr.end, *high)],
            shade.mix(0.25).filled(),
        )))
        .map_err(|e| anyhow::anyhow!("{e}"))?
        .label(label.clone())
        .legend(move |(x, y)| {
            Rectangle::new([(x, y - 5), (x + 18, y + 5)], shade.mix(0.5).filled())
        });
    }
    if let Some((at, label)) = &marks.crossover {
        let grey = RGBColor(90, 90, 90);
        c.draw_series(DashedLineSeries::new(
            vec![(*at, yr.start), (*at, yr.end)],
            6,
            4,
            grey.stroke_width(1),
        ))
        .map_err(|e| anyhow::anyhow!("{e}"))?
        .label(label.clone())
        .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], grey.stroke_width(1)));
    }
    for (label, points) in series {
        let colour = colour_of(label);
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

/// Each method's ratio to the primal against the size (the primal itself
/// left out): every row, for the plot, and the trusted rows only, for the
/// slope fits (a row whose rounds spread beyond [`MAX_SPREAD`] is flagged
/// as suspect and left out). `field` gives a row's method, size, ratio and
/// spread.
fn ratio_series<R>(
    rows: &[&R],
    field: impl Fn(&R) -> (&str, f64, f64, f64),
) -> (Vec<Series>, Vec<Series>) {
    let mut all: BTreeMap<String, Vec<(f64, f64)>> = BTreeMap::new();
    let mut trusted: BTreeMap<String, Vec<(f64, f64)>> = BTreeMap::new();
    for &r in rows {
        let (method, size, ratio, spread) = field(r);
        if method == "primal" {
            continue;
        }
        all.entry(method.to_string())
            .or_default()
            .push((size, ratio));
        if spread <= MAX_SPREAD {
            trusted
                .entry(method.to_string())
                .or_default()
                .push((size, ratio));
        }
    }
    (all.into_iter().collect(), trusted.into_iter().collect())
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
            let (series, fitted) = ratio_series(&rs, |r| {
                (&r.method, r.n as f64, r.ratio_to_primal, r.spread)
            });
            for (method, pts) in &fitted {
                slopes.push((format!("gradient {problem}"), method.clone(), slope(pts)));
            }
            let file = format!("gradient_{problem}.svg");
            chart(
                &out.join(&file),
                &format!("{problem}: gradient cost / primal cost"),
                "inputs n",
                "time ratio to the primal",
                &series,
                &Marks {
                    band: Some((2.0, 4.0, "the seed: reverse mode 2–4× the primal".into())),
                    crossover: None,
                },
            )?;
            svgs.push(file);
        }
        sections.push((
            "Gradient cost against the primal".into(),
            svgs,
            table(&rows)?,
        ));
    }
    if let Some(rows) = rows::read::<GradientInstructionsRow>(out)? {
        sections.push((
            "Gradient cost in instructions (callgrind)".into(),
            Vec::new(),
            table(&rows)?,
        ));
    }
    if let Some(rows) = rows::read::<NmRow>(out)? {
        let mut svgs = Vec::new();
        for (sweep, rs) in group(&rows, |r| &r.sweep) {
            let by_m = sweep.starts_with('m');
            let axis = if by_m { "m" } else { "n" };
            let mut crossover: Option<(f64, String)> = None;
            let (series, fitted) = ratio_series(&rs, |r| {
                let size = if by_m { r.m } else { r.n };
                (r.method.as_str(), size as f64, r.ratio_to_primal, r.spread)
            });
            for (method, pts) in &fitted {
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
                    crossover = Some((*x, format!("{winner} {axis} = {}", tick(*x))));
                }
            }
            let file = format!("nm_{}.svg", sweep.replace([' ', '(', ')', '='], ""));
            chart(
                &out.join(&file),
                &format!("Jacobian of F(n, m), sweep {sweep}: cost / primal"),
                axis,
                "time ratio to the primal",
                &series,
                &Marks {
                    band: None,
                    crossover,
                },
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
                &Marks::default(),
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
                &Marks::default(),
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
            &Marks::default(),
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
                &Marks::default(),
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
         td,th{border:1px solid #ccc;padding:2px 6px;text-align:right}.targets td,.targets th{text-align:left}th{background:#eee}svg{margin:0.5em 0}pre{background:#f6f6f6;padding:1em}\
         </style></head><body><h1>adcheck bench</h1><p>Every ratio below comes from measurements interleaved in one run \
         (medians over rounds). Rebuild this page from the CSVs with <code>cargo xtask bench report</code>.</p>",
    );
    let targets = table(&headline(out)?)?.replacen("<table>", "<table class=\"targets\">", 1);
    let _ = write!(html, "<h2>Targets</h2>{targets}");
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

/// One row of the page's headline: a target, what this run measured and
/// whether it is met.
#[derive(Serialize)]
struct Target {
    target: String,
    measured: String,
    verdict: &'static str,
}

/// The targets the bench measures (the seed chapter's and the open
/// issues'), judged from `gradient.csv` and `second.csv`: the CPU-time
/// ratios of one run.
fn headline(out: &Path) -> Result<Vec<Target>> {
    let rows = rows::read::<GradientRow>(out)?.unwrap_or_default();
    let ratio = |problem: &str, n: usize, method: &str| {
        rows.iter()
            .find(|r| r.problem == problem && r.n == n && r.method == method)
            .map(|r| r.ratio_to_primal)
    };
    let mut targets = Vec::new();
    let mut at_most = |target: &str, measured: Option<f64>, bound: f64| {
        targets.push(Target {
            target: target.to_string(),
            measured: measured.map_or_else(|| "not measured".into(), |m| format!("{m:.2}×")),
            verdict: match measured {
                None => "—",
                Some(m) if m <= bound => "met",
                Some(_) => "missed",
            },
        });
    };
    let reverse_rosenbrock = ratio("rosenbrock", 1000, "reverse");
    // The best built-in reverse mode: the tape or the source engine,
    // whichever the run measured cheaper.
    let best = |problem: &str, n: usize| {
        [
            ratio(problem, n, "reverse"),
            ratio(problem, n, SOURCE_REVERSE),
        ]
        .into_iter()
        .flatten()
        .reduce(f64::min)
    };
    let best_rosenbrock = best("rosenbrock", 1000);
    at_most(
        "best built-in reverse mode ≤ 5× the primal, Rosenbrock n = 1000",
        best_rosenbrock,
        5.0,
    );
    at_most(
        "best built-in reverse mode ≤ 2× the primal, log-sum-exp n = 10⁵",
        best("logsumexp", 100_000),
        2.0,
    );
    at_most(
        "the seed: reverse mode within 2–4× the primal (at most 4×), Rosenbrock n = 1000",
        best_rosenbrock,
        4.0,
    );
    at_most(
        "reverse (tape) ≤ 35× the primal, Rosenbrock n = 1000",
        reverse_rosenbrock,
        35.0,
    );
    at_most(
        "forward mode ≤ 2× the primal per direction, Rosenbrock n = 1000",
        ratio("rosenbrock", 1000, "forward_per_direction"),
        2.0,
    );
    // The same targets in instructions, when callgrind counted them.
    let counted = rows::read::<GradientInstructionsRow>(out)?.unwrap_or_default();
    let counted_ratio = |problem: &str, n: usize, method: &str| {
        counted
            .iter()
            .find(|r| r.problem == problem && r.n == n && r.method == method)
            .map(|r| r.ratio_to_primal)
    };
    if !counted.is_empty() {
        let best_counted = |problem: &str, n: usize| best_reverse(&counted_ratio, problem, n);
        at_most(
            "best built-in reverse mode ≤ 5× the primal, Rosenbrock n = 1000, in instructions",
            best_counted("rosenbrock", 1000),
            5.0,
        );
        at_most(
            "best built-in reverse mode ≤ 2× the primal, log-sum-exp n = 10⁵, in instructions",
            best_counted("logsumexp", 100_000),
            2.0,
        );
        at_most(
            "reverse (tape) ≤ 35× the primal, Rosenbrock n = 1000, in instructions",
            counted_ratio("rosenbrock", 1000, "reverse"),
            35.0,
        );
        at_most(
            "forward mode ≤ 2× the primal per direction, Rosenbrock n = 1000, in instructions",
            counted_ratio("rosenbrock", 1000, "forward_per_direction"),
            2.0,
        );
    }
    // Ahead of the peers: at each problem's largest size, the built-in
    // method's ratio against the peer's of the same mode.
    let largest = |problem: &str| {
        rows.iter()
            .filter(|r| r.problem == problem)
            .map(|r| r.n)
            .max()
    };
    let problems: Vec<String> = {
        let mut p: Vec<String> = rows.iter().map(|r| r.problem.clone()).collect();
        p.dedup();
        p
    };
    for (ours, peer, mode) in [
        (
            "reverse",
            crate::experiments::PEER_ECHIDNA_REVERSE,
            "reverse mode, against echidna",
        ),
        (
            SOURCE_REVERSE,
            crate::experiments::PEER_ECHIDNA_REVERSE,
            "source transformation, against echidna",
        ),
        (
            "forward_per_direction",
            crate::experiments::PEER_NUM_DUAL_DIRECTION,
            "forward mode per direction, against num-dual",
        ),
    ] {
        let pairs: Vec<(String, f64, f64)> = problems
            .iter()
            .filter_map(|p| {
                let n = largest(p)?;
                Some((format!("{p} n={n}"), ratio(p, n, ours)?, ratio(p, n, peer)?))
            })
            .collect();
        let measured = if pairs.is_empty() {
            "not measured (run with --peers)".to_string()
        } else {
            pairs
                .iter()
                .map(|(what, a, b)| format!("{what}: {a:.2}× vs {b:.2}×"))
                .collect::<Vec<_>>()
                .join("; ")
        };
        targets.push(Target {
            target: format!("ahead of the peer on every gradient problem: {mode}"),
            measured,
            verdict: if pairs.is_empty() {
                "—"
            } else if pairs.iter().all(|(_, a, b)| a < b) {
                "met"
            } else {
                "missed"
            },
        });
    }
    // The seed: H·v "at a cost comparable to a few gradient evaluations"
    // (at most 4, the top of its 2–4× band), each method against its own
    // gradient on every problem of `second.csv`.
    let second = rows::read::<SecondRow>(out)?.unwrap_or_default();
    for (method, source) in [
        ("forward over reverse", false),
        ("source transformation", true),
    ] {
        let measured: Vec<(&str, f64)> = second
            .iter()
            .filter_map(|r| {
                let ratio = if source {
                    r.source_hvp_over_gradient?
                } else {
                    r.hvp_over_gradient
                };
                Some((r.problem.as_str(), ratio))
            })
            .collect();
        targets.push(Target {
            target: format!(
                "the seed: H·v within a few gradients (at most 4×), {method}, against its own gradient"
            ),
            measured: if measured.is_empty() {
                "not measured (the second experiment)".into()
            } else {
                measured
                    .iter()
                    .map(|(p, r)| format!("{p}: {r:.2}×"))
                    .collect::<Vec<_>>()
                    .join("; ")
            },
            verdict: if measured.is_empty() {
                "—"
            } else if measured.iter().all(|&(_, r)| r <= 4.0) {
                "met"
            } else {
                "missed"
            },
        });
    }
    Ok(targets)
}

/// The best built-in reverse mode's ratio at `problem`, `n`: the tape's or
/// the source engine's, whichever `ratio` says is cheaper.
fn best_reverse(
    ratio: &impl Fn(&str, usize, &str) -> Option<f64>,
    problem: &str,
    n: usize,
) -> Option<f64> {
    [
        ratio(problem, n, "reverse"),
        ratio(problem, n, SOURCE_REVERSE),
    ]
    .into_iter()
    .flatten()
    .reduce(f64::min)
}

/// Measurements that cannot be right, or cannot be trusted: a derivative
/// cheaper than the primal it includes, an H·v or Hessian cheaper than the
/// one gradient it includes, or rounds that spread by more than their
/// median. `(file, row, why)`, written to `suspect.csv` and the page.
///
/// The source engine's gradient includes its own compiled primal, not the
/// Rust primal its ratio divides by: the compiler folds what depends only
/// on constants (GMM's and llsq's data), so below 1× is possible there and
/// is not flagged. Nor is its H·v below its gradient: the two are compiled
/// apart, and the `f64` code rolls loops of at most 32 operations an
/// iteration where the H·v code rolls 64 (RK4's step of 54 runs straight
/// in its gradient and as a loop in its H·v).
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
        if method != "primal" && method != SOURCE_REVERSE && ratio < 1.0 {
            found.push((
                file.into(),
                what.clone(),
                format!("{ratio:.3}× the primal it includes"),
            ));
        }
        if spread > MAX_SPREAD {
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
