//! Owner pages: the dashboard of a project and its downloads.

use actix_multipart::form::MultipartForm;
use actix_multipart::form::bytes::Bytes;
use actix_multipart::form::text::Text;
use actix_session::Session;
use actix_web::{HttpResponse, web};
use askama::Template;

use super::auth::{check_csrf, csrf_token, current_user, html, redirect, set_flash, take_flash};
use super::{AppState, WebError};
use crate::domain::chart::{Bar, bar_chart};
use crate::domain::consensus_stats::median_seconds_per_item;
use crate::interfaces::formats::export::{self, Cells, ProjectStats};
use crate::interfaces::http::exports::{self, ExportFile};
use crate::store::{ItemFilter, NoProgress, Project, Role, User, now_ms};

/// A project the user may manage: its owner, or an admin. Others get a 404, so slugs of other
/// owners' projects do not leak.
pub(super) async fn managed(
    state: &AppState,
    user: &User,
    slug: &str,
) -> Result<Project, WebError> {
    let project = state.store.project_by_slug(slug).await?;
    if user.role == Role::Admin || (user.role == Role::Owner && project.owner_id == Some(user.id)) {
        Ok(project)
    } else {
        Err(WebError::NotFound)
    }
}

struct ProjectRow {
    slug: String,
    name: String,
    rule: String,
}

#[derive(Template)]
#[template(path = "owner_projects.html")]
struct ProjectsPage {
    user: User,
    csrf: String,
    demo: bool,
    projects: Vec<ProjectRow>,
}

pub async fn projects(
    state: web::Data<AppState>,
    session: Session,
) -> Result<HttpResponse, WebError> {
    let user = current_user(&state, &session).await?;
    if user.role == Role::Annotator {
        return Err(WebError::Forbidden);
    }
    let projects = state
        .store
        .managed_projects(user.id, user.role == Role::Admin)
        .await?
        .into_iter()
        .map(|p| ProjectRow {
            rule: p.rule().to_string(),
            slug: p.config.slug,
            name: p.config.name,
        })
        .collect();
    let page = ProjectsPage {
        csrf: csrf_token(&session)?,
        demo: state.demo,
        user,
        projects,
    };
    Ok(html(page.render()?))
}

#[derive(Template)]
#[template(path = "dashboard.html")]
struct DashboardPage {
    user: User,
    csrf: String,
    demo: bool,
    name: String,
    slug: String,
    rule: String,
    stats: ProjectStats,
    percent_done: u64,
    percent_agreement: String,
    alpha: String,
    /// Items whose label the crowd model disagrees with (the first of them).
    disagreements: Vec<DisagreementRow>,
    disagreements_kept: usize,
    /// Confidence stopping: resolved items a re-fit no longer supports.
    reviews: Vec<DisagreementRow>,
    annotators: Vec<AnnotatorRow>,
    votes_chart: String,
    hourly_chart: String,
    judgments_last_hour: u64,
    flash: Option<String>,
    members: Vec<String>,
}

struct AnnotatorRow {
    name: String,
    judgments: u64,
    agreement: String,
    kappa: String,
    /// The crowd model's estimate of how often their judgment is right.
    estimated: String,
    /// Median seconds per item in the app; "–" for imported work.
    pace: String,
}

/// An item whose label the crowd model doubts, as the dashboard lists it.
struct DisagreementRow {
    item_id: String,
    status: &'static str,
    label: String,
    confidence: String,
    model_label: String,
    model_confidence: String,
}

fn decimal(v: Option<f64>) -> String {
    v.map(|x| format!("{x:.3}")).unwrap_or_else(|| "–".into())
}

pub async fn dashboard(
    state: web::Data<AppState>,
    session: Session,
    slug: web::Path<String>,
) -> Result<HttpResponse, WebError> {
    let user = current_user(&state, &session).await?;
    let project = managed(&state, &user, &slug).await?;
    let stats = export::project_stats(&state.store, &project)
        .await
        .map_err(|e| WebError::Internal(format!("{e:?}")))?;
    let histogram = state.store.vote_histogram(project.id).await?;
    let times = state.store.judgment_times(project.id).await?;
    let votes_chart = bar_chart(
        "Items by votes for their leading answer",
        &(0..=project.rule().max())
            .map(|v| Bar {
                label: v.to_string(),
                value: histogram
                    .iter()
                    .find(|(k, _)| *k == v)
                    .map_or(0, |(_, n)| *n),
            })
            .collect::<Vec<_>>(),
    );
    let now = now_ms();
    let this_hour = now / 3_600_000 * 3_600_000;
    let since = this_hour - 23 * 3_600_000;
    let hourly = state.store.judgments_per_hour(project.id, since).await?;
    let bars: Vec<Bar> = (0..24)
        .map(|i| {
            let start = since + i * 3_600_000;
            Bar {
                label: chrono::DateTime::from_timestamp_millis(start)
                    .map(|d| d.format("%H:00").to_string())
                    .unwrap_or_default(),
                value: hourly
                    .iter()
                    .find(|(h, _)| *h == start)
                    .map_or(0, |(_, n)| *n),
            }
        })
        .collect();
    let judgments_last_hour = bars.last().map_or(0, |b| b.value);
    let hourly_chart = bar_chart("Judgments per hour, last 24 hours (UTC)", &bars);
    let percent_done = ((stats.resolved + stats.unresolved) * 100)
        .checked_div(stats.items)
        .unwrap_or(0);
    let page = DashboardPage {
        csrf: csrf_token(&session)?,
        demo: state.demo,
        name: project.config.name.clone(),
        slug: project.config.slug.clone(),
        rule: project.rule().describe(),
        percent_agreement: decimal(stats.percent_agreement),
        alpha: decimal(stats.krippendorff_alpha),
        annotators: stats
            .per_annotator
            .iter()
            .map(|a| AnnotatorRow {
                name: a.annotator.clone(),
                judgments: a.judgments,
                agreement: decimal(a.agreement_with_consensus),
                kappa: decimal(a.cohen_kappa_vs_consensus),
                estimated: decimal(a.estimated_accuracy),
                pace: times
                    .iter()
                    .find(|(name, _)| *name == a.annotator)
                    .and_then(|(_, t)| median_seconds_per_item(t, 10 * 60 * 1000))
                    .map_or_else(|| "–".into(), |s| format!("{s:.1} s")),
            })
            .collect(),
        disagreements: stats
            .disagreements
            .iter()
            .map(|d| DisagreementRow {
                item_id: d.item_id.clone(),
                status: d.status.as_str(),
                label: d.label.clone(),
                confidence: format!("{:.4}", d.confidence),
                model_label: d.model_label.clone().unwrap_or_else(|| "–".into()),
                model_confidence: decimal(d.model_confidence),
            })
            .collect(),
        disagreements_kept: export::DISAGREEMENTS_KEPT,
        reviews: state
            .store
            .model_reviews(&project)
            .await?
            .into_iter()
            .map(|r| DisagreementRow {
                item_id: r.item_id,
                status: "resolved",
                label: r.label,
                confidence: format!("{:.4}", r.label_posterior),
                model_label: r.model_label,
                model_confidence: format!("{:.4}", r.model_posterior),
            })
            .collect(),
        stats,
        percent_done,
        votes_chart,
        hourly_chart,
        judgments_last_hour,
        flash: take_flash(&session),
        members: state.store.member_names(project.id).await?,
        user,
    };
    Ok(html(page.render()?))
}

/// Downloads: the same bytes as the CLI export, streamed, except that CSV cells are made safe
/// to open in a spreadsheet (see [`Cells::SpreadsheetSafe`]).
pub async fn download(
    state: web::Data<AppState>,
    session: Session,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, WebError> {
    let (slug, file) = path.into_inner();
    let user = current_user(&state, &session).await?;
    let project = managed(&state, &user, &slug).await?;
    let file = ExportFile::parse(&file).ok_or(WebError::NotFound)?;
    let filter = ItemFilter::default();
    let prepared =
        exports::prepare(&state.store, &project, file, Cells::SpreadsheetSafe, filter).await?;
    // `Cache-Control: no-store` comes from the security headers middleware.
    Ok(exports::response(
        prepared,
        &project,
        file,
        Cells::SpreadsheetSafe,
        filter,
        true,
    ))
}

/// Largest items file accepted from the browser.
pub const MAX_UPLOAD_BYTES: usize = 50 * 1024 * 1024;

#[derive(MultipartForm)]
pub struct UploadForm {
    csrf: Text<String>,
    #[multipart(limit = "50MiB")]
    file: Bytes,
}

#[derive(Template)]
#[template(path = "upload_error.html")]
struct UploadErrorPage {
    user: User,
    csrf: String,
    demo: bool,
    name: String,
    slug: String,
    message: String,
}

/// Imports an items CSV with the same rules as the CLI: the whole file or nothing, errors
/// with their line numbers.
pub async fn upload_items(
    state: web::Data<AppState>,
    session: Session,
    slug: web::Path<String>,
    form: MultipartForm<UploadForm>,
) -> Result<HttpResponse, WebError> {
    check_csrf(&session, &form.csrf)?;
    let user = current_user(&state, &session).await?;
    let project = managed(&state, &user, &slug).await?;
    let file_name = form
        .file
        .file_name
        .clone()
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| "upload.csv".into());
    let result = match crate::interfaces::formats::import_csv::parse_items(
        &file_name,
        form.file.data.as_ref(),
    ) {
        Ok(parsed) => state
            .store
            .import_items(&project, &parsed.field_names, parsed.records, &NoProgress)
            .await
            .map_err(|e| match e {
                crate::store::StoreError::Invalid(m) => Ok(format!("{file_name}: {m}")),
                other => Err(WebError::from(other)),
            }),
        Err(e) => Err(Ok(e.to_string())),
    };
    match result {
        Ok(summary) => {
            let message = format!(
                "{file_name}: {} rows read, {} items added, {} skipped as already present.",
                summary.rows_read, summary.items_created, summary.skipped_present
            );
            set_flash(&session, message)?;
            Ok(redirect(&format!("/o/{}", project.config.slug)))
        }
        Err(Ok(message)) => {
            let page = UploadErrorPage {
                csrf: csrf_token(&session)?,
                demo: state.demo,
                name: project.config.name.clone(),
                slug: project.config.slug.clone(),
                message,
                user,
            };
            Ok(HttpResponse::UnprocessableEntity()
                .content_type("text/html; charset=utf-8")
                .body(page.render()?))
        }
        Err(Err(e)) => Err(e),
    }
}

struct QueueItem {
    id: i64,
    external_id: String,
    fields: Vec<(String, String)>,
    answers: Vec<(String, u32)>,
    judgments: i64,
}

#[derive(Template)]
#[template(path = "unresolved.html")]
struct UnresolvedPage {
    user: User,
    csrf: String,
    demo: bool,
    name: String,
    slug: String,
    options: Vec<String>,
    items: Vec<QueueItem>,
    flash: Option<String>,
}

/// The items the crowd could not settle, with their answer distributions.
pub async fn unresolved(
    state: web::Data<AppState>,
    session: Session,
    slug: web::Path<String>,
) -> Result<HttpResponse, WebError> {
    let user = current_user(&state, &session).await?;
    let project = managed(&state, &user, &slug).await?;
    let items = state
        .store
        .unresolved_items(project.id, 100)
        .await?
        .into_iter()
        .map(|i| {
            let map: serde_json::Map<String, serde_json::Value> =
                serde_json::from_str(&i.fields).unwrap_or_default();
            QueueItem {
                id: i.id,
                external_id: i.external_id,
                fields: map
                    .into_iter()
                    .map(|(k, v)| {
                        (
                            k,
                            v.as_str()
                                .map(str::to_owned)
                                .unwrap_or_else(|| v.to_string()),
                        )
                    })
                    .collect(),
                answers: i.answers.iter().map(|(a, c)| (a.to_owned(), c)).collect(),
                judgments: i.judgments,
            }
        })
        .collect();
    let options = match project.answer() {
        crate::domain::AnswerSpec::Choice { options } => options.clone(),
        crate::domain::AnswerSpec::Text { .. } => Vec::new(),
    };
    let page = UnresolvedPage {
        csrf: csrf_token(&session)?,
        demo: state.demo,
        name: project.config.name.clone(),
        slug: project.config.slug.clone(),
        options,
        items,
        flash: take_flash(&session),
        user,
    };
    Ok(html(page.render()?))
}

#[derive(serde::Deserialize)]
pub struct AdjudicateForm {
    csrf: String,
    item: i64,
    /// A label picked from the distribution or the options…
    label: Option<String>,
    /// …or typed (text projects).
    other: Option<String>,
}

/// Records the owner's final label; exported with status `adjudicated`.
pub async fn adjudicate(
    state: web::Data<AppState>,
    session: Session,
    slug: web::Path<String>,
    form: web::Form<AdjudicateForm>,
) -> Result<HttpResponse, WebError> {
    check_csrf(&session, &form.csrf)?;
    let user = current_user(&state, &session).await?;
    let project = managed(&state, &user, &slug).await?;
    let typed = form
        .other
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty());
    let label = typed
        .or(form.label.as_deref())
        .ok_or_else(|| WebError::BadRequest("choose or type a label".into()))?;
    let stored = state
        .store
        .adjudicate(&project, form.item, label, user.id, now_ms())
        .await?;
    tracing::info!(user_id = user.id, item = form.item, "adjudicated");
    set_flash(&session, format!("Labelled {stored:?}."))?;
    Ok(redirect(&format!("/o/{}/unresolved", project.config.slug)))
}

#[derive(serde::Deserialize)]
pub struct MemberForm {
    csrf: String,
    email: String,
}

/// Adds a login user to the project's annotators.
pub async fn add_member(
    state: web::Data<AppState>,
    session: Session,
    slug: web::Path<String>,
    form: web::Form<MemberForm>,
) -> Result<HttpResponse, WebError> {
    check_csrf(&session, &form.csrf)?;
    let user = current_user(&state, &session).await?;
    let project = managed(&state, &user, &slug).await?;
    let email = form.email.trim().to_lowercase();
    let message = match state.store.user_by_name(&email).await? {
        Some(member) if !member.external && !member.disabled => {
            state.store.add_member(project.id, member.id).await?;
            format!("{email} can now label this project.")
        }
        _ => format!("No active account {email:?}: an admin creates accounts first."),
    };
    set_flash(&session, message)?;
    Ok(redirect(&format!("/o/{}", project.config.slug)))
}
