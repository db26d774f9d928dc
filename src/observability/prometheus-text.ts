// Prometheus text exposition format 0.0.4: metric families with HELP/TYPE lines, escaped label values,
// histograms as cumulative _bucket{le} series plus _sum and _count.
export type Labels = Readonly<Record<string, string>>

export interface Sample {
  labels: Labels
  value: number
}

export interface HistogramSample {
  labels: Labels
  /** Upper bounds, ascending, without +Inf. */
  bounds: readonly number[]
  /** Cumulative counts per bound, then the +Inf count (bounds.length + 1 values). */
  cumulative: readonly number[]
  sum: number
}

export type Family =
  | { name: string; help: string; type: 'counter' | 'gauge'; samples: Sample[] }
  | { name: string; help: string; type: 'histogram'; samples: HistogramSample[] }

function escapeLabel(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')
}

function escapeHelp(text: string): string {
  return text.replace(/\\/g, '\\\\').replace(/\n/g, '\\n')
}

function labelText(labels: Labels, extra?: [string, string]): string {
  const parts = Object.entries(labels).map(([k, v]) => `${k}="${escapeLabel(v)}"`)
  if (extra !== undefined) parts.push(`${extra[0]}="${escapeLabel(extra[1])}"`)
  return parts.length === 0 ? '' : `{${parts.join(',')}}`
}

function num(n: number): string {
  if (Number.isNaN(n)) return 'NaN'
  if (n === Infinity) return '+Inf'
  if (n === -Infinity) return '-Inf'
  return String(n)
}

export function renderFamilies(families: readonly Family[]): string {
  let out = ''
  for (const f of families) {
    out += `# HELP ${f.name} ${escapeHelp(f.help)}\n# TYPE ${f.name} ${f.type}\n`
    if (f.type !== 'histogram') {
      for (const s of f.samples) out += `${f.name}${labelText(s.labels)} ${num(s.value)}\n`
      continue
    }
    for (const s of f.samples) {
      for (let i = 0; i < s.bounds.length; i++) out += `${f.name}_bucket${labelText(s.labels, ['le', num(s.bounds[i]!)])} ${s.cumulative[i]}\n`
      const count = s.cumulative[s.bounds.length]!
      out += `${f.name}_bucket${labelText(s.labels, ['le', '+Inf'])} ${count}\n`
      out += `${f.name}_sum${labelText(s.labels)} ${num(s.sum)}\n${f.name}_count${labelText(s.labels)} ${count}\n`
    }
  }
  return out
}
