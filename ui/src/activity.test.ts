import { beforeEach, describe, expect, it } from "vitest";
import type { ActivityView, CommandError, ConflictView, FieldChoice, Module, Result } from "./bindings";
import { activityText, mountActivity, outcomeText, reasonText, type ActivityBackend } from "./activity";

const view: ActivityView = {
  runs: [
    {
      id: 7,
      started_at: "2026-11-25T06:00:00Z",
      finished_at: "2026-11-25T06:00:03Z",
      outcome: "completed",
      detail: null,
      crm_changes: 1,
      microsoft_changes: 4,
      failures: 1,
    },
  ],
  records: [
    { side: "crm", item_id: "c1", label: "Aiko Tanaka", status: "in_sync", detail: null, updated_at: "2026-11-25T06:00:03Z" },
    { side: "crm", item_id: "c2", label: "Imported Person", status: "excluded", detail: "imported", updated_at: "2026-11-25T06:00:03Z" },
    { side: "crm", item_id: "c3", label: "Broken Date", status: "failing", detail: "invalid date in Date_of_Birth", updated_at: "2026-11-25T06:00:03Z" },
  ],
  changes: [
    { id: 41, run_id: 7, side: "crm", op: "delete", item_id: "c9", label: "Deleted Person", changed_fields: [], at: "2026-11-25T06:00:02Z", restorable: true, restored_as: null },
    { id: 40, run_id: 7, side: "microsoft", op: "update", item_id: "g1", label: "Aiko Tanaka", changed_fields: ["jobTitle"], at: "2026-11-25T06:00:01Z", restorable: false, restored_as: null },
  ],
};
const conflict: ConflictView = {
  id: "12",
  label: "Ben Carter",
  crm_modified: "2026-11-25T05:59:00Z",
  microsoft_modified: "2026-11-25T05:58:00Z",
  fields: [
    { field: "jobTitle", base: "Buyer", crm: "Director", microsoft: "Manager" },
    { field: "department", base: null, crm: "Sales", microsoft: "Marketing" },
  ],
};

class FakeActivity implements ActivityBackend {
  calls: { module: Module; status: string | null; search: string | null }[] = [];
  restored: number[] = [];
  resolved: { id: string; choices: FieldChoice[] }[] = [];
  queue: ConflictView[] = [conflict];
  async activity(module: Module, status: string | null, search: string | null): Promise<Result<ActivityView, CommandError>> {
    this.calls.push({ module, status, search });
    return { status: "ok", data: view };
  }
  async restoreRecord(_m: Module, id: number): Promise<Result<string, CommandError>> {
    this.restored.push(id);
    return { status: "ok", data: "c10" };
  }
  async conflicts(): Promise<Result<ConflictView[], CommandError>> {
    return { status: "ok", data: this.queue };
  }
  async resolveConflict(_m: Module, id: string, choices: FieldChoice[]): Promise<Result<null, CommandError>> {
    this.resolved.push({ id, choices });
    this.queue = [];
    return { status: "ok", data: null };
  }
}

const $ = <T extends HTMLElement>(sel: string) => document.querySelector<T>(sel)!;
const tick = () => new Promise((r) => setTimeout(r, 0));

describe("texts", () => {
  it("translates rule keys and outcomes, and shows errors as they are", () => {
    expect(reasonText("not_owner", "en")).toBe("Owned by another CRM user");
    expect(reasonText("recurring_series", "ja")).toBe("繰り返しの予定（シリーズ）です。シリーズは同期されません");
    expect(reasonText("imported", "ja")).toContain("インポート");
    expect(reasonText("the service refused the record: Last_Name missing", "en")).toBe(
      "the service refused the record: Last_Name missing",
    );
    expect(reasonText(null, "en")).toBe("");
    expect(outcomeText("throttled", "ja")).toBe("サービスの制限で待機");
    expect(outcomeText(null, "en")).toBe("Running or stopped");
    expect(activityText("en", "conflictsTitle", { n: "2" })).toBe("Conflicts waiting for you (2)");
  });
});

describe("the Activity view", () => {
  let host: HTMLElement;
  beforeEach(() => {
    document.body.replaceChildren();
    host = document.createElement("main");
    document.body.append(host);
  });

  it("shows the records' health, the changes and the runs", async () => {
    await mountActivity(host, "en", new FakeActivity());
    const rows = [...host.querySelectorAll("#activity-records tbody tr")];
    expect(rows.map((r) => (r as HTMLElement).dataset.status)).toEqual(["in_sync", "excluded", "failing"]);
    expect(rows[1]!.textContent).toContain("Imported or migrated");
    expect(rows[2]!.textContent).toContain("invalid date in Date_of_Birth");
    expect($("#activity-changes").textContent).toContain("Updated (jobTitle)");
    expect($("#activity-runs tbody").textContent).toContain("Completed");
  });

  it("filters by state and searches", async () => {
    const backend = new FakeActivity();
    await mountActivity(host, "ja", backend);
    const status = $<HTMLSelectElement>("#activity-status");
    status.value = "failing";
    status.dispatchEvent(new Event("change"));
    await tick();
    expect(backend.calls.at(-1)).toEqual({ module: "contacts", status: "failing", search: null });
    const module = $<HTMLSelectElement>("#activity-module");
    module.value = "tasks";
    module.dispatchEvent(new Event("change"));
    await tick();
    expect(backend.calls.at(-1)?.module).toBe("tasks");
    expect($("#activity-title").textContent).toBe("アクティビティ");
  });

  it("restores a record the sync deleted", async () => {
    const backend = new FakeActivity();
    await mountActivity(host, "en", backend);
    expect(document.querySelector("#restore-40")).toBeNull();
    $<HTMLButtonElement>("#restore-41").click();
    await tick();
    await tick();
    expect(backend.restored).toEqual([41]);
    expect($("#activity-message").textContent).toContain("“Deleted Person” is restored");
  });

  it("resolves a conflict only once every field has a chosen version", async () => {
    const backend = new FakeActivity();
    await mountActivity(host, "en", backend);
    $<HTMLInputElement>("#conflict-12-jobTitle-crm").click();
    $<HTMLButtonElement>("#resolve-12").click();
    await tick();
    expect(backend.resolved).toHaveLength(0);
    expect($("#conflict-12 .field-error").textContent).toContain("every field");
    $<HTMLInputElement>("#conflict-12-department-microsoft").click();
    $<HTMLButtonElement>("#resolve-12").click();
    await tick();
    await tick();
    expect(backend.resolved).toEqual([
      { id: "12", choices: [{ field: "jobTitle", keep: "crm" }, { field: "department", keep: "microsoft" }] },
    ]);
    expect(document.querySelector("#conflict-12")).toBeNull();
  });
});
