// The plain-data description of a loaded proto that crosses from the primary to the workers:
// a protobufjs JSON descriptor plus every HTTP binding, structured-clone safe, no class instances.

/** One google.api.http rule (a primary rule or one of its additional_bindings). */
export interface DescribedRule {
  /** 'GET' | 'PUT' | 'POST' | 'DELETE' | 'PATCH', or a custom pattern's kind as written. */
  readonly method: string
  /** The path template as written ('/v1/{name=shelves/*}'). */
  readonly path: string
  /** '' (no body), '*' (the whole message) or a top-level field name of the request. */
  readonly body: string
  /** '' (the whole response) or a top-level field name of the response. */
  readonly responseBody: string
}

export interface DescribedMethod {
  /** '/bookstore.v1.Bookstore/GetBook' */
  readonly grpcPath: string
  /** Fully qualified, with the leading dot ('.bookstore.v1.GetBookRequest'). */
  readonly requestType: string
  readonly responseType: string
  readonly serverStreaming: boolean
  readonly clientStreaming: boolean
  readonly rules: readonly DescribedRule[]
}

export interface DescribedProto {
  /** protobufjs `Root.toJSON()` of every loaded file (fields keep their proto names). */
  readonly descriptor: Record<string, unknown>
  /** Methods with at least one google.api.http rule, in file order. */
  readonly methods: readonly DescribedMethod[]
}
