// The one HTTP client of the dashboard: the public REST API, with the API key from the
// browser session (sessionStorage, never a URL). Errors keep the API's own words whatever
// envelope the surface uses.

export const KEY_STORAGE = 'proxyfleet.apiKey'

export class ApiError extends Error {
  constructor(status, code, message, details) {
    super(message)
    this.name = 'ApiError'
    this.status = status
    this.code = code
    this.details = details ?? {}
  }
}

// Every surface's error shape, read into (code, message, details):
// pool     {"error": {"code", "message", "details"}}
// manager  {"error": "validation_error", "message", "details"}
// ipv6     {"error": "Interface name is required", "code"?}
// seed 003 {"success": false, "error_code", "message", "errors"}
// shop     {"detail": "message"}, or for 422 {"detail": [{"type", "loc", "msg"}]} (FastAPI's)
export function errorFrom(status, body, statusText = '') {
  const error = body && typeof body === 'object' ? body.error : undefined
  if (error && typeof error === 'object') {
    return new ApiError(status, error.code ?? `HTTP_${status}`, error.message ?? statusText, error.details)
  }
  if (typeof error === 'string') {
    if (typeof body.message === 'string') return new ApiError(status, error, body.message, body.details)
    return new ApiError(status, body.code ?? `HTTP_${status}`, error, body.details)
  }
  if (body && typeof body.error_code === 'string') {
    return new ApiError(status, body.error_code, body.message ?? statusText, body.errors)
  }
  if (body && typeof body.detail === 'string') return new ApiError(status, `HTTP_${status}`, body.detail)
  if (body && Array.isArray(body.detail)) {
    const words = body.detail.map((d) => `${(d.loc ?? []).filter((part) => part !== 'body').join('.')}: ${d.msg}`)
    return new ApiError(status, `HTTP_${status}`, words.join('; '), { fields: body.detail })
  }
  return new ApiError(status, `HTTP_${status}`, statusText || `The server answered ${status}.`)
}

export function storedKey() {
  try {
    return globalThis.sessionStorage?.getItem(KEY_STORAGE) ?? ''
  } catch {
    return ''
  }
}

export function storeKey(key) {
  if (key) globalThis.sessionStorage?.setItem(KEY_STORAGE, key)
  else globalThis.sessionStorage?.removeItem(KEY_STORAGE)
}

export function query(params) {
  const parts = []
  for (const [name, value] of Object.entries(params ?? {})) {
    if (value === undefined || value === null || value === '') continue
    parts.push(`${encodeURIComponent(name)}=${encodeURIComponent(value)}`)
  }
  return parts.length ? `?${parts.join('&')}` : ''
}

// A client bound to a key source and a fetch; the store and pages share the default one, tests
// make their own.
export function createClient({ base = '', key = storedKey, fetch: fetchImpl } = {}) {
  const doFetch = fetchImpl ?? ((...args) => globalThis.fetch(...args))
  // `headers` are added to the request's own; `text: true` returns a successful answer's body
  // as text (CSV, TXT exports) while errors are still read as JSON.
  async function request(method, path, { body, params, headers: extra, text: asText = false } = {}) {
    const headers = { Accept: asText ? '*/*' : 'application/json', ...(extra ?? {}) }
    const token = typeof key === 'function' ? key() : key
    if (token) headers.Authorization = `Bearer ${token}`
    const init = { method, headers }
    if (body !== undefined) {
      headers['Content-Type'] = 'application/json'
      init.body = JSON.stringify(body)
    }
    let response
    try {
      response = await doFetch(`${base}${path}${query(params)}`, init)
    } catch (failure) {
      throw new ApiError(0, 'NETWORK_ERROR', `The server could not be reached: ${failure.message}`)
    }
    if (response.status === 204) return null
    const text = await response.text()
    if (response.ok && asText) return text
    let parsed = null
    if (text) {
      try {
        parsed = JSON.parse(text)
      } catch {
        parsed = null
      }
    }
    if (!response.ok) throw errorFrom(response.status, parsed, response.statusText)
    return parsed
  }
  return {
    request,
    get: (path, params) => request('GET', path, { params }),
    post: (path, body, params, options) => request('POST', path, { body, params, ...options }),
    text: (path, params) => request('GET', path, { params, text: true }),
    put: (path, body) => request('PUT', path, { body }),
    patch: (path, body) => request('PATCH', path, { body }),
    del: (path, body) => request('DELETE', path, { body }),
  }
}

export const api = createClient()
