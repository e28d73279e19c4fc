//! Browser tests: playwright-core scripts in `tests/browser/` drive Debian's Chromium
//! against the real binary. `.ci/run` installs both; without them the tests fail under CI
//! and are skipped, with a note, on a developer's machine.

mod common;

use std::{path::Path, process::Command};

use common::start;

fn ready() -> bool {
    let chromium = Path::new("/usr/bin/chromium").exists();
    let playwright = Path::new("../../tests/browser/node_modules/playwright-core").exists();
    let node = Command::new("node").arg("--version").output().is_ok();
    if chromium && playwright && node {
        return true;
    }
    let missing = format!(
        "browser tests need node, /usr/bin/chromium and tests/browser/node_modules (npm ci): chromium {chromium}, playwright-core {playwright}, node {node}"
    );
    assert!(std::env::var_os("CI").is_none(), "{missing}");
    eprintln!("skipped: {missing}");
    false
}

/// Runs one script against `base`; screenshots go to `target/browser-artifacts/`.
fn run(script: &str, base: &str) {
    let artifacts = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .unwrap_or(Path::new("."))
        .join("browser-artifacts");
    let out = Command::new("node")
        .arg(format!("../../tests/browser/{script}"))
        .arg(base)
        .arg(&artifacts)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{script} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn the_demo_chat_works_in_a_real_browser() {
    if !ready() {
        return;
    }
    let (_server, base, _) = start(&["--demo"], &[]);
    run("demo.mjs", &base);
}
