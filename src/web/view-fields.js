// Custom fields: the admin page that defines them (GET/POST /fields), and the controls that
// show and set a ticket's values (the new-ticket form, the ticket page). A control's `name` is
// `fields.<key>`, so a 422 naming that field shows beside it.
import * as api from "./api.js";
import { h, fill } from "./dom.js";
import { t } from "./i18n.js";
import { alertArea, field, onSubmit, options } from "./forms.js";

const TYPES = ["text", "number", "select", "date", "user"];

/** The current definitions the caller may see; none when they cannot be read. */
export async function loadFields() {
  try {
    return (await api.get("/fields")).items;
  } catch (error) {
    return [];
  }
}

/** One input per definition, holding `values`; read them back with `fieldValues`. */
export function fieldInputs(definitions, values = {}) {
  return definitions.map((d) => {
    const current = values[d.key] == null ? "" : String(values[d.key]);
    let input;
    if (d.type === "select") {
      input = h("select", { name: `fields.${d.key}` }, options([["", t("fields.unset")]].concat(d.options.map((o) => [o, o])), current));
    } else {
      const type = d.type === "number" ? "number" : d.type === "date" ? "date" : "text";
      input = h("input", { type, name: `fields.${d.key}`, value: current, autocomplete: "off", step: d.type === "number" ? "any" : null });
    }
    input.dataset.key = d.key;
    input.dataset.type = d.type;
    return { definition: d, input, el: field(d.label, input, { name: `fields.${d.key}` }) };
  });
}

/**
 * The values of `inputs` as a request sends them: numbers as numbers, an emptied one as null
 * (unset) when `unsetEmpty`, else left out.
 */
export function fieldValues(inputs, unsetEmpty) {
  const values = {};
  for (const { definition, input } of inputs) {
    const raw = input.value.trim();
    if (!raw) {
      if (unsetEmpty) values[definition.key] = null;
      continue;
    }
    values[definition.key] = definition.type === "number" && !Number.isNaN(Number(raw)) ? Number(raw) : raw;
  }
  return values;
}

/** `[label, value]` of each value a ticket holds, by its definition's label. */
export function fieldRows(definitions, values) {
  return Object.keys(values || {}).map((key) => {
    const d = definitions.find((f) => f.key === key);
    return [d ? d.label : key, String(values[key])];
  });
}

/** The admin page: the fields defined, and a form defining one (or a new version of one). */
export function fieldsView(main, ctx) {
  const list = h("tbody");
  const key = h("input", { type: "text", name: "key", autocomplete: "off" });
  const label = h("input", { type: "text", name: "label", autocomplete: "off" });
  const type = h("select", { name: "type" }, options(TYPES.map((x) => [x, t(`fields.type.${x}`)]), "text"));
  const choices = h("input", { type: "text", name: "options", autocomplete: "off" });
  const required = h("input", { type: "checkbox", name: "required_for" });
  const visible = h("input", { type: "checkbox", name: "visible_to_requester", checked: true });
  const form = h("form", { class: "card wide", novalidate: true },
    h("h2", { text: t("fields.define") }),
    alertArea(),
    h("div", { class: "row" },
      field(t("fields.key"), key, { name: "key", hint: t("fields.key_hint") }),
      field(t("fields.label"), label, { name: "label" }),
      field(t("fields.type"), type, { name: "type" }),
    ),
    field(t("fields.options"), choices, { name: "options", hint: t("fields.options_hint") }),
    field(t("fields.required"), required, { name: "required_for" }),
    field(t("fields.visible"), visible, { name: "visible_to_requester" }),
    h("button", { type: "submit", class: "primary", text: t("fields.submit") }),
  );
  fill(main,
    h("h1", { text: t("fields.title") }),
    h("table", { class: "list" },
      h("thead", {}, h("tr", {}, [t("fields.key"), t("fields.label"), t("fields.type"), t("fields.options"), t("fields.required"), t("fields.visible")].map((x) => h("th", { scope: "col", text: x })))),
      list,
    ),
    form,
  );

  async function reload() {
    const items = await loadFields();
    fill(list, ...items.map((f) => h("tr", {},
      h("td", { text: f.key }),
      h("td", { text: f.label }),
      h("td", { text: t(`fields.type.${f.type}`) }),
      h("td", { text: f.options.join(", ") }),
      h("td", { text: f.required_for.length ? t("fields.yes") : t("fields.no") }),
      h("td", { text: f.visible_to_requester ? t("fields.yes") : t("fields.no") }),
    )));
  }
  reload();

  onSubmit(form, async () => {
    const body = { key: key.value.trim(), label: label.value, type: type.value, visible_to_requester: visible.checked };
    if (type.value === "select") body.options = choices.value.split(",").map((o) => o.trim()).filter(Boolean);
    if (required.checked) body.required_for = ["create"];
    await api.post("/fields", body);
    ctx.announce(t("fields.defined", { key: body.key }));
    key.value = "";
    label.value = "";
    choices.value = "";
    required.checked = false;
    await reload();
  });
  return {};
}
