import t from 'tap'
import fc from 'fast-check'
import { Ajv, type ValidateFunction } from 'ajv'
import addFormats from 'ajv-formats'
import type { InjectOptions } from 'fastify'
import { build, createUser, type App, type TestUser } from '../helper.js'
import { insertProduct } from '../commerce-fixtures.js'

// Fuzzing driven by the live OpenAPI document: every operation gets valid and
// broken inputs, with and without tokens. No answer may be a 5xx, and every
// answer must match the schema the document declares for its status.

type Schema = Record<string, unknown>
interface Operation {
  method: string
  path: string
  parameters: Array<{ in: string, name: string, required?: boolean, schema: Schema }>
  body?: Schema
  responses: Record<string, Schema | undefined>
}
interface Violation { request: string, status: number, problem: string, body: string }

const seed = Number(process.env.FUZZ_SEED ?? Math.floor(Math.random() * 2 ** 31))
const RUNS = Number(process.env.FUZZ_RUNS ?? 60)
const OAUTH_PATHS = new Set(['/auth/token', '/auth/revoke'])
const JUNK_IDS = ['0', '-1', '1.5', 'abc', '%00', '9'.repeat(40), '%F0%9F%92%A5', '1e3', ' 1', '01']
const JUNK_AUTH = ['Bearer', 'Bearer a.b.c', 'Basic eHl6', `Bearer ${'x'.repeat(10_000)}`, 'bearer    ', 'Token abc']

t.comment(`fuzz seed ${seed} (replay with FUZZ_SEED=${seed})`)

function operationsOf (document: { paths: Record<string, Record<string, Schema>> }): Operation[] {
  return Object.entries(document.paths).flatMap(([path, methods]) => Object.entries(methods).map(([method, op]) => {
    const content = (op.requestBody as { content?: Record<string, { schema: Schema }> } | undefined)?.content
    const responses = Object.fromEntries(Object.entries((op.responses ?? {}) as Record<string, { content?: Record<string, { schema: Schema }> }>)
      .map(([status, response]) => [status, response.content?.['application/json']?.schema]))
    return {
      method: method.toUpperCase(),
      path,
      parameters: (op.parameters ?? []) as Operation['parameters'],
      body: content?.['application/json']?.schema ?? content?.['application/x-www-form-urlencoded']?.schema,
      responses
    }
  }))
}

/** A fast-check arbitrary of values valid for a JSON schema (the subset TypeBox emits). */
function valid (schema: Schema, components: Record<string, Schema>): fc.Arbitrary<unknown> {
  if (typeof schema.$ref === 'string') return valid(components[schema.$ref.split('/').pop() as string] as Schema, components)
  if ('const' in schema) return fc.constant(schema.const)
  if (Array.isArray(schema.enum)) return fc.constantFrom(...(schema.enum as unknown[]))
  const union = (schema.anyOf ?? schema.oneOf) as Schema[] | undefined
  if (union) return fc.oneof(...union.map((member) => valid(member, components)))
  switch (schema.type) {
    case 'string': {
      if (typeof schema.pattern === 'string') {
        const pattern = new RegExp(schema.pattern)
        const fits = (s: string) => s.length <= Number(schema.maxLength ?? Infinity) && s.length >= Number(schema.minLength ?? 0)
        try {
          return fc.stringMatching(pattern).filter(fits)
        } catch {
          // fast-check cannot generate from lookaheads: filter plain strings instead.
          return fc.string({ minLength: 1, maxLength: 40 }).filter((s) => fits(s) && pattern.test(s))
        }
      }
      if (schema.format === 'email') return fc.emailAddress().filter((email) => email.length <= 254)
      if (schema.format === 'date-time') return fc.date({ noInvalidDate: true }).map((date) => date.toISOString())
      const minLength = Number(schema.minLength ?? 0)
      return fc.string({ minLength, maxLength: Math.max(minLength, Math.min(Number(schema.maxLength ?? 40), 40)) })
    }
    case 'integer': return fc.integer({ min: Number(schema.minimum ?? -1e9), max: Number(schema.maximum ?? 1e9) })
    case 'number': return fc.double({ noNaN: true, noDefaultInfinity: true })
    case 'boolean': return fc.boolean()
    case 'null': return fc.constant(null)
    case 'array': return fc.array(valid((schema.items ?? {}) as Schema, components), { maxLength: 3 })
    case 'object': {
      const properties = (schema.properties ?? {}) as Record<string, Schema>
      const record = Object.fromEntries(Object.entries(properties).map(([key, value]) => [key, valid(value, components)]))
      return fc.record(record, { requiredKeys: (schema.required ?? []) as string[] })
    }
    default: return fc.jsonValue()
  }
}

/** Broken bodies: anything at all, unknown fields, missing fields, wrong types, odd keys. */
function broken (schema: Schema | undefined, components: Record<string, Schema>): fc.Arbitrary<unknown> {
  const base = schema ? valid(schema, components) : fc.constant({})
  return fc.oneof(
    fc.jsonValue(),
    fc.anything({ maxDepth: 3 }).filter((value) => value !== undefined),
    base.map((value) => (typeof value === 'object' && value !== null ? { ...value, unexpected_field: 1 } : value)),
    base.chain((value) => typeof value === 'object' && value !== null && Object.keys(value).length > 0
      ? fc.tuple(fc.constantFrom(...Object.keys(value)), fc.jsonValue()).map(([key, junk]) => ({ ...value, [key]: junk }))
      : fc.constant(value)),
    base.chain((value) => typeof value === 'object' && value !== null && Object.keys(value).length > 0
      ? fc.constantFrom(...Object.keys(value)).map((key) => Object.fromEntries(Object.entries(value).filter(([k]) => k !== key)))
      : fc.constant(value))
  )
}

t.test('fuzzing every operation of the OpenAPI document', { timeout: 300_000 }, async (t) => {
  const app = await build(t, { LOGIN_RATE_LIMIT: '1000000', LOGIN_MAX_FAILURES: '1000000', SMTP_URL: 'smtp://127.0.0.1:1' })
  const document = app.swagger() as unknown as { paths: Record<string, Record<string, Schema>>, components: { schemas: Record<string, Schema> } }
  const components = document.components.schemas
  const ajv = new Ajv({ strict: false, allErrors: false })
  addFormats.default(ajv)
  for (const [name, schema] of Object.entries(components)) ajv.addSchema({ ...schema, $id: `#/components/schemas/${name}` })
  const validators = new Map<Schema, ValidateFunction>()
  const validatorFor = (schema: Schema) => {
    let validate = validators.get(schema)
    if (!validate) validators.set(schema, validate = ajv.compile(JSON.parse(JSON.stringify(schema).replaceAll('"$ref":"#/components/schemas/', '"$ref":"#/components/schemas/'))))
    return validate
  }

  // Users and data the ids 1..3 point at; users are remade when an operation ends them.
  const admin = await createUser(app, { role: 'admin' })
  let customer = await createUser(app)
  for (let i = 0; i < 3; i++) insertProduct(app, { stock: 1_000_000 })
  const seedOrder = async () => {
    await customer.inject({ method: 'POST', url: '/cart/items', payload: { product_id: 1, quantity: 1 } })
    await customer.inject({ method: 'POST', url: '/orders', payload: { shipping_address: 'Fuzz Street 1' } })
    await customer.inject({ method: 'POST', url: '/cart/items', payload: { product_id: 2, quantity: 1 } })
  }
  await seedOrder()
  await admin.inject({ method: 'POST', url: '/categories', payload: { name: 'Fuzzed' } })

  const violations: Violation[] = []
  let sent = 0
  const statuses = new Map<number, number>()

  async function send (operation: Operation, request: InjectOptions, who: 'customer' | 'admin' | 'none' | 'junk', junkAuth = '') {
    const user: TestUser | undefined = who === 'customer' ? customer : who === 'admin' ? admin : undefined
    const headers = { ...(request.headers as Record<string, string> | undefined) }
    if (user) headers.authorization = `Bearer ${user.accessToken}`
    if (who === 'junk') headers.authorization = junkAuth
    const res = await app.inject({ ...request, headers })
    sent++
    statuses.set(res.statusCode, (statuses.get(res.statusCode) ?? 0) + 1)
    const label = `${request.method} ${String(request.url).slice(0, 120)} as ${who}`
    const note = (problem: string) => violations.push({ request: label, status: res.statusCode, problem, body: res.body.slice(0, 300) })
    if (res.statusCode >= 500) note('5xx')
    const isDeclared = String(res.statusCode) in operation.responses
    const declared = operation.responses[String(res.statusCode)]
    let body: unknown
    try {
      body = res.body === '' ? null : res.json()
    } catch {
      if (res.statusCode !== 204) note('body is not JSON')
    }
    if (declared) {
      const validate = validatorFor(declared)
      if (!validate(body)) note(`does not match the declared ${res.statusCode} schema: ${ajv.errorsText(validate.errors)}`)
    } else if (isDeclared) {
      if (body !== null) note(`declared ${res.statusCode} has no body, but one came`)
    } else if (res.statusCode >= 400) {
      const oauth = OAUTH_PATHS.has(operation.path) && res.statusCode === 400
      const shape = oauth ? ['error', 'error_description'] : ['code', 'error', 'message', 'statusCode']
      if (typeof body !== 'object' || body === null || Object.keys(body).sort().join() !== shape.join()) note(`undeclared ${res.statusCode} without the standard error body`)
    } else if (res.statusCode !== 204) {
      note(`status ${res.statusCode} is not declared`)
    }
    // Operations that end the caller's session: start again with a fresh customer.
    if (user === customer && (await customer.inject({ method: 'GET', url: '/users/me' })).statusCode === 401) {
      customer = await createUser(app)
      await seedOrder()
    }
  }

  const operations = operationsOf(document)
  t.ok(operations.length > 30, `${operations.length} operations`)
  // Destructive operations last, so the rest see their data.
  operations.sort((a, b) => Number(a.method === 'DELETE') - Number(b.method === 'DELETE'))

  for (const [index, operation] of operations.entries()) {
    const pathParams = operation.parameters.filter((p) => p.in === 'path')
    const queryParams = operation.parameters.filter((p) => p.in === 'query')
    const request = fc.record({
      ids: fc.array(fc.oneof(fc.constantFrom('1', '2', '3'), fc.constantFrom(...JUNK_IDS)), { minLength: pathParams.length, maxLength: pathParams.length }),
      query: fc.oneof(
        fc.record(Object.fromEntries(queryParams.map((p) => [p.name, valid(p.schema, components).map(String)])), { requiredKeys: [] }),
        fc.dictionary(fc.constantFrom('limit', 'cursor', 'q', 'email', 'user_id', 'category_id', 'junk'), fc.string({ maxLength: 30 }))
      ),
      body: operation.body ? fc.oneof(valid(operation.body, components), broken(operation.body, components)) : fc.constant(undefined),
      contentType: fc.constantFrom('application/json', 'application/json', 'application/x-www-form-urlencoded', 'text/plain', 'application/xml'),
      who: fc.constantFrom('customer' as const, 'admin' as const, 'none' as const, 'junk' as const),
      junkAuth: fc.constantFrom(...JUNK_AUTH),
      idempotencyKey: fc.option(fc.oneof(fc.string({ maxLength: 20 }), fc.constant('k'.repeat(5000))), { nil: undefined })
    })
    for (const sample of fc.sample(request, { seed: seed + index, numRuns: RUNS })) {
      let i = 0
      const url = operation.path.replace(/\{[^}]+\}/g, () => sample.ids[i++] ?? '1')
      const search = new URLSearchParams(sample.query as Record<string, string>).toString()
      const headers: Record<string, string> = {}
      if (sample.idempotencyKey !== undefined) headers['idempotency-key'] = sample.idempotencyKey
      let payload: string | undefined
      if (sample.body !== undefined) {
        headers['content-type'] = sample.contentType
        payload = sample.contentType === 'application/x-www-form-urlencoded' && typeof sample.body === 'object' && sample.body !== null
          ? new URLSearchParams(Object.entries(sample.body).map(([k, v]): [string, string] => [k, String(v)])).toString()
          : sample.contentType === 'application/xml' ? '<order><id>1</id></order>' : JSON.stringify(sample.body)
      }
      await send(operation, { method: operation.method as 'GET', url: search ? `${url}?${search}` : url, headers, payload }, sample.who, sample.junkAuth)
    }

    // Fixed hostile bodies for every operation that takes one.
    if (operation.body) {
      const url = operation.path.replace(/\{[^}]+\}/g, '1')
      const hostile = [
        `{"a":${'{"a":'.repeat(10_000)}1${'}'.repeat(10_000)}}`,
        `${'['.repeat(10_000)}${']'.repeat(10_000)}`,
        JSON.stringify({ filler: 'x'.repeat(70_000) }),
        '{"__proto__":{"isAdmin":true}}',
        '{"constructor":{"prototype":{"isAdmin":true}}}',
        '{"unterminated": ',
        ''
      ]
      for (const payload of hostile) {
        for (const who of ['customer', 'none'] as const) {
          await send(operation, { method: operation.method as 'POST', url, headers: { 'content-type': 'application/json' }, payload }, who)
        }
      }
      await send(operation, { method: operation.method as 'POST', url, headers: { 'content-type': 'multipart/form-data' }, payload: 'x' }, 'customer')
    }
  }

  t.comment(`fuzz: ${sent} requests; statuses ${JSON.stringify(Object.fromEntries([...statuses].sort(([a], [b]) => a - b)))}`)
  t.ok(sent >= 2000, `${sent} requests sent`)
  t.equal(({} as Record<string, unknown>).isAdmin, undefined, 'no prototype pollution')
  const fiveHundreds = violations.filter((v) => v.problem === '5xx').length
  t.equal(fiveHundreds, 0, `${fiveHundreds} answers were 5xx`)
  t.same(violations, [], `violations (seed ${seed}):\n${violations.slice(0, 20).map((v) => `${v.request} → ${v.status}: ${v.problem} ${v.body}`).join('\n')}`)
})
