// The entry point: the header, the router (by the URL's fragment: #/board, #/tickets/<id>…),
// the live connection, keyboard shortcuts.
import * as api from "./api.js";
import * as session from "./session.js";
import { h, announce, fill } from "./dom.js";
import { t, LANGUAGES, language, setLanguage } from "./i18n.js";
import { isAdmin, isRequester, mayCommand, readsAll, setCategories } from "./model.js";
import { Live } from "./live.js";
import { loginView } from "./view-login.js";
import { ticketsView } from "./view-tickets.js";
import { boardView } from "./view-board.js";
import { ticketView } from "./view-ticket.js";
import { newTicketView } from "./view-new.js";
import { usersView } from "./view-users.js";
import { teamsView } from "./view-teams.js";
import { calendarsView } from "./view-calendars.js";
import { slaView } from "./view-sla.js";
import { userView } from "./view-user.js";
import { integrationsView } from "./view-integrations.js";
import { webhooksView } from "./view-webhooks.js";
import { channelsView } from "./view-channels.js";
import { rulesView } from "./view-rules.js";
import { passwordView, resetView } from "./view-password.js";
import { importView } from "./view-import.js";
import { fieldsView } from "./view-fields.js";

const top = document.getElementById("top");
const main = document.getElementById("main");

let view = null;
let liveState = "connecting";
let expired = false;
// The sign-in page shows the "forgot password" steps instead of the form.
let resetting = false;

const live = new Live({
  onEvent: (event) => {
    if (view && view.onEvent) view.onEvent(event);
  },
  onCaughtUp: () => {
    if (view && view.refresh) view.refresh();
  },
  onState: (state) => {
    liveState = state;
    const badge = document.getElementById("live-state");
    if (badge) {
      badge.textContent = t(`live.${state}`);
      badge.className = `live live-${state}`;
    }
  },
  // The socket closes when the token it was opened with expires: go on with a fresh one.
  onExpired: async () => {
    if (session.token() && (await session.refresh())) live.start(live.channel);
    else signedOut(true);
  },
});

api.onUnauthorized(() => signedOut(true));
session.onExpired(() => signedOut(true));

/** The session ended under the user: back to the sign-in form, keeping the route and drafts. */
function signedOut(wasExpired) {
  if (!session.token()) return;
  live.stop();
  session.clear();
  expired = wasExpired;
  render();
}

function route() {
  const path = location.hash.replace(/^#\/?/, "");
  const parts = path.split("/").filter(Boolean);
  const user = session.user();
  if (parts[0] === "tickets" && parts[1]) return { name: "ticket", id: decodeURIComponent(parts[1]) };
  if (parts[0] === "tickets") return { name: readsAll(user) ? "list" : "mine" };
  if (parts[0] === "board" && readsAll(user)) return { name: "board" };
  if (parts[0] === "mine") return { name: "mine" };
  if (parts[0] === "password") return { name: "password" };
  if (parts[0] === "assigned" && mayCommand(user) && !isRequester(user)) return { name: "assigned" };
  if (parts[0] === "new" && mayCommand(user)) return { name: "new" };
  if (parts[0] === "users" && parts[1] && isAdmin(user)) return { name: "user", id: decodeURIComponent(parts[1]) };
  if (parts[0] === "users" && isAdmin(user)) return { name: "users" };
  if (parts[0] === "import" && isAdmin(user)) return { name: "import" };
  if (parts[0] === "teams" && isAdmin(user)) return { name: "teams" };
  if (parts[0] === "integrations" && isAdmin(user)) return { name: "integrations" };
  if (parts[0] === "webhooks" && isAdmin(user)) return { name: "webhooks" };
  if (parts[0] === "channels" && isAdmin(user)) return { name: "channels" };
  if (parts[0] === "rules" && isAdmin(user)) return { name: "rules" };
  if (parts[0] === "fields" && isAdmin(user)) return { name: "fields" };
  if (parts[0] === "calendars" && isAdmin(user)) return { name: "calendars" };
  if (parts[0] === "sla" && isAdmin(user)) return { name: "sla" };
  return { name: readsAll(user) ? "board" : "mine" };
}

export function navigate(hash) {
  if (location.hash === hash) render();
  else location.hash = hash;
}

function header() {
  const user = session.user();
  const current = route().name;
  const link = (hash, label, name) =>
    h("li", {}, h("a", { href: hash, "aria-current": current === name ? "page" : false, text: label }));
  const languageSelect = h(
    "select",
    {
      id: "language",
      onchange: (event) => {
        setLanguage(event.target.value);
        render();
      },
    },
    LANGUAGES.map((l) => h("option", { value: l.code, selected: l.code === language(), lang: l.code, text: l.name })),
  );
  const chooser = h("div", { class: "language" }, h("label", { for: "language", text: t("nav.language") }), languageSelect);
  if (!user) {
    fill(top, h("span", { class: "brand", text: t("app.name") }), chooser);
    return;
  }
  const links = [];
  if (readsAll(user)) {
    links.push(link("#/board", t("nav.board"), "board"), link("#/tickets", t("nav.list"), "list"));
    if (mayCommand(user)) links.push(link("#/assigned", t("nav.assigned"), "assigned"));
  } else {
    links.push(link("#/mine", t("nav.mine"), "mine"));
  }
  if (isAdmin(user)) {
    links.push(link("#/users", t("nav.users"), "users"));
    links.push(link("#/import", t("nav.import"), "import"));
    links.push(link("#/teams", t("nav.teams"), "teams"));
    links.push(link("#/integrations", t("nav.integrations"), "integrations"));
    links.push(link("#/webhooks", t("nav.webhooks"), "webhooks"));
    links.push(link("#/channels", t("nav.channels"), "channels"));
    links.push(link("#/rules", t("nav.rules"), "rules"));
    links.push(link("#/fields", t("nav.fields"), "fields"));
    links.push(link("#/calendars", t("nav.calendars"), "calendars"));
    links.push(link("#/sla", t("nav.sla"), "sla"));
  }
  fill(top, 
    h("span", { class: "brand", text: t("app.name") }),
    h("nav", { "aria-label": t("nav.main") }, h("ul", {}, links)),
    mayCommand(user)
      ? h("button", { type: "button", class: "primary", onclick: () => navigate("#/new"), "aria-keyshortcuts": "n", text: t("nav.new") })
      : null,
    h("span", { class: "spacer" }),
    h("span", { id: "live-state", class: `live live-${liveState}`, role: "status", text: t(`live.${liveState}`) }),
    h("span", { class: "who", text: t("nav.signed_in_as", { name: user.name, role: t(`role.${user.role}`) }) }),
    h("a", { href: "#/password", "aria-current": current === "password" ? "page" : false, text: t("nav.password") }),
    chooser,
    h("button", {
      type: "button",
      onclick: async () => {
        live.stop();
        await session.logout();
        expired = false;
        render();
      },
      text: t("nav.signout"),
    }),
  );
}

function render() {
  if (view && view.dispose) view.dispose();
  view = null;
  header();
  const user = session.user();
  if (!user) {
    if (resetting) {
      view = resetView(main, {
        done: () => {
          resetting = false;
          render();
        },
      });
      return;
    }
    view = loginView(main, {
      expired,
      onForgot: () => {
        resetting = true;
        render();
      },
      onSignedIn: async () => {
        expired = false;
        live.start(readsAll(session.user()) ? "board" : "me");
        await loadCategories();
        render();
      },
    });
    return;
  }
  // `heard`: the position of the last event this page was told of, so that a view opened after
  // it asks the read models for at least that (the event itself reached no view then).
  const ctx = { user, navigate, announce, heard: () => live.position };
  const r = route();
  if (r.name === "board") view = boardView(main, ctx);
  else if (r.name === "list") view = ticketsView(main, ctx, "all");
  else if (r.name === "mine") view = ticketsView(main, ctx, "mine");
  else if (r.name === "assigned") view = ticketsView(main, ctx, "assigned");
  else if (r.name === "ticket") view = ticketView(main, ctx, r.id);
  else if (r.name === "new") view = newTicketView(main, ctx);
  else if (r.name === "users") view = usersView(main, ctx);
  else if (r.name === "password") view = passwordView(main, ctx);
  else if (r.name === "import") view = importView(main, ctx);
  else if (r.name === "teams") view = teamsView(main, ctx);
  else if (r.name === "user") view = userView(main, ctx, r.id);
  else if (r.name === "integrations") view = integrationsView(main, ctx);
  else if (r.name === "webhooks") view = webhooksView(main, ctx);
  else if (r.name === "channels") view = channelsView(main, ctx);
  else if (r.name === "rules") view = rulesView(main, ctx);
  else if (r.name === "fields") view = fieldsView(main, ctx);
  else if (r.name === "calendars") view = calendarsView(main, ctx);
  else if (r.name === "sla") view = slaView(main, ctx);
  // Screen readers hear the new page's title, unless the view put the focus somewhere itself.
  const heading = main.querySelector("h1");
  if (heading && !main.contains(document.activeElement)) {
    heading.tabIndex = -1;
    heading.focus({ preventScroll: true });
  }
}

window.addEventListener("hashchange", render);

document.addEventListener("keydown", (event) => {
  const target = event.target;
  if (event.altKey || event.ctrlKey || event.metaKey) return;
  if (target && (target.closest("input, textarea, select, [contenteditable]"))) return;
  const user = session.user();
  if (!user) return;
  if (event.key === "n" && mayCommand(user)) {
    event.preventDefault();
    navigate("#/new");
  } else if (event.key === "b" && readsAll(user)) {
    event.preventDefault();
    navigate("#/board");
  } else if (event.key === "l" && readsAll(user)) {
    event.preventDefault();
    navigate("#/tickets");
  } else if (event.key === "/") {
    const search = document.querySelector("input[type=search]");
    if (search) {
      event.preventDefault();
      search.focus();
    }
  }
});

/** The configured categories; without them the forms offer none, and say so on submit. */
async function loadCategories() {
  try {
    const answer = await api.get("/categories");
    setCategories(answer.items);
  } catch (error) {
    console.warn("ticketd categories:", error.status, error.message);
  }
}

// Tests and people debugging a flaky network can drop the socket to watch it resume, or hold
// it to see what a page that has not yet heard of a change does.
window.ticketdLive = {
  drop: () => live.drop(),
  position: () => live.position,
  hold: () => live.stop(),
  resume: () => live.start(live.channel),
};

session.restore().then((restored) => {
  if (restored) {
    live.start(readsAll(session.user()) ? "board" : "me");
    loadCategories().then(render);
  } else {
    render();
  }
});
