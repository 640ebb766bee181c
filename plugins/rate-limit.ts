import fp from 'fastify-plugin'
import rateLimit, { type RateLimitOptions } from '@fastify/rate-limit'
import { tooManyRequests } from '../src/errors.js'

declare module 'fastify' {
  interface FastifyInstance {
    /** Per-address limit for the credential endpoints: `config: { rateLimit: fastify.credentialRateLimit }`. */
    credentialRateLimit: RateLimitOptions
  }
}

export default fp(async function rateLimits (fastify) {
  const { redisUrl } = fastify.config
  // With REDIS_URL every instance counts into the same buckets; without it each counts alone.
  // ioredis loads only when REDIS_URL asks for it.
  const redis = redisUrl
    ? new (await import('ioredis')).Redis(redisUrl, {
      // A slow or absent Redis must not hold logins up (see skipOnError). connectTimeout
      // alone did not: while reconnecting, ioredis queued each command until Redis came
      // back or its retries ran out (logins took 5–10 s). Now a command fails at once when
      // there is no connection, and after 250 ms on one that stopped answering.
      connectTimeout: 500,
      commandTimeout: 250,
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      lazyConnect: true
    })
    : undefined
  if (redis) {
    // Connection trouble is logged (without the URL, which may hold a password); ioredis reconnects.
    redis.on('error', (err: Error) => fastify.log.warn({ err: { message: err.message } }, 'redis: rate-limit store unavailable'))
    // A Redis that is down at start is no reason not to start: ioredis keeps reconnecting,
    // and the limit applies again once it is back.
    await redis.connect().catch(() => {})
    fastify.addHook('onClose', async () => {
      // quit() is a command too: without a connection it would fail, so just let go.
      if (redis.status === 'ready') await redis.quit().catch(() => redis.disconnect())
      else redis.disconnect()
    })
  }
  await fastify.register(rateLimit, {
    // Only the routes that opt in are limited; reads stay unthrottled.
    global: false,
    redis,
    nameSpace: 'ecommerce-api:rate-limit:',
    // Should Redis fail mid-run, logins go on without the per-address limit rather than
    // all failing; the per-account lockout in the database still holds.
    skipOnError: true,
    // request.ip honours X-Forwarded-For only when TRUST_PROXY says so.
    keyGenerator: (request) => request.ip,
    errorResponseBuilder: (_request, context) => tooManyRequests(Math.ceil(context.ttl / 1000))
  })
  fastify.decorate('credentialRateLimit', { max: fastify.config.loginRateLimit, timeWindow: 60_000 })
}, { name: 'rate-limit' })
