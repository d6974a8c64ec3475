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
    let clamp_of = |i: usize| clamp.get(i).copied().flatten();
    Ok(match model {
        Model::Confusion { classes } => fit_confusion(evidence, classes, options, &clamp_of),
        Model::OneCoin => fit_one_coin(evidence, options, &clamp_of),
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

fn fit_confusion(
    evidence: &Evidence,
    classes: usize,
    options: &Options,
    clamp_of: &dyn Fn(usize) -> Option<u32>,
) -> Fit {
    let k = classes;
    let annotators = evidence.annotators;
    let items = evidence.items();
    let mut post = vec![0.0; items * k];
    let mut judged = 0usize;
    // Soft majority vote (or the clamp); an item without judgments gets the priors at the end.
    for i in 0..items {
        let row = &mut post[i * k..(i + 1) * k];
        let (_, what) = evidence.item(i);
        if let Some(known) = clamp_of(i) {
            row[known as usize] = 1.0;
        } else if !what.is_empty() {
            for &a in what {
                row[a as usize] += 1.0;
            }
            let n = what.len() as f64;
            row.iter_mut().for_each(|p| *p /= n);
        }
        if !what.is_empty() || clamp_of(i).is_some() {
            judged += 1;
        }
    }
    let judgments = evidence.judgments_per_annotator();
    // counts and log θ laid out as [annotator][given][true], so the E-step reads the `k`
    // values of one judgment contiguously.
    let mut counts = vec![0.0; annotators * k * k];
    let mut log_theta = vec![0.0; annotators * k * k];
    let mut theta = vec![0.0; annotators * k * k];
    let mut priors = vec![1.0 / k as f64; k];
    let mut pool = vec![1.0 / k as f64; k * k];
    let mut logs = vec![0.0; k];
    let mut iterations = 0;
    let mut converged = false;
    let mut log_likelihood = 0.0;
    let s = options.smoothing.max(0.0);
    while iterations < options.max_iterations {
        iterations += 1;
        // M-step.
        counts.iter_mut().for_each(|c| *c = 0.0);
        let mut class_mass = vec![0.0; k];
        for i in 0..items {
            let row = &post[i * k..(i + 1) * k];
            let (who, what) = evidence.item(i);
            if who.is_empty() && clamp_of(i).is_none() {
                continue;
            }
            for (m, p) in class_mass.iter_mut().zip(row) {
                *m += p;
            }
            for (&j, &a) in who.iter().zip(what) {
                let cell = &mut counts[(j as usize * k + a as usize) * k..][..k];
                for (c, p) in cell.iter_mut().zip(row) {
                    *c += p;
                }
            }
        }
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
        for j in 0..annotators {
            for a in 0..k {
                for t in 0..k {
                    pool[t * k + a] += counts[(j * k + a) * k + t];
                }
            }
        }
        for t in 0..k {
            let total: f64 = pool[t * k..(t + 1) * k].iter().sum();
            pool[t * k..(t + 1) * k]
                .iter_mut()
                .for_each(|p| *p /= total);
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
                    log_theta[(j * k + a) * k + t] = value.max(FLOOR).ln();
                }
            }
        }
        // E-step.
        let log_priors: Vec<f64> = priors.iter().map(|p| p.max(FLOOR).ln()).collect();
        let mut moved: f64 = 0.0;
        log_likelihood = 0.0;
        for i in 0..items {
            let (who, what) = evidence.item(i);
            if who.is_empty() && clamp_of(i).is_none() {
                post[i * k..(i + 1) * k].copy_from_slice(&priors);
                continue;
            }
            logs.copy_from_slice(&log_priors);
            for (&j, &a) in who.iter().zip(what) {
                let cell = &log_theta[(j as usize * k + a as usize) * k..][..k];
                for (l, lt) in logs.iter_mut().zip(cell) {
                    *l += lt;
                }
            }
            if let Some(known) = clamp_of(i) {
                log_likelihood += logs[known as usize];
                continue;
            }
            log_likelihood += normalise_logs(&mut logs);
            let row = &mut post[i * k..(i + 1) * k];
            for (p, new) in row.iter_mut().zip(&logs) {
                moved = moved.max((*p - new).abs());
                *p = *new;
            }
        }
        if moved <= options.tolerance {
            converged = true;
            break;
        }
    }
    if options.max_iterations == 0 {
        for i in 0..items {
            if evidence.item(i).0.is_empty() && clamp_of(i).is_none() {
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

fn fit_one_coin(
    evidence: &Evidence,
    options: &Options,
    clamp_of: &dyn Fn(usize) -> Option<u32>,
) -> Fit {
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
        scratch.extend(clamp_of(i));
        scratch.sort_unstable();
        scratch.dedup();
        let start = candidates.len();
        candidates.extend_from_slice(&scratch);
        if !scratch.is_empty() && clamp_of(i).is_none() {
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
        if let Some(known) = clamp_of(i) {
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
            if clamp_of(i).is_some() {
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
