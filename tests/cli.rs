//! Black-box tests of the `quorum` binary: the README walkthrough, help for every command,
//! and bad input that fails clearly and changes nothing. Every test with a database runs on
//! both backends through [`cli_on_both_backends!`]; the binary gets the database by
//! `QUORUM_DATABASE_URL`, as an operator would give it.

mod common;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use common::{Backend, PgDatabase};

/// For `fn NAME(env: Env)`: the module `NAME` holds `sqlite` and `postgres`, each giving the
/// test a working directory and an empty database of that backend.
macro_rules! cli_on_both_backends {
    ($($name:ident),+ $(,)?) => {
        $(
            mod $name {
                #[test]
                fn sqlite() {
                    if let Some(env) = super::Env::on($crate::common::Backend::Sqlite) {
                        super::$name(env)
                    }
                }

                #[test]
                fn postgres() {
                    if let Some(env) = super::Env::on($crate::common::Backend::Postgres) {
                        super::$name(env)
                    }
                }
            }
        )+
    };
}

/// A working directory and the database the binary runs on, removed when dropped.
struct Env {
    dir: tempfile::TempDir,
    url: String,
    postgres: Option<PgDatabase>,
}

impl Env {
    /// On SQLite, for the tests that are about the command line rather than the database.
    fn new() -> Env {
        let dir = tempfile::tempdir().expect("temp dir");
        let url = format!("sqlite://{}", dir.path().join("q.db").display());
        Env {
            dir,
            url,
            postgres: None,
        }
    }

    /// On `backend`, or `None` when PostgreSQL is not configured (the harness says SKIPPED).
    fn on(backend: Backend) -> Option<Env> {
        match backend {
            Backend::Sqlite => Some(Env::new()),
            Backend::Postgres => {
                let database = runtime().block_on(PgDatabase::create())?;
                Some(Env {
                    dir: tempfile::tempdir().expect("temp dir"),
                    url: database.url.clone(),
                    postgres: Some(database),
                })
            }
        }
    }

    /// Another, empty database of the same backend, for tests that choose between two.
    fn another_database(&self) -> Env {
        let backend = if self.postgres.is_some() {
            Backend::Postgres
        } else {
            Backend::Sqlite
        };
        Env::on(backend).expect("the backend is configured")
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn write(&self, name: &str, text: &str) -> PathBuf {
        let p = self.path(name);
        std::fs::write(&p, text).expect("write");
        p
    }

    fn run(&self, args: &[&str]) -> Output {
        self.run_with_stdin(args, "")
    }

    fn run_with_stdin(&self, args: &[&str], stdin: &str) -> Output {
        let mut child = Command::new(env!("CARGO_BIN_EXE_quorum"))
            .args(args)
            .env("QUORUM_DATABASE_URL", &self.url)
            .current_dir(self.dir.path())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn quorum");
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(stdin.as_bytes())
            .expect("stdin");
        child.wait_with_output().expect("wait")
    }

    fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "{args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).expect("utf-8")
    }

    fn fails(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(!out.status.success(), "{args:?} should fail");
        String::from_utf8(out.stderr).expect("utf-8")
    }
}

impl Drop for Env {
    fn drop(&mut self) {
        if let Some(database) = &self.postgres {
            runtime().block_on(database.drop());
        }
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime")
}

fn seed(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("seed")
        .join(name)
        .display()
        .to_string()
}

/// Opens no database, so one backend is enough.
#[test]
fn every_command_has_help() {
    let env = Env::new();
    for args in [
        vec!["--help"],
        vec!["migrate", "--help"],
        vec!["user", "--help"],
        vec!["user", "add", "--help"],
        vec!["user", "list", "--help"],
        vec!["project", "--help"],
        vec!["project", "create", "--help"],
        vec!["project", "list", "--help"],
        vec!["project", "show", "--help"],
        vec!["project", "update", "--help"],
        vec!["items", "import", "--help"],
        vec!["judgments", "import", "--help"],
        vec!["export", "--help"],
        vec!["token", "--help"],
        vec!["token", "create", "--help"],
        vec!["token", "list", "--help"],
        vec!["token", "revoke", "--help"],
        vec!["snapshot", "--help"],
        vec!["snapshot", "list", "--help"],
        vec!["snapshot", "download", "--help"],
        vec!["serve", "--help"],
        vec!["demo", "--help"],
        vec!["plan", "--help"],
        vec!["model", "fit", "--help"],
        vec!["model", "show", "--help"],
    ] {
        let out = env.ok(&args);
        assert!(out.contains("Usage:"), "{args:?}: {out}");
    }
}

/// `quorum plan` opens no database. Its JSON is the contract other tools call: the classic
/// 7-of-9 claim, exact figures at full precision, and each bad flag refused by name.
#[test]
fn plan_reproduces_the_founding_claim_and_refuses_bad_flags() {
    let env = Env::new();
    let json = |errors: &str| -> Vec<serde_json::Value> {
        let out = env.ok(&[
            "plan",
            "--accuracy",
            "0.9",
            "--errors",
            errors,
            "--target",
            "0.99999",
            "--rule",
            "7-of-9",
            "--format",
            "json",
        ]);
        serde_json::from_str(&out).expect("one JSON array")
    };
    let scattered = json("uniform:100");
    let namesake = json("namesake");
    let early = |rows: &[serde_json::Value]| {
        rows.iter()
            .find(|r| r["stop"] == "early")
            .expect("an early row")
            .clone()
    };
    for rows in [&scattered, &namesake] {
        let stops: Vec<&str> = rows.iter().map(|r| r["stop"].as_str().unwrap()).collect();
        assert!(
            stops.contains(&"early") && stops.contains(&"fixed") && stops.contains(&"confidence")
        );
        for r in rows.iter() {
            for key in [
                "agree",
                "max",
                "stop",
                "resolution_rate",
                "accuracy_resolved",
                "wrong_per_item",
                "expected_judgments",
            ] {
                assert!(r.get(key).is_some(), "{key} missing in {r}");
            }
            assert_eq!(r["max"], 9);
        }
    }
    let s = early(&scattered)["accuracy_resolved"].as_f64().unwrap();
    let n = early(&namesake)["accuracy_resolved"].as_f64().unwrap();
    assert!(
        s > 0.999999,
        "scattered errors: about 99.9999% or better, got {s}"
    );
    assert!(
        (n - 0.9999968).abs() < 5e-8,
        "one namesake: 99.99968%, got {n}"
    );
    assert_eq!(early(&namesake)["agree"], 7);
    let table = env.ok(&[
        "plan",
        "--accuracy",
        "0.9",
        "--errors",
        "namesake",
        "--target",
        "0.99999",
    ]);
    assert!(
        table.contains("upper bounds") && table.contains("Recommended"),
        "{table}"
    );
    for (args, named) in [
        (vec!["--accuracy", "1.2", "--target", "0.99"], "--accuracy"),
        (vec!["--accuracy", "0", "--target", "0.99"], "--accuracy"),
        (vec!["--accuracy", "0.9", "--target", "0.5"], "--target"),
        (vec!["--accuracy", "0.9", "--target", "1"], "--target"),
        (
            vec![
                "--accuracy",
                "0.9",
                "--target",
                "0.99",
                "--errors",
                "random",
            ],
            "--errors",
        ),
        (
            vec![
                "--accuracy",
                "0.9",
                "--target",
                "0.99",
                "--errors",
                "uniform:0",
            ],
            "--errors",
        ),
        (
            vec!["--accuracy", "0.9", "--target", "0.99", "--rule", "4-of-9"],
            "--rule",
        ),
        (
            vec!["--accuracy", "0.9", "--target", "0.99", "--rule", "nine"],
            "--rule",
        ),
        (
            vec!["--accuracy", "0.9", "--target", "0.99", "--max-n", "0"],
            "--max-n",
        ),
    ] {
        let mut all = vec!["plan"];
        all.extend(args.iter().copied());
        let err = env.fails(&all);
        assert!(err.contains(named), "{args:?}: {err}");
    }
    assert!(!env.path("q.db").exists(), "plan opened no database");
}

fn readme_walkthrough_with_mechanical_turk_batch(env: Env) {
    env.ok(&["migrate"]);
    let out = env.ok(&[
        "project",
        "create",
        "--config",
        &seed("athlete-handles.toml"),
    ]);
    assert!(out.contains("7 of at most 9"), "{out}");
    let out = env.ok(&[
        "items",
        "import",
        "--project",
        "athlete-handles",
        &seed("athlete-handles-items.csv"),
    ]);
    assert!(
        out.contains("20 rows read, 20 items added, 0 skipped"),
        "{out}"
    );
    let batch = seed("athlete-handles-mturk.csv");
    let out = env.ok(&[
        "judgments",
        "import",
        "--project",
        "athlete-handles",
        &batch,
    ]);
    assert!(
        out.contains("19 rows read, 18 judgments added, 0 skipped as already present, 0 items created, 7 annotators created, 1 rejected assignments skipped"),
        "{out}"
    );
    assert!(
        out.contains("crowd model v1 fitted to 18 judgments of 7 annotators"),
        "an import that adds judgments ends with a fit: {out}"
    );
    let again = env.ok(&[
        "judgments",
        "import",
        "--project",
        "athlete-handles",
        &batch,
    ]);
    assert!(
        again.contains("0 judgments added, 18 skipped as already present"),
        "{again}"
    );

    env.ok(&[
        "export",
        "--project",
        "athlete-handles",
        "--out",
        "labels.csv",
        "--stats",
        "stats.json",
        "--judgments",
        "judgments.csv",
        "--annotators",
        "annotators.csv",
    ]);
    let labels = std::fs::read_to_string(env.path("labels.csv")).unwrap();
    let mut lines = labels.lines();
    assert_eq!(
        lines.next(),
        Some(
            "item_id,status,label,votes,judgments,agreement,answers,confidence,model_label,model_confidence,input.name,input.sport,input.team"
        )
    );
    assert!(
        labels.contains("\nad-nba,resolved,antdavis23,7,7,1,"),
        "{labels}"
    );
    assert!(
        labels.contains("\nlbj,resolved,kingjames,7,7,1,"),
        "{labels}"
    );
    assert!(
        labels.contains("\nad-nfl,pending,,2,4,0.5,"),
        "namesake confusion stays open: {labels}"
    );
    let stats: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(env.path("stats.json")).unwrap()).unwrap();
    assert_eq!(stats["items"], 20);
    assert_eq!(stats["resolved"], 2);
    assert_eq!(stats["judgments"], 18);
    assert_eq!(stats["annotators"], 7);
    let annotators = std::fs::read_to_string(env.path("annotators.csv")).unwrap();
    assert!(annotators.starts_with("annotator,judgments,agreement_with_consensus,cohen_kappa_vs_consensus,estimated_accuracy\nA1WORKER0001,3,1,"), "{annotators}");
    assert!(!env.path("labels.csv.partial").exists());
    let list = env.ok(&["project", "list"]);
    assert!(
        list.contains("athlete-handles") && list.contains("7/9"),
        "{list}"
    );
    let show = env.ok(&["project", "show", "athlete-handles"]);
    assert!(
        show.contains("agree = 7") && show.contains("resolved 2"),
        "{show}"
    );
}
cli_on_both_backends!(readme_walkthrough_with_mechanical_turk_batch);

fn invalid_config_names_the_key_and_creates_nothing(env: Env) {
    let bad = std::fs::read_to_string(seed("athlete-handles.toml"))
        .unwrap()
        .replace("agree = 7", "agree = 4");
    let path = env.write("bad.toml", &bad);
    let err = env.fails(&["project", "create", "--config", path.to_str().unwrap()]);
    assert!(
        err.contains("bad.toml") && err.contains("quorum.agree") && err.contains("more than half"),
        "{err}"
    );
    let choice = env.write(
        "choice.toml",
        "name = \"x\"\nslug = \"x\"\n[answer]\nkind = \"choice\"\n[quorum]\nagree = 2\nmax = 3\n",
    );
    let err = env.fails(&["project", "create", "--config", choice.to_str().unwrap()]);
    assert!(err.contains("answer.options"), "{err}");
    assert!(env.ok(&["project", "list"]).contains("no projects yet"));
}
cli_on_both_backends!(invalid_config_names_the_key_and_creates_nothing);

fn project_update_re_evaluates_items_or_changes_nothing(env: Env) {
    let toml = std::fs::read_to_string(seed("leagues.toml")).unwrap();
    let path = env.write("leagues.toml", &toml);
    env.ok(&["project", "create", "--config", path.to_str().unwrap()]);
    let slug = toml
        .lines()
        .find_map(|l| l.strip_prefix("slug = "))
        .unwrap()
        .trim_matches('"')
        .to_owned();
    let items = env.write("items.csv", "item_id,name\na,A\nb,B\n");
    env.ok(&[
        "items",
        "import",
        "--project",
        &slug,
        items.to_str().unwrap(),
    ]);
    let judgments = env.write(
        "j.csv",
        "item_id,annotator,answer\na,w1,nba\na,w2,nba\nb,w1,nfl\nb,w2,nfl\n",
    );
    env.ok(&[
        "judgments",
        "import",
        "--project",
        &slug,
        judgments.to_str().unwrap(),
    ]);
    assert!(env.ok(&["project", "show", &slug]).contains("resolved 2"));

    let stricter = env.write(
        "stricter.toml",
        &toml
            .replace("agree = 2", "agree = 3")
            .replace("max = 3", "max = 5"),
    );
    let out = env.ok(&["project", "update", "--config", stricter.to_str().unwrap()]);
    assert!(
        out.contains("resolved 2 -> 0") && out.contains("pending 0 -> 2"),
        "{out}"
    );
    let show = env.ok(&["project", "show", &slug]);
    assert!(
        show.contains("agree = 3") && show.contains("pending 2"),
        "{show}"
    );

    let too_small = env.write(
        "small.toml",
        &toml
            .replace("agree = 2", "agree = 1")
            .replace("max = 3", "max = 1"),
    );
    let err = env.fails(&["project", "update", "--config", too_small.to_str().unwrap()]);
    assert!(
        err.contains("small.toml") && err.contains("already has 2 judgments"),
        "{err}"
    );
    assert_eq!(env.ok(&["project", "show", &slug]), show, "nothing changed");
}
cli_on_both_backends!(project_update_re_evaluates_items_or_changes_nothing);

fn bad_csv_fails_with_file_line_and_column_and_changes_nothing(env: Env) {
    env.ok(&["project", "create", "--config", &seed("leagues.toml")]);
    env.ok(&[
        "items",
        "import",
        "--project",
        "leagues",
        &seed("leagues-items.csv"),
    ]);
    let before = env.ok(&["project", "list"]);

    let import_fails = |name: &str, bytes: &[u8]| -> String {
        let path = env.path(name);
        std::fs::write(&path, bytes).expect("write");
        env.fails(&[
            "judgments",
            "import",
            "--project",
            "leagues",
            path.to_str().unwrap(),
        ])
    };
    let err = import_fails(
        "bad-utf8.csv",
        b"item_id,annotator,answer\np01,w1,nba\np02,w1,n\xff\xfe\n",
    );
    assert!(
        err.contains("bad-utf8.csv:3") && err.contains("column answer") && err.contains("UTF-8"),
        "{err}"
    );
    let err = import_fails(
        "ragged.csv",
        b"item_id,annotator,answer\np01,w1,nba\np02,w1\n",
    );
    assert!(err.contains("ragged.csv:3"), "{err}");
    let err = import_fails(
        "option.csv",
        b"item_id,annotator,answer\np01,w1,nba\np02,w1,cricket\n",
    );
    assert!(
        err.contains("option.csv") && err.contains("line 3") && err.contains("cricket"),
        "{err}"
    );
    let err = import_fails(
        "over.csv",
        b"item_id,annotator,answer\np01,a,nba\np01,b,nfl\np01,c,mlb\np01,d,nhl\n",
    );
    assert!(err.contains("line 5") && err.contains("max = 3"), "{err}");

    let missing = env.fails(&["items", "import", "--project", "leagues", "nope.csv"]);
    assert!(missing.contains("nope.csv"), "{missing}");
    let unknown = env.fails(&[
        "items",
        "import",
        "--project",
        "nope",
        &seed("leagues-items.csv"),
    ]);
    assert!(unknown.contains("project \"nope\" not found"), "{unknown}");

    assert_eq!(env.ok(&["project", "list"]), before, "nothing changed");
}
cli_on_both_backends!(bad_csv_fails_with_file_line_and_column_and_changes_nothing);

fn users_get_argon2id_hashes_from_stdin_never_arguments(env: Env) {
    let out = env.run_with_stdin(
        &[
            "user",
            "add",
            "--email",
            "Owner@Example.com",
            "--role",
            "owner",
        ],
        "s3cret-pass\n",
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = env.run_with_stdin(
        &[
            "user",
            "add",
            "--email",
            "owner@example.com",
            "--role",
            "owner",
        ],
        "s3cret-pass\n",
    );
    assert!(!out.status.success(), "duplicate user");
    let out = env.run_with_stdin(
        &[
            "user",
            "add",
            "--email",
            "a@example.com",
            "--role",
            "annotator",
        ],
        "short\n",
    );
    assert!(!out.status.success() && String::from_utf8_lossy(&out.stderr).contains("at least 8"));
    let out = env.run(&[
        "user",
        "add",
        "--email",
        "b@example.com",
        "--role",
        "annotator",
        "--password",
        "x",
    ]);
    assert!(!out.status.success(), "no password argument exists");
    let list = env.ok(&["user", "list"]);
    assert!(
        list.contains("owner@example.com") && list.contains("owner"),
        "{list}"
    );
}
cli_on_both_backends!(users_get_argon2id_hashes_from_stdin_never_arguments);

/// `quorum ARGS` in the test's directory with none of the settings variables of the outer
/// environment, plus `vars`: the settings file alone decides what they leave out.
fn quorum_with(env: &Env, vars: &[(&str, &str)], args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_quorum"));
    cmd.args(args).current_dir(env.dir.path());
    for var in [
        "QUORUM_DATABASE_URL",
        "QUORUM_CONFIG",
        "QUORUM_LOG",
        "QUORUM_BIND",
        "QUORUM_SECURE_COOKIES",
        "QUORUM_SESSION_KEY",
        "QUORUM_SESSION_KEY_FILE",
        "QUORUM_SESSION_IDLE_MINUTES",
        "QUORUM_SESSION_LIFETIME_MINUTES",
    ] {
        cmd.env_remove(var);
    }
    cmd.envs(vars.iter().copied());
    cmd
}

fn output(mut cmd: Command) -> (bool, String, String) {
    let out = cmd.stdin(Stdio::null()).output().expect("run quorum");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn config_file_gives_the_database_and_flags_and_environment_override_it(env: Env) {
    let other_database = env.another_database();
    env.write("quorum.toml", &format!("database = \"{}\"\n", env.url));
    let (ok, _, err) = output(quorum_with(
        &env,
        &[],
        &[
            "--config",
            "quorum.toml",
            "project",
            "create",
            "--config",
            &seed("leagues.toml"),
        ],
    ));
    assert!(ok, "{err}");
    let list = |vars: &[(&str, &str)], args: &[&str]| {
        let (ok, out, err) = output(quorum_with(&env, vars, args));
        assert!(ok, "{args:?}: {err}");
        out
    };
    // The file, named by the flag or by QUORUM_CONFIG.
    assert!(list(&[], &["--config", "quorum.toml", "project", "list"]).contains("leagues"));
    assert!(list(&[("QUORUM_CONFIG", "quorum.toml")], &["project", "list"]).contains("leagues"));
    // The environment beats the file, and a flag beats both.
    let other = [("QUORUM_DATABASE_URL", other_database.url.as_str())];
    assert!(
        list(&other, &["--config", "quorum.toml", "project", "list"]).contains("no projects yet")
    );
    let flag = [
        "--config",
        "quorum.toml",
        "project",
        "list",
        "--database",
        env.url.as_str(),
    ];
    assert!(list(&other, &flag).contains("leagues"));
}
cli_on_both_backends!(config_file_gives_the_database_and_flags_and_environment_override_it);

/// On SQLite alone: the file is refused before any database is opened, whatever its backend.
#[test]
fn config_file_errors_name_the_file_the_line_and_the_key() {
    let env = Env::new();
    env.write(
        "quorum.toml",
        "database = \"sqlite://q.db\"\n\n[server]\nbind = \"127.0.0.1:0\"\nsecure_cookie = true\n",
    );
    let (ok, _, err) = output(quorum_with(
        &env,
        &[],
        &["--config", "quorum.toml", "project", "list"],
    ));
    assert!(!ok);
    assert!(
        err.contains("quorum.toml")
            && err.contains("line 5")
            && err.contains("unknown field `secure_cookie`"),
        "{err}"
    );
    let (ok, _, err) = output(quorum_with(
        &env,
        &[("QUORUM_CONFIG", "missing.toml")],
        &["migrate"],
    ));
    assert!(!ok);
    assert!(
        err.contains("reading the configuration file missing.toml"),
        "{err}"
    );
    // Session times: whole minutes above zero, refused with where they were given.
    env.write(
        "sessions.toml",
        "database = \"sqlite://q.db\"\n\n[server]\nbind = \"127.0.0.1:0\"\nsession_idle_minutes = 0\n",
    );
    let (ok, _, err) = output(quorum_with(
        &env,
        &[],
        &["serve", "--config", "sessions.toml"],
    ));
    assert!(!ok);
    assert!(
        err.contains("sessions.toml: server.session_idle_minutes") && err.contains("between 1"),
        "{err}"
    );
    let (ok, _, err) = output(quorum_with(
        &env,
        &[("QUORUM_SESSION_LIFETIME_MINUTES", "0")],
        &["serve", "--bind", "127.0.0.1:0"],
    ));
    assert!(
        !ok && err.contains("--session-lifetime-minutes (QUORUM_SESSION_LIFETIME_MINUTES)"),
        "{err}"
    );
    assert!(!env.path("q.db").exists(), "nothing was opened");
    assert!(!env.path("quorum.db").exists(), "nothing was opened");
}

/// One HTTP/1.1 exchange on a fresh connection; the whole response as text.
#[cfg(unix)]
fn http(addr: &str, request: String) -> String {
    use std::io::Read;
    let mut stream = std::net::TcpStream::connect(addr).expect("connect");
    stream.write_all(request.as_bytes()).expect("send");
    let mut response = String::new();
    stream.read_to_string(&mut response).expect("receive");
    response
}

#[cfg(unix)]
fn session_cookie(response: &str) -> String {
    let line = response
        .lines()
        .find(|l| {
            l.to_ascii_lowercase()
                .starts_with("set-cookie: quorum_session=")
        })
        .unwrap_or_else(|| panic!("no session cookie in {response}"));
    line["set-cookie: ".len()..]
        .split(';')
        .next()
        .unwrap()
        .to_owned()
}

/// `serve` takes its address, cookie flag, session key and database from the file, and logs
/// every request with its user id once the user is known.
#[cfg(unix)]
fn serve_reads_the_config_file_and_logs_the_user_of_each_request(env: Env) {
    use std::io::BufRead;
    // 64 zero bytes, in base64 broken over two lines as `openssl rand -base64 64` prints it.
    env.write(
        "session.key",
        &format!("{}\n{}==\n", "A".repeat(64), "A".repeat(22)),
    );
    env.write(
        "quorum.toml",
        &format!(
            "database = \"{}\"\n\n[server]\nbind = \"127.0.0.1:0\"\n\
             secure_cookies = true\nsession_key_file = \"session.key\"\n",
            env.url
        ),
    );
    let mut add = quorum_with(
        &env,
        &[],
        &[
            "--config",
            "quorum.toml",
            "user",
            "add",
            "--email",
            "a@example.com",
            "--role",
            "annotator",
        ],
    );
    let mut child = add
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"password1\n")
        .unwrap();
    let added = child.wait_with_output().unwrap();
    assert!(
        added.status.success(),
        "{}",
        String::from_utf8_lossy(&added.stderr)
    );
    let added = String::from_utf8(added.stdout).unwrap();
    let user_id = added
        .trim()
        .rsplit("(id ")
        .next()
        .unwrap()
        .trim_end_matches(')')
        .to_owned();

    let mut server = quorum_with(&env, &[], &["serve", "--config", "quorum.toml"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn quorum serve");
    let mut first = String::new();
    std::io::BufReader::new(server.stdout.take().unwrap())
        .read_line(&mut first)
        .expect("the serving line");
    let addr = first
        .split("http://")
        .nth(1)
        .and_then(|rest| rest.split('/').next())
        .unwrap_or_else(|| panic!("no address in {first:?}"))
        .to_owned();

    let login_page = http(
        &addr,
        format!("GET /login HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"),
    );
    let cookie_line = login_page
        .lines()
        .find(|l| l.to_ascii_lowercase().starts_with("set-cookie:"))
        .unwrap_or_default()
        .to_owned();
    assert!(cookie_line.contains("Secure"), "{cookie_line}");
    let anonymous = session_cookie(&login_page);
    let csrf = login_page
        .split("name=\"csrf\" value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("a CSRF token")
        .to_owned();
    let form = format!("email=a%40example.com&password=password1&csrf={csrf}");
    let logged_in = http(
        &addr,
        format!(
            "POST /login HTTP/1.1\r\nHost: {addr}\r\nCookie: {anonymous}\r\n\
             Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\
             Connection: close\r\n\r\n{form}",
            form.len()
        ),
    );
    assert!(logged_in.starts_with("HTTP/1.1 303"), "{logged_in}");
    let cookie = session_cookie(&logged_in);
    let home = http(
        &addr,
        format!("GET / HTTP/1.1\r\nHost: {addr}\r\nCookie: {cookie}\r\nConnection: close\r\n\r\n"),
    );
    assert!(home.starts_with("HTTP/1.1 200"), "{home}");

    // SIGTERM: a graceful stop, after which every log line has been written.
    // SAFETY: signalling the child this test started, by its id.
    unsafe {
        libc::kill(server.id() as libc::pid_t, libc::SIGTERM);
    }
    let mut log = String::new();
    std::io::Read::read_to_string(&mut server.stderr.take().unwrap(), &mut log).unwrap();
    server.wait().unwrap();
    let request_line = |method: &str, target: &str| {
        log.lines()
            .find(|l| {
                l.contains(&format!("http.method={method} "))
                    && l.contains(&format!("http.target={target} "))
                    && l.contains("close")
            })
            .unwrap_or_else(|| panic!("no log line for {method} {target} in:\n{log}"))
            .to_owned()
    };
    let home_line = request_line("GET", "/");
    for field in [
        format!("user_id={user_id} "),
        "http.status_code=200".to_owned(),
        "request_id=".to_owned(),
        "time.busy=".to_owned(),
    ] {
        assert!(home_line.contains(&field), "{field} missing: {home_line}");
    }
    assert!(
        request_line("POST", "/login").contains(&format!("user_id={user_id} ")),
        "the login request is logged with the user it logged in"
    );
    assert!(
        !request_line("GET", "/login").contains("user_id="),
        "anonymous requests have no user id"
    );
}
#[cfg(unix)]
cli_on_both_backends!(serve_reads_the_config_file_and_logs_the_user_of_each_request);

fn api_tokens_are_printed_once_listed_by_prefix_and_revocable(env: Env) {
    for (email, role) in [
        ("owner@example.com", "owner"),
        ("ann@example.com", "annotator"),
    ] {
        let out = env.run_with_stdin(
            &["user", "add", "--email", email, "--role", role],
            "s3cret-pass\n",
        );
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    env.ok(&[
        "project",
        "create",
        "--config",
        &seed("leagues.toml"),
        "--owner",
        "owner@example.com",
    ]);

    let out = env.run(&[
        "token",
        "create",
        "--user",
        "Owner@Example.com",
        "--scope",
        "export",
        "--project",
        "leagues",
        "--name",
        "nightly",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    let stderr = String::from_utf8(out.stderr).unwrap();
    let secret = stdout.trim_end_matches('\n');
    assert!(
        secret.starts_with("qrm_") && secret.len() == 47 && !secret.contains('\n'),
        "only the secret on standard output: {stdout:?}"
    );
    assert!(stderr.contains("shown only this once"), "{stderr}");
    assert!(!stderr.contains(secret), "{stderr}");

    let other = env.ok(&[
        "token",
        "create",
        "--user",
        "ann@example.com",
        "--scope",
        "annotate",
    ]);
    assert!(other.starts_with("qrm_") && other.trim() != secret);
    let loader = env.ok(&[
        "token",
        "create",
        "--user",
        "owner@example.com",
        "--scope",
        "import",
        "--project",
        "leagues",
        "--name",
        "loader",
    ]);
    assert!(loader.starts_with("qrm_"), "{loader}");
    env.ok(&[
        "token",
        "create",
        "--user",
        "owner@example.com",
        "--scope",
        "export",
        "--scope",
        "annotate,import",
        "--name",
        "everything",
    ]);

    let list = env.ok(&["token", "list"]);
    assert!(!list.contains(secret), "never the secret: {list}");
    assert!(!list.contains(other.trim()), "{list}");
    assert!(list.contains(&format!("{}…", &secret[..12])), "{list}");
    let nightly = list
        .lines()
        .find(|l| l.contains("nightly"))
        .unwrap_or_else(|| panic!("{list}"));
    for part in ["owner@example.com", "export", "leagues", "never", "active"] {
        assert!(nightly.contains(part), "{part}: {nightly}");
    }
    let annotate = list
        .lines()
        .find(|l| l.contains("ann@example.com"))
        .unwrap_or_else(|| panic!("{list}"));
    for part in ["annotate", "all projects", "token 20"] {
        assert!(annotate.contains(part), "{part}: {annotate}");
    }
    let loader = list
        .lines()
        .find(|l| l.contains("loader"))
        .unwrap_or_else(|| panic!("{list}"));
    assert_eq!(
        loader.split_whitespace().nth(4),
        Some("import"),
        "import alone: {loader}"
    );
    assert!(loader.contains("leagues"), "{loader}");
    let everything = list
        .lines()
        .find(|l| l.contains("everything"))
        .unwrap_or_else(|| panic!("{list}"));
    assert!(
        everything.contains("export,annotate,import all projects"),
        "{everything}"
    );
    let mine = env.ok(&["token", "list", "--user", "ann@example.com"]);
    assert!(
        mine.contains("ann@example.com") && !mine.contains("nightly"),
        "{mine}"
    );

    let id = nightly.split_whitespace().next().unwrap();
    let out = env.ok(&["token", "revoke", id]);
    assert!(out.contains(&format!("revoked token {id}")), "{out}");
    let list = env.ok(&["token", "list"]);
    let nightly = list.lines().find(|l| l.contains("nightly")).unwrap();
    assert!(nightly.contains("revoked 20"), "{nightly}");
    assert!(
        list.lines()
            .find(|l| l.contains("ann@example.com"))
            .unwrap()
            .contains("active")
    );

    let before = env.ok(&["token", "list"]);
    for (args, message) in [
        (
            vec!["--user", "owner@example.com", "--scope", "export,bogus"],
            "--scope: unknown scope \"bogus\"; scopes are export, annotate and import",
        ),
        (
            vec!["--user", "ann@example.com", "--scope", "import"],
            "the import scope is only for owners and admins; ann@example.com is an annotator",
        ),
        (
            vec!["--user", "ghost@example.com", "--scope", "annotate"],
            "no user named ghost@example.com",
        ),
        (
            vec!["--user", "ann@example.com", "--scope", "export"],
            "the export scope is only for owners and admins; ann@example.com is an annotator",
        ),
        (
            vec![
                "--user",
                "ann@example.com",
                "--scope",
                "annotate",
                "--project",
                "leagues",
            ],
            "ann@example.com is not a member of project \"leagues\"",
        ),
        (
            vec![
                "--user",
                "owner@example.com",
                "--scope",
                "export",
                "--project",
                "nope",
            ],
            "no project \"nope\"",
        ),
    ] {
        let mut full = vec!["token", "create"];
        full.extend(args);
        let err = env.fails(&full);
        assert!(err.contains(message), "{full:?}: {err}");
    }
    let err = env.fails(&["token", "create", "--user", "owner@example.com"]);
    assert!(err.contains("--scope"), "{err}");
    let err = env.fails(&["token", "revoke", "999"]);
    assert!(err.contains("token 999 not found"), "{err}");
    assert_eq!(
        env.ok(&["token", "list"]),
        before,
        "failures create nothing"
    );
}
cli_on_both_backends!(api_tokens_are_printed_once_listed_by_prefix_and_revocable);

fn exports_in_json_lines_and_snapshots_download_byte_for_byte(env: Env) {
    env.ok(&[
        "project",
        "create",
        "--config",
        &seed("athlete-handles.toml"),
    ]);
    env.ok(&[
        "items",
        "import",
        "--project",
        "athlete-handles",
        &seed("athlete-handles-items.csv"),
    ]);
    env.ok(&[
        "judgments",
        "import",
        "--project",
        "athlete-handles",
        &seed("athlete-handles-mturk.csv"),
    ]);
    let jsonl = env.ok(&[
        "export",
        "--project",
        "athlete-handles",
        "--out",
        "-",
        "--format",
        "jsonl",
        "--status",
        "resolved",
    ]);
    let lines: Vec<serde_json::Value> = jsonl
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON object per line"))
        .collect();
    assert_eq!(lines.len(), 2, "{jsonl}");
    assert!(lines.iter().all(|l| l["status"] == "resolved"));

    // A snapshot alone, then the files again from it, checked against the live export.
    let err = env.fails(&["export", "--project", "athlete-handles"]);
    assert!(err.contains("--out") || err.contains("--snapshot"), "{err}");
    let out = env.run(&["export", "--project", "athlete-handles", "--snapshot", "v1"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let note = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(
        note.contains("snapshot v1") && note.contains("labels.csv"),
        "{note}"
    );
    env.ok(&[
        "export",
        "--project",
        "athlete-handles",
        "--out",
        "live.csv",
    ]);
    assert!(
        env.ok(&["snapshot", "list", "--project", "athlete-handles"])
            .contains("v1")
    );
    let dir = env.path("v1");
    env.ok(&[
        "snapshot",
        "download",
        "--project",
        "athlete-handles",
        "--name",
        "v1",
        "--dir",
        dir.to_str().unwrap(),
    ]);
    assert_eq!(
        std::fs::read(dir.join("labels.csv")).unwrap(),
        std::fs::read(env.path("live.csv")).unwrap()
    );
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("manifest.json")).unwrap()).unwrap();
    assert_eq!(manifest["files"].as_array().unwrap().len(), 6);
    let err = env.fails(&["export", "--project", "athlete-handles", "--snapshot", "v1"]);
    assert!(err.contains("already exists"), "{err}");
}
cli_on_both_backends!(exports_in_json_lines_and_snapshots_download_byte_for_byte);

/// An export to a named pipe (or `/dev/null`) writes into it: renaming a finished temporary file
/// over the path, as for regular files, would replace the pipe or device with a plain file.
fn exports_to_a_named_pipe_write_into_it_and_leave_it_a_pipe(env: Env) {
    use std::os::unix::fs::FileTypeExt;
    env.ok(&[
        "project",
        "create",
        "--config",
        &seed("athlete-handles.toml"),
    ]);
    env.ok(&[
        "items",
        "import",
        "--project",
        "athlete-handles",
        &seed("athlete-handles-items.csv"),
    ]);
    let fifo = env.path("labels.fifo");
    let made = Command::new("mkfifo").arg(&fifo).status().expect("mkfifo");
    assert!(made.success());
    let reader = {
        let fifo = fifo.clone();
        std::thread::spawn(move || std::fs::read_to_string(fifo).expect("read the pipe"))
    };
    let fifo_arg = fifo.to_str().expect("utf-8 path").to_owned();
    env.ok(&["export", "--project", "athlete-handles", "--out", &fifo_arg]);
    // Checked before joining the reader, which would wait forever on a replaced pipe.
    let kind = std::fs::metadata(&fifo).expect("still there").file_type();
    assert!(kind.is_fifo(), "the pipe was replaced: {kind:?}");
    assert!(!env.path("labels.fifo.partial").exists());
    let through_pipe = reader.join().expect("reader");
    let to_stdout = env.ok(&["export", "--project", "athlete-handles", "--out", "-"]);
    assert_eq!(through_pipe, to_stdout);
    assert!(
        through_pipe.starts_with("item_id,status,label"),
        "{through_pipe}"
    );
}
cli_on_both_backends!(exports_to_a_named_pipe_write_into_it_and_leave_it_a_pipe);

/// `quorum plan --project` plans for the project's own crowd (its model's estimate), and
/// `quorum model fit`/`show` fit and report the stored model; a confidence-stopping project
/// switched to by `project update` reports its fit.
fn plan_and_model_commands_use_the_projects_crowd(env: Env) {
    env.ok(&[
        "project",
        "create",
        "--config",
        &seed("athlete-handles.toml"),
    ]);
    let none = env.fails(&["plan", "--project", "athlete-handles", "--target", "0.999"]);
    assert!(none.contains("no judgments yet"), "{none}");
    env.ok(&[
        "items",
        "import",
        "--project",
        "athlete-handles",
        &seed("athlete-handles-items.csv"),
    ]);
    // Without a fit (`--no-fit`) first, to see "no model" below; the second import adds
    // nothing and so does not fit either.
    let imported = env.ok(&[
        "judgments",
        "import",
        "--project",
        "athlete-handles",
        "--no-fit",
        &seed("athlete-handles-mturk.csv"),
    ]);
    assert!(!imported.contains("crowd model"), "{imported}");
    let again = env.ok(&[
        "judgments",
        "import",
        "--project",
        "athlete-handles",
        &seed("athlete-handles-mturk.csv"),
    ]);
    assert!(!again.contains("crowd model"), "{again}");
    let table = env.ok(&[
        "plan",
        "--project",
        "athlete-handles",
        "--target",
        "0.999",
        "--max-n",
        "9",
    ]);
    assert!(
        table.contains("its crowd model estimates annotators right"),
        "{table}"
    );
    let json = env.ok(&[
        "plan",
        "--project",
        "athlete-handles",
        "--target",
        "0.999",
        "--max-n",
        "9",
        "--format",
        "json",
    ]);
    let rows: Vec<serde_json::Value> = serde_json::from_str(&json).expect("a JSON array");
    assert!(rows.iter().any(|r| r["stop"] == "confidence") && rows.len() > 10);
    let both = env.fails(&[
        "plan",
        "--project",
        "athlete-handles",
        "--accuracy",
        "0.9",
        "--target",
        "0.99",
    ]);
    assert!(
        both.contains("--accuracy") && both.contains("--project"),
        "{both}"
    );
    let missing = env.fails(&["plan", "--project", "nope", "--target", "0.99"]);
    assert!(missing.contains("nope"), "{missing}");

    let shown = env.ok(&["model", "show", "--project", "athlete-handles"]);
    assert!(shown.contains("no model fitted yet"), "{shown}");
    let fitted = env.ok(&["model", "fit", "--project", "athlete-handles"]);
    assert!(
        fitted.contains("model v1 fitted to 18 judgments of 7 annotators"),
        "{fitted}"
    );
    let shown = env.ok(&["model", "show", "--project", "athlete-handles"]);
    assert!(
        shown.contains("model v1: 18 judgments") && shown.contains("0 resolved item(s) flagged"),
        "{shown}"
    );

    let toml = std::fs::read_to_string(seed("athlete-handles.toml")).unwrap();
    let confident = toml
        .replace(
            "agree = 7",
            "stop = \"confidence\"\ntarget = 0.999\nmin = 3",
        )
        .replace("stop = \"early\"\n", "");
    let path = env.write("confident.toml", &confident);
    env.ok(&["project", "update", "--config", path.to_str().unwrap()]);
    let shown = env.ok(&["model", "show", "--project", "athlete-handles"]);
    assert!(
        shown.contains("rule: confidence 0.999, 3 to 9 judgments"),
        "{shown}"
    );
    assert!(
        shown.contains("model v2: 18 judgments"),
        "fitted at the switch: {shown}"
    );
    let list = env.ok(&["project", "list"]);
    assert!(list.contains("p≥0.999 3..9"), "{list}");
}
cli_on_both_backends!(plan_and_model_commands_use_the_projects_crowd);
