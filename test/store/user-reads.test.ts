// findById is what every authenticated request does. On PostgreSQL the reads of one loop
// turn go out as one statement; each caller must still get its own user (or none), and a
// read asked for after a change committed must see it, however many reads are in flight.
import t from 'tap'
import { eachStore, repositoriesOf } from './stores.js'

eachStore(t, 'many reads at once: each gets its own row, duplicates and unknown ids included', async (t, store) => {
  const users = repositoriesOf(store).users
  const created = []
  for (let i = 0; i < 30; i++) created.push((await users.create({ email: `reader-${i}@example.test`, passwordHash: 'hash', fullName: i % 2 ? `Reader ${i}` : undefined }))!)
  const asked = [...created.map((user) => user.id), ...created.slice(0, 10).map((user) => user.id), 999_999_999_999_999, 999_999_999_999_998]
  const found = await Promise.all(Array.from({ length: 400 }, (_, i) => users.findById(asked[i % asked.length]!)))
  for (let i = 0; i < found.length; i++) {
    const id = asked[i % asked.length]!
    const expected = created.find((user) => user.id === id)
    if (expected) t.same(found[i], expected, `read ${i}`)
    else t.equal(found[i], undefined, `read ${i}: no such user`)
  }
})

eachStore(t, 'a read asked for after a sign-out committed sees it, with reads in flight', async (t, store) => {
  const users = repositoriesOf(store).users
  const user = (await users.create({ email: 'revoked@example.test', passwordHash: 'hash' }))!
  for (let round = 0; round < 20; round++) {
    // Reads in flight (some of them batched) while the session generation moves on.
    const before = Array.from({ length: 20 }, () => users.findById(user.id))
    await users.endSessions(user.id)
    const after = await Promise.all(Array.from({ length: 20 }, () => users.findById(user.id)))
    await Promise.all(before)
    t.ok(after.every((row) => row?.tokenGeneration === round + 1), `round ${round}: every later read sees generation ${round + 1}`)
  }
  await users.update(user.id, { disabled: true })
  t.equal((await users.findById(user.id))?.disabled, true)
  t.equal(await users.delete(user.id), true)
  t.equal(await users.findById(user.id), undefined, 'a deleted user is gone for the next read')
})
