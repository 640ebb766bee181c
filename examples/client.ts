// A typed client of ecommerce-api, built on the generated openapi/schema.d.ts
// with openapi-fetch: logs in, refreshes its access token when a call answers
// 401, fills the cart and places an order.
//   npx tsx examples/client.ts http://127.0.0.1:3000 ann@example.com 'correct horse battery' <product id>
// or, without arguments: API_URL, API_EMAIL, API_PASSWORD and PRODUCT_ID from the environment.
import { pathToFileURL } from 'node:url'
import createClient, { type Middleware } from 'openapi-fetch'
import type { paths } from '../openapi/schema.js'

export interface Session { accessToken: string, refreshToken: string, refreshes: number }

export interface ClientOptions { baseUrl: string, email: string, password: string, productId: number, log?: (line: string) => void }

export async function runClient (options: ClientOptions) {
  const log = options.log ?? console.log
  const api = createClient<paths>({ baseUrl: options.baseUrl })
  const session: Session = { accessToken: '', refreshToken: '', refreshes: 0 }

  const tokenRequest = async (body: Record<string, string>) => {
    const { data, error } = await api.POST('/auth/token', {
      body,
      bodySerializer: (fields) => new URLSearchParams(fields as Record<string, string>).toString(),
      headers: { 'content-type': 'application/x-www-form-urlencoded' }
    })
    // The password and refresh grants always answer with a refresh token (client_credentials does not).
    if (!data?.refresh_token) throw new Error(`token request failed: ${JSON.stringify(error)}`)
    session.accessToken = data.access_token
    session.refreshToken = data.refresh_token
  }

  await tokenRequest({ grant_type: 'password', username: options.email, password: options.password })
  log('logged in')

  // Refresh tokens are single-use and a reused one revokes the whole login, so
  // calls that fail together share one refresh, and a call whose token was
  // already replaced just retries with the new one.
  let refreshing: Promise<void> | undefined
  const replace = async (staleToken: string) => {
    if (session.accessToken !== staleToken) return
    refreshing ??= tokenRequest({ grant_type: 'refresh_token', refresh_token: session.refreshToken })
      .then(() => {
        session.refreshes++
        log('access token refreshed')
      })
      .finally(() => { refreshing = undefined })
    await refreshing
  }

  // Bearer on every call; on a 401, one refresh, then the call once more.
  // A sent request's body is spent: keep an unsent copy for the one retry.
  const unsent = new Map<string, { copy: Request, token: string }>()
  const auth: Middleware = {
    onRequest ({ request, id }) {
      if (request.url.endsWith('/auth/token')) return request
      request.headers.set('authorization', `Bearer ${session.accessToken}`)
      unsent.set(id, { copy: request.clone(), token: session.accessToken })
      return request
    },
    async onResponse ({ response, id }) {
      const sent = unsent.get(id)
      unsent.delete(id)
      if (response.status !== 401 || !sent) return response
      await replace(sent.token)
      sent.copy.headers.set('authorization', `Bearer ${session.accessToken}`)
      return fetch(sent.copy)
    },
    onError ({ id }) {
      unsent.delete(id)
    }
  }
  api.use(auth)

  const me = await api.GET('/users/me')
  if (!me.data) throw new Error(`GET /users/me: ${JSON.stringify(me.error)}`)
  log(`hello ${me.data.email}`)
  return {
    api,
    session,
    me: me.data,
    /** Adds the product and checks out; returns the order. */
    async order () {
      const cart = await api.POST('/cart/items', { body: { product_id: options.productId, quantity: 1 } })
      if (!cart.data) throw new Error(`POST /cart/items: ${JSON.stringify(cart.error)}`)
      log(`cart total ${cart.data.total_cents} ${cart.data.currency}`)
      const placed = await api.POST('/orders', {
        body: { shipping_address: '1 Example Street' },
        // A retried checkout (after a refresh, say) must not place a second order.
        params: { header: { 'idempotency-key': `example-${Date.now()}` } }
      })
      if (!placed.data) throw new Error(`POST /orders: ${JSON.stringify(placed.error)}`)
      log(`order #${placed.data.id} placed: ${placed.data.total_cents} ${placed.data.currency}`)
      return placed.data
    }
  }
}

/** Arguments win over the environment. */
export function clientOptionsFrom (argv: string[], env: NodeJS.ProcessEnv): ClientOptions {
  const [baseUrl, email, password, productId] = argv
  return {
    baseUrl: baseUrl ?? env.API_URL ?? 'http://127.0.0.1:3000',
    email: email ?? env.API_EMAIL ?? '',
    password: password ?? env.API_PASSWORD ?? '',
    productId: Number(productId ?? env.PRODUCT_ID ?? '1')
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const options = clientOptionsFrom(process.argv.slice(2), process.env)
  if (!options.email || !options.password || !Number.isInteger(options.productId)) {
    console.error('usage: tsx examples/client.ts <base url> <e-mail> <password> <product id>  (or API_URL, API_EMAIL, API_PASSWORD, PRODUCT_ID)')
    process.exit(2)
  }
  try {
    const client = await runClient(options)
    await client.order()
  } catch (err) {
    console.error((err as Error).message)
    process.exit(1)
  }
}
