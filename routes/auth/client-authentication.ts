import type { FastifyInstance, FastifyRequest } from 'fastify'
import { OAuthError, tooManyRequests } from '../../src/errors.js'
import { hashClientSecret, newClientSecret, secretMatches, type ServiceClient } from '../../src/store/clients.js'

/** What a client sent to prove who it is, by one of the two methods of RFC 6749 §2.3.1. */
interface ClientCredentials { clientId: string, clientSecret: string, method: 'client_secret_basic' | 'client_secret_post' }

// Compared against when the client is unknown, so that answer and time are the same.
const UNKNOWN_CLIENT_HASH = hashClientSecret(newClientSecret())

/** Basic credentials are form-urlencoded before base64 (RFC 6749 §2.3.1): '+' is a space. */
const formDecoded = (value: string) => decodeURIComponent(value.replace(/\+/g, ' '))

/**
 * The Basic header's id and secret; undefined without one, or with an empty one (Swagger
 * UI sends `Basic Og==` on the password flow). A header that does not decode is a failed
 * authentication, not an absent one.
 */
function basicCredentials (authorization: string | undefined): { clientId: string, clientSecret: string } | undefined | 'malformed' {
  const match = /^Basic ([A-Za-z0-9+/]+=*)$/i.exec(authorization ?? '')
  if (!match?.[1]) return authorization && /^Basic\s/i.test(authorization) ? 'malformed' : undefined
  const decoded = Buffer.from(match[1], 'base64').toString('utf8')
  const colon = decoded.indexOf(':')
  if (colon < 0) return 'malformed'
  try {
    const clientId = formDecoded(decoded.slice(0, colon))
    const clientSecret = formDecoded(decoded.slice(colon + 1))
    return clientId === '' && clientSecret === '' ? undefined : { clientId, clientSecret }
  } catch {
    return 'malformed'
  }
}

/**
 * Authenticates the service client of a token or introspection request: HTTP Basic or
 * client_id + client_secret in the body, never both. Unknown, wrong secret, disabled and
 * deleted all get the same 401 invalid_client. Failures count per client address, as
 * failed logins count per e-mail: after LOGIN_MAX_FAILURES in a row the address waits
 * 15 minutes. (Per client id, a stranger who knows an id could lock a service out.)
 */
export function clientAuthenticator (fastify: FastifyInstance) {
  const { clients, loginThrottle: throttle } = fastify.repos

  function credentialsOf (request: FastifyRequest, body: { client_id?: string, client_secret?: string }): ClientCredentials {
    const basic = basicCredentials(request.headers.authorization)
    if (basic === 'malformed') throw invalidClient('client_secret_basic')
    if (basic && body.client_secret !== undefined) {
      throw new OAuthError('invalid_request', 'Authenticate the client one way: the Basic header or client_secret in the body')
    }
    if (basic) {
      if (body.client_id !== undefined && body.client_id !== basic.clientId) {
        throw new OAuthError('invalid_request', 'client_id in the body differs from the Basic header\'s')
      }
      return { ...basic, method: 'client_secret_basic' }
    }
    if (body.client_id === undefined || body.client_secret === undefined) throw invalidClient('none')
    return { clientId: body.client_id, clientSecret: body.client_secret, method: 'client_secret_post' }
  }

  return async function authenticateClient (request: FastifyRequest, body: { client_id?: string, client_secret?: string }): Promise<ServiceClient> {
    const credentials = credentialsOf(request, body)
    // No '@': never an e-mail, whose failed logins share the table (the password grant counts only those).
    const throttleKey = `client-address:${request.ip}`
    const retryAfterMs = await throttle.retryAfterMs(throttleKey)
    if (retryAfterMs > 0) {
      request.log.warn({ event: 'client_auth_throttled' }, 'client authentication refused: address throttled')
      throw tooManyRequests(Math.ceil(retryAfterMs / 1000))
    }
    const client = await clients.findWithSecretHash(credentials.clientId)
    const matches = secretMatches(credentials.clientSecret, client?.secretHash ?? UNKNOWN_CLIENT_HASH)
    if (!client || !matches || client.disabled) {
      await throttle.recordFailure(throttleKey)
      request.log.info({ event: 'client_auth_failed' }, 'client authentication failed')
      throw invalidClient(credentials.method)
    }
    // A success clears the count, so failures far apart never add up to a lock-out.
    await throttle.recordSuccess(throttleKey)
    const { secretHash: _secretHash, ...publicClient } = client
    return publicClient
  }
}

function invalidClient (method: ClientCredentials['method'] | 'none') {
  return new OAuthError('invalid_client', 'Client authentication failed', 401,
    method === 'client_secret_basic' ? 'Basic realm="ecommerce-api", charset="UTF-8"' : undefined)
}
