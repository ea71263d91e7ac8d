// Admins: notification channels (GET/POST /notification-channels), deleting one (DELETE
// /notification-channels/{id}). Secrets (bot token, Slack URL) are sent once and never shown.
import * as api from "./api.js";
import { h, fill } from "./dom.js";
import { t } from "./i18n.js";
import { alertArea, failureText, field, onSubmit, options } from "./forms.js";

export function channelsView(main) {
  const name = h("input", { type: "text", name: "name", autocomplete: "off" });
  const kind = h("select", { name: "kind" },
    options([["email", t("channels.kind.email")], ["telegram", t("channels.kind.telegram")], ["slack", t("channels.kind.slack")]], "email"));
  const to = h("input", { type: "text", name: "to", autocomplete: "off" });
  const toRole = h("select", { name: "to_role" }, options([
    ["", t("channels.to_role.none")],
    ["assignee", t("channels.to_role.assignee")],
    ["requester", t("channels.to_role.requester")],
    ["agents", t("channels.to_role.agents")],
  ], ""));
  const token = h("input", { type: "password", name: "bot_token", autocomplete: "off" });
  const chat = h("input", { type: "text", name: "chat_id", autocomplete: "off" });
  const slack = h("input", { type: "password", name: "webhook_url", autocomplete: "off" });
  const groups = {
    email: h("div", { class: "row" },
      field(t("channels.to"), to, { name: "config.to", hint: t("channels.to_hint") }),
      field(t("channels.to_role"), toRole, { name: "config.to_role" })),
    telegram: h("div", { class: "row" },
      field(t("channels.bot_token"), token, { name: "config.bot_token", hint: t("channels.secret_hint") }),
      field(t("channels.chat_id"), chat, { name: "config.chat_id" })),
    slack: h("div", { class: "row" },
      field(t("channels.webhook_url"), slack, { name: "config.webhook_url", hint: t("channels.secret_hint") })),
  };
  const showKind = () => {
    for (const [k, group] of Object.entries(groups)) group.hidden = k !== kind.value;
  };
  kind.addEventListener("change", showKind);
  showKind();
  const form = h("form", { class: "card", novalidate: true },
    h("h2", { text: t("channels.create") }),
    alertArea(),
    h("div", { class: "row" },
      field(t("channels.name"), name, { name: "name" }),
      field(t("channels.kind"), kind, { name: "kind" })),
    groups.email, groups.telegram, groups.slack,
    h("button", { type: "submit", class: "primary", text: t("channels.submit") }),
  );
  const status = h("p", { class: "notice", role: "status" });
  const table = h("div", { class: "channels" });
  fill(main, h("h1", { text: t("channels.title") }), status, form, table);

  onSubmit(form, async () => {
    let config;
    if (kind.value === "email") {
      config = toRole.value
        ? { to_role: toRole.value }
        : { to: to.value.split(",").map((s) => s.trim()).filter(Boolean) };
    } else if (kind.value === "telegram") {
      const id = chat.value.trim();
      config = { bot_token: token.value.trim(), chat_id: /^-?\d+$/.test(id) ? Number(id) : id };
    } else {
      config = { webhook_url: slack.value.trim() };
    }
    const created = await api.post("/notification-channels", { name: name.value, kind: kind.value, config });
    form.reset();
    showKind();
    await reload();
    status.textContent = t("channels.created", { name: created.name });
  });

  function describe(channel) {
    const c = channel.config || {};
    if (channel.kind === "email") {
      return c.to_role ? t(`channels.to_role.${c.to_role}`) : (c.to || []).join(", ");
    }
    if (channel.kind === "telegram") return t("channels.chat", { chat: String(c.chat_id ?? "") });
    return t("channels.kind.slack");
  }

  function row(channel) {
    const alert = alertArea();
    const remove = h("button", {
      type: "button",
      "aria-label": t("channels.delete", { name: channel.name }),
      text: t("webhooks.delete_short"),
    });
    remove.addEventListener("click", async () => {
      if (remove.dataset.armed !== "true") {
        remove.dataset.armed = "true";
        remove.setAttribute("aria-label", t("channels.confirm_delete", { name: channel.name }));
        remove.textContent = t("webhooks.confirm_short");
        return;
      }
      alert.hidden = true;
      try {
        await api.del(`/notification-channels/${encodeURIComponent(channel.id)}`);
        status.textContent = t("channels.deleted", { name: channel.name });
        await reload();
      } catch (error) {
        if (error.status === 401) return;
        fill(alert, h("p", { text: failureText(error) }));
        alert.hidden = false;
      }
    });
    return h("tr", {},
      h("td", { text: channel.name }),
      h("td", { text: t(`channels.kind.${channel.kind}`) }),
      h("td", { text: describe(channel) }),
      h("td", {}, remove, alert),
    );
  }

  async function reload() {
    let list;
    try {
      list = await api.get("/notification-channels");
    } catch (error) {
      if (error.status !== 401) fill(table, h("p", { role: "alert", text: failureText(error) }));
      return;
    }
    if (!list.items.length) {
      fill(table, h("p", { text: t("channels.none") }));
      return;
    }
    const columns = ["name", "kind", "target", "actions"];
    fill(table, h("table", {},
      h("thead", {}, h("tr", {}, columns.map((c) => h("th", { scope: "col", text: t(`channels.col.${c}`) })))),
      h("tbody", {}, list.items.map(row)),
    ));
  }

  reload();
  return { refresh: () => {} };
}
