// The store's rotation rules (src/lib/rotation.js) applied to states read as JSON from stdin:
// for each, the proxies it may hand out, their scores, the strategy, the pick and where round
// robin and the sticky key stand after it. tests/unit/pool/test_rotation_parity.py runs this
// with the states it runs through the server's rules, and compares.
import { candidates, hourKey, pick, readRotation, scoreOf, strategyFor } from '../src/lib/rotation.js'

let input = ''
for await (const chunk of process.stdin) input += chunk

const outcomes = JSON.parse(input).map((state) => {
  const { settings } = readRotation(state.settings)
  const ctx = { now: state.now, cursor: state.cursor, sticky: state.sticky, seenHour: {}, cooling: {}, history: {} }
  for (const p of state.proxies) {
    ctx.seenHour[p.id] = hourKey(state.now)
    if (p.cooling) ctx.cooling[p.id] = p.cooling
    ctx.history[p.id] = [...p.health_window].map((c) => ({ success: c === '1' }))
  }
  const wanted = { strategy: state.strategy ?? undefined, key: state.key }
  const strategy = strategyFor(settings, wanted)
  const allowed = candidates(state.proxies, settings, ctx)
  const picked = pick(state.proxies, settings, ctx, wanted)
  return {
    strategy,
    candidates: allowed.map((p) => p.id),
    scores: Object.fromEntries(allowed.map((p) => [String(p.id), scoreOf(p, ctx.history[p.id], settings)])),
    pick: strategy === 'weighted' ? null : picked.proxy?.id ?? null,
    cursor: picked.cursor ?? null,
    sticky: state.key ? picked.sticky[state.key] ?? null : null,
  }
})
process.stdout.write(JSON.stringify(outcomes))
