// Reading Prometheus text exposition in tests: samples as [name, labels, value], summed or picked by labels.

export type Samples = [string, Record<string, string>, number][]

/** `name{labels} value` lines of the exposition, as [name, labels, value]. */
export function samples(text: string): Samples {
  const out: Samples = []
  for (const line of text.split('\n')) {
    const m = /^([a-z_]+)(?:\{(.*)\})? (\S+)$/.exec(line)
    if (m === null) continue
    const labels: Record<string, string> = {}
    for (const l of (m[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]!] = l[2]!
    out.push([m[1]!, labels, Number(m[3])])
  }
  return out
}

/** The sum of every sample of `name` whose labels include `where`. */
export function sum(all: Samples, name: string, where: Record<string, string> = {}): number {
  return all.filter(([n, l]) => n === name && Object.entries(where).every(([k, v]) => l[k] === v)).reduce((a, [, , v]) => a + v, 0)
}
