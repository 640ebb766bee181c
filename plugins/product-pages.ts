import fp from 'fastify-plugin'
import { LRUCache } from 'lru-cache'

declare module 'fastify' {
  interface FastifyInstance {
    /** Serialised pages of GET /products, shared by the catalogue (reads) and orders (stock changes). */
    productPages: ProductPages
  }
}

export interface ProductPages {
  get (key: string): Buffer | undefined
  /** Taken before reading the rows of a page; set() ignores a page read before the latest invalidate(). */
  version (): number
  set (key: string, body: Buffer, readAt: number): void
  /** Every page goes: call after any committed write that changes a product or its stock. */
  invalidate (): void
}

/**
 * The catalogue's pages are the same for every caller and read far more than they
 * change, so the serialised JSON of a page is kept for CATALOGUE_CACHE_MS. This
 * instance drops every page at each of its own product or stock writes, so it never
 * answers with what it has itself replaced; writes by other instances (or the
 * demo-catalogue command) show within CATALOGUE_CACHE_MS. Checkout always reads the
 * real stock. 0 turns the cache off.
 */
export default fp(async function productPages (fastify) {
  const ttl = fastify.config.catalogueCacheMs
  if (ttl === 0) {
    fastify.decorate('productPages', { get: () => undefined, version: () => 0, set: () => {}, invalidate: () => {} })
    return
  }
  // Bounded by bytes, not entries: a page of 100 long descriptions weighs more than one of 5.
  // Kept as bytes, so a page from memory is not encoded to UTF-8 again on every answer.
  const pages = new LRUCache<string, Buffer>({ ttl, maxSize: 4_000_000, sizeCalculation: (body) => body.length })
  // A page read while a write was committing could otherwise be stored after that
  // write's invalidate() and outlive it: each page carries the version it was read at.
  let version = 0
  fastify.decorate('productPages', {
    get: (key) => pages.get(key),
    version: () => version,
    set: (key, body, readAt) => { if (readAt === version) pages.set(key, body) },
    invalidate: () => { version++; pages.clear() }
  })
}, { name: 'product-pages' })
