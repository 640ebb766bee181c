import { once } from 'node:events'
import net from 'node:net'
import t from 'tap'
import { tempDir, testEnv } from '../helper.js'
import { startServer } from '../server-process.js'

// A client that trickles its headers a byte at a time must not hold a socket for long:
// the headers timeout is 10 s, checked every second (Node's defaults: 60 s, checked
// every 30 s, so such sockets lived about a minute). Meanwhile normal requests are served.

const SOCKETS = 50
const HEADERS_TIMEOUT_MS = 10_000

t.test('slow headers are cut off at the headers timeout, with a 408', { timeout: 60_000 }, async (t) => {
  const server = await startServer(testEnv(tempDir(t), { PORT: '0', LOG_LEVEL: 'info' }))
  t.teardown(() => { if (server.child.exitCode === null) server.child.kill('SIGKILL') })
  const { port } = new URL(server.url)

  const started = Date.now()
  // Whatever happens, nothing of this test outlives it.
  const sockets: net.Socket[] = []
  const drips: NodeJS.Timeout[] = []
  t.teardown(() => { drips.forEach(clearInterval); sockets.forEach((socket) => socket.destroy()) })
  const slow = await Promise.all(Array.from({ length: SOCKETS }, async (_, i) => {
    const socket = net.connect(Number(port), '127.0.0.1')
    sockets.push(socket)
    await once(socket, 'connect')
    let received = ''
    socket.on('data', (chunk) => { received += chunk })
    socket.on('error', () => {})
    socket.write('GET /health/live HTTP/1.1\r\nHost: slow\r\nX-Slow: ')
    // One byte a second, never finishing the headers.
    const drip = setInterval(() => { if (!socket.destroyed) socket.write(String(i % 10)) }, 1000)
    drips.push(drip)
    // Not once(socket, 'close'): that rejects on the reset a drip byte written after the
    // server's 408 may cause, which is the server doing its job.
    await new Promise((resolve) => socket.once('close', resolve))
    clearInterval(drip)
    return { closedAfter: Date.now() - started, received }
  }))

  const normal = await fetch(`${server.url}/health/live`)
  t.equal(normal.status, 200, 'normal requests are still served')
  const latest = Math.max(...slow.map((socket) => socket.closedAfter))
  const earliest = Math.min(...slow.map((socket) => socket.closedAfter))
  t.ok(earliest >= HEADERS_TIMEOUT_MS - 500, `no socket closed before the timeout (earliest ${earliest} ms)`)
  t.ok(latest < HEADERS_TIMEOUT_MS + 5000, `all ${SOCKETS} slow sockets were closed by ${latest} ms (headers timeout ${HEADERS_TIMEOUT_MS} ms)`)
  t.same(slow.filter((socket) => !socket.received.startsWith('HTTP/1.1 408')), [], 'each was told 408 Request Timeout')
})
