import fp from 'fastify-plugin'
import swagger from '@fastify/swagger'
import swaggerUi from '@fastify/swagger-ui'
import { ErrorSchema } from '../src/schemas.js'
import { OAUTH_SCHEME } from './auth.js'
import { SCOPES } from '../src/scopes.js'
import { docsSecurityHeaders } from './http-security.js'

/** GET /users/{id} → getUsersById; POST /orders/{id}/cancel → postOrdersByIdCancel. */
export function operationIdOf (method: string, path: string): string {
  // Fastify's patterns say :id where the document will say {id}.
  const words = path.split(/[^A-Za-z0-9:_]+/).filter(Boolean)
    .map((word) => word.startsWith(':') ? `By_${word.slice(1)}` : word)
    .flatMap((word) => word.split('_'))
  return method + words.map((word) => word.charAt(0).toUpperCase() + word.slice(1)).join('')
}

export default fp(async function openapi (fastify) {
  fastify.addSchema(ErrorSchema)
  await fastify.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'ecommerce-api',
        version: '1.0.0',
        description: 'Users, catalogue, cart and orders behind OAuth2 Bearer JWTs. ' +
          'Authorize with your e-mail as username; money is in integer minor units.'
      },
      // Relative: the document and Swagger UI work on whatever host and port serve them.
      servers: [{ url: '/', description: 'The host that serves this document' }],
      components: {
        securitySchemes: {
          [OAUTH_SCHEME]: {
            type: 'oauth2',
            description: 'OAuth2: people log in with the password flow (e-mail as username), service clients with ' +
              'client credentials; send the access token as `Authorization: Bearer …`. Each operation names the scopes that allow it.',
            flows: {
              password: { tokenUrl: '/auth/token', refreshUrl: '/auth/token', scopes: { ...SCOPES } },
              clientCredentials: { tokenUrl: '/auth/token', scopes: { ...SCOPES } }
            }
          }
        }
      },
      tags: [
        { name: 'auth', description: 'Tokens, keys and password reset' },
        { name: 'users', description: 'Registration, your account, and user administration' },
        { name: 'catalogue', description: 'Categories and products: public reads, admin writes' },
        { name: 'cart', description: 'Your cart, at current prices' },
        { name: 'orders', description: 'Checkout and order history' },
        { name: 'clients', description: 'Service clients: other services with tokens of their own' },
        { name: 'health', description: 'Liveness and readiness probes' }
      ]
    },
    // A prefixed plugin's '/' route is served as '/users' and '/users/'; document the first.
    // Every operation gets a stable operationId from its method and path, for client generators.
    transform: ({ schema, url, route }) => {
      const path = url.length > 1 ? url.replace(/\/$/, '') : url
      const method = String(Array.isArray(route.method) ? route.method[0] : route.method).toLowerCase()
      return { schema: schema && { operationId: operationIdOf(method, path), ...schema, ...optionalDefaults(schema.querystring) }, url: path }
    },
    refResolver: { buildLocalReference: (json, _baseUri, _fragment, i) => String(json.$id ?? `def-${i}`) }
  })
  // The docs are public: they are registered before the auth plugin adds its route guard.
  // Their page is HTML: helmet's full set, with a policy that lets Swagger UI run.
  const docsHeaders = docsSecurityHeaders()
  await fastify.register(swaggerUi, {
    routePrefix: '/docs',
    uiHooks: { onRequest: (_request, reply, done) => { reply.headers(docsHeaders); done() } },
    uiConfig: { deepLinking: true, persistAuthorization: false, tryItOutEnabled: false, validatorUrl: null }
  })
}, { name: 'openapi' })

// ajv fills in a query parameter's default, so the handler may rely on it, but a
// client need not send it: document such a parameter as optional.
function optionalDefaults (querystring: unknown) {
  const query = querystring as { properties?: Record<string, { default?: unknown }>, required?: string[] } | undefined
  if (!query?.required) return {}
  return { querystring: { ...query, required: query.required.filter((name) => query.properties?.[name]?.default === undefined) } }
}
