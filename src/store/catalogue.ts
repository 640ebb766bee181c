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

export interface CatalogueRepository {
  listCategories (query: { afterId?: number, limit: number }): Promise<Category[]>
  /** undefined when the name is taken (case-insensitively): the unique index decides. */
  createCategory (name: string): Promise<Category | undefined>
  /** A category that products still use is not deleted ('in_use'). */
  deleteCategory (id: number): Promise<DeleteCategoryResult>
  /** `q` matches a part of the name, case-insensitively. */
  listProducts (query: { categoryId?: number, q?: string, afterId?: number, limit: number }): Promise<Product[]>
  findProduct (id: number): Promise<Product | undefined>
  createProduct (input: ProductInput): Promise<CreateProductResult>
  updateProduct (id: number, changes: ProductChanges): Promise<UpdateProductResult>
  /** Cart lines go with the product (cascade); order lines stay, they have no foreign key. */
  deleteProduct (id: number): Promise<boolean>
  /**
   * Adds whatever of the catalogue is missing: categories by name (case-insensitive),
   * products by exact name within their category; two loads at once add each thing once.
   */
  loadCatalogue (entries: CatalogueEntry[]): Promise<LoadCatalogueReport>
}

/** LIKE's wildcards become literal characters (paired with ESCAPE '\'). */
/** The columns of a Category and a Product, in both dialects. */
export const CATEGORY_COLUMNS = ['id', 'name'] as const
export const PRODUCT_COLUMNS = ['id', 'name', 'description', 'priceCents', 'stock', 'categoryId', 'createdAt'] as const

/** A new product's row: the name trimmed, the optional fields filled in. */
export const productRow = (input: ProductInput) => ({
  name: input.name.trim(),
  description: input.description ?? '',
  priceCents: input.priceCents,
  stock: input.stock,
  categoryId: input.categoryId ?? null
})

/**
 * A product insert or update, judged the same on both stores: the category's foreign key
 * refusing it means that category does not exist; no row back is undefined (for an
 * update, no such product).
 */
export async function checkedProductWrite (
  isForeignKeyViolation: (error: unknown) => boolean,
  write: () => Product | undefined | Promise<Product | undefined>
): Promise<{ ok: true, product: Product } | { ok: false, reason: 'category_not_found' } | undefined> {
  try {
    const product = await write()
    return product && { ok: true, product }
  } catch (error) {
    if (isForeignKeyViolation(error)) return { ok: false, reason: 'category_not_found' }
    throw error
  }
}

export const insertGaveNoRow = (): never => { throw new Error('INSERT … RETURNING gave no row') }

export const escapeLike = (text: string) => text.replace(/[\\%_]/g, '\\$&')
