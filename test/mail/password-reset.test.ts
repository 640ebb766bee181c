import t from 'tap'
import { build, createUser, login, DEFAULT_PASSWORD } from '../helper.js'
import { SmtpSink, waitFor } from '../smtp-sink.js'

const NEW_PASSWORD = 'a brand new passphrase'
const ACCEPTED = { message: 'If the address is registered, an e-mail with a reset token is on its way' }

async function setup (t: Parameters<typeof build>[0]) {
  const sink = await new SmtpSink().start()
  t.teardown(() => sink.stop())
  const app = await build(t, { SMTP_URL: sink.url })
  return { sink, app }
}

async function resetToken (sink: SmtpSink, index = 0): Promise<string> {
  const mail = await waitFor(() => sink.messages[index], 10_000, 'the reset e-mail')
  const match = /Reset token: (\S+)/.exec(mail.text ?? '')
  if (!match?.[1]) throw new Error(`no token in ${mail.text}`)
  return match[1]
}

t.test('a reset e-mail\'s token sets a new password once and ends every session', async (t) => {
  const { sink, app } = await setup(t)
  const user = await createUser(app)

  const asked = await app.inject({ method: 'POST', url: '/auth/password-reset', payload: { email: user.email.toUpperCase() } })
  t.equal(asked.statusCode, 202)
  t.same(asked.json(), ACCEPTED)
  const token = await resetToken(sink)
  t.equal(sink.messages[0]?.subject, 'Reset your password')

  const confirm = await app.inject({ method: 'POST', url: '/auth/password-reset/confirm', payload: { token, new_password: NEW_PASSWORD } })
  t.equal(confirm.statusCode, 204)
  t.equal(confirm.body, '')

  t.equal((await user.inject({ method: 'GET', url: '/users/me' })).statusCode, 401, 'the old access token is dead')
  const refresh = await app.inject({ method: 'POST', url: '/auth/token', payload: { grant_type: 'refresh_token', refresh_token: user.refreshToken } })
  t.equal(refresh.statusCode, 400, 'the old refresh token is dead')
  t.equal(refresh.json().error, 'invalid_grant')
  await t.rejects(login(app, user.email, DEFAULT_PASSWORD), 'the old password fails')
  await t.resolves(login(app, user.email, NEW_PASSWORD), 'the new password works')

  const again = await app.inject({ method: 'POST', url: '/auth/password-reset/confirm', payload: { token, new_password: 'yet another passphrase' } })
  t.equal(again.statusCode, 400)
  t.same(again.json(), { statusCode: 400, code: 'RESET_TOKEN_INVALID', error: 'Bad Request', message: 'The reset token is wrong, used or expired' })
  await t.resolves(login(app, user.email, NEW_PASSWORD), 'a refused token changed nothing')
})

t.test('an unknown address gets the same answer and no e-mail', async (t) => {
  const { sink, app } = await setup(t)
  const known = await createUser(app)
  const unknown = await app.inject({ method: 'POST', url: '/auth/password-reset', payload: { email: 'nobody@example.test' } })
  const knownAnswer = await app.inject({ method: 'POST', url: '/auth/password-reset', payload: { email: known.email } })
  t.equal(unknown.statusCode, 202)
  t.same(unknown.json(), knownAnswer.json())
  t.same(unknown.headers['content-length'], knownAnswer.headers['content-length'])
  await waitFor(() => sink.messages.length >= 1, 10_000, 'the known address\'s mail')
  await new Promise((resolve) => setTimeout(resolve, 300))
  t.equal(sink.messages.length, 1, 'only the known address got mail')
  t.equal((await app.inject({ method: 'POST', url: '/auth/password-reset', payload: { email: 'not-an-email' } })).statusCode, 400)
})

t.test('expired, wrong and too-weak confirmations are refused', async (t) => {
  const { sink, app } = await setup(t)
  const user = await createUser(app)
  await app.inject({ method: 'POST', url: '/auth/password-reset', payload: { email: user.email } })
  const token = await resetToken(sink)

  const short = await app.inject({ method: 'POST', url: '/auth/password-reset/confirm', payload: { token, new_password: 'short' } })
  t.equal(short.statusCode, 400)
  t.equal(short.json().code, 'VALIDATION_ERROR')
  const common = await app.inject({ method: 'POST', url: '/auth/password-reset/confirm', payload: { token, new_password: 'password123' } })
  t.equal(common.statusCode, 400)
  t.equal(common.json().code, 'PASSWORD_TOO_COMMON')
  const wrong = await app.inject({ method: 'POST', url: '/auth/password-reset/confirm', payload: { token: 'not-a-token', new_password: NEW_PASSWORD } })
  t.equal(wrong.json().code, 'RESET_TOKEN_INVALID')

  app.sqlite.prepare('UPDATE password_resets SET expires_at = ?').run(Math.floor(Date.now() / 1000) - 1)
  const expired = await app.inject({ method: 'POST', url: '/auth/password-reset/confirm', payload: { token, new_password: NEW_PASSWORD } })
  t.equal(expired.statusCode, 400)
  t.equal(expired.json().code, 'RESET_TOKEN_INVALID')
  await t.resolves(login(app, user.email, DEFAULT_PASSWORD), 'the password is unchanged')
})

t.test('concurrent confirmations of one token: exactly one wins', async (t) => {
  const { sink, app } = await setup(t)
  const user = await createUser(app)
  await app.inject({ method: 'POST', url: '/auth/password-reset', payload: { email: user.email } })
  const token = await resetToken(sink)
  const answers = await Promise.all(Array.from({ length: 5 }, (_, i) => app.inject({
    method: 'POST', url: '/auth/password-reset/confirm', payload: { token, new_password: `${NEW_PASSWORD} ${i}` }
  })))
  t.same(answers.map((res) => res.statusCode).sort(), [204, 400, 400, 400, 400])
})
