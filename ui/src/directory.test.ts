import { beforeEach, describe, expect, it } from "vitest";
import type { AccountView, CommandError, DirectoryUser, DirectoryView, InviteResult, Result } from "./bindings";
import { openInviteDialog, outcomeText, reasonText, type DirectoryBackend } from "./directory";
import { translator } from "./i18n";
import { mountIntegration } from "./integration";
import { BaseFakeBackend, flush } from "./testing";

function user(name: string, mail: string | null, overrides: Partial<DirectoryUser> = {}): DirectoryUser {
  return {
    id: `id-${name}`,
    display_name: name,
    mail,
    sign_in_name: mail ?? `${name.toLowerCase()}@x.example`,
    in_crm: false,
    can_invite: mail !== null,
    reason: mail === null ? "no_mail" : null,
    ...overrides,
  };
}

const EMILY = user("Emily Clark", "emily@x.example");
const LUCAS = user("Lucas Martin", "lucas@x.example");
const SORA = user("Sora Kimura", "sora@sales.example", {
  sign_in_name: "sora@x.example",
  can_invite: false,
  reason: "mail_differs_from_sign_in",
});
const BEN = user("Ben Carter", "ben@x.example", { in_crm: true, can_invite: false, reason: "already_in_crm" });

function directory(overrides: Partial<DirectoryView> = {}): DirectoryView {
  return {
    users: [BEN, EMILY, LUCAS, SORA],
    manage_users: "allowed",
    default_profile: "Standard",
    default_role: "Sales Representative",
    ...overrides,
  };
}

class Fake implements DirectoryBackend {
  calls: string[] = [];
  view: DirectoryView = directory();
  invite: (emails: string[]) => Result<InviteResult[], CommandError> = (emails) => ({
    status: "ok",
    data: emails.map((email) => ({ email, outcome: { kind: "added", user_id: `u-${email}` } })),
  });
  async listDirectoryUsers(search: string | null): Promise<Result<DirectoryView, CommandError>> {
    this.calls.push(`list ${search ?? ""}`);
    const users = search ? this.view.users.filter((u) => u.display_name.toLowerCase().includes(search.toLowerCase())) : this.view.users;
    return { status: "ok", data: { ...this.view, users } };
  }
  async inviteDirectoryUsers(emails: string[]): Promise<Result<InviteResult[], CommandError>> {
    this.calls.push(`invite ${emails.join(",")}`);
    return this.invite(emails);
  }
}

const q = <T extends Element = HTMLElement>(css: string) => document.querySelector<T & HTMLElement>(css);
const box = (email: string) => q<HTMLInputElement>(`#invite-list input[data-email='${email}']`)!;
const row = (email: string) => q(`#invite-list li[data-email='${email}']`)!;

async function open(backend: DirectoryBackend, lang: "en" | "ja" = "en") {
  const closed = openInviteDialog(document.body, lang, backend);
  await flush();
  await flush();
  return closed;
}

describe("the invite dialog", () => {
  beforeEach(() => {
    document.body.innerHTML = "";
  });

  it("is a labelled dialog that lists people, disabling those who cannot be added with the reason", async () => {
    const backend = new Fake();
    void open(backend);
    await flush();
    const dialog = q("#invite-dialog")!;
    expect(dialog.getAttribute("role")).toBe("dialog");
    expect(dialog.getAttribute("aria-modal")).toBe("true");
    expect(q(`#${dialog.getAttribute("aria-labelledby")}`)?.textContent).toBe("Add Office 365 users to the CRM");
    expect(q("#invite-mail-note")?.textContent).toContain("Zoho CRM e-mails each person you add its own invitation");
    expect(q("#invite-access")?.textContent).toBe("New users get the “Standard” profile and the “Sales Representative” role.");
    expect(q("label[for='invite-search']")?.textContent).toBe("Search by name");
    expect(document.activeElement?.id).toBe("invite-search");
    expect(q("#invite-status")?.textContent).toBe("4 people");
    expect(box("emily@x.example").disabled).toBe(false);
    expect(box("sora@sales.example").disabled).toBe(true);
    expect(row("sora@sales.example").textContent).toContain(
      "Cannot be added: the e-mail (sora@sales.example) is not the sign-in name (sora@x.example), so it cannot be the CRM login.",
    );
    const soraReason = box("sora@sales.example").getAttribute("aria-describedby")!;
    expect(q(`#${soraReason}`)?.textContent).toContain("not the sign-in name");
    expect(box("ben@x.example").disabled).toBe(true);
    expect(row("ben@x.example").dataset["state"]).toBe("already_in_crm");
    expect(q<HTMLButtonElement>("#invite-submit")?.disabled).toBe(true);
    expect(q("#invite-refusal")?.hidden).toBe(true);
  });

  it("searches, invites the chosen people and shows each result", async () => {
    const backend = new Fake();
    const closed = open(backend);
    await flush();
    q<HTMLInputElement>("#invite-search")!.value = "emily";
    q<HTMLFormElement>("#invite-search-form")!.dispatchEvent(new Event("submit", { cancelable: true }));
    await flush();
    expect(backend.calls).toEqual(["list ", "list emily"]);
    expect(q("#invite-status")?.textContent).toBe("1 person");
    box("emily@x.example").click();
    const submit = q<HTMLButtonElement>("#invite-submit")!;
    expect(submit.disabled).toBe(false);
    expect(submit.textContent).toBe("Invite (1)");
    submit.click();
    await flush();
    expect(backend.calls[2]).toBe("invite emily@x.example");
    expect(row("emily@x.example").dataset["outcome"]).toBe("added");
    expect(row("emily@x.example").textContent).toContain("Added — Zoho CRM e-mailed the invitation.");
    expect(box("emily@x.example").disabled).toBe(true);
    expect(q("#invite-status")?.textContent).toBe("1 added, 0 not added.");
    expect(submit.disabled).toBe(true);
    q("#invite-dialog")!.dispatchEvent(new KeyboardEvent("keydown", { key: "Escape", bubbles: true }));
    expect(await closed).toBe(1);
    expect(q("#invite-dialog")).toBeNull();
  });

  it("refuses clearly without Manage Users and offers nobody", async () => {
    const backend = new Fake();
    backend.view = directory({ manage_users: "denied" });
    void open(backend, "ja");
    await flush();
    const refusal = q("#invite-refusal")!;
    expect(refusal.hidden).toBe(false);
    expect(refusal.getAttribute("role")).toBe("alert");
    expect(refusal.textContent).toContain("「ユーザーの管理」権限がありません");
    expect(q("#invite-dialog")?.dataset["permission"]).toBe("denied");
    expect(box("emily@x.example").disabled).toBe(true);
    expect(q<HTMLButtonElement>("#invite-submit")?.disabled).toBe(true);
    expect(q("#invite-submit")?.textContent).toBe("招待");
  });

  it("learns the missing permission from the CRM's refusal", async () => {
    const backend = new Fake();
    backend.view = directory({ manage_users: "unknown", default_profile: null, default_role: null });
    backend.invite = (emails) => ({
      status: "ok",
      data: emails.map((email) => ({ email, outcome: { kind: "no_permission" } })),
    });
    void open(backend);
    await flush();
    expect(q("#invite-access")?.textContent).toBe("New users get the CRM's standard profile and a non-admin role.");
    box("emily@x.example").click();
    box("lucas@x.example").click();
    q<HTMLButtonElement>("#invite-submit")!.click();
    await flush();
    expect(row("emily@x.example").textContent).toContain("Refused: you do not have the “Manage Users” permission.");
    expect(q("#invite-refusal")?.hidden).toBe(false);
    expect(box("lucas@x.example").disabled).toBe(true);
    expect(q("#invite-status")?.textContent).toBe("0 added, 2 not added.");
  });

  it("says why a whole invitation failed and keeps the choice", async () => {
    const backend = new Fake();
    backend.invite = () => ({ status: "error", error: { code: "network", message: "offline" } });
    void open(backend);
    await flush();
    box("emily@x.example").click();
    q<HTMLButtonElement>("#invite-submit")!.click();
    await flush();
    expect(q("#invite-status")?.textContent).toBe("Nobody was invited: offline");
    expect(box("emily@x.example").checked).toBe(true);
    expect(q<HTMLButtonElement>("#invite-submit")?.disabled).toBe(false);
  });
});

describe("texts", () => {
  it("words every reason and outcome in both languages", () => {
    expect(reasonText(EMILY, "no_mail", "ja")).toBe("追加できません: Microsoft 365 にメールアドレスがありません。");
    expect(outcomeText({ kind: "licence_limit" }, "en")).toBe("Refused: all the CRM's user licences are in use.");
    expect(outcomeText({ kind: "already_in_crm" }, "ja")).toBe("すでに CRM のユーザーです。メールは送信されていません。");
    expect(outcomeText({ kind: "invalid_data", message: "INVALID_DATA: invalid data (email)" }, "en")).toBe(
      "Refused by the CRM: INVALID_DATA: invalid data (email)",
    );
    expect(outcomeText({ kind: "no_default_access", what: "role" }, "ja")).toContain("役職");
    expect(outcomeText({ kind: "not_invitable", reason: "mail_differs_from_sign_in" }, "en")).toBe(
      "Not added: the e-mail is not the sign-in name, so it cannot be the CRM login.",
    );
  });
});

const account = (service: "zoho" | "microsoft"): AccountView => ({
  service,
  user_id: "1",
  email: "aiko@x.example",
  display_name: "Aiko",
  organisation: "Org",
  data_centre: service === "zoho" ? "us" : null,
  connected_at: "2026-11-25T04:00:00Z",
});

describe("the + Office 365 users button", () => {
  beforeEach(() => {
    document.body.innerHTML = "";
  });

  it("appears in the CRM account area only when both accounts are connected", async () => {
    const t = translator("en");
    const root = document.createElement("main");
    document.body.append(root);
    const backend = new BaseFakeBackend();
    let opened = 0;
    backend.accountsState = { zoho: account("zoho"), microsoft: null, signing_in: [] };
    await mountIntegration(root, backend, t, { inviteUsers: async () => (opened += 1) });
    expect(root.querySelector("#invite-users")).toBeNull();

    backend.accountsState = { zoho: account("zoho"), microsoft: account("microsoft"), signing_in: [] };
    await mountIntegration(root, backend, t, { inviteUsers: async () => (opened += 1) });
    const b = root.querySelector<HTMLButtonElement>("#account-zoho #invite-users")!;
    expect(b.textContent).toBe("+ Office 365 users");
    expect(b.getAttribute("aria-label")).toBe("Add people from your Microsoft 365 directory to the CRM");
    b.click();
    await flush();
    expect(opened).toBe(1);
  });
});
