// key-auth, basic-auth and acl end to end (SPEC §3): the real gateway (2 worker threads) in front of an
// upstream that echoes what it received. Keys in a header, the query string and the body (which still
// reaches the upstream whole), hide_credentials, Kong's 401/403 bodies and WWW-Authenticate, anonymous,
// X-Consumer-* set upstream with forged ones removed, stacked auth plugins (logical OR), and plugin
// precedence once a consumer is known (consumer+route > consumer+service > route+service > consumer >
// route > service > global).
import http from 'node:http'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startGateway, type RunningGateway } from '../helpers/gateway.js'
import { request, type Reply } from '../helpers/http.js'
import { startUpstream, type Upstream } from '../helpers/upstream.js'

interface Echo {
  method: string
  url: string
  headers: Record<string, string>
  body: string
}

/** Echoes method, url, headers and the body text as JSON. */
const echoWithBody: http.RequestListener = (req, res) => {
  const chunks: Buffer[] = []
  req.on('data', (c: Buffer) => chunks.push(c))
  req.on('end', () => {
    const out = JSON.stringify({ method: req.method, url: req.url, headers: req.headers, body: Buffer.concat(chunks).toString('utf8') })
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(out) })
    res.end(out)
  })
}

const basic = (user: string, password: string): string => 'Basic ' + Buffer.from(`${user}:${password}`).toString('base64')

/** A 200 from the upstream: what it received. */
function echoed(r: Reply): Echo {
  expect(r.status, r.body).toBe(200)
  return r.json<Echo>()
}

function expectError(r: Reply, status: number, message: string): void {
  expect(r.status, r.body).toBe(status)
  expect(r.headers['content-type']).toMatch(/^application\/json/)
  expect(r.json()).toEqual({ message, request_id: r.headers['x-request-id'] })
}

/** request-termination answering only requests that carry X-Terminate, so a global instance stays harmless. */
const terminate = (status: number, message: string) => ({ name: 'request-termination', config: { status_code: status, message, trigger: 'x-terminate' } })

describe('key-auth, basic-auth and acl (2 workers)', () => {
  let up: Upstream
  let gw: RunningGateway

  beforeAll(async () => {
    up = await startUpstream(echoWithBody)
    const url = `http://127.0.0.1:${up.port}`
    const route = (name: string, plugins: unknown[] = []) => ({ name, paths: [`/${name}`], strip_path: true, plugins })
    gw = await startGateway({
      consumers: [
        { username: 'anon' },
        {
          id: 'alice-id', username: 'alice', custom_id: 'alice-cid',
          keyauth_credentials: [{ id: 'alice-key-cred', key: 'alice-key' }],
          basicauth_credentials: [{ username: 'alice', password: 'wonder land' }],
          acls: [{ group: 'gold' }, { group: 'staff' }],
        },
        { username: 'bob', keyauth_credentials: [{ key: 'bob-key' }], acls: [{ group: 'bronze' }] },
        { username: 'carol', keyauth_credentials: [{ key: 'carol-key' }] },
        { username: 'vic', keyauth_credentials: [{ key: '{vault://env/e2e-vic-key}' }] },
      ],
      services: [
        {
          name: 'echo', url,
          routes: [
            route('key', [{ name: 'key-auth' }]),
            route('key-hide', [{ name: 'key-auth', config: { hide_credentials: true, realm: 'kong' } }]),
            route('key-body', [{ name: 'key-auth', config: { key_in_body: true } }]),
            route('key-anon', [{ name: 'key-auth', config: { anonymous: 'anon' } }]),
            route('basic', [{ name: 'basic-auth' }]),
            route('basic-hide', [{ name: 'basic-auth', config: { hide_credentials: true, realm: 'private' } }]),
            route('acl-allow', [{ name: 'key-auth' }, { name: 'acl', config: { allow: ['gold'] } }]),
            route('acl-deny', [{ name: 'key-auth' }, { name: 'acl', config: { deny: ['bronze'], hide_groups_header: true } }]),
            route('acl-alone', [{ name: 'acl', config: { allow: ['gold'] } }]),
            route('or', [
              { name: 'key-auth', config: { anonymous: 'anon' } },
              { name: 'basic-auth', config: { anonymous: 'anon' } },
            ]),
            route('or-acl', [
              { name: 'key-auth', config: { anonymous: 'anon' } },
              { name: 'basic-auth', config: { anonymous: 'anon' } },
              { name: 'acl', config: { allow: ['gold', 'bronze'] } },
            ]),
            route('rl', [{ name: 'key-auth' }, { name: 'rate-limiting', config: { hour: 2 } }]),
          ],
        },
        {
          name: 'prec', url,
          plugins: [{ name: 'key-auth' }, terminate(521, 'service')],
          routes: [
            { name: 'prec-a', paths: ['/prec-a'], plugins: [terminate(522, 'route')] },
            { name: 'prec-b', paths: ['/prec-b'] },
          ],
        },
      ],
      plugins: [
        terminate(520, 'global'),
        { ...terminate(523, 'consumer'), consumer: 'alice' },
        { ...terminate(524, 'consumer+service'), consumer: 'alice', service: 'prec' },
        { ...terminate(525, 'route+service'), route: 'prec-b', service: 'prec' },
        { ...terminate(526, 'consumer+route'), consumer: 'bob', route: 'prec-a' },
        { name: 'rate-limiting', consumer: 'alice', route: 'rl', config: { hour: 5 } },
      ],
    }, { workers: 2, env: { E2E_VIC_KEY: 'vic-secret-from-env' } })
  }, 60_000)

  afterAll(async () => {
    await gw?.stop()
    await up?.close()
  })

  describe('key-auth', () => {
    it('accepts the key in the apikey header and sets X-Consumer-* upstream', async () => {
      const e = echoed(await request(gw.url + '/key/x', { headers: { apikey: 'alice-key' } }))
      expect(e.url).toBe('/x')
      expect(e.headers['x-consumer-id']).toBe('alice-id')
      expect(e.headers['x-consumer-username']).toBe('alice')
      expect(e.headers['x-consumer-custom-id']).toBe('alice-cid')
      expect(e.headers['x-credential-identifier']).toBe('alice-key-cred')
      expect(e.headers['x-anonymous-consumer']).toBeUndefined()
      expect(e.headers.apikey).toBe('alice-key')
    })

    it('accepts the key in the query string', async () => {
      const e = echoed(await request(gw.url + '/key/x?apikey=bob-key&q=1'))
      expect(e.headers['x-consumer-username']).toBe('bob')
      expect(e.url).toBe('/x?apikey=bob-key&q=1')
    })

    it('accepts a key stored as a {vault://env/…} reference', async () => {
      expect(echoed(await request(gw.url + '/key', { headers: { apikey: 'vic-secret-from-env' } })).headers['x-consumer-username']).toBe('vic')
    })

    it('removes forged X-Consumer-* headers and sets the real ones', async () => {
      const e = echoed(await request(gw.url + '/key', {
        headers: {
          apikey: 'bob-key', 'x-consumer-id': 'evil', 'x-consumer-username': 'evil', 'x-consumer-custom-id': 'evil',
          'x-credential-identifier': 'evil', 'x-anonymous-consumer': 'true',
        },
      }))
      expect(e.headers['x-consumer-id']).toBe('bob')
      expect(e.headers['x-consumer-username']).toBe('bob')
      expect(e.headers['x-consumer-custom-id']).toBeUndefined()
      expect(e.headers['x-credential-identifier']).toBe('key-auth:bob:0')
      expect(e.headers['x-anonymous-consumer']).toBeUndefined()
    })

    it("answers a missing key with 401 and Kong's body and challenge", async () => {
      const r = await request(gw.url + '/key')
      expectError(r, 401, 'No API key found in request')
      expect(r.headers['www-authenticate']).toBe('Key')
    })

    it('answers an unknown key with 401 Unauthorized (realm in the challenge when set)', async () => {
      expectError(await request(gw.url + '/key', { headers: { apikey: 'nope' } }), 401, 'Unauthorized')
      const r = await request(gw.url + '/key-hide?apikey=nope')
      expectError(r, 401, 'Unauthorized')
      expect(r.headers['www-authenticate']).toBe('Key realm="kong"')
    })

    it('answers a repeated query key with 401 "Duplicate API key found"', async () => {
      expectError(await request(gw.url + '/key?apikey=a&apikey=b'), 401, 'Duplicate API key found')
    })

    it('hide_credentials removes the header and strips the query argument upstream', async () => {
      const h = echoed(await request(gw.url + '/key-hide/x', { headers: { apikey: 'alice-key' } }))
      expect(h.headers.apikey).toBeUndefined()
      expect(h.headers['x-consumer-username']).toBe('alice')
      const q = echoed(await request(gw.url + '/key-hide/x?a=1&apikey=alice-key&b=%2F'))
      expect(q.url).toBe('/x?a=1&b=%2F')
      expect(q.headers['x-consumer-username']).toBe('alice')
    })

    it('finds the key in a JSON or form body and still forwards the whole body', async () => {
      const json = JSON.stringify({ apikey: 'alice-key', data: 'x'.repeat(100_000) })
      const e = echoed(await request(gw.url + '/key-body', { method: 'POST', headers: { 'content-type': 'application/json' }, body: json }))
      expect(e.headers['x-consumer-username']).toBe('alice')
      expect(e.body).toBe(json)
      expect(e.headers['content-length']).toBe(String(Buffer.byteLength(json)))
      const form = 'a=1&apikey=bob-key'
      const f = echoed(await request(gw.url + '/key-body', { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: form }))
      expect(f.headers['x-consumer-username']).toBe('bob')
      expect(f.body).toBe(form)
    })

    it('finds the key in a chunked multipart body', async () => {
      const body = '--B\r\nContent-Disposition: form-data; name="apikey"\r\n\r\ncarol-key\r\n--B--\r\n'
      const e = echoed(await request(gw.url + '/key-body', {
        method: 'POST', headers: { 'content-type': 'multipart/form-data; boundary=B', 'transfer-encoding': 'chunked' }, body,
      }))
      expect(e.headers['x-consumer-username']).toBe('carol')
      expect(e.body).toBe(body)
    })

    it('answers 401 when the body holds no key', async () => {
      expectError(await request(gw.url + '/key-body', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"apikey":7}' }),
        401, 'No API key found in request')
    })

    it('lets a request without a valid key through as the anonymous consumer', async () => {
      for (const headers of [{}, { apikey: 'wrong' }] as Record<string, string>[]) {
        const e = echoed(await request(gw.url + '/key-anon', { headers }))
        expect(e.headers['x-anonymous-consumer']).toBe('true')
        expect(e.headers['x-consumer-username']).toBe('anon')
        expect(e.headers['x-credential-identifier']).toBeUndefined()
      }
      expect(echoed(await request(gw.url + '/key-anon', { headers: { apikey: 'bob-key' } })).headers['x-consumer-username']).toBe('bob')
    })
  })

  describe('basic-auth', () => {
    it('accepts good credentials', async () => {
      const e = echoed(await request(gw.url + '/basic', { headers: { authorization: basic('alice', 'wonder land') } }))
      expect(e.headers['x-consumer-id']).toBe('alice-id')
      expect(e.headers['x-credential-identifier']).toBe('alice')
      expect(e.headers.authorization).toBe(basic('alice', 'wonder land'))
    })

    it('answers bad and missing credentials with 401 Unauthorized and WWW-Authenticate: Basic realm="service"', async () => {
      const cases: Record<string, string>[] = [{}, { authorization: basic('alice', 'wrong') }, { authorization: basic('mallory', 'x') }, { authorization: 'Basic %%%' }]
      for (const headers of cases) {
        const r = await request(gw.url + '/basic', { headers })
        expectError(r, 401, 'Unauthorized')
        expect(r.headers['www-authenticate']).toBe('Basic realm="service"')
      }
      expect((await request(gw.url + '/basic-hide')).headers['www-authenticate']).toBe('Basic realm="private"')
    })

    it('hide_credentials removes Authorization upstream', async () => {
      const e = echoed(await request(gw.url + '/basic-hide', { headers: { authorization: basic('alice', 'wonder land') } }))
      expect(e.headers.authorization).toBeUndefined()
      expect(e.headers['x-consumer-username']).toBe('alice')
    })
  })

  describe('acl', () => {
    it('allows a consumer in an allowed group and sends X-Consumer-Groups', async () => {
      const e = echoed(await request(gw.url + '/acl-allow', { headers: { apikey: 'alice-key', 'x-consumer-groups': 'forged' } }))
      expect(e.headers['x-consumer-groups']).toBe('gold, staff')
    })

    it('answers 403 "You cannot consume this service" outside the allow list or inside the deny list', async () => {
      expectError(await request(gw.url + '/acl-allow', { headers: { apikey: 'bob-key' } }), 403, 'You cannot consume this service')
      expectError(await request(gw.url + '/acl-allow', { headers: { apikey: 'carol-key' } }), 403, 'You cannot consume this service')
      expectError(await request(gw.url + '/acl-deny', { headers: { apikey: 'bob-key' } }), 403, 'You cannot consume this service')
    })

    it('hide_groups_header keeps the groups (and forged ones) from the upstream', async () => {
      const e = echoed(await request(gw.url + '/acl-deny', { headers: { apikey: 'alice-key', 'x-consumer-groups': 'forged' } }))
      expect(e.headers['x-consumer-groups']).toBeUndefined()
    })

    it('answers 401 Unauthorized when no auth plugin identified a consumer', async () => {
      expectError(await request(gw.url + '/acl-alone'), 401, 'Unauthorized')
    })
  })

  describe('stacked key-auth + basic-auth with anonymous (logical OR)', () => {
    it('authenticates with either credential, else goes on as the anonymous consumer', async () => {
      expect(echoed(await request(gw.url + '/or', { headers: { apikey: 'bob-key' } })).headers['x-consumer-username']).toBe('bob')
      const viaBasic = echoed(await request(gw.url + '/or', { headers: { authorization: basic('alice', 'wonder land') } }))
      expect(viaBasic.headers['x-consumer-username']).toBe('alice')
      expect(viaBasic.headers['x-anonymous-consumer']).toBeUndefined()
      // key-auth (1250) authenticated first: basic-auth leaves it alone even with bad credentials.
      const both = echoed(await request(gw.url + '/or', { headers: { apikey: 'bob-key', authorization: basic('alice', 'nope') } }))
      expect(both.headers['x-consumer-username']).toBe('bob')
      const none = echoed(await request(gw.url + '/or', { headers: { apikey: 'nope', authorization: basic('alice', 'nope') } }))
      expect(none.headers['x-consumer-username']).toBe('anon')
      expect(none.headers['x-anonymous-consumer']).toBe('true')
    })

    it('with acl after them, the anonymous consumer is turned away and real ones let in', async () => {
      expectError(await request(gw.url + '/or-acl'), 403, 'You cannot consume this service')
      expect(echoed(await request(gw.url + '/or-acl', { headers: { authorization: basic('alice', 'wonder land') } })).headers['x-consumer-groups']).toBe('gold, staff')
      expect(echoed(await request(gw.url + '/or-acl', { headers: { apikey: 'bob-key' } })).headers['x-consumer-groups']).toBe('bronze')
    })
  })

  describe('plugin precedence once the consumer is known', () => {
    const as = (key: string, path: string) => request(gw.url + path, { headers: { apikey: key, 'x-terminate': '1' } })
    const expectTerminated = async (key: string, path: string, status: number, message: string) => {
      const r = await as(key, path)
      expect([r.status, r.json().message], `${key} ${path}`).toEqual([status, message])
    }

    it('without consumer-scoped instances: route+service > route > global', async () => {
      await expectTerminated('carol-key', '/prec-a', 522, 'route')
      await expectTerminated('carol-key', '/prec-b', 525, 'route+service')
      await expectTerminated('carol-key', '/key', 520, 'global')
    })

    it('consumer+route > route+service, and only for that consumer', async () => {
      await expectTerminated('bob-key', '/prec-a', 526, 'consumer+route')
      await expectTerminated('bob-key', '/prec-b', 525, 'route+service')
    })

    it('consumer+service > route+service > route, and consumer > global', async () => {
      await expectTerminated('alice-key', '/prec-a', 524, 'consumer+service')
      await expectTerminated('alice-key', '/prec-b', 524, 'consumer+service')
      await expectTerminated('alice-key', '/key', 523, 'consumer')
    })

    it('a rate-limiting instance scoped to a consumer replaces the route\'s for that consumer only', async () => {
      const alice = await request(gw.url + '/rl', { headers: { apikey: 'alice-key' } })
      expect(alice.status).toBe(200)
      expect(alice.headers['x-ratelimit-limit-hour']).toBe('5')
      const bob = await request(gw.url + '/rl', { headers: { apikey: 'bob-key' } })
      expect(bob.status).toBe(200)
      expect(bob.headers['x-ratelimit-limit-hour']).toBe('2')
      await request(gw.url + '/rl', { headers: { apikey: 'bob-key' } })
      expect((await request(gw.url + '/rl', { headers: { apikey: 'bob-key' } })).status).toBe(429)
      expect((await request(gw.url + '/rl', { headers: { apikey: 'alice-key' } })).status).toBe(200)
    })
  })
})
