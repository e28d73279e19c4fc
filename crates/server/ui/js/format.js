// Formatting of times, durations and sizes in the current interface language.
import { lang, t } from "./i18n.js";

function locale() {
  return lang() === "ru" ? "ru-RU" : "en-GB";
}

/** "14:05" today, "28 Nov 14:05" another day. */
export function when(iso) {
  if (!iso) return "";
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return "";
  const now = new Date();
  const sameDay = d.toDateString() === now.toDateString();
  const opts = sameDay
    ? { hour: "2-digit", minute: "2-digit" }
    : { day: "numeric", month: "short", hour: "2-digit", minute: "2-digit" };
  return new Intl.DateTimeFormat(locale(), opts).format(d);
}

/** A full date and time, for tooltips and details. */
export function fullTime(iso) {
  if (!iso) return "";
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return "";
  return new Intl.DateTimeFormat(locale(), { dateStyle: "medium", timeStyle: "medium" }).format(d);
}

export function hourLabel(iso) {
  const d = new Date(iso);
  return new Intl.DateTimeFormat(locale(), { hour: "2-digit", minute: "2-digit" }).format(d);
}

/** Seconds as "45 s", "3 min 20 s", "2 h 5 min"; "—" for null. */
export function duration(secs) {
  if (secs === null || secs === undefined || Number.isNaN(Number(secs))) return "—";
  let s = Math.round(Number(secs));
  if (s < 60) return t("unit.s", { n: s });
  const m = Math.floor(s / 60);
  s %= 60;
  if (m < 60) return s ? `${t("unit.min", { n: m })} ${t("unit.s", { n: s })}` : t("unit.min", { n: m });
  const hrs = Math.floor(m / 60);
  const rem = m % 60;
  if (hrs < 48) return rem ? `${t("unit.h", { n: hrs })} ${t("unit.min", { n: rem })}` : t("unit.h", { n: hrs });
  return t("unit.d", { n: Math.floor(hrs / 24) });
}

/** Seconds since an instant, as a duration. */
export function since(iso) {
  if (!iso) return "—";
  return duration(Math.max(0, (Date.now() - new Date(iso).getTime()) / 1000));
}

export function bytes(n) {
  if (n === null || n === undefined) return "";
  const one = (x) => new Intl.NumberFormat(locale(), { maximumFractionDigits: 1 }).format(x);
  if (n < 1024) return t("unit.bytes", { n });
  if (n < 1024 * 1024) return t("unit.kb", { n: one(n / 1024) });
  return t("unit.mb", { n: one(n / 1024 / 1024) });
}

export function number(n) {
  return new Intl.NumberFormat(locale()).format(n);
}

/** A duration text ("12h") split into number and unit, for the number + unit inputs. */
export function splitDuration(spec) {
  const m = /^(\d+)([smhd])$/.exec(String(spec || "").trim());
  return m ? { value: Number(m[1]), unit: m[2] } : null;
}
