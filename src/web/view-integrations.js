// Admins: integrations (other systems that open tickets through /intake/*): create one and see
// its key once, list them, revoke one at once.
import * as api from "./api.js";
import { h, fill } from "./dom.js";
import { t, term } from "./i18n.js";
import { CATEGORIES, PRIORITIES } from "./model.js";
import { alertArea, failureText, field, onSubmit, options } from "./forms.js";

const CHANNELS = ["web", "email", "chat", "api", "phone"];

export function integrationsView(main) {
  const name = h("input", { type: "text", name: "name", autocomplete: "off" });
  const channel = h("select", { name: "channel" }, options(CHANNELS.map((c) => [c, term("channel", c)]), "web"));
  const category = h("select", { name: "default_category" },
    options([["", t("integrations.none")], ...CATEGORIES.map((c) => [c, term("category", c)])], ""));
  const priority = h("select", { name: "default_priority" },
    options([["", t("integrations.none")], ...PRIORITIES.map((p) => [p, term("priority", p)])], ""));
  const form = h("form", { class: "card", novalidate: true },
    h("h2", { text: t("integrations.create") }),
    alertArea(),
    h("div", { class: "row" },
      field(t("integrations.name"), name, { name: "name" }),
      field(t("integrations.channel"), channel, { name: "channel" }),
      field(t("integrations.default_category"), category, { name: "default_category" }),
      field(t("integrations.default_priority"), priority, { name: "default_priority" }),
    ),
    h("button", { type: "submit", class: "primary", text: t("integrations.submit") }),
  );
  // The key is shown here once, as the engine keeps only its hash.
  const created = h("div", { class: "notice", role: "status" });
  const table = h("div", { class: "integrations" });
  fill(main, h("h1", { text: t("integrations.title") }), created, form, table);

  onSubmit(form, async () => {
    const body = { name: name.value, channel: channel.value };
    if (category.value) body.default_category = category.value;
    if (priority.value) body.default_priority = priority.value;
    const integration = await api.post("/integrations", body);
    const key = h("input", { type: "text", readonly: true, value: integration.key, class: "key" });
    fill(created,
      h("p", { text: t("integrations.created", { name: integration.name }) }),
      field(t("integrations.key"), key, { hint: t("integrations.key_hint") }),
    );
    form.reset();
    await reload();
  });

  async function revoke(integration, alert) {
    alert.hidden = true;
    try {
      await api.del(`/integrations/${encodeURIComponent(integration.id)}`);
      fill(created, h("p", { text: t("integrations.revoked", { name: integration.name }) }));
      await reload();
    } catch (error) {
      if (error.status === 401) return;
      fill(alert, h("p", { text: failureText(error) }));
      alert.hidden = false;
    }
  }

  async function reload() {
    let list;
    try {
      list = await api.get("/integrations");
    } catch (error) {
      if (error.status !== 401) fill(table, h("p", { role: "alert", text: failureText(error) }));
      return;
    }
    if (!list.items.length) {
      fill(table, h("p", { text: t("integrations.empty") }));
      return;
    }
    const rows = list.items.map((integration) => {
      const alert = alertArea();
      const button = h("button", {
        type: "button",
        text: t("integrations.revoke"),
        "aria-label": t("integrations.revoke_named", { name: integration.name }),
        onclick: () => revoke(integration, alert),
      });
      return h("tr", {},
        h("td", { text: integration.name }),
        h("td", { text: term("channel", integration.channel) }),
        h("td", {}, button, alert),
      );
    });
    fill(table, h("table", {},
      h("thead", {}, h("tr", {}, ["name", "channel", "actions"].map((c) => h("th", { scope: "col", text: t(`integrations.col.${c}`) })))),
      h("tbody", {}, rows),
    ));
  }
  reload();
  return { refresh: () => {} };
}
