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
