// Tally in the browser: the node's API, canonical bytes, Ed25519 keys and signatures (Web Crypto),
// and amounts in an asset's unit. The same rules as the Python SDK (tally.client): a transaction is
// signed over its RFC 8785 canonical JSON, its id is the SHA-256 of those bytes, and a key file is
// {id, public_key, seed} with the 32-byte Ed25519 seed in hex. The node never sees a seed.

import canonicalize from "../vendor/canonicalize.mjs";

export const DEFAULT_TTL_MS = 600_000; // a transaction the wallet signs expires 10 minutes later
const PKCS8_ED25519 = "302e020100300506032b657004220420"; // PKCS #8 header of a 32-byte Ed25519 seed

// --- bytes ------------------------------------------------------------------------------------

export function toHex(bytes) {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

export function fromHex(text) {
  if (typeof text !== "string" || text.length % 2 || !/^[0-9a-f]*$/.test(text)) {
    throw new Error("not lower-case hex");
  }
  const out = new Uint8Array(text.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(text.slice(2 * i, 2 * i + 2), 16);
  return out;
}

export function concat(...parts) {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

export async function sha256(bytes) {
  return new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
}

export function canonicalBytes(value) {
  return new TextEncoder().encode(canonicalize(value));
}

// --- keys and signatures ------------------------------------------------------------------------

async function privateKey(seedHex) {
  const der = concat(fromHex(PKCS8_ED25519), fromHex(seedHex));
  return crypto.subtle.importKey("pkcs8", der, { name: "Ed25519" }, true, ["sign"]);
}

function base64urlToBytes(text) {
  const b64 = text.replace(/-/g, "+").replace(/_/g, "/").padEnd(Math.ceil(text.length / 4) * 4, "=");
  return Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
}

/** A key file for a new account: the seed is made here, by the browser's Web Crypto. */
export async function newKeyFile(id) {
  const pair = await crypto.subtle.generateKey({ name: "Ed25519" }, true, ["sign", "verify"]);
  const pkcs8 = new Uint8Array(await crypto.subtle.exportKey("pkcs8", pair.privateKey));
  const publicKey = new Uint8Array(await crypto.subtle.exportKey("raw", pair.publicKey));
  return { id, public_key: toHex(publicKey), seed: toHex(pkcs8.slice(-32)) };
}

/** The public key of a seed (hex), as the key file must state it. */
export async function publicKeyOf(seedHex) {
  const jwk = await crypto.subtle.exportKey("jwk", await privateKey(seedHex));
  return toHex(base64urlToBytes(jwk.x));
}

/** A key file read from text (a backup): well formed, and its public key is its seed's. */
export async function readKeyFile(text) {
  let parsed;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new Error("key_file_not_json");
  }
  const { id, public_key: publicKey, seed } = parsed || {};
  if (typeof id !== "string" || !/^[a-z0-9][a-z0-9._-]{0,63}$/.test(id)) throw new Error("key_file_bad_id");
  if (typeof seed !== "string" || !/^[0-9a-f]{64}$/.test(seed)) throw new Error("key_file_bad_seed");
  if ((await publicKeyOf(seed)) !== publicKey) throw new Error("key_file_key_mismatch");
  return { id, public_key: publicKey, seed };
}

export async function sign(seedHex, message) {
  return new Uint8Array(await crypto.subtle.sign({ name: "Ed25519" }, await privateKey(seedHex), message));
}

export async function verify(publicKeyHex, message, signature) {
  try {
    const key = await crypto.subtle.importKey("raw", fromHex(publicKeyHex), { name: "Ed25519" }, false, ["verify"]);
    return await crypto.subtle.verify({ name: "Ed25519" }, key, signature, message);
  } catch {
    return false;
  }
}

// --- transactions -------------------------------------------------------------------------------

export async function txidOf(tx) {
  return toHex(await sha256(canonicalBytes(tx)));
}

/** Sign a transaction (its envelope included) with a key file: {tx, sig}, as POST /v1/transactions takes. */
export async function signTx(keyFile, tx) {
  return { tx, sig: toHex(await sign(keyFile.seed, canonicalBytes(tx))) };
}

export function newRef(prefix = "web") {
  return `${prefix}-${toHex(crypto.getRandomValues(new Uint8Array(8)))}`;
}

// --- the node's API -----------------------------------------------------------------------------

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

// Reads are permissioned (docs/access.md): an account's reads need a read token of a principal that
// may read it. The node gives one for a signed challenge: the principal signs the canonical JSON of
// {chain, challenge, principal, purpose} with its key. `Node` gets tokens for its reader (the wallet's,
// the POS's or the member's key file) when a read first needs one, and anew before they expire or when
// the node no longer takes them.

export const READ_TOKEN_PURPOSE = "tally-read-token-v1";
const RENEW_BEFORE_MS = 30_000;
const RENEW_CODES = new Set(["auth_required", "token_expired", "token_invalid"]);

/** The bytes a principal signs for a read token. */
export function tokenMessage(chain, principal, challenge) {
  return canonicalBytes({ chain, challenge, principal, purpose: READ_TOKEN_PURPOSE });
}

export class Node {
  constructor(base = "") {
    this.base = base;
    this.reader = null; // the key file reads are made as (null: public reads only)
    this.tokens = new Map(); // by key: {token, renewAt}
    this.chain = null;
  }

  /** Read as this key file from now on (null: public reads only). */
  setReader(keyFile) {
    this.reader = keyFile || null;
  }

  async fetchJson(method, path, body, headers = {}) {
    let response;
    try {
      response = await fetch(this.base + path, {
        method,
        headers: body === undefined ? headers : { ...headers, "content-type": "application/json" },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    } catch (err) {
      throw new ApiError(0, "unreachable", String(err));
    }
    const text = await response.text();
    let data = null;
    try {
      data = text ? JSON.parse(text) : null;
    } catch {
      data = null;
    }
    if (!response.ok) {
      const error = (data && data.error) || {};
      throw new ApiError(response.status, error.code || `http_${response.status}`, error.message || text);
    }
    return data;
  }

  /** A read token for `keyFile`: the one held, or a new one (challenge, signature, token). */
  async token(keyFile = this.reader, fresh = false) {
    const name = `${keyFile.id}:${keyFile.public_key}`;
    const held = this.tokens.get(name);
    if (held && !fresh && Date.now() < held.renewAt) return held.token;
    if (!this.chain) this.chain = (await this.fetchJson("GET", "/v1/genesis")).chain;
    const started = Date.now();
    const { challenge } = await this.fetchJson("POST", "/v1/auth/challenge");
    const sig = toHex(await sign(keyFile.seed, tokenMessage(this.chain, keyFile.id, challenge)));
    const got = await this.fetchJson("POST", "/v1/auth/token", { principal: keyFile.id, challenge, sig });
    const life = Math.max(got.ttl_s * 1000 - RENEW_BEFORE_MS, (got.ttl_s * 1000) / 2);
    this.tokens.set(name, { token: got.token, renewAt: started + life });
    return got.token;
  }

  /** A request, made as `reader` (default: the node's reader) when given; a refused token is renewed once. */
  async request(method, path, body, reader = this.reader) {
    if (!reader) return this.fetchJson(method, path, body);
    const bearer = async (fresh) => ({ authorization: `Bearer ${await this.token(reader, fresh)}` });
    try {
      return await this.fetchJson(method, path, body, await bearer(false));
    } catch (err) {
      if (err.status !== 401 || !RENEW_CODES.has(err.code)) throw err;
      return this.fetchJson(method, path, body, await bearer(true));
    }
  }

  /** A GET whose answer is a file (a CSV report), as a Blob, read as `reader` with its token (renewed once). */
  async blob(path, params, reader = this.reader) {
    const query = params ? "?" + new URLSearchParams(Object.entries(params).filter(([, v]) => v != null)) : "";
    const once = async (fresh) => {
      const headers = reader ? { authorization: `Bearer ${await this.token(reader, fresh)}` } : {};
      let response;
      try {
        response = await fetch(this.base + path + query, { headers });
      } catch (err) {
        throw new ApiError(0, "unreachable", String(err));
      }
      if (response.ok) return response.blob();
      let error = {};
      try {
        error = (await response.json()).error || {};
      } catch {
        /* not JSON */
      }
      throw new ApiError(response.status, error.code || `http_${response.status}`, error.message || "");
    };
    try {
      return await once(false);
    } catch (err) {
      if (!reader || err.status !== 401 || !RENEW_CODES.has(err.code)) throw err;
      return once(true);
    }
  }

  /** Follow the node's event stream (EventSource) as the reader: `listeners` by event kind. It reopens with a
   *  fresh token (and the last event's id) when the node closes it, a token expiring among the reasons.
   *  Returns the function that stops it. */
  follow(params, listeners, reader = this.reader) {
    let source = null;
    let closed = false;
    let last = null;
    let failures = 0;
    const open = async () => {
      if (closed) return;
      const query = { ...params };
      if (last) query.cursor = last;
      try {
        if (reader) query.access_token = await this.token(reader, failures > 0);
      } catch {
        failures += 1;
        setTimeout(open, Math.min(30_000, 1000 * 2 ** failures));
        return;
      }
      if (closed) return;
      source = new EventSource(`${this.base}/v1/events?${new URLSearchParams(query)}`);
      source.onopen = () => {
        failures = 0;
      };
      for (const [kind, listener] of Object.entries(listeners)) {
        source.addEventListener(kind, (event) => {
          if (event.lastEventId) last = event.lastEventId;
          listener(event);
        });
      }
      source.addEventListener("error", (event) => {
        if (event.data || source.readyState === EventSource.CLOSED) {
          source.close(); // the node ended the stream (a token that expired) or refused it: open anew
          failures += 1;
          setTimeout(open, Math.min(30_000, 500 * 2 ** failures));
        }
      });
    };
    open();
    return () => {
      closed = true;
      if (source) source.close();
    };
  }

  get(path, params, reader = this.reader) {
    const query = params ? "?" + new URLSearchParams(Object.entries(params).filter(([, v]) => v != null)) : "";
    return this.request("GET", path + query, undefined, reader);
  }

  post(path, body) {
    return this.request("POST", path, body);
  }

  async submit(signed) {
    return (await this.post("/v1/transactions", signed)).txids[0];
  }

  /** The status once final (or the last known one after `timeoutMs`). */
  async waitFinal(txid, timeoutMs = 30_000) {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const left = Math.max(0, Math.min(10_000, deadline - Date.now()));
      const status = await this.get(`/v1/transactions/${txid}`, { wait_ms: left });
      if (status.status === "final" || status.status === "unknown" || Date.now() >= deadline) return status;
    }
  }

  /** Build, sign and submit a transaction from `keyFile`, then wait until final. */
  async send(keyFile, chain, type, fields, ttlMs = DEFAULT_TTL_MS) {
    const account = await this.get(`/v1/accounts/${keyFile.id}`, undefined, keyFile); // read as the signer
    const tx = { type, ...fields, chain, signer: keyFile.id, seq: account.seq, expires_ms: Date.now() + ttlMs };
    const signed = await signTx(keyFile, tx);
    return this.waitFinal(await this.submit(signed));
  }

  /** `send`, then the final status; throws an ApiError with the ledger's stable code unless applied ("ok").
   *  A rejection that is final carries `final: true` (the transaction will never apply). */
  async sendOk(keyFile, chain, type, fields, ttlMs = DEFAULT_TTL_MS) {
    const status = await this.send(keyFile, chain, type, fields, ttlMs);
    if (status.status !== "final") throw new ApiError(0, "not_final", `the transaction is ${status.status}`);
    if (status.code !== "ok") throw Object.assign(new ApiError(0, status.code, status.message || ""), { final: true });
    return status;
  }
}

// --- amounts ------------------------------------------------------------------------------------

/** Minor units as the asset's unit, with the locale's grouping and decimal mark (exact, no floats). */
export function formatMinor(minor, decimals, locale) {
  const negative = minor < 0;
  const digits = String(Math.abs(minor)).padStart(decimals + 1, "0");
  const whole = BigInt(digits.slice(0, digits.length - decimals));
  const grouped = new Intl.NumberFormat(locale).format(whole);
  const mark = new Intl.NumberFormat(locale, { minimumFractionDigits: 1 }).formatToParts(1.5)
    .find((p) => p.type === "decimal").value;
  const fraction = decimals ? mark + digits.slice(digits.length - decimals) : "";
  return (negative ? "-" : "") + grouped + fraction;
}

/** Text in the asset's unit ("12.50") as minor units; throws with a reason code. */
export function toMinor(text, decimals) {
  const cleaned = String(text).trim().replace(/[_,\s]/g, "");
  const found = /^([0-9]{1,16})(?:\.([0-9]{1,8}))?$/.exec(cleaned);
  if (!found) throw new Error("amount_not_a_number");
  const fraction = (found[2] || "").replace(/0+$/, "");
  if (fraction.length > decimals) throw new Error("amount_too_many_decimals");
  const minor = Number(found[1] + fraction.padEnd(decimals, "0"));
  if (!Number.isSafeInteger(minor) || minor < 1) throw new Error("amount_out_of_range");
  return minor;
}

/** A limit in the asset's unit as minor units: blank or zero is 0 (no limit); throws with a reason code. */
export function limitToMinor(text, decimals) {
  const cleaned = String(text ?? "").trim();
  if (!cleaned || /^0+(\.0*)?$/.test(cleaned)) return 0;
  return toMinor(cleaned, decimals);
}
