// The settings dialog, opened from the "Settings" button in the header (#open-settings).
//
// Sections: Sync (interval, conflict policy), Accounts (built-in sandbox or real accounts
// with their client ids, tenant and an optional Zoho client secret that only ever goes to
// the OS keychain), General (language, start at login) and Data (where the data lives,
// export diagnostics). Every control is labelled; problems are shown inline under their
// field, found here first and checked again by Rust on save.

import {
  commands,
  type AccountsMode,
  type CommandError,
  type FieldError,
  type Lang,
  type LangPref,
  type PolicyPref,
  type Result,
  type SecretChange,
  type SettingsField,
  type SettingsInput,
  type SettingsSaved,
  type SettingsView,
} from "./bindings";
import { keepModal } from "./dialog";
import "./settings.css";
import { el } from "./dom";

/** The commands the settings dialog and the welcome screen need; tests pass a fake. */
export interface SettingsBackend {
  getSettings(): Promise<Result<SettingsView, CommandError>>;
  saveSettings(input: SettingsInput): Promise<Result<SettingsSaved, CommandError>>;
  exportDiagnostics(): Promise<Result<string, CommandError>>;
  dismissWelcome(): Promise<Result<null, CommandError>>;
}

export const tauriSettingsBackend: SettingsBackend = {
  getSettings: () => commands.getSettings(),
  saveSettings: (input) => commands.saveSettings(input),
  exportDiagnostics: () => commands.exportDiagnostics(),
  dismissWelcome: () => commands.dismissWelcome(),
};

export const INTERVALS: readonly number[] = [1, 2, 5, 15, 30, 60];
export const POLICIES: readonly PolicyPref[] = ["newest", "crm_wins", "graph_wins", "ask"];
export const LANGUAGES: readonly LangPref[] = ["os", "en", "ja"];

/** The element id of a field's control. */
export const FIELD_ID: Record<SettingsField, string> = {
  microsoft_tenant: "settings-ms-tenant",
  microsoft_client_id: "settings-ms-client-id",
  zoho_client_id: "settings-zoho-client-id",
  zoho_accounts_server: "settings-zoho-accounts",
  interval_minutes: "settings-interval",
  zoho_client_secret: "settings-zoho-secret",
};

// ---------------------------------------------------------------------------------------
// Validation (the same rules as src-tauri/src/settings.rs).

const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

function isDomain(s: string): boolean {
  const labels = s.split(".");
  const tld = labels[labels.length - 1] ?? "";
  return (
    s.length <= 253 &&
    labels.length >= 2 &&
    labels.every((l) => /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/i.test(l)) &&
    /^[a-z]{2,}$/i.test(tld)
  );
}

export function isTenant(s: string): boolean {
  const t = s.toLowerCase();
  return ["common", "organizations", "consumers"].includes(t) || GUID.test(t) || isDomain(t);
}

export function isMicrosoftClientId(s: string): boolean {
  return GUID.test(s);
}

export function isZohoClientId(s: string): boolean {
  return /^1000\.[A-Za-z0-9]{10,64}$/.test(s);
}

export function isZohoAccountsServer(s: string): boolean {
  let url: URL;
  try {
    url = new URL(s);
  } catch {
    return false;
  }
  const host = url.hostname;
  return (
    url.protocol === "https:" &&
    (host.startsWith("accounts.zoho.") || host.startsWith("accounts.zohocloud.")) &&
    isDomain(host) &&
    url.pathname === "/" &&
    url.search === "" &&
    url.hash === "" &&
    url.username === "" &&
    url.password === "" &&
    url.port === ""
  );
}

export function isSecret(s: string): boolean {
  return s.length > 0 && s.length <= 256 && /^[\x21-\x7e]+$/.test(s);
}

/** Trims the text fields as Rust does (blank tenant → common, blank server → default). */
export function normalise(input: SettingsInput): SettingsInput {
  const secret: SecretChange =
    input.zoho_client_secret.kind === "set"
      ? { kind: "set", value: input.zoho_client_secret.value.trim() }
      : input.zoho_client_secret;
  return {
    ...input,
    microsoft_tenant: input.microsoft_tenant.trim().toLowerCase() || "common",
    microsoft_client_id: input.microsoft_client_id.trim().toLowerCase(),
    zoho_client_id: input.zoho_client_id.trim(),
    zoho_accounts_server:
      input.zoho_accounts_server.trim().replace(/\/+$/, "").toLowerCase() || "https://accounts.zoho.com",
    zoho_client_secret: secret,
  };
}

/** Every field's problem, keyed by field; empty when the input can be saved. */
export function validateSettings(input: SettingsInput): Map<SettingsField, SettingsMessageKey> {
  const errors = new Map<SettingsField, SettingsMessageKey>();
  const real = input.mode === "real";
  if (!isTenant(input.microsoft_tenant)) errors.set("microsoft_tenant", "errTenant");
  if (input.microsoft_client_id === "") {
    if (real) errors.set("microsoft_client_id", "errMsClientIdRequired");
  } else if (!isMicrosoftClientId(input.microsoft_client_id)) {
    errors.set("microsoft_client_id", "errMsClientId");
  }
  if (input.zoho_client_id === "") {
    if (real) errors.set("zoho_client_id", "errZohoClientIdRequired");
  } else if (!isZohoClientId(input.zoho_client_id)) {
    errors.set("zoho_client_id", "errZohoClientId");
  }
  if (!isZohoAccountsServer(input.zoho_accounts_server)) errors.set("zoho_accounts_server", "errZohoAccounts");
  if (!INTERVALS.includes(input.interval_minutes)) errors.set("interval_minutes", "errInterval");
  if (input.zoho_client_secret.kind === "set" && !isSecret(input.zoho_client_secret.value)) {
    errors.set("zoho_client_secret", "errSecret");
  }
  return errors;
}

/** The message key for a problem Rust reported. */
export function serverErrorKey(e: FieldError): SettingsMessageKey {
  switch (e.field) {
    case "microsoft_tenant":
      return "errTenant";
    case "microsoft_client_id":
      return e.problem === "required" ? "errMsClientIdRequired" : "errMsClientId";
    case "zoho_client_id":
      return e.problem === "required" ? "errZohoClientIdRequired" : "errZohoClientId";
    case "zoho_accounts_server":
      return "errZohoAccounts";
    case "interval_minutes":
      return "errInterval";
    case "zoho_client_secret":
      return "errSecret";
  }
}

/** The input that leaves everything as `view` has it. */
export function inputOf(view: SettingsView): SettingsInput {
  return {
    mode: view.mode,
    microsoft_tenant: view.microsoft_tenant,
    microsoft_client_id: view.microsoft_client_id,
    zoho_client_id: view.zoho_client_id,
    zoho_accounts_server: view.zoho_accounts_server,
    interval_minutes: view.interval_minutes,
    conflict_policy: view.conflict_policy,
    language: view.language,
    start_at_login: view.start_at_login,
    memory_sign_in: view.memory_sign_in,
    zoho_client_secret: { kind: "keep" },
  };
}

/** The interval's label, e.g. "Every 2 minutes". */
export function intervalText(minutes: number, lang: Lang): string {
  if (minutes === 60) return settingsText(lang, "everyHour");
  if (minutes === 1) return settingsText(lang, "everyMinute");
  return settingsText(lang, "everyMinutes", { n: String(minutes) });
}

// ---------------------------------------------------------------------------------------
// The dialog.

export interface SettingsOptions {
  backend?: SettingsBackend;
  /** Called after a save that changed the language (the window reloads by default). */
  onLanguageChanged?: () => void;
}

function button(id: string, text: string, primary = false): HTMLButtonElement {
  const b = el("button", { id, text, className: primary ? "primary" : "" });
  b.type = "button";
  return b;
}

function select<T extends string | number>(id: string, values: readonly T[], label: (v: T) => string): HTMLSelectElement {
  const s = el("select", { id });
  for (const v of values) {
    const o = el("option", { text: label(v) });
    o.value = String(v);
    s.append(o);
  }
  return s;
}

/** A labelled control with its hint and its (hidden until needed) inline error. */
function field(id: string, label: string, control: HTMLElement, hint?: string): HTMLElement {
  const l = el("label", { text: label });
  l.htmlFor = id;
  const error = el("p", { id: `${id}-error`, className: "field-error" });
  error.hidden = true;
  error.setAttribute("role", "alert");
  const described = [`${id}-error`];
  const row = el("div", { className: "settings-field" }, l, control);
  if (hint) {
    row.append(el("p", { id: `${id}-hint`, className: "settings-hint", text: hint }));
    described.unshift(`${id}-hint`);
  }
  row.append(error);
  control.setAttribute("aria-describedby", described.join(" "));
  return row;
}

function section(id: string, title: string, ...children: Node[]): HTMLElement {
  const h = el("h3", { id: `${id}-title`, text: title });
  const s = el("section", { id, className: "settings-section" }, h, ...children);
  s.setAttribute("aria-labelledby", h.id);
  return s;
}

/** Opens the settings dialog over `host`; resolves when it closes (true if anything was saved). */
export async function openSettings(host: HTMLElement, lang: Lang, options: SettingsOptions = {}): Promise<boolean> {
  const backend = options.backend ?? tauriSettingsBackend;
  const m = (key: SettingsMessageKey, vars: Record<string, string> = {}) => settingsText(lang, key, vars);
  const previous = document.activeElement instanceof HTMLElement ? document.activeElement : null;
  const overlay = el("div", { className: "overlay" });
  const title = el("h2", { id: "settings-title", text: m("title") });
  const status = el("p", { id: "settings-status", className: "settings-status", text: m("loading") });
  status.setAttribute("role", "status");
  const dialog = el("div", { id: "settings-dialog", className: "dialog settings-dialog" }, title);
  dialog.setAttribute("role", "dialog");
  dialog.setAttribute("aria-modal", "true");
  dialog.setAttribute("aria-labelledby", title.id);
  dialog.tabIndex = -1;
  const body = el("div", { className: "settings-body" });
  const closeButton = button("settings-close", m("close"));
  const saveButton = button("settings-save", m("save"), true);
  saveButton.disabled = true;
  const actions = el("div", { className: "actions dialog-actions" }, closeButton, saveButton);
  dialog.append(body, status, actions);
  overlay.append(dialog);
  host.append(overlay);
  dialog.focus();

  let saved = false;
  return new Promise<boolean>((resolve) => {
    let done = false;
    const close = () => {
      if (done) return;
      done = true;
      overlay.remove();
      previous?.focus();
      resolve(saved);
    };
    keepModal(dialog, () => close());
    closeButton.addEventListener("click", close);

    void backend.getSettings().then((loaded) => {
      if (done) return;
      if (loaded.status === "error") {
        status.textContent = m("loadFailed", { message: loaded.error.message });
        status.setAttribute("role", "alert");
        closeButton.focus();
        return;
      }
      render(loaded.data);
    });

    function render(view: SettingsView) {
      status.textContent = "";
      let current = view;

      // Sync
      const interval = select("settings-interval", view.intervals.length ? view.intervals : INTERVALS, (n) =>
        intervalText(n, lang),
      );
      const policy = select("settings-policy", POLICIES, (p) => m(`policy_${p}`));
      const sync = section(
        "settings-sync",
        m("sectionSync"),
        field(interval.id, m("interval"), interval),
        field(policy.id, m("policy"), policy, m("policyHint")),
      );

      // Accounts
      const radio = (mode: AccountsMode) => {
        const r = el("input", { id: `settings-mode-${mode}` });
        r.type = "radio";
        r.name = "settings-mode";
        r.value = mode;
        const l = el("label", { className: "settings-choice" }, r, ` ${m(mode === "sandbox" ? "modeSandbox" : "modeReal")}`);
        return { r, l };
      };
      const sandboxChoice = radio("sandbox");
      const realChoice = radio("real");
      const legend = el("legend", { text: m("mode") });
      const modeGroup = el("fieldset", { id: "settings-mode", className: "settings-mode" }, legend, sandboxChoice.l, realChoice.l);
      const modeNote = el("p", { id: "settings-mode-note", className: "settings-hint" });
      modeNote.setAttribute("aria-live", "polite");
      const msClient = el("input", { id: FIELD_ID.microsoft_client_id });
      const tenant = el("input", { id: FIELD_ID.microsoft_tenant });
      const zohoClient = el("input", { id: FIELD_ID.zoho_client_id });
      const zohoServer = el("input", { id: FIELD_ID.zoho_accounts_server });
      const secret = el("input", { id: FIELD_ID.zoho_client_secret });
      for (const i of [msClient, tenant, zohoClient, zohoServer]) {
        i.type = "text";
        i.spellcheck = false;
        i.autocomplete = "off";
      }
      msClient.placeholder = "00000000-0000-0000-0000-000000000000";
      zohoClient.placeholder = "1000.XXXXXXXXXXXXXXXXXXXXXXXXXXXXXX";
      secret.type = "password";
      secret.autocomplete = "off";
      const secretState = el("p", { id: "settings-zoho-secret-state", className: "settings-hint" });
      const secretClear = button("settings-zoho-secret-clear", m("secretClear"));
      let secretChange: SecretChange = { kind: "keep" };
      const realFields = el(
        "div",
        { id: "settings-real", className: "settings-real" },
        field(msClient.id, m("msClientId"), msClient, m("msClientIdHint")),
        field(tenant.id, m("tenant"), tenant, m("tenantHint")),
        field(zohoClient.id, m("zohoClientId"), zohoClient, m("zohoClientIdHint")),
        field(zohoServer.id, m("zohoAccounts"), zohoServer, m("zohoAccountsHint")),
        field(secret.id, m("zohoSecret"), secret, m("zohoSecretHint")),
        el("div", { className: "settings-secret-row" }, secretState, secretClear),
      );
      const accounts = section("settings-accounts", m("sectionAccounts"), modeGroup, modeNote, realFields);
      // The explicit opt-in where there is no keychain: sign-ins kept in memory for this run.
      const memorySignIn = el("input", { id: "settings-memory-sign-in" });
      memorySignIn.type = "checkbox";
      const memoryHint = el("p", { id: "settings-memory-sign-in-hint", className: "settings-hint", text: m("memorySignInHint") });
      memorySignIn.setAttribute("aria-describedby", memoryHint.id);
      const memoryRow = el(
        "div",
        { id: "settings-memory-sign-in-row" },
        el("label", { className: "toggle" }, memorySignIn, ` ${m("memorySignIn")}`),
        memoryHint,
      );
      memoryRow.hidden = view.keychain_available && !view.memory_sign_in;
      accounts.append(memoryRow);

      // General
      const language = select("settings-language", LANGUAGES, (l) => m(`lang_${l}`));
      const startAtLogin = el("input", { id: "settings-start-at-login" });
      startAtLogin.type = "checkbox";
      const startLabel = el("label", { className: "toggle" }, startAtLogin, ` ${m("startAtLogin")}`);
      const general = section(
        "settings-general",
        m("sectionGeneral"),
        field(language.id, m("language"), language),
        startLabel,
      );
      if (!view.start_at_login_available) {
        startAtLogin.disabled = true;
        const note = el("p", { id: "settings-start-at-login-note", className: "settings-hint", text: m("startAtLoginUnavailable") });
        startAtLogin.setAttribute("aria-describedby", note.id);
        general.append(note);
      }

      // Data
      const dataDir = el("p", { id: "settings-data-dir", className: "settings-path", text: view.data_dir });
      const exportButton = button("settings-export", m("export"));
      const exportResult = el("p", { id: "settings-export-result", className: "settings-hint" });
      exportResult.setAttribute("role", "status");
      const data = section(
        "settings-data",
        m("sectionData"),
        el("p", { className: "settings-hint", text: m("dataDir") }),
        dataDir,
        el("p", { className: "settings-hint", text: m("exportHint") }),
        el("div", { className: "actions" }, exportButton),
        exportResult,
      );

      body.replaceChildren(sync, accounts, general, data);

      const fill = (v: SettingsView) => {
        current = v;
        interval.value = String(v.interval_minutes);
        policy.value = v.conflict_policy;
        sandboxChoice.r.checked = v.mode === "sandbox";
        realChoice.r.checked = v.mode === "real";
        msClient.value = v.microsoft_client_id;
        tenant.value = v.microsoft_tenant;
        zohoClient.value = v.zoho_client_id;
        zohoServer.value = v.zoho_accounts_server;
        secret.value = "";
        secretChange = { kind: "keep" };
        language.value = v.language;
        startAtLogin.checked = v.start_at_login;
        memorySignIn.checked = v.memory_sign_in;
        showSecretState();
        showMode();
      };
      const chosenMode = (): AccountsMode => (realChoice.r.checked ? "real" : "sandbox");
      const showMode = () => {
        const mode = chosenMode();
        realFields.hidden = mode !== "real";
        const restart = mode !== current.running_mode;
        modeNote.textContent = restart ? m("modeRestart") : m(mode === "sandbox" ? "modeSandboxNote" : "modeRealNote");
        modeNote.dataset["restart"] = String(restart);
      };
      const showSecretState = () => {
        if (secretChange.kind === "clear") {
          secretState.textContent = m("secretWillClear");
        } else if (current.zoho_client_secret_saved) {
          secretState.textContent = m("secretSaved");
        } else if (!current.keychain_available) {
          secretState.textContent = m("secretNoKeychain");
        } else {
          secretState.textContent = m("secretNone");
        }
        secretClear.hidden = !current.zoho_client_secret_saved || secretChange.kind === "clear";
      };
      const input = (): SettingsInput =>
        normalise({
          mode: chosenMode(),
          microsoft_tenant: tenant.value,
          microsoft_client_id: msClient.value,
          zoho_client_id: zohoClient.value,
          zoho_accounts_server: zohoServer.value,
          interval_minutes: Number(interval.value),
          conflict_policy: policy.value as PolicyPref,
          language: language.value as LangPref,
          start_at_login: startAtLogin.checked,
          memory_sign_in: memorySignIn.checked,
          zoho_client_secret: secret.value.trim() !== "" ? { kind: "set", value: secret.value } : secretChange,
        });
      const showErrors = (errors: Map<SettingsField, SettingsMessageKey>) => {
        for (const [f, id] of Object.entries(FIELD_ID) as [SettingsField, string][]) {
          const control = dialog.querySelector<HTMLElement>(`#${id}`);
          const slot = dialog.querySelector<HTMLElement>(`#${id}-error`);
          const key = errors.get(f);
          if (slot) {
            slot.hidden = !key;
            slot.textContent = key ? m(key) : "";
          }
          control?.setAttribute("aria-invalid", key ? "true" : "false");
        }
      };
      const firstInvalid = (errors: Map<SettingsField, SettingsMessageKey>) => {
        const f = (Object.keys(FIELD_ID) as SettingsField[]).find((k) => errors.has(k));
        if (!f) return;
        const control = dialog.querySelector<HTMLElement>(`#${FIELD_ID[f]}`);
        // A value typed under "real accounts" and then left there: show it so it can be fixed.
        if (control && realFields.contains(control)) realFields.hidden = false;
        control?.focus();
        dialog.querySelector<HTMLElement>(`#${FIELD_ID[f]}-error`)?.scrollIntoView?.({ block: "nearest" });
      };

      fill(view);
      for (const r of [sandboxChoice.r, realChoice.r]) {
        r.addEventListener("change", () => {
          showMode();
          showErrors(new Map());
        });
      }
      // Re-check a field as soon as the user leaves it (not on every key: no nagging mid-typing).
      for (const c of [msClient, tenant, zohoClient, zohoServer, secret]) {
        c.addEventListener("blur", () => {
          if (c.getAttribute("aria-invalid") === "true") showErrors(validateSettings(input()));
        });
      }
      secretClear.addEventListener("click", () => {
        secretChange = { kind: "clear" };
        secret.value = "";
        showSecretState();
        secret.focus();
      });

      exportButton.addEventListener("click", () => {
        exportButton.disabled = true;
        exportResult.textContent = m("exporting");
        void backend.exportDiagnostics().then((r) => {
          exportButton.disabled = false;
          if (r.status === "ok") {
            exportResult.textContent = m("exported", { path: r.data });
            exportResult.dataset["path"] = r.data;
            exportResult.scrollIntoView?.({ block: "nearest" });
          } else {
            exportResult.textContent = m("exportFailed", { message: r.error.message });
            delete exportResult.dataset["path"];
          }
        });
      });

      saveButton.disabled = false;
      saveButton.addEventListener("click", () => {
        const value = input();
        const errors = validateSettings(value);
        showErrors(errors);
        if (errors.size > 0) {
          status.textContent = m("fixErrors", { n: String(errors.size) });
          firstInvalid(errors);
          return;
        }
        const before = current;
        saveButton.disabled = true;
        status.textContent = m("saving");
        void backend.saveSettings(value).then((r) => {
          saveButton.disabled = false;
          if (r.status === "error") {
            status.textContent = m("saveFailed", { message: r.error.message });
            return;
          }
          if (!r.data.saved) {
            const server = new Map<SettingsField, SettingsMessageKey>();
            for (const e of r.data.errors) server.set(e.field, serverErrorKey(e));
            showErrors(server);
            status.textContent = m("fixErrors", { n: String(server.size) });
            firstInvalid(server);
            return;
          }
          saved = true;
          fill(r.data.settings);
          showErrors(new Map());
          status.textContent = m("saved");
          if (r.data.settings.language !== before.language) {
            (options.onLanguageChanged ?? (() => window.location.reload()))();
          }
        });
      });
      interval.focus();
    }
  });
}

/** Puts the "Settings" button (#open-settings) at the end of `header`. */
export function settingsButton(lang: Lang, onOpen: () => void): HTMLButtonElement {
  const b = button("open-settings", settingsText(lang, "open"));
  b.className = "settings-open";
  b.setAttribute("aria-haspopup", "dialog");
  b.addEventListener("click", onOpen);
  return b;
}

/** Adds the "Settings" button to the page header (#mode-banner) and wires it to the dialog. */
export function mountSettingsButton(root: HTMLElement, lang: Lang, options: SettingsOptions = {}): HTMLButtonElement {
  const header = root.querySelector<HTMLElement>("#mode-banner") ?? root;
  const b = settingsButton(lang, () => void openSettings(document.body, lang, options));
  header.append(b);
  return b;
}

// ---------------------------------------------------------------------------------------
// Strings (English and Japanese).

const SETTINGS_EN = {
  open: "Settings",
  title: "Settings",
  loading: "Reading the settings…",
  loadFailed: "The settings could not be read: {message}",
  close: "Close",
  save: "Save",
  saving: "Saving…",
  saved: "Settings saved.",
  saveFailed: "The settings could not be saved: {message}",
  fixErrors: "Fix the highlighted fields first ({n}).",
  sectionSync: "Sync",
  interval: "Sync every",
  everyMinute: "Every minute",
  everyMinutes: "Every {n} minutes",
  everyHour: "Every hour",
  policy: "When the same field changed on both sides",
  policyHint: "Applies to events, contacts and tasks.",
  policy_newest: "The newest change wins",
  policy_crm_wins: "Zoho CRM wins",
  policy_graph_wins: "Microsoft 365 wins",
  policy_ask: "Ask me",
  sectionAccounts: "Accounts",
  mode: "Which accounts to sync",
  modeSandbox: "Built-in sandbox with demo data (no real accounts)",
  modeReal: "My real Zoho CRM and Microsoft 365 accounts",
  modeSandboxNote: "The sandbox runs on this computer; nothing leaves it.",
  modeRealNote: "CRM Sync signs in with the client ids below.",
  modeRestart: "The change takes effect the next time CRM Sync starts.",
  msClientId: "Microsoft application (client) id",
  msClientIdHint: "From your app registration in Microsoft Entra ID.",
  tenant: "Microsoft tenant",
  tenantHint: "common, organizations, consumers, a tenant id or a domain such as contoso.onmicrosoft.com.",
  zohoClientId: "Zoho client id",
  zohoClientIdHint: "From the Zoho API console (it starts with 1000.).",
  zohoAccounts: "Zoho accounts server",
  zohoAccountsHint: "The sign-in page that opens first; your data centre is taken from the sign-in itself.",
  zohoSecret: "Zoho client secret (optional)",
  zohoSecretHint: "Only for a server-based Zoho client. It is kept in the OS keychain, never in a file.",
  secretSaved: "A client secret is saved in the keychain.",
  secretNone: "No client secret is saved.",
  secretNoKeychain: "This computer has no keychain, so a client secret cannot be saved.",
  secretWillClear: "The saved client secret will be removed when you save.",
  secretClear: "Remove the saved secret",
  memorySignIn: "This computer has no keychain: keep my sign-ins in memory until CRM Sync quits",
  memorySignInHint: "Your sign-ins are then never saved anywhere, and you sign in again each time CRM Sync starts.",
  sectionGeneral: "General",
  language: "Language",
  lang_os: "Same as the system",
  lang_en: "English",
  lang_ja: "日本語 (Japanese)",
  startAtLogin: "Start CRM Sync when I sign in to this computer",
  startAtLoginUnavailable: "Starting at sign-in is not available on this system.",
  sectionData: "Data",
  dataDir: "Your sync state, preferences and diagnostics are kept in:",
  exportHint: "Diagnostics help support find a problem. Tokens and secrets are left out and e-mail addresses are masked.",
  export: "Export diagnostics",
  exporting: "Exporting…",
  exported: "Saved to {path}",
  exportFailed: "The diagnostics could not be exported: {message}",
  errTenant: "Use common, organizations, consumers, a tenant id or a domain such as contoso.onmicrosoft.com.",
  errMsClientId: "An application (client) id looks like 00000000-0000-0000-0000-000000000000.",
  errMsClientIdRequired: "Real accounts need your Microsoft application (client) id.",
  errZohoClientId: "A Zoho client id is 1000. followed by letters and digits.",
  errZohoClientIdRequired: "Real accounts need your Zoho client id.",
  errZohoAccounts: "Use the https address of a Zoho accounts server, such as https://accounts.zoho.com.",
  errInterval: "Choose 1, 2, 5, 15, 30 or 60 minutes.",
  errSecret: "A client secret has no spaces and at most 256 characters.",
};

export type SettingsMessageKey = keyof typeof SETTINGS_EN;

const SETTINGS_JA: Record<SettingsMessageKey, string> = {
  open: "設定",
  title: "設定",
  loading: "設定を読み込んでいます…",
  loadFailed: "設定を読み込めませんでした: {message}",
  close: "閉じる",
  save: "保存",
  saving: "保存しています…",
  saved: "設定を保存しました。",
  saveFailed: "設定を保存できませんでした: {message}",
  fixErrors: "強調表示された項目を先に修正してください（{n} 件）。",
  sectionSync: "同期",
  interval: "同期の間隔",
  everyMinute: "1 分ごと",
  everyMinutes: "{n} 分ごと",
  everyHour: "1 時間ごと",
  policy: "同じ項目が両方で変更されたとき",
  policyHint: "予定、連絡先、タスクのすべてに適用されます。",
  policy_newest: "新しい方の変更を優先",
  policy_crm_wins: "Zoho CRM を優先",
  policy_graph_wins: "Microsoft 365 を優先",
  policy_ask: "確認する",
  sectionAccounts: "アカウント",
  mode: "同期するアカウント",
  modeSandbox: "デモデータ入りの内蔵サンドボックス（実際のアカウントは使いません）",
  modeReal: "実際の Zoho CRM と Microsoft 365 のアカウント",
  modeSandboxNote: "サンドボックスはこのコンピューター上で動作し、データが外部に送られることはありません。",
  modeRealNote: "下のクライアント ID でサインインします。",
  modeRestart: "この変更は CRM Sync の次回起動時に反映されます。",
  msClientId: "Microsoft のアプリケーション（クライアント）ID",
  msClientIdHint: "Microsoft Entra ID のアプリの登録で確認できます。",
  tenant: "Microsoft のテナント",
  tenantHint: "common、organizations、consumers、テナント ID、または contoso.onmicrosoft.com のようなドメイン。",
  zohoClientId: "Zoho のクライアント ID",
  zohoClientIdHint: "Zoho API コンソールで確認できます（1000. で始まります）。",
  zohoAccounts: "Zoho のアカウントサーバー",
  zohoAccountsHint: "最初に開くサインインページです。データセンターはサインインの結果から判断します。",
  zohoSecret: "Zoho のクライアントシークレット（任意）",
  zohoSecretHint: "サーバーベースの Zoho クライアントの場合のみ必要です。ファイルには保存せず、OS のキーチェーンに保管します。",
  secretSaved: "クライアントシークレットはキーチェーンに保存されています。",
  secretNone: "クライアントシークレットは保存されていません。",
  secretNoKeychain: "このコンピューターにはキーチェーンがないため、クライアントシークレットを保存できません。",
  secretWillClear: "保存すると、保存済みのクライアントシークレットを削除します。",
  secretClear: "保存済みのシークレットを削除",
  memorySignIn: "このコンピューターにはキーチェーンがありません：CRM Sync を終了するまでサインイン情報をメモリーに保持する",
  memorySignInHint: "サインイン情報はどこにも保存されず、CRM Sync を起動するたびにサインインし直します。",
  sectionGeneral: "全般",
  language: "言語",
  lang_os: "システムと同じ",
  lang_en: "English（英語）",
  lang_ja: "日本語",
  startAtLogin: "このコンピューターにサインインしたら CRM Sync を起動する",
  startAtLoginUnavailable: "このシステムではサインイン時の起動を利用できません。",
  sectionData: "データ",
  dataDir: "同期の状態、設定、診断情報の保存場所:",
  exportHint: "診断情報はサポートが問題を調べるのに役立ちます。トークンやシークレットは含まれず、メールアドレスは伏せ字になります。",
  export: "診断情報を書き出す",
  exporting: "書き出しています…",
  exported: "保存しました: {path}",
  exportFailed: "診断情報を書き出せませんでした: {message}",
  errTenant: "common、organizations、consumers、テナント ID、または contoso.onmicrosoft.com のようなドメインを入力してください。",
  errMsClientId: "アプリケーション（クライアント）ID は 00000000-0000-0000-0000-000000000000 の形式です。",
  errMsClientIdRequired: "実際のアカウントを使うには Microsoft のアプリケーション（クライアント）ID が必要です。",
  errZohoClientId: "Zoho のクライアント ID は 1000. に英数字が続く形式です。",
  errZohoClientIdRequired: "実際のアカウントを使うには Zoho のクライアント ID が必要です。",
  errZohoAccounts: "https://accounts.zoho.com のような Zoho アカウントサーバーの https アドレスを入力してください。",
  errInterval: "1、2、5、15、30、60 分のいずれかを選んでください。",
  errSecret: "クライアントシークレットには空白を含めず、256 文字以内で入力してください。",
};

/** A settings message in `lang`, with `{name}` variables filled in. */
export function settingsText(lang: Lang, key: SettingsMessageKey, vars: Record<string, string> = {}): string {
  const table = lang === "ja" ? SETTINGS_JA : SETTINGS_EN;
  return table[key].replace(/\{(\w+)\}/g, (_, name: string) => vars[name] ?? `{${name}}`);
}

/** Both tables, for the test that every key is translated. */
export const SETTINGS_TABLES = { en: SETTINGS_EN, ja: SETTINGS_JA } as const;
