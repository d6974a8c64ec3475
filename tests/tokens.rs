//! API tokens in the store and the rules that decide who may hold which, on both backends:
//! creation, listing, revocation, authentication by hash, when the last use is recorded, and how
//! scopes are stored.

#[macro_use]
mod common;

use common::{LEAGUES, TestDb};
use quorum::auth::{new_token, token_hash};
use quorum::interfaces::tokens::{self, TokenError};
use quorum::store::{ApiToken, NewToken, Role, Scopes, Store, StoreError};

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
const BOTH: Scopes = Scopes {
    export: true,
    annotate: true,
    import: false,
};
const IMPORT: Scopes = Scopes {
    export: false,
    annotate: false,
    import: true,
};
const ALL: Scopes = Scopes {
    export: true,
    annotate: true,
    import: true,
};

async fn user(store: &Store, email: &str, role: Role) -> quorum::store::User {
    store
        .create_user(&quorum::store::NewUser {
            email: email.into(),
            role,
            // Never checked here: tokens do not involve the password.
            password_hash: "not-a-hash".into(),
        })
        .await
        .unwrap()
}

/// Stores a token directly, returning it with its secret.
async fn token(
    store: &Store,
    user_id: i64,
    name: &str,
    scopes: Scopes,
    project_id: Option<i64>,
    now: i64,
) -> (ApiToken, String) {
    let secret = new_token();
    let t = store
        .create_token(
            &NewToken {
                user_id,
                name,
                scopes,
                project_id,
                prefix: &secret.prefix,
                secret_hash: &secret.hash,
            },
            now,
        )
        .await
        .unwrap();
    (t, secret.secret)
}

async fn tokens_are_created_listed_newest_first_and_revoked_by_their_user_only(db: TestDb) {
    let backend = db.backend();
    let s = &db.store;
    let alice = user(s, "alice@example.com", Role::Owner).await;
    let bob = user(s, "bob@example.com", Role::Annotator).await;
    let project = db.project(LEAGUES).await;

    let (first, secret) = token(s, alice.id, "  nightly  ", EXPORT, None, 1_000).await;
    assert_eq!(first.name, "nightly", "{backend}: names are trimmed");
    assert_eq!(first.scopes, EXPORT);
    assert_eq!(
        (first.created_at, first.last_used_at, first.revoked_at),
        (1_000, None, None)
    );
    assert!(secret.starts_with(&first.prefix) && first.prefix.starts_with("qrm_"));
    let (second, _) = token(s, alice.id, "both", BOTH, Some(project.id), 2_000).await;
    assert_eq!(second.project_id, Some(project.id));
    assert_eq!(second.scopes, BOTH);
    let (bobs, _) = token(s, bob.id, "bob's", ANNOTATE, None, 3_000).await;

    let mine: Vec<i64> = s
        .list_tokens(Some(alice.id))
        .await
        .unwrap()
        .iter()
        .map(|t| t.id)
        .collect();
    assert_eq!(mine, vec![second.id, first.id], "{backend}: newest first");
    let all: Vec<i64> = s
        .list_tokens(None)
        .await
        .unwrap()
        .iter()
        .map(|t| t.id)
        .collect();
    assert_eq!(all, vec![bobs.id, second.id, first.id], "{backend}");

    let empty = s
        .create_token(
            &NewToken {
                user_id: alice.id,
                name: "   ",
                scopes: EXPORT,
                project_id: None,
                prefix: "qrm_x",
                secret_hash: "x",
            },
            0,
        )
        .await;
    assert!(matches!(empty, Err(StoreError::Invalid(_))), "{backend}");

    // Bob cannot revoke Alice's token; Alice can, and again is harmless.
    let other = s.revoke_token(first.id, Some(bob.id), 5_000).await;
    assert!(
        matches!(other, Err(StoreError::NotFound { .. })),
        "{backend}: {other:?}"
    );
    assert_eq!(
        s.list_tokens(Some(alice.id)).await.unwrap()[1].revoked_at,
        None
    );
    s.revoke_token(first.id, Some(alice.id), 5_000)
        .await
        .unwrap();
    s.revoke_token(first.id, Some(alice.id), 6_000)
        .await
        .unwrap();
    let listed = s.list_tokens(Some(alice.id)).await.unwrap();
    assert_eq!(
        listed[1].revoked_at,
        Some(5_000),
        "{backend}: first revocation kept"
    );
    assert_eq!(
        listed[0].revoked_at, None,
        "{backend}: the other token lives"
    );
    // Without a user (the CLI), any token; an unknown id is not found.
    s.revoke_token(bobs.id, None, 7_000).await.unwrap();
    assert!(matches!(
        s.revoke_token(9_999, None, 7_000).await,
        Err(StoreError::NotFound { .. })
    ));
    db.finish().await;
}
on_both_backends!(
    #[tokio::test]
    tokens_are_created_listed_newest_first_and_revoked_by_their_user_only
);

async fn tokens_authenticate_by_hash_until_revoked_or_their_user_is_disabled(db: TestDb) {
    let backend = db.backend();
    let s = &db.store;
    let alice = user(s, "alice@example.com", Role::Owner).await;
    let (t, secret) = token(s, alice.id, "ci", EXPORT, None, 1_000).await;

    assert!(
        s.authenticate_token(&token_hash("qrm_unknown"), 2_000)
            .await
            .unwrap()
            .is_none(),
        "{backend}: unknown token"
    );
    assert!(
        s.authenticate_token(&secret, 2_000)
            .await
            .unwrap()
            .is_none(),
        "{backend}: the secret itself is not what is stored"
    );
    let (found, who) = s
        .authenticate_token(&token_hash(&secret), 2_000)
        .await
        .unwrap()
        .expect("live token");
    assert_eq!((found.id, who.id), (t.id, alice.id), "{backend}");

    s.set_disabled(alice.id, true).await.unwrap();
    assert!(
        s.authenticate_token(&token_hash(&secret), 3_000)
            .await
            .unwrap()
            .is_none(),
        "{backend}: disabled user"
    );
    s.set_disabled(alice.id, false).await.unwrap();
    assert!(
        s.authenticate_token(&token_hash(&secret), 3_000)
            .await
            .unwrap()
            .is_some(),
        "{backend}: enabled again"
    );

    s.revoke_token(t.id, None, 4_000).await.unwrap();
    assert!(
        s.authenticate_token(&token_hash(&secret), 5_000)
            .await
            .unwrap()
            .is_none(),
        "{backend}: revoked"
    );
    db.finish().await;
}
on_both_backends!(
    #[tokio::test]
    tokens_authenticate_by_hash_until_revoked_or_their_user_is_disabled
);

async fn last_use_is_recorded_then_refreshed_at_most_once_a_minute(db: TestDb) {
    let backend = db.backend();
    let s = &db.store;
    let alice = user(s, "alice@example.com", Role::Annotator).await;
    let (t, secret) = token(s, alice.id, "worker", ANNOTATE, None, 0).await;
    let hash = token_hash(&secret);
    let last_used = || async { s.list_tokens(Some(alice.id)).await.unwrap()[0].last_used_at };
    assert_eq!(last_used().await, None, "{backend}: never used");

    let start = 1_000_000;
    s.authenticate_token(&hash, start).await.unwrap().unwrap();
    assert_eq!(last_used().await, Some(start), "{backend}: first use");
    s.authenticate_token(&hash, start + 59_999)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        last_used().await,
        Some(start),
        "{backend}: not refreshed within a minute"
    );
    s.authenticate_token(&hash, start + 60_000)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        last_used().await,
        Some(start + 60_000),
        "{backend}: refreshed after a minute"
    );
    assert_eq!(t.last_used_at, None);
    db.finish().await;
}
on_both_backends!(
    #[tokio::test]
    last_use_is_recorded_then_refreshed_at_most_once_a_minute
);

fn refused(result: Result<tokens::Issued, TokenError>) -> String {
    match result {
        Err(TokenError::Refused(message)) => message,
        Err(TokenError::Store(e)) => panic!("store error: {e:?}"),
        Ok(issued) => panic!("created token {:?}", issued.token),
    }
}

async fn the_shared_rules_decide_who_may_hold_which_token(db: TestDb) {
    let backend = db.backend();
    let s = &db.store;
    let owner = user(s, "owner@example.com", Role::Owner).await;
    let other_owner = user(s, "other@example.com", Role::Owner).await;
    let admin = user(s, "admin@example.com", Role::Admin).await;
    let annotator = user(s, "ann@example.com", Role::Annotator).await;
    let config = quorum::domain::ProjectConfig::from_toml(LEAGUES).unwrap();
    let leagues = s.create_project(&config, Some(owner.id)).await.unwrap();
    let other_config = quorum::domain::ProjectConfig::from_toml(
        &LEAGUES.replace("slug = \"leagues\"", "slug = \"others\""),
    )
    .unwrap();
    s.create_project(&other_config, Some(other_owner.id))
        .await
        .unwrap();
    s.add_member(leagues.id, annotator.id).await.unwrap();
    let now = 1_764_000_000_000; // 2025-11-24

    // Owners export their own projects; admins every project.
    let issued = tokens::issue(s, &owner, EXPORT, Some("leagues"), None, now)
        .await
        .unwrap();
    assert_eq!(
        issued.token.name, "token 2025-11-24",
        "{backend}: default name"
    );
    assert_eq!(issued.token.project_id, Some(leagues.id));
    assert!(issued.secret.starts_with("qrm_"));
    assert_eq!(
        s.authenticate_token(&token_hash(&issued.secret), now)
            .await
            .unwrap()
            .map(|(t, _)| t.id),
        Some(issued.token.id)
    );
    let message = refused(tokens::issue(s, &owner, EXPORT, Some("others"), None, now).await);
    assert!(
        message.contains("owner@example.com does not manage project \"others\""),
        "{backend}: {message}"
    );
    tokens::issue(s, &admin, BOTH, Some("others"), Some("admin"), now)
        .await
        .unwrap();

    // Annotators: annotate only, in projects they are members of.
    let message = refused(tokens::issue(s, &annotator, EXPORT, None, None, now).await);
    assert!(
        message.contains("export scope is only for owners and admins"),
        "{backend}: {message}"
    );
    tokens::issue(s, &annotator, ANNOTATE, Some("leagues"), None, now)
        .await
        .unwrap();
    tokens::issue(s, &annotator, ANNOTATE, None, None, now)
        .await
        .unwrap();
    let message = refused(tokens::issue(s, &annotator, ANNOTATE, Some("others"), None, now).await);
    assert!(
        message.contains("ann@example.com is not a member of project \"others\""),
        "{backend}: {message}"
    );
    let message = refused(tokens::issue(s, &owner, ANNOTATE, Some("nope"), None, now).await);
    assert_eq!(message, "no project \"nope\"", "{backend}");

    // The user must exist, log in and be enabled.
    match tokens::user_by_email(s, "Ghost@Example.com").await {
        Err(TokenError::Refused(m)) => {
            assert_eq!(m, "no user named ghost@example.com", "{backend}")
        }
        other => panic!("{backend}: {:?}", other.map(|u| u.id)),
    }
    db.import_judgments(&leagues, "item_id,annotator,answer\n1,worker7,nba\n")
        .await
        .unwrap();
    let worker = tokens::user_by_email(s, "worker7").await.unwrap();
    let message = refused(tokens::issue(s, &worker, ANNOTATE, None, None, now).await);
    assert!(
        message.contains("worker7 is an external annotator"),
        "{backend}: {message}"
    );
    assert_eq!(
        tokens::user_by_email(s, " Owner@Example.com ")
            .await
            .unwrap()
            .id,
        owner.id
    );
    s.set_disabled(annotator.id, true).await.unwrap();
    let disabled = s.user_by_id(annotator.id).await.unwrap().unwrap();
    let message = refused(tokens::issue(s, &disabled, ANNOTATE, None, None, now).await);
    assert!(message.contains("is disabled"), "{backend}: {message}");
    let message =
        refused(tokens::issue(s, &owner, EXPORT, None, Some(&"x".repeat(101)), now).await);
    assert!(
        message.contains("at most 100 characters"),
        "{backend}: {message}"
    );

    let count = s.list_tokens(None).await.unwrap().len();
    assert_eq!(count, 4, "{backend}: refusals create nothing");
    db.finish().await;
}
on_both_backends!(
    #[tokio::test]
    the_shared_rules_decide_who_may_hold_which_token
);

#[test]
fn scopes_parse_as_stored_and_name_every_scope_when_refusing() {
    // Texts stored before `import` existed read as they did.
    assert_eq!(Scopes::parse("export"), Ok(EXPORT));
    assert_eq!(Scopes::parse("annotate"), Ok(ANNOTATE));
    assert_eq!(Scopes::parse("export,annotate"), Ok(BOTH));
    assert_eq!(Scopes::parse("import"), Ok(IMPORT));
    assert_eq!(Scopes::parse(" import , export,annotate,"), Ok(ALL));
    for scopes in [EXPORT, ANNOTATE, BOTH, IMPORT, ALL] {
        assert_eq!(Scopes::parse(&scopes.as_string()), Ok(scopes));
    }
    assert_eq!(BOTH.as_string(), "export,annotate", "old texts unchanged");
    assert_eq!(ALL.as_string(), "export,annotate,import");
    assert_eq!(
        Scopes::parse("export,write"),
        Err("unknown scope \"write\"; scopes are export, annotate and import".into())
    );
    assert_eq!(
        Scopes::parse(" , "),
        Err("a token needs at least one scope: export, annotate, import".into())
    );
}

async fn import_tokens_need_the_standing_of_export_tokens(db: TestDb) {
    let backend = db.backend();
    let s = &db.store;
    let owner = user(s, "owner@example.com", Role::Owner).await;
    let other_owner = user(s, "other@example.com", Role::Owner).await;
    let admin = user(s, "admin@example.com", Role::Admin).await;
    let annotator = user(s, "ann@example.com", Role::Annotator).await;
    let config = quorum::domain::ProjectConfig::from_toml(LEAGUES).unwrap();
    let leagues = s.create_project(&config, Some(owner.id)).await.unwrap();
    s.add_member(leagues.id, annotator.id).await.unwrap();
    s.add_member(leagues.id, other_owner.id).await.unwrap();
    let now = 1_764_000_000_000;

    let issued = tokens::issue(s, &owner, IMPORT, Some("leagues"), None, now)
        .await
        .unwrap();
    assert_eq!(issued.token.scopes, IMPORT, "{backend}");
    let (stored, _) = s
        .authenticate_token(&token_hash(&issued.secret), now)
        .await
        .unwrap()
        .expect("live token");
    assert_eq!(stored.scopes, IMPORT, "{backend}: stored and read back");
    tokens::issue(s, &owner, IMPORT, None, None, now)
        .await
        .unwrap();
    let all = tokens::issue(s, &admin, ALL, Some("leagues"), None, now)
        .await
        .unwrap();
    assert_eq!(
        s.list_tokens(Some(admin.id)).await.unwrap()[0].scopes,
        ALL,
        "{backend}"
    );
    assert_eq!(all.token.scopes, ALL);

    let message = refused(tokens::issue(s, &annotator, IMPORT, None, None, now).await);
    assert_eq!(
        message, "the import scope is only for owners and admins; ann@example.com is an annotator",
        "{backend}"
    );
    // A member who does not own the project may label it but not add to it.
    let mixed = Scopes {
        import: true,
        ..ANNOTATE
    };
    let message = refused(tokens::issue(s, &other_owner, mixed, Some("leagues"), None, now).await);
    assert_eq!(
        message,
        "other@example.com does not manage project \"leagues\": import tokens need its owner or an admin",
        "{backend}"
    );
    tokens::issue(s, &other_owner, ANNOTATE, Some("leagues"), None, now)
        .await
        .unwrap();

    assert_eq!(
        s.list_tokens(None).await.unwrap().len(),
        4,
        "{backend}: refusals create nothing"
    );
    db.finish().await;
}
on_both_backends!(
    #[tokio::test]
    import_tokens_need_the_standing_of_export_tokens
);
