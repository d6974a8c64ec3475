//! The store's settings and the invariants the schema itself enforces, on both backends.

#[macro_use]
mod common;

use common::{TestDb, config};
use sqlx::Row;

/// SQLite's own settings; PostgreSQL has no counterpart to check.
#[tokio::test]
async fn sqlite_runs_in_wal_mode_with_foreign_keys_and_a_busy_timeout() {
    let db = TestDb::sqlite().await;
    let pool = db.store.pool();
    let mode: String = sqlx::query_scalar("PRAGMA journal_mode")
        .fetch_one(pool)
        .await
        .unwrap();
    assert_eq!(mode, "wal");
    let fk: i64 = sqlx::query_scalar("PRAGMA foreign_keys")
        .fetch_one(pool)
        .await
        .unwrap();
    assert_eq!(fk, 1);
    let timeout: i64 = sqlx::query_scalar("PRAGMA busy_timeout")
        .fetch_one(pool)
        .await
        .unwrap();
    assert!(timeout >= 5000, "busy timeout {timeout} ms");
    db.finish().await;
}

async fn the_schema_refuses_what_the_code_must_never_do(db: TestDb) {
    let backend = db.backend();
    let p = db.project(&config(2, 3, "early")).await;
    db.import_judgments(&p, "item_id,annotator,answer\na,w1,x\n")
        .await
        .unwrap();
    let pool = db.store.pool();
    let ids = sqlx::query("SELECT item_id, annotator_id FROM judgments")
        .fetch_one(pool)
        .await
        .unwrap();
    let (item, user): (i64, i64) = (ids.get("item_id"), ids.get("annotator_id"));

    // The same annotator judging the same item twice.
    let twice = sqlx::query(
        "INSERT INTO judgments (project_id, item_id, annotator_id, answer, normalized, source, created_at) \
         VALUES ($1, $2, $3, 'y', 'y', 'import', 0)",
    )
    .bind(p.id)
    .bind(item)
    .bind(user)
    .execute(pool)
    .await;
    assert!(
        twice.is_err(),
        "{backend}: duplicate (item, annotator) accepted"
    );

    // More judgments plus leases than the rule's max.
    let over = sqlx::query("UPDATE items SET lease_count = 3 WHERE id = $1")
        .bind(item)
        .execute(pool)
        .await;
    assert!(over.is_err(), "{backend}: capacity exceeded");

    // A resolved item without a label.
    let unlabelled = sqlx::query("UPDATE items SET status = 'resolved' WHERE id = $1")
        .bind(item)
        .execute(pool)
        .await;
    assert!(unlabelled.is_err(), "{backend}: resolved without a label");

    // A judgment for an item that does not exist.
    let dangling = sqlx::query(
        "INSERT INTO judgments (project_id, item_id, annotator_id, answer, normalized, source, created_at) \
         VALUES ($1, 999999, $2, 'y', 'y', 'import', 0)",
    )
    .bind(p.id)
    .bind(user)
    .execute(pool)
    .await;
    assert!(dangling.is_err(), "{backend}: foreign key not enforced");

    // A rule where two answers could both win.
    let rule = sqlx::query("UPDATE projects SET agree = 1 WHERE id = $1")
        .bind(p.id)
        .execute(pool)
        .await;
    assert!(rule.is_err(), "{backend}: agree <= max/2 accepted");
    db.finish().await;
}
on_both_backends!(
    #[tokio::test]
    the_schema_refuses_what_the_code_must_never_do
);

async fn migrations_are_idempotent(db: TestDb) {
    let backend = db.backend();
    db.store
        .migrate()
        .await
        .unwrap_or_else(|e| panic!("{backend}: {e}"));
    db.store
        .migrate()
        .await
        .unwrap_or_else(|e| panic!("{backend}: {e}"));
    db.finish().await;
}
on_both_backends!(
    #[tokio::test]
    migrations_are_idempotent
);

async fn login_failures_count_within_a_window(db: TestDb) {
    let backend = db.backend();
    let s = &db.store;
    let (t0, window) = (1_000_000_i64, 60_000_i64);
    for i in 0..3 {
        s.record_login_failure("account:x", t0 + i, window)
            .await
            .unwrap();
    }
    assert_eq!(
        s.login_failures("account:x", t0 + 10, window)
            .await
            .unwrap(),
        3,
        "{backend}"
    );
    assert_eq!(
        s.login_failures("account:x", t0 + window, window)
            .await
            .unwrap(),
        0,
        "{backend}: window passed"
    );
    s.record_login_failure("account:x", t0 + window, window)
        .await
        .unwrap();
    assert_eq!(
        s.login_failures("account:x", t0 + window + 1, window)
            .await
            .unwrap(),
        1,
        "{backend}: new window"
    );
    s.clear_login_failures("account:x").await.unwrap();
    assert_eq!(
        s.login_failures("account:x", t0 + window + 2, window)
            .await
            .unwrap(),
        0,
        "{backend}"
    );
    db.finish().await;
}
on_both_backends!(
    #[tokio::test]
    login_failures_count_within_a_window
);
