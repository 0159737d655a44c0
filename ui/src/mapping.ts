// The contact field-mapping dialog (opened when Contacts is enabled, and from its settings).
//
// One row per Microsoft 365 contact field the API supports (list fields get one row per
// value Microsoft 365 keeps: 3 e-mails, 2 business phones, ...). Each row has a dropdown of
// the CRM fields that can carry that field both ways, standard and custom, read afresh from
// the CRM. The default mapping is pre-filled; "Reset to defaults" restores it. Problems are
// shown inline on their row: a CRM field chosen twice is caught here, and whatever else
// the Rust side finds (crmsync-core validates every save) comes back tied to its row.

import {
  commands,
  type CommandError,
  type CrmFieldView,
  type Lang,
  type MappingCheck,
  type MappingDialog,
  type MappingLine,
  type MappingProblem,
  type MsFieldView,
  type Result,
} from "./bindings";
import { keepModal } from "./dialog";
import "./mapping.css";

/** The two commands the dialog needs; tests pass a fake. */
export interface MappingBackend {
  contactMapping(): Promise<Result<MappingDialog, CommandError>>;
  saveContactMapping(lines: MappingLine[], deletePropagation: boolean): Promise<Result<MappingCheck, CommandError>>;
}

export const tauriMappingBackend: MappingBackend = {
  contactMapping: () => commands.contactMapping(),
  saveContactMapping: (lines, del) => commands.saveContactMapping(lines, del),
};

/** One row of the dialog: a Microsoft field (and which of its values), the CRM field chosen. */
export interface Row {
  ms: MsFieldView;
  /** 0-based value index for list fields (always 0 for single-value fields). */
  slot: number;
  /** The chosen CRM field's API name; "" when the row is not synced. */
  crm: string;
}

/** What is wrong with a row, as a message key and its variables. */
export interface RowError {
  key: MappingMessageKey;
  vars: Record<string, string>;
}

/** The element id of a row's dropdown (no dots, so CSS selectors need no escaping). */
export function rowId(row: Pick<Row, "ms" | "slot">): string {
  return `map-${row.ms.id.replace(/\./g, "-")}-${row.slot}`;
}

/** The dialog's rows for a mapping: each Microsoft field's lines in order, then empty slots. */
export function rowsFor(msFields: MsFieldView[], lines: MappingLine[]): Row[] {
  const rows: Row[] = [];
  for (const ms of msFields) {
    const chosen = lines.filter((l) => l.ms_field === ms.id).map((l) => l.crm_field);
    const slots = Math.max(ms.slots, chosen.length);
    for (let slot = 0; slot < slots; slot++) {
      rows.push({ ms, slot, crm: chosen[slot] ?? "" });
    }
  }
  return rows;
}

/** The mapping lines of the rows (empty rows carry nothing), in row order. */
export function linesOf(rows: Row[]): MappingLine[] {
  return rows.filter((r) => r.crm !== "").map((r) => ({ crm_field: r.crm, ms_field: r.ms.id }));
}

/** The CRM fields a row may offer: those that can carry its Microsoft field. */
export function choicesFor(ms: MsFieldView, crmFields: CrmFieldView[]): CrmFieldView[] {
  return crmFields.filter((f) => f.targets.includes(ms.id));
}

/** Problems found before saving: a CRM field chosen on two rows, a field that cannot carry
 * the row's Microsoft field. Keys are row ids. */
export function validateRows(rows: Row[], crmFields: CrmFieldView[], lang: Lang): Map<string, RowError> {
  const errors = new Map<string, RowError>();
  const firstUse = new Map<string, Row>();
  for (const row of rows) {
    if (row.crm === "") continue;
    const field = crmFields.find((f) => f.api_name === row.crm);
    if (!field) {
      errors.set(rowId(row), { key: "errUnknown", vars: { crm: row.crm } });
      continue;
    }
    if (!field.targets.includes(row.ms.id)) {
      errors.set(rowId(row), { key: "errIncompatible", vars: { crm: field.label } });
      continue;
    }
    const earlier = firstUse.get(row.crm);
    if (earlier) {
      errors.set(rowId(row), { key: "errTwice", vars: { crm: field.label, other: rowLabel(earlier, lang) } });
    } else {
      firstUse.set(row.crm, row);
    }
  }
  return errors;
}

/** The row a problem reported by Rust belongs to (by Microsoft field, else CRM field). */
export function rowOfProblem(rows: Row[], p: MappingProblem): Row | undefined {
  if (p.crm_field) {
    const uses = rows.filter((r) => r.crm === p.crm_field && (!p.ms_field || r.ms.id === p.ms_field));
    // A field used twice: the second use is the one to fix.
    const row = uses[uses.length - 1];
    if (row) return row;
  }
  if (p.ms_field) return rows.find((r) => r.ms.id === p.ms_field);
  return undefined;
}

/** Opens the dialog over `host`. Resolves true once a valid mapping (and the delete
 * checkbox) is saved, false when the user cancels. */
export async function editContactMapping(
  host: HTMLElement,
  lang: Lang,
  backend: MappingBackend = tauriMappingBackend,
): Promise<boolean> {
  const m = (key: MappingMessageKey, vars: Record<string, string> = {}) => message(lang, key, vars);
  const previous = document.activeElement instanceof HTMLElement ? document.activeElement : null;
  const overlay = document.createElement("div");
  overlay.className = "overlay";
  const dialog = document.createElement("div");
  dialog.id = "mapping-dialog";
  dialog.className = "dialog mapping-dialog";
  dialog.setAttribute("role", "dialog");
  dialog.setAttribute("aria-modal", "true");
  dialog.setAttribute("aria-labelledby", "mapping-title");
  dialog.setAttribute("aria-describedby", "mapping-intro");
  const title = document.createElement("h2");
  title.id = "mapping-title";
  title.textContent = m("title");
  const intro = document.createElement("p");
  intro.id = "mapping-intro";
  intro.textContent = m("loading");
  dialog.append(title, intro);
  overlay.append(dialog);
  host.append(overlay);
  dialog.tabIndex = -1;
  dialog.focus();

  return new Promise<boolean>((resolve) => {
    let done = false;
    const close = (answer: boolean) => {
      if (done) return;
      done = true;
      overlay.remove();
      previous?.focus();
      resolve(answer);
    };
    keepModal(dialog, () => close(false));

    void backend.contactMapping().then((loaded) => {
      if (done) return;
      if (loaded.status === "error") {
        intro.textContent = m("loadFailed", { message: loaded.error.message });
        intro.setAttribute("role", "alert");
        const closeButton = button("mapping-cancel", m("close"));
        closeButton.addEventListener("click", () => close(false));
        const actions = document.createElement("div");
        actions.className = "actions dialog-actions";
        actions.append(closeButton);
        dialog.append(actions);
        closeButton.focus();
        return;
      }
      render(loaded.data);
    });

    function render(data: MappingDialog) {
      intro.textContent = m("intro");
      let rows = rowsFor(data.ms_fields, data.current);
      const table = document.createElement("table");
      table.className = "mapping-table";
      const caption = document.createElement("caption");
      caption.className = "visually-hidden";
      caption.textContent = m("title");
      const head = document.createElement("thead");
      const hr = document.createElement("tr");
      for (const text of [m("colMicrosoft"), m("colCrm")]) {
        const th = document.createElement("th");
        th.scope = "col";
        th.textContent = text;
        hr.append(th);
      }
      head.append(hr);
      const body = document.createElement("tbody");
      table.append(caption, head, body);
      const scroller = document.createElement("div");
      scroller.className = "mapping-scroll";
      scroller.append(table);

      const del = document.createElement("input");
      del.type = "checkbox";
      del.id = "mapping-delete-propagation";
      del.checked = data.delete_propagation;
      const delLabel = document.createElement("label");
      delLabel.className = "checkbox";
      delLabel.append(del, document.createTextNode(` ${m("deleteToggle")}`));
      const status = document.createElement("p");
      status.id = "mapping-status";
      status.className = "mapping-status";
      status.setAttribute("role", "status");

      const reset = button("mapping-reset", m("reset"));
      const cancel = button("mapping-cancel", m("cancel"));
      const save = button("mapping-save", m("save"));
      save.classList.add("primary");
      const actions = document.createElement("div");
      actions.className = "actions dialog-actions";
      actions.append(reset, cancel, save);
      dialog.append(scroller, delLabel, status, actions);

      const selects = new Map<string, HTMLSelectElement>();
      const errorCells = new Map<string, HTMLElement>();
      const drawRows = () => {
        body.replaceChildren();
        selects.clear();
        errorCells.clear();
        for (const row of rows) {
          const id = rowId(row);
          const tr = document.createElement("tr");
          const th = document.createElement("th");
          th.scope = "row";
          const label = document.createElement("label");
          label.htmlFor = id;
          label.textContent = rowLabel(row, lang);
          th.append(label);
          const td = document.createElement("td");
          const select = document.createElement("select");
          select.id = id;
          select.dataset.ms = row.ms.id;
          select.dataset.slot = String(row.slot);
          const none = document.createElement("option");
          none.value = "";
          none.textContent = m("notSynced");
          select.append(none);
          const choices = choicesFor(row.ms, data.crm_fields);
          for (const f of choices) {
            const o = document.createElement("option");
            o.value = f.api_name;
            o.textContent = f.custom ? m("customField", { label: f.label }) : f.label;
            select.append(o);
          }
          if (row.crm !== "" && !choices.some((f) => f.api_name === row.crm)) {
            // A stored field the CRM no longer offers: kept visible so the error can say so.
            const o = document.createElement("option");
            o.value = row.crm;
            o.textContent = row.crm;
            select.append(o);
          }
          select.value = row.crm;
          const err = document.createElement("p");
          err.id = `${id}-error`;
          err.className = "field-error";
          err.hidden = true;
          select.setAttribute("aria-describedby", err.id);
          select.addEventListener("change", () => {
            row.crm = select.value;
            showErrors(validateRows(rows, data.crm_fields, lang));
          });
          td.append(select, err);
          tr.append(th, td);
          body.append(tr);
          selects.set(id, select);
          errorCells.set(id, err);
        }
      };
      const showErrors = (errors: Map<string, RowError>, serverProblems: MappingProblem[] = []) => {
        for (const [id, cell] of errorCells) {
          const e = errors.get(id);
          cell.hidden = !e;
          cell.textContent = e ? m(e.key, e.vars) : "";
          selects.get(id)?.setAttribute("aria-invalid", e ? "true" : "false");
        }
        for (const p of serverProblems) {
          const row = rowOfProblem(rows, p);
          const cell = row ? errorCells.get(rowId(row)) : undefined;
          const text = problemText(p, lang);
          if (cell) {
            cell.hidden = false;
            cell.textContent = text;
            selects.get(rowId(row!))?.setAttribute("aria-invalid", p.blocking ? "true" : "false");
          } else {
            status.textContent = text;
          }
        }
      };
      drawRows();
      showErrors(validateRows(rows, data.crm_fields, lang));

      reset.addEventListener("click", () => {
        rows = rowsFor(data.ms_fields, data.defaults);
        drawRows();
        showErrors(new Map());
        status.textContent = m("resetDone");
      });
      cancel.addEventListener("click", () => close(false));
      save.addEventListener("click", () => {
        const errors = validateRows(rows, data.crm_fields, lang);
        if (errors.size > 0) {
          showErrors(errors);
          status.textContent = m("fixErrors", { n: String(errors.size) });
          const first = [...errors.keys()][0];
          if (first) selects.get(first)?.focus();
          return;
        }
        save.disabled = true;
        status.textContent = m("saving");
        void backend.saveContactMapping(linesOf(rows), del.checked).then((r) => {
          save.disabled = false;
          if (r.status === "error") {
            status.textContent = m("saveFailed", { message: r.error.message });
            return;
          }
          if (!r.data.saved) {
            showErrors(new Map(), r.data.problems);
            const blocking = r.data.problems.filter((p) => p.blocking).length;
            status.textContent = m("fixErrors", { n: String(blocking) });
            const row = r.data.problems.map((p) => rowOfProblem(rows, p)).find((x) => x);
            if (row) selects.get(rowId(row))?.focus();
            return;
          }
          close(true);
        });
      });
      (selects.values().next().value as HTMLSelectElement | undefined)?.focus();
    }
  });
}

function button(id: string, text: string): HTMLButtonElement {
  const b = document.createElement("button");
  b.type = "button";
  b.id = id;
  b.textContent = text;
  return b;
}


/** A row's label: the Microsoft field's name, numbered for list fields. */
export function rowLabel(row: Pick<Row, "ms" | "slot">, lang: Lang): string {
  const name = msLabel(row.ms, lang);
  return row.ms.slots > 1 || row.slot > 0 ? `${name} ${row.slot + 1}` : name;
}

/** A Microsoft field's name in `lang`. */
export function msLabel(ms: MsFieldView, lang: Lang): string {
  return lang === "ja" ? MS_JA[ms.id] ?? ms.label : ms.label;
}

/** A problem reported by Rust, in `lang`. */
export function problemText(p: MappingProblem, lang: Lang): string {
  const key = PROBLEM_KEYS[p.kind];
  if (!key) return p.message;
  return message(lang, key, { crm: p.crm_field ?? "", ms: p.ms_field ?? "" });
}

const PROBLEM_KEYS: Record<string, MappingMessageKey> = {
  unsupported_ms_field: "errUnsupported",
  unknown_crm_field: "errUnknown",
  crm_field_mapped_twice: "errTwiceServer",
  read_only_crm_field: "errReadOnly",
  incompatible_types: "errIncompatible",
  several_crm_fields_for_one_ms_field: "errSeveral",
  more_fields_than_graph_holds: "warnMore",
};

const MAPPING_EN = {
  title: "Contact field mapping",
  loading: "Reading your CRM's contact fields…",
  loadFailed: "The CRM's contact fields could not be read: {message}",
  intro:
    "Choose the CRM field that fills each Microsoft 365 contact field. Only fields the Microsoft 365 API supports are listed, and each list offers only the CRM fields that fit.",
  colMicrosoft: "Microsoft 365 field",
  colCrm: "Zoho CRM field",
  notSynced: "— Not synced —",
  customField: "{label} (custom)",
  deleteToggle: "Delete the CRM contact when it is deleted in Microsoft 365",
  reset: "Reset to defaults",
  resetDone: "The default mapping is restored. Save to keep it.",
  cancel: "Cancel",
  close: "Close",
  save: "Save",
  saving: "Saving…",
  saveFailed: "The mapping could not be saved: {message}",
  fixErrors: "Fix the highlighted rows first ({n}).",
  errTwice: "{crm} is already used for {other}.",
  errTwiceServer: "{crm} is used on more than one row.",
  errUnknown: "The CRM has no field {crm} any more.",
  errReadOnly: "{crm} is read-only in the CRM and cannot be synced both ways.",
  errIncompatible: "{crm} cannot hold this kind of value.",
  errUnsupported: "Microsoft 365 does not support this field.",
  errSeveral: "This field takes a single CRM field.",
  warnMore: "Microsoft 365 keeps fewer values than are mapped here; the extra values stay in the CRM.",
};

export type MappingMessageKey = keyof typeof MAPPING_EN;

const MAPPING_JA: Record<MappingMessageKey, string> = {
  title: "連絡先の項目の対応付け",
  loading: "CRM の連絡先の項目を読み込んでいます…",
  loadFailed: "CRM の連絡先の項目を読み込めませんでした: {message}",
  intro:
    "Microsoft 365 の連絡先の各項目に、どの CRM の項目を対応させるかを選んでください。Microsoft 365 の API が対応している項目だけを表示し、各一覧には値の種類が合う CRM の項目だけが表示されます。",
  colMicrosoft: "Microsoft 365 の項目",
  colCrm: "Zoho CRM の項目",
  notSynced: "— 同期しない —",
  customField: "{label}（カスタム）",
  deleteToggle: "Microsoft 365 で削除されたら CRM の連絡先も削除する",
  reset: "初期設定に戻す",
  resetDone: "初期設定の対応付けに戻しました。保存すると反映されます。",
  cancel: "キャンセル",
  close: "閉じる",
  save: "保存",
  saving: "保存しています…",
  saveFailed: "対応付けを保存できませんでした: {message}",
  fixErrors: "強調表示された行を先に修正してください（{n} 件）。",
  errTwice: "{crm} はすでに「{other}」に使われています。",
  errTwiceServer: "{crm} が複数の行で使われています。",
  errUnknown: "CRM に {crm} という項目がなくなりました。",
  errReadOnly: "{crm} は CRM で読み取り専用のため、双方向に同期できません。",
  errIncompatible: "{crm} にはこの種類の値を保存できません。",
  errUnsupported: "Microsoft 365 はこの項目に対応していません。",
  errSeveral: "この項目に対応させられる CRM の項目は 1 つだけです。",
  warnMore: "Microsoft 365 が保持できる値の数より多く対応付けられています。超えた分の値は CRM にだけ残ります。",
};

/** A dialog message in `lang`, with `{name}` variables filled in. */
export function message(lang: Lang, key: MappingMessageKey, vars: Record<string, string> = {}): string {
  const table = lang === "ja" ? MAPPING_JA : MAPPING_EN;
  return table[key].replace(/\{(\w+)\}/g, (_, name: string) => vars[name] ?? `{${name}}`);
}

/** Japanese names of the Microsoft 365 contact fields (English ones come from Rust). */
const MS_JA: Record<string, string> = {
  givenName: "名",
  middleName: "ミドルネーム",
  surname: "姓",
  nickName: "ニックネーム",
  title: "敬称",
  generation: "サフィックス",
  initials: "イニシャル",
  fileAs: "表示名の形式",
  yomiGivenName: "名（ふりがな）",
  yomiSurname: "姓（ふりがな）",
  yomiCompanyName: "会社名（ふりがな）",
  companyName: "会社名",
  department: "部署",
  jobTitle: "役職",
  officeLocation: "勤務先",
  profession: "職業",
  manager: "上司",
  assistantName: "アシスタント",
  businessHomePage: "勤務先のホームページ",
  emailAddresses: "メールアドレス",
  imAddresses: "IM アドレス",
  businessPhones: "勤務先電話",
  homePhones: "自宅電話",
  mobilePhone: "携帯電話",
  "businessAddress.street": "勤務先の番地",
  "businessAddress.city": "勤務先の市区町村",
  "businessAddress.state": "勤務先の都道府県",
  "businessAddress.postalCode": "勤務先の郵便番号",
  "businessAddress.countryOrRegion": "勤務先の国/地域",
  "homeAddress.street": "自宅の番地",
  "homeAddress.city": "自宅の市区町村",
  "homeAddress.state": "自宅の都道府県",
  "homeAddress.postalCode": "自宅の郵便番号",
  "homeAddress.countryOrRegion": "自宅の国/地域",
  "otherAddress.street": "その他の番地",
  "otherAddress.city": "その他の市区町村",
  "otherAddress.state": "その他の都道府県",
  "otherAddress.postalCode": "その他の郵便番号",
  "otherAddress.countryOrRegion": "その他の国/地域",
  birthday: "誕生日",
  personalNotes: "メモ",
  spouseName: "配偶者",
  children: "子供",
};
