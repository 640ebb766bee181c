import t from 'tap'
import type { InjectOptions } from 'fastify'
import { build, createUser, login, type TestUser } from '../helper.js'
import { insertProduct } from '../commerce-fixtures.js'

// Derived from the route table: every secured, non-admin operation with an id in
// its path touches something a user owns. User B, holding user A's id, must get
// the same 404 as for an id that does not exist, and A's things must not change.

interface Operation { method: string, path: string, secured: boolean, bodySchema?: { properties?: Record<string, unknown> } }

// A valid body for the operations that need one, by what their schema asks for.
const bodyFor = (operation: Operation): Record<string, unknown> | undefined => {
  const properties = Object.keys(operation.bodySchema?.properties ?? {})
  if (properties.length === 0) return undefined
  const values: Record<string, unknown> = { quantity: 1, full_name: 'Mallory', status: 'shipped', role: 'admin', disabled: true }
  return Object.fromEntries(properties.filter((name) => name in values).map((name) => [name, values[name]]))
}

t.test('another user\'s ids: 404 like a missing id, and nothing of the owner changes', async (t) => {
  const app = await build(t)
  const document = app.swagger() as unknown as { paths: Record<string, Record<string, { security?: unknown[], requestBody?: { content: Record<string, { schema: Operation['bodySchema'] }> } }>> }
  const operations: Operation[] = Object.entries(document.paths).flatMap(([path, methods]) =>
    Object.entries(methods).map(([method, op]) => ({
      method: method.toUpperCase(),
      path,
      secured: (op.security ?? []).length > 0,
      bodySchema: op.requestBody?.content['application/json']?.schema
    })))

  const probe = await createUser(app)
  const admin = await createUser(app, { role: 'admin' })
  // Admin operations are those a customer is refused with 403; they are covered by the 403 matrix.
  const owned: Operation[] = []
  for (const operation of operations.filter((op) => op.secured && /\{[^}]+\}/.test(op.path))) {
    const res = await probe.inject({ method: operation.method as 'GET', url: operation.path.replace(/\{[^}]+\}/g, '999999'), payload: bodyFor(operation) })
    if (res.statusCode !== 403) owned.push(operation)
  }
  t.comment(`user-owned operations: ${owned.map((op) => `${op.method} ${op.path}`).join(', ')}`)
  t.ok(owned.length >= 6, `${owned.length} operations in the matrix`)

  for (const operation of owned) {
    const name = `${operation.method} ${operation.path}`
    // A fresh owner with an order and a cart line, so each probe starts from a known state.
    const owner: TestUser = await createUser(app)
    const intruder = await createUser(app)
    const product = insertProduct(app, { stock: 100 })
    const inCart = insertProduct(app, { stock: 100 })
    await owner.inject({ method: 'POST', url: '/cart/items', payload: { product_id: product.id, quantity: 2 } })
    const order = (await owner.inject({ method: 'POST', url: '/orders', payload: { shipping_address: 'Owner Road 1' } })).json<{ id: number }>()
    await owner.inject({ method: 'POST', url: '/cart/items', payload: { product_id: inCart.id, quantity: 3 } })

    const idOf = (param: string) => {
      if (param === 'product_id') return inCart.id
      return operation.path.startsWith('/users') ? owner.id : order.id
    }
    const request = (idFor: (param: string) => number | string): InjectOptions => ({
      method: operation.method as 'GET',
      url: operation.path.replace(/\{([^}]+)\}/g, (_, param: string) => String(idFor(param))),
      payload: bodyFor(operation)
    })
    const snapshot = async () => ({
      me: (await owner.inject({ method: 'GET', url: '/users/me' })).json(),
      order: (await owner.inject({ method: 'GET', url: `/orders/${order.id}` })).json(),
      cart: (await owner.inject({ method: 'GET', url: '/cart' })).json()
    })
    const before = await snapshot()

    const foreign = await intruder.inject(request(idOf))
    const missing = await intruder.inject(request(() => 999999))
    if (operation.path.startsWith('/cart/')) {
      // Cart paths name a product, and every user has their own cart: B's call can only touch B's cart.
      t.not(foreign.statusCode, 500, `${name}: no error`)
    } else {
      t.equal(foreign.statusCode, 404, `${name}: another user's id is 404`)
      t.same(foreign.json(), missing.json(), `${name}: the same answer as a missing id`)
    }
    t.same(await snapshot(), before, `${name}: the owner's account, order and cart are unchanged`)
    await t.resolves(login(app, owner.email, owner.password), `${name}: the owner can still log in`)
  }
  t.equal((await admin.inject({ method: 'GET', url: '/users/me' })).statusCode, 200)
})
