// The merchant's point of sale: a dynamic QR code for an amount, seen paid live from the event
// stream; charging a holder's one-time code; full and partial refunds; today's sales; a cash-out; the coupons
// customers used here (protocol 10), newest first, seen live, so the cashier hands over the item.
// The merchant's key file is loaded into this browser; every transaction is signed here.

import { t, time } from "../shared/i18n.js";
import { newRef, readKeyFile, toMinor } from "../shared/tally.js";
import {
  Amount, Countdown, ErrorLine, Scanner, Shell, amountText, assetName, genesis, html, mount, node, stored,
  useAction, useAssets, useBlockTimes, useEffect, useRef, useRoute, useState,
} from "../shared/ui.js";

const KEY_STORE = "tally.pos.key";
const SALE_TYPES = new Set(["pay", "charge"]);
const LISTED_SALES = 30; // today's list shows the newest 30; the count and totals cover the whole day
const LISTED_COUPONS = 10; // the newest coupon uses listed

async function chain() {
  return (await genesis()).chain;
}

/** Final transactions of this merchant as they happen (payments to it, its refunds and charges). */
function useMerchantEvents(merchant, onTx) {
  const handler = useRef(onTx);
  handler.current = onTx;
  useEffect(() => {
    // as the merchant (node.follow: its read token, renewed; the stream reopens after the last event)
    return node.follow({ merchant, types: "tx" }, { tx: (e) => handler.current(JSON.parse(e.data)) });
  }, [merchant]);
}

function SignIn({ onKey }) {
  const [text, setText] = useState("");
  const [run, busy, error] = useAction();
  const signIn = () => run(async () => {
    const key = await readKeyFile(text);
    const account = await node.get(`/v1/accounts/${key.id}`, undefined, key); // its token: the account's key
    if (account.role !== "merchant") throw Object.assign(new Error(key.id), { code: "not_merchant" });
    if (account.public_key !== key.public_key) throw Object.assign(new Error(key.id), { code: "key_file_key_mismatch" });
    onKey(key);
  });
  const fromFile = async (e) => setText(await e.target.files[0].text());
  return html`
    <section class="card">
      <h1>${t("pos.sign_in")}</h1>
      <p>${t("pos.sign_in_text")}</p>
      <input type="file" accept="application/json,.json" onChange=${fromFile} />
      <label>${t("wallet.backup_paste")}<textarea name="key" rows="4" value=${text} onInput=${(e) => setText(e.target.value)}></textarea></label>
      <button class="primary" disabled=${busy || !text} onClick=${signIn} data-test="sign-in">${t("pos.sign_in")}</button>
      <${ErrorLine} error=${error} />
    </section>`;
}

// --- today's sales ----------------------------------------------------------------------------------------------

function startOfToday() {
  const day = new Date();
  day.setHours(0, 0, 0, 0);
  return day.getTime();
}

const HISTORY_PAGE = 200;
const MAX_PAGES = 10; // today's count and totals cover at most the newest 2,000 transactions

/** The merchant's applied transactions since midnight, newest first (paged, bounded). */
async function todaysItems(merchant) {
  const since = startOfToday();
  const found = [];
  let cursor = null;
  for (let page = 0; page < MAX_PAGES; page++) {
    const got = await node.get(`/v1/accounts/${merchant}/history`, { limit: HISTORY_PAGE, status: "applied", cursor });
    const today = got.items.filter((i) => i.time_ms >= since);
    found.push(...today);
    if (today.length < got.items.length || !got.next_cursor) break;
    cursor = got.next_cursor;
  }
  return found;
}

function Today({ merchant }) {
  const assets = useAssets();
  const [items, setItems] = useState([]);
  const [tick, setTick] = useState(0);
  useMerchantEvents(merchant, () => setTick((n) => n + 1));
  useEffect(() => {
    todaysItems(merchant).then(setItems, () => setItems([]));
  }, [merchant, tick]);
  const totals = {};
  let count = 0;
  for (const item of items) {
    if (SALE_TYPES.has(item.type) || item.type === "refund") {
      if (SALE_TYPES.has(item.type)) count += 1;
      for (const m of item.movements || []) totals[m.asset] = (totals[m.asset] || 0) + m.amount_minor;
    }
  }
  return html`
    <section class="card">
      <h1>${merchant}</h1>
      <div class="actions">
        <a class="button primary" href="#/sale" data-test="to-sale">${t("pos.new_sale")}</a>
        <a class="button" href="#/charge" data-test="to-charge">${t("pos.charge_code")}</a>
        <a class="button" href="#/cashout">${t("pos.cash_out")}</a>
      </div>
    </section>
    <${CouponUses} merchant=${merchant} tick=${tick} />
    <section class="card">
      <h2>${t("pos.today")}</h2>
      <p data-test="sales-count">${t("pos.sales_count", { n: count })}</p>
      <ul class="balances" data-test="totals">
        ${Object.entries(totals).map(([id, minor]) => html`<li><span>${assetName(assets[id], id)}</span><strong><${Amount} minor=${minor} asset=${assets[id]} /></strong></li>`)}
      </ul>
      <ul class="history" data-test="sales">
        ${items.filter((i) => SALE_TYPES.has(i.type) || i.type === "refund").slice(0, LISTED_SALES).map((item) => html`
          <li data-type=${item.type}>
            <div class="row">
              <span>${t(`tx.${item.type}`)} · ${item.tx.payment_id || ""}</span>
              ${(item.movements || []).map((m) => html`<span><${Amount} minor=${m.amount_minor} asset=${assets[m.asset]} signed /></span>`)}
            </div>
            <div class="row muted"><span>${(item.movements || [])[0]?.counterparty || ""}</span><span>${time(item.time_ms)}</span></div>
            ${SALE_TYPES.has(item.type) ? html`<a class="small" href=${`#/payment/${item.tx.payment_id}`} data-test="to-refund">${t("pos.refund")}</a>` : null}
          </li>`)}
      </ul>
    </section>`;
}

// --- coupons used here (protocol 10) -------------------------------------------------------------------------------

/** The coupons customers used at this merchant (GET /v1/merchants/{m}/coupons), newest first: read again when the
 *  sales are (`tick`) and when a use_coupon naming the merchant is final (the account's event stream: the merchant
 *  stream carries payments, refunds, charges and cash-outs only). Uses since the page opened are marked new. */
function CouponUses({ merchant, tick }) {
  const [uses, setUses] = useState(null); // {items, names: coupon names by id}
  const [live, setLive] = useState(0);
  const first = useRef(null); // the uses listed when the page opened
  useEffect(() => node.follow({ account: merchant, types: "tx" }, {
    tx: (e) => {
      if (JSON.parse(e.data).type === "use_coupon") setLive((n) => n + 1);
    },
  }), [merchant]);
  useEffect(() => {
    let on = true;
    Promise.all([
      node.get(`/v1/merchants/${merchant}/coupons`),
      node.get("/v1/coupons", undefined, null).catch(() => ({ items: [] })), // the mall (public): the coupons' names
    ]).then(([got, mall]) => {
      if (!on) return;
      const items = [...got.items].sort((a, b) => b.height - a.height).slice(0, LISTED_COUPONS);
      if (first.current === null) first.current = new Set(items.map((u) => u.txid));
      setUses({ items, names: Object.fromEntries(mall.items.map((c) => [c.id, c.name])) });
    }, () => on && setUses((was) => was || { items: [], names: {} }));
    return () => {
      on = false;
    };
  }, [merchant, tick, live]);
  const times = useBlockTimes(uses ? uses.items.map((u) => u.height) : []);

  return html`
    <section class="card coupon-uses" data-test="coupon-uses">
      <h2>${t("pos.coupons")}</h2>
      ${uses === null ? html`<p class="muted">…</p>`
        : uses.items.length === 0 ? html`<p class="muted" data-test="no-coupon-uses">${t("pos.coupons_none")}</p>` : html`
        <p class="muted">${t("pos.coupons_text")}</p>
        <ul class="history">
          ${uses.items.map((u) => {
            const fresh = first.current !== null && !first.current.has(u.txid);
            return html`
              <li class=${fresh ? "fresh" : ""} data-coupon=${u.coupon} data-holder=${u.holder}>
                <div class="row">
                  <strong>${uses.names[u.coupon] || u.coupon}</strong>
                  ${fresh ? html`<span class="badge new" data-test="new">${t("pos.coupon_new")}</span>` : null}
                </div>
                <div class="row muted">
                  <span>${t("pos.coupon_by", { holder: u.holder })}</span>
                  <span>${times[u.height] ? time(times[u.height]) : "…"}</span>
                </div>
              </li>`;
          })}
        </ul>`}
    </section>`;
}

// --- a sale by dynamic QR code -----------------------------------------------------------------------------------

function Sale({ merchant }) {
  const assets = useAssets();
  const ids = Object.keys(assets);
  const [asset, setAsset] = useState("");
  const [amount, setAmount] = useState("");
  const [qr, setQr] = useState(null);
  const [paid, setPaid] = useState(null);
  const [run, busy, error] = useAction();
  const chosen = asset || ids[0] || "";

  useMerchantEvents(merchant, (event) => {
    if (qr && event.type === "pay" && event.tx.payment_id === qr.payment_id && event.status === "applied") setPaid(event);
  });

  const make = () => run(async () => {
    setPaid(null);
    setQr(await node.get(`/v1/merchants/${merchant}/qr`, { asset: chosen, amount: amount.trim() }));
  });

  if (qr) {
    return html`
      <section class="card center" data-test="sale">
        <h1>${paid ? t("pos.paid") : t("pos.scan_to_pay")}</h1>
        <p class="big"><${Amount} minor=${qr.amount_minor} asset=${assets[qr.asset]} /> ${assetName(assets[qr.asset], qr.asset)}</p>
        ${paid ? html`<p class="verified" data-test="paid">${t("pos.paid_by", { who: paid.tx.signer, when: time(paid.time_ms) })}</p>` : html`
          <div class="qr" data-test="merchant-qr" data-payload=${qr.payload} dangerouslySetInnerHTML=${{ __html: qr.svg }} />
          <p><${Countdown} untilMs=${qr.expires_ms} /></p>
          <p class="muted small">${qr.payment_id}</p>`}
        <button onClick=${() => { setQr(null); setAmount(""); }}>${paid ? t("pos.next_sale") : t("wallet.cancel")}</button>
      </section>`;
  }
  return html`
    <section class="card">
      <h1>${t("pos.new_sale")}</h1>
      <label>${t("wallet.asset")}<select value=${chosen} onChange=${(e) => setAsset(e.target.value)}>
        ${ids.map((id) => html`<option value=${id}>${assetName(assets[id], id)}</option>`)}
      </select></label>
      <label>${t("wallet.amount")}<input name="amount" inputmode="decimal" value=${amount} onInput=${(e) => setAmount(e.target.value)} /></label>
      <button class="primary" disabled=${busy || !amount} onClick=${make} data-test="make-qr">${t("pos.make_qr")}</button>
      <${ErrorLine} error=${error} />
    </section>`;
}

// --- charging a holder's one-time code ----------------------------------------------------------------------------

function Charge({ merchant, keyFile }) {
  const assets = useAssets();
  const [digits, setDigits] = useState("");
  const [code, setCode] = useState(null);
  const [amount, setAmount] = useState("");
  const [done, setDone] = useState(null);
  const [run, busy, error] = useAction();

  const look = () => run(async () => setCode(await node.get(`/v1/codes/${digits.replace(/\D/g, "")}`)));
  const charge = () => run(async () => {
    const status = await node.send(keyFile, await chain(), "charge", {
      code: code.code, amount_minor: toMinor(amount, assets[code.asset].decimals), payment_id: newRef("pos"),
    });
    if (status.code !== "ok") throw Object.assign(new Error(status.message), { code: status.code });
    setDone(status);
  });

  if (done) return html`<section class="card"><h1 data-test="charged">${t("pos.charged")}</h1><a class="button" href="#/">${t("wallet.done")}</a></section>`;
  return html`
    <section class="card">
      <h1>${t("pos.charge_code")}</h1>
      ${code === null ? html`
        <${Scanner} onPayload=${(text) => { setDigits(text); run(async () => setCode(await node.get(`/v1/codes/${text.replace(/\D/g, "")}`))); }} />
        <label>${t("pos.code_digits")}<input name="code" inputmode="numeric" value=${digits} onInput=${(e) => setDigits(e.target.value)} /></label>
        <button disabled=${busy || !digits} onClick=${look} data-test="look-code">${t("pos.look_up")}</button>` : html`
        <dl class="facts" data-test="code">
          <dt>${t("pos.holder")}</dt><dd>${code.holder}</dd>
          <dt>${t("wallet.code_limit")}</dt><dd><${Amount} minor=${code.limit_minor} asset=${assets[code.asset]} /> ${assetName(assets[code.asset], code.asset)}</dd>
          <dt>${t("pos.status")}</dt><dd>${t(`code.${code.status}`)}</dd>
          <dt>${t("wallet.valid")}</dt><dd><${Countdown} untilMs=${code.expires_ms} /></dd>
        </dl>
        <label>${t("wallet.amount")}<input name="amount" inputmode="decimal" value=${amount} onInput=${(e) => setAmount(e.target.value)} /></label>
        <button class="primary" disabled=${busy || !amount || code.status !== "open"} onClick=${charge} data-test="charge">${t("pos.charge")}</button>
        <button onClick=${() => setCode(null)}>${t("wallet.cancel")}</button>`}
      <${ErrorLine} error=${error} />
    </section>`;
}

// --- refunds and cash-out -------------------------------------------------------------------------------------------

function Refund({ merchant, keyFile, paymentId }) {
  const assets = useAssets();
  const [payment, setPayment] = useState(null);
  const [amount, setAmount] = useState("");
  const [run, busy, error] = useAction();
  const load = () => node.get(`/v1/merchants/${merchant}/payments/${paymentId}`).then(setPayment);
  useEffect(() => {
    load().catch(() => setPayment(null));
  }, [paymentId]);

  const refund = (minor) => run(async () => {
    const status = await node.send(keyFile, await chain(), "refund", { payment_id: paymentId, amount_minor: minor, ref: newRef("pos") });
    if (status.code !== "ok") throw Object.assign(new Error(status.message), { code: status.code });
    setAmount("");
    await load();
  });

  if (!payment) return html`<section class="card"><p>…</p><${ErrorLine} error=${error} /></section>`;
  const asset = assets[payment.asset];
  const left = payment.amount_minor - payment.refunded_minor;
  return html`
    <section class="card" data-test="refund">
      <h1>${t("pos.refund")} · ${paymentId}</h1>
      <dl class="facts">
        <dt>${t("pos.payer")}</dt><dd>${payment.payer}</dd>
        <dt>${t("wallet.amount")}</dt><dd><${Amount} minor=${payment.amount_minor} asset=${asset} /> ${assetName(asset, payment.asset)}</dd>
        <dt>${t("pos.refunded")}</dt><dd data-test="refunded"><${Amount} minor=${payment.refunded_minor} asset=${asset} /></dd>
      </dl>
      ${left > 0 ? html`
        <button disabled=${busy} onClick=${() => refund(left)} data-test="refund-full">${t("pos.refund_all", { amount: amountText(left, asset) })}</button>
        <label>${t("pos.refund_part")}<input name="amount" inputmode="decimal" value=${amount} onInput=${(e) => setAmount(e.target.value)} /></label>
        <button disabled=${busy || !amount} onClick=${() => run(async () => refund(toMinor(amount, asset.decimals)))} data-test="refund-part">${t("pos.refund")}</button>` : html`<p>${t("pos.fully_refunded")}</p>`}
      <a class="button" href="#/">${t("wallet.done")}</a>
      <${ErrorLine} error=${error} />
    </section>`;
}

function CashOut({ merchant, keyFile }) {
  const assets = useAssets();
  const ids = Object.keys(assets);
  const [asset, setAsset] = useState("");
  const [amount, setAmount] = useState("");
  const [account, setAccount] = useState("");
  const [done, setDone] = useState(null);
  const [run, busy, error] = useAction();
  const chosen = asset || ids[0] || "";
  const send = () => run(async () => {
    const status = await node.send(keyFile, await chain(), "cash_out", {
      asset: chosen, amount_minor: toMinor(amount, assets[chosen].decimals), payout_ref: account.trim(), ref: newRef("pos"),
    });
    if (status.code !== "ok") throw Object.assign(new Error(status.message), { code: status.code });
    setDone(status);
  });
  if (done) return html`<section class="card"><h1 data-test="cashed-out">${t("pos.cash_out_done")}</h1><a class="button" href="#/">${t("wallet.done")}</a></section>`;
  return html`
    <section class="card">
      <h1>${t("pos.cash_out")}</h1>
      <label>${t("wallet.asset")}<select value=${chosen} onChange=${(e) => setAsset(e.target.value)}>
        ${ids.map((id) => html`<option value=${id}>${assetName(assets[id], id)}</option>`)}</select></label>
      <label>${t("wallet.amount")}<input name="amount" inputmode="decimal" value=${amount} onInput=${(e) => setAmount(e.target.value)} /></label>
      <label>${t("pos.bank_account")}<input name="payout" value=${account} onInput=${(e) => setAccount(e.target.value)} /></label>
      <button class="primary" disabled=${busy || !amount || !account} onClick=${send} data-test="cash-out">${t("pos.cash_out")}</button>
      <${ErrorLine} error=${error} />
    </section>`;
}

function Pos() {
  const [keyFile, setKeyFile] = useState(() => stored(KEY_STORE));
  const route = useRoute();
  node.setReader(keyFile); // the merchant reads its own history, payments and events (docs/access.md)
  function keep(key) {
    localStorage.setItem(KEY_STORE, JSON.stringify(key));
    setKeyFile(key);
    location.hash = "/";
  }
  let page;
  if (!keyFile) page = html`<${SignIn} onKey=${keep} />`;
  else if (route === "/sale") page = html`<${Sale} merchant=${keyFile.id} />`;
  else if (route === "/charge") page = html`<${Charge} merchant=${keyFile.id} keyFile=${keyFile} />`;
  else if (route === "/cashout") page = html`<${CashOut} merchant=${keyFile.id} keyFile=${keyFile} />`;
  else if (route.startsWith("/payment/")) page = html`<${Refund} merchant=${keyFile.id} keyFile=${keyFile} paymentId=${route.slice(9)} />`;
  else page = html`<${Today} merchant=${keyFile.id} />`;
  return html`<${Shell} app="pos">${page}<//>`;
}

mount(Pos);
