// Admins: importing users from a CSV file (POST /users/import), with a dry run, and every
// failing line listed with its field.
import * as api from "./api.js";
import { h, fill } from "./dom.js";
import { t } from "./i18n.js";
import { alertArea, field, onSubmit } from "./forms.js";

export function importView(main) {
  const file = h("input", { type: "file", name: "file", accept: ".csv,text/csv" });
  const dry = h("input", { type: "checkbox", name: "dry_run" });
  const result = h("div", { class: "import-result", role: "status" });
  const form = h("form", { class: "card", novalidate: true },
    h("p", { class: "hint", text: t("import.intro") }),
    field(t("import.file"), file, { name: "file" }),
    field(t("import.dry_run"), dry, { name: "dry_run" }),
    alertArea(),
    h("button", { type: "submit", class: "primary", text: t("import.submit") }),
  );
  onSubmit(form, async () => {
    fill(result);
    const chosen = file.files && file.files[0];
    if (!chosen) {
      fill(result, h("p", { text: t("import.no_file") }));
      return;
    }
    const text = await chosen.text();
    const query = dry.checked ? "?dry_run=true" : "";
    const report = await api.request("POST", `/users/import${query}`, text, { contentType: "text/csv" });
    show(report, dry.checked);
  });

  function show(report, dryRun) {
    if (report.errors.length) {
      fill(result,
        h("p", { text: t("import.failed", { count: report.errors.length }) }),
        h("table", {},
          h("thead", {}, h("tr", {}, ["line", "field", "message"].map((c) => h("th", { scope: "col", text: t(`import.col.${c}`) })))),
          h("tbody", {}, report.errors.map((e) => h("tr", {},
            h("td", { text: String(e.line) }), h("td", { text: e.field }), h("td", { text: e.message })))),
        ),
      );
      return;
    }
    const key = dryRun ? "import.would" : "import.done";
    fill(result, h("p", { text: t(key, { created: report.created, updated: report.updated }) }));
  }

  fill(main, h("h1", { text: t("import.title") }), form, result);
  return { refresh: () => {} };
}
