import type { IncomingMessage, ServerResponse } from 'node:http'
import fp from 'fastify-plugin'
import helmet, { type HelmetOptions } from 'helmet'

const HELMET_OPTIONS: HelmetOptions = {
  contentSecurityPolicy: {
    directives: {
      // Swagger UI (the only HTML we serve) needs its own scripts and inline styles, nothing remote.
      defaultSrc: ["'self'"],
      scriptSrc: ["'self'"],
      styleSrc: ["'self'", "'unsafe-inline'"],
      imgSrc: ["'self'", 'data:'],
      connectSrc: ["'self'"],
      frameAncestors: ["'none'"],
      // The service is often reached over plain http on localhost; upgrading would break the docs there.
      upgradeInsecureRequests: null
    }
  }
}

/**
 * helmet's headers, worked out once: they depend on nothing in the request, and
 * running helmet per request (as @fastify/helmet does) re-parses the policy every time.
 */
export function securityHeaders (): Record<string, string> {
  const headers: Record<string, string> = {}
  const response = {
    setHeader: (name: string, value: string | number) => { headers[name.toLowerCase()] = String(value) },
    removeHeader: (name: string) => { delete headers[name.toLowerCase()] }
  }
  helmet(HELMET_OPTIONS)({} as IncomingMessage, response as unknown as ServerResponse, () => {})
  return headers
}

export default fp(async function httpSecurity (fastify) {
  const headers = securityHeaders()
  fastify.addHook('onRequest', async (_request, reply) => { reply.headers(headers) })
  const origins = fastify.config.corsOrigins
  if (origins.length > 0) {
    await fastify.register((await import('@fastify/cors')).default, { origin: origins, exposedHeaders: ['x-request-id', 'retry-after'], maxAge: 600 })
  }
}, { name: 'http-security' })
