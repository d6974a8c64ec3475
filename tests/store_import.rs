//! Imports on both backends: items, judgments (long and Mechanical Turk), idempotence, and
//! files rejected whole with the offending line.

#[macro_use]
mod common;

use common::{HANDLES_7_OF_9, LEAGUES, TestDb, config};
use quorum::store::StoreError;

async fn snapshot(db: &TestDb, project_id: i64) -> (quorum::store::ProjectCounts, Vec<String>) {
    let counts = db.store.project_counts(project_id).await.expect("counts");
    let mut snap = db.store.export_snapshot().await.expect("snapshot");
    let rows = common::export_rows(&mut snap, project_id).await;
    snap.close().await.expect("close");
    (counts, rows.into_iter().map(|r| format!("{r:?}")).collect())
}

async fn items_import_is_idempotent_and_keeps_fields(db: TestDb) {
    let backend = db.backend();
    let p = db.project(HANDLES_7_OF_9).await;
    let csv = "item_id,name,sport\nad-nba,Anthony Davis,NBA\nad-nfl,\"Davis, Anthony\",NFL\n";
    let s = db.import_items(&p, csv).await;
    assert_eq!(
        (s.rows_read, s.items_created, s.skipped_present),
        (2, 2, 0),
        "{backend}"
    );
    let s = db.import_items(&p, csv).await;
    assert_eq!((s.items_created, s.skipped_present), (0, 2), "{backend}");
    assert_eq!(
        db.store.project_fields(p.id).await.unwrap(),
        ["name", "sport"]
    );
    // Without ids: derived from the fields, so a second import finds the same items.
    let s = db
        .import_items(&p, "name,sport\nLeBron James,NBA\nLeBron James,NBA\n")
        .await;
    assert_eq!((s.items_created, s.skipped_present), (1, 1), "{backend}");
    let s = db.import_items(&p, "name,sport\nLeBron James,NBA\n").await;
    assert_eq!((s.items_created, s.skipped_present), (0, 1), "{backend}");
    assert_eq!(db.store.project_counts(p.id).await.unwrap().items, 3);
    db.finish().await;
}
on_both_backends!(
    #[tokio::test]
    items_import_is_idempotent_and_keeps_fields
);

async fn items_created_by_judgments_get_their_fields_from_a_later_items_file(db: TestDb) {
    let backend = db.backend();
    let p = db.project(HANDLES_7_OF_9).await;
    db.import_judgments(&p, "item_id,annotator,answer\nad,w1,@AntDavis23\n")
        .await
        .unwrap();
    let s = db
        .import_items(&p, "item_id,name\nad,Anthony Davis\n")
        .await;
    assert_eq!((s.items_created, s.items_updated), (0, 1), "{backend}");
    assert_eq!(db.store.project_fields(p.id).await.unwrap(), ["name"]);
    let s = db
        .import_items(&p, "item_id,name\nad,Anthony Davis\n")
        .await;
    assert_eq!((s.items_updated, s.skipped_present), (0, 1), "{backend}");
    db.finish().await;
}
on_both_backends!(
    #[tokio::test]
    items_created_by_judgments_get_their_fields_from_a_later_items_file
);

async fn items_with_a_known_id_but_other_fields_are_rejected(db: TestDb) {
    let backend = db.backend();
    let p = db.project(HANDLES_7_OF_9).await;
    db.import_items(&p, "item_id,name\n1,A\n").await;
    let before = snapshot(&db, p.id).await;
    let parsed = quorum::interfaces::formats::import_csv::parse_items(
        "items.csv",
        "item_id,name\n2,B\n1,Changed\n".as_bytes(),
    )
    .unwrap();
    let err = db
        .store
        .import_items(
            &p,
            &parsed.field_names,
            parsed.records,
            &quorum::store::NoProgress,
        )
        .await
        .unwrap_err();
    assert!(err.to_string().contains("line 3"), "{backend}: {err}");
    assert_eq!(
        snapshot(&db, p.id).await,
        before,
        "{backend}: nothing changed"
    );
    db.finish().await;
}
on_both_backends!(
    #[tokio::test]
    items_with_a_known_id_but_other_fields_are_rejected
);

async fn judgments_decide_items_and_reimport_changes_nothing(db: TestDb) {
    let backend = db.backend();
    let p = db.project(&config(2, 3, "early")).await;
    db.import_items(&p, "item_id,name\nad,Anthony Davis\nlbj,LeBron James\n")
        .await;
    let csv = "item_id,annotator,answer\n\
               ad,w1,@AntDavis23\nad,w2,https://twitter.com/AntDavis23\n\
               lbj,w1,kingjames\nlbj,w2,x.com/someoneelse\nlbj,w3,@other\n\
               new,w4,whatever\n";
    let s = db.import_judgments(&p, csv).await.expect("import");
    assert_eq!(
        (
            s.rows_read,
            s.judgments_added,
            s.skipped_present,
            s.items_created,
            s.annotators_created
        ),
        (6, 6, 0, 1, 4),
        "{backend}"
    );
    let before = snapshot(&db, p.id).await;
    assert_eq!(
        (before.0.resolved, before.0.unresolved, before.0.pending),
        (1, 1, 1),
        "{backend}"
    );
    let s = db.import_judgments(&p, csv).await.expect("re-import");
    assert_eq!(
        (
            s.judgments_added,
            s.skipped_present,
            s.items_created,
            s.annotators_created
        ),
        (0, 6, 0, 0)
    );
    assert_eq!(
        snapshot(&db, p.id).await,
        before,
        "{backend}: re-import changed nothing"
    );
    db.finish().await;
}
on_both_backends!(
    #[tokio::test]
    judgments_decide_items_and_reimport_changes_nothing
);

async fn over_max_and_duplicate_pairs_reject_the_whole_file(db: TestDb) {
    let backend = db.backend();
    let p = db.project(&config(2, 3, "fixed")).await;
    db.import_judgments(&p, "item_id,annotator,answer\na,w1,x\n")
        .await
        .expect("seed");
    let before = snapshot(&db, p.id).await;

    let over = "item_id,annotator,answer\nb,w1,y\na,w2,x\na,w3,x\na,w4,x\n";
    let err = db.import_judgments(&p, over).await.unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, StoreError::Invalid(_)), "{backend}: {msg}");
    assert!(
        msg.contains("line 5") && msg.contains("max = 3"),
        "{backend}: {msg}"
    );

    let dup = "item_id,annotator,answer\nb,w1,y\nb,w1,y\n";
    let msg = db.import_judgments(&p, dup).await.unwrap_err().to_string();
    assert!(
        msg.contains("line 3") && msg.contains("line 2"),
        "{backend}: {msg}"
    );

    let contradicts = "item_id,annotator,answer\na,w1,different\n";
    let msg = db
        .import_judgments(&p, contradicts)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains("line 2") && msg.contains("already judged"),
        "{backend}: {msg}"
    );

    assert_eq!(
        snapshot(&db, p.id).await,
        before,
        "{backend}: nothing changed"
    );
    db.finish().await;
}
on_both_backends!(
    #[tokio::test]
    over_max_and_duplicate_pairs_reject_the_whole_file
);

async fn choice_answers_outside_the_options_are_rejected(db: TestDb) {
    let backend = db.backend();
    let p = db.project(LEAGUES).await;
    let err = db
        .import_judgments(&p, "item_id,annotator,answer\n1,w1,NBA\n2,w1,cricket\n")
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("line 3") && err.contains("cricket") && err.contains("answer"),
        "{backend}: {err}"
    );
    assert_eq!(db.store.project_counts(p.id).await.unwrap().items, 0);
    // Case and surrounding space do not matter; the option as configured is stored.
    db.import_judgments(&p, "item_id,annotator,answer\n1,w1, NBA \n1,w2,nba\n")
        .await
        .expect("import");
    let c = db.store.project_counts(p.id).await.unwrap();
    assert_eq!((c.resolved, c.judgments), (1, 2), "{backend}");
    db.finish().await;
}
on_both_backends!(
    #[tokio::test]
    choice_answers_outside_the_options_are_rejected
);

async fn mechanical_turk_batch_results(db: TestDb) {
    let backend = db.backend();
    let p = db.project(&config(2, 3, "early")).await;
    let csv = "HITId,HITTypeId,AssignmentId,WorkerId,AssignmentStatus,SubmitTime,Input.name,Input.sport,Answer.handle\n\
        H1,T,A1,W1,Approved,Wed Jul 20 22:05:03 PDT 2016,Anthony Davis,NBA,@AntDavis23\n\
        H1,T,A2,W2,Rejected,Wed Jul 20 22:06:03 PDT 2016,Anthony Davis,NBA,spam\n\
        H1,T,A3,W3,Submitted,Wed Jul 20 22:07:03 PDT 2016,Anthony Davis,NBA,antdavis23\n\
        H2,T,A4,W1,Approved,Wed Jul 20 22:08:03 PDT 2016,Anthony Davis,NFL,@AD\n";
    let parsed =
        quorum::interfaces::formats::import_csv::parse_judgments("batch.csv", csv.as_bytes(), None)
            .unwrap();
    assert_eq!(parsed.rejected, 1);
    let s = db
        .store
        .import_judgments(&p, &parsed.batch, &quorum::store::NoProgress)
        .await
        .expect("import");
    assert_eq!(
        (s.judgments_added, s.items_created, s.annotators_created),
        (3, 2, 2),
        "{backend}"
    );
    assert_eq!(
        db.store.project_fields(p.id).await.unwrap(),
        ["name", "sport"]
    );
    let c = db.store.project_counts(p.id).await.unwrap();
    assert_eq!((c.resolved, c.pending), (1, 1), "{backend}");
    let w1 = db
        .store
        .user_by_name("W1")
        .await
        .unwrap()
        .expect("external annotator");
    assert!(w1.external && w1.email.is_none());
    db.finish().await;
}
on_both_backends!(
    #[tokio::test]
    mechanical_turk_batch_results
);

/// More rows than one bulk statement holds: every chunk boundary is crossed.
async fn bulk_imports_span_several_statements(db: TestDb) {
    let backend = db.backend();
    let p = db.project(&config(3, 5, "fixed")).await;
    let mut items = String::from("item_id,name\n");
    let mut csv = String::from("item_id,annotator,answer\n");
    for i in 0..2500 {
        items.push_str(&format!("i{i},Player {i}\n"));
        for a in 0..4 {
            let answer = if a < 3 {
                format!("@h{i}")
            } else {
                "other".into()
            };
            csv.push_str(&format!("i{i},w{a},{answer}\n"));
        }
    }
    assert_eq!(db.import_items(&p, &items).await.items_created, 2500);
    let s = db.import_judgments(&p, &csv).await.expect("import");
    assert_eq!(s.judgments_added, 10_000, "{backend}");
    let c = db.store.project_counts(p.id).await.unwrap();
    assert_eq!(
        (c.items, c.pending, c.judgments),
        (2500, 2500, 10_000),
        "{backend}"
    );
    // One more judgment each decides every item (fixed: at max = 5).
    let mut last = String::from("item_id,annotator,answer\n");
    for i in 0..2500 {
        last.push_str(&format!("i{i},w9,H{i}\n"));
    }
    db.import_judgments(&p, &last).await.expect("import");
    let mut snap = db.store.export_snapshot().await.unwrap();
    let rows = common::export_rows(&mut snap, p.id).await;
    snap.close().await.unwrap();
    assert_eq!(rows.len(), 2500);
    for (i, r) in rows.iter().enumerate() {
        assert_eq!(
            r.external_id,
            format!("i{i}"),
            "{backend}: import order kept"
        );
        assert_eq!(r.status, "resolved", "{backend}");
        assert_eq!(
            r.label.as_deref(),
            Some(format!("h{i}").as_str()),
            "{backend}"
        );
        assert_eq!((r.votes, r.judgments), (4, 5), "{backend}");
    }
    db.finish().await;
}
on_both_backends!(
    #[tokio::test]
    bulk_imports_span_several_statements
);
