// Ticket lists: everything (staff and auditors: GET /tickets), mine (GET /me/tickets, with
// unread markers), assigned to me. Filters, search, keyset paging ("Show more"), live.
import * as api from "./api.js";
import { h, arrange, debounce, fill, keeper } from "./dom.js";
import { t, term, date, number } from "./i18n.js";
import { CATEGORIES, PRIORITIES, STATUSES, readsAll } from "./model.js";
import { failureText, field, options } from "./forms.js";
import { parseTags, tagList } from "./view-ticket-tags.js";
import { loadFields } from "./view-fields.js";

const PAGE = 50;

export function ticketsView(main, ctx, mode) {
  const staffList = mode === "all";
  const state = { items: [], next: null, loaded: PAGE, agents: [], minPosition: ctx.heard() };
  const all = [["", t("common.all")]];
  const status = h("select", { name: "status" }, options(all.concat(STATUSES.map((s) => [s, term("status", s)])), ""));
  const priority = h("select", { name: "priority" }, options(all.concat(PRIORITIES.map((p) => [p, term("priority", p)])), ""));
  const category = h("select", { name: "category" }, options(all.concat(CATEGORIES.map((c) => [c, term("category", c)])), ""));
  const assignee = h("select", { name: "assignee_id" }, options(all, ""));
  const requester = h("select", { name: "requester_id" }, options(all, ""));
  const team = h("select", { name: "team_id" }, options(all, ""));
  const search = h("input", { type: "search", name: "q", autocomplete: "off", "aria-keyshortcuts": "/" });
  const tag = h("input", { type: "text", name: "tag", autocomplete: "off", list: "known-tags" });
  const knownTags = h("datalist", { id: "known-tags" });
  const unread = h("input", { type: "checkbox", name: "unread" });
  const filters = h(
    "form",
    { class: "filters", role: "search", onsubmit: (e) => { e.preventDefault(); reload(); } },
    field(t("list.search"), search),
    field(t("list.status"), status),
    staffList ? field(t("list.priority"), priority) : null,
    staffList ? field(t("list.category"), category) : null,
    staffList ? field(t("list.assignee"), assignee) : null,
    staffList ? field(t("list.requester"), requester) : null,
    staffList ? field(t("list.team"), team) : null,
    staffList ? field(t("list.tag"), tag) : null,
    staffList ? knownTags : null,
    staffList ? null : field(t("list.unread_only"), unread),
  );
  const results = h("div", { class: "results", "aria-live": "off" });
  const more = h("button", { type: "button", hidden: true, onclick: () => loadMore(), text: t("common.more") });
  const count = h("p", { class: "count", role: "status" });
  const title = { all: "list.title.all", mine: "list.title.mine", assigned: "list.title.assigned" }[mode];
  fill(main, h("h1", { text: t(title) }), filters, count, results, more);

  // A filter per select field (`field.<key>=option`), once the definitions are known.
  const fieldFilters = [];
  if (staffList) {
    loadFields().then((definitions) => {
      for (const d of definitions.filter((f) => f.type === "select")) {
        const select = h("select", { name: `field.${d.key}` }, options(all.concat(d.options.map((o) => [o, o])), ""));
        fieldFilters.push([d.key, select]);
        filters.append(field(d.label, select));
      }
    });
  }

  const debounced = debounce(() => reload(), 250);
  filters.addEventListener("change", () => reload());
  search.addEventListener("input", debounced);
  tag.addEventListener("input", debounced);

  function params(limit, cursor) {
    const p = { status: status.value, q: search.value.trim(), limit, cursor, min_position: state.minPosition };
    if (staffList) {
      Object.assign(p, { priority: priority.value, category: category.value, assignee_id: assignee.value, requester_id: requester.value, team_id: team.value, tag: parseTags(tag.value).join(",") });
      for (const [key, select] of fieldFilters) p[`field.${key}`] = select.value;
    }
    if (mode === "mine") p.role = "requested";
    if (mode === "assigned") p.role = "assigned";
    if (!staffList && unread.checked) p.unread = "true";
    return p;
  }
  const path = staffList ? "/tickets" : "/me/tickets";

  let generation = 0;
  async function fetchPage(limit, cursor) {
    return api.get(path + api.query(params(limit, cursor)));
  }

  async function reload() {
    const mine = ++generation;
    try {
      const page = await fetchPage(Math.min(200, Math.max(PAGE, state.loaded)));
      if (mine !== generation) return;
      state.items = page.items;
      state.next = page.next_cursor;
      draw();
    } catch (error) {
      if (mine !== generation || error.status === 401) return;
      fill(results, h("p", { class: "form-alert", role: "alert", text: failureText(error) }));
    }
  }

  async function loadMore() {
    if (!state.next) return;
    const mine = ++generation;
    try {
      const page = await fetchPage(PAGE, state.next);
      if (mine !== generation) return;
      state.items = state.items.concat(page.items);
      state.loaded = state.items.length;
      state.next = page.next_cursor;
      draw();
    } catch (error) {
      if (error.status !== 401) fill(results, h("p", { role: "alert", text: failureText(error) }));
    }
  }

  // Rows are kept while what they show is the same (see `arrange`): a live update then leaves
  // alone the row someone is clicking or has focused by keyboard.
  const head = h(
    "tr",
    {},
    ["number", "title", "status", "priority", "category", "requester", "assignee", "team", "updated"].map((c) =>
      h("th", { scope: "col", text: t(`list.col.${c}`) }),
    ),
  );
  const body = h("tbody");
  const table = h("table", { class: "tickets" }, h("thead", {}, head), body);
  const empty = h("p", { text: t("list.empty") });

  function row(item) {
    return h(
      "tr",
      { class: item.unread ? "unread" : "" },
      h("td", { class: "num", text: `#${item.number}` }),
      h(
        "td",
        { class: "title-cell" },
        h("a", { href: `#/tickets/${item.id}`, text: item.title }),
        item.unread ? h("span", { class: "badge unread-badge", text: t("common.unread") }) : null,
        item.tags && item.tags.length ? tagList(item.tags) : null,
      ),
      h("td", {}, h("span", { class: `status status-${item.status}`, text: term("status", item.status) })),
      h("td", {}, h("span", { class: `priority priority-${item.priority}`, text: term("priority", item.priority) })),
      h("td", { text: term("category", item.category) }),
      h("td", { text: item.requester ? item.requester.name : t("common.none") }),
      h("td", { text: item.assignee ? item.assignee.name : t("common.unassigned") }),
      h("td", { text: item.team ? item.team.name : t("common.none") }),
      h("td", { text: date(item.updated_at) }),
    );
  }

  const rows = keeper(row);

  function draw() {
    count.textContent = t("list.count", { count: number(state.items.length) });
    more.hidden = !state.next;
    arrange(body, state.items.map(rows.node));
    rows.done();
    arrange(results, [state.items.length ? table : empty]);
  }

  if (staffList && readsAll(ctx.user)) {
    api.get("/tags").then(
      (tags) => knownTags.append(...tags.items.map((item) => h("option", { value: item.tag, text: `${item.tag} (${number(item.count)})` }))),
      () => {},
    );
    loadAgents().then((agents) => {
      assignee.append(...options(agents.map((a) => [a.id, a.name]), ""));
    });
    api.get("/teams").then(
      (list) => team.append(...options(list.items.map((x) => [x.id, x.name]), "")),
      () => {},
    );
    // Anyone may have asked for a ticket: agents open them for themselves too.
    api.get("/users").then(
      (users) => {
        const people = users.items.slice().sort((a, b) => a.name.localeCompare(b.name));
        requester.append(...options(people.map((u) => [u.id, u.name]), ""));
      },
      () => {},
    );
  }
  reload();
  const refresh = debounce(() => reload(), 150);
  // The read models apply an event a moment after it is pushed: ask for at least its position.
  const onEvent = (event) => {
    state.minPosition = Math.max(state.minPosition || 0, event.position || 0);
    refresh();
  };
  return { refresh, onEvent };
}

/** Agents and admins: who can be assigned a ticket. */
export async function loadAgents() {
  try {
    const [agents, admins] = await Promise.all([api.get("/users?role=agent"), api.get("/users?role=admin")]);
    return agents.items.concat(admins.items).sort((a, b) => a.name.localeCompare(b.name));
  } catch {
    return [];
  }
}
