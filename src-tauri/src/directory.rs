//! "+ Office 365 users" (design.md §1 item 14): the commands that list the Microsoft 365
//! directory next to the CRM and invite people into the CRM, with their DTOs.
//!
//! The shell only wires: who can be invited, the permission, the default profile and role
//! and the invitations are crmsync-connect's `directory` module. The saved sessions are used
//! (no new sign-in). The only mail is the CRM's own invitation, sent by Zoho on add-user.

use serde::Serialize;
use specta::Type;
use tauri::{AppHandle, State};

use crmsync_connect::directory::{
    self, DirectoryPerson, InviteOutcome as Outcome, ManageUsers as Permission, NotInvitable,
};
use crmsync_connect::ConnectError;

use crate::error::{CommandError, ErrorCode};
use crate::sync::SyncService;

/// At most this many people per invitation request.
const MAX_INVITES: usize = 50;

/// Why a directory person cannot be invited.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Type)]
#[serde(rename_all = "snake_case")]
pub enum NotInvitableReason {
    /// No mail address in Microsoft 365.
    NoMail,
    /// The mail is not the sign-in name, so it cannot be the CRM login.
    MailDiffersFromSignIn,
    /// Already a CRM user.
    AlreadyInCrm,
}

impl From<NotInvitable> for NotInvitableReason {
    fn from(n: NotInvitable) -> Self {
        match n {
            NotInvitable::NoMail => NotInvitableReason::NoMail,
            NotInvitable::MailDiffersFromSignIn => NotInvitableReason::MailDiffersFromSignIn,
            NotInvitable::AlreadyInCrm => NotInvitableReason::AlreadyInCrm,
        }
    }
}

/// One person of the Microsoft 365 directory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Type)]
pub struct DirectoryUser {
    /// Microsoft 365 object id.
    pub id: String,
    pub display_name: String,
    /// The Microsoft 365 mail address (null: none).
    pub mail: Option<String>,
    /// The sign-in name (user principal name).
    pub sign_in_name: String,
    /// A CRM user has this address (case-insensitive).
    pub in_crm: bool,
    /// Whether the person can be invited now.
    pub can_invite: bool,
    /// Why not, when they cannot.
    pub reason: Option<NotInvitableReason>,
}

impl From<DirectoryPerson> for DirectoryUser {
    fn from(p: DirectoryPerson) -> Self {
        DirectoryUser {
            can_invite: p.can_invite(),
            reason: p.not_invitable.map(Into::into),
            id: p.id,
            display_name: p.display_name,
            mail: p.mail,
            sign_in_name: p.sign_in_name,
            in_crm: p.in_crm,
        }
    }
}

/// Whether the signed-in CRM user may add users ("Manage Users").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Type)]
#[serde(rename_all = "snake_case")]
pub enum ManageUsers {
    Allowed,
    Denied,
    /// The CRM did not say; inviting finds out.
    Unknown,
}

/// What the "+ Office 365 users" dialog shows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Type)]
pub struct DirectoryView {
    pub users: Vec<DirectoryUser>,
    pub manage_users: ManageUsers,
    /// The CRM profile new users get (its name), if the CRM has one that fits.
    pub default_profile: Option<String>,
    /// The CRM role new users get (its name).
    pub default_role: Option<String>,
}

/// What happened to one invitation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Type)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum InviteOutcome {
    /// Added to the CRM; the CRM mailed its invitation.
    Added { user_id: String },
    /// Already a CRM user; nothing was sent.
    AlreadyInCrm,
    /// The signed-in CRM user lacks "Manage Users"; nobody was added.
    NoPermission,
    /// All the CRM's licences are in use.
    LicenceLimit,
    /// The CRM refused the data.
    InvalidData { message: String },
    /// The person cannot be invited (why).
    NotInvitable { reason: NotInvitableReason },
    /// No Microsoft 365 person has this address.
    NotInDirectory,
    /// The CRM has no profile or role to give new users (`what`: `profile` or `role`).
    NoDefaultAccess { what: String },
    /// Anything else; the message says what.
    Failed { message: String },
}

impl From<Outcome> for InviteOutcome {
    fn from(o: Outcome) -> Self {
        match o {
            Outcome::Added { user_id } => InviteOutcome::Added { user_id },
            Outcome::AlreadyInCrm => InviteOutcome::AlreadyInCrm,
            Outcome::NoPermission => InviteOutcome::NoPermission,
            Outcome::LicenceLimit => InviteOutcome::LicenceLimit,
            Outcome::InvalidData(message) => InviteOutcome::InvalidData { message },
            Outcome::NotInvitable(reason) => InviteOutcome::NotInvitable {
                reason: reason.into(),
            },
            Outcome::NotInDirectory => InviteOutcome::NotInDirectory,
            Outcome::NoDefaultAccess(what) => InviteOutcome::NoDefaultAccess { what },
            Outcome::Failed(message) => InviteOutcome::Failed { message },
        }
    }
}

/// One person's invitation result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Type)]
pub struct InviteResult {
    pub email: String,
    pub outcome: InviteOutcome,
}

fn failure(e: &ConnectError) -> CommandError {
    use crmsync_graph::GraphError;
    use crmsync_zoho::ZohoError;
    tracing::warn!(error = %e, "directory operation failed");
    let code = match e {
        ConnectError::Graph(GraphError::Network(_)) | ConnectError::Zoho(ZohoError::Network(_)) => {
            ErrorCode::Network
        }
        ConnectError::Graph(GraphError::ReconnectNeeded(_))
        | ConnectError::Zoho(ZohoError::ReconnectNeeded(_)) => ErrorCode::NotSyncing,
        _ => ErrorCode::Sync,
    };
    CommandError::new(code, e.to_string())
}

/// The Microsoft 365 directory (searched by name when `search` is given), with who is in the
/// CRM already and who can be invited, and whether the CRM user may manage users.
///
/// # Errors
/// `zoho_not_connected` / `microsoft_not_connected`; `not_syncing` when a saved sign-in is no
/// longer valid; `network` / `sync` when a service cannot be read.
#[tauri::command]
#[specta::specta]
pub async fn list_directory_users(
    app: AppHandle,
    sync: State<'_, SyncService>,
    search: Option<String>,
) -> Result<DirectoryView, CommandError> {
    let clients = sync.clients(&app).await?;
    let listing = directory::list_directory(&clients.graph, &clients.zoho, search.as_deref())
        .await
        .map_err(|e| failure(&e))?;
    Ok(DirectoryView {
        users: listing.people.into_iter().map(Into::into).collect(),
        manage_users: match listing.manage_users {
            Permission::Allowed => ManageUsers::Allowed,
            Permission::Denied => ManageUsers::Denied,
            Permission::Unknown => ManageUsers::Unknown,
        },
        default_profile: listing.default_profile.map(|p| p.name),
        default_role: listing.default_role.map(|r| r.name),
    })
}

/// Invites the Microsoft 365 people with these mail addresses into the CRM: one result per
/// address. Each is checked again; the CRM mails its own invitation to each person added.
///
/// # Errors
/// `invalid_input` for no address or more than 50; otherwise as [`list_directory_users`].
#[tauri::command]
#[specta::specta]
pub async fn invite_directory_users(
    app: AppHandle,
    sync: State<'_, SyncService>,
    emails: Vec<String>,
) -> Result<Vec<InviteResult>, CommandError> {
    if emails.is_empty() || emails.len() > MAX_INVITES {
        return Err(CommandError::new(
            ErrorCode::InvalidInput,
            format!("choose between 1 and {MAX_INVITES} people to invite"),
        ));
    }
    let clients = sync.clients(&app).await?;
    tracing::info!(people = emails.len(), "inviting Microsoft 365 colleagues");
    let results = directory::invite(&clients.graph, &clients.zoho, &emails)
        .await
        .map_err(|e| failure(&e))?;
    Ok(results
        .into_iter()
        .map(|r| InviteResult {
            email: r.email,
            outcome: r.outcome.into(),
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outcomes_cross_the_boundary_tagged() {
        let v = serde_json::to_value(InviteOutcome::from(Outcome::NotInvitable(
            NotInvitable::MailDiffersFromSignIn,
        )))
        .unwrap();
        assert_eq!(
            v,
            serde_json::json!({"kind": "not_invitable", "reason": "mail_differs_from_sign_in"})
        );
        let v = serde_json::to_value(InviteOutcome::from(Outcome::Added {
            user_id: "7".into(),
        }))
        .unwrap();
        assert_eq!(v, serde_json::json!({"kind": "added", "user_id": "7"}));
    }
}
