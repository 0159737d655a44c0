// The Activity view: conflicts waiting for the user (pick a version per field), every
// record's sync health (searchable, filterable), the changes the sync made (with Restore for a
// CRM record it deleted), and the run history. All of it per module, in English and Japanese.

import {
  commands,
  type ActivityView,
  type ChangeView,
  type CommandError,
  type ConflictView,
  type FieldChoice,
  type HealthView,
  type Lang,
  type Module,
  type Result,
  type RunView,
  type Side,
} from "./bindings";
import "./activity.css";

export interface ActivityBackend {
  activity(module: Module, status: string | null, search: string | null): Promise<Result<ActivityView, CommandError>>;
  restoreRecord(module: Module, changeId: number): Promise<Result<string, CommandError>>;
  conflicts(module: Module): Promise<Result<ConflictView[], CommandError>>;
  resolveConflict(module: Module, id: string, choices: FieldChoice[]): Promise<Result<null, CommandError>>;
}

export const tauriActivityBackend: ActivityBackend = {
  activity: (m, status, search) => commands.activity(m, status, search),
  restoreRecord: (m, id) => commands.restoreRecord(m, id),
  conflicts: (m) => commands.conflicts(m),
  resolveConflict: (m, id, choices) => commands.resolveConflict(m, id, choices),
};

const MODULES: Module[] = ["events", "contacts", "tasks"];
const STATUSES = ["failing", "conflict", "attention", "excluded", "pending", "detached", "in_sync"] as const;

/** Mounts the Activity view into `host` (replacing its content). Resolves once loaded. */
export async function mountActivity(
  host: HTMLElement,
  lang: Lang,
  backend: ActivityBackend = tauriActivityBackend,
  initial: Module = "contacts",
): Promise<void> {
  const m = (key: ActivityKey, vars: Record<string, string> = {}) => activityText(lang, key, vars);
  let module: Module = initial;
  let status: string | null = null;
  let search = "";

  const section = document.createElement("section");
  section.id = "activity";
  section.setAttribute("aria-labelledby", "activity-title");
  const title = document.createElement("h2");
  title.id = "activity-title";
  title.textContent = m("title");

  const controls = document.createElement("div");
  controls.className = "activity-controls";
  const moduleSelect = labelled(controls, "activity-module", m("module"), select(MODULES.map((x) => [x, m(x)])));
  moduleSelect.value = module;
  const statusSelect = labelled(
    controls,
    "activity-status",
    m("show"),
    select([["", m("allRecords")], ...STATUSES.map((s): [string, string] => [s, m(`st_${s}` as ActivityKey)])]),
  );
  const searchInput = labelled(controls, "activity-search", m("search"), document.createElement("input"));
  searchInput.type = "search";
  searchInput.placeholder = m("searchHint");

  const message = document.createElement("p");
  message.id = "activity-message";
  message.setAttribute("role", "status");
  const conflictsBox = document.createElement("div");
  conflictsBox.id = "activity-conflicts";
  const recordsBox = document.createElement("div");
  recordsBox.id = "activity-records";
  const changesBox = document.createElement("div");
  changesBox.id = "activity-changes";
  const runsBox = document.createElement("div");
  runsBox.id = "activity-runs";
  section.append(title, controls, message, conflictsBox, recordsBox, changesBox, runsBox);
  host.replaceChildren(section);

  const load = async () => {
    const [view, queued] = await Promise.all([
      backend.activity(module, status, search.trim() === "" ? null : search.trim()),
      backend.conflicts(module),
    ]);
    if (view.status === "error") {
      message.textContent = m("loadFailed", { message: view.error.message });
      return;
    }
    renderConflicts(queued.status === "ok" ? queued.data : []);
    renderRecords(view.data.records);
    renderChanges(view.data.changes);
    renderRuns(view.data.runs);
  };

  function renderConflicts(list: ConflictView[]) {
    conflictsBox.replaceChildren();
    if (list.length === 0) return;
    conflictsBox.append(heading(m("conflictsTitle", { n: String(list.length) })));
    for (const c of list) {
      const card = document.createElement("div");
      card.className = "conflict";
      card.id = `conflict-${c.id}`;
      const name = document.createElement("h4");
      name.textContent = c.label;
      const table = document.createElement("table");
      table.append(
        headRow([m("field"), m("inCrm", { when: when(c.crm_modified, lang) }), m("inMicrosoft", { when: when(c.microsoft_modified, lang) })]),
      );
      const body = document.createElement("tbody");
      for (const f of c.fields) {
        const tr = document.createElement("tr");
        const th = document.createElement("th");
        th.scope = "row";
        th.textContent = f.field;
        tr.append(th);
        for (const side of ["crm", "microsoft"] as Side[]) {
          const td = document.createElement("td");
          const label = document.createElement("label");
          const radio = document.createElement("input");
          radio.type = "radio";
          radio.name = `conflict-${c.id}-${f.field}`;
          radio.value = side;
          radio.id = `conflict-${c.id}-${f.field}-${side}`;
          label.append(radio, document.createTextNode(` ${(side === "crm" ? f.crm : f.microsoft) ?? m("empty")}`));
          td.append(label);
          tr.append(td);
        }
        body.append(tr);
      }
      table.append(body);
      const resolve = document.createElement("button");
      resolve.type = "button";
      resolve.className = "primary";
      resolve.id = `resolve-${c.id}`;
      resolve.textContent = m("keepChosen");
      const note = document.createElement("p");
      note.className = "field-error";
      note.setAttribute("role", "alert");
      resolve.addEventListener("click", async () => {
        const choices = choicesOf(card, c);
        if (choices.length < c.fields.length) {
          note.textContent = m("chooseEach");
          return;
        }
        resolve.disabled = true;
        const r = await backend.resolveConflict(module, c.id, choices);
        resolve.disabled = false;
        if (r.status === "error") {
          note.textContent = m("resolveFailed", { message: r.error.message });
          return;
        }
        message.textContent = m("resolved", { label: c.label });
        await load();
      });
      card.append(name, table, resolve, note);
      conflictsBox.append(card);
    }
  }

  function renderRecords(rows: HealthView[]) {
    recordsBox.replaceChildren(heading(m("recordsTitle")));
    if (rows.length === 0) {
      recordsBox.append(para(search || status ? m("noMatch") : m("noRecords")));
      return;
    }
    const table = document.createElement("table");
    table.append(headRow([m("record"), m("where"), m("state"), m("why")]));
    const body = document.createElement("tbody");
    for (const r of rows) {
      const tr = document.createElement("tr");
      tr.dataset.status = r.status;
      tr.append(
        cell(r.label),
        cell(m(r.side)),
        badgeCell(m(`st_${r.status}` as ActivityKey), r.status),
        cell(reasonText(r.detail, lang)),
      );
      body.append(tr);
    }
    table.append(body);
    recordsBox.append(table);
  }

  function renderChanges(rows: ChangeView[]) {
    changesBox.replaceChildren(heading(m("changesTitle")));
    if (rows.length === 0) {
      changesBox.append(para(m("noChanges")));
      return;
    }
    const table = document.createElement("table");
    table.append(headRow([m("when"), m("record"), m("where"), m("change"), ""]));
    const body = document.createElement("tbody");
    for (const c of rows) {
      const tr = document.createElement("tr");
      const action = document.createElement("td");
      if (c.restorable) {
        const b = document.createElement("button");
        b.type = "button";
        b.id = `restore-${c.id}`;
        b.textContent = m("restore");
        b.setAttribute("aria-label", m("restoreLabel", { label: c.label }));
        b.addEventListener("click", async () => {
          b.disabled = true;
          const r = await backend.restoreRecord(module, c.id);
          if (r.status === "error") {
            b.disabled = false;
            message.textContent = m("restoreFailed", { message: r.error.message });
            return;
          }
          message.textContent = m("restored", { label: c.label });
          await load();
        });
        action.append(b);
      } else if (c.restored_as) {
        action.textContent = m("restoredTag");
      }
      const fields = c.op === "update" && c.changed_fields.length > 0 ? ` (${c.changed_fields.join(", ")})` : "";
      tr.append(cell(when(c.at, lang)), cell(c.label), cell(m(c.side)), cell(m(`op_${c.op}` as ActivityKey) + fields), action);
      body.append(tr);
    }
    table.append(body);
    changesBox.append(table);
  }

  function renderRuns(rows: RunView[]) {
    runsBox.replaceChildren(heading(m("runsTitle")));
    if (rows.length === 0) {
      runsBox.append(para(m("noRuns")));
      return;
    }
    const table = document.createElement("table");
    table.append(headRow([m("when"), m("result"), m("crm"), m("microsoft"), m("failed")]));
    const body = document.createElement("tbody");
    for (const r of rows) {
      const tr = document.createElement("tr");
      const outcome = outcomeText(r.outcome, lang) + (r.detail ? ` — ${r.detail}` : "");
      tr.append(
        cell(when(r.started_at, lang)),
        cell(outcome),
        cell(String(r.crm_changes)),
        cell(String(r.microsoft_changes)),
        cell(String(r.failures)),
      );
      body.append(tr);
    }
    table.append(body);
    runsBox.append(table);
  }

  let timer: ReturnType<typeof setTimeout> | undefined;
  moduleSelect.addEventListener("change", () => {
    module = moduleSelect.value as Module;
    void load();
  });
  statusSelect.addEventListener("change", () => {
    status = statusSelect.value === "" ? null : statusSelect.value;
    void load();
  });
  searchInput.addEventListener("input", () => {
    search = searchInput.value;
    clearTimeout(timer);
    timer = setTimeout(() => void load(), 250);
  });
  await load();
}

/** The choices picked in a conflict card (one per field that has a picked radio). */
export function choicesOf(card: HTMLElement, c: ConflictView): FieldChoice[] {
  const out: FieldChoice[] = [];
  for (const f of c.fields) {
    const picked = card.querySelector<HTMLInputElement>(`input[name="conflict-${c.id}-${f.field}"]:checked`);
    if (picked) out.push({ field: f.field, keep: picked.value as Side });
  }
  return out;
}

/** A record's "why", in `lang`: known rule and note keys are translated, errors shown as is. */
export function reasonText(detail: string | null, lang: Lang): string {
  if (!detail) return "";
  const key = `why_${detail}` as ActivityKey;
  return key in ACTIVITY_EN ? activityText(lang, key) : detail;
}

/** A run's outcome, in `lang`. */
export function outcomeText(outcome: string | null, lang: Lang): string {
  const key = `out_${outcome ?? "running"}` as ActivityKey;
  return key in ACTIVITY_EN ? activityText(lang, key) : (outcome ?? "");
}

function when(iso: string, lang: Lang): string {
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? iso : d.toLocaleString(lang === "ja" ? "ja-JP" : "en-GB");
}

function select(options: [string, string][]): HTMLSelectElement {
  const s = document.createElement("select");
  for (const [value, text] of options) {
    const o = document.createElement("option");
    o.value = value;
    o.textContent = text;
    s.append(o);
  }
  return s;
}

function labelled<T extends HTMLElement>(parent: HTMLElement, id: string, text: string, control: T): T {
  control.id = id;
  const label = document.createElement("label");
  label.htmlFor = id;
  label.textContent = text;
  const wrap = document.createElement("div");
  wrap.className = "activity-control";
  wrap.append(label, control);
  parent.append(wrap);
  return control;
}

function heading(text: string): HTMLElement {
  const h = document.createElement("h3");
  h.textContent = text;
  return h;
}

function para(text: string): HTMLElement {
  const p = document.createElement("p");
  p.className = "muted";
  p.textContent = text;
  return p;
}

function cell(text: string): HTMLTableCellElement {
  const td = document.createElement("td");
  td.textContent = text;
  return td;
}

function badgeCell(text: string, status: string): HTMLTableCellElement {
  const td = document.createElement("td");
  const span = document.createElement("span");
  span.className = `health health-${status}`;
  span.textContent = text;
  td.append(span);
  return td;
}

function headRow(labels: string[]): HTMLTableSectionElement {
  const head = document.createElement("thead");
  const tr = document.createElement("tr");
  for (const l of labels) {
    const th = document.createElement("th");
    th.scope = "col";
    th.textContent = l;
    tr.append(th);
  }
  head.append(tr);
  return head;
}

const ACTIVITY_EN = {
  title: "Activity",
  views: "Views",
  integrationView: "Microsoft 365 integration",
  module: "Module",
  events: "Events",
  contacts: "Contacts",
  tasks: "Tasks",
  show: "Show",
  allRecords: "All records",
  search: "Search",
  searchHint: "Name, e-mail or reason",
  loadFailed: "The activity could not be loaded: {message}",
  conflictsTitle: "Conflicts waiting for you ({n})",
  field: "Field",
  inCrm: "In the CRM ({when})",
  inMicrosoft: "In Microsoft 365 ({when})",
  empty: "(empty)",
  keepChosen: "Keep the chosen versions",
  chooseEach: "Choose a version for every field first.",
  resolveFailed: "The conflict could not be resolved: {message}",
  resolved: "“{label}” is resolved and will be the same on both sides.",
  recordsTitle: "Records",
  noRecords: "No records yet: the first sync has not run.",
  noMatch: "No record matches.",
  record: "Record",
  where: "Where",
  state: "State",
  why: "Why",
  crm: "Zoho CRM",
  microsoft: "Microsoft 365",
  st_in_sync: "In sync",
  st_pending: "Waiting",
  st_excluded: "Not synced",
  st_conflict: "Conflict",
  st_detached: "Unlinked",
  st_attention: "Needs a look",
  st_failing: "Failing",
  why_not_owner: "Owned by another CRM user",
  why_imported: "Imported or migrated, never changed since",
  why_beyond_first_sync_cap: "Beyond the first-sync limit; syncs when it changes",
  why_awaiting_timeline: "Its CRM history is being checked",
  why_recurring_series: "A recurring event (series): series are not synced",
  why_conflict_pending: "Changed on both sides; choose a version above",
  why_detached: "Deleted in Microsoft 365; kept in the CRM",
  why_duplicate_stamp: "A second Microsoft 365 copy of the same CRM record; left alone",
  why_stamp_target_unavailable: "Linked to a CRM record this sync cannot see",
  why_ambiguous_natural_key: "Several records share this e-mail; not paired to avoid a duplicate",
  why_merge_failed: "The two versions could not be merged",
  changesTitle: "Changes made by the sync",
  noChanges: "No changes yet.",
  when: "When",
  change: "Change",
  op_create: "Created",
  op_update: "Updated",
  op_delete: "Deleted",
  restore: "Restore",
  restoreLabel: "Restore “{label}” in the CRM",
  restored: "“{label}” is restored in the CRM; the next sync copies it to Microsoft 365.",
  restoredTag: "Restored",
  restoreFailed: "The record could not be restored: {message}",
  runsTitle: "Sync runs",
  noRuns: "No sync has run yet.",
  result: "Result",
  failed: "Failed",
  out_running: "Running or stopped",
  out_completed: "Completed",
  out_planned: "Preview",
  out_paused: "Paused",
  out_disabled: "Disabled",
  out_throttled: "Slowed down by the service",
  out_interrupted: "Interrupted",
  out_cancelled: "Cancelled",
  out_failed: "Failed",
};

export type ActivityKey = keyof typeof ACTIVITY_EN;

const ACTIVITY_JA: Record<ActivityKey, string> = {
  title: "アクティビティ",
  views: "表示",
  integrationView: "Microsoft 365 連携",
  module: "モジュール",
  events: "予定",
  contacts: "連絡先",
  tasks: "タスク",
  show: "表示",
  allRecords: "すべてのレコード",
  search: "検索",
  searchHint: "名前、メールアドレス、理由",
  loadFailed: "アクティビティを読み込めませんでした: {message}",
  conflictsTitle: "確認待ちの競合（{n} 件）",
  field: "項目",
  inCrm: "CRM（{when}）",
  inMicrosoft: "Microsoft 365（{when}）",
  empty: "（空）",
  keepChosen: "選んだ内容を残す",
  chooseEach: "すべての項目でどちらを残すか選んでください。",
  resolveFailed: "競合を解決できませんでした: {message}",
  resolved: "「{label}」の競合を解決しました。両方で同じ内容になります。",
  recordsTitle: "レコード",
  noRecords: "まだレコードはありません（最初の同期が実行されていません）。",
  noMatch: "一致するレコードはありません。",
  record: "レコード",
  where: "場所",
  state: "状態",
  why: "理由",
  crm: "Zoho CRM",
  microsoft: "Microsoft 365",
  st_in_sync: "同期済み",
  st_pending: "待機中",
  st_excluded: "同期対象外",
  st_conflict: "競合",
  st_detached: "リンク解除",
  st_attention: "要確認",
  st_failing: "失敗",
  why_not_owner: "他の CRM ユーザーが所有しています",
  why_imported: "インポートまたはデータ移行で追加され、その後変更されていません",
  why_beyond_first_sync_cap: "初回同期の上限を超えています（変更されると同期されます）",
  why_awaiting_timeline: "CRM の履歴を確認しています",
  why_recurring_series: "繰り返しの予定（シリーズ）です。シリーズは同期されません",
  why_conflict_pending: "両方で変更されました。上でどちらを残すか選んでください",
  why_detached: "Microsoft 365 で削除されました。CRM には残っています",
  why_duplicate_stamp: "同じ CRM レコードの 2 つ目のコピーです（変更しません）",
  why_stamp_target_unavailable: "この同期から見えない CRM レコードにリンクしています",
  why_ambiguous_natural_key: "同じメールアドレスのレコードが複数あるため、重複を避けて対応付けていません",
  why_merge_failed: "2 つの内容を統合できませんでした",
  changesTitle: "同期による変更",
  noChanges: "まだ変更はありません。",
  when: "日時",
  change: "変更",
  op_create: "作成",
  op_update: "更新",
  op_delete: "削除",
  restore: "復元",
  restoreLabel: "「{label}」を CRM に復元する",
  restored: "「{label}」を CRM に復元しました。次の同期で Microsoft 365 にもコピーされます。",
  restoredTag: "復元済み",
  restoreFailed: "レコードを復元できませんでした: {message}",
  runsTitle: "同期の履歴",
  noRuns: "まだ同期は実行されていません。",
  result: "結果",
  failed: "失敗",
  out_running: "実行中または中断",
  out_completed: "完了",
  out_planned: "プレビュー",
  out_paused: "一時停止",
  out_disabled: "無効",
  out_throttled: "サービスの制限で待機",
  out_interrupted: "中断",
  out_cancelled: "キャンセル",
  out_failed: "失敗",
};

/** An Activity message in `lang`, with `{name}` variables filled in. */
export function activityText(lang: Lang, key: ActivityKey, vars: Record<string, string> = {}): string {
  const table = lang === "ja" ? ACTIVITY_JA : ACTIVITY_EN;
  return table[key].replace(/\{(\w+)\}/g, (_, name: string) => vars[name] ?? `{${name}}`);
}
