// Sign in with email and password (POST /auth/login, then GET /auth/me for who it is). The
// answer's refresh cookie keeps the session; the access token stays in memory (session.js).
import * as api from "./api.js";
import * as session from "./session.js";
import { h, fill } from "./dom.js";
import { t } from "./i18n.js";
import { alertArea, field, onSubmit } from "./forms.js";

export function loginView(main, { expired, onSignedIn, onForgot }) {
  const email = h("input", { type: "email", name: "email", autocomplete: "username" });
  const password = h("input", { type: "password", name: "password", autocomplete: "current-password" });
  const alert = alertArea();
  const form = h(
    "form",
    { class: "card narrow", novalidate: true },
    field(t("login.email"), email, { name: "email" }),
    field(t("login.password"), password, { name: "password" }),
    alert,
    h("button", { type: "submit", class: "primary", text: t("login.submit") }),
  );
  const forgot = h("button", { type: "button", class: "link", onclick: onForgot, text: t("login.forgot") });
  onSubmit(form, async () => {
    let answer;
    try {
      answer = await api.request("POST", "/auth/login", { email: email.value, password: password.value }, { auth: false });
    } catch (error) {
      if (error.status === 401) {
        fill(alert, h("p", { text: t("login.failed") }));
        alert.hidden = false;
        alert.focus();
        return;
      }
      throw error;
    }
    session.save(answer.access_token, answer.expires_in, null);
    try {
      const me = await api.get("/auth/me");
      session.save(answer.access_token, answer.expires_in, me);
    } catch (error) {
      session.clear();
      throw error;
    }
    onSignedIn();
  });
  fill(main, 
    h("h1", { text: t("login.title") }),
    expired ? h("p", { class: "notice", role: "alert", text: t("login.expired") }) : null,
    form,
    forgot,
  );
  email.focus();
  return {};
}
