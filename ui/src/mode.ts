// The banner that says which services the app talks to. In sandbox mode it is
// always visible, so nobody mistakes demo data for real data.

import type { Mode } from "./bindings";
import type { Translate } from "./i18n";

export function modeBanner(mode: Mode, t: Translate): HTMLElement {
  const banner = document.createElement("header");
  banner.id = "mode-banner";
  banner.className = `mode mode-${mode.kind}`;
  banner.dataset["mode"] = mode.kind;
  if (mode.kind === "sandbox") {
    const badge = document.createElement("span");
    badge.id = "sandbox-badge";
    badge.className = "sandbox-badge";
    badge.textContent = t("sandboxBadge");
    badge.title = mode.url;
    badge.dataset["url"] = mode.url;
    const note = document.createElement("span");
    note.textContent = t("sandboxNote");
    banner.append(badge, note);
  } else if (mode.kind === "sandbox_failed") {
    banner.setAttribute("role", "alert");
    banner.textContent = t("sandboxFailed", { message: mode.message });
  } else {
    // Real accounts: nothing to warn about.
    banner.hidden = true;
  }
  return banner;
}
