import crypto from 'node:crypto'
import { Writable } from 'node:stream'
import t from 'tap'
import { buildApp } from '../../src/app.js'
import { build, createUser, login, tempDir, testConfig, DEFAULT_PASSWORD, type App, sqliteOf } from '../helper.js'
import { SmtpSink, waitFor } from '../smtp-sink.js'

const NEW_PASSWORD = 'a brand new passphrase'
const ACCEPTED = { message: 'If the address is registered, an e-mail with a reset token is on its way' }
const TOKEN_INVALID = { statusCode: 400, code: 'RESET_TOKEN_INVALID', error: 'Bad Request', message: 'The reset token is wrong, used or expired' }
const ACCESS_TOKEN_DEAD = { statusCode: 401, code: 'INVALID_TOKEN', error: 'Unauthorized', message: 'The access token is invalid or expired' }
const REFRESH_TOKEN_DEAD = { error: 'invalid_grant', error_description: 'The refresh token is invalid, expired or revoked' }
const validationError = (message: string) => ({ statusCode: 400, code: 'VALIDATION_ERROR', error: 'Bad Request', message })

async function setup (t: Parameters<typeof build>[0]) {
  const sink = await new SmtpSink().start()
  t.teardown(() => sink.stop())
  const app = await build(t, { SMTP_URL: sink.url })
  return { sink, app }
}

const requestReset = (app: App, email: string) =>
  app.inject({ method: 'POST', url: '/auth/password-reset', payload: { email } })
const confirmReset = (app: App, payload: Record<string, unknown>) =>
  app.inject({ method: 'POST', url: '/auth/password-reset/confirm', payload })

const tokenIn = (text: string | undefined): string => {
  const match = /Reset token: (\S+)/.exec(text ?? '')
  if (!match?.[1]) throw new Error(`no token in ${text}`)
  return match[1]
}

async function resetToken (sink: SmtpSink, index = 0): Promise<string> {
  return tokenIn((await waitFor(() => sink.messages[index], 10_000, 'the reset e-mail')).text)
}

/** Everything a reset touches: passwords and session generations, reset tokens, queued mail. */
const state = (app: App) => ({
  users: sqliteOf(app).prepare('SELECT id, password_hash, token_generation FROM users ORDER BY id').all(),
  resets: sqliteOf(app).prepare('SELECT * FROM password_resets ORDER BY id').all(),
  outbox: sqliteOf(app).prepare('SELECT id, recipient, subject, body FROM mail_outbox ORDER BY id').all()
})

t.test('a reset e-mail\'s token sets a new password once and ends every session', async (t) => {
  const { sink, app } = await setup(t)
  const user = await createUser(app)

  const asked = await requestReset(app, user.email.toUpperCase())
  t.equal(asked.statusCode, 202)
  t.same(asked.json(), ACCEPTED)
  const mail = await waitFor(() => sink.messages[0], 10_000, 'the reset e-mail')
  t.equal(mail.subject, 'Reset your password')
  t.equal(mail.from?.text, '"ecommerce-api" <no-reply@localhost>')
  t.equal(mail.to && !Array.isArray(mail.to) ? mail.to.text : '', user.email)
  const token = tokenIn(mail.text)
  t.match(token, /^[A-Za-z0-9_-]{43}$/, '256 random bits')

  const [stored] = sqliteOf(app).prepare('SELECT token_hash AS tokenHash, user_id AS userId, expires_at AS expiresAt, used_at AS usedAt FROM password_resets').all() as Array<{ tokenHash: string, userId: number, expiresAt: number, usedAt: number | null }>
  t.same(stored, {
    tokenHash: crypto.createHash('sha256').update(token).digest('base64url'),
    userId: user.id,
    expiresAt: stored!.expiresAt,
    usedAt: null
  }, 'only the token\'s hash is stored')
  const inAnHour = Math.floor(Date.now() / 1000) + 3600
  t.ok(stored!.expiresAt <= inAnHour && stored!.expiresAt >= inAnHour - 5, 'valid for one hour')

  const confirm = await confirmReset(app, { token, new_password: NEW_PASSWORD })
  t.equal(confirm.statusCode, 204)
  t.equal(confirm.body, '')

  const me = await user.inject({ method: 'GET', url: '/users/me' })
  t.equal(me.statusCode, 401, 'the old access token is dead')
  t.same(me.json(), ACCESS_TOKEN_DEAD)
  const refresh = await app.inject({ method: 'POST', url: '/auth/token', payload: { grant_type: 'refresh_token', refresh_token: user.refreshToken } })
  t.equal(refresh.statusCode, 400, 'the old refresh token is dead')
  t.same(refresh.json(), REFRESH_TOKEN_DEAD)
  await t.rejects(login(app, user.email, DEFAULT_PASSWORD), 'the old password fails')
  const fresh = await login(app, user.email, NEW_PASSWORD)
  t.equal((await app.inject({ method: 'GET', url: '/users/me', headers: { authorization: `Bearer ${fresh.access_token}` } })).statusCode, 200,
    'the new password works')

  const before = state(app)
  const again = await confirmReset(app, { token, new_password: 'yet another passphrase' })
  t.equal(again.statusCode, 400)
  t.same(again.json(), TOKEN_INVALID)
  t.same(state(app), before, 'a used token changes nothing')
  await t.resolves(login(app, user.email, NEW_PASSWORD), 'the password is still the new one')
  t.equal(sink.messages.length, 1)
})

t.test('an unknown or disabled address gets the same answer and no e-mail', async (t) => {
  const { sink, app } = await setup(t)
  const known = await createUser(app)
  const disabled = await createUser(app)
  sqliteOf(app).prepare('UPDATE users SET disabled = 1 WHERE id = ?').run(disabled.id)
  const before = state(app)

  const unknown = await requestReset(app, 'nobody@example.test')
  const refused = await requestReset(app, disabled.email)
  t.same(state(app), before, 'nothing stored or queued for an unknown or disabled address')
  const knownAnswer = await requestReset(app, known.email)
  for (const answer of [unknown, refused]) {
    t.same({ status: answer.statusCode, body: answer.body, type: answer.headers['content-type'], length: answer.headers['content-length'] },
      { status: 202, body: knownAnswer.body, type: knownAnswer.headers['content-type'], length: knownAnswer.headers['content-length'] },
      'identical to the known address\'s answer')
  }
  t.same(knownAnswer.json(), ACCEPTED)

  await waitFor(() => sink.messages.length >= 1, 10_000, 'the known address\'s mail')
  await new Promise((resolve) => setTimeout(resolve, 700))
  t.same(sink.messages.map((mail) => mail.to && !Array.isArray(mail.to) ? mail.to.text : ''), [known.email], 'only the known address got mail')
})

t.test('malformed requests are refused and change nothing', async (t) => {
  const { app } = await setup(t)
  const user = await createUser(app)
  const before = state(app)
  const cases: Array<[string, Record<string, unknown>, string]> = [
    ['/auth/password-reset', { email: 'not-an-email' }, 'body/email must match format "email"'],
    ['/auth/password-reset', { email: user.email, extra: 1 }, 'body must NOT have additional properties'],
    ['/auth/password-reset', {}, 'body must have required property \'email\''],
    ['/auth/password-reset/confirm', { token: 'x', new_password: 'short' }, 'body/new_password must NOT have fewer than 8 characters'],
    ['/auth/password-reset/confirm', { token: 'x', new_password: 'x'.repeat(257) }, 'body/new_password must NOT have more than 256 characters'],
    ['/auth/password-reset/confirm', { token: '', new_password: NEW_PASSWORD }, 'body/token must NOT have fewer than 1 characters'],
    ['/auth/password-reset/confirm', { new_password: NEW_PASSWORD }, 'body must have required property \'token\'']
  ]
  for (const [url, payload, message] of cases) {
    const res = await app.inject({ method: 'POST', url, payload })
    t.same({ status: res.statusCode, body: res.json() }, { status: 400, body: validationError(message) }, `${url} ${JSON.stringify(payload).slice(0, 60)}`)
  }
  t.same(state(app), before)
})

t.test('expired, wrong and too-short confirmations are refused and change nothing', async (t) => {
  const { sink, app } = await setup(t)
  const user = await createUser(app)
  await requestReset(app, user.email)
  const token = await resetToken(sink)
  const before = state(app)

  const short = await confirmReset(app, { token, new_password: 'short' })
  t.equal(short.statusCode, 400)
  t.same(short.json(), validationError('body/new_password must NOT have fewer than 8 characters'))
  const common = await confirmReset(app, { token, new_password: 'password123' })
  t.equal(common.statusCode, 400)
  t.same(common.json(), { statusCode: 400, code: 'PASSWORD_TOO_COMMON', error: 'Bad Request', message: 'This password is on a list of commonly used passwords; choose another' })
  const wrong = await confirmReset(app, { token: `${token.slice(0, -1)}${token.endsWith('A') ? 'B' : 'A'}`, new_password: NEW_PASSWORD })
  t.equal(wrong.statusCode, 400)
  t.same(wrong.json(), TOKEN_INVALID)
  t.same(state(app), before, 'the token is still unused, the password unchanged')

  sqliteOf(app).prepare('UPDATE password_resets SET expires_at = ?').run(Math.floor(Date.now() / 1000))
  const expiredState = state(app)
  const expired = await confirmReset(app, { token, new_password: NEW_PASSWORD })
  t.equal(expired.statusCode, 400)
  t.same(expired.json(), TOKEN_INVALID)
  t.same(state(app), expiredState, 'an expired token changes nothing')
  await t.resolves(login(app, user.email, DEFAULT_PASSWORD), 'the password is unchanged')
  t.equal((await user.inject({ method: 'GET', url: '/users/me' })).statusCode, 200, 'and the sessions live on')
})

t.test('using one reset token voids the user\'s other ones', async (t) => {
  const { sink, app } = await setup(t)
  const user = await createUser(app)
  await requestReset(app, user.email)
  const first = await resetToken(sink, 0)
  await requestReset(app, user.email)
  const second = await resetToken(sink, 1)
  t.not(first, second, 'each request gets its own token')

  t.equal((await confirmReset(app, { token: second, new_password: NEW_PASSWORD })).statusCode, 204)
  const stale = await confirmReset(app, { token: first, new_password: 'yet another passphrase' })
  t.equal(stale.statusCode, 400)
  t.same(stale.json(), TOKEN_INVALID)
  await t.resolves(login(app, user.email, NEW_PASSWORD))
})

t.test('concurrent confirmations of one token: exactly one wins', async (t) => {
  const { sink, app } = await setup(t)
  const user = await createUser(app)
  await requestReset(app, user.email)
  const token = await resetToken(sink)
  const generation = () => sqliteOf(app).prepare('SELECT token_generation FROM users WHERE id = ?').pluck().get(user.id) as number
  const generationBefore = generation()

  const passwords = Array.from({ length: 5 }, (_, i) => `${NEW_PASSWORD} ${i}`)
  const answers = await Promise.all(passwords.map((password) => confirmReset(app, { token, new_password: password })))
  t.same(answers.map((res) => res.statusCode).sort(), [204, 400, 400, 400, 400])
  t.ok(answers.filter((res) => res.statusCode === 400).every((res) => JSON.stringify(res.json()) === JSON.stringify(TOKEN_INVALID)), 'the losers get RESET_TOKEN_INVALID')
  t.equal(generation(), generationBefore + 1, 'sessions ended once')
  const winner = passwords[answers.findIndex((res) => res.statusCode === 204)]!
  await t.resolves(login(app, user.email, winner), 'the winner\'s password is the one set')
})

t.test('without SMTP_URL the reset e-mail, token included, is written to the log (development)', async (t) => {
  let logged = ''
  const stream = new Writable({ write (chunk, _encoding, done) { logged += chunk; done() } })
  const app = await buildApp(testConfig(tempDir(t)), { logger: { level: 'info', stream } })
  t.teardown(() => app.close())
  await app.ready()
  const user = await createUser(app)
  t.equal((await requestReset(app, user.email)).statusCode, 202)

  const line = await waitFor(() => logged.split('\n').find((entry) => entry.includes('"subject":"Reset your password"')), 5000, 'the logged e-mail')
  const entry = JSON.parse(line) as { to: string, text: string, containsSecrets: boolean }
  t.equal(entry.to, user.email)
  t.equal(entry.containsSecrets, true, 'the line says it holds a secret')
  t.equal((await confirmReset(app, { token: tokenIn(entry.text), new_password: NEW_PASSWORD })).statusCode, 204, 'the logged token works')
  await t.resolves(login(app, user.email, NEW_PASSWORD))
})
