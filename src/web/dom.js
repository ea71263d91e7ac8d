// Building the page without markup strings: every text goes in through a text node, so user
// text is never parsed as HTML.

/** Creates `<tag>` with attributes, listeners (`onclick: fn`) and children (nodes or text). */
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith("on") && typeof value === "function") {
      el.addEventListener(key.slice(2), value);
    } else if (key === "class") {
      el.className = value;
    } else if (key === "text") {
      el.textContent = String(value);
    } else if (key === "value" || key === "checked" || key === "selected" || key === "disabled") {
      el[key] = value;
    } else {
      el.setAttribute(key, value === true ? "" : String(value));
    }
  }
  append(el, children);
  return el;
}

/** Appends nodes and texts, skipping null, undefined and false. */
export function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

let next = 0;
/** An id unique in the page, for `for`/`aria-describedby` pairs. */
export function uid(prefix) {
  next += 1;
  return `${prefix}-${next}`;
}

/** Says `text` to screen readers through the page's polite live region. */
export function announce(text) {
  const region = document.getElementById("announce");
  if (region) region.textContent = text;
}

/** Calls `fn` once calls stop coming for `ms`. */
export function debounce(fn, ms) {
  let timer = null;
  return (...args) => {
    clearTimeout(timer);
    timer = setTimeout(() => fn(...args), ms);
  };
}

/**
 * Makes `nodes` the children of `el`, in order, leaving in place the ones already there. A live
 * update must not replace a node someone is clicking: a mousedown on a node that is gone by the
 * mouseup clicks nothing, and the click is lost.
 */
export function arrange(el, nodes) {
  nodes.forEach((node, i) => {
    const at = el.childNodes[i] || null;
    if (at !== node) el.insertBefore(node, at);
  });
  while (el.childNodes.length > nodes.length) el.lastChild.remove();
}

/**
 * Draws items (with an `id`) through `make`, giving back the node drawn last time for an item
 * that has not changed since: call `node` for each item shown, then `done` once all are.
 */
export function keeper(make) {
  let kept = new Map();
  let drawn = new Map();
  return {
    node(item) {
      const key = JSON.stringify(item);
      const last = kept.get(item.id);
      const node = last && last.key === key ? last.node : make(item);
      drawn.set(item.id, { key, node });
      return node;
    },
    done() {
      kept = drawn;
      drawn = new Map();
    },
  };
}

/** Replaces the children of `el` (skipping null, undefined and false, unlike replaceChildren). */
export function fill(el, ...children) {
  el.replaceChildren();
  return append(el, children);
}
