// Passwords: changing one's own (POST /auth/password) and, from the sign-in page, resetting a
// forgotten one with a code sent by mail (POST /auth/password-reset, then /confirm).
import * as api from "./api.js";
import { h, fill } from "./dom.js";
import { t } from "./i18n.js";
import { alertArea, field, onSubmit } from "./forms.js";

/** The signed-in user's "Change password" page. */
export function passwordView(main) {
  const current = h("input", { type: "password", name: "current", autocomplete: "current-password" });
  const fresh = h("input", { type: "password", name: "new", autocomplete: "new-password" });
  const status = h("p", { class: "notice", role: "status" });
  const form = h("form", { class: "card narrow", novalidate: true },
    field(t("password.current"), current, { name: "current" }),
    field(t("password.new"), fresh, { name: "new", hint: t("password.rules") }),
    alertArea(),
    h("button", { type: "submit", class: "primary", text: t("password.change") }),
  );
  onSubmit(form, async () => {
    await api.post("/auth/password", { current: current.value, new: fresh.value });
    form.reset();
    status.textContent = t("password.changed");
  });
  fill(main, h("h1", { text: t("password.title") }), status, form);
  current.focus();
  return {};
}

/** "Forgot password": ask for a code, then set a new password with it. `done()` goes back. */
export function resetView(main, { done }) {
  const email = h("input", { type: "email", name: "email", autocomplete: "username" });
  const ask = h("form", { class: "card narrow", novalidate: true },
    field(t("login.email"), email, { name: "email" }),
    alertArea(),
    h("button", { type: "submit", class: "primary", text: t("reset.send") }),
  );
  const back = h("button", { type: "button", onclick: done, text: t("reset.back") });
  onSubmit(ask, async () => {
    await api.request("POST", "/auth/password-reset", { email: email.value }, { auth: false });
    confirmStep(email.value);
  });
  fill(main, h("h1", { text: t("reset.title") }), h("p", { text: t("reset.intro") }), ask, back);
  email.focus();

  function confirmStep(address) {
    const code = h("input", { type: "text", name: "code", autocomplete: "one-time-code", inputmode: "numeric" });
    const fresh = h("input", { type: "password", name: "new", autocomplete: "new-password" });
    const form = h("form", { class: "card narrow", novalidate: true },
      field(t("reset.code"), code, { name: "code" }),
      field(t("password.new"), fresh, { name: "new", hint: t("password.rules") }),
      alertArea(),
      h("button", { type: "submit", class: "primary", text: t("reset.confirm") }),
    );
    onSubmit(form, async () => {
      await api.request("POST", "/auth/password-reset/confirm",
        { email: address, code: code.value.trim(), new: fresh.value }, { auth: false });
      fill(main,
        h("h1", { text: t("reset.title") }),
        h("p", { class: "notice", role: "status", text: t("reset.done") }),
        h("button", { type: "button", class: "primary", onclick: done, text: t("login.submit") }),
      );
    });
    fill(main, h("h1", { text: t("reset.title") }),
      h("p", { role: "status", text: t("reset.sent", { email: address }) }), form, back);
    code.focus();
  }
  return {};
}
