import crypto from 'node:crypto'
import formbody from '@fastify/formbody'
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify'
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { OAuthError, tooManyRequests } from '../../src/errors.js'
import { ErrorRef } from '../../src/schemas.js'
import type { PublicUser } from '../../src/store/users.js'
import passwordResetRoutes from './password-reset.js'
import {
  TokenRequestSchema, TokenResponseSchema, OAuthErrorSchema, RevokeRequestSchema, JwksSchema, MetadataSchema,
  type TokenRequest
} from './schemas.js'

const FORM_OR_JSON = ['application/x-www-form-urlencoded', 'application/json']
const INVALID_CREDENTIALS = 'Invalid username or password'

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

  function accessTokenFor (user: Pick<PublicUser, 'id' | 'role' | 'tokenGeneration'>, clientId: string) {
    return fastify.signAccessToken({
      sub: String(user.id),
      client_id: clientId,
      role: user.role,
      gen: user.tokenGeneration,
      jti: crypto.randomUUID()
    })
  }

  async function passwordGrant (body: TokenRequest) {
    if (!body.username || body.password === undefined) {
      throw new OAuthError('invalid_request', 'username and password are required for grant_type=password')
    }
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
    fastify.log.info({ event: 'login_succeeded', userId: user.id }, 'login succeeded')
    if (check.needsRehash) {
      await users.setPasswordHash(user.id, await fastify.passwords.hash(body.password), { endSessions: false })
    }
    const clientId = body.client_id ?? 'public'
    return {
      accessToken: accessTokenFor(user, clientId),
      refreshToken: await refreshTokens.issue({
        userId: user.id, clientId, generation: user.tokenGeneration, ttlSeconds: config.refreshTokenTtl
      })
    }
  }

  async function refreshGrant (body: TokenRequest) {
    if (!body.refresh_token) throw new OAuthError('invalid_request', 'refresh_token is required for grant_type=refresh_token')
    const rotated = await refreshTokens.rotate(body.refresh_token, config.refreshTokenTtl)
    if (!rotated.ok) {
      if (rotated.reason === 'reused') fastify.log.warn({ event: 'refresh_token_reuse' }, 'refresh token reused: family revoked')
      throw new OAuthError('invalid_grant', 'The refresh token is invalid, expired or revoked')
    }
    const user = await users.findById(rotated.userId)
    if (!user) throw new OAuthError('invalid_grant', 'The refresh token is invalid, expired or revoked')
    return { accessToken: accessTokenFor(user, rotated.clientId), refreshToken: rotated.refreshToken }
  }

  fastify.post('/auth/token', {
    config: { auth: 'public', rateLimit: fastify.credentialRateLimit },
    errorHandler: oauthErrorHandler,
    schema: {
      tags: ['auth'],
      summary: 'OAuth2 token endpoint: password and refresh_token grants',
      consumes: FORM_OR_JSON,
      body: TokenRequestSchema,
      response: { 200: TokenResponseSchema, 400: OAuthErrorSchema, 429: ErrorRef, 503: ErrorRef }
    }
  }, async (request, reply) => {
    const grantType = request.body.grant_type ?? 'password'
    let tokens: { accessToken: string, refreshToken: string }
    if (grantType === 'password') {
      tokens = await passwordGrant(request.body)
    } else if (grantType === 'refresh_token') {
      tokens = await refreshGrant(request.body)
    } else {
      throw new OAuthError('unsupported_grant_type', 'grant_type must be password or refresh_token')
    }
    reply.header('cache-control', 'no-store').header('pragma', 'no-cache')
    return {
      access_token: tokens.accessToken,
      token_type: 'Bearer' as const,
      expires_in: config.accessTokenTtl,
      refresh_token: tokens.refreshToken
    }
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
      jwks_uri: `${issuerBase}/.well-known/jwks.json`,
      grant_types_supported: ['password', 'refresh_token'],
      token_endpoint_auth_methods_supported: ['none'],
      revocation_endpoint_auth_methods_supported: ['none'],
      // No authorization endpoint: only the password and refresh grants exist.
      response_types_supported: [],
      service_documentation: `${issuerBase}/docs`
    }
  })

  await fastify.register(passwordResetRoutes)
}

export default authRoutes
