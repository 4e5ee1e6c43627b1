// Who is signed in: the API key (kept in sessionStorage only) and the account it opens.
import { defineStore } from 'pinia'
import { api, storedKey, storeKey } from '../lib/api.js'

export const useSession = defineStore('session', {
  state: () => ({ key: storedKey(), account: null, error: null, checking: false }),
  getters: {
    signedIn: (state) => Boolean(state.key && state.account),
    isAdmin: (state) => state.account?.role === 'admin',
  },
  actions: {
    async signIn(key) {
      this.checking = true
      this.error = null
      storeKey(key.trim())
      this.key = key.trim()
      try {
        this.account = await api.get('/account')
      } catch (failure) {
        storeKey('')
        this.key = ''
        this.account = null
        this.error = failure
      } finally {
        this.checking = false
      }
    },
    async resume() {
      if (this.key) await this.signIn(this.key)
    },
    signOut() {
      storeKey('')
      this.key = ''
      this.account = null
    },
  },
})
