//! Judging one entry of an engine's answer against its reference, in named
//! stages, each returning a verdict when it decides one: the primal, a
//! divergence at a domain edge, a NaN reference, disagreeing references,
//! the gate (admissible set, tolerance, a gate too wide to mean anything),
//! the f64 range and conditioning, and last the support of the reference.

use crate::range::RangeRisk;
use crate::{
    bits_correct, ulps, Admissible, Entry, InconclusiveReason, Miss, Oracle, Reference, Support,
    Verdict,
};
use rug::Float;

/// One entry being judged: the answer `got` for entry `k` of `reference`.
struct Judging<'a> {
    oracle: &'a Oracle,
    reference: &'a Reference,
    entry: &'a Entry,
    k: usize,
    got: f64,
}

/// What the gate stage leaves for the later ones.
struct Gate {
    tolerance: f64,
    /// The admissible range where operations sit at a tie.
    multi_valued: Option<(f64, f64)>,
    bits: f64,
}

fn inconclusive(reason: InconclusiveReason, detail: String) -> Verdict {
    Verdict::Inconclusive { reason, detail }
}

impl Oracle {
    /// The verdict on `got` for entry `k` of `reference`.
    pub(crate) fn judge_entry(&self, reference: &Reference, k: usize, got: f64) -> Verdict {
        let judging = Judging {
            oracle: self,
            reference,
            entry: &reference.entries[k],
            k,
            got,
        };
        judging.judge()
    }
}

impl Judging<'_> {
    fn judge(&self) -> Verdict {
        if !self.reference.primal_finite {
            return inconclusive(
                InconclusiveReason::PrimalNotFinite,
                format!("outputs {:?}", self.reference.primal),
            );
        }
        if let Some(v) = self.diverging() {
            return v;
        }
        if let Some(v) = self.nan_reference() {
            return v;
        }
        if let Some(v) = self.disagreeing() {
            return v;
        }
        let gate = match self.gate() {
            Ok(gate) => gate,
            Err(v) => return v,
        };
        if let Some(v) = self.out_of_range(&gate) {
            return v;
        }
        self.by_support(&gate)
    }

    fn convention(&self, admissible: Admissible) -> Verdict {
        Verdict::Convention {
            got: self.got,
            admissible,
            declared: self.entry.rounded,
        }
    }

    /// The derivative diverges (√, x^½, ∛ at 0, asin at 1): the exact rule
    /// gives ±∞ and the finite differences cannot confirm a finite value
    /// (the stencil leaves the domain, or its estimates blow up). Its
    /// one-sided limit is that infinity, and a finite answer is made up.
    /// (Where the differences do settle on a finite value, the infinity is
    /// MPFR's rounding — 1 − tanh²(u) = 0 for a large u — and the references
    /// disagree.) The f64 evaluation must sit at the edge too: when its own
    /// values are a rounding away from it (acos(acos(cos 1)) in f64 takes
    /// acos of 1 − ε), the engine's large finite answer is the derivative on
    /// its path, and the divergence the program's conditioning.
    fn diverging(&self) -> Option<Verdict> {
        let (entry, got) = (self.entry, self.got);
        let path_limit = entry.on_f64_path.to_f64();
        let diverges = entry.diverges
            && path_limit.is_infinite()
            && matches!(
                entry.support,
                Support::DomainEdge | Support::Unconfirmed | Support::Kink
            );
        if !diverges {
            return None;
        }
        // (Unless an intermediate derivative leaves f64's range on the
        // way: a tangent of 6e−325 rounds to 0, and 0 times √′(0) is 0.)
        if let Some(what) = entry.range.as_ref().and_then(|r| r.out_of_range.as_ref()) {
            if got.is_finite() {
                return Some(inconclusive(
                    InconclusiveReason::IllConditioned,
                    format!(
                        "{what}: the derivative diverges here (one-sided limit {:e}), got {got:e}",
                        entry.rounded
                    ),
                ));
            }
        }
        // At a tie whose branches include a finite piece (max(x, √x) at 0
        // sent to x), that piece's value is admissible too: the chain rule
        // over the tied operations' sets, as everywhere else.
        let tie = entry
            .admissible
            .filter(|(lo, hi)| lo < hi && got >= *lo && got <= *hi);
        Some(if got == entry.rounded || got == path_limit {
            self.convention(Admissible::OneSidedLimit(got))
        } else if let Some((lo, hi)) = tie {
            self.convention(Admissible::Generalized { lo, hi })
        } else if got.is_nan() {
            self.convention(Admissible::Undefined)
        } else {
            Verdict::Fail {
                miss: Miss::Wrong,
                expected: entry.rounded,
                got,
                bits_correct: 0.0,
                evidence: format!(
                    "the derivative diverges here (one-sided limit {:e}), got {got:e}; symbolic: {}",
                    entry.rounded,
                    self.reference.formula(self.k, 300)
                ),
            }
        })
    }

    /// The reference is NaN at a singular point: a non-finite answer is
    /// admissible, a finite one undecided.
    fn nan_reference(&self) -> Option<Verdict> {
        if !(self.reference.singular && self.entry.exact.is_nan()) {
            return None;
        }
        Some(if !self.got.is_finite() {
            self.convention(Admissible::Undefined)
        } else {
            inconclusive(
                InconclusiveReason::DomainEdge,
                "the reference is NaN: an intermediate sits at a singular point".into(),
            )
        })
    }

    /// References that disagree settle nothing: an answer matching one of
    /// them is no more a pass than one matching neither is a fail.
    fn disagreeing(&self) -> Option<Verdict> {
        if self.entry.support != Support::Disagreement {
            return None;
        }
        let third = self
            .reference
            .third
            .as_ref()
            .map_or_else(String::new, |t| format!(", Symbolica {:e}", t[self.k]));
        Some(inconclusive(
            InconclusiveReason::OracleDisagreement,
            format!(
                "the references disagree: symbolic {:e}, finite differences {:?}{third}; got {:e}",
                self.entry.rounded, self.entry.fd, self.got
            ),
        ))
    }

    /// Whether the answer is within `tolerance` of `r` (an infinite
    /// tolerance for a finite value, a path magnitude that overflowed f64
    /// while computing it — 1/(x² + y²) at 1e−300 — would admit anything,
    /// even 0 correct bits; the value's own size is the scale instead).
    fn within(&self, r: &Float, tolerance: f64) -> bool {
        let got = self.got;
        let rounded = r.to_f64();
        let tolerance = if tolerance.is_infinite() && rounded.is_finite() {
            self.oracle
                .mixed(self.reference, rounded.abs(), rounded.abs())
        } else {
            tolerance
        };
        if r.is_nan() || got.is_nan() {
            r.is_nan() && got.is_nan()
        } else if got == rounded {
            true
        } else if !got.is_finite() || !rounded.is_finite() {
            false
        } else {
            let diff = Float::with_val(self.oracle.config.precision, got - r).abs();
            diff.to_f64() <= tolerance
        }
    }

    /// The gate: inside the admissible set where operations sit at a tie (a
    /// convention), within the tolerance of the exact value or of the exact
    /// value on the f64 path (a pass) — unless the gate is as wide as the
    /// entry itself and the answer near neither, then undecided. `Ok` with
    /// what the later stages need when the gate decides nothing.
    fn gate(&self) -> Result<Gate, Verdict> {
        let (oracle, reference, entry, got) = (self.oracle, self.reference, self.entry, self.got);
        let tolerance = oracle.tolerance(reference, entry);
        let path_tolerance = oracle.path_tolerance(reference, entry);
        // Several values where operations sit at a tie: any of them, or any
        // value between (the chain rule over sets), is admissible.
        let multi_valued = entry.admissible.filter(|(lo, hi)| lo < hi);
        if let Some((lo, hi)) = multi_valued {
            // (An infinite end admits its infinity: relu(√x) at 0 has the
            // one-sided derivatives 0 and +∞.)
            if got >= lo - tolerance && got <= hi + tolerance {
                return Err(self.convention(Admissible::Generalized { lo, hi }));
            }
        }
        // Exact, or exact on the engine's own f64 primal values (then the
        // gap to the exact value is the program's conditioning, not a bug).
        let within = multi_valued.is_none()
            && (self.within(&entry.exact, tolerance)
                || self.within(&entry.on_f64_path, path_tolerance));
        let bits = bits_correct(got, &entry.exact);
        // Where the gate is as wide as the entry itself (the path magnitude
        // of a cancellation, the program's conditioning, an underflow bound,
        // an overflowed scale), it admits answers with no correct bit: such
        // an answer is undecided, not a pass. Near the exact value, or on
        // the engine's own f64 path, it still passes.
        let wide_open = within && entry.rounded.is_finite() && entry.rounded != 0.0 && {
            let r = entry.rounded.abs();
            let gate_is_wide = tolerance >= r || path_tolerance >= r;
            let near = |target: &Float| {
                let t = target.to_f64();
                t.is_finite()
                    && (got == t
                        || Float::with_val(oracle.config.precision, got - target)
                            .abs()
                            .to_f64()
                            <= t.abs() * 2f64.powi(-(oracle.config.inaccurate_bits as i32)))
            };
            gate_is_wide && !near(&entry.exact) && !near(&entry.on_f64_path)
        };
        if wide_open {
            return Err(inconclusive(
                InconclusiveReason::IllConditioned,
                format!(
                    "the tolerance {tolerance:.2e} is as wide as the entry (path magnitude {:.2e}, conditioning {:.2e}, underflow {:.2e}): it admits answers with no correct bit; expected {:e}, got {got:e}",
                    entry.magnitude,
                    entry.conditioning,
                    entry.underflow(),
                    entry.rounded
                ),
            ));
        }
        if within {
            return Err(Verdict::Pass {
                bits_correct: bits,
                ulps: ulps(got, &entry.exact),
            });
        }
        Ok(Gate {
            tolerance,
            multi_valued,
            bits,
        })
    }

    /// The evidence of a miss: the admissible set it is outside, a constant
    /// value its NaN came through, the MPFR value, the tolerance, the
    /// finite-difference figure the entry was judged on, the formula.
    fn evidence(&self, gate: &Gate) -> String {
        let (reference, entry, got) = (self.reference, self.entry, self.got);
        // The figure the differences were compared with: this entry, or
        // the combination of entries a random cross-check measures.
        let fd = match (entry.fd, entry.fd_checked_against) {
            (Some((v, e)), None) => format!("finite differences {v:e} ± {e:.1e}"),
            (Some((v, e)), Some(s)) => format!(
                "finite differences of a random combination of the entries {v:e} ± {e:.1e} (symbolic combination {s:e})"
            ),
            (None, _) => "no finite differences".to_string(),
        };
        let set = match gate.multi_valued {
            Some((lo, hi)) => format!(
                "outside every admissible value [{lo:e}, {hi:e}] (a kink or tie; the declared convention is {:e}); ",
                entry.rounded
            ),
            None => String::new(),
        };
        let frozen = match reference.frozen_singular {
            Some(i) if !got.is_finite() => format!(
                "v{} is constant near the point, so its derivative is 0, though its operation's rule is not finite there (0·∞ through it is NaN); ",
                i + 1
            ),
            _ => String::new(),
        };
        format!(
            "{set}{frozen}expected {:e} (MPFR {:.40}), got {got:e}; tolerance {:.2e}; {fd} ({:?}); symbolic: {}",
            entry.rounded,
            entry.exact,
            gate.tolerance,
            entry.support,
            reference.formula(self.k, 300)
        )
    }

    /// A miss the f64 evaluation cannot be held to: another branch taken,
    /// intermediate derivatives beyond f64's range, a primal whose rounding
    /// moves the derivative more than its scale, a tolerance that overflowed,
    /// or a singular intermediate the admissible set does not cover.
    fn out_of_range(&self, gate: &Gate) -> Option<Verdict> {
        let (reference, entry, got) = (self.reference, self.entry, self.got);
        if !reference.f64_path_matches {
            return Some(inconclusive(
                InconclusiveReason::BranchSwitch,
                "the f64 evaluation takes another branch than the exact one".into(),
            ));
        }
        let ill = |detail: String| Some(inconclusive(InconclusiveReason::IllConditioned, detail));
        // Within 2^100 of f64's largest value, or with program values beyond
        // 2^±400, an engine's intermediate products (squares of values,
        // products of partials) may leave f64's range where the reference's
        // arrangement does not. First-order entries know which intermediate
        // derivatives leave f64's range (the `range` module); for H·v,
        // values beyond 2^±400 and a magnitude near f64's largest value
        // stand in for that.
        let overflows = match &entry.range {
            Some(range) => range.out_of_range.is_some(),
            None => reference.extreme_values,
        };
        let magnitude_limit = if entry.range.is_some() {
            2f64.powi(1020)
        } else {
            2f64.powi(924)
        };
        let near_overflow = entry.magnitude > magnitude_limit || overflows;
        let formula_overflows = entry.range.is_none() && !entry.f64_formula_finite;
        if !got.is_finite() && (formula_overflows || near_overflow) && entry.exact.is_finite() {
            return ill(format!(
                "the derivative's terms overflow f64; {}",
                self.evidence(gate)
            ));
        }
        match &entry.range {
            Some(RangeRisk {
                out_of_range: Some(what),
                ..
            }) => {
                return ill(format!(
                    "{what}: beyond f64's range on the way to this entry; {}",
                    self.evidence(gate)
                ))
            }
            None if reference.extreme_values => {
                return ill(format!(
                "program values beyond 2^±400: products of partials leave f64's normal range; {}",
                self.evidence(gate)
            ))
            }
            _ => {}
        }
        if !entry.conditioning.is_finite() || entry.conditioning > entry.magnitude {
            return ill(format!(
                "moving the f64 primal values by one ulp changes the derivative by {:.2e}, more than its scale {:.2e}; {}",
                entry.conditioning,
                entry.magnitude,
                self.evidence(gate)
            ));
        }
        if !gate.tolerance.is_finite() {
            return ill(format!(
                "products of partials overflow f64 along the chain rule; {}",
                self.evidence(gate)
            ));
        }
        // Where the admissible set is known, a singular intermediate (the
        // 0/0 of a norm's rule at the origin) does not excuse a finite
        // answer outside it; a non-finite one may come from a singular
        // operation the set does not see (atan2 at the origin, where the
        // program jumps), so it stays undecided.
        if reference.singular && (gate.multi_valued.is_none() || !got.is_finite()) {
            return Some(inconclusive(
                InconclusiveReason::DomainEdge,
                format!(
                    "an intermediate sits at a singular point of its operation; {}",
                    self.evidence(gate)
                ),
            ));
        }
        None
    }

    /// The last stage: a miss is a failure as far as the reference's support
    /// carries it — confirmed by the finite differences or at a kink —
    /// wrong outside every admissible value, else wrong or inaccurate by
    /// the bits it keeps.
    fn by_support(&self, gate: &Gate) -> Verdict {
        let (oracle, reference, entry) = (self.oracle, self.reference, self.entry);
        let fail = |miss| Verdict::Fail {
            miss,
            expected: entry.rounded,
            got: self.got,
            bits_correct: gate.bits,
            evidence: self.evidence(gate),
        };
        match entry.support {
            Support::Disagreement | Support::Unconfirmed => {
                inconclusive(InconclusiveReason::OracleDisagreement, self.evidence(gate))
            }
            Support::DomainEdge => {
                inconclusive(InconclusiveReason::DomainEdge, self.evidence(gate))
            }
            Support::Confirmed if reference.lost_bits > oracle.config.ill_conditioned_bits => {
                inconclusive(
                    InconclusiveReason::IllConditioned,
                    format!("the f64 primal lost {:.1} bits", reference.lost_bits),
                )
            }
            // Outside every admissible value at a kink: wrong, however many
            // bits it shares with the declared convention.
            Support::Kink | Support::Confirmed if gate.multi_valued.is_some() => fail(Miss::Wrong),
            Support::Kink | Support::Confirmed => fail(oracle.miss(gate.bits)),
        }
    }
}
