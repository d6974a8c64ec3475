//! `quorum plan`: what each quorum rule would cost and deliver for a crowd of a given accuracy,
//! exactly (see `domain::crowd::planner`), and the cheapest rule that reaches a target.

use std::io::Write;

use anyhow::{Context, Result};
use clap::{Args, ValueEnum};
use serde_json::json;

use crate::domain::crowd::planner::{
    Candidate, Crowd, ErrorModel, MAX_PLAN_N, Plan, candidates, evaluate, recommend,
};

#[derive(Debug, Args)]
pub struct PlanArgs {
    /// Probability that one annotator's judgment is right, in (0, 1).
    #[arg(long, value_name = "P", value_parser = parse_accuracy, required_unless_present = "project", conflicts_with = "project")]
    pub accuracy: Option<f64>,
    /// Instead of --accuracy: this project's crowd as its Dawid–Skene model estimates it
    /// (annotators' estimated accuracies weighted by their judgments); opens the database.
    #[arg(long, value_name = "SLUG")]
    pub project: Option<String>,
    /// How wrong judgments are distributed: `uniform:W` (one of W wrong answers, equally
    /// likely) or `namesake` (always the same wrong answer: the hardest case).
    #[arg(long, value_name = "MODEL", default_value = "namesake", value_parser = parse_errors)]
    pub errors: ErrorModel,
    /// Accuracy among resolved items the rule must reach, in (0.5, 1); also the posterior
    /// target of the confidence-stopping candidates.
    #[arg(long, value_name = "P", value_parser = parse_target)]
    pub target: f64,
    /// Largest number of judgments per item to consider (1 to 60).
    #[arg(long, value_name = "N", default_value_t = 15, value_parser = clap::value_parser!(u32).range(1..=i64::from(MAX_PLAN_N)))]
    pub max_n: u32,
    /// Only this rule, K-of-N (e.g. 7-of-9), with early and fixed stopping, and confidence
    /// stopping capped at N.
    #[arg(long, value_name = "K-of-N", value_parser = parse_rule)]
    pub rule: Option<(u32, u32)>,
    /// Share of items that must resolve for a rule to be recommended, in [0, 1].
    #[arg(long, value_name = "SHARE", default_value_t = 0.9, value_parser = parse_share)]
    pub min_resolution: f64,
    #[arg(long, value_enum, default_value_t = PlanFormat::Table)]
    pub format: PlanFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum PlanFormat {
    Table,
    Json,
}

fn parse_accuracy(s: &str) -> Result<f64, String> {
    let p: f64 = s
        .trim()
        .parse()
        .map_err(|_| format!("`{s}` is not a number"))?;
    if p > 0.0 && p < 1.0 {
        Ok(p)
    } else {
        Err(format!(
            "{p} is outside (0, 1): an accuracy is a probability strictly between 0 and 1"
        ))
    }
}

fn parse_target(s: &str) -> Result<f64, String> {
    let p: f64 = s
        .trim()
        .parse()
        .map_err(|_| format!("`{s}` is not a number"))?;
    if p > 0.5 && p < 1.0 {
        Ok(p)
    } else {
        Err(format!(
            "{p} is outside (0.5, 1): a target at or below 0.5 lets two answers qualify, and 1 \
             is never reached"
        ))
    }
}

fn parse_share(s: &str) -> Result<f64, String> {
    let p: f64 = s
        .trim()
        .parse()
        .map_err(|_| format!("`{s}` is not a number"))?;
    if (0.0..=1.0).contains(&p) {
        Ok(p)
    } else {
        Err(format!("{p} is outside [0, 1]"))
    }
}

fn parse_errors(s: &str) -> Result<ErrorModel, String> {
    ErrorModel::parse(s)
}

/// `K-of-N` with 0 < K ≤ N ≤ 60 and K > N/2.
pub fn parse_rule(s: &str) -> Result<(u32, u32), String> {
    let bad = || format!("`{s}` is not a rule: write K-of-N, e.g. 7-of-9");
    let (k, n) = s.trim().split_once("-of-").ok_or_else(bad)?;
    let (k, n): (u32, u32) = (k.parse().map_err(|_| bad())?, n.parse().map_err(|_| bad())?);
    if n == 0 || n > MAX_PLAN_N {
        return Err(format!("N = {n} must be from 1 to {MAX_PLAN_N}"));
    }
    if k > n {
        return Err(format!("K = {k} is more than N = {n}"));
    }
    if 2 * k <= n {
        return Err(format!(
            "K = {k} must be more than half of N = {n} (at least {}), otherwise two answers \
             could both reach the quorum",
            n / 2 + 1
        ));
    }
    Ok((k, n))
}

/// Plans for the crowd of `--project`: its model's estimate, then [`run`].
pub(super) async fn run_for_project(
    store: &crate::store::Store,
    args: &PlanArgs,
    out: &mut dyn Write,
) -> Result<()> {
    let slug = args.project.as_deref().unwrap_or_default();
    let project = store.project_by_slug(slug).await?;
    let stats = crate::interfaces::formats::export::project_stats(store, &project).await?;
    let accuracy = stats.crowd_accuracy().with_context(|| {
        format!("project {slug:?} has no judgments yet: give --accuracy instead")
    })?;
    // The estimate is a probability strictly inside (0, 1) by construction (smoothing).
    let accuracy = accuracy.clamp(1e-9, 1.0 - 1e-9);
    if args.format == PlanFormat::Table {
        writeln!(
            out,
            "Project {slug:?}: its crowd model estimates annotators right {:.4}% of the time.",
            accuracy * 100.0
        )?;
    }
    run_with(args, accuracy, out)
}

pub(super) fn run(args: &PlanArgs, out: &mut dyn Write) -> Result<()> {
    let accuracy = args
        .accuracy
        .context("give --accuracy P or --project SLUG")?;
    run_with(args, accuracy, out)
}

fn run_with(args: &PlanArgs, accuracy: f64, out: &mut dyn Write) -> Result<()> {
    let crowd = Crowd {
        accuracy,
        errors: args.errors,
    };
    let max_n = args.rule.map_or(args.max_n, |(_, n)| n.max(args.max_n));
    let plans: Vec<Plan> = candidates(max_n, args.target, args.rule)
        .iter()
        .map(|c| evaluate(&crowd, c))
        .collect();
    let best = recommend(&plans, args.target, args.min_resolution);
    match args.format {
        PlanFormat::Json => {
            let rows: Vec<serde_json::Value> = plans
                .iter()
                .map(|p| plan_json(p, best.is_some_and(|b| std::ptr::eq(b, p))))
                .collect();
            serde_json::to_writer(&mut *out, &rows)?;
            writeln!(out)?;
        }
        PlanFormat::Table => write_table(args, accuracy, &plans, best, out)?,
    }
    out.flush().context("writing the plan")
}

fn stop_name(candidate: &Candidate) -> &'static str {
    match candidate {
        Candidate::Quorum { stop, .. } => stop.as_str(),
        Candidate::Confidence { .. } => "confidence",
    }
}

/// One candidate as the JSON contract: `agree`, `max`, `stop`, the four figures, and for
/// confidence stopping `min` and `target` (`agree` is null there).
fn plan_json(plan: &Plan, recommended: bool) -> serde_json::Value {
    let (agree, max, min, target) = match plan.candidate {
        Candidate::Quorum { agree, max, .. } => (Some(agree), max, None, None),
        Candidate::Confidence { target, min, max } => (None, max, Some(min), Some(target)),
    };
    let mut v = json!({
        "agree": agree,
        "max": max,
        "stop": stop_name(&plan.candidate),
        "resolution_rate": plan.resolution_rate,
        "accuracy_resolved": plan.accuracy_resolved,
        "wrong_per_item": plan.wrong_per_item,
        "expected_judgments": plan.expected_judgments,
        "recommended": recommended,
    });
    if let (Some(min), Some(target)) = (min, target) {
        v["min"] = json!(min);
        v["target"] = json!(target);
    }
    v
}

fn rule_name(candidate: &Candidate) -> String {
    match *candidate {
        Candidate::Quorum { agree, max, .. } => format!("{agree}-of-{max}"),
        Candidate::Confidence { target, min, max } => format!("p≥{target} in {min}..{max}"),
    }
}

fn write_table(
    args: &PlanArgs,
    accuracy: f64,
    plans: &[Plan],
    best: Option<&Plan>,
    out: &mut dyn Write,
) -> Result<()> {
    writeln!(
        out,
        "Annotators right {:.4}% of the time, independently; wrong answers: {}.",
        accuracy * 100.0,
        args.errors
    )?;
    writeln!(
        out,
        "These are upper bounds: real crowds share mistakes, which no rule can out-vote.\n"
    )?;
    writeln!(
        out,
        "  {:<22} {:<10} {:>9} {:>14} {:>12} {:>10}",
        "rule", "stop", "resolved", "accuracy", "wrong/item", "judgments"
    )?;
    for p in plans {
        let mark = if best.is_some_and(|b| std::ptr::eq(b, p)) {
            '*'
        } else {
            ' '
        };
        writeln!(
            out,
            "{mark} {:<22} {:<10} {:>8.3}% {:>13.7}% {:>12.3e} {:>10.3}",
            rule_name(&p.candidate),
            stop_name(&p.candidate),
            p.resolution_rate * 100.0,
            p.accuracy_resolved * 100.0,
            p.wrong_per_item,
            p.expected_judgments,
        )?;
    }
    writeln!(out)?;
    match best {
        Some(p) => {
            let config = match p.candidate {
                Candidate::Quorum { agree, max, stop } => format!(
                    "[quorum] agree = {agree}, max = {max}, stop = \"{}\"",
                    stop.as_str()
                ),
                Candidate::Confidence { target, min, max } => format!(
                    "[quorum] stop = \"confidence\", target = {target}, min = {min}, max = {max}"
                ),
            };
            writeln!(
                out,
                "Recommended (*): {config} — {:.3} judgments per item, {:.7}% accurate, {:.3}% resolved.",
                p.expected_judgments,
                p.accuracy_resolved * 100.0,
                p.resolution_rate * 100.0
            )?;
        }
        None => writeln!(
            out,
            "No rule up to {} judgments reaches {} accuracy with {:.1}% of items resolved: \
             raise --max-n, lower --target or --min-resolution, or improve the crowd.",
            plans
                .iter()
                .map(|p| match p.candidate {
                    Candidate::Quorum { max, .. } | Candidate::Confidence { max, .. } => max,
                })
                .max()
                .unwrap_or(0),
            args.target,
            args.min_resolution * 100.0
        )?,
    }
    Ok(())
}
