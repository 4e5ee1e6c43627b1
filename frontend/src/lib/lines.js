// Proxy lists pasted or uploaded for import: one proxy per line, in the usual forms
//   ip:port   user:pass@ip:port   ip:port:user:pass   protocol://[user:pass@]ip:port
// Blank lines and # comments are skipped; anything else unreadable is reported by line number.
const PROTOCOLS = new Set(['http', 'https', 'socks4', 'socks5'])

function hostPort(text) {
  const bracketed = /^\[([0-9a-fA-F:.]+)\]:(\d{1,5})$/.exec(text)
  const plain = /^([^:\s/@]+):(\d{1,5})$/.exec(text)
  const found = bracketed ?? plain
  if (!found) return null
  const port = Number(found[2])
  if (port < 1 || port > 65535) return null
  return { ip: found[1], port }
}

export function parseLine(line, defaultProtocol = 'http') {
  let text = line.trim()
  let protocol = defaultProtocol
  const scheme = /^([a-z0-9]+):\/\//i.exec(text)
  if (scheme) {
    protocol = scheme[1].toLowerCase()
    if (!PROTOCOLS.has(protocol)) return null
    text = text.slice(scheme[0].length)
  }
  let username = null
  let password = null
  const at = text.lastIndexOf('@')
  if (at >= 0) {
    const login = text.slice(0, at)
    const colon = login.indexOf(':')
    if (colon < 0) return null
    username = decodeURIComponent(login.slice(0, colon))
    password = decodeURIComponent(login.slice(colon + 1))
    text = text.slice(at + 1)
  } else {
    const parts = text.split(':')
    if (parts.length === 4 && !text.startsWith('[')) {
      text = `${parts[0]}:${parts[1]}`
      username = parts[2]
      password = parts[3]
    }
  }
  const address = hostPort(text)
  if (!address) return null
  const proxy = { ...address, protocol }
  if (username !== null) Object.assign(proxy, { username, password })
  return proxy
}

export function parseList(text, defaultProtocol = 'http') {
  const proxies = []
  const rejected = []
  text.split(/\r?\n/).forEach((line, index) => {
    const trimmed = line.trim()
    if (!trimmed || trimmed.startsWith('#')) return
    const proxy = parseLine(trimmed, defaultProtocol)
    if (proxy) proxies.push(proxy)
    else rejected.push({ line: index + 1, text: trimmed })
  })
  return { proxies, rejected }
}

export function chunks(items, size) {
  const out = []
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size))
  return out
}
