// Where a running round is, from the worker's events, and how it reads: what it does now,
// how many changes are made, and an estimate of the time left.

import type { Module, Service, SyncEvent } from "./bindings";
import type { MessageKey, Translate } from "./i18n";

/** A running round of one module. Times are milliseconds (Date.now()). */
export type RoundProgress =
  | { phase: "starting" }
  | { phase: "reading"; service: Service }
  | { phase: "executing"; done: number; total: number; since: number };

/** The next progress of `module` after `event`; null when the round ended. `current` is the last one. */
export function nextProgress(
  current: RoundProgress | null,
  event: SyncEvent,
  now: number,
): RoundProgress | null | undefined {
  switch (event.kind) {
    case "started":
      return { phase: "starting" };
    case "observing":
      return { phase: "reading", service: event.service };
    case "planned":
      return { phase: "executing", done: 0, total: event.actions, since: now };
    case "executed": {
      const since = current?.phase === "executing" ? current.since : now;
      return { phase: "executing", done: event.done, total: event.total, since };
    }
    case "finished":
      return null;
    default:
      return undefined;
  }
}

/** The module an event is about, if any. */
export function eventModule(event: SyncEvent): Module | null {
  return "module" in event ? event.module : null;
}

/** Milliseconds left at the pace so far; null until one change is made. */
export function estimateLeft(p: RoundProgress, now: number): number | null {
  if (p.phase !== "executing" || p.done <= 0 || p.done >= p.total) return null;
  const perChange = Math.max(0, now - p.since) / p.done;
  return Math.round(perChange * (p.total - p.done));
}

const SERVICE_NAME: Record<Service, MessageKey> = { zoho: "serviceZoho", microsoft: "serviceMicrosoft" };

/** What the progress line says. */
export function progressText(p: RoundProgress, t: Translate, now: number): string {
  switch (p.phase) {
    case "starting":
      return t("progressStarting");
    case "reading":
      return t("progressReading", { service: t(SERVICE_NAME[p.service]) });
    case "executing": {
      if (p.done === 0) return t("progressPlanned", { n: String(p.total) });
      const made = t("progressExecuting", { done: String(p.done), total: String(p.total) });
      const left = estimateLeft(p, now);
      if (left === null) return made;
      const eta = left < 60_000 ? t("progressEtaSoon") : t("progressEtaMinutes", { n: String(Math.ceil(left / 60_000)) });
      return `${made} · ${eta}`;
    }
  }
}

/** The bar's value and maximum; no value (indeterminate) while reading. */
export function progressValue(p: RoundProgress): { value: number | null; max: number } {
  if (p.phase === "executing" && p.total > 0) return { value: p.done, max: p.total };
  return { value: null, max: 1 };
}
