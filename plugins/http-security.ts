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
 * They are for the one HTML page we serve, the docs.
 */
export function docsSecurityHeaders (): Record<string, string> {
  const headers: Record<string, string> = {}
  const response = {
    setHeader: (name: string, value: string | number) => { headers[name.toLowerCase()] = String(value) },
    removeHeader: (name: string) => { delete headers[name.toLowerCase()] }
  }
  helmet(HELMET_OPTIONS)({} as IncomingMessage, response as unknown as ServerResponse, () => {})
  return headers
}

/**
 * What a JSON answer needs (OWASP's REST Security Cheat Sheet): nothing in it may load,
 * be framed, be sniffed into another type or be stored by a cache; HTTPS only once seen.
 * helmet's other headers steer how browsers render HTML, which these answers are not,
 * and each header is written and checked by Node on every answer (a tenth of a small one).
 */
export const API_SECURITY_HEADERS: Readonly<Record<string, string>> = {
  'cache-control': 'no-store',
  'content-security-policy': "default-src 'none'; frame-ancestors 'none'",
  'cross-origin-resource-policy': 'same-origin',
  'strict-transport-security': 'max-age=31536000; includeSubDomains',
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY'
}

export default fp(async function httpSecurity (fastify) {
  fastify.addHook('onRequest', async (_request, reply) => { reply.headers(API_SECURITY_HEADERS) })
  const origins = fastify.config.corsOrigins
  if (origins.length > 0) {
    await fastify.register((await import('@fastify/cors')).default, { origin: origins, exposedHeaders: ['x-request-id', 'retry-after'], maxAge: 600 })
  }
}, { name: 'http-security' })
