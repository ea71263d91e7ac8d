// Admins: SLA policies per priority (CONTRACT 9): the four priorities' targets and calendars
// (GET /sla-policies), and a form that replaces one priority's policy
// (PUT /sla-policies/{priority}): first response, next response, resolution, calendar.
import * as api from "./api.js";
import { h, fill } from "./dom.js";
import { t, term } from "./i18n.js";
import { alertArea, failureText, field, onSubmit, options } from "./forms.js";

const PRIORITIES = ["urgent", "high", "medium", "low"];

export function slaView(main) {
  const priority = h("select", { name: "priority" }, options(PRIORITIES.map((p) => [p, term("priority", p)]), "urgent"));
  const first = h("input", { type: "text", name: "first_response", autocomplete: "off" });
  const next = h("input", { type: "text", name: "next_response", autocomplete: "off" });
  const resolution = h("input", { type: "text", name: "resolution", autocomplete: "off" });
  const calendar = h("select", { name: "calendar_id" }, options([["", t("sla.default_calendar")]], ""));
  const form = h("form", { class: "card", novalidate: true },
    h("h2", { text: t("sla.edit") }),
    alertArea(),
    field(t("sla.priority"), priority, { name: "priority" }),
    h("p", { class: "hint", text: t("sla.durations_hint") }),
    h("div", { class: "row" },
      field(t("sla.first_response"), first, { name: "first_response" }),
      field(t("sla.next_response"), next, { name: "next_response", hint: t("sla.optional") }),
      field(t("sla.resolution"), resolution, { name: "resolution" }),
    ),
    field(t("sla.calendar"), calendar, { name: "calendar_id" }),
    h("button", { type: "submit", class: "primary", text: t("sla.submit") }),
  );
  const status = h("p", { class: "notice", role: "status" });
  const table = h("div", { class: "sla-policies" });
  fill(main, h("h1", { text: t("sla.title") }), status, form, table);
  let policies = new Map();
  let calendars = [];

  function show(p) {
    const policy = policies.get(p);
    first.value = policy ? policy.first_response : "";
    next.value = policy && policy.next_response ? policy.next_response : "";
    resolution.value = policy ? policy.resolution : "";
    calendar.value = policy && policy.calendar_id ? policy.calendar_id : "";
  }
  priority.addEventListener("change", () => show(priority.value));

  onSubmit(form, async () => {
    const body = { first_response: first.value.trim(), resolution: resolution.value.trim() };
    if (next.value.trim()) body.next_response = next.value.trim();
    if (calendar.value) body.calendar_id = calendar.value;
    const saved = await api.request("PUT", `/sla-policies/${encodeURIComponent(priority.value)}`, body);
    status.textContent = t("sla.saved", { priority: term("priority", saved.priority) });
    await reload();
  });

  const calendarName = (id) => {
    if (!id) return t("sla.default_calendar");
    const found = calendars.find((c) => c.id === id);
    return found ? found.name : id;
  };

  async function reload() {
    let list;
    try {
      [list, { items: calendars }] = await Promise.all([api.get("/sla-policies"), api.get("/calendars")]);
    } catch (error) {
      if (error.status !== 401) fill(table, h("p", { role: "alert", text: failureText(error) }));
      return;
    }
    policies = new Map(list.items.map((p) => [p.priority, p]));
    const chosen = calendar.value;
    fill(calendar, options([["", t("sla.default_calendar")], ...calendars.map((c) => [c.id, c.name])], chosen));
    show(priority.value);
    const rows = PRIORITIES.map((p) => {
      const policy = policies.get(p);
      const cell = (value) => h("td", { text: value || t("common.none") });
      return h("tr", {},
        h("th", { scope: "row", text: term("priority", p) }),
        policy
          ? [cell(policy.first_response), cell(policy.next_response), cell(policy.resolution), cell(calendarName(policy.calendar_id))]
          : h("td", { colspan: 4, text: t("sla.configured") }),
      );
    });
    fill(table, h("table", {},
      h("caption", { text: t("sla.list") }),
      h("thead", {}, h("tr", {}, ["priority", "first_response", "next_response", "resolution", "calendar"].map((c) => h("th", { scope: "col", text: t(`sla.col.${c}`) })))),
      h("tbody", {}, rows),
    ));
  }
  reload();
  return { refresh: () => {} };
}
