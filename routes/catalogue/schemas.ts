import { Type, type Static } from '@sinclair/typebox'
import { StrictObject, IdString, PageQuery, Page, TimestampSchema } from '../../src/schemas.js'
import type { Category, Product } from '../../src/store/catalogue.js'

// A name shows up in listings and order lines: it must have something visible and
// no control characters (newlines, NUL). Surrounding blanks are trimmed before storing,
// so " Books " and "books" are the same category.
const visibleName = '^(?=.*\\S)[^\\u0000-\\u001F\\u007F]+$'
const CategoryName = Type.String({
  minLength: 1,
  maxLength: 100,
  pattern: visibleName,
  description: '1–100 characters as sent, not only blanks; stored trimmed; unique case-insensitively'
})
const ProductName = Type.String({
  minLength: 1,
  maxLength: 200,
  pattern: visibleName,
  description: '1–200 characters as sent, not only blanks; stored trimmed'
})
const Description = Type.String({ maxLength: 2000 })
const PriceCents = Type.Integer({ minimum: 0, maximum: 100_000_000, description: 'Integer minor units of `currency`' })
const Stock = Type.Integer({ minimum: 0, maximum: 1_000_000 })
const CategoryId = Type.Union([
  Type.Integer({ minimum: 1, maximum: 999_999_999_999_999 }),
  Type.Null()
], { description: 'An existing category, or null for none; an unknown id is 404 CATEGORY_NOT_FOUND' })

export const CategorySchema = Type.Object({
  id: Type.Integer(),
  name: Type.String()
})
export type CategoryBody = Static<typeof CategorySchema>

export const toCategory = (category: Category): CategoryBody => ({ id: category.id, name: category.name })

export const CreateCategorySchema = StrictObject({ name: CategoryName })
export const CategoryListQuery = StrictObject({ ...PageQuery })
export const CategoryPage = Page(CategorySchema)

export const ProductSchema = Type.Object({
  id: Type.Integer(),
  name: Type.String(),
  description: Type.String(),
  price_cents: Type.Integer(),
  currency: Type.String({ description: 'The service\'s one configured currency (ISO 4217)' }),
  stock: Type.Integer(),
  category_id: Type.Union([Type.Integer(), Type.Null()]),
  created_at: TimestampSchema
})
export type ProductBody = Static<typeof ProductSchema>

export const toProduct = (currency: string) => (product: Product): ProductBody => ({
  id: product.id,
  name: product.name,
  description: product.description,
  price_cents: product.priceCents,
  currency,
  stock: product.stock,
  category_id: product.categoryId,
  created_at: product.createdAt
})

export const CreateProductSchema = StrictObject({
  name: ProductName,
  description: Type.Optional(Description),
  price_cents: PriceCents,
  stock: Stock,
  category_id: Type.Optional(CategoryId)
}, { description: 'description defaults to ""; category_id to null. An unknown category_id is 404 CATEGORY_NOT_FOUND' })

// StrictObject takes no minProperties; this is the same strict object plus "change something".
export const UpdateProductSchema = Type.Object({
  name: Type.Optional(ProductName),
  description: Type.Optional(Description),
  price_cents: Type.Optional(PriceCents),
  stock: Type.Optional(Stock),
  category_id: Type.Optional(CategoryId)
}, {
  additionalProperties: false,
  minProperties: 1,
  description: 'At least one field. An unknown category_id is 404 CATEGORY_NOT_FOUND; category_id null removes the category'
})

export const ProductListQuery = StrictObject({
  ...PageQuery,
  category_id: Type.Optional(IdString),
  q: Type.Optional(Type.String({
    minLength: 1,
    maxLength: 200,
    description: 'Name contains this text, case-insensitively (ASCII letters); `%` and `_` are literal'
  }))
})
export const ProductPage = Page(ProductSchema)
