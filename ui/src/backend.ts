// The one seam between the UI and Rust. The real implementation calls the
// generated bindings; unit tests pass a fake with the same shape.

import {
  commands,
  type AccountView,
  type Accounts,
  type AppInfo,
  type CommandError,
  type Module,
  type ModuleView,
  type Result,
  type Service,
} from "./bindings";

export interface Backend {
  appInfo(): Promise<AppInfo>;
  listModules(): Promise<Result<ModuleView[], CommandError>>;
  enableModule(module: Module): Promise<Result<ModuleView, CommandError>>;
  accounts(): Promise<Result<Accounts, CommandError>>;
  connect(service: Service): Promise<Result<AccountView, CommandError>>;
  cancelSignIn(service: Service): Promise<boolean>;
  disconnect(service: Service): Promise<Result<Accounts, CommandError>>;
}

export const tauriBackend: Backend = {
  appInfo: () => commands.appInfo(),
  listModules: () => commands.listModules(),
  enableModule: (module) => commands.enableModule(module),
  accounts: () => commands.accounts(),
  connect: (service) => commands.connect(service),
  cancelSignIn: (service) => commands.cancelSignIn(service),
  disconnect: (service) => commands.disconnect(service),
};
