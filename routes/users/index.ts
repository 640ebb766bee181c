import type { FastifyRequest } from 'fastify'
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { errors } from '../../src/errors.js'
import { decodeCursor, toPage } from '../../src/pagination.js'
import { ErrorRef, IdParams, NoContent } from '../../src/schemas.js'
import { isCommonPassword } from '../../src/password-policy.js'
import {
  UserSchema, UserPage, RegisterSchema, UpdateMeSchema, AdminUpdateSchema, ChangePasswordSchema, UserListQuery, toUser
} from './schemas.js'

const userRoutes: FastifyPluginAsyncTypebox = async (fastify) => {
  const { users } = fastify.repos

  /** Self or admin; anyone else gets the same 404 as a missing user (no existence leak). */
  function visibleUserId (request: FastifyRequest, idParam: string): number {
    const id = Number(idParam)
    if (request.user.id !== id && request.user.role !== 'admin') throw new errors.USER_NOT_FOUND()
    return id
  }

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
    schema: { tags: ['users'], summary: 'The caller', response: { 200: UserSchema } }
  }, async (request) => toUser(request.user))

  fastify.patch('/me', {
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
    schema: { tags: ['users'], summary: 'Sign out everywhere', response: { 204: NoContent } }
  }, async (request, reply) => {
    await users.endSessions(request.user.id)
    return reply.code(204).send(null)
  })

  fastify.delete('/me', {
    schema: { tags: ['users'], summary: 'Delete your account', response: { 204: NoContent } }
  }, async (request, reply) => {
    await users.delete(request.user.id)
    return reply.code(204).send(null)
  })

  fastify.get('/', {
    config: { auth: 'admin' },
    schema: {
      tags: ['users'],
      summary: 'List users (admin)',
      querystring: UserListQuery,
      response: { 200: UserPage, 400: ErrorRef }
    }
  }, async (request) => {
    const { limit, cursor, email } = request.query
    const rows = await users.list({ email, afterId: decodeCursor(cursor), limit: limit + 1 })
    return toPage(rows, limit, toUser)
  })

  fastify.get('/:id', {
    schema: {
      tags: ['users'],
      summary: 'A user: yourself, or anyone for an admin',
      params: IdParams,
      response: { 200: UserSchema, 400: ErrorRef, 404: ErrorRef }
    }
  }, async (request) => {
    const user = await users.findById(visibleUserId(request, request.params.id))
    if (!user) throw new errors.USER_NOT_FOUND()
    return toUser(user)
  })

  fastify.patch('/:id', {
    config: { auth: 'admin' },
    schema: {
      tags: ['users'],
      summary: 'Change a user\'s name, role or disabled flag (admin)',
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
    schema: {
      tags: ['users'],
      summary: 'Delete a user: yourself, or anyone for an admin',
      params: IdParams,
      response: { 204: NoContent, 400: ErrorRef, 404: ErrorRef }
    }
  }, async (request, reply) => {
    if (!await users.delete(visibleUserId(request, request.params.id))) throw new errors.USER_NOT_FOUND()
    return reply.code(204).send(null)
  })
}

export default userRoutes
