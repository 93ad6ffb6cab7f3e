// The known name nearest to a misspelt one, for "did you mean" hints on unknown keys and flags.

/** Edit distance (insertions, deletions, substitutions, and swaps of neighbours) between two names. */
function distance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) =>
    Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)),
  );
  for (let i = 1; i <= a.length; i++)
    for (let j = 1; j <= b.length; j++) {
      d[i][j] = Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1])
        d[i][j] = Math.min(d[i][j], d[i - 2][j - 2] + 1);
    }
  return d[a.length][b.length];
}

/**
 * The name in `known` closest to `name` (case aside), or undefined when none is close enough to be a
 * likely typo: at most a third of the name's length away, and at least 1 for short names.
 */
export function nearestName(name: string, known: readonly string[]): string | undefined {
  const lower = name.toLowerCase();
  let best: string | undefined;
  let bestDistance = Math.max(1, Math.floor(name.length / 3)) + 1;
  for (const k of known) {
    const dist = distance(lower, k.toLowerCase());
    if (dist < bestDistance) {
      best = k;
      bestDistance = dist;
    }
  }
  return best;
}

/** ` (did you mean "x"?)` when a known name is near, else the empty string; `quote` wraps the name. */
export function didYouMean(name: string, known: readonly string[], quote = (n: string) => `"${n}"`): string {
  const near = nearestName(name, known);
  return near === undefined ? '' : ` (did you mean ${quote(near)}?)`;
}
