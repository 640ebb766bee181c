import crypto from 'node:crypto'
import fs from 'node:fs'
import path from 'node:path'
import t from 'tap'
import { createLocalJWKSet, decodeProtectedHeader, jwtVerify, type JSONWebKeySet } from 'jose'
import { build, createUser, tempDir, type App } from '../helper.js'

const CHALLENGE = 'Bearer error="invalid_token", error_description="The access token is invalid or expired"'
const INVALID_TOKEN_BODY = { statusCode: 401, code: 'INVALID_TOKEN', error: 'Unauthorized', message: 'The access token is invalid or expired' }

const b64 = (value: unknown) => Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)).toString('base64url')

function signEdDSA (header: object, payload: object, key: crypto.KeyObject): string {
  const input = `${b64(header)}.${b64(payload)}`
  return `${input}.${crypto.sign(null, Buffer.from(input), key).toString('base64url')}`
}
function signHS256 (header: object, payload: object, secret: string | Buffer): string {
  const input = `${b64(header)}.${b64(payload)}`
  return `${input}.${crypto.createHmac('sha256', secret).update(input).digest('base64url')}`
}
function signES256 (header: object, payload: object, key: crypto.KeyObject): string {
  const input = `${b64(header)}.${b64(payload)}`
  return `${input}.${crypto.sign('sha256', Buffer.from(input), { key, dsaEncoding: 'ieee-p1363' }).toString('base64url')}`
}

/** The service's own private key, read from where it keeps it. */
function serviceKey (dataDir: string): crypto.KeyObject {
  const dir = path.join(dataDir, 'keys')
  const files = fs.readdirSync(dir).filter((name) => name.endsWith('.pem'))
  if (files.length !== 1) throw new Error(`expected one key file, found ${files.join(', ')}`)
  return crypto.createPrivateKey(fs.readFileSync(path.join(dir, files[0] as string)))
}

const jwksOf = async (app: App) => (await app.inject({ method: 'GET', url: '/.well-known/jwks.json' })).json<JSONWebKeySet & { keys: Array<{ kid: string, x: string }> }>()

t.test('forged, tampered and wrong-claim tokens are 401 invalid_token; the same builder with honest claims is 200', async (t) => {
  const dataDir = tempDir(t)
  const app = await build(t, {}, dataDir)
  const user = await createUser(app)
  const privateKey = serviceKey(dataDir)
  const publicKey = crypto.createPublicKey(privateKey)
  const publicPem = publicKey.export({ format: 'pem', type: 'spki' }).toString()
  const jwk = (await jwksOf(app)).keys[0] as { kid: string, x: string }
  const { kid } = jwk
  t.equal(kid, decodeProtectedHeader(user.accessToken).kid, 'the key read from DATA_DIR is the one that signs')
  const attacker = crypto.generateKeyPairSync('ed25519')
  const attackerP256 = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' })
  const now = Math.floor(Date.now() / 1000)

  const header = { alg: 'EdDSA', typ: 'at+jwt', kid }
  const claims = {
    iss: 'http://localhost:3000',
    aud: 'ecommerce-api',
    sub: String(user.id),
    client_id: 'public',
    role: 'customer',
    gen: 0,
    iat: now,
    exp: now + 600,
    jti: crypto.randomUUID()
  }
  const without = (name: keyof typeof claims) => Object.fromEntries(Object.entries(claims).filter(([key]) => key !== name))
  const call = (token: string) => app.inject({ method: 'GET', url: '/users/me', headers: { authorization: `Bearer ${token}` } })

  // Baselines: the builders are right, so each attack below fails only for what it changes.
  const honest = signEdDSA(header, claims, privateKey)
  const baseline = await call(honest)
  t.equal(baseline.statusCode, 200, 'honest claims signed with the service key are accepted')
  t.equal(baseline.json().id, user.id)
  t.equal((await call(signEdDSA(header, { ...claims, jti: crypto.randomUUID(), client_id: 'other' }, privateKey))).statusCode, 200,
    'a second honest token (not a cache hit) is accepted too')

  const [honestHeader, honestPayload, honestSignature] = honest.split('.') as [string, string, string]
  const attackerJwk = attacker.publicKey.export({ format: 'jwk' })
  const attackerKid = 'attacker-key'
  const attacks: Record<string, string> = {
    // Algorithm confusion and unsigned tokens.
    'alg none': `${b64({ alg: 'none', typ: 'at+jwt', kid })}.${b64(claims)}.`,
    'alg None': `${b64({ alg: 'None', typ: 'at+jwt', kid })}.${b64(claims)}.`,
    'alg none with the honest signature': `${b64({ alg: 'none', typ: 'at+jwt', kid })}.${honestPayload}.${honestSignature}`,
    'HS256, the public key PEM as HMAC secret': signHS256({ alg: 'HS256', typ: 'at+jwt', kid }, claims, publicPem),
    'HS256, the JWK x as HMAC secret': signHS256({ alg: 'HS256', typ: 'at+jwt', kid }, claims, jwk.x),
    'HS256, the raw public key bytes as HMAC secret': signHS256({ alg: 'HS256', typ: 'at+jwt', kid }, claims, Buffer.from(jwk.x, 'base64url')),
    'HS256, the public key DER as HMAC secret': signHS256({ alg: 'HS256', typ: 'at+jwt', kid }, claims, publicKey.export({ format: 'der', type: 'spki' })),
    // Someone else's keys.
    'the attacker\'s key under our kid': signEdDSA(header, claims, attacker.privateKey),
    'embedded jwk header with the attacker\'s key': signEdDSA({ ...header, jwk: attackerJwk }, claims, attacker.privateKey),
    'embedded jwk header, attacker kid': signEdDSA({ alg: 'EdDSA', typ: 'at+jwt', kid: attackerKid, jwk: { ...attackerJwk, kid: attackerKid } }, claims, attacker.privateKey),
    'jku header pointing at the attacker': signEdDSA({ ...header, kid: attackerKid, jku: 'https://evil.example/jwks.json' }, claims, attacker.privateKey),
    'ES256 under our kid, signed by an attacker P-256 key': signES256({ alg: 'ES256', typ: 'at+jwt', kid }, claims, attackerP256.privateKey),
    'ES256 with an embedded attacker P-256 jwk': signES256({ alg: 'ES256', typ: 'at+jwt', kid: attackerKid, jwk: attackerP256.publicKey.export({ format: 'jwk' }) }, claims, attackerP256.privateKey),
    // Our signature, altered content.
    'tampered payload: role admin': `${honestHeader}.${b64({ ...claims, role: 'admin' })}.${honestSignature}`,
    'tampered payload: another sub': `${honestHeader}.${b64({ ...claims, sub: String(user.id + 1) })}.${honestSignature}`,
    'tampered payload: later exp': `${honestHeader}.${b64({ ...claims, exp: now + 86_400 })}.${honestSignature}`,
    'tampered header: typ dropped': `${b64({ alg: 'EdDSA', kid })}.${honestPayload}.${honestSignature}`,
    'truncated signature': honest.slice(0, -4),
    'signature with a flipped character': honest.slice(0, -8) + (honest.at(-8) === 'A' ? 'B' : 'A') + honest.slice(-7),
    'no signature': `${honestHeader}.${honestPayload}.`,
    'two parts only': `${honestHeader}.${honestPayload}`,
    // Signed by our real key, one thing wrong.
    expired: signEdDSA(header, { ...claims, iat: now - 1000, exp: now - 10 }, privateKey),
    'not yet valid (nbf in the future)': signEdDSA(header, { ...claims, nbf: now + 600 }, privateKey),
    'wrong iss': signEdDSA(header, { ...claims, iss: 'https://evil.example' }, privateKey),
    'iss with a trailing slash': signEdDSA(header, { ...claims, iss: 'http://localhost:3000/' }, privateKey),
    'wrong aud': signEdDSA(header, { ...claims, aud: 'another-api' }, privateKey),
    'aud as a list without ours': signEdDSA(header, { ...claims, aud: ['another-api'] }, privateKey),
    'typ JWT': signEdDSA({ ...header, typ: 'JWT' }, claims, privateKey),
    'typ id_token+jwt': signEdDSA({ ...header, typ: 'id_token+jwt' }, claims, privateKey),
    'missing typ': signEdDSA({ alg: 'EdDSA', kid }, claims, privateKey),
    'unknown kid': signEdDSA({ ...header, kid: 'not-our-key' }, claims, privateKey),
    'missing kid': signEdDSA({ alg: 'EdDSA', typ: 'at+jwt' }, claims, privateKey),
    'alg ES256 in the header of an EdDSA token': signEdDSA({ ...header, alg: 'ES256' }, claims, privateKey),
    'missing jti': signEdDSA(header, without('jti'), privateKey),
    'missing gen': signEdDSA(header, without('gen'), privateKey),
    'missing sub': signEdDSA(header, without('sub'), privateKey),
    'missing exp': signEdDSA(header, without('exp'), privateKey),
    'missing iat': signEdDSA(header, without('iat'), privateKey),
    'missing iss': signEdDSA(header, without('iss'), privateKey),
    'missing aud': signEdDSA(header, without('aud'), privateKey),
    'gen of an earlier session': signEdDSA(header, { ...claims, gen: 1 }, privateKey),
    'gen as a string': signEdDSA(header, { ...claims, gen: '0' }, privateKey),
    'sub as a number': signEdDSA(header, { ...claims, sub: user.id }, privateKey),
    'sub with a leading zero': signEdDSA(header, { ...claims, sub: `0${user.id}` }, privateKey),
    'sub of no user': signEdDSA(header, { ...claims, sub: '999999' }, privateKey),
    // Not a JWT at all.
    garbage: 'not.a.jwt',
    'empty segments': '..',
    'a refresh token': user.refreshToken
  }
  for (const [name, token] of Object.entries(attacks)) {
    const res = await call(token)
    t.equal(res.statusCode, 401, `${name}: 401`)
    t.equal(res.headers['www-authenticate'], CHALLENGE, `${name}: RFC 6750 invalid_token challenge`)
    t.strictSame(res.json(), INVALID_TOKEN_BODY, `${name}: exact body`)
  }
  t.equal((await call(honest)).statusCode, 200, 'the honest token still works after all that')
})

t.test('no token or another scheme: 401 with a bare Bearer challenge', async (t) => {
  const app = await build(t)
  const user = await createUser(app)
  for (const [name, headers] of [
    ['no Authorization header', {}],
    ['Basic credentials', { authorization: `Basic ${b64(`${user.email}:${user.password}`)}` }],
    ['the token without a scheme', { authorization: user.accessToken }]
  ] as const) {
    const res = await app.inject({ method: 'GET', url: '/users/me', headers })
    t.equal(res.statusCode, 401, name)
    t.equal(res.headers['www-authenticate'], 'Bearer', `${name}: bare challenge`)
    t.strictSame(res.json(), { statusCode: 401, code: 'UNAUTHORIZED', error: 'Unauthorized', message: 'A valid access token is required' })
  }
})

t.test('an independent verifier (jose + the published JWKS) accepts our access tokens', async (t) => {
  const app = await build(t)
  const user = await createUser(app)
  const jwks = createLocalJWKSet(await jwksOf(app))
  const { payload, protectedHeader } = await jwtVerify(user.accessToken, jwks, {
    issuer: 'http://localhost:3000', audience: 'ecommerce-api', typ: 'at+jwt', algorithms: ['EdDSA']
  })
  t.strictSame(protectedHeader, { alg: 'EdDSA', typ: 'at+jwt', kid: (await jwksOf(app)).keys[0]?.kid })
  t.strictSame(Object.keys(payload).sort(), ['aud', 'client_id', 'exp', 'gen', 'iat', 'iss', 'jti', 'role', 'scope', 'sub'])
  t.equal(payload.scope, 'account cart orders', 'scope: everything a customer may hold (RFC 9068)')
  t.equal(payload.sub, String(user.id), 'sub is the user id as a string')
  t.equal(payload.client_id, 'public')
  t.equal(payload.role, 'customer')
  t.equal(payload.gen, 0)
  t.equal(payload.iss, 'http://localhost:3000')
  t.equal(payload.aud, 'ecommerce-api')
  t.match(payload.jti, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/)
  t.equal((payload.exp ?? 0) - (payload.iat ?? 0), 900, 'exp - iat is ACCESS_TOKEN_TTL')
  t.ok(Math.abs((payload.iat ?? 0) - Date.now() / 1000) < 5, 'iat is now')

  const admin = await createUser(app, { role: 'admin' })
  const adminClaims = (await jwtVerify(admin.accessToken, jwks, { issuer: 'http://localhost:3000', audience: 'ecommerce-api', typ: 'at+jwt', algorithms: ['EdDSA'] })).payload
  t.equal(adminClaims.role, 'admin')
  t.not(adminClaims.jti, payload.jti, 'every token has its own jti')

  await t.rejects(jwtVerify(user.accessToken, jwks, { issuer: 'http://localhost:3000', audience: 'another-api', algorithms: ['EdDSA'] }),
    { code: 'ERR_JWT_CLAIM_VALIDATION_FAILED' }, 'control: jose does check the audience')
})

t.test('with a non-default JWT_ISSUER and ACCESS_TOKEN_TTL, tokens carry those values', async (t) => {
  const app = await build(t, { JWT_ISSUER: 'https://shop.example', JWT_AUDIENCE: 'shop-api', ACCESS_TOKEN_TTL: '300' })
  const user = await createUser(app)
  const jwks = createLocalJWKSet(await jwksOf(app))
  const { payload } = await jwtVerify(user.accessToken, jwks, { issuer: 'https://shop.example', audience: 'shop-api', typ: 'at+jwt', algorithms: ['EdDSA'] })
  t.equal((payload.exp ?? 0) - (payload.iat ?? 0), 300)
  await t.rejects(jwtVerify(user.accessToken, jwks, { issuer: 'http://localhost:3000', audience: 'shop-api', algorithms: ['EdDSA'] }),
    { code: 'ERR_JWT_CLAIM_VALIDATION_FAILED' }, 'not a token of the default issuer')
  const login = await app.inject({ method: 'POST', url: '/auth/token', payload: { username: user.email, password: user.password } })
  t.equal(login.json().expires_in, 300, 'expires_in follows ACCESS_TOKEN_TTL')
})

t.test('tokens of another deployment (same key, other issuer or audience) are refused', async (t) => {
  const dir = tempDir(t)
  const keyFile = path.join(dir, 'shared.pem')
  fs.writeFileSync(keyFile, crypto.generateKeyPairSync('ed25519').privateKey.export({ format: 'pem', type: 'pkcs8' }), { mode: 0o600 })
  const dataDir = tempDir(t)
  const ours = await build(t, { JWT_PRIVATE_KEY_FILE: keyFile }, dataDir)
  const user = await createUser(ours)
  const deployments: Array<Record<string, string>> = [{ JWT_ISSUER: 'https://other.example' }, { JWT_AUDIENCE: 'other-api' }]
  for (const env of deployments) {
    // Same database and key: only the issuer or audience differs.
    const other = await build(t, { JWT_PRIVATE_KEY_FILE: keyFile, ...env }, dataDir)
    const theirs = await other.inject({ method: 'POST', url: '/auth/token', payload: { username: user.email, password: user.password } })
    t.equal(theirs.statusCode, 200)
    const token = theirs.json().access_token
    t.equal((await other.inject({ method: 'GET', url: '/users/me', headers: { authorization: `Bearer ${token}` } })).statusCode, 200, 'valid where it was issued')
    const res = await ours.inject({ method: 'GET', url: '/users/me', headers: { authorization: `Bearer ${token}` } })
    t.equal(res.statusCode, 401, `${Object.keys(env)[0]} differs: refused`)
    t.equal(res.headers['www-authenticate'], CHALLENGE)
  }
  t.equal((await user.inject({ method: 'GET', url: '/users/me' })).statusCode, 200, 'our own token still works')
})

t.test('a token already verified (and remembered) still ends at its expiry and still binds its own payload', async (t) => {
  const dataDir = tempDir(t)
  const app = await build(t, {}, dataDir)
  const user = await createUser(app)
  const other = await createUser(app)
  const privateKey = serviceKey(dataDir)
  const { kid } = (await jwksOf(app)).keys[0] as { kid: string }
  const now = Math.floor(Date.now() / 1000)
  const claims = { iss: 'http://localhost:3000', aud: 'ecommerce-api', sub: String(user.id), client_id: 'public', role: 'customer', gen: 0, iat: now, exp: now + 2, jti: crypto.randomUUID() }
  const shortLived = signEdDSA({ alg: 'EdDSA', typ: 'at+jwt', kid }, claims, privateKey)
  const call = (token: string) => app.inject({ method: 'GET', url: '/users/me', headers: { authorization: `Bearer ${token}` } })

  t.equal((await call(shortLived)).statusCode, 200, 'valid at first')
  t.equal((await call(shortLived)).statusCode, 200, 'the repeat (served from memory) too')
  // The remembered token's signature under another user's payload is another token: checked afresh, refused.
  const [head, , signature] = shortLived.split('.') as [string, string, string]
  const swapped = `${head}.${b64({ ...claims, sub: String(other.id) })}.${signature}`
  const res = await call(swapped)
  t.equal(res.statusCode, 401, 'a remembered signature does not vouch for another payload')
  t.same(res.json(), INVALID_TOKEN_BODY)

  await new Promise((resolve) => setTimeout(resolve, (claims.exp * 1000) - Date.now() + 50))
  const expired = await call(shortLived)
  t.equal(expired.statusCode, 401, 'after exp the remembered token is refused')
  t.equal(expired.headers['www-authenticate'], CHALLENGE)
})
