//! The quorum planner in the browser (`/o/{slug}/plan`): the `quorum plan` figures for a crowd
//! the owner describes, starting from the project's own Dawid–Skene estimate. A GET form, so a
//! plan is a bookmarkable URL and works without JavaScript.

use actix_session::Session;
use actix_web::{HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use super::auth::{csrf_token, current_user, html};
use super::owner::managed;
use super::{AppState, WebError};
use crate::domain::AnswerSpec;
use crate::domain::crowd::planner::{
    Candidate, Crowd, ErrorModel, MAX_PLAN_N, Plan, candidates, evaluate, recommend,
};
use crate::interfaces::formats::export;
use crate::store::User;

/// Largest N the page offers: figures for N up to 25 take a few milliseconds.
const PAGE_MAX_N: u32 = 25;

#[derive(Debug, Default, Deserialize)]
pub struct PlanQuery {
    accuracy: Option<String>,
    errors: Option<String>,
    target: Option<String>,
    max_n: Option<String>,
    min_resolution: Option<String>,
}

struct PlanRow {
    rule: String,
    stop: &'static str,
    config: String,
    resolved: String,
    accuracy: String,
    wrong: String,
    judgments: String,
    recommended: bool,
    current: bool,
}

#[derive(Template)]
#[template(path = "plan.html")]
struct PlanPage {
    user: User,
    csrf: String,
    demo: bool,
    name: String,
    slug: String,
    current_rule: String,
    estimate: Option<String>,
    accuracy: String,
    errors: String,
    target: String,
    max_n: String,
    min_resolution: String,
    error: Option<String>,
    rows: Vec<PlanRow>,
    recommendation: Option<String>,
}

fn percent(p: f64, digits: usize) -> String {
    format!("{:.*}%", digits, p * 100.0)
}

fn number(field: &str, text: &str, ok: impl Fn(f64) -> bool, range: &str) -> Result<f64, String> {
    let v: f64 = text
        .trim()
        .parse()
        .map_err(|_| format!("{field}: {:?} is not a number", text.trim()))?;
    if ok(v) {
        Ok(v)
    } else {
        Err(format!("{field}: {v} is outside {range}"))
    }
}

/// The planner page of a project the user manages.
pub async fn plan_page(
    state: web::Data<AppState>,
    session: Session,
    slug: web::Path<String>,
    query: web::Query<PlanQuery>,
) -> Result<HttpResponse, WebError> {
    let user = current_user(&state, &session).await?;
    let project = managed(&state, &user, &slug).await?;
    let stats = export::project_stats(&state.store, &project)
        .await
        .map_err(|e| WebError::Internal(format!("{e:?}")))?;
    let estimate = stats.crowd_accuracy();
    let default_errors = match project.answer() {
        AnswerSpec::Choice { options } => {
            format!("uniform:{}", options.len().saturating_sub(1).max(1))
        }
        AnswerSpec::Text { .. } => "namesake".to_owned(),
    };
    let q = query.into_inner();
    let accuracy = q
        .accuracy
        .unwrap_or_else(|| format!("{:.4}", estimate.unwrap_or(0.9).clamp(0.0001, 0.9999)));
    let errors = q.errors.unwrap_or(default_errors);
    let target = q.target.unwrap_or_else(|| {
        project
            .rule()
            .target()
            .map_or_else(|| "0.999".to_owned(), |t| t.to_string())
    });
    let max_n = q.max_n.unwrap_or_else(|| {
        project
            .rule()
            .max()
            .clamp(1, PAGE_MAX_N)
            .max(15)
            .to_string()
    });
    let min_resolution = q.min_resolution.unwrap_or_else(|| "0.9".to_owned());
    let parsed = (|| -> Result<(Crowd, f64, u32, f64), String> {
        let accuracy = number("Accuracy", &accuracy, |p| p > 0.0 && p < 1.0, "(0, 1)")?;
        let errors = ErrorModel::parse(errors.trim()).map_err(|e| format!("Errors: {e}"))?;
        let target = number("Target", &target, |p| p > 0.5 && p < 1.0, "(0.5, 1)")?;
        let max_n = number(
            "Largest N",
            &max_n,
            |n| n.fract() == 0.0 && (1.0..=f64::from(PAGE_MAX_N.min(MAX_PLAN_N))).contains(&n),
            &format!("1 to {PAGE_MAX_N}"),
        )? as u32;
        let min_resolution = number(
            "Resolution",
            &min_resolution,
            |p| (0.0..=1.0).contains(&p),
            "[0, 1]",
        )?;
        Ok((Crowd { accuracy, errors }, target, max_n, min_resolution))
    })();
    let rule = project.rule();
    let is_current = |c: &Candidate| match *c {
        Candidate::Quorum { agree, max, stop } => {
            rule.target().is_none()
                && agree == rule.agree()
                && max == rule.max()
                && stop == rule.stop()
        }
        Candidate::Confidence { target, min, max } => {
            rule.target() == Some(target) && min == rule.min() && max == rule.max()
        }
    };
    let (rows, recommendation, error) = match parsed {
        Err(e) => (Vec::new(), None, Some(e)),
        Ok((crowd, target, max_n, min_resolution)) => {
            let plans: Vec<Plan> = candidates(max_n, target, None)
                .iter()
                .map(|c| evaluate(&crowd, c))
                .collect();
            let best = recommend(&plans, target, min_resolution);
            let recommendation = best.map(|b| config_of(&b.candidate));
            // The cheapest few that reach the target, the recommendation and the current rule:
            // the whole table for N up to 25 is hundreds of rows.
            let mut shown: Vec<&Plan> = plans
                .iter()
                .filter(|p| p.accuracy_resolved >= target && p.resolution_rate >= min_resolution)
                .collect();
            shown.sort_by(|a, b| a.expected_judgments.total_cmp(&b.expected_judgments));
            shown.truncate(12);
            for p in &plans {
                if is_current(&p.candidate) && !shown.iter().any(|s| std::ptr::eq(*s, p)) {
                    shown.push(p);
                }
            }
            let rows = shown
                .into_iter()
                .map(|p| PlanRow {
                    rule: rule_name(&p.candidate),
                    stop: match p.candidate {
                        Candidate::Quorum { stop, .. } => stop.as_str(),
                        Candidate::Confidence { .. } => "confidence",
                    },
                    config: config_of(&p.candidate),
                    resolved: percent(p.resolution_rate, 3),
                    accuracy: percent(p.accuracy_resolved, 7),
                    wrong: format!("{:.2e}", p.wrong_per_item),
                    judgments: format!("{:.2}", p.expected_judgments),
                    recommended: best.is_some_and(|b| std::ptr::eq(b, p)),
                    current: is_current(&p.candidate),
                })
                .collect();
            (rows, recommendation, None)
        }
    };
    let page = PlanPage {
        csrf: csrf_token(&session)?,
        demo: state.demo,
        name: project.config.name.clone(),
        slug: project.config.slug.clone(),
        current_rule: project.rule().to_string(),
        estimate: estimate.map(|e| format!("{:.4}", e)),
        accuracy,
        errors,
        target,
        max_n,
        min_resolution,
        error,
        rows,
        recommendation,
        user,
    };
    Ok(html(page.render()?))
}

fn rule_name(c: &Candidate) -> String {
    match *c {
        Candidate::Quorum { agree, max, .. } => format!("{agree} of {max}"),
        Candidate::Confidence { target, min, max } => {
            format!("p ≥ {target}, {min} to {max} judgments")
        }
    }
}

fn config_of(c: &Candidate) -> String {
    match *c {
        Candidate::Quorum { agree, max, stop } => {
            format!("agree = {agree}, max = {max}, stop = \"{stop}\"")
        }
        Candidate::Confidence { target, min, max } => {
            format!("stop = \"confidence\", target = {target}, min = {min}, max = {max}")
        }
    }
}
