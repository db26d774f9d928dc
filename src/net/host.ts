// The host part of a Host header value (`name`, `name:port`, `[v6]`, `[v6]:port`), byte for byte.

/** `host` without its `:port`; a bracketed IPv6 literal keeps its brackets. */
export function stripPort(host: string): string {
  if (host.startsWith('[')) {
    const end = host.indexOf(']')
    return end < 0 ? host : host.slice(0, end + 1)
  }
  const colon = host.indexOf(':')
  return colon < 0 ? host : host.slice(0, colon)
}
