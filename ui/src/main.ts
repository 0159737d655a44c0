import "./styles.css";
import { activityText, mountActivity } from "./activity";
import { tauriBackend } from "./backend";
import { translator } from "./i18n";
import { mountIntegration } from "./integration";
import { openInviteDialog } from "./directory";
import { editContactMapping } from "./mapping";
import { modeBanner } from "./mode";
import { mountSettingsButton } from "./settings";
import { mountWelcome } from "./welcome";

async function start(root: HTMLElement) {
  // Rust picks the language from the OS locale (the webview's own view of it
  // depends on which C locales happen to be installed).
  const info = await tauriBackend.appInfo();
  document.documentElement.lang = info.lang;
  const t = translator(info.lang);
  document.title = t("appTitle");

  const page = document.createElement("main");
  const footer = document.createElement("footer");
  footer.id = "footer";
  footer.textContent = `${t("version", { version: info.version })} · ${t("dataDir", { dir: info.data_dir })}`;
  // Two views: the integration page, and Activity (runs, records, changes, conflicts).
  const activity = document.createElement("main");
  activity.hidden = true;
  const nav = document.createElement("nav");
  nav.className = "views";
  nav.setAttribute("aria-label", activityText(info.lang, "views"));
  const tab = (id: string, text: string, show: HTMLElement, hide: HTMLElement, onShow?: () => void) => {
    const b = document.createElement("button");
    b.type = "button";
    b.id = id;
    b.textContent = text;
    b.addEventListener("click", () => {
      show.hidden = false;
      hide.hidden = true;
      for (const other of nav.querySelectorAll("button")) other.removeAttribute("aria-current");
      b.setAttribute("aria-current", "page");
      onShow?.();
    });
    return b;
  };
  const toIntegration = tab("view-integration", activityText(info.lang, "integrationView"), page, activity);
  toIntegration.setAttribute("aria-current", "page");
  nav.append(
    toIntegration,
    tab("view-activity", activityText(info.lang, "title"), activity, page, () => void mountActivity(activity, info.lang)),
  );
  root.replaceChildren(modeBanner(info.mode, t), nav, page, activity, footer);
  mountSettingsButton(root, info.lang);
  void mountWelcome(page, info.lang);
  await mountIntegration(page, tauriBackend, t, {
    editContactMapping: () => editContactMapping(document.body, info.lang),
    inviteUsers: () => openInviteDialog(document.body, info.lang),
  });
}

const root = document.getElementById("app");
if (root) void start(root);
