/** A child process whose output lines are collected and can be awaited. */

export interface RunningProcess {
  child: Deno.ChildProcess;
  lines: string[];
  /** Resolves with the first output line matching `predicate`, or rejects after `timeoutMs`. */
  waitForLine(predicate: (line: string) => boolean, timeoutMs: number): Promise<string>;
  /** Sends `signal` and waits for the exit code. */
  stop(signal?: Deno.Signal): Promise<number>;
  exited: Promise<number>;
}

export interface SpawnOptions {
  cwd?: string;
  env?: Record<string, string>;
  /** Also copy every output line to this process's stderr. */
  echo?: boolean;
}

export function spawnProcess(argv: string[], options: SpawnOptions = {}): RunningProcess {
  const [command, ...args] = argv;
  const child = new Deno.Command(command, {
    args,
    cwd: options.cwd,
    env: options.env,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const lines: string[] = [];
  const waiters = new Set<(line: string) => void>();
  const collect = async (stream: ReadableStream<Uint8Array>) => {
    for await (const line of stream.pipeThrough(new TextDecoderStream()).pipeThrough(new LineSplitter())) {
      lines.push(line);
      if (options.echo) console.error(line);
      for (const waiter of waiters) waiter(line);
    }
  };
  const drained = Promise.all([collect(child.stdout), collect(child.stderr)]);
  const exited = child.status.then(async (status) => {
    await drained;
    return status.code;
  });

  return {
    child,
    lines,
    exited,
    waitForLine(predicate, timeoutMs) {
      const seen = lines.find(predicate);
      if (seen) return Promise.resolve(seen);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          waiters.delete(onLine);
          reject(new Error(`no matching output line within ${timeoutMs} ms; output:\n${lines.join("\n")}`));
        }, timeoutMs);
        const onLine = (line: string) => {
          if (!predicate(line)) return;
          clearTimeout(timer);
          waiters.delete(onLine);
          resolve(line);
        };
        waiters.add(onLine);
        exited.then((code) => {
          if (!waiters.has(onLine)) return;
          clearTimeout(timer);
          waiters.delete(onLine);
          reject(
            new Error(`process exited with ${code} before the expected line; output:\n${lines.join("\n")}`),
          );
        });
      });
    },
    async stop(signal = "SIGTERM") {
      try {
        child.kill(signal);
      } catch {
        // already gone
      }
      return await exited;
    },
  };
}

class LineSplitter extends TransformStream<string, string> {
  constructor() {
    let pending = "";
    super({
      transform(chunk, controller) {
        pending += chunk;
        const parts = pending.split("\n");
        pending = parts.pop() ?? "";
        for (const part of parts) controller.enqueue(part);
      },
      flush(controller) {
        if (pending) controller.enqueue(pending);
      },
    });
  }
}
