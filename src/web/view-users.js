// Admins: the user directory (GET /users), adding a user (POST /users), changing a role
// (PATCH /users/{id}).
import * as api from "./api.js";
import { h, fill } from "./dom.js";
import { t, term } from "./i18n.js";
import { ROLES } from "./model.js";
import { alertArea, failureText, field, onSubmit, options } from "./forms.js";

export function usersView(main, ctx) {
  const email = h("input", { type: "email", name: "email", autocomplete: "off" });
  const name = h("input", { type: "text", name: "name", autocomplete: "off" });
  const role = h("select", { name: "role" }, options(ROLES.map((r) => [r, term("role", r)]), "requester"));
  const password = h("input", { type: "password", name: "password", autocomplete: "new-password" });
  const form = h("form", { class: "card", novalidate: true },
    h("h2", { text: t("users.create") }),
    alertArea(),
    h("div", { class: "row" },
      field(t("users.email"), email, { name: "email" }),
      field(t("users.name"), name, { name: "name" }),
      field(t("users.role"), role, { name: "role" }),
      field(t("users.password"), password, { name: "password" }),
    ),
    h("button", { type: "submit", class: "primary", text: t("users.submit") }),
  );
  const status = h("p", { class: "notice", role: "status" });
  const table = h("div", { class: "users" });
  fill(main, h("h1", { text: t("users.title") }), status, form, table);

  onSubmit(form, async () => {
    const body = { email: email.value, name: name.value, role: role.value };
    if (password.value) body.password = password.value;
    const user = await api.post("/users", body);
    status.textContent = t("users.created", { name: user.name });
    form.reset();
    await reload();
  });

  async function changeRole(user, select, alert) {
    alert.hidden = true;
    try {
      const changed = await api.patch(`/users/${encodeURIComponent(user.id)}`, { role: select.value });
      status.textContent = t("users.role_changed", { name: changed.name, role: term("role", changed.role) });
    } catch (error) {
      if (error.status === 401) return;
      select.value = user.role;
      fill(alert, h("p", { text: failureText(error) }));
      alert.hidden = false;
    }
  }

  async function reload() {
    let list;
    try {
      list = await api.get("/users");
    } catch (error) {
      if (error.status !== 401) fill(table, h("p", { role: "alert", text: failureText(error) }));
      return;
    }
    const rows = list.items.map((user) => {
      const alert = alertArea();
      const select = h("select", { "aria-label": t("users.role_of", { name: user.name }) },
        options(ROLES.map((r) => [r, term("role", r)]), user.role));
      select.addEventListener("change", () => changeRole(user, select, alert));
      return h("tr", {},
        h("td", {}, h("a", { href: `#/users/${encodeURIComponent(user.id)}`, text: user.name })),
        h("td", { text: user.email || user.phone || "" }),
        h("td", {}, select, alert),
      );
    });
    fill(table, h("table", {},
      h("thead", {}, h("tr", {}, ["name", "email", "role"].map((c) => h("th", { scope: "col", text: t(`users.col.${c}`) })))),
      h("tbody", {}, rows),
    ));
  }
  reload();
  return { refresh: () => {} };
}
