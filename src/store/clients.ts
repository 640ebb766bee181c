import crypto from 'node:crypto'
import { maskOf, parseScope, scopesOf, scopeString, type Scope } from '../scopes.js'
import { hashToken } from './auth.js'

/**
 * A service client (contract v2): another service that gets tokens of its own with
 * client_credentials. `id` is internal (keyset pagination); the API shows `clientId`.
 */
export interface ServiceClient {
  id: number
  clientId: string
  name: string
  /** Only scopes a client may hold (CLIENT_SCOPES), in the table's order. */
  scopes: Scope[]
  disabled: boolean
  /** Carried in its tokens as `gen`; a secret rotation or a disable bumps it and ends them. */
  tokenGeneration: number
  createdAt: string
}

/** The columns of ServiceClient, in both dialects' clients tables (scopes are stored space-separated). */
export const CLIENT_COLUMNS = ['id', 'clientId', 'name', 'scopes', 'disabled', 'tokenGeneration', 'createdAt'] as const

// Through the mask both ways: stored in SCOPE_NAMES order whatever order the caller gave,
// and a name no longer in the table reads as nothing rather than as a scope.
export const storedScopes = (scopes: Scope[]) => scopeString(maskOf(scopes))
export const clientOf = <Row extends { scopes: string }>(row: Row) => ({ ...row, scopes: scopesOf(parseScope(row.scopes)) })

export interface ClientChanges { name?: string, scopes?: Scope[], disabled?: boolean }

/** Never only digits, so a token's `sub` tells a client from a user at a glance. */
export const newClientId = () => `svc_${crypto.randomBytes(10).toString('hex')}`
/** 256 bits of randomness; only its SHA-256 is stored (a fast hash suits a secret this strong). */
export const newClientSecret = () => `sk_${crypto.randomBytes(32).toString('base64url')}`
export const hashClientSecret = hashToken

/** Constant-time comparison of a presented secret with a stored hash. */
export function secretMatches (secret: string, storedHash: string): boolean {
  const presented = Buffer.from(hashClientSecret(secret))
  const stored = Buffer.from(storedHash)
  return presented.length === stored.length && crypto.timingSafeEqual(presented, stored)
}

export interface ClientRepository {
  /** Makes the client with a fresh id and secret; the secret is returned once, never stored. */
  create (input: { name: string, scopes: Scope[] }): Promise<{ client: ServiceClient, secret: string }>
  /** authenticate's look-up: runs on every request that carries a client's token. */
  findById (clientId: string): Promise<ServiceClient | undefined>
  findWithSecretHash (clientId: string): Promise<(ServiceClient & { secretHash: string }) | undefined>
  list (query: { afterId?: number, limit: number }): Promise<ServiceClient[]>
  /** Disabling (or re-enabling) ends its tokens at once (the generation moves); undefined when there is no such client. */
  update (clientId: string, changes: ClientChanges): Promise<ServiceClient | undefined>
  /** A new secret; the old one and every token issued before stop working. undefined when there is no such client. */
  rotateSecret (clientId: string): Promise<string | undefined>
  delete (clientId: string): Promise<boolean>
}

/** What newClientId makes: path parameters and token subjects must look like it. */
export const CLIENT_ID_PATTERN = '^svc_[0-9a-f]{20}$'
