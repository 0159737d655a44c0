import { beforeEach, describe, expect, it } from "vitest";
import { accountRow, accountsPanel, dataCentreText, errorText, rowState } from "./accounts";
import type { AccountView, Accounts, CommandError, ModuleView, Result, Service } from "./bindings";
import { translator } from "./i18n";
import { mountIntegration } from "./integration";
import { BaseFakeBackend } from "./testing";

const en = translator("en");
const ja = translator("ja");
const noop = { connect: () => {}, cancel: () => {}, disconnect: () => {} };

const zoho: AccountView = {
  service: "zoho",
  user_id: "4150868000000225013",
  email: "kenji.ito@sakura-jp.example",
  display_name: "伊藤 健二",
  organisation: "Sakura Japan KK",
  data_centre: "jp",
  connected_at: "2026-11-25T04:00:00Z",
};
const microsoft: AccountView = {
  service: "microsoft",
  user_id: "u-1",
  email: "aiko.tanaka@sakura-demo.example",
  display_name: "Aiko Tanaka",
  organisation: "sakura-demo.example",
  data_centre: null,
  connected_at: "2026-11-25T04:01:00Z",
};
const none: Accounts = { zoho: null, microsoft: null, signing_in: [] };

describe("rowState", () => {
  it("prefers a waiting sign-in over a stored account", () => {
    expect(rowState({ ...none, zoho, signing_in: ["zoho"] }, "zoho").kind).toBe("signing_in");
    expect(rowState({ ...none, zoho }, "zoho")).toEqual({ kind: "connected", account: zoho });
    expect(rowState({ ...none, zoho }, "microsoft").kind).toBe("disconnected");
  });
});

describe("accountRow", () => {
  it("shows the CRM user, org and data centre with Disconnect", () => {
    const row = accountRow("zoho", { kind: "connected", account: zoho }, en, noop);
    expect(row.dataset["state"]).toBe("connected");
    expect(row.querySelector("#account-status-zoho")?.textContent).toBe("Connected");
    expect(row.querySelector("#account-user-zoho")?.textContent).toBe("伊藤 健二 <kenji.ito@sakura-jp.example>");
    expect(row.querySelector("#account-org-zoho")?.textContent).toBe("Organisation: Sakura Japan KK");
    expect(row.querySelector("#account-dc-zoho")?.textContent).toBe("Data centre: Japan (JP)");
    expect(row.querySelector("#disconnect-zoho")?.getAttribute("aria-label")).toBe("Disconnect your Zoho CRM account");
    expect(row.querySelector("#connect-zoho")).toBeNull();
  });

  it("shows the Microsoft 365 tenant and no data centre", () => {
    const row = accountRow("microsoft", { kind: "connected", account: microsoft }, ja, noop);
    expect(row.querySelector("#account-org-microsoft")?.textContent).toBe("テナント: sakura-demo.example");
    expect(row.querySelector("#account-dc-microsoft")).toBeNull();
    expect(row.querySelector("#disconnect-microsoft")?.textContent).toBe("接続を解除");
  });

  it("offers Cancel while the browser sign-in waits, and calls back", () => {
    const cancelled: Service[] = [];
    const row = accountRow("microsoft", { kind: "signing_in" }, en, { ...noop, cancel: (s) => cancelled.push(s) });
    expect(row.querySelector("#account-signing-in-microsoft")?.textContent).toBe(
      "Signing in — finish in your browser.",
    );
    row.querySelector<HTMLButtonElement>("#cancel-microsoft")?.click();
    expect(cancelled).toEqual(["microsoft"]);
    expect(row.querySelector("#connect-microsoft")).toBeNull();
  });

  it("offers a labelled Connect button when not connected", () => {
    const connected: Service[] = [];
    const row = accountRow("zoho", { kind: "disconnected" }, ja, { ...noop, connect: (s) => connected.push(s) });
    const button = row.querySelector<HTMLButtonElement>("#connect-zoho");
    expect(button?.textContent).toBe("接続");
    expect(button?.type).toBe("button");
    expect(button?.getAttribute("aria-label")).toBe("Zoho CRM アカウントを接続する");
    button?.click();
    expect(connected).toEqual(["zoho"]);
    expect(row.getAttribute("aria-labelledby")).toBe("account-title-zoho");
  });
});

describe("accountsPanel", () => {
  it("has a row per service, Zoho first", () => {
    const panel = accountsPanel({ ...none, microsoft }, en, noop);
    expect([...panel.querySelectorAll(".account")].map((n) => n.id)).toEqual(["account-zoho", "account-microsoft"]);
    expect(panel.querySelector("#accounts-title")?.textContent).toBe("Connected accounts");
  });
});

describe("texts", () => {
  it("words known error codes in the UI language and passes others through", () => {
    expect(errorText({ code: "sign_in_cancelled", message: "sign-in cancelled" }, ja)).toBe(
      "サインインをキャンセルしました。",
    );
    expect(errorText({ code: "sign_in_failed", message: "authorization failed: access_denied: " }, en)).toBe(
      "authorization failed: access_denied: ",
    );
    expect(dataCentreText("eu", en)).toBe("Europe (EU)");
    expect(dataCentreText("xx", en)).toBe("XX");
  });
});

class Fake extends BaseFakeBackend {
  connectResult: (s: Service) => Promise<Result<AccountView, CommandError>> = async () => ({
    status: "ok",
    data: zoho,
  });
  override async listModules(): Promise<Result<ModuleView[], CommandError>> {
    return { status: "ok", data: [] };
  }
  override async connect(s: Service) {
    this.calls.push(`connect ${s}`);
    return this.connectResult(s);
  }
  override async cancelSignIn(s: Service) {
    this.calls.push(`cancel ${s}`);
    return true;
  }
  override async disconnect(s: Service): Promise<Result<Accounts, CommandError>> {
    this.calls.push(`disconnect ${s}`);
    this.accountsState = { ...this.accountsState, [s]: null };
    return { status: "ok", data: this.accountsState };
  }
}

const flush = () => new Promise((resolve) => setTimeout(resolve, 0));

describe("the accounts panel on the integration page", () => {
  let root: HTMLElement;
  beforeEach(() => {
    document.body.innerHTML = "";
    root = document.createElement("main");
    document.body.append(root);
  });

  it("shows 'finish in your browser' while connect waits, then the account", async () => {
    const backend = new Fake();
    let finish: (r: Result<AccountView, CommandError>) => void = () => {};
    backend.connectResult = () => new Promise((resolve) => (finish = resolve));
    await mountIntegration(root, backend, en);
    root.querySelector<HTMLButtonElement>("#connect-zoho")?.click();
    await flush();
    expect(root.querySelector("#account-zoho")?.getAttribute("data-state")).toBe("signing_in");
    expect(document.activeElement?.id).toBe("cancel-zoho");
    backend.accountsState = { ...none, zoho };
    finish({ status: "ok", data: zoho });
    await flush();
    await flush();
    expect(root.querySelector("#account-zoho")?.getAttribute("data-state")).toBe("connected");
    expect(root.querySelector("#account-dc-zoho")?.textContent).toBe("Data centre: Japan (JP)");
  });

  it("Cancel asks the backend and the failed connect says so", async () => {
    const backend = new Fake();
    let finish: (r: Result<AccountView, CommandError>) => void = () => {};
    backend.connectResult = () => new Promise((resolve) => (finish = resolve));
    await mountIntegration(root, backend, en);
    root.querySelector<HTMLButtonElement>("#connect-microsoft")?.click();
    await flush();
    root.querySelector<HTMLButtonElement>("#cancel-microsoft")?.click();
    finish({ status: "error", error: { code: "sign_in_cancelled", message: "sign-in cancelled" } });
    await flush();
    await flush();
    expect(backend.calls).toEqual(["connect microsoft", "cancel microsoft"]);
    expect(root.querySelector("#account-microsoft")?.getAttribute("data-state")).toBe("disconnected");
    expect(root.querySelector("#account-message-microsoft")?.textContent).toBe("Sign-in cancelled.");
  });

  it("Disconnect shows the service as not connected again", async () => {
    const backend = new Fake();
    backend.accountsState = { zoho, microsoft, signing_in: [] };
    await mountIntegration(root, backend, en);
    root.querySelector<HTMLButtonElement>("#disconnect-microsoft")?.click();
    await flush();
    expect(backend.calls).toEqual(["disconnect microsoft"]);
    expect(root.querySelector("#account-microsoft")?.getAttribute("data-state")).toBe("disconnected");
    expect(root.querySelector("#account-zoho")?.getAttribute("data-state")).toBe("connected");
  });
});
