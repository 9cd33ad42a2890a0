/** Benchmark results as a printed table and as JSON. */

export interface BenchRow {
  suite: string;
  name: string;
  /** Column name → value; numbers are printed with 3 decimals. */
  values: Record<string, number | string>;
}

export function formatTable(rows: BenchRow[]): string {
  const columns = ["suite", "name", ...new Set(rows.flatMap((r) => Object.keys(r.values)))];
  const cells = rows.map((row) =>
    columns.map((column) => {
      if (column === "suite") return row.suite;
      if (column === "name") return row.name;
      const value = row.values[column];
      if (value === undefined) return "";
      return typeof value === "number" ? value.toFixed(3) : value;
    })
  );
  const widths = columns.map((c, i) => Math.max(c.length, ...cells.map((r) => r[i].length)));
  const line = (values: string[]) =>
    values.map((v, i) => (i < 2 ? v.padEnd(widths[i]) : v.padStart(widths[i]))).join("  ");
  return [line(columns), line(widths.map((w) => "-".repeat(w))), ...cells.map(line)].join("\n");
}
