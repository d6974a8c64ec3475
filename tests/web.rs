//! The browser app through its HTTP routes: authentication, authorization, CSRF, escaping and
//! the labeling loop, on the real app with a fresh database.

#[macro_use]
mod common;

use actix_web::test;
use common::browser::{Page, user};
use common::{LEAGUES, TestDb};
use quorum::store::{Role, Store};

async fn anonymous_users_are_sent_to_login(db: TestDb) {
    let mut b = browser!(db.store);
    for path in ["/", "/p/leagues/label"] {
        let page = b.get(path).await;
        assert_eq!(
            (page.status, page.location.as_deref()),
            (303, Some("/login")),
            "{path}"
        );
    }
    let page = b
        .post("/p/leagues/skip", &[("csrf", "x"), ("lease_id", "1")])
        .await;
    assert_eq!(page.status, 403, "no session, no CSRF token");
    assert_eq!(b.get("/healthz").await.status, 200);
    assert_eq!(b.get("/nope").await.status, 404);
    db.finish().await;
}
on_both_backends!(
    #[actix_web::test]
    anonymous_users_are_sent_to_login
);

async fn login_logout_and_csrf(db: TestDb) {
    user(&db.store, "a@example.com", Role::Annotator).await;
    let mut b = browser!(db.store);
    let wrong = b.login("a@example.com", "nope").await;
    assert_eq!(wrong.status, 401);
    assert!(wrong.body.contains("Wrong email or password"));
    let unknown = b.login("ghost@example.com", "password1").await;
    assert_eq!(unknown.status, 401, "same answer for unknown accounts");

    let anonymous_cookie = b.cookies.clone();
    let page = b.login("A@Example.com", "password1").await;
    assert_eq!((page.status, page.location.as_deref()), (303, Some("/")));
    assert_ne!(b.cookies, anonymous_cookie, "session renewed at login");
    let home = b.get("/").await;
    assert_eq!(home.status, 200);
    assert!(home.body.contains("a@example.com"));

    // A login POST with a forged token is refused.
    let forged = b
        .post(
            "/login",
            &[
                ("email", "a@example.com"),
                ("password", "password1"),
                ("csrf", "forged"),
            ],
        )
        .await;
    assert_eq!(forged.status, 403);
    let missing = b.post("/logout", &[]).await;
    assert!(
        missing.status == 400 || missing.status == 403,
        "{}",
        missing.status
    );

    let csrf = home.csrf();
    let out = b.post("/logout", &[("csrf", &csrf)]).await;
    assert_eq!(out.location.as_deref(), Some("/login"));
    assert_eq!(b.get("/").await.status, 303, "logged out");
    db.finish().await;
}
on_both_backends!(
    #[actix_web::test]
    login_logout_and_csrf
);

async fn annotators_label_only_their_projects_and_see_escaped_content(db: TestDb) {
    let s = &db.store;
    let toml = LEAGUES.replace(
        "instructions = \"Which league does this player play in?\"",
        "instructions = \"Pick one. <script>alert(1)</script> [x](javascript:alert(1))\"",
    );
    let p = db.project(&toml).await;
    db.import_items(
        &p,
        "item_id,name\n\"\"\"><img src=x onerror=alert(1)>\",<script>alert(2)</script>\n",
    )
    .await;
    let member = user(s, "member@example.com", Role::Annotator).await;
    user(s, "outsider@example.com", Role::Annotator).await;
    s.add_member(p.id, member).await.unwrap();

    let mut outsider = browser!(db.store);
    outsider.login("outsider@example.com", "password1").await;
    assert!(!outsider.get("/").await.body.contains("Leagues"));
    assert_eq!(outsider.get("/p/leagues/label").await.status, 404);
    assert_eq!(outsider.get("/p/no-such-project/label").await.status, 404);

    let mut b = browser!(db.store);
    b.login("member@example.com", "password1").await;
    let page = b.get("/p/leagues/label").await;
    assert_eq!(page.status, 200);
    assert!(!page.body.contains("<script>alert"), "script escaped");
    assert!(
        !page.body.contains("<img src=x"),
        "attribute injection escaped"
    );
    assert!(
        page.body
            .contains("&#60;script&#62;alert(2)&#60;/script&#62;"),
        "{}",
        page.body
    );
    assert!(
        !page.body.to_lowercase().contains("javascript:"),
        "unsafe link dropped"
    );

    // The outsider cannot answer the member's lease either.
    let lease = page.lease_id();
    let csrf = outsider.get("/").await.csrf();
    let stolen = outsider
        .post(
            "/p/leagues/label",
            &[("csrf", &csrf), ("lease_id", &lease), ("answer", "nba")],
        )
        .await;
    assert_eq!(stolen.status, 404);

    // An answer outside the options keeps the item, with the reason.
    let bad = b
        .post(
            "/p/leagues/label",
            &[
                ("csrf", &page.csrf()),
                ("lease_id", &lease),
                ("answer", "cricket"),
            ],
        )
        .await;
    assert_eq!(bad.status, 422);
    assert!(bad.body.contains("not one of the options"));
    let ok = b
        .post(
            "/p/leagues/label",
            &[
                ("csrf", &page.csrf()),
                ("lease_id", &lease),
                ("answer", "NBA"),
            ],
        )
        .await;
    assert_eq!(ok.location.as_deref(), Some("/p/leagues/label"));
    let done = b.get("/p/leagues/label").await;
    assert!(done.body.contains("All done"), "one item, judged");
    assert_eq!(s.project_counts(p.id).await.unwrap().judgments, 1);
    db.finish().await;
}
on_both_backends!(
    #[actix_web::test]
    annotators_label_only_their_projects_and_see_escaped_content
);

async fn labeling_loop_moves_to_the_next_item_and_skips_stick(db: TestDb) {
    let s = &db.store;
    let p = db.project(LEAGUES).await;
    db.import_items(&p, "item_id,name\na,A\nb,B\nc,C\n").await;
    let id = user(s, "w@example.com", Role::Annotator).await;
    s.add_member(p.id, id).await.unwrap();
    let mut b = browser!(db.store);
    b.login("w@example.com", "password1").await;
    let mut seen = Vec::new();
    let first = b.get("/p/leagues/label").await;
    seen.push(first.lease_id());
    let skipped = b
        .post(
            "/p/leagues/skip",
            &[("csrf", &first.csrf()), ("lease_id", &first.lease_id())],
        )
        .await;
    assert_eq!(skipped.location.as_deref(), Some("/p/leagues/label"));
    for _ in 0..2 {
        let page = b.get("/p/leagues/label").await;
        assert!(!seen.contains(&page.lease_id()));
        seen.push(page.lease_id());
        b.post(
            "/p/leagues/label",
            &[
                ("csrf", &page.csrf()),
                ("lease_id", &page.lease_id()),
                ("answer", "nfl"),
            ],
        )
        .await;
    }
    assert!(
        b.get("/p/leagues/label").await.body.contains("All done"),
        "skipped item never returns"
    );
    let home = b.get("/").await;
    assert!(
        home.body.contains("You have labelled 2 items"),
        "{}",
        home.body
    );
    db.finish().await;
}
on_both_backends!(
    #[actix_web::test]
    labeling_loop_moves_to_the_next_item_and_skips_stick
);

async fn disabled_accounts_lose_access_at_their_next_request(db: TestDb) {
    user(&db.store, "d@example.com", Role::Annotator).await;
    let mut b = browser!(db.store);
    b.login("d@example.com", "password1").await;
    assert_eq!(b.get("/").await.status, 200);
    sqlx::query("UPDATE users SET disabled = 1 WHERE name = 'd@example.com'")
        .execute(db.store.pool())
        .await
        .unwrap();
    assert_eq!(b.get("/").await.status, 303);
    db.finish().await;
}
on_both_backends!(
    #[actix_web::test]
    disabled_accounts_lose_access_at_their_next_request
);

async fn failed_logins_are_rate_limited_per_account(db: TestDb) {
    user(&db.store, "r@example.com", Role::Annotator).await;
    user(&db.store, "other@example.com", Role::Annotator).await;
    let mut b = browser!(db.store);
    for _ in 0..quorum::interfaces::web::MAX_FAILURES_PER_ACCOUNT {
        assert_eq!(b.login("r@example.com", "wrong").await.status, 401);
    }
    let blocked = b.login("r@example.com", "password1").await;
    assert_eq!(blocked.status, 429, "even the right password waits");
    assert!(blocked.body.contains("Too many failed attempts"));
    let mut other = browser!(db.store);
    assert_eq!(
        other.login("other@example.com", "password1").await.status,
        303,
        "other accounts unaffected"
    );
    db.finish().await;
}
on_both_backends!(
    #[actix_web::test]
    failed_logins_are_rate_limited_per_account
);

async fn owners_see_only_their_dashboards_and_downloads_are_spreadsheet_safe(db: TestDb) {
    let s = &db.store;
    let owner = user(s, "owner@example.com", Role::Owner).await;
    user(s, "rival@example.com", Role::Owner).await;
    let annotator = user(s, "ann@example.com", Role::Annotator).await;
    let config = quorum::domain::ProjectConfig::from_toml(LEAGUES).unwrap();
    let p = s.create_project(&config, Some(owner)).await.unwrap();
    s.add_member(p.id, annotator).await.unwrap();
    db.import_items(
        &p,
        "item_id,name\n1,\"=HYPERLINK(\"\"http://evil\"\")\"\n2,-0.5\n",
    )
    .await;
    db.import_judgments(
        &p,
        "item_id,annotator,answer\n1,w1,nba\n1,w2,nba\n2,w1,nfl\n",
    )
    .await
    .unwrap();

    let mut anonymous = browser!(db.store);
    assert_eq!(anonymous.get("/o/leagues").await.status, 303);
    assert_eq!(
        anonymous.get("/o/leagues/download/labels.csv").await.status,
        303
    );

    let mut ann = browser!(db.store);
    ann.login("ann@example.com", "password1").await;
    assert_eq!(ann.get("/o").await.status, 403);
    assert_eq!(ann.get("/o/leagues").await.status, 404);
    assert_eq!(ann.get("/o/leagues/download/labels.csv").await.status, 404);

    let mut rival = browser!(db.store);
    rival.login("rival@example.com", "password1").await;
    assert!(!rival.get("/o").await.body.contains("Leagues"));
    assert_eq!(rival.get("/o/leagues").await.status, 404);
    assert_eq!(
        rival.get("/o/leagues/download/stats.json").await.status,
        404
    );

    let mut b = browser!(db.store);
    b.login("owner@example.com", "password1").await;
    assert!(b.get("/o").await.body.contains("Leagues"));
    let dash = b.get("/o/leagues").await;
    assert_eq!(dash.status, 200);
    assert!(dash.body.contains("<svg"), "server-rendered charts");
    assert!(dash.body.contains("Median time per item"));
    assert!(dash.body.contains("w1") && dash.body.contains("Krippendorff"));
    let labels = b.get("/o/leagues/download/labels.csv").await;
    assert_eq!(labels.status, 200);
    assert!(
        labels.body.contains("\"'=HYPERLINK(\"\"http://evil\"\")\""),
        "{}",
        labels.body
    );
    assert!(
        labels
            .body
            .contains("\n2,pending,,1,1,1,\"{\"\"nfl\"\":1}\",,nfl,")
            && labels.body.ends_with(",-0.5\n"),
        "numbers untouched: {}",
        labels.body
    );
    let stats = b.get("/o/leagues/download/stats.json").await;
    let v: serde_json::Value = serde_json::from_str(&stats.body).unwrap();
    assert_eq!(v["judgments"], 3);
    assert_eq!(b.get("/o/leagues/download/secrets.txt").await.status, 404);
    db.finish().await;
}
on_both_backends!(
    #[actix_web::test]
    owners_see_only_their_dashboards_and_downloads_are_spreadsheet_safe
);

async fn owners_upload_items_all_or_nothing(db: TestDb) {
    let s = &db.store;
    let owner = user(s, "owner@example.com", Role::Owner).await;
    user(s, "rival@example.com", Role::Owner).await;
    let config = quorum::domain::ProjectConfig::from_toml(LEAGUES).unwrap();
    let p = s.create_project(&config, Some(owner)).await.unwrap();
    let mut b = browser!(db.store);
    b.login("owner@example.com", "password1").await;
    let csrf = b.get("/o/leagues").await.csrf();

    let page = b
        .upload(
            "/o/leagues/items",
            &csrf,
            "bad.csv",
            b"item_id,name\n1,ok\n2,caf\xe9\n",
        )
        .await;
    assert_eq!(page.status, 422);
    assert!(
        page.body.contains("bad.csv:3") && page.body.contains("UTF-8"),
        "{}",
        page.body
    );
    assert_eq!(
        s.project_counts(p.id).await.unwrap().items,
        0,
        "nothing imported"
    );

    let page = b
        .upload(
            "/o/leagues/items",
            "forged",
            "items.csv",
            b"item_id,name\n1,a\n",
        )
        .await;
    assert_eq!(page.status, 403, "CSRF checked on uploads");

    let page = b
        .upload(
            "/o/leagues/items",
            &csrf,
            "items.csv",
            b"item_id,name\n1,a\n2,b\n",
        )
        .await;
    assert_eq!(page.location.as_deref(), Some("/o/leagues"));
    assert!(
        b.get("/o/leagues")
            .await
            .body
            .contains("2 rows read, 2 items added")
    );
    assert_eq!(s.project_counts(p.id).await.unwrap().items, 2);

    let mut rival = browser!(db.store);
    rival.login("rival@example.com", "password1").await;
    let rival_csrf = rival.get("/o").await.csrf();
    let page = rival
        .upload(
            "/o/leagues/items",
            &rival_csrf,
            "items.csv",
            b"item_id,name\n3,c\n",
        )
        .await;
    assert_eq!(page.status, 404, "not their project");

    let mut huge = b"item_id,name\n".to_vec();
    huge.resize(quorum::interfaces::web::MAX_UPLOAD_BYTES + 1024, b'x');
    let page = b.upload("/o/leagues/items", &csrf, "huge.csv", &huge).await;
    assert_eq!(page.status, 413, "{}", page.body);
    assert_eq!(s.project_counts(p.id).await.unwrap().items, 2);
    db.finish().await;
}
on_both_backends!(
    #[actix_web::test]
    owners_upload_items_all_or_nothing
);

async fn owners_adjudicate_unresolved_items_and_exports_say_so(db: TestDb) {
    let s = &db.store;
    let owner = user(s, "owner@example.com", Role::Owner).await;
    let annotator = user(s, "ann@example.com", Role::Annotator).await;
    let config = quorum::domain::ProjectConfig::from_toml(LEAGUES).unwrap();
    let p = s.create_project(&config, Some(owner)).await.unwrap();
    db.import_judgments(
        &p,
        "item_id,annotator,answer\nx,w1,nba\nx,w2,nfl\nx,w3,<b>mlb</b>\n",
    )
    .await
    .unwrap_err();
    db.import_judgments(
        &p,
        "item_id,annotator,answer\nx,w1,nba\nx,w2,nfl\nx,w3,mlb\n",
    )
    .await
    .unwrap();
    assert_eq!(s.project_counts(p.id).await.unwrap().unresolved, 1);

    s.add_member(p.id, annotator).await.unwrap();
    let mut ann = browser!(db.store);
    ann.login("ann@example.com", "password1").await;
    assert_eq!(
        ann.get("/o/leagues/unresolved").await.status,
        404,
        "members cannot adjudicate"
    );

    let mut b = browser!(db.store);
    b.login("owner@example.com", "password1").await;
    let queue = b.get("/o/leagues/unresolved").await;
    assert_eq!(queue.status, 200);
    assert!(queue.body.contains("Item <span class=\"mono\">x</span>"));
    let item = s.unresolved_items(p.id, 10).await.unwrap()[0]
        .id
        .to_string();
    let csrf = queue.csrf();
    let bad = b
        .post(
            "/o/leagues/adjudicate",
            &[("csrf", &csrf), ("item", &item), ("label", "cricket")],
        )
        .await;
    assert_eq!(bad.status, 400, "labels obey the answer schema");
    let no_csrf = b
        .post(
            "/o/leagues/adjudicate",
            &[("csrf", "x"), ("item", &item), ("label", "nba")],
        )
        .await;
    assert_eq!(no_csrf.status, 403);
    let ok = b
        .post(
            "/o/leagues/adjudicate",
            &[("csrf", &csrf), ("item", &item), ("label", "NBA")],
        )
        .await;
    assert_eq!(ok.location.as_deref(), Some("/o/leagues/unresolved"));
    assert!(
        b.get("/o/leagues/unresolved")
            .await
            .body
            .contains("Nothing to adjudicate")
    );

    let counts = s.project_counts(p.id).await.unwrap();
    assert_eq!((counts.unresolved, counts.adjudicated), (0, 1));
    let labels = b.get("/o/leagues/download/labels.csv").await;
    assert!(
        labels.body.contains("\nx,adjudicated,nba,1,3,"),
        "{}",
        labels.body
    );
    let row = sqlx::query("SELECT adjudicated_by, adjudicated_at FROM items")
        .fetch_one(s.pool())
        .await
        .unwrap();
    use sqlx::Row;
    assert_eq!(row.get::<Option<i64>, _>("adjudicated_by"), Some(owner));
    assert!(row.get::<Option<i64>, _>("adjudicated_at").is_some());

    let again = b
        .post(
            "/o/leagues/adjudicate",
            &[("csrf", &csrf), ("item", &item), ("label", "nfl")],
        )
        .await;
    assert_eq!(again.status, 303, "an owner may change their decision");
    assert!(
        b.get("/o/leagues/download/labels.csv")
            .await
            .body
            .contains("\nx,adjudicated,nfl,")
    );
    db.finish().await;
}
on_both_backends!(
    #[actix_web::test]
    owners_adjudicate_unresolved_items_and_exports_say_so
);

async fn owners_add_annotators_to_their_projects(db: TestDb) {
    let s = &db.store;
    let owner = user(s, "owner@example.com", Role::Owner).await;
    user(s, "new@example.com", Role::Annotator).await;
    let config = quorum::domain::ProjectConfig::from_toml(LEAGUES).unwrap();
    s.create_project(&config, Some(owner)).await.unwrap();
    db.import_items(
        &s.project_by_slug("leagues").await.unwrap(),
        "item_id,name\n1,a\n",
    )
    .await;

    let mut ann = browser!(db.store);
    ann.login("new@example.com", "password1").await;
    assert_eq!(
        ann.get("/p/leagues/label").await.status,
        404,
        "not a member yet"
    );
    let csrf = ann.get("/").await.csrf();
    let sneaky = ann
        .post(
            "/o/leagues/members",
            &[("csrf", &csrf), ("email", "new@example.com")],
        )
        .await;
    assert_eq!(sneaky.status, 404, "annotators cannot add themselves");

    let mut b = browser!(db.store);
    b.login("owner@example.com", "password1").await;
    let csrf = b.get("/o/leagues").await.csrf();
    b.post(
        "/o/leagues/members",
        &[("csrf", &csrf), ("email", "ghost@example.com")],
    )
    .await;
    assert!(b.get("/o/leagues").await.body.contains("No active account"));
    b.post(
        "/o/leagues/members",
        &[("csrf", &csrf), ("email", "New@Example.com")],
    )
    .await;
    let dash = b.get("/o/leagues").await;
    assert!(
        dash.body.contains("new@example.com can now label"),
        "{}",
        dash.body
    );
    assert_eq!(ann.get("/p/leagues/label").await.status, 200, "member now");
    db.finish().await;
}
on_both_backends!(
    #[actix_web::test]
    owners_add_annotators_to_their_projects
);

async fn admins_create_users_reset_passwords_and_disable_accounts(db: TestDb) {
    let s = &db.store;
    user(s, "admin@example.com", Role::Admin).await;
    user(s, "owner@example.com", Role::Owner).await;

    let mut owner = browser!(db.store);
    owner.login("owner@example.com", "password1").await;
    assert_eq!(owner.get("/admin/users").await.status, 403);
    let csrf = owner.get("/").await.csrf();
    let denied = owner
        .post(
            "/admin/users",
            &[
                ("csrf", &csrf),
                ("email", "x@example.com"),
                ("role", "admin"),
                ("password", "longenough"),
            ],
        )
        .await;
    assert_eq!(denied.status, 403, "only admins create users");

    let mut b = browser!(db.store);
    b.login("admin@example.com", "password1").await;
    let page = b.get("/admin/users").await;
    assert_eq!(page.status, 200);
    let csrf = page.csrf();
    let short = b
        .post(
            "/admin/users",
            &[
                ("csrf", &csrf),
                ("email", "new@example.com"),
                ("role", "annotator"),
                ("password", "short"),
            ],
        )
        .await;
    assert_eq!(short.status, 400);
    b.post(
        "/admin/users",
        &[
            ("csrf", &csrf),
            ("email", "New@Example.com"),
            ("role", "annotator"),
            ("password", "first-password"),
        ],
    )
    .await;
    assert!(
        b.get("/admin/users")
            .await
            .body
            .contains("Created new@example.com (annotator)")
    );

    let new = s.user_by_name("new@example.com").await.unwrap().unwrap();
    let mut fresh = browser!(db.store);
    assert_eq!(
        fresh
            .login("new@example.com", "first-password")
            .await
            .status,
        303
    );
    b.post(
        &format!("/admin/users/{}/password", new.id),
        &[("csrf", &csrf), ("password", "second-password")],
    )
    .await;
    let mut again = browser!(db.store);
    assert_eq!(
        again
            .login("new@example.com", "first-password")
            .await
            .status,
        401
    );
    assert_eq!(
        again
            .login("new@example.com", "second-password")
            .await
            .status,
        303
    );

    b.post(
        &format!("/admin/users/{}/disabled", new.id),
        &[("csrf", &csrf), ("disabled", "true")],
    )
    .await;
    assert_eq!(
        again.get("/").await.status,
        303,
        "disabled: logged out at the next request"
    );
    let me = s.user_by_name("admin@example.com").await.unwrap().unwrap();
    let own = b
        .post(
            &format!("/admin/users/{}/disabled", me.id),
            &[("csrf", &csrf), ("disabled", "true")],
        )
        .await;
    assert_eq!(own.status, 400, "admins cannot lock themselves out");
    db.finish().await;
}
on_both_backends!(
    #[actix_web::test]
    admins_create_users_reset_passwords_and_disable_accounts
);

/// A form given as owned pairs, as the test browser posts it.
fn pairs(form: &[(String, String)]) -> Vec<(&str, &str)> {
    form.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect()
}

async fn owners_create_and_edit_projects_and_a_new_rule_re_decides_items(db: TestDb) {
    let s = &db.store;
    user(s, "owner@example.com", Role::Owner).await;
    user(s, "rival@example.com", Role::Owner).await;
    user(s, "ann@example.com", Role::Annotator).await;

    let mut anonymous = browser!(db.store);
    assert_eq!(
        anonymous.get("/o/new").await.location.as_deref(),
        Some("/login")
    );
    let mut ann = browser!(db.store);
    ann.login("ann@example.com", "password1").await;
    assert_eq!(ann.get("/o/new").await.status, 403);
    let csrf = ann.get("/").await.csrf();
    let form = |csrf: &str| {
        vec![
            ("csrf".to_owned(), csrf.to_owned()),
            ("name".into(), "Leagues <script>alert(1)</script>".into()),
            ("slug".into(), "leagues".into()),
            ("instructions".into(), "Pick the **league**.".into()),
            ("kind".into(), "choice".into()),
            ("options".into(), "nba\r\nnfl\r\n\r\nmlb\r\n".into()),
            ("agree".into(), "2".into()),
            ("max".into(), "3".into()),
            ("stop".into(), "early".into()),
            ("lease_minutes".into(), "15".into()),
        ]
    };
    let sent = form(&csrf);
    let body = pairs(&sent);
    assert_eq!(
        ann.post("/o/new", &body).await.status,
        403,
        "annotators cannot create"
    );

    let mut b = browser!(db.store);
    b.login("owner@example.com", "password1").await;
    let new = b.get("/o/new").await;
    assert_eq!(new.status, 200);
    assert!(new.body.contains("name=\"agree\"") && new.body.contains("name=\"norm_casefold\""));
    let csrf = new.csrf();

    // Without a valid CSRF token: refused, nothing created.
    let forged = form("forged");
    let body = pairs(&forged);
    assert_eq!(b.post("/o/new", &body).await.status, 403);

    // Invalid settings: 422, the form again with what was typed and the error at its field.
    let mut bad = form(&csrf);
    bad[7].1 = "1".into(); // 2 of 1
    let body = pairs(&bad);
    let page = b.post("/o/new", &body).await;
    assert_eq!(page.status, 422, "{}", page.body);
    assert!(
        page.body.contains("quorum.agree") || page.body.contains("quorum.max"),
        "{}",
        page.body
    );
    assert!(page.body.contains("aria-invalid=\"true\""));
    assert!(
        page.body
            .contains("Leagues &#60;script&#62;alert(1)&#60;/script&#62;"),
        "typed values are kept, escaped"
    );
    assert!(!page.body.contains("<script>alert(1)"));
    let mut not_a_number = form(&csrf);
    not_a_number[6].1 = "two".into();
    let body = pairs(&not_a_number);
    let page = b.post("/o/new", &body).await;
    assert_eq!(page.status, 422);
    assert!(
        page.body.contains("Agree (K) must be a whole number"),
        "{}",
        page.body
    );
    assert!(
        s.list_projects().await.unwrap().is_empty(),
        "nothing created"
    );

    // Valid: created, owned by the owner, with exactly the typed settings.
    let good = form(&csrf);
    let body = pairs(&good);
    let created = b.post("/o/new", &body).await;
    assert_eq!(
        created.location.as_deref(),
        Some("/o/leagues"),
        "{}",
        created.body
    );
    let p = s.project_by_slug("leagues").await.unwrap();
    assert_eq!(
        p.owner_id,
        s.user_by_name("owner@example.com")
            .await
            .unwrap()
            .map(|u| u.id)
    );
    assert_eq!(
        p.config.to_toml(),
        "name = \"Leagues <script>alert(1)</script>\"\nslug = \"leagues\"\ninstructions = \"Pick the **league**.\"\n\n\
         [answer]\nkind = \"choice\"\noptions = [\"nba\", \"nfl\", \"mlb\"]\n\n\
         [quorum]\nagree = 2\nmax = 3\nstop = \"early\"\n\n[assignment]\nlease_minutes = 15\n"
    );
    let dash = b.get("/o/leagues").await;
    assert!(
        dash.body.contains("Created Leagues &#60;script&#62;"),
        "flash"
    );
    // The same slug again is refused at the slug field.
    let page = b.post("/o/new", &body).await;
    assert_eq!(page.status, 422);
    assert!(page.body.contains("already exists"));

    // Work arrives: item a resolves under 2 of 3.
    db.import_items(&p, "item_id,name\na,A\nb,B\n").await;
    db.import_judgments(
        &p,
        "item_id,annotator,answer\na,w1,nba\na,w2,nba\nb,w1,nfl\n",
    )
    .await
    .unwrap();

    // Others cannot open or post the settings.
    let mut rival = browser!(db.store);
    rival.login("rival@example.com", "password1").await;
    assert_eq!(rival.get("/o/leagues/settings").await.status, 404);
    assert_eq!(ann.get("/o/leagues/settings").await.status, 404);
    let rcsrf = rival.get("/o").await.csrf();
    assert_eq!(
        rival
            .post(
                "/o/leagues/settings",
                &[("csrf", rcsrf.as_str()), ("name", "mine")]
            )
            .await
            .status,
        404
    );

    // The edit form shows the stored settings; the slug is read-only.
    let edit = b.get("/o/leagues/settings").await;
    assert_eq!(edit.status, 200);
    assert!(
        edit.body.contains("nba\nnfl\nmlb</textarea>"),
        "{}",
        edit.body
    );
    assert!(edit.body.contains("readonly"));
    assert!(edit.body.contains("This project has 3 judgment(s)"));
    let version_at = edit.body.find("name=\"version\" value=\"").unwrap() + 22;
    let version =
        edit.body[version_at..version_at + edit.body[version_at..].find('"').unwrap()].to_owned();
    let csrf = edit.csrf();
    let settings = |agree: &str, max: &str, stop: &str, options: &str, version: &str| {
        vec![
            ("csrf".to_owned(), csrf.clone()),
            ("version".into(), version.to_owned()),
            ("name".into(), "Leagues".into()),
            ("slug".into(), "ignored".into()),
            ("instructions".into(), "Pick the league.".into()),
            ("kind".into(), "choice".into()),
            ("options".into(), options.to_owned()),
            ("agree".into(), agree.to_owned()),
            ("max".into(), max.to_owned()),
            ("stop".into(), stop.to_owned()),
            ("lease_minutes".into(), "10".into()),
        ]
    };
    // Without a valid CSRF token: refused.
    let mut forged = settings("3", "5", "fixed", "nba\nnfl\nmlb", &version);
    forged[0].1 = "forged".into();
    let body = pairs(&forged);
    assert_eq!(b.post("/o/leagues/settings", &body).await.status, 403);
    // Dropping an option that stored answers use: refused, nothing changes.
    let drop_nfl = settings("2", "3", "early", "nba\nmlb", &version);
    let body = pairs(&drop_nfl);
    let page = b.post("/o/leagues/settings", &body).await;
    assert_eq!(page.status, 422);
    assert!(
        page.body.contains("would not fit the new answer schema"),
        "{}",
        page.body
    );
    assert_eq!(s.project_by_slug("leagues").await.unwrap(), p);

    // 3 of 5, fixed: item a is pending again; the slug stayed.
    let stricter = settings("3", "5", "fixed", "nba\nnfl\nmlb", &version);
    let body = pairs(&stricter);
    let saved = b.post("/o/leagues/settings", &body).await;
    assert_eq!(
        saved.location.as_deref(),
        Some("/o/leagues"),
        "{}",
        saved.body
    );
    let dash = b.get("/o/leagues").await;
    assert!(
        dash.body
            .contains("Re-evaluated 2 item(s) with judgments: now 0 resolved (was 1)"),
        "{}",
        dash.body
    );
    assert!(dash.body.contains("3 of at most 5 must agree, stop fixed"));
    let p2 = s.project_by_slug("leagues").await.unwrap();
    assert_eq!(
        (p2.rule().agree(), p2.rule().max(), p2.slug()),
        (3, 5, "leagues")
    );
    assert_eq!(s.project_counts(p2.id).await.unwrap().resolved, 0);
    // The form from before that save is stale now: refused instead of undoing it.
    let page = b.post("/o/leagues/settings", &body).await;
    assert_eq!(page.status, 422);
    assert!(page.body.contains("Someone changed this project"));
    db.finish().await;
}
on_both_backends!(
    #[actix_web::test]
    owners_create_and_edit_projects_and_a_new_rule_re_decides_items
);

/// The secret shown in the "copy your new token now" box.
fn shown_secret(page: &Page) -> String {
    let at = page
        .body
        .find("id=\"new-secret\"")
        .expect("the new secret's box");
    let start = at + page.body[at..].find('>').expect("its text") + 1;
    page.body[start..start + page.body[start..].find("</textarea>").unwrap()].to_owned()
}

async fn token_count(store: &Store) -> usize {
    store.list_tokens(None).await.unwrap().len()
}

async fn api_tokens_need_a_login_and_a_csrf_token(db: TestDb) {
    user(&db.store, "owner@example.com", Role::Owner).await;
    let mut b = browser!(db.store);
    for page in [
        b.get("/tokens").await,
        b.post("/tokens", &[("csrf", "x"), ("scope_annotate", "on")])
            .await,
        b.post("/tokens/1/revoke", &[("csrf", "x")]).await,
    ] {
        assert_eq!(
            (page.status, page.location.as_deref()),
            (303, Some("/login"))
        );
    }

    b.login("owner@example.com", "password1").await;
    let home = b.get("/").await;
    assert!(
        home.body.contains("<a href=\"/tokens\">API tokens</a>"),
        "every logged-in user has the link"
    );
    let forged = b
        .post("/tokens", &[("csrf", "forged"), ("scope_annotate", "on")])
        .await;
    assert_eq!(forged.status, 403);
    let missing = b.post("/tokens", &[("scope_annotate", "on")]).await;
    assert_eq!(missing.status, 403);
    assert_eq!(token_count(&db.store).await, 0, "nothing created");
    let revoke = b.post("/tokens/1/revoke", &[("csrf", "forged")]).await;
    assert_eq!(revoke.status, 403);
    db.finish().await;
}
on_both_backends!(
    #[actix_web::test]
    api_tokens_need_a_login_and_a_csrf_token
);

async fn a_new_token_is_shown_once_then_listed_by_its_prefix_and_stored_as_sha256(db: TestDb) {
    use sha2::Digest;
    let s = &db.store;
    let owner = user(s, "owner@example.com", Role::Owner).await;
    let config = quorum::domain::ProjectConfig::from_toml(LEAGUES).unwrap();
    s.create_project(&config, Some(owner)).await.unwrap();

    let mut b = browser!(db.store);
    b.login("owner@example.com", "password1").await;
    let page = b.get("/tokens").await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("No tokens yet"));
    assert!(
        page.body.contains("name=\"scope_export\""),
        "owners may export"
    );
    assert!(page.body.contains("<option value=\"leagues\""));
    let csrf = page.csrf();

    let created = b
        .post(
            "/tokens",
            &[
                ("csrf", &csrf),
                ("name", "nightly <b>export</b>"),
                ("scope_export", "on"),
                ("project", "leagues"),
            ],
        )
        .await;
    assert_eq!(created.status, 200, "{}", created.body);
    assert_eq!(created.cache_control.as_deref(), Some("no-store"));
    assert!(created.body.contains("Copy your new token now"));
    assert!(
        created
            .body
            .contains("nightly &#60;b&#62;export&#60;/b&#62;"),
        "names are escaped"
    );
    assert!(!created.body.contains("<b>export</b>"));
    let secret = shown_secret(&created);
    assert!(secret.starts_with("qrm_") && secret.len() == 47, "{secret}");
    assert_eq!(
        created.body.matches(&secret).count(),
        1,
        "the secret appears once, in its box"
    );

    let tokens = s.list_tokens(None).await.unwrap();
    assert_eq!(tokens.len(), 1);
    let stored: String = sqlx::query_scalar("SELECT secret_hash FROM api_tokens WHERE id = $1")
        .bind(tokens[0].id)
        .fetch_one(s.pool())
        .await
        .unwrap();
    let sha256: String = sha2::Sha256::digest(secret.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(stored, sha256, "only the SHA-256 of the secret is stored");
    assert!(
        !sqlx::query_scalar::<_, String>("SELECT prefix || name || scopes FROM api_tokens")
            .fetch_one(s.pool())
            .await
            .unwrap()
            .contains(&secret)
    );

    let list = b.get("/tokens").await;
    assert_eq!(list.status, 200);
    assert!(!list.body.contains(&secret), "never shown again");
    assert!(!list.body.contains("Copy your new token now"));
    assert!(
        list.body
            .contains(&format!("<code>{}…</code>", tokens[0].prefix))
    );
    assert!(list.body.contains("<td>export</td>"));
    assert!(list.body.contains("<td>leagues</td>"));
    assert!(list.body.contains("never") && list.body.contains("active"));

    // The token works (as the API will use it), and the page shows when it was last used.
    let (token, who) = s
        .authenticate_token(&quorum::auth::token_hash(&secret), quorum::store::now_ms())
        .await
        .unwrap()
        .expect("a live token");
    assert_eq!((token.id, who.id), (tokens[0].id, owner));
    let list = b.get("/tokens").await;
    assert!(
        !list.body.contains("<td class=\"nowrap\">never</td>"),
        "used now"
    );
    assert!(!list.body.contains(&secret));

    // An empty name gets the date; both scopes and every project are fine for an owner.
    let created = b
        .post(
            "/tokens",
            &[
                ("csrf", &csrf),
                ("name", ""),
                ("scope_export", "on"),
                ("scope_annotate", "on"),
                ("project", ""),
            ],
        )
        .await;
    assert_eq!(created.status, 200);
    let today = chrono::Utc::now().format("%Y-%m-%d").to_string();
    assert!(created.body.contains(&format!("token {today}")));
    assert!(created.body.contains("<td>export, annotate</td>"));
    assert!(created.body.contains("<td>All my projects</td>"));
    assert_ne!(shown_secret(&created), secret);
    db.finish().await;
}
on_both_backends!(
    #[actix_web::test]
    a_new_token_is_shown_once_then_listed_by_its_prefix_and_stored_as_sha256
);

async fn annotators_get_annotate_tokens_for_their_projects_only(db: TestDb) {
    let s = &db.store;
    let owner = user(s, "owner@example.com", Role::Owner).await;
    let annotator = user(s, "ann@example.com", Role::Annotator).await;
    let config = quorum::domain::ProjectConfig::from_toml(LEAGUES).unwrap();
    let leagues = s.create_project(&config, Some(owner)).await.unwrap();
    let others = quorum::domain::ProjectConfig::from_toml(
        &LEAGUES
            .replace("slug = \"leagues\"", "slug = \"others\"")
            .replace("name = \"Leagues\"", "name = \"Other leagues\""),
    )
    .unwrap();
    s.create_project(&others, Some(owner)).await.unwrap();
    s.add_member(leagues.id, annotator).await.unwrap();

    let mut b = browser!(db.store);
    b.login("ann@example.com", "password1").await;
    let page = b.get("/tokens").await;
    assert_eq!(page.status, 200);
    assert!(
        !page.body.contains("scope_export"),
        "export is not offered to annotators"
    );
    assert!(page.body.contains("<option value=\"leagues\""));
    assert!(!page.body.contains("others"), "only their projects");
    let csrf = page.csrf();

    let export = b
        .post(
            "/tokens",
            &[("csrf", &csrf), ("name", "sneaky"), ("scope_export", "on")],
        )
        .await;
    assert_eq!(export.status, 422);
    assert!(
        export.body.contains(
            "the export scope is only for owners and admins; ann@example.com is an annotator"
        ),
        "{}",
        export.body
    );
    assert!(
        export.body.contains("value=\"sneaky\""),
        "the form keeps its input"
    );

    let none = b.post("/tokens", &[("csrf", &csrf), ("name", "x")]).await;
    assert_eq!(none.status, 422);
    assert!(none.body.contains("Choose at least one scope"));

    for slug in ["others", "no-such-project"] {
        let refused = b
            .post(
                "/tokens",
                &[("csrf", &csrf), ("scope_annotate", "on"), ("project", slug)],
            )
            .await;
        assert_eq!(refused.status, 422, "{slug}");
        assert!(
            refused.body.contains(&format!(
                "&#34;{slug}&#34; is not a project you manage or are a member of"
            )),
            "{slug}: {}",
            refused.body
        );
    }
    assert_eq!(token_count(s).await, 0, "refusals create nothing");

    let created = b
        .post(
            "/tokens",
            &[
                ("csrf", &csrf),
                ("name", "labeler"),
                ("scope_annotate", "on"),
                ("project", "leagues"),
            ],
        )
        .await;
    assert_eq!(created.status, 200, "{}", created.body);
    let secret = shown_secret(&created);
    let tokens = s.list_tokens(Some(annotator)).await.unwrap();
    assert_eq!(tokens.len(), 1);
    assert_eq!(tokens[0].project_id, Some(leagues.id));
    assert!(tokens[0].scopes.annotate && !tokens[0].scopes.export);
    assert!(secret.starts_with(&tokens[0].prefix));
    db.finish().await;
}
on_both_backends!(
    #[actix_web::test]
    annotators_get_annotate_tokens_for_their_projects_only
);

async fn owners_are_offered_the_import_scope_and_annotators_are_not(db: TestDb) {
    let s = &db.store;
    let owner = user(s, "owner@example.com", Role::Owner).await;
    let annotator = user(s, "ann@example.com", Role::Annotator).await;
    let config = quorum::domain::ProjectConfig::from_toml(LEAGUES).unwrap();
    let leagues = s.create_project(&config, Some(owner)).await.unwrap();
    s.add_member(leagues.id, annotator).await.unwrap();

    let mut b = browser!(db.store);
    b.login("owner@example.com", "password1").await;
    let page = b.get("/tokens").await;
    assert!(
        page.body.contains(
            "<label class=\"check\"><input type=\"checkbox\" name=\"scope_import\" value=\"on\"> \
             <code>import</code> <span class=\"hint\">add items to projects you manage</span></label>"
        ),
        "a labelled checkbox, unchecked: {}",
        page.body
    );
    let csrf = page.csrf();
    let forged = b
        .post("/tokens", &[("csrf", "forged"), ("scope_import", "on")])
        .await;
    assert_eq!(forged.status, 403);
    assert_eq!(token_count(s).await, 0, "nothing created");

    let created = b
        .post(
            "/tokens",
            &[
                ("csrf", &csrf),
                ("name", "loader"),
                ("scope_import", "on"),
                ("project", "leagues"),
            ],
        )
        .await;
    assert_eq!(created.status, 200, "{}", created.body);
    assert!(created.body.contains("<td>import</td>"));
    let secret = shown_secret(&created);
    let tokens = s.list_tokens(Some(owner)).await.unwrap();
    assert_eq!(tokens.len(), 1);
    assert_eq!(
        (
            tokens[0].scopes.export,
            tokens[0].scopes.annotate,
            tokens[0].scopes.import
        ),
        (false, false, true),
        "import alone"
    );
    assert!(secret.starts_with(&tokens[0].prefix));
    let refused = b
        .post(
            "/tokens",
            &[
                ("csrf", &csrf),
                ("name", "kept <i>"),
                ("scope_import", "on"),
                ("project", "nope"),
            ],
        )
        .await;
    assert_eq!(refused.status, 422);
    assert!(
        refused
            .body
            .contains("name=\"scope_import\" value=\"on\" checked>"),
        "the form keeps its scopes"
    );
    assert!(
        refused.body.contains("value=\"kept &#60;i&#62;\""),
        "and escapes its input"
    );
    let none = b.post("/tokens", &[("csrf", &csrf), ("name", "x")]).await;
    assert!(
        none.body
            .contains("Choose at least one scope: export, annotate or import."),
        "{}",
        none.body
    );

    let mut ann = browser!(db.store);
    ann.login("ann@example.com", "password1").await;
    let page = ann.get("/tokens").await;
    assert!(
        !page.body.contains("scope_import"),
        "not offered to annotators"
    );
    let sneaky = ann
        .post(
            "/tokens",
            &[
                ("csrf", &page.csrf()),
                ("scope_import", "on"),
                ("project", "leagues"),
            ],
        )
        .await;
    assert_eq!(sneaky.status, 422);
    assert!(
        sneaky.body.contains(
            "the import scope is only for owners and admins; ann@example.com is an annotator"
        ),
        "{}",
        sneaky.body
    );
    assert_eq!(token_count(s).await, 1, "refusals create nothing");
    db.finish().await;
}
on_both_backends!(
    #[actix_web::test]
    owners_are_offered_the_import_scope_and_annotators_are_not
);

async fn users_revoke_their_own_tokens_and_nobody_elses(db: TestDb) {
    let s = &db.store;
    user(s, "owner@example.com", Role::Owner).await;
    user(s, "ann@example.com", Role::Annotator).await;

    let mut owner = browser!(db.store);
    owner.login("owner@example.com", "password1").await;
    let csrf = owner.get("/tokens").await.csrf();
    let created = owner
        .post(
            "/tokens",
            &[
                ("csrf", &csrf),
                ("name", "owners-ci-token"),
                ("scope_export", "on"),
            ],
        )
        .await;
    let secret = shown_secret(&created);
    let hash = quorum::auth::token_hash(&secret);
    let id = s.list_tokens(None).await.unwrap()[0].id;

    let mut ann = browser!(db.store);
    ann.login("ann@example.com", "password1").await;
    let ann_csrf = ann.get("/tokens").await.csrf();
    let theirs = ann
        .post(&format!("/tokens/{id}/revoke"), &[("csrf", &ann_csrf)])
        .await;
    assert_eq!(theirs.status, 404, "another user's token looks missing");
    assert!(!ann.get("/tokens").await.body.contains("owners-ci-token"));
    assert!(
        s.authenticate_token(&hash, 1).await.unwrap().is_some(),
        "still live"
    );
    assert_eq!(
        owner
            .post("/tokens/999/revoke", &[("csrf", &csrf)])
            .await
            .status,
        404
    );
    assert_eq!(
        owner
            .post("/tokens/abc/revoke", &[("csrf", &csrf)])
            .await
            .status,
        404
    );

    let page = owner.get("/tokens").await;
    assert!(
        page.body
            .contains(&format!("action=\"/tokens/{id}/revoke\""))
    );
    let done = owner
        .post(&format!("/tokens/{id}/revoke"), &[("csrf", &csrf)])
        .await;
    assert_eq!(
        (done.status, done.location.as_deref()),
        (303, Some("/tokens"))
    );
    let page = owner.get("/tokens").await;
    assert!(
        page.body.contains("Revoked token “owners-ci-token”"),
        "{}",
        page.body
    );
    assert!(page.body.contains("<td>revoked "));
    assert!(
        !page
            .body
            .contains(&format!("action=\"/tokens/{id}/revoke\"")),
        "no Revoke button for a revoked token"
    );
    assert!(!page.body.contains(&secret));
    assert!(s.authenticate_token(&hash, 2).await.unwrap().is_none());
    db.finish().await;
}
on_both_backends!(
    #[actix_web::test]
    users_revoke_their_own_tokens_and_nobody_elses
);

/// Every kind of response carries the security headers, from one middleware: a page, a
/// redirect, a form error, a 404 page, the API (JSON, its 404, an auth error), static files
/// and health.
async fn every_response_carries_the_security_headers(db: TestDb) {
    let backend = db.backend();
    let app = test_app!(db.store);
    let requests = [
        ("GET", "/login", 200, true),
        ("GET", "/", 303, true),
        ("POST", "/logout", 403, true),
        ("GET", "/no/such/page", 404, true),
        ("GET", "/api/v1/openapi.json", 200, true),
        ("GET", "/api/v1/projects", 401, true),
        ("GET", "/api/v1/nope", 404, true),
        ("GET", "/healthz", 200, true),
        ("GET", "/static/app.css", 200, false),
        ("GET", "/static/label.js", 200, false),
    ];
    for (method, path, status, no_store) in requests {
        let req = if method == "GET" {
            test::TestRequest::get()
        } else {
            test::TestRequest::post().set_form([("csrf", "x")])
        };
        let resp = test::call_service(&app, req.uri(path).to_request()).await;
        assert_eq!(resp.status().as_u16(), status, "{backend} {method} {path}");
        let h = |name: &str| {
            resp.headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
                .unwrap_or_default()
        };
        let csp = h("content-security-policy");
        for directive in [
            "default-src 'self'",
            "script-src 'self'",
            "frame-ancestors 'none'",
            "form-action 'self'",
            "base-uri 'none'",
            "object-src 'none'",
        ] {
            assert!(csp.contains(directive), "{backend} {path}: CSP {csp:?}");
        }
        assert!(!csp.contains("unsafe-inline"), "{backend} {path}");
        assert_eq!(h("x-content-type-options"), "nosniff", "{backend} {path}");
        assert_eq!(h("referrer-policy"), "same-origin", "{backend} {path}");
        assert_eq!(h("x-frame-options"), "DENY", "{backend} {path}");
        assert_eq!(
            h("cross-origin-opener-policy"),
            "same-origin",
            "{backend} {path}"
        );
        assert_eq!(
            h("strict-transport-security"),
            "",
            "no HSTS over plain HTTP"
        );
        if no_store {
            assert_eq!(h("cache-control"), "no-store", "{backend} {path}");
        } else {
            assert!(h("cache-control").starts_with("public"), "{backend} {path}");
        }
    }
    db.finish().await;
}
on_both_backends!(
    #[actix_web::test]
    every_response_carries_the_security_headers
);

/// Deployments with secure cookies (HTTPS) also send Strict-Transport-Security.
async fn secure_deployments_send_hsts(db: TestDb) {
    let app = test_app!(db.store, true);
    let resp = test::call_service(&app, test::TestRequest::get().uri("/login").to_request()).await;
    assert_eq!(
        resp.headers()
            .get("strict-transport-security")
            .and_then(|v| v.to_str().ok()),
        Some(quorum::interfaces::http::headers::STRICT_TRANSPORT_SECURITY)
    );
    db.finish().await;
}
on_both_backends!(
    #[actix_web::test]
    secure_deployments_send_hsts
);

/// Confidence stopping from the browser: the settings form creates it (and refuses bad
/// targets naming the key), the dashboard shows each annotator's estimated accuracy and the
/// items the model and the quorum disagree on, and the planner page computes rules for the
/// project's own crowd, saying that the figures are upper bounds.
async fn owners_plan_rules_and_run_confidence_stopping_in_the_browser(db: TestDb) {
    let s = &db.store;
    user(s, "owner@example.com", Role::Owner).await;
    let mut b = browser!(db.store);
    b.login("owner@example.com", "password1").await;
    let csrf = b.get("/o/new").await.csrf();
    let form = |target: &str, min: &str| {
        vec![
            ("csrf".to_owned(), csrf.clone()),
            ("name".into(), "Leagues".into()),
            ("slug".into(), "leagues".into()),
            ("instructions".into(), "Pick the league.".into()),
            ("kind".into(), "choice".into()),
            ("options".into(), "nba\nnfl\nmlb\nnhl".into()),
            ("agree".into(), "".into()),
            ("max".into(), "9".into()),
            ("stop".into(), "confidence".into()),
            ("target".into(), target.to_owned()),
            ("min".into(), min.to_owned()),
            ("lease_minutes".into(), "10".into()),
        ]
    };
    for (target, min, key) in [
        ("1.5", "2", "quorum.target"),
        ("0.99", "12", "quorum.min"),
        ("high", "2", "Target confidence"),
    ] {
        let sent = form(target, min);
        let page = b.post("/o/new", &pairs(&sent)).await;
        assert_eq!(page.status, 422, "{target} {min}");
        assert!(page.body.contains(key), "{key}: {}", page.body);
    }
    assert!(
        s.list_projects().await.unwrap().is_empty(),
        "nothing created"
    );
    let sent = form("0.99", "2");
    let created = b.post("/o/new", &pairs(&sent)).await;
    assert_eq!(
        created.location.as_deref(),
        Some("/o/leagues"),
        "{}",
        created.body
    );
    let p = s.project_by_slug("leagues").await.unwrap();
    assert_eq!(
        (p.rule().target(), p.rule().min(), p.rule().max()),
        (Some(0.99), 2, 9)
    );
    let edit = b.get("/o/leagues/settings").await;
    assert!(
        edit.body.contains("value=\"confidence\" checked") && edit.body.contains("value=\"0.99\""),
        "{}",
        edit.body
    );
    assert!(edit.body.contains("href=\"/o/leagues/plan\""));

    let mut items = String::from("item_id,name\n");
    let mut judgments = String::from("item_id,annotator,answer\n");
    for i in 0..40 {
        items.push_str(&format!("t{i},T{i}\n"));
        let truth = ["nba", "nfl"][i % 2];
        for g in 1..=4 {
            judgments.push_str(&format!("t{i},g{g},{truth}\n"));
        }
        // A spammer who always says "mlb".
        judgments.push_str(&format!("t{i},spam,mlb\n"));
    }
    // Two items the spammer and one accomplice carry by votes but the model doubts.
    items.push_str("z1,Z1\nz2,Z2\n");
    judgments.push_str("z1,spam,mlb\nz1,g1,nba\n");
    db.import_items(&p, &items).await;
    db.import_judgments(&p, &judgments).await.unwrap();
    s.refit_model(&p).await.unwrap();
    let dash = b.get("/o/leagues").await;
    assert_eq!(dash.status, 200);
    assert!(dash.body.contains("Estimated accuracy"), "{}", dash.body);
    assert!(
        dash.body
            .contains("resolves when the crowd model gives an answer 0.99 or more")
    );
    assert!(
        dash.body
            .contains("Where the model and the quorum disagree")
    );

    let plan = b.get("/o/leagues/plan").await;
    assert_eq!(plan.status, 200, "{}", plan.body);
    assert!(plan.body.contains("upper bounds") && plan.body.contains("share mistakes"));
    assert!(
        plan.body.contains("estimates its annotators right"),
        "the project's own estimate"
    );
    assert!(plan.body.contains("Recommended:"), "{}", plan.body);
    let typed = b.get("/o/leagues/plan?accuracy=0.9&errors=namesake&target=0.99999&max_n=9&min_resolution=0.9").await;
    assert!(
        typed.body.contains("7 of 9") || typed.body.contains("p ≥ 0.99999"),
        "{}",
        typed.body
    );
    let bad = b.get("/o/leagues/plan?accuracy=1.5").await;
    assert_eq!(bad.status, 200);
    assert!(
        bad.body.contains("Accuracy: 1.5 is outside (0, 1)"),
        "{}",
        bad.body
    );
    let bad = b.get("/o/leagues/plan?errors=sometimes").await;
    assert!(bad.body.contains("Errors:"), "{}", bad.body);

    // Only the project's owner (or an admin) plans it.
    user(s, "rival@example.com", Role::Owner).await;
    let mut rival = browser!(db.store);
    rival.login("rival@example.com", "password1").await;
    assert_eq!(rival.get("/o/leagues/plan").await.status, 404);
    db.finish().await;
}
on_both_backends!(
    #[actix_web::test]
    owners_plan_rules_and_run_confidence_stopping_in_the_browser
);
