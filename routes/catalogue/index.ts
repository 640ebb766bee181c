import type { FastifyReply } from 'fastify'
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { errors } from '../../src/errors.js'
import { decodeCursor, toPage } from '../../src/pagination.js'
import { ErrorRef, IdParams, NoContent } from '../../src/schemas.js'
import {
  CategorySchema, CategoryPage, CategoryListQuery, CreateCategorySchema, toCategory,
  ProductSchema, ProductPage, ProductListQuery, CreateProductSchema, UpdateProductSchema, toProduct
} from './schemas.js'

/**
 * Sends JSON already serialised by the route's response schema. The type provider
 * types send() by that schema's object, which a finished string is not.
 */
const sendSerialised = (reply: FastifyReply, body: Buffer) => reply.type('application/json; charset=utf-8').send(body)

// Routes of docs/API.md's catalogue section. Registered without a prefix: it owns two collections.
const CATALOGUE_WRITE = { auth: ['catalogue:write'] } as const

const catalogueRoutes: FastifyPluginAsyncTypebox = async (fastify) => {
  const { catalogue } = fastify.repos
  const productBody = toProduct(fastify.config.currency)

  fastify.get('/categories', {
    config: { auth: 'public' },
    schema: {
      tags: ['catalogue'],
      summary: 'List categories',
      querystring: CategoryListQuery,
      response: { 200: CategoryPage, 400: ErrorRef }
    }
  }, async (request) => {
    const { limit, cursor } = request.query
    const rows = await catalogue.listCategories({ afterId: decodeCursor(cursor), limit: limit + 1 })
    return toPage(rows, limit, toCategory)
  })

  fastify.post('/categories', {
    config: CATALOGUE_WRITE,
    schema: {
      tags: ['catalogue'],
      summary: 'Create a category',
      body: CreateCategorySchema,
      response: { 201: CategorySchema, 400: ErrorRef, 409: ErrorRef }
    }
  }, async (request, reply) => {
    const category = await catalogue.createCategory(request.body.name)
    if (!category) throw new errors.CATEGORY_EXISTS()
    return reply.code(201).send(toCategory(category))
  })

  fastify.delete('/categories/:id', {
    config: CATALOGUE_WRITE,
    schema: {
      tags: ['catalogue'],
      summary: 'Delete a category no product uses',
      params: IdParams,
      response: { 204: NoContent, 400: ErrorRef, 404: ErrorRef, 409: ErrorRef }
    }
  }, async (request, reply) => {
    const outcome = await catalogue.deleteCategory(Number(request.params.id))
    if (outcome === 'not_found') throw new errors.CATEGORY_NOT_FOUND()
    if (outcome === 'in_use') throw new errors.CATEGORY_NOT_EMPTY()
    return reply.code(204).send(null)
  })

  fastify.get('/products', {
    config: { auth: 'public' },
    schema: {
      tags: ['catalogue'],
      summary: 'List products, optionally of one category or by name',
      querystring: ProductListQuery,
      response: { 200: ProductPage, 400: ErrorRef }
    }
  }, async (request, reply) => {
    const { limit, cursor, category_id: categoryId, q } = request.query
    const query = {
      categoryId: categoryId === undefined ? undefined : Number(categoryId),
      q,
      afterId: decodeCursor(cursor),
      limit: limit + 1
    }
    // Searches are not kept: their keys are as many as the words people type.
    const key = q === undefined ? `${query.categoryId ?? ''}/${query.afterId ?? ''}/${limit}` : undefined
    let body = key === undefined ? undefined : fastify.productPages.get(key)
    if (body === undefined) {
      const readAt = fastify.productPages.version()
      // Serialised by this route's response schema, so a page from memory is byte for byte what it would have been.
      // (A schema serialiser returns a string; the wider return type covers custom ones.)
      body = Buffer.from(reply.serialize(toPage(await catalogue.listProducts(query), limit, productBody)) as string)
      if (key !== undefined) fastify.productPages.set(key, body, readAt)
    }
    return sendSerialised(reply as unknown as FastifyReply, body)
  })

  fastify.get('/products/:id', {
    config: { auth: 'public' },
    schema: {
      tags: ['catalogue'],
      summary: 'One product',
      params: IdParams,
      response: { 200: ProductSchema, 400: ErrorRef, 404: ErrorRef }
    }
  }, async (request) => {
    const product = await catalogue.findProduct(Number(request.params.id))
    if (!product) throw new errors.PRODUCT_NOT_FOUND()
    return productBody(product)
  })

  fastify.post('/products', {
    config: CATALOGUE_WRITE,
    schema: {
      tags: ['catalogue'],
      summary: 'Create a product',
      body: CreateProductSchema,
      response: { 201: ProductSchema, 400: ErrorRef, 404: ErrorRef }
    }
  }, async (request, reply) => {
    const { name, description, price_cents: priceCents, stock, category_id: categoryId } = request.body
    const result = await catalogue.createProduct({ name, description, priceCents, stock, categoryId })
    if (!result.ok) throw new errors.CATEGORY_NOT_FOUND()
    fastify.productPages.invalidate()
    return reply.code(201).send(productBody(result.product))
  })

  fastify.patch('/products/:id', {
    config: CATALOGUE_WRITE,
    schema: {
      tags: ['catalogue'],
      summary: 'Change a product',
      params: IdParams,
      body: UpdateProductSchema,
      response: { 200: ProductSchema, 400: ErrorRef, 404: ErrorRef }
    }
  }, async (request) => {
    const { name, description, price_cents: priceCents, stock, category_id: categoryId } = request.body
    const result = await catalogue.updateProduct(Number(request.params.id), { name, description, priceCents, stock, categoryId })
    if (!result.ok) {
      throw result.reason === 'product_not_found' ? new errors.PRODUCT_NOT_FOUND() : new errors.CATEGORY_NOT_FOUND()
    }
    fastify.productPages.invalidate()
    return productBody(result.product)
  })

  fastify.delete('/products/:id', {
    config: CATALOGUE_WRITE,
    schema: {
      tags: ['catalogue'],
      summary: 'Delete a product; past orders keep their lines',
      params: IdParams,
      response: { 204: NoContent, 400: ErrorRef, 404: ErrorRef }
    }
  }, async (request, reply) => {
    if (!await catalogue.deleteProduct(Number(request.params.id))) throw new errors.PRODUCT_NOT_FOUND()
    fastify.productPages.invalidate()
    return reply.code(204).send(null)
  })
}

export default catalogueRoutes
