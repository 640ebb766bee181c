// npx tsx bench/scale-out.ts: checkout throughput (POST /cart/items + POST /orders per
// order) on SQLite with one instance, and on PostgreSQL with one and with two instances,
// in one run on this machine. Everything shares the machine's cores: the service
// instances, PostgreSQL and the load generator. Figures are reports, not tests.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process'
import crypto from 'node:crypto'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import autocannon, { type Options, type Request as LoadRequest, type Result } from 'autocannon'
import { freePort, postgresServer } from '../test/postgres.js'
import { serviceArgs } from './start-command.js'

const root = path.resolve(import.meta.dirname, '..')
const DURATION_S = Number(process.env.BENCH_DURATION ?? 8)
const CONNECTIONS = 50
const USERS = 100
// Orders spread over this many products; PRODUCTS=1 shows one hot product's row lock.
const PRODUCTS = Number(process.env.PRODUCTS ?? 25)
const PASSWORD = 'bench passphrase 123'
const children: ChildProcess[] = []
process.on('exit', () => { for (const child of children) if (child.exitCode === null) child.kill('SIGKILL') })

const fire = (options: Options) => new Promise<Result>((resolve, reject) => {
  autocannon(options, (err, result) => (err ? reject(err) : resolve(result)))
})

async function start (env: Record<string, string>) {
  const port = await freePort()
  const child = spawn(process.execPath, serviceArgs, { cwd: root, env: { ...process.env, ...env, PORT: String(port) }, stdio: ['ignore', 'ignore', 'inherit'] })
  children.push(child)
  const url = `http://127.0.0.1:${port}`
  for (;;) {
    if (child.exitCode !== null) throw new Error('the service exited before it was ready')
    if ((await fetch(`${url}/health/ready`).catch(() => undefined))?.status === 200) return { child, url }
    await new Promise((resolve) => setTimeout(resolve, 10))
  }
}

async function json<T> (response: Response): Promise<T> {
  if (!response.ok) throw new Error(`${response.status} ${await response.text()}`)
  return await response.json() as T
}

/** Seeds through the API: PRODUCTS products with plenty of stock and USERS customers' tokens. */
async function seed (api: string) {
  const admin = await json<{ access_token: string }>(await fetch(`${api}/auth/token`, { method: 'POST', body: new URLSearchParams({ username: 'admin@bench.test', password: PASSWORD }) }))
  const productIds: number[] = []
  for (let i = 0; i < PRODUCTS; i++) {
    productIds.push((await json<{ id: number }>(await fetch(`${api}/products`, {
      method: 'POST',
      headers: { authorization: `Bearer ${admin.access_token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ name: `Bench product ${i}`, price_cents: 999 + i, stock: 1_000_000 })
    }))).id)
  }
  const tokens: string[] = []
  for (let i = 0; i < USERS; i += 10) {
    await Promise.all(Array.from({ length: 10 }, async (_, j) => {
      const email = `bench-${i + j}@bench.test`
      await json(await fetch(`${api}/users`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ email, password: PASSWORD }) }))
      tokens.push((await json<{ access_token: string }>(await fetch(`${api}/auth/token`, { method: 'POST', body: new URLSearchParams({ username: email, password: PASSWORD }) }))).access_token)
    }))
  }
  return { productIds, tokens }
}

/** Each connection is one user adding one item and checking out, over and over. */
function checkoutLoad (url: string, connections: number, tokens: string[], productIds: number[], duration: number): Promise<Result> {
  // Each connection is one user (so no two write one cart); products rotate per order.
  let nextUser = 0
  let nextProduct = 0
  return fire({
    url,
    connections,
    duration,
    requests: [
      {
        method: 'POST',
        path: '/cart/items',
        setupRequest: (request: LoadRequest, context: { token?: string }): LoadRequest => {
          context.token ??= tokens[nextUser++ % tokens.length]
          const productId = productIds[nextProduct++ % productIds.length]
          return { ...request, headers: { authorization: `Bearer ${String(context.token)}`, 'content-type': 'application/json' }, body: JSON.stringify({ product_id: productId, quantity: 1 }) }
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
}

interface Row { setup: string, ordersPerSecond: number, p50: number, p99: number, non2xx: number, statusCodes: Record<string, number> }
const rows: Row[] = []

async function run (setup: string, instanceEnv: Array<Record<string, string>>) {
  const instances = await Promise.all(instanceEnv.map((env) => start(env)))
  const { productIds, tokens } = await seed(instances[0]!.url)
  // Users split between instances, so no user's cart is written by two at once.
  const share = Math.floor(tokens.length / instances.length)
  const load = (duration: number) => Promise.all(instances.map((instance, i) =>
    checkoutLoad(instance.url, CONNECTIONS / instances.length, tokens.slice(i * share, (i + 1) * share), productIds, duration)))
  await load(2)
  const results = await load(DURATION_S)
  const requests = results.reduce((sum, result) => sum + result.requests.average, 0)
  const row = {
    setup,
    ordersPerSecond: Math.round(requests / 2),
    p50: Math.max(...results.map((result) => result.latency.p50)),
    p99: Math.max(...results.map((result) => result.latency.p99)),
    non2xx: results.reduce((sum, result) => sum + result.non2xx, 0),
    statusCodes: Object.fromEntries(Object.entries(Object.assign({}, ...results.map((result) => result.statusCodeStats)) as Record<string, { count: number }>).map(([code, stat]) => [code, stat.count]))
  }
  rows.push(row)
  console.log(`  ${setup}: ${row.ordersPerSecond} orders/s, p50 ${row.p50} ms, p99 ${row.p99} ms${row.non2xx ? `, ${row.non2xx} non-2xx (${JSON.stringify(row.statusCodes)})` : ''}`)
  await Promise.all(instances.map(({ child }) => new Promise((resolve) => { child.once('exit', resolve); child.kill('SIGTERM') })))
}

console.log('building…')
execFileSync('npm', ['run', 'build', '--silent'], { cwd: root, stdio: 'inherit' })
const server = await postgresServer()
if (!server) throw new Error('PostgreSQL binaries not found (postgresql-15)')
const keyFile = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'ecommerce-bench-key-')), 'key.pem')
fs.writeFileSync(keyFile, crypto.generateKeyPairSync('ed25519').privateKey.export({ format: 'pem', type: 'pkcs8' }), { mode: 0o600 })
const base = {
  LOG_LEVEL: 'warn',
  SMTP_URL: '',
  ADMIN_EMAIL: 'admin@bench.test',
  ADMIN_PASSWORD: PASSWORD,
  LOGIN_RATE_LIMIT: '100000000',
  LOGIN_MAX_FAILURES: '100000000',
  JWT_PRIVATE_KEY_FILE: keyFile
}
const dataDir = () => fs.mkdtempSync(path.join(os.tmpdir(), 'ecommerce-bench-'))

console.log(`checkout throughput over ${PRODUCTS} product(s), ${CONNECTIONS} connections, ${DURATION_S} s after 2 s warm-up, ${os.cpus().length} cores shared by everything`)
await run('SQLite, 1 instance', [{ ...base, DATA_DIR: dataDir() }])
const onePg = await server.createDatabase()
await run('PostgreSQL, 1 instance', [{ ...base, DATA_DIR: dataDir(), DATABASE_URL: onePg }])
const twoPg = await server.createDatabase()
await run('PostgreSQL, 2 instances', [{ ...base, DATA_DIR: dataDir(), DATABASE_URL: twoPg }, { ...base, DATA_DIR: dataDir(), DATABASE_URL: twoPg }])

const resultsDir = path.join(root, 'bench', 'results')
fs.mkdirSync(resultsDir, { recursive: true })
const file = path.join(resultsDir, `scale-out-${new Date().toISOString().replace(/[:.]/g, '-')}.json`)
fs.writeFileSync(file, JSON.stringify({ date: new Date().toISOString(), machine: { cpus: os.cpus().length, model: os.cpus()[0]?.model, node: process.version }, rows }, null, 2))
console.log(`written to ${path.relative(root, file)}`)
process.exit(0)
