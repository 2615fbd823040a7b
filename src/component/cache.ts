import { createHash, randomBytes } from 'node:crypto';
import { mkdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';

/**
 * On-disk cache of jco's transpiled output, one directory per (transpiler version, component
 * content hash). An entry is written to a temporary directory and renamed into place, so a
 * reader never sees half an entry; every file's hash is in the manifest, so a corrupt or
 * tampered entry is detected on read and rebuilt.
 */

export const MANIFEST = 'manifest.json';
/** 2: the world description's hash (`witHash`) is kept and checked too. */
const MANIFEST_VERSION = 2;

export interface CacheManifest {
  readonly version: number;
  readonly key: string;
  /** File name → sha256 of its contents. */
  readonly files: Record<string, string>;
  /** The component's world as wasm-tools prints it (`component wit`). */
  readonly wit: string;
  /** sha256 of `wit`: the world is recognised from it, so a changed one is a corrupt entry too. */
  readonly witHash: string;
}

export interface CacheEntry {
  readonly dir: string;
  readonly manifest: CacheManifest;
  readonly files: Map<string, Uint8Array>;
}

export function defaultCacheDir(): string {
  const env = process.env['WASMSG_CACHE_DIR'];
  if (env !== undefined && env !== '') return env;
  const xdg = process.env['XDG_CACHE_HOME'];
  return join(xdg !== undefined && xdg !== '' ? xdg : join(homedir(), '.cache'), 'wasmsg');
}

export function sha256(bytes: Uint8Array | string): string {
  return createHash('sha256').update(bytes).digest('hex');
}

export type CacheReadResult =
  { status: 'hit'; entry: CacheEntry } | { status: 'miss' } | { status: 'corrupt'; why: string };

export async function readEntry(cacheDir: string, key: string): Promise<CacheReadResult> {
  const dir = join(cacheDir, key);
  let manifest: CacheManifest;
  try {
    manifest = JSON.parse(await readFile(join(dir, MANIFEST), 'utf8')) as CacheManifest;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { status: 'miss' };
    return { status: 'corrupt', why: `unreadable manifest (${(err as Error).message})` };
  }
  if (manifest.version !== MANIFEST_VERSION || manifest.key !== key || typeof manifest.files !== 'object') {
    return { status: 'corrupt', why: 'manifest does not match this entry' };
  }
  if (typeof manifest.wit !== 'string' || sha256(manifest.wit) !== manifest.witHash) {
    return { status: 'corrupt', why: 'the world description in the manifest does not match its hash' };
  }
  const files = new Map<string, Uint8Array>();
  for (const [name, hash] of Object.entries(manifest.files)) {
    let bytes: Uint8Array;
    try {
      bytes = await readFile(join(dir, name));
    } catch {
      return { status: 'corrupt', why: `missing file ${name}` };
    }
    if (sha256(bytes) !== hash) return { status: 'corrupt', why: `file ${name} does not match its hash` };
    files.set(name, bytes);
  }
  return { status: 'hit', entry: { dir, manifest, files } };
}

export async function writeEntry(
  cacheDir: string,
  key: string,
  files: Map<string, Uint8Array>,
  meta: { wit: string },
): Promise<CacheEntry> {
  const dir = join(cacheDir, key);
  const tmp = `${dir}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
  await mkdir(tmp, { recursive: true });
  const hashes: Record<string, string> = {};
  for (const [name, bytes] of files) {
    await writeFile(join(tmp, name), bytes);
    hashes[name] = sha256(bytes);
  }
  const manifest: CacheManifest = { version: MANIFEST_VERSION, key, files: hashes, ...meta, witHash: sha256(meta.wit) };
  await writeFile(join(tmp, MANIFEST), JSON.stringify(manifest, null, 2));
  // Renamed into place only where no good entry is: an entry is never removed while it may be
  // another writer's fresh one (or in use: the glue is imported from it). Before, each writer
  // removed the directory first, and writers racing on a cold cache (two engines starting
  // together) failed with ENOTEMPTY from the removal or the rename.
  for (let attempt = 1; ; attempt++) {
    try {
      await rename(tmp, dir);
      return { dir, manifest, files };
    } catch (err) {
      // (Windows refuses a rename onto a directory with EPERM or EACCES)
      const code = (err as NodeJS.ErrnoException).code;
      const taken = code === 'ENOTEMPTY' || code === 'EEXIST' || code === 'EPERM' || code === 'EACCES';
      const judged = taken ? await inodeOf(dir) : undefined; // the entry read below, as it was
      if (taken && judged === undefined && attempt < 3) continue; // (gone meanwhile: try again)
      const there = taken ? await readEntry(cacheDir, key) : undefined;
      if (there?.status === 'hit' || there === undefined || attempt === 3) {
        // another writer's entry is in place first: theirs is as good as ours
        await rm(tmp, { recursive: true, force: true });
        if (there?.status === 'hit') return there.entry;
        throw err;
      }
      // a corrupt entry: moved aside in one step, then removed — unless what is there (or was
      // moved) is not the one judged corrupt: another writer replaced it meanwhile and may have
      // returned it to a caller, so it stays (or goes back, leaving `dir` empty only between the
      // two renames) and is judged again
      const aside = `${dir}.old-${process.pid}-${randomBytes(4).toString('hex')}`;
      if ((await inodeOf(dir)) !== judged) continue;
      const moved = await rename(dir, aside).then(
        () => true,
        () => false,
      );
      if (!moved) continue;
      if ((await inodeOf(aside)) !== judged) {
        const back = await rename(aside, dir).then(
          () => true,
          () => false,
        );
        if (back) continue;
      }
      await rm(aside, { recursive: true, force: true });
    }
  }
}

/** A directory's inode number, or undefined if it is not there. */
const inodeOf = (path: string): Promise<number | undefined> =>
  stat(path).then(
    (s) => s.ino,
    () => undefined,
  );
