import crypto from 'node:crypto'
import { STATUS_CODES } from 'node:http'
import Fastify, { type FastifyReply, type FastifyServerOptions, type FastifySchemaCompiler } from 'fastify'
import AjvCompiler, { type BuildCompilerFromPool } from '@fastify/ajv-compiler'
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import type { Config } from './config.js'
import { lazyChildLoggerFactory } from './lazy-logger.js'
import { errors } from './errors.js'
import errorHandler from '../plugins/error-handler.js'
import db from '../plugins/db.js'
import password from '../plugins/password.js'
import adminBootstrap from '../plugins/admin-bootstrap.js'
import openapi from '../plugins/swagger.js'
import auth from '../plugins/auth.js'
import mail from '../plugins/mail.js'
import rateLimits from '../plugins/rate-limit.js'
import httpSecurity, { API_SECURITY_HEADERS } from '../plugins/http-security.js'
import shutdown from '../plugins/shutdown.js'
import metrics from '../plugins/metrics.js'
import productPages from '../plugins/product-pages.js'
import healthRoutes from '../routes/health/index.js'
import authRoutes from '../routes/auth/index.js'
import userRoutes from '../routes/users/index.js'
import catalogueRoutes from '../routes/catalogue/index.js'
import cartRoutes from '../routes/cart/index.js'
import orderRoutes from '../routes/orders/index.js'
import clientRoutes from '../routes/clients/index.js'

declare module 'fastify' {
  interface FastifyInstance {
    config: Config
  }
}

const ajvFactory = AjvCompiler()
// Bodies are typed strictly ("5" is not 5) and unknown fields are errors, not
// silently dropped; path and query strings are text by nature, so they may coerce.
const strictBodies = { coerceTypes: false, removeAdditional: false, useDefaults: true, allErrors: false } as const
const coercingStrings = { ...strictBodies, coerceTypes: true } as const

// At run time Fastify hands the compiler a route definition, which the
// ajv-compiler typings do not describe; hence the casts at this one boundary.
const buildValidatorByPart = ((externalSchemas: Parameters<BuildCompilerFromPool>[0]) => {
  const bodies = ajvFactory(externalSchemas, { customOptions: strictBodies }) as unknown as FastifySchemaCompiler<unknown>
  const strings = ajvFactory(externalSchemas, { customOptions: coercingStrings }) as unknown as FastifySchemaCompiler<unknown>
  const byPart: FastifySchemaCompiler<unknown> = (route) => (route.httpPart === 'body' ? bodies : strings)(route)
  return byPart
}) as unknown as BuildCompilerFromPool

export function loggerOptions (config: Config): FastifyServerOptions['logger'] {
  return {
    level: config.logLevel,
    redact: {
      paths: ['req.headers.authorization', '*.authorization', 'req.headers.cookie', 'res.headers["set-cookie"]',
        '*.password', '*.new_password', '*.current_password', '*.refresh_token', '*.access_token', '*.token', '*.client_secret'],
      censor: '[redacted]'
    }
  }
}

export async function buildApp (config: Config, options: { logger?: FastifyServerOptions['logger'] } = {}) {
  const app = Fastify({
    // The router's own refusals (an undecodable path, a path parameter over 100 characters) run
    // no hook and skip the error handler: answer them here, in the API's shape, with its headers.
    frameworkErrors: (error, request, reply) => {
      const refusal = error.statusCode === 414 ? new errors.URI_TOO_LONG() : new errors.BAD_URL()
      // Fastify types this reply by route generics that no route here has: plain reply methods only.
      ;(reply as unknown as FastifyReply).code(refusal.statusCode).headers(API_SECURITY_HEADERS).header('x-request-id', request.id).send({
        statusCode: refusal.statusCode,
        code: refusal.code,
        error: STATUS_CODES[refusal.statusCode],
        message: refusal.message
      })
    },
    // A caller's logger options (a test's stream, say) refine the service's: they never drop its redaction.
    logger: typeof options.logger === 'object' ? { ...(loggerOptions(config) as object), ...options.logger } : options.logger ?? loggerOptions(config),
    // A hop count is valid at run time; Fastify's typings only omit it.
    trustProxy: config.trustProxy as boolean | string,
    bodyLimit: 64 * 1024,
    // Slow clients may hold a socket only so long: the headers within 10 s (Node's default
    // is 60 s, and it only looks every 30 s, so a byte-a-second client kept it ~60–90 s),
    // the whole request within 30 s; both checked every second.
    requestTimeout: 30_000,
    http: { headersTimeout: 10_000, connectionsCheckingInterval: 1_000 },
    // Longer than the 60 s idle timeout of common load balancers, so they close an idle
    // kept-alive connection first and never send on one this side is closing.
    keepAliveTimeout: 72_000,
    // Requests that arrive while closing are answered by plugins/shutdown.ts in the API's
    // error shape, not with Fastify's own 503 body.
    return503OnClosing: false,
    // A caller's x-request-id (a proxy's, say) is kept so one id follows the request
    // through every log line; otherwise each request gets a fresh UUID.
    requestIdHeader: 'x-request-id',
    genReqId: () => crypto.randomUUID(),
    childLoggerFactory: lazyChildLoggerFactory,
    schemaController: { compilersFactory: { buildValidator: buildValidatorByPart } }
  }).withTypeProvider<TypeBoxTypeProvider>()

  app.decorate('config', config)
  // JSON only (the OAuth endpoints add forms): a text/plain body is 415, not a string for the schema to puzzle over.
  app.removeContentTypeParser('text/plain')
  app.addHook('onRequest', async (request, reply) => {
    reply.header('x-request-id', request.id)
  })

  // Infrastructure, once, on the root.
  await app.register(errorHandler)
  await app.register(shutdown)
  // First, so its hooks time every route; it adds /metrics only when METRICS_ENABLED=true.
  await app.register(metrics)
  await app.register(httpSecurity)
  await app.register(db)
  await app.register(password)
  // Before auth: the docs pages stay public; auth's route guard applies to what follows.
  await app.register(openapi)
  await app.register(auth)
  await app.register(mail)
  await app.register(rateLimits)
  await app.register(productPages)
  await app.register(adminBootstrap)

  // Concerns, each encapsulated.
  await app.register(healthRoutes, { prefix: '/health' })
  await app.register(authRoutes)
  await app.register(userRoutes, { prefix: '/users' })
  await app.register(catalogueRoutes)
  await app.register(cartRoutes, { prefix: '/cart' })
  await app.register(orderRoutes, { prefix: '/orders' })
  await app.register(clientRoutes, { prefix: '/clients' })

  return app
}

export type App = Awaited<ReturnType<typeof buildApp>>
