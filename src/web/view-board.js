// The Kanban board (GET /board): one column per status, cards by priority then age, live.
//
// Pushed events are applied to the cards and counts on screen: the events carry what a card
// shows. The board is fetched again only when an event cannot be applied from what the screen
// holds (a ticket not shown changes column, or a shown one leaves a column with cards not shown)
// and after each (re)subscription; such fetches send the ETag held and are mostly 304s.
import * as api from "./api.js";
import { h, arrange, debounce, fill, keeper } from "./dom.js";
import { t, term, date, number } from "./i18n.js";
import { failureText, field, options } from "./forms.js";

/** Cards per column, as the server's default `limit_per_column`. */
const LIMIT = 50;
const RANK = { low: 1, medium: 2, high: 3, urgent: 4 };

/** The board's order: urgent first, then oldest first, then by id. */
function before(a, b) {
  const rank = (RANK[b.priority] || 0) - (RANK[a.priority] || 0);
  if (rank !== 0) return rank < 0;
  if (a.created_at !== b.created_at) return Date.parse(a.created_at) < Date.parse(b.created_at);
  return a.id < b.id;
}

/**
 * Applies one event to `board` in place: "changed", "same" (nothing the board shows changed), or
 * "unknown" when it cannot be applied from what the board holds (fetch the board again).
 */
export function applyEvent(board, event) {
  const id = event.subject;
  const data = event.data || {};
  const columnOf = (status) => board.columns.find((c) => c.status === status);
  const holder = board.columns.find((c) => c.cards.some((card) => card.id === id));
  const card = holder && holder.cards.find((c) => c.id === id);

  // Puts `item` in `column` if it is among the first cards; counts it in any case.
  const enter = (column, item) => {
    if (!column) return false;
    const hidden = column.count > column.cards.length;
    column.count += 1;
    let at = column.cards.findIndex((c) => before(item, c));
    if (at === -1) {
      if (hidden) return true;
      at = column.cards.length;
    }
    column.cards.splice(at, 0, item);
    if (column.cards.length > LIMIT) column.cards.pop();
    return true;
  };
  // Takes `item` out of its column; a column with cards not shown would need the next one.
  const leave = () => {
    const hidden = holder.count > holder.cards.length;
    holder.count -= 1;
    holder.cards.splice(holder.cards.indexOf(card), 1);
    return !hidden;
  };
  const move = (status) => {
    if (holder.status === status) return true;
    const complete = leave();
    return enter(columnOf(status), card) && complete;
  };

  const outcome = (applied) => (applied ? "changed" : "unknown");
  switch (event.type) {
    case "ticket.created":
      return outcome(enter(columnOf("open"), {
        id,
        number: data.number,
        title: data.title,
        priority: data.priority,
        category: data.category,
        requester: data.requester ? { id: data.requester.id, name: data.requester.name } : null,
        assignee: null,
        created_at: event.time,
        sla: { resolution_due: data.sla && data.sla.resolution_due, resolution_breached: false },
      }));
    case "ticket.commented":
    case "ticket.rated":
    case "ticket.sla_warning":
      return "same";
    case "ticket.sla_breached":
      if (!card || data.target !== "resolution") return "same";
      card.sla = { ...card.sla, resolution_breached: true };
      return "changed";
    case "ticket.updated": {
      const changes = data.changes || {};
      // A card not shown may come among the first ones with a new priority.
      if (!card) return changes.priority ? "unknown" : "same";
      if (changes.title) card.title = changes.title.to;
      if (changes.category) card.category = changes.category.to;
      if (data.sla) card.sla = { ...card.sla, resolution_due: data.sla.resolution_due };
      if (!changes.priority) return "changed";
      card.priority = changes.priority.to;
      const complete = leave();
      return outcome(enter(holder, card) && complete);
    }
    case "ticket.assigned":
      if (!card) return "unknown";
      card.assignee = data.assignee ? { id: data.assignee.id, name: data.assignee.name } : null;
      // A ticket given to a team and no one in it yet stays open.
      return outcome(move(holder.status === "open" && card.assignee ? "in_progress" : holder.status));
    case "ticket.closed":
      return card ? outcome(move("closed")) : "unknown";
    case "ticket.reopened":
      return card ? outcome(move(card.assignee ? "in_progress" : "open")) : "unknown";
    case "ticket.pending":
      return card ? outcome(move("pending")) : "unknown";
    case "ticket.resumed":
      if (!card) return "unknown";
      if (data.sla) card.sla = { ...card.sla, resolution_due: data.sla.resolution_due };
      return outcome(move(card.assignee ? "in_progress" : "open"));
    default:
      return "unknown";
  }
}

export function boardView(main, ctx) {
  const state = { minPosition: ctx.heard(), etag: "", board: null, team: "" };
  const columns = h("div", { class: "board" });
  const team = h("select", { name: "team_id" }, options([["", t("board.all_teams")]], ""));
  const filters = h("div", { class: "row filters" }, field(t("board.team"), team));
  fill(main, h("h1", { text: t("board.title") }), filters, columns);
  api.get("/teams").then(
    (list) => fill(team, ...options([["", t("board.all_teams")], ...list.items.map((x) => [x.id, x.name])], state.team)),
    () => {},
  );
  team.addEventListener("change", () => {
    state.team = team.value;
    state.board = null;
    state.etag = "";
    reload();
  });

  let generation = 0;
  let loading = false;
  async function reload() {
    const mine = ++generation;
    loading = true;
    try {
      const answer = await api.getIfChanged(
        `/board${api.query({ min_position: state.minPosition, team_id: state.team || undefined })}`,
        state.board ? state.etag : "",
      );
      if (mine !== generation) return;
      loading = false;
      if (!answer.unchanged) {
        state.board = answer.body;
        state.etag = answer.etag || "";
      }
      draw(state.board);
    } catch (error) {
      if (mine !== generation || error.status === 401) return;
      loading = false;
      fill(columns, h("p", { class: "form-alert", role: "alert", text: failureText(error) }));
    }
  }

  function card(c) {
    return h(
      "li",
      { class: `card-item priority-edge-${c.priority}` },
      h("article", { class: "ticket-card", "aria-label": `#${c.number} ${c.title}` },
        h("p", { class: "card-top" },
          h("span", { class: "num", text: `#${c.number}` }),
          h("span", { class: `priority priority-${c.priority}`, text: term("priority", c.priority) }),
        ),
        h("h3", { class: "card-title" }, h("a", { href: `#/tickets/${c.id}`, text: c.title })),
        h("p", { class: "card-meta", text: `${term("category", c.category)} · ${c.requester ? c.requester.name : ""}` }),
        c.channel ? h("p", { class: "card-meta channel", text: t("board.channel", { channel: term("channel", c.channel) }) }) : null,
        h("p", { class: "card-meta", text: c.assignee ? c.assignee.name : t("common.unassigned") }),
        c.sla && c.sla.resolution_breached
          ? h("p", { class: "breached", text: t("board.breached") })
          : c.sla && c.sla.resolution_due
            ? h("p", { class: "card-meta", text: t("board.due", { time: date(c.sla.resolution_due) }) })
            : null,
      ),
    );
  }

  // Drawn nodes are kept while what they show is the same (see `arrange`): a card by its id and
  // content, a column by its status.
  const cards = keeper(card);
  const sections = new Map();

  function section(status) {
    let s = sections.get(status);
    if (!s) {
      const headingId = `col-${status}`;
      const heading = h("h2", { id: headingId });
      s = {
        heading,
        list: h("ul", { class: "cards" }),
        empty: h("p", { class: "empty", text: t("board.empty") }),
        el: h("section", { class: `column column-${status}`, "aria-labelledby": headingId }, heading),
      };
      sections.set(status, s);
    }
    return s;
  }

  function draw(board) {
    const shown = board.columns.map((column) => {
      const s = section(column.status);
      const text = t("board.column", { status: term("status", column.status), count: number(column.count) });
      if (s.heading.textContent !== text) s.heading.textContent = text;
      arrange(s.list, column.cards.map(cards.node));
      arrange(s.el, [s.heading, column.cards.length ? s.list : s.empty]);
      return s.el;
    });
    cards.done();
    arrange(columns, shown);
  }

  reload();
  const refresh = debounce(() => reload(), 150);
  return {
    refresh,
    onEvent: (event) => {
      state.minPosition = Math.max(state.minPosition || 0, event.position || 0);
      // An answer on its way may predate the event: ask again, for one that reflects it.
      // Events do not say which team a ticket has (only ticket.assigned does): a team's board
      // is asked again, mostly answered 304.
      if (loading || !state.board || state.team) {
        refresh();
        return;
      }
      // What is on screen stays the answer the ETag names plus events: while the server's
      // answer is unchanged (304), so is the board these events made.
      const outcome = applyEvent(state.board, event);
      if (outcome === "changed") draw(state.board);
      else if (outcome === "unknown") refresh();
    },
  };
}
