import { mkdir, readFile, readdir, writeFile } from 'node:fs/promises';
import { basename, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ErrorCode, OptionError } from '../errors.js';

/**
 * `wasmsg new <dir> --world a|b|c --lang wat|c|js`: a component project that builds and runs
 * out of the box — the world's WIT, a handler (upper-cases each message and publishes it to topic
 * `out`), `build.mjs`, a test message and a README with the commands. The sources are
 * `templates/<world>.<lang>` of this package; docs/components.md explains them.
 */
export const WORLDS = ['a', 'b', 'c'] as const;
export const LANGS = ['wat', 'c', 'js'] as const;
type World = (typeof WORLDS)[number];
type Lang = (typeof LANGS)[number];

/** The wasmsg package's root (dist/src/cli/ → ../../../). */
const packageRoot = fileURLToPath(new URL('../../../', import.meta.url));

const worlds: Record<World, { wit: string; world: string; what: string; label: string }> = {
  a: {
    wit: 'wit/messaging-0.1.0-draft/messaging.wit',
    world: 'messaging',
    label: 'wasi:messaging@0.1.0-draft / messaging',
    what: 'world A (a CloudEvents handler, `on-receive`)',
  },
  b: {
    wit: 'wit/messaging-0.2.0-draft/messaging.wit',
    world: 'messaging-core',
    label: 'wasi:messaging@0.2.0-draft / messaging-core',
    what: 'world B (a message handler, `handle`)',
  },
  c: {
    wit: 'wit/messaging-c/messaging.wit',
    world: 'messaging',
    label: 'wasi:messaging@0.2.0-draft / messaging (batch delivery)',
    what: 'world C (batch delivery: `configure` and `handler`)',
  },
};

const CLANG_ARGS = [
  '--target=wasm32',
  '-nostdlib',
  '-O2',
  '-Wall',
  '-Werror',
  '-std=c11',
  '-Wl,--no-entry',
  '-Wl,--strip-all',
  '-Wl,--allow-undefined',
];

function buildScript(name: string, world: World, lang: Lang): string {
  const w = worlds[world];
  const steps: Record<Lang, string> = {
    wat: `// WAT → core module (wasm-tools parse) → embed the WIT world → component (wasm-tools component new)
const core = await tools.parse(readFileSync(at('${name}.wat'), 'utf8'), '${name}.wat').catch((err) => {
  console.error(err.message); // file:line:col: what is wrong
  process.exit(1);
});
const component = await tools.componentNew(await tools.componentEmbed({ binary: core, witSource: wit, world: WORLD }));`,
    c: `// C → core module (clang for wasm32, no libc) → embed the WIT world → component
const tmp = mkdtempSync(join(tmpdir(), '${name}-'));
let core;
try {
  execFileSync(process.env.CC ?? 'clang', [...${JSON.stringify(CLANG_ARGS)}, '-o', join(tmp, 'core.wasm'), at('${name}.c')], {
    stdio: 'inherit',
  });
  core = readFileSync(join(tmp, 'core.wasm'));
} finally {
  rmSync(tmp, { recursive: true, force: true });
}
const component = await tools.componentNew(await tools.componentEmbed({ binary: core, witSource: wit, world: WORLD }));`,
    js: `// JavaScript → component (ComponentizeJS, what \`jco componentize\` runs), without fetch/http
const component = await tools.componentize({ sourcePath: at('${name}.js'), witPath: at('wit'), worldName: WORLD });`,
  };
  const imports = [
    ...(lang === 'c' ? ["import { execFileSync } from 'node:child_process';"] : []),
    `import { ${lang === 'c' ? 'mkdtempSync, readFileSync, rmSync, writeFileSync' : lang === 'wat' ? 'readFileSync, writeFileSync' : 'writeFileSync'} } from 'node:fs';`,
    ...(lang === 'c' ? ["import { tmpdir } from 'node:os';"] : []),
    "import { dirname, join } from 'node:path';",
    "import { fileURLToPath, pathToFileURL } from 'node:url';",
  ];
  return `#!/usr/bin/env node
// Builds ${name}.wasm, a ${w.label} component, from ${name}.${lang}: \`node build.mjs\`.
// The tools come from wasmsg (\`wasmsg/toolchain\`): this project's node_modules if it has wasmsg,
// else the wasmsg that made this project (or the one $WASMSG_DIR names).
${imports.join('\n')}

const here = dirname(fileURLToPath(import.meta.url));
const at = (p) => join(here, p);
const WASMSG_DIR = process.env.WASMSG_DIR ?? ${JSON.stringify(packageRoot)};
const tools = await import('wasmsg/toolchain').catch(
  () => import(pathToFileURL(join(WASMSG_DIR, 'dist/src/cli/toolchain.js')).href),
);
const WORLD = '${w.world}';
${lang === 'js' ? '' : "const wit = readFileSync(at('wit/messaging.wit'), 'utf8');\n"}
${steps[lang]}
writeFileSync(at('${name}.wasm'), component);
console.log(\`${name}.wasm: \${component.length} bytes\`);
`;
}

function readme(name: string, world: World, lang: Lang): string {
  const w = worlds[world];
  const needs: Record<Lang, string> = {
    wat: 'Node.js and wasmsg (its toolchain parses the WAT and makes the component).',
    c: 'Node.js, wasmsg, and clang with wasm-ld for wasm32 (Debian: `apt-get install clang lld`).',
    js: 'Node.js, wasmsg, and ComponentizeJS: `npm install --save-dev @bytecodealliance/componentize-js` here (a wasmsg clone has it already). A build takes ~10 s.',
  };
  const call =
    world === 'c'
      ? `wasmsg call ${name}.wasm --data-file message.json`
      : `wasmsg call ${name}.wasm --data-file message.json --topic in`;
  return `# ${name}

A wasi-messaging component: ${w.what}, in ${lang === 'wat' ? 'WAT' : lang === 'c' ? 'C' : 'JavaScript'}.
It upper-cases each message's data and publishes it to topic \`out\` on broker \`default\`.
Made by \`wasmsg new ${name} --world ${world} --lang ${lang}\`; the guide is wasmsg's docs/components.md.

Needs: ${needs[lang]}

\`\`\`sh
node build.mjs                                   # ${name}.${lang} → ${name}.wasm
${call.padEnd(48)} # one message: prints the result and what it published
wasmsg run ${name}.wasm --generate 1000          # the engine, on the embedded broker
\`\`\`

Files: \`${name}.${lang}\` (the handler), \`wit/messaging.wit\` (the world, ${w.label}),
\`build.mjs\` (the build), \`message.json\` (a test message).
`;
}

export async function runNew(dir: string, opts: { world: World; lang: Lang; name?: string }): Promise<number> {
  const target = resolve(dir);
  const name = (opts.name ?? basename(target))
    .toLowerCase()
    .replace(/[^a-z0-9-]+/g, '-')
    .replace(/^-+|-+$/g, '');
  if (name === '') {
    throw new OptionError(ErrorCode.badOption, `new: cannot make a component name of '${dir}': give --name`, {
      option: 'name',
    });
  }
  const existing = await readdir(target).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return [];
    throw new OptionError(ErrorCode.badOption, `new: ${dir}: ${err.code === 'ENOTDIR' ? 'is a file' : err.message}`, {
      option: 'dir',
    });
  });
  if (existing.length > 0) {
    throw new OptionError(ErrorCode.badOption, `new: ${dir} exists and is not empty`, { option: 'dir' });
  }
  const w = worlds[opts.world];
  const callArgs = `call ${name}.wasm --data-file message.json${opts.world === 'c' ? '' : ' --topic in'}`;
  const files: Record<string, string> = {
    [`${name}.${opts.lang}`]: await readFile(join(packageRoot, 'templates', `${opts.world}.${opts.lang}`), 'utf8'),
    'wit/messaging.wit': await readFile(join(packageRoot, w.wit), 'utf8'),
    'build.mjs': buildScript(name, opts.world, opts.lang),
    'message.json': '{"hello": "wasmsg"}\n',
    'package.json': `${JSON.stringify(
      {
        name,
        private: true,
        type: 'module',
        scripts: {
          build: 'node build.mjs',
          // wasmsg from PATH, else the one that made this project (a clone's is not on PATH)
          call: `if command -v wasmsg >/dev/null; then wasmsg ${callArgs}; else node ${shellQuote(join(packageRoot, 'dist/src/cli/main.js'))} ${callArgs}; fi`,
        },
      },
      null,
      2,
    )}\n`,
    'README.md': readme(name, opts.world, opts.lang),
  };
  await mkdir(join(target, 'wit'), { recursive: true });
  for (const [file, text] of Object.entries(files)) await writeFile(join(target, file), text);
  const shown = relative(process.cwd(), target) || '.';
  process.stdout.write(
    `created ${shown}: ${name}.${opts.lang}, a ${w.label} component\n` +
      `  cd ${shellQuote(shown)} && node build.mjs && wasmsg call ${name}.wasm --data-file message.json\n`,
  );
  return 0;
}

/** `text` as one shell word: as it is when it needs no quoting, else in single quotes. */
function shellQuote(text: string): string {
  return /^[\w@%+=:,./-]+$/.test(text) ? text : `'${text.replaceAll("'", "'\\''")}'`;
}
