// A second service that trusts ecommerce-api's access tokens without calling it
// per request: it discovers the JWKS through the RFC 8414 metadata, caches the
// keys by kid (refetching on an unknown kid), pins the issuer and checks the
// audience, the algorithm and `typ: at+jwt`.
//   ISSUER=http://127.0.0.1:3000 npx tsx examples/resource-service.ts
import Fastify from 'fastify'
import { createRemoteJWKSet, jwtVerify, type JWTPayload } from 'jose'

export interface ResourceServiceOptions {
  issuer: string
  audience: string
  /** How long fetched keys are trusted before the JWKS is read again. */
  keysMaxAgeMs?: number
}

export async function buildResourceService (options: ResourceServiceOptions) {
  const metadataUrl = `${options.issuer.replace(/\/+$/, '')}/.well-known/oauth-authorization-server`
  const metadata = await (await fetch(metadataUrl)).json() as { issuer: string, jwks_uri: string }
  if (metadata.issuer !== options.issuer) throw new Error(`metadata names issuer ${metadata.issuer}, expected ${options.issuer}`)
  const keys = createRemoteJWKSet(new URL(metadata.jwks_uri), { cacheMaxAge: options.keysMaxAgeMs ?? 10 * 60_000, cooldownDuration: 0 })

  const app = Fastify()
  app.decorateRequest('claims', null)
  app.addHook('onRequest', async (request, reply) => {
    const token = /^Bearer ([\w-]+\.[\w-]+\.[\w-]+)$/i.exec(request.headers.authorization ?? '')?.[1]
    try {
      if (!token) throw new Error('no token')
      const { payload } = await jwtVerify(token, keys, {
        issuer: options.issuer, audience: options.audience, typ: 'at+jwt', algorithms: ['EdDSA'], requiredClaims: ['sub', 'exp', 'jti']
      })
      ;(request as unknown as { claims: JWTPayload }).claims = payload
    } catch {
      return reply.code(401).header('www-authenticate', 'Bearer error="invalid_token"').send({ error: 'invalid_token' })
    }
  })
  app.get('/whoami', async (request) => {
    const { sub, client_id: clientId } = (request as unknown as { claims: JWTPayload & { client_id?: string } }).claims
    return { sub, client_id: clientId }
  })
  return app
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const app = await buildResourceService({ issuer: process.env.ISSUER ?? 'http://localhost:3000', audience: process.env.AUDIENCE ?? 'ecommerce-api' })
  console.log(await app.listen({ port: Number(process.env.PORT ?? 4000) }))
}
