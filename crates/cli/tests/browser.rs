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

const ADMIN_EMAIL: &str = "admin@example.com";
const ADMIN_PASSWORD: &str = "browser-test-password";

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
        .env("SB_ADMIN_EMAIL", ADMIN_EMAIL)
        .env("SB_ADMIN_PASSWORD", ADMIN_PASSWORD)
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

/// The workspace server: the demo, with a known admin login.
fn workspace() -> (common::Server, String) {
    let (server, base, _) = start(
        &["--demo"],
        &[
            ("SWITCHBOARD_ADMIN_EMAIL", ADMIN_EMAIL),
            ("SWITCHBOARD_ADMIN_PASSWORD", ADMIN_PASSWORD),
        ],
    );
    (server, base)
}

/// Login, the language switch, operators and groups, the channel form against a fake Bot
/// API (bot name, "Bot not found", auto-close 0 refused, webhook URL, disable), the scenario
/// editor's errors at their lines and its preview.
#[test]
fn admins_set_up_the_center_in_a_real_browser() {
    if !ready() {
        return;
    }
    let (_server, base) = workspace();
    run("admin.mjs", &base);
}

/// A Telegram message appears live in the inbox; the reply reaches the fake API; accept,
/// decline, transfer, close, notes, attachments, a failed send retried, markup shown as text;
/// the supervisor view; screenshots of both.
#[test]
fn operators_answer_live_in_a_real_browser() {
    if !ready() {
        return;
    }
    let (_server, base) = workspace();
    run("inbox.mjs", &base);
}

/// Every interface string exists in Russian and English with the same placeholders, every
/// key the code names is there, and the composer's pure helpers (channel limits, messaging
/// window) hold (node only, no browser).
#[test]
fn the_interface_speaks_russian_and_english_throughout() {
    let node = Command::new("node").arg("--version").output().is_ok();
    if !node {
        assert!(std::env::var_os("CI").is_none(), "node is needed");
        eprintln!("skipped: node is missing");
        return;
    }
    for script in ["i18n.mjs", "units.mjs"] {
        let out = Command::new("node")
            .arg(format!("../../tests/browser/{script}"))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{script} failed:\n{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
