import { describe, expect, it } from "vitest";
import { translator } from "./i18n";

describe("translator", () => {
  it("fills placeholders and leaves unknown ones visible", () => {
    const t = translator("en");
    expect(t("enableLabel", { module: "Contacts" })).toBe("Enable Contacts sync");
    expect(t("lastSync")).toBe("Last sync: {when}");
  });
  it("speaks Japanese", () => {
    const t = translator("ja");
    expect(t("moduleContacts")).toBe("連絡先");
    expect(t("enableLabel", { module: "予定" })).toBe("予定の同期を有効にする");
  });
});
