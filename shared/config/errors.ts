/** The one error type configuration loading throws: it lists every problem found, not just the first. */

export interface ConfigProblem {
  /** Schema key the problem is about, when it is about one. */
  readonly key?: string;
  /** Where the offending value came from: `flag --x`, `env OTTERSCALE_X`, `file ./config.yaml:3`, `default`. */
  readonly source?: string;
  readonly reason: string;
}

export class ConfigError extends Error {
  readonly problems: readonly ConfigProblem[];

  constructor(problems: readonly ConfigProblem[]) {
    super(formatProblems(problems));
    this.name = "ConfigError";
    this.problems = problems;
  }
}

function formatProblems(problems: readonly ConfigProblem[]): string {
  if (problems.length === 1) return `invalid configuration: ${formatProblem(problems[0])}`;
  const lines = problems.map((p) => `  - ${formatProblem(p)}`);
  return [`invalid configuration (${problems.length} problems):`, ...lines].join("\n");
}

function formatProblem(problem: ConfigProblem): string {
  const where = problem.source ? ` (from ${problem.source})` : "";
  if (problem.key) return `${problem.key}${where}: ${problem.reason}`;
  return problem.source ? `${problem.source}: ${problem.reason}` : problem.reason;
}
