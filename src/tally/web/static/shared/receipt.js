// A receipt checked in the page against the genesis (and, from protocol 6, the certified changes of
// the validator set that GET /v1/validators serves), as tally.core.block.verify_receipt does: the
// transaction and its signature, its place in the block (Merkle path to tx_root), its result (path to
// the certified results root) and a quorum of the signatures of the validators of the block's height.

import { canonicalBytes, concat, fromHex, sha256, toHex, verify } from "./tally.js";

const VOTE_V1 = "tally-block-vote-v1";
const VOTE_V2 = "tally-block-vote-v2";
const SCHEDULE_LEAF_DOMAIN = new TextEncoder().encode("tally-validator-schedule-v1\0");

async function leafHash(leaf) {
  return sha256(concat(new Uint8Array([0]), leaf));
}

async function nodeHash(left, right) {
  return sha256(concat(new Uint8Array([1]), left, right));
}

function proofSides(index, size) {
  const sides = [];
  while (size > 1) {
    const sibling = index ^ 1;
    if (sibling < size) sides.push(sibling < index ? "L" : "R");
    size = Math.floor((size + 1) / 2);
    index = Math.floor(index / 2);
  }
  return sides;
}

async function pathLeads(path, index, size, leaf, rootHex) {
  const sides = proofSides(index, size);
  if (path.length !== sides.length || path.some(([side], i) => side !== sides[i])) return false;
  let current = await leafHash(leaf);
  for (const [side, siblingHex] of path) {
    const sibling = fromHex(siblingHex);
    current = side === "L" ? await nodeHash(sibling, current) : await nodeHash(current, sibling);
  }
  return toHex(current) === rootHex;
}

function versionAt(genesis) {
  return Number.isInteger(genesis.protocol) ? genesis.protocol : 1;
}

function resultLeaf(index, txidHex, code, signerKeyHex) {
  const at = new Uint8Array(4);
  new DataView(at.buffer).setUint32(0, index, false);
  const key = signerKeyHex ? fromHex(signerKeyHex) : new Uint8Array(32);
  return concat(at, fromHex(txidHex), key, new TextEncoder().encode(code));
}

/** The validator sets a genesis starts with: its validators from height 1 (API URLs are not ledger state). */
function genesisSets(genesis) {
  const validators = genesis.validators.map((v) => ({ id: v.id, public_key: v.public_key, api_url: "" }));
  return [{ from_height: 1, validators, scheduled_height: 0 }];
}

/** The validators that certify `height`: the last set from at or before it. */
export function validatorsAt(sets, height) {
  let found = sets[0];
  for (const set of sets) if (set.from_height <= height) found = set;
  return found.validators;
}

/** The ids of the validators (of `validators`, or the genesis's) whose signature on the certificate's vote checks. */
export async function validSigners(cert, genesisOrValidators) {
  const list = Array.isArray(genesisOrValidators) ? genesisOrValidators : genesisOrValidators.validators;
  const certifiesResults = typeof cert.results_root === "string";
  const vote = { kind: certifiesResults ? VOTE_V2 : VOTE_V1, chain: cert.chain, height: cert.height,
    block_hash: cert.block_hash, state_digest: cert.state_digest };
  if (certifiesResults) vote.results_root = cert.results_root;
  const message = canonicalBytes(vote);
  const validators = new Map(list.map((v) => [v.id, v]));
  const good = new Set();
  for (const signature of cert.signatures) {
    const validator = validators.get(signature.validator);
    if (validator && !good.has(validator.id) && /^[0-9a-f]{128}$/.test(signature.sig)
        && (await verify(validator.public_key, message, fromHex(signature.sig)))) {
      good.add(validator.id);
    }
  }
  return good;
}

async function certificateFault(cert, genesis, header, sets) {
  if (cert.chain !== genesis.chain || header.chain !== genesis.chain) return "wrong chain";
  const hash = toHex(await sha256(canonicalBytes(header)));
  if (cert.height !== header.height || cert.block_hash !== hash) return "certificate is for another block";
  const version = versionAt(genesis);
  const named = Number.isInteger(header.protocol) ? header.protocol : 1;
  if (named !== version) return `block names protocol ${header.protocol}, the genesis gives its height version ${version}`;
  const certifiesResults = version >= 2;
  if (certifiesResults !== (typeof cert.results_root === "string")) {
    return `certificate ${version > 1 ? "lacks" : "has"} a results root under protocol ${version}`;
  }
  const validators = validatorsAt(sets, header.height);
  const good = await validSigners(cert, validators);
  const quorum = Math.floor((2 * validators.length) / 3) + 1;
  return good.size >= quorum ? null : "certificate lacks a quorum of valid validator signatures";
}


/** The validator sets after following the certified changes from the genesis; throws naming the first bad one. */
export async function followChanges(genesis, changes) {
  let sets = genesisSets(genesis);
  if (versionAt(genesis) < 6) {
    if ((changes || []).length) throw new Error("this chain's protocol has no validator-set changes");
    return sets;
  }
  for (const change of changes || []) {
    const { header, certificate: cert, schedule } = change;
    const fault = await certificateFault(cert, genesis, header, sets);
    if (fault !== null) throw new Error(`change at height ${header.height}: ${fault}`);
    const leaf = concat(SCHEDULE_LEAF_DOMAIN, canonicalBytes(schedule));
    const size = header.tx_count + 1;
    if (!(await pathLeads(change.schedule_path, size - 1, size, leaf, cert.results_root))) {
      throw new Error(`change at height ${header.height}: its schedule is not the certified one`);
    }
    const same = (a, b) => toHex(canonicalBytes(a)) === toHex(canonicalBytes(b));
    if (schedule.sets.length < sets.length || sets.some((set, i) => !same(set, schedule.sets[i]))) {
      throw new Error(`change at height ${header.height}: it rewrites sets scheduled before it`);
    }
    sets = schedule.sets;
  }
  return sets;
}

async function receiptFault(receipt, genesis, sets) {
  const { header, certificate: cert } = receipt;
  const message = canonicalBytes(receipt.signed_tx.tx);
  if (toHex(await sha256(message)) !== receipt.txid) return "txid does not match the transaction";
  if (header.chain !== genesis.chain || cert.chain !== genesis.chain) return "wrong chain";
  if (!(receipt.index >= 0 && receipt.index < header.tx_count)) return "index is outside the block";
  if (!receipt.signer_key) {
    if (receipt.code === "ok") return "an accepted transaction's receipt must name its signer's key";
  } else if (!(await verify(receipt.signer_key, message, fromHex(receipt.signed_tx.sig)))) {
    return "signature does not verify against the signer's key";
  }
  if (!(await pathLeads(receipt.merkle_path, receipt.index, header.tx_count, fromHex(receipt.txid), header.tx_root))) {
    return "merkle path does not lead from the txid at this index to the block's tx_root";
  }
  if (versionAt(genesis) < 2 || typeof cert.results_root !== "string") {
    return "this block's protocol does not certify results";
  }
  const leaf = resultLeaf(receipt.index, receipt.txid, receipt.code, receipt.signer_key || "");
  const size = header.tx_count + (versionAt(genesis) >= 6 ? 1 : 0); // protocol 6: the schedule's leaf ends the tree
  if (!(await pathLeads(receipt.results_path || [], receipt.index, size, leaf, cert.results_root))) {
    return "results path does not lead from this result to the certified results root";
  }
  return certificateFault(cert, genesis, header, sets);
}

/** [ok, reason]: whether the receipt proves its transaction final with its result, under `genesis` and the
 * certified validator-set `changes` (GET /v1/validators; none: the genesis's set). */
export async function verifyReceipt(receipt, genesis, changes = []) {
  let sets;
  try {
    sets = await followChanges(genesis, changes);
  } catch (err) {
    return [false, String(err.message || err)];
  }
  try {
    const fault = await receiptFault(receipt, genesis, sets);
    return fault === null ? [true, "ok"] : [false, fault];
  } catch (err) {
    return [false, "malformed receipt"];
  }
}
