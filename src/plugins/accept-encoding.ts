// Picks a content coding from a request's Accept-Encoding (RFC 9110 §12.5.3): q-values, `*`, `identity`,
// and the server's order of preference among codings the client weights equally.

export type Coding = 'br' | 'gzip'

/** What the client said about one coding: its q-value, or -1 when it did not name it. */
interface Weights {
  br: number
  gzip: number
  star: number
}

/** A q-value (`q=0.5`, `q=1`, three decimals at most); malformed parameters count as q=1, as most servers read them. */
function qValue(params: string): number {
  const m = /(?:^|;)\s*q\s*=\s*([0-9.]+)\s*(?:;|$)/i.exec(params)
  if (m === null) return 1
  const q = Number(m[1])
  return Number.isFinite(q) && q >= 0 && q <= 1 ? q : 1
}

function weights(header: string): Weights {
  const w: Weights = { br: -1, gzip: -1, star: -1 }
  for (const item of header.split(',')) {
    const semi = item.indexOf(';')
    const token = (semi === -1 ? item : item.slice(0, semi)).trim().toLowerCase()
    const q = semi === -1 ? 1 : qValue(item.slice(semi + 1))
    // x-gzip is gzip (RFC 9110 §8.4.1.3); a coding listed twice keeps its best weight.
    if (token === 'br') w.br = Math.max(w.br, q)
    else if (token === 'gzip' || token === 'x-gzip') w.gzip = Math.max(w.gzip, q)
    else if (token === '*') w.star = Math.max(w.star, q)
  }
  return w
}

/**
 * The coding to use for a response, or null for none (identity). `preference` lists the codings the gateway
 * offers, best first; among codings with the same q-value the earlier one wins. A coding not named takes
 * `*`'s weight; q=0 refuses. No Accept-Encoding at all means identity (RFC 9110 allows any, but clients
 * that send none rarely decode anything).
 */
export function negotiate(header: string | undefined, preference: readonly Coding[]): Coding | null {
  if (header === undefined) return null
  const w = weights(header)
  let best: Coding | null = null
  let bestQ = 0
  for (const coding of preference) {
    const named = w[coding]
    const q = named >= 0 ? named : w.star >= 0 ? w.star : 0
    if (q > bestQ) {
      best = coding
      bestQ = q
    }
  }
  return best
}
