import { describe, expect, it } from "vitest";
import { translator } from "./i18n";
import { modeBanner } from "./mode";

describe("modeBanner", () => {
  it("marks sandbox mode with a badge that carries the emulator address", () => {
    const banner = modeBanner({ kind: "sandbox", url: "http://127.0.0.1:40123" }, translator("en"));
    const badge = banner.querySelector<HTMLElement>("#sandbox-badge");
    expect(badge?.textContent).toBe("Sandbox");
    expect(badge?.dataset["url"]).toBe("http://127.0.0.1:40123");
    expect(banner.textContent).toContain("not your real Zoho CRM or Microsoft 365 accounts");
  });

  it("says why when the sandbox could not start", () => {
    const banner = modeBanner({ kind: "sandbox_failed", message: "address in use" }, translator("ja"));
    expect(banner.getAttribute("role")).toBe("alert");
    expect(banner.textContent).toBe("内蔵サンドボックスを起動できませんでした: address in use");
  });

  it("shows no sandbox badge with real accounts", () => {
    const banner = modeBanner({ kind: "real", microsoft_tenant: "contoso.example" }, translator("en"));
    expect(banner.hidden).toBe(true);
    expect(banner.querySelector("#sandbox-badge")).toBeNull();
    expect(banner.dataset["mode"]).toBe("real");
  });
});
