import { beforeEach, describe, expect, it, vi } from "vitest";
import type { AccountView, Accounts, CommandError, Result, SettingsView } from "./bindings";
import {
  WELCOME_TABLES,
  connectThroughPanel,
  mountWelcome,
  shouldShowWelcome,
  welcomeText,
  type WelcomeBackend,
} from "./welcome";

const ok = <T>(data: T): Result<T, CommandError> => ({ status: "ok", data });
const fail = (message: string): Result<never, CommandError> => ({ status: "error", error: { code: "store", message } });

const AIKO: AccountView = {
  service: "zoho",
  user_id: "1",
  email: "aiko.tanaka@sakura-demo.example",
  display_name: "田中 愛子",
  organisation: "Sakura Trading (Demo)",
  data_centre: "us",
  connected_at: "2026-11-25T06:00:00Z",
};

const noAccounts: Accounts = { zoho: null, microsoft: null, signing_in: [] };

function settings(dismissed = false): SettingsView {
  return {
    mode: "sandbox",
    running_mode: "sandbox",
    microsoft_tenant: "common",
    microsoft_client_id: "",
    zoho_client_id: "",
    zoho_accounts_server: "https://accounts.zoho.com",
    interval_minutes: 2,
    intervals: [1, 2, 5, 15, 30, 60],
    conflict_policy: "newest",
    language: "os",
    start_at_login: false,
    start_at_login_available: true,
    zoho_client_secret_saved: false,
    keychain_available: true,
    memory_sign_in: false,
    welcome_dismissed: dismissed,
    data_dir: "/data",
  };
}

function fakeBackend(accounts: Accounts = noAccounts, dismissed = false) {
  const calls: string[] = [];
  const backend: WelcomeBackend = {
    accounts: async () => ok(accounts),
    connect: async (service) => {
      calls.push(`connect:${service}`);
      return ok(AIKO);
    },
    getSettings: async () => ok(settings(dismissed)),
    dismissWelcome: async () => {
      calls.push("dismiss");
      return ok(null);
    },
  };
  return { backend, calls };
}

const flush = () => new Promise((r) => setTimeout(r, 0));

function page(): HTMLElement {
  const root = document.createElement("div");
  const main = document.createElement("main");
  root.append(main);
  document.body.append(root);
  return main;
}

describe("when the welcome shows", () => {
  it("shows only with no Zoho account and not dismissed", () => {
    expect(shouldShowWelcome(ok(noAccounts), ok(settings()))).toBe(true);
    expect(shouldShowWelcome(ok({ ...noAccounts, zoho: AIKO }), ok(settings()))).toBe(false);
    expect(shouldShowWelcome(ok(noAccounts), ok(settings(true)))).toBe(false);
    expect(shouldShowWelcome(fail("x"), ok(settings()))).toBe(false);
    expect(shouldShowWelcome(ok(noAccounts), fail("x"))).toBe(false);
  });

  it("has every message in English and Japanese", () => {
    expect(Object.keys(WELCOME_TABLES.ja).sort()).toEqual(Object.keys(WELCOME_TABLES.en).sort());
    expect(welcomeText("ja", "badge")).toBe("サンドボックス");
  });
});

describe("the welcome section", () => {
  beforeEach(() => document.body.replaceChildren());

  it("is placed before the page and explains both ways to run", async () => {
    const main = page();
    const { backend } = fakeBackend();
    const card = await mountWelcome(main, "en", { backend, openSettings: () => {} });
    expect(card?.id).toBe("welcome");
    expect(main.previousElementSibling?.id).toBe("welcome-wrap");
    expect(document.getElementById("welcome-title")?.textContent).toBe("Welcome to CRM Sync");
    expect(document.getElementById("welcome-sandbox")?.textContent).toContain("Sandbox badge");
    expect(document.getElementById("welcome-real")?.textContent).toContain("client ids");
    expect(document.getElementById("welcome-connect-zoho")?.classList.contains("primary")).toBe(true);
  });

  it("is not shown once dismissed or connected", async () => {
    expect(await mountWelcome(page(), "en", { backend: fakeBackend(noAccounts, true).backend })).toBeNull();
    expect(await mountWelcome(page(), "en", { backend: fakeBackend({ ...noAccounts, zoho: AIKO }).backend })).toBeNull();
    expect(document.getElementById("welcome")).toBeNull();
  });

  it("remembers the dismissal", async () => {
    const { backend, calls } = fakeBackend();
    await mountWelcome(page(), "ja", { backend });
    const dismiss = document.getElementById("welcome-dismiss");
    expect(dismiss?.textContent).toBe("今後表示しない");
    dismiss?.click();
    await flush();
    expect(calls).toEqual(["dismiss"]);
    expect(document.getElementById("welcome")).toBeNull();
  });

  it("opens the settings", async () => {
    const open = vi.fn();
    await mountWelcome(page(), "en", { backend: fakeBackend().backend, openSettings: open });
    document.getElementById("welcome-open-settings")?.click();
    expect(open).toHaveBeenCalledTimes(1);
  });

  it("connects, then goes away; a failure stays on screen", async () => {
    let outcome: { ok: true } | { ok: false; message: string } = { ok: false, message: "Sign-in was cancelled." };
    await mountWelcome(page(), "en", { backend: fakeBackend().backend, connectZoho: async () => outcome });
    const b = document.getElementById("welcome-connect-zoho") as HTMLButtonElement;
    b.click();
    expect(b.disabled).toBe(true);
    await flush();
    expect(b.disabled).toBe(false);
    expect(document.getElementById("welcome-message")?.textContent).toBe("Sign-in was cancelled.");
    outcome = { ok: true };
    b.click();
    await flush();
    expect(document.getElementById("welcome")).toBeNull();
  });
});

describe("connected elsewhere", () => {
  beforeEach(() => document.body.replaceChildren());

  it("goes away when the accounts panel connects Zoho CRM", async () => {
    const main = page();
    const row = document.createElement("div");
    row.id = "account-zoho";
    row.dataset["state"] = "disconnected";
    main.append(row);
    await mountWelcome(main, "en", { backend: fakeBackend().backend });
    expect(document.getElementById("welcome")).not.toBeNull();
    row.dataset["state"] = "connected";
    await flush();
    expect(document.getElementById("welcome")).toBeNull();
  });
});

describe("connecting through the accounts panel", () => {
  beforeEach(() => document.body.replaceChildren());

  /** A stand-in for the accounts panel: its connect button goes through signing_in. */
  function panel(end: "connected" | "disconnected") {
    const row = document.createElement("div");
    row.id = "account-zoho";
    row.dataset["state"] = "disconnected";
    const b = document.createElement("button");
    b.id = "connect-zoho";
    b.addEventListener("click", () => {
      row.dataset["state"] = "signing_in";
      setTimeout(() => {
        row.dataset["state"] = end;
        if (end === "disconnected") {
          const m = document.createElement("p");
          m.id = "account-message-zoho";
          m.textContent = "Sign-in was cancelled.";
          row.append(m);
        }
      }, 5);
    });
    row.append(b);
    document.body.append(row);
  }

  it("uses the panel's own flow and waits for its outcome", async () => {
    panel("connected");
    const { backend, calls } = fakeBackend();
    expect(await connectThroughPanel(document, backend)).toEqual({ ok: true });
    expect(calls).toEqual([]);
  });

  it("reports the panel's message when the sign-in fails", async () => {
    panel("disconnected");
    const { backend } = fakeBackend();
    expect(await connectThroughPanel(document, backend)).toEqual({ ok: false, message: "Sign-in was cancelled." });
  });

  it("connects directly when there is no panel", async () => {
    const { backend, calls } = fakeBackend();
    expect(await connectThroughPanel(document, backend)).toEqual({ ok: true });
    expect(calls).toEqual(["connect:zoho"]);
  });
});
