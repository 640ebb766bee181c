import crypto from 'node:crypto'
import fp from 'fastify-plugin'
import argon2, { type HashOptions } from 'argon2'
import pLimit from 'p-limit'
import { errors } from '../src/errors.js'
import { deprioritiseHelperThreads } from '../src/thread-priority.js'

export interface PasswordCheck {
  ok: boolean
  /** The hash was made with other parameters than today's: store a fresh one. */
  needsRehash: boolean
}

export interface Passwords {
  hash: (password: string) => Promise<string>
  /** With no stored hash (unknown user) verifies against a dummy, so time and answer match. */
  verify: (storedHash: string | null, password: string) => Promise<PasswordCheck>
}

declare module 'fastify' {
  interface FastifyInstance {
    passwords: Passwords
  }
}

export default fp(async function password (fastify) {
  const options: HashOptions = { type: argon2.argon2id, ...fastify.config.argon2 }
  // Each argon2 call holds memoryCost KiB on libuv's pool; bounding them bounds memory.
  const pool = pLimit(fastify.config.hashConcurrency)
  // A login storm waits in a short queue; past it, 503 + Retry-After rather than unbounded memory.
  const limit = <T>(work: () => Promise<T>): Promise<T> => {
    if (pool.pendingCount >= fastify.config.hashQueueLimit) {
      return Promise.reject(new errors.SERVICE_UNAVAILABLE('Too many password checks at once; retry shortly'))
    }
    return pool(work)
  }
  const hash = (plain: string) => limit(() => argon2.hash(plain, options))
  // Made in the background, so the start does not wait on it; the first unknown e-mail does.
  const dummyHash = hash(crypto.randomBytes(32).toString('base64url'))
  // Once it is made, libuv's pool (started by it at the latest) has its threads.
  dummyHash.then(() => {
    fastify.log.debug({ threads: deprioritiseHelperThreads() }, 'hashing threads run at a lower priority than the event loop')
  }, (err: unknown) => fastify.log.error({ err }, 'could not make the dummy password hash'))

  fastify.decorate('passwords', {
    hash,
    async verify (storedHash, plain) {
      const ok = await limit(async () => argon2.verify(storedHash ?? await dummyHash, plain))
      return { ok: ok && storedHash !== null, needsRehash: ok && storedHash !== null && argon2.needsRehash(storedHash, options) }
    }
  } satisfies Passwords)
}, { name: 'password' })
