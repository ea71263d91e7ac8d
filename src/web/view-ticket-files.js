// Files on comments: picked with the comment form, uploaded one by one before the comment is
// sent (each a multipart POST streamed by the engine), listed under their comment and
// downloaded with the signed-in token (a plain link would carry none).
import { ApiError } from "./api.js";
import * as session from "./session.js";
import { h } from "./dom.js";
import { t, number } from "./i18n.js";

/** The file picker of the comment form. */
export function filePicker() {
  return h("input", { type: "file", name: "attachment_ids", multiple: true });
}

/** Uploads each picked file to ticket `id`; resolves to their attachment ids. */
export async function uploadFiles(id, picker) {
  const ids = [];
  for (const file of Array.from(picker.files || [])) {
    const form = new FormData();
    form.append("file", file, file.name);
    const headers = { Accept: "application/json, application/problem+json" };
    const bearer = session.token();
    if (bearer) headers.Authorization = `Bearer ${bearer}`;
    let response;
    try {
      response = await fetch(`/api/v1/tickets/${encodeURIComponent(id)}/attachments`, { method: "POST", headers, body: form });
    } catch (error) {
      throw new ApiError(0, { title: "network", detail: String(error) });
    }
    const data = await response.json().catch(() => ({}));
    if (!response.ok) {
      // Named beside the picker, whatever the engine called the failing part.
      const detail = response.status === 413 ? t("files.too_large", { name: file.name }) : data.detail;
      throw new ApiError(response.status, { ...data, detail, errors: [{ field: "attachment_ids", message: detail || t("files.failed") }] });
    }
    ids.push(data.id);
  }
  return ids;
}

async function download(file, button) {
  const headers = {};
  const bearer = session.token();
  if (bearer) headers.Authorization = `Bearer ${bearer}`;
  button.disabled = true;
  try {
    const response = await fetch(`/api/v1/attachments/${encodeURIComponent(file.id)}`, { headers });
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    const url = URL.createObjectURL(await response.blob());
    const link = h("a", { href: url, download: file.filename, hidden: true });
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(url), 60_000);
  } catch {
    button.title = t("files.failed");
  } finally {
    button.disabled = false;
  }
}

/** The files of a comment, each a download button with its size. */
export function fileList(comment) {
  const files = comment.attachments || [];
  if (!files.length) return null;
  return h("ul", { class: "attachments", "aria-label": t("files.label") },
    files.map((file) => {
      const button = h("button", { type: "button", class: "link", text: file.filename });
      button.addEventListener("click", () => download(file, button));
      return h("li", {}, button, ` · ${t("files.size", { size: number(file.size) })}`);
    }));
}
