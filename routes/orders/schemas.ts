import { Type, type Static } from '@sinclair/typebox'
import { StrictObject, IdString, PageQuery, Page, TimestampSchema } from '../../src/schemas.js'
import type { Order, OrderStatus } from '../../src/store/orders.js'

const STATUSES: OrderStatus[] = ['placed', 'shipped', 'delivered', 'cancelled']
// A plain enum rather than a union of literals: a bad value then reads
// "must be equal to one of the allowed values", not one complaint per literal.
const statusSchema = (options: { description?: string } = {}) =>
  Type.Unsafe<OrderStatus>({ type: 'string', enum: STATUSES, ...options })

export const OrderSchema = Type.Object({
  id: Type.Integer(),
  user_id: Type.Integer(),
  status: statusSchema(),
  items: Type.Array(Type.Object({
    product_id: Type.Integer(),
    name: Type.String({ description: 'As it was when ordered' }),
    price_cents: Type.Integer({ description: 'As it was when ordered' }),
    quantity: Type.Integer()
  })),
  total_cents: Type.Integer(),
  currency: Type.String(),
  shipping_address: Type.String(),
  created_at: TimestampSchema
})
export type OrderBody = Static<typeof OrderSchema>

export const toOrder = (order: Order): OrderBody => ({
  id: order.id,
  user_id: order.userId,
  status: order.status,
  items: order.items.map((line) => ({
    product_id: line.productId, name: line.name, price_cents: line.priceCents, quantity: line.quantity
  })),
  total_cents: order.totalCents,
  currency: order.currency,
  shipping_address: order.shippingAddress,
  created_at: order.createdAt
})

export const CheckoutSchema = StrictObject({ shipping_address: Type.String({ minLength: 1, maxLength: 500 }) })
export const CheckoutHeaders = Type.Object({
  'idempotency-key': Type.Optional(Type.String({
    minLength: 1,
    maxLength: 255,
    description: 'Repeat a checkout safely: the same key from the same user returns the first order (200), kept indefinitely'
  }))
})
export const OrderListQuery = StrictObject({
  ...PageQuery,
  user_id: Type.Optional(Type.String({ ...IdString, description: 'Admins only: one user\'s orders; ignored for customers' }))
})
export const OrderPage = Page(OrderSchema)
// Every status is a well-formed request; only placed → shipped → delivered is a
// valid move, and anything else (cancelling included: that has its own route,
// which returns stock) is a 409 INVALID_STATUS_TRANSITION rather than a 400.
export const StatusChangeSchema = StrictObject({
  status: statusSchema({ description: 'placed → shipped → delivered; any other move is 409 INVALID_STATUS_TRANSITION' })
})
