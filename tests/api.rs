//! The HTTP API on the real app: tokens and scopes, the OpenAPI contract, exports with ETags and
//! cursors, items import and who may do it, and the worker endpoints with their lease conflicts.

#[macro_use]
mod common;

use std::collections::BTreeSet;

use actix_web::dev::{Service, ServiceResponse};
use actix_web::test;
use common::{LEAGUES, TestDb};
use quorum::interfaces::formats::export;
use quorum::store::{NewToken, NewUser, NoProgress, Project, Role, Scopes, Store, now_ms};

struct Reply {
    status: u16,
    headers: actix_web::http::header::HeaderMap,
    body: Vec<u8>,
}

impl Reply {
    fn text(&self) -> String {
        String::from_utf8(self.body.clone()).expect("utf-8")
    }

    fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| panic!("{e}: {}", self.text()))
    }

    fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    }

    /// The stable error code of a JSON error body.
    fn code(&self) -> String {
        self.json()["error"]["code"]
            .as_str()
            .unwrap_or_else(|| panic!("not an error body: {}", self.text()))
            .to_owned()
    }
}

async fn call<S>(app: &S, req: test::TestRequest) -> Reply
where
    S: Service<actix_http::Request, Response = ServiceResponse, Error = actix_web::Error>,
{
    let resp = test::call_service(app, req.to_request()).await;
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let body = test::read_body(resp).await.to_vec();
    Reply {
        status,
        headers,
        body,
    }
}

fn get(path: &str, token: &str) -> test::TestRequest {
    test::TestRequest::get()
        .uri(path)
        .insert_header(("Authorization", format!("Bearer {token}")))
}

fn post(path: &str, token: &str) -> test::TestRequest {
    test::TestRequest::post()
        .uri(path)
        .insert_header(("Authorization", format!("Bearer {token}")))
}

async fn user(store: &Store, email: &str, role: Role) -> i64 {
    store
        .create_user(&NewUser {
            email: email.into(),
            role,
            password_hash: "unused".into(),
        })
        .await
        .unwrap()
        .id
}

/// A new token's secret.
async fn token(store: &Store, user_id: i64, scopes: &str, project: Option<i64>) -> String {
    let secret = quorum::auth::new_token();
    store
        .create_token(
            &NewToken {
                user_id,
                name: "test",
                scopes: Scopes::parse(scopes).unwrap(),
                project_id: project,
                prefix: &secret.prefix,
                secret_hash: &secret.hash,
            },
            now_ms(),
        )
        .await
        .unwrap();
    secret.secret
}

/// The CLI's bytes for a file of the export contract.
async fn cli_export(store: &Store, p: &Project, file: &str) -> Vec<u8> {
    let mut out = Vec::new();
    let mut snap = store.export_snapshot().await.unwrap();
    let mut sink = export::ExportOut::writer(&mut out);
    let jsonl = export::Shape::CSV.with_format(export::Format::Jsonl);
    match file {
        "labels.csv" => {
            export::write_labels(&mut snap, p, &mut sink, export::Shape::CSV, &NoProgress)
                .await
                .unwrap();
        }
        "labels.jsonl" => {
            export::write_labels(&mut snap, p, &mut sink, jsonl, &NoProgress)
                .await
                .unwrap();
        }
        "judgments.csv" => {
            export::write_judgments(&mut snap, p, &mut sink, export::Shape::CSV, &NoProgress)
                .await
                .unwrap();
        }
        "judgments.jsonl" => {
            export::write_judgments(&mut snap, p, &mut sink, jsonl, &NoProgress)
                .await
                .unwrap();
        }
        _ => {
            drop(sink);
            let stats = export::project_stats(store, p).await.unwrap();
            if file == "stats.json" {
                export::write_stats(&stats, &mut out).unwrap();
            } else {
                export::write_annotators(&stats, &mut out, export::Cells::Exact).unwrap();
            }
        }
    }
    snap.close().await.unwrap();
    out
}

/// Two projects of one owner, a rival owner's project, and annotators.
struct World {
    db: TestDb,
    leagues: Project,
    other: Project,
    owner: i64,
    annotator: i64,
}

async fn world(db: TestDb) -> World {
    let s = &db.store;
    let owner = user(s, "owner@example.com", Role::Owner).await;
    let annotator = user(s, "ann@example.com", Role::Annotator).await;
    let config = quorum::domain::ProjectConfig::from_toml(LEAGUES).unwrap();
    let leagues = s.create_project(&config, Some(owner)).await.unwrap();
    let other_config = quorum::domain::ProjectConfig::from_toml(
        &LEAGUES.replace("slug = \"leagues\"", "slug = \"other\""),
    )
    .unwrap();
    let other = s.create_project(&other_config, Some(owner)).await.unwrap();
    s.add_member(leagues.id, annotator).await.unwrap();
    db.import_items(
        &leagues,
        "item_id,name\ni1,\"=HYPERLINK(1)\"\ni2,P2\ni3,P3\n",
    )
    .await;
    db.import_items(&other, "item_id,name\no1,O1\n").await;
    db.import_judgments(
        &leagues,
        "item_id,annotator,answer\ni1,w1,nba\ni1,w2,nba\ni2,w1,nfl\n",
    )
    .await
    .unwrap();
    World {
        db,
        leagues,
        other,
        owner,
        annotator,
    }
}

async fn the_openapi_document_lists_exactly_the_routes_and_every_one_exists(db: TestDb) {
    let w = world(db).await;
    let app = test_app!(w.db.store);
    let doc = call(&app, test::TestRequest::get().uri("/api/v1/openapi.json")).await;
    assert_eq!(doc.status, 200);
    let doc = doc.json();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    let mut documented = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            documented.insert((method.clone(), path.clone()));
        }
    }
    let registered: BTreeSet<(String, String)> = quorum::interfaces::api::ROUTES
        .iter()
        .map(|(m, p)| ((*m).to_owned(), (*p).to_owned()))
        .collect();
    assert_eq!(
        documented, registered,
        "every route documented, every documented route registered"
    );
    assert!(doc["components"]["securitySchemes"]["bearer"].is_object());

    // Each documented operation answers: without a token, 401 with the JSON error body (a
    // route that did not exist would be a 404).
    for (method, path) in &registered {
        let uri = path
            .replace("{slug}", "leagues")
            .replace("{file}", "labels.csv")
            .replace("{lease_id}", "1");
        let req = match method.as_str() {
            "get" => test::TestRequest::get(),
            "post" => test::TestRequest::post(),
            other => panic!("unexpected method {other}"),
        }
        .uri(&uri);
        let reply = call(&app, req).await;
        if path.ends_with("openapi.json") {
            assert_eq!(reply.status, 200);
            continue;
        }
        assert_eq!(reply.status, 401, "{method} {uri}: {}", reply.text());
        assert_eq!(reply.code(), "unauthorized");
        assert!(
            reply
                .header("www-authenticate")
                .unwrap()
                .starts_with("Bearer")
        );
    }
    let missing = call(&app, test::TestRequest::get().uri("/api/v1/nothing")).await;
    assert_eq!(
        (missing.status, missing.code().as_str()),
        (404, "not_found")
    );
    w.db.finish().await;
}
on_both_backends!(
    #[actix_web::test]
    the_openapi_document_lists_exactly_the_routes_and_every_one_exists
);

async fn tokens_reach_only_their_scopes_projects_and_users(db: TestDb) {
    let w = world(db).await;
    let s = &w.db.store;
    let app = test_app!(w.db.store);
    let export_all = token(s, w.owner, "export", None).await;
    let export_other = token(s, w.owner, "export", Some(w.other.id)).await;
    let annotate = token(s, w.annotator, "annotate", None).await;
    let rival = user(s, "rival@example.com", Role::Owner).await;
    let rival_token = token(s, rival, "export,annotate", None).await;

    let listed = call(&app, get("/api/v1/projects", &export_all))
        .await
        .json();
    let slugs: Vec<&str> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["slug"].as_str().unwrap())
        .collect();
    assert_eq!(slugs, ["leagues", "other"]);
    assert_eq!(listed[0]["resolved"], 1);
    let listed = call(&app, get("/api/v1/projects", &export_other))
        .await
        .json();
    assert_eq!(
        listed.as_array().unwrap().len(),
        1,
        "a project-limited token sees one project"
    );
    let listed = call(&app, get("/api/v1/projects", &annotate)).await.json();
    assert_eq!(
        listed.as_array().unwrap().len(),
        1,
        "annotators see the projects they label"
    );
    let listed = call(&app, get("/api/v1/projects", &rival_token))
        .await
        .json();
    assert!(listed.as_array().unwrap().is_empty());

    let labels = "/api/v1/projects/leagues/exports/labels.csv";
    assert_eq!(call(&app, get(labels, &export_all)).await.status, 200);
    let r = call(&app, get(labels, &annotate)).await;
    assert_eq!(
        (r.status, r.code().as_str()),
        (403, "forbidden"),
        "annotate cannot export"
    );
    let r = call(&app, get(labels, &export_other)).await;
    assert_eq!(
        (r.status, r.code().as_str()),
        (404, "not_found"),
        "token for B cannot read A"
    );
    let r = call(&app, get(labels, &rival_token)).await;
    assert_eq!(
        r.status, 404,
        "another owner's project does not exist for this token"
    );
    let r = call(&app, post("/api/v1/projects/leagues/next", &export_all)).await;
    assert_eq!(r.status, 403, "export tokens cannot label");

    // Revoked tokens, unknown tokens, disabled users and malformed headers: 401.
    let id = s.list_tokens(Some(w.owner)).await.unwrap()[0].id;
    s.revoke_token(id, Some(w.owner), now_ms()).await.unwrap();
    let revoked = s.list_tokens(Some(w.owner)).await.unwrap()[0].clone();
    let still = if revoked.project_id.is_some() {
        &export_other
    } else {
        &export_all
    };
    let r = call(&app, get("/api/v1/projects", still)).await;
    assert_eq!((r.status, r.code().as_str()), (401, "unauthorized"));
    let r = call(&app, get("/api/v1/projects", "qrm_nope")).await;
    assert_eq!(r.status, 401);
    let r = call(
        &app,
        test::TestRequest::get()
            .uri("/api/v1/projects")
            .insert_header(("Authorization", "Basic abc")),
    )
    .await;
    assert_eq!(r.status, 401);
    s.set_disabled(w.annotator, true).await.unwrap();
    assert_eq!(
        call(&app, get("/api/v1/projects", &annotate)).await.status,
        401
    );
    w.db.finish().await;
}
on_both_backends!(
    #[actix_web::test]
    tokens_reach_only_their_scopes_projects_and_users
);

async fn exports_are_the_cli_bytes_with_etags_and_cursors(db: TestDb) {
    let w = world(db).await;
    let s = &w.db.store;
    let app = test_app!(w.db.store);
    let t = token(s, w.owner, "export", None).await;
    for file in [
        "labels.csv",
        "labels.jsonl",
        "judgments.csv",
        "judgments.jsonl",
        "annotators.csv",
        "stats.json",
    ] {
        let r = call(
            &app,
            get(&format!("/api/v1/projects/leagues/exports/{file}"), &t),
        )
        .await;
        assert_eq!(r.status, 200, "{file}");
        assert_eq!(
            r.body,
            cli_export(s, &w.leagues, file).await,
            "{file}: the CLI's bytes"
        );
        assert!(r.header("etag").is_some(), "{file}");
    }
    let labels = call(&app, get("/api/v1/projects/leagues/exports/labels.csv", &t)).await;
    assert!(
        labels.text().contains("=HYPERLINK(1)"),
        "the machine export stays exact"
    );
    assert!(
        labels
            .header("content-type")
            .unwrap()
            .starts_with("text/csv")
    );

    // ETag: 304 while nothing changed, a new tag after a change.
    let etag = labels.header("etag").unwrap();
    let again = call(
        &app,
        get("/api/v1/projects/leagues/exports/labels.csv", &t)
            .insert_header(("If-None-Match", etag.clone())),
    )
    .await;
    assert_eq!(again.status, 304);
    assert!(again.body.is_empty());
    let weak = call(
        &app,
        get("/api/v1/projects/leagues/exports/labels.csv", &t)
            .insert_header(("If-None-Match", format!("\"other\", W/{etag}"))),
    )
    .await;
    assert_eq!(
        weak.status, 304,
        "a weak form of the tag, in a list, matches"
    );
    let lower = call(
        &app,
        test::TestRequest::get()
            .uri("/api/v1/projects")
            .insert_header(("Authorization", format!("bearer {t}"))),
    )
    .await;
    assert_eq!(lower.status, 200, "the scheme name is case-insensitive");
    let cursor: i64 = labels.header("quorum-cursor").unwrap().parse().unwrap();
    w.db.import_judgments(&w.leagues, "item_id,annotator,answer\ni3,w1,mlb\n")
        .await
        .unwrap();
    let changed = call(
        &app,
        get("/api/v1/projects/leagues/exports/labels.csv", &t)
            .insert_header(("If-None-Match", etag.clone())),
    )
    .await;
    assert_eq!(changed.status, 200);
    assert_ne!(changed.header("etag").unwrap(), etag);

    // Incremental: only i3 changed after the cursor; then nothing.
    let r = call(
        &app,
        get(
            &format!("/api/v1/projects/leagues/exports/labels.jsonl?since={cursor}"),
            &t,
        ),
    )
    .await;
    let lines: Vec<serde_json::Value> = r
        .text()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 1, "{}", r.text());
    assert_eq!(lines[0]["item_id"], "i3");
    let next: i64 = r.header("quorum-cursor").unwrap().parse().unwrap();
    assert!(next > cursor);
    let r = call(
        &app,
        get(
            &format!("/api/v1/projects/leagues/exports/labels.jsonl?since={next}"),
            &t,
        ),
    )
    .await;
    assert_eq!(r.text(), "");
    // Status filter.
    let r = call(
        &app,
        get(
            "/api/v1/projects/leagues/exports/labels.csv?status=resolved",
            &t,
        ),
    )
    .await;
    assert_eq!(r.text().lines().count(), 2, "{}", r.text());
    let r = call(
        &app,
        get(
            "/api/v1/projects/leagues/exports/labels.csv?status=done",
            &t,
        ),
    )
    .await;
    assert_eq!((r.status, r.code().as_str()), (400, "bad_request"));
    let r = call(
        &app,
        get(
            "/api/v1/projects/leagues/exports/labels.csv?status=resolved&since=1",
            &t,
        ),
    )
    .await;
    assert_eq!(
        (r.status, r.code().as_str()),
        (400, "bad_request"),
        "{}",
        r.text()
    );
    let r = call(
        &app,
        get("/api/v1/projects/leagues/exports/stats.json?since=1", &t),
    )
    .await;
    assert_eq!(r.status, 400, "stats describe the whole project");
    let r = call(
        &app,
        get("/api/v1/projects/leagues/exports/labels.xlsx", &t),
    )
    .await;
    assert_eq!(r.status, 404);

    // Project detail: the rule and the live statistics.
    let d = call(&app, get("/api/v1/projects/leagues", &t)).await.json();
    assert_eq!(d["rule"]["agree"], 2);
    assert_eq!(d["answer"]["kind"], "choice");
    assert_eq!(d["stats"]["judgments"], 4);
    w.db.finish().await;
}
on_both_backends!(
    #[actix_web::test]
    exports_are_the_cli_bytes_with_etags_and_cursors
);

async fn items_import_all_or_nothing_over_the_api(db: TestDb) {
    let w = world(db).await;
    let s = &w.db.store;
    let app = test_app!(w.db.store);
    let t = token(s, w.owner, "import", None).await;
    let items = "/api/v1/projects/other/items";
    let csv = call(
        &app,
        post(items, &t)
            .insert_header(("Content-Type", "text/csv"))
            .set_payload("item_id,name\no2,O2\no3,O3\n"),
    )
    .await;
    assert_eq!(csv.status, 200, "{}", csv.text());
    assert_eq!(csv.json()["items_created"], 2);
    let jsonl = call(
        &app,
        post(items, &t)
            .insert_header(("Content-Type", "application/x-ndjson"))
            .set_payload(
                "{\"item_id\":\"o4\",\"name\":\"O4\"}\n{\"item_id\":\"o5\",\"name\":\"O5\"}\n",
            ),
    )
    .await;
    assert_eq!(jsonl.json()["items_created"], 2, "{}", jsonl.text());
    let before = s.project_counts(w.other.id).await.unwrap().items;
    assert_eq!(before, 5);
    let bad = call(
        &app,
        post(items, &t)
            .insert_header(("Content-Type", "application/x-ndjson"))
            .set_payload(
                "{\"item_id\":\"o6\",\"name\":\"O6\"}\n{\"item_id\":\"o7\",\"name\":[1]}\n",
            ),
    )
    .await;
    assert_eq!((bad.status, bad.code().as_str()), (422, "invalid"));
    assert!(
        bad.json()["error"]["message"]
            .as_str()
            .unwrap()
            .contains("items.jsonl:2"),
        "{}",
        bad.text()
    );
    let bad = call(
        &app,
        post(items, &t)
            .insert_header(("Content-Type", "text/csv"))
            .set_payload(b"item_id,name\no8,\xff\n".to_vec()),
    )
    .await;
    assert_eq!(bad.status, 422, "{}", bad.text());
    assert_eq!(
        s.project_counts(w.other.id).await.unwrap().items,
        before,
        "nothing imported"
    );
    let r = call(
        &app,
        post(items, &t)
            .insert_header(("Content-Type", "application/pdf"))
            .set_payload("x"),
    )
    .await;
    assert_eq!(r.status, 400);
    let huge = vec![b'a'; quorum::interfaces::api::MAX_IMPORT_BYTES + 1];
    let r = call(
        &app,
        post(items, &t)
            .insert_header(("Content-Type", "text/csv"))
            .set_payload(huge),
    )
    .await;
    assert_eq!((r.status, r.code().as_str()), (413, "payload_too_large"));
    w.db.finish().await;
}
on_both_backends!(
    #[actix_web::test]
    items_import_all_or_nothing_over_the_api
);

async fn only_import_tokens_add_items_and_they_read_nothing(db: TestDb) {
    let backend = db.backend();
    let w = world(db).await;
    let s = &w.db.store;
    let app = test_app!(w.db.store);
    let export = token(s, w.owner, "export", None).await;
    let import = token(s, w.owner, "import", None).await;
    let import_other = token(s, w.owner, "import", Some(w.other.id)).await;
    let both = token(s, w.owner, "export,import", Some(w.leagues.id)).await;
    // A rival owner who labels in leagues, with a token for all their projects: annotate
    // brings leagues within its reach, import must not follow.
    let rival = user(s, "rival@example.com", Role::Owner).await;
    s.add_member(w.leagues.id, rival).await.unwrap();
    let rival_token = token(s, rival, "annotate,import", None).await;
    let items = "/api/v1/projects/leagues/items";
    let csv = |t: &str| {
        post(items, t)
            .insert_header(("Content-Type", "text/csv"))
            .set_payload("item_id,name\nn1,N1\nn2,N2\n")
    };
    let doc = call(&app, test::TestRequest::get().uri("/api/v1/openapi.json"))
        .await
        .json();
    let documented = &doc["paths"]["/api/v1/projects/{slug}/items"]["post"];
    assert_eq!(
        documented["responses"]["403"]["description"],
        "The token lacks the import scope, or its user does not manage the project",
        "the contract names the scope"
    );
    let labels = "/api/v1/projects/leagues/exports/labels.csv";
    let before = call(&app, get(labels, &export)).await;
    assert_eq!(before.status, 200, "{backend}");
    let counts = s.project_counts(w.leagues.id).await.unwrap();

    // A read-only token, as leaked from a pipeline, cannot add items.
    let r = call(&app, csv(&export)).await;
    assert_eq!(
        (r.status, r.code().as_str()),
        (403, "forbidden"),
        "{backend}"
    );
    assert_eq!(
        r.json()["error"]["message"],
        "this token lacks the import scope",
        "{backend}"
    );
    let r = call(&app, csv(&rival_token)).await;
    assert_eq!(
        (r.status, r.code().as_str()),
        (403, "forbidden"),
        "{backend}"
    );
    assert_eq!(
        r.json()["error"]["message"],
        "only the project's owner or an admin can add items to it",
        "{backend}: labeling a project is not managing it"
    );
    let r = call(&app, csv(&import_other)).await;
    assert_eq!(
        (r.status, r.code().as_str()),
        (404, "not_found"),
        "{backend}: a token for other cannot reach leagues"
    );
    assert_eq!(
        s.project_counts(w.leagues.id).await.unwrap(),
        counts,
        "{backend}: nothing changed"
    );
    let after = call(&app, get(labels, &export)).await;
    assert_eq!(after.body, before.body, "{backend}");

    // An import token adds items and reads nothing beyond the list of its projects.
    let r = call(&app, csv(&import)).await;
    assert_eq!(r.status, 200, "{backend}: {}", r.text());
    assert_eq!(r.json()["items_created"], 2, "{backend}");
    assert_eq!(
        s.project_counts(w.leagues.id).await.unwrap().items,
        counts.items + 2,
        "{backend}"
    );
    let listed = call(&app, get("/api/v1/projects", &import)).await.json();
    assert_eq!(listed.as_array().unwrap().len(), 2, "{backend}");
    for path in [
        labels,
        "/api/v1/projects/leagues",
        "/api/v1/projects/leagues/exports/stats.json",
        "/api/v1/projects/leagues/snapshots",
    ] {
        let r = call(&app, get(path, &import)).await;
        assert_eq!(
            (r.status, r.code().as_str()),
            (403, "forbidden"),
            "{backend}: {path}"
        );
        assert_eq!(
            r.json()["error"]["message"],
            "this token lacks the export scope",
            "{backend}: {path}"
        );
    }
    let r = call(
        &app,
        post("/api/v1/projects/leagues/snapshots", &import)
            .set_json(serde_json::json!({"name": "sneaky"})),
    )
    .await;
    assert_eq!(r.status, 403, "{backend}: {}", r.text());
    assert!(s.list_snapshots(w.leagues.id).await.unwrap().is_empty());
    let r = call(&app, post("/api/v1/projects/leagues/next", &import)).await;
    assert_eq!(r.status, 403, "{backend}: import tokens cannot label");

    // Both scopes on one token do both.
    let r = call(
        &app,
        post(items, &both)
            .insert_header(("Content-Type", "application/x-ndjson"))
            .set_payload("{\"item_id\":\"n3\",\"name\":\"N3\"}\n"),
    )
    .await;
    assert_eq!(r.json()["items_created"], 1, "{backend}: {}", r.text());
    let r = call(&app, get(labels, &both)).await;
    assert_eq!(r.status, 200, "{backend}");
    assert!(r.text().contains("n3"), "{backend}");
    w.db.finish().await;
}
on_both_backends!(
    #[actix_web::test]
    only_import_tokens_add_items_and_they_read_nothing
);

async fn workers_label_through_leases_and_conflicts_are_409(db: TestDb) {
    let w = world(db).await;
    let s = &w.db.store;
    let app = test_app!(w.db.store);
    let ann = token(s, w.annotator, "annotate", None).await;
    let second = user(s, "second@example.com", Role::Annotator).await;
    s.add_member(w.leagues.id, second).await.unwrap();
    let other_ann = token(s, second, "annotate", None).await;

    let lease = call(&app, post("/api/v1/projects/leagues/next", &ann)).await;
    assert_eq!(lease.status, 200, "{}", lease.text());
    let lease = lease.json();
    let id = lease["lease_id"].as_i64().unwrap();
    assert!(lease["fields"]["name"].is_string());
    assert!(lease["expires_at"].as_str().unwrap().ends_with('Z'));
    assert_eq!(
        call(&app, post("/api/v1/projects/leagues/next", &ann))
            .await
            .json()["lease_id"],
        id,
        "asking again returns the open lease"
    );
    let submit = |token: &str, lease: i64, body: &str| {
        post(
            &format!("/api/v1/projects/leagues/leases/{lease}/submit"),
            token,
        )
        .insert_header(("Content-Type", "application/json"))
        .set_payload(body.to_owned())
    };
    let r = call(&app, submit(&ann, id, "{\"answer\": \"cricket\"}")).await;
    assert_eq!(
        (r.status, r.code().as_str()),
        (422, "invalid"),
        "not an option"
    );
    let r = call(&app, submit(&ann, id, "{\"answer\": ")).await;
    assert_eq!((r.status, r.code().as_str()), (400, "bad_request"));
    let r = call(&app, submit(&other_ann, id, "{\"answer\": \"nba\"}")).await;
    assert_eq!(
        (r.status, r.code().as_str()),
        (409, "lease_conflict"),
        "someone else's lease"
    );
    let r = call(&app, submit(&ann, id, "{\"answer\": \"NBA\"}")).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(r.json()["judgment_id"].is_i64());
    assert!(
        r.json().get("status").is_none(),
        "no votes or outcomes for annotators"
    );
    let r = call(&app, submit(&ann, id, "{\"answer\": \"nba\"}")).await;
    assert_eq!(
        (r.status, r.code().as_str()),
        (409, "lease_conflict"),
        "a lease is used once"
    );

    // Expired: the lease's time ran out.
    let next = call(&app, post("/api/v1/projects/leagues/next", &ann))
        .await
        .json();
    let expired = next["lease_id"].as_i64().unwrap();
    sqlx::query("UPDATE leases SET expires_at = 1 WHERE id = $1")
        .bind(expired)
        .execute(s.pool())
        .await
        .unwrap();
    let r = call(&app, submit(&ann, expired, "{\"answer\": \"nba\"}")).await;
    assert_eq!(r.status, 409);
    assert!(
        r.json()["error"]["message"]
            .as_str()
            .unwrap()
            .contains("expired")
    );

    // Release and skip.
    let l = call(&app, post("/api/v1/projects/leagues/next", &ann))
        .await
        .json()["lease_id"]
        .as_i64()
        .unwrap();
    let r = call(
        &app,
        post(
            &format!("/api/v1/projects/leagues/leases/{l}/release"),
            &ann,
        ),
    )
    .await;
    assert_eq!(r.status, 204);
    let r = call(
        &app,
        post(
            &format!("/api/v1/projects/leagues/leases/{l}/release"),
            &ann,
        ),
    )
    .await;
    assert_eq!((r.status, r.code().as_str()), (409, "lease_conflict"));
    let l = call(&app, post("/api/v1/projects/leagues/next", &ann))
        .await
        .json()["lease_id"]
        .as_i64()
        .unwrap();
    let r = call(
        &app,
        post(&format!("/api/v1/projects/leagues/leases/{l}/skip"), &ann),
    )
    .await;
    assert_eq!(r.status, 204);
    // Label until nothing is left: 204.
    loop {
        let r = call(&app, post("/api/v1/projects/leagues/next", &ann)).await;
        if r.status == 204 {
            break;
        }
        let l = r.json()["lease_id"].as_i64().unwrap();
        assert_eq!(
            call(&app, submit(&ann, l, "{\"answer\": \"nfl\"}"))
                .await
                .status,
            200
        );
    }
    // Not a member: the project does not exist for this token.
    let outsider = user(s, "out@example.com", Role::Annotator).await;
    let out = token(s, outsider, "annotate", None).await;
    assert_eq!(
        call(&app, post("/api/v1/projects/leagues/next", &out))
            .await
            .status,
        404
    );
    w.db.finish().await;
}
on_both_backends!(
    #[actix_web::test]
    workers_label_through_leases_and_conflicts_are_409
);

async fn snapshots_are_immutable_and_download_byte_for_byte(db: TestDb) {
    let backend = db.backend();
    let s = &db.store;
    let owner = user(s, "owner@example.com", Role::Owner).await;
    let config = quorum::domain::ProjectConfig::from_toml(LEAGUES).unwrap();
    let p = s.create_project(&config, Some(owner)).await.unwrap();
    let mut items = String::from("item_id,name\n");
    // Enough rows that the JSON-lines files span several stored 1 MiB chunks.
    for i in 0..8000 {
        items.push_str(&format!(
            "i{i},Player number {i} with a name long enough to make the files big: {}\n",
            "x".repeat(60)
        ));
    }
    db.import_items(&p, &items).await;
    db.import_judgments(
        &p,
        "item_id,annotator,answer\ni1,w1,nba\ni1,w2,nba\ni2,w1,nfl\n",
    )
    .await
    .unwrap();
    let app = test_app!(db.store);
    let t = token(s, owner, "export", None).await;
    let url = "/api/v1/projects/leagues/snapshots";
    let created = call(
        &app,
        post(url, &t)
            .insert_header(("Content-Type", "application/json"))
            .set_payload("{\"name\": \"v1\"}"),
    )
    .await;
    assert_eq!(created.status, 201, "{backend}: {}", created.text());
    let manifest = created.json();
    assert_eq!(manifest["name"], "v1");
    assert_eq!(manifest["stats"]["judgments"], 3);
    assert!(manifest["config"].as_str().unwrap().contains("agree = 2"));
    let files = manifest["files"].as_array().unwrap().clone();
    assert_eq!(files.len(), 6);

    // What each file was at snapshot time: the live export's bytes then.
    let mut then = Vec::new();
    for f in &files {
        let name = f["name"].as_str().unwrap();
        then.push(cli_export(s, &p, name).await);
    }

    // The project moves on: more judgments, a new rule.
    db.import_judgments(&p, "item_id,annotator,answer\ni2,w2,nfl\ni3,w1,mlb\n")
        .await
        .unwrap();
    let current = s.project_by_slug("leagues").await.unwrap();
    let stricter = quorum::domain::ProjectConfig::from_toml(
        &LEAGUES
            .replace("agree = 2", "agree = 3")
            .replace("max = 3", "max = 5"),
    )
    .unwrap();
    s.reconfigure_project(&current, &stricter, now_ms())
        .await
        .unwrap();

    for (f, expected) in files.iter().zip(&then) {
        let name = f["name"].as_str().unwrap();
        let r = call(&app, get(&format!("{url}/v1/{name}"), &t)).await;
        assert_eq!(r.status, 200, "{backend} {name}");
        assert_eq!(
            &r.body, expected,
            "{backend} {name}: byte for byte as at snapshot time"
        );
        let sha: String =
            sha2::Digest::finalize(<sha2::Sha256 as sha2::Digest>::new_with_prefix(&r.body))
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect();
        assert_eq!(f["sha256"].as_str().unwrap(), sha, "{backend} {name}");
        assert_eq!(f["bytes"].as_u64().unwrap(), r.body.len() as u64);
        let etag = r.header("etag").unwrap();
        assert_eq!(etag, format!("\"{sha}\""));
        let again = call(
            &app,
            get(&format!("{url}/v1/{name}"), &t).insert_header(("If-None-Match", etag)),
        )
        .await;
        assert_eq!(again.status, 304);
    }
    assert_ne!(
        cli_export(s, &p, "labels.csv").await,
        then[0],
        "{backend}: the live export did change"
    );
    assert!(
        then[1].len() > 1024 * 1024,
        "labels.jsonl spans chunks: {}",
        then[1].len()
    );

    let dup = call(
        &app,
        post(url, &t)
            .insert_header(("Content-Type", "application/json"))
            .set_payload("{\"name\": \"v1\"}"),
    )
    .await;
    assert_eq!(
        (dup.status, dup.code().as_str()),
        (409, "conflict"),
        "{backend}"
    );
    let bad = call(
        &app,
        post(url, &t)
            .insert_header(("Content-Type", "application/json"))
            .set_payload("{\"name\": \"../x\"}"),
    )
    .await;
    assert_eq!(
        (bad.status, bad.code().as_str()),
        (422, "invalid"),
        "{backend}"
    );
    let malformed = call(&app, post(url, &t).set_payload("{")).await;
    assert_eq!(malformed.status, 400);
    let oversize = call(&app, post(url, &t).set_payload(vec![b' '; 100 * 1024])).await;
    assert_eq!(
        (oversize.status, oversize.code().as_str()),
        (413, "payload_too_large")
    );
    let default = call(&app, post(url, &t)).await;
    assert_eq!(
        default.status, 201,
        "{backend}: an empty body takes the default name"
    );
    let listed = call(&app, get(url, &t)).await.json();
    assert_eq!(listed.as_array().unwrap().len(), 2);
    assert_eq!(listed[1]["name"], "v1", "{backend}: newest first");
    assert_eq!(
        call(&app, get(&format!("{url}/v1"), &t)).await.json()["name"],
        "v1"
    );
    assert_eq!(call(&app, get(&format!("{url}/v9"), &t)).await.status, 404);
    assert_eq!(
        call(&app, get(&format!("{url}/v1/secrets.txt"), &t))
            .await
            .status,
        404
    );
    drop(app);
    db.finish().await;
}
on_both_backends!(
    #[actix_web::test]
    snapshots_are_immutable_and_download_byte_for_byte
);

/// A labels row without the crowd-model columns, which describe the whole project's fit at
/// the moment of the pull (the export contract says so) and so may differ between pulls of an
/// unchanged item; the model columns are still checked to be well-formed.
fn without_model(line: &str) -> String {
    let mut v: serde_json::Value = serde_json::from_str(line).unwrap();
    let row = v.as_object_mut().unwrap();
    for key in ["confidence", "model_label", "model_confidence"] {
        let value = row.remove(key).expect(key);
        if let Some(p) = value.as_f64() {
            assert!((0.0..=1.0).contains(&p), "{key} = {p}");
        }
    }
    serde_json::to_string(&v).unwrap()
}

/// A pipeline pulls increments over HTTP while annotators keep labeling; the pulls, merged by
/// item (latest row wins), equal the final full export exactly, but for the crowd-model columns.
async fn incremental_pulls_over_http_add_up_while_annotators_label(db: TestDb) {
    use std::collections::BTreeMap;
    let backend = db.backend();
    let s = &db.store;
    let owner = user(s, "owner@example.com", Role::Owner).await;
    let config = quorum::domain::ProjectConfig::from_toml(
        &LEAGUES
            .replace("agree = 2", "agree = 3")
            .replace("max = 3", "max = 5"),
    )
    .unwrap();
    let p = s.create_project(&config, Some(owner)).await.unwrap();
    let mut items = String::from("item_id,name\n");
    for i in 0..50 {
        items.push_str(&format!("i{i:02},P{i}\n"));
    }
    db.import_items(&p, &items).await;
    let app = test_app!(db.store);
    let t = token(s, owner, "export", None).await;
    // Workers wait after their first judgment until two pulls are done, so that pulls
    // happen mid-labeling however the machine schedules the tasks.
    let pulled = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut workers = Vec::new();
    for n in 0..6 {
        let store = s.clone();
        let p = p.clone();
        let pulled = pulled.clone();
        workers.push(tokio::spawn(async move {
            let uid = user(&store, &format!("a{n}@example.com"), Role::Annotator).await;
            let mut k = n;
            while let Some(lease) = store.next_item(&p, uid, now_ms()).await.unwrap() {
                k += 1;
                let answer = ["nba", "nfl", "nba", "mlb", "nba"][k % 5];
                store
                    .submit(&p, lease.id, uid, answer, "api", now_ms())
                    .await
                    .unwrap();
                while pulled.load(std::sync::atomic::Ordering::SeqCst) < 2 {
                    tokio::time::sleep(std::time::Duration::from_millis(1)).await;
                }
                tokio::task::yield_now().await;
            }
        }));
    }
    let mut merged: BTreeMap<String, String> = BTreeMap::new();
    let mut cursor: Option<String> = None;
    let mut pulls = 0;
    loop {
        let finished = workers.iter().all(|w| w.is_finished());
        let url = match &cursor {
            Some(c) => format!("/api/v1/projects/leagues/exports/labels.jsonl?since={c}"),
            None => "/api/v1/projects/leagues/exports/labels.jsonl".to_owned(),
        };
        let r = call(&app, get(&url, &t)).await;
        assert_eq!(r.status, 200);
        for line in r.text().lines() {
            let v: serde_json::Value = serde_json::from_str(line).unwrap();
            merged.insert(
                v["item_id"].as_str().unwrap().to_owned(),
                without_model(line),
            );
        }
        cursor = r.header("quorum-cursor");
        pulls += 1;
        pulled.store(pulls, std::sync::atomic::Ordering::SeqCst);
        if finished {
            break;
        }
        tokio::task::yield_now().await;
    }
    for w in workers {
        w.await.unwrap();
    }
    let full = call(
        &app,
        get("/api/v1/projects/leagues/exports/labels.jsonl", &t),
    )
    .await;
    let expected: BTreeMap<String, String> = full
        .text()
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            (v["item_id"].as_str().unwrap().to_owned(), without_model(l))
        })
        .collect();
    assert!(
        pulls > 2,
        "{backend}: pulled while labeling ({pulls} pulls)"
    );
    assert_eq!(merged, expected, "{backend}");
    assert!(
        expected.values().all(|l| !l.contains("\"pending\"")),
        "{backend}: every item was decided by the end"
    );
    drop(app);
    db.finish().await;
}
on_both_backends!(
    #[actix_web::test]
    incremental_pulls_over_http_add_up_while_annotators_label
);
