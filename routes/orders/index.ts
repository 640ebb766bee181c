import type { FastifyRequest } from 'fastify'
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { errors } from '../../src/errors.js'
import { decodeCursor, toPage } from '../../src/pagination.js'
import { ErrorRef, IdParams } from '../../src/schemas.js'
import { CheckoutHeaders, CheckoutSchema, OrderListQuery, OrderPage, OrderSchema, StatusChangeSchema, toOrder } from './schemas.js'

const orderRoutes: FastifyPluginAsyncTypebox = async (fastify) => {
  const { orders } = fastify.repos

  /** The owner's or an admin's; anyone else gets the same 404 as a missing order. */
  async function visibleOrder (request: FastifyRequest, idParam: string) {
    const order = await orders.find(Number(idParam))
    if (!order || (order.userId !== request.user.id && request.user.role !== 'admin')) throw new errors.ORDER_NOT_FOUND()
    return order
  }

  fastify.post('/', {
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
    schema: {
      tags: ['orders'],
      summary: 'Your orders, newest first (admins: everyone\'s)',
      querystring: OrderListQuery,
      response: { 200: OrderPage, 400: ErrorRef }
    }
  }, async (request) => {
    const { limit, cursor, user_id: userIdFilter } = request.query
    const isAdmin = request.user.role === 'admin'
    const userId = isAdmin ? (userIdFilter === undefined ? undefined : Number(userIdFilter)) : request.user.id
    const rows = await orders.list({ userId, beforeId: decodeCursor(cursor), limit: limit + 1 })
    return toPage(rows, limit, toOrder)
  })

  fastify.get('/:id', {
    schema: {
      tags: ['orders'],
      summary: 'One of your orders (admins: any)',
      params: IdParams,
      response: { 200: OrderSchema, 400: ErrorRef, 404: ErrorRef }
    }
  }, async (request) => toOrder(await visibleOrder(request, request.params.id)))

  fastify.post('/:id/cancel', {
    schema: {
      tags: ['orders'],
      summary: 'Cancel a placed order; its stock goes back',
      params: IdParams,
      response: { 200: OrderSchema, 400: ErrorRef, 404: ErrorRef, 409: ErrorRef }
    }
  }, async (request) => {
    const order = await orders.cancel((await visibleOrder(request, request.params.id)).id)
    // The stock came back: product pages kept in memory show the old figures.
    fastify.productPages.invalidate()
    return toOrder(order)
  })

  fastify.patch('/:id', {
    config: { auth: 'admin' },
    schema: {
      tags: ['orders'],
      summary: 'Move an order along placed → shipped → delivered (admin)',
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
