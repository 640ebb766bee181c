import fp from 'fastify-plugin'
import swagger from '@fastify/swagger'
import swaggerUi from '@fastify/swagger-ui'
import { ErrorSchema } from '../src/schemas.js'
import { OAUTH_SCHEME } from './auth.js'

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
      // No `servers`: the document and Swagger UI work on whatever host and port serve them.
      components: {
        securitySchemes: {
          [OAUTH_SCHEME]: {
            type: 'oauth2',
            description: 'OAuth2 password grant; send the access token as `Authorization: Bearer …`',
            flows: { password: { tokenUrl: '/auth/token', refreshUrl: '/auth/token', scopes: {} } }
          }
        }
      },
      tags: [
        { name: 'auth', description: 'Tokens, keys and password reset' },
        { name: 'users' },
        { name: 'catalogue' },
        { name: 'cart' },
        { name: 'orders' },
        { name: 'health' }
      ]
    },
    // A prefixed plugin's '/' route is served as '/users' and '/users/'; document the first.
    transform: ({ schema, url }) => ({ schema, url: url.length > 1 ? url.replace(/\/$/, '') : url }),
    refResolver: { buildLocalReference: (json, _baseUri, _fragment, i) => String(json.$id ?? `def-${i}`) }
  })
  // The docs are public: they are registered before the auth plugin adds its route guard.
  await fastify.register(swaggerUi, {
    routePrefix: '/docs',
    uiConfig: { deepLinking: true, persistAuthorization: false, tryItOutEnabled: false, validatorUrl: null }
  })
}, { name: 'openapi' })
