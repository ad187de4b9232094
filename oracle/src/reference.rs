//! One reference at one precision, in named stages: the primal pass (the
//! program along the f64 path and the exact one), the singularities (values
//! constant near the point frozen, intermediates at singular points), the
//! symbolic entries (values, magnitudes, conditioning), the support of the
//! finite differences, and the analysis of each entry (admissible sets,
//! divergence, f64 range) before the entries are assembled.

use crate::expr::Plan;
use crate::fd::{self, FdEstimate, FdStatus};
use crate::range::{self, RangeRisk};
use crate::{
    adjacent_f64, admissible_ranges, bits_lost, constancy, one_sided_diverges, per_input_checks,
    seed_of_entry, with_branch_log, Entry, FdCheck, Graph, Logged, Mp, Node, NodeId, Oracle,
    Quantity, Reference, Support, SymbolicPlan, PER_INPUT_LIMIT,
};
use adcheck_engines::{Differentiable, Program, Scalar};
use rug::Float;

/// The program evaluated along the f64 path and the exact one.
struct PrimalPass {
    /// The node of each program value (inputs first).
    value_nodes: Vec<NodeId>,
    outputs: Vec<NodeId>,
    x_mp: Vec<Mp>,
    all_values: Plan,
    values64: Vec<Option<Logged<f64>>>,
    values_mp: Vec<Option<Logged<Mp>>>,
    /// Whether both evaluations took the same branches.
    same_branches: bool,
    lost_bits: f64,
    extreme_values: bool,
    primal: Vec<f64>,
    primal_exact: Vec<Float>,
    primal_f64: Vec<f64>,
    primal_finite: bool,
}

impl PrimalPass {
    fn new(graph: &mut Graph, p: &Program, x: &[f64]) -> PrimalPass {
        let value_nodes = graph.add_program(p);
        let outputs: Vec<NodeId> = p
            .outputs()
            .iter()
            .map(|&o| value_nodes[o as usize])
            .collect();
        let x_mp: Vec<Mp> = x.iter().map(|&v| Mp::from_f64(v)).collect();
        let all_values = graph.plan(&value_nodes);
        let x64: Vec<Logged<f64>> = x.iter().map(|&v| Logged(v)).collect();
        let (values64, log64) = with_branch_log(|| graph.evaluate(&all_values, &x64));
        let x_logged: Vec<Logged<Mp>> = x_mp.iter().cloned().map(Logged).collect();
        let (values_mp, log_mp) = with_branch_log(|| graph.evaluate(&all_values, &x_logged));
        let mut lost_bits = 0.0f64;
        for &id in &value_nodes {
            if let (Some(a), Some(b)) = (&values64[id as usize], &values_mp[id as usize]) {
                let exact = &(b.0).0;
                if exact.is_finite() {
                    lost_bits = lost_bits.max(bits_lost(a.0, exact));
                }
            }
        }
        let extreme = |v: f64| {
            v.is_finite() && v != 0.0 && !(2f64.powi(-400)..=2f64.powi(400)).contains(&v.abs())
        };
        let extreme_values = p.has_extreme_scales(x)
            || value_nodes.iter().any(|&id| {
                values64[id as usize].as_ref().is_some_and(|v| extreme(v.0))
                    || values_mp[id as usize]
                        .as_ref()
                        .is_some_and(|v| extreme(v.to_f64()))
            });
        let primal: Vec<f64> = outputs
            .iter()
            .map(|&o| {
                values_mp[o as usize]
                    .as_ref()
                    .map_or(f64::NAN, |v| v.to_f64())
            })
            .collect();
        let primal_exact: Vec<Float> = outputs
            .iter()
            .map(|&o| {
                values_mp[o as usize]
                    .as_ref()
                    .map_or_else(|| Mp::nan().0, |v| (v.0).0.clone())
            })
            .collect();
        let primal_f64: Vec<f64> = outputs
            .iter()
            .map(|&o| values64[o as usize].as_ref().map_or(f64::NAN, |v| v.0))
            .collect();
        let primal_finite = primal.iter().all(|v| v.is_finite())
            && outputs.iter().all(|&o| {
                values64[o as usize]
                    .as_ref()
                    .is_some_and(|v| v.0.is_finite())
            });
        PrimalPass {
            value_nodes,
            outputs,
            x_mp,
            all_values,
            values64,
            values_mp,
            same_branches: log64 == log_mp,
            lost_bits,
            extreme_values,
            primal,
            primal_exact,
            primal_f64,
            primal_finite,
        }
    }

    /// The f64 path's values, exactly, to evaluate derivatives on.
    fn fixed(&self, len: usize) -> Vec<Option<Mp>> {
        let mut fixed: Vec<Option<Mp>> = vec![None; len];
        for &id in &self.value_nodes {
            if let Some(v) = &self.values64[id as usize] {
                fixed[id as usize] = Some(Mp::from_f64(v.0));
            }
        }
        fixed
    }
}

/// Where the chain rule does not apply as written.
struct Singularities {
    /// An intermediate the outputs use sits at a singular point of its
    /// operation, on the exact path or the f64 one.
    singular_primal: bool,
    /// See [`Reference::frozen_singular`].
    frozen_singular: Option<usize>,
}

impl Singularities {
    /// Freezes the values constant near the point (`constancy`), then
    /// looks for intermediates at singular points of their operations
    /// (constant ones, which no input reaches or which are constant near
    /// the point, are never differentiated).
    fn new(graph: &mut Graph, primal: &PrimalPass, fixed: &[Option<Mp>]) -> Singularities {
        let mut shared = vec![0u32; graph.len()];
        for &id in &primal.value_nodes {
            shared[id as usize] += 1;
        }
        let constant = constancy::locally_constant(
            graph,
            primal.all_values.nodes(),
            |id| primal.values_mp[id as usize].as_ref().map(|v| v.0.float()),
            &shared,
        );
        graph.set_locally_constant(constant);
        let depends = graph.depends_on_inputs();
        let differentiated = |graph: &Graph, id: NodeId| {
            !matches!(graph.node(id), Node::Input(_) | Node::Const(_)) && depends[id as usize]
        };
        let used: Vec<NodeId> = graph
            .plan(&primal.outputs)
            .nodes()
            .iter()
            .copied()
            .filter(|&id| differentiated(graph, id) && !graph.is_locally_constant(id))
            .collect();
        let mut ones = Vec::new();
        let sensitivities: Vec<NodeId> = used
            .iter()
            .map(|&id| graph.local_sensitivity(id, &mut ones))
            .collect();
        // A value constant near the point whose rule is not finite there:
        // where an engine's NaN comes from.
        let frozen_values: Vec<(usize, NodeId)> = primal
            .value_nodes
            .iter()
            .enumerate()
            .filter(|&(_, &id)| graph.is_locally_constant(id) && differentiated(graph, id))
            .map(|(i, &id)| (i, id))
            .collect();
        let frozen: Vec<(usize, NodeId)> = frozen_values
            .into_iter()
            .map(|(i, id)| (i, graph.local_sensitivity(id, &mut ones)))
            .collect();
        let mut roots = sensitivities.clone();
        roots.extend(frozen.iter().map(|&(_, s)| s));
        let plan = graph.plan(&roots);
        let exact = graph.evaluate(&plan, &primal.x_mp);
        // The f64 path can meet a singular point the exact path does not
        // (an underflow to zero under a square root, say).
        let on_path = graph.evaluate_with(&plan, &primal.x_mp, fixed);
        let not_finite = |values: &[Option<Mp>], id: NodeId| {
            values[id as usize]
                .as_ref()
                .is_some_and(|v| !v.0.is_finite())
        };
        Singularities {
            singular_primal: sensitivities
                .iter()
                .any(|&id| not_finite(&exact, id) || not_finite(&on_path, id)),
            frozen_singular: frozen
                .iter()
                .find_map(|&(i, s)| not_finite(&exact, s).then_some(i)),
        }
    }
}

/// The symbolic entries evaluated: exactly, on the f64 path, with the f64
/// primal nudged by an ulp either way, and in f64 itself.
struct SymbolicEntries {
    plan: SymbolicPlan,
    roots_plan: Plan,
    /// The exact value of every node the entries need.
    values: Vec<Option<Mp>>,
    exact: Vec<Float>,
    magnitudes: Vec<f64>,
    path_magnitudes: Vec<f64>,
    path_values: Vec<Option<Mp>>,
    up_values: Vec<Option<Mp>>,
    down_values: Vec<Option<Mp>>,
    symbolic64: Vec<Option<f64>>,
    escaped: Vec<bool>,
}

/// The scale of the path magnitudes of the program itself, entry by entry:
/// first-order quantities take it position by position (so `x − x` counts
/// its two unit partials, which symbolic folding would cancel).
fn program_scale(p: &Program, x: &[f64], quantity: &Quantity) -> Vec<f64> {
    let (n, m) = (p.n_inputs(), p.n_outputs());
    let path = p.path_magnitudes(x);
    match quantity {
        Quantity::Jvp(v) => (0..m)
            .map(|i| (0..n).map(|j| v[j].abs() * path[i * n + j]).sum())
            .collect(),
        Quantity::Vjp(u) => (0..n)
            .map(|j| (0..m).map(|i| u[i].abs() * path[i * n + j]).sum())
            .collect(),
        Quantity::Gradient => path,
        Quantity::Jacobian => path,
        // A second derivative's terms are products of first-order partials
        // with the derivatives of partials, which an engine may form by
        // formulas that cancel (the derivative of (1 − x)(1 + x), say):
        // their scale is about |v|·(1 + M)², M the largest first-order path
        // magnitude.
        Quantity::Hvp(v) => {
            let largest = path
                .iter()
                .filter(|m| m.is_finite())
                .fold(0.0f64, |a, &b| a.max(b));
            let norm: f64 = v.iter().map(|c| c.abs()).sum();
            vec![norm * (1.0 + largest).powi(2); n]
        }
    }
}

/// Which of the f64 path's values `fixed` holds carry rounding: computed
/// values only. Inputs are exact, and so are constants (a program's
/// `const 0` is the same node as every derivative that folds to 0).
fn computed_values(graph: &Graph, p: &Program, primal: &PrimalPass, len: usize) -> Vec<bool> {
    let mut computed = vec![false; len];
    for &id in &primal.value_nodes[p.n_inputs()..] {
        if !matches!(graph.node(id), Node::Const(_)) {
            computed[id as usize] = true;
        }
    }
    computed
}

/// The f64 path's values with every computed value moved one unit in the
/// last place: all up, or neighbours in opposite directions (`alternate`,
/// so that differences of values, such as x − lse, move too).
fn nudged(fixed: &[Option<Mp>], computed: &[bool], alternate: bool) -> Vec<Option<Mp>> {
    fixed
        .iter()
        .zip(computed)
        .enumerate()
        .map(|(id, (v, &computed))| {
            v.as_ref().map(|v| {
                if computed {
                    Mp::from_f64(adjacent_f64(v.to_f64(), !alternate || id % 2 == 0))
                } else {
                    v.clone()
                }
            })
        })
        .collect()
}

impl SymbolicEntries {
    fn new(
        oracle: &Oracle,
        graph: &mut Graph,
        p: &Program,
        x: &[f64],
        quantity: &Quantity,
        primal: &PrimalPass,
        fixed: &[Option<Mp>],
    ) -> SymbolicEntries {
        let plan = oracle.symbolic(graph, &primal.outputs, x, quantity);
        let mut evaluated = plan.roots.clone();
        evaluated.extend(plan.terms.iter().flatten().map(|&(node, _)| node));
        let roots_plan = graph.plan(&evaluated);
        let x_mp = &primal.x_mp;
        let values = graph.evaluate(&roots_plan, x_mp);
        let scale = program_scale(p, x, quantity);
        // Each entry's magnitude: its node's, or the sum of its terms'
        // (H·v), and at least the program's own scale.
        let entry_magnitudes = |node_magnitudes: &[f64]| -> Vec<f64> {
            plan.roots
                .iter()
                .zip(&plan.terms)
                .zip(&scale)
                .map(|((&root, terms), &program)| {
                    let dag = if terms.is_empty() {
                        node_magnitudes[root as usize]
                    } else {
                        terms
                            .iter()
                            .map(|&(node, c)| c.abs() * node_magnitudes[node as usize])
                            .sum()
                    };
                    if program.is_finite() {
                        dag.max(program)
                    } else {
                        dag
                    }
                })
                .collect()
        };
        let magnitudes = entry_magnitudes(&graph.magnitudes(&roots_plan, &values));
        let path_values = graph.evaluate_with(&roots_plan, x_mp, fixed);
        // The derivative's sensitivity to the primal's rounding.
        let computed = computed_values(graph, p, primal, fixed.len());
        let up_values = graph.evaluate_with(&roots_plan, x_mp, &nudged(fixed, &computed, false));
        let down_values = graph.evaluate_with(&roots_plan, x_mp, &nudged(fixed, &computed, true));
        let path_magnitudes = entry_magnitudes(&graph.magnitudes(&roots_plan, &path_values));
        let fixed64: Vec<Option<f64>> = fixed.iter().map(|v| v.as_ref().map(Mp::to_f64)).collect();
        let symbolic64 = graph.evaluate_with(&roots_plan, x, &fixed64);
        // Where the f64 formula overflows or underflows (x² + y² at 1e200)
        // its gap to the exact value is the engines' own range bug, not a
        // rounding scale to forgive.
        let escaped = graph.range_escapes(&roots_plan, &symbolic64, &path_values);
        let exact: Vec<Float> = plan
            .roots
            .iter()
            .map(|&r| {
                values[r as usize]
                    .as_ref()
                    .map_or_else(|| Mp::nan().0, |v| v.0.clone())
            })
            .collect();
        SymbolicEntries {
            plan,
            roots_plan,
            values,
            exact,
            magnitudes,
            path_magnitudes,
            path_values,
            up_values,
            down_values,
            symbolic64,
            escaped,
        }
    }
}

/// What the finite differences say of each entry.
struct FdSupport {
    support: Vec<Support>,
    /// The figure (value, error) each entry was compared with.
    seen: Vec<Option<(f64, f64)>>,
    /// The symbolic combination it was compared against, when a check
    /// combined several entries.
    against: Vec<Option<f64>>,
    estimate: FdEstimate,
}

/// What one estimate of the finite differences says of the entries.
struct Compared {
    support: Vec<Support>,
    seen: Vec<Option<(f64, f64)>>,
    against: Vec<Option<f64>>,
    /// Every estimate's error far below the entries' scale.
    tight: bool,
}

/// Each check of the finite differences against the symbolic entries: the
/// support of every entry, the figure it was compared with, and whether
/// every estimate was tight (its error far below the entries' scale, so an
/// agreement says something).
fn compare_checks(
    estimate: &FdEstimate,
    checks: &[FdCheck],
    exact: &[Float],
    magnitudes: &[f64],
    prec: u32,
) -> Compared {
    let base_support = match estimate.status {
        FdStatus::Smooth => Support::Confirmed,
        FdStatus::BranchSwitch => Support::Kink,
        FdStatus::NonFinite => Support::DomainEdge,
        FdStatus::SelfCheckFailed => Support::Unconfirmed,
    };
    let mut support = vec![base_support; exact.len()];
    let mut seen: Vec<Option<(f64, f64)>> = vec![None; exact.len()];
    let mut against: Vec<Option<f64>> = vec![None; exact.len()];
    let mut tight = true;
    for check in checks {
        let mut fd_value = Float::with_val(prec, 0);
        let mut fd_error = 0.0;
        for &(i, a) in &check.fd_weights {
            fd_value += Float::with_val(prec, &estimate.value[i] * a);
            fd_error += estimate.error[i] * a.abs();
        }
        let mut symbolic = Float::with_val(prec, 0);
        let mut scale = 0.0;
        for &(k, b) in &check.entry_weights {
            symbolic += Float::with_val(prec, &exact[k] * b);
            scale += (exact[k].to_f64().abs() + magnitudes[k]) * b.abs();
        }
        let gap = Float::with_val(prec, &fd_value - &symbolic).abs().to_f64();
        let slack = scale * 2f64.powi(24 - prec as i32);
        let agrees = gap.is_finite() && gap <= 2.0 * fd_error + slack;
        tight &= fd_error <= scale * 2f64.powi(-30);
        let combined =
            check.entry_weights.len() > 1 || check.entry_weights.iter().any(|&(_, b)| b != 1.0);
        for &(k, _) in &check.entry_weights {
            seen[k] = Some((fd_value.to_f64(), fd_error));
            against[k] = combined.then(|| symbolic.to_f64());
            if support[k] == Support::Confirmed && !agrees {
                support[k] = Support::Disagreement;
            }
        }
    }
    Compared {
        support,
        seen,
        against,
        tight,
    }
}

impl FdSupport {
    fn new(
        oracle: &Oracle,
        graph: &Graph,
        entries: &SymbolicEntries,
        x: &[f64],
        m: usize,
        quantity: &Quantity,
    ) -> FdSupport {
        let prec = oracle.config.precision;
        let plan = &entries.plan;
        let fd_plan = graph.plan(&plan.fd_of);
        let mut f = |point: &[Mp]| -> Vec<Mp> {
            let logged: Vec<Logged<Mp>> = point.iter().cloned().map(Logged).collect();
            let vals = graph.evaluate(&fd_plan, &logged);
            fd_plan
                .roots()
                .iter()
                .map(|&r| {
                    vals[r as usize]
                        .as_ref()
                        .map_or_else(Mp::nan, |v| v.0.clone())
                })
                .collect()
        };
        let compare = |estimate: &FdEstimate, checks: &[FdCheck]| {
            compare_checks(estimate, checks, &entries.exact, &entries.magnitudes, prec)
        };
        let config = &oracle.config.fd;
        let mut estimate = fd::directional(&mut f, x, &plan.fd_direction, config);
        let first = compare(&estimate, &plan.checks);
        let (mut support, mut seen, mut against) = (first.support, first.seen, first.against);
        // At a point of tiny coordinates the first steps (never below
        // 2^step_exponent) cross what lies near the origin (hypot's kink at
        // 1e−200, √'s edge at 1e−300); steps at the point's own scales do
        // not. Their estimate stands when it is smooth and settles every
        // check tightly.
        let unsettled =
            estimate.status != FdStatus::Smooth || support.contains(&Support::Disagreement);
        if unsettled {
            for scale in fd::point_scales(x) {
                let closer = fd::directional_at_scale(&mut f, x, &plan.fd_direction, config, scale);
                let spent = estimate.evaluations + closer.evaluations;
                let second = compare(&closer, &plan.checks);
                let settled = closer.status == FdStatus::Smooth
                    && second.tight
                    && !second.support.contains(&Support::Disagreement);
                if settled {
                    (support, seen, against) = (second.support, second.seen, second.against);
                    estimate = closer;
                }
                estimate.evaluations = spent;
                if settled {
                    break;
                }
            }
        }
        // A cross-check along a random direction sums every entry, so one
        // undefined or disputed entry (∂b aᵇ at a < 0) unsettles them all:
        // check each input's entries along that input alone.
        let n = x.len();
        if support.contains(&Support::Disagreement) && n <= PER_INPUT_LIMIT {
            for (j, checks) in per_input_checks(quantity, n, m) {
                let axis: Vec<f64> = (0..n).map(|i| if i == j { 1.0 } else { 0.0 }).collect();
                let along = fd::directional(&mut f, x, &axis, config);
                estimate.evaluations += along.evaluations;
                let axis_only = compare(&along, &checks);
                for check in &checks {
                    for &(k, _) in &check.entry_weights {
                        support[k] = axis_only.support[k];
                        seen[k] = axis_only.seen[k];
                        against[k] = None;
                    }
                }
            }
        }
        FdSupport {
            support,
            seen,
            against,
            estimate,
        }
    }
}

impl Oracle {
    /// The reference of `quantity` for `p` at `x`, at this thread's
    /// precision, stage by stage.
    pub(crate) fn reference_at_precision(
        &self,
        p: &Program,
        x: &[f64],
        quantity: &Quantity,
    ) -> Reference {
        let mut graph = Graph::new();
        let primal = PrimalPass::new(&mut graph, p, x);
        let fixed = primal.fixed(graph.len());
        let singularities = Singularities::new(&mut graph, &primal, &fixed);
        // The exact local partials, for what intermediate derivatives an
        // f64 engine must hold.
        let partials = range::LocalPartials::new(
            &mut graph,
            &primal.outputs,
            &primal.value_nodes,
            &primal.x_mp,
        );
        let symbolic = SymbolicEntries::new(self, &mut graph, p, x, quantity, &primal, &fixed);
        let mut fd = FdSupport::new(self, &graph, &symbolic, x, p.n_outputs(), quantity);
        let third = self.third_reference(p, x, quantity, &symbolic, &mut fd.support);
        let singular = singularities.singular_primal
            || symbolic.values.iter().flatten().any(|v| !v.0.is_finite());
        let entries = self.entries(&graph, p, x, quantity, &primal, &partials, &symbolic, &fd);
        Reference {
            quantity: quantity.clone(),
            entries,
            primal: primal.primal,
            primal_finite: primal.primal_finite,
            primal_exact: primal.primal_exact,
            primal_f64: primal.primal_f64,
            primal_rounding_scale: p.primal_rounding_scale(x),
            lost_bits: primal.lost_bits,
            f64_path_matches: primal.same_branches,
            extreme_values: primal.extreme_values,
            singular,
            frozen_singular: singularities.frozen_singular,
            third,
            fd_status: fd.estimate.status,
            fd_evaluations: fd.estimate.evaluations,
            program_len: p.body().len(),
            graph,
        }
    }

    /// The third reference, where Symbolica applies: an entry it disagrees
    /// with loses its support.
    #[cfg(feature = "symbolica")]
    fn third_reference(
        &self,
        p: &Program,
        x: &[f64],
        quantity: &Quantity,
        symbolic: &SymbolicEntries,
        support: &mut [Support],
    ) -> Option<Vec<f64>> {
        let prec = self.config.precision;
        let exact = &symbolic.exact;
        crate::third::reference(p, x, quantity, prec)
            .ok()
            .map(|values| {
                for (k, value) in values.iter().enumerate().take(exact.len()) {
                    let scale = exact[k].to_f64().abs() + symbolic.magnitudes[k];
                    let gap = Float::with_val(prec, value - &exact[k]).abs().to_f64();
                    let agrees = gap.is_finite() && gap <= scale * 2f64.powi(24 - prec as i32);
                    if !agrees && exact[k].is_finite() {
                        support[k] = Support::Disagreement;
                    }
                }
                values.iter().map(Float::to_f64).collect::<Vec<f64>>()
            })
    }

    /// Without the feature `symbolica`, no third reference.
    #[cfg(not(feature = "symbolica"))]
    fn third_reference(
        &self,
        _: &Program,
        _: &[f64],
        _: &Quantity,
        _: &SymbolicEntries,
        _: &mut [Support],
    ) -> Option<Vec<f64>> {
        None
    }

    /// Each entry with everything the judgement reads: its exact value and
    /// its value on the f64 path, scales, conditioning, support, admissible
    /// range at ties, divergence and f64 range risk.
    #[allow(clippy::too_many_arguments)]
    fn entries(
        &self,
        graph: &Graph,
        p: &Program,
        x: &[f64],
        quantity: &Quantity,
        primal: &PrimalPass,
        partials: &range::LocalPartials,
        symbolic: &SymbolicEntries,
        fd: &FdSupport,
    ) -> Vec<Entry> {
        let prec = self.config.precision;
        let (n, m) = (p.n_inputs(), p.n_outputs());
        let plan = &symbolic.plan;
        let admissible = admissible_ranges(
            graph,
            &symbolic.roots_plan,
            &symbolic.values,
            &plan.roots,
            !matches!(quantity, Quantity::Hvp(_)),
        );
        // Where the exact rule gives ±∞, whether one-sided differences of
        // the program itself blow up too (a real divergence) or settle (an
        // infinity of MPFR's rounding times a partial that is 0 in exact
        // arithmetic, as in acos(x / atan(tan x))).
        let diverges: Vec<bool> = symbolic
            .exact
            .iter()
            .enumerate()
            .map(|(k, e)| {
                e.is_infinite()
                    && seed_of_entry(quantity, k, n, m).is_some_and(|(d, w)| {
                        one_sided_diverges(graph, &primal.outputs, x, &d, &w, e.is_sign_positive())
                    })
            })
            .collect();
        let ranges = range_risks(partials, quantity, &primal.outputs, n);
        plan.roots
            .iter()
            .zip(&symbolic.exact)
            .enumerate()
            .map(|(k, (&node, exact))| {
                fn at(values: &[Option<Mp>], node: NodeId) -> Option<&Mp> {
                    values[node as usize].as_ref()
                }
                let on_f64_path =
                    at(&symbolic.path_values, node).map_or_else(|| Mp::nan().0, |v| v.0.clone());
                let s64 = symbolic.symbolic64[node as usize].unwrap_or(f64::NAN);
                let rounding_scale = if symbolic
                    .escaped
                    .get(node as usize)
                    .copied()
                    .unwrap_or(false)
                {
                    0.0
                } else {
                    Float::with_val(prec, s64 - &on_f64_path).abs().to_f64()
                };
                let gap = |v: Option<&Mp>| {
                    v.map_or(0.0, |v| Float::with_val(prec, &v.0 - exact).abs().to_f64())
                };
                let conditioning = Float::with_val(prec, &on_f64_path - exact)
                    .abs()
                    .to_f64()
                    .max(gap(at(&symbolic.up_values, node)))
                    .max(gap(at(&symbolic.down_values, node)));
                Entry {
                    f64_formula_finite: s64.is_finite(),
                    rounded: exact.to_f64(),
                    conditioning,
                    path_magnitude: symbolic.path_magnitudes[k],
                    rounding_scale,
                    on_f64_path,
                    exact: exact.clone(),
                    magnitude: symbolic.magnitudes[k],
                    support: fd.support[k],
                    fd: fd.seen[k],
                    fd_checked_against: fd.against[k],
                    admissible: admissible[k],
                    diverges: diverges[k],
                    range: ranges.get(k).cloned(),
                    node,
                }
            })
            .collect()
    }
}

/// What the intermediate derivatives of each entry do to an f64 engine
/// (none analysed for H·v).
fn range_risks(
    partials: &range::LocalPartials,
    quantity: &Quantity,
    outputs: &[NodeId],
    n: usize,
) -> Vec<RangeRisk> {
    let weights_on_outputs = |w: &[f64]| -> Vec<(NodeId, f64)> {
        outputs.iter().copied().zip(w.iter().copied()).collect()
    };
    match quantity {
        Quantity::Jvp(v) => partials.risks(&range::Entries::PerOutput {
            direction: v,
            outputs,
        }),
        Quantity::Vjp(u) => partials.risks(&range::Entries::PerInput {
            weights: &weights_on_outputs(u),
            inputs: n,
        }),
        Quantity::Gradient => partials.risks(&range::Entries::PerInput {
            weights: &weights_on_outputs(&[1.0]),
            inputs: n,
        }),
        Quantity::Jacobian => partials.risks(&range::Entries::Jacobian { outputs, inputs: n }),
        Quantity::Hvp(_) => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn estimate(value: f64, error: f64, status: FdStatus) -> FdEstimate {
        FdEstimate {
            value: vec![Float::with_val(256, value)],
            error: vec![error],
            status,
            evaluations: 8,
        }
    }

    #[test]
    fn finite_differences_confirm_within_their_error_and_dispute_beyond() {
        let exact = [Float::with_val(256, 2.0)];
        let check = [FdCheck {
            fd_weights: vec![(0, 1.0)],
            entry_weights: vec![(0, 1.0)],
        }];
        let compare = |fd: FdEstimate| compare_checks(&fd, &check, &exact, &[2.0], 256);
        let near = compare(estimate(2.0 + 1e-40, 1e-39, FdStatus::Smooth));
        assert_eq!(near.support, [Support::Confirmed]);
        assert!(near.tight);
        assert_eq!(near.seen[0], Some((2.0, 1e-39)));
        assert_eq!(
            near.against[0], None,
            "one entry with weight 1 is not a combination"
        );
        let far = compare(estimate(2.5, 1e-39, FdStatus::Smooth));
        assert_eq!(far.support, [Support::Disagreement]);
        // A stencil across a kink supports nothing but the kink.
        let kink = compare(estimate(2.5, 1e-39, FdStatus::BranchSwitch));
        assert_eq!(kink.support, [Support::Kink]);
        // A loose estimate agrees but is not tight.
        let loose = compare(estimate(2.0, 1e-3, FdStatus::Smooth));
        assert_eq!(loose.support, [Support::Confirmed]);
        assert!(!loose.tight);
    }
}
