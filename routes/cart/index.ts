import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { errors } from '../../src/errors.js'
import { ErrorRef, NoContent } from '../../src/schemas.js'
import { AddItemSchema, CartSchema, ProductIdParams, SetQuantitySchema, toCart } from './schemas.js'

// Every cart route is a person's own: a service client can never hold `cart`.
const CART = { auth: ['cart'] } as const

const cartRoutes: FastifyPluginAsyncTypebox = async (fastify) => {
  const carts = fastify.repos.cart
  const cartOf = async (userId: number) => toCart(await carts.lines(userId), fastify.config.currency)

  fastify.get('/', {
    config: CART,
    schema: { tags: ['cart'], summary: 'Your cart', response: { 200: CartSchema } }
  }, async (request) => cartOf(request.user.id))

  fastify.post('/items', {
    config: CART,
    schema: {
      tags: ['cart'],
      summary: 'Add to a line (creating it)',
      body: AddItemSchema,
      response: { 200: CartSchema, 400: ErrorRef, 404: ErrorRef, 409: ErrorRef }
    }
  }, async (request) => {
    await carts.add(request.user.id, request.body.product_id, request.body.quantity)
    return cartOf(request.user.id)
  })

  fastify.put('/items/:product_id', {
    config: CART,
    schema: {
      tags: ['cart'],
      summary: 'Set a line\'s quantity (creating it)',
      params: ProductIdParams,
      body: SetQuantitySchema,
      response: { 200: CartSchema, 400: ErrorRef, 404: ErrorRef, 409: ErrorRef }
    }
  }, async (request) => {
    await carts.set(request.user.id, Number(request.params.product_id), request.body.quantity)
    return cartOf(request.user.id)
  })

  fastify.delete('/items/:product_id', {
    config: CART,
    schema: {
      tags: ['cart'],
      summary: 'Remove a line',
      params: ProductIdParams,
      response: { 200: CartSchema, 400: ErrorRef, 404: ErrorRef }
    }
  }, async (request) => {
    if (!await carts.remove(request.user.id, Number(request.params.product_id))) throw new errors.CART_ITEM_NOT_FOUND()
    return cartOf(request.user.id)
  })

  fastify.delete('/', {
    config: CART,
    schema: { tags: ['cart'], summary: 'Empty your cart', response: { 204: NoContent } }
  }, async (request, reply) => {
    await carts.clear(request.user.id)
    return reply.code(204).send(null)
  })
}

export default cartRoutes
