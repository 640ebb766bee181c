import { Type } from '@sinclair/typebox'
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'

const Live = Type.Object({ status: Type.Literal('ok') })
const Ready = Type.Object({
  status: Type.Union([Type.Literal('ok'), Type.Literal('unavailable'), Type.Literal('draining')], {
    description: '`draining`: shutting down, so a load balancer stops sending here'
  }),
  database: Type.Union([Type.Literal('ok'), Type.Literal('unavailable')]),
  outbox_backlog: Type.Union([Type.Integer({ minimum: 0 }), Type.Null()], { description: 'E-mails waiting to be sent' })
})

const healthRoutes: FastifyPluginAsyncTypebox = async (fastify) => {
  const { outbox } = fastify.repos

  fastify.get('/live', {
    config: { auth: 'public' },
    schema: { tags: ['health'], summary: 'The process runs', response: { 200: Live } }
  }, async () => ({ status: 'ok' as const }))

  fastify.get('/ready', {
    config: { auth: 'public' },
    schema: {
      tags: ['health'],
      summary: 'The database answers; also shows the mail backlog',
      response: { 200: Ready, 503: Ready }
    }
  }, async (_request, reply) => {
    try {
      const backlog = await outbox.backlog()
      if (fastify.shutdown.phase !== 'serving') return reply.code(503).send({ status: 'draining', database: 'ok', outbox_backlog: backlog })
      return { status: 'ok' as const, database: 'ok' as const, outbox_backlog: backlog }
    } catch {
      return reply.code(503).send({ status: 'unavailable', database: 'unavailable', outbox_backlog: null })
    }
  })
}

export default healthRoutes
