import crypto from 'node:crypto'
import fs from 'node:fs'
import path from 'node:path'
import t from 'tap'
import { createLocalJWKSet, jwtVerify } from 'jose'
import { build, createUser, tempDir } from '../helper.js'

const b64 = (value: unknown) => Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)).toString('base64url')

function signEdDSA (header: object, payload: object, key: crypto.KeyObject): string {
  const input = `${b64(header)}.${b64(payload)}`
  return `${input}.${crypto.sign(null, Buffer.from(input), key).toString('base64url')}`
}
function signHS256 (header: object, payload: object, secret: string | Buffer): string {
  const input = `${b64(header)}.${b64(payload)}`
  return `${input}.${crypto.createHmac('sha256', secret).update(input).digest('base64url')}`
}

t.test('forged and broken tokens are all 401 invalid_token; the honest baseline is 200', async (t) => {
  const dataDir = tempDir(t)
  const app = await build(t, {}, dataDir)
  const user = await createUser(app)
  const keyFile = fs.readdirSync(path.join(dataDir, 'keys'))[0] as string
  const privateKey = crypto.createPrivateKey(fs.readFileSync(path.join(dataDir, 'keys', keyFile)))
  const publicPem = crypto.createPublicKey(privateKey).export({ format: 'pem', type: 'spki' }).toString()
  const jwks = (await app.inject({ method: 'GET', url: '/.well-known/jwks.json' })).json()
  const kid: string = jwks.keys[0].kid
  const attacker = crypto.generateKeyPairSync('ed25519')
  const now = Math.floor(Date.now() / 1000)

  const header = { alg: 'EdDSA', typ: 'at+jwt', kid }
  const claims = {
    iss: 'http://localhost:3000', aud: 'ecommerce-api', sub: String(user.id), client_id: 'public',
    role: 'customer', gen: 0, iat: now, exp: now + 600, jti: crypto.randomUUID()
  }
  const without = (name: keyof typeof claims) => Object.fromEntries(Object.entries(claims).filter(([key]) => key !== name))
  const call = (token: string) => app.inject({ method: 'GET', url: '/users/me', headers: { authorization: `Bearer ${token}` } })

  const baseline = await call(signEdDSA(header, claims, privateKey))
  t.equal(baseline.statusCode, 200, 'the same builder with honest claims is accepted')

  const honest = signEdDSA(header, claims, privateKey)
  const [honestHeader, , honestSignature] = honest.split('.')
  const attacks: Record<string, string> = {
    'alg none': `${b64({ alg: 'none', typ: 'at+jwt', kid })}.${b64(claims)}.`,
    'HS256 with the public key PEM as secret': signHS256({ alg: 'HS256', typ: 'at+jwt', kid }, claims, publicPem),
    'HS256 with the JWK x as secret': signHS256({ alg: 'HS256', typ: 'at+jwt', kid }, claims, jwks.keys[0].x),
    'tampered payload (role admin)': `${honestHeader}.${b64({ ...claims, role: 'admin' })}.${honestSignature}`,
    'tampered payload (other sub)': `${honestHeader}.${b64({ ...claims, sub: '999' })}.${honestSignature}`,
    expired: signEdDSA(header, { ...claims, iat: now - 1000, exp: now - 10 }, privateKey),
    'wrong iss': signEdDSA(header, { ...claims, iss: 'https://evil.example' }, privateKey),
    'wrong aud': signEdDSA(header, { ...claims, aud: 'another-api' }, privateKey),
    'typ JWT': signEdDSA({ ...header, typ: 'JWT' }, claims, privateKey),
    'no typ': signEdDSA({ alg: 'EdDSA', kid }, claims, privateKey),
    'unknown kid': signEdDSA({ ...header, kid: 'not-our-key' }, claims, privateKey),
    'no kid': signEdDSA({ alg: 'EdDSA', typ: 'at+jwt' }, claims, privateKey),
    'embedded jwk of the attacker': signEdDSA({ ...header, jwk: attacker.publicKey.export({ format: 'jwk' }) }, claims, attacker.privateKey),
    'attacker key with our kid': signEdDSA(header, claims, attacker.privateKey),
    'truncated signature': honest.slice(0, -10),
    'no signature': honest.split('.').slice(0, 2).join('.') + '.',
    'no jti': signEdDSA(header, without('jti'), privateKey),
    'no gen': signEdDSA(header, without('gen'), privateKey),
    'no exp': signEdDSA(header, without('exp'), privateKey),
    'stale generation': signEdDSA(header, { ...claims, gen: 7 }, privateKey),
    garbage: 'not.a.jwt'
  }
  for (const [name, token] of Object.entries(attacks)) {
    const res = await call(token)
    t.equal(res.statusCode, 401, name)
    t.match(res.headers['www-authenticate'], /^Bearer error="invalid_token"/, `${name}: RFC 6750 challenge`)
    t.equal(res.json().code, 'INVALID_TOKEN', name)
  }

  const none = await app.inject({ method: 'GET', url: '/users/me' })
  t.equal(none.statusCode, 401)
  t.equal(none.headers['www-authenticate'], 'Bearer', 'no token: a bare challenge')
  t.equal((await app.inject({ method: 'GET', url: '/users/me', headers: { authorization: `Basic ${b64('a:b')}` } })).statusCode, 401)
})

t.test('another service verifies our access token with jose and the published JWKS', async (t) => {
  const app = await build(t)
  const user = await createUser(app, { role: 'customer' })
  const jwks = createLocalJWKSet((await app.inject({ method: 'GET', url: '/.well-known/jwks.json' })).json())
  const { payload, protectedHeader } = await jwtVerify(user.accessToken, jwks, {
    issuer: 'http://localhost:3000', audience: 'ecommerce-api', typ: 'at+jwt', algorithms: ['EdDSA']
  })
  t.equal(protectedHeader.typ, 'at+jwt')
  t.ok(protectedHeader.kid)
  t.equal(payload.sub, String(user.id))
  t.equal(payload.client_id, 'public')
  t.equal(payload.role, 'customer')
  t.equal(payload.gen, 0)
  t.match(payload.jti, /^[0-9a-f-]{36}$/)
  t.equal((payload.exp ?? 0) - (payload.iat ?? 0), 900)
})
