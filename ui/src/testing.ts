// Test helpers: a backend fake with every command answering something harmless, and a way to
// send sync events as the worker would. Tests override what they exercise.

import type { Backend } from "./backend";
import type {
  AccountView,
  Accounts,
  AppInfo,
  CommandError,
  Module,
  ModuleView,
  Preview,
  Result,
  Service,
  SyncEvent,
  SyncState,
} from "./bindings";

export function moduleView(module: Module, overrides: Partial<ModuleView> = {}): ModuleView {
  return {
    module,
    enabled: false,
    status: { kind: "inactive" },
    inactive_reason: null,
    delete_propagation: false,
    last_sync_at: null,
    counts: null,
    failures: [],
    ...overrides,
  };
}

export function preview(module: Module, overrides: Partial<Preview> = {}): Preview {
  return {
    module,
    to_microsoft: 0,
    to_crm: 0,
    updates: 0,
    deletes: 0,
    excluded_imported: 0,
    excluded_not_yours: 0,
    excluded_later: 0,
    pause: null,
    plan_text: "",
    ...overrides,
  };
}

const notConnected: CommandError = { code: "not_syncing", message: "connect both accounts first" };

export class BaseFakeBackend implements Backend {
  calls: string[] = [];
  listeners: ((e: SyncEvent) => void)[] = [];
  state: SyncState = { kind: "not_connected" };
  accountsState: Accounts = { zoho: null, microsoft: null, signing_in: [] };
  modules: Result<ModuleView[], CommandError> = {
    status: "ok",
    data: [moduleView("events"), moduleView("contacts"), moduleView("tasks")],
  };

  /** Sends `event` to the page, as the worker would. */
  emit(event: SyncEvent): void {
    for (const l of this.listeners) l(event);
  }

  async appInfo(): Promise<AppInfo> {
    return { version: "0.0.0", data_dir: "/tmp/x", lang: "en", mode: { kind: "sandbox", url: "http://127.0.0.1:1" } };
  }
  async listModules(): Promise<Result<ModuleView[], CommandError>> {
    return this.modules;
  }
  async enableModule(module: Module): Promise<Result<ModuleView, CommandError>> {
    this.calls.push(`enable ${module}`);
    return { status: "error", error: { code: "zoho_not_connected", message: "connect your Zoho CRM account first" } };
  }
  async disableModule(module: Module): Promise<Result<ModuleView, CommandError>> {
    this.calls.push(`disable ${module}`);
    return { status: "ok", data: moduleView(module) };
  }
  async previewModule(module: Module): Promise<Result<Preview, CommandError>> {
    this.calls.push(`preview ${module}`);
    return { status: "error", error: notConnected };
  }
  async setDeletePropagation(module: Module, on: boolean): Promise<Result<ModuleView, CommandError>> {
    this.calls.push(`delete ${module} ${on}`);
    return { status: "ok", data: moduleView(module, { enabled: true, status: { kind: "active" }, delete_propagation: on }) };
  }
  async syncNow(): Promise<Result<null, CommandError>> {
    this.calls.push("sync now");
    return { status: "error", error: notConnected };
  }
  async confirmDeletes(module: Module): Promise<Result<ModuleView, CommandError>> {
    this.calls.push(`confirm deletes ${module}`);
    return { status: "ok", data: moduleView(module, { enabled: true, status: { kind: "active" } }) };
  }
  async syncState(): Promise<SyncState> {
    return this.state;
  }
  async onSyncEvent(handler: (event: SyncEvent) => void): Promise<() => void> {
    this.listeners.push(handler);
    return () => {
      this.listeners = this.listeners.filter((l) => l !== handler);
    };
  }
  async accounts(): Promise<Result<Accounts, CommandError>> {
    return { status: "ok", data: this.accountsState };
  }
  async connect(service: Service): Promise<Result<AccountView, CommandError>> {
    this.calls.push(`connect ${service}`);
    return { status: "error", error: { code: "sign_in_cancelled", message: "sign-in cancelled" } };
  }
  async cancelSignIn(service: Service): Promise<boolean> {
    this.calls.push(`cancel ${service}`);
    return false;
  }
  async disconnect(service: Service): Promise<Result<Accounts, CommandError>> {
    this.calls.push(`disconnect ${service}`);
    return this.accounts();
  }
}

export const flush = () => new Promise((resolve) => setTimeout(resolve, 0));
