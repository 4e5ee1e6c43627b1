// An in-memory server with seed 000's endpoints, bodies and flat error envelope, plus the
// rotation settings and report endpoints of issue 14, answering through a fetch function: the
// store's tests talk to it as the browser talks to proxyfleet. `names` picks the server's
// names of the rotation settings, so a test can show the store writes back what it read.
export function seedServer({ now = () => Date.now(), names = {}, rotation = {} } = {}) {
  const proxies = new Map()
  let nextProxyId = 1
  let nextSessionId = 1
  const calls = []
  const settingNames = {
    strategy: 'strategy', health_window: 'health_window', hourly_budget: 'hourly_budget',
    error_threshold: 'error_threshold', cooloff_seconds: 'cooloff_seconds', ...names,
  }
  const settings = {
    [settingNames.strategy]: 'round_robin', [settingNames.health_window]: 20,
    [settingNames.hourly_budget]: 1000, [settingNames.error_threshold]: 5,
    [settingNames.cooloff_seconds]: 300, ...rotation,
  }
  const iso = () => new Date(now()).toISOString()
  const json = (status, body) =>
    new Response(body === undefined ? null : JSON.stringify(body), {
      status, headers: { 'Content-Type': 'application/json' },
    })
  const fail = (status, error, message, details = {}) => json(status, { error, message, details })
  const view = (p, withSessions = true) => {
    const { sessions, ...rest } = p
    return withSessions ? { ...rest, sessions: sessions.map((s) => ({ ...s })) } : { ...rest }
  }

  function create(body) {
    const missing = ['ip', 'port', 'session'].filter((f) => body[f] === undefined || body[f] === '')
    if (missing.length) return fail(422, 'validation_error', 'Missing or invalid fields', { fields: missing })
    if (!Number.isInteger(body.port) || body.port < 1 || body.port > 65535) {
      return fail(422, 'validation_error', 'Missing or invalid fields', { fields: ['port'] })
    }
    for (const p of proxies.values()) {
      if (p.ip === body.ip && p.port === body.port) {
        return fail(409, 'duplicate_proxy', 'Proxy with same IP/port exists', { ip: body.ip, port: body.port })
      }
      if (p.sessions.some((s) => s.session === body.session)) {
        return fail(409, 'duplicate_session', 'Session cookie already in use', {})
      }
    }
    const proxy = {
      id: nextProxyId++, ip: body.ip, port: body.port, username: body.username ?? null,
      password: body.password ?? null, protocol: body.protocol ?? 'http', shared: body.shared ?? false,
      hourly_budget: body.hourly_budget ?? null, is_active: true, total_requests: 0, failed_requests: 0,
      requests_this_hour: 0, error_count: 0, created_at: iso(), updated_at: iso(),
      sessions: [{ id: nextSessionId++, session: body.session, status: 'active' }],
    }
    proxies.set(proxy.id, proxy)
    return json(201, view(proxy))
  }

  async function fetch(url, init = {}) {
    const method = init.method ?? 'GET'
    const path = url.split('?')[0]
    let body
    if (init.body !== undefined) {
      try {
        body = JSON.parse(init.body)
      } catch {
        return fail(400, 'invalid_request', 'Invalid request format/data')
      }
    }
    calls.push({ method, path, body, headers: init.headers })
    let m
    if (path === '/api/proxies' && method === 'GET') return json(200, [...proxies.values()].map((p) => view(p)))
    if (path === '/api/proxies' && method === 'POST') return create(body)
    if (path === '/api/proxies/rotation' && method === 'GET') return json(200, { ...settings })
    if (path === '/api/proxies/rotation' && method === 'PUT') {
      const unknown = Object.keys(body).filter((k) => !(k in settings))
      if (unknown.length) return fail(422, 'validation_error', 'Missing or invalid fields', { fields: unknown })
      Object.assign(settings, body)
      return json(200, { ...settings })
    }
    if (path === '/api/proxies/next' && method === 'GET') {
      // The first enabled proxy, counted as handed out (enough for the store's merge).
      const proxy = [...proxies.values()].find((p) => p.is_active)
      if (!proxy) return fail(404, 'not_found', 'No proxy available')
      proxy.requests_this_hour += 1
      return json(200, { ...view(proxy, false), proxy_id: 'uuid', score: 0.75, strategy: 'round_robin' })
    }
    if ((m = /^\/api\/proxies\/(\d+)$/.exec(path)) && method === 'DELETE') {
      if (!proxies.delete(Number(m[1]))) return fail(404, 'not_found', 'Requested resource not found', { proxy_id: Number(m[1]) })
      return json(204)
    }
    if ((m = /^\/api\/proxies\/(\d+)\/status$/.exec(path)) && method === 'PATCH') {
      const proxy = proxies.get(Number(m[1]))
      if (!proxy) return fail(404, 'not_found', 'Requested resource not found', { proxy_id: Number(m[1]) })
      if (!['active', 'disabled'].includes(body?.status)) {
        return fail(422, 'validation_error', 'Missing or invalid fields', { fields: ['status'] })
      }
      proxy.is_active = body.status === 'active'
      proxy.updated_at = iso()
      return json(200, view(proxy, false))
    }
    if ((m = /^\/api\/proxies\/(\d+)$/.exec(path)) && method === 'PATCH') {
      const proxy = proxies.get(Number(m[1]))
      if (!proxy) return fail(404, 'not_found', 'Requested resource not found', { proxy_id: Number(m[1]) })
      const unknown = Object.keys(body ?? {}).filter((k) => !['is_active', 'shared', 'hourly_budget'].includes(k))
      if (unknown.length) return fail(422, 'validation_error', 'Missing or invalid fields', { fields: unknown })
      const budget = body.hourly_budget
      if (budget !== undefined && budget !== null && !(Number.isInteger(budget) && budget >= 1)) {
        return fail(422, 'validation_error', 'Missing or invalid fields', { fields: ['hourly_budget'] })
      }
      Object.assign(proxy, body, { updated_at: iso() })
      return json(200, view(proxy, false))
    }
    if ((m = /^\/api\/proxies\/(\d+)\/report$/.exec(path)) && method === 'POST') {
      const proxy = proxies.get(Number(m[1]))
      if (!proxy) return fail(404, 'not_found', 'Requested resource not found', { proxy_id: Number(m[1]) })
      proxy.total_requests += 1
      proxy.requests_this_hour += 1
      if (body.success) proxy.error_count = 0
      else {
        proxy.failed_requests += 1
        proxy.error_count += 1
      }
      return json(200, view(proxy, false))
    }
    return fail(404, 'not_found', 'Requested resource not found')
  }

  return { fetch, proxies, settings, calls }
}
