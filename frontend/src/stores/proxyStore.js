// Seed 000's frontend store: the manager's proxies (/api/proxies) with CRUD and status
// management, rotation settings read and written through the rotation service's API
// (GET/PUT /api/proxies/rotation), and, on the client, performance monitoring, health history
// with a configurable window, rotation by performance under the server's rules
// (lib/rotation.js), per-proxy hourly rate limits, error threshold monitoring with cool-off and
// probation, and aggregated metrics.
import { defineStore } from 'pinia'
import { api as defaultClient } from '../lib/api.js'
import {
  DEFAULT_ROTATION,
  PROBATION_SECONDS,
  coolState,
  exclusion,
  hourKey,
  overBudget,
  pick,
  readRotation,
  scoreOf,
  strategyFor,
  usedThisHour,
  validateRotation,
  windowStats,
  writeRotation,
} from '../lib/rotation.js'
import { ApiError } from '../lib/api.js'

// What the store talks to and what time it is: replaced by tests, the defaults otherwise.
const deps = { client: defaultClient, now: () => Date.now(), random: () => Math.random() }
export function setProxyStoreDeps(changes) {
  Object.assign(deps, changes)
}
export function resetProxyStoreDeps() {
  Object.assign(deps, { client: defaultClient, now: () => Date.now(), random: () => Math.random() })
}

export const useProxyStore = defineStore('proxies', {
  state: () => ({
    proxies: [],
    loading: false,
    error: null,
    rotation: { ...DEFAULT_ROTATION },
    rotationNames: {}, // the server's name of each setting, to write them back as it reads them
    rotationLoaded: false,
    history: {}, // proxy id -> [{ at, success, latencyMs }], the last `health_window` outcomes
    seenHour: {}, // proxy id -> the UTC hour its requests_this_hour was counted in
    cooling: {}, // proxy id -> { since, until, probing }
    alerts: [], // error threshold crossings: { id, at, error_count }
    cursor: null, // round robin: the id picked last
    sticky: {}, // sticky key -> proxy id
    lastPick: null,
    pending: {}, // proxy id -> true: picked here, its outcome not recorded yet
    now: deps.now(), // the store's clock, moved by tick() (every action that needs it ticks)
  }),

  getters: {
    byId: (state) => new Map(state.proxies.map((p) => [p.id, p])),

    context(state) {
      return {
        now: state.now,
        history: state.history,
        seenHour: state.seenHour,
        cooling: state.cooling,
        cursor: state.cursor,
        sticky: state.sticky,
        random: deps.random,
      }
    },

    // Status management: why each proxy is or is not handed out now.
    statusOf() {
      return (id) => {
        const proxy = this.byId.get(id)
        if (!proxy) return null
        const excluded = exclusion(proxy, this.rotation, this.context)
        if (excluded) return excluded
        return coolState(proxy, this.rotation, this.cooling, this.now) === 'probation' ? 'probation' : 'active'
      }
    },

    // Performance monitoring, per proxy: the server's counters and the health window.
    performance(state) {
      const now = state.now
      const out = {}
      for (const p of state.proxies) {
        const w = windowStats(state.history[p.id], state.rotation.health_window)
        const total = p.total_requests ?? 0
        const failed = p.failed_requests ?? 0
        out[p.id] = {
          total_requests: total,
          failed_requests: failed,
          failure_rate: total ? failed / total : 0,
          requests_this_hour: usedThisHour(p, state.seenHour[p.id], now),
          error_count: p.error_count ?? 0,
          window_samples: w.samples,
          window_success_rate: w.successRate,
          avg_latency_ms: w.avgLatencyMs,
          score: scoreOf(p, state.history[p.id], state.rotation),
        }
      }
      return out
    },

    // Performance metrics aggregated over the whole set.
    metrics() {
      const perf = Object.values(this.performance)
      const total = perf.reduce((a, p) => a + p.total_requests, 0)
      const failed = perf.reduce((a, p) => a + p.failed_requests, 0)
      const latencies = perf.map((p) => p.avg_latency_ms).filter((v) => v !== null)
      const statuses = this.proxies.map((p) => this.statusOf(p.id))
      const count = (s) => statuses.filter((x) => x === s).length
      return {
        proxies: this.proxies.length,
        available: count('active') + count('probation'),
        disabled: count('disabled'),
        cooling: count('cooling'),
        over_budget: count('over_budget'),
        unhealthy: count('unhealthy'),
        sessions: this.proxies.reduce((a, p) => a + (p.sessions?.length ?? 0), 0),
        total_requests: total,
        failed_requests: failed,
        failure_rate: total ? failed / total : 0,
        requests_this_hour: perf.reduce((a, p) => a + p.requests_this_hour, 0),
        avg_latency_ms: latencies.length ? latencies.reduce((a, b) => a + b, 0) / latencies.length : null,
        avg_score: perf.length ? perf.reduce((a, p) => a + p.score, 0) / perf.length : null,
      }
    },

    // Error threshold monitoring: proxies at or over the threshold now.
    overThreshold(state) {
      return state.proxies.filter((p) => (p.error_count ?? 0) >= state.rotation.error_threshold)
    },
  },

  actions: {
    tick() {
      this.now = deps.now()
      return this.now
    },

    // --- CRUD through /api/proxies ---
    async fetchProxies() {
      this.loading = true
      try {
        const list = await deps.client.get('/api/proxies')
        this.error = null
        this.proxies = list
        const hour = hourKey(this.tick())
        for (const p of list) {
          this.seenHour[p.id] = hour
          this._watchErrors(p)
        }
        const ids = new Set(list.map((p) => p.id))
        for (const id of Object.keys(this.history)) if (!ids.has(Number(id))) this._forget(Number(id))
        return list
      } catch (failure) {
        this.error = failure
        throw failure
      } finally {
        this.loading = false
      }
    },

    async createProxy(fields) {
      try {
        const created = await deps.client.post('/api/proxies', fields)
        this.error = null
        this.proxies = [...this.proxies.filter((p) => p.id !== created.id), created]
        this.seenHour[created.id] = hourKey(this.tick())
        return created
      } catch (failure) {
        this.error = failure
        throw failure
      }
    },

    async deleteProxy(id) {
      try {
        await deps.client.del(`/api/proxies/${id}`)
        this.error = null
      } catch (failure) {
        if (!(failure instanceof ApiError && failure.status === 404)) {
          this.error = failure
          throw failure
        }
      }
      this.proxies = this.proxies.filter((p) => p.id !== id)
      this._forget(id)
    },

    // --- status management ---
    async setStatus(id, status) {
      if (status !== 'active' && status !== 'disabled') throw new Error(`status must be active or disabled, not ${status}`)
      return this._patch(id, `/api/proxies/${id}/status`, { status })
    },

    // Shared proxies are handed out to leases and the gateway too (PATCH /api/proxies/{id}).
    setShared(id, shared) {
      return this._patch(id, `/api/proxies/${id}`, { shared: Boolean(shared) })
    },

    // Many at once: every id is tried; the failures come back with their ids.
    async bulk(ids, action) {
      const outcomes = await Promise.allSettled(ids.map((id) => action(id)))
      return outcomes.flatMap((o, i) => (o.status === 'rejected' ? [{ id: ids[i], error: o.reason }] : []))
    },
    bulkSetStatus(ids, status) {
      return this.bulk(ids, (id) => this.setStatus(id, status))
    },
    bulkDelete(ids) {
      return this.bulk(ids, (id) => this.deleteProxy(id))
    },

    // --- rotation settings, through the rotation service ---
    async fetchRotation() {
      const raw = await deps.client.get('/api/proxies/rotation')
      const { settings, names } = readRotation(raw)
      this.rotation = settings
      this.rotationNames = names
      this.rotationLoaded = true
      this._trimHistories()
      return settings
    },

    async saveRotation(changes) {
      const merged = { ...this.rotation, ...changes }
      const problems = validateRotation(merged)
      if (Object.keys(problems).length) {
        throw new ApiError(0, 'validation_error', 'The rotation settings are not valid.', problems)
      }
      const raw = await deps.client.put('/api/proxies/rotation', writeRotation(changes, this.rotationNames))
      const { settings, names } = readRotation({ ...writeRotation(merged, this.rotationNames), ...(raw ?? {}) })
      this.rotation = settings
      this.rotationNames = { ...this.rotationNames, ...names }
      this._trimHistories()
      return settings
    },

    // Health history window, applied at once to what is kept.
    setHealthWindow(size) {
      if (!Number.isInteger(size) || size < 1) throw new Error('the health window is a whole number of 1 or more')
      this.rotation.health_window = size
      this._trimHistories()
    },

    // --- per-proxy rate limiting ---
    // A proxy's own hourly budget is stored on the server (PATCH /api/proxies/{id}), which
    // holds it for every hand-out (the gateway, sessions, /next); null: the setting applies.
    setBudget(id, perHour) {
      return this._patch(id, `/api/proxies/${id}`, { hourly_budget: perHour ?? null })
    },
    isRateLimited(id) {
      this.tick()
      const proxy = this.byId.get(id)
      return Boolean(proxy) && overBudget(proxy, this.rotation, this.context)
    },

    // --- rotation ---
    // The store's own pick (for clients that rotate themselves): same rules as the server.
    next({ strategy, key } = {}) {
      this.tick()
      const result = pick(this.proxies, this.rotation, this.context, { strategy, key })
      this.cursor = result.cursor
      this.sticky = result.sticky
      const proxy = result.proxy
      if (proxy && coolState(proxy, this.rotation, this.cooling, this.now) === 'probation') {
        this.cooling[proxy.id] = { ...this.cooling[proxy.id], probing: this.now + PROBATION_SECONDS * 1000 }
      }
      if (proxy) this._count(proxy.id)
      const used = strategyFor(this.rotation, { strategy, key })
      this.lastPick = proxy ? { id: proxy.id, strategy: used, at: this.now } : null
      return proxy
    },

    // The server's pick, GET /api/proxies/next: its counters are merged into the proxy it
    // names (the answer's score and strategy are about the pick, not the proxy).
    async fetchNext(params = {}) {
      const picked = await deps.client.get('/api/proxies/next', params)
      if (picked && this.byId.has(picked.id)) {
        const counters = ['is_active', 'total_requests', 'failed_requests', 'requests_this_hour', 'error_count', 'updated_at']
        this._merge(Object.fromEntries([['id', picked.id], ...counters.filter((k) => k in picked).map((k) => [k, picked[k]])]))
      }
      return picked
    },

    // --- outcomes: performance, health, errors ---
    // A request made through a proxy: recorded in its health window and counters, and told
    // to the server (POST /api/proxies/{id}/report) unless `send` is false.
    async report(id, success, { latencyMs = null, send = true } = {}) {
      this.recordOutcome(id, success, latencyMs)
      if (!send) return this.byId.get(id)
      const answer = await deps.client.post(`/api/proxies/${id}/report`, { success })
      if (answer && typeof answer === 'object' && answer.id === id) this._merge(answer)
      return this.byId.get(id)
    },

    recordOutcome(id, success, latencyMs = null) {
      const proxy = this.byId.get(id)
      const now = this.tick()
      const list = this.history[id] ?? []
      list.push({ at: now, success: Boolean(success), latencyMs })
      this.history[id] = list.slice(-this.rotation.health_window)
      if (!proxy) return
      const hour = hourKey(now)
      const updated = { ...proxy }
      if (this.seenHour[id] !== hour) updated.requests_this_hour = 0
      this.seenHour[id] = hour
      if (!this.pending[id]) {
        updated.total_requests = (updated.total_requests ?? 0) + 1
        updated.requests_this_hour = (updated.requests_this_hour ?? 0) + 1
      }
      delete this.pending[id]
      if (success) {
        updated.error_count = 0
        delete this.cooling[id]
      } else {
        updated.failed_requests = (updated.failed_requests ?? 0) + 1
        updated.error_count = (updated.error_count ?? 0) + 1
        if (this.cooling[id]?.probing) this._coolOff(id, now, updated.error_count)
      }
      this._replace(updated)
      this._watchErrors(updated)
    },

    // --- internals ---
    async _patch(id, path, body) {
      try {
        const updated = await deps.client.patch(path, body)
        this.error = null
        this._merge(updated)
        return this.byId.get(id)
      } catch (failure) {
        this.error = failure
        throw failure
      }
    },
    _count(id) {
      // A pick counts against the proxy's hourly budget at once; its outcome then does not
      // count the request twice.
      const proxy = this.byId.get(id)
      const hour = hourKey(this.now)
      const used = this.seenHour[id] === hour ? proxy.requests_this_hour ?? 0 : 0
      this.seenHour[id] = hour
      this._replace({ ...proxy, requests_this_hour: used + 1, total_requests: (proxy.total_requests ?? 0) + 1 })
      this.pending[id] = true
    },
    _watchErrors(proxy) {
      const threshold = this.rotation.error_threshold
      if ((proxy.error_count ?? 0) >= threshold && !this.cooling[proxy.id]) {
        this._coolOff(proxy.id, this.tick(), proxy.error_count)
      }
      if ((proxy.error_count ?? 0) < threshold && this.cooling[proxy.id]) {
        delete this.cooling[proxy.id]
      }
    },
    _coolOff(id, now, errors) {
      this.cooling[id] = { since: now, until: now + this.rotation.cooloff_seconds * 1000, probing: 0 }
      this.alerts.push({ id, at: now, error_count: errors })
    },
    _merge(fields) {
      const old = this.byId.get(fields.id)
      if (!old) {
        this.proxies = [...this.proxies, fields]
      } else {
        this._replace({ ...old, ...fields, sessions: fields.sessions ?? old.sessions })
      }
      this.seenHour[fields.id] = hourKey(this.tick())
      this._watchErrors(this.byId.get(fields.id))
    },
    _replace(proxy) {
      this.proxies = this.proxies.map((p) => (p.id === proxy.id ? proxy : p))
    },
    _forget(id) {
      delete this.history[id]
      delete this.seenHour[id]
      delete this.cooling[id]
      delete this.pending[id]
      for (const [key, value] of Object.entries(this.sticky)) if (value === id) delete this.sticky[key]
    },
    _trimHistories() {
      for (const id of Object.keys(this.history)) this.history[id] = this.history[id].slice(-this.rotation.health_window)
    },
  },
})
