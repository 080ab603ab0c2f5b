//! The web console end to end in headless Chromium (tests/browser/console.test.mjs, driven
//! by playwright-core), against the real `fenhong` binary. CI installs Chromium and the
//! driver and sets FENHONG_BROWSER_TESTS=1, which makes their absence a failure.

use std::{path::Path, process::Command};

#[test]
fn the_console_works_in_a_real_browser() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser");
    let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    let node = Command::new("node")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    let ready =
        node && Path::new(&chromium).exists() && dir.join("node_modules/playwright-core").exists();
    if !ready {
        assert!(
            std::env::var("FENHONG_BROWSER_TESTS").is_err(),
            "browser tests required but Chromium, Node or playwright-core is missing \
             (apt-get install chromium nodejs npm; cd tests/browser && npm ci)"
        );
        eprintln!(
            "browser test skipped: install chromium, node and `npm ci` in tests/browser to run it"
        );
        return;
    }
    let output = Command::new("node")
        .arg("--test")
        .current_dir(&dir)
        .env("FENHONG_BIN", env!("CARGO_BIN_EXE_fenhong"))
        .env(
            "FENHONG_ARTIFACTS",
            Path::new(env!("CARGO_MANIFEST_DIR")).join("artifacts"),
        )
        .env("CHROMIUM", &chromium)
        .output()
        .expect("node runs");
    let log = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        output.status.success(),
        "the console's browser test failed:\n{log}"
    );
    assert!(log.contains("# pass 1"), "{log}");
}
