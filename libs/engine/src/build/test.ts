import type { SolveSummary } from '@melange2/buildkit';
import type { BuildPlan, PlanTest } from '../compile/plan.js';
import { buildGraph } from '../llb/graph.js';
import { buildCacheOf, type CommonRequest, planBuild, prepareEnvironment, solveWith } from './build.js';
import { BuildError } from './errors.js';

export interface TestRunResult {
  readonly package: string;
  readonly environment: readonly string[];
  readonly summary: SolveSummary;
}

/** A test run: the build's inputs, and packages added to every test environment. */
export interface TestRequest extends CommonRequest {
  /** melange's `--test-package-append`: installed in every test environment (Wolfi passes `wolfi-base`). */
  readonly testPackageAppend?: readonly string[];
}

export interface TestResult {
  readonly plan: BuildPlan;
  /** One entry per package with a `test:` section (main first). */
  readonly tests: readonly TestRunResult[];
}

/** A test as a plan of its own: the test's steps on its environment, no outputs. */
function testPlan(plan: BuildPlan, t: PlanTest): BuildPlan {
  return { ...plan, packages: [], steps: t.steps, environment: t.environment, tests: [] };
}

/**
 * Runs the config's `test:` pipelines in BuildKit (what melange2 left on the old runners): for each
 * tested package, a fresh environment of the test's packages plus the package itself, resolved
 * from the output repository first, then the test steps. The first failing test throws a
 * {@link BuildError} carrying the step's output.
 */
export async function testPackage(req: TestRequest): Promise<TestResult> {
  const { plan } = planBuild(req);
  const results: TestRunResult[] = [];
  for (const t of plan.tests) {
    req.onEvent?.({ type: 'stage', stage: 'environment', arch: req.arch });
    // The build environment's repositories serve the test too (tests usually name none).
    const append = (req.testPackageAppend ?? []).filter((p) => !t.environment.packages.includes(p));
    const environment = { ...t.environment, packages: [...t.environment.packages, ...append] };
    const layers = await prepareEnvironment(
      req,
      environment,
      plan.environment.repositories,
      plan.sourceDateEpoch,
    );
    if (t.steps.length === 0) {
      results.push({
        package: t.package,
        environment: layers.packages,
        summary: { total: 0, cached: 0, executed: 0, errored: 0, durationMs: 0 },
      });
      continue;
    }
    const { localDirs: cacheDirs, ...cache } = buildCacheOf(req, t, false);
    const graph = buildGraph(testPlan(plan, { ...t, environment }), {
      environment: layers.state,
      ...cache,
      ...(req.stepGrouping ? { grouping: req.stepGrouping } : {}),
    });
    req.onEvent?.({ type: 'stage', stage: 'solve', arch: req.arch });
    const { result } = await solveWith(
      req,
      graph.definition,
      { ...layers.localDirs, ...cacheDirs },
      undefined,
      `test ${t.package}`,
      t.steps,
    );
    results.push({ package: t.package, environment: layers.packages, summary: result.summary });
  }
  if (results.length === 0)
    throw new BuildError('config', req.configFile, req.arch, `${req.configFile}: no test: section to run`);
  return { plan, tests: results };
}
