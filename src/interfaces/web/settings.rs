//! Creating and editing a project in the browser: the same settings as the TOML configuration,
//! validated by the same [`ProjectDraft::validate`], so the browser and the CLI accept exactly
//! the same projects.

use actix_session::Session;
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use super::auth::{check_csrf, csrf_token, current_user, redirect, set_flash};
use super::owner::managed;
use super::{AppState, WebError};
use crate::domain::config::DEFAULT_LEASE_SECONDS;
use crate::domain::normalize::Normalizer;
use crate::domain::{ConfigError, ProjectDraft};
use crate::store::{Project, ReconfigureSummary, Role, StoreError, User, now_ms};

/// One normaliser checkbox.
struct NormalizerBox {
    name: &'static str,
    help: &'static str,
    checked: bool,
}

#[derive(Template)]
#[template(path = "project_form.html")]
struct ProjectFormPage {
    user: User,
    csrf: String,
    demo: bool,
    /// `None` when creating.
    editing: Option<Editing>,
    form: ProjectForm,
    normalizers: Vec<NormalizerBox>,
    error: Option<FormError>,
}

impl ProjectFormPage {
    /// The control the error belongs to, `""` for none.
    fn bad_field(&self) -> &'static str {
        self.error.as_ref().map_or("", |e| e.field)
    }
}

/// What the edit page needs beyond the form: the project's name as stored and what a rule
/// change would affect.
struct Editing {
    name: String,
    judgments: u64,
}

/// An error and the form control it belongs to (for `aria-invalid` and focus).
struct FormError {
    field: &'static str,
    message: String,
}

/// The form as submitted. Numbers arrive as text so that a typo is reported next to its field
/// rather than as a generic "bad request".
#[derive(Debug, Clone, Default, Deserialize)]
pub struct ProjectForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    slug: String,
    #[serde(default)]
    instructions: String,
    #[serde(default)]
    kind: String,
    /// One option per line.
    #[serde(default)]
    options: String,
    norm_trim: Option<String>,
    norm_nfkc: Option<String>,
    norm_casefold: Option<String>,
    norm_handle: Option<String>,
    #[serde(default)]
    agree: String,
    #[serde(default)]
    max: String,
    #[serde(default)]
    stop: String,
    /// Confidence stopping: the posterior target and the fewest judgments.
    #[serde(default)]
    target: String,
    #[serde(default)]
    min: String,
    #[serde(default)]
    lease_minutes: String,
    /// The configuration version and update time the edit form was rendered from: a save over
    /// someone else's change is refused instead of silently undoing it.
    #[serde(default)]
    version: String,
}

impl ProjectForm {
    fn from_draft(d: &ProjectDraft) -> ProjectForm {
        let has = |n: &str| {
            d.normalize
                .as_ref()
                .is_some_and(|list| list.iter().any(|x| x == n))
                .then(|| "on".to_owned())
        };
        ProjectForm {
            name: d.name.clone(),
            slug: d.slug.clone(),
            instructions: d.instructions.clone(),
            kind: d.kind.clone(),
            options: d.options.as_deref().unwrap_or_default().join("\n"),
            norm_trim: has("trim"),
            norm_nfkc: has("nfkc"),
            norm_casefold: has("casefold"),
            norm_handle: has("handle"),
            agree: d.agree.map(|a| a.to_string()).unwrap_or_default(),
            max: d.max.to_string(),
            stop: d.stop.clone(),
            target: d.target.map(|t| t.to_string()).unwrap_or_default(),
            min: d.min.map(|m| m.to_string()).unwrap_or_default(),
            lease_minutes: d.lease_minutes.map(|m| m.to_string()).unwrap_or_default(),
            ..ProjectForm::default()
        }
    }

    fn checked(&self, n: Normalizer) -> bool {
        match n {
            Normalizer::Trim => self.norm_trim.is_some(),
            Normalizer::Nfkc => self.norm_nfkc.is_some(),
            Normalizer::Casefold => self.norm_casefold.is_some(),
            Normalizer::Handle => self.norm_handle.is_some(),
        }
    }

    /// The draft to validate, or the first field that is not even a number.
    fn to_draft(&self) -> Result<ProjectDraft, FormError> {
        let number = |field: &'static str, label: &str, text: &str| -> Result<i64, FormError> {
            text.trim().parse::<i64>().map_err(|_| FormError {
                field,
                message: format!("{label} must be a whole number, got {:?}", text.trim()),
            })
        };
        let confidence = self.stop == "confidence";
        let lease_minutes = if self.lease_minutes.trim().is_empty() {
            None
        } else {
            Some(number(
                "lease_minutes",
                "Lease length",
                &self.lease_minutes,
            )?)
        };
        let (options, normalize) = if self.kind == "text" {
            let chosen = Normalizer::ALL
                .into_iter()
                .filter(|n| self.checked(*n))
                .map(|n| n.name().to_owned())
                .collect();
            (None, Some(chosen))
        } else {
            let options = self
                .options
                .lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .map(str::to_owned)
                .collect();
            (Some(options), None)
        };
        Ok(ProjectDraft {
            name: self.name.clone(),
            slug: self.slug.trim().to_owned(),
            instructions: self.instructions.replace("\r\n", "\n"),
            kind: self.kind.clone(),
            options,
            normalize,
            // Confidence stopping counts no votes: its K is left out, and its own fields
            // are read only for it, so a form switched between stops keeps working.
            agree: if confidence {
                None
            } else {
                Some(number("agree", "Agree (K)", &self.agree)?)
            },
            max: number("max", "Max judgments (N)", &self.max)?,
            stop: self.stop.clone(),
            target: if confidence && !self.target.trim().is_empty() {
                Some(self.target.trim().parse::<f64>().map_err(|_| FormError {
                    field: "target",
                    message: format!(
                        "Target confidence must be a number such as 0.999, got {:?}",
                        self.target.trim()
                    ),
                })?)
            } else {
                None
            },
            min: if confidence && !self.min.trim().is_empty() {
                Some(number("min", "Min judgments", &self.min)?)
            } else {
                None
            },
            lease_minutes,
        })
    }
}

/// Maps a configuration error to the form control that holds the offending setting.
fn field_of(e: &ConfigError) -> &'static str {
    match e {
        ConfigError::Invalid { key, .. } => field_for_key(key, ""),
        ConfigError::Syntax(_) => "",
    }
}

/// The form control of a TOML key (`quorum.max`, `answer.normalize[2]` …). A bare `answer` (a
/// stored answer that does not fit a new schema) belongs to the options or the normalisers,
/// depending on the answer `kind` in the form.
fn field_for_key(key: &str, kind: &str) -> &'static str {
    match key.split(['.', '[']).collect::<Vec<_>>().as_slice() {
        ["answer"] if kind == "text" => "normalize",
        ["answer"] => "options",
        ["name", ..] => "name",
        ["slug", ..] => "slug",
        ["instructions", ..] => "instructions",
        ["answer", "kind", ..] => "kind",
        ["answer", "options", ..] => "options",
        ["answer", "normalize", ..] => "normalize",
        ["quorum", "agree", ..] => "agree",
        ["quorum", "max", ..] => "max",
        ["quorum", "stop", ..] => "stop",
        ["quorum", "target", ..] => "target",
        ["quorum", "min", ..] => "min",
        ["assignment", ..] => "lease_minutes",
        _ => "",
    }
}

fn page(
    state: &AppState,
    session: &Session,
    user: User,
    editing: Option<Editing>,
    form: ProjectForm,
    error: Option<FormError>,
) -> Result<HttpResponse, WebError> {
    let status = if error.is_some() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    let normalizers = Normalizer::ALL
        .into_iter()
        .map(|n| NormalizerBox {
            name: n.name(),
            help: n.description(),
            checked: form.checked(n),
        })
        .collect();
    let body = ProjectFormPage {
        csrf: csrf_token(session)?,
        demo: state.demo,
        user,
        editing,
        form,
        normalizers,
        error,
    }
    .render()?;
    Ok(HttpResponse::build(status)
        .content_type("text/html; charset=utf-8")
        .body(body))
}

fn may_create(user: &User) -> Result<(), WebError> {
    if matches!(user.role, Role::Owner | Role::Admin) {
        Ok(())
    } else {
        Err(WebError::Forbidden)
    }
}

/// `GET /o/new`: an empty form with the defaults of a 2-of-3 choice project.
pub async fn new_project(
    state: web::Data<AppState>,
    session: Session,
) -> Result<HttpResponse, WebError> {
    let user = current_user(&state, &session).await?;
    may_create(&user)?;
    let form = ProjectForm {
        kind: "choice".into(),
        agree: "2".into(),
        max: "3".into(),
        stop: "early".into(),
        lease_minutes: (DEFAULT_LEASE_SECONDS / 60).to_string(),
        norm_trim: Some("on".into()),
        ..ProjectForm::default()
    };
    page(&state, &session, user, None, form, None)
}

/// `POST /o/new`: creates the project, owned by the user, and opens its dashboard.
pub async fn create_project(
    state: web::Data<AppState>,
    session: Session,
    form: web::Form<ProjectForm>,
) -> Result<HttpResponse, WebError> {
    let user = current_user(&state, &session).await?;
    may_create(&user)?;
    check_csrf(&session, &form.csrf)?;
    let form = form.into_inner();
    let config = match form.to_draft() {
        Ok(draft) => match draft.validate() {
            Ok(c) => c,
            Err(e) => {
                let error = FormError {
                    field: field_of(&e),
                    message: e.to_string(),
                };
                return page(&state, &session, user, None, form, Some(error));
            }
        },
        Err(error) => return page(&state, &session, user, None, form, Some(error)),
    };
    match state.store.create_project(&config, Some(user.id)).await {
        Ok(project) => {
            set_flash(
                &session,
                format!(
                    "Created {}. Upload items and add annotators below.",
                    project.config.name
                ),
            )?;
            Ok(redirect(&format!("/o/{}", project.slug())))
        }
        Err(StoreError::Conflict(message)) => {
            let error = FormError {
                field: "slug",
                message,
            };
            page(&state, &session, user, None, form, Some(error))
        }
        Err(e) => Err(e.into()),
    }
}

/// `GET /o/{slug}/settings`: the project's configuration as an editable form.
pub async fn edit_project(
    state: web::Data<AppState>,
    session: Session,
    slug: web::Path<String>,
) -> Result<HttpResponse, WebError> {
    let user = current_user(&state, &session).await?;
    let project = managed(&state, &user, &slug).await?;
    let mut form = ProjectForm::from_draft(&ProjectDraft::from(&project.config));
    form.version = form_version(&project);
    let editing = editing(&state, &project).await?;
    page(&state, &session, user, Some(editing), form, None)
}

/// Identifies the settings a form was rendered from: a save over a newer change is refused.
fn form_version(project: &Project) -> String {
    format!("{}.{}", project.config_version, project.updated_at)
}

/// What the edit page shows besides the form.
async fn editing(state: &AppState, project: &Project) -> Result<Editing, WebError> {
    Ok(Editing {
        name: project.config.name.clone(),
        judgments: state.store.project_counts(project.id).await?.judgments,
    })
}

/// `POST /o/{slug}/settings`: saves the configuration; a new answer schema or rule
/// re-evaluates every item in the same transaction.
pub async fn update_project(
    state: web::Data<AppState>,
    session: Session,
    slug: web::Path<String>,
    form: web::Form<ProjectForm>,
) -> Result<HttpResponse, WebError> {
    let user = current_user(&state, &session).await?;
    let project = managed(&state, &user, &slug).await?;
    check_csrf(&session, &form.csrf)?;
    let mut form = form.into_inner();
    // The slug is fixed: the form shows it read-only and does not submit it.
    form.slug = project.config.slug.clone();
    if form.version != form_version(&project) {
        let error = FormError {
            field: "",
            message: "Someone changed this project since you opened the form. Reload the page to \
                      see the current settings, then make your change again."
                .into(),
        };
        let editing = editing(&state, &project).await?;
        return page(&state, &session, user, Some(editing), form, Some(error));
    }
    let config = match form.to_draft().and_then(|d| {
        d.validate().map_err(|e| FormError {
            field: field_of(&e),
            message: e.to_string(),
        })
    }) {
        Ok(c) => c,
        Err(error) => {
            let editing = editing(&state, &project).await?;
            return page(&state, &session, user, Some(editing), form, Some(error));
        }
    };
    match state
        .store
        .reconfigure_project(&project, &config, now_ms())
        .await
    {
        Ok((updated, summary)) => {
            set_flash(&session, describe(&summary))?;
            Ok(redirect(&format!("/o/{}", updated.slug())))
        }
        Err(StoreError::Invalid(message) | StoreError::Conflict(message)) => {
            // The store names the offending key first, in backticks.
            let key = message
                .strip_prefix('`')
                .and_then(|m| m.split_once('`'))
                .map_or("", |(key, _)| key);
            let error = FormError {
                field: field_for_key(key, &form.kind),
                message,
            };
            let editing = editing(&state, &project).await?;
            page(&state, &session, user, Some(editing), form, Some(error))
        }
        Err(e) => Err(e.into()),
    }
}

/// The flash message after a save: what changed for the stored work.
fn describe(s: &ReconfigureSummary) -> String {
    if !s.rule_changed {
        return "Settings saved.".into();
    }
    let mut out = format!(
        "Settings saved. Re-evaluated {} item(s) with judgments: now {} resolved (was {}), {} unresolved (was {}), {} pending (was {}), {} adjudicated.",
        s.reevaluated,
        s.after.resolved,
        s.before.resolved,
        s.after.unresolved,
        s.before.unresolved,
        s.after.pending,
        s.before.pending,
        s.after.adjudicated
    );
    if s.renormalized > 0 {
        out.push_str(&format!(
            " {} judgment(s) compare differently under the new normalisers.",
            s.renormalized
        ));
    }
    if s.leases_released > 0 {
        out.push_str(&format!(
            " {} open assignment(s) ended because their item is now full.",
            s.leases_released
        ));
    }
    out
}
