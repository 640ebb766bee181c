import t from 'tap'
import type { Store } from '../../src/db/index.js'
import { secretMatches } from '../../src/store/clients.js'
import { eachStore, repositoriesOf } from './stores.js'

/** The row as stored, secret hash and scopes column included, whatever the dialect. */
async function storedRow (store: Store, clientId: string) {
  const sql = 'SELECT scopes, secret_hash FROM clients WHERE client_id = '
  if (store.dialect === 'sqlite') return store.db.$client.prepare<[string], { scopes: string, secret_hash: string }>(`${sql}?`).get(clientId)
  return (await store.db.$client.query<{ scopes: string, secret_hash: string }>(`${sql}$1`, [clientId])).rows[0]
}

eachStore(t, 'clients: create makes an id and a secret, and stores only its hash', async (t, store) => {
  const { clients } = repositoriesOf(store)
  const { client, secret } = await clients.create({ name: 'Warehouse', scopes: ['users:read', 'catalogue:write', 'orders:read'] })
  t.match(client.clientId, /^svc_[0-9a-f]{20}$/)
  t.match(secret, /^sk_[A-Za-z0-9_-]{43,}$/, '256 bits, base64url')
  t.same(client, {
    id: client.id,
    clientId: client.clientId,
    name: 'Warehouse',
    scopes: ['catalogue:write', 'orders:read', 'users:read'],
    disabled: false,
    tokenGeneration: 0,
    createdAt: client.createdAt
  }, 'scopes come back in the table\'s order')
  t.type(client.id, 'number')
  t.ok(!Number.isNaN(Date.parse(client.createdAt)), 'createdAt is an ISO timestamp')

  const stored = await storedRow(store, client.clientId)
  t.equal(stored?.scopes, 'catalogue:write orders:read users:read', 'stored space-separated, in the table\'s order')
  t.not(stored?.secret_hash, secret, 'the secret is not stored in plain')
  t.notMatch(stored?.secret_hash ?? '', secret)

  const withHash = await clients.findWithSecretHash(client.clientId)
  t.same(withHash, { ...client, secretHash: stored?.secret_hash })
  t.equal(secretMatches(secret, withHash!.secretHash), true, 'the secret matches its hash')
  t.equal(secretMatches(`${secret}x`, withHash!.secretHash), false, 'another does not')
  t.equal(secretMatches('', withHash!.secretHash), false)

  const other = await clients.create({ name: 'Billing', scopes: [] })
  t.not(other.client.clientId, client.clientId)
  t.not(other.secret, secret)
  t.same(other.client.scopes, [], 'no scopes at all is a client too')
})

eachStore(t, 'clients: findById reads exactly the client', async (t, store) => {
  const { clients } = repositoriesOf(store)
  const { client } = await clients.create({ name: 'Search', scopes: ['orders:read'] })
  const found = await clients.findById(client.clientId)
  t.same(found, client)
  t.strictSame(Object.keys(found ?? {}).sort(), ['clientId', 'createdAt', 'disabled', 'id', 'name', 'scopes', 'tokenGeneration'], 'no secret hash, nothing more')
  t.type(found?.id, 'number')
  t.type(found?.disabled, 'boolean')
  t.equal(await clients.findById('svc_00000000000000000000'), undefined)
  t.equal(await clients.findWithSecretHash('svc_00000000000000000000'), undefined)
})

eachStore(t, 'clients: list pages by internal id', async (t, store) => {
  const { clients } = repositoriesOf(store)
  const created = []
  for (let i = 0; i < 5; i++) created.push((await clients.create({ name: `Client ${i}`, scopes: ['users:read'] })).client)
  t.same(await clients.list({ limit: 2 }), created.slice(0, 2))
  t.same((await clients.list({ afterId: created[1]!.id, limit: 10 })).map((client) => client.id), created.slice(2).map((client) => client.id))
  t.same((await clients.list({ afterId: created[3]!.id, limit: 10 })).map((client) => client.clientId), [created[4]!.clientId])
  t.same(await clients.list({ afterId: created[4]!.id, limit: 10 }), [])
})

eachStore(t, 'clients: update; only a change of disabled moves the generation', async (t, store) => {
  const { clients } = repositoriesOf(store)
  const { client } = await clients.create({ name: 'Feed', scopes: ['orders:read'] })
  t.same(await clients.update(client.clientId, { name: 'Feed v2' }), { ...client, name: 'Feed v2' })
  t.match(await clients.update(client.clientId, { scopes: ['users:write', 'orders:write'] }), { scopes: ['orders:write', 'users:write'], tokenGeneration: 0 }, 'scopes: no bump, stored in order')
  t.equal((await storedRow(store, client.clientId))?.scopes, 'orders:write users:write')
  t.match(await clients.update(client.clientId, { disabled: true }), { disabled: true, tokenGeneration: 1 })
  t.match(await clients.update(client.clientId, { disabled: true }), { disabled: true, tokenGeneration: 1 }, 'already disabled: no bump')
  t.match(await clients.update(client.clientId, { disabled: false, name: 'Feed v3' }), { disabled: false, name: 'Feed v3', tokenGeneration: 2 })
  t.same(await clients.update(client.clientId, {}), await clients.findById(client.clientId), 'no change reads the client')
  t.match(await clients.update(client.clientId, { name: undefined }), { name: 'Feed v3', tokenGeneration: 2 }, 'undefined is no change')
  t.equal(await clients.update('svc_00000000000000000000', { name: 'x' }), undefined)
  t.equal(await clients.update('svc_00000000000000000000', {}), undefined)
})

eachStore(t, 'clients: rotateSecret replaces the secret and ends the tokens', async (t, store) => {
  const { clients } = repositoriesOf(store)
  const { client, secret } = await clients.create({ name: 'Mailer', scopes: ['users:read'] })
  const rotated = await clients.rotateSecret(client.clientId)
  t.match(rotated, /^sk_[A-Za-z0-9_-]{43,}$/)
  t.not(rotated, secret)
  const after = await clients.findWithSecretHash(client.clientId)
  t.equal(secretMatches(secret, after!.secretHash), false, 'the old secret no longer matches')
  t.equal(secretMatches(rotated!, after!.secretHash), true, 'the new one does')
  t.equal(after?.tokenGeneration, 1, 'the generation moved')
  t.same({ ...after, secretHash: undefined, tokenGeneration: 0 }, { ...client, secretHash: undefined }, 'nothing else changed')
  t.equal(await clients.rotateSecret('svc_00000000000000000000'), undefined)
})

eachStore(t, 'clients: delete', async (t, store) => {
  const { clients } = repositoriesOf(store)
  const { client } = await clients.create({ name: 'Gone', scopes: [] })
  const { client: kept } = await clients.create({ name: 'Kept', scopes: [] })
  t.equal(await clients.delete(client.clientId), true)
  t.equal(await clients.delete(client.clientId), false)
  t.equal(await clients.findById(client.clientId), undefined)
  t.equal(await clients.rotateSecret(client.clientId), undefined)
  t.same(await clients.findById(kept.clientId), kept, 'the other client stays')
})
