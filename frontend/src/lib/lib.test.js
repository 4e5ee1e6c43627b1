import { describe, expect, it } from 'vitest'
import { ApiError, createClient, errorFrom, query } from './api.js'
import { guarded } from './guard.js'
import { latestOnly } from './latest.js'
import { rounds } from './format.js'
import { chunks, parseLine, parseList } from './lines.js'

function deferred() {
  let resolve
  const promise = new Promise((r) => (resolve = r))
  return { promise, resolve }
}

describe('latestOnly', () => {
  it('never lets a slow answer overwrite a newer one', async () => {
    const run = latestOnly()
    const shown = []
    const slow = deferred()
    const fast = deferred()
    const first = run(() => slow.promise, (v) => shown.push(v))
    const second = run(() => fast.promise, (v) => shown.push(v))
    fast.resolve('new')
    expect(await second).toBe(true)
    slow.resolve('old')
    expect(await first).toBe(false)
    expect(shown).toEqual(['new'])
  })

  it('still applies answers that arrive in order, even when each is slow', async () => {
    const run = latestOnly()
    const shown = []
    const a = deferred()
    const b = deferred()
    const pa = run(() => a.promise, (v) => shown.push(v))
    const pb = run(() => b.promise, (v) => shown.push(v))
    a.resolve(1)
    await pa
    b.resolve(2)
    await pb
    expect(shown).toEqual([1, 2])
  })

  it('drops the error of a request overtaken by a newer answer, and raises a current one', async () => {
    const run = latestOnly()
    const old = deferred()
    const late = run(() => old.promise.then(() => Promise.reject(new Error('stale'))), () => {})
    await run(async () => 'fresh', () => {})
    old.resolve()
    expect(await late).toBe(false)
    await expect(run(async () => Promise.reject(new Error('now')), () => {})).rejects.toThrow('now')
  })
})

describe('errors as the API words them', () => {
  it('reads the pool envelope', () => {
    const e = errorFrom(401, { error: { code: 'UNAUTHORIZED', message: 'Unknown API key.', details: {} } })
    expect([e.status, e.code, e.message]).toEqual([401, 'UNAUTHORIZED', 'Unknown API key.'])
  })
  it("reads the manager's flat envelope", () => {
    const e = errorFrom(409, { error: 'duplicate_proxy', message: 'Proxy exists', details: { port: 8080 } })
    expect([e.code, e.message, e.details]).toEqual(['duplicate_proxy', 'Proxy exists', { port: 8080 }])
  })
  it("reads seed 004's message-only shape", () => {
    const e = errorFrom(400, { error: 'Interface name is required' })
    expect([e.code, e.message]).toEqual(['HTTP_400', 'Interface name is required'])
  })
  it("reads seed 003's envelope", () => {
    const e = errorFrom(401, { success: false, error_code: 'INVALID_SESSION', message: 'No session for this account.', errors: { username: 'x' } })
    expect([e.code, e.message, e.details]).toEqual(['INVALID_SESSION', 'No session for this account.', { username: 'x' }])
  })
  it("reads the shop's FastAPI shapes", () => {
    const e = errorFrom(400, { detail: 'Refund refused: only offline proxies are refunded.' })
    expect([e.code, e.message]).toEqual(['HTTP_400', 'Refund refused: only offline proxies are refunded.'])
    const fields = [{ type: 'greater_than_equal', loc: ['body', 'product_id'], msg: 'Input should be greater than or equal to 1' }]
    const v = errorFrom(422, { detail: fields })
    expect([v.code, v.message, v.details]).toEqual(['HTTP_422', 'product_id: Input should be greater than or equal to 1', { fields }])
  })
  it('falls back to the status when the body is not JSON', () => {
    expect(errorFrom(502, null, 'Bad Gateway').message).toBe('Bad Gateway')
  })
})

describe('client', () => {
  it('sends the key as a bearer header, never in the URL, and raises ApiError', async () => {
    const seen = []
    const client = createClient({
      key: 'pp_secret',
      fetch: async (url, init) => {
        seen.push({ url, init })
        return new Response(JSON.stringify({ error: { code: 'NOT_FOUND', message: 'No such proxy.' } }), { status: 404 })
      },
    })
    const failure = await client.get('/proxies/x', { status: 'active', country: '' }).catch((e) => e)
    expect(failure).toBeInstanceOf(ApiError)
    expect(failure.message).toBe('No such proxy.')
    expect(seen[0].url).toBe('/proxies/x?status=active')
    expect(seen[0].url).not.toContain('pp_secret')
    expect(seen[0].init.headers.Authorization).toBe('Bearer pp_secret')
  })
  it('sends custom headers and returns text answers as text, errors still as ApiError', async () => {
    const seen = []
    const answers = [
      new Response('{"order_id":"ORD-1"}', { status: 200 }),
      new Response('1.2.3.4:80:u:p\n', { status: 200, headers: { 'Content-Type': 'text/plain' } }),
      new Response('{"detail":"Not authenticated"}', { status: 401 }),
    ]
    const client = createClient({ key: 'pp_k', fetch: async (url, init) => (seen.push({ url, init }), answers.shift()) })
    const bought = await client.post('/buy', { product_id: 1 }, undefined, { headers: { 'Idempotency-Key': 'k-1' } })
    expect(bought).toEqual({ order_id: 'ORD-1' })
    expect(seen[0].init.headers['Idempotency-Key']).toBe('k-1')
    expect(seen[0].init.headers.Authorization).toBe('Bearer pp_k')
    expect(await client.text('/export', { format: 'txt' })).toBe('1.2.3.4:80:u:p\n')
    expect(seen[1].url).toBe('/export?format=txt')
    const failure = await client.text('/export').catch((e) => e)
    expect([failure.status, failure.message]).toEqual([401, 'Not authenticated'])
  })
  it('builds query strings without empty values', () => {
    expect(query({ a: 1, b: '', c: null, d: 'x y' })).toBe('?a=1&d=x%20y')
  })
})

describe('import lists', () => {
  it('reads the usual line forms', () => {
    expect(parseLine('1.2.3.4:8080')).toEqual({ ip: '1.2.3.4', port: 8080, protocol: 'http' })
    expect(parseLine('socks5://u:p@1.2.3.4:1080')).toEqual({
      ip: '1.2.3.4', port: 1080, protocol: 'socks5', username: 'u', password: 'p',
    })
    expect(parseLine('1.2.3.4:3128:u:p', 'https')).toEqual({
      ip: '1.2.3.4', port: 3128, protocol: 'https', username: 'u', password: 'p',
    })
    expect(parseLine('[2001:db8::1]:8080')).toEqual({ ip: '2001:db8::1', port: 8080, protocol: 'http' })
  })
  it('reports what it cannot read by line', () => {
    const { proxies, rejected } = parseList('# list\n1.2.3.4:80\n\nnot a proxy\nftp://1.2.3.4:21\n5.6.7.8:70000\n')
    expect(proxies).toHaveLength(1)
    expect(rejected.map((r) => r.line)).toEqual([4, 5, 6])
  })
  it('splits into batches', () => {
    expect(chunks([1, 2, 3, 4, 5], 2)).toEqual([[1, 2], [3, 4], [5]])
  })
})

describe('heartbeat rounds', () => {
  it('groups check records by round, oldest first; a round passes when every stage did', () => {
    const check = (at, name, passed) => ({ created_at: at, checker_name: name, passed, detail: '' })
    const found = rounds([
      check('2026-01-01T10:10:00Z', 'tcp_connect', false),
      check('2026-01-01T10:00:00Z', 'tcp_connect', true),
      check('2026-01-01T10:00:00Z', 'http', true),
      check('2026-01-01T10:05:00Z', 'tcp_connect', true),
      check('2026-01-01T10:05:00Z', 'http', false),
    ])
    expect(found.map((r) => [r.at.slice(11, 16), r.passed])).toEqual([
      ['10:00', true], ['10:05', false], ['10:10', false],
    ])
    expect(rounds(found.flatMap(() => []), 2)).toEqual([])
  })
})

describe('page actions', () => {
  it('clear the error, reload after a success, and show a failure as it came', async () => {
    const error = { value: 'old' }
    let reloads = 0
    const guard = guarded(error, async () => reloads++)
    expect(await guard(async () => 'done')).toBe('done')
    expect([error.value, reloads]).toEqual([null, 1])
    const refusal = errorFrom(400, { detail: 'Refund refused.' })
    expect(await guard(async () => { throw refusal })).toBeNull()
    expect([error.value, reloads]).toEqual([refusal, 1])
  })
})
