#!/usr/bin/env node
// Rebuilds every example component under examples/ and every fixture under test/fixtures/ from
// its source: WAT (jco's wasm-tools: parse, embed the world, component new), C (Debian's clang
// for wasm32, then embed + new) and JavaScript (jco componentize). `npm run build:examples`.
// Needs clang and wasm-ld for C: scripts/setup-debian.sh installs them.
//
// Reproducible: a target is rebuilt only when its inputs changed since the build recorded in
// scripts/build-examples.inputs.json — the files its recipe reads, the recipe and the helpers and
// constants it uses (found in this script's text), the npm tools' versions — and an output is
// written only when its bytes differ. Why not simply rebuild: `jco componentize` (ComponentizeJS)
// is not deterministic — it snapshots a JavaScript engine whose heap differs from run to run and
// embeds a random temporary path — so every rebuild of a JS component gives other bytes; and C
// output depends on the clang version (the checked-in enrich.wasm was built by another clang than
// Debian 12's 14.0.6). WAT builds are deterministic. A new target is a line in `targets`, as before.
//   node scripts/build-examples.mjs [name...]   rebuild what changed (names filter the targets)
//   node scripts/build-examples.mjs --force     rebuild everything (outputs still written only if different)
//   node scripts/build-examples.mjs --check     exit 1 if an output was built from other inputs (no build)
//   node scripts/build-examples.mjs --adopt     record the current inputs of the existing outputs (no build)
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { componentEmbed, componentNew, parse } from '@bytecodealliance/jco-transpile/wasm-tools';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const at = (...p) => join(root, ...p);
const WORLD_A = readFileSync(at('wit/messaging-0.1.0-draft/messaging.wit'), 'utf8');
const WORLD_B = readFileSync(at('wit/messaging-0.2.0-draft/messaging.wit'), 'utf8');
const WORLD_C = readFileSync(at('wit/messaging-c/messaging.wit'), 'utf8');
// World C under its January 2024 label: the same interfaces, package wasi:messaging@0.1.0.
const V010 = (text) => text.replaceAll('@0.2.0-draft', '@0.1.0');
const FIXTURES = WORLD_A + readFileSync(at('test/fixtures/src/extra.wit'), 'utf8');
// World A nested beside minimal WASI packages, for the sandbox probe (one WIT source, several packages).
const SANDBOX_PROBE = `package wasmsg:fixtures;
package wasi:filesystem@0.2.3 {
  interface types { resource descriptor; }
  interface preopens { use types.{descriptor}; get-directories: func() -> list<tuple<descriptor, string>>; }
}
package wasi:cli@0.2.3 {
  interface environment { get-environment: func() -> list<tuple<string, string>>; }
}
${WORLD_A.replace(/^package .*;$/m, 'package wasi:messaging@0.1.0-draft {')}
}
world sandbox-probe {
  import wasi:filesystem/preopens@0.2.3;
  import wasi:cli/environment@0.2.3;
  export wasi:messaging/handler@0.1.0-draft;
}
`;
// World A beside minimal wasi:io streams and wasi:cli stdin/stdout/environment, for the hostile
// WASI fixtures (test/faults): stdin-probe reads stdin and the initial cwd, log-inject writes
// control characters to stdout.
const HOSTILE_WASI = `package wasmsg:fixtures;
package wasi:io@0.2.3 {
  interface error { resource error; }
  interface streams {
    use error.{error};
    variant stream-error { last-operation-failed(error), closed }
    resource input-stream { blocking-read: func(len: u64) -> result<list<u8>, stream-error>; }
    resource output-stream { blocking-write-and-flush: func(contents: list<u8>) -> result<_, stream-error>; }
  }
}
package wasi:cli@0.2.3 {
  interface stdin { use wasi:io/streams@0.2.3.{input-stream}; get-stdin: func() -> input-stream; }
  interface stdout { use wasi:io/streams@0.2.3.{output-stream}; get-stdout: func() -> output-stream; }
  interface environment { initial-cwd: func() -> option<string>; }
}
${WORLD_A.replace(/^package .*;$/m, 'package wasi:messaging@0.1.0-draft {')}
}
world stdin-probe {
  import wasi:cli/stdin@0.2.3;
  import wasi:cli/environment@0.2.3;
  export wasi:messaging/handler@0.1.0-draft;
}
world log-inject {
  import wasi:cli/stdout@0.2.3;
  export wasi:messaging/handler@0.1.0-draft;
}
`;
const args = process.argv.slice(2);
const force = args.includes('--force');
const check = args.includes('--check');
const adopt = args.includes('--adopt');
const only = args.filter((a) => !a.startsWith('--'));

async function componentFromCore(core, witSource, world) {
  return componentNew(await componentEmbed({ binary: core, witSource, world }));
}

async function wat(src, witSource, world) {
  return componentFromCore(await parse(readFileSync(at(src), 'utf8')), witSource, world);
}

async function c(src, witSource, world) {
  const tmp = mkdtempSync(join(tmpdir(), 'wasmsg-c-'));
  try {
    const core = join(tmp, 'core.wasm');
    execFileSync(
      'clang',
      [
        '--target=wasm32',
        '-nostdlib',
        '-O2',
        '-Wall',
        '-Werror',
        '-std=c11',
        '-Wl,--no-entry',
        '-Wl,--strip-all',
        '-Wl,--allow-undefined',
        '-o',
        core,
        at(src),
      ],
      { stdio: 'inherit' },
    );
    return componentFromCore(readFileSync(core), witSource, world);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

function js(src, witDir, world) {
  const tmp = mkdtempSync(join(tmpdir(), 'wasmsg-js-'));
  try {
    const out = join(tmp, 'component.wasm');
    // jco reads WIT through preview2-shim's filesystem, denied by default: preopen it for the build.
    execFileSync(
      process.execPath,
      [
        '--import',
        at('scripts/jco-with-fs.mjs'),
        at('node_modules/@bytecodealliance/jco/dist/jco.js'),
        'componentize',
        at(src),
        '--wit',
        at(witDir),
        '--world-name',
        world,
        '--disable',
        'http',
        'fetch-event',
        '--out',
        out,
      ],
      { stdio: ['ignore', 'ignore', 'inherit'] },
    );
    return readFileSync(out);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

const A = 'wit/messaging-0.1.0-draft';
const B = 'wit/messaging-0.2.0-draft';
const targets = [
  ['examples/noop-wat/noop.wasm', () => wat('examples/noop-wat/noop.wat', WORLD_A, 'messaging')],
  ['examples/spin-wat/spin.wasm', () => wat('examples/spin-wat/spin.wat', WORLD_A, 'messaging')],
  ['examples/enrich-c/enrich.wasm', () => c('examples/enrich-c/enrich.c', WORLD_A, 'messaging')],
  ['examples/fizzbuzz-js/fizzbuzz.wasm', () => js('examples/fizzbuzz-js/fizzbuzz.js', A, 'messaging')],
  ['examples/echo-wat/echo.wasm', () => wat('examples/echo-wat/echo.wat', WORLD_B, 'messaging-core')],
  ['examples/shout-js/shout.wasm', () => js('examples/shout-js/shout.js', B, 'messaging-core')],
  ['examples/batch-wat/batch.wasm', () => wat('examples/batch-wat/batch.wat', WORLD_C, 'messaging')],
  ['test/fixtures/err.wasm', () => wat('test/fixtures/src/err.wat', WORLD_A, 'messaging')],
  ['test/fixtures/trap.wasm', () => wat('test/fixtures/src/trap.wat', WORLD_A, 'messaging')],
  ['test/fixtures/relay.wasm', () => wat('test/fixtures/src/relay.wat', WORLD_B, 'messaging-core')],
  ['test/fixtures/fanout.wasm', () => wat('test/fixtures/src/fanout.wat', WORLD_B, 'messaging-core')],
  ['test/fixtures/poison.wasm', () => wat('test/fixtures/src/poison.wat', WORLD_A, 'messaging')],
  ['test/fixtures/loop.wasm', () => wat('test/fixtures/src/loop.wat', WORLD_A, 'messaging')],
  ['test/fixtures/leak-b.wasm', () => wat('test/fixtures/src/leak-b.wat', WORLD_B, 'messaging-core')],
  ['test/fixtures/batch-script.wasm', () => wat('test/fixtures/src/batch-script.wat', WORLD_C, 'messaging')],
  ['test/fixtures/batch-noconf.wasm', () => wat('test/fixtures/src/batch-noconf.wat', WORLD_C, 'messaging')],
  ['test/fixtures/grow.wasm', () => wat('test/fixtures/src/grow.wat', WORLD_A, 'messaging')],
  ['test/fixtures/start-loop.wasm', () => wat('test/fixtures/src/start-loop.wat', WORLD_A, 'messaging')],
  ['test/fixtures/start-trap.wasm', () => wat('test/fixtures/src/start-trap.wat', WORLD_A, 'messaging')],
  ['test/fixtures/batch-noop.wasm', () => wat('test/fixtures/src/batch-noop.wat', WORLD_C, 'messaging')],
  ['test/fixtures/batch-spin.wasm', () => wat('test/fixtures/src/batch-spin.wat', WORLD_C, 'messaging')],
  // The batch example as a component of the @0.1.0 label.
  [
    'test/fixtures/batch-v010.wasm',
    async () =>
      componentFromCore(
        await parse(V010(readFileSync(at('examples/batch-wat/batch.wat'), 'utf8'))),
        V010(WORLD_C),
        'messaging',
      ),
  ],
  ['test/fixtures/mirror-a.wasm', () => wat('test/fixtures/src/mirror-a.wat', WORLD_A, 'messaging')],
  ['test/fixtures/mirror-b.wasm', () => wat('test/fixtures/src/mirror-b.wat', WORLD_B, 'messaging-request-reply')],
  ['test/fixtures/unknown-import.wasm', () => wat('test/fixtures/src/unknown-import.wat', FIXTURES, 'with-telemetry')],
  ['test/fixtures/wrong-export.wasm', () => wat('test/fixtures/src/wrong-export.wat', FIXTURES, 'wrong-export')],
  [
    'test/fixtures/sandbox-probe.wasm',
    () => wat('test/fixtures/src/sandbox-probe.wat', SANDBOX_PROBE, 'sandbox-probe'),
  ],
  ['test/fixtures/stdin-probe.wasm', () => wat('test/fixtures/src/stdin-probe.wat', HOSTILE_WASI, 'stdin-probe')],
  ['test/fixtures/log-inject.wasm', () => wat('test/fixtures/src/log-inject.wat', HOSTILE_WASI, 'log-inject')],
  // A core module: valid WebAssembly, but not a component.
  ['test/fixtures/core-module.wasm', async () => parse(readFileSync(at('examples/noop-wat/noop.wat'), 'utf8'))],
  // The first 60% of a valid component.
  [
    'test/fixtures/truncated.wasm',
    async () => {
      const full = await wat('examples/noop-wat/noop.wat', WORLD_A, 'messaging');
      return full.subarray(0, Math.floor(full.length * 0.6));
    },
  ],
  // A complete component preamble and section framing, but a section id that does not exist.
  [
    'test/fixtures/malformed.wasm',
    async () => Uint8Array.from([0x00, 0x61, 0x73, 0x6d, 0x0d, 0x00, 0x01, 0x00, 0x7f, 0x02, 0x00, 0x00]),
  ],
  ['test/fixtures/garbage.wasm', async () => new TextEncoder().encode('this is a text file, not WebAssembly\n')],
];

// ---- reproducibility: what each output is made of ----
const RECORD = at('scripts/build-examples.inputs.json');
const version = (pkg) => JSON.parse(readFileSync(at('node_modules', pkg, 'package.json'), 'utf8')).version;
const TOOLS = `jco-transpile ${version('@bytecodealliance/jco-transpile')}`;
const JS_TOOLS = `jco ${version('@bytecodealliance/jco')}, componentize-js ${version('@bytecodealliance/componentize-js')}`;
/** This script's top-level definitions by name (constants and functions), as text. */
const definitions = new Map();
for (const chunk of readFileSync(fileURLToPath(import.meta.url), 'utf8').split(
  /^(?=(?:const|function|async function) )/m,
)) {
  const name = /^(?:const|function|async function) (\w+)/.exec(chunk)?.[1];
  if (name !== undefined && name !== 'targets') definitions.set(name, chunk);
}
/** The key of a recipe: its text, the definitions it uses (transitively), the files they read. */
function inputsKey(build) {
  const texts = [build.toString()];
  const used = new Set();
  for (let i = 0; i < texts.length; i++) {
    for (const [name, text] of definitions) {
      if (!used.has(name) && new RegExp(`\\b${name}\\b`).test(texts[i])) {
        used.add(name);
        texts.push(text);
      }
    }
  }
  const files = new Set();
  for (const t of texts)
    for (const m of t.matchAll(/'((?:examples|test\/fixtures\/src|wit)\/[^'$]+\.(?:wat|c|js|wit))'/g)) files.add(m[1]);
  const h = createHash('sha256');
  h.update(used.has('js') ? `${TOOLS}, ${JS_TOOLS}` : TOOLS);
  for (const t of texts) h.update(t).update('\0');
  for (const f of [...files].sort()) h.update(`${f}\0`).update(readFileSync(at(f)));
  return h.digest('hex');
}
const recorded = existsSync(RECORD) ? JSON.parse(readFileSync(RECORD, 'utf8')) : {};

const stale = [];
for (const [out, build] of targets) {
  if (only.length > 0 && !only.some((o) => out.includes(o))) continue;
  const key = inputsKey(build);
  const upToDate = existsSync(at(out)) && recorded[out] === key;
  if (check) {
    if (!upToDate) stale.push(out);
    continue;
  }
  if (adopt && existsSync(at(out))) {
    recorded[out] = key;
    continue;
  }
  if (upToDate && !force) {
    console.log(`${out}: up to date`);
    continue;
  }
  const started = performance.now();
  const bytes = await build();
  const same = existsSync(at(out)) && Buffer.compare(readFileSync(at(out)), Buffer.from(bytes)) === 0;
  if (!same) writeFileSync(at(out), bytes);
  recorded[out] = key;
  console.log(
    `${relative(root, at(out))}: ${bytes.length} bytes, ${same ? 'unchanged' : 'written'} (${Math.round(performance.now() - started)} ms)`,
  );
}
if (check) {
  if (stale.length > 0) {
    console.error(`built from other inputs than the current ones: ${stale.join(', ')} (npm run build:examples)`);
    process.exit(1);
  }
  console.log('every example and fixture is built from its current inputs');
} else {
  const sorted = Object.fromEntries(Object.entries(recorded).sort(([a], [b]) => a.localeCompare(b)));
  writeFileSync(RECORD, `${JSON.stringify(sorted, null, 2)}\n`);
}
