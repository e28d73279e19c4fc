//! The interpreter: a pure function from (scenario, state, input) to (new state, what to
//! say, where the bot stopped). The shell stores the state with the conversation, sends what
//! was said, and performs the stop: waits for the customer, makes the HTTP call and feeds its
//! answer back, arms a timer for `wait`, hands the conversation to people, or closes it.
//! A restart loses nothing because the state is data, stored in the same transaction as
//! the messages it produced.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use switchboard_core::{
    capabilities::Capabilities,
    message::{AttachmentKind, Choice},
    render::{select, Selected},
};

use crate::{
    scenario::{fill, Action, HandoffTarget, Scenario, Step},
    template::Template,
};

/// Where a conversation's bot is, stored between turns.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BotState {
    pub step: String,
    #[serde(default)]
    pub vars: Map<String, Value>,
    /// The page of the current step's menu the customer was shown.
    #[serde(default)]
    pub page: usize,
    pub waiting: Waiting,
}

/// What the bot waits for at its step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Waiting {
    /// The customer's answer to a question or menu.
    Answer,
    /// The answer of an HTTP call.
    Http,
    /// A `wait` timer.
    Timer,
    /// Nothing: the bot handed off or closed.
    Done,
}

/// What the runtime knows besides the scenario's own variables.
#[derive(Debug, Clone)]
pub struct Env<'a> {
    pub caps: &'a Capabilities,
    /// `contact.*`: name, id, phone, email, external_id.
    pub contact: Value,
    /// `channel.*`: kind, name, id.
    pub channel: Value,
    /// `conversation.*`: id.
    pub conversation: Value,
}

/// What happened since the last turn.
#[derive(Debug, Clone, PartialEq)]
pub enum Input<'a> {
    /// A conversation routed to the bot begins.
    Start,
    /// The customer wrote or pressed a button (`pressed` is its payload).
    Message {
        text: &'a str,
        pressed: Option<&'a str>,
    },
    /// The HTTP call of the current step answered (or failed, with why).
    Http(Result<HttpReply, String>),
    /// The `wait` of the current step is over.
    Timer,
}

#[derive(Debug, Clone, PartialEq)]
pub struct HttpReply {
    pub status: u16,
    pub body: Value,
}

/// An HTTP call for the shell to make.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HttpRequest {
    pub method: String,
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: Option<String>,
    #[serde(skip)]
    pub timeout: Duration,
}

/// One message the bot says, channel-neutral; the shell renders it for the channel with
/// `core::render` at `page`.
#[derive(Debug, Clone, PartialEq)]
pub struct Said {
    pub text: String,
    pub choices: Vec<Choice>,
    pub page: usize,
    pub media: Vec<(AttachmentKind, String)>,
}

/// Where the bot stopped.
#[derive(Debug, Clone, PartialEq)]
pub enum Stop {
    /// Waiting for the customer.
    Answer,
    /// The input was not for this state (a stale timer, a message while an HTTP call runs):
    /// nothing changed.
    Pending,
    Http(HttpRequest),
    Wait(Duration),
    Handoff(HandoffTarget),
    Close,
    /// The scenario cannot go on (a step that does not exist, a loop): people take over.
    Failed(String),
}

/// One turn's result.
#[derive(Debug, Clone, PartialEq)]
pub struct Turn {
    pub state: BotState,
    pub said: Vec<Said>,
    pub stop: Stop,
}

/// The most steps one turn may pass: a guard behind the validator's loop check.
const MAX_STEPS: usize = 64;

/// The payload of a choice: the step and its position, so a press on an old menu of another
/// step selects nothing.
pub fn choice_payload(step: &str, index: usize) -> String {
    let payload = format!("{step}:{index}");
    if payload.len() <= 48 {
        payload
    } else {
        // Long step names: a short stable hash (FNV-1a) keeps it within every channel's limit.
        let hash = step.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
        });
        format!("{hash:016x}:{index}")
    }
}

/// Percent-encodes a value placed in a URL, so an answer cannot change the URL's shape.
fn url_escape(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

struct Run<'a> {
    scenario: &'a Scenario,
    env: &'a Env<'a>,
    state: BotState,
    said: Vec<Said>,
}

impl Run<'_> {
    fn scope(&self) -> Value {
        let mut scope = self.state.vars.clone();
        scope.insert("contact".into(), self.env.contact.clone());
        scope.insert("channel".into(), self.env.channel.clone());
        scope.insert("conversation".into(), self.env.conversation.clone());
        Value::Object(scope)
    }

    fn choices(&self, step: &Step, scope: &Value) -> Vec<Choice> {
        step.say.as_ref().map_or_else(Vec::new, |say| {
            say.choices
                .iter()
                .enumerate()
                .map(|(i, c)| Choice {
                    label: c.label.template.render(scope),
                    payload: choice_payload(&step.name, i),
                })
                .collect()
        })
    }

    /// Says what a step shows on entry (its text, menu, media, and an `ask` question).
    fn show(&mut self, step: &Step, page: usize) {
        let scope = self.scope();
        if let Some(say) = &step.say {
            self.said.push(Said {
                text: say.text.template.render(&scope),
                choices: self.choices(step, &scope),
                page,
                media: say
                    .media
                    .iter()
                    .map(|m| (m.kind, m.url.template.render(&scope)))
                    .collect(),
            });
        }
        if let Action::Ask(ask) = &step.action {
            self.say_text(&ask.text.template, &scope);
        }
    }

    fn say_text(&mut self, template: &Template, scope: &Value) {
        self.said.push(Said {
            text: template.render(scope),
            choices: Vec::new(),
            page: 0,
            media: Vec::new(),
        });
    }

    fn stop(&mut self, waiting: Waiting, stop: Stop) -> Stop {
        self.state.waiting = waiting;
        stop
    }

    /// Enters `name` and goes on until something has to wait.
    fn go(&mut self, name: &str) -> Stop {
        let mut name = name.to_string();
        for _ in 0..MAX_STEPS {
            let Some(step) = self.scenario.step(&name) else {
                return self.stop(
                    Waiting::Done,
                    Stop::Failed(format!("the scenario has no step `{name}`")),
                );
            };
            self.state.step = step.name.clone();
            self.state.page = 0;
            self.show(step, 0);
            let next = match &step.action {
                Action::None if step.waits_for_customer() => {
                    return self.stop(Waiting::Answer, Stop::Answer)
                }
                Action::Ask(_) => return self.stop(Waiting::Answer, Stop::Answer),
                Action::None => step.next.as_ref(),
                Action::Set(assigns) => {
                    for a in assigns {
                        let value = fill(&a.value, &self.scope());
                        self.state.vars.insert(a.var.clone(), value);
                    }
                    step.next.as_ref()
                }
                Action::If {
                    condition,
                    then,
                    otherwise,
                    ..
                } => {
                    if condition.holds(&self.scope()) {
                        Some(then)
                    } else {
                        otherwise.as_ref().or(step.next.as_ref())
                    }
                }
                Action::Http(http) => {
                    let scope = self.scope();
                    let url = render_url(&http.url.template, &scope);
                    let headers = http
                        .headers
                        .iter()
                        .map(|(k, v)| {
                            let value = v.template.render(&scope).replace(['\r', '\n'], " ");
                            (k.clone(), value)
                        })
                        .collect();
                    let body = http.body.as_ref().map(|b| match fill(b, &scope) {
                        Value::String(s) => s,
                        json => json.to_string(),
                    });
                    let request = HttpRequest {
                        method: http.method.clone(),
                        url,
                        headers,
                        body,
                        timeout: http.timeout,
                    };
                    return self.stop(Waiting::Http, Stop::Http(request));
                }
                Action::Wait(d) => return self.stop(Waiting::Timer, Stop::Wait(*d)),
                Action::Handoff(target, _) => {
                    return self.stop(Waiting::Done, Stop::Handoff(target.clone()))
                }
                Action::Close => return self.stop(Waiting::Done, Stop::Close),
            };
            match next {
                Some(target) => name = target.step.clone(),
                None => {
                    return self.stop(
                        Waiting::Done,
                        Stop::Failed(format!(
                            "step `{}` does not say where to go next",
                            step.name
                        )),
                    )
                }
            }
        }
        self.stop(
            Waiting::Done,
            Stop::Failed(format!(
                "more than {MAX_STEPS} steps without waiting for the customer"
            )),
        )
    }

    fn answer(&mut self, text: &str, pressed: Option<&str>) -> Stop {
        let Some(step) = self.scenario.step(&self.state.step) else {
            return self.go(&self.state.step.clone());
        };
        let scope = self.scope();
        if let Action::Ask(ask) = &step.action {
            let answer = text.trim();
            let valid =
                !answer.is_empty() && ask.validate.as_ref().is_none_or(|re| re.is_match(answer));
            if valid {
                self.state
                    .vars
                    .insert(ask.save.clone(), Value::String(answer.to_string()));
                return match &step.next {
                    Some(next) => self.go(&next.step.clone()),
                    None => self.stop(
                        Waiting::Done,
                        Stop::Failed(format!(
                            "step `{}` does not say where to go next",
                            step.name
                        )),
                    ),
                };
            }
            if let Some(retry) = &ask.retry {
                self.say_text(&retry.template, &scope);
            }
            self.show(step, 0);
            return self.stop(Waiting::Answer, Stop::Answer);
        }
        let choices = self.choices(step, &scope);
        let words = &self.scenario.words;
        match select(
            self.env.caps,
            &choices,
            self.state.page,
            words,
            text,
            pressed,
        ) {
            Selected::Choice(i) => {
                let target = step
                    .say
                    .as_ref()
                    .and_then(|s| s.choices.get(i))
                    .map(|c| c.target.step.clone());
                match target {
                    Some(target) => self.go(&target),
                    None => self.stop(Waiting::Answer, Stop::Answer),
                }
            }
            Selected::Page(page) => {
                self.state.page = page;
                self.show(step, page);
                self.stop(Waiting::Answer, Stop::Answer)
            }
            Selected::Nothing => {
                if let Some(retry) = step.say.as_ref().and_then(|s| s.retry.as_ref()) {
                    self.say_text(&retry.template, &scope);
                }
                let page = self.state.page;
                self.show(step, page);
                self.stop(Waiting::Answer, Stop::Answer)
            }
        }
    }
}

fn render_url(template: &Template, scope: &Value) -> String {
    use crate::template::{display, Part};
    template
        .parts
        .iter()
        .map(|part| match part {
            Part::Text(t) => t.clone(),
            Part::Var { path, .. } => url_escape(&display(crate::vars::lookup(scope, path))),
        })
        .collect()
}

/// Starts the scenario for a new conversation.
pub fn start(scenario: &Scenario, env: &Env<'_>) -> Turn {
    let state = BotState {
        step: scenario.start.step.clone(),
        vars: Map::new(),
        page: 0,
        waiting: Waiting::Answer,
    };
    advance(scenario, env, state, Input::Start)
}

/// One turn: what `input` does to a bot in `state`.
pub fn advance(scenario: &Scenario, env: &Env<'_>, state: BotState, input: Input<'_>) -> Turn {
    let mut run = Run {
        scenario,
        env,
        state,
        said: Vec::new(),
    };
    let stop = match (input, run.state.waiting) {
        (Input::Start, _) => {
            run.state.vars.clear();
            run.go(&scenario.start.step.clone())
        }
        (Input::Message { text, pressed }, Waiting::Answer) => run.answer(text, pressed),
        (Input::Http(result), Waiting::Http) => {
            let step = scenario.step(&run.state.step);
            let http = step.and_then(|s| match &s.action {
                Action::Http(h) => Some(h),
                _ => None,
            });
            let ok = match result {
                Ok(reply) if (200..300).contains(&reply.status) => {
                    if let Some(save) = http.and_then(|h| h.save.clone()) {
                        run.state.vars.insert(save, reply.body);
                    }
                    true
                }
                Ok(_) | Err(_) => false,
            };
            let target = step.and_then(|s| {
                if ok {
                    s.next.as_ref()
                } else {
                    s.on_error.as_ref()
                }
            });
            match target {
                Some(t) => run.go(&t.step.clone()),
                None => run.stop(
                    Waiting::Done,
                    Stop::Failed(format!("the HTTP call of step `{}` failed", run.state.step)),
                ),
            }
        }
        (Input::Timer, Waiting::Timer) => {
            let next = scenario
                .step(&run.state.step)
                .and_then(|s| s.next.as_ref())
                .map(|t| t.step.clone());
            match next {
                Some(next) => run.go(&next),
                None => run.stop(
                    Waiting::Done,
                    Stop::Failed(format!(
                        "step `{}` does not say where to go next",
                        run.state.step
                    )),
                ),
            }
        }
        // A message while a call runs or a wait lasts is kept with the conversation; the
        // bot goes on when its call answers or its time comes.
        _ => Stop::Pending,
    };
    Turn {
        state: run.state,
        said: run.said,
        stop,
    }
}
