import { execFileSync } from 'node:child_process'
import { once } from 'node:events'
import fs from 'node:fs'
import path from 'node:path'
import t from 'tap'
import { DEFAULT_PASSWORD, tempDir, testEnv } from '../helper.js'
import { unavailable } from '../postgres.js'
import { startServer, type ServerProcess } from '../server-process.js'

// DATA_DIR on a real 16 MiB tmpfs, filled to the last byte: every write the service
// acknowledges must be stored, every one it cannot store must fail cleanly (507 in the
// API's error shape), and once there is room again it works without a restart.

const ADMIN = { email: 'admin@full.example', password: 'an admin password of some length' }

function mountTmpfs (dir: string): boolean {
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=16m,mode=0700', 'tmpfs', dir], { stdio: 'pipe' })
    return true
  } catch {
    return false
  }
}

/** Writes a file until the file system says ENOSPC; returns its path. */
function fillDisk (dir: string): string {
  const filler = path.join(dir, 'filler')
  const fd = fs.openSync(filler, 'w')
  const chunk = Buffer.alloc(64 * 1024, 1)
  try {
    for (let size = chunk.length; ; size = Math.max(1, Math.floor(size / 2))) {
      try {
        fs.writeSync(fd, chunk, 0, size)
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'ENOSPC') throw error
        if (size === 1) return filler
      }
    }
  } finally {
    fs.closeSync(fd)
  }
}

t.test('a full disk: every 201 is stored, every failure is a clean 507, and it recovers', { timeout: 120_000 }, async (t) => {
  const dataDir = tempDir(t)
  if (!mountTmpfs(dataDir)) return unavailable(t, 'Mounting a tmpfs (root)', 'run the tests as root, as CI does, to mount a small tmpfs for the full-disk test')
  t.teardown(() => { execFileSync('umount', ['-l', dataDir]) })

  const env = testEnv(dataDir, { PORT: '0', LOG_LEVEL: 'info', ADMIN_EMAIL: ADMIN.email, ADMIN_PASSWORD: ADMIN.password })
  const servers: ServerProcess[] = []
  t.teardown(async () => {
    for (const { child } of servers) {
      if (child.exitCode !== null) continue
      child.kill('SIGKILL')
      await once(child, 'exit')
    }
  })
  const start = async () => { const server = await startServer(env); servers.push(server); return server.url }
  let url = await start()

  const post = (route: string, body: unknown, token?: string) => fetch(`${url}${route}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: JSON.stringify(body)
  })
  const login = (email: string, password: string) => fetch(`${url}/auth/token`, { method: 'POST', body: new URLSearchParams({ username: email, password }) })
  const adminToken = (await (await login(ADMIN.email, ADMIN.password)).json() as { access_token: string }).access_token
  t.equal((await post('/users', { email: 'before@full.example', password: DEFAULT_PASSWORD })).status, 201, 'registration works before the disk fills')

  const filler = fillDisk(dataDir)
  const answers: Array<{ email: string, status: number, body: Record<string, unknown> }> = []
  for (let i = 0; i < 10; i++) {
    const email = `full-${i}@full.example`
    const res = await post('/users', { email, password: DEFAULT_PASSWORD })
    answers.push({ email, status: res.status, body: await res.json() as Record<string, unknown> })
  }
  const products = []
  for (let i = 0; i < 5; i++) {
    const res = await post('/products', { name: `Full-disk product ${i}`, price_cents: 100, stock: 1 }, adminToken)
    products.push({ status: res.status, body: await res.json() as Record<string, unknown> })
  }
  const stored = answers.filter((answer) => answer.status === 201)
  const refused = answers.filter((answer) => answer.status !== 201)
  t.ok(refused.length > 0, `the full disk refused ${refused.length} of 10 registrations`)
  t.same(refused.map((answer) => [answer.status, answer.body]), refused.map(() => [507, {
    statusCode: 507, code: 'STORAGE_FULL', error: 'Insufficient Storage', message: 'The database has no room to store this; nothing was changed'
  }]), 'each refusal is a 507 STORAGE_FULL in the API\'s error shape')
  t.equal(new Set(stored.map((answer) => answer.body.id)).size, stored.length, 'no two acknowledged users share an id')
  t.same(products.filter((product) => product.status !== 201 && product.status !== 507), [], 'product writes are stored (201) or refused (507)')

  // Room again: the same process stores writes at once, no restart.
  fs.rmSync(filler)
  const after = await post('/users', { email: 'after@full.example', password: DEFAULT_PASSWORD })
  t.equal(after.status, 201, 'with room again, registration works without a restart')
  const afterId = (await after.json() as { id: number }).id
  t.notOk(stored.some((answer) => answer.body.id === afterId), 'the new user does not reuse an acknowledged id')

  // What was acknowledged survives a restart; what was refused does not exist.
  servers[0]!.child.kill('SIGTERM')
  await once(servers[0]!.child, 'exit')
  url = await start()
  for (const answer of [...stored, { email: 'before@full.example' }, { email: 'after@full.example' }]) {
    t.equal((await login(answer.email, DEFAULT_PASSWORD)).status, 200, `${answer.email}, acknowledged, logs in after the restart`)
  }
  for (const answer of refused) {
    t.equal((await login(answer.email, DEFAULT_PASSWORD)).status, 400, `${answer.email}, refused, does not exist`)
    t.equal((await post('/users', { email: answer.email, password: DEFAULT_PASSWORD })).status, 201, `${answer.email} can register now`)
  }
  const listed = await (await fetch(`${url}/products?limit=100`)).json() as { items: Array<{ id: number, name: string }> }
  for (const product of products.filter((p) => p.status === 201)) {
    t.ok(listed.items.some((item) => item.id === product.body.id && item.name === product.body.name), `acknowledged product ${String(product.body.name)} is stored`)
  }
})
