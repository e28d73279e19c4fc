//! Variable paths (`order.status`, `items.0.name`) and reading them from the bot's scope.

use serde_json::Value;

/// Where the runtime puts what it knows besides the scenario's own variables.
pub const BUILTIN_ROOTS: &[&str] = &["contact", "channel", "conversation"];

/// A dotted path into the scope; the first segment names a variable.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Path(pub Vec<String>);

impl Path {
    pub fn parse(text: &str) -> Result<Self, String> {
        if text.is_empty() {
            return Err("empty `{{}}`: name a variable".into());
        }
        let segments: Vec<String> = text.split('.').map(str::to_string).collect();
        if !is_name(&segments[0]) {
            return Err(format!(
                "`{text}` is not a variable name (letters, digits and `_`, not starting with a digit)"
            ));
        }
        if let Some(bad) = segments[1..]
            .iter()
            .find(|s| !(is_name(s) || (!s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))))
        {
            return Err(format!("`{text}`: `{bad}` is not a field name or index"));
        }
        Ok(Self(segments))
    }

    pub fn root(&self) -> &str {
        &self.0[0]
    }
}

impl std::fmt::Display for Path {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0.join("."))
    }
}

/// A variable name: ASCII letters, digits and `_`, not starting with a digit.
pub fn is_name(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Reads a path; a missing field or index is `None`.
pub fn lookup<'a>(scope: &'a Value, path: &Path) -> Option<&'a Value> {
    path.0.iter().try_fold(scope, |value, segment| match value {
        Value::Object(map) => map.get(segment),
        Value::Array(items) => segment.parse::<usize>().ok().and_then(|i| items.get(i)),
        _ => None,
    })
}
