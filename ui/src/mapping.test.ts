import { beforeEach, describe, expect, it } from "vitest";
import type {
  CommandError,
  CrmFieldView,
  MappingCheck,
  MappingDialog,
  MappingLine,
  MsFieldView,
  Result,
} from "./bindings";
import {
  choicesFor,
  editContactMapping,
  linesOf,
  message,
  problemText,
  rowId,
  rowLabel,
  rowOfProblem,
  rowsFor,
  validateRows,
  type MappingBackend,
} from "./mapping";

const ms = (id: string, label: string, content: string, slots = 1): MsFieldView => ({ id, label, content, slots });
const crm = (api_name: string, targets: string[], custom = false, data_type = "text"): CrmFieldView => ({
  api_name,
  label: api_name.replace(/_/g, " "),
  data_type,
  custom,
  targets,
});

const MS: MsFieldView[] = [
  ms("givenName", "First name", "line"),
  ms("surname", "Last name", "line"),
  ms("nickName", "Nickname", "line"),
  ms("emailAddresses", "Email addresses", "email", 3),
  ms("businessAddress.city", "Business city", "line"),
  ms("birthday", "Birthday", "date"),
];
const LINE = ["givenName", "surname", "nickName", "businessAddress.city"];
const CRM: CrmFieldView[] = [
  crm("First_Name", LINE),
  crm("Last_Name", LINE),
  crm("Email", [...LINE, "emailAddresses"], false, "email"),
  crm("Secondary_Email", [...LINE, "emailAddresses"], false, "email"),
  crm("Mailing_City", LINE),
  crm("Date_of_Birth", ["birthday"], false, "date"),
  crm("Nickname_Custom", LINE, true),
];
const DEFAULTS: MappingLine[] = [
  { crm_field: "First_Name", ms_field: "givenName" },
  { crm_field: "Last_Name", ms_field: "surname" },
  { crm_field: "Email", ms_field: "emailAddresses" },
  { crm_field: "Secondary_Email", ms_field: "emailAddresses" },
  { crm_field: "Mailing_City", ms_field: "businessAddress.city" },
  { crm_field: "Date_of_Birth", ms_field: "birthday" },
];

describe("rows", () => {
  it("lays a mapping out one row per value, list fields numbered", () => {
    const rows = rowsFor(MS, DEFAULTS);
    expect(rows.map((r) => rowId(r))).toEqual([
      "map-givenName-0",
      "map-surname-0",
      "map-nickName-0",
      "map-emailAddresses-0",
      "map-emailAddresses-1",
      "map-emailAddresses-2",
      "map-businessAddress-city-0",
      "map-birthday-0",
    ]);
    expect(rows.filter((r) => r.ms.id === "emailAddresses").map((r) => r.crm)).toEqual([
      "Email",
      "Secondary_Email",
      "",
    ]);
    expect(rowLabel(rows[3]!, "en")).toBe("Email addresses 1");
    expect(rowLabel(rows[0]!, "ja")).toBe("名");
    expect(rowLabel(rows[5]!, "ja")).toBe("メールアドレス 3");
  });

  it("gives back the same lines, in order, and drops empty rows", () => {
    expect(linesOf(rowsFor(MS, DEFAULTS))).toEqual(DEFAULTS);
  });

  it("offers only the CRM fields that can carry the row's field", () => {
    const birthday = MS.find((m) => m.id === "birthday")!;
    expect(choicesFor(birthday, CRM).map((f) => f.api_name)).toEqual(["Date_of_Birth"]);
    const nick = MS.find((m) => m.id === "nickName")!;
    expect(choicesFor(nick, CRM).map((f) => f.api_name)).toContain("Nickname_Custom");
  });
});

describe("validation", () => {
  it("accepts the default mapping", () => {
    expect(validateRows(rowsFor(MS, DEFAULTS), CRM, "en").size).toBe(0);
  });

  it("flags a CRM field chosen twice on the second row, naming the first", () => {
    const rows = rowsFor(MS, DEFAULTS);
    rows.find((r) => r.ms.id === "nickName")!.crm = "First_Name";
    const errors = validateRows(rows, CRM, "en");
    expect([...errors.keys()]).toEqual(["map-nickName-0"]);
    const e = errors.get("map-nickName-0")!;
    expect(message("en", e.key, e.vars)).toBe("First Name is already used for First name.");
    expect(message("ja", e.key, e.vars)).toContain("すでに");
  });

  it("flags a field that cannot hold the row's kind of value, or that the CRM no longer has", () => {
    const rows = rowsFor(MS, DEFAULTS);
    rows.find((r) => r.ms.id === "birthday")!.crm = "Mailing_City";
    rows.find((r) => r.ms.id === "nickName")!.crm = "Gone_Field";
    const errors = validateRows(rows, CRM, "en");
    expect(errors.get("map-birthday-0")?.key).toBe("errIncompatible");
    expect(errors.get("map-nickName-0")?.key).toBe("errUnknown");
  });

  it("ties a problem from Rust to its row and says it in the UI language", () => {
    const rows = rowsFor(MS, DEFAULTS);
    const p = {
      kind: "read_only_crm_field",
      ms_field: null,
      crm_field: "Mailing_City",
      message: "CRM field `Mailing_City` is read-only",
      blocking: true,
    };
    expect(rowId(rowOfProblem(rows, p)!)).toBe("map-businessAddress-city-0");
    expect(problemText(p, "en")).toBe("Mailing_City is read-only in the CRM and cannot be synced both ways.");
    expect(problemText(p, "ja")).toContain("読み取り専用");
    expect(problemText({ ...p, kind: "something_new" }, "en")).toBe(p.message);
  });
});

class FakeMapping implements MappingBackend {
  saved: { lines: MappingLine[]; del: boolean }[] = [];
  answer: MappingCheck = { saved: true, problems: [] };
  load: Result<MappingDialog, CommandError> = {
    status: "ok",
    data: { ms_fields: MS, crm_fields: CRM, current: DEFAULTS, defaults: DEFAULTS, delete_propagation: false },
  };
  async contactMapping() {
    return this.load;
  }
  async saveContactMapping(lines: MappingLine[], del: boolean): Promise<Result<MappingCheck, CommandError>> {
    this.saved.push({ lines, del });
    return { status: "ok", data: this.answer };
  }
}

const tick = () => new Promise((r) => setTimeout(r, 0));
const $ = <T extends HTMLElement>(sel: string) => document.querySelector<T>(sel)!;
function choose(id: string, value: string) {
  const s = $<HTMLSelectElement>(`#${id}`);
  s.value = value;
  s.dispatchEvent(new Event("change"));
}

describe("the dialog", () => {
  beforeEach(() => {
    document.body.replaceChildren();
  });

  it("saves a changed mapping with a custom field and the delete checkbox", async () => {
    const backend = new FakeMapping();
    const done = editContactMapping(document.body, "en", backend);
    await tick();
    expect($("#mapping-dialog").getAttribute("role")).toBe("dialog");
    expect($<HTMLSelectElement>("#map-givenName-0").value).toBe("First_Name");
    const custom = [...$<HTMLSelectElement>("#map-nickName-0").options].map((o) => o.textContent);
    expect(custom).toContain("Nickname Custom (custom)");
    choose("map-nickName-0", "Nickname_Custom");
    $<HTMLInputElement>("#mapping-delete-propagation").click();
    $<HTMLButtonElement>("#mapping-save").click();
    expect(await done).toBe(true);
    expect(backend.saved).toHaveLength(1);
    expect(backend.saved[0]!.del).toBe(true);
    expect(backend.saved[0]!.lines).toContainEqual({ crm_field: "Nickname_Custom", ms_field: "nickName" });
    expect(document.querySelector("#mapping-dialog")).toBeNull();
  });

  it("does not save while a row is wrong, and shows why on that row", async () => {
    const backend = new FakeMapping();
    void editContactMapping(document.body, "ja", backend);
    await tick();
    choose("map-nickName-0", "Last_Name");
    const err = $("#map-nickName-0-error");
    expect(err.hidden).toBe(false);
    expect(err.textContent).toContain("Last Name");
    expect($("#map-nickName-0").getAttribute("aria-invalid")).toBe("true");
    $<HTMLButtonElement>("#mapping-save").click();
    await tick();
    expect(backend.saved).toHaveLength(0);
    expect($("#mapping-status").textContent).toContain("1 件");
    expect(document.activeElement?.id).toBe("map-nickName-0");
  });

  it("shows the problems Rust finds on their rows and stays open", async () => {
    const backend = new FakeMapping();
    backend.answer = {
      saved: false,
      problems: [
        { kind: "unknown_crm_field", ms_field: null, crm_field: "Mailing_City", message: "no CRM field", blocking: true },
      ],
    };
    void editContactMapping(document.body, "en", backend);
    await tick();
    $<HTMLButtonElement>("#mapping-save").click();
    await tick();
    expect(backend.saved).toHaveLength(1);
    expect($("#map-businessAddress-city-0-error").textContent).toBe("The CRM has no field Mailing_City any more.");
    expect(document.querySelector("#mapping-dialog")).not.toBeNull();
  });

  it("resets to the defaults and cancels without saving", async () => {
    const backend = new FakeMapping();
    const changed = [...DEFAULTS.filter((l) => l.ms_field !== "givenName")];
    backend.load = {
      status: "ok",
      data: { ms_fields: MS, crm_fields: CRM, current: changed, defaults: DEFAULTS, delete_propagation: false },
    };
    const done = editContactMapping(document.body, "en", backend);
    await tick();
    expect($<HTMLSelectElement>("#map-givenName-0").value).toBe("");
    $<HTMLButtonElement>("#mapping-reset").click();
    expect($<HTMLSelectElement>("#map-givenName-0").value).toBe("First_Name");
    $<HTMLButtonElement>("#mapping-cancel").click();
    expect(await done).toBe(false);
    expect(backend.saved).toHaveLength(0);
  });

  it("says when the CRM's fields cannot be read, and Escape closes", async () => {
    const backend = new FakeMapping();
    backend.load = { status: "error", error: { code: "not_syncing", message: "Microsoft 365 is not connected" } };
    const done = editContactMapping(document.body, "en", backend);
    await tick();
    expect($("#mapping-intro").textContent).toContain("Microsoft 365 is not connected");
    $("#mapping-dialog").dispatchEvent(new KeyboardEvent("keydown", { key: "Escape", bubbles: true }));
    expect(await done).toBe(false);
  });
});
