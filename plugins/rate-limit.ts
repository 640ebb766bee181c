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
  await fastify.register(rateLimit, {
    // Only the routes that opt in are limited; reads stay unthrottled.
    global: false,
    // request.ip honours X-Forwarded-For only when TRUST_PROXY says so.
    keyGenerator: (request) => request.ip,
    errorResponseBuilder: (_request, context) => tooManyRequests(Math.ceil(context.ttl / 1000))
  })
  fastify.decorate('credentialRateLimit', { max: fastify.config.loginRateLimit, timeWindow: 60_000 })
}, { name: 'rate-limit' })
