import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';

/** Debian's chromium, headless, for the bench report tests (scripts/setup-debian.sh installs it). */

/** The element with this id and everything up to its closing tag (no nesting of the same tag inside). */
export function element(dom: string, tag: string, id: string): string {
  const start = dom.search(new RegExp(`<${tag}[^>]*\\bid="${id}"`));
  assert.ok(start >= 0, `no <${tag} id="${id}"> in the rendered page`);
  const end = dom.indexOf(`</${tag}>`, start);
  assert.ok(end > start, `<${tag} id="${id}"> is not closed`);
  return dom.slice(start, end);
}

export function chromium(args: readonly string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(
      'chromium',
      ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-extensions', ...args],
      { timeout: 90_000, maxBuffer: 32 * 1024 * 1024 },
      (err, stdout, stderr) => {
        if (err !== null && (err as NodeJS.ErrnoException).code === 'ENOENT') {
          reject(new Error('chromium not found: run `bash scripts/setup-debian.sh` (installs Debian chromium)'));
        } else if (err !== null) {
          reject(new Error(`chromium failed: ${err.message}\n${stderr}`));
        } else resolve(stdout);
      },
    );
  });
}
