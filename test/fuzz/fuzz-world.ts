import { createUser, login, type App, sqliteOf } from '../helper.js'

// The data a fuzz run stands on: three users (admin, customer, other), and
// ids 1..3 of categories, products, cart lines and orders. The fuzzer deletes,
// disables, demotes and signs these out as it goes; `replenish` and `heal` put
// them back with the same ids, so every operation meets ids that exist.

export interface Principal {
  readonly name: 'admin' | 'customer' | 'other'
  readonly role: 'admin' | 'customer'
  readonly id: number
  readonly email: string
  readonly password: string
  readonly passwordHash: string
  accessToken: string
  refreshToken: string
  /** How many times the fuzzer ended this user and it was brought back. */
  repairs: number
}

interface UserRow { id: number, email: string, role: string, disabled: number, password_hash: string }

export const SEED_IDS = [1, 2, 3] as const

export class FuzzWorld {
  readonly principals: Record<Principal['name'], Principal>
  private generation = 1_000_000

  private constructor (private readonly app: App, principals: Record<Principal['name'], Principal>) {
    this.principals = principals
  }

  static async create (app: App): Promise<FuzzWorld> {
    const make = async (name: Principal['name'], role: Principal['role']): Promise<Principal> => {
      const user = await createUser(app, { role, fullName: `Fuzz ${name}` })
      const row = sqliteOf(app).prepare('SELECT password_hash FROM users WHERE id = ?').get(user.id) as { password_hash: string }
      return { name, role, id: user.id, email: user.email, password: user.password, passwordHash: row.password_hash, accessToken: user.accessToken, refreshToken: user.refreshToken, repairs: 0 }
    }
    const world = new FuzzWorld(app, {
      admin: await make('admin', 'admin'),
      customer: await make('customer', 'customer'),
      other: await make('other', 'customer')
    })
    await world.seedThroughApi()
    world.replenish()
    return world
  }

  /**
   * The catalogue, a cart and three orders, made the way clients make them. Routes
   * still being written may fail here: `replenish` then writes the rows directly.
   */
  private async seedThroughApi (): Promise<void> {
    const { admin, customer, other } = this.principals
    const as = (who: Principal, method: 'POST', url: string, payload: object) =>
      this.app.inject({ method, url, payload, headers: { authorization: `Bearer ${who.accessToken}` } })
    for (const id of SEED_IDS) await as(admin, 'POST', '/categories', { name: `Fuzz category ${id}` })
    for (const id of SEED_IDS) {
      await as(admin, 'POST', '/products', { name: `Fuzz product ${id}`, description: 'seeded', price_cents: 100 * id, stock: 1_000_000, ...(id < 3 ? { category_id: id } : {}) })
    }
    for (const [who, productId] of [[customer, 1], [customer, 2], [other, 3]] as const) {
      await as(who, 'POST', '/cart/items', { product_id: productId, quantity: 1 })
      await as(who, 'POST', '/orders', { shipping_address: `${who.name} street ${productId}` })
    }
    await as(customer, 'POST', '/cart/items', { product_id: 1, quantity: 2 })
    await as(customer, 'POST', '/cart/items', { product_id: 2, quantity: 1 })
  }

  /** Puts back what the fuzzer deleted or used up: same ids, plenty of stock, orders that may still move. */
  replenish (): void {
    const db = sqliteOf(this.app)
    const now = new Date().toISOString()
    const currency = this.app.config.currency
    const { customer, other } = this.principals
    db.transaction(() => {
      for (const id of SEED_IDS) {
        const taken = db.prepare('SELECT id FROM categories WHERE id = ?').get(id)
        if (!taken) {
          // The name may have been taken by a category the fuzzer made; the id is what matters.
          db.prepare("UPDATE categories SET name = name || ' (renamed ' || id || ')' WHERE name = ? COLLATE NOCASE").run(`Fuzz category ${id}`)
          db.prepare('INSERT INTO categories (id, name, created_at) VALUES (?, ?, ?)').run(id, `Fuzz category ${id}`, now)
        }
      }
      for (const id of SEED_IDS) {
        db.prepare('INSERT OR IGNORE INTO products (id, name, description, price_cents, stock, category_id, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)')
          .run(id, `Fuzz product ${id}`, 'seeded', 100 * id, 1_000_000, id < 3 ? id : null, now)
      }
      db.prepare('UPDATE products SET stock = 1000000 WHERE id IN (1, 2, 3)').run()
      for (const productId of [1, 2]) {
        db.prepare('INSERT INTO cart_items (user_id, product_id, quantity, created_at) VALUES (?, ?, 1, ?) ON CONFLICT DO UPDATE SET quantity = 1').run(customer.id, productId, now)
      }
      for (const [orderId, owner] of [[1, customer], [2, customer], [3, other]] as const) {
        if (!db.prepare('SELECT id FROM users WHERE id = ?').get(owner.id)) continue
        db.prepare('INSERT OR IGNORE INTO orders (id, user_id, status, total_cents, currency, shipping_address, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)')
          .run(orderId, owner.id, 'placed', 100 * orderId, currency, `${owner.name} street ${orderId}`, now)
        if (!db.prepare('SELECT id FROM order_items WHERE order_id = ?').get(orderId)) {
          db.prepare('INSERT INTO order_items (order_id, product_id, name, price_cents, quantity) VALUES (?, ?, ?, ?, 1)').run(orderId, orderId, `Fuzz product ${orderId}`, 100 * orderId)
        }
      }
      // Cancelled or delivered orders would make every later cancel or status move a 409.
      db.prepare("UPDATE orders SET status = 'placed' WHERE id IN (1, 2, 3)").run()
    })()
  }

  /**
   * Brings back every principal the last request ended (deleted, disabled, demoted,
   * signed out, password changed): same id, e-mail and password, then a fresh login.
   */
  async heal (): Promise<Principal[]> {
    const healed: Principal[] = []
    for (const principal of Object.values(this.principals)) {
      if (await this.isIntact(principal)) continue
      await this.restore(principal)
      healed.push(principal)
    }
    if (healed.length > 0) this.replenish()
    return healed
  }

  private async isIntact (principal: Principal): Promise<boolean> {
    const row = sqliteOf(this.app).prepare('SELECT id, email, role, disabled, password_hash FROM users WHERE id = ?').get(principal.id) as UserRow | undefined
    if (!row || row.email !== principal.email || row.role !== principal.role || row.disabled !== 0 || row.password_hash !== principal.passwordHash) return false
    if (principal.name === 'other') return true
    const res = await this.app.inject({ method: 'GET', url: '/users/me', headers: { authorization: `Bearer ${principal.accessToken}` } })
    return res.statusCode === 200
  }

  private async restore (principal: Principal): Promise<void> {
    const db = sqliteOf(this.app)
    // A later generation than any token the old row handed out: those stay dead.
    const generation = ++this.generation
    db.transaction(() => {
      db.prepare('DELETE FROM users WHERE email = ? AND id != ?').run(principal.email, principal.id)
      const exists = db.prepare('SELECT id FROM users WHERE id = ?').get(principal.id)
      if (exists) {
        db.prepare('UPDATE users SET email = ?, role = ?, disabled = 0, password_hash = ?, token_generation = ? WHERE id = ?')
          .run(principal.email, principal.role, principal.passwordHash, generation, principal.id)
      } else {
        db.prepare('INSERT INTO users (id, email, full_name, role, disabled, password_hash, token_generation, created_at) VALUES (?, ?, ?, ?, 0, ?, ?, ?)')
          .run(principal.id, principal.email, `Fuzz ${principal.name}`, principal.role, principal.passwordHash, generation, new Date().toISOString())
      }
      db.prepare('DELETE FROM login_throttle WHERE email = ?').run(principal.email)
    })()
    const tokens = await login(this.app, principal.email, principal.password)
    principal.accessToken = tokens.access_token
    principal.refreshToken = tokens.refresh_token
    principal.repairs++
  }
}
