//! A YAML document as a tree that remembers where every node starts, so every problem can be
//! reported at its line and column. Built from yaml-rust2's event parser (the ready-made
//! loaders drop positions); anchors and aliases are resolved, duplicate keys are refused.
//!
//! An alias is a copy of its anchor's tree, so a few hundred bytes of nested aliases can stand
//! for billions of nodes ("billion laughs"). The builder therefore counts the nodes it makes,
//! aliases included at their full size, and stops at [`MAX_NODES`]; nesting is capped at
//! [`MAX_DEPTH`] so that nothing walking the tree (or dropping it) can overflow the stack.

use std::collections::{HashMap, HashSet};

use yaml_rust2::{
    parser::{Event, MarkedEventReceiver, Parser},
    scanner::{Marker, TScalarStyle},
};

use crate::diagnostic::{Diagnostic, Pos};

/// A node and where it starts.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub pos: Pos,
    pub value: Value,
}

/// How a scalar was written, which decides where its text starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    Plain,
    Quoted,
    Block,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// A scalar as written. Quoted and block scalars are always strings; a plain scalar may
    /// be a number, a boolean or null.
    Scalar {
        text: String,
        style: Style,
    },
    Seq(Vec<Node>),
    Map(Vec<(Node, Node)>),
}

impl Node {
    /// The text of a scalar, whatever its type.
    pub fn scalar(&self) -> Option<&str> {
        match &self.value {
            Value::Scalar { text, .. } => Some(text),
            _ => None,
        }
    }

    /// A string scalar: quoted, block, or plain text that is not null.
    pub fn string(&self) -> Option<&str> {
        match &self.value {
            Value::Scalar { text, style } if *style != Style::Plain || !is_null(text) => Some(text),
            _ => None,
        }
    }

    pub fn is_null(&self) -> bool {
        matches!(&self.value, Value::Scalar { text, style: Style::Plain } if is_null(text))
    }

    pub fn bool(&self) -> Option<bool> {
        match &self.value {
            Value::Scalar {
                text,
                style: Style::Plain,
            } => match text.as_str() {
                "true" | "True" | "TRUE" => Some(true),
                "false" | "False" | "FALSE" => Some(false),
                _ => None,
            },
            _ => None,
        }
    }

    pub fn map(&self) -> Option<&[(Node, Node)]> {
        match &self.value {
            Value::Map(entries) => Some(entries),
            _ => None,
        }
    }

    pub fn seq(&self) -> Option<&[Node]> {
        match &self.value {
            Value::Seq(items) => Some(items),
            _ => None,
        }
    }

    /// What kind of node this is, for messages.
    pub fn describe(&self) -> &'static str {
        match &self.value {
            Value::Scalar { .. } if self.is_null() => "nothing",
            Value::Scalar { .. } => "a scalar",
            Value::Seq(_) => "a list",
            Value::Map(_) => "a mapping",
        }
    }

    /// Where the `offset`-th character of a scalar's text is, when the scalar sits on one
    /// line (escapes aside); the scalar's start otherwise.
    pub fn pos_at(&self, offset: usize) -> Pos {
        match &self.value {
            Value::Scalar { text, style } if !text.contains('\n') => match style {
                Style::Plain => self.pos.right(offset),
                Style::Quoted => self.pos.right(offset + 1),
                Style::Block => self.pos,
            },
            _ => self.pos,
        }
    }

    /// The scalar converted to JSON: numbers and booleans as such for plain scalars.
    pub fn to_json(&self) -> serde_json::Value {
        match &self.value {
            Value::Scalar { text, style } if *style != Style::Plain => {
                serde_json::Value::String(text.clone())
            }
            Value::Scalar { text, .. } => {
                if is_null(text) {
                    serde_json::Value::Null
                } else if let Some(b) = self.bool() {
                    serde_json::Value::Bool(b)
                } else if let Ok(n) = text.parse::<i64>() {
                    n.into()
                } else if let Some(n) = text
                    .parse::<f64>()
                    .ok()
                    .and_then(serde_json::Number::from_f64)
                {
                    serde_json::Value::Number(n)
                } else {
                    serde_json::Value::String(text.clone())
                }
            }
            Value::Seq(items) => items.iter().map(Node::to_json).collect(),
            Value::Map(entries) => entries
                .iter()
                .map(|(k, v)| (k.scalar().unwrap_or_default().to_string(), v.to_json()))
                .collect::<serde_json::Map<_, _>>()
                .into(),
        }
    }
}

fn is_null(text: &str) -> bool {
    matches!(text, "" | "~" | "null" | "Null" | "NULL")
}

fn pos(mark: &Marker) -> Pos {
    // yaml-rust2 counts lines from 1 and columns from 0.
    Pos::new(mark.line().max(1), mark.col() + 1)
}

/// The most nodes a document may stand for, aliases counted at the size of what they copy.
/// The largest real scenarios are a few thousand nodes.
pub const MAX_NODES: usize = 50_000;
/// The deepest nesting of lists and mappings a document may have.
pub const MAX_DEPTH: usize = 64;

/// A list or mapping being built: where it starts, its anchor, and how many nodes it holds.
struct Frame {
    pos: Pos,
    anchor: usize,
    size: usize,
    kind: FrameKind,
}

enum FrameKind {
    Seq(Vec<Node>),
    /// The entries, the key waiting for its value, and the scalar keys seen (a set, so a
    /// mapping of many keys is checked for duplicates in linear time).
    Map(Vec<(Node, Node)>, Option<Node>, HashSet<String>),
}

#[derive(Default)]
struct Builder {
    stack: Vec<Frame>,
    /// Each anchored node with the number of nodes in it.
    anchors: HashMap<usize, (Node, usize)>,
    root: Option<Node>,
    problems: Vec<Diagnostic>,
    /// Nodes made so far, aliases counted in full.
    nodes: usize,
    /// Set when a limit was passed: every later event is ignored.
    stopped: bool,
}

impl Builder {
    /// Counts `size` more nodes; false (and a problem at `at`) once the budget is spent.
    fn spend(&mut self, size: usize, at: Pos) -> bool {
        self.nodes = self.nodes.saturating_add(size);
        if self.nodes > MAX_NODES {
            self.stop(
                at,
                format!(
                    "the document is too big: it stands for more than {MAX_NODES} values \
                     (aliases count as copies of what they refer to)"
                ),
            );
            return false;
        }
        true
    }

    fn stop(&mut self, at: Pos, message: String) {
        self.problems.push(Diagnostic::new(at, message));
        self.stopped = true;
        // Nothing built is used after a stop; dropping it now keeps the memory bounded.
        self.stack.clear();
        self.anchors.clear();
    }

    fn push(&mut self, node: Node, size: usize, anchor: usize) {
        if anchor > 0 {
            self.anchors.insert(anchor, (node.clone(), size));
        }
        let Some(frame) = self.stack.last_mut() else {
            if self.root.is_none() {
                self.root = Some(node);
            }
            return;
        };
        frame.size += size;
        match &mut frame.kind {
            FrameKind::Seq(items) => items.push(node),
            FrameKind::Map(entries, key, seen) => match key.take() {
                None => *key = Some(node),
                Some(k) => {
                    let duplicate = k.scalar().is_some_and(|text| !seen.insert(text.to_owned()));
                    if duplicate {
                        self.problems.push(Diagnostic::new(
                            k.pos,
                            format!(
                                "duplicate key `{}`: a later value would silently replace the first",
                                k.scalar().unwrap_or_default()
                            ),
                        ));
                    } else {
                        entries.push((k, node));
                    }
                }
            },
        }
    }
}

impl MarkedEventReceiver for Builder {
    fn on_event(&mut self, ev: Event, mark: Marker) {
        if self.stopped {
            return;
        }
        match ev {
            Event::Scalar(text, style, anchor, _) => {
                let node = Node {
                    pos: pos(&mark),
                    value: Value::Scalar {
                        text,
                        style: match style {
                            TScalarStyle::Plain => Style::Plain,
                            TScalarStyle::SingleQuoted | TScalarStyle::DoubleQuoted => {
                                Style::Quoted
                            }
                            _ => Style::Block,
                        },
                    },
                };
                if self.spend(1, node.pos) {
                    self.push(node, 1, anchor);
                }
            }
            Event::SequenceStart(anchor, _) | Event::MappingStart(anchor, _) => {
                let at = pos(&mark);
                if self.stack.len() >= MAX_DEPTH {
                    self.stop(
                        at,
                        format!("lists and mappings are nested more than {MAX_DEPTH} deep"),
                    );
                    return;
                }
                if !self.spend(1, at) {
                    return;
                }
                let kind = match ev {
                    Event::SequenceStart(..) => FrameKind::Seq(Vec::new()),
                    _ => FrameKind::Map(Vec::new(), None, HashSet::new()),
                };
                self.stack.push(Frame {
                    pos: at,
                    anchor,
                    size: 1,
                    kind,
                });
            }
            Event::SequenceEnd | Event::MappingEnd => {
                let Some(frame) = self.stack.pop() else {
                    return;
                };
                let value = match frame.kind {
                    FrameKind::Seq(items) => Value::Seq(items),
                    FrameKind::Map(entries, ..) => Value::Map(entries),
                };
                let node = Node {
                    pos: frame.pos,
                    value,
                };
                self.push(node, frame.size, frame.anchor);
            }
            Event::Alias(id) => {
                let at = pos(&mark);
                let (node, size) = self.anchors.get(&id).map_or_else(
                    || {
                        let empty = Value::Scalar {
                            text: String::new(),
                            style: Style::Plain,
                        };
                        (
                            Node {
                                pos: at,
                                value: empty,
                            },
                            1,
                        )
                    },
                    |(node, size)| (node.clone(), *size),
                );
                // Counted before the copy is kept, so a bomb stops at its first big alias.
                if self.spend(size, at) {
                    self.push(node, size, 0);
                }
            }
            Event::Nothing
            | Event::StreamStart
            | Event::StreamEnd
            | Event::DocumentStart
            | Event::DocumentEnd => {}
        }
    }
}

/// Parses one YAML document. A syntax error is one diagnostic at its position; duplicate keys
/// are reported all at once.
pub fn parse(source: &str) -> Result<Node, Vec<Diagnostic>> {
    let mut builder = Builder::default();
    let mut parser = Parser::new_from_str(source);
    if let Err(e) = parser.load(&mut builder, false) {
        return Err(vec![Diagnostic::new(
            pos(e.marker()),
            format!("YAML syntax error: {}", e.info()),
        )]);
    }
    if !builder.problems.is_empty() {
        return Err(builder.problems);
    }
    if builder.stopped {
        return Err(vec![Diagnostic::new(
            Pos::new(1, 1),
            "the document could not be read",
        )]);
    }
    builder.root.ok_or_else(|| {
        vec![Diagnostic::new(
            Pos::new(1, 1),
            "the file is empty: a scenario needs `name`, `start` and `steps`",
        )]
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_are_one_based() {
        let doc = parse("name: x\nsteps:\n  a:\n    say: 'hi'\n").unwrap();
        let map = doc.map().unwrap();
        assert_eq!(map[0].0.pos, Pos::new(1, 1));
        assert_eq!(map[0].1.pos, Pos::new(1, 7));
        let steps = map[1].1.map().unwrap();
        assert_eq!(steps[0].0.pos, Pos::new(3, 3));
        let say = &steps[0].1.map().unwrap()[0].1;
        assert_eq!(say.pos, Pos::new(4, 10));
        assert_eq!(say.string(), Some("hi"));
    }

    #[test]
    fn syntax_errors_and_duplicates_have_positions() {
        let err = parse("a: [1, 2\nb: 3\n").unwrap_err();
        assert_eq!(err.len(), 1);
        assert!(err[0].message.starts_with("YAML syntax error"), "{err:?}");
        let err = parse("a: 1\nb: 2\na: 3\n").unwrap_err();
        assert_eq!(err[0].pos, Pos::new(3, 1));
    }

    /// Nine levels of nine aliases each stand for 9^9 (387 million) scalars: refused at the
    /// first alias past the budget, having built no more than the budget.
    #[test]
    fn alias_bombs_are_refused_within_the_node_budget() {
        let mut source = String::from("a: &a [x, x, x, x, x, x, x, x, x]\n");
        let names = ["a", "b", "c", "d", "e", "f", "g", "h", "i"];
        for pair in names.windows(2) {
            let (prev, name) = (pair[0], pair[1]);
            let items = vec![format!("*{prev}"); 9].join(", ");
            source.push_str(&format!("{name}: &{name} [{items}]\n"));
        }
        assert!(source.len() < 400, "{}", source.len());
        let err = parse(&source).unwrap_err();
        assert_eq!(err.len(), 1, "{err:?}");
        assert!(err[0].message.contains("too big"), "{err:?}");
        // A few aliases of a small anchor are fine.
        let doc = parse("a: &a [1, 2]\nb: *a\nc: *a\n").unwrap();
        assert_eq!(doc.map().unwrap()[2].1.to_json(), serde_json::json!([1, 2]));
    }

    #[test]
    fn nesting_is_capped() {
        let deep = format!("{}{}", "[".repeat(MAX_DEPTH + 1), "]".repeat(MAX_DEPTH + 1));
        let err = parse(&deep).unwrap_err();
        assert!(err[0].message.contains("nested"), "{err:?}");
        let fine = format!("{}{}", "[".repeat(MAX_DEPTH), "]".repeat(MAX_DEPTH));
        assert!(parse(&fine).is_ok());
        // Far deeper than any stack would take to walk: refused, not a crash.
        let abyss = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
        assert!(parse(&abyss).is_err());
    }

    #[test]
    fn scalars_keep_their_type() {
        let doc = parse("a: 5\nb: '5'\nc: true\nd: ~\n").unwrap();
        let m = doc.map().unwrap();
        assert_eq!(m[0].1.to_json(), serde_json::json!(5));
        assert_eq!(m[1].1.to_json(), serde_json::json!("5"));
        assert_eq!(m[2].1.to_json(), serde_json::json!(true));
        assert!(m[3].1.is_null());
    }
}
