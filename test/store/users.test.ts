import t from 'tap'
import { eachStore, repositoriesOf } from './stores.js'

const HASH = '$argon2id$v=19$m=1024,t=1,p=1$c29tZXNhbHQ$aGFzaA'

eachStore(t, 'users: create, find, e-mail unique case-insensitively', async (t, store) => {
  const users = repositoriesOf(store).users
  const ann = await users.create({ email: '  Ann@Example.TEST ', passwordHash: HASH, fullName: 'Ann' })
  t.match(ann, { id: Number, email: 'ann@example.test', fullName: 'Ann', role: 'customer', disabled: false, tokenGeneration: 0, createdAt: String })
  t.equal(await users.create({ email: 'ANN@example.test', passwordHash: HASH }), undefined, 'the same e-mail in other case is taken')
  t.same(await users.findById(ann!.id), ann)
  t.same(await users.findWithCredentials('ann@EXAMPLE.test'), { ...ann, passwordHash: HASH })
  t.equal(await users.passwordHashOf(ann!.id), HASH)
  t.equal(await users.findById(999_999_999_999_999), undefined, 'a 15-digit id is simply not found')
  t.equal(await users.findWithCredentials('nobody@example.test'), undefined)
})

eachStore(t, 'users: list pages by id and filters by e-mail', async (t, store) => {
  const users = repositoriesOf(store).users
  const created = []
  for (let i = 0; i < 5; i++) created.push((await users.create({ email: `u${i}@example.test`, passwordHash: HASH }))!)
  t.same((await users.list({ limit: 2 })).map((user) => user.id), created.slice(0, 2).map((user) => user.id))
  t.same((await users.list({ afterId: created[1]!.id, limit: 10 })).map((user) => user.id), created.slice(2).map((user) => user.id))
  t.same((await users.list({ email: 'U3@example.test', limit: 10 })).map((user) => user.email), ['u3@example.test'])
})

eachStore(t, 'users: disabling ends sessions once; other changes do not', async (t, store) => {
  const users = repositoriesOf(store).users
  const user = (await users.create({ email: 'bob@example.test', passwordHash: HASH }))!
  t.match(await users.update(user.id, { fullName: 'Bob' }), { fullName: 'Bob', tokenGeneration: 0 })
  t.match(await users.update(user.id, { disabled: true }), { disabled: true, tokenGeneration: 1 })
  t.match(await users.update(user.id, { disabled: true }), { disabled: true, tokenGeneration: 1 }, 'already disabled: no bump')
  t.match(await users.update(user.id, { disabled: false, role: 'admin' }), { disabled: false, role: 'admin', tokenGeneration: 2 })
  t.match(await users.update(user.id, {}), { tokenGeneration: 2 }, 'no change reads the user')
  t.equal(await users.update(987_654_321_012, { fullName: 'x' }), undefined)

  await users.setPasswordHash(user.id, 'other-hash', { endSessions: false })
  t.match(await users.findById(user.id), { tokenGeneration: 2 })
  await users.setPasswordHash(user.id, 'third-hash', { endSessions: true })
  t.match(await users.findById(user.id), { tokenGeneration: 3 })
  t.equal(await users.passwordHashOf(user.id), 'third-hash')
  await users.endSessions(user.id)
  t.match(await users.findById(user.id), { tokenGeneration: 4 })
})

eachStore(t, 'users: concurrent sign-outs each count', async (t, store) => {
  const users = repositoriesOf(store).users
  const user = (await users.create({ email: 'carol@example.test', passwordHash: HASH }))!
  await Promise.all(Array.from({ length: 20 }, () => users.endSessions(user.id)))
  t.equal((await users.findById(user.id))!.tokenGeneration, 20)
})

eachStore(t, 'users: delete and promote', async (t, store) => {
  const users = repositoriesOf(store).users
  const user = (await users.create({ email: 'dan@example.test', passwordHash: HASH }))!
  t.match(await users.promoteToAdmin('DAN@example.test'), { id: user.id, role: 'admin' })
  t.equal(await users.promoteToAdmin('nobody@example.test'), undefined)
  t.equal(await users.delete(user.id), true)
  t.equal(await users.delete(user.id), false)
  t.equal(await users.findById(user.id), undefined)
})

eachStore(t, 'users: two registrations of one e-mail at once make one user', async (t, store) => {
  const users = repositoriesOf(store).users
  const results = await Promise.all(Array.from({ length: 8 }, () => users.create({ email: 'race@example.test', passwordHash: HASH })))
  t.equal(results.filter(Boolean).length, 1)
  t.equal((await users.list({ email: 'race@example.test', limit: 10 })).length, 1)
})
