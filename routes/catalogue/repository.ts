import { and, asc, eq, gt, sql } from 'drizzle-orm'
import { schema, type Db } from '../../src/db/index.js'

const { categories, products } = schema

export interface Category {
  id: number
  name: string
}

export interface Product {
  id: number
  name: string
  description: string
  priceCents: number
  stock: number
  categoryId: number | null
  createdAt: string
}

export interface ProductInput {
  name: string
  description?: string
  priceCents: number
  stock: number
  categoryId?: number | null
}

export type ProductChanges = Partial<ProductInput>

const categoryColumns = { id: categories.id, name: categories.name }
const productColumns = {
  id: products.id,
  name: products.name,
  description: products.description,
  priceCents: products.priceCents,
  stock: products.stock,
  categoryId: products.categoryId,
  createdAt: products.createdAt
}

/**
 * True when the failure is SQLite refusing a foreign key. The constraint is the
 * arbiter rather than a look-up first, so no concurrent write can slip between.
 * drizzle wraps driver errors, hence the walk down `cause`. A dangling reference
 * is SQLITE_CONSTRAINT_FOREIGNKEY, but ON DELETE RESTRICT fires as
 * SQLITE_CONSTRAINT_TRIGGER with the same message.
 */
function isForeignKeyViolation (error: unknown): boolean {
  for (let current = error; current instanceof Error; current = current.cause) {
    const code = (current as Error & { code?: unknown }).code
    if ((code === 'SQLITE_CONSTRAINT_FOREIGNKEY' || code === 'SQLITE_CONSTRAINT_TRIGGER') &&
      current.message === 'FOREIGN KEY constraint failed') return true
  }
  return false
}

/** LIKE's wildcards become literal characters (paired with ESCAPE '\'). */
const escapeLike = (text: string) => text.replace(/[\\%_]/g, '\\$&')

const definedOnly = <T extends object>(changes: T): Partial<T> =>
  Object.fromEntries(Object.entries(changes).filter(([, value]) => value !== undefined)) as Partial<T>

export type CreateProductResult = { ok: true, product: Product } | { ok: false, reason: 'category_not_found' }
export type UpdateProductResult =
  | { ok: true, product: Product }
  | { ok: false, reason: 'product_not_found' | 'category_not_found' }
export type DeleteCategoryResult = 'deleted' | 'not_found' | 'in_use'

export interface CatalogueEntry {
  category: string
  products: Array<Omit<ProductInput, 'categoryId'>>
}

export interface LoadCatalogueReport {
  categoriesCreated: string[]
  categoriesExisting: string[]
  productsCreated: string[]
  productsExisting: string[]
}

export function createCatalogueRepository (db: Db) {
  const productById = db.select(productColumns).from(products).where(eq(products.id, sql.placeholder('id'))).prepare()

  return {
    listCategories (query: { afterId?: number, limit: number }): Category[] {
      return db.select(categoryColumns).from(categories)
        .where(query.afterId === undefined ? undefined : gt(categories.id, query.afterId))
        .orderBy(asc(categories.id)).limit(query.limit).all()
    },

    /** undefined when the name is taken (case-insensitively): the unique index decides. */
    createCategory (name: string): Category | undefined {
      // No conflict target: the unique index is on an expression (name COLLATE NOCASE),
      // which a column target would not match.
      return db.insert(categories).values({ name: name.trim() })
        .onConflictDoNothing().returning(categoryColumns).get()
    },

    deleteCategory (id: number): DeleteCategoryResult {
      try {
        return db.delete(categories).where(eq(categories.id, id)).run().changes === 1 ? 'deleted' : 'not_found'
      } catch (error) {
        // products.category_id is ON DELETE RESTRICT.
        if (isForeignKeyViolation(error)) return 'in_use'
        throw error
      }
    },

    listProducts (query: { categoryId?: number, q?: string, afterId?: number, limit: number }): Product[] {
      return db.select(productColumns).from(products)
        .where(and(
          query.categoryId === undefined ? undefined : eq(products.categoryId, query.categoryId),
          // SQLite's LIKE folds ASCII case only.
          query.q === undefined ? undefined : sql`${products.name} LIKE ${`%${escapeLike(query.q)}%`} ESCAPE '\\'`,
          query.afterId === undefined ? undefined : gt(products.id, query.afterId)
        ))
        .orderBy(asc(products.id)).limit(query.limit).all()
    },

    findProduct (id: number): Product | undefined {
      return productById.get({ id })
    },

    createProduct (input: ProductInput): CreateProductResult {
      try {
        const product = db.insert(products).values({
          name: input.name.trim(),
          description: input.description ?? '',
          priceCents: input.priceCents,
          stock: input.stock,
          categoryId: input.categoryId ?? null
        }).returning(productColumns).get()
        return { ok: true, product }
      } catch (error) {
        if (isForeignKeyViolation(error)) return { ok: false, reason: 'category_not_found' }
        throw error
      }
    },

    updateProduct (id: number, changes: ProductChanges): UpdateProductResult {
      const defined = definedOnly({ ...changes, name: changes.name?.trim() })
      try {
        // An UPDATE that matches no row checks no foreign key, so a foreign-key
        // failure means the product exists and the category does not.
        const product = Object.keys(defined).length === 0
          ? productById.get({ id })
          : db.update(products).set(defined).where(eq(products.id, id)).returning(productColumns).get()
        return product ? { ok: true, product } : { ok: false, reason: 'product_not_found' }
      } catch (error) {
        if (isForeignKeyViolation(error)) return { ok: false, reason: 'category_not_found' }
        throw error
      }
    },

    /** Cart lines go with the product (cascade); order lines stay, they have no foreign key. */
    deleteProduct (id: number): boolean {
      return db.delete(products).where(eq(products.id, id)).run().changes === 1
    },

    /**
     * Adds whatever of the catalogue is missing: categories by name (case-insensitive),
     * products by exact name within their category. One IMMEDIATE transaction takes the
     * write lock first, so two loads at once cannot both decide a product is missing.
     */
    loadCatalogue (entries: CatalogueEntry[]): LoadCatalogueReport {
      const report: LoadCatalogueReport = { categoriesCreated: [], categoriesExisting: [], productsCreated: [], productsExisting: [] }
      db.transaction((tx) => {
        for (const entry of entries) {
          const inserted = tx.insert(categories).values({ name: entry.category.trim() })
            .onConflictDoNothing().returning(categoryColumns).get()
          const category = inserted ?? tx.select(categoryColumns).from(categories)
            .where(sql`${categories.name} = ${entry.category.trim()} COLLATE NOCASE`).get()
          if (!category) throw new Error(`category ${entry.category} neither inserted nor found`)
          ;(inserted ? report.categoriesCreated : report.categoriesExisting).push(category.name)

          for (const item of entry.products) {
            const name = item.name.trim()
            const existing = tx.select({ id: products.id }).from(products)
              .where(and(eq(products.name, name), eq(products.categoryId, category.id))).get()
            if (existing) {
              report.productsExisting.push(name)
              continue
            }
            tx.insert(products).values({
              name,
              description: item.description ?? '',
              priceCents: item.priceCents,
              stock: item.stock,
              categoryId: category.id
            }).run()
            report.productsCreated.push(name)
          }
        }
      }, { behavior: 'immediate' })
      return report
    }
  }
}

export type CatalogueRepository = ReturnType<typeof createCatalogueRepository>
