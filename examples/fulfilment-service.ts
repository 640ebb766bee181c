// A second service with a token of its own: a warehouse that ships placed orders.
// It is a service client (POST /clients gave it an id and a secret), discovers the
// token endpoint through the RFC 8414 metadata, gets tokens with client_credentials
// (openid-client), lists everyone's orders (orders:read) and marks the placed ones
// shipped (orders:write). No refresh token: before its token ends it asks for another.
//   API_URL=http://127.0.0.1:3000 CLIENT_ID=svc_… CLIENT_SECRET=sk_… npx tsx examples/fulfilment-service.ts
// RUN_ONCE=1 ships once and exits; otherwise it ships every INTERVAL_SECONDS (default 30).
import { pathToFileURL } from 'node:url'
import { allowInsecureRequests, clientCredentialsGrant, discovery, type Configuration } from 'openid-client'

export const SCOPE = 'orders:read orders:write'

/** A client_credentials token, fetched again shortly before it expires. */
export class ClientToken {
  /** How many tokens were fetched: the first and every refetch. */
  fetches = 0
  #token: string | undefined
  #refetchAt = 0
  #pending: Promise<string> | undefined

  constructor (readonly config: Configuration, readonly scope = SCOPE, readonly now = Date.now) {}

  /** openid-client refuses plain http unless told: allowed only for an http:// issuer (a local server). */
  static async discover (apiUrl: string, clientId: string, clientSecret: string, scope = SCOPE) {
    const issuer = new URL(apiUrl)
    const config = await discovery(issuer, clientId, clientSecret, undefined, {
      algorithm: 'oauth2', // /.well-known/oauth-authorization-server, not OpenID Connect's document
      execute: issuer.protocol === 'http:' ? [allowInsecureRequests] : []
    })
    return new ClientToken(config, scope)
  }

  async get (): Promise<string> {
    if (this.#token !== undefined && this.now() < this.#refetchAt) return this.#token
    // Calls that find the token stale together share one request.
    this.#pending ??= this.#fetch().finally(() => { this.#pending = undefined })
    return this.#pending
  }

  async #fetch (): Promise<string> {
    // Counted from before the request: the token's life began at the server meanwhile.
    const sentAt = this.now()
    const response = await clientCredentialsGrant(this.config, { scope: this.scope })
    this.fetches++
    // The server may grant fewer scopes than asked (RFC 6749 §3.3): say so now, not as 403s later.
    const granted = new Set(response.scope?.split(' '))
    const missing = this.scope.split(' ').filter((scope) => !granted.has(scope))
    if (missing.length > 0) throw new Error(`the token lacks ${missing.join(' ')}: ask an admin to grant them to this client`)
    // Refetch when 30 s or a tenth of the lifetime (the smaller) is left, one second more
    // because JWT times are whole seconds. Without expires_in the token is used once.
    const lifetime = response.expires_in ?? 0
    this.#refetchAt = sentAt + (lifetime - Math.min(30, lifetime / 10) - 1) * 1000
    this.#token = response.access_token
    return this.#token
  }
}

interface Order { id: number, status: string }

export interface ShipOptions { apiUrl: string, token: ClientToken, pageSize?: number, log?: (line: string) => void }

/** Marks every placed order shipped; returns the ids it shipped. */
export async function shipPlacedOrders ({ apiUrl, token, pageSize = 100, log = console.log }: ShipOptions): Promise<number[]> {
  const call = async (method: string, path: string, body?: unknown) => fetch(new URL(path, apiUrl), {
    method,
    headers: { authorization: `Bearer ${await token.get()}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body)
  })

  // With orders:read, GET /orders lists everyone's. The cursor is keyset-based, so
  // shipping while paging neither skips nor repeats an order.
  const shipped: number[] = []
  let cursor: string | null = null
  do {
    const res = await call('GET', `/orders?limit=${pageSize}${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`)
    if (!res.ok) throw new Error(`GET /orders answered ${res.status}: ${await res.text()}`)
    const page = await res.json() as { items: Order[], next_cursor: string | null }
    for (const order of page.items.filter((item) => item.status === 'placed')) {
      const patched = await call('PATCH', `/orders/${order.id}`, { status: 'shipped' })
      if (patched.ok) {
        shipped.push(order.id)
        log(`order #${order.id} shipped`)
      } else if (patched.status === 409) {
        // Cancelled (or shipped by someone else) since the listing: nothing to do.
        log(`order #${order.id} skipped: ${(await patched.json() as { code: string }).code}`)
      } else {
        throw new Error(`PATCH /orders/${order.id} answered ${patched.status}: ${await patched.text()}`)
      }
    }
    cursor = page.next_cursor
  } while (cursor)
  return shipped
}

/** openid-client's errors carry the OAuth error code apart from the message. */
const describe = (err: Error & { error?: string }) => err.error ? `${err.message}: ${err.error}` : err.message

export async function main (env: NodeJS.ProcessEnv = process.env) {
  const { API_URL: apiUrl = 'http://127.0.0.1:3000', CLIENT_ID: clientId, CLIENT_SECRET: clientSecret } = env
  if (!clientId || !clientSecret) throw new Error('set CLIENT_ID and CLIENT_SECRET (POST /clients answers both)')
  const once = env.RUN_ONCE === '1'
  const token = await ClientToken.discover(apiUrl, clientId, clientSecret)
  console.log(`fulfilment client ${clientId} on ${apiUrl}`) // never the secret
  for (;;) {
    try {
      console.log(`${(await shipPlacedOrders({ apiUrl, token })).length} order(s) shipped`)
    } catch (err) {
      if (once) throw err
      // The API restarting, say: the next round tries again.
      console.error(`round failed: ${describe(err as Error)}`)
    }
    if (once) return
    await new Promise((resolve) => setTimeout(resolve, Number(env.INTERVAL_SECONDS ?? 30) * 1000))
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((err: Error) => {
    console.error(describe(err))
    process.exit(1)
  })
}
