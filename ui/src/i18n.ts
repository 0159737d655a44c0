// English and Japanese UI strings. Rust decides the language (see AppInfo.lang).

import type { Lang } from "./bindings";

const en = {
  appTitle: "CRM Sync",
  integrationTitle: "Microsoft 365 integration",
  integrationIntro:
    "Keep your Zoho CRM events, contacts and tasks in two-way sync with Microsoft 365. Only records you own are synced, and nobody is ever sent an invitation.",
  moduleEvents: "Events",
  moduleContacts: "Contacts",
  moduleTasks: "Tasks",
  describeEvents: "CRM events ⇄ a dedicated calendar in Outlook",
  describeContacts: "CRM contacts ⇄ the “Zoho CRM Contacts” folder in Outlook",
  describeTasks: "CRM tasks ⇄ the “Zoho CRM Tasks” list in Microsoft To Do",
  statusInactive: "Inactive",
  statusActive: "Active",
  statusPaused: "Paused",
  statusNeedsSignIn: "Needs sign-in",
  statusError: "Error",
  enable: "Enable",
  enabling: "Enabling…",
  enableLabel: "Enable {module} sync",
  lastSync: "Last sync: {when}",
  neverSynced: "Not synced yet",
  loadFailed: "Could not load the sync state: {message}",
  version: "Version {version}",
  dataDir: "Data: {dir}",
  sandboxBadge: "Sandbox",
  sandboxNote: "Demo data on this computer — not your real Zoho CRM or Microsoft 365 accounts.",
  sandboxFailed: "The built-in sandbox could not start: {message}",
} as const;

export type MessageKey = keyof typeof en;

const ja: Record<MessageKey, string> = {
  appTitle: "CRM Sync",
  integrationTitle: "Microsoft 365 連携",
  integrationIntro:
    "Zoho CRM の予定・連絡先・タスクを Microsoft 365 と双方向に同期します。同期されるのはあなたが所有するデータだけで、誰にも招待メールは送信されません。",
  moduleEvents: "予定",
  moduleContacts: "連絡先",
  moduleTasks: "タスク",
  describeEvents: "CRM の予定 ⇄ Outlook の専用カレンダー",
  describeContacts: "CRM の連絡先 ⇄ Outlook の「Zoho CRM Contacts」フォルダー",
  describeTasks: "CRM のタスク ⇄ Microsoft To Do の「Zoho CRM Tasks」リスト",
  statusInactive: "無効",
  statusActive: "有効",
  statusPaused: "一時停止中",
  statusNeedsSignIn: "サインインが必要",
  statusError: "エラー",
  enable: "有効にする",
  enabling: "有効にしています…",
  enableLabel: "{module}の同期を有効にする",
  lastSync: "最終同期: {when}",
  neverSynced: "まだ同期していません",
  loadFailed: "同期の状態を読み込めませんでした: {message}",
  version: "バージョン {version}",
  dataDir: "データ: {dir}",
  sandboxBadge: "サンドボックス",
  sandboxNote: "このコンピューター上のデモデータです。実際の Zoho CRM や Microsoft 365 のアカウントではありません。",
  sandboxFailed: "内蔵サンドボックスを起動できませんでした: {message}",
};

const catalogs: Record<Lang, Record<MessageKey, string>> = { en, ja };

export type Translate = (key: MessageKey, vars?: Record<string, string>) => string;

/** A translator for one language; `{name}` placeholders are filled from `vars`. */
export function translator(lang: Lang): Translate {
  const catalog = catalogs[lang];
  return (key, vars = {}) =>
    catalog[key].replace(/\{(\w+)\}/g, (whole, name: string) => vars[name] ?? whole);
}
