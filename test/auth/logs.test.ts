import { Writable } from 'node:stream'
import t, { type Test } from 'tap'
import { buildApp, loggerOptions } from '../../src/app.js'
import { tempDir, testConfig, type App } from '../helper.js'

const PASSWORD = 'very secret passphrase'
const WRONG_PASSWORD = 'wrong secret passphrase'
const NEW_PASSWORD = 'brand new secret passphrase'

function capture () {
  const lines: string[] = []
  const stream = new Writable({ write (chunk, _encoding, done) { lines.push(String(chunk)); done() } })
  return { stream, text: () => lines.join(''), lines }
}

/** Everything a client does with secrets: register, log in (right and wrong), refresh, call, change password, revoke. */
async function useSecrets (t: Test, app: App) {
  const secrets: string[] = [PASSWORD, WRONG_PASSWORD, NEW_PASSWORD]
  const email = 'logged@example.test'
  t.equal((await app.inject({ method: 'POST', url: '/users', payload: { email, password: PASSWORD } })).statusCode, 201)
  const loggedIn = await app.inject({
    method: 'POST',
    url: '/auth/token',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    payload: new URLSearchParams({ username: email, password: PASSWORD }).toString()
  })
  t.equal(loggedIn.statusCode, 200)
  const first = loggedIn.json<{ access_token: string, refresh_token: string }>()
  const refreshed = await app.inject({ method: 'POST', url: '/auth/token', payload: { grant_type: 'refresh_token', refresh_token: first.refresh_token } })
  t.equal(refreshed.statusCode, 200)
  const second = refreshed.json<{ access_token: string, refresh_token: string }>()
  secrets.push(first.access_token, first.refresh_token, second.access_token, second.refresh_token)

  t.equal((await app.inject({ method: 'GET', url: '/users/me', headers: { authorization: `Bearer ${second.access_token}` } })).statusCode, 200)
  t.equal((await app.inject({ method: 'GET', url: '/users/me', headers: { authorization: `Bearer ${first.access_token}x` } })).statusCode, 401)
  t.equal((await app.inject({ method: 'POST', url: '/auth/token', payload: { username: email, password: WRONG_PASSWORD } })).statusCode, 400)
  t.equal((await app.inject({ method: 'POST', url: '/auth/token', payload: { grant_type: 'refresh_token', refresh_token: first.refresh_token } })).statusCode, 400,
    'a reused refresh token (logged as theft)')
  t.equal((await app.inject({
    method: 'PUT',
    url: '/users/me/password',
    headers: { authorization: `Bearer ${second.access_token}` },
    payload: { current_password: PASSWORD, new_password: NEW_PASSWORD }
  })).statusCode, 204)
  t.equal((await app.inject({ method: 'POST', url: '/auth/revoke', payload: { token: second.refresh_token } })).statusCode, 200)
  return secrets
}

function assertNoSecrets (t: Test, logged: string, secrets: string[]) {
  for (const secret of secrets) {
    t.notOk(logged.includes(secret), `${secret.slice(0, 10)}… is not in the log`)
    // A token is also a secret in part: the signature alone would do for a replay check.
    const signature = secret.split('.')[2]
    if (signature) t.notOk(logged.includes(signature), `the signature of ${secret.slice(0, 10)}… is not in the log`)
  }
}

t.test('logs never carry passwords, access tokens or refresh tokens (logger { level: info, stream })', async (t) => {
  const captured = capture()
  const app = await buildApp(testConfig(tempDir(t), { LOG_LEVEL: 'info' }), { logger: { level: 'info', stream: captured.stream } })
  t.teardown(() => app.close())
  const secrets = await useSecrets(t, app)
  const logged = captured.text()
  t.ok(captured.lines.filter((line) => line.includes('"incoming request"')).length >= 9, 'the request logs were captured')
  t.match(logged, /"event":"login_succeeded"/, 'auth events are logged')
  t.match(logged, /"event":"login_failed"/)
  t.match(logged, /"event":"refresh_token_reuse"/)
  assertNoSecrets(t, logged, secrets)
})

t.test('the same at trace level with the service\'s own logger options (redaction on)', async (t) => {
  const captured = capture()
  const config = testConfig(tempDir(t), { LOG_LEVEL: 'trace' })
  const app = await buildApp(config, { logger: { ...(loggerOptions(config) as object), stream: captured.stream } })
  t.teardown(() => app.close())
  const secrets = await useSecrets(t, app)
  assertNoSecrets(t, captured.text(), secrets)

  // Should a handler ever log a body or headers, the redaction catches the usual fields.
  app.log.info({ body: { password: PASSWORD, new_password: NEW_PASSWORD, refresh_token: secrets[4], access_token: secrets[3], token: secrets[6] } }, 'careless')
  const careless = captured.lines.find((line) => line.includes('"careless"')) ?? ''
  t.match(careless, /"password":"\[redacted\]"/, 'the redaction is active')
  t.match(careless, /"access_token":"\[redacted\]"/)
  assertNoSecrets(t, careless, secrets)
})

t.test('a logger given with only a level and a stream keeps the service\'s redaction', async (t) => {
  const captured = capture()
  const app = await buildApp(testConfig(tempDir(t)), { logger: { level: 'info', stream: captured.stream } })
  t.teardown(() => app.close())
  app.log.info({ body: { password: PASSWORD } }, 'careless')
  t.notOk(captured.text().includes(PASSWORD), 'the password is redacted')
})
