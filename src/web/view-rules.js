// Admins: automation rules (GET/POST /rules), enabling, disabling and deleting one (PATCH and
// DELETE /rules/{id}), with the failures each recorded. The form makes a rule of one action;
// the API takes several.
import * as api from "./api.js";
import { h, fill } from "./dom.js";
import { t, date } from "./i18n.js";
import { alertArea, failureText, field, onSubmit, options } from "./forms.js";

const PRIORITIES = ["low", "medium", "high", "urgent"];
const list = (text) => text.split(",").map((s) => s.trim()).filter(Boolean);

export function rulesView(main) {
  const name = h("input", { type: "text", name: "name", autocomplete: "off" });
  const types = h("input", { type: "text", name: "event_types", autocomplete: "off", value: "ticket.created" });
  const priority = h("input", { type: "text", name: "priority", autocomplete: "off" });
  const category = h("input", { type: "text", name: "category", autocomplete: "off" });
  const tags = h("input", { type: "text", name: "tags", autocomplete: "off" });
  const team = h("select", { name: "team_id" });
  const action = h("select", { name: "action" }, options([
    ["notify", t("rules.action.notify")],
    ["assign", t("rules.action.assign")],
    ["set_priority", t("rules.action.set_priority")],
    ["add_tags", t("rules.action.add_tags")],
    ["comment", t("rules.action.comment")],
  ], "notify"));
  const channel = h("select", { name: "notify" });
  const template = h("textarea", { name: "template", rows: 3 });
  const assignee = h("select", { name: "assign" });
  const newPriority = h("select", { name: "set_priority" }, options(PRIORITIES.map((p) => [p, t(`priority.${p}`)]), "high"));
  const addTags = h("input", { type: "text", name: "add_tags", autocomplete: "off" });
  const comment = h("textarea", { name: "comment", rows: 3 });
  const groups = {
    notify: h("div", { class: "row" },
      field(t("rules.channel"), channel, { name: "then.0.notify" }),
      field(t("rules.template"), template, { name: "then.0.template", hint: t("rules.template_hint") })),
    assign: h("div", { class: "row" }, field(t("rules.assignee"), assignee, { name: "then.0.assign" })),
    set_priority: h("div", { class: "row" }, field(t("rules.new_priority"), newPriority, { name: "then.0.set_priority" })),
    add_tags: h("div", { class: "row" },
      field(t("rules.add_tags"), addTags, { name: "then.0.add_tags", hint: t("rules.tags_hint") })),
    comment: h("div", { class: "row" },
      field(t("rules.comment"), comment, { name: "then.0.comment", hint: t("rules.template_hint") })),
  };
  const showAction = () => {
    for (const [k, group] of Object.entries(groups)) group.hidden = k !== action.value;
  };
  action.addEventListener("change", showAction);
  showAction();
  const form = h("form", { class: "card", novalidate: true },
    h("h2", { text: t("rules.create") }),
    alertArea(),
    h("div", { class: "row" },
      field(t("rules.name"), name, { name: "name" }),
      field(t("rules.event_types"), types, { name: "when.event_types", hint: t("webhooks.event_types_hint") })),
    h("div", { class: "row" },
      field(t("rules.priority"), priority, { name: "when.priority", hint: t("rules.list_hint") }),
      field(t("rules.category"), category, { name: "when.category", hint: t("rules.list_hint") })),
    h("div", { class: "row" },
      field(t("rules.tags"), tags, { name: "when.tags", hint: t("rules.list_hint") }),
      field(t("rules.team"), team, { name: "when.team_id" })),
    h("div", { class: "row" }, field(t("rules.action"), action, { name: "then" })),
    groups.notify, groups.assign, groups.set_priority, groups.add_tags, groups.comment,
    h("button", { type: "submit", class: "primary", text: t("rules.submit") }),
  );
  const status = h("p", { class: "notice", role: "status" });
  const table = h("div", { class: "rules" });
  fill(main, h("h1", { text: t("rules.title") }), status, form, table);

  onSubmit(form, async () => {
    const when = { event_types: list(types.value) };
    if (list(priority.value).length) when.priority = list(priority.value);
    if (list(category.value).length) when.category = list(category.value);
    if (list(tags.value).length) when.tags = list(tags.value);
    if (team.value) when.team_id = team.value;
    let step;
    if (action.value === "notify") {
      step = { notify: channel.value };
      if (template.value.trim()) step.template = template.value;
    } else if (action.value === "assign") step = { assign: assignee.value };
    else if (action.value === "set_priority") step = { set_priority: newPriority.value };
    else if (action.value === "add_tags") step = { add_tags: list(addTags.value) };
    else step = { comment: comment.value, internal: true };
    const created = await api.post("/rules", { name: name.value, when, then: [step] });
    form.reset();
    types.value = "ticket.created";
    showAction();
    await reload();
    status.textContent = t("rules.created", { name: created.name });
  });

  function describeAction(step) {
    if (step.notify) return t("rules.does.notify");
    if (step.assign) return t("rules.does.assign");
    if (step.set_priority) return t("rules.does.set_priority", { priority: t(`priority.${step.set_priority}`) });
    if (step.add_tags) return t("rules.does.add_tags", { tags: step.add_tags.join(", ") });
    return t("rules.does.comment", { text: step.comment });
  }

  function row(rule) {
    const alert = alertArea();
    const toggle = h("button", {
      type: "button",
      "aria-label": t(rule.enabled ? "rules.disable" : "rules.enable", { name: rule.name }),
      text: t(rule.enabled ? "webhooks.disable_short" : "webhooks.enable_short"),
      onclick: async () => {
        alert.hidden = true;
        try {
          const changed = await api.patch(`/rules/${encodeURIComponent(rule.id)}`, { enabled: !rule.enabled });
          // Announced once the table is redrawn, so that what the message names is on screen.
          await reload();
          status.textContent = t(changed.enabled ? "rules.now_enabled" : "rules.now_disabled", { name: changed.name });
        } catch (error) {
          if (error.status === 401) return;
          fill(alert, h("p", { text: failureText(error) }));
          alert.hidden = false;
        }
      },
    });
    const remove = h("button", {
      type: "button",
      "aria-label": t("rules.delete", { name: rule.name }),
      text: t("webhooks.delete_short"),
    });
    remove.addEventListener("click", async () => {
      if (remove.dataset.armed !== "true") {
        remove.dataset.armed = "true";
        remove.setAttribute("aria-label", t("rules.confirm_delete", { name: rule.name }));
        remove.textContent = t("webhooks.confirm_short");
        return;
      }
      try {
        await api.del(`/rules/${encodeURIComponent(rule.id)}`);
        status.textContent = t("rules.deleted", { name: rule.name });
        await reload();
      } catch (error) {
        if (error.status === 401) return;
        fill(alert, h("p", { text: failureText(error) }));
        alert.hidden = false;
      }
    });
    const failures = rule.failures.length
      ? h("ul", { class: "hint" }, rule.failures.slice(0, 5).map((f) =>
        h("li", { text: t("rules.failure", { at: date(f.failed_at), error: f.error }) })))
      : t("common.none");
    return h("tr", {},
      h("td", { text: rule.name }),
      h("td", { text: rule.when.event_types.join(", ") }),
      h("td", { text: rule.then.map(describeAction).join("; ") }),
      h("td", { text: t(rule.enabled ? "webhooks.status.enabled" : "webhooks.status.disabled") }),
      h("td", {}, failures),
      h("td", {}, toggle, " ", remove, alert),
    );
  }

  async function reload() {
    let rules, channels, staff, teams;
    try {
      [rules, channels, staff, teams] = await Promise.all([
        api.get("/rules"),
        api.get("/notification-channels"),
        api.get(`/users${api.query({ role: "agent" })}`),
        api.get("/teams"),
      ]);
    } catch (error) {
      if (error.status !== 401) fill(table, h("p", { role: "alert", text: failureText(error) }));
      return;
    }
    fill(channel, options(channels.items.map((c) => [c.id, c.name]), channel.value));
    fill(team, options([["", t("rules.any_team")], ...teams.items.map((m) => [m.id, m.name])], team.value));
    fill(assignee, options(staff.items.filter((u) => u.active !== false).map((u) => [u.id, u.name]), assignee.value));
    if (!rules.items.length) {
      fill(table, h("p", { text: t("rules.none") }));
      return;
    }
    const columns = ["name", "events", "actions_taken", "status", "failures", "actions"];
    fill(table, h("table", {},
      h("thead", {}, h("tr", {}, columns.map((c) => h("th", { scope: "col", text: t(`rules.col.${c}`) })))),
      h("tbody", {}, rules.items.map(row)),
    ));
  }

  reload();
  return { refresh: () => {} };
}
