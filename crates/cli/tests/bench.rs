//! `switchboard bench` from the binary: it runs the whole path, prints the contract's JSON
//! line, and every update gets exactly one answer. Speed is reported, never asserted here.

mod common;

use common::switchboard;
use serde_json::Value;

fn bench(args: &[&str]) -> Value {
    let out = switchboard().arg("bench").args(args).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    let line = stdout.lines().last().expect("a JSON line");
    serde_json::from_str(line).unwrap()
}

#[test]
fn every_update_gets_exactly_one_answer() {
    let report = bench(&["--messages", "200", "--concurrency", "8"]);
    for key in [
        "messages",
        "messages_per_sec",
        "p50_ms",
        "p99_ms",
        "peak_rss_mb",
    ] {
        assert!(
            report.get(key).is_some_and(|v| !v.is_null()),
            "{key} in {report}"
        );
    }
    assert_eq!(report["messages"], 200, "{report}");
    assert_eq!(report["answered"], 200, "{report}");
    assert_eq!(
        (report["lost"].as_u64(), report["duplicated"].as_u64()),
        (Some(0), Some(0))
    );
    // Each update and its answer are stored.
    assert_eq!(report["stored"], 400, "{report}");
    assert!(report["messages_per_sec"].as_f64().unwrap() > 0.0);
}

#[test]
fn redelivered_updates_are_answered_once() {
    let report = bench(&[
        "--messages",
        "60",
        "--concurrency",
        "4",
        "--profile",
        "duplicates",
    ]);
    assert_eq!(report["answered"], 60, "{report}");
    assert_eq!(report["duplicated"], 0, "{report}");
    assert_eq!(report["stored"], 120, "{report}");
}
