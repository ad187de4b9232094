//! The conformance report of one engine: Markdown, HTML (the same document)
//! and a CSV of its tables.

use crate::ReportError;
use adcheck_engines::ProcessFault;
use adcheck_suites::conformance::{
    CaseId, Check, ConformanceReport, Counterexample, FailMeaning, Outcome, Record, ReplayCase,
    Suite, SummaryRow,
};
use adcheck_suites::examine::{PitfallAnswer, PitfallOutcome};
use std::fmt::Write as _;
use std::path::Path;

/// What a conformance report is made of.
pub struct ConformanceDocument<'a> {
    /// The engine's name.
    pub engine: &'a str,
    /// What the engine is (a built-in engine, an adapter, a process).
    pub description: &'a str,
    /// The command that reproduces the report.
    pub command: &'a str,
    /// The seed.
    pub seed: u64,
    /// Generated programs checked.
    pub cases: u64,
    /// Wall time, in seconds.
    pub wall_seconds: f64,
    /// Cases not started because the time budget ran out.
    pub skipped_cases: u64,
    /// The run's records and shrunk counterexamples.
    pub report: &'a ConformanceReport,
    /// The engine's answers on the catalogue, with the MPFR references.
    pub catalogue: &'a [PitfallAnswer],
    /// Where the replay files of the shrunk counterexamples are.
    pub failures_dir: &'a str,
    /// The command that checks this engine, to which `--replay FILE` is
    /// added to replay one failure; or, when it contains `{file}`, the
    /// Markdown that says how to replay the failure saved at `{file}` (an
    /// engine checked from its crate's own tests replays them there).
    pub engine_command: &'a str,
    /// The replayed corpus cases (for the findings on them).
    pub corpus: &'a [ReplayCase],
}

fn cell(text: &str) -> String {
    text.replace('|', "\\|").replace(['\n', '\r'], " ")
}

fn bits(b: Option<f64>) -> String {
    b.map_or_else(|| "–".to_string(), |b| format!("{b:.1}"))
}

fn vector(xs: &[f64]) -> String {
    let entries: Vec<String> = xs
        .iter()
        .map(|x| {
            if x.is_nan() {
                "NaN".to_string()
            } else {
                format!("{x:?}")
            }
        })
        .collect();
    format!("[{}]", entries.join(", "))
}

/// The engine's answer to a catalogue case, for a table cell.
fn engine_gives(a: &PitfallAnswer) -> String {
    a.got
        .as_ref()
        .map_or_else(|e| format!("error: {}", cell(e)), |g| vector(g))
}

fn expected_vector(xs: &[f64]) -> String {
    // NaN in an expectation means "any non-finite value".
    vector(xs).replace("NaN", "non-finite")
}

fn family_table(out: &mut String, rows: &[&SummaryRow], first: &str) {
    let _ = writeln!(
        out,
        "| {first} | pass | fail | inconclusive | worst bits | median bits |\n|---|---:|---:|---:|---:|---:|"
    );
    for r in rows {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} |",
            cell(&r.group),
            r.pass,
            r.fail,
            r.inconclusive,
            bits(r.worst_bits),
            bits(r.median_bits)
        );
    }
    out.push('\n');
}

/// The fault a record carries, if the engine broke the protocol.
pub fn fault_of(record: &Record) -> Option<ProcessFault> {
    record.process_fault
}

impl ConformanceDocument<'_> {
    /// The report in Markdown.
    /// The report's figures, computed once; the Markdown (and so the HTML)
    /// only formats them.
    pub fn summary(&self) -> ConformanceSummary {
        let report = self.report;
        let wrong = self.answers(PitfallOutcome::Wrong);
        let failed = |kind: FailKind| {
            report
                .records
                .iter()
                .filter(|r| r.verdict == Outcome::Fail && self.finding(r, &wrong) == kind)
                .count()
        };
        let faults: Vec<ProcessFault> = report.records.iter().filter_map(fault_of).collect();
        let mut protocol_faults: Vec<(ProcessFault, usize)> = ProcessFault::ALL
            .iter()
            .map(|&f| (f, faults.iter().filter(|&&g| g == f).count()))
            .filter(|&(_, k)| k > 0)
            .collect();
        protocol_faults.sort_by_key(|&(f, k)| format!("{} {k}", f.name()));
        let rows = report.summary();
        let of_suite = |suite: &str| -> Vec<SummaryRow> {
            rows.iter().filter(|r| r.suite == suite).cloned().collect()
        };
        ConformanceSummary {
            checks: report.records.len(),
            pass: report.count(Outcome::Pass),
            convention: report.count(Outcome::Convention),
            fail: report.count(Outcome::Fail),
            inconclusive: report.count(Outcome::Inconclusive),
            inconclusive_share: report.inconclusive_share(),
            catalogue_cases: self.catalogue.len(),
            catalogue_matches: self
                .catalogue
                .iter()
                .filter(|a| a.outcome == PitfallOutcome::Matches)
                .count(),
            catalogue_wrong: wrong.len(),
            catalogue_other_conventions: self.answers(PitfallOutcome::OtherConvention).len(),
            wrong: failed(FailKind::Wrong),
            inaccurate: failed(FailKind::Inaccurate),
            inconsistent: failed(FailKind::Consistency),
            faults: failed(FailKind::Error),
            counterexamples: report.counterexamples.len(),
            protocol_faults,
            families: of_suite("generated"),
            properties: of_suite("properties"),
            corpus: of_suite("corpus"),
        }
    }

    /// The report in Markdown.
    pub fn markdown(&self) -> String {
        let report = self.report;
        let mut out = String::new();
        let _ = writeln!(out, "# Conformance report: `{}`\n", self.engine);
        let _ = writeln!(out, "{}\n", self.description);
        let _ = writeln!(
            out,
            "Reproduce with `{}` (seed {}, {} generated programs; {:.1} s).\n",
            self.command, self.seed, self.cases, self.wall_seconds
        );
        if self.skipped_cases > 0 {
            let _ = writeln!(
                out,
                "**{} scheduled cases were not started: the time budget ran out.** What follows covers the cases that ran.\n",
                self.skipped_cases
            );
        }

        let summary = self.summary();
        let wrong = self.answers(PitfallOutcome::Wrong);
        self.write_findings(&mut out);
        write_summary_section(&mut out, &summary);
        for (title, rows, group) in [
            (
                "Operation families (generated programs)",
                &summary.families,
                "family",
            ),
            ("Consistency properties", &summary.properties, "property"),
            ("Regression corpus", &summary.corpus, "family"),
        ] {
            if !rows.is_empty() {
                let _ = writeln!(out, "## {title}\n");
                let rows: Vec<&SummaryRow> = rows.iter().collect();
                family_table(&mut out, &rows, group);
            }
        }

        if !self.catalogue.is_empty() {
            let _ = writeln!(out, "## Conventions at kinks and domain edges\n");
            let _ = writeln!(
                out,
                "Where the derivative is a choice, adcheck declares one (see the table of `adcheck_engines::conventions`, beside what JAX 0.10.2 and PyTorch 2.15.0 answer, measured). \
                 A different admissible choice is reported here, not as a wrong derivative.\n"
            );
            let _ = writeln!(
                out,
                "| case | point | declared | engine gives | follows |\n|---|---|---|---|---|"
            );
            for a in self.catalogue.iter().filter(|a| a.is_convention) {
                let _ = writeln!(
                    out,
                    "| `{}` | {} | {} | {} | {} |",
                    a.name,
                    vector(&a.point),
                    expected_vector(&a.expected),
                    engine_gives(a),
                    match a.outcome {
                        PitfallOutcome::Matches => "the declared convention",
                        PitfallOutcome::OtherConvention => "**another convention**",
                        PitfallOutcome::Wrong => "**wrong**",
                        PitfallOutcome::Error => "**error**",
                    }
                );
            }
            out.push('\n');

            let _ = writeln!(out, "## Catalogue\n");
            let _ = writeln!(
                out,
                "| case | family | outcome | expected | engine gives | MPFR reference |\n|---|---|---|---|---|---|"
            );
            for a in self.catalogue {
                let reference: Vec<String> = a
                    .reference
                    .iter()
                    .map(|e| format!("{:?} ({})", e.value, e.support))
                    .collect();
                let _ = writeln!(
                    out,
                    "| `{}` | {} | {} | {} | {} | {} |",
                    a.name,
                    a.family,
                    match a.outcome {
                        PitfallOutcome::Matches => a.outcome.name().to_string(),
                        o => format!("**{}**", o.name()),
                    },
                    expected_vector(&a.expected),
                    engine_gives(a),
                    cell(&reference.join(", "))
                );
            }
            out.push('\n');
        }

        // Failures, by what they mean.
        let shrunk = |r: &Record| self.counterexample_of(r).is_some();
        let kind_of_record = |r: &Record| self.finding(r, &wrong);
        for (kind, title, blurb) in [
            (
                FailKind::Wrong,
                "Wrong derivatives",
                "No admissible value is near the engine's answer: both MPFR references (symbolic and finite differences) agree on the expected value, or at a kink the answer lies outside every value the chain rule admits there.",
            ),
            (
                FailKind::Inaccurate,
                "Inaccurate derivatives",
                "The right value to a loose bound (at least 20 correct bits), but with bits lost beyond the rounding scale: a lossy formula, not a wrong one. These fail a run only under --min-bits.",
            ),
            (
                FailKind::Consistency,
                "Consistency violations",
                "Properties every correct engine has (forward and reverse agree, ⟨u, Jv⟩ = ⟨uᵀJ, v⟩, answers repeat), checked without a reference.",
            ),
            (
                FailKind::Error,
                "Errors and protocol faults",
                "The engine failed to answer: an error, a panic, an answer of the wrong length, or (for a process) a crash, a timeout, garbage or a wrong id.",
            ),
        ] {
            let catalogue_cases: &[&PitfallAnswer] = if kind == FailKind::Wrong { &wrong } else { &[] };
            let counterexamples: Vec<_> = report
                .counterexamples
                .iter()
                .filter(|c| kind_of_counterexample(c) == kind)
                .collect();
            let records: Vec<&Record> = report
                .records
                .iter()
                .filter(|r| r.verdict == Outcome::Fail && kind_of_record(r) == kind && !shrunk(r))
                .collect();
            if catalogue_cases.is_empty() && counterexamples.is_empty() && records.is_empty() {
                continue;
            }
            let _ = writeln!(out, "## {title}\n\n{blurb}\n");
            for a in catalogue_cases {
                write_wrong_pitfall(&mut out, a);
            }
            for c in counterexamples {
                write_counterexample(&mut out, c, self.engine_command, self.failures_dir);
            }
            if !records.is_empty() {
                let _ = writeln!(out, "| case | check | reason |\n|---|---|---|");
                for r in records {
                    let _ = writeln!(out, "| `{}` | {} | {} |", r.case, r.check, cell(&r.reason));
                }
                out.push('\n');
            }
        }
        if summary.fail == 0 && wrong.is_empty() {
            let _ = writeln!(out, "## Failures\n\nNone.\n");
        }
        out
    }

    /// The catalogue answers with `outcome`.
    fn answers(&self, outcome: PitfallOutcome) -> Vec<&PitfallAnswer> {
        self.catalogue
            .iter()
            .filter(|a| a.outcome == outcome)
            .collect()
    }

    /// Each distinct wrong derivative once: the shrunk counterexamples
    /// grouped by the operations of their program (the smallest shown),
    /// then wrong answers on replayed corpus cases, then the catalogue's.
    pub fn findings(&self) -> Vec<Finding> {
        let mut groups: Vec<(String, Vec<&Counterexample>)> = Vec::new();
        for c in &self.report.counterexamples {
            if kind_of_counterexample(c) != FailKind::Wrong {
                continue;
            }
            let key = operations(&c.case.program);
            match groups.iter_mut().find(|(k, _)| *k == key) {
                Some((_, members)) => members.push(c),
                None => groups.push((key, vec![c])),
            }
        }
        let mut findings: Vec<Finding> = groups
            .into_iter()
            .map(|(operations, members)| {
                let smallest = members
                    .iter()
                    .min_by_key(|c| (c.size, c.case.id.clone()))
                    .expect("a group has a member");
                Finding {
                    operations,
                    check: smallest.case.check,
                    program: one_line(&smallest.case.program_text),
                    point: smallest.case.point.clone(),
                    engine_value: smallest.entry.map(|e| e.got),
                    exact_value: smallest.entry.map(|e| e.expected),
                    bits: smallest.entry.map(|e| e.bits_correct),
                    occurrences: members.len(),
                    source: smallest.case.id.clone(),
                }
            })
            .collect();
        findings.sort_by_key(|f| std::cmp::Reverse(f.occurrences));
        // Wrong answers on replayed corpus cases, once per case.
        for r in &self.report.records {
            if r.suite != Suite::Corpus || r.meaning != Some(FailMeaning::Wrong) {
                continue;
            }
            let id = match r.case_id() {
                CaseId::Corpus(id) => id,
                _ => r.case.as_str(),
            };
            let Some(case) = self.corpus.iter().find(|c| c.id == id) else {
                continue;
            };
            if findings.iter().any(|f| f.source == r.case) {
                continue;
            }
            findings.push(Finding {
                operations: operations(&case.program),
                check: r.check,
                program: one_line(&case.program_text),
                point: case.point.clone(),
                engine_value: r.failed_entry.as_ref().map(|e| e.got),
                exact_value: r.failed_entry.as_ref().map(|e| e.expected),
                bits: r.failed_entry.as_ref().map(|e| e.bits_correct),
                occurrences: 1,
                source: r.case.clone(),
            });
        }
        for a in self
            .catalogue
            .iter()
            .filter(|a| a.outcome == PitfallOutcome::Wrong)
        {
            let program = adcheck_engines::Program::parse(&a.program).ok();
            let (got, exact) = (a.got.as_ref().ok(), &a.reference);
            // The first entry where the engine misses the reference.
            let k = got.and_then(|g| {
                g.iter()
                    .zip(exact)
                    .position(|(g, r)| g.to_bits() != r.value.to_bits())
            });
            findings.push(Finding {
                operations: program.as_ref().map_or_else(String::new, operations),
                check: Check::Gradient,
                program: one_line(&a.program),
                point: a.point.clone(),
                engine_value: k.and_then(|k| got.map(|g| g[k])),
                exact_value: k.map(|k| exact[k].value),
                bits: None,
                occurrences: 1,
                source: CaseId::Catalogue(&a.name).to_string(),
            });
        }
        findings
    }

    fn write_findings(&self, out: &mut String) {
        let findings = self.findings();
        let _ = writeln!(out, "## Findings\n");
        if findings.is_empty() {
            let _ = writeln!(
                out,
                "No wrong derivatives: every answer either passed, followed a convention, or could not be decided (see the summary).\n"
            );
        } else {
            let _ = writeln!(
                out,
                "Each distinct wrong derivative once (both MPFR references agree, or the answer lies outside every admissible value; grouped by the operations of the smallest program, details and replay commands below).\n"
            );
            let _ = writeln!(
                out,
                "| operations | check | smallest program | point | engine gives | exact (MPFR) | bits | cases |\n|---|---|---|---|---|---|---:|---:|"
            );
            let value = |v: Option<f64>| v.map_or_else(|| "–".to_string(), |v| format!("{v:?}"));
            for f in &findings {
                let _ = writeln!(
                    out,
                    "| {} | {} | `{}` | {} | {} | {} | {} | {} |",
                    cell(&f.operations),
                    f.check,
                    cell(&f.program),
                    vector(&f.point),
                    value(f.engine_value),
                    value(f.exact_value),
                    bits(f.bits),
                    f.occurrences
                );
            }
            out.push('\n');
        }
        let differing = self.answers(PitfallOutcome::OtherConvention);
        let conventions = self
            .report
            .records
            .iter()
            .filter(|r| {
                r.verdict == Outcome::Convention && !matches!(r.case_id(), CaseId::Catalogue(_))
            })
            .count();
        if !differing.is_empty() || conventions > 0 {
            let _ = writeln!(out, "## Conventions that differ from the declared ones\n");
            if !differing.is_empty() {
                let _ = writeln!(
                    out,
                    "| case | point | declared | engine gives |\n|---|---|---|---|"
                );
                for a in &differing {
                    let _ = writeln!(
                        out,
                        "| `{}` | {} | {} | {} |",
                        a.name,
                        vector(&a.point),
                        expected_vector(&a.expected),
                        engine_gives(a)
                    );
                }
                out.push('\n');
            }
            // One class: a mode that multiplies a zero seed by an infinite
            // partial (the only convention a consistency property folds
            // to: `PropertyOutcome::ZeroSeedTimesInfinity`).
            let zero_seed: Vec<&Record> = self
                .report
                .records
                .iter()
                .filter(|r| {
                    r.verdict == Outcome::Convention && matches!(r.check, Check::Property(_))
                })
                .collect();
            let at_kinks = conventions - zero_seed.len();
            if at_kinks > 0 {
                let _ = writeln!(
                    out,
                    "{at_kinks} checks of generated programs sit at a kink, a tie or a domain edge and answered an admissible value (verdict `convention` in cases.csv, with the admissible set).\n"
                );
            }
            if let Some(first) = zero_seed.first() {
                let _ = writeln!(
                    out,
                    "{} consistency checks differ only by {} where the derivative is not finite on some path: one mode multiplied an exactly zero seed by an infinite partial on a path the other does not take (verdict `convention`; first: `{}` {}, {}).\n",
                    zero_seed.len(),
                    adcheck_suites::properties::ZERO_SEED_TIMES_INFINITY,
                    first.case,
                    first.check,
                    first.reason
                );
            }
        }
    }

    /// The shrunk counterexample of a failed record, if it has one.
    fn counterexample_of(&self, r: &Record) -> Option<&Counterexample> {
        self.report.counterexamples.iter().find(|c| c.shows(r))
    }

    /// What a failed record means. A shrunk counterexample's evidence
    /// decides for its record (on the small program both references may
    /// confirm what a kink in the original left open); catalogue
    /// expectations are shown in the catalogue's own sections.
    fn finding(&self, r: &Record, wrong: &[&PitfallAnswer]) -> FailKind {
        let of_a_wrong_pitfall = match r.case_id() {
            CaseId::Catalogue(name) => wrong.iter().any(|a| a.name == name),
            _ => false,
        };
        if r.check == Check::Expected || of_a_wrong_pitfall {
            return FailKind::Catalogue;
        }
        if let Some(c) = self.counterexample_of(r) {
            return kind_of_counterexample(c);
        }
        kind_of(r.fail_meaning().unwrap_or(FailMeaning::Wrong))
    }

    /// The report as one self-contained HTML page.
    pub fn html(&self) -> String {
        let markdown = self.markdown();
        let mut options = pulldown_cmark::Options::empty();
        options.insert(pulldown_cmark::Options::ENABLE_TABLES);
        let parser = pulldown_cmark::Parser::new_ext(&markdown, options);
        let mut body = String::new();
        pulldown_cmark::html::push_html(&mut body, parser);
        format!(
            "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
             <title>adcheck conformance: {}</title><style>\
             body{{font-family:system-ui,sans-serif;max-width:75rem;margin:2rem auto;padding:0 1rem;color:#222}}\
             table{{border-collapse:collapse;margin:1rem 0;font-size:.9rem}}\
             th,td{{border:1px solid #ccc;padding:.25rem .5rem;vertical-align:top}}\
             th{{background:#f3f3f3}}code,pre{{background:#f6f6f6}}pre{{padding:.5rem;overflow-x:auto}}\
             td:nth-child(n+2){{font-variant-numeric:tabular-nums}}\
             </style></head><body>\n{body}</body></html>\n",
            html_escape(self.engine)
        )
    }

    /// Writes `conformance.md`, `conformance.html` and `conformance.csv`
    /// (the summary rows and the catalogue outcomes) into `dir`.
    pub fn write(&self, dir: &Path) -> Result<(), ReportError> {
        let io = |path: &Path| {
            let path = path.to_path_buf();
            move |source| ReportError::Io { path, source }
        };
        let md = dir.join("conformance.md");
        std::fs::write(&md, self.markdown()).map_err(io(&md))?;
        let html = dir.join("conformance.html");
        std::fs::write(&html, self.html()).map_err(io(&html))?;
        let csv_path = dir.join("conformance.csv");
        let mut w = csv::Writer::from_path(&csv_path).map_err(|e| ReportError::Csv {
            path: csv_path.clone(),
            source: e,
        })?;
        let csv_err = |e| ReportError::Csv {
            path: csv_path.clone(),
            source: e,
        };
        w.write_record([
            "engine",
            "section",
            "group",
            "pass",
            "fail",
            "inconclusive",
            "worst_bits",
            "median_bits",
            "outcome",
            "expected",
            "got",
            "mpfr",
        ])
        .map_err(csv_err)?;
        let opt = |b: Option<f64>| b.map(|b| format!("{b:.2}")).unwrap_or_default();
        for r in self.report.summary() {
            w.write_record([
                self.engine,
                &r.suite,
                &r.group,
                &r.pass.to_string(),
                &r.fail.to_string(),
                &r.inconclusive.to_string(),
                &opt(r.worst_bits),
                &opt(r.median_bits),
                "",
                "",
                "",
                "",
            ])
            .map_err(csv_err)?;
        }
        for a in self.catalogue {
            let reference: Vec<String> = a
                .reference
                .iter()
                .map(|e| format!("{:?}", e.value))
                .collect();
            w.write_record([
                self.engine,
                "catalogue_answer",
                &a.name,
                "",
                "",
                "",
                "",
                "",
                a.outcome.name(),
                &expected_vector(&a.expected),
                &a.got
                    .as_ref()
                    .map_or_else(|e| format!("error: {e}"), |g| vector(g)),
                &format!("[{}]", reference.join(", ")),
            ])
            .map_err(csv_err)?;
        }
        w.flush().map_err(io(&csv_path))
    }
}

/// One distinct wrong derivative, as the report's first section lists it.
#[derive(Clone, Debug, PartialEq)]
pub struct Finding {
    /// The operations of the smallest program showing it, sorted.
    pub operations: String,
    /// The check that failed.
    pub check: Check,
    /// The smallest program, its lines joined by `; `.
    pub program: String,
    /// The point.
    pub point: Vec<f64>,
    /// The engine's value at the first failing entry.
    pub engine_value: Option<f64>,
    /// The exact value there (MPFR, rounded to `f64`).
    pub exact_value: Option<f64>,
    /// Bits of the exact value the engine reproduces.
    pub bits: Option<f64>,
    /// How many failures (shrunk counterexamples) show it.
    pub occurrences: usize,
    /// The case it was taken from (replay file name, or catalogue case).
    pub source: String,
}

/// The sorted, distinct operations of `program` (constants left out).
fn operations(program: &adcheck_engines::Program) -> String {
    let ops: std::collections::BTreeSet<&str> = program
        .body()
        .iter()
        .filter(|i| !matches!(i, adcheck_engines::program::Instr::Const(_)))
        .map(|i| i.op_name())
        .collect();
    ops.into_iter().collect::<Vec<_>>().join(", ")
}

/// A program's text on one line.
fn one_line(text: &str) -> String {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join("; ")
}

/// A conformance report's figures ([`ConformanceDocument::summary`]).
#[derive(Clone, Debug, PartialEq)]
pub struct ConformanceSummary {
    /// Checks in all.
    pub checks: usize,
    /// Checks by verdict.
    pub pass: usize,
    /// Admissible answers where the derivative is not one value.
    pub convention: usize,
    /// Failed checks, all meanings.
    pub fail: usize,
    /// Undecided checks.
    pub inconclusive: usize,
    /// `inconclusive / checks`.
    pub inconclusive_share: f64,
    /// Catalogue cases examined.
    pub catalogue_cases: usize,
    /// Catalogue cases answered as declared.
    pub catalogue_matches: usize,
    /// Catalogue cases answered wrong (confirmed by MPFR).
    pub catalogue_wrong: usize,
    /// Catalogue cases answered with another admissible convention.
    pub catalogue_other_conventions: usize,
    /// Failed checks outside the catalogue's expectations, by meaning.
    pub wrong: usize,
    /// `inaccurate` failures.
    pub inaccurate: usize,
    /// Consistency violations.
    pub inconsistent: usize,
    /// Errors, panics, malformed answers and protocol faults.
    pub faults: usize,
    /// Shrunk counterexamples.
    pub counterexamples: usize,
    /// Protocol faults by kind (those that occurred).
    pub protocol_faults: Vec<(ProcessFault, usize)>,
    /// The table rows of the generated programs (by family), the properties
    /// and the corpus.
    pub families: Vec<SummaryRow>,
    /// Rows of the consistency properties.
    pub properties: Vec<SummaryRow>,
    /// Rows of the regression corpus.
    pub corpus: Vec<SummaryRow>,
}

/// The `## Summary` section.
fn write_summary_section(out: &mut String, s: &ConformanceSummary) {
    let _ = writeln!(out, "## Summary\n");
    let _ = writeln!(
        out,
        "- {} checks: **{} pass, {} convention, {} fail, {} inconclusive** ({:.2}% inconclusive; a convention is an admissible answer where the derivative is not one value).",
        s.checks,
        s.pass,
        s.convention,
        s.fail,
        s.inconclusive,
        100.0 * s.inconclusive_share
    );
    let _ = writeln!(
        out,
        "- Catalogue: {} of {} cases as expected; {} wrong (confirmed by MPFR); {} follow another convention at a kink or edge.",
        s.catalogue_matches, s.catalogue_cases, s.catalogue_wrong, s.catalogue_other_conventions
    );
    let _ = writeln!(
        out,
        "- Failed checks outside the catalogue's expectations: {} wrong, {} inaccurate (the right value to a loose bound, bits lost beyond the rounding scale), {} consistency violations, {} errors or faults; {} shrunk counterexamples below.",
        s.wrong, s.inaccurate, s.inconsistent, s.faults, s.counterexamples
    );
    if !s.protocol_faults.is_empty() {
        let by_fault: Vec<String> = s
            .protocol_faults
            .iter()
            .map(|(f, k)| format!("{} {k}", f.name()))
            .collect();
        let _ = writeln!(out, "- Protocol faults: {}.", by_fault.join(", "));
    }
    out.push('\n');
}

/// What a failed check means.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum FailKind {
    /// A catalogue expectation (shown in the catalogue sections).
    Catalogue,
    /// A derivative or primal both references confirm, and the engine misses.
    Wrong,
    /// A consistency property does not hold.
    Consistency,
    /// No answer: an error, a panic, a malformed answer, a protocol fault.
    Error,
    /// The right value to a loose bound, with bits lost.
    Inaccurate,
}

/// The report's section for a failure's meaning.
fn kind_of(meaning: FailMeaning) -> FailKind {
    match meaning {
        FailMeaning::Wrong => FailKind::Wrong,
        FailMeaning::Inaccurate => FailKind::Inaccurate,
        FailMeaning::Inconsistent => FailKind::Consistency,
        FailMeaning::Fault => FailKind::Error,
    }
}

/// The section of a shrunk counterexample: its own meaning (replay files
/// written before meanings were recorded fall back on their evidence).
fn kind_of_counterexample(c: &Counterexample) -> FailKind {
    kind_of(
        c.meaning
            .unwrap_or_else(|| FailMeaning::classify(c.case.check.name(), &c.case.evidence)),
    )
}

fn write_wrong_pitfall(out: &mut String, a: &PitfallAnswer) {
    let _ = writeln!(out, "### Catalogue `{}` ({})\n", a.name, a.family);
    let _ = writeln!(out, "{}\n", a.note);
    let _ = writeln!(out, "```text\n{}```\n", a.program);
    let _ = writeln!(out, "- point: {}", vector(&a.point));
    let _ = writeln!(out, "- expected gradient: {}", expected_vector(&a.expected));
    if let Ok(g) = &a.got {
        let _ = writeln!(out, "- engine gives: {}", vector(g));
    }
    for (k, e) in a.reference.iter().enumerate() {
        let _ = writeln!(
            out,
            "- MPFR reference ∂{k} = {} (rounded to f64: {:?}; finite differences: {})",
            e.digits, e.value, e.support
        );
    }
    out.push('\n');
}

fn write_counterexample(
    out: &mut String,
    c: &Counterexample,
    engine_command: &str,
    failures_dir: &str,
) {
    let case = &c.case;
    let _ = writeln!(
        out,
        "### `{}`: {} of a generated program ({})\n",
        case.id, case.check, case.family
    );
    let _ = match &c.not_shrunk {
        Some(why) if c.size == c.original_size => {
            writeln!(out, "Not shrunk ({why}); {} assignments:\n", c.size)
        }
        Some(why) => writeln!(
            out,
            "Shrunk from {} to {} assignments ({} candidates tried), then stopped ({why}):\n",
            c.original_size, c.size, c.shrink_steps
        ),
        None => writeln!(
            out,
            "Shrunk from {} to {} assignments ({} candidates tried):\n",
            c.original_size, c.size, c.shrink_steps
        ),
    };
    let _ = writeln!(out, "```text\n{}```\n", case.program_text);
    let _ = writeln!(out, "- point: {}", vector(&case.point));
    match case.check {
        Check::Jvp | Check::Hvp => {
            let _ = writeln!(out, "- direction v: {}", vector(&case.direction));
        }
        Check::Vjp => {
            let _ = writeln!(out, "- cotangent u: {}", vector(&case.cotangent));
        }
        _ => {}
    }
    let _ = writeln!(out, "- evidence: {}", cell(&case.evidence));
    let file = format!("{failures_dir}/{}.json", case.id);
    let _ = if engine_command.contains("{file}") {
        writeln!(
            out,
            "- replay: {}\n",
            engine_command.replace("{file}", &file)
        )
    } else {
        writeln!(out, "- replay: `{engine_command} --replay {file}`\n")
    };
}

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

#[cfg(test)]
mod tests {
    use super::*;
    use adcheck_engines::Program;
    use adcheck_suites::conformance::{FailedEntry, ReplayCase, Suite};

    fn failing_report() -> ConformanceReport {
        let program = Program::parse("input v1\nv2 = tanh v1\noutput v2").unwrap();
        let evidence = "expected 4.2e-1 (MPFR 4.2e-1), got 4.1e-1; tolerance 1e-16; finite differences 4.2e-1 ± 1e-50 (Confirmed); symbolic: x";
        let record = Record {
            case: "gen-3".into(),
            suite: Suite::Generated,
            family: "hyperbolic".into(),
            engine: "planted".into(),
            check: Check::Jvp,
            verdict: Outcome::Fail,
            meaning: Some(FailMeaning::Wrong),
            bits: Some(5.0),
            ulps: None,
            reason: evidence.into(),
            seconds: 0.0,
            failed_entry: None,
            process_fault: None,
        };
        let entry = FailedEntry {
            expected: 0.42,
            got: 0.41,
            bits_correct: 5.0,
        };
        let counterexample = |id: &str, size| Counterexample {
            case: ReplayCase {
                id: id.into(),
                engine: "planted".into(),
                check: Check::Jvp,
                family: "hyperbolic".into(),
                program_text: program.to_string(),
                program: program.clone(),
                point: vec![0.5],
                direction: vec![1.0],
                cotangent: vec![1.0],
                verdict: "fail".into(),
                evidence: evidence.into(),
                seed: 1,
                index: Some(3),
            },
            size,
            original_size: 9,
            shrink_steps: 40,
            not_shrunk: None,
            entry: Some(entry),
            meaning: Some(FailMeaning::Wrong),
        };
        ConformanceReport {
            engine: "planted".into(),
            records: vec![record],
            counterexamples: vec![
                counterexample("gen-3-1-planted-jvp", 1),
                counterexample("gen-8-1-planted-jvp", 2),
            ],
        }
    }

    /// The report of the planted engine over `report` and `corpus`.
    fn planted_document<'a>(
        report: &'a ConformanceReport,
        corpus: &'a [ReplayCase],
    ) -> ConformanceDocument<'a> {
        ConformanceDocument {
            engine: "planted",
            description: "A planted engine.",
            command: "cargo xtask conformance --engine planted --seed 1 --cases 10",
            seed: 1,
            cases: 10,
            wall_seconds: 0.5,
            skipped_cases: 0,
            report,
            catalogue: &[],
            failures_dir: "out/failures",
            engine_command: "cargo xtask conformance --engine planted",
            corpus,
        }
    }

    #[test]
    fn the_summary_counts_what_the_markdown_says() {
        let mut report = failing_report();
        let first = report.records[0].clone();
        let fault = |process: ProcessFault, reason: &str| Record {
            check: Check::Vjp,
            meaning: Some(FailMeaning::Fault),
            bits: None,
            reason: reason.into(),
            process_fault: Some(process),
            ..first.clone()
        };
        let timeout = "engine_timeout: no reply within 10.0 s";
        report.records.push(fault(ProcessFault::Timeout, timeout));
        report.records.push(fault(
            ProcessFault::Crashed,
            "engine_crashed: exit status 1",
        ));
        report.records.push(fault(ProcessFault::Timeout, timeout));
        let document = planted_document(&report, &[]);
        let summary = document.summary();
        assert_eq!(
            (summary.checks, summary.fail, summary.wrong, summary.faults),
            (4, 4, 1, 3)
        );
        assert_eq!(
            summary.protocol_faults,
            [(ProcessFault::Crashed, 1), (ProcessFault::Timeout, 2)]
        );
        let markdown = document.markdown();
        assert!(
            markdown.contains("- Protocol faults: engine_crashed 1, engine_timeout 2."),
            "{markdown}"
        );
        assert!(markdown.contains("4 checks: **0 pass, 0 convention, 4 fail, 0 inconclusive**"));
    }

    #[test]
    fn a_report_with_failures_leads_with_its_findings() {
        let report = failing_report();
        let document = planted_document(&report, &[]);
        let markdown = document.markdown();
        let first_screen: Vec<&str> = markdown.lines().take(14).collect();
        assert_eq!(first_screen[6], "## Findings", "{markdown}");
        // The two counterexamples use the same operation: one finding.
        assert_eq!(
            first_screen[12],
            "| tanh | jvp | `input v1; v2 = tanh v1; output v2` | [0.5] | 0.41 | 0.42 | 5.0 | 2 |",
            "{markdown}"
        );
        assert_eq!(document.findings().len(), 1);
        assert!(markdown.find("## Findings") < markdown.find("## Summary"));
    }

    #[test]
    fn a_wrong_answer_on_a_corpus_case_is_a_finding() {
        let mut report = failing_report();
        let corpus_case = report.counterexamples[0].case.clone();
        let corpus_case = ReplayCase {
            id: "composed-hvp".into(),
            program_text: "input v1\nv2 = sin v1\noutput v2\n".into(),
            program: Program::parse("input v1\nv2 = sin v1\noutput v2").unwrap(),
            ..corpus_case
        };
        let mut record = report.records[0].clone();
        record.case = "corpus-composed-hvp".into();
        record.suite = Suite::Corpus;
        record.check = Check::Hvp;
        record.failed_entry = Some(FailedEntry {
            expected: 0.27,
            got: 0.0,
            bits_correct: 0.0,
        });
        report.records.push(record.clone());
        report.records.push(record);
        let corpus = [corpus_case];
        let document = planted_document(&report, &corpus);
        let findings = document.findings();
        assert_eq!(findings.len(), 2, "once per corpus case");
        let f = &findings[1];
        assert_eq!(
            (
                f.operations.as_str(),
                f.check.name(),
                f.engine_value,
                f.exact_value
            ),
            ("sin", "hvp", Some(0.0), Some(0.27))
        );
        assert_eq!(f.source, "corpus-composed-hvp");
    }
}
