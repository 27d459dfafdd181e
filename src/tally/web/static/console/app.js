// The member console: a council member (or a regulator or an auditor) signs in with its key file,
// which this page keeps in memory only (never in the browser's storage: a reload signs out). It shows
// the council and its parameters; the proposals with their votes, state and outcome, with a vote
// button on open ones; a form for every kind of proposal; each asset's supply against its quota; and
// an account's freeze, limits and key recovery, with the forms a member uses on them; a merchant's
// registry entry (category, region, location, accepted assets), which its member sets. An asset with a
// policy (protocol 8) shows it rule by rule, its discount's budget account with its balance, and the
// merchants its voucher-cashing guard flagged (to the issuer and supervisors); an asset with cashback rules
// (protocol 10) lists each: its rate, where and when it applies, its cap a holder, what its budget account has
// left and whether it runs now. Settlement (protocol 11, #/settlement): how members settle, the positions not yet
// settled (live, with each block), the windows with their obligations, payouts and bank files, and the member's own
// actions: settling a closed window (in the settlement asset, or through the banks), confirming its bank payments,
// and recording its bank's answer to a payout of an asset it issues; a window's report as CSV. Every
// transaction is signed in this page. Pages are hash routes (#/propose, #/assets, #/account/alice,
// #/merchant/cafe-lumen, #/settlement/0).

import { locale, t, time } from "../shared/i18n.js";
import { formatMinor, limitToMinor, readKeyFile } from "../shared/tally.js";
import {
  Amount, ErrorLine, KNOWN_MCCS, REGIONS, Shell, amountText, currencyDecimals, degreesToE6, e6ToDegrees, exactText,
  genesis, html, mccName, mccText, moneyText, mount, node, rateValueText, reasonText, regionName, regionText, useAction,
  useEffect, useMemo, useRoute, useState,
} from "../shared/ui.js";

const NO_QUOTA = 9_007_199_254_740_991; // create_asset's quota when it names none: the largest safe integer
const PAGE = 500;
const MAX_PAGES = 10; // lists read at most 5,000 proposals or assets
const INSTITUTIONS = new Set(["member", "regulator", "auditor"]);
const KINDS = ["set_quota", "approve_asset", "set_param", "admit_member", "remove_member", "set_default_limits",
  "freeze", "unfreeze"];
const PARAMS = ["threshold", "proposal_ttl_ms", "recovery_delay_ms", "utc_offset_min", "max_block_txs"];
const MINUTE_MS = 60_000;
const REASONS = ["court_order", "suspected_fraud", "sanctions", "lost_device", "aml_review"]; // suggestions only
const ID_RE = /^[A-Za-z0-9._:-]{1,64}$/;
const MAX_ACCEPTED = 32; // set_merchant's accepts: at most 32 assets
const SUPERVISORS = new Set(["regulator", "auditor"]); // read every account, and every asset's flagged merchants

function fail(code, message = "") {
  return Object.assign(new Error(message || code), { code });
}

function go(path) {
  location.hash = path;
}

async function send(session, type, fields) {
  const { chain } = await genesis();
  return node.sendOk(session.key, chain, type, fields);
}

/** Every item of a paged list (bounded). */
async function allPages(path) {
  const items = [];
  let cursor = null;
  for (let i = 0; i < MAX_PAGES; i++) {
    const page = await node.get(path, { limit: PAGE, cursor });
    items.push(...page.items);
    if (!page.next_cursor) break;
    cursor = page.next_cursor;
  }
  return items;
}

async function assetsById() {
  return Object.fromEntries((await allPages("/v1/assets")).map((a) => [a.id, a]));
}

/** A value loaded by `load`, loaded again when `deps` change; the previous value stays while it reloads. */
function useLoad(load, deps) {
  const [state, setState] = useState({ value: null, error: null });
  useEffect(() => {
    let live = true;
    load().then(
      (value) => live && setState({ value, error: null }),
      (error) => live && setState((s) => ({ value: s.value, error })),
    );
    return () => {
      live = false;
    };
  }, deps);
  return [state.value, state.error];
}

/** A counter that moves with every new block (the event stream) and with `bump()`: pages reload on it. */
function useTick() {
  const [tick, setTick] = useState(0);
  useEffect(() => {
    const events = new EventSource("/v1/events?types=block");
    events.addEventListener("block", () => setTick((n) => n + 1));
    return () => events.close();
  }, []);
  return [tick, () => setTick((n) => n + 1)];
}

// --- words for values ---------------------------------------------------------------------------------

function quotaText(minor, asset) {
  if (minor == null || minor >= NO_QUOTA) return t("console.no_quota");
  return amountText(minor, asset);
}

function limitText(minor, asset) {
  return minor ? amountText(minor, asset) : t("console.no_limit");
}

function durationText(ms) {
  if (ms % (24 * 3600_000) === 0 && ms > 0) return t("console.days", { n: ms / (24 * 3600_000) });
  if (ms % 3600_000 === 0 && ms > 0) return t("console.hours", { n: ms / 3600_000 });
  if (ms % MINUTE_MS === 0) return t("console.minutes", { n: ms / MINUTE_MS });
  return t("console.ms", { n: ms });
}

function offsetText(minutes) {
  const sign = minutes < 0 ? "-" : "+";
  const abs = Math.abs(minutes);
  return `UTC${sign}${String(Math.floor(abs / 60)).padStart(2, "0")}:${String(abs % 60).padStart(2, "0")}`;
}

function paramText(name, value) {
  if (name === "threshold") return String(value);
  if (name === "max_block_txs") return value ? String(value) : t("console.node_bound");
  if (name === "utc_offset_min") return offsetText(value);
  return durationText(value);
}

function codeText(code) {
  const known = t(`error.${code}`);
  return known === `error.${code}` ? code : `${known} (${code})`;
}

function pctOfBp(bp) {
  return `${new Intl.NumberFormat(locale(), { maximumFractionDigits: 2 }).format(bp / 100)}%`;
}

/** A ledger month (months since January 1970, in the chain's time zone) as YYYY-MM. */
function monthText(month) {
  return `${1970 + Math.floor(month / 12)}-${String((month % 12) + 1).padStart(2, "0")}`;
}

/** Where a policy or a cashback rule applies: its categories (by name) and regions, or any merchant. */
function whereText({ categories, regions }) {
  const where = [];
  if (categories && categories.length) where.push(t("policy.categories", { list: categories.map(mccText).join(t("policy.or")) }));
  if (regions && regions.length) where.push(t("policy.regions", { list: regions.map(regionText).join(", ") }));
  return where.length ? where.join("; ") : t("policy.any_merchant");
}

/** An asset's rules, one [rule's message key, value] pair each (the same rules as `tally policy show`), amounts in
 *  the asset's unit. `asset` carries `policy`, `transferable` and `cash_out` (an asset, or a set_policy action). */
function policyRules(asset) {
  const p = asset.policy || {};
  const amount = (minor) => (minor ? amountText(minor, asset) : t("policy.none"));
  let refund = t("policy.none");
  if (p.refund_pct) {
    refund = t("policy.refund_once", { pct: p.refund_pct });
    if (p.small_face_minor) refund += ` (${t("policy.refund_small", { pct: p.small_refund_pct || 0, amount: amount(p.small_face_minor) })})`;
  }
  const discount = p.discount_bp ? t("policy.discount", { pct: pctOfBp(p.discount_bp), account: p.budget_account }) : t("policy.none");
  let guard = p.merchant_cash_out_cap_minor ? t("policy.cash_out_cap", { amount: amount(p.merchant_cash_out_cap_minor) })
    : t("policy.no_cash_out_cap");
  if (p.flag_multiple) guard += `; ${t("policy.flag_past", { n: p.flag_multiple })}`;
  return [
    ["policy.rule.spent_at", whereText(p)],
    ["policy.rule.valid_until", p.valid_until_ms ? time(p.valid_until_ms) : t("policy.no_end")],
    ["policy.rule.holder_cap", amount(p.holder_cap_minor)],
    ["policy.rule.monthly_cap", amount(p.monthly_cap_minor)],
    ["policy.rule.who_pays", t(p.merchants_pay ? "policy.holders_and_merchants" : "policy.holders")],
    ["policy.rule.transferable", t(asset.transferable ? "policy.between_holders" : "policy.not_transferable")],
    ["policy.rule.cash_out", t("policy.cash_out", { who: t(`policy.cash_out_${asset.cash_out}`), fee: pctOfBp(p.cash_out_fee_bp || 0) })],
    ["policy.rule.refund", refund],
    ["policy.rule.discount", discount],
    ["policy.rule.merchants", guard],
  ];
}

/** What a proposal's action does, in words. */
function describe(action, assets) {
  const asset = assets[action.asset];
  switch (action.kind) {
    case "set_quota":
      return t("action.set_quota", { asset: action.asset, quota: quotaText(action.quota_minor, asset) });
    case "approve_asset":
      return t("action.approve_asset", { asset: action.asset, quota: quotaText(action.quota_minor, asset) });
    case "admit_member":
      return t("action.admit_member", { account: action.account, name: action.name, role: t(`role.${action.role}`) });
    case "remove_member":
      return t("action.remove_member", { account: action.account });
    case "set_param":
      return t("action.set_param", { name: t(`param.${action.name}`), value: paramText(action.name, action.value) });
    case "set_default_limits": {
      const l = action.limits;
      const a = assets[l.asset];
      return t("action.set_default_limits", {
        role: t(`role.${l.role}`), asset: l.asset, payment: limitText(l.max_payment_minor, a),
        daily: limitText(l.daily_out_minor, a), cap: limitText(l.balance_cap_minor, a),
      });
    }
    case "freeze":
      return t("action.freeze", { kind: t(`subject.${action.subject_kind}`), subject: action.subject, reason: reasonText(action.reason) });
    case "unfreeze":
      return t("action.unfreeze", { kind: t(`subject.${action.subject_kind}`), subject: action.subject });
    case "set_policy": {
      const rules = policyRules({ ...(asset || { id: action.asset, decimals: 0 }), ...action }).map(([rule, value]) => `${t(rule)} ${value}`);
      return t("action.set_policy", { asset: action.asset, rules: rules.join("; ") });
    }
    default:
      return JSON.stringify(action);
  }
}

// --- signing in -----------------------------------------------------------------------------------------

function SignIn({ onSession }) {
  const [text, setText] = useState("");
  const [run, busy, error] = useAction();
  const signIn = (keyText) => run(async () => {
    const key = await readKeyFile(keyText);
    const account = await node.get(`/v1/accounts/${key.id}`, undefined, key); // its token: the key in force
    if (!INSTITUTIONS.has(account.role)) throw fail("not_institution", `${key.id} is a ${account.role}`);
    if (account.public_key !== key.public_key) throw fail("key_not_in_force", key.id);
    setText("");
    onSession({ key, account });
  });
  const fromFile = async (e) => {
    const file = e.target.files[0];
    e.target.value = "";
    if (file) await signIn(await file.text());
  };
  return html`
    <section class="card narrow-card">
      <h1>${t("console.sign_in")}</h1>
      <p>${t("console.sign_in_text")}</p>
      <label>${t("console.key_file_choose")}<input type="file" accept="application/json,.json" onChange=${fromFile} data-test="key-file" /></label>
      <label>${t("wallet.backup_paste")}<textarea name="key" rows="4" autocomplete="off" spellcheck="false" value=${text}
        onInput=${(e) => setText(e.target.value)}></textarea></label>
      <button class="primary" disabled=${busy || !text} onClick=${() => signIn(text)} data-test="sign-in">${t("console.sign_in")}</button>
      <${ErrorLine} error=${error} />
    </section>`;
}

function SessionBar({ session, onSignOut }) {
  const { key, account } = session;
  return html`
    <section class="card session" data-test="session">
      <span>${t("console.signed_in_as")} <strong data-test="me">${key.id}</strong> · ${t(`role.${account.role}`)}</span>
      <nav class="tabs">
        <a href="#/">${t("console.council")}</a>
        <a href="#/propose" data-test="to-propose">${t("console.propose")}</a>
        <a href="#/assets" data-test="to-assets">${t("console.assets")}</a>
        <a href="#/account" data-test="to-accounts">${t("console.accounts")}</a>
        <a href="#/merchant" data-test="to-merchants">${t("console.merchants")}</a>
        <a href="#/settlement" data-test="to-settlement">${t("console.settlement")}</a>
      </nav>
      <button class="link" onClick=${onSignOut} data-test="sign-out">${t("console.sign_out")}</button>
    </section>`;
}

// --- the council and its proposals ----------------------------------------------------------------------

function sortProposals(items) {
  const rank = (p) => (p.state === "open" ? 0 : 1);
  return [...items].sort((a, b) => rank(a) - rank(b) || b.opened_height - a.opened_height || (a.id < b.id ? -1 : 1));
}

async function loadCouncil() {
  const [council, proposals, g, assets] = await Promise.all([
    node.get("/v1/council"), allPages("/v1/proposals"), genesis(), assetsById(),
  ]);
  const names = Object.fromEntries(g.members.map((m) => [m.id, m.name]));
  return { council, proposals: sortProposals(proposals), names, assets };
}

function CouncilCard({ council, names, me, assets }) {
  return html`
    <section class="card" data-test="council">
      <h1>${t("console.council")}</h1>
      <p class="big" data-test="threshold">${t("console.m_of_n", { m: council.threshold, n: council.council.length })}</p>
      <p class="muted">${t("console.threshold_text")}</p>
      <ul class="list members" data-test="members">
        ${council.council.map((id) => html`<li data-member=${id}>
          <strong>${id}</strong>${names[id] ? html` <span class="muted">${names[id]}</span>` : null}
          ${id === me ? html` <span class="badge">${t("console.you")}</span>` : null}</li>`)}
      </ul>
      <h2>${t("console.parameters")}</h2>
      <dl class="facts">
        <dt>${t("param.proposal_ttl_ms")}</dt><dd>${durationText(council.proposal_ttl_ms)}</dd>
        <dt>${t("param.recovery_delay_ms")}</dt><dd data-test="recovery-delay">${durationText(council.recovery_delay_ms)}</dd>
        <dt>${t("param.utc_offset_min")}</dt><dd>${offsetText(council.utc_offset_min)}</dd>
        <dt>${t("param.max_block_txs")}</dt><dd>${paramText("max_block_txs", council.max_block_txs)}</dd>
      </dl>
      ${council.default_limits.length ? html`
        <h2>${t("console.default_limits")}</h2>
        <ul class="list small">${council.default_limits.map((d) => html`<li>
          ${t(`role.${d.role}`)} · ${d.asset}: ${t("console.limits_line", { payment: limitText(d.max_payment_minor, assets[d.asset]),
            daily: limitText(d.daily_out_minor, assets[d.asset]), cap: limitText(d.balance_cap_minor, assets[d.asset]) })}</li>`)}
        </ul>` : null}
    </section>`;
}

function ProposalItem({ proposal: p, session, council, assets, onChanged }) {
  const [run, busy, error] = useAction();
  const me = session.key.id;
  const member = council.council.includes(me);
  const voted = p.votes.includes(me);
  const vote = () => run(async () => {
    await send(session, "vote", { proposal: p.id });
    onChanged();
  });
  return html`
    <li class="proposal" data-proposal=${p.id} data-state=${p.state}>
      <div class="row">
        <a class="mono" href=${`#/proposal/${p.id}`}>${p.id}</a>
        <span class=${`badge ${p.state}`} data-test="state">${t(`state.${p.state}`)}</span>
      </div>
      <p class="what">${describe(p.action, assets)}</p>
      <div class="row muted small">
        <span data-test="votes">${p.status === "open"
          ? t("console.votes_of", { n: p.votes_counted, m: p.threshold })
          : t("console.votes")}: ${p.votes.join(", ")}</span>
        <span>${t("console.opened_by", { who: p.proposer, height: p.opened_height })}</span>
      </div>
      ${p.state === "open" ? html`<div class="muted small">${t("console.expires", { when: time(p.expires_ms) })}</div>` : null}
      ${p.status === "executed" ? html`<div class="verified small" data-test="result">${t("console.executed_at", { height: p.closed_height })}</div>` : null}
      ${p.status === "failed" ? html`<div class="error small" data-test="result">${t("console.failed_at", { height: p.closed_height })}: ${codeText(p.result_code)}${p.result_message ? ` — ${p.result_message}` : ""}</div>` : null}
      ${p.state === "open" && member && !voted ? html`
        <button class="primary inline" disabled=${busy} onClick=${vote} data-test="vote">${t("console.vote")}</button>` : null}
      ${p.state === "open" && voted ? html`<div class="muted small" data-test="you-voted">${t("console.you_voted")}</div>` : null}
      <${ErrorLine} error=${error} />
    </li>`;
}

function CouncilPage({ session, tick, bump, only }) {
  const [data, error] = useLoad(loadCouncil, [tick]);
  if (!data) return html`<section class="card">${error ? html`<${ErrorLine} error=${error} />` : html`<p>…</p>`}</section>`;
  const { council, proposals, names, assets } = data;
  const shown = only ? proposals.filter((p) => p.id === only) : proposals;
  return html`
    <div class="columns">
      <${CouncilCard} council=${council} names=${names} me=${session.key.id} assets=${assets} />
      <section class="card">
        <div class="row">
          <h1>${only ? t("console.proposal") : t("console.proposals")}</h1>
          ${only ? html`<a href="#/">${t("console.all_proposals")}</a>` : html`<a class="button primary inline" href="#/propose">${t("console.new_proposal")}</a>`}
        </div>
        <${ErrorLine} error=${error} />
        ${shown.length ? html`
          <ul class="list proposals" data-test="proposals">
            ${shown.map((p) => html`<${ProposalItem} key=${p.id} proposal=${p} session=${session} council=${council}
              assets=${assets} onChanged=${bump} />`)}
          </ul>` : html`<p class="muted">${only ? t("console.no_such_proposal") : t("console.no_proposals")}</p>`}
      </section>
    </div>`;
}

// --- proposing --------------------------------------------------------------------------------------------

const SUBJECT_KINDS = ["account", "asset"];

function integerOf(text, code = "value_not_integer") {
  const cleaned = String(text).trim();
  if (!/^-?[0-9]{1,15}$/.test(cleaned)) throw fail(code);
  return Number(cleaned);
}

function need(value, code) {
  const cleaned = String(value || "").trim();
  if (!cleaned) throw fail(code);
  return cleaned;
}

/** The action the form describes, as the ledger takes it (amounts in minor units). */
function buildAction(kind, f, assets) {
  const assetOf = (id) => {
    const asset = assets[need(id, "choose_asset")];
    if (!asset) throw fail("unknown_asset", id);
    return asset;
  };
  switch (kind) {
    case "set_quota":
    case "approve_asset": {
      const asset = assetOf(f.asset);
      const quota = String(f.quota || "").trim() ? limitToMinor(f.quota, asset.decimals) : NO_QUOTA;
      return { kind, asset: asset.id, quota_minor: quota };
    }
    case "set_param": {
      const value = integerOf(f.value);
      const ms = f.param === "proposal_ttl_ms" || f.param === "recovery_delay_ms";
      return { kind, name: f.param, value: ms ? value * MINUTE_MS : value };
    }
    case "admit_member":
      return { kind, account: need(f.account, "account_required"), name: need(f.name, "name_required"),
        public_key: need(f.public_key, "public_key_required").toLowerCase(), role: f.role };
    case "remove_member":
      return { kind, account: need(f.account, "account_required") };
    case "set_default_limits": {
      const asset = assetOf(f.asset);
      return { kind, limits: { role: f.limit_role, asset: asset.id,
        max_payment_minor: limitToMinor(f.max_payment, asset.decimals),
        daily_out_minor: limitToMinor(f.daily_out, asset.decimals),
        balance_cap_minor: limitToMinor(f.balance_cap, asset.decimals) } };
    }
    case "freeze":
      return { kind, subject_kind: f.subject_kind, subject: need(f.subject, "subject_required"),
        reason: need(f.reason, "reason_required") };
    case "unfreeze":
      return { kind, subject_kind: f.subject_kind, subject: need(f.subject, "subject_required") };
    default:
      throw fail("bad_parameter", kind);
  }
}

/** A proposal id for the action: kind, what it is about, a few random characters. */
function suggestId(kind, f, salt) {
  const about = { set_quota: f.asset, approve_asset: f.asset, set_param: f.param, admit_member: f.account,
    remove_member: f.account, set_default_limits: f.asset, freeze: f.subject, unfreeze: f.subject }[kind] || "";
  const clean = String(about).replace(/[^A-Za-z0-9._-]/g, "").slice(0, 32);
  return [kind, clean, salt].filter(Boolean).join(":");
}

function Field({ label, hint, children }) {
  return html`<label>${label}${children}${hint ? html`<span class="hint">${hint}</span>` : null}</label>`;
}

function AssetSelect({ assets, value, onChange, name = "asset" }) {
  return html`<select name=${name} value=${value} onChange=${onChange}>
    ${Object.values(assets).map((a) => html`<option value=${a.id}>${a.id} · ${a.name}</option>`)}
  </select>`;
}

function ProposeForm({ session, preset, bump }) {
  const [data, loadError] = useLoad(async () => {
    const [assets, council] = await Promise.all([assetsById(), node.get("/v1/council")]);
    return { assets, council };
  }, []);
  const [kind, setKind] = useState(KINDS.includes(preset.kind) ? preset.kind : "set_quota");
  const presetSubject = preset.subject || "";
  const [f, setF] = useState({
    asset: /^[A-Z0-9]/.test(presetSubject) ? presetSubject : "", quota: "", param: "threshold", value: "",
    account: "", name: "", public_key: "", role: "member", limit_role: "holder", max_payment: "", daily_out: "",
    balance_cap: "", subject_kind: "account", subject: presetSubject, reason: "court_order",
  });
  const [proposalId, setProposalId] = useState("");
  const salt = useMemo(() => Math.random().toString(36).slice(2, 6), []);
  const [run, busy, error] = useAction();
  if (!data) return html`<section class="card">${loadError ? html`<${ErrorLine} error=${loadError} />` : html`<p>…</p>`}</section>`;
  const { assets, council } = data;
  const ids = Object.keys(assets);
  const fields = { ...f, asset: f.asset || ids[0] || "" };
  const set = (name) => (e) => setF({ ...f, [name]: e.target.value });
  const suggested = suggestId(kind, fields, salt);
  const asset = assets[fields.asset];
  const isMember = council.council.includes(session.key.id);

  const submit = () => run(async () => {
    const action = buildAction(kind, fields, assets);
    const id = proposalId.trim() || suggested;
    if (!ID_RE.test(id)) throw fail("bad_proposal_id", id);
    await send(session, "propose", { proposal: id, action });
    bump();
    go(`/proposal/${id}`);
  });

  const current = (name) => html`<span class="hint">${t("console.now", { value: paramText(name, council[name]) })}</span>`;
  let body;
  if (kind === "set_quota" || kind === "approve_asset") {
    body = html`
      <${Field} label=${t("wallet.asset")}><${AssetSelect} assets=${assets} value=${fields.asset} onChange=${set("asset")} /><//>
      <${Field} label=${t("console.quota")} hint=${t("console.quota_hint", { now: asset ? quotaText(asset.quota_minor, asset) : "-" })}>
        <input name="quota" inputmode="decimal" value=${f.quota} onInput=${set("quota")} /><//>`;
  } else if (kind === "set_param") {
    const unit = { threshold: "console.unit_votes", proposal_ttl_ms: "console.unit_minutes",
      recovery_delay_ms: "console.unit_minutes", utc_offset_min: "console.unit_offset",
      max_block_txs: "console.unit_txs" }[f.param];
    body = html`
      <${Field} label=${t("console.parameter")}>
        <select name="param" value=${f.param} onChange=${set("param")}>
          ${PARAMS.map((p) => html`<option value=${p}>${t(`param.${p}`)}</option>`)}
        </select>${current(f.param)}<//>
      <${Field} label=${`${t("console.value")} (${t(unit)})`}>
        <input name="value" inputmode="numeric" value=${f.value} onInput=${set("value")} /><//>`;
  } else if (kind === "admit_member") {
    body = html`
      <div class="form-grid">
        <${Field} label=${t("console.account")}><input name="account" value=${f.account} onInput=${set("account")} /><//>
        <${Field} label=${t("console.name")}><input name="name" value=${f.name} onInput=${set("name")} /><//>
      </div>
      <${Field} label=${t("console.public_key")}><input name="public_key" class="mono" value=${f.public_key} onInput=${set("public_key")} /><//>
      <${Field} label=${t("console.role")}>
        <select name="role" value=${f.role} onChange=${set("role")}>
          ${["member", "auditor", "regulator"].map((r) => html`<option value=${r}>${t(`role.${r}`)}</option>`)}
        </select><//>`;
  } else if (kind === "remove_member") {
    body = html`
      <${Field} label=${t("console.account")} hint=${t("console.remove_hint")}>
        <input name="account" list="council-members" value=${f.account} onInput=${set("account")} />
        <datalist id="council-members">${council.council.map((m) => html`<option value=${m} />`)}</datalist><//>`;
  } else if (kind === "set_default_limits") {
    body = html`
      <div class="form-grid">
        <${Field} label=${t("console.role")}>
          <select name="limit_role" value=${f.limit_role} onChange=${set("limit_role")}>
            ${["holder", "merchant"].map((r) => html`<option value=${r}>${t(`role.${r}`)}</option>`)}
          </select><//>
        <${Field} label=${t("wallet.asset")}><${AssetSelect} assets=${assets} value=${fields.asset} onChange=${set("asset")} /><//>
      </div>
      <${LimitInputs} f=${f} set=${set} />`;
  } else {
    body = html`
      <div class="form-grid">
        <${Field} label=${t("console.subject_kind")}>
          <select name="subject_kind" value=${f.subject_kind} onChange=${set("subject_kind")}>
            ${SUBJECT_KINDS.map((k) => html`<option value=${k}>${t(`subject.${k}`)}</option>`)}
          </select><//>
        <${Field} label=${f.subject_kind === "asset" ? t("wallet.asset") : t("console.account")}>
          <input name="subject" value=${f.subject} onInput=${set("subject")} /><//>
      </div>
      ${kind === "freeze" ? html`
        <${Field} label=${t("console.reason")} hint=${t("console.reason_hint")}>
          <input name="reason" list="reasons" value=${f.reason} onInput=${set("reason")} />
          <datalist id="reasons">${REASONS.map((r) => html`<option value=${r} />`)}</datalist><//>` : null}`;
  }

  return html`
    <section class="card form-card" data-test="propose-form">
      <h1>${t("console.new_proposal")}</h1>
      <p class="muted">${t("console.propose_text", { m: council.threshold, n: council.council.length })}</p>
      ${isMember ? null : html`<p class="warn">${t("console.not_a_voter")}</p>`}
      <${Field} label=${t("console.action")}>
        <select name="kind" value=${kind} onChange=${(e) => setKind(e.target.value)}>
          ${KINDS.map((k) => html`<option value=${k}>${t(`kind.${k}`)}</option>`)}
        </select><//>
      ${body}
      <${Field} label=${t("console.proposal_id")} hint=${t("console.proposal_id_hint")}>
        <input name="proposal" class="mono" placeholder=${suggested} value=${proposalId} onInput=${(e) => setProposalId(e.target.value)} /><//>
      <button class="primary" disabled=${busy} onClick=${submit} data-test="propose">${t("console.propose_it")}</button>
      <${ErrorLine} error=${error} />
    </section>`;
}

function LimitInputs({ f, set }) {
  return html`
    <div class="form-grid three">
      <${Field} label=${t("limits.max_payment")}><input name="max_payment" inputmode="decimal" placeholder="0" value=${f.max_payment} onInput=${set("max_payment")} /><//>
      <${Field} label=${t("limits.daily_out")}><input name="daily_out" inputmode="decimal" placeholder="0" value=${f.daily_out} onInput=${set("daily_out")} /><//>
      <${Field} label=${t("limits.balance_cap")}><input name="balance_cap" inputmode="decimal" placeholder="0" value=${f.balance_cap} onInput=${set("balance_cap")} /><//>
    </div>
    <p class="hint">${t("console.limits_hint")}</p>`;
}

// --- assets ---------------------------------------------------------------------------------------------------

/** Whether the signed-in institution reads an asset's flagged merchants: its issuer, a regulator or an auditor. */
function readsFlags(session, asset) {
  return asset.issuer === session.key.id || SUPERVISORS.has(session.account.role);
}

/** A read this institution may not make (another member's account, another issuer's flags): null. */
function unlessForbidden(read) {
  return read.catch((err) => {
    if (err.status === 401 || err.status === 403) return null;
    throw err;
  });
}

/** An asset's supply with, under a policy with a discount, its budget account's balance, and its cashback rules
 *  with theirs (budgets are public, like the rules), and its flagged merchants (for the issuer and supervisors). */
async function loadAsset(session, asset) {
  const p = asset.policy;
  const budget = p && p.discount_bp && p.budget_account ? p.budget_account : null;
  const [supply, incentives, flags] = await Promise.all([
    node.get(`/v1/assets/${asset.id}/supply`),
    node.get(`/v1/assets/${asset.id}/incentives`),
    p && p.flag_multiple && readsFlags(session, asset) ? unlessForbidden(node.get(`/v1/assets/${asset.id}/flags`)) : null,
  ]);
  return {
    asset, supply, flags, incentives: incentives.items,
    budget: budget && { id: budget, minor: supply.budget_minor === undefined ? null : supply.budget_minor },
  };
}

function AssetsPage({ session, tick }) {
  const [list, error] = useLoad(async () => {
    const assets = await allPages("/v1/assets");
    return Promise.all(assets.map((a) => loadAsset(session, a)));
  }, [tick, session.key.id]);
  return html`
    <section class="card">
      <h1>${t("console.assets")}</h1>
      <p class="muted">${t("console.assets_text")}</p>
      <${ErrorLine} error=${error} />
      ${list === null ? html`<p>…</p>` : null}
    </section>
    ${list ? html`<div class="cards" data-test="assets">
      ${list.map((view) => html`<${AssetCard} key=${view.asset.id} view=${view} />`)}
    </div>` : null}`;
}

function AssetCard({ view }) {
  const { asset, supply, incentives } = view;
  const finite = supply.quota_minor != null && supply.quota_minor < NO_QUOTA;
  const used = finite && supply.quota_minor > 0 ? Math.min(100, (100 * supply.outstanding_minor) / supply.quota_minor) : 0;
  return html`
    <section class=${asset.policy || incentives.length ? "card with-policy" : "card"} data-asset=${asset.id}>
      <div class="row">
        <h2>${asset.name}</h2>
        <span class=${`badge ${supply.status}`} data-test="status">${t(`state.${supply.status}`)}</span>
      </div>
      <p class="muted small"><span class="mono">${asset.id}</span> · ${asset.kind} · ${t("console.issuer")}: ${asset.issuer}</p>
      ${supply.frozen ? html`<p class="warn" data-test="frozen">${t("console.frozen_because", { reason: reasonText(supply.frozen.reason), by: supply.frozen.by })}</p>` : null}
      <div class="asset-body"><div>
      <dl class="facts">
        <dt>${t("console.quota")}</dt><dd data-test="quota">${quotaText(supply.quota_minor, asset)}</dd>
        <dt>${t("console.issued")}</dt><dd data-test="issued"><${Amount} minor=${supply.issued_minor} asset=${asset} /></dd>
        <dt>${t("console.burned")}</dt><dd data-test="burned"><${Amount} minor=${supply.burned_minor} asset=${asset} /></dd>
        <dt>${t("console.outstanding")}</dt><dd data-test="outstanding"><strong><${Amount} minor=${supply.outstanding_minor} asset=${asset} /></strong></dd>
      </dl>
      ${finite ? html`<div class="meter" title=${`${used.toFixed(1)}%`}><span style=${`width:${used}%`}></span></div>
        <p class="muted small">${t("console.of_quota", { pct: used.toFixed(1) })}</p>` : null}
      <p class="small">
        <a href=${`#/propose/set_quota/${asset.id}`} data-test="propose-quota">${t("console.propose_quota")}</a>
        ${supply.status === "proposed" ? html` · <a href=${`#/proposal/asset:${asset.id}`}>${t("console.see_approval")}</a>` : null}
      </p>
      </div>
      <div>
        <${PolicyFacts} view=${view} />
        <${IncentiveSection} view=${view} />
      </div>
      </div>
      <${FlagSection} view=${view} />
    </section>`;
}

/** The asset's policy rule by rule, and its budget account's balance. */
function PolicyFacts({ view }) {
  const { asset, budget } = view;
  if (!asset.policy) return html`<p class="muted small" data-test="no-policy">${t("console.no_policy")}</p>`;
  return html`<div>
    <h3>${t("console.policy")}</h3>
    <dl class="facts entry policy" data-test="policy">
      ${policyRules(asset).map(([rule, value]) => html`<dt>${t(rule)}</dt><dd data-rule=${rule.slice(12)}>${value}</dd>`)}
      ${budget && budget.minor !== null ? html`<dt>${t("console.budget")}</dt><dd data-test="budget"><span class="mono">${budget.id}</span>: <strong>${t("console.budget_left", { amount: amountText(budget.minor, asset) })}</strong></dd>` : null}
    </dl>
  </div>`;
}

const RUN_BADGES = { running: "active", not_started: "proposed", ended: "expired" };

/** Whether a cashback rule runs now (the node's answer, at its last block's time), has not started or has ended. */
function runState(item) {
  if (item.active) return "running";
  const { from_ms: from = 0, until_ms: until = 0 } = item.rule;
  return until > 0 && (from === 0 || Date.now() >= until) ? "ended" : "not_started";
}

/** When a cashback rule runs: from and until (block times), or no end. */
function periodText({ from_ms: from = 0, until_ms: until = 0 }) {
  if (from && until) return t("console.incentive_between", { from: time(from), until: time(until) });
  if (until) return t("console.incentive_until", { until: time(until) });
  if (from) return t("console.incentive_from", { from: time(from) });
  return t("policy.no_end");
}

/** The asset's cashback rules (protocol 10), as `tally policy incentives` lists them; none: nothing. */
function IncentiveSection({ view }) {
  const { asset, incentives } = view;
  if (!incentives.length) return null;
  return html`<div class="incentive-part" data-test="incentives">
    <h3>${t("console.incentives")}</h3>
    <p class="muted small">${t("console.incentives_text")}</p>
    <ul class="incentives">
      ${incentives.map((item) => html`<${IncentiveRule} key=${item.rule.id} item=${item} asset=${asset} />`)}
    </ul>
  </div>`;
}

function IncentiveRule({ item, asset }) {
  const r = item.rule;
  const state = runState(item);
  const left = t("console.budget_left", { amount: amountText(item.budget_minor, asset) });
  return html`<li data-incentive=${r.id}>
    <div class="row">
      <strong class="rule-id">${r.id}</strong>
      <span class=${`badge ${RUN_BADGES[state]}`} data-test="running">${t(`console.incentive_${state}`)}</span>
    </div>
    <dl class="facts entry">
      <dt>${t("console.incentive_rate")}</dt><dd data-field="rate">${t("console.incentive_rate_of", { pct: pctOfBp(r.rate_bp) })}</dd>
      <dt>${t("console.incentive_where")}</dt><dd data-field="where">${whereText(r)}</dd>
      <dt>${t("console.incentive_period")}</dt><dd data-field="period">${periodText(r)}</dd>
      <dt>${t("console.incentive_cap")}</dt><dd data-field="cap">${r.cap_per_holder_minor
        ? amountText(r.cap_per_holder_minor, asset) : t("console.incentive_no_cap")}</dd>
      <dt>${t("console.budget")}</dt><dd data-field="budget"><span class="mono">${r.budget_account}</span>: <strong>${left}</strong>
        ${item.budget_minor ? null : html`<div class="warn small" data-test="budget-empty">${t("console.incentive_budget_empty")}</div>`}</dd>
    </dl>
  </li>`;
}

/** The merchants the asset's voucher-cashing guard flagged, where its policy flags any. */
function FlagSection({ view }) {
  const { asset, flags } = view;
  const multiple = asset.policy && asset.policy.flag_multiple;
  if (!multiple) return null;
  return html`
    <h3>${t("console.flags")}</h3>
    <p class="muted small">${t("console.flags_text", { n: multiple })}</p>
    <${FlagList} asset=${asset} flags=${flags} />`;
}

function FlagList({ asset, flags }) {
  if (flags === null) return html`<p class="warn small" data-test="flags-hidden">${t("console.flags_hidden", { issuer: asset.issuer })}</p>`;
  if (!flags.flags.length) return html`<p class="muted" data-test="no-flags">${t("console.no_flags")}</p>`;
  return html`
    <div class="table-scroll">
      <table class="grid" data-test="flags">
        <thead><tr><th>${t("wallet.merchant")}</th><th>${t("console.flag_month")}</th><th class="num">${t("console.flag_taken")}</th></tr></thead>
        <tbody>${flags.flags.map((f) => html`<tr data-merchant=${f.merchant}>
          <td><a class="nowrap" href=${`#/merchant/${f.merchant}`}>${f.merchant}</a></td>
          <td class="nowrap">${monthText(f.month)}
            <div class="small"><a href=${`/explorer/#/tx/${f.txid}`} title=${f.txid}>${t("console.at_height", { height: f.height })}</a></div></td>
          <td class="num"><strong><${Amount} minor=${f.redeemed_minor} asset=${asset} /></strong>
            <div class="muted small">${t("console.flag_usual_past", { usual: amountText(f.usual_minor, asset), n: f.multiple })}</div></td></tr>`)}
        </tbody>
      </table>
    </div>
    ${flags.truncated ? html`<p class="muted small">${t("console.flags_truncated")}</p>` : null}`;
}

// --- accounts: freeze, limits, recovery -------------------------------------------------------------------------

function AccountSearch({ id }) {
  const [text, setText] = useState(id || "");
  const submit = (e) => {
    e.preventDefault();
    if (text.trim()) go(`/account/${text.trim()}`);
  };
  return html`<section class="card">
    <h1>${t("console.accounts")}</h1>
    <form class="search" onSubmit=${submit}>
      <input name="lookup" placeholder=${t("console.account_lookup")} value=${text} onInput=${(e) => setText(e.target.value)} />
      <button data-test="look-up">${t("pos.look_up")}</button>
    </form>
  </section>`;
}

function AccountPage({ session, id, tick, bump }) {
  const [view, error] = useLoad(async () => {
    const [account, controls, balances, assets] = await Promise.all([
      node.get(`/v1/accounts/${id}`), node.get(`/v1/accounts/${id}/controls`),
      node.get(`/v1/accounts/${id}/balances`), assetsById(),
    ]);
    return { account, controls, balances: balances.balances, assets };
  }, [id, tick]);
  if (!view) return html`<section class="card">${error ? html`<${ErrorLine} error=${error} />` : html`<p>…</p>`}</section>`;
  const { account, controls, balances, assets } = view;
  const limited = account.role === "holder" || account.role === "merchant";
  return html`
    <div class="columns even">
      <section class="card" data-test="account">
        <h1>${account.id}</h1>
        <dl class="facts">
          <dt>${t("console.role")}</dt><dd>${t(`role.${account.role}`)}</dd>
          <dt>${t("console.registered_by")}</dt><dd>${account.member}</dd>
          <dt>${t("console.public_key")}</dt><dd class="mono" data-test="public-key">${account.public_key}</dd>
        </dl>
        ${controls.frozen ? html`<p class="warn" data-test="frozen">${t("console.frozen_because", {
          reason: reasonText(controls.frozen.reason), by: controls.frozen.by })} · ${t("console.at_height", { height: controls.frozen.height })}</p>`
          : html`<p class="muted" data-test="not-frozen">${t("console.not_frozen")}</p>`}
        <${FreezeActions} session=${session} account=${account} frozen=${controls.frozen} onDone=${bump} />
        ${account.role === "merchant" ? html`<p><a class="button inline" href=${`#/merchant/${account.id}`}
          data-test="to-registry">${t("console.registry_link")}</a></p>` : null}
        <h2>${t("console.balances")}</h2>
        <ul class="balances">${Object.entries(balances).map(([asset, minor]) => html`
          <li><span>${asset}</span><strong><${Amount} minor=${minor} asset=${assets[asset]} /></strong></li>`)}
        </ul>
        ${Object.keys(balances).length ? null : html`<p class="muted">${t("console.no_balances")}</p>`}
      </section>
      <div>
        <${LimitsCard} session=${session} account=${account} limits=${controls.limits} assets=${assets} limited=${limited} onDone=${bump} />
        ${limited ? html`<${RecoveryCard} session=${session} account=${account} recovery=${controls.recovery} onDone=${bump} />` : null}
      </div>
    </div>`;
}

function FreezeActions({ session, account, frozen, onDone }) {
  const [reason, setReason] = useState("court_order");
  const [run, busy, error] = useAction();
  if (session.account.role === "regulator") {
    const act = () => run(async () => {
      if (frozen) await send(session, "unfreeze", { subject_kind: "account", subject: account.id });
      else await send(session, "freeze", { subject_kind: "account", subject: account.id, reason: need(reason, "reason_required") });
      onDone();
    });
    return html`<div>
      ${frozen ? null : html`<${Field} label=${t("console.reason")}><input name="freeze_reason" list="reasons" value=${reason} onInput=${(e) => setReason(e.target.value)} />
        <datalist id="reasons">${REASONS.map((r) => html`<option value=${r} />`)}</datalist><//>`}
      <button class=${frozen ? "" : "danger"} disabled=${busy} onClick=${act} data-test=${frozen ? "unfreeze" : "freeze"}>
        ${frozen ? t("console.unfreeze_now") : t("console.freeze_now")}</button>
      <${ErrorLine} error=${error} />
    </div>`;
  }
  if (session.account.role !== "member") return null;
  const kind = frozen ? "unfreeze" : "freeze";
  return html`<p><a class="button inline" href=${`#/propose/${kind}/${account.id}`} data-test=${`propose-${kind}`}>
    ${frozen ? t("console.propose_unfreeze") : t("console.propose_freeze")}</a></p>`;
}

/** A limit as the form shows it: in the asset's unit, blank for none. */
function limitInput(minor, asset) {
  return minor ? formatMinor(minor, asset ? asset.decimals : 0, "en-US").replace(/,/g, "") : "";
}

function LimitsCard({ session, account, limits, assets, limited, onDone }) {
  const ids = Object.keys(assets);
  // The form starts from the account's own limits in the chosen asset (none: blank).
  const fill = (assetId) => {
    const own = limits.find((l) => l.asset === assetId && l.source === "own");
    const asset = assets[assetId];
    return {
      asset: assetId, max_payment: own ? limitInput(own.max_payment_minor, asset) : "",
      daily_out: own ? limitInput(own.daily_out_minor, asset) : "",
      balance_cap: own ? limitInput(own.balance_cap_minor, asset) : "",
    };
  };
  const [f, setF] = useState(() => fill(ids[0] || ""));
  const [run, busy, error] = useAction();
  const [saved, setSaved] = useState(false);
  const set = (name) => (e) => {
    setSaved(false);
    setF(name === "asset" ? fill(e.target.value) : { ...f, [name]: e.target.value });
  };
  const chosen = f.asset || ids[0] || "";
  const save = () => run(async () => {
    const asset = assets[chosen];
    if (!asset) throw fail("choose_asset");
    await send(session, "set_limits", {
      account: account.id, asset: asset.id, max_payment_minor: limitToMinor(f.max_payment, asset.decimals),
      daily_out_minor: limitToMinor(f.daily_out, asset.decimals), balance_cap_minor: limitToMinor(f.balance_cap, asset.decimals),
    });
    setSaved(true);
    onDone();
  });
  return html`
    <section class="card" data-test="limits-card">
      <h2>${t("console.limits")}</h2>
      ${limits.length ? html`
        <table class="grid" data-test="limits">
          <thead><tr><th>${t("wallet.asset")}</th><th>${t("limits.max_payment")}</th><th>${t("limits.daily_out")}</th><th>${t("limits.balance_cap")}</th></tr></thead>
          <tbody>${limits.map((l) => html`<tr data-asset=${l.asset}>
            <td>${l.asset}<div class="muted small">${l.source === "own" ? t("console.set_by", { who: l.set_by }) : t("console.default")}</div></td>
            <td>${limitText(l.max_payment_minor, assets[l.asset])}</td>
            <td>${limitText(l.daily_out_minor, assets[l.asset])}${l.daily_out_minor ? html`<div class="muted small">${t("console.sent_today", { amount: amountText(l.sent_today_minor, assets[l.asset]) })}</div>` : null}</td>
            <td>${limitText(l.balance_cap_minor, assets[l.asset])}</td></tr>`)}
          </tbody>
        </table>` : html`<p class="muted">${t("console.no_limits")}</p>`}
      ${limited ? html`
        <h2>${t("console.set_limits")}</h2>
        <p class="hint">${t("console.set_limits_who", { member: account.member })}</p>
        <${Field} label=${t("wallet.asset")}><${AssetSelect} name="limit_asset" assets=${assets} value=${chosen} onChange=${set("asset")} /><//>
        <${LimitInputs} f=${f} set=${set} />
        <button class="primary" disabled=${busy} onClick=${save} data-test="set-limits">${t("console.save_limits")}</button>
        ${saved ? html`<p class="verified" data-test="limits-saved">${t("console.limits_saved")}</p>` : null}
        <${ErrorLine} error=${error} />` : null}
    </section>`;
}

function RecoveryCard({ session, account, recovery, onDone }) {
  const [newKey, setNewKey] = useState("");
  const [run, busy, error] = useAction();
  const start = () => run(async () => {
    const key = need(newKey, "public_key_required").toLowerCase();
    if (!/^[0-9a-f]{64}$/.test(key)) throw fail("bad_public_key");
    await send(session, "start_recovery", { account: account.id, new_public_key: key });
    setNewKey("");
    onDone();
  });
  const complete = () => run(async () => {
    await send(session, "complete_recovery", { account: account.id });
    onDone();
  });
  const cancel = () => run(async () => {
    await send(session, "cancel_recovery", { account: account.id });
    onDone();
  });
  return html`
    <section class="card" data-test="recovery">
      <h2>${t("console.recovery")}</h2>
      ${recovery ? html`
        <p class="warn" data-test="recovery-pending">${t("console.recovery_pending", { member: recovery.member, when: time(recovery.completes_ms) })}</p>
        <dl class="facts">
          <dt>${t("console.new_key")}</dt><dd class="mono">${recovery.new_public_key}</dd>
          <dt>${t("console.started_at")}</dt><dd>${t("console.at_height", { height: recovery.started_height })}</dd>
        </dl>
        <div class="actions">
          <button class="primary" disabled=${busy} onClick=${complete} data-test="complete-recovery">${t("console.complete_recovery")}</button>
          <button disabled=${busy} onClick=${cancel} data-test="cancel-recovery">${t("console.cancel_recovery")}</button>
        </div>` : html`
        <p class="muted">${t("console.recovery_text", { member: account.member })}</p>
        <${Field} label=${t("console.holder_new_key")}>
          <input name="new_key" class="mono" autocomplete="off" spellcheck="false" value=${newKey} onInput=${(e) => setNewKey(e.target.value)} /><//>
        <button class="primary" disabled=${busy || !newKey} onClick=${start} data-test="start-recovery">${t("console.start_recovery")}</button>`}
      <${ErrorLine} error=${error} />
    </section>`;
}

// --- merchants: the registry entry (protocol 7) ---------------------------------------------------------------

function MerchantSearch({ id }) {
  const [text, setText] = useState(id || "");
  const submit = (e) => {
    e.preventDefault();
    if (text.trim()) go(`/merchant/${text.trim()}`);
  };
  return html`<section class="card">
    <h1>${t("console.merchants")}</h1>
    <p class="muted">${t("console.merchants_text")}</p>
    <form class="search" onSubmit=${submit}>
      <input name="merchant_lookup" placeholder=${t("console.merchant_lookup")} value=${text} onInput=${(e) => setText(e.target.value)} />
      <button data-test="look-up-merchant">${t("pos.look_up")}</button>
    </form>
  </section>`;
}

/** The merchant's entry (public), its account as this member reads it (null: not one it may read), the assets. */
async function loadMerchant(id) {
  const path = encodeURIComponent(id);
  const [entry, account, assets] = await Promise.all([
    node.get(`/v1/merchants/${path}`, undefined, null).catch((err) => {
      if (err.code === "unknown_merchant") return null;
      throw err;
    }),
    node.get(`/v1/accounts/${path}`).catch((err) => {
      if (err.status === 403 || err.status === 401) return null; // another member's: not ours to read
      throw err;
    }),
    assetsById(),
  ]);
  return { entry, account, assets };
}

function MerchantPage({ session, id, tick, bump }) {
  const [view, error] = useLoad(() => loadMerchant(id), [id, tick]);
  if (!view) return html`<section class="card">${error ? html`<${ErrorLine} error=${error} />` : html`<p>…</p>`}</section>`;
  const { entry, account, assets } = view;
  const me = session.key.id;
  // Whose entry it is: the account's member where this key reads it, else the member that set the entry.
  const keeper = account ? account.member : entry && entry.set_by;
  const notYours = html`<p class="warn" data-test="not-yours">${keeper
    ? t("console.not_yours_kept", { merchant: id, member: keeper }) : t("console.not_yours", { merchant: id })}</p>`;
  let whose;
  if (!account) whose = notYours;
  else if (account.role !== "merchant") {
    whose = html`<p class="warn" data-test="not-merchant">${t("console.not_a_merchant", { id, role: t(`role.${account.role}`) })}</p>`;
  } else if (account.member === me) whose = html`<p class="muted" data-test="yours">${t("console.yours")}</p>`;
  else whose = notYours;
  const name = (assetId) => (assets[assetId] ? `${assetId} · ${assets[assetId].name}` : assetId);
  return html`
    <div class="columns even">
      <section class="card" data-test="merchant">
        <h1>${id}</h1>
        ${account ? html`<dl class="facts entry">
          <dt>${t("console.role")}</dt><dd>${t(`role.${account.role}`)}</dd>
          <dt>${t("console.registered_by")}</dt><dd>${account.member}</dd>
        </dl>` : null}
        ${whose}
        <h2>${t("console.registry")}</h2>
        ${entry ? html`
          <dl class="facts entry" data-test="entry">
            <dt>${t("console.category")}</dt><dd data-test="entry-category">${mccText(entry.category)}</dd>
            <dt>${t("console.region")}</dt><dd data-test="entry-region">${regionText(entry.region)}</dd>
            <dt>${t("console.location")}</dt><dd data-test="entry-location">${e6ToDegrees(entry.lat_e6)}, ${e6ToDegrees(entry.lon_e6)}</dd>
            <dt>${t("console.business_no_short")}</dt><dd>${entry.business_no}</dd>
            <dt>${t("console.accepts")}</dt><dd data-test="entry-accepts">${entry.accepts.length
              ? entry.accepts.map((a) => html`<div>${name(a)}</div>`) : t("console.none_accepted")}</dd>
            <dt>${t("console.kept_by")}</dt><dd>${t("console.entry_set_by", { who: entry.set_by, height: entry.height })}</dd>
          </dl>` : html`<p class="muted" data-test="no-entry">${t("console.no_entry")}</p>`}
      </section>
      <${MerchantForm} session=${session} id=${id} entry=${entry} assets=${assets} onSaved=${bump} />
    </div>`;
}

/** "37.5665, 126.978" typed or pasted into either field: both numbers. */
function bothDegrees(text) {
  const found = /^\s*([+-]?[0-9.]+)\s*[,\s]\s*([+-]?[0-9.]+)\s*$/.exec(text);
  return found ? { lat: found[1], lon: found[2] } : null;
}

function MerchantForm({ session, id, entry, assets, onSaved }) {
  const [f, setF] = useState(() => ({
    category: entry ? entry.category : "", region: entry ? entry.region : "",
    lat: entry ? e6ToDegrees(entry.lat_e6) : "", lon: entry ? e6ToDegrees(entry.lon_e6) : "",
    business_no: entry ? entry.business_no : "", accepts: entry ? [...entry.accepts] : [],
  }));
  const [run, busy, error] = useAction();
  const [saved, setSaved] = useState(null); // the final status of the set_merchant this form sent
  const edit = (changes) => {
    setSaved(null);
    setF({ ...f, ...changes });
  };
  const set = (name) => (e) => {
    const both = (name === "lat" || name === "lon") && bothDegrees(e.target.value);
    edit(both || { [name]: e.target.value });
  };
  const toggle = (assetId) => (e) => edit({
    accepts: e.target.checked ? [...f.accepts, assetId] : f.accepts.filter((a) => a !== assetId),
  });
  // Active assets, and any the entry names that no longer is (so that it can be left out).
  const offered = Object.values(assets).filter((a) => a.status === "active" || f.accepts.includes(a.id)).map((a) => a.id);
  for (const a of f.accepts) if (!offered.includes(a)) offered.push(a);

  const save = () => run(async () => {
    const category = f.category.trim();
    if (!/^[0-9]{4}$/.test(category)) throw fail("category_invalid");
    const region = f.region.trim().toUpperCase();
    if (!/^[A-Z0-9][A-Z0-9_-]{0,31}$/.test(region)) throw fail("region_invalid");
    const latE6 = degreesToE6(f.lat, 90, "lat_invalid");
    const lonE6 = degreesToE6(f.lon, 180, "lon_invalid");
    const businessNo = f.business_no.trim();
    if (!/^[0-9A-Za-z-]{1,32}$/.test(businessNo)) throw fail("business_no_invalid");
    const accepts = offered.filter((a) => f.accepts.includes(a));
    if (accepts.length > MAX_ACCEPTED) throw fail("too_many_assets");
    const status = await send(session, "set_merchant", {
      merchant: id, category, region, lat_e6: latE6, lon_e6: lonE6, business_no: businessNo, accepts,
    });
    setSaved(status);
    onSaved();
  });

  const hintMcc = mccName(f.category.trim());
  return html`
    <section class="card" data-test="merchant-form">
      <h2>${t("console.set_entry")}</h2>
      <div class="form-grid">
        <${Field} label=${t("console.category")} hint=${hintMcc || t("console.category_hint")}>
          <input name="category" inputmode="numeric" maxlength="4" list="mccs" autocomplete="off" value=${f.category} onInput=${set("category")} />
          <datalist id="mccs">${KNOWN_MCCS.map((code) => html`<option value=${code} label=${mccName(code)} />`)}</datalist><//>
        <${Field} label=${t("console.region")} hint=${t("console.region_hint")}>
          <input name="region" list="regions" autocomplete="off" value=${f.region} onInput=${set("region")} />
          <datalist id="regions">${Object.keys(REGIONS).map((code) => html`<option value=${code} label=${regionName(code)} />`)}</datalist><//>
        <${Field} label=${t("console.latitude")}>
          <input name="lat" inputmode="decimal" autocomplete="off" placeholder="37.5665" value=${f.lat} onInput=${set("lat")} /><//>
        <${Field} label=${t("console.longitude")}>
          <input name="lon" inputmode="decimal" autocomplete="off" placeholder="126.978" value=${f.lon} onInput=${set("lon")} /><//>
      </div>
      <p class="hint">${t("console.location_hint")}</p>
      <${Field} label=${t("console.business_no")}>
        <input name="business_no" autocomplete="off" value=${f.business_no} onInput=${set("business_no")} /><//>
      <fieldset class="checks" data-test="accepts">
        <legend>${t("console.accepts")}</legend>
        ${offered.map((a) => html`<label><input type="checkbox" name="accepts" value=${a} checked=${f.accepts.includes(a)}
          onChange=${toggle(a)} /><span><span class="mono">${a}</span>${assets[a] ? html` · ${assets[a].name}` : null}</span></label>`)}
        <span class="hint">${t("console.accepts_hint", { n: MAX_ACCEPTED })}</span>
      </fieldset>
      <button class="primary" disabled=${busy} onClick=${save} data-test="set-merchant">${t("console.save_entry")}</button>
      ${saved ? html`<p class="verified" data-test="entry-saved">${t("console.entry_saved", { height: saved.height })}</p>` : null}
      <${ErrorLine} error=${error} text=${error && error.code === "not_authorized" ? t("console.registry_not_authorized") : undefined} />
    </section>`;
}

// --- settlement between members (protocol 11) --------------------------------------------------------------------

const RETURN_REASONS = ["account_closed", "no_such_account", "name_mismatch", "account_blocked", "refused_by_customer"];

/** How members settle, the positions not settled yet, the windows, the published rates and the assets (the routes
 *  need a member's, an auditor's or a regulator's token: the signed-in key's); the chosen window's detail. */
async function loadSettlement(chosen) {
  const [settlement, windows, rates, assets] = await Promise.all([
    node.get("/v1/settlement"), node.get("/v1/settlement/windows", { limit: 50 }),
    node.get("/v1/rates", undefined, null), assetsById(),
  ]);
  // Unless one is chosen: the oldest window not settled yet (what needs the members), else the newest.
  const waiting = windows.items.filter((w) => w.status !== "settled");
  const fallback = waiting.length ? waiting[waiting.length - 1] : windows.items[0];
  const number = chosen ?? (fallback ? fallback.window : settlement.current_window);
  const detail = await node.get(`/v1/settlement/windows/${number}`).catch((err) => {
    if (err.code === "unknown_window") return null;
    throw err;
  });
  return { settlement, windows: windows.items, more: Boolean(windows.next_cursor), rates: rates.items, assets, number, detail };
}

function netWords(minor) {
  if (minor > 0) return t("settle.owed_to_you");
  if (minor < 0) return t("settle.you_owe");
  return t("settle.even");
}

function SettlementPage({ session, chosen, tick, bump }) {
  const [view, error] = useLoad(() => loadSettlement(chosen), [chosen, tick]);
  if (!view) return html`<section class="card">${error ? html`<${ErrorLine} error=${error} />` : html`<p>…</p>`}</section>`;
  const { settlement, windows, more, rates, assets, number, detail } = view;
  return html`
    <div class="settlement">
      <${ErrorLine} error=${error} />
      <div class="columns even">
        <${SettlementConfig} settlement=${settlement} rates=${rates} assets=${assets} />
        <${Positions} session=${session} settlement=${settlement} />
      </div>
      <${WindowList} session=${session} settlement=${settlement} windows=${windows} more=${more} number=${number} />
      ${detail ? html`<${WindowDetail} key=${number} session=${session} detail=${detail} assets=${assets}
        settlement=${settlement} onDone=${bump} />` : html`<section class="card"><p class="muted" data-test="no-window">${
        t("settle.window_not_begun", { window: number })}</p></section>`}
    </div>`;
}

function SettlementConfig({ settlement: s, rates, assets }) {
  const currency = s.currency;
  return html`
    <section class="card" data-test="settlement-config">
      <h1>${t("console.settlement")}</h1>
      <p class="muted">${t("settle.text")}</p>
      <dl class="facts entry">
        <dt>${t("settle.currency")}</dt><dd data-test="currency">${currency}</dd>
        <dt>${t("settle.window_size")}</dt><dd data-test="window-blocks">${t("settle.blocks_n", { n: s.window_blocks })}</dd>
        <dt>${t("settle.asset")}</dt><dd data-test="settlement-asset">${s.asset
          ? html`<span class="mono">${s.asset}</span>${assets[s.asset] ? ` · ${assets[s.asset].name}` : ""}` : t("settle.asset_none")}</dd>
        <dt>${t("settle.fx")}</dt><dd data-test="fx">${s.fx.length ? s.fx.map((f) => html`<div data-currency=${f.currency}>${t("settle.fx_of", {
          from: f.currency, value: exactText(BigInt(f.rate.num) * 10n ** BigInt(currencyDecimals(f.currency)),
            BigInt(f.rate.den) * 10n ** BigInt(currencyDecimals(currency))), to: currency })}</div>`) : t("settle.no_fx")}</dd>
        <dt>${t("settle.now")}</dt><dd data-test="now">${t("settle.now_at", { height: s.height, window: s.current_window })}</dd>
      </dl>
      ${rates.length ? html`
        <h3>${t("settle.rates")}</h3>
        <div class="table-scroll"><table class="grid" data-test="rates">
          <thead><tr><th>${t("wallet.asset")}</th><th>${t("settle.rate")}</th><th>${t("settle.bounds")}</th></tr></thead>
          <tbody>${rates.map((r) => html`<tr data-asset=${r.asset}>
            <td><span class="mono">${r.asset}</span><div class="muted small">${t(`settle.source_${r.source}`)}${r.fee_bp
              ? ` · ${t("settle.fee_of", { pct: pctOfBp(r.fee_bp) })}` : ""}</div></td>
            <td class="nowrap">${t("settle.rate_of", { value: rateValueText(r.rate, assets[r.asset], r.currency), currency: r.currency })}</td>
            <td class="small">${rateValueText(r.min_rate, assets[r.asset], r.currency)}–${rateValueText(r.max_rate, assets[r.asset], r.currency)} ${r.currency}</td>
          </tr>`)}</tbody>
        </table></div>` : null}
    </section>`;
}

function Positions({ session, settlement: s }) {
  const me = session.key.id;
  const mine = s.unsettled.find((m) => m.member === me);
  const net = mine ? mine.net_minor : 0;
  return html`
    <section class="card" data-test="positions">
      <h2>${t("settle.positions")}</h2>
      <p class="muted small">${t("settle.positions_text")}</p>
      <p class="big" data-test="my-net"><span class=${net < 0 ? "amount out" : net > 0 ? "amount in" : "amount"}>${moneyText(net, s.currency, true)}</span>
        ${" "}<span class="muted">${netWords(net)}</span></p>
      ${s.unsettled_pairs.length ? html`
        <ul class="list pairs" data-test="pairs">
          ${s.unsettled_pairs.map((p) => html`<li data-debtor=${p.debtor} data-creditor=${p.creditor}
            class=${p.debtor === me || p.creditor === me ? "mine" : ""}>
            <span>${t("settle.owes", { debtor: p.debtor, creditor: p.creditor })}</span>
            <strong data-test="pair-amount">${moneyText(p.amount_minor, s.currency)}</strong></li>`)}
        </ul>
        <h3>${t("settle.members")}</h3>
        <ul class="list pairs" data-test="members">
          ${s.unsettled.map((m) => html`<li data-member=${m.member} class=${m.member === me ? "mine" : ""}>
            <span>${m.member}${m.member === me ? html` <span class="badge">${t("console.you")}</span>` : null}</span>
            <strong>${moneyText(m.net_minor, s.currency, true)}</strong></li>`)}
        </ul>` : html`<p class="muted" data-test="no-positions">${t("settle.no_positions")}</p>`}
    </section>`;
}

function WindowList({ session, settlement: s, windows, more, number }) {
  const me = session.key.id;
  return html`
    <section class="card" data-test="windows">
      <h2>${t("settle.windows")}</h2>
      ${windows.length ? html`
        <div class="table-scroll"><table class="grid windows">
          <thead><tr><th>${t("settle.window")}</th><th>${t("settle.status")}</th><th class="num">${t("settle.your_net")}</th></tr></thead>
          <tbody>${windows.map((w) => {
            const mine = w.members.find((m) => m.member === me);
            return html`<tr data-window=${w.window} class=${w.window === number ? "chosen" : ""}>
              <td><a class="nowrap" href=${`#/settlement/${w.window}`} data-test="to-window">${t("settle.window_n", { window: w.window })}</a>
                <div class="muted small nowrap">${t("settle.block_range", { first: w.first_height, last: w.last_height })}</div></td>
              <td><span class=${`badge ${w.status}`} data-test="window-status">${t(`settle.status_${w.status}`)}</span>
                ${w.status === "open" ? html`<div class="muted small">${w.closed ? t("settle.closed") : t("settle.filling")}</div>` : null}</td>
              <td class="num"><span data-test="window-net">${mine ? moneyText(mine.net_minor, w.currency, true) : "–"}</span>
                <div class="muted small">${t("settle.obligations_gross", { n: w.obligations, gross: moneyText(w.gross_minor, w.currency) })}</div></td>
            </tr>`;
          })}</tbody>
        </table></div>
        ${more ? html`<p class="muted small">${t("settle.more_windows")}</p>` : null}`
        : html`<p class="muted" data-test="no-windows">${t("settle.no_windows", { window: s.current_window })}</p>`}
    </section>`;
}

function WindowDetail({ session, detail, assets, settlement, onDone }) {
  const w = detail.window;
  const me = session.key.id;
  const [run, busy, error] = useAction();
  const [short, setShort] = useState(false); // the last ledger settlement was refused: insufficient_prefunding
  const member = session.account.role === "member";
  const party = w.moves.some((m) => m.debtor === me || m.creditor === me);
  const settle = (method) => run(async () => {
    try {
      await send(session, "settle_window", { window: w.window, method });
      setShort(false);
    } catch (err) {
      if (err.code === "insufficient_prefunding") setShort(true);
      throw err;
    } finally {
      onDone();
    }
  });
  const confirmBanks = () => run(async () => {
    try {
      await send(session, "ack_settlement", { window: w.window });
    } finally {
      onDone();
    }
  });
  const [download, downloading, downloadError] = useAction();
  const report = () => download(async () => {
    const blob = await node.blob("/v1/settlement/report", { window: w.window, format: "csv" });
    const url = URL.createObjectURL(blob);
    const link = document.createElement("a");
    link.href = url;
    link.download = `settlement-window-${w.window}.csv`;
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(url), 60_000);
  });
  const canSettle = member && w.closed && w.status === "open" && w.obligations > 0;
  return html`
    <section class="card" data-test="window" data-window=${w.window} data-status=${w.status}>
      <div class="row">
        <h2>${t("settle.window_n", { window: w.window })}</h2>
        <span class=${`badge ${w.status}`} data-test="status">${t(`settle.status_${w.status}`)}</span>
      </div>
      <p class="muted small">${t("settle.block_range", { first: w.first_height, last: w.last_height })} · ${w.closed
        ? t("settle.closed") : t("settle.filling")}${w.settled_height ? ` · ${t(w.status === "bank" ? "settle.banked_at" : "settle.settled_at", { height: w.settled_height })}` : ""}</p>
      ${w.pairs.length ? html`<ul class="list pairs" data-test="window-pairs">${w.pairs.map((p) => html`
        <li data-debtor=${p.debtor} data-creditor=${p.creditor}><span>${t("settle.owes", { debtor: p.debtor, creditor: p.creditor })}</span>
          <strong>${moneyText(p.amount_minor, w.currency)}</strong></li>`)}</ul>` : null}
      ${w.moves.length ? html`<h3>${t("settle.moves")}</h3>
        <ul class="list pairs" data-test="moves">${w.moves.map((m) => html`<li data-debtor=${m.debtor} data-creditor=${m.creditor}>
          <span>${t("settle.pays", { debtor: m.debtor, creditor: m.creditor })}</span><strong>${moneyText(m.amount_minor, w.currency)}</strong></li>`)}
        </ul>
        <p class="muted small">${w.status === "bank" ? t("settle.moves_bank") : t("settle.moves_done", { asset: settlement.asset || "-" })}</p>` : null}
      ${canSettle ? html`<div class="actions">
        ${settlement.asset ? html`<button class="primary" disabled=${busy} onClick=${() => settle("ledger")} data-test="settle">${t("settle.settle")}</button>` : null}
        ${short || !settlement.asset ? html`<button class=${settlement.asset ? "" : "primary"} disabled=${busy} onClick=${() => settle("bank")}
          data-test="settle-bank">${t("settle.settle_bank")}</button>` : null}
      </div>
      ${short ? html`<p class="warn small" data-test="prefunding-short">${t("settle.prefunding_short")}</p>` : null}` : null}
      ${member && w.status === "open" && !w.closed && w.obligations > 0 ? html`<p class="muted small">${t("settle.wait_close", { last: w.last_height })}</p>` : null}
      ${w.status === "bank" && party ? html`<button class="primary inline" disabled=${busy} onClick=${confirmBanks}
        data-test="ack-settlement">${t("settle.ack_settlement")}</button>` : null}
      <${ErrorLine} error=${error} />
      <div class="row report">
        <button class="inline" disabled=${downloading} onClick=${report} data-test="report">${t("settle.report")}</button>
      </div>
      <${ErrorLine} error=${downloadError} />

      <h3>${t("settle.obligations")}</h3>
      ${detail.obligations.length ? html`<div class="table-scroll"><table class="grid" data-test="obligations">
        <thead><tr><th>${t("settle.kind")}</th><th>${t("settle.who")}</th><th class="num">${t("settle.amount")}</th></tr></thead>
        <tbody>${detail.obligations.map((o) => html`<tr data-kind=${o.kind} data-txid=${o.txid}>
          <td>${t(`settle.kind_${o.kind}`)}<div class="small"><a href=${`/explorer/#/tx/${o.txid}`} title=${o.txid}>${t("console.at_height", { height: o.height })}</a></div></td>
          <td>${t("settle.owes", { debtor: o.debtor, creditor: o.creditor })}</td>
          <td class="num">${moneyText(o.amount_minor, w.currency)}</td></tr>`)}
        </tbody></table></div>` : html`<p class="muted">${t("settle.no_obligations")}</p>`}

      <h3>${t("settle.payouts")}</h3>
      <p class="muted small">${t("settle.payouts_text")}</p>
      ${detail.payouts.length ? html`<ul class="list payouts" data-test="payouts">
        ${detail.payouts.map((p) => html`<${PayoutItem} key=${p.txid} session=${session} payout=${p} asset=${assets[p.asset]} onDone=${onDone} />`)}
      </ul>` : html`<p class="muted" data-test="no-payouts">${t("settle.no_payouts")}</p>`}

      <h3>${t("settle.files")}</h3>
      ${detail.files.length ? html`<div class="table-scroll"><table class="grid" data-test="files">
        <thead><tr><th>${t("settle.file")}</th><th class="num">${t("settle.file_total")}</th></tr></thead>
        <tbody>${detail.files.map((f) => html`<tr data-kind=${f.kind} data-member=${f.member}>
          <td><strong class="mono">${f.name}</strong><div class="small">${f.kind} · ${f.member} · ${t("console.at_height", { height: f.height })}</div>
            <div class="mono small sha" data-test="sha256">${f.sha256}</div></td>
          <td class="num" data-test="file-total">${f.kind === "pacs.009" ? moneyText(f.total_minor, w.currency) // net settlement: the window's currency
            : t("settle.minor_units", { n: amountText(f.total_minor, null) })}<div class="muted small">${t("settle.file_count", { n: f.transactions })}</div></td>
        </tr>`)}</tbody></table></div>` : html`<p class="muted" data-test="no-files">${t("settle.no_files")}</p>`}
      ${detail.truncated ? html`<p class="muted small">${t("settle.truncated")}</p>` : null}
    </section>`;
}

function PayoutItem({ session, payout: p, asset, onDone }) {
  const [reason, setReason] = useState("account_closed");
  const [returning, setReturning] = useState(false);
  const [run, busy, error] = useAction();
  const mine = asset && asset.issuer === session.key.id;
  const status = typeof p.status === "string" ? p.status : "pending";
  const ack = (accepted) => run(async () => {
    const fields = { payout: p.txid, accepted };
    if (!accepted) {
      const code = need(reason, "reason_required");
      if (!/^[a-z0-9_]{1,32}$/.test(code)) throw fail("reason_invalid");
      fields.reason = code;
    }
    try {
      await send(session, "ack_payout", fields);
      setReturning(false);
    } finally {
      onDone();
    }
  });
  return html`<li data-payout=${p.txid} data-account=${p.account} data-status=${status}>
    <div class="row">
      <span><strong>${p.account}</strong> · <span class="nowrap"><${Amount} minor=${p.amount_minor} asset=${asset} /> <span class="mono">${p.asset}</span></span></span>
      <span class=${`badge ${status}`} data-test="payout-status">${t(`settle.payout_${status}`)}</span>
    </div>
    <div class="muted small">${t("settle.payout_ref", { ref: p.payout_ref })} · <a href=${`/explorer/#/tx/${p.txid}`} title=${p.txid}>${
      t("console.at_height", { height: p.height })}</a>${status === "returned" && p.ack_reason ? html` · <span data-test="return-reason">${
      t("settle.returned_because", { reason: p.ack_reason })}</span>` : null}</div>
    ${status === "pending" && mine ? html`
      ${returning ? html`<div class="use-panel">
        <label>${t("settle.return_reason")}<input name="return_reason" list="return-reasons" autocomplete="off" value=${reason}
          onInput=${(e) => setReason(e.target.value)} />
          <datalist id="return-reasons">${RETURN_REASONS.map((r) => html`<option value=${r} />`)}</datalist></label>
        <div class="actions">
          <button class="danger" disabled=${busy} onClick=${() => ack(false)} data-test="payout-confirm-return">${t("settle.confirm_return")}</button>
          <button disabled=${busy} onClick=${() => setReturning(false)}>${t("wallet.cancel")}</button>
        </div>
      </div>` : html`<div class="actions">
        <button class="primary" disabled=${busy} onClick=${() => ack(true)} data-test="payout-paid">${t("settle.paid")}</button>
        <button disabled=${busy} onClick=${() => setReturning(true)} data-test="payout-returned">${t("settle.returned")}</button>
      </div>`}` : null}
    ${status === "pending" && !mine ? html`<div class="muted small">${t("settle.issuer_acks", { issuer: asset ? asset.issuer : "?" })}</div>` : null}
    <${ErrorLine} error=${error} />
  </li>`;
}

// --- the app ---------------------------------------------------------------------------------------------------

function Console() {
  const [session, setSession] = useState(null); // {key, account}: in memory only
  node.setReader(session ? session.key : null); // the member reads the accounts it registered (docs/access.md)
  const route = useRoute();
  const [tick, bump] = useTick();
  const parts = route.split("/").filter(Boolean).map((p) => decodeURIComponent(p));

  let page;
  if (!session) page = html`<${SignIn} onSession=${setSession} />`;
  else if (parts[0] === "propose") {
    page = html`<${ProposeForm} key=${route} session=${session} preset=${{ kind: parts[1], subject: parts[2] }} bump=${bump} />`;
  } else if (parts[0] === "assets") page = html`<${AssetsPage} session=${session} tick=${tick} />`;
  else if (parts[0] === "account") {
    page = html`<${AccountSearch} key=${`s-${parts[1] || ""}`} id=${parts[1]} />
      ${parts[1] ? html`<${AccountPage} key=${parts[1]} session=${session} id=${parts[1]} tick=${tick} bump=${bump} />` : null}`;
  } else if (parts[0] === "merchant") {
    page = html`<${MerchantSearch} key=${`m-${parts[1] || ""}`} id=${parts[1]} />
      ${parts[1] ? html`<${MerchantPage} key=${`m-${parts[1]}`} session=${session} id=${parts[1]} tick=${tick} bump=${bump} />` : null}`;
  } else if (parts[0] === "settlement") {
    const chosen = /^[0-9]{1,12}$/.test(parts[1] || "") ? Number(parts[1]) : null;
    page = html`<${SettlementPage} session=${session} chosen=${chosen} tick=${tick} bump=${bump} />`;
  } else if (parts[0] === "proposal" && parts[1]) {
    page = html`<${CouncilPage} session=${session} tick=${tick} bump=${bump} only=${parts[1]} />`;
  } else page = html`<${CouncilPage} session=${session} tick=${tick} bump=${bump} />`;

  return html`<${Shell} app="console" wide>
    <div class="console">
      ${session ? html`<${SessionBar} session=${session} onSignOut=${() => { setSession(null); go("/"); }} />` : null}
      ${page}
    </div>
  <//>`;
}

mount(Console);
