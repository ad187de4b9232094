//! `adcheck-bench --quick`: every output exists with its columns, and every
//! number in it is finite (shape, not speed).

use std::process::Command;

fn columns(path: &std::path::Path) -> (Vec<String>, Vec<Vec<String>>) {
    let mut reader = csv::Reader::from_path(path).unwrap();
    let headers = reader
        .headers()
        .unwrap()
        .iter()
        .map(str::to_string)
        .collect();
    let rows = reader
        .records()
        .map(|r| r.unwrap().iter().map(str::to_string).collect())
        .collect();
    (headers, rows)
}

/// `adcheck-bench --out DIR report`, which must succeed.
fn report(dir: &std::path::Path) -> std::process::Output {
    let out = Command::new(env!("CARGO_BIN_EXE_adcheck-bench"))
        .arg("--out")
        .arg(dir)
        .arg("report")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

#[test]
fn quick_bench_writes_well_formed_outputs() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_adcheck-bench"))
        .args(["--quick", "--out"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let expect: &[(&str, &[&str])] = &[
        (
            "gradient.csv",
            &[
                "problem",
                "n",
                "method",
                "seconds",
                "spread",
                "ratio_to_primal",
            ],
        ),
        (
            "nm.csv",
            &[
                "sweep",
                "n",
                "m",
                "method",
                "seconds",
                "spread",
                "ratio_to_primal",
            ],
        ),
        (
            "checkpoint.csv",
            &[
                "problem",
                "steps",
                "schedule",
                "total_bytes",
                "untaped_steps",
                "minimum_untaped_steps",
                "seconds",
                "time_vs_store_all",
            ],
        ),
        (
            "second.csv",
            &[
                "problem",
                "n",
                "gradient_seconds",
                "hvp_seconds",
                "hvp_over_gradient",
            ],
        ),
        ("slopes.csv", &["experiment", "series", "log_log_slope"]),
        (
            "scale_oracle.csv",
            &["shape", "operations", "inputs", "quantity", "cpu_seconds"],
        ),
        (
            "scale_checkpointed.csv",
            &["schedule", "operations", "accounted_steps", "cpu_seconds"],
        ),
    ];
    for (file, wanted) in expect {
        let (headers, rows) = columns(&dir.path().join(file));
        for w in *wanted {
            assert!(headers.iter().any(|h| h == w), "{file} lacks {w}");
        }
        assert!(!rows.is_empty(), "{file} is empty");
        for row in &rows {
            for (h, v) in headers.iter().zip(row) {
                // A slope of NaN is the file's "no slope": too few trusted
                // rows, as when rounds spread under load (see
                // `impossible_measurements_are_flagged_as_suspect`).
                if *file == "slopes.csv" && h == "log_log_slope" && v == "NaN" {
                    continue;
                }
                if let Ok(x) = v.parse::<f64>() {
                    assert!(x.is_finite(), "{file}: {h} = {v}");
                }
            }
        }
    }
    // Binomial checkpointing advances exactly the Griewank–Walther minimum.
    let (headers, rows) = columns(&dir.path().join("checkpoint.csv"));
    let col = |name: &str| headers.iter().position(|h| h == name).unwrap();
    for row in rows.iter().filter(|r| r[col("schedule")] == "binomial_s10") {
        assert_eq!(row[col("untaped_steps")], row[col("minimum_untaped_steps")]);
    }
    let html = std::fs::read_to_string(dir.path().join("index.html")).unwrap();
    assert!(html.contains("<svg"), "index.html embeds its plots");
    assert!(
        !html.contains("src=\"http"),
        "index.html must not load anything from the network"
    );
    for svg in [
        "gradient_rosenbrock.svg",
        "nm_nm1.svg",
        "checkpoint_memory_rk4.svg",
    ] {
        assert!(dir.path().join(svg).exists(), "{svg} missing");
    }
}

#[test]
fn impossible_measurements_are_flagged_as_suspect() {
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, text: &str| std::fs::write(dir.path().join(name), text).unwrap();
    // A gradient at 0.18 of its primal, a round spread of 150%, and an H·v
    // at 0.13 of the gradient it includes: what wall-clock time under load
    // once wrote. The source engine below 1× is not flagged: its gradient
    // includes its own compiled primal, with the constants folded.
    write(
        "gradient.csv",
        "problem,n,method,seconds,spread,ratio_to_primal\n\
         rosenbrock,10,primal,1e-6,0.05,1.0\n\
         rosenbrock,10,forward_per_direction,1.8e-7,0.05,0.18\n\
         rosenbrock,10,source,9e-7,0.05,0.9\n\
         rosenbrock,10,reverse,3e-5,1.5,30.0\n\
         rosenbrock,100,reverse,3e-4,0.05,30.0\n",
    );
    write(
        "second.csv",
        "problem,n,gradient_seconds,hvp_seconds,hvp_over_gradient,hessian_seconds,hessian_over_gradient\n\
         rk4,6,1e-3,1.3e-4,0.13,,\n\
         gru,240,1e-3,1.5e-3,1.5,,\n",
    );
    let out = report(dir.path());
    let (_, rows) = columns(&dir.path().join("suspect.csv"));
    let flagged: Vec<String> = rows.iter().map(|r| r.join(" | ")).collect();
    assert_eq!(flagged.len(), 3, "{flagged:#?}");
    assert!(flagged[0].contains("forward_per_direction") && flagged[0].contains("0.180"));
    assert!(flagged[1].contains("reverse") && flagged[1].contains("150%"));
    assert!(flagged[2].contains("rk4") && flagged[2].contains("hvp_over_gradient 0.130"));
    let html = std::fs::read_to_string(dir.path().join("index.html")).unwrap();
    assert!(html.contains("Suspect measurements") && html.contains("forward_per_direction"));
    assert!(String::from_utf8_lossy(&out.stderr).contains("SUSPECT"));
    // The flagged row is left out of the slope fit: one trusted point is
    // no slope.
    let (_, slopes) = columns(&dir.path().join("slopes.csv"));
    let reverse = slopes
        .iter()
        .find(|r| r[0] == "gradient rosenbrock" && r[1] == "reverse")
        .unwrap();
    assert_eq!(reverse[2], "NaN", "{reverse:?}");
}

#[test]
fn the_page_leads_with_each_target_measured_and_judged() {
    let dir = tempfile::tempdir().unwrap();
    // Reverse at 30× (tape target met, the seed's 4× missed), forward at
    // 1.5×, and the peers: echidna slower in reverse mode everywhere,
    // num-dual faster than the built-in forward mode on log-sum-exp.
    std::fs::write(
        dir.path().join("gradient.csv"),
        "problem,n,method,seconds,spread,ratio_to_primal\n\
         rosenbrock,1000,primal,1e-6,0.05,1.0\n\
         rosenbrock,1000,reverse,3e-5,0.05,30.0\n\
         rosenbrock,1000,forward_per_direction,1.5e-6,0.05,1.5\n\
         rosenbrock,1000,peer_echidna_reverse,4e-5,0.05,40.0\n\
         rosenbrock,1000,peer_num_dual_per_direction,2e-6,0.05,2.0\n\
         logsumexp,100000,primal,1e-3,0.05,1.0\n\
         logsumexp,100000,reverse,5e-3,0.05,5.0\n\
         logsumexp,100000,forward_per_direction,1.4e-3,0.05,1.4\n\
         logsumexp,100000,peer_echidna_reverse,9e-3,0.05,9.0\n\
         logsumexp,100000,peer_num_dual_per_direction,1.2e-3,0.05,1.2\n",
    )
    .unwrap();
    // H·v: forward over reverse within 4 gradients on both problems, the
    // source engine beyond it on Rosenbrock.
    std::fs::write(
        dir.path().join("second.csv"),
        "problem,n,gradient_seconds,hvp_seconds,hvp_over_gradient,hessian_seconds,hessian_over_gradient,\
         source_gradient_seconds,source_hvp_seconds,source_hvp_interpreted_seconds,source_hvp_over_gradient\n\
         rk4,6,1e-4,2e-4,2.0,,,1e-5,3e-5,9e-5,3.0\n\
         rosenbrock,1000,1e-5,3.5e-5,3.5,,,1e-6,6e-6,2e-5,6.0\n",
    )
    .unwrap();
    report(dir.path());
    let html = std::fs::read_to_string(dir.path().join("index.html")).unwrap();
    let targets = html.find("<h2>Targets</h2>").expect("a headline table");
    assert!(
        targets < html.find("<h2>Run</h2>").unwrap(),
        "the targets come first"
    );
    let row = |target: &str| -> String {
        let start = html
            .find(target)
            .unwrap_or_else(|| panic!("no row {target}"));
        html[start..start + html[start..].find("</tr>").unwrap()].to_string()
    };
    let judged = [
        ("reverse (tape) ≤ 35×", "30.00×", "met"),
        (
            "best built-in reverse mode ≤ 5× the primal, Rosenbrock",
            "30.00×",
            "missed",
        ),
        (
            "best built-in reverse mode ≤ 2× the primal, log-sum-exp",
            "5.00×",
            "missed",
        ),
        ("forward mode ≤ 2× the primal per direction", "1.50×", "met"),
        ("reverse mode, against echidna", "30.00× vs 40.00×", "met"),
        (
            "forward mode per direction, against num-dual",
            "1.40× vs 1.20×",
            "missed",
        ),
        (
            "H·v within a few gradients (at most 4×), forward over reverse",
            "rk4: 2.00×; rosenbrock: 3.50×",
            "met",
        ),
        (
            "H·v within a few gradients (at most 4×), source transformation",
            "rk4: 3.00×; rosenbrock: 6.00×",
            "missed",
        ),
    ];
    for (target, measured, verdict) in judged {
        let r = row(target);
        assert!(r.contains(measured), "{r}");
        assert!(r.contains(&format!("<td>{verdict}</td>")), "{r}");
    }
}

#[test]
fn peers_without_the_peer_build_are_a_one_line_error() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_adcheck-bench"))
        .args(["--quick", "--experiment", "gradient", "--peers", "--out"])
        .arg(dir.path())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    if cfg!(all(feature = "echidna", feature = "num-dual")) {
        assert!(out.status.success(), "{stderr}");
        let text = std::fs::read_to_string(dir.path().join("gradient.csv")).unwrap();
        assert!(
            text.contains("peer_echidna_reverse") && text.contains("peer_num_dual_per_direction")
        );
    } else {
        assert_eq!(out.status.code(), Some(2), "{stderr}");
        assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
        assert!(stderr.contains("cargo xtask bench --peers"), "{stderr}");
    }
}

#[test]
fn instructions_are_counted_under_callgrind_or_refused_in_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_adcheck-bench"))
            .args(args)
            .arg("--out")
            .arg(dir.path())
            .output()
            .unwrap()
    };
    // Counting needs the gradient experiment.
    let out = run(&["--quick", "--experiment", "nm", "--instructions"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    let valgrind = Command::new("valgrind")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    let out = run(&["--quick", "--experiment", "gradient", "--instructions"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    if !valgrind {
        assert_eq!(out.status.code(), Some(2), "{stderr}");
        assert!(stderr.contains("needs valgrind"), "{stderr}");
        return;
    }
    assert!(out.status.success(), "{stderr}");
    let (headers, rows) = columns(&dir.path().join("gradient_instructions.csv"));
    assert_eq!(
        headers,
        ["problem", "n", "method", "instructions", "ratio_to_primal"]
    );
    let (_, timed) = columns(&dir.path().join("gradient.csv"));
    assert_eq!(rows.len(), timed.len(), "one count per timed row");
    let ratio = |problem: &str, n: &str, method: &str| -> f64 {
        rows.iter()
            .find(|r| r[0] == problem && r[1] == n && r[2] == method)
            .unwrap()[4]
            .parse()
            .unwrap()
    };
    assert_eq!(ratio("rosenbrock", "100", "primal"), 1.0);
    // A reverse sweep records and replays every operation: more than the
    // primal; scalar forward mode makes n passes: more than one direction.
    assert!(ratio("rosenbrock", "100", "reverse") > 2.0);
    assert!(
        ratio("rosenbrock", "100", "forward_scalar")
            > 10.0 * ratio("rosenbrock", "100", "forward_per_direction")
    );
    let html = std::fs::read_to_string(dir.path().join("index.html")).unwrap();
    assert!(html.contains("Gradient cost in instructions (callgrind)"));
    assert!(
        html.contains("in instructions"),
        "the targets in instructions"
    );
}
