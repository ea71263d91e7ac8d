// Admins: one user: contacts, state, tickets by status and channels; change name, email,
// phone and active; merge a duplicate into another user.
import * as api from "./api.js";
import { h, fill } from "./dom.js";
import { t, term, number } from "./i18n.js";
import { alertArea, field, onSubmit, options } from "./forms.js";

export function userView(main, ctx, id) {
  const heading = h("h1", { text: t("common.loading") });
  const status = h("p", { class: "notice", role: "status" });
  const summary = h("section", { class: "details", "aria-labelledby": "user-summary" });
  const name = h("input", { type: "text", name: "name", autocomplete: "off" });
  const email = h("input", { type: "email", name: "email", autocomplete: "off" });
  const phone = h("input", { type: "tel", name: "phone", autocomplete: "off" });
  const active = h("input", { type: "checkbox", name: "active" });
  const edit = h("form", { class: "card", novalidate: true },
    h("h2", { text: t("user.edit") }),
    alertArea(),
    h("div", { class: "row" },
      field(t("user.name"), name, { name: "name" }),
      field(t("user.email"), email, { name: "email" }),
      field(t("user.phone"), phone, { name: "phone", hint: t("user.phone_hint") }),
      field(t("user.active"), active, { name: "active" }),
    ),
    h("button", { type: "submit", class: "primary", text: t("user.save") }),
  );
  const into = h("select", { name: "into" });
  const merge = h("form", { class: "card", novalidate: true },
    h("h2", { text: t("user.merge_title") }),
    alertArea(),
    field(t("user.merge_into"), into, { name: "into", hint: t("user.merge_hint") }),
    h("button", { type: "submit", text: t("user.merge") }),
  );
  fill(main, heading, status, summary, edit, merge);

  let current = null;
  onSubmit(edit, async () => {
    const body = {};
    if (name.value !== current.name) body.name = name.value;
    if (email.value && email.value !== (current.email || "")) body.email = email.value;
    if (phone.value && phone.value !== (current.phone || "")) body.phone = phone.value;
    if (active.checked !== current.active) body.active = active.checked;
    const changed = await api.patch(`/users/${encodeURIComponent(id)}`, body);
    status.textContent = t("user.saved", { name: changed.name });
    await reload();
  });
  onSubmit(merge, async () => {
    const kept = await api.post(`/users/${encodeURIComponent(id)}/merge`, { into: into.value });
    status.textContent = t("user.merged", { name: current.name, into: kept.name });
    await reload();
  });

  async function reload() {
    let user;
    let all;
    try {
      [user, all] = await Promise.all([api.get(`/users/${encodeURIComponent(id)}`), api.get("/users")]);
    } catch (error) {
      if (error.status !== 401) heading.textContent = error.message;
      return;
    }
    current = user;
    heading.textContent = user.name;
    name.value = user.name;
    email.value = user.email || "";
    phone.value = user.phone || "";
    active.checked = user.active;
    const row = (label, value) => [h("dt", { text: label }), h("dd", {}, value)];
    const counts = ["open", "in_progress", "pending", "closed"]
      .map((s) => `${term("status", s)}: ${number(user.tickets[s])}`)
      .join(" · ");
    fill(summary,
      h("h2", { id: "user-summary", class: "visually-hidden", text: t("user.details") }),
      h("dl", { class: "meta" },
        row(t("user.email"), user.email || t("common.none")),
        row(t("user.phone"), user.phone || t("common.none")),
        row(t("user.role"), term("role", user.role)),
        row(t("user.state"), user.active ? t("user.is_active") : t("user.is_inactive")),
        row(t("user.login"), user.login ? t("user.login_yes") : t("user.login_no")),
        row(t("user.tickets"), `${number(user.tickets.total)} (${counts})`),
        row(t("user.channels"), user.channels.length ? user.channels.map((c) => term("channel", c)).join(", ") : t("common.none")),
      ),
    );
    const others = all.items.filter((u) => u.id !== id && !u.merged_into);
    fill(into, options(others.map((u) => [u.id, u.email ? `${u.name} <${u.email}>` : u.name]), null));
    merge.hidden = Boolean(user.merged_into) || !others.length;
  }
  reload();
  return { refresh: () => {} };
}
