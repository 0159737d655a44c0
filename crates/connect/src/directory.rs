//! Bringing Microsoft 365 colleagues into the CRM (design.md §1 item 14): the Microsoft 365
//! directory next to the CRM's users, who can be invited (the Microsoft 365 mail must be the
//! sign-in name, so the same address can be the CRM login, and not be a CRM user already),
//! whether the signed-in CRM user may manage users, and the invitation itself.
//!
//! The only mail this sends is the CRM's own invitation, which Zoho sends when a user is
//! added. New users get the CRM's "Standard" profile and a non-admin role, both read from the
//! CRM (never hard-coded ids). The client has no roles call, so the role is learned from the
//! CRM's users: the one most held by users with a profile that cannot manage users.

use std::collections::BTreeMap;

use crmsync_graph::models::User as GraphUser;
use crmsync_graph::GraphClient;
use crmsync_zoho::models::{NewUser, Profile, ZUser};
use crmsync_zoho::{ZohoClient, ZohoError};

use crate::ConnectError;

/// The profile new users get when the CRM has it.
pub const DEFAULT_PROFILE_NAME: &str = "Standard";
/// Zoho's limits on a user's names.
const FIRST_NAME_MAX: usize = 40;
const LAST_NAME_MAX: usize = 80;

/// Why a directory person cannot be invited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotInvitable {
    /// No mail address in Microsoft 365.
    NoMail,
    /// The mail differs from the sign-in name (UPN), so it cannot be the CRM login.
    MailDiffersFromSignIn,
    /// A CRM user has this address already.
    AlreadyInCrm,
}

/// One person of the Microsoft 365 directory, as the invite dialog shows them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirectoryPerson {
    /// Microsoft 365 object id.
    pub id: String,
    pub display_name: String,
    /// The Microsoft 365 mail address, if any.
    pub mail: Option<String>,
    /// The sign-in name (user principal name).
    pub sign_in_name: String,
    /// A CRM user has this person's mail (or sign-in name), case-insensitively.
    pub in_crm: bool,
    /// `None` when the person can be invited.
    pub not_invitable: Option<NotInvitable>,
    pub given_name: Option<String>,
    pub surname: Option<String>,
}

impl DirectoryPerson {
    #[must_use]
    pub fn can_invite(&self) -> bool {
        self.not_invitable.is_none()
    }
}

/// Whether the signed-in CRM user may add users.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ManageUsers {
    Allowed,
    Denied,
    /// The CRM did not say (its profiles could not be read); an invitation finds out.
    Unknown,
}

/// A profile or role of the CRM: id and name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Named {
    pub id: String,
    pub name: String,
}

/// The directory next to the CRM.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirectoryListing {
    pub people: Vec<DirectoryPerson>,
    pub manage_users: ManageUsers,
    /// The profile new users get (`None`: the CRM has none that fits).
    pub default_profile: Option<Named>,
    /// The role new users get.
    pub default_role: Option<Named>,
}

/// What happened to one invitation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InviteOutcome {
    /// Added to the CRM; Zoho mailed them its invitation.
    Added { user_id: String },
    /// A CRM user has this address already; nothing was sent.
    AlreadyInCrm,
    /// The signed-in CRM user lacks the "Manage Users" permission.
    NoPermission,
    /// The CRM's licences are all used.
    LicenceLimit,
    /// The CRM refused the data (the message says which).
    InvalidData(String),
    /// The address is in the directory but cannot be the CRM login.
    NotInvitable(NotInvitable),
    /// No Microsoft 365 person has this address.
    NotInDirectory,
    /// The CRM has no profile or role to give (the message says which).
    NoDefaultAccess(String),
    /// Anything else (network, throttling); the message says what. The add may or may not
    /// have happened when the answer was lost.
    Failed(String),
}

/// One invitation's result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InviteResult {
    pub email: String,
    pub outcome: InviteOutcome,
}

fn same(a: &str, b: &str) -> bool {
    a.trim().eq_ignore_ascii_case(b.trim())
}

fn non_empty(s: Option<&String>) -> Option<&str> {
    s.map(|s| s.trim()).filter(|s| !s.is_empty())
}

/// The CRM addresses in use: every user's e-mail (deleted users are not listed by `AllUsers`).
fn crm_addresses(crm_users: &[ZUser]) -> Vec<String> {
    crm_users
        .iter()
        .filter(|u| u.status.as_deref() != Some("deleted"))
        .filter_map(|u| non_empty(u.email.as_ref()).map(str::to_ascii_lowercase))
        .collect()
}

/// The directory people with whether each is in the CRM and can be invited, sorted by name.
#[must_use]
pub fn classify(graph_users: &[GraphUser], crm_users: &[ZUser]) -> Vec<DirectoryPerson> {
    let crm = crm_addresses(crm_users);
    let in_crm = |a: &str| crm.iter().any(|c| same(c, a));
    let mut out: Vec<DirectoryPerson> = graph_users
        .iter()
        .map(|u| {
            let upn = non_empty(u.user_principal_name.as_ref())
                .unwrap_or_default()
                .to_owned();
            let mail = non_empty(u.mail.as_ref()).map(str::to_owned);
            let member = mail.as_deref().is_some_and(in_crm) || (!upn.is_empty() && in_crm(&upn));
            let not_invitable = match &mail {
                None => Some(NotInvitable::NoMail),
                Some(_) if member => Some(NotInvitable::AlreadyInCrm),
                Some(m) if !same(m, &upn) => Some(NotInvitable::MailDiffersFromSignIn),
                Some(_) => None,
            };
            DirectoryPerson {
                id: u.id.clone(),
                display_name: non_empty(u.display_name.as_ref())
                    .map(str::to_owned)
                    .or_else(|| mail.clone())
                    .unwrap_or_else(|| upn.clone()),
                mail,
                sign_in_name: upn,
                in_crm: member,
                not_invitable,
                given_name: non_empty(u.given_name.as_ref()).map(str::to_owned),
                surname: non_empty(u.surname.as_ref()).map(str::to_owned),
            }
        })
        .collect();
    out.sort_by(|a, b| {
        a.display_name
            .to_lowercase()
            .cmp(&b.display_name.to_lowercase())
            .then_with(|| a.sign_in_name.cmp(&b.sign_in_name))
    });
    out
}

/// Whether `me` may manage users, from their profile's permissions.
#[must_use]
pub fn manage_users(me: &ZUser, profiles: Option<&[Profile]>) -> ManageUsers {
    let Some(profiles) = profiles else {
        return ManageUsers::Unknown;
    };
    let Some(pid) = me.profile.as_ref().and_then(|p| p.id.as_deref()) else {
        return ManageUsers::Unknown;
    };
    match profiles.iter().find(|p| p.id == pid) {
        Some(p) if p.can_manage_users() => ManageUsers::Allowed,
        Some(_) => ManageUsers::Denied,
        None => ManageUsers::Unknown,
    }
}

/// The profile new users get: the CRM's "Standard" profile (from the profiles, else from a
/// user who has it); else, with the profiles known, the first that cannot manage users.
#[must_use]
pub fn default_profile(profiles: Option<&[Profile]>, crm_users: &[ZUser]) -> Option<Named> {
    if let Some(profiles) = profiles {
        return profiles
            .iter()
            .find(|p| same(&p.name, DEFAULT_PROFILE_NAME))
            .or_else(|| profiles.iter().find(|p| !p.can_manage_users()))
            .map(|p| Named {
                id: p.id.clone(),
                name: p.name.clone(),
            });
    }
    crm_users.iter().find_map(|u| {
        let p = u.profile.as_ref()?;
        let name = p.name.as_deref()?;
        let id = p.id.clone()?;
        same(name, DEFAULT_PROFILE_NAME).then(|| Named {
            id,
            name: name.to_owned(),
        })
    })
}

/// The role new users get: the one most held by CRM users whose profile cannot manage users
/// (ties: held by users of `profile`, then the role created last, then by name); `None` when
/// no such user has a role.
#[must_use]
pub fn default_role(
    crm_users: &[ZUser],
    profiles: Option<&[Profile]>,
    profile: Option<&Named>,
) -> Option<Named> {
    let manages = |u: &ZUser| -> bool {
        let Some(pid) = u.profile.as_ref().and_then(|p| p.id.as_deref()) else {
            return true;
        };
        match profiles {
            Some(ps) => ps
                .iter()
                .find(|p| p.id == pid)
                .is_none_or(Profile::can_manage_users),
            // Without the profiles, only the default profile is known not to manage users.
            None => profile.is_none_or(|d| d.id != pid),
        }
    };
    // name → (count, held by a user of the default profile, id)
    let mut roles: BTreeMap<String, (usize, bool, String)> = BTreeMap::new();
    for u in crm_users
        .iter()
        .filter(|u| u.status.as_deref() != Some("deleted"))
    {
        let Some((id, name)) = u
            .role
            .as_ref()
            .and_then(|r| Some((r.id.clone()?, r.name.clone()?)))
        else {
            continue;
        };
        if manages(u) {
            continue;
        }
        let of_default = profile.is_some_and(|d| {
            u.profile.as_ref().and_then(|p| p.id.as_deref()) == Some(d.id.as_str())
        });
        let e = roles.entry(name).or_insert((0, false, id));
        e.0 += 1;
        e.1 |= of_default;
    }
    // Numeric ids grow as roles are created, and an org's top roles come first, so the later
    // role is the likelier junior one.
    let id_key = |id: &str| (id.len(), id.to_owned());
    roles
        .into_iter()
        .max_by(|(an, a), (bn, b)| {
            a.0.cmp(&b.0)
                .then(a.1.cmp(&b.1))
                .then_with(|| id_key(&a.2).cmp(&id_key(&b.2)))
                // The smaller name wins a full tie (max_by keeps the last maximum).
                .then(bn.cmp(an))
        })
        .map(|(name, (_, _, id))| Named { id, name })
}

fn truncate(s: &str, max: usize) -> String {
    s.chars().take(max).collect()
}

/// The CRM user to add for `person` (mail as the login, names from Microsoft 365).
#[must_use]
pub fn new_user(person: &DirectoryPerson, profile: &Named, role: &Named) -> NewUser {
    let email = person.mail.clone().unwrap_or_default();
    let (first, last) = match (&person.given_name, &person.surname) {
        (given, Some(surname)) => (given.clone(), surname.clone()),
        (Some(given), None) => (None, given.clone()),
        (None, None) => (
            None,
            if person.display_name.trim().is_empty() {
                email.split('@').next().unwrap_or_default().to_owned()
            } else {
                person.display_name.clone()
            },
        ),
    };
    NewUser {
        email,
        first_name: first.map(|f| truncate(&f, FIRST_NAME_MAX)),
        last_name: truncate(&last, LAST_NAME_MAX),
        role: role.id.clone(),
        profile: profile.id.clone(),
    }
}

fn is_no_permission(e: &ZohoError) -> bool {
    matches!(e, ZohoError::Auth { status: 403, code, .. }
        if code == "NO_PERMISSION" || code == "PERMISSION_DENIED")
}

/// The outcome of a refused add.
#[must_use]
pub fn outcome_of(e: &ZohoError) -> InviteOutcome {
    match e {
        _ if is_no_permission(e) => InviteOutcome::NoPermission,
        ZohoError::Conflict { code, .. } if code == "DUPLICATE_DATA" => InviteOutcome::AlreadyInCrm,
        ZohoError::InvalidData { code, .. } if code == "DUPLICATE_DATA" => {
            InviteOutcome::AlreadyInCrm
        }
        ZohoError::InvalidData { code, .. } if code == "LICENSE_LIMIT_EXCEEDED" => {
            InviteOutcome::LicenceLimit
        }
        ZohoError::InvalidData {
            code,
            message,
            details,
            ..
        } => {
            let field = details
                .get("api_name")
                .and_then(serde_json::Value::as_str)
                .map(|f| format!(" ({f})"))
                .unwrap_or_default();
            InviteOutcome::InvalidData(format!("{code}: {message}{field}"))
        }
        other => InviteOutcome::Failed(other.to_string()),
    }
}

/// Reads the CRM side: its users, and its profiles when the user may read them.
async fn crm_side(
    zoho: &ZohoClient,
) -> Result<(ZUser, Vec<ZUser>, Option<Vec<Profile>>), ZohoError> {
    let me = zoho.current_user().await?;
    let users = zoho.users("AllUsers").await?;
    let profiles = match zoho.profiles().await {
        Ok(p) => Some(p),
        // Reading profiles may itself need a permission the user lacks.
        Err(e @ ZohoError::Auth { status: 403, .. }) => {
            tracing::info!(error = %e, "the CRM's profiles cannot be read by this user");
            None
        }
        Err(e) => return Err(e),
    };
    Ok((me, users, profiles))
}

/// The Microsoft 365 directory (optionally searched by display name) next to the CRM.
///
/// # Errors
/// [`ConnectError`] when either side cannot be read.
pub async fn list_directory(
    graph: &GraphClient,
    zoho: &ZohoClient,
    search: Option<&str>,
) -> Result<DirectoryListing, ConnectError> {
    let search = search.map(str::trim).filter(|s| !s.is_empty());
    let people = graph.list_users(search).await?;
    let (me, users, profiles) = crm_side(zoho).await?;
    let profile = default_profile(profiles.as_deref(), &users);
    let role = default_role(&users, profiles.as_deref(), profile.as_ref());
    Ok(DirectoryListing {
        people: classify(&people, &users),
        manage_users: manage_users(&me, profiles.as_deref()),
        default_profile: profile,
        default_role: role,
    })
}

/// Invites the directory people with these mail addresses into the CRM, one at a time. Every
/// address is checked again against the directory and the CRM (the window's list may be old);
/// without "Manage Users" nobody is added. Zoho mails each added person its invitation; this
/// sends nothing else.
///
/// # Errors
/// [`ConnectError`] when either side cannot be read; refusals are per-person outcomes.
pub async fn invite(
    graph: &GraphClient,
    zoho: &ZohoClient,
    emails: &[String],
) -> Result<Vec<InviteResult>, ConnectError> {
    let directory = graph.list_users(None).await?;
    let (me, users, profiles) = crm_side(zoho).await?;
    let people = classify(&directory, &users);
    let permission = manage_users(&me, profiles.as_deref());
    let profile = default_profile(profiles.as_deref(), &users);
    let role = default_role(&users, profiles.as_deref(), profile.as_ref());
    let mut denied = permission == ManageUsers::Denied;
    let mut seen: Vec<String> = Vec::new();
    let mut out = Vec::new();
    for email in emails {
        let email = email.trim().to_owned();
        if seen.iter().any(|s| same(s, &email)) {
            continue;
        }
        seen.push(email.clone());
        let person = people
            .iter()
            .find(|p| p.mail.as_deref().is_some_and(|m| same(m, &email)));
        let outcome = match person {
            None => InviteOutcome::NotInDirectory,
            Some(p) => match p.not_invitable {
                Some(NotInvitable::AlreadyInCrm) => InviteOutcome::AlreadyInCrm,
                Some(why) => InviteOutcome::NotInvitable(why),
                None if denied => InviteOutcome::NoPermission,
                None => match (&profile, &role) {
                    (None, _) => InviteOutcome::NoDefaultAccess("profile".into()),
                    (_, None) => InviteOutcome::NoDefaultAccess("role".into()),
                    (Some(profile), Some(role)) => {
                        match zoho.add_user(&new_user(p, profile, role)).await {
                            Ok(user_id) => {
                                tracing::info!("a Microsoft 365 colleague was added to the CRM");
                                InviteOutcome::Added { user_id }
                            }
                            Err(e) => {
                                tracing::warn!(error = %e, "adding a CRM user was refused");
                                let o = outcome_of(&e);
                                // The permission belongs to the caller: nobody else is tried.
                                denied |= o == InviteOutcome::NoPermission;
                                o
                            }
                        }
                    }
                },
            },
        };
        out.push(InviteResult { email, outcome });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crmsync_zoho::models::Lookup;
    use serde_json::json;

    fn gu(id: &str, name: &str, mail: Option<&str>, upn: &str) -> GraphUser {
        serde_json::from_value(json!({
            "id": id, "displayName": name, "mail": mail, "userPrincipalName": upn,
            "givenName": name.split(' ').next(), "surname": name.split(' ').nth(1),
        }))
        .unwrap()
    }

    fn lookup(id: &str, name: &str) -> Option<Lookup> {
        Some(Lookup {
            id: Some(id.into()),
            name: Some(name.into()),
            email: None,
        })
    }

    fn zu(id: &str, email: &str, profile: (&str, &str), role: (&str, &str)) -> ZUser {
        ZUser {
            id: id.into(),
            email: Some(email.into()),
            full_name: None,
            first_name: None,
            last_name: None,
            status: Some("active".into()),
            confirm: Some(true),
            profile: lookup(profile.0, profile.1),
            role: lookup(role.0, role.1),
            time_zone: None,
        }
    }

    fn profile(id: &str, name: &str, manage: bool) -> Profile {
        Profile {
            id: id.into(),
            name: name.into(),
            permissions_details: vec![
                json!({"name": "Crm_Implied_Manage_Users", "enabled": manage}),
            ],
        }
    }

    const ADMIN: (&str, &str) = ("p1", "Administrator");
    const STANDARD: (&str, &str) = ("p2", "Standard");

    fn crm() -> Vec<ZUser> {
        vec![
            zu("u1", "aiko@x.example", ADMIN, ("r1", "CEO")),
            zu(
                "u2",
                "BEN@x.example",
                STANDARD,
                ("r3", "Sales Representative"),
            ),
            zu("u3", "haruto@other.example", STANDARD, ("r2", "Manager")),
            zu(
                "u4",
                "mia@x.example",
                STANDARD,
                ("r3", "Sales Representative"),
            ),
        ]
    }

    fn profiles() -> Vec<Profile> {
        vec![
            profile("p1", "Administrator", true),
            profile("p2", "Standard", false),
        ]
    }

    #[test]
    fn only_people_whose_mail_is_their_sign_in_name_and_new_to_the_crm_can_be_invited() {
        let people = classify(
            &[
                gu("1", "Ben Carter", Some("ben@x.example"), "ben@x.example"),
                gu(
                    "2",
                    "Emily Clark",
                    Some("Emily@X.example"),
                    "emily@x.example",
                ),
                gu(
                    "3",
                    "Sora Kimura",
                    Some("sora@sales.example"),
                    "sora@x.example",
                ),
                gu("4", "Room Fuji", None, "fuji@x.example"),
                gu(
                    "5",
                    "Aiko Tanaka",
                    Some("aiko.t@x.example"),
                    "aiko@x.example",
                ),
            ],
            &crm(),
        );
        let by = |name: &str| people.iter().find(|p| p.display_name == name).unwrap();
        assert_eq!(
            by("Ben Carter").not_invitable,
            Some(NotInvitable::AlreadyInCrm),
            "matched case-insensitively"
        );
        assert!(by("Ben Carter").in_crm);
        assert!(by("Emily Clark").can_invite(), "case does not matter");
        assert!(!by("Emily Clark").in_crm);
        assert_eq!(
            by("Sora Kimura").not_invitable,
            Some(NotInvitable::MailDiffersFromSignIn)
        );
        assert_eq!(by("Room Fuji").not_invitable, Some(NotInvitable::NoMail));
        assert_eq!(
            by("Aiko Tanaka").not_invitable,
            Some(NotInvitable::AlreadyInCrm),
            "a CRM user signs in with the same name"
        );
        let names: Vec<&str> = people.iter().map(|p| p.display_name.as_str()).collect();
        assert_eq!(
            names,
            [
                "Aiko Tanaka",
                "Ben Carter",
                "Emily Clark",
                "Room Fuji",
                "Sora Kimura"
            ]
        );
    }

    #[test]
    fn a_deleted_crm_user_does_not_count() {
        let mut users = crm();
        users[1].status = Some("deleted".into());
        let people = classify(
            &[gu(
                "1",
                "Ben Carter",
                Some("ben@x.example"),
                "ben@x.example",
            )],
            &users,
        );
        assert!(people[0].can_invite());
    }

    #[test]
    fn the_permission_comes_from_the_users_profile() {
        let users = crm();
        let ps = profiles();
        assert_eq!(manage_users(&users[0], Some(&ps)), ManageUsers::Allowed);
        assert_eq!(manage_users(&users[1], Some(&ps)), ManageUsers::Denied);
        assert_eq!(manage_users(&users[1], None), ManageUsers::Unknown);
        let mut stranger = users[1].clone();
        stranger.profile = lookup("p9", "Custom");
        assert_eq!(manage_users(&stranger, Some(&ps)), ManageUsers::Unknown);
    }

    #[test]
    fn new_users_get_the_standard_profile_and_the_commonest_non_admin_role() {
        let users = crm();
        let ps = profiles();
        let p = default_profile(Some(&ps), &users).unwrap();
        assert_eq!((p.id.as_str(), p.name.as_str()), ("p2", "Standard"));
        let r = default_role(&users, Some(&ps), Some(&p)).unwrap();
        assert_eq!(r.name, "Sales Representative");
        assert_eq!(r.id, "r3");
        // Without the profiles: the Standard profile is learned from its users.
        let p2 = default_profile(None, &users).unwrap();
        assert_eq!(p2, p);
        assert_eq!(default_role(&users, None, Some(&p2)).unwrap().id, "r3");
        // A tie goes to the role created last (the larger id); the admin's role is never chosen.
        let tie = &users[..3];
        assert_eq!(
            default_role(tie, Some(&ps), Some(&p)).unwrap().name,
            "Sales Representative"
        );
        assert_eq!(default_role(&users[..1], Some(&ps), Some(&p)), None);
        // No "Standard": the first profile that cannot manage users.
        let custom = vec![
            profile("p1", "Administrator", true),
            profile("p7", "Sales", false),
        ];
        assert_eq!(
            default_profile(Some(&custom), &users).unwrap().name,
            "Sales"
        );
    }

    #[test]
    fn the_new_user_carries_the_microsoft_names_within_zohos_limits() {
        let people = classify(
            &[gu(
                "2",
                "Emily Clark",
                Some("emily@x.example"),
                "emily@x.example",
            )],
            &[],
        );
        let profile = Named {
            id: "p2".into(),
            name: "Standard".into(),
        };
        let role = Named {
            id: "r3".into(),
            name: "Sales Representative".into(),
        };
        let u = new_user(&people[0], &profile, &role);
        assert_eq!(u.email, "emily@x.example");
        assert_eq!(u.first_name.as_deref(), Some("Emily"));
        assert_eq!(u.last_name, "Clark");
        assert_eq!((u.profile.as_str(), u.role.as_str()), ("p2", "r3"));
        let mut long = people[0].clone();
        long.given_name = None;
        long.surname = None;
        long.display_name = "x".repeat(100);
        let u = new_user(&long, &profile, &role);
        assert_eq!(u.first_name, None);
        assert_eq!(u.last_name.chars().count(), 80);
    }

    #[test]
    fn refusals_are_named() {
        let item = |code: &str| ZohoError::InvalidData {
            status: 400,
            code: code.into(),
            message: "m".into(),
            details: json!({"api_name": "email"}),
        };
        assert_eq!(
            outcome_of(&ZohoError::Auth {
                status: 403,
                code: "NO_PERMISSION".into(),
                message: "permission denied".into()
            }),
            InviteOutcome::NoPermission
        );
        assert_eq!(
            outcome_of(&ZohoError::Conflict {
                status: 400,
                code: "DUPLICATE_DATA".into(),
                message: "m".into()
            }),
            InviteOutcome::AlreadyInCrm
        );
        assert_eq!(
            outcome_of(&item("LICENSE_LIMIT_EXCEEDED")),
            InviteOutcome::LicenceLimit
        );
        assert_eq!(
            outcome_of(&item("INVALID_DATA")),
            InviteOutcome::InvalidData("INVALID_DATA: m (email)".into())
        );
        assert!(matches!(
            outcome_of(&ZohoError::Network("reset".into())),
            InviteOutcome::Failed(_)
        ));
    }
}
