//! The assignment engine on both backends: leases, skips, expiry, early stopping, priority,
//! and the invariants under 50 concurrent annotators.

#[macro_use]
mod common;

use std::collections::HashSet;
use std::sync::Arc;

use common::{LEAGUES, TestDb, annotator, config};
use quorum::domain::{Outcome, ProjectConfig};
use quorum::store::StoreError;
use sqlx::Row;

const T0: i64 = 1_800_000_000_000;

async fn leases_skips_and_releases(db: TestDb) {
    let backend = db.backend();
    let s = &db.store;
    let p = db.project(&config(2, 3, "early")).await;
    db.import_items(&p, "item_id,name\na,A\nb,B\n").await;
    let (u1, u2) = (annotator(s, 1).await, annotator(s, 2).await);

    let l1 = s.next_item(&p, u1, T0).await.unwrap().expect("an item");
    assert_eq!(
        l1.expires_at,
        T0 + 600_000,
        "{backend}: default lease is 10 minutes"
    );
    // Asking again returns the same lease: a reload does not burn a slot.
    assert_eq!(s.next_item(&p, u1, T0 + 1).await.unwrap(), Some(l1.clone()));

    s.skip(&p, l1.id, u1, T0 + 2).await.unwrap();
    let l2 = s
        .next_item(&p, u1, T0 + 3)
        .await
        .unwrap()
        .expect("the other item");
    assert_ne!(
        l2.item_id, l1.item_id,
        "{backend}: skipped item never comes back"
    );
    s.release(&p, l2.id, u1).await.unwrap();
    let l3 = s
        .next_item(&p, u1, T0 + 4)
        .await
        .unwrap()
        .expect("released item again");
    assert_eq!(
        l3.item_id, l2.item_id,
        "{backend}: a released item may come back"
    );
    let r = s.submit(&p, l3.id, u1, "@x", "api", T0 + 5).await.unwrap();
    assert_eq!(r.outcome, Outcome::Pending);
    let times = s.judgment_times(p.id).await.unwrap();
    assert_eq!(
        times,
        [("annotator1@example.com".to_owned(), vec![T0 + 5])],
        "{backend}"
    );
    assert_eq!(
        s.next_item(&p, u1, T0 + 6).await.unwrap(),
        None,
        "{backend}: judged + skipped = done"
    );
    // The skipped item is still available to others.
    let l4 = s
        .next_item(&p, u2, T0 + 7)
        .await
        .unwrap()
        .expect("item for u2");
    assert_eq!(
        l4.item_id, l2.item_id,
        "{backend}: prefers the item closest to a decision"
    );
    db.finish().await;
}
on_both_backends!(
    #[tokio::test]
    leases_skips_and_releases
);

async fn submit_and_next_leases_the_next_item_in_one_step(db: TestDb) {
    let backend = db.backend();
    let s = &db.store;
    let p = db.project(&config(2, 3, "early")).await;
    db.import_items(&p, "item_id,name\na,A\nb,B\nc,C\n").await;
    let u1 = annotator(s, 1).await;

    let l1 = s.next_item(&p, u1, T0).await.unwrap().expect("an item");
    let (r1, next) = s
        .submit_and_next(&p, l1.id, u1, "@x", "web", T0 + 1)
        .await
        .unwrap();
    assert_eq!(r1.item_id, l1.item_id, "{backend}");
    let l2 = next.expect("the next item, leased with the submit");
    assert_ne!(l2.item_id, l1.item_id, "{backend}: never the judged item");
    assert_eq!(l2.expires_at, T0 + 1 + 600_000, "{backend}");
    // The labeling page then shows that lease rather than taking another slot.
    assert_eq!(
        s.next_item(&p, u1, T0 + 2).await.unwrap(),
        Some(l2.clone()),
        "{backend}"
    );
    let leases: i64 = sqlx::query_scalar("SELECT CAST(SUM(lease_count) AS BIGINT) FROM items")
        .fetch_one(s.pool())
        .await
        .unwrap();
    assert_eq!(leases, 1, "{backend}: one slot held, by l2");

    let (_, next) = s
        .submit_and_next(&p, l2.id, u1, "@x", "web", T0 + 3)
        .await
        .unwrap();
    let l3 = next.expect("the last item");
    let (_, next) = s
        .submit_and_next(&p, l3.id, u1, "@x", "web", T0 + 5)
        .await
        .unwrap();
    assert_eq!(next, None, "{backend}: nothing left for this annotator");
    assert_eq!(
        s.next_item(&p, u1, T0 + 6).await.unwrap(),
        None,
        "{backend}"
    );

    // A refused submit leases nothing.
    let u2 = annotator(s, 2).await;
    let l4 = s.next_item(&p, u2, T0 + 7).await.unwrap().expect("u2 item");
    let gone = s
        .submit_and_next(&p, l4.id + 1000, u2, "@x", "web", T0 + 8)
        .await;
    assert!(
        matches!(gone, Err(StoreError::LeaseGone(_))),
        "{backend}: {gone:?}"
    );
    assert_eq!(
        s.next_item(&p, u2, T0 + 9).await.unwrap(),
        Some(l4),
        "{backend}: still the one lease"
    );
    db.finish().await;
}
on_both_backends!(
    #[tokio::test]
    submit_and_next_leases_the_next_item_in_one_step
);

async fn submit_conflicts(db: TestDb) {
    let backend = db.backend();
    let s = &db.store;
    let p = db.project(&config(2, 3, "early")).await;
    db.import_items(&p, "item_id,name\na,A\nb,B\n").await;
    let (u1, u2) = (annotator(s, 1).await, annotator(s, 2).await);
    let l = s.next_item(&p, u1, T0).await.unwrap().unwrap();
    let other = s.submit(&p, l.id, u2, "x", "api", T0).await.unwrap_err();
    assert!(
        matches!(other, StoreError::LeaseGone(_)),
        "{backend}: someone else's lease"
    );
    s.submit(&p, l.id, u1, "x", "api", T0).await.unwrap();
    let twice = s.submit(&p, l.id, u1, "x", "api", T0).await.unwrap_err();
    assert!(
        matches!(twice, StoreError::LeaseGone(_)),
        "{backend}: used twice"
    );
    let l2 = s.next_item(&p, u1, T0).await.unwrap().unwrap();
    let late = s
        .submit(&p, l2.id, u1, "x", "api", l2.expires_at)
        .await
        .unwrap_err();
    assert!(late.to_string().contains("expired"), "{backend}: {late}");
    let bad = s.submit(&p, l2.id, u1, "   ", "api", T0).await.unwrap_err();
    assert!(
        matches!(bad, StoreError::Invalid(_)),
        "{backend}: empty answer"
    );
    db.finish().await;
}
on_both_backends!(
    #[tokio::test]
    submit_conflicts
);

async fn expired_leases_return_their_slot(db: TestDb) {
    let backend = db.backend();
    let s = &db.store;
    let p = db.project(&config(1, 1, "fixed")).await;
    db.import_items(&p, "item_id,name\na,A\n").await;
    let (u1, u2) = (annotator(s, 1).await, annotator(s, 2).await);
    let l1 = s.next_item(&p, u1, T0).await.unwrap().unwrap();
    assert_eq!(
        s.next_item(&p, u2, T0 + 1000).await.unwrap(),
        None,
        "{backend}: slot is held"
    );
    let l2 = s
        .next_item(&p, u2, l1.expires_at)
        .await
        .unwrap()
        .expect("slot came back");
    assert_eq!(l2.item_id, l1.item_id);
    assert!(
        s.submit(&p, l1.id, u1, "a", "web", l1.expires_at)
            .await
            .is_err()
    );
    s.submit(&p, l2.id, u2, "a", "web", l1.expires_at + 1)
        .await
        .unwrap();
    let row = sqlx::query("SELECT judgment_count, lease_count, status FROM items")
        .fetch_one(s.pool())
        .await
        .unwrap();
    assert_eq!(row.get::<i64, _>("judgment_count"), 1);
    assert_eq!(row.get::<i64, _>("lease_count"), 0, "{backend}");
    assert_eq!(row.get::<String, _>("status"), "resolved");
    db.finish().await;
}
on_both_backends!(
    #[tokio::test]
    expired_leases_return_their_slot
);

async fn early_stop_closes_items_and_leases_never_exceed_max(db: TestDb) {
    let backend = db.backend();
    let s = &db.store;
    let p = db.project(&config(2, 3, "early")).await;
    db.import_items(&p, "item_id,name\na,A\n").await;
    let users: Vec<i64> = futures_util::future::join_all((1..=4).map(|i| annotator(s, i))).await;
    let mut leases = Vec::new();
    for u in &users[..3] {
        leases.push(s.next_item(&p, *u, T0).await.unwrap().expect("slot"));
    }
    assert_eq!(
        s.next_item(&p, users[3], T0).await.unwrap(),
        None,
        "{backend}: 3 slots, 3 leases"
    );
    s.submit(&p, leases[0].id, users[0], "@same", "web", T0)
        .await
        .unwrap();
    let r = s
        .submit(&p, leases[1].id, users[1], "SAME", "web", T0)
        .await
        .unwrap();
    assert_eq!(
        r.outcome,
        Outcome::Resolved {
            label: "same".into(),
            votes: 2
        }
    );
    // The third lease was granted before the decision; its judgment is still accepted.
    s.release(&p, leases[2].id, users[2]).await.unwrap();
    assert_eq!(
        s.next_item(&p, users[2], T0).await.unwrap(),
        None,
        "{backend}: decided items are closed"
    );
    db.finish().await;
}
on_both_backends!(
    #[tokio::test]
    early_stop_closes_items_and_leases_never_exceed_max
);

/// 50 annotators label one project at once. Afterwards: no item has more judgments than its
/// rule allows, no (item, annotator) pair repeats, every acknowledged judgment is stored, and
/// the stored counters and outcomes match a recomputation from the judgments.
async fn fifty_concurrent_annotators_keep_every_invariant(db: TestDb) {
    let backend = db.backend();
    let store = Arc::new(db.store.clone());
    let toml = LEAGUES
        .replace("agree = 2", "agree = 4")
        .replace("max = 3", "max = 5");
    let p = Arc::new(db.project(&toml).await);
    let mut items = String::from("item_id,name\n");
    for i in 0..60 {
        items.push_str(&format!("i{i},Player {i}\n"));
    }
    db.import_items(&p, &items).await;
    let mut users = Vec::new();
    for n in 0..50 {
        users.push(annotator(&store, n).await);
    }
    let tasks: Vec<_> = users
        .clone()
        .into_iter()
        .enumerate()
        .map(|(n, uid)| {
            let (store, p) = (store.clone(), p.clone());
            tokio::spawn(async move {
                let mut acked = Vec::new();
                let mut seed = n as u64 * 7919 + 1;
                let mut now = T0;
                loop {
                    now += 1;
                    let Some(lease) = store.next_item(&p, uid, now).await.expect("next") else {
                        break;
                    };
                    seed = seed
                        .wrapping_mul(6364136223846793005)
                        .wrapping_add(1442695040888963407);
                    let roll = (seed >> 33) % 10;
                    if roll == 9 {
                        store.skip(&p, lease.id, uid, now).await.expect("skip");
                        continue;
                    }
                    let answer = [
                        "nba", "nba", "nba", "nfl", "nba", "mlb", "nba", "nba", "nhl",
                    ][roll as usize];
                    // Half the annotators go through the browser's path, which leases
                    // the next item in the submit's transaction.
                    let r = if n % 2 == 1 {
                        let (r, next) = store
                            .submit_and_next(&p, lease.id, uid, answer, "web", now)
                            .await
                            .expect("submit and next");
                        if let Some(next) = next {
                            assert_ne!(next.item_id, r.item_id, "a judged item again");
                        }
                        r
                    } else {
                        store
                            .submit(&p, lease.id, uid, answer, "web", now)
                            .await
                            .expect("submit")
                    };
                    acked.push((r.judgment_id, r.item_id, uid));
                }
                acked
            })
        })
        .collect();
    let mut acked = Vec::new();
    for t in tasks {
        acked.extend(t.await.expect("task"));
    }
    // An annotator who found nothing left may have quit while another still held a lease
    // they later skipped: one more sequential round picks up those freed slots.
    for &uid in &users {
        while let Some(lease) = store
            .next_item(&p, uid, T0 + 1_000_000)
            .await
            .expect("next")
        {
            let r = store
                .submit(&p, lease.id, uid, "nba", "web", T0 + 1_000_000)
                .await
                .expect("submit");
            acked.push((r.judgment_id, r.item_id, uid));
        }
    }
    let pool = store.pool();
    let rows = sqlx::query("SELECT id, item_id, annotator_id FROM judgments")
        .fetch_all(pool)
        .await
        .unwrap();
    let stored: HashSet<(i64, i64, i64)> = rows
        .iter()
        .map(|r| (r.get("id"), r.get("item_id"), r.get("annotator_id")))
        .collect();
    let acked_set: HashSet<(i64, i64, i64)> = acked.iter().copied().collect();
    assert_eq!(
        acked_set.len(),
        acked.len(),
        "{backend}: judgment ids unique"
    );
    assert_eq!(
        stored, acked_set,
        "{backend}: every acknowledged judgment stored, nothing else"
    );
    let pairs: HashSet<(i64, i64)> = stored.iter().map(|(_, i, a)| (*i, *a)).collect();
    assert_eq!(
        pairs.len(),
        stored.len(),
        "{backend}: no annotator judged an item twice"
    );

    let config = ProjectConfig::from_toml(&toml).unwrap();
    let items = sqlx::query("SELECT id, status, label, judgment_count, lease_count FROM items")
        .fetch_all(pool)
        .await
        .unwrap();
    let mut decided = 0;
    for item in &items {
        let id: i64 = item.get("id");
        let answers: Vec<String> =
            sqlx::query_scalar("SELECT normalized FROM judgments WHERE item_id = $1")
                .bind(id)
                .fetch_all(pool)
                .await
                .unwrap();
        assert!(
            answers.len() <= 5,
            "{backend}: item {id} has {} judgments",
            answers.len()
        );
        assert_eq!(
            item.get::<i64, _>("judgment_count"),
            answers.len() as i64,
            "{backend}"
        );
        assert_eq!(
            item.get::<i64, _>("lease_count"),
            0,
            "{backend}: all leases ended"
        );
        let tally = quorum::domain::Tally::from_answers(answers.iter().map(String::as_str));
        let outcome = config.rule.decide(&tally);
        assert_eq!(
            item.get::<String, _>("status"),
            outcome.status().as_str(),
            "{backend}"
        );
        assert_eq!(
            item.get::<Option<String>, _>("label").as_deref(),
            outcome.label(),
            "{backend}"
        );
        if outcome != Outcome::Pending {
            decided += 1;
        }
    }
    // A pending item would still have a slot for an annotator who has not seen it.
    assert_eq!(decided, 60, "{backend}: every item decided");
    db.finish().await;
}
on_both_backends!(
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    fifty_concurrent_annotators_keep_every_invariant
);

/// A form left open on an old lease must never answer a newer one.
async fn lease_ids_are_never_reused(db: TestDb) {
    let backend = db.backend();
    let s = &db.store;
    let p = db.project(&config(2, 3, "early")).await;
    db.import_items(&p, "item_id,name\na,A\nb,B\n").await;
    let u = annotator(s, 1).await;
    let first = s.next_item(&p, u, T0).await.unwrap().unwrap();
    s.skip(&p, first.id, u, T0).await.unwrap();
    let second = s.next_item(&p, u, T0).await.unwrap().unwrap();
    assert_ne!(second.id, first.id, "{backend}");
    let stale = s.submit(&p, first.id, u, "x", "web", T0).await.unwrap_err();
    assert!(matches!(stale, StoreError::LeaseGone(_)), "{backend}");
    db.finish().await;
}
on_both_backends!(
    #[tokio::test]
    lease_ids_are_never_reused
);

/// An import and web submits to the same item at the same moment: the item's counters and
/// outcome still match its judgments (on PostgreSQL the import locks the items it re-decides).
async fn imports_racing_submits_keep_counts_and_outcomes_right(db: TestDb) {
    let backend = db.backend();
    let db = Arc::new(db);
    let p = Arc::new(db.project(&config(5, 9, "fixed")).await);
    let mut users = Vec::new();
    for n in 0..2 {
        users.push(annotator(&db.store, n).await);
    }
    for round in 0..15 {
        let item = format!("r{round}");
        db.import_items(&p, &format!("item_id,name\n{item},X\n"))
            .await;
        let mut leases = Vec::new();
        for &u in &users {
            leases.push((u, db.store.next_item(&p, u, T0).await.unwrap().unwrap()));
        }
        let submits: Vec<_> = leases
            .into_iter()
            .map(|(u, lease)| {
                let (db, p) = (db.clone(), p.clone());
                tokio::spawn(async move {
                    db.store
                        .submit(&p, lease.id, u, "x", "web", T0)
                        .await
                        .unwrap();
                })
            })
            .collect();
        let import = {
            let (db, p, item) = (db.clone(), p.clone(), item.clone());
            tokio::spawn(async move {
                db.import_judgments(
                    &p,
                    &format!("item_id,annotator,answer\n{item},w1,x\n{item},w2,y\n"),
                )
                .await
                .unwrap();
            })
        };
        for s in submits {
            s.await.unwrap();
        }
        import.await.unwrap();
        let row =
            sqlx::query("SELECT id, judgment_count, answers FROM items WHERE external_id = $1")
                .bind(&item)
                .fetch_one(db.store.pool())
                .await
                .unwrap();
        let id: i64 = row.get("id");
        let stored: i64 =
            sqlx::query_scalar("SELECT CAST(COUNT(*) AS BIGINT) FROM judgments WHERE item_id = $1")
                .bind(id)
                .fetch_one(db.store.pool())
                .await
                .unwrap();
        assert_eq!(stored, 4, "{backend} round {round}");
        assert_eq!(
            row.get::<i64, _>("judgment_count"),
            4,
            "{backend} round {round}"
        );
        assert_eq!(
            row.get::<String, _>("answers"),
            "{\"x\":3,\"y\":1}",
            "{backend} round {round}"
        );
    }
    match Arc::try_unwrap(db) {
        Ok(db) => db.finish().await,
        Err(_) => panic!("database still shared"),
    }
}
on_both_backends!(
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    imports_racing_submits_keep_counts_and_outcomes_right
);

/// Annotators who abandon leases while others label through the browser's submit-and-next:
/// every submit then reclaims expired leases of items other transactions are locking. Nothing
/// may fail (on PostgreSQL a deadlock would abort a submit), and every invariant holds.
async fn abandoned_leases_expire_while_others_submit_and_claim(db: TestDb) {
    let backend = db.backend();
    let store = Arc::new(db.store.clone());
    let toml = format!(
        "{}\n[assignment]\nlease_minutes = 1\n",
        LEAGUES
            .replace("agree = 2", "agree = 4")
            .replace("max = 3", "max = 5")
    );
    let p = Arc::new(db.project(&toml).await);
    let mut items = String::from("item_id,name\n");
    for i in 0..40 {
        items.push_str(&format!("i{i},Player {i}\n"));
    }
    db.import_items(&p, &items).await;
    let mut users = Vec::new();
    for n in 0..24 {
        users.push(annotator(&store, n).await);
    }
    let tasks: Vec<_> = users
        .iter()
        .enumerate()
        .map(|(n, &uid)| {
            let (store, p) = (store.clone(), p.clone());
            tokio::spawn(async move {
                let mut acked = Vec::new();
                let mut seed = n as u64 * 104_729 + 7;
                // Each annotator's clock runs 7 s per step: leases (60 s) left behind by
                // anyone expire while the others go on.
                let mut now = T0 + n as i64;
                let mut held = store.next_item(&p, uid, now).await.expect("next");
                while let Some(lease) = held.take() {
                    now += 7_000;
                    seed = seed
                        .wrapping_mul(6364136223846793005)
                        .wrapping_add(1442695040888963407);
                    let roll = (seed >> 33) % 10;
                    if roll < 2 {
                        // Walks away from the lease; comes back after it expired.
                        now += 61_000;
                        held = store.next_item(&p, uid, now).await.expect("next");
                        continue;
                    }
                    let answer =
                        ["nba", "nba", "nba", "nfl", "nba", "mlb", "nba", "nba"][roll as usize - 2];
                    match store
                        .submit_and_next(&p, lease.id, uid, answer, "web", now)
                        .await
                    {
                        Ok((r, next)) => {
                            acked.push((r.judgment_id, r.item_id, uid));
                            held = match next {
                                Some(next) => Some(next),
                                None => store.next_item(&p, uid, now).await.expect("next"),
                            };
                        }
                        // Its own lease ran out meanwhile (the clock jumps): the page
                        // moves on to the next item.
                        Err(StoreError::LeaseGone(_)) => {
                            held = store.next_item(&p, uid, now).await.expect("next");
                        }
                        Err(e) => panic!("submit failed: {e:?}"),
                    }
                }
                acked
            })
        })
        .collect();
    let mut acked = Vec::new();
    for t in tasks {
        acked.extend(t.await.expect("task"));
    }
    store
        .reclaim_expired_leases(p.id, T0 + 1_000_000_000)
        .await
        .expect("reclaim");
    let pool = store.pool();
    let stored: HashSet<(i64, i64, i64)> =
        sqlx::query("SELECT id, item_id, annotator_id FROM judgments")
            .fetch_all(pool)
            .await
            .unwrap()
            .iter()
            .map(|r| (r.get("id"), r.get("item_id"), r.get("annotator_id")))
            .collect();
    let acked: HashSet<(i64, i64, i64)> = acked.into_iter().collect();
    assert_eq!(
        stored, acked,
        "{backend}: every acknowledged judgment, nothing else"
    );
    let pairs: HashSet<(i64, i64)> = stored.iter().map(|(_, i, a)| (*i, *a)).collect();
    assert_eq!(
        pairs.len(),
        stored.len(),
        "{backend}: nobody judged an item twice"
    );
    let items = sqlx::query(
        "SELECT i.id, i.judgment_count, i.lease_count, \
         (SELECT COUNT(*) FROM judgments j WHERE j.item_id = i.id) AS rows_ FROM items i",
    )
    .fetch_all(pool)
    .await
    .unwrap();
    for item in &items {
        let (count, rows): (i64, i64) = (item.get("judgment_count"), item.get("rows_"));
        assert_eq!(count, rows, "{backend}: judgment counter");
        assert!(rows <= 5, "{backend}: {rows} judgments over max");
        assert_eq!(
            item.get::<i64, _>("lease_count"),
            0,
            "{backend}: slots back"
        );
    }
    let leases: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM leases")
        .fetch_one(pool)
        .await
        .unwrap();
    assert_eq!(leases, 0, "{backend}");
    db.finish().await;
}
on_both_backends!(
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    abandoned_leases_expire_while_others_submit_and_claim
);

/// A claim that fails after a submit must not take the answer with it: the judgment is
/// recorded, no lease is handed out, and the counters stay right. The failure is injected with
/// a trigger that refuses new leases.
async fn a_failing_claim_keeps_the_submitted_answer(db: TestDb) {
    let backend = db.backend();
    let s = &db.store;
    let p = db.project(&config(2, 3, "early")).await;
    db.import_items(&p, "item_id,name\na,A\nb,B\n").await;
    let u1 = annotator(s, 1).await;
    let lease = s.next_item(&p, u1, T0).await.unwrap().expect("an item");
    let refuse = match backend {
        "sqlite" => vec![
            "CREATE TRIGGER refuse_leases BEFORE INSERT ON leases \
             BEGIN SELECT RAISE(ABORT, 'injected failure'); END",
        ],
        _ => vec![
            "CREATE FUNCTION refuse_leases() RETURNS trigger AS $$ \
             BEGIN RAISE EXCEPTION 'injected failure'; END $$ LANGUAGE plpgsql",
            "CREATE TRIGGER refuse_leases BEFORE INSERT ON leases \
             FOR EACH ROW EXECUTE FUNCTION refuse_leases()",
        ],
    };
    for sql in refuse {
        sqlx::query(sql).execute(s.pool()).await.expect(sql);
    }
    let (receipt, next) = s
        .submit_and_next(&p, lease.id, u1, "@x", "web", T0 + 1)
        .await
        .expect("the answer is recorded");
    assert_eq!(receipt.item_id, lease.item_id, "{backend}");
    assert_eq!(next, None, "{backend}: no lease when the claim failed");
    let stored: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM judgments")
        .fetch_one(s.pool())
        .await
        .unwrap();
    assert_eq!(stored, 1, "{backend}");
    let held: i64 = sqlx::query_scalar("SELECT CAST(SUM(lease_count) AS BIGINT) FROM items")
        .fetch_one(s.pool())
        .await
        .unwrap();
    assert_eq!(held, 0, "{backend}: the failed claim's slot is not held");
    db.finish().await;
}
on_both_backends!(
    #[tokio::test]
    a_failing_claim_keeps_the_submitted_answer
);

/// The labeling routes' one-query check: a member gets the project, anyone else nothing, and
/// an unknown slug is not found.
async fn project_for_member_answers_members_only(db: TestDb) {
    let backend = db.backend();
    let s = &db.store;
    let p = db.project(&config(2, 3, "early")).await;
    let (member, outsider) = (annotator(s, 1).await, annotator(s, 2).await);
    s.add_member(p.id, member).await.unwrap();
    assert_eq!(
        s.project_for_member(p.slug(), member).await.unwrap(),
        Some(p.clone()),
        "{backend}"
    );
    assert_eq!(
        s.project_for_member(p.slug(), outsider).await.unwrap(),
        None,
        "{backend}"
    );
    assert!(
        matches!(
            s.project_for_member("nope", member).await,
            Err(StoreError::NotFound { .. })
        ),
        "{backend}"
    );
    db.finish().await;
}
on_both_backends!(
    #[tokio::test]
    project_for_member_answers_members_only
);

/// Assignment hands out first the leases that can still matter (K minus the leader's votes
/// under early K of N), and the others only when nothing else is left: a crowd larger than
/// the rule's `max` then saves the judgments early stopping promises instead of leasing all
/// `max` slots of an item before its first answer is back.
async fn a_large_crowd_leases_only_what_can_still_matter(db: TestDb) {
    let backend = db.backend();
    let store = Arc::new(db.store.clone());
    let p = Arc::new(db.project(&config(7, 9, "early")).await);
    let mut items = String::from("item_id,name\n");
    for i in 0..40 {
        items.push_str(&format!("i{i:02},Player {i}\n"));
    }
    db.import_items(&p, &items).await;
    let mut users = Vec::new();
    for n in 0..18 {
        users.push(annotator(&store, n).await);
    }
    // Nine claims, one after another: seven on the first item (seven agreeing answers decide
    // it), the eighth and ninth on the next one.
    let mut first = Vec::new();
    for u in &users[..9] {
        first.push(store.next_item(&p, *u, T0).await.unwrap().expect("an item"));
    }
    let on = |id: &str| first.iter().filter(|l| l.external_id == id).count();
    assert_eq!((on("i00"), on("i01")), (7, 2), "{backend}: {first:?}");
    for (l, u) in first.iter().zip(&users) {
        store.release(&p, l.id, *u).await.unwrap();
    }
    // The whole crowd at once, every annotator giving the same answer.
    let tasks: Vec<_> = users
        .iter()
        .map(|&uid| {
            let (store, p) = (store.clone(), p.clone());
            tokio::spawn(async move {
                let mut now = T0;
                while let Some(lease) = store.next_item(&p, uid, now).await.expect("next") {
                    now += 1;
                    store
                        .submit(&p, lease.id, uid, "@same", "api", now)
                        .await
                        .expect("submit");
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    let rows =
        sqlx::query("SELECT status, judgment_count FROM items WHERE project_id = $1 ORDER BY id")
            .bind(p.id)
            .fetch_all(store.pool())
            .await
            .unwrap();
    let counts: Vec<i64> = rows.iter().map(|r| r.get("judgment_count")).collect();
    assert!(
        rows.iter()
            .all(|r| r.get::<String, _>("status") == "resolved"),
        "{backend}"
    );
    let total: i64 = counts.iter().sum();
    // Leasing every slot would give 9 × 40 = 360; only the tail (items left when nothing
    // else is) may get an eighth or ninth judgment, at most one each per annotator.
    assert!(
        counts.iter().all(|&c| (7..=9).contains(&c)),
        "{backend}: {counts:?}"
    );
    assert!(
        total <= 7 * 40 + 2 * 18,
        "{backend}: {total} judgments: {counts:?}"
    );
    let at_seven = counts.iter().filter(|&&c| c == 7).count();
    assert!(
        at_seven >= 30,
        "{backend}: {at_seven} items at 7: {counts:?}"
    );
    db.finish().await;
}
on_both_backends!(
    #[tokio::test]
    a_large_crowd_leases_only_what_can_still_matter
);
