import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { setTimeout as sleep } from 'node:timers/promises'
import t from 'tap'
import { DEFAULT_PASSWORD, tempDir, testEnv } from '../helper.js'
import { freePort, unavailable } from '../postgres.js'
import { startServer } from '../server-process.js'

// REDIS_URL holds the shared per-address login limit. When Redis dies, logins and
// registrations go on without it (the per-account lockout is in the database), and
// they must not wait for Redis: each answer within a bound, not the 5–10 s it took
// while ioredis queued the rate-limit command for a reconnect.

const LIMIT = 20
// Generous for a loaded CI machine; a healthy login here takes a few milliseconds, the
// stall this guards against took 5–10 s.
const BOUND_MS = 1000

function redisServer (port: number): ChildProcess {
  return spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' })
}

t.test('Redis killed: logins and registrations answer within a bound, and the limit returns with Redis', { timeout: 120_000 }, async (t) => {
  if (spawnSync('sh', ['-c', 'command -v redis-server'], { stdio: 'ignore' }).status !== 0) {
    return unavailable(t, 'redis-server', 'install redis-server (Debian) to run the Redis fault test')
  }
  const port = await freePort()
  let redis = redisServer(port)
  t.teardown(() => { redis.kill('SIGKILL') })

  const server = await startServer(testEnv(tempDir(t), {
    PORT: '0', LOG_LEVEL: 'info', REDIS_URL: `redis://127.0.0.1:${port}`, LOGIN_RATE_LIMIT: String(LIMIT), TRUST_PROXY: 'true'
  }))
  t.teardown(() => { if (server.child.exitCode === null) server.child.kill('SIGKILL') })

  let address = 0
  const timed = async (route: string, init: RequestInit, ip = `10.1.0.${++address}`) => {
    const started = performance.now()
    const res = await fetch(`${server.url}${route}`, { ...init, headers: { ...init.headers as Record<string, string>, 'x-forwarded-for': ip } })
    await res.arrayBuffer()
    return { status: res.status, ms: performance.now() - started }
  }
  const register = (email: string) => timed('/users', {
    method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ email, password: DEFAULT_PASSWORD })
  })
  const login = (email: string, ip?: string) => timed('/auth/token', { method: 'POST', body: new URLSearchParams({ username: email, password: DEFAULT_PASSWORD }) }, ip)

  const email = 'redis-down@example.test'
  t.equal((await register(email)).status, 201)
  // The limit works while Redis is up: one address, LIMIT token requests, then 429.
  const upRun = []
  for (let i = 0; i <= LIMIT; i++) upRun.push((await login(email, '10.9.9.9')).status)
  t.equal(upRun.at(-1), 429, `with Redis up, request ${LIMIT + 1} from one address is throttled`)

  redis.kill('SIGKILL')
  await once(redis, 'exit')
  const down = []
  for (let i = 0; i < 30; i++) down.push(await login(email, '10.9.9.10'), await register(`down-${i}@example.test`))
  t.same(down.filter((answer) => answer.status !== 200 && answer.status !== 201), [], 'with Redis dead, logins and registrations succeed (fail open)')
  const slowest = Math.max(...down.map((answer) => answer.ms))
  t.ok(slowest < BOUND_MS, `with Redis dead, the slowest of ${down.length} answers took ${Math.round(slowest)} ms (bound ${BOUND_MS} ms)`)
  t.equal(server.child.exitCode, null, 'the service is up')

  // Redis back on the same port: ioredis reconnects and the shared limit applies again.
  redis = redisServer(port)
  let throttled = false
  const deadline = Date.now() + 15_000
  for (let round = 0; !throttled && Date.now() < deadline; round++) {
    const ip = `10.8.${round}.1`
    for (let i = 0; i <= LIMIT && !throttled; i++) throttled = (await login(email, ip)).status === 429
    if (!throttled) await sleep(200)
  }
  t.ok(throttled, 'with Redis back, the per-address limit applies again without a restart')
})
