// "New ticket": title, description, category, priority; staff may name the requester. The
// ticket's channel is `web`. A 422 shows beside each field it names; the draft survives a
// reload and an expired session.
import * as api from "./api.js";
import { h, fill } from "./dom.js";
import { t, term } from "./i18n.js";
import { CATEGORIES, PRIORITIES, isStaff } from "./model.js";
import { alertArea, dropDraft, field, keepDraft, onSubmit, options } from "./forms.js";
import { fieldInputs, fieldValues, loadFields } from "./view-fields.js";

const DRAFT = "new-ticket";

export function newTicketView(main, ctx) {
  const title = h("input", { type: "text", name: "title", autocomplete: "off" });
  const description = h("textarea", { name: "description", rows: 6 });
  const category = h("select", { name: "category" }, options(CATEGORIES.map((c) => [c, term("category", c)]), "other"));
  const priority = h("select", { name: "priority" }, options(PRIORITIES.map((p) => [p, term("priority", p)]), "medium"));
  const requester = isStaff(ctx.user)
    ? h("select", { name: "requester_id" }, options([["", t("common.me")]], ""))
    : null;
  const form = h("form", { class: "card wide", novalidate: true },
    alertArea(),
    field(t("new.field.title"), title, { name: "title" }),
    field(t("new.field.description"), description, { name: "description" }),
    h("div", { class: "row" },
      field(t("new.field.category"), category, { name: "category" }),
      field(t("new.field.priority"), priority, { name: "priority" }),
      requester ? field(t("new.field.requester"), requester, { name: "requester_id" }) : null,
    ),
    h("div", { class: "custom-fields" }),
    h("button", { type: "submit", class: "primary", text: t("new.submit") }),
  );
  fill(main, h("h1", { text: t("new.title") }), form);
  // The custom fields the caller may set, once known (the form is usable before).
  let custom = [];
  loadFields().then((definitions) => {
    custom = fieldInputs(definitions);
    fill(form.querySelector(".custom-fields"), ...custom.map((c) => c.el));
  });
  keepDraft(form, DRAFT);

  if (requester) {
    api.get("/users?role=requester").then((list) => {
      const chosen = requester.value;
      requester.append(...options(list.items.filter((u) => u.id !== ctx.user.id).map((u) => [u.id, `${u.name} <${u.email}>`]), chosen));
      requester.value = chosen;
    }).catch(() => {});
  }

  onSubmit(form, async () => {
    const body = {
      title: title.value,
      description: description.value,
      category: category.value,
      priority: priority.value,
      channel: "web",
    };
    if (requester && requester.value) body.requester_id = requester.value;
    const values = fieldValues(custom, false);
    if (Object.keys(values).length) body.fields = values;
    const created = await api.post("/tickets", body);
    dropDraft(DRAFT);
    ctx.announce(t("new.created", { number: created.number }));
    ctx.navigate(`#/tickets/${created.id}`);
  });
  return {};
}
