import fs from 'node:fs'
import net from 'node:net'
import path from 'node:path'
import t, { type Test } from 'tap'
import crypto from 'node:crypto'
import { SignJWT } from 'jose'
import { buildResourceService } from '../../examples/resource-service.js'
import { build, createUser, freePort, tempDir } from '../helper.js'
import { generateKeyFile, keysDirectory, signingKeyFromPem } from '../../src/keys.js'

/** Our API, live on a port picked first so JWT_ISSUER can be its real base URL. */
async function liveApi (t: Test) {
  const port = await freePort()
  const issuer = `http://127.0.0.1:${port}`
  const dataDir = tempDir(t)
  const api = await build(t, { JWT_ISSUER: issuer, ACCESS_TOKEN_TTL: '60' }, dataDir)
  await api.listen({ host: '127.0.0.1', port })
  return { api, issuer, dataDir }
}

t.test('another service verifies our tokens through the RFC 8414 metadata and the JWKS', async (t) => {
  const { api, issuer, dataDir } = await liveApi(t)
  const user = await createUser(api, { email: 'resource-user@example.test' })

  const service = await buildResourceService({ issuer, audience: 'ecommerce-api' })
  t.teardown(() => service.close())
  await service.listen({ host: '127.0.0.1', port: 0 })
  const base = `http://127.0.0.1:${(service.server.address() as net.AddressInfo).port}`
  const whoami = (token?: string) => fetch(`${base}/whoami`, { headers: token ? { authorization: `Bearer ${token}` } : {} })

  const ok = await whoami(user.accessToken)
  t.equal(ok.status, 200)
  t.same(await ok.json(), { sub: String(user.id), client_id: 'public' })

  const none = await whoami()
  t.equal(none.status, 401)
  t.equal(none.headers.get('www-authenticate'), 'Bearer')
  t.same(await none.json(), { error: 'unauthorized' })

  const [header, payload, signature] = user.accessToken.split('.') as [string, string, string]
  const forged = Buffer.from(JSON.stringify({ ...JSON.parse(Buffer.from(payload, 'base64url').toString()), sub: '999' })).toString('base64url')
  const tampered = await whoami(`${header}.${forged}.${signature}`)
  t.equal(tampered.status, 401, 'a tampered token is refused')
  t.equal(tampered.headers.get('www-authenticate'), 'Bearer error="invalid_token"')
  t.same(await tampered.json(), { error: 'invalid_token' })

  // Same signing keys, other claims: only the checks tell these apart from ours.
  const wrongAudience = await build(t, { JWT_ISSUER: issuer, JWT_AUDIENCE: 'someone-else' }, dataDir)
  t.equal((await whoami((await createUser(wrongAudience)).accessToken)).status, 401, 'a token for another audience is refused')
  const wrongIssuer = await build(t, { JWT_ISSUER: 'http://impostor.test' }, dataDir)
  t.equal((await whoami((await createUser(wrongIssuer)).accessToken)).status, 401, 'a token from another issuer is refused')

  // Signed with our own key and otherwise valid: only `typ` marks it as no access token.
  const [keyFile] = fs.readdirSync(keysDirectory(dataDir))
  const pem = fs.readFileSync(path.join(keysDirectory(dataDir), keyFile ?? ''), 'utf8')
  const sign = (typ: string) => new SignJWT({ client_id: 'public', role: 'customer' })
    .setProtectedHeader({ alg: 'EdDSA', typ, kid: signingKeyFromPem(pem).kid })
    .setIssuer(issuer).setAudience('ecommerce-api').setSubject(String(user.id)).setJti(crypto.randomUUID()).setIssuedAt().setExpirationTime('1m')
    .sign(crypto.createPrivateKey(pem))
  t.equal((await whoami(await sign('at+jwt'))).status, 200, 'the forger signs like our API')
  t.equal((await whoami(await sign('JWT'))).status, 401, 'a token without typ at+jwt is refused')

  const unsigned = `${Buffer.from(JSON.stringify({ alg: 'none', typ: 'at+jwt' })).toString('base64url')}.${payload}.`
  t.equal((await whoami(unsigned)).status, 401, 'alg none is refused')
})

t.test('the service refuses to start on metadata that names another issuer', async (t) => {
  const { issuer } = await liveApi(t)
  await t.rejects(buildResourceService({ issuer: `${issuer}/`, audience: 'ecommerce-api' }), /metadata names issuer/)
})

t.test('after a key rotation, new tokens verify and tokens of the removed key stop', async (t) => {
  const { api, issuer, dataDir } = await liveApi(t)
  const user = await createUser(api)
  const service = await buildResourceService({ issuer, audience: 'ecommerce-api', keysMaxAgeMs: 100 })
  t.teardown(() => service.close())
  const whoami = (token: string) => service.inject({ method: 'GET', url: '/whoami', headers: { authorization: `Bearer ${token}` } })
  t.equal((await whoami(user.accessToken)).statusCode, 200)

  // Rotate, then let the old key retire (dated back instead of waiting a token lifetime).
  generateKeyFile(dataDir)
  const dir = path.join(dataDir, 'keys')
  const [older, newer] = fs.readdirSync(dir).sort() as [string, string]
  fs.renameSync(path.join(dir, older), path.join(dir, older.replace(/^\d+/, String(Date.now() - 600_000))))
  fs.renameSync(path.join(dir, newer), path.join(dir, newer.replace(/^\d+/, String(Date.now() - 300_000))))
  api.reloadKeys()
  await new Promise((resolve) => setTimeout(resolve, 200))
  t.equal((await whoami(user.accessToken)).statusCode, 401, 'a token of the removed key is refused by the other service')
  const fresh = await createUser(api)
  t.equal((await whoami(fresh.accessToken)).statusCode, 200, 'tokens of the new key work')
})
