// A page's actions: each clears the page's error, runs, and on failure shows the API's error
// (and answers null); `after` (a reload, say) runs after each success.
export function guarded(error, after = null) {
  return async function guard(work) {
    error.value = null
    try {
      const answer = await work()
      if (after) await after()
      return answer
    } catch (failure) {
      error.value = failure
      return null
    }
  }
}
