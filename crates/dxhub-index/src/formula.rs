//! The formula language of indicators: a hand-written recursive-descent parser to an AST,
//! and its evaluation over values that may be missing.
//!
//! Grammar (lowest precedence first):
//!
//! ```text
//! expr    := and ("or" and)*
//! and     := cmp ("and" cmp)*
//! cmp     := sum (("<" | "<=" | ">" | ">=" | "==" | "!=") sum)?
//! sum     := product (("+" | "-") product)*
//! product := unary (("*" | "/") unary)*
//! unary   := "-" unary | primary
//! primary := NUMBER | NAME | "(" expr ")"
//!          | "min(" expr ("," expr)* ")" | "max(" expr ("," expr)* ")"
//!          | "if(" expr "," expr "," expr ")"
//!          | "ratio(" expr "," expr "," (NUMBER | "-" NUMBER | "null" | "missing") ")"
//! ```

use std::fmt;

/// A binary arithmetic operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArithOp {
    /// `+`
    Add,
    /// `-`
    Sub,
    /// `*`
    Mul,
    /// `/` (a zero denominator is an evaluation error)
    Div,
}

/// A comparison operator; a comparison evaluates to 1 (true) or 0 (false).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CmpOp {
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `>=`
    Ge,
    /// `==`
    Eq,
    /// `!=`
    Ne,
}

/// What `ratio(a, b, on_zero)` gives when `b` is zero.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum OnZero {
    /// A declared number.
    Value(f64),
    /// The value is missing (`null` or `missing`).
    Missing,
}

/// A parsed formula.
#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    /// A number literal.
    Num(f64),
    /// A reference to a data element or an indicator by code.
    Ref(String),
    /// Unary minus.
    Neg(Box<Expr>),
    /// Arithmetic.
    Arith(ArithOp, Box<Expr>, Box<Expr>),
    /// Comparison (1 or 0).
    Cmp(CmpOp, Box<Expr>, Box<Expr>),
    /// Logical and (non-zero is true).
    And(Box<Expr>, Box<Expr>),
    /// Logical or (non-zero is true).
    Or(Box<Expr>, Box<Expr>),
    /// The smallest argument.
    Min(Vec<Expr>),
    /// The largest argument.
    Max(Vec<Expr>),
    /// `if(cond, then, else)`.
    If(Box<Expr>, Box<Expr>, Box<Expr>),
    /// `ratio(numerator, denominator, on_zero)`.
    Ratio(Box<Expr>, Box<Expr>, OnZero),
}

/// A formula that does not parse: the byte offset in the formula and the reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    /// Byte offset in the formula text (0-based).
    pub offset: usize,
    /// What is wrong.
    pub reason: String,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "at column {}: {}", self.offset + 1, self.reason)
    }
}

impl std::error::Error for ParseError {}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Num(f64),
    Name(String),
    Op(&'static str),
    LParen,
    RParen,
    Comma,
    End,
}

fn lex(src: &str) -> Result<Vec<(Tok, usize)>, ParseError> {
    let bytes = src.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i] as char;
        let start = i;
        if c.is_ascii_whitespace() {
            i += 1;
            continue;
        }
        if c.is_ascii_digit() || c == '.' {
            while i < bytes.len() && (bytes[i].is_ascii_digit() || bytes[i] == b'.') {
                i += 1;
            }
            let text = &src[start..i];
            let n: f64 = text.parse().map_err(|_| ParseError {
                offset: start,
                reason: format!("'{text}' is not a number"),
            })?;
            out.push((Tok::Num(n), start));
            continue;
        }
        if c.is_ascii_alphabetic() || c == '_' {
            while i < bytes.len() && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'_') {
                i += 1;
            }
            out.push((Tok::Name(src[start..i].to_owned()), start));
            continue;
        }
        let two = src.get(i..i + 2).unwrap_or("");
        let op: &'static str = match two {
            "<=" => "<=",
            ">=" => ">=",
            "==" => "==",
            "!=" => "!=",
            _ => match c {
                '+' => "+",
                '-' => "-",
                '*' => "*",
                '/' => "/",
                '<' => "<",
                '>' => ">",
                '(' | ')' | ',' => "",
                _ => {
                    return Err(ParseError {
                        offset: start,
                        reason: format!("unexpected character '{c}'"),
                    });
                }
            },
        };
        let tok = match c {
            '(' => Tok::LParen,
            ')' => Tok::RParen,
            ',' => Tok::Comma,
            _ => Tok::Op(op),
        };
        i += op.len().max(1);
        out.push((tok, start));
    }
    out.push((Tok::End, src.len()));
    Ok(out)
}

struct Parser {
    toks: Vec<(Tok, usize)>,
    pos: usize,
}

impl Parser {
    fn peek(&self) -> &Tok {
        &self.toks[self.pos].0
    }
    fn offset(&self) -> usize {
        self.toks[self.pos].1
    }
    fn bump(&mut self) -> Tok {
        let t = self.toks[self.pos].0.clone();
        if self.pos + 1 < self.toks.len() {
            self.pos += 1;
        }
        t
    }
    fn error<T>(&self, reason: impl Into<String>) -> Result<T, ParseError> {
        Err(ParseError {
            offset: self.offset(),
            reason: reason.into(),
        })
    }
    fn expect(&mut self, want: Tok, what: &str) -> Result<(), ParseError> {
        if *self.peek() == want {
            self.bump();
            Ok(())
        } else {
            self.error(format!("expected {what}, found {}", describe(self.peek())))
        }
    }
    fn is_word(&self, w: &str) -> bool {
        matches!(self.peek(), Tok::Name(n) if n == w)
    }
    fn is_op(&self, op: &str) -> bool {
        matches!(self.peek(), Tok::Op(o) if *o == op)
    }

    fn expr(&mut self) -> Result<Expr, ParseError> {
        let mut left = self.and()?;
        while self.is_word("or") {
            self.bump();
            left = Expr::Or(Box::new(left), Box::new(self.and()?));
        }
        Ok(left)
    }
    fn and(&mut self) -> Result<Expr, ParseError> {
        let mut left = self.cmp()?;
        while self.is_word("and") {
            self.bump();
            left = Expr::And(Box::new(left), Box::new(self.cmp()?));
        }
        Ok(left)
    }
    fn cmp(&mut self) -> Result<Expr, ParseError> {
        let left = self.sum()?;
        let op = match self.peek() {
            Tok::Op("<") => CmpOp::Lt,
            Tok::Op("<=") => CmpOp::Le,
            Tok::Op(">") => CmpOp::Gt,
            Tok::Op(">=") => CmpOp::Ge,
            Tok::Op("==") => CmpOp::Eq,
            Tok::Op("!=") => CmpOp::Ne,
            _ => return Ok(left),
        };
        self.bump();
        let right = self.sum()?;
        if matches!(self.peek(), Tok::Op("<" | "<=" | ">" | ">=" | "==" | "!=")) {
            return self.error("comparisons do not chain; use 'and'");
        }
        Ok(Expr::Cmp(op, Box::new(left), Box::new(right)))
    }
    /// A left-associative chain of `next` joined by the arithmetic operators in `ops`.
    fn chain(
        &mut self,
        ops: [(&str, ArithOp); 2],
        next: fn(&mut Self) -> Result<Expr, ParseError>,
    ) -> Result<Expr, ParseError> {
        let mut left = next(self)?;
        while let Some(&(_, op)) = ops.iter().find(|(sym, _)| self.is_op(sym)) {
            self.bump();
            left = Expr::Arith(op, Box::new(left), Box::new(next(self)?));
        }
        Ok(left)
    }
    fn sum(&mut self) -> Result<Expr, ParseError> {
        self.chain([("+", ArithOp::Add), ("-", ArithOp::Sub)], Self::product)
    }
    fn product(&mut self) -> Result<Expr, ParseError> {
        self.chain([("*", ArithOp::Mul), ("/", ArithOp::Div)], Self::unary)
    }
    fn unary(&mut self) -> Result<Expr, ParseError> {
        if self.is_op("-") {
            self.bump();
            return Ok(Expr::Neg(Box::new(self.unary()?)));
        }
        self.primary()
    }
    fn args(&mut self) -> Result<Vec<Expr>, ParseError> {
        self.expect(Tok::LParen, "'('")?;
        let mut args = vec![self.expr()?];
        while *self.peek() == Tok::Comma {
            self.bump();
            args.push(self.expr()?);
        }
        self.expect(Tok::RParen, "',' or ')'")?;
        Ok(args)
    }
    fn on_zero(&mut self) -> Result<OnZero, ParseError> {
        let negative = self.is_op("-");
        if negative {
            self.bump();
        }
        match self.peek().clone() {
            Tok::Num(n) => {
                self.bump();
                Ok(OnZero::Value(if negative { -n } else { n }))
            }
            Tok::Name(w) if !negative && (w == "null" || w == "missing") => {
                self.bump();
                Ok(OnZero::Missing)
            }
            other => self.error(format!(
                "ratio's third argument (the value on a zero denominator) must be a number, null or missing, found {}",
                describe(&other)
            )),
        }
    }
    fn primary(&mut self) -> Result<Expr, ParseError> {
        let start = self.offset();
        match self.bump() {
            Tok::Num(n) => Ok(Expr::Num(n)),
            Tok::LParen => {
                let e = self.expr()?;
                self.expect(Tok::RParen, "')'")?;
                Ok(e)
            }
            Tok::Name(name) if *self.peek() == Tok::LParen => match name.as_str() {
                "min" | "max" => {
                    let args = self.args()?;
                    Ok(if name == "min" {
                        Expr::Min(args)
                    } else {
                        Expr::Max(args)
                    })
                }
                "if" => {
                    let args = self.args()?;
                    let [c, a, b]: [Expr; 3] = args.try_into().map_err(|_| ParseError {
                        offset: start,
                        reason: "if takes 3 arguments: if(condition, then, else)".into(),
                    })?;
                    Ok(Expr::If(Box::new(c), Box::new(a), Box::new(b)))
                }
                "ratio" => {
                    self.bump();
                    let num = self.expr()?;
                    self.expect(Tok::Comma, "','")?;
                    let den = self.expr()?;
                    self.expect(Tok::Comma, "',' and the value on a zero denominator")?;
                    let z = self.on_zero()?;
                    self.expect(Tok::RParen, "')'")?;
                    Ok(Expr::Ratio(Box::new(num), Box::new(den), z))
                }
                _ => Err(ParseError {
                    offset: start,
                    reason: format!("unknown function '{name}' (known: min, max, if, ratio)"),
                }),
            },
            Tok::Name(name) => {
                if matches!(name.as_str(), "and" | "or" | "null" | "missing") {
                    return Err(ParseError {
                        offset: start,
                        reason: format!("'{name}' cannot stand here"),
                    });
                }
                Ok(Expr::Ref(name))
            }
            other => Err(ParseError {
                offset: start,
                reason: format!("expected a value, found {}", describe(&other)),
            }),
        }
    }
}

fn describe(t: &Tok) -> String {
    match t {
        Tok::Num(n) => format!("number {n}"),
        Tok::Name(n) => format!("'{n}'"),
        Tok::Op(o) => format!("'{o}'"),
        Tok::LParen => "'('".into(),
        Tok::RParen => "')'".into(),
        Tok::Comma => "','".into(),
        Tok::End => "the end of the formula".into(),
    }
}

/// Parses a formula.
pub fn parse(src: &str) -> Result<Expr, ParseError> {
    let mut p = Parser {
        toks: lex(src)?,
        pos: 0,
    };
    let e = p.expr()?;
    if *p.peek() != Tok::End {
        return p.error(format!(
            "unexpected {} after a complete formula",
            describe(p.peek())
        ));
    }
    Ok(e)
}

/// Evaluation went wrong: a plain `/` by zero.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DivisionByZero;

impl Expr {
    /// The codes this formula refers to, each once, in order of first appearance.
    pub fn references(&self) -> Vec<&str> {
        let mut out = Vec::new();
        self.walk(&mut |e| {
            if let Expr::Ref(r) = e
                && !out.contains(&r.as_str())
            {
                out.push(r.as_str());
            }
        });
        out
    }

    fn walk<'a>(&'a self, f: &mut impl FnMut(&'a Expr)) {
        f(self);
        match self {
            Expr::Num(_) | Expr::Ref(_) => {}
            Expr::Neg(a) => a.walk(f),
            Expr::Arith(_, a, b)
            | Expr::Cmp(_, a, b)
            | Expr::And(a, b)
            | Expr::Or(a, b)
            | Expr::Ratio(a, b, _) => {
                a.walk(f);
                b.walk(f);
            }
            Expr::Min(args) | Expr::Max(args) => args.iter().for_each(|a| a.walk(f)),
            Expr::If(c, a, b) => {
                c.walk(f);
                a.walk(f);
                b.walk(f);
            }
        }
    }

    /// Evaluates with `lookup` giving each reference's value (`None` = missing). Missing
    /// propagates: any operation on a missing value is missing, except the branch of an
    /// `if` that is not taken.
    pub fn eval(
        &self,
        lookup: &dyn Fn(&str) -> Option<f64>,
    ) -> Result<Option<f64>, DivisionByZero> {
        let truth = |b: bool| Some(if b { 1.0 } else { 0.0 });
        Ok(match self {
            Expr::Num(n) => Some(*n),
            Expr::Ref(r) => lookup(r),
            Expr::Neg(a) => a.eval(lookup)?.map(|v| -v),
            Expr::Arith(op, a, b) => {
                let (Some(x), Some(y)) = (a.eval(lookup)?, b.eval(lookup)?) else {
                    return Ok(None);
                };
                Some(match op {
                    ArithOp::Add => x + y,
                    ArithOp::Sub => x - y,
                    ArithOp::Mul => x * y,
                    ArithOp::Div if y == 0.0 => return Err(DivisionByZero),
                    ArithOp::Div => x / y,
                })
            }
            Expr::Cmp(op, a, b) => {
                let (Some(x), Some(y)) = (a.eval(lookup)?, b.eval(lookup)?) else {
                    return Ok(None);
                };
                truth(match op {
                    CmpOp::Lt => x < y,
                    CmpOp::Le => x <= y,
                    CmpOp::Gt => x > y,
                    CmpOp::Ge => x >= y,
                    CmpOp::Eq => x == y,
                    CmpOp::Ne => x != y,
                })
            }
            Expr::And(a, b) | Expr::Or(a, b) => {
                let (Some(x), Some(y)) = (a.eval(lookup)?, b.eval(lookup)?) else {
                    return Ok(None);
                };
                truth(if matches!(self, Expr::And(..)) {
                    x != 0.0 && y != 0.0
                } else {
                    x != 0.0 || y != 0.0
                })
            }
            Expr::Min(args) | Expr::Max(args) => {
                let mut acc: Option<f64> = None;
                for a in args {
                    let Some(v) = a.eval(lookup)? else {
                        return Ok(None);
                    };
                    acc = Some(match (acc, self) {
                        (None, _) => v,
                        (Some(m), Expr::Min(_)) => m.min(v),
                        (Some(m), _) => m.max(v),
                    });
                }
                acc
            }
            Expr::If(c, a, b) => match c.eval(lookup)? {
                None => None,
                Some(x) if x != 0.0 => a.eval(lookup)?,
                Some(_) => b.eval(lookup)?,
            },
            Expr::Ratio(a, b, z) => {
                let (Some(x), Some(y)) = (a.eval(lookup)?, b.eval(lookup)?) else {
                    return Ok(None);
                };
                if y == 0.0 {
                    match z {
                        OnZero::Value(v) => Some(*v),
                        OnZero::Missing => None,
                    }
                } else {
                    Some(x / y)
                }
            }
        })
    }
}

impl ArithOp {
    fn symbol(self) -> &'static str {
        match self {
            ArithOp::Add => "+",
            ArithOp::Sub => "-",
            ArithOp::Mul => "*",
            ArithOp::Div => "/",
        }
    }
}

impl CmpOp {
    fn symbol(self) -> &'static str {
        match self {
            CmpOp::Lt => "<",
            CmpOp::Le => "<=",
            CmpOp::Gt => ">",
            CmpOp::Ge => ">=",
            CmpOp::Eq => "==",
            CmpOp::Ne => "!=",
        }
    }
}

/// Writes `name(a, b, …)`.
fn call(f: &mut fmt::Formatter<'_>, name: &str, args: &[&dyn fmt::Display]) -> fmt::Result {
    write!(f, "{name}(")?;
    for (i, a) in args.iter().enumerate() {
        if i > 0 {
            f.write_str(", ")?;
        }
        write!(f, "{a}")?;
    }
    f.write_str(")")
}

/// The canonical text of a formula: every operation parenthesised; it parses back to the
/// same formula.
impl fmt::Display for Expr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Expr::Num(n) => write!(f, "{n}"),
            Expr::Ref(r) => f.write_str(r),
            Expr::Neg(a) => write!(f, "-({a})"),
            Expr::Arith(op, a, b) => write!(f, "({a} {} {b})", op.symbol()),
            Expr::Cmp(op, a, b) => write!(f, "({a} {} {b})", op.symbol()),
            Expr::And(a, b) => write!(f, "({a} and {b})"),
            Expr::Or(a, b) => write!(f, "({a} or {b})"),
            Expr::Min(args) | Expr::Max(args) => {
                let name = if matches!(self, Expr::Min(_)) {
                    "min"
                } else {
                    "max"
                };
                let args: Vec<&dyn fmt::Display> = args.iter().map(|a| a as _).collect();
                call(f, name, &args)
            }
            Expr::If(c, a, b) => call(f, "if", &[c, a, b]),
            Expr::Ratio(a, b, z) => match z {
                OnZero::Value(v) => call(f, "ratio", &[a, b, v]),
                OnZero::Missing => call(f, "ratio", &[a, b, &"null"]),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn eval(src: &str, vars: &[(&str, f64)]) -> Result<Option<f64>, DivisionByZero> {
        let vars: Vec<(String, f64)> = vars.iter().map(|(k, v)| (k.to_string(), *v)).collect();
        parse(src)
            .unwrap()
            .eval(&|r| vars.iter().find(|(k, _)| k == r).map(|(_, v)| *v))
    }

    #[test]
    fn precedence_and_unary_minus() {
        assert_eq!(eval("1 + 2 * 3", &[]), Ok(Some(7.0)));
        assert_eq!(eval("(1 + 2) * 3", &[]), Ok(Some(9.0)));
        assert_eq!(eval("-2 * -3", &[]), Ok(Some(6.0)));
        assert_eq!(eval("10 - 4 - 3", &[]), Ok(Some(3.0)));
        assert_eq!(eval("8 / 4 / 2", &[]), Ok(Some(1.0)));
        assert_eq!(eval("--1", &[]), Ok(Some(1.0)));
    }

    #[test]
    fn functions_and_conditions() {
        let v = [("a", 3.0), ("b", 5.0)];
        assert_eq!(eval("min(a, b, 4)", &v), Ok(Some(3.0)));
        assert_eq!(eval("max(a, b)", &v), Ok(Some(5.0)));
        assert_eq!(eval("if(a < b and b <= 5, 1, 2)", &v), Ok(Some(1.0)));
        assert_eq!(eval("if(a > b or a == 4, 1, 2)", &v), Ok(Some(2.0)));
        assert_eq!(eval("if(a != 3, 1, 2)", &v), Ok(Some(2.0)));
        assert_eq!(eval("a >= 3", &v), Ok(Some(1.0)));
    }

    #[test]
    fn zero_denominators() {
        let v = [("a", 3.0), ("z", 0.0)];
        assert_eq!(eval("ratio(a, z, 0)", &v), Ok(Some(0.0)));
        assert_eq!(eval("ratio(a, z, -1.5)", &v), Ok(Some(-1.5)));
        assert_eq!(eval("ratio(a, z, null)", &v), Ok(None));
        assert_eq!(eval("ratio(a, z, missing)", &v), Ok(None));
        assert_eq!(eval("ratio(z, a, null)", &v), Ok(Some(0.0)));
        assert_eq!(eval("a / z", &v), Err(DivisionByZero));
        // The branch not taken is not evaluated.
        assert_eq!(eval("if(z == 0, 0, a / z)", &v), Ok(Some(0.0)));
    }

    #[test]
    fn missing_propagates() {
        let v = [("a", 3.0)];
        assert_eq!(eval("a + nothing", &v), Ok(None));
        assert_eq!(eval("min(a, nothing)", &v), Ok(None));
        assert_eq!(eval("if(nothing, 1, 2)", &v), Ok(None));
        assert_eq!(eval("if(a, 1, nothing)", &v), Ok(Some(1.0)));
    }

    #[test]
    fn references_in_order_once() {
        let e = parse("ratio(b, a, 0) + a * c").unwrap();
        assert_eq!(e.references(), vec!["b", "a", "c"]);
    }

    #[test]
    fn parse_errors_are_located() {
        let cases = [
            ("1 +", 3, "expected a value"),
            ("(1 + 2", 6, "expected ')'"),
            ("1 $ 2", 2, "unexpected character"),
            ("foo(1)", 0, "unknown function"),
            ("ratio(a, b)", 10, "value on a zero denominator"),
            ("ratio(a, b, c)", 12, "must be a number, null or missing"),
            ("if(a, b)", 0, "if takes 3 arguments"),
            ("a < b < c", 6, "do not chain"),
            ("a b", 2, "after a complete formula"),
            ("1.2.3", 0, "not a number"),
            ("null + 1", 0, "cannot stand here"),
        ];
        for (src, offset, reason) in cases {
            let e = parse(src).unwrap_err();
            assert_eq!(e.offset, offset, "{src}: {e}");
            assert!(e.reason.contains(reason), "{src}: {e}");
        }
    }

    mod props {
        use super::super::*;
        use proptest::prelude::*;

        fn expr() -> impl Strategy<Value = Expr> {
            let leaf = prop_oneof![
                (0u32..100_000).prop_map(|n| Expr::Num(f64::from(n) / 100.0)),
                "[a-z_][a-z0-9_]{0,5}"
                    .prop_filter("keywords", |s| !matches!(
                        s.as_str(),
                        "and" | "or" | "if" | "min" | "max" | "null" | "missing" | "ratio"
                    ))
                    .prop_map(Expr::Ref),
            ];
            leaf.prop_recursive(5, 48, 3, |inner| {
                let b = || inner.clone().prop_map(Box::new);
                prop_oneof![
                    b().prop_map(Expr::Neg),
                    (0..4usize, b(), b()).prop_map(|(o, x, y)| {
                        let op = [ArithOp::Add, ArithOp::Sub, ArithOp::Mul, ArithOp::Div][o];
                        Expr::Arith(op, x, y)
                    }),
                    (0..6usize, b(), b()).prop_map(|(o, x, y)| {
                        let ops = [
                            CmpOp::Lt,
                            CmpOp::Le,
                            CmpOp::Gt,
                            CmpOp::Ge,
                            CmpOp::Eq,
                            CmpOp::Ne,
                        ];
                        Expr::Cmp(ops[o], x, y)
                    }),
                    (b(), b()).prop_map(|(x, y)| Expr::And(x, y)),
                    (b(), b()).prop_map(|(x, y)| Expr::Or(x, y)),
                    prop::collection::vec(inner.clone(), 1..4).prop_map(Expr::Min),
                    prop::collection::vec(inner.clone(), 1..4).prop_map(Expr::Max),
                    (b(), b(), b()).prop_map(|(c, x, y)| Expr::If(c, x, y)),
                    (b(), b(), prop::option::of(-1000i32..1000)).prop_map(|(x, y, z)| {
                        let z = z.map_or(OnZero::Missing, |v| OnZero::Value(f64::from(v) / 10.0));
                        Expr::Ratio(x, y, z)
                    }),
                ]
            })
        }

        proptest! {
            #[test]
            fn the_canonical_text_parses_back_to_the_same_formula(e in expr()) {
                let text = e.to_string();
                prop_assert_eq!(parse(&text), Ok(e), "{}", text);
            }

            #[test]
            fn any_text_parses_or_fails_with_an_offset_inside_it(s in "[a-z0-9_ +*/(),<>=!.-]{0,40}") {
                if let Err(e) = parse(&s) {
                    prop_assert!(e.offset <= s.len());
                }
            }
        }
    }
}
