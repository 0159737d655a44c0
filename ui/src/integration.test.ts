import { beforeEach, describe, expect, it } from "vitest";
import type { AccountView, CommandError, Module, ModuleView, Preview, Result } from "./bindings";
import { translator } from "./i18n";
import { countsText, disableText, moduleCard, mountIntegration, previewLines, statusText, syncStateText } from "./integration";
import { estimateLeft, nextProgress, progressText, type RoundProgress } from "./progress";
import { BaseFakeBackend, flush, moduleView as view, preview } from "./testing";

const t = translator("en");
const ja = translator("ja");
const noop = {
  enable: () => {},
  reviewPaused: () => {},
  disable: () => {},
  syncNow: () => {},
  setDeletePropagation: () => {},
};

const zoho: AccountView = {
  service: "zoho",
  user_id: "1",
  email: "aiko.tanaka@sakura-demo.example",
  display_name: "Aiko Tanaka",
  organisation: "Sakura Demo",
  data_centre: "us",
  connected_at: "2026-11-25T04:00:00Z",
};
const microsoft: AccountView = { ...zoho, service: "microsoft", user_id: "m", organisation: "sakura-demo.example", data_centre: null };

describe("statusText", () => {
  it("shows the reason of a paused or failing module", () => {
    expect(statusText({ kind: "paused", reason: "1,200 deletions waiting for you" }, t)).toBe(
      "Paused — 1,200 deletions waiting for you",
    );
    expect(statusText({ kind: "active" }, t)).toBe("Active");
    expect(statusText({ kind: "needs_sign_in" }, ja)).toBe("サインインが必要");
  });
});

describe("moduleCard", () => {
  it("offers Enable only while inactive, with no delete checkbox", () => {
    const inactive = moduleCard(view("contacts"), t, noop);
    expect(inactive.id).toBe("module-contacts");
    expect(inactive.querySelector("#status-contacts")?.textContent).toBe("Inactive");
    expect(inactive.querySelector("#enable-contacts")?.getAttribute("aria-label")).toBe("Enable Contacts sync");
    expect(inactive.querySelector("#delete-contacts")).toBeNull();
    expect(inactive.querySelector("#sync-contacts")).toBeNull();
    expect(inactive.querySelector("#last-sync-contacts")?.textContent).toBe("Not synced yet");
  });

  it("shows an enabled module's counts, Sync now, Disable and the delete checkbox (off by default)", () => {
    const card = moduleCard(
      view("contacts", {
        enabled: true,
        status: { kind: "active" },
        counts: { synced: 40, excluded: 3, failing: 1, conflicts: 0 },
        failures: [{ label: "Kenji Ito", error: "the service refused the record: bad e-mail" }],
      }),
      t,
      noop,
    );
    expect(card.querySelector("#enable-contacts")).toBeNull();
    expect(card.querySelector("#sync-contacts")?.getAttribute("aria-label")).toBe("Sync Contacts now");
    expect(card.querySelector("#disable-contacts")?.textContent).toBe("Disable");
    const box = card.querySelector<HTMLInputElement>("#delete-contacts");
    expect(box?.checked).toBe(false);
    expect(box?.closest("label")?.textContent).toBe("Delete the CRM record when it is deleted in Microsoft 365");
    expect(card.querySelector("#counts-contacts")?.textContent).toBe("40 synced · 3 excluded · 1 failing");
    expect(card.querySelector("#failures-contacts li")?.textContent).toBe(
      "Kenji Ito: the service refused the record: bad e-mail",
    );
    expect(card.querySelector<HTMLElement>("#progress-contacts")?.hidden).toBe(true);
  });

  it("says why a module stopped when its folder was deleted in Microsoft 365", () => {
    const v = view("contacts", { inactive_reason: "container_deleted" });
    expect(moduleCard(v, t, noop).querySelector("#reason-contacts")?.textContent).toBe(
      "Sync stopped because the “Zoho CRM Contacts” folder was deleted in Microsoft 365. Nothing was deleted in the CRM.",
    );
    expect(moduleCard(v, ja, noop).querySelector("#reason-contacts")?.textContent).toContain("「Zoho CRM Contacts」フォルダー");
  });

  it("adds conflicts waiting only when there are some, and nothing before the first sync", () => {
    expect(countsText(view("tasks", { counts: { synced: 7, excluded: 0, failing: 2, conflicts: 0 } }), t)).toBe(
      "7 synced · 0 excluded · 2 failing",
    );
    expect(countsText(view("tasks", { counts: { synced: 7, excluded: 1, failing: 0, conflicts: 3 } }), ja)).toBe(
      "7 件同期済み · 1 件対象外 · 0 件失敗 · 3 件が選択待ち",
    );
    expect(countsText(view("tasks"), t)).toBeNull();
  });
});

describe("texts", () => {
  it("words the preview with counts and why records are excluded", () => {
    const p = preview("contacts", { to_microsoft: 12, excluded_imported: 3, excluded_not_yours: 2 });
    expect(previewLines(p, t)).toEqual([
      "12 contacts will be copied to Microsoft 365.",
      "5 excluded: 3 imported / 2 not yours",
    ]);
    expect(previewLines(preview("contacts", { to_microsoft: 1 }), t)).toEqual([
      "1 contact will be copied to Microsoft 365.",
      "None excluded.",
    ]);
    expect(previewLines(p, ja)[0]).toBe("12 件の連絡先を Microsoft 365 にコピーします。");
  });

  it("states exactly what disabling removes and what stays", () => {
    expect(disableText("contacts", 12, t)).toBe(
      "The “Zoho CRM Contacts” folder and its 12 contacts will be removed from Microsoft 365. Your CRM contacts stay.",
    );
    expect(disableText("contacts", null, t)).toBe(
      "The “Zoho CRM Contacts” folder and its contacts will be removed from Microsoft 365. Your CRM contacts stay.",
    );
    expect(disableText("tasks", 1, ja)).toBe(
      "Microsoft 365 から「Zoho CRM Tasks」リストとその中の1 件のタスクが削除されます。CRM のタスクはそのまま残ります。",
    );
  });

  it("words every sync state", () => {
    expect(syncStateText({ kind: "needs_sign_in", service: "microsoft" }, t)).toBe(
      "Your Microsoft 365 sign-in is no longer valid. Reconnect it above to resume the sync.",
    );
    expect(syncStateText({ kind: "syncing", module: "contacts" }, ja)).toBe("連絡先を同期しています…");
  });
});

describe("progress", () => {
  it("follows a round from start to finish with a time-left estimate", () => {
    let p: RoundProgress | null | undefined = nextProgress(null, { kind: "started", module: "contacts" }, 0);
    expect(p).toEqual({ phase: "starting" });
    p = nextProgress(p ?? null, { kind: "observing", module: "contacts", service: "zoho" }, 10);
    expect(progressText(p as RoundProgress, t, 10)).toBe("Reading changes from Zoho CRM…");
    p = nextProgress(p ?? null, { kind: "planned", module: "contacts", actions: 10 }, 1_000);
    expect(progressText(p as RoundProgress, t, 1_000)).toBe("10 changes to make");
    p = nextProgress(p ?? null, { kind: "executed", module: "contacts", done: 2, total: 10 }, 31_000);
    // 2 changes in 30 s: 8 more take about 2 minutes.
    expect(estimateLeft(p as RoundProgress, 31_000)).toBe(120_000);
    expect(progressText(p as RoundProgress, t, 31_000)).toBe("2 of 10 changes made · about 2 min left");
    p = nextProgress(p ?? null, { kind: "executed", module: "contacts", done: 9, total: 10 }, 46_000);
    expect(progressText(p as RoundProgress, ja, 46_000)).toBe("10 件中 9 件を反映しました · 残り 1 分未満");
    expect(nextProgress(p ?? null, { kind: "finished", module: "contacts", result: { kind: "disabled" } }, 50_000)).toBeNull();
  });
});

class Fake extends BaseFakeBackend {
  previewResult: Result<Preview, CommandError> = { status: "ok", data: preview("contacts") };
  enableResult: (m: Module) => Result<ModuleView, CommandError> = (m) => ({
    status: "ok",
    data: view(m, { enabled: true, status: { kind: "active" } }),
  });
  override async previewModule(module: Module) {
    this.calls.push(`preview ${module}`);
    return this.previewResult;
  }
  override async enableModule(module: Module) {
    this.calls.push(`enable ${module}`);
    const r = this.enableResult(module);
    if (r.status === "ok") {
      this.modules = {
        status: "ok",
        data: (this.modules.status === "ok" ? this.modules.data : []).map((v) => (v.module === module ? r.data : v)),
      };
    }
    return r;
  }
  override async connect(service: "zoho" | "microsoft"): Promise<Result<AccountView, CommandError>> {
    this.calls.push(`connect ${service}`);
    this.accountsState = { ...this.accountsState, [service]: service === "zoho" ? zoho : microsoft };
    return { status: "ok", data: service === "zoho" ? zoho : microsoft };
  }
}

describe("mountIntegration", () => {
  let root: HTMLElement;
  beforeEach(() => {
    document.body.innerHTML = "";
    root = document.createElement("main");
    document.body.append(root);
  });

  const click = (id: string) => root.querySelector<HTMLButtonElement>(`#${id}`)?.click();
  const settle = async () => {
    for (let i = 0; i < 6; i++) await flush();
  };

  it("lists the three modules in order and what the sync is doing", async () => {
    const backend = new Fake();
    backend.state = { kind: "idle", every_minutes: 2 };
    await mountIntegration(root, backend, t);
    expect([...root.querySelectorAll(".module")].map((n) => n.id)).toEqual([
      "module-events",
      "module-contacts",
      "module-tasks",
    ]);
    expect(root.querySelector("#sync-state")?.textContent).toBe("Up to date. Syncs every 2 min.");
    backend.emit({ kind: "state", state: { kind: "needs_sign_in", service: "zoho" } });
    expect(root.querySelector("#sync-state")?.getAttribute("data-state")).toBe("needs_sign_in");
  });

  it("enables Contacts: mapping, preview, Continue, then shows the first sync's progress", async () => {
    const backend = new Fake();
    backend.accountsState = { zoho, microsoft, signing_in: [] };
    backend.previewResult = {
      status: "ok",
      data: preview("contacts", { to_microsoft: 12, excluded_imported: 3, excluded_not_yours: 2 }),
    };
    let mappingShown = 0;
    await mountIntegration(root, backend, t, {
      editContactMapping: async () => {
        mappingShown += 1;
        return true;
      },
      now: () => 0,
    });
    click("enable-contacts");
    await settle();
    expect(mappingShown).toBe(1);
    const dialog = root.querySelector("#preview-dialog");
    expect(dialog?.getAttribute("aria-modal")).toBe("true");
    expect(root.querySelector("#preview-dialog-title")?.textContent).toBe("Enable Contacts sync?");
    expect(root.querySelector("#preview-dialog-body")?.textContent).toContain("12 contacts will be copied to Microsoft 365.");
    expect(document.activeElement?.id).toBe("preview-dialog-confirm");
    click("preview-dialog-confirm");
    await settle();
    expect(backend.calls).toEqual(["preview contacts", "enable contacts"]);
    expect(root.querySelector("#preview-dialog")).toBeNull();
    expect(root.querySelector("#status-contacts")?.textContent).toBe("Active");

    backend.emit({ kind: "started", module: "contacts" });
    backend.emit({ kind: "planned", module: "contacts", actions: 12 });
    backend.emit({ kind: "executed", module: "contacts", done: 6, total: 12 });
    const bar = root.querySelector<HTMLProgressElement>("#progress-bar-contacts");
    expect(root.querySelector<HTMLElement>("#progress-contacts")?.hidden).toBe(false);
    expect(bar?.value).toBe(6);
    expect(bar?.max).toBe(12);
    expect(root.querySelector("#progress-text-contacts")?.textContent).toContain("6 of 12 changes made");
    backend.emit({ kind: "finished", module: "contacts", result: { kind: "completed", executed: 12, writes: 12 } });
    await settle();
    expect(root.querySelector<HTMLElement>("#progress-contacts")?.hidden).toBe(true);
  });

  it("stops when the mapping or the preview is cancelled", async () => {
    const backend = new Fake();
    backend.accountsState = { zoho, microsoft, signing_in: [] };
    await mountIntegration(root, backend, t, { editContactMapping: async () => false });
    click("enable-contacts");
    await settle();
    expect(backend.calls).toEqual([]);
    expect(root.querySelector<HTMLButtonElement>("#enable-contacts")?.disabled).toBe(false);

    click("enable-tasks");
    await settle();
    expect(backend.calls).toEqual(["preview tasks"]);
    // Escape cancels the preview; the focus returns to Enable.
    root.querySelector("#preview-dialog")?.dispatchEvent(new KeyboardEvent("keydown", { key: "Escape", bubbles: true }));
    await settle();
    expect(root.querySelector("#preview-dialog")).toBeNull();
    expect(backend.calls).toEqual(["preview tasks"]);
    expect(document.activeElement?.id).toBe("enable-tasks");
  });

  it("signs in to Microsoft 365 before the preview when only the CRM is connected", async () => {
    const backend = new Fake();
    backend.accountsState = { zoho, microsoft: null, signing_in: [] };
    await mountIntegration(root, backend, t);
    click("enable-events");
    await settle();
    expect(backend.calls).toEqual(["connect microsoft", "preview events"]);
    expect(root.querySelector("#account-microsoft")?.getAttribute("data-state")).toBe("connected");
  });

  it("shows the typed error under the module when the preview fails", async () => {
    const backend = new Fake();
    backend.accountsState = { zoho, microsoft, signing_in: [] };
    backend.previewResult = { status: "error", error: { code: "network", message: "the service is unavailable" } };
    await mountIntegration(root, backend, t);
    click("enable-tasks");
    await settle();
    const message = root.querySelector<HTMLElement>("#message-tasks");
    expect(message?.textContent).toBe("the service is unavailable");
    expect(message?.dataset["code"]).toBe("network");
    expect(root.querySelector<HTMLButtonElement>("#enable-tasks")?.textContent).toBe("Enable");
  });

  it("asks before disabling, states what is removed, and disables on confirm", async () => {
    const backend = new Fake();
    backend.modules = {
      status: "ok",
      data: [
        view("events"),
        view("contacts", { enabled: true, status: { kind: "active" }, counts: { synced: 12, excluded: 0, failing: 0, conflicts: 0 } }),
        view("tasks"),
      ],
    };
    await mountIntegration(root, backend, t);
    click("disable-contacts");
    await settle();
    expect(root.querySelector("#disable-dialog")?.getAttribute("role")).toBe("alertdialog");
    expect(root.querySelector("#disable-dialog-body")?.textContent).toBe(
      "The “Zoho CRM Contacts” folder and its 12 contacts will be removed from Microsoft 365. Your CRM contacts stay.",
    );
    // A destructive action: Cancel has the focus.
    expect(document.activeElement?.id).toBe("disable-dialog-cancel");
    click("disable-dialog-cancel");
    await settle();
    expect(backend.calls).toEqual([]);
    click("disable-contacts");
    await settle();
    click("disable-dialog-confirm");
    await settle();
    expect(backend.calls).toEqual(["disable contacts"]);
    expect(root.querySelector("#status-contacts")?.textContent).toBe("Inactive");
    expect(root.querySelector("#enable-contacts")).not.toBeNull();
  });

  it("saves the delete checkbox", async () => {
    const backend = new Fake();
    backend.modules = {
      status: "ok",
      data: [view("events"), view("contacts", { enabled: true, status: { kind: "active" } }), view("tasks")],
    };
    await mountIntegration(root, backend, t);
    const box = root.querySelector<HTMLInputElement>("#delete-contacts");
    box?.click();
    await settle();
    expect(backend.calls).toEqual(["delete contacts true"]);
    expect(root.querySelector<HTMLInputElement>("#delete-contacts")?.checked).toBe(true);
  });

  it("a listing asked for before the checkbox changed does not undo it on screen", async () => {
    const backend = new Fake();
    const active = view("contacts", { enabled: true, status: { kind: "active" } });
    backend.modules = { status: "ok", data: [view("events"), active, view("tasks")] };
    await mountIntegration(root, backend, t);
    // A round ends: the card is listed again, but the answer is slow and predates the change.
    let answer: (r: Result<ModuleView[], CommandError>) => void = () => {};
    backend.listModules = () => new Promise((resolve) => (answer = resolve));
    backend.emit({ kind: "finished", module: "contacts", result: { kind: "completed", executed: 1, writes: 1 } });
    await settle();
    root.querySelector<HTMLInputElement>("#delete-contacts")?.click();
    await settle();
    expect(root.querySelector<HTMLInputElement>("#delete-contacts")?.checked).toBe(true);
    const stale = { ...active, last_sync_at: "2026-12-04T10:00:00Z" };
    answer({ status: "ok", data: [view("events"), stale, view("tasks")] });
    await settle();
    expect(root.querySelector<HTMLInputElement>("#delete-contacts")?.checked).toBe(true);
  });

  it("puts the delete checkbox back when saving it fails", async () => {
    const backend = new Fake();
    backend.modules = {
      status: "ok",
      data: [view("events"), view("contacts", { enabled: true, status: { kind: "active" } }), view("tasks")],
    };
    backend.setDeletePropagation = async () => ({ status: "error", error: { code: "store", message: "disk full" } });
    await mountIntegration(root, backend, t);
    root.querySelector<HTMLInputElement>("#delete-contacts")?.click();
    await settle();
    expect(root.querySelector<HTMLInputElement>("#delete-contacts")?.checked).toBe(false);
    expect(root.querySelector("#message-contacts")?.textContent).toBe("disk full");
  });

  it("keeps an unchanged card in place when the modules are listed again", async () => {
    const backend = new Fake();
    backend.modules = {
      status: "ok",
      data: [view("events"), view("contacts", { enabled: true, status: { kind: "active" } }), view("tasks")],
    };
    await mountIntegration(root, backend, t);
    const before = root.querySelector("#module-contacts");
    backend.emit({ kind: "finished", module: "contacts", result: { kind: "completed", executed: 0, writes: 0 } });
    await settle();
    expect(root.querySelector("#module-contacts")).toBe(before);
  });

  it("says why Sync now cannot run", async () => {
    const backend = new Fake();
    backend.modules = {
      status: "ok",
      data: [view("events"), view("contacts", { enabled: true, status: { kind: "needs_sign_in" } }), view("tasks")],
    };
    await mountIntegration(root, backend, t);
    click("sync-contacts");
    await settle();
    expect(root.querySelector("#message-contacts")?.textContent).toBe(
      "The sync is not running: Connect both accounts to start syncing.",
    );
  });

  it("offers Reconnect on the account whose saved sign-in stopped working", async () => {
    const backend = new Fake();
    backend.accountsState = { zoho, microsoft, signing_in: [] };
    backend.state = { kind: "idle", every_minutes: 2 };
    await mountIntegration(root, backend, t);
    expect(root.querySelector("#reconnect-microsoft")).toBeNull();
    backend.emit({ kind: "state", state: { kind: "needs_sign_in", service: "microsoft" } });
    expect(root.querySelector("#account-status-microsoft")?.textContent).toBe("Sign in again");
    expect(root.querySelector("#account-expired-microsoft")?.textContent).toBe(
      "Microsoft 365 no longer accepts the saved sign-in. Reconnect to resume the sync.",
    );
    expect(root.querySelector("#reconnect-zoho")).toBeNull();
    click("reconnect-microsoft");
    await settle();
    expect(backend.calls).toEqual(["connect microsoft"]);
    backend.emit({ kind: "state", state: { kind: "idle", every_minutes: 2 } });
    expect(root.querySelector("#reconnect-microsoft")).toBeNull();
    expect(root.querySelector("#account-status-microsoft")?.textContent).toBe("Connected");
  });

  it("a module paused by a guard continues only after the user confirms the deletes", async () => {
    const backend = new Fake();
    backend.modules = {
      status: "ok",
      data: [
        view("events"),
        view("contacts", {
          enabled: true,
          status: { kind: "paused", reason: "the plan deletes 40 of 50 linked records" },
        }),
        view("tasks"),
      ],
    };
    await mountIntegration(root, backend, t);
    expect(root.querySelector("#status-contacts")?.textContent).toBe(
      "Paused — the plan deletes 40 of 50 linked records",
    );
    backend.emit({ kind: "state", state: { kind: "idle", every_minutes: 2 } });
    expect(root.querySelector("#sync-state")?.textContent).toBe("A module below needs your attention.");
    click("review-contacts");
    await settle();
    expect(root.querySelector("#paused-dialog-body")?.textContent).toContain("the plan deletes 40 of 50 linked records");
    expect(document.activeElement?.id).toBe("paused-dialog-cancel");
    click("paused-dialog-cancel");
    await settle();
    expect(backend.calls).toEqual([]);
    click("review-contacts");
    await settle();
    click("paused-dialog-confirm");
    await settle();
    expect(backend.calls).toEqual(["confirm deletes contacts"]);
    expect(root.querySelector("#status-contacts")?.textContent).toBe("Active");
    expect(root.querySelector("#review-contacts")).toBeNull();
  });

  it("says so when the store cannot be read", async () => {
    const backend = new Fake();
    backend.modules = { status: "error", error: { code: "store", message: "disk full" } };
    await mountIntegration(root, backend, t);
    expect(root.querySelector("#load-error")?.textContent).toBe("Could not load the sync state: disk full");
  });
});
