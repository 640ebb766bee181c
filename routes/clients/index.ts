import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { errors } from '../../src/errors.js'
import { decodeCursor, toPage } from '../../src/pagination.js'
import { ErrorRef, NoContent } from '../../src/schemas.js'
import { CLIENT_SCOPES, maskOf, scopesOf, type Scope } from '../../src/scopes.js'
import {
  ClientIdParams, ClientListQuery, ClientPage, ClientSchema, CreateClientSchema, CreatedClientSchema, SecretSchema,
  UpdateClientSchema, toClient
} from './schemas.js'

const CLIENTS_ADMIN = { auth: ['clients:admin'] } as const

/** Only scopes a client may hold, in the table's order; a person's scope or clients:admin is a 400. */
function clientScopes (scopes: Scope[]): Scope[] {
  const refused = scopes.filter((scope) => !CLIENT_SCOPES.includes(scope))
  if (refused.length > 0) throw new errors.SCOPE_NOT_FOR_CLIENTS(refused.join(', '))
  return scopesOf(maskOf(scopes))
}

// Service clients (contract v2): other services that get tokens of their own.
const clientRoutes: FastifyPluginAsyncTypebox = async (fastify) => {
  const { clients } = fastify.repos

  fastify.post('/', {
    config: CLIENTS_ADMIN,
    schema: {
      tags: ['clients'],
      summary: 'Register a service client; its secret is in this answer only',
      body: CreateClientSchema,
      response: { 201: CreatedClientSchema, 400: ErrorRef }
    }
  }, async (request, reply) => {
    const { client, secret } = await clients.create({ name: request.body.name, scopes: clientScopes(request.body.scopes) })
    request.log.info({ event: 'client_created', clientId: client.clientId }, 'service client created')
    reply.header('cache-control', 'no-store')
    return reply.code(201).send({ ...toClient(client), client_secret: secret })
  })

  fastify.get('/', {
    config: CLIENTS_ADMIN,
    schema: { tags: ['clients'], summary: 'List service clients', querystring: ClientListQuery, response: { 200: ClientPage, 400: ErrorRef } }
  }, async (request) => {
    const { limit, cursor } = request.query
    return toPage(await clients.list({ afterId: decodeCursor(cursor), limit: limit + 1 }), limit, toClient)
  })

  fastify.get('/:client_id', {
    config: CLIENTS_ADMIN,
    schema: { tags: ['clients'], summary: 'One service client', params: ClientIdParams, response: { 200: ClientSchema, 400: ErrorRef, 404: ErrorRef } }
  }, async (request) => {
    const client = await clients.findById(request.params.client_id)
    if (!client) throw new errors.CLIENT_NOT_FOUND()
    return toClient(client)
  })

  fastify.patch('/:client_id', {
    config: CLIENTS_ADMIN,
    schema: {
      tags: ['clients'],
      summary: 'Rename, re-scope, disable or enable a service client',
      params: ClientIdParams,
      body: UpdateClientSchema,
      response: { 200: ClientSchema, 400: ErrorRef, 404: ErrorRef }
    }
  }, async (request) => {
    const { name, scopes, disabled } = request.body
    const client = await clients.update(request.params.client_id, { name, disabled, scopes: scopes && clientScopes(scopes) })
    if (!client) throw new errors.CLIENT_NOT_FOUND()
    return toClient(client)
  })

  fastify.post('/:client_id/secret', {
    config: CLIENTS_ADMIN,
    schema: {
      tags: ['clients'],
      summary: 'A new secret: the old one and every token issued before stop working',
      params: ClientIdParams,
      response: { 200: SecretSchema, 400: ErrorRef, 404: ErrorRef }
    }
  }, async (request, reply) => {
    const secret = await clients.rotateSecret(request.params.client_id)
    if (secret === undefined) throw new errors.CLIENT_NOT_FOUND()
    request.log.info({ event: 'client_secret_rotated', clientId: request.params.client_id }, 'service client secret rotated')
    reply.header('cache-control', 'no-store')
    return { client_id: request.params.client_id, client_secret: secret }
  })

  fastify.delete('/:client_id', {
    config: CLIENTS_ADMIN,
    schema: { tags: ['clients'], summary: 'Delete a service client; its tokens stop working', params: ClientIdParams, response: { 204: NoContent, 400: ErrorRef, 404: ErrorRef } }
  }, async (request, reply) => {
    if (!await clients.delete(request.params.client_id)) throw new errors.CLIENT_NOT_FOUND()
    request.log.info({ event: 'client_deleted', clientId: request.params.client_id }, 'service client deleted')
    return reply.code(204).send(null)
  })
}

export default clientRoutes
