// A receipt checked in the page against the genesis alone, as tally.core.block.verify_receipt does:
// the transaction and its signature, its place in the block (Merkle path to tx_root), its result
// (path to the certified results root) and a quorum of the validators' signatures on the block.

import { canonicalBytes, concat, fromHex, sha256, toHex, verify } from "./tally.js";

const VOTE_V1 = "tally-block-vote-v1";
const VOTE_V2 = "tally-block-vote-v2";

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

/** The ids of the validators whose signature on the certificate's vote checks (each counted once). */
export async function validSigners(cert, genesis) {
  const certifiesResults = typeof cert.results_root === "string";
  const vote = { kind: certifiesResults ? VOTE_V2 : VOTE_V1, chain: cert.chain, height: cert.height,
    block_hash: cert.block_hash, state_digest: cert.state_digest };
  if (certifiesResults) vote.results_root = cert.results_root;
  const message = canonicalBytes(vote);
  const validators = new Map(genesis.validators.map((v) => [v.id, v]));
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

async function certificateFault(cert, genesis, header) {
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
  const good = await validSigners(cert, genesis);
  const quorum = Math.floor((2 * genesis.validators.length) / 3) + 1;
  return good.size >= quorum ? null : "certificate lacks a quorum of valid validator signatures";
}

async function receiptFault(receipt, genesis) {
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
  if (!(await pathLeads(receipt.results_path || [], receipt.index, header.tx_count, leaf, cert.results_root))) {
    return "results path does not lead from this result to the certified results root";
  }
  return certificateFault(cert, genesis, header);
}

/** [ok, reason]: whether the receipt proves its transaction final with its result, under `genesis`. */
export async function verifyReceipt(receipt, genesis) {
  try {
    const fault = await receiptFault(receipt, genesis);
    return fault === null ? [true, "ok"] : [false, fault];
  } catch (err) {
    return [false, "malformed receipt"];
  }
}
