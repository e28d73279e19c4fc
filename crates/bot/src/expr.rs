//! The conditions of `if` steps: comparisons (`==`, `!=`, `<`, `<=`, `>`, `>=`), `and`,
//! `or`, `not` (also `&&`, `||`, `!`), parentheses, string literals in single or double
//! quotes, numbers, `true`, `false`, `null`, and variable paths (`order.status`).
//!
//! Values compare as numbers when both sides read as numbers (what the customer typed is
//! text: `age >= 18` works on "21"), otherwise as text. A missing variable is `null`.

use serde_json::Value;

use crate::vars::{lookup, Path};

/// A parsed condition.
#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    Literal(Value),
    /// A variable and the character offset where it is written.
    Var(Path, usize),
    Not(Box<Expr>),
    And(Box<Expr>, Box<Expr>),
    Or(Box<Expr>, Box<Expr>),
    Compare(Box<Expr>, Op, Box<Expr>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

/// A syntax error at a character offset of the condition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExprError {
    pub offset: usize,
    pub message: String,
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Str(String),
    Num(f64),
    Ident(String),
    Op(Op),
    And,
    Or,
    Not,
    Open,
    Close,
}

fn err<T>(offset: usize, message: impl Into<String>) -> Result<T, ExprError> {
    Err(ExprError {
        offset,
        message: message.into(),
    })
}

fn tokenize(text: &str) -> Result<Vec<(Token, usize)>, ExprError> {
    let chars: Vec<char> = text.chars().collect();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let start = i;
        let two = |a: char, b: char| c == a && chars.get(i + 1) == Some(&b);
        let token = if c.is_whitespace() {
            i += 1;
            continue;
        } else if c == '\'' || c == '"' {
            let mut s = String::new();
            i += 1;
            loop {
                match chars.get(i) {
                    None => return err(start, "the string is never closed"),
                    Some('\\') if chars.get(i + 1).is_some() => {
                        s.push(chars[i + 1]);
                        i += 2;
                    }
                    Some(&q) if q == c => {
                        i += 1;
                        break;
                    }
                    Some(&other) => {
                        s.push(other);
                        i += 1;
                    }
                }
            }
            Token::Str(s)
        } else if c.is_ascii_digit()
            || (c == '-' && chars.get(i + 1).is_some_and(char::is_ascii_digit))
        {
            i += 1;
            while chars
                .get(i)
                .is_some_and(|c| c.is_ascii_digit() || *c == '.')
            {
                i += 1;
            }
            let s: String = chars[start..i].iter().collect();
            match s.parse() {
                Ok(n) => Token::Num(n),
                Err(_) => return err(start, format!("`{s}` is not a number")),
            }
        } else if c.is_ascii_alphabetic() || c == '_' {
            while chars
                .get(i)
                .is_some_and(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '.')
            {
                i += 1;
            }
            let word: String = chars[start..i].iter().collect();
            match word.as_str() {
                "and" => Token::And,
                "or" => Token::Or,
                "not" => Token::Not,
                _ => Token::Ident(word),
            }
        } else if two('=', '=') {
            i += 2;
            Token::Op(Op::Eq)
        } else if two('!', '=') {
            i += 2;
            Token::Op(Op::Ne)
        } else if two('<', '=') {
            i += 2;
            Token::Op(Op::Le)
        } else if two('>', '=') {
            i += 2;
            Token::Op(Op::Ge)
        } else if two('&', '&') {
            i += 2;
            Token::And
        } else if two('|', '|') {
            i += 2;
            Token::Or
        } else {
            i += 1;
            match c {
                '<' => Token::Op(Op::Lt),
                '>' => Token::Op(Op::Gt),
                '!' => Token::Not,
                '(' => Token::Open,
                ')' => Token::Close,
                '=' => return err(start, "`=` assigns nothing here: compare with `==`"),
                other => return err(start, format!("unexpected `{other}`")),
            }
        };
        tokens.push((token, start));
    }
    Ok(tokens)
}

/// The most tokens a condition may have: real ones are a line; a limit keeps every walk of
/// the tree (evaluating, listing variables, dropping it) shallow.
pub const MAX_TOKENS: usize = 500;
/// The deepest nesting of `not` and parentheses: the parser recurses once per level.
pub const MAX_DEPTH: usize = 32;

struct Parser {
    tokens: Vec<(Token, usize)>,
    at: usize,
    end: usize,
    depth: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.at).map(|(t, _)| t)
    }

    fn offset(&self) -> usize {
        self.tokens.get(self.at).map_or(self.end, |(_, o)| *o)
    }

    /// One level deeper (a `not` or a `(`), refused past [`MAX_DEPTH`].
    fn descend(&mut self) -> Result<(), ExprError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return err(
                self.offset(),
                format!("the condition nests `not` and parentheses more than {MAX_DEPTH} deep"),
            );
        }
        Ok(())
    }

    fn or(&mut self) -> Result<Expr, ExprError> {
        let mut left = self.and()?;
        while self.peek() == Some(&Token::Or) {
            self.at += 1;
            left = Expr::Or(Box::new(left), Box::new(self.and()?));
        }
        Ok(left)
    }

    fn and(&mut self) -> Result<Expr, ExprError> {
        let mut left = self.not()?;
        while self.peek() == Some(&Token::And) {
            self.at += 1;
            left = Expr::And(Box::new(left), Box::new(self.not()?));
        }
        Ok(left)
    }

    fn not(&mut self) -> Result<Expr, ExprError> {
        if self.peek() == Some(&Token::Not) {
            self.at += 1;
            self.descend()?;
            let inner = self.not()?;
            self.depth -= 1;
            return Ok(Expr::Not(Box::new(inner)));
        }
        self.compare()
    }

    fn compare(&mut self) -> Result<Expr, ExprError> {
        let left = self.primary()?;
        if let Some(Token::Op(op)) = self.peek() {
            let op = *op;
            self.at += 1;
            let right = self.primary()?;
            return Ok(Expr::Compare(Box::new(left), op, Box::new(right)));
        }
        Ok(left)
    }

    fn primary(&mut self) -> Result<Expr, ExprError> {
        let offset = self.offset();
        let Some((token, _)) = self.tokens.get(self.at).cloned() else {
            return err(offset, "the condition ends too early");
        };
        self.at += 1;
        Ok(match token {
            Token::Str(s) => Expr::Literal(Value::String(s)),
            Token::Num(n) => Expr::Literal(
                serde_json::Number::from_f64(n)
                    .map(Value::Number)
                    .unwrap_or(Value::Null),
            ),
            Token::Ident(word) => match word.as_str() {
                "true" => Expr::Literal(Value::Bool(true)),
                "false" => Expr::Literal(Value::Bool(false)),
                "null" => Expr::Literal(Value::Null),
                _ => Expr::Var(
                    Path::parse(&word).map_err(|message| ExprError { offset, message })?,
                    offset,
                ),
            },
            Token::Open => {
                self.descend()?;
                let inner = self.or()?;
                self.depth -= 1;
                if self.peek() != Some(&Token::Close) {
                    return err(self.offset(), "`(` is never closed");
                }
                self.at += 1;
                inner
            }
            other => {
                return err(
                    offset,
                    format!("expected a value, found {}", describe(&other)),
                )
            }
        })
    }
}

fn describe(token: &Token) -> &'static str {
    match token {
        Token::Op(_) => "a comparison",
        Token::And => "`and`",
        Token::Or => "`or`",
        Token::Not => "`not`",
        Token::Close => "`)`",
        _ => "a value",
    }
}

impl Expr {
    pub fn parse(text: &str) -> Result<Expr, ExprError> {
        let tokens = tokenize(text)?;
        let end = text.chars().count();
        if let Some((_, offset)) = tokens.get(MAX_TOKENS) {
            return err(
                *offset,
                format!("the condition is too long: at most {MAX_TOKENS} words and signs"),
            );
        }
        let mut parser = Parser {
            tokens,
            at: 0,
            end,
            depth: 0,
        };
        let expr = parser.or()?;
        if parser.at < parser.tokens.len() {
            let (token, offset) = &parser.tokens[parser.at];
            return err(
                *offset,
                format!("unexpected {} after a complete condition", describe(token)),
            );
        }
        Ok(expr)
    }

    /// The variables read, with their offsets.
    pub fn vars(&self) -> Vec<(&Path, usize)> {
        let mut out = Vec::new();
        self.collect(&mut out);
        out
    }

    fn collect<'a>(&'a self, out: &mut Vec<(&'a Path, usize)>) {
        match self {
            Expr::Literal(_) => {}
            Expr::Var(path, offset) => out.push((path, *offset)),
            Expr::Not(e) => e.collect(out),
            Expr::And(a, b) | Expr::Or(a, b) | Expr::Compare(a, _, b) => {
                a.collect(out);
                b.collect(out);
            }
        }
    }

    pub fn eval(&self, scope: &Value) -> Value {
        match self {
            Expr::Literal(v) => v.clone(),
            Expr::Var(path, _) => lookup(scope, path).cloned().unwrap_or(Value::Null),
            Expr::Not(e) => Value::Bool(!truthy(&e.eval(scope))),
            Expr::And(a, b) => Value::Bool(truthy(&a.eval(scope)) && truthy(&b.eval(scope))),
            Expr::Or(a, b) => Value::Bool(truthy(&a.eval(scope)) || truthy(&b.eval(scope))),
            Expr::Compare(a, op, b) => Value::Bool(compare(&a.eval(scope), *op, &b.eval(scope))),
        }
    }

    pub fn holds(&self, scope: &Value) -> bool {
        truthy(&self.eval(scope))
    }
}

/// Empty text, zero, `false`, `null` and empty collections are false.
pub fn truthy(value: &Value) -> bool {
    match value {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|n| n != 0.0),
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(o) => !o.is_empty(),
    }
}

fn number(value: &Value) -> Option<f64> {
    match value {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn compare(a: &Value, op: Op, b: &Value) -> bool {
    use std::cmp::Ordering;
    let ordering = match (a, b) {
        (Value::Null, Value::Null) => Some(Ordering::Equal),
        (Value::Null, _) | (_, Value::Null) => None,
        (Value::Bool(x), Value::Bool(y)) => Some(x.cmp(y)),
        _ => match (number(a), number(b)) {
            (Some(x), Some(y)) => x.partial_cmp(&y),
            _ => Some(crate::template::display(Some(a)).cmp(&crate::template::display(Some(b)))),
        },
    };
    match (op, ordering) {
        (Op::Eq, o) => o == Some(Ordering::Equal),
        (Op::Ne, o) => o != Some(Ordering::Equal),
        (_, None) => false,
        (Op::Lt, Some(o)) => o == Ordering::Less,
        (Op::Le, Some(o)) => o != Ordering::Greater,
        (Op::Gt, Some(o)) => o == Ordering::Greater,
        (Op::Ge, Some(o)) => o != Ordering::Less,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn holds(text: &str, scope: Value) -> bool {
        Expr::parse(text).unwrap().holds(&scope)
    }

    #[test]
    fn evaluates_comparisons_and_logic() {
        let scope = json!({"order": {"status": "shipped", "total": 1500}, "age": "21"});
        assert!(holds("order.status == 'shipped'", scope.clone()));
        assert!(holds("order.status != \"lost\"", scope.clone()));
        assert!(holds("age >= 18 and order.total > 1000", scope.clone()));
        assert!(holds("not (age < 18) && !missing", scope.clone()));
        assert!(holds("missing == null or false", scope.clone()));
        assert!(!holds("missing > 3", scope.clone()));
        assert!(holds("'b' > 'a'", scope.clone()));
        assert!(holds("order", scope.clone()));
        assert!(holds("-1 < 0", scope));
    }

    /// A condition of a million `not`s or parentheses would overflow the stack: refused.
    #[test]
    fn deep_or_long_conditions_are_refused() {
        for text in [
            "not ".repeat(1_000_000) + "x",
            "(".repeat(1_000_000) + "x" + &")".repeat(1_000_000),
            vec!["x"; 100_000].join(" and "),
        ] {
            assert!(Expr::parse(&text).is_err());
        }
        let deep = "not ".repeat(MAX_DEPTH) + "x";
        assert!(Expr::parse(&deep).is_ok());
        let deeper = "not ".repeat(MAX_DEPTH + 1) + "x";
        assert!(Expr::parse(&deeper).unwrap_err().message.contains("nests"));
        let nested = "(".repeat(MAX_DEPTH) + "x" + &")".repeat(MAX_DEPTH);
        assert!(Expr::parse(&nested).is_ok());
    }

    #[test]
    fn syntax_errors_have_offsets() {
        assert_eq!(Expr::parse("a = 1").unwrap_err().offset, 2);
        assert_eq!(Expr::parse("a == 'x").unwrap_err().offset, 5);
        assert_eq!(Expr::parse("a ==").unwrap_err().offset, 4);
        assert_eq!(Expr::parse("(a").unwrap_err().offset, 2);
        assert_eq!(Expr::parse("a b").unwrap_err().offset, 2);
        assert!(Expr::parse("").is_err());
        let vars: Vec<String> = Expr::parse("x.y == z or w")
            .unwrap()
            .vars()
            .iter()
            .map(|(p, _)| p.to_string())
            .collect();
        assert_eq!(vars, vec!["x.y", "z", "w"]);
    }
}
