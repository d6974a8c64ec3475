//! Sessions that end: logout kills the session even for a replayed cookie; a password reset,
//! a disabled account or a role change ends the user's sessions on every instance at their
//! next request; idle timeout and absolute lifetime hold; the labeling path writes a session
//! row at most once a minute. Each test on both backends; "instances" are several apps with
//! one session key over one database, as behind a load balancer.

#[macro_use]
mod common;

use std::time::Duration;

use actix_web::cookie::Key;
use common::TestDb;
use common::browser::{self, user};
use quorum::auth::SessionPolicy;
use quorum::store::{Role, Store};

const MIN: i64 = 60_000;

/// Idle 30 minutes, lifetime 2 hours: short enough to tell apart in the tests below.
fn policy() -> SessionPolicy {
    SessionPolicy {
        idle_timeout: Duration::from_secs(30 * 60),
        lifetime: Duration::from_secs(120 * 60),
    }
}

/// Moves every session of `user_id` `by_ms` into the past: its login, its last request, or both.
async fn age_sessions(store: &Store, user_id: i64, column: &str, by_ms: i64) {
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "UPDATE sessions SET {column} = {column} - $1 WHERE user_id = $2"
    )))
    .bind(by_ms)
    .bind(user_id)
    .execute(store.pool())
    .await
    .unwrap();
}

async fn last_seen(store: &Store, user_id: i64) -> Vec<i64> {
    sqlx::query_scalar("SELECT last_seen_at FROM sessions WHERE user_id = $1 ORDER BY last_seen_at")
        .bind(user_id)
        .fetch_all(store.pool())
        .await
        .unwrap()
}

/// Whether the user's (one) session records a request at or after `t`, waiting up to two
/// seconds: activity is written in the background, right after the request.
async fn touched_since(store: &Store, user_id: i64, t: i64) -> bool {
    for _ in 0..100 {
        if last_seen(store, user_id)
            .await
            .first()
            .is_some_and(|&seen| seen >= t)
        {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    false
}

/// The home page answers 200 when logged in, and sends anyone else to the login page.
fn logged_in(page: &browser::Page) -> bool {
    match page.status {
        200 => true,
        303 if page.location.as_deref() == Some("/login") => false,
        other => panic!("unexpected answer {other} ({:?})", page.location),
    }
}

async fn logout_ends_the_session_even_when_its_cookie_is_replayed(db: TestDb) {
    let backend = db.backend();
    let id = user(&db.store, "a@example.com", Role::Annotator).await;
    let mut b = browser!(db.store);
    assert_eq!(b.login("a@example.com", "password1").await.status, 303);
    let home = b.get("/").await;
    assert!(logged_in(&home), "{backend}");
    assert_eq!(db.store.session_count(id).await.unwrap(), 1, "{backend}");
    let saved = b.cookies.clone();

    let out = b.post("/logout", &[("csrf", &home.csrf())]).await;
    assert_eq!(out.location.as_deref(), Some("/login"), "{backend}");
    assert!(!logged_in(&b.get("/").await), "{backend}: logged out");
    assert_eq!(db.store.session_count(id).await.unwrap(), 0, "{backend}");

    // The cookie copied before logging out is worth nothing now.
    b.cookies = saved;
    assert!(
        !logged_in(&b.get("/").await),
        "{backend}: replayed cookie refused"
    );
    assert!(
        !logged_in(&b.get("/p/anything/label").await),
        "{backend}: on every route"
    );
    db.finish().await;
}
on_both_backends!(
    #[actix_web::test]
    logout_ends_the_session_even_when_its_cookie_is_replayed
);

async fn a_session_made_on_one_instance_is_valid_on_another(db: TestDb) {
    let backend = db.backend();
    user(&db.store, "a@example.com", Role::Annotator).await;
    let key = Key::generate();
    let mut one = browser::new(test_app!(db.store, false, policy(), key.clone()));
    let mut other = browser::new(test_app!(db.store, false, policy(), key.clone()));
    one.login("a@example.com", "password1").await;
    other.cookies = one.cookies.clone();
    assert!(logged_in(&other.get("/").await), "{backend}");
    // Logging out on the second instance ends the session on the first.
    let home = other.get("/").await;
    other.post("/logout", &[("csrf", &home.csrf())]).await;
    assert!(!logged_in(&one.get("/").await), "{backend}");
    db.finish().await;
}
on_both_backends!(
    #[actix_web::test]
    a_session_made_on_one_instance_is_valid_on_another
);

async fn a_password_reset_ends_the_users_sessions_on_every_instance(db: TestDb) {
    let backend = db.backend();
    let admin = user(&db.store, "admin@example.com", Role::Admin).await;
    let ann = user(&db.store, "a@example.com", Role::Annotator).await;
    let key = Key::generate();
    let instance = async || test_app!(db.store, false, policy(), key.clone());
    let mut ann_on_one = browser::new(instance().await);
    let mut ann_on_two = browser::new(instance().await);
    let mut admin_here = browser::new(instance().await);
    let mut admin_elsewhere = browser::new(instance().await);
    ann_on_one.login("a@example.com", "password1").await;
    ann_on_two.login("a@example.com", "password1").await;
    admin_here.login("admin@example.com", "password1").await;
    admin_elsewhere
        .login("admin@example.com", "password1")
        .await;
    assert_eq!(db.store.session_count(ann).await.unwrap(), 2, "{backend}");

    let users = admin_here.get("/admin/users").await;
    let reset = admin_here
        .post(
            &format!("/admin/users/{ann}/password"),
            &[("csrf", &users.csrf()), ("password", "a-new-password")],
        )
        .await;
    assert_eq!(reset.status, 303, "{backend}");
    let flash = admin_here.get("/admin/users").await;
    assert!(flash.body.contains("2 sessions ended"), "{backend}");
    assert!(!logged_in(&ann_on_one.get("/").await), "{backend}");
    assert!(!logged_in(&ann_on_two.get("/").await), "{backend}");
    assert_eq!(
        ann_on_one.login("a@example.com", "password1").await.status,
        401,
        "{backend}: the old password is gone"
    );
    assert_eq!(
        ann_on_one
            .login("a@example.com", "a-new-password")
            .await
            .status,
        303,
        "{backend}"
    );

    // An admin resetting their own password stays logged in where they did it, only there.
    let users = admin_here.get("/admin/users").await;
    admin_here
        .post(
            &format!("/admin/users/{admin}/password"),
            &[("csrf", &users.csrf()), ("password", "another-password")],
        )
        .await;
    assert!(logged_in(&admin_here.get("/").await), "{backend}");
    assert!(!logged_in(&admin_elsewhere.get("/").await), "{backend}");
    assert_eq!(db.store.session_count(admin).await.unwrap(), 1, "{backend}");
    db.finish().await;
}
on_both_backends!(
    #[actix_web::test]
    a_password_reset_ends_the_users_sessions_on_every_instance
);

async fn disabling_ends_sessions_and_enabling_revives_none(db: TestDb) {
    let backend = db.backend();
    user(&db.store, "admin@example.com", Role::Admin).await;
    let ann = user(&db.store, "a@example.com", Role::Annotator).await;
    let key = Key::generate();
    let mut admin = browser::new(test_app!(db.store, false, policy(), key.clone()));
    let mut annotator = browser::new(test_app!(db.store, false, policy(), key.clone()));
    admin.login("admin@example.com", "password1").await;
    annotator.login("a@example.com", "password1").await;
    let saved = annotator.cookies.clone();

    let csrf = admin.get("/admin/users").await.csrf();
    admin
        .post(
            &format!("/admin/users/{ann}/disabled"),
            &[("csrf", &csrf), ("disabled", "true")],
        )
        .await;
    assert!(!logged_in(&annotator.get("/").await), "{backend}");
    assert_eq!(
        annotator.login("a@example.com", "password1").await.status,
        401,
        "{backend}: a disabled account cannot log in"
    );
    admin
        .post(
            &format!("/admin/users/{ann}/disabled"),
            &[("csrf", &csrf), ("disabled", "false")],
        )
        .await;
    annotator.cookies = saved;
    assert!(
        !logged_in(&annotator.get("/").await),
        "{backend}: re-enabling the account does not revive its old session"
    );
    assert_eq!(
        annotator.login("a@example.com", "password1").await.status,
        303,
        "{backend}"
    );
    db.finish().await;
}
on_both_backends!(
    #[actix_web::test]
    disabling_ends_sessions_and_enabling_revives_none
);

async fn a_role_change_ends_sessions_and_the_new_role_applies(db: TestDb) {
    let backend = db.backend();
    let admin = user(&db.store, "admin@example.com", Role::Admin).await;
    let owner = user(&db.store, "o@example.com", Role::Owner).await;
    let key = Key::generate();
    let mut admin_b = browser::new(test_app!(db.store, false, policy(), key.clone()));
    let mut owner_b = browser::new(test_app!(db.store, false, policy(), key.clone()));
    admin_b.login("admin@example.com", "password1").await;
    owner_b.login("o@example.com", "password1").await;
    assert_eq!(owner_b.get("/o").await.status, 200, "{backend}");

    let users = admin_b.get("/admin/users").await;
    assert!(
        users
            .body
            .contains(&format!("action=\"/admin/users/{owner}/role\"")),
        "{backend}: the users page offers the change"
    );
    let changed = admin_b
        .post(
            &format!("/admin/users/{owner}/role"),
            &[("csrf", &users.csrf()), ("role", "annotator")],
        )
        .await;
    assert_eq!(changed.status, 303, "{backend}");
    assert!(
        admin_b
            .get("/admin/users")
            .await
            .body
            .contains("Role changed to annotator. 1 session ended."),
        "{backend}"
    );
    assert!(!logged_in(&owner_b.get("/").await), "{backend}");
    owner_b.login("o@example.com", "password1").await;
    assert_eq!(
        owner_b.get("/o").await.status,
        403,
        "{backend}: an annotator now"
    );

    // Nobody changes their own role (an admin could lock every admin out), and a forged or
    // missing token changes nothing.
    let csrf = admin_b.get("/admin/users").await.csrf();
    let own = admin_b
        .post(
            &format!("/admin/users/{admin}/role"),
            &[("csrf", &csrf), ("role", "annotator")],
        )
        .await;
    assert_eq!(own.status, 400, "{backend}");
    let forged = admin_b
        .post(
            &format!("/admin/users/{owner}/role"),
            &[("csrf", "forged"), ("role", "admin")],
        )
        .await;
    assert_eq!(forged.status, 403, "{backend}");
    let unknown = admin_b
        .post(
            &format!("/admin/users/{owner}/role"),
            &[("csrf", &csrf), ("role", "root")],
        )
        .await;
    assert_eq!(unknown.status, 400, "{backend}");
    let owner_csrf = owner_b.get("/").await.csrf();
    let by_owner = owner_b
        .post(
            &format!("/admin/users/{owner}/role"),
            &[("csrf", &owner_csrf), ("role", "admin")],
        )
        .await;
    assert_eq!(by_owner.status, 403, "{backend}: admins only");
    let roles: Vec<String> = sqlx::query_scalar("SELECT role FROM users ORDER BY id")
        .fetch_all(db.store.pool())
        .await
        .unwrap();
    assert_eq!(roles, ["admin", "annotator"], "{backend}");
    db.finish().await;
}
on_both_backends!(
    #[actix_web::test]
    a_role_change_ends_sessions_and_the_new_role_applies
);

async fn sessions_end_when_idle_or_too_old(db: TestDb) {
    let backend = db.backend();
    let id = user(&db.store, "a@example.com", Role::Annotator).await;
    let mut b = browser::new(test_app!(db.store, false, policy()));

    // Idle for 29 minutes: still in; the request records activity.
    b.login("a@example.com", "password1").await;
    age_sessions(&db.store, id, "last_seen_at", 29 * MIN).await;
    let before = quorum::store::now_ms();
    assert!(logged_in(&b.get("/").await), "{backend}");
    assert!(touched_since(&db.store, id, before).await, "{backend}");
    // Idle for 31 minutes: out, and the row is gone.
    age_sessions(&db.store, id, "last_seen_at", 31 * MIN).await;
    assert!(!logged_in(&b.get("/").await), "{backend}: idle timeout");
    assert_eq!(db.store.session_count(id).await.unwrap(), 0, "{backend}");

    // Active all along but logged in 2 hours ago: out.
    b.login("a@example.com", "password1").await;
    age_sessions(&db.store, id, "created_at", 119 * MIN).await;
    assert!(logged_in(&b.get("/").await), "{backend}");
    age_sessions(&db.store, id, "created_at", MIN).await;
    assert!(
        !logged_in(&b.get("/").await),
        "{backend}: absolute lifetime"
    );
    assert_eq!(db.store.session_count(id).await.unwrap(), 0, "{backend}");
    db.finish().await;
}
on_both_backends!(
    #[actix_web::test]
    sessions_end_when_idle_or_too_old
);

async fn activity_is_recorded_at_most_once_a_minute(db: TestDb) {
    let backend = db.backend();
    let id = user(&db.store, "a@example.com", Role::Annotator).await;
    let mut b = browser::new(test_app!(db.store, false, policy()));
    b.login("a@example.com", "password1").await;
    let at_login = last_seen(&db.store, id).await;
    for _ in 0..5 {
        assert!(logged_in(&b.get("/").await), "{backend}");
    }
    assert_eq!(
        last_seen(&db.store, id).await,
        at_login,
        "{backend}: requests within a minute write nothing"
    );
    age_sessions(&db.store, id, "last_seen_at", 2 * MIN).await;
    let before = quorum::store::now_ms();
    assert!(logged_in(&b.get("/").await), "{backend}");
    assert!(
        touched_since(&db.store, id, before).await,
        "{backend}: refreshed after a minute"
    );
    db.finish().await;
}
on_both_backends!(
    #[actix_web::test]
    activity_is_recorded_at_most_once_a_minute
);

async fn expired_sessions_are_swept_and_other_users_keep_theirs(db: TestDb) {
    let backend = db.backend();
    let a = user(&db.store, "a@example.com", Role::Annotator).await;
    let b_id = user(&db.store, "b@example.com", Role::Annotator).await;
    let mut a_old = browser::new(test_app!(db.store, false, policy()));
    a_old.login("a@example.com", "password1").await;
    age_sessions(&db.store, a, "last_seen_at", 31 * MIN).await;
    let mut b = browser::new(test_app!(db.store, false, policy()));
    b.login("b@example.com", "password1").await;
    assert_eq!(
        db.store.session_count(a).await.unwrap(),
        0,
        "{backend}: an idle session is removed by the next login"
    );
    // Ending one user's sessions leaves everyone else's alone.
    let mut a_new = browser::new(test_app!(db.store, false, policy()));
    a_new.login("a@example.com", "password1").await;
    assert_eq!(
        db.store.end_sessions_of(a, None).await.unwrap(),
        1,
        "{backend}"
    );
    assert!(!logged_in(&a_new.get("/").await), "{backend}");
    assert!(logged_in(&b.get("/").await), "{backend}");
    assert_eq!(db.store.session_count(b_id).await.unwrap(), 1, "{backend}");
    db.finish().await;
}
on_both_backends!(
    #[actix_web::test]
    expired_sessions_are_swept_and_other_users_keep_theirs
);

async fn the_database_keeps_only_a_hash_of_the_session_id(db: TestDb) {
    let backend = db.backend();
    user(&db.store, "a@example.com", Role::Annotator).await;
    let mut b = browser!(db.store);
    b.login("a@example.com", "password1").await;
    let stored: Vec<String> = sqlx::query_scalar("SELECT id_hash FROM sessions")
        .fetch_all(db.store.pool())
        .await
        .unwrap();
    assert_eq!(stored.len(), 1, "{backend}");
    assert_eq!(stored[0].len(), 64, "{backend}: hex SHA-256");
    let cookie = b.cookies.get("quorum_session").expect("a session cookie");
    assert!(
        !cookie.contains(&stored[0]),
        "{backend}: the cookie is encrypted and holds no stored value"
    );
    db.finish().await;
}
on_both_backends!(
    #[actix_web::test]
    the_database_keeps_only_a_hash_of_the_session_id
);
