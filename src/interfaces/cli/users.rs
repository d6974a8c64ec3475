//! `quorum user`: login accounts, added and listed from the command line.

use std::io::{IsTerminal, Read};

use anyhow::{Context, Result, bail};
use clap::Subcommand;

use crate::store::{NewUser, Role, Store};

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Add a login user. The password is read from standard input, or prompted for on a terminal.
    Add {
        #[arg(long)]
        email: String,
        #[arg(long, value_parser = ["admin", "owner", "annotator"])]
        role: String,
    },
    /// List users.
    List,
}

pub(super) async fn run(store: &Store, command: UserCommand) -> Result<()> {
    match command {
        UserCommand::Add { email, role } => add(store, &email, &role).await,
        UserCommand::List => {
            for u in store.list_users().await? {
                println!(
                    "{:<6} {:<10} {}{}{}",
                    u.id,
                    u.role.as_str(),
                    u.name,
                    if u.external { " (external)" } else { "" },
                    if u.disabled { " (disabled)" } else { "" }
                );
            }
            Ok(())
        }
    }
}

async fn add(store: &Store, email: &str, role: &str) -> Result<()> {
    let email = email.trim().to_lowercase();
    if !email.contains('@') || email.len() > 320 {
        bail!("--email {email:?} is not an email address");
    }
    let role = Role::parse(role).context("unknown role")?;
    let password = read_password()?;
    if password.chars().count() < 8 {
        bail!("the password must be at least 8 characters long");
    }
    let hash = tokio::task::spawn_blocking(move || crate::auth::hash_password(&password))
        .await
        .context("hashing the password")??;
    let user = store
        .create_user(&NewUser {
            email,
            role,
            password_hash: hash,
        })
        .await?;
    println!(
        "added {} {} (id {})",
        user.role.as_str(),
        user.name,
        user.id
    );
    Ok(())
}

/// A password from a no-echo prompt on a terminal, else the first line of standard input.
fn read_password() -> Result<String> {
    if std::io::stdin().is_terminal() {
        let first = rpassword::prompt_password("Password: ").context("reading the password")?;
        let again =
            rpassword::prompt_password("Repeat password: ").context("reading the password")?;
        if first != again {
            bail!("the passwords do not match");
        }
        Ok(first)
    } else {
        let mut input = String::new();
        std::io::stdin()
            .take(4096)
            .read_to_string(&mut input)
            .context("reading the password from standard input")?;
        Ok(input.lines().next().unwrap_or("").to_owned())
    }
}
