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
    // once wrote.
    write(
        "gradient.csv",
        "problem,n,method,seconds,spread,ratio_to_primal\n\
         rosenbrock,10,primal,1e-6,0.05,1.0\n\
         rosenbrock,10,forward_per_direction,1.8e-7,0.05,0.18\n\
         rosenbrock,10,reverse,3e-5,1.5,30.0\n\
         rosenbrock,100,reverse,3e-4,0.05,30.0\n",
    );
    write(
        "second.csv",
        "problem,n,gradient_seconds,hvp_seconds,hvp_over_gradient,hessian_seconds,hessian_over_gradient\n\
         rk4,6,1e-3,1.3e-4,0.13,,\n\
         gru,240,1e-3,1.5e-3,1.5,,\n",
    );
    let out = Command::new(env!("CARGO_BIN_EXE_adcheck-bench"))
        .arg("--out")
        .arg(dir.path())
        .arg("report")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (_, rows) = columns(&dir.path().join("suspect.csv"));
    let flagged: Vec<String> = rows.iter().map(|r| r.join(" | ")).collect();
    assert_eq!(flagged.len(), 3, "{flagged:#?}");
    assert!(flagged[0].contains("forward_per_direction") && flagged[0].contains("0.180"));
    assert!(flagged[1].contains("reverse") && flagged[1].contains("150%"));
    assert!(flagged[2].contains("rk4") && flagged[2].contains("hvp_over_gradient 0.130"));
    let html = std::fs::read_to_string(dir.path().join("index.html")).unwrap();
    assert!(html.contains("Suspect measurements") && html.contains("forward_per_direction"));
    assert!(String::from_utf8_lossy(&out.stderr).contains("SUSPECT"));
}
