export const MAX_LINE_QUANTITY = 1000

/** A cart line's columns: the line's own, then its product's (current name, price and stock). */
export const CART_LINE_COLUMNS = ['productId', 'quantity'] as const
export const CART_PRODUCT_COLUMNS = ['name', 'priceCents', 'stock'] as const

export interface CartLine {
  productId: number
  name: string
  priceCents: number
  quantity: number
  stock: number
}

/** A user's cart; a line exists only for a product that exists, with 1–1000 of it, within stock. */
export interface CartRepository {
  /** Oldest line first. */
  lines (userId: number): Promise<CartLine[]>
  /** Adds to the line (creating it); the resulting quantity must stay within 1–1000 and stock. */
  add (userId: number, productId: number, quantity: number): Promise<void>
  /** Sets the line (creating it) to a quantity within stock. */
  set (userId: number, productId: number, quantity: number): Promise<void>
  /** false when the product was not in the cart. */
  remove (userId: number, productId: number): Promise<boolean>
  clear (userId: number): Promise<void>
}
