//! Field metadata with custom fields, users and profiles, adding users with permission checks.

mod common;

use common::*;
use reqwest::Method;
use serde_json::{json, Value};

#[tokio::test]
async fn fields_metadata_and_custom_fields_enforced() {
    let env = start().await;
    let t = env.token(AIKO);
    let r = env.get(&t, "/settings/fields?module=Contacts").await;
    assert_eq!(r.status, 200);
    let fields = r.body["fields"].as_array().unwrap();
    let last = fields
        .iter()
        .find(|f| f["api_name"] == "Last_Name")
        .unwrap();
    assert_eq!(last["data_type"], "text");
    assert_eq!(last["length"], 80);
    assert_eq!(last["system_mandatory"], true);
    assert_eq!(last["custom_field"], false);
    for k in [
        "id",
        "field_label",
        "display_label",
        "json_type",
        "read_only",
        "pick_list_values",
        "lookup",
        "visible",
    ] {
        assert!(last.get(k).is_some(), "{k}");
    }
    let full = fields
        .iter()
        .find(|f| f["api_name"] == "Full_Name")
        .unwrap();
    assert_eq!(full["read_only"], true);
    let acc = fields
        .iter()
        .find(|f| f["api_name"] == "Account_Name")
        .unwrap();
    assert_eq!(acc["data_type"], "lookup");
    assert_eq!(acc["lookup"]["module"]["api_name"], "Accounts");
    let tasks = env.get(&t, "/settings/fields?module=Tasks").await;
    let status = tasks.body["fields"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["api_name"] == "Status")
        .unwrap()
        .clone();
    let values: Vec<&str> = status["pick_list_values"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["actual_value"].as_str().unwrap())
        .collect();
    assert!(values.contains(&"Not Started") && values.contains(&"Completed"));
    let events = env.get(&t, "/settings/fields?module=Events").await;
    assert!(events.body["fields"]
        .as_array()
        .unwrap()
        .iter()
        .any(|f| f["api_name"] == "Participants"));
    assert_error(
        &env.get(&t, "/settings/fields").await,
        400,
        "REQUIRED_PARAM_MISSING",
    );
    assert_error(
        &env.get(&t, "/settings/fields?module=Leadz").await,
        400,
        "INVALID_MODULE",
    );
    let one = env
        .get(
            &t,
            &format!(
                "/settings/fields/{}?module=Contacts",
                last["id"].as_str().unwrap()
            ),
        )
        .await;
    assert_eq!(one.body["fields"][0]["api_name"], "Last_Name");
    let no_scope = env.token_scopes(AIKO, &["ZohoCRM.modules.ALL"]);
    assert_error(
        &env.get(&no_scope, "/settings/fields?module=Contacts").await,
        401,
        "OAUTH_SCOPE_MISMATCH",
    );

    // custom fields through the control API
    let c = env
        .control(
            Method::POST,
            "/fields/Contacts",
            Some(
                json!({"org_of": AIKO, "api_name": "Customer_Tier", "data_type": "picklist",
            "pick_list_values": ["Gold", "Silver"]}),
            ),
        )
        .await;
    assert_eq!(c.status, 201, "{}", c.text);
    env.control(
        Method::POST,
        "/fields/Contacts",
        Some(json!({"org_of": AIKO, "api_name": "Badge_No", "data_type": "integer", "length": 4})),
    )
    .await;
    env.control(
        Method::POST,
        "/fields/Contacts",
        Some(json!({"org_of": AIKO, "api_name": "Nickname", "data_type": "text", "length": 5})),
    )
    .await;
    let bad = env
        .control(
            Method::POST,
            "/fields/Contacts",
            Some(json!({"org_of": AIKO, "api_name": "X", "data_type": "blob"})),
        )
        .await;
    assert_eq!(bad.status, 400);
    let r = env.get(&t, "/settings/fields?module=Contacts").await;
    let tier = r.body["fields"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["api_name"] == "Customer_Tier")
        .unwrap()
        .clone();
    assert_eq!(tier["custom_field"], true);
    assert_eq!(tier["pick_list_values"].as_array().unwrap().len(), 2);
    let w = env
        .post(
            &t,
            "/Contacts",
            json!({"data": [
                {"Last_Name": "A", "Customer_Tier": "Gold", "Badge_No": 12, "Nickname": "Al"},
                {"Last_Name": "B", "Customer_Tier": "Bronze"},
                {"Last_Name": "C", "Badge_No": "twelve"},
                {"Last_Name": "D", "Badge_No": 12345},
                {"Last_Name": "E", "Nickname": "Eduardo"}
            ]}),
        )
        .await;
    assert_eq!(w.status, 207, "{}", w.text);
    let d = w.body["data"].as_array().unwrap();
    assert_eq!(d[0]["code"], "SUCCESS");
    assert_eq!(d[1]["details"]["api_name"], "Customer_Tier");
    assert_eq!(d[2]["details"]["expected_data_type"], "integer");
    assert_eq!(d[3]["details"]["api_name"], "Badge_No");
    assert_eq!(d[4]["details"]["maximum_length"], 5);
    let id = d[0]["details"]["id"].as_str().unwrap();
    let g = env
        .get(
            &t,
            &format!("/Contacts?fields=Customer_Tier,Badge_No&ids={id}"),
        )
        .await;
    assert_eq!(g.body["data"][0]["Customer_Tier"], "Gold");
    assert_eq!(g.body["data"][0]["Badge_No"], 12);
}

#[tokio::test]
async fn users_types_and_profiles() {
    let env = start().await;
    let t = env.token(BEN);
    let me = env.get(&t, "/users?type=CurrentUser").await;
    assert_eq!(me.status, 200);
    let u = &me.body["users"][0];
    assert_eq!(u["email"], BEN);
    for k in [
        "id",
        "zuid",
        "first_name",
        "last_name",
        "full_name",
        "status",
        "confirm",
        "role",
        "profile",
        "time_zone",
        "locale",
        "offset",
    ] {
        assert!(u.get(k).is_some(), "{k}: {u}");
    }
    assert_eq!(u["profile"]["name"], "Standard");
    assert_eq!(u["status"], "active");
    let all = env.get(&t, "/users?type=AllUsers").await;
    assert_eq!(all.body["users"].as_array().unwrap().len(), 3);
    assert_eq!(all.body["info"]["count"], 3);
    let aiko = all.body["users"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["email"] == AIKO)
        .unwrap()
        .clone();
    assert_eq!(aiko["full_name"], "田中 愛子");
    let admins = env.get(&t, "/users?type=AdminUsers").await;
    let emails: Vec<&str> = admins.body["users"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["email"].as_str().unwrap())
        .collect();
    assert_eq!(emails, vec![AIKO]);
    assert_eq!(env.get(&t, "/users?type=DeletedUsers").await.status, 204);
    assert_error(
        &env.get(&t, "/users?type=Everyone").await,
        400,
        "INVALID_DATA",
    );
    let later = (env.sb.now() + chrono::Duration::seconds(1)).to_rfc3339();
    let url = format!("{}/users?type=AllUsers", env.api("us"));
    let r = env
        .send(
            Method::GET,
            &url,
            Some(&t),
            None,
            &[("If-Modified-Since", &later)],
        )
        .await;
    assert_eq!(r.status, 304);
    let count = env.get(&t, "/users/actions/count?type=ActiveUsers").await;
    assert_eq!(count.body["count"], 3);
    let one = env
        .get(&t, &format!("/users/{}", aiko["id"].as_str().unwrap()))
        .await;
    assert_eq!(one.body["users"][0]["email"], AIKO);
    let p = env.get(&t, "/settings/profiles").await;
    assert_eq!(p.status, 200);
    let profiles = p.body["profiles"].as_array().unwrap();
    let manage = |name: &str| {
        let prof = profiles.iter().find(|x| x["name"] == name).unwrap();
        prof["permissions_details"]
            .as_array()
            .unwrap()
            .iter()
            .find(|x| x["name"] == "Crm_Implied_Manage_Users")
            .unwrap()["enabled"]
            .clone()
    };
    assert_eq!(manage("Administrator"), json!(true));
    assert_eq!(manage("Standard"), json!(false));
    let pid = u["profile"]["id"].as_str().unwrap();
    let single = env.get(&t, &format!("/settings/profiles/{pid}")).await;
    assert_eq!(single.body["profiles"][0]["name"], "Standard");
    let users_scope_missing = env.token_scopes(BEN, &["ZohoCRM.modules.ALL"]);
    assert_error(
        &env.get(&users_scope_missing, "/users?type=CurrentUser")
            .await,
        401,
        "OAUTH_SCOPE_MISMATCH",
    );
}

fn new_user(email: &str, role: &str, profile: &str) -> Value {
    json!({"users": [{"first_name": "Emily", "last_name": "Clark", "email": email, "role": role, "profile": profile}]})
}

#[tokio::test]
async fn add_user_permissions_duplicates_licence() {
    let env = start().await;
    let aiko = env.token(AIKO);
    let ben = env.token(BEN);
    let me = env.get(&aiko, "/users?type=CurrentUser").await;
    let role = me.body["users"][0]["role"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let profiles = env.get(&aiko, "/settings/profiles").await;
    let standard = profiles.body["profiles"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "Standard")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    // Ben lacks Manage Users
    let r = env
        .post(
            &ben,
            "/users",
            new_user("emily.clark@sakura-demo.example", &role, &standard),
        )
        .await;
    assert_error(&r, 403, "NO_PERMISSION");
    assert_eq!(
        r.body["details"]["permissions"],
        json!(["Crm_Implied_Manage_Users"])
    );
    // Aiko may add; one user per call
    let r = env
        .post(
            &aiko,
            "/users",
            new_user("emily.clark@sakura-demo.example", &role, &standard),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.body["users"][0]["code"], "SUCCESS");
    assert_eq!(r.body["users"][0]["message"], "User added");
    let new_id = r.body["users"][0]["details"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let inv = env.control(Method::GET, "/invitations", None).await;
    let mail = inv.body["invitations"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["to"] == "emily.clark@sakura-demo.example")
        .unwrap()
        .clone();
    assert!(mail["subject"].as_str().unwrap().contains("Sakura Trading"));
    let not_confirmed = env.get(&aiko, "/users?type=NotConfirmedUsers").await;
    assert_eq!(not_confirmed.body["users"][0]["id"], new_id.as_str());
    // not confirmed → cannot sign in / get tokens yet
    assert!(env
        .sb
        .mint_token("emily.clark@sakura-demo.example", ALL_SCOPES)
        .is_err());
    env.control(Method::POST, &format!("/invitations/{new_id}/accept"), None)
        .await;
    assert!(env
        .sb
        .mint_token("emily.clark@sakura-demo.example", ALL_SCOPES)
        .is_ok());
    let dup = env
        .post(
            &aiko,
            "/users",
            new_user("EMILY.clark@sakura-demo.example", &role, &standard),
        )
        .await;
    assert_eq!(dup.status, 400);
    assert_eq!(dup.body["users"][0]["code"], "DUPLICATE_DATA");
    let two = json!({"users": [new_user("a@x.example", &role, &standard)["users"][0], new_user("b@x.example", &role, &standard)["users"][0]]});
    assert_error(&env.post(&aiko, "/users", two).await, 400, "LIMIT_EXCEEDED");
    let missing = env
        .post(
            &aiko,
            "/users",
            json!({"users": [{"last_name": "X", "role": role, "profile": standard}]}),
        )
        .await;
    assert_eq!(missing.body["users"][0]["code"], "MANDATORY_NOT_FOUND");
    assert_eq!(missing.body["users"][0]["details"]["api_name"], "email");
    let no_role = env
        .post(
            &aiko,
            "/users",
            json!({"users": [{"last_name": "X", "email": "x@x.example", "profile": standard}]}),
        )
        .await;
    assert_eq!(no_role.body["users"][0]["details"]["api_name"], "role");
    let bad_profile = env
        .post(&aiko, "/users", new_user("y@x.example", &role, "1"))
        .await;
    assert_eq!(bad_profile.body["users"][0]["code"], "INVALID_DATA");
    // licence limit
    let org_id = env
        .sb
        .with_state(|st| st.orgs.values().find(|o| o.dc == "us").unwrap().id.clone());
    env.control(
        Method::PUT,
        &format!("/orgs/{org_id}/limits"),
        Some(json!({"license_limit": 4})),
    )
    .await;
    let r = env
        .post(
            &aiko,
            "/users",
            new_user("lucas.martin@sakura-demo.example", &role, &standard),
        )
        .await;
    assert_eq!(r.status, 400);
    assert_eq!(r.body["users"][0]["code"], "LICENSE_LIMIT_EXCEEDED");
    let create_scope_missing = env.token_scopes(AIKO, &["ZohoCRM.users.READ"]);
    assert_error(
        &env.post(
            &create_scope_missing,
            "/users",
            new_user("z@x.example", &role, &standard),
        )
        .await,
        401,
        "OAUTH_SCOPE_MISMATCH",
    );
}

#[tokio::test]
async fn custom_profile_with_manage_users_may_add_users() {
    let env = start().await;
    let p = env
        .control(
            Method::POST,
            "/profiles",
            Some(json!({"org_of": AIKO, "name": "Sales Manager", "manage_users": true})),
        )
        .await;
    assert_eq!(p.status, 201, "{}", p.text);
    let profile_id = p.body["id"].as_str().unwrap().to_string();
    let r = env
        .control(
            Method::POST,
            "/roles",
            Some(json!({"org_of": AIKO, "name": "Regional Lead"})),
        )
        .await;
    let role_id = r.body["id"].as_str().unwrap().to_string();
    let dup = env
        .control(
            Method::POST,
            "/roles",
            Some(json!({"org_of": AIKO, "name": "regional lead"})),
        )
        .await;
    assert_eq!(dup.status, 409);
    let u = env
        .control(
            Method::POST,
            "/users",
            Some(
                json!({"org_of": AIKO, "email": "mgr@sakura-demo.example", "last_name": "Manager",
            "profile": "Sales Manager", "role": "Regional Lead"}),
            ),
        )
        .await;
    assert_eq!(u.status, 201, "{}", u.text);
    let t = env.token("mgr@sakura-demo.example");
    let me = env.get(&t, "/users?type=CurrentUser").await;
    assert_eq!(me.body["users"][0]["profile"]["id"], profile_id.as_str());
    assert_eq!(me.body["users"][0]["role"]["id"], role_id.as_str());
    let profiles = env.get(&t, "/settings/profiles").await;
    let custom = profiles.body["profiles"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["name"] == "Sales Manager")
        .unwrap()
        .clone();
    assert_eq!(custom["custom"], true);
    let added = env.post(&t, "/users", json!({"users": [{"last_name": "Yamamoto", "first_name": "Ren",
        "email": "ren.yamamoto@sakura-demo.example", "role": role_id, "profile": {"id": profile_id, "name": "Sales Manager"}}]})).await;
    assert_eq!(added.status, 201, "{}", added.text);
}

#[tokio::test]
async fn org_info() {
    let env = start().await;
    let t = env.token_scopes(AIKO, &["ZohoCRM.org.READ"]);
    let r = env.get(&t, "/org").await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["org"][0]["company_name"], "Sakura Trading (Demo)");
    assert_eq!(r.body["org"][0]["time_zone"], "Asia/Tokyo");
    assert_eq!(r.body["org"][0]["primary_email"], AIKO);
    let no = env.token_scopes(AIKO, &["ZohoCRM.modules.ALL"]);
    assert_error(&env.get(&no, "/org").await, 401, "OAUTH_SCOPE_MISMATCH");
}

#[tokio::test]
async fn update_and_delete_users_need_manage_users() {
    let env = start().await;
    let aiko = env.token(AIKO);
    let ben = env.token(BEN);
    let all = env.get(&aiko, "/users?type=AllUsers").await;
    let id_of = |email: &str| {
        all.body["users"]
            .as_array()
            .unwrap()
            .iter()
            .find(|u| u["email"] == email)
            .unwrap()["id"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let haruto = id_of(HARUTO);
    let body = json!({"users": [{"time_zone": "Europe/Paris", "first_name": "Haruto"}]});
    let r = env
        .put(&ben, &format!("/users/{haruto}"), body.clone())
        .await;
    assert_error(&r, 403, "NO_PERMISSION");
    let r = env.put(&aiko, &format!("/users/{haruto}"), body).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["users"][0]["message"], "User updated");
    let t = env.token(HARUTO);
    let me = env.get(&t, "/users?type=CurrentUser").await;
    assert_eq!(me.body["users"][0]["time_zone"], "Europe/Paris");
    let bad = env
        .put(
            &aiko,
            &format!("/users/{haruto}"),
            json!({"users": [{"time_zone": "Mars/Base"}]}),
        )
        .await;
    assert_eq!(bad.body["users"][0]["code"], "INVALID_DATA");
    assert_error(
        &env.delete(&ben, &format!("/users/{haruto}")).await,
        403,
        "NO_PERMISSION",
    );
    let d = env.delete(&aiko, &format!("/users/{haruto}")).await;
    assert_eq!(d.status, 200, "{}", d.text);
    assert_error(
        &env.get(&t, "/users?type=CurrentUser").await,
        401,
        "INVALID_TOKEN",
    );
    let deleted = env.get(&aiko, "/users?type=DeletedUsers").await;
    assert_eq!(deleted.body["users"][0]["email"], HARUTO);
    let aiko_id = id_of(AIKO);
    assert_error(
        &env.delete(&aiko, &format!("/users/{aiko_id}")).await,
        400,
        "NOT_ALLOWED",
    );
}
