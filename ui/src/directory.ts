// "+ Office 365 users": a CRM admin picks colleagues from the Microsoft 365 directory and
// invites them into the CRM (design.md §1 item 14).
//
// The list comes from Rust with, for each person, whether they can be invited: their
// Microsoft 365 mail must be their sign-in name (so the same address becomes the CRM login)
// and they must not be a CRM user already. People who cannot be added are shown disabled
// with the reason. Without the CRM's "Manage Users" permission the dialog says so and
// invites nobody. The only mail is the CRM's own invitation, which Zoho sends on add-user.

import {
  commands,
  type CommandError,
  type DirectoryUser,
  type DirectoryView,
  type InviteOutcome,
  type InviteResult,
  type Lang,
  type NotInvitableReason,
  type Result,
} from "./bindings";
import { keepModal } from "./dialog";
import "./directory.css";
import { el } from "./dom";

/** The two commands the dialog needs; tests pass a fake. */
export interface DirectoryBackend {
  listDirectoryUsers(search: string | null): Promise<Result<DirectoryView, CommandError>>;
  inviteDirectoryUsers(emails: string[]): Promise<Result<InviteResult[], CommandError>>;
}

export const tauriDirectoryBackend: DirectoryBackend = {
  listDirectoryUsers: (search) => commands.listDirectoryUsers(search),
  inviteDirectoryUsers: (emails) => commands.inviteDirectoryUsers(emails),
};

const DIRECTORY_EN = {
  title: "Add Office 365 users to the CRM",
  intro:
    "Choose colleagues from your Microsoft 365 directory to add them as Zoho CRM users. Only people whose Microsoft 365 e-mail is also their sign-in name can be added: that address becomes their CRM login.",
  mailNote:
    "Zoho CRM e-mails each person you add its own invitation to join. CRM Sync sends no other mail.",
  access: "New users get the “{profile}” profile and the “{role}” role.",
  accessUnknown: "New users get the CRM's standard profile and a non-admin role.",
  searchLabel: "Search by name",
  search: "Search",
  listLabel: "Microsoft 365 people",
  loading: "Reading the Microsoft 365 directory…",
  loadFailed: "The directory could not be read: {message}",
  count: "{n} people",
  countOne: "1 person",
  none: "Nobody in Microsoft 365 matches “{search}”.",
  noneAtAll: "Nobody was found in the Microsoft 365 directory.",
  refused:
    "You cannot add users: your CRM profile does not have the “Manage Users” permission. Ask a CRM administrator to add them, or to give you that permission.",
  reasonNoMail: "Cannot be added: no e-mail address in Microsoft 365.",
  reasonMailDiffers: "Cannot be added: the e-mail ({mail}) is not the sign-in name ({upn}), so it cannot be the CRM login.",
  reasonMailDiffersShort: "the e-mail is not the sign-in name, so it cannot be the CRM login.",
  reasonAlreadyInCrm: "Already a CRM user.",
  invite: "Invite",
  inviteN: "Invite ({n})",
  inviting: "Inviting…",
  close: "Close",
  inviteFailed: "Nobody was invited: {message}",
  summary: "{added} added, {refused} not added.",
  resultAdded: "Added — Zoho CRM e-mailed the invitation.",
  resultAlreadyInCrm: "Already a CRM user; nothing was sent.",
  resultNoPermission: "Refused: you do not have the “Manage Users” permission.",
  resultLicenceLimit: "Refused: all the CRM's user licences are in use.",
  resultInvalidData: "Refused by the CRM: {message}",
  resultNotInvitable: "Not added: {reason}",
  resultNotInDirectory: "Not added: nobody in Microsoft 365 has this address any more.",
  resultNoDefaultAccess: "Not added: the CRM has no suitable {what} for new users.",
  resultFailed: "Not added: {message}",
};

export type DirectoryMessageKey = keyof typeof DIRECTORY_EN;

const DIRECTORY_JA: Record<DirectoryMessageKey, string> = {
  title: "Office 365 ユーザーを CRM に追加",
  intro:
    "Microsoft 365 のディレクトリから同僚を選んで、Zoho CRM のユーザーとして追加します。追加できるのは、Microsoft 365 のメールアドレスがサインイン名と同じ人だけです。そのアドレスが CRM のログインになります。",
  mailNote: "追加した各ユーザーには Zoho CRM から参加の招待メールが届きます。CRM Sync からはそれ以外のメールは送信されません。",
  access: "新しいユーザーには「{profile}」プロファイルと「{role}」役職が設定されます。",
  accessUnknown: "新しいユーザーには CRM の標準プロファイルと管理者以外の役職が設定されます。",
  searchLabel: "名前で検索",
  search: "検索",
  listLabel: "Microsoft 365 のユーザー",
  loading: "Microsoft 365 のディレクトリを読み込んでいます…",
  loadFailed: "ディレクトリを読み込めませんでした: {message}",
  count: "{n} 人",
  countOne: "1 人",
  none: "Microsoft 365 に「{search}」に一致するユーザーはいません。",
  noneAtAll: "Microsoft 365 のディレクトリにユーザーが見つかりませんでした。",
  refused:
    "ユーザーを追加できません: あなたの CRM のプロファイルには「ユーザーの管理」権限がありません。CRM の管理者に追加を依頼するか、この権限の付与を依頼してください。",
  reasonNoMail: "追加できません: Microsoft 365 にメールアドレスがありません。",
  reasonMailDiffers: "追加できません: メールアドレス（{mail}）がサインイン名（{upn}）と異なるため、CRM のログインにできません。",
  reasonMailDiffersShort: "メールアドレスがサインイン名と異なるため、CRM のログインにできません。",
  reasonAlreadyInCrm: "すでに CRM のユーザーです。",
  invite: "招待",
  inviteN: "招待（{n} 人）",
  inviting: "招待しています…",
  close: "閉じる",
  inviteFailed: "誰も招待されませんでした: {message}",
  summary: "{added} 人を追加、{refused} 人は追加されませんでした。",
  resultAdded: "追加しました。Zoho CRM から招待メールが送信されました。",
  resultAlreadyInCrm: "すでに CRM のユーザーです。メールは送信されていません。",
  resultNoPermission: "拒否されました: 「ユーザーの管理」権限がありません。",
  resultLicenceLimit: "拒否されました: CRM のユーザーライセンスがすべて使用中です。",
  resultInvalidData: "CRM に拒否されました: {message}",
  resultNotInvitable: "追加されませんでした: {reason}",
  resultNotInDirectory: "追加されませんでした: このアドレスの Microsoft 365 ユーザーはもういません。",
  resultNoDefaultAccess: "追加されませんでした: 新しいユーザーに設定できる{what}が CRM にありません。",
  resultFailed: "追加されませんでした: {message}",
};

/** A dialog message in `lang`, with `{name}` variables filled in. */
export function directoryMessage(lang: Lang, key: DirectoryMessageKey, vars: Record<string, string> = {}): string {
  const table = lang === "ja" ? DIRECTORY_JA : DIRECTORY_EN;
  return table[key].replace(/\{(\w+)\}/g, (_, name: string) => vars[name] ?? `{${name}}`);
}

/** Why a person cannot be invited, in `lang`. */
export function reasonText(user: Pick<DirectoryUser, "mail" | "sign_in_name">, reason: NotInvitableReason, lang: Lang): string {
  switch (reason) {
    case "no_mail":
      return directoryMessage(lang, "reasonNoMail");
    case "mail_differs_from_sign_in":
      return directoryMessage(lang, "reasonMailDiffers", { mail: user.mail ?? "", upn: user.sign_in_name });
    case "already_in_crm":
      return directoryMessage(lang, "reasonAlreadyInCrm");
  }
}

/** One invitation's result, in `lang`. */
export function outcomeText(outcome: InviteOutcome, lang: Lang): string {
  const m = (key: DirectoryMessageKey, vars: Record<string, string> = {}) => directoryMessage(lang, key, vars);
  switch (outcome.kind) {
    case "added":
      return m("resultAdded");
    case "already_in_crm":
      return m("resultAlreadyInCrm");
    case "no_permission":
      return m("resultNoPermission");
    case "licence_limit":
      return m("resultLicenceLimit");
    case "invalid_data":
      return m("resultInvalidData", { message: outcome.message });
    case "not_invitable":
      return outcome.reason === "already_in_crm"
        ? m("resultAlreadyInCrm")
        : outcome.reason === "no_mail"
          ? m("reasonNoMail")
          : m("resultNotInvitable", { reason: m("reasonMailDiffersShort") });
    case "not_in_directory":
      return m("resultNotInDirectory");
    case "no_default_access":
      return m("resultNoDefaultAccess", {
        what: lang === "ja" ? (outcome.what === "role" ? "役職" : "プロファイル") : outcome.what,
      });
    case "failed":
      return m("resultFailed", { message: outcome.message });
  }
}

function button(id: string, text: string, className = ""): HTMLButtonElement {
  const b = el("button", { id, text, className });
  b.type = "button";
  return b;
}

/** Opens the dialog over `host`; resolves with how many people were added once it closes. */
export function openInviteDialog(
  host: HTMLElement,
  lang: Lang,
  backend: DirectoryBackend = tauriDirectoryBackend,
): Promise<number> {
  const m = (key: DirectoryMessageKey, vars: Record<string, string> = {}) => directoryMessage(lang, key, vars);
  const previous = document.activeElement instanceof HTMLElement ? document.activeElement : null;

  const overlay = el("div", { className: "overlay" });
  const dialog = el("div", { id: "invite-dialog", className: "dialog invite-dialog" });
  dialog.setAttribute("role", "dialog");
  dialog.setAttribute("aria-modal", "true");
  dialog.setAttribute("aria-labelledby", "invite-title");
  dialog.setAttribute("aria-describedby", "invite-intro invite-mail-note");
  dialog.tabIndex = -1;

  const title = el("h2", { id: "invite-title", text: m("title") });
  const intro = el("p", { id: "invite-intro", text: m("intro") });
  const mailNote = el("p", { id: "invite-mail-note", className: "invite-note", text: m("mailNote") });
  const access = el("p", { id: "invite-access", className: "invite-note" });
  access.hidden = true;
  const refusal = el("p", { id: "invite-refusal", className: "invite-refusal", text: m("refused") });
  refusal.setAttribute("role", "alert");
  refusal.hidden = true;

  const search = el("input", { id: "invite-search" });
  search.type = "search";
  search.autocomplete = "off";
  const searchLabel = el("label", { text: m("searchLabel") });
  searchLabel.htmlFor = search.id;
  const searchButton = el("button", { id: "invite-search-button", text: m("search") });
  searchButton.type = "submit";
  const form = el("form", { id: "invite-search-form", className: "invite-search" }, searchLabel, search, searchButton);
  form.setAttribute("role", "search");

  const list = el("ul", { id: "invite-list", className: "invite-list" });
  list.setAttribute("aria-label", m("listLabel"));
  const status = el("p", { id: "invite-status", className: "invite-status" });
  status.setAttribute("role", "status");
  status.setAttribute("aria-live", "polite");

  const close = button("invite-close", m("close"));
  const submit = button("invite-submit", m("invite"), "primary");
  submit.disabled = true;
  const actions = el("div", { className: "actions dialog-actions" }, close, submit);

  dialog.append(title, intro, mailNote, access, refusal, form, status, el("div", { className: "invite-scroll" }, list), actions);
  overlay.append(dialog);
  host.append(overlay);

  let view: DirectoryView | null = null;
  /** Results of invitations made in this dialog, by lower-cased e-mail. */
  const results = new Map<string, InviteOutcome>();
  const chosen = new Set<string>();
  let denied = false;
  let added = 0;
  let busy = false;

  const key = (mail: string) => mail.toLowerCase();

  const updateSubmit = () => {
    submit.disabled = busy || denied || chosen.size === 0;
    submit.textContent = busy ? m("inviting") : chosen.size > 0 ? m("inviteN", { n: String(chosen.size) }) : m("invite");
  };

  const showRefusal = () => {
    refusal.hidden = !denied;
    dialog.dataset["permission"] = denied ? "denied" : view?.manage_users ?? "unknown";
  };

  const renderList = () => {
    list.replaceChildren();
    const users = view?.users ?? [];
    users.forEach((u, i) => {
      const mail = u.mail ?? "";
      const result = mail ? results.get(key(mail)) : undefined;
      const enabled = u.can_invite && !denied && !result;
      const box = el("input", { id: `invite-check-${i}` });
      box.type = "checkbox";
      box.dataset["email"] = mail;
      box.disabled = !enabled;
      box.checked = enabled && chosen.has(key(mail));
      const name = el("span", { className: "invite-name", text: u.display_name });
      const address = el("span", { className: "invite-mail", text: mail || u.sign_in_name });
      const label = el("label", { className: "invite-person" }, box, name, address);
      label.htmlFor = box.id;
      const li = el("li", { id: `invite-user-${i}`, className: "invite-row" }, label);
      li.dataset["email"] = mail;
      li.dataset["upn"] = u.sign_in_name;
      li.dataset["state"] = result ? result.kind : u.can_invite ? "invitable" : (u.reason ?? "not_invitable");
      const described: string[] = [];
      if (u.reason) {
        const reason = el("p", { id: `invite-reason-${i}`, className: "invite-reason", text: reasonText(u, u.reason, lang) });
        li.append(reason);
        described.push(reason.id);
      }
      if (result) {
        const line = el("p", { id: `invite-result-${i}`, className: `invite-result invite-result-${result.kind}`, text: outcomeText(result, lang) });
        li.dataset["outcome"] = result.kind;
        li.append(line);
        described.push(line.id);
      }
      if (described.length > 0) box.setAttribute("aria-describedby", described.join(" "));
      box.addEventListener("change", () => {
        if (box.checked) chosen.add(key(mail));
        else chosen.delete(key(mail));
        updateSubmit();
      });
      list.append(li);
    });
    updateSubmit();
  };

  const load = async (text: string) => {
    status.textContent = m("loading");
    status.removeAttribute("data-error");
    const r = await backend.listDirectoryUsers(text.trim() === "" ? null : text.trim());
    if (done) return;
    if (r.status === "error") {
      status.textContent = m("loadFailed", { message: r.error.message });
      status.dataset["error"] = r.error.code;
      return;
    }
    view = r.data;
    denied = denied || view.manage_users === "denied";
    showRefusal();
    if (view.default_profile && view.default_role) {
      access.textContent = m("access", { profile: view.default_profile, role: view.default_role });
    } else {
      access.textContent = m("accessUnknown");
    }
    access.hidden = denied;
    // Choices of people no longer listed are dropped.
    const listed = new Set(view.users.filter((u) => u.can_invite && u.mail).map((u) => key(u.mail ?? "")));
    for (const c of [...chosen]) if (!listed.has(c)) chosen.delete(c);
    renderList();
    const n = view.users.length;
    status.textContent =
      n === 0 ? (text.trim() ? m("none", { search: text.trim() }) : m("noneAtAll")) : n === 1 ? m("countOne") : m("count", { n: String(n) });
    dialog.dataset["loaded"] = "true";
  };

  let done = false;
  return new Promise<number>((resolve) => {
    const finish = () => {
      if (done) return;
      done = true;
      overlay.remove();
      previous?.focus();
      resolve(added);
    };
    keepModal(dialog, () => finish());
    close.addEventListener("click", finish);
    form.addEventListener("submit", (e) => {
      e.preventDefault();
      void load(search.value);
    });
    submit.addEventListener("click", () => {
      if (submit.disabled) return;
      const emails = (view?.users ?? [])
        .filter((u) => u.mail && chosen.has(key(u.mail)))
        .map((u) => u.mail ?? "");
      if (emails.length === 0) return;
      busy = true;
      updateSubmit();
      status.textContent = m("inviting");
      void backend.inviteDirectoryUsers(emails).then((r) => {
        busy = false;
        if (done) return;
        if (r.status === "error") {
          status.textContent = m("inviteFailed", { message: r.error.message });
          status.dataset["error"] = r.error.code;
          updateSubmit();
          return;
        }
        let ok = 0;
        for (const res of r.data) {
          results.set(key(res.email), res.outcome);
          chosen.delete(key(res.email));
          if (res.outcome.kind === "added") ok += 1;
          if (res.outcome.kind === "no_permission") denied = true;
        }
        added += ok;
        showRefusal();
        access.hidden = denied;
        renderList();
        status.textContent = m("summary", { added: String(ok), refused: String(r.data.length - ok) });
        dialog.dataset["invited"] = String(added);
        search.focus();
      });
    });
    search.focus();
    void load("");
  });
}
