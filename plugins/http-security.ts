import fp from 'fastify-plugin'
import helmet from '@fastify/helmet'
import cors from '@fastify/cors'

export default fp(async function httpSecurity (fastify) {
  await fastify.register(helmet, {
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
  })
  const origins = fastify.config.corsOrigins
  if (origins.length > 0) {
    await fastify.register(cors, { origin: origins, exposedHeaders: ['x-request-id', 'retry-after'], maxAge: 600 })
  }
}, { name: 'http-security' })
