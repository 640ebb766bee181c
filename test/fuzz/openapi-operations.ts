import { componentResolver, dereference, type JsonSchema } from './json-schema-arbitrary.js'

// The operations of a live OpenAPI document, flattened for the fuzzer: every
// $ref inlined, every schema ready to compile on its own.

export interface OpenApiDocument {
  paths: Record<string, Record<string, unknown>>
  components?: { schemas?: Record<string, JsonSchema> }
}

export interface Parameter {
  in: 'path' | 'query' | 'header' | 'cookie'
  name: string
  required: boolean
  schema: JsonSchema
}

export interface DeclaredResponse {
  /** The application/json schema, when the response has a body. */
  schema?: JsonSchema
}

export interface Operation {
  method: string
  /** As the document writes it: /orders/{id}. */
  path: string
  parameters: Parameter[]
  /** Media type → schema of the request body. */
  bodies: Record<string, JsonSchema>
  bodyRequired: boolean
  /** A token is needed: the operation's `security` names a scheme. */
  secured: boolean
  /**
   * The scopes that allow it, as the `security` requirement objects list them: any one
   * alternative, all of its scopes (contract v2). An empty alternative: any valid token.
   * Empty for a public operation.
   */
  scopes: string[][]
  responses: Record<string, DeclaredResponse>
}

const METHODS = new Set(['get', 'put', 'post', 'delete', 'patch', 'options', 'head'])

interface RawOperation {
  parameters?: Array<{ in: Parameter['in'], name: string, required?: boolean, schema?: JsonSchema, $ref?: string }>
  requestBody?: { required?: boolean, content?: Record<string, { schema?: JsonSchema }> }
  security?: Array<Record<string, string[]>>
  responses?: Record<string, { content?: Record<string, { schema?: JsonSchema }> }>
}

export function operationsOf (document: OpenApiDocument & { security?: RawOperation['security'] }): Operation[] {
  const resolve = componentResolver(document.components?.schemas ?? {})
  const inline = (schema: JsonSchema | undefined) => (schema === undefined ? undefined : dereference(schema, resolve) as JsonSchema)
  const operations: Operation[] = []
  for (const [path, item] of Object.entries(document.paths)) {
    const shared = ((item as RawOperation).parameters ?? [])
    for (const [method, raw] of Object.entries(item)) {
      if (!METHODS.has(method)) continue
      const op = raw as RawOperation
      // Operation parameters override path-level ones of the same name and place.
      const byKey = new Map<string, Parameter>()
      for (const p of [...shared, ...(op.parameters ?? [])]) {
        byKey.set(`${p.in}:${p.name}`, { in: p.in, name: p.name, required: p.required === true || p.in === 'path', schema: inline(p.schema) ?? {} })
      }
      const bodies = Object.fromEntries(Object.entries(op.requestBody?.content ?? {}).map(([mediaType, media]) => [mediaType, inline(media.schema) ?? {}]))
      const responses = Object.fromEntries(Object.entries(op.responses ?? {}).map(([status, response]) => {
        const schema = inline(response.content?.['application/json']?.schema)
        return [status, schema === undefined ? {} : { schema }]
      }))
      const security = op.security ?? document.security ?? []
      const alternatives = security.filter((requirement) => Object.keys(requirement).length > 0)
      operations.push({
        method: method.toUpperCase(),
        path,
        parameters: [...byKey.values()],
        bodies,
        bodyRequired: op.requestBody?.required === true,
        secured: alternatives.length > 0,
        scopes: alternatives.map((requirement) => Object.values(requirement).flat()),
        responses
      })
    }
  }
  return operations
}

/** The schema an OpenAPI response range ('4XX') or 'default' gives a status, if any. */
export function declaredResponse (operation: Operation, status: number): DeclaredResponse | undefined {
  return operation.responses[String(status)] ?? operation.responses[`${String(status)[0]}XX`] ?? operation.responses.default
}
