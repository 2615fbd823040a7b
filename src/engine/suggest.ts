/** Did-you-mean for option keys (the schema's and the adapters'): it imports nothing, so any file may use it. */

/** Edit distance (insertions, deletions, substitutions), for did-you-mean. */
export function levenshtein(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) {
      cur[j] = Math.min(prev[j]! + 1, cur[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    prev = cur;
  }
  return prev[b.length]!;
}

/** The known key nearest to `key`, if it is near enough to be a typo. */
export function suggest(key: string, known: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const k of known) {
    const d = k.toLowerCase() === key.toLowerCase() ? 0 : levenshtein(key, k);
    if (d < bestDistance) [best, bestDistance] = [k, d];
  }
  return bestDistance <= Math.max(2, Math.floor(key.length / 3)) ? best : undefined;
}

/**
 * The did-you-mean phrase for an unknown `key`: `did you mean 'maxMessages'?` with the known key
 * nearest to it, or undefined when none is near enough (the caller then lists the known ones, or
 * says nothing). One wording for the schema's keys, the adapters' options and `--from` schemes.
 */
export function didYouMean(key: string, known: readonly string[]): string | undefined {
  const near = suggest(key, known);
  return near === undefined ? undefined : `did you mean '${near}'?`;
}
