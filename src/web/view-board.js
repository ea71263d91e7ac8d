// The Kanban board (GET /board): one column per status, cards by priority then age, live.
import * as api from "./api.js";
import { h, debounce, fill } from "./dom.js";
import { t, term, date, number } from "./i18n.js";
import { failureText } from "./forms.js";

export function boardView(main, ctx) {
  const state = { minPosition: null };
  const columns = h("div", { class: "board" });
  fill(main, h("h1", { text: t("board.title") }), columns);

  let generation = 0;
  async function reload() {
    const mine = ++generation;
    try {
      const board = await api.get(`/board${api.query({ min_position: state.minPosition })}`);
      if (mine !== generation) return;
      draw(board);
    } catch (error) {
      if (mine !== generation || error.status === 401) return;
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

  function draw(board) {
    const sections = board.columns.map((column) => {
      const headingId = `col-${column.status}`;
      return h(
        "section",
        { class: `column column-${column.status}`, "aria-labelledby": headingId },
        h("h2", { id: headingId, text: t("board.column", { status: term("status", column.status), count: number(column.count) }) }),
        column.cards.length
          ? h("ul", { class: "cards" }, column.cards.map(card))
          : h("p", { class: "empty", text: t("board.empty") }),
      );
    });
    fill(columns, ...sections);
  }

  reload();
  const refresh = debounce(() => reload(), 150);
  return {
    refresh,
    onEvent: (event) => {
      state.minPosition = Math.max(state.minPosition || 0, event.position || 0);
      refresh();
    },
  };
}
