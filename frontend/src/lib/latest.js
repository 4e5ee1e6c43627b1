// Live data without going back in time: every request takes a ticket, and its answer is used
// only when no answer to a later request was used before it. A slow response therefore never
// overwrites a newer one, while a steady stream of slow polls still lands.
export function latestOnly() {
  let issued = 0
  let applied = 0
  return async function run(load, apply) {
    const ticket = ++issued
    let result
    try {
      result = await load()
    } catch (failure) {
      if (ticket <= applied) return false // a newer answer is already shown
      throw failure
    }
    if (ticket <= applied) return false
    applied = ticket
    apply(result)
    return true
  }
}

// Calls `tick` now and then every `ms` after each round ends (never two rounds at once);
// returns a stop function.
export function poll(tick, ms) {
  let stopped = false
  let timer = null
  const round = async () => {
    if (stopped) return
    try {
      await tick()
    } catch {
      // The page shows its own errors; polling goes on.
    }
    if (!stopped) timer = setTimeout(round, ms)
  }
  round()
  return () => {
    stopped = true
    if (timer) clearTimeout(timer)
  }
}
