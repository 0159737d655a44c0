// The first-run welcome: shown above the integration page while no Zoho CRM account is
// connected and the user has not dismissed it. It explains the two ways to run (the
// built-in sandbox with demo data, the default, or real accounts with client ids in
// Settings) and the "Sandbox" badge, and offers "Connect Zoho CRM" (the accounts panel's
// own connect flow) and "Open settings". "Don't show again" is remembered in the
// preferences, so it does not come back.

import type { AccountView, Accounts, CommandError, Lang, Result, Service, SettingsView } from "./bindings";
import { tauriBackend } from "./backend";
import { openSettings, tauriSettingsBackend, type SettingsBackend } from "./settings";
import "./settings.css";
import { el } from "./dom";

/** What the welcome needs from Rust; tests pass a fake. */
export interface WelcomeBackend {
  accounts(): Promise<Result<Accounts, CommandError>>;
  connect(service: Service): Promise<Result<AccountView, CommandError>>;
  getSettings(): Promise<Result<SettingsView, CommandError>>;
  dismissWelcome(): Promise<Result<null, CommandError>>;
}

export const tauriWelcomeBackend: WelcomeBackend = {
  accounts: () => tauriBackend.accounts(),
  connect: (service) => tauriBackend.connect(service),
  getSettings: () => tauriSettingsBackend.getSettings(),
  dismissWelcome: () => tauriSettingsBackend.dismissWelcome(),
};

/** Whether the welcome shows: no Zoho CRM account yet, and not dismissed. Unknown → hidden. */
export function shouldShowWelcome(
  accounts: Result<Accounts, CommandError>,
  settings: Result<SettingsView, CommandError>,
): boolean {
  if (accounts.status === "error" || settings.status === "error") return false;
  return accounts.data.zoho === null && !settings.data.welcome_dismissed;
}

/** How a connect attempt ended. */
export type ConnectOutcome = { ok: true } | { ok: false; message: string };

/**
 * Runs the accounts panel's connect flow when the panel is on the page (so it shows
 * "signing in" and Cancel, and refreshes itself): clicks #connect-zoho and waits until
 * #account-zoho leaves the signing-in state. Without the panel, connects directly.
 */
export function connectThroughPanel(doc: Document, backend: Pick<WelcomeBackend, "connect">): Promise<ConnectOutcome> {
  const panelButton = doc.querySelector<HTMLButtonElement>("#connect-zoho");
  if (!panelButton) {
    return backend
      .connect("zoho")
      .then((r): ConnectOutcome => (r.status === "ok" ? { ok: true } : { ok: false, message: r.error.message }));
  }
  return new Promise<ConnectOutcome>((resolve) => {
    let started = false;
    const check = (): boolean => {
      const state = doc.querySelector<HTMLElement>("#account-zoho")?.dataset["state"];
      if (state === "signing_in") started = true;
      if (!started && state !== "connected") return false;
      if (state === "connected") {
        resolve({ ok: true });
        return true;
      }
      if (state === "disconnected") {
        const message = doc.querySelector("#account-message-zoho")?.textContent ?? "";
        resolve({ ok: false, message });
        return true;
      }
      return false;
    };
    const observer = new MutationObserver(() => {
      if (check()) observer.disconnect();
    });
    observer.observe(doc.body, { subtree: true, childList: true, attributes: true, attributeFilter: ["data-state"] });
    panelButton.click();
    if (check()) observer.disconnect();
  });
}

export interface WelcomeOptions {
  backend?: WelcomeBackend;
  /** Opens the settings dialog (default: the real one). */
  openSettings?: () => void;
  /** Connects Zoho CRM (default: the accounts panel's flow, see [`connectThroughPanel`]). */
  connectZoho?: () => Promise<ConnectOutcome>;
  settingsBackend?: SettingsBackend;
}

function button(id: string, text: string, primary = false): HTMLButtonElement {
  const b = el("button", { id, text, className: primary ? "primary" : "" });
  b.type = "button";
  return b;
}

/** The welcome section (#welcome), wired to its handlers. */
export function welcomeCard(
  lang: Lang,
  on: { connect(): void; openSettings(): void; dismiss(): void },
): HTMLElement {
  const w = (key: WelcomeMessageKey) => welcomeText(lang, key);
  const title = el("h2", { id: "welcome-title", text: w("title") });
  const badge = el("span", { className: "sandbox-badge", text: w("badge") });
  // Japanese sentences are not separated by spaces.
  const sep = lang === "ja" ? "" : " ";
  const sandbox = el(
    "li",
    { id: "welcome-sandbox" },
    el("strong", { text: w("sandboxTitle") }),
    sep,
    w("sandboxText"),
    sep,
    w("badgeBefore"),
    badge,
    w("badgeAfter"),
  );
  const real = el("li", { id: "welcome-real" }, el("strong", { text: w("realTitle") }), sep, w("realText"));
  const connect = button("welcome-connect-zoho", w("connect"), true);
  const settings = button("welcome-open-settings", w("openSettings"));
  const dismiss = button("welcome-dismiss", w("dismiss"));
  connect.addEventListener("click", on.connect);
  settings.addEventListener("click", on.openSettings);
  dismiss.addEventListener("click", on.dismiss);
  const message = el("p", { id: "welcome-message", className: "welcome-message" });
  message.setAttribute("role", "alert");
  const card = el(
    "section",
    { id: "welcome", className: "welcome" },
    title,
    el("p", { text: w("intro") }),
    el("ul", {}, sandbox, real),
    el("p", { text: w("next") }),
    el("div", { className: "actions" }, connect, settings, dismiss),
    message,
  );
  card.setAttribute("aria-labelledby", title.id);
  return card;
}

/**
 * Shows the welcome before `before` (the page) when it should show. Resolves to the
 * section, or null when it is not shown.
 */
export async function mountWelcome(
  before: HTMLElement,
  lang: Lang,
  options: WelcomeOptions = {},
): Promise<HTMLElement | null> {
  const backend = options.backend ?? tauriWelcomeBackend;
  const [accounts, settings] = await Promise.all([backend.accounts(), backend.getSettings()]);
  if (!shouldShowWelcome(accounts, settings)) return null;
  const open =
    options.openSettings ??
    (() => void openSettings(document.body, lang, { backend: options.settingsBackend ?? tauriSettingsBackend }));
  const connectZoho = options.connectZoho ?? (() => connectThroughPanel(document, backend));

  const wrap = el("div", { id: "welcome-wrap", className: "welcome-wrap" });
  const remove = () => {
    wrap.remove();
    // Leave the keyboard somewhere sensible.
    document.querySelector<HTMLElement>("#disconnect-zoho, #connect-zoho, main h1")?.focus();
  };
  const card = welcomeCard(lang, {
    connect: () => {
      const b = card.querySelector<HTMLButtonElement>("#welcome-connect-zoho");
      const message = card.querySelector<HTMLElement>("#welcome-message");
      if (b) {
        b.disabled = true;
        b.textContent = welcomeText(lang, "connecting");
      }
      if (message) message.textContent = "";
      void connectZoho().then((outcome) => {
        if (outcome.ok) {
          remove();
          return;
        }
        if (b) {
          b.disabled = false;
          b.textContent = welcomeText(lang, "connect");
        }
        if (message) message.textContent = outcome.message;
      });
    },
    openSettings: open,
    dismiss: () => {
      void backend.dismissWelcome().then((r) => {
        if (r.status === "ok") {
          remove();
          return;
        }
        const message = card.querySelector<HTMLElement>("#welcome-message");
        if (message) message.textContent = welcomeText(lang, "dismissFailed").replace("{message}", r.error.message);
      });
    },
  });
  wrap.append(card);
  before.parentElement?.insertBefore(wrap, before);
  // Connected from the accounts panel instead: the welcome has done its job.
  const watch = new MutationObserver(() => {
    if (!wrap.isConnected) {
      watch.disconnect();
    } else if (document.querySelector("#account-zoho[data-state='connected']")) {
      watch.disconnect();
      wrap.remove();
    }
  });
  watch.observe(document.body, { subtree: true, childList: true, attributes: true, attributeFilter: ["data-state"] });
  return card;
}

const WELCOME_EN = {
  title: "Welcome to CRM Sync",
  intro: "CRM Sync keeps your Zoho CRM events, contacts and tasks in step with Microsoft 365. There are two ways to run it:",
  sandboxTitle: "Built-in sandbox (the default).",
  sandboxText:
    "A Zoho CRM and a Microsoft 365 with demo data run on this computer, so you can try everything without touching real data.",
  badgeBefore: "While it runs, the ",
  badge: "Sandbox",
  badgeAfter: " badge shows at the top of the window.",
  realTitle: "Your real accounts.",
  realText:
    "Enter the client ids of your Microsoft app registration and Zoho API client in Settings, then restart CRM Sync.",
  next: "Start by connecting your Zoho CRM account.",
  connect: "Connect Zoho CRM",
  connecting: "Connecting… finish in your browser",
  openSettings: "Open settings",
  dismiss: "Don't show again",
  dismissFailed: "This could not be remembered: {message}",
};

export type WelcomeMessageKey = keyof typeof WELCOME_EN;

const WELCOME_JA: Record<WelcomeMessageKey, string> = {
  title: "CRM Sync へようこそ",
  intro: "CRM Sync は Zoho CRM の予定、連絡先、タスクを Microsoft 365 と同期します。使い方は 2 通りあります。",
  sandboxTitle: "内蔵サンドボックス（初期設定）。",
  sandboxText:
    "デモデータ入りの Zoho CRM と Microsoft 365 がこのコンピューター上で動作するので、実際のデータに触れずにすべての機能を試せます。",
  badgeBefore: "実行中はウィンドウ上部に「",
  badge: "サンドボックス",
  badgeAfter: "」バッジが表示されます。",
  realTitle: "実際のアカウント。",
  realText:
    "設定で Microsoft のアプリの登録と Zoho API クライアントのクライアント ID を入力し、CRM Sync を再起動してください。",
  next: "まず Zoho CRM のアカウントを接続しましょう。",
  connect: "Zoho CRM を接続",
  connecting: "接続しています… ブラウザーで操作を完了してください",
  openSettings: "設定を開く",
  dismiss: "今後表示しない",
  dismissFailed: "この設定を保存できませんでした: {message}",
};

/** A welcome message in `lang`. */
export function welcomeText(lang: Lang, key: WelcomeMessageKey): string {
  return (lang === "ja" ? WELCOME_JA : WELCOME_EN)[key];
}

/** Both tables, for the test that every key is translated. */
export const WELCOME_TABLES = { en: WELCOME_EN, ja: WELCOME_JA } as const;
