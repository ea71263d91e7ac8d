// Tags on a ticket: shown to everyone who reads it, edited by agents and admins as one field
// of words (PUT /tickets/{id}/tags replaces the whole set, so the field is the set).
import { h } from "./dom.js";
import { t } from "./i18n.js";
import { alertArea, field, onSubmit } from "./forms.js";

/** The tags as a list, or words saying there are none. */
export function tagList(tags) {
  if (!tags || !tags.length) return t("tags.none");
  return h("ul", { class: "tags", "aria-label": t("tags.label") }, tags.map((tag) => h("li", { class: "tag", text: tag })));
}

/** Words separated by spaces or commas; the engine checks each. */
export function parseTags(text) {
  return text.split(/[\s,]+/).filter(Boolean);
}

/**
 * The form that edits the set; `save(tags, form)` sends it. The engine names a failing tag by
 * its index (`tags.2`): shown beside the one field, with the tag it is about.
 */
export function tagsForm(ticket, save) {
  const input = h("input", { type: "text", name: "tags", value: (ticket.tags || []).join(" "), autocomplete: "off" });
  const form = h("form", { class: "card", novalidate: true },
    field(t("tags.label"), input, { name: "tags", hint: t("tags.hint") }),
    alertArea(),
    h("button", { type: "submit", text: t("tags.save") }),
  );
  // Live updates leave a set being edited alone until it is saved.
  input.addEventListener("input", () => {
    input.dataset.dirty = "1";
  });
  onSubmit(form, async () => {
    const tags = parseTags(input.value);
    try {
      await save(tags, form);
    } catch (error) {
      if (error && error.problem && Array.isArray(error.problem.errors)) {
        error.problem.errors = error.problem.errors.map((e) => {
          const match = /^tags\.(\d+)$/.exec(String(e.field));
          return match ? { field: "tags", message: `${tags[Number(match[1])]}: ${e.message}` } : e;
        });
      }
      throw error;
    }
    delete input.dataset.dirty;
  });
  return { form, input };
}

/** A history line for `ticket.tagged`: `+added −removed`. */
export function taggedLine(data) {
  const added = (data.added || []).map((tag) => `+${tag}`);
  const removed = (data.removed || []).map((tag) => `−${tag}`);
  return t("tags.changed", { changes: added.concat(removed).join(" ") });
}
