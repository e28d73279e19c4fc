//! `switchboard bot validate | render | chat` as a scenario author runs them.

mod common;

use std::{io::Write, process::Stdio};

use common::{switchboard, temp_dir};

const SHOP: &str = "../bot/tests/fixtures/shop.yaml";

#[test]
fn validate_reports_every_problem_with_file_line_and_column() {
    let ok = switchboard()
        .args(["bot", "validate", SHOP])
        .output()
        .unwrap();
    assert!(ok.status.success(), "{ok:?}");

    let dir = temp_dir();
    let file = dir.join("broken.yaml");
    std::fs::write(
        &file,
        "name: x\nstart: a\nsteps:\n  a:\n    say: \"{{who}}\"\n    goto: nowhere\n  b:\n    close: true\n",
    )
    .unwrap();
    let out = switchboard()
        .args(["bot", "validate", file.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let f = file.display();
    let lines: Vec<String> = String::from_utf8(out.stderr)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect();
    assert_eq!(
        lines,
        [
            format!("{f}:5:11: variable `who` is never set (save it with `ask`, `http` or `set`)"),
            format!("{f}:6:11: step `a` goes to `nowhere`, which does not exist"),
            format!("{f}:7:3: step `b` is never reached from `start` (a)"),
        ]
    );
}

#[test]
fn render_prints_the_contracts_json_for_a_channel() {
    let out = switchboard()
        .args(["bot", "render", SHOP, "--channel", "vk"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["channel"], "vk");
    let welcome = &json["steps"]["welcome"][0];
    assert_eq!(welcome["keyboard"], "inline");
    let labels: Vec<&str> = welcome["buttons"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|row| row.as_array().unwrap())
        .map(|b| b["label"].as_str().unwrap())
        .collect();
    // VK's labels are at most 20 characters: "Позвать оператора" fits, nothing is cut.
    assert_eq!(labels, ["Статус заказа", "Позвать оператора"]);
    assert_eq!(json["steps"]["lookup"], serde_json::json!([]));

    let bad = switchboard()
        .args(["bot", "render", SHOP, "--channel", "pigeon"])
        .output()
        .unwrap();
    assert!(!bad.status.success());
}

#[test]
fn chat_talks_to_the_scenario_as_the_channel_shows_it() {
    let mut child = switchboard()
        .args([
            "bot",
            "chat",
            "../server/demo/scenario.yaml",
            "--channel",
            "bitrix24",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all("1\n12\n123456\n3\n".as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{out:?}");
    let text = String::from_utf8(out.stdout).unwrap();
    // Bitrix24 has no buttons: a numbered menu, answered by number.
    assert!(
        text.contains("1. Статус заказа\n     2. Что умеет Switchboard"),
        "{text}"
    );
    assert!(text.contains("Номер заказа — от 4 до 10 цифр"), "{text}");
    assert!(text.contains("Заказ 123456 в пути"), "{text}");
    assert!(text.ends_with("(conversation closed)\n"), "{text}");
}
