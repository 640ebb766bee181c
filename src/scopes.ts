import type { Role } from './store/users.js'

/**
 * The scopes of contract v2 (docs/API.md, "Scopes and service clients"): the names are
 * the contract. Each is one bit, so a request's effective scopes (the token's ∩ what its
 * holder may hold now) are one AND, and a route's check is one more.
 */
export const SCOPES = {
  account: 'Your account: /users/me…, and GET/DELETE /users/{id} of yourself',
  cart: 'Your cart: /cart…',
  orders: 'Your orders: check out, list, read and cancel your own',
  'catalogue:write': 'Create, change and delete categories and products',
  'orders:read': 'Read everyone\'s orders',
  'orders:write': 'Move any order along its statuses, cancel any order',
  'users:read': 'List users, read any user',
  'users:write': 'Change or delete any user',
  'clients:admin': 'Manage service clients: /clients…'
} as const

export type Scope = keyof typeof SCOPES
export const SCOPE_NAMES = Object.keys(SCOPES) as Scope[]

/** A set of scopes as bits: SCOPE_NAMES[i] is bit i. */
export type ScopeMask = number

const BIT = new Map(SCOPE_NAMES.map((scope, i) => [scope, 1 << i]))

export const isScope = (name: string): name is Scope => BIT.has(name as Scope)

export function maskOf (scopes: Iterable<string>): ScopeMask {
  let mask = 0
  for (const scope of scopes) mask |= BIT.get(scope as Scope) ?? 0
  return mask
}

export const scopesOf = (mask: ScopeMask): Scope[] => SCOPE_NAMES.filter((scope) => (mask & BIT.get(scope)!) !== 0)

/** The space-separated form of RFC 6749 §3.3, in the table's order. */
export const scopeString = (mask: ScopeMask): string => scopesOf(mask).join(' ')

/** A `scope` parameter or claim: names separated by spaces; unknown names count for nothing. */
export const parseScope = (value: string): ScopeMask => maskOf(value.split(' ').filter(Boolean))

export const hasScope = (mask: ScopeMask, scope: Scope): boolean => (mask & BIT.get(scope)!) !== 0

const PERSONAL: Scope[] = ['account', 'cart', 'orders']
/** What a service client may ever hold: never a person's own scopes, never clients:admin. */
export const CLIENT_SCOPES: Scope[] = ['catalogue:write', 'orders:read', 'orders:write', 'users:read', 'users:write']

/** What a user of each role may hold now: a demoted admin's tokens lose the rest at once. */
export const ROLE_SCOPES: Record<Role, ScopeMask> = {
  customer: maskOf(PERSONAL),
  admin: maskOf(SCOPE_NAMES)
}
export const CLIENT_MASK: ScopeMask = maskOf(CLIENT_SCOPES)
