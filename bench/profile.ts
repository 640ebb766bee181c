// Profiles the compiled service under load on one route and prints the functions
// with the most self time. `npx tsx bench/profile.ts /users/me`; `/auth/token` profiles
// logins (with cheap argon2 parameters, so that the event loop's share shows).
import { execFileSync, spawn } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import autocannon from 'autocannon'
import { serviceArgs } from './start-command.js'

const route = process.argv[2] ?? '/users/me'
const root = path.resolve(import.meta.dirname, '..')
const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'profile-'))
const profileDir = fs.mkdtempSync(path.join(os.tmpdir(), 'cpuprofile-'))
execFileSync('npm', ['run', 'build', '--silent'], { cwd: root, stdio: 'inherit' })
const port = 3900 + Math.floor(Math.random() * 90)
const child = spawn(process.execPath, ['--cpu-prof', `--cpu-prof-dir=${profileDir}`, ...serviceArgs], {
  cwd: root, env: { ...process.env, DATA_DIR: dataDir, PORT: String(port), LOG_LEVEL: 'warn', ARGON2_MEMORY_KIB: '1024', ARGON2_TIME_COST: '1', LOGIN_RATE_LIMIT: '100000000' }, stdio: 'inherit'
})
const base = `http://127.0.0.1:${port}`
while ((await fetch(`${base}/health/ready`).catch(() => undefined))?.status !== 200) await new Promise((resolve) => setTimeout(resolve, 20))
await fetch(`${base}/users`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ email: 'p@example.test', password: 'profile passphrase' }) })
const { access_token: token } = await (await fetch(`${base}/auth/token`, { method: 'POST', body: new URLSearchParams({ username: 'p@example.test', password: 'profile passphrase' }) })).json() as { access_token: string }
const load = route === '/auth/token'
  ? { method: 'POST' as const, headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ username: 'p@example.test', password: 'profile passphrase' }).toString() }
  : { headers: { authorization: `Bearer ${token}` } }
const result = await autocannon({ url: `${base}${route}`, connections: 50, duration: 6, ...load })
console.log(`${route}: ${Math.round(result.requests.average)} req/s, non-2xx ${result.non2xx}`)
child.kill('SIGINT')
await new Promise((resolve) => child.once('exit', resolve))

interface Node { id: number, callFrame: { functionName: string, url: string, lineNumber: number }, hitCount: number }
const file = fs.readdirSync(profileDir)[0] as string
const profile = JSON.parse(fs.readFileSync(path.join(profileDir, file), 'utf8')) as { nodes: Node[] }
const total = profile.nodes.reduce((sum, node) => sum + node.hitCount, 0)
const bySite = new Map<string, number>()
for (const node of profile.nodes) {
  const { functionName, url, lineNumber } = node.callFrame
  const site = `${functionName || '(anonymous)'} ${url.replace(/^.*node_modules\//, '').replace(`file://${root}/`, '')}:${lineNumber + 1}`
  bySite.set(site, (bySite.get(site) ?? 0) + node.hitCount)
}
for (const [site, hits] of [...bySite].sort((a, b) => b[1] - a[1]).slice(0, 25)) console.log(`${(hits / total * 100).toFixed(1).padStart(5)} %  ${site}`)
// The same self time by package (node_modules/<name>), our code (dist/…), or Node itself.
const byPackage = new Map<string, number>()
for (const node of profile.nodes) {
  const { url } = node.callFrame
  const name = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url)?.[1] ?? (url.includes(`${root}/dist/`) ? 'ours' : url.startsWith('node:') ? 'node' : url === '' ? '(native, gc, idle)' : url)
  byPackage.set(name, (byPackage.get(name) ?? 0) + node.hitCount)
}
console.log('by package:')
for (const [name, hits] of [...byPackage].sort((a, b) => b[1] - a[1]).slice(0, 12)) console.log(`${(hits / total * 100).toFixed(1).padStart(5)} %  ${name}`)
fs.rmSync(dataDir, { recursive: true, force: true })
fs.rmSync(profileDir, { recursive: true, force: true })
