import { Type } from '@sinclair/typebox'
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'

const Status = Type.Object({ status: Type.String() })

const healthRoutes: FastifyPluginAsyncTypebox = async (fastify) => {
  const ping = fastify.sqlite.prepare('SELECT 1')

  fastify.get('/live', {
    config: { auth: 'public' },
    schema: { tags: ['health'], summary: 'The process runs', response: { 200: Status } }
  }, async () => ({ status: 'ok' }))

  fastify.get('/ready', {
    config: { auth: 'public' },
    schema: { tags: ['health'], summary: 'The database answers', response: { 200: Status, 503: Status } }
  }, async (_request, reply) => {
    try {
      ping.get()
      return { status: 'ok' }
    } catch {
      return reply.code(503).send({ status: 'unavailable' })
    }
  })
}

export default healthRoutes
