//! `TRANSFORM_FILTER`: which records to keep, as a condition on their fields.
//!
//! ```text
//! level == "error" and (app in ["pay", "auth"] or not user.id exists) and latency_ms >= 250
//! ```
//! Conditions: `==` `!=` (JSON values), `in [..]`, `prefix` `suffix` `contains` (strings), `matches`
//! (a regex), `>` `>=` `<` `<=` (numbers, or strings holding numbers), `exists`; combined with `and`, `or`,
//! `not` and parentheses (`not` binds tightest, then `and`, then `or`). A condition on a missing field is
//! false. Field paths are written bare (`user.id`, `@topic`) or in backquotes (`` `odd name` ``).
//! Parentheses and `not` nest at most [`MAX_NESTING`] deep.

use regex::Regex;
use serde_json::Value;

use crate::value::Path;

/// How deep parentheses and `not` may nest: the parser, the test and dropping a filter recurse once per level.
pub const MAX_NESTING: usize = 64;

#[derive(Debug, Clone)]
pub enum Filter {
    Or(Vec<Filter>),
    And(Vec<Filter>),
    Not(Box<Filter>),
    Condition(Path, Test),
}

#[derive(Debug, Clone)]
pub enum Test {
    Equals(Value),
    NotEquals(Value),
    In(Vec<Value>),
    Prefix(String),
    Suffix(String),
    Contains(String),
    Matches(Regex),
    Compare(Comparison, f64),
    Exists,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Comparison {
    Less,
    LessOrEqual,
    Greater,
    GreaterOrEqual,
}

impl Filter {
    /// Whether a record whose fields `lookup` finds passes.
    pub fn passes<'v>(&self, lookup: &impl Fn(&Path) -> Option<std::borrow::Cow<'v, Value>>) -> bool {
        match self {
            Filter::Or(any) => any.iter().any(|f| f.passes(lookup)),
            Filter::And(all) => all.iter().all(|f| f.passes(lookup)),
            Filter::Not(f) => !f.passes(lookup),
            Filter::Condition(path, test) => lookup(path).is_some_and(|value| test.holds(&value)),
        }
    }

    /// Parses the expression; an error gives the 1-based character position of the mistake.
    pub fn parse(text: &str) -> Result<Filter, String> {
        let mut parser = Parser {
            tokens: tokenize(text)?,
            at: 0,
            end: text.chars().count() + 1,
            depth: 0,
        };
        let filter = parser.or()?;
        match parser.peek() {
            None => Ok(filter),
            Some((_, at)) => Err(format!(
                "at character {at}: expected `and`, `or` or the end, found {}",
                parser.describe()
            )),
        }
    }
}

impl Test {
    fn holds(&self, value: &Value) -> bool {
        match self {
            Test::Exists => true,
            Test::Equals(expected) => same(value, expected),
            Test::NotEquals(expected) => !same(value, expected),
            Test::In(list) => list.iter().any(|expected| same(value, expected)),
            Test::Prefix(p) => value.as_str().is_some_and(|s| s.starts_with(p.as_str())),
            Test::Suffix(p) => value.as_str().is_some_and(|s| s.ends_with(p.as_str())),
            Test::Contains(p) => value.as_str().is_some_and(|s| s.contains(p.as_str())),
            Test::Matches(re) => value.as_str().is_some_and(|s| re.is_match(s)),
            Test::Compare(op, bound) => number(value).is_some_and(|n| match op {
                Comparison::Less => n < *bound,
                Comparison::LessOrEqual => n <= *bound,
                Comparison::Greater => n > *bound,
                Comparison::GreaterOrEqual => n >= *bound,
            }),
        }
    }
}

/// JSON equality, numbers by value (`1` equals `1.0`).
fn same(value: &Value, expected: &Value) -> bool {
    match (value, expected) {
        (Value::Number(a), Value::Number(b)) => a.as_f64() == b.as_f64(),
        _ => value == expected,
    }
}

fn number(value: &Value) -> Option<f64> {
    match value {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Word(String),
    Quoted(String),
    Literal(Value),
    Symbol(&'static str),
}

/// Tokens with the 1-based character position where each starts.
fn tokenize(text: &str) -> Result<Vec<(Token, usize)>, String> {
    let chars: Vec<char> = text.chars().collect();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let at = i + 1;
        if c.is_whitespace() {
            i += 1;
            continue;
        }
        let two: String = chars[i..chars.len().min(i + 2)].iter().collect();
        if let Some(symbol) = ["==", "!=", ">=", "<="].into_iter().find(|s| *s == two) {
            tokens.push((Token::Symbol(symbol), at));
            i += 2;
        } else if let Some(symbol) = ["(", ")", "[", "]", ",", ">", "<"]
            .into_iter()
            .find(|s| s.starts_with(c))
        {
            tokens.push((Token::Symbol(symbol), at));
            i += 1;
        } else if c == '"' {
            let mut end = i + 1;
            while end < chars.len() && chars[end] != '"' {
                end += if chars[end] == '\\' { 2 } else { 1 };
            }
            if end >= chars.len() {
                return Err(format!("at character {at}: the string is not closed with `\"`"));
            }
            let literal: String = chars[i..=end].iter().collect();
            let value: String =
                serde_json::from_str(&literal).map_err(|e| format!("at character {at}: bad string {literal}: {e}"))?;
            tokens.push((Token::Literal(Value::String(value)), at));
            i = end + 1;
        } else if c == '`' {
            let end = chars[i + 1..]
                .iter()
                .position(|&c| c == '`')
                .ok_or_else(|| format!("at character {at}: the field name is not closed with a backquote"))?;
            tokens.push((Token::Quoted(chars[i + 1..i + 1 + end].iter().collect()), at));
            i += end + 2;
        } else if c == '-' || c.is_ascii_digit() {
            let end = (i + 1..chars.len())
                .find(|&j| !(chars[j].is_ascii_alphanumeric() || matches!(chars[j], '.' | '+' | '-')))
                .unwrap_or(chars.len());
            let literal: String = chars[i..end].iter().collect();
            let number: serde_json::Number = literal
                .parse()
                .map_err(|_| format!("at character {at}: `{literal}` is not a number"))?;
            tokens.push((Token::Literal(Value::Number(number)), at));
            i = end;
        } else if c.is_alphanumeric() || matches!(c, '_' | '@' | '$') {
            let end = (i + 1..chars.len())
                .find(|&j| !(chars[j].is_alphanumeric() || matches!(chars[j], '_' | '@' | '$' | '.' | '-')))
                .unwrap_or(chars.len());
            tokens.push((Token::Word(chars[i..end].iter().collect()), at));
            i = end;
        } else {
            return Err(format!("at character {at}: unexpected `{c}`"));
        }
    }
    Ok(tokens)
}

struct Parser {
    tokens: Vec<(Token, usize)>,
    at: usize,
    /// The position reported for "the end of the expression".
    end: usize,
    /// Parentheses and `not`s open around the current position.
    depth: usize,
}

impl Parser {
    fn peek(&self) -> Option<&(Token, usize)> {
        self.tokens.get(self.at)
    }

    fn position(&self) -> usize {
        self.peek().map_or(self.end, |(_, at)| *at)
    }

    fn describe(&self) -> String {
        match self.peek() {
            None => "the end of the expression".to_owned(),
            Some((Token::Word(w), _)) => format!("`{w}`"),
            Some((Token::Quoted(w), _)) => format!("`{w}`"),
            Some((Token::Literal(v), _)) => v.to_string(),
            Some((Token::Symbol(s), _)) => format!("`{s}`"),
        }
    }

    fn error<T>(&self, expected: &str) -> Result<T, String> {
        Err(format!(
            "at character {}: expected {expected}, found {}",
            self.position(),
            self.describe()
        ))
    }

    fn keyword(&mut self, word: &str) -> bool {
        let found = matches!(self.peek(), Some((Token::Word(w), _)) if w == word);
        self.at += usize::from(found);
        found
    }

    fn symbol(&mut self, symbol: &str) -> bool {
        let found = matches!(self.peek(), Some((Token::Symbol(s), _)) if *s == symbol);
        self.at += usize::from(found);
        found
    }

    fn or(&mut self) -> Result<Filter, String> {
        let mut any = vec![self.and()?];
        while self.keyword("or") {
            any.push(self.and()?);
        }
        Ok(if any.len() == 1 { any.remove(0) } else { Filter::Or(any) })
    }

    fn and(&mut self) -> Result<Filter, String> {
        let mut all = vec![self.unary()?];
        while self.keyword("and") {
            all.push(self.unary()?);
        }
        Ok(if all.len() == 1 {
            all.remove(0)
        } else {
            Filter::And(all)
        })
    }

    fn unary(&mut self) -> Result<Filter, String> {
        let at = self.position();
        if self.keyword("not") {
            self.nest(at)?;
            let inner = self.unary()?;
            self.depth -= 1;
            return Ok(Filter::Not(Box::new(inner)));
        }
        if self.symbol("(") {
            self.nest(at)?;
            let inner = self.or()?;
            if !self.symbol(")") {
                return self.error("`)`");
            }
            self.depth -= 1;
            return Ok(inner);
        }
        self.condition()
    }

    fn nest(&mut self, at: usize) -> Result<(), String> {
        self.depth += 1;
        if self.depth > MAX_NESTING {
            return Err(format!(
                "at character {at}: parentheses and `not` nest more than {MAX_NESTING} deep"
            ));
        }
        Ok(())
    }

    fn condition(&mut self) -> Result<Filter, String> {
        let path = match self.peek() {
            Some((Token::Word(w), at)) if !["and", "or", "not"].contains(&w.as_str()) => {
                Path::parse(w).map_err(|e| format!("at character {at}: {e}"))?
            }
            Some((Token::Quoted(w), _)) => Path::literal(w),
            _ => return self.error("a field name"),
        };
        self.at += 1;
        let test = if self.keyword("exists") {
            Test::Exists
        } else if self.symbol("==") {
            Test::Equals(self.value()?)
        } else if self.symbol("!=") {
            Test::NotEquals(self.value()?)
        } else if self.keyword("in") {
            Test::In(self.list()?)
        } else if self.keyword("prefix") {
            Test::Prefix(self.string()?)
        } else if self.keyword("suffix") {
            Test::Suffix(self.string()?)
        } else if self.keyword("contains") {
            Test::Contains(self.string()?)
        } else if self.keyword("matches") {
            let at = self.position();
            let pattern = self.string()?;
            Test::Matches(Regex::new(&pattern).map_err(|e| format!("at character {at}: bad regex: {e}"))?)
        } else if let Some(op) = self.comparison() {
            let at = self.position();
            match self.value()? {
                Value::Number(n) => Test::Compare(op, n.as_f64().unwrap_or(f64::NAN)),
                _ => {
                    return Err(format!(
                        "at character {at}: a number must follow `<`, `<=`, `>` or `>=`"
                    ))
                }
            }
        } else {
            return self.error(
                "a test (==, !=, in, prefix, suffix, contains, matches, <, <=, >, >=, exists) after the field name",
            );
        };
        Ok(Filter::Condition(path, test))
    }

    fn comparison(&mut self) -> Option<Comparison> {
        [
            (">=", Comparison::GreaterOrEqual),
            ("<=", Comparison::LessOrEqual),
            (">", Comparison::Greater),
            ("<", Comparison::Less),
        ]
        .into_iter()
        .find(|(s, _)| self.symbol(s))
        .map(|(_, op)| op)
    }

    fn value(&mut self) -> Result<Value, String> {
        let value = match self.peek() {
            Some((Token::Literal(v), _)) => v.clone(),
            Some((Token::Word(w), _)) if w == "true" || w == "false" => Value::Bool(w == "true"),
            Some((Token::Word(w), _)) if w == "null" => Value::Null,
            _ => return self.error("a value (a \"string\", a number, true, false or null)"),
        };
        self.at += 1;
        Ok(value)
    }

    fn string(&mut self) -> Result<String, String> {
        match self.peek() {
            Some((Token::Literal(Value::String(s)), _)) => {
                let s = s.clone();
                self.at += 1;
                Ok(s)
            }
            _ => self.error("a \"string\""),
        }
    }

    fn list(&mut self) -> Result<Vec<Value>, String> {
        if !self.symbol("[") {
            return self.error("`[` opening a list");
        }
        let mut values = Vec::new();
        if self.symbol("]") {
            return Ok(values);
        }
        loop {
            values.push(self.value()?);
            if self.symbol("]") {
                return Ok(values);
            }
            if !self.symbol(",") {
                return self.error("`,` or `]`");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::value::Object;

    fn passes(filter: &str, record: Value) -> bool {
        let filter = Filter::parse(filter).unwrap_or_else(|e| panic!("{filter}: {e}"));
        let text = record.to_string();
        let object = Object::parse_json(&text).unwrap();
        filter.passes(&|path: &Path| object.find(path))
    }

    #[test]
    fn every_test_and_combination() {
        let r = json!({"level": "error", "app": "pay", "latency": 300, "code": "503", "user": {"id": 7},
                       "msg": "timeout calling bank", "odd name": 1.0});
        assert!(passes(r#"level == "error""#, r.clone()));
        assert!(!passes(r#"level != "error""#, r.clone()));
        assert!(passes(r#"app in ["pay", "auth"]"#, r.clone()));
        assert!(!passes(r#"app in []"#, r.clone()));
        assert!(passes(
            r#"msg prefix "time" and msg suffix "bank" and msg contains "calling""#,
            r.clone()
        ));
        assert!(passes(r#"msg matches "^time\\w+ calling""#, r.clone()));
        assert!(passes(
            "latency >= 300 and latency > 299.5 and latency < 301 and latency <= 300",
            r.clone()
        ));
        assert!(passes("code > 500", r.clone()), "numeric strings compare as numbers");
        assert!(passes(
            "user.id == 7 and user.id exists and not user.name exists",
            r.clone()
        ));
        assert!(passes("`odd name` == 1", r.clone()));
        assert!(passes(
            r#"level == "info" or (app == "pay" and not latency < 100)"#,
            r.clone()
        ));
        assert!(
            !passes(r#"level == "info" or app == "pay" and latency < 100"#, r.clone()),
            "and binds tighter"
        );
        assert!(
            !passes("missing == null or missing != 1", r.clone()),
            "a missing field fails every test"
        );
        assert!(passes("user.id in [1, 7.0]", r));
    }

    #[test]
    fn mistakes_name_their_position() {
        let err = |f: &str| Filter::parse(f).unwrap_err();
        assert_eq!(err(r#"level = "x""#), "at character 7: unexpected `=`");
        assert!(
            err(r#"level == "#).starts_with("at character 10: expected a value"),
            "{}",
            err("level == ")
        );
        assert!(err(r#"(a == 1"#).starts_with("at character 8: expected `)`"));
        assert!(err(r#"a == 1 b == 2"#).starts_with("at character 8: expected `and`, `or` or the end, found `b`"));
        assert!(err(r#"a matches "(""#).starts_with("at character 11: bad regex"));
        assert!(err(r#"a > "x""#).starts_with("at character 5: a number must follow"));
        assert!(err(r#"a in [1 2]"#).starts_with("at character 9: expected `,` or `]`"));
        assert!(err(r#"a == "open"#).contains("not closed"));
        assert!(err("and a == 1").starts_with("at character 1: expected a field name"));
        assert!(err("a ~ 1").starts_with("at character 3: unexpected `~`"));
        assert!(err("a").starts_with("at character 2: expected a test"));
    }

    #[test]
    fn nesting_is_bounded_instead_of_overflowing_the_stack() {
        let deep = |n: usize| format!("{}a == 1{}", "(".repeat(n), ")".repeat(n));
        assert!(Filter::parse(&deep(MAX_NESTING)).is_ok());
        let err = Filter::parse(&deep(10_000)).unwrap_err();
        assert!(err.contains("nest more than 64 deep"), "{err}");
        let nots = format!("{}a == 1", "not ".repeat(10_000));
        assert!(Filter::parse(&nots).unwrap_err().contains("nest more than"));
    }
}
