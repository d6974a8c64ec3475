//! Who may hold which API token: the rules shared by `quorum token create` and the browser's
//! `/tokens` page, so both accept exactly the same tokens.
//!
//! - the token's user is a login user (not an external annotator) and not disabled;
//! - the `export` and `import` scopes are only for owners and admins;
//! - a project limit names an existing project; for `export` and `import` the user manages it
//!   (its owner, or an admin); for `annotate` the user is a member of it, its owner, or an admin.

use crate::auth::new_token;
use crate::store::{ApiToken, NewToken, Project, Role, Scopes, Store, StoreError, User};

/// Why a token was not created.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    /// A rule refused it; the message names what is wrong.
    #[error("{0}")]
    Refused(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What the user may do in the project a token would be limited to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProjectAccess<'a> {
    pub slug: &'a str,
    /// Its owner, or an admin.
    pub manages: bool,
    pub member: bool,
}

/// The rules, without the database: `Err` names the first one broken.
pub fn check(
    user: &User,
    scopes: Scopes,
    project: Option<ProjectAccess<'_>>,
) -> Result<(), String> {
    if user.external {
        return Err(format!(
            "{} is an external annotator without a login; tokens are only for login users",
            user.name
        ));
    }
    if user.disabled {
        return Err(format!(
            "{} is disabled; enable the account before giving it a token",
            user.name
        ));
    }
    // Reading a project's data and adding items to it both take managing the project; the
    // first such scope held names the refusal.
    let managing = [("export", scopes.export), ("import", scopes.import)]
        .into_iter()
        .find_map(|(name, held)| held.then_some(name));
    if let Some(name) = managing
        && user.role == Role::Annotator
    {
        return Err(format!(
            "the {name} scope is only for owners and admins; {} is an annotator",
            user.name
        ));
    }
    if let Some(p) = project {
        if let Some(name) = managing
            && !p.manages
        {
            return Err(format!(
                "{} does not manage project {:?}: {name} tokens need its owner or an admin",
                user.name, p.slug
            ));
        }
        if scopes.annotate && !(p.member || p.manages) {
            return Err(format!(
                "{} is not a member of project {:?}: annotate tokens need a member, its owner or an admin",
                user.name, p.slug
            ));
        }
    }
    Ok(())
}

/// True when `user` manages `project`: its owner, or an admin.
pub fn manages(user: &User, project: &Project) -> bool {
    user.role == Role::Admin || (user.role == Role::Owner && project.owner_id == Some(user.id))
}

/// The login user with this email; an error naming it when there is none.
pub async fn user_by_email(store: &Store, email: &str) -> Result<User, TokenError> {
    let name = email.trim().to_lowercase();
    store
        .user_by_name(&name)
        .await?
        .ok_or_else(|| TokenError::Refused(format!("no user named {name}")))
}

/// A token just made: the stored row and the secret, to show once.
pub struct Issued {
    pub token: ApiToken,
    pub secret: String,
}

/// The name a token gets when none is given: `token YYYY-MM-DD` (UTC).
pub fn default_name(now: i64) -> String {
    let date = chrono::DateTime::from_timestamp_millis(now)
        .map(|d| d.format("%Y-%m-%d").to_string())
        .unwrap_or_default();
    format!("token {date}")
}

/// Checks the rules and creates the token. `project_slug` limits it to one project; `name`
/// empty or `None` gives [`default_name`].
pub async fn issue(
    store: &Store,
    user: &User,
    scopes: Scopes,
    project_slug: Option<&str>,
    name: Option<&str>,
    now: i64,
) -> Result<Issued, TokenError> {
    let project = match project_slug.map(str::trim).filter(|s| !s.is_empty()) {
        Some(slug) => match store.project_by_slug(slug).await {
            Ok(p) => Some(p),
            Err(StoreError::NotFound { .. }) => {
                return Err(TokenError::Refused(format!("no project {slug:?}")));
            }
            Err(e) => return Err(e.into()),
        },
        None => None,
    };
    let access = match &project {
        Some(p) => Some(ProjectAccess {
            slug: p.slug(),
            manages: manages(user, p),
            member: store.is_member(p.id, user.id).await?,
        }),
        None => None,
    };
    check(user, scopes, access).map_err(TokenError::Refused)?;
    let name = match name.map(str::trim).filter(|n| !n.is_empty()) {
        Some(n) if n.chars().count() > 100 => {
            return Err(TokenError::Refused(
                "a token name may have at most 100 characters".into(),
            ));
        }
        Some(n) => n.to_owned(),
        None => default_name(now),
    };
    let secret = new_token();
    let token = store
        .create_token(
            &NewToken {
                user_id: user.id,
                name: &name,
                scopes,
                project_id: project.as_ref().map(|p| p.id),
                prefix: &secret.prefix,
                secret_hash: &secret.hash,
            },
            now,
        )
        .await?;
    Ok(Issued {
        token,
        secret: secret.secret,
    })
}

/// A time as shown in token lists: `2026-11-22 14:05 UTC`.
pub fn format_time(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|d| d.format("%Y-%m-%d %H:%M UTC").to_string())
        .unwrap_or_else(|| ms.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(role: Role) -> User {
        User {
            id: 1,
            name: "u@example.com".into(),
            email: Some("u@example.com".into()),
            role,
            external: false,
            disabled: false,
            created_at: 0,
        }
    }

    const EXPORT: Scopes = Scopes {
        export: true,
        annotate: false,
        import: false,
    };
    const ANNOTATE: Scopes = Scopes {
        export: false,
        annotate: true,
        import: false,
    };
    const IMPORT: Scopes = Scopes {
        export: false,
        annotate: false,
        import: true,
    };

    #[test]
    fn rules() {
        let access = |manages, member| {
            Some(ProjectAccess {
                slug: "p",
                manages,
                member,
            })
        };
        assert!(check(&user(Role::Owner), EXPORT, None).is_ok());
        assert!(check(&user(Role::Admin), EXPORT, access(true, false)).is_ok());
        assert!(
            check(&user(Role::Annotator), EXPORT, None)
                .unwrap_err()
                .contains("only for owners and admins")
        );
        assert!(
            check(&user(Role::Owner), EXPORT, access(false, true))
                .unwrap_err()
                .contains("does not manage project \"p\"")
        );
        // Importing takes the same standing as exporting.
        assert!(check(&user(Role::Owner), IMPORT, None).is_ok());
        assert!(check(&user(Role::Admin), IMPORT, access(true, false)).is_ok());
        assert_eq!(
            check(&user(Role::Annotator), IMPORT, None).unwrap_err(),
            "the import scope is only for owners and admins; u@example.com is an annotator"
        );
        assert_eq!(
            check(&user(Role::Owner), IMPORT, access(false, true)).unwrap_err(),
            "u@example.com does not manage project \"p\": import tokens need its owner or an admin"
        );
        assert!(check(&user(Role::Annotator), ANNOTATE, None).is_ok());
        assert!(check(&user(Role::Annotator), ANNOTATE, access(false, true)).is_ok());
        assert!(check(&user(Role::Owner), ANNOTATE, access(true, false)).is_ok());
        assert!(
            check(&user(Role::Annotator), ANNOTATE, access(false, false))
                .unwrap_err()
                .contains("not a member of project \"p\"")
        );
        let mut gone = user(Role::Admin);
        gone.disabled = true;
        assert!(
            check(&gone, ANNOTATE, None)
                .unwrap_err()
                .contains("disabled")
        );
        let mut worker = user(Role::Annotator);
        worker.external = true;
        assert!(
            check(&worker, ANNOTATE, None)
                .unwrap_err()
                .contains("external")
        );
    }

    #[test]
    fn default_names_carry_the_date() {
        assert_eq!(default_name(0), "token 1970-01-01");
        assert_eq!(format_time(0), "1970-01-01 00:00 UTC");
    }
}
