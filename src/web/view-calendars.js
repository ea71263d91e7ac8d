// Admins: business-hours calendars (CONTRACT 9): the list (GET /calendars), and one form that
// creates a calendar (POST /calendars) or edits the chosen one (PATCH /calendars/{id}): name,
// IANA time zone, opening hours per weekday, holidays.
import * as api from "./api.js";
import { h, fill } from "./dom.js";
import { t, number } from "./i18n.js";
import { alertArea, failureText, field, onSubmit } from "./forms.js";

const WEEKDAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

/** `[["08:00","12:00"],["13:00","18:00"]]` as `08:00-12:00, 13:00-18:00`. */
function hoursText(intervals) {
  return (intervals || []).map(([from, to]) => `${from}-${to}`).join(", ");
}

/**
 * The intervals typed for one weekday. Whatever is not a pair is sent as typed, so that the
 * engine's 422 names the interval beside its weekday.
 */
function parseHours(text) {
  return text
    .split(/[,;]/)
    .map((part) => part.trim())
    .filter(Boolean)
    .map((part) => {
      const [from, to = ""] = part.split(/\s*[-–]\s*/);
      return [from, to];
    });
}

/** Holidays typed one a line or separated by commas. */
function parseHolidays(text) {
  return text
    .split(/[\s,;]+/)
    .map((d) => d.trim())
    .filter(Boolean);
}

export function calendarsView(main) {
  const name = h("input", { type: "text", name: "name", autocomplete: "off" });
  const zone = h("input", { type: "text", name: "time_zone", autocomplete: "off", spellcheck: "false" });
  const days = Object.fromEntries(
    WEEKDAYS.map((day) => [day, h("input", { type: "text", name: `hours.${day}`, autocomplete: "off" })]),
  );
  const holidays = h("textarea", { name: "holidays", rows: 3 });
  const heading = h("h2", { text: t("calendars.create") });
  const submit = h("button", { type: "submit", class: "primary", text: t("calendars.submit_create") });
  const cancel = h("button", { type: "button", hidden: true, text: t("calendars.cancel") });
  const form = h("form", { class: "card", novalidate: true },
    heading,
    alertArea(),
    h("div", { class: "row" },
      field(t("calendars.name"), name, { name: "name" }),
      field(t("calendars.time_zone"), zone, { name: "time_zone", hint: t("calendars.time_zone_hint") }),
    ),
    h("fieldset", {},
      h("legend", { text: t("calendars.hours") }),
      h("p", { class: "hint", text: t("calendars.hours_hint") }),
      WEEKDAYS.map((day) => field(t(`calendars.day.${day}`), days[day], { name: `hours.${day}` })),
    ),
    field(t("calendars.holidays"), holidays, { name: "holidays", hint: t("calendars.holidays_hint") }),
    h("div", { class: "actions" }, submit, cancel),
  );
  const status = h("p", { class: "notice", role: "status" });
  const table = h("div", { class: "calendars" });
  fill(main, h("h1", { text: t("calendars.title") }), status, form, table);
  let editing = null;

  function edit(calendar) {
    editing = calendar;
    heading.textContent = calendar ? t("calendars.edit_named", { name: calendar.name }) : t("calendars.create");
    submit.textContent = calendar ? t("calendars.submit_edit") : t("calendars.submit_create");
    cancel.hidden = !calendar;
    name.value = calendar ? calendar.name : "";
    zone.value = calendar ? calendar.time_zone : "";
    for (const day of WEEKDAYS) days[day].value = calendar ? hoursText(calendar.hours[day]) : "";
    holidays.value = calendar ? calendar.holidays.join("\n") : "";
    if (calendar) name.focus();
  }
  cancel.addEventListener("click", () => edit(null));

  onSubmit(form, async () => {
    const hours = {};
    for (const day of WEEKDAYS) {
      const intervals = parseHours(days[day].value);
      if (intervals.length) hours[day] = intervals;
    }
    const body = { name: name.value, time_zone: zone.value.trim(), hours, holidays: parseHolidays(holidays.value) };
    const saved = editing
      ? await api.patch(`/calendars/${encodeURIComponent(editing.id)}`, body)
      : await api.post("/calendars", body);
    status.textContent = t(editing ? "calendars.saved" : "calendars.created", { name: saved.name });
    edit(null);
    await reload();
  });

  async function reload() {
    let list;
    try {
      list = await api.get("/calendars");
    } catch (error) {
      if (error.status !== 401) fill(table, h("p", { role: "alert", text: failureText(error) }));
      return;
    }
    if (!list.items.length) {
      fill(table, h("p", { text: t("calendars.none") }));
      return;
    }
    const rows = list.items.map((calendar) => {
      const open = WEEKDAYS.filter((d) => (calendar.hours[d] || []).length)
        .map((d) => `${t(`calendars.short.${d}`)} ${hoursText(calendar.hours[d])}`)
        .join("; ");
      return h("tr", {},
        h("td", { text: calendar.name }),
        h("td", { text: calendar.time_zone }),
        h("td", { text: open }),
        h("td", { text: number(calendar.holidays.length) }),
        h("td", {},
          h("button", {
            type: "button",
            text: t("calendars.edit"),
            "aria-label": t("calendars.edit_named", { name: calendar.name }),
            onclick: () => edit(calendar),
          }),
        ),
      );
    });
    fill(table, h("table", {},
      h("caption", { text: t("calendars.list") }),
      h("thead", {}, h("tr", {}, ["name", "zone", "hours", "holidays", "edit"].map((c) => h("th", { scope: "col", text: t(`calendars.col.${c}`) })))),
      h("tbody", {}, rows),
    ));
  }
  reload();
  return { refresh: () => {} };
}
