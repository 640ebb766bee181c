import { Type, type Static } from '@sinclair/typebox'
import { StrictObject, IdString } from '../../src/schemas.js'
import { MAX_LINE_QUANTITY, type CartLine } from '../../src/store/cart.js'

const Quantity = Type.Integer({ minimum: 1, maximum: MAX_LINE_QUANTITY })

export const CartSchema = Type.Object({
  items: Type.Array(Type.Object({
    product_id: Type.Integer(),
    name: Type.String(),
    price_cents: Type.Integer(),
    quantity: Type.Integer(),
    line_total_cents: Type.Integer()
  })),
  total_cents: Type.Integer(),
  currency: Type.String()
}, { description: 'At current prices; stock is taken at checkout, not here' })
export type Cart = Static<typeof CartSchema>

export const AddItemSchema = StrictObject({
  product_id: Type.Integer({ minimum: 1, maximum: 999_999_999_999_999 }),
  quantity: Type.Integer({ minimum: 1, maximum: MAX_LINE_QUANTITY, description: 'Added to the line; the line holds at most 1000' })
})
export const SetQuantitySchema = StrictObject({ quantity: Quantity })
export const ProductIdParams = StrictObject({ product_id: IdString })

export function toCart (lines: CartLine[], currency: string): Cart {
  const items = lines.map((line) => ({
    product_id: line.productId,
    name: line.name,
    price_cents: line.priceCents,
    quantity: line.quantity,
    line_total_cents: line.priceCents * line.quantity
  }))
  return { items, total_cents: items.reduce((sum, item) => sum + item.line_total_cents, 0), currency }
}
