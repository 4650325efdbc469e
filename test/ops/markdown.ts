// GitHub's heading anchors: lower case, punctuation other than `-` and `_` dropped, spaces to `-`.
export function slug(heading: string): string {
  return heading.trim().toLowerCase().replace(/[^\p{L}\p{N}\s_-]/gu, '').replace(/\s/g, '-');
}

export function headingAnchors(markdown: string): Set<string> {
  const anchors = new Set<string>();
  let fenced = false;
  for (const line of markdown.split('\n')) {
    if (line.startsWith('```')) fenced = !fenced;
    const m = /^#{1,6}\s+(.*)$/.exec(line);
    if (!fenced && m !== null) anchors.add(slug(m[1] ?? ''));
  }
  return anchors;
}
