export type OrderStatus = 'placed' | 'shipped' | 'delivered' | 'cancelled'

export interface OrderLine {
  productId: number
  name: string
  priceCents: number
  quantity: number
}

export interface Order {
  id: number
  userId: number
  status: OrderStatus
  totalCents: number
  currency: string
  shippingAddress: string
  createdAt: string
  items: OrderLine[]
}

// The only moves an admin may make; cancelling has its own route and returns stock.
export const NEXT_STATUS: Partial<Record<OrderStatus, OrderStatus>> = { placed: 'shipped', shipped: 'delivered' }

/** "59.97 USD" from 5997: integer arithmetic, no float rounding. */
export const formatMoney = (cents: number, currency: string) =>
  `${Math.floor(cents / 100)}.${String(cents % 100).padStart(2, '0')} ${currency}`

export function confirmationText (order: Order): string {
  return [
    `Thank you for your order #${order.id}.`,
    '',
    ...order.items.map((line) => `${line.quantity} × ${line.name} at ${formatMoney(line.priceCents, order.currency)}` +
      ` = ${formatMoney(line.priceCents * line.quantity, order.currency)}`),
    '',
    `Total: ${formatMoney(order.totalCents, order.currency)}`,
    `Shipping to: ${order.shippingAddress}`
  ].join('\n')
}

/** The columns of an Order (without its lines) and of an OrderLine, in both dialects. */
export const ORDER_COLUMNS = ['id', 'userId', 'status', 'totalCents', 'currency', 'shippingAddress', 'createdAt'] as const
export const ORDER_LINE_COLUMNS = ['productId', 'name', 'priceCents', 'quantity'] as const

export interface CheckoutInput {
  userId: number
  email: string
  shippingAddress: string
  currency: string
  idempotencyKey?: string
}

export interface OrderRepository {
  find (id: number): Promise<Order | undefined>
  /**
   * Checkout, all or nothing, in one transaction: the same Idempotency-Key from the
   * same user returns the first order (created: false); otherwise stock is taken with
   * conditional updates (no oversell under any concurrency, across instances too), the
   * order and its lines are written at today's names and prices, the cart is emptied
   * and the confirmation e-mail queued.
   */
  checkout (input: CheckoutInput): Promise<{ order: Order, created: boolean }>
  /** Newest first (ids grow with time, also within one second). */
  list (query: { userId?: number, beforeId?: number, limit: number }): Promise<Order[]>
  /** Cancels a placed order and gives its stock back, once, in one transaction. */
  cancel (id: number): Promise<Order>
  /** placed → shipped → delivered, nothing else; undefined when there is no such order. */
  moveTo (id: number, status: OrderStatus): Promise<Order | undefined>
}
