//! Black-box tests of the `quorum` binary: the README walkthrough, help for every command,
//! and bad input that fails clearly and changes nothing.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

struct Env {
    dir: tempfile::TempDir,
    url: String,
}

impl Env {
    fn new() -> Env {
        let dir = tempfile::tempdir().expect("temp dir");
        let url = format!("sqlite://{}", dir.path().join("q.db").display());
        Env { dir, url }
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

fn seed(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("seed")
        .join(name)
        .display()
        .to_string()
}

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
        vec!["items", "import", "--help"],
        vec!["judgments", "import", "--help"],
        vec!["export", "--help"],
    ] {
        let out = env.ok(&args);
        assert!(out.contains("Usage:"), "{args:?}: {out}");
    }
}

#[test]
fn readme_walkthrough_with_mechanical_turk_batch() {
    let env = Env::new();
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
            "item_id,status,label,votes,judgments,agreement,answers,input.name,input.sport,input.team"
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
    assert!(annotators.starts_with("annotator,judgments,agreement_with_consensus,cohen_kappa_vs_consensus\nA1WORKER0001,3,1,"), "{annotators}");
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

#[test]
fn invalid_config_names_the_key_and_creates_nothing() {
    let env = Env::new();
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

#[test]
fn bad_csv_fails_with_file_line_and_column_and_changes_nothing() {
    let env = Env::new();
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

#[test]
fn users_get_argon2id_hashes_from_stdin_never_arguments() {
    let env = Env::new();
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

#[test]
fn postgres_urls_work_for_every_command() {
    let Ok(admin) = std::env::var("QUORUM_TEST_POSTGRES_URL") else {
        if std::env::var("QUORUM_REQUIRE_POSTGRES").is_ok_and(|v| v == "1") {
            panic!("QUORUM_REQUIRE_POSTGRES=1 but QUORUM_TEST_POSTGRES_URL is not set");
        }
        eprintln!("SKIPPED on PostgreSQL: set QUORUM_TEST_POSTGRES_URL to run this test there");
        return;
    };
    let name = format!("quorum_cli_{}", std::process::id());
    let psql = |sql: &str| {
        let status = Command::new("psql")
            .args([admin.as_str(), "-qc", sql])
            .status()
            .expect("psql");
        assert!(status.success(), "{sql}");
    };
    psql(&format!("DROP DATABASE IF EXISTS {name}"));
    psql(&format!("CREATE DATABASE {name}"));
    let mut env = Env::new();
    env.url = format!(
        "{}/{name}",
        admin.rsplit_once('/').expect("url with database").0
    );
    env.ok(&["migrate"]);
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
    env.ok(&[
        "export",
        "--project",
        "athlete-handles",
        "--out",
        "labels.csv",
        "--stats",
        "stats.json",
    ]);
    let labels = std::fs::read_to_string(env.path("labels.csv")).unwrap();
    assert!(
        labels.contains("\nlbj,resolved,kingjames,7,7,1,"),
        "{labels}"
    );
    psql(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"));
}
