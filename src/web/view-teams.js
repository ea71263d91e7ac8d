// Admins: teams (GET /teams), creating one with its first member (POST /teams), adding a
// member to a team (POST /teams/{id}/members).
import * as api from "./api.js";
import { h, fill } from "./dom.js";
import { t, number } from "./i18n.js";
import { alertArea, failureText, field, onSubmit, options } from "./forms.js";

/** Agents and admins, who work on tickets, as `[id, name]` pairs. */
async function staff() {
  const [agents, admins] = await Promise.all([api.get("/users?role=agent"), api.get("/users?role=admin")]);
  return [...agents.items, ...admins.items].map((u) => [u.id, u.name]);
}

export function teamsView(main) {
  const name = h("input", { type: "text", name: "name", autocomplete: "off" });
  const member = h("select", { name: "members" }, options([["", t("teams.nobody")]], ""));
  const form = h("form", { class: "card", novalidate: true },
    h("h2", { text: t("teams.create") }),
    alertArea(),
    h("div", { class: "row" },
      field(t("teams.name"), name, { name: "name" }),
      field(t("teams.first_member"), member, { name: "members" }),
    ),
    h("button", { type: "submit", class: "primary", text: t("teams.submit") }),
  );
  const status = h("p", { class: "notice", role: "status" });
  const table = h("div", { class: "teams" });
  fill(main, h("h1", { text: t("teams.title") }), status, form, table);
  let people = [];

  onSubmit(form, async () => {
    const body = { name: name.value, members: member.value ? [member.value] : [] };
    const team = await api.post("/teams", body);
    status.textContent = t("teams.created", { name: team.name });
    form.reset();
    await reload();
  });

  async function add(team, select, alert) {
    alert.hidden = true;
    try {
      const changed = await api.post(`/teams/${encodeURIComponent(team.id)}/members`, { members: [select.value] });
      status.textContent = t("teams.added", { name: changed.team.name, count: number(changed.team.member_count) });
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
      [list, people] = await Promise.all([api.get("/teams"), people.length ? people : staff()]);
    } catch (error) {
      if (error.status !== 401) fill(table, h("p", { role: "alert", text: failureText(error) }));
      return;
    }
    fill(member, options([["", t("teams.nobody")], ...people], member.value));
    const rows = list.items.map((team) => {
      const alert = alertArea();
      const select = h("select", { "aria-label": t("teams.member_for", { name: team.name }) }, options(people, ""));
      const button = h("button", { type: "button", text: t("teams.add"), "aria-label": t("teams.add_to", { name: team.name }) });
      button.addEventListener("click", () => add(team, select, alert));
      return h("tr", {},
        h("td", { text: team.name }),
        h("td", { text: number(team.member_count) }),
        h("td", {}, select, button, alert),
      );
    });
    fill(table, h("table", {},
      h("thead", {}, h("tr", {}, ["name", "members", "add"].map((c) => h("th", { scope: "col", text: t(`teams.col.${c}`) })))),
      h("tbody", {}, rows),
    ));
  }
  reload();
  return { refresh: () => {} };
}
