//! The export contract on both backends: exact labels CSV bytes, stats values worked by hand,
//! the annotators table, and a lossless judgments round trip.

#[macro_use]
mod common;

use common::{LEAGUES, TestDb};
use quorum::interfaces::formats::export;
use quorum::store::NoProgress;

const FIXED_2_OF_3: &str = "fixed";

fn leagues_fixed() -> String {
    LEAGUES.replace("stop = \"early\"", &format!("stop = \"{FIXED_2_OF_3}\""))
}

const JUDGMENTS: &str = "item_id,annotator,answer\n\
    i1,w1,nba\ni1,w2,NBA\ni1,w3,nba\n\
    i2,w1,nba\ni2,w2,nfl\ni2,w3,nfl\n\
    i3,w1,nba\ni3,w2,nfl\ni3,w3,mlb\n";

async fn labels(db: &TestDb, p: &quorum::store::Project) -> (String, export::ProjectStats) {
    let mut out = Vec::new();
    let mut snap = db.store.export_snapshot().await.expect("snapshot");
    let pass = export::write_labels(
        &mut snap,
        p,
        &mut export::ExportOut::writer(&mut out),
        export::Shape::CSV,
        &NoProgress,
    )
    .await
    .expect("labels");
    let stats = export::finish_stats(&mut snap, pass).await.expect("stats");
    snap.close().await.expect("close");
    (String::from_utf8(out).expect("utf-8"), stats)
}

/// The crowd-model cells of each labels row (`confidence`, `model_label`, `model_confidence`),
/// as the domain model fitted independently from the stored judgments says they must be:
/// the export contract is that these columns are that fit, in the same order of evidence.
async fn expected_model_cells(
    db: &TestDb,
    p: &quorum::store::Project,
) -> std::collections::BTreeMap<String, [String; 3]> {
    expected_model(db, p).await.0
}

/// [`expected_model_cells`] and each annotator's estimated accuracy, by name.
async fn expected_model(
    db: &TestDb,
    p: &quorum::store::Project,
) -> (
    std::collections::BTreeMap<String, [String; 3]>,
    std::collections::BTreeMap<String, f64>,
) {
    use quorum::domain::crowd::{dawid_skene::Options, project_model::ModelBuilder};
    let items: Vec<(i64, String, String, Option<String>)> = sqlx::query_as(
        "SELECT id, external_id, status, label FROM items WHERE project_id = $1 ORDER BY id",
    )
    .bind(p.id)
    .fetch_all(db.store.pool())
    .await
    .expect("items");
    let judgments: Vec<(i64, i64, String)> = sqlx::query_as(
        "SELECT j.item_id, j.annotator_id, j.normalized FROM judgments j \
         JOIN items i ON i.id = j.item_id WHERE i.project_id = $1 ORDER BY j.item_id, j.id",
    )
    .bind(p.id)
    .fetch_all(db.store.pool())
    .await
    .expect("judgments");
    let mut builder = ModelBuilder::new(p.answer());
    for (id, _, status, label) in &items {
        let known = (status == "adjudicated")
            .then_some(label.as_deref())
            .flatten();
        builder.add_item(
            *id,
            judgments
                .iter()
                .filter(|j| j.0 == *id)
                .map(|j| (j.1, j.2.as_str())),
            known,
        );
    }
    let model = builder.fit(&Options::default()).expect("fit");
    let names: std::collections::BTreeMap<i64, String> =
        sqlx::query_as::<_, (i64, String)>("SELECT id, name FROM users")
            .fetch_all(db.store.pool())
            .await
            .expect("users")
            .into_iter()
            .collect();
    let accuracy = model
        .annotators()
        .map(|a| (names[&a.annotator_id].clone(), a.estimated_accuracy))
        .collect();
    let cells = items
        .iter()
        .map(|(id, external, _, label)| {
            let belief = model.item(*id);
            let model_label = belief.and_then(|b| b.model_label);
            let confidence = match (belief, label) {
                (Some(b), Some(l)) => model.posterior(&b, l).to_string(),
                _ => String::new(),
            };
            let cells = [
                confidence,
                model_label.map_or(String::new(), |(l, _)| l.to_owned()),
                model_label.map_or(String::new(), |(_, c)| c.to_string()),
            ];
            (external.clone(), cells)
        })
        .collect();
    (cells, accuracy)
}

/// Splits a labels CSV into the text without the three crowd-model columns and those cells
/// per item.
fn split_model_cells(csv_text: &str) -> (String, std::collections::BTreeMap<String, [String; 3]>) {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .from_reader(csv_text.as_bytes());
    let mut out = csv::Writer::from_writer(Vec::new());
    let mut cells = std::collections::BTreeMap::new();
    for (n, record) in reader.records().enumerate() {
        let record = record.expect("record");
        let kept: Vec<&str> = record
            .iter()
            .enumerate()
            .filter(|(i, _)| !(7..10).contains(i))
            .map(|(_, c)| c)
            .collect();
        out.write_record(&kept).expect("write");
        if n > 0 {
            cells.insert(
                record[0].to_owned(),
                [
                    record[7].to_owned(),
                    record[8].to_owned(),
                    record[9].to_owned(),
                ],
            );
        }
    }
    (
        String::from_utf8(out.into_inner().expect("flush")).expect("utf-8"),
        cells,
    )
}

async fn labels_csv_and_stats_follow_the_contract(db: TestDb) {
    let backend = db.backend();
    let p = db.project(&leagues_fixed()).await;
    db.import_items(
        &p,
        "item_id,name,team\ni1,P1,\"Lakers, LA\"\ni2,P2,x\ni3,P3,y\ni4,P4,\"=cmd()\"\n",
    )
    .await;
    db.import_judgments(&p, JUDGMENTS).await.expect("judgments");
    let (csv, stats) = labels(&db, &p).await;
    assert!(
        csv.starts_with(
            "item_id,status,label,votes,judgments,agreement,answers,\
             confidence,model_label,model_confidence,input.name,input.team\n"
        ),
        "{backend}: {csv}"
    );
    let (csv, model_cells) = split_model_cells(&csv);
    assert_eq!(
        model_cells,
        expected_model_cells(&db, &p).await,
        "{backend}"
    );
    // Resolved items carry their label's posterior; the unjudged item has no model cells;
    // every judged item has a model label whatever its status.
    assert_eq!(model_cells["i1"][1], "nba", "{backend}");
    assert_eq!(model_cells["i1"][0], model_cells["i1"][2], "{backend}");
    assert!(model_cells["i3"][0].is_empty() && !model_cells["i3"][1].is_empty());
    assert_eq!(
        model_cells["i4"],
        [String::new(), String::new(), String::new()]
    );
    for c in model_cells.values().flat_map(|c| [&c[0], &c[2]]) {
        assert!(
            c.is_empty() || (0.0..=1.0).contains(&c.parse::<f64>().unwrap()),
            "{c}"
        );
    }
    assert_eq!(
        csv,
        "item_id,status,label,votes,judgments,agreement,answers,input.name,input.team\n\
         i1,resolved,nba,3,3,1,\"{\"\"nba\"\":3}\",P1,\"Lakers, LA\"\n\
         i2,resolved,nfl,2,3,0.6666666666666666,\"{\"\"nfl\"\":2,\"\"nba\"\":1}\",P2,x\n\
         i3,unresolved,,1,3,0.3333333333333333,\"{\"\"mlb\"\":1,\"\"nba\"\":1,\"\"nfl\"\":1}\",P3,y\n\
         i4,pending,,0,0,,{},P4,=cmd()\n",
        "{backend}"
    );
    // Worked by hand: P_i = 1, 1/3, 0; category totals nba 5, nfl 3, mlb 1 over 9 values.
    assert_eq!(
        (stats.items, stats.resolved, stats.unresolved, stats.pending),
        (4, 2, 1, 1)
    );
    assert_eq!((stats.judgments, stats.annotators), (9, 3));
    let close = |a: Option<f64>, b: f64| a.is_some_and(|a| (a - b).abs() < 1e-12);
    assert!(
        close(stats.percent_agreement, 4.0 / 9.0),
        "{backend}: {:?}",
        stats.percent_agreement
    );
    assert!(
        close(stats.fleiss_kappa, 1.0 / 46.0),
        "{backend}: {:?}",
        stats.fleiss_kappa
    );
    assert!(
        close(stats.krippendorff_alpha, 6.0 / 46.0),
        "{backend}: {:?}",
        stats.krippendorff_alpha
    );
    let per: Vec<_> = stats
        .per_annotator
        .iter()
        .map(|a| {
            (
                a.annotator.as_str(),
                a.judgments,
                a.agreement_with_consensus,
                a.cohen_kappa_vs_consensus,
            )
        })
        .collect();
    assert_eq!(
        per,
        [
            ("w1", 3, Some(0.5), Some(0.0)),
            ("w2", 3, Some(1.0), Some(1.0)),
            ("w3", 3, Some(1.0), Some(1.0)),
        ],
        "{backend}"
    );
    let mut json = Vec::new();
    export::write_stats(&stats, &mut json).unwrap();
    let v: serde_json::Value = serde_json::from_slice(&json).unwrap();
    for key in [
        "items",
        "resolved",
        "unresolved",
        "pending",
        "judgments",
        "annotators",
        "percent_agreement",
        "fleiss_kappa",
        "krippendorff_alpha",
        "per_annotator",
    ] {
        assert!(v.get(key).is_some(), "stats JSON lacks {key}");
    }
    assert_eq!(
        v["fleiss_kappa"].as_f64(),
        Some(1.0 / 46.0),
        "full precision"
    );
    let (_, accuracy) = expected_model(&db, &p).await;
    let ds = &v["dawid_skene"];
    assert_eq!(ds["model"], "confusion", "{backend}");
    assert!(ds["iterations"].as_u64().unwrap() >= 1);
    assert!(ds["converged"].is_boolean());
    assert_eq!(ds["items"], 3, "{backend}: judged items");
    assert!(ds["model_label_differs_from_plurality"].is_u64());
    for (name, a) in &accuracy {
        let got = ds["estimated_accuracy"][name].as_f64().unwrap();
        assert!((got - a).abs() < 1e-15, "{backend}: {name}");
    }
    let mut annotators = Vec::new();
    export::write_annotators(&stats, &mut annotators, export::Cells::Exact).unwrap();
    assert_eq!(
        String::from_utf8(annotators).unwrap(),
        format!(
            "annotator,judgments,agreement_with_consensus,cohen_kappa_vs_consensus,estimated_accuracy\n\
             w1,3,0.5,0,{}\nw2,3,1,1,{}\nw3,3,1,1,{}\n",
            accuracy["w1"], accuracy["w2"], accuracy["w3"]
        )
    );
    db.finish().await;
}
on_both_backends!(
    #[tokio::test]
    labels_csv_and_stats_follow_the_contract
);

async fn fleiss_kappa_is_null_with_unequal_counts(db: TestDb) {
    let backend = db.backend();
    let p = db.project(&leagues_fixed()).await;
    db.import_judgments(
        &p,
        "item_id,annotator,answer\na,w1,nba\na,w2,nba\nb,w1,nba\nb,w2,nfl\nb,w3,nfl\n",
    )
    .await
    .unwrap();
    let (_, stats) = labels(&db, &p).await;
    assert_eq!(stats.fleiss_kappa, None, "{backend}");
    assert!(
        stats.krippendorff_alpha.is_some() && stats.percent_agreement.is_some(),
        "{backend}"
    );
    db.finish().await;
}
on_both_backends!(
    #[tokio::test]
    fleiss_kappa_is_null_with_unequal_counts
);

async fn judgments_export_reimports_losslessly(db: TestDb) {
    let backend = db.backend();
    let p = db.project(&leagues_fixed()).await;
    db.import_items(&p, "item_id,name\ni1,P1\ni2,P2\ni3,P3\n")
        .await;
    db.import_judgments(&p, JUDGMENTS).await.unwrap();
    let mut first = Vec::new();
    let mut snap = db.store.export_snapshot().await.unwrap();
    export::write_judgments(
        &mut snap,
        &p,
        &mut export::ExportOut::writer(&mut first),
        export::Shape::CSV,
        &NoProgress,
    )
    .await
    .unwrap();
    snap.close().await.unwrap();
    let first = String::from_utf8(first).unwrap();
    assert!(
        first.starts_with("item_id,annotator,answer,normalized,submitted_at\ni1,w1,nba,nba,"),
        "{first}"
    );
    assert!(
        first.contains("i1,w2,NBA,nba,"),
        "raw and normalised answers both kept: {first}"
    );

    let copy = db
        .project(&leagues_fixed().replace("slug = \"leagues\"", "slug = \"copy\""))
        .await;
    db.import_items(&copy, "item_id,name\ni1,P1\ni2,P2\ni3,P3\n")
        .await;
    let s = db
        .import_judgments(&copy, &first)
        .await
        .expect("re-import export");
    assert_eq!(s.judgments_added, 9, "{backend}");
    let mut second = Vec::new();
    let mut snap = db.store.export_snapshot().await.unwrap();
    export::write_judgments(
        &mut snap,
        &copy,
        &mut export::ExportOut::writer(&mut second),
        export::Shape::CSV,
        &NoProgress,
    )
    .await
    .unwrap();
    snap.close().await.unwrap();
    assert_eq!(
        String::from_utf8(second).unwrap(),
        first,
        "{backend}: identical after round trip"
    );
    assert_eq!(
        labels(&db, &copy).await.0,
        labels(&db, &p).await.0,
        "{backend}"
    );
    db.finish().await;
}
on_both_backends!(
    #[tokio::test]
    judgments_export_reimports_losslessly
);

async fn adjudicated_items_export_with_their_label(db: TestDb) {
    let backend = db.backend();
    let p = db.project(&leagues_fixed()).await;
    db.import_judgments(
        &p,
        "item_id,annotator,answer\nx,w1,nba\nx,w2,nfl\nx,w3,mlb\n",
    )
    .await
    .unwrap();
    let owner = db
        .store
        .create_user(&quorum::store::NewUser {
            email: "o@example.com".into(),
            role: quorum::store::Role::Owner,
            password_hash: String::new(),
        })
        .await
        .unwrap();
    let item = db.store.unresolved_items(p.id, 10).await.unwrap()[0].id;
    assert!(
        db.store
            .adjudicate(&p, item, "hockey", owner.id, 1)
            .await
            .is_err(),
        "{backend}"
    );
    assert_eq!(
        db.store
            .adjudicate(&p, item, " NHL ", owner.id, 1)
            .await
            .unwrap(),
        "nhl"
    );
    let (csv, stats) = labels(&db, &p).await;
    assert!(csv.contains("\nx,adjudicated,nhl,1,3,"), "{backend}: {csv}");
    assert_eq!((stats.adjudicated, stats.unresolved), (1, 0), "{backend}");
    db.finish().await;
}
on_both_backends!(
    #[tokio::test]
    adjudicated_items_export_with_their_label
);

/// A labels or judgments export of `shape` as text, with the cursor of its read view.
async fn export_text(
    db: &TestDb,
    p: &quorum::store::Project,
    judgments: bool,
    shape: export::Shape,
) -> (String, i64) {
    let mut out = Vec::new();
    let mut snap = db.store.export_snapshot().await.expect("snapshot");
    let cursor = snap.change_cursor(p.id).await.expect("cursor");
    let mut sink = export::ExportOut::writer(&mut out);
    if judgments {
        export::write_judgments(&mut snap, p, &mut sink, shape, &NoProgress)
            .await
            .expect("judgments");
    } else {
        export::write_labels(&mut snap, p, &mut sink, shape, &NoProgress)
            .await
            .expect("labels");
    }
    snap.close().await.expect("close");
    (String::from_utf8(out).expect("utf-8"), cursor)
}

async fn json_lines_and_status_filters_follow_the_contract(db: TestDb) {
    let backend = db.backend();
    let p = db.project(&leagues_fixed()).await;
    db.import_items(
        &p,
        "item_id,name,team\ni1,P1,\"Lakers, LA\"\ni2,P2,x\ni3,P3,y\ni4,P4,\"=cmd()\"\n",
    )
    .await;
    db.import_judgments(&p, JUDGMENTS).await.expect("judgments");
    let jsonl = export::Shape::CSV.with_format(export::Format::Jsonl);
    let (labels, _) = export_text(&db, &p, false, jsonl).await;
    let expected_cells = expected_model_cells(&db, &p).await;
    let mut stripped = String::new();
    for line in labels.lines() {
        let keys: Vec<String> =
            serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(line)
                .unwrap()
                .keys()
                .cloned()
                .collect();
        assert_eq!(
            keys,
            [
                "item_id",
                "status",
                "label",
                "votes",
                "judgments",
                "agreement",
                "answers",
                "confidence",
                "model_label",
                "model_confidence",
                "input"
            ],
            "{backend}: keys in contract order"
        );
        let mut v: serde_json::Value = serde_json::from_str(line).unwrap();
        let row = v.as_object_mut().unwrap();
        let id = row["item_id"].as_str().unwrap().to_owned();
        let cell = |v: serde_json::Value| match v {
            serde_json::Value::Null => String::new(),
            serde_json::Value::String(s) => s,
            serde_json::Value::Number(n) => n.as_f64().unwrap().to_string(),
            other => panic!("{other}"),
        };
        let got = [
            cell(row.remove("confidence").unwrap()),
            cell(row.remove("model_label").unwrap()),
            cell(row.remove("model_confidence").unwrap()),
        ];
        // serde_json reads floats to within an ulp; the text itself is the shortest
        // round-trip form, as in the CSV.
        let want = &expected_cells[&id];
        assert_eq!(got[1], want[1], "{backend}: {id}");
        for k in [0, 2] {
            match (got[k].parse::<f64>(), want[k].parse::<f64>()) {
                (Ok(a), Ok(b)) => assert!((a - b).abs() < 1e-15, "{backend}: {id} {a} {b}"),
                _ => assert_eq!(got[k], want[k], "{backend}: {id}"),
            }
        }
        stripped.push_str(&serde_json::to_string(&v).unwrap());
        stripped.push('\n');
    }
    let labels = stripped;
    assert_eq!(
        labels,
        "{\"item_id\":\"i1\",\"status\":\"resolved\",\"label\":\"nba\",\"votes\":3,\"judgments\":3,\"agreement\":1.0,\"answers\":{\"nba\":3},\"input\":{\"name\":\"P1\",\"team\":\"Lakers, LA\"}}\n\
         {\"item_id\":\"i2\",\"status\":\"resolved\",\"label\":\"nfl\",\"votes\":2,\"judgments\":3,\"agreement\":0.6666666666666666,\"answers\":{\"nfl\":2,\"nba\":1},\"input\":{\"name\":\"P2\",\"team\":\"x\"}}\n\
         {\"item_id\":\"i3\",\"status\":\"unresolved\",\"label\":null,\"votes\":1,\"judgments\":3,\"agreement\":0.3333333333333333,\"answers\":{\"mlb\":1,\"nba\":1,\"nfl\":1},\"input\":{\"name\":\"P3\",\"team\":\"y\"}}\n\
         {\"item_id\":\"i4\",\"status\":\"pending\",\"label\":null,\"votes\":0,\"judgments\":0,\"agreement\":null,\"answers\":{},\"input\":{\"name\":\"P4\",\"team\":\"=cmd()\"}}\n",
        "{backend}"
    );
    let (judgments, _) = export_text(&db, &p, true, jsonl).await;
    let first = judgments.lines().next().unwrap();
    let v: serde_json::Value = serde_json::from_str(first).unwrap();
    assert_eq!(
        (
            v["item_id"].as_str(),
            v["annotator"].as_str(),
            v["answer"].as_str(),
            v["normalized"].as_str()
        ),
        (Some("i1"), Some("w1"), Some("nba"), Some("nba")),
        "{backend}"
    );
    assert!(v["submitted_at"].as_str().unwrap().ends_with('Z'));
    assert_eq!(judgments.lines().count(), 9);

    let resolved = export::Shape::CSV.with_filter(quorum::store::ItemFilter {
        status: Some(quorum::domain::Status::Resolved),
        since: None,
    });
    let (csv, _) = export_text(&db, &p, false, resolved).await;
    let ids: Vec<&str> = csv.lines().skip(1).map(|l| &l[..2]).collect();
    assert_eq!(ids, ["i1", "i2"], "{backend}: {csv}");
    let (csv, _) = export_text(&db, &p, true, resolved).await;
    assert_eq!(
        csv.lines().count(),
        1 + 6,
        "{backend}: judgments of resolved items"
    );
    db.finish().await;
}
on_both_backends!(
    #[tokio::test]
    json_lines_and_status_filters_follow_the_contract
);

async fn a_cursor_gives_exactly_what_changed_after_it(db: TestDb) {
    let backend = db.backend();
    let p = db.project(LEAGUES).await;
    db.import_items(&p, "item_id,name\ni1,P1\ni2,P2\ni3,P3\n")
        .await;
    let (full, c1) = export_text(&db, &p, false, export::Shape::CSV).await;
    assert_eq!(full.lines().count(), 4, "{backend}");
    assert!(c1 > 0, "{backend}: importing items is a change");
    let since = |c: i64| {
        export::Shape::CSV.with_filter(quorum::store::ItemFilter {
            status: None,
            since: Some(c),
        })
    };
    let (nothing, c1_again) = export_text(&db, &p, false, since(c1)).await;
    assert_eq!(
        (nothing.lines().count(), c1_again),
        (1, c1),
        "{backend}: header only"
    );

    db.import_judgments(&p, "item_id,annotator,answer\ni2,w1,nba\n")
        .await
        .unwrap();
    let (changed, c2) = export_text(&db, &p, false, since(c1)).await;
    assert!(c2 > c1);
    assert_eq!(
        changed.lines().skip(1).map(|l| &l[..2]).collect::<Vec<_>>(),
        ["i2"],
        "{backend}: {changed}"
    );
    let (judgments, _) = export_text(&db, &p, true, since(c1)).await;
    assert_eq!(judgments.lines().count(), 2, "{backend}: {judgments}");
    // New items and changed items both count; earlier ones do not come back.
    db.import_items(&p, "item_id,name\ni4,P4\n").await;
    db.import_judgments(&p, "item_id,annotator,answer\ni3,w1,nfl\n")
        .await
        .unwrap();
    let (changed, _) = export_text(&db, &p, false, since(c2)).await;
    assert_eq!(
        changed.lines().skip(1).map(|l| &l[..2]).collect::<Vec<_>>(),
        ["i3", "i4"],
        "{backend}: {changed}"
    );
    db.finish().await;
}
on_both_backends!(
    #[tokio::test]
    a_cursor_gives_exactly_what_changed_after_it
);

/// Annotators label while a pipeline pulls increments; the items of all pulls, each at its
/// latest version, equal the final full export exactly.
async fn incremental_pulls_under_concurrent_labeling_add_up_to_the_final_export(db: TestDb) {
    use std::collections::BTreeMap;
    use std::sync::Arc;
    let backend = db.backend();
    let db = Arc::new(db);
    let p = Arc::new(
        db.project(
            &LEAGUES
                .replace("agree = 2", "agree = 3")
                .replace("max = 3", "max = 5"),
        )
        .await,
    );
    let mut csv = String::from("item_id,name\n");
    for i in 0..60 {
        csv.push_str(&format!("i{i:02},P{i}\n"));
    }
    db.import_items(&p, &csv).await;
    let mut workers = Vec::new();
    for n in 0..8 {
        let (db, p) = (db.clone(), p.clone());
        workers.push(tokio::spawn(async move {
            let uid = db
                .store
                .create_user(&quorum::store::NewUser {
                    email: format!("a{n}@example.com"),
                    role: quorum::store::Role::Annotator,
                    password_hash: "x".into(),
                })
                .await
                .unwrap()
                .id;
            let mut now = 1_800_000_000_000;
            while let Some(lease) = db.store.next_item(&p, uid, now).await.unwrap() {
                now += 1;
                let answer = ["nba", "nfl", "nba", "mlb"][(now as usize + n) % 4];
                db.store
                    .submit(&p, lease.id, uid, answer, "api", now)
                    .await
                    .unwrap();
            }
        }));
    }
    // The pipeline pulls in this task while the annotators work in theirs, and once more
    // after the last of them finished.
    let mut merged: BTreeMap<String, String> = BTreeMap::new();
    let mut cursor = None;
    let mut pulls = 0;
    loop {
        let finished = workers.iter().all(|w| w.is_finished());
        let shape = export::Shape::CSV.with_filter(quorum::store::ItemFilter {
            status: None,
            since: cursor,
        });
        let (text, next) = export_text(&db, &p, false, shape).await;
        let (text, _) = split_model_cells(&text);
        for line in text.lines().skip(1) {
            let id = line.split(',').next().unwrap().to_owned();
            merged.insert(id, line.to_owned());
        }
        cursor = Some(next);
        pulls += 1;
        if finished {
            break;
        }
        tokio::task::yield_now().await;
    }
    for w in workers {
        w.await.unwrap();
    }
    // The crowd-model columns describe the fit at each pull, so only the rest must add up.
    let (full, _) = export_text(&db, &p, false, export::Shape::CSV).await;
    let (full, _) = split_model_cells(&full);
    let expected: BTreeMap<String, String> = full
        .lines()
        .skip(1)
        .map(|l| (l.split(',').next().unwrap().to_owned(), l.to_owned()))
        .collect();
    assert!(
        pulls > 2,
        "{backend}: pulled while labeling ({pulls} pulls)"
    );
    assert_eq!(merged, expected, "{backend}");
    match Arc::try_unwrap(db) {
        Ok(db) => db.finish().await,
        Err(_) => panic!("database still shared"),
    }
}
on_both_backends!(
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    incremental_pulls_under_concurrent_labeling_add_up_to_the_final_export
);

/// Exports read a thousand items per query: rows must come out complete and in import order
/// across page boundaries, including whole pages of items nobody judged, with filters too.
async fn exports_page_through_large_projects_in_import_order(db: TestDb) {
    let backend = db.backend();
    let p = db.project(&leagues_fixed()).await;
    let n = 2_345;
    let mut items = String::from("item_id,name\n");
    for i in 0..n {
        items.push_str(&format!("it{i},\"Player \"\"{i}\"\", é\"\n"));
    }
    db.import_items(&p, &items).await;
    // Items 1000..2100 stay unjudged: the second page has no judgments at all.
    let mut judgments = String::from("item_id,annotator,answer\n");
    let mut judged = 0;
    for i in (0..n).filter(|i| !(1000..2100).contains(i) && i % 7 != 0) {
        let answers = if i % 3 == 0 {
            ["nba", "nfl", "mlb"]
        } else {
            ["nba", "nba", "nfl"]
        };
        for (w, a) in answers.iter().enumerate() {
            judgments.push_str(&format!("it{i},w{w},{a}\n"));
            judged += 1;
        }
    }
    db.import_judgments(&p, &judgments)
        .await
        .expect("judgments");

    let expected_ids: Vec<String> = (0..n).map(|i| format!("it{i}")).collect();
    let (labels, _) = export_text(&db, &p, false, export::Shape::CSV).await;
    let mut reader = csv::Reader::from_reader(labels.as_bytes());
    let rows: Vec<csv::StringRecord> = reader.records().map(|r| r.expect("row")).collect();
    let ids: Vec<&str> = rows.iter().map(|r| &r[0]).collect();
    assert_eq!(
        ids, expected_ids,
        "{backend}: every item once, in import order"
    );
    assert_eq!(&rows[5][10], "Player \"5\", é", "{backend}: input cell");

    let jsonl = export::Shape::CSV.with_format(export::Format::Jsonl);
    let (lines, _) = export_text(&db, &p, false, jsonl).await;
    let ids: Vec<String> = lines
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).expect("json line");
            v["item_id"].as_str().expect("id").to_owned()
        })
        .collect();
    assert_eq!(ids, expected_ids, "{backend}: JSON lines too");

    // The judgments in (item, submission) order, as the database has them.
    let reference: Vec<(String, String)> = sqlx::query_as(
        "SELECT i.external_id, u.name FROM items i JOIN judgments j ON j.item_id = i.id \
         JOIN users u ON u.id = j.annotator_id WHERE i.project_id = $1 ORDER BY i.id, j.id",
    )
    .bind(p.id)
    .fetch_all(db.store.pool())
    .await
    .expect("reference");
    assert_eq!(reference.len(), judged, "{backend}");
    let (text, _) = export_text(&db, &p, true, export::Shape::CSV).await;
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    let exported: Vec<(String, String)> = reader
        .records()
        .map(|r| {
            let r = r.expect("row");
            (r[0].to_owned(), r[1].to_owned())
        })
        .collect();
    assert_eq!(exported, reference, "{backend}: judgments across pages");

    let resolved = export::Shape::CSV.with_filter(quorum::store::ItemFilter {
        status: Some(quorum::domain::Status::Resolved),
        since: None,
    });
    let expected: Vec<String> = (0..n)
        .filter(|i| !(1000..2100).contains(i) && i % 7 != 0 && i % 3 != 0)
        .map(|i| format!("it{i}"))
        .collect();
    let (labels, _) = export_text(&db, &p, false, resolved).await;
    let mut reader = csv::Reader::from_reader(labels.as_bytes());
    let ids: Vec<String> = reader
        .records()
        .map(|r| r.expect("row")[0].to_owned())
        .collect();
    assert_eq!(ids, expected, "{backend}: a status filter across pages");
    let (text, _) = export_text(&db, &p, true, resolved).await;
    assert_eq!(
        text.lines().count(),
        1 + 3 * expected.len(),
        "{backend}: judgments of resolved items across pages"
    );
    db.finish().await;
}
on_both_backends!(
    #[tokio::test]
    exports_page_through_large_projects_in_import_order
);

/// Pages hold about a mebibyte: items with large input fields come a few per page, still all of
/// them in order. On SQLite a NUL character inside a text survives the packing (PostgreSQL
/// refuses NUL in text outright).
async fn large_items_and_nul_characters_export_whole(db: TestDb) {
    let backend = db.backend();
    let p = db.project(&leagues_fixed()).await;
    let big = "x".repeat(40_000);
    let mut items = String::from("item_id,notes\n");
    for i in 0..130 {
        items.push_str(&format!("big{i},{big}{i}\n"));
    }
    db.import_items(&p, &items).await;
    db.import_judgments(&p, "item_id,annotator,answer\nbig7,w1,nba\nbig7,w2,nba\n")
        .await
        .expect("judgments");
    if backend == "sqlite" {
        sqlx::query(
            "UPDATE judgments SET answer = 'n' || char(0) || 'ba' WHERE annotator_id = \
             (SELECT id FROM users WHERE name = 'w2')",
        )
        .execute(db.store.pool())
        .await
        .expect("a NUL in an answer");
        sqlx::query(
            "UPDATE items SET external_id = 'big' || char(0) || '9' WHERE external_id = 'big9'",
        )
        .execute(db.store.pool())
        .await
        .expect("a NUL in an item id");
    }
    let (labels, _) = export_text(&db, &p, false, export::Shape::CSV).await;
    let mut reader = csv::Reader::from_reader(labels.as_bytes());
    let rows: Vec<csv::StringRecord> = reader.records().map(|r| r.expect("row")).collect();
    assert_eq!(rows.len(), 130, "{backend}");
    for (i, row) in rows.iter().enumerate() {
        let id = if i == 9 && backend == "sqlite" {
            "big\u{0}9".to_owned()
        } else {
            format!("big{i}")
        };
        assert_eq!(&row[0], id, "{backend}: item {i} in order");
        assert_eq!(&row[10], format!("{big}{i}"), "{backend}: item {i} whole");
    }
    assert_eq!(&rows[7][4], "2", "{backend}: judgments counted");
    let (judgments, _) = export_text(&db, &p, true, export::Shape::CSV).await;
    let expected = if backend == "sqlite" {
        "item_id,annotator,answer,normalized,submitted_at\nbig7,w1,nba,nba,\nbig7,w2,n\u{0}ba,nba,\n"
    } else {
        "item_id,annotator,answer,normalized,submitted_at\nbig7,w1,nba,nba,\nbig7,w2,nba,nba,\n"
    };
    let without_times: String = judgments
        .lines()
        .map(|l| match l.rfind(',') {
            Some(cut) if l.ends_with('Z') => format!("{},\n", &l[..cut]),
            _ => format!("{l}\n"),
        })
        .collect();
    assert_eq!(without_times, expected, "{backend}");
    db.finish().await;
}
on_both_backends!(
    #[tokio::test]
    large_items_and_nul_characters_export_whole
);

/// The model cells a re-fit stores are the export's own: an export that reads them (nothing
/// changed since the fit) gives the labels and stats a fresh fit gives, byte for byte; any
/// change (a judgment, an adjudication) makes them stale and the export fits again.
async fn stored_model_cells_export_the_same_bytes_as_a_fresh_fit(db: TestDb) {
    let backend = db.backend();
    let p = db.project(&leagues_fixed()).await;
    db.import_items(&p, "item_id,name\ni1,P1\ni2,P2\ni3,P3\ni4,P4\n")
        .await;
    db.import_judgments(&p, JUDGMENTS).await.expect("judgments");
    let stored = |db: &TestDb| {
        let store = db.store.clone();
        async move {
            let mut snap = store.export_snapshot().await.unwrap();
            let s = snap.stored_model(p.id).await.unwrap();
            snap.close().await.unwrap();
            s.is_some()
        }
    };
    assert!(!stored(&db).await, "{backend}: nothing fitted yet");
    let (fresh_csv, fresh_stats) = labels(&db, &p).await;
    let refit = db.store.refit_model(&p).await.unwrap();
    assert!(refit.cells_stored, "{backend}: {refit:?}");
    assert!(
        stored(&db).await,
        "{backend}: cells current after the re-fit"
    );
    let (csv, stats) = labels(&db, &p).await;
    assert_eq!(csv, fresh_csv, "{backend}");
    assert_eq!(stats, fresh_stats, "{backend}");
    // A new judgment: the cells are stale, and the export is a fresh fit of the new data.
    db.import_judgments(&p, "item_id,annotator,answer\ni4,w1,nfl\n")
        .await
        .expect("judgment");
    assert!(!stored(&db).await, "{backend}: stale after a judgment");
    let (csv, _) = labels(&db, &p).await;
    assert_ne!(csv, fresh_csv, "{backend}");
    let (_, cells) = split_model_cells(&csv);
    assert_eq!(cells, expected_model_cells(&db, &p).await, "{backend}");
    assert_eq!(cells["i4"][1], "nfl", "{backend}");
    // Re-fitted again and read back: the same bytes once more.
    db.store.refit_model(&p).await.unwrap();
    assert!(stored(&db).await, "{backend}");
    assert_eq!(labels(&db, &p).await.0, csv, "{backend}");
    db.finish().await;
}
on_both_backends!(
    #[tokio::test]
    stored_model_cells_export_the_same_bytes_as_a_fresh_fit
);

/// The server's periodic check stores the cells of a project that has gone quiet: not while
/// it is changing, once at the first check that finds it unchanged, then never again until it
/// changes and goes quiet once more.
async fn quiet_projects_get_their_model_cells_once(db: TestDb) {
    let backend = db.backend();
    let p = db.project(&leagues_fixed()).await;
    let mut seen = std::collections::HashMap::new();
    db.import_items(&p, "item_id,name\ni1,P1\ni2,P2\ni3,P3\ni4,P4\n")
        .await;
    assert_eq!(
        db.store.refit_if_due(&p, &mut seen).await.unwrap(),
        None,
        "{backend}: no judgments, nothing to fit"
    );
    db.import_judgments(&p, JUDGMENTS).await.expect("judgments");
    assert_eq!(
        db.store.refit_if_due(&p, &mut seen).await.unwrap(),
        None,
        "{backend}: changed since the previous check"
    );
    let refit = db.store.refit_if_due(&p, &mut seen).await.unwrap();
    let refit = refit.unwrap_or_else(|| panic!("{backend}: quiet since the previous check"));
    assert!(refit.cells_stored, "{backend}: {refit:?}");
    let mut snap = db.store.export_snapshot().await.unwrap();
    assert!(
        snap.stored_model(p.id).await.unwrap().is_some(),
        "{backend}"
    );
    snap.close().await.unwrap();
    assert_eq!(
        db.store.refit_if_due(&p, &mut seen).await.unwrap(),
        None,
        "{backend}: cells current, nothing due"
    );
    db.import_judgments(&p, "item_id,annotator,answer\ni4,w1,nfl\n")
        .await
        .expect("judgment");
    assert_eq!(
        db.store.refit_if_due(&p, &mut seen).await.unwrap(),
        None,
        "{backend}: changed again"
    );
    let again = db.store.refit_if_due(&p, &mut seen).await.unwrap();
    let again = again.unwrap_or_else(|| panic!("{backend}: quiet again"));
    assert!(
        again.cells_stored && again.judgments == refit.judgments + 1,
        "{backend}: {again:?}"
    );
    // The cells the export reads now are the domain model's of the data as it is.
    let (_, cells) = split_model_cells(&labels(&db, &p).await.0);
    assert_eq!(cells, expected_model_cells(&db, &p).await, "{backend}");
    db.finish().await;
}
on_both_backends!(
    #[tokio::test]
    quiet_projects_get_their_model_cells_once
);
