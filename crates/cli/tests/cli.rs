//! The binary as a user runs it: bad settings are refused with the key and the reason,
//! `migrate` works, and `serve` answers, logs in, and stops cleanly on SIGTERM.

mod common;

use std::{
    process::{Command, Output},
    time::Duration,
};

use common::{start, switchboard, temp_dir};

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).to_string()
}

#[test]
fn bad_flags_and_environment_values_are_named() {
    let output = switchboard()
        .args(["serve", "--listen", "nowhere"])
        .output()
        .unwrap();
    assert!(!output.status.success());
    let err = stderr(&output);
    assert!(err.contains("--listen") && err.contains("nowhere"), "{err}");

    let output = switchboard()
        .arg("serve")
        .env("SWITCHBOARD_LISTEN", "127.0.0.1:99999")
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(stderr(&output).contains("--listen"), "{}", stderr(&output));

    let output = switchboard()
        .arg("serve")
        .env("SWITCHBOARD_DEMO", "maybe")
        .output()
        .unwrap();
    assert!(stderr(&output).contains("--demo"), "{}", stderr(&output));

    let output = switchboard()
        .args(["serve", "--sqlite-synchronous", "sometimes"])
        .output()
        .unwrap();
    assert!(
        stderr(&output).contains("expected full or normal"),
        "{}",
        stderr(&output)
    );

    let output = switchboard()
        .args(["serve", "--database-url", "mysql://root:secret@db/x"])
        .output()
        .unwrap();
    let err = stderr(&output);
    assert!(
        err.contains("sqlite:// or postgres://") && !err.contains("secret"),
        "{err}"
    );

    let output = switchboard()
        .args(["serve", "--public-url", "ftp://example.com"])
        .output()
        .unwrap();
    assert!(
        stderr(&output).contains("--public-url"),
        "{}",
        stderr(&output)
    );

    let output = switchboard()
        .args(["serve", "--log-level", "info,=="])
        .output()
        .unwrap();
    assert!(stderr(&output).contains("log level"), "{}", stderr(&output));
}

#[test]
fn bad_config_files_are_named_with_their_line() {
    let dir = temp_dir();
    let file = dir.join("switchboard.toml");
    std::fs::write(&file, "listen = \"127.0.0.1:8080\"\ncolour = \"red\"\n").unwrap();
    let output = switchboard()
        .args(["serve", "--config"])
        .arg(&file)
        .output()
        .unwrap();
    let err = stderr(&output);
    assert!(!output.status.success());
    assert!(
        err.contains("unknown field `colour`") && err.contains("line 2"),
        "{err}"
    );

    std::fs::write(&file, "listen = \"the moon\"\n").unwrap();
    let err = stderr(
        &switchboard()
            .args(["serve", "--config"])
            .arg(&file)
            .output()
            .unwrap(),
    );
    assert!(
        err.contains("`listen`") && err.contains("the moon"),
        "{err}"
    );

    std::fs::write(&file, "demo = \"yes\"\n").unwrap();
    let err = stderr(
        &switchboard()
            .args(["serve", "--config"])
            .arg(&file)
            .output()
            .unwrap(),
    );
    assert!(err.contains("demo") && err.contains("line 1"), "{err}");

    let err = stderr(
        &switchboard()
            .args(["serve", "--config", "/nonexistent/switchboard.toml"])
            .output()
            .unwrap(),
    );
    assert!(err.contains("cannot read config file"), "{err}");
}

#[test]
fn migrate_creates_the_database() {
    let dir = temp_dir();
    let output = switchboard()
        .arg("migrate")
        .arg("--data-dir")
        .arg(&dir)
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(dir.join("switchboard.db").exists());
    let again = switchboard()
        .arg("migrate")
        .arg("--data-dir")
        .arg(&dir)
        .output()
        .unwrap();
    assert!(
        again.status.success(),
        "migrating twice is fine: {}",
        stderr(&again)
    );
}

#[tokio::test]
async fn serve_answers_and_stops_on_sigterm() {
    let (mut server, base, lines) =
        start(&["--demo"], &[("SWITCHBOARD_ADMIN_EMAIL", "boss@shop.ru")]);
    let password_line = lines.iter().find(|l| l.starts_with("Admin login")).unwrap();
    let password = password_line
        .split("password: ")
        .nth(1)
        .unwrap()
        .split(' ')
        .next()
        .unwrap()
        .to_string();
    assert!(password_line.contains("boss@shop.ru"), "{password_line}");

    let client = reqwest::Client::new();
    let health = client.get(format!("{base}/healthz")).send().await.unwrap();
    assert_eq!(health.status(), 200);
    let login = client
        .post(format!("{base}/api/v1/auth/login"))
        .json(&serde_json::json!({"email": "boss@shop.ru", "password": password}))
        .send()
        .await
        .unwrap();
    assert_eq!(login.status(), 200);
    let token = login.json::<serde_json::Value>().await.unwrap()["token"]
        .as_str()
        .unwrap()
        .to_string();
    let groups: serde_json::Value = client
        .get(format!("{base}/api/v1/groups"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        groups[0]["name"], "Support",
        "the demo seeds a sample group"
    );

    let killed = Command::new("sh")
        // The shell's own `kill`: no dependency on procps being installed.
        .args(["-c", &format!("kill -TERM {}", server.0.id())])
        .status()
        .unwrap();
    assert!(killed.success());
    let mut waited = Duration::ZERO;
    let status = loop {
        if let Some(status) = server.0.try_wait().unwrap() {
            break status;
        }
        assert!(
            waited < Duration::from_secs(30),
            "the server did not stop on SIGTERM"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
        waited += Duration::from_millis(50);
    };
    assert!(status.success(), "a graceful stop exits 0: {status:?}");
}

#[tokio::test]
async fn a_configured_admin_password_is_used_and_never_printed() {
    let (_server, base, lines) = start(
        &["--log-format", "json"],
        &[
            ("SWITCHBOARD_ADMIN_EMAIL", "root@shop.ru"),
            ("SWITCHBOARD_ADMIN_PASSWORD", "chosen-password"),
        ],
    );
    assert!(
        lines.iter().all(|l| !l.contains("chosen-password")),
        "{lines:?}"
    );
    let login = reqwest::Client::new()
        .post(format!("{base}/api/v1/auth/login"))
        .json(&serde_json::json!({"email": "root@shop.ru", "password": "chosen-password"}))
        .send()
        .await
        .unwrap();
    assert_eq!(login.status(), 200);
}

// Multi-threaded: the fake answers while this thread waits for the child process.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn channel_verify_prints_the_bot_or_bot_not_found() {
    let fake = switchboard_channels::testkit::FakeTelegram::start().await;
    fake.add_bot("42:AAtoken", 42, "Shop Bot");
    let good = switchboard()
        .args([
            "channel",
            "verify",
            "telegram",
            "--token",
            "42:AAtoken",
            "--api-base-url",
            &fake.url,
        ])
        .output()
        .unwrap();
    assert!(good.status.success(), "{}", stderr(&good));
    assert_eq!(String::from_utf8_lossy(&good.stdout).trim(), "Shop Bot");
    let bad = switchboard()
        .args([
            "channel",
            "verify",
            "telegram",
            "--token",
            "42:wrong",
            "--api-base-url",
            &fake.url,
        ])
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(1));
    assert_eq!(String::from_utf8_lossy(&bad.stdout).trim(), "Bot not found");
    let unknown_kind = switchboard()
        .args(["channel", "verify", "pigeon", "--token", "x"])
        .output()
        .unwrap();
    assert!(!unknown_kind.status.success());
    assert!(
        stderr(&unknown_kind).contains("pigeon"),
        "{}",
        stderr(&unknown_kind)
    );
}
