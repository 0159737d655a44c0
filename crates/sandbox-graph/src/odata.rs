//! OData pieces: `Prefer` headers, `$select`, `$filter` forms the emulator
//! supports, extended properties, opaque paging / delta tokens.

use std::collections::BTreeMap;

use base64::Engine;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::error::ApiError;
use crate::http::Ctx;

/// Parsed `Prefer` header values (graph-api.md §7).
#[derive(Debug, Default, Clone)]
pub(crate) struct Prefer {
    pub timezone: Option<String>,
    pub body_type: Option<String>,
    pub max_page_size: Option<usize>,
    pub immutable_id: bool,
}

impl Prefer {
    pub fn from(ctx: &Ctx) -> Self {
        let mut p = Prefer::default();
        for value in ctx.headers.get_all("prefer") {
            let Ok(text) = value.to_str() else { continue };
            for part in text.split(',') {
                let part = part.trim();
                let Some((k, v)) = part.split_once('=') else {
                    continue;
                };
                let v = v.trim().trim_matches('"').to_string();
                match k.trim().to_ascii_lowercase().as_str() {
                    "outlook.timezone" => p.timezone = Some(v),
                    "outlook.body-content-type" => p.body_type = Some(v.to_ascii_lowercase()),
                    "odata.maxpagesize" => p.max_page_size = v.parse().ok(),
                    "idtype" => p.immutable_id = v.eq_ignore_ascii_case("ImmutableId"),
                    _ => {}
                }
            }
        }
        p
    }

    /// `Preference-Applied` values for what was honoured.
    pub fn applied(&self, tz: bool, body: bool) -> Vec<String> {
        let mut out = Vec::new();
        if tz {
            if let Some(z) = self
                .timezone
                .as_ref()
                .filter(|z| crate::tz::resolve(z).is_some())
            {
                out.push(format!("outlook.timezone=\"{z}\""));
            }
        }
        if body {
            if let Some(b) = &self.body_type {
                out.push(format!("outlook.body-content-type=\"{b}\""));
            }
        }
        if self.immutable_id {
            out.push("IdType=\"ImmutableId\"".to_string());
        }
        out
    }
}

/// `$select` as a list of property names (None = all).
pub(crate) fn select(ctx: &Ctx) -> Option<Vec<String>> {
    ctx.q("$select").map(|s| {
        s.split(',')
            .map(|p| p.trim().to_string())
            .filter(|p| !p.is_empty())
            .collect()
    })
}

/// Keeps only selected properties (plus `id` and OData annotations).
pub(crate) fn apply_select(obj: &mut Map<String, Value>, select: &Option<Vec<String>>) {
    if let Some(sel) = select {
        obj.retain(|k, _| {
            k == "id" || k.starts_with('@') || sel.iter().any(|s| s.eq_ignore_ascii_case(k))
        });
    }
}

/// Normalises an extended property id for matching: the type and GUID are
/// case-insensitive, the `Name` part is case-sensitive.
pub(crate) fn ext_key(id: &str) -> String {
    let parts: Vec<&str> = id.trim().splitn(4, ' ').collect();
    match parts.as_slice() {
        [ty, guid, kind, name] => format!(
            "{} {} {} {}",
            ty.to_ascii_lowercase(),
            guid.to_ascii_lowercase(),
            kind.to_ascii_lowercase(),
            if kind.eq_ignore_ascii_case("id") {
                name.to_ascii_lowercase()
            } else {
                name.to_string()
            }
        ),
        _ => id.trim().to_ascii_lowercase(),
    }
}

/// Reads `singleValueExtendedProperties` from a create/patch body.
pub(crate) fn read_ext(body: &Map<String, Value>) -> Result<Vec<(String, String)>, ApiError> {
    let Some(v) = body.get("singleValueExtendedProperties") else {
        return Ok(Vec::new());
    };
    let arr = v.as_array().ok_or_else(|| {
        ApiError::bad_value("singleValueExtendedProperties", "a collection was expected")
    })?;
    let mut out = Vec::new();
    for p in arr {
        let id = p.get("id").and_then(Value::as_str);
        let value = p.get("value").and_then(Value::as_str);
        match (id, value) {
            (Some(id), Some(value)) if valid_ext_id(id) => {
                out.push((id.to_string(), value.to_string()))
            }
            _ => {
                return Err(ApiError::bad_request(
                    "ErrorInvalidProperty",
                    "The extended property id or value is invalid.",
                ))
            }
        }
    }
    Ok(out)
}

fn valid_ext_id(id: &str) -> bool {
    let parts: Vec<&str> = id.splitn(4, ' ').collect();
    match parts.as_slice() {
        [_, guid, kind, name] => {
            guid.starts_with('{')
                && guid.ends_with('}')
                && (kind.eq_ignore_ascii_case("name") || kind.eq_ignore_ascii_case("id"))
                && !name.is_empty()
        }
        [_, tag] => tag.starts_with("0x"),
        _ => false,
    }
}

/// Stores extended properties on an item (key = the id as written).
pub(crate) fn store_ext(ext: &mut BTreeMap<String, String>, props: Vec<(String, String)>) {
    for (id, value) in props {
        let key = ext_key(&id);
        ext.retain(|k, _| ext_key(k) != key);
        ext.insert(id, value);
    }
}

/// `$expand=singleValueExtendedProperties($filter=id eq '…')`: the ids asked for.
/// Ok(None) when there is no such expand.
pub(crate) fn expand_ext(ctx: &Ctx) -> Result<Option<Vec<String>>, ApiError> {
    let Some(expand) = ctx.q("$expand") else {
        return Ok(None);
    };
    let lower = expand.to_ascii_lowercase();
    if !lower.starts_with("singlevalueextendedproperties") {
        return Ok(None);
    }
    let Some(open) = expand.find("($filter=") else {
        return Err(ApiError::bad_request(
            "ErrorInvalidUrlQuery",
            "The $expand of singleValueExtendedProperties requires a $filter on id.",
        ));
    };
    let inner = expand[open + 9..].trim_end_matches(')');
    let mut ids = Vec::new();
    for clause in split_keyword(inner, " or ") {
        let c = clause.trim().trim_matches(|c| c == '(' || c == ')');
        let Some(rest) = strip_prefix_ci(c, "id eq ") else {
            return Err(ApiError::bad_request(
                "ErrorInvalidUrlQuery",
                "Unsupported $filter in $expand.",
            ));
        };
        ids.push(unquote(rest)?);
    }
    Ok(Some(ids))
}

/// Renders the expanded extended properties of an item into `obj`.
pub(crate) fn render_ext(
    obj: &mut Map<String, Value>,
    ext: &BTreeMap<String, String>,
    wanted: &[String],
    context: String,
) {
    let found: Vec<Value> = wanted
        .iter()
        .filter_map(|w| {
            let key = ext_key(w);
            ext.iter()
                .find(|(k, _)| ext_key(k) == key)
                .map(|(k, v)| serde_json::json!({"id": k, "value": v}))
        })
        .collect();
    if !found.is_empty() {
        obj.insert(
            "singleValueExtendedProperties@odata.context".into(),
            Value::from(context),
        );
        obj.insert("singleValueExtendedProperties".into(), Value::Array(found));
    }
}

/// A `$filter` the emulator understands.
#[derive(Debug, Clone)]
pub(crate) enum Filter {
    /// `singleValueExtendedProperties/Any(ep: ep/id eq 'X' and ep/value OP 'Y')`
    Ext {
        id: String,
        op: String,
        value: String,
    },
    /// `startswith(prop,'x')`
    StartsWith {
        prop: String,
        value: String,
    },
    /// `prop eq 'x'`
    /// `prop eq|ne|gt|ge|lt|le literal` (strings compare case-insensitively,
    /// ISO date-times compare in order).
    Cmp {
        prop: String,
        op: String,
        value: String,
    },
    Or(Vec<Filter>),
    And(Vec<Filter>),
}

fn strip_prefix_ci<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    if s.len() >= prefix.len() && s[..prefix.len()].eq_ignore_ascii_case(prefix) {
        Some(&s[prefix.len()..])
    } else {
        None
    }
}

fn unquote(s: &str) -> Result<String, ApiError> {
    let s = s.trim();
    if s.len() >= 2 && s.starts_with('\'') && s.ends_with('\'') {
        Ok(s[1..s.len() - 1].replace("''", "'"))
    } else {
        Err(ApiError::bad_request(
            "BadRequest",
            format!("Invalid filter clause: literal {s} must be quoted."),
        ))
    }
}

/// Splits on a keyword outside quotes and parentheses.
fn split_keyword<'a>(s: &'a str, kw: &str) -> Vec<&'a str> {
    let bytes = s.as_bytes();
    let lower = s.to_ascii_lowercase();
    let mut parts = Vec::new();
    let (mut depth, mut quoted, mut start, mut i) = (0i32, false, 0usize, 0usize);
    while i < bytes.len() {
        let c = bytes[i];
        if c == b'\'' {
            quoted = !quoted;
        } else if !quoted && c == b'(' {
            depth += 1;
        } else if !quoted && c == b')' {
            depth -= 1;
        } else if !quoted && depth == 0 && lower[i..].starts_with(kw) {
            parts.push(&s[start..i]);
            i += kw.len();
            start = i;
            continue;
        }
        i += 1;
    }
    parts.push(&s[start..]);
    parts
}

pub(crate) fn parse_filter(s: &str) -> Result<Filter, ApiError> {
    let s = s.trim();
    let ors = split_keyword(s, " or ");
    if ors.len() > 1 {
        return Ok(Filter::Or(
            ors.into_iter()
                .map(parse_filter)
                .collect::<Result<_, _>>()?,
        ));
    }
    let ands = split_keyword(s, " and ");
    if ands.len() > 1 {
        return Ok(Filter::And(
            ands.into_iter()
                .map(parse_filter)
                .collect::<Result<_, _>>()?,
        ));
    }
    if s.starts_with('(') && s.ends_with(')') {
        return parse_filter(&s[1..s.len() - 1]);
    }
    if let Some(rest) = strip_prefix_ci(s, "singleValueExtendedProperties/any(") {
        let inner = rest.trim_end_matches(')');
        let (var, cond) = inner.split_once(':').ok_or_else(invalid_filter)?;
        let var = var.trim();
        let mut id = None;
        let mut op_value = None;
        for clause in split_keyword(cond.trim(), " and ") {
            let clause = clause.trim();
            if let Some(r) = strip_prefix_ci(clause, &format!("{var}/id eq ")) {
                id = Some(unquote(r)?);
            } else if let Some(r) = strip_prefix_ci(clause, &format!("{var}/value ")) {
                let (op, lit) = r.trim().split_once(' ').ok_or_else(invalid_filter)?;
                op_value = Some((op.to_ascii_lowercase(), unquote(lit)?));
            } else if let Some(r) = strip_prefix_ci(clause, &format!("contains({var}/value,")) {
                op_value = Some(("contains".into(), unquote(r.trim_end_matches(')'))?));
            } else if let Some(r) = strip_prefix_ci(clause, &format!("startswith({var}/value,")) {
                op_value = Some(("startswith".into(), unquote(r.trim_end_matches(')'))?));
            } else {
                return Err(invalid_filter());
            }
        }
        let id = id.ok_or_else(invalid_filter)?;
        let (op, value) = op_value.ok_or_else(invalid_filter)?;
        return Ok(Filter::Ext { id, op, value });
    }
    if let Some(rest) = strip_prefix_ci(s, "startswith(") {
        let inner = rest.strip_suffix(')').ok_or_else(invalid_filter)?;
        let (prop, lit) = inner.split_once(',').ok_or_else(invalid_filter)?;
        return Ok(Filter::StartsWith {
            prop: prop.trim().to_string(),
            value: unquote(lit)?,
        });
    }
    let parts: Vec<&str> = s.splitn(3, ' ').collect();
    if let [prop, op, lit] = parts.as_slice() {
        let op = op.to_ascii_lowercase();
        if ["eq", "ne", "gt", "ge", "lt", "le"].contains(&op.as_str()) {
            let lit = lit.trim();
            let value = if lit.starts_with('\'') {
                unquote(lit)?
            } else if lit == "true" || lit == "false" || lit.parse::<f64>().is_ok() {
                lit.to_string()
            } else {
                return Err(invalid_filter());
            };
            return Ok(Filter::Cmp {
                prop: prop.to_string(),
                op,
                value,
            });
        }
    }
    Err(invalid_filter())
}

fn invalid_filter() -> ApiError {
    ApiError::bad_request("BadRequest", "Invalid filter clause")
}

/// Evaluates a filter against a rendered object and its extended properties.
pub(crate) fn matches(
    f: &Filter,
    obj: &Map<String, Value>,
    ext: &BTreeMap<String, String>,
) -> bool {
    match f {
        Filter::Or(v) => v.iter().any(|x| matches(x, obj, ext)),
        Filter::And(v) => v.iter().all(|x| matches(x, obj, ext)),
        Filter::Ext { id, op, value } => {
            let key = ext_key(id);
            ext.iter().any(|(k, v)| {
                if ext_key(k) != key {
                    return false;
                }
                let (a, b) = (v.to_lowercase(), value.to_lowercase());
                match op.as_str() {
                    "eq" => a == b,
                    "ne" => a != b,
                    "contains" => a.contains(&b),
                    "startswith" => a.starts_with(&b),
                    _ => false,
                }
            })
        }
        Filter::StartsWith { prop, value } => {
            prop_str(obj, prop).is_some_and(|s| s.to_lowercase().starts_with(&value.to_lowercase()))
        }
        Filter::Cmp { prop, op, value } => {
            let Some(actual) = prop_str(obj, prop) else {
                return op == "ne";
            };
            let (a, b) = (actual.to_lowercase(), value.to_lowercase());
            let ord = match (a.parse::<f64>(), b.parse::<f64>()) {
                (Ok(x), Ok(y)) => x.partial_cmp(&y).unwrap_or(std::cmp::Ordering::Equal),
                _ => a.cmp(&b),
            };
            match op.as_str() {
                "eq" => ord.is_eq(),
                "ne" => !ord.is_eq(),
                "gt" => ord.is_gt(),
                "ge" => ord.is_ge(),
                "lt" => ord.is_lt(),
                _ => ord.is_le(),
            }
        }
    }
}

pub(crate) fn prop_str(obj: &Map<String, Value>, path: &str) -> Option<String> {
    let mut cur: Option<&Value> = None;
    for (i, part) in path.split('/').enumerate() {
        let next = if i == 0 {
            obj.iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(part))
                .map(|(_, v)| v)
        } else {
            cur.and_then(Value::as_object).and_then(|o| {
                o.iter()
                    .find(|(k, _)| k.eq_ignore_ascii_case(part))
                    .map(|(_, v)| v)
            })
        };
        cur = Some(next?);
    }
    match cur? {
        Value::String(s) => Some(s.clone()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// State carried by opaque `$skiptoken` / `$deltatoken` values.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct DeltaState {
    /// What the token tracks, e.g. "contacts:{folderId}".
    pub scope: String,
    /// Changes after this sequence number are reported.
    pub since: u64,
    /// Upper bound of the current round (set on skip tokens).
    #[serde(default)]
    pub upto: Option<u64>,
    #[serde(default)]
    pub offset: usize,
    pub epoch: u64,
    #[serde(default)]
    pub select: Option<Vec<String>>,
    #[serde(default)]
    pub page_size: Option<usize>,
    /// calendarView window (RFC 3339).
    #[serde(default)]
    pub window: Option<(String, String)>,
}

pub(crate) fn encode_token<T: Serialize>(state: &T) -> String {
    let json = serde_json::to_vec(state).unwrap_or_default();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(json)
}

pub(crate) fn decode_token<T: for<'de> Deserialize<'de>>(token: &str) -> Option<T> {
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(token.trim())
        .ok()?;
    serde_json::from_slice(&bytes).ok()
}

pub(crate) fn sync_state_not_found(epoch: u64, current: u64) -> ApiError {
    ApiError::new(
        axum::http::StatusCode::GONE,
        "SyncStateNotFound",
        format!("The sync state generation is not found; generation={epoch};[highest={current}]"),
    )
}

/// Builds a URL from the service base, a path and query pairs.
pub(crate) fn link(base: &str, path: &str, pairs: &[(&str, String)]) -> String {
    let mut s = format!("{base}{path}");
    for (i, (k, v)) in pairs.iter().enumerate() {
        s.push(if i == 0 { '?' } else { '&' });
        s.push_str(k);
        s.push('=');
        s.push_str(&urlencoding::encode(v));
    }
    s
}
