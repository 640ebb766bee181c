import fs from 'node:fs'
import net from 'node:net'
import path from 'node:path'
import t from 'tap'
import { runClient } from '../../examples/client.js'
import { buildResourceService } from '../../examples/resource-service.js'
import { build, createUser, tempDir } from '../helper.js'
import { insertProduct } from '../commerce-fixtures.js'
import { generateKeyFile } from '../../src/keys.js'

async function freePort (): Promise<number> {
  const server = net.createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as net.AddressInfo
  await new Promise((resolve) => server.close(resolve))
  return port
}

t.test('the typed example client logs in, refreshes on 401 and places an order against a live server', async (t) => {
  // Two seconds: whole-second JWT times leave a fresh token at least one second to live.
  const app = await build(t, { ACCESS_TOKEN_TTL: '2' })
  const user = await createUser(app)
  const product = insertProduct(app, { name: 'Example mug', priceCents: 1500, stock: 5 })
  const baseUrl = await app.listen({ host: '127.0.0.1', port: 0 })
  const lines: string[] = []
  const client = await runClient({ baseUrl, email: user.email, password: user.password, productId: product.id, log: (line) => lines.push(line) })
  t.equal(client.me.id, user.id)

  // Outlive the access token, so the next call must refresh.
  await new Promise((resolve) => setTimeout(resolve, 3100))
  const order = await client.order()
  t.ok(client.session.refreshes >= 1, 'the client refreshed its token after a 401')
  t.match(order, { user_id: user.id, status: 'placed', total_cents: 1500, items: [{ product_id: product.id, quantity: 1, name: 'Example mug' }] })
  t.same(lines.slice(0, 2), ['logged in', `hello ${user.email}`])
  t.ok(lines.includes('access token refreshed'))
})

t.test('another service verifies our tokens through the metadata and JWKS, and stops after the key is rotated out', async (t) => {
  const port = await freePort()
  const issuer = `http://127.0.0.1:${port}`
  const dataDir = tempDir(t)
  const api = await build(t, { JWT_ISSUER: issuer, ACCESS_TOKEN_TTL: '60' }, dataDir)
  await api.listen({ host: '127.0.0.1', port })
  const user = await createUser(api, { email: 'resource-user@example.test' })

  const service = await buildResourceService({ issuer, audience: 'ecommerce-api', keysMaxAgeMs: 100 })
  t.teardown(() => service.close())
  const whoami = (token?: string) => service.inject({ method: 'GET', url: '/whoami', headers: token ? { authorization: `Bearer ${token}` } : {} })

  const ok = await whoami(user.accessToken)
  t.equal(ok.statusCode, 200)
  t.same(ok.json(), { sub: String(user.id), client_id: 'public' })
  t.equal((await whoami()).statusCode, 401)
  const [header, payload, signature] = user.accessToken.split('.') as [string, string, string]
  const forged = Buffer.from(JSON.stringify({ ...JSON.parse(Buffer.from(payload, 'base64url').toString()), sub: '999' })).toString('base64url')
  t.equal((await whoami(`${header}.${forged}.${signature}`)).statusCode, 401, 'a tampered token is refused')

  const wrongAudience = await build(t, { JWT_ISSUER: issuer, JWT_AUDIENCE: 'someone-else' }, dataDir)
  const stranger = await createUser(wrongAudience)
  t.equal((await whoami(stranger.accessToken)).statusCode, 401, 'a token for another audience is refused')

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
