// A typed client of ecommerce-api, built on the generated openapi/schema.d.ts
// with openapi-fetch: logs in, refreshes its access token when a call answers
// 401, fills the cart and places an order.
//   npx tsx examples/client.ts http://127.0.0.1:3000 ann@example.com 'correct horse battery' <product id>
import createClient, { type Middleware } from 'openapi-fetch'
import type { paths } from '../openapi/schema.js'

export interface Session { accessToken: string, refreshToken: string, refreshes: number }

export async function runClient (options: { baseUrl: string, email: string, password: string, productId: number, log?: (line: string) => void }) {
  const log = options.log ?? console.log
  const api = createClient<paths>({ baseUrl: options.baseUrl })
  const session: Session = { accessToken: '', refreshToken: '', refreshes: 0 }

  const tokenRequest = async (body: Record<string, string>) => {
    const { data, error } = await api.POST('/auth/token', {
      body,
      bodySerializer: (fields) => new URLSearchParams(fields as Record<string, string>).toString(),
      headers: { 'content-type': 'application/x-www-form-urlencoded' }
    })
    if (!data) throw new Error(`token request failed: ${JSON.stringify(error)}`)
    session.accessToken = data.access_token
    session.refreshToken = data.refresh_token
  }

  await tokenRequest({ grant_type: 'password', username: options.email, password: options.password })
  log('logged in')

  // Bearer on every call; on a 401, one refresh with the refresh token, then the call again.
  // A sent request's body is spent: keep an unsent copy for the one retry.
  const unsent = new Map<string, Request>()
  const auth: Middleware = {
    onRequest ({ request, id }) {
      if (request.url.endsWith('/auth/token')) return request
      request.headers.set('authorization', `Bearer ${session.accessToken}`)
      unsent.set(id, request.clone())
      return request
    },
    async onResponse ({ request, response, id }) {
      const copy = unsent.get(id)
      unsent.delete(id)
      if (response.status !== 401 || !copy) return response
      await tokenRequest({ grant_type: 'refresh_token', refresh_token: session.refreshToken })
      session.refreshes++
      log('access token refreshed')
      copy.headers.set('authorization', `Bearer ${session.accessToken}`)
      return fetch(copy)
    }
  }
  api.use(auth)

  const me = await api.GET('/users/me')
  if (!me.data) throw new Error(`GET /users/me: ${JSON.stringify(me.error)}`)
  log(`hello ${me.data.email}`)
  return {
    session,
    me: me.data,
    /** Adds the product and checks out; returns the order. */
    async order () {
      const cart = await api.POST('/cart/items', { body: { product_id: options.productId, quantity: 1 } })
      if (!cart.data) throw new Error(`POST /cart/items: ${JSON.stringify(cart.error)}`)
      log(`cart total ${cart.data.total_cents} ${cart.data.currency}`)
      const placed = await api.POST('/orders', {
        body: { shipping_address: '1 Example Street' },
        params: { header: { 'idempotency-key': `example-${Date.now()}` } }
      })
      if (!placed.data) throw new Error(`POST /orders: ${JSON.stringify(placed.error)}`)
      log(`order #${placed.data.id} placed: ${placed.data.total_cents} ${placed.data.currency}`)
      return placed.data
    }
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const [baseUrl = 'http://127.0.0.1:3000', email = '', password = '', productId = '1'] = process.argv.slice(2)
  const client = await runClient({ baseUrl, email, password, productId: Number(productId) })
  await client.order()
}
