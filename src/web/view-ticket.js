// One ticket: its details and public comments for everyone (internal ones for staff), the
// commands each role may issue, and for staff and auditors its history, the hash-chain check
// and the ticket as it stood at a chosen instant. Everything reloads live; what the user is
// typing is never replaced.
import * as api from "./api.js";
import { h, debounce, fill } from "./dom.js";
import { t, term, date, number } from "./i18n.js";
import { CATEGORIES, PRIORITIES, isAdmin, isRequester, isStaff, mayCommand, mayVerify, readsAll } from "./model.js";
import { alertArea, clearErrors, dropDraft, failureText, field, keepDraft, onSubmit, options, showError } from "./forms.js";
import { loadAgents } from "./view-tickets.js";
import { tagList, tagsForm, taggedLine } from "./view-ticket-tags.js";
import { fieldInputs, fieldRows, fieldValues, loadFields } from "./view-fields.js";
import { linkForm, linkLine, linkList, mergeForm, mergedInto } from "./view-ticket-links.js";
import { filePicker, fileList, uploadFiles } from "./view-ticket-files.js";

export function ticketView(main, ctx, id) {
  const user = ctx.user;
  // The first load asks for version 1 at least: a ticket created a moment ago (or linked from a
  // live event) is then waited for until the read model has it, instead of answering 404; one that
  // does not exist still answers 404 at once, since the engine looks in the event store first.
  const state = { ticket: null, minVersion: 1, actionsKey: null, agents: [], disposed: false, fields: [] };
  loadFields().then((definitions) => {
    state.fields = definitions;
    if (state.ticket && !state.disposed) {
      state.actionsKey = null;
      reload();
    }
  });
  const heading = h("h1", { text: t("common.loading") });
  const notice = h("p", { class: "notice", role: "status" });
  const details = h("section", { class: "details", "aria-labelledby": "details-title" });
  const actions = h("aside", { class: "actions", "aria-label": t("ticket.actions") });
  const audit = readsAll(user) ? auditSection() : null;
  fill(main, heading, notice, h("div", { class: "ticket-layout" }, details, mayCommand(user) ? actions : null), audit ? audit.el : null);

  const controls = {};

  async function reload() {
    let ticket;
    try {
      ticket = await api.get(`/tickets/${encodeURIComponent(id)}${api.query({ min_version: state.minVersion })}`);
    } catch (error) {
      if (error.status === 401 || state.disposed) return;
      heading.textContent = failureText(error);
      fill(details);
      fill(actions);
      return;
    }
    if (state.disposed) return;
    state.ticket = ticket;
    draw(ticket);
    markRead();
    if (audit) audit.reload();
  }

  const markRead = debounce(() => {
    api.request("POST", `/tickets/${encodeURIComponent(id)}/read`).catch(() => {});
  }, 300);

  function draw(ticket) {
    heading.textContent = `#${ticket.number} ${ticket.title}`;
    document.title = `#${ticket.number} ${ticket.title} · ticketd`;
    const row = (label, value) => [h("dt", { text: label }), h("dd", {}, value)];
    const comments = ticket.comments.length
      ? h(
          "ol",
          { class: "comments" },
          ticket.comments.map((c) =>
            h(
              "li",
              { class: c.internal ? "comment internal" : "comment" },
              h("p", { class: "comment-meta" },
                h("strong", { text: c.author.name }),
                ` · ${term("role", c.author.role)} · `,
                h("time", { datetime: c.created_at, text: date(c.created_at) }),
                c.internal ? h("span", { class: "badge internal-badge", text: t("common.internal") }) : null,
              ),
              h("p", { class: "comment-body", text: c.body }),
              fileList(c),
            ),
          ),
        )
      : h("p", { text: t("ticket.no_comments") });
    fill(details, 
      h("h2", { id: "details-title", class: "visually-hidden", text: t("ticket.description") }),
      h("dl", { class: "meta" },
        row(t("ticket.status"), h("span", { class: `status status-${ticket.status}`, text: term("status", ticket.status) })),
        row(t("ticket.priority"), h("span", { class: `priority priority-${ticket.priority}`, text: term("priority", ticket.priority) })),
        row(t("ticket.category"), term("category", ticket.category)),
        row(t("ticket.channel"), term("channel", ticket.channel)),
        row(t("ticket.requester"), ticket.requester ? ticket.requester.name : t("common.none")),
        row(t("ticket.assignee"), ticket.assignee ? ticket.assignee.name : t("common.unassigned")),
        row(t("ticket.team"), ticket.team ? ticket.team.name : t("common.none")),
        row(t("ticket.created"), date(ticket.created_at)),
        row(t("ticket.updated"), date(ticket.updated_at)),
        ticket.sla ? row(t("ticket.resolution_due"), date(ticket.sla.resolution_due)) : null,
        ticket.sla && ticket.sla.next_response_due ? row(t("ticket.next_response_due"), date(ticket.sla.next_response_due)) : null,
        ticket.sla && ticket.sla.paused_seconds ? row(t("ticket.paused"), t("ticket.paused_minutes", { minutes: number(Math.round(ticket.sla.paused_seconds / 60)) })) : null,
        ticket.resolution ? row(t("ticket.resolution"), ticket.resolution) : null,
        ticket.rating ? row(t("ticket.rating"), t("ticket.rated", { score: ticket.rating.score })) : null,
        row(t("tags.label"), tagList(ticket.tags)),
        ...fieldRows(state.fields, ticket.fields).map(([label, value]) => row(label, value)),
        row(t("links.label"), linkList(ticket, isStaff(user) ? unlink : null)),
        ticket.merged_into ? row(t("links.merged_into"), mergedInto(ticket)) : null,
      ),
      h("p", { class: "description", text: ticket.description }),
      h("h2", { text: t("ticket.comments") }),
      comments,
      readsAll(user) && ticket.requester ? others : null,
    );
    if (mayCommand(user)) drawActions(ticket);
    if (readsAll(user) && ticket.requester) loadOthers(ticket.requester);
  }

  // The requester's other tickets, for staff: who else they are, what else they asked.
  const others = h("section", { class: "others", "aria-labelledby": "others-title" });
  async function loadOthers(requester) {
    let page;
    try {
      page = await api.get(`/tickets${api.query({ requester_id: requester.id, limit: 20 })}`);
    } catch (error) {
      if (error.status !== 401) fill(others, h("p", { role: "alert", text: failureText(error) }));
      return;
    }
    const items = page.items.filter((other) => other.id !== id);
    fill(others,
      h("h2", { id: "others-title", text: t("ticket.others", { name: requester.name }) }),
      items.length
        ? h("ul", { class: "other-tickets" }, items.map((other) =>
            h("li", {},
              h("a", { href: `#/tickets/${other.id}`, text: `#${other.number} ${other.title}` }),
              ` · ${term("status", other.status)}`,
              other.channel ? ` · ${term("channel", other.channel)}` : "",
            )))
        : h("p", { text: t("ticket.no_others") }),
      isAdmin(user) ? h("p", {}, h("a", { href: `#/users/${requester.id}`, text: t("ticket.requester_profile", { name: requester.name }) })) : null,
    );
  }

  // ---------------------------------------------------------------- commands

  async function command(method, path, body, form) {
    const answer = await api.request(method, `/tickets/${encodeURIComponent(id)}${path}`, body);
    if (answer && answer.version) state.minVersion = answer.version;
    if (form) clearErrors(form);
    notice.textContent = t("ticket.saved");
    await reload();
    return answer;
  }

  async function unlink(other) {
    try {
      await command("DELETE", `/links/${encodeURIComponent(other)}`);
    } catch (error) {
      if (error.status !== 401) notice.textContent = failureText(error);
    }
  }

  function drawActions(ticket) {
    const closed = ticket.status === "closed";
    const key = `${ticket.status}|${Boolean(ticket.rating)}`;
    if (key === state.actionsKey) {
      // Same forms: bring the selectors up to date unless the user is on one.
      for (const [name, value] of [["assignee", ticket.assignee ? ticket.assignee.id : ""], ["team", ticket.team ? ticket.team.id : ""], ["priority", ticket.priority], ["category", ticket.category], ["title", ticket.title], ["tags", (ticket.tags || []).join(" ")]]) {
        const select = controls[name];
        if (!select || document.activeElement === select || select.dataset.dirty) continue;
        if (name === "assignee") ensureAssigneeOption(ticket);
        if (name === "team") ensureTeamOption(ticket);
        select.value = value;
      }
      return;
    }
    state.actionsKey = key;
    const parts = [];
    // A comment typed but not sent survives the ticket closing under it (live, or the 409 its
    // sending met): its form stays, saying why it cannot be sent until the ticket is reopened.
    const pending = state.commentForm && state.commentForm.elements.namedItem("body").value.trim();
    if (pending) {
      parts.push(state.commentForm);
      const alert = state.commentForm.querySelector(".form-alert");
      if (closed && alert && alert.hidden) {
        fill(alert, h("p", { text: t("ticket.comment_unsent") }));
        alert.hidden = false;
      } else if (!closed) {
        clearErrors(state.commentForm);
      }
    } else if (!closed) {
      parts.push(commentForm());
    }
    if (isStaff(user) && !closed) parts.push(titleForm(ticket));
    if (isStaff(user) && !closed) parts.push(workForm(ticket));
    if (isStaff(user) && (ticket.status === "open" || ticket.status === "in_progress")) parts.push(pendingForm());
    if (isStaff(user) && ticket.status === "pending") parts.push(resumeForm());
    if (isStaff(user) && !closed && state.fields.length) parts.push(fieldsForm(ticket));
    if (isStaff(user)) {
      const tags = tagsForm(ticket, (list, form) => command("PUT", "/tags", { tags: list }, form));
      controls.tags = tags.input;
      parts.push(tags.form);
      parts.push(linkForm((body, form) => command("POST", "/links", body, form)));
      if (!closed) parts.push(mergeForm((body, form) => command("POST", "/merge", body, form)));
    }
    if (!closed) parts.push(closeForm());
    if (closed) parts.push(reopenForm());
    if (closed && isRequester(user) && !ticket.rating) parts.push(rateForm());
    fill(actions, h("h2", { class: "visually-hidden", text: t("ticket.actions") }), ...parts);
  }

  function commentForm() {
    const body = h("textarea", { name: "body", rows: 4 });
    const internal = isStaff(user) ? h("input", { type: "checkbox", name: "internal" }) : null;
    const files = filePicker();
    const form = h("form", { class: "card", novalidate: true },
      field(t("ticket.comment"), body, { name: "body" }),
      field(t("files.pick"), files, { name: "attachment_ids", hint: t("files.pick_hint") }),
      internal ? field(t("ticket.internal"), internal, { name: "internal", hint: t("ticket.internal_hint") }) : null,
      alertArea(),
      h("button", { type: "submit", class: "primary", text: t("ticket.comment_submit") }),
    );
    const draft = `comment:${id}`;
    keepDraft(form, draft);
    onSubmit(form, async () => {
      const payload = { body: body.value };
      if (internal && internal.checked) payload.internal = true;
      const ids = await uploadFiles(id, files);
      if (ids.length) payload.attachment_ids = ids;
      try {
        await command("POST", "/comments", payload, form);
      } catch (error) {
        // The ticket moved on (closed under us): show it as it is now, the comment kept.
        if (error.status === 409 || error.status === 412) reload();
        throw error;
      }
      body.value = "";
      files.value = "";
      if (internal) internal.checked = false;
      dropDraft(draft);
    });
    state.commentForm = form;
    return form;
  }

  function titleForm(ticket) {
    const title = h("input", { type: "text", name: "title", value: ticket.title, autocomplete: "off" });
    controls.title = title;
    const form = h("form", { class: "card", novalidate: true },
      field(t("new.field.title"), title, { name: "title" }),
      alertArea(),
      h("button", { type: "submit", text: t("ticket.title_save") }),
    );
    // Live updates leave a title being edited alone until it is saved.
    title.addEventListener("input", () => {
      title.dataset.dirty = "1";
    });
    onSubmit(form, async () => {
      await command("PATCH", "", { title: title.value }, form);
      delete title.dataset.dirty;
    });
    return form;
  }

  function fieldsForm(ticket) {
    const inputs = fieldInputs(state.fields, ticket.fields || {});
    const form = h("form", { class: "card", novalidate: true },
      h("h3", { text: t("fields.heading") }),
      ...inputs.map((c) => c.el),
      alertArea(),
      h("button", { type: "submit", text: t("fields.save") }),
    );
    onSubmit(form, async () => {
      await command("PATCH", "", { fields: fieldValues(inputs, true) }, form);
    });
    return form;
  }

  function ensureAssigneeOption(ticket) {
    const select = controls.assignee;
    if (!ticket.assignee) {
      if (!select.querySelector('option[value=""]')) select.prepend(h("option", { value: "", disabled: true, text: t("common.unassigned") }));
      return;
    }
    if (![...select.options].some((o) => o.value === ticket.assignee.id)) {
      select.append(h("option", { value: ticket.assignee.id, text: ticket.assignee.name }));
    }
  }

  // The ticket's team is offered even before (or without) the list of teams.
  function ensureTeamOption(ticket) {
    const select = controls.team;
    if (!select || !ticket.team) return;
    if (![...select.options].some((o) => o.value === ticket.team.id)) {
      select.append(h("option", { value: ticket.team.id, text: ticket.team.name }));
    }
  }

  function workForm(ticket) {
    const assignee = h("select", { name: "assignee_id" });
    const priority = h("select", { name: "priority" }, options(PRIORITIES.map((p) => [p, term("priority", p)]), ticket.priority));
    // A category since dropped from the configuration still shows as the ticket's own.
    const known = CATEGORIES.includes(ticket.category) ? CATEGORIES : CATEGORIES.concat([ticket.category]);
    const category = h("select", { name: "category" }, options(known.map((c) => [c, term("category", c)]), ticket.category));
    // Shows the ticket's team, and offers the others to give it to.
    const team = h("select", { name: "team_id" }, h("option", { value: "", disabled: true, selected: true, text: t("ticket.team_choose") }));
    api.get("/teams").then(
      (list) => {
        team.append(...options(list.items.filter((x) => !team.querySelector(`option[value="${x.id}"]`)).map((x) => [x.id, x.name]), ""));
        const current = (state.ticket || ticket).team;
        if (document.activeElement !== team) team.value = current ? current.id : "";
      },
      () => {},
    );
    Object.assign(controls, { assignee, team, priority, category });
    ensureTeamOption(ticket);
    team.value = ticket.team ? ticket.team.id : "";
    const form = h("form", { class: "card work", novalidate: true, onsubmit: (e) => e.preventDefault() },
      h("h3", { text: t("ticket.work") }),
      field(t("ticket.assignee"), assignee, { name: "assignee_id" }),
      field(t("ticket.team"), team, { name: "team_id" }),
      field(t("ticket.priority"), priority, { name: "priority" }),
      field(t("ticket.category"), category, { name: "category" }),
      alertArea(),
    );
    const fillAgents = (agents) => {
      fill(assignee, ...options(agents.map((a) => [a.id, a.name]), ""));
      ensureAssigneeOption(state.ticket || ticket);
      const current = (state.ticket || ticket).assignee;
      assignee.value = current ? current.id : "";
    };
    fillAgents(state.agents);
    if (!state.agents.length) {
      loadAgents().then((agents) => {
        state.agents = agents;
        fillAgents(agents);
      });
    }
    const run = async (action) => {
      clearErrors(form);
      try {
        await action();
      } catch (error) {
        if (error.status !== 401) showError(form, error);
      }
    };
    assignee.addEventListener("change", () => {
      if (assignee.value) run(() => command("POST", "/assign", { assignee_id: assignee.value }, form));
    });
    team.addEventListener("change", () => {
      if (team.value) run(() => command("POST", "/assign", { team_id: team.value }, form));
    });
    priority.addEventListener("change", () => run(() => command("PATCH", "", { priority: priority.value }, form)));
    category.addEventListener("change", () => run(() => command("PATCH", "", { category: category.value }, form)));
    return form;
  }

  function closeForm() {
    const resolution = h("textarea", { name: "resolution", rows: 2 });
    const form = h("form", { class: "card", novalidate: true },
      field(t("ticket.close_resolution"), resolution, { name: "resolution", hint: t("ticket.optional") }),
      alertArea(),
      h("button", { type: "submit", text: t("ticket.close") }),
    );
    onSubmit(form, async () => {
      const body = resolution.value.trim() ? { resolution: resolution.value } : {};
      await command("POST", "/close", body, form);
    });
    return form;
  }

  // Waiting on the requester: their reply, staff, or the `until` instant resumes the ticket.
  function pendingForm() {
    const reason = h("textarea", { name: "reason", rows: 2 });
    const until = h("input", { type: "datetime-local", name: "until" });
    const form = h("form", { class: "card", novalidate: true },
      field(t("ticket.pending_reason"), reason, { name: "reason", hint: t("ticket.optional") }),
      field(t("ticket.pending_until"), until, { name: "until", hint: t("ticket.pending_until_hint") }),
      alertArea(),
      h("button", { type: "submit", text: t("ticket.pending") }),
    );
    onSubmit(form, async () => {
      const body = {};
      if (reason.value.trim()) body.reason = reason.value;
      if (until.value) {
        const instant = new Date(until.value);
        // An unreadable date is sent as typed, so the engine's 422 names the field.
        body.until = Number.isNaN(instant.getTime()) ? until.value : instant.toISOString();
      }
      await command("POST", "/pending", body, form);
    });
    return form;
  }

  function resumeForm() {
    const form = h("form", { class: "card", novalidate: true },
      h("p", { text: t("ticket.pending_note") }),
      alertArea(),
      h("button", { type: "submit", text: t("ticket.resume") }),
    );
    onSubmit(form, async () => {
      await command("POST", "/resume", {}, form);
    });
    return form;
  }

  function reopenForm() {
    const reason = h("textarea", { name: "reason", rows: 2 });
    const form = h("form", { class: "card", novalidate: true },
      field(t("ticket.reopen_reason"), reason, { name: "reason", hint: t("ticket.optional") }),
      alertArea(),
      h("button", { type: "submit", text: t("ticket.reopen") }),
    );
    onSubmit(form, async () => {
      const body = reason.value.trim() ? { reason: reason.value } : {};
      await command("POST", "/reopen", body, form);
    });
    return form;
  }

  function rateForm() {
    // Options read as their bare digits, so that a screen reader, a typed "4" and an
    // automated browser choosing by text all find them.
    const score = h("select", { name: "score" }, options([1, 2, 3, 4, 5].map((n) => [String(n), String(n)]), "5"));
    const comment = h("textarea", { name: "comment", rows: 2 });
    const form = h("form", { class: "card", novalidate: true },
      h("h3", { text: t("ticket.rate_title") }),
      field(t("ticket.rating"), score, { name: "score" }),
      field(t("ticket.rating_comment"), comment, { name: "comment", hint: t("ticket.optional") }),
      alertArea(),
      h("button", { type: "submit", class: "primary", text: t("ticket.rate") }),
    );
    onSubmit(form, async () => {
      const body = { score: Number(score.value) };
      if (comment.value.trim()) body.comment = comment.value;
      await command("POST", "/rating", body, form);
    });
    return form;
  }

  // ---------------------------------------------------------------- audit

  function auditSection() {
    const list = h("ol", { class: "history" });
    const verifyResult = h("p", { class: "verify-result", role: "status" });
    const asOfInput = h("input", { type: "text", name: "as_of", value: localNow(), autocomplete: "off" });
    const asOfResult = h("div", { class: "as-of-result", "aria-live": "polite" });
    const asOfForm = h("form", { class: "inline", novalidate: true },
      field(t("ticket.as_of"), asOfInput, { name: "as_of", hint: t("ticket.as_of_hint") }),
      alertArea(),
      h("button", { type: "submit", text: t("ticket.as_of_show") }),
    );
    onSubmit(asOfForm, async () => {
      const when = parseInstant(asOfInput.value);
      if (!when) {
        showError(asOfForm, { status: 422, fieldErrors: [{ field: "as_of", message: t("ticket.as_of_bad") }], problem: {} });
        return;
      }
      const then = await api.get(`/tickets/${encodeURIComponent(id)}${api.query({ as_of: when.toISOString() })}`);
      fill(asOfResult, snapshot(then, when));
    });
    const verify = mayVerify(user)
      ? h("button", {
          type: "button",
          onclick: async () => {
            verifyResult.textContent = t("common.loading");
            try {
              const v = await api.get(`/tickets/${encodeURIComponent(id)}/verify`);
              verifyResult.textContent = v.valid
                ? t("ticket.verify_ok", { events: number(v.events) })
                : t("ticket.verify_broken", { seq: number(v.first_invalid_sequence), events: number(v.events) });
              verifyResult.className = v.valid ? "verify-result ok" : "verify-result broken";
            } catch (error) {
              if (error.status !== 401) verifyResult.textContent = failureText(error);
            }
          },
          text: t("ticket.verify"),
        })
      : null;
    const el = h("section", { class: "audit", "aria-labelledby": "history-title" },
      h("h2", { id: "history-title", text: t("ticket.history") }),
      h("div", { class: "audit-tools" }, verify, verifyResult),
      asOfForm,
      asOfResult,
      list,
    );
    async function reload() {
      try {
        const history = await api.get(`/tickets/${encodeURIComponent(id)}/history${api.query({ min_version: state.minVersion })}`);
        fill(list, ...history.events.map(historyItem));
        if (!history.events.length) fill(list, h("li", { text: t("ticket.history_empty") }));
      } catch {
        // The ticket's own view shows why it cannot be read.
      }
    }
    return { el, reload };
  }

  function historyItem(event) {
    const data = event.data || {};
    const lines = [];
    if (event.type === "ticket.updated" && data.changes) {
      for (const [name, change] of Object.entries(data.changes)) {
        lines.push(t("event.change", { field: name, from: describe(name, change.from), to: describe(name, change.to) }));
      }
    } else if (event.type === "ticket.assigned") {
      lines.push(t("event.change", {
        field: t("ticket.assignee"),
        from: data.previous_assignee ? data.previous_assignee.name : t("common.unassigned"),
        to: data.assignee ? data.assignee.name : t("common.unassigned"),
      }));
      if (data.team) lines.push(t("ticket.team_is", { name: data.team.name }));
    } else if (event.type === "ticket.commented") {
      lines.push(`${data.internal ? `[${t("common.internal")}] ` : ""}${data.body || ""}`);
    } else if (event.type === "ticket.created") {
      lines.push(`${data.title || ""} · ${term("priority", data.priority)} · ${term("category", data.category)} · ${term("channel", data.channel)}`);
    } else if (event.type === "ticket.closed" && data.resolution) {
      lines.push(data.resolution);
    } else if (event.type === "ticket.reopened" && data.reason) {
      lines.push(data.reason);
    } else if (event.type === "ticket.pending") {
      lines.push([data.reason, data.until ? t("ticket.pending_until_at", { at: date(data.until) }) : null].filter(Boolean).join(" · "));
    } else if (event.type === "ticket.sla_warning" || event.type === "ticket.sla_breached") {
      lines.push(t(`ticket.sla_target.${data.target}`));
    } else if (event.type === "ticket.resumed") {
      lines.push(t(`ticket.resumed_by.${data.by}`));
    } else if (linkLine(event)) {
      lines.push(linkLine(event));
    } else if (event.type === "ticket.tagged") {
      lines.push(taggedLine(data));
    } else if (event.type === "ticket.rated") {
      lines.push(t("ticket.rated", { score: data.score }) + (data.comment ? ` · ${data.comment}` : ""));
    }
    return h("li", { class: "history-item" },
      h("p", { class: "history-meta" },
        h("span", { class: "seq", text: `${event.seq}.` }),
        " ",
        h("code", { text: event.type }),
        " · ",
        h("strong", { text: t("ticket.by", { name: event.actorname, role: term("role", event.actorrole) }) }),
        " · ",
        h("time", { datetime: event.time, text: date(event.time) }),
      ),
      lines.map((line) => h("p", { class: "history-change", text: line })),
    );
  }

  function snapshot(then, when) {
    return h("div", { class: "card snapshot" },
      h("h3", { text: t("ticket.as_of_title", { time: date(when.toISOString()) }) }),
      h("dl", { class: "meta" },
        h("dt", { text: t("new.field.title") }), h("dd", { text: then.title }),
        h("dt", { text: t("ticket.status") }), h("dd", { text: term("status", then.status) }),
        h("dt", { text: t("ticket.priority") }), h("dd", { text: term("priority", then.priority) }),
        h("dt", { text: t("ticket.category") }), h("dd", { text: term("category", then.category) }),
        h("dt", { text: t("ticket.assignee") }), h("dd", { text: then.assignee ? then.assignee.name : t("common.unassigned") }),
        h("dt", { text: t("ticket.comments") }), h("dd", { text: String(then.comments.length) }),
      ),
    );
  }

  reload();
  const refresh = debounce(() => reload(), 120);
  return {
    refresh,
    onEvent: (event) => {
      if (event.subject !== id) return;
      state.minVersion = Math.max(state.minVersion || 0, event.seq || 0);
      refresh();
    },
    dispose: () => {
      state.disposed = true;
    },
  };
}

function describe(name, value) {
  if (value === null || value === undefined) return t("common.none");
  if (name === "priority") return term("priority", value);
  if (name === "category") return term("category", value);
  return String(value);
}

/** Now as `YYYY-MM-DD HH:MM:SS` in local time. */
function localNow() {
  const d = new Date();
  const p = (n) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}

/** A local `YYYY-MM-DD HH:MM[:SS]`, or anything Date can read (RFC 3339). */
function parseInstant(text) {
  const m = text.trim().match(/^(\d{4})-(\d{2})-(\d{2})[ T](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,3}))?)?$/);
  const d = m
    ? new Date(+m[1], +m[2] - 1, +m[3], +m[4], +m[5], +(m[6] || 0), +((m[7] || "0").padEnd(3, "0")))
    : new Date(text.trim());
  return Number.isNaN(d.getTime()) ? null : d;
}
