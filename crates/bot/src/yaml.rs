//! A YAML document as a tree that remembers where every node starts, so every problem can be
//! reported at its line and column. Built from yaml-rust2's event parser (the ready-made
//! loaders drop positions); anchors and aliases are resolved, duplicate keys are refused.

use std::collections::HashMap;

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

enum Frame {
    Seq(Pos, Vec<Node>, usize),
    Map(Pos, Vec<(Node, Node)>, Option<Node>, usize),
}

#[derive(Default)]
struct Builder {
    stack: Vec<Frame>,
    anchors: HashMap<usize, Node>,
    root: Option<Node>,
    problems: Vec<Diagnostic>,
}

impl Builder {
    fn push(&mut self, node: Node, anchor: usize) {
        if anchor > 0 {
            self.anchors.insert(anchor, node.clone());
        }
        match self.stack.last_mut() {
            None => {
                if self.root.is_none() {
                    self.root = Some(node);
                }
            }
            Some(Frame::Seq(_, items, _)) => items.push(node),
            Some(Frame::Map(_, entries, key, _)) => match key.take() {
                None => *key = Some(node),
                Some(k) => {
                    let duplicate = entries
                        .iter()
                        .any(|(other, _)| other.scalar().is_some() && other.scalar() == k.scalar());
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
                self.push(node, anchor);
            }
            Event::SequenceStart(anchor, _) => {
                self.stack.push(Frame::Seq(pos(&mark), Vec::new(), anchor))
            }
            Event::MappingStart(anchor, _) => {
                self.stack
                    .push(Frame::Map(pos(&mark), Vec::new(), None, anchor))
            }
            Event::SequenceEnd | Event::MappingEnd => {
                let (node, anchor) = match self.stack.pop() {
                    Some(Frame::Seq(pos, items, anchor)) => (
                        Node {
                            pos,
                            value: Value::Seq(items),
                        },
                        anchor,
                    ),
                    Some(Frame::Map(pos, entries, _, anchor)) => (
                        Node {
                            pos,
                            value: Value::Map(entries),
                        },
                        anchor,
                    ),
                    None => return,
                };
                self.push(node, anchor);
            }
            Event::Alias(id) => {
                let node = self.anchors.get(&id).cloned().unwrap_or(Node {
                    pos: pos(&mark),
                    value: Value::Scalar {
                        text: String::new(),
                        style: Style::Plain,
                    },
                });
                self.push(node, 0);
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
