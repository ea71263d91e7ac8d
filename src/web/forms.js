// Forms the GOV.UK way: every control has a <label>; a 422's errors appear beside the field
// they name and in a summary at the top of the form, which takes the focus. Other failures
// (409, 403, network) appear in the form's alert, beside its button. Nothing typed is lost:
// drafts are kept in sessionStorage until the form succeeds.
import { h, uid, fill } from "./dom.js";
import { t } from "./i18n.js";

/**
 * A labelled field. `control` is the input/select/textarea; `name` is the API field it
 * carries (for error placement). Returns the wrapper.
 */
export function field(label, control, { name, hint } = {}) {
  const id = control.id || uid("f");
  control.id = id;
  if (name) control.dataset.field = name;
  const error = h("p", { class: "field-error", id: `${id}-error`, hidden: true });
  const described = [];
  let hintEl = null;
  if (hint) {
    hintEl = h("p", { class: "hint", id: `${id}-hint`, text: hint });
    described.push(hintEl.id);
  }
  described.push(error.id);
  control.setAttribute("aria-describedby", described.join(" "));
  const wrapper = h("div", { class: control.type === "checkbox" ? "field checkbox" : "field" });
  if (control.type === "checkbox") {
    wrapper.append(control, h("label", { for: id, text: label }), hintEl || "", error);
  } else {
    wrapper.append(h("label", { for: id, text: label }), hintEl || "", error, control);
  }
  return wrapper;
}

/** Options for a select: `[value, text]` pairs. */
export function options(pairs, selected) {
  return pairs.map(([value, text]) => h("option", { value, selected: value === selected, text }));
}

/** The alert area of a form (put it beside the form's button). */
export function alertArea() {
  return h("div", { class: "form-alert", role: "alert", tabindex: "-1", hidden: true });
}

/** Clears the errors a form shows. */
export function clearErrors(form) {
  for (const el of form.querySelectorAll(".field-error")) {
    el.hidden = true;
    el.textContent = "";
  }
  for (const el of form.querySelectorAll("[aria-invalid]")) el.removeAttribute("aria-invalid");
  for (const el of form.querySelectorAll(".form-alert")) {
    el.hidden = true;
    fill(el);
  }
}

/** Words for a failed call that names no field. */
export function failureText(error) {
  const detail = (error.problem && (error.problem.detail || error.problem.title)) || error.message;
  if (error.status === 0) return t("error.network");
  if (error.status === 403) return t("error.forbidden");
  if (error.status === 404) return t("error.not_found");
  if (error.status === 409 || error.status === 412) return t("error.conflict", { detail });
  return t("error.generic", { status: error.status, detail });
}

/**
 * The control carrying the field an error names: `hours.mon[0]` or `holidays[2]` (a part of a
 * member) is shown beside the control of `hours.mon` or `holidays` when there is no closer one.
 */
function controlFor(form, name) {
  let key = String(name);
  for (;;) {
    const control = form.querySelector(`[data-field="${CSS.escape(key)}"]`);
    if (control) return control;
    const shorter = key.replace(/(\[\d+\]|\.[^.[\]]*)$/, "");
    if (!shorter || shorter === key) return null;
    key = shorter;
  }
}

/** Shows `error` (an ApiError) in `form`: beside the named fields, in the form's alert. */
export function showError(form, error) {
  clearErrors(form);
  const alert = form.querySelector(".form-alert");
  const items = [];
  for (const { field: name, message } of error.fieldErrors || []) {
    const control = controlFor(form, name);
    const label = control ? form.querySelector(`label[for="${CSS.escape(control.id)}"]`) : null;
    const text = label ? `${label.textContent}: ${message}` : `${name}: ${message}`;
    if (control) {
      control.setAttribute("aria-invalid", "true");
      const slot = document.getElementById(`${control.id}-error`);
      if (slot) {
        // Beside the field its label already names it; the summary names it with the message.
        slot.textContent = message;
        slot.hidden = false;
      }
    }
    items.push(h("li", { text }));
  }
  if (!alert) return;
  if (items.length) {
    alert.append(h("p", { class: "alert-title", text: t("error.summary") }), h("ul", {}, items));
  } else {
    alert.append(h("p", { text: failureText(error) }));
  }
  alert.hidden = false;
  alert.focus();
}

const DRAFTS = "ticketd.draft.";

/** Restores the draft saved under `key` into `form`, and keeps saving it as the user types. */
export function keepDraft(form, key) {
  let saved = null;
  try {
    saved = JSON.parse(sessionStorage.getItem(DRAFTS + key) || "null");
  } catch {
    saved = null;
  }
  if (saved) {
    for (const [name, value] of Object.entries(saved)) {
      const control = form.elements.namedItem(name);
      if (!control || !("value" in control)) continue;
      if (control.type === "checkbox") control.checked = Boolean(value);
      else control.value = value;
    }
  }
  const save = () => {
    const values = {};
    for (const control of form.elements) {
      if (!control.name) continue;
      values[control.name] = control.type === "checkbox" ? control.checked : control.value;
    }
    try {
      sessionStorage.setItem(DRAFTS + key, JSON.stringify(values));
    } catch {
      // A full storage loses the draft on reload only.
    }
  };
  form.addEventListener("input", save);
  form.addEventListener("change", save);
}

/** Forgets the draft under `key` (the form succeeded). */
export function dropDraft(key) {
  try {
    sessionStorage.removeItem(DRAFTS + key);
  } catch {
    // Nothing stored.
  }
}

/** Runs `action` on submit with the button disabled, showing any failure in the form. */
export function onSubmit(form, action) {
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const buttons = form.querySelectorAll("button[type=submit]");
    for (const b of buttons) b.disabled = true;
    clearErrors(form);
    try {
      await action();
    } catch (error) {
      if (error && error.status !== undefined) {
        if (error.status !== 401) showError(form, error);
      } else {
        console.error(error);
      }
    } finally {
      for (const b of buttons) b.disabled = false;
    }
  });
}
