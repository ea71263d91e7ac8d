// Admins: webhook endpoints (GET/POST /webhooks), enabling, disabling and deleting one
// (PATCH/DELETE /webhooks/{id}), its deliveries log (GET /webhooks/{id}/deliveries) and replay
// (POST /webhooks/{id}/replay). The signing secret is shown once, right after creation.
import * as api from "./api.js";
import { h, fill } from "./dom.js";
import { t, date, number } from "./i18n.js";
import { alertArea, failureText, field, onSubmit } from "./forms.js";

export function webhooksView(main) {
  const url = h("input", { type: "url", name: "url", autocomplete: "off" });
  const types = h("input", { type: "text", name: "event_types", autocomplete: "off", value: "*" });
  const description = h("input", { type: "text", name: "description", autocomplete: "off" });
  const form = h("form", { class: "card", novalidate: true },
    h("h2", { text: t("webhooks.create") }),
    alertArea(),
    h("div", { class: "row" },
      field(t("webhooks.url"), url, { name: "url", hint: t("webhooks.url_hint") }),
      field(t("webhooks.event_types"), types, { name: "event_types", hint: t("webhooks.event_types_hint") }),
      field(t("webhooks.description"), description, { name: "description" }),
    ),
    h("button", { type: "submit", class: "primary", text: t("webhooks.submit") }),
  );
  const status = h("p", { class: "notice", role: "status" });
  const secret = h("div", { class: "secret" });
  const table = h("div", { class: "webhooks" });
  const log = h("section", { class: "deliveries" });
  fill(main, h("h1", { text: t("webhooks.title") }), status, secret, form, table, log);

  onSubmit(form, async () => {
    const body = {
      url: url.value.trim(),
      event_types: types.value.split(",").map((s) => s.trim()).filter(Boolean),
    };
    if (description.value.trim()) body.description = description.value;
    const created = await api.post("/webhooks", body);
    status.textContent = t("webhooks.created");
    const shown = h("input", { type: "text", readonly: true, value: created.secret });
    fill(secret, h("div", { class: "card" }, field(t("webhooks.secret"), shown)));
    form.reset();
    types.value = "*";
    shown.focus();
    shown.select();
    await reload();
  });

  /** Runs `action`, showing a failure in `alert`. */
  async function act(alert, action) {
    alert.hidden = true;
    try {
      await action();
    } catch (error) {
      if (error.status === 401) return;
      fill(alert, h("p", { text: failureText(error) }));
      alert.hidden = false;
    }
  }

  function row(hook) {
    const alert = alertArea();
    const enabled = hook.status === "enabled";
    const toggle = h("button", {
      type: "button",
      "aria-label": t(enabled ? "webhooks.disable" : "webhooks.enable", { url: hook.url }),
      text: t(enabled ? "webhooks.disable_short" : "webhooks.enable_short"),
      onclick: () => act(alert, async () => {
        const changed = await api.patch(`/webhooks/${encodeURIComponent(hook.id)}`, {
          status: enabled ? "disabled" : "enabled",
        });
        status.textContent = t("webhooks.changed", {
          url: changed.url,
          status: t(`webhooks.status.${changed.status}`),
        });
        await reload();
      }),
    });
    // Deleting takes a second press, on a button that says what it deletes.
    const remove = h("button", {
      type: "button",
      "aria-label": t("webhooks.delete", { url: hook.url }),
      text: t("webhooks.delete_short"),
    });
    remove.addEventListener("click", () => {
      if (remove.dataset.armed !== "true") {
        remove.dataset.armed = "true";
        remove.setAttribute("aria-label", t("webhooks.confirm_delete", { url: hook.url }));
        remove.textContent = t("webhooks.confirm_short");
        return;
      }
      act(alert, async () => {
        await api.del(`/webhooks/${encodeURIComponent(hook.id)}`);
        status.textContent = t("webhooks.deleted", { url: hook.url });
        fill(log);
        await reload();
      });
    });
    const show = h("button", {
      type: "button",
      "aria-label": t("webhooks.show_deliveries", { url: hook.url }),
      text: t("webhooks.deliveries_short"),
      onclick: () => act(alert, () => deliveries(hook)),
    });
    const state = t(`webhooks.status.${hook.status}`);
    return h("tr", {},
      h("td", { text: hook.url }),
      h("td", { text: hook.event_types.join(", ") }),
      h("td", {}, state, hook.disabled_reason ? h("p", { class: "hint", text: hook.disabled_reason }) : null),
      h("td", {}, toggle, " ", show, " ", remove, alert),
    );
  }

  async function reload() {
    let list;
    try {
      list = await api.get("/webhooks");
    } catch (error) {
      if (error.status !== 401) fill(table, h("p", { role: "alert", text: failureText(error) }));
      return;
    }
    if (!list.items.length) {
      fill(table, h("p", { text: t("webhooks.none") }));
      return;
    }
    const columns = ["url", "events", "status", "actions"];
    fill(table, h("table", {},
      h("thead", {}, h("tr", {}, columns.map((c) => h("th", { scope: "col", text: t(`webhooks.col.${c}`) })))),
      h("tbody", {}, list.items.map(row)),
    ));
  }

  async function deliveries(hook) {
    const answer = await api.get(`/webhooks/${encodeURIComponent(hook.id)}/deliveries${api.query({ limit: 100 })}`);
    const after = h("input", { type: "number", name: "after_position", min: "0", value: "0" });
    const replay = h("form", { class: "card", novalidate: true },
      alertArea(),
      h("div", { class: "row" }, field(t("webhooks.replay_after"), after, { name: "after_position" })),
      h("button", { type: "submit", text: t("webhooks.replay") }),
    );
    onSubmit(replay, async () => {
      const done = await api.post(`/webhooks/${encodeURIComponent(hook.id)}/replay`, {
        after_position: Number(after.value),
      });
      status.textContent = t("webhooks.replayed", { count: number(done.replayed) });
      await deliveries(hook);
    });
    const columns = ["event", "type", "delivery", "attempts", "code", "error", "next"];
    const rows = answer.items.map((d) => h("tr", {},
      h("td", { text: d.event_id }),
      h("td", { text: d.event_type }),
      h("td", { text: t(`webhooks.delivery.${d.status}`) }),
      h("td", { text: number(d.attempts) }),
      h("td", { text: d.last_status_code ?? t("common.none") }),
      h("td", { text: d.last_error ?? t("common.none") }),
      h("td", { text: d.next_attempt_at ? date(d.next_attempt_at) : t("common.none") }),
    ));
    fill(log,
      h("h2", { text: t("webhooks.deliveries", { url: hook.url }) }),
      rows.length
        ? h("table", {},
          h("thead", {}, h("tr", {}, columns.map((c) => h("th", { scope: "col", text: t(`webhooks.col.${c}`) })))),
          h("tbody", {}, rows))
        : h("p", { text: t("webhooks.no_deliveries") }),
      replay,
    );
  }

  reload();
  return { refresh: () => {} };
}
