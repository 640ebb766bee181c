import { Type } from '@sinclair/typebox'
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { errors } from '../../src/errors.js'
import { isCommonPassword } from '../../src/password-policy.js'
import { EmailSchema, ErrorRef, NoContent, PasswordSchema, StrictObject } from '../../src/schemas.js'

const ACCEPTED = { message: 'If the address is registered, an e-mail with a reset token is on its way' }

// POST /auth/password-reset and /auth/password-reset/confirm (docs/API.md, Tokens).
const passwordResetRoutes: FastifyPluginAsyncTypebox = async (fastify) => {
  // JSON only, like the rest of the API: the form parser is for the OAuth endpoints beside these.
  fastify.removeContentTypeParser('application/x-www-form-urlencoded')
  const { users, passwordResets: resets } = fastify.repos

  fastify.post('/auth/password-reset', {
    config: { auth: 'public', rateLimit: fastify.credentialRateLimit },
    schema: {
      tags: ['auth'],
      summary: 'Ask for a password reset e-mail (same answer for unknown addresses)',
      body: StrictObject({ email: EmailSchema }),
      response: { 202: Type.Object({ message: Type.String() }), 400: ErrorRef, 429: ErrorRef }
    }
  }, async (request, reply) => {
    const user = await users.findWithCredentials(request.body.email)
    const queued = await resets.request(user && !user.disabled ? user : undefined, (token) => ({
      subject: 'Reset your password',
      text: `Someone asked to reset the password of this account.\n\nReset token: ${token}\n\n` +
        'Send it with your new password to POST /auth/password-reset/confirm within one hour. ' +
        'If it was not you, ignore this e-mail.'
    }))
    if (queued) fastify.mailOutbox.wake()
    return reply.code(202).send(ACCEPTED)
  })

  fastify.post('/auth/password-reset/confirm', {
    config: { auth: 'public', rateLimit: fastify.credentialRateLimit },
    schema: {
      tags: ['auth'],
      summary: 'Set a new password with a reset token; every session ends',
      body: StrictObject({ token: Type.String({ minLength: 1, maxLength: 256 }), new_password: PasswordSchema }),
      response: { 204: NoContent, 400: ErrorRef, 429: ErrorRef, 503: ErrorRef }
    }
  }, async (request, reply) => {
    if (isCommonPassword(request.body.new_password)) throw new errors.PASSWORD_TOO_COMMON()
    // Hash before the transaction: the write lock is not held through 20 ms of argon2.
    const passwordHash = await fastify.passwords.hash(request.body.new_password)
    const userId = await resets.confirm(request.body.token, passwordHash)
    if (userId === undefined) throw new errors.RESET_TOKEN_INVALID()
    request.log.info({ event: 'password_reset', userId }, 'password reset')
    return reply.code(204).send(null)
  })
}

export default passwordResetRoutes
