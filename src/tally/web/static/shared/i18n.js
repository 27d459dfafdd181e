// Korean and English: the browser's language picks one, a switch changes it (kept in localStorage).
// Every string a page shows comes from here by key; a missing key shows the key itself.

import { ko, en } from "./messages.js";

const TABLES = { ko, en };
const STORE_KEY = "tally.lang";

function initial() {
  const saved = localStorage.getItem(STORE_KEY);
  if (saved && TABLES[saved]) return saved;
  const wanted = (navigator.languages || [navigator.language || "en"]).map((l) => l.toLowerCase().slice(0, 2));
  return wanted.find((l) => TABLES[l]) || "en";
}

let current = initial();
const listeners = new Set();

export function lang() {
  return current;
}

/** The locale amounts and times are written in. */
export function locale() {
  return current === "ko" ? "ko-KR" : "en-US";
}

export function setLang(next) {
  if (!TABLES[next] || next === current) return;
  current = next;
  localStorage.setItem(STORE_KEY, next);
  document.documentElement.lang = next;
  for (const listener of listeners) listener(next);
}

export function onLang(listener) {
  listeners.add(listener);
  return () => listeners.delete(listener);
}

/** The text of `key` in the current language, `{name}` placeholders filled from `vars`. */
export function t(key, vars = {}) {
  const text = TABLES[current][key] ?? TABLES.en[key] ?? key;
  return text.replace(/\{(\w+)\}/g, (_, name) => (vars[name] ?? `{${name}}`));
}

export function time(ms) {
  return new Intl.DateTimeFormat(locale(), { dateStyle: "short", timeStyle: "medium" }).format(new Date(ms));
}

document.documentElement.lang = current;
