//! Open extensions (graph-api.md §4): `POST/GET/PATCH/DELETE
//! .../{item}/extensions[/{id}]` on events, contacts, To Do tasks and lists,
//! inline `extensions` on create, `$expand=extensions($filter=id eq '…')`.
//! Extensions are not change-tracked: they never bump the item's delta
//! sequence.

use axum::http::{Method, StatusCode};
use serde_json::{json, Map, Value};

use crate::error::ApiError;
use crate::http::{context, Ctx, Out};
use crate::items::{entity, mailbox};
use crate::store::{Data, Item, Kind};

const OUTLOOK_PREFIX: &str = "Microsoft.OutlookServices.OpenTypeExtension.";

fn ext_id(kind: Kind, name: &str) -> String {
    match kind {
        Kind::Event | Kind::Contact => format!("{OUTLOOK_PREFIX}{name}"),
        _ => name.to_string(),
    }
}

fn name_of(id_or_name: &str) -> &str {
    id_or_name
        .strip_prefix(OUTLOOK_PREFIX)
        .unwrap_or(id_or_name)
}

fn render(kind: Kind, name: &str, props: &Map<String, Value>) -> Map<String, Value> {
    let mut o = Map::new();
    o.insert(
        "@odata.type".into(),
        Value::from("#microsoft.graph.openTypeExtension"),
    );
    o.insert("id".into(), Value::from(ext_id(kind, name)));
    o.insert("extensionName".into(), Value::from(name));
    o.extend(props.clone());
    o
}

/// Validates one extension body; returns (name, custom properties).
pub(crate) fn parse(body: &Value) -> Result<(String, Map<String, Value>), ApiError> {
    let o = body.as_object().ok_or_else(|| {
        ApiError::bad_value("extensions", "an openTypeExtension object was expected")
    })?;
    let ty = o.get("@odata.type").and_then(Value::as_str).unwrap_or("");
    if ty.trim_start_matches('#') != "microsoft.graph.openTypeExtension" {
        return Err(ApiError::bad_request(
            "RequestBodyRead",
            "An open extension needs \"@odata.type\": \"microsoft.graph.openTypeExtension\".",
        ));
    }
    let name = o
        .get("extensionName")
        .and_then(Value::as_str)
        .filter(|n| !n.trim().is_empty())
        .ok_or_else(|| {
            ApiError::bad_request("RequestBodyRead", "The extensionName property is required.")
        })?
        .to_string();
    let props: Map<String, Value> = o
        .iter()
        .filter(|(k, _)| !k.starts_with('@') && *k != "extensionName" && *k != "id")
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    Ok((name, props))
}

/// Stores inline `extensions` of a create body on a new item.
pub(crate) fn store_inline(item: &mut Item, body: &Map<String, Value>) -> Result<(), ApiError> {
    let Some(list) = body.get("extensions") else {
        return Ok(());
    };
    let arr = list
        .as_array()
        .ok_or_else(|| ApiError::bad_value("extensions", "a collection was expected"))?;
    let mut all = Map::new();
    for e in arr {
        let (name, props) = parse(e)?;
        all.insert(name, Value::Object(props));
    }
    item.internal
        .insert("extensions".into(), Value::Object(all));
    Ok(())
}

/// Checks inline extensions before anything is written.
pub(crate) fn validate_inline(body: &Map<String, Value>) -> Result<(), ApiError> {
    if let Some(list) = body.get("extensions") {
        let arr = list
            .as_array()
            .ok_or_else(|| ApiError::bad_value("extensions", "a collection was expected"))?;
        for e in arr {
            parse(e)?;
        }
    }
    Ok(())
}

/// `$expand=extensions[($filter=id eq '…')]` on a single item.
pub(crate) fn expand(ctx: &Ctx, item: &Item, obj: &mut Map<String, Value>) {
    let Some(expand) = ctx.q("$expand") else {
        return;
    };
    if !expand.to_ascii_lowercase().starts_with("extensions") {
        return;
    }
    let wanted: Option<String> = expand.find("id eq '").map(|i| {
        expand[i + 7..]
            .trim_end_matches(')')
            .trim_end_matches('\'')
            .to_string()
    });
    let all = item
        .internal
        .get("extensions")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let list: Vec<Value> = all
        .iter()
        .filter(|(name, _)| {
            wanted
                .as_deref()
                .is_none_or(|w| name_of(w) == name.as_str())
        })
        .map(|(name, props)| {
            Value::Object(render(
                item.kind,
                name,
                props.as_object().unwrap_or(&Map::new()),
            ))
        })
        .collect();
    obj.insert(
        "extensions@odata.context".into(),
        Value::from(context(ctx, "extensions")),
    );
    obj.insert("extensions".into(), Value::Array(list));
}

/// `.../{itemId}/extensions[/{id}]`.
pub(crate) fn route(
    data: &mut Data,
    ctx: &Ctx,
    uid: &str,
    item_id: &str,
    rest: &[&str],
) -> Result<Out, ApiError> {
    let mb = mailbox(data, uid)?;
    let item = mb.get(item_id).ok_or_else(ApiError::not_found)?.clone();
    let read = ctx.method == Method::GET;
    let scopes: &[&str] = match (item.kind, read) {
        (Kind::Event, true) => &["Calendars.Read", "Calendars.ReadWrite"],
        (Kind::Event, false) => &["Calendars.ReadWrite"],
        (Kind::Contact, true) => &["Contacts.Read", "Contacts.ReadWrite"],
        (Kind::Contact, false) => &["Contacts.ReadWrite"],
        (Kind::Task | Kind::TodoList, true) => &["Tasks.Read", "Tasks.ReadWrite"],
        (Kind::Task | Kind::TodoList, false) => &["Tasks.ReadWrite"],
        _ => {
            return Err(ApiError::bad_request(
                "ErrorInvalidRequest",
                "Open extensions are not supported on this resource.",
            ))
        }
    };
    ctx.require_scope(scopes)?;
    let mut all = item
        .internal
        .get("extensions")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let frag = "extensions/$entity";
    let save = |data: &mut Data, all: Map<String, Value>| -> Result<(), ApiError> {
        let it = mailbox(data, uid)?
            .get_mut(item_id)
            .ok_or_else(ApiError::not_found)?;
        it.internal.insert("extensions".into(), Value::Object(all));
        Ok(())
    };
    match (rest, ctx.method.clone()) {
        ([], Method::GET) => {
            let list: Vec<Value> = all
                .iter()
                .map(|(n, p)| {
                    Value::Object(render(item.kind, n, p.as_object().unwrap_or(&Map::new())))
                })
                .collect();
            Ok(Out::json(
                StatusCode::OK,
                json!({"@odata.context": context(ctx, "extensions"), "value": list}),
            ))
        }
        ([], Method::POST) => {
            let (name, props) = parse(ctx.body.as_ref().unwrap_or(&Value::Null))?;
            if all.contains_key(&name) {
                return Err(ApiError::new(
                    StatusCode::CONFLICT,
                    "NameAlreadyExists",
                    "An extension already exists with given id.",
                ));
            }
            all.insert(name.clone(), Value::Object(props.clone()));
            save(data, all)?;
            Ok(entity(
                ctx,
                StatusCode::CREATED,
                frag,
                render(item.kind, &name, &props),
            ))
        }
        ([id], method) => {
            let name = name_of(id).to_string();
            let props = all
                .get(&name)
                .and_then(Value::as_object)
                .cloned()
                .ok_or_else(ApiError::not_found)?;
            match method {
                Method::GET => Ok(entity(
                    ctx,
                    StatusCode::OK,
                    frag,
                    render(item.kind, &name, &props),
                )),
                Method::PATCH => {
                    let body = ctx.json_body()?;
                    let mut next = if matches!(item.kind, Kind::Event | Kind::Contact) {
                        Map::new()
                    } else {
                        props
                    };
                    for (k, v) in body {
                        if !k.starts_with('@') && k != "extensionName" && k != "id" {
                            next.insert(k.clone(), v.clone());
                        }
                    }
                    all.insert(name.clone(), Value::Object(next.clone()));
                    save(data, all)?;
                    Ok(entity(
                        ctx,
                        StatusCode::OK,
                        frag,
                        render(item.kind, &name, &next),
                    ))
                }
                Method::DELETE => {
                    all.remove(&name);
                    save(data, all)?;
                    Ok(Out::no_content())
                }
                _ => Err(ApiError::method_not_allowed()),
            }
        }
        _ => Err(ApiError::method_not_allowed()),
    }
}
