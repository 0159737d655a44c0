// The integration page: the accounts, what the sync is doing, and one card per sync module
// with its status, counts, progress, Enable / Sync now / Disable and the delete checkbox.

import { accountsPanel, errorText, showAccountMessage, type AccountHandlers } from "./accounts";
import type { Backend } from "./backend";
import type {
  Accounts,
  CommandError,
  Module,
  ModuleView,
  Preview,
  Service,
  Status,
  SyncEvent,
  SyncState,
} from "./bindings";
import { confirmDialog } from "./dialog";
import type { MessageKey, Translate } from "./i18n";
import { eventModule, nextProgress, progressText, progressValue, type RoundProgress } from "./progress";
import { el } from "./dom";

export const MODULE_NAME: Record<Module, MessageKey> = {
  events: "moduleEvents",
  contacts: "moduleContacts",
  tasks: "moduleTasks",
};

const MODULE_DESCRIPTION: Record<Module, MessageKey> = {
  events: "describeEvents",
  contacts: "describeContacts",
  tasks: "describeTasks",
};

const CONTAINER: Record<Module, MessageKey> = {
  events: "containerEvents",
  contacts: "containerContacts",
  tasks: "containerTasks",
};

const COUNT: Record<Module, [MessageKey, MessageKey]> = {
  events: ["countEventsOne", "countEventsOther"],
  contacts: ["countContactsOne", "countContactsOther"],
  tasks: ["countTasksOne", "countTasksOther"],
};

const NOUN: Record<Module, MessageKey> = {
  events: "nounEvents",
  contacts: "nounContacts",
  tasks: "nounTasks",
};

const SERVICE_NAME: Record<Service, MessageKey> = { zoho: "serviceZoho", microsoft: "serviceMicrosoft" };

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

/** "12 contacts", "1 contact", "12 件の連絡先". */
export function countText(module: Module, n: number, t: Translate): string {
  const [one, other] = COUNT[module];
  return n === 1 ? t(one) : t(other, { n: n.toLocaleString() });
}

/** "5 synced · 2 excluded · 1 failing", plus conflicts waiting when there are any. */
export function countsText(view: ModuleView, t: Translate): string | null {
  const c = view.counts;
  if (!c) return null;
  const parts = [
    t("countsSynced", { n: c.synced.toLocaleString() }),
    t("countsExcluded", { n: c.excluded.toLocaleString() }),
    t("countsFailing", { n: c.failing.toLocaleString() }),
  ];
  if (c.conflicts > 0) parts.push(t("countsConflicts", { n: c.conflicts.toLocaleString() }));
  return parts.join(" · ");
}

function capitalised(text: string): string {
  return text.charAt(0).toUpperCase() + text.slice(1);
}

/** The paragraphs of the preview dialog. */
export function previewLines(p: Preview, t: Translate): string[] {
  const lines = [t("previewCopy", { count: countText(p.module, p.to_microsoft, t) })];
  if (p.to_crm > 0) lines.push(t("previewToCrm", { count: countText(p.module, p.to_crm, t) }));
  if (p.updates > 0) lines.push(t("previewUpdates", { n: p.updates.toLocaleString() }));
  const excluded = p.excluded_imported + p.excluded_not_yours;
  lines.push(
    excluded > 0
      ? t("previewExcluded", {
          n: excluded.toLocaleString(),
          imported: p.excluded_imported.toLocaleString(),
          notYours: p.excluded_not_yours.toLocaleString(),
        })
      : t("previewNoneExcluded"),
  );
  if (p.excluded_later > 0) lines.push(t("previewExcludedLater", { n: p.excluded_later.toLocaleString() }));
  if (p.pause) lines.push(t("previewPause", { reason: p.pause }));
  return lines;
}

/** What the disable confirmation says will happen. `synced` is null when not known. */
export function disableText(module: Module, synced: number | null, t: Translate): string {
  const container = t(CONTAINER[module]);
  return t("disableBody", {
    Container: capitalised(container),
    count: synced === null ? t(NOUN[module]) : countText(module, synced, t),
    noun: t(NOUN[module]),
  });
}

/** What the sync-state line says; `attention` when an enabled module waits for the user. */
export function syncStateText(state: SyncState, t: Translate, attention = false): string {
  switch (state.kind) {
    case "starting":
      return t("stateStarting");
    case "idle":
      return attention ? t("stateAttention") : t("stateIdle", { n: String(state.every_minutes) });
    case "syncing":
      return t("stateSyncing", { module: t(MODULE_NAME[state.module]) });
    case "paused":
      return t("statePaused");
    case "not_connected":
      return t("stateNotConnected");
    case "needs_sign_in":
      return t("stateNeedsSignIn", { service: t(SERVICE_NAME[state.service]) });
    case "failed":
      return t("stateFailed", { message: state.message });
  }
}

function button(id: string, text: string, label: string, onClick: () => void, className = ""): HTMLButtonElement {
  const b = el("button", { id, text, className });
  b.type = "button";
  b.setAttribute("aria-label", label);
  b.addEventListener("click", onClick);
  return b;
}

export interface ModuleHandlers {
  enable(module: Module): void;
  reviewPaused(module: Module): void;
  disable(module: Module): void;
  syncNow(module: Module): void;
  setDeletePropagation(module: Module, on: boolean): void;
}

/** Fills a card's progress block for `progress` (hides it when null). */
export function renderProgress(
  card: ParentNode,
  module: Module,
  progress: RoundProgress | null,
  t: Translate,
  now: number,
): void {
  const block = card.querySelector<HTMLElement>(`#progress-${module}`);
  const bar = card.querySelector<HTMLProgressElement>(`#progress-bar-${module}`);
  const text = card.querySelector<HTMLElement>(`#progress-text-${module}`);
  if (!block || !bar || !text) return;
  block.hidden = progress === null;
  if (!progress) return;
  const { value, max } = progressValue(progress);
  bar.max = max;
  if (value === null) bar.removeAttribute("value");
  else bar.value = value;
  text.textContent = progressText(progress, t, now);
  block.dataset["phase"] = progress.phase;
}

/** Builds one module card. Element ids are stable: tests and screen readers rely on them. */
export function moduleCard(view: ModuleView, t: Translate, on: ModuleHandlers): HTMLElement {
  const m = view.module;
  const name = t(MODULE_NAME[m]);
  const heading = el("h2", { id: `title-${m}`, text: name });
  const description = el("p", { className: "description", text: t(MODULE_DESCRIPTION[m]) });
  const badge = el("span", {
    id: `status-${m}`,
    className: `badge badge-${view.status.kind}`,
    text: statusText(view.status, t),
  });
  badge.setAttribute("role", "status");
  const card = el(
    "section",
    { id: `module-${m}`, className: "module" },
    el("div", { className: "module-head" }, heading, badge),
    description,
  );
  card.setAttribute("aria-labelledby", heading.id);
  card.dataset["status"] = view.status.kind;
  card.dataset["enabled"] = String(view.enabled);

  if (view.inactive_reason === "container_deleted") {
    card.append(
      el("p", {
        id: `reason-${m}`,
        className: "reason",
        text: t("inactiveContainerDeleted", { container: t(CONTAINER[m]) }),
      }),
    );
  }
  card.append(
    el("p", {
      id: `last-sync-${m}`,
      className: "last-sync",
      text: view.last_sync_at
        ? t("lastSync", { when: new Date(view.last_sync_at).toLocaleString(document.documentElement.lang || undefined) })
        : t("neverSynced"),
    }),
  );
  const counts = countsText(view, t);
  if (view.enabled && counts) card.append(el("p", { id: `counts-${m}`, className: "counts", text: counts }));

  // The progress of a running round: hidden until the worker reports one.
  const bar = el("progress", { id: `progress-bar-${m}` });
  bar.setAttribute("aria-label", t("progressLabel", { module: name }));
  bar.setAttribute("aria-describedby", `progress-text-${m}`);
  const progress = el("div", { id: `progress-${m}`, className: "progress" }, bar, el("span", { id: `progress-text-${m}` }));
  progress.hidden = true;
  card.append(progress);

  if (view.enabled) {
    const box = el("input", { id: `delete-${m}` });
    box.type = "checkbox";
    box.checked = view.delete_propagation;
    box.addEventListener("change", () => on.setDeletePropagation(m, box.checked));
    const label = el("label", { className: "toggle" }, box, el("span", { text: t("deleteToggle") }));
    label.htmlFor = box.id;
    card.append(label);
  }

  if (view.enabled && view.failures.length > 0) {
    const list = el("ul");
    for (const f of view.failures) list.append(el("li", { text: `${f.label}: ${f.error}` }));
    card.append(el("details", { id: `failures-${m}`, className: "failures" }, el("summary", { text: t("failuresTitle") }), list));
  }

  const actions = el("div", { className: "actions" });
  if (view.enabled && view.status.kind === "paused") {
    actions.append(
      button(`review-${m}`, t("reviewPaused"), t("reviewPausedLabel", { module: name }), () => on.reviewPaused(m), "primary"),
    );
  }
  if (view.enabled) {
    actions.append(
      button(
        `sync-${m}`,
        t("syncNow"),
        t("syncNowLabel", { module: name }),
        () => on.syncNow(m),
        view.status.kind === "paused" ? "" : "primary",
      ),
      button(`disable-${m}`, t("disable"), t("disableLabel", { module: name }), () => on.disable(m)),
    );
  } else {
    actions.append(button(`enable-${m}`, t("enable"), t("enableLabel", { module: name }), () => on.enable(m), "primary"));
  }
  const message = el("p", { id: `message-${m}`, className: "message" });
  message.setAttribute("role", "alert");
  card.append(actions, message);
  return card;
}

/** Shows a command error (or a plain text) under its module; clears it when null. */
export function showModuleMessage(
  root: ParentNode,
  module: Module,
  error: CommandError | string | null,
  t?: Translate,
): void {
  const node = root.querySelector<HTMLElement>(`#message-${module}`);
  if (!node) return;
  if (error === null) {
    node.textContent = "";
    delete node.dataset["code"];
  } else if (typeof error === "string") {
    node.textContent = error;
    delete node.dataset["code"];
  } else {
    node.textContent = t ? moduleErrorText(error, t) : error.message;
    node.dataset["code"] = error.code;
  }
}

function moduleErrorText(error: CommandError, t: Translate): string {
  if (error.code === "not_syncing") return t("errorNotSyncing", { message: error.message });
  return errorText(error, t);
}

export interface IntegrationOptions {
  /** The contact field mapping dialog: resolves true when the user saved it, false on cancel. */
  editContactMapping?: () => Promise<boolean>;
  /** The clock (milliseconds), for the time-left estimate. */
  now?: () => number;
  /** "+ Office 365 users": opens the invite dialog (offered when both accounts are connected). */
  inviteUsers?: () => Promise<unknown>;
}

/** Renders the page into `root`: the accounts panel, the sync state, then the modules, wired to the backend. */
export async function mountIntegration(
  root: HTMLElement,
  backend: Backend,
  t: Translate,
  options: IntegrationOptions = {},
): Promise<void> {
  const now = options.now ?? (() => Date.now());
  const accountsSlot = el("div", { id: "accounts-slot" });
  const stateLine = el("p", { id: "sync-state", className: "sync-state" });
  stateLine.setAttribute("role", "status");
  const list = el("div", { id: "modules", className: "modules" });
  root.replaceChildren(
    el("h1", { text: t("integrationTitle") }),
    el("p", { className: "intro", text: t("integrationIntro") }),
    accountsSlot,
    el("h2", { className: "section-title", text: t("modulesTitle") }),
    stateLine,
    list,
  );

  // The last accounts the backend reported, plus sign-ins started from this window.
  let current: Accounts = { zoho: null, microsoft: null, signing_in: [] };
  const views = new Map<Module, ModuleView>();
  const progress = new Map<Module, RoundProgress>();
  const handlers: AccountHandlers = { connect, cancel, disconnect };
  const moduleHandlers: ModuleHandlers = { enable, reviewPaused, disable, syncNow, setDeletePropagation };

  // The account whose saved sign-in stopped working, if any (it gets Reconnect).
  let expired: Service | null = null;

  const renderAccounts = (focus?: string) => {
    const focused = document.activeElement instanceof HTMLElement ? document.activeElement.id : "";
    accountsSlot.replaceChildren(accountsPanel(current, t, handlers, expired));
    // "+ Office 365 users" sits with the CRM account, once both accounts are connected.
    const zohoActions = accountsSlot.querySelector("#account-zoho .actions");
    const invite = options.inviteUsers;
    if (invite && current.zoho && current.microsoft && zohoActions) {
      const b = button("invite-users", t("inviteUsers"), t("inviteUsersLabel"), () => {
        void invite().then(() => accountsSlot.querySelector<HTMLElement>("#invite-users")?.focus());
      });
      zohoActions.prepend(b);
    }
    const target = focus ?? (focused ? `#${focused}` : "");
    if (target) accountsSlot.querySelector<HTMLElement>(target)?.focus();
  };

  let lastState: SyncState = { kind: "starting" };
  // "Not syncing" in the UI's own words, from what the sync said it is doing.
  const explain = (error: CommandError): CommandError =>
    error.code === "not_syncing" && !["idle", "syncing", "starting"].includes(lastState.kind)
      ? { code: error.code, message: syncStateText(lastState, t) }
      : error;
  const needsAttention = () =>
    [...views.values()].some((v) => v.enabled && ["paused", "error", "needs_sign_in"].includes(v.status.kind));

  const showState = (state: SyncState) => {
    lastState = state;
    const attention = needsAttention();
    stateLine.textContent = syncStateText(state, t, attention);
    stateLine.dataset["state"] = state.kind;
    stateLine.dataset["attention"] = String(attention);
    const now = state.kind === "needs_sign_in" ? state.service : null;
    if (now !== expired) {
      expired = now;
      renderAccounts();
    }
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
    await refreshModules();
  }

  async function cancel(service: Service) {
    await backend.cancelSignIn(service);
  }

  async function disconnect(service: Service) {
    const b = accountsSlot.querySelector<HTMLButtonElement>(`#disconnect-${service}`);
    if (b) b.disabled = true;
    const result = await backend.disconnect(service);
    if (result.status === "ok") {
      current = result.data;
      renderAccounts(`#connect-${service}`);
      await refreshModules();
      return;
    }
    if (b) b.disabled = false;
    showAccountMessage(accountsSlot, service, result.error, t);
  }

  /** Puts the card of `view` in place, keeping the keyboard focus on the same control. */
  const replaceCard = (view: ModuleView, force = false) => {
    const old = list.querySelector(`#module-${view.module}`);
    // Unchanged: keep the card (and whatever the user is about to click).
    if (!force && old && JSON.stringify(views.get(view.module)) === JSON.stringify(view)) return;
    views.set(view.module, view);
    const focused = document.activeElement instanceof HTMLElement ? document.activeElement.id : "";
    const card = moduleCard(view, t, moduleHandlers);
    renderProgress(card, view.module, progress.get(view.module) ?? null, t, now());
    if (old) old.replaceWith(card);
    else list.append(card);
    if (focused && card.querySelector(`#${focused}`)) card.querySelector<HTMLElement>(`#${focused}`)?.focus();
  };

  // A card an action just changed is newer than a listing asked for before that action:
  // such a listing leaves it alone (the last word stays the action's).
  let actions = 0;
  const changedAt = new Map<Module, number>();
  const showAction = (view: ModuleView, force = false) => {
    changedAt.set(view.module, ++actions);
    replaceCard(view, force);
  };

  async function refreshModules(): Promise<boolean> {
    const asked = actions;
    const result = await backend.listModules();
    if (result.status === "error") {
      const failure = el("p", {
        id: "load-error",
        className: "message",
        text: t("loadFailed", { message: result.error.message }),
      });
      failure.setAttribute("role", "alert");
      list.replaceChildren(failure);
      return false;
    }
    list.querySelector("#load-error")?.remove();
    result.data.filter((v) => (changedAt.get(v.module) ?? 0) <= asked).forEach((v) => replaceCard(v));
    showState(lastState);
    return true;
  }

  const busy = (id: string, text?: string) => {
    const b = list.querySelector<HTMLButtonElement>(`#${id}`);
    if (!b) return () => {};
    const before = b.textContent;
    b.disabled = true;
    if (text) b.textContent = text;
    return () => {
      b.disabled = false;
      b.textContent = before;
    };
  };

  async function enable(module: Module) {
    const done = busy(`enable-${module}`, t("enabling"));
    showModuleMessage(list, module, null);
    const fail = (error: CommandError) => {
      done();
      showModuleMessage(list, module, explain(error), t);
    };
    if (!current.zoho) {
      fail({ code: "zoho_not_connected", message: t("errorZohoNotConnected") });
      return;
    }
    // Enabling signs in to Microsoft 365 with the CRM user's e-mail (silently, or once in the browser).
    if (!current.microsoft) {
      current = { ...current, signing_in: [...current.signing_in.filter((s) => s !== "microsoft"), "microsoft"] };
      renderAccounts();
      const signedIn = await backend.connect("microsoft");
      current = { ...current, signing_in: current.signing_in.filter((s) => s !== "microsoft") };
      await refreshAccounts();
      if (signedIn.status === "error") {
        fail(signedIn.error);
        return;
      }
    }
    if (module === "contacts" && options.editContactMapping) {
      const saved = await options.editContactMapping();
      if (!saved) {
        done();
        list.querySelector<HTMLElement>(`#enable-${module}`)?.focus();
        return;
      }
    }
    showModuleMessage(list, module, t("previewChecking"));
    const preview = await backend.previewModule(module);
    if (preview.status === "error") {
      fail(preview.error);
      return;
    }
    showModuleMessage(list, module, null);
    const name = t(MODULE_NAME[module]);
    const go = await confirmDialog(root, {
      id: "preview-dialog",
      title: t("previewTitle", { module: name }),
      body: previewLines(preview.data, t),
      confirm: t("continue"),
      cancel: t("cancel"),
    });
    if (!go) {
      done();
      list.querySelector<HTMLElement>(`#enable-${module}`)?.focus();
      return;
    }
    const result = await backend.enableModule(module);
    if (result.status === "error") {
      fail(result.error);
      return;
    }
    // The first sync starts now; its progress comes as events.
    progress.set(module, progress.get(module) ?? { phase: "starting" });
    showAction(result.data);
    list.querySelector<HTMLElement>(`#sync-${module}`)?.focus();
  }

  async function disable(module: Module) {
    const view = views.get(module);
    const go = await confirmDialog(root, {
      id: "disable-dialog",
      title: t("disableTitle", { module: t(MODULE_NAME[module]) }),
      body: [disableText(module, view?.counts?.synced ?? null, t)],
      confirm: t("disableConfirm"),
      cancel: t("cancel"),
      danger: true,
    });
    if (!go) return;
    const done = busy(`disable-${module}`, t("disabling"));
    const result = await backend.disableModule(module);
    if (result.status === "error") {
      done();
      showModuleMessage(list, module, explain(result.error), t);
      return;
    }
    progress.delete(module);
    showAction(result.data);
    list.querySelector<HTMLElement>(`#enable-${module}`)?.focus();
  }

  async function reviewPaused(module: Module) {
    const view = views.get(module);
    const reason = view && view.status.kind === "paused" ? view.status.reason : "";
    const go = await confirmDialog(root, {
      id: "paused-dialog",
      title: t("pausedTitle", { module: t(MODULE_NAME[module]) }),
      body: reason ? [reason, t("pausedBody")] : [t("pausedBody")],
      confirm: t("pausedConfirm"),
      cancel: t("cancel"),
      danger: true,
    });
    if (!go) return;
    const done = busy(`review-${module}`);
    const result = await backend.confirmDeletes(module);
    if (result.status === "error") {
      done();
      showModuleMessage(list, module, explain(result.error), t);
      return;
    }
    showAction(result.data);
  }

  async function syncNow(module: Module) {
    showModuleMessage(list, module, null);
    const result = await backend.syncNow();
    if (result.status === "error") showModuleMessage(list, module, explain(result.error), t);
  }

  async function setDeletePropagation(module: Module, on: boolean) {
    const result = await backend.setDeletePropagation(module, on);
    if (result.status === "error") {
      const view = views.get(module);
      if (view) showAction(view, true);
      showModuleMessage(list, module, explain(result.error), t);
      return;
    }
    showAction(result.data);
  }

  function onEvent(event: SyncEvent) {
    if (event.kind === "state") {
      showState(event.state);
      return;
    }
    const module = eventModule(event);
    if (!module) return;
    const next = nextProgress(progress.get(module) ?? null, event, now());
    if (next === undefined) return;
    if (next === null) progress.delete(module);
    else progress.set(module, next);
    const card = list.querySelector<HTMLElement>(`#module-${module}`);
    if (card) renderProgress(card, module, next, t, now());
    if (event.kind === "finished") {
      void refreshModules().then(() => {
        if (event.result.kind === "failed") {
          showModuleMessage(list, module, t("roundFailed", { error: event.result.error }));
        }
      });
    }
  }

  await backend.onSyncEvent(onEvent);
  showState(await backend.syncState());
  await refreshAccounts();
  await refreshModules();
}
