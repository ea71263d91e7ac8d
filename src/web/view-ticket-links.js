// Links and merges on a ticket: its links (each named by the other ticket's number and title),
// the ticket it was merged into, and for agents and admins the forms that link, unlink and
// merge. Other tickets are found by their number, as people name them (#42).
import * as api from "./api.js";
import { h } from "./dom.js";
import { t, term } from "./i18n.js";
import { alertArea, field, onSubmit, options } from "./forms.js";

export const LINK_KINDS = ["related", "duplicate_of", "parent_of", "child_of"];

/** The other ticket's `#number title`, or its id while it loads (or when it cannot be read). */
function ticketLink(id, onNamed) {
  const a = h("a", { href: `#/tickets/${id}`, text: id });
  api.get(`/tickets/${encodeURIComponent(id)}`).then(
    (other) => {
      a.textContent = `#${other.number} ${other.title}`;
      if (onNamed) onNamed(`#${other.number}`);
    },
    () => {},
  );
  return a;
}

/**
 * The links as a list; `unlink(id)` (staff only) removes one. A requester is never shown a
 * link to a ticket that is not theirs: the engine leaves those out.
 */
export function linkList(ticket, unlink) {
  if (!ticket.links || !ticket.links.length) return t("links.none");
  return h("ul", { class: "links" }, ticket.links.map((link) => {
    const button = unlink
      ? h("button", {
          type: "button",
          class: "link-button",
          "aria-label": t("links.unlink_named", { ticket: link.ticket_id }),
          text: t("links.unlink"),
          onclick: () => unlink(link.ticket_id),
        })
      : null;
    const other = ticketLink(link.ticket_id, (name) => {
      if (button) button.setAttribute("aria-label", t("links.unlink_named", { ticket: name }));
    });
    return h("li", {}, `${term("link", link.kind)} `, other, button ? " " : null, button);
  }));
}

/** The ticket this one was merged into, as a link. */
export function mergedInto(ticket) {
  return ticket.merged_into ? ticketLink(ticket.merged_into) : null;
}

/** The id of the ticket numbered `text` (`42` or `#42`); a failing field otherwise. */
async function findByNumber(text) {
  const number = Number(String(text).trim().replace(/^#/, ""));
  if (!Number.isInteger(number) || number < 1) return null;
  const page = await api.get(`/tickets${api.query({ number, limit: 1 })}`);
  return page.items.length ? page.items[0].id : null;
}

/** A failure named after a field, shown beside it like the engine's 422s. */
function fieldFailure(name, message) {
  const error = new api.ApiError(422, { title: message, errors: [{ field: name, message }] });
  return error;
}

/** The form that links this ticket to another: `send(body, form)` posts it. */
export function linkForm(send) {
  const kind = h("select", { name: "kind" }, options(LINK_KINDS.map((k) => [k, term("link", k)]), "related"));
  const other = h("input", { type: "text", name: "ticket_id", autocomplete: "off", inputmode: "numeric" });
  const form = h("form", { class: "card", novalidate: true },
    h("h3", { text: t("links.title") }),
    field(t("links.kind"), kind, { name: "kind" }),
    field(t("links.other"), other, { name: "ticket_id", hint: t("links.other_hint") }),
    alertArea(),
    h("button", { type: "submit", text: t("links.link") }),
  );
  onSubmit(form, async () => {
    const id = await findByNumber(other.value);
    if (!id) throw fieldFailure("ticket_id", t("links.no_such_ticket"));
    await send({ kind: kind.value, ticket_id: id }, form);
    other.value = "";
  });
  return form;
}

/** The form that merges this ticket into another: `send(body, form)` posts it. */
export function mergeForm(send) {
  const into = h("input", { type: "text", name: "into", autocomplete: "off", inputmode: "numeric" });
  const form = h("form", { class: "card", novalidate: true },
    field(t("links.merge_into"), into, { name: "into", hint: t("links.merge_hint") }),
    alertArea(),
    h("button", { type: "submit", text: t("links.merge") }),
  );
  onSubmit(form, async () => {
    const id = await findByNumber(into.value);
    if (!id) throw fieldFailure("into", t("links.no_such_ticket"));
    await send({ into: id }, form);
  });
  return form;
}

/** A history line for link and merge events. */
export function linkLine(event) {
  const data = event.data || {};
  if (event.type === "ticket.linked") return t("links.linked", { kind: term("link", data.kind), ticket: data.ticket_id });
  if (event.type === "ticket.unlinked") return t("links.unlinked", { kind: term("link", data.kind), ticket: data.ticket_id });
  if (event.type === "ticket.merged") return t("links.merged", { ticket: data.into });
  if (event.type === "ticket.merged_from") return t("links.merged_from", { number: data.number });
  return null;
}
