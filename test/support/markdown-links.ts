// The relative link targets of a markdown text: inline links and images `[t](target)`, and reference
// definitions `[t]: target`, with any #fragment or ?query cut off; links inside code are not links.
export function relativeLinks(markdown: string): string[] {
  const text = markdown.replace(/^(```|~~~)[^\n]*\n[\s\S]*?^\1[^\n]*$/gm, '').replace(/`[^`\n]*`/g, '');
  const targets = [
    ...[...text.matchAll(/!?\[(?:[^\]\\]|\\.)*\]\(\s*<?([^)\s>]+)>?(?:\s+["'(][^)]*)?\)/g)].map((m) => m[1]),
    ...[...text.matchAll(/^ {0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s|$)/gm)].map((m) => m[1]),
  ];
  const relative = targets
    .filter((t) => !/^([a-z][a-z0-9+.-]*:|#|\/\/)/i.test(t))
    .map((t) => decodeURI(t.replace(/[#?].*$/, '')).replace(/^\.\//, ''));
  return [...new Set(relative.filter(Boolean))];
}
