// The integration page: one card per sync module with its status and Enable.

import { accountsPanel, errorText, showAccountMessage, type AccountHandlers } from "./accounts";
import type { Backend } from "./backend";
import type { Accounts, CommandError, Module, ModuleView, Service, Status } from "./bindings";
import type { MessageKey, Translate } from "./i18n";

const MODULE_NAME: Record<Module, MessageKey> = {
  events: "moduleEvents",
  contacts: "moduleContacts",
  tasks: "moduleTasks",
};

const MODULE_DESCRIPTION: Record<Module, MessageKey> = {
  events: "describeEvents",
  contacts: "describeContacts",
  tasks: "describeTasks",
};

const STATUS_LABEL: Record<Status["kind"], MessageKey> = {
  inactive: "statusInactive",
  active: "statusActive",
  paused: "statusPaused",
  needs_sign_in: "statusNeedsSignIn",
  error: "statusError",
};

/** The words of a status badge, with the reason when the status has one. */
export function statusText(status: Status, t: Translate): string {
  const label = t(STATUS_LABEL[status.kind]);
  return "reason" in status && status.reason ? `${label} — ${status.reason}` : label;
}

function el<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  props: { id?: string; className?: string; text?: string } = {},
  ...children: Node[]
): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  if (props.id) node.id = props.id;
  if (props.className) node.className = props.className;
  if (props.text !== undefined) node.textContent = props.text;
  node.append(...children);
  return node;
}

/** Builds one module card. Element ids are stable: tests and screen readers rely on them. */
export function moduleCard(
  view: ModuleView,
  t: Translate,
  onEnable: (module: Module) => void,
): HTMLElement {
  const name = t(MODULE_NAME[view.module]);
  const heading = el("h2", { id: `title-${view.module}`, text: name });
  const description = el("p", { className: "description", text: t(MODULE_DESCRIPTION[view.module]) });
  const badge = el("span", {
    id: `status-${view.module}`,
    className: `badge badge-${view.status.kind}`,
    text: statusText(view.status, t),
  });
  badge.setAttribute("role", "status");
  const lastSync = el("p", {
    className: "last-sync",
    text: view.last_sync_at ? t("lastSync", { when: new Date(view.last_sync_at).toLocaleString() }) : t("neverSynced"),
  });
  const message = el("p", { id: `message-${view.module}`, className: "message" });
  message.setAttribute("role", "alert");
  const button = el("button", { id: `enable-${view.module}`, className: "primary", text: t("enable") });
  button.type = "button";
  button.setAttribute("aria-label", t("enableLabel", { module: name }));
  button.hidden = view.enabled;
  button.addEventListener("click", () => onEnable(view.module));

  const card = el(
    "section",
    { id: `module-${view.module}`, className: "module" },
    el("div", { className: "module-head" }, heading, badge),
    description,
    lastSync,
    el("div", { className: "actions" }, button),
    message,
  );
  card.setAttribute("aria-labelledby", heading.id);
  card.dataset["status"] = view.status.kind;
  return card;
}

/** Shows a command error under its module; clears it when `error` is null. */
export function showModuleMessage(root: ParentNode, module: Module, error: CommandError | null, t?: Translate): void {
  const node = root.querySelector<HTMLElement>(`#message-${module}`);
  if (!node) return;
  node.textContent = error ? (t ? errorText(error, t) : error.message) : "";
  if (error) node.dataset["code"] = error.code;
  else delete node.dataset["code"];
}

/** Renders the page into `root`: the accounts panel, then the modules, wired to the backend. */
export async function mountIntegration(root: HTMLElement, backend: Backend, t: Translate): Promise<void> {
  const accountsSlot = el("div", { id: "accounts-slot" });
  const list = el("div", { id: "modules", className: "modules" });
  root.replaceChildren(
    el("h1", { text: t("integrationTitle") }),
    el("p", { className: "intro", text: t("integrationIntro") }),
    accountsSlot,
    el("h2", { className: "section-title", text: t("modulesTitle") }),
    list,
  );

  // The last accounts the backend reported, plus sign-ins started from this window.
  let current: Accounts = { zoho: null, microsoft: null, signing_in: [] };
  const handlers: AccountHandlers = { connect, cancel, disconnect };

  const renderAccounts = (focus?: string) => {
    accountsSlot.replaceChildren(accountsPanel(current, t, handlers));
    if (focus) accountsSlot.querySelector<HTMLElement>(focus)?.focus();
  };

  async function refreshAccounts(focus?: string): Promise<void> {
    const result = await backend.accounts();
    if (result.status === "ok") {
      current = result.data;
      renderAccounts(focus);
    } else {
      const failure = el("p", {
        id: "accounts-error",
        className: "message",
        text: t("loadFailed", { message: result.error.message }),
      });
      failure.setAttribute("role", "alert");
      accountsSlot.replaceChildren(failure);
    }
  }

  async function connect(service: Service) {
    current = { ...current, signing_in: [...current.signing_in.filter((s) => s !== service), service] };
    renderAccounts(`#cancel-${service}`);
    const result = await backend.connect(service);
    current = { ...current, signing_in: current.signing_in.filter((s) => s !== service) };
    await refreshAccounts(result.status === "ok" ? `#disconnect-${service}` : `#connect-${service}`);
    if (result.status === "error") showAccountMessage(accountsSlot, service, result.error, t);
  }

  async function cancel(service: Service) {
    await backend.cancelSignIn(service);
  }

  async function disconnect(service: Service) {
    const button = accountsSlot.querySelector<HTMLButtonElement>(`#disconnect-${service}`);
    if (button) button.disabled = true;
    const result = await backend.disconnect(service);
    if (result.status === "ok") {
      current = result.data;
      renderAccounts(`#connect-${service}`);
      return;
    }
    if (button) button.disabled = false;
    showAccountMessage(accountsSlot, service, result.error, t);
  }

  const replaceCard = (view: ModuleView) => {
    const card = moduleCard(view, t, enable);
    const old = list.querySelector(`#module-${view.module}`);
    if (old) old.replaceWith(card);
    else list.append(card);
  };

  async function enable(module: Module) {
    const button = list.querySelector<HTMLButtonElement>(`#enable-${module}`);
    if (button) {
      button.disabled = true;
      button.textContent = t("enabling");
    }
    // Enabling may sign in to Microsoft 365 (silently, or once in the browser).
    if (current.zoho && !current.microsoft) {
      current = { ...current, signing_in: [...current.signing_in.filter((s) => s !== "microsoft"), "microsoft"] };
      renderAccounts();
    }
    const result = await backend.enableModule(module);
    current = { ...current, signing_in: current.signing_in.filter((s) => s !== "microsoft") };
    await refreshAccounts();
    if (result.status === "ok") {
      replaceCard(result.data);
      return;
    }
    if (button) {
      button.disabled = false;
      button.textContent = t("enable");
    }
    showModuleMessage(list, module, result.error, t);
  }

  await refreshAccounts();
  const result = await backend.listModules();
  if (result.status === "error") {
    const failure = el("p", { id: "load-error", className: "message", text: t("loadFailed", { message: result.error.message }) });
    failure.setAttribute("role", "alert");
    list.replaceChildren(failure);
    return;
  }
  result.data.forEach(replaceCard);
}
