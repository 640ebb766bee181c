import t from 'tap'
import type { Store } from '../../src/db/index.js'
import { THROTTLE_MS } from '../../src/store/auth.js'
import { eachStore, repositoriesOf } from './stores.js'

async function newUser (store: Store, email = 'ann@example.test') {
  return (await repositoriesOf(store).users.create({ email, passwordHash: 'hash' }))!
}

async function setDisabledOnly (store: Store, userId: number, disabled: boolean) {
  if (store.dialect === 'sqlite') store.db.$client.prepare('UPDATE users SET disabled = ? WHERE id = ?').run(disabled ? 1 : 0, userId)
  else await store.db.$client.query('UPDATE users SET disabled = $1 WHERE id = $2', [disabled, userId])
}

eachStore(t, 'refresh tokens: rotate once, reuse revokes the family', async (t, store) => {
  const { refreshTokens } = repositoriesOf(store)
  const user = await newUser(store)
  const first = await refreshTokens.issue({ userId: user.id, clientId: 'cli', generation: 0, scope: 'account cart', ttlSeconds: 60 })
  t.match(first, /^[A-Za-z0-9_-]{43}$/)
  const second = await refreshTokens.rotate(first, 60)
  t.match(second, { ok: true, userId: user.id, clientId: 'cli', scope: 'account cart', refreshToken: String }, 'the successor keeps the login\'s scope')
  if (!second.ok) return
  t.not(second.refreshToken, first)
  t.same(await refreshTokens.rotate(first, 60), { ok: false, reason: 'reused' }, 'the used token is theft')
  t.same(await refreshTokens.rotate(second.refreshToken, 60), { ok: false, reason: 'revoked' }, 'its successor died with the family')
  t.same(await refreshTokens.rotate('no-such-token', 60), { ok: false, reason: 'unknown' })
})

eachStore(t, 'refresh tokens: two uses at once, one wins and the family is revoked', async (t, store) => {
  const { refreshTokens } = repositoriesOf(store)
  const user = await newUser(store)
  const token = await refreshTokens.issue({ userId: user.id, clientId: 'cli', generation: 0, scope: 'account', ttlSeconds: 60 })
  const results = await Promise.all(Array.from({ length: 6 }, () => refreshTokens.rotate(token, 60)))
  const winners = results.filter((result) => result.ok)
  t.equal(winners.length, 1, 'exactly one rotation succeeds')
  t.ok(results.filter((result) => !result.ok).every((result) => !result.ok && (result.reason === 'reused' || result.reason === 'revoked')))
  const winner = winners[0]
  if (!winner?.ok) throw new Error('no rotation won')
  t.same(await refreshTokens.rotate(winner.refreshToken, 60), { ok: false, reason: 'revoked' }, 'the winner\'s token is revoked too')
})

eachStore(t, 'refresh tokens: an ended session, a disabled or deleted user, an expired token', async (t, store) => {
  const { refreshTokens } = repositoriesOf(store)
  const users = repositoriesOf(store).users
  const user = await newUser(store)
  const issue = (ttlSeconds = 60) => refreshTokens.issue({ userId: user.id, clientId: 'cli', generation: 0, scope: 'account', ttlSeconds })
  t.same(await refreshTokens.rotate(await issue(-1), 60), { ok: false, reason: 'expired' })
  const beforeSignOut = await issue()
  await users.endSessions(user.id)
  t.same(await refreshTokens.rotate(beforeSignOut, 60), { ok: false, reason: 'expired' }, 'generation moved on')
  const afterSignOut = await refreshTokens.issue({ userId: user.id, clientId: 'cli', generation: 1, scope: 'account', ttlSeconds: 60 })
  await users.update(user.id, { disabled: true })
  t.same(await refreshTokens.rotate(afterSignOut, 60), { ok: false, reason: 'expired' }, 'disabled')
  const other = await newUser(store, 'bob@example.test')
  const token = await refreshTokens.issue({ userId: other.id, clientId: 'cli', generation: 0, scope: 'account', ttlSeconds: 60 })
  await users.delete(other.id)
  t.same(await refreshTokens.rotate(token, 60), { ok: false, reason: 'unknown' }, 'deleted with its user')
})

eachStore(t, 'refresh tokens: revoke ends the family; unknown tokens are fine', async (t, store) => {
  const { refreshTokens } = repositoriesOf(store)
  const user = await newUser(store)
  const first = await refreshTokens.issue({ userId: user.id, clientId: 'cli', generation: 0, scope: 'account', ttlSeconds: 60 })
  const rotated = await refreshTokens.rotate(first, 60)
  await refreshTokens.revoke(first)
  await refreshTokens.revoke('never-issued')
  // Asserted, not assumed: a failed rotation would otherwise skip the check below.
  if (!rotated.ok) throw new Error(`the rotation before the revoke failed: ${rotated.reason}`)
  t.same(await refreshTokens.rotate(rotated.refreshToken, 60), { ok: false, reason: 'revoked' }, 'the rotated token died with its family')
})

eachStore(t, 'refresh tokens: inspect tells an active token\'s facts, and nothing of any other', async (t, store) => {
  const { refreshTokens, users } = repositoriesOf(store)
  const user = await newUser(store)
  const before = Math.floor(Date.now() / 1000)
  const token = await refreshTokens.issue({ userId: user.id, clientId: 'cli', generation: 0, scope: 'account orders', ttlSeconds: 60 })
  const facts = await refreshTokens.inspect(token)
  t.same(facts, { userId: user.id, clientId: 'cli', scope: 'account orders', issuedAt: facts?.issuedAt, expiresAt: facts?.expiresAt })
  t.ok(facts && facts.issuedAt >= before && facts.issuedAt <= Math.floor(Date.now() / 1000), 'issuedAt is the row\'s Unix second')
  t.ok(facts && facts.expiresAt >= before + 60 && facts.expiresAt <= facts.issuedAt + 61, 'expiresAt is the row\'s')
  t.same(await refreshTokens.inspect(token), facts, 'inspecting changes nothing')

  const rotated = await refreshTokens.rotate(token, 60)
  if (!rotated.ok) throw new Error(`rotation failed: ${rotated.reason}`)
  t.equal(await refreshTokens.inspect(token), undefined, 'used')
  t.match(await refreshTokens.inspect(rotated.refreshToken), { userId: user.id, scope: 'account orders' }, 'its successor is active')
  await refreshTokens.revoke(rotated.refreshToken)
  t.equal(await refreshTokens.inspect(rotated.refreshToken), undefined, 'revoked')

  t.equal(await refreshTokens.inspect(await refreshTokens.issue({ userId: user.id, clientId: 'cli', generation: 0, scope: null, ttlSeconds: -1 })), undefined, 'expired')
  t.equal(await refreshTokens.inspect('never-issued'), undefined, 'unknown')
  const legacy = await refreshTokens.issue({ userId: user.id, clientId: 'cli', generation: 0, scope: null, ttlSeconds: 60 })
  t.match(await refreshTokens.inspect(legacy), { userId: user.id, scope: null }, 'a row from before v2 keeps its null scope')
  const legacyRotated = await refreshTokens.rotate(legacy, 60)
  t.match(legacyRotated, { ok: true, scope: null }, 'and its successor too')

  await users.endSessions(user.id)
  if (!legacyRotated.ok) return
  t.equal(await refreshTokens.inspect(legacyRotated.refreshToken), undefined, 'the session generation moved on')
  const current = await refreshTokens.issue({ userId: user.id, clientId: 'cli', generation: 1, scope: 'account', ttlSeconds: 60 })
  t.match(await refreshTokens.inspect(current), { userId: user.id }, 'the current generation is active')
  // users.update moves the generation as it disables: the flag alone is set by hand, so
  // that inspect is seen to check it too.
  await setDisabledOnly(store, user.id, true)
  t.equal(await refreshTokens.inspect(current), undefined, 'its user disabled, generation unchanged')
  await setDisabledOnly(store, user.id, false)
  t.match(await refreshTokens.inspect(current), { userId: user.id }, 'enabled again')
  const other = await newUser(store, 'bob@example.test')
  const orphan = await refreshTokens.issue({ userId: other.id, clientId: 'cli', generation: 0, scope: 'account', ttlSeconds: 60 })
  await users.delete(other.id)
  t.equal(await refreshTokens.inspect(orphan), undefined, 'its user deleted')
})

eachStore(t, 'login throttle: locks after the limit, a success clears, the lock runs out', async (t, store) => {
  const throttle = repositoriesOf(store, { loginMaxFailures: 3 }).loginThrottle
  const now = 1_800_000_000_000
  await throttle.recordFailure('Eve@Example.test', now)
  await throttle.recordFailure('eve@example.test', now)
  t.equal(await throttle.retryAfterMs('eve@example.test', now), 0, 'two failures: not yet')
  await throttle.recordFailure('eve@example.test', now)
  t.equal(await throttle.retryAfterMs('EVE@example.test', now), THROTTLE_MS, 'third failure locks for 15 minutes')
  t.equal(await throttle.retryAfterMs('eve@example.test', now + THROTTLE_MS), 0, 'then it runs out')
  await throttle.recordFailure('eve@example.test', now + THROTTLE_MS)
  t.equal(await throttle.retryAfterMs('eve@example.test', now + THROTTLE_MS), 0, 'a run-out lock starts a fresh count')
  await throttle.recordSuccess('eve@example.test')
  await throttle.recordFailure('eve@example.test', now + THROTTLE_MS)
  await throttle.recordFailure('eve@example.test', now + THROTTLE_MS)
  t.equal(await throttle.retryAfterMs('eve@example.test', now + THROTTLE_MS), 0, 'a success cleared the count')
})

eachStore(t, 'login throttle: failures at once all count', async (t, store) => {
  const throttle = repositoriesOf(store, { loginMaxFailures: 10 }).loginThrottle
  const now = 1_800_000_000_000
  await Promise.all(Array.from({ length: 10 }, () => throttle.recordFailure('mallory@example.test', now)))
  t.equal(await throttle.retryAfterMs('mallory@example.test', now), THROTTLE_MS, 'ten concurrent failures reach the limit of ten')
})

eachStore(t, 'password resets: one token, used once, ends sessions; its mail is queued with it', async (t, store) => {
  const { passwordResets } = repositoriesOf(store)
  const users = repositoriesOf(store).users
  const outbox = repositoriesOf(store).outbox
  const user = await newUser(store)
  let token = ''
  t.equal(await passwordResets.request(user, (issued) => { token = issued; return { subject: 'Reset', text: `token ${issued}` } }), true)
  t.equal(await passwordResets.request(undefined, () => ({ subject: 'never', text: 'never' })), false)
  t.equal(await outbox.backlog(), 1, 'one e-mail, for the known user')
  const [mail] = await outbox.claimDue(10, Date.now() + 60_000)
  t.match(mail, { to: user.email, subject: 'Reset', text: `token ${token}` })

  const confirmations = await Promise.all([passwordResets.confirm(token, 'new-hash'), passwordResets.confirm(token, 'other-hash')])
  t.same(confirmations.filter((id) => id !== undefined), [user.id], 'exactly one of two concurrent confirmations wins')
  t.match(await users.findById(user.id), { tokenGeneration: 1 })
  t.ok(['new-hash', 'other-hash'].includes((await users.passwordHashOf(user.id))!))
  t.equal(await passwordResets.confirm(token, 'third'), undefined, 'used')
  t.equal(await passwordResets.confirm('wrong', 'third'), undefined, 'wrong')
})

eachStore(t, 'refresh tokens: each is stamped with its own issue time, not the store\'s start', async (t, store) => {
  const { refreshTokens } = repositoriesOf(store)
  const user = await newUser(store)
  const first = await refreshTokens.issue({ userId: user.id, clientId: 'cli', generation: 0, scope: null, ttlSeconds: 60 })
  // Across a whole-second boundary, so the two issue times must differ in Unix seconds.
  await new Promise((resolve) => setTimeout(resolve, 1100))
  const second = await refreshTokens.issue({ userId: user.id, clientId: 'cli', generation: 0, scope: null, ttlSeconds: 60 })
  const [a, b] = [await refreshTokens.inspect(first), await refreshTokens.inspect(second)]
  t.ok(a && b && b.issuedAt > a.issuedAt, `issued at ${a?.issuedAt}, then ${b?.issuedAt}`)
  t.ok(b && Math.abs(b.issuedAt - Math.floor(Date.now() / 1000)) <= 1, 'the second was issued just now')
})
