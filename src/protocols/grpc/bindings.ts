// The method table: every HTTP binding (additional_bindings included) grouped by HTTP method and
// tried most specific first; a miss is null (404, gRPC code 5), a hit carries the decoded variables.
import { compareSpecificity, decodeVariable, matchTemplate, PathSegments, type PathTemplate } from './http-template.js'

export interface TableEntry {
  readonly httpMethod: string
  readonly template: PathTemplate
  readonly variableMulti: readonly boolean[]
}

export interface TableMatch<B extends TableEntry> {
  readonly binding: B
  readonly values: readonly string[]
}

export class BindingTable<B extends TableEntry> {
  private readonly byMethod = new Map<string, B[]>()
  /** Scratch state for one match at a time (a worker handles one request at a time on its thread). */
  private readonly segments = new PathSegments()
  private spans = new Int32Array(16)

  constructor(bindings: readonly B[]) {
    let most = 0
    for (const b of bindings) {
      const list = this.byMethod.get(b.httpMethod)
      if (list === undefined) this.byMethod.set(b.httpMethod, [b])
      else list.push(b)
      most = Math.max(most, b.template.variables.length)
    }
    // Array.prototype.sort is stable: equally specific templates keep file order, the first one wins.
    for (const list of this.byMethod.values()) list.sort((a, b) => compareSpecificity(a.template, b.template))
    this.spans = new Int32Array(Math.max(2, most * 2))
  }

  /** `method` as the client sent it (matched case-sensitively, then upper-cased); `path` without the query. */
  match(method: string, path: string): TableMatch<B> | null {
    const list = this.byMethod.get(method) ?? this.byMethod.get(method.toUpperCase())
    if (list === undefined || !this.segments.reset(path)) return null
    for (let i = 0; i < list.length; i++) {
      const b = list[i]
      if (!matchTemplate(b.template, this.segments, this.spans)) continue
      const n = b.template.variables.length
      const values = new Array<string>(n)
      for (let v = 0; v < n; v++) values[v] = decodeVariable(path.slice(this.spans[2 * v], this.spans[2 * v + 1]), b.variableMulti[v])
      return { binding: b, values }
    }
    return null
  }
}
