import type { FastifyRequest } from 'fastify'
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { errors } from '../../src/errors.js'
import { decodeCursor, toPage } from '../../src/pagination.js'
import { ErrorRef, IdParams, NoContent } from '../../src/schemas.js'
import { hasScope, type Scope } from '../../src/scopes.js'
import { isCommonPassword } from '../../src/password-policy.js'
import {
  UserSchema, UserPage, RegisterSchema, UpdateMeSchema, AdminUpdateSchema, ChangePasswordSchema, UserListQuery, toUser
} from './schemas.js'

const userRoutes: FastifyPluginAsyncTypebox = async (fastify) => {
  const { users } = fastify.repos

  /**
   * With `anyone` (users:read, users:write) any user; with only `account`, yourself.
   * Anyone else gets the same 404 as a missing user (no existence leak).
   */
  function reachableUserId (request: FastifyRequest, idParam: string, anyone: Scope): number {
    const id = Number(idParam)
    if (!hasScope(request.scopes, anyone) && request.user?.id !== id) throw new errors.USER_NOT_FOUND()
    return id
  }
  const ACCOUNT = { auth: ['account'] } as const

  fastify.post('/', {
    config: { auth: 'public', rateLimit: fastify.credentialRateLimit },
    schema: {
      tags: ['users'],
      summary: 'Register',
      body: RegisterSchema,
      response: { 201: UserSchema, 400: ErrorRef, 409: ErrorRef, 429: ErrorRef }
    }
  }, async (request, reply) => {
    const { email, password, full_name: fullName } = request.body
    if (isCommonPassword(password)) throw new errors.PASSWORD_TOO_COMMON()
    const passwordHash = await fastify.passwords.hash(password)
    const user = await users.create({ email, passwordHash, fullName })
    if (!user) throw new errors.EMAIL_TAKEN()
    return reply.code(201).send(toUser(user))
  })

  fastify.get('/me', {
    config: ACCOUNT,
    schema: { tags: ['users'], summary: 'The caller', response: { 200: UserSchema } }
  }, async (request) => toUser(request.user))

  fastify.patch('/me', {
    config: ACCOUNT,
    schema: {
      tags: ['users'],
      summary: 'Change your name',
      body: UpdateMeSchema,
      response: { 200: UserSchema, 400: ErrorRef }
    }
  }, async (request) => {
    const user = await users.update(request.user.id, { fullName: request.body.full_name })
    if (!user) throw new errors.USER_NOT_FOUND()
    return toUser(user)
  })

  fastify.put('/me/password', {
    config: ACCOUNT,
    schema: {
      tags: ['users'],
      summary: 'Change your password; every token issued before stops working',
      body: ChangePasswordSchema,
      response: { 204: NoContent, 400: ErrorRef }
    }
  }, async (request, reply) => {
    const { current_password: currentPassword, new_password: newPassword } = request.body
    if (isCommonPassword(newPassword)) throw new errors.PASSWORD_TOO_COMMON()
    const check = await fastify.passwords.verify(await users.passwordHashOf(request.user.id) ?? null, currentPassword)
    if (!check.ok) throw new errors.WRONG_PASSWORD()
    await users.setPasswordHash(request.user.id, await fastify.passwords.hash(newPassword), { endSessions: true })
    request.log.info({ event: 'password_changed', userId: request.user.id }, 'password changed')
    return reply.code(204).send(null)
  })

  fastify.delete('/me/sessions', {
    config: ACCOUNT,
    schema: { tags: ['users'], summary: 'Sign out everywhere', response: { 204: NoContent } }
  }, async (request, reply) => {
    await users.endSessions(request.user.id)
    return reply.code(204).send(null)
  })

  fastify.delete('/me', {
    config: ACCOUNT,
    schema: { tags: ['users'], summary: 'Delete your account', response: { 204: NoContent } }
  }, async (request, reply) => {
    await users.delete(request.user.id)
    return reply.code(204).send(null)
  })

  fastify.get('/', {
    config: { auth: ['users:read'] },
    schema: {
      tags: ['users'],
      summary: 'List users',
      querystring: UserListQuery,
      response: { 200: UserPage, 400: ErrorRef }
    }
  }, async (request) => {
    const { limit, cursor, email } = request.query
    const rows = await users.list({ email, afterId: decodeCursor(cursor), limit: limit + 1 })
    return toPage(rows, limit, toUser)
  })

  fastify.get('/:id', {
    config: { auth: ['account', 'users:read'] },
    schema: {
      tags: ['users'],
      summary: 'A user: yourself (account), or anyone (users:read)',
      params: IdParams,
      response: { 200: UserSchema, 400: ErrorRef, 404: ErrorRef }
    }
  }, async (request) => {
    const user = await users.findById(reachableUserId(request, request.params.id, 'users:read'))
    if (!user) throw new errors.USER_NOT_FOUND()
    return toUser(user)
  })

  fastify.patch('/:id', {
    config: { auth: ['users:write'] },
    schema: {
      tags: ['users'],
      summary: 'Change a user\'s name, role or disabled flag',
      params: IdParams,
      body: AdminUpdateSchema,
      response: { 200: UserSchema, 400: ErrorRef, 404: ErrorRef }
    }
  }, async (request) => {
    const { full_name: fullName, role, disabled } = request.body
    const user = await users.update(Number(request.params.id), { fullName, role, disabled })
    if (!user) throw new errors.USER_NOT_FOUND()
    return toUser(user)
  })

  fastify.delete('/:id', {
    config: { auth: ['account', 'users:write'] },
    schema: {
      tags: ['users'],
      summary: 'Delete a user: yourself (account), or anyone (users:write)',
      params: IdParams,
      response: { 204: NoContent, 400: ErrorRef, 404: ErrorRef }
    }
  }, async (request, reply) => {
    if (!await users.delete(reachableUserId(request, request.params.id, 'users:write'))) throw new errors.USER_NOT_FOUND()
    return reply.code(204).send(null)
  })
}

export default userRoutes
