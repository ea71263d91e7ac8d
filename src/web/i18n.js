// English and Brazilian Portuguese. The language comes from the switch (kept in localStorage),
// else from the browser's languages; dates and numbers follow it.

const en = {
  "app.name": "ticketd",
  "nav.main": "Main",
  "nav.board": "Board",
  "nav.list": "List",
  "nav.mine": "My tickets",
  "nav.assigned": "Assigned to me",
  "nav.users": "Users",
  "nav.new": "New ticket",
  "nav.signout": "Sign out",
  "nav.language": "Language",
  "nav.signed_in_as": "Signed in as {name} ({role})",
  "live.live": "Live",
  "live.connecting": "Connecting…",
  "live.offline": "Offline, reconnecting…",
  "login.title": "Sign in",
  "login.email": "Email",
  "login.password": "Password",
  "login.submit": "Sign in",
  "login.failed": "The email or password is not right.",
  "login.expired": "Your session has expired. Sign in again; what you were writing is kept.",
  "error.summary": "There is a problem",
  "error.network": "The server cannot be reached. Try again.",
  "error.generic": "Something went wrong ({status}): {detail}",
  "error.conflict": "This cannot be done now: {detail}",
  "error.forbidden": "You may not do this.",
  "error.not_found": "This ticket does not exist or is not yours.",
  "common.loading": "Loading…",
  "common.none": "—",
  "common.unassigned": "Unassigned",
  "common.all": "All",
  "common.more": "Show more",
  "common.unread": "Unread",
  "common.internal": "Internal",
  "common.me": "Me",
  "list.title.all": "Tickets",
  "list.title.mine": "My tickets",
  "list.title.assigned": "Assigned to me",
  "list.search": "Search",
  "list.status": "Status",
  "list.priority": "Priority",
  "list.category": "Category",
  "list.assignee": "Assignee",
  "list.requester": "Requester",
  "list.unread_only": "Unread only",
  "list.empty": "No tickets.",
  "list.col.number": "Number",
  "list.col.title": "Title",
  "list.col.status": "Status",
  "list.col.priority": "Priority",
  "list.col.category": "Category",
  "list.col.requester": "Requester",
  "list.col.assignee": "Assignee",
  "list.col.updated": "Updated",
  "list.count": "{count} shown",
  "board.title": "Board",
  "board.column": "{status}: {count}",
  "board.empty": "Nothing here.",
  "board.due": "Due {time}",
  "board.breached": "SLA breached",
  "ticket.status": "Status",
  "ticket.priority": "Priority",
  "ticket.category": "Category",
  "ticket.channel": "Channel",
  "ticket.requester": "Requester",
  "ticket.assignee": "Assignee",
  "ticket.created": "Created",
  "ticket.updated": "Updated",
  "ticket.resolution_due": "Resolution due",
  "ticket.resolution": "Resolution",
  "ticket.description": "Description",
  "ticket.comments": "Comments",
  "ticket.no_comments": "No comments yet.",
  "ticket.comment": "Comment",
  "ticket.comment_submit": "Comment",
  "ticket.comment_unsent": "The ticket was closed before this comment was sent. Reopen it to send the comment.",
  "ticket.title_save": "Save title",
  "ticket.internal": "Internal",
  "ticket.internal_hint": "Only staff see internal comments.",
  "ticket.close": "Close",
  "ticket.close_resolution": "Resolution",
  "ticket.reopen": "Reopen",
  "ticket.reopen_reason": "Reason",
  "ticket.optional": "Optional.",
  "ticket.rating": "Rating",
  "ticket.rating_comment": "Comment",
  "ticket.rate": "Rate",
  "ticket.rated": "Rated {score} of 5",
  "ticket.rate_title": "Rate this ticket",
  "ticket.work": "Work on this ticket",
  "ticket.actions": "Actions",
  "ticket.history": "History",
  "ticket.history_empty": "No events yet.",
  "ticket.verify": "Verify",
  "ticket.verify_ok": "Chain valid: {events} events checked.",
  "ticket.verify_broken": "Chain broken at sequence {seq} ({events} events checked).",
  "ticket.as_of": "As of",
  "ticket.as_of_hint": "A date and time, e.g. 2026-11-23 10:15:30, in your time zone, or RFC 3339.",
  "ticket.as_of_show": "Show",
  "ticket.as_of_title": "As it stood at {time}",
  "ticket.as_of_bad": "Enter a date and time.",
  "ticket.saved": "Saved.",
  "ticket.by": "{name} ({role})",
  "event.change": "{field}: {from} → {to}",
  "new.title": "New ticket",
  "new.field.title": "Title",
  "new.field.description": "Description",
  "new.field.category": "Category",
  "new.field.priority": "Priority",
  "new.field.requester": "Requester",
  "new.submit": "Create",
  "new.created": "Ticket #{number} created.",
  "users.title": "Users",
  "users.create": "Create a user",
  "users.email": "Email",
  "users.name": "Name",
  "users.role": "Role",
  "users.password": "Password",
  "users.submit": "Create user",
  "users.created": "{name} added.",
  "users.role_of": "Role of {name}",
  "users.role_changed": "{name} is now {role}.",
  "users.col.name": "Name",
  "users.col.email": "Email",
  "users.col.role": "Role",
  "status.open": "Open",
  "status.in_progress": "In progress",
  "status.pending": "Pending",
  "status.closed": "Closed",
  "priority.low": "Low",
  "priority.medium": "Medium",
  "priority.high": "High",
  "priority.urgent": "Urgent",
  "role.requester": "requester",
  "role.agent": "agent",
  "role.admin": "admin",
  "role.auditor": "auditor",
  "role.system": "system",
  "role.automation": "automation",
  "category.hardware": "Hardware",
  "category.software": "Software",
  "category.network": "Network",
  "category.system": "System",
  "category.email": "Email",
  "category.printer": "Printer",
  "category.telephony": "Telephony",
  "category.access": "Access",
  "category.backup": "Backup",
  "category.onboarding": "Onboarding",
  "category.other": "Other",
  "channel.web": "Web",
  "channel.email": "Email",
  "channel.chat": "Chat",
  "channel.api": "API",
  "channel.phone": "Phone",
};

const ptBR = {
  "app.name": "ticketd",
  "nav.main": "Principal",
  "nav.board": "Quadro",
  "nav.list": "Lista",
  "nav.mine": "Meus chamados",
  "nav.assigned": "Atribuídos a mim",
  "nav.users": "Usuários",
  "nav.new": "Novo chamado",
  "nav.signout": "Sair",
  "nav.language": "Idioma",
  "nav.signed_in_as": "Conectado como {name} ({role})",
  "live.live": "Ao vivo",
  "live.connecting": "Conectando…",
  "live.offline": "Sem conexão, reconectando…",
  "login.title": "Entrar",
  "login.email": "E-mail",
  "login.password": "Senha",
  "login.submit": "Entrar",
  "login.failed": "E-mail ou senha incorretos.",
  "login.expired": "Sua sessão expirou. Entre novamente; o que você estava escrevendo foi mantido.",
  "error.summary": "Há um problema",
  "error.network": "Não foi possível falar com o servidor. Tente de novo.",
  "error.generic": "Algo deu errado ({status}): {detail}",
  "error.conflict": "Isso não pode ser feito agora: {detail}",
  "error.forbidden": "Você não tem permissão para isso.",
  "error.not_found": "Este chamado não existe ou não é seu.",
  "common.loading": "Carregando…",
  "common.none": "—",
  "common.unassigned": "Sem responsável",
  "common.all": "Todos",
  "common.more": "Mostrar mais",
  "common.unread": "Não lido",
  "common.internal": "Interno",
  "common.me": "Eu",
  "list.title.all": "Chamados",
  "list.title.mine": "Meus chamados",
  "list.title.assigned": "Atribuídos a mim",
  "list.search": "Pesquisar",
  "list.status": "Situação",
  "list.priority": "Prioridade",
  "list.category": "Categoria",
  "list.assignee": "Responsável",
  "list.requester": "Solicitante",
  "list.unread_only": "Só não lidos",
  "list.empty": "Nenhum chamado.",
  "list.col.number": "Número",
  "list.col.title": "Título",
  "list.col.status": "Situação",
  "list.col.priority": "Prioridade",
  "list.col.category": "Categoria",
  "list.col.requester": "Solicitante",
  "list.col.assignee": "Responsável",
  "list.col.updated": "Atualizado",
  "list.count": "{count} exibidos",
  "board.title": "Quadro",
  "board.column": "{status}: {count}",
  "board.empty": "Nada aqui.",
  "board.due": "Prazo {time}",
  "board.breached": "SLA estourado",
  "ticket.status": "Situação",
  "ticket.priority": "Prioridade",
  "ticket.category": "Categoria",
  "ticket.channel": "Canal",
  "ticket.requester": "Solicitante",
  "ticket.assignee": "Responsável",
  "ticket.created": "Aberto em",
  "ticket.updated": "Atualizado em",
  "ticket.resolution_due": "Prazo de solução",
  "ticket.resolution": "Solução",
  "ticket.description": "Descrição",
  "ticket.comments": "Comentários",
  "ticket.no_comments": "Nenhum comentário ainda.",
  "ticket.comment": "Comentário",
  "ticket.comment_submit": "Comentar",
  "ticket.comment_unsent": "O chamado foi fechado antes do envio deste comentário. Reabra-o para enviar o comentário.",
  "ticket.title_save": "Salvar título",
  "ticket.internal": "Interno",
  "ticket.internal_hint": "Só a equipe vê comentários internos.",
  "ticket.close": "Fechar",
  "ticket.close_resolution": "Solução",
  "ticket.reopen": "Reabrir",
  "ticket.reopen_reason": "Motivo",
  "ticket.optional": "Opcional.",
  "ticket.rating": "Avaliação",
  "ticket.rating_comment": "Comentário",
  "ticket.rate": "Avaliar",
  "ticket.rated": "Avaliado com {score} de 5",
  "ticket.rate_title": "Avalie este chamado",
  "ticket.work": "Trabalhar neste chamado",
  "ticket.actions": "Ações",
  "ticket.history": "Histórico",
  "ticket.history_empty": "Nenhum evento ainda.",
  "ticket.verify": "Verificar",
  "ticket.verify_ok": "Cadeia válida: {events} eventos verificados.",
  "ticket.verify_broken": "Cadeia quebrada na sequência {seq} ({events} eventos verificados).",
  "ticket.as_of": "Em",
  "ticket.as_of_hint": "Data e hora, p. ex. 2026-11-23 10:15:30, no seu fuso horário, ou RFC 3339.",
  "ticket.as_of_show": "Mostrar",
  "ticket.as_of_title": "Como estava em {time}",
  "ticket.as_of_bad": "Informe uma data e hora.",
  "ticket.saved": "Salvo.",
  "ticket.by": "{name} ({role})",
  "event.change": "{field}: {from} → {to}",
  "new.title": "Novo chamado",
  "new.field.title": "Título",
  "new.field.description": "Descrição",
  "new.field.category": "Categoria",
  "new.field.priority": "Prioridade",
  "new.field.requester": "Solicitante",
  "new.submit": "Criar",
  "new.created": "Chamado #{number} criado.",
  "users.title": "Usuários",
  "users.create": "Criar usuário",
  "users.email": "E-mail",
  "users.name": "Nome",
  "users.role": "Papel",
  "users.password": "Senha",
  "users.submit": "Criar usuário",
  "users.created": "{name} adicionado.",
  "users.role_of": "Papel de {name}",
  "users.role_changed": "{name} agora é {role}.",
  "users.col.name": "Nome",
  "users.col.email": "E-mail",
  "users.col.role": "Papel",
  "status.open": "Aberto",
  "status.in_progress": "Em andamento",
  "status.pending": "Pendente",
  "status.closed": "Fechado",
  "priority.low": "Baixa",
  "priority.medium": "Média",
  "priority.high": "Alta",
  "priority.urgent": "Urgente",
  "role.requester": "solicitante",
  "role.agent": "agente",
  "role.admin": "administrador",
  "role.auditor": "auditor",
  "role.system": "sistema",
  "role.automation": "automação",
  "category.hardware": "Hardware",
  "category.software": "Software",
  "category.network": "Rede",
  "category.system": "Sistema",
  "category.email": "E-mail",
  "category.printer": "Impressora",
  "category.telephony": "Telefonia",
  "category.access": "Acesso",
  "category.backup": "Backup",
  "category.onboarding": "Integração",
  "category.other": "Outros",
  "channel.web": "Web",
  "channel.email": "E-mail",
  "channel.chat": "Chat",
  "channel.api": "API",
  "channel.phone": "Telefone",
};

export const LANGUAGES = [
  { code: "en", name: "English" },
  { code: "pt-BR", name: "Português (Brasil)" },
];

const dictionaries = { en, "pt-BR": ptBR };
const KEY = "ticketd.lang";

function initial() {
  let chosen = null;
  try {
    chosen = localStorage.getItem(KEY);
  } catch {
    chosen = null;
  }
  if (chosen && dictionaries[chosen]) return chosen;
  const wanted = navigator.languages && navigator.languages.length ? navigator.languages : [navigator.language || "en"];
  for (const tag of wanted) {
    if (String(tag).toLowerCase().startsWith("pt")) return "pt-BR";
    if (String(tag).toLowerCase().startsWith("en")) return "en";
  }
  return "en";
}

let lang = initial();
document.documentElement.lang = lang;

/** The current language tag. */
export function language() {
  return lang;
}

/** Switches the language and remembers the choice. */
export function setLanguage(code) {
  if (!dictionaries[code]) return;
  lang = code;
  document.documentElement.lang = code;
  try {
    localStorage.setItem(KEY, code);
  } catch {
    // The choice then lasts until a reload.
  }
}

/** The text for `key` with `{name}` placeholders filled from `params`. */
export function t(key, params) {
  const text = dictionaries[lang][key] ?? en[key] ?? key;
  if (!params) return text;
  return text.replace(/\{(\w+)\}/g, (whole, name) => (name in params ? String(params[name]) : whole));
}

/** A status, priority, category, channel or role in words (the raw value when unknown). */
export function term(kind, value) {
  if (value === null || value === undefined || value === "") return t("common.none");
  const key = `${kind}.${value}`;
  const text = t(key);
  return text === key ? String(value) : text;
}

/** An RFC 3339 time in the user's locale and time zone. */
export function date(iso) {
  if (!iso) return t("common.none");
  const when = new Date(iso);
  if (Number.isNaN(when.getTime())) return String(iso);
  return new Intl.DateTimeFormat(lang, { dateStyle: "medium", timeStyle: "medium" }).format(when);
}

/** A number in the user's locale. */
export function number(n) {
  return new Intl.NumberFormat(lang).format(n);
}
