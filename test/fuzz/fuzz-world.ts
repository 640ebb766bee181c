import { createUser, login, type App, sqliteOf } from '../helper.js'

// The data a fuzz run stands on: three users (admin, customer, other), four
// service clients (contract v2), and ids 1..3 of categories, products, cart
// lines and orders. The fuzzer deletes, disables, demotes, re-scopes, rotates
// and signs these out as it goes; `replenish` and `heal` put them back with the
// same ids, so every operation meets ids that exist.

/** docs/API.md, "Scopes and service clients": the names, in the table's order (the order a `scope` lists them). */
export const ALL_SCOPES = ['account', 'cart', 'orders', 'catalogue:write', 'orders:read', 'orders:write', 'users:read', 'users:write', 'clients:admin'] as const
export type Scope = typeof ALL_SCOPES[number]
/** Who may hold what, by the same table: customers their own three, admins every one, clients the five in between. */
export const ROLE_SCOPES: Record<'customer' | 'admin', readonly Scope[]> = { customer: ['account', 'cart', 'orders'], admin: ALL_SCOPES }
export const CLIENT_SCOPES: readonly Scope[] = ['catalogue:write', 'orders:read', 'orders:write', 'users:read', 'users:write']
/** The scopes in the table's order, space-separated: what a token response or introspection says. */
export const scopeString = (scopes: Iterable<string>) => { const set = new Set(scopes); return ALL_SCOPES.filter((scope) => set.has(scope)).join(' ') }

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

export interface FuzzClient {
  /** full: every scope a client may hold; warehouse: orders; spare: a target; dormant: disabled. */
  readonly name: 'full' | 'warehouse' | 'spare' | 'dormant'
  readonly clientId: string
  readonly secret: string
  readonly secretHash: string
  readonly scopes: readonly Scope[]
  readonly disabled: boolean
  /** Its token generation as the world last set it: anything else means the fuzzer changed the client. */
  generation: number
  repairs: number
}

interface ClientRow { scopes: string, disabled: number, secret_hash: string, token_generation: number }

/** Whose token, narrowed to which scopes: a person's login or a client's client_credentials. */
export interface Grant { holder: 'customer' | 'admin' | 'full' | 'warehouse', scopes: readonly Scope[] }
/** A token the world got for a grant, with what the service said it granted. */
export interface Minted { accessToken: string, refreshToken?: string, granted: string }

export const SEED_IDS = [1, 2, 3] as const

export class FuzzWorld {
  readonly principals: Record<Principal['name'], Principal>
  readonly clients: Record<FuzzClient['name'], FuzzClient>
  /** Tokens whose holder the world brought back since: each must be refused now (the newest last). */
  readonly retired: string[] = []
  /** Tokens tokenFor asked the service for. */
  mints = 0
  private generation = 1_000_000
  private readonly minted = new Map<string, Minted>()

  private constructor (private readonly app: App, principals: Record<Principal['name'], Principal>, clients: Record<FuzzClient['name'], FuzzClient>) {
    this.principals = principals
    this.clients = clients
  }

  static async create (app: App): Promise<FuzzWorld> {
    const make = async (name: Principal['name'], role: Principal['role']): Promise<Principal> => {
      const user = await createUser(app, { role, fullName: `Fuzz ${name}` })
      const row = sqliteOf(app).prepare('SELECT password_hash FROM users WHERE id = ?').get(user.id) as { password_hash: string }
      return { name, role, id: user.id, email: user.email, password: user.password, passwordHash: row.password_hash, accessToken: user.accessToken, refreshToken: user.refreshToken, repairs: 0 }
    }
    const principals = {
      admin: await make('admin', 'admin'),
      customer: await make('customer', 'customer'),
      other: await make('other', 'customer')
    }
    // Clients are made the way an admin makes them: POST /clients, and PATCH to disable.
    const makeClient = async (name: FuzzClient['name'], scopes: readonly Scope[], disabled = false): Promise<FuzzClient> => {
      const headers = { authorization: `Bearer ${principals.admin.accessToken}` }
      const res = await app.inject({ method: 'POST', url: '/clients', headers, payload: { name: `Fuzz ${name}`, scopes } })
      if (res.statusCode !== 201) throw new Error(`POST /clients answered ${res.statusCode} ${res.body}`)
      const { client_id: clientId, client_secret: secret } = res.json<{ client_id: string, client_secret: string }>()
      if (disabled) {
        const patched = await app.inject({ method: 'PATCH', url: `/clients/${clientId}`, headers, payload: { disabled: true } })
        if (patched.statusCode !== 200) throw new Error(`PATCH /clients/${clientId} answered ${patched.statusCode} ${patched.body}`)
      }
      const row = sqliteOf(app).prepare('SELECT secret_hash, token_generation FROM clients WHERE client_id = ?').get(clientId) as { secret_hash: string, token_generation: number }
      return { name, clientId, secret, secretHash: row.secret_hash, scopes, disabled, generation: row.token_generation, repairs: 0 }
    }
    const clients = {
      full: await makeClient('full', CLIENT_SCOPES),
      warehouse: await makeClient('warehouse', ['orders:read', 'orders:write']),
      spare: await makeClient('spare', ['catalogue:write']),
      dormant: await makeClient('dormant', ['users:read'], true)
    }
    const world = new FuzzWorld(app, principals, clients)
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
  async heal (): Promise<Array<Principal | FuzzClient>> {
    const healed: Array<Principal | FuzzClient> = []
    for (const principal of Object.values(this.principals)) {
      if (await this.isIntact(principal)) continue
      this.retire(principal.name, principal.accessToken)
      await this.restore(principal)
      healed.push(principal)
    }
    for (const client of Object.values(this.clients)) {
      if (this.isClientIntact(client)) continue
      this.retire(client.name)
      this.restoreClient(client)
      healed.push(client)
    }
    if (healed.length > 0) this.replenish()
    return healed
  }

  /** A token for the grant, got once and kept while its holder stays whole. */
  async tokenFor (grant: Grant): Promise<Minted> {
    const key = `${grant.holder}|${scopeString(grant.scopes)}`
    const known = this.minted.get(key)
    if (known) return known
    const scope = scopeString(grant.scopes)
    const payload = grant.holder === 'customer' || grant.holder === 'admin'
      ? { grant_type: 'password', username: this.principals[grant.holder].email, password: this.principals[grant.holder].password, scope }
      : { grant_type: 'client_credentials', client_id: this.clients[grant.holder].clientId, client_secret: this.clients[grant.holder].secret, scope }
    const res = await this.app.inject({ method: 'POST', url: '/auth/token', payload })
    if (res.statusCode !== 200) throw new Error(`${grant.holder}'s token for "${scope}": ${res.statusCode} ${res.body}`)
    this.mints++
    const body = res.json<{ access_token: string, refresh_token?: string, scope: string }>()
    const minted = { accessToken: body.access_token, refreshToken: body.refresh_token, granted: body.scope }
    this.minted.set(key, minted)
    return minted
  }

  /** The holder's tokens, the cached ones and `also`, go to `retired`: its restore ends them. */
  private retire (holder: string, also?: string): void {
    const ended = [...this.minted].filter(([key]) => key.startsWith(`${holder}|`))
    for (const [key] of ended) this.minted.delete(key)
    this.retired.push(...(also === undefined ? [] : [also]), ...ended.map(([, minted]) => minted.accessToken))
    this.retired.splice(0, Math.max(0, this.retired.length - 20))
  }

  private isClientIntact (client: FuzzClient): boolean {
    const row = sqliteOf(this.app).prepare('SELECT scopes, disabled, secret_hash, token_generation FROM clients WHERE client_id = ?').get(client.clientId) as ClientRow | undefined
    return row !== undefined && row.scopes === client.scopes.join(' ') && row.disabled === Number(client.disabled) &&
      row.secret_hash === client.secretHash && row.token_generation === client.generation
  }

  /** Same id, secret, scopes and state; a later generation than any token it had, so those stay dead. */
  private restoreClient (client: FuzzClient): void {
    const db = sqliteOf(this.app)
    client.generation = ++this.generation
    const values = [`Fuzz ${client.name}`, client.scopes.join(' '), client.secretHash, Number(client.disabled), client.generation]
    const updated = db.prepare('UPDATE clients SET name = ?, scopes = ?, secret_hash = ?, disabled = ?, token_generation = ? WHERE client_id = ?').run(...values, client.clientId)
    if (updated.changes === 0) {
      db.prepare('INSERT INTO clients (name, scopes, secret_hash, disabled, token_generation, client_id, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)')
        .run(...values, client.clientId, new Date().toISOString())
    }
    client.repairs++
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
