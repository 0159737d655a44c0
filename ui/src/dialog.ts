// A modal confirmation dialog: labelled, focus moved in and kept in while it is open,
// Escape cancels, focus goes back where it was when it closes.

export interface ConfirmOptions {
  /** Element id prefix: the dialog is `#{id}`, its buttons `#{id}-confirm` and `#{id}-cancel`. */
  id: string;
  title: string;
  /** Paragraphs of the body, in order. */
  body: string[];
  confirm: string;
  cancel: string;
  /** A destructive action: the confirm button is styled as such and Cancel gets the focus. */
  danger?: boolean;
}

const FOCUSABLE =
  "button:not([disabled]), select:not([disabled]), input:not([disabled]), [href], [tabindex]:not([tabindex='-1'])";

/**
 * Keeps a modal dialog modal: Tab and Shift+Tab cycle through its visible controls, Escape
 * calls `onEscape`. Every dialog of the app uses it.
 */
export function keepModal(dialog: HTMLElement, onEscape: () => void): void {
  dialog.addEventListener("keydown", (e) => {
    if (e.key === "Escape") {
      e.preventDefault();
      onEscape();
      return;
    }
    if (e.key !== "Tab") return;
    const items = [...dialog.querySelectorAll<HTMLElement>(FOCUSABLE)].filter((x) => !x.closest("[hidden]"));
    const first = items[0];
    const last = items[items.length - 1];
    if (!first || !last) return;
    if (e.shiftKey && document.activeElement === first) {
      e.preventDefault();
      last.focus();
    } else if (!e.shiftKey && document.activeElement === last) {
      e.preventDefault();
      first.focus();
    }
  });
}

/** Opens the dialog over `host` and resolves true on confirm, false on cancel or Escape. */
export function confirmDialog(host: HTMLElement, opts: ConfirmOptions): Promise<boolean> {
  const previous = document.activeElement instanceof HTMLElement ? document.activeElement : null;
  const overlay = document.createElement("div");
  overlay.className = "overlay";
  const dialog = document.createElement("div");
  dialog.id = opts.id;
  dialog.className = "dialog";
  dialog.setAttribute("role", opts.danger ? "alertdialog" : "dialog");
  dialog.setAttribute("aria-modal", "true");
  dialog.setAttribute("aria-labelledby", `${opts.id}-title`);
  dialog.setAttribute("aria-describedby", `${opts.id}-body`);

  const title = document.createElement("h2");
  title.id = `${opts.id}-title`;
  title.textContent = opts.title;
  const body = document.createElement("div");
  body.id = `${opts.id}-body`;
  for (const text of opts.body) {
    const p = document.createElement("p");
    p.textContent = text;
    body.append(p);
  }
  const confirm = document.createElement("button");
  confirm.type = "button";
  confirm.id = `${opts.id}-confirm`;
  confirm.className = opts.danger ? "danger" : "primary";
  confirm.textContent = opts.confirm;
  const cancel = document.createElement("button");
  cancel.type = "button";
  cancel.id = `${opts.id}-cancel`;
  cancel.textContent = opts.cancel;
  const actions = document.createElement("div");
  actions.className = "actions dialog-actions";
  actions.append(cancel, confirm);
  dialog.append(title, body, actions);
  overlay.append(dialog);
  host.append(overlay);

  return new Promise((resolve) => {
    const close = (answer: boolean) => {
      overlay.remove();
      previous?.focus();
      resolve(answer);
    };
    confirm.addEventListener("click", () => close(true));
    cancel.addEventListener("click", () => close(false));
    keepModal(dialog, () => close(false));
    (opts.danger ? cancel : confirm).focus();
  });
}
