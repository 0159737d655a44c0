import { describe, expect, it } from "vitest";
import { detectLang, translator } from "./i18n";

describe("detectLang", () => {
  it("follows the first language the OS prefers", () => {
    expect(detectLang(["ja-JP", "en-US"])).toBe("ja");
    expect(detectLang(["en-GB", "ja"])).toBe("en");
    expect(detectLang(["ja_JP.UTF-8"])).toBe("ja");
  });
  it("skips languages it does not speak and falls back to English", () => {
    expect(detectLang(["fr-FR", "ja-JP"])).toBe("ja");
    expect(detectLang(["de"])).toBe("en");
    expect(detectLang([])).toBe("en");
  });
});

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
