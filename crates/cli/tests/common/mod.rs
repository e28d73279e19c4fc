//! Helpers shared by the binary's test files: the binary with a clean environment, scratch
//! directories, and a started server that is killed when dropped.
#![allow(dead_code)]

use std::{
    io::{BufRead, BufReader},
    path::PathBuf,
    process::{Child, Command, Stdio},
};

pub fn switchboard() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_switchboard"));
    // Start from a clean slate: the developer's own SWITCHBOARD_* settings must not leak in.
    for (key, _) in std::env::vars() {
        if key.starts_with("SWITCHBOARD_") {
            command.env_remove(key);
        }
    }
    command
}

pub fn temp_dir() -> PathBuf {
    let dir = std::env::temp_dir()
        .join(format!("switchboard-cli-{}", std::process::id()))
        .join(format!("{:?}", std::thread::current().id()).replace(['(', ')'], ""));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

pub struct Server(pub Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
    }
}

/// Starts `serve` on a free port and returns it with the lines it printed up to the address.
pub fn start(args: &[&str], envs: &[(&str, &str)]) -> (Server, String, Vec<String>) {
    start_in(&temp_dir(), args, envs)
}

/// Starts `serve` with its files in `dir`.
pub fn start_in(
    dir: &std::path::Path,
    args: &[&str],
    envs: &[(&str, &str)],
) -> (Server, String, Vec<String>) {
    let mut command = switchboard();
    command
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir)
        // The fake channel APIs listen on loopback.
        .env("SWITCHBOARD_API_BASE_ALLOW", "127.0.0.1")
        .args(args);
    for (k, v) in envs {
        command.env(k, v);
    }
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut lines = Vec::new();
    let mut base = None;
    for line in stdout.by_ref() {
        let line = line.unwrap();
        if let Some(rest) = line.strip_prefix("Switchboard is listening on ") {
            base = Some(rest.to_string());
        }
        let done = line.starts_with("Admin login");
        lines.push(line);
        if done {
            break;
        }
    }
    (
        Server(child),
        base.expect("the server prints its address"),
        lines,
    )
}
