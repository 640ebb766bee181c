import { Type, type Static } from '@sinclair/typebox'
import { StrictObject, TimestampSchema, PageQuery, Page } from '../../src/schemas.js'
import { SCOPE_NAMES } from '../../src/scopes.js'
import type { ServiceClient } from '../../src/store/clients.js'

const ClientName = Type.String({ minLength: 1, maxLength: 200 })
// Any scope name passes the schema; the route then says which a client may not hold.
const ClientScopes = Type.Array(Type.Union(SCOPE_NAMES.map((scope) => Type.Literal(scope))), {
  minItems: 1, maxItems: SCOPE_NAMES.length, uniqueItems: true, description: 'Scopes its tokens may carry'
})

export const ClientSchema = Type.Object({
  client_id: Type.String(),
  name: ClientName,
  scopes: Type.Array(Type.String()),
  disabled: Type.Boolean(),
  created_at: TimestampSchema
}, { description: 'A service client; its secret is never shown again' })
export type Client = Static<typeof ClientSchema>

export const toClient = (client: ServiceClient): Client => ({
  client_id: client.clientId,
  name: client.name,
  scopes: client.scopes,
  disabled: client.disabled,
  created_at: client.createdAt
})

export const CreatedClientSchema = Type.Object({
  ...ClientSchema.properties,
  client_secret: Type.String({ description: 'Shown only here: store it now' })
})

export const CreateClientSchema = StrictObject({ name: ClientName, scopes: ClientScopes })

export const UpdateClientSchema = StrictObject({
  name: Type.Optional(ClientName),
  scopes: Type.Optional(ClientScopes),
  disabled: Type.Optional(Type.Boolean())
}, { description: 'Narrowing the scopes or disabling applies to tokens already issued, at once' })

// Loose on purpose: any id that is not one of ours is simply not found (404), whatever its shape.
export const ClientIdParams = StrictObject({ client_id: Type.String({ minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9_.~-]+$', description: 'As POST /clients made it' }) })

export const SecretSchema = Type.Object({ client_id: Type.String(), client_secret: Type.String() })

export const ClientListQuery = StrictObject({ ...PageQuery })
export const ClientPage = Page(ClientSchema)
