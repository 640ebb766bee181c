import { and, asc, eq, gt, sql } from 'drizzle-orm'
import { schema, type SqliteDb } from '../../db/index.js'
import { definedOnly } from '../users.js'
import { columnsOf } from '../columns.js'
import {
  CATEGORY_COLUMNS, PRODUCT_COLUMNS, productRow, checkedProductWrite, insertGaveNoRow, escapeLike,
  type CatalogueRepository, type LoadCatalogueReport, type Product
} from '../catalogue.js'

const { categories, products } = schema

const categoryColumns = columnsOf(categories, CATEGORY_COLUMNS)
const productColumns = columnsOf(products, PRODUCT_COLUMNS)

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

export function createSqliteCatalogueRepository (db: SqliteDb): CatalogueRepository {
  const productById = db.select(productColumns).from(products).where(eq(products.id, sql.placeholder('id'))).prepare()
  // The catalogue's front page and its category pages, read far more than anything else:
  // raw prepared statements whose rows come back as arrays and become object literals
  // here (ids start at 1, so 0 is "from the start"). Row objects built column by column
  // by better-sqlite3, or drizzle's generic mapping, cost more than the query itself.
  type ProductRow = [id: number, name: string, description: string, priceCents: number, stock: number, categoryId: number | null, createdAt: string]
  // LIMIT is an expression, not a bare parameter: SQLite plans with a bare parameter's
  // value and so re-prepares the statement every time one is bound (a quarter of the read).
  const columns = 'id, name, description, price_cents, stock, category_id, created_at'
  const productPage = db.$client.prepare<[number, number], ProductRow>(
    `SELECT ${columns} FROM products WHERE id > ? ORDER BY id LIMIT CAST(? AS INTEGER)`).raw(true)
  const categoryPage = db.$client.prepare<[number, number, number], ProductRow>(
    `SELECT ${columns} FROM products WHERE category_id = ? AND id > ? ORDER BY id LIMIT CAST(? AS INTEGER)`).raw(true)
  const toProduct = (row: ProductRow): Product =>
    ({ id: row[0], name: row[1], description: row[2], priceCents: row[3], stock: row[4], categoryId: row[5], createdAt: row[6] })

  return {
    async listCategories (query) {
      return db.select(categoryColumns).from(categories)
        .where(query.afterId === undefined ? undefined : gt(categories.id, query.afterId))
        .orderBy(asc(categories.id)).limit(query.limit).all()
    },

    /** undefined when the name is taken (case-insensitively): the unique index decides. */
    async createCategory (name) {
      // No conflict target: the unique index is on an expression (name COLLATE NOCASE),
      // which a column target would not match.
      return db.insert(categories).values({ name: name.trim() })
        .onConflictDoNothing().returning(categoryColumns).all()[0]
    },

    async deleteCategory (id) {
      try {
        return db.delete(categories).where(eq(categories.id, id)).run().changes === 1 ? 'deleted' : 'not_found'
      } catch (error) {
        // products.category_id is ON DELETE RESTRICT.
        if (isForeignKeyViolation(error)) return 'in_use'
        throw error
      }
    },

    async listProducts (query) {
      if (query.q === undefined) {
        const afterId = query.afterId ?? 0
        const rows = query.categoryId === undefined
          ? productPage.all(afterId, query.limit)
          : categoryPage.all(query.categoryId, afterId, query.limit)
        return rows.map(toProduct)
      }
      return db.select(productColumns).from(products)
        .where(and(
          query.categoryId === undefined ? undefined : eq(products.categoryId, query.categoryId),
          // SQLite's LIKE folds ASCII case only.
          query.q === undefined ? undefined : sql`${products.name} LIKE ${`%${escapeLike(query.q)}%`} ESCAPE '\\'`,
          query.afterId === undefined ? undefined : gt(products.id, query.afterId)
        ))
        .orderBy(asc(products.id)).limit(query.limit).all()
    },

    async findProduct (id) {
      return productById.get({ id })
    },

    async createProduct (input) {
      return await checkedProductWrite(isForeignKeyViolation, () =>
        db.insert(products).values(productRow(input)).returning(productColumns).all()[0]) ?? insertGaveNoRow()
    },

    async updateProduct (id, changes) {
      const defined = definedOnly({ ...changes, name: changes.name?.trim() })
      // An UPDATE that matches no row checks no foreign key, so a foreign-key
      // failure means the product exists and the category does not.
      return await checkedProductWrite(isForeignKeyViolation, () => Object.keys(defined).length === 0
        ? productById.get({ id })
        : db.update(products).set(defined).where(eq(products.id, id)).returning(productColumns).all()[0]) ??
        { ok: false, reason: 'product_not_found' }
    },

    /** Cart lines go with the product (cascade); order lines stay, they have no foreign key. */
    async deleteProduct (id) {
      return db.delete(products).where(eq(products.id, id)).run().changes === 1
    },

    /**
     * Adds whatever of the catalogue is missing: categories by name (case-insensitive),
     * products by exact name within their category. One IMMEDIATE transaction takes the
     * write lock first, so two loads at once cannot both decide a product is missing.
     */
    async loadCatalogue (entries) {
      const report: LoadCatalogueReport = { categoriesCreated: [], categoriesExisting: [], productsCreated: [], productsExisting: [] }
      db.transaction((tx) => {
        for (const entry of entries) {
          const inserted = tx.insert(categories).values({ name: entry.category.trim() })
            .onConflictDoNothing().returning(categoryColumns).all()[0]
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
