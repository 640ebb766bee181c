import t from 'tap'
import { eachStore, repositoriesOf } from './stores.js'

eachStore(t, 'catalogue: categories are unique case-insensitively; one in use is kept', async (t, store) => {
  const catalogue = repositoriesOf(store).catalogue
  const tea = await catalogue.createCategory('  Tea ')
  t.match(tea, { id: Number, name: 'Tea' })
  t.equal(await catalogue.createCategory('TEA'), undefined)
  const coffee = (await catalogue.createCategory('Coffee'))!
  t.same((await catalogue.listCategories({ limit: 10 })).map((category) => category.name), ['Tea', 'Coffee'])
  t.same((await catalogue.listCategories({ afterId: tea!.id, limit: 10 })).map((category) => category.name), ['Coffee'])
  await catalogue.createProduct({ name: 'Sencha', priceCents: 100, stock: 1, categoryId: tea!.id })
  t.equal(await catalogue.deleteCategory(tea!.id), 'in_use')
  t.equal(await catalogue.deleteCategory(coffee.id), 'deleted')
  t.equal(await catalogue.deleteCategory(coffee.id), 'not_found')
})

eachStore(t, 'catalogue: products, their category checked by the foreign key', async (t, store) => {
  const catalogue = repositoriesOf(store).catalogue
  const tea = (await catalogue.createCategory('Tea'))!
  t.same(await catalogue.createProduct({ name: 'Ghost', priceCents: 1, stock: 1, categoryId: 999_999_999_999 }), { ok: false, reason: 'category_not_found' })
  const created = await catalogue.createProduct({ name: ' Sencha ', description: 'Green', priceCents: 1299, stock: 5, categoryId: tea.id })
  t.match(created, { ok: true, product: { id: Number, name: 'Sencha', description: 'Green', priceCents: 1299, stock: 5, categoryId: tea.id, createdAt: String } })
  if (!created.ok) return
  const id = created.product.id
  t.same(await catalogue.findProduct(id), created.product)
  t.match(await catalogue.updateProduct(id, { priceCents: 1399, categoryId: null }), { ok: true, product: { priceCents: 1399, categoryId: null, name: 'Sencha' } })
  t.same(await catalogue.updateProduct(id, { categoryId: 999_999 }), { ok: false, reason: 'category_not_found' })
  t.same(await catalogue.updateProduct(999_999, { stock: 1 }), { ok: false, reason: 'product_not_found' })
  t.match(await catalogue.updateProduct(id, {}), { ok: true, product: { priceCents: 1399 } })
  t.equal(await catalogue.deleteProduct(id), true)
  t.equal(await catalogue.deleteProduct(id), false)
  t.equal(await catalogue.findProduct(id), undefined)
})

eachStore(t, 'catalogue: listing filters by category and name part; wildcards are literal', async (t, store) => {
  const catalogue = repositoriesOf(store).catalogue
  const tea = (await catalogue.createCategory('Tea'))!
  for (const name of ['Green tea', 'Black tea', '100% cocoa', 'Cocoa_nibs']) {
    await catalogue.createProduct({ name, priceCents: 1, stock: 1, categoryId: name.includes('tea') ? tea.id : null })
  }
  const names = async (query: Parameters<typeof catalogue.listProducts>[0]) => (await catalogue.listProducts(query)).map((product) => product.name)
  t.same(await names({ limit: 10 }), ['Green tea', 'Black tea', '100% cocoa', 'Cocoa_nibs'])
  t.same(await names({ categoryId: tea.id, limit: 10 }), ['Green tea', 'Black tea'])
  t.same(await names({ q: 'TEA', limit: 10 }), ['Green tea', 'Black tea'], 'case-insensitive')
  t.same(await names({ q: '%', limit: 10 }), ['100% cocoa'], '% is a character')
  t.same(await names({ q: '_', limit: 10 }), ['Cocoa_nibs'], '_ is a character')
  const [first] = await catalogue.listProducts({ limit: 1 })
  t.same(await names({ afterId: first!.id, limit: 2 }), ['Black tea', '100% cocoa'])
})

eachStore(t, 'catalogue: two loads at once add each thing once', async (t, store) => {
  const catalogue = repositoriesOf(store).catalogue
  const entries = [{ category: 'Tea', products: [{ name: 'Sencha', priceCents: 100, stock: 3 }, { name: 'Assam', priceCents: 200, stock: 4 }] }]
  const reports = await Promise.all([catalogue.loadCatalogue(entries), catalogue.loadCatalogue(entries), catalogue.loadCatalogue(entries)])
  t.equal(reports.reduce((sum, report) => sum + report.productsCreated.length, 0), 2)
  t.equal(reports.reduce((sum, report) => sum + report.categoriesCreated.length, 0), 1)
  t.equal((await catalogue.listProducts({ limit: 10 })).length, 2)
})
