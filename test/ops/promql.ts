// A small PromQL scanner for linting dashboard queries: it finds every vector selector (metric name and label
// matchers), every grouping label (by, without, on, ignoring, group_left, group_right) and every range window.
// It does not validate syntax; the dashboard test sends each query to a real Prometheus for that.

export interface Matcher {
  label: string;
  op: string;
  value: string;
}
export interface Selector {
  metric: string;
  matchers: Matcher[];
}
export interface Scan {
  selectors: Selector[];
  groupingLabels: string[];
  windows: string[];
}

const grouping = new Set(['by', 'without', 'on', 'ignoring', 'group_left', 'group_right']);
const keywords = new Set(['and', 'or', 'unless', 'bool', 'offset', 'atan2', 'inf', 'nan']);
const aggregators = new Set(['sum', 'min', 'max', 'avg', 'group', 'stddev', 'stdvar', 'count', 'count_values', 'bottomk', 'topk', 'quantile']);
const identStart = /[A-Za-z_:]/;
const identPart = /[A-Za-z0-9_:]/;

export function scan(expr: string): Scan {
  const out: Scan = { selectors: [], groupingLabels: [], windows: [] };
  let i = 0;
  const skipSpace = () => {
    while (i < expr.length && /\s/.test(expr[i] ?? '')) i++;
  };
  const readString = (): string => {
    const quote = expr[i];
    let value = '';
    i++;
    while (i < expr.length && expr[i] !== quote) {
      if (expr[i] === '\\') i++;
      value += expr[i] ?? '';
      i++;
    }
    i++;
    return value;
  };
  const readIdent = (): string => {
    const start = i;
    while (i < expr.length && identPart.test(expr[i] ?? '')) i++;
    return expr.slice(start, i);
  };
  const readMatchers = (): Matcher[] => {
    const matchers: Matcher[] = [];
    i++; // {
    for (;;) {
      skipSpace();
      if (i >= expr.length) throw new Error(`unclosed { in ${expr}`);
      if (expr[i] === '}') { i++; return matchers; }
      if (expr[i] === ',') { i++; continue; }
      const label = readIdent();
      skipSpace();
      const op = /^(=~|!~|!=|=)/.exec(expr.slice(i))?.[0];
      if (label === '' || op === undefined) throw new Error(`bad matcher at ${i} in ${expr}`);
      i += op.length;
      skipSpace();
      matchers.push({ label, op, value: readString() });
    }
  };

  while (i < expr.length) {
    const c = expr[i] ?? '';
    if (/\s/.test(c)) { i++; continue; }
    if (c === '"' || c === "'" || c === '`') { readString(); continue; }
    if (c === '[') {
      const end = expr.indexOf(']', i);
      if (end < 0) throw new Error(`unclosed [ in ${expr}`);
      out.windows.push(expr.slice(i + 1, end));
      i = end + 1;
      continue;
    }
    if (c === '{') { out.selectors.push({ metric: '', matchers: readMatchers() }); continue; }
    if (/[0-9.]/.test(c)) { while (i < expr.length && /[0-9A-Za-z.]/.test(expr[i] ?? '')) i++; continue; }
    if (!identStart.test(c)) { i++; continue; }

    const ident = readIdent();
    skipSpace();
    const next = expr[i];
    if (grouping.has(ident)) {
      if (next === '(') {
        const end = expr.indexOf(')', i);
        out.groupingLabels.push(...expr.slice(i + 1, end).split(',').map((s) => s.trim()).filter((s) => s !== ''));
        i = end + 1;
      }
      continue;
    }
    if (keywords.has(ident) || next === '(') continue;
    if (aggregators.has(ident) && /^(by|without)\b/.test(expr.slice(i))) continue;
    out.selectors.push({ metric: ident, matchers: next === '{' ? readMatchers() : [] });
  }
  return out;
}
