import { readFile } from 'node:fs/promises';
import { dirname, extname, isAbsolute, resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
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
  try {
    data = json ? JSON.parse(text) : parseYaml(text, { prettyErrors: true });
  } catch (err) {
    const first = (err as Error).message.split('\n')[0];
    throw new OptionError(ErrorCode.badOption, `${label}not ${json ? 'JSON' : 'YAML'} (${first})`, {
      option: 'config',
    });
  }
  if (data === null || typeof data !== 'object' || Array.isArray(data)) {
    throw new OptionError(ErrorCode.badOption, `${label}expected a mapping of options (components, brokers, ...)`, {
      option: 'config',
    });
  }
  return relativeTo(dirname(resolve(file)), data as Record<string, unknown>);
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
