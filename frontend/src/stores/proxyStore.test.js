import { beforeEach, describe, expect, it } from 'vitest'
import { createPinia, setActivePinia } from 'pinia'
import { createClient } from '../lib/api.js'
import { PROBATION_SECONDS } from '../lib/rotation.js'
import { resetProxyStoreDeps, setProxyStoreDeps, useProxyStore } from './proxyStore.js'
import { seedServer } from './seedServer.testing.js'

const HOUR = 3600 * 1000
let clock
let server
let store

function setUp(options = {}) {
  clock = { t: Date.parse('2026-01-01T10:00:00Z') }
  server = seedServer({ now: () => clock.t, ...options })
  setActivePinia(createPinia())
  setProxyStoreDeps({ client: createClient({ key: 'pp_test', fetch: server.fetch }), now: () => clock.t })
  store = useProxyStore()
}

async function seed(n) {
  for (let i = 1; i <= n; i++) {
    await store.createProxy({ ip: `127.0.0.${i}`, port: 8000 + i, session: `cookie-${i}` })
  }
  await store.fetchProxies()
  return store.proxies.map((p) => p.id)
}

const picks = (n, options) => Array.from({ length: n }, () => store.next(options)?.id ?? null)

beforeEach(() => {
  resetProxyStoreDeps()
  setUp()
})

describe('proxy CRUD through /api/proxies', () => {
  it('creates, lists and deletes with the seed’s fields and sessions', async () => {
    const created = await store.createProxy({ ip: '127.0.0.9', port: 8080, username: 'u', password: 'p', session: 'abc' })
    expect(created).toMatchObject({
      id: 1, ip: '127.0.0.9', port: 8080, username: 'u', password: 'p', is_active: true,
      total_requests: 0, failed_requests: 0, requests_this_hour: 0, error_count: 0,
      sessions: [{ id: 1, session: 'abc', status: 'active' }],
    })
    expect(server.calls.at(-1)).toMatchObject({ method: 'POST', path: '/api/proxies' })
    expect(server.calls.at(-1).headers.Authorization).toBe('Bearer pp_test')

    await store.fetchProxies()
    expect(store.proxies.map((p) => p.id)).toEqual([1])

    store.recordOutcome(1, true, 100)
    await store.deleteProxy(1)
    expect(store.proxies).toEqual([])
    expect(server.proxies.size).toBe(0)
    expect(store.history[1]).toBeUndefined()
  })

  it('keeps the API’s error words: duplicate proxy, duplicate session, validation', async () => {
    await store.createProxy({ ip: '127.0.0.9', port: 8080, session: 'abc' })
    const dupProxy = await store.createProxy({ ip: '127.0.0.9', port: 8080, session: 'other' }).catch((e) => e)
    expect([dupProxy.status, dupProxy.code, dupProxy.message]).toEqual([409, 'duplicate_proxy', 'Proxy with same IP/port exists'])
    expect(store.error).toBe(dupProxy)
    const dupSession = await store.createProxy({ ip: '127.0.0.10', port: 8080, session: 'abc' }).catch((e) => e)
    expect(dupSession.code).toBe('duplicate_session')
    const invalid = await store.createProxy({ ip: '127.0.0.11' }).catch((e) => e)
    expect(invalid.code).toBe('validation_error')
    expect(invalid.details.fields).toEqual(['port', 'session'])
    expect(store.proxies).toHaveLength(1)
  })

  it('treats deleting what is already gone as done, and other failures as failures', async () => {
    const [id] = await seed(1)
    server.proxies.delete(id)
    await store.deleteProxy(id)
    expect(store.proxies).toEqual([])
    setProxyStoreDeps({ client: createClient({ fetch: async () => new Response('{"error":"database_error","message":"Database operation failed","details":{}}', { status: 503 }) }) })
    await store.createProxy.call(store, { ip: '1', port: 1, session: 'x' }).catch(() => {})
    await expect(store.fetchProxies()).rejects.toMatchObject({ code: 'database_error', status: 503 })
  })
})

describe('status management', () => {
  it('disables and enables through PATCH …/status, keeping the sessions', async () => {
    const [a] = await seed(2)
    const disabled = await store.setStatus(a, 'disabled')
    expect(disabled.is_active).toBe(false)
    expect(disabled.sessions).toHaveLength(1)
    expect(server.proxies.get(a).is_active).toBe(false)
    expect(store.statusOf(a)).toBe('disabled')
    await store.setStatus(a, 'active')
    expect(store.statusOf(a)).toBe('active')
    await expect(store.setStatus(a, 'paused')).rejects.toThrow('active or disabled')
  })

  it('shares a proxy with the pool and takes it back (PATCH /api/proxies/{id})', async () => {
    const [a] = await seed(1)
    expect(store.byId.get(a).shared).toBe(false)
    expect((await store.setShared(a, true)).shared).toBe(true)
    expect(server.calls.at(-1)).toMatchObject({ method: 'PATCH', path: `/api/proxies/${a}`, body: { shared: true } })
    expect(server.proxies.get(a).shared).toBe(true)
    await store.setShared(a, false)
    expect(store.byId.get(a).sessions).toHaveLength(1)
    await expect(store.setShared(99, true)).rejects.toMatchObject({ code: 'not_found' })
  })

  it('runs bulk changes on every id and returns the failures with their ids', async () => {
    const ids = await seed(3)
    const failed = await store.bulkSetStatus([...ids, 99], 'disabled')
    expect(failed.map((f) => [f.id, f.error.code])).toEqual([[99, 'not_found']])
    expect(store.proxies.every((p) => !p.is_active)).toBe(true)
    expect(await store.bulkDelete(ids.slice(0, 2))).toEqual([])
    expect(store.proxies.map((p) => p.id)).toEqual([ids[2]])
  })
})

describe('rotation settings through the rotation service', () => {
  it('reads the server’s settings and writes changes back under the server’s names', async () => {
    setUp({ names: { health_window: 'window', cooloff_seconds: 'cool_off_seconds' }, rotation: { window: 7, strategy: 'least_used' } })
    const read = await store.fetchRotation()
    expect(read).toMatchObject({ strategy: 'least_used', health_window: 7, error_threshold: 5, cooloff_seconds: 300 })
    await store.saveRotation({ health_window: 3, cooloff_seconds: 60 })
    expect(server.calls.at(-1)).toMatchObject({ method: 'PUT', body: { window: 3, cool_off_seconds: 60 } })
    expect(server.settings.window).toBe(3)
    expect(store.rotation.health_window).toBe(3)
  })

  it('refuses settings the rules cannot use before asking the server', async () => {
    await store.fetchRotation()
    const calls = server.calls.length
    const refused = await store.saveRotation({ strategy: 'random', error_threshold: 0, hourly_budget: 0 }).catch((e) => e)
    expect(refused.code).toBe('validation_error')
    expect(Object.keys(refused.details).sort()).toEqual(['error_threshold', 'hourly_budget', 'strategy'])
    expect(server.calls.length).toBe(calls)
  })
})

describe('health history with a configurable window', () => {
  it('keeps the last `health_window` outcomes and trims at once when the window shrinks', async () => {
    const [id] = await seed(1)
    await store.saveRotation({ health_window: 4 })
    for (const ok of [false, false, true, true, true, false]) store.recordOutcome(id, ok, 100)
    expect(store.history[id].map((h) => h.success)).toEqual([true, true, true, false])
    store.setHealthWindow(2)
    expect(store.history[id].map((h) => h.success)).toEqual([true, false])
    expect(store.performance[id].window_success_rate).toBe(0.5)
    expect(() => store.setHealthWindow(0)).toThrow()
  })

  it('drives the score, so weighted rotation favours what has worked lately', async () => {
    const [a, b] = await seed(2)
    await store.saveRotation({ health_window: 4, error_threshold: 100 })
    for (let i = 0; i < 4; i++) store.recordOutcome(a, false, 50)
    for (let i = 0; i < 4; i++) store.recordOutcome(b, true, 50)
    expect(store.performance[a].score).toBeLessThan(store.performance[b].score)
    store.recordOutcome(a, true, 50)
    expect(store.performance[a].window_success_rate).toBe(0.25)
  })

  it('skips proxies the checker found dead', async () => {
    const [a, b] = await seed(2)
    store.proxies = store.proxies.map((p) => ({ ...p, status: p.id === a ? 'dead' : 'active' }))
    expect(store.statusOf(a)).toBe('unhealthy')
    expect(picks(3)).toEqual([b, b, b])
  })
})

describe('performance monitoring', () => {
  it('follows counters, window success share, latency and score per proxy', async () => {
    const [id] = await seed(1)
    await store.report(id, true, { latencyMs: 100 })
    await store.report(id, false, { latencyMs: 300 })
    const perf = store.performance[id]
    expect(perf).toMatchObject({
      total_requests: 2, failed_requests: 1, failure_rate: 0.5, requests_this_hour: 2,
      error_count: 1, window_samples: 2, window_success_rate: 0.5, avg_latency_ms: 200,
    })
    // health 1/2 over the window × traffic (1 success + 1) / (2 requests + 1)
    expect(perf.score).toBeCloseTo(0.5 * (2 / 3))
    // The server's counters are the truth: the report's answer is merged.
    expect(server.proxies.get(id)).toMatchObject({ total_requests: 2, failed_requests: 1, error_count: 1 })
    expect(server.calls.filter((c) => c.path === `/api/proxies/${id}/report`).map((c) => c.body)).toEqual([
      { success: true }, { success: false },
    ])
  })
})

describe('rotation by the server’s rules', () => {
  it('round_robin visits every candidate once before any twice, skipping disabled ones', async () => {
    const ids = await seed(4)
    await store.setStatus(ids[1], 'disabled')
    const seen = picks(6)
    expect(seen).toEqual([ids[0], ids[2], ids[3], ids[0], ids[2], ids[3]])
  })

  it('weighted follows scores', async () => {
    const ids = await seed(2)
    store.proxies = store.proxies.map((p) => ({ ...p, score: p.id === ids[0] ? 0.9 : 0.1 }))
    let i = 0
    const draws = Array.from({ length: 1000 }, (_, k) => (k + 0.5) / 1000)
    setProxyStoreDeps({ random: () => draws[i++] })
    const seen = picks(1000, { strategy: 'weighted' })
    expect(seen.filter((id) => id === ids[0]).length).toBe(900)
  })

  it('least_used takes the proxy with the fewest requests this hour', async () => {
    const ids = await seed(3)
    server.proxies.get(ids[0]).requests_this_hour = 5
    server.proxies.get(ids[1]).requests_this_hour = 2
    server.proxies.get(ids[2]).requests_this_hour = 9
    await store.fetchProxies()
    expect(store.next({ strategy: 'least_used' }).id).toBe(ids[1])
    // Each pick counts: two more and the second is as used as the first (5 this hour); the
    // tie goes to the one with fewer requests in all.
    expect(picks(2, { strategy: 'least_used' })).toEqual([ids[1], ids[1]])
    expect(store.next({ strategy: 'least_used' }).id).toBe(ids[0])
  })

  it('sticky keeps a key on its proxy while it stays a candidate, and re-maps it when not', async () => {
    const ids = await seed(3)
    const first = store.next({ strategy: 'sticky', key: 'acct-1' }).id
    expect(picks(5, { strategy: 'sticky', key: 'acct-1' })).toEqual(Array(5).fill(first))
    const other = store.next({ strategy: 'sticky', key: 'acct-2' }).id
    expect(other).not.toBe(first)
    await store.setStatus(first, 'disabled')
    // Re-mapped to the next proxy round robin (acct-2 took the second): the third.
    expect([first, other]).toEqual([ids[0], ids[1]])
    expect(store.next({ strategy: 'sticky', key: 'acct-1' }).id).toBe(ids[2])
    expect(store.next({ key: 'acct-1' }).id).toBe(ids[2]) // a key alone means sticky
    expect(store.lastPick.strategy).toBe('sticky')
    // Without a key, sticky is round robin, as on the server: after the last pick (the
    // third), the first candidate (the first proxy is disabled: the second).
    expect(store.next({ strategy: 'sticky' }).id).toBe(ids[1])
  })

  it('takes the server’s pick and its counters, not the pick’s score, into the proxy', async () => {
    const [a] = await seed(2)
    const picked = await store.fetchNext({ strategy: 'round_robin' })
    expect(picked).toMatchObject({ id: a, score: 0.75, strategy: 'round_robin' })
    expect(server.calls.at(-1)).toMatchObject({ method: 'GET', path: '/api/proxies/next' })
    expect(store.byId.get(a).requests_this_hour).toBe(1)
    expect(store.byId.get(a).score).toBeUndefined()
    expect(store.byId.get(a).sessions).toHaveLength(1)
  })

  it('answers null when nothing is a candidate', async () => {
    const ids = await seed(1)
    await store.setStatus(ids[0], 'disabled')
    expect(store.next()).toBeNull()
  })
})

describe('request rate limiting per proxy', () => {
  it('skips a proxy at its hourly budget until the clock hour turns', async () => {
    const [a, b] = await seed(2)
    await store.saveRotation({ hourly_budget: 2 })
    expect(picks(4)).toEqual([a, b, a, b])
    expect(store.isRateLimited(a)).toBe(true)
    expect(store.next()).toBeNull()
    expect(store.metrics.over_budget).toBe(2)
    clock.t += HOUR
    expect(store.isRateLimited(a)).toBe(false)
    expect(store.next().id).toBe(a)
  })

  it('uses a per-proxy budget over the setting, and null as no budget', async () => {
    const [a, b] = await seed(2)
    await store.saveRotation({ hourly_budget: null })
    await store.setBudget(a, 1)
    expect(picks(5)).toEqual([a, b, b, b, b])
    await store.setBudget(a, null)
    expect(store.isRateLimited(a)).toBe(false)
  })

  it('stores a per-proxy budget on the server, which holds it for every hand-out', async () => {
    const [a] = await seed(1)
    await store.setBudget(a, 7)
    expect(server.calls.at(-1)).toMatchObject({ method: 'PATCH', path: `/api/proxies/${a}`, body: { hourly_budget: 7 } })
    expect(server.proxies.get(a).hourly_budget).toBe(7)
    expect(store.byId.get(a).hourly_budget).toBe(7)
    const refused = await store.setBudget(a, 0).catch((e) => e)
    expect(refused.status).toBe(422)
    expect(server.proxies.get(a).hourly_budget).toBe(7)
  })
})

describe('error threshold monitoring', () => {
  it('cools a proxy off at the threshold, then allows exactly one probation request', async () => {
    const [a, b] = await seed(2)
    await store.saveRotation({ error_threshold: 3, cooloff_seconds: 60 })
    for (let i = 0; i < 3; i++) await store.report(a, false)
    expect(store.overThreshold.map((p) => p.id)).toEqual([a])
    expect(store.alerts).toEqual([{ id: a, at: clock.t, error_count: 3 }])
    expect(store.statusOf(a)).toBe('cooling')
    expect(picks(3)).toEqual([b, b, b])

    clock.t += 61 * 1000
    store.tick()
    expect(store.statusOf(a)).toBe('probation')
    expect(store.next().id).toBe(a) // the probation request
    expect(picks(2)).toEqual([b, b]) // no second one while it is out

    await store.report(a, false) // probation failed: a new cool-off
    expect(store.statusOf(a)).toBe('cooling')
    expect(store.alerts).toHaveLength(2)

    clock.t += 61 * 1000
    expect(store.next().id).toBe(a)
    await store.report(a, true) // probation passed: back in the rotation
    expect(store.byId.get(a).error_count).toBe(0)
    expect(store.statusOf(a)).toBe('active')
    expect(store.overThreshold).toEqual([])
  })

  it('frees a probation whose outcome never comes back after PROBATION_SECONDS', async () => {
    const [a, b] = await seed(2)
    await store.saveRotation({ error_threshold: 1, cooloff_seconds: 10 })
    await store.report(a, false)
    clock.t += 11 * 1000
    expect(store.next().id).toBe(a)
    expect(picks(2)).toEqual([b, b])
    clock.t += (PROBATION_SECONDS + 1) * 1000
    expect(store.next().id).toBe(a)
  })

  it('sees proxies the server already counts at the threshold when it lists them', async () => {
    const [a] = await seed(1)
    server.proxies.get(a).error_count = 7
    await store.fetchProxies()
    expect(store.statusOf(a)).toBe('cooling')
    expect(store.alerts.map((x) => x.id)).toEqual([a])
  })
})

describe('performance metrics aggregation', () => {
  it('sums and averages over every proxy', async () => {
    const [a, b, c] = await seed(3)
    await store.setStatus(c, 'disabled')
    await store.report(a, true, { latencyMs: 100 })
    await store.report(a, true, { latencyMs: 300 })
    await store.report(b, false, { latencyMs: 400 })
    expect(store.metrics).toMatchObject({
      proxies: 3, available: 2, disabled: 1, cooling: 0, over_budget: 0, sessions: 3,
      total_requests: 3, failed_requests: 1, requests_this_hour: 3, avg_latency_ms: 300,
    })
    expect(store.metrics.failure_rate).toBeCloseTo(1 / 3)
  })
})
