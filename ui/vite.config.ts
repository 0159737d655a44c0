import { defineConfig } from "vitest/config";

export default defineConfig({
  // Tauri serves the built files itself; no external fonts or CDNs (strict CSP).
  clearScreen: false,
  server: { port: 5173, strictPort: true },
  build: { outDir: "dist", target: "es2022", sourcemap: false },
  test: { environment: "jsdom", include: ["src/**/*.test.ts"] },
});
