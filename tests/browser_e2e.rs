//! Runs the headless-Chromium end-to-end test (tests/browser/e2e.mjs) against this build's
//! binary, on both backends. It needs Node.js and Debian's chromium (tests/browser/run.sh
//! installs what is missing when run as root), so it runs only with `QUORUM_BROWSER_TESTS=1`;
//! CI sets it. The SQLite run writes the screenshots in docs/screenshots/.

mod common;

use std::process::Command;

fn wanted() -> bool {
    if std::env::var("QUORUM_BROWSER_TESTS").ok().as_deref() == Some("1") {
        return true;
    }
    eprintln!(
        "SKIPPED browser end-to-end test: set QUORUM_BROWSER_TESTS=1 (needs node and chromium)"
    );
    false
}

fn run(vars: &[(&str, &str)]) {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/browser/run.sh");
    let status = Command::new("bash")
        .arg(script)
        .env("QUORUM_BIN", env!("CARGO_BIN_EXE_quorum"))
        .envs(vars.iter().copied())
        .status()
        .expect("run tests/browser/run.sh");
    assert!(status.success(), "the browser end-to-end test failed");
}

/// One test running both backends one after the other: the first run may install Chromium and
/// playwright-core, which two runs at once would race for (apt's lock, npm's directory).
#[test]
fn browser_end_to_end_on_both_backends() {
    if !wanted() {
        return;
    }
    run(&[]);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let Some(database) = runtime.block_on(common::PgDatabase::create()) else {
        return;
    };
    let shots = tempfile::tempdir().expect("temp dir");
    let shots_dir = shots.path().to_str().expect("utf-8 path").to_owned();
    let result = std::panic::catch_unwind(|| {
        run(&[
            ("QUORUM_E2E_DATABASE_URL", database.url.as_str()),
            ("QUORUM_SCREENSHOTS", shots_dir.as_str()),
        ])
    });
    runtime.block_on(database.drop());
    if let Err(panic) = result {
        std::panic::resume_unwind(panic);
    }
}
