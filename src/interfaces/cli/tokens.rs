//! `quorum token`: API tokens created (the secret shown once), listed and revoked.

use anyhow::Result;
use clap::Subcommand;

use crate::store::Store;

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Create a token and print its secret once on standard output. Only its SHA-256 hash is
    /// stored: the secret cannot be shown again.
    Create {
        /// Email of the token's user (a login user who is not disabled).
        #[arg(long, value_name = "EMAIL")]
        user: String,
        /// `export` (read a project's data; owners and admins), `import` (add items to projects
        /// the user manages; owners and admins), `annotate` (label as the user), or several:
        /// `export,import` or the flag repeated.
        #[arg(long = "scope", value_name = "SCOPES", required = true)]
        scopes: Vec<String>,
        /// Limit the token to this project (the user must manage it for `export` and `import`,
        /// be a member, its owner or an admin for `annotate`).
        #[arg(long, value_name = "SLUG")]
        project: Option<String>,
        /// A name to recognise the token by [default: "token YYYY-MM-DD"].
        #[arg(long)]
        name: Option<String>,
    },
    /// List tokens (never their secrets): id, user, name, prefix, scopes, project, created,
    /// last used, status.
    List {
        /// Only this user's tokens.
        #[arg(long, value_name = "EMAIL")]
        user: Option<String>,
    },
    /// Revoke a token: it stops working at once.
    Revoke { id: i64 },
}

pub(super) async fn run(store: &Store, command: TokenCommand) -> Result<()> {
    use crate::interfaces::tokens;
    let now = crate::store::now_ms();
    match command {
        TokenCommand::Create {
            user,
            scopes,
            project,
            name,
        } => {
            let scopes = crate::store::Scopes::parse(&scopes.join(","))
                .map_err(|e| anyhow::anyhow!("--scope: {e}"))?;
            let user = tokens::user_by_email(store, &user).await?;
            let issued = tokens::issue(
                store,
                &user,
                scopes,
                project.as_deref(),
                name.as_deref(),
                now,
            )
            .await?;
            let t = &issued.token;
            eprintln!(
                "created token {} {:?} for {} (scopes {}, {}); it is shown only this once: store it now",
                t.id,
                t.name,
                user.name,
                t.scopes.as_string(),
                match &project {
                    Some(slug) => format!("project {}", slug.trim()),
                    None => "all projects".into(),
                }
            );
            println!("{}", issued.secret);
            Ok(())
        }
        TokenCommand::List { user } => {
            let filter = match user {
                Some(email) => Some(tokens::user_by_email(store, &email).await?),
                None => None,
            };
            let list = store.list_tokens(filter.as_ref().map(|u| u.id)).await?;
            if list.is_empty() {
                println!(
                    "no tokens yet: create one with `quorum token create --user EMAIL --scope SCOPES`"
                );
                return Ok(());
            }
            let users: std::collections::HashMap<i64, String> = store
                .list_users()
                .await?
                .into_iter()
                .map(|u| (u.id, u.name))
                .collect();
            let projects: std::collections::HashMap<i64, String> = store
                .list_projects()
                .await?
                .into_iter()
                .map(|p| (p.id, p.config.slug))
                .collect();
            println!(
                "{:<5} {:<24} {:<20} {:<15} {:<22} {:<20} {:<20} {:<20} STATUS",
                "ID", "USER", "NAME", "PREFIX", "SCOPES", "PROJECT", "CREATED", "LAST USED"
            );
            for t in list {
                println!(
                    "{:<5} {:<24} {:<20} {:<15} {:<22} {:<20} {:<20} {:<20} {}",
                    t.id,
                    users.get(&t.user_id).map_or("?", String::as_str),
                    t.name,
                    format!("{}…", t.prefix),
                    t.scopes.as_string(),
                    match t.project_id {
                        Some(id) => projects.get(&id).map_or("?", String::as_str),
                        None => "all projects",
                    },
                    tokens::format_time(t.created_at),
                    t.last_used_at
                        .map_or_else(|| "never".into(), tokens::format_time),
                    match t.revoked_at {
                        Some(at) => format!("revoked {}", tokens::format_time(at)),
                        None => "active".into(),
                    }
                );
            }
            Ok(())
        }
        TokenCommand::Revoke { id } => {
            store.revoke_token(id, None, now).await?;
            println!("revoked token {id}");
            Ok(())
        }
    }
}
