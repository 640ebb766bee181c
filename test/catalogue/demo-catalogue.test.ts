import { execFileSync } from 'node:child_process'
import t from 'tap'
import Database from 'better-sqlite3'
import path from 'node:path'
import { build, tempDir } from '../helper.js'
import type { operations } from '../../openapi/schema.js'

// A product as the published contract describes it.
type ProductBody = operations['getProductsById']['responses'][200]['content']['application/json']

const runDemo = (dataDir: string) => execFileSync('npx', ['tsx', 'src/cli/demo-catalogue.ts'], {
  env: { ...process.env, DATA_DIR: dataDir },
  encoding: 'utf8',
  stdio: ['ignore', 'pipe', 'pipe']
})

function counts (dataDir: string) {
  const sqlite = new Database(path.join(dataDir, 'ecommerce.db'), { readonly: true })
  try {
    return {
      categories: (sqlite.prepare('SELECT count(*) AS n FROM categories').get() as { n: number }).n,
      products: (sqlite.prepare('SELECT count(*) AS n FROM products').get() as { n: number }).n
    }
  } finally {
    sqlite.close()
  }
}

t.test('npm run demo-catalogue loads 3 categories and 8 products once, however often it runs', async (t) => {
  const dataDir = tempDir(t)
  const first = runDemo(dataDir)
  t.match(first, /categories: 3 added, 0 already there/)
  t.match(first, /products: 8 added, 0 already there/)
  t.same(counts(dataDir), { categories: 3, products: 8 })

  const second = runDemo(dataDir)
  t.match(second, /categories: 0 added, 3 already there/)
  t.match(second, /products: 0 added, 8 already there/)
  t.same(counts(dataDir), { categories: 3, products: 8 }, 'nothing duplicated')

  const app = await build(t, {}, dataDir)
  const categories = (await app.inject({ method: 'GET', url: '/categories' })).json<{ items: Array<{ id: number, name: string }> }>()
  t.equal(categories.items.length, 3)
  const categoryIds = new Set(categories.items.map((category) => category.id))

  const res = await app.inject({ method: 'GET', url: '/products?limit=100' })
  t.equal(res.statusCode, 200)
  const page = res.json<{ items: ProductBody[], next_cursor: string | null }>()
  t.equal(page.next_cursor, null)
  t.equal(page.items.length, 8)
  t.equal(new Set(page.items.map((product) => product.name)).size, 8, 'eight different products')
  for (const product of page.items) {
    t.ok(first.includes(`+ ${product.name}`), `${product.name} was reported as added`)
    t.ok(product.name.length > 0 && product.description.length > 0, `${product.name} has a description`)
    t.ok(Number.isInteger(product.price_cents) && product.price_cents > 0, `${product.name} has a price`)
    t.ok(Number.isInteger(product.stock) && product.stock >= 0, `${product.name} has a stock`)
    t.equal(product.currency, 'USD')
    t.ok(product.category_id !== null && categoryIds.has(product.category_id), `${product.name} is in a demo category`)
  }
  for (const category of categories.items) {
    const inCategory = (await app.inject({ method: 'GET', url: `/products?category_id=${category.id}` })).json<{ items: unknown[] }>()
    t.ok(inCategory.items.length >= 2, `${category.name} has products`)
  }
})

t.test('demo-catalogue names the bad variable and exits non-zero on bad configuration', async (t) => {
  const dataDir = tempDir(t)
  try {
    execFileSync('npx', ['tsx', 'src/cli/demo-catalogue.ts'], {
      env: { ...process.env, DATA_DIR: dataDir, CURRENCY: 'dollars' },
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe']
    })
    t.fail('should have exited non-zero')
  } catch (error) {
    const failure = error as { status: number, stderr: string }
    t.equal(failure.status, 1)
    t.match(failure.stderr, /Invalid configuration: CURRENCY/)
  }
})
