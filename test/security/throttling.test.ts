import t from 'tap'
import { build, createUser, tempDir, type App, sqliteOf } from '../helper.js'

const tryLogin = (app: App, username: string, password: string, headers: Record<string, string> = {}) =>
  app.inject({ method: 'POST', url: '/auth/token', headers, payload: { username, password } })

t.test('per account: after LOGIN_MAX_FAILURES failures the e-mail is throttled, correct password or not, across a restart', async (t) => {
  const dataDir = tempDir(t)
  const app = await build(t, { LOGIN_MAX_FAILURES: '3' }, dataDir)
  const user = await createUser(app)
  for (let i = 0; i < 3; i++) t.equal((await tryLogin(app, user.email, 'wrong wrong wrong')).statusCode, 400, `failure ${i + 1}`)

  const throttled = await tryLogin(app, user.email, user.password)
  t.equal(throttled.statusCode, 429, 'the right password is refused during the throttle')
  t.ok(Number(throttled.headers['retry-after']) > 800, 'Retry-After says about 15 minutes')
  t.same(Object.keys(throttled.json()).sort(), ['code', 'error', 'message', 'statusCode'])
  t.equal(throttled.json().code, 'TOO_MANY_REQUESTS')

  const otherUser = await createUser(app)
  t.equal((await tryLogin(app, otherUser.email, otherUser.password)).statusCode, 200, 'other accounts are not affected')

  await app.close()
  const restarted = await build(t, { LOGIN_MAX_FAILURES: '3' }, dataDir)
  t.equal((await tryLogin(restarted, user.email, user.password)).statusCode, 429, 'a restart does not reset the count')

  sqliteOf(restarted).prepare('UPDATE login_throttle SET locked_until = ?').run(Date.now() - 1)
  t.equal((await tryLogin(restarted, user.email, user.password)).statusCode, 200, 'after the throttle, the right password works')
})

t.test('unknown e-mails are throttled the same way, so throttling reveals no accounts', async (t) => {
  const app = await build(t, { LOGIN_MAX_FAILURES: '2' })
  const user = await createUser(app)
  const answers: Record<string, number[]> = {}
  for (const email of [user.email, 'nobody@example.test']) {
    answers[email] = []
    for (let i = 0; i < 3; i++) answers[email]!.push((await tryLogin(app, email, 'wrong wrong wrong')).statusCode)
  }
  t.same(answers[user.email], [400, 400, 429])
  t.same(answers['nobody@example.test'], [400, 400, 429])
})

t.test('per address: LOGIN_RATE_LIMIT token requests a minute, X-Forwarded-For ignored unless TRUST_PROXY', async (t) => {
  const app = await build(t, { LOGIN_RATE_LIMIT: '5' })
  const statuses: number[] = []
  for (let i = 0; i < 6; i++) {
    const res = await tryLogin(app, `user${i}@example.test`, 'whatever whatever', { 'x-forwarded-for': `203.0.113.${i}` })
    statuses.push(res.statusCode)
    if (res.statusCode === 429) {
      t.ok(Number(res.headers['retry-after']) > 0, 'Retry-After on the address limit')
      t.equal(res.json().code, 'TOO_MANY_REQUESTS')
    }
  }
  t.same(statuses, [400, 400, 400, 400, 400, 429], 'rotating X-Forwarded-For does not escape the limit')
  const register = await app.inject({ method: 'POST', url: '/users', payload: { email: 'new@example.test', password: 'correct horse battery' } })
  t.equal(register.statusCode, 201, 'each credential route has its own budget')

  const proxied = await build(t, { LOGIN_RATE_LIMIT: '2', TRUST_PROXY: 'true' })
  const perClient: number[] = []
  for (const client of ['198.51.100.1', '198.51.100.1', '198.51.100.1', '198.51.100.2']) {
    perClient.push((await tryLogin(proxied, 'x@example.test', 'whatever whatever', { 'x-forwarded-for': client })).statusCode)
  }
  t.same(perClient, [400, 400, 429, 400], 'behind a trusted proxy, each client address has its own budget')
})

t.test('a hashing storm beyond the queue gets 503 with Retry-After, and reads keep answering', async (t) => {
  const app = await build(t, { HASH_CONCURRENCY: '1', HASH_QUEUE_LIMIT: '2', ARGON2_MEMORY_KIB: '8192', ARGON2_TIME_COST: '3' })
  const user = await createUser(app)
  const storm = Array.from({ length: 12 }, () => tryLogin(app, user.email, user.password))
  const read = await user.inject({ method: 'GET', url: '/users/me' })
  t.equal(read.statusCode, 200, 'a protected read answers during the storm')
  const answers = await Promise.all(storm)
  const refused = answers.filter((res) => res.statusCode === 503)
  t.ok(refused.length > 0, `${refused.length} of 12 refused with 503`)
  t.ok(answers.some((res) => res.statusCode === 200), 'the queued ones succeed')
  t.equal(refused[0]?.headers['retry-after'], '1')
  t.same(refused[0]?.json(), { statusCode: 503, code: 'SERVICE_UNAVAILABLE', error: 'Service Unavailable', message: 'Too many password checks at once; retry shortly' })
})
