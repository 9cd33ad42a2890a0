/**
 * Reads a Dockerfile into stages of instructions, enough to check its shape
 * without a Docker engine: comments, line continuations, `FROM … AS name`,
 * flags such as `--from=` and `--chown=`, and the JSON (exec) form.
 */

export interface Instruction {
  /** Upper case, e.g. `COPY`. */
  keyword: string;
  /** Leading `--name=value` flags. */
  flags: Record<string, string>;
  /** The rest of the line after the flags, continuations joined. */
  args: string;
  line: number;
}

export interface Stage {
  name: string;
  /** The image or stage it starts from. */
  from: string;
  fromFlags: Record<string, string>;
  instructions: Instruction[];
}

export function parseDockerfile(text: string): Stage[] {
  const stages: Stage[] = [];
  for (const instruction of logicalLines(text).map(toInstruction)) {
    if (instruction.keyword === "FROM") {
      const [from, as, name, ...rest] = instruction.args.split(/\s+/);
      if (as !== undefined && (as.toUpperCase() !== "AS" || !name || rest.length > 0)) {
        throw new Error(`line ${instruction.line}: cannot read FROM ${instruction.args}`);
      }
      stages.push({
        name: name ?? String(stages.length),
        from,
        fromFlags: instruction.flags,
        instructions: [],
      });
    } else {
      const stage = stages.at(-1);
      if (!stage) throw new Error(`line ${instruction.line}: ${instruction.keyword} before the first FROM`);
      stage.instructions.push(instruction);
    }
  }
  return stages;
}

/** The stage and the stages it is built FROM, nearest first. */
export function stageChain(stages: Stage[], name: string): Stage[] {
  const chain: Stage[] = [];
  let stage = stages.find((s) => s.name === name);
  while (stage) {
    chain.push(stage);
    const parent: string = stage.from;
    stage = stages.find((s) => s.name === parent);
  }
  if (chain.length === 0) throw new Error(`no stage named ${name}`);
  return chain;
}

/** The instructions a stage ends up with, its own and inherited, oldest first. */
export function effectiveInstructions(stages: Stage[], name: string, keyword: string): Instruction[] {
  return stageChain(stages, name).reverse().flatMap((stage) =>
    stage.instructions.filter((instruction) => instruction.keyword === keyword)
  );
}

/** `["/a", "b"]` → ["/a", "b"]; the shell form splits on white space. */
export function argumentList(args: string): string[] {
  return args.trimStart().startsWith("[") ? JSON.parse(args) : args.trim().split(/\s+/);
}

/** `A=1 B=2` (ENV's key=value form) → { A: "1", B: "2" }. */
export function keyValues(args: string): Record<string, string> {
  const values: Record<string, string> = {};
  for (const pair of args.trim().split(/\s+/)) {
    const eq = pair.indexOf("=");
    if (eq <= 0) throw new Error(`expected KEY=value, got "${pair}"`);
    values[pair.slice(0, eq)] = pair.slice(eq + 1).replace(/^"(.*)"$/, "$1");
  }
  return values;
}

function logicalLines(text: string): { text: string; line: number }[] {
  const lines: { text: string; line: number }[] = [];
  let current: { text: string; line: number } | undefined;
  for (const [index, raw] of text.split("\n").entries()) {
    const trimmed = raw.trim();
    // Comments may sit between continuation lines; Docker drops them there too.
    if (trimmed.startsWith("#")) continue;
    if (!current && trimmed === "") continue;
    const continues = trimmed.endsWith("\\");
    const part = continues ? trimmed.slice(0, -1) : trimmed;
    current = current ? { ...current, text: `${current.text} ${part}` } : { text: part, line: index + 1 };
    if (!continues) {
      lines.push(current);
      current = undefined;
    }
  }
  if (current) lines.push(current);
  return lines;
}

function toInstruction({ text, line }: { text: string; line: number }): Instruction {
  const match = text.match(/^(\S+)\s*(.*)$/s);
  if (!match) throw new Error(`line ${line}: empty instruction`);
  const flags: Record<string, string> = {};
  let args = match[2];
  for (let flag = args.match(/^--([a-z-]+)=(\S+)\s*/); flag; flag = args.match(/^--([a-z-]+)=(\S+)\s*/)) {
    flags[flag[1]] = flag[2];
    args = args.slice(flag[0].length);
  }
  return { keyword: match[1].toUpperCase(), flags, args: args.trim(), line };
}
