//! Runs the headless-Chromium end-to-end test (tests/browser/e2e.mjs) against this build's
//! binary. It needs Node.js and Debian's chromium (tests/browser/run.sh installs what is missing
//! when run as root), so it runs only with `QUORUM_BROWSER_TESTS=1`; CI sets it.

use std::process::Command;

#[test]
fn browser_end_to_end() {
    if std::env::var("QUORUM_BROWSER_TESTS").ok().as_deref() != Some("1") {
        eprintln!(
            "SKIPPED browser end-to-end test: set QUORUM_BROWSER_TESTS=1 (needs node and chromium)"
        );
        return;
    }
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/browser/run.sh");
    let status = Command::new("bash")
        .arg(script)
        .env("QUORUM_BIN", env!("CARGO_BIN_EXE_quorum"))
        .status()
        .expect("run tests/browser/run.sh");
    assert!(status.success(), "the browser end-to-end test failed");
}
