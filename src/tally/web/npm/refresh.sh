#!/bin/sh
# Refresh the vendored browser code in ../static/vendor from the npm registry, at the versions
# package-lock.json pins (integrity-checked by npm ci). Run it after changing a version here;
# commit what it writes. Needs node and npm; `make run` and `make test` do not (the files are committed).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
out="$here/../static/vendor"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp "$here/package.json" "$here/package-lock.json" "$work/"
(cd "$work" && npm ci --ignore-scripts --no-audit --no-fund --silent)
m="$work/node_modules"
rm -rf "$out" && mkdir -p "$out/licenses"
cp "$m/preact/dist/preact.mjs" "$out/preact.mjs"
cp "$m/preact/hooks/dist/hooks.mjs" "$out/preact-hooks.mjs"
cp "$m/htm/dist/htm.mjs" "$out/htm.mjs"
cp "$m/canonicalize/lib/canonicalize.js" "$out/canonicalize.mjs"
cp "$m/jsqr/dist/jsQR.js" "$out/jsQR.js"
cp "$m/qrcode-generator/dist/qrcode.mjs" "$out/qrcode.mjs"
cp "$m/jsbarcode/dist/barcodes/JsBarcode.code128.min.js" "$out/JsBarcode.code128.min.js"
cp "$m/uplot/dist/uPlot.esm.js" "$out/uPlot.esm.js"
cp "$m/uplot/dist/uPlot.min.css" "$out/uPlot.min.css"
for p in preact htm canonicalize jsqr uplot; do cp "$m/$p/LICENSE" "$out/licenses/$p.txt"; done
cp "$m/jsbarcode/MIT-LICENSE.txt" "$out/licenses/jsbarcode.txt"
# qrcode-generator ships no licence file; its package.json says MIT, its README names the author.
node -e 'const p=require(process.argv[1]); console.log(`${p.name} ${p.version}: ${p.license} licence (package.json), by ${p.author && (p.author.name||p.author) || "Kazuhiko Arase"}`)' \
    "$m/qrcode-generator/package.json" > "$out/licenses/qrcode-generator.txt"
node -e '
const lock = require(process.argv[1]);
const out = {};
for (const [path, info] of Object.entries(lock.packages)) if (path) out[path.replace("node_modules/", "")] = {version: info.version, license: info.license, integrity: info.integrity};
console.log(JSON.stringify(out, null, 2));' "$here/package-lock.json" > "$out/VERSIONS.json"
echo "vendored into $out"
