// Static checks for the Grafana dashboards: variables, data sources, units, ids, and the metrics, matchers,
// grouping labels and windows of every query. Returns one line per problem; an empty list means clean.
// Grafana's dashboard-linter itself runs in dashboard-linter.test.ts; these checks add what it does not know: this
// project's namespace and pod matchers, the metric names and labels stopline really exports, the grouping labels,
// and the grid. They also keep its rules (template-datasource-rule, panel-datasource-rule, template-job-rule,
// template-instance-rule, target-job-rule, target-instance-rule, target-rate-interval-rule,
// panel-title-description-rule, panel-units-rule) where the linter cannot be built.
// One exception, with its reason: the cAdvisor and kube-state-metrics series of the USE row carry those exporters'
// `job` and `instance`, never stopline's, so they are matched on container="stopline" instead of job and instance.
import { scan } from './promql.ts';

export interface LintRules {
  /** Series names a query may select, each with the labels it may be matched on. */
  series: Map<string, Set<string>>;
  /** Labels a query may group or join on. */
  labels: Set<string>;
  /** Series of other exporters (cAdvisor, kube-state-metrics), with their labels: matched on container, not job. */
  external?: Map<string, Set<string>>;
}

type Json = Record<string, unknown>;
const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);
const asArray = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);
const allowedWindows = new Set(['$__rate_interval']);

export interface Query {
  /** `panel <id> "<title>" <refId>`, for messages. */
  where: string;
  expr: string;
}

/** Every target expression of every panel, rows' nested panels included. */
export function queries(dashboard: Json): Query[] {
  return panels(dashboard).flatMap((p) =>
    asArray(p.targets).filter(isObject).map((t) => ({ where: `panel ${String(p.id)} "${String(p.title)}" ${String(t.refId)}`, expr: String(t.expr ?? '') })),
  );
}

function panels(dashboard: Json): Json[] {
  return asArray(dashboard.panels).filter(isObject).flatMap((p) => [p, ...asArray(p.panels).filter(isObject)]);
}

function isDatasourceVariable(ds: unknown): boolean {
  return isObject(ds) && ds.type === 'prometheus' && ds.uid === '${datasource}';
}

export function lintDashboard(dashboard: Json, rules: LintRules): string[] {
  const problems: string[] = [];
  if (typeof dashboard.uid !== 'string' || dashboard.uid === '') problems.push('dashboard has no uid');
  if (typeof dashboard.schemaVersion !== 'number' || dashboard.schemaVersion < 39) problems.push('schemaVersion is below 39');
  if (asArray(dashboard.tags).length === 0) problems.push('dashboard has no tags');
  if ('__inputs' in dashboard) problems.push('dashboard has __inputs: provisioning cannot fill them');

  const variables = asArray(isObject(dashboard.templating) ? dashboard.templating.list : undefined).filter(isObject);
  const variable = (name: string) => variables.find((v) => v.name === name);
  const ds = variable('datasource');
  if (ds?.type !== 'datasource' || ds.query !== 'prometheus') problems.push('no `datasource` variable of type prometheus');
  for (const name of ['namespace', 'job', 'pod', 'instance']) {
    const v = variable(name);
    const query = isObject(v?.query) ? String(v.query.query) : String(v?.query ?? '');
    if (v?.type !== 'query') { problems.push(`no \`${name}\` query variable`); continue; }
    if (!query.startsWith('label_values(stopline_build_info') || !query.endsWith(`, ${name})`)) problems.push(`variable ${name}: query is not label_values(stopline_build_info…, ${name})`);
    if (v.multi !== true || v.includeAll !== true) problems.push(`variable ${name}: not multi-value with All`);
    if (v.allValue !== '.+') problems.push(`variable ${name}: All is not .+`);
    if (!isDatasourceVariable(v.datasource)) problems.push(`variable ${name}: data source is not \${datasource}`);
  }

  const ids = new Set<unknown>();
  for (const p of panels(dashboard)) {
    const where = `panel ${String(p.id)} "${String(p.title)}"`;
    if (ids.has(p.id)) problems.push(`${where}: duplicate id`);
    ids.add(p.id);
    if (p.type === 'row') continue;
    if (typeof p.title !== 'string' || p.title === '') problems.push(`${where}: no title`);
    if (typeof p.description !== 'string' || p.description === '') problems.push(`${where}: no description`);
    if (!isDatasourceVariable(p.datasource)) problems.push(`${where}: data source is not \${datasource}`);
    const defaults = isObject(p.fieldConfig) && isObject(p.fieldConfig.defaults) ? p.fieldConfig.defaults : {};
    if (typeof defaults.unit !== 'string' || defaults.unit === '') problems.push(`${where}: no unit`);
    const grid = isObject(p.gridPos) ? p.gridPos : {};
    if (Number(grid.x) + Number(grid.w) > 24) problems.push(`${where}: wider than the grid`);
    const targets = asArray(p.targets).filter(isObject);
    if (targets.length === 0) problems.push(`${where}: no targets`);
    const refIds = new Set<unknown>();
    for (const t of targets) {
      if (refIds.has(t.refId)) problems.push(`${where}: duplicate refId ${String(t.refId)}`);
      refIds.add(t.refId);
      if (!isDatasourceVariable(t.datasource)) problems.push(`${where}: target ${String(t.refId)} data source is not \${datasource}`);
      problems.push(...lintExpr(String(t.expr ?? '')).map((m) => `${where}: ${m}`));
    }
  }
  return problems;

  function lintExpr(expr: string): string[] {
    const found: string[] = [];
    let s;
    try {
      s = scan(expr);
    } catch (err) {
      return [(err as Error).message];
    }
    if (s.selectors.length === 0) found.push(`no metric in ${expr}`);
    for (const sel of s.selectors) {
      const external = rules.external?.get(sel.metric);
      const labels = rules.series.get(sel.metric) ?? external;
      if (labels === undefined) found.push(`unknown metric "${sel.metric}"`);
      for (const name of external === undefined ? ['namespace', 'job', 'pod', 'instance'] : ['namespace', 'pod']) {
        if (!sel.matchers.some((m) => m.label === name && m.op === '=~' && m.value === `$${name}`)) found.push(`${sel.metric} lacks ${name}=~"$${name}"`);
      }
      if (external !== undefined && !sel.matchers.some((m) => m.label === 'container' && m.op === '=' && m.value === 'stopline')) found.push(`${sel.metric} lacks container="stopline"`);
      for (const m of sel.matchers) if (labels !== undefined && !labels.has(m.label)) found.push(`${sel.metric}: unknown label "${m.label}"`);
    }
    for (const label of s.groupingLabels) if (!rules.labels.has(label) && ![...(rules.external?.values() ?? [])].some((l) => l.has(label))) found.push(`groups by unknown label "${label}"`);
    for (const w of s.windows) if (!allowedWindows.has(w)) found.push(`window [${w}] is not $__rate_interval`);
    return found;
  }
}
