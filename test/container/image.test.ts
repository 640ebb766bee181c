// The container image, built and run with podman (npm run test:container; slow, so
// not part of npm test). Builds the Dockerfile against node:20-bookworm(-slim) — on
// machines without Docker Hub, the stand-ins from test/container/standins.sh — and
// checks what the README's "Run it in a container" promises. Every container talks
// only to 127.0.0.1: published with -p 127.0.0.1:…, or on the host's network
// listening on 127.0.0.1 to reach the throw-away PostgreSQL. Everything it creates is
// removed at the end.
import { spawn, spawnSync, type SpawnSyncReturns } from 'node:child_process'
import crypto from 'node:crypto'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import pg from 'pg'
import t from 'tap'
import { parse } from 'yaml'
import { freePort, postgresServer, unavailable } from '../postgres.js'

const root = fileURLToPath(new URL('../..', import.meta.url))
const IMAGE = process.env.CONTAINER_IMAGE ?? 'localhost/ecommerce-api:test'
// crun refuses here ("cgroups in hybrid mode"); podman's default rlimits need CAP_SYS_RESOURCE.
const PODMAN = ['--runtime', 'runc']
const RUN = ['--ulimit', 'nofile=4096:4096', '--ulimit', 'nproc=4096:4096']
const prefix = `ecapi-test-${process.pid}`
const containers = new Set<string>()
const volumes = new Set<string>()
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ecommerce-api-container-'))
fs.chmodSync(tmp, 0o755)

t.setTimeout(20 * 60_000)

function podman (args: string[], input?: string): SpawnSyncReturns<string> {
  return spawnSync('podman', [...PODMAN, ...args], { encoding: 'utf8', input, maxBuffer: 64 * 1024 * 1024 })
}
const out = (r: SpawnSyncReturns<string>) => `${r.stdout ?? ''}${r.stderr ?? ''}`.split('\n').filter((l) => !l.includes('systemd')).join('\n').trim()

/** podman build, streamed to a log file (the output is long); resolves with the exit code and seconds. */
function build (log: string): Promise<{ code: number | null, seconds: number }> {
  const started = Date.now()
  const args = [...PODMAN, 'build', '--format', 'docker', '--pull=never', '-t', IMAGE, root]
  return new Promise((resolve) => {
    const child = spawn('podman', args, { stdio: ['ignore', 'pipe', 'pipe'] })
    const file = fs.createWriteStream(log)
    child.stdout.pipe(file)
    child.stderr.pipe(file)
    child.on('close', (code) => resolve({ code, seconds: (Date.now() - started) / 1000 }))
  })
}

let count = 0
function volume (): string {
  const name = `${prefix}-v${++count}`
  volumes.add(name)
  return name
}

/** podman run -d; the container's name. */
function start (args: string[], command: string[] = []): string {
  const name = `${prefix}-c${++count}`
  containers.add(name)
  const r = podman(['run', '-d', '--name', name, ...RUN, ...args, IMAGE, ...command])
  if (r.status !== 0) throw new Error(`podman run failed: ${out(r)}`)
  return name
}

/** podman run --rm, waiting for the command; status and output. */
function runOnce (args: string[], command: string[]): { status: number | null, output: string } {
  const name = `${prefix}-c${++count}`
  containers.add(name)
  const r = podman(['run', '--rm', '--name', name, ...RUN, ...args, IMAGE, ...command])
  return { status: r.status, output: out(r) }
}

const logs = (name: string) => out(podman(['logs', name]))
const inspect = (name: string, format: string) => podman(['inspect', '--format', format, name]).stdout.trim()

/** Polls url until it answers 200, for at most timeoutMs. */
async function ready (base: string, name: string, timeoutMs = 30_000): Promise<number> {
  const started = Date.now()
  while (Date.now() - started < timeoutMs) {
    try {
      const res = await fetch(`${base}/health/ready`, { signal: AbortSignal.timeout(1000) })
      if (res.status === 200) return Date.now() - started
    } catch {}
    if (inspect(name, '{{.State.Running}}') === 'false') break
    await new Promise((resolve) => setTimeout(resolve, 250))
  }
  throw new Error(`${name} not ready within ${timeoutMs} ms; its log:\n${logs(name).slice(-3000)}`)
}

async function json (res: Response): Promise<any> {
  const text = await res.text()
  try { return JSON.parse(text) } catch { return text }
}

async function register (base: string, email: string, password: string) {
  return fetch(`${base}/users`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ email, password, full_name: 'Container Test' })
  })
}

async function login (base: string, email: string, password: string): Promise<{ status: number, token?: string }> {
  const res = await fetch(`${base}/auth/token`, {
    method: 'POST',
    body: new URLSearchParams({ grant_type: 'password', username: email, password })
  })
  const body = await json(res)
  return { status: res.status, token: body?.access_token }
}

async function me (base: string, token: string) {
  const res = await fetch(`${base}/users/me`, { headers: { authorization: `Bearer ${token}` } })
  return { status: res.status, body: await json(res) }
}

async function kids (base: string): Promise<string[]> {
  const body = await json(await fetch(`${base}/.well-known/jwks.json`))
  return (body.keys ?? []).map((key: { kid: string }) => key.kid)
}

/** Peak resident memory of a container's main process, from the host's /proc. */
function peakRss (name: string): string {
  const pid = inspect(name, '{{.State.Pid}}')
  const line = fs.readFileSync(`/proc/${pid}/status`, 'utf8').split('\n').find((l) => l.startsWith('VmHWM'))
  return line ? `${Math.round(Number(line.replace(/\D/g, '')) / 1024)} MB` : 'unknown'
}

const mb = (bytes: number) => `${(bytes / 1e6).toFixed(0)} MB`
const password = `pw-${crypto.randomBytes(12).toString('base64url')} horse battery`
const adminPassword = `admin-${crypto.randomBytes(12).toString('base64url')}`

t.teardown(() => {
  for (const name of containers) podman(['rm', '-f', '-v', '-t', '2', name])
  for (const name of volumes) podman(['volume', 'rm', '-f', name])
  fs.rmSync(tmp, { recursive: true, force: true })
  const left = podman(['ps', '-a', '--filter', `name=${prefix}`, '--format', '{{.Names}}']).stdout.trim()
  if (left) console.error(`containers left behind: ${left}`)
})

const tools = ['podman', 'runc'].filter((tool) => spawnSync('sh', ['-c', `command -v ${tool}`]).status !== 0)
if (tools.length > 0) {
  unavailable(t, tools.join(', '), 'apt-get install podman runc (npm run test:container installs them)')
} else {
  let built = false

  t.test('the image builds', async (t) => {
    const cold = await build(path.join(tmp, 'build.log'))
    const log = fs.readFileSync(path.join(tmp, 'build.log'), 'utf8')
    t.equal(cold.code, 0, `podman build exits 0 (${cold.seconds.toFixed(1)} s)`) || t.comment(log.slice(-4000))
    if (cold.code !== 0) return
    // The same build again: every layer from the cache.
    const warm = await build(path.join(tmp, 'build-again.log'))
    t.equal(warm.code, 0, `podman build again exits 0 (${warm.seconds.toFixed(1)} s)`)
    built = true
    const [image] = JSON.parse(podman(['image', 'inspect', IMAGE]).stdout)
    const [base] = JSON.parse(podman(['image', 'inspect', 'docker.io/library/node:20-bookworm-slim']).stdout)
    const steps = (log.match(/^\[\d\/\d\] STEP /gm) ?? []).length
    const cached = (log.match(/^--> Using cache /gm) ?? []).length
    const npmCi = /RUN npm ci[^\n]*\n--> Using cache/.test(log) ? 'npm ci cached' : 'npm ci ran'
    t.comment(`build: ${cold.seconds.toFixed(1)} s (${cached} of ${steps} steps from the cache, ${npmCi}); again, all cached: ${warm.seconds.toFixed(1)} s`)
    t.comment(`image ${IMAGE}: ${mb(image.Size)}; base node:20-bookworm-slim ${mb(base.Size)}; ours on top ${mb(image.Size - base.Size)}`)
    t.ok(image.Size - base.Size < 150e6, `the layers on top of the base are under 150 MB (${mb(image.Size - base.Size)})`)
    const config = image.Config
    t.equal(config.User, '1000:1000', 'USER is numeric: 1000:1000')
    const healthcheck = image.Healthcheck ?? config.Healthcheck
    t.same(healthcheck?.Test?.slice(0, 2), ['CMD', 'node'], 'the HEALTHCHECK is kept (docker format) and needs only node')
    t.ok(config.Env.includes('HOST=0.0.0.0') && config.Env.includes('DATA_DIR=/data'), 'HOST=0.0.0.0 and DATA_DIR=/data')
    t.same(Object.keys(config.Volumes ?? {}), ['/data'], 'one volume: /data')
    t.same(config.Cmd, ['node', '--max-semi-space-size=8', 'dist/src/main.cjs'], 'CMD is npm start\'s node flags and entry point')
  })

  t.test('no devDependencies, tests, sources or .git inside', async (t) => {
    if (!built) return t.fail('the image did not build')
    const lock = JSON.parse(fs.readFileSync(path.join(root, 'package-lock.json'), 'utf8'))
    const devOnly = Object.entries(lock.packages as Record<string, { dev?: boolean }>)
      .filter(([p, meta]) => p.startsWith('node_modules/') && meta.dev).map(([p]) => p)
    t.ok(devOnly.length > 100, `package-lock.json names ${devOnly.length} dev-only packages`)
    const found = spawnSync('podman', [...PODMAN, 'run', '--rm', '-i', ...RUN, '--entrypoint', 'sh', IMAGE, '-c',
      'cd /app && while read p; do [ -e "$p" ] && echo "$p"; done; true'], { input: devOnly.join('\n') + '\n', encoding: 'utf8' })
    t.equal(found.status, 0, 'the check ran')
    t.same(found.stdout.trim().split('\n').filter(Boolean), [], 'none of them is in /app')
    const sh = (script: string) => runOnce(['--entrypoint', 'sh'], ['-c', script]).output
    t.same(sh('ls -A /app').split('\n').sort(), ['dist', 'node_modules', 'package.json'], '/app holds dist, node_modules and package.json only')
    t.equal(sh('find / -xdev -name .git 2>/dev/null; true'), '', 'no .git anywhere')
    t.equal(sh('find /app -name "*.ts" -not -path "/app/node_modules/*"; ls -d /app/test /app/src /app/bench 2>/dev/null; true'), '',
      'no TypeScript sources or tests of ours (dist holds JavaScript only)')
    t.equal(sh('ls /app/node_modules/.bin 2>/dev/null | grep -E "^(tsx|tsc|tap|drizzle-kit)$"; true'), '', 'no tsx, tsc, tap or drizzle-kit')
    const sql = sh('ls /app/dist/src/db/migrations/*.sql /app/dist/src/db/migrations-pg/*.sql /app/dist/src/db/migrations*/meta/_journal.json')
    t.ok(sql.split('\n').length >= 4, `the migrations are copied into dist: ${sql.split('\n').map((f) => f.replace('/app/dist/src/db/', '')).join(', ')}`)
    t.match(sh('ls /app/dist/src/cli'), /migrate\.js[\s\S]*rotate-keys\.js/, 'the operator commands are compiled')
  })

  t.test('runs as uid 1000, not root', async (t) => {
    if (!built) return t.fail('the image did not build')
    const r = runOnce(['--entrypoint', 'id'], [])
    t.match(r.output, /^uid=1000\(node\) gid=1000\(node\)/, r.output)
  })

  // One volume, reused below: first start, restart, key rotation.
  const data = volume()
  const email = `ann-${crypto.randomBytes(4).toString('hex')}@example.com`
  let firstKids: string[] = []
  let first = ''

  t.test('with only a /data volume and an admin: ready, register → token → /users/me', async (t) => {
    if (!built) return t.fail('the image did not build')
    const port = await freePort()
    const base = `http://127.0.0.1:${port}`
    first = start(['-p', `127.0.0.1:${port}:3000`, '-v', `${data}:/data`,
      '-e', 'ADMIN_EMAIL=admin@example.com', '-e', `ADMIN_PASSWORD=${adminPassword}`])
    const ms = await ready(base, first)
    t.pass(`/health/ready is 200 after ${ms} ms`)
    const health = await json(await fetch(`${base}/health/ready`))
    t.same(health, { status: 'ok', database: 'ok', outbox_backlog: 0 }, JSON.stringify(health))
    t.equal((await register(base, email, password)).status, 201, 'POST /users is 201')
    const user = await login(base, email, password)
    t.equal(user.status, 200, 'POST /auth/token is 200')
    const who = await me(base, user.token ?? '')
    t.equal(who.status, 200, 'GET /users/me is 200')
    t.equal(who.body.email, email, 'as the registered user')
    const admin = await login(base, 'admin@example.com', adminPassword)
    t.equal(admin.status, 200, 'the admin from ADMIN_EMAIL/ADMIN_PASSWORD logs in')
    t.equal((await me(base, admin.token ?? '')).body.role, 'admin', 'with the admin role')
    firstKids = await kids(base)
    t.equal(firstKids.length, 1, `one key in the JWKS (kid ${firstKids[0]})`)
    const files = runOnce(['-v', `${data}:/data`, '--entrypoint', 'sh'], ['-c', 'stat -c "%u %a %n" /data /data/keys /data/ecommerce.db'])
    t.match(files.output, /^1000 700 \/data\n1000 700 \/data\/keys\n1000 \d+ \/data\/ecommerce\.db$/, `owned by uid 1000: ${files.output.replace(/\n/g, '; ')}`)
    t.comment(`peak RSS after start, two registrations' worth of argon2 and three logins: ${peakRss(first)}`)
  })

  t.test('the HEALTHCHECK turns healthy', async (t) => {
    if (!first) return t.fail('no running container')
    let status = inspect(first, '{{.State.Health.Status}}')
    t.comment(`before any check: ${status}`)
    // No systemd here: podman cannot schedule the checks, so run them.
    for (let i = 0; i < 5 && status !== 'healthy'; i++) {
      const run = podman(['healthcheck', 'run', first])
      t.comment(`podman healthcheck run: exit ${run.status}`)
      status = inspect(first, '{{.State.Health.Status}}')
    }
    t.equal(status, 'healthy')
  })

  t.test('podman stop: SIGTERM, exit 0 within the grace time', async (t) => {
    if (!first) return t.fail('no running container')
    const grace = 20
    const started = Date.now()
    const stop = podman(['stop', '-t', String(grace), first])
    const seconds = (Date.now() - started) / 1000
    t.equal(stop.status, 0, 'podman stop exits 0')
    t.ok(seconds < grace, `stopped in ${seconds.toFixed(1)} s (grace ${grace} s)`)
    t.equal(inspect(first, '{{.State.ExitCode}}'), '0', 'the service exited 0')
    t.match(logs(first), /"signal":"SIGTERM"/, 'it logged the graceful close on SIGTERM')
  })

  t.test('restarted on the same volume: the user logs in, the JWKS kid is unchanged', async (t) => {
    if (!firstKids.length) return t.fail('the first run did not finish')
    const port = await freePort()
    const base = `http://127.0.0.1:${port}`
    const second = start(['-p', `127.0.0.1:${port}:3000`, '-v', `${data}:/data`])
    const ms = await ready(base, second)
    t.pass(`ready in ${ms} ms on the existing database`)
    const user = await login(base, email, password)
    t.equal(user.status, 200, 'the user from the first run logs in')
    t.equal((await me(base, user.token ?? '')).body.email, email)
    t.same(await kids(base), firstKids, 'same kid')
    podman(['stop', '-t', '20', second])
  })

  t.test('operator commands run in the image with node, without dev tools', async (t) => {
    if (!firstKids.length) return t.fail('the first run did not finish')
    const rotate = runOnce(['-v', `${data}:/data`], ['node', 'dist/src/cli/rotate-keys.js'])
    t.equal(rotate.status, 0, 'keys:rotate (node dist/src/cli/rotate-keys.js) exits 0')
    t.match(rotate.output, /new signing key \S+/, rotate.output)
    const demo = runOnce(['-v', `${data}:/data`], ['npm', 'run', '--silent', 'demo-catalogue'])
    t.equal(demo.status, 0, 'npm run demo-catalogue exits 0')
    t.match(demo.output, /products: 8 added/, demo.output.split('\n').slice(0, 3).join('; '))
    const migrate = runOnce(['-v', `${data}:/data`], ['npm', 'run', '--silent', 'db:migrate'])
    t.equal(migrate.status, 0, 'npm run db:migrate exits 0 (no tsx needed)')
    t.match(migrate.output, /Migrations applied to SQLite in \/data/, migrate.output)
  })

  t.test('--read-only with a tmpfs /tmp serves', async (t) => {
    if (!built) return t.fail('the image did not build')
    const port = await freePort()
    const base = `http://127.0.0.1:${port}`
    const name = start(['--read-only', '--read-only-tmpfs=false', '--tmpfs', '/tmp', '-p', `127.0.0.1:${port}:3000`, '-v', `${volume()}:/data`])
    const ms = await ready(base, name)
    t.pass(`ready in ${ms} ms on a read-only root`)
    const reader = `ro-${crypto.randomBytes(4).toString('hex')}@example.com`
    t.equal((await register(base, reader, password)).status, 201, 'registers (writes the database on /data)')
    const user = await login(base, reader, password)
    t.equal((await me(base, user.token ?? '')).status, 200, 'logs in and reads /users/me')
    const write = podman(['exec', name, 'sh', '-c', 'touch /app/x 2>&1; touch /tmp/x && echo tmp-ok'])
    t.match(write.stdout, /Read-only file system[\s\S]*tmp-ok/, 'the root is read-only, /tmp is writable')
    podman(['stop', '-t', '20', name])
  })

  t.test('on PostgreSQL: migrations, and two containers sharing one signing key', async (t) => {
    if (!built) return t.fail('the image did not build')
    const server = await postgresServer()
    if (!server) return unavailable(t, 'PostgreSQL', 'apt-get install postgresql-15')
    const databaseUrl = await server.createDatabase()
    t.teardown(() => server.dropDatabase(databaseUrl))
    // The cluster listens on 127.0.0.1 only: these containers share the host's
    // network and listen on 127.0.0.1 too.
    const hostNet = ['--network=host', '-e', 'HOST=127.0.0.1', '-e', `DATABASE_URL=${databaseUrl}`]

    const migrate = runOnce(hostNet, ['node', 'dist/src/cli/migrate.js'])
    t.equal(migrate.status, 0, 'node dist/src/cli/migrate.js exits 0')
    t.match(migrate.output, /Migrations applied to PostgreSQL/, migrate.output)
    const client = new pg.Client({ connectionString: databaseUrl })
    await client.connect()
    const tables = await client.query("SELECT count(*)::int AS n FROM information_schema.tables WHERE table_schema = 'public'")
    await client.end()
    t.ok(tables.rows[0].n >= 5, `the database has ${tables.rows[0].n} tables`)
    const again = runOnce(hostNet, ['npm', 'run', '--silent', 'db:migrate'])
    t.equal(again.status, 0, 'npm run db:migrate again exits 0 (nothing left to apply)')

    // The shared key as compose.yaml makes it: its keygen command, run once on a volume
    // mounted at /data, then that volume read-only under /run/keys in both instances.
    const compose = parse(fs.readFileSync(path.join(root, 'compose.yaml'), 'utf8'), { merge: true })
    const keys = volume()
    const keygen = runOnce(['-v', `${keys}:/data`], compose.services.keygen.command)
    t.equal(keygen.status, 0, `compose's keygen command: ${keygen.output}`)
    t.equal(runOnce(['-v', `${keys}:/data`], compose.services.keygen.command).output, 'kept /data/signing-key.pem', 'run again, it keeps the key')
    const keyMount = ['-v', `${keys}:/run/keys:ro`, '-e', 'JWT_PRIVATE_KEY_FILE=/run/keys/signing-key.pem']
    const [portA, portB] = [await freePort(), await freePort()]
    const a = start([...hostNet, ...keyMount, '-e', `PORT=${portA}`])
    const b = start([...hostNet, ...keyMount, '-e', `PORT=${portB}`])
    const [baseA, baseB] = [`http://127.0.0.1:${portA}`, `http://127.0.0.1:${portB}`]
    t.pass(`A ready in ${await ready(baseA, a)} ms, B in ${await ready(baseB, b)} ms`)
    const shared = `pg-${crypto.randomBytes(4).toString('hex')}@example.com`
    t.equal((await register(baseA, shared, password)).status, 201, 'registered on A')
    const fromA = await login(baseA, shared, password)
    t.equal(fromA.status, 200, 'token from A')
    const onB = await me(baseB, fromA.token ?? '')
    t.equal(onB.status, 200, 'A\'s token works on B')
    t.equal(onB.body.email, shared)
    const fromB = await login(baseB, shared, password)
    t.equal((await me(baseA, fromB.token ?? '')).status, 200, 'and B\'s on A')
    const [kidsA, kidsB] = [await kids(baseA), await kids(baseB)]
    t.same(kidsA, kidsB, `one kid on both (${kidsA.join(', ')})`)
    t.equal(kidsA.length, 1)
    for (const name of [a, b]) {
      const stop = podman(['stop', '-t', '20', name])
      t.equal(stop.status, 0, `${name} stops`)
      t.equal(inspect(name, '{{.State.ExitCode}}'), '0', `${name} exits 0`)
    }
  })
}
