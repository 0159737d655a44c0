import "./styles.css";
import { tauriBackend } from "./backend";
import { translator } from "./i18n";
import { mountIntegration } from "./integration";
import { editContactMapping } from "./mapping";
import { modeBanner } from "./mode";

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
  root.replaceChildren(modeBanner(info.mode, t), page, footer);
  await mountIntegration(page, tauriBackend, t, {
    editContactMapping: () => editContactMapping(document.body, info.lang),
  });
}

const root = document.getElementById("app");
if (root) void start(root);
