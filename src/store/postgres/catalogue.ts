import { and, asc, eq, gt, sql } from 'drizzle-orm'
import { driverErrorCode, PG_FOREIGN_KEY_VIOLATION, type PgDb } from '../../db/index.js'
import { categories, products } from '../../db/schema.pg.js'
import { definedOnly } from '../users.js'
import { columnsOf } from '../columns.js'
import { CATEGORY_COLUMNS, PRODUCT_COLUMNS, productRow, checkedProductWrite, insertGaveNoRow, escapeLike, type CatalogueRepository, type LoadCatalogueReport } from '../catalogue.js'

const categoryColumns = columnsOf(categories, CATEGORY_COLUMNS)
const productColumns = columnsOf(products, PRODUCT_COLUMNS)

// As on SQLite, the foreign key is the arbiter rather than a look-up first.
const isForeignKeyViolation = (error: unknown) => driverErrorCode(error) === PG_FOREIGN_KEY_VIOLATION
// Any constant: serialises catalogue loads, which decide "missing" by looking first.
const CATALOGUE_LOAD_LOCK = 7_250_431_991

export function createPostgresCatalogueRepository (db: PgDb): CatalogueRepository {
  const productById = db.select(productColumns).from(products).where(eq(products.id, sql.placeholder('id'))).prepare('products_by_id')
  const categoryByName = (executor: Pick<PgDb, 'select'>, name: string) => executor.select(categoryColumns).from(categories)
    .where(sql`lower(${categories.name}) = lower(${name})`)

  return {
    async listCategories (query) {
      return db.select(categoryColumns).from(categories)
        .where(query.afterId === undefined ? undefined : gt(categories.id, query.afterId))
        .orderBy(asc(categories.id)).limit(query.limit)
    },

    async createCategory (name) {
      // No conflict target: the unique index is on lower(name), which a column target would not match.
      const [category] = await db.insert(categories).values({ name: name.trim() }).onConflictDoNothing().returning(categoryColumns)
      return category
    },

    async deleteCategory (id) {
      try {
        return ((await db.delete(categories).where(eq(categories.id, id))).rowCount ?? 0) === 1 ? 'deleted' : 'not_found'
      } catch (error) {
        if (isForeignKeyViolation(error)) return 'in_use'
        throw error
      }
    },

    async listProducts (query) {
      return db.select(productColumns).from(products)
        .where(and(
          query.categoryId === undefined ? undefined : eq(products.categoryId, query.categoryId),
          query.q === undefined ? undefined : sql`${products.name} ILIKE ${`%${escapeLike(query.q)}%`} ESCAPE '\\'`,
          query.afterId === undefined ? undefined : gt(products.id, query.afterId)
        ))
        .orderBy(asc(products.id)).limit(query.limit)
    },

    async findProduct (id) {
      return (await productById.execute({ id }))[0]
    },

    async createProduct (input) {
      return await checkedProductWrite(isForeignKeyViolation, async () =>
        (await db.insert(products).values(productRow(input)).returning(productColumns))[0]) ?? insertGaveNoRow()
    },

    async updateProduct (id, changes) {
      const defined = definedOnly({ ...changes, name: changes.name?.trim() })
      return await checkedProductWrite(isForeignKeyViolation, async () => (Object.keys(defined).length === 0
        ? await productById.execute({ id })
        : await db.update(products).set(defined).where(eq(products.id, id)).returning(productColumns))[0]) ??
        { ok: false, reason: 'product_not_found' }
    },

    async deleteProduct (id) {
      return ((await db.delete(products).where(eq(products.id, id))).rowCount ?? 0) === 1
    },

    async loadCatalogue (entries) {
      const report: LoadCatalogueReport = { categoriesCreated: [], categoriesExisting: [], productsCreated: [], productsExisting: [] }
      await db.transaction(async (tx) => {
        await tx.execute(sql`SELECT pg_advisory_xact_lock(${CATALOGUE_LOAD_LOCK})`)
        for (const entry of entries) {
          const [inserted] = await tx.insert(categories).values({ name: entry.category.trim() }).onConflictDoNothing().returning(categoryColumns)
          const category = inserted ?? (await categoryByName(tx, entry.category.trim()))[0]
          if (!category) throw new Error(`category ${entry.category} neither inserted nor found`)
          ;(inserted ? report.categoriesCreated : report.categoriesExisting).push(category.name)

          for (const item of entry.products) {
            const name = item.name.trim()
            const [existing] = await tx.select({ id: products.id }).from(products)
              .where(and(eq(products.name, name), eq(products.categoryId, category.id)))
            if (existing) {
              report.productsExisting.push(name)
              continue
            }
            await tx.insert(products).values({
              name, description: item.description ?? '', priceCents: item.priceCents, stock: item.stock, categoryId: category.id
            })
            report.productsCreated.push(name)
          }
        }
      })
      return report
    }
  }
}
