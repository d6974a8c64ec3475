//! A project's crowd model: its judgments, keyed as the store keys them (item and annotator
//! ids, answer text), interned into [`Evidence`] and fitted, with lookups back by id and text.
//! Exports, the dashboard and confidence stopping all read the model through this.

use std::collections::HashMap;

use super::dawid_skene::{Evidence, Fit, FitError, Model, Options, fit};
use crate::domain::AnswerSpec;

/// Gathers a project's judgments item by item; [`ModelBuilder::fit`] fits them.
#[derive(Debug)]
pub struct ModelBuilder {
    choice: bool,
    answers: HashMap<Box<str>, u32>,
    answer_texts: Vec<Box<str>>,
    annotators: HashMap<i64, u32>,
    annotator_ids: Vec<i64>,
    items: Vec<i64>,
    evidence: Evidence,
    clamp: Vec<Option<u32>>,
    scratch: Vec<(u32, u32)>,
}

impl ModelBuilder {
    /// A builder for a project with this answer schema: choice projects get full confusion
    /// matrices over their options, text projects the one-coin model.
    pub fn new(answer: &AnswerSpec) -> ModelBuilder {
        let mut builder = ModelBuilder {
            choice: matches!(answer, AnswerSpec::Choice { .. }),
            answers: HashMap::new(),
            answer_texts: Vec::new(),
            annotators: HashMap::new(),
            annotator_ids: Vec::new(),
            items: Vec::new(),
            evidence: Evidence::new(0),
            clamp: Vec::new(),
            scratch: Vec::new(),
        };
        if let AnswerSpec::Choice { options } = answer {
            for option in options {
                builder.answer(option);
            }
        }
        builder
    }

    fn answer(&mut self, text: &str) -> u32 {
        if let Some(&id) = self.answers.get(text) {
            return id;
        }
        let id = self.answer_texts.len() as u32;
        self.answers.insert(text.into(), id);
        self.answer_texts.push(text.into());
        id
    }

    fn annotator(&mut self, id: i64) -> u32 {
        let next = self.annotator_ids.len() as u32;
        *self.annotators.entry(id).or_insert_with(|| {
            self.annotator_ids.push(id);
            next
        })
    }

    /// One item with its judgments (annotator id, normalised answer) and, when its answer is
    /// known (an owner's adjudication; gold later), that answer, which the model takes as
    /// certain.
    pub fn add_item<'a>(
        &mut self,
        item_id: i64,
        judgments: impl IntoIterator<Item = (i64, &'a str)>,
        known: Option<&str>,
    ) {
        let mut scratch = std::mem::take(&mut self.scratch);
        scratch.clear();
        for (annotator, answer) in judgments {
            let pair = (self.annotator(annotator), self.answer(answer));
            scratch.push(pair);
        }
        let known = known.map(|k| self.answer(k));
        self.evidence.push_item(scratch.iter().copied());
        self.clamp.push(known);
        self.items.push(item_id);
        self.scratch = scratch;
    }

    /// Fits the model (see [`super::dawid_skene`]).
    pub fn fit(self, options: &Options) -> Result<CrowdModel, FitError> {
        let mut evidence = self.evidence;
        // The evidence was built before the annotator count was known.
        evidence.set_annotators(self.annotator_ids.len());
        let model = if self.choice {
            Model::Confusion {
                classes: self.answer_texts.len().max(1),
            }
        } else {
            Model::OneCoin
        };
        let clamp = if self.clamp.iter().any(Option::is_some) {
            self.clamp.as_slice()
        } else {
            &[]
        };
        let fitted = fit(&evidence, model, options, clamp)?;
        let mut by_item: Vec<(i64, u32)> = self
            .items
            .iter()
            .enumerate()
            .map(|(i, &id)| (id, i as u32))
            .collect();
        by_item.sort_unstable();
        let mut differs = 0;
        for i in 0..evidence.items() {
            let (_, what) = evidence.item(i);
            if what.is_empty() {
                continue;
            }
            if let Some((best, _)) = fitted.best(i) {
                let votes = |a: u32| what.iter().filter(|&&x| x == a).count();
                let top = what.iter().map(|&a| votes(a)).max().unwrap_or(0);
                if votes(best) < top {
                    differs += 1;
                }
            }
        }
        Ok(CrowdModel {
            model,
            fit: fitted,
            evidence,
            answers: self.answers,
            answer_texts: self.answer_texts,
            annotator_ids: self.annotator_ids,
            by_item,
            differs_from_plurality: differs,
        })
    }
}

/// A fitted project model.
#[derive(Debug, Clone)]
pub struct CrowdModel {
    model: Model,
    fit: Fit,
    evidence: Evidence,
    answers: HashMap<Box<str>, u32>,
    answer_texts: Vec<Box<str>>,
    annotator_ids: Vec<i64>,
    by_item: Vec<(i64, u32)>,
    differs_from_plurality: u64,
}

/// What the model believes about one item.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Belief<'a> {
    /// The most probable answer; `None` for an item without judgments.
    pub model_label: Option<(&'a str, f64)>,
    index: usize,
}

/// One annotator's estimate.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AnnotatorEstimate {
    pub annotator_id: i64,
    pub judgments: u64,
    pub estimated_accuracy: f64,
}

impl CrowdModel {
    /// `"confusion"` (full confusion matrices) or `"one_coin"`.
    pub fn kind(&self) -> &'static str {
        match self.model {
            Model::Confusion { .. } => "confusion",
            Model::OneCoin => "one_coin",
        }
    }

    pub fn fit(&self) -> &Fit {
        &self.fit
    }

    /// The answers the model's classes stand for, in class order.
    pub fn answer_texts(&self) -> impl Iterator<Item = &str> {
        self.answer_texts.iter().map(|a| &**a)
    }

    /// Judged items whose model label is not among their most-voted answers.
    pub fn differs_from_plurality(&self) -> u64 {
        self.differs_from_plurality
    }

    /// Items in the model (judged or clamped).
    pub fn items(&self) -> usize {
        self.by_item.len()
    }

    /// The model's belief about the item with this id; `None` for an item it never saw.
    pub fn item(&self, item_id: i64) -> Option<Belief<'_>> {
        let at = self
            .by_item
            .binary_search_by_key(&item_id, |&(id, _)| id)
            .ok()?;
        let index = self.by_item[at].1 as usize;
        let judged = !self.evidence.item(index).0.is_empty();
        let model_label = if judged {
            self.fit
                .best(index)
                .map(|(a, p)| (&*self.answer_texts[a as usize], p))
        } else {
            None
        };
        Some(Belief { model_label, index })
    }

    /// The posterior probability of `answer` for the item of `belief`.
    pub fn posterior(&self, belief: &Belief<'_>, answer: &str) -> f64 {
        self.answers
            .get(answer)
            .map_or(0.0, |&a| self.fit.posterior(belief.index, a))
    }

    /// Every annotator's estimate, in the order they were first seen.
    pub fn annotators(&self) -> impl Iterator<Item = AnnotatorEstimate> + '_ {
        self.annotator_ids
            .iter()
            .enumerate()
            .map(|(j, &id)| AnnotatorEstimate {
                annotator_id: id,
                judgments: self.fit.judgments[j],
                estimated_accuracy: self.fit.accuracy[j],
            })
    }
}

/// The three model cells of an item's labels row: `confidence` (the posterior of its label),
/// and `model_label` with `model_confidence`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ModelCells<'a> {
    pub confidence: Option<f64>,
    pub model_label: Option<(&'a str, f64)>,
}

impl<'a> ModelCells<'a> {
    /// An item without judgments (the model never saw it): an owner's adjudication is
    /// certain, anything else has no cells.
    pub fn unjudged(adjudicated: bool, label: Option<&str>) -> ModelCells<'a> {
        ModelCells {
            confidence: (label.is_some() && adjudicated).then_some(1.0),
            model_label: None,
        }
    }

    /// The cells as stored with an item between re-fits: both numbers in Rust's shortest
    /// round-trip form (`-` for none), then the model label, space-separated, so that a stored
    /// row prints byte for byte what a fresh fit prints.
    pub fn encode(&self) -> String {
        let mut s = String::with_capacity(48);
        let mut number = |p: Option<f64>| match p {
            Some(p) => s.push_str(&format!("{p} ")),
            None => s.push_str("- "),
        };
        number(self.confidence);
        number(self.model_label.map(|m| m.1));
        if let Some((label, _)) = self.model_label {
            s.push_str(label);
        }
        s
    }

    /// Reads what [`ModelCells::encode`] wrote.
    pub fn decode(text: &'a str) -> Result<ModelCells<'a>, String> {
        let mut parts = text.splitn(3, ' ');
        let mut number = |what: &str| -> Result<Option<f64>, String> {
            match parts.next() {
                Some("-") => Ok(None),
                Some(n) => n
                    .parse()
                    .map(Some)
                    .map_err(|e| format!("{what} {n:?}: {e}")),
                None => Err(format!("{what} missing")),
            }
        };
        let confidence = number("confidence")?;
        let model_confidence = number("model_confidence")?;
        let label = parts.next().unwrap_or_default();
        let model_label = match model_confidence {
            Some(p) => Some((label, p)),
            None if label.is_empty() => None,
            None => return Err(format!("model label {label:?} without a confidence")),
        };
        Ok(ModelCells {
            confidence,
            model_label,
        })
    }
}

/// What a fit concluded, as the stats report it; stored with the cells between re-fits.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct FitSummary {
    /// `"confusion"` or `"one_coin"` (see [`CrowdModel::kind`]).
    pub kind: String,
    pub iterations: u32,
    pub converged: bool,
    pub log_likelihood: f64,
    pub items: u64,
    pub differs_from_plurality: u64,
    /// (annotator id, judgments, estimated accuracy), in the order they were first seen.
    pub annotators: Vec<(i64, u64, f64)>,
}

impl CrowdModel {
    /// The model cells of the item with this id, whose status is adjudicated or not and whose
    /// label (resolved or adjudicated) is `label`. An adjudicated item without judgments has
    /// confidence 1: the owner's answer, taken as known.
    pub fn cells(&self, item_id: i64, adjudicated: bool, label: Option<&str>) -> ModelCells<'_> {
        match self.item(item_id) {
            Some(b) => ModelCells {
                confidence: label.map(|l| self.posterior(&b, l)),
                model_label: b.model_label,
            },
            None => ModelCells::unjudged(adjudicated, label),
        }
    }

    /// The fit's summary for the stats.
    pub fn summary(&self) -> FitSummary {
        FitSummary {
            kind: self.kind().to_owned(),
            iterations: self.fit.iterations,
            converged: self.fit.converged,
            log_likelihood: self.fit.log_likelihood,
            items: self.items() as u64,
            differs_from_plurality: self.differs_from_plurality,
            annotators: self
                .annotators()
                .map(|a| (a.annotator_id, a.judgments, a.estimated_accuracy))
                .collect(),
        }
    }
}

#[cfg(test)]
mod cells_tests {
    use super::*;

    #[test]
    fn stored_cells_read_back_exactly() {
        let cases = [
            ModelCells {
                confidence: Some(0.1 + 0.2),
                model_label: Some(("@some one", 1.0 - 1e-17)),
            },
            ModelCells {
                confidence: None,
                model_label: Some(("", 0.25)),
            },
            ModelCells {
                confidence: Some(1.0),
                model_label: None,
            },
            ModelCells {
                confidence: None,
                model_label: None,
            },
            ModelCells {
                confidence: Some(5e-324),
                model_label: Some(("a  b ", 0.5)),
            },
        ];
        for c in cases {
            let text = c.encode();
            assert_eq!(ModelCells::decode(&text).unwrap(), c, "{text:?}");
        }
        for bad in ["", "x - c1", "- - c1", "0.5"] {
            assert!(ModelCells::decode(bad).is_err(), "{bad:?}");
        }
    }
}
