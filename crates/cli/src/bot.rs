//! `switchboard bot validate | render | chat`: working on a scenario file without a server.
//! Validation prints `FILE:LINE:COL: message` lines and exits 1; rendering prints the JSON
//! of docs/scenarios.md; chatting runs the same interpreter the server runs, showing each message
//! as the chosen channel would (buttons, pages, numbered menus, split texts).

use std::{
    io::{BufRead, Write},
    process::ExitCode,
};

use switchboard_bot::{
    advance, load, preview::preview, start, Context, Env, HandoffTarget, Input, Scenario, Stop,
};
use switchboard_core::{
    channel::ChannelKind,
    render::{render, KeyboardKind, Rendered},
};
use switchboard_engine::bot::{AllowList, BotHttp};

/// Reads and checks a scenario file; prints its problems (to stderr) when it has any.
fn read(file: &str) -> Result<Scenario, ExitCode> {
    let source = match std::fs::read_to_string(file) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("{file}: cannot read: {e}");
            return Err(ExitCode::from(2));
        }
    };
    load(&source, &Context::default()).map_err(|d| {
        eprint!("{}", d.report(file));
        ExitCode::FAILURE
    })
}

pub fn validate(file: &str) -> ExitCode {
    match read(file) {
        Ok(scenario) => {
            println!(
                "{file}: ok ({} steps, scenario \"{}\")",
                scenario.steps.len(),
                scenario.name
            );
            ExitCode::SUCCESS
        }
        Err(code) => code,
    }
}

pub fn render_file(file: &str, kind: ChannelKind) -> ExitCode {
    let scenario = match read(file) {
        Ok(s) => s,
        Err(code) => return code,
    };
    let caps = switchboard_channels::profile::of(kind);
    match serde_json::to_string(&preview(&scenario, kind, &caps)) {
        Ok(json) => {
            println!("{json}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}

/// Shows one message as the channel would.
fn show(out: &mut impl Write, message: &Rendered) -> std::io::Result<()> {
    writeln!(out, "bot> {}", message.text.replace('\n', "\n     "))?;
    if let Some(rows) = &message.buttons {
        let note = match message.keyboard {
            Some(KeyboardKind::Reply) => " (keyboard)",
            Some(KeyboardKind::List) => " (list)",
            _ => "",
        };
        for row in rows {
            let labels: Vec<String> = row.iter().map(|b| format!("[ {} ]", b.label)).collect();
            writeln!(out, "     {}{note}", labels.join(" "))?;
        }
    }
    Ok(())
}

pub fn chat(file: &str, kind: ChannelKind, allow: &[String]) -> ExitCode {
    let scenario = match read(file) {
        Ok(s) => s,
        Err(code) => return code,
    };
    let allow = match AllowList::parse(allow) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("error: --allow: {e}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(2);
        }
    };
    let http = match runtime.block_on(async { BotHttp::new(allow) }) {
        Ok(http) => http,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let caps = switchboard_channels::profile::of(kind);
    let env = Env {
        caps: &caps,
        contact: serde_json::json!({"name": "Guest", "id": "terminal", "external_id": "terminal"}),
        channel: serde_json::json!({"kind": kind, "name": "terminal", "id": "terminal"}),
        conversation: serde_json::json!({"id": "terminal"}),
    };
    let stdin = std::io::stdin();
    let mut lines = stdin.lock().lines();
    let mut out = std::io::stdout();
    let _ = writeln!(
        out,
        "({}, as {kind} shows it; type an answer, a button's label or its number; Ctrl-D ends)",
        scenario.name
    );
    let mut turn = start(&scenario, &env);
    loop {
        let mut buttons = Vec::new();
        for said in &turn.said {
            for message in render(&caps, &said.text, &said.choices, said.page, &scenario.words) {
                if let Some(rows) = &message.buttons {
                    buttons.extend(rows.iter().flatten().cloned());
                }
                let _ = show(&mut out, &message);
            }
            for (kind, url) in &said.media {
                let _ = writeln!(out, "     ({kind}: {url})");
            }
        }
        let state = turn.state.clone();
        let input_text;
        let next = match &turn.stop {
            Stop::Answer | Stop::Pending => {
                let _ = write!(out, "you> ");
                let _ = out.flush();
                match lines.next() {
                    Some(Ok(line)) => input_text = line,
                    _ => {
                        let _ = writeln!(out);
                        return ExitCode::SUCCESS;
                    }
                }
                // A label typed exactly is a press of that button.
                let pressed = buttons
                    .iter()
                    .find(|b| b.label.trim().eq_ignore_ascii_case(input_text.trim()))
                    .map(|b| b.payload.clone());
                advance(
                    &scenario,
                    &env,
                    state,
                    Input::Message {
                        text: &input_text,
                        pressed: pressed.as_deref(),
                    },
                )
            }
            Stop::Http(request) => {
                let _ = writeln!(out, "     ({} {})", request.method, request.url);
                let result = runtime.block_on(http.call(request));
                if let Err(e) = &result {
                    let _ = writeln!(out, "     (the call failed: {e})");
                }
                advance(&scenario, &env, state, Input::Http(result))
            }
            Stop::Wait(d) => {
                let _ = writeln!(out, "     (waits {}s; going on now)", d.as_secs());
                advance(&scenario, &env, state, Input::Timer)
            }
            Stop::Handoff(target) => {
                let who = match target {
                    HandoffTarget::Group(g) => format!("group {g}"),
                    HandoffTarget::Operator(o) => format!("operator {o}"),
                };
                let _ = writeln!(out, "     (handed over to {who})");
                return ExitCode::SUCCESS;
            }
            Stop::Close => {
                let _ = writeln!(out, "     (conversation closed)");
                return ExitCode::SUCCESS;
            }
            Stop::Failed(reason) => {
                eprintln!("the bot stopped: {reason}");
                return ExitCode::FAILURE;
            }
        };
        turn = next;
    }
}
