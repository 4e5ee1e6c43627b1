export const fmt = {
  score: (v) => (v === null || v === undefined ? '–' : Number(v).toFixed(2)),
  ms: (v) => (v === null || v === undefined ? '–' : `${Math.round(v)} ms`),
  pct: (v) => (v === null || v === undefined ? '–' : `${Number(v).toFixed(1)} %`),
  when: (v) => (v ? new Date(v).toLocaleString() : '–'),
  ago(v) {
    if (!v) return 'never'
    const s = Math.round((Date.now() - new Date(v).getTime()) / 1000)
    if (s < 60) return `${Math.max(s, 0)} s ago`
    if (s < 3600) return `${Math.round(s / 60)} min ago`
    return `${Math.round(s / 3600)} h ago`
  },
}

// Check records grouped into rounds (the records of one round share their time), oldest
// first: a round passed when every stage it reached passed.
export function rounds(checks, most = 12) {
  const byTime = new Map()
  for (const c of checks) {
    const round = byTime.get(c.created_at) ?? { at: c.created_at, passed: true, stages: [] }
    round.passed &&= c.passed
    round.stages.push(`${c.checker_name}: ${c.detail}`)
    byTime.set(c.created_at, round)
  }
  return [...byTime.values()].sort((a, b) => (a.at < b.at ? -1 : 1)).slice(-most)
}
