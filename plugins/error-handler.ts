import { STATUS_CODES } from 'node:http'
import fp from 'fastify-plugin'
import type { FastifyError } from 'fastify'
import { errors, OAuthError } from '../src/errors.js'
import { databaseFault } from '../src/db/index.js'

// Keys of the registry are the codes, so a code written here is checked against it.
type Code = keyof typeof errors

// Fastify's own request errors, under the codes our clients see (all from the registry).
const FASTIFY_CODES: Record<string, Code> = {
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 'UNSUPPORTED_MEDIA_TYPE',
  FST_ERR_CTP_BODY_TOO_LARGE: 'PAYLOAD_TOO_LARGE',
  FST_ERR_CTP_EMPTY_JSON_BODY: 'INVALID_JSON',
  FST_ERR_CTP_INVALID_JSON_BODY: 'INVALID_JSON',
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: 'INVALID_CONTENT_LENGTH',
  FST_ERR_CTP_EMPTY_TYPE: 'UNSUPPORTED_MEDIA_TYPE',
  FST_ERR_CTP_INVALID_TYPE: 'UNSUPPORTED_MEDIA_TYPE'
}

const ourCodes = new Set<string>(Object.keys(errors))

// RFC 6750 §3: no credentials → a bare challenge; rejected credentials → invalid_token.
const CHALLENGES: Record<string, string> = {
  UNAUTHORIZED: 'Bearer',
  INVALID_TOKEN: 'Bearer error="invalid_token", error_description="The access token is invalid or expired"'
}

function codeOf (error: FastifyError, statusCode: number): string {
  if (error.validation) return 'VALIDATION_ERROR' satisfies Code
  if (ourCodes.has(error.code)) return error.code
  if (FASTIFY_CODES[error.code]) return FASTIFY_CODES[error.code] as string
  // JSON.parse failures (and __proto__ poisoning) come without a code.
  if (statusCode === 400 && error instanceof SyntaxError) return 'INVALID_JSON' satisfies Code
  // Any other refusal (a plugin's 4xx without a code of ours) still answers with a registered code.
  return 'BAD_REQUEST' satisfies Code
}

export default fp(async function errorHandler (fastify) {
  fastify.setErrorHandler((raw: FastifyError, request, reply) => {
    // The database's faults answer as such, logged once with their cause: a client may retry.
    const fault = databaseFault(raw)
    if (fault) request.log.error({ err: raw }, 'database fault')
    const error: FastifyError = fault === 'full' ? new errors.STORAGE_FULL() : fault === 'unavailable' ? new errors.DATABASE_UNAVAILABLE() : raw
    if (error instanceof OAuthError) {
      if (error.wwwAuthenticate) reply.header('www-authenticate', error.wwwAuthenticate)
      return reply.code(error.statusCode).header('cache-control', 'no-store')
        .send({ error: error.error, error_description: error.description })
    }
    const statusCode = error.validation ? 400 : (error.statusCode ?? 500)
    // Our own 5xx (503s, 507) say what happened; anything else is an internal error whose
    // details stay in the log.
    const ours = statusCode >= 500 && ourCodes.has(error.code)
    if (statusCode === 503 && ours) reply.header('retry-after', '1')
    else if (statusCode >= 500 && !fault) request.log.error({ err: error }, 'request failed')
    if (statusCode >= 500) {
      return reply.code(statusCode).send({
        statusCode,
        code: ours ? error.code : 'INTERNAL_ERROR' satisfies Code,
        error: STATUS_CODES[statusCode] ?? 'Internal Server Error',
        message: ours ? error.message : new errors.INTERNAL_ERROR().message
      })
    }
    const code = codeOf(error, statusCode)
    if ('retryAfterSeconds' in error) reply.header('retry-after', String(error.retryAfterSeconds))
    const challenge = 'wwwAuthenticate' in error ? String(error.wwwAuthenticate) : CHALLENGES[code]
    if (challenge) reply.header('www-authenticate', challenge)
    return reply.code(statusCode).send({
      statusCode,
      code,
      error: STATUS_CODES[statusCode] ?? 'Error',
      message: error.message
    })
  })

  fastify.setNotFoundHandler((request, reply) => {
    reply.send(new errors.ROUTE_NOT_FOUND(`${request.method} ${request.url.split('?')[0]}`))
  })
}, { name: 'error-handler' })
