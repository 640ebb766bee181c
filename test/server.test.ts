import { spawn } from 'node:child_process'
import { once } from 'node:events'
import fs from 'node:fs'
import path from 'node:path'
import t from 'tap'
import { tempDir, testEnv, DEFAULT_PASSWORD } from './helper.js'
import { startServer } from './server-process.js'

const root = path.resolve(import.meta.dirname, '..')

t.test('the real server: register, log in with a form, call /users/me over HTTP, stop on SIGTERM', async (t) => {
  const dataDir = tempDir(t)
  const server = await startServer(testEnv(dataDir, { PORT: '0', LOG_LEVEL: 'info' }))
  t.teardown(() => { if (server.child.exitCode === null) server.child.kill('SIGKILL') })
  const email = 'http-user@example.test'

  const register = await fetch(`${server.url}/users`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ email, password: DEFAULT_PASSWORD })
  })
  t.equal(register.status, 201)

  const token = await fetch(`${server.url}/auth/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ grant_type: 'password', username: email, password: DEFAULT_PASSWORD })
  })
  t.equal(token.status, 200)
  t.equal(token.headers.get('cache-control'), 'no-store')
  const { access_token: accessToken } = await token.json() as { access_token: string }

  const me = await fetch(`${server.url}/users/me`, { headers: { authorization: `Bearer ${accessToken}` } })
  t.equal(me.status, 200)
  t.match(await me.json(), { email, role: 'customer' })

  t.ok(fs.statSync(path.join(dataDir, 'ecommerce.db')).isFile(), 'the database lives in DATA_DIR')
  t.equal(fs.statSync(dataDir).mode & 0o777, 0o700, 'DATA_DIR is owner-only')

  server.child.kill('SIGTERM')
  const [code] = await once(server.child, 'exit')
  t.equal(code, 0, 'a graceful stop exits 0')
  t.match(server.output(), /"msg":"draining, then closing"/)
  t.notMatch(server.output(), new RegExp(DEFAULT_PASSWORD), 'the password never reaches the log')
  t.notMatch(server.output(), new RegExp(accessToken.split('.')[2] ?? 'unreachable'), 'the token never reaches the log')
})

t.test('a bad value stops the start, naming the variable', async (t) => {
  const child = spawn(process.execPath, ['--import=tsx', 'src/server.ts'], {
    cwd: root,
    env: { ...process.env, ...testEnv(tempDir(t), { PORT: 'eighty' }) },
    stdio: ['ignore', 'pipe', 'pipe']
  })
  let stderr = ''
  child.stderr.on('data', (chunk) => { stderr += chunk })
  const [code] = await once(child, 'exit')
  t.equal(code, 1)
  t.match(stderr, /Invalid configuration: PORT/)
})
