import t from 'tap'
import type { Store } from '../../src/db/index.js'
import { THROTTLE_MS } from '../../src/store/auth.js'
import { eachStore, repositoriesOf } from './stores.js'

async function newUser (store: Store, email = 'ann@example.test') {
  return (await repositoriesOf(store).users.create({ email, passwordHash: 'hash' }))!
}

eachStore(t, 'refresh tokens: rotate once, reuse revokes the family', async (t, store) => {
  const { refreshTokens } = repositoriesOf(store)
  const user = await newUser(store)
  const first = await refreshTokens.issue({ userId: user.id, clientId: 'cli', generation: 0, ttlSeconds: 60 })
  t.match(first, /^[A-Za-z0-9_-]{43}$/)
  const second = await refreshTokens.rotate(first, 60)
  t.match(second, { ok: true, userId: user.id, clientId: 'cli', refreshToken: String })
  if (!second.ok) return
  t.not(second.refreshToken, first)
  t.same(await refreshTokens.rotate(first, 60), { ok: false, reason: 'reused' }, 'the used token is theft')
  t.same(await refreshTokens.rotate(second.refreshToken, 60), { ok: false, reason: 'revoked' }, 'its successor died with the family')
  t.same(await refreshTokens.rotate('no-such-token', 60), { ok: false, reason: 'unknown' })
})

eachStore(t, 'refresh tokens: two uses at once, one wins and the family is revoked', async (t, store) => {
  const { refreshTokens } = repositoriesOf(store)
  const user = await newUser(store)
  const token = await refreshTokens.issue({ userId: user.id, clientId: 'cli', generation: 0, ttlSeconds: 60 })
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
  const issue = (ttlSeconds = 60) => refreshTokens.issue({ userId: user.id, clientId: 'cli', generation: 0, ttlSeconds })
  t.same(await refreshTokens.rotate(await issue(-1), 60), { ok: false, reason: 'expired' })
  const beforeSignOut = await issue()
  await users.endSessions(user.id)
  t.same(await refreshTokens.rotate(beforeSignOut, 60), { ok: false, reason: 'expired' }, 'generation moved on')
  const afterSignOut = await refreshTokens.issue({ userId: user.id, clientId: 'cli', generation: 1, ttlSeconds: 60 })
  await users.update(user.id, { disabled: true })
  t.same(await refreshTokens.rotate(afterSignOut, 60), { ok: false, reason: 'expired' }, 'disabled')
  const other = await newUser(store, 'bob@example.test')
  const token = await refreshTokens.issue({ userId: other.id, clientId: 'cli', generation: 0, ttlSeconds: 60 })
  await users.delete(other.id)
  t.same(await refreshTokens.rotate(token, 60), { ok: false, reason: 'unknown' }, 'deleted with its user')
})

eachStore(t, 'refresh tokens: revoke ends the family; unknown tokens are fine', async (t, store) => {
  const { refreshTokens } = repositoriesOf(store)
  const user = await newUser(store)
  const first = await refreshTokens.issue({ userId: user.id, clientId: 'cli', generation: 0, ttlSeconds: 60 })
  const rotated = await refreshTokens.rotate(first, 60)
  await refreshTokens.revoke(first)
  await refreshTokens.revoke('never-issued')
  // Asserted, not assumed: a failed rotation would otherwise skip the check below.
  if (!rotated.ok) throw new Error(`the rotation before the revoke failed: ${rotated.reason}`)
  t.same(await refreshTokens.rotate(rotated.refreshToken, 60), { ok: false, reason: 'revoked' }, 'the rotated token died with its family')
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
