import t from 'tap'
import fc from 'fast-check'
import { build } from '../helper.js'
import {
  brokenArbitrary, componentResolver, createAjv, createValidator, dereference, sealed, validArbitrary,
  type ConvertOptions, type JsonSchema
} from './json-schema-arbitrary.js'
import { operationsOf, type OpenApiDocument } from './openapi-operations.js'

// The fuzzer is only as good as its generators: "valid" values must really be
// valid, "broken" ones mostly not. Checked on a schema with every keyword the
// converter claims to handle, and on every schema of the live document.

const components: Record<string, JsonSchema> = {
  Error: {
    type: 'object',
    required: ['statusCode', 'code', 'error', 'message'],
    properties: { statusCode: { type: 'integer' }, code: { type: 'string' }, error: { type: 'string' }, message: { type: 'string' } }
  },
  Money: { type: 'integer', minimum: 0, maximum: 100_000_000 }
}
const options: ConvertOptions = { resolve: componentResolver(components) }

const everything: JsonSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['id', 'email', 'name', 'price', 'status', 'kind', 'lines'],
  properties: {
    id: { type: 'string', pattern: '^[1-9][0-9]{0,14}$' },
    email: { type: 'string', format: 'email', minLength: 3, maxLength: 254 },
    at: { type: 'string', format: 'date-time' },
    name: { type: 'string', minLength: 1, maxLength: 200, pattern: '^(?=.*\\S)[^\\u0000-\\u001F\\u007F]+$' },
    note: { type: 'string', maxLength: 5 },
    price: { $ref: '#/components/schemas/Money' },
    weight: { type: 'number', minimum: 0.5, maximum: 10 },
    big: { type: 'integer', minimum: 1, maximum: 999_999_999_999_999 },
    flag: { type: 'boolean' },
    nothing: { type: 'null' },
    kind: { const: 'product' },
    status: { type: 'string', enum: ['placed', 'shipped'] },
    category: { anyOf: [{ type: 'integer', minimum: 1 }, { type: 'null' }] },
    role: { oneOf: [{ type: 'string', enum: ['customer'] }, { type: 'string', enum: ['admin'] }] },
    either: { type: ['string', 'null'], maxLength: 3 },
    open: { type: 'object', properties: { a: { type: 'integer' } } },
    map: { type: 'object', properties: {}, additionalProperties: { type: 'boolean' } },
    error: { $ref: 'Error' },
    lines: { type: 'array', minItems: 1, maxItems: 3, items: { type: 'object', required: ['q'], additionalProperties: false, properties: { q: { type: 'integer', minimum: 1, maximum: 1000 } } } }
  }
}

t.test('valid values of a schema with every supported keyword validate against it', async (t) => {
  const validate = createValidator(dereference(everything, options.resolve) as JsonSchema)
  const failures = fc.sample(validArbitrary(everything, options), { seed: 42, numRuns: 500 }).filter((value) => !validate(value))
  t.same(failures.slice(0, 3), [], 'no generated value is refused')
})

t.test('valid values reach the boundaries and the ids that exist', async (t) => {
  const ids = fc.sample(validArbitrary({ type: 'string', pattern: '^[1-9][0-9]{0,14}$' }, options), { seed: 1, numRuns: 300 })
  t.ok(ids.includes('1') && ids.includes('2') && ids.includes('3'), 'ids 1..3 come up')
  const notes = fc.sample(validArbitrary({ type: 'string', minLength: 2, maxLength: 7 }, options), { seed: 1, numRuns: 500 })
  t.ok(notes.includes('x'.repeat(7)), 'the longest string allowed comes up')
  const numbers = fc.sample(validArbitrary({ type: 'integer', minimum: 5, maximum: 9 }, options), { seed: 1, numRuns: 200 })
  t.ok(numbers.includes(5) && numbers.includes(9), 'both integer bounds come up')
})

t.test('broken values are mostly refused, and come in every kind', async (t) => {
  const validate = createValidator(dereference(everything, options.resolve) as JsonSchema)
  const samples = fc.sample(brokenArbitrary(everything, options), { seed: 7, numRuns: 1000 })
  const refused = samples.filter((value) => !validate(value)).length
  t.ok(refused >= 900, `${refused} of 1000 broken values are refused`)
  const records = samples.filter((value): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value))
  t.ok(records.some((value) => Object.prototype.hasOwnProperty.call(value, '__proto__')), 'an own __proto__ key comes up')
  t.ok(records.some((value) => JSON.stringify(value).includes('"__proto__"')), 'and survives JSON.stringify')
  t.ok(records.some((value) => !('id' in value)), 'a required field goes missing')
  t.ok(records.some((value) => 'unexpected_field' in value), 'an unknown field comes up')
  t.ok(samples.some((value) => typeof value !== 'object' || value === null || Array.isArray(value)), 'the wrong type at the top comes up')
})

t.test('sealed schemas refuse undeclared response fields', async (t) => {
  const schema = sealed(dereference({ $ref: 'Error' }, options.resolve)) as JsonSchema
  const validate = createAjv().compile(schema)
  t.ok(validate({ statusCode: 400, code: 'X', error: 'Bad Request', message: 'm' }), 'the declared fields pass')
  t.notOk(validate({ statusCode: 400, code: 'X', error: 'Bad Request', message: 'm', stack: 'at …' }), 'an extra field is refused')
  const withPropertyNamedType = sealed({ type: 'object', properties: { type: { type: 'string' } } }) as { properties: { type: JsonSchema } }
  t.same(withPropertyNamedType.properties.type, { type: 'string' }, 'a property called "type" is not mistaken for a schema')
})

t.test('every schema of the live document gets valid values', async (t) => {
  const app = await build(t)
  const document = app.swagger() as unknown as OpenApiDocument
  const live: ConvertOptions = { resolve: componentResolver(document.components?.schemas ?? {}) }
  const coercing = createAjv({ coerce: true })
  const failures: string[] = []
  let checked = 0
  for (const operation of operationsOf(document)) {
    for (const [mediaType, schema] of Object.entries(operation.bodies)) {
      const validate = createValidator(schema)
      for (const value of fc.sample(validArbitrary(schema, live), { seed: 3, numRuns: 50 })) {
        checked++
        if (!validate(value)) failures.push(`${operation.method} ${operation.path} ${mediaType}: ${JSON.stringify(value).slice(0, 120)}`)
      }
    }
    for (const parameter of operation.parameters) {
      // Sent as text, read back by the server's coercing validator.
      const validate = coercing.compile({ type: 'object', properties: { value: parameter.schema } })
      for (const value of fc.sample(validArbitrary(parameter.schema, live), { seed: 3, numRuns: 50 })) {
        checked++
        if (!validate({ value: typeof value === 'string' ? value : JSON.stringify(value) })) failures.push(`${operation.method} ${operation.path} ${parameter.in} ${parameter.name}: ${JSON.stringify(value)}`)
      }
    }
  }
  t.ok(checked > 500, `${checked} values checked`)
  t.same(failures.slice(0, 10), [], 'every generated value validates')
})
