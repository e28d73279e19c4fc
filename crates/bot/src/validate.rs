//! The checks that need the whole scenario: every target exists, every step is reachable,
//! no loop runs without waiting, every variable read is set somewhere, handoffs name groups
//! and operators that exist. Together with reading, every problem is reported at once.

use std::collections::{BTreeSet, HashMap, HashSet};

use crate::{
    diagnostic::{Diagnostic, Diagnostics},
    expr::Expr,
    scenario::{read, Action, HandoffTarget, Scenario, Step, Text},
    vars::Path,
    yaml::{self, Node},
};

/// What the validator may know about the account the scenario runs in. `None` skips a check
/// (e.g. `switchboard bot validate` on a file, without a database).
#[derive(Debug, Clone, Default)]
pub struct Context {
    /// Group names.
    pub groups: Option<Vec<String>>,
    /// Operator e-mails.
    pub operators: Option<Vec<String>>,
}

/// The fields Switchboard fills in under its reserved roots.
const BUILTIN_FIELDS: &[(&str, &[&str])] = &[
    ("contact", &["name", "id", "phone", "email", "external_id"]),
    ("channel", &["kind", "name", "id"]),
    ("conversation", &["id"]),
];

/// Reads and checks a scenario: the scenario, or every problem sorted by position.
pub fn load(source: &str, context: &Context) -> Result<Scenario, Diagnostics> {
    let (scenario, mut problems) = read(source);
    if let Some(scenario) = &scenario {
        problems.extend(validate(scenario, context));
    }
    problems.sort();
    problems.dedup();
    match scenario {
        Some(s) if problems.is_empty() => Ok(s),
        _ => Err(Diagnostics(problems)),
    }
}

/// Every problem of a scenario that was read.
pub fn validate(scenario: &Scenario, context: &Context) -> Vec<Diagnostic> {
    let mut problems = Vec::new();
    targets(scenario, &mut problems);
    reachability(scenario, &mut problems);
    hot_loops(scenario, &mut problems);
    variables(scenario, &mut problems);
    handoffs(scenario, context, &mut problems);
    labels(scenario, &mut problems);
    problems
}

fn targets(scenario: &Scenario, problems: &mut Vec<Diagnostic>) {
    let start = &scenario.start;
    if scenario.step(&start.step).is_none() {
        problems.push(Diagnostic::new(
            start.pos,
            format!("`start` names a step that does not exist: `{}`", start.step),
        ));
    }
    for step in &scenario.steps {
        for target in step.targets() {
            if scenario.step(&target.step).is_none() {
                problems.push(Diagnostic::new(
                    target.pos,
                    format!(
                        "step `{}` goes to `{}`, which does not exist",
                        step.name, target.step
                    ),
                ));
            }
        }
    }
}

fn reachability(scenario: &Scenario, problems: &mut Vec<Diagnostic>) {
    let mut seen = HashSet::new();
    let mut todo = vec![scenario.start.step.as_str()];
    while let Some(name) = todo.pop() {
        if !seen.insert(name) {
            continue;
        }
        if let Some(step) = scenario.step(name) {
            todo.extend(step.targets().iter().map(|t| t.step.as_str()));
        }
    }
    for step in &scenario.steps {
        if !seen.contains(step.name.as_str()) {
            problems.push(Diagnostic::new(
                step.pos,
                format!(
                    "step `{}` is never reached from `start` ({})",
                    step.name, scenario.start.step
                ),
            ));
        }
    }
}

/// A step the bot passes without stopping: it neither waits for the customer nor for time.
fn passes_through(step: &Step) -> bool {
    !step.waits_for_customer() && !matches!(step.action, Action::Wait(_))
}

/// Cycles made only of steps that pass through would spin forever within one turn.
fn hot_loops(scenario: &Scenario, problems: &mut Vec<Diagnostic>) {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        New,
        Open,
        Done,
    }
    let names: Vec<&str> = scenario.steps.iter().map(|s| s.name.as_str()).collect();
    let at: HashMap<&str, usize> = names.iter().enumerate().map(|(i, n)| (*n, i)).collect();
    let edges: Vec<Vec<usize>> = scenario
        .steps
        .iter()
        .map(|s| {
            if passes_through(s) {
                s.targets()
                    .iter()
                    .filter_map(|t| at.get(t.step.as_str()).copied())
                    .filter(|&j| passes_through(&scenario.steps[j]))
                    .collect()
            } else {
                Vec::new()
            }
        })
        .collect();
    let mut marks = vec![Mark::New; names.len()];
    let mut reported: BTreeSet<Vec<usize>> = BTreeSet::new();
    for root in 0..names.len() {
        if marks[root] != Mark::New {
            continue;
        }
        // Iterative DFS keeping the path, so a back edge names the whole cycle.
        let mut path: Vec<(usize, usize)> = vec![(root, 0)];
        marks[root] = Mark::Open;
        while let Some(&mut (node, ref mut next)) = path.last_mut() {
            if let Some(&succ) = edges[node].get(*next) {
                *next += 1;
                match marks[succ] {
                    Mark::New => {
                        marks[succ] = Mark::Open;
                        path.push((succ, 0));
                    }
                    Mark::Open => {
                        let from = path.iter().position(|(n, _)| *n == succ).unwrap_or(0);
                        let cycle: Vec<usize> = path[from..].iter().map(|(n, _)| *n).collect();
                        let mut key = cycle.clone();
                        key.sort_unstable();
                        if reported.insert(key) {
                            let first = *cycle.iter().min().unwrap_or(&succ);
                            let mut route: Vec<&str> = cycle.iter().map(|&i| names[i]).collect();
                            route.push(names[succ]);
                            problems.push(Diagnostic::new(
                                scenario.steps[first].pos,
                                format!(
                                    "these steps loop without waiting for the customer: {} (add `ask`, `choices` or `wait` on the way)",
                                    route.join(" → ")
                                ),
                            ));
                        }
                    }
                    Mark::Done => {}
                }
            } else {
                marks[node] = Mark::Done;
                path.pop();
            }
        }
    }
}

fn variables(scenario: &Scenario, problems: &mut Vec<Diagnostic>) {
    let mut set: HashSet<&str> = HashSet::new();
    for step in &scenario.steps {
        match &step.action {
            Action::Ask(ask) => {
                set.insert(&ask.save);
            }
            Action::Http(http) => {
                set.extend(http.save.as_deref());
            }
            Action::Set(assigns) => set.extend(assigns.iter().map(|a| a.var.as_str())),
            _ => {}
        }
    }
    let mut check = |path: &Path, pos| {
        let root = path.root();
        if let Some((_, fields)) = BUILTIN_FIELDS.iter().find(|(r, _)| *r == root) {
            match path.0.get(1) {
                Some(field) if fields.contains(&field.as_str()) => {}
                _ => problems.push(Diagnostic::new(
                    pos,
                    format!(
                        "`{path}` is not something Switchboard knows; use one of: {}",
                        fields
                            .iter()
                            .map(|f| format!("{root}.{f}"))
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                )),
            }
        } else if !set.contains(root) {
            problems.push(Diagnostic::new(
                pos,
                format!("variable `{root}` is never set (save it with `ask`, `http` or `set`)"),
            ));
        }
    };
    let text = |t: &Text, check: &mut dyn FnMut(&Path, crate::diagnostic::Pos)| {
        for (path, offset) in t.template.vars() {
            check(path, t.pos_at(offset));
        }
    };
    for step in &scenario.steps {
        if let Some(say) = &step.say {
            text(&say.text, &mut check);
            for c in &say.choices {
                text(&c.label, &mut check);
            }
            for m in &say.media {
                text(&m.url, &mut check);
            }
            if let Some(r) = &say.retry {
                text(r, &mut check);
            }
        }
        match &step.action {
            Action::Ask(ask) => {
                text(&ask.text, &mut check);
                if let Some(r) = &ask.retry {
                    text(r, &mut check);
                }
            }
            Action::Http(http) => {
                text(&http.url, &mut check);
                for (_, v) in &http.headers {
                    text(v, &mut check);
                }
                if let Some(body) = &http.body {
                    node_templates(body, &mut check);
                }
            }
            Action::Set(assigns) => {
                for a in assigns {
                    node_templates(&a.value, &mut check);
                }
            }
            Action::If {
                condition, node, ..
            } => {
                for (path, offset) in Expr::vars(condition) {
                    check(path, node.pos_at(offset));
                }
            }
            _ => {}
        }
    }
}

fn node_templates(node: &Node, check: &mut dyn FnMut(&Path, crate::diagnostic::Pos)) {
    match &node.value {
        yaml::Value::Scalar { .. } => {
            if let Some(template) = node
                .string()
                .filter(|_| node.to_json().is_string())
                .and_then(|s| crate::template::Template::parse(s).ok())
            {
                for (path, offset) in template.vars() {
                    check(path, node.pos_at(offset));
                }
            }
        }
        yaml::Value::Seq(items) => items.iter().for_each(|i| node_templates(i, check)),
        yaml::Value::Map(entries) => entries.iter().for_each(|(_, v)| node_templates(v, check)),
    }
}

fn handoffs(scenario: &Scenario, context: &Context, problems: &mut Vec<Diagnostic>) {
    for step in &scenario.steps {
        let Action::Handoff(target, pos) = &step.action else {
            continue;
        };
        let (known, name, what) = match target {
            HandoffTarget::Group(name) => (&context.groups, name, "group"),
            HandoffTarget::Operator(email) => (&context.operators, email, "operator"),
        };
        if let Some(known) = known {
            if !known.iter().any(|k| k.eq_ignore_ascii_case(name)) {
                problems.push(Diagnostic::new(
                    *pos,
                    format!(
                        "step `{}` hands off to {what} `{name}`, which does not exist",
                        step.name
                    ),
                ));
            }
        }
    }
}

fn labels(scenario: &Scenario, problems: &mut Vec<Diagnostic>) {
    for step in &scenario.steps {
        let Some(say) = &step.say else { continue };
        let mut seen = HashSet::new();
        for c in &say.choices {
            let key = c.label.template.source.trim().to_lowercase();
            if !seen.insert(key) {
                problems.push(Diagnostic::new(
                    c.pos,
                    format!(
                        "two choices of step `{}` are labelled `{}`: the customer could not tell them apart",
                        step.name,
                        c.label.template.source.trim()
                    ),
                ));
            }
        }
    }
}
