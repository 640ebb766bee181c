import fp from 'fastify-plugin'
import { fastifyJwt, type FastifyJWT, type FastifyJWTOptions } from '@fastify/jwt'
import { createVerifier } from 'fast-jwt'
import { LRUCache } from 'lru-cache'
import type { FastifyReply, FastifyRequest, onRequestHookHandler } from 'fastify'
import { errors } from '../src/errors.js'
import { loadKeyRing, type KeyRing, type SigningKey } from '../src/keys.js'
import { ErrorRef } from '../src/schemas.js'
import type { PublicUser } from '../src/store/users.js'

/** Who may call a route. Undeclared means 'user': secure by default. */
export type AuthLevel = 'public' | 'user' | 'admin'

/** The claims of our access tokens (RFC 9068), plus role and the session generation. */
export interface AccessTokenClaims {
  iss: string
  aud: string
  sub: string
  client_id: string
  role: PublicUser['role']
  gen: number
  iat: number
  exp: number
  jti: string
}

declare module 'fastify' {
  interface FastifyContextConfig {
    auth?: AuthLevel
  }
  interface FastifyInstance {
    keyRing: KeyRing
    /** Re-reads the signing keys: a rotated key starts signing, a retired one stops verifying. */
    reloadKeys: () => void
    signAccessToken: (claims: FastifyJWT['payload']) => string
    authenticate: onRequestHookHandler
  }
}

declare module '@fastify/jwt' {
  interface FastifyJWT {
    payload: Omit<AccessTokenClaims, 'iss' | 'aud' | 'iat' | 'exp'>
    user: PublicUser
  }
}

export const OAUTH_SCHEME = 'OAuth2'
const REQUIRED_CLAIMS = ['iss', 'aud', 'sub', 'exp', 'iat', 'jti', 'gen']

export default fp(async function auth (fastify) {
  const { config } = fastify
  let keyRing = loadKeyRing(config)
  if (config.databaseUrl && !config.jwtPrivateKeyFile) {
    fastify.log.warn('DATABASE_URL is set without JWT_PRIVATE_KEY_FILE: this instance signs with the keys in its own DATA_DIR/keys, ' +
      'which instances on other machines do not have; set the same JWT_PRIVATE_KEY_FILE on every instance')
  }
  const startKey = keyRing.active
  const { users } = fastify.repos

  // @fastify/jwt signs. Verifying goes to fast-jwt directly, one verifier per key: the
  // kid picks the verifier, and it accepts only its key's algorithm, so an unknown kid or
  // another alg fails; embedded `jwk`/`jku` headers are never looked at. (Through
  // @fastify/jwt every token was decoded twice and every verification was a promise.)
  const jwtOptions: FastifyJWTOptions = {
    secret: { private: startKey.privatePem, public: startKey.publicPem },
    sign: {
      algorithm: startKey.alg,
      kid: startKey.kid,
      iss: config.jwtIssuer,
      aud: config.jwtAudience,
      expiresIn: config.accessTokenTtl,
      header: { alg: startKey.alg, typ: 'at+jwt' }
    }
  }
  await fastify.register(fastifyJwt, jwtOptions)

  const verifierFor = (key: SigningKey) => createVerifier({
    key: key.publicPem,
    algorithms: [key.alg],
    allowedIss: config.jwtIssuer,
    allowedAud: config.jwtAudience,
    requiredClaims: REQUIRED_CLAIMS,
    checkTyp: 'at+jwt'
  })
  type Verifier = ReturnType<typeof verifierFor>
  let verifiers = new Map<string, Verifier>()
  // A reload keeps the verifier of every key still there, and so the tokens it vouched for.
  const verifiersOf = (ring: KeyRing) => new Map(ring.all.map((key) => [key.kid, verifiers.get(key.kid) ?? verifierFor(key)]))
  verifiers = verifiersOf(keyRing)

  // Tokens verified lately, keyed by the token itself: a client sends the same token
  // until it expires, and a repeat then costs one lookup instead of decoding the header,
  // hashing the token (fast-jwt's own cache key, a third of the request's time) and
  // checking the signature. (fast-jwt can key its cache by the token too, but then warns
  // at every start.) An entry holds only while its key's verifier is still in the ring
  // and the token has not expired. Revocation still holds: authenticate loads the user
  // on every request.
  const verified = new LRUCache<string, { claims: AccessTokenClaims, kid: string, verifier: Verifier }>({ max: 10_000 })

  fastify.decorate('keyRing', { getter: () => keyRing })
  fastify.decorate('reloadKeys', () => {
    keyRing = loadKeyRing(config)
    verifiers = verifiersOf(keyRing)
  })
  // Instances pick up a rotation (and drop retired keys) within half a minute, no restart needed.
  const reloader = setInterval(() => {
    try {
      fastify.reloadKeys()
    } catch (err) {
      fastify.log.error({ err }, 'could not reload signing keys; keeping the current ones')
    }
  }, 30_000).unref()
  fastify.addHook('onClose', async () => clearInterval(reloader))

  fastify.decorate('signAccessToken', (claims: FastifyJWT['payload']) => {
    const { active } = keyRing
    // The key of the start signs through @fastify/jwt's prepared signer; a rotated one by options.
    if (active.kid === startKey.kid) return fastify.jwt.sign(claims)
    return fastify.jwt.sign(claims, { key: active.privatePem, kid: active.kid, algorithm: active.alg, header: { alg: active.alg, typ: 'at+jwt' } })
  })

  /** The claims of a valid access token of ours; undefined for anything else. */
  function verifiedClaims (token: string): AccessTokenClaims | undefined {
    const known = verified.get(token)
    if (known && verifiers.get(known.kid) === known.verifier && known.claims.exp * 1000 > Date.now()) return known.claims
    if (known) verified.delete(token)
    try {
      const header: unknown = JSON.parse(Buffer.from(token.slice(0, token.indexOf('.')), 'base64url').toString())
      const kid = typeof header === 'object' && header !== null && 'kid' in header ? header.kid : undefined
      const verifier = typeof kid === 'string' ? verifiers.get(kid) : undefined
      if (verifier === undefined || typeof kid !== 'string') return undefined
      const claims = verifier(token) as AccessTokenClaims
      verified.set(token, { claims, kid, verifier })
      return claims
    } catch {
      return undefined
    }
  }

  async function authenticate (request: FastifyRequest, _reply: FastifyReply) {
    const authorization = request.headers.authorization ?? ''
    if (!/^Bearer\s/i.test(authorization)) throw new errors.UNAUTHORIZED()
    // Exactly "Bearer <token>", as RFC 6750 writes it; anything else is not a token of ours.
    const match = /^Bearer ([A-Za-z0-9_.~+/=-]+)$/i.exec(authorization)
    const claims = match?.[1] === undefined ? undefined : verifiedClaims(match[1])
    if (!claims) throw new errors.INVALID_TOKEN()
    // The token is only as good as its user today: deleted, disabled or signed out ends it.
    // sub is a string of digits as we issue it (RFC 9068); a number would pass the regex by coercion.
    const user = typeof claims.sub === 'string' && /^[1-9][0-9]{0,14}$/.test(claims.sub) ? await users.findById(Number(claims.sub)) : undefined
    if (!user || user.disabled || user.tokenGeneration !== claims.gen) throw new errors.INVALID_TOKEN()
    request.user = user
  }
  fastify.decorate('authenticate', authenticate)

  async function requireAdmin (request: FastifyRequest) {
    if (request.user.role !== 'admin') throw new errors.FORBIDDEN()
  }

  // One declaration per route drives both the hooks and the OpenAPI `security`,
  // so the lock icons in /docs are exactly the routes that check a token.
  fastify.addHook('onRoute', (route) => {
    const level: AuthLevel = route.config?.auth ?? 'user'
    if (level === 'public') {
      // Explicitly open in the document too: `security: []`.
      if (route.schema) route.schema.security = []
      return
    }
    const guards = level === 'admin' ? [authenticate, requireAdmin] : [authenticate]
    const existing = route.onRequest === undefined ? [] : Array.isArray(route.onRequest) ? route.onRequest : [route.onRequest]
    route.onRequest = [...guards, ...existing]
    if (route.schema) {
      route.schema.security = [{ [OAUTH_SCHEME]: [] }]
      const response = (route.schema.response ?? {}) as Record<string, unknown>
      response['401'] ??= ErrorRef
      if (level === 'admin') response['403'] ??= ErrorRef
      route.schema.response = response
    }
  })
}, { name: 'auth', dependencies: ['db'] })
