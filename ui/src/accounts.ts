// The accounts panel: who is connected on each side, Connect / Disconnect,
// and "signing in — finish in your browser" with Cancel while a sign-in waits.

import type { AccountView, Accounts, CommandError, Service } from "./bindings";
import type { MessageKey, Translate } from "./i18n";
import { el } from "./dom";

export const SERVICES: readonly Service[] = ["zoho", "microsoft"];

const SERVICE_NAME: Record<Service, MessageKey> = {
  zoho: "serviceZoho",
  microsoft: "serviceMicrosoft",
};

const DATA_CENTRE: Record<string, MessageKey> = {
  us: "dcUs",
  eu: "dcEu",
  in: "dcIn",
  au: "dcAu",
  jp: "dcJp",
  ca: "dcCa",
};

/** Error codes the panel words itself (so Japanese users read Japanese); others show the message. */
const ERROR_TEXT: Partial<Record<CommandError["code"], MessageKey>> = {
  sign_in_cancelled: "errorSignInCancelled",
  sign_in_timed_out: "errorSignInTimedOut",
  no_keychain: "errorNoKeychain",
  zoho_not_connected: "errorZohoNotConnected",
  sign_in_in_progress: "errorSignInInProgress",
};

/** What the user reads for a command error. */
export function errorText(error: CommandError, t: Translate): string {
  const key = ERROR_TEXT[error.code];
  return key ? t(key) : error.message;
}

/** The data centre's name, e.g. "Japan (JP)"; unknown codes are shown as they are. */
export function dataCentreText(code: string, t: Translate): string {
  const key = DATA_CENTRE[code];
  return key ? `${t(key)} (${code.toUpperCase()})` : code.toUpperCase();
}

export interface AccountHandlers {
  connect(service: Service): void;
  cancel(service: Service): void;
  disconnect(service: Service): void;
}

/** How one row looks: connected, waiting for the browser, or not connected. */
export type RowState =
  | { kind: "connected"; account: AccountView }
  | { kind: "signing_in" }
  | { kind: "disconnected" };

export function rowState(accounts: Accounts, service: Service): RowState {
  if (accounts.signing_in.includes(service)) return { kind: "signing_in" };
  const account = accounts[service];
  return account ? { kind: "connected", account } : { kind: "disconnected" };
}

function button(id: string, text: string, label: string, onClick: () => void, primary = false): HTMLButtonElement {
  const b = el("button", { id, text, className: primary ? "primary" : "" });
  b.type = "button";
  b.setAttribute("aria-label", label);
  b.addEventListener("click", onClick);
  return b;
}

/** Builds one account row. Element ids are stable: tests and screen readers rely on them.
 * `expired`: the saved sign-in stopped working, so the row offers Reconnect. */
export function accountRow(
  service: Service,
  state: RowState,
  t: Translate,
  on: AccountHandlers,
  expired = false,
): HTMLElement {
  const name = t(SERVICE_NAME[service]);
  const heading = el("h3", { id: `account-title-${service}`, text: name });
  const details = el("div", { id: `account-details-${service}`, className: "account-details" });
  const actions = el("div", { className: "actions" });
  const status = el("span", { id: `account-status-${service}`, className: "badge" });
  status.setAttribute("role", "status");

  if (state.kind === "connected") {
    const a = state.account;
    status.textContent = expired ? t("signInExpired") : t("connected");
    status.classList.add(expired ? "badge-needs_sign_in" : "badge-active");
    details.append(
      el("p", { id: `account-user-${service}`, className: "account-user", text: `${a.display_name} <${a.email}>` }),
      el("p", {
        id: `account-org-${service}`,
        className: "account-org",
        text: t(service === "zoho" ? "crmOrg" : "tenant", { name: a.organisation }),
      }),
    );
    if (a.data_centre) {
      details.append(
        el("p", {
          id: `account-dc-${service}`,
          className: "account-dc",
          text: t("dataCentre", { dc: dataCentreText(a.data_centre, t) }),
        }),
      );
      details.querySelector(`#account-dc-${service}`)?.setAttribute("data-dc", a.data_centre);
    }
    if (expired) {
      details.append(
        el("p", { id: `account-expired-${service}`, className: "account-expired", text: t("signInExpiredHint", { service: name }) }),
      );
      actions.append(
        button(`reconnect-${service}`, t("reconnect"), t("reconnectLabel", { service: name }), () => on.connect(service), true),
      );
    }
    actions.append(
      button(`disconnect-${service}`, t("disconnect"), t("disconnectLabel", { service: name }), () =>
        on.disconnect(service),
      ),
    );
  } else if (state.kind === "signing_in") {
    status.textContent = t("signingIn");
    status.classList.add("badge-paused");
    details.append(el("p", { id: `account-signing-in-${service}`, className: "account-user", text: t("finishInBrowser") }));
    actions.append(
      button(`cancel-${service}`, t("cancel"), t("cancelLabel", { service: name }), () => on.cancel(service)),
    );
  } else {
    status.textContent = t("notConnected");
    status.classList.add("badge-inactive");
    details.append(
      el("p", {
        className: "account-user",
        text: t(service === "zoho" ? "connectZohoHint" : "connectMicrosoftHint"),
      }),
    );
    actions.append(
      button(`connect-${service}`, t("connect"), t("connectLabel", { service: name }), () => on.connect(service), true),
    );
  }
  const message = el("p", { id: `account-message-${service}`, className: "message" });
  message.setAttribute("role", "alert");
  const row = el(
    "section",
    { id: `account-${service}`, className: "account" },
    el("div", { className: "module-head" }, heading, status),
    details,
    actions,
    message,
  );
  row.setAttribute("aria-labelledby", heading.id);
  row.dataset["state"] = state.kind;
  return row;
}

/** The whole panel for the current connections; `expired` names the account whose sign-in stopped working. */
export function accountsPanel(
  accounts: Accounts,
  t: Translate,
  on: AccountHandlers,
  expired: Service | null = null,
): HTMLElement {
  const heading = el("h2", { id: "accounts-title", text: t("accountsTitle") });
  const panel = el(
    "section",
    { id: "accounts", className: "accounts" },
    heading,
    ...SERVICES.map((s) => accountRow(s, rowState(accounts, s), t, on, expired === s)),
  );
  panel.setAttribute("aria-labelledby", heading.id);
  return panel;
}

/** Shows a command error under an account row; clears it when `error` is null. */
export function showAccountMessage(root: ParentNode, service: Service, error: CommandError | null, t: Translate): void {
  const node = root.querySelector<HTMLElement>(`#account-message-${service}`);
  if (!node) return;
  node.textContent = error ? errorText(error, t) : "";
  if (error) node.dataset["code"] = error.code;
  else delete node.dataset["code"];
}
