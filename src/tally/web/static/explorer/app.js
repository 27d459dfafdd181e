// The explorer and network monitor: blocks, transactions, accounts, certificates with their
// validators, a receipt checker anyone can paste into, the validator sets (protocol 6: ledger state,
// their certified changes followed from the genesis in the page), and each validator's height, final
// height and digest agreement with live charts of throughput and finality latency. Certificates and
// receipts are checked against the validators of their block's height (GET /v1/validators, read anew
// each time). Headers, certificates and receipts are public; given an auditor's, regulator's or
// member's key file (#/key, kept in memory only), it reads accounts and full blocks too (docs/access.md).

import uPlot from "../vendor/uPlot.esm.js";
import { t, time } from "../shared/i18n.js";
import { followChanges, validSigners, validatorsAt, verifyReceipt } from "../shared/receipt.js";
import { canonicalBytes, readKeyFile, toHex } from "../shared/tally.js";
import {
  Amount, ErrorLine, Shell, assetName, genesis, html, mount, node, useAction, useAssets, useEffect, useRef,
  useRoute, useState, validatorChanges, validatorSchedule,
} from "../shared/ui.js";

const CHART_POINTS = 120; // the charts keep the last 120 blocks
const MONITOR_POLL_MS = 2_000;

function useLoad(load, deps) {
  const [value, setValue] = useState(null);
  const [error, setError] = useState(null);
  useEffect(() => {
    setValue(null);
    setError(null);
    load().then(setValue, setError);
  }, deps);
  return [value, error];
}

const short = (hex) => (hex ? `${hex.slice(0, 10)}…` : "");

function Search() {
  const [text, setText] = useState("");
  function go(e) {
    e.preventDefault();
    const q = text.trim();
    if (/^[0-9]{1,16}$/.test(q)) location.hash = `/block/${q}`;
    else if (/^[0-9a-f]{64}$/.test(q)) location.hash = `/tx/${q}`;
    else if (q) location.hash = `/account/${q}`;
  }
  return html`<form class="search" onSubmit=${go}>
    <input name="q" placeholder=${t("explorer.search")} value=${text} onInput=${(e) => setText(e.target.value)} />
    <button>${t("explorer.go")}</button>
  </form>`;
}

function Tabs() {
  return html`<nav class="tabs">
    <a href="#/">${t("explorer.blocks")}</a>
    <a href="#/receipt">${t("explorer.check_receipt")}</a>
    <a href="#/validators" data-test="to-validators">${t("explorer.validators")}</a>
    <a href="#/monitor" data-test="to-monitor">${t("explorer.monitor")}</a>
    <a href="#/key" data-test="to-key">${t("explorer.reader")}</a>
  </nav>`;
}

// --- who reads: a key file, in this page's memory only --------------------------------------------------------------

let readerRole = null; // the role the node gave the reader's token

function KeyPanel() {
  const [text, setText] = useState("");
  const [, setShown] = useState(0);
  const [run, busy, error] = useAction();
  const use = () => run(async () => {
    const key = await readKeyFile(text);
    node.setReader(key);
    try {
      await node.token(key, true);
      readerRole = (await node.get(`/v1/accounts/${key.id}`)).role;
    } catch (err) {
      node.setReader(null);
      throw err;
    }
    setText("");
    setShown((n) => n + 1);
  });
  const forget = () => {
    node.setReader(null);
    readerRole = null;
    setShown((n) => n + 1);
  };
  const fromFile = async (e) => setText(await e.target.files[0].text());
  const reader = node.reader;
  return html`<section class="card" data-test="key-panel">
    <h1>${t("explorer.reader")}</h1>
    <p>${t("explorer.reader_text")}</p>
    <p data-test="reading-as">${reader ? t("explorer.reader_as", { id: reader.id, role: t(`role.${readerRole}`) }) : t("explorer.reader_none")}</p>
    ${reader ? html`<button onClick=${forget} data-test="forget-key">${t("explorer.reader_forget")}</button>` : html`
      <input type="file" accept="application/json,.json" onChange=${fromFile} data-test="key-file" />
      <textarea name="key" rows="4" value=${text} onInput=${(e) => setText(e.target.value)}></textarea>
      <button class="primary" disabled=${busy || !text} onClick=${use} data-test="use-key">${t("explorer.reader_use")}</button>`}
    <${ErrorLine} error=${error} />
  </section>`;
}

// --- blocks ----------------------------------------------------------------------------------------------------

function Blocks() {
  const [tick, setTick] = useState(0);
  const [page, error] = useLoad(() => node.get("/v1/blocks", { limit: 20 }), [tick]);
  useEffect(() => {
    const events = new EventSource("/v1/events?types=block");
    events.addEventListener("block", () => setTick((n) => n + 1));
    return () => events.close();
  }, []);
  return html`<section class="card">
    <h1>${t("explorer.latest_blocks")}</h1>
    <${ErrorLine} error=${error} />
    <table class="grid" data-test="blocks">
      <thead><tr><th>${t("explorer.height")}</th><th>${t("explorer.time")}</th><th>${t("explorer.txs")}</th><th>${t("explorer.hash")}</th><th>${t("explorer.final")}</th></tr></thead>
      <tbody>${(page ? page.items : []).map((b) => html`<tr>
        <td><a href=${`#/block/${b.height}`}>${b.height}</a></td><td>${time(b.header.timestamp_ms)}</td>
        <td>${b.header.tx_count}</td><td class="mono">${short(b.hash)}</td><td>${b.final ? "✓" : "…"}</td></tr>`)}</tbody>
    </table>
  </section>`;
}

async function certificateView(height) {
  const [block, cert, g, changes] = await Promise.all([
    node.get(`/v1/blocks/${height}`), node.get(`/v1/blocks/${height}/certificate`).catch(() => null), genesis(),
    validatorChanges(),
  ]);
  // The signatures count against the validators of the block's height: the genesis's set, then the
  // certified changes, followed here. Changes that do not check leave no set to count against.
  let validators = [];
  let setsError = null;
  try {
    validators = validatorsAt(await followChanges(g, changes), height);
  } catch (err) {
    setsError = String(err.message || err);
  }
  const good = cert && !setsError ? await validSigners(cert, validators) : new Set();
  const signers = cert ? cert.signatures.map((s) => ({ validator: s.validator, valid: good.has(s.validator) })) : [];
  // Every transaction in full (who paid whom): for an auditor, a regulator or a member only.
  let full = null;
  let fullError = null;
  if (node.reader && block.final) {
    try {
      full = (await node.get(`/v1/blocks/${height}/full`)).txs.map((raw) => (typeof raw === "string" ? JSON.parse(raw) : raw).tx);
    } catch (err) {
      fullError = err;
    }
  }
  return { block, cert, signers, validators: validators.length, setsError, full, fullError };
}

function FullTxs({ full, fullError }) {
  const assets = useAssets();
  if (fullError) return html`<${ErrorLine} error=${fullError} />`;
  if (!full) return html`<p class="muted" data-test="full-needs-key">${t("explorer.full_needs_key")} <a href="#/key">${t("explorer.reader")}</a></p>`;
  return html`<table class="grid" data-test="full-txs"><tbody>${full.map((tx) => html`<tr>
    <td>${t(`tx.${tx.type}`)}</td><td><a href=${`#/account/${tx.signer}`}>${tx.signer}</a></td>
    <td>${tx.merchant || tx.to || tx.account || ""}</td>
    <td>${tx.amount_minor && tx.asset ? html`<${Amount} minor=${tx.amount_minor} asset=${assets[tx.asset]} /> ${assetName(assets[tx.asset], tx.asset)}` : ""}</td></tr>`)}</tbody></table>`;
}

function Block({ height }) {
  const [view, error] = useLoad(() => certificateView(height), [height]);
  if (error) return html`<section class="card"><${ErrorLine} error=${error} /></section>`;
  if (!view) return html`<section class="card">…</section>`;
  const { block, cert, signers, validators, setsError, full, fullError } = view;
  const good = signers.filter((s) => s.valid).length;
  return html`<section class="card" data-test="block">
    <h1>${t("explorer.block")} ${block.height}</h1>
    <dl class="facts">
      <dt>${t("explorer.time")}</dt><dd>${time(block.header.timestamp_ms)}</dd>
      <dt>${t("explorer.hash")}</dt><dd class="mono">${block.hash}</dd>
      <dt>${t("explorer.state_digest")}</dt><dd class="mono">${block.state_digest}</dd>
      <dt>${t("explorer.proposer")}</dt><dd>${block.header.proposer}</dd>
      <dt>${t("explorer.final")}</dt><dd>${block.final ? t("explorer.yes") : t("explorer.no")}</dd>
    </dl>
    <h2>${t("explorer.certificate")}</h2>
    ${setsError ? html`<p class="error" data-test="cert-sets-error">${t("validators.refused")}: ${setsError} <a href="#/validators">${t("explorer.validators")}</a></p>` : null}
    ${cert && !setsError ? html`<p data-test="cert-count">${t("explorer.signed_by", { good, all: validators })}</p>` : null}
    ${cert ? html`
      <ul class="signers">${signers.map((s) => html`<li class=${s.valid ? "verified" : "error"}>${s.valid ? "✓" : "✗"} ${s.validator}</li>`)}</ul>`
      : html`<p class="muted">${t("explorer.no_certificate")}</p>`}
    <h2>${t("explorer.txs")}</h2>
    <ul class="mono list">${block.txids.map((id) => html`<li><a href=${`#/tx/${id}`}>${id}</a></li>`)}</ul>
    <h2>${t("explorer.full_txs")}</h2>
    <${FullTxs} full=${full} fullError=${fullError} />
    <p><a href=${`#/block/${block.height - 1}`}>← ${block.height - 1}</a> · <a href=${`#/block/${block.height + 1}`}>${block.height + 1} →</a></p>
  </section>`;
}

function Tx({ txid }) {
  const assets = useAssets();
  const [view, error] = useLoad(async () => {
    const status = await node.get(`/v1/transactions/${txid}`);
    if (status.status !== "final") return { status };
    const receipt = await node.get(`/v1/transactions/${txid}/receipt`);
    const [ok, reason] = await verifyReceipt(receipt, await genesis(), await validatorChanges());
    return { status, receipt, ok, reason };
  }, [txid]);
  if (error) return html`<section class="card"><${ErrorLine} error=${error} /></section>`;
  if (!view) return html`<section class="card">…</section>`;
  const { status, receipt, ok, reason } = view;
  const tx = receipt && receipt.signed_tx.tx;
  return html`<section class="card" data-test="tx">
    <h1>${t("explorer.tx")}</h1>
    <dl class="facts">
      <dt>txid</dt><dd class="mono">${txid}</dd>
      <dt>${t("explorer.status")}</dt><dd>${status.status} ${status.code ? `· ${status.code}` : ""} ${status.message}</dd>
      ${status.height ? html`<dt>${t("explorer.block")}</dt><dd><a href=${`#/block/${status.height}`}>${status.height}</a></dd>` : null}
      ${tx ? html`<dt>${t("receipt.type")}</dt><dd>${t(`tx.${tx.type}`)}</dd>
        <dt>${t("explorer.signer")}</dt><dd><a href=${`#/account/${tx.signer}`}>${tx.signer}</a></dd>
        ${tx.amount_minor && tx.asset ? html`<dt>${t("wallet.amount")}</dt><dd><${Amount} minor=${tx.amount_minor} asset=${assets[tx.asset]} /> ${assetName(assets[tx.asset], tx.asset)}</dd>` : null}` : null}
    </dl>
    ${receipt ? html`<p class=${ok ? "verified" : "error"}>${ok ? t("receipt.verified") : `${t("receipt.refused")}: ${reason}`}</p>
      <details><summary>${t("explorer.receipt_json")}</summary><pre>${JSON.stringify(receipt, null, 2)}</pre></details>` : null}
  </section>`;
}

function Account({ id }) {
  const assets = useAssets();
  const [view, error] = useLoad(async () => {
    const [account, balances, history] = await Promise.all([
      node.get(`/v1/accounts/${id}`), node.get(`/v1/accounts/${id}/balances`), node.get(`/v1/accounts/${id}/history`, { limit: 20 }),
    ]);
    return { account, balances: balances.balances, history: history.items };
  }, [id]);
  if (error && error.code === "auth_required") {
    return html`<section class="card" data-test="account-needs-key"><h1>${id}</h1>
      <p>${t("explorer.account_needs_key")} <a href="#/key">${t("explorer.reader")}</a></p></section>`;
  }
  if (error) return html`<section class="card"><${ErrorLine} error=${error} /></section>`;
  if (!view) return html`<section class="card">…</section>`;
  return html`<section class="card" data-test="account">
    <h1>${id}</h1>
    <p>${t(`role.${view.account.role}`)} · ${t("explorer.registered_by", { member: view.account.member })} · seq ${view.account.seq}</p>
    <ul class="balances">${Object.entries(view.balances).map(([a, minor]) => html`<li><span>${assetName(assets[a], a)}</span><strong><${Amount} minor=${minor} asset=${assets[a]} /></strong></li>`)}</ul>
    <table class="grid"><tbody>${view.history.map((item) => html`<tr>
      <td>${time(item.time_ms)}</td><td>${t(`tx.${item.type}`)}</td>
      <td>${(item.movements || []).map((m) => html`<${Amount} minor=${m.amount_minor} asset=${assets[m.asset]} signed /> `)}</td>
      <td>${item.status === "applied" ? "" : item.code}</td><td><a class="mono" href=${`#/tx/${item.txid}`}>${short(item.txid)}</a></td></tr>`)}</tbody></table>
  </section>`;
}

// --- the receipt checker -----------------------------------------------------------------------------------------

function ReceiptChecker() {
  const [text, setText] = useState("");
  const [result, setResult] = useState(null);
  const [run, busy, error] = useAction();
  const check = () => run(async () => {
    let receipt;
    try {
      receipt = JSON.parse(text);
    } catch {
      throw Object.assign(new Error("not JSON"), { code: "receipt_not_json" });
    }
    const [g, changes] = await Promise.all([genesis(), validatorChanges()]);
    setResult(await verifyReceipt(receipt, g, changes));
  });
  return html`<section class="card">
    <h1>${t("explorer.check_receipt")}</h1>
    <p>${t("explorer.receipt_text")}</p>
    <textarea name="receipt" rows="10" value=${text} onInput=${(e) => { setText(e.target.value); setResult(null); }}></textarea>
    <button class="primary" disabled=${busy || !text} onClick=${check} data-test="check">${t("explorer.check")}</button>
    <${ErrorLine} error=${error} />
    ${result ? html`<p class=${result[0] ? "verified" : "error"} data-test="verdict">${result[0] ? t("receipt.verified") : `${t("receipt.refused")}: ${result[1]}`}</p>` : null}
  </section>`;
}

// --- the validator sets -----------------------------------------------------------------------------------------

const sameSets = (a, b) => toHex(canonicalBytes(a)) === toHex(canonicalBytes(b));

/** The node's validator sets and whether this page, from the genesis, reaches them by their certified changes:
 *  check is "ok", "mismatch" (the changes check but lead elsewhere) or the first bad change's reason. */
async function validatorsView() {
  const [schedule, g] = await Promise.all([validatorSchedule(), genesis()]);
  let check;
  try {
    check = sameSets(await followChanges(g, schedule.changes), schedule.sets) ? "ok" : "mismatch";
  } catch (err) {
    check = String(err.message || err);
  }
  return { schedule, check };
}

function Validators() {
  const [view, error] = useLoad(validatorsView, []);
  if (error) return html`<section class="card"><${ErrorLine} error=${error} /></section>`;
  if (!view) return html`<section class="card">…</section>`;
  const { schedule, check } = view;
  const inForce = validatorsAt(schedule.sets, schedule.final_height);
  return html`<section class="card" data-test="validator-sets">
    <h1>${t("explorer.validators")}</h1>
    <p class="muted">${t("validators.text")}</p>
    <dl class="facts">
      <dt>${t("validators.as_of")}</dt><dd>${schedule.final_height ? html`<a href=${`#/block/${schedule.final_height}`}>${schedule.final_height}</a>` : "0"}</dd>
      <dt>${t("validators.notice")}</dt><dd class="words" data-test="notice">${t("validators.notice_blocks", { n: schedule.notice_blocks })}</dd>
    </dl>
    <p class=${check === "ok" ? "verified" : "error"} data-test="changes-check">${check === "ok"
      ? t("validators.checked", { n: schedule.changes.length })
      : `${t("validators.refused")}: ${check === "mismatch" ? t("validators.mismatch") : check}`}</p>
    <table class="grid sets" data-test="sets">
      <thead><tr><th>${t("validators.from_height")}</th><th>${t("validators.validators")}</th><th>${t("validators.decided_at")}</th></tr></thead>
      <tbody>${schedule.sets.map((set) => html`<tr data-from=${set.from_height}>
        <td>${set.from_height}${set.validators === inForce ? html` <span class="badge active">${t("validators.in_force")}</span>`
          : set.from_height > schedule.final_height ? html` <span class="badge open">${t("validators.upcoming")}</span>` : null}</td>
        <td><ul class="list set-members">${set.validators.map((v) => html`<li>
          <span>${v.id}</span> <span class="mono muted key" title=${v.public_key}>${short(v.public_key)}</span>
          ${v.api_url ? html`<span class="muted small url">${v.api_url}</span>` : null}</li>`)}</ul></td>
        <td>${set.scheduled_height ? html`<a href=${`#/block/${set.scheduled_height}`}>${set.scheduled_height}</a>` : t("validators.genesis")}</td></tr>`)}</tbody>
    </table>
  </section>`;
}

// --- the network monitor ------------------------------------------------------------------------------------------

function Chart({ title, unit, data }) {
  const box = useRef(null);
  const plot = useRef(null);
  useEffect(() => {
    const width = Math.max(280, Math.min(960, box.current.clientWidth || 320));
    plot.current = new uPlot({
      width, height: 160, title,
      scales: { x: { time: true } },
      series: [{}, { label: unit, stroke: "#0b6e4f", width: 2 }],
      axes: [{}, { size: 60 }],
    }, data, box.current);
    return () => plot.current.destroy();
  }, [title]);
  useEffect(() => {
    if (plot.current) plot.current.setData(data);
  }, [data]);
  return html`<div class="chart" ref=${box} data-points=${data[0].length}></div>`;
}

function Monitor() {
  const [network, setNetwork] = useState(null);
  const [error, setError] = useState(null);
  const [series, setSeries] = useState({ x: [], tps: [], latency: [] });
  useEffect(() => {
    let stop = false;
    const poll = async () => {
      try {
        setNetwork(await node.get("/v1/network"));
        setError(null);
      } catch (err) {
        setError(err);
      }
      if (!stop) setTimeout(poll, MONITOR_POLL_MS);
    };
    poll();
    let last = null;
    const events = new EventSource("/v1/events?types=block");
    events.addEventListener("block", (e) => {
      const block = JSON.parse(e.data);
      const now = Date.now();
      const seconds = last ? Math.max(0.001, (block.time_ms - last) / 1000) : 1;
      last = block.time_ms;
      setSeries((s) => ({
        x: [...s.x, now / 1000].slice(-CHART_POINTS),
        tps: [...s.tps, block.tx_count / seconds].slice(-CHART_POINTS),
        latency: [...s.latency, Math.max(0, now - block.time_ms)].slice(-CHART_POINTS),
      }));
    });
    return () => {
      stop = true;
      events.close();
    };
  }, []);
  return html`<section class="card" data-test="monitor">
    <h1>${t("explorer.monitor")}</h1>
    <${ErrorLine} error=${error} />
    ${network ? html`
      <p data-test="agreement" class=${network.digests_agree ? "verified" : "error"}>
        ${network.digests_agree ? t("monitor.agree", { n: network.validators.filter((v) => v.reachable).length, height: network.common_final_height })
          : t("monitor.disagree", { height: network.common_final_height })}</p>
      <table class="grid" data-test="validators">
        <thead><tr><th>${t("monitor.validator")}</th><th>${t("explorer.height")}</th><th>${t("monitor.final")}</th><th>${t("monitor.health")}</th><th>${t("monitor.digest", { height: network.common_final_height })}</th></tr></thead>
        <tbody>${network.validators.map((v) => html`<tr class=${v.reachable && v.healthy ? "" : "bad"}>
          <td>${v.id}${v.id === network.observer ? " *" : ""}</td><td>${v.height}</td><td>${v.final_height}</td>
          <td>${v.reachable ? (v.healthy ? "✓" : "✗") : `${t("monitor.unreachable")} (${v.error})`}</td>
          <td class="mono">${short(v.digest_at_common)}</td></tr>`)}</tbody>
      </table>` : html`<p>…</p>`}
    <${Chart} title=${t("monitor.throughput")} unit="tx/s" data=${[series.x, series.tps]} />
    <${Chart} title=${t("monitor.latency")} unit="ms" data=${[series.x, series.latency]} />
  </section>`;
}

function Explorer() {
  const route = useRoute();
  let page;
  if (route.startsWith("/block/")) page = html`<${Block} height=${Number(route.slice(7))} />`;
  else if (route.startsWith("/tx/")) page = html`<${Tx} txid=${route.slice(4)} />`;
  else if (route.startsWith("/account/")) page = html`<${Account} id=${decodeURIComponent(route.slice(9))} />`;
  else if (route === "/receipt") page = html`<${ReceiptChecker} />`;
  else if (route === "/validators") page = html`<${Validators} />`;
  else if (route === "/monitor") page = html`<${Monitor} />`;
  else if (route === "/key") page = html`<${KeyPanel} />`;
  else page = html`<${Blocks} />`;
  return html`<${Shell} app="explorer" wide><${Tabs} /><${Search} />${page}<//>`;
}

mount(Explorer);
