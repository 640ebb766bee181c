import fs from 'node:fs'
import t from 'tap'
import threadPool from '../src/thread-pool.cjs'
import { startServer } from './server-process.js'
import { tempDir, testEnv } from './helper.js'

const { defaultHashConcurrency, threadPoolSize } = threadPool

t.test('the pool is the hashes at once, unless the operator sized it', async (t) => {
  t.equal(threadPoolSize({ HASH_CONCURRENCY: '1' }), 1)
  t.equal(threadPoolSize({ HASH_CONCURRENCY: '8' }), 8, 'more hashes at once get the threads to run them')
  t.equal(threadPoolSize({}), defaultHashConcurrency())
  t.equal(threadPoolSize({ HASH_CONCURRENCY: 'lots' }), defaultHashConcurrency(), 'a bad value is loadConfig\'s to report')
  t.equal(threadPoolSize({ HASH_CONCURRENCY: '1', UV_THREADPOOL_SIZE: '16' }), undefined, 'UV_THREADPOOL_SIZE wins')
})

// The built entry point, as npm start runs it: under tsx's loader the pool starts before any of our code.
const MAIN = 'dist/src/main.cjs'

t.test('the running service (npm start\'s entry) has that many pool threads', async (t) => {
  t.ok(fs.existsSync(MAIN), `${MAIN} is built (npm test builds first)`)
  /** Threads of the service once a password hash has started libuv's pool. */
  // Without NODE_OPTIONS: tap puts its own ES module hook there for every child, and
  // loading it would start the pool before main.cjs runs.
  const threadsAfterAHash = async (env: Record<string, string>) => {
    const server = await startServer({ ...testEnv(tempDir(t), { PORT: '0', LOG_LEVEL: 'info', HASH_CONCURRENCY: '1' }), ...env }, ['env', '-u', 'NODE_OPTIONS', process.execPath, MAIN])
    t.teardown(() => { server.child.kill('SIGKILL') })
    const res = await fetch(`${server.url}/users`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ email: 'pool@example.test', password: 'a long enough passphrase' }) })
    t.equal(res.status, 201)
    return fs.readdirSync(`/proc/${server.child.pid}/task`).length
  }
  const sized = await threadsAfterAHash({})
  const libuvDefault = await threadsAfterAHash({ UV_THREADPOOL_SIZE: '4' })
  t.equal(libuvDefault - sized, 3, 'HASH_CONCURRENCY=1: 1 pool thread instead of libuv\'s 4')
})
