//! Changing a project's answer schema and quorum rule after work has started, on both backends:
//! every item is re-decided, a change the stored work cannot satisfy changes nothing, and no
//! writer decides an outcome with a rule that was replaced while it was in flight.

#[macro_use]
mod common;

use std::collections::HashMap;
use std::sync::Arc;

use common::{HANDLES_7_OF_9, LEAGUES, TestDb, annotator, config};
use quorum::domain::{ProjectConfig, Tally};
use quorum::store::{Project, Store, StoreError};
use sqlx::Row;

const T0: i64 = 1_800_000_000_000;

/// item external id -> (status, label, votes, judgment_count, capacity, lease_count)
async fn items(store: &Store) -> HashMap<String, (String, Option<String>, i64, i64, i64, i64)> {
    sqlx::query(
        "SELECT external_id, status, label, votes, judgment_count, capacity, lease_count FROM items",
    )
    .fetch_all(store.pool())
    .await
    .unwrap()
    .iter()
    .map(|r| {
        (
            r.get("external_id"),
            (
                r.get("status"),
                r.get("label"),
                r.get("votes"),
                r.get("judgment_count"),
                r.get("capacity"),
                r.get("lease_count"),
            ),
        )
    })
    .collect()
}

/// Every item's stored outcome equals the project's current rule applied to its judgments.
async fn assert_consistent(backend: &str, store: &Store, project: &Project) {
    let rows =
        sqlx::query("SELECT id, status, label, judgment_count FROM items WHERE project_id = $1")
            .bind(project.id)
            .fetch_all(store.pool())
            .await
            .unwrap();
    for item in rows {
        let id: i64 = item.get("id");
        let answers: Vec<String> =
            sqlx::query_scalar("SELECT normalized FROM judgments WHERE item_id = $1")
                .bind(id)
                .fetch_all(store.pool())
                .await
                .unwrap();
        for a in &answers {
            let raw: Vec<String> = sqlx::query_scalar(
                "SELECT answer FROM judgments WHERE item_id = $1 AND normalized = $2",
            )
            .bind(id)
            .bind(a)
            .fetch_all(store.pool())
            .await
            .unwrap();
            for r in raw {
                assert_eq!(
                    project.answer().normalize(&r).as_deref(),
                    Ok(a.as_str()),
                    "{backend}: stored normalisation follows the current schema"
                );
            }
        }
        let outcome = project
            .rule()
            .decide(&Tally::from_answers(answers.iter().map(String::as_str)));
        let status: String = item.get("status");
        if status != "adjudicated" {
            assert_eq!(status, outcome.status().as_str(), "{backend}: item {id}");
            assert_eq!(
                item.get::<Option<String>, _>("label").as_deref(),
                outcome.label(),
                "{backend}: item {id}"
            );
        }
        assert_eq!(item.get::<i64, _>("judgment_count"), answers.len() as i64);
    }
}

async fn a_new_rule_re_decides_every_item_and_keeps_adjudications(db: TestDb) {
    let backend = db.backend();
    let s = &db.store;
    let p = db.project(LEAGUES).await; // 2 of 3, early
    db.import_items(&p, "item_id,name\na,A\nb,B\nc,C\nd,D\n")
        .await;
    db.import_judgments(
        &p,
        "item_id,annotator,answer\n\
         a,w1,nba\na,w2,nba\n\
         b,w1,nba\nb,w2,nfl\nb,w3,nba\n\
         c,w1,nba\nc,w2,nfl\nc,w3,mlb\n\
         d,w1,nhl\n",
    )
    .await
    .unwrap();
    let admin = annotator(s, 0).await;
    s.adjudicate(&p, item_id(s, "c").await, "mlb", admin, T0)
        .await
        .unwrap();
    let before = items(s).await;
    assert_eq!(before["a"].0, "resolved", "{backend}");
    assert_eq!(before["b"].0, "resolved", "{backend}");
    assert_eq!(before["c"].0, "adjudicated", "{backend}");

    // 3 of 5, fixed: nothing has three votes yet, so every item with judgments reopens,
    // except the owner's adjudication.
    let new = ProjectConfig::from_toml(
        &LEAGUES
            .replace("agree = 2", "agree = 3")
            .replace("max = 3", "max = 5")
            .replace("stop = \"early\"", "stop = \"fixed\""),
    )
    .unwrap();
    let (updated, summary) = s.reconfigure_project(&p, &new, T0 + 1).await.unwrap();
    assert!(summary.rule_changed, "{backend}");
    assert_eq!(summary.reevaluated, 4, "{backend}");
    assert_eq!(
        (summary.before.resolved, summary.after.resolved),
        (2, 0),
        "{backend}"
    );
    assert_eq!(summary.after.pending, 3, "{backend}");
    assert_eq!(summary.after.adjudicated, 1, "{backend}");
    assert_eq!(updated.config_version, p.config_version + 1, "{backend}");
    let after = items(s).await;
    assert_eq!(after["a"].0, "pending", "{backend}");
    assert_eq!(after["a"].4, 5, "{backend}: capacity follows max");
    assert_eq!(
        (after["c"].0.as_str(), after["c"].1.as_deref()),
        ("adjudicated", Some("mlb")),
        "{backend}"
    );
    let stored = s.project_by_slug("leagues").await.unwrap();
    assert_eq!(
        stored, updated,
        "{backend}: what is returned is what is stored"
    );
    assert_consistent(backend, s, &stored).await;

    // Back to 2 of 3: the same outcomes as before the round trip.
    let (back, _) = s
        .reconfigure_project(&stored, &p.config, T0 + 2)
        .await
        .unwrap();
    let again = items(s).await;
    for k in ["a", "b", "c", "d"] {
        assert_eq!(
            (&again[k].0, &again[k].1, again[k].4),
            (&before[k].0, &before[k].1, before[k].4),
            "{backend}: item {k}"
        );
    }
    assert_consistent(backend, s, &back).await;

    // Only the name and instructions: no re-evaluation, and the version stays.
    let mut renamed = back.config.clone();
    renamed.name = "Leagues (v2)".into();
    renamed.instructions = "New *instructions*".into();
    let (r, summary) = s
        .reconfigure_project(&back, &renamed, T0 + 3)
        .await
        .unwrap();
    assert!(!summary.rule_changed, "{backend}");
    assert_eq!(summary.reevaluated, 0, "{backend}");
    assert_eq!(r.config_version, back.config_version, "{backend}");
    assert_eq!(
        s.project_by_slug("leagues").await.unwrap().config.name,
        "Leagues (v2)"
    );
    db.finish().await;
}
on_both_backends!(
    #[tokio::test]
    a_new_rule_re_decides_every_item_and_keeps_adjudications
);

async fn item_id(store: &Store, external: &str) -> i64 {
    sqlx::query_scalar("SELECT id FROM items WHERE external_id = $1")
        .bind(external)
        .fetch_one(store.pool())
        .await
        .unwrap()
}

async fn new_normalisers_merge_votes_and_impossible_changes_change_nothing(db: TestDb) {
    let backend = db.backend();
    let s = &db.store;
    // Text, 2 of 3, trim only: "LeBron" and "lebron" are different votes.
    let toml = config(2, 3, "early").replace(
        "normalize = [\"trim\", \"nfkc\", \"casefold\", \"handle\"]",
        "normalize = [\"trim\"]",
    );
    let p = db.project(&toml).await;
    db.import_items(&p, "item_id,name\nx,X\ny,Y\n").await;
    db.import_judgments(
        &p,
        "item_id,annotator,answer\nx,w1,@KingJames\nx,w2,kingjames\ny,w1,a\n",
    )
    .await
    .unwrap();
    assert_eq!(items(s).await["x"].0, "pending", "{backend}");

    let handles = ProjectConfig::from_toml(&config(2, 3, "early")).unwrap();
    let (p2, summary) = s.reconfigure_project(&p, &handles, T0).await.unwrap();
    assert_eq!(
        summary.renormalized, 1,
        "{backend}: only @KingJames changes"
    );
    let x = &items(s).await["x"];
    assert_eq!(
        (x.0.as_str(), x.1.as_deref(), x.2),
        ("resolved", Some("kingjames"), 2),
        "{backend}"
    );
    assert_consistent(backend, s, &p2).await;

    // A choice schema that a stored answer does not fit: refused, nothing changed.
    let snapshot = items(s).await;
    let choice = ProjectConfig::from_toml(
        &LEAGUES
            .replace("slug = \"leagues\"", "slug = \"athlete-handles\"")
            .replace("\"nba\", \"nfl\"", "\"kingjames\", \"nfl\""),
    )
    .unwrap();
    let err = s
        .reconfigure_project(&p2, &choice, T0 + 1)
        .await
        .unwrap_err();
    let StoreError::Invalid(message) = err else {
        panic!("{backend}: {err:?}")
    };
    assert!(
        message.contains("2 stored answer(s)") && message.contains("item \"y\""),
        "{backend}: {message}"
    );
    assert_eq!(items(s).await, snapshot, "{backend}: nothing changed");
    assert_eq!(s.project_by_slug("athlete-handles").await.unwrap(), p2);

    // A max below the judgments an item already has: refused, naming the item.
    db.import_judgments(&p2, "item_id,annotator,answer\ny,w2,b\ny,w3,c\n")
        .await
        .unwrap();
    let p3 = s.project_by_slug("athlete-handles").await.unwrap();
    let err = s
        .reconfigure_project(
            &p3,
            &ProjectConfig::from_toml(&config(1, 1, "early")).unwrap(),
            T0 + 2,
        )
        .await
        .unwrap_err();
    assert!(
        matches!(&err, StoreError::Invalid(m) if m.contains("item \"y\" already has 3 judgments")),
        "{backend}: {err:?}"
    );
    // The slug cannot change.
    let mut moved = p3.config.clone();
    moved.slug = "elsewhere".into();
    assert!(matches!(
        s.reconfigure_project(&p3, &moved, T0 + 3).await,
        Err(StoreError::Invalid(_))
    ));
    db.finish().await;
}
on_both_backends!(
    #[tokio::test]
    new_normalisers_merge_votes_and_impossible_changes_change_nothing
);

async fn stale_writers_and_editors_are_refused(db: TestDb) {
    let backend = db.backend();
    let s = &db.store;
    let p = db.project(LEAGUES).await;
    db.import_items(&p, "item_id,name\na,A\nb,B\n").await;
    let u = annotator(s, 1).await;
    let lease = s.next_item(&p, u, T0).await.unwrap().unwrap();
    let new =
        ProjectConfig::from_toml(&LEAGUES.replace("stop = \"early\"", "stop = \"fixed\"")).unwrap();
    let (p2, _) = s.reconfigure_project(&p, &new, T0 + 1).await.unwrap();

    // A submit prepared with the old rule is refused and the lease survives for a retry.
    let err = s
        .submit(&p, lease.id, u, "nba", "web", T0 + 2)
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Conflict(_)), "{backend}: {err:?}");
    s.submit(&p2, lease.id, u, "nba", "web", T0 + 2)
        .await
        .expect("the same lease with the current rule");
    // So are imports and adjudications.
    let err = db
        .import_judgments(&p, "item_id,annotator,answer\nb,w1,nba\n")
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Conflict(_)), "{backend}: {err:?}");
    // And an editor who saves over a change made since they opened the form.
    let err = s
        .reconfigure_project(&p, &p.config, T0 + 3)
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Conflict(_)), "{backend}: {err:?}");
    db.finish().await;
}
on_both_backends!(
    #[tokio::test]
    stale_writers_and_editors_are_refused
);

async fn a_lower_max_ends_leases_that_no_longer_fit(db: TestDb) {
    let backend = db.backend();
    let s = &db.store;
    let p = db.project(&config(3, 5, "fixed")).await;
    db.import_items(&p, "item_id,name\nx,X\n").await;
    let mut leases = Vec::new();
    for n in 0..5 {
        let u = annotator(s, n).await;
        leases.push((u, s.next_item(&p, u, T0).await.unwrap().unwrap()));
    }
    let (u0, l0) = &leases[0];
    let p = {
        s.submit(&p, l0.id, *u0, "a", "web", T0).await.unwrap();
        p
    };
    // One judgment and four leases; max 3 leaves room for two leases: the two newest end,
    // the judgment and the two oldest leases stay.
    let (p2, summary) = s
        .reconfigure_project(
            &p,
            &ProjectConfig::from_toml(&config(2, 3, "fixed")).unwrap(),
            T0 + 1,
        )
        .await
        .unwrap();
    assert_eq!(summary.leases_released, 2, "{backend}");
    let x = &items(s).await["x"];
    assert_eq!(
        (x.3, x.4, x.5),
        (1, 3, 2),
        "{backend}: judgments, capacity, leases"
    );
    let (u4, l4) = &leases[4];
    assert!(matches!(
        s.submit(&p2, l4.id, *u4, "a", "web", T0 + 2).await,
        Err(StoreError::LeaseGone(_))
    ));
    let (u1, l1) = &leases[1];
    s.submit(&p2, l1.id, *u1, "a", "web", T0 + 2)
        .await
        .expect("an older lease still counts");
    // Full now (2 judgments + 1 lease = 3): the annotator whose lease ended gets nothing.
    assert!(
        s.next_item(&p2, *u4, T0 + 2).await.unwrap().is_none(),
        "{backend}"
    );
    let (u2, l2) = &leases[2];
    s.release(&p2, l2.id, *u2).await.unwrap();
    assert!(
        s.next_item(&p2, *u4, T0 + 3).await.unwrap().is_some(),
        "{backend}: a freed slot is offered again"
    );
    db.finish().await;
}
on_both_backends!(
    #[tokio::test]
    a_lower_max_ends_leases_that_no_longer_fit
);

/// Annotators keep labeling while the owner flips the rule back and forth; every acknowledged
/// judgment survives, no item exceeds its capacity, and every outcome matches the final rule.
async fn reconfiguring_under_concurrent_labeling_keeps_every_invariant(db: TestDb) {
    let backend = db.backend();
    let store = Arc::new(db.store.clone());
    let p = db.project(HANDLES_7_OF_9).await;
    let mut csv = String::from("item_id,name\n");
    for i in 0..40 {
        csv.push_str(&format!("i{i},Player {i}\n"));
    }
    db.import_items(&p, &csv).await;
    let mut tasks = Vec::new();
    for n in 0..12 {
        let uid = annotator(&store, n).await;
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            let mut acked = 0u64;
            let mut now = T0;
            for _ in 0..40 {
                now += 1;
                let project = store.project_by_slug("athlete-handles").await.unwrap();
                let Some(lease) = store.next_item(&project, uid, now).await.unwrap() else {
                    break;
                };
                let answer = if (uid + now) % 4 == 0 {
                    "@Other"
                } else {
                    "@Right"
                };
                match store
                    .submit(&project, lease.id, uid, answer, "web", now)
                    .await
                {
                    Ok(_) => acked += 1,
                    // The rule changed meanwhile, or a lower max ended the lease.
                    Err(StoreError::Conflict(_) | StoreError::LeaseGone(_)) => {}
                    Err(e) => panic!("{e:?}"),
                }
            }
            acked
        }));
    }
    let editor = {
        let store = store.clone();
        tokio::spawn(async move {
            let rules = [(3, 5, "early"), (5, 9, "fixed"), (7, 9, "early")];
            let mut changes = 0;
            for round in 0..9 {
                let (k, n, stop) = rules[round % rules.len()];
                let current = store.project_by_slug("athlete-handles").await.unwrap();
                let config = ProjectConfig::from_toml(&config(k, n, stop)).unwrap();
                match store
                    .reconfigure_project(&current, &config, T0 + round as i64)
                    .await
                {
                    Ok(_) => changes += 1,
                    // A max lower than some item's judgments is refused; that is fine here.
                    Err(StoreError::Invalid(_) | StoreError::Conflict(_)) => {}
                    Err(e) => panic!("{e:?}"),
                }
                tokio::task::yield_now().await;
            }
            changes
        })
    };
    let mut acked = 0;
    for t in tasks {
        acked += t.await.unwrap();
    }
    assert!(editor.await.unwrap() > 0, "{backend}: some changes applied");
    let stored: i64 = sqlx::query_scalar("SELECT CAST(COUNT(*) AS BIGINT) FROM judgments")
        .fetch_one(store.pool())
        .await
        .unwrap();
    assert_eq!(
        stored as u64, acked,
        "{backend}: every acknowledged judgment stored"
    );
    let final_project = store.project_by_slug("athlete-handles").await.unwrap();
    for (k, v) in items(&store).await {
        assert!(
            v.3 + v.5 <= v.4,
            "{backend}: item {k} within capacity: {v:?}"
        );
        assert_eq!(v.4, i64::from(final_project.rule().max()), "{backend}");
    }
    assert_consistent(backend, &store, &final_project).await;
    db.finish().await;
}
on_both_backends!(
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    reconfiguring_under_concurrent_labeling_keeps_every_invariant
);
