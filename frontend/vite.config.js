// The dashboard is built into the Python package, so `proxyfleet serve` ships it to machines
// without Node.js. OUT_DIR lets scripts/check-shipped.mjs build elsewhere and compare.
import { fileURLToPath } from 'node:url'
import { defineConfig } from 'vite'
import vue from '@vitejs/plugin-vue'

const shipped = fileURLToPath(new URL('../src/proxyfleet/api/dashboard/static', import.meta.url))

export default defineConfig({
  plugins: [vue()],
  base: '/',
  build: {
    outDir: process.env.OUT_DIR || shipped,
    emptyOutDir: true,
    assetsDir: 'assets',
    sourcemap: false,
    reportCompressedSize: false,
  },
  test: {
    environment: 'node',
    include: ['src/**/*.test.js'],
  },
})
