//! The scenario model (the format in docs/scenarios.md) and its reading from YAML (`read`):
//! reading checks the shape of every step and collects every problem with its position; the
//! checks that need the whole graph (targets, reachability, loops, variables) are in `validate`.

use std::{collections::HashMap, time::Duration};

use regex::Regex;
use serde_json::Value;
use switchboard_core::{message::AttachmentKind, render::MenuWords, DurationSpec};

use crate::{
    diagnostic::{Diagnostic, Pos},
    expr::Expr,
    template::Template,
    vars::{is_name, BUILTIN_ROOTS},
    yaml::{self, Node},
};

/// A reference to a step, where it is written.
#[derive(Debug, Clone, PartialEq)]
pub struct Target {
    pub step: String,
    pub pos: Pos,
}

/// A template and where its text starts (for positions of its holes).
#[derive(Debug, Clone, PartialEq)]
pub struct Text {
    pub template: Template,
    pub node: Node,
}

impl Text {
    /// Where the `offset`-th character of the text is written.
    pub fn pos_at(&self, offset: usize) -> Pos {
        self.node.pos_at(offset)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct ChoiceDef {
    pub label: Text,
    pub target: Target,
    pub pos: Pos,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Media {
    pub url: Text,
    pub kind: AttachmentKind,
}

/// What the bot says on entering a step.
#[derive(Debug, Clone, PartialEq)]
pub struct Say {
    pub text: Text,
    pub choices: Vec<ChoiceDef>,
    pub media: Vec<Media>,
    /// Said before repeating the step after an answer that matches no choice.
    pub retry: Option<Text>,
}

#[derive(Debug, Clone)]
pub struct Ask {
    pub text: Text,
    pub save: String,
    pub validate: Option<Regex>,
    pub retry: Option<Text>,
}

/// An HTTP call; the answer's JSON (or text) is saved in a variable.
#[derive(Debug, Clone, PartialEq)]
pub struct Http {
    pub method: String,
    pub url: Text,
    pub headers: Vec<(String, Text)>,
    /// A JSON body whose strings are templates, or a text template.
    pub body: Option<Node>,
    pub save: Option<String>,
    pub timeout: Duration,
}

/// Who takes over from the bot.
#[derive(Debug, Clone, PartialEq)]
pub enum HandoffTarget {
    /// A group by name.
    Group(String),
    /// An operator by e-mail.
    Operator(String),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Assign {
    pub var: String,
    pub pos: Pos,
    /// A string is a template; other YAML values are stored as they are.
    pub value: Node,
}

/// What a step does after saying its text.
#[derive(Debug, Clone)]
pub enum Action {
    /// Nothing more: wait for a choice when there are choices, else go on.
    None,
    Ask(Ask),
    Http(Http),
    Set(Vec<Assign>),
    If {
        condition: Expr,
        node: Node,
        then: Target,
        otherwise: Option<Target>,
    },
    Wait(Duration),
    Handoff(HandoffTarget, Pos),
    Close,
}

#[derive(Debug, Clone)]
pub struct Step {
    pub name: String,
    pub pos: Pos,
    pub say: Option<Say>,
    pub action: Action,
    pub next: Option<Target>,
    pub on_error: Option<Target>,
}

impl Step {
    /// The steps this one can go to, with where each is named.
    pub fn targets(&self) -> Vec<&Target> {
        let mut out: Vec<&Target> = Vec::new();
        if let Some(say) = &self.say {
            out.extend(say.choices.iter().map(|c| &c.target));
        }
        if let Action::If {
            then, otherwise, ..
        } = &self.action
        {
            out.push(then);
            out.extend(otherwise);
        }
        out.extend(&self.next);
        out.extend(&self.on_error);
        out
    }

    /// Whether the bot stops here until the customer answers.
    pub fn waits_for_customer(&self) -> bool {
        matches!(self.action, Action::Ask(_))
            || self.say.as_ref().is_some_and(|s| !s.choices.is_empty())
    }
}

/// A whole scenario.
#[derive(Debug, Clone)]
pub struct Scenario {
    pub name: String,
    pub start: Target,
    pub steps: Vec<Step>,
    pub words: MenuWords,
    index: HashMap<String, usize>,
}

impl Scenario {
    pub fn step(&self, name: &str) -> Option<&Step> {
        self.index.get(name).map(|&i| &self.steps[i])
    }
}

/// The largest time an `http` step may wait for an answer.
pub const MAX_HTTP_TIMEOUT: Duration = Duration::from_secs(30);
pub const DEFAULT_HTTP_TIMEOUT: Duration = Duration::from_secs(10);

mod read;

pub use read::read;

/// A value of `set` or an http body, with templates in its strings filled from `scope`.
pub fn fill(node: &Node, scope: &Value) -> Value {
    match &node.value {
        yaml::Value::Scalar { .. } => match node.string() {
            Some(s) if node.to_json().is_string() => Template::parse(s)
                .map(|t| Value::String(t.render(scope)))
                .unwrap_or_else(|_| Value::String(s.to_string())),
            _ => node.to_json(),
        },
        yaml::Value::Seq(items) => items.iter().map(|i| fill(i, scope)).collect(),
        yaml::Value::Map(entries) => entries
            .iter()
            .map(|(k, v)| (k.scalar().unwrap_or_default().to_string(), fill(v, scope)))
            .collect::<serde_json::Map<_, _>>()
            .into(),
    }
}
