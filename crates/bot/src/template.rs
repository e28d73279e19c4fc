//! Texts with `{{variable}}` holes: `{{order_id}}`, `{{order.status}}`, `{{contact.name}}`,
//! `{{channel.kind}}`. A hole whose variable has no value renders as nothing.

use serde_json::Value;

use crate::vars::{lookup, Path};

/// One piece of a template.
#[derive(Debug, Clone, PartialEq)]
pub enum Part {
    Text(String),
    /// A variable, and the character offset of its `{{` in the source text.
    Var {
        path: Path,
        offset: usize,
    },
}

/// A parsed template.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Template {
    pub source: String,
    pub parts: Vec<Part>,
}

/// A malformed hole, at a character offset of the source text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateError {
    pub offset: usize,
    pub message: String,
}

impl Template {
    /// A template without holes.
    pub fn literal(text: &str) -> Self {
        Self {
            source: text.to_string(),
            parts: vec![Part::Text(text.to_string())],
        }
    }

    pub fn parse(source: &str) -> Result<Self, TemplateError> {
        let mut parts = Vec::new();
        let mut rest = source;
        let mut consumed = 0; // characters before `rest`
        while let Some(open) = rest.find("{{") {
            if open > 0 {
                parts.push(Part::Text(rest[..open].to_string()));
            }
            let offset = consumed + rest[..open].chars().count();
            let after = &rest[open + 2..];
            let Some(close) = after.find("}}") else {
                return Err(TemplateError {
                    offset,
                    message: "`{{` is never closed with `}}`".into(),
                });
            };
            let inner = after[..close].trim();
            let path = Path::parse(inner).map_err(|message| TemplateError { offset, message })?;
            parts.push(Part::Var { path, offset });
            let used = open + 2 + close + 2;
            consumed += rest[..used].chars().count();
            rest = &rest[used..];
        }
        if !rest.is_empty() {
            parts.push(Part::Text(rest.to_string()));
        }
        Ok(Self {
            source: source.to_string(),
            parts,
        })
    }

    /// The variables this template reads.
    pub fn vars(&self) -> impl Iterator<Item = (&Path, usize)> {
        self.parts.iter().filter_map(|p| match p {
            Part::Var { path, offset } => Some((path, *offset)),
            Part::Text(_) => None,
        })
    }

    /// Fills the holes from `scope` (variables, `contact`, `channel`).
    pub fn render(&self, scope: &Value) -> String {
        let mut out = String::with_capacity(self.source.len());
        for part in &self.parts {
            match part {
                Part::Text(t) => out.push_str(t),
                Part::Var { path, .. } => out.push_str(&display(lookup(scope, path))),
            }
        }
        out
    }
}

/// How a value reads inside a text.
pub fn display(value: Option<&Value>) -> String {
    match value {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => s.clone(),
        Some(Value::Bool(b)) => b.to_string(),
        Some(Value::Number(n)) => n.to_string(),
        Some(other) => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn fills_holes_and_reports_offsets() {
        let t = Template::parse("Заказ {{ order_id }} — {{order.status}}!").unwrap();
        let offsets: Vec<usize> = t.vars().map(|(_, o)| o).collect();
        assert_eq!(offsets, vec![6, 23]);
        let scope = json!({"order_id": "1234", "order": {"status": "shipped"}});
        assert_eq!(t.render(&scope), "Заказ 1234 — shipped!");
        assert_eq!(Template::parse("{{missing}}").unwrap().render(&scope), "");
    }

    #[test]
    fn malformed_holes_are_errors() {
        assert_eq!(Template::parse("ab {{x").unwrap_err().offset, 3);
        assert!(Template::parse("{{ 1x }}").is_err());
        assert!(Template::parse("{{}}").is_err());
    }
}
