import { once } from 'node:events'
import http from 'node:http'
import { setTimeout as sleep } from 'node:timers/promises'
import t from 'tap'
import { build, tempDir, testEnv } from '../helper.js'
import { startServer } from '../server-process.js'

// SIGTERM under load on kept-alive connections, as behind a load balancer or in
// Kubernetes, where traffic keeps coming for a moment after the signal: every request
// is answered (or its new connection refused), none reset; readiness turns 503 at once;
// answers say Connection: close; the process exits 0 as soon as the connections are gone.

const DRAIN_MS = 6000

interface Result { status?: number, connection?: string, code?: string, error?: string, sentAfterSignal: boolean, sentAt: number }

function get (agent: http.Agent, url: string, signalled: () => boolean): Promise<Result> {
  const sentAfterSignal = signalled()
  const sentAt = Date.now()
  return new Promise((resolve) => {
    const request = http.get(url, { agent }, (res) => {
      let body = ''
      res.setEncoding('utf8')
      res.on('data', (chunk: string) => { body += chunk })
      res.on('end', () => {
        const code = res.statusCode === 503 ? (JSON.parse(body) as { code?: string }).code : undefined
        resolve({ status: res.statusCode, connection: res.headers.connection, code, sentAfterSignal, sentAt })
      })
    })
    request.on('error', (error: NodeJS.ErrnoException) => resolve({ error: error.code ?? error.message, sentAfterSignal, sentAt }))
  })
}

t.test('SIGTERM with kept-alive connections: drained, not reset', { timeout: 60_000 }, async (t) => {
  const server = await startServer(testEnv(tempDir(t), { PORT: '0', LOG_LEVEL: 'info', SHUTDOWN_DRAIN_MS: String(DRAIN_MS) }))
  t.teardown(() => { if (server.child.exitCode === null) server.child.kill('SIGKILL') })
  const agent = new http.Agent({ keepAlive: true, maxSockets: 8 })
  t.teardown(() => agent.destroy())

  let signalledAt = 0
  const signalled = () => signalledAt > 0
  let stop = false
  const results: Result[] = []
  const clients = Array.from({ length: 8 }, async () => {
    while (!stop) results.push(await get(agent, `${server.url}/health/live`, signalled))
  })
  await sleep(300)
  const exited = once(server.child, 'exit')
  signalledAt = Date.now()
  server.child.kill('SIGTERM')
  await sleep(50)
  // A fresh connection during the drain: readiness says 503 so the balancer stops sending.
  const ready = await fetch(`${server.url}/health/ready`)
  t.equal(ready.status, 503, '/health/ready is 503 while draining')
  t.match(await ready.json(), { status: 'draining' })
  await sleep(450)
  stop = true
  await Promise.all(clients)
  const stoppedAt = Date.now()
  const [code] = await exited
  const exitAfterLoad = Date.now() - stoppedAt

  const after = results.filter((result) => result.sentAfterSignal)
  t.ok(after.length > 20, `${after.length} requests were sent after SIGTERM`)
  t.same(results.filter((result) => result.error !== undefined), [], 'no request was reset or refused during the drain')
  t.same(after.filter((result) => result.status !== 200), [], 'every request sent during the drain was served')
  // The signal takes a moment to reach the process: what was sent in the first 200 ms
  // may still be answered as before it (served all the same, as checked above).
  const draining = after.filter((result) => result.sentAt - signalledAt > 200)
  t.ok(draining.length > 10, `${draining.length} requests were sent 200 ms or more after SIGTERM`)
  t.same(draining.filter((result) => result.connection !== 'close'), [], 'every answer during the drain says Connection: close')
  t.equal(code, 0, 'the process exits 0')
  t.ok(exitAfterLoad < DRAIN_MS - 1000, `it exited ${exitAfterLoad} ms after the last connection closed, not after the whole ${DRAIN_MS} ms drain`)
  t.match(server.output(), /"msg":"draining, then closing"/)
})

t.test('after the drain, a request that still arrives is refused in the API\'s error shape', async (t) => {
  const app = await build(t)
  const drained = app.shutdown.drain(60_000)
  const during = await app.inject({ method: 'GET', url: '/health/live' })
  t.equal(during.statusCode, 200, 'served while draining')
  t.equal(during.headers.connection, 'close')
  await drained
  t.equal(app.shutdown.phase, 'closing', 'with no connection open, the drain ends after a moment of quiet')
  const late = await app.inject({ method: 'GET', url: '/health/live' })
  t.equal(late.statusCode, 503)
  t.equal(late.headers.connection, 'close')
  t.equal(late.headers['retry-after'], '1')
  t.same(late.json(), { statusCode: 503, code: 'SERVICE_UNAVAILABLE', error: 'Service Unavailable', message: 'The service is shutting down; retry shortly' })
})
