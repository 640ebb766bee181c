import fp from 'fastify-plugin'
import { fastifyJwt, type FastifyJWT, type FastifyJWTOptions } from '@fastify/jwt'
import { createVerifier } from 'fast-jwt'
import { LRUCache } from 'lru-cache'
import type { FastifyReply, FastifyRequest, onRequestHookHandler } from 'fastify'
import { errors, insufficientScope } from '../src/errors.js'
import { loadKeyRing, type KeyRing, type SigningKey } from '../src/keys.js'
import { ErrorRef } from '../src/schemas.js'
import { maskOf, parseScope, ROLE_SCOPES, type Scope, type ScopeMask } from '../src/scopes.js'
import type { PublicUser } from '../src/store/users.js'
import { CLIENT_ID_PATTERN, type ServiceClient } from '../src/store/clients.js'

/**
 * Who may call a route: 'public', or the scopes that allow it, any one of them (contract
 * v2). Undeclared means any valid token: secure by default.
 */
export type AuthRequirement = 'public' | readonly Scope[]

/**
 * The claims of our access tokens (RFC 9068), plus the holder's generation. A person's
 * token has `sub` = the user id (digits) and `role`; a service client's has `sub` =
 * `client_id` = the client's id (never only digits) and no role.
 */
export interface AccessTokenClaims {
  iss: string
  aud: string
  sub: string
  client_id: string
  /** Absent only in tokens issued before contract v2: they mean everything the role may hold. */
  scope?: string
  role?: PublicUser['role']
  gen: number
  iat: number
  exp: number
  jti: string
}

/** A token that would be accepted right now, and whose it is. */
export type AccessTokenHolder =
  | { claims: AccessTokenClaims, scopes: ScopeMask, user: PublicUser, client?: undefined }
  | { claims: AccessTokenClaims, scopes: ScopeMask, client: ServiceClient, user?: undefined }

declare module 'fastify' {
  interface FastifyContextConfig {
    auth?: AuthRequirement
  }
  interface FastifyRequest {
    /**
     * The effective scopes: the token's, as far as its holder may hold them now. Routes
     * whose alternatives differ in reach (own orders with `orders`, anyone's with
     * `orders:read`) look here.
     */
    scopes: ScopeMask
    /** The service client whose token this is; `request.user` is then unset. */
    client: ServiceClient | null
  }
  interface FastifyInstance {
    keyRing: KeyRing
    /** Re-reads the signing keys: a rotated key starts signing, a retired one stops verifying. */
    reloadKeys: () => void
    signAccessToken: (claims: FastifyJWT['payload']) => string
    /** What authenticate decides about a token, for introspection: undefined when it would be refused. */
    accessTokenHolder: (token: string) => Promise<AccessTokenHolder | undefined>
    authenticate: onRequestHookHandler
  }
}

declare module '@fastify/jwt' {
  interface FastifyJWT {
    payload: Omit<AccessTokenClaims, 'iss' | 'aud' | 'iat' | 'exp'> & { scope: string }
    /** The person whose token this is; unset for a service client's token (see request.client). */
    user: PublicUser
  }
}

export const OAUTH_SCHEME = 'OAuth2'
const REQUIRED_CLAIMS = ['iss', 'aud', 'sub', 'exp', 'iat', 'jti', 'gen']
const USER_SUB = /^[1-9][0-9]{0,14}$/
const CLIENT_SUB = new RegExp(CLIENT_ID_PATTERN)

export default fp(async function auth (fastify) {
  const { config } = fastify
  let keyRing = loadKeyRing(config)
  if (config.databaseUrl && !config.jwtPrivateKeyFile) {
    fastify.log.warn('DATABASE_URL is set without JWT_PRIVATE_KEY_FILE: this instance signs with the keys in its own DATA_DIR/keys, ' +
      'which instances on other machines do not have; set the same JWT_PRIVATE_KEY_FILE on every instance')
  }
  const startKey = keyRing.active
  const { users, clients } = fastify.repos

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
  // The token's scope claim is parsed into its bits once, here, not per request.
  interface Verified { claims: AccessTokenClaims, scopes: ScopeMask | undefined, kid: string, verifier: Verifier }
  const verified = new LRUCache<string, Verified>({ max: 10_000 })

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
  function verifiedToken (token: string): Verified | undefined {
    const known = verified.get(token)
    if (known && verifiers.get(known.kid) === known.verifier && known.claims.exp * 1000 > Date.now()) return known
    if (known) verified.delete(token)
    try {
      const header: unknown = JSON.parse(Buffer.from(token.slice(0, token.indexOf('.')), 'base64url').toString())
      const kid = typeof header === 'object' && header !== null && 'kid' in header ? header.kid : undefined
      const verifier = typeof kid === 'string' ? verifiers.get(kid) : undefined
      if (verifier === undefined || typeof kid !== 'string') return undefined
      const claims = verifier(token) as AccessTokenClaims
      const entry = { claims, scopes: typeof claims.scope === 'string' ? parseScope(claims.scope) : undefined, kid, verifier }
      verified.set(token, entry)
      return entry
    } catch {
      return undefined
    }
  }

  /**
   * The token's holder as it is now, and what the token may do: its scopes as far as the
   * holder may hold them today (a demoted admin, a narrowed client). Deleted, disabled,
   * signed out or rotated ends the token. The one row read is the holder's own.
   */
  async function holderOf (token: string): Promise<AccessTokenHolder | undefined> {
    const entry = verifiedToken(token)
    if (!entry) return undefined
    const { claims } = entry
    // sub is a string as we issue it (RFC 9068); a number would pass the patterns by coercion.
    if (typeof claims.sub !== 'string') return undefined
    if (USER_SUB.test(claims.sub)) {
      const user = await users.findById(Number(claims.sub))
      if (!user || user.disabled || user.tokenGeneration !== claims.gen) return undefined
      const holds = ROLE_SCOPES[user.role]
      return { claims, user, scopes: (entry.scopes ?? holds) & holds }
    }
    if (!CLIENT_SUB.test(claims.sub) || claims.client_id !== claims.sub || entry.scopes === undefined) return undefined
    const client = await clients.findById(claims.sub)
    if (!client || client.disabled || client.tokenGeneration !== claims.gen) return undefined
    return { claims, client, scopes: entry.scopes & maskOf(client.scopes) }
  }
  fastify.decorate('accessTokenHolder', holderOf)

  async function authenticate (request: FastifyRequest, _reply: FastifyReply) {
    const authorization = request.headers.authorization ?? ''
    if (!/^Bearer\s/i.test(authorization)) throw new errors.UNAUTHORIZED()
    // Exactly "Bearer <token>", as RFC 6750 writes it; anything else is not a token of ours.
    const match = /^Bearer ([A-Za-z0-9_.~+/=-]+)$/i.exec(authorization)
    const holder = match?.[1] === undefined ? undefined : await holderOf(match[1])
    if (!holder) throw new errors.INVALID_TOKEN()
    request.scopes = holder.scopes
    if (holder.user) request.user = holder.user
    else request.client = holder.client
  }
  fastify.decorate('authenticate', authenticate)
  fastify.decorateRequest('scopes', 0)
  fastify.decorateRequest('client', null)

  /**
   * The route's guard after authenticate: one of its scopes, or 403 insufficient_scope.
   * A callback hook: on every guarded request it costs one AND, no promise.
   */
  function requireScope (scopes: readonly Scope[]): onRequestHookHandler {
    const allowed = maskOf(scopes)
    return function requireScope (request, _reply, done) {
      done((request.scopes & allowed) === 0 ? insufficientScope(scopes) : undefined)
    }
  }

  // One declaration per route drives the guard, its 403 and the OpenAPI `security`
  // (scopes included), so the lock icons in /docs are exactly the routes that check a token.
  fastify.addHook('onRoute', (route) => {
    const requirement = route.config?.auth
    if (requirement === 'public') {
      // Explicitly open in the document too: `security: []`.
      if (route.schema) route.schema.security = []
      return
    }
    const scopes = requirement ?? []
    const guards = scopes.length > 0 ? [authenticate, requireScope(scopes)] : [authenticate]
    const existing = route.onRequest === undefined ? [] : Array.isArray(route.onRequest) ? route.onRequest : [route.onRequest]
    route.onRequest = [...guards, ...existing]
    const schema = route.schema ?? {}
    // Alternatives are separate requirement objects: any one of them allows the route.
    schema.security = scopes.length > 0 ? scopes.map((scope) => ({ [OAUTH_SCHEME]: [scope] })) : [{ [OAUTH_SCHEME]: [] }]
    const response = (schema.response ?? {}) as Record<string, unknown>
    response['401'] ??= ErrorRef
    if (scopes.length > 0) response['403'] ??= ErrorRef
    schema.response = response
    // A guarded route is documented as such even when it declares no schema of its own.
    route.schema = schema
  })
}, { name: 'auth', dependencies: ['db'] })
