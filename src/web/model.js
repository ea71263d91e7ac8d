// What the engine's vocabulary is (CONTRACT 1) and what each role may do (CONTRACT 2.1), so
// that the views offer only the actions the API will accept.

export const STATUSES = ["open", "in_progress", "pending", "closed"];
export const PRIORITIES = ["low", "medium", "high", "urgent"];
// The engine's configured categories (GET /categories), loaded after sign-in before any view
// draws, so that the forms offer exactly those the commands accept.
export let CATEGORIES = [];
export function setCategories(list) {
  CATEGORIES = Array.isArray(list) ? list : [];
}
export const ROLES = ["requester", "agent", "admin", "auditor"];

/** Agents and admins work on tickets. */
export const isStaff = (user) => user && (user.role === "agent" || user.role === "admin");
/** Everyone but requesters reads every ticket, the board and the user list. */
export const readsAll = (user) => user && user.role !== "requester";
/** Auditors issue no command. */
export const mayCommand = (user) => user && user.role !== "auditor";
/** Auditors and admins check hash chains. */
export const mayVerify = (user) => user && (user.role === "auditor" || user.role === "admin");
export const isAdmin = (user) => user && user.role === "admin";
export const isRequester = (user) => user && user.role === "requester";

/** `#1042`. */
export const ticketNumber = (ticket) => `#${ticket.number}`;
