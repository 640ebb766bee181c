import crypto from 'node:crypto'
import fs from 'node:fs'
import path from 'node:path'
import { Writable } from 'node:stream'
import t from 'tap'
import { buildApp, loggerOptions } from '../../src/app.js'
import { build, createUser, login, tempDir, testConfig } from '../helper.js'

const kidOf = (token: string) => JSON.parse(Buffer.from(token.split('.')[0] as string, 'base64url').toString()).kid as string

t.test('the signing key and users survive a restart', async (t) => {
  const dataDir = tempDir(t)
  const first = await buildApp(testConfig(dataDir))
  await first.ready()
  const user = await createUser(first)
  const jwksBefore = (await first.inject({ method: 'GET', url: '/.well-known/jwks.json' })).json()
  await first.close()

  t.equal(fs.statSync(path.join(dataDir, 'keys')).mode & 0o777, 0o700, 'keys directory is owner-only')
  const [keyFile] = fs.readdirSync(path.join(dataDir, 'keys'))
  t.equal(fs.statSync(path.join(dataDir, 'keys', keyFile as string)).mode & 0o777, 0o600, 'key file is owner-only')

  const second = await build(t, {}, dataDir)
  const me = await second.inject({ method: 'GET', url: '/users/me', headers: { authorization: `Bearer ${user.accessToken}` } })
  t.equal(me.statusCode, 200, 'a token from before the restart still works')
  t.equal(me.json().email, user.email)
  await t.resolves(login(second, user.email, user.password), 'the user can still log in')
  t.same((await second.inject({ method: 'GET', url: '/.well-known/jwks.json' })).json(), jwksBefore, 'same key, same kid')
})

t.test('JWT_PRIVATE_KEY_FILE is used when set, and a missing file stops the start naming it', async (t) => {
  const dir = tempDir(t)
  const keyFile = path.join(dir, 'shared.pem')
  fs.writeFileSync(keyFile, crypto.generateKeyPairSync('ed25519').privateKey.export({ format: 'pem', type: 'pkcs8' }), { mode: 0o600 })
  const app = await build(t, { JWT_PRIVATE_KEY_FILE: keyFile })
  const user = await createUser(app)
  const jwks = (await app.inject({ method: 'GET', url: '/.well-known/jwks.json' })).json()
  t.equal(jwks.keys.length, 1)
  t.equal(kidOf(user.accessToken), jwks.keys[0].kid)

  const other = await build(t, { JWT_PRIVATE_KEY_FILE: keyFile })
  const me = await other.inject({ method: 'GET', url: '/users/me', headers: { authorization: `Bearer ${user.accessToken}` } })
  t.equal(me.statusCode, 401, 'the user does not exist in the other database…')
  t.equal((await other.inject({ method: 'GET', url: '/.well-known/jwks.json' })).json().keys[0].kid, jwks.keys[0].kid, '…but both instances publish the same key')

  await t.rejects(buildApp(testConfig(tempDir(t), { JWT_PRIVATE_KEY_FILE: path.join(dir, 'missing.pem') })), /JWT_PRIVATE_KEY_FILE/)
})

t.test('logs never carry passwords, access tokens or refresh tokens', async (t) => {
  let logged = ''
  const stream = new Writable({ write (chunk, _encoding, done) { logged += chunk; done() } })
  const config = testConfig(tempDir(t), { LOG_LEVEL: 'trace' })
  const logger = { ...(loggerOptions(config) as object), stream }
  const app = await buildApp(config, { logger })
  t.teardown(() => app.close())
  const user = await createUser(app, { password: 'very secret passphrase' })
  const refreshed = await app.inject({ method: 'POST', url: '/auth/token', payload: { grant_type: 'refresh_token', refresh_token: user.refreshToken } })
  await user.inject({ method: 'GET', url: '/users/me' })
  await app.inject({ method: 'POST', url: '/auth/token', payload: { username: user.email, password: 'wrong secret passphrase' } })
  t.ok(logged.length > 1000, 'the test did capture the request logs')
  t.match(logged, /login_failed/, 'auth events are logged')
  for (const secret of ['very secret passphrase', 'wrong secret passphrase', user.accessToken, user.refreshToken, refreshed.json().refresh_token, refreshed.json().access_token]) {
    t.notOk(logged.includes(secret), `secret ${secret.slice(0, 8)}… not in the log`)
  }
})
