//! Reading a scenario from its YAML tree: the shape of every step checked, every problem
//! collected with its position (the graph checks are in `validate`).

use super::*;

const STEP_KEYS: &[&str] = &[
    "say", "choices", "media", "retry", "ask", "save", "validate", "http", "on_error", "set", "if",
    "then", "else", "wait", "handoff", "close", "goto",
];
const ACTIONS: &[&str] = &["ask", "http", "set", "if", "wait", "handoff", "close"];

struct Reader {
    problems: Vec<Diagnostic>,
}

impl Reader {
    fn problem(&mut self, pos: Pos, message: impl Into<String>) {
        self.problems.push(Diagnostic::new(pos, message));
    }

    fn string<'a>(&mut self, node: &'a Node, what: &str) -> Option<&'a str> {
        let s = node.string();
        if s.is_none() {
            self.problem(
                node.pos,
                format!("{what} must be a text, found {}", node.describe()),
            );
        }
        s
    }

    fn text(&mut self, node: &Node, what: &str) -> Option<Text> {
        let source = self.string(node, what)?;
        match Template::parse(source) {
            Ok(template) => Some(Text {
                template,
                node: node.clone(),
            }),
            Err(e) => {
                self.problem(node.pos_at(e.offset), e.message);
                None
            }
        }
    }

    fn target(&mut self, node: &Node, what: &str) -> Option<Target> {
        let step = self.string(node, what)?.trim().to_string();
        Some(Target {
            step,
            pos: node.pos,
        })
    }

    fn var_name(&mut self, node: &Node, what: &str) -> Option<String> {
        let name = self.string(node, what)?;
        if !is_name(name) {
            self.problem(
                node.pos,
                format!("`{name}` is not a variable name (letters, digits and `_`, not starting with a digit)"),
            );
            return None;
        }
        if BUILTIN_ROOTS.contains(&name) {
            self.problem(
                node.pos,
                format!("`{name}` is filled in by Switchboard and cannot be saved to"),
            );
            return None;
        }
        Some(name.to_string())
    }

    fn regex(&mut self, node: &Node) -> Option<Regex> {
        let source = self.string(node, "`validate`")?;
        // The whole answer must match, not a piece of it.
        match Regex::new(&format!("^(?:{source})$")) {
            Ok(re) => Some(re),
            Err(e) => {
                let detail = e.to_string();
                let last = detail
                    .lines()
                    .rev()
                    .find(|l| !l.trim().is_empty())
                    .unwrap_or("invalid");
                self.problem(
                    node.pos,
                    format!(
                        "`validate` is not a valid regular expression: {}",
                        last.trim()
                    ),
                );
                None
            }
        }
    }

    fn duration(&mut self, node: &Node, what: &str) -> Option<Duration> {
        let text = node.scalar().unwrap_or_default();
        match text.parse::<DurationSpec>() {
            Ok(d) => Some(d.as_duration()),
            Err(e) => {
                self.problem(node.pos, format!("{what}: {e}"));
                None
            }
        }
    }

    fn choices(&mut self, node: &Node) -> Vec<ChoiceDef> {
        let Some(items) = node.seq() else {
            self.problem(
                node.pos,
                format!(
                    "`choices` must be a list of {{label, goto}}, found {}",
                    node.describe()
                ),
            );
            return Vec::new();
        };
        let mut out = Vec::new();
        for item in items {
            let Some(entries) = item.map() else {
                self.problem(
                    item.pos,
                    "a choice is a mapping: `{ label: \"…\", goto: step }`",
                );
                continue;
            };
            let (mut label, mut target) = (None, None);
            for (k, v) in entries {
                match k.scalar().unwrap_or_default() {
                    "label" => label = self.text(v, "a choice's `label`"),
                    "goto" => target = self.target(v, "a choice's `goto`"),
                    other => self.problem(
                        k.pos,
                        format!("unknown key `{other}` in a choice (expected `label` and `goto`)"),
                    ),
                }
            }
            if label
                .as_ref()
                .is_some_and(|l| l.template.source.trim().is_empty())
            {
                self.problem(item.pos, "a choice's `label` is empty");
                continue;
            }
            match (label, target) {
                (Some(label), Some(target)) => out.push(ChoiceDef {
                    label,
                    target,
                    pos: item.pos,
                }),
                (None, _) if !entries.iter().any(|(k, _)| k.scalar() == Some("label")) => {
                    self.problem(item.pos, "a choice needs a `label`")
                }
                (_, None) if !entries.iter().any(|(k, _)| k.scalar() == Some("goto")) => {
                    self.problem(item.pos, "a choice needs `goto`: the step it leads to")
                }
                _ => {}
            }
        }
        out
    }

    fn media(&mut self, node: &Node) -> Vec<Media> {
        let items: Vec<&Node> = match node.seq() {
            Some(items) => items.iter().collect(),
            None => vec![node],
        };
        let mut out = Vec::new();
        for item in items {
            if item.string().is_some() {
                if let Some(url) = self.text(item, "`media`") {
                    out.push(Media {
                        url,
                        kind: AttachmentKind::Image,
                    });
                }
                continue;
            }
            let Some(entries) = item.map() else {
                self.problem(item.pos, "`media` is a URL or `{ url, kind }`");
                continue;
            };
            let (mut url, mut kind) = (None, AttachmentKind::Image);
            for (k, v) in entries {
                match k.scalar().unwrap_or_default() {
                    "url" => url = self.text(v, "`url`"),
                    "kind" => match v.scalar().unwrap_or_default().parse() {
                        Ok(k) => kind = k,
                        Err(_) => self.problem(
                            v.pos,
                            "`kind` is one of image, video, audio, voice, file, sticker",
                        ),
                    },
                    other => self.problem(k.pos, format!("unknown key `{other}` in `media`")),
                }
            }
            match url {
                Some(url) => out.push(Media { url, kind }),
                None => self.problem(item.pos, "`media` needs a `url`"),
            }
        }
        out
    }

    fn http(&mut self, node: &Node) -> Option<Http> {
        let Some(entries) = node.map() else {
            self.problem(
                node.pos,
                "`http` is `{ method, url, headers?, body?, save?, timeout? }`",
            );
            return None;
        };
        let mut http = Http {
            method: "GET".into(),
            url: Text {
                template: Template::default(),
                node: node.clone(),
            },
            headers: Vec::new(),
            body: None,
            save: None,
            timeout: DEFAULT_HTTP_TIMEOUT,
        };
        let mut has_url = false;
        for (k, v) in entries {
            match k.scalar().unwrap_or_default() {
                "method" => {
                    let m = v.scalar().unwrap_or_default().to_ascii_uppercase();
                    if ["GET", "POST", "PUT", "PATCH", "DELETE"].contains(&m.as_str()) {
                        http.method = m;
                    } else {
                        self.problem(v.pos, "`method` is GET, POST, PUT, PATCH or DELETE");
                    }
                }
                "url" => {
                    if let Some(url) = self.text(v, "`url`") {
                        let s = url.template.source.trim_start().to_ascii_lowercase();
                        if !(s.starts_with("http://") || s.starts_with("https://")) {
                            self.problem(v.pos, "`url` must start with http:// or https://");
                        }
                        http.url = url;
                        has_url = true;
                    }
                }
                "headers" => match v.map() {
                    Some(hs) => {
                        for (hk, hv) in hs {
                            let name = hk.scalar().unwrap_or_default().to_string();
                            if let Some(value) = self.text(hv, "a header") {
                                http.headers.push((name, value));
                            }
                        }
                    }
                    None => self.problem(v.pos, "`headers` is a mapping of names to values"),
                },
                "body" => http.body = Some(v.clone()),
                "save" => http.save = self.var_name(v, "`save`"),
                "timeout" => {
                    if let Some(d) = self.duration(v, "`timeout`") {
                        if d > MAX_HTTP_TIMEOUT {
                            self.problem(v.pos, "`timeout` is at most 30s");
                        } else {
                            http.timeout = d;
                        }
                    }
                }
                other => self.problem(
                    k.pos,
                    format!("unknown key `{other}` in `http` (method, url, headers, body, save, timeout)"),
                ),
            }
        }
        if !has_url && !entries.iter().any(|(k, _)| k.scalar() == Some("url")) {
            self.problem(node.pos, "`http` needs a `url`");
        }
        Some(http)
    }

    fn handoff(&mut self, node: &Node) -> Option<HandoffTarget> {
        let entries = node.map().unwrap_or_default();
        if entries.len() != 1 {
            self.problem(
                node.pos,
                "`handoff` names one group or one operator: `{ group: \"Support\" }` or `{ operator: \"anna@example.com\" }`",
            );
            return None;
        }
        let (k, v) = &entries[0];
        let name = self.string(v, "the handoff target")?.trim().to_string();
        match k.scalar().unwrap_or_default() {
            "group" => Some(HandoffTarget::Group(name)),
            "operator" => Some(HandoffTarget::Operator(name)),
            other => {
                self.problem(
                    k.pos,
                    format!("unknown handoff target `{other}` (expected `group` or `operator`)"),
                );
                None
            }
        }
    }

    fn set(&mut self, node: &Node) -> Vec<Assign> {
        let Some(entries) = node.map() else {
            self.problem(node.pos, "`set` is a mapping of variable names to values");
            return Vec::new();
        };
        let mut out = Vec::new();
        for (k, v) in entries {
            if let Some(var) = self.var_name(k, "a variable name") {
                if let Some(s) = v.string() {
                    if let Err(e) = Template::parse(s) {
                        self.problem(v.pos_at(e.offset), e.message);
                        continue;
                    }
                }
                out.push(Assign {
                    var,
                    pos: k.pos,
                    value: v.clone(),
                });
            }
        }
        out
    }

    fn step(&mut self, name: &str, pos: Pos, node: &Node) -> Option<Step> {
        let Some(entries) = node.map() else {
            self.problem(
                node.pos,
                format!(
                    "step `{name}` must be a mapping (say, ask, goto, …), found {}",
                    node.describe()
                ),
            );
            return None;
        };
        let get = |key: &str| entries.iter().find(|(k, _)| k.scalar() == Some(key));
        for (k, _) in entries {
            let key = k.scalar().unwrap_or_default();
            if !STEP_KEYS.contains(&key) {
                self.problem(
                    k.pos,
                    format!(
                        "unknown step kind or key `{key}` in step `{name}` (expected one of: {})",
                        STEP_KEYS.join(", ")
                    ),
                );
            }
        }
        let actions: Vec<&(Node, Node)> = entries
            .iter()
            .filter(|(k, _)| ACTIONS.contains(&k.scalar().unwrap_or_default()))
            .collect();
        if actions.len() > 1 {
            let names: Vec<&str> = actions.iter().filter_map(|(k, _)| k.scalar()).collect();
            self.problem(
                actions[1].0.pos,
                format!(
                    "step `{name}` does more than one thing ({}); split it into steps joined by `goto`",
                    names.join(", ")
                ),
            );
        }
        let action_key = actions.first().and_then(|(k, _)| k.scalar());
        let allowed_with = |owners: &[&str]| -> bool {
            owners.contains(&action_key.unwrap_or(""))
                || (owners.contains(&"say") && get("say").is_some() && action_key.is_none())
        };
        let misplaced = |reader: &mut Self, key: &str, owners: &[&str], hint: &str| {
            if let Some((k, _)) = get(key) {
                if !allowed_with(owners) {
                    reader.problem(k.pos, format!("`{key}` belongs with {hint}"));
                }
            }
        };
        misplaced(self, "save", &["ask"], "`ask`");
        misplaced(self, "validate", &["ask"], "`ask`");
        misplaced(
            self,
            "retry",
            &["ask", "say"],
            "`ask` or a `say` with `choices`",
        );
        misplaced(self, "then", &["if"], "`if`");
        misplaced(self, "else", &["if"], "`if`");
        misplaced(self, "on_error", &["http"], "`http`");

        let mut say = get("say").and_then(|(_, v)| {
            self.text(v, "`say`").map(|text| Say {
                text,
                choices: Vec::new(),
                media: Vec::new(),
                retry: None,
            })
        });
        if let Some((k, v)) = get("choices") {
            let choices = self.choices(v);
            match say.as_mut() {
                Some(say) => say.choices = choices,
                None if get("say").is_none() => {
                    self.problem(k.pos, "`choices` need a `say` text to show them with")
                }
                None => {}
            }
            if action_key.is_some() {
                self.problem(
                    k.pos,
                    format!(
                        "a step with `choices` waits for the choice; move `{}` into its own step",
                        action_key.unwrap_or_default()
                    ),
                );
            }
            if let Some((g, _)) = get("goto") {
                self.problem(
                    g.pos,
                    "a step with `choices` goes where the chosen choice says; remove `goto`",
                );
            }
        }
        if let Some((_, v)) = get("media") {
            let media = self.media(v);
            match say.as_mut() {
                Some(say) => say.media = media,
                None => {
                    // Media alone is a say without text.
                    say = Some(Say {
                        text: Text {
                            template: Template::literal(""),
                            node: v.clone(),
                        },
                        choices: Vec::new(),
                        media,
                        retry: None,
                    })
                }
            }
        }

        let action = match actions.first() {
            None => Action::None,
            Some((k, v)) => match k.scalar().unwrap_or_default() {
                "ask" => {
                    let text = self.text(v, "`ask`");
                    let save = match get("save") {
                        Some((_, s)) => self.var_name(s, "`save`"),
                        None => {
                            self.problem(k.pos, format!("`ask` in step `{name}` needs `save`: the variable the answer goes to"));
                            None
                        }
                    };
                    let validate = get("validate").and_then(|(_, r)| self.regex(r));
                    let retry = get("retry").and_then(|(_, r)| self.text(r, "`retry`"));
                    match (text, save) {
                        (Some(text), Some(save)) => Action::Ask(Ask {
                            text,
                            save,
                            validate,
                            retry,
                        }),
                        _ => Action::None,
                    }
                }
                "http" => {
                    if get("on_error").is_none() {
                        self.problem(k.pos, format!("`http` in step `{name}` needs `on_error`: the step to go to when the call fails"));
                    }
                    self.http(v).map_or(Action::None, Action::Http)
                }
                "set" => Action::Set(self.set(v)),
                "if" => {
                    let condition = self.string(v, "`if`").and_then(|s| match Expr::parse(s) {
                        Ok(e) => Some(e),
                        Err(e) => {
                            self.problem(
                                v.pos_at(e.offset),
                                format!("in the condition: {}", e.message),
                            );
                            None
                        }
                    });
                    let then = match get("then") {
                        Some((_, t)) => self.target(t, "`then`"),
                        None => {
                            self.problem(k.pos, format!("`if` in step `{name}` needs `then`: the step to go to when the condition holds"));
                            None
                        }
                    };
                    let otherwise = get("else").and_then(|(_, t)| self.target(t, "`else`"));
                    if otherwise.is_none() && get("else").is_none() && get("goto").is_none() {
                        self.problem(k.pos, format!("`if` in step `{name}` needs `else` (or `goto`): the step to go to otherwise"));
                    }
                    match (condition, then) {
                        (Some(condition), Some(then)) => Action::If {
                            condition,
                            node: v.clone(),
                            then,
                            otherwise,
                        },
                        _ => Action::None,
                    }
                }
                "wait" => self
                    .duration(v, "`wait`")
                    .map_or(Action::None, Action::Wait),
                "handoff" => self
                    .handoff(v)
                    .map_or(Action::None, |t| Action::Handoff(t, v.pos)),
                "close" => match v.bool() {
                    Some(true) => Action::Close,
                    _ => {
                        self.problem(v.pos, "`close` takes `true`");
                        Action::None
                    }
                },
                _ => Action::None,
            },
        };
        if let (Some(say), Some((_, r))) = (say.as_mut(), get("retry")) {
            if action_key.is_none() {
                say.retry = self.text(r, "`retry`");
            }
        }
        let next = get("goto").and_then(|(_, t)| self.target(t, "`goto`"));
        if next.is_some() && matches!(action_key, Some("handoff" | "close")) {
            self.problem(
                get("goto").map_or(pos, |(k, _)| k.pos),
                format!(
                    "step `{name}` ends the bot's part (`{}`); `goto` would never be followed",
                    action_key.unwrap_or_default()
                ),
            );
        }
        let on_error = get("on_error").and_then(|(_, t)| self.target(t, "`on_error`"));
        let has_choices =
            say.as_ref().is_some_and(|s| !s.choices.is_empty()) || get("choices").is_some();
        let ends = matches!(action_key, Some("handoff" | "close" | "if"));
        if next.is_none()
            && get("goto").is_none()
            && !has_choices
            && !ends
            && (action_key.is_some() || get("say").is_some() || get("media").is_some())
        {
            self.problem(
                pos,
                format!("step `{name}` does not say where to go next: add `goto`, `choices`, `handoff` or `close`"),
            );
        }
        if entries.is_empty() {
            self.problem(pos, format!("step `{name}` is empty"));
        }
        Some(Step {
            name: name.to_string(),
            pos,
            say,
            action,
            next,
            on_error,
        })
    }
}

/// Reads a scenario. Every problem of shape is reported at once; graph checks come from
/// [`crate::validate`].
pub fn read(source: &str) -> (Option<Scenario>, Vec<Diagnostic>) {
    let root = match yaml::parse(source) {
        Ok(root) => root,
        Err(problems) => return (None, problems),
    };
    let mut reader = Reader {
        problems: Vec::new(),
    };
    let Some(entries) = root.map() else {
        reader.problem(
            root.pos,
            "a scenario is a mapping with `name`, `start` and `steps`",
        );
        return (None, reader.problems);
    };
    let get = |key: &str| entries.iter().find(|(k, _)| k.scalar() == Some(key));
    for (k, _) in entries {
        let key = k.scalar().unwrap_or_default();
        if !["name", "description", "start", "steps", "menu"].contains(&key) {
            reader.problem(
                k.pos,
                format!("unknown key `{key}` (expected name, description, start, steps, menu)"),
            );
        }
    }
    let name = match get("name") {
        Some((_, v)) => reader.string(v, "`name`").unwrap_or_default().to_string(),
        None => {
            reader.problem(root.pos, "the scenario needs a `name`");
            String::new()
        }
    };
    let mut words = MenuWords::default();
    if let Some((_, v)) = get("menu") {
        for (k, v) in v.map().unwrap_or_default() {
            match k.scalar().unwrap_or_default() {
                "more" => {
                    if let Some(s) = reader.string(v, "`menu.more`") {
                        words.more = s.to_string();
                    }
                }
                other => reader.problem(
                    k.pos,
                    format!("unknown key `{other}` in `menu` (expected `more`)"),
                ),
            }
        }
    }
    let mut steps = Vec::new();
    match get("steps") {
        None => reader.problem(root.pos, "the scenario needs `steps`"),
        Some((_, v)) => match v.map() {
            None => reader.problem(v.pos, "`steps` is a mapping of step names to steps"),
            Some(entries) => {
                for (k, v) in entries {
                    let Some(step_name) = k.string().map(str::trim) else {
                        reader.problem(k.pos, "a step name must be a text");
                        continue;
                    };
                    if step_name.is_empty()
                        || step_name.contains(char::is_whitespace)
                        || step_name.contains(':')
                    {
                        reader.problem(
                            k.pos,
                            format!("`{step_name}` is not a step name (no spaces or `:`)"),
                        );
                        continue;
                    }
                    if let Some(step) = reader.step(step_name, k.pos, v) {
                        steps.push(step);
                    }
                }
                if entries.is_empty() {
                    reader.problem(v.pos, "`steps` is empty");
                }
            }
        },
    }
    let start = match get("start") {
        Some((_, v)) => reader.target(v, "`start`"),
        // Without `start`, the first step starts.
        None => steps.first().map(|s: &Step| Target {
            step: s.name.clone(),
            pos: s.pos,
        }),
    };
    let Some(start) = start else {
        return (None, reader.problems);
    };
    let index = steps
        .iter()
        .enumerate()
        .map(|(i, s)| (s.name.clone(), i))
        .collect();
    let scenario = Scenario {
        name,
        start,
        steps,
        words,
        index,
    };
    (Some(scenario), reader.problems)
}
