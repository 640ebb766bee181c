import { spawn, spawnSync } from 'node:child_process'
import { Redis } from 'ioredis'
import type { Test } from 'tap'
import { freePort, unavailable } from './postgres.js'

const NOT_FOUND = 'redis-server not found: install redis-server (Debian), or set TEST_REDIS_URL, to run the Redis tests'

let server: Promise<string | undefined> | undefined

/** One Redis per test process: TEST_REDIS_URL's, or a redis-server of our own (no persistence); undefined without either. */
export function redisServer (): Promise<string | undefined> {
  server ??= (async () => {
    if (process.env.TEST_REDIS_URL) return process.env.TEST_REDIS_URL
    if (spawnSync('sh', ['-c', 'command -v redis-server'], { stdio: 'ignore' }).status !== 0) return undefined
    const port = await freePort()
    const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' })
    // Unref'd: the server must not keep the test process alive; it dies with it.
    child.unref()
    process.once('exit', () => child.kill('SIGKILL'))
    const url = `redis://127.0.0.1:${port}`
    const deadline = Date.now() + 10_000
    for (;;) {
      const client = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null })
      client.on('error', () => {})
      try {
        await client.connect()
        await client.ping()
        return url
      } catch (error) {
        if (Date.now() > deadline) throw error
        await new Promise((resolve) => setTimeout(resolve, 50))
      } finally {
        client.disconnect()
      }
    }
  })()
  return server
}

/** Redis's URL; without one the test is skipped with a message, or fails in CI, where it must run. */
export async function redisOrSkip (t: Test): Promise<string | undefined> {
  return await redisServer() ?? unavailable(t, 'Redis', NOT_FOUND)
}
