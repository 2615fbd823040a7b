import assert from 'node:assert/strict';
import { test } from 'node:test';
import { captureStderr } from './helpers.js';

test('captureStderr: captures released out of order each keep what was written while they were open', () => {
  // before: each capture wrapped the write it found; releasing the first put back the original
  // write, and the second capture, still open, saw nothing more
  const a = captureStderr();
  const b = captureStderr();
  process.stderr.write('# one\n');
  a.release();
  process.stderr.write('# two\n');
  b.release();
  process.stderr.write('# three\n');
  assert.deepEqual(a.lines, ['# one\n']);
  assert.deepEqual(b.lines, ['# one\n', '# two\n']);
});
