// The one seam between the UI and Rust. The real implementation calls the
// generated bindings; unit tests pass a fake with the same shape.

import {
  commands,
  events,
  type AccountView,
  type Accounts,
  type AppInfo,
  type CommandError,
  type Module,
  type ModuleView,
  type Preview,
  type Result,
  type Service,
  type SyncEvent,
  type SyncState,
} from "./bindings";

export interface Backend {
  appInfo(): Promise<AppInfo>;
  listModules(): Promise<Result<ModuleView[], CommandError>>;
  enableModule(module: Module): Promise<Result<ModuleView, CommandError>>;
  disableModule(module: Module): Promise<Result<ModuleView, CommandError>>;
  previewModule(module: Module): Promise<Result<Preview, CommandError>>;
  setDeletePropagation(module: Module, on: boolean): Promise<Result<ModuleView, CommandError>>;
  syncNow(): Promise<Result<null, CommandError>>;
  /** Continues a module a safety guard paused, making the deletes it held back. */
  confirmDeletes(module: Module): Promise<Result<ModuleView, CommandError>>;
  syncState(): Promise<SyncState>;
  /** Calls `handler` for every sync event; resolves to the function that stops listening. */
  onSyncEvent(handler: (event: SyncEvent) => void): Promise<() => void>;
  accounts(): Promise<Result<Accounts, CommandError>>;
  connect(service: Service): Promise<Result<AccountView, CommandError>>;
  cancelSignIn(service: Service): Promise<boolean>;
  disconnect(service: Service): Promise<Result<Accounts, CommandError>>;
}

export const tauriBackend: Backend = {
  appInfo: () => commands.appInfo(),
  listModules: () => commands.listModules(),
  enableModule: (module) => commands.enableModule(module),
  disableModule: (module) => commands.disableModule(module),
  previewModule: (module) => commands.previewModule(module),
  setDeletePropagation: (module, on) => commands.setDeletePropagation(module, on),
  syncNow: () => commands.syncNow(),
  confirmDeletes: (module) => commands.confirmDeletes(module),
  syncState: () => commands.syncState(),
  onSyncEvent: (handler) => events.syncEvent.listen((e) => handler(e.payload)),
  accounts: () => commands.accounts(),
  connect: (service) => commands.connect(service),
  cancelSignIn: (service) => commands.cancelSignIn(service),
  disconnect: (service) => commands.disconnect(service),
};
