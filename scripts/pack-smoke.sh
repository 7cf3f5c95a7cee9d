#!/usr/bin/env bash
# tf-parity installed as a dependency, as a user installs it: packs the package, installs the
# tarball into a new project with no setting (from the npm cache that `npm ci` filled where it
# has the packages, else from the registry), then runs `npx parity` and the API there.
# Run by .ci/run; locally: bash scripts/pack-smoke.sh (about a minute).
set -uo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d "${TMPDIR:-/tmp}/parity-pack-XXXXXX")
trap 'rm -rf "$work"' EXIT
models="$repo/cases/models"
passed=0
failed=0

# check NAME COMMAND...: one line per check; the output of a failing one is shown.
check() {
  local name=$1
  shift
  if out=$("$@" 2>&1); then
    passed=$((passed + 1))
    echo "pack-smoke: ok: $name"
  else
    failed=$((failed + 1))
    echo "pack-smoke: FAILED: $name"
    printf '%s\n' "$out" | tail -n 30 | sed 's/^/  | /'
  fi
}

# expect_exit CODE COMMAND...: the command exits with CODE; its stderr is kept in $work/err.
expect_exit() {
  local want=$1
  shift
  "$@" >"$work/out" 2>"$work/err"
  local got=$?
  if [ "$got" != "$want" ]; then
    echo "exit code $got, expected $want"
    cat "$work/out" "$work/err"
    return 1
  fi
}

# No setting of the user's: the install must work without the onnxruntime-node skip.
unset ONNXRUNTIME_NODE_INSTALL ONNXRUNTIME_NODE_INSTALL_CUDA npm_config_onnxruntime_node_install

echo "pack-smoke: packing $repo"; t0=$SECONDS
(cd "$repo" && npm pack --pack-destination "$work" >"$work/pack.log" 2>&1) || {
  cat "$work/pack.log"
  echo "pack-smoke: npm pack failed"
  exit 1
}
tgz=$(ls "$work"/tf-parity-*.tgz); echo "pack-smoke: packed in $((SECONDS - t0)) s"
tar -tzf "$tgz" | sed 's#^package/##' | sort >"$work/files"

contents() {
  local f
  for f in bin/parity.js dist/src/index.js dist/src/index.d.ts dist/src/cli/main.js dist/harness/worker.js dist/cases/gen/cnn.js \
    proto/onnx/onnx.proto schema/result.schema.json README.md LICENSE package.json; do
    grep -qx "$f" "$work/files" || { echo "missing from the package: $f"; return 1; }
  done
  # What users do not need: tests, fixtures, example models, benchmarks, sources, source maps.
  # (The suite's warm-up writes the example CNN with three of the case generators: those ship.)
  if grep -E '^(test|cases|bench|src|harness|scripts|docs|reports)/|^dist/(test|bench|cases)/|\.map$|\.ts$' "$work/files" | grep -v '\.d\.ts$' | grep -vE '^dist/cases/gen/(cnn|keras-cnn|onnx-cnn)\.js$'; then
    echo "the package ships the files above, which users do not need"
    return 1
  fi
  echo "$(wc -l <"$work/files") files"
}
check "the package ships dist/src, dist/harness, the warm-up generators, bin, proto, schema, README, LICENSE and nothing else" contents
echo "pack-smoke: $(wc -l <"$work/files") files, $(du -k "$tgz" | cut -f1) KiB packed"

app="$work/app"
mkdir -p "$app"
printf '{ "name": "parity-pack-smoke", "version": "1.0.0", "private": true, "type": "module" }\n' >"$app/package.json"
cd "$app" || exit 1

install() {
  npm install --prefer-offline --no-audit --no-fund "$tgz" >"$work/install.log" 2>&1 || { cat "$work/install.log"; return 1; }
  # onnxruntime-node (whose install script downloads CUDA libraries) is an optional peer: not installed.
  [ ! -e node_modules/onnxruntime-node ] || { echo "onnxruntime-node was installed"; return 1; }
  if grep -i 'unknown.*config\|npm error' "$work/install.log"; then return 1; fi
}
t0=$SECONDS
check "npm install ./tf-parity.tgz in a new project, no setting" install
echo "pack-smoke: installed in $((SECONDS - t0)) s"

check "npx parity --version" expect_exit 0 npx --no-install parity --version
check "npx parity compare cnn.pb cnn.keras: equivalent, exit 0" expect_exit 0 npx --no-install parity compare "$models/cnn.pb" "$models/cnn.keras" -q --json "$work/r.json"
check "npx parity compare cnn.pb cnn-buggy.keras: not equivalent, exit 1" expect_exit 1 npx --no-install parity compare "$models/cnn.pb" "$models/cnn-buggy.keras" -q

no_ort() {
  expect_exit 2 npx --no-install parity compare "$models/cnn.pb" "$models/cnn.onnx" -q || return 1
  # One line naming the model and what to install.
  [ "$(wc -l <"$work/err")" = 1 ] && grep -q "cnn.onnx: ONNX models run on onnxruntime-node, which is not installed: run 'npm i onnxruntime-node'" "$work/err" || {
    cat "$work/err"
    return 1
  }
}
check "an ONNX candidate without onnxruntime-node: one line naming what to install, exit 2" no_ort

api() {
  cat >"$app/api.mjs" <<EOF
import { compare, InputError } from 'tf-parity';
const ok = await compare('$models/cnn.pb', '$models/cnn.keras', { seed: 3, atol: 1e-4, perTensor: { 'probs/Softmax': { atol: 1e-5 } } });
const bad = await compare('$models/cnn.pb', '$models/cnn-buggy.keras', { checks: ['cosine>=0.999'] });
let refused = '';
try { await compare('$models/cnn.pb', '$models/cnn.keras', { iterations: 0 }); } catch (e) { refused = e instanceof InputError ? e.message : String(e); }
console.log(JSON.stringify({ ok: ok.verdict, bad: bad.verdict, refused }));
if (ok.verdict !== 'equivalent' || bad.verdict !== 'not-equivalent' || !/iterations/.test(refused)) process.exit(1);
EOF
  node "$app/api.mjs"
}
check "the API: import { compare } from 'tf-parity'" api

suite() {
  # Warm worker processes of the installed package (they write and compare the warm-up models).
  mkdir -p "$app/cases"
  printf 'original: %s\ncandidate: %s\nexpect: equivalent\n' "$models/cnn.pb" "$models/cnn.keras" >"$app/cases/ok.yaml"
  printf 'original: %s\ncandidate: %s\nexpect: not-equivalent\n' "$models/cnn.pb" "$models/cnn-buggy.keras" >"$app/cases/buggy.yaml"
  expect_exit 0 npx --no-install parity suite "$app/cases" --out "$work/suite" || return 1
  [ -f "$work/suite/results.json" ] || { echo "no results.json"; return 1; }
}
check "npx parity suite of two cases (warm workers, warm-up from the package), exit 0" suite

with_ort() {
  # Its version as the repo's lockfile has it (in the npm cache); the skip is the user's choice here.
  local v
  v=$(node -p "require('$repo/package-lock.json').packages['node_modules/onnxruntime-node'].version")
  ONNXRUNTIME_NODE_INSTALL=skip npm install --prefer-offline --no-audit --no-fund "onnxruntime-node@$v" >"$work/ort.log" 2>&1 || { cat "$work/ort.log"; return 1; }
  expect_exit 0 npx --no-install parity compare "$models/cnn.pb" "$models/cnn.onnx" -q
}
check "after npm i onnxruntime-node: compare cnn.pb cnn.onnx, exit 0" with_ort

echo "pack-smoke: $passed passed, $failed failed"
[ "$failed" = 0 ]
