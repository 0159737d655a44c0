//! Users, sendMail, contact folders and contacts, To Do lists and tasks,
//! and the generic delta engine they share.

use axum::http::{Method, StatusCode};
use serde_json::{json, Map, Value};

use crate::error::ApiError;
use crate::http::{context, only, Ctx, Out};
use crate::odata::{self, DeltaState, Prefer};
use crate::store::{Data, Item, Kind, Mailbox, User};
use crate::tz;

// ---------------------------------------------------------------- users

/// Returned only when selected (not in the default property set).
const EXTRA_USER_FIELDS: &[&str] = &["accountEnabled", "userType"];

/// Drops the non-default properties unless `$select` names them.
fn default_user_set(u: &mut Map<String, Value>, select: &Option<Vec<String>>) {
    if select.is_none() {
        u.retain(|k, _| !EXTRA_USER_FIELDS.contains(&k.as_str()));
    }
}

const BASIC_USER_FIELDS: &[&str] = &[
    "displayName",
    "givenName",
    "surname",
    "mail",
    "userPrincipalName",
    "id",
];

pub(crate) fn render_user(u: &User) -> Map<String, Value> {
    let v = json!({
        "businessPhones": u.business_phones,
        "displayName": u.display_name,
        "givenName": u.given_name,
        "jobTitle": u.job_title,
        "mail": u.mail,
        "mobilePhone": u.mobile_phone,
        "officeLocation": u.office_location,
        "preferredLanguage": u.preferred_language,
        "surname": u.surname,
        "userPrincipalName": u.user_principal_name,
        "id": u.id,
        "accountEnabled": true,
        "userType": "Member",
    });
    match v {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

pub(crate) fn get_user(data: &Data, ctx: &Ctx, uid: &str, own: bool) -> Result<Out, ApiError> {
    only(&ctx.method, &[Method::GET])?;
    if own {
        ctx.require_scope(&[
            "User.Read",
            "User.ReadWrite",
            "User.ReadBasic.All",
            "User.Read.All",
            "Directory.Read.All",
        ])?;
    } else {
        require_directory(ctx)?;
    }
    let user = data
        .users
        .iter()
        .find(|u| u.id == uid)
        .ok_or_else(ApiError::not_found)?;
    let mut obj = render_user(user);
    if !own && !ctx.has_scope(&["User.Read.All", "Directory.Read.All"]) {
        obj.retain(|k, _| BASIC_USER_FIELDS.contains(&k.as_str()));
    }
    let select = odata::select(ctx);
    default_user_set(&mut obj, &select);
    odata::apply_select(&mut obj, &select);
    let mut out = Map::new();
    out.insert(
        "@odata.context".into(),
        Value::from(context(ctx, "users/$entity")),
    );
    out.extend(obj);
    Ok(Out::json(StatusCode::OK, Value::Object(out)))
}

fn require_directory(ctx: &Ctx) -> Result<(), ApiError> {
    if ctx.has_scope(&["User.ReadBasic.All", "User.Read.All", "Directory.Read.All"]) {
        Ok(())
    } else {
        Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "Authorization_RequestDenied",
            "Insufficient privileges to complete the operation.",
        ))
    }
}

#[derive(serde::Serialize, serde::Deserialize)]
struct UserPage {
    offset: usize,
    query: Vec<(String, String)>,
}

/// `GET /users` with `$select`, `$top`, `$filter=startswith(...)`,
/// `$search` (needs `ConsistencyLevel: eventual`), `$count`, `$orderby`.
pub(crate) fn list_users(data: &Data, ctx: &Ctx) -> Result<Out, ApiError> {
    only(&ctx.method, &[Method::GET])?;
    require_directory(ctx)?;
    let (offset, query): (usize, std::collections::BTreeMap<String, String>) =
        match ctx.q("$skiptoken") {
            Some(tok) => {
                let page: UserPage = odata::decode_token(tok).ok_or_else(|| {
                    ApiError::bad_request("Request_BadRequest", "Invalid $skiptoken.")
                })?;
                (page.offset, page.query.into_iter().collect())
            }
            None => (0, ctx.query.clone()),
        };
    let eventual = ctx
        .header("consistencylevel")
        .is_some_and(|v| v.eq_ignore_ascii_case("eventual"));
    let mut users: Vec<Map<String, Value>> = data.users.iter().map(render_user).collect();
    if let Some(f) = query.get("$filter") {
        let filter = odata::parse_filter(f).map_err(|_| {
            ApiError::bad_request(
                "Request_UnsupportedQuery",
                "Unsupported or invalid query filter clause specified for property.",
            )
        })?;
        users.retain(|u| odata::matches(&filter, u, &Default::default()));
    }
    if let Some(s) = query.get("$search") {
        if !eventual {
            return Err(ApiError::bad_request(
                "Request_BadRequest",
                "Request with $search query parameter only works through MSGraph with a special request header: 'ConsistencyLevel: eventual'",
            ));
        }
        let s = s.trim().trim_matches('"');
        let (props, term): (Vec<&str>, &str) = match s.split_once(':') {
            Some((p, t)) => (vec![p], t),
            None => (
                vec![
                    "displayName",
                    "mail",
                    "userPrincipalName",
                    "givenName",
                    "surname",
                ],
                s,
            ),
        };
        let term = term.to_lowercase();
        users.retain(|u| {
            props.iter().any(|p| {
                u.iter()
                    .find(|(k, _)| k.eq_ignore_ascii_case(p))
                    .and_then(|(_, v)| v.as_str())
                    .is_some_and(|v| {
                        v.to_lowercase()
                            .split(|c: char| c.is_whitespace() || c == '.' || c == '@' || c == '_')
                            .any(|w| w.starts_with(&term))
                            || v.to_lowercase().starts_with(&term)
                    })
            })
        });
    }
    if let Some(order) = query.get("$orderby") {
        let prop = order
            .split_whitespace()
            .next()
            .unwrap_or("displayName")
            .to_string();
        users.sort_by(|a, b| {
            let ka = a
                .get(&prop)
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_lowercase();
            let kb = b
                .get(&prop)
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_lowercase();
            ka.cmp(&kb)
        });
    }
    let count = users.len();
    let top: usize = match query.get("$top") {
        Some(t) => match t.parse::<usize>() {
            Ok(n) if (1..=999).contains(&n) => n,
            _ => {
                return Err(ApiError::bad_request(
                    "Request_UnsupportedQuery",
                    "Invalid page size specified: '".to_string()
                        + t
                        + "'. Must be between 1 and 999 inclusive.",
                ))
            }
        },
        None => 100,
    };
    let basic_only = !ctx.has_scope(&["User.Read.All", "Directory.Read.All"]);
    let select: Option<Vec<String>> = query
        .get("$select")
        .map(|s| s.split(',').map(|x| x.trim().to_string()).collect());
    let page: Vec<Value> = users
        .into_iter()
        .skip(offset)
        .take(top)
        .map(|mut u| {
            if basic_only {
                u.retain(|k, _| BASIC_USER_FIELDS.contains(&k.as_str()));
            }
            default_user_set(&mut u, &select);
            odata::apply_select(&mut u, &select);
            Value::Object(u)
        })
        .collect();
    let mut body = Map::new();
    body.insert("@odata.context".into(), Value::from(context(ctx, "users")));
    if query.get("$count").is_some_and(|c| c == "true") && offset == 0 {
        body.insert("@odata.count".into(), Value::from(count));
    }
    if offset + page.len() < count {
        let token = odata::encode_token(&UserPage {
            offset: offset + page.len(),
            query: query
                .iter()
                .filter(|(k, _)| k.as_str() != "$skiptoken")
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        });
        body.insert(
            "@odata.nextLink".into(),
            Value::from(odata::link(&ctx.base, "/users", &[("$skiptoken", token)])),
        );
    }
    body.insert("value".into(), Value::Array(page));
    Ok(Out::json(StatusCode::OK, Value::Object(body)))
}

/// `POST /me/sendMail` → 202; the message lands in each recipient's mailbox.
pub(crate) fn send_mail(data: &mut Data, ctx: &Ctx, uid: &str) -> Result<Out, ApiError> {
    ctx.require_scope(&["Mail.Send"])?;
    let body = ctx.json_body()?;
    let msg = body
        .get("message")
        .and_then(Value::as_object)
        .ok_or_else(|| {
            ApiError::bad_request(
                "ErrorInvalidParameter",
                "The value of the parameter 'Message' is empty.",
            )
        })?;
    let mut recipients = Vec::new();
    for key in ["toRecipients", "ccRecipients", "bccRecipients"] {
        if let Some(list) = msg.get(key) {
            let list = list
                .as_array()
                .ok_or_else(|| ApiError::bad_value(key, "a collection was expected"))?;
            for r in list {
                let addr = r
                    .pointer("/emailAddress/address")
                    .and_then(Value::as_str)
                    .filter(|a| a.contains('@'))
                    .ok_or_else(|| ApiError::bad_request("ErrorInvalidRecipients", "At least one recipient isn't valid., A message can't be sent because it contains no recipients."))?;
                recipients.push(addr.to_string());
            }
        }
    }
    if recipients.is_empty() {
        return Err(ApiError::bad_request(
            "ErrorInvalidRecipients",
            "At least one recipient isn't valid., A message can't be sent because it contains no recipients.",
        ));
    }
    let sender = data
        .users
        .iter()
        .find(|u| u.id == uid)
        .cloned()
        .ok_or_else(ApiError::not_found)?;
    let record = json!({
        "id": crate::store::new_guid(),
        "sentDateTime": tz::format_utc_stamp(ctx.now),
        "from": {"emailAddress": {"name": sender.display_name, "address": sender.mail.clone().unwrap_or(sender.user_principal_name.clone())}},
        "subject": msg.get("subject").cloned().unwrap_or(Value::Null),
        "body": msg.get("body").cloned().unwrap_or(Value::Null),
        "toRecipients": msg.get("toRecipients").cloned().unwrap_or(json!([])),
        "ccRecipients": msg.get("ccRecipients").cloned().unwrap_or(json!([])),
        "bccRecipients": msg.get("bccRecipients").cloned().unwrap_or(json!([])),
        "saveToSentItems": body.get("saveToSentItems").cloned().unwrap_or(Value::Bool(true)),
    });
    for addr in &recipients {
        if let Some(target) = data.find_user(addr).map(|u| u.id.clone()) {
            if let Some(mb) = data.mailboxes.get_mut(&target) {
                mb.inbox.push(record.clone());
            }
        }
    }
    if let Some(mb) = data.mailboxes.get_mut(uid) {
        mb.sent.push(record);
    }
    Ok(Out {
        status: StatusCode::ACCEPTED,
        headers: Vec::new(),
        body: None,
    })
}

// ---------------------------------------------------------------- shared helpers

pub(crate) fn mailbox<'a>(data: &'a mut Data, uid: &str) -> Result<&'a mut Mailbox, ApiError> {
    data.mailboxes.get_mut(uid).ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "MailboxNotEnabledForRESTAPI",
            "The mailbox is either inactive, soft-deleted, or is hosted on-premise.",
        )
    })
}

pub(crate) fn etag(item: &Item) -> String {
    format!("W/\"{}\"", item.change_key)
}

/// `If-Match` against the item's change key → 412 `ErrorIrresolvableConflict`.
pub(crate) fn check_if_match(ctx: &Ctx, item: &Item) -> Result<(), ApiError> {
    if let Some(v) = ctx.header("if-match") {
        let v = v.trim();
        if v != "*"
            && v != etag(item)
            && v.trim_start_matches("W/").trim_matches('"') != item.change_key
        {
            return Err(ApiError::new(
                StatusCode::PRECONDITION_FAILED,
                "ErrorIrresolvableConflict",
                "The send or update operation could not be performed because the change key passed in the request does not match the current change key for the item.",
            ));
        }
    }
    Ok(())
}

fn want_str(name: &str, v: &Value) -> Result<Value, ApiError> {
    match v {
        Value::Null | Value::String(_) => Ok(v.clone()),
        _ => Err(ApiError::bad_value(name, "a string was expected")),
    }
}

fn want_str_array(name: &str, v: &Value) -> Result<Value, ApiError> {
    match v {
        Value::Null => Ok(json!([])),
        Value::Array(a) if a.iter().all(Value::is_string) => Ok(v.clone()),
        _ => Err(ApiError::bad_value(
            name,
            "a collection of strings was expected",
        )),
    }
}

fn want_bool(name: &str, v: &Value) -> Result<Value, ApiError> {
    match v {
        Value::Bool(_) => Ok(v.clone()),
        _ => Err(ApiError::bad_value(name, "a boolean was expected")),
    }
}

pub(crate) fn want_enum(name: &str, v: &Value, allowed: &[&str]) -> Result<Value, ApiError> {
    let s = v
        .as_str()
        .ok_or_else(|| ApiError::bad_value(name, "a string was expected"))?;
    allowed
        .iter()
        .find(|a| a.eq_ignore_ascii_case(s))
        .map(|a| Value::from(*a))
        .ok_or_else(|| {
            ApiError::bad_request(
                "RequestBodyRead",
                format!("Requested value '{s}' was not found."),
            )
        })
}

fn want_address(name: &str, v: &Value) -> Result<Value, ApiError> {
    match v {
        Value::Null => Ok(json!({})),
        Value::Object(o) => {
            for (k, val) in o {
                if !["street", "city", "state", "countryOrRegion", "postalCode"]
                    .contains(&k.as_str())
                {
                    return Err(ApiError::unknown_property(k, "physicalAddress"));
                }
                want_str(k, val)?;
            }
            Ok(Value::Object(
                o.iter()
                    .filter(|(_, v)| !v.is_null())
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect(),
            ))
        }
        _ => Err(ApiError::bad_value(name, "an object was expected")),
    }
}

/// Renders an item with an optional `$select`.
pub(crate) type RenderSelected<'a> = dyn Fn(&Item, &Option<Vec<String>>) -> Map<String, Value> + 'a;

/// One page of a delta round over `kind` items in `container`.
#[allow(clippy::too_many_arguments)]
pub(crate) fn delta_page(
    mb: &Mailbox,
    ctx: &Ctx,
    scope: &str,
    kind: Kind,
    container: Option<&str>,
    path: &str,
    odata_type: &str,
    context_fragment: &str,
    render: &RenderSelected<'_>,
) -> Result<Out, ApiError> {
    let prefer = Prefer::from(ctx);
    let state = delta_state(mb, ctx, scope, &prefer)?;
    let upto = state.upto.unwrap_or(mb.seq);
    let in_scope = |k: Kind, c: &str| k == kind && container.is_none_or(|want| want == c);
    /// A change waiting to be rendered (only the page is rendered).
    enum Change<'a> {
        Item(&'a Item),
        Removed(&'a str),
    }
    let mut changes: Vec<(u64, Change)> = mb
        .items
        .iter()
        .filter(|i| in_scope(i.kind, &i.container) && i.seq > state.since && i.seq <= upto)
        .filter(|i| !(kind == Kind::ContactFolder && i.id == mb.default_contact_folder))
        .map(|i| (i.seq, Change::Item(i)))
        .collect();
    if state.since > 0 {
        changes.extend(
            mb.tombstones
                .iter()
                .filter(|t| in_scope(t.kind, &t.container) && t.seq > state.since && t.seq <= upto)
                .map(|t| (t.seq, Change::Removed(t.id.as_str()))),
        );
    }
    changes.sort_by_key(|(s, _)| *s);
    let select = state.select.clone();
    let odata_type = format!("#microsoft.graph.{odata_type}");
    let render_change = |(_, c): (u64, Change)| match c {
        Change::Item(i) => {
            let mut obj = Map::new();
            obj.insert("@odata.type".into(), Value::from(odata_type.clone()));
            obj.extend(render(i, &select));
            Value::Object(obj)
        }
        Change::Removed(id) => {
            json!({"@odata.type": odata_type, "id": id, "@removed": {"reason": "deleted"}})
        }
    };
    finish_delta(
        ctx,
        state,
        upto,
        changes,
        render_change,
        path,
        context_fragment,
        100,
    )
}

pub(crate) fn delta_state(
    mb: &Mailbox,
    ctx: &Ctx,
    scope: &str,
    prefer: &Prefer,
) -> Result<DeltaState, ApiError> {
    let token = ctx.q("$skiptoken").or_else(|| ctx.q("$deltatoken"));
    let state = match token {
        Some(t) => odata::decode_token::<DeltaState>(t).ok_or_else(|| {
            ApiError::new(
                StatusCode::GONE,
                "SyncStateInvalid",
                "The sync state is invalid or unreadable.",
            )
        })?,
        None => DeltaState {
            scope: scope.to_string(),
            since: 0,
            upto: None,
            offset: 0,
            epoch: mb.delta_epoch,
            select: odata::select(ctx),
            page_size: prefer.max_page_size,
            window: None,
        },
    };
    if state.scope != scope {
        return Err(ApiError::new(
            StatusCode::GONE,
            "SyncStateInvalid",
            "The sync state does not belong to this collection.",
        ));
    }
    if state.epoch != mb.delta_epoch {
        // A fresh (token-less) delta URL for the client to restart from.
        let mut pairs: Vec<(&str, String)> = Vec::new();
        if let Some((s, e)) = &state.window {
            pairs.push(("startDateTime", s.clone()));
            pairs.push(("endDateTime", e.clone()));
        }
        let path = ctx
            .segs
            .iter()
            .map(|s| urlencoding::encode(s).into_owned())
            .collect::<Vec<_>>()
            .join("/");
        return Err(
            odata::sync_state_not_found(state.epoch, mb.delta_epoch).with_header(
                "Location",
                odata::link(&ctx.base, &format!("/{path}"), &pairs),
            ),
        );
    }
    Ok(state)
}

/// Cuts the change list into the page the state asks for, with the
/// nextLink (`$skiptoken`) or the deltaLink (`$deltatoken`).
#[allow(clippy::too_many_arguments)]
pub(crate) fn finish_delta<T>(
    ctx: &Ctx,
    state: DeltaState,
    upto: u64,
    changes: Vec<T>,
    render: impl Fn(T) -> Value,
    path: &str,
    context_fragment: &str,
    default_page: usize,
) -> Result<Out, ApiError> {
    let prefer = Prefer::from(ctx);
    let page_size = prefer
        .max_page_size
        .or(state.page_size)
        .unwrap_or(default_page)
        .clamp(1, 1000);
    let total = changes.len();
    let page: Vec<Value> = changes
        .into_iter()
        .skip(state.offset)
        .take(page_size)
        .map(render)
        .collect();
    let mut body = Map::new();
    body.insert(
        "@odata.context".into(),
        Value::from(context(ctx, context_fragment)),
    );
    let consumed = state.offset + page.len();
    if consumed < total {
        let next = DeltaState {
            upto: Some(upto),
            offset: consumed,
            ..state
        };
        body.insert(
            "@odata.nextLink".into(),
            Value::from(odata::link(
                &ctx.base,
                path,
                &[("$skiptoken", odata::encode_token(&next))],
            )),
        );
    } else {
        let next = DeltaState {
            since: upto,
            upto: None,
            offset: 0,
            ..state
        };
        body.insert(
            "@odata.deltaLink".into(),
            Value::from(odata::link(
                &ctx.base,
                path,
                &[("$deltatoken", odata::encode_token(&next))],
            )),
        );
    }
    body.insert("value".into(), Value::Array(page));
    let mut out = Out::json(StatusCode::OK, Value::Object(body))
        .header("Preference-Applied", "odata.track-changes");
    if let Some(n) = prefer.max_page_size {
        out = out.header("Preference-Applied", format!("odata.maxpagesize={n}"));
    }
    Ok(out)
}

/// A collection answer `{@odata.context, value}` with optional `$top` paging.
pub(crate) fn collection(
    ctx: &Ctx,
    fragment: &str,
    path: &str,
    values: Vec<Value>,
) -> Result<Out, ApiError> {
    let top = match ctx.q("$top") {
        Some(t) => t
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=1000).contains(n))
            .ok_or_else(|| {
                ApiError::bad_request(
                    "ErrorInvalidUrlQuery",
                    "The value of $top must be between 1 and 1000.",
                )
            })?,
        None => Prefer::from(ctx).max_page_size.unwrap_or(10).clamp(1, 1000),
    };
    let skip: usize = ctx.q("$skip").and_then(|s| s.parse().ok()).unwrap_or(0);
    let total = values.len();
    let page: Vec<Value> = values.into_iter().skip(skip).take(top).collect();
    let mut body = Map::new();
    body.insert("@odata.context".into(), Value::from(context(ctx, fragment)));
    if skip + page.len() < total {
        let mut pairs: Vec<(&str, String)> = ctx
            .query
            .iter()
            .filter(|(k, _)| k.as_str() != "$skip" && k.as_str() != "$top")
            .map(|(k, v)| (k.as_str(), v.clone()))
            .collect();
        pairs.push(("$top", top.to_string()));
        pairs.push(("$skip", (skip + page.len()).to_string()));
        body.insert(
            "@odata.nextLink".into(),
            Value::from(odata::link(&ctx.base, path, &pairs)),
        );
    }
    body.insert("value".into(), Value::Array(page));
    Ok(Out::json(StatusCode::OK, Value::Object(body)))
}

/// Renders an entity answer with its `@odata.context`.
pub(crate) fn entity(
    ctx: &Ctx,
    status: StatusCode,
    fragment: &str,
    obj: Map<String, Value>,
) -> Out {
    let mut body = Map::new();
    body.insert("@odata.context".into(), Value::from(context(ctx, fragment)));
    body.extend(obj);
    Out::json(status, Value::Object(body))
}

/// Filters + renders a list of items (`$filter`, `$expand` of extended props, `$select`).
pub(crate) fn list_items(
    ctx: &Ctx,
    items: Vec<&Item>,
    render: &dyn Fn(&Item) -> Map<String, Value>,
    ext_context: &dyn Fn(&Item) -> String,
) -> Result<Vec<Value>, ApiError> {
    let filter = ctx.q("$filter").map(odata::parse_filter).transpose()?;
    let expand = odata::expand_ext(ctx)?;
    let select = odata::select(ctx);
    let mut kept: Vec<(&Item, Map<String, Value>)> = Vec::new();
    for item in items {
        let obj = render(item);
        if let Some(f) = &filter {
            if !odata::matches(f, &obj, &item.ext) {
                continue;
            }
        }
        kept.push((item, obj));
    }
    // `$orderby=prop[ asc|desc]` (first key only).
    if let Some(order) = ctx.q("$orderby") {
        let first = order.split(',').next().unwrap_or("").trim();
        let mut parts = first.split_whitespace();
        let prop = parts.next().unwrap_or("").to_string();
        let desc = parts.next().is_some_and(|d| d.eq_ignore_ascii_case("desc"));
        kept.sort_by(|(_, a), (_, b)| {
            let ka = odata::prop_str(a, &prop).unwrap_or_default().to_lowercase();
            let kb = odata::prop_str(b, &prop).unwrap_or_default().to_lowercase();
            if desc {
                kb.cmp(&ka)
            } else {
                ka.cmp(&kb)
            }
        });
    }
    let mut out = Vec::new();
    for (item, mut obj) in kept {
        odata::apply_select(&mut obj, &select);
        if let Some(ids) = &expand {
            odata::render_ext(&mut obj, &item.ext, ids, ext_context(item));
        }
        out.push(Value::Object(obj));
    }
    Ok(out)
}

// ---------------------------------------------------------------- contacts

const CONTACT_STRINGS: &[&str] = &[
    "fileAs",
    "displayName",
    "givenName",
    "initials",
    "middleName",
    "nickName",
    "surname",
    "title",
    "yomiGivenName",
    "yomiSurname",
    "yomiCompanyName",
    "generation",
    "jobTitle",
    "companyName",
    "department",
    "officeLocation",
    "profession",
    "businessHomePage",
    "assistantName",
    "manager",
    "mobilePhone",
    "spouseName",
    "personalNotes",
];
const CONTACT_ARRAYS: &[&str] = &[
    "imAddresses",
    "homePhones",
    "businessPhones",
    "children",
    "categories",
];
const CONTACT_ADDRESSES: &[&str] = &["homeAddress", "businessAddress", "otherAddress"];

/// The field order of the documented contact (contact-get.md).
const CONTACT_ORDER: &[&str] = &[
    "createdDateTime",
    "lastModifiedDateTime",
    "changeKey",
    "categories",
    "parentFolderId",
    "birthday",
    "fileAs",
    "displayName",
    "givenName",
    "initials",
    "middleName",
    "nickName",
    "surname",
    "title",
    "yomiGivenName",
    "yomiSurname",
    "yomiCompanyName",
    "generation",
    "imAddresses",
    "jobTitle",
    "companyName",
    "department",
    "officeLocation",
    "profession",
    "businessHomePage",
    "assistantName",
    "manager",
    "homePhones",
    "mobilePhone",
    "businessPhones",
    "spouseName",
    "personalNotes",
    "children",
    "emailAddresses",
    "homeAddress",
    "businessAddress",
    "otherAddress",
];

fn contact_write(
    fields: &mut Map<String, Value>,
    body: &Map<String, Value>,
    creating: bool,
) -> Result<(), ApiError> {
    let explicit_name = body.contains_key("displayName");
    let mut name_parts_changed = false;
    for (k, v) in body {
        let key = k.as_str();
        if key.starts_with('@') || key == "singleValueExtendedProperties" || key == "id" {
            continue;
        }
        if CONTACT_STRINGS.contains(&key) {
            fields.insert(k.clone(), want_str(key, v)?);
            if ["givenName", "middleName", "surname", "companyName"].contains(&key) {
                name_parts_changed = true;
            }
        } else if CONTACT_ARRAYS.contains(&key) {
            let arr = want_str_array(key, v)?;
            let n = arr.as_array().map_or(0, Vec::len);
            let max = match key {
                "businessPhones" => Some(("BusinessPhones", 2)),
                "homePhones" => Some(("HomePhones", 2)),
                _ => None,
            };
            if let Some((label, max)) = max {
                if n > max {
                    return Err(ApiError::bad_request(
                        "ErrorInvalidArgument",
                        format!("The multi value property {label} has {n} entries, that exceeds the max allowed value of {max}"),
                    ));
                }
            }
            fields.insert(k.clone(), arr);
        } else if CONTACT_ADDRESSES.contains(&key) {
            fields.insert(k.clone(), want_address(key, v)?);
        } else if key == "emailAddresses" {
            let arr = match v {
                Value::Null => vec![],
                Value::Array(a) => a.clone(),
                _ => return Err(ApiError::bad_value(key, "a collection was expected")),
            };
            if arr.len() > 3 {
                return Err(ApiError::bad_request(
                    "ErrorInvalidArgument",
                    format!("The multi value property EmailAddresses has {} entries, that exceeds the max allowed value of 3", arr.len()),
                ));
            }
            let mut norm = Vec::new();
            for e in arr {
                let o = e.as_object().ok_or_else(|| {
                    ApiError::bad_value(key, "an emailAddress object was expected")
                })?;
                for (ek, ev) in o {
                    if ek != "name" && ek != "address" {
                        return Err(ApiError::unknown_property(ek, "emailAddress"));
                    }
                    want_str(ek, ev)?;
                }
                let address = o.get("address").cloned().unwrap_or(Value::Null);
                let name = o
                    .get("name")
                    .cloned()
                    .filter(|n| !n.is_null())
                    .unwrap_or_else(|| address.clone());
                norm.push(json!({"name": name, "address": address}));
            }
            fields.insert(k.clone(), Value::Array(norm));
        } else if key == "birthday" {
            match v {
                Value::Null => {
                    fields.insert(k.clone(), Value::Null);
                }
                Value::String(s) => {
                    let stamp = match chrono::DateTime::parse_from_rfc3339(s) {
                        Ok(t) => t
                            .with_timezone(&chrono::Utc)
                            .format("%Y-%m-%dT%H:%M:%SZ")
                            .to_string(),
                        Err(_) => chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d")
                            .map(|d| format!("{}T00:00:00Z", d.format("%Y-%m-%d")))
                            .map_err(|_| {
                                ApiError::bad_value(key, "an Edm.DateTimeOffset was expected")
                            })?,
                    };
                    fields.insert(k.clone(), Value::from(stamp));
                }
                _ => {
                    return Err(ApiError::bad_value(
                        key,
                        "an Edm.DateTimeOffset was expected",
                    ))
                }
            }
        } else if [
            "createdDateTime",
            "lastModifiedDateTime",
            "changeKey",
            "parentFolderId",
            "extensions",
        ]
        .contains(&key)
        {
            // Read-only properties are ignored on write.
        } else {
            return Err(ApiError::unknown_property(key, "contact"));
        }
    }
    // displayName is regenerated from the name parts unless sent explicitly.
    if !explicit_name && (creating || name_parts_changed) {
        let get = |k: &str| {
            fields
                .get(k)
                .and_then(Value::as_str)
                .unwrap_or("")
                .trim()
                .to_string()
        };
        let parts: Vec<String> = ["givenName", "middleName", "surname"]
            .iter()
            .map(|k| get(k))
            .filter(|s| !s.is_empty())
            .collect();
        let name = if !parts.is_empty() {
            parts.join(" ")
        } else if !get("companyName").is_empty() {
            get("companyName")
        } else {
            fields
                .get("emailAddresses")
                .and_then(|e| e.pointer("/0/address"))
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string()
        };
        fields.insert("displayName".into(), Value::from(name));
    }
    Ok(())
}

pub(crate) fn render_contact(item: &Item) -> Map<String, Value> {
    let mut obj = Map::new();
    obj.insert("@odata.etag".into(), Value::from(etag(item)));
    obj.insert("id".into(), Value::from(item.id.clone()));
    for key in CONTACT_ORDER {
        let v = match *key {
            "createdDateTime" => Value::from(tz::format_utc_stamp(item.created)),
            "lastModifiedDateTime" => Value::from(tz::format_utc_stamp(item.modified)),
            "changeKey" => Value::from(item.change_key.clone()),
            "parentFolderId" => Value::from(item.container.clone()),
            k if CONTACT_ARRAYS.contains(&k) || k == "emailAddresses" => {
                item.fields.get(k).cloned().unwrap_or(json!([]))
            }
            k if CONTACT_ADDRESSES.contains(&k) => item.fields.get(k).cloned().unwrap_or(json!({})),
            "fileAs" => item
                .fields
                .get("fileAs")
                .cloned()
                .unwrap_or(Value::from("")),
            k => item.fields.get(k).cloned().unwrap_or(Value::Null),
        };
        obj.insert((*key).to_string(), v);
    }
    obj
}

pub(crate) fn render_folder(item: &Item) -> Map<String, Value> {
    let mut obj = Map::new();
    obj.insert("id".into(), Value::from(item.id.clone()));
    obj.insert(
        "displayName".into(),
        item.fields
            .get("displayName")
            .cloned()
            .unwrap_or(Value::Null),
    );
    obj.insert("parentFolderId".into(), Value::from(item.container.clone()));
    obj
}

fn uid_path(ctx: &Ctx, uid: &str) -> String {
    if ctx.grant.user_id == uid
        && ctx
            .segs
            .first()
            .is_some_and(|s| s.eq_ignore_ascii_case("me"))
    {
        "/me".to_string()
    } else {
        format!("/users/{uid}")
    }
}

fn is_delta(s: &str) -> bool {
    s.eq_ignore_ascii_case("delta") || s.eq_ignore_ascii_case("delta()")
}

pub(crate) fn route_contacts(
    data: &mut Data,
    ctx: &Ctx,
    uid: &str,
    rest: &[&str],
) -> Result<Out, ApiError> {
    let base = uid_path(ctx, uid);
    let mb = mailbox(data, uid)?;
    let m = ctx.method.clone();
    let folders = |s: &str| s.eq_ignore_ascii_case("contactFolders");
    let contacts = |s: &str| s.eq_ignore_ascii_case("contacts");
    match rest {
        [f] if folders(f) => match m {
            Method::GET => {
                let items: Vec<&Item> = mb
                    .items
                    .iter()
                    .filter(|i| {
                        i.kind == Kind::ContactFolder && i.container == mb.default_contact_folder
                    })
                    .collect();
                let values = list_items(ctx, items, &render_folder, &|i| {
                    ext_ctx(ctx, &base, "contactFolders", &i.id)
                })?;
                collection(
                    ctx,
                    &format!("users('{uid}')/contactFolders"),
                    &format!("{base}/contactFolders"),
                    values,
                )
            }
            Method::POST => {
                let parent = mb.default_contact_folder.clone();
                create_folder(mb, ctx, &parent, uid)
            }
            _ => Err(ApiError::method_not_allowed()),
        },
        [f, d] if folders(f) && is_delta(d) => {
            only(&m, &[Method::GET])?;
            delta_page(
                mb,
                ctx,
                "contactFolders",
                Kind::ContactFolder,
                None,
                &format!("{base}/contactFolders/delta"),
                "contactFolder",
                "Collection(contactFolder)",
                &|i, sel| {
                    let mut o = render_folder(i);
                    odata::apply_select(&mut o, sel);
                    o
                },
            )
        }
        [f, id] if folders(f) => {
            let item = mb
                .get_kind(id, Kind::ContactFolder)
                .ok_or_else(ApiError::not_found)?
                .clone();
            match m {
                Method::GET => {
                    let mut obj = render_folder(&item);
                    if let Some(ids) = odata::expand_ext(ctx)? {
                        odata::render_ext(
                            &mut obj,
                            &item.ext,
                            &ids,
                            ext_ctx(ctx, &base, "contactFolders", id),
                        );
                    }
                    odata::apply_select(&mut obj, &odata::select(ctx));
                    Ok(entity(
                        ctx,
                        StatusCode::OK,
                        &format!("users('{uid}')/contactFolders/$entity"),
                        obj,
                    ))
                }
                Method::PATCH => {
                    let body = ctx.json_body()?;
                    let ext = odata::read_ext(body)?;
                    let mut fields = item.fields.clone();
                    folder_write(&mut fields, body)?;
                    let it = mb.get_mut(id).ok_or_else(ApiError::not_found)?;
                    it.fields = fields;
                    odata::store_ext(&mut it.ext, ext);
                    mb.touch(id, ctx.now);
                    let item = mb.get(id).ok_or_else(ApiError::not_found)?;
                    Ok(entity(
                        ctx,
                        StatusCode::OK,
                        &format!("users('{uid}')/contactFolders/$entity"),
                        render_folder(item),
                    ))
                }
                Method::DELETE => {
                    if item.id == mb.default_contact_folder {
                        return Err(ApiError::bad_request(
                            "ErrorDeleteDistinguishedFolder",
                            "Distinguished folders cannot be deleted.",
                        ));
                    }
                    mb.remove_tree(id);
                    Ok(Out::no_content())
                }
                _ => Err(ApiError::method_not_allowed()),
            }
        }
        [f, id, c] if folders(f) && c.eq_ignore_ascii_case("childFolders") => {
            mb.get_kind(id, Kind::ContactFolder)
                .ok_or_else(ApiError::not_found)?;
            match m {
                Method::GET => {
                    let items: Vec<&Item> = mb
                        .items
                        .iter()
                        .filter(|i| i.kind == Kind::ContactFolder && i.container == *id)
                        .collect();
                    let values = list_items(ctx, items, &render_folder, &|i| {
                        ext_ctx(ctx, &base, "contactFolders", &i.id)
                    })?;
                    collection(
                        ctx,
                        &format!("users('{uid}')/contactFolders('{id}')/childFolders"),
                        &format!("{base}/contactFolders/{id}/childFolders"),
                        values,
                    )
                }
                Method::POST => create_folder(mb, ctx, id, uid),
                _ => Err(ApiError::method_not_allowed()),
            }
        }
        [c] if contacts(c) => {
            let folder = mb.default_contact_folder.clone();
            contacts_collection(
                mb,
                ctx,
                uid,
                &base,
                &folder,
                &format!("{base}/contacts"),
                true,
            )
        }
        [c, d] if contacts(c) && is_delta(d) => {
            only(&m, &[Method::GET])?;
            let folder = mb.default_contact_folder.clone();
            contact_delta(mb, ctx, &folder, &format!("{base}/contacts/delta"))
        }
        [c, id] if contacts(c) => contact_item(mb, ctx, uid, &base, None, id),
        [f, fid, c] if folders(f) && contacts(c) => {
            mb.get_kind(fid, Kind::ContactFolder)
                .ok_or_else(ApiError::not_found)?;
            contacts_collection(
                mb,
                ctx,
                uid,
                &base,
                fid,
                &format!("{base}/contactFolders/{fid}/contacts"),
                false,
            )
        }
        [f, fid, c, d] if folders(f) && contacts(c) && is_delta(d) => {
            only(&m, &[Method::GET])?;
            mb.get_kind(fid, Kind::ContactFolder)
                .ok_or_else(ApiError::not_found)?;
            contact_delta(
                mb,
                ctx,
                fid,
                &format!("{base}/contactFolders/{fid}/contacts/delta"),
            )
        }
        [f, fid, c, id] if folders(f) && contacts(c) => {
            mb.get_kind(fid, Kind::ContactFolder)
                .ok_or_else(ApiError::not_found)?;
            contact_item(mb, ctx, uid, &base, Some(fid), id)
        }
        _ => Err(ApiError::unsupported_segment(
            rest.last().copied().unwrap_or(""),
        )),
    }
}

fn ext_ctx(ctx: &Ctx, base: &str, set: &str, id: &str) -> String {
    let _ = base;
    context(ctx, &format!("{set}('{id}')/singleValueExtendedProperties"))
}

fn folder_write(
    fields: &mut Map<String, Value>,
    body: &Map<String, Value>,
) -> Result<(), ApiError> {
    for (k, v) in body {
        match k.as_str() {
            "displayName" => {
                let name = v.as_str().filter(|s| !s.trim().is_empty()).ok_or_else(|| {
                    ApiError::bad_request(
                        "ErrorInvalidParameter",
                        "The folder name must not be empty.",
                    )
                })?;
                fields.insert(k.clone(), Value::from(name));
            }
            "singleValueExtendedProperties" | "id" | "parentFolderId" => {}
            key if key.starts_with('@') => {}
            key => return Err(ApiError::unknown_property(key, "contactFolder")),
        }
    }
    Ok(())
}

fn create_folder(mb: &mut Mailbox, ctx: &Ctx, parent: &str, uid: &str) -> Result<Out, ApiError> {
    let body = ctx.json_body()?;
    if !body.contains_key("displayName") {
        return Err(ApiError::bad_request(
            "ErrorInvalidParameter",
            "The folder name must not be empty.",
        ));
    }
    let ext = odata::read_ext(body)?;
    let mut fields = Map::new();
    folder_write(&mut fields, body)?;
    let name = fields
        .get("displayName")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    if mb.items.iter().any(|i| {
        i.kind == Kind::ContactFolder
            && i.container == parent
            && i.fields.get("displayName").and_then(Value::as_str) == Some(name.as_str())
    }) {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "ErrorFolderExists",
            "A folder with the specified name already exists.",
        ));
    }
    let mut map = std::collections::BTreeMap::new();
    odata::store_ext(&mut map, ext);
    let id = mb.insert(Kind::ContactFolder, parent, fields, map, ctx.now);
    let item = mb.get(&id).ok_or_else(ApiError::not_found)?;
    Ok(entity(
        ctx,
        StatusCode::CREATED,
        &format!("users('{uid}')/contactFolders/$entity"),
        render_folder(item),
    ))
}

fn contacts_collection(
    mb: &mut Mailbox,
    ctx: &Ctx,
    uid: &str,
    base: &str,
    folder: &str,
    path: &str,
    all_folders: bool,
) -> Result<Out, ApiError> {
    match ctx.method {
        Method::GET => {
            let _ = all_folders;
            let items: Vec<&Item> = mb
                .items
                .iter()
                .filter(|i| i.kind == Kind::Contact && i.container == folder)
                .collect();
            let values = list_items(ctx, items, &render_contact, &|i| {
                ext_ctx(ctx, base, "contacts", &i.id)
            })?;
            collection(ctx, &format!("users('{uid}')/contacts"), path, values)
        }
        Method::POST => {
            let body = ctx.json_body()?;
            let ext = odata::read_ext(body)?;
            let mut fields = Map::new();
            contact_write(&mut fields, body, true)?;
            crate::extensions::validate_inline(body)?;
            let mut map = std::collections::BTreeMap::new();
            odata::store_ext(&mut map, ext);
            let id = mb.insert(Kind::Contact, folder, fields, map, ctx.now);
            let item = mb.get_mut(&id).ok_or_else(ApiError::not_found)?;
            crate::extensions::store_inline(item, body)?;
            let item = mb.get(&id).ok_or_else(ApiError::not_found)?;
            Ok(entity(
                ctx,
                StatusCode::CREATED,
                &format!("users('{uid}')/contacts/$entity"),
                render_contact(item),
            ))
        }
        _ => Err(ApiError::method_not_allowed()),
    }
}

fn contact_item(
    mb: &mut Mailbox,
    ctx: &Ctx,
    uid: &str,
    base: &str,
    folder: Option<&str>,
    id: &str,
) -> Result<Out, ApiError> {
    let item = mb
        .get_kind(id, Kind::Contact)
        .filter(|i| folder.is_none_or(|f| i.container == f))
        .ok_or_else(ApiError::not_found)?
        .clone();
    let frag = format!("users('{uid}')/contacts/$entity");
    match ctx.method {
        Method::GET => {
            let mut obj = render_contact(&item);
            odata::apply_select(&mut obj, &odata::select(ctx));
            crate::extensions::expand(ctx, &item, &mut obj);
            if let Some(ids) = odata::expand_ext(ctx)? {
                odata::render_ext(
                    &mut obj,
                    &item.ext,
                    &ids,
                    ext_ctx(ctx, base, "contacts", id),
                );
            }
            Ok(entity(ctx, StatusCode::OK, &frag, obj))
        }
        Method::PATCH => {
            check_if_match(ctx, &item)?;
            let body = ctx.json_body()?;
            let ext = odata::read_ext(body)?;
            let mut fields = item.fields.clone();
            contact_write(&mut fields, body, false)?;
            let it = mb.get_mut(id).ok_or_else(ApiError::not_found)?;
            it.fields = fields;
            odata::store_ext(&mut it.ext, ext);
            mb.touch(id, ctx.now);
            let item = mb.get(id).ok_or_else(ApiError::not_found)?;
            Ok(entity(ctx, StatusCode::OK, &frag, render_contact(item)))
        }
        Method::DELETE => {
            check_if_match(ctx, &item)?;
            mb.remove_tree(id);
            Ok(Out::no_content())
        }
        _ => Err(ApiError::method_not_allowed()),
    }
}

fn contact_delta(mb: &Mailbox, ctx: &Ctx, folder: &str, path: &str) -> Result<Out, ApiError> {
    if ctx.q("$expand").is_some() {
        return Err(ApiError::bad_request("ErrorInvalidUrlQuery", "The query parameter '$expand' is not supported with change tracking over the 'Contacts' resource."));
    }
    delta_page(
        mb,
        ctx,
        &format!("contacts:{folder}"),
        Kind::Contact,
        Some(folder),
        path,
        "contact",
        "Collection(contact)",
        &|i, sel| {
            let mut o = render_contact(i);
            odata::apply_select(&mut o, sel);
            o
        },
    )
}

// ---------------------------------------------------------------- To Do

pub(crate) fn render_list(item: &Item) -> Map<String, Value> {
    let mut o = Map::new();
    o.insert("@odata.etag".into(), Value::from(etag(item)));
    o.insert(
        "displayName".into(),
        item.fields
            .get("displayName")
            .cloned()
            .unwrap_or(Value::Null),
    );
    o.insert("isOwner".into(), Value::Bool(true));
    o.insert("isShared".into(), Value::Bool(false));
    o.insert(
        "wellknownListName".into(),
        item.fields
            .get("wellknownListName")
            .cloned()
            .unwrap_or(Value::from("none")),
    );
    o.insert("id".into(), Value::from(item.id.clone()));
    o
}

const TASK_DATES: &[&str] = &[
    "reminderDateTime",
    "dueDateTime",
    "startDateTime",
    "completedDateTime",
];

fn task_write(
    fields: &mut Map<String, Value>,
    body: &Map<String, Value>,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<bool, ApiError> {
    let mut body_changed = false;
    for (k, v) in body {
        let key = k.as_str();
        match key {
            "title" => {
                fields.insert(k.clone(), want_str(key, v)?);
            }
            "importance" => {
                fields.insert(k.clone(), want_enum(key, v, &["low", "normal", "high"])?);
            }
            "status" => {
                let s = want_enum(
                    key,
                    v,
                    &[
                        "notStarted",
                        "inProgress",
                        "completed",
                        "waitingOnOthers",
                        "deferred",
                    ],
                )?;
                if s == "completed"
                    && !body.contains_key("completedDateTime")
                    && fields.get("status") != Some(&s)
                {
                    let local = now.naive_utc();
                    fields.insert("completedDateTime".into(), json!({"dateTime": tz::format_local(local.date().and_hms_opt(0, 0, 0).unwrap_or(local)), "timeZone": "UTC"}));
                }
                if s != "completed" {
                    fields.remove("completedDateTime");
                }
                fields.insert(k.clone(), s);
            }
            "isReminderOn" => {
                fields.insert(k.clone(), want_bool(key, v)?);
            }
            "categories" => {
                fields.insert(k.clone(), want_str_array(key, v)?);
            }
            "body" => {
                let o = v
                    .as_object()
                    .ok_or_else(|| ApiError::bad_value(key, "an itemBody was expected"))?;
                let content = o
                    .get("content")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string();
                let ct = match o.get("contentType") {
                    Some(c) => want_enum("contentType", c, &["text", "html"])?,
                    None => Value::from("text"),
                };
                fields.insert(k.clone(), json!({"content": content, "contentType": ct}));
                body_changed = true;
            }
            "recurrence" => {
                if v.is_null() {
                    fields.insert(k.clone(), Value::Null);
                } else {
                    let due = body
                        .get("dueDateTime")
                        .or_else(|| fields.get("dueDateTime"))
                        .cloned();
                    fields.insert(
                        k.clone(),
                        crate::events::normalize_recurrence(v, due.as_ref(), None)?,
                    );
                }
            }
            k2 if TASK_DATES.contains(&k2) => {
                if v.is_null() {
                    fields.remove(k2);
                    continue;
                }
                let (local, zone, _) = crate::events::read_dtz(k2, v)?;
                let utc = tz::to_utc(local, zone);
                let value = if k2 == "dueDateTime"
                    || k2 == "startDateTime"
                    || k2 == "completedDateTime"
                {
                    // To Do keeps only the date (graph-api.md §3).
                    json!({"dateTime": tz::format_local(local.date().and_hms_opt(0, 0, 0).unwrap_or(local)), "timeZone": "UTC"})
                } else {
                    json!({"dateTime": tz::format_local(utc.naive_utc()), "timeZone": "UTC"})
                };
                fields.insert(k.clone(), value);
            }
            "linkedResources"
            | "extensions"
            | "id"
            | "createdDateTime"
            | "lastModifiedDateTime"
            | "bodyLastModifiedDateTime"
            | "hasAttachments" => {}
            key if key.starts_with('@') => {}
            key => return Err(ApiError::unknown_property(key, "todoTask")),
        }
    }
    Ok(body_changed)
}

fn render_task(item: &Item, prefer: &Prefer) -> Map<String, Value> {
    let mut o = Map::new();
    o.insert("@odata.etag".into(), Value::from(etag(item)));
    o.insert(
        "importance".into(),
        item.fields
            .get("importance")
            .cloned()
            .unwrap_or(Value::from("normal")),
    );
    o.insert(
        "isReminderOn".into(),
        item.fields
            .get("isReminderOn")
            .cloned()
            .unwrap_or(Value::Bool(false)),
    );
    o.insert(
        "status".into(),
        item.fields
            .get("status")
            .cloned()
            .unwrap_or(Value::from("notStarted")),
    );
    o.insert(
        "title".into(),
        item.fields.get("title").cloned().unwrap_or(Value::Null),
    );
    o.insert(
        "createdDateTime".into(),
        Value::from(tz::format_utc_stamp(item.created)),
    );
    o.insert(
        "lastModifiedDateTime".into(),
        Value::from(tz::format_utc_stamp(item.modified)),
    );
    o.insert("hasAttachments".into(), Value::Bool(false));
    o.insert(
        "categories".into(),
        item.fields.get("categories").cloned().unwrap_or(json!([])),
    );
    o.insert("id".into(), Value::from(item.id.clone()));
    o.insert(
        "body".into(),
        item.fields
            .get("body")
            .cloned()
            .unwrap_or(json!({"content": "", "contentType": "text"})),
    );
    let body_mod = item
        .internal
        .get("bodyLastModified")
        .and_then(Value::as_str)
        .map(str::to_string)
        .unwrap_or_else(|| tz::format_utc_stamp(item.created));
    o.insert("bodyLastModifiedDateTime".into(), Value::from(body_mod));
    for k in TASK_DATES {
        if let Some(v) = item.fields.get(*k) {
            let v = if *k == "reminderDateTime" {
                crate::events::convert_dtz(v, prefer.timezone.as_deref())
            } else {
                v.clone()
            };
            o.insert((*k).to_string(), v);
        }
    }
    if let Some(r) = item.fields.get("recurrence") {
        o.insert("recurrence".into(), r.clone());
    }
    o
}

fn linked_resources(item: &Item) -> Vec<Value> {
    item.internal
        .get("linkedResources")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default()
}

fn linked_write(v: &Value, existing: Option<&Value>) -> Result<Value, ApiError> {
    let o = v.as_object().ok_or_else(|| {
        ApiError::bad_value("linkedResources", "a linkedResource object was expected")
    })?;
    let mut out = existing
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_else(|| {
            let mut m = Map::new();
            m.insert("id".into(), Value::from(crate::store::new_guid()));
            m.insert("webUrl".into(), Value::Null);
            m.insert("applicationName".into(), Value::Null);
            m.insert("displayName".into(), Value::Null);
            m.insert("externalId".into(), Value::Null);
            m
        });
    for (k, val) in o {
        match k.as_str() {
            "webUrl" | "applicationName" | "displayName" | "externalId" => {
                out.insert(k.clone(), want_str(k, val)?);
            }
            "id" => {}
            key if key.starts_with('@') => {}
            key => return Err(ApiError::unknown_property(key, "linkedResource")),
        }
    }
    if out.get("applicationName").is_none_or(Value::is_null) && existing.is_none() {
        return Err(ApiError::bad_request(
            "invalidRequest",
            "Invalid request: applicationName is required.",
        ));
    }
    Ok(Value::Object(out))
}

pub(crate) fn route_todo(
    data: &mut Data,
    ctx: &Ctx,
    uid: &str,
    rest: &[&str],
) -> Result<Out, ApiError> {
    let base = uid_path(ctx, uid);
    let mb = mailbox(data, uid)?;
    let m = ctx.method.clone();
    let prefer = Prefer::from(ctx);
    let lists = |s: &str| s.eq_ignore_ascii_case("lists");
    let tasks = |s: &str| s.eq_ignore_ascii_case("tasks");
    match rest {
        [l] if lists(l) => match m {
            Method::GET => {
                let lists: Vec<&Item> = mb
                    .items
                    .iter()
                    .filter(|i| i.kind == Kind::TodoList)
                    .collect();
                let values = list_items(ctx, lists, &render_list, &|_| String::new())?;
                collection(
                    ctx,
                    &format!("users('{uid}')/todo/lists"),
                    &format!("{base}/todo/lists"),
                    values,
                )
            }
            Method::POST => {
                let body = ctx.json_body()?;
                let fields = list_write(body)?;
                if !fields.contains_key("displayName") {
                    return Err(ApiError::bad_request(
                        "invalidRequest",
                        "Invalid request: displayName is required.",
                    ));
                }
                let id = mb.insert(Kind::TodoList, "", fields, Default::default(), ctx.now);
                let item = mb.get(&id).ok_or_else(ApiError::not_found)?;
                let mut o = Map::new();
                o.insert(
                    "@odata.type".into(),
                    Value::from("#microsoft.graph.todoTaskList"),
                );
                o.extend(render_list(item));
                Ok(entity(
                    ctx,
                    StatusCode::CREATED,
                    &format!("users('{uid}')/todo/lists/$entity"),
                    o,
                ))
            }
            _ => Err(ApiError::method_not_allowed()),
        },
        [l, d] if lists(l) && is_delta(d) => {
            only(&m, &[Method::GET])?;
            delta_page(
                mb,
                ctx,
                "todoLists",
                Kind::TodoList,
                None,
                &format!("{base}/todo/lists/delta"),
                "todoTaskList",
                "Collection(todoTaskList)",
                &|i, sel| {
                    let mut o = render_list(i);
                    odata::apply_select(&mut o, sel);
                    o
                },
            )
        }
        [l, id] if lists(l) => {
            let item = mb
                .get_kind(id, Kind::TodoList)
                .ok_or_else(ApiError::not_found)?
                .clone();
            let frag = format!("users('{uid}')/todo/lists/$entity");
            match m {
                Method::GET => Ok(entity(ctx, StatusCode::OK, &frag, render_list(&item))),
                Method::PATCH => {
                    let body = ctx.json_body()?;
                    if item
                        .fields
                        .get("wellknownListName")
                        .and_then(Value::as_str)
                        .is_some_and(|w| w != "none")
                        && body.contains_key("displayName")
                    {
                        return Err(ApiError::bad_request(
                            "invalidRequest",
                            "The well-known list cannot be renamed.",
                        ));
                    }
                    let fields = list_write(body)?;
                    let it = mb.get_mut(id).ok_or_else(ApiError::not_found)?;
                    it.fields.extend(fields);
                    mb.touch(id, ctx.now);
                    let item = mb.get(id).ok_or_else(ApiError::not_found)?;
                    Ok(entity(ctx, StatusCode::OK, &frag, render_list(item)))
                }
                Method::DELETE => {
                    if item
                        .fields
                        .get("wellknownListName")
                        .and_then(Value::as_str)
                        .is_some_and(|w| w != "none")
                    {
                        return Err(ApiError::bad_request(
                            "invalidRequest",
                            "The well-known list cannot be deleted.",
                        ));
                    }
                    mb.remove_tree(id);
                    Ok(Out::no_content())
                }
                _ => Err(ApiError::method_not_allowed()),
            }
        }
        [l, lid, t] if lists(l) && tasks(t) => {
            mb.get_kind(lid, Kind::TodoList)
                .ok_or_else(ApiError::not_found)?;
            match m {
                Method::GET => {
                    // List tasks supports the OData query parameters, `$expand=linkedResources` included.
                    let expand_linked = ctx
                        .q("$expand")
                        .is_some_and(|e| e.eq_ignore_ascii_case("linkedResources"));
                    let values: Vec<Value> = list_items(
                        ctx,
                        mb.items
                            .iter()
                            .filter(|i| i.kind == Kind::Task && i.container == *lid)
                            .collect(),
                        &|i| {
                            let mut o = render_task(i, &prefer);
                            if expand_linked {
                                o.insert(
                                    "linkedResources".into(),
                                    Value::Array(linked_resources(i)),
                                );
                            }
                            o
                        },
                        &|_| String::new(),
                    )?;
                    let mut out = collection(
                        ctx,
                        &format!("users('{uid}')/todo/lists('{lid}')/tasks"),
                        &format!("{base}/todo/lists/{lid}/tasks"),
                        values,
                    )?;
                    for h in prefer.applied(true, false) {
                        out = out.header("Preference-Applied", h);
                    }
                    Ok(out)
                }
                Method::POST => {
                    let body = ctx.json_body()?;
                    if body.contains_key("singleValueExtendedProperties") {
                        return Err(ApiError::unknown_property(
                            "singleValueExtendedProperties",
                            "todoTask",
                        ));
                    }
                    let mut fields = Map::new();
                    task_write(&mut fields, body, ctx.now)?;
                    if fields.get("title").is_none_or(Value::is_null) {
                        return Err(ApiError::bad_request(
                            "invalidRequest",
                            "Invalid request: title is required.",
                        ));
                    }
                    let mut linked = Vec::new();
                    if let Some(lr) = body.get("linkedResources") {
                        let arr = lr.as_array().ok_or_else(|| {
                            ApiError::bad_value("linkedResources", "a collection was expected")
                        })?;
                        for v in arr {
                            linked.push(linked_write(v, None)?);
                        }
                    }
                    crate::extensions::validate_inline(body)?;
                    let id = mb.insert(Kind::Task, lid, fields, Default::default(), ctx.now);
                    let has_linked = !linked.is_empty();
                    if let Some(it) = mb.get_mut(&id) {
                        it.internal
                            .insert("linkedResources".into(), Value::Array(linked.clone()));
                        crate::extensions::store_inline(it, body)?;
                    }
                    let item = mb.get(&id).ok_or_else(ApiError::not_found)?;
                    let mut o = render_task(item, &prefer);
                    if has_linked {
                        o.insert("linkedResources@odata.context".into(), Value::from(context(ctx, &format!("users('{uid}')/todo/lists('{lid}')/tasks('{id}')/linkedResources"))));
                        o.insert("linkedResources".into(), Value::Array(linked));
                    }
                    Ok(entity(
                        ctx,
                        StatusCode::CREATED,
                        &format!("users('{uid}')/todo/lists('{lid}')/tasks/$entity"),
                        o,
                    ))
                }
                _ => Err(ApiError::method_not_allowed()),
            }
        }
        [l, lid, t, d] if lists(l) && tasks(t) && is_delta(d) => {
            only(&m, &[Method::GET])?;
            mb.get_kind(lid, Kind::TodoList)
                .ok_or_else(ApiError::not_found)?;
            let p = prefer.clone();
            delta_page(
                mb,
                ctx,
                &format!("tasks:{lid}"),
                Kind::Task,
                Some(lid),
                &format!("{base}/todo/lists/{lid}/tasks/delta"),
                "todoTask",
                "Collection(todoTask)",
                &|i, sel| {
                    let mut o = render_task(i, &p);
                    odata::apply_select(&mut o, sel);
                    o
                },
            )
        }
        [l, lid, t, tid, rest2 @ ..] if lists(l) && tasks(t) => {
            mb.get_kind(lid, Kind::TodoList)
                .ok_or_else(ApiError::not_found)?;
            let item = mb
                .get_kind(tid, Kind::Task)
                .filter(|i| i.container == *lid)
                .ok_or_else(ApiError::not_found)?
                .clone();
            let frag = format!("users('{uid}')/todo/lists('{lid}')/tasks/$entity");
            match (rest2, m) {
                ([], Method::GET) => {
                    let mut o = render_task(&item, &prefer);
                    crate::extensions::expand(ctx, &item, &mut o);
                    if ctx
                        .q("$expand")
                        .is_some_and(|e| e.eq_ignore_ascii_case("linkedResources"))
                    {
                        o.insert(
                            "linkedResources".into(),
                            Value::Array(linked_resources(&item)),
                        );
                    }
                    odata::apply_select(&mut o, &odata::select(ctx));
                    Ok(entity(ctx, StatusCode::OK, &frag, o))
                }
                ([], Method::PATCH) => {
                    check_if_match(ctx, &item)?;
                    let body = ctx.json_body()?;
                    let mut fields = item.fields.clone();
                    let body_changed = task_write(&mut fields, body, ctx.now)?;
                    let stamp = tz::format_utc_stamp(ctx.now);
                    let it = mb.get_mut(tid).ok_or_else(ApiError::not_found)?;
                    it.fields = fields;
                    if body_changed {
                        it.internal
                            .insert("bodyLastModified".into(), Value::from(stamp));
                    }
                    mb.touch(tid, ctx.now);
                    let item = mb.get(tid).ok_or_else(ApiError::not_found)?;
                    Ok(entity(
                        ctx,
                        StatusCode::OK,
                        &frag,
                        render_task(item, &prefer),
                    ))
                }
                ([], Method::DELETE) => {
                    check_if_match(ctx, &item)?;
                    mb.remove_tree(tid);
                    Ok(Out::no_content())
                }
                ([lr], Method::GET) if lr.eq_ignore_ascii_case("linkedResources") => collection(
                    ctx,
                    &format!("users('{uid}')/todo/lists('{lid}')/tasks('{tid}')/linkedResources"),
                    &format!("{base}/todo/lists/{lid}/tasks/{tid}/linkedResources"),
                    linked_resources(&item),
                ),
                ([lr], Method::POST) if lr.eq_ignore_ascii_case("linkedResources") => {
                    let v = linked_write(ctx.body.as_ref().unwrap_or(&Value::Null), None)?;
                    let mut all = linked_resources(&item);
                    all.push(v.clone());
                    if let Some(it) = mb.get_mut(tid) {
                        it.internal
                            .insert("linkedResources".into(), Value::Array(all));
                    }
                    mb.touch(tid, ctx.now);
                    let mut o = v.as_object().cloned().unwrap_or_default();
                    o.insert(
                        "@odata.type".into(),
                        Value::from("#microsoft.graph.linkedResource"),
                    );
                    Ok(entity(ctx, StatusCode::CREATED, &format!("users('{uid}')/todo/lists('{lid}')/tasks('{tid}')/linkedResources/$entity"), o))
                }
                ([lr, rid], method) if lr.eq_ignore_ascii_case("linkedResources") => {
                    let mut all = linked_resources(&item);
                    let pos = all
                        .iter()
                        .position(|r| r.get("id").and_then(Value::as_str) == Some(*rid))
                        .ok_or_else(ApiError::not_found)?;
                    let frag2 = format!(
                        "users('{uid}')/todo/lists('{lid}')/tasks('{tid}')/linkedResources/$entity"
                    );
                    match method {
                        Method::GET => Ok(entity(
                            ctx,
                            StatusCode::OK,
                            &frag2,
                            all[pos].as_object().cloned().unwrap_or_default(),
                        )),
                        Method::PATCH => {
                            let v = linked_write(
                                ctx.body.as_ref().unwrap_or(&Value::Null),
                                Some(&all[pos]),
                            )?;
                            all[pos] = v.clone();
                            if let Some(it) = mb.get_mut(tid) {
                                it.internal
                                    .insert("linkedResources".into(), Value::Array(all));
                            }
                            mb.touch(tid, ctx.now);
                            Ok(entity(
                                ctx,
                                StatusCode::OK,
                                &frag2,
                                v.as_object().cloned().unwrap_or_default(),
                            ))
                        }
                        Method::DELETE => {
                            all.remove(pos);
                            if let Some(it) = mb.get_mut(tid) {
                                it.internal
                                    .insert("linkedResources".into(), Value::Array(all));
                            }
                            mb.touch(tid, ctx.now);
                            Ok(Out::no_content())
                        }
                        _ => Err(ApiError::method_not_allowed()),
                    }
                }
                _ => Err(ApiError::method_not_allowed()),
            }
        }
        _ => Err(ApiError::unsupported_segment(
            rest.last().copied().unwrap_or("todo"),
        )),
    }
}

fn list_write(body: &Map<String, Value>) -> Result<Map<String, Value>, ApiError> {
    let mut fields = Map::new();
    for (k, v) in body {
        match k.as_str() {
            "displayName" => {
                let s = v.as_str().filter(|s| !s.trim().is_empty()).ok_or_else(|| {
                    ApiError::bad_request(
                        "invalidRequest",
                        "Invalid request: displayName is required.",
                    )
                })?;
                fields.insert(k.clone(), Value::from(s));
            }
            "id" | "isOwner" | "isShared" | "wellknownListName" => {}
            key if key.starts_with('@') => {}
            key => return Err(ApiError::unknown_property(key, "todoTaskList")),
        }
    }
    Ok(fields)
}
