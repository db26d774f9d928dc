// Status lines for uWS writeStatus ("200 OK" form), precomputed once so the hot path never
// concatenates a status string. Unknown codes get "<code> Unknown" as NGINX does.
import { STATUS_CODES } from 'node:http'

const LINES: string[] = []
for (let code = 100; code < 600; code++) LINES[code] = `${code} ${STATUS_CODES[code] ?? 'Unknown'}`

export function statusLine(code: number): string {
  return LINES[code] ?? `${code} Unknown`
}

export function reasonPhrase(code: number): string {
  return STATUS_CODES[code] ?? 'Unknown'
}
