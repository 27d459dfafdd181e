// Shared components of the apps: one pattern for a page (a function of state, rendered with
// Preact and htm: no build step), the frame with the language switch, amounts, errors, codes.

import { h, render } from "preact";
import { useEffect, useErrorBoundary, useMemo, useRef, useState } from "preact/hooks";
import htm from "../vendor/htm.mjs";
import qrcode from "../vendor/qrcode.mjs";
import { lang, onLang, setLang, t, locale } from "./i18n.js";
import { formatMinor, Node } from "./tally.js";

export const html = htm.bind(h);
export { render, useEffect, useMemo, useRef, useState };

export const node = new Node("");

/** The page's route: the URL's hash without '#' ("/" when none), following changes. */
export function useRoute() {
  const [route, setRoute] = useState(location.hash.slice(1) || "/");
  useEffect(() => {
    const changed = () => setRoute(location.hash.slice(1) || "/");
    addEventListener("hashchange", changed);
    return () => removeEventListener("hashchange", changed);
  }, []);
  return route;
}

/** A JSON value kept in this browser's storage (null when absent or unreadable). */
export function stored(name) {
  try {
    return JSON.parse(localStorage.getItem(name));
  } catch {
    return null;
  }
}

let genesisOnce = null;
/** The chain's genesis, read once per page. */
export function genesis() {
  genesisOnce = genesisOnce || node.get("/v1/genesis");
  return genesisOnce;
}

/** GET /v1/validators (public, read without the page's key): the validator sets as of the newest final block
 *  and the certified changes that prove them from the genesis. Read anew on every call, never kept for the
 *  page's life: a change decided while the page is open must be seen. */
export function validatorSchedule() {
  return node.get("/v1/validators", undefined, null);
}

/** The certified validator-set changes, oldest first: what verifyReceipt and followChanges take. */
export async function validatorChanges() {
  return (await validatorSchedule()).changes;
}

const APPS = [
  ["wallet", "/wallet/"],
  ["pos", "/pos/"],
  ["explorer", "/explorer/"],
  ["console", "/console/"],
];

/** Re-render on a language change. */
export function useLang() {
  const [, setCurrent] = useState(lang());
  useEffect(() => onLang(setCurrent), []);
  return lang();
}

/** The frame of every page: the app's name, the other apps, the language switch. */
export function Shell({ app, wide, children }) {
  useLang();
  return html`
    <header class="bar">
      <strong class="brand">Tally ${t(`app.${app}`)}</strong>
      <nav>
        ${APPS.filter(([name]) => name !== app).map(
          ([name, href]) => html`<a href=${href}>${t(`app.${name}`)}</a>`,
        )}
      </nav>
      <span class="langs" role="group" aria-label=${t("lang.choose")}>
        <button class=${lang() === "ko" ? "on" : ""} onClick=${() => setLang("ko")}>한국어</button>
        <button class=${lang() === "en" ? "on" : ""} onClick=${() => setLang("en")}>English</button>
      </span>
    </header>
    <main class=${wide ? "wide" : "narrow"}><${Guard}>${children}<//></main>
  `;
}

/** A page that fails to render shows its error (never a blank page) and a way to try again. */
function Guard({ children }) {
  const [error, reset] = useErrorBoundary();
  if (error) {
    return html`<section class="card" data-test="page-error">
      <${ErrorLine} error=${error} />
      <button onClick=${reset}>${t("ui.try_again")}</button>
    </section>`;
  }
  return children;
}

/** The chain's time zone in minutes east of UTC (GET /v1/council, public), read once per page: null until it is
 *  read, 0 on a node without a council. Chain days (lots' expiries, daily limits) end at its midnight. */
let offsetOnce = null;
export function useChainOffset() {
  const [offset, setOffset] = useState(null);
  useEffect(() => {
    offsetOnce = offsetOnce || node.get("/v1/council", undefined, null).then((c) => c.utc_offset_min || 0, () => 0);
    offsetOnce.then(setOffset);
  }, []);
  return offset;
}

/** The date of `ms` in the chain's calendar (`offsetMin` east of UTC), in the page's language: "Dec 7, 2027". */
export function chainDate(ms, offsetMin) {
  const format = new Intl.DateTimeFormat(locale(), { dateStyle: "medium", timeZone: "UTC" });
  return format.format(new Date(ms + offsetMin * 60_000));
}

// A final block's time never changes: each is read once per page (GET /v1/blocks/{height}, public).
const blockTimes = new Map();

/** The time of the final block at `height` (a promise of its header's timestamp_ms). */
export function blockTime(height) {
  if (!blockTimes.has(height)) {
    const read = node.get(`/v1/blocks/${height}`, undefined, null).then((b) => b.header.timestamp_ms);
    read.catch(() => blockTimes.delete(height)); // read again next time
    blockTimes.set(height, read);
  }
  return blockTimes.get(height);
}

/** The times of the blocks at `heights`, by height, filled in as they are read. */
export function useBlockTimes(heights) {
  const [times, setTimes] = useState({});
  const wanted = [...new Set(heights)];
  useEffect(() => {
    let live = true;
    for (const height of wanted) {
      blockTime(height).then((ms) => live && setTimes((was) => (was[height] === ms ? was : { ...was, [height]: ms })), () => {});
    }
    return () => {
      live = false;
    };
  }, [wanted.join(",")]);
  return times;
}

/** Assets by id, read once per page. */
let assetsOnce = null;
function loadAssets() {
  return node.get("/v1/assets", { limit: 500 }).then((page) => Object.fromEntries(page.items.map((a) => [a.id, a])));
}

/** Every asset by id, loaded once per page; again when `wanted` names one made since (a page left open). */
export function useAssets(wanted = []) {
  const [assets, setAssets] = useState({});
  const key = wanted.join(",");
  useEffect(() => {
    assetsOnce = assetsOnce || loadAssets();
    assetsOnce.then((found) => {
      if (wanted.some((id) => !(id in found))) {
        assetsOnce = loadAssets();
        assetsOnce.then(setAssets, () => setAssets({}));
      } else {
        setAssets(found);
      }
    }, () => setAssets({}));
  }, [key]);
  return assets;
}

export function amountText(minor, asset) {
  const decimals = asset ? asset.decimals : 0;
  return formatMinor(minor, decimals, locale());
}

export function Amount({ minor, asset, signed }) {
  const text = amountText(minor, asset);
  const shown = signed && minor > 0 ? `+${text}` : text;
  return html`<span class=${`amount ${signed ? (minor < 0 ? "out" : "in") : ""}`}>${shown}</span>`;
}

// --- money in a currency, exact rates (protocol 11) ---------------------------------------------------

/** A currency's minor-unit decimals (ISO 4217, as the browser knows them: USD 2, KRW 0, JPY 0); 2 when unknown. */
export function currencyDecimals(code) {
  try {
    return new Intl.NumberFormat("en", { style: "currency", currency: code }).resolvedOptions().maximumFractionDigits;
  } catch {
    return 2;
  }
}

/** Minor units of a currency as "148.57 USD" (exact; `signed`: "+148.57 USD" when positive). */
export function moneyText(minor, currency, signed = false) {
  const text = `${formatMinor(minor, currencyDecimals(currency), locale())} ${currency}`;
  return signed && minor > 0 ? `+${text}` : text;
}

function gcd(a, b) {
  let [x, y] = [a < 0n ? -a : a, b < 0n ? -b : b];
  while (y) [x, y] = [y, x % y];
  return x;
}

/** An exact rational num/den (integers or BigInts) in words: a decimal where it ends within 12 places ("9.6",
 *  "0.008"), else the fraction with a rounded decimal beside it ("1/1400 ≈ 0.000714"). */
export function exactText(num, den) {
  let [n, d] = [BigInt(num), BigInt(den)];
  const g = gcd(n, d) || 1n;
  [n, d] = [n / g, d / g];
  const format = (digits, places) => {
    const whole = digits / 10n ** BigInt(places);
    const fraction = (digits % 10n ** BigInt(places)).toString().padStart(places, "0").replace(/0+$/, "");
    const grouped = new Intl.NumberFormat(locale()).format(whole);
    const mark = new Intl.NumberFormat(locale(), { minimumFractionDigits: 1 }).formatToParts(1.5).find((p) => p.type === "decimal").value;
    return fraction ? `${grouped}${mark}${fraction}` : grouped;
  };
  for (let places = 0; places <= 12; places++) {
    const scaled = n * 10n ** BigInt(places);
    if (scaled % d === 0n) return format(scaled / d, places);
  }
  const approx = new Intl.NumberFormat(locale(), { maximumSignificantDigits: 3 }).format(Number(n) / Number(d));
  return `${n}/${d} ≈ ${approx}`;
}

/** What one unit of an asset is worth in its rate's currency: "9.6" (won a mile); a rate is per minor unit. */
export function rateValueText(rate, asset, currency) {
  const decimals = asset ? asset.decimals : 0;
  return exactText(BigInt(rate.num) * 10n ** BigInt(decimals), BigInt(rate.den) * 10n ** BigInt(currencyDecimals(currency)));
}

export function assetName(asset, id) {
  return asset ? asset.name : id;
}

/** A freeze's reason code in words where we have them, the code beside them. */
export function reasonText(code) {
  const known = t(`reason.${code}`);
  return known === `reason.${code}` ? code : `${known} (${code})`;
}

/** An error as one line: the API's stable code in words where we have them (the code beside them),
 *  else the code and its message. `text`, when given, are the words (the code still beside them). */
export function ErrorLine({ error, text }) {
  if (!error) return null;
  const code = error.code || error.message || String(error);
  const known = text || t(`error.${code}`);
  if (known === `error.${code}`) {
    const message = error.message && error.message !== code ? error.message : "";
    return html`<p class="error" role="alert" data-code=${code}><span class="code">${code}</span>${message ? `: ${message}` : ""}</p>`;
  }
  return html`<p class="error" role="alert" data-code=${code}>${known} <span class="code">(${code})</span></p>`;
}

// --- places: merchant categories, coordinates, distances ---------------------------------------------

// The ISO 18245 merchant category codes (MCC) the apps name in words (`mcc.*` in messages.js); others show as the code.
const MCC_NAMES = {
  4121: "taxi", 5309: "duty_free", 5311: "department_store", 5411: "groceries", 5499: "convenience",
  5541: "fuel", 5812: "restaurant", 5813: "bar", 5814: "fast_food", 5912: "pharmacy", 5942: "books",
  5999: "other_retail", 7011: "lodging",
};
export const KNOWN_MCCS = Object.keys(MCC_NAMES);

/** A category code's name in words, or null for a code the apps do not name. */
export function mccName(code) {
  const name = Object.hasOwn(MCC_NAMES, code) ? MCC_NAMES[code] : null;
  return name ? t(`mcc.${name}`) : null;
}

/** A category as shown: "5814 · Fast food, café", or the code alone when the apps do not name it. */
export function mccText(code) {
  const name = mccName(code);
  return name ? `${code} · ${name}` : code;
}

// ISO 3166-2 region codes the apps name in words (`region.*` in messages.js); others show as the code.
export const REGIONS = { "KR-11": "seoul", "KR-26": "busan", "KR-27": "daegu", "KR-28": "incheon", "KR-29": "gwangju",
  "KR-30": "daejeon", "KR-31": "ulsan", "KR-50": "sejong", "KR-41": "gyeonggi", "KR-49": "jeju" };

/** A region's name in words, or null for a code the apps do not name. */
export function regionName(code) {
  return Object.hasOwn(REGIONS, code) ? t(`region.${REGIONS[code]}`) : null;
}

/** A region as shown: "KR-11 · Seoul", or the code alone when the apps do not name it. */
export function regionText(code) {
  const name = regionName(code);
  return name ? `${code} · ${name}` : code;
}

/** Why the ledger refused a transaction, in words: the stable code's message where the apps have one,
 *  else the ledger's own message (English), else the code. */
export function refusalText(code, message) {
  const known = t(`error.${code}`);
  if (known !== `error.${code}`) return known;
  return message || code;
}

/** Decimal degrees written as text ("37.5665", "-0.5") as integer millionths of a degree. The digits are
 *  read from the text (no floating point): at most 6 decimals, within ±bound degrees; throws with `code`. */
export function degreesToE6(text, bound, code = "degrees_invalid") {
  const found = /^([+-]?)([0-9]{1,3})(?:\.([0-9]{0,6}))?$/.exec(String(text ?? "").trim());
  if (!found) throw Object.assign(new Error(code), { code });
  const magnitude = Number(found[2] + (found[3] || "").padEnd(6, "0")); // whole degrees and 6 decimals, as digits
  if (magnitude > bound * 1_000_000) throw Object.assign(new Error(code), { code });
  return found[1] === "-" && magnitude ? -magnitude : magnitude;
}

/** Millionths of a degree as decimal degrees ("37.5665"): exact, trailing zeros dropped. */
export function e6ToDegrees(e6) {
  const digits = String(Math.abs(e6)).padStart(7, "0");
  const fraction = digits.slice(-6).replace(/0+$/, "");
  return `${e6 < 0 ? "-" : ""}${digits.slice(0, -6)}${fraction ? `.${fraction}` : ""}`;
}

/** A distance in metres as the page shows it: "850 m", "1.3 km", "325 km". */
export function distanceText(metres) {
  if (metres < 1000) return t("distance.m", { n: new Intl.NumberFormat(locale()).format(metres) });
  const digits = metres < 9_950 ? 1 : 0;
  const km = new Intl.NumberFormat(locale(), { minimumFractionDigits: digits, maximumFractionDigits: digits });
  return t("distance.km", { n: km.format(metres / 1000) });
}

/** A QR code of `text`, drawn here (qrcode-generator), as SVG. */
export function QrCode({ text, label }) {
  const svg = useMemo(() => {
    const code = qrcode(0, "M");
    code.addData(unescape(encodeURIComponent(text)), "Byte");
    code.make();
    return code.createSvgTag({ cellSize: 4, margin: 4, scalable: true });
  }, [text]);
  return html`<div class="qr" role="img" aria-label=${label || text} dangerouslySetInnerHTML=${{ __html: svg }} />`;
}

/** A Code 128 barcode of digits (JsBarcode, loaded as a classic script). */
export function Barcode({ digits }) {
  const ref = useRef(null);
  useEffect(() => {
    if (ref.current && window.JsBarcode) {
      window.JsBarcode(ref.current, digits, { format: "CODE128", displayValue: true, margin: 0, height: 60 });
    }
  }, [digits]);
  return html`<svg class="barcode" ref=${ref} aria-label=${digits}></svg>`;
}

/** The camera, read for a QR code (jsQR, loaded as a classic script); `onPayload` gets its text. */
export function Scanner({ onPayload }) {
  const video = useRef(null);
  const [state, setState] = useState("off");
  useEffect(() => () => video.current && video.current.srcObject && video.current.srcObject.getTracks().forEach((tr) => tr.stop()), []);

  async function start() {
    try {
      const stream = await navigator.mediaDevices.getUserMedia({ video: { facingMode: "environment" } });
      video.current.srcObject = stream;
      await video.current.play();
      setState("on");
      const canvas = document.createElement("canvas");
      const context = canvas.getContext("2d", { willReadFrequently: true });
      const look = () => {
        if (!video.current || !video.current.srcObject) return;
        const { videoWidth: w, videoHeight: h } = video.current;
        if (w && h) {
          canvas.width = w;
          canvas.height = h;
          context.drawImage(video.current, 0, 0, w, h);
          const found = window.jsQR(context.getImageData(0, 0, w, h).data, w, h);
          if (found && found.data) {
            stream.getTracks().forEach((tr) => tr.stop());
            video.current.srcObject = null;
            setState("off");
            onPayload(found.data);
            return;
          }
        }
        setTimeout(look, 150);
      };
      look();
    } catch (err) {
      setState("denied");
    }
  }

  return html`
    <div class="scanner">
      <video ref=${video} playsinline muted class=${state === "on" ? "" : "hidden"}></video>
      ${state !== "on" ? html`<button onClick=${start} data-test="scan">${t("wallet.scan")}</button>` : null}
      ${state === "denied" ? html`<p class="error">${t("wallet.camera_denied")}</p>` : null}
    </div>`;
}

/** Seconds left until `untilMs`, ticking. */
export function useCountdown(untilMs) {
  const [now, setNow] = useState(Date.now());
  useEffect(() => {
    const timer = setInterval(() => setNow(Date.now()), 500);
    return () => clearInterval(timer);
  }, []);
  return Math.max(0, Math.ceil((untilMs - now) / 1000));
}

export function Countdown({ untilMs }) {
  const left = useCountdown(untilMs);
  const text = left > 0 ? t("countdown.left", { m: Math.floor(left / 60), s: String(left % 60).padStart(2, "0") }) : t("countdown.expired");
  return html`<span class=${`countdown ${left > 0 ? "" : "expired"}`}>${text}</span>`;
}

/** Run an async action with a busy flag and an error; returns [run, busy, error, setError]. */
export function useAction() {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState(null);
  async function run(action) {
    setBusy(true);
    setError(null);
    try {
      return await action();
    } catch (err) {
      setError(err);
      return undefined;
    } finally {
      setBusy(false);
    }
  }
  return [run, busy, error, setError];
}

/** Render the app; a language change re-renders all of it. */
export function mount(App) {
  function Root() {
    const current = useLang();
    return html`<${App} lang=${current} />`;
  }
  render(html`<${Root} />`, document.getElementById("app"));
}
