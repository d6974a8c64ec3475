//! Dawid–Skene aggregation (Dawid & Skene, 1979): estimates how reliable each annotator is and,
//! from that, the probability of every answer to every item, by expectation–maximisation.
//!
//! Two variants, chosen by the project's answer kind:
//! - [`Model::Confusion`], for `choice` projects: each annotator has a full confusion matrix
//!   `θ[true][given]` over the project's options, and the answers have prior frequencies.
//! - [`Model::OneCoin`], for `text` projects, whose answers are item-specific: each annotator
//!   has one accuracy `p`; an item's candidates are the answers seen on it plus "none of these"
//!   (the truth may be something nobody typed), a wrong judgment is any other candidate with
//!   equal probability, and candidates start equally likely. One judgment of an annotator of
//!   accuracy `p` thus gives its answer posterior `p`, not certainty.
//!
//! Both start from the (soft) majority vote, then alternate an M-step (re-estimate annotators
//! from the current posteriors) and an E-step (re-estimate posteriors from the annotators)
//! until no posterior moves more than [`Options::tolerance`] or [`Options::max_iterations`]
//! rounds have run. Every sum runs in input order, so the same input gives the same bytes.
//!
//! **Smoothing.** An annotator with few judgments would otherwise get a degenerate matrix (a
//! zero makes any item they disagree on impossible). Each annotator's estimate is shrunk
//! towards the pooled estimate of the whole crowd with the weight of [`Options::smoothing`]
//! judgments: `θ_j[t][a] = (n_j[t][a] + s·pool[t][a]) / (n_j[t] + s)`, where the pool is the
//! crowd's counts with one pseudo-count per cell and `k` (the number of classes) on the
//! diagonal, so it has no zero either and leans, weakly, towards annotators being right. A newcomer is
//! trusted like the average annotator until their own record says otherwise.
//!
//! **Clamping.** Items whose answer is known (gold, next issue) can be clamped: their posterior
//! is fixed on that answer, they are not re-estimated, and they weigh in every M-step, so they
//! both anchor annotator estimates and are reported with certainty.

/// Which variant to fit; see the module documentation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Model {
    /// Full confusion matrices over `classes` answers, numbered `0..classes`.
    Confusion { classes: usize },
    /// One accuracy per annotator; answers are any `u32` but [`NONE_OF_THESE`].
    OneCoin,
}

/// The "none of these" candidate of [`Model::OneCoin`] items, as reported by
/// [`Fit::candidates`]; never a model label.
pub const NONE_OF_THESE: u32 = u32::MAX;

/// How the fit runs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Options {
    /// Rounds of EM at most (one round = an M-step and an E-step).
    pub max_iterations: u32,
    /// Converged when no posterior probability moved more than this in a round.
    pub tolerance: f64,
    /// Weight, in judgments, of the pooled crowd estimate each annotator is shrunk towards.
    pub smoothing: f64,
}

impl Default for Options {
    /// 100 rounds, posteriors stable to 1e-6, and the crowd's estimate worth two judgments.
    fn default() -> Options {
        Options {
            max_iterations: 100,
            tolerance: 1e-6,
            smoothing: 2.0,
        }
    }
}

/// Why the evidence cannot be fitted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FitError {
    #[error("item {item}: annotator index {annotator} is not below the {annotators} annotators")]
    Annotator {
        item: usize,
        annotator: u32,
        annotators: usize,
    },
    #[error("item {item}: answer {answer} is not one of the {classes} classes")]
    Answer {
        item: usize,
        answer: u32,
        classes: usize,
    },
    #[error("{clamps} clamps given for {items} items")]
    ClampCount { clamps: usize, items: usize },
    #[error("a confusion model needs at least one class")]
    NoClasses,
}

/// The judgments to aggregate: items in order, each a list of (annotator, answer), annotators
/// and answers as small integers the caller interned.
#[derive(Debug, Clone, Default)]
pub struct Evidence {
    annotators: usize,
    starts: Vec<usize>,
    who: Vec<u32>,
    what: Vec<u32>,
}

impl Evidence {
    /// Evidence over annotators numbered `0..annotators`.
    pub fn new(annotators: usize) -> Evidence {
        Evidence {
            annotators,
            starts: vec![0],
            who: Vec::new(),
            what: Vec::new(),
        }
    }

    /// Appends the next item with its judgments (possibly none); returns its index.
    pub fn push_item(&mut self, judgments: impl IntoIterator<Item = (u32, u32)>) -> usize {
        for (annotator, answer) in judgments {
            self.who.push(annotator);
            self.what.push(answer);
        }
        self.starts.push(self.who.len());
        self.starts.len() - 2
    }

    /// Widens (or narrows) the annotator range, for callers that number annotators as they
    /// meet them; [`fit`] checks every judgment against it.
    pub fn set_annotators(&mut self, annotators: usize) {
        self.annotators = annotators;
    }

    pub fn items(&self) -> usize {
        self.starts.len() - 1
    }

    pub fn annotators(&self) -> usize {
        self.annotators
    }

    pub fn judgments(&self) -> usize {
        self.who.len()
    }

    /// How many judgments each annotator gave.
    pub fn judgments_per_annotator(&self) -> Vec<u64> {
        let mut counts = vec![0u64; self.annotators];
        for &j in &self.who {
            counts[j as usize] += 1;
        }
        counts
    }

    /// The judgments of item `i`: (annotators, answers), side by side.
    pub fn item(&self, i: usize) -> (&[u32], &[u32]) {
        let range = self.starts[i]..self.starts[i + 1];
        (&self.who[range.clone()], &self.what[range])
    }
}

/// A fitted model: posteriors per item and estimates per annotator.
#[derive(Debug, Clone, PartialEq)]
pub struct Fit {
    /// EM rounds run.
    pub iterations: u32,
    /// Whether the posteriors settled within the tolerance before the cap.
    pub converged: bool,
    /// Log-likelihood of the judgments under the final annotator estimates (natural log).
    pub log_likelihood: f64,
    /// Per annotator: the probability their judgment is right on a random item — for a
    /// confusion model `Σ_t prior[t]·θ[t][t]`, for one-coin `p`.
    pub accuracy: Vec<f64>,
    /// Per annotator: how many judgments the estimate rests on.
    pub judgments: Vec<u64>,
    /// Confusion model only: answer priors, and per annotator `θ[true][given]` flattened as
    /// `(annotator × classes + true) × classes + given`.
    pub priors: Vec<f64>,
    pub confusion: Vec<f64>,
    /// The crowd's pooled estimate a newcomer gets: for a confusion model `θ[true][given]`
    /// flattened as `true × classes + given`, for one-coin one accuracy.
    pub pool: Vec<f64>,
    classes: Option<usize>,
    cand_starts: Vec<usize>,
    candidates: Vec<u32>,
    posterior: Vec<f64>,
}

impl Fit {
    /// The candidates of item `i` (answers, and [`NONE_OF_THESE`] for one-coin) with their
    /// posterior probabilities, which sum to 1.
    pub fn candidates(&self, i: usize) -> impl Iterator<Item = (u32, f64)> + '_ {
        let (start, end) = self.range(i);
        (start..end).map(move |k| {
            let answer = match self.classes {
                Some(classes) => ((k - start) % classes.max(1)) as u32,
                None => self.candidates[k],
            };
            (answer, self.posterior[k])
        })
    }

    fn range(&self, i: usize) -> (usize, usize) {
        match self.classes {
            Some(classes) => (i * classes, (i + 1) * classes),
            None => (self.cand_starts[i], self.cand_starts[i + 1]),
        }
    }

    /// The model's most probable answer to item `i` and its posterior; ties go to the lowest
    /// answer. `None` for a one-coin item without judgments (nothing to choose from).
    pub fn best(&self, i: usize) -> Option<(u32, f64)> {
        let mut best: Option<(u32, f64)> = None;
        for (answer, p) in self.candidates(i) {
            if answer == NONE_OF_THESE {
                continue;
            }
            match best {
                Some((b, bp)) if bp > p || (bp == p && b < answer) => {}
                _ => best = Some((answer, p)),
            }
        }
        best
    }

    /// The posterior probability that `answer` is item `i`'s true answer (0 for an answer the
    /// model never considered there).
    pub fn posterior(&self, i: usize, answer: u32) -> f64 {
        self.candidates(i)
            .find(|&(a, _)| a == answer)
            .map_or(0.0, |(_, p)| p)
    }
}

/// Fits `model` to `evidence`. `clamp` is empty, or one entry per item: `Some(answer)` fixes
/// that item's answer.
pub fn fit(
    evidence: &Evidence,
    model: Model,
    options: &Options,
    clamp: &[Option<u32>],
) -> Result<Fit, FitError> {
    if !clamp.is_empty() && clamp.len() != evidence.items() {
        return Err(FitError::ClampCount {
            clamps: clamp.len(),
            items: evidence.items(),
        });
    }
    for i in 0..evidence.items() {
        let (who, what) = evidence.item(i);
        if let Some(&annotator) = who.iter().find(|&&a| a as usize >= evidence.annotators) {
            return Err(FitError::Annotator {
                item: i,
                annotator,
                annotators: evidence.annotators,
            });
        }
        let known = clamp.get(i).copied().flatten();
        match model {
            Model::Confusion { classes } => {
                if classes == 0 {
                    return Err(FitError::NoClasses);
                }
                if let Some(&answer) = what.iter().chain(&known).find(|&&a| a as usize >= classes) {
                    return Err(FitError::Answer {
                        item: i,
                        answer,
                        classes,
                    });
                }
            }
            Model::OneCoin => {
                if let Some(&answer) = what.iter().chain(&known).find(|&&a| a == NONE_OF_THESE) {
                    return Err(FitError::Answer {
                        item: i,
                        answer,
                        classes: 0,
                    });
                }
            }
        }
    }
    Ok(match model {
        Model::Confusion { classes } => fit_confusion(evidence, classes, options, clamp),
        Model::OneCoin => fit_one_coin(evidence, options, clamp),
    })
}

/// Smallest probability used inside a logarithm: keeps `ln` finite for an annotator who is
/// always right (or always wrong) without changing any realistic estimate.
const FLOOR: f64 = 1e-12;

fn normalise_logs(logs: &mut [f64]) -> f64 {
    let max = logs.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let mut sum = 0.0;
    for l in logs.iter_mut() {
        *l = (*l - max).exp();
        sum += *l;
    }
    for l in logs.iter_mut() {
        *l /= sum;
    }
    max + sum.ln()
}

/// Most judgments on one item for which the E-step multiplies probabilities instead of adding
/// their logarithms: with every factor (prior and θ) at least [`FLOOR`], a product of
/// `LINEAR_MAX + 1` of them stays a normal `f64` (1e-300), so it neither underflows nor loses
/// precision, and the posterior is the same up to rounding without an `exp` per cell. Items with
/// more judgments take the log-space path.
const LINEAR_MAX: usize = 24;

/// The clamp of item `i`, if any (`clamp` is empty or one entry per item).
fn clamp_at(clamp: &[Option<u32>], i: usize) -> Option<u32> {
    clamp.get(i).copied().flatten()
}

/// One item's clamp after another: `clamp`'s entries, then `None` for ever (so an empty
/// `clamp` clamps nothing).
fn clamps(clamp: &[Option<u32>]) -> impl Iterator<Item = Option<u32>> + '_ {
    clamp.iter().copied().chain(std::iter::repeat(None))
}

/// The annotator estimates of one M-step, in the layouts the E-step reads.
struct Estimates<'a> {
    /// Per judgment cell `(annotator × k + given) × k + true`: `max(θ[true][given], FLOOR)`.
    theta: &'a [f64],
    /// The same cells' logarithms; empty when no item takes the log-space path.
    log_theta: &'a [f64],
    priors: &'a [f64],
    /// `max(prior, FLOOR)` and its logarithm.
    floor_priors: &'a [f64],
    log_priors: &'a [f64],
}

/// What one E-step reports.
struct Step {
    moved: f64,
    log_likelihood: f64,
}

/// Adds `row` to the cells `(annotator × k + given) × k ..` of `counts` of the judgments
/// `who`, `what` (and to `class_mass`): the counts of the next M-step. Inlined, so that the
/// E-step's compile-time `k` unrolls it.
#[inline(always)]
fn accumulate(
    kk: usize,
    row: &[f64],
    who: &[u32],
    what: &[u32],
    counts: &mut [f64],
    class_mass: &mut [f64],
) {
    for (m, p) in class_mass[..kk].iter_mut().zip(row) {
        *m += p;
    }
    for (&j, &a) in who.iter().zip(what) {
        let cell = &mut counts[(j as usize * kk + a as usize) * kk..][..kk];
        for (c, p) in cell.iter_mut().zip(row) {
            *c += p;
        }
    }
}

/// One E-step of the confusion model over every item, with the next M-step's counts summed in
/// the same pass (into `counts` and `class_mass`, which start at zero), in input order. `K` is
/// the number of classes when known at compile time (so the per-item arithmetic unrolls), or 0
/// for any `k`.
#[allow(clippy::too_many_arguments)]
fn confusion_e_step<const K: usize>(
    k: usize,
    evidence: &Evidence,
    clamp: &[Option<u32>],
    est: &Estimates,
    post: &mut [f64],
    counts: &mut [f64],
    class_mass: &mut [f64],
) -> Step {
    let kk = if K == 0 { k } else { K };
    let mut fixed = [0.0; K];
    let mut any = if K == 0 { vec![0.0; k] } else { Vec::new() };
    let acc: &mut [f64] = if K == 0 { &mut any } else { &mut fixed };
    let acc = &mut acc[..kk];
    let floor_priors = &est.floor_priors[..kk];
    let mut moved: f64 = 0.0;
    let mut log_likelihood = 0.0;
    let rows = post.chunks_exact_mut(kk);
    for ((row, bounds), known) in rows.zip(evidence.starts.windows(2)).zip(clamps(clamp)) {
        let (who, what) = (
            &evidence.who[bounds[0]..bounds[1]],
            &evidence.what[bounds[0]..bounds[1]],
        );
        if who.is_empty() && known.is_none() {
            row.copy_from_slice(est.priors);
            continue;
        }
        if who.len() <= LINEAR_MAX {
            acc.copy_from_slice(floor_priors);
            for (&j, &a) in who.iter().zip(what) {
                let cell = &est.theta[(j as usize * kk + a as usize) * kk..][..kk];
                for (l, t) in acc.iter_mut().zip(cell) {
                    *l *= t;
                }
            }
            if let Some(known) = known {
                log_likelihood += acc[known as usize].ln();
            } else {
                let sum: f64 = acc.iter().sum();
                log_likelihood += sum.ln();
                for (p, l) in row.iter_mut().zip(acc.iter()) {
                    let new = l / sum;
                    moved = moved.max((*p - new).abs());
                    *p = new;
                }
            }
        } else {
            acc.copy_from_slice(est.log_priors);
            for (&j, &a) in who.iter().zip(what) {
                let cell = &est.log_theta[(j as usize * kk + a as usize) * kk..][..kk];
                for (l, lt) in acc.iter_mut().zip(cell) {
                    *l += lt;
                }
            }
            if let Some(known) = known {
                log_likelihood += acc[known as usize];
            } else {
                log_likelihood += normalise_logs(acc);
                for (p, new) in row.iter_mut().zip(acc.iter()) {
                    moved = moved.max((*p - new).abs());
                    *p = *new;
                }
            }
        }
        accumulate(kk, row, who, what, counts, class_mass);
    }
    Step {
        moved,
        log_likelihood,
    }
}

fn fit_confusion(
    evidence: &Evidence,
    classes: usize,
    options: &Options,
    clamp: &[Option<u32>],
) -> Fit {
    let k = classes;
    let annotators = evidence.annotators;
    let items = evidence.items();
    let mut post = vec![0.0; items * k];
    let mut judged = 0usize;
    let mut any_long = false;
    // Soft majority vote (or the clamp); an item without judgments gets the priors at the end.
    for (i, row) in post.chunks_exact_mut(k).enumerate() {
        let (_, what) = evidence.item(i);
        let known = clamp_at(clamp, i);
        if let Some(known) = known {
            row[known as usize] = 1.0;
        } else if !what.is_empty() {
            for &a in what {
                row[a as usize] += 1.0;
            }
            let n = what.len() as f64;
            row.iter_mut().for_each(|p| *p /= n);
        }
        if !what.is_empty() || known.is_some() {
            judged += 1;
        }
        any_long |= what.len() > LINEAR_MAX;
    }
    let judgments = evidence.judgments_per_annotator();
    // counts and θ for the E-step laid out as [annotator][given][true], so the E-step reads
    // (and adds to) the `k` values of one judgment contiguously. The first M-step's counts come
    // from the majority vote; every later one's are summed by the E-step before it.
    let mut counts = vec![0.0; annotators * k * k];
    let mut next_counts = vec![0.0; annotators * k * k];
    let mut class_mass = vec![0.0; k];
    let mut next_class_mass = vec![0.0; k];
    for (i, row) in post.chunks_exact(k).enumerate() {
        let (who, what) = evidence.item(i);
        if who.is_empty() && clamp_at(clamp, i).is_none() {
            continue;
        }
        accumulate(k, row, who, what, &mut counts, &mut class_mass);
    }
    let mut e_theta = vec![0.0; annotators * k * k];
    let mut log_theta = if any_long {
        vec![0.0; annotators * k * k]
    } else {
        Vec::new()
    };
    let mut theta = vec![0.0; annotators * k * k];
    let mut priors = vec![1.0 / k as f64; k];
    let mut floor_priors = vec![0.0; k];
    let mut log_priors = vec![0.0; k];
    let mut pool = vec![1.0 / k as f64; k * k];
    let mut iterations = 0;
    let mut converged = false;
    let mut log_likelihood = 0.0;
    let s = options.smoothing.max(0.0);
    let e_step = match k {
        2 => confusion_e_step::<2>,
        3 => confusion_e_step::<3>,
        4 => confusion_e_step::<4>,
        5 => confusion_e_step::<5>,
        6 => confusion_e_step::<6>,
        7 => confusion_e_step::<7>,
        8 => confusion_e_step::<8>,
        _ => confusion_e_step::<0>,
    };
    while iterations < options.max_iterations {
        iterations += 1;
        // M-step, from the counts of the soft majority vote or of the last E-step.
        for (t, prior) in priors.iter_mut().enumerate() {
            *prior = (class_mass[t] + 1.0) / (judged as f64 + k as f64);
        }
        // The crowd's pooled θ[t][a]: one pseudo-count per cell and `k` on the diagonal, a
        // weak prior that the crowd is more often right than wrong (accuracy k/(2k-1) before
        // any evidence), which keeps a tiny project's labels from drifting off what its
        // annotators said.
        pool.iter_mut().for_each(|p| *p = 1.0);
        for t in 0..k {
            pool[t * k + t] = k as f64;
        }
        for cells in counts.chunks_exact(k * k) {
            for (a, cell) in cells.chunks_exact(k).enumerate() {
                for (t, c) in cell.iter().enumerate() {
                    pool[t * k + a] += c;
                }
            }
        }
        for row in pool.chunks_exact_mut(k) {
            let total: f64 = row.iter().sum();
            row.iter_mut().for_each(|p| *p /= total);
        }
        for j in 0..annotators {
            for t in 0..k {
                let row_total: f64 = (0..k).map(|a| counts[(j * k + a) * k + t]).sum();
                for a in 0..k {
                    let value =
                        (counts[(j * k + a) * k + t] + s * pool[t * k + a]) / (row_total + s);
                    let value = if value.is_finite() {
                        value
                    } else {
                        pool[t * k + a]
                    };
                    theta[(j * k + t) * k + a] = value;
                    e_theta[(j * k + a) * k + t] = value.max(FLOOR);
                    if any_long {
                        log_theta[(j * k + a) * k + t] = value.max(FLOOR).ln();
                    }
                }
            }
        }
        for ((f, l), p) in floor_priors.iter_mut().zip(&mut log_priors).zip(&priors) {
            *f = p.max(FLOOR);
            *l = f.ln();
        }
        // E-step, summing the next M-step's counts as it goes.
        next_counts.iter_mut().for_each(|c| *c = 0.0);
        next_class_mass.iter_mut().for_each(|m| *m = 0.0);
        let estimates = Estimates {
            theta: &e_theta,
            log_theta: &log_theta,
            priors: &priors,
            floor_priors: &floor_priors,
            log_priors: &log_priors,
        };
        let step = e_step(
            k,
            evidence,
            clamp,
            &estimates,
            &mut post,
            &mut next_counts,
            &mut next_class_mass,
        );
        std::mem::swap(&mut counts, &mut next_counts);
        std::mem::swap(&mut class_mass, &mut next_class_mass);
        log_likelihood = step.log_likelihood;
        if step.moved <= options.tolerance {
            converged = true;
            break;
        }
    }
    if options.max_iterations == 0 {
        for i in 0..items {
            if evidence.item(i).0.is_empty() && clamp_at(clamp, i).is_none() {
                post[i * k..(i + 1) * k].copy_from_slice(&priors);
            }
        }
    }
    let accuracy = (0..annotators)
        .map(|j| (0..k).map(|t| priors[t] * theta[(j * k + t) * k + t]).sum())
        .collect();
    Fit {
        iterations,
        converged,
        log_likelihood,
        accuracy,
        judgments,
        priors,
        confusion: theta,
        pool,
        classes: Some(k),
        cand_starts: Vec::new(),
        candidates: Vec::new(),
        posterior: post,
    }
}

fn fit_one_coin(evidence: &Evidence, options: &Options, clamp: &[Option<u32>]) -> Fit {
    let annotators = evidence.annotators;
    let items = evidence.items();
    // Candidates per item: the distinct answers seen (and the clamp), ascending, then "none".
    let mut cand_starts = Vec::with_capacity(items + 1);
    let mut candidates = Vec::with_capacity(evidence.judgments() + items);
    // Per judgment: the index of its answer among its item's candidates.
    let mut slot = Vec::with_capacity(evidence.judgments());
    cand_starts.push(0);
    let mut scratch = Vec::new();
    for i in 0..items {
        let (_, what) = evidence.item(i);
        scratch.clear();
        scratch.extend_from_slice(what);
        scratch.extend(clamp_at(clamp, i));
        scratch.sort_unstable();
        scratch.dedup();
        let start = candidates.len();
        candidates.extend_from_slice(&scratch);
        if !scratch.is_empty() && clamp_at(clamp, i).is_none() {
            candidates.push(NONE_OF_THESE);
        }
        for a in what {
            let at = scratch.binary_search(a).unwrap_or(0);
            slot.push((start + at) as u32);
        }
        cand_starts.push(candidates.len());
    }
    let mut post = vec![0.0; candidates.len()];
    for i in 0..items {
        let (start, end) = (cand_starts[i], cand_starts[i + 1]);
        let range = evidence.starts[i]..evidence.starts[i + 1];
        if let Some(known) = clamp_at(clamp, i) {
            let at = candidates[start..end]
                .iter()
                .position(|&c| c == known)
                .unwrap_or(0);
            post[start + at] = 1.0;
        } else if !range.is_empty() {
            let n = range.len() as f64;
            for &s in &slot[range] {
                post[s as usize] += 1.0 / n;
            }
        }
    }
    let judgments = evidence.judgments_per_annotator();
    let mut accuracy = vec![0.5; annotators];
    let mut pool = 0.5;
    let mut correct = vec![0.0; annotators];
    let mut logs = Vec::new();
    let mut iterations = 0;
    let mut converged = false;
    let mut log_likelihood = 0.0;
    let s = options.smoothing.max(0.0);
    while iterations < options.max_iterations {
        iterations += 1;
        // M-step.
        correct.iter_mut().for_each(|c| *c = 0.0);
        for (k, &j) in evidence.who.iter().enumerate() {
            correct[j as usize] += post[slot[k] as usize];
        }
        let total_correct: f64 = correct.iter().sum();
        pool = (total_correct + 1.0) / (evidence.judgments() as f64 + 2.0);
        for j in 0..annotators {
            accuracy[j] = (correct[j] + s * pool) / (judgments[j] as f64 + s);
            if !accuracy[j].is_finite() {
                accuracy[j] = pool;
            }
        }
        let log_right: Vec<f64> = accuracy.iter().map(|p| p.max(FLOOR).ln()).collect();
        let log_wrong: Vec<f64> = accuracy.iter().map(|p| (1.0 - p).max(FLOOR).ln()).collect();
        // E-step.
        let mut moved: f64 = 0.0;
        log_likelihood = 0.0;
        for i in 0..items {
            let (start, end) = (cand_starts[i], cand_starts[i + 1]);
            let range = evidence.starts[i]..evidence.starts[i + 1];
            if range.is_empty() {
                continue;
            }
            let alternatives = (end - start - 1).max(1) as f64;
            let log_alt = alternatives.ln();
            // Every candidate first as if each judgment were wrong about it, then the judgments
            // that name it corrected to right; a uniform prior over the candidates.
            let all_wrong: f64 = range
                .clone()
                .map(|k| log_wrong[evidence.who[k] as usize] - log_alt)
                .sum();
            logs.clear();
            logs.resize(end - start, all_wrong - ((end - start) as f64).ln());
            for k in range.clone() {
                let j = evidence.who[k] as usize;
                logs[slot[k] as usize - start] += log_right[j] - (log_wrong[j] - log_alt);
            }
            if clamp_at(clamp, i).is_some() {
                let at = (start..end).find(|&c| post[c] == 1.0).unwrap_or(start);
                log_likelihood += logs[at - start];
                continue;
            }
            log_likelihood += normalise_logs(&mut logs);
            for (p, new) in post[start..end].iter_mut().zip(&logs) {
                moved = moved.max((*p - new).abs());
                *p = *new;
            }
        }
        if moved <= options.tolerance {
            converged = true;
            break;
        }
    }
    Fit {
        iterations,
        converged,
        log_likelihood,
        accuracy,
        judgments,
        priors: Vec::new(),
        confusion: Vec::new(),
        pool: vec![pool],
        classes: None,
        cand_starts,
        candidates,
        posterior: post,
    }
}

#[cfg(test)]
#[path = "dawid_skene_tests.rs"]
mod tests;
