//! `quorum demo`: a local database with the seed projects, ready to explore. The seed files
//! are compiled in, so the command works from any directory.

use anyhow::{Context, Result};

use crate::domain::ProjectConfig;
use crate::interfaces::formats::{export, import_csv};
use crate::store::{NewUser, NoProgress, Role, Store, StoreError};

/// A seed project: config, items, and optionally a judgments file.
struct Seed {
    config: &'static str,
    items: &'static str,
    judgments: Option<&'static str>,
}

const SEEDS: [Seed; 2] = [
    Seed {
        config: include_str!("../../../seed/athlete-handles.toml"),
        items: include_str!("../../../seed/athlete-handles-items.csv"),
        judgments: Some(include_str!("../../../seed/athlete-handles-mturk.csv")),
    },
    Seed {
        config: include_str!("../../../seed/leagues.toml"),
        items: include_str!("../../../seed/leagues-items.csv"),
        judgments: None,
    },
];

/// The demo accounts' shared password; demo mode only.
const DEMO_PASSWORD: &str = "demo";

/// Loads the seed projects and demo accounts (skipping any already there) and prints where
/// things stand.
pub async fn run(store: &Store, database: &str) -> Result<()> {
    let hash = tokio::task::spawn_blocking(|| crate::auth::hash_password(DEMO_PASSWORD))
        .await
        .context("hashing the demo password")??;
    let mut accounts = vec![("owner@example.com".to_owned(), Role::Owner)];
    accounts.extend((1..=9).map(|n| (format!("annotator{n}@example.com"), Role::Annotator)));
    let mut annotators = Vec::new();
    let mut owner = None;
    for (email, role) in accounts {
        let user = match store.user_by_name(&email).await? {
            Some(u) => u,
            None => {
                store
                    .create_user(&NewUser {
                        email,
                        role,
                        password_hash: hash.clone(),
                    })
                    .await?
            }
        };
        if role == Role::Annotator {
            annotators.push(user.id);
        } else {
            owner = Some(user.id);
        }
    }
    for seed in &SEEDS {
        let config = ProjectConfig::from_toml(seed.config).context("seed config")?;
        let project = match store.create_project(&config, owner).await {
            Ok(p) => p,
            Err(StoreError::Conflict(_)) => store.project_by_slug(&config.slug).await?,
            Err(e) => return Err(e.into()),
        };
        let items = import_csv::parse_items("seed items", seed.items.as_bytes())?;
        store
            .import_items(&project, &items.field_names, items.records, &NoProgress)
            .await?;
        if let Some(judgments) = seed.judgments {
            let parsed = import_csv::parse_judgments("seed judgments", judgments.as_bytes(), None)?;
            store
                .import_judgments(&project, &parsed.batch, &NoProgress)
                .await?;
        }
        for id in &annotators {
            store.add_member(project.id, *id).await?;
        }
        let stats = export::project_stats(store, &project).await?;
        println!(
            "{:<16} {}; {} items: {} resolved, {} unresolved, {} pending; {} judgments",
            project.slug(),
            project.rule(),
            stats.items,
            stats.resolved,
            stats.unresolved,
            stats.pending,
            stats.judgments
        );
    }
    println!(
        "\nDemo logins (password \"{DEMO_PASSWORD}\"): owner@example.com, annotator1@example.com … annotator9@example.com"
    );
    println!(
        "\nDemo data is in {db}. Try:\n  \
         quorum --database {db} project show athlete-handles\n  \
         quorum --database {db} export --project athlete-handles --out labels.csv --stats stats.json",
        db = crate::store::redact(database)
    );
    Ok(())
}
