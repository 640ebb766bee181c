import { Type, type Static } from '@sinclair/typebox'

// RFC 6749 §3.2: the token endpoint ignores parameters it does not know, so this
// body, unlike the rest of the API, allows extra fields. Lengths still bound.
export const TokenRequestSchema = Type.Object({
  grant_type: Type.Optional(Type.String({ maxLength: 64, description: '`password` (default) or `refresh_token`' })),
  username: Type.Optional(Type.String({ maxLength: 254, description: 'Your e-mail' })),
  password: Type.Optional(Type.String({ maxLength: 256 })),
  refresh_token: Type.Optional(Type.String({ maxLength: 4096 })),
  client_id: Type.Optional(Type.String({ minLength: 1, maxLength: 128, description: 'Becomes the token\'s client_id claim' })),
  client_secret: Type.Optional(Type.String({ maxLength: 1024, description: 'Ignored: clients are public' })),
  scope: Type.Optional(Type.String({ maxLength: 1024, description: 'Ignored' }))
}, { additionalProperties: true })
export type TokenRequest = Static<typeof TokenRequestSchema>

export const TokenResponseSchema = Type.Object({
  access_token: Type.String(),
  token_type: Type.Literal('Bearer'),
  expires_in: Type.Integer(),
  refresh_token: Type.String()
})

export const OAuthErrorSchema = Type.Object({
  error: Type.Union(['invalid_request', 'invalid_grant', 'unsupported_grant_type', 'invalid_client'].map((code) => Type.Literal(code))),
  error_description: Type.String()
}, { description: 'RFC 6749 §5.2 error' })

export const RevokeRequestSchema = Type.Object({
  token: Type.Optional(Type.String({ maxLength: 4096 })),
  token_type_hint: Type.Optional(Type.String({ maxLength: 64 }))
}, { additionalProperties: true })

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
  jwks_uri: Type.String(),
  grant_types_supported: Type.Array(Type.String()),
  token_endpoint_auth_methods_supported: Type.Array(Type.String()),
  revocation_endpoint_auth_methods_supported: Type.Array(Type.String()),
  response_types_supported: Type.Array(Type.String()),
  service_documentation: Type.String()
})
