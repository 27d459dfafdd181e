// The wallet: a holder's key made and kept in this browser, balances, history, sending, paying a
// merchant's QR code, a one-time payment code to show, and e-receipts checked in the page; the
// account's freeze and limits; replacing the key (rotate_key) and, after a lost phone, a new key the
// holder's member moves the account to (start_recovery, complete_recovery in the member console).
// Nearby shops: the merchant directory, nearest first, from the phone's position or a place chosen.
// An asset with a policy (protocol 8: a voucher or local currency) says where it is spent, its caps and its end
// beside its balance; a transaction the ledger refused shows the rule's reason in the holder's language.
// Value that expires (protocol 9) is held as lots: the home page says what expires first and when, and the asset's
// page (#/asset/ID) lists its lots, first to expire first, what is spendable, and what expired lately and where it went.
// The coupon mall (protocol 10): coupons bought with points (#/mall, buy_coupon) and used once at a shop (#/coupons,
// use_coupon); the shop's point of sale lists the use.
// Rates and roaming (protocol 11): the Exchange page (#/exchange) gives one programme's points for another's at the
// published rates, with a live exact quote signed as the least accepted (min_out_minor); a shop that takes only a
// partner's points is paid with the holder's own (pay_roaming, at most the quoted amount), from its QR code or from
// the partner-merchant form (#/partner).
// Pages are hash routes (#/pay, #/code, #/nearby, ...); each is a function of the wallet's state. The wallet reads
// its account as itself: the node gives it read tokens for a challenge signed with its key (docs/access.md).

import { t, time } from "../shared/i18n.js";
import { verifyReceipt } from "../shared/receipt.js";
import { newKeyFile, newRef, readKeyFile, toMinor } from "../shared/tally.js";
import {
  Amount, Barcode, Countdown, ErrorLine, QrCode, Scanner, Shell, amountText, assetName, chainDate, currencyDecimals,
  degreesToE6, distanceText, e6ToDegrees, genesis, html, mccName, mccText, moneyText, mount, node, rateValueText,
  reasonText, refusalText, regionName, stored, useAction, useAssets, useBlockTimes, useChainOffset, useEffect, useRef,
  useRoute, useState, validatorChanges,
} from "../shared/ui.js";

const KEY_STORE = "tally.wallet.key";
// Keys a rotation made whose rotate_key was sent but not yet seen final: whichever the ledger ends up
// holding is adopted, so a page closed mid-rotation never loses the account's new key.
const PENDING_STORE = "tally.wallet.pending_keys";
const RECOVERY_STORE = "tally.wallet.recovery"; // the new key of a lost-phone recovery, until it completes
const RECOVERY_POLL_MS = 2_000;
const CODE_LIMIT_DEFAULT = "30";
const NEARBY_PAGE = 20; // merchants per directory page
const QUOTE_DELAY_MS = 300; // a quote is asked for once typing pauses this long
// Places to measure from when the phone's position is not available (or not wanted).
const PLACES = [
  { id: "seoul-city-hall", name: "nearby.seoul_city_hall", lat: "37.5665", lon: "126.978" },
  { id: "busan-station", name: "nearby.busan_station", lat: "35.1151", lon: "129.0422" },
];

function go(path) {
  location.hash = path;
}

// --- no wallet yet --------------------------------------------------------------------------------

function Welcome({ onKey }) {
  const [id, setId] = useState(() => `w-${Math.random().toString(36).slice(2, 8)}`);
  const [backup, setBackup] = useState("");
  const [run, busy, error] = useAction();

  async function create() {
    await run(async () => {
      const key = await newKeyFile(id.trim());
      await node.post("/demo/v1/wallets", { account: key.id, public_key: key.public_key });
      onKey(key);
    });
  }

  async function restore() {
    await run(async () => {
      const key = await readKeyFile(backup);
      await node.get(`/v1/accounts/${key.id}`, undefined, key); // the node's token for it: the account's key
      onKey(key);
    });
  }

  const recovering = stored(RECOVERY_STORE) !== null; // a recovery under way comes first
  return html`
    ${recovering ? html`<${Recover} onKey=${onKey} />` : null}
    <section class="card">
      <h1>${t("wallet.welcome")}</h1>
      <p>${t("wallet.welcome_text")}</p>
      <label>${t("wallet.account_id")}<input name="account" value=${id} onInput=${(e) => setId(e.target.value)} /></label>
      <button class="primary" disabled=${busy} onClick=${create} data-test="create">${t("wallet.create")}</button>
    </section>
    <section class="card">
      <h2>${t("wallet.restore")}</h2>
      <label>${t("wallet.backup_paste")}<textarea name="backup" rows="4" value=${backup}
        onInput=${(e) => setBackup(e.target.value)}></textarea></label>
      <button disabled=${busy || !backup} onClick=${restore} data-test="restore">${t("wallet.restore")}</button>
    </section>
    <${ErrorLine} error=${error} />
    ${recovering ? null : html`<${Recover} onKey=${onKey} />`}
  `;
}

/** A lost phone: a new key made here for an existing account; the holder's member moves the account to
 *  it (start_recovery, then complete_recovery after the council's delay) and the wallet opens then. */
function Recover({ onKey }) {
  const [pending, setPending] = useState(() => stored(RECOVERY_STORE));
  const [id, setId] = useState("");
  const [seen, setSeen] = useState(null);
  const [run, busy, error] = useAction();

  useEffect(() => {
    if (!pending) return undefined;
    let live = true;
    const check = async () => {
      try {
        // Read as the new key: the node takes it once the member started the recovery to it (docs/access.md).
        const [account, controls] = await Promise.all([
          node.get(`/v1/accounts/${pending.id}`, undefined, pending),
          node.get(`/v1/accounts/${pending.id}/controls`, undefined, pending),
        ]);
        if (!live) return;
        if (account.public_key === pending.public_key) {
          live = false;
          localStorage.removeItem(RECOVERY_STORE);
          onKey(pending);
          return;
        }
        setSeen({ account, recovery: controls.recovery });
      } catch {
        /* the next poll tries again */
      }
    };
    check();
    const timer = setInterval(check, RECOVERY_POLL_MS);
    return () => {
      live = false;
      clearInterval(timer);
    };
  }, [pending]);

  const start = () => run(async () => {
    const account = id.trim(); // the account is read once its member started the recovery to the new key
    if (!/^[a-z0-9][a-z0-9._-]{0,63}$/.test(account)) throw Object.assign(new Error(account), { code: "key_file_bad_id" });
    const key = await newKeyFile(account);
    localStorage.setItem(RECOVERY_STORE, JSON.stringify(key));
    setPending(key);
  });
  const stop = () => {
    localStorage.removeItem(RECOVERY_STORE);
    setPending(null);
    setSeen(null);
  };

  if (pending) {
    const started = seen && seen.recovery && seen.recovery.new_public_key === pending.public_key;
    return html`
      <section class="card" data-test="recovering">
        <h2>${t("wallet.recovering", { account: pending.id })}</h2>
        <p>${t("wallet.recovery_tell", { member: seen ? seen.account.member : "…" })}</p>
        <div class="qr-small"><${QrCode} text=${pending.public_key} label=${t("wallet.new_public_key")} /></div>
        <p class="mono" data-test="recovery-key">${pending.public_key}</p>
        <p class=${started ? "verified" : "muted"} data-test="recovery-state">${started
          ? t("wallet.recovery_started", { when: time(seen.recovery.completes_ms) }) : t("wallet.recovery_waiting")}</p>
        <button onClick=${stop}>${t("wallet.recovery_stop")}</button>
      </section>`;
  }
  return html`
    <section class="card">
      <h2>${t("wallet.lost_phone")}</h2>
      <p class="muted">${t("wallet.lost_phone_text")}</p>
      <label>${t("wallet.account_id")}<input name="recover_account" value=${id} onInput=${(e) => setId(e.target.value)} /></label>
      <button disabled=${busy || !id.trim()} onClick=${start} data-test="recover">${t("wallet.make_recovery_key")}</button>
      <${ErrorLine} error=${error} />
    </section>`;
}

// --- home: balances and history -----------------------------------------------------------------------

function useLedger(key, tick) {
  const [balances, setBalances] = useState(null);
  const [history, setHistory] = useState([]);
  const [controls, setControls] = useState(null);
  const [account, setAccount] = useState(null);
  const [lots, setLots] = useState({});
  const [error, setError] = useState(null);
  useEffect(() => {
    Promise.all([
      node.get(`/v1/accounts/${key.id}/balances`),
      node.get(`/v1/accounts/${key.id}/history`, { limit: 20 }),
      node.get(`/v1/accounts/${key.id}/controls`).catch(() => null), // none on a node before governance
      node.get(`/v1/accounts/${key.id}`),
      node.get(`/v1/accounts/${key.id}/lots`).catch(() => null), // none on a node before lots
    ]).then(([b, h, c, a, l]) => {
      setBalances(b.balances);
      setHistory(h.items);
      setControls(c);
      setAccount(a);
      setLots(lotsByAsset(l));
    }, setError);
  }, [key.id, tick]);
  return { balances, history, controls, account, lots, error };
}

/** What limits the account: a freeze and its reason, its limits, a key recovery its member started. */
function Controls({ wallet, controls, account, assets, onChanged }) {
  const [run, busy, error] = useAction();
  if (!controls) return null;
  const { frozen, limits, recovery } = controls;
  const replaced = account && account.public_key !== wallet.public_key;
  if (!frozen && !limits.length && !recovery && !replaced) return null;
  const cancel = () => run(async () => {
    await node.sendOk(wallet, (await genesis()).chain, "cancel_recovery", { account: wallet.id });
    onChanged();
  });
  return html`
    <section class="card" data-test="controls">
      ${replaced ? html`<p class="error" data-test="key-replaced">${t("wallet.key_replaced")}</p>` : null}
      ${frozen ? html`
        <div class="warn" data-test="frozen">
          <strong>${t("wallet.frozen")}</strong>
          <p data-test="frozen-reason">${t("wallet.frozen_reason", { reason: reasonText(frozen.reason) })}</p>
          <p class="small">${t("wallet.frozen_help", { by: frozen.by })}</p>
        </div>` : null}
      ${recovery && !replaced ? html`
        <div class="warn" data-test="recovery">
          <p>${t("wallet.recovery_pending", { member: recovery.member, when: time(recovery.completes_ms) })}</p>
          <button class="danger" disabled=${busy} onClick=${cancel} data-test="cancel-recovery">${t("wallet.recovery_cancel")}</button>
        </div>` : null}
      ${limits.length ? html`
        <h2>${t("wallet.limits")}</h2>
        <ul class="limits" data-test="limits">
          ${limits.map((l) => {
            const asset = assets[l.asset];
            const parts = [];
            if (l.max_payment_minor) parts.push(t("wallet.limit_payment", { amount: amountText(l.max_payment_minor, asset) }));
            if (l.daily_out_minor) {
              parts.push(t("wallet.limit_daily", { amount: amountText(l.daily_out_minor, asset), sent: amountText(l.sent_today_minor, asset) }));
            }
            if (l.balance_cap_minor) parts.push(t("wallet.limit_cap", { amount: amountText(l.balance_cap_minor, asset) }));
            return html`<li data-asset=${l.asset}><strong>${assetName(asset, l.asset)}</strong>
              ${parts.map((part) => html`<div class="small">${part}</div>`)}</li>`;
          })}
        </ul>` : null}
      <${ErrorLine} error=${error} />
    </section>`;
}

/** An asset's policy in a few words (protocol 8): where it is spent, the caps on holding and buying, its end.
 *  Nothing for an asset without one. */
function policyLines(asset) {
  const p = asset && asset.policy;
  if (!p) return [];
  const lines = [];
  const categories = (p.categories || []).map((c) => mccName(c) || t("policy.mcc", { code: c }));
  const regions = (p.regions || []).map((r) => (regionName(r) ? `${regionName(r)} (${r})` : r));
  const list = (items, joiner) => items.join(t(joiner));
  if (categories.length && regions.length) {
    lines.push(t("policy.spent_at_in", { categories: list(categories, "policy.or"), regions: list(regions, "policy.and") }));
  } else if (categories.length) lines.push(t("policy.spent_at", { categories: list(categories, "policy.or") }));
  else if (regions.length) lines.push(t("policy.spent_in", { regions: list(regions, "policy.and") }));
  if (p.holder_cap_minor) lines.push(t("policy.hold_up_to", { amount: amountText(p.holder_cap_minor, asset) }));
  if (p.monthly_cap_minor) lines.push(t("policy.month_up_to", { amount: amountText(p.monthly_cap_minor, asset) }));
  if (p.valid_until_ms) lines.push(t("policy.valid_until", { when: time(p.valid_until_ms) }));
  return lines;
}

function PolicyNote({ asset }) {
  const lines = policyLines(asset);
  if (!lines.length) return null;
  // A region's code in brackets, "(KR-11)", is kept on one line.
  const kept = (line) => line.split(/(\([A-Z0-9]+-[A-Z0-9_-]+\))/).map((part, i) => (i % 2 ? html`<span class="nowrap">${part}</span>` : part));
  return html`<ul class="policy-note" data-test="policy">${lines.map((line) => html`<li>${kept(line)}</li>`)}</ul>`;
}

function HistoryList({ items, assets, account }) {
  if (!items.length) return html`<p class="muted">${t("wallet.no_history")}</p>`;
  return html`
    <ul class="history" data-test="history">
      ${items.map((item) => html`
        <li class=${item.status} data-type=${item.type}>
          <div class="row">
            <span class="what">${t(`tx.${item.type}`)}${item.status === "rejected"
              ? html` <span class="badge refused" data-test="refused-badge">${t("wallet.rejected")}</span>` : null}</span>
            ${(item.movements || []).filter((m) => m.asset).map((m) => html`
              <span><${Amount} minor=${m.amount_minor} asset=${assets[m.asset]} signed /> ${assetName(assets[m.asset], m.asset)}</span>`)}
            ${item.status === "rejected" && item.tx.amount_minor && triedAsset(item.tx) ? html`
              <span class="tried"><${Amount} minor=${item.tx.amount_minor} asset=${assets[triedAsset(item.tx)]} /> ${
                assetName(assets[triedAsset(item.tx)], triedAsset(item.tx))}</span>` : null}
          </div>
          <div class="row muted">
            <span>${counterparty(item, account)}</span>
            <span>${time(item.time_ms)}</span>
          </div>
          ${item.status === "rejected" ? html`<p class="error refusal" data-test="refusal" data-code=${item.code}>
            ${refusalText(item.code, item.message)} <span class="code">(${item.code})</span></p>` : null}
          ${item.status === "applied" ? html`<a class="small" href=${`#/receipt/${item.txid}`}>${t("wallet.receipt")}</a>` : null}
        </li>`)}
    </ul>`;
}

/** The asset a refused transaction would have moved: its asset, or what an exchange gives. */
function triedAsset(tx) {
  return tx.asset || tx.from_asset || "";
}

function counterparty(item, account) {
  const other = (item.movements || []).map((m) => m.counterparty).find((c) => c && c !== account);
  return other || item.tx.merchant || item.tx.to || "";
}

function Home({ wallet }) {
  const assets = useAssets();
  const [tick, setTick] = useState(0);
  const { balances, history, controls, account, lots, error } = useLedger(wallet, tick);
  const offset = useChainOffset();
  useEffect(() => {
    return node.follow({ account: wallet.id, types: "tx" }, { tx: () => setTick((n) => n + 1) }, wallet);
  }, [wallet.id]);
  return html`
    <section class="card">
      <div class="row"><h1>${wallet.id}</h1></div>
      <ul class="balances" data-test="balances">
        ${balances === null ? html`<li class="muted">…</li>` : Object.entries(balances).map(([id, minor]) => html`
          <li data-asset=${id}>
            <div class="name"><span>${assetName(assets[id], id)}</span><${PolicyNote} asset=${assets[id]} />
              <${LotsLine} held=${lots[id]} asset=${assets[id]} id=${id} offset=${offset} /></div>
            <strong><${Amount} minor=${minor} asset=${assets[id]} /></strong>
          </li>`)}
      </ul>
      <div class="actions">
        <a class="button primary" href="#/pay" data-test="to-pay">${t("wallet.pay")}</a>
        <a class="button" href="#/code" data-test="to-code">${t("wallet.show_code")}</a>
        <a class="button" href="#/send">${t("wallet.send")}</a>
        <a class="button" href="#/backup" data-test="to-backup">${t("wallet.backup")}</a>
        <a class="button" href="#/exchange" data-test="to-exchange">${t("exchange.title")}</a>
        <a class="button" href="#/partner" data-test="to-partner">${t("roaming.short")}</a>
        <a class="button" href="#/mall" data-test="to-mall">${t("coupons.mall")}</a>
        <a class="button" href="#/coupons" data-test="to-coupons">${t("coupons.mine")}</a>
        <a class="button wide" href="#/nearby" data-test="to-nearby">${t("nearby.title")}</a>
      </div>
    </section>
    <${Controls} wallet=${wallet} controls=${controls} account=${account} assets=${assets} onChanged=${() => setTick((n) => n + 1)} />
    <section class="card">
      <h2>${t("wallet.history")}</h2>
      <${ErrorLine} error=${error} />
      <${HistoryList} items=${history} assets=${assets} account=${wallet.id} />
    </section>
  `;
}

// --- value that expires: lots (protocol 9) --------------------------------------------------------------------------

/** GET /v1/accounts/{id}/lots as {asset: {lots, spendable_minor, expired}} ({} on a node without lots). */
function lotsByAsset(body) {
  return body ? Object.fromEntries(body.items.map((item) => [item.asset, item])) : {};
}

/** The last chain day a lot is spent on: it expires at the midnight (chain time) that ends it. */
function lastDay(expiresMs, offset) {
  return chainDate(expiresMs - 1, offset);
}

function sumOf(lots) {
  return lots.reduce((n, lot) => n + lot.amount_minor, 0);
}

/** Under an asset's balance: the value that expires first and until when, and any expired but not yet swept;
 *  a link to the asset's page. Nothing for an asset without lots. */
function LotsLine({ held, asset, id, offset }) {
  if (!held || offset === null || !held.lots.length) return null;
  const live = held.lots.filter((lot) => !lot.expired);
  const dead = held.lots.filter((lot) => lot.expired);
  const first = live[0];
  return html`<a class="lots-line" href=${`#/asset/${encodeURIComponent(id)}`} data-test="lots">
    ${first ? html`<span>${t("lots.next", { amount: amountText(first.amount_minor, asset), date: lastDay(first.expires_ms, offset) })}${
      live.length > 1 ? ` · ${t("lots.more", { n: live.length - 1 })}` : ""}</span>` : null}
    ${dead.length ? html`<span class="bad" data-test="lots-expired">${t("lots.expired_now", { amount: amountText(sumOf(dead), asset) })}</span>` : null}
  </a>`;
}

/** Whether an asset's value expires at all (a lot lifetime or an end). */
function expires(asset) {
  const p = asset && asset.policy;
  return Boolean(p && (p.lot_lifetime_ms || p.valid_until_ms));
}

/** An asset's balance: its lots first to expire first, what is spendable now, and the latest expired lots. */
function AssetView({ wallet, id }) {
  const assets = useAssets([id]);
  const offset = useChainOffset();
  const [tick] = useTicks(wallet);
  const [found, setFound] = useState(null);
  const [error, setError] = useState(null);
  useEffect(() => {
    Promise.all([
      node.get(`/v1/accounts/${wallet.id}/balances`),
      node.get(`/v1/accounts/${wallet.id}/lots`).catch(() => null),
    ]).then(([b, l]) => setFound({ balance: b.balances[id] || 0, held: lotsByAsset(l)[id] || null }), setError);
  }, [wallet.id, id, tick]);

  const asset = assets[id];
  if (!found || offset === null) return html`<section class="card"><p>…</p><${ErrorLine} error=${error} /></section>`;
  const { balance, held } = found;
  const lots = held ? held.lots : [];
  const gone = held ? [...held.expired].reverse() : []; // newest first
  return html`
    <section class="card" data-test="asset" data-asset=${id}>
      <h1>${assetName(asset, id)}</h1>
      <dl class="facts">
        <dt>${t("lots.balance")}</dt><dd data-test="balance"><strong><${Amount} minor=${balance} asset=${asset} /></strong></dd>
        ${held ? html`<dt>${t("lots.spendable")}</dt><dd data-test="spendable"><${Amount} minor=${held.spendable_minor} asset=${asset} /></dd>` : null}
      </dl>
      <${PolicyNote} asset=${asset} />
    </section>
    <section class="card" data-test="lots">
      <h2>${t("lots.title")}</h2>
      ${lots.length ? html`
        <p class="muted">${t("lots.text")}</p>
        <ul class="lots">
          ${lots.map((lot) => html`
            <li class=${lot.expired ? "expired" : ""} data-expires=${lot.expires_ms}>
              <span>${t(lot.expired ? "lots.row_expired" : "lots.row_until", { date: lastDay(lot.expires_ms, offset) })}</span>
              <strong><${Amount} minor=${lot.amount_minor} asset=${asset} /></strong>
            </li>`)}
        </ul>` : html`<p class="muted" data-test="no-lots">${t(expires(asset) ? "lots.none_held" : "lots.none")}</p>`}
    </section>
    ${gone.length ? html`
      <section class="card" data-test="expired">
        <h2>${t("lots.gone")}</h2>
        <ul class="lots">
          ${gone.map((e) => html`
            <li>
              <div>
                <div>${t("lots.gone_row", { date: lastDay(e.expires_ms, offset) })}</div>
                <div class="muted">${e.to === "burn" ? t("lots.burned", { height: e.height })
                  : t("lots.to_issuer", { issuer: asset ? asset.issuer : "", height: e.height })}</div>
              </div>
              <strong><${Amount} minor=${e.amount_minor} asset=${asset} /></strong>
            </li>`)}
        </ul>
      </section>` : null}
    <a class="button" href="#/">${t("wallet.done")}</a>`;
}

// --- the coupon mall (protocol 10) ------------------------------------------------------------------------------------

/** A number that goes up with each of the account's final transactions (its event stream): pages read again on it. */
function useTicks(wallet) {
  const [tick, setTick] = useState(0);
  useEffect(() => node.follow({ account: wallet.id, types: "tx" }, { tx: () => setTick((n) => n + 1) }, wallet), [wallet.id]);
  return [tick, setTick];
}

function CouponTabs({ on }) {
  const tab = (name, href, key) => html`<a href=${href} class=${on === name ? "on" : ""}
    aria-current=${on === name ? "page" : null}>${t(key)}</a>`;
  return html`<nav class="tabs">${tab("mall", "#/mall", "coupons.mall")}${tab("mine", "#/coupons", "coupons.mine")}</nav>`;
}

/** The public mall (GET /v1/coupons): each coupon's price, stock left, shops and end, with a Buy button. */
function Mall({ wallet }) {
  const assets = useAssets();
  const [tick, setTick] = useTicks(wallet);
  const [mall, setMall] = useState(null);
  const [balances, setBalances] = useState({});
  const [loadError, setLoadError] = useState(null);
  const [buying, setBuying] = useState(null); // the coupon whose Buy was pressed last: its result shows under it
  const [bought, setBought] = useState(null);
  const [run, busy, error] = useAction();

  useEffect(() => {
    Promise.all([node.get("/v1/coupons", undefined, null), node.get(`/v1/accounts/${wallet.id}/balances`)]).then(([m, b]) => {
      setMall(m.items);
      setBalances(b.balances);
      setLoadError(null);
    }, setLoadError);
  }, [wallet.id, tick]);

  const buy = (coupon) => {
    setBuying(coupon.id);
    setBought(null);
    return run(async () => {
      try {
        await node.sendOk(wallet, (await genesis()).chain, "buy_coupon", { coupon: coupon.id, ref: newRef() });
        setBought(coupon.id);
      } finally {
        setTick((n) => n + 1); // the stock and the balance as they are now, bought or refused
      }
    });
  };

  return html`
    <section class="card" data-test="mall">
      <${CouponTabs} on="mall" />
      <h1>${t("coupons.mall")}</h1>
      <p class="muted">${t("coupons.mall_text")}</p>
      <${ErrorLine} error=${loadError} />
    </section>
    <section class="card">
      ${mall === null ? html`<p class="muted">…</p>`
        : mall.length === 0 ? html`<p class="muted" data-test="no-coupons">${t("coupons.none")}</p>` : html`
        <ul class="coupons" data-test="coupons">
          ${mall.map((c) => html`<${MallCoupon} key=${c.id} coupon=${c} asset=${assets[c.price_asset]} held=${balances[c.price_asset] || 0}
            busy=${busy} onBuy=${() => buy(c)} bought=${bought === c.id} error=${buying === c.id ? error : null} />`)}
        </ul>`}
    </section>
    <a class="button" href="#/">${t("wallet.done")}</a>`;
}

function MallCoupon({ coupon, asset, held, busy, onBuy, bought, error }) {
  const ended = Date.now() >= coupon.valid_until_ms;
  const unit = assetName(asset, coupon.price_asset);
  return html`
    <li data-coupon=${coupon.id}>
      <div class="row">
        <strong class="name">${coupon.name}</strong>
        <span class="price" data-test="price"><${Amount} minor=${coupon.price_minor} asset=${asset} /> ${unit}</span>
      </div>
      <div class="chips">
        <span class=${coupon.stock && !ended ? "chip held" : "chip bad"} data-test="stock">${ended ? t("coupons.expired")
          : coupon.stock ? t("coupons.left", { n: amountText(coupon.stock, null) }) : t("coupons.sold_out")}</span>
      </div>
      <div class="muted" data-test="merchants">${t("coupons.used_at_list", { merchants: coupon.merchants.join(", ") })}</div>
      <div class="muted" data-test="valid">${t("coupons.valid_until", { when: time(coupon.valid_until_ms) })}</div>
      <div class="muted" data-test="held">${t("coupons.you_hold", { amount: `${amountText(held, asset)} ${unit}` })}</div>
      <button class="primary" disabled=${busy || !coupon.stock || ended} onClick=${onBuy} data-test="buy">
        ${t("coupons.buy_for", { amount: `${amountText(coupon.price_minor, asset)} ${unit}` })}</button>
      ${bought ? html`<p class="verified" data-test="bought">${t("coupons.bought", { name: coupon.name })}</p>
        <a class="button" href="#/coupons" data-test="to-mine">${t("coupons.to_mine")}</a>` : null}
      <${ErrorLine} error=${error} />
    </li>`;
}

/** The coupons this wallet bought (GET /v1/accounts/{id}/coupons), newest first, used or not; Use signs use_coupon. */
function MyCoupons({ wallet }) {
  const [tick, setTick] = useTicks(wallet);
  const [found, setFound] = useState(null); // {items, mall: coupons by id}
  const [loadError, setLoadError] = useState(null);
  const [justUsed, setJustUsed] = useState(null);

  useEffect(() => {
    Promise.all([node.get(`/v1/accounts/${wallet.id}/coupons`), node.get("/v1/coupons", undefined, null)]).then(([mine, mall]) => {
      const items = [...mine.items].sort((a, b) => b.bought_height - a.bought_height);
      setFound({ items, mall: Object.fromEntries(mall.items.map((c) => [c.id, c])) });
      setLoadError(null);
    }, setLoadError);
  }, [wallet.id, tick]);
  const times = useBlockTimes(found ? found.items.map((item) => item.bought_height) : []);

  return html`
    <section class="card" data-test="my-coupons">
      <${CouponTabs} on="mine" />
      <h1>${t("coupons.mine")}</h1>
      <${ErrorLine} error=${loadError} />
      ${found === null ? html`<p class="muted">…</p>`
        : found.items.length === 0 ? html`<p class="muted" data-test="no-coupons">${t("coupons.none_mine")}</p>` : html`
        <ul class="coupons">
          ${found.items.map((item) => html`<${OwnedCoupon} key=${item.bought_txid} wallet=${wallet} item=${item}
            coupon=${found.mall[item.coupon]} boughtMs=${times[item.bought_height]} justUsed=${justUsed === item.bought_txid}
            onUsed=${() => setJustUsed(item.bought_txid)} onChanged=${() => setTick((n) => n + 1)} />`)}
        </ul>`}
    </section>
    <a class="button" href="#/">${t("wallet.done")}</a>`;
}

function OwnedCoupon({ wallet, item, coupon, boughtMs, justUsed, onUsed, onChanged }) {
  const [open, setOpen] = useState(false);
  const [merchant, setMerchant] = useState("");
  const [run, busy, error] = useAction();
  const merchants = coupon ? coupon.merchants : [];
  const chosen = merchant || merchants[0] || "";
  const used = item.used_txid !== "";
  const ended = coupon && Date.now() >= coupon.valid_until_ms;

  const use = () => run(async () => {
    try {
      await node.sendOk(wallet, (await genesis()).chain, "use_coupon", { bought: item.bought_txid, merchant: chosen });
      setOpen(false);
      onUsed();
    } finally {
      onChanged(); // used now, or refused: the list as the ledger holds it
    }
  });

  const state = used ? ["used", "coupons.used"] : ended ? ["expired", "coupons.expired"] : ["active", "coupons.unused"];
  return html`
    <li data-coupon=${item.coupon} data-bought=${item.bought_txid} class=${used ? "used" : ""}>
      <div class="row">
        <strong class="name">${coupon ? coupon.name : item.coupon}</strong>
        <span class=${`badge ${state[0]}`} data-test="state">${t(state[1])}</span>
      </div>
      ${used ? html`
        <div data-test="used-at">${t("coupons.used_at", { merchant: item.used_merchant })}${" · "}<a
          href=${`#/receipt/${item.used_txid}`}>${t("wallet.receipt")}</a></div>
        ${justUsed ? html`<p class="verified" data-test="show-cashier">${t("coupons.show_cashier")}</p>` : null}` : html`
        <div class="muted">${t("coupons.used_at_list", { merchants: merchants.join(", ") || "…" })}</div>`}
      <div class="muted">${boughtMs ? t("coupons.bought_on", { when: time(boughtMs) }) : ""}${
        coupon && !used ? html`${boughtMs ? " · " : ""}${t("coupons.valid_until", { when: time(coupon.valid_until_ms) })}` : null}</div>
      ${used || ended || !coupon ? null : open ? html`
        <div class="use-panel" data-test="use-panel">
          ${merchants.length > 1 ? html`<label>${t("coupons.use_where")}<select name="merchant" value=${chosen}
            onChange=${(e) => setMerchant(e.target.value)}>${merchants.map((m) => html`<option value=${m}>${m}</option>`)}</select></label>` : null}
          <p class="small">${t("coupons.use_text")}</p>
          <button class="primary" disabled=${busy} onClick=${use} data-test="confirm-use">${t("coupons.use_now", { merchant: chosen })}</button>
          <button disabled=${busy} onClick=${() => setOpen(false)}>${t("wallet.cancel")}</button>
        </div>` : html`<button class="primary" onClick=${() => setOpen(true)} data-test="use">${t("coupons.use")}</button>`}
      <${ErrorLine} error=${error} />
    </li>`;
}

// --- paying a merchant's QR code ------------------------------------------------------------------------------

function Pay({ wallet }) {
  const assets = useAssets();
  const [payload, setPayload] = useState("");
  const [code, setCode] = useState(null);
  const [roam, setRoam] = useState(null); // {held, rates, accepts}: what else could pay this shop (protocol 11)
  const [payWith, setPayWith] = useState(""); // a held asset chosen to pay a partner's shop with ("": its own asset)
  const [amount, setAmount] = useState("");
  const [done, setDone] = useState(null);
  const [run, busy, error] = useAction();

  const read = (text) => run(async () => {
    setPayload(text);
    setPayWith("");
    setRoam(null);
    const parsed = await node.post("/v1/qr/parse", { payload: text.trim() });
    setCode(parsed);
    setRoam(await roamingOptions(wallet, parsed.merchant));
  });

  const pay = () => run(async () => {
    const { chain } = await genesis();
    const asset = assets[code.asset];
    const amountMinor = code.dynamic ? code.amount_minor : toMinor(amount, asset.decimals);
    const paymentId = code.payment_id || newRef("qr");
    const ttl = code.expires_ms ? Math.max(1, code.expires_ms - Date.now()) : undefined;
    const status = await node.send(wallet, chain, "pay",
      { asset: code.asset, merchant: code.merchant, amount_minor: amountMinor, payment_id: paymentId }, ttl);
    setDone({ ...status, asset: code.asset });
  });

  if (done) return html`<${PayResult} done=${done} assets=${assets} />`;
  if (code === null) {
    return html`
      <section class="card">
        <h1>${t("wallet.pay")}</h1>
        <${Scanner} onPayload=${read} />
        <label>${t("wallet.paste_payload")}<textarea name="payload" rows="3" value=${payload}
          onInput=${(e) => setPayload(e.target.value)}></textarea></label>
        <button disabled=${busy || !payload} onClick=${() => read(payload)} data-test="read">${t("wallet.read_code")}</button>
        <${ErrorLine} error=${error} />
        <p class="small"><a href="#/partner" data-test="to-partner-form">${t("roaming.form_link")}</a></p>
      </section>`;
  }
  // A shop that takes only a partner's points, paid with the holder's own: those it holds, with a published rate,
  // that the shop does not take itself (the shop's own asset having a rate too).
  const options = roam && roam.rates[code.asset]
    ? Object.keys(roam.held).filter((id) => id !== code.asset && roam.rates[id] && !roam.accepts.includes(id)) : [];
  const holdsIt = Boolean(roam && roam.held[code.asset]);
  let amountMinor = null;
  try {
    amountMinor = code.dynamic ? code.amount_minor : amount.trim() ? toMinor(amount, assets[code.asset] ? assets[code.asset].decimals : 0) : null;
  } catch {
    amountMinor = null; // the quote waits for an amount that reads
  }
  const ttl = code.expires_ms ? Math.max(1, code.expires_ms - Date.now()) : undefined;
  return html`
    <section class="card">
      <h1>${t("wallet.pay")}</h1>
      <dl class="facts entry" data-test="code">
        <dt>${t("wallet.merchant")}</dt><dd>${code.name} (${code.merchant}), ${code.city}</dd>
        <dt>${t("wallet.asset")}</dt><dd>${assetName(assets[code.asset], code.asset)}<${PolicyNote} asset=${assets[code.asset]} /></dd>
        ${code.dynamic ? html`
          <dt>${t("wallet.amount")}</dt><dd><strong><${Amount} minor=${code.amount_minor} asset=${assets[code.asset]} /></strong></dd>
          <dt>${t("wallet.valid")}</dt><dd><${Countdown} untilMs=${code.expires_ms} /></dd>` : null}
      </dl>
      ${code.dynamic ? null : html`<label>${t("wallet.amount")}<input name="amount" inputmode="decimal" value=${amount}
        onInput=${(e) => setAmount(e.target.value)} /></label>`}
      ${payWith ? null : html`
        ${roam && !holdsIt && options.length ? html`<p class="muted" data-test="not-held">${t("roaming.not_held", {
          asset: assetName(assets[code.asset], code.asset) })}</p>` : null}
        <button class=${holdsIt || !options.length ? "primary" : ""} disabled=${busy} onClick=${pay} data-test="pay">${
          options.length ? t("roaming.pay_in", { asset: assetName(assets[code.asset], code.asset) }) : t("wallet.confirm_pay")}</button>
        ${options.map((id) => html`<button class=${holdsIt ? "" : "primary"} disabled=${busy} onClick=${() => setPayWith(id)}
          data-test="pay-with" data-asset=${id}>${t("roaming.pay_with", { asset: assetName(assets[id], id) })}</button>`)}
        <button onClick=${() => setCode(null)}>${t("wallet.cancel")}</button>`}
      <${ErrorLine} error=${error} />
    </section>
    ${payWith ? html`<${RoamingPay} wallet=${wallet} assets=${assets} rates=${roam.rates} merchant=${code.merchant} asset=${code.asset}
      amountMinor=${amountMinor} payAsset=${payWith} paymentId=${code.payment_id || null} ttl=${ttl} onDone=${setDone}
      onCancel=${() => setPayWith("")} />` : null}`;
}

/** A payment's end: paid, or why the ledger refused it; its receipt. */
function PayResult({ done, assets }) {
  return html`<section class="card" data-test="pay-result" data-code=${done.code}>
    <h1>${done.code === "ok" ? t("wallet.paid") : t("wallet.not_paid")}</h1>
    ${done.code === "ok" && done.paid ? html`<p data-test="paid-with">${t("roaming.paid_with", {
      amount: `${amountText(done.paid.minor, assets[done.paid.asset])} ${assetName(assets[done.paid.asset], done.paid.asset)}`,
      merchant: done.paid.merchant, got: `${amountText(done.paid.merchantMinor, assets[done.asset])} ${assetName(assets[done.asset], done.asset)}` })}</p>` : null}
    ${done.code !== "ok" ? html`<${ErrorLine} error=${{ code: done.code, message: done.message }} />` : null}
    ${done.code !== "ok" && policyLines(assets[done.asset]).length ? html`
      <p class="muted">${t("wallet.asset_rules", { asset: assetName(assets[done.asset], done.asset) })}</p>
      <${PolicyNote} asset=${assets[done.asset]} />` : null}
    <p><a href=${`#/receipt/${done.txid}`} data-test="receipt-link">${t("wallet.receipt")}</a></p>
    <a class="button" href="#/">${t("wallet.done")}</a>
  </section>`;
}

// --- rates: exchange and paying a partner's shop (protocol 11) --------------------------------------------------

/** `value`, once it has stopped changing for `ms`. */
function useSettled(value, ms) {
  const [settled, setSettled] = useState(value);
  useEffect(() => {
    const timer = setTimeout(() => setSettled(value), ms);
    return () => clearTimeout(timer);
  }, [value]);
  return settled;
}

/** GET /v1/rates (public): {currency, rates: by asset id}; null until read. */
function useRates() {
  const [rates, setRates] = useState(null);
  useEffect(() => {
    node.get("/v1/rates", undefined, null).then(
      (body) => setRates({ currency: body.settlement_currency, rates: Object.fromEntries(body.items.map((r) => [r.asset, r])) }),
      () => setRates({ currency: "", rates: {} }),
    );
  }, []);
  return rates;
}

/** What could pay `merchant`: the wallet's balances above zero, the published rates, the assets the shop takes. */
async function roamingOptions(wallet, merchant) {
  const [balances, rates, entry] = await Promise.all([
    node.get(`/v1/accounts/${wallet.id}/balances`),
    node.get("/v1/rates", undefined, null).catch(() => ({ items: [] })), // a node before protocol 11: none
    node.get(`/v1/merchants/${encodeURIComponent(merchant)}`, undefined, null).catch(() => null), // public
  ]);
  return {
    held: Object.fromEntries(Object.entries(balances.balances).filter(([, minor]) => minor > 0)),
    rates: Object.fromEntries(rates.items.map((r) => [r.asset, r])),
    accepts: entry ? entry.accepts : [],
  };
}

/** A live quote: GET `path` with `params` (public) once typing pauses, again when `again` changes. Returns
 *  {key, quote, error}: `key` is the params it answers (a quote for other params is not the one on screen). */
function useQuote(path, params, again) {
  const key = params ? JSON.stringify(params) : "";
  const asked = useSettled(key, QUOTE_DELAY_MS);
  const [answer, setAnswer] = useState({ key: "", quote: null, error: null });
  useEffect(() => {
    if (!asked) return undefined;
    let live = true;
    node.get(path, JSON.parse(asked), null).then(
      (quote) => live && setAnswer({ key: asked, quote, error: null }),
      (error) => live && setAnswer({ key: asked, quote: null, error }),
    );
    return () => {
      live = false;
    };
  }, [asked, again]);
  return { ...answer, fresh: Boolean(key) && answer.key === key };
}

/** The exact remainder a quote rounds off, in words: "32/35 × 0.01 USD", or nothing when none. */
function remainderWords(remainder, currency, key = "exchange.rounded") {
  if (!remainder || remainder.startsWith("0/")) return t("exchange.exact");
  const decimals = currencyDecimals(currency);
  const unit = decimals ? `0.${"0".repeat(decimals - 1)}1 ${currency}` : `1 ${currency}`;
  return t(key, { remainder, unit });
}

/** One published rate in words: "1 Skyway miles = 9.6 KRW". */
function RateLine({ rate, asset, id }) {
  if (!rate) return null;
  const value = `${rateValueText(rate.rate, asset, rate.currency)}\u00a0${rate.currency}`; // the number and its currency together
  return html`<div data-rate=${id}>${t("exchange.rate_of", { asset: assetName(asset, id), value })}</div>`;
}

/** Exchange: give one asset the wallet holds for another with a published rate, at exactly the quoted amount. */
function Exchange({ wallet }) {
  const assets = useAssets();
  const found = useRates();
  const [tick, setTick] = useTicks(wallet);
  const [balances, setBalances] = useState(null);
  const [from, setFrom] = useState("");
  const [to, setTo] = useState("");
  const [amount, setAmount] = useState("");
  const [again, setAgain] = useState(0); // asks for the quote anew (after a refusal: the rate moved)
  const [done, setDone] = useState(null);
  const [run, busy, error] = useAction();

  useEffect(() => {
    node.get(`/v1/accounts/${wallet.id}/balances`).then((b) => setBalances(b.balances), () => setBalances({}));
  }, [wallet.id, tick]);

  const rates = found ? found.rates : {};
  const giveable = balances ? Object.keys(balances).filter((id) => balances[id] > 0 && rates[id]) : [];
  const give = giveable.includes(from) ? from : giveable[0] || "";
  const receivable = Object.keys(rates).filter((id) => id !== give);
  const receive = receivable.includes(to) ? to : receivable[0] || "";
  useEffect(() => { // the first choices stay chosen (an exchange that adds a balance does not reorder them)
    if (give && give !== from) setFrom(give);
    if (receive && receive !== to) setTo(receive);
  }, [give, receive]);
  let amountMinor = null;
  let amountError = null;
  try {
    if (amount.trim() && give) amountMinor = toMinor(amount, assets[give] ? assets[give].decimals : 0);
  } catch (err) {
    amountError = err;
  }
  const params = give && receive && amountMinor ? { from_asset: give, to_asset: receive, amount_minor: amountMinor } : null;
  const q = useQuote("/v1/quote/exchange", params, again);
  const quote = q.fresh ? q.quote : null;
  const name = (id) => assetName(assets[id], id);
  const units = (minor, id) => `${amountText(minor, assets[id])} ${name(id)}`;

  const exchange = () => run(async () => {
    setDone(null);
    const signed = quote; // exactly what is on screen: the least the wallet accepts
    try {
      await node.sendOk(wallet, (await genesis()).chain, "exchange", {
        from_asset: signed.from_asset, to_asset: signed.to_asset, amount_minor: signed.amount_minor,
        min_out_minor: signed.out_minor, ref: newRef("x"),
      });
      setDone(signed);
      setAmount("");
    } finally {
      setAgain((n) => n + 1); // the quote as the rates are now
      setTick((n) => n + 1);
    }
  });

  if (found === null || balances === null) return html`<section class="card"><p>…</p></section>`;
  return html`
    <section class="card" data-test="exchange">
      <h1>${t("exchange.title")}</h1>
      <p class="muted">${t("exchange.text")}</p>
      ${giveable.length === 0 ? html`<p class="warn" data-test="nothing-to-give">${t("exchange.none_held")}</p>` : html`
        <label>${t("exchange.give")}<select name="from_asset" value=${give} onChange=${(e) => setFrom(e.target.value)}>
          ${giveable.map((id) => html`<option value=${id}>${name(id)}</option>`)}
        </select><span class="hint" data-test="held-from">${t("exchange.you_hold", { amount: units(balances[give] || 0, give) })}</span></label>
        <label>${t("exchange.amount_of", { asset: name(give) })}<input name="amount" inputmode="decimal" autocomplete="off"
          value=${amount} onInput=${(e) => { setDone(null); setAmount(e.target.value); }} /></label>
        <label>${t("exchange.receive")}<select name="to_asset" value=${receive} onChange=${(e) => setTo(e.target.value)}>
          ${receivable.map((id) => html`<option value=${id}>${name(id)}</option>`)}
        </select><span class="hint" data-test="held-to">${t("exchange.you_hold", { amount: units(balances[receive] || 0, receive) })}</span></label>`}
      <${ErrorLine} error=${amountError} />
    </section>
    ${params && !amountError ? html`
      <section class="card quote" data-test="quote" aria-live="polite">
        ${!q.fresh ? html`<p class="muted" data-test="quoting">${t("exchange.quoting")}</p>`
          : q.error ? html`<div data-test="quote-error"><${ErrorLine} error=${q.error} /></div>`
          : html`
            <p class="quote-main">${t("exchange.you_get")} <strong data-test="quote-out">${amountText(quote.out_minor, assets[receive])}</strong>
              ${" "}${name(receive)}</p>
            <dl class="facts entry">
              <dt>${t("exchange.rates")}</dt><dd data-test="quote-rates">
                <${RateLine} rate=${rates[give]} asset=${assets[give]} id=${give} />
                <${RateLine} rate=${rates[receive]} asset=${assets[receive]} id=${receive} /></dd>
              <dt>${t("exchange.value")}</dt><dd data-test="quote-value">${moneyText(quote.value_minor, quote.settlement_currency)}</dd>
              <dt>${t("exchange.fee")}</dt><dd data-test="quote-fee">${quote.fee_minor ? units(quote.fee_minor, receive) : t("exchange.no_fee")}</dd>
            </dl>
            <p class="small" data-test="quote-remainder">${remainderWords(quote.remainder, quote.settlement_currency)}</p>
            <p class="muted">${t("exchange.min_note", { amount: units(quote.out_minor, receive), height: quote.height })}</p>
            <button class="primary" disabled=${busy} onClick=${exchange} data-test="exchange-now">${t("exchange.button", {
              give: units(quote.amount_minor, give), get: units(quote.out_minor, receive) })}</button>`}
        <div data-test="exchange-error"><${ErrorLine} error=${error} /></div>
      </section>` : html`<div data-test="exchange-error"><${ErrorLine} error=${error} /></div>`}
    ${done ? html`<section class="card"><p class="verified" data-test="exchanged">${t("exchange.done", {
      give: units(done.amount_minor, done.from_asset), get: units(done.out_minor, done.to_asset) })}</p></section>` : null}
    <div class="actions">
      <a class="button" href="#/partner">${t("roaming.short")}</a>
      <a class="button" href="#/">${t("wallet.done")}</a>
    </div>`;
}

/** Paying `merchant` exactly `amountMinor` of `asset` with `payAsset`: the live quote of what it costs, and the button
 *  that signs pay_roaming with at most that (a rate that moves in between: refused, nothing changes). */
function RoamingPay({ wallet, assets, rates, merchant, asset, amountMinor, payAsset, paymentId, ttl, onDone, onCancel }) {
  const [again, setAgain] = useState(0);
  const [run, busy, error] = useAction();
  const params = amountMinor ? { asset, pay_asset: payAsset, amount_minor: amountMinor } : null;
  const q = useQuote("/v1/quote/roaming", params, again);
  const quote = q.fresh ? q.quote : null;
  const name = (id) => assetName(assets[id], id);
  const units = (minor, id) => `${amountText(minor, assets[id])} ${name(id)}`;

  const pay = () => run(async () => {
    const signed = quote;
    const status = await node.send(wallet, (await genesis()).chain, "pay_roaming", {
      asset: signed.asset, merchant, amount_minor: signed.amount_minor, payment_id: paymentId || newRef("roam"),
      pay_asset: signed.pay_asset, max_pay_minor: signed.pay_minor,
    }, ttl);
    if (status.code !== "ok") setAgain((n) => n + 1);
    onDone({ ...status, asset: signed.asset,
      paid: { asset: signed.pay_asset, minor: signed.pay_minor, merchant, merchantMinor: signed.amount_minor } });
  });

  return html`
    <section class="card quote" data-test="roaming" data-asset=${payAsset} aria-live="polite">
      <h2>${t("roaming.pay_with", { asset: name(payAsset) })}</h2>
      ${!params ? html`<p class="muted">${t("roaming.amount_first")}</p>`
        : !q.fresh ? html`<p class="muted" data-test="quoting">${t("exchange.quoting")}</p>`
        : q.error ? html`<div data-test="quote-error"><${ErrorLine} error=${q.error} /></div>`
        : html`
          <p class="quote-main">${t("roaming.you_pay")} <strong data-test="roaming-pay">${amountText(quote.pay_minor, assets[payAsset])}</strong>
            ${" "}${name(payAsset)}</p>
          <dl class="facts entry">
            <dt>${t("roaming.merchant_gets")}</dt><dd data-test="roaming-gets">${t("roaming.exactly", { amount: units(quote.amount_minor, asset), merchant })}</dd>
            <dt>${t("exchange.rates")}</dt><dd>
              <${RateLine} rate=${rates[payAsset] && { ...rates[payAsset], rate: quote.from_rate }} asset=${assets[payAsset]} id=${payAsset} />
              <${RateLine} rate=${rates[asset] && { ...rates[asset], rate: quote.to_rate }} asset=${assets[asset]} id=${asset} /></dd>
            <dt>${t("exchange.value")}</dt><dd data-test="roaming-value">${moneyText(quote.value_minor, quote.settlement_currency)}</dd>
          </dl>
          <p class="small" data-test="roaming-remainder">${remainderWords(quote.remainder, quote.settlement_currency, "roaming.rounded")}</p>
          <p class="muted">${t("roaming.max_note", { amount: units(quote.pay_minor, payAsset) })}</p>
          <button class="primary" disabled=${busy} onClick=${pay} data-test="pay-roaming">${t("roaming.pay_button", {
            amount: units(quote.pay_minor, payAsset) })}</button>`}
      ${onCancel ? html`<button disabled=${busy} onClick=${onCancel}>${t("wallet.cancel")}</button>` : null}
      <${ErrorLine} error=${error} />
    </section>`;
}

/** Paying a partner programme's shop by its id (no QR code at hand): the amount in the shop's own points, paid with
 *  points the wallet holds. */
function PartnerPay({ wallet, merchant: preset }) {
  const assets = useAssets();
  const [typed, setTyped] = useState(preset || "");
  const [merchant, setMerchant] = useState(null); // {id, accepts, options}
  const [asset, setAsset] = useState("");
  const [amount, setAmount] = useState("");
  const [payWith, setPayWith] = useState("");
  const [done, setDone] = useState(null);
  const [run, busy, error] = useAction();

  const look = (id) => run(async () => {
    setMerchant(null);
    const entry = await node.get(`/v1/merchants/${encodeURIComponent(id)}`, undefined, null); // 404 unknown_merchant
    const found = await roamingOptions(wallet, id);
    setMerchant({ id, accepts: entry.accepts, ...found });
  });
  useEffect(() => {
    if (preset) look(preset);
  }, []);
  const submit = (e) => {
    e.preventDefault();
    if (typed.trim()) look(typed.trim());
  };

  if (done) return html`<${PayResult} done=${done} assets=${assets} />`;
  const name = (id) => assetName(assets[id], id);
  const priced = merchant ? merchant.accepts.filter((id) => merchant.rates[id]) : [];
  const chosen = priced.includes(asset) ? asset : priced[0] || "";
  const options = merchant ? Object.keys(merchant.held).filter((id) => id !== chosen && merchant.rates[id]) : [];
  const paying = options.includes(payWith) ? payWith : options[0] || "";
  let amountMinor = null;
  let amountError = null;
  try {
    if (amount.trim() && chosen) amountMinor = toMinor(amount, assets[chosen] ? assets[chosen].decimals : 0);
  } catch (err) {
    amountError = err;
  }
  return html`
    <section class="card" data-test="partner">
      <h1>${t("roaming.title")}</h1>
      <p class="muted">${t("roaming.text")}</p>
      <form class="search" onSubmit=${submit}>
        <input name="merchant" autocomplete="off" aria-label=${t("roaming.merchant")} placeholder=${t("roaming.merchant")}
          value=${typed} onInput=${(e) => setTyped(e.target.value)} />
        <button disabled=${busy || !typed.trim()} data-test="look-up">${t("roaming.look_up")}</button>
      </form>
      ${merchant ? html`
        <p class="small" data-test="takes">${t("roaming.takes", { merchant: merchant.id, assets: merchant.accepts.map(name).join(", ") || "-" })}</p>
        ${priced.length === 0 ? html`<p class="warn" data-test="no-rate">${t("roaming.no_rate", { merchant: merchant.id })}</p>` : html`
          ${priced.length > 1 ? html`<label>${t("roaming.its_asset")}<select name="asset" value=${chosen}
            onChange=${(e) => setAsset(e.target.value)}>${priced.map((id) => html`<option value=${id}>${name(id)}</option>`)}</select></label>` : null}
          <label>${t("roaming.amount_in", { asset: name(chosen) })}<input name="amount" inputmode="decimal" autocomplete="off"
            value=${amount} onInput=${(e) => setAmount(e.target.value)} /></label>
          <${ErrorLine} error=${amountError} />
          ${options.length === 0 ? html`<p class="warn" data-test="none-usable">${t("roaming.none_usable")}</p>` : html`
            <label>${t("roaming.pay_with_label")}<select name="pay_asset" value=${paying} onChange=${(e) => setPayWith(e.target.value)}>
              ${options.map((id) => html`<option value=${id}>${name(id)} (${amountText(merchant.held[id], assets[id])})</option>`)}
            </select></label>`}`}` : null}
      <${ErrorLine} error=${error} />
    </section>
    ${merchant && chosen && paying && !amountError ? html`<${RoamingPay} key=${`${chosen}:${paying}`} wallet=${wallet}
      assets=${assets} rates=${merchant.rates} merchant=${merchant.id} asset=${chosen} amountMinor=${amountMinor} payAsset=${paying} paymentId=${null}
      onDone=${setDone} />` : null}
    <a class="button" href="#/">${t("wallet.done")}</a>`;
}

// --- a one-time payment code for the merchant to scan ---------------------------------------------------------

/** `count` uniformly random decimal digits (bytes of 250 and up are drawn again, so no digit is likelier). */
function randomDigits(count) {
  let out = "";
  while (out.length < count) {
    for (const b of crypto.getRandomValues(new Uint8Array(count))) if (b < 250 && out.length < count) out += String(b % 10);
  }
  return out;
}

function PayCode({ wallet }) {
  const assets = useAssets();
  const [asset, setAsset] = useState("");
  const [limit, setLimit] = useState(CODE_LIMIT_DEFAULT);
  const [opened, setOpened] = useState(null);
  const [state, setState] = useState(null);
  const [run, busy, error] = useAction();
  const ids = Object.keys(assets);
  const chosen = asset || ids[0] || "";

  useEffect(() => {
    if (!opened) return undefined;
    const timer = setInterval(async () => {
      try {
        setState(await node.get(`/v1/codes/${opened.code}`));
      } catch {
        /* the next poll tries again */
      }
    }, 1000);
    return () => clearInterval(timer);
  }, [opened]);

  const open = () => run(async () => {
    const { chain } = await genesis();
    const digits = randomDigits(20);
    const limitMinor = toMinor(limit, assets[chosen].decimals);
    const status = await node.send(wallet, chain, "open_code", { code: digits, asset: chosen, limit_minor: limitMinor });
    if (status.code !== "ok") throw Object.assign(new Error(status.message), { code: status.code });
    setOpened({ code: digits, asset: chosen, limitMinor, expiresMs: Date.now() + 180_000 });
  });

  if (opened) {
    const charged = state && state.status === "charged";
    return html`<section class="card center" data-test="paycode">
      <h1>${charged ? t("wallet.code_charged") : t("wallet.show_this_code")}</h1>
      ${charged ? null : html`
        <${QrCode} text=${opened.code} label=${t("wallet.show_code")} />
        <${Barcode} digits=${opened.code} />
        <p class="digits" data-test="digits">${opened.code.replace(/(\d{4})(?=\d)/g, "$1 ")}</p>
        <p>${t("wallet.code_limit")}: <${Amount} minor=${opened.limitMinor} asset=${assets[opened.asset]} /> ${assetName(assets[opened.asset], opened.asset)}</p>
        <p><${Countdown} untilMs=${(state && state.expires_ms) || opened.expiresMs} /></p>`}
      <a class="button" href="#/">${t("wallet.done")}</a>
    </section>`;
  }
  return html`
    <section class="card">
      <h1>${t("wallet.show_code")}</h1>
      <p>${t("wallet.code_text")}</p>
      <label>${t("wallet.asset")}<select value=${chosen} onChange=${(e) => setAsset(e.target.value)}>
        ${ids.map((id) => html`<option value=${id}>${assetName(assets[id], id)}</option>`)}
      </select></label>
      <label>${t("wallet.code_limit")}<input name="limit" inputmode="decimal" value=${limit} onInput=${(e) => setLimit(e.target.value)} /></label>
      <button class="primary" disabled=${busy || !chosen} onClick=${open} data-test="open-code">${t("wallet.make_code")}</button>
      <${ErrorLine} error=${error} />
    </section>`;
}

// --- nearby shops: the merchant directory ---------------------------------------------------------------------

/** A point typed as "37.5665, 126.978" (decimal degrees) as {lat, lon} strings; throws with a reason code. */
function typedPoint(text) {
  const parts = String(text).trim().split(/\s*[,\s]\s*/);
  if (parts.length !== 2) throw Object.assign(new Error("point_invalid"), { code: "point_invalid" });
  const lat = degreesToE6(parts[0], 90, "point_invalid");
  const lon = degreesToE6(parts[1], 180, "point_invalid");
  return { lat: e6ToDegrees(lat), lon: e6ToDegrees(lon) };
}

function Nearby({ wallet }) {
  const assets = useAssets();
  const [place, setPlace] = useState(""); // "here", a PLACES id, "typed", or "" (none chosen yet)
  const [typed, setTyped] = useState("");
  const [point, setPoint] = useState(null); // {lat, lon}: decimal degrees as text, as the directory takes them
  const [where, setWhere] = useState(null); // {text, bad}: the phone's position found, or why not
  const [held, setHeld] = useState([]);
  const [priced, setPriced] = useState([]); // assets with a published rate (protocol 11): a partner's shop takes them
  const [asset, setAsset] = useState(""); // "": every asset
  const [shops, setShops] = useState(null); // {items, next}: the pages read so far
  const [pointError, setPointError] = useState(null); // a typed point that does not read
  const [run, busy, error] = useAction();
  const asked = useRef(0); // the latest position request: an older answer is dropped
  const canLocate = typeof navigator !== "undefined" && "geolocation" in navigator;

  const locate = () => {
    const ask = ++asked.current;
    setPoint(null);
    setWhere({ text: t("nearby.locating") });
    navigator.geolocation.getCurrentPosition((found) => {
      if (ask !== asked.current) return;
      const { latitude, longitude, accuracy } = found.coords;
      setPoint({ lat: latitude.toFixed(6), lon: longitude.toFixed(6) });
      setWhere({ text: t("nearby.located", { m: Math.round(accuracy) }) });
    }, (err) => {
      if (ask !== asked.current) return;
      setPlace("");
      setWhere({ text: t(err.code === 1 ? "nearby.denied" : "nearby.unavailable"), bad: true });
    }, { timeout: 20_000, maximumAge: 60_000 });
  };

  const choose = (value) => {
    asked.current += 1; // a position still being found is no longer wanted
    setPlace(value);
    setWhere(null);
    setPointError(null);
    const known = PLACES.find((p) => p.id === value);
    if (value === "here") locate();
    else setPoint(known ? { lat: known.lat, lon: known.lon } : null);
  };

  // The assets this wallet holds, for the filter; the phone's position at once if the user allowed it before.
  useEffect(() => {
    node.get(`/v1/accounts/${wallet.id}/balances`).then((b) => setHeld(Object.keys(b.balances)), () => setHeld([]));
    node.get("/v1/rates", undefined, null).then((r) => setPriced(r.items.map((item) => item.asset)), () => setPriced([]));
    if (canLocate && navigator.permissions) {
      navigator.permissions.query({ name: "geolocation" }).then((p) => {
        if (p.state === "granted") choose("here");
      }, () => {});
    }
  }, [wallet.id]);

  const read = (cursor) => node.get("/v1/directory",
    { lat: point.lat, lon: point.lon, asset: asset || null, limit: NEARBY_PAGE, cursor }, null); // public

  useEffect(() => {
    setShops(null);
    if (!point) return undefined;
    let live = true;
    run(async () => {
      const page = await read(null);
      if (live) setShops({ items: page.items, next: page.next_cursor });
    });
    return () => {
      live = false;
    };
  }, [point && point.lat, point && point.lon, asset]);

  const more = () => run(async () => {
    const page = await read(shops.next);
    setShops({ items: [...shops.items, ...page.items], next: page.next_cursor });
  });

  const show = (e) => {
    e.preventDefault();
    setPointError(null);
    try {
      setPoint(typedPoint(typed));
    } catch (err) {
      setPoint(null);
      setPointError(err);
    }
  };

  const placeText = (p) => `${t(p.name)} (${p.lat}, ${p.lon})`;
  return html`
    <section class="card" data-test="nearby">
      <h1>${t("nearby.title")}</h1>
      <label>${t("nearby.from")}<select name="place" value=${place} onChange=${(e) => choose(e.target.value)}>
        <option value="" disabled>${t("nearby.choose_place")}</option>
        ${canLocate ? html`<option value="here">${t("nearby.my_location")}</option>` : null}
        ${PLACES.map((p) => html`<option value=${p.id}>${placeText(p)}</option>`)}
        <option value="typed">${t("nearby.typed")}</option>
      </select></label>
      ${place === "typed" ? html`
        <form class="search" onSubmit=${show}>
          <input name="point" inputmode="decimal" autocomplete="off" placeholder="37.5665, 126.978" aria-label=${t("nearby.typed")}
            value=${typed} onInput=${(e) => setTyped(e.target.value)} />
          <button data-test="show-point">${t("nearby.show")}</button>
        </form>
        <${ErrorLine} error=${pointError} />` : null}
      ${where ? html`<p class=${where.bad ? "warn small" : "muted"} data-test="where">${where.text}</p>` : null}
      <label>${t("nearby.accepting")}<select name="asset" value=${asset} onChange=${(e) => setAsset(e.target.value)}>
        <option value="">${t("nearby.any_asset")}</option>
        ${held.map((id) => html`<option value=${id}>${assetName(assets[id], id)}</option>`)}
      </select></label>
    </section>
    <section class="card shop-list">
      ${!point ? html`<p class="muted" data-test="no-point">${t("nearby.pick_first")}</p>`
        : shops === null ? html`<p class="muted">…</p>`
        : shops.items.length === 0 ? html`<p class="muted" data-test="no-shops">${t("nearby.none")}</p>`
        : html`<ul class="shops" data-test="shops">
          ${shops.items.map((m) => html`<${Shop} key=${m.merchant} shop=${m} assets=${assets} held=${held} priced=${priced} />`)}
        </ul>`}
      ${shops && shops.next ? html`<button disabled=${busy} onClick=${more} data-test="more">${t("nearby.more")}</button>` : null}
      <${ErrorLine} error=${error} />
    </section>
    <a class="button" href="#/">${t("wallet.done")}</a>`;
}

function Shop({ shop, assets, held, priced }) {
  const usable = shop.accepts.some((id) => held.includes(id));
  // None of what it takes is held, but it takes a priced asset and the wallet holds one: paid with the wallet's own.
  const roaming = !usable && shop.accepts.some((id) => priced.includes(id)) ? held.find((id) => priced.includes(id)) : null;
  return html`
    <li data-merchant=${shop.merchant} class=${usable ? "" : "unusable"}>
      <div class="row">
        <strong class="name">${shop.merchant}</strong>
        <span class="distance" data-test="distance">${distanceText(shop.distance_m)}</span>
      </div>
      <div class="muted" data-test="category">${mccText(shop.category)}</div>
      <div class="chips" data-test="accepts">
        ${shop.accepts.map((id) => html`<span class=${held.includes(id) ? "chip held" : "chip"} data-asset=${id}>${assetName(assets[id], id)}</span>`)}
      </div>
      ${usable || roaming ? null : html`<div class="muted">${t("nearby.none_held")}</div>`}
      ${roaming ? html`<a class="lots-line" href=${`#/partner/${encodeURIComponent(shop.merchant)}`} data-test="roam"><span>${
        t("nearby.roam", { asset: assetName(assets[roaming], roaming) })}</span></a>` : null}
    </li>`;
}

// --- send, backup, receipts ----------------------------------------------------------------------------------------

function Send({ wallet }) {
  const assets = useAssets();
  const transferable = Object.values(assets).filter((a) => a.transferable);
  const [to, setTo] = useState("");
  const [asset, setAsset] = useState("");
  const [amount, setAmount] = useState("");
  const [done, setDone] = useState(null);
  const [run, busy, error] = useAction();
  const chosen = asset || (transferable[0] && transferable[0].id) || "";

  const send = () => run(async () => {
    const { chain } = await genesis();
    const status = await node.send(wallet, chain, "transfer",
      { asset: chosen, to: to.trim(), amount_minor: toMinor(amount, assets[chosen].decimals), ref: newRef() });
    if (status.code !== "ok") throw Object.assign(new Error(status.message), { code: status.code });
    setDone(status);
  });

  if (done) return html`<section class="card"><h1>${t("wallet.sent")}</h1><a class="button" href="#/">${t("wallet.done")}</a></section>`;
  return html`
    <section class="card">
      <h1>${t("wallet.send")}</h1>
      <label>${t("wallet.to")}<input name="to" value=${to} onInput=${(e) => setTo(e.target.value)} /></label>
      <label>${t("wallet.asset")}<select value=${chosen} onChange=${(e) => setAsset(e.target.value)}>
        ${transferable.map((a) => html`<option value=${a.id}>${a.name}</option>`)}
      </select></label>
      <label>${t("wallet.amount")}<input name="amount" inputmode="decimal" value=${amount} onInput=${(e) => setAmount(e.target.value)} /></label>
      <button class="primary" disabled=${busy || !to || !amount} onClick=${send}>${t("wallet.send")}</button>
      <${ErrorLine} error=${error} />
    </section>`;
}

function pendingKeys() {
  const found = stored(PENDING_STORE);
  return Array.isArray(found) ? found : [];
}

function setPendingKeys(keys) {
  if (keys.length) localStorage.setItem(PENDING_STORE, JSON.stringify(keys));
  else localStorage.removeItem(PENDING_STORE);
}

function Backup({ wallet, onForget, onRotated }) {
  const [rotated, setRotated] = useState(false);
  const [run, busy, error] = useAction();
  const text = JSON.stringify(wallet, null, 2);
  const href = `data:application/json;charset=utf-8,${encodeURIComponent(text)}`;

  // A new key made here; the current one signs rotate_key; the new one is kept once that is final.
  const rotate = () => run(async () => {
    setRotated(false);
    const next = await newKeyFile(wallet.id);
    setPendingKeys([...pendingKeys(), next]);
    try {
      await node.sendOk(wallet, (await genesis()).chain, "rotate_key", { new_public_key: next.public_key });
    } catch (err) {
      if (err.final) setPendingKeys(pendingKeys().filter((k) => k.public_key !== next.public_key));
      throw err;
    }
    onRotated(next);
    setRotated(true);
  });

  return html`
    <section class="card">
      <h1>${t("wallet.backup")}</h1>
      ${rotated ? html`<p class="verified" data-test="rotated">${t("wallet.rotated")}</p>` : null}
      <p class="warn">${t("wallet.backup_text")}</p>
      <textarea readonly rows="6" data-test="backup">${text}</textarea>
      <a class="button" download=${`${wallet.id}.json`} href=${href}>${t("wallet.download")}</a>
    </section>
    <section class="card" data-test="rotate-card">
      <h2>${t("wallet.rotate")}</h2>
      <p class="muted">${t("wallet.rotate_text")}</p>
      <button disabled=${busy} onClick=${rotate} data-test="rotate">${busy ? "…" : t("wallet.rotate_now")}</button>
      <${ErrorLine} error=${error} />
    </section>
    <section class="card">
      <button class="danger" onClick=${() => confirm(t("wallet.forget_confirm")) && onForget()}>${t("wallet.forget")}</button>
    </section>`;
}

export function ReceiptView({ txid }) {
  const assets = useAssets();
  const [result, setResult] = useState(null);
  const [error, setError] = useState(null);
  useEffect(() => {
    (async () => {
      const receipt = await node.get(`/v1/transactions/${txid}/receipt`, { wait_ms: 5000 });
      // Checked against the validators of the receipt's height: the genesis's, then the certified changes.
      const [ok, reason] = await verifyReceipt(receipt, await genesis(), await validatorChanges());
      setResult({ receipt, ok, reason });
    })().catch(setError);
  }, [txid]);
  if (error) return html`<section class="card"><${ErrorLine} error=${error} /></section>`;
  if (!result) return html`<section class="card"><p>…</p></section>`;
  const { receipt, ok, reason } = result;
  const tx = receipt.signed_tx.tx;
  const given = tx.asset || tx.from_asset; // an exchange gives from_asset
  return html`
    <section class="card" data-test="receipt">
      <h1>${t("wallet.receipt")}</h1>
      <p class=${ok ? "verified" : "error"} data-test="receipt-check">${ok ? t("receipt.verified") : `${t("receipt.refused")}: ${reason}`}</p>
      <dl class="facts">
        <dt>${t("receipt.type")}</dt><dd>${t(`tx.${tx.type}`)}</dd>
        ${tx.merchant ? html`<dt>${t("wallet.merchant")}</dt><dd>${tx.merchant}</dd>` : null}
        ${tx.amount_minor ? html`<dt>${t("wallet.amount")}</dt><dd><${Amount} minor=${tx.amount_minor} asset=${assets[given]} /> ${assetName(assets[given], given || "")}</dd>` : null}
        ${tx.type === "exchange" ? html`<dt>${t("exchange.receive")}</dt><dd>${t("exchange.at_least", {
          amount: `${amountText(tx.min_out_minor, assets[tx.to_asset])} ${assetName(assets[tx.to_asset], tx.to_asset)}` })}</dd>` : null}
        ${tx.type === "pay_roaming" ? html`<dt>${t("roaming.paid_with_label")}</dt><dd>${t("roaming.at_most", {
          amount: `${amountText(tx.max_pay_minor, assets[tx.pay_asset])} ${assetName(assets[tx.pay_asset], tx.pay_asset)}` })}</dd>` : null}
        <dt>${t("receipt.result")}</dt><dd>${receipt.code}</dd>
        <dt>${t("receipt.block")}</dt><dd>${receipt.header.height} · ${time(receipt.header.timestamp_ms)}</dd>
        <dt>${t("receipt.signed_by")}</dt><dd>${receipt.certificate.signatures.map((s) => s.validator).join(", ")}</dd>
        <dt>txid</dt><dd class="mono">${receipt.txid}</dd>
      </dl>
      <a class="button" href="#/">${t("wallet.done")}</a>
    </section>`;
}

// --- the app ----------------------------------------------------------------------------------------------------------

function Wallet() {
  const [wallet, setWallet] = useState(() => stored(KEY_STORE));
  const route = useRoute();
  node.setReader(wallet); // set while rendering: the pages' reads (their effects run first) are made as the wallet

  function keep(key, path = "/") {
    localStorage.setItem(KEY_STORE, JSON.stringify(key));
    setPendingKeys(pendingKeys().filter((k) => k.id !== key.id));
    setWallet(key);
    if (path !== null) go(path);
  }

  function forget() {
    localStorage.removeItem(KEY_STORE);
    localStorage.removeItem(PENDING_STORE);
    setWallet(null);
    go("/");
  }

  // A rotation the page did not see end: adopt its key if the ledger holds it now.
  useEffect(() => {
    const pending = pendingKeys().filter((k) => wallet && k.id === wallet.id);
    if (!pending.length) return;
    (async () => {
      for (const key of pending) { // the node gives a token to the key in force only
        try {
          const account = await node.get(`/v1/accounts/${wallet.id}`, undefined, key);
          if (account.public_key === key.public_key) return keep(key, null);
        } catch {
          /* not this one */
        }
      }
      return null;
    })();
  }, [wallet && wallet.id]);

  let page;
  if (!wallet) page = html`<${Welcome} onKey=${keep} />`;
  else if (route === "/pay") page = html`<${Pay} wallet=${wallet} />`;
  else if (route === "/code") page = html`<${PayCode} wallet=${wallet} />`;
  else if (route === "/nearby") page = html`<${Nearby} wallet=${wallet} />`;
  else if (route === "/exchange") page = html`<${Exchange} wallet=${wallet} />`;
  else if (route === "/partner" || route.startsWith("/partner/")) {
    page = html`<${PartnerPay} key=${route} wallet=${wallet} merchant=${decodeURIComponent(route.slice(9))} />`;
  } else if (route === "/mall") page = html`<${Mall} wallet=${wallet} />`;
  else if (route === "/coupons") page = html`<${MyCoupons} wallet=${wallet} />`;
  else if (route.startsWith("/asset/")) page = html`<${AssetView} wallet=${wallet} id=${decodeURIComponent(route.slice(7))} />`;
  else if (route === "/send") page = html`<${Send} wallet=${wallet} />`;
  else if (route === "/backup") page = html`<${Backup} wallet=${wallet} onForget=${forget} onRotated=${(key) => keep(key, null)} />`;
  else if (route.startsWith("/receipt/")) page = html`<${ReceiptView} txid=${route.slice(9)} />`;
  else page = html`<${Home} wallet=${wallet} />`;
  return html`<${Shell} app="wallet">${page}<//>`;
}

mount(Wallet);
