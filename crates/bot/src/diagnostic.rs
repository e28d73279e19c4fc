//! Problems found in a scenario, each at a line and column of its source.

use std::fmt;

use serde::Serialize;

/// A place in the source: 1-based line and column (columns count characters).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default, Serialize)]
pub struct Pos {
    pub line: usize,
    pub col: usize,
}

impl Pos {
    pub fn new(line: usize, col: usize) -> Self {
        Self { line, col }
    }

    /// The position `chars` characters further on the same line.
    pub fn right(self, chars: usize) -> Self {
        Self {
            line: self.line,
            col: self.col + chars,
        }
    }
}

/// One problem, reported as `LINE:COL: message` (prefixed with the file name by callers).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Diagnostic {
    #[serde(flatten)]
    pub pos: Pos,
    pub message: String,
}

impl Diagnostic {
    pub fn new(pos: Pos, message: impl Into<String>) -> Self {
        Self {
            pos,
            message: message.into(),
        }
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: {}", self.pos.line, self.pos.col, self.message)
    }
}

/// Every problem of a scenario, in source order.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{} problem(s), the first: {}", .0.len(), .0.first().map(ToString::to_string).unwrap_or_default())]
pub struct Diagnostics(pub Vec<Diagnostic>);

impl Diagnostics {
    /// One line per problem, `FILE:LINE:COL: message`.
    pub fn report(&self, file: &str) -> String {
        self.0.iter().map(|d| format!("{file}:{d}\n")).collect()
    }
}
