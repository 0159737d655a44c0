// The one seam between the UI and Rust. The real implementation calls the
// generated bindings; unit tests pass a fake with the same shape.

import { commands, type AppInfo, type CommandError, type Module, type ModuleView, type Result } from "./bindings";

export interface Backend {
  appInfo(): Promise<AppInfo>;
  listModules(): Promise<Result<ModuleView[], CommandError>>;
  enableModule(module: Module): Promise<Result<ModuleView, CommandError>>;
}

export const tauriBackend: Backend = {
  appInfo: () => commands.appInfo(),
  listModules: () => commands.listModules(),
  enableModule: (module) => commands.enableModule(module),
};
