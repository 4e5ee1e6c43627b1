// The dashboard is built into the Python package, so `proxyfleet serve` ships it to machines
// without Node.js. OUT_DIR lets scripts/check-shipped.mjs build elsewhere and compare.
import { readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { fileURLToPath } from 'node:url'
import { defineConfig } from 'vite'
import vue from '@vitejs/plugin-vue'

const shipped = fileURLToPath(new URL('../src/proxyfleet/api/dashboard/static', import.meta.url))
const require = createRequire(import.meta.url)

// The API docs page (/docs) works offline too: Swagger UI's files ship with the dashboard
// (hashed like every asset), and docs.json tells the server their names.
function swaggerUi() {
  return {
    name: 'proxyfleet-swagger-ui',
    generateBundle() {
      const names = {}
      for (const [key, file] of [['js', 'swagger-ui-bundle.js'], ['css', 'swagger-ui.css']]) {
        const ref = this.emitFile({
          type: 'asset',
          name: file,
          source: readFileSync(require.resolve(`swagger-ui-dist/${file}`)),
        })
        names[key] = ref
      }
      this.emitFile({
        type: 'asset',
        fileName: 'docs.json',
        source: JSON.stringify({ js: `/${this.getFileName(names.js)}`, css: `/${this.getFileName(names.css)}` }),
      })
    },
  }
}

export default defineConfig({
  plugins: [vue(), swaggerUi()],
  base: '/',
  build: {
    outDir: process.env.OUT_DIR || shipped,
    emptyOutDir: true,
    assetsDir: 'assets',
    sourcemap: false,
    reportCompressedSize: false,
    chunkSizeWarningLimit: 2048,
  },
  test: {
    environment: 'node',
    include: ['src/**/*.test.js'],
  },
})
