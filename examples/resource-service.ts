// A second service that trusts ecommerce-api's access tokens without calling it
// per request: it discovers the JWKS through the RFC 8414 metadata, caches the
// keys by kid (refetching on an unknown kid), pins the issuer and checks the
// audience, the algorithm and `typ: at+jwt`.
//   ISSUER=http://127.0.0.1:3000 npx tsx examples/resource-service.ts
import { pathToFileURL } from 'node:url'
import Fastify, { type FastifyRequest } from 'fastify'
import { createRemoteJWKSet, jwtVerify, type JWTPayload } from 'jose'

export interface ResourceServiceOptions {
  issuer: string
  audience: string
  /** How long fetched keys are trusted before the JWKS is read again. */
  keysMaxAgeMs?: number
  /**
   * The least time between two reads of the JWKS prompted by tokens of unknown
   * kid. Short, because the issuer signs with a new key as soon as it rotates;
   * not zero, or every forged kid would cost a fetch.
   */
  unknownKidCooldownMs?: number
}

type Claims = JWTPayload & { client_id?: string }

export async function buildResourceService (options: ResourceServiceOptions) {
  const metadataUrl = `${options.issuer.replace(/\/+$/, '')}/.well-known/oauth-authorization-server`
  const response = await fetch(metadataUrl)
  if (!response.ok) throw new Error(`${metadataUrl} answered ${response.status}`)
  const metadata = await response.json() as { issuer?: string, jwks_uri?: string }
  // RFC 8414 §3.3: metadata naming another issuer must not be used.
  if (metadata.issuer !== options.issuer) throw new Error(`metadata names issuer ${metadata.issuer}, expected ${options.issuer}`)
  if (!metadata.jwks_uri) throw new Error(`${metadataUrl} has no jwks_uri`)
  const keys = createRemoteJWKSet(new URL(metadata.jwks_uri), {
    cacheMaxAge: options.keysMaxAgeMs ?? 10 * 60_000,
    cooldownDuration: options.unknownKidCooldownMs ?? 5_000
  })

  const claims = new WeakMap<FastifyRequest, Claims>()
  const app = Fastify()
  app.addHook('onRequest', async (request, reply) => {
    const token = /^Bearer ([\w-]+\.[\w-]+\.[\w-]+)$/i.exec(request.headers.authorization ?? '')?.[1]
    try {
      if (!token) throw new Error('no token')
      const { payload } = await jwtVerify<Claims>(token, keys, {
        issuer: options.issuer, audience: options.audience, typ: 'at+jwt', algorithms: ['EdDSA'], requiredClaims: ['sub', 'exp', 'iat', 'jti']
      })
      claims.set(request, payload)
    } catch {
      // RFC 6750 §3.1: an error code only when a token was sent.
      return token
        ? reply.code(401).header('www-authenticate', 'Bearer error="invalid_token"').send({ error: 'invalid_token' })
        : reply.code(401).header('www-authenticate', 'Bearer').send({ error: 'unauthorized' })
    }
  })
  app.get('/whoami', async (request) => {
    const { sub, client_id: clientId } = claims.get(request) ?? {}
    return { sub, client_id: clientId }
  })
  return app
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const app = await buildResourceService({ issuer: process.env.ISSUER ?? 'http://localhost:3000', audience: process.env.AUDIENCE ?? 'ecommerce-api' })
  console.log(await app.listen({ host: process.env.HOST ?? '127.0.0.1', port: Number(process.env.PORT ?? 4000) }))
}
