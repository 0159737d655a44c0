import { beforeEach, describe, expect, it } from "vitest";
import type { Backend } from "./backend";
import type { AccountView, Accounts, CommandError, Module, ModuleView, Result } from "./bindings";
import { translator } from "./i18n";
import { moduleCard, mountIntegration, statusText } from "./integration";

const t = translator("en");

function view(module: Module, overrides: Partial<ModuleView> = {}): ModuleView {
  return { module, enabled: false, status: { kind: "inactive" }, delete_propagation: false, last_sync_at: null, ...overrides };
}

class FakeBackend implements Backend {
  enableCalls: Module[] = [];
  constructor(
    private modules: Result<ModuleView[], CommandError>,
    private enableResult: (m: Module) => Result<ModuleView, CommandError>,
  ) {}
  async appInfo() {
    return { version: "0.0.0", data_dir: "/tmp/x", lang: "en" as const, mode: { kind: "sandbox" as const, url: "http://127.0.0.1:1" } };
  }
  async listModules() {
    return this.modules;
  }
  async enableModule(module: Module) {
    this.enableCalls.push(module);
    return this.enableResult(module);
  }
  async accounts(): Promise<Result<Accounts, CommandError>> {
    return { status: "ok", data: { zoho: null, microsoft: null, signing_in: [] } };
  }
  async connect(): Promise<Result<AccountView, CommandError>> {
    return { status: "error", error: { code: "sign_in_cancelled", message: "sign-in cancelled" } };
  }
  async cancelSignIn() {
    return false;
  }
  async disconnect(): Promise<Result<Accounts, CommandError>> {
    return this.accounts();
  }
}

const allInactive: Result<ModuleView[], CommandError> = {
  status: "ok",
  data: [view("events"), view("contacts"), view("tasks")],
};

const flush = () => new Promise((resolve) => setTimeout(resolve, 0));

describe("statusText", () => {
  it("shows the reason of a paused or failing module", () => {
    expect(statusText({ kind: "paused", reason: "1,200 deletions waiting for you" }, t)).toBe(
      "Paused — 1,200 deletions waiting for you",
    );
    expect(statusText({ kind: "active" }, t)).toBe("Active");
    expect(statusText({ kind: "needs_sign_in" }, translator("ja"))).toBe("サインインが必要");
  });
});

describe("moduleCard", () => {
  it("labels the card and hides Enable once the module is enabled", () => {
    const inactive = moduleCard(view("contacts"), t, () => {});
    expect(inactive.id).toBe("module-contacts");
    expect(inactive.querySelector("#status-contacts")?.textContent).toBe("Inactive");
    const button = inactive.querySelector<HTMLButtonElement>("#enable-contacts");
    expect(button?.hidden).toBe(false);
    expect(button?.getAttribute("aria-label")).toBe("Enable Contacts sync");

    const active = moduleCard(view("contacts", { enabled: true, status: { kind: "active" } }), t, () => {});
    expect(active.querySelector<HTMLButtonElement>("#enable-contacts")?.hidden).toBe(true);
    expect(active.dataset["status"]).toBe("active");
  });
});

describe("mountIntegration", () => {
  let root: HTMLElement;
  beforeEach(() => {
    document.body.innerHTML = "";
    root = document.createElement("main");
    document.body.append(root);
  });

  it("lists the three modules in order with their status", async () => {
    await mountIntegration(root, new FakeBackend(allInactive, () => ({ status: "ok", data: view("events") })), t);
    const ids = [...root.querySelectorAll(".module")].map((n) => n.id);
    expect(ids).toEqual(["module-events", "module-contacts", "module-tasks"]);
    expect(root.querySelector("h1")?.textContent).toBe("Microsoft 365 integration");
  });

  it("shows the typed error under the module when enabling fails", async () => {
    const backend = new FakeBackend(allInactive, () => ({
      status: "error",
      error: { code: "microsoft_not_connected", message: "connect your Microsoft 365 account first" },
    }));
    await mountIntegration(root, backend, t);
    root.querySelector<HTMLButtonElement>("#enable-tasks")?.click();
    await flush();
    expect(backend.enableCalls).toEqual(["tasks"]);
    const message = root.querySelector<HTMLElement>("#message-tasks");
    expect(message?.textContent).toBe("connect your Microsoft 365 account first");
    expect(message?.dataset["code"]).toBe("microsoft_not_connected");
    const button = root.querySelector<HTMLButtonElement>("#enable-tasks");
    expect(button?.disabled).toBe(false);
    expect(button?.textContent).toBe("Enable");
  });

  it("replaces the card with the new state when enabling succeeds", async () => {
    const backend = new FakeBackend(allInactive, (m) => ({
      status: "ok",
      data: view(m, { enabled: true, status: { kind: "active" } }),
    }));
    await mountIntegration(root, backend, t);
    root.querySelector<HTMLButtonElement>("#enable-events")?.click();
    await flush();
    expect(root.querySelector("#status-events")?.textContent).toBe("Active");
    expect(root.querySelectorAll(".module")).toHaveLength(3);
  });

  it("says so when the store cannot be read", async () => {
    const backend = new FakeBackend({ status: "error", error: { code: "store", message: "disk full" } }, () => {
      throw new Error("not called");
    });
    await mountIntegration(root, backend, t);
    expect(root.querySelector("#load-error")?.textContent).toBe("Could not load the sync state: disk full");
  });
});
