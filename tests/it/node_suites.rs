//! The suites written in JavaScript, run with `node --test` against the real `fenhong`
//! binary: the console in headless Chromium (tests/browser/, driven by playwright-core) and
//! the GraphQL ecosystem's reference tools (tests/conformance/: the graphql-http audits, the
//! graphql-ws client, graphql-js). CI installs what they need and sets
//! FENHONG_BROWSER_TESTS=1 and FENHONG_CONFORMANCE_TESTS=1, which make a missing piece a
//! failure instead of a skip.

use std::{path::Path, process::Command};

/// Runs `node --test` in `tests/<suite>`; `needs` lists files that must exist first.
fn run_node_suite(suite: &str, required_by: &str, needs: &[&Path], install_hint: &str) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = root.join("tests").join(suite);
    let node = Command::new("node")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    let ready = node && needs.iter().all(|p| dir.join(p).exists() || p.exists());
    if !ready {
        assert!(
            std::env::var(required_by).is_err(),
            "the {suite} suite is required ({required_by}) but something is missing: {install_hint}"
        );
        eprintln!("{suite} suite skipped: {install_hint}");
        return;
    }
    let output = Command::new("node")
        .arg("--test")
        .current_dir(&dir)
        .env("FENHONG_BIN", env!("CARGO_BIN_EXE_fenhong"))
        .env("FENHONG_ARTIFACTS", root.join("artifacts"))
        .output()
        .expect("node runs");
    let log = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(output.status.success(), "the {suite} suite failed:\n{log}");
    assert!(log.contains("# fail 0"), "{log}");
    assert!(
        !log.contains("# pass 0"),
        "the {suite} suite ran no test:\n{log}"
    );
}

#[test]
fn the_console_works_in_a_real_browser() {
    let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    run_node_suite(
        "browser",
        "FENHONG_BROWSER_TESTS",
        &[
            Path::new(&chromium),
            Path::new("node_modules/playwright-core"),
        ],
        "apt-get install chromium nodejs npm; cd tests/browser && npm ci",
    );
}

#[test]
fn the_graphql_reference_tools_accept_the_gateway() {
    run_node_suite(
        "conformance",
        "FENHONG_CONFORMANCE_TESTS",
        &[
            Path::new("node_modules/graphql"),
            Path::new("node_modules/graphql-http"),
            Path::new("node_modules/graphql-ws"),
            Path::new("node_modules/ws"),
        ],
        "apt-get install nodejs npm; cd tests/conformance && npm ci",
    );
}
