//! Search (`criteria`, `email`, `phone`, `word`) and COQL (`select … from … where … order by …
//! limit …`) over the records of one module.

use std::cmp::Ordering;
use std::collections::BTreeMap;

use axum::http::StatusCode;
use serde_json::{json, Value};

use crate::api::{err, parse_fields, parse_page, parse_per_page, Ctx, Resp};
use crate::fields::parse_datetime;
use crate::model::{module_name, Org, Record, State};
use crate::records;

fn bad(code: &str, message: &str, details: Value) -> Resp {
    err(StatusCode::BAD_REQUEST, code, message, details)
}

/// Comparable view of a field value of a record.
fn field_value(org: &Org, module: &str, rec: &Record, name: &str, tz: &str) -> Value {
    let (base, sub) = match name.split_once('.') {
        Some((b, s)) => (b, Some(s)),
        None => (name, None),
    };
    let v = records::output_value(org, module, rec, base, tz);
    match sub {
        Some(s) => v.get(s).cloned().unwrap_or(Value::Null),
        None => match &v {
            // Lookups compare by id.
            Value::Object(o) if o.contains_key("id") => o["id"].clone(),
            _ => v,
        },
    }
}

fn compare(a: &Value, b: &str) -> Option<Ordering> {
    match a {
        Value::Null => None,
        Value::Number(n) => {
            let x = n.as_f64()?;
            let y: f64 = b.parse().ok()?;
            x.partial_cmp(&y)
        }
        Value::Bool(x) => {
            let y: bool = b.parse().ok()?;
            Some(x.cmp(&y))
        }
        Value::String(s) => {
            if let (Some(x), Some(y)) = (parse_datetime(s), parse_datetime(b)) {
                return Some(x.cmp(&y));
            }
            Some(s.to_lowercase().cmp(&b.to_lowercase()))
        }
        other => Some(other.to_string().cmp(&b.to_string())),
    }
}

fn as_text(v: &Value) -> Option<String> {
    match v {
        Value::Null => None,
        Value::String(s) => Some(s.to_lowercase()),
        other => Some(other.to_string().to_lowercase()),
    }
}

// ---------------------------------------------------------------------------------------------
// search criteria

#[derive(Debug)]
enum Crit {
    Cond {
        field: String,
        op: String,
        values: Vec<String>,
    },
    And(Vec<Crit>),
    Or(Vec<Crit>),
}

struct CritParser<'a> {
    s: &'a [u8],
    text: &'a str,
    i: usize,
    conds: usize,
}

impl<'a> CritParser<'a> {
    fn ws(&mut self) {
        while self.i < self.s.len() && self.s[self.i] == b' ' {
            self.i += 1;
        }
    }
    fn expr(&mut self) -> Result<Crit, String> {
        let mut items = vec![self.group()?];
        let mut op: Option<&str> = None;
        loop {
            self.ws();
            let rest = &self.text[self.i..];
            let next = if rest.get(..3).is_some_and(|w| w.eq_ignore_ascii_case("and")) {
                "and"
            } else if rest.get(..2).is_some_and(|w| w.eq_ignore_ascii_case("or")) {
                "or"
            } else {
                break;
            };
            if op.is_some_and(|o| o != next) {
                return Err("mixing and/or needs parentheses".into());
            }
            op = Some(next);
            self.i += next.len();
            items.push(self.group()?);
        }
        Ok(match (op, items.len()) {
            (_, 1) => items.pop().expect("one item"),
            (Some("or"), _) => Crit::Or(items),
            _ => Crit::And(items),
        })
    }
    fn group(&mut self) -> Result<Crit, String> {
        self.ws();
        if self.s.get(self.i) != Some(&b'(') {
            return Err(format!("expected `(` at {}", self.i));
        }
        self.i += 1;
        self.ws();
        let inner = if self.s.get(self.i) == Some(&b'(') {
            self.expr()?
        } else {
            self.cond()?
        };
        self.ws();
        if self.s.get(self.i) != Some(&b')') {
            return Err(format!("expected `)` at {}", self.i));
        }
        self.i += 1;
        Ok(inner)
    }
    fn cond(&mut self) -> Result<Crit, String> {
        // field:op:value up to the first unescaped ')'
        let mut raw = String::new();
        let chars: Vec<char> = self.text[self.i..].chars().collect();
        let mut k = 0;
        while k < chars.len() {
            let c = chars[k];
            if c == '\\' && k + 1 < chars.len() {
                raw.push('\\');
                raw.push(chars[k + 1]);
                k += 2;
                continue;
            }
            if c == ')' {
                break;
            }
            raw.push(c);
            k += 1;
        }
        self.i += chars[..k].iter().map(|c| c.len_utf8()).sum::<usize>();
        let mut parts = raw.splitn(3, ':');
        let (Some(field), Some(op), Some(value)) = (parts.next(), parts.next(), parts.next())
        else {
            return Err(format!("condition `{raw}` is not field:operator:value"));
        };
        let values = split_escaped(value);
        self.conds += 1;
        Ok(Crit::Cond {
            field: field.trim().to_string(),
            op: op.trim().to_string(),
            values,
        })
    }
}

fn split_escaped(v: &str) -> Vec<String> {
    let mut out = vec![String::new()];
    let mut chars = v.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                if let Some(n) = chars.next() {
                    out.last_mut().expect("non-empty").push(n);
                }
            }
            ',' => out.push(String::new()),
            c => out.last_mut().expect("non-empty").push(c),
        }
    }
    out
}

const SEARCH_OPS: &[&str] = &[
    "equals",
    "not_equal",
    "starts_with",
    "in",
    "greater_than",
    "greater_equal",
    "less_than",
    "less_equal",
    "between",
];

fn check_crit(org: &Org, module: &str, c: &Crit) -> Result<(), Resp> {
    match c {
        Crit::And(v) | Crit::Or(v) => v.iter().try_for_each(|x| check_crit(org, module, x)),
        Crit::Cond { field, op, values } => {
            let base = field.split('.').next().unwrap_or("");
            if base != "id" && org.field(module, base).is_none() {
                return Err(bad(
                    "INVALID_QUERY",
                    "invalid field in criteria",
                    json!({"api_name": field}),
                ));
            }
            if !SEARCH_OPS.contains(&op.as_str()) {
                return Err(bad(
                    "INVALID_QUERY",
                    "invalid operator in criteria",
                    json!({"operator": op, "api_name": field}),
                ));
            }
            if op == "in" && values.len() > 100 {
                return Err(bad(
                    "LIMIT_EXCEEDED",
                    "at most 100 values for `in`",
                    json!({"limit": 100, "operator": "in"}),
                ));
            }
            if op == "between" && values.len() != 2 {
                return Err(bad(
                    "INVALID_QUERY",
                    "between needs two values",
                    json!({"operator": op, "api_name": field}),
                ));
            }
            Ok(())
        }
    }
}

fn eval_crit(org: &Org, module: &str, rec: &Record, c: &Crit, tz: &str) -> bool {
    match c {
        Crit::And(v) => v.iter().all(|x| eval_crit(org, module, rec, x, tz)),
        Crit::Or(v) => v.iter().any(|x| eval_crit(org, module, rec, x, tz)),
        Crit::Cond { field, op, values } => {
            let v = field_value(org, module, rec, field, tz);
            let first = values.first().map(String::as_str).unwrap_or("");
            let is_text = org
                .field(module, field)
                .is_some_and(|f| matches!(f.data_type.as_str(), "text" | "textarea"));
            match op.as_str() {
                "equals" => {
                    if is_text {
                        // Documented: `equals` behaves like *contains* for text fields.
                        as_text(&v).is_some_and(|t| t.contains(&first.to_lowercase()))
                    } else {
                        compare(&v, first) == Some(Ordering::Equal)
                    }
                }
                "not_equal" => compare(&v, first) != Some(Ordering::Equal),
                "starts_with" => as_text(&v).is_some_and(|t| t.starts_with(&first.to_lowercase())),
                "in" => values
                    .iter()
                    .any(|x| compare(&v, x) == Some(Ordering::Equal)),
                "greater_than" => compare(&v, first) == Some(Ordering::Greater),
                "greater_equal" => {
                    matches!(
                        compare(&v, first),
                        Some(Ordering::Greater | Ordering::Equal)
                    )
                }
                "less_than" => compare(&v, first) == Some(Ordering::Less),
                "less_equal" => {
                    matches!(compare(&v, first), Some(Ordering::Less | Ordering::Equal))
                }
                "between" => {
                    let hi = values.get(1).map(String::as_str).unwrap_or("");
                    matches!(
                        compare(&v, first),
                        Some(Ordering::Greater | Ordering::Equal)
                    ) && matches!(compare(&v, hi), Some(Ordering::Less | Ordering::Equal))
                }
                _ => false,
            }
        }
    }
}

pub(crate) fn search(
    st: &mut State,
    ctx: &Ctx,
    module: &str,
    q: &BTreeMap<String, String>,
) -> Result<Resp, Resp> {
    let o = &st.orgs[&ctx.org_id];
    let wanted = parse_fields(o, module, q, false)?;
    let per_page = parse_per_page(q, 200)?;
    let page = parse_page(q)?;
    let filter: Box<dyn Fn(&Record) -> bool> = if let Some(c) = q.get("criteria") {
        let mut p = CritParser {
            s: c.as_bytes(),
            text: c,
            i: 0,
            conds: 0,
        };
        let crit = p
            .expr()
            .and_then(|crit| {
                if p.i != c.len() {
                    Err(format!("unexpected text at {}", p.i))
                } else {
                    Ok(crit)
                }
            })
            .map_err(|why| {
                bad(
                    "INVALID_QUERY",
                    "invalid query formed",
                    json!({"reason": why, "param_name": "criteria"}),
                )
            })?;
        if p.conds > 10 {
            return Err(bad(
                "LIMIT_EXCEEDED",
                "at most 10 criteria are allowed",
                json!({"limit": 10, "param_name": "criteria"}),
            ));
        }
        check_crit(o, module, &crit)?;
        let tz = ctx.tz.clone();
        Box::new(move |r: &Record| eval_crit(o, module, r, &crit, &tz))
    } else if let Some(e) = q.get("email") {
        let e = e.to_lowercase();
        let email_fields: Vec<String> = o
            .fields
            .get(module)
            .into_iter()
            .flatten()
            .filter(|f| f.data_type == "email")
            .map(|f| f.api_name.clone())
            .collect();
        Box::new(move |r: &Record| {
            email_fields.iter().any(|f| {
                r.values
                    .get(f)
                    .and_then(Value::as_str)
                    .is_some_and(|v| v.to_lowercase() == e)
            })
        })
    } else if let Some(ph) = q.get("phone") {
        let digits: String = ph.chars().filter(char::is_ascii_digit).collect();
        if digits.len() < 3 {
            return Err(bad(
                "INVALID_QUERY",
                "the phone number must have at least 3 digits",
                json!({"param_name": "phone"}),
            ));
        }
        let phone_fields: Vec<String> = o
            .fields
            .get(module)
            .into_iter()
            .flatten()
            .filter(|f| f.data_type == "phone")
            .map(|f| f.api_name.clone())
            .collect();
        Box::new(move |r: &Record| {
            phone_fields.iter().any(|f| {
                r.values.get(f).and_then(Value::as_str).is_some_and(|v| {
                    v.chars()
                        .filter(char::is_ascii_digit)
                        .collect::<String>()
                        .contains(&digits)
                })
            })
        })
    } else if let Some(w) = q.get("word") {
        if w.chars().count() < 2 {
            return Err(bad(
                "INVALID_QUERY",
                "the word must have at least 2 characters",
                json!({"param_name": "word"}),
            ));
        }
        let w = w.to_lowercase();
        Box::new(move |r: &Record| {
            r.values
                .values()
                .any(|v| v.as_str().is_some_and(|s| s.to_lowercase().contains(&w)))
        })
    } else {
        return Err(bad(
            "REQUIRED_PARAM_MISSING",
            "One of the expected parameter is missing",
            json!({"param_name": "criteria/email/phone/word"}),
        ));
    };
    let start = (page - 1) * per_page;
    if start + per_page > 2000 {
        return Err(bad(
            "LIMIT_REACHED",
            "search results are limited to 2000 records",
            json!({"limit": 2000}),
        ));
    }
    let indexed_before =
        ctx.now - chrono::Duration::milliseconds(st.faults.search_index_delay_ms as i64);
    let delay = st.faults.search_index_delay_ms > 0;
    let mut hits: Vec<&Record> = o
        .records
        .get(module)
        .into_iter()
        .flat_map(|m| m.values())
        .filter(|r| !delay || r.modified_time <= indexed_before)
        .filter(|r| filter(r))
        .collect();
    hits.sort_by_key(|r| std::cmp::Reverse(r.id.parse::<u64>().unwrap_or(0)));
    let total = hits.len().min(2000);
    let slice: Vec<Value> = hits
        .iter()
        .take(total)
        .skip(start)
        .take(per_page)
        .map(|r| records::render(o, module, r, wanted.as_deref(), &ctx.tz))
        .collect();
    if slice.is_empty() {
        return Ok(Resp::empty(StatusCode::NO_CONTENT));
    }
    let count = slice.len();
    Ok(Resp::json(
        StatusCode::OK,
        json!({"data": slice, "info": {"per_page": per_page, "count": count, "page": page,
                                       "more_records": total > start + count}}),
    ))
}

// ---------------------------------------------------------------------------------------------
// COQL

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Word(String),
    Str(String),
    Num(String),
    Op(String),
    Comma,
    LParen,
    RParen,
}

fn tokenize(s: &str) -> Result<Vec<Tok>, String> {
    let mut out = Vec::new();
    let chars: Vec<char> = s.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        match c {
            ' ' | '\n' | '\t' | '\r' => i += 1,
            ',' => {
                out.push(Tok::Comma);
                i += 1
            }
            '(' => {
                out.push(Tok::LParen);
                i += 1
            }
            ')' => {
                out.push(Tok::RParen);
                i += 1
            }
            '\'' => {
                let mut v = String::new();
                i += 1;
                loop {
                    match chars.get(i) {
                        None => return Err("unterminated string".into()),
                        Some('\\') => {
                            if let Some(n) = chars.get(i + 1) {
                                v.push(*n);
                            }
                            i += 2;
                        }
                        Some('\'') => {
                            i += 1;
                            break;
                        }
                        Some(ch) => {
                            v.push(*ch);
                            i += 1;
                        }
                    }
                }
                out.push(Tok::Str(v));
            }
            '=' | '!' | '<' | '>' => {
                let mut op = c.to_string();
                if chars.get(i + 1) == Some(&'=') {
                    op.push('=');
                    i += 1;
                }
                if op == "!" {
                    return Err("unexpected `!`".into());
                }
                out.push(Tok::Op(op));
                i += 1;
            }
            c if c.is_ascii_digit() || c == '-' => {
                let mut v = String::new();
                while let Some(ch) = chars.get(i) {
                    if ch.is_ascii_digit() || *ch == '.' || *ch == '-' {
                        v.push(*ch);
                        i += 1;
                    } else {
                        break;
                    }
                }
                out.push(Tok::Num(v));
            }
            c if c.is_alphanumeric() || c == '_' || c == '$' => {
                let mut v = String::new();
                while let Some(ch) = chars.get(i) {
                    if ch.is_alphanumeric() || *ch == '_' || *ch == '.' || *ch == '$' {
                        v.push(*ch);
                        i += 1;
                    } else {
                        break;
                    }
                }
                out.push(Tok::Word(v));
            }
            other => return Err(format!("unexpected character `{other}`")),
        }
    }
    Ok(out)
}

#[derive(Debug)]
enum Cond {
    Cmp(String, String, String),
    Like(String, String, bool),
    In(String, Vec<String>, bool),
    Null(String, bool),
    Between(String, String, String),
    And(Box<Cond>, Box<Cond>),
    Or(Box<Cond>, Box<Cond>),
}

struct Coql {
    toks: Vec<Tok>,
    i: usize,
    criteria: usize,
    fields: Vec<String>,
}

fn syntax(clause: &str, near: &str) -> Resp {
    bad(
        "SYNTAX_ERROR",
        "error occurred while parsing the query",
        json!({"clause": clause, "near": near}),
    )
}

impl Coql {
    fn peek_kw(&self, kw: &str) -> bool {
        matches!(self.toks.get(self.i), Some(Tok::Word(w)) if w.eq_ignore_ascii_case(kw))
    }
    fn kw(&mut self, kw: &str, clause: &str) -> Result<(), Resp> {
        if self.peek_kw(kw) {
            self.i += 1;
            Ok(())
        } else {
            Err(syntax(clause, &self.near()))
        }
    }
    fn near(&self) -> String {
        match self.toks.get(self.i) {
            Some(Tok::Word(w) | Tok::Str(w) | Tok::Num(w) | Tok::Op(w)) => w.clone(),
            Some(t) => format!("{t:?}"),
            None => "end of query".into(),
        }
    }
    fn word(&mut self, clause: &str) -> Result<String, Resp> {
        match self.toks.get(self.i) {
            Some(Tok::Word(w)) => {
                self.i += 1;
                Ok(w.clone())
            }
            _ => Err(syntax(clause, &self.near())),
        }
    }
    fn value(&mut self) -> Result<String, Resp> {
        match self.toks.get(self.i).cloned() {
            Some(Tok::Str(s) | Tok::Num(s)) => {
                self.i += 1;
                Ok(s)
            }
            Some(Tok::Word(w))
                if w.eq_ignore_ascii_case("true") || w.eq_ignore_ascii_case("false") =>
            {
                self.i += 1;
                Ok(w.to_lowercase())
            }
            _ => Err(syntax("where", &self.near())),
        }
    }
    fn or(&mut self) -> Result<Cond, Resp> {
        let mut left = self.and()?;
        while self.peek_kw("or") {
            self.i += 1;
            let right = self.and()?;
            left = Cond::Or(Box::new(left), Box::new(right));
        }
        Ok(left)
    }
    fn and(&mut self) -> Result<Cond, Resp> {
        let mut left = self.term()?;
        while self.peek_kw("and") {
            self.i += 1;
            let right = self.term()?;
            left = Cond::And(Box::new(left), Box::new(right));
        }
        Ok(left)
    }
    fn term(&mut self) -> Result<Cond, Resp> {
        if self.toks.get(self.i) == Some(&Tok::LParen) {
            self.i += 1;
            let c = self.or()?;
            if self.toks.get(self.i) != Some(&Tok::RParen) {
                return Err(syntax("where", &self.near()));
            }
            self.i += 1;
            return Ok(c);
        }
        let field = self.word("where")?;
        self.fields.push(field.clone());
        self.criteria += 1;
        let negate = if self.peek_kw("not") {
            self.i += 1;
            true
        } else {
            false
        };
        if let Some(Tok::Op(op)) = self.toks.get(self.i).cloned() {
            if negate {
                return Err(syntax("where", "not"));
            }
            self.i += 1;
            let v = self.value()?;
            return Ok(Cond::Cmp(field, op, v));
        }
        if self.peek_kw("like") {
            self.i += 1;
            let v = self.value()?;
            return Ok(Cond::Like(field, v, negate));
        }
        if self.peek_kw("in") {
            self.i += 1;
            if self.toks.get(self.i) != Some(&Tok::LParen) {
                return Err(syntax("where", &self.near()));
            }
            self.i += 1;
            let mut vals = vec![self.value()?];
            while self.toks.get(self.i) == Some(&Tok::Comma) {
                self.i += 1;
                vals.push(self.value()?);
            }
            if self.toks.get(self.i) != Some(&Tok::RParen) {
                return Err(syntax("where", &self.near()));
            }
            self.i += 1;
            if vals.len() > 50 {
                return Err(bad(
                    "LIMIT_EXCEEDED",
                    "at most 50 values are allowed for in",
                    json!({"clause": "where", "limit": 50, "operator": "in"}),
                ));
            }
            return Ok(Cond::In(field, vals, negate));
        }
        if self.peek_kw("is") {
            self.i += 1;
            let not = if self.peek_kw("not") {
                self.i += 1;
                true
            } else {
                false
            };
            self.kw("null", "where")?;
            return Ok(Cond::Null(field, not));
        }
        if self.peek_kw("between") {
            self.i += 1;
            let a = self.value()?;
            self.kw("and", "where")?;
            let b = self.value()?;
            return Ok(Cond::Between(field, a, b));
        }
        Err(syntax("where", &self.near()))
    }
}

fn like(text: &str, pattern: &str) -> bool {
    let t = text.to_lowercase();
    let p = pattern.to_lowercase();
    match (p.starts_with('%'), p.ends_with('%') && p.len() > 1) {
        (true, true) => t.contains(p.trim_matches('%')),
        (true, false) => t.ends_with(p.trim_start_matches('%')),
        (false, true) => t.starts_with(p.trim_end_matches('%')),
        (false, false) => t == p,
    }
}

fn eval(o: &Org, module: &str, r: &Record, c: &Cond, tz: &str) -> bool {
    let fv = |f: &str| field_value(o, module, r, f, tz);
    match c {
        Cond::And(a, b) => eval(o, module, r, a, tz) && eval(o, module, r, b, tz),
        Cond::Or(a, b) => eval(o, module, r, a, tz) || eval(o, module, r, b, tz),
        Cond::Cmp(f, op, v) => {
            let ord = compare(&fv(f), v);
            match op.as_str() {
                "=" => ord == Some(Ordering::Equal),
                "!=" => ord.is_some_and(|o| o != Ordering::Equal),
                ">" => ord == Some(Ordering::Greater),
                ">=" => matches!(ord, Some(Ordering::Greater | Ordering::Equal)),
                "<" => ord == Some(Ordering::Less),
                "<=" => matches!(ord, Some(Ordering::Less | Ordering::Equal)),
                _ => false,
            }
        }
        Cond::Like(f, p, neg) => as_text(&fv(f)).is_some_and(|t| like(&t, p)) != *neg,
        Cond::In(f, vals, neg) => {
            let v = fv(f);
            let hit = vals.iter().any(|x| compare(&v, x) == Some(Ordering::Equal));
            if v.is_null() {
                false
            } else {
                hit != *neg
            }
        }
        Cond::Null(f, not) => fv(f).is_null() != *not,
        Cond::Between(f, a, b) => {
            let v = fv(f);
            matches!(compare(&v, a), Some(Ordering::Greater | Ordering::Equal))
                && matches!(compare(&v, b), Some(Ordering::Less | Ordering::Equal))
        }
    }
}

fn check_column(o: &Org, module: &str, name: &str, clause: &str) -> Result<(), Resp> {
    let base = name.split('.').next().unwrap_or("");
    if base == "id" || o.field(module, base).is_some() {
        Ok(())
    } else {
        Err(bad(
            "INVALID_QUERY",
            "invalid column name",
            json!({"column_name": name, "clause": clause}),
        ))
    }
}

pub(crate) fn coql(st: &mut State, ctx: &Ctx, body: &[u8]) -> Result<Resp, Resp> {
    let v: Value = serde_json::from_slice(body).map_err(|e| {
        bad(
            "INVALID_DATA",
            "the request body is not valid JSON",
            json!({"reason": e.to_string()}),
        )
    })?;
    let Some(text) = v.get("select_query").and_then(Value::as_str) else {
        return Err(bad(
            "REQUIRED_PARAM_MISSING",
            "One of the expected parameter is missing",
            json!({"param_name": "select_query"}),
        ));
    };
    let toks = tokenize(text).map_err(|why| {
        bad(
            "SYNTAX_ERROR",
            "error occurred while parsing the query",
            json!({"reason": why}),
        )
    })?;
    let mut p = Coql {
        toks,
        i: 0,
        criteria: 0,
        fields: vec![],
    };
    p.kw("select", "select")?;
    let mut select = vec![p.word("select")?];
    while p.toks.get(p.i) == Some(&Tok::Comma) {
        p.i += 1;
        select.push(p.word("select")?);
    }
    if select.len() > 50 {
        return Err(bad(
            "LIMIT_EXCEEDED",
            "at most 50 fields can be selected",
            json!({"clause": "select", "limit": 50}),
        ));
    }
    p.kw("from", "from")?;
    let module_word = p.word("from")?;
    let Some(module) = module_name(&module_word) else {
        return Err(bad(
            "INVALID_QUERY",
            "invalid module",
            json!({"module": module_word, "clause": "from"}),
        ));
    };
    let cond = if p.peek_kw("where") {
        p.i += 1;
        Some(p.or()?)
    } else {
        None
    };
    if p.criteria > 25 {
        return Err(bad(
            "LIMIT_EXCEEDED",
            "at most 25 criteria are allowed in where",
            json!({"clause": "where", "limit": 25}),
        ));
    }
    let mut order: Vec<(String, bool)> = vec![];
    if p.peek_kw("order") {
        p.i += 1;
        p.kw("by", "order by")?;
        loop {
            let f = p.word("order by")?;
            let desc = if p.peek_kw("desc") {
                p.i += 1;
                true
            } else {
                if p.peek_kw("asc") {
                    p.i += 1;
                }
                false
            };
            order.push((f, desc));
            if p.toks.get(p.i) == Some(&Tok::Comma) {
                p.i += 1;
            } else {
                break;
            }
        }
        if order.len() > 10 {
            return Err(bad(
                "LIMIT_EXCEEDED",
                "at most 10 order by fields are allowed",
                json!({"clause": "order by", "limit": 10}),
            ));
        }
    }
    let (mut offset, mut limit) = (0usize, 200usize);
    if p.peek_kw("limit") {
        p.i += 1;
        let num = |p: &mut Coql| -> Result<usize, Resp> {
            match p.toks.get(p.i).cloned() {
                Some(Tok::Num(n)) => {
                    p.i += 1;
                    n.parse().map_err(|_| syntax("limit", &n))
                }
                _ => Err(syntax("limit", &p.near())),
            }
        };
        let a = num(&mut p)?;
        if p.toks.get(p.i) == Some(&Tok::Comma) {
            p.i += 1;
            offset = a;
            limit = num(&mut p)?;
        } else {
            limit = a;
            if p.peek_kw("offset") {
                p.i += 1;
                offset = num(&mut p)?;
            }
        }
    }
    if p.i != p.toks.len() {
        return Err(syntax("query", &p.near()));
    }
    if limit == 0 || limit > 2000 {
        return Err(bad(
            "LIMIT_EXCEEDED",
            "the limit must be between 1 and 2000",
            json!({"clause": "limit", "limit": 2000}),
        ));
    }
    if offset + limit > 100_000 {
        return Err(bad(
            "LIMIT_EXCEEDED",
            "at most 100000 records can be fetched with offset",
            json!({"clause": "offset", "limit": 100000}),
        ));
    }
    let o = &st.orgs[&ctx.org_id];
    for f in &select {
        check_column(o, module, f, "select")?;
    }
    for f in &p.fields {
        check_column(o, module, f, "where")?;
    }
    for (f, _) in &order {
        check_column(o, module, f, "order by")?;
    }
    let tz = &ctx.tz;
    let mut rows: Vec<&Record> = o
        .records
        .get(module)
        .into_iter()
        .flat_map(|m| m.values())
        .filter(|r| cond.as_ref().is_none_or(|c| eval(o, module, r, c, tz)))
        .collect();
    rows.sort_by(|a, b| {
        for (f, desc) in &order {
            let va = field_value(o, module, a, f, tz);
            let vb = field_value(o, module, b, f, tz);
            let ord = match (&va, &vb) {
                (Value::Null, Value::Null) => Ordering::Equal,
                (Value::Null, _) => Ordering::Less,
                (_, Value::Null) => Ordering::Greater,
                (_, Value::String(s)) => compare(&va, s).unwrap_or(Ordering::Equal),
                (_, other) => compare(&va, &other.to_string()).unwrap_or(Ordering::Equal),
            };
            let ord = if *desc { ord.reverse() } else { ord };
            if ord != Ordering::Equal {
                return ord;
            }
        }
        a.id.parse::<u64>()
            .unwrap_or(0)
            .cmp(&b.id.parse::<u64>().unwrap_or(0))
    });
    let credits = match limit {
        0..=200 => 0,
        201..=1000 => 1,
        _ => 2,
    };
    let page: Vec<Value> = rows
        .iter()
        .skip(offset)
        .take(limit)
        .map(|r| {
            let mut m = serde_json::Map::new();
            for f in &select {
                let (base, sub) = match f.split_once('.') {
                    Some((b, s)) => (b, Some(s)),
                    None => (f.as_str(), None),
                };
                let v = records::output_value(o, module, r, base, tz);
                let v = match (sub, v) {
                    (Some(s), v) => v.get(s).cloned().unwrap_or(Value::Null),
                    // COQL returns lookups as `{id}` only.
                    (None, Value::Object(obj)) if obj.contains_key("id") => {
                        json!({"id": obj["id"]})
                    }
                    (None, v) => v,
                };
                m.insert(f.clone(), v);
            }
            m.insert("id".into(), json!(r.id));
            Value::Object(m)
        })
        .collect();
    if page.is_empty() {
        return Ok(Resp::empty(StatusCode::NO_CONTENT).credits(credits));
    }
    let count = page.len();
    Ok(Resp::json(
        StatusCode::OK,
        json!({"data": page, "info": {"count": count, "more_records": rows.len() > offset + count}}),
    )
    .credits(credits))
}
