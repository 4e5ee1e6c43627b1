// Rebuilds the dashboard into a temporary directory and fails when the build shipped inside
// the Python package (src/proxyfleet/api/dashboard/static) differs from it: the committed
// files must be exactly what the committed source builds to.
import { execFileSync } from 'node:child_process'
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, relative } from 'node:path'
import { fileURLToPath } from 'node:url'

const here = fileURLToPath(new URL('..', import.meta.url))
const shipped = fileURLToPath(new URL('../../src/proxyfleet/api/dashboard/static', import.meta.url))

function files(root) {
  const found = new Map()
  const walk = (dir) => {
    for (const name of readdirSync(dir)) {
      const path = join(dir, name)
      if (statSync(path).isDirectory()) walk(path)
      else found.set(relative(root, path), readFileSync(path))
    }
  }
  walk(root)
  return found
}

const out = mkdtempSync(join(tmpdir(), 'proxyfleet-dashboard-'))
try {
  execFileSync('npx', ['vite', 'build', '--logLevel', 'warn'], {
    cwd: here, env: { ...process.env, OUT_DIR: out }, stdio: 'inherit',
  })
  const built = files(out)
  const committed = files(shipped)
  const problems = []
  for (const [name, bytes] of built) {
    if (!committed.has(name)) problems.push(`missing from the shipped build: ${name}`)
    else if (!committed.get(name).equals(bytes)) problems.push(`differs from the source's build: ${name}`)
  }
  for (const name of committed.keys()) {
    if (!built.has(name)) problems.push(`shipped but not built from the source: ${name}`)
  }
  if (problems.length) {
    console.error(problems.join('\n'))
    console.error('Run `make dashboard` (npm run build in frontend/) and commit the result.')
    process.exit(1)
  }
  console.log(`shipped dashboard matches its source (${built.size} files)`)
} finally {
  rmSync(out, { recursive: true, force: true })
}
