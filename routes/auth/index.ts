import crypto from 'node:crypto'
import formbody from '@fastify/formbody'
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify'
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { OAuthError, tooManyRequests } from '../../src/errors.js'
import { ErrorRef } from '../../src/schemas.js'
import type { PublicUser } from '../../src/store/users.js'
import { CLIENT_ID_PATTERN, type ServiceClient } from '../../src/store/clients.js'
import { maskOf, parseScope, ROLE_SCOPES, SCOPE_NAMES, scopeString, type ScopeMask } from '../../src/scopes.js'
import passwordResetRoutes from './password-reset.js'
import { clientAuthenticator } from './client-authentication.js'
import {
  TokenRequestSchema, TokenResponseSchema, OAuthErrorSchema, RevokeRequestSchema, JwksSchema, MetadataSchema,
  IntrospectionRequestSchema, IntrospectionResponseSchema, type TokenRequest
} from './schemas.js'

const FORM_OR_JSON = ['application/x-www-form-urlencoded', 'application/json']
const INVALID_CREDENTIALS = 'Invalid username or password'
const SERVICE_CLIENT_ID = new RegExp(CLIENT_ID_PATTERN)
const INVALID_REFRESH = 'The refresh token is invalid, expired or revoked'

/**
 * RFC 6749 §3.3: absent or empty → all the caller may hold; otherwise the names asked
 * for that it may hold (others are dropped); nothing left → invalid_scope.
 */
function grantedScopes (requested: string | undefined, mayHold: ScopeMask): ScopeMask {
  if (requested === undefined || requested.trim() === '') return mayHold
  const granted = parseScope(requested) & mayHold
  if (granted === 0) throw new OAuthError('invalid_scope', 'None of the requested scopes may be granted to this caller')
  return granted
}

interface Tokens { accessToken: string, refreshToken?: string, scopes: ScopeMask }

// Schema failures on the OAuth endpoints are RFC 6749 errors, not the API's error body.
function oauthErrorHandler (error: FastifyError | OAuthError, _request: FastifyRequest, reply: FastifyReply) {
  if (error instanceof OAuthError) return reply.send(error)
  if (error.validation || error instanceof SyntaxError || error.statusCode === 400) {
    return reply.send(new OAuthError('invalid_request', error.validation ? `Invalid request: ${error.message}` : 'Malformed request body'))
  }
  // Media type, size and server errors keep the API's usual shape.
  return reply.send(error)
}

const authRoutes: FastifyPluginAsyncTypebox = async (fastify) => {
  const { config } = fastify
  // OAuth2 clients (Swagger UI among them) send forms; only these routes accept them,
  // so no other route can be driven by a cross-site HTML form (no CORS preflight).
  await fastify.register(formbody)
  const { users, refreshTokens, loginThrottle: throttle } = fastify.repos
  const issuerBase = config.jwtIssuer.replace(/\/+$/, '')

  const authenticateClient = clientAuthenticator(fastify)

  function accessTokenFor (user: Pick<PublicUser, 'id' | 'role' | 'tokenGeneration'>, clientId: string, scopes: ScopeMask) {
    return fastify.signAccessToken({
      sub: String(user.id),
      client_id: clientId,
      role: user.role,
      scope: scopeString(scopes),
      gen: user.tokenGeneration,
      jti: crypto.randomUUID()
    })
  }

  async function passwordGrant (body: TokenRequest): Promise<Tokens> {
    if (!body.username || body.password === undefined) {
      throw new OAuthError('invalid_request', 'username and password are required for grant_type=password')
    }
    // A service client's id names a confidential client, which must authenticate (RFC 6749
    // §3.2.1): a person's token must not carry it unproven, for introspection to report.
    if (body.client_id !== undefined && SERVICE_CLIENT_ID.test(body.client_id)) {
      throw new OAuthError('invalid_client', 'A service client gets tokens with grant_type=client_credentials', 401)
    }
    // Every account's e-mail has an '@', and no other throttle key does (client-address:<ip>),
    // so failed logins can never count against anything but an e-mail.
    if (!body.username.includes('@')) throw new OAuthError('invalid_grant', INVALID_CREDENTIALS)
    // Throttled e-mails are refused before the password is looked at, right or wrong.
    const retryAfterMs = await throttle.retryAfterMs(body.username)
    if (retryAfterMs > 0) {
      fastify.log.warn({ event: 'login_throttled' }, 'login refused: account throttled')
      throw tooManyRequests(Math.ceil(retryAfterMs / 1000))
    }
    const user = await users.findWithCredentials(body.username)
    // Unknown users are checked against a dummy hash: same answer, same time.
    const check = await fastify.passwords.verify(user?.passwordHash ?? null, body.password)
    if (!user || !check.ok || user.disabled) {
      await throttle.recordFailure(body.username)
      fastify.log.info({ event: 'login_failed' }, 'login failed')
      throw new OAuthError('invalid_grant', INVALID_CREDENTIALS)
    }
    await throttle.recordSuccess(body.username)
    // Only the password's owner learns that the scopes asked for are beyond its role.
    const scopes = grantedScopes(body.scope, ROLE_SCOPES[user.role])
    fastify.log.info({ event: 'login_succeeded', userId: user.id }, 'login succeeded')
    if (check.needsRehash) {
      await users.setPasswordHash(user.id, await fastify.passwords.hash(body.password), { endSessions: false })
    }
    const clientId = body.client_id ?? 'public'
    return {
      accessToken: accessTokenFor(user, clientId, scopes),
      refreshToken: await refreshTokens.issue({
        userId: user.id, clientId, generation: user.tokenGeneration, scope: scopeString(scopes), ttlSeconds: config.refreshTokenTtl
      }),
      scopes
    }
  }

  /** The login's scopes as far as the user's role allows them today (null: a login from before v2). */
  const loginScopes = (scope: string | null, role: PublicUser['role']) => (scope === null ? ROLE_SCOPES[role] : parseScope(scope)) & ROLE_SCOPES[role]

  async function refreshGrant (body: TokenRequest): Promise<Tokens> {
    if (!body.refresh_token) throw new OAuthError('invalid_request', 'refresh_token is required for grant_type=refresh_token')
    // A scope that narrows to nothing is refused before the token is used up (rotation is once only).
    if (body.scope !== undefined && body.scope.trim() !== '') {
      const active = await refreshTokens.inspect(body.refresh_token)
      const user = active && await users.findById(active.userId)
      if (user) grantedScopes(body.scope, loginScopes(active.scope, user.role))
    }
    const rotated = await refreshTokens.rotate(body.refresh_token, config.refreshTokenTtl)
    if (!rotated.ok) {
      if (rotated.reason === 'reused') fastify.log.warn({ event: 'refresh_token_reuse' }, 'refresh token reused: family revoked')
      throw new OAuthError('invalid_grant', INVALID_REFRESH)
    }
    const user = await users.findById(rotated.userId)
    if (!user) throw new OAuthError('invalid_grant', INVALID_REFRESH)
    // The new refresh token keeps the login's scopes; a `scope` here narrows this access token only (RFC 6749 §6).
    const scopes = grantedScopes(body.scope, loginScopes(rotated.scope, user.role))
    return { accessToken: accessTokenFor(user, rotated.clientId, scopes), refreshToken: rotated.refreshToken, scopes }
  }

  function clientToken (client: ServiceClient, requested: string | undefined): Tokens {
    const scopes = grantedScopes(requested, maskOf(client.scopes))
    // No role and no refresh token: a client asks again with its secret (RFC 6749 §4.4.3).
    return {
      accessToken: fastify.signAccessToken({ sub: client.clientId, client_id: client.clientId, scope: scopeString(scopes), gen: client.tokenGeneration, jti: crypto.randomUUID() }),
      scopes
    }
  }

  fastify.post('/auth/token', {
    config: { auth: 'public', rateLimit: fastify.credentialRateLimit },
    errorHandler: oauthErrorHandler,
    schema: {
      tags: ['auth'],
      summary: 'OAuth2 token endpoint: password, refresh_token and client_credentials grants',
      consumes: FORM_OR_JSON,
      body: TokenRequestSchema,
      response: { 200: TokenResponseSchema, 400: OAuthErrorSchema, 401: OAuthErrorSchema, 429: ErrorRef, 503: ErrorRef }
    }
  }, async (request, reply) => {
    const grantType = request.body.grant_type ?? 'password'
    let tokens: Tokens
    if (grantType === 'password') {
      tokens = await passwordGrant(request.body)
    } else if (grantType === 'refresh_token') {
      tokens = await refreshGrant(request.body)
    } else if (grantType === 'client_credentials') {
      tokens = clientToken(await authenticateClient(request, request.body), request.body.scope)
    } else {
      throw new OAuthError('unsupported_grant_type', 'grant_type must be password, refresh_token or client_credentials')
    }
    reply.header('cache-control', 'no-store').header('pragma', 'no-cache')
    return {
      access_token: tokens.accessToken,
      token_type: 'Bearer' as const,
      expires_in: config.accessTokenTtl,
      ...(tokens.refreshToken === undefined ? {} : { refresh_token: tokens.refreshToken }),
      scope: scopeString(tokens.scopes)
    }
  })

  /** RFC 7662: what authenticate (or the refresh grant) would decide about the token right now. */
  async function introspect (token: string, hint: string | undefined) {
    const looksLikeJwt = hint === 'access_token' || (hint !== 'refresh_token' && token.split('.').length === 3)
    const common = { iss: config.jwtIssuer, aud: config.jwtAudience }
    if (looksLikeJwt) {
      const holder = await fastify.accessTokenHolder(token)
      if (holder) {
        const { claims } = holder
        return { active: true, scope: scopeString(holder.scopes), client_id: claims.client_id, sub: claims.sub, token_type: 'Bearer' as const, exp: claims.exp, iat: claims.iat, ...common }
      }
    }
    const active = await refreshTokens.inspect(token)
    const user = active && await users.findById(active.userId)
    if (active && user) {
      const scope = scopeString(loginScopes(active.scope, user.role))
      return { active: true, scope, client_id: active.clientId, sub: String(user.id), token_type: 'refresh_token' as const, exp: active.expiresAt, iat: active.issuedAt, ...common }
    }
    // A hint is only a hint (RFC 7662 §2.1): a JWT-shaped string is no refresh token, but try it as one otherwise.
    if (!looksLikeJwt && token.split('.').length === 3) return introspect(token, 'access_token')
    return { active: false }
  }

  fastify.post('/auth/introspect', {
    config: { auth: 'public', rateLimit: fastify.credentialRateLimit },
    errorHandler: oauthErrorHandler,
    schema: {
      tags: ['auth'],
      summary: 'RFC 7662 introspection, for service clients: is this token accepted right now, and for what?',
      consumes: FORM_OR_JSON,
      body: IntrospectionRequestSchema,
      response: { 200: IntrospectionResponseSchema, 400: OAuthErrorSchema, 401: OAuthErrorSchema, 429: ErrorRef, 503: ErrorRef }
    }
  }, async (request, reply) => {
    await authenticateClient(request, request.body)
    if (!request.body.token) throw new OAuthError('invalid_request', 'token is required')
    reply.header('cache-control', 'no-store').header('pragma', 'no-cache')
    return introspect(request.body.token, request.body.token_type_hint)
  })

  fastify.post('/auth/revoke', {
    config: { auth: 'public' },
    errorHandler: oauthErrorHandler,
    schema: {
      tags: ['auth'],
      summary: 'RFC 7009 revocation: the refresh token and its family stop working',
      consumes: FORM_OR_JSON,
      body: RevokeRequestSchema,
      response: { 200: { type: 'null', description: 'Revoked, or was never valid' }, 400: OAuthErrorSchema }
    }
  }, async (request, reply) => {
    if (!request.body.token) throw new OAuthError('invalid_request', 'token is required')
    await refreshTokens.revoke(request.body.token)
    return reply.code(200).header('cache-control', 'no-store').send()
  })

  fastify.get('/.well-known/jwks.json', {
    config: { auth: 'public' },
    schema: { tags: ['auth'], summary: 'Public keys that verify our access tokens', response: { 200: JwksSchema } }
  }, async (_request, reply) => {
    reply.header('cache-control', 'public, max-age=300')
    return { keys: fastify.keyRing.all.map((key) => key.publicJwk) }
  })

  fastify.get('/.well-known/oauth-authorization-server', {
    config: { auth: 'public' },
    schema: { tags: ['auth'], summary: 'RFC 8414 authorization server metadata', response: { 200: MetadataSchema } }
  }, async (_request, reply) => {
    reply.header('cache-control', 'public, max-age=300')
    return {
      issuer: config.jwtIssuer,
      token_endpoint: `${issuerBase}/auth/token`,
      revocation_endpoint: `${issuerBase}/auth/revoke`,
      introspection_endpoint: `${issuerBase}/auth/introspect`,
      jwks_uri: `${issuerBase}/.well-known/jwks.json`,
      grant_types_supported: ['password', 'refresh_token', 'client_credentials'],
      // none: people's first-party apps (password, refresh_token); the others: service clients.
      token_endpoint_auth_methods_supported: ['none', 'client_secret_basic', 'client_secret_post'],
      revocation_endpoint_auth_methods_supported: ['none'],
      introspection_endpoint_auth_methods_supported: ['client_secret_basic', 'client_secret_post'],
      scopes_supported: SCOPE_NAMES,
      // No authorization endpoint: no grant here sends a browser to one.
      response_types_supported: [],
      service_documentation: `${issuerBase}/docs`
    }
  })

  await fastify.register(passwordResetRoutes)
}

export default authRoutes
