import { Type, type Static } from '@sinclair/typebox'

// RFC 6749 §3.2: the token endpoint ignores parameters it does not know, so this
// body, unlike the rest of the API, allows extra fields. Lengths still bound.
export const TokenRequestSchema = Type.Object({
  grant_type: Type.Optional(Type.String({ maxLength: 64, description: '`password` (default), `refresh_token` or `client_credentials`' })),
  username: Type.Optional(Type.String({ maxLength: 254, description: 'Your e-mail' })),
  password: Type.Optional(Type.String({ maxLength: 256 })),
  refresh_token: Type.Optional(Type.String({ maxLength: 4096 })),
  client_id: Type.Optional(Type.String({
    minLength: 1, maxLength: 128, description: 'password and refresh_token: becomes the token\'s client_id claim; client_credentials: the service client (client_secret_post)'
  })),
  client_secret: Type.Optional(Type.String({
    maxLength: 1024, description: 'client_credentials with client_secret_post; ignored by the other grants (their clients are public)'
  })),
  scope: Type.Optional(Type.String({
    maxLength: 1024, description: 'Space-separated scopes wanted; absent or empty: every scope the caller may hold'
  }))
}, { additionalProperties: true })
export type TokenRequest = Static<typeof TokenRequestSchema>

export const TokenResponseSchema = Type.Object({
  access_token: Type.String(),
  token_type: Type.Literal('Bearer'),
  expires_in: Type.Integer(),
  refresh_token: Type.Optional(Type.String({ description: 'Not for client_credentials' })),
  scope: Type.String({ description: 'The granted scopes, space-separated' })
})

export const OAuthErrorSchema = Type.Object({
  error: Type.Union(['invalid_request', 'invalid_grant', 'unsupported_grant_type', 'invalid_client', 'invalid_scope'].map((code) => Type.Literal(code))),
  error_description: Type.String()
}, { description: 'RFC 6749 §5.2 error' })

export const RevokeRequestSchema = Type.Object({
  token: Type.Optional(Type.String({ maxLength: 4096 })),
  token_type_hint: Type.Optional(Type.String({ maxLength: 64 }))
}, { additionalProperties: true })

export const IntrospectionRequestSchema = Type.Object({
  token: Type.Optional(Type.String({ maxLength: 4096 })),
  token_type_hint: Type.Optional(Type.String({ maxLength: 64 })),
  client_id: Type.Optional(Type.String({ minLength: 1, maxLength: 128, description: 'client_secret_post' })),
  client_secret: Type.Optional(Type.String({ maxLength: 1024, description: 'client_secret_post' }))
}, { additionalProperties: true })

export const IntrospectionResponseSchema = Type.Object({
  active: Type.Boolean(),
  scope: Type.Optional(Type.String({ description: 'What the token may do now: its scopes, as far as its holder may hold them today' })),
  client_id: Type.Optional(Type.String()),
  sub: Type.Optional(Type.String()),
  token_type: Type.Optional(Type.Union([Type.Literal('Bearer'), Type.Literal('refresh_token')])),
  exp: Type.Optional(Type.Integer()),
  iat: Type.Optional(Type.Integer()),
  iss: Type.Optional(Type.String()),
  aud: Type.Optional(Type.String())
}, { description: 'RFC 7662: only `active: false` for a token that would be refused now' })

export const JwksSchema = Type.Object({
  keys: Type.Array(Type.Object({
    kty: Type.String(),
    crv: Type.Optional(Type.String()),
    x: Type.Optional(Type.String()),
    y: Type.Optional(Type.String()),
    n: Type.Optional(Type.String()),
    e: Type.Optional(Type.String()),
    kid: Type.String(),
    alg: Type.String(),
    use: Type.Literal('sig')
  }))
})

export const MetadataSchema = Type.Object({
  issuer: Type.String(),
  token_endpoint: Type.String(),
  revocation_endpoint: Type.String(),
  introspection_endpoint: Type.String(),
  jwks_uri: Type.String(),
  grant_types_supported: Type.Array(Type.String()),
  token_endpoint_auth_methods_supported: Type.Array(Type.String()),
  revocation_endpoint_auth_methods_supported: Type.Array(Type.String()),
  introspection_endpoint_auth_methods_supported: Type.Array(Type.String()),
  scopes_supported: Type.Array(Type.String()),
  response_types_supported: Type.Array(Type.String()),
  service_documentation: Type.String()
})
