import type { FastifyRequest } from 'fastify'
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { errors } from '../../src/errors.js'
import { decodeCursor, toPage } from '../../src/pagination.js'
import { ErrorRef, IdParams } from '../../src/schemas.js'
import { hasScope, type Scope } from '../../src/scopes.js'
import { CheckoutHeaders, CheckoutSchema, OrderListQuery, OrderPage, OrderSchema, StatusChangeSchema, toOrder } from './schemas.js'

const orderRoutes: FastifyPluginAsyncTypebox = async (fastify) => {
  const { orders } = fastify.repos

  /**
   * With `anyone` (orders:read, orders:write) any order; with only `orders`, your own.
   * Anyone else's gets the same 404 as a missing order.
   */
  async function reachableOrder (request: FastifyRequest, idParam: string, anyone: Scope) {
    const order = await orders.find(Number(idParam))
    if (!order || (!hasScope(request.scopes, anyone) && order.userId !== request.user?.id)) throw new errors.ORDER_NOT_FOUND()
    return order
  }

  fastify.post('/', {
    config: { auth: ['orders'] },
    schema: {
      tags: ['orders'],
      summary: 'Check out your cart',
      headers: CheckoutHeaders,
      body: CheckoutSchema,
      response: { 200: OrderSchema, 201: OrderSchema, 400: ErrorRef, 409: ErrorRef }
    }
  }, async (request, reply) => {
    const { order, created } = await orders.checkout({
      userId: request.user.id,
      email: request.user.email,
      shippingAddress: request.body.shipping_address,
      currency: fastify.config.currency,
      idempotencyKey: request.headers['idempotency-key']
    })
    if (created) {
      fastify.mailOutbox.wake()
      // Stock went down: product pages kept in memory show the old figures.
      fastify.productPages.invalidate()
    }
    return reply.code(created ? 201 : 200).send(toOrder(order))
  })

  fastify.get('/', {
    config: { auth: ['orders', 'orders:read'] },
    schema: {
      tags: ['orders'],
      summary: 'Your orders (orders), or everyone\'s (orders:read, ?user_id=), newest first',
      querystring: OrderListQuery,
      response: { 200: OrderPage, 400: ErrorRef }
    }
  }, async (request) => {
    const { limit, cursor, user_id: userIdFilter } = request.query
    const everyones = hasScope(request.scopes, 'orders:read')
    const userId = everyones ? (userIdFilter === undefined ? undefined : Number(userIdFilter)) : request.user.id
    const rows = await orders.list({ userId, beforeId: decodeCursor(cursor), limit: limit + 1 })
    return toPage(rows, limit, toOrder)
  })

  fastify.get('/:id', {
    config: { auth: ['orders', 'orders:read'] },
    schema: {
      tags: ['orders'],
      summary: 'One of your orders (orders), or any (orders:read)',
      params: IdParams,
      response: { 200: OrderSchema, 400: ErrorRef, 404: ErrorRef }
    }
  }, async (request) => toOrder(await reachableOrder(request, request.params.id, 'orders:read')))

  fastify.post('/:id/cancel', {
    config: { auth: ['orders', 'orders:write'] },
    schema: {
      tags: ['orders'],
      summary: 'Cancel a placed order, yours (orders) or any (orders:write); its stock goes back',
      params: IdParams,
      response: { 200: OrderSchema, 400: ErrorRef, 404: ErrorRef, 409: ErrorRef }
    }
  }, async (request) => {
    const order = await orders.cancel((await reachableOrder(request, request.params.id, 'orders:write')).id)
    // The stock came back: product pages kept in memory show the old figures.
    fastify.productPages.invalidate()
    return toOrder(order)
  })

  fastify.patch('/:id', {
    config: { auth: ['orders:write'] },
    schema: {
      tags: ['orders'],
      summary: 'Move an order along placed → shipped → delivered',
      params: IdParams,
      body: StatusChangeSchema,
      response: { 200: OrderSchema, 400: ErrorRef, 404: ErrorRef, 409: ErrorRef }
    }
  }, async (request) => {
    const order = await orders.moveTo(Number(request.params.id), request.body.status)
    if (!order) throw new errors.ORDER_NOT_FOUND()
    return toOrder(order)
  })
}

export default orderRoutes
