import crypto from 'node:crypto'
import fs from 'node:fs'
import path from 'node:path'
import t from 'tap'
import { calculateJwkThumbprint, createLocalJWKSet, decodeProtectedHeader, importSPKI, jwtVerify } from 'jose'
import { buildApp } from '../../src/app.js'
import { loadKeyRing } from '../../src/keys.js'
import { build, createUser, login, tempDir, testConfig, type App } from '../helper.js'

const jwksOf = async (app: App) => (await app.inject({ method: 'GET', url: '/.well-known/jwks.json' })).json<{ keys: Array<{ kid: string, alg: string, kty: string, crv?: string, x?: string, y?: string }> }>()
const me = (app: App, accessToken: string) => app.inject({ method: 'GET', url: '/users/me', headers: { authorization: `Bearer ${accessToken}` } })
const modeOf = (file: string) => fs.statSync(file).mode & 0o777

t.test('the signing key and the users survive a restart', async (t) => {
  const dataDir = tempDir(t)
  const first = await buildApp(testConfig(dataDir))
  await first.ready()
  const user = await createUser(first)
  const jwksBefore = await jwksOf(first)
  t.equal(jwksBefore.keys.length, 1)
  t.equal(decodeProtectedHeader(user.accessToken).kid, jwksBefore.keys[0]?.kid, 'the published key signed the token')
  await first.close()

  const second = await build(t, {}, dataDir)
  const caller = await me(second, user.accessToken)
  t.equal(caller.statusCode, 200, 'an access token from before the restart still works')
  t.equal(caller.json().id, user.id)
  t.equal(caller.json().email, user.email)
  const refreshed = await second.inject({ method: 'POST', url: '/auth/token', payload: { grant_type: 'refresh_token', refresh_token: user.refreshToken } })
  t.equal(refreshed.statusCode, 200, 'so does a refresh token')
  const again = await login(second, user.email, user.password)
  t.equal((await me(second, again.access_token)).statusCode, 200, 'the user can still log in')
  t.strictSame(await jwksOf(second), jwksBefore, 'the same key: JWKS and kid unchanged')
  t.equal(decodeProtectedHeader(again.access_token).kid, jwksBefore.keys[0]?.kid, 'and it still signs')
})

t.test('the generated key is owner-only, whatever the umask', async (t) => {
  const dataDir = tempDir(t)
  // With a permissive umask only the modes the code asks for protect the key.
  const previous = process.umask(0)
  t.teardown(() => { process.umask(previous) })
  const app = await build(t, {}, dataDir)
  process.umask(previous)
  const dir = path.join(dataDir, 'keys')
  t.equal(modeOf(dir), 0o700, 'keys directory is 0700')
  const files = fs.readdirSync(dir)
  t.equal(files.length, 1, `one file and no leftovers (${files.join(', ')})`)
  t.match(files[0], /\.pem$/)
  t.equal(modeOf(path.join(dir, files[0] as string)), 0o600, 'key file is 0600')

  // The file is the key: its public half verifies the service's tokens.
  const user = await createUser(app)
  const publicPem = crypto.createPublicKey(fs.readFileSync(path.join(dir, files[0] as string))).export({ format: 'pem', type: 'spki' }).toString()
  const { payload } = await jwtVerify(user.accessToken, await importSPKI(publicPem, 'EdDSA'), {
    issuer: 'http://localhost:3000', audience: 'ecommerce-api', typ: 'at+jwt', algorithms: ['EdDSA']
  })
  t.equal(payload.sub, String(user.id))
})

for (const linksWork of [true, false]) {
  const variant = linksWork ? '' : ' (file system without hard links)'
  t.test(`instances starting together on an empty DATA_DIR agree on one signing key${variant}`, async (t) => {
    const dataDir = tempDir(t)
    const realLink = fs.linkSync
    if (!linksWork) {
      fs.linkSync = (() => { throw Object.assign(new Error('operation not permitted'), { code: 'EPERM' }) }) as typeof fs.linkSync
      t.teardown(() => { fs.linkSync = realLink })
    }
    const keysDir = path.join(dataDir, 'keys')
    // The worst interleaving, made deterministic: this instance finds no key (the
    // directory missing or empty), and before it acts on that another instance runs
    // its whole first start. (Separate processes hit this window only now and then.)
    const realExists = fs.existsSync
    const realReaddir = fs.readdirSync
    let other: ReturnType<typeof loadKeyRing> | undefined
    const restore = () => { fs.existsSync = realExists; fs.readdirSync = realReaddir }
    const otherStartsIfNoKey = (target: unknown, noKey: boolean) => {
      if (other !== undefined || !noKey || path.resolve(String(target)) !== keysDir) return
      restore()
      other = loadKeyRing({ dataDir, accessTokenTtl: 900 })
    }
    fs.existsSync = ((target: fs.PathLike) => {
      const exists = realExists(target)
      otherStartsIfNoKey(target, !exists)
      return exists
    }) as typeof fs.existsSync
    fs.readdirSync = ((...args: Parameters<typeof fs.readdirSync>) => {
      const listing = realReaddir(...args)
      otherStartsIfNoKey(args[0], !listing.some((name) => String(name).endsWith('.pem')))
      return listing
    }) as typeof fs.readdirSync
    t.teardown(restore)
    const mine = loadKeyRing({ dataDir, accessTokenTtl: 900 })
    restore()

    t.ok(other, 'the other instance did start in between')
    t.equal(mine.active.kid, other?.active.kid, 'both sign with the same key')
    t.strictSame(mine.all.map((key) => key.kid), other?.all.map((key) => key.kid), 'and publish the same keys')
    const files = fs.readdirSync(keysDir)
    t.equal(files.length, 1, `one key file, no temporary leftovers (${files.join(', ')})`)
    t.equal(modeOf(path.join(keysDir, files[0] as string)), 0o600)
    t.strictSame(loadKeyRing({ dataDir, accessTokenTtl: 900 }).all.map((key) => key.kid), [mine.active.kid], 'a later start finds that key')
    fs.linkSync = realLink
  })
}

t.test('JWT_PRIVATE_KEY_FILE (Ed25519) is the signing key: its kid is published and signs', async (t) => {
  const dir = tempDir(t)
  const keyFile = path.join(dir, 'shared.pem')
  const { privateKey, publicKey } = crypto.generateKeyPairSync('ed25519')
  fs.writeFileSync(keyFile, privateKey.export({ format: 'pem', type: 'pkcs8' }), { mode: 0o600 })
  const dataDir = tempDir(t)
  const app = await build(t, { JWT_PRIVATE_KEY_FILE: keyFile }, dataDir)
  const user = await createUser(app)
  const jwks = await jwksOf(app)
  const expectedJwk = publicKey.export({ format: 'jwk' })
  t.equal(jwks.keys.length, 1, 'only that key')
  t.equal(jwks.keys[0]?.x, expectedJwk.x, 'the published key is the file\'s')
  t.equal(jwks.keys[0]?.kid, await calculateJwkThumbprint({ kty: 'OKP', crv: 'Ed25519', x: expectedJwk.x as string }), 'kid is the RFC 7638 thumbprint')
  t.equal(decodeProtectedHeader(user.accessToken).kid, jwks.keys[0]?.kid, 'the token header names that kid')
  await jwtVerify(user.accessToken, await importSPKI(publicKey.export({ format: 'pem', type: 'spki' }).toString(), 'EdDSA'), {
    issuer: 'http://localhost:3000', audience: 'ecommerce-api', typ: 'at+jwt', algorithms: ['EdDSA']
  })
  t.pass('the token verifies with the file\'s public key')
  t.notOk(fs.existsSync(path.join(dataDir, 'keys')), 'no key is generated into DATA_DIR')

  const other = await build(t, { JWT_PRIVATE_KEY_FILE: keyFile })
  t.strictSame(await jwksOf(other), jwks, 'another instance with the same file publishes the same key')
})

t.test('JWT_PRIVATE_KEY_FILE may hold a P-256 key: tokens are ES256', async (t) => {
  const dir = tempDir(t)
  const keyFile = path.join(dir, 'p256.pem')
  fs.writeFileSync(keyFile, crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ format: 'pem', type: 'pkcs8' }), { mode: 0o600 })
  const app = await build(t, { JWT_PRIVATE_KEY_FILE: keyFile })
  const user = await createUser(app)
  const jwks = await jwksOf(app)
  t.match(jwks.keys[0], { kty: 'EC', crv: 'P-256', alg: 'ES256' })
  const { protectedHeader } = await jwtVerify(user.accessToken, createLocalJWKSet(jwks), {
    issuer: 'http://localhost:3000', audience: 'ecommerce-api', typ: 'at+jwt', algorithms: ['ES256']
  })
  t.equal(protectedHeader.alg, 'ES256')
  t.equal((await me(app, user.accessToken)).statusCode, 200)
})

t.test('JWT_PRIVATE_KEY_FILE replaced by a key of another type: after the reload, its tokens work', async (t) => {
  const dir = tempDir(t)
  const keyFile = path.join(dir, 'shared.pem')
  fs.writeFileSync(keyFile, crypto.generateKeyPairSync('ed25519').privateKey.export({ format: 'pem', type: 'pkcs8' }), { mode: 0o600 })
  const app = await build(t, { JWT_PRIVATE_KEY_FILE: keyFile })
  const user = await createUser(app)
  fs.writeFileSync(keyFile, crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ format: 'pem', type: 'pkcs8' }))
  app.reloadKeys()
  const fresh = await login(app, user.email, user.password)
  t.equal(decodeProtectedHeader(fresh.access_token).alg, 'ES256', 'the new key signs')
  t.equal(decodeProtectedHeader(fresh.access_token).kid, (await jwksOf(app)).keys[0]?.kid)
  t.equal((await me(app, fresh.access_token)).statusCode, 200, 'and the service accepts what it signed')
  t.equal((await me(app, user.accessToken)).statusCode, 401, 'the replaced key no longer verifies')
})

t.test('a missing or unusable JWT_PRIVATE_KEY_FILE stops the start with an error naming it', async (t) => {
  const dir = tempDir(t)
  const garbage = path.join(dir, 'garbage.pem')
  fs.writeFileSync(garbage, 'not a key')
  const weak = path.join(dir, 'rsa1024.pem')
  fs.writeFileSync(weak, crypto.generateKeyPairSync('rsa', { modulusLength: 1024 }).privateKey.export({ format: 'pem', type: 'pkcs8' }))
  const publicOnly = path.join(dir, 'public.pem')
  fs.writeFileSync(publicOnly, crypto.generateKeyPairSync('ed25519').publicKey.export({ format: 'pem', type: 'spki' }))
  const files: Array<[string, string]> = [['missing', path.join(dir, 'missing.pem')], ['not a key', garbage], ['RSA below 2048 bits', weak], ['a public key', publicOnly]]
  for (const [name, file] of files) {
    const dataDir = tempDir(t)
    await t.rejects(buildApp(testConfig(dataDir, { JWT_PRIVATE_KEY_FILE: file })), { name: 'ConfigError', message: /JWT_PRIVATE_KEY_FILE/ }, name)
    t.notOk(fs.existsSync(path.join(dataDir, 'keys')), `${name}: no key was generated instead`)
  }
})
