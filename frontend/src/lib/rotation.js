// The rotation rules of issue 14's rotation service, as pure functions, so the store picks
// exactly as the server does for the same settings and state:
// - candidates are enabled (`is_active`), healthy (the checker's verdict: a proxy the server
//   gives a `status` must be `active`, and one it marks `healthy: false` is not) and under their
//   hourly budget (the proxy's own `hourly_budget`, else the setting; null means no budget) for the
//   current UTC clock hour;
// - a proxy whose consecutive errors reached `error_threshold` cools off for
//   `cooloff_seconds`, then gets exactly one probation request (another after
//   PROBATION_SECONDS if its outcome never comes): success rejoins it (errors back to 0),
//   failure starts a new cool-off;
// - strategies: round_robin (every candidate once, in id order, before any twice), weighted
//   (chance proportional to score; equal chances when every score is 0), least_used (fewest
//   requests this hour, then fewest in all, then lowest id), sticky (a key keeps its proxy while
//   it stays a candidate, else takes the next one round robin; a key with no strategy named
//   means sticky; sticky without a key is round robin);
// - score = health × traffic: health is the share of successes in the health window (the
//   proxy's checker score, else 1, before any), traffic is (successes + 1) / (requests + 1).

export const STRATEGIES = ['round_robin', 'weighted', 'least_used', 'sticky']

// A probation request whose outcome never comes back frees the proxy for another after this.
export const PROBATION_SECONDS = 30

export const DEFAULT_ROTATION = Object.freeze({
  strategy: 'round_robin',
  health_window: 20,
  hourly_budget: null,
  error_threshold: 5,
  cooloff_seconds: 300,
})

// The names the server may give each setting; the first is the store's own.
export const ROTATION_ALIASES = Object.freeze({
  strategy: ['strategy', 'default_strategy'],
  health_window: ['health_window', 'window', 'window_size', 'health_window_size'],
  hourly_budget: ['hourly_budget', 'hourly_request_budget', 'max_requests_per_hour', 'requests_per_hour'],
  error_threshold: ['error_threshold', 'max_consecutive_errors'],
  cooloff_seconds: ['cooloff_seconds', 'cool_off_seconds', 'cooldown_seconds'],
})

// Server settings to the store's names; `names` remembers which name the server used.
export function readRotation(raw) {
  const settings = { ...DEFAULT_ROTATION }
  const names = {}
  for (const [own, aliases] of Object.entries(ROTATION_ALIASES)) {
    const found = aliases.find((name) => raw && raw[name] !== undefined)
    if (found) {
      settings[own] = raw[found]
      names[own] = found
    }
  }
  return { settings, names }
}

// Changes in the store's names to a body in the server's names.
export function writeRotation(changes, names) {
  const body = {}
  for (const [own, value] of Object.entries(changes)) body[names[own] ?? own] = value
  return body
}

export function validateRotation(settings) {
  const problems = {}
  if (!STRATEGIES.includes(settings.strategy)) problems.strategy = `one of ${STRATEGIES.join(', ')}`
  for (const name of ['health_window', 'error_threshold']) {
    if (!Number.isInteger(settings[name]) || settings[name] < 1) problems[name] = 'a whole number of 1 or more'
  }
  if (settings.hourly_budget !== null && !(Number.isInteger(settings.hourly_budget) && settings.hourly_budget >= 1)) {
    problems.hourly_budget = 'a whole number of 1 or more, or null for none'
  }
  if (!Number.isFinite(settings.cooloff_seconds) || settings.cooloff_seconds < 0) {
    problems.cooloff_seconds = 'a number of 0 or more'
  }
  return problems
}

export const hourKey = (ms) => new Date(ms).toISOString().slice(0, 13)

// Requests in the current clock hour: the counter as last seen, zero once the hour has turned.
export function usedThisHour(proxy, seenHour, now) {
  return seenHour === hourKey(now) ? proxy.requests_this_hour ?? 0 : 0
}

export function budgetOf(proxy, settings) {
  const own = proxy.hourly_budget
  return own === undefined || own === null ? settings.hourly_budget : own
}

export function overBudget(proxy, settings, ctx) {
  const budget = budgetOf(proxy, settings)
  return budget !== null && budget !== undefined && usedThisHour(proxy, ctx.seenHour?.[proxy.id], ctx.now) >= budget
}

// The health window's outcomes: success share and mean latency.
export function windowStats(history = [], window = DEFAULT_ROTATION.health_window) {
  const recent = history.slice(-window)
  const latencies = recent.filter((h) => h.latencyMs !== null && h.latencyMs !== undefined).map((h) => h.latencyMs)
  return {
    samples: recent.length,
    successRate: recent.length ? recent.filter((h) => h.success).length / recent.length : null,
    avgLatencyMs: latencies.length ? latencies.reduce((a, b) => a + b, 0) / latencies.length : null,
  }
}

export function healthy(proxy) {
  if (proxy.healthy === false) return false
  return proxy.status === undefined || proxy.status === null || proxy.status === 'active'
}

// A proxy's score, the weight of `weighted`: health over the window × real traffic's success.
export function scoreOf(proxy, history, settings) {
  const { successRate } = windowStats(history, settings.health_window)
  const health = successRate ?? (typeof proxy.score === 'number' ? proxy.score : 1)
  const total = proxy.total_requests ?? 0
  const traffic = (total - (proxy.failed_requests ?? 0) + 1) / (total + 1)
  return Math.max(0, Math.min(1, health * traffic))
}

// 'ok' | 'cooling' (not before `until`) | 'probation' (one request allowed) | 'probing' (that
// request is out, waiting for its outcome).
export function coolState(proxy, settings, cooling, now) {
  const entry = cooling?.[proxy.id]
  if (!entry) return (proxy.error_count ?? 0) >= settings.error_threshold ? 'cooling' : 'ok'
  if (now < entry.until) return 'cooling'
  return entry.probing && now < entry.probing ? 'probing' : 'probation'
}

// Why a proxy is not a candidate now, or null when it is.
export function exclusion(proxy, settings, ctx) {
  if (!proxy.is_active) return 'disabled'
  if (!healthy(proxy)) return 'unhealthy'
  if (overBudget(proxy, settings, ctx)) return 'over_budget'
  const cool = coolState(proxy, settings, ctx.cooling, ctx.now)
  return cool === 'cooling' || cool === 'probing' ? 'cooling' : null
}

export function candidates(proxies, settings, ctx) {
  return proxies.filter((p) => exclusion(p, settings, ctx) === null).sort((a, b) => a.id - b.id)
}

function leastUsed(pool, ctx) {
  let best = null
  for (const p of pool) {
    if (best === null) {
      best = p
      continue
    }
    const a = usedThisHour(p, ctx.seenHour?.[p.id], ctx.now)
    const b = usedThisHour(best, ctx.seenHour?.[best.id], ctx.now)
    if (a < b || (a === b && (p.total_requests ?? 0) < (best.total_requests ?? 0))) best = p
  }
  return best
}

// The pick: { proxy, cursor, sticky } (cursor and sticky as they are after it), or
// { proxy: null } when no proxy is a candidate.
const hasKey = (key) => key !== null && key !== undefined && key !== ''

// The strategy a pick uses: the one named, else sticky for a key, else the settings'.
export function strategyFor(settings, { strategy, key = null } = {}) {
  return strategy ?? (hasKey(key) ? 'sticky' : settings.strategy)
}

export function pick(proxies, settings, ctx, { strategy, key = null } = {}) {
  strategy = strategyFor(settings, { strategy, key })
  const pool = candidates(proxies, settings, ctx)
  const sticky = { ...(ctx.sticky ?? {}) }
  let cursor = ctx.cursor ?? null
  if (!pool.length) return { proxy: null, cursor, sticky }
  let chosen
  const roundRobin = () => {
    const next = pool.find((p) => cursor === null || p.id > cursor) ?? pool[0]
    cursor = next.id
    return next
  }
  if (strategy === 'round_robin') {
    chosen = roundRobin()
  } else if (strategy === 'weighted') {
    const weights = pool.map((p) => Math.max(0, scoreOf(p, ctx.history?.[p.id], settings)))
    const sum = weights.reduce((a, b) => a + b, 0)
    const random = ctx.random ?? Math.random
    if (sum <= 0) chosen = pool[Math.min(pool.length - 1, Math.floor(random() * pool.length))]
    else {
      let r = random() * sum
      chosen = pool[pool.length - 1]
      for (let i = 0; i < pool.length; i++) {
        if (r < weights[i]) {
          chosen = pool[i]
          break
        }
        r -= weights[i]
      }
    }
  } else if (strategy === 'least_used') {
    chosen = leastUsed(pool, ctx)
  } else if (strategy === 'sticky' && hasKey(key)) {
    chosen = pool.find((p) => p.id === sticky[key]) ?? roundRobin()
    sticky[key] = chosen.id
  } else if (strategy === 'sticky') {
    chosen = roundRobin() // as the server does: without a key there is nothing to hold
  } else {
    throw new Error(`unknown strategy: ${strategy}`)
  }
  return { proxy: chosen, cursor, sticky }
}
