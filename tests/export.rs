//! The export contract on both backends: exact labels CSV bytes, stats values worked by hand,
//! the annotators table, and a lossless judgments round trip.

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
    let pass = export::write_labels(&mut snap, p, &mut out, export::Cells::Exact, &NoProgress)
        .await
        .expect("labels");
    let stats = export::finish_stats(&mut snap, p, pass)
        .await
        .expect("stats");
    snap.close().await.expect("close");
    (String::from_utf8(out).expect("utf-8"), stats)
}

#[tokio::test]
async fn labels_csv_and_stats_follow_the_contract() {
    for (backend, db) in TestDb::all().await {
        let p = db.project(&leagues_fixed()).await;
        db.import_items(
            &p,
            "item_id,name,team\ni1,P1,\"Lakers, LA\"\ni2,P2,x\ni3,P3,y\ni4,P4,\"=cmd()\"\n",
        )
        .await;
        db.import_judgments(&p, JUDGMENTS).await.expect("judgments");
        let (csv, stats) = labels(&db, &p).await;
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
        let mut annotators = Vec::new();
        export::write_annotators(&stats, &mut annotators, export::Cells::Exact).unwrap();
        assert_eq!(
            String::from_utf8(annotators).unwrap(),
            "annotator,judgments,agreement_with_consensus,cohen_kappa_vs_consensus\n\
             w1,3,0.5,0\nw2,3,1,1\nw3,3,1,1\n"
        );
        db.finish().await;
    }
}

#[tokio::test]
async fn fleiss_kappa_is_null_with_unequal_counts() {
    for (backend, db) in TestDb::all().await {
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
}

#[tokio::test]
async fn judgments_export_reimports_losslessly() {
    for (backend, db) in TestDb::all().await {
        let p = db.project(&leagues_fixed()).await;
        db.import_items(&p, "item_id,name\ni1,P1\ni2,P2\ni3,P3\n")
            .await;
        db.import_judgments(&p, JUDGMENTS).await.unwrap();
        let mut first = Vec::new();
        let mut snap = db.store.export_snapshot().await.unwrap();
        export::write_judgments(&mut snap, &p, &mut first, export::Cells::Exact, &NoProgress)
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
            &mut second,
            export::Cells::Exact,
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
}

#[tokio::test]
async fn adjudicated_items_export_with_their_label() {
    for (backend, db) in TestDb::all().await {
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
}
