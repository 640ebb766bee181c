// npm run bench: the real service (compiled, default argon2, fresh data) and a raw
// node:http "hello" baseline, both pinned to CPU 0, driven by autocannon from this
// process on CPU 1. Prints requests/s, p50/p99 and the ratio to the baseline, and
// writes the same to bench/results/<date>.json. Figures are reports, not tests.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process'
import fs from 'node:fs'
import net from 'node:net'
import os from 'node:os'
import path from 'node:path'
import autocannon, { type Options, type Request as LoadRequest, type Result } from 'autocannon'
import { serviceArgs } from './start-command.js'

const root = path.resolve(import.meta.dirname, '..')
const WARMUP_S = Number(process.env.BENCH_WARMUP ?? 2)
const DURATION_S = Number(process.env.BENCH_DURATION ?? 8)
const CONNECTIONS = 50
const USERS = 200
const PASSWORD = 'bench passphrase 123'
const twoCores = os.cpus().length >= 2
const pinned = (cpu: number, command: string, args: string[]) => (twoCores ? ['taskset', ['-c', String(cpu), command, ...args]] : [command, args]) as [string, string[]]
const children: ChildProcess[] = []
const cleanup = () => { for (const child of children) if (child.exitCode === null) child.kill('SIGKILL') }
process.on('exit', cleanup)
process.on('SIGINT', () => { cleanup(); process.exit(130) })

// The load generator takes the other core.
if (twoCores) execFileSync('taskset', ['-cp', '1', String(process.pid)], { stdio: 'ignore' })

async function freePort (): Promise<number> {
  const server = net.createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as net.AddressInfo
  await new Promise((resolve) => server.close(resolve))
  return port
}

/** Starts a server pinned to CPU 0 and resolves once `readyPath` answers 200. */
async function start (nodeArgs: readonly string[], env: Record<string, string>, readyPath = '/health/ready') {
  const port = await freePort()
  const url = `http://127.0.0.1:${port}`
  const startedAt = performance.now()
  const [command, args] = pinned(0, process.execPath, [...nodeArgs])
  const child = spawn(command, args, { cwd: root, env: { ...process.env, ...env, PORT: String(port) }, stdio: ['ignore', 'ignore', 'inherit'] })
  children.push(child)
  let exited = false
  child.once('exit', () => { exited = true })
  for (;;) {
    if (exited) throw new Error(`${nodeArgs.join(' ')} exited before it was ready`)
    const res = await fetch(`${url}${readyPath}`).catch(() => undefined)
    if (res?.status === 200) return { child, url, readyMs: Math.round(performance.now() - startedAt) }
    await new Promise((resolve) => setTimeout(resolve, 5))
  }
}

async function stop (child: ChildProcess) {
  if (child.exitCode !== null) return
  child.kill('SIGTERM')
  await new Promise((resolve) => child.once('exit', resolve))
}

const fire = (options: Options) => new Promise<Result>((resolve, reject) => {
  autocannon(options, (err, result) => (err ? reject(err) : resolve(result)))
})

interface Row { scenario: string, rps: number, p50: number, p99: number, non2xx: number, non2xxStatuses?: string, ratio?: number, errors: number, peakRssMb?: number }
const rows: Row[] = []
let baselineRps = NaN
// Set once the service runs: each scenario then records the service's peak RSS so far.
let servicePid: number | undefined

async function measure (scenario: string, options: Options): Promise<Row> {
  await fire({ ...options, duration: WARMUP_S })
  const result = await fire({ ...options, duration: DURATION_S })
  const row = {
    scenario,
    rps: Math.round(result.requests.average),
    p50: result.latency.p50,
    p99: result.latency.p99,
    non2xx: result.non2xx,
    non2xxStatuses: non2xxStatuses(result),
    errors: result.errors + result.timeouts,
    ratio: Number.isNaN(baselineRps) ? undefined : +(result.requests.average / baselineRps).toFixed(2),
    peakRssMb: servicePid === undefined ? undefined : peakRssMb(servicePid)
  }
  rows.push(row)
  console.log(`  ${scenario}: ${row.rps} req/s, p50 ${row.p50} ms, p99 ${row.p99} ms${row.non2xx ? `, ${row.non2xx} non-2xx (${row.non2xxStatuses})` : ''}${row.peakRssMb ? `, peak RSS so far ${row.peakRssMb} MB` : ''}`)
  return row
}

// "409×3, 503×2": which answers were not 2xx, so a non-zero count explains itself.
function non2xxStatuses (result: Result): string {
  return Object.entries(result.statusCodeStats as Record<string, { count: number }>)
    .filter(([status]) => !status.startsWith('2'))
    .map(([status, { count }]) => `${status}×${count}`)
    .join(', ')
}

async function json<T> (response: Response): Promise<T> {
  if (!response.ok) throw new Error(`${response.status} ${await response.text()}`)
  return await response.json() as T
}

function peakRssMb (pid: number): number {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8')
  return Math.round(Number(/VmHWM:\s+(\d+)/.exec(status)?.[1] ?? 0) / 1024)
}

console.log('building…')
execFileSync('npm', ['run', 'build', '--silent'], { cwd: root, stdio: 'inherit' })
const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'ecommerce-bench-'))
// Request logging off (warn): at 10k+ req/s the log, not the service, would be measured.
const env = {
  DATA_DIR: dataDir, LOG_LEVEL: 'warn', SMTP_URL: '', ADMIN_EMAIL: 'admin@bench.test', ADMIN_PASSWORD: PASSWORD,
  LOGIN_RATE_LIMIT: '100000000', LOGIN_MAX_FAILURES: '100000000'
}

// 1. The ceiling: raw node:http.
const baseline = await start(['bench/baseline-server.mjs'], {}, '/')
console.log('baseline')
baselineRps = (await measure('raw node:http hello (baseline)', { url: `${baseline.url}/`, connections: CONNECTIONS })).rps
baselineRps = rows[0]!.rps
rows[0]!.ratio = 1
await stop(baseline.child)

// 2. The service, seeded through its own API.
const service = await start(serviceArgs, env)
servicePid = service.child.pid
console.log(`  RSS when ready: ${peakRssMb(service.child.pid as number)} MB`)
const api = service.url
console.log(`service at ${api}; seeding ${USERS} users and a catalogue…`)
const admin = await json<{ access_token: string }>(await fetch(`${api}/auth/token`, { method: 'POST', body: new URLSearchParams({ username: 'admin@bench.test', password: PASSWORD }) }))
const adminHeaders = { authorization: `Bearer ${admin.access_token}`, 'content-type': 'application/json' }
const productIds: number[] = []
for (let i = 0; i < 25; i++) {
  const product = await json<{ id: number }>(await fetch(`${api}/products`, {
    method: 'POST', headers: adminHeaders, body: JSON.stringify({ name: `Bench product ${i}`, description: 'A product for load tests', price_cents: 999 + i, stock: 1_000_000 })
  }))
  productIds.push(product.id)
}
const emails = Array.from({ length: USERS }, (_, i) => `bench-${i}@bench.test`)
const tokens: string[] = []
for (let i = 0; i < USERS; i += 8) {
  await Promise.all(emails.slice(i, i + 8).map(async (email) => {
    await json(await fetch(`${api}/users`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ email, password: PASSWORD }) }))
    const pair = await json<{ access_token: string }>(await fetch(`${api}/auth/token`, { method: 'POST', body: new URLSearchParams({ username: email, password: PASSWORD }) }))
    tokens.push(pair.access_token)
  }))
}
// Every user has one line in the cart for GET /cart.
await Promise.all(tokens.map((token, i) => fetch(`${api}/cart/items`, {
  method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify({ product_id: productIds[i % productIds.length], quantity: 1 })
})))

let next = 0
const rotatingToken = () => tokens[next++ % tokens.length] as string
const asNextUser = { setupRequest: (request: LoadRequest): LoadRequest => ({ ...request, headers: { ...request.headers, authorization: `Bearer ${rotatingToken()}` } }) }

console.log('scenarios')
await measure('GET /health/live', { url: `${api}/health/live`, connections: CONNECTIONS })
await measure('GET /users/me (200 users\' tokens)', { url: api, connections: CONNECTIONS, requests: [{ method: 'GET', path: '/users/me', ...asNextUser }] })
await measure('GET /products (20 items)', { url: api, connections: CONNECTIONS, requests: [{ method: 'GET', path: '/products?limit=20' }] })
await measure('GET /cart', { url: api, connections: CONNECTIONS, requests: [{ method: 'GET', path: '/cart', ...asNextUser }] })

// Checkout: each connection is one user, adding to the cart then checking out.
let connectionUser = 0
const checkout = await measure('checkout: POST /cart/items + POST /orders', {
  url: api,
  connections: CONNECTIONS,
  requests: [
    {
      method: 'POST',
      path: '/cart/items',
      setupRequest: (request: LoadRequest, context: { token?: string }): LoadRequest => {
        context.token ??= tokens[connectionUser++ % tokens.length]
        return { ...request, headers: { authorization: `Bearer ${String(context.token)}`, 'content-type': 'application/json' }, body: JSON.stringify({ product_id: productIds[0], quantity: 1 }) }
      }
    },
    {
      method: 'POST',
      path: '/orders',
      setupRequest: (request: LoadRequest, context: { token?: string }): LoadRequest => ({
        ...request, headers: { authorization: `Bearer ${String(context.token)}`, 'content-type': 'application/json' }, body: JSON.stringify({ shipping_address: '1 Bench Road' })
      })
    }
  ]
})
const ordersPerSecond = Math.round(checkout.rps / 2)

// Every order queued a confirmation e-mail, which the outbox worker sends in the
// background on the same event loop. Waiting for that backlog keeps it out of the
// login figures, and times the worker:
// without SMTP_URL a "send" is a log call that LOG_LEVEL=warn drops, so this is the
// outbox's own rate (claim, mark sent), not an SMTP server's.
const outboxBacklog = async () => (await json<{ outbox_backlog: number }>(await fetch(`${api}/health/ready`))).outbox_backlog
const mailsQueued = await outboxBacklog()
const drainStarted = performance.now()
const DRAIN_LIMIT_MS = 120_000
while (await outboxBacklog() > 0 && performance.now() - drainStarted < DRAIN_LIMIT_MS) await new Promise((resolve) => setTimeout(resolve, 50))
const drainSeconds = (performance.now() - drainStarted) / 1000
const mailsLeft = await outboxBacklog()
const mailsPerSecond = Math.round((mailsQueued - mailsLeft) / drainSeconds)
console.log(`  outbox: ${mailsQueued} e-mails queued by the checkout, ${mailsQueued - mailsLeft} sent in ${drainSeconds.toFixed(1)} s (${mailsPerSecond}/s)${mailsLeft ? `, ${mailsLeft} still queued` : ''}`)

const loginRequest = { method: 'POST' as const, path: '/auth/token', headers: { 'content-type': 'application/x-www-form-urlencoded' }, setupRequest: (request: LoadRequest): LoadRequest => ({ ...request, body: new URLSearchParams({ username: emails[next++ % emails.length] as string, password: PASSWORD }).toString() }) }
const login = await measure('POST /auth/token (login)', { url: api, connections: 8, requests: [loginRequest] })

// Protected reads while a login storm runs.
const [storm, reads] = await Promise.all([
  fire({ url: api, connections: 32, duration: DURATION_S, requests: [loginRequest] }),
  fire({ url: api, connections: 10, duration: DURATION_S, requests: [{ method: 'GET', path: '/users/me', ...asNextUser }] })
])
rows.push({ scenario: 'GET /users/me during a login storm', rps: Math.round(reads.requests.average), p50: reads.latency.p50, p99: reads.latency.p99, non2xx: reads.non2xx, errors: reads.errors + reads.timeouts, ratio: +(reads.requests.average / baselineRps).toFixed(2) })
console.log(`  storm: ${Math.round(storm.requests.average)} logins/s (${storm.non2xx} non-2xx${storm.non2xx ? ` ${non2xxStatuses(storm)}` : ''}: 503s would be the bounded queue); /users/me p99 ${reads.latency.p99} ms`)

const rssMb = peakRssMb(service.child.pid as number)
await stop(service.child)

// The argon2 ceiling on the same core, same parameters and concurrency as the service's pool.
const ceilingOut = execFileSync(...pinned(0, process.execPath, ['bench/argon2-ceiling.mjs', String(DURATION_S)]), { cwd: root, encoding: 'utf8' })
const verifiesPerSecond = Number(JSON.parse(ceilingOut).verifiesPerSecond)

// Start to ready on the existing database.
const restarted = await start(serviceArgs, env)
const { readyMs } = restarted
await stop(restarted.child)
fs.rmSync(dataDir, { recursive: true, force: true })

const find = (prefix: string) => rows.find((row) => row.scenario.startsWith(prefix)) as Row
const goals = [
  ['GET /users/me ≥ 0.55 × baseline', find('GET /users/me (').ratio ?? 0, (v: number) => v >= 0.55],
  ['GET /products ≥ 0.4 × baseline', find('GET /products').ratio ?? 0, (v: number) => v >= 0.4],
  ['checkout ≥ 1,500 orders/s', ordersPerSecond, (v: number) => v >= 1500],
  ['login ≥ 0.9 × argon2 ceiling', +(login.rps / verifiesPerSecond).toFixed(2), (v: number) => v >= 0.9],
  ['/users/me p99 < 25 ms in a login storm', reads.latency.p99, (v: number) => v < 25],
  ['peak RSS ≤ 150 MB', rssMb, (v: number) => v <= 150],
  ['ready ≤ 1 s on an existing database (ms)', readyMs, (v: number) => v <= 1000]
] as const

const machine = { cpus: os.cpus().length, cpu: os.cpus()[0]?.model ?? 'unknown', node: process.version }
console.log(`\n${new Date().toISOString()} · ${machine.cpus} × ${machine.cpu} · Node ${machine.node} · server on CPU 0, load on CPU 1\n`)
console.log('| scenario | req/s | p50 ms | p99 ms | non-2xx | × baseline |')
console.log('|---|---:|---:|---:|---:|---:|')
for (const row of rows) console.log(`| ${row.scenario} | ${row.rps} | ${row.p50} | ${row.p99} | ${row.non2xx} | ${row.ratio ?? ''} |`)
console.log(`\norders/s ${ordersPerSecond} · outbox e-mails/s ${mailsPerSecond} · logins/s ${login.rps} vs argon2 verifies/s ${verifiesPerSecond} · peak RSS ${rssMb} MB · ready in ${readyMs} ms\n`)
for (const [goal, value, ok] of goals) console.log(`${ok(value) ? 'PASS' : 'MISS'}  ${goal}: ${value}`)

const results = { date: new Date().toISOString(), machine, settings: { warmupSeconds: WARMUP_S, durationSeconds: DURATION_S, connections: CONNECTIONS, users: USERS }, rows, ordersPerSecond, outboxMailsPerSecond: mailsPerSecond, loginsPerSecond: login.rps, argon2VerifiesPerSecond: verifiesPerSecond, peakRssMb: rssMb, readyMs, goals: goals.map(([goal, value, ok]) => ({ goal, value, met: ok(value) })) }
fs.mkdirSync(path.join(root, 'bench/results'), { recursive: true })
const file = path.join(root, 'bench/results', `${results.date.replace(/[:.]/g, '-')}.json`)
fs.writeFileSync(file, JSON.stringify(results, null, 2))
console.log(`\nwritten to ${path.relative(root, file)}`)
process.exit(0)
