//! No answer passes with fewer correct bits than its tolerance implies, at
//! the hard places (points at 1e±200, 1e±300, subnormals, ties and edges):
//! planted answers — the correctly rounded value, 0, twice the value, its
//! negation, and one 2⁻¹⁰ off — are judged for every J·v entry of generated
//! hard-places cases, and every pass is checked against the gate it passed.

use adcheck_oracle::{Oracle, Quantity, Verdict};
use adcheck_suites::generate::{case, Family, GenConfig};
use rug::Float;

#[test]
fn passes_at_extreme_scales_never_exceed_their_tolerance() {
    let config = GenConfig {
        family: Some(Family::HardPlaces),
        ..GenConfig::default()
    };
    let oracle = Oracle::default();
    let (mut exact_judged, mut exact_passed) = (0usize, 0usize);
    let (mut wrong_planted, mut wrong_passed) = (0usize, 0usize);
    for index in 0..400 {
        let c = case(&config, 2026, index);
        let quantity = Quantity::Jvp(c.direction.clone());
        let reference = oracle.reference(&c.program, &c.point, &quantity).unwrap();
        for (k, entry) in reference.entries.iter().enumerate() {
            let r = entry.rounded;
            if !r.is_finite() || r == 0.0 || r.abs() < f64::MIN_POSITIVE {
                continue;
            }
            let tolerance = oracle.tolerance(&reference, entry);
            let path_gap = Float::with_val(64, &entry.on_f64_path - &entry.exact)
                .abs()
                .to_f64();
            let gate = tolerance.max(oracle.path_tolerance(&reference, entry) + path_gap);
            for (planted, is_exact) in [
                (r, true),
                (0.0, false),
                (2.0 * r, false),
                (-r, false),
                (r * (1.0 + 2f64.powi(-10)), false),
            ] {
                let mut got = vec![f64::NAN; reference.entries.len()];
                got[k] = planted;
                let v = oracle.judge(&reference, &got).unwrap().remove(k);
                // A convention (a kink, a tie) is decided too, but not by the
                // pass gate.
                let decided = matches!(v, Verdict::Pass { .. } | Verdict::Fail { .. });
                if is_exact {
                    assert!(
                        !matches!(v, Verdict::Fail { .. }),
                        "gen-{index} entry {k}: the correctly rounded {r:e} fails: {v:?}\n{}",
                        c.program
                    );
                }
                if let Verdict::Pass { .. } = v {
                    let miss = Float::with_val(64, planted - &entry.exact).abs().to_f64();
                    assert!(
                        miss <= gate * (1.0 + 1e-9),
                        "gen-{index} entry {k}: {planted:e} passed {miss:e} from {r:e}, beyond its gate {gate:e}\n{}",
                        c.program
                    );
                }
                if is_exact && decided {
                    exact_judged += 1;
                    exact_passed += usize::from(v.is_pass());
                } else if !is_exact
                    && (planted - r).abs() >= r.abs()
                    && planted != entry.on_f64_path.to_f64()
                {
                    wrong_planted += 1;
                    wrong_passed += usize::from(v.is_pass());
                    assert!(
                        !v.is_pass(),
                        "gen-{index} entry {k}: {planted:e} passed against {r:e}: {v:?}\n{}",
                        c.program
                    );
                }
            }
        }
    }
    // The hard places are judged, not skipped: the exact value passes
    // wherever the gate decides, and a value with no correct bit
    // never does (unless it is the derivative on the f64 path itself).
    assert!(exact_judged > 500, "{exact_judged}");
    assert_eq!(exact_passed, exact_judged);
    assert!(wrong_planted > 1000, "{wrong_planted}");
    assert_eq!(wrong_passed, 0, "of {wrong_planted}");
}
