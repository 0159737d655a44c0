import { beforeEach, describe, expect, it, vi } from "vitest";
import type { CommandError, Result, SettingsInput, SettingsSaved, SettingsView } from "./bindings";
import {
  SETTINGS_TABLES,
  inputOf,
  intervalText,
  isMicrosoftClientId,
  isTenant,
  isZohoAccountsServer,
  isZohoClientId,
  mountSettingsButton,
  normalise,
  openSettings,
  serverErrorKey,
  settingsText,
  validateSettings,
  type SettingsBackend,
} from "./settings";

function view(overrides: Partial<SettingsView> = {}): SettingsView {
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
    welcome_dismissed: false,
    data_dir: "/home/aiko/.local/share/app.crmsync.desktop",
    ...overrides,
  };
}

const ok = <T>(data: T): Result<T, CommandError> => ({ status: "ok", data });

/** A backend that keeps what is saved, as Rust does (minus the secret's value). */
function fakeBackend(start: SettingsView = view()) {
  let stored = start;
  const saved: SettingsInput[] = [];
  const backend: SettingsBackend = {
    getSettings: async () => ok(stored),
    saveSettings: async (input) => {
      saved.push(input);
      stored = {
        ...stored,
        ...input,
        zoho_client_secret_saved:
          input.zoho_client_secret.kind === "set"
            ? true
            : input.zoho_client_secret.kind === "clear"
              ? false
              : stored.zoho_client_secret_saved,
      };
      const answer: SettingsSaved = { saved: true, errors: [], settings: stored };
      return ok(answer);
    },
    exportDiagnostics: async () => ok(`${stored.data_dir}/crmsync-diagnostics-20261125T061500Z.json`),
    dismissWelcome: async () => ok(null),
  };
  return { backend, saved, stored: () => stored };
}

const flush = () => new Promise((r) => setTimeout(r, 0));

function $(id: string): HTMLElement {
  const e = document.getElementById(id);
  if (!e) throw new Error(`#${id} not found`);
  return e;
}
const input = (id: string) => $(id) as HTMLInputElement;
const select = (id: string) => $(id) as HTMLSelectElement;

function change(el: HTMLInputElement | HTMLSelectElement, value: string) {
  el.value = value;
  el.dispatchEvent(new Event("change"));
}

describe("validation", () => {
  const base = inputOf(view());

  it("accepts the sandbox defaults", () => {
    expect(validateSettings(normalise(base)).size).toBe(0);
  });

  it("requires both client ids for real accounts", () => {
    const errors = validateSettings(normalise({ ...base, mode: "real" }));
    expect([...errors]).toEqual([
      ["microsoft_client_id", "errMsClientIdRequired"],
      ["zoho_client_id", "errZohoClientIdRequired"],
    ]);
    const good = normalise({
      ...base,
      mode: "real",
      microsoft_client_id: " 3F2504E0-4F89-11D3-9A0C-0305E82C3301 ",
      zoho_client_id: "1000.ABCDEFGHIJ1234567890KLMNOPQRST",
    });
    expect(validateSettings(good).size).toBe(0);
    expect(good.microsoft_client_id).toBe("3f2504e0-4f89-11d3-9a0c-0305e82c3301");
  });

  it("checks shapes like Rust does", () => {
    expect(isMicrosoftClientId("3f2504e0-4f89-11d3-9a0c-0305e82c3301")).toBe(true);
    expect(isMicrosoftClientId("3f2504e04f8911d39a0c0305e82c3301")).toBe(false);
    expect(isZohoClientId("1000.SANDBOXCRMSYNCDESKTOPCLIENT")).toBe(true);
    expect(isZohoClientId("1000.SHORT")).toBe(false);
    expect(isZohoClientId("2000.ABCDEFGHIJ1234567890")).toBe(false);
    for (const t of ["common", "organizations", "consumers", "contoso.onmicrosoft.com", "3f2504e0-4f89-11d3-9a0c-0305e82c3301"]) {
      expect(isTenant(t), t).toBe(true);
    }
    for (const t of ["", "contoso", "-contoso.com", "contoso..com", "con toso.com", "https://contoso.com", "contoso.c0m"]) {
      expect(isTenant(t), t).toBe(false);
    }
    for (const s of ["https://accounts.zoho.com", "https://accounts.zoho.eu", "https://accounts.zoho.com.au", "https://accounts.zohocloud.ca"]) {
      expect(isZohoAccountsServer(s), s).toBe(true);
    }
    for (const s of [
      "http://accounts.zoho.com",
      "https://accounts.zoho.com/oauth",
      "https://evil.example/accounts.zoho.com",
      "https://accounts.zoho.com.evil-example",
      "https://user@accounts.zoho.com",
      "accounts.zoho.com",
    ]) {
      expect(isZohoAccountsServer(s), s).toBe(false);
    }
  });

  it("normalises blanks to the defaults and checks the interval and the secret", () => {
    const n = normalise({ ...base, microsoft_tenant: "  ", zoho_accounts_server: " https://accounts.zoho.eu/ " });
    expect(n.microsoft_tenant).toBe("common");
    expect(n.zoho_accounts_server).toBe("https://accounts.zoho.eu");
    const errors = validateSettings(
      normalise({ ...base, interval_minutes: 3, zoho_client_secret: { kind: "set", value: "has space" } }),
    );
    expect([...errors.keys()]).toEqual(["interval_minutes", "zoho_client_secret"]);
  });

  it("words the problems Rust reports", () => {
    expect(serverErrorKey({ field: "zoho_client_id", problem: "required", message: "" })).toBe("errZohoClientIdRequired");
    expect(serverErrorKey({ field: "microsoft_tenant", problem: "invalid", message: "" })).toBe("errTenant");
  });

  it("has every message in English and Japanese", () => {
    expect(Object.keys(SETTINGS_TABLES.ja).sort()).toEqual(Object.keys(SETTINGS_TABLES.en).sort());
    for (const [key, text] of Object.entries(SETTINGS_TABLES.ja)) {
      expect(text, key).not.toBe("");
      expect(text, key).not.toBe(SETTINGS_TABLES.en[key as keyof typeof SETTINGS_TABLES.en]);
    }
    expect(intervalText(2, "en")).toBe("Every 2 minutes");
    expect(intervalText(60, "ja")).toBe("1 時間ごと");
    expect(settingsText("en", "exported", { path: "/x.json" })).toBe("Saved to /x.json");
  });
});

describe("the settings dialog", () => {
  beforeEach(() => {
    document.body.replaceChildren();
  });

  it("opens from the header button with labelled controls", async () => {
    const root = document.createElement("div");
    const header = document.createElement("header");
    header.id = "mode-banner";
    root.append(header);
    document.body.append(root);
    const { backend } = fakeBackend();
    const b = mountSettingsButton(root, "en", { backend });
    expect(b.id).toBe("open-settings");
    expect(header.contains(b)).toBe(true);
    b.click();
    await flush();
    const dialog = $("settings-dialog");
    expect(dialog.getAttribute("role")).toBe("dialog");
    for (const control of dialog.querySelectorAll("select, input")) {
      const id = control.id;
      const labelled = dialog.querySelector(`label[for="${id}"]`) ?? control.closest("label");
      expect(labelled, id).not.toBeNull();
    }
    expect(select("settings-interval").value).toBe("2");
    expect(select("settings-policy").value).toBe("newest");
    expect(input("settings-mode-sandbox").checked).toBe(true);
    expect($("settings-real").hidden).toBe(true);
    expect($("settings-data-dir").textContent).toBe("/home/aiko/.local/share/app.crmsync.desktop");
    expect(document.activeElement?.id).toBe("settings-interval");
  });

  it("saves the interval and the policy", async () => {
    const { backend, saved } = fakeBackend();
    const closed = openSettings(document.body, "en", { backend });
    await flush();
    change(select("settings-interval"), "15");
    change(select("settings-policy"), "crm_wins");
    $("settings-save").click();
    await flush();
    expect(saved).toHaveLength(1);
    expect(saved[0]).toMatchObject({ interval_minutes: 15, conflict_policy: "crm_wins", zoho_client_secret: { kind: "keep" } });
    expect($("settings-status").textContent).toBe("Settings saved.");
    $("settings-close").click();
    expect(await closed).toBe(true);
    expect(document.getElementById("settings-dialog")).toBeNull();
  });

  it("offers keeping sign-ins in memory only where there is no keychain", async () => {
    const withKeychain = fakeBackend();
    void openSettings(document.body, "en", { backend: withKeychain.backend });
    await flush();
    expect($("settings-memory-sign-in-row").hidden).toBe(true);
    document.body.replaceChildren();

    const { backend, saved } = fakeBackend(view({ keychain_available: false }));
    void openSettings(document.body, "ja", { backend });
    await flush();
    expect($("settings-memory-sign-in-row").hidden).toBe(false);
    expect(input("settings-memory-sign-in").checked).toBe(false);
    expect(input("settings-memory-sign-in").getAttribute("aria-describedby")).toBe("settings-memory-sign-in-hint");
    input("settings-memory-sign-in").click();
    $("settings-save").click();
    await flush();
    expect(saved).toHaveLength(1);
    expect(saved[0]).toMatchObject({ memory_sign_in: true });
    expect(input("settings-memory-sign-in").checked).toBe(true);
  });

  it("shows real-account problems inline and saves nothing", async () => {
    const { backend, saved } = fakeBackend();
    void openSettings(document.body, "en", { backend });
    await flush();
    input("settings-mode-real").checked = true;
    input("settings-mode-real").dispatchEvent(new Event("change"));
    expect($("settings-real").hidden).toBe(false);
    expect($("settings-mode-note").textContent).toBe("The change takes effect the next time CRM Sync starts.");
    input("settings-ms-tenant").value = "not a tenant";
    $("settings-save").click();
    await flush();
    expect(saved).toHaveLength(0);
    expect($("settings-ms-client-id-error").hidden).toBe(false);
    expect($("settings-ms-client-id-error").textContent).toBe("Real accounts need your Microsoft application (client) id.");
    expect($("settings-ms-tenant-error").hidden).toBe(false);
    expect(input("settings-zoho-client-id").getAttribute("aria-invalid")).toBe("true");
    expect($("settings-zoho-accounts-error").hidden).toBe(true);
    expect($("settings-status").textContent).toBe("Fix the highlighted fields first (3).");
    expect(document.activeElement?.id).toBe("settings-ms-tenant");
    expect(input("settings-ms-client-id").getAttribute("aria-describedby")).toContain("settings-ms-client-id-error");
  });

  it("shows a bad value left in the real-accounts fields even in sandbox mode", async () => {
    const { backend, saved } = fakeBackend();
    void openSettings(document.body, "en", { backend });
    await flush();
    expect($("settings-real").hidden).toBe(true);
    input("settings-zoho-client-id").value = "zoho-client";
    $("settings-save").click();
    await flush();
    expect(saved).toHaveLength(0);
    expect($("settings-real").hidden).toBe(false);
    expect($("settings-zoho-client-id-error").textContent).toBe("A Zoho client id is 1000. followed by letters and digits.");
    expect(document.activeElement?.id).toBe("settings-zoho-client-id");
  });

  it("sends a new secret once, never shows it, and says it is in the keychain", async () => {
    const { backend, saved } = fakeBackend(view({ mode: "real", running_mode: "real" }));
    void openSettings(document.body, "en", { backend });
    await flush();
    expect($("settings-zoho-secret-state").textContent).toBe("No client secret is saved.");
    input("settings-ms-client-id").value = "3f2504e0-4f89-11d3-9a0c-0305e82c3301";
    input("settings-zoho-client-id").value = "1000.ABCDEFGHIJ1234567890";
    input("settings-zoho-secret").value = "zsecret-9a8b7c6d5e";
    $("settings-save").click();
    await flush();
    expect(saved[0]?.zoho_client_secret).toEqual({ kind: "set", value: "zsecret-9a8b7c6d5e" });
    expect(input("settings-zoho-secret").value).toBe("");
    expect($("settings-zoho-secret-state").textContent).toBe("A client secret is saved in the keychain.");
    expect(document.body.innerHTML).not.toContain("zsecret");
    // Saving again keeps it; "Remove" clears it.
    $("settings-save").click();
    await flush();
    expect(saved[1]?.zoho_client_secret).toEqual({ kind: "keep" });
    $("settings-zoho-secret-clear").click();
    $("settings-save").click();
    await flush();
    expect(saved[2]?.zoho_client_secret).toEqual({ kind: "clear" });
    expect($("settings-zoho-secret-state").textContent).toBe("No client secret is saved.");
  });

  it("shows the problems Rust finds on their fields", async () => {
    const { backend } = fakeBackend();
    backend.saveSettings = async () =>
      ok({
        saved: false,
        errors: [{ field: "zoho_accounts_server", problem: "invalid", message: "bad" }],
        settings: view(),
      });
    void openSettings(document.body, "en", { backend });
    await flush();
    $("settings-save").click();
    await flush();
    expect($("settings-zoho-accounts-error").textContent).toBe(
      "Use the https address of a Zoho accounts server, such as https://accounts.zoho.com.",
    );
  });

  it("exports diagnostics and shows the path", async () => {
    const { backend } = fakeBackend();
    void openSettings(document.body, "ja", { backend });
    await flush();
    $("settings-export").click();
    await flush();
    const result = $("settings-export-result");
    expect(result.textContent).toBe(
      "保存しました: /home/aiko/.local/share/app.crmsync.desktop/crmsync-diagnostics-20261125T061500Z.json",
    );
    expect(result.dataset["path"]).toContain("crmsync-diagnostics-");
    expect($("settings-title").textContent).toBe("設定");
  });

  it("reloads after a language change, closes on Escape", async () => {
    const { backend } = fakeBackend();
    const reload = vi.fn();
    const closed = openSettings(document.body, "en", { backend, onLanguageChanged: reload });
    await flush();
    change(select("settings-language"), "ja");
    $("settings-save").click();
    await flush();
    expect(reload).toHaveBeenCalledTimes(1);
    $("settings-dialog").dispatchEvent(new KeyboardEvent("keydown", { key: "Escape", bubbles: true }));
    expect(await closed).toBe(true);
  });

  it("says when the settings cannot be read", async () => {
    const { backend } = fakeBackend();
    backend.getSettings = async () => ({ status: "error", error: { code: "store", message: "disk full" } });
    void openSettings(document.body, "en", { backend });
    await flush();
    expect($("settings-status").textContent).toBe("The settings could not be read: disk full");
    expect((document.getElementById("settings-save") as HTMLButtonElement).disabled).toBe(true);
  });
});
