import { readFile } from 'node:fs/promises';
import { dirname, extname, isAbsolute, resolve } from 'node:path';
import { LineCounter, isMap, isScalar, isSeq, parseDocument } from 'yaml';
import { ErrorCode, OptionError } from '../errors.js';

/**
 * A config file: the library options (src/engine/options.ts, reference in docs/config.md) as
 * JSON (`.json`) or YAML (`.yaml`, `.yml`; any other name is read as YAML, of which JSON is a
 * subset). Paths inside it (`components[].path`, `cacheDir`) are relative to the file's
 * directory, so a config works from any working directory.
 */
export async function readConfigFile(
  file: string,
  /** What messages begin with: the flag that named the file (`validate` names the file itself). */
  label = `--config ${file}: `,
): Promise<Record<string, unknown>> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    const why = e.code === 'ENOENT' ? 'no such file' : e.code === 'EISDIR' ? 'is a directory (EISDIR)' : e.message;
    throw new OptionError(ErrorCode.badOption, `${label}${why}`, { option: 'config' });
  }
  let data: unknown;
  const json = extname(file).toLowerCase() === '.json';
  // Read as YAML (JSON is YAML 1.2) with duplicate keys kept, to find them below: JSON.parse keeps
  // the last of a key given twice without a word, and YAML's own check names neither the key nor
  // its first line. A JSON file is still parsed by JSON.parse (JSON's rules, JSON's messages).
  const lines = new LineCounter();
  const doc = parseDocument(text, { prettyErrors: true, uniqueKeys: false, lineCounter: lines });
  try {
    if (json) data = JSON.parse(text);
    else if (doc.errors[0] !== undefined) throw doc.errors[0];
    else {
      for (const w of doc.warnings) process.emitWarning(w); // (as yaml's parse() does)
      data = doc.toJS();
    }
  } catch (err) {
    const first = (err as Error).message.split('\n')[0];
    throw new OptionError(ErrorCode.badOption, `${label}not ${json ? 'JSON' : 'YAML'} (${first})`, {
      option: 'config',
    });
  }
  const twice = doc.errors.length === 0 ? duplicateKey(doc.contents, '', lines) : undefined;
  if (twice !== undefined) throw new OptionError(ErrorCode.badOption, `${label}${twice}`, { option: 'config' });
  if (data === null || typeof data !== 'object' || Array.isArray(data)) {
    throw new OptionError(ErrorCode.badOption, `${label}expected a mapping of options (components, brokers, ...)`, {
      option: 'config',
    });
  }
  return relativeTo(dirname(resolve(file)), data as Record<string, unknown>);
}

/**
 * The first key given twice in one mapping, anywhere in the document: `duplicate key
 * 'components[0].name' at line 7 (first given at line 5): keep one`.
 */
function duplicateKey(node: unknown, at: string, lines: LineCounter): string | undefined {
  if (isSeq(node)) {
    for (const [i, item] of node.items.entries()) {
      const found = duplicateKey(item, `${at}[${i}]`, lines);
      if (found !== undefined) return found;
    }
  } else if (isMap(node)) {
    const seen = new Map<string, number>();
    for (const { key, value } of node.items) {
      if (!isScalar(key)) continue;
      const path = at === '' ? String(key.value) : `${at}.${String(key.value)}`;
      const line = lines.linePos(key.range?.[0] ?? 0).line;
      const first = seen.get(path);
      if (first !== undefined)
        return `duplicate key '${path}' at line ${line} (first given at line ${first}): keep one`;
      seen.set(path, line);
      const found = duplicateKey(value, path, lines);
      if (found !== undefined) return found;
    }
  }
  return undefined;
}

/** The file's paths made absolute against `dir`; everything else as it was (wrong types are the schema's to report). */
function relativeTo(dir: string, config: Record<string, unknown>): Record<string, unknown> {
  const at = (p: unknown): unknown => (typeof p === 'string' && p !== '' && !isAbsolute(p) ? resolve(dir, p) : p);
  const out: Record<string, unknown> = { ...config };
  if (Array.isArray(config['components'])) {
    out['components'] = config['components'].map((c: unknown) =>
      c !== null && typeof c === 'object' && !Array.isArray(c) && 'path' in c
        ? { ...(c as Record<string, unknown>), path: at((c as Record<string, unknown>)['path']) }
        : c,
    );
  }
  if ('cacheDir' in config) out['cacheDir'] = at(config['cacheDir']);
  return out;
}
